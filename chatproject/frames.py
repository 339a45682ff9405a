"""The common incoming WebSocket frame, read without autobahn's general
reader; and the server's text frame, written without its message object.

Almost every frame a client sends is one whole message: final, masked, no
reserved bit, a 7- or 16-bit length, complete in the bytes just read.
autobahn reads each through a frame header object, a cffi masker built per
frame, an incremental UTF-8 validator and six callbacks (about a third of a
fan-out's server CPU went to reading frames, bench/RESULTS.md).
`read_plain_frame` reads such a frame in a few steps; for anything else it
returns None and autobahn reads it, so that every protocol error keeps
autobahn's close code (daphne_integration.ChatWebSocketProtocol.dataReceived).
"""
import struct

from autobahn.websocket.xormasker import create_xor_masker

_FINAL_TEXT = 0x81  # FIN, no reserved bit, opcode 1
_FINAL_BINARY = 0x82  # FIN, no reserved bit, opcode 2
_MASKED = 0x80
_MASKED_16_BIT_LENGTH = _MASKED | 126
_LARGEST_16_BIT_LENGTH = 0xFFFF
_LARGEST_INT_UNMASK = 1024  # above it autobahn's SIMD masker is cheaper than an int XOR (measured)
_HEAD_7_BIT = struct.Struct("!BB")
_HEAD_16_BIT = struct.Struct("!BBH")
_HEAD_64_BIT = struct.Struct("!BBQ")


def plain_frame_limit(max_frame_payload, max_message_payload):
    """The largest payload `read_plain_frame` may read, given autobahn's limits
    (0 means none); a larger frame is left to autobahn, which refuses it
    with 1009."""
    return min(limit for limit in (max_frame_payload, max_message_payload, _LARGEST_16_BIT_LENGTH) if limit > 0)


def read_plain_frame(data, offset, limit):
    """The whole unfragmented data frame starting at `data[offset]` and the
    offset after it: (str for text or bytes for binary, end). None when the
    bytes there are anything else: a control frame, a fragment, reserved bits,
    an unmasked frame, a 64-bit or non-minimal length, a payload over `limit`,
    text that is not UTF-8, or a frame not yet complete."""
    end = len(data)
    if end - offset < 6:
        return None
    head = data[offset]
    if head != _FINAL_TEXT and head != _FINAL_BINARY:
        return None
    length = data[offset + 1]
    if _MASKED <= length < _MASKED_16_BIT_LENGTH:
        length -= _MASKED
        start = offset + 6
    elif length == _MASKED_16_BIT_LENGTH and end - offset >= 8:
        length = (data[offset + 2] << 8) | data[offset + 3]
        if length < 126:  # not the shortest encoding: autobahn's protocol error
            return None
        start = offset + 8
    else:
        return None
    stop = start + length
    if stop > end or length > limit:
        return None
    payload = _unmask(data[start:stop], data[start - 4:start])
    if head == _FINAL_BINARY:
        return payload, stop
    try:
        return payload.decode("utf-8"), stop  # strict: the validity autobahn checks
    except UnicodeDecodeError:
        return None


def _unmask(payload, mask):
    size = len(payload)
    if size > _LARGEST_INT_UNMASK:
        return create_xor_masker(mask, size).process(payload)
    key = (mask * (size // 4 + 1))[:size]
    return (int.from_bytes(payload, "little") ^ int.from_bytes(key, "little")).to_bytes(size, "little")


def text_frame(text):
    """A server's text message as one final, unmasked, uncompressed frame
    (RFC 6455, 5.2), the bytes autobahn's `prepareMessage` makes, without its
    message object: a third of the cost, paid for every reply and every
    notification."""
    payload = text.encode("utf-8")
    length = len(payload)
    if length < 126:
        head = _HEAD_7_BIT.pack(_FINAL_TEXT, length)
    elif length <= _LARGEST_16_BIT_LENGTH:
        head = _HEAD_16_BIT.pack(_FINAL_TEXT, 126, length)
    else:
        head = _HEAD_64_BIT.pack(_FINAL_TEXT, 127, length)
    return head + payload
