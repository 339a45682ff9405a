"""Engine.IO packets and payloads, generations 3 and 4, text only.

A packet is one character of type and its data. A polling payload joins
packets: Engine.IO 3 as `<length>:<packet>` with the length in UTF-16 code
units (JavaScript string length), Engine.IO 4 with the record separator
`\\x1e`. Binary packets (EIO3 binary payloads, `b`-prefixed base64) are
refused: the service speaks JSON only.
"""
OPEN, CLOSE, PING, PONG, MESSAGE, UPGRADE, NOOP = "0123456"
PACKET_TYPES = frozenset("0123456")
SEPARATOR = "\x1e"
MAX_LENGTH_DIGITS = 10


class EngineError(Exception):
    """Input that breaks the protocol: the session is closed."""


def utf16_length(text):
    """JavaScript's `text.length`: characters outside the BMP count twice."""
    if text.isascii():
        return len(text)
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def encode_payload(packets, generation):
    if generation == 3:
        return "".join(f"{utf16_length(packet)}:{packet}" for packet in packets)
    return SEPARATOR.join(packets)


def check_packet(packet):
    if not packet:
        raise EngineError("empty packet")
    if packet[0] == "b":
        raise EngineError("binary packets are not supported")
    if packet[0] not in PACKET_TYPES:
        raise EngineError(f"unknown packet type {packet[0]!r}")
    return packet


def decode_payload(body, generation):
    """The packets of a polling POST body."""
    if generation == 4:
        return [check_packet(packet) for packet in body.split(SEPARATOR)]
    packets = []
    position = 0
    while position < len(body):
        colon = body.find(":", position, position + MAX_LENGTH_DIGITS + 1)
        digits = body[position:colon] if colon >= 0 else ""
        if not digits.isdigit() or not digits.isascii():
            raise EngineError("bad payload length")
        length = int(digits)
        start = colon + 1
        end = _end_of_units(body, start, length)
        packets.append(check_packet(body[start:end]))
        position = end
    if not packets:
        raise EngineError("empty payload")
    return packets


def _end_of_units(text, start, units):
    """The index after `units` UTF-16 code units of `text` from `start`."""
    end = start + units  # characters; fewer when some count twice
    if end <= len(text) and utf16_length(text[start:end]) == units:
        return end
    end, counted = start, 0
    while counted < units:
        if end >= len(text):
            raise EngineError("payload length past the end")
        counted += 2 if ord(text[end]) > 0xFFFF else 1
        end += 1
    if counted != units:
        raise EngineError("payload length splits a character")
    return end
