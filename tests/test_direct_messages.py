"""Behaviour cases (docs/testing.md): direct messages (B89-B97) and direct-messaging permissions (B98-B109)."""
import asyncio

import pytest

from tests.client import RpcError
from tests.conftest import M, U1, U2, U3

DM = {"enableDirectMessages": True}


async def expect_error(client, code, *params, args=None):
    with pytest.raises(RpcError) as info:
        await client.call(*params)
    assert info.value.code == code, info.value.error
    if args is not None:
        assert info.value.args_ == args
    return info.value


def assert_processed(message):
    assert set(message) == {"textMessage", "author", "timestamp"}
    assert message["textMessage"] == "Test message."
    assert message["author"] == "user1"
    assert isinstance(message["timestamp"], int) and not isinstance(message["timestamp"], bool)


# 12.6 Direct messages.


async def test_b89_direct_message_delivered(chat):
    """B89: direct message delivered."""
    service = await chat.start(options=DM)
    s1 = await chat.client(service, U1)
    s2 = await chat.client(service, U2)
    result = await s1.call("directMessage", U2, M)
    assert_processed(result)
    assert "id" not in result
    assert await s2.notification("directMessage") == [result]


async def test_b90_direct_messages_off_by_default(chat, svc):
    """B90: direct messages off by default."""
    s1 = await chat.client(svc, U1)
    s2 = await chat.client(svc, U2)
    await expect_error(s1, "notAllowed", "directMessage", U2, M)
    await s2.no_notification("directMessage")


async def test_b91_no_message_to_self(chat):
    """B91: no message to self."""
    service = await chat.start(options=DM)
    s1 = await chat.client(service, U1)
    await expect_error(s1, "notAllowed", "directMessage", U1, M)
    await s1.no_notification("directMessage", wait=0.2)


async def test_b92_offline_recipient(chat):
    """B92: offline recipient."""
    service = await chat.start(options=DM)
    s2 = await chat.client(service, U2)
    await s2.close()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5
    while await service.exec_user_command(U2, "listOwnSockets") != {}:
        assert loop.time() < deadline, "user2's socket was never removed"
        await asyncio.sleep(0.02)
    s1 = await chat.client(service, U1)
    await expect_error(s1, "noUserOnline", "directMessage", U2, M, args=["user2"])


async def test_b93_unknown_recipient(chat):
    """B93: unknown recipient."""
    service = await chat.start(options=DM)
    s1 = await chat.client(service, U1)
    await expect_error(s1, "noUser", "directMessage", "nobody", M, args=["nobody"])


async def test_b94_echo_to_senders_other_sockets(chat):
    """B94: echo to senders other sockets."""
    service = await chat.start(options=DM)
    s1 = await chat.client(service, U1)
    s3 = await chat.client(service, U1)
    s2 = await chat.client(service, U2)
    result = await s1.call("directMessage", U2, M)
    to_user, echoed = await s3.notification("directMessageEcho")
    assert to_user == "user2"
    assert_processed(echoed)
    assert echoed == result
    assert await s2.notification("directMessage") == [result]
    await s1.no_notification("directMessageEcho")
    await s2.no_notification("directMessageEcho", wait=0)
    await s3.no_notification("directMessageEcho", wait=0)


async def test_b95_direct_message_to_every_recipient_socket(chat):
    """B95: direct message to every recipient socket."""
    service = await chat.start(options=DM)
    s2 = await chat.client(service, U2)
    s4 = await chat.client(service, U2)
    s1 = await chat.client(service, U1)
    result = await s1.call("directMessage", U2, M)
    assert await s2.notification("directMessage") == [result]
    assert await s4.notification("directMessage") == [result]
    await s2.no_notification("directMessage", wait=0.3)
    await s4.no_notification("directMessage", wait=0)


async def test_b96_system_message_to_other_sockets(chat, svc):
    """B96: system message to other sockets."""
    s1 = await chat.client(svc, U1)
    s2 = await chat.client(svc, U1)
    assert await s1.call("systemMessage", "some data.") is None
    assert await s2.notification("systemMessage") == ["some data."]
    await s1.no_notification("systemMessage")


async def test_b97_system_message_data_passes_unchanged(chat, svc):
    """B97: system message data passes unchanged."""
    s1 = await chat.client(svc, U1)
    s2 = await chat.client(svc, U1)
    assert await s1.call("systemMessage", {"a": [1, None]}) is None
    assert await s2.notification("systemMessage") == [{"a": [1, None]}]
    assert await s1.call("systemMessage", None) is None
    assert await s2.notification("systemMessage") == [None]


# 12.7 Direct-messaging permissions.


async def test_b98_blacklisted_sender_refused(chat):
    """B98: blacklisted sender refused."""
    service = await chat.start(options=DM)
    s1 = await chat.client(service, U1)
    s2 = await chat.client(service, U2)
    assert await s2.call("directAddToList", "blacklist", [U1]) is None
    await expect_error(s1, "notAllowed", "directMessage", U2, M)
    await s2.no_notification("directMessage")


async def test_b99_whitelist_mode(chat):
    """B99: whitelist mode."""
    service = await chat.start(options=DM)
    s1 = await chat.client(service, U1)
    s2 = await chat.client(service, U2)
    assert await s2.call("directAddToList", "whitelist", [U1]) is None
    assert await s2.call("directSetWhitelistMode", True) is None
    result = await s1.call("directMessage", U2, M)
    assert result["textMessage"] == "Test message."
    assert await s2.notification("directMessage") == [result]
    assert await s2.call("directRemoveFromList", "whitelist", [U1]) is None
    await expect_error(s1, "notAllowed", "directMessage", U2, M)


async def test_b100_add_and_remove_blacklist(chat, svc):
    """B100: add and remove blacklist."""
    s1 = await chat.client(svc, U1)
    assert await s1.call("directAddToList", "blacklist", [U2]) is None
    assert "user2" in await s1.call("directGetAccessList", "blacklist")
    assert await s1.call("directRemoveFromList", "blacklist", [U2]) is None
    assert "user2" not in await s1.call("directGetAccessList", "blacklist")


async def test_b101_own_name_refused(chat, svc):
    """B101: own name refused."""
    s1 = await chat.client(svc, U1)
    await expect_error(s1, "notAllowed", "directAddToList", "blacklist", [U1])
    await expect_error(s1, "notAllowed", "directRemoveFromList", "whitelist", [U1])
    assert await s1.call("directGetAccessList", "blacklist") == []


async def test_b102_unknown_direct_list(chat, svc):
    """B102: unknown direct list."""
    s1 = await chat.client(svc, U1)
    await expect_error(s1, "noList", "directAddToList", "nolist", [U2], args=["nolist"])
    await expect_error(s1, "noList", "directGetAccessList", "nolist", args=["nolist"])


async def test_b103_add_twice(chat, svc):
    """B103: add twice."""
    s1 = await chat.client(svc, U1)
    assert await s1.call("directAddToList", "blacklist", [U2]) is None
    assert await s1.call("directAddToList", "blacklist", [U2]) is None
    assert await s1.call("directGetAccessList", "blacklist") == ["user2"]


async def test_b104_remove_absent_name(chat, svc):
    """B104: remove absent name."""
    s1 = await chat.client(svc, U1)
    assert await s1.call("directRemoveFromList", "blacklist", [U2]) is None
    assert await s1.call("directGetAccessList", "blacklist") == []


async def test_b105_direct_whitelist_mode(chat, svc):
    """B105: direct whitelist mode."""
    s1 = await chat.client(svc, U1)
    assert await s1.call("directGetWhitelistMode") is False
    assert await s1.call("directSetWhitelistMode", True) is None
    assert await s1.call("directGetWhitelistMode") is True


async def test_b106_direct_list_size_limit(chat):
    """B106: direct list size limit."""
    service = await chat.start(options={"directListSizeLimit": 1})
    s1 = await chat.client(service, U1)
    await expect_error(s1, "listLimitExceeded", "directAddToList", "blacklist", [U2, U3], args=["blacklist"])
    assert await s1.call("directGetAccessList", "blacklist") == []


async def test_b107_lists_work_with_direct_messages_off(chat, svc):
    """B107: lists work with direct messages off."""
    s1 = await chat.client(svc, U1)
    assert await s1.call("directAddToList", "blacklist", [U3]) is None
    assert await svc.has_direct_access(U1, U2) is True
    assert await svc.has_direct_access(U1, U3) is False


async def test_b108_blacklist_checked_before_online(chat):
    """B108: blacklist checked before online."""
    service = await chat.start(options=DM)
    await service.add_user(U2, {"blacklist": [U1]})
    s1 = await chat.client(service, U1)
    await expect_error(s1, "notAllowed", "directMessage", U2, M)


async def test_b109_preset_whitelist_only(chat):
    """B109: preset whitelist only."""
    service = await chat.start(options=DM)
    await service.add_user(U2, {"whitelistOnly": True})
    s2 = await chat.client(service, U2)
    s1 = await chat.client(service, U1)
    await expect_error(s1, "notAllowed", "directMessage", U2, M)
    await s2.no_notification("directMessage")
