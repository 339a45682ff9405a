"""Socket.IO packets, protocol 4 (socket.io 1.x/2.x, over Engine.IO 3) and
protocol 5 (socket.io 3.x/4.x, over Engine.IO 4).

`<type>[/<namespace>,][<ack id>][<JSON data>]`. Both protocols share the
layout; they differ in the CONNECT packet (protocol 4: the query follows the
namespace, `0/chat-service?user=a,`; protocol 5: an `auth` object as data)
and in the CONNECT_ERROR data (a string, or `{"message": ...}`). Binary
packets (types 5 and 6) are refused.
"""
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from chatproject.common.jsontext import compact_json
from chatproject.service.jsonrpc import FrameError, parse_json

CONNECT, DISCONNECT, EVENT, ACK, CONNECT_ERROR, BINARY_EVENT, BINARY_ACK = range(7)
MAX_ACK_ID_DIGITS = 15  # below 2**53: a JavaScript number keeps it exact


class PacketError(Exception):
    """A packet that breaks the protocol: the session is closed."""


@dataclass
class Packet:
    type: int
    namespace: str = "/"
    ack_id: int = None
    data: object = None
    query: dict = field(default_factory=dict)  # protocol 4 CONNECT only


def decode(text):
    """A Socket.IO packet (an Engine.IO message's data)."""
    if not text or text[0] not in "0123456":
        raise PacketError("unknown packet type")
    kind = int(text[0])
    if kind in (BINARY_EVENT, BINARY_ACK):
        raise PacketError("binary packets are not supported")
    position = 1
    packet = Packet(kind)
    if text.startswith("/", position):
        comma = text.find(",", position)
        end = comma if comma >= 0 else len(text)
        namespace, _, query = text[position:end].partition("?")
        packet.namespace = namespace
        packet.query = dict(parse_qsl(query, keep_blank_values=True, errors="replace"))
        position = end + 1 if comma >= 0 else end
    digits_end = position
    while digits_end < len(text) and "0" <= text[digits_end] <= "9":
        digits_end += 1
    if digits_end > position:
        if digits_end - position > MAX_ACK_ID_DIGITS:
            raise PacketError("ack id too large")
        packet.ack_id = int(text[position:digits_end])
    if digits_end < len(text):
        try:
            packet.data = parse_json(text[digits_end:])
        except FrameError:
            raise PacketError("bad JSON") from None
    _check(packet)
    return packet


def _check(packet):
    if packet.type == EVENT:
        data = packet.data
        if not isinstance(data, list) or not data or not isinstance(data[0], str):
            raise PacketError("an event is a list starting with its name")
    elif packet.type == CONNECT:
        if packet.data is not None and not isinstance(packet.data, dict):
            raise PacketError("the auth payload is an object")
        if packet.ack_id is not None:
            raise PacketError("a CONNECT has no ack id")
    elif packet.type == DISCONNECT:
        if packet.data is not None or packet.ack_id is not None:
            raise PacketError("a DISCONNECT carries nothing")


def encode(kind, namespace, data=None, ack_id=None):
    """The packet's text; `data` is JSON text or None."""
    text = str(kind)
    if namespace != "/":
        text += namespace + ","
    if ack_id is not None:
        text += str(ack_id)
    if data is not None:
        text += data
    return text


def connect_error(namespace, engine_generation, message):
    """CONNECT_ERROR: a string in protocol 4 (Engine.IO 3), an object in 5."""
    data = compact_json(message if engine_generation == 3 else {"message": message})
    return encode(CONNECT_ERROR, namespace, data)
