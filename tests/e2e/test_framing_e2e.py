"""Hostile input through a real daphne (docs/protocol.md: Endpoint, Framing,
Errors; behaviour cases B17, B181, B183-B185, B212, B220-B223)."""
import asyncio
import json

import pytest

from .harness import ws_client

pytestmark = pytest.mark.e2e

MAX_SAFE = 2**53 - 1


async def next_reply(client, timeout=5):
    """The next message that is not a notification (a reply or a batch reply)."""
    if client.others:
        return client.others.pop(0)
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        message = await client.recv_json(max(0.0, deadline - asyncio.get_running_loop().time()))
        if isinstance(message, dict) and "method" in message and "id" not in message:
            client.notifications.append(message)
            continue
        return message


async def send_and_reply(client, data):
    await client.send_raw(data)
    return await next_reply(client)


async def still_open(client):
    """A following listOwnSockets call succeeds (the connection stayed open)."""
    sockets = await client.call("listOwnSockets")
    assert client.socket_id in sockets
    assert client.others == [], client.others  # nothing else was replied in between
    assert client.close_code is None


def assert_error(reply, request_id, rpc_code, code, message=None, args=None):
    assert isinstance(reply, dict) and set(reply) == {"jsonrpc", "id", "error"}, reply
    assert reply["jsonrpc"] == "2.0"
    assert reply["id"] == request_id and type(reply["id"]) is type(request_id), reply
    assert reply["error"]["code"] == rpc_code, reply
    assert reply["error"]["data"]["name"] == "ChatServiceError", reply
    assert reply["error"]["data"]["code"] == code, reply
    if message is not None:
        assert reply["error"]["message"] == message, reply
    if args is not None:
        assert reply["error"]["data"]["args"] == args, reply


def call_text(request_id, method, params_text):
    return '{"jsonrpc":"2.0","id":%s,"method":"%s","params":%s}' % (json.dumps(request_id), method, params_text)


def nested(levels):
    """A systemMessage call (with id 1) whose frame nests `levels` deep; the outer object is level 1."""
    inner = levels - 2  # the params array is level 2
    argument = "[" * inner + "]" * inner
    return call_text(1, "systemMessage", "[%s]" % argument), json.loads(argument)


PARSE_ERRORS = {
    "not json": "hello",
    "empty frame": "",
    "truncated": '{"jsonrpc":"2.0","id":1,"method":"systemMessage","params":["x"]',
    "trailing garbage": call_text(1, "systemMessage", '["x"]') + "x",
    "NaN": call_text(1, "systemMessage", "[NaN]"),
    "Infinity": call_text(1, "systemMessage", "[Infinity]"),
    "-Infinity": call_text(1, "systemMessage", "[-Infinity]"),
    "float overflow": call_text(1, "systemMessage", "[1e400]"),
    "lone high surrogate": call_text(1, "systemMessage", '["\\ud800"]'),
    "lone low surrogate": call_text(1, "systemMessage", '["x\\udfff"]'),
    "reversed pair": call_text(1, "systemMessage", '["\\udc00\\ud800"]'),
    "surrogate in a key": call_text(1, "systemMessage", '[{"\\udbff":1}]'),
    "4301 digits": call_text(1, "systemMessage", "[%s]" % ("1" * 4301)),
    "-4301 digits": call_text(1, "systemMessage", "[-%s]" % ("9" * 4301)),
    "65 levels": nested(65)[0],
    "65 levels of objects": call_text(1, "systemMessage", "[%s]" % ('{"a":' * 63 + "1" + "}" * 63)),
}


async def test_b223_parse_errors_keep_the_connection_e2e(daphne_server):
    """B223: every frame gets parseError with id null, is not executed, and the
    connection stays open; the same call 64 levels deep is executed."""
    async with ws_client(daphne_server, user="user1") as s1, ws_client(daphne_server, user="user1") as s2:
        for label, text in PARSE_ERRORS.items():
            reply = await send_and_reply(s1, text)
            assert_error(reply, None, -32700, "parseError", "Parse error", [])
            await still_open(s1)
        await s2.no_notification("systemMessage", wait=0.5)
        assert s2.close_code is None

        # 64 levels is executed; a surrogate pair and 4300 digits are fine.
        text, argument = nested(64)
        assert await send_and_reply(s1, text) == {"jsonrpc": "2.0", "id": 1, "result": None}
        assert await s2.next_notification("systemMessage") == [argument]
        reply = await send_and_reply(s1, call_text(2, "systemMessage", '["\\ud83d\\ude00"]'))
        assert reply == {"jsonrpc": "2.0", "id": 2, "result": None}
        assert await s2.next_notification("systemMessage") == ["\U0001F600"]
        reply = await send_and_reply(s1, call_text(3, "systemMessage", "[%s]" % ("7" * 4300)))
        assert reply == {"jsonrpc": "2.0", "id": 3, "result": None}
        assert await s2.next_notification("systemMessage") == [int("7" * 4300)]
        await still_open(s1)


INVALID_REQUESTS = [
    ('{"jsonrpc":"2.0","id":3,"method":"listOwnSockets","params":{}}', 3),
    ('{"jsonrpc":"1.0","id":4,"method":"listOwnSockets"}', 4),
    ('{"jsonrpc":"2.0","id":5,"method":7}', 5),
    ('{"jsonrpc":"2.0","method":"listOwnSockets","params":"x"}', None),
    ('{"jsonrpc":"2.0","id":true,"method":"listOwnSockets"}', None),
    ("5", None),
    ('"listOwnSockets"', None),
    ("null", None),
    ("true", None),
    ('{"id":"a","method":"listOwnSockets"}', "a"),
    ('{"jsonrpc":"2.0","id":6}', 6),
    ('{"jsonrpc":"2.0","id":7,"method":"listOwnSockets","params":null}', 7),
    ('{"jsonrpc":"2.0","id":{"x":1},"method":"listOwnSockets"}', None),
]


async def test_b220_b221_b185_binary_non_request_and_unknown_method_e2e(daphne_server):
    """B220: a binary frame; B221: JSON values that are not request objects;
    B185: an unknown method; B181/B183/B184: wrong counts and types."""
    async with ws_client(daphne_server, user="user1") as s1, ws_client(daphne_server, user="user1") as s2:
        binary = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "systemMessage", "params": ["bin"]}).encode()
        reply = await send_and_reply(s1, binary)
        assert_error(reply, None, -32600, "invalidRequest", "Invalid request", [])
        assert await s1.call("listOwnSockets") == {s1.socket_id: [], s2.socket_id: []}
        for text, request_id in INVALID_REQUESTS:
            reply = await send_and_reply(s1, text)
            assert_error(reply, request_id, -32600, "invalidRequest", "Invalid request", [])
            await still_open(s1)
        await s2.no_notification("systemMessage", wait=0.5)

        # B185: an unknown method; B181/B183/B184: wrong counts and types.
        reply = await send_and_reply(s1, call_text(1, "noSuchCommand", "[]"))
        assert_error(reply, 1, -32601, "noCommand", "No such command noSuchCommand", ["noSuchCommand"])
        await still_open(s1)
        # A failing notification (no id) is not answered at all.
        await s1.send_raw('{"jsonrpc":"2.0","method":"noSuchCommand"}')
        await still_open(s1)

        reply = await send_and_reply(s1, '{"jsonrpc":"2.0","id":2,"method":"roomJoin"}')
        assert_error(reply, 2, -32602, "wrongArgumentsCount", "Expected 1 arguments, got 0", [1, 0])
        await still_open(s1)
        reply = await send_and_reply(s1, call_text(3, "roomAddToList", '["room1","whitelist"]'))
        assert_error(reply, 3, -32602, "wrongArgumentsCount", "Expected 3 arguments, got 2", [3, 2])
        await still_open(s1)

        cases = [
            ('["room1","whitelist",["a",1]]', "roomAddToList", [2, ["a", 1]]),
            ('["room1","whitelist","a"]', "roomAddToList", [2, "a"]),
            ('[1]', "roomJoin", [0, 1]),
            ('[null]', "roomJoin", [0, None]),
            ('["true"]', "directSetWhitelistMode", [0, "true"]),
            ('[1]', "directSetWhitelistMode", [0, 1]),
            ('["room1",true,10]', "roomHistoryGet", [1, True]),
            ('["room1",1.5,10]', "roomHistoryGet", [1, 1.5]),
            ('["room1",2.0,10]', "roomHistoryGet", [1, 2.0]),
            ('["room1",0,1e1]', "roomHistoryGet", [2, 10.0]),
            ('["room1",0,0]', "roomHistoryGet", [2, 0]),
            ('["noroom",-1,1]', "roomHistoryGet", [1, -1]),
            ('["room1",{"textMessage":5}]', "roomMessage", [1, {"textMessage": 5}]),
            ('["user2",[]]', "directMessage", [1, []]),
        ]
        for index, (params, method, args) in enumerate(cases, start=10):
            reply = await send_and_reply(s1, call_text(index, method, params))
            assert_error(reply, index, -32602, "badArgument", args=args)
            assert type(reply["error"]["data"]["args"][1]) is type(args[1]), reply  # 2.0 stays a float
            await still_open(s1)
        assert await s1.call("directGetWhitelistMode") is False


async def test_b222_batches_e2e(daphne_server):
    """B222: id null, the empty batch, an all-notification batch, a mixed batch."""
    async with ws_client(daphne_server, user="user1") as s1, ws_client(daphne_server, user="user1") as s2:
        reply = await send_and_reply(s1, '{"jsonrpc":"2.0","id":null,"method":"listOwnSockets"}')
        assert reply["id"] is None and "error" not in reply
        assert set(reply["result"]) == {s1.socket_id, s2.socket_id}

        reply = await send_and_reply(s1, "[]")
        assert_error(reply, None, -32600, "invalidRequest", "Invalid request", [])

        await s1.send_json([
            {"jsonrpc": "2.0", "method": "systemMessage", "params": ["a"]},
            {"jsonrpc": "2.0", "method": "systemMessage", "params": ["b"]},
        ])
        assert await s2.next_notification("systemMessage") == ["a"]
        assert await s2.next_notification("systemMessage") == ["b"]
        await still_open(s1)  # replies keep order: a reply to the batch would come first

        await s1.send_raw('[{"jsonrpc":"2.0","id":1,"method":"listOwnSockets"}, 7, '
                          '{"jsonrpc":"2.0","method":"systemMessage","params":["c"]}]')
        replies = await next_reply(s1)
        assert isinstance(replies, list) and len(replies) == 2, replies
        assert replies[0]["id"] == 1 and set(replies[0]["result"]) == {s1.socket_id, s2.socket_id}
        assert_error(replies[1], None, -32600, "invalidRequest", "Invalid request", [])
        assert await s2.next_notification("systemMessage") == ["c"]

        # A batch of failing and valid calls: replies in order, the
        # notification's error is never sent, nothing stops the batch.
        await s1.send_json([
            {"jsonrpc": "2.0", "id": "x", "method": "noSuchCommand"},
            {"jsonrpc": "2.0", "method": "roomJoin", "params": ["noroom"]},
            {"jsonrpc": "2.0", "id": 2, "method": "systemMessage", "params": [1, 2]},
            {"jsonrpc": "2.0", "id": 3, "method": "roomJoin", "params": []},
            {"jsonrpc": "1.0", "id": 4, "method": "listOwnSockets"},
        ])
        replies = await next_reply(s1)
        assert [r["id"] for r in replies] == ["x", 2, 3, 4], replies
        assert_error(replies[0], "x", -32601, "noCommand", args=["noSuchCommand"])
        assert replies[1] == {"jsonrpc": "2.0", "id": 2, "result": None}  # surplus arguments are ignored
        assert_error(replies[2], 3, -32602, "wrongArgumentsCount", "Expected 1 arguments, got 0", [1, 0])
        assert_error(replies[3], 4, -32600, "invalidRequest")
        assert await s2.next_notification("systemMessage") == [1]
        await still_open(s1)
        # A batch holding only invalid objects is answered with an array.
        replies = await send_and_reply(s1, "[1, 2]")
        assert isinstance(replies, list) and len(replies) == 2
        for item in replies:
            assert_error(item, None, -32600, "invalidRequest")
        await still_open(s1)


@pytest.mark.daphne_env(CHAT_ENABLE_ROOMS_MANAGEMENT="true")
async def test_b183_huge_integers_and_b17_name_rule_e2e(daphne_server):
    """B183: 2^53 in roomHistoryGet; B17: roomCreate refuses names that break the name rule."""
    async with ws_client(daphne_server, user="user1") as s1:
        assert await s1.call("roomCreate", "room1", False) is None
        assert await s1.call("roomJoin", "room1") == 1
        assert await s1.call("roomMessage", "room1", {"textMessage": "x"}) == 1

        for params, args in [
            ('["room1",0,9007199254740992]', [2, 9007199254740992]),
            ('["room1",9007199254740992,1]', [1, 9007199254740992]),
            ('["room1",0,%s]' % (10**30), [2, 10**30]),
            ('["room1",0,-9007199254740992]', [2, -9007199254740992]),
        ]:
            reply = await send_and_reply(s1, call_text(1, "roomHistoryGet", params))
            assert_error(reply, 1, -32602, "badArgument", args=args)
            await still_open(s1)
        history = await s1.call("roomHistoryGet", "room1", 0, MAX_SAFE)
        assert [m["id"] for m in history] == [1]
        assert await s1.call("roomHistoryGet", "room1", MAX_SAFE, 1) == []

        bad_names = ["room}1", "room{1", "room:1", "", "a\u0000b", "a\u001fb", "\u007f", "tab\tname", "new\nline"]
        for name in bad_names:
            reply = await send_and_reply(s1, json.dumps(
                {"jsonrpc": "2.0", "id": 2, "method": "roomCreate", "params": [name, False]}))
            assert_error(reply, 2, -32000, "invalidName", args=[name])
            await still_open(s1)
            reply = await send_and_reply(s1, json.dumps(
                {"jsonrpc": "2.0", "id": 3, "method": "roomJoin", "params": [name]}))
            assert_error(reply, 3, -32000, "noRoom", args=[name])  # nothing was created
        # A lone surrogate never reaches the name rule: the frame is refused.
        reply = await send_and_reply(s1, call_text(4, "roomCreate", '["room\\ud800",false]'))
        assert_error(reply, None, -32700, "parseError")
        await still_open(s1)
        # Everything else is allowed (docs/protocol.md, Names).
        for name in ["a b/c.%\u00e9", "room\U0001F600", "\u0080", "..", " "]:
            assert await s1.call("roomCreate", name, True) is None
            assert await s1.call("roomGetWhitelistMode", name) is True
        # A non-string name is a bad argument, checked before the name rule.
        reply = await send_and_reply(s1, call_text(5, "roomCreate", "[5,false]"))
        assert_error(reply, 5, -32602, "badArgument", args=[0, 5])


def system_message_frame(size, fill="x"):
    """A systemMessage call (id 1) of exactly `size` bytes of UTF-8."""
    empty = '{"jsonrpc":"2.0","id":1,"method":"systemMessage","params":[""]}'
    room = size - len(empty.encode())
    width = len(fill.encode())
    data = fill * (room // width) + "x" * (room % width)
    text = '{"jsonrpc":"2.0","id":1,"method":"systemMessage","params":["%s"]}' % data
    assert len(text.encode()) == size
    return text, data


@pytest.mark.daphne_env(CHAT_MAX_FRAME_BYTES="1000")
async def test_b212_frame_size_limit_e2e(daphne_server):
    """B212: 1000 bytes is executed; 1001 bytes closes the connection, unexecuted.

    Observed with daphne 4.2.3 / autobahn 26.10: daphne's own limit (set to
    maxFrameBytes by the harness, as by scripts/run) refuses the frame first
    and closes with a proper close frame 1009 ("message too big"); the
    service's own 4009 check is not reached."""
    async with ws_client(daphne_server, user="user1") as s1, ws_client(daphne_server, user="user1") as s2:
        text, data = system_message_frame(1000)
        assert await send_and_reply(s1, text) == {"jsonrpc": "2.0", "id": 1, "result": None}
        assert await s2.next_notification("systemMessage") == [data]

        text, data = system_message_frame(1001)
        await s1.send_raw(text)
        code = await s1.wait_closed()
        assert code in (4009, 1009), code
        assert s1.others == [], s1.others  # no reply to the oversize call
        await s2.no_notification("systemMessage", wait=1.0)
        assert s2.close_code is None
        assert s2.socket_id in await s2.call("listOwnSockets")

    # The limit is in bytes of UTF-8, not characters.
    async with ws_client(daphne_server, user="user1") as s1, ws_client(daphne_server, user="user1") as s2:
        text, data = system_message_frame(1000, fill="\u00e9")
        assert len(text) < 1000
        assert await send_and_reply(s1, text) == {"jsonrpc": "2.0", "id": 1, "result": None}
        assert await s2.next_notification("systemMessage") == [data]

        text, data = system_message_frame(1001, fill="\u00e9")
        assert len(text) < 1000 < len(text.encode())
        await s1.send_raw(text)
        assert await s1.wait_closed() in (4009, 1009)
        assert s1.others == []
        await s2.no_notification("systemMessage", wait=1.0)
        assert s2.close_code is None

    # A message of 1001 bytes sent as two fragments (each under the limit) is refused too.
    async with ws_client(daphne_server, user="user1") as s1, ws_client(daphne_server, user="user1") as s2:
        text, data = system_message_frame(1001)
        await s1.ws.send([text[:500], text[500:]])
        assert await s1.wait_closed() in (4009, 1009)
        assert s1.others == []
        await s2.no_notification("systemMessage", wait=1.0)
        assert s2.close_code is None
