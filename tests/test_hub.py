"""The hub's handling of what the channel layer brings (chatproject/service/hub.py):
a message this version cannot use, from another version or program, is a
logged error and nothing is delivered for it; the messages after it are."""
import asyncio
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


class GatedGroupAdd:
    """The hub's group_add held until released, recording its groups; fails with
    `error` when set."""

    def __init__(self, hub):
        self.original = hub.group_add
        self.groups = []
        self.gate = asyncio.Event()
        self.error = None

    async def __call__(self, group):
        self.groups.append(group)
        await self.gate.wait()
        if self.error is not None:
            raise self.error
        await self.original(group)


@pytest.fixture
def gated(hub, monkeypatch):
    gate = GatedGroupAdd(hub)
    monkeypatch.setattr(hub, "group_add", gate)
    return gate


async def delivered_from_layer(hub, socket, user_name):
    """A user message from another process (the layer) reaches `socket`: the hub is subscribed."""
    await hub.layer.group_send(group_name("user", user_name), {"type": "hub.user", "user": user_name, "text": "t", "origin": "elsewhere"})
    await eventually(delivered_to(socket))


async def test_concurrent_logins_of_a_user_subscribe_once_and_wait_for_it(hub, gated):
    first, second = RecordingSocket("s1"), RecordingSocket("s2")
    logins = [asyncio.create_task(hub.add_socket(socket, "u")) for socket in (first, second)]
    await eventually(lambda: asyncio.sleep(0, gated.groups))
    assert not any(login.done() for login in logins)  # no delivery before the subscription
    gated.gate.set()
    await asyncio.gather(*logins)
    await hub.add_socket(RecordingSocket("s3"), "u")
    assert gated.groups == [group_name("user", "u")]
    await delivered_from_layer(hub, second, "u")


async def test_a_cancelled_first_login_leaves_the_subscription_to_the_next(hub, gated):
    first, second = RecordingSocket("s1"), RecordingSocket("s2")
    cancelled = asyncio.create_task(hub.add_socket(first, "u"))
    await eventually(lambda: asyncio.sleep(0, gated.groups))
    waiting = asyncio.create_task(hub.add_socket(second, "u"))
    await asyncio.sleep(0)
    cancelled.cancel()
    gated.gate.set()
    await waiting
    assert cancelled.cancelled()
    assert gated.groups == [group_name("user", "u")] * 2
    await delivered_from_layer(hub, second, "u")


async def test_a_failed_subscription_fails_every_waiting_login_and_the_next_asks_again(hub, gated):
    gated.error = OSError("layer down")
    logins = [asyncio.create_task(hub.add_socket(RecordingSocket(socket_id), "u")) for socket_id in ("s1", "s2")]
    await eventually(lambda: asyncio.sleep(0, gated.groups))
    gated.gate.set()
    results = await asyncio.gather(*logins, return_exceptions=True)
    assert all(result is gated.error for result in results)
    assert not hub.is_local("s1") and not hub.is_local("s2")
    gated.error = None
    third = RecordingSocket("s3")
    await hub.add_socket(third, "u")
    assert gated.groups == [group_name("user", "u")] * 2
    await delivered_from_layer(hub, third, "u")


async def test_a_room_left_while_its_subscription_is_pending_is_subscribed_again_by_the_next_join(hub, gated):
    gated.gate.set()
    await hub.add_socket(RecordingSocket("s1"), "u")
    gated.gate.clear()
    joining = asyncio.create_task(hub.join_room("s1", "r"))
    await eventually(lambda: asyncio.sleep(0, len(gated.groups) == 2))
    await hub.leave_room("s1", "r")
    gated.gate.set()
    await joining
    await hub.join_room("s1", "r")
    assert gated.groups[1:] == [group_name("room", "r")] * 2
