"""The default `on_connect` (docs/protocol.md, Login): session, then token,
then (development only) `?user=`."""
from django.contrib.auth import SESSION_KEY

from chatproject.common.errors import ChatServiceError
from chatproject.common.hops import database_hop


class _SessionRequest:
    """What `django.contrib.auth.get_user` reads of a request."""

    def __init__(self, session):
        self.session = session


@database_hop
def _session_user(session):
    from django.contrib.auth import get_user

    return get_user(_SessionRequest(session))


async def resolve_session_user(scope):
    """Set `scope["user"]` from the connection's session (anonymous without
    one). Done at login, not in the handshake, and without a thread hop when
    there is no session cookie."""
    if "user" in scope:
        return
    session = scope.get("session")  # none without cookies
    if session is None or session.session_key is None:
        from django.contrib.auth.models import AnonymousUser

        scope["user"] = AnonymousUser()
    else:
        scope["user"] = await _session_user(session)


@database_hop
def _token_user(key):
    from rest_framework.authtoken.models import Token

    token = Token.objects.select_related("user").filter(key=key).first()
    if token is None or not token.user.is_active:
        return None
    return token.user.get_username()


def _session_has_login(session):
    # An auth session whose user did not resolve (inactive, deleted) must not
    # fall through. The session was loaded when the user was resolved.
    return session is not None and session.session_key is not None and session.get(SESSION_KEY) is not None


async def default_on_connect(server, socket_id):
    data = server.transport.get_handshake_data(socket_id)
    scope = data["scope"]
    user = scope.get("user")
    if user is not None and user.is_authenticated:
        if not user.is_active:
            raise ChatServiceError("noLogin")
        return user.get_username()
    if _session_has_login(scope.get("session")):
        raise ChatServiceError("noLogin")
    query = data["query"]
    if "token" in query:
        user_name = await _token_user(query["token"])
        if user_name is None:
            raise ChatServiceError("noLogin")
        return user_name
    if server.options.allow_query_login:
        return query.get("user")
    return None
