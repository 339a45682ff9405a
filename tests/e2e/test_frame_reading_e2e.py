"""Frames through a real daphne, however the client cuts them into writes
(daphne_integration.ChatWebSocketProtocol.dataReceived reads plain frames
itself and leaves the rest to autobahn): calls run in order, and protocol
errors close with autobahn's codes, running nothing written after them."""
import json
import struct

import pytest

from tests.test_frame_fast_path import frame

from .attack_tools import RawWs, request
from .harness import ws_client

pytestmark = [pytest.mark.e2e, pytest.mark.daphne_env(CHAT_MAX_FRAME_BYTES="1000")]


def sockets_call(req_id):
    return frame(json.dumps(request(req_id, "listOwnSockets")))


async def test_frames_in_one_write_byte_by_byte_and_between_fragments_run_in_order(daphne_server):
    ws = await RawWs.connect(daphne_server.port, "alice")
    try:
        assert (await ws.recv())["method"] == "loginConfirmed"
        long_id = "x" * 300  # a 16-bit length
        frames = [sockets_call(i) for i in range(1, 6)] + [
            frame(b"\x00", opcode=0x2), frame(json.dumps(request(long_id, "listOwnSockets")))]
        expected_ids = [1, 2, 3, 4, 5, None, long_id]
        ws.write(b"".join(frames))
        assert [(await ws.recv())["id"] for _ in expected_ids] == expected_ids

        for byte in b"".join(frames):
            ws.write(bytes([byte]))
            await ws.writer.drain()
        assert [(await ws.recv())["id"] for _ in expected_ids] == expected_ids

        text = json.dumps(request(8, "listOwnSockets"))
        ws.write(frame(text[:10], fin=False) + frame(b"ping", opcode=0x9)
                 + frame(text[10:], opcode=0x0) + sockets_call(9))
        assert [(await ws.recv())["id"] for _ in range(2)] == [8, 9]
    finally:
        ws.abort()


PROTOCOL_ERRORS = {
    "invalid UTF-8": (frame(b'"\xed\xa0\x80"'), 1007),
    "invalid UTF-8 split across fragments": (frame(b'"\xed', fin=False) + frame(b'\xa0\x80"', opcode=0x0), 1007),
    "unmasked": (frame(json.dumps(request(5, "listOwnSockets")), mask=None), 1002),
    "reserved bit": (frame(json.dumps(request(5, "listOwnSockets")), rsv=4), 1002),
    "64-bit length of a short payload": (frame(json.dumps(request(5, "listOwnSockets")), length_bits=64), 1002),
    "fragmented ping": (frame(b"p", opcode=0x9, fin=False), 1002),
    "over the frame limit": (frame("x" * 1001), 1009),
    "close": (frame(struct.pack("!H", 1000), opcode=0x8), 1000),
}


async def test_protocol_errors_close_with_autobahns_codes_and_nothing_after_them_runs(daphne_server):
    async with ws_client(daphne_server, user="alice") as peer, ws_client(daphne_server, user="alice") as marker:
        for name, (bad, code) in PROTOCOL_ERRORS.items():
            ws = await RawWs.connect(daphne_server.port, "alice")
            try:
                assert (await ws.recv())["method"] == "loginConfirmed"
                after = frame(json.dumps(request(None, "systemMessage", "after " + name)))
                # The call before is read by the plain reader, the error by
                # autobahn; its reply may lose the race with the close.
                ws.write(sockets_call(1) + bad + after)
                assert await ws.close_code() == code, name
            finally:
                ws.abort()
            # The marker reaches the peer after anything the closed connection
            # ran: "after" never ran if only markers arrive.
            await marker.call("systemMessage", "marker")
        received = [await peer.next_notification("systemMessage") for _ in PROTOCOL_ERRORS]
        assert received == [["marker"]] * len(PROTOCOL_ERRORS)
