"""Operations endpoints and logs against real daphne processes
(docs/operations.md)."""
import asyncio
import http.client
import json
import os
import signal
import subprocess
import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

from .harness import ROOT, free_port, ws_client

pytestmark = pytest.mark.e2e


def http_get(port, path, timeout=10):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()


def totals(exposition):
    """{(sample name, sorted labels): value} of a scrape."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
    }


def total(values, name, **labels):
    """The sum of `name` over every sample whose labels include `labels`."""
    return sum(value for (sample, sample_labels), value in values.items()
               if sample == name and set(labels.items()) <= set(sample_labels))


async def test_health_readiness_and_metrics_follow_real_traffic(daphne_server):
    """A login and a room message show in the process's /metrics."""
    status, body = await asyncio.to_thread(http_get, daphne_server.port, "/healthz")
    assert (status, json.loads(body)) == (200, {"status": "ok"})
    # Ready once the service has started and written its first heartbeat.
    deadline = time.monotonic() + 30
    while True:
        status, body = await asyncio.to_thread(http_get, daphne_server.port, "/readyz")
        if status == 200 or time.monotonic() > deadline:
            break
        assert status == 503, body
        await asyncio.sleep(0.1)
    assert status == 200, body
    assert json.loads(body)["checks"] == {"database": "ok", "channel_layer": "ok", "service": "ok", "heartbeat": "ok"}

    result = await asyncio.to_thread(daphne_server.manage, "chat_add_room", "lobby")
    assert result.returncode == 0, result.stderr
    status, body = await asyncio.to_thread(http_get, daphne_server.port, "/metrics")
    assert status == 200
    before = totals(body)
    assert total(before, "chat_channel_layer_up") == 1

    async with ws_client(daphne_server, user="alice") as client:
        assert client.login["method"] == "loginConfirmed", client.login
        await client.call("roomJoin", "lobby")
        await client.call("roomMessage", "lobby", {"textMessage": "counted"})

        deadline = time.monotonic() + 20
        while True:
            status, body = await asyncio.to_thread(http_get, daphne_server.port, "/metrics")
            after = totals(body)
            logins = total(after, "chat_logins_total", result="accepted")
            commands = total(after, "chat_commands_total") - total(before, "chat_commands_total")
            if (logins >= 1 and commands >= 2) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)
    assert logins >= 1, "chat_logins_total{result=\"accepted\"} did not move"
    assert commands >= 2, "chat_commands_total did not move for roomJoin and roomMessage"
    assert total(after, "chat_commands_total", command="roomMessage", outcome="ok") >= 1
    assert total(after, "chat_command_duration_seconds_count", command="roomMessage") >= 1


class RunScript:
    """`scripts/run` on a free port with its own SQLite database; output in a file."""

    def __init__(self, workdir, env):
        self.port = free_port()
        self.log_path = workdir / "run.log"
        base = {key: value for key, value in os.environ.items()
                if not key.startswith("CHAT_") and key not in ("REDIS_URL", "LOG_FORMAT")}
        self.env = {**base, "PORT": str(self.port), "PYTHONUNBUFFERED": "1",
                    "DATABASE_URL": f"sqlite:///{workdir / 'run.sqlite3'}", **env}
        self.proc = None

    def __enter__(self):
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(["bash", "scripts/run"], cwd=ROOT, env=self.env, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 180  # migrate, and a pip install if requirements changed
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"scripts/run exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if http_get(self.port, "/readyz", timeout=2)[0] == 200:  # started: it has an instance id
                    return self
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"scripts/run not answering:\n{self.log()}")
            time.sleep(0.2)

    def manage(self, *args):
        return subprocess.run([str(ROOT / ".venv/bin/python"), "manage.py", *args], cwd=ROOT, env=self.env,
                              capture_output=True, text=True, timeout=120)

    def log(self):
        return self.log_path.read_text(errors="replace")

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # scripts/run execs daphne: this is its pid
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.mark.parametrize("log_format", ["text", "json"])
async def test_run_command_access_log_keeps_tokens_out(tmp_path, log_format):
    """The run command's access log shows every request, with token values redacted."""
    with RunScript(tmp_path, {"LOG_FORMAT": log_format}) as server:
        made = server.manage("shell", "-c", (
            "from django.contrib.auth.models import User\n"
            "from rest_framework.authtoken.models import Token\n"
            "print(Token.objects.create(user=User.objects.create_user('tina')).key)"))
        assert made.returncode == 0, made.stderr
        key = made.stdout.split()[-1]  # after the shell's own start-up notice
        assert len(key) == 40
        status, _ = await asyncio.to_thread(http_get, server.port, f"/healthz?token={key}")
        assert status == 200
        async with ws_client(server, user=None, query={"token": key}) as client:
            assert client.login["method"] == "loginConfirmed" and client.user == "tina", client.login
        await asyncio.to_thread(http_get, server.port, f"/accounts/login/?next=/&token={key}")

        def logged():
            text = server.log()
            return "WSDISCONNECT /ws/chat/" in text and "/accounts/login/?next=/&token=[redacted]" in text

        deadline = time.monotonic() + 20
        while not logged() and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
    text = server.log()
    assert key not in text, text
    assert logged(), text
    access = [line for line in text.splitlines() if "/healthz?token=[redacted]" in line]
    assert len(access) == 1, text
    if log_format == "json":
        entry = json.loads(access[0])
        assert entry["logger"] == "daphne.access" and entry["level"] == "INFO"
        assert entry["message"].endswith('"GET /healthz?token=[redacted]" 200 16')
        assert isinstance(entry["instance"], str) and entry["instance"]
    else:
        assert "INFO daphne.access" in access[0] and access[0].endswith('"GET /healthz?token=[redacted]" 200 16')
