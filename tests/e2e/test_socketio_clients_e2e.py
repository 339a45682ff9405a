"""Real socket.io clients (socket.io-client 2.5.0 and 4.8.1 in Node) against
a live daphne's /socket.io/ endpoint, namespace /chat-service (issue 13,
docs/testing.md, "socket.io clients").

Every test runs with both client generations (``sio`` fixture: ``sio2`` for
Engine.IO 3, ``sio4`` for Engine.IO 4); socket.io-client 1.7.4 has one case. The 2.x expectations (ack shapes,
error strings, notification arguments) were first checked against the
original chat-service 1.0.0 (bench/peer), as docs/testing.md records.
"""
import re

import pytest

from .harness import STAFF_USER, arest, staff_token, wait_until, ws_client
from .socketio_clients import open_driver, sio, socketio_clients_installed  # noqa: F401  (fixtures)

pytestmark = pytest.mark.e2e

ROOMS_ON = {"CHAT_ENABLE_ROOMS_MANAGEMENT": "true", "CHAT_ENABLE_USERLIST_UPDATES": "true"}
SAMPLE_HOOKS = "tests.e2e.sample_hooks.SampleHooks"  # on_connect reads ?user=, room "hooked"
MESSAGE = {"textMessage": "Test message."}


def assert_message(message, author, text=MESSAGE["textMessage"]):
    """A processed room message: the text, the author, a timestamp and an id."""
    assert message["textMessage"] == text and message["author"] == author, message
    assert isinstance(message["timestamp"], int) and isinstance(message["id"], int), message


async def native_message_from(native, author):
    """The next room message by ``author`` a native client gets (its own come too)."""
    while True:
        room, message = await native.next_notification("roomMessage", timeout=20)
        if message["author"] == author:
            return message


async def sio_message_from(driver, socket, author):
    """The next room message by ``author`` a socket.io socket gets."""
    while True:
        room, message = await driver.event(socket, "roomMessage")
        if message["author"] == author:
            return message


async def test_login_confirmed_with_the_service_socket_id(sio, daphne_server):
    args = await sio.login("a", daphne_server, "alice")
    assert len(args) == 2 and args[0] == "alice", args
    assert isinstance(args[1]["id"], str) and args[1]["id"], args
    async with ws_client(daphne_server, user="alice") as native:
        assert await sio.event("a", "socketConnectEcho") == [native.socket_id, 2]
        own = await native.call("listOwnSockets")
    assert set(own) == {args[1]["id"], native.socket_id}, own


async def test_login_rejected_then_disconnected(sio, daphne_server):
    await sio.connect("x", daphne_server, query={})
    assert await sio.login_reply("x") == {
        "socket": "x", "type": "event", "event": "loginRejected",
        "args": ["ChatServiceError: No login provided"], "nargs": 1}
    assert (await sio.record("x", "disconnect"))["reason"] == "io server disconnect"


@pytest.mark.parametrize("token_kind", ["valid", "unknown"])
async def test_login_with_a_drf_token_in_the_query(sio, daphne_server, token_kind):
    """``?token=`` logs in the token's Django user, as on the native endpoint;
    an unknown token is rejected (it does not fall through to another login)."""
    token = staff_token(daphne_server) if token_kind == "valid" else "0" * 40
    await sio.connect("t", daphne_server, query={"token": token, "user": "mallory"})
    reply = await sio.login_reply("t")
    if token_kind == "valid":
        assert (reply.get("event"), reply["args"][0]) == ("loginConfirmed", STAFF_USER), reply
    else:
        assert (reply.get("event"), reply["args"]) == ("loginRejected", ["ChatServiceError: No login provided"]), reply
        assert (await sio.record("t", "disconnect"))["reason"] == "io server disconnect"


SESSION_SCRIPT = """
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client
client = Client()
client.force_login(User.objects.create_user("carol", password="pw-unused-123"))
print(settings.SESSION_COOKIE_NAME + "=" + client.cookies[settings.SESSION_COOKIE_NAME].value)
"""


@pytest.mark.parametrize("cookie_kind", ["session", "forged"])
@pytest.mark.daphne_env(CHAT_ALLOW_QUERY_LOGIN="false")
async def test_login_with_the_django_session_cookie_over_websocket(sio, daphne_server, cookie_kind):
    """A logged-in Django session's cookie logs its user in (Node's polling
    cannot send a Cookie header, so the WebSocket transport carries it)."""
    made = daphne_server.manage("shell", "-c", SESSION_SCRIPT)
    assert made.returncode == 0, made.stderr
    cookie = made.stdout.strip().splitlines()[-1]
    if cookie_kind == "forged":
        cookie = cookie.split("=")[0] + "=" + "x" * 32
    await sio.connect("c", daphne_server, query={"user": "mallory"}, transports=["websocket"],
                      extraHeaders={"Cookie": cookie})
    reply = await sio.login_reply("c")
    if cookie_kind == "session":
        assert (reply.get("event"), reply["args"][0]) == ("loginConfirmed", "carol"), reply
    else:
        assert (reply.get("event"), reply["args"]) == ("loginRejected", ["ChatServiceError: No login provided"]), reply


@pytest.mark.daphne_env(CHAT_HOOKS=SAMPLE_HOOKS)
async def test_login_data_of_the_on_connect_hook(sio, daphne_server):
    args = await sio.login("a", daphne_server, "alice")
    assert args[0] == "alice" and args[1]["greeting"] == "hi" and isinstance(args[1]["id"], str), args


@pytest.mark.daphne_env(**ROOMS_ON)
async def test_join_message_leave_with_two_argument_acks(sio, daphne_server):
    await sio.login("a", daphne_server, "alice")
    assert await sio.call("a", "roomCreate", "room1", False) == {
        "socket": "a", "type": "ack", "ack": 1, "args": [None, None], "nargs": 2}
    join = await sio.call("a", "roomJoin", "room1")
    assert (join["nargs"], join["args"]) == (2, [None, 1]), join
    sent = await sio.call("a", "roomMessage", "room1", MESSAGE)
    assert sent["nargs"] == 2 and sent["args"][0] is None and isinstance(sent["args"][1], int), sent
    room, message = await sio.event("a", "roomMessage")
    assert room == "room1" and message["id"] == sent["args"][1], message
    assert_message(message, "alice")

    await sio.emit("a", "roomMessage", "room1", {"textMessage": "no ack"})  # runs all the same
    room, message = await sio.event("a", "roomMessage")
    assert_message(message, "alice", "no ack")

    leave = await sio.call("a", "roomLeave", "room1")
    assert (leave["nargs"], leave["args"]) == (2, [None, 0]), leave
    async with ws_client(daphne_server, user="bob") as native:
        await native.call("roomJoin", "room1")
        await native.call("roomMessage", "room1", MESSAGE)
        await sio.no_event("a", "roomMessage")  # left: no more deliveries


@pytest.mark.daphne_env(**ROOMS_ON)
async def test_acks_come_back_in_the_order_of_the_events(sio, daphne_server):
    """Commands of one connection run one at a time, in arrival order."""
    await sio.login("a", daphne_server, "alice")
    await sio.ok("a", "roomCreate", "room1", False)
    await sio.ok("a", "roomJoin", "room1")
    tags = [f"m{i}" for i in range(8)]
    for i, tag in enumerate(tags):
        await sio.send(op="emit", socket="a", event="roomMessage", args=["room1", {"textMessage": str(i)}], ack=tag)
    acks = [await sio.take(lambda r: r.get("socket") == "a" and r["type"] == "ack", "an ack") for _ in tags]
    assert [ack["ack"] for ack in acks] == tags
    ids = [ack["args"][1] for ack in acks]
    assert ids == sorted(ids) and len(set(ids)) == len(ids), acks
    history = await sio.ok("a", "roomHistoryGet", "room1", 0, 10)
    assert [m["textMessage"] for m in history] == [str(i) for i in reversed(range(8))]


@pytest.mark.daphne_env(**ROOMS_ON)
async def test_a_binary_event_closes_the_session_and_runs_nothing(sio, daphne_server):
    """docs/socketio.md: text only; a BINARY_EVENT (an argument that is a
    Buffer) closes the session; the command does not run and the presence ends."""
    await sio.login("a", daphne_server, "alice")
    await sio.ok("a", "roomCreate", "room1", False)
    await sio.ok("a", "roomJoin", "room1")
    async with ws_client(daphne_server, user="bob") as watcher:
        await watcher.call("roomJoin", "room1")
        await sio.send(op="emit", socket="a", event="roomMessage",
                       args=["room1", {"$buffer": "aGk="}], ack="binary")
        assert (await sio.record("a", "disconnect"))["reason"] in ("transport close", "transport error")
        assert await watcher.next_notification("roomUserLeft", timeout=20) == ["room1", "alice"]
        assert await watcher.call("roomHistoryGet", "room1", 0, 10) == []
    await sio.no_record("a", "ack", wait=0.2)


@pytest.mark.daphne_env(CHAT_HOOKS=SAMPLE_HOOKS)
async def test_errors_are_chat_service_error_strings(sio, daphne_server):
    await sio.login("a", daphne_server, "alice")
    assert (await sio.call("a", "roomJoin", "lobby"))["args"] == ["ChatServiceError: No such room lobby", None]
    assert (await sio.call("a", "roomHistoryGet", "hooked", -1, 10))["args"] == [
        "ChatServiceError: Bad argument at position 1, value -1", None]
    assert (await sio.call("a", "roomJoin"))["args"] == ["ChatServiceError: Expected 1 arguments, got 0", None]
    await sio.ok("a", "roomJoin", "hooked")
    custom = await sio.call("a", "roomMessage", "hooked", {"textMessage": "forbidden"})
    assert (custom["nargs"], custom["args"]) == (2, ["ChatServiceError: forbidden", None]), custom


@pytest.mark.daphne_env(CHAT_HOOKS=SAMPLE_HOOKS, CHAT_USE_RAW_ERROR_OBJECTS="true")
async def test_errors_are_raw_objects_with_use_raw_error_objects(sio, daphne_server):
    def error(code, *args):
        return {"name": "ChatServiceError", "code": code, "args": list(args)}

    await sio.connect("x", daphne_server, query={})
    assert (await sio.login_reply("x"))["args"] == [error("noLogin")]
    await sio.record("x", "disconnect")

    await sio.login("a", daphne_server, "alice")
    assert (await sio.call("a", "roomJoin", "lobby"))["args"] == [error("noRoom", "lobby"), None]
    assert (await sio.call("a", "roomHistoryGet", "hooked", -1, 10))["args"] == [error("badArgument", 1, -1), None]
    assert (await sio.call("a", "roomHistoryGet", "hooked", 0, "ten"))["args"] == [error("badArgument", 2, "ten"), None]
    assert (await sio.call("a", "roomJoin"))["args"] == [error("wrongArgumentsCount", 1, 0), None]
    await sio.ok("a", "roomJoin", "hooked")
    assert (await sio.call("a", "roomMessage", "hooked", {"textMessage": "forbidden"}))["args"] == [
        error("forbidden"), None]


@pytest.mark.daphne_env(**ROOMS_ON)
async def test_notifications_reach_socketio_and_native_sockets_of_one_user(sio, daphne_server):
    """alice has a socket.io socket and a native one, bob a socket.io socket:
    echoes cross transports, both of alice's sockets get bob's message, and
    listOwnSockets and the REST API list both."""
    alice_sio = (await sio.login("a", daphne_server, "alice"))[1]["id"]
    await sio.ok("a", "roomCreate", "room1", False)
    async with ws_client(daphne_server, user="alice") as native:
        assert await sio.event("a", "socketConnectEcho") == [native.socket_id, 2]
        await sio.ok("a", "roomJoin", "room1")
        assert await native.next_notification("roomJoinedEcho", timeout=20) == ["room1", alice_sio, 1]
        assert await native.call("roomJoin", "room1") == 2
        assert await sio.event("a", "roomJoinedEcho") == ["room1", native.socket_id, 2]

        await sio.login("b", daphne_server, "bob")
        await sio.ok("b", "roomJoin", "room1")
        assert await sio.event("a", "roomUserJoined") == ["room1", "bob"]
        assert await native.next_notification("roomUserJoined", timeout=20) == ["room1", "bob"]

        sent_id = await sio.ok("b", "roomMessage", "room1", MESSAGE)
        for room, message in (await sio.event("a", "roomMessage"),
                              await native.next_notification("roomMessage", timeout=20)):
            assert room == "room1" and message["id"] == sent_id
            assert_message(message, "bob")

        expected = {alice_sio: ["room1"], native.socket_id: ["room1"]}
        assert await sio.ok("a", "listOwnSockets") == expected
        assert await native.call("listOwnSockets") == expected
        status, user = await arest(daphne_server, staff_token(daphne_server), "GET", "/api/users/alice/")
        assert status == 200 and user["online"] and user["sockets"] == expected, user

        assert await native.call("roomLeave", "room1") == 1
        assert await sio.event("a", "roomLeftEcho") == ["room1", native.socket_id, 1]
    assert await sio.event("a", "socketDisconnectEcho") == [native.socket_id, 1]


@pytest.mark.daphne_env(**ROOMS_ON)
async def test_history_through_an_ack(sio, daphne_server):
    await sio.login("a", daphne_server, "alice")
    await sio.ok("a", "roomCreate", "room1", False)
    await sio.ok("a", "roomJoin", "room1")
    ids = [await sio.ok("a", "roomMessage", "room1", {"textMessage": text}) for text in ("one", "two")]
    history = await sio.ok("a", "roomHistoryGet", "room1", 0, 10)
    assert [m["id"] for m in history] == ids[::-1], history  # newest first
    assert [m["textMessage"] for m in history] == ["two", "one"] and all(m["author"] == "alice" for m in history)
    info = await sio.ok("a", "roomHistoryInfo", "room1")
    assert info["historySize"] == 2 and info["lastMessageId"] == ids[-1], info


TRANSPORTS = {
    "polling-only": {"transports": ["polling"]},
    "websocket-only": {"transports": ["websocket"]},
    "upgrade": {},  # the default: polling first, then the upgrade to WebSocket
}


@pytest.mark.parametrize("mode", TRANSPORTS)
@pytest.mark.daphne_env(**ROOMS_ON)
async def test_transports_carry_commands_and_notifications(sio, daphne_server, mode):
    """The client's transport is what the mode asks for (the upgrade really
    happened), and messages flow both ways with a native client."""
    await sio.login("a", daphne_server, "alice", **TRANSPORTS[mode])
    opened = await sio.record("a", "open")
    if mode == "upgrade":
        assert opened["transport"] == "polling", opened
        assert (await sio.record("a", "upgrade"))["transport"] == "websocket"
    else:
        assert opened["transport"] == TRANSPORTS[mode]["transports"][0], opened

    await sio.ok("a", "roomCreate", "room1", False)
    await sio.ok("a", "roomJoin", "room1")
    async with ws_client(daphne_server, user="bob") as native:
        await native.call("roomJoin", "room1")
        await sio.ok("a", "roomMessage", "room1", {"textMessage": "from socket.io"})
        room, message = await native.next_notification("roomMessage", timeout=20)
        assert_message(message, "alice", "from socket.io")
        for text in ("from native 1", "from native 2"):
            await native.call("roomMessage", "room1", {"textMessage": text})
            assert_message(await sio_message_from(sio, "a", "bob"), "bob", text)

    expected = "polling" if mode == "polling-only" else "websocket"
    assert await sio.transport("a") == expected
    if mode != "upgrade":
        await sio.no_record("a", "upgrade", wait=0.5)


@pytest.mark.daphne_env(CHAT_RATE_LIMIT="1", CHAT_RATE_BURST="3")
async def test_rate_limit_applies_and_the_connection_stays_open(sio, daphne_server):
    """protocol.md, Limits: 3 requests of a burst run, the rest get rateLimited."""
    await sio.login("a", daphne_server, "alice")
    tags = []
    for _ in range(6):  # within well under a second: at most one token comes back
        tag = f"burst{len(tags)}"
        await sio.send(op="emit", socket="a", event="listOwnSockets", args=[], ack=tag)
        tags.append(tag)
    acks = [await sio.take(lambda r, t=tag: r.get("ack") == t, f"ack {tag}") for tag in tags]
    assert all(ack["nargs"] == 2 for ack in acks), acks
    assert all(ack["args"][0] is None for ack in acks[:3]), acks
    limited = [ack["args"][0] for ack in acks if ack["args"][0] is not None]
    assert limited and all(
        re.fullmatch(r"ChatServiceError: Rate limit exceeded, retry in \d+ ms", error) for error in limited), acks

    async def accepted():
        return (await sio.call("a", "listOwnSockets"))["args"][0] is None

    await wait_until(accepted, 20, interval=0.5, what="a request accepted again")
    await sio.no_record("a", "disconnect", wait=0.2)  # limited, never disconnected


@pytest.mark.parametrize("transport", ["websocket", "polling"])
@pytest.mark.daphne_env(CHAT_HEARTBEAT_RATE="1000", CHAT_HEARTBEAT_TIMEOUT="5000")
async def test_heartbeats_keep_an_idle_connection_alive(sio, daphne_server, transport):
    """Each generation's heartbeat (2.x: the client pings and the server
    answers; 4.x: the server pings) keeps a silent connection open past
    heartbeatTimeout (5 s here): a missing answer or ping would make the
    client close with 'ping timeout'."""
    await sio.login("a", daphne_server, "alice", transports=[transport])
    first = await sio.record("a", "heartbeat")
    beat = first
    while beat["at"] - first["at"] <= 6000:
        beat = await sio.record("a", "heartbeat")
    await sio.no_record("a", "disconnect", wait=0.1)
    assert (await sio.call("a", "listOwnSockets"))["args"][0] is None


FRAME_ENV = {**ROOMS_ON, "CHAT_MAX_FRAME_BYTES": "2000"}


@pytest.mark.parametrize("transport", ["websocket", "polling"])
@pytest.mark.daphne_env(**FRAME_ENV)
async def test_an_event_past_max_frame_bytes_ends_the_session(sio, daphne_server, transport):
    """docs/socketio.md, Limits: past maxFrameBytes (a WebSocket frame or a
    polling POST) the session is closed; the oversized message is never
    delivered and the sender's presence ends with it."""
    await sio.login("a", daphne_server, "alice", transports=[transport])
    await sio.ok("a", "roomCreate", "room1", False)
    await sio.ok("a", "roomJoin", "room1")
    async with ws_client(daphne_server, user="bob") as watcher:
        await watcher.call("roomJoin", "room1")
        await sio.ok("a", "roomMessage", "room1", {"textMessage": "x" * 1000})  # under the limit
        assert_message(await native_message_from(watcher, "alice"), "alice", "x" * 1000)

        await sio.emit("a", "roomMessage", "room1", {"textMessage": "y" * 3000})
        assert (await sio.record("a", "disconnect"))["reason"] in ("transport close", "transport error")
        assert await watcher.next_notification("roomUserLeft", timeout=20) == ["room1", "alice"]
        assert await watcher.call("roomGetAccessList", "room1", "userlist") == ["bob"]
        history = await watcher.call("roomHistoryGet", "room1", 0, 10)
        assert [m["textMessage"] for m in history] == ["x" * 1000], "the oversized message was stored"


GHOST_ENV = {**ROOMS_ON, "CHAT_HEARTBEAT_RATE": "1000", "CHAT_HEARTBEAT_TIMEOUT": "5000"}


@pytest.mark.parametrize("transport", ["websocket", "polling"])
@pytest.mark.daphne_env(**GHOST_ENV)
async def test_no_ghost_presence_after_the_client_process_dies(sio, daphne_server, transport):
    """protocol.md, Limits: however a connection ends, its presence is gone
    within heartbeatTimeout (5 s here). A killed WebSocket client closes its
    TCP connection; a killed polling client just stops polling, which only
    the heartbeat reveals."""
    await sio.login("a", daphne_server, "alice", transports=[transport])
    await sio.ok("a", "roomCreate", "room1", False)
    await sio.ok("a", "roomJoin", "room1")
    async with ws_client(daphne_server, user="bob") as watcher:
        await watcher.call("roomJoin", "room1")
        assert sorted(await watcher.call("roomGetAccessList", "room1", "userlist")) == ["alice", "bob"]
        await sio.kill()
        assert await watcher.next_notification("roomUserLeft", timeout=5 + 15) == ["room1", "alice"]
        assert await watcher.call("roomGetAccessList", "room1", "userlist") == ["bob"]


async def test_v5_auth_payload_logs_in(socketio_clients_installed, daphne_server, tmp_path):
    """socket.io-client 4.x sends the login in the CONNECT packet's auth payload."""
    async with open_driver("4", tmp_path) as sio4:
        await sio4.connect("a", daphne_server, auth={"user": "alice"})
        reply = await sio4.login_reply("a")
        assert reply["event"] == "loginConfirmed" and reply["args"][0] == "alice", reply


@pytest.mark.parametrize("origin, admitted", [("http://127.0.0.1", True), ("http://evil.example", False)])
async def test_browser_origins_are_checked_on_websocket(sio, daphne_server, origin, admitted):
    """A WebSocket handshake with an Origin header is checked as on the native
    endpoint (ALLOWED_HOSTS); Node clients send none and are admitted (every
    other test). Node's polling cannot send an Origin header at all."""
    await sio.connect("a", daphne_server, query={"user": "alice"}, transports=["websocket"],
                      extraHeaders={"Origin": f"{origin}:{daphne_server.port}"})
    reply = await sio.login_reply("a")
    if admitted:
        assert reply["type"] == "event" and reply["event"] == "loginConfirmed", reply
    else:
        assert reply["type"] == "connect_error", reply


@pytest.mark.daphne_env(**ROOMS_ON)
async def test_server_side_disconnect_reaches_the_client_and_ends_presence(sio, daphne_server):
    token = staff_token(daphne_server)
    dave_id = (await sio.login("d", daphne_server, "dave"))[1]["id"]
    await sio.ok("d", "roomCreate", "room1", False)
    await sio.ok("d", "roomJoin", "room1")
    async with ws_client(daphne_server, user="erin") as watcher:
        await watcher.call("roomJoin", "room1")
        assert "dave" in await watcher.call("roomGetAccessList", "room1", "userlist")

        status, body = await arest(daphne_server, token, "POST", "/api/users/dave/disconnect/")
        assert status == 202, body
        assert (await sio.record("d", "disconnect"))["reason"] == "io server disconnect"

        assert await watcher.next_notification("roomUserLeft", timeout=20) == ["room1", "dave"]
        assert await watcher.call("roomGetAccessList", "room1", "userlist") == ["erin"]
        seen = await watcher.call("roomUserSeen", "room1", "dave")
        assert seen["joined"] is False, seen
    async with ws_client(daphne_server, user="dave") as native_dave:
        assert await native_dave.call("listOwnSockets") == {native_dave.socket_id: []}
        assert dave_id != native_dave.socket_id


@pytest.mark.daphne_env(**ROOMS_ON)
async def test_socketio_client_1x_on_every_transport(socketio_clients_installed, daphne_server, tmp_path):
    """socket.io-client 1.7 (Engine.IO 3, like 2.x): polling-only, WebSocket-only
    and upgrading sockets log in, and exchange messages with a native client."""
    async with open_driver("1", tmp_path) as sio1, ws_client(daphne_server, user="bob") as native:
        await native.call("roomCreate", "room1", False)
        await native.call("roomJoin", "room1")
        for name, options in TRANSPORTS.items():
            await sio1.login(name, daphne_server, name, **options)
            await sio1.ok(name, "roomJoin", "room1")
            await sio1.ok(name, "roomMessage", "room1", {"textMessage": f"hi from {name}"})
            assert_message(await native_message_from(native, name), name, f"hi from {name}")
            await native.call("roomMessage", "room1", {"textMessage": f"hi {name}"})
            assert_message(await sio_message_from(sio1, name, "bob"), "bob", f"hi {name}")
        assert (await sio1.record("upgrade", "upgrade"))["transport"] == "websocket"
        assert [await sio1.transport(name) for name in TRANSPORTS] == ["polling", "websocket", "websocket"]


async def test_scale_out_websocket_client_and_native_client_on_two_processes(
        socketio_clients_installed, daphne_cluster, tmp_path):
    """A WebSocket-only socket.io client on one process and a native client on
    another share a room through Redis (no sticky routing needed)."""
    first, second = daphne_cluster(2, env=ROOMS_ON, redis=True)
    async with open_driver("4", tmp_path) as sio4, open_driver("2", tmp_path) as sio2:
        async with ws_client(second, user="bob") as native:
            await native.call("roomCreate", "room1", False)
            await native.call("roomJoin", "room1")
            for name, driver in (("a4", sio4), ("a2", sio2)):
                await driver.login(name, first, name, transports=["websocket"])
                await driver.ok(name, "roomJoin", "room1")
                assert await native.next_notification("roomUserJoined", timeout=20) == ["room1", name]
                await driver.ok(name, "roomMessage", "room1", {"textMessage": f"hi from {name}"})
                assert_message(await native_message_from(native, name), name, f"hi from {name}")
                await native.call("roomMessage", "room1", {"textMessage": f"hi {name}"})
                assert_message(await sio_message_from(driver, name, "bob"), "bob", f"hi {name}")
