"""The server-side API (docs/hooks-and-python-api.md, Server-side API): the
operations a project calls on `api` besides `exec_user_command`."""
from chatproject.common.errors import ChatServiceError
from chatproject.common.names import check_name
from messaging.models import DIRECT_LISTS
from rooms.models import ACCESS_LISTS, ROOM_LISTS
from rooms.permissions import has_room_access

ROOM_CHANGES = {
    "enableAccessListsUpdates", "enableUserlistUpdates", "historyMaxSize", "owner", "whitelistOnly",
    "addToLists", "removeFromLists",
}


class RoomChangeError(ChatServiceError):
    """A step of `change_room` failed with `error` (whose code and args it
    carries): `step` says which, `applied` lists the steps before it, which
    stay applied."""

    def __init__(self, error, step, applied):
        super().__init__(error.code, *error.args)
        self.step = step
        self.applied = applied


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

    async def change_room(self, room_name, changes):
        """Several changes to one room, applied in the one order the REST API
        and the Django admin share (docs/hooks-and-python-api.md, Changing a
        room). `changes` holds any of `enableAccessListsUpdates`,
        `enableUserlistUpdates`, `historyMaxSize`, `owner`, `whitelistOnly`,
        and `addToLists` / `removeFromLists` ({list name: [user names]}).

        Refuses malformed changes and a missing room before anything is
        applied; stops at the first failing step and raises `RoomChangeError`."""
        steps = self._room_change_steps(room_name, changes)
        await self.rooms.get_room(room_name)
        applied = []
        for step, run in steps:
            try:
                await run()
            except ChatServiceError as error:
                raise RoomChangeError(error, step, applied) from error
            applied.append(step)

    def _room_change_steps(self, room_name, changes):
        """(description, coroutine function) of each change, in order: the
        notification flags first (they gate this change's own
        notifications), the history size, the owner, then every list or
        mode change that grants access, then those that revoke it. The last
        step naming a user thus re-checks them against the final state, and
        nobody who keeps access in the final state is removed on the way."""
        unknown = set(changes) - ROOM_CHANGES
        if unknown:
            key = sorted(unknown)[0]
            raise ChatServiceError("badArgument", key, changes[key])
        lists = {}
        for key in ("addToLists", "removeFromLists"):
            given = changes.get(key, {})
            if not isinstance(given, dict):
                raise ChatServiceError("badArgument", key, given)
            for list_name, names in given.items():
                if list_name not in ACCESS_LISTS:
                    raise ChatServiceError("noList", list_name)
                if not isinstance(names, (list, tuple)):
                    raise ChatServiceError("badArgument", list_name, names)
            lists[key] = {name: list(given.get(name, ())) for name in ACCESS_LISTS}
        added, removed = lists["addToLists"], lists["removeFromLists"]
        steps = []

        def step(description, function, *args):
            steps.append((description, lambda: function(*args)))

        def list_step(command, list_name, names):
            if names:
                verb = "adding to" if command == "roomAddToList" else "removing from"
                step(f"{verb} the {list_name} {names!r}", self.exec_user_command, True, command, room_name, list_name, names)

        def mode_step(mode):
            step(f"whitelist-only mode {'on' if mode is True else 'off'}", self.exec_user_command, True, "roomSetWhitelistMode", room_name, mode)

        if "enableAccessListsUpdates" in changes:
            mode = changes["enableAccessListsUpdates"]
            step(f"access list updates {'on' if mode else 'off'}", self.change_access_lists_updates, room_name, mode)
        if "enableUserlistUpdates" in changes:
            mode = changes["enableUserlistUpdates"]
            step(f"userlist updates {'on' if mode else 'off'}", self.change_userlist_updates, room_name, mode)
        if "historyMaxSize" in changes:
            size = changes["historyMaxSize"]
            step(f"history size {size}", self.change_room_history_max_size, room_name, size)
        if "owner" in changes:
            step(f"owner {changes['owner']!r}", self.change_room_owner, room_name, changes["owner"])
        # A mode that is not True is a change that grants (the command
        # refuses a non-boolean with badArgument).
        mode = changes.get("whitelistOnly")
        list_step("roomAddToList", "adminlist", added["adminlist"])
        list_step("roomRemoveFromList", "blacklist", removed["blacklist"])
        if "whitelistOnly" in changes and mode is not True:
            mode_step(mode)
        # Removals first within the list, so a swap at the size limit fits.
        list_step("roomRemoveFromList", "whitelist", removed["whitelist"])
        list_step("roomAddToList", "whitelist", added["whitelist"])
        if mode is True:
            mode_step(True)
        list_step("roomAddToList", "blacklist", added["blacklist"])
        list_step("roomRemoveFromList", "adminlist", removed["adminlist"])
        return steps

    async def rooms_open_to(self, user_name):
        """The rooms `user_name` may join (the chat page's list): name, owner, mode."""
        return await self.rooms.rooms_open_to(user_name)
