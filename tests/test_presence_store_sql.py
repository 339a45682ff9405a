"""The join's and leave's store calls in plain SQL (bench/RESULTS.md, What each
change bought): one statement each on PostgreSQL, a transaction of steps on
SQLite; both answer alike, whatever the names hold."""
from presence.store import PresenceStore
from tests.conftest import R1, U1

HOSTILE = ["o'neil", 'a"b; DROP TABLE presence_membership; --', "%s %(x)s", "\\", "é☃"]


async def _room_id(svc):
    await svc.add_room(R1)
    return (await svc.rooms.get_room(R1)).id


async def test_attach_and_detach_count_the_users_sockets(chat, svc):
    room_id = await _room_id(svc)
    first, second = await chat.client(svc, U1), await chat.client(svc, U1)
    store = PresenceStore()
    assert await store.attach_socket(room_id, U1, first.socket_id) == (1, True)
    assert await store.attach_socket(room_id, U1, first.socket_id) == (1, False)
    assert await store.attach_socket(room_id, U1, second.socket_id) == (2, True)
    assert await store.detach_socket(room_id, U1, first.socket_id) == (1, True)
    assert await store.detach_socket(room_id, U1, first.socket_id) == (1, False)
    assert await store.detach_socket(room_id, U1, second.socket_id) == (0, True)
    assert await store.joined_count(room_id, U1) == 0


async def test_userlist_add_and_remove_stamp_the_seen_time_on_a_change_only(chat, svc):
    room_id = await _room_id(svc)
    store = PresenceStore()
    for name in [U1, *HOSTILE]:
        assert await store.seen(room_id, name) is None
        assert await store.userlist_add(room_id, name, 100) is True
        assert await store.seen(room_id, name) == 100
        assert await store.userlist_add(room_id, name, 200) is False
        assert await store.seen(room_id, name) == 100
        assert await store.userlist_remove(room_id, name, 300) is True
        assert await store.seen(room_id, name) == 300
        assert await store.userlist_remove(room_id, name, 400) is False
        assert await store.seen(room_id, name) == 300
        assert await store.userlist_add(room_id, name, 500) is True
        assert await store.seen(room_id, name) == 500
    assert sorted(await store.userlist(room_id)) == sorted([U1, *HOSTILE])


async def test_hostile_user_names_in_memberships(chat, svc):
    room_id = await _room_id(svc)
    store = PresenceStore()
    for name in HOSTILE:
        client = await chat.client(svc, U1)
        assert await store.attach_socket(room_id, name, client.socket_id) == (1, True)
        assert await store.detach_socket(room_id, name, client.socket_id) == (0, True)
    assert await store.joined_count(room_id, U1) == 0
