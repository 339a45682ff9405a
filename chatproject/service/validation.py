"""Argument checks shared by client requests, execUserCommand and
checkArguments (docs/protocol.md: Names, Messages, Rules common to all commands)."""
import re

from .errors import ChatServiceError

MAX_SAFE_INTEGER = 2**53 - 1
_BAD_NAME_CHARACTERS = re.compile("[\x00-\x1f\x7f\ud800-\udfff:{}]")


def is_valid_name(name):
    """The name rule (docs/protocol.md, Names)."""
    return isinstance(name, str) and bool(name) and not _BAD_NAME_CHARACTERS.search(name)


def check_name(name):
    """Raise invalidName unless `name` is a valid user or room name."""
    if not is_valid_name(name):
        raise ChatServiceError("invalidName", name)


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
