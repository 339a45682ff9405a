"""The fuzzer of tests/test_fuzz.py through a real daphne, for what only the
real server sees: bytes that are not UTF-8, frames at daphne's size limit,
and generated frames through the whole stack (docs/protocol.md: Framing,
Errors). Every test ends with a daphne log free of tracebacks and ERROR lines.
"""
import asyncio
import json
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.test_fuzz import FINAL_ROOM, FRAMES, REPLY_TIMEOUT, FuzzSession, batches, fuzz_settings, to_frame

from .harness import ws_client

pytestmark = pytest.mark.e2e

MAX_FRAME_BYTES = 65536  # the harness starts daphne with this limit, as scripts/run does
ERROR_LINE = re.compile(r"Traceback|\bERROR\b")
WIRE_FRAMES = 300


def log_errors(server, offset=0):
    """Lines of the daphne log from `offset` on that hold a traceback or an
    ERROR, and the offset of the log's end."""
    text = server.log_path.read_text(errors="replace")
    return [line for line in text[offset:].splitlines() if ERROR_LINE.search(line)], len(text)


async def settled(server, user):
    """Wait until `user` has no socket but a fresh one: the disconnect
    clean-up of the closed connections has run (and logged whatever it logs)."""
    async with ws_client(server, user=user) as client:
        deadline = asyncio.get_running_loop().time() + REPLY_TIMEOUT
        while list(await client.call("listOwnSockets")) != [client.socket_id]:
            assert asyncio.get_running_loop().time() < deadline, "sockets left after their connections closed"
            await asyncio.sleep(0.05)


class WireSession(FuzzSession):
    """A WebSocket client of a daphne process (tests/e2e/harness.py)."""

    def __init__(self, server):
        super().__init__()
        self.server = server
        self.log_offset = 0
        self._connection = ws_client(server, user="user1")
        self.client = self.run(self._connection.__aenter__())

    def close(self):
        try:
            self.run(self._connection.__aexit__(None, None, None))
        finally:
            self.runner.close()

    async def _send_frame(self, frame):
        await self.client.ws.send(frame)  # bytes go as a binary frame

    async def _next(self):
        return json.loads(await asyncio.wait_for(self.client.ws.recv(), REPLY_TIMEOUT))

    def new_errors(self):
        errors, self.log_offset = log_errors(self.server, self.log_offset)
        return errors

    @property
    def is_open(self):
        return self.client.close_code is None


@pytest.mark.daphne_env(CHAT_RATE_LIMIT="0")  # the fuzzer is not throttled
def test_generated_frames_through_daphne(daphne_server):
    """A few hundred generated frames (text, binary, batches) through daphne:
    the replies the spec gives each, the connection kept, nothing logged as
    an error."""
    added = daphne_server.manage("chat_add_room", FINAL_ROOM)
    assert added.returncode == 0, added.stderr
    session = WireSession(daphne_server)
    try:
        @fuzz_settings(WIRE_FRAMES // 3)
        @given(st.lists(FRAMES | batches().map(to_frame), min_size=3, max_size=3))
        def run(frames):
            session.check(frames)

        run()
        session.finish(WIRE_FRAMES, ("parseError", "invalidRequest", "result"))
    finally:
        session.close()
    asyncio.run(settled(daphne_server, "user1"))
    assert log_errors(daphne_server)[0] == []


INVALID_UTF8 = {
    "stray continuation byte": b"\x80",
    "invalid byte": b'{"a":"\xff"}',
    "truncated sequence": b'"\xc3',
    "overlong encoding": b'"\xc0\xaf"',
    "encoded surrogate": b'"\xed\xa0\x80"',
    "past U+10FFFF": b'"\xf4\x90\x80\x80"',
}


async def send_raw_text(client, payload):
    """A text frame carrying `payload` as is, valid UTF-8 or not."""
    async with client.ws.send_context():
        client.ws.protocol.send_text(payload)


async def test_invalid_utf8_text_frames_close_with_1007(daphne_server):
    """A text frame that is not UTF-8 closes that connection with 1007 before
    anything reaches the service; the user's other connection is untouched."""
    async with ws_client(daphne_server, user="user1") as other:
        for name, payload in INVALID_UTF8.items():
            async with ws_client(daphne_server, user="user1") as client:
                await send_raw_text(client, payload)
                assert await client.wait_closed(REPLY_TIMEOUT) == 1007, name
                assert client.others == [], (name, client.others)
            assert other.socket_id in await other.call("listOwnSockets")
        assert other.close_code is None
    await settled(daphne_server, "user1")
    assert log_errors(daphne_server)[0] == []


def system_message_frame(size):
    """A systemMessage call (id 1) of exactly `size` bytes, and its argument."""
    head = '{"jsonrpc":"2.0","id":1,"method":"systemMessage","params":["'
    tail = '"]}'
    data = "x" * (size - len(head) - len(tail))
    return head + data + tail, data


async def test_frame_at_and_past_the_limit(daphne_server):
    """A frame of exactly maxFrameBytes is executed; one byte more closes the
    connection with daphne's 1009 and is not executed."""
    async with ws_client(daphne_server, user="user1") as sender, ws_client(daphne_server, user="user1") as peer:
        text, data = system_message_frame(MAX_FRAME_BYTES)
        assert len(text.encode()) == MAX_FRAME_BYTES
        await sender.send_raw(text)
        assert await sender.reply(1, REPLY_TIMEOUT) == {"jsonrpc": "2.0", "id": 1, "result": None}
        assert await peer.next_notification("systemMessage", REPLY_TIMEOUT) == [data]

        text, data = system_message_frame(MAX_FRAME_BYTES + 1)
        await sender.send_raw(text)
        assert await sender.wait_closed(REPLY_TIMEOUT) == 1009
        assert sender.others == [], sender.others
        await peer.no_notification("systemMessage", wait=1.0)
        assert peer.socket_id in await peer.call("listOwnSockets")
    await settled(daphne_server, "user1")
    assert log_errors(daphne_server)[0] == []
