"""A bounded soak over two processes (docs/protocol.md, Limits: nothing lost,
nothing leaked): 60 users connect to either process, join, post, leave,
disconnect and drop at random; afterwards presence is empty, every
acknowledged message is in the history and every room's ids run 1..N."""
import asyncio
import random
from collections import defaultdict

import pytest

from .harness import arest, staff_token, wait_until, ws_client

pytestmark = pytest.mark.e2e

USERS = 60
ROOMS = [f"soak{i}" for i in range(4)]


async def user_life(servers, index, rng, acked):
    """One user's random sessions; acknowledged posts go into ``acked``."""
    name = f"u{index:02d}"
    for session in range(rng.randint(1, 3)):
        async with ws_client(rng.choice(servers), user=name) as client:
            assert client.user == name, client.login
            joined = set()
            for step in range(rng.randint(3, 8)):
                roll = rng.random()
                if roll < 0.3 or not joined:
                    room = rng.choice(ROOMS)
                    await client.call("roomJoin", room, timeout=30)
                    joined.add(room)
                elif roll < 0.85:
                    room = rng.choice(sorted(joined))
                    text = f"{name}/{session}/{step}"
                    message_id = await client.call("roomMessage", room, {"textMessage": text}, timeout=30)
                    acked[room][message_id] = text
                else:
                    room = rng.choice(sorted(joined))
                    await client.call("roomLeave", room, timeout=30)
                    joined.discard(room)
                client.notifications.clear()
            if rng.random() < 0.3:
                client.ws.transport.abort()  # a dropped connection instead of a close


async def stored_history(server, token, room):
    """Every stored message of ``room``, oldest first, paging with ``after``."""
    messages, after = [], 0
    while True:
        status, page = await arest(server, token, "GET", f"/api/rooms/{room}/history/?after={after}&limit=100")
        assert status == 200, page
        if not page:
            return messages
        page.reverse()
        messages.extend(page)
        after = page[-1]["id"]


@pytest.mark.timeout(180)
async def test_soak_over_two_processes(daphne_cluster):
    """Random traffic of 60 users over A and B, then: no socket on any
    instance, nobody online, empty userlists, every acknowledged message stored with its
    text, ids gapless from 1 in every room."""
    servers = daphne_cluster(2, env={"CHAT_ENABLE_ROOMS_MANAGEMENT": "true"}, redis=True)
    token = staff_token(servers[0])
    async with ws_client(servers[0], user="setup") as setup:
        for room in ROOMS:
            await setup.call("roomCreate", room, False)

    seed = random.randrange(1 << 30)
    print(f"soak seed {seed}")
    acked = defaultdict(dict)
    lives = [user_life(servers, i, random.Random(seed + i), acked) for i in range(USERS)]
    await asyncio.wait_for(asyncio.gather(*lives), timeout=120)

    async def presence_empty():
        for server in servers:
            status, instances = await arest(server, token, "GET", "/api/instances/")
            assert status == 200, instances
            if len(instances) != 2 or any(i["sockets"] for i in instances):
                return False
        for room in ROOMS:
            status, detail = await arest(servers[1], token, "GET", f"/api/rooms/{room}/")
            if detail["userlist"] or detail["userCount"]:
                return False
        status, users = await arest(servers[0], token, "GET", "/api/users/")
        assert status == 200 and users["count"] <= 100, users
        return not [u["name"] for u in users["results"] if u["online"]]

    await wait_until(presence_empty, timeout=60, interval=0.5, what="empty presence after the soak")
    assert sum(len(posts) for posts in acked.values()) > USERS, acked  # the soak did post
    for room in ROOMS:
        stored = await stored_history(servers[0], token, room)
        ids = [m["id"] for m in stored]
        status, detail = await arest(servers[1], token, "GET", f"/api/rooms/{room}/")
        assert ids == list(range(1, detail["lastMessageId"] + 1)), (room, ids)
        texts = {m["id"]: m["textMessage"] for m in stored}
        for message_id, text in acked[room].items():
            assert texts.get(message_id) == text, (room, message_id, text)
