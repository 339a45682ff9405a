"""The server-side API (docs/hooks-and-python-api.md, Server-side API): the
operations a project calls on `api` besides `exec_user_command`."""
from chatproject.common.errors import ChatServiceError
from chatproject.common.names import check_name
from messaging.models import DIRECT_LISTS
from rooms.models import ROOM_LISTS
from rooms.permissions import has_room_access


class ServerAPI:
    """Users and rooms managed from the server side. A part of `ChatService`."""

    async def add_user(self, user_name, state=None):
        check_name(user_name)
        state = state or {}
        await self.messaging.add_user(
            user_name,
            whitelist=state.get("whitelist") or (),
            blacklist=state.get("blacklist") or (),
            whitelist_only=state.get("whitelistOnly") is True,
        )

    async def delete_user(self, user_name):
        await self.messaging.delete_user(user_name)

    async def has_user(self, user_name):
        return await self.messaging.has_user(user_name)

    async def user_has_in_list(self, user_name, list_name, item):
        await self.messaging.get_user(user_name)
        if list_name not in DIRECT_LISTS:
            raise ChatServiceError("noList", list_name)
        return item in await self.messaging.direct_get(user_name, list_name)

    async def has_direct_access(self, recipient, sender):
        return await self.messaging.has_direct_access(recipient, sender)

    async def disconnect_user_sockets(self, user_name):
        await self.hub.close_user(user_name, 1000)

    async def add_room(self, room_name, state=None):
        check_name(room_name)
        await self.create_room(room_name, state)

    async def delete_room(self, room_name):
        await self.exec_user_command(True, "roomDelete", room_name)

    async def has_room(self, room_name):
        return await self.rooms.room_exists(room_name)

    async def room_has_in_list(self, room_name, list_name, item):
        room = await self.rooms.get_room(room_name)
        if list_name not in ROOM_LISTS:
            raise ChatServiceError("noList", list_name)
        if list_name == "userlist":
            return await self.presence.in_userlist(room.id, item)
        return await self.rooms.has_in_list(room, list_name, item)

    async def has_room_access(self, room_name, user_name):
        try:
            room = await self.rooms.get_room(room_name)
        except ChatServiceError:
            return False
        return has_room_access(room, user_name, await self.rooms.lists_of(room.id, user_name))

    async def change_room_owner(self, room_name, owner):
        room = await self.rooms.get_room(room_name)
        await self.rooms.update_room(room.id, owner=owner)

    async def change_room_history_max_size(self, room_name, size):
        room = await self.rooms.get_room(room_name)
        size = self.history_size_or_default(size)
        await self.messaging.set_history_max_size(room.id, size)

    async def change_access_lists_updates(self, room_name, mode):
        room = await self.rooms.get_room(room_name)
        await self.rooms.update_room(room.id, enable_access_lists_updates=bool(mode))

    async def change_userlist_updates(self, room_name, mode):
        room = await self.rooms.get_room(room_name)
        await self.rooms.update_room(room.id, enable_userlist_updates=bool(mode))

    async def rooms_open_to(self, user_name):
        """The rooms `user_name` may join (the chat page's list): name, owner, mode."""
        return await self.rooms.rooms_open_to(user_name)
