"""The listen backlog of the run command (docs/operations.md, Reconnect
storms): Twisted's default of 50 drops SYNs when a thousand clients
reconnect at once, so `chatproject.serve` listens with `--backlog`
(default 1024; `LISTEN_BACKLOG` in scripts/run). The kernel shows a
listening socket's backlog as its Send-Q in `ss -ltn`."""
import subprocess
import sys

import pytest

from .attack_tools import own_cluster, start_command_server  # noqa: F401 (fixture)
from .harness import ROOT, free_port, wait_until

pytestmark = pytest.mark.e2e


def listen_backlog(port):
    """The backlog of the socket listening on 127.0.0.1:port as `ss` shows
    it, or None while nothing listens there."""
    lines = subprocess.run(["ss", "-Hltn", f"sport = :{port}"], capture_output=True, text=True,
                           check=True, timeout=10).stdout.splitlines()
    if not lines:
        return None
    assert len(lines) == 1, lines
    state, _, send_q, local, *_ = lines[0].split()
    assert (state, local) == ("LISTEN", f"127.0.0.1:{port}"), lines
    return int(send_q)


def somaxconn():
    """The kernel caps every backlog at net.core.somaxconn."""
    with open("/proc/sys/net/core/somaxconn") as limit:
        return int(limit.read())


def test_the_harness_command_line_listens_with_backlog_1024(daphne_server):
    assert listen_backlog(daphne_server.port) == min(1024, somaxconn())


def test_scripts_run_takes_listen_backlog(own_cluster):  # noqa: F811
    server = start_command_server(own_cluster(), "run", env={"LISTEN_BACKLOG": "2048"})
    assert listen_backlog(server.port) == min(2048, somaxconn())


async def test_an_endpoint_with_its_own_backlog_keeps_it(own_cluster):  # noqa: F811
    cluster = own_cluster()
    port = free_port()
    log_path = cluster.workdir / "explicit.log"
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "chatproject.serve", "--backlog", "900",
             "-e", f"tcp:port={port}:interface=127.0.0.1:backlog=77", "chatproject.asgi:application"],
            cwd=ROOT, env=cluster.base_env(), stdout=log, stderr=subprocess.STDOUT,
        )
    try:
        backlog = await wait_until(lambda: proc.poll() is not None or listen_backlog(port), timeout=60,
                                   interval=0.1, what="the explicit endpoint listening")
        assert backlog == 77, log_path.read_text(errors="replace")
    finally:
        proc.terminate()
        proc.wait(20)


@pytest.mark.parametrize("value,message", [
    ("abc", "not an integer: 'abc'"), ("0", "must be 1 to 65535, got 0"), ("70000", "must be 1 to 65535, got 70000"),
])
def test_a_bad_backlog_stops_start_up_with_a_clear_message(value, message):
    result = subprocess.run(
        [sys.executable, "-m", "chatproject.serve", "-b", "127.0.0.1", "-p", str(free_port()),
         "--backlog", value, "chatproject.asgi:application"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2, result
    assert f"argument --backlog: {message}" in result.stderr
