"""Behaviour cases (docs/testing.md): joining, leaving, presence (B23-B40)."""
import asyncio

import pytest

from chatproject.common.clock import now_ms
from tests.client import RpcError
from tests.conftest import R1, R2, U1, U2

UPDATES = {"enableUserlistUpdates": True}


async def test_b23_join_and_leave_echo_between_sockets(chat, svc):
    """B23: join and leave echo between sockets."""
    await svc.add_room(R1)
    s1 = await chat.client(svc, U1)
    s2 = await chat.client(svc, U1)
    assert await s2.call("roomJoin", R1) == 1
    assert await s1.notification("roomJoinedEcho") == [R1, s2.socket_id, 1]
    await s2.no_notification("roomJoinedEcho")
    assert await s2.call("roomLeave", R1) == 0
    assert await s1.notification("roomLeftEcho") == [R1, s2.socket_id, 0]


async def test_b24_second_socket_join_and_leave_counts(chat, svc):
    """B24: second socket join and leave counts."""
    await svc.add_room(R1)
    s1 = await chat.client(svc, U1)
    assert await s1.call("roomJoin", R1) == 1
    s2 = await chat.client(svc, U1)
    assert await s2.call("roomJoin", R1) == 2
    assert await s1.notification("roomJoinedEcho") == [R1, s2.socket_id, 2]
    assert await s2.call("roomLeave", R1) == 1
    assert await s1.notification("roomLeftEcho") == [R1, s2.socket_id, 1]


async def test_b25_disconnect_sends_room_left_echo(chat, svc):
    """B25: disconnect sends room left echo."""
    await svc.add_room(R1)
    s3 = await chat.client(svc, U1)
    s1 = await chat.client(svc, U1)
    s2 = await chat.client(svc, U1)
    assert await s1.call("roomJoin", R1) == 1
    assert await s2.call("roomJoin", R1) == 2
    await s2.close()
    assert await s1.notification("roomLeftEcho") == [R1, s2.socket_id, 1]
    assert await s3.notification("roomLeftEcho") == [R1, s2.socket_id, 1]
    await s1.close()
    assert await s3.notification("roomLeftEcho") == [R1, s1.socket_id, 0]


async def test_b26_disconnect_announces_user_left(chat):
    """B26: disconnect announces user left."""
    service = await chat.start(options=UPDATES)
    await service.add_room(R1)
    s1 = await chat.client(service, U1)
    s2 = await chat.client(service, U2)
    assert await s1.call("roomJoin", R1) == 1
    assert await s2.call("roomJoin", R1) == 1
    await s2.close()
    assert await s1.notification("roomUserLeft") == [R1, "user2"]
    assert await s1.call("roomGetAccessList", R1, "userlist") == ["user1"]


async def test_b27_leave_without_join_sends_nothing(chat):
    """B27: leave without join sends nothing."""
    service = await chat.start(options=UPDATES)
    await service.add_room(R1)
    s1 = await chat.client(service, U1)
    s2 = await chat.client(service, U2)
    assert await s1.call("roomJoin", R1) == 1
    assert await s2.call("roomLeave", R1) == 0
    await s1.no_notification("roomLeftEcho")
    await s1.no_notification("roomUserLeft", wait=0)


async def test_b28_userlist_follows_joins_and_leaves(chat, svc):
    """B28: userlist follows joins and leaves."""
    await svc.add_room(R1)
    s1 = await chat.client(svc, U1)
    s2 = await chat.client(svc, U2)
    assert await s1.call("roomJoin", R1) == 1
    assert await s2.call("roomJoin", R1) == 1
    assert set(await s1.call("roomGetAccessList", R1, "userlist")) == {"user1", "user2"}
    assert await s2.call("roomLeave", R1) == 0
    assert await s1.call("roomGetAccessList", R1, "userlist") == ["user1"]


async def test_b29_user_joined_and_left_notifications(chat):
    """B29: user joined and left notifications."""
    service = await chat.start(options=UPDATES)
    await service.add_room(R1)
    s1 = await chat.client(service, U1)
    s2 = await chat.client(service, U2)
    assert await s1.call("roomJoin", R1) == 1
    assert await s2.call("roomJoin", R1) == 1
    assert await s1.notification("roomUserJoined") == [R1, "user2"]
    assert await s2.call("roomLeave", R1) == 0
    assert await s1.notification("roomUserLeft") == [R1, "user2"]


async def test_b30_repeated_join_changes_nothing(chat, svc):
    """B30: repeated join changes nothing."""
    await svc.add_room(R1, {"enableUserlistUpdates": True})
    s1 = await chat.client(svc, U1)
    s3 = await chat.client(svc, U2)
    assert await s1.call("roomJoin", R1) == 1
    assert await s3.call("roomJoin", R1) == 1
    s2 = await chat.client(svc, U1)
    assert await s1.call("roomJoin", R1) == 1
    await asyncio.gather(s3.no_notification("roomUserJoined"), s2.no_notification("roomJoinedEcho"))


async def test_b31_leave_of_unjoined_socket_no_user_left(chat, svc):
    """B31: leave of unjoined socket no user left."""
    await svc.add_room(R1, {"enableUserlistUpdates": True})
    s2 = await chat.client(svc, U1)
    s3 = await chat.client(svc, U2)
    assert await s3.call("roomJoin", R1) == 1
    assert await s2.call("roomLeave", R1) == 0
    await s3.no_notification("roomUserLeft")


async def test_b32_user_left_only_when_last_socket_leaves(chat):
    """B32: user left only when last socket leaves."""
    service = await chat.start(options=UPDATES)
    await service.add_room(R1)
    s1 = await chat.client(service, U1)
    s2 = await chat.client(service, U1)
    s3 = await chat.client(service, U2)
    assert await s1.call("roomJoin", R1) == 1
    assert await s2.call("roomJoin", R1) == 2
    assert await s3.call("roomJoin", R1) == 1
    assert await s2.call("roomLeave", R1) == 1
    assert await s1.notification("roomLeftEcho") == [R1, s2.socket_id, 1]
    await s3.no_notification("roomUserLeft")
    assert set(await s1.call("roomGetAccessList", R1, "userlist")) == {"user1", "user2"}


async def test_b33_joiner_gets_no_user_joined(chat):
    """B33: joiner gets no user joined."""
    service = await chat.start(options=UPDATES)
    await service.add_room(R1)
    s1 = await chat.client(service, U1)
    assert await s1.call("roomJoin", R1) == 1
    await s1.no_notification("roomUserJoined")


async def test_b34_list_own_sockets(chat, svc):
    """B34: list own sockets."""
    await svc.add_room(R1)
    await svc.add_room(R2)
    s1 = await chat.client(svc, U1)
    s2 = await chat.client(svc, U1)
    s3 = await chat.client(svc, U1)
    assert await s1.call("roomJoin", R1) == 1
    assert await s1.call("roomJoin", R2) == 1
    assert await s2.call("roomJoin", R1) == 2
    result = await s2.call("listOwnSockets")
    assert set(result) == {s1.socket_id, s2.socket_id, s3.socket_id}
    assert set(result[s1.socket_id]) == {R1, R2} and len(result[s1.socket_id]) == 2
    assert result[s2.socket_id] == [R1]
    assert result[s3.socket_id] == []


async def test_b35_user_seen_timestamps(chat, svc):
    """B35: user seen timestamps."""
    start = now_ms()
    await svc.add_room(R1)
    s1 = await chat.client(svc, U1)
    s2 = await chat.client(svc, U2)
    assert await s1.call("roomJoin", R1) == 1
    assert await s2.call("roomJoin", R1) == 1
    seen = await s1.call("roomUserSeen", R1, "user2")
    assert seen["joined"] is True
    t1 = seen["timestamp"]
    assert isinstance(t1, int) and start <= t1 <= start + 2000
    assert await s2.call("roomLeave", R1) == 0
    seen = await s1.call("roomUserSeen", R1, "user2")
    assert seen["joined"] is False
    t2 = seen["timestamp"]
    assert isinstance(t2, int) and t1 <= t2 <= start + 2000


async def test_b36_user_never_seen(chat, svc):
    """B36: user never seen."""
    await svc.add_room(R1)
    s1 = await chat.client(svc, U1)
    assert await s1.call("roomJoin", R1) == 1
    assert await s1.call("roomUserSeen", R1, "user2") == {"joined": False, "timestamp": None}


async def test_b37_second_socket_join_keeps_seen_timestamp(chat, svc):
    """B37: second socket join keeps seen timestamp."""
    await svc.add_room(R1)
    s1 = await chat.client(svc, U1)
    assert await s1.call("roomJoin", R1) == 1
    first = await s1.call("roomUserSeen", R1, "user1")
    assert first["joined"] is True and isinstance(first["timestamp"], int)
    await asyncio.sleep(0.05)
    s2 = await chat.client(svc, U1)
    assert await s2.call("roomJoin", R1) == 2
    assert await s1.call("roomUserSeen", R1, "user1") == first


async def test_b38_room_notifications_info(chat, svc):
    """B38: room notifications info."""
    await svc.add_room(R1, {"enableAccessListsUpdates": False, "enableUserlistUpdates": True})
    s1 = await chat.client(svc, U1)
    assert await s1.call("roomJoin", R1) == 1
    assert await s1.call("roomNotificationsInfo", R1) == {
        "enableAccessListsUpdates": False,
        "enableUserlistUpdates": True,
    }


async def test_b39_join_and_leave_unknown_room(chat, svc):
    """B39: join and leave unknown room."""
    s1 = await chat.client(svc, U1)
    for method in ("roomJoin", "roomLeave"):
        with pytest.raises(RpcError) as info:
            await s1.call(method, "nope")
        assert info.value.code == "noRoom"
        assert info.value.args_ == ["nope"]


async def test_b40_leave_of_unjoined_socket_counts_other_sockets(chat, svc):
    """B40: leave of unjoined socket counts other sockets."""
    await svc.add_room(R1)
    s1 = await chat.client(svc, U1)
    s2 = await chat.client(svc, U1)
    assert await s1.call("roomJoin", R1) == 1
    assert await s2.call("roomLeave", R1) == 1
    await s1.no_notification("roomLeftEcho")
