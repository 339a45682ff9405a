"""Fan-out benchmark: server CPU per 1,000 delivered room messages.

The design's yardstick (design.md, "Fan-out: a per-process hub, measured"):
10 rooms x 10 sockets x 30 messages against one daphne process. Prints
figures; it asserts nothing. Run with scripts/bench (SQLite + in-process
layer) or with DATABASE_URL / REDIS_URL set.
"""
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from websockets.asyncio.client import connect

ROOT = Path(__file__).resolve().parent.parent
ROOMS, SOCKETS_PER_ROOM, MESSAGES_PER_ROOM = 10, 10, 30


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def cpu_seconds(pid):
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def rpc(ws, counter, method, *params):
    counter[0] += 1
    await ws.send(json.dumps({"jsonrpc": "2.0", "id": counter[0], "method": method, "params": list(params)}))


async def run(port, server_pid):
    url = f"ws://127.0.0.1:{port}/ws/chat/?user="
    sockets = []
    for room in range(ROOMS):
        for member in range(SOCKETS_PER_ROOM):
            ws = await connect(url + f"u{room}-{member}", max_size=None)
            await ws.recv()  # loginConfirmed
            counter = [0]
            await rpc(ws, counter, "roomJoin", f"bench{room}")
            while "result" not in json.loads(await ws.recv()):
                pass
            sockets.append((room, ws, counter))
    expected = ROOMS * MESSAGES_PER_ROOM * SOCKETS_PER_ROOM
    received = 0
    done = asyncio.Event()

    async def reader(ws):
        nonlocal received
        async for frame in ws:
            if '"method":"roomMessage"' in frame:
                received += 1
                if received == expected:
                    done.set()

    readers = [asyncio.create_task(reader(ws)) for _, ws, _ in sockets]
    senders = [(room, ws, counter) for room, ws, counter in sockets if ws is sockets[room * SOCKETS_PER_ROOM][1]]
    cpu_before, wall_before = cpu_seconds(server_pid), time.perf_counter()
    for _ in range(MESSAGES_PER_ROOM):
        for room, ws, counter in senders:
            await rpc(ws, counter, "roomMessage", f"bench{room}", {"textMessage": "benchmark message"})
    await asyncio.wait_for(done.wait(), 120)
    cpu = cpu_seconds(server_pid) - cpu_before
    wall = time.perf_counter() - wall_before
    for task in readers:
        task.cancel()
    for _, ws, _ in sockets:
        await ws.close()
    return expected, cpu, wall


def main():
    env = dict(os.environ, CHAT_ALLOW_QUERY_LOGIN="true", CHAT_LOG_LEVEL="WARNING")
    tmp = tempfile.mkdtemp(prefix="chat-bench-")
    env.setdefault("DATABASE_URL", f"sqlite:///{tmp}/bench.sqlite3")
    python = sys.executable
    subprocess.run([python, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    for room in range(ROOMS):
        subprocess.run(
            [python, "manage.py", "chat_add_room", f"bench{room}"], cwd=ROOT, env=env, check=False,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
    port = free_port()
    server = subprocess.Popen(
        os.environ.get("BENCH_SERVER_CMD", f"{python} -m daphne -b 127.0.0.1 -p {{port}} chatproject.asgi:application").format(port=port).split(),
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        delivered, cpu, wall = asyncio.run(run(port, server.pid))
        print(f"setup: {ROOMS} rooms x {SOCKETS_PER_ROOM} sockets x {MESSAGES_PER_ROOM} messages, "
              f"database {env['DATABASE_URL'].split(':')[0]}, layer {'redis' if env.get('REDIS_URL') else 'in-process'}")
        print(f"delivered messages: {delivered}")
        print(f"server CPU: {cpu:.3f} s, wall: {wall:.3f} s")
        print(f"server CPU per 1,000 delivered messages: {cpu / delivered * 1000:.3f} s")
        print(f"server RSS after the run: {rss_mib(server.pid):.1f} MiB")
    finally:
        if os.environ.get("BENCH_SERVER_CMD"):
            server.send_signal(10)
            time.sleep(2)
        server.terminate()
        server.wait(20)


if __name__ == "__main__":
    main()
