"""ASGI entry point: `daphne chatproject.asgi:application`.

HTTP goes to Django; `/ws/chat/` to the chat consumer. The Django user of a
WebSocket is resolved during its login, after the handshake is accepted, so
that a storm of handshakes never waits for the database
(docs/protocol.md, Login).
"""
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatproject.settings")
django_application = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.sessions import SessionMiddlewareStack  # noqa: E402
from django.urls import re_path  # noqa: E402

from chatproject import service  # noqa: E402
from chatproject.consumers import ChatConsumer, origin_checked  # noqa: E402
from chatproject.daphne_integration import attach_to_daphne  # noqa: E402


def build_application(service=None):
    """The ASGI application; `service` defaults to `chatproject.service.api`."""
    websocket_routes = URLRouter([re_path(r"^ws/chat/?$", ChatConsumer.as_asgi(service=service))])
    return ProtocolTypeRouter(
        {"http": django_application, "websocket": origin_checked(SessionMiddlewareStack(websocket_routes))}
    )


api = service.api  # created now, so that bad options or hooks stop start-up
application = build_application()
attach_to_daphne(api)
