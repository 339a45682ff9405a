"""Recovery (docs/hooks-and-python-api.md, Recovery operations): cleaning up after
instances that died without closing, and resynchronising rooms and users."""
import logging

from chatproject import metrics
from chatproject.common.clock import now_ms

logger = logging.getLogger("chat")


class Recovery:
    """Recovery of dead instances and of inconsistent presence. A part of `ChatService`."""

    async def _recover_dead_instances(self):
        try:
            deadline = now_ms() - self.options.heartbeat_timeout
            for uid in await self.presence.claim_dead_instances(self.instance_uid, deadline):
                logger.warning("instance %s declared dead (no heartbeat for %d ms); recovering it", uid, self.options.heartbeat_timeout)
                await self.instance_recovery(uid)
                await self.presence.delete_instance(uid)
                metrics.instance_recovered()
                logger.warning("recovery of instance %s done", uid)
        except Exception:
            logger.exception("automatic recovery failed")

    async def get_instance_heartbeat(self, instance_id=None):
        return await self.presence.get_heartbeat(instance_id or self.instance_uid)

    async def forget_dead_instance(self, instance_id):
        """With its sockets recovered, a dead instance's heartbeat record is all
        that is left; drop it too, as automatic recovery does, so that
        GET /api/instances/ stops listing it. A live instance's record stays.
        For `manage.py chat_recover --instance`."""
        heartbeat = await self.presence.get_heartbeat(instance_id)
        if heartbeat is not None and heartbeat < now_ms() - self.options.heartbeat_timeout:
            await self.presence.delete_instance(instance_id)

    async def get_instance_sockets(self, instance_id=None):
        return await self.presence.instance_sockets(instance_id or self.instance_uid)

    async def instance_recovery(self, instance_id):
        for socket_id, user_name in (await self.presence.instance_sockets(instance_id)).items():
            try:
                await self.disconnect_socket(socket_id, user_name, run_hook=False)
            except Exception:
                logger.exception("recovery of socket %s failed", socket_id)

    async def room_state_sync(self, room_name):
        room = await self.rooms.get_room(room_name)
        for user_name in await self.presence.userlist(room.id):
            try:
                if await self.presence.joined_count(room.id, user_name) == 0 or not await self.rooms.check_access(
                    room.id, user_name
                ):
                    await self.remove_user_from_room(room, user_name)
            except Exception:
                logger.exception("room_state_sync of %r for %r failed", room_name, user_name)

    async def user_state_sync(self, user_name):
        await self.messaging.get_user(user_name)
        if self.instance_uid is not None:
            for socket_id, instance_uid in await self.presence.user_socket_rows(user_name):
                if instance_uid == self.instance_uid and not self.hub.is_local(socket_id):
                    await self.presence.remove_socket_records(socket_id)
        for room_id, room_name in await self.presence.rooms_of_user_sockets(user_name):
            try:
                if not await self.presence.in_userlist(room_id, user_name):
                    room = await self.rooms.get_room_by_id(room_id)
                    if room is not None:
                        await self.remove_user_from_room(room, user_name)
            except Exception:
                logger.exception("user_state_sync of %r in %r failed", user_name, room_name)
