"""The login's store call in plain SQL (bench/RESULTS.md, What each change
bought): a returning user keeps the record and settings it has, and a login
costs the same statements for a new and a returning user."""
import pytest
from asgiref.sync import sync_to_async
from django.db import connection
from django.test.utils import CaptureQueriesContext

from chatproject.common import hops as hop_module
from messaging.models import ChatUser
from messaging.store import MessagingStore
from tests.conftest import R1, R2, U1, U2, eventually


def _login_statements(user_name, socket_id):
    """The statements of the login's store call, run as the service runs it."""
    with CaptureQueriesContext(connection) as queries:
        nconnected = MessagingStore.add_login.__wrapped__(None, user_name, socket_id, "instance-x", 1)
    return len(queries.captured_queries), nconnected


async def test_login_statements_are_the_same_for_new_and_returning_users(chat, svc):
    new = await sync_to_async(_login_statements)(U2, "socket-a")
    returning = await sync_to_async(_login_statements)(U2, "socket-b")
    assert (new[1], returning[1]) == (1, 2)
    assert new[0] == returning[0]
    assert await sync_to_async(ChatUser.objects.filter(name=U2).count)() == 1


async def test_returning_user_keeps_their_settings(chat, svc):
    s1 = await chat.client(svc, U1)
    await s1.call("directSetWhitelistMode", True)
    await s1.call("directAddToList", "whitelist", [U2])
    await s1.close()
    again = await chat.client(svc, U1)
    assert await again.call("directGetWhitelistMode") is True
    assert await again.call("directGetAccessList", "whitelist") == [U2]
    assert await svc.messaging.has_user(U1)


async def test_disconnect_records_leave_nothing_behind(chat, svc):
    """The disconnect's store calls in plain SQL: the socket's rooms, then its
    memberships and record go, and the user's other socket is counted."""
    await svc.add_room(R1)
    await svc.add_room(R2)
    first, second = await chat.client(svc, U1), await chat.client(svc, U1)
    for room in (R1, R2):
        await first.call("roomJoin", room)
    await second.call("roomJoin", R1)
    rooms, nconnected = await svc.presence.begin_disconnect(first.socket_id)
    assert (sorted(name for _, name in rooms), nconnected) == ([R1, R2], None)  # a socket in rooms stays
    assert await svc.presence.remove_socket_records(first.socket_id) == 1
    assert await svc.presence.begin_disconnect(first.socket_id) == ([], 0)
    assert await svc.presence.joined_count((await svc.rooms.get_room(R1)).id, U1) == 1
    assert await svc.presence.joined_count((await svc.rooms.get_room(R2)).id, U1) == 0
    assert await svc.presence.remove_socket_records(first.socket_id) == 0


async def test_begin_disconnect_deletes_a_socket_in_no_room(chat, svc):
    first, second = await chat.client(svc, U1), await chat.client(svc, U1)
    assert await svc.presence.begin_disconnect(first.socket_id) == ([], 1)
    assert list(await svc.presence.user_sockets(U1)) == [second.socket_id]


@pytest.fixture
def hops(monkeypatch):
    """The service's database hops, as (function name, SQL statements run; not
    the transaction's BEGIN, which SQLite runs as a statement)."""
    recorded = []
    original = hop_module.run_hop

    def counting(function, args, kwargs):
        statements = []

        def record(execute, sql, params, many, context):
            if not sql.startswith("BEGIN"):
                statements.append(sql)
            return execute(sql, params, many, context)

        recorded.append((function.__name__, statements))
        with connection.execute_wrapper(record):
            return original(function, args, kwargs)

    monkeypatch.setattr(hop_module, "run_hop", counting)
    return recorded


async def test_query_login_and_idle_disconnect_take_one_hop_each(chat, svc, hops):
    """A login by query is one database hop of three statements (user, socket,
    count); the disconnect of a socket in no room is one hop of three (its
    rooms, the delete, the count). On PostgreSQL each hop is one statement,
    in autocommit (one round trip)."""
    statements = 1 if connection.vendor == "postgresql" else 3
    other = await chat.client(svc, U1)
    hops.clear()
    client = await chat.client(svc, U1)
    assert await other.notification("socketConnectEcho") == [client.socket_id, 2]
    assert [(name, len(statements)) for name, statements in hops] == [("add_login", statements)]
    hops.clear()
    await client.close()
    assert await other.notification("socketDisconnectEcho") == [client.socket_id, 1]
    assert [(name, len(statements)) for name, statements in hops] == [("begin_disconnect", statements)]


async def test_echoes_are_published_only_to_other_sockets(chat, monkeypatch):
    """socketConnectEcho and socketDisconnectEcho reach the user's other sockets,
    on any instance; a user's only socket publishes neither."""
    a, b = await chat.start(), await chat.start()
    published = []
    for service in (a, b):
        original = service.hub.publish_user

        async def spy(user_name, text, exclude=None, original=original):
            published.append((user_name, exclude))
            await original(user_name, text, exclude)

        monkeypatch.setattr(service.hub, "publish_user", spy)
    only = await chat.client(a, U2)
    await only.close()

    async def gone(user_name):
        return await a.presence.user_sockets(user_name) == {}

    await eventually(lambda: gone(U2))
    first = await chat.client(a, U1)
    assert published == []
    second = await chat.client(b, U1)
    assert await first.notification("socketConnectEcho") == [second.socket_id, 2]
    await second.close()
    assert await first.notification("socketDisconnectEcho") == [second.socket_id, 1]
    assert published == [(U1, second.socket_id), (U1, second.socket_id)]
    await first.close()
    await eventually(lambda: gone(U1))
    assert published == [(U1, second.socket_id), (U1, second.socket_id)]


async def test_failed_first_disconnect_step_is_reported_and_the_hook_runs(chat, monkeypatch):
    """When the disconnect's one hop fails for a socket in no room, its records
    stay: storeConsistencyFailure (userSockets), and on_disconnect sees only the id."""
    seen = []

    class Recording:
        async def on_disconnect(self, server, info):
            seen.append(info)

    svc = await chat.start(hooks=Recording())

    async def boom(socket_id):
        raise RuntimeError("injected")

    client = await chat.client(svc, U1)
    monkeypatch.setattr(svc.presence, "begin_disconnect", boom)
    await client.close()

    async def reported():
        return chat.events_named("storeConsistencyFailure") and seen

    await eventually(reported)
    (error, info), = chat.events_named("storeConsistencyFailure")
    assert str(error) == "injected"
    assert info == {"user_name": U1, "id": client.socket_id, "op_type": "userSockets"}
    assert seen == [{"id": client.socket_id}]
    assert list(await svc.presence.user_sockets(U1)) == [client.socket_id]
