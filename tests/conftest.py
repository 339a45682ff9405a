"""Fixtures for in-process tests: services on a fresh channel layer, and clients.

Every test gets an empty database (`transactional_db`: the service's ORM
calls run in another thread) and its own channel layer: in memory, or Redis
pub/sub under a random prefix when REDIS_URL is set (the CI's second run).
"""
import asyncio
import os
import secrets

import pytest
from asgiref.sync import sync_to_async
from django.db import connections
from django.test import override_settings

from chatproject.asgi import build_application
from chatproject.service import ChatService
from tests.client import connect
from tests.e2e.harness import TEMPLATE

U1, U2, U3 = "user1", "user2", "user3"
R1, R2 = "room1", "room2"
M = {"textMessage": "Test message."}


async def eventually(predicate, timeout=3.0, interval=0.02):
    """Poll an async predicate until it is true; fails the test on timeout."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(interval)


async def userlist(svc, room=R1):
    return sorted(await svc.exec_user_command(True, "roomGetAccessList", room, "userlist"))


def session_cookie(name):
    """The Django session cookie (a `Cookie` header's value) of a new logged-in user `name`."""
    from django.conf import settings
    from django.contrib.auth.models import User
    from django.test import Client

    client = Client()
    client.force_login(User.objects.create_user(name, password="pw-unused-123"))
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}".encode()


def make_layer():
    redis_url = os.environ.get("REDIS_URL")
    if redis_url:
        from chatproject.layers import RedisPubSubLayer

        return RedisPubSubLayer(hosts=[redis_url], prefix="test" + secrets.token_hex(4))
    from chatproject.layers import ProcessChannelLayer

    return ProcessChannelLayer(capacity=100_000, group_expiry=86400 * 365)


class Chat:
    """Services started by one test (several share one store and layer) and their clients."""

    def __init__(self):
        self.layer = make_layer()
        self.services = []
        self.clients = []
        self.events = []

    def service(self, options=None, hooks=None):
        service = ChatService(options={"allowQueryLogin": True, **(options or {})}, hooks=hooks, layer=self.layer)
        for event in ("ready", "closed", "storeConsistencyFailure", "transportConsistencyFailure", "lockTimeExceeded"):
            service.on(event, lambda *args, _event=event, _service=service: self.events.append((_service, _event, args)))
        self.services.append(service)
        return service

    async def start(self, options=None, hooks=None):
        service = self.service(options, hooks)
        await service.start()
        return service

    async def client(self, service, user=None, **kwargs):
        client = await connect(build_application(service), user=user, **kwargs)
        self.clients.append(client)
        return client

    def events_named(self, name):
        return [args for _, event, args in self.events if event == name]

    async def close(self):
        for client in self.clients:
            try:
                await client.close()
            except Exception:
                pass
        for service in self.services:
            try:
                await asyncio.wait_for(service.close(), 10)
            except Exception:
                pass
        if hasattr(self.layer, "flush"):
            try:
                await self.layer.flush()
            except Exception:
                pass


def tables_to_clear():
    """Every table a test may write, children before parents."""
    from django.contrib.admin.models import LogEntry
    from django.contrib.auth.models import User
    from django.contrib.sessions.models import Session
    from rest_framework.authtoken.models import Token

    from messaging.models import ChatUser, DirectListEntry, Message
    from presence.models import Connection, Instance, Membership, RoomLock, RoomUser, UserSeen
    from rooms.models import Room, RoomListEntry

    models = [
        RoomLock, UserSeen, RoomUser, Membership, Connection, Instance, Message, DirectListEntry, ChatUser,
        RoomListEntry, Room, Token, LogEntry, Session, User.groups.through, User.user_permissions.through, User,
    ]
    return [model._meta.db_table for model in models]


@pytest.fixture(scope="session")
def django_db_setup(django_test_environment, django_db_blocker, django_db_keepdb, django_db_modify_db_settings):
    """Always create the test database: pytest-django creates it only for tests
    that name its own database fixtures, and `chat_db` is not one of them."""
    from django.test.utils import setup_databases, teardown_databases

    with django_db_blocker.unblock():
        config = setup_databases(verbosity=0, interactive=False, aliases={"default"}, keepdb=django_db_keepdb)
    yield
    if not django_db_keepdb:
        with django_db_blocker.unblock():
            teardown_databases(config, verbosity=0)


@pytest.fixture(scope="session", autouse=True)
def fast_password_hashing():
    """Users made by in-process tests get passwords hashed with MD5: PBKDF2's
    million rounds cost ~0.3 s per user and test nothing here (the daphne
    processes of tests/e2e keep the configured hashers)."""
    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        yield


@pytest.fixture(scope="session", autouse=True)
def e2e_database_template():
    """Drop the database template that e2e clusters copy (tests/e2e/harness.py),
    if any cluster made one, when the session ends."""
    yield
    TEMPLATE.drop()


@pytest.fixture
def chat_db(django_db_setup, django_db_blocker):
    """Database access for tests whose ORM calls run in other threads.

    Like `transactional_db`, but deleting the rows tests write instead of
    flushing every table, which costs seconds per test on PostgreSQL."""
    with django_db_blocker.unblock():
        yield
        with connections["default"].cursor() as cursor:
            for table in tables_to_clear():
                cursor.execute(f"DELETE FROM {connections['default'].ops.quote_name(table)}")


@pytest.fixture
async def chat(chat_db):
    chat = Chat()
    yield chat
    await chat.close()
    await sync_to_async(connections.close_all, thread_sensitive=True)()


@pytest.fixture
async def svc(chat):
    """A started service with the checklist's default options (allowQueryLogin on)."""
    return await chat.start()
