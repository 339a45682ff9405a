"""Tools of the attack tests (docs/protocol.md, Limits): daphne started by other
command lines, a raw WebSocket client that controls every byte and every
read, and a process's resident memory.

The raw client exists because the ``websockets`` library cannot stop
reading, write several frames in one TCP write, or abandon a handshake
halfway; these are exactly what the attacks need.
"""
import asyncio
import base64
import json
import os
import secrets
import socket
import struct
import subprocess
import sys
import time
from urllib.parse import urlencode

import pytest

from .harness import ROOT, Cluster, DaphneServer, free_port, multi_process_redis_url

START_TIMEOUT = 90  # scripts/run also migrates before it starts daphne


class CommandServer(DaphneServer):
    """A daphne of a cluster started by another command line.

    ``how="run"`` starts ``scripts/run`` itself, the documented deployment
    command (its daphne flags are what finding 1 is about); ``how="plain"``
    starts ``python -m daphne`` with no size flags at all (docs/hooks-and-python-api.md,
    Lifecycle: the contract holds for the plain run command)."""

    def __init__(self, cluster, how, env=None, name="cmd"):
        super().__init__(cluster, env=env, name=name)
        if how not in ("run", "plain"):
            raise ValueError(f"unknown command line {how!r}")
        self.how = how

    def _argv(self):
        if self.how == "run":
            return ["bash", str(ROOT / "scripts" / "run")]
        return [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port),
                "chatproject.asgi:application"]

    def start(self):
        self.port = free_port()
        env = {**self.env, "PORT": str(self.port)}
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                self._argv(), cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.how} server exited with {self.proc.returncode}:\n"
                                   f"{self.log_path.read_text(errors='replace')[-4000:]}")
            if self._answers_http():
                return self
            time.sleep(0.2)
        self.kill()
        raise RuntimeError(f"{self.how} server not ready after {START_TIMEOUT}s")


@pytest.fixture
def own_cluster(tmp_path):
    """Factory: ``cluster = own_cluster(env={...}, redis=False)`` gives a
    created ``Cluster`` (database migrated, no server yet); every one is
    closed (servers stopped, database dropped) at the end of the test."""
    clusters = []

    def make(env=None, redis=False):
        redis_url = None
        if redis:
            redis_url = multi_process_redis_url()
            if redis_url is None:
                pytest.skip("no Redis for several processes (REDIS_URL unset, nothing on 6379)")
        cluster = Cluster(tmp_path / f"cluster{len(clusters)}", env=env, redis_url=redis_url)
        clusters.append(cluster)
        cluster.create_database()
        return cluster

    yield make
    for cluster in clusters:
        cluster.close()


def start_command_server(cluster, how, env=None):
    """Start a ``CommandServer`` in ``cluster`` (stopped with the cluster)."""
    server = CommandServer(cluster, how, env=env, name=f"{how}{len(cluster.servers)}")
    cluster.servers.append(server)
    return server.start()


def rss_bytes(pid):
    """Resident memory of a process (VmRSS of /proc/PID/status)."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for pid {pid}")


def log_text(server):
    return server.log_path.read_text(errors="replace")


# --- raw WebSocket ------------------------------------------------------------

def request(req_id, method, *params):
    """A JSON-RPC request object; ``req_id=None`` leaves the id out."""
    call = {"jsonrpc": "2.0", "method": method, "params": list(params)}
    if req_id is not None:
        call["id"] = req_id
    return call


def encode_frame(payload, opcode=0x1, fin=True):
    """One client frame (masked, as RFC 6455 requires of clients)."""
    if isinstance(payload, str):
        payload = payload.encode()
    head = bytes([(0x80 if fin else 0) | opcode])
    size = len(payload)
    if size < 126:
        head += bytes([0x80 | size])
    elif size < 1 << 16:
        head += bytes([0x80 | 126]) + struct.pack("!H", size)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", size)
    mask = os.urandom(4)
    key = (mask * (size // 4 + 1))[:size]
    masked = (int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")).to_bytes(size, "big")
    return head + mask + masked


def handshake_request(port, query, path="/ws/chat/"):
    key = base64.b64encode(secrets.token_bytes(16)).decode()
    target = path + ("?" + urlencode(query) if query else "")
    return (
        f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()


class Closed(Exception):
    """The server closed the WebSocket; ``code`` is its close code (None if
    the TCP connection ended without a close frame)."""

    def __init__(self, code):
        super().__init__(code)
        self.code = code


READ_AHEAD = 1 << 16  # what asyncio reads ahead of `recv` at most


class RawWs:
    """A WebSocket client on asyncio streams that reads only when asked
    (asyncio buffers at most READ_AHEAD bytes ahead)."""

    def __init__(self, reader, writer):
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, port, user, rcvbuf=None, timeout=30):
        """Complete the handshake for ``?user=USER``; ``rcvbuf`` shrinks the
        client's receive buffer (set before connecting, so the TCP window
        stays small)."""
        sock = socket.socket()
        if rcvbuf:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.setblocking(False)
        try:
            await asyncio.wait_for(asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port)), timeout)
            # A small stream limit: asyncio reads ahead in the background up
            # to twice the limit, and a slow reader must stop taking data.
            reader, writer = await asyncio.open_connection(sock=sock, limit=READ_AHEAD // 2)
        except BaseException:
            sock.close()
            raise
        ws = cls(reader, writer)
        writer.write(handshake_request(port, {"user": user}))
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
        except BaseException:
            ws.abort()
            raise
        if not head.startswith(b"HTTP/1.1 101"):
            ws.abort()
            raise AssertionError(f"handshake refused: {head[:200]!r}")
        return ws

    def write(self, data):
        self.writer.write(data)

    async def send(self, value):
        """Send a JSON value (or a ready string) as one text frame."""
        text = value if isinstance(value, str) else json.dumps(value)
        self.writer.write(encode_frame(text))
        await self.writer.drain()

    async def _read_frame(self):
        head = await self.reader.readexactly(2)
        opcode, size = head[0] & 0x0F, head[1] & 0x7F
        if size == 126:
            size = struct.unpack("!H", await self.reader.readexactly(2))[0]
        elif size == 127:
            size = struct.unpack("!Q", await self.reader.readexactly(8))[0]
        return head[0] & 0x80, opcode, await self.reader.readexactly(size)

    async def recv(self, timeout=30):
        """The next text message, parsed; raises ``Closed`` at a close frame or EOF."""
        async def message():
            parts = []
            while True:
                try:
                    fin, opcode, payload = await self._read_frame()
                except (asyncio.IncompleteReadError, ConnectionError):
                    raise Closed(None) from None
                if opcode == 0x8:
                    raise Closed(struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None)
                if opcode in (0x9, 0xA):  # ping / pong: not a message
                    continue
                parts.append(payload)
                if fin:
                    return json.loads(b"".join(parts))

        return await asyncio.wait_for(message(), timeout)

    async def reply(self, req_id, timeout=30):
        """The reply to ``req_id``; messages before it are skipped."""
        deadline = time.monotonic() + timeout
        while True:
            msg = await self.recv(max(0.0, deadline - time.monotonic()))
            if isinstance(msg, dict) and msg.get("id") == req_id and "method" not in msg:
                return msg

    async def close_code(self, timeout=30):
        """Read and discard everything up to the close; return its code."""
        try:
            while True:
                await self.recv(timeout)
        except Closed as closed:
            return closed.code

    def abort(self):
        """Drop the TCP connection without a close frame."""
        transport = self.writer.transport
        if transport is not None:
            transport.abort()
