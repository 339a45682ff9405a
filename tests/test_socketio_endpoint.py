"""The socket.io endpoint in process (docs/socketio.md): raw Engine.IO 3 and
4 clients over Channels' HTTP and WebSocket communicators, the shared service
(a socket.io socket and a native socket of one user), the limits, and hostile
input. Every bad request gets a clear error or a clean close, and the
service's socket registry empties afterwards.

The real npm clients run against daphne in tests/e2e/test_socketio_*_e2e.py.
"""
import asyncio
import json

import pytest
from asgiref.sync import sync_to_async
from channels.testing import HttpCommunicator, WebsocketCommunicator

from chatproject.asgi import build_application
from chatproject.socketio.app import SocketIOApp
from chatproject.socketio.engineio import decode_payload, encode_payload
from chatproject.socketio import session as engine_sessions
from chatproject.socketio.session import Engine
from tests.conftest import M, R1, U1, eventually, session_cookie, userlist

NS = "/chat-service"


def application(svc, ping_interval=5.0, ping_timeout=5.0):
    socketio = SocketIOApp(svc, Engine(ping_interval, ping_timeout, svc.options.max_outgoing_bytes))
    return build_application(svc, socketio=socketio), socketio


async def poll_parked(socketio, sid):
    """Until the session's GET waits on the server, the moment a test wants to interrupt."""
    async def parked():
        session = socketio.engine.sessions.get(sid)
        return session is not None and session._polling

    await eventually(parked)


async def http(app, method, query, body=b"", headers=(), timeout=5):
    communicator = HttpCommunicator(app, method, "/socket.io/?" + query, body=body, headers=list(headers))
    response = await communicator.get_response(timeout=timeout)
    return response["status"], response["body"].decode()


class Polling:
    """A raw Engine.IO client on long-polling."""

    def __init__(self, app, generation):
        self.app = app
        self.generation = generation
        self.sid = None
        self.received = []  # Engine.IO packets not yet taken

    def query(self, extra=""):
        query = f"EIO={self.generation}&transport=polling"
        if self.sid:
            query += "&sid=" + self.sid
        return query + extra

    async def open(self, extra=""):
        status, body = await http(self.app, "GET", self.query(extra))
        assert status == 200, body
        packets = decode_payload(body, self.generation)
        assert packets[0][0] == "0"
        handshake = json.loads(packets[0][1:])
        self.sid = handshake["sid"]
        self.received += packets[1:]
        return handshake

    async def poll(self, timeout=5):
        status, body = await http(self.app, "GET", self.query(), timeout=timeout)
        assert status == 200, body
        self.received += decode_payload(body, self.generation)

    async def post(self, *packets, raw=None):
        body = raw if raw is not None else encode_payload(list(packets), self.generation).encode()
        return await http(self.app, "POST", self.query(), body=body)

    async def next(self, predicate=lambda packet: True, timeout=5):
        """The next received packet matching `predicate` (polling as needed)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            for index, packet in enumerate(self.received):
                if predicate(packet):
                    return self.received.pop(index)
            await self.poll(max(deadline - asyncio.get_running_loop().time(), 0.01))

    async def event(self, name, timeout=5):
        prefix = f'42{NS},["{name}"'
        return json.loads((await self.next(lambda p: p.startswith(prefix), timeout))[len(NS) + 3:])[1:]

    async def ack(self, ack_id, timeout=5):
        prefix = f"43{NS},{ack_id}["
        return json.loads((await self.next(lambda p: p.startswith(prefix), timeout))[len(prefix) - 1:])

    async def login(self, user=U1):
        await self.open(f"&user={user}" if self.generation == 3 else "")
        if self.generation == 3:
            assert await self.next() == "40"
        return await self.connect(user)

    async def connect(self, user=U1):
        """CONNECT the namespace of an open session as `user`: loginConfirmed's arguments."""
        if self.generation == 3:
            assert (await self.post(f"40{NS}?user={user},"))[0] == 200
            assert await self.next() == f"40{NS},"
        else:
            assert (await self.post(f'40{NS},{{"user":"{user}"}}'))[0] == 200
            connected = await self.next()
            assert connected.startswith(f"40{NS},") and json.loads(connected[len(NS) + 3:])["sid"]
        return await self.event("loginConfirmed")


async def ws_open(app, generation, query=""):
    communicator = WebsocketCommunicator(app, f"/socket.io/?EIO={generation}&transport=websocket{query}")
    connected, _ = await communicator.connect(timeout=5)
    assert connected
    return communicator


async def ws_next(communicator, timeout=5):
    message = await communicator.receive_output(timeout)
    return message.get("text") if message["type"] == "websocket.send" else message


async def ws_login(app, user=U1):
    """An Engine.IO 4 WebSocket whose namespace CONNECT logged in as `user`."""
    ws = await ws_open(app, 4)
    await ws_next(ws)  # OPEN
    await ws.send_to(text_data=f'40{NS},{{"user":"{user}"}}')
    assert (await ws_next(ws)).startswith(f"40{NS},")
    assert (await ws_next(ws)).startswith(f'42{NS},["loginConfirmed",')
    return ws


async def no_sockets(svc):
    await eventually(lambda: _empty(svc), timeout=10)


async def _empty(svc):
    return not svc.transport.sockets and not svc.transport.cleaning


# The shared service.


@pytest.mark.parametrize("generation", [3, 4])
async def test_polling_login_commands_acks_and_notifications(chat, generation):
    svc = await chat.start(options={"enableRoomsManagement": True})
    app, _ = application(svc)
    client = Polling(app, generation)
    user_name, data = await client.login()
    assert user_name == U1 and data["id"] in svc.transport.sockets
    native = await chat.client(svc, U1)
    assert await client.event("socketConnectEcho") == [native.socket_id, 2]
    assert set(await native.call("listOwnSockets")) == {native.socket_id, data["id"]}

    assert (await client.post(f'42{NS},1["roomCreate","{R1}",false]'))[0] == 200
    assert await client.ack(1) == [None, None]
    assert (await client.post(f'42{NS},2["roomJoin","{R1}"]'))[0] == 200
    assert await client.ack(2) == [None, 1]
    assert (await client.post(f'42{NS},3["roomJoin","nowhere"]'))[0] == 200
    assert await client.ack(3) == ["ChatServiceError: No such room nowhere", None]
    assert (await client.post(f'42{NS},4["noSuchCommand"]'))[0] == 200
    assert await client.ack(4) == ["ChatServiceError: No such command noSuchCommand", None]
    # An event without an ack still runs; its echo reaches the native socket of the user.
    assert (await client.post(f'42{NS},["roomMessage","{R1}",{json.dumps(M)}]'))[0] == 200
    room, message = await client.event("roomMessage")
    assert room == R1 and message["author"] == U1 and message["textMessage"] == M["textMessage"]
    await native.call("roomJoin", R1)
    assert await client.event("roomJoinedEcho") == [R1, native.socket_id, 2]
    await native.call("roomMessage", R1, {"textMessage": "😀 from native"})
    room, message = await client.event("roomMessage")
    assert message["textMessage"] == "😀 from native"


async def test_raw_error_objects(chat):
    svc = await chat.start(options={"useRawErrorObjects": True})
    client = Polling(application(svc)[0], 4)
    await client.login()
    await client.post(f'42{NS},1["roomJoin",7]')
    assert await client.ack(1) == [{"name": "ChatServiceError", "code": "badArgument", "args": [0, 7]}, None]


@pytest.mark.parametrize("generation", [3, 4])
async def test_login_rejected_then_disconnected(chat, generation):
    svc = await chat.start(options={"allowQueryLogin": False})
    client = Polling(application(svc)[0], generation)
    await client.open()
    if generation == 3:
        assert await client.next() == "40"
        await client.post(f"40{NS}?user=u,")
    else:
        await client.post(f'40{NS},{{"user":"u"}}')
    assert await client.event("loginRejected") == ["ChatServiceError: No login provided"]
    assert await client.next(lambda packet: packet.startswith("41")) == f"41{NS},"
    await client.post("1")  # the client closes the session as socket.io clients do
    await no_sockets(svc)
    assert (await http(client.app, "GET", client.query()))[0] == 400


async def test_the_django_session_cookie_logs_in_on_both_transports(chat):
    svc = await chat.start(options={"allowQueryLogin": False})
    app, _ = application(svc)
    cookie = await sync_to_async(session_cookie)("carol")
    status, body = await http(app, "GET", "EIO=4&transport=polling", headers=[(b"cookie", cookie)])
    client = Polling(app, 4)
    client.sid = json.loads(decode_payload(body, 4)[0][1:])["sid"]
    await client.post(f"40{NS},")
    assert (await client.event("loginConfirmed"))[0] == "carol"
    ws = WebsocketCommunicator(app, "/socket.io/?EIO=3&transport=websocket", headers=[(b"cookie", cookie)])
    assert (await ws.connect(timeout=5))[0]
    await ws_next(ws)
    assert await ws_next(ws) == "40"
    await ws.send_to(text_data=f"40{NS},")
    assert await ws_next(ws) == f"40{NS},"
    assert json.loads((await ws_next(ws))[len(NS) + 3:])[:2] == ["loginConfirmed", "carol"]
    await ws.disconnect()


async def test_websocket_eio4_and_v4_query_reach_login(chat):
    svc = await chat.start()
    app, _ = application(svc)
    ws = await ws_open(app, 4)
    opened = json.loads((await ws_next(ws))[1:])
    assert opened["upgrades"] == [] and opened["maxPayload"] == svc.options.max_frame_bytes
    await ws.send_to(text_data=f'40{NS},{{"user":"alice","extra":[1]}}')
    assert json.loads((await ws_next(ws))[len(NS) + 3:])["sid"]
    login = json.loads((await ws_next(ws))[len(NS) + 3:])
    assert login[:2] == ["loginConfirmed", "alice"]
    socket = svc.transport.sockets[login[2]["id"]]
    assert svc.transport.get_handshake_data(socket.socket_id)["query"]["extra"] == "[1]"
    await ws.send_to(text_data=f"41{NS},")  # leaving the namespace ends the service socket
    await no_sockets(svc)
    await ws.disconnect()

    ws = await ws_open(app, 3, "&user=bob&greeting=hi")
    assert json.loads((await ws_next(ws))[1:])["upgrades"] == []
    assert await ws_next(ws) == "40"
    await ws.send_to(text_data=f"40{NS}?lang=en,")  # the namespace query is merged
    assert await ws_next(ws) == f"40{NS},"
    login = json.loads((await ws_next(ws))[len(NS) + 3:])
    query = svc.transport.get_handshake_data(login[2]["id"])["query"]
    assert login[1] == "bob" and query["greeting"] == "hi" and query["lang"] == "en"
    await ws.send_to(text_data="2")
    assert await ws_next(ws) == "3"  # EIO3: the client pings
    await ws.disconnect()
    await no_sockets(svc)


@pytest.mark.parametrize("generation", [3, 4])
async def test_upgrade_from_polling_to_websocket(chat, generation):
    svc = await chat.start()
    app, socketio = application(svc)
    client = Polling(app, generation)
    await client.login()
    waiting = asyncio.ensure_future(client.poll(timeout=10))
    await poll_parked(socketio, client.sid)
    ws = await ws_open(app, generation, "&sid=" + client.sid)
    await ws.send_to(text_data="2probe")
    assert await ws_next(ws) == "3probe"
    await waiting
    assert client.received == ["6"]  # the pending GET ends with a noop
    await ws.send_to(text_data="5")
    await ws.send_to(text_data=f'42{NS},1["listOwnSockets"]')
    ack = await ws_next(ws)
    assert ack.startswith(f"43{NS},1[null,")
    for method in ("GET", "POST"):
        status, body = await http(app, method, client.query(), body=b"1:6")
        assert status == 400 and json.loads(body)["code"] == 3  # polling is over for this session
    await ws.send_to(text_data=f'42{NS},2["listOwnSockets"]')  # which goes on
    assert (await ws_next(ws)).startswith(f"43{NS},2[null,")
    await ws.disconnect()
    await no_sockets(svc)


@pytest.mark.parametrize("generation", [3, 4])
async def test_an_unfinished_upgrade_is_closed_and_the_session_goes_on_polling(chat, generation, monkeypatch):
    """An upgrade WebSocket left idle, before or after its probe, would block
    the session's other upgrades: it is closed after UPGRADE_TIMEOUT_SECONDS."""
    monkeypatch.setattr(engine_sessions, "UPGRADE_TIMEOUT_SECONDS", 0.5)
    svc = await chat.start()
    app, _ = application(svc)
    client = Polling(app, generation)
    await client.login()
    idle = await ws_open(app, generation, "&sid=" + client.sid)
    assert await ws_next(idle, timeout=10) == {"type": "websocket.close", "code": 1000}
    probed = await ws_open(app, generation, "&sid=" + client.sid)
    await probed.send_to(text_data="2probe")
    assert await ws_next(probed) == "3probe"
    assert await ws_next(probed, timeout=10) == {"type": "websocket.close", "code": 1000}
    assert (await client.post(f'42{NS},1["listOwnSockets"]'))[0] == 200
    assert (await client.ack(1))[0] is None
    upgrade = await ws_open(app, generation, "&sid=" + client.sid)  # a later upgrade still works
    await upgrade.send_to(text_data="2probe")
    assert await ws_next(upgrade) == "3probe"
    await upgrade.send_to(text_data="5")
    await upgrade.send_to(text_data=f'42{NS},2["listOwnSockets"]')
    reply = await ws_next(upgrade)
    while reply == "6":  # the probe's noop, for a GET that was not waiting
        reply = await ws_next(upgrade)
    assert reply.startswith(f"43{NS},2[null,")
    await upgrade.disconnect()
    await no_sockets(svc)


async def test_server_side_disconnect_sends_the_namespace_disconnect(chat):
    svc = await chat.start()
    app, _ = application(svc)
    ws = await ws_login(app)
    await svc.disconnect_user_sockets(U1)
    assert await ws_next(ws) == f"41{NS},"
    await ws.send_to(text_data="1")  # the client closes the engine
    assert (await ws_next(ws))["type"] == "websocket.close"
    await no_sockets(svc)


async def test_polling_server_side_disconnect_and_a_close_that_no_poll_takes(chat):
    svc = await chat.start()
    app, socketio = application(svc)
    polling = Polling(app, 3)
    await polling.login()
    waiting = asyncio.ensure_future(polling.next(lambda packet: packet.startswith("41"), timeout=10))
    await poll_parked(socketio, polling.sid)
    await svc.disconnect_user_sockets(U1)
    assert await waiting == f"41{NS},"
    await no_sockets(svc)

    silent = Polling(app, 4)
    await silent.login()  # and never polls again
    started = asyncio.get_running_loop().time()
    await asyncio.wait_for(svc.close(), 10)  # the close does not wait for it
    assert asyncio.get_running_loop().time() - started < 8
    assert not svc.transport.sockets


# Limits.


async def test_rate_limited_events_get_the_error_in_their_ack(chat):
    svc = await chat.start(options={"rateLimit": 1, "rateBurst": 2})
    client = Polling(application(svc)[0], 3)
    await client.login()
    await client.post(*[f'42{NS},{i}["listOwnSockets"]' for i in range(1, 6)])
    acks = [await client.ack(i) for i in range(1, 6)]
    limited = [error for error, _ in acks if error]
    assert len(limited) >= 3 and all(error.startswith("ChatServiceError: Rate limit exceeded, retry in ") for error in limited)


@pytest.mark.parametrize("generation", [3, 4])
async def test_reconnecting_the_namespace_does_not_refill_the_rate_limit(chat, generation):
    """The bucket belongs to the Engine.IO session: a client that spends it,
    leaves the namespace and connects it again finds it as it left it."""
    svc = await chat.start(options={"rateLimit": 1, "rateBurst": 20})
    client = Polling(application(svc)[0], generation)

    async def refused(first):
        """The errors in the acks of 20 events numbered from `first`, sent in one POST."""
        ack_ids = range(first, first + 20)
        await client.post(*[f'42{NS},{i}["listOwnSockets"]' for i in ack_ids])
        return [error for error, _ in [await client.ack(i) for i in ack_ids] if error]

    await client.login()
    assert await refused(1) == []
    assert (await client.post(f"41{NS},"))[0] == 200
    await client.connect()
    limited = await refused(21)
    assert len(limited) >= 10, limited  # one token a second since the bucket was spent


async def test_a_poller_that_stops_polling_is_closed_as_a_slow_reader(chat):
    svc = await chat.start(options={"maxOutgoingBytes": 5000})
    await svc.add_room(R1)
    client = Polling(application(svc)[0], 4)
    await client.login()
    await client.post(f'42{NS},1["roomJoin","{R1}"]')
    await client.ack(1)
    for _ in range(30):
        await svc.exec_user_command(True, "roomMessage", R1, {"textMessage": "x" * 400})  # nobody polls
    await no_sockets(svc)
    assert await userlist(svc) == []


async def test_a_dead_session_ends_by_heartbeat_without_ghost_presence(chat):
    svc = await chat.start()
    await svc.add_room(R1)
    app, socketio = application(svc, ping_interval=0.3, ping_timeout=0.3)
    for generation in (3, 4):
        client = Polling(app, generation)
        await client.login()
        await client.post(f'42{NS},1["roomJoin","{R1}"]')
        await client.ack(1)
        assert await userlist(svc) == [U1]
        await no_sockets(svc)  # the client went silent
        assert await userlist(svc) == [] and not socketio.engine.sessions


async def test_an_eio4_session_answering_pings_stays(chat):
    svc = await chat.start()
    app, _ = application(svc, ping_interval=0.2, ping_timeout=0.3)
    client = Polling(app, 4)
    await client.login()
    for _ in range(5):
        await client.next(lambda packet: packet == "2")
        assert (await client.post("3"))[0] == 200
    assert len(svc.transport.sockets) == 1


async def test_a_session_that_never_connects_the_namespace_ends(chat):
    svc = await chat.start()
    app, socketio = application(svc, ping_interval=0.2, ping_timeout=0.3)
    client = Polling(app, 4)
    await client.open()
    deadline = asyncio.get_running_loop().time() + 10
    while client.sid in socketio.engine.sessions and asyncio.get_running_loop().time() < deadline:
        # it answers every ping, and connects nothing
        try:
            await client.next(lambda packet: packet == "2", timeout=2)
        except AssertionError:
            break  # the session ended: its poll got 400
        await client.post("3")
    assert not socketio.engine.sessions


# Hostile input.


@pytest.mark.parametrize(
    "query, code",
    [
        ("EIO=5&transport=polling", 5),
        ("transport=polling", 5),
        ("EIO=4&transport=carrier-pigeon", 0),
        ("EIO=4&transport=websocket", 3),
        ("EIO=4&transport=polling&sid=nope", 1),
        ("EIO=3&transport=polling&j=0", 3),
    ],
)
async def test_bad_requests_get_the_engine_io_error(chat, query, code):
    svc = await chat.start()
    status, body = await http(application(svc)[0], "GET", query)
    assert status == 400 and json.loads(body)["code"] == code


async def test_handshakes_are_get_only_and_foreign_origins_are_forbidden(chat):
    svc = await chat.start()
    app, _ = application(svc)
    status, body = await http(app, "POST", "EIO=4&transport=polling", body=b"40")
    assert (status, json.loads(body)["code"]) == (400, 2)
    status, body = await http(app, "GET", "EIO=4&transport=polling", headers=[(b"origin", b"http://evil.example")])
    assert (status, json.loads(body)) == (403, {"code": 4, "message": "Forbidden"})
    status, _ = await http(app, "GET", "EIO=4&transport=polling", headers=[(b"origin", b"http://localhost")])
    assert status == 200
    ws = WebsocketCommunicator(app, "/socket.io/?EIO=4&transport=websocket", headers=[(b"origin", b"http://evil.example")])
    assert not (await ws.connect(timeout=5))[0]


@pytest.mark.parametrize("generation", [3, 4])
@pytest.mark.parametrize(
    "body",
    [
        "garbage",
        "999999999999:4",
        "4:4",
        '42/chat-service,["a"',  # bad JSON
        "45-/chat-service,[\"a\",{\"_placeholder\":true,\"num\":0}]",  # binary event
        "42/chat-service,1234567890123456789[\"listOwnSockets\"]",  # huge ack id
        '42/chat-service,1{"not":"a list"}',
        "49",  # unknown Socket.IO packet type
        '40/chat-service,{"user":"user1"}',  # repeated CONNECT
        '43/chat-service,1[]',  # an ACK the server never asked for
        '42/other,["listOwnSockets"]',  # a namespace never connected
        "bAAAA",  # binary Engine.IO packet
        "0",  # OPEN from a client
    ],
)
async def test_hostile_posts_close_the_session_cleanly(chat, generation, body):
    svc = await chat.start()
    app, _ = application(svc)
    client = Polling(app, generation)
    await client.login()
    raw = body if body.startswith("999") or body == "4:4" or body == "garbage" else None
    if raw is None:
        status, reply = await client.post(body)
    else:
        status, reply = await client.post(raw=(raw if generation == 3 else raw.replace(":", "\x1e")).encode())
    assert status == 400 and json.loads(reply)["code"] == 3
    await no_sockets(svc)
    assert (await client.post("3"))[0] == 400  # the session is gone


async def test_packets_before_connect_and_unknown_namespaces(chat):
    svc = await chat.start()
    app, _ = application(svc)
    client = Polling(app, 4)
    await client.open()
    assert (await client.post('40/other,{}'))[0] == 200
    assert await client.next() == '44/other,{"message":"Invalid namespace"}'
    status, _ = await client.post(f'42{NS},1["listOwnSockets"]')  # before CONNECT
    assert status == 400
    client = Polling(app, 3)
    await client.open()
    assert await client.next() == "40"
    await client.post("40/other,")
    assert await client.next() == '44/other,"Invalid namespace"'
    await no_sockets(svc)


async def test_oversized_and_binary_posts_and_frames_are_refused(chat):
    svc = await chat.start(options={"maxFrameBytes": 1000})
    app, _ = application(svc)
    client = Polling(app, 4)
    await client.login()
    status, _ = await client.post(f'42{NS},["listOwnSockets","{"x" * 2000}"]')
    assert status == 413
    await no_sockets(svc)

    client = Polling(app, 3)
    await client.login()
    status, body = await http(app, "POST", client.query(), body=b"\x00\x01\xff", headers=[(b"content-type", b"application/octet-stream")])
    assert status == 400 and "binary" in json.loads(body)["message"]
    await no_sockets(svc)

    client = Polling(app, 4)
    await client.login()
    status, _ = await client.post(raw=b"4\xff\xfe")  # not UTF-8
    assert status == 400
    await no_sockets(svc)

    for frame, code in [({"bytes_data": b"\x04abc"}, 4003), ({"text_data": "4" + "x" * 2000}, 4009), ({"text_data": "9"}, 4002)]:
        ws = await ws_login(app)
        await ws.send_to(**frame)
        assert (await ws_next(ws)) == {"type": "websocket.close", "code": code}
        await ws.disconnect()
        await no_sockets(svc)


async def test_overlapping_polls_and_closed_sessions(chat):
    svc = await chat.start()
    app, socketio = application(svc)
    client = Polling(app, 4)
    await client.login()
    first = asyncio.ensure_future(client.poll(timeout=10))
    await poll_parked(socketio, client.sid)
    status, _ = await http(app, "GET", client.query())
    assert status == 400  # a second GET while one waits closes the session
    await first
    await no_sockets(svc)
    status, body = await client.post("3")
    assert (status, json.loads(body)["code"]) == (400, 1)
    ws = WebsocketCommunicator(app, f"/socket.io/?EIO=4&transport=websocket&sid={client.sid}")
    assert not (await ws.connect(timeout=5))[0]
