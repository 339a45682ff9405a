"""roomHistoryGet answered with its stored texts (`JSONText`, bench/RESULTS.md):
the reply's bytes are exactly those of the parsed messages encoded again, for
hostile messages too, on both transports; after hooks and Python callers
still get the messages as values."""
import json

import pytest

from chatproject.common.jsontext import JSONText, compact_json
from chatproject.service import Hooks
from messaging.store import COMPACT_JSON, parse_stored, stored_page
from tests.conftest import R1, U1
from tests.test_socketio_endpoint import NS, application, ws_login, ws_next

# Quotes, backslashes, an escaped backslash before a `u`, control characters,
# DEL, characters past ASCII, a lone surrogate, the splice's own stand-in,
# numbers at their limits, nesting, key order and keys that were not strings.
HOSTILE = [
    {"textMessage": '],[{"textMessage":"x"}'},
    {"textMessage": "\"quoted\" \\ back \\u00e9 \\\\u0041 /"},
    {"textMessage": "\x00\x01\x1f\b\f\n\r\t\x7f"},
    {"textMessage": "é ü 😀 \u2028 \ud7ff"},
    {"textMessage": "\udc80 lone"},
    {"textMessage": "\x00JSONText\x00"},
    {"textMessage": "", "n": [0, -5, 10**40, 1.5, -0.0, 1e300, 1e-300, float("nan"), float("inf")]},
    {"z": 1, "a": {"b": [True, False, None, {}], "": []}, 1: 2, 1.5: 3, None: 4},
    {},
]


def stored_text(message, message_id):
    """As `_text_parts` stores it."""
    return COMPACT_JSON.encode({**message, "id": message_id, "timestamp": 1_700_000_000_000})


def test_a_page_is_spliced_only_when_its_texts_are_what_compact_json_writes():
    for message in HOSTILE:
        texts = [stored_text(message, 1)]
        page = stored_page(texts)
        if isinstance(page, JSONText):
            assert page.text == compact_json(parse_stored(texts))
        else:
            assert page == parse_stored(texts)
    assert isinstance(stored_page([stored_text(HOSTILE[0], 1), stored_text({"textMessage": "a"}, 2)]), JSONText)
    assert isinstance(stored_page([stored_text(HOSTILE[0], 1), stored_text(HOSTILE[3], 2)]), list)


@pytest.mark.parametrize("value", [
    JSONText('[{"a":1}]'),
    {"jsonrpc": "2.0", "id": 7, "result": JSONText("[]")},
    [{"id": 1, "result": JSONText('[{"b":"c"}]')}, {"id": 2, "result": JSONText("[1,2]")}],
    {"id": "\x00JSONText\x00", "result": JSONText('[{"c":null}]')},  # the stand-in as a string: parsed instead
    [JSONText(compact_json({"d": "\x00JSONText\x00"})), JSONText("1")],  # the stand-in inside a text: copied
])
def test_compact_json_copies_json_texts(value):
    def parsed(item):
        if isinstance(item, JSONText):
            return item.value()
        if isinstance(item, dict):
            return {key: parsed(child) for key, child in item.items()}
        return [parsed(child) for child in item] if isinstance(item, list) else item

    assert compact_json(value) == compact_json(parsed(value))


def test_compact_json_still_refuses_what_json_cannot_hold():
    with pytest.raises(TypeError):
        compact_json([JSONText("[]"), object()])


class AnyMessage(Hooks):
    """Messages of any shape (a message checker), posted through the Python API."""

    async def room_messages_checker(self, message):
        pass


async def _post_hostile(svc):
    await svc.add_room(R1)
    for message in HOSTILE:
        await svc.exec_user_command(True, "roomMessage", R1, message)
    return await svc.exec_user_command(True, "roomHistoryGet", R1, 0, 100)


async def _raw_reply(client, method, *params):
    await client.send_raw(json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}))
    while True:
        message = await client.communicator.receive_output(5)
        if '"id":1' in message["text"]:
            return message["text"]


async def test_reply_bytes_equal_the_encoded_messages(chat):
    svc = await chat.start(hooks=AnyMessage())
    messages = await _post_hostile(svc)
    assert isinstance(messages, list) and len(messages) == len(HOSTILE)
    client = await chat.client(svc, U1)
    await client.call("roomJoin", R1)
    for after_id, limit in ((0, 100), (0, 1), (5, 3), (6, 1), (7, 1), (8, 1), (100, 10)):
        expected = messages[::-1][after_id:after_id + limit][::-1]
        reply = await _raw_reply(client, "roomHistoryGet", R1, after_id, limit)
        assert reply == compact_json({"jsonrpc": "2.0", "id": 1, "result": expected})


async def test_socketio_ack_bytes_equal_the_encoded_messages(chat):
    svc = await chat.start(hooks=AnyMessage())
    messages = await _post_hostile(svc)
    app, _ = application(svc)
    ws = await ws_login(app)
    await ws.send_to(text_data=f'42{NS},1["roomJoin","{R1}"]')
    assert await ws_next(ws) == f"43{NS},1[null,1]"
    for ack_id, (after_id, limit) in enumerate(((0, 100), (7, 2)), start=2):
        await ws.send_to(text_data=f'42{NS},{ack_id}["roomHistoryGet","{R1}",{after_id},{limit}]')
        expected = messages[::-1][after_id:after_id + limit][::-1]
        assert await ws_next(ws) == f"43{NS},{ack_id}[null,{compact_json(expected)}]"
    await ws.disconnect()


async def test_after_hooks_and_python_callers_get_messages(chat):
    seen = []

    class Seeing(AnyMessage):
        async def room_history_get_after(self, info):
            seen.append(info.results[0])

    svc = await chat.start(hooks=Seeing())
    messages = await _post_hostile(svc)
    assert seen == [messages]
    client = await chat.client(svc, U1)
    await client.call("roomJoin", R1)
    assert await client.call("roomHistoryGet", R1, 0, 1) == messages[-1:]
    assert seen[-1] == messages[-1:] and isinstance(seen[-1], list)
