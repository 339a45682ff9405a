"""ASGI entry point: `daphne chatproject.asgi:application`.

HTTP goes to Django; `/ws/chat/` to the chat consumer. Under daphne the
service closes cleanly before the reactor stops (SIGTERM, SIGINT).
"""
import asyncio
import logging
import os
import sys

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatproject.settings")
django_application = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import re_path  # noqa: E402

from chatproject import service  # noqa: E402
from chatproject.consumers import ChatConsumer, origin_checked  # noqa: E402

logger = logging.getLogger("chat")


def build_application(service=None):
    """The ASGI application; `service` defaults to `chatproject.service.api`."""
    websocket_routes = URLRouter([re_path(r"^ws/chat/?$", ChatConsumer.as_asgi(service=service))])
    return ProtocolTypeRouter(
        {"http": django_application, "websocket": origin_checked(AuthMiddlewareStack(websocket_routes))}
    )


def attach_service_to_daphne():
    """Under daphne, start the service when the reactor runs (heartbeats and
    recovery begin with the process, not with its first connection), and
    close it before the reactor stops: daphne cancels consumers at shutdown,
    so the disconnect clean-up cannot live in them."""
    if "twisted.internet.reactor" not in sys.modules:
        return
    from daphne.ws_protocol import WebSocketFactory
    from twisted.internet import defer, reactor

    # Autobahn drops the TCP connection (1006) when a frame exceeds daphne's
    # size limit; with failByDrop off it closes properly with 1009 (protocol.md 4).
    reset_options = WebSocketFactory.resetProtocolOptions

    def reset_without_fail_by_drop(factory):
        reset_options(factory)
        factory.failByDrop = False

    WebSocketFactory.resetProtocolOptions = reset_without_fail_by_drop

    async def start():
        try:
            await api.start()
        except Exception:
            logger.exception("chat service failed to start")
            reactor.stop()

    async def close():
        try:
            await api.close()
        except Exception:
            logger.exception("chat service close failed")

    reactor.callWhenRunning(lambda: asyncio.ensure_future(start()))
    reactor.addSystemEventTrigger("before", "shutdown", lambda: defer.Deferred.fromFuture(asyncio.ensure_future(close())))


api = service.api  # created now, so that bad options or hooks stop start-up
application = build_application()
attach_service_to_daphne()
