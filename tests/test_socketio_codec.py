"""The Engine.IO and Socket.IO codecs of the socket.io endpoint
(docs/socketio.md): both generations, UTF-16 lengths, multi-packet payloads,
and hostile input, which always raises the codec's error (the session is
then closed), never anything else."""
import pytest

from chatproject.socketio import engineio, packets
from chatproject.socketio.engineio import EngineError, decode_payload, encode_payload, utf16_length
from chatproject.socketio.packets import PacketError


def test_utf16_length_counts_astral_characters_twice():
    assert utf16_length("abc") == 3
    assert utf16_length("é") == 1
    assert utf16_length("😀") == 2
    assert utf16_length("a😀b") == 4


def test_eio3_payload_lengths_are_utf16_code_units():
    packets_ = ['42/chat-service,["roomMessage","r",{"textMessage":"😀 hi"}]', "3", "6"]
    payload = encode_payload(packets_, 3)
    assert payload.startswith("59:42/chat-service,")  # 58 characters, the emoji counts twice
    assert payload.endswith("1:31:6")
    assert decode_payload(payload, 3) == packets_


def test_eio4_payload_is_record_separated():
    assert encode_payload(["40", "42[\"a\"]", "2"], 4) == '40\x1e42["a"]\x1e2'
    assert decode_payload('40/chat-service,\x1e42/chat-service,1["roomJoin","😀"]', 4) == [
        "40/chat-service,", '42/chat-service,1["roomJoin","😀"]'
    ]


@pytest.mark.parametrize(
    "body",
    [
        "",  # nothing
        "5:2",  # length past the end
        "x:2",  # not a number
        ":2",  # no digits
        "2",  # no colon
        "99999999999999999999:2",  # a huge length prefix
        "-1:2",
        "٣:2ab",  # non-ASCII digits
        "0:",  # an empty packet
        "1:9",  # unknown packet type
        "2:b4",  # binary (base64) packet
        "1:😀",  # the length splits a surrogate pair
        "2:40garbage",  # trailing bytes without a length
    ],
)
def test_eio3_malformed_payloads_are_refused(body):
    with pytest.raises(EngineError):
        decode_payload(body, 3)


@pytest.mark.parametrize("body", ["", "4a\x1e", "\x1e", "7", "bAAAA", "40\x1e9"])
def test_eio4_malformed_payloads_are_refused(body):
    with pytest.raises(EngineError):
        decode_payload(body, 4)


def test_packet_types():
    assert engineio.check_packet("2probe") == "2probe"
    for packet in ("", "x", "b4AAA", "8"):
        with pytest.raises(EngineError):
            engineio.check_packet(packet)


def test_v4_connect_carries_the_namespace_query():
    packet = packets.decode("0/chat-service?user=al%20ice&token=t,")
    assert (packet.type, packet.namespace, packet.query, packet.data) == (
        packets.CONNECT, "/chat-service", {"user": "al ice", "token": "t"}, None
    )


def test_v5_connect_carries_the_auth_object():
    packet = packets.decode('0/chat-service,{"user":"alice","n":1}')
    assert (packet.namespace, packet.data) == ("/chat-service", {"user": "alice", "n": 1})


def test_events_with_and_without_ack():
    packet = packets.decode('2/chat-service,12["roomJoin","lobby"]')
    assert (packet.type, packet.ack_id, packet.data) == (packets.EVENT, 12, ["roomJoin", "lobby"])
    packet = packets.decode('2["roomJoin"]')
    assert (packet.namespace, packet.ack_id, packet.data) == ("/", None, ["roomJoin"])


@pytest.mark.parametrize(
    "text",
    [
        "",
        "9",  # unknown type
        "x",
        '5-/chat-service,["a",{"_placeholder":true,"num":0}]',  # binary event
        "61-/chat-service,1[]",  # binary ack
        "2/chat-service,",  # an event without data
        '2/chat-service,{"a":1}',  # not a list
        "2/chat-service,[]",  # no name
        "2/chat-service,[1]",  # the name is not a string
        "2/chat-service,1234567890123456[\"a\"]",  # an ack id JavaScript cannot keep exact
        '2/chat-service,["a",',  # bad JSON
        '2/chat-service,["a",NaN]',  # not JSON
        '0/chat-service,["a"]',  # auth is not an object
        '0/chat-service,1{}',  # CONNECT with an ack id
        '1/chat-service,"x"',  # DISCONNECT with data
        "2/chat-service," + "[" * 100000 + "]" * 100000,  # too deep
    ],
)
def test_malformed_packets_are_refused(text):
    with pytest.raises(PacketError):
        packets.decode(text)


def test_encoding():
    assert packets.encode(packets.CONNECT, "/") == "0"
    assert packets.encode(packets.CONNECT, "/chat-service") == "0/chat-service,"
    assert packets.encode(packets.ACK, "/chat-service", "[null,1]", 7) == "3/chat-service,7[null,1]"
    assert packets.connect_error("/x", 3, "Invalid namespace") == '4/x,"Invalid namespace"'
    assert packets.connect_error("/x", 4, "Invalid namespace") == '4/x,{"message":"Invalid namespace"}'


def test_eio3_payload_ending_with_astral_characters():
    packets_ = ["4😀😀", "4a😀"]
    assert decode_payload(encode_payload(packets_, 3), 3) == packets_


def test_a_notification_is_converted_once_for_all_its_recipients():
    from chatproject.service.jsonrpc import notification_text
    from chatproject.socketio.sockets import event_of

    text = notification_text("roomMessage", ["lobby", {"textMessage": "😀", "author": "a"}])
    first = event_of(text)
    assert first == '42/chat-service,["roomMessage","lobby",{"textMessage":"😀","author":"a"}]'
    assert event_of(text) is first  # the same string object again: its WebSocket frame is reused too
    assert event_of(notification_text("roomMessage", ["lobby", {}])) != first
