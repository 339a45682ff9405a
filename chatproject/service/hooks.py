"""Hook lookup and invocation (docs/hooks-and-python-api.md, Hooks)."""
import importlib
import inspect
import logging
import re
from dataclasses import dataclass, field

from asgiref.sync import sync_to_async
from django.core.exceptions import ImproperlyConfigured

logger = logging.getLogger("chat")


class Hooks:
    """Optional base class for a hooks object. It defines no hook.

    A hook is present only when the subclass defines it. Every hook may be
    `async def` or a plain function (plain ones run in a worker thread and
    reach the service through `api.sync`). Names (camelCase aliases accepted):

    Command hooks, for each of the 24 commands, e.g. for roomMessage:
        room_message_before(exec_info) -> None | result   (raise to refuse)
        room_message_after(exec_info) -> None | result    (runs after failures too)
    Message checkers (switch on custom message formats):
        room_messages_checker(message), direct_messages_checker(message)
    Connection and lifecycle hooks:
        on_connect(server, id) -> user name | (user name, auth data) | None
        on_disconnect(server, {"id", "nconnected", "rooms_removed", "joined_sockets"})
        on_join(server, {"id", "room_name", "njoined"})   (raise to refuse the join)
        on_leave(server, {"id", "room_name", "njoined"})  (errors are logged)
        on_start(server), on_close(server, error)
    """


@dataclass
class ExecInfo:
    """What a command's before and after hooks see (docs/hooks-and-python-api.md, The exec-info object)."""

    server: object
    user_name: object
    id: object
    args: list
    rest_args: list
    bypass_permissions: bool = False
    bypass_hooks: bool = False
    is_local_call: bool = False
    error: object = None
    results: object = None
    data: dict = field(default_factory=dict)


def camel_case(snake):
    return re.sub(r"_([a-z])", lambda m: m.group(1).upper(), snake)


def import_hooks(path):
    """Import the object a dotted path names; a class is instantiated once."""
    module_name, _, attribute = path.rpartition(".")
    try:
        try:
            target = importlib.import_module(path)
        except ImportError:
            if not module_name:
                raise
            target = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise ImproperlyConfigured(f"CHAT_HOOKS: cannot import hooks {path!r}: {exc}") from exc
    return target() if inspect.isclass(target) else target


class HookSet:
    """The hooks present on a hooks object, looked up once, callable sync or async."""

    def __init__(self, hooks_object):
        if isinstance(hooks_object, str):
            hooks_object = import_hooks(hooks_object)
        self.object = hooks_object
        self._cache = {}

    def get(self, snake_name):
        if snake_name in self._cache:
            return self._cache[snake_name]
        found = None
        if self.object is not None:
            present = [name for name in (snake_name, camel_case(snake_name)) if self._defines(name)]
            if len(present) > 1:
                raise ImproperlyConfigured(f"hooks define both {present[0]} and {present[1]}")
            if present:
                found = self._as_async(getattr(self.object, present[0]))
        self._cache[snake_name] = found
        return found

    def validate(self, names):
        for name in names:
            self.get(name)

    def _defines(self, name):
        value = getattr(self.object, name, None)
        if value is None:
            return False
        inherited = getattr(Hooks, name, None)
        underlying = getattr(value, "__func__", value)
        return inherited is None or underlying is not inherited

    @staticmethod
    def _as_async(function):
        if inspect.iscoroutinefunction(function) or inspect.iscoroutinefunction(getattr(function, "__call__", None)):
            return function
        return sync_to_async(function, thread_sensitive=True)
