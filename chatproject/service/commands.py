"""The 24 client commands (docs/protocol.md, Commands).

Each handler receives the service and the command's `ExecInfo` and returns
the command's result. Validation and hooks happen before, in the dispatcher
(`ChatService.run_command`); presence procedures shared with the server-side
API (join, leave, removal) live on the service.
"""
from dataclasses import dataclass
from functools import cached_property

from chatproject.common.clock import now_ms
from chatproject.common.errors import ChatServiceError
from chatproject.common.names import check_name, snake_case
from messaging.messages import process_message
from messaging.models import DIRECT_LISTS
from rooms.models import ACCESS_LISTS, ROOM_LISTS
from rooms.permissions import check_list_change, is_admin, is_reader


@dataclass(frozen=True)
class Command:
    name: str
    kinds: tuple  # argument kinds of validation.ARG_CHECKS, or "message"
    handler: object
    needs_user: bool = False
    needs_socket: bool = False
    checker: str = None  # the message checker hook that relaxes the "message" argument

    @cached_property
    def hook_prefix(self):
        return snake_case(self.name)


async def require_reader(svc, room, info):
    """The read rule (`rooms.permissions.is_reader`) unless bypassed; else notJoined."""
    if info.bypass_permissions:
        return
    user = info.user_name
    lists, present = set(), False
    if user is not None:
        lists = await svc.rooms.lists_of(room.id, user)
        present = await svc.presence.in_userlist(room.id, user)
    if not is_reader(room, user, lists, present):
        raise ChatServiceError("notJoined", room.name)


def check_direct_list(list_name):
    if list_name not in DIRECT_LISTS:
        raise ChatServiceError("noList", list_name)


# Direct messaging.


async def direct_add_to_list(svc, info, list_name, user_names):
    check_direct_list(list_name)
    if info.user_name in user_names:
        raise ChatServiceError("notAllowed")
    await svc.messaging.direct_add(info.user_name, list_name, user_names, svc.options.direct_list_size_limit)


async def direct_get_access_list(svc, info, list_name):
    check_direct_list(list_name)
    return await svc.messaging.direct_get(info.user_name, list_name)


async def direct_get_whitelist_mode(svc, info):
    return await svc.messaging.get_direct_mode(info.user_name)


async def direct_message(svc, info, to_user, message):
    if not svc.options.enable_direct_messages:
        raise ChatServiceError("notAllowed")
    processed = process_message(message, info.user_name)
    processed["timestamp"] = now_ms()
    if not await svc.messaging.has_user(to_user):
        raise ChatServiceError("noUser", to_user)
    if to_user == info.user_name:
        raise ChatServiceError("notAllowed")
    if not info.bypass_permissions and not await svc.messaging.has_direct_access(to_user, info.user_name):
        raise ChatServiceError("notAllowed")
    if not await svc.presence.is_online(to_user):
        raise ChatServiceError("noUserOnline", to_user)
    await svc.notify_user(to_user, "directMessage", [processed])
    if info.user_name is not None:
        await svc.notify_user(info.user_name, "directMessageEcho", [to_user, processed], exclude=info.id)
    info.args[1] = processed  # the after hook sees the processed message (docs/hooks-and-python-api.md)
    return processed


async def direct_remove_from_list(svc, info, list_name, user_names):
    check_direct_list(list_name)
    if info.user_name in user_names:
        raise ChatServiceError("notAllowed")
    await svc.messaging.direct_remove(info.user_name, list_name, user_names)


async def direct_set_whitelist_mode(svc, info, mode):
    await svc.messaging.set_direct_mode(info.user_name, mode)


async def list_own_sockets(svc, info):
    return await svc.presence.user_sockets(info.user_name)


async def system_message(svc, info, data):
    await svc.notify_user(info.user_name, "systemMessage", [data], exclude=info.id)


# Room management.


async def room_create(svc, info, room_name, whitelist_only):
    if not svc.options.enable_rooms_management and not info.bypass_permissions:
        raise ChatServiceError("notAllowed")
    check_name(room_name)
    await svc.create_room(room_name, {"owner": info.user_name, "whitelistOnly": whitelist_only})


async def room_delete(svc, info, room_name):
    if not svc.options.enable_rooms_management and not info.bypass_permissions:
        raise ChatServiceError("notAllowed")
    room = await svc.rooms.get_room(room_name)
    if not info.bypass_permissions and (info.user_name is None or info.user_name != room.owner):
        raise ChatServiceError("notAllowed")
    await svc.remove_room(room_name)


# Access lists and modes.


async def _check_list_change(svc, info, room, list_name, user_names):
    if list_name == "userlist":
        raise ChatServiceError("notAllowed")
    if info.bypass_permissions:
        if list_name not in ACCESS_LISTS:
            raise ChatServiceError("noList", list_name)
    else:
        caller_lists = await svc.rooms.lists_of(room.id, info.user_name)
        check_list_change(room, info.user_name, caller_lists, list_name, user_names)


async def room_add_to_list(svc, info, room_name, list_name, user_names):
    room = await svc.rooms.get_room(room_name)
    await _check_list_change(svc, info, room, list_name, user_names)
    svc.check_layer_available()
    await svc.rooms.add_to_list(room, list_name, user_names, svc.options.room_list_size_limit)
    if room.enable_access_lists_updates:
        await svc.notify_room(room_name, "roomAccessListAdded", [room_name, list_name, user_names])
    await svc.recheck_access(room, user_names)


async def room_remove_from_list(svc, info, room_name, list_name, user_names):
    room = await svc.rooms.get_room(room_name)
    await _check_list_change(svc, info, room, list_name, user_names)
    svc.check_layer_available()
    await svc.rooms.remove_from_list(room, list_name, user_names)
    if room.enable_access_lists_updates:
        await svc.notify_room(room_name, "roomAccessListRemoved", [room_name, list_name, user_names])
    await svc.recheck_access(room, user_names)


async def room_set_whitelist_mode(svc, info, room_name, mode):
    room = await svc.rooms.get_room(room_name)
    if not info.bypass_permissions:
        if not is_admin(room, info.user_name, await svc.rooms.lists_of(room.id, info.user_name)):
            raise ChatServiceError("notAllowed")
    svc.check_layer_available()
    await svc.rooms.update_room(room.id, whitelist_only=mode)
    if room.enable_access_lists_updates:
        await svc.notify_room(room_name, "roomModeChanged", [room_name, mode])
    await svc.recheck_access(room, await svc.presence.userlist(room.id))


# Room reads.


async def room_get_access_list(svc, info, room_name, list_name):
    room = await svc.rooms.get_room(room_name)
    await require_reader(svc, room, info)
    if list_name not in ROOM_LISTS:
        raise ChatServiceError("noList", list_name)
    if list_name == "userlist":
        return await svc.presence.userlist(room.id)
    return await svc.rooms.get_list(room, list_name)


async def room_get_owner(svc, info, room_name):
    room = await svc.rooms.get_room(room_name)
    await require_reader(svc, room, info)
    return room.owner


async def room_get_whitelist_mode(svc, info, room_name):
    room = await svc.rooms.get_room(room_name)
    await require_reader(svc, room, info)
    return room.whitelist_only


async def room_history_get(svc, info, room_name, after_id, limit):
    """The read rule of `require_reader` and the page, in one store call (bench/);
    the page as its stored texts when only the client reads it."""
    if not info.bypass_permissions:
        limit = min(limit, svc.options.history_max_get_messages)
    return await svc.messaging.history_page(
        room_name, info.user_name, after_id, limit, info.bypass_permissions, svc.only_client_reads(info, "roomHistoryGet")
    )


async def room_history_info(svc, info, room_name):
    room = await svc.rooms.get_room(room_name)
    await require_reader(svc, room, info)
    result = await svc.messaging.history_info(room)
    result["historyMaxGetMessages"] = svc.options.history_max_get_messages
    return result


async def room_notifications_info(svc, info, room_name):
    room = await svc.rooms.get_room(room_name)
    await require_reader(svc, room, info)
    return {
        "enableUserlistUpdates": room.enable_userlist_updates,
        "enableAccessListsUpdates": room.enable_access_lists_updates,
    }


async def room_recent_history(svc, info, room_name):
    room = await svc.rooms.get_room(room_name)
    await require_reader(svc, room, info)
    return await svc.messaging.recent_history(room, svc.options.history_max_get_messages)


async def room_user_seen(svc, info, room_name, user_name):
    room = await svc.rooms.get_room(room_name)
    await require_reader(svc, room, info)
    return {
        "joined": await svc.presence.in_userlist(room.id, user_name),
        "timestamp": await svc.presence.seen(room.id, user_name),
    }


# Presence and messages.


async def room_join(svc, info, room_name):
    return await svc.join_room(info.user_name, info.id, room_name, info.is_local_call)


async def room_leave(svc, info, room_name):
    return await svc.leave_room(info.user_name, info.id, room_name, info.is_local_call)


async def room_message(svc, info, room_name, message):
    svc.check_layer_available()
    processed = process_message(message, info.user_name)
    stored = await svc.messaging.post_message(room_name, info.user_name, processed, info.bypass_permissions, now_ms())
    await svc.notify_room(room_name, "roomMessage", [room_name, stored], user_name=info.user_name)
    info.args[1] = stored  # the after hook sees the processed message (docs/hooks-and-python-api.md)
    return stored["id"]


COMMANDS = {
    command.name: command
    for command in (
        Command("directAddToList", ("str", "list[str]"), direct_add_to_list, needs_user=True),
        Command("directGetAccessList", ("str",), direct_get_access_list, needs_user=True),
        Command("directGetWhitelistMode", (), direct_get_whitelist_mode, needs_user=True),
        Command("directMessage", ("str", "message"), direct_message, checker="direct_messages_checker"),
        Command("directRemoveFromList", ("str", "list[str]"), direct_remove_from_list, needs_user=True),
        Command("directSetWhitelistMode", ("bool",), direct_set_whitelist_mode, needs_user=True),
        Command("listOwnSockets", (), list_own_sockets, needs_user=True),
        Command("roomAddToList", ("str", "str", "list[str]"), room_add_to_list),
        Command("roomCreate", ("str", "bool"), room_create),
        Command("roomDelete", ("str",), room_delete),
        Command("roomGetAccessList", ("str", "str"), room_get_access_list),
        Command("roomGetOwner", ("str",), room_get_owner),
        Command("roomGetWhitelistMode", ("str",), room_get_whitelist_mode),
        Command("roomHistoryGet", ("str", "int>=0", "int>=1"), room_history_get),
        Command("roomHistoryInfo", ("str",), room_history_info),
        Command("roomJoin", ("str",), room_join, needs_user=True, needs_socket=True),
        Command("roomLeave", ("str",), room_leave, needs_user=True, needs_socket=True),
        Command("roomMessage", ("str", "message"), room_message, checker="room_messages_checker"),
        Command("roomNotificationsInfo", ("str",), room_notifications_info),
        Command("roomRecentHistory", ("str",), room_recent_history),
        Command("roomRemoveFromList", ("str", "str", "list[str]"), room_remove_from_list),
        Command("roomSetWhitelistMode", ("str", "bool"), room_set_whitelist_mode),
        Command("roomUserSeen", ("str", "str"), room_user_seen),
        Command("systemMessage", ("any",), system_message, needs_user=True),
    )
}
