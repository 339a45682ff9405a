"""The Django admin of the chat's models (docs/rest-api.md, Django admin).

It is a transport like the WebSocket consumer and the REST API: every
change goes through the chat service, so the domain apps stay free of it.
"""
from . import presence, rooms, users  # noqa: F401  (each registers its models)
