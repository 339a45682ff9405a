"""Start-up, periodic work and shutdown of a service instance (docs/hooks-and-python-api.md,
Lifecycle), and what it does when the others declared it dead (docs/protocol.md, Limits)."""
import asyncio
import logging
import secrets

from chatproject.common.clock import now_ms
from chatproject.common.errors import ChatServiceError

logger = logging.getLogger("chat")


def new_instance_uid():
    """Hex, so that an id never starts with "-": operators pass it on command
    lines (`manage.py chat_recover --instance ID`), where argparse would read
    such an id as an option."""
    return secrets.token_hex(16)


class Lifecycle:
    """Starting, serving and closing one instance. A part of `ChatService`."""

    async def start(self):
        async with self._start_lock:
            if self._state != "new":
                return
            self._state = "starting"
            self.instance_uid = new_instance_uid()
            try:
                await self.hub.start(self.instance_uid)
                on_start = self.hooks.get("on_start")
                if on_start:
                    await on_start(self)
                await self.presence.write_heartbeat(self.instance_uid, now_ms())
            except Exception as exc:
                logger.exception("chat service failed to start")
                self._state = "closed"
                await self._release_resources(keep_records=False)
                self.emit("closed", exc)
                raise
            self.liveness.start()
            self.checkpointer.start()
            self._maintenance_task = asyncio.ensure_future(self._maintenance_loop())
            self._state = "running"
        self.emit("ready")

    async def ensure_started(self):
        # A connection arriving while start() runs (daphne's start-up task) waits
        # for it, behind the start lock, instead of being refused (docs/hooks-and-python-api.md, Lifecycle).
        if self._state in ("new", "starting"):
            try:
                await self.start()
            except Exception:
                return False
        return self._state == "running"

    async def _maintenance_loop(self):
        """At the heartbeat's rate: probe the channel layer, clean up this
        instance's ghost sockets, recover dead instances. (The heartbeat itself
        is written by `liveness`, off the event loop.)"""
        rate = self.options.heartbeat_rate / 1000
        while True:
            await asyncio.sleep(rate)
            await self.hub.probe()  # notices an unreachable channel layer (docs/hooks-and-python-api.md, Consistency events)
            try:
                await self._clean_up_ghosts()
            except Exception:
                logger.exception("ghost socket clean-up failed")
            if self.options.auto_recovery and (self._recovery is None or self._recovery.done()):
                # In a task of its own: a recovery that outlasts heartbeatTimeout
                # must not stall this loop.
                self._recovery = self.spawn(self._recover_dead_instances())

    async def _clean_up_ghosts(self):
        """Socket records of this instance without a connection here (a consumer
        that ended without its clean-up) get the disconnect procedure."""
        for socket_id, user_name in (await self.presence.instance_sockets(self.instance_uid)).items():
            if not self.transport.knows(socket_id):
                logger.warning("cleaning up ghost socket %s of %r", socket_id, user_name)
                await self.disconnect_socket(socket_id, user_name)

    def declared_dead(self):
        """Other instances declared this one dead (its heartbeat stopped for too
        long) and may be deleting its records: close every connection with 4001
        at once (clients reconnect and catch up through history; nothing queued
        on them runs) and register again under a new id."""
        if self._state != "running" or not self.liveness.running:
            return
        if self._reregistering is not None and not self._reregistering.done():
            return
        old_uid, new_uid = self.instance_uid, new_instance_uid()
        logger.warning(
            "instance %s was declared dead by the others; closing its connections and registering again as %s",
            old_uid, new_uid,
        )
        self.instance_uid = new_uid
        for socket in list(self.transport.sockets.values()):
            socket.close_now(4001)
        self._reregistering = self.spawn(self._register_again(new_uid))

    async def _register_again(self, new_uid):
        try:
            await self.presence.write_heartbeat(new_uid, now_ms())
            self.liveness.renewed()
            await self.hub.move_instance(new_uid)
        except Exception:
            logger.exception("registering again as %s failed", new_uid)

    def stop_heartbeat(self):
        """Stop the heartbeat and the periodic work, as a dead instance would."""
        self.liveness.stop()
        if self._maintenance_task is not None:
            self._maintenance_task.cancel()
            self._maintenance_task = None

    async def close(self):
        if self._state != "running":
            return
        self._state = "closing"
        self.stop_heartbeat()
        error = None
        timed_out = False
        try:
            await asyncio.wait_for(self._close_connections(), self.options.close_timeout / 1000)
        except asyncio.TimeoutError:
            error, timed_out = ChatServiceError("timeout"), True
        except Exception as exc:
            error = exc
        on_close = self.hooks.get("on_close")
        result = error
        if on_close:
            try:
                await on_close(self, error)
                result = None
            except Exception as exc:
                result = exc
        self._state = "closed"
        await self._release_resources(keep_records=timed_out)
        self.emit("closed", result)
        if result is not None:
            raise result

    async def _close_connections(self):
        """Let running commands reply, then close every socket with 4001."""
        if self._running_commands:
            self._commands_done.clear()
            await self._commands_done.wait()
        sockets = list(self.transport.sockets.values())
        await asyncio.gather(*(socket.close(4001) for socket in sockets))
        await asyncio.gather(*(socket.disconnected() for socket in sockets))
        while self._tasks:  # disconnect clean-ups of sockets that closed earlier
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def _release_resources(self, keep_records):
        self.stop_heartbeat()
        self.checkpointer.stop()
        if self.instance_uid is not None and not keep_records:
            try:
                await self.presence.delete_instance(self.instance_uid)
            except Exception:
                logger.exception("could not delete the instance record")
        if self._hub is not None:
            await self.hub.stop()
