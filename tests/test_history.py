"""Behaviour cases (docs/testing.md): room messages and history (B41-B57)."""
from tests.conftest import M, R1, U1, U2


def ids(messages):
    return [message["id"] for message in messages]


async def joined_client(chat, service, user=U1, room=R1):
    client = await chat.client(service, user)
    await client.call("roomJoin", room)
    return client


async def send(client, count, room=R1):
    """Send `count` messages; returns their ids."""
    return [await client.call("roomMessage", room, {"textMessage": f"Test message {n}."}) for n in range(1, count + 1)]


async def test_b41_message_then_recent_history(chat, svc):
    """B41: message then recent history."""
    await svc.add_room(R1)
    s1 = await joined_client(chat, svc)
    assert await s1.call("roomMessage", R1, M) == 1
    history = await s1.call("roomRecentHistory", R1)
    assert len(history) == 1
    message = history[0]
    assert message["textMessage"] == "Test message."
    assert message["author"] == "user1"
    assert isinstance(message["timestamp"], int) and not isinstance(message["timestamp"], bool)
    assert message["id"] == 1


async def test_b42_message_reaches_all_joined_sockets(chat, svc):
    """B42: message reaches all joined sockets."""
    await svc.add_room(R1)
    s1 = await joined_client(chat, svc, U1)
    s2 = await joined_client(chat, svc, U2)
    assert await s1.call("roomMessage", R1, M) == 1
    payloads = []
    for client in (s1, s2):
        room, message = await client.notification("roomMessage")
        assert room == R1
        assert set(message) == {"textMessage", "author", "timestamp", "id"}
        assert message["textMessage"] == "Test message."
        assert message["author"] == "user1"
        assert isinstance(message["timestamp"], int) and not isinstance(message["timestamp"], bool)
        assert message["id"] == 1
        payloads.append(message)
    assert payloads[0] == payloads[1]


async def test_b43_history_max_size_zero_stores_nothing(chat):
    """B43: history max size zero stores nothing."""
    service = await chat.start(options={"historyMaxSize": 0})
    await service.add_room(R1)
    s1 = await joined_client(chat, service)
    assert await s1.call("roomMessage", R1, M) == 1
    assert await s1.call("roomRecentHistory", R1) == []
    info = await s1.call("roomHistoryInfo", R1)
    assert info["historySize"] == 0
    assert info["historyMaxSize"] == 0
    assert info["lastMessageId"] == 1
    assert await s1.call("roomMessage", R1, M) == 2


async def test_b44_history_max_get_messages_zero_disables_reads(chat):
    """B44: history max get messages zero disables reads."""
    service = await chat.start(options={"historyMaxGetMessages": 0})
    await service.add_room(R1)
    s1 = await joined_client(chat, service)
    assert await s1.call("roomMessage", R1, M) == 1
    assert await s1.call("roomRecentHistory", R1) == []
    assert await s1.call("roomHistoryGet", R1, 0, 10) == []


async def test_b45_history_max_size_option_reported(chat):
    """B45: history max size option reported."""
    service = await chat.start(options={"historyMaxSize": 1000})
    await service.add_room(R1)
    s1 = await joined_client(chat, service)
    assert (await s1.call("roomHistoryInfo", R1))["historyMaxSize"] == 1000


async def test_b46_history_max_size_one_keeps_newest(chat):
    """B46: history max size one keeps newest."""
    service = await chat.start(options={"historyMaxSize": 1})
    await service.add_room(R1)
    s1 = await joined_client(chat, service)
    assert await s1.call("roomMessage", R1, {"textMessage": "Test message 1."}) == 1
    assert await s1.call("roomMessage", R1, {"textMessage": "Test message 2."}) == 2
    history = await s1.call("roomRecentHistory", R1)
    assert len(history) == 1
    assert history[0]["textMessage"] == "Test message 2."
    assert history[0]["author"] == "user1"
    assert history[0]["id"] == 2


async def test_b47_history_get_pages_after_id(chat, svc):
    """B47: history get pages after id."""
    await svc.add_room(R1)
    s1 = await joined_client(chat, svc)
    assert await send(s1, 2) == [1, 2]
    history = await s1.call("roomHistoryGet", R1, 0, 10)
    assert ids(history) == [2, 1]
    for message in history:
        assert set(message) == {"textMessage", "author", "timestamp", "id"}
        assert message["author"] == "user1"
        assert isinstance(message["timestamp"], int)
    assert history[0]["textMessage"] == "Test message 2."
    assert history[1]["textMessage"] == "Test message 1."
    assert ids(await s1.call("roomHistoryGet", R1, 1, 10)) == [2]
    assert await s1.call("roomHistoryGet", R1, 2, 10) == []


async def test_b48_history_get_capped_by_max_get_messages(chat):
    """B48: history get capped by max get messages."""
    service = await chat.start(options={"historyMaxGetMessages": 2})
    await service.add_room(R1)
    s1 = await joined_client(chat, service)
    await send(s1, 3)
    assert ids(await s1.call("roomHistoryGet", R1, 0, 10)) == [2, 1]
    assert ids(await s1.call("roomHistoryGet", R1, 1, 10)) == [3, 2]
    assert ids(await s1.call("roomHistoryGet", R1, 2, 10)) == [3]
    assert await s1.call("roomHistoryGet", R1, 3, 10) == []


async def test_b49_history_get_after_trim(chat):
    """B49: history get after trim."""
    service = await chat.start(options={"historyMaxSize": 2})
    await service.add_room(R1)
    s1 = await joined_client(chat, service)
    await send(s1, 3)
    assert ids(await s1.call("roomHistoryGet", R1, 0, 10)) == [3, 2]
    assert ids(await s1.call("roomHistoryGet", R1, 1, 10)) == [3, 2]
    assert ids(await s1.call("roomHistoryGet", R1, 2, 10)) == [3]
    assert await s1.call("roomHistoryGet", R1, 3, 10) == []


async def test_b50_change_history_max_size_shrinks(chat):
    """B50: change history max size shrinks."""
    service = await chat.start(options={"historyMaxSize": 2})
    await service.add_room(R1)
    s1 = await joined_client(chat, service)
    await send(s1, 2)
    await service.change_room_history_max_size(R1, 1)
    assert ids(await s1.call("roomHistoryGet", R1, 0, 9)) == [2]
    info = await s1.call("roomHistoryInfo", R1)
    assert info["historySize"] == 1
    assert info["historyMaxSize"] == 1


async def test_b51_history_info_keys_and_defaults(chat, svc):
    """B51: history info keys and defaults."""
    await svc.add_room(R1)
    s1 = await joined_client(chat, svc)
    assert await s1.call("roomHistoryInfo", R1) == {
        "historyMaxGetMessages": 100,
        "historyMaxSize": 10000,
        "historySize": 0,
        "lastMessageId": 0,
    }
    assert await s1.call("roomMessage", R1, M) == 1
    assert await s1.call("roomHistoryInfo", R1) == {
        "historyMaxGetMessages": 100,
        "historyMaxSize": 10000,
        "historySize": 1,
        "lastMessageId": 1,
    }


async def test_b52_history_get_starts_at_oldest_stored(chat):
    """B52: (Decision) a start that has been dropped begins at the oldest stored message."""
    service = await chat.start(options={"historyMaxSize": 2})
    await service.add_room(R1)
    s1 = await joined_client(chat, service)
    await send(s1, 3)
    assert ids(await s1.call("roomHistoryGet", R1, 0, 1)) == [2]
    assert ids(await s1.call("roomHistoryGet", R1, 1, 1)) == [2]
    assert ids(await s1.call("roomHistoryGet", R1, 2, 1)) == [3]


async def test_b53_history_get_beyond_last_id(chat, svc):
    """B53: history get beyond last id."""
    await svc.add_room(R1)
    s1 = await joined_client(chat, svc)
    await send(s1, 2)
    assert await s1.call("roomHistoryGet", R1, 99, 10) == []


async def test_b54_bypass_lifts_history_get_cap_only(chat):
    """B54: bypass lifts history get cap only."""
    service = await chat.start(options={"historyMaxGetMessages": 2})
    await service.add_room(R1)
    s1 = await joined_client(chat, service)
    await send(s1, 3)
    assert ids(await service.exec_user_command(True, "roomHistoryGet", R1, 0, 10)) == [3, 2, 1]
    assert ids(await service.exec_user_command(True, "roomRecentHistory", R1)) == [3, 2]


async def test_b55_recent_history_capped(chat):
    """B55: recent history capped."""
    service = await chat.start(options={"historyMaxGetMessages": 2})
    await service.add_room(R1)
    s1 = await joined_client(chat, service)
    await send(s1, 3)
    assert ids(await s1.call("roomRecentHistory", R1)) == [3, 2]


async def test_b56_unjoined_socket_of_present_user_posts(chat, svc):
    """B56: unjoined socket of present user posts."""
    await svc.add_room(R1)
    s1 = await joined_client(chat, svc, U1)
    s2 = await chat.client(svc, U1)
    assert await s2.call("roomMessage", R1, M) == 1
    room, message = await s1.notification("roomMessage")
    assert room == R1
    assert message["author"] == "user1" and message["id"] == 1
    await s2.no_notification("roomMessage")
    history = await s2.call("roomRecentHistory", R1)
    assert ids(history) == [1]
    assert history[0] == message


async def test_b57_history_max_size_zero_then_raised(chat):
    """B57: history max size zero then raised."""
    service = await chat.start(options={"historyMaxSize": 10})
    await service.add_room(R1)
    s1 = await joined_client(chat, service)
    assert await send(s1, 3) == [1, 2, 3]
    await service.change_room_history_max_size(R1, 0)
    info = await s1.call("roomHistoryInfo", R1)
    assert info["historySize"] == 0
    assert info["lastMessageId"] == 3
    await service.change_room_history_max_size(R1, 5)
    assert await s1.call("roomMessage", R1, M) == 4
    assert ids(await s1.call("roomHistoryGet", R1, 0, 10)) == [4]
