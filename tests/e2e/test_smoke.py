import pytest

from .harness import ws_client

pytestmark = pytest.mark.e2e


async def test_query_login_is_confirmed_first(daphne_server):
    async with ws_client(daphne_server, user="user1") as c:
        assert c.login is not None, "connection closed before any message"
        assert c.login["method"] == "loginConfirmed", c.login
        assert c.login["params"][0] == "user1"
        assert isinstance(c.login["params"][1]["id"], str)
