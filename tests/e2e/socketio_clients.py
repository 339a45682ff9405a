"""Real socket.io clients (Node, socket.io-client 1.x, 2.x and 4.x) for the
end-to-end tests of the /socket.io/ endpoint.

``socketio/client.js`` runs the clients: it reads JSON commands on stdin and
prints one JSON line per event it observes. ``SioDriver`` is its Python end:
it sends commands and waits for the printed records. The ``sio`` fixture
gives a started driver, once per client generation (``sio2``, ``sio4``).
"""
import asyncio
import contextlib
import fcntl
import itertools
import json
import shutil
import subprocess
from pathlib import Path

import pytest

SIO_DIR = Path(__file__).resolve().parent / "socketio"
DRIVER = SIO_DIR / "client.js"
NAMESPACE = "/chat-service"
GENERATIONS = ("2", "4")  # every case runs with both; 1.x (Engine.IO 3, as 2.x) in one
PACKAGES = {"1": "sio1", "2": "sio2", "4": "sio4"}  # npm aliases in socketio/package.json
WAIT = 20  # seconds: a busy two-core machine, servers and Node side by side


def _pinned():
    return json.loads((SIO_DIR / "package.json").read_text())["dependencies"]


def _installed():
    versions = {}
    for alias in _pinned():
        manifest = SIO_DIR / "node_modules" / alias / "package.json"
        versions[alias] = json.loads(manifest.read_text())["version"] if manifest.exists() else None
    return versions


def _matches_pins():
    installed = _installed()
    return all(spec.rsplit("@", 1)[-1] == installed[alias] for alias, spec in _pinned().items())


@pytest.fixture(scope="session")
def socketio_clients_installed():
    """Install socket.io-client 1.x, 2.x and 4.x once per session when missing.

    ``npm ci`` into the git-ignored tests/e2e/socketio/node_modules, pinned
    with integrity hashes by the committed package.json and package-lock.json
    (the same way as axe-core in tests/browser/conftest.py); install scripts
    are not run; a file lock keeps two runs in one tree from installing at
    once."""
    if _matches_pins():
        return SIO_DIR
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail("npm is missing: the socket.io tests install socket.io-client with it "
                    "(Debian: apt-get install npm)")
    with open(SIO_DIR / ".install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not _matches_pins():
            result = subprocess.run(
                [npm, "ci", "--prefix", str(SIO_DIR), "--no-audit", "--no-fund", "--ignore-scripts"],
                capture_output=True, text=True, timeout=300,
            )
            if result.returncode != 0 or not _matches_pins():
                pytest.fail(f"could not install the socket.io clients with npm ci:\n"
                            f"{result.stdout}\n{result.stderr}")
    return SIO_DIR


def node_binary():
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is missing: the socket.io tests run socket.io-client in Node (Debian: apt-get install nodejs)")
    return node


class SioDriver:
    """One ``client.js`` process holding any number of named sockets of one
    client generation. Records not yet asked for stay buffered in ``records``."""

    def __init__(self, generation, log_path):
        self.generation = generation
        self.log_path = Path(log_path)
        self.records = []
        self.proc = None
        self._stderr = None
        self._changed = None
        self._reader = None
        self._acks = itertools.count(1)

    async def start(self):
        self._changed = asyncio.Condition()
        self._stderr = open(self.log_path, "wb")
        self.proc = await asyncio.create_subprocess_exec(
            node_binary(), str(DRIVER), self.generation, cwd=SIO_DIR,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=self._stderr,
        )
        self._reader = asyncio.create_task(self._read())
        return self

    async def _read(self):
        while line := await self.proc.stdout.readline():
            record = json.loads(line)
            async with self._changed:
                self.records.append(record)
                self._changed.notify_all()
        async with self._changed:
            self._changed.notify_all()

    async def close(self):
        if self.proc is None:
            return
        if self.proc.returncode is None:
            with contextlib.suppress(ConnectionError):
                self.proc.stdin.close()
            try:
                await asyncio.wait_for(self.proc.wait(), 10)
            except asyncio.TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        await self._reader
        self._stderr.close()
        errors = [r for r in self.records if r.get("type") == "driver_error"]
        assert not errors, f"client.js refused commands: {errors}"

    async def kill(self):
        """SIGKILL the Node process: its connections vanish without a goodbye
        (the kernel closes the TCP connections; a polling client just stops polling)."""
        self.proc.kill()
        await self.proc.wait()

    async def send(self, **command):
        self.proc.stdin.write(json.dumps(command).encode() + b"\n")
        await self.proc.stdin.drain()

    async def take(self, predicate, what, timeout=WAIT):
        """Remove and return the first record matching ``predicate``, waiting
        up to ``timeout`` seconds for it."""
        async def found():
            async with self._changed:
                while True:
                    for i, record in enumerate(self.records):
                        if predicate(record):
                            return self.records.pop(i)
                    if self.proc.stdout.at_eof():
                        raise AssertionError(f"client.js exited before {what}: {self._log_tail()}")
                    await self._changed.wait()
        try:
            return await asyncio.wait_for(found(), timeout)
        except asyncio.TimeoutError:
            raise AssertionError(f"no {what} within {timeout}s; buffered: {self.records}") from None

    def _log_tail(self):
        return self.log_path.read_text(errors="replace")[-3000:] if self.log_path.exists() else ""

    # Sockets

    async def connect(self, socket, server, **options):
        """Open ``socket`` to ``server``'s /chat-service namespace (no wait).
        ``options`` are the client's own (``query``, ``auth``, ``transports``,
        ``extraHeaders`` ...); reconnection is always off."""
        await self.send(op="connect", socket=socket, url=server.http_url + NAMESPACE, options=options)

    async def login(self, socket, server, user, **options):
        """Connect with ``?user=`` and return loginConfirmed's arguments."""
        await self.connect(socket, server, query={"user": user, **options.pop("query", {})}, **options)
        first = await self.login_reply(socket)
        assert first.get("event") == "loginConfirmed", f"{socket} was not logged in: {first}"
        return first["args"]

    async def login_reply(self, socket):
        """The first of loginConfirmed, loginRejected, disconnect or connect_error on ``socket``."""
        return await self.take(
            lambda r: r.get("socket") == socket and (r["type"] in ("disconnect", "connect_error") or (
                r["type"] == "event" and r["event"] in ("loginConfirmed", "loginRejected"))),
            f"a login reply on {socket}")

    async def call(self, socket, event, *args, timeout=WAIT):
        """Emit ``event`` with an ack; return the ack record (``args``, ``nargs``)."""
        tag = next(self._acks)
        await self.send(op="emit", socket=socket, event=event, args=list(args), ack=tag)
        return await self.take(lambda r: r.get("socket") == socket and r["type"] == "ack" and r["ack"] == tag,
                               f"the ack of {event} on {socket}", timeout)

    async def ok(self, socket, event, *args):
        """``call`` that must succeed: the ack is ``(null, data)``; returns data."""
        ack = await self.call(socket, event, *args)
        assert ack["nargs"] == 2 and ack["args"][0] is None, f"{event} failed: {ack}"
        return ack["args"][1]

    async def emit(self, socket, event, *args):
        """Emit without an ack."""
        await self.send(op="emit", socket=socket, event=event, args=list(args))

    async def event(self, socket, event, timeout=WAIT):
        """The arguments of the next ``event`` notification on ``socket``."""
        record = await self.take(lambda r: r.get("socket") == socket and r["type"] == "event" and r["event"] == event,
                                 f"{event!r} on {socket}", timeout)
        return record["args"]

    async def no_event(self, socket, event, wait=1.0):
        """Assert that no ``event`` notification reaches ``socket`` within ``wait`` seconds."""
        await self._none(lambda r: r.get("socket") == socket and r["type"] == "event" and r["event"] == event,
                         f"{event!r} on {socket}", wait)

    async def no_record(self, socket, kind, wait=1.0):
        """Assert that no record of type ``kind`` comes for ``socket`` within ``wait`` seconds."""
        await self._none(lambda r: r.get("socket") == socket and r["type"] == kind, f"{kind} on {socket}", wait)

    async def _none(self, predicate, what, wait):
        try:
            record = await self.take(predicate, what, wait)
        except AssertionError:
            return
        raise AssertionError(f"unexpected {what}: {record}")

    async def record(self, socket, kind, timeout=WAIT):
        """The next record of type ``kind`` (connect, disconnect, upgrade, ...) on ``socket``."""
        return await self.take(lambda r: r.get("socket") == socket and r["type"] == kind,
                               f"{kind} on {socket}", timeout)

    async def transport(self, socket):
        """The engine transport ``socket`` uses now (polling or websocket)."""
        await self.send(op="transport", socket=socket)
        return (await self.record(socket, "transport"))["transport"]

    async def close_socket(self, socket):
        await self.send(op="close", socket=socket)


@contextlib.asynccontextmanager
async def open_driver(generation, log_dir):
    """``async with open_driver("4", tmp_path) as sio:`` a started ``SioDriver``,
    its stderr in ``log_dir``; closed (all its sockets with it) on exit."""
    driver = await SioDriver(generation, Path(log_dir) / f"client-{PACKAGES[generation]}.log").start()
    try:
        yield driver
    finally:
        await driver.close()


@pytest.fixture(params=GENERATIONS, ids=[PACKAGES[g] for g in GENERATIONS])
async def sio(request, socketio_clients_installed, tmp_path):
    """A started ``SioDriver`` of socket.io-client 2.x, then of 4.x."""
    async with open_driver(request.param, tmp_path) as driver:
        yield driver
