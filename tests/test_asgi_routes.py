"""The ASGI application (chatproject/asgi.py) routes as Channels' routers did
(ProtocolTypeRouter, the origin check, URLRouter): the same endpoints, the
root path and leading slashes handled the same way, the same errors for no
route; but it returns the endpoint's coroutine, so an idle connection keeps
no router suspended around it."""
import pytest
from channels.testing import WebsocketCommunicator

from chatproject.asgi import build_application
from chatproject.consumers import ChatConsumer
from tests.conftest import U1


def endpoint_of(application, path, **scope):
    coroutine = application({"type": "websocket", "path": path, "headers": [], **scope}, None, None)
    try:
        return coroutine.cr_code.co_qualname
    finally:
        coroutine.close()


async def test_each_path_reaches_its_endpoint_with_nothing_around_it(chat):
    application = build_application(await chat.start())
    assert endpoint_of(application, "/ws/chat/") == ChatConsumer.__call__.__qualname__
    assert endpoint_of(application, "/ws/chat") == "ChatConsumer.__call__"
    assert endpoint_of(application, "//ws/chat/") == "ChatConsumer.__call__"  # URLRouter strips leading slashes
    assert endpoint_of(application, "/socket.io/") == "SocketIOApp.__call__"
    assert endpoint_of(application, "/prefix/ws/chat/", root_path="/prefix") == "ChatConsumer.__call__"
    cookies = {"headers": [(b"cookie", b"sessionid=x")]}
    assert endpoint_of(application, "/ws/chat/", **cookies) == "CookieMiddleware.__call__"  # Channels' sessions
    origin = {"headers": [(b"origin", b"http://evil.example")]}
    assert endpoint_of(application, "/ws/chat/", **origin) == "AsyncConsumer.__call__"  # Channels' denier


@pytest.mark.parametrize(
    "path, scope",
    [
        ("/ws/chat/x", {}),
        ("/ws/chatx", {}),
        ("/ws/chat/\n", {}),
        ("/other/", {}),
        ("", {}),
        ("/ws/chat/", {"root_path": "/prefix"}),  # outside the root path
        ("/prefix/socket.io/x", {"root_path": "/prefix"}),
    ],
)
async def test_any_other_websocket_path_fails_as_with_channels_router(chat, path, scope):
    application = build_application(await chat.start())
    with pytest.raises(ValueError, match=r"^No route found for path "):
        await application({"type": "websocket", "path": path, "headers": [], **scope}, None, None)


async def test_an_unknown_scope_type_fails_as_with_channels_router(chat):
    application = build_application(await chat.start())
    with pytest.raises(ValueError, match="No application configured for scope type 'lifespan'"):
        await application({"type": "lifespan"}, None, None)


async def test_an_unrouted_handshake_is_not_accepted(chat):
    communicator = WebsocketCommunicator(build_application(await chat.start()), "/ws/nothing/")
    with pytest.raises(ValueError, match="No route found"):
        await communicator.connect(timeout=5)


async def test_the_last_origin_header_counts_as_with_channels(chat):
    svc = await chat.start()
    foreign_last = [(b"origin", b"http://localhost"), (b"origin", b"http://evil.example")]
    refused = await chat.client(svc, U1, expect_login=False, headers=foreign_last)
    assert refused.close_code == 403 and refused.login is None
    local_last = [(b"origin", b"http://evil.example"), (b"origin", b"http://localhost")]
    admitted = await chat.client(svc, U1, headers=local_last)
    assert admitted.login["method"] == "loginConfirmed"


async def test_a_hostile_origin_header_is_refused(chat):
    svc = await chat.start()
    for origin in (b"\xff\xfe", b"null", b"http://", b"localhost", b"http://localhost.evil.example", b" " * 5000):
        refused = await chat.client(svc, U1, expect_login=False, headers=[(b"origin", origin)])
        assert refused.close_code == 403 and refused.login is None, origin
