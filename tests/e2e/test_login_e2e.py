"""Login paths through a real daphne (docs/protocol.md, Login; behaviour
cases of docs/testing.md).

Reproduces B1 (query login confirmed first), B3 (no login: loginRejected,
close 4403), B211 (DRF token login and query decoding), B9 (socket connect
and disconnect echoes) and B23 (join and leave echoes between two sockets of
one user)."""
import json
import re

import pytest

from .harness import ws_client

pytestmark = pytest.mark.e2e


def manage_ok(server, *args):
    result = server.manage(*args)
    assert result.returncode == 0, f"manage.py {args[0]} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


async def test_b1_query_login_confirmed_first_e2e(daphne_server):
    """B1: query login confirmed first e2e."""
    async with ws_client(daphne_server, user="user1") as c:
        assert c.login is not None, "connection closed before any message"
        assert c.login["method"] == "loginConfirmed", c.login
        assert "id" not in c.login
        user_name, auth_data = c.login["params"]
        assert user_name == "user1"
        assert isinstance(auth_data["id"], str) and auth_data["id"]


@pytest.mark.daphne_env(CHAT_ALLOW_QUERY_LOGIN="false")
async def test_b3_no_login_rejected_and_closed_4403_e2e(daphne_server):
    """B3: no login rejected and closed 4403 e2e."""
    assert daphne_server.env["CHAT_ALLOW_QUERY_LOGIN"] == "false"
    # with query login off, ?user= identifies nobody: the default on_connect gives None
    async with ws_client(daphne_server, user="user1") as c:
        assert c.login is not None, "connection closed before any message"
        assert c.login["method"] == "loginRejected", c.login
        error = c.login["params"][0]
        assert error["data"]["code"] == "noLogin"
        assert error["data"]["args"] == []
        assert await c.wait_closed() == 4403
        assert all(m["method"] != "loginConfirmed" for m in c.notifications)


CREATE_USERS = """
import json
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token
User = get_user_model()
User.objects.create_user("alice", password="pw-alice")
carol = User.objects.create_user("carol", password="pw-carol", is_active=False)
print(json.dumps({"carol": Token.objects.create(user=carol).key}))
"""


async def test_b211_token_login_and_query_decoding_e2e(daphne_server):
    """B211: token login and query decoding e2e."""
    keys = json.loads(manage_ok(daphne_server, "shell", "-c", CREATE_USERS).strip().splitlines()[-1])
    created = manage_ok(daphne_server, "drf_create_token", "alice")
    match = re.search(r"Generated token (\S+) for user alice", created)
    assert match, created
    key, inactive_key = match.group(1), keys["carol"]

    async with ws_client(daphne_server, user="user1", query={"token": key}) as c:
        assert c.login["method"] == "loginConfirmed", c.login
        assert c.login["params"][0] == "alice"

    async with ws_client(daphne_server, user="user1", query={"token": "wrong"}) as c:
        assert c.login["method"] == "loginRejected", c.login
        assert c.login["params"][0]["data"]["code"] == "noLogin"
        assert await c.wait_closed() == 4403

    async with ws_client(daphne_server, user="user1", query={"token": inactive_key}) as c:
        assert c.login["method"] == "loginRejected", c.login
        assert c.login["params"][0]["data"]["code"] == "noLogin"
        assert await c.wait_closed() == 4403

    async with ws_client(daphne_server, user=None, path="/ws/chat/?user=a+b%2Bc") as c:
        assert c.login["method"] == "loginConfirmed", c.login
        assert c.login["params"][0] == "a b+c"

    async with ws_client(daphne_server, user=None, path="/ws/chat/?user=x&user=user1") as c:
        assert c.login["method"] == "loginConfirmed", c.login
        assert c.login["params"][0] == "user1"


async def test_b9_socket_connect_and_disconnect_echo_e2e(daphne_server):
    """B9: socket connect and disconnect echo e2e."""
    async with ws_client(daphne_server, user="user1") as s1:
        assert s1.login["method"] == "loginConfirmed", s1.login
        async with ws_client(daphne_server, user="user1") as s2:
            assert s2.login["method"] == "loginConfirmed", s2.login
            sid2 = s2.socket_id
            assert await s1.next_notification("socketConnectEcho") == [sid2, 2]
            await s2.no_notification("socketConnectEcho", wait=0.5)
        assert await s1.next_notification("socketDisconnectEcho") == [sid2, 1]


async def test_b23_join_and_leave_echo_between_sockets_e2e(daphne_server):
    """B23: join and leave echo between sockets e2e."""
    manage_ok(daphne_server, "chat_add_room", "room1")
    async with ws_client(daphne_server, user="user1") as s1, ws_client(daphne_server, user="user1") as s2:
        assert s1.login["method"] == "loginConfirmed" and s2.login["method"] == "loginConfirmed"
        assert await s2.call("roomJoin", "room1") == 1
        assert await s1.next_notification("roomJoinedEcho") == ["room1", s2.socket_id, 1]
        await s2.no_notification("roomJoinedEcho", wait=0.5)
        assert await s2.call("roomLeave", "room1") == 0
        assert await s1.next_notification("roomLeftEcho") == ["room1", s2.socket_id, 0]
