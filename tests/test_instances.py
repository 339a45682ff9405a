"""Behaviour cases (docs/testing.md): several instances, in one process.

Two services A and B (`chat.start()` twice) share the database and the
channel layer. Also automatic recovery of a dead instance (docs/hooks-and-python-api.md, Recovery).
"""
import asyncio

from tests.conftest import R1, U1, U2, U3, eventually, userlist


async def collect(client, name, wait=0.5):
    """Every notification `name` buffered or arriving within `wait` (taken)."""
    await client.no_notification("__none__", wait=wait)  # pumps the socket for `wait`
    found = [params for method, params in client.notifications if method == name]
    client.notifications = [(m, p) for m, p in client.notifications if m != name]
    return found


async def test_b204_echoes_across_instances(chat):
    """B204: echoes across instances."""
    a = await chat.start()
    b = await chat.start()
    s1 = await chat.client(a, U1)
    s2 = await chat.client(b, U1)
    assert await s1.notification("socketConnectEcho") == [s2.socket_id, 2]
    await a.add_room(R1)
    assert await s2.call("roomJoin", R1) == 1
    assert await s1.notification("roomJoinedEcho") == [R1, s2.socket_id, 1]


async def test_b205_removal_reaches_sockets_on_both_instances(chat):
    """B205: removal reaches sockets on both instances."""
    a = await chat.start()
    b = await chat.start()
    await a.add_room(R1, {"owner": U2})
    s1 = await chat.client(a, U1)
    s2 = await chat.client(b, U1)
    s3 = await chat.client(a, U2)
    for client in (s1, s2, s3):
        assert await client.call("roomJoin", R1) >= 1
    assert await s3.call("roomAddToList", R1, "blacklist", [U1]) is None
    assert await s1.notification("roomAccessRemoved") == [R1]
    assert await s2.notification("roomAccessRemoved") == [R1]
    assert await s3.call("roomMessage", R1, {"textMessage": "hello"}) == 1
    room, message = await s3.notification("roomMessage")
    assert room == R1 and message["textMessage"] == "hello"
    await asyncio.gather(s1.no_notification("roomMessage"), s2.no_notification("roomMessage"))
    assert await userlist(b) == [U2]


async def test_b206_disconnect_user_sockets_on_every_instance(chat):
    """B206: disconnect user sockets on every instance."""
    a = await chat.start()
    b = await chat.start()
    s1 = await chat.client(a, U1)
    s2 = await chat.client(b, U1)
    other = await chat.client(b, U2)
    assert await a.disconnect_user_sockets(U1) is None
    assert await s1.wait_closed() == 1000
    assert await s2.wait_closed() == 1000
    assert other.close_code is None
    # As daphne does after a server-side close, the connections then report their disconnect.
    for client in (s1, s2):
        await client.communicator.send_input({"type": "websocket.disconnect", "code": 1000})

    async def gone():
        return await a.exec_user_command(U1, "listOwnSockets") == {}

    await eventually(gone)


async def test_b207_closing_b_runs_disconnects_seen_from_a(chat):
    """B207: closing b runs disconnects seen from a."""
    a = await chat.start(options={"enableUserlistUpdates": True})
    b = await chat.start(options={"enableUserlistUpdates": True})
    await a.add_room(R1)
    s1 = await chat.client(a, U1)
    s2 = await chat.client(a, U2)
    s3 = await chat.client(b, U2)
    s4 = await chat.client(b, U2)
    s5 = await chat.client(b, U3)
    for client in (s1, s2, s3, s4, s5):
        assert await client.call("roomJoin", R1) >= 1
    s1.notifications.clear()
    s2.notifications.clear()
    await b.close()
    first = await s2.notification("roomLeftEcho")
    second = await s2.notification("roomLeftEcho")
    assert {first[1], second[1]} == {s3.socket_id, s4.socket_id}
    assert first[0] == second[0] == R1
    assert first[2] == 2 and second[2] == 1
    assert await s1.notification("roomUserLeft") == [R1, U3]
    assert await s2.notification("roomUserLeft") == [R1, U3]
    assert await collect(s1, "roomUserLeft") == []  # in particular no roomUserLeft(r1, user2)
    assert await collect(s2, "roomUserLeft") == []
    assert list(await a.exec_user_command(U2, "listOwnSockets")) == [s2.socket_id]
    assert await a.exec_user_command(U3, "listOwnSockets") == {}
    assert sorted(await s1.call("roomGetAccessList", R1, "userlist")) == [U1, U2]
    for client in (s3, s4, s5):
        assert await client.wait_closed() == 4001


async def test_b208_instance_recovery_of_a_stopped_instance(chat):
    """B208: instance recovery of a stopped instance."""
    a = await chat.start(options={"autoRecovery": False})
    b = await chat.start(options={"autoRecovery": False})
    await a.add_room(R1)
    s1 = await chat.client(a, U1)
    assert await s1.call("roomJoin", R1) == 1
    s2 = await chat.client(a, U2)
    a.stop_heartbeat()
    assert sorted((await b.get_instance_sockets(a.instance_uid)).values()) == [U1, U2]
    assert await b.instance_recovery(a.instance_uid) is None
    assert await b.exec_user_command(U1, "listOwnSockets") == {}
    assert await b.exec_user_command(U2, "listOwnSockets") == {}
    assert await b.exec_user_command(True, "roomGetAccessList", R1, "userlist") == []
    assert await b.get_instance_sockets(a.instance_uid) == {}
    assert s2.close_code is None  # recovery does not close the (presumed dead) sockets


async def test_b209_recovery_of_unknown_instance_is_a_no_op(chat, svc):
    """B209: recovery of unknown instance is a no op."""
    await svc.add_room(R1)
    s1 = await chat.client(svc, U1)
    s2 = await chat.client(svc, U1)
    assert await s1.call("roomJoin", R1) == 1
    before = await svc.exec_user_command(U1, "listOwnSockets")
    registry = await svc.get_instance_sockets()
    assert await svc.instance_recovery("unknown") is None
    assert await svc.exec_user_command(U1, "listOwnSockets") == before
    assert await svc.get_instance_sockets() == registry
    assert await userlist(svc) == [U1]
    assert await svc.get_instance_heartbeat() is not None
    for name in ("roomLeftEcho", "socketDisconnectEcho", "roomAccessRemoved"):
        assert await collect(s2, name, wait=0.2) == []


async def test_auto_recovery_of_a_dead_instance(chat):
    """Automatic recovery (docs/hooks-and-python-api.md, Recovery): a live instance recovers a dead one."""
    options = {"heartbeatRate": 100, "heartbeatTimeout": 500, "autoRecovery": True, "enableUserlistUpdates": True}
    a = await chat.start(options=options)
    b = await chat.start(options=options)
    await a.add_room(R1)
    s1 = await chat.client(a, U1)
    s2 = await chat.client(b, U2)
    assert await s1.call("roomJoin", R1) == 1
    assert await s2.call("roomJoin", R1) == 1
    assert await userlist(b) == [U1, U2]
    assert await b.get_instance_heartbeat(a.instance_uid) is not None
    # A dies: no more heartbeats, and its sockets vanish without a disconnect procedure.
    a.stop_heartbeat()
    for socket_id in list(a.hub.sockets):
        a.hub.remove_socket_now(socket_id)
    assert await s2.notification("roomUserLeft", timeout=2.5) == [R1, U1]

    async def recovered():
        return await b.get_instance_heartbeat(a.instance_uid) is None

    await eventually(recovered, timeout=2.5)
    assert await userlist(b) == [U2]
    assert await b.exec_user_command(U1, "listOwnSockets") == {}
    assert await b.get_instance_sockets(a.instance_uid) == {}
    assert await b.get_instance_heartbeat() is not None  # B itself is alive
    assert list(await b.exec_user_command(U2, "listOwnSockets")) == [s2.socket_id]
