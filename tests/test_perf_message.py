"""roomMessage's store call checks and numbers in one statement (bench/RESULTS.md,
What each change bought): a refused message consumes no id, and the
in-process layer does not send a hub's own messages back to it."""
import pytest
from asgiref.sync import sync_to_async

from chatproject.layers import ProcessChannelLayer
from rooms.models import Room
from tests.client import RpcError
from tests.conftest import M, R1, R2, U1, U2


async def expect_error(client, code, room):
    with pytest.raises(RpcError) as info:
        await client.call("roomMessage", room, M)
    assert (info.value.code, info.value.args_) == (code, [room])


async def test_refused_messages_consume_no_id(chat, svc):
    await svc.add_room(R1)
    await svc.add_room(R2)
    member, outsider = await chat.client(svc, U1), await chat.client(svc, U2)
    await member.call("roomJoin", R1)
    await member.call("roomJoin", R2)
    assert await member.call("roomMessage", R1, M) == 1
    await expect_error(outsider, "notJoined", R1)
    await expect_error(outsider, "noRoom", "no such room")
    assert await svc.exec_user_command(True, "roomMessage", R1, M) == 2  # bypassing permissions, not joined
    assert await member.call("roomMessage", R1, M) == 3
    await sync_to_async(Room.objects.filter(name=R2).update)(deleting=True)  # a roomDelete in progress
    await expect_error(member, "noRoom", R2)
    info = await svc.exec_user_command(True, "roomHistoryInfo", R1)
    assert (info["lastMessageId"], info["historySize"]) == (3, 3)


async def test_layer_does_not_return_a_hubs_own_message():
    layer = ProcessChannelLayer()
    own, other = await layer.new_channel("chat.hub."), await layer.new_channel("chat.hub.")
    for channel in (own, other):
        await layer.group_add("chat.room.x", channel)
    await layer.group_send("chat.room.x", {"type": "hub.room", "text": "a", "origin": own})
    await layer.group_send("chat.room.x", {"type": "hub.control", "text": "b"})
    assert [(await layer.receive(other))["text"] for _ in range(2)] == ["a", "b"]
    assert (await layer.receive(own))["text"] == "b"
    assert layer.channels.get(own) is None  # nothing left queued for the sender
