"""Service options (docs/configuration.md, Service options): `CHAT_SERVICE` plus `CHAT_*` overrides.

Nothing is silently replaced: a bad value stops start-up naming its source.
"""
import os
import re
from dataclasses import dataclass, fields

from django.core.exceptions import ImproperlyConfigured

from chatproject.common.names import MAX_SAFE_INTEGER, snake_case

# camelCase option name -> (kind, default, minimum)
SPEC = {
    "enableAccessListsUpdates": ("bool", False, None),
    "enableDirectMessages": ("bool", False, None),
    "enableRoomsManagement": ("bool", False, None),
    "enableUserlistUpdates": ("bool", False, None),
    "historyMaxGetMessages": ("int", 100, 0),
    "historyMaxSize": ("int", 10000, 0),
    "directListSizeLimit": ("int", 1000, 1),
    "roomListSizeLimit": ("int", 10000, 1),
    "closeTimeout": ("int", 15000, 1),
    "heartbeatRate": ("int", 10000, 1),
    "heartbeatTimeout": ("int", 30000, 1),
    "hooks": ("hooks", None, None),
    "allowQueryLogin": ("bool", False, None),
    "maxFrameBytes": ("int", 65536, 1),
    "autoRecovery": ("bool", True, None),
    "lockTTL": ("int", 10000, 1),
    "useRawErrorObjects": ("bool", False, None),
    "maxOutgoingBytes": ("int", 1048576, 1),
    "rateLimit": ("int", 100, 0),
    "rateBurst": ("int", 200, 1),
    "maxBatchLength": ("int", 100, 1),
    "maxConnectionsPerUser": ("int", 0, 0),
}

def env_name(name):
    return "CHAT_" + snake_case(name).upper()


@dataclass(frozen=True)
class Options:
    enable_access_lists_updates: bool
    enable_direct_messages: bool
    enable_rooms_management: bool
    enable_userlist_updates: bool
    history_max_get_messages: int
    history_max_size: int
    direct_list_size_limit: int
    room_list_size_limit: int
    close_timeout: int
    heartbeat_rate: int
    heartbeat_timeout: int
    hooks: object
    allow_query_login: bool
    max_frame_bytes: int
    auto_recovery: bool
    lock_ttl: int
    use_raw_error_objects: bool
    max_outgoing_bytes: int
    rate_limit: int
    rate_burst: int
    max_batch_length: int
    max_connections_per_user: int


assert [f.name for f in fields(Options)] == [snake_case(n) for n in SPEC]


def _check(name, value, source):
    kind, _default, minimum = SPEC[name]
    if kind == "bool":
        if not isinstance(value, bool):
            raise ImproperlyConfigured(f"{source}: {name} must be a boolean, got {value!r}")
    elif kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ImproperlyConfigured(f"{source}: {name} must be an integer, got {value!r}")
        if value < minimum or value > MAX_SAFE_INTEGER:
            raise ImproperlyConfigured(f"{source}: {name} must be at least {minimum}, got {value!r}")
    elif value is not None and isinstance(value, str) and not value:
        raise ImproperlyConfigured(f"{source}: {name} must be a dotted path")
    return value


def _parse_env(name, text):
    kind = SPEC[name][0]
    variable = env_name(name)
    if kind == "bool":
        if text.lower() not in ("true", "false"):
            raise ImproperlyConfigured(f"{variable} must be true or false, got {text!r}")
        return text.lower() == "true"
    if kind == "int":
        if not re.fullmatch(r"-?[0-9]+", text):
            raise ImproperlyConfigured(f"{variable} must be an integer, got {text!r}")
        return int(text)
    return text or None


def load_options(configured=None, environ=None, overrides=None):
    """Merge defaults, `CHAT_SERVICE`, `CHAT_*` variables, then `overrides` (tests)."""
    if configured is None:
        from django.conf import settings

        configured = getattr(settings, "CHAT_SERVICE", {}) or {}
    environ = os.environ if environ is None else environ
    values = {name: spec[1] for name, spec in SPEC.items()}
    for source, mapping in (("CHAT_SERVICE", configured), ("options", overrides or {})):
        for name, value in mapping.items():
            if name not in SPEC:
                raise ImproperlyConfigured(f"{source}: unknown option {name!r}")
            values[name] = _check(name, value, source)
        if source == "CHAT_SERVICE":
            for name in SPEC:
                variable = env_name(name)
                if variable in environ:
                    values[name] = _check(name, _parse_env(name, environ[variable]), variable)
    return Options(**{snake_case(name): value for name, value in values.items()})
