"""Plain frames read without autobahn (chatproject/frames.py, and
ChatWebSocketProtocol.dataReceived in chatproject/daphne_integration.py)
behave exactly as autobahn's own reader: the same frames reach the socket in
the same order, and the same bytes (pongs, close frames and their codes) go
back, however the bytes are cut into reads.

Each byte stream is replayed in a child process (daphne's import installs a
Twisted reactor, which this process must not have) through two daphne
protocols, one with the plain-frame reader and one without it."""
import json
import random
import struct
import sys

from chatproject.frames import plain_frame_limit, read_plain_frame
from tests.child_process import run_in_child
LIMIT = 2000  # the daphne frame and message limits of the replays


def frame(payload, opcode=0x1, fin=True, rsv=0, mask=b"\x0f\xf0\x5a\xa5", length_bits=None):
    """A client frame; `mask=None` sends it unmasked, `length_bits` 16 or 64
    forces a longer length field than needed."""
    if isinstance(payload, str):
        payload = payload.encode()
    size = len(payload)
    bits = length_bits or (7 if size < 126 else 16 if size < 1 << 16 else 64)
    masked = 0x80 if mask is not None else 0
    head = bytes([(0x80 if fin else 0) | rsv << 4 | opcode])
    if bits == 7:
        head += bytes([masked | size])
    elif bits == 16:
        head += bytes([masked | 126]) + struct.pack("!H", size)
    else:
        head += bytes([masked | 127]) + struct.pack("!Q", size)
    if mask is None:
        return head + payload
    return head + mask + bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))


def call(request_id, text="hi"):
    return json.dumps({"jsonrpc": "2.0", "id": request_id, "method": "roomMessage",
                       "params": ["lobby", {"textMessage": text}]})


def replay(streams):
    """Each stream (a list of reads) through both readers: the child's
    results, [{"plain": ..., "autobahn": ...}] in order."""
    return json.loads(run_in_child(__name__, "child_main", json.dumps([[read.hex() for read in reads] for reads in streams])))


def close_code(written):
    """The code of the close frame the server wrote last (None: no close frame)."""
    data, code = bytes.fromhex(written), None
    while len(data) >= 2:
        size = data[1] & 0x7F
        start = 2 + {126: 2, 127: 8}.get(size, 0)
        if size >= 126:
            size = int.from_bytes(data[2:start], "big")
        if data[0] & 0x0F == 0x8:
            code = struct.unpack("!H", data[start:start + 2])[0]
        data = data[start + size:]
    return code


def assert_same(streams):
    results = replay(streams)
    for reads, result in zip(streams, results):
        assert result["plain"] == result["autobahn"], [read.hex() for read in reads]
    return [result["plain"] for result in results]


def one_read_and_every_split(data):
    """The stream as one read, split once at every byte, and byte by byte."""
    yield [data]
    for cut in range(1, len(data)):
        yield [data[:cut], data[cut:]]
    yield [data[i:i + 1] for i in range(len(data))]


# -- read_plain_frame on its own --------------------------------------------

def test_a_plain_text_or_binary_frame_is_read_with_its_end():
    data = frame(call(1)) + frame(b"\x00\xff", opcode=0x2)
    text, end = read_plain_frame(data, 0, LIMIT)
    assert text == call(1) and end == len(frame(call(1)))
    assert read_plain_frame(data, end, LIMIT) == (b"\x00\xff", len(data))


def test_every_length_form_and_both_unmasking_sizes_read_back():
    for size in (0, 1, 3, 4, 5, 125, 126, 1023, 1024, 1025, 1500, 4099, 65535):
        payload = bytes(random.Random(size).randrange(128) for _ in range(size))
        data = b"junk" + frame(payload)
        assert read_plain_frame(data, 4, 65535) == (payload.decode(), len(data)), size


def test_anything_but_a_whole_plain_frame_is_left_alone():
    text = "é" * 100
    whole = frame(text)
    left_alone = {
        "fragment": frame(text, fin=False),
        "continuation": frame(text, opcode=0x0),
        "ping": frame(b"p", opcode=0x9),
        "close": frame(struct.pack("!H", 1000), opcode=0x8),
        "reserved opcode": frame(text, opcode=0x3),
        "reserved bit": frame(text, rsv=4),
        "unmasked": frame(text, mask=None),
        "unmasked, 16-bit length": frame("x" * 300, mask=None),
        "64-bit length": frame(text, length_bits=64),
        "16-bit length for a short payload": frame("x" * 10, length_bits=16),
        "over the limit": frame("x" * (LIMIT + 1)),
        "not UTF-8": frame(b'"\xed\xa0\x80"'),
        "UTF-8 cut short": frame("é".encode()[:1]),
        "incomplete payload": whole[:-1],
        "incomplete header": whole[:3],
        "incomplete 16-bit length": frame("x" * 300)[:7],
        "nothing": b"",
    }
    for name, data in left_alone.items():
        assert read_plain_frame(data, 0, LIMIT) is None, name
    assert read_plain_frame(frame("x" * LIMIT), 0, LIMIT)[0] == "x" * LIMIT


def test_the_limit_is_the_smaller_of_autobahns_limits_within_16_bits():
    assert plain_frame_limit(65536, 65536) == 65535
    assert plain_frame_limit(1000, 0) == 1000
    assert plain_frame_limit(0, 700) == 700
    assert plain_frame_limit(0, 0) == 65535


# -- through daphne's protocol, against autobahn's own reader ---------------

def test_plain_frames_reach_the_socket_in_order_however_the_reads_are_cut():
    data = (frame(call(1)) + frame(b"\x01\x02", opcode=0x2) + frame(call(2, "é" * 200))
            + frame(call(3, "x" * 1500)) + frame("") + frame(b"", opcode=0x2))
    results = assert_same(list(one_read_and_every_split(data)))
    expected = [call(1), "b:0102", call(2, "é" * 200), call(3, "x" * 1500), "", "b:"]
    assert all(result["frames"] == expected and close_code(result["written"]) is None for result in results)


def test_fragments_and_control_frames_between_plain_frames():
    """A ping between the fragments of a message, a pong, then plain frames
    again, whose reads autobahn leaves empty between messages."""
    data = (frame(call(1)) + frame('{"jsonrpc":', fin=False) + frame(b"ping", opcode=0x9)
            + frame('"2.0","id":2,', opcode=0x0, fin=False) + frame('"method":"x"}', opcode=0x0)
            + frame(b"", opcode=0xA) + frame(call(3)))
    results = assert_same(list(one_read_and_every_split(data)))
    expected = [call(1), '{"jsonrpc":"2.0","id":2,"method":"x"}', call(3)]
    assert all(result["frames"] == expected for result in results)
    assert all(bytes.fromhex(result["written"]) == b"\x8a\x04ping" for result in results)


def test_protocol_errors_keep_autobahns_close_codes_and_stop_the_frames_after_them():
    cases = {
        1007: [[frame(b'"\xed\xa0\x80"')], [frame(b"\xf4\x90\x80\x80")], [frame(b"\xe2\x82")],
               [frame(b'"\xe2\x82', fin=False), frame(b'"', opcode=0x0)],  # a code point cut by the message's end
               [frame(b"\xed", fin=False), frame(b"\xa0\x80", opcode=0x0)]],  # a surrogate split across fragments
        1002: [[frame(call(9), mask=None)], [frame(call(9), rsv=4)], [frame(call(9), rsv=1)],
               [frame(call(9), opcode=0x3)], [frame(call(9), opcode=0x0)], [frame(call(9), length_bits=64)],
               [frame("x" * 10, length_bits=16)], [frame(call(9), fin=False), frame(call(10))],
               [frame(b"p", opcode=0x9, fin=False)]],
        1009: [[frame("x" * (LIMIT + 1))], [frame("x" * 1500, fin=False), frame("x" * 600, opcode=0x0)]],
    }
    streams = []
    for code, bad_frames in cases.items():
        for bad in bad_frames:
            frames = [frame(call(1)), *bad, frame(call(2))]
            data = b"".join(frames)
            streams += [(code, reads) for reads in ([data], frames, [data[i:i + 1] for i in range(len(data))])]
    results = assert_same([reads for _, reads in streams])
    for (code, reads), result in zip(streams, results):
        assert result["frames"] == [call(1)], reads
        assert close_code(result["written"]) == code, reads


def test_a_read_that_starts_inside_a_frame_is_left_to_autobahn():
    """A read that continues a frame's header or payload, even where its bytes
    look like a plain frame of their own, is read as the rest of that frame."""
    inner = frame(call(5))
    zero_mask = b"\0\0\0\0"  # the payload goes on the wire as it is
    binary, ping = frame(inner, opcode=0x2, mask=zero_mask), frame(frame("ab"), opcode=0x9, mask=zero_mask)
    first_byte_then_rest = [b"\x82", frame(b"abc", opcode=0x2) + frame(call(1))]
    results = assert_same([[binary[:6], binary[6:]], [ping[:6], ping[6:]], first_byte_then_rest])
    assert results[0]["frames"] == ["b:" + inner.hex()]
    assert results[1]["frames"] == [] and bytes.fromhex(results[1]["written"]) == b"\x8a\x08" + frame("ab")
    assert call(1) not in results[2]["frames"]


def test_a_frame_of_exactly_the_limit_is_read():
    data = frame("x" * LIMIT) + frame(call(1))
    [result] = assert_same([[data]])
    assert result["frames"] == ["x" * LIMIT, call(1)]


def test_a_close_from_the_client_ends_the_frames():
    data = frame(call(1)) + frame(struct.pack("!H", 1000), opcode=0x8) + frame(call(2))
    for result in assert_same(list(one_read_and_every_split(data))):
        assert result["frames"] == [call(1)] and close_code(result["written"]) == 1000 and result["lost"]


def test_frames_after_the_server_closes_in_the_same_read_go_to_autobahn():
    """The socket closes the connection on the frame "close": the frames read
    with it still reach the socket, through autobahn's closing state, as
    without the plain reader."""
    data = frame(call(1)) + frame("close") + frame(call(2)) + frame(b"\x00", opcode=0x2)
    for result in assert_same([[data], [data[:5], data[5:]]]):
        assert result["frames"] == [call(1), "close", call(2), "b:00"]
        assert close_code(result["written"]) == 4009


def test_frames_after_the_connection_is_dropped_in_the_same_read_are_not_read():
    data = frame(call(1)) + frame("drop") + frame(call(2))
    for result in assert_same([[data], [data[:5], data[5:]]]):
        assert result["frames"] == [call(1), "drop"] and result["lost"]


def test_generated_streams_read_as_autobahn_reads_them():
    rng = random.Random(20261127)
    pieces = [
        lambda: frame(call(rng.randrange(100), "é" * rng.randrange(700)), mask=rng.randbytes(4)),
        lambda: frame(rng.randbytes(rng.randrange(300)), opcode=0x2, mask=rng.randbytes(4)),
        lambda: frame(rng.randbytes(rng.randrange(4)), mask=rng.randbytes(4)),  # often not UTF-8
        lambda: frame("x" * rng.randrange(LIMIT - 100, LIMIT + 100)),
        lambda: frame(rng.randbytes(rng.randrange(20)), opcode=0x9),
        lambda: frame("ab", fin=False) + frame("cd", opcode=0x0),
        lambda: frame("ab", opcode=rng.choice([0x0, 0x3, 0xB])),
        lambda: frame("ab", rsv=rng.randrange(1, 8)),
        lambda: frame("ab", mask=None),
        lambda: rng.randbytes(rng.randrange(1, 8)),
    ]
    weights = [30, 10, 6, 4, 4, 4, 1, 1, 1, 1]
    streams = []
    for _ in range(150):
        data = b"".join(rng.choices(pieces, weights)[0]() for _ in range(rng.randrange(1, 8)))
        cuts = sorted(rng.sample(range(1, len(data)), min(len(data) - 1, rng.randrange(4))))
        streams.append([data[start:stop] for start, stop in zip([0, *cuts], [*cuts, len(data)])])
    assert_same(streams)


# -- the child process -------------------------------------------------------

def child_main():
    """Replay the streams of stdin through daphne's protocol, with and without
    the plain-frame reader; print what each did."""
    import asyncio
    import types

    from twisted.internet.testing import StringTransport

    from chatproject.daphne_integration import _customise_daphne

    _customise_daphne()
    from daphne.ws_protocol import WebSocketFactory

    class Transport(StringTransport):
        def unregisterProducer(self):  # as a TCP transport: none registered is fine
            self.producer = None

    server = types.SimpleNamespace(log_action=lambda *args: None)
    factory = WebSocketFactory(server, server="Daphne")
    factory.setProtocolOptions(autoPingTimeout=20, allowNullOrigin=True, openHandshakeTimeout=0,
                               maxMessagePayloadSize=LIMIT, maxFramePayloadSize=LIMIT)

    async def run(reads, plain):
        protocol = factory.buildProtocol(None)
        transport = Transport()
        protocol.makeConnection(transport)
        protocol.server, protocol.request, protocol.client_addr = server, types.SimpleNamespace(path="/ws/chat/"), None
        protocol.state, protocol.websocket_version = protocol.STATE_OPEN, 13
        protocol.inside_message, protocol.current_frame = False, None
        protocol.onOpen()
        assert protocol.chat_plain_frame_limit == LIMIT
        if not plain:
            protocol.chat_plain_frame_limit = None
        frames = []

        def receiver(received):
            frames.append(received if isinstance(received, str) else "b:" + received.hex())
            if received == "close":
                protocol.sendClose(4009)
            elif received == "drop":
                protocol.dropConnection(abort=True)

        protocol.chat_receiver = receiver
        for read in reads:
            protocol.dataReceived(bytes.fromhex(read))
            await asyncio.sleep(0)  # the end of the loop turn writes what waits
        return {"frames": frames, "written": transport.value().hex(), "state": protocol.state,
                "lost": transport.disconnecting}

    async def main():
        streams = json.load(sys.stdin)
        return [{"plain": await run(reads, True), "autobahn": await run(reads, False)} for reads in streams]

    json.dump(asyncio.run(main()), sys.stdout)
