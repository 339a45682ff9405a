"""Limits and failures of docs/protocol.md, Limits, in process: the rate limit,
the batch limit, connections per user, the outgoing bound, nothing run after a
close, no ghost presence, and an instance that others declared dead.

The same limits are attacked through real daphne processes in tests/e2e.
"""
import asyncio
import json
import logging
import threading
import time

from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from chatproject.asgi import build_application
from chatproject.daphne_integration import WIRE_EXTENSION
from tests.client import ChatClient, RpcError, connect
from tests.conftest import M, R1, U1, U2, eventually, userlist


def call(method, *params, request_id=None):
    frame = {"jsonrpc": "2.0", "method": method, "params": list(params)}
    if request_id is not None:
        frame["id"] = request_id
    return frame


async def replies(client, ids, timeout=10):
    return {request_id: await client.reply(request_id, timeout) for request_id in ids}


async def last_message_id(svc, room=R1):
    return (await svc.exec_user_command(True, "roomHistoryInfo", room))["lastMessageId"]


# Rate limit.


async def test_a_burst_past_the_bucket_is_refused_with_rate_limited(chat):
    svc = await chat.start(options={"rateLimit": 5, "rateBurst": 10})
    await svc.add_room(R1)
    s1 = await chat.client(svc, U1)
    await s1.send_raw(json.dumps([call("roomJoin", R1, request_id=0)]))  # one token
    frames = [call("roomMessage", R1, M, request_id=i) for i in range(1, 31)]
    for frame in frames:
        await s1.send_raw(json.dumps(frame))
    answers = await replies(s1, range(1, 31))
    ok = [i for i, reply in answers.items() if "result" in reply]
    limited = [reply["error"] for reply in answers.values() if "error" in reply]
    # 10 tokens at first, one refilled every 200 ms: the join took one.
    assert 9 <= len(ok) <= 12 and len(ok) + len(limited) == 30
    for error in limited:
        assert error["code"] == -32000
        assert error["data"]["code"] == "rateLimited"
        (retry,) = error["data"]["args"]
        assert isinstance(retry, int) and 0 < retry <= 1000
        assert error["message"] == f"Rate limit exceeded, retry in {retry} ms"
    # Refused requests changed nothing; the connection stays open.
    assert await last_message_id(svc) == len(ok)
    await asyncio.sleep(limited[-1]["data"]["args"][0] / 1000 + 0.05)
    assert await s1.call("roomMessage", R1, M) == len(ok) + 1


async def test_requests_without_id_take_tokens_and_get_no_reply(chat):
    svc = await chat.start(options={"rateLimit": 1, "rateBurst": 3})
    await svc.add_room(R1)
    s1 = await chat.client(svc, U1, query="user=user1")
    await s1.send_raw(json.dumps([call("roomJoin", R1)] + [call("roomMessage", R1, M) for _ in range(5)]))
    reply = await s1.request("roomHistoryInfo", R1)
    assert reply["error"]["data"]["code"] == "rateLimited"
    assert await last_message_id(svc) == 2  # the join and two messages had tokens
    assert "batch" not in s1.replies  # a batch of notifications gets no reply, refused or not


async def test_rate_limit_zero_turns_it_off(chat):
    svc = await chat.start(options={"rateLimit": 0, "rateBurst": 1})
    await svc.add_room(R1)
    s1 = await chat.client(svc, U1)
    await s1.send_raw(json.dumps([call("roomJoin", R1, request_id=0)] + [call("roomMessage", R1, M, request_id=i) for i in range(1, 50)]))
    batch = (await s1.reply("batch"))[0] if "batch" in s1.replies else None
    while batch is None:
        await s1.pump(5)
        batch = s1.replies.get("batch", [None])[0]
    assert all("result" in reply for reply in batch)
    assert await last_message_id(svc) == 49


async def test_server_side_calls_are_not_rate_limited(chat):
    svc = await chat.start(options={"rateLimit": 1, "rateBurst": 1})
    await svc.add_room(R1)
    s1 = await chat.client(svc, U1)
    assert await s1.call("roomJoin", R1) == 1
    for expected in range(1, 21):
        assert await svc.exec_user_command({"user_name": U1, "id": s1.socket_id}, "roomMessage", R1, M) == expected


async def test_queued_requests_are_bounded_by_the_burst(chat):
    """A client cannot queue more than rateBurst requests behind a slow one."""
    release = asyncio.Event()

    class Slow:
        async def room_join_before(self, info):
            await release.wait()

    svc = await chat.start(options={"rateLimit": 10**9, "rateBurst": 5}, hooks=Slow())  # tokens never run out
    await svc.add_room(R1)
    s1 = await chat.client(svc, U1)
    await s1.send_raw(json.dumps(call("roomJoin", R1, request_id=0)))
    for i in range(1, 11):
        await s1.send_raw(json.dumps(call("roomHistoryInfo", R1, request_id=i)))
    socket = svc.transport.sockets[s1.socket_id]
    await eventually(lambda: asyncio.sleep(0, socket._queued_calls == 5), timeout=3)
    release.set()
    assert "result" in await s1.reply(0)
    assert all(["result" in await s1.reply(i) for i in range(1, 6)])
    refused = [await s1.reply(i) for i in range(6, 11)]  # replies keep the order of the requests
    assert all(reply["error"]["data"]["code"] == "rateLimited" for reply in refused)


# Batches.


async def test_a_batch_longer_than_max_batch_length_is_refused_whole(chat):
    svc = await chat.start(options={"maxBatchLength": 3})
    await svc.add_room(R1)
    s1 = await chat.client(svc, U1)
    assert await s1.call("roomJoin", R1) == 1
    await s1.send_raw(json.dumps([call("roomMessage", R1, M, request_id=i) for i in range(4)]))
    reply = await s1.reply(None)
    assert reply["error"]["code"] == -32600
    assert reply["error"]["data"] == {"name": "ChatServiceError", "code": "invalidRequest", "args": [3]}
    assert await last_message_id(svc) == 0
    await s1.send_raw(json.dumps([call("roomMessage", R1, M, request_id=i) for i in range(3)]))
    while "batch" not in s1.replies:
        await s1.pump(5)
    assert [reply["result"] for reply in s1.replies["batch"][0]] == [1, 2, 3]


# Connections per user.


async def test_logins_past_max_connections_per_user_are_rejected(chat):
    a = await chat.start(options={"maxConnectionsPerUser": 2})
    b = await chat.start(options={"maxConnectionsPerUser": 2})
    s1 = await chat.client(a, U1)
    s2 = await chat.client(b, U1)  # counted across instances
    s3 = await chat.client(a, U1, expect_login=False)
    assert s3.login["method"] == "loginRejected"
    assert s3.login["params"][0]["data"] == {"name": "ChatServiceError", "code": "tooManyConnections", "args": [2]}
    assert s3.login["params"][0]["message"] == "Too many connections, limit 2"
    assert await s3.wait_closed() == 4403
    other = await chat.client(a, U2)  # other users are not affected
    assert other.socket_id
    assert sorted(await a.exec_user_command(U1, "listOwnSockets")) == sorted([s1.socket_id, s2.socket_id])
    await s2.close()

    async def one_left():
        return len(await a.exec_user_command(U1, "listOwnSockets")) == 1

    await eventually(one_left)
    s4 = await chat.client(a, U1)
    assert s4.socket_id


# Nothing runs after the service decided to close.


async def test_frames_after_an_oversized_frame_never_run(chat):
    svc = await chat.start(options={"maxFrameBytes": 1000})
    await svc.add_room(R1)
    s1 = await chat.client(svc, U1)
    assert await s1.call("roomJoin", R1) == 1
    await s1.send_raw("x" * 1001)
    for i in range(5):
        await s1.send_raw(json.dumps(call("roomMessage", R1, M, request_id=i)))
    assert await s1.wait_closed() == 4009
    assert not s1.replies
    assert await last_message_id(svc) == 0


async def test_requests_queued_behind_a_login_that_is_rejected_never_run(chat):
    class Slow:
        async def on_connect(self, server, socket_id):
            await asyncio.sleep(0.2)
            raise __import__("chatproject.service", fromlist=["ChatServiceError"]).ChatServiceError("noLogin")

    svc = await chat.start(hooks=Slow())
    await svc.add_room(R1)
    communicator = WebsocketCommunicator(build_application(svc), "/ws/chat/?user=user1")
    assert (await communicator.connect())[0]
    await communicator.send_to(text_data=json.dumps(call("roomCreate", "new", False, request_id=1)))
    client = ChatClient(communicator)
    first = await client._receive(5)
    assert first["method"] == "loginRejected"
    assert await client.wait_closed() == 4403
    assert not client.replies
    assert not await svc.has_room("new")


# The outgoing bound.


class PilingWire:
    """A client that reads nothing: every byte written stays unsent. It hands
    the frames on to the test's ASGI channel (the test client reads them when
    it wants)."""

    def __init__(self, send):
        self.unsent = 0
        self._send = send

    def unsent_bytes(self):
        return self.unsent

    def send_text(self, text):
        self.unsent += len(text)
        asyncio.ensure_future(self._send({"type": "websocket.send", "text": text}))
        return True


def with_wire(application):
    async def app(scope, receive, send):
        wire = PilingWire(send)
        scope = {**scope, "extensions": {**scope.get("extensions", {}), WIRE_EXTENSION: wire}}
        await application(scope, receive, send)

    return app


async def test_a_slow_reader_is_closed_with_4008_and_others_keep_receiving(chat):
    svc = await chat.start(options={"maxOutgoingBytes": 20000, "enableUserlistUpdates": True})
    await svc.add_room(R1)
    slow = await connect(with_wire(build_application(svc)), user=U1)
    chat.clients.append(slow)
    fast = await chat.client(svc, U2)
    assert await slow.call("roomJoin", R1) == 1
    assert await fast.call("roomJoin", R1) == 1
    message = {"textMessage": "y" * 1000}
    for expected in range(1, 41):
        assert await fast.call("roomMessage", R1, message) == expected
        assert (await fast.notification("roomMessage"))[1]["id"] == expected
    assert await slow.wait_closed() == 4008
    assert await fast.notification("roomUserLeft") == [R1, U1]
    assert await userlist(svc) == [U2]
    assert await svc.exec_user_command(U1, "listOwnSockets") == {}


async def test_one_large_reply_is_written_whole(chat):
    """The bound counts what waits unsent before a frame, so a single reply
    larger than it still goes out."""
    svc = await chat.start(options={"maxOutgoingBytes": 1000, "historyMaxGetMessages": 10})
    await svc.add_room(R1)
    s1 = await chat.client(svc, U1)
    assert await s1.call("roomJoin", R1) == 1
    for _ in range(10):
        await svc.exec_user_command({"user_name": U1, "id": s1.socket_id}, "roomMessage", R1, {"textMessage": "z" * 500})
    for _ in range(10):
        await s1.notification("roomMessage")
    history = await s1.call("roomRecentHistory", R1)
    assert len(history) == 10 and all(len(m["textMessage"]) == 500 for m in history)


# No ghost presence.


async def test_a_consumer_cancelled_by_the_server_cleans_up(chat):
    """daphne cancels (kills) a consumer that is slow to end after a disconnect."""
    svc = await chat.start(options={"enableUserlistUpdates": True})
    await svc.add_room(R1)
    watcher = await chat.client(svc, U2)
    assert await watcher.call("roomJoin", R1) == 1
    victim = await chat.client(svc, U1)
    assert await victim.call("roomJoin", R1) == 1
    victim.communicator.future.cancel()
    victim.close_code = 1006  # nothing left to close
    assert await watcher.notification("roomUserLeft") == [R1, U1]
    assert await userlist(svc) == [U2]
    assert await svc.exec_user_command(U2, "listOwnSockets") != {}
    assert await svc.exec_user_command(U1, "listOwnSockets") == {}
    assert await svc.get_instance_sockets() == {watcher.socket_id: U2}


async def test_socket_records_without_a_connection_are_cleaned_up(chat):
    """A record of this instance that no connection owns (however it was left
    behind) gets the disconnect procedure within a heartbeat."""
    svc = await chat.start(options={"heartbeatRate": 100, "enableUserlistUpdates": True})
    await svc.add_room(R1)
    watcher = await chat.client(svc, U2)
    assert await watcher.call("roomJoin", R1) == 1
    ghost = await chat.client(svc, U1)
    assert await ghost.call("roomJoin", R1) == 1
    socket = svc.transport.sockets.pop(ghost.socket_id)  # the connection vanishes, records stay
    svc.hub.remove_socket_now(ghost.socket_id)
    assert await watcher.notification("roomUserLeft", timeout=10) == [R1, U1]

    async def only_the_watcher():
        return await svc.get_instance_sockets() == {watcher.socket_id: U2}

    await eventually(only_the_watcher)
    assert await svc.exec_user_command(U1, "listOwnSockets") == {}
    socket.logged_in = False  # its own clean-up has nothing left to do


# Logins under a storm: the handshake never waits for the database.


async def test_the_handshake_is_accepted_while_the_database_is_busy(chat):
    """In a reconnect storm the database thread is the queue: a handshake that
    waited for it (the session's user was resolved before the consumer ran)
    outlived daphne's connect timeout. The login now runs after the accept."""
    svc = await chat.start()
    busy, release = threading.Event(), threading.Event()

    def occupy_the_database_thread():
        busy.set()
        release.wait(30)

    blocker = asyncio.ensure_future(sync_to_async(occupy_the_database_thread, thread_sensitive=True)())
    assert await asyncio.get_running_loop().run_in_executor(None, busy.wait, 10)
    communicator = WebsocketCommunicator(
        build_application(svc), "/ws/chat/?user=user1", headers=[(b"cookie", b"sessionid=storm")]
    )
    try:
        connected, _ = await communicator.connect(timeout=3)
        assert connected
    finally:
        release.set()
        await blocker
    client = ChatClient(communicator)
    chat.clients.append(client)
    assert (await client._receive(10))["method"] == "loginConfirmed"


# Liveness: heartbeats off the event loop, and a process declared dead.


async def test_heartbeats_keep_their_rate_while_the_event_loop_is_busy(chat):
    svc = await chat.start(options={"heartbeatRate": 100})
    started = time.time()
    time.sleep(1.5)  # the loop does nothing else meanwhile
    beat = await svc.get_instance_heartbeat()
    assert beat / 1000 > started + 0.5


async def test_a_stuck_event_loop_stops_the_heartbeat(chat):
    svc = await chat.start(options={"heartbeatRate": 100, "heartbeatTimeout": 500})
    time.sleep(3)  # stuck for six timeouts
    stuck_until = time.time()
    beat = await svc.get_instance_heartbeat()
    assert beat / 1000 < stuck_until - 1.5


async def test_event_loop_lag_is_measured(chat):
    svc = await chat.start(options={"heartbeatRate": 100})
    await asyncio.sleep(0.1)
    time.sleep(0.4)
    await eventually(lambda: asyncio.sleep(0, svc.liveness.loop_lag >= 0.2))


async def recover_behind_its_back(by, victim):
    """What another instance does to one it found dead."""
    await by.instance_recovery(victim.instance_uid)
    await by.presence.delete_instance(victim.instance_uid)


async def test_an_instance_declared_dead_closes_with_4001_and_registers_again(chat):
    options = {"heartbeatRate": 100, "heartbeatTimeout": 60000, "autoRecovery": False}
    a = await chat.start(options=options)
    b = await chat.start(options=options)
    await a.add_room(R1)
    s1 = await chat.client(a, U1)
    assert await s1.call("roomJoin", R1) == 1
    old_uid = a.instance_uid
    await recover_behind_its_back(b, a)
    assert await s1.wait_closed(timeout=10) == 4001
    assert a.instance_uid != old_uid
    await eventually(lambda: a.get_instance_heartbeat(a.instance_uid))
    again = await chat.client(a, U1)  # clients reconnect and resynchronise
    assert await again.call("roomJoin", R1) == 1
    assert await b.get_instance_sockets(a.instance_uid) == {again.socket_id: U1}
    assert await userlist(b) == [U1]


async def test_after_a_pause_past_the_timeout_commands_do_not_run_on_deleted_records(chat):
    """The first command after a pause (SIGSTOP, starvation) finds the instance
    declared dead: the connection closes with 4001, no command fails with
    invalidSocket or a database error."""
    options = {"heartbeatRate": 60000, "heartbeatTimeout": 1000, "autoRecovery": False}
    a = await chat.start(options=options)
    b = await chat.start(options=options)
    await a.add_room(R1)
    s1 = await chat.client(a, U1)
    assert await s1.call("roomJoin", R1) == 1
    await recover_behind_its_back(b, a)
    a.liveness.last_beat -= 1000  # as if paused for a long time
    await s1.send_raw(json.dumps(call("roomJoin", R1, request_id=1)))
    await s1.send_raw(json.dumps(call("roomJoin", R1, request_id=2)))
    assert await s1.wait_closed(timeout=10) == 4001
    assert not s1.replies
    assert await userlist(b) == []
    again = await chat.client(a, U1)
    assert await again.call("roomJoin", R1) == 1


async def test_a_live_instance_is_not_disturbed_by_the_check(chat):
    svc = await chat.start(options={"heartbeatRate": 60000, "heartbeatTimeout": 1000})
    await svc.add_room(R1)
    s1 = await chat.client(svc, U1)
    svc.liveness.last_beat -= 1000
    assert await s1.call("roomJoin", R1) == 1
    assert not svc.liveness.suspect()


# The channel layer's outages are logged once each way.


async def test_layer_outage_logs_one_line_each_way(chat, caplog, monkeypatch):
    svc = await chat.start()

    async def unreachable(*args, **kwargs):
        raise ConnectionError("connection refused")

    caplog.set_level(logging.INFO, logger="chat")
    # The chat logger does not propagate to the root logger, where caplog listens.
    monkeypatch.setattr(logging.getLogger("chat"), "handlers", [*logging.getLogger("chat").handlers, caplog.handler])
    send = svc.hub.layer.send
    svc.hub.layer.send = unreachable
    for _ in range(5):
        await svc.hub.probe()
    svc.hub.layer.send = send
    await svc.hub.probe()
    await eventually(lambda: asyncio.sleep(0, svc.hub.available))
    lines = [r for r in caplog.records if r.name == "chat" and "channel layer" in r.getMessage()]
    assert [r.levelname for r in lines] == ["ERROR", "WARNING"]
    assert all(r.exc_info is None for r in lines)


async def test_rate_limited_request_changes_nothing(chat):
    svc = await chat.start(options={"rateLimit": 1, "rateBurst": 1, "enableRoomsManagement": True})
    s1 = await chat.client(svc, U1)
    await s1.send_raw(json.dumps(call("roomHistoryInfo", "nothing", request_id=1)))
    await s1.send_raw(json.dumps(call("roomCreate", "fresh", False, request_id=2)))
    assert (await s1.reply(2))["error"]["data"]["code"] == "rateLimited"
    assert not await svc.has_room("fresh")
    try:
        await s1.reply(1)
    except RpcError:
        pass
