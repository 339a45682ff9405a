"""Scale-out and failure recovery end to end: several daphne processes on one
database and one Redis (docs/deployment.md; docs/hooks-and-python-api.md,
Recovery; behaviour cases B204-B209 of docs/testing.md).

Every test here runs in both CI runs: without ``REDIS_URL`` the clusters
use the machine's Redis at 6379 under a prefix of their own, and the
processes share one SQLite file (WAL).
"""
import asyncio
import contextlib
import json
import random
import signal
import time

import pytest

from .harness import Cluster, add_room, multi_process_redis_url, rest, staff_token, wait_until, ws_client

pytestmark = pytest.mark.e2e

FEATURES = {
    "CHAT_ENABLE_DIRECT_MESSAGES": "true",
    "CHAT_ENABLE_USERLIST_UPDATES": "true",
    "CHAT_ENABLE_ACCESS_LISTS_UPDATES": "true",
}

STATE_SCRIPT = """
import json
from presence.models import Connection, Instance, Membership, RoomUser
print(json.dumps({
    "instances": sorted(Instance.objects.values_list("uid", flat=True)),
    "sockets": {c.socket_id: [c.user_name, c.instance_uid] for c in Connection.objects.all()},
    "memberships": sorted([m.connection_id, m.user_name, m.room.name] for m in Membership.objects.select_related("room")),
    "userlists": sorted([r.room.name, r.user_name] for r in RoomUser.objects.select_related("room")),
}))
"""


def presence_state(server):
    """The presence rows as the database holds them, read by another process."""
    result = server.manage("shell", "-c", STATE_SCRIPT)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def get_instances(server, token):
    status, body = rest(server, token, "GET", "/api/instances/", timeout=10)
    assert status == 200, body
    return body


async def connect(stack, server, user):
    client = await stack.enter_async_context(ws_client(server, user=user))
    assert client.user == user, client.login
    return client


async def expect(client, name, params, timeout=5):
    got = await client.next_notification(name, timeout=timeout)
    assert got == params, (name, got)
    return got


async def expect_message(client, room, message_id, text, author):
    room_name, message = await client.next_notification("roomMessage")
    assert (room_name, message["id"], message["textMessage"], message["author"]) == (
        room, message_id, text, author
    )


async def burst(client, calls, timeout=60):
    """Send every request at once, then collect the replies in request order:
    each is ("ok", result) or ("error", data.code)."""
    first = 10_000 + len(client.others) + random.randrange(1_000_000)
    ids = list(range(first, first + len(calls)))
    for req_id, (method, *params) in zip(ids, calls):
        await client.send_json({"jsonrpc": "2.0", "id": req_id, "method": method, "params": params})
    replies = {}
    deadline = asyncio.get_running_loop().time() + timeout
    while len(replies) < len(ids):
        left = max(0.0, deadline - asyncio.get_running_loop().time())
        msg = await client.recv_json(left)
        if isinstance(msg, dict) and msg.get("id") in ids and "method" not in msg:
            replies[msg["id"]] = ("error", msg["error"]["data"]["code"]) if "error" in msg else ("ok", msg["result"])
        else:
            client._stash(msg)
    return [replies[i] for i in ids]


async def drain(client, quiet=1.0):
    """Buffer whatever arrives until nothing has come for ``quiet`` seconds."""
    with contextlib.suppress(asyncio.TimeoutError):
        while True:
            client._stash(await client.recv_json(quiet))


@pytest.fixture(scope="module")
def trio(tmp_path_factory):
    """Three daphne processes (A, B, C) shared by the delivery and concurrency
    tests, which use room and user names of their own."""
    redis_url = multi_process_redis_url()
    if redis_url is None:
        pytest.skip("no Redis for several processes (REDIS_URL unset, nothing on 6379)")
    cluster = Cluster(tmp_path_factory.mktemp("scale"), env=FEATURES, redis_url=redis_url)
    try:
        cluster.create_database()
        yield cluster.add_server(), cluster.add_server(), cluster.add_server()
    finally:
        cluster.close()


async def test_every_notification_kind_crosses_processes(trio):
    a, b, c = trio
    add_room(a, "hall", "--owner", "bob")
    async with contextlib.AsyncExitStack() as stack:
        al_a = await connect(stack, a, "alice")
        al_b = await connect(stack, b, "alice")
        await expect(al_a, "socketConnectEcho", [al_b.socket_id, 2])
        al_c = await connect(stack, c, "alice")  # alice has a socket on every process
        for client in (al_a, al_b):
            await expect(client, "socketConnectEcho", [al_c.socket_id, 3])
        bob_a = await connect(stack, a, "bob")
        bob_b = await connect(stack, b, "bob")
        await expect(bob_a, "socketConnectEcho", [bob_b.socket_id, 2])
        carol = await connect(stack, b, "carol")

        # Joins: echoes to the user's socket on the other process, userlist updates.
        assert await bob_a.call("roomJoin", "hall") == 1
        await expect(bob_b, "roomJoinedEcho", ["hall", bob_a.socket_id, 1])
        assert await carol.call("roomJoin", "hall") == 1
        await expect(bob_a, "roomUserJoined", ["hall", "carol"])
        assert await al_b.call("roomJoin", "hall") == 1
        for client in (al_a, al_c):
            await expect(client, "roomJoinedEcho", ["hall", al_b.socket_id, 1])
        await expect(bob_a, "roomUserJoined", ["hall", "alice"])
        await expect(carol, "roomUserJoined", ["hall", "alice"])
        assert await al_a.call("roomJoin", "hall") == 2
        for client in (al_b, al_c):
            await expect(client, "roomJoinedEcho", ["hall", al_a.socket_id, 2])

        # The same global view from both processes.
        own = {al_a.socket_id: ["hall"], al_b.socket_id: ["hall"], al_c.socket_id: []}
        for client in (al_a, al_b, al_c):
            assert await client.call("listOwnSockets") == own
        for client in (bob_a, carol, al_c):
            assert sorted(await client.call("roomGetAccessList", "hall", "userlist")) == ["alice", "bob", "carol"]

        # Room messages reach every joined socket on every process.
        assert await carol.call("roomMessage", "hall", {"textMessage": "from B"}) == 1
        for client in (al_a, al_b, bob_a, carol):
            await expect_message(client, "hall", 1, "from B", "carol")
        assert await bob_a.call("roomMessage", "hall", {"textMessage": "from A"}) == 2
        for client in (al_a, al_b, bob_a, carol):
            await expect_message(client, "hall", 2, "from A", "bob")

        # Leave echo across processes.
        assert await al_a.call("roomLeave", "hall") == 1
        for client in (al_b, al_c):
            await expect(client, "roomLeftEcho", ["hall", al_a.socket_id, 1])
        assert await al_a.call("roomJoin", "hall") == 2
        for client in (al_b, al_c):
            await expect(client, "roomJoinedEcho", ["hall", al_a.socket_id, 2])

        # Access lists and modes, and the removals they cause.
        assert await bob_a.call("roomAddToList", "hall", "adminlist", ["carol"]) is None
        for client in (carol, al_a, al_b):
            await expect(client, "roomAccessListAdded", ["hall", "adminlist", ["carol"]])
        assert await bob_a.call("roomRemoveFromList", "hall", "adminlist", ["carol"]) is None
        for client in (carol, al_b):
            await expect(client, "roomAccessListRemoved", ["hall", "adminlist", ["carol"]])
        assert await bob_a.call("roomAddToList", "hall", "whitelist", ["carol"]) is None
        await expect(carol, "roomAccessListAdded", ["hall", "whitelist", ["carol"]])
        assert await bob_a.call("roomSetWhitelistMode", "hall", True) is None
        for client in (carol, al_a, al_b):
            await expect(client, "roomModeChanged", ["hall", True])
        for client in (al_a, al_b, al_c):  # all of alice's sockets, joined or not
            await expect(client, "roomAccessRemoved", ["hall"])
        for client in (carol, bob_a):
            await expect(client, "roomUserLeft", ["hall", "alice"])
        own = {al_a.socket_id: [], al_b.socket_id: [], al_c.socket_id: []}
        for client in (al_a, al_b, al_c):
            assert await client.call("listOwnSockets") == own
        for client in (bob_a, carol):
            assert sorted(await client.call("roomGetAccessList", "hall", "userlist")) == ["bob", "carol"]
        assert await bob_a.call("roomMessage", "hall", {"textMessage": "members only"}) == 3
        await expect_message(carol, "hall", 3, "members only", "bob")

        assert await carol.call("roomLeave", "hall") == 0
        await expect(bob_a, "roomUserLeft", ["hall", "carol"])

        # Direct messages: all of the recipient's sockets, the sender's other sockets.
        sent = await bob_a.call("directMessage", "alice", {"textMessage": "hi alice"})
        assert (sent["author"], sent["textMessage"]) == ("bob", "hi alice")
        for client in (al_a, al_b, al_c):
            await expect(client, "directMessage", [sent])
        await expect(bob_b, "directMessageEcho", ["alice", sent])
        sent = await al_b.call("directMessage", "bob", {"textMessage": "hi bob"})
        for client in (bob_a, bob_b):
            await expect(client, "directMessage", [sent])
        for client in (al_a, al_c):
            await expect(client, "directMessageEcho", ["bob", sent])

        # System messages: the caller's other sockets.
        assert await al_a.call("systemMessage", {"k": [1, "x"]}) is None
        for client in (al_b, al_c):
            await expect(client, "systemMessage", [{"k": [1, "x"]}])
        assert await bob_b.call("systemMessage", "ping") is None
        await expect(bob_a, "systemMessage", ["ping"])

        # A socket closing on B is announced to the user's sockets on A and C.
        await al_b.ws.close()
        for client in (al_a, al_c):
            await expect(client, "socketDisconnectEcho", [al_b.socket_id, 2])
        assert await al_c.call("listOwnSockets") == {al_a.socket_id: [], al_c.socket_id: []}

        # Nothing reached sockets that were not recipients.
        await asyncio.gather(
            al_a.no_notification("roomMessage"),  # message 3 came after alice's removal
            al_c.no_notification("roomMessage"),  # never joined
            bob_b.no_notification("roomMessage"),  # never joined
            carol.no_notification("roomUserJoined"),  # alice's second socket is no new user
            bob_a.no_notification("directMessageEcho"),  # never to the sending socket
        )


async def test_message_ids_gapless_with_writers_on_every_process(trio):
    add_room(trio[0], "ids")
    writers, per_writer = 6, 25
    async with contextlib.AsyncExitStack() as stack:
        observers = [await connect(stack, server, f"watch{i}") for i, server in enumerate(trio)]
        clients = [await connect(stack, trio[i % 3], f"writer{i}") for i in range(writers)]
        for client in observers + clients:
            await client.call("roomJoin", "ids")

        results = await asyncio.gather(*(
            burst(client, [("roomMessage", "ids", {"textMessage": f"{i}-{k}"}) for k in range(per_writer)])
            for i, client in enumerate(clients)
        ))
        by_text = {}
        for i, replies in enumerate(results):
            assert all(kind == "ok" for kind, _ in replies), replies
            ids = [value for _, value in replies]
            assert ids == sorted(ids)  # one socket's commands run in order
            by_text.update({f"{i}-{k}": message_id for k, message_id in enumerate(ids)})
        total = writers * per_writer
        assert sorted(by_text.values()) == list(range(1, total + 1))

        # Every observer, on either process, gets every message exactly once.
        for observer in observers:
            seen = {}
            for _ in range(total):
                room_name, message = await observer.next_notification("roomMessage")
                assert message["id"] not in seen
                seen[message["id"]] = message["textMessage"]
            assert seen == {message_id: text for text, message_id in by_text.items()}

        info = await clients[0].call("roomHistoryInfo", "ids")
        assert (info["lastMessageId"], info["historySize"]) == (total, total)
        stored, after = {}, 0
        while after < total:
            page = await observers[1].call("roomHistoryGet", "ids", after, 100)
            assert page and [m["id"] for m in page] == list(range(page[0]["id"], after, -1))
            stored.update({m["id"]: m["textMessage"] for m in page})
            after = page[0]["id"]
        assert stored == {message_id: text for text, message_id in by_text.items()}


async def test_one_user_racing_in_one_room_from_several_processes(trio):
    """Joins, leaves and disconnects of one user's sockets on two processes at
    once: the store ends with exactly the joined sockets, the userlist holds
    the user only while one is joined, and a watcher sees alternating
    roomUserJoined / roomUserLeft ending in the final state."""
    a, b, c = trio
    add_room(a, "race")
    rng = random.Random(6)
    async with contextlib.AsyncExitStack() as stack:
        watcher = await connect(stack, a, "watcher")
        await watcher.call("roomJoin", "race")
        live = [await connect(stack, server, "racer") for server in (a, b, c, a)]
        joined = {client.socket_id: False for client in live}
        gone = set()

        for round_no in range(6):
            leaving = rng.randrange(len(live))
            plans = [[("roomJoin" if rng.random() < 0.55 else "roomLeave", "race") for _ in range(8)] for _ in live]

            async def run(index, client, plan):
                if index == leaving:  # sends its commands, then drops the connection at once
                    for req_id, (method, *params) in enumerate(plan, 1):
                        await client.send_json({"jsonrpc": "2.0", "id": req_id, "method": method, "params": params})
                    await client.ws.close()
                    return None
                return await burst(client, plan)

            outcomes = await asyncio.gather(*(run(i, c, p) for i, (c, p) in enumerate(zip(live, plans))))
            for index, (client, plan, replies) in enumerate(zip(live, plans, outcomes)):
                if replies is None:
                    gone.add(client.socket_id)
                    joined.pop(client.socket_id)
                    continue
                for (method, _), (kind, value) in zip(plan, replies):
                    assert kind == "ok" or value == "timeout", (method, kind, value)
                    if kind == "ok":
                        joined[client.socket_id] = method == "roomJoin"
            replacement = await connect(stack, trio[round_no % 3], "racer")
            live[leaving] = replacement
            joined[replacement.socket_id] = False

        expected = {sid: (["race"] if is_joined else []) for sid, is_joined in joined.items()}

        async def settled():
            return await live[0].call("listOwnSockets") == expected

        await wait_until(settled, timeout=30, interval=0.1, what=f"every racer socket listing {expected}")
        for client in live[1:]:
            assert await client.call("listOwnSockets") == expected
        in_room = any(joined.values())
        userlist = sorted(await watcher.call("roomGetAccessList", "race", "userlist"))
        assert userlist == (["racer", "watcher"] if in_room else ["watcher"])

        state = await asyncio.to_thread(presence_state, a)
        rows = sorted(sid for sid, user, room in state["memberships"] if (user, room) == ("racer", "race"))
        assert rows == sorted(sid for sid, is_joined in joined.items() if is_joined)
        assert not gone & set(state["sockets"]), "a closed socket is still recorded"
        assert (["race", "racer"] in state["userlists"]) == in_room

        # The watcher's view of the userlist alternates and ends where the store is.
        await drain(watcher)
        events = [m["method"] for m in watcher.notifications
                  if m["method"] in ("roomUserJoined", "roomUserLeft") and m["params"][1] == "racer"]
        assert all(x != y for x, y in zip(events, events[1:])), events
        assert (events[-1] == "roomUserJoined" if events else False) == in_room, events


async def test_sigterm_closes_sockets_and_cleans_presence(daphne_cluster):
    """B207 end to end: B stops on SIGTERM; its sockets close with 4001 and
    leave their rooms with the usual notifications; no presence remains."""
    a, b = daphne_cluster(2, env=FEATURES, redis=True)
    token = staff_token(a)
    add_room(a, "room1")
    async with contextlib.AsyncExitStack() as stack:
        s1 = await connect(stack, a, "user1")
        s2 = await connect(stack, a, "user2")
        s3 = await connect(stack, b, "user2")
        s4 = await connect(stack, b, "user2")
        s5 = await connect(stack, b, "user3")
        for client in (s1, s2, s3, s4, s5):
            await client.call("roomJoin", "room1")
        b_uid = (await asyncio.to_thread(presence_state, a))["sockets"][s3.socket_id][1]
        assert b_uid in [i["id"] for i in get_instances(a, token)]
        s2.notifications.clear()
        s1.notifications.clear()

        assert await b.astop(signal.SIGTERM) == 0
        for client in (s3, s4, s5):
            assert await client.wait_closed() == 4001

        left = [await s2.next_notification("roomLeftEcho") for _ in range(2)]
        assert sorted(p[1] for p in left) == sorted([s3.socket_id, s4.socket_id])
        assert all(p[0] == "room1" for p in left) and left[-1][2] == 1
        gone = [await s2.next_notification("socketDisconnectEcho") for _ in range(2)]
        assert sorted(p[0] for p in gone) == sorted([s3.socket_id, s4.socket_id])
        assert gone[-1][1] == 1
        for client in (s1, s2):
            await expect(client, "roomUserLeft", ["room1", "user3"])
        await s1.no_notification("roomUserLeft")

        assert await s2.call("listOwnSockets") == {s2.socket_id: ["room1"]}
        assert sorted(await s1.call("roomGetAccessList", "room1", "userlist")) == ["user1", "user2"]
        instances = get_instances(a, token)
        assert b_uid not in [i["id"] for i in instances]
        assert [(i["alive"], i["sockets"]) for i in instances] == [(True, 2)]
        state = await asyncio.to_thread(presence_state, a)
        assert b_uid not in state["instances"]
        assert not [sid for sid, (_, uid) in state["sockets"].items() if uid == b_uid]
        assert sorted(state["sockets"]) == sorted([s1.socket_id, s2.socket_id])


QUICK_HEARTBEAT = {"CHAT_HEARTBEAT_RATE": "200", "CHAT_HEARTBEAT_TIMEOUT": "1000"}


async def _dead_instance_setup(stack, a, b):
    """user1 on A and B, user2 on B, all joined to room1; returns clients and B's id."""
    add_room(a, "room1")
    s1 = await connect(stack, a, "user1")
    s2 = await connect(stack, b, "user2")
    s3 = await connect(stack, b, "user1")
    for client in (s1, s2, s3):
        await client.call("roomJoin", "room1")
    b_uid = (await asyncio.to_thread(presence_state, a))["sockets"][s2.socket_id][1]
    s1.notifications.clear()
    return s1, s2, s3, b_uid


async def _assert_recovered(s1, s3, b_uid, a, token):
    await expect(s1, "roomLeftEcho", ["room1", s3.socket_id, 1])
    await expect(s1, "socketDisconnectEcho", [s3.socket_id, 1])
    assert await s1.call("listOwnSockets") == {s1.socket_id: ["room1"]}
    assert await s1.call("roomGetAccessList", "room1", "userlist") == ["user1"]
    state = await asyncio.to_thread(presence_state, a)
    assert not [sid for sid, (_, uid) in state["sockets"].items() if uid == b_uid]
    assert [m for m in state["memberships"] if m[0] != s1.socket_id] == []


async def test_sigkill_is_recovered_automatically(daphne_cluster):
    a, b = daphne_cluster(2, env={**FEATURES, **QUICK_HEARTBEAT}, redis=True)
    token = staff_token(a)
    async with contextlib.AsyncExitStack() as stack:
        s1, s2, s3, b_uid = await _dead_instance_setup(stack, a, b)
        killed_at = time.monotonic()
        await asyncio.to_thread(b.kill)
        # heartbeatTimeout (1 s) + one heartbeat of A + a margin for slow machines.
        await expect(s1, "roomUserLeft", ["room1", "user2"], timeout=6)
        elapsed = time.monotonic() - killed_at
        assert elapsed >= 1.0 - 0.25, f"recovered a live instance? after {elapsed:.2f}s"
        await _assert_recovered(s1, s3, b_uid, a, token)
        await wait_until(lambda: b_uid not in [i["id"] for i in get_instances(a, token)], timeout=30,
                         interval=0.1, what="B's instance record removed")
        assert [(i["alive"], i["sockets"]) for i in get_instances(a, token)] == [(True, 1)]
        assert b_uid not in (await asyncio.to_thread(presence_state, a))["instances"]


async def test_chat_recover_command_without_auto_recovery(daphne_cluster):
    a, b = daphne_cluster(2, env={**FEATURES, **QUICK_HEARTBEAT, "CHAT_AUTO_RECOVERY": "false"}, redis=True)
    token = staff_token(a)
    async with contextlib.AsyncExitStack() as stack:
        s1, s2, s3, b_uid = await _dead_instance_setup(stack, a, b)
        await asyncio.to_thread(b.kill)
        # Well past heartbeatTimeout: B counts as dead, yet nobody recovers it.
        await s1.no_notification("roomUserLeft", wait=2.5)
        listed = {i["id"]: i for i in get_instances(a, token)}
        assert (listed[b_uid]["alive"], listed[b_uid]["sockets"]) == (False, 2)
        assert sorted(await s1.call("roomGetAccessList", "room1", "userlist")) == ["user1", "user2"]

        result = await asyncio.to_thread(a.manage, "chat_recover", "--instance", b_uid)
        assert result.returncode == 0, result.stderr
        await expect(s1, "roomUserLeft", ["room1", "user2"])
        await _assert_recovered(s1, s3, b_uid, a, token)
        # The command also drops the dead instance's heartbeat record.
        instances = get_instances(a, token)
        assert b_uid not in [i["id"] for i in instances]
        assert [(i["alive"], i["sockets"]) for i in instances] == [(True, 1)]


async def test_long_recovery_never_makes_the_recoverer_look_dead(daphne_cluster):
    """Recovering a dead process with many sockets takes longer than
    heartbeatTimeout; the recovering process must keep its heartbeat, or a
    third process would "recover" it while it is alive."""
    a, b, c = daphne_cluster(3, env=QUICK_HEARTBEAT, redis=True)
    rooms = ["crowd0", "crowd1", "crowd2"]
    for room in rooms:
        add_room(a, room)
    async with contextlib.AsyncExitStack() as stack:
        keepers = [await connect(stack, a, "keeper-a"), await connect(stack, c, "keeper-c")]
        for client in keepers:
            for room in rooms:
                await client.call("roomJoin", room)
        crowd = [await connect(stack, b, f"guest{i}") for i in range(60)]
        for room in rooms:
            await asyncio.gather(*(client.call("roomJoin", room) for client in crowd))
        await asyncio.to_thread(b.kill)

        async def recovered():
            lists = [await keepers[0].call("roomGetAccessList", room, "userlist") for room in rooms]
            return all(len(names) <= 2 for names in lists)

        await wait_until(recovered, timeout=60, what="B's guests gone from the userlists")

        # A wrongful recovery claims A's or C's record, which stops its
        # heartbeat for good (and the process re-registers under a new id).
        # Wait until both have beaten a whole heartbeatTimeout after B's
        # record went, under their original ids.
        sockets = (await asyncio.to_thread(presence_state, a))["sockets"]
        survivors = {sockets[client.socket_id][1] for client in keepers}
        token = staff_token(a)

        def newest_beat_once_b_is_gone():
            listed = get_instances(a, token)
            return max(i["heartbeat"] for i in listed) if {i["id"] for i in listed} == survivors else None

        b_gone = await wait_until(newest_beat_once_b_is_gone, timeout=60, interval=0.1,
                                  what="B's record removed, A and C registered")

        def beaten_past_timeout():
            listed = {i["id"]: i["heartbeat"] for i in get_instances(a, token)}
            assert set(listed) == survivors, f"A or C registered again: {listed} vs {survivors}"
            return min(listed.values()) > b_gone + int(QUICK_HEARTBEAT["CHAT_HEARTBEAT_TIMEOUT"])

        await wait_until(beaten_past_timeout, timeout=60, interval=0.1,
                         what="A and C beating a heartbeatTimeout after the recovery")
        for client in keepers:
            for room in rooms:
                assert sorted(await client.call("roomGetAccessList", room, "userlist")) == ["keeper-a", "keeper-c"]
            assert await client.call("listOwnSockets") == {client.socket_id: rooms}


GHOST_SCRIPT = """
import time
from messaging.models import ChatUser
from presence.models import Connection, Instance, Membership, RoomUser
from rooms.models import Room
room = Room.objects.get(name="room1")
ChatUser.objects.get_or_create(name="ghost")
Instance.objects.create(uid="ghost-b", heartbeat=int(time.time() * 1000) - 60000, recovering_by="ghost-a")
Connection.objects.create(socket_id="ghost-socket", user_name="ghost", instance_uid="ghost-b", connected_at=0)
Membership.objects.create(connection_id="ghost-socket", room=room, user_name="ghost")
RoomUser.objects.create(room=room, user_name="ghost")
"""


@pytest.mark.daphne_env(**FEATURES, **QUICK_HEARTBEAT)
async def test_recovery_whose_recoverer_died_is_taken_over(daphne_server):
    """Dead B was claimed by A, and A died before finishing (its own record is
    gone): a live instance takes the claim over instead of leaving B forever."""
    server = daphne_server
    add_room(server, "room1")
    async with contextlib.AsyncExitStack() as stack:
        s1 = await connect(stack, server, "user1")
        await s1.call("roomJoin", "room1")
        made = await asyncio.to_thread(server.manage, "shell", "-c", GHOST_SCRIPT)
        assert made.returncode == 0, made.stderr
        await expect(s1, "roomUserLeft", ["room1", "ghost"], timeout=5)  # ghost was listed, now left
        assert await s1.call("roomGetAccessList", "room1", "userlist") == ["user1"]
        state = await asyncio.to_thread(presence_state, server)
        assert "ghost-b" not in state["instances"] and "ghost-socket" not in state["sockets"]
