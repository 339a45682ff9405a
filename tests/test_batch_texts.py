"""A group commit's batch stores each message's text exactly as a message
written alone would be stored (messaging/store.py: on PostgreSQL the batch's
statement builds the text from the message's own JSON), whatever the
message holds (a NUL character included, which PostgreSQL's JSON operators
refuse to turn into text), and returns each message numbered."""
from asgiref.sync import sync_to_async

from messaging import store as messaging_store
from messaging.models import Message
from tests.conftest import R1, R2

MESSAGES = [
    {"textMessage": "plain"},
    {},
    {"textMessage": "é ☃ 😀 \u2028 \x00 \\ \"quoted\" '} {'", "nested": {"a": [1, 2.5, None, True, {"}": "{"}]}},
    {"textMessage": "a stale id and timestamp", "id": 99, "timestamp": 5},
    {"textMessage": "x" * 3000, "n": -12345678901234567890},
    {"textMessage": "}"},
]


def _stored_texts(room):
    return list(Message.objects.filter(room__name=room).order_by("message_id").values_list("text", flat=True))


def _post_both_ways(now):
    writes = messaging_store.message_writes()
    alone = [writes.post_message(R1, None, dict(message), True, now + n) for n, message in enumerate(MESSAGES)]
    # post_all: the batch's own statements, which post_messages would redo one by one if they failed
    batched = writes.post_all([(R2, None, dict(message), True, now + n) for n, message in enumerate(MESSAGES)])
    return alone, batched, _stored_texts(R1), _stored_texts(R2)


async def test_a_batch_stores_the_texts_a_message_alone_stores(chat, svc):
    await svc.add_room(R1)
    await svc.add_room(R2)
    alone, batched, alone_texts, batched_texts = await sync_to_async(_post_both_ways)(1_700_000_000_000)
    assert batched == alone
    assert [message["id"] for message in batched] == list(range(1, len(MESSAGES) + 1))
    assert batched_texts == alone_texts
    history = await svc.exec_user_command(True, "roomHistoryGet", R2, 0, 10)
    assert list(reversed(history)) == batched

