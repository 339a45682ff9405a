"""WebSocket handshakes through daphne, whole or in pieces, plain or hostile
(chatproject/ws_upgrade.py): a handshake read in one piece goes straight to
the WebSocket protocol, anything else through daphne's HTTP request; both
log in the same way, and a bad handshake is refused with an HTTP error and
never upgraded, whichever way it came."""
import asyncio
import json

import pytest

from .attack_tools import handshake_request

pytestmark = pytest.mark.e2e


async def exchange(port, pieces):
    """Write `pieces` one after the other (each drained before the next) and
    read the response head, or what came before the connection closed."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for piece in pieces:
            writer.write(piece)
            await writer.drain()
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
        except asyncio.IncompleteReadError as exc:
            return exc.partial, None
        if not head.startswith(b"HTTP/1.1 101"):
            return head, None
        return head, await asyncio.wait_for(first_text_frame(reader), 30)
    finally:
        writer.transport.abort()


async def first_text_frame(reader):
    """The server's first frame (unmasked, short): its text."""
    opcode, length = await reader.readexactly(2)
    assert opcode == 0x81
    if length == 126:
        length = int.from_bytes(await reader.readexactly(2), "big")
    return (await reader.readexactly(length)).decode()


def confirmed_user(text):
    message = json.loads(text)
    assert message["method"] == "loginConfirmed", message
    return message["params"][0]


async def test_whole_and_split_handshakes_log_in_alike(daphne_server):
    port = daphne_server.port
    whole = handshake_request(port, {"user": "whole"})
    head, text = await exchange(port, [whole])
    assert head.startswith(b"HTTP/1.1 101") and confirmed_user(text) == "whole"
    split = handshake_request(port, {"user": "split"})
    head, text = await exchange(port, [split[:20], split[20:]])
    assert head.startswith(b"HTTP/1.1 101") and confirmed_user(text) == "split"
    encoded = handshake_request(port, {"user": "ünï cøde"})
    head, text = await exchange(port, [encoded])
    assert head.startswith(b"HTTP/1.1 101") and confirmed_user(text) == "ünï cøde"


def with_headers(request, *lines):
    """`request` with header lines added before its end."""
    return request[:-2] + b"".join(line + b"\r\n" for line in lines) + b"\r\n"


async def test_hostile_handshakes_are_refused_and_never_upgraded(daphne_server):
    port = daphne_server.port
    plain = handshake_request(port, {"user": "hostile"})
    hostile = {
        "space in a header name": with_headers(plain, b"Bad Name: x"),
        "control byte in a value": with_headers(plain, b"X-Odd: a\x0bb"),
        "wrong version": plain.replace(b"Sec-WebSocket-Version: 13", b"Sec-WebSocket-Version: 99"),
        "no key": plain.replace(b"Sec-WebSocket-Key", b"X-Not-The-Key"),
        "huge header": with_headers(plain, b"X-Huge: " + b"a" * 70_000),
        "too many headers": with_headers(plain, *(b"X-Many-%d: v" % i for i in range(600))),
        "non-ASCII path": plain.replace(b"/ws/chat/", "/ws/chät/".encode()),
    }
    for name, data in hostile.items():
        for pieces in ([data], [data[:10], data[10:]]):
            head, _ = await exchange(port, pieces)
            # An HTTP 400, or for oversized headers the connection dropped.
            assert head.startswith(b"HTTP/1.1 400 ") or head == b"", (name, head[:200])
    # The server still serves a plain handshake after all of them.
    head, text = await exchange(port, [plain])
    assert head.startswith(b"HTTP/1.1 101") and confirmed_user(text) == "hostile"
