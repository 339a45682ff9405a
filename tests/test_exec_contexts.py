"""Behaviour cases (docs/testing.md): execUserCommand contexts and bypassing (B159-B176)."""
import pytest

from chatproject.service import ChatServiceError
from tests.conftest import M, R1, U1, U2, U3


async def service_error(coroutine):
    with pytest.raises(ChatServiceError) as caught:
        await coroutine
    return caught.value


async def test_b159_exec_direct_get_whitelist_mode(svc):
    """B159: exec direct get whitelist mode."""
    await svc.add_user(U1, {"whitelistOnly": True})
    assert await svc.exec_user_command(U1, "directGetWhitelistMode") is True


async def test_b160_exec_direct_lists(svc):
    """B160: exec direct lists."""
    await svc.add_user(U1)
    assert await svc.exec_user_command(U1, "directAddToList", "whitelist", [U2]) is None
    assert await svc.exec_user_command(U1, "directGetAccessList", "whitelist") == [U2]


async def test_b161_add_room_invalid_name(svc):
    """B161: add room invalid name."""
    error = await service_error(svc.add_room("room:1"))
    assert (error.code, list(error.args)) == ("invalidName", ["room:1"])
    assert await svc.has_room("room:1") is False


async def test_b162_bool_context(svc):
    """B162: bool context."""
    await svc.add_room(R1, {"whitelistOnly": True})
    assert await svc.exec_user_command(True, "roomGetWhitelistMode", R1) is True
    error = await service_error(svc.exec_user_command(False, "roomGetWhitelistMode", R1))
    assert (error.code, list(error.args)) == ("notJoined", [R1])


async def test_b163_bypass_list_change_without_user(svc):
    """B163: bypass list change without user."""
    await svc.add_room(R1)
    assert await svc.exec_user_command(True, "roomAddToList", R1, "whitelist", [U2]) is None
    assert await svc.exec_user_command(True, "roomGetAccessList", R1, "whitelist") == [U2]


async def test_b164_system_message_reaches_all_sockets(chat, svc):
    """B164: system message reaches all sockets."""
    s1 = await chat.client(svc, U1)
    s2 = await chat.client(svc, U1)
    assert await svc.exec_user_command(U1, "systemMessage", "some data.") is None
    assert await s1.notification("systemMessage") == ["some data."]
    assert await s2.notification("systemMessage") == ["some data."]


async def test_b165_bypass_hooks(chat):
    """B165: bypass hooks."""
    flags = {"before": False, "after": False}

    class FlagHooks:
        async def room_add_to_list_before(self, info):
            flags["before"] = True

        async def room_add_to_list_after(self, info):
            flags["after"] = True

    service = await chat.start(hooks=FlagHooks())
    await service.add_room(R1, {"owner": U1})
    await service.add_user(U2)
    s1 = await chat.client(service, U1)
    await s1.call("roomJoin", R1)
    ctx = {"user_name": U1, "bypass_hooks": True}
    assert await service.exec_user_command(ctx, "roomAddToList", R1, "whitelist", [U1]) is None
    assert flags == {"before": False, "after": False}
    assert await service.room_has_in_list(R1, "whitelist", U1) is True
    # Control: without bypass_hooks the same call runs both hooks.
    await service.exec_user_command(U1, "roomAddToList", R1, "whitelist", [U2])
    assert flags == {"before": True, "after": True}


async def test_b166_bypass_permissions_direct_message(chat):
    """B166: bypass permissions direct message."""
    service = await chat.start(options={"enableDirectMessages": True})
    await service.add_user(U1)
    await service.add_user(U2, {"whitelistOnly": True})
    s2 = await chat.client(service, U2)
    ctx = {"user_name": U1, "bypass_permissions": True}
    await service.exec_user_command(ctx, "directMessage", U2, M)
    (message,) = await s2.notification("directMessage")
    assert message["author"] == U1
    assert message["textMessage"] == M["textMessage"]
    assert isinstance(message["timestamp"], int)
    # Control: without the bypass the whitelist refuses user1.
    error = await service_error(service.exec_user_command(U1, "directMessage", U2, M))
    assert error.code == "notAllowed"


async def test_b167_bypass_permissions_room_message(chat, svc):
    """B167: bypass permissions room message."""
    await svc.add_room(R1, {"whitelistOnly": True, "whitelist": [U1]})
    await svc.add_user(U2)
    s1 = await chat.client(svc, U1)
    await s1.call("roomJoin", R1)
    ctx = {"user_name": U2, "bypass_permissions": True}
    assert await svc.exec_user_command(ctx, "roomMessage", R1, M) == 1
    room, message = await s1.notification("roomMessage")
    assert room == R1
    assert message["author"] == U2
    assert message["textMessage"] == M["textMessage"]
    assert isinstance(message["timestamp"], int)
    assert message["id"] == 1


async def test_b168_message_without_caller_has_no_author(chat, svc):
    """B168: message without caller has no author."""
    await svc.add_room(R1)
    s1 = await chat.client(svc, U1)
    await s1.call("roomJoin", R1)
    assert await svc.exec_user_command(True, "roomMessage", R1, M) == 1
    room, message = await s1.notification("roomMessage")
    assert room == R1
    assert set(message) == {"textMessage", "timestamp", "id"}
    assert "author" not in message


async def test_b169_exec_for_unknown_user(svc):
    """B169: exec for unknown user."""
    await svc.add_room(R1)
    error = await service_error(svc.exec_user_command(U1, "roomMessage", R1, M))
    assert (error.code, list(error.args)) == ("noUser", [U1])


async def test_b170_has_room_access(svc):
    """B170: has room access."""
    await svc.add_room(R1, {"blacklist": [U3]})
    assert await svc.has_room_access(R1, U2) is True
    assert await svc.has_room_access(R1, U3) is False


async def test_b171_bypass_never_lifts_join_access_check(chat, svc):
    """B171: bypass never lifts join access check."""
    await svc.add_room(R1, {"blacklist": [U1]})
    s1 = await chat.client(svc, U1)
    ctx = {"user_name": U1, "id": s1.socket_id, "bypass_permissions": True}
    error = await service_error(svc.exec_user_command(ctx, "roomJoin", R1))
    assert error.code == "notAllowed"
    assert await s1.call("listOwnSockets") == {s1.socket_id: []}


async def test_b172_bypass_never_lifts_direct_messages_gate(chat, svc):
    """B172: bypass never lifts direct messages gate."""
    await chat.client(svc, U1)
    await chat.client(svc, U2)
    ctx = {"user_name": U1, "bypass_permissions": True}
    error = await service_error(svc.exec_user_command(ctx, "directMessage", U2, M))
    assert error.code == "notAllowed"


async def test_b173_delete_room_removes_joined_users(chat, svc):
    """B173: delete room removes joined users."""
    await svc.add_room(R1, {"owner": U2})
    s1 = await chat.client(svc, U1)
    await s1.call("roomJoin", R1)
    assert await svc.delete_room(R1) is None
    assert await s1.notification("roomAccessRemoved") == [R1]
    assert await svc.has_room(R1) is False


async def test_b174_room_create_without_caller_has_no_owner(svc):
    """B174: room create without caller has no owner."""
    assert await svc.exec_user_command(True, "roomCreate", R1, False) is None
    assert await svc.has_room(R1) is True
    assert await svc.exec_user_command(True, "roomGetOwner", R1) is None


async def test_b175_user_command_without_user_is_no_login(svc):
    """B175: user command without user is no login."""
    error = await service_error(svc.exec_user_command(True, "listOwnSockets"))
    assert (error.code, list(error.args)) == ("noLogin", [])


async def test_b176_system_message_skips_the_context_socket(chat, svc):
    """B176: system message skips the context socket."""
    s1 = await chat.client(svc, U1)
    s2 = await chat.client(svc, U1)
    await svc.exec_user_command({"user_name": U1, "id": s1.socket_id}, "systemMessage", "x")
    assert await s2.notification("systemMessage") == ["x"]
    await s1.no_notification("systemMessage")


async def test_camel_case_context_keys(chat, svc):
    """The camelCase context keys are aliases (docs/hooks-and-python-api.md, exec_user_command)."""
    await svc.add_room(R1)
    s1 = await chat.client(svc, U1)
    ctx = {"userName": U1, "id": s1.socket_id}
    assert await svc.exec_user_command(ctx, "roomJoin", R1) == 1
    assert await s1.notification("roomJoinedEcho") == [R1, s1.socket_id, 1]
    assert await svc.exec_user_command({"bypassPermissions": True}, "roomGetOwner", R1) is None
