"""The name rule of users and rooms (docs/protocol.md, Names), and the
largest integer a JSON client can hold exactly."""
import re

from chatproject.common.errors import ChatServiceError

MAX_SAFE_INTEGER = 2**53 - 1
_BAD_NAME_CHARACTERS = re.compile("[\x00-\x1f\x7f\ud800-\udfff:{}]")


def is_valid_name(name):
    """The name rule (docs/protocol.md, Names)."""
    return isinstance(name, str) and bool(name) and not _BAD_NAME_CHARACTERS.search(name)


def check_name(name):
    """Raise invalidName unless `name` is a valid user or room name."""
    if not is_valid_name(name):
        raise ChatServiceError("invalidName", name)


def name_problem(name):
    """Why the string `name` breaks the name rule, for people; None when it is valid."""
    if not name:
        return "a name cannot be empty"
    bad = sorted(set(_BAD_NAME_CHARACTERS.findall(name)))
    return "contains " + ", ".join(repr(c) for c in bad) if bad else None


def snake_case(camel):
    """`roomJoin` -> `room_join`: option, command and hook names."""
    return re.sub(r"(?<=[a-z])(?=[A-Z])", "_", camel).lower()
