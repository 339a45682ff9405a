"""What the service needs of a connection, whatever its transport.

The WebSocket consumer's `Socket` (chatproject/consumers.py) is one; a
second transport provides the same. The service reads these attributes and
calls these methods, and never sets anything on a socket.
"""
from typing import Awaitable, Protocol


class ServiceSocket(Protocol):
    socket_id: str
    user_name: str  # set by the socket from login()'s answer; None before
    scope: dict  # the ASGI scope of the handshake (get_handshake_data)
    closed: bool  # the connection is gone, or the service decided to close it
    transport_name: str  # a metrics label: "websocket", ...

    def deliver(self, text: str) -> bool:
        """A notification's JSON-RPC text; held back until the login is confirmed.
        True when it was written now (counted as delivered)."""

    async def confirm(self, user_name: str, auth_data: dict) -> None:
        """Send loginConfirmed; from now on notifications flow."""

    async def reject(self, error) -> None:
        """Send loginRejected with the error, then close with 4403."""

    async def close(self, code: int) -> None:
        """Close with `code` and wait until the close is written."""

    def close_now(self, code: int) -> None:
        """Decide to close with `code`: nothing more is run or written but the close."""

    def disconnected(self) -> Awaitable:
        """The end of the socket's disconnect clean-up."""
