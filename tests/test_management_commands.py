"""manage.py chat_add_room and chat_recover (docs/hooks-and-python-api.md, Management commands)."""
import pytest
from asgiref.sync import sync_to_async
from django.core.management import CommandError, call_command

from tests.conftest import R1, U1, U2


def run(*args):
    return sync_to_async(call_command, thread_sensitive=True)(*args)


async def test_chat_add_room_creates_a_room_a_client_can_join(chat, svc):
    await run("chat_add_room", R1, "--owner", U2, "--whitelist-only")
    assert await svc.has_room(R1)
    s1 = await chat.client(svc, U2)
    assert await s1.call("roomJoin", R1) == 1
    assert await s1.call("roomGetOwner", R1) == U2
    assert await s1.call("roomGetWhitelistMode", R1) is True


async def test_chat_add_room_refuses_bad_and_taken_names(chat, svc):
    await run("chat_add_room", R1)
    with pytest.raises(CommandError, match="Room room1 already exists"):
        await run("chat_add_room", R1)
    with pytest.raises(CommandError, match="contains invalid characters"):
        await run("chat_add_room", "bad:name")


async def test_chat_recover_instance_cleans_up_a_dead_instances_sockets(chat):
    a = await chat.start(options={"autoRecovery": False})
    b = await chat.start(options={"autoRecovery": False, "enableUserlistUpdates": True})
    await b.add_room(R1, {"enableUserlistUpdates": True})
    s1 = await chat.client(a, U1)
    s2 = await chat.client(b, U2)
    await s1.call("roomJoin", R1)
    await s2.call("roomJoin", R1)
    a.stop_heartbeat()
    await run("chat_recover", "--instance", a.instance_uid)
    assert await b.get_instance_sockets(a.instance_uid) == {}
    assert await b.exec_user_command(True, "roomGetAccessList", R1, "userlist") == [U2]
    assert await b.exec_user_command(U1, "listOwnSockets") == {}


async def test_chat_recover_room_and_user_and_errors(chat, svc):
    await svc.add_room(R1)
    s1 = await chat.client(svc, U1)
    await s1.call("roomJoin", R1)
    await run("chat_recover", "--room", R1)
    await run("chat_recover", "--user", U1)
    assert await s1.call("listOwnSockets") == {s1.socket_id: [R1]}
    with pytest.raises(CommandError, match="No such room nope"):
        await run("chat_recover", "--room", "nope")
    with pytest.raises(CommandError, match="No such user nobody"):
        await run("chat_recover", "--user", "nobody")
    with pytest.raises(CommandError):
        await run("chat_recover")


def test_instance_ids_read_as_values_on_command_lines():
    """An id starting with "-" made `chat_recover --instance ID` fail in argparse
    (1 start in 64 with URL-safe base64 ids)."""
    from chatproject.service.lifecycle import new_instance_uid

    ids = {new_instance_uid() for _ in range(1000)}
    assert len(ids) == 1000
    assert not [uid for uid in ids if uid.startswith("-")]
