"""Read-only views of the state for the admin API and the Django admin
(docs/rest-api.md, Shapes): rooms and users as the REST API shows them,
instances with their liveness. Reads go through the stores like everything
else, so the transports never reach into the models."""
from chatproject.common.clock import now_ms
from rooms.models import ACCESS_LISTS


def room_item(room, user_count, history_size):
    return {
        "name": room.name,
        "owner": room.owner,
        "whitelistOnly": room.whitelist_only,
        "historyMaxSize": room.history_max_size,
        "historySize": history_size,
        "lastMessageId": room.last_message_id,
        "enableAccessListsUpdates": room.enable_access_lists_updates,
        "enableUserlistUpdates": room.enable_userlist_updates,
        "userCount": user_count,
    }


class Queries:
    """Reads for the operators' tools. A part of `ChatService`."""

    async def count_rooms(self):
        return await self.rooms.count_rooms()

    async def room_items(self, offset, limit):
        """A page of rooms by name, as REST room items."""
        rooms = await self.rooms.rooms_by_name(offset, limit)
        ids = [room.id for room in rooms]
        users = await self.presence.userlist_sizes(ids)
        history = await self.messaging.history_sizes(ids)
        return [room_item(room, users.get(room.id, 0), history.get(room.id, 0)) for room in rooms]

    async def room_detail(self, room_name):
        room = await self.rooms.get_room(room_name)
        userlist = await self.presence.userlist(room.id)
        detail = room_item(room, len(userlist), (await self.messaging.history_info(room))["historySize"])
        for list_name in ACCESS_LISTS:
            detail[list_name] = await self.rooms.get_list(room, list_name)
        detail["userlist"] = userlist
        return detail

    async def recent_history(self, room_name, limit):
        """The newest `limit` stored messages, newest first, bypassing permissions."""
        room = await self.rooms.get_room(room_name)
        return await self.messaging.recent_history(room, limit)

    async def count_users(self):
        return await self.messaging.count_users()

    async def user_items(self, offset, limit):
        """A page of users by name, as REST user items."""
        users = await self.messaging.users_by_name(offset, limit)
        online = await self.presence.online_among([user.name for user in users])
        return [{"name": user.name, "whitelistOnly": user.whitelist_only, "online": user.name in online} for user in users]

    async def user_detail(self, user_name):
        user = await self.messaging.get_user(user_name)
        sockets = await self.presence.user_sockets(user_name)
        return {
            "name": user.name,
            "whitelistOnly": user.whitelist_only,
            "online": bool(sockets),
            "whitelist": await self.messaging.direct_get(user_name, "whitelist"),
            "blacklist": await self.messaging.direct_get(user_name, "blacklist"),
            "sockets": sockets,
        }

    async def instances(self):
        """Every instance: id, heartbeat, alive (heartbeat younger than
        heartbeatTimeout) and its socket count."""
        deadline = now_ms() - self.options.heartbeat_timeout
        answer = []
        for uid, heartbeat in await self.presence.list_instances():
            sockets = await self.presence.instance_sockets(uid)
            answer.append({"id": uid, "heartbeat": heartbeat, "alive": heartbeat > deadline, "sockets": len(sockets)})
        return answer
