"""Behaviour cases (docs/testing.md): the server-side API (B139-B158, B218, B219)."""
import asyncio
import json
import time

import pytest

from chatproject.service import ChatServiceError
from tests.client import RpcError
from tests.conftest import M, R1, U1, U2, U3


async def service_error(coroutine):
    with pytest.raises(ChatServiceError) as caught:
        await coroutine
    return caught.value


async def rpc_error(coroutine):
    with pytest.raises(RpcError) as caught:
        await coroutine
    return caught.value


async def wait_offline(service, user_name, timeout=3.0):
    """Wait until the disconnect procedures of the user's sockets have run."""
    deadline = time.monotonic() + timeout
    while await service.exec_user_command(user_name, "listOwnSockets") != {}:
        assert time.monotonic() < deadline, "sockets still recorded"
        await asyncio.sleep(0.02)


async def acknowledge_close(client):
    """What the ASGI server does after a server-side close: report the disconnect."""
    await client.communicator.send_input({"type": "websocket.disconnect", "code": client.close_code})


async def test_b139_disconnect_user_sockets_closes_with_1000(chat, svc):
    """B139: disconnect user sockets closes with 1000."""
    s1 = await chat.client(svc, U1)
    s2 = await chat.client(svc, U1)
    other = await chat.client(svc, U2)
    assert await svc.disconnect_user_sockets(U1) is None
    assert await s1.wait_closed() == 1000
    assert await s2.wait_closed() == 1000
    # Only that user's connections are closed.
    assert await other.call("listOwnSockets") == {other.socket_id: []}


async def test_b140_add_user_with_whitelist_only(chat, svc):
    """B140: add user with whitelist only."""
    await svc.add_user(U1, {"whitelistOnly": True})
    s1 = await chat.client(svc, U1)
    assert await s1.call("directGetWhitelistMode") is True


async def test_b141_delete_user_after_disconnect(chat, svc):
    """B141: delete user after disconnect."""
    s1 = await chat.client(svc, U1)
    await svc.disconnect_user_sockets(U1)
    assert await s1.wait_closed() == 1000
    await acknowledge_close(s1)
    await wait_offline(svc, U1)
    assert await svc.has_user(U1) is True
    assert await svc.delete_user(U1) is None
    assert await svc.has_user(U1) is False


async def test_b142_delete_user_online_or_unknown(chat, svc):
    """B142: delete user online or unknown."""
    await chat.client(svc, U1)
    error = await service_error(svc.delete_user(U1))
    assert (error.code, list(error.args)) == ("userOnline", [U1])
    assert await svc.has_user(U1) is True
    error = await service_error(svc.delete_user("nobody"))
    assert (error.code, list(error.args)) == ("noUser", ["nobody"])


async def test_b143_add_has_delete_room(svc):
    """B143: add has delete room."""
    await svc.add_room(R1, {"owner": U1})
    assert await svc.has_room(R1) is True
    assert await svc.delete_room(R1) is None
    assert await svc.has_room(R1) is False
    error = await service_error(svc.delete_room(R1))
    assert (error.code, list(error.args)) == ("noRoom", [R1])


async def test_b144_add_user_invalid_name(svc):
    """B144: add user invalid name."""
    error = await service_error(svc.add_user("user:1"))
    assert (error.code, list(error.args)) == ("invalidName", ["user:1"])
    assert await svc.has_user("user:1") is False


async def test_b145_add_user_twice(svc):
    """B145: add user twice."""
    assert await svc.add_user(U1) is None
    error = await service_error(svc.add_user(U1))
    assert (error.code, list(error.args)) == ("userExists", [U1])


async def test_b146_exec_unknown_command(svc):
    """B146: exec unknown command."""
    await svc.add_user(U1)
    error = await service_error(svc.exec_user_command(U1, "nocmd"))
    assert (error.code, list(error.args)) == ("noCommand", ["nocmd"])


async def test_b147_join_and_leave_need_a_socket(svc):
    """B147: join and leave need a socket."""
    await svc.add_user(U1)
    await svc.add_room(R1)
    error = await service_error(svc.exec_user_command(U1, "roomJoin", R1))
    assert (error.code, list(error.args)) == ("noSocket", ["roomJoin"])
    error = await service_error(svc.exec_user_command(U1, "roomLeave", R1))
    assert (error.code, list(error.args)) == ("noSocket", ["roomLeave"])


async def test_b148_change_room_owner(chat, svc):
    """B148: change room owner."""
    await svc.add_room(R1, {"owner": U1})
    s1 = await chat.client(svc, U1)
    await s1.call("roomJoin", R1)
    assert await svc.change_room_owner(R1, U2) is None
    assert await s1.call("roomGetOwner", R1) == U2


async def test_b149_change_room_history_max_size(chat, svc):
    """B149: change room history max size."""
    await svc.add_room(R1)
    assert await svc.change_room_history_max_size(R1, 100) is None
    s1 = await chat.client(svc, U1)
    await s1.call("roomJoin", R1)
    info = await s1.call("roomHistoryInfo", R1)
    assert info["historyMaxSize"] == 100


async def test_b150_room_has_in_list(svc):
    """B150: room has in list."""
    await svc.add_room(R1, {"adminlist": [U1]})
    assert await svc.room_has_in_list(R1, "adminlist", U1) is True
    assert await svc.room_has_in_list(R1, "adminlist", U2) is False
    error = await service_error(svc.room_has_in_list(R1, "nolist", U1))
    assert (error.code, list(error.args)) == ("noList", ["nolist"])


async def test_b151_user_has_in_list(svc):
    """B151: user has in list."""
    await svc.add_user(U1, {"blacklist": [U2]})
    assert await svc.user_has_in_list(U1, "blacklist", U2) is True
    assert await svc.user_has_in_list(U1, "blacklist", U3) is False


async def test_b152_exec_with_socket_context(chat, svc):
    """B152: exec with socket context."""
    await svc.add_room(R1)
    s1 = await chat.client(svc, U1)
    sid1 = s1.socket_id
    ctx = {"user_name": U1, "id": sid1}
    assert await svc.exec_user_command(ctx, "roomJoin", R1) == 1
    assert await s1.notification("roomJoinedEcho") == [R1, sid1, 1]
    assert await svc.exec_user_command(ctx, "roomMessage", R1, {"textMessage": "Text message"}) == 1
    room, message = await s1.notification("roomMessage")
    assert room == R1 and message["author"] == U1 and message["textMessage"] == "Text message"
    assert await svc.exec_user_command(ctx, "roomLeave", R1) == 0
    assert await s1.notification("roomLeftEcho") == [R1, sid1, 0]


async def test_b153_change_access_lists_updates(chat, svc):
    """B153: change access lists updates."""
    await svc.add_room(R1, {"owner": U1})
    s1 = await chat.client(svc, U1)
    await s1.call("roomJoin", R1)
    await svc.change_access_lists_updates(R1, True)
    assert await svc.exec_user_command(U1, "roomAddToList", R1, "whitelist", [U2]) is None
    assert await s1.notification("roomAccessListAdded") == [R1, "whitelist", [U2]]


async def test_b154_change_userlist_updates(chat, svc):
    """B154: change userlist updates."""
    await svc.add_room(R1, {"owner": U1})
    s1 = await chat.client(svc, U1)
    await s1.call("roomJoin", R1)
    await svc.change_userlist_updates(R1, True)
    s2 = await chat.client(svc, U2)
    assert await s2.call("roomJoin", R1) == 1
    assert await s1.notification("roomUserJoined") == [R1, U2]


async def test_b155_access_checks_without_error(svc):
    """B155: access checks without error."""
    assert await svc.has_direct_access("nobody", U1) is False
    assert await svc.has_room_access("noroom", U1) is False
    await svc.add_user(U1)
    assert await svc.has_direct_access(U1, U1) is False
    await svc.add_user(U2)
    assert await svc.has_direct_access(U1, U2) is True  # control: the rule itself allows others


async def test_b156_exec_join_with_another_users_socket(chat, svc):
    """B156: exec join with another users socket."""
    await svc.add_room(R1)
    await chat.client(svc, U1)
    s2 = await chat.client(svc, U2)
    sid2 = s2.socket_id
    error = await service_error(svc.exec_user_command({"user_name": U1, "id": sid2}, "roomJoin", R1))
    assert (error.code, list(error.args)) == ("invalidSocket", [sid2])
    assert await s2.call("listOwnSockets") == {sid2: []}


async def test_b157_check_arguments_counts_surplus(svc):
    """B157: check arguments counts surplus."""
    error = await service_error(svc.check_arguments("roomJoin", R1, "x"))
    assert (error.code, list(error.args)) == ("wrongArgumentsCount", [1, 2])
    assert await svc.check_arguments("roomJoin", R1) is None


async def test_b158_invalid_history_size_sets_the_default(svc):
    """B158: invalid history size sets the default."""
    await svc.add_room(R1, {"historyMaxSize": 5})
    assert (await svc.exec_user_command(True, "roomHistoryInfo", R1))["historyMaxSize"] == 5
    await svc.change_room_history_max_size(R1, -1)
    info = await svc.exec_user_command(True, "roomHistoryInfo", R1)
    assert info["historyMaxSize"] == 10000


async def test_b218_server_call_does_not_wait_for_queued_commands(chat):
    """B218: server call does not wait for queued commands."""
    entered = asyncio.Event()
    release = asyncio.Event()

    async def room_message_before(info):
        if not info.is_local_call:
            entered.set()
            await release.wait()

    service = await chat.start(hooks=_Hooks(room_message_before))
    await service.add_room(R1)
    s1 = await chat.client(service, U1)
    sid1 = s1.socket_id
    await s1.call("roomJoin", R1)
    await s1.send_raw(json.dumps({"jsonrpc": "2.0", "id": "msg", "method": "roomMessage", "params": [R1, M]}))
    await asyncio.wait_for(entered.wait(), 5)
    result = await asyncio.wait_for(service.exec_user_command({"user_name": U1, "id": sid1}, "roomLeave", R1), 5)
    assert result == 0
    assert not release.is_set()  # returned while the hook still waits
    assert await s1.notification("roomLeftEcho") == [R1, sid1, 0]
    assert "msg" not in s1.replies  # the echo came before any reply
    release.set()
    reply = await s1.reply("msg")
    assert reply["error"]["data"]["code"] == "notJoined"
    assert reply["error"]["data"]["args"] == [R1]


class _Hooks:
    def __init__(self, room_message_before):
        self.room_message_before = room_message_before


async def test_b219_never_started_service(chat, svc):
    """B219: never started service."""
    other = chat.service()
    assert other.instance_uid is None
    assert await other.add_room(R1) is None
    assert await svc.has_room(R1) is True
    s1 = await chat.client(svc, U1)
    await s1.call("roomJoin", R1)
    assert await other.user_state_sync(U1) is None
    assert await svc.exec_user_command(U1, "listOwnSockets") == {s1.socket_id: [R1]}
    assert other.instance_uid is None  # the API calls did not start it
    await other.disconnect_user_sockets(U1)
    assert await s1.wait_closed() == 1000


# change_room: the room edit the REST API and the admin share.


async def test_change_room_grants_before_it_revokes(chat, svc):
    """A user whitelisted as the room closes stays; one blacklisted and dropped
    from the adminlist in the same change is removed, once."""
    await svc.add_room(R1, {"adminlist": [U2], "enableAccessListsUpdates": False})
    stays, goes = await chat.client(svc, U1), await chat.client(svc, U2)
    for client in (stays, goes):
        await client.call("roomJoin", R1)
    await svc.change_room(R1, {
        "enableAccessListsUpdates": True, "historyMaxSize": 3, "owner": U3, "whitelistOnly": True,
        "addToLists": {"whitelist": [U1], "blacklist": [U2]}, "removeFromLists": {"adminlist": [U2]},
    })
    # The flag went on first, so the mode change of this same edit is announced.
    assert await stays.notification("roomModeChanged") == [R1, True]
    assert await goes.notification("roomAccessRemoved") == [R1]
    await stays.no_notification("roomAccessRemoved")
    read = {"bypassPermissions": True}
    assert await svc.exec_user_command(read, "roomGetAccessList", R1, "userlist") == [U1]
    assert await svc.exec_user_command(read, "roomGetAccessList", R1, "adminlist") == []
    assert await svc.exec_user_command(read, "roomGetOwner", R1) == U3
    assert await svc.exec_user_command(read, "roomGetWhitelistMode", R1) is True


async def test_change_room_swaps_whitelist_names_at_the_size_limit(chat):
    svc = await chat.start({"roomListSizeLimit": 2})
    await svc.add_room(R1, {"whitelist": ["a", "b"]})
    await svc.change_room(R1, {"addToLists": {"whitelist": ["c"]}, "removeFromLists": {"whitelist": ["a"]}})
    assert sorted(await svc.exec_user_command(True, "roomGetAccessList", R1, "whitelist")) == ["b", "c"]


async def test_change_room_failure_names_its_step_and_what_was_applied(chat):
    svc = await chat.start({"roomListSizeLimit": 1})
    await svc.add_room(R1)
    error = await service_error(svc.change_room(R1, {
        "owner": U1, "enableUserlistUpdates": True, "addToLists": {"whitelist": ["a", "b"], "blacklist": ["c"]},
    }))
    assert (error.code, error.args) == ("listLimitExceeded", ("whitelist",))
    assert error.step == "adding to the whitelist ['a', 'b']"
    assert error.applied == ["userlist updates on", "owner 'user1'"]
    read = {"bypassPermissions": True}
    assert await svc.exec_user_command(read, "roomGetOwner", R1) == U1
    assert await svc.exec_user_command(read, "roomGetAccessList", R1, "blacklist") == []


@pytest.mark.parametrize("changes,code,args", [
    ({"whitelistonly": True}, "badArgument", ("whitelistonly", True)),
    ({"owner": U1, "addToLists": ["whitelist"]}, "badArgument", ("addToLists", ["whitelist"])),
    ({"owner": U1, "addToLists": {"userlist": [U1]}}, "noList", ("userlist",)),
    ({"owner": U1, "removeFromLists": {"whitelist": U1}}, "badArgument", ("whitelist", U1)),
    ({"owner": U1, "whitelistOnly": "yes"}, "badArgument", (1, "yes")),
])
async def test_change_room_refuses_bad_changes(svc, changes, code, args):
    """Malformed changes are refused before anything is applied; a bad mode
    value is refused by roomSetWhitelistMode itself, after the owner."""
    await svc.add_room(R1, {"owner": U2})
    error = await service_error(svc.change_room(R1, changes))
    assert (error.code, error.args) == (code, args)
    owner = await svc.exec_user_command(True, "roomGetOwner", R1)
    assert owner == (U1 if code == "badArgument" and args[0] == 1 else U2)


async def test_change_room_of_a_missing_room(svc):
    for changes in ({"owner": U1}, {}):
        error = await service_error(svc.change_room("nope", changes))
        assert (error.code, error.args) == ("noRoom", ("nope",))
