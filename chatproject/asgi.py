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

from channels.security.websocket import WebsocketDenier  # noqa: E402
from channels.sessions import SessionMiddlewareStack  # noqa: E402

from chatproject import service  # noqa: E402
from chatproject.connection import origin_rule  # noqa: E402
from chatproject.consumers import ChatConsumer  # noqa: E402
from chatproject.daphne_integration import attach_to_daphne  # noqa: E402
from chatproject.socketio.app import SocketIOApp  # noqa: E402

CHAT_PATH = re.compile(r"ws/chat/?")
SOCKETIO_PATH = re.compile(r"socket\.io/?")
SOCKETIO_HTTP_PATH = re.compile(r"^/socket\.io/?$")


def http_routes(socketio, django):
    """`/socket.io/` to the socket.io endpoint (session cookie included), the rest to Django."""
    socketio = SessionMiddlewareStack(socketio)

    async def route(scope, receive, send):
        application = socketio if SOCKETIO_HTTP_PATH.match(scope["path"]) else django
        await application(scope, receive, send)

    return route


def websocket_routes(service, socketio):
    """`/ws/chat/` to a new chat consumer, `/socket.io/` to the socket.io
    endpoint, matched as Channels' URLRouter matches `re_path` routes (the
    root path taken off, then leading slashes), with its error for any other
    path; the scope goes on as daphne made it (no `url_route`: nothing reads
    it). Returns the endpoint's coroutine: see `build_application`."""

    def route(scope, receive, send):
        path = scope["path"]
        root_path = scope.get("root_path", "")
        if root_path and not path.startswith(root_path):
            return _fail(ValueError("No route found for path %r." % path))
        path = path[len(root_path):].lstrip("/")
        if CHAT_PATH.fullmatch(path):
            return ChatConsumer(service=service)(scope, receive, send)
        if SOCKETIO_PATH.fullmatch(path):
            return socketio(scope, receive, send)
        return _fail(ValueError("No route found for path %r." % path))

    return route


def session_when_cookies(application):
    """Channels' session middleware only for a handshake that carries cookies:
    without them it would copy the scope twice and build an empty lazy
    session per connection, and wrap every message sent, for nothing (the
    login reads no session then, docs/protocol.md, Login)."""
    with_session = SessionMiddlewareStack(application)

    def route(scope, receive, send):
        for name, _ in scope["headers"]:
            if name == b"cookie":
                return with_session(scope, receive, send)
        return application(scope, receive, send)

    return route


async def _fail(error):
    raise error


def build_application(service=None, socketio=None):
    """The ASGI application; `service` defaults to `chatproject.service.api`,
    `socketio` (the socket.io endpoint and its sessions) to a new SocketIOApp.

    What Channels' ProtocolTypeRouter, OriginValidator and URLRouter did, each
    a coroutine awaiting the next for as long as the connection lives, is done
    before the endpoint starts: the application returns the endpoint's
    coroutine (or the Origin check's denial, or a coroutine raising the
    routers' error), so an idle WebSocket keeps only its consumer's."""
    socketio = socketio or SocketIOApp(service)
    http = http_routes(socketio, django_application)
    websocket = session_when_cookies(websocket_routes(service, socketio))
    origins = origin_rule()

    def application(scope, receive, send):
        kind = scope["type"]
        if kind == "websocket":
            if not origins.admits(scope):
                return WebsocketDenier()(scope, receive, send)
            return websocket(scope, receive, send)
        if kind == "http":
            return http(scope, receive, send)
        return _fail(ValueError("No application configured for scope type %r" % kind))

    application._asgi_single_callable = True  # a plain function, but ASGI 3 (asgiref would take it for ASGI 2)
    return application


api = service.api  # created now, so that bad options or hooks stop start-up
application = build_application()
attach_to_daphne(api)
# What start-up built (Django, the apps, daphne, autobahn) lives as long as the
# process: out of the collector's reach, a full collection no longer walks it.
# With a thousand connections opening and closing, a third less time in the
# collector (gc callbacks, bench connections load).
gc.freeze()
