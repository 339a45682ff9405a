"""Argument checks shared by client requests, execUserCommand and
checkArguments (docs/protocol.md: Names, Messages, Rules common to all commands)."""
from chatproject.common.names import MAX_SAFE_INTEGER


def _is_int(value, minimum):
    return type(value) is int and minimum <= value <= MAX_SAFE_INTEGER


def is_default_message(value):
    return type(value) is dict and len(value) == 1 and type(value.get("textMessage")) is str


def _is_storable_name_list(value):
    # List entries are stored as given, and PostgreSQL text cannot hold U+0000:
    # refused alike on every database. (A lone name with U+0000 is looked up,
    # not stored: it simply matches nothing.)
    return type(value) is list and all(type(item) is str and "\x00" not in item for item in value)


# Argument kinds: each accepts a JSON value or not.
ARG_CHECKS = {
    "str": lambda v: type(v) is str,
    "bool": lambda v: type(v) is bool,
    "list[str]": _is_storable_name_list,
    "int>=0": lambda v: _is_int(v, 0),
    "int>=1": lambda v: _is_int(v, 1),
    "any": lambda v: True,
}
