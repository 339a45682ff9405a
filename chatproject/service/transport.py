"""What the service knows of this instance's connections: `get_handshake_data`."""
from urllib.parse import parse_qsl


def decode_query(query_string):
    """parse_qs semantics: `+` is a space, values percent-decoded once, last one wins."""
    text = query_string.decode("utf-8", "replace") if isinstance(query_string, bytes) else query_string
    return dict(parse_qsl(text, keep_blank_values=True, errors="replace"))


def decode_headers(raw_headers):
    return {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in raw_headers}


class Transport:
    def __init__(self):
        self.sockets = {}  # socket id -> Socket, from handshake until the connection closes
        self.cleaning = set()  # ids of closed sockets whose disconnect clean-up is running

    def register(self, socket):
        self.sockets[socket.socket_id] = socket

    def unregister(self, socket_id):
        """The connection closed; its clean-up starts."""
        if self.sockets.pop(socket_id, None) is not None:
            self.cleaning.add(socket_id)

    def forget(self, socket_id):
        """The clean-up is done."""
        self.cleaning.discard(socket_id)

    def knows(self, socket_id):
        """Connected, or still being cleaned up: its records are not ghosts."""
        return socket_id in self.sockets or socket_id in self.cleaning

    def get_handshake_data(self, socket_id):
        socket = self.sockets.get(socket_id)
        if socket is None:
            return {"is_connected": False, "query": {}, "headers": {}, "scope": {}}
        scope = socket.scope
        return {
            "is_connected": True,
            "query": decode_query(scope.get("query_string", b"")),
            "headers": decode_headers(scope.get("headers", ())),
            "scope": scope,
        }
