"""The channel layer of a single process (no REDIS_URL): Channels'
in-memory layer, made cheap enough for the hub's traffic.

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
import time

from channels.exceptions import ChannelFull
from channels.layers import InMemoryChannelLayer

CLEAN_INTERVAL = 1.0  # seconds between scans for expired messages and groups


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
