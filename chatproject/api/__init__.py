"""The HTTP admin API of docs/rest-api.md (Django REST framework)."""
