"""Behaviour cases (docs/testing.md): start-up and login (B1-B13, B210-B213)."""
import asyncio
import json

from asgiref.sync import sync_to_async

from chatproject.common.clock import now_ms
from chatproject.service import ChatService, ChatServiceError
from tests.conftest import M, R1, U1, session_cookie


async def rejected(chat, service, **kwargs):
    """Connect a client that is expected not to be logged in."""
    client = await chat.client(service, expect_login=False, **kwargs)
    return client


def login_error(client):
    assert client.login is not None, "no first message"
    assert client.login.get("method") == "loginRejected", client.login
    return client.login["params"][0]


# B1


async def test_b1_login_confirmed_first_with_socket_id(chat, svc):
    """B1: login confirmed first with socket id."""
    client = await chat.client(svc, expect_login=False, user=U1)
    first = client.login
    assert first["method"] == "loginConfirmed"
    assert "id" not in first
    user_name, auth_data = first["params"]
    assert user_name == "user1"
    assert isinstance(auth_data["id"], str) and auth_data["id"]


# B2


async def test_b2_service_without_configuration_ready_and_closed(chat):
    """B2: service without configuration ready and closed."""
    service = ChatService()
    events = []
    service.on("ready", lambda: events.append(("ready",)))
    service.on("closed", lambda error: events.append(("closed", error)))
    chat.services.append(service)
    await service.start()
    assert events == [("ready",)]
    await asyncio.wait_for(service.close(), 10)
    assert events == [("ready",), ("closed", None)]


# B3


class NoLoginHooks:
    def on_connect(self, server, socket_id):
        return None


async def test_b3_on_connect_none_is_no_login_and_close_4403(chat):
    """B3: on connect none is no login and close 4403."""
    service = await chat.start(hooks=NoLoginHooks())
    client = await rejected(chat, service, user=U1)
    error = login_error(client)
    assert error["data"]["code"] == "noLogin"
    assert error["data"]["args"] == []
    assert await client.wait_closed() == 4403
    assert all(method != "loginConfirmed" for method, _ in client.notifications)


# B4


async def test_b4_invalid_user_name_rejected(chat, svc):
    """B4: invalid user name rejected."""
    client = await rejected(chat, svc, user="user}1")
    error = login_error(client)
    assert error["data"]["code"] == "invalidName"
    assert error["data"]["args"] == ["user}1"]
    assert await client.wait_closed() == 4403


# B5


class HandshakeRecorder:
    def __init__(self):
        self.data = None
        self.id = None

    async def on_connect(self, server, socket_id):
        self.id = socket_id
        self.data = server.transport.get_handshake_data(socket_id)
        return None


async def test_b5_handshake_data_during_and_after_connection(chat):
    """B5: handshake data during and after connection."""
    hooks = HandshakeRecorder()
    service = await chat.start(hooks=hooks)
    client = await rejected(chat, service, user=U1)
    data = hooks.data
    assert data["is_connected"] is True
    assert data["query"]["user"] == "user1"
    assert isinstance(data["scope"], dict) and data["scope"]
    assert isinstance(data["headers"], dict)
    assert login_error(client)["data"]["code"] == "noLogin"
    assert await client.wait_closed() == 4403
    await client.communicator.disconnect()  # what daphne reports once the close handshake is over
    deadline = asyncio.get_running_loop().time() + 3
    after = service.transport.get_handshake_data(hooks.id)
    while after["is_connected"] and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.02)
        after = service.transport.get_handshake_data(hooks.id)
    assert after == {"is_connected": False, "query": {}, "headers": {}, "scope": {}}


# B6


class AuthDataHooks:
    def __init__(self):
        self.seen = None

    async def on_connect(self, server, socket_id):
        self.seen = (server, socket_id)
        return ("someUser", {"token": "token"})


async def test_b6_on_connect_returns_name_and_auth_data(chat):
    """B6: on connect returns name and auth data."""
    hooks = AuthDataHooks()
    service = await chat.start(hooks=hooks)
    client = await chat.client(service, U1)
    server, socket_id = hooks.seen
    assert server is service
    assert isinstance(socket_id, str) and socket_id
    assert client.login["params"] == ["someUser", {"token": "token", "id": socket_id}]
    assert client.socket_id == socket_id


# B7


class RaisingServiceErrorHooks:
    async def on_connect(self, server, socket_id):
        raise ChatServiceError("some error")


async def test_b7_on_connect_raises_custom_service_error(chat):
    """B7: on connect raises custom service error."""
    service = await chat.start(hooks=RaisingServiceErrorHooks())
    client = await rejected(chat, service, user=U1)
    error = login_error(client)
    assert error["data"] == {"name": "ChatServiceError", "code": "some error", "args": []}
    assert error["message"] == "some error"
    assert await client.wait_closed() == 4403


# B8


class RaisingRuntimeErrorHooks:
    def on_connect(self, server, socket_id):
        raise RuntimeError("boom")


async def test_b8_on_connect_raises_other_exception_internal_error(chat):
    """B8: on connect raises other exception internal error."""
    service = await chat.start(hooks=RaisingRuntimeErrorHooks())
    client = await rejected(chat, service, user=U1)
    error = login_error(client)
    assert error["data"]["code"] == "internalError"
    assert await client.wait_closed() == 4403
    received = json.dumps([client.login, client.notifications, client.replies])
    assert "boom" not in received


# B9


async def test_b9_socket_connect_and_disconnect_echo(chat, svc):
    """B9: socket connect and disconnect echo."""
    s1 = await chat.client(svc, U1)
    s2 = await chat.client(svc, U1)
    sid2 = s2.login["params"][1]["id"]
    assert await s1.notification("socketConnectEcho") == [sid2, 2]
    await s2.no_notification("socketConnectEcho")
    await s2.close()
    assert await s1.notification("socketDisconnectEcho") == [sid2, 1]


# B10


async def test_b10_close_closes_sockets_with_4001(chat, svc):
    """B10: close closes sockets with 4001."""
    s1 = await chat.client(svc, U1)
    await asyncio.wait_for(svc.close(), 10)
    assert await s1.wait_closed() == 4001


# B11


async def test_b11_instance_sockets(chat, svc):
    """B11: instance sockets."""
    s1 = await chat.client(svc, U1)
    expected = {s1.socket_id: "user1"}
    assert await svc.get_instance_sockets() == expected
    assert await svc.get_instance_sockets(svc.instance_uid) == expected


# B12


async def test_b12_instance_heartbeat(chat):
    """B12: instance heartbeat."""
    start = now_ms()
    service = await chat.start(options={"heartbeatRate": 500})
    await asyncio.sleep(1)
    own = await service.get_instance_heartbeat(service.instance_uid)
    default = await service.get_instance_heartbeat()
    for value in (own, default):
        assert isinstance(value, int)
        assert start <= value <= start + 2000


# B13


async def test_b13_unknown_instance_heartbeat_is_none(chat, svc):
    """B13: unknown instance heartbeat is none."""
    assert await svc.get_instance_heartbeat("instance") is None


# B210


async def test_b210_origin_check(chat, svc):
    """B210: origin check."""
    evil = await chat.client(svc, U1, expect_login=False, headers=[(b"origin", b"http://evil.example")])
    assert evil.close_code == 403
    assert evil.login is None
    local = await chat.client(svc, U1, headers=[(b"origin", b"http://localhost")])
    assert local.login["method"] == "loginConfirmed"
    assert local.login["params"][0] == "user1"
    no_origin = await chat.client(svc, U1)
    assert no_origin.login["method"] == "loginConfirmed"
    assert no_origin.login["params"][0] == "user1"


# B211


def _make_django_users():
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    User = get_user_model()
    alice = User.objects.create_user("alice", password="x")
    carol = User.objects.create_user("carol", password="x", is_active=False)
    return Token.objects.create(user=alice).key, Token.objects.create(user=carol).key


async def test_b211_default_on_connect_token_and_query_login(chat, svc):
    """B211: default on connect token and query login."""
    key, inactive_key = await sync_to_async(_make_django_users)()

    alice = await chat.client(svc, query=f"token={key}&user=user1")
    assert alice.login["params"][0] == "alice"

    wrong = await rejected(chat, svc, query="token=wrong&user=user1")
    assert login_error(wrong)["data"]["code"] == "noLogin"
    assert await wrong.wait_closed() == 4403

    carol = await rejected(chat, svc, query=f"token={inactive_key}&user=user1")
    assert login_error(carol)["data"]["code"] == "noLogin"
    assert await carol.wait_closed() == 4403

    spaced = await chat.client(svc, query="user=a+b%2Bc")
    assert spaced.login["params"][0] == "a b+c"

    repeated = await chat.client(svc, query="user=x&user=user1")
    assert repeated.login["params"][0] == "user1"


async def test_the_session_cookie_logs_in_and_other_cookies_fall_through(chat):
    svc = await chat.start(options={"allowQueryLogin": True})
    cookie = await sync_to_async(session_cookie)("dora")
    dora = await chat.client(svc, user="user1", headers=[(b"cookie", b"csrftoken=x; " + cookie)])
    assert dora.login["params"][0] == "dora"
    other = await chat.client(svc, user="user1", headers=[(b"cookie", b"csrftoken=x")])
    assert other.login["params"][0] == "user1"
    garbled = await chat.client(svc, user="user1", headers=[(b"cookie", b"sessionid=\xff;;=")])
    assert garbled.login["params"][0] == "user1"


async def test_a_hook_sees_the_session_user_with_or_without_cookies(chat):
    hooks = HandshakeRecorder()
    service = await chat.start(hooks=hooks)
    await rejected(chat, service, user=U1)
    assert hooks.data["scope"]["user"].is_anonymous
    cookie = await sync_to_async(session_cookie)("erin")
    await rejected(chat, service, user=U1, headers=[(b"cookie", cookie)])
    assert hooks.data["scope"]["user"].get_username() == "erin"


# B212


def system_message_frame(request_id, size, marker):
    """A systemMessage call whose UTF-8 text is exactly `size` bytes (with 2-byte characters)."""
    base = json.dumps(
        {"jsonrpc": "2.0", "id": request_id, "method": "systemMessage", "params": [marker]},
        ensure_ascii=False, separators=(",", ":"),
    )
    room = size - len(base.encode("utf-8"))
    padding = "é" * (room // 2) + "x" * (room % 2)
    frame = json.dumps(
        {"jsonrpc": "2.0", "id": request_id, "method": "systemMessage", "params": [marker + padding]},
        ensure_ascii=False, separators=(",", ":"),
    )
    assert len(frame.encode("utf-8")) == size
    assert len(frame) < size  # the limit counts bytes, not characters
    return frame, marker + padding


async def test_b212_max_frame_bytes(chat):
    """B212: max frame bytes."""
    service = await chat.start(options={"maxFrameBytes": 1000})
    s1 = await chat.client(service, U1)
    s2 = await chat.client(service, U1)
    frame, data = system_message_frame(1, 1000, "first")
    await s1.send_raw(text=frame)
    assert (await s1.reply(1))["result"] is None
    assert await s2.notification("systemMessage") == [data]
    frame, _ = system_message_frame(2, 1001, "second")
    await s1.send_raw(text=frame)
    assert await s1.wait_closed() in (4009, 1009)
    assert 2 not in s1.replies
    await s2.no_notification("systemMessage")


# B213


class SlowMessageHooks:
    def __init__(self):
        self.entered = asyncio.Event()
        self.release = asyncio.Event()
        self.log = []
        self.client = None

    async def room_message_before(self, exec_info):
        self.entered.set()
        await self.release.wait()

    async def on_disconnect(self, server, data):
        self.log.append(("on_disconnect", data["id"]))

    async def on_close(self, server, error):
        communicator = self.client.communicator
        queued = [message["type"] for message in list(communicator.output_queue._queue)]
        close_sent = self.client.close_code == 4001 or "websocket.close" in queued
        self.log.append(("on_close", error, close_sent))


async def test_b213_close_waits_for_running_command(chat):
    """B213: close waits for running command."""
    hooks = SlowMessageHooks()
    service = await chat.start(hooks=hooks)
    await service.add_room(R1)
    s1 = await chat.client(service, U1)
    hooks.client = s1
    assert await s1.call("roomJoin", R1) == 1
    await s1.send_raw(text=json.dumps({"jsonrpc": "2.0", "id": 100, "method": "roomMessage", "params": [R1, M]}))
    await asyncio.wait_for(hooks.entered.wait(), 5)
    closing = asyncio.ensure_future(service.close())
    await asyncio.sleep(0.2)
    assert not closing.done()
    assert s1.close_code is None
    uid = service.instance_uid
    hooks.release.set()
    reply = await s1.reply(100)
    assert reply["result"] == 1
    assert await s1.wait_closed() == 4001
    await asyncio.wait_for(closing, 10)
    assert hooks.log == [("on_disconnect", s1.socket_id), ("on_close", None, True)]
    other = await chat.start()
    assert await other.get_instance_heartbeat(uid) is None
    assert await other.get_instance_sockets(uid) == {}

