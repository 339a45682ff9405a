"""Behaviour cases (docs/testing.md): room management (B14-B22, B214)."""
import pytest

from chatproject.service import ChatServiceError
from tests.client import RpcError
from tests.conftest import M, R1, R2, U1, U2

MANAGED = {"enableRoomsManagement": True}


async def expect_error(client, code, args, method, *params):
    with pytest.raises(RpcError) as info:
        await client.call(method, *params)
    assert info.value.code == code
    if args is not None:
        assert info.value.args_ == args
    return info.value


async def test_b14_create_join_delete_cycle(chat):
    """B14: create join delete cycle."""
    service = await chat.start(options=MANAGED)
    s1 = await chat.client(service, U1)
    assert await s1.call("roomCreate", R1, False) is None
    assert await s1.call("roomJoin", R1) == 1
    await expect_error(s1, "roomExists", ["room1"], "roomCreate", R1, False)
    assert await s1.call("roomDelete", R1) is None
    assert await s1.notification("roomAccessRemoved") == ["room1"]
    await expect_error(s1, "noRoom", ["room1"], "roomJoin", R1)


async def test_b15_delete_room_nobody_joined(chat):
    """B15: delete room nobody joined."""
    service = await chat.start(options=MANAGED)
    s1 = await chat.client(service, U1)
    assert await s1.call("roomCreate", R1, False) is None
    assert await s1.call("roomDelete", R1) is None
    assert await service.has_room(R1) is False


async def test_b16_non_owner_cannot_delete(chat):
    """B16: non owner cannot delete."""
    service = await chat.start(options=MANAGED)
    s1 = await chat.client(service, U1)
    s2 = await chat.client(service, U2)
    assert await s1.call("roomCreate", R1, False) is None
    await expect_error(s2, "notAllowed", [], "roomDelete", R1)
    assert await service.has_room(R1) is True


async def test_b17_create_invalid_room_name(chat):
    """B17: create invalid room name."""
    service = await chat.start(options=MANAGED)
    s1 = await chat.client(service, U1)
    await expect_error(s1, "invalidName", ["room}1"], "roomCreate", "room}1", False)
    assert await service.has_room("room}1") is False


async def test_b18_rooms_management_off(chat, svc):
    """B18: rooms management off."""
    await svc.add_room(R2)
    s1 = await chat.client(svc, U1)
    await expect_error(s1, "notAllowed", [], "roomCreate", R1, False)
    await expect_error(s1, "notAllowed", [], "roomDelete", R2)
    assert await svc.has_room(R1) is False
    assert await svc.has_room(R2) is True


async def test_b19_delete_removes_every_joined_user(chat):
    """B19: delete removes every joined user."""
    service = await chat.start(options=MANAGED)
    await service.add_room(R1, {"owner": U1})
    s1 = await chat.client(service, U1)
    s2 = await chat.client(service, U2)
    assert await s1.call("roomJoin", R1) == 1
    assert await s2.call("roomJoin", R1) == 1
    assert await s1.call("roomDelete", R1) is None
    assert await s1.notification("roomAccessRemoved") == [R1]
    assert await s2.notification("roomAccessRemoved") == [R1]
    await expect_error(s2, "noRoom", [R1], "roomJoin", R1)


async def test_b20_created_whitelist_only_room_owner(chat):
    """B20: created whitelist only room owner."""
    service = await chat.start(options=MANAGED)
    s1 = await chat.client(service, U1)
    assert await s1.call("roomCreate", R1, True) is None
    assert await s1.call("roomGetOwner", R1) == "user1"
    assert await s1.call("roomGetWhitelistMode", R1) is True
    assert await s1.call("roomJoin", R1) == 1


async def test_b21_admin_cannot_delete(chat):
    """B21: admin cannot delete."""
    service = await chat.start(options=MANAGED)
    await service.add_room(R1, {"owner": U1, "adminlist": [U2]})
    s2 = await chat.client(service, U2)
    await expect_error(s2, "notAllowed", [], "roomDelete", R1)
    assert await service.has_room(R1) is True


async def test_b22_recreated_room_starts_from_scratch(chat, svc):
    """B22: recreated room starts from scratch."""
    await svc.add_room(R1)
    s1 = await chat.client(svc, U1)
    assert await s1.call("roomJoin", R1) == 1
    assert await s1.call("roomMessage", R1, M) == 1
    assert await s1.call("roomMessage", R1, M) == 2
    await svc.delete_room(R1)
    await svc.add_room(R1)
    assert await s1.call("roomJoin", R1) == 1
    info = await s1.call("roomHistoryInfo", R1)
    assert info["lastMessageId"] == 0
    assert info["historySize"] == 0


class ReAddOnLeave:
    def __init__(self):
        self.outcomes = []

    async def on_leave(self, server, data):
        try:
            await server.add_room("room1")
        except ChatServiceError as exc:
            self.outcomes.append((exc.code, list(exc.args)))
        else:
            self.outcomes.append(("created", None))


async def test_b214_add_room_during_deletion_is_room_exists(chat):
    """B214: add room during deletion is room exists."""
    hooks = ReAddOnLeave()
    service = await chat.start(hooks=hooks)
    await service.add_room(R1)
    s1 = await chat.client(service, U1)
    assert await s1.call("roomJoin", R1) == 1
    assert await service.delete_room(R1) is None
    assert hooks.outcomes == [("roomExists", ["room1"])]
    assert await service.has_room(R1) is False
