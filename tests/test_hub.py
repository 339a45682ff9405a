"""The hub's handling of what the channel layer brings (chatproject/service/hub.py):
a message this version cannot use, from another version or program, is a
logged error and nothing is delivered for it; the messages after it are."""
import logging

import pytest

from chatproject import metrics
from chatproject.layers import ProcessChannelLayer
from chatproject.service.hub import Hub, group_name
from tests.conftest import eventually


class RecordingSocket:
    def __init__(self, socket_id, confirmed=True):
        self.socket_id = socket_id
        self.confirmed = confirmed  # False: holds what comes, as a socket before loginConfirmed
        self.texts = []

    def deliver(self, text):
        self.texts.append(text)
        return self.confirmed


def delivered_to(socket):
    async def predicate():
        return socket.texts

    return predicate


@pytest.fixture
def chat_log(caplog, monkeypatch):
    """The records of the "chat" logger, which does not propagate to caplog's."""
    chat = logging.getLogger("chat")
    monkeypatch.setattr(chat, "handlers", [*chat.handlers, caplog.handler])
    return caplog.handler


@pytest.fixture
async def hub():
    made = Hub(ProcessChannelLayer())
    await made.start("instance")
    yield made
    await made.stop()


async def test_group_names_are_the_same_for_the_same_name_and_differ_by_kind():
    assert group_name("room", "r") == group_name("room", "r") != group_name("user", "r")
    assert group_name("room", "\udcff" * 500).startswith("chat.room.")  # lone surrogates, long names


@pytest.mark.parametrize(
    "message",
    [
        {"room": "r", "text": "no type"},
        {"type": "hub.unknown", "room": "r", "text": "x"},
        {"type": "hub.room", "room": "r"},  # no text
        {"type": "hub.room", "room": "r", "text": b"bytes"},
        {"type": "hub.room", "room": "r", "text": ["x"]},
        {"type": "hub.room", "room": "r", "text": "x", "exclude": 5},
        {"type": "hub.room", "room": ["unhashable"], "text": "x"},
        {"type": "hub.user", "user": "u", "text": None},
    ],
)
async def test_a_message_this_version_cannot_use_is_logged_and_later_ones_delivered(hub, chat_log, message):
    member = RecordingSocket("s1")
    await hub.add_socket(member, "u")
    await hub.join_room("s1", "r")
    await hub.layer.send(hub.channel, message)
    await hub.layer.send(hub.channel, {"type": "hub.room", "room": "r", "text": "after", "exclude": None, "origin": "elsewhere"})

    await eventually(delivered_to(member))
    assert member.texts == ["after"]
    failures = [record for record in chat_log.records if "hub failed to handle" in record.getMessage()]
    assert len(failures) == 1 and failures[0].levelname == "ERROR"


async def test_a_probe_is_taken_without_a_complaint(hub, chat_log):
    await hub.probe()
    member = RecordingSocket("s1")
    await hub.add_socket(member, "u")
    await hub.layer.send(hub.channel, {"type": "hub.user", "user": "u", "text": "after", "origin": "elsewhere"})
    await eventually(delivered_to(member))
    assert member.texts == ["after"] and hub.available
    assert not [record for record in chat_log.records if record.levelno >= logging.WARNING]


def delivered_count():
    return metrics.REGISTRY.get_sample_value("chat_notifications_delivered_total")


async def test_deliveries_are_counted_once_per_written_notification(hub):
    """The hub counts what its sockets wrote: not the excluded socket, not one
    holding notifications until its login is confirmed."""
    sockets = [RecordingSocket("s1"), RecordingSocket("s2"), RecordingSocket("held", confirmed=False), RecordingSocket("sender")]
    for socket in sockets:
        await hub.add_socket(socket, socket.socket_id)
        await hub.join_room(socket.socket_id, "r")
    before = delivered_count()
    await hub.publish_room("r", "text", exclude="sender")
    assert [socket.texts for socket in sockets] == [["text"], ["text"], ["text"], []]
    assert delivered_count() - before == 2
    await hub.layer.send(hub.channel, {"type": "hub.user", "user": "s1", "text": "to s1", "origin": "elsewhere"})

    async def second_text():
        return len(sockets[0].texts) == 2

    await eventually(second_text)
    assert sockets[0].texts == ["text", "to s1"] and delivered_count() - before == 3
    await hub.publish_user("held", "to the held socket only")
    assert sockets[2].texts[-1] == "to the held socket only" and delivered_count() - before == 3
