"""The public Python API of the chat service (docs/hooks-and-python-api.md, The public package).

`api` is this process's service: the object hooks receive as `server`.
"""
from chatproject.common.errors import ChatServiceError

from .core import ChatService
from .hooks import Hooks

__all__ = ["ChatService", "ChatServiceError", "Hooks", "api"]


def __getattr__(name):
    # Created on first use, after Django's settings are configured.
    if name == "api":
        global api
        api = ChatService()
        return api
    raise AttributeError(name)
