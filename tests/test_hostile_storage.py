"""Input that databases treat differently must behave the same on SQLite and
PostgreSQL: U+0000, which PostgreSQL text and jsonb cannot hold."""
import pytest

from tests.client import RpcError
from tests.conftest import R1, U1


async def test_nul_inside_messages_is_stored_and_returned_verbatim(chat, svc):
    await svc.add_room(R1)
    s1 = await chat.client(svc, U1)
    await s1.call("roomJoin", R1)
    message = {"textMessage": "a\u0000b"}
    assert await s1.call("roomMessage", R1, message) == 1
    _, delivered = await s1.notification("roomMessage")
    [stored] = await s1.call("roomRecentHistory", R1)
    assert delivered["textMessage"] == stored["textMessage"] == "a\u0000b"
    assert stored == delivered


async def test_nul_in_list_entries_is_a_bad_argument_and_lone_names_match_nothing(chat, svc):
    await svc.add_room(R1, {"owner": U1})
    s1 = await chat.client(svc, U1)
    await s1.call("roomJoin", R1)
    for method, params, position in (
        ("roomAddToList", [R1, "blacklist", ["bad\u0000name"]], 2),
        ("roomRemoveFromList", [R1, "whitelist", ["\u0000"]], 2),
        ("directAddToList", ["blacklist", ["\u0000"]], 1),
    ):
        with pytest.raises(RpcError) as refused:
            await s1.call(method, *params)
        assert refused.value.code == "badArgument"
        assert refused.value.args_ == [position, params[position]]
    assert await s1.call("roomGetAccessList", R1, "blacklist") == []
    assert await s1.call("roomUserSeen", R1, "x\u0000") == {"joined": False, "timestamp": None}
    with pytest.raises(RpcError) as refused:
        await s1.call("roomJoin", "room\u00001")
    assert refused.value.code == "noRoom"
    # The connection and the room are unharmed.
    assert await s1.call("listOwnSockets") == {s1.socket_id: [R1]}


async def test_nul_names_never_exist_for_the_server_api(svc):
    assert await svc.has_room("room\u0000") is False
    assert await svc.has_user("user\u0000") is False
    with pytest.raises(Exception) as refused:
        await svc.exec_user_command("user\u0000", "listOwnSockets")
    assert refused.value.code == "noUser"
