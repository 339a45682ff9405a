"""The (user, room) lease in the store (docs/hooks-and-python-api.md, Locks):
one plain statement each for taking and releasing it."""
from presence.store import PresenceStore

HOSTILE = ["o'neil", 'a"b; DROP TABLE presence_roomlock; --', "%s %(x)s", "\\", "é☃"]


async def test_a_held_lease_is_refused_until_it_expires(chat):
    store = PresenceStore()
    assert await store.acquire_lock("u", "r", "first", 1000, 500)
    assert not await store.acquire_lock("u", "r", "second", 1499, 500)
    assert await store.acquire_lock("u", "r", "third", 1500, 500)  # expired at 1500: taken over
    assert not await store.acquire_lock("u", "r", "fourth", 1999, 500)


async def test_leases_of_other_users_and_rooms_are_independent(chat):
    store = PresenceStore()
    assert await store.acquire_lock("u", "r", "a", 1000, 500)
    assert await store.acquire_lock("u", "r2", "b", 1000, 500)
    assert await store.acquire_lock("u2", "r", "c", 1000, 500)


async def test_only_the_holders_token_releases(chat):
    store = PresenceStore()
    assert await store.acquire_lock("u", "r", "mine", 1000, 500)
    await store.release_lock("u", "r", "other")
    assert not await store.acquire_lock("u", "r", "next", 1001, 500)
    await store.release_lock("u", "r", "mine")
    assert await store.acquire_lock("u", "r", "next", 1002, 500)


async def test_hostile_names_and_tokens_are_plain_values(chat):
    store = PresenceStore()
    for text in HOSTILE:
        assert await store.acquire_lock(text, text, text, 1000, 500)
        assert not await store.acquire_lock(text, text, "x", 1001, 500)
        await store.release_lock(text, text, text)
        assert await store.acquire_lock(text, text, "y", 1002, 500)
