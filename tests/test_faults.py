"""Behaviour cases (docs/testing.md): failures and recovery (docs/testing.md, Fault injection),
plus the (user, room) lock (docs/hooks-and-python-api.md, Locks).

A failure is injected by replacing one named operation of one service (a
presence / room store op, or a hub channel-layer op) with a failing double;
pytest's monkeypatch restores it (tests "restore" explicitly with
`monkeypatch.undo()` where the case continues afterwards).
"""
import asyncio

import pytest
from channels.testing import WebsocketCommunicator

from chatproject.asgi import build_application
from chatproject.service.hooks import Hooks
from tests.client import RpcError
from tests.conftest import M, R1, U1, U2, eventually, userlist


class Injected(RuntimeError):
    pass


def failing(name="injected"):
    async def boom(*args, **kwargs):
        raise Injected(name)

    return boom


def failing_for_groups(original, prefix):
    """A hub layer op (group name first) that fails only for groups with `prefix`."""

    async def op(group, *args, **kwargs):
        if group.startswith(prefix):
            raise Injected(f"injected failure for {group}")
        return await original(group, *args, **kwargs)

    return op


async def own_sockets(svc, user=U1):
    return {sid: sorted(rooms) for sid, rooms in (await svc.exec_user_command(user, "listOwnSockets")).items()}


def events(chat, name):
    return chat.events_named(name)


async def wait_event(chat, name, timeout=3.0):
    async def present():
        return events(chat, name)

    return await eventually(present, timeout)


def assert_single_event(chat, name, info):
    found = events(chat, name)
    assert len(found) == 1, found
    error, got = found[0]
    assert isinstance(error, Exception)
    assert got == info


# B188 - B191: joins and logins that fail half-way.


async def test_b188_room_group_add_failure_rolls_back_join(chat, svc, monkeypatch):
    """B188: room group add failure rolls back join."""
    await svc.add_room(R1)
    s1 = await chat.client(svc, U1)
    monkeypatch.setattr(svc.hub, "group_add", failing_for_groups(svc.hub.group_add, "chat.room."))
    with pytest.raises(RpcError) as error:
        await s1.call("roomJoin", R1)
    assert error.value.code == "internalError"
    assert await userlist(svc) == []
    assert await own_sockets(svc) == {s1.socket_id: []}


async def test_b189_user_group_add_failure_rejects_login(chat, svc, monkeypatch):
    """B189: user group add failure rejects login."""
    monkeypatch.setattr(svc.hub, "group_add", failing_for_groups(svc.hub.group_add, "chat.user."))
    s1 = await chat.client(svc, U1, expect_login=False)
    assert s1.login["method"] == "loginRejected"
    assert await s1.wait_closed() == 4403
    assert await own_sockets(svc) == {}


async def test_b190_connection_closed_right_after_socket_recorded(chat, svc, monkeypatch):
    """B190: connection closed right after socket recorded."""
    communicator = WebsocketCommunicator(build_application(svc), "/ws/chat/?user=" + U1)
    original = svc.messaging.add_login
    seen = {}

    async def add_then_close(user_name, socket_id, *args, **kwargs):
        result = await original(user_name, socket_id, *args, **kwargs)
        socket = svc.transport.sockets[socket_id]
        await communicator.send_input({"type": "websocket.disconnect", "code": 1001})
        for _ in range(200):
            if socket.closed:
                break
            await asyncio.sleep(0.01)
        seen["recorded"] = await svc.get_instance_sockets()
        seen["closed"] = socket.closed
        return result

    monkeypatch.setattr(svc.messaging, "add_login", add_then_close)
    connected, _ = await communicator.connect(timeout=5)
    assert connected
    await eventually(lambda: asyncio.sleep(0, "closed" in seen))
    assert seen["closed"] and list(seen["recorded"].values()) == [U1]

    async def cleaned():
        return await own_sockets(svc) == {} and await svc.get_instance_sockets() == {}

    await eventually(cleaned)
    assert await own_sockets(svc) == {}
    try:
        await communicator.wait(timeout=2)
    except Exception:
        pass


async def test_b191_socket_not_connected_in_store_is_invalid_socket(chat, svc, monkeypatch):
    """B191: socket not connected in store is invalid socket."""
    await svc.add_room(R1)
    s1 = await chat.client(svc, U1)

    async def not_connected(*args, **kwargs):
        return False

    monkeypatch.setattr(svc.presence, "socket_connected", not_connected)
    monkeypatch.setattr(svc.presence, "userlist_add", failing("userlist_add must not run"))
    monkeypatch.setattr(svc.presence, "attach_socket", failing("attach_socket must not run"))
    with pytest.raises(RpcError) as error:
        await s1.call("roomJoin", R1)
    assert error.value.code == "invalidSocket"
    assert error.value.args_ == [s1.socket_id]
    assert await userlist(svc) == []
    assert await own_sockets(svc) == {s1.socket_id: []}
    assert events(chat, "storeConsistencyFailure") == []


# B192 - B195: start-up and shutdown failures.


async def test_b192_on_start_raises(chat):
    """B192: on start raises."""
    failure = RuntimeError("on_start failed")

    class StartFails(Hooks):
        async def on_start(self, server):
            raise failure

    service = chat.service(hooks=StartFails())
    with pytest.raises(RuntimeError):
        await service.start()
    assert [args for s, event, args in chat.events if s is service and event == "closed"] == [(failure,)]
    assert events(chat, "ready") == []
    client = await chat.client(service, U1, expect_login=False)
    assert client.close_code is not None
    assert client.login is None
    assert events(chat, "ready") == []


async def test_b193_close_connections_fails_without_on_close(chat, svc, monkeypatch):
    """B193: close connections fails without on close."""
    await chat.client(svc, U1)
    monkeypatch.setattr(svc, "_close_connections", failing("closing connections failed"))
    with pytest.raises(Exception) as raised:
        await svc.close()
    closed = events(chat, "closed")
    assert len(closed) == 1
    assert isinstance(closed[0][0], Exception)
    assert closed[0][0] is raised.value


async def test_b194_on_close_raises(chat):
    """B194: on close raises."""
    received = []
    failure = RuntimeError("on_close failed")

    class CloseFails(Hooks):
        async def on_close(self, server, error):
            received.append(error)
            raise failure

    service = await chat.start(hooks=CloseFails())
    await chat.client(service, U1)
    with pytest.raises(RuntimeError) as raised:
        await service.close()
    assert raised.value is failure
    assert received == [None]
    assert [args for _, event, args in chat.events if event == "closed"] == [(failure,)]


async def test_b195_close_connections_fails_and_on_close_reraises(chat, monkeypatch):
    """B195: close connections fails and on close reraises."""
    received = []

    class Reraise(Hooks):
        async def on_close(self, server, error):
            received.append(error)
            raise error

    service = await chat.start(hooks=Reraise())
    await chat.client(service, U1)
    monkeypatch.setattr(service, "_close_connections", failing("closing connections failed"))
    with pytest.raises(Exception) as raised:
        await service.close()
    assert len(received) == 1 and received[0] is not None
    assert raised.value is received[0]
    closed = events(chat, "closed")
    assert len(closed) == 1 and closed[0][0] is received[0]


# B196 - B203: presence store failures and the repair operations.


async def test_b196_attach_and_rollback_detach_fail(chat, svc, monkeypatch):
    """B196: attach and rollback detach fail."""
    await svc.add_room(R1)
    s1 = await chat.client(svc, U1)
    monkeypatch.setattr(svc.presence, "attach_socket", failing("attach_socket"))
    monkeypatch.setattr(svc.presence, "detach_socket", failing("detach_socket"))
    with pytest.raises(RpcError) as error:
        await s1.call("roomJoin", R1)
    assert error.value.code == "internalError"
    assert_single_event(chat, "storeConsistencyFailure", {"user_name": U1, "room_name": R1, "op_type": "userRooms"})
    assert await userlist(svc) == [U1]  # the rollback could not complete: the user stays listed
    monkeypatch.undo()
    assert await svc.room_state_sync(R1) is None
    assert await userlist(svc) == []
    assert await own_sockets(svc) == {s1.socket_id: []}


async def test_b197_userlist_remove_fails_on_leave(chat, svc, monkeypatch):
    """B197: userlist remove fails on leave."""
    await svc.add_room(R1)
    s1 = await chat.client(svc, U1)
    assert await s1.call("roomJoin", R1) == 1
    monkeypatch.setattr(svc.presence, "userlist_remove", failing("userlist_remove"))
    assert await s1.call("roomLeave", R1) == 0
    assert_single_event(chat, "storeConsistencyFailure", {"user_name": U1, "room_name": R1, "op_type": "roomUserlist"})
    assert await userlist(svc) == [U1]
    monkeypatch.undo()
    await svc.room_state_sync(R1)
    assert await own_sockets(svc) == {s1.socket_id: []}
    assert await userlist(svc) == []


async def test_b198_remove_socket_records_fails_on_disconnect(chat, svc, monkeypatch):
    """B198: remove socket records fails on disconnect."""
    await svc.add_room(R1)
    s1 = await chat.client(svc, U1)
    sid1 = s1.socket_id
    assert await s1.call("roomJoin", R1) == 1
    monkeypatch.setattr(svc.presence, "remove_socket_records", failing("remove_socket_records"))
    await s1.close()
    await wait_event(chat, "storeConsistencyFailure")
    assert_single_event(chat, "storeConsistencyFailure", {"user_name": U1, "id": sid1, "op_type": "userSockets"})
    assert await own_sockets(svc) == {sid1: []}
    monkeypatch.undo()
    await svc.user_state_sync(U1)
    assert await own_sockets(svc) == {}


async def test_b199_detach_user_from_room_fails_on_removal(chat, svc, monkeypatch):
    """B199: detach user from room fails on removal."""
    await svc.add_room(R1)
    s1 = await chat.client(svc, U1)
    assert await s1.call("roomJoin", R1) == 1
    monkeypatch.setattr(svc.presence, "detach_user_from_room", failing("detach_user_from_room"))
    assert await svc.exec_user_command(True, "roomAddToList", R1, "blacklist", [U1]) is None
    assert_single_event(chat, "storeConsistencyFailure", {"user_name": U1, "room_name": R1, "op_type": "roomUserlist"})
    await s1.no_notification("roomAccessRemoved")
    assert await userlist(svc) == []
    assert await own_sockets(svc) == {s1.socket_id: [R1]}  # the socket detach is what failed
    monkeypatch.undo()
    await svc.user_state_sync(U1)
    assert await own_sockets(svc) == {s1.socket_id: []}
    assert await userlist(svc) == []


async def test_b200_check_access_fails_during_list_change(chat, svc, monkeypatch):
    """B200: check access fails during list change."""
    await svc.add_room(R1)
    s1 = await chat.client(svc, U1)
    assert await s1.call("roomJoin", R1) == 1
    monkeypatch.setattr(svc.rooms, "check_access", failing("check_access"))
    assert await svc.exec_user_command(True, "roomAddToList", R1, "blacklist", [U1]) is None
    assert_single_event(chat, "storeConsistencyFailure", {"user_name": U1, "room_name": R1, "op_type": "roomUserlist"})
    assert await userlist(svc) == [U1]  # treated as not losing access
    monkeypatch.undo()
    await svc.room_state_sync(R1)
    assert await userlist(svc) == []


async def test_b201_group_discard_fails_on_leave(chat, svc, monkeypatch):
    """B201: group discard fails on leave."""
    await svc.add_room(R1)
    s1 = await chat.client(svc, U1)
    assert await s1.call("roomJoin", R1) == 1
    monkeypatch.setattr(svc.hub, "group_discard", failing("group_discard"))
    assert await s1.call("roomLeave", R1) == 0
    assert_single_event(
        chat,
        "transportConsistencyFailure",
        {"user_name": U1, "room_name": R1, "id": s1.socket_id, "op_type": "transportChannel"},
    )
    assert await userlist(svc) == []
    assert await own_sockets(svc) == {s1.socket_id: []}


async def test_b202_room_state_sync_keeps_consistent_room(chat, svc):
    """B202: room state sync keeps consistent room."""
    await svc.add_room(R1)
    s1 = await chat.client(svc, U1)
    s2 = await chat.client(svc, U2)
    assert await s1.call("roomJoin", R1) == 1
    assert await s2.call("roomJoin", R1) == 1
    assert await svc.room_state_sync(R1) is None
    assert await userlist(svc) == [U1, U2]
    await asyncio.gather(s1.no_notification("roomAccessRemoved"), s2.no_notification("roomAccessRemoved"))
    assert await own_sockets(svc, U1) == {s1.socket_id: [R1]}
    assert await own_sockets(svc, U2) == {s2.socket_id: [R1]}


async def test_b203_user_state_sync_repairs_rooms_of_any_socket(chat, svc, monkeypatch):
    """B203: user state sync repairs rooms of any socket."""
    await svc.add_room(R1)
    s1 = await chat.client(svc, U1)
    s2 = await chat.client(svc, U1)
    assert await s1.call("roomJoin", R1) == 1
    monkeypatch.setattr(svc.presence, "detach_user_from_room", failing("detach_user_from_room"))
    assert await svc.exec_user_command(True, "roomAddToList", R1, "blacklist", [U1]) is None
    monkeypatch.undo()
    await svc.user_state_sync(U1)
    assert await own_sockets(svc) == {s1.socket_id: [], s2.socket_id: []}
    assert await s1.notification("roomAccessRemoved") == [R1]
    assert await s2.notification("roomAccessRemoved") == [R1]


# B226, B227: the channel layer fails.


async def test_b226_room_publish_fails_after_commit(chat, svc, monkeypatch):
    """B226: room publish fails after commit."""
    await svc.add_room(R1)
    s1 = await chat.client(svc, U1)
    s2 = await chat.client(svc, U2)
    assert await s1.call("roomJoin", R1) == 1
    assert await s2.call("roomJoin", R1) == 1
    monkeypatch.setattr(svc.hub, "group_send", failing_for_groups(svc.hub.group_send, "chat.room."))
    assert await s1.call("roomMessage", R1, M) == 1
    assert_single_event(chat, "transportConsistencyFailure", {"user_name": U1, "room_name": R1, "op_type": "publish"})
    await s2.no_notification("roomMessage")
    monkeypatch.undo()
    history = await s2.call("roomHistoryGet", R1, 0, 10)
    assert [message["id"] for message in history] == [1]


async def test_b227_unreachable_channel_layer_refuses_before_commit(chat, monkeypatch):
    """B227: Every operation of the channel layer fails (as when its server is
    unreachable); the instance notices (its heartbeat probes the layer) and
    refuses state changes with `unavailable` until the layer is back."""
    svc = await chat.start(options={"heartbeatRate": 50})
    await svc.add_room(R1)
    s1 = await chat.client(svc, U1)
    assert await s1.call("roomJoin", R1) == 1
    layer = chat.layer
    for op in ("send", "receive", "group_add", "group_discard", "group_send", "new_channel"):
        monkeypatch.setattr(layer, op, failing(f"channel layer unreachable ({op})"))

    async def noticed():
        return not svc.hub.available

    await eventually(noticed, timeout=3)
    with pytest.raises(RpcError) as error:
        await s1.call("roomMessage", R1, M)
    assert error.value.code == "unavailable"
    assert error.value.rpc_code == -32000
    monkeypatch.undo()
    info = await s1.call("roomHistoryInfo", R1)
    assert info["lastMessageId"] == 0

    async def back():
        return svc.hub.available

    await eventually(back, timeout=3)
    assert await s1.call("roomMessage", R1, M) == 1
    assert (await s1.notification("roomMessage"))[1]["id"] == 1


# Beyond the checklist: the (user, room) lock serialises one user's joins and
# leaves from several sockets (docs/hooks-and-python-api.md, Locks).


class Overlap(Hooks):
    """Records how many join/leave hooks of one (user, room) run at once."""

    def __init__(self):
        self.inside = 0
        self.most = 0
        self.calls = 0

    async def _enter(self):
        self.inside += 1
        self.calls += 1
        self.most = max(self.most, self.inside)
        await asyncio.sleep(0.002)
        self.inside -= 1

    async def on_join(self, server, data):
        await self._enter()

    async def on_leave(self, server, data):
        await self._enter()


async def test_lock_serialises_one_users_joins_and_leaves(chat):
    hooks = Overlap()
    svc = await chat.start(hooks=hooks)
    await svc.add_room(R1)
    sockets = [await chat.client(svc, U1) for _ in range(5)]

    async def churn(index, client):
        for _ in range(3):
            joined = await client.call("roomJoin", R1, timeout=30)
            assert 1 <= joined <= 5
            left = await client.call("roomLeave", R1, timeout=30)
            assert 0 <= left <= 4
        if index % 2 == 0:
            assert 1 <= await client.call("roomJoin", R1, timeout=30) <= 5

    await asyncio.gather(*(churn(i, c) for i, c in enumerate(sockets)))
    assert hooks.most == 1
    assert hooks.calls == 5 * 3 * 2 + 3
    expected = {c.socket_id: ([R1] if i % 2 == 0 else []) for i, c in enumerate(sockets)}
    assert await own_sockets(svc) == expected
    assert await userlist(svc) == [U1]
    # Everyone leaves: the user leaves the userlist exactly when the last socket does.
    for client in sockets[::2]:
        await client.call("roomLeave", R1)
    assert await userlist(svc) == []
    assert await own_sockets(svc) == {c.socket_id: [] for c in sockets}
    seen = await svc.exec_user_command(True, "roomUserSeen", R1, U1)
    assert seen["joined"] is False and isinstance(seen["timestamp"], int)


async def test_lock_serialises_concurrent_joins_and_leaves_without_hooks(chat, svc):
    """The same without hooks: the userlist and the memberships agree at the end."""
    await svc.add_room(R1)
    sockets = [await chat.client(svc, U1) for _ in range(5)]

    async def churn(index, client):
        for _ in range(4):
            await client.call("roomJoin", R1, timeout=30)
            await client.call("roomLeave", R1, timeout=30)
        if index == 4:
            await client.call("roomJoin", R1, timeout=30)

    await asyncio.gather(*(churn(i, c) for i, c in enumerate(sockets)))
    owned = await own_sockets(svc)
    assert owned == {c.socket_id: ([R1] if i == 4 else []) for i, c in enumerate(sockets)}
    assert await userlist(svc) == [U1]
    assert await sockets[4].call("roomLeave", R1) == 0
    assert await userlist(svc) == []
