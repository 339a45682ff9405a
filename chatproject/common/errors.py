"""The service's one error type and how it is rendered (docs/protocol.md, Errors)."""
from .jsontext import compact_json

TEMPLATES = {
    "badArgument": "Bad argument at position {0}, value {1:json}",
    "internalError": "{0}",
    "invalidName": "String {0} contains invalid characters",
    "invalidRequest": "Invalid request",
    "invalidSocket": "Socket {0} is not connected",
    "noCommand": "No such command {0}",
    "listLimitExceeded": "Exceeded {0} size limit",
    "noList": "No such list {0}",
    "noLogin": "No login provided",
    "noRoom": "No such room {0}",
    "noSocket": "Command {0} requires a valid socket",
    "noUser": "No such user {0}",
    "noUserOnline": "No such user online {0}",
    "notAllowed": "Action is not allowed",
    "notJoined": "Not joined to room {0}",
    "parseError": "Parse error",
    "rateLimited": "Rate limit exceeded, retry in {0} ms",
    "roomExists": "Room {0} already exists",
    "timeout": "Server operation timeout",
    "tooManyConnections": "Too many connections, limit {0}",
    "unavailable": "Service temporarily unavailable",
    "userExists": "User {0} already exists",
    "userOnline": "User {0} is online",
    "wrongArgumentsCount": "Expected {0} arguments, got {1}",
}

# JSON-RPC integer codes depend on the chat-service code alone (docs/protocol.md, Errors).
RPC_CODES = {
    "parseError": -32700,
    "invalidRequest": -32600,
    "noCommand": -32601,
    "badArgument": -32602,
    "wrongArgumentsCount": -32602,
    "internalError": -32603,
}
INTERNAL_ERROR_TEXT = "Internal server error"


def _render_arg(value, as_json=False):
    if as_json:
        return compact_json(value)
    if isinstance(value, str):
        return value
    if value is None or isinstance(value, (bool, int)):
        return compact_json(value)
    try:
        return compact_json(value)
    except (TypeError, ValueError):
        return str(value)


def render_message(code, args):
    template = TEMPLATES.get(code)
    if template is None:
        return code
    text = template
    for index, value in enumerate(args):
        text = text.replace("{%d:json}" % index, _render_arg(value, True))
        text = text.replace("{%d}" % index, _render_arg(value))
    return text


class ChatServiceError(Exception):
    """An error a client or server-side caller can observe: `code` plus format `args`.

    Raise it from hooks with any code string; the client receives that code.
    """

    name = "ChatServiceError"

    def __init__(self, code, *args):
        super().__init__(code, *args)
        self.code = code
        self.args = args

    @property
    def message(self):
        return render_message(self.code, self.args)

    def __str__(self):
        return self.message

    def to_data(self):
        return {"name": self.name, "code": self.code, "args": list(self.args)}

    def to_rpc(self):
        """The JSON-RPC error object (docs/protocol.md, Errors)."""
        return {
            "code": RPC_CODES.get(self.code, -32000),
            "message": self.message,
            "data": self.to_data(),
        }


def internal_error():
    return ChatServiceError("internalError", INTERNAL_ERROR_TEXT)


def as_service_error(exc):
    """Map any exception to what the client may see: never internal detail."""
    if isinstance(exc, ChatServiceError):
        return exc
    return internal_error()
