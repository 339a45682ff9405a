"""End-to-end harness: real daphne processes and a small WebSocket client.

A test gets a ``DaphneServer`` from the ``daphne_server`` or
``daphne_cluster`` fixtures (conftest.py). Each cluster has its own database
(a SQLite file, or a fresh PostgreSQL database when ``DATABASE_URL`` is set)
and its own ``REDIS_PREFIX``; servers of one cluster share both, so with
``REDIS_URL`` set they form one multi-process deployment. A cluster's
database is a copy of one template migrated once per test session
(``TEMPLATE``): migrating costs seconds, copying milliseconds. The template
also holds a staff user, ``STAFF_USER``, whose DRF token (``staff_token``)
every test can use for REST calls without starting a process.
"""
import asyncio
import atexit
import contextlib
import http.client
import itertools
import json
import os
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlencode, urlsplit, urlunsplit

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

ROOT = Path(__file__).resolve().parents[2]
READY_TIMEOUT = 30
READY_POLL = 0.02
STOP_TIMEOUT = 20
STAFF_USER = "ops"

needs_redis = pytest.mark.skipif(
    not os.environ.get("REDIS_URL"), reason="needs REDIS_URL (several processes)"
)
SHARED_REDIS_URL = "redis://127.0.0.1:6379/0"

_live_processes = set()


@atexit.register
def _kill_leftovers():
    for proc in list(_live_processes):
        if proc.poll() is None:
            proc.kill()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def daphne_args(port, max_frame_bytes=65536, backlog=1024):
    """The daphne command line, as scripts/run uses it."""
    return [
        sys.executable, "-m", "chatproject.serve", "-b", "127.0.0.1", "-p", str(port),
        "--backlog", str(backlog),
        "--websocket-max-message-size", str(max_frame_bytes),
        "--websocket-max-frame-size", str(max_frame_bytes),
        "--websocket_timeout", "-1",
        "chatproject.asgi:application",
    ]


def _tail(path, lines=60):
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class RedisServer:
    """A private redis-server on a free port, for tests that stop and restart
    Redis (never the machine's shared one at 6379, other tests use it)."""

    def __init__(self, workdir):
        self.port = free_port()
        self.log_path = Path(workdir) / f"redis-{self.port}.log"
        self.proc = None

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout=10):
        """Start (again, on the same port) and wait until it accepts connections."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                 "--save", "", "--appendonly", "no", "--daemonize", "no"],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        _live_processes.add(self.proc)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited:\n{_tail(self.log_path)}")
            if _port_open(self.port):
                return self
            time.sleep(0.05)
        raise RuntimeError(f"redis-server not ready on {self.port}")

    def stop(self, timeout=10):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        _live_processes.discard(self.proc)


def _port_open(port):
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _manage(args, env, timeout=60):
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env,
        capture_output=True, text=True, timeout=timeout,
    )


def _pg_admin_url(database_url):
    """The ``postgres`` maintenance database of the server in ``database_url``."""
    parts = urlsplit(database_url)
    return urlunsplit(parts._replace(scheme="postgresql", path="/postgres"))


def _drop_pg_database(admin_url, name):
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class DatabaseTemplate:
    """The database every cluster starts from, migrated once per test session,
    the first time a cluster needs it, and dropped by ``drop()`` (a session
    fixture in tests/conftest.py).

    SQLite: a file in a temporary directory, copied with ``VACUUM INTO`` (a
    consistent copy even with a WAL beside it). PostgreSQL: a database that
    accepts no connections, copied with ``CREATE DATABASE ... TEMPLATE``
    (which fails while any session is connected to the template)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._sqlite_path = None
        self._pg = None  # (admin url, database name)
        self.staff_token = secrets.token_hex(20)  # a DRF token key: 40 characters

    def _migrate(self, database_url):
        """Migrate, then add ``STAFF_USER`` (no usable password) and its token."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("CHAT_")}
        env.pop("REDIS_URL", None)
        env.update(DJANGO_SETTINGS_MODULE="chatproject.settings", DATABASE_URL=database_url)
        result = _manage(["migrate", "--noinput"], env)
        if result.returncode != 0:
            raise RuntimeError(f"migrate failed:\n{result.stdout}\n{result.stderr}")
        staff = (
            "from django.contrib.auth.models import User\n"
            "from rest_framework.authtoken.models import Token\n"
            f"user = User.objects.create_user({STAFF_USER!r}, is_staff=True)\n"
            f"Token.objects.create(user=user, key={self.staff_token!r})\n"
        )
        result = _manage(["shell", "-c", staff], env)
        if result.returncode != 0:
            raise RuntimeError(f"adding the staff user failed:\n{result.stdout}\n{result.stderr}")

    def copy_to_sqlite(self, path):
        with self._lock:
            if self._sqlite_path is None:
                source = Path(tempfile.mkdtemp(prefix="chat-e2e-template-")) / "template.sqlite3"
                try:
                    self._migrate(f"sqlite:///{source}")
                except BaseException:
                    shutil.rmtree(source.parent, ignore_errors=True)
                    raise
                self._sqlite_path = source
        conn = sqlite3.connect(self._sqlite_path)
        try:
            conn.execute("VACUUM INTO ?", (str(path),))
        finally:
            conn.close()

    def copy_to_postgres(self, database_url, dbname):
        import psycopg

        admin_url = _pg_admin_url(database_url)
        with self._lock:
            if self._pg is None:
                name = f"chat_e2e_template_{secrets.token_hex(6)}"
                with psycopg.connect(admin_url, autocommit=True) as conn:
                    conn.execute(f'CREATE DATABASE "{name}"')
                try:
                    self._migrate(urlunsplit(urlsplit(database_url)._replace(path="/" + name)))
                    with psycopg.connect(admin_url, autocommit=True) as conn:
                        conn.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
                except BaseException:
                    _drop_pg_database(admin_url, name)
                    raise
                self._pg = (admin_url, name)
            name = self._pg[1]
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{dbname}" TEMPLATE "{name}"')

    def drop(self):
        """Remove whatever template this session made."""
        with self._lock:
            if self._sqlite_path is not None:
                shutil.rmtree(self._sqlite_path.parent, ignore_errors=True)
                self._sqlite_path = None
            if self._pg is not None:
                _drop_pg_database(*self._pg)
                self._pg = None


TEMPLATE = DatabaseTemplate()


def multi_process_redis_url():
    """The Redis that several processes share: REDIS_URL of the run, else the
    machine's Redis at 6379 (so that multi-process tests also run in the
    SQLite + in-process run), else None."""
    if os.environ.get("REDIS_URL"):
        return os.environ["REDIS_URL"]
    return SHARED_REDIS_URL if _port_open(6379) else None


class Cluster:
    """One database and one Redis prefix, shared by any number of servers.

    ``redis_url`` gives the servers that Redis even when the test run has no
    ``REDIS_URL`` (each cluster has its own prefix, so sharing is safe)."""

    def __init__(self, workdir, env=None, redis_url=None):
        self.workdir = Path(workdir)
        self.env = dict(env or {})
        self.redis_url = redis_url
        self.suffix = secrets.token_hex(6)
        self.prefix = f"e2e{self.suffix}"
        self.servers = []
        self._pg_admin_url = None
        base_url = os.environ.get("DATABASE_URL") or ""
        if base_url.startswith("postgres"):  # any other URL: a SQLite file of the cluster's own
            self._pg_dbname = f"chat_e2e_{self.suffix}"
            self.database_url = urlunsplit(urlsplit(base_url)._replace(path="/" + self._pg_dbname))
            self._pg_admin_url = _pg_admin_url(base_url)
        else:
            self.database_url = f"sqlite:///{self.workdir / 'e2e.sqlite3'}"

    def base_env(self, extra=None):
        env = {k: v for k, v in os.environ.items() if not k.startswith("CHAT_")}
        env.pop("REDIS_URL", None)
        if self.redis_url or os.environ.get("REDIS_URL"):
            env["REDIS_URL"] = self.redis_url or os.environ["REDIS_URL"]
        env.update(
            DJANGO_SETTINGS_MODULE="chatproject.settings",
            DATABASE_URL=self.database_url,
            REDIS_PREFIX=self.prefix,
            CHAT_ALLOW_QUERY_LOGIN="true",
            PYTHONUNBUFFERED="1",
        )
        env.update(self.env)
        env.update(extra or {})
        return env

    def create_database(self):
        """This cluster's database: a copy of the session's migrated template."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self._pg_admin_url:
            TEMPLATE.copy_to_postgres(os.environ["DATABASE_URL"], self._pg_dbname)
        else:
            TEMPLATE.copy_to_sqlite(self.workdir / "e2e.sqlite3")

    def drop_database(self):
        if self._pg_admin_url:
            _drop_pg_database(self._pg_admin_url, self._pg_dbname)

    def manage(self, *args, env=None, timeout=60):
        """Run ``manage.py ARGS`` against this cluster's database and Redis."""
        return _manage(args, self.base_env(env), timeout)

    def add_server(self, env=None):
        server = DaphneServer(self, env=env, name=f"s{len(self.servers)}")
        self.servers.append(server)
        server.start()
        return server

    def close(self):
        try:
            for server in self.servers:
                server.stop()
        finally:
            self.drop_database()


class DaphneServer:
    """One daphne process of a cluster; its log is ``self.log_path``."""

    def __init__(self, cluster, env=None, name="s0"):
        self.cluster = cluster
        self.extra_env = dict(env or {})
        self.name = name
        self.env = cluster.base_env(self.extra_env)
        self.port = None
        self.proc = None
        self.log_path = cluster.workdir / f"daphne-{name}.log"

    @property
    def http_url(self):
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self):
        return f"ws://127.0.0.1:{self.port}/ws/chat/"

    @property
    def database_url(self):
        return self.cluster.database_url

    def start(self):
        """Start on a fresh free port and wait until HTTP answers."""
        self.port = free_port()
        frame = int(self.env.get("CHAT_MAX_FRAME_BYTES", 65536))
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                daphne_args(self.port, frame), cwd=ROOT, env=self.env,
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        _live_processes.add(self.proc)
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"daphne {self.name} exited with {self.proc.returncode}:\n"
                    f"{_tail(self.log_path)}"
                )
            if self._answers_http():
                return self
            time.sleep(READY_POLL)
        self.kill()
        raise RuntimeError(f"daphne {self.name} not ready after {READY_TIMEOUT}s:\n"
                           f"{_tail(self.log_path)}")

    def _answers_http(self):
        try:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
            conn.request("GET", "/")
            conn.getresponse().read()
            conn.close()
            return True
        except (OSError, http.client.HTTPException):
            return False

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=STOP_TIMEOUT):
        """Send ``sig``, wait up to ``timeout`` seconds, then SIGKILL.

        Returns the exit code; the log tail is printed (shown on failure)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                print(f"daphne {self.name} still running {timeout}s after {sig!r}; killing")
                self.proc.kill()
                self.proc.wait()
        _live_processes.discard(self.proc)
        print(f"--- daphne {self.name} log tail (exit {self.proc.returncode}) ---")
        print(_tail(self.log_path))
        return self.proc.returncode

    def kill(self):
        """SIGKILL: no shutdown code runs (a crashed instance)."""
        return self.stop(signal.SIGKILL)

    def restart(self):
        """Start again (new port) after stop() or kill()."""
        self.stop()
        return self.start()

    def spawn_peer(self, env=None):
        """Start another daphne on the same database and Redis prefix."""
        return self.cluster.add_server({**self.extra_env, **(env or {})})

    def manage(self, *args, env=None, timeout=60):
        """Run ``manage.py ARGS`` with this server's database, Redis and env."""
        return self.cluster.manage(*args, env={**self.extra_env, **(env or {})},
                                   timeout=timeout)

    # Blocking calls, for use inside async tests without stalling the loop.
    async def astart(self):
        return await asyncio.to_thread(self.start)

    async def astop(self, sig=signal.SIGTERM, timeout=STOP_TIMEOUT):
        return await asyncio.to_thread(self.stop, sig, timeout)

    async def aspawn_peer(self, env=None):
        return await asyncio.to_thread(self.spawn_peer, env)


# --- REST, as an operator ----------------------------------------------------

def staff_token(server):
    """The DRF token of ``STAFF_USER``, who is in every cluster's database."""
    return TEMPLATE.staff_token


def add_room(server, name, *options):
    """``manage.py chat_add_room NAME OPTIONS...``, as an operator would."""
    result = server.manage("chat_add_room", name, *options)
    assert result.returncode == 0, result.stderr


def rest(server, token, method, path, body=None, headers=None, timeout=30):
    """One REST call with ``path`` sent exactly as written (``%2F`` stays
    encoded); ``token=None`` sends no Authorization. Returns (status, parsed
    JSON body or None)."""
    sent = dict(headers or {})
    if token is not None:
        sent.setdefault("Authorization", "Token " + token)
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        sent.setdefault("Content-Type", "application/json")
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=timeout)
    try:
        conn.request(method, path, body=data, headers=sent)
        response = conn.getresponse()
        raw = response.read()
    finally:
        conn.close()
    return response.status, (json.loads(raw) if raw else None)


async def arest(server, token, method, path, body=None, headers=None, timeout=30):
    """``rest`` from async code, without stalling the event loop."""
    return await asyncio.to_thread(rest, server, token, method, path, body, headers, timeout)


async def wait_until(check, timeout, interval=0.2, what="condition"):
    """Poll ``check`` (plain or async) until it returns a truthy value, which
    is returned; fails the test with the last value after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout}s (last: {value!r})")
        await asyncio.sleep(interval)


class RpcError(Exception):
    """A JSON-RPC error reply; ``error`` is the error object."""

    def __init__(self, error):
        super().__init__(error)
        self.error = error
        self.code = error.get("code")
        self.message = error.get("message")
        self.data = error.get("data")


class WsClient:
    """A JSON-RPC client of one connection.

    ``login`` is the first message (loginConfirmed / loginRejected).
    Notifications that arrive while waiting for something else are kept in
    ``notifications``; other stray messages (replies to other ids, batch
    replies) in ``others``."""

    def __init__(self, ws):
        self.ws = ws
        self.login = None
        self.notifications = []
        self.others = []
        self._ids = itertools.count(1)

    @property
    def close_code(self):
        return self.ws.close_code

    @property
    def user(self):
        if self.login and self.login.get("method") == "loginConfirmed":
            return self.login["params"][0]
        return None

    @property
    def socket_id(self):
        if self.login and self.login.get("method") == "loginConfirmed":
            return self.login["params"][1]["id"]
        return None

    async def send_raw(self, data):
        await self.ws.send(data)

    async def send_json(self, obj):
        await self.ws.send(json.dumps(obj))

    async def recv_json(self, timeout=5):
        """The next message, parsed, without any buffering."""
        return json.loads(await asyncio.wait_for(self.ws.recv(), timeout))

    def _stash(self, msg):
        if isinstance(msg, dict) and "method" in msg and "id" not in msg:
            self.notifications.append(msg)
        else:
            self.others.append(msg)

    async def call(self, method, *params, timeout=10):
        """Send a request and return its result, or raise RpcError."""
        req_id = next(self._ids)
        await self.send_json({"jsonrpc": "2.0", "id": req_id, "method": method,
                              "params": list(params)})
        msg = await self.reply(req_id, timeout)
        if "error" in msg:
            raise RpcError(msg["error"])
        return msg.get("result")

    async def reply(self, req_id, timeout=10):
        """The reply object with id ``req_id`` (a request sent with ``send_raw``
        too); what arrives before it is buffered."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            msg = await self.recv_json(self._left(deadline))
            if isinstance(msg, dict) and msg.get("id") == req_id and "method" not in msg:
                return msg
            self._stash(msg)

    async def notify(self, method, *params):
        """Send a request without an id (no reply expected)."""
        await self.send_json({"jsonrpc": "2.0", "method": method, "params": list(params)})

    def _take(self, name):
        for i, msg in enumerate(self.notifications):
            if msg["method"] == name:
                return self.notifications.pop(i)
        return None

    @staticmethod
    def _left(deadline):
        return max(0.0, deadline - asyncio.get_running_loop().time())

    async def next_notification(self, name, timeout=5):
        """The params of the next notification called ``name``."""
        found = self._take(name)
        deadline = asyncio.get_running_loop().time() + timeout
        while found is None:
            try:
                self._stash(await self.recv_json(self._left(deadline)))
            except asyncio.TimeoutError:
                raise AssertionError(
                    f"no {name!r} notification within {timeout}s; "
                    f"buffered: {[m['method'] for m in self.notifications]}"
                ) from None
            found = self._take(name)
        return found.get("params")

    async def no_notification(self, name, wait=1.0):
        """Assert that no notification called ``name`` arrives within ``wait`` s."""
        deadline = asyncio.get_running_loop().time() + wait
        with contextlib.suppress(asyncio.TimeoutError):
            while True:
                self._stash(await self.recv_json(self._left(deadline)))
        found = self._take(name)
        assert found is None, f"unexpected {name!r} notification: {found}"

    async def wait_closed(self, timeout=5):
        """Read (buffering) until the server closes; return the close code."""
        deadline = asyncio.get_running_loop().time() + timeout
        with contextlib.suppress(ConnectionClosed):
            while True:
                self._stash(await self.recv_json(self._left(deadline)))
        return self.close_code


@contextlib.asynccontextmanager
async def ws_client(server, user="user1", query=None, headers=None, path="/ws/chat/",
                    login_timeout=10):
    """``async with ws_client(server, user="alice") as c:`` — a connected client.

    ``user=None`` leaves out ``?user=``; ``query`` adds parameters (a dict),
    ``headers`` extra handshake headers (no Origin is sent unless given)."""
    params = dict(query or {})
    if user is not None:
        params = {"user": user, **params}
    url = f"ws://127.0.0.1:{server.port}{path}"
    if params:
        url += "?" + urlencode(params)
    async with connect(url, additional_headers=headers, max_size=None,
                       compression=None, ping_interval=None, open_timeout=10,
                       close_timeout=5) as ws:
        client = WsClient(ws)
        with contextlib.suppress(ConnectionClosed):
            client.login = await client.recv_json(login_timeout)
        yield client
