"""A notification's WebSocket frame is prepared once per event, even when a room
mixes native and socket.io members, whose texts alternate per recipient."""
from types import SimpleNamespace

from chatproject.daphne_integration import Wire


class Factory:
    def __init__(self):
        self.prepared = []

    def prepareMessage(self, payload):
        self.prepared.append(payload)
        return SimpleNamespace(payloadHybi=b"frame:" + payload)


class Protocol:
    STATE_OPEN = 3

    def __init__(self, factory):
        self.factory = factory
        self.state = self.STATE_OPEN
        self.written = []

    def sendData(self, frame):
        self.written.append(frame)


def test_two_alternating_texts_are_each_framed_once():
    factory = Factory()
    protocols = [Protocol(factory) for _ in range(6)]
    native, socketio = "".join(['{"jsonrpc":"2.0"', "}"]), "".join(['42["roomMessage"', "]"])
    for index, protocol in enumerate(protocols):
        assert Wire(protocol).send_text(native if index % 2 == 0 else socketio)
    assert factory.prepared == [native.encode(), socketio.encode()]
    for index, protocol in enumerate(protocols):
        text = native if index % 2 == 0 else socketio
        assert protocol.written == [b"frame:" + text.encode()]


def test_a_third_text_replaces_the_oldest_frame_and_equal_strings_are_not_confused():
    factory = Factory()
    protocol = Protocol(factory)
    first, second, third = "".join(["a", "1"]), "".join(["b", "2"]), "".join(["c", "3"])
    for text in (first, second, third, second, first):
        Wire(protocol).send_text(text)
    assert factory.prepared == [first.encode(), second.encode(), third.encode(), first.encode()]
    assert protocol.written == [b"frame:" + t.encode() for t in (first, second, third, second, first)]
    copy = "".join(["a", "1"])  # equal text, another event: framed again (the cache goes by identity)
    Wire(protocol).send_text(copy)
    assert len(factory.prepared) == 5


def test_a_closed_connection_is_not_written():
    factory = Factory()
    protocol = Protocol(factory)
    protocol.state = 0
    assert not Wire(protocol).send_text("x")
    assert protocol.written == [] and factory.prepared == []
