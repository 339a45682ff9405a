from tests.conftest import M, R1, U1, U2


async def test_b1_login_and_b42_room_message(chat, svc):
    """B1, B42: login is the first message; a message reaches every joined socket."""
    await svc.add_room(R1)
    s1 = await chat.client(svc, U1)
    s2 = await chat.client(svc, U2)
    assert s1.login["params"][0] == U1 and s1.socket_id
    assert await s1.call("roomJoin", R1) == 1
    assert await s2.call("roomJoin", R1) == 1
    assert await s1.call("roomMessage", R1, M) == 1
    for client in (s1, s2):
        room, message = await client.notification("roomMessage")
        assert room == R1
        assert message["author"] == U1 and message["id"] == 1 and isinstance(message["timestamp"], int)
