"""The servers under test: ours in three set-ups, and the original (peer).

Each target starts its processes itself and stops them, and measures them
from /proc: CPU seconds of each server's process tree (utime + stime of the
server and its children, plus the children it has reaped) and their RSS.
On a shared machine, CPU seconds are the fair figure: wall-clock rates also
count the time other people's work took the cores away.
"""
import os
import secrets
import signal
import socket
import subprocess
import time
from pathlib import Path

from clients import BenchError, NativeClient, SocketIOClient

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
PROJECT_PY = ROOT / ".venv" / "bin" / "python"
DAPHNE = ROOT / ".venv" / "bin" / "daphne"
PEER_DIR = BENCH / "peer"
POSTGRES_URL = "postgres://postgres@127.0.0.1:5432"
REDIS_URL = "redis://127.0.0.1:6379/0"
MAX_FRAME_BYTES = 65536
READY_TIMEOUT = 120
STOP_TIMEOUT = 30  # above the service's 15 s closeTimeout
CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _stat_fields(pid):
    """Fields of /proc/PID/stat after the command name (field 3 onwards)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def process_tree(root):
    """The pid and every descendant pid of root."""
    children = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                children.setdefault(int(_stat_fields(entry.name)[1]), []).append(int(entry.name))
            except (FileNotFoundError, ProcessLookupError, IndexError):
                continue
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


def cpu_seconds(roots):
    """User + system CPU of the process trees, reaped children included."""
    ticks = 0
    for root in roots:
        for pid in process_tree(root):
            try:
                fields = _stat_fields(pid)
            except (FileNotFoundError, ProcessLookupError):
                continue
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
            if pid == root:
                ticks += int(fields[13]) + int(fields[14])  # cutime, cstime
    return ticks / CLK_TCK


def rss_bytes(roots):
    total = 0
    for root in roots:
        for pid in process_tree(root):
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except (FileNotFoundError, ProcessLookupError):
                continue
            for line in status.splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
    return total


def _port_open(port):
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _tail(path, lines=40):
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class Target:
    """Processes serving one chat; clients are spread over their ports."""

    name = ""
    client_class = None

    def __init__(self, workdir):
        self.workdir = Path(workdir)
        self.procs = []  # (Popen, port, log path)

    @property
    def pids(self):
        return [proc.pid for proc, _, _ in self.procs]

    def client(self, index, user):
        """A client for the index-th connection, round-robin over the processes."""
        return self.client_class(self.procs[index % len(self.procs)][1], user)

    def cpu(self):
        return cpu_seconds(self.pids)

    def rss(self):
        return rss_bytes(self.pids)

    def _spawn(self, argv, env, cwd, port):
        log_path = self.workdir / f"{self.name}-{port}.log"
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)
        self.procs.append((proc, port, log_path))
        deadline = time.monotonic() + READY_TIMEOUT
        while not self._ready(proc, port, log_path):
            if proc.poll() is not None:
                raise BenchError(f"{self.name} server exited with {proc.returncode}:\n{_tail(log_path)}")
            if time.monotonic() > deadline:
                raise BenchError(f"{self.name} server not ready on port {port} in {READY_TIMEOUT} s")
            time.sleep(0.1)

    def _ready(self, proc, port, log_path):
        return _port_open(port)

    def stop(self):
        for proc, _, _ in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc, _, _ in self.procs:
            try:
                proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs = []


class Ours(Target):
    """The Django service under daphne, one configuration of three."""

    CONFIGS = ("sqlite", "postgres-redis", "postgres-redis-2")
    client_class = NativeClient

    def __init__(self, workdir, config, history_max_size):
        super().__init__(workdir)
        if config not in self.CONFIGS:
            raise BenchError(f"unknown configuration {config!r}; choose from {', '.join(self.CONFIGS)}")
        self.name = config
        self.processes = 2 if config.endswith("-2") else 1
        suffix = secrets.token_hex(5)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CHAT_", "DATABASE_URL", "REDIS_"))}
        env.update(
            DJANGO_SETTINGS_MODULE="chatproject.settings",
            DEBUG="false",
            SECRET_KEY=secrets.token_urlsafe(40),
            CHAT_ALLOW_QUERY_LOGIN="true",
            CHAT_HISTORY_MAX_SIZE=str(history_max_size),
            CHAT_LOG_LEVEL="WARNING",
        )
        if config == "sqlite":
            env["DATABASE_URL"] = f"sqlite:///{self.workdir / 'bench.sqlite3'}"
            self.redis_prefix = None
        else:
            env["DATABASE_URL"] = f"{POSTGRES_URL}/chat_bench_{suffix}"
            env["REDIS_URL"] = REDIS_URL
            self.redis_prefix = env["REDIS_PREFIX"] = f"chat_bench_{suffix}"
        self.env = env
        self.database_created = False

    def _manage(self, *args):
        result = subprocess.run(
            [str(PROJECT_PY), "manage.py", *args], cwd=ROOT, env=self.env,
            capture_output=True, text=True, timeout=300,
        )
        if result.returncode != 0:
            raise BenchError(f"manage.py {' '.join(args)} failed:\n{result.stdout}{result.stderr}")

    def _admin(self, *args):
        result = subprocess.run(
            [str(PROJECT_PY), str(BENCH / "admin.py"), *args], capture_output=True, text=True, timeout=120,
        )
        if result.returncode != 0:
            raise BenchError(f"admin.py {' '.join(args)} failed:\n{result.stdout}{result.stderr}")

    def start(self, rooms):
        """A fresh database migrated once, the rooms, then the daphne processes."""
        if self.redis_prefix:
            self._admin("create-db", self.env["DATABASE_URL"])
        self.database_created = True
        self._manage("migrate", "--noinput", "-v0")
        for room in rooms:
            self._manage("chat_add_room", room)
        for _ in range(self.processes):
            port = free_port()
            self._spawn(
                [str(DAPHNE), "-b", "127.0.0.1", "-p", str(port),
                 "--websocket-max-message-size", str(MAX_FRAME_BYTES),
                 "--websocket-max-frame-size", str(MAX_FRAME_BYTES),
                 "--websocket_timeout", "-1", "chatproject.asgi:application"],
                self.env, ROOT, port,
            )

    def stop(self):
        super().stop()
        if self.database_created and self.redis_prefix:
            self._admin("drop-db", self.env["DATABASE_URL"])
            self._admin("clear-redis", REDIS_URL, self.redis_prefix)
        self.database_created = False


class Peer(Target):
    """chat-service 1.0.0 (Node, memory state) started by bench/peer/server.js."""

    name = "original"
    client_class = SocketIOClient

    def __init__(self, workdir, history_max_size):
        super().__init__(workdir)
        self.history_max_size = history_max_size

    def start(self, rooms):
        if not (PEER_DIR / "node_modules" / "chat-service").is_dir():
            raise BenchError("chat-service is not installed in bench/peer: run the benchmark through bench/run")
        port = free_port()
        self._spawn(
            ["node", "server.js", str(port), str(self.history_max_size), *rooms],
            dict(os.environ), PEER_DIR, port,
        )

    def _ready(self, proc, port, log_path):
        # server.js prints "ready" once its rooms exist and it listens.
        return "ready" in Path(log_path).read_text(errors="replace").split()
