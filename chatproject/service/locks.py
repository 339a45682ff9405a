"""The (user, room) lock (docs/hooks-and-python-api.md, Locks): a lease row shared by
all instances, re-entrant within one execution through a context variable."""
import asyncio
import contextvars
import random
import secrets
from contextlib import asynccontextmanager

from chatproject.common.clock import now_ms
from chatproject.common.errors import ChatServiceError

_held = contextvars.ContextVar("chat_held_locks", default=frozenset())
RETRIES = 10
FIRST_DELAY = 0.1
GROWTH = 1.5


@asynccontextmanager
async def room_lock(service, user_name, room_name):
    key = (user_name, room_name)
    if key in _held.get():
        yield
        return
    store = service.presence
    ttl = service.options.lock_ttl
    token = secrets.token_urlsafe(16)
    delay = FIRST_DELAY
    for attempt in range(RETRIES + 1):
        if await store.acquire_lock(user_name, room_name, token, now_ms(), ttl):
            break
        if attempt == RETRIES:
            raise ChatServiceError("timeout")
        await asyncio.sleep(delay * random.uniform(1, 2))
        delay *= GROWTH
    taken_at = now_ms()
    reset = _held.set(_held.get() | {key})
    try:
        yield
    finally:
        _held.reset(reset)
        await asyncio.shield(store.release_lock(user_name, room_name, token))
        if now_ms() - taken_at > ttl:
            service.emit("lockTimeExceeded", token, {"user_name": user_name, "room_name": room_name})
