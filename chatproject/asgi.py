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

from chatproject.consumers import ChatConsumer, origin_checked  # noqa: E402

logger = logging.getLogger("chat")


def build_application(service=None):
    """The ASGI application; `service` defaults to `chatproject.service.api`."""
    websocket_routes = URLRouter([re_path(r"^ws/chat/?$", ChatConsumer.as_asgi(service=service))])
    return ProtocolTypeRouter(
        {"http": django_application, "websocket": origin_checked(AuthMiddlewareStack(websocket_routes))}
    )


def close_service_before_daphne_stops():
    """Daphne cancels consumers at shutdown; the service's own close() runs first."""
    if "twisted.internet.reactor" not in sys.modules:
        return
    from twisted.internet import defer, reactor

    async def close():
        from chatproject.service import api

        try:
            await api.close()
        except Exception:
            logger.exception("chat service close failed")

    reactor.addSystemEventTrigger("before", "shutdown", lambda: defer.Deferred.fromFuture(asyncio.ensure_future(close())))


application = build_application()
close_service_before_daphne_stops()
