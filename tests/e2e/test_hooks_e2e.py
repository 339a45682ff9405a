"""Hooks loaded from CHAT_HOOKS by a real daphne process (docs/hooks-and-python-api.md,
Hooks; docs/protocol.md, Errors; docs/configuration.md)."""
import pytest

from .harness import Cluster, RpcError, ws_client

pytestmark = pytest.mark.e2e

HOOKS = "tests.e2e.sample_hooks.SampleHooks"


@pytest.mark.daphne_env(CHAT_HOOKS=HOOKS)
async def test_hooks_from_chat_hooks_over_the_wire(daphne_server):
    async with ws_client(daphne_server, user="user1") as c:
        # on_connect's auth data travels in loginConfirmed, with the socket id added.
        assert c.login["method"] == "loginConfirmed", c.login
        name, auth = c.login["params"]
        assert name == "user1"
        assert auth["greeting"] == "hi"
        assert isinstance(auth["id"], str) and auth["id"]
        # on_start created the room before the first connection.
        assert await c.call("roomJoin", "hooked") == 1
        # The checker relaxes the default format.
        assert await c.call("roomMessage", "hooked", {"htmlMessage": "<b>x</b>"}) == 1
        room, message = await c.next_notification("roomMessage")
        assert room == "hooked" and message["htmlMessage"] == "<b>x</b>" and message["author"] == "user1"
        # The checker's own error.
        with pytest.raises(RpcError) as refused:
            await c.call("roomMessage", "hooked", {"other": 1})
        assert refused.value.data["code"] == "badFormat"
        # A custom code raised by the before hook: JSON-RPC code -32000.
        with pytest.raises(RpcError) as refused:
            await c.call("roomMessage", "hooked", {"textMessage": "this is forbidden"})
        assert refused.value.code == -32000
        assert refused.value.data == {"name": "ChatServiceError", "code": "forbidden", "args": []}
        assert refused.value.message == "forbidden"
        history = await c.call("roomRecentHistory", "hooked")
        assert [m["id"] for m in history] == [1]


@pytest.mark.daphne_env(CHAT_HOOKS=HOOKS)
async def test_custom_on_connect_rejects_without_user(daphne_server):
    async with ws_client(daphne_server, user=None) as c:
        assert c.login["method"] == "loginRejected", c.login
        assert c.login["params"][0]["data"]["code"] == "noLogin"
        assert await c.wait_closed() == 4403


def test_unimportable_chat_hooks_stops_start_up(tmp_path):
    bad = "tests.e2e.no_such_hooks_module.Hooks"
    cluster = Cluster(tmp_path / "e2e")
    try:
        cluster.create_database()  # migrate with a valid configuration
        with pytest.raises(RuntimeError) as failed:
            cluster.add_server(env={"CHAT_HOOKS": bad})
        message = str(failed.value)
        assert "exited with" in message  # the process stopped, it did not just log
        assert bad in message
        assert "ImproperlyConfigured" in message and "CHAT_HOOKS" in message
        assert not cluster.servers[0].running
    finally:
        cluster.close()
