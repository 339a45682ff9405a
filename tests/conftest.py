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

from chatproject.asgi import build_application
from chatproject.service import ChatService
from tests.client import connect

U1, U2, U3 = "user1", "user2", "user3"
R1, R2 = "room1", "room2"
M = {"textMessage": "Test message."}


def make_layer():
    redis_url = os.environ.get("REDIS_URL")
    if redis_url:
        from channels_redis.pubsub import RedisPubSubChannelLayer

        return RedisPubSubChannelLayer(hosts=[redis_url], prefix="test" + secrets.token_hex(4))
    from channels.layers import InMemoryChannelLayer

    return InMemoryChannelLayer(capacity=100_000, group_expiry=86400 * 365)


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


@pytest.fixture
async def chat(transactional_db):
    chat = Chat()
    yield chat
    await chat.close()
    await sync_to_async(connections.close_all, thread_sensitive=True)()


@pytest.fixture
async def svc(chat):
    """A started service with the checklist's default options (allowQueryLogin on)."""
    return await chat.start()
