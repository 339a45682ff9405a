"""Behaviour cases (docs/testing.md): room permissions (B58-B88, B215)."""
import asyncio

import pytest

from chatproject.service import ChatServiceError
from tests.client import RpcError
from tests.conftest import M, R1, R2, U1, U2, U3


async def joined_client(chat, service, user, room=R1):
    client = await chat.client(service, user)
    await client.call("roomJoin", room)
    return client


async def expect_error(client, code, *params, args=None):
    with pytest.raises(RpcError) as info:
        await client.call(*params)
    assert info.value.code == code, info.value.error
    if args is not None:
        assert info.value.args_ == args
    return info.value


async def userlist(service, room=R1):
    return set(await service.exec_user_command(True, "roomGetAccessList", room, "userlist"))


async def wait_for_all(client, names, timeout=5):
    """Pump until every notification in `names` is buffered; return the buffered method names in arrival order."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not all(any(method == name for method, _ in client.notifications) for name in names):
        await client.pump(max(deadline - loop.time(), 0.001))
    return [method for method, _ in client.notifications]


async def test_b58_unjoined_user_cannot_post_or_read(chat, svc):
    """B58: unjoined user cannot post or read."""
    await svc.add_room(R1)
    s1 = await chat.client(svc, U1)
    await expect_error(s1, "notJoined", "roomMessage", R1, M, args=["room1"])
    await expect_error(s1, "notJoined", "roomRecentHistory", R1, args=["room1"])


async def test_b59_get_whitelist_mode(chat, svc):
    """B59: get whitelist mode."""
    await svc.add_room(R1, {"whitelistOnly": True, "whitelist": [U1]})
    s1 = await joined_client(chat, svc, U1)
    assert await s1.call("roomGetWhitelistMode", R1) is True


async def test_b60_userlist_contains_joined_user(chat, svc):
    """B60: userlist contains joined user."""
    await svc.add_room(R1)
    s1 = await joined_client(chat, svc, U1)
    assert "user1" in await s1.call("roomGetAccessList", R1, "userlist")


async def test_b61_userlist_needs_presence(chat, svc):
    """B61: userlist needs presence."""
    await svc.add_room(R1)
    s1 = await chat.client(svc, U1)
    await expect_error(s1, "notJoined", "roomGetAccessList", R1, "userlist", args=["room1"])


async def test_b62_unknown_list_name(chat, svc):
    """B62: unknown list name."""
    await svc.add_room(R1)
    s1 = await joined_client(chat, svc, U1)
    await expect_error(s1, "noList", "roomGetAccessList", R1, "nolist", args=["nolist"])


async def test_b63_owner_adds_admin_twice(chat):
    """B63: owner adds admin twice."""
    service = await chat.start(options={"enableRoomsManagement": True})
    s1 = await chat.client(service, U1)
    assert await s1.call("roomCreate", R1, False) is None
    assert await s1.call("roomJoin", R1) == 1
    assert await s1.call("roomAddToList", R1, "adminlist", [U2]) is None
    assert await s1.call("roomAddToList", R1, "adminlist", [U2]) is None
    assert await service.room_has_in_list(R1, "adminlist", U2) is True


async def test_b64_owner_removes_absent_admin(chat):
    """B64: owner removes absent admin."""
    service = await chat.start(options={"enableRoomsManagement": True})
    s1 = await chat.client(service, U1)
    assert await s1.call("roomCreate", R1, False) is None
    assert await s1.call("roomJoin", R1) == 1
    assert await s1.call("roomRemoveFromList", R1, "adminlist", [U2]) is None
    assert await service.room_has_in_list(R1, "adminlist", U2) is False


async def test_b65_access_list_notifications(chat):
    """B65: access list notifications."""
    service = await chat.start(options={"enableAccessListsUpdates": True})
    await service.add_room(R1, {"owner": U1})
    s1 = await joined_client(chat, service, U1)
    assert await s1.call("roomAddToList", R1, "adminlist", [U3]) is None
    assert await s1.notification("roomAccessListAdded") == [R1, "adminlist", ["user3"]]
    assert await s1.call("roomRemoveFromList", R1, "adminlist", [U3]) is None
    assert await s1.notification("roomAccessListRemoved") == [R1, "adminlist", ["user3"]]


async def test_b66_mode_change_notification(chat):
    """B66: mode change notification."""
    service = await chat.start(options={"enableAccessListsUpdates": True})
    await service.add_room(R1, {"owner": U1, "whitelistOnly": True})
    s1 = await joined_client(chat, service, U1)
    assert await s1.call("roomSetWhitelistMode", R1, False) is None
    assert await s1.notification("roomModeChanged") == [R1, False]


async def test_b67_no_access_list_notifications_by_default(chat, svc):
    """B67: no access list notifications by default."""
    await svc.add_room(R1, {"owner": U1})
    await svc.add_room(R2, {"owner": U1, "whitelistOnly": True})
    s1 = await chat.client(svc, U1)
    assert await s1.call("roomJoin", R1) == 1
    assert await s1.call("roomJoin", R2) == 1
    assert await s1.call("roomAddToList", R1, "adminlist", [U3]) is None
    assert await s1.call("roomRemoveFromList", R1, "adminlist", [U3]) is None
    assert await s1.call("roomSetWhitelistMode", R2, False) is None
    # The changes did happen; only the notifications are off.
    assert await svc.room_has_in_list(R1, "adminlist", U3) is False
    assert await s1.call("roomGetWhitelistMode", R2) is False
    await s1.no_notification("roomAccessListAdded")
    await s1.no_notification("roomAccessListRemoved", wait=0)
    await s1.no_notification("roomModeChanged", wait=0)


@pytest.mark.parametrize("list_name", ["whitelist", "blacklist"])
async def test_b68_admin_changes_white_and_blacklist(chat, svc, list_name):
    """B68: admin changes white and blacklist."""
    await svc.add_room(R1, {"adminlist": [U1]})
    s1 = await joined_client(chat, svc, U1)
    assert await s1.call("roomAddToList", R1, list_name, [U2]) is None
    assert "user2" in await s1.call("roomGetAccessList", R1, list_name)
    assert await s1.call("roomRemoveFromList", R1, list_name, [U2]) is None
    assert "user2" not in await s1.call("roomGetAccessList", R1, list_name)


async def test_b69_admin_cannot_change_adminlist(chat, svc):
    """B69: admin cannot change adminlist."""
    await svc.add_room(R1, {"adminlist": [U1, U2]})
    s1 = await joined_client(chat, svc, U1)
    await joined_client(chat, svc, U2)
    await expect_error(s1, "notAllowed", "roomRemoveFromList", R1, "adminlist", [U2])
    await expect_error(s1, "notAllowed", "roomAddToList", R1, "adminlist", [U3])
    assert set(await s1.call("roomGetAccessList", R1, "adminlist")) == {"user1", "user2"}


async def test_b70_admin_cannot_name_the_owner(chat):
    """B70: admin cannot name the owner."""
    service = await chat.start(options={"enableRoomsManagement": True})
    s1 = await chat.client(service, U1)
    assert await s1.call("roomCreate", R1, False) is None
    assert await s1.call("roomJoin", R1) == 1
    assert await s1.call("roomAddToList", R1, "adminlist", [U2]) is None
    s2 = await joined_client(chat, service, U2)
    await expect_error(s2, "notAllowed", "roomAddToList", R1, "whitelist", [U1])
    await expect_error(s2, "notAllowed", "roomRemoveFromList", R1, "blacklist", [U1])
    assert await service.room_has_in_list(R1, "whitelist", U1) is False


async def test_b71_userlist_cannot_be_changed_even_with_bypass(chat, svc):
    """B71: userlist cannot be changed even with bypass."""
    await svc.add_room(R1, {"adminlist": [U1]})
    s1 = await joined_client(chat, svc, U1)
    await expect_error(s1, "notAllowed", "roomAddToList", R1, "userlist", [U2])
    with pytest.raises(ChatServiceError) as info:
        await svc.exec_user_command(True, "roomAddToList", R1, "userlist", [U2])
    assert info.value.code == "notAllowed"
    assert await userlist(svc) == {"user1"}


async def test_b72_plain_user_cannot_change_lists(chat, svc):
    """B72: plain user cannot change lists."""
    await svc.add_room(R1)
    s1 = await joined_client(chat, svc, U1)
    await expect_error(s1, "notAllowed", "roomAddToList", R1, "whitelist", [U2])
    await expect_error(s1, "notAllowed", "roomAddToList", R1, "nolist", [U2])
    assert await svc.room_has_in_list(R1, "whitelist", U2) is False


async def test_b73_admin_gets_no_list(chat, svc):
    """B73: admin gets no list."""
    await svc.add_room(R1, {"adminlist": [U1]})
    s1 = await chat.client(svc, U1)
    await expect_error(s1, "noList", "roomAddToList", R1, "nolist", [U2], args=["nolist"])


async def test_b74_mode_change_needs_admin_not_presence(chat, svc):
    """B74: mode change needs admin not presence."""
    await svc.add_room(R1)
    s1 = await joined_client(chat, svc, U1)
    await expect_error(s1, "notAllowed", "roomSetWhitelistMode", R1, True)
    assert await s1.call("roomGetWhitelistMode", R1) is False
    await svc.add_room(R2, {"adminlist": [U1]})
    assert await s1.call("roomSetWhitelistMode", R2, True) is None
    assert await s1.call("roomGetWhitelistMode", R2) is True


async def test_b75_blacklisted_user_cannot_join(chat, svc):
    """B75: blacklisted user cannot join."""
    await svc.add_room(R1, {"blacklist": [U1]})
    s1 = await chat.client(svc, U1)
    await expect_error(s1, "notAllowed", "roomJoin", R1)
    assert await userlist(svc) == set()


async def test_b76_whitelist_only_room(chat, svc):
    """B76: whitelist only room."""
    await svc.add_room(R1, {"whitelist": [U2], "whitelistOnly": True})
    s1 = await chat.client(svc, U1)
    s2 = await chat.client(svc, U2)
    await expect_error(s1, "notAllowed", "roomJoin", R1)
    assert await s2.call("roomJoin", R1) == 1
    assert await userlist(svc) == {"user2"}


async def test_b77_admins_pass_blacklist_and_blacklist_beats_whitelist(chat, svc):
    """B77: admins pass blacklist and blacklist beats whitelist."""
    await svc.add_room(R1, {"owner": U1, "adminlist": [U2], "blacklist": [U1, U2], "whitelistOnly": True})
    s1 = await chat.client(svc, U1)
    s2 = await chat.client(svc, U2)
    assert await s1.call("roomJoin", R1) == 1
    assert await s2.call("roomJoin", R1) == 1
    await svc.add_room(R2, {"whitelistOnly": True, "whitelist": [U3], "blacklist": [U3]})
    s3 = await chat.client(svc, U3)
    await expect_error(s3, "notAllowed", "roomJoin", R2)


async def test_b78_blacklisting_removes_joined_non_admins(chat):
    """B78: blacklisting removes joined non admins."""
    service = await chat.start(options={"enableUserlistUpdates": True})
    await service.add_room(R1, {"adminlist": [U1, U3]})
    s1 = await joined_client(chat, service, U1)
    s2 = await joined_client(chat, service, U2)
    s3 = await joined_client(chat, service, U3)
    assert await s1.call("roomAddToList", R1, "blacklist", [U2, U3, "nouser"]) is None
    assert await s2.notification("roomAccessRemoved") == [R1]
    assert await s1.notification("roomUserLeft") == [R1, "user2"]
    await s3.no_notification("roomAccessRemoved")
    assert await userlist(service) == {"user1", "user3"}


async def test_b79_whitelist_mode_removes_non_admins(chat, svc):
    """B79: whitelist mode removes non admins."""
    await svc.add_room(R1, {"adminlist": [U1]})
    s1 = await joined_client(chat, svc, U1)
    s2 = await joined_client(chat, svc, U2)
    assert await s1.call("roomSetWhitelistMode", R1, True) is None
    assert await s2.notification("roomAccessRemoved") == [R1]
    await s1.no_notification("roomAccessRemoved")
    assert await userlist(svc) == {"user1"}


async def test_b80_whitelist_removal_removes_non_admins(chat, svc):
    """B80: whitelist removal removes non admins."""
    await svc.add_room(R1, {"adminlist": [U1, U3], "whitelist": [U2], "whitelistOnly": True})
    s1 = await joined_client(chat, svc, U1)
    s2 = await joined_client(chat, svc, U2)
    s3 = await joined_client(chat, svc, U3)
    assert await s1.call("roomRemoveFromList", R1, "whitelist", [U2, U3, "nouser"]) is None
    assert await s2.notification("roomAccessRemoved") == [R1]
    await s3.no_notification("roomAccessRemoved")
    assert await userlist(svc) == {"user1", "user3"}


async def test_b81_room_list_size_limit(chat):
    """B81: room list size limit."""
    service = await chat.start(options={"roomListSizeLimit": 1})
    await service.add_room(R1, {"owner": U1})
    s1 = await chat.client(service, U1)
    await expect_error(s1, "listLimitExceeded", "roomAddToList", R1, "blacklist", [U2, U3], args=["blacklist"])
    assert await service.exec_user_command(True, "roomGetAccessList", R1, "blacklist") == []


async def test_b82_room_list_size_counts_distinct_names(chat):
    """B82: (Decision) the size check counts the distinct names after the addition."""
    service = await chat.start(options={"roomListSizeLimit": 2})
    await service.add_room(R1, {"owner": U1, "blacklist": [U2]})
    s1 = await chat.client(service, U1)
    assert await s1.call("roomAddToList", R1, "blacklist", [U2, U3]) is None
    assert await s1.call("roomAddToList", R1, "blacklist", [U2]) is None
    await expect_error(s1, "listLimitExceeded", "roomAddToList", R1, "blacklist", ["user4"], args=["blacklist"])
    assert set(await s1.call("roomGetAccessList", R1, "blacklist")) == {"user2", "user3"}


async def test_b83_owner_keeps_access_in_whitelist_mode(chat, svc):
    """B83: (Fix) switching to whitelist-only never removes the owner."""
    await svc.add_room(R1, {"owner": U1})
    s1 = await joined_client(chat, svc, U1)
    assert await s1.call("roomSetWhitelistMode", R1, True) is None
    await s1.no_notification("roomAccessRemoved")
    assert await userlist(svc) == {"user1"}


async def test_b84_demoted_admin_without_access_is_removed(chat, svc):
    """B84: (Fix) removing an admin from the adminlist re-checks their access."""
    await svc.add_room(R1, {"owner": U1, "adminlist": [U2], "whitelistOnly": True})
    s2 = await joined_client(chat, svc, U2)
    s1 = await chat.client(svc, U1)
    assert await s1.call("roomRemoveFromList", R1, "adminlist", [U2]) is None
    assert await s2.notification("roomAccessRemoved") == [R1]
    assert await userlist(svc) == set()


async def test_b85_admin_reads_without_joining_but_cannot_post(chat, svc):
    """B85: admin reads without joining but cannot post."""
    await svc.add_room(R1, {"adminlist": [U1]})
    s1 = await chat.client(svc, U1)
    assert await s1.call("roomGetAccessList", R1, "adminlist") == ["user1"]
    await expect_error(s1, "notJoined", "roomMessage", R1, M, args=["room1"])


async def test_b86_blacklisting_reaches_all_sockets_and_stops_delivery(chat, svc):
    """B86: blacklisting reaches all sockets and stops delivery."""
    await svc.add_room(R1, {"owner": U1})
    s1 = await joined_client(chat, svc, U1)
    s2 = await joined_client(chat, svc, U2)
    s3 = await chat.client(svc, U2)
    assert await s1.call("roomAddToList", R1, "blacklist", [U2]) is None
    assert await s2.notification("roomAccessRemoved") == [R1]
    assert await s3.notification("roomAccessRemoved") == [R1]
    assert await s1.call("roomMessage", R1, M) == 1
    assert (await s1.notification("roomMessage"))[1]["id"] == 1
    await s2.no_notification("roomMessage")
    await expect_error(s2, "notAllowed", "roomJoin", R1)


async def test_b87_list_notification_before_removal(chat):
    """B87: list notification before removal."""
    service = await chat.start(options={"enableAccessListsUpdates": True})
    await service.add_room(R1, {"owner": U1})
    s1 = await joined_client(chat, service, U1)
    s2 = await joined_client(chat, service, U2)
    assert await s1.call("roomAddToList", R1, "blacklist", [U2]) is None
    order = await wait_for_all(s2, ["roomAccessListAdded", "roomAccessRemoved"])
    relevant = [name for name in order if name in ("roomAccessListAdded", "roomAccessRemoved")]
    assert relevant == ["roomAccessListAdded", "roomAccessRemoved"]
    assert await s2.notification("roomAccessListAdded") == [R1, "blacklist", ["user2"]]
    assert await s2.notification("roomAccessRemoved") == [R1]


async def test_b88_reads_need_presence(chat, svc):
    """B88: reads need presence."""
    await svc.add_room(R1)
    s1 = await chat.client(svc, U1)
    await expect_error(s1, "notJoined", "roomGetOwner", R1, args=["room1"])
    await expect_error(s1, "notJoined", "roomHistoryInfo", R1, args=["room1"])
    await expect_error(s1, "notJoined", "roomUserSeen", R1, "user2", args=["room1"])


async def test_b215_opening_room_removes_blacklisted_former_owner(chat, svc):
    """B215: (Decision) the re-check on opening a room removes a present user who lacks access."""
    await svc.add_room(R1, {"owner": U1, "blacklist": [U1]})
    s1 = await joined_client(chat, svc, U1)
    await svc.change_room_owner(R1, U2)
    assert await userlist(svc) == {"user1"}
    assert await svc.exec_user_command(True, "roomSetWhitelistMode", R1, False) is None
    assert await s1.notification("roomAccessRemoved") == [R1]
    assert await userlist(svc) == set()


def test_the_read_rule_is_one_function_for_commands_and_history():
    """`is_reader`, used by roomHistoryGet's one-hop query and by the other
    reading commands (roomGetAccessList, roomGetOwner, roomHistoryInfo):
    an owner or an adminlist member reads without being present, anybody
    else only while present, and a missing caller never."""
    from rooms.models import Room
    from rooms.permissions import is_reader

    room = Room(owner=U1)
    assert is_reader(room, U1, set(), False)
    assert is_reader(room, U2, {"adminlist"}, False)
    assert is_reader(room, U2, set(), True)
    assert is_reader(room, U2, {"whitelist"}, True)
    assert not is_reader(room, U2, {"whitelist"}, False)
    assert not is_reader(room, None, set(), True)
    assert not is_reader(Room(owner=None), None, {"adminlist"}, True)
