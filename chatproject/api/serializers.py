"""Request and response bodies of the admin API.

Request fields are strict, as the WebSocket commands are (docs/protocol.md,
Rules common to all commands): no coercion of `"1"` to 1 or of 1 to true.
The first bad field raises `badArgument(field, value)` at once, before
the service is called. Response serializers only describe the bodies for
the schema.
"""
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.fields import SkipField, empty

from chatproject.common.names import MAX_SAFE_INTEGER
from chatproject.service.jsonrpc import strings_in

from .errors import bad_argument

# PostgreSQL text and jsonb cannot hold U+0000: refused everywhere, on every database.
NO_NUL = "^[^\\u0000]*$"
NAME_PATTERN = "^[^\\u0000-\\u001f\\u007f:{}]+$"


def has_nul(value):
    """Whether a JSON value holds U+0000 in any string or key."""
    return any("\x00" in text for text in strings_in(value))


class StrictMixin:
    """Validation by `accepts(value)` alone: missing required fields and
    unwanted nulls are bad arguments with the value null."""

    def run_validation(self, data=empty):
        if data is empty:
            if self.required:
                raise bad_argument(self.field_name, None)
            raise SkipField()
        if data is None:
            if self.allow_null:
                return None
            raise bad_argument(self.field_name, None)
        if not self.accepts(data) or has_nul(data):
            raise bad_argument(self.field_name, data)
        return data


@extend_schema_field({"type": "string", "pattern": NO_NUL})
class StrictString(StrictMixin, serializers.CharField):
    def __init__(self, **kwargs):
        kwargs.setdefault("allow_blank", True)  # "" is a string like any other
        super().__init__(**kwargs)

    def accepts(self, value):
        return type(value) is str


@extend_schema_field({"type": "string", "minLength": 1, "pattern": NAME_PATTERN})
class Name(StrictString):
    """A new room or user name: the service checks the name rule itself;
    the pattern tells schema clients what it accepts."""

    def __init__(self, **kwargs):
        super().__init__(allow_blank=False, **kwargs)


class StrictBoolean(StrictMixin, serializers.BooleanField):
    def accepts(self, value):
        return type(value) is bool


class StrictInteger(StrictMixin, serializers.IntegerField):
    def __init__(self, **kwargs):
        super().__init__(max_value=MAX_SAFE_INTEGER, **kwargs)

    def accepts(self, value):
        return type(value) is int and self.min_value <= value <= self.max_value


class NameList(StrictMixin, serializers.ListField):
    def __init__(self, **kwargs):
        super().__init__(child=StrictString(), **kwargs)

    def accepts(self, value):
        return type(value) is list and all(type(item) is str for item in value)


@extend_schema_field({"type": "object", "additionalProperties": True})
class JSONObject(StrictMixin, serializers.JSONField):
    def accepts(self, value):
        return type(value) is dict


class JSONList(StrictMixin, serializers.ListField):
    def __init__(self, **kwargs):
        super().__init__(child=serializers.JSONField(), **kwargs)

    def accepts(self, value):
        return type(value) is list


class StrictSerializer(serializers.Serializer):
    """A JSON object body whose fields are all known."""

    def to_internal_value(self, data):
        if type(data) is not dict:
            raise bad_argument("body", data)
        for key, value in data.items():
            if key not in self.fields:
                raise bad_argument(key, value)
        return super().to_internal_value(data)


# Request bodies.


class RoomCreateRequest(StrictSerializer):
    name = Name()
    owner = StrictString(required=False, allow_null=True)
    whitelistOnly = StrictBoolean(required=False)
    whitelist = NameList(required=False)
    blacklist = NameList(required=False)
    adminlist = NameList(required=False)
    historyMaxSize = StrictInteger(required=False, min_value=0)
    enableAccessListsUpdates = StrictBoolean(required=False)
    enableUserlistUpdates = StrictBoolean(required=False)


class RoomPatchRequest(StrictSerializer):
    # Declared in the order change_room applies them (docs/hooks-and-python-api.md, Changing a room).
    enableAccessListsUpdates = StrictBoolean(required=False)
    enableUserlistUpdates = StrictBoolean(required=False)
    historyMaxSize = StrictInteger(required=False, min_value=0)
    owner = StrictString(required=False, allow_null=True)
    whitelistOnly = StrictBoolean(required=False)


class UserNames(StrictSerializer):
    userNames = NameList()


class MessagePostRequest(StrictSerializer):
    author = StrictString(required=False, allow_null=True, help_text="An existing user; absent or null: no author")
    message = JSONObject(help_text='{"textMessage": "..."} unless a roomMessagesChecker hook allows other objects')


class UserCreateRequest(StrictSerializer):
    name = Name()
    whitelist = NameList(required=False)
    blacklist = NameList(required=False)
    whitelistOnly = StrictBoolean(required=False)


class ExecRequest(StrictSerializer):
    userName = StrictString(required=False, allow_null=True)
    id = StrictString(required=False, allow_null=True, help_text="a socket id of the user")
    bypassPermissions = StrictBoolean(required=False)
    bypassHooks = StrictBoolean(required=False)
    command = StrictString()
    args = JSONList(help_text="the command's positional arguments")


class NoBody(StrictSerializer):
    """Calls that take no body accept none, or an empty object."""


# Response bodies (schema only).


class RoomItem(serializers.Serializer):
    name = serializers.CharField()
    owner = serializers.CharField(allow_null=True)
    whitelistOnly = serializers.BooleanField()
    historyMaxSize = serializers.IntegerField(min_value=0)
    historySize = serializers.IntegerField(min_value=0)
    lastMessageId = serializers.IntegerField(min_value=0)
    enableAccessListsUpdates = serializers.BooleanField()
    enableUserlistUpdates = serializers.BooleanField()
    userCount = serializers.IntegerField(min_value=0)


class RoomDetail(RoomItem):
    whitelist = serializers.ListField(child=serializers.CharField())
    blacklist = serializers.ListField(child=serializers.CharField())
    adminlist = serializers.ListField(child=serializers.CharField())
    userlist = serializers.ListField(child=serializers.CharField())


class UserItem(serializers.Serializer):
    name = serializers.CharField()
    whitelistOnly = serializers.BooleanField()
    online = serializers.BooleanField()


class UserDetail(UserItem):
    whitelist = serializers.ListField(child=serializers.CharField())
    blacklist = serializers.ListField(child=serializers.CharField())
    sockets = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()), help_text="socket id -> joined room names"
    )


def paginated(name, item):
    return type(
        name,
        (serializers.Serializer,),
        {
            "count": serializers.IntegerField(min_value=0),
            "next": serializers.URLField(allow_null=True),
            "previous": serializers.URLField(allow_null=True),
            "results": item(many=True),
        },
    )


PaginatedRooms = paginated("PaginatedRooms", RoomItem)
PaginatedUsers = paginated("PaginatedUsers", UserItem)


class RoomListsAnswer(serializers.Serializer):
    whitelist = serializers.BooleanField()
    blacklist = serializers.BooleanField()
    adminlist = serializers.BooleanField()
    userlist = serializers.BooleanField()


class RoomAccess(serializers.Serializer):
    access = serializers.BooleanField()
    lists = RoomListsAnswer()


class DirectListsAnswer(serializers.Serializer):
    whitelist = serializers.BooleanField()
    blacklist = serializers.BooleanField()


class DirectAccess(serializers.Serializer):
    access = serializers.BooleanField()
    lists = DirectListsAnswer()


# A processed room message (docs/protocol.md, Messages).
STORED_MESSAGE = {
    "type": "object",
    "properties": {
        "id": {"type": "integer", "minimum": 1},
        "timestamp": {"type": "integer"},
        "author": {"type": "string"},
    },
    "required": ["id", "timestamp"],
    "additionalProperties": True,
}
HISTORY = {"type": "array", "items": STORED_MESSAGE}


class MessageId(serializers.Serializer):
    id = serializers.IntegerField(min_value=1)


class ExecResult(serializers.Serializer):
    result = serializers.JSONField(allow_null=True, help_text="the command's return value")


class Accepted(serializers.Serializer):
    """An empty object."""


class InstanceItem(serializers.Serializer):
    id = serializers.CharField()
    heartbeat = serializers.IntegerField()
    alive = serializers.BooleanField()
    sockets = serializers.IntegerField(min_value=0)


class Error(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    args = serializers.ListField(child=serializers.JSONField(), required=False)
