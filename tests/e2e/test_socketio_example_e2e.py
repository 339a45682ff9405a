"""The original README's socket.io example (examples/socketio-client/), run
unchanged but for its URL against a live daphne with the example's hooks,
with socket.io-client 2.x and 4.x (issue 13, docs/testing.md)."""
import asyncio
import os
import shutil

import pytest

from .harness import ROOT, ws_client
from .socketio_clients import GENERATIONS, PACKAGES, SIO_DIR, node_binary, socketio_clients_installed  # noqa: F401

pytestmark = pytest.mark.e2e

EXAMPLE_DIR = ROOT / "examples" / "socketio-client"
EXAMPLE_HOOKS = {"PYTHONPATH": str(EXAMPLE_DIR), "CHAT_HOOKS": "readme_hooks.ReadmeExampleHooks",
                 "CHAT_ENABLE_USERLIST_UPDATES": "true"}
WAIT = 20


def example_copy(run_dir, generation):
    """client.js in a directory of its own whose node_modules/socket.io-client
    is the pinned client of ``generation``: ``require('socket.io-client')``
    resolves there, whatever is installed in examples/ itself."""
    run_dir.mkdir()
    shutil.copy(EXAMPLE_DIR / "client.js", run_dir / "client.js")
    (run_dir / "node_modules").mkdir()
    (run_dir / "node_modules" / "socket.io-client").symlink_to(SIO_DIR / "node_modules" / PACKAGES[generation])
    return run_dir / "client.js"


@pytest.mark.parametrize("generation", GENERATIONS, ids=[PACKAGES[g] for g in GENERATIONS])
@pytest.mark.daphne_env(**EXAMPLE_HOOKS)
async def test_readme_example_joins_default_and_says_hello(
        generation, socketio_clients_installed, daphne_server, tmp_path):
    script = example_copy(tmp_path / "example", generation)
    async with ws_client(daphne_server, user=None, query={"userName": "watcher"}) as watcher:
        assert watcher.user == "watcher", watcher.login  # the example's hook logs in native clients too
        await watcher.call("roomJoin", "default")
        assert await watcher.call("roomGetOwner", "default") == "admin"

        example = await asyncio.create_subprocess_exec(
            node_binary(), str(script), cwd=script.parent,
            env={**os.environ, "CHAT_URL": f"ws://127.0.0.1:{daphne_server.port}/chat-service"},
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        try:
            assert await watcher.next_notification("roomUserJoined", timeout=WAIT) == ["default", "user"]
            room, message = await watcher.next_notification("roomMessage", timeout=WAIT)
            assert room == "default"
            assert (message["author"], message["textMessage"]) == ("user", "Hello!"), message
            printed = await asyncio.wait_for(example.stdout.readline(), WAIT)
            assert printed.decode() == "user: Hello!\n"  # its own message, through its roomMessage handler
        finally:
            if example.returncode is None:
                example.terminate()  # the example runs until stopped, as the original's did
            _, errors = await example.communicate()
        assert errors == b"", errors.decode(errors="replace")  # loginRejected would print here
        assert await watcher.next_notification("roomUserLeft", timeout=WAIT) == ["default", "user"]
