"""Large outgoing frames (docs/protocol.md, Limits: "Everything the server
sends arrives whole"; and the incoming limit, maxFrameBytes).

``maxFrameBytes`` limits what clients send, never what the service sends.
These tests run the service the way the README documents it, through
``scripts/run`` itself, whose daphne flags are what decides whether a frame
over 64 KiB leaves the server; one test also runs the harness's command
line, which is meant to be scripts/run's.
"""
import asyncio
import contextlib
import json

import pytest

from .attack_tools import own_cluster, start_command_server  # noqa: F401 (fixture)
from .harness import ws_client

pytestmark = pytest.mark.e2e

ROOMS_ON = {"CHAT_ENABLE_ROOMS_MANAGEMENT": "true"}


def room_message_frame(req_id, room, size):
    """A roomMessage call of exactly ``size`` bytes of UTF-8, and its text."""
    def frame(text):
        return json.dumps({"jsonrpc": "2.0", "id": req_id, "method": "roomMessage",
                           "params": [room, {"textMessage": text}]}, separators=(",", ":"))

    text = "x" * (size - len(frame("").encode()))
    assert len(frame(text).encode()) == size
    return frame(text), text


async def reply_to(client, req_id, timeout=30):
    """Wait for the reply with ``req_id`` (notifications are buffered)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        msg = await client.recv_json(max(0.0, deadline - asyncio.get_running_loop().time()))
        if isinstance(msg, dict) and msg.get("id") == req_id and "method" not in msg:
            return msg
        client._stash(msg)


async def joined_members(stack, server, room):
    """alice on two sockets and bob, all joined to ``room`` (created by alice)."""
    a1, a2, b = [await stack.enter_async_context(ws_client(server, user=user))
                 for user in ("alice", "alice", "bob")]
    await a1.call("roomCreate", room, False)
    for client in (a1, a2, b):
        await client.call("roomJoin", room)
    return a1, a2, b


async def assert_fanned_out_whole(server, room, size):
    """A roomMessage call of ``size`` bytes is acknowledged and its
    notification (larger than the call) reaches all three sockets whole."""
    async with contextlib.AsyncExitStack() as stack:
        a1, a2, b = await joined_members(stack, server, room)
        frame, text = room_message_frame(77, room, size)
        await a1.send_raw(frame)
        reply = await reply_to(a1, 77)
        assert reply == {"jsonrpc": "2.0", "id": 77, "result": 1}, reply
        for client in (a1, a2, b):
            got_room, message = await client.next_notification("roomMessage", timeout=30)
            assert got_room == room and message["id"] == 1 and message["author"] == "alice"
            assert message["textMessage"] == text  # whole, not cut
        # The history read that covers the big message answers too.
        history = await b.call("roomHistoryGet", room, 0, 100, timeout=30)
        assert [m["textMessage"] for m in history] == [text]


async def assert_incoming_limit(server, limit):
    """A frame one byte over ``limit`` closes with daphne's 1009, unexecuted."""
    async with ws_client(server, user="carol") as c, ws_client(server, user="carol") as watcher:
        await c.call("roomCreate", "limit", False)
        await c.call("roomJoin", "limit")
        frame, _ = room_message_frame(5, "limit", limit + 1)
        await c.send_raw(frame)
        assert await c.wait_closed(timeout=30) == 1009
        assert c.others == [], c.others
        info = await watcher.call("roomHistoryInfo", "limit")
        assert info["lastMessageId"] == 0, info


async def test_frames_over_64k_under_scripts_run(own_cluster):
    """Finding 1 under the documented run command: a 65,536-byte roomMessage
    reaches every member (the sender's sockets included), history pages of
    large messages and a batch reply over 64 KiB answer, and the incoming
    limit still closes with 1009."""
    cluster = own_cluster(env=ROOMS_ON)
    server = await asyncio.to_thread(start_command_server, cluster, "run")

    await assert_fanned_out_whole(server, "big", 65536)

    async with ws_client(server, user="dave") as d, ws_client(server, user="erin") as e:
        # ~930-byte messages x 100: one page is about 95 KB.
        await d.call("roomCreate", "chatty", False)
        await d.call("roomJoin", "chatty")
        await e.call("roomJoin", "chatty")
        texts = [f"{i:03d}" + "m" * 800 for i in range(100)]
        for text in texts:
            await d.call("roomMessage", "chatty", {"textMessage": text})
        newest_first = texts[::-1]
        recent = await e.call("roomRecentHistory", "chatty", timeout=30)
        assert [m["textMessage"] for m in recent] == newest_first
        page = await e.call("roomHistoryGet", "chatty", 0, 100, timeout=30)
        assert [m["textMessage"] for m in page] == newest_first
        assert 65536 < len(json.dumps(page).encode())

        # Several 60 KB messages: each read is about 240 KB.
        await d.call("roomCreate", "heavy", False)
        await d.call("roomJoin", "heavy")
        await e.call("roomJoin", "heavy")
        heavy = [str(i) * 60_000 for i in range(4)]
        for text in heavy:
            await d.call("roomMessage", "heavy", {"textMessage": text}, timeout=30)
        recent = await e.call("roomRecentHistory", "heavy", timeout=30)
        assert [m["textMessage"] for m in recent] == heavy[::-1]
        page = await e.call("roomHistoryGet", "heavy", 0, 100, timeout=30)
        assert [m["textMessage"] for m in page] == heavy[::-1]

        # A batch whose reply passes 64 KiB gets that reply, whole.
        batch = [{"jsonrpc": "2.0", "id": i, "method": "roomHistoryGet", "params": ["heavy", i, 100]}
                 for i in range(3)]
        await e.send_json(batch)
        reply = await e.recv_json(timeout=30)
        assert isinstance(reply, list) and [r["id"] for r in reply] == [0, 1, 2], str(reply)[:300]
        for i, item in enumerate(reply):
            assert [m["textMessage"] for m in item["result"]] == heavy[i:][::-1]

    await assert_incoming_limit(server, 65536)


async def test_frame_of_200k_with_a_raised_limit_under_scripts_run(own_cluster):
    """Finding 1 with maxFrameBytes raised to 200 KiB: a roomMessage call of
    exactly that size (its notification is larger) is delivered whole to
    every member; the raised incoming limit holds."""
    cluster = own_cluster(env={**ROOMS_ON, "CHAT_MAX_FRAME_BYTES": "204800"})
    server = await asyncio.to_thread(start_command_server, cluster, "run")
    await assert_fanned_out_whole(server, "big", 204800)
    await assert_incoming_limit(server, 204800)


@pytest.mark.daphne_env(**ROOMS_ON)
async def test_frames_over_64k_under_the_harness_command_line(daphne_server):
    """Finding 1 with the e2e harness's daphne command line (the one every
    other e2e test runs on): the same fan-out and incoming limit."""
    await assert_fanned_out_whole(daphne_server, "big", 65536)
    await assert_incoming_limit(daphne_server, 65536)
