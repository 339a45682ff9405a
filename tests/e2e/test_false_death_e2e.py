"""A live process declared dead (docs/protocol.md, Limits): process A is paused
past heartbeatTimeout, B recovers it, A resumes. A must not serve on with the
state B deleted: it closes its connections with 4001 and registers again
under a new instance id; its clients reconnect and chat normally."""
import asyncio
import contextlib
import os
import signal

import pytest

from .attack_tools import log_text
from .harness import arest, staff_token, wait_until, ws_client

pytestmark = pytest.mark.e2e

ENV = {"CHAT_HEARTBEAT_RATE": "500", "CHAT_HEARTBEAT_TIMEOUT": "3000",
       "CHAT_ENABLE_ROOMS_MANAGEMENT": "true", "CHAT_ENABLE_USERLIST_UPDATES": "true"}
BAD_CODES = {"invalidSocket", "internalError", "noSocket"}


async def instances(server, token):
    status, body = await arest(server, token, "GET", "/api/instances/")
    assert status == 200, body
    return body


def bad_replies(client):
    """Error replies a client got that the spec rules out here."""
    return [m for m in client.others if isinstance(m, dict) and "error" in m
            and (m["error"].get("data", {}).get("code") in BAD_CODES
                 or "ntegrity" in m["error"].get("message", ""))]


async def test_paused_process_recovered_by_another_closes_with_4001(daphne_cluster):
    """Finding 5: SIGSTOP A past heartbeatTimeout while its clients keep
    sending; B recovers A; after SIGCONT A's clients are closed with 4001 and
    get no invalidSocket / internal / integrity error, reconnect and chat;
    A logs no IntegrityError or traceback and is alive under a new id."""
    a, b = daphne_cluster(2, env=ENV, redis=True)
    token = staff_token(b)
    async with contextlib.AsyncExitStack() as stack:
        ben = await stack.enter_async_context(ws_client(b, user="ben"))
        ann = await stack.enter_async_context(ws_client(a, user="ann"))
        amy = await stack.enter_async_context(ws_client(a, user="amy"))
        await ben.call("roomCreate", "lobby", False)
        for client in (ben, ann, amy):
            await client.call("roomJoin", "lobby")
        before = await instances(b, token)
        [a_uid] = [i["id"] for i in before if i["sockets"] == 2]
        [b_uid] = [i["id"] for i in before if i["sockets"] == 1]
        ben.notifications.clear()

        os.kill(a.proc.pid, signal.SIGSTOP)
        try:
            async def recovered():
                # A's clients keep writing into the paused process.
                for n, client in enumerate((ann, amy)):
                    await client.send_json({"jsonrpc": "2.0", "id": 1000 + n, "method": "roomJoin",
                                            "params": ["lobby"]})
                    await client.send_json({"jsonrpc": "2.0", "id": 2000 + n, "method": "roomMessage",
                                            "params": ["lobby", {"textMessage": "while paused"}]})
                return a_uid not in [i["id"] for i in await instances(b, token)]

            await wait_until(recovered, timeout=60, interval=0.5, what="B recovering the paused A")
            assert await ben.call("roomGetAccessList", "lobby", "userlist") == ["ben"]
        finally:
            os.kill(a.proc.pid, signal.SIGCONT)

        for client in (ann, amy):
            try:
                code = await client.wait_closed(timeout=60)
            except asyncio.TimeoutError:
                code = "still open after 60 s"
            assert code == 4001, (code, client.others)
            assert bad_replies(client) == [], client.others

        # Reconnect (one to A, one to B), rejoin, exchange messages.
        ann2 = await stack.enter_async_context(ws_client(a, user="ann"))
        amy2 = await stack.enter_async_context(ws_client(b, user="amy"))
        assert (ann2.user, amy2.user) == ("ann", "amy")
        for client in (ann2, amy2):
            await client.call("roomJoin", "lobby")
        ben.notifications.clear()
        sent = await ann2.call("roomMessage", "lobby", {"textMessage": "back"})
        for client in (ben, amy2, ann2):
            room, message = await client.next_notification("roomMessage", timeout=15)
            assert (room, message["id"], message["textMessage"]) == ("lobby", sent, "back")
        reply = await ben.call("roomMessage", "lobby", {"textMessage": "welcome"})
        for client in (ann2, amy2):
            room, message = await client.next_notification("roomMessage", timeout=15)
            assert (message["id"], message["textMessage"]) == (reply, "welcome")
        assert sorted(await ben.call("roomGetAccessList", "lobby", "userlist")) == ["amy", "ann", "ben"]

        async def registered_again():
            now = await instances(a, token)
            fresh = [i for i in now if i["id"] not in (a_uid, b_uid)]
            return fresh if fresh and all(i["alive"] for i in now) and len(now) == 2 else None

        [fresh] = await wait_until(registered_again, timeout=30, what="A alive under a new id")
        assert fresh["sockets"] == 1, fresh  # ann2

    log = log_text(a)
    assert "IntegrityError" not in log and "Traceback" not in log, log[-4000:]
