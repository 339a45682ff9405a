"""Slow readers (docs/protocol.md, Limits): a client that stops reading is
closed with 4008 once its unsent bytes pass maxOutgoingBytes; the others keep
receiving every message, and the server's memory stays bounded."""
import asyncio
import http.client
import re

import pytest

from .attack_tools import RawWs, request, rss_bytes
from .harness import wait_until, ws_client

pytestmark = pytest.mark.e2e

SLOW_READERS = 10
MESSAGES = 500
TEXT_BYTES = 60_000
WINDOW = 20
MAX_GROWTH = 64 * 1024 * 1024  # without the bound, ~300 MB would pile up


def closed_4008_count(server):
    """chat_connections_closed_total{code="4008"} of the server's /metrics."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        conn.request("GET", "/metrics")
        response = conn.getresponse()
        body = response.read().decode()
    finally:
        conn.close()
    assert response.status == 200, body[:300]
    found = re.search(r'^chat_connections_closed_total\{code="4008"\} (\S+)$', body, re.M)
    return float(found.group(1)) if found else 0.0


async def read_all(client, want, seen):
    """Record the ids of ``want`` roomMessage notifications, in arrival order."""
    while len(seen) < want:
        room, message = await client.next_notification("roomMessage", timeout=60)
        seen.append(message["id"])


async def sample_rss(pid, peak, stop):
    while not stop.is_set():
        peak[0] = max(peak[0], rss_bytes(pid))
        await asyncio.sleep(0.2)


@pytest.mark.timeout(240)
@pytest.mark.daphne_env(CHAT_MAX_OUTGOING_BYTES="262144", CHAT_RATE_LIMIT="0",
                        CHAT_ENABLE_ROOMS_MANAGEMENT="true")
async def test_slow_readers_are_closed_and_memory_stays_bounded(daphne_server):
    """Ten members stop reading while 500 messages of 60 KB flow: each is
    closed with 4008 and leaves the room, the reading members get every
    message in order, and daphne's RSS grows by less than 64 MB."""
    async with ws_client(daphne_server, user="writer") as writer, \
            ws_client(daphne_server, user="reader") as reader:
        await writer.call("roomCreate", "flood", False)
        await writer.call("roomJoin", "flood")
        await reader.call("roomJoin", "flood")
        slow = []
        try:
            for i in range(SLOW_READERS):
                ws = await RawWs.connect(daphne_server.port, f"slow{i}", rcvbuf=4096)
                slow.append(ws)
                assert (await ws.recv())["method"] == "loginConfirmed"
                await ws.send(request(1, "roomJoin", "flood"))
                assert (await ws.reply(1))["result"] == 1
            # From here on the slow readers read one message each, then nothing.
            members = await writer.call("roomGetAccessList", "flood", "userlist")
            assert len(members) == SLOW_READERS + 2

            pid = daphne_server.proc.pid
            baseline = rss_bytes(pid)
            peak, stop = [baseline], asyncio.Event()
            sampler = asyncio.create_task(sample_rss(pid, peak, stop))
            seen = []
            reading = asyncio.create_task(read_all(reader, MESSAGES, seen))
            try:
                text = "z" * TEXT_BYTES
                for start in range(0, MESSAGES, WINDOW):
                    ids = range(start + 1, start + WINDOW + 1)
                    for req_id in ids:
                        await writer.send_json(request(req_id, "roomMessage", "flood", {"textMessage": text}))
                    for req_id in ids:
                        while True:
                            msg = await writer.recv_json(timeout=60)
                            if msg.get("id") == req_id and "method" not in msg:
                                break
                            writer._stash(msg)
                        assert msg.get("result") == req_id, msg  # every post acknowledged
                    writer.notifications.clear()
                    if start == 0:
                        # Messages do reach the slow readers: each reads one.
                        for ws in slow:
                            assert (await ws.recv())["method"] == "roomMessage"
                await asyncio.wait_for(reading, timeout=120)
            finally:
                reading.cancel()
                stop.set()
                await sampler
            assert seen == list(range(1, MESSAGES + 1))

            async def slow_ones_gone():
                names = await writer.call("roomGetAccessList", "flood", "userlist")
                return sorted(names) == ["reader", "writer"]

            await wait_until(slow_ones_gone, timeout=60, what="slow readers leaving the userlist")
            growth = max(peak[0], rss_bytes(pid)) - baseline
            assert growth < MAX_GROWTH, f"RSS grew by {growth / 2**20:.1f} MB"

            # What the slow readers can still read ends in a 4008 close frame,
            # or the connection was dropped; the server counts 4008 closes.
            for ws in slow:
                assert await ws.close_code(timeout=60) in (4008, None)
            assert await asyncio.to_thread(closed_4008_count, daphne_server) >= SLOW_READERS
            assert writer.close_code is None and reader.close_code is None
        finally:
            for ws in slow:
                ws.abort()
