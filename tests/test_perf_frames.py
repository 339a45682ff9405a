"""A notification's WebSocket frame is prepared once per event, even when a room
mixes native and socket.io members, whose texts alternate per recipient; and
it is the frame autobahn would have written."""
import pytest
from autobahn.twisted.websocket import WebSocketServerFactory

from chatproject import daphne_integration
from chatproject.daphne_integration import Wire
from chatproject.frames import text_frame


@pytest.fixture
def framed(monkeypatch):
    """The texts framed, in order; each frame is b"frame:" and the text."""
    texts = []

    def recording_frame(text):
        texts.append(text)
        return b"frame:" + text.encode()

    monkeypatch.setattr(daphne_integration, "text_frame", recording_frame)
    return texts


class Protocol:
    STATE_OPEN = 3

    def __init__(self):
        self.state = self.STATE_OPEN
        self.written = []

    def sendData(self, frame):
        self.written.append(frame)


def test_two_alternating_texts_are_each_framed_once(framed):
    protocols = [Protocol() for _ in range(6)]
    native, socketio = "".join(['{"jsonrpc":"2.0"', "}"]), "".join(['42["roomMessage"', "]"])
    for index, protocol in enumerate(protocols):
        assert Wire(protocol).send_text(native if index % 2 == 0 else socketio)
    assert framed == [native, socketio]
    for index, protocol in enumerate(protocols):
        text = native if index % 2 == 0 else socketio
        assert protocol.written == [b"frame:" + text.encode()]


def test_a_third_text_replaces_the_oldest_frame_and_equal_strings_are_not_confused(framed):
    protocol = Protocol()
    first, second, third = "".join(["a", "1"]), "".join(["b", "2"]), "".join(["c", "3"])
    for text in (first, second, third, second, first):
        Wire(protocol).send_text(text)
    assert framed == [first, second, third, first]
    assert protocol.written == [b"frame:" + t.encode() for t in (first, second, third, second, first)]
    copy = "".join(["a", "1"])  # equal text, another event: framed again (the cache goes by identity)
    Wire(protocol).send_text(copy)
    assert len(framed) == 5


def test_a_closed_connection_is_not_written(framed):
    protocol = Protocol()
    protocol.state = 0
    assert not Wire(protocol).send_text("x")
    assert protocol.written == [] and framed == []


@pytest.mark.parametrize("length", [0, 1, 125, 126, 127, 0xFFFF, 0x10000, 70000])
@pytest.mark.parametrize("character", ["a", "é", "\u2028", "\U0001F600", "\x00"])
def test_a_text_frame_is_the_frame_autobahn_prepares(length, character):
    text = character * length  # "a": the length bounds in bytes; the others: longer encodings across them
    assert text_frame(text) == WebSocketServerFactory().prepareMessage(text.encode("utf-8")).payloadHybi


def test_a_text_that_is_not_utf_8_is_refused():
    with pytest.raises(UnicodeEncodeError):
        text_frame("lone \udc80 surrogate")
