"""The HTTP admin API of protocol.md section 6 (Django REST framework)."""
