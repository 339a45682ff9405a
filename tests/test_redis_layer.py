"""The Redis pub/sub layer of several processes (chatproject/layers.py,
`RedisPubSubLayer`): two layers stand for two processes. Needs REDIS_URL (the
CI's second run); keys are under a random prefix."""
import asyncio
import logging
import os
import secrets
import socket

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from chatproject.layers import NO_TAG, RedisPubSubLayer, pack_command, pack_publish
from tests.conftest import eventually

REDIS_URL = os.environ.get("REDIS_URL")
pytestmark = pytest.mark.skipif(not REDIS_URL, reason="needs REDIS_URL")


@pytest.fixture
async def layers():
    prefix = "test" + secrets.token_hex(4)
    made = [RedisPubSubLayer(hosts=[REDIS_URL], prefix=prefix) for _ in range(2)]
    yield made
    for layer in made:
        await layer.flush()


async def settled(layer, channel, probe_from):
    """Wait until `channel` sees what `probe_from` publishes (SUBSCRIBE is not awaited)."""
    while True:
        await probe_from.send(channel, {"type": "probe"})
        try:
            if (await asyncio.wait_for(layer.receive(channel), 0.5))["type"] == "probe":
                return
        except asyncio.TimeoutError:
            pass


def drained(layer, channel):
    queue = layer.channels[channel]
    return [queue.get_nowait() for _ in range(queue.qsize())]


async def test_group_messages_reach_every_member_once_but_never_their_origin(layers):
    a, b = layers
    hub_a, other_a, hub_b = await a.new_channel("hub."), await a.new_channel("hub."), await b.new_channel("hub.")
    for layer, channel in ((a, hub_a), (a, other_a), (b, hub_b)):
        await layer.group_add("room", channel)
    await settled(b, hub_b, a)
    await settled(a, hub_a, b)

    await a.group_send("room", {"type": "hub.room", "text": "one", "origin": hub_a})
    assert (await asyncio.wait_for(b.receive(hub_b), 5))["text"] == "one"
    assert (await asyncio.wait_for(a.receive(other_a), 5))["text"] == "one"
    # A message from B comes back to A's channels through Redis, so by then
    # A's own echo (had it not been dropped) would have been queued before it.
    await b.group_send("room", {"type": "hub.room", "text": "two", "origin": hub_b})
    assert (await asyncio.wait_for(a.receive(hub_a), 5))["text"] == "two"
    assert (await asyncio.wait_for(a.receive(other_a), 5))["text"] == "two"
    assert drained(a, hub_a) == drained(a, other_a) == drained(b, hub_b) == []


async def test_concurrent_sends_keep_their_order_per_group(layers):
    a, b = layers
    hub_a, hub_b = await a.new_channel("hub."), await b.new_channel("hub.")
    groups = [f"room{i}" for i in range(3)]
    for group in groups:
        await b.group_add(group, hub_b)
    await settled(b, hub_b, a)

    async def sender(group):
        for k in range(50):
            await a.group_send(group, {"type": "hub.room", "group": group, "k": k, "origin": hub_a})

    async def unawaited_burst():  # one loop turn: pipelined and coalesced
        await asyncio.gather(*(a.group_send("room0", {"type": "hub.room", "group": "room0", "k": 50 + k}) for k in range(20)))

    await asyncio.gather(*(sender(group) for group in groups))
    await unawaited_burst()
    seen = {group: [] for group in groups}
    for _ in range(170):
        message = await asyncio.wait_for(b.receive(hub_b), 5)
        seen[message["group"]].append(message["k"])
    assert seen == {"room0": list(range(70)), "room1": list(range(50)), "room2": list(range(50))}


async def test_a_specific_channel_gets_its_own_sends_back_through_redis(layers):
    a, _ = layers
    channel = await a.new_channel("hub.")
    await a.send(channel, {"type": "hub.probe"})
    assert await asyncio.wait_for(a.receive(channel), 5) == {"type": "hub.probe"}


async def test_group_discard_stops_deliveries(layers):
    a, b = layers
    hub_a, hub_b = await a.new_channel("hub."), await b.new_channel("hub.")
    await b.group_add("room", hub_b)
    await b.group_add("other", hub_b)
    await settled(b, hub_b, a)
    await b.group_discard("room", hub_b)
    await a.group_send("room", {"type": "gone", "origin": hub_a})
    await a.group_send("other", {"type": "kept", "origin": hub_a})
    assert (await asyncio.wait_for(b.receive(hub_b), 5))["type"] == "kept"


def closed_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def test_an_unreachable_redis_is_an_error_for_each_operation():
    layer = RedisPubSubLayer(hosts=[f"redis://127.0.0.1:{closed_port()}/0"], prefix="test")
    with pytest.raises(RedisConnectionError):
        await layer.new_channel("hub.")
    results = await asyncio.gather(*(layer.group_send("room", {"type": "x"}) for _ in range(3)), return_exceptions=True)
    assert all(isinstance(result, RedisConnectionError) for result in results), results
    with pytest.raises(RedisConnectionError):
        await layer.send("testhub.x", {"type": "x"})
    await layer.flush()


def test_each_event_loop_gets_fresh_connections():
    """A management command's blocking calls each run their own event loop."""
    layer = RedisPubSubLayer(hosts=[REDIS_URL], prefix="test" + secrets.token_hex(4))

    async def round_trip():
        channel = await layer.new_channel("hub.")
        await layer.send(channel, {"type": "ping"})
        return await asyncio.wait_for(layer.receive(channel), 5)

    assert asyncio.run(round_trip()) == {"type": "ping"}
    assert asyncio.run(round_trip()) == {"type": "ping"}
    asyncio.run(layer.flush())


async def delivers_after_reconnecting(a, hub_a, b, hub_b, lost):
    """B's reader replaces its `lost` connection, subscribed again: A's group message reaches B."""

    async def reconnected():
        return b._subscriber is not None and b._subscriber is not lost

    await eventually(reconnected, timeout=10)
    await settled(b, hub_b, a)
    await a.group_send("room", {"type": "after", "origin": hub_a})
    assert (await asyncio.wait_for(b.receive(hub_b), 5))["type"] == "after"


@pytest.fixture
async def subscribed(layers):
    """A and B with a hub channel each, B's in the group "room" and settled."""
    a, b = layers
    hub_a, hub_b = await a.new_channel("hub."), await b.new_channel("hub.")
    await b.group_add("room", hub_b)
    await settled(b, hub_b, a)
    return a, hub_a, b, hub_b


async def test_a_lost_subscriber_connection_reconnects_with_its_subscriptions(subscribed):
    a, hub_a, b, hub_b = subscribed
    lost = b._subscriber
    await lost.disconnect()  # as when Redis restarts
    await delivers_after_reconnecting(a, hub_a, b, hub_b, lost)


async def test_the_reader_retries_until_redis_is_back(subscribed):
    a, hub_a, b, hub_b = subscribed
    host = b._host
    b._host = {"address": f"redis://127.0.0.1:{closed_port()}/0", "protocol": 2}  # Redis "stopped"
    attempts = 0
    connect = b._connect_subscriber

    async def counted_connect():
        nonlocal attempts
        attempts += 1
        await connect()

    b._connect_subscriber = counted_connect
    lost = b._subscriber
    await lost.disconnect()
    with pytest.raises(RedisConnectionError):
        await b.group_add("other", hub_b)

    async def failed_twice():
        return attempts >= 2

    await eventually(failed_twice, timeout=10)
    b._host = host
    await delivers_after_reconnecting(a, hub_a, b, hub_b, lost)


async def test_channels_redis_configuration_forms_and_encryption():
    """The layer takes channels_redis's CONFIG: a (host, port) pair or a dict
    as well as a URL, and `symmetric_encryption_keys`, with which what goes
    through Redis is encrypted and only a layer with the key reads it."""
    from urllib.parse import urlsplit

    parts = urlsplit(REDIS_URL)
    prefix = "test" + secrets.token_hex(4)
    key = secrets.token_urlsafe(32)
    a = RedisPubSubLayer(hosts=[(parts.hostname, parts.port or 6379)], prefix=prefix, symmetric_encryption_keys=[key])
    b = RedisPubSubLayer(hosts=[{"address": REDIS_URL}], prefix=prefix, symmetric_encryption_keys=[key])
    try:
        hub_a, hub_b = await a.new_channel("hub."), await b.new_channel("hub.")
        await b.group_add("room", hub_b)
        await settled(b, hub_b, a)
        wire = []
        publish = a._publish_batch

        async def watched(batch):
            wire.extend(a._serializer.serialize([message]) for _, message, _ in batch)
            await publish(batch)

        a._publish_batch = watched
        await a.group_send("room", {"type": "hub.room", "text": "secret words", "origin": hub_a})
        assert (await asyncio.wait_for(b.receive(hub_b), 5))["text"] == "secret words"
        assert wire and all(b"secret words" not in payload for payload in wire)
    finally:
        await a.flush()
        await b.flush()


def test_more_than_one_host_is_refused():
    with pytest.raises(ValueError, match="one Redis host"):
        RedisPubSubLayer(hosts=["redis://127.0.0.1:1/0", "redis://127.0.0.1:2/0"])


# Hostile input: what arrives on a subscribed Redis channel is logged and
# dropped when it is not this layer's list of messages, and the reader goes on.


@pytest.fixture
def chat_log(caplog, monkeypatch):
    """The records of the "chat" logger, which does not propagate to caplog's."""
    chat = logging.getLogger("chat")
    monkeypatch.setattr(chat, "handlers", [*chat.handlers, caplog.handler])
    return caplog.handler


def unreadable(handler):
    return [record for record in handler.records if "unreadable message" in record.getMessage()]


async def test_garbage_on_a_subscribed_channel_is_logged_and_later_messages_arrive(subscribed, chat_log):
    import redis.asyncio

    a, hub_a, b, hub_b = subscribed
    client = redis.asyncio.Redis.from_url(REDIS_URL)
    key = b._group_key("room")
    payloads = [
        b"",  # shorter than the tag
        NO_TAG + b"\xc1 not msgpack",
        NO_TAG + b._serializer.serialize({"type": "hub.room"}),  # one message, not a list
        NO_TAG + b._serializer.serialize([{"type": "hub.room"}, "not a message"]),
        NO_TAG + b._serializer.serialize([{"type": "hub.room"}]) + b"trailing bytes",
    ]
    try:
        for payload in payloads:
            await client.publish(key, payload)
    finally:
        await client.aclose()
    await a.group_send("room", {"type": "after", "origin": hub_a})
    assert (await asyncio.wait_for(b.receive(hub_b), 5))["type"] == "after"
    assert drained(b, hub_b) == []
    dropped = unreadable(chat_log)
    assert len(dropped) == len(payloads) and all(record.levelname == "ERROR" for record in dropped)


async def test_messages_of_channels_redis_own_pubsub_layer_are_logged_and_dropped(subscribed, chat_log):
    """An older version of the service (channels_redis's layer, one message per
    PUBLISH, on the same channel names) shares the Redis and the prefix."""
    from channels_redis.pubsub import RedisPubSubChannelLayer

    a, hub_a, b, hub_b = subscribed
    older = RedisPubSubChannelLayer(hosts=[REDIS_URL], prefix=b.prefix)
    try:
        await older.group_send("room", {"type": "hub.room", "room": "r", "text": "old", "origin": "elsewhere"})
    finally:
        await older.flush()
    await a.group_send("room", {"type": "after", "origin": hub_a})
    assert (await asyncio.wait_for(b.receive(hub_b), 5))["type"] == "after"
    assert drained(b, hub_b) == []
    assert unreadable(chat_log)


class FakeRedis:
    """A Redis server that answers the handshake, PUBLISH and SUBSCRIBE; when a
    connection subscribes to `key`, it sends that connection the next of
    `scripts` (bytes, and whether to hang up after them)."""

    def __init__(self, key, scripts):
        self.key = key
        self.scripts = list(scripts)
        self.connections = 0
        self.server = None

    async def start(self):
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return f"redis://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/0"

    async def _serve(self, reader, writer):
        import hiredis

        self.connections += 1
        parser = hiredis.Reader()
        try:
            while True:
                chunk = await reader.read(65536)
                if not chunk:
                    return
                parser.feed(chunk)
                command = parser.gets()
                while command is not False:
                    if command[0].upper() == b"SUBSCRIBE":
                        for n, key in enumerate(command[1:], 1):
                            writer.write(b"*3\r\n$9\r\nsubscribe\r\n$%d\r\n%s\r\n:%d\r\n" % (len(key), key, n))
                        if self.key in command[1:] and self.scripts:
                            data, close = self.scripts.pop(0)
                            writer.write(data)
                            if close:
                                await writer.drain()
                                writer.close()
                                return
                    elif command[0].upper() == b"PUBLISH":  # refused for channels ending in "refused"
                        writer.write(b"-ERR refused\r\n" if command[1].endswith(b"refused") else b":0\r\n")
                    else:
                        writer.write(b"+OK\r\n")
                    command = parser.gets()
                await writer.drain()
        except ConnectionError:
            pass  # the layer hung up (its flush)
        finally:
            writer.close()

    async def stop(self):
        self.server.close()
        await self.server.wait_closed()


def message_reply(key, payload):
    return b"*3\r\n$7\r\nmessage\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(key), key, len(payload), payload)


async def test_a_connection_lost_in_the_middle_of_a_reply_loses_nothing_after_it():
    layer = RedisPubSubLayer(hosts=["redis://127.0.0.1:1/0"], prefix="test")
    key = layer._group_key("room")
    first = message_reply(key, NO_TAG + layer._serializer.serialize([{"type": "before"}]))
    cut = message_reply(key, NO_TAG + layer._serializer.serialize([{"type": "cut"}]))
    after = message_reply(key, NO_TAG + layer._serializer.serialize([{"type": "after"}]))
    fake = FakeRedis(key, [(first + cut[: len(cut) // 2], True), (after, False)])
    layer._host = {"address": await fake.start(), "protocol": 2}
    try:
        channel = await layer.new_channel("hub.")
        await layer.group_add("room", channel)
        assert (await asyncio.wait_for(layer.receive(channel), 5))["type"] == "before"
        assert (await asyncio.wait_for(layer.receive(channel), 5))["type"] == "after"
        assert fake.connections == 2 and not layer._reader.done()
    finally:
        await layer.flush()
        await fake.stop()


async def test_bytes_that_are_not_redis_replies_reconnect_the_subscriber():
    layer = RedisPubSubLayer(hosts=["redis://127.0.0.1:1/0"], prefix="test")
    key = layer._group_key("room")
    after = message_reply(key, NO_TAG + layer._serializer.serialize([{"type": "after"}]))
    fake = FakeRedis(key, [(b"?not RESP\r\n", False), (after, False)])
    layer._host = {"address": await fake.start(), "protocol": 2}
    try:
        channel = await layer.new_channel("hub.")
        await layer.group_add("room", channel)
        assert (await asyncio.wait_for(layer.receive(channel), 5))["type"] == "after"
        assert fake.connections == 2
    finally:
        await layer.flush()
        await fake.stop()


def test_a_publish_is_packed_as_any_redis_command():
    assert pack_publish(b"chat__group__g", b"\x00payload\r\n") == pack_command("PUBLISH", b"chat__group__g", b"\x00payload\r\n")


async def test_a_cancelled_sender_leaves_the_others_of_its_batch_alone(subscribed):
    a, hub_a, b, hub_b = subscribed
    senders = [asyncio.ensure_future(a.group_send("room", {"type": "hub.room", "k": k, "origin": hub_a})) for k in range(3)]
    await asyncio.sleep(0)  # each has queued its message and waits for the batch
    senders[1].cancel()
    results = await asyncio.gather(*senders, return_exceptions=True)
    assert results[0] is None and results[2] is None and isinstance(results[1], asyncio.CancelledError)
    # The cancelled sender's message had been queued: it goes out with the others.
    assert [(await asyncio.wait_for(b.receive(hub_b), 5))["k"] for _ in range(3)] == [0, 1, 2]


async def test_a_refused_publish_is_an_error_for_its_batch_and_the_next_batch_goes_through():
    from redis.exceptions import ResponseError

    layer = RedisPubSubLayer(hosts=["redis://127.0.0.1:1/0"], prefix="test")
    fake = FakeRedis(b"-", [])
    layer._host = {"address": await fake.start(), "protocol": 2}
    try:
        results = await asyncio.gather(
            layer.group_send("ok", {"type": "x"}), layer.group_send("refused", {"type": "x"}), layer.group_send("ok", {"type": "y"}), return_exceptions=True
        )
        assert all(isinstance(result, ResponseError) for result in results), results
        await layer.group_send("ok", {"type": "z"})  # the replies of the refused batch were all read
        assert fake.connections == 1
    finally:
        await layer.flush()
        await fake.stop()
