"""The default `on_connect` of protocol.md section 2: session, then token,
then (development only) `?user=`."""
from channels.db import database_sync_to_async

from .errors import ChatServiceError


def _token_user(key):
    from rest_framework.authtoken.models import Token

    token = Token.objects.select_related("user").filter(key=key).first()
    if token is None or not token.user.is_active:
        return None
    return token.user.get_username()


def _session_has_login(session):
    # An auth session whose user did not resolve (inactive, deleted) must not fall through.
    return session is not None and session.get("_auth_user_id") is not None


async def default_on_connect(server, socket_id):
    data = server.transport.get_handshake_data(socket_id)
    scope = data["scope"]
    user = scope.get("user")
    if user is not None and user.is_authenticated:
        if not user.is_active:
            raise ChatServiceError("noLogin")
        return user.get_username()
    if await database_sync_to_async(_session_has_login)(scope.get("session")):
        raise ChatServiceError("noLogin")
    query = data["query"]
    if "token" in query:
        user_name = await database_sync_to_async(_token_user)(query["token"])
        if user_name is None:
            raise ChatServiceError("noLogin")
        return user_name
    if server.options.allow_query_login:
        return query.get("user")
    return None
