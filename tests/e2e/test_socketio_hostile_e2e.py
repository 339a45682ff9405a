"""Hostile and unusual clients of the /socket.io/ endpoint against a live
daphne (issue 13, docs/socketio.md): raw HTTP long-polling and raw
WebSockets, both Engine.IO generations. Every case asserts a clear error or a
clean close, and that nothing is left behind: the session's sid answers
`Session ID unknown`, the user's sockets are gone from `listOwnSockets`, the
process's `chat_connections{transport="socketio"}` gauge is back to zero.

One daphne serves the whole module (short heartbeats: pingInterval and
pingTimeout of 2 s, so abandoned sessions are swept within seconds).
"""
import asyncio
import contextlib
import http.client
import itertools
import json
import re
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.test_fuzz import JSON, METHODS, fuzz_settings, to_frame

from .harness import Cluster, wait_until, ws_client
from .test_fuzz_e2e import log_errors

pytestmark = pytest.mark.e2e

ENV = {
    "CHAT_HEARTBEAT_RATE": "1000",
    "CHAT_HEARTBEAT_TIMEOUT": "5000",  # pingInterval = pingTimeout = 2 s
    "CHAT_ENABLE_ROOMS_MANAGEMENT": "true",
    "CHAT_RATE_LIMIT": "20",
    "CHAT_RATE_BURST": "10",
}
PING_SECONDS = 2.0
SWEPT_WITHIN = 4 * PING_SECONDS + 10  # interval + timeout, a sweeper tick, a busy machine
MAX_FRAME_BYTES = 65536  # the harness starts daphne with this limit
NS = "/chat-service"
WAIT = 20


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    cluster = Cluster(tmp_path_factory.mktemp("sio-hostile"), env=ENV)
    try:
        cluster.create_database()
        yield cluster.add_server()
    finally:
        cluster.close()


# Raw HTTP long-polling.


def _request(port, method, target, body=None, headers=None, timeout=WAIT):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, target, body=body.encode() if isinstance(body, str) else body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read().decode(), {k.lower(): v for k, v in response.getheaders()}
    finally:
        conn.close()


async def request(server, method, query, body=None, headers=None, timeout=WAIT):
    """(status, body text, lower-cased headers) of one request to /socket.io/."""
    return await asyncio.to_thread(_request, server.port, method, "/socket.io/?" + query, body, headers, timeout)


def error_of(status, text):
    return status, json.loads(text)


def js_length(text):
    """JavaScript's `text.length`, which Engine.IO 3 lengths count: UTF-16 code units."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def payload(generation, *packets):
    if generation == 3:
        return "".join(f"{js_length(packet)}:{packet}" for packet in packets)
    return "\x1e".join(packets)


def packets_of(generation, text):
    if generation == 4:
        return text.split("\x1e")
    found, position = [], 0
    while position < len(text):
        colon = text.index(":", position)
        units, end = int(text[position:colon]), colon + 1
        while units > 0:  # a character outside the BMP is two units
            units -= 2 if ord(text[end]) > 0xFFFF else 1
            end += 1
        found.append(text[colon + 1:end])
        position = end
    return found


class Polling:
    """One raw Engine.IO session on long-polling."""

    def __init__(self, server, generation):
        self.server = server
        self.generation = generation
        self.sid = None

    @property
    def query(self):
        return f"EIO={self.generation}&transport=polling&sid={self.sid}"

    async def open(self, user=None):
        query = f"EIO={self.generation}&transport=polling" + (f"&user={user}" if user else "")
        status, text, _ = await request(self.server, "GET", query)
        assert status == 200, text
        opened = packets_of(self.generation, text)[0]
        self.sid = json.loads(opened[1:])["sid"]
        return self

    async def post(self, *packets, body=None, headers=None):
        return await request(self.server, "POST", self.query, payload(self.generation, *packets) if body is None else body,
                             headers)

    async def get(self, timeout=WAIT):
        status, text, _ = await request(self.server, "GET", self.query, timeout=timeout)
        return status, packets_of(self.generation, text) if status == 200 else text

    async def until(self, predicate):
        """GET until a packet matches `predicate`; that packet."""
        async def find():
            while True:
                status, packets = await self.get()
                assert status == 200, packets
                for packet in packets:
                    if predicate(packet):
                        return packet
        return await asyncio.wait_for(find(), WAIT)

    async def login(self, user):
        """CONNECT `/chat-service` as `user`; loginConfirmed's data."""
        connect_packet = f"40{NS}?user={user}," if self.generation == 3 else f"40{NS},{json.dumps({'user': user})}"
        assert (await self.post(connect_packet))[:2] == (200, "ok")
        confirmed = await self.until(lambda packet: "loginConfirmed" in packet)
        return json.loads(confirmed[len(f"42{NS},"):])[2]

    async def gone(self):
        """Whether the server forgot the session (`Session ID unknown`)."""
        status, text, _ = await request(self.server, "GET", self.query)
        return status == 400 and json.loads(text)["code"] == 1


# Raw WebSockets.


async def ws_open(server, generation, sid=None, headers=None):
    """A WebSocket to /socket.io/; for a new session, after its open packet."""
    query = f"EIO={generation}&transport=websocket" + (f"&sid={sid}" if sid else "")
    ws = await connect(f"ws://127.0.0.1:{server.port}/socket.io/?{query}", max_size=None,
                       additional_headers=headers, open_timeout=WAIT)
    if sid is None:
        opened = await asyncio.wait_for(ws.recv(), WAIT)
        assert opened.startswith("0{"), opened
        ws.sid = json.loads(opened[1:])["sid"]
        if generation == 3:
            assert await asyncio.wait_for(ws.recv(), WAIT) == "40"
    return ws


async def ws_login(server, generation, user):
    ws = await ws_open(server, generation)
    await ws.send(f"40{NS}?user={user}," if generation == 3 else f"40{NS},{json.dumps({'user': user})}")
    confirmed = await ws_until(ws, lambda packet: "loginConfirmed" in packet)
    ws.socket_id = json.loads(confirmed[len(f"42{NS},"):])[2]["id"]
    return ws


async def ws_upgrade(server, session):
    """A WebSocket that upgraded the polling `session` (probe, then `5`)."""
    ws = await ws_open(server, session.generation, sid=session.sid)
    await ws.send("2probe")
    assert await asyncio.wait_for(ws.recv(), WAIT) == "3probe"
    await ws.send("5")
    return ws


async def ws_until(ws, predicate):
    async def find():
        while True:
            packet = await ws.recv()
            if predicate(packet):
                return packet
    return await asyncio.wait_for(find(), WAIT)


async def ws_ack(ws, ack_id):
    """The arguments of ack `ack_id` (pings and events skipped)."""
    prefix = f"43{NS},{ack_id}["
    packet = await ws_until(ws, lambda packet: packet.startswith(prefix))
    return json.loads(packet[len(prefix) - 1:])


async def close_code(ws):
    """The close code the server sent, once the connection is closed."""
    async def drained():
        try:
            while True:
                await ws.recv()
        except ConnectionClosed:
            return ws.close_code
    return await asyncio.wait_for(drained(), WAIT)


# Leak checks.


def _socketio_connections(port):
    status, text, _ = _request(port, "GET", "/metrics")
    assert status == 200, text[:200]
    found = re.search(r'^chat_connections\{transport="socketio"\} (\S+)$', text, re.M)
    return float(found.group(1)) if found else 0.0


async def no_socketio_connections(server):
    """Wait until the process holds no logged-in socket.io connection."""
    await wait_until(lambda: _socketio_connections(server.port) == 0, WAIT + SWEPT_WITHIN,
                     what="socket.io connections closed")


async def only_own_socket(server, user):
    """Wait until `user`'s only socket is a fresh native one: the others are cleaned up."""
    async with ws_client(server, user=user) as native:
        async def settled():
            while list(await native.call("listOwnSockets")) != [native.socket_id]:
                await asyncio.sleep(0.2)
        await asyncio.wait_for(settled(), WAIT + SWEPT_WITHIN)


async def chat_works(server, user):
    """A fresh native and a fresh socket.io client of `user` log in and see each other."""
    async with ws_client(server, user=user) as native:
        ws = await ws_login(server, 4, user)
        try:
            await ws.send(f'42{NS},1["listOwnSockets"]')
            error, sockets = await ws_ack(ws, 1)
            assert error is None and set(sockets) == {native.socket_id, ws.socket_id}, sockets
        finally:
            await ws.close()


# Requests that are not Engine.IO.


BAD_REQUESTS = [
    ("GET", "EIO=2&transport=polling", 5),
    ("GET", "EIO=5&transport=polling", 5),
    ("GET", "transport=polling", 5),
    ("GET", "EIO=4&transport=flashsocket", 0),
    ("GET", "EIO=3&transport=flashsocket", 0),
    ("GET", "EIO=3&transport=polling&j=0", 3),
    ("GET", "EIO=4&transport=polling&j=1", 3),
    ("GET", "EIO=4&transport=websocket", 3),  # a plain GET that names the WebSocket transport
    ("GET", "EIO=4&transport=polling&sid=nosuchsession", 1),
    ("POST", "EIO=3&transport=polling&sid=nosuchsession", 1),
    ("PUT", "EIO=4&transport=polling", 2),
    ("POST", "EIO=4&transport=polling", 2),
    ("OPTIONS", "EIO=4&transport=polling", 2),
]


async def test_requests_that_are_not_engine_io_get_its_error_json(server):
    for method, query, code in BAD_REQUESTS:
        status, text, _ = await request(server, method, query, body="1:1" if method in ("POST", "PUT") else None)
        assert error_of(status, text)[0] == 400 and json.loads(text)["code"] == code, (method, query, text)
    for generation in (3, 4):
        with pytest.raises(InvalidStatus):  # an unknown sid or version refuses the WebSocket handshake
            await ws_open(server, generation, sid="nosuchsession")
    with pytest.raises(InvalidStatus):
        await ws_open(server, 5)


@pytest.mark.parametrize("method", ["GET", "OPTIONS"])
async def test_a_foreign_origin_is_forbidden_without_a_cors_grant(server, method):
    """A page of another site gets 403, and no Access-Control-Allow-Origin
    naming it: the browser must not let it read even the error."""
    headers = {"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"}
    status, text, answer = await request(server, method, "EIO=4&transport=polling", headers=headers)
    assert error_of(status, text) == (403, {"code": 4, "message": "Forbidden"})
    assert "access-control-allow-origin" not in answer, answer
    session = await Polling(server, 4).open()
    with pytest.raises(InvalidStatus):  # nor may it upgrade a session to a WebSocket
        await ws_open(server, 4, sid=session.sid, headers={"Origin": "http://evil.example"})
    assert (await session.post("1"))[:2] == (200, "ok")
    own = f"http://127.0.0.1:{server.port}"
    status, text, answer = await request(server, "GET", "EIO=4&transport=polling", headers={"Origin": own})
    assert status == 200 and answer["access-control-allow-origin"] == own, (status, text, answer)


# Long-polling sessions that break the protocol.


@pytest.mark.parametrize("generation", [3, 4])
async def test_a_post_over_max_frame_bytes_gets_413_and_ends_the_session(server, generation):
    session = await Polling(server, generation).open()
    await session.login(f"big{generation}")
    status, text, _ = await session.post(body="4" + "x" * MAX_FRAME_BYTES)
    assert error_of(status, text) == (413, {"code": 3, "message": "Bad request: payload too large"})
    assert await session.gone()
    await only_own_socket(server, f"big{generation}")
    await no_socketio_connections(server)


async def test_an_engine_io_3_length_past_the_body_gets_400_and_ends_the_session(server):
    session = await Polling(server, 3).open()
    await session.login("longer")
    for body in ["999:42", "99999999999:4", "12:4", "3:4\u00e9\U0001f600"]:  # the last splits a character
        fresh = await Polling(server, 3).open()
        status, text, _ = await fresh.post(body=body)
        assert error_of(status, text) == (400, {"code": 3, "message": "Bad request"}), body
        assert await fresh.gone(), body
    status, text, _ = await session.post(body="999:42")
    assert error_of(status, text) == (400, {"code": 3, "message": "Bad request"})
    assert await session.gone()
    await only_own_socket(server, "longer")
    await no_socketio_connections(server)


@pytest.mark.parametrize("generation", [3, 4])
async def test_two_overlapping_gets_end_the_session(server, generation):
    """Engine.IO allows one GET at a time: the later of two gets 400, the
    waiting one the close packet, and the session ends. (A GET that a ping
    answered before the other arrived did not overlap: try again.)"""
    session = await Polling(server, generation).open()
    await session.login(f"overlap{generation}")
    for _ in range(5):
        answers = await asyncio.gather(session.get(), session.get())
        if all(status == 200 for status, _ in answers):
            continue
        answers.sort(key=lambda answer: answer[0])
        (ok, packets), (refused, text) = answers
        assert ok == 200 and packets[-1] == "1", answers  # the waiting poll gets the close
        assert error_of(refused, text) == (400, {"code": 3, "message": "Bad request"})
        break
    else:
        pytest.fail("the two GETs never overlapped")
    assert await session.gone()
    await only_own_socket(server, f"overlap{generation}")
    await no_socketio_connections(server)


@pytest.mark.parametrize("generation", [3, 4])
async def test_a_session_whose_post_body_never_ends_is_swept(server, generation):
    """A client that sends a POST's headers and part of its body, then
    stalls, sends no packet: its session ends after the heartbeat timeout
    and its socket is cleaned up while the request still hangs. (daphne
    hands a request to the application only once its body is complete, so
    the stalled connection itself is daphne's to time out.)"""
    session = await Polling(server, generation).open()
    await session.login(f"slow{generation}")
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write((f"POST /socket.io/?{session.query} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                  "Content-Type: text/plain;charset=UTF-8\r\nContent-Length: 1000\r\n\r\n42").encode())
    await writer.drain()
    try:
        await only_own_socket(server, f"slow{generation}")
        assert await session.gone()
        await no_socketio_connections(server)
    finally:
        writer.close()


# Answers the client never reads.

BIG = 60_000
FLOODS = [(3, "2" + "p" * BIG), (3, f"40/{'n' * BIG},"), (4, f"40/{'n' * BIG},")]
MAX_OUTGOING_BYTES = 1 << 20  # maxOutgoingBytes' default


@pytest.mark.parametrize("generation, packet", FLOODS, ids=["eio3-pings", "eio3-connects", "eio4-connects"])
async def test_answers_a_polling_client_never_takes_are_bounded(server, generation, packet):
    """Engine.IO 3 pings and CONNECTs to unknown namespaces are answered (a
    pong echoing the data, a CONNECT_ERROR naming the namespace); a client
    that sends them and never polls is ended once maxOutgoingBytes of
    answers wait (they used to pile up without end: 30 MB from 500 POSTs)."""
    session = await Polling(server, generation).open()
    await session.login(f"deaf{generation}")
    for sent in range(1, 4 * MAX_OUTGOING_BYTES // BIG):
        status, text, _ = await session.post(packet)
        if status != 200:
            break
    assert status != 200, f"{sent} answers of {len(packet)} bytes wait, the session still open"
    assert error_of(status, text) == (400, {"code": 3, "message": "Bad request"})
    assert sent <= MAX_OUTGOING_BYTES // BIG + 2, sent
    assert await session.gone()
    await only_own_socket(server, f"deaf{generation}")
    await no_socketio_connections(server)


@pytest.mark.parametrize("generation, packet", FLOODS, ids=["eio3-pings", "eio3-connects", "eio4-connects"])
async def test_answers_a_websocket_client_never_reads_are_bounded(server, generation, packet):
    ws = await ws_login(server, generation, f"deafws{generation}")
    ws.transport.pause_reading()  # the server's writes back up to it
    try:
        for _ in range(20 * MAX_OUTGOING_BYTES // BIG):  # past the kernel's and the client's buffers
            await ws.send(packet)
    except ConnectionClosed:
        pass
    ws.transport.resume_reading()
    # 4002, or 1006 when the server gave up on the close handshake the paused client could not read
    assert await close_code(ws) in (4002, 1006)
    assert f"engine.io session {ws.sid} closed: the client does not read its answers" in server.log_path.read_text()
    await only_own_socket(server, f"deafws{generation}")
    await no_socketio_connections(server)


# Sessions opened and abandoned.


async def test_abandoned_sessions_are_swept_before_and_after_the_namespace_connect(server):
    """Handshakes never followed by a CONNECT, and logged-in sessions whose
    client stops talking (its WebSocket left open, unread): all end within
    the heartbeat timeout, and leave no socket behind."""
    idle = [await Polling(server, generation).open() for generation in (3, 4) for _ in range(8)]
    connected = [await Polling(server, generation).open() for generation in (3, 4) for _ in range(4)]
    for session in connected:
        await session.login("abandoner")
    sockets = [await ws_open(server, generation) for generation in (3, 4) for _ in range(3)]
    sockets += [await ws_login(server, generation, "abandoner") for generation in (3, 4) for _ in range(2)]
    for session in connected[::4]:  # an upgrade probed, never completed
        probe = await ws_open(server, session.generation, sid=session.sid)
        await probe.send("2probe")
        assert await asyncio.wait_for(probe.recv(), WAIT) == "3probe"
        sockets.append(probe)
    for ws in sockets:
        ws.transport.pause_reading()  # a client that went quiet

    async def all_gone():
        while not all([await session.gone() for session in idle + connected]):
            await asyncio.sleep(0.5)
    await asyncio.wait_for(all_gone(), SWEPT_WITHIN + WAIT)
    for ws in sockets:
        ws.transport.resume_reading()
        # 1000, or 1006 when the server dropped the TCP connection after the close handshake timed out
        assert await close_code(ws) in (1000, 1006)
    await only_own_socket(server, "abandoner")
    await no_socketio_connections(server)


# Upgrade attacks.


async def test_an_upgrade_to_a_websocket_session_is_refused_and_the_victim_goes_on(server):
    victim = await ws_login(server, 4, "victim")
    intruder = await ws_open(server, 4, sid=victim.sid)  # accepted, then refused: the session is on WebSocket
    assert await close_code(intruder) == 4002
    with pytest.raises(InvalidStatus):  # the sid with the other generation: refused at the handshake
        await ws_open(server, 3, sid=victim.sid)
    await victim.send(f'42{NS},7["listOwnSockets"]')
    assert (await ws_ack(victim, 7))[0] is None
    await victim.close()
    await only_own_socket(server, "victim")


@pytest.mark.parametrize("generation", [3, 4])
async def test_upgrade_misuse_leaves_the_polling_session_working(server, generation):
    """A second upgrade WebSocket for one session is refused; a packet other
    than the probe before the upgrade completes refuses that upgrade; the
    session goes on on polling, and a proper upgrade still works after."""
    user = f"upgrader{generation}"
    session = await Polling(server, generation).open()
    await session.login(user)
    first = await ws_open(server, generation, sid=session.sid)
    second = await ws_open(server, generation, sid=session.sid)
    assert await close_code(second) == 4002
    await first.send(f'42{NS},1["listOwnSockets"]')  # data before the upgrade completes
    assert await close_code(first) == 4002
    assert (await session.post(f'42{NS},2["listOwnSockets"]'))[:2] == (200, "ok")
    ack = await session.until(lambda packet: packet.startswith(f"43{NS},2"))
    assert json.loads(ack[len(f"43{NS},2"):])[0] is None, ack

    upgrade = await ws_upgrade(server, session)
    await upgrade.send(f'42{NS},3["listOwnSockets"]')
    assert (await ws_ack(upgrade, 3))[0] is None
    status, text = await session.get()  # the old transport is over
    assert status == 400, text
    another = await ws_open(server, generation, sid=session.sid)  # a third upgrade, once on WebSocket
    assert await close_code(another) == 4002
    await upgrade.send(f'42{NS},4["listOwnSockets"]')
    assert (await ws_ack(upgrade, 4))[0] is None
    await upgrade.close()
    await only_own_socket(server, user)


@pytest.mark.parametrize("generation", [3, 4])
async def test_a_repeated_probe_refuses_that_upgrade(server, generation):
    """One `3probe` per upgrade: a client repeating `2probe` (and not reading)
    would pile the answers up. The upgrade is refused, the session goes on
    on polling and a later upgrade works."""
    session = await Polling(server, generation).open()
    await session.login(f"prober{generation}")
    probe = await ws_open(server, generation, sid=session.sid)
    await probe.send("2probe")
    assert await asyncio.wait_for(probe.recv(), WAIT) == "3probe"
    await probe.send("2probe")
    assert await close_code(probe) == 4002
    upgrade = await ws_upgrade(server, session)
    await upgrade.send(f'42{NS},1["listOwnSockets"]')
    assert (await ws_ack(upgrade, 1))[0] is None
    await upgrade.close()
    await only_own_socket(server, f"prober{generation}")


@pytest.mark.parametrize("generation", [3, 4])
async def test_an_upgrade_with_the_sid_of_a_closed_session_is_refused(server, generation):
    session = await Polling(server, generation).open()
    await session.login(f"closer{generation}")
    assert (await session.post("1"))[:2] == (200, "ok")  # the client closes the session
    assert await session.gone()
    status, text, _ = await session.post(f'42{NS},1["listOwnSockets"]')
    assert error_of(status, text) == (400, {"code": 1, "message": "Session ID unknown"})
    with pytest.raises(InvalidStatus):
        await ws_open(server, generation, sid=session.sid)
    await only_own_socket(server, f"closer{generation}")


# Events.


@pytest.mark.parametrize("generation", [3, 4])
async def test_an_event_flood_is_rate_limited_with_acks_in_order(server, generation):
    ws = await ws_login(server, generation, f"flood{generation}")
    count = 60
    for ack_id in range(1, count + 1):
        await ws.send(f'42{NS},{ack_id}["listOwnSockets"]')
    acks = [await ws_until(ws, lambda packet: packet.startswith(f"43{NS},")) for _ in range(count)]
    ids = [int(re.match(rf"43{NS},(\d+)\[", packet).group(1)) for packet in acks]
    assert ids == list(range(1, count + 1)), ids
    results = [json.loads(packet[packet.index("["):]) for packet in acks]
    assert all(len(result) == 2 for result in results), results
    limited = [error for error, _ in results if error is not None]
    assert limited and all(error.startswith("ChatServiceError: Rate limit exceeded, retry in ") for error in limited), limited
    assert count - len(limited) >= 10  # rateBurst
    await ws.send(f'42{NS},999999999999999["listOwnSockets"]')  # 15 digits: the largest ack id
    while True:  # the limiter refills at 20 per second
        error, _ = await ws_ack(ws, 999999999999999)
        if error is None:
            break
        await asyncio.sleep(0.1)
        await ws.send(f'42{NS},999999999999999["listOwnSockets"]')
    await ws.close()
    await only_own_socket(server, f"flood{generation}")


@pytest.mark.parametrize("generation", [3, 4])
async def test_an_event_flood_in_one_post_is_acked_in_order(server, generation):
    """1,500 events in one POST (60 KB): each gets its ack, in order, most of
    them the rate limit's error; the session stays open."""
    session = await Polling(server, generation).open()
    await session.login(f"postflood{generation}")
    count = 1500
    status, text, _ = await session.post(*[f'42{NS},{ack_id}["listOwnSockets"]' for ack_id in range(1, count + 1)])
    assert (status, text) == (200, "ok")
    acks = []

    async def collect():
        while len(acks) < count:
            status, packets = await session.get()
            assert status == 200, packets
            acks.extend(packet for packet in packets if packet.startswith(f"43{NS},"))
    await asyncio.wait_for(collect(), WAIT)
    assert [int(re.match(rf"43{NS},(\d+)\[", packet).group(1)) for packet in acks] == list(range(1, count + 1))
    results = [json.loads(packet[packet.index("["):]) for packet in acks]
    assert all(len(result) == 2 for result in results)
    assert sum(error is None for error, _ in results) >= 10  # rateBurst
    assert (await session.post("1"))[:2] == (200, "ok")
    await only_own_socket(server, f"postflood{generation}")


ODD_EVENTS = [
    (f'42{NS},1["roomJoin"' + ',"a"' * 500 + "]", "ChatServiceError: No such room a"),  # extra arguments are ignored
    (f'42{NS},1["nosuch"]', "ChatServiceError: No such command nosuch"),
    (f'42{NS},1["constructor"]', "ChatServiceError: No such command constructor"),
    (f'42{NS},1["__proto__"]', "ChatServiceError: No such command __proto__"),
    (f'42{NS},1["roomJoin",{{"__proto__":{{"x":1}}}}]', None),  # a bad argument: some error, not a crash
    (f'42{NS},1[1,2]', 4002),
    (f'42{NS},1[null]', 4002),
    (f'42{NS},1{{"name":"roomJoin"}}', 4002),
    (f'42{NS},1["roomMessage","r",' + "[" * 200 + "]" * 200 + "]", 4002),
    (f'42{NS},1000000000000000["listOwnSockets"]', 4002),  # 16 digits
    (f'42/other,1["listOwnSockets"]', 4002),
    (f'43{NS},1[null,null]', 4002),
    (f'45{NS},1-["x"]', 4002),
    (f'42{NS},1["listOwnSockets"', 4002),
]


@pytest.mark.parametrize("generation", [3, 4])
async def test_odd_events_get_an_error_ack_or_close_the_session(server, generation):
    user = f"odd{generation}"
    for packet, outcome in ODD_EVENTS:
        ws = await ws_login(server, generation, user)
        await ws.send(packet)
        if outcome == 4002:
            assert await close_code(ws) == 4002, packet
        else:
            error, data = await ws_ack(ws, 1)
            assert isinstance(error, str) and data is None, (packet, error, data)
            assert outcome is None or error == outcome, (packet, error)
            await ws.close()
    await only_own_socket(server, user)
    await chat_works(server, user)


@pytest.mark.parametrize("generation", [3, 4])
async def test_a_client_busy_after_its_close_packet_still_gets_the_close_code(server, generation):
    """The generated frames' rare 1006: a client sends an Engine.IO close
    packet, is busy for a while without reading (here its event loop is
    blocked for 1.5 s, as on a loaded machine), then sends another frame. The
    server's close frame waits unread in the client's socket; the server must
    still be waiting for the close reply, not have reset the connection (a
    reset fails the client's next write and drops the unread close frame),
    so the client gets code 1000."""
    ws = await ws_login(server, generation, f"busyclose{generation}")
    await ws.send("1")
    time.sleep(1.5)  # blocks the client's loop: the close frame is not read meanwhile
    await ws.send(f'42{NS},1["listOwnSockets"]')
    assert await close_code(ws) == 1000
    await only_own_socket(server, f"busyclose{generation}")


# Generated frames.

PLAIN_TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)  # a text frame can carry it
EVENTS = st.builds(lambda name, args: [name, *args], METHODS, st.lists(JSON, max_size=3)).map(to_frame)
SOCKET_IO_PACKETS = st.builds(
    "".join,
    st.tuples(
        st.just("4"),
        st.sampled_from("0123456") | st.sampled_from("789x"),
        st.sampled_from([f"{NS},", "", "/,", "/other,", NS, f"{NS}?user=x,"]),
        st.sampled_from(["", "1", "007", "999999999999999", "1000000000000000"]) | st.integers(0, 10**17).map(str),
        EVENTS | JSON.map(to_frame) | PLAIN_TEXT,
    ),
)
ENGINE_IO_PACKETS = st.builds("".join, st.tuples(st.sampled_from("0123456b7"), PLAIN_TEXT))
COMMAND_EVENTS = st.builds("42{},{}{}".format, st.just(NS), st.sampled_from(["", "1", "999999999999999"])
                           | st.integers(0, 10**15 - 1).map(str), EVENTS)
ANY_FRAME = SOCKET_IO_PACKETS | ENGINE_IO_PACKETS | st.binary(max_size=6)
# Commands first, then at most one frame of any kind: most of these close the session.
GENERATED_FRAMES = st.builds(lambda events, last: events + last, st.lists(COMMAND_EVENTS, max_size=5),
                             st.lists(ANY_FRAME, max_size=1))
SENTINEL = 424242


def fuzz(server, user, max_examples, cases, run_case):
    """Hypothesis runs `run_case(server, user, generation, case)` for generated
    cases of both generations; then nothing is left (no socket of `user`, no
    socket.io connection), the process still serves chat, and its log holds
    no traceback or ERROR line from the run."""
    log_start = log_errors(server)[1]
    with asyncio.Runner() as runner:
        @fuzz_settings(max_examples)
        @given(st.sampled_from([3, 4]), cases)
        def run(generation, case):
            runner.run(run_case(server, user, generation, case))

        run()
        runner.run(only_own_socket(server, user))
        runner.run(no_socketio_connections(server))
        runner.run(chat_works(server, user))
    assert log_errors(server, log_start)[0] == []


async def run_generated(server, user, generation, frames):
    """Send `frames` after a CONNECT, then a sentinel event: its ack comes,
    every ack has two arguments, or the session was closed with a protocol
    error (or normally, after an Engine.IO close)."""
    ws = await ws_login(server, generation, user)
    try:
        for frame in frames:
            await ws.send(frame)
        await ws.send(f'42{NS},{SENTINEL}["listOwnSockets"]')

        async def sentinel_ack():
            while True:
                packet = await ws.recv()
                if packet.startswith(f"43{NS},"):
                    ack = re.match(rf"43{NS},(\d+)(\[.*)$", packet, re.S)
                    assert len(json.loads(ack.group(2))) == 2, packet
                    if int(ack.group(1)) == SENTINEL:
                        return
        await asyncio.wait_for(sentinel_ack(), WAIT)
    except ConnectionClosed:
        assert ws.close_code in (1000, 4002, 4003, 4009), (ws.close_code, frames)
    finally:
        await ws.close()


def test_generated_frames_never_break_the_server(server):
    """Generated Engine.IO and Socket.IO frames (and binary ones) after a
    valid CONNECT: every session answers or closes cleanly, nothing is logged
    as an error, no socket is left, and the process still serves chat."""
    fuzz(server, "fuzz", 200, GENERATED_FRAMES, run_generated)


@pytest.mark.parametrize("generation", [3, 4])
async def test_namespace_connect_disconnect_cycles_leave_no_socket(server, generation):
    """Hundreds of CONNECT / DISCONNECT pairs of the namespace in one POST
    (each a login, and its clean-up while the login may still run): every
    socket is cleaned up and the session serves the next CONNECT.

    The next CONNECT follows at once, and the client keeps up its heartbeat
    until its socket is the user's only one: a session with no namespace
    connected, or silent, ends after pingInterval + pingTimeout, which the
    clean-ups may outlast (PostgreSQL)."""
    user = f"cycler{generation}"
    connect_packet = f"40{NS}?user={user}," if generation == 3 else f"40{NS},{json.dumps({'user': user})}"
    session = await Polling(server, generation).open()
    cycles = 300
    status, text, _ = await session.post(*[connect_packet, f"41{NS},"] * cycles, connect_packet)
    assert (status, text) == (200, "ok")

    async def heartbeats():  # a client's timer: Engine.IO 3 pings, Engine.IO 4 pongs
        while True:
            assert (await session.post("2" if generation == 3 else "3"))[:2] == (200, "ok")
            await asyncio.sleep(PING_SECONDS / 2)

    async def only_the_last_socket():
        for ack_id in itertools.count(1):
            assert (await session.post(f'42{NS},{ack_id}["listOwnSockets"]'))[:2] == (200, "ok")
            ack = await session.until(lambda packet: packet.startswith(f"43{NS},{ack_id}["))
            error, sockets = json.loads(ack[len(f"43{NS},{ack_id}"):])
            assert error is None, ack
            if len(sockets) == 1:
                return
            await asyncio.sleep(0.2)

    heartbeat = asyncio.ensure_future(heartbeats())
    try:
        await asyncio.wait_for(only_the_last_socket(), WAIT + SWEPT_WITHIN)
    finally:
        heartbeat.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await heartbeat  # raises its failure, if it had one
    assert (await session.post("1"))[:2] == (200, "ok")
    await only_own_socket(server, user)
    await no_socketio_connections(server)


BAD_BODIES = [
    (3, b"\xff\xfe", "text/plain;charset=UTF-8", "Bad request"),
    (4, b"42\xc3", "text/plain;charset=UTF-8", "Bad request"),
    (4, b"", "text/plain;charset=UTF-8", "Bad request"),
    (3, b"", "text/plain;charset=UTF-8", "Bad request"),
    (4, b"6\x1e\x1e6", "text/plain;charset=UTF-8", "Bad request"),
    (4, b"bAAEC", "text/plain;charset=UTF-8", "Bad request: binary packets are not supported"),
    (3, b"\x00\x03\xff42", "application/octet-stream", "Bad request: binary packets are not supported"),
    (4, b'40/chat-service,{"user":' + b"[" * 100 + b"]" * 100 + b"}", "text/plain;charset=UTF-8", "Bad request"),
]


@pytest.mark.parametrize("generation, body, content_type, message", BAD_BODIES)
async def test_a_bad_post_body_gets_400_and_ends_the_session(server, generation, body, content_type, message):
    session = await Polling(server, generation).open()
    status, text, _ = await session.post(body=body, headers={"Content-Type": content_type})
    assert error_of(status, text) == (400, {"code": 3, "message": message})
    assert await session.gone()


@pytest.mark.parametrize("user", [{"a": [1]}, 12, None, "x" * 5000, "\u0000nul", "\U0001f600"])
async def test_odd_auth_users_are_rejected_or_accepted_cleanly(server, user):
    """Whatever `auth.user` holds, the login answers: loginConfirmed with a
    name, or loginRejected with a ChatServiceError, never a crash."""
    session = await Polling(server, 4).open()
    assert (await session.post(f"40{NS},{json.dumps({'user': user})}"))[:2] == (200, "ok")
    answer = await session.until(lambda packet: "loginConfirmed" in packet or "loginRejected" in packet)
    name, *args = json.loads(answer[len(f"42{NS},"):])
    if name == "loginRejected":
        assert args[0].startswith("ChatServiceError: "), args
    else:
        assert isinstance(args[0], str) and args[1]["id"], args
    assert (await session.post("1"))[:2] == (200, "ok")
    await no_socketio_connections(server)


async def test_a_session_whose_last_get_is_never_read_is_swept(server):
    """A logged-in client that sends one more GET and never reads its answer,
    nor sends anything: the session ends after the heartbeat timeout."""
    session = await Polling(server, 4).open()
    await session.login("nonreader")
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(f"GET /socket.io/?{session.query} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    await writer.drain()
    try:
        await only_own_socket(server, "nonreader")
        assert await session.gone()
        await no_socketio_connections(server)
    finally:
        writer.close()


@pytest.mark.parametrize("generation", [3, 4])
async def test_packets_after_a_close_in_one_post_are_not_run(server, generation):
    """A POST whose payload closes the session (`1`) and goes on with a
    CONNECT and an event: nothing after the close runs, so no socket is
    left on a session that is gone (a ghost in the user's presence)."""
    user = f"afterclose{generation}"
    connect_packet = f"40{NS}?user={user}," if generation == 3 else f"40{NS},{json.dumps({'user': user})}"
    session = await Polling(server, generation).open()
    status, text, _ = await session.post("1", connect_packet, f'42{NS},1["roomCreate","ghostroom",false]')
    assert status in (200, 400), text
    assert await session.gone()
    async with ws_client(server, user=user) as native:  # logins started after the POST was handled
        assert list(await native.call("listOwnSockets")) == [native.socket_id]
        ws = await ws_login(server, 4, user)
        await ws.close()
    await only_own_socket(server, user)  # a ghost would stay
    await no_socketio_connections(server)


PAYLOAD_PACKETS = st.lists(COMMAND_EVENTS | SOCKET_IO_PACKETS | ENGINE_IO_PACKETS, min_size=1, max_size=5)


async def run_generated_payload(server, user, generation, packets):
    """One POST of generated packets after a CONNECT, with a sentinel event
    last: the POST is accepted and the sentinel's ack comes, or it gets 400
    and the session is gone."""
    session = await Polling(server, generation).open()
    await session.login(user)
    status, text, _ = await session.post(*packets, f'42{NS},{SENTINEL}["listOwnSockets"]')
    if status == 400:
        assert json.loads(text)["code"] == 3 and await session.gone(), (text, packets)
        return
    assert (status, text) == (200, "ok"), packets
    try:
        await session.until(lambda packet: packet.startswith(f"43{NS},{SENTINEL}["))
    except AssertionError:  # the payload closed the session (`1`, or a namespace DISCONNECT then the event)
        assert await session.gone(), packets
        return
    assert (await session.post("1"))[:2] == (200, "ok")


def test_generated_polling_payloads_never_break_the_server(server):
    """The generated packets of the WebSocket fuzz, several to a POST
    (where a close or an error stops the rest): the same guarantees."""
    fuzz(server, "payloadfuzz", 100, PAYLOAD_PACKETS, run_generated_payload)
