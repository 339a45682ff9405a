"""Which first reads take the handshake shortcut (chatproject/ws_upgrade.py):
only one whole plain upgrade request; everything else goes to daphne's HTTP
path, which refuses what is bad (tests/e2e/test_handshake_e2e.py)."""
import pytest

from chatproject.ws_upgrade import PLAIN_REQUEST_LIMIT, upgrade_target

PLAIN = (
    b"GET /ws/chat/?user=alice HTTP/1.1\r\nHost: 127.0.0.1:8000\r\nUpgrade: websocket\r\n"
    b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


def with_headers(*lines):
    return PLAIN[:-2] + b"".join(line + b"\r\n" for line in lines) + b"\r\n"


def test_a_whole_plain_upgrade_request_takes_the_shortcut():
    assert upgrade_target(PLAIN) == b"/ws/chat/?user=alice"
    assert upgrade_target(PLAIN.replace(b"Upgrade: websocket", b"upgrade:  WebSocket ")) == b"/ws/chat/?user=alice"
    assert upgrade_target(with_headers(b"Cookie: sessionid=abc; csrftoken=x", b"Origin: http://a.example")) is not None


@pytest.mark.parametrize(
    "data",
    [
        PLAIN[:-2],  # headers not finished: the rest comes in a later read
        PLAIN[:40],
        b"",
        PLAIN + b"\x81\x80abcd",  # bytes after the headers
        PLAIN + PLAIN,  # a second request
        PLAIN.replace(b"Upgrade: websocket\r\n", b""),  # not an upgrade
        PLAIN.replace(b"Upgrade: websocket", b"Upgrade: h2c"),
        PLAIN.replace(b"GET ", b"POST "),
        PLAIN.replace(b"HTTP/1.1", b"HTTP/1.0", 1),
        PLAIN.replace(b"GET /ws/chat/", b"GET  /ws/chat/"),
        PLAIN.replace(b"/ws/chat/", "/ws/chät/".encode()),  # non-ASCII target
        with_headers(b"Content-Length: 5"),  # a body
        with_headers(b"Transfer-Encoding: chunked"),
        with_headers(b"Bad Name: x"),  # daphne refuses the name
        with_headers(b"X-Odd: a\x0bb"),  # daphne refuses the value
        with_headers(b"X-Latin: caf\xe9"),  # Twisted's decoding decides
        with_headers(b"X-Tab:\ta\tb"),
        with_headers(b" folded"),  # an obsolete line folding
        with_headers(b"X-Nothing"),  # no colon
        with_headers(b"X-Big: " + b"a" * PLAIN_REQUEST_LIMIT),
    ],
)
def test_anything_else_goes_to_daphne(data):
    assert upgrade_target(data) is None


def test_the_first_upgrade_header_decides_as_in_daphne():
    assert upgrade_target(with_headers(b"Upgrade: h2c")) == b"/ws/chat/?user=alice"
    assert upgrade_target(PLAIN.replace(b"Upgrade: websocket", b"Upgrade: h2c\r\nUpgrade: websocket")) is None
