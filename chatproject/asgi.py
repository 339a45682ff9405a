"""ASGI entry point: `daphne chatproject.asgi:application`.

HTTP goes to Django, except `/socket.io/` (long-polling of the socket.io
endpoint, docs/socketio.md); WebSockets go to `/ws/chat/` (the native
endpoint) or `/socket.io/`. The Django user of a connection is resolved
during its login, after the handshake is accepted, so that a storm of
handshakes never waits for the database (docs/protocol.md, Login).
"""
import gc
import os
import re

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatproject.settings")
django_application = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.sessions import SessionMiddlewareStack  # noqa: E402
from django.urls import re_path  # noqa: E402

from chatproject import service  # noqa: E402
from chatproject.connection import origin_checked  # noqa: E402
from chatproject.consumers import ChatConsumer  # noqa: E402
from chatproject.daphne_integration import attach_to_daphne  # noqa: E402
from chatproject.socketio.app import SocketIOApp  # noqa: E402

SOCKETIO_PATH = r"^socket\.io/?$"
SOCKETIO_HTTP_PATH = re.compile(r"^/socket\.io/?$")


def http_routes(socketio, django):
    """`/socket.io/` to the socket.io endpoint (session cookie included), the rest to Django."""
    socketio = SessionMiddlewareStack(socketio)

    async def route(scope, receive, send):
        application = socketio if SOCKETIO_HTTP_PATH.match(scope["path"]) else django
        await application(scope, receive, send)

    return route


def session_when_cookies(application):
    """Channels' session middleware only for a handshake that carries cookies:
    without them it would copy the scope twice and build an empty lazy
    session per connection, and wrap every message sent, for nothing (the
    login reads no session then, docs/protocol.md, Login)."""
    with_session = SessionMiddlewareStack(application)

    async def route(scope, receive, send):
        for name, _ in scope["headers"]:
            if name == b"cookie":
                return await with_session(scope, receive, send)
        return await application(scope, receive, send)

    return route


def build_application(service=None, socketio=None):
    """The ASGI application; `service` defaults to `chatproject.service.api`,
    `socketio` (the socket.io endpoint and its sessions) to a new SocketIOApp."""
    socketio = socketio or SocketIOApp(service)
    websocket_routes = URLRouter(
        [re_path(r"^ws/chat/?$", ChatConsumer.as_asgi(service=service)), re_path(SOCKETIO_PATH, socketio)]
    )
    return ProtocolTypeRouter(
        {
            "http": http_routes(socketio, django_application),
            "websocket": origin_checked(session_when_cookies(websocket_routes)),
        }
    )


api = service.api  # created now, so that bad options or hooks stop start-up
application = build_application()
attach_to_daphne(api)
# What start-up built (Django, the apps, daphne, autobahn) lives as long as the
# process: out of the collector's reach, a full collection no longer walks it.
# With a thousand connections opening and closing, a third less time in the
# collector (gc callbacks, bench connections load).
gc.freeze()
