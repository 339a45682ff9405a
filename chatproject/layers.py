"""The channel layers of the hub: `ProcessChannelLayer` for a single process
(no REDIS_URL), `RedisPubSubLayer` for several (below).

The single-process layer is Channels' in-memory layer, made cheap enough for
the hub's traffic.

Channels' `InMemoryChannelLayer.group_send` scans every channel and group
for expired entries, starts a task per member and deep-copies the message
for each, on every call; with a hundred sockets that was a tenth of the
server's CPU per delivered message (bench/). Here the scan runs at most
once a second, members are sent to in place, and each gets a shallow copy
(the hub only reads messages). A full channel is an error the sender sees,
never a silent drop. A message stamped with the channel of the hub that
sent it (`origin`) is not sent back to that channel: the hub has already
handed it to its own sockets and would only drop the copy (with one process,
every room message took that useless trip).
"""
import asyncio
import logging
import os
import time
import uuid

import hiredis
from channels_redis.serializers import registry
from channels_redis.utils import create_pool, decode_hosts
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError as RedisResponseError

from channels.exceptions import ChannelFull
from channels.layers import InMemoryChannelLayer

CLEAN_INTERVAL = 1.0  # seconds between scans for expired messages and groups
NO_TAG = bytes(16)  # heads messages to specific channels, which every subscriber takes
READ_SIZE = 65536  # bytes read from a Redis connection at a time

logger = logging.getLogger("chat")


class ProcessChannelLayer(InMemoryChannelLayer):
    _cleaned_at = 0.0

    def _clean_expired(self):
        now = time.monotonic()
        if now - self._cleaned_at >= CLEAN_INTERVAL:
            self._cleaned_at = now
            super()._clean_expired()

    async def send(self, channel, message):
        assert isinstance(message, dict), "message is not a dict"
        self.require_valid_channel_name(channel)
        queue = self.channels.setdefault(channel, asyncio.Queue(maxsize=self.get_capacity(channel)))
        try:
            queue.put_nowait((time.time() + self.expiry, dict(message)))
        except asyncio.QueueFull:
            raise ChannelFull(channel) from None

    async def group_send(self, group, message):
        assert isinstance(message, dict), "Message is not a dict"
        self.require_valid_group_name(group)
        self._clean_expired()
        origin = message.get("origin")
        for channel in list(self.groups.get(group, ())):
            if channel != origin:
                await self.send(channel, message)


def pack_command(*parts):
    """One Redis command in RESP (its parts bytes or ASCII text)."""
    packed = [b"*%d\r\n" % len(parts)]
    for part in parts:
        if isinstance(part, str):
            part = part.encode()
        packed.append(b"$%d\r\n%s\r\n" % (len(part), part))
    return b"".join(packed)


def pack_publish(key, payload):
    """A PUBLISH in RESP: `pack_command`'s result, a few times faster, for the
    command sent once per message."""
    return b"*3\r\n$7\r\nPUBLISH\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(key), key, len(payload), payload)


class RedisStream:
    """A Redis connection written and read directly: redis-py opens it (address,
    authentication, database, TLS, as channels_redis configures it) and hiredis
    parses whatever one read from the socket brought. redis-py's
    `read_response` costs a few coroutines, a timeout and an error text per
    reply, and a burst of pub/sub messages is hundreds of replies."""

    def __init__(self, connection):
        self.connection = connection
        self._parser = hiredis.Reader()  # one per connection: a lost one's partial reply dies with it

    @classmethod
    async def open(cls, host):
        connection = create_pool(host).make_connection()
        await connection.connect()
        return cls(connection)

    @property
    def is_connected(self):
        return self.connection.is_connected

    @property
    def timeout(self):
        return self.connection.socket_timeout

    async def write(self, data):
        if not self.connection.is_connected:
            raise RedisConnectionError("the Redis connection was lost")
        writer = self.connection._writer
        writer.write(data)
        await writer.drain()

    async def replies(self):
        """The replies that the next read from the socket completes (at least one);
        a closed connection or bytes that are not RESP are a `ConnectionError`."""
        while True:
            chunk = await self.connection._reader.read(READ_SIZE)
            if not chunk:
                raise RedisConnectionError("Redis closed the connection")
            self._parser.feed(chunk)
            replies = []
            try:
                reply = self._parser.gets()
                while reply is not False:
                    replies.append(reply)
                    reply = self._parser.gets()
            except hiredis.ProtocolError as exc:
                raise RedisConnectionError(f"Redis sent what is not RESP: {exc}") from None
            if replies:
                return replies

    async def disconnect(self):
        await self.connection.disconnect()


class RedisPubSubLayer:
    """The channel layer of several processes (REDIS_URL): Redis pub/sub, with
    only what the hub uses (specific channels, groups, `send`, `group_send`).

    channels_redis's pub/sub layer awaited one PUBLISH round trip per message
    behind a lock and read each message through redis-py's pub/sub machinery;
    with two processes that was about a fifth of the fan-out's CPU. Here:

    - the messages of one loop turn go out together, pipelined on one
      connection, so a burst costs one round trip and one wake-up; each sender
      still awaits its own PUBLISH (an unreachable Redis is an error it sees),
      and messages keep the order in which they were sent;
    - a message sent to a group reaches this process's own channels in that
      group at once, after Redis took it, and never the channel it is stamped
      with as its `origin` (as in `ProcessChannelLayer`); Redis echoes every
      publish to every subscriber, so the copy coming back is recognised by
      this layer's tag at the head of the payload and dropped before decoding;
    - replies are read straight from the connections (`RedisStream`); after a
      lost connection the reader reconnects and subscribes again to
      everything. What arrives on a subscribed channel that is not a list of
      messages of this layer (another program, another version) is logged and
      dropped; the messages after it still arrive.

    It is configured as channels_redis's layers are (one host; `hosts`,
    `prefix`, `symmetric_encryption_keys`), and its connections and message
    bytes are channels_redis's (`create_pool`, the msgpack serializer): one
    list of messages per PUBLISH.
    """

    extensions = ["groups", "flush"]
    TAG_BYTES = len(NO_TAG)

    def __init__(self, hosts=None, prefix="chat", symmetric_encryption_keys=None):
        # channels_redis's configuration: its forms of `hosts` (URL, (host, port),
        # dict, sentinel dict) and its msgpack serializer, encryption included.
        decoded = decode_hosts(hosts)
        if len(decoded) != 1:
            raise ValueError(f"RedisPubSubLayer takes one Redis host (no sharding), not {hosts!r}")
        self._config = (hosts, prefix, symmetric_encryption_keys)
        # RESP2: pub/sub messages are plain replies (RESP3 routes them to push handlers).
        self._host = dict(decoded[0], protocol=2)
        self._serializer = registry.get_serializer("msgpack", symmetric_encryption_keys=symmetric_encryption_keys)
        self.prefix = prefix
        self._tag = os.urandom(self.TAG_BYTES)  # heads this layer's group messages
        self.channels = {}  # local channel -> asyncio.Queue
        self._targets = {}  # subscribed Redis channel (bytes) -> local channels it feeds
        self._pending = []  # (Redis channel, message, to a group) not yet published
        self._waiters = []  # the future each of `_pending`'s senders awaits
        self._flusher = None
        self._publisher = None
        self._subscriber = None  # connected subscriber connection, or None
        self._connecting = asyncio.Lock()  # held while `_subscriber` is being connected
        self._reader = None
        self._loop = None  # the event loop the connections and tasks belong to

    def _bind_loop(self):
        """Connections and tasks belong to one event loop; start afresh in another
        (a management command's blocking calls each run their own loop)."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            if self._loop is not None:
                self.__init__(*self._config)
            self._loop = loop

    def _group_key(self, group):
        return f"{self.prefix}__group__{group}".encode()

    # Publishing.

    async def send(self, channel, message):
        """To one specific channel, always through Redis (the hub's probe relies on it)."""
        await self._publish(channel.encode(), message, False)

    async def group_send(self, group, message):
        await self._publish(self._group_key(group), message, True)

    async def _publish(self, key, message, to_group):
        assert isinstance(message, dict), "message is not a dict"
        self._bind_loop()
        # A future of its own (a cancelled sender cancels only it; its message still goes).
        sent = self._loop.create_future()
        self._pending.append((key, message, to_group))
        self._waiters.append(sent)
        if self._flusher is None:
            self._flusher = asyncio.ensure_future(self._flush())
        await sent

    async def _flush(self):
        """Publish what the senders queued, one batch per round trip."""
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                waiters, self._waiters = self._waiters, []
                try:
                    await self._publish_batch(batch)
                except asyncio.CancelledError:  # flush(): the senders must not wait forever
                    for sent in waiters + self._waiters:
                        sent.cancel()
                    raise
                except Exception as exc:  # the connection is closed; the next batch reconnects
                    for sent in waiters:
                        if not sent.done():
                            sent.set_exception(exc)
                else:
                    self._deliver_locally(batch)
                    for sent in waiters:
                        if not sent.done():
                            sent.set_result(None)
        finally:
            self._flusher = None

    async def _publish_batch(self, batch):
        commands = []
        for key, message, to_group in batch:
            # Runs of messages to one Redis channel go in one PUBLISH.
            if commands and commands[-1][0] == key:
                commands[-1][1].append(message)
            else:
                # Only group messages are delivered locally, so only their echo is dropped.
                commands.append((key, [message], self._tag if to_group else NO_TAG))
        data = b"".join(pack_publish(key, tag + self._serializer.serialize(messages)) for key, messages, tag in commands)
        if self._publisher is None:
            self._publisher = await RedisStream.open(self._host)
        publisher = self._publisher
        try:
            await publisher.write(data)
            error = None
            unread = len(commands)
            async with asyncio.timeout(publisher.timeout):
                while unread:
                    replies = await publisher.replies()
                    unread -= len(replies)
                    error = next((reply for reply in replies if isinstance(reply, hiredis.ReplyError)), error)
        except BaseException:
            self._publisher = None  # the next batch reconnects
            await publisher.disconnect()
            raise
        if error is not None:  # (an ACL, say) every sender of the batch sees it; nothing is delivered locally
            raise RedisResponseError(str(error))

    def _deliver_locally(self, batch):
        for key, message, to_group in batch:
            if to_group:
                origin = message.get("origin")
                for channel in self._targets.get(key, ()):
                    if channel != origin:
                        self.channels[channel].put_nowait(message)

    # Receiving.

    async def new_channel(self, prefix="specific."):
        self._bind_loop()
        channel = f"{self.prefix}{prefix}{uuid.uuid4().hex}"
        self.channels[channel] = asyncio.Queue()
        try:
            await self._subscribe(channel.encode(), channel)
        except Exception:
            del self.channels[channel]
            raise
        return channel

    async def receive(self, channel):
        queue = self.channels.get(channel)
        if queue is None:
            raise ValueError(f"{channel!r} is not a channel of this layer (new_channel makes them)")
        return await queue.get()

    async def group_add(self, group, channel):
        if channel not in self.channels:
            raise ValueError(f"{channel!r} is not a channel of this layer (new_channel makes them)")
        await self._subscribe(self._group_key(group), channel)

    async def group_discard(self, group, channel):
        key = self._group_key(group)
        channels = self._targets.get(key)
        if channels is None or channel not in channels:
            return
        channels.discard(channel)
        if not channels:
            del self._targets[key]
            if self._subscriber is not None:  # else the reconnection leaves it out
                await (await self._subscriber_connection()).write(pack_command("UNSUBSCRIBE", key))

    async def _subscribe(self, key, channel):
        """Subscribe (or raise if Redis is unreachable); later messages reach `channel`."""
        channels = self._targets.get(key)
        if channels is None:
            connection = await self._subscriber_connection()
            await connection.write(pack_command("SUBSCRIBE", key))
            channels = self._targets.setdefault(key, set())
        channels.add(channel)

    async def _subscriber_connection(self):
        """The reader's connection (connected now if it has none); raises while
        Redis is unreachable, rather than letting redis-py reconnect it silently
        without its subscriptions."""
        if self._reader is None:
            self._reader = asyncio.ensure_future(self._read())
        if self._subscriber is None:
            await self._connect_subscriber()
        connection = self._subscriber
        if not connection.is_connected:
            raise RedisConnectionError("the Redis subscriber connection was lost")
        return connection

    async def _connect_subscriber(self):
        """Connect the reader's connection, subscribed to every channel this layer
        feeds: once, whoever else waits for it (the reader, the subscribers)."""
        async with self._connecting:
            if self._subscriber is None:
                connection = await RedisStream.open(self._host)
                try:
                    if self._targets:
                        await connection.write(pack_command("SUBSCRIBE", *self._targets))
                except BaseException:
                    await connection.disconnect()
                    raise
                self._subscriber = connection

    async def _read(self):
        delay = 0.1
        while True:
            connection = self._subscriber
            try:
                if connection is None:
                    await self._connect_subscriber()
                    continue
                replies = await connection.replies()
                delay = 0.1
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.debug("redis subscriber connection lost: %s", exc)
                if connection is not None and self._subscriber is connection:
                    self._subscriber = None
                    await connection.disconnect()
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2)
                continue
            for reply in replies:
                # (p)subscribe confirmations and anything else are not messages
                if type(reply) is list and len(reply) == 3 and reply[0] == b"message":
                    self._received(reply[1], reply[2])

    def _received(self, key, data):
        if data[: self.TAG_BYTES] == self._tag:
            return  # our own group message: delivered locally when sent
        channels = self._targets.get(key)
        if not channels:
            return
        try:
            messages = self._serializer.deserialize(data[self.TAG_BYTES :])
            if type(messages) is not list or not all(type(message) is dict for message in messages):
                raise ValueError("not a list of messages")
        except Exception as exc:  # another program or version on our channels: later messages still count
            logger.error("dropped an unreadable message from Redis channel %r: %r", key, exc)
            return
        for message in messages:
            origin = message.get("origin")
            for channel in channels:
                if channel != origin:
                    self.channels[channel].put_nowait(message)

    async def flush(self):
        """Forget every channel and close the connections (the tests' clean-up)."""
        self._bind_loop()
        for task in (self._reader, self._flusher):
            if task is not None:
                task.cancel()
                try:
                    await task
                except BaseException:
                    pass
        for connection in (self._subscriber, self._publisher):
            if connection is not None:
                await connection.disconnect()
        self.__init__(*self._config)
