"""The documented example hooks module (chatproject/example_hooks.py)."""
import logging

import pytest

from chatproject.example_hooks import ModeratedChat
from tests.client import RpcError
from tests.conftest import M, R1, U1, U2


@pytest.fixture
async def moderated(chat):
    return await chat.start(options={"hooks": "chatproject.example_hooks.ModeratedChat", "enableRoomsManagement": True})


async def test_lobby_is_created_at_start(moderated):
    assert await moderated.has_room("lobby")


async def test_profanity_is_refused_with_its_own_code(chat, moderated):
    await moderated.add_room(R1)
    s1 = await chat.client(moderated, U1)
    await s1.call("roomJoin", R1)
    with pytest.raises(RpcError) as refused:
        await s1.call("roomMessage", R1, {"textMessage": "What the HECK, darn it"})
    assert refused.value.code == "profanity"
    assert refused.value.args_ == [["darn", "heck"]]
    assert refused.value.rpc_code == -32000
    # Clean text passes; words that merely contain a banned word are fine.
    assert await s1.call("roomMessage", R1, M) == 1
    assert await s1.call("roomMessage", R1, {"textMessage": "checkered darning"}) == 2
    history = await s1.call("roomRecentHistory", R1)
    assert [message["id"] for message in history] == [2, 1]


class Recorder(logging.Handler):
    def __init__(self):
        super().__init__(logging.INFO)
        self.lines = []

    def emit(self, record):
        self.lines.append(record.getMessage())


async def test_room_deletions_are_audited(chat, moderated):
    s1 = await chat.client(moderated, U1)
    await s1.call("roomCreate", R1, False)
    await moderated.add_room("room2")
    recorder = Recorder()
    logging.getLogger("chat.audit").addHandler(recorder)
    try:
        await s1.call("roomDelete", R1)
        await moderated.delete_room("room2")
        s2 = await chat.client(moderated, U2)
        with pytest.raises(RpcError):
            await s2.call("roomDelete", "lobby")  # not the owner: refused, so not audited
    finally:
        logging.getLogger("chat.audit").removeHandler(recorder)
    assert recorder.lines == ["room deleted: 'room1' by user1", "room deleted: 'room2' by the server"]


def test_banned_words_can_be_chosen_by_subclassing():
    class Strict(ModeratedChat):
        BANNED_WORDS = ("spam",)

    assert Strict()._banned.search("no SPAM please")
    assert not Strict()._banned.search("darn")
