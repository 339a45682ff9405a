"""Behaviour cases (docs/testing.md): validation and errors (B177-B187, B220-B225), in-process."""
import asyncio
import json

import pytest

from chatproject.service import ChatServiceError, Hooks
from tests.client import RpcError
from tests.conftest import R1, R2, U1, U2

MAX_SAFE = 2**53 - 1


async def expect_error(client, method, *params):
    with pytest.raises(RpcError) as info:
        await client.call(method, *params)
    return info.value


async def raw(client, text, request_id):
    """Send one raw text frame and return the reply carrying `request_id`."""
    await client.send_raw(text=text)
    return await client.reply(request_id)


async def batch_reply(client, timeout=5):
    """The next batch (array) reply."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not client.replies.get("batch"):
        await client.pump(max(deadline - asyncio.get_running_loop().time(), 0.001))
    replies = client.replies["batch"].pop(0)
    if not client.replies["batch"]:
        del client.replies["batch"]
    return replies


async def still_open(client):
    """The connection stays open: a following call succeeds."""
    sockets = await client.call("listOwnSockets")
    assert client.socket_id in sockets
    assert client.close_code is None


def assert_error(reply, request_id, rpc_code, code, message=None, args=None):
    assert set(reply) == {"jsonrpc", "id", "error"}, reply
    assert reply["jsonrpc"] == "2.0"
    assert reply["id"] == request_id and type(reply["id"]) is type(request_id), reply
    error = reply["error"]
    assert error["code"] == rpc_code, reply
    assert error["data"]["name"] == "ChatServiceError"
    assert error["data"]["code"] == code, reply
    if message is not None:
        assert error["message"] == message, reply
    if args is not None:
        assert error["data"]["args"] == args, reply


# --- B177 - B187 ---------------------------------------------------------


async def test_b177_no_room_error_object(chat, svc):
    """B177: no room error object."""
    s1 = await chat.client(svc, U1)
    reply = await s1.request("roomGetAccessList", "room1", "nolist")
    assert reply["error"]["data"] == {"name": "ChatServiceError", "code": "noRoom", "args": ["room1"]}
    assert reply["error"]["message"] == "No such room room1"
    assert reply["error"]["code"] == -32000


async def test_b178_room_create_null_name_is_bad_argument(chat):
    """B178: room create null name is bad argument."""
    svc = await chat.start(options={"enableRoomsManagement": True})
    s1 = await chat.client(svc, U1)
    reply = await s1.request("roomCreate", None, False)
    assert_error(reply, reply["id"], -32602, "badArgument", "Bad argument at position 0, value null", [0, None])
    assert not await svc.has_room("null")


async def test_b179_check_arguments_needs_no_room(chat, svc):
    """B179: check arguments needs no room."""
    assert await svc.check_arguments("roomGetAccessList", R1, "userlist") is None
    assert not await svc.has_room(R1)


async def test_b180_check_arguments_unknown_command(chat, svc):
    """B180: check arguments unknown command."""
    with pytest.raises(ChatServiceError) as info:
        await svc.check_arguments("cmd")
    assert info.value.code == "noCommand"
    assert list(info.value.args) == ["cmd"]


async def test_b181_room_create_without_params(chat):
    """B181: room create without params."""
    svc = await chat.start(options={"enableRoomsManagement": True})
    s1 = await chat.client(svc, U1)
    # A call without `params` has zero arguments.
    reply = await raw(s1, json.dumps({"jsonrpc": "2.0", "id": 70, "method": "roomCreate"}), 70)
    assert_error(reply, 70, -32602, "wrongArgumentsCount", "Expected 2 arguments, got 0", [2, 0])
    # The same with an explicit empty array.
    error = await expect_error(s1, "roomCreate")
    assert (error.rpc_code, error.code, error.args_) == (-32602, "wrongArgumentsCount", [2, 0])
    error = await expect_error(s1, "roomCreate", R2)
    assert (error.rpc_code, error.code, error.args_) == (-32602, "wrongArgumentsCount", [2, 1])
    assert error.error["message"] == "Expected 2 arguments, got 1"


async def test_b182_surplus_arguments_are_ignored(chat, svc):
    """B182: surplus arguments are ignored."""
    await svc.add_room(R1)
    s1 = await chat.client(svc, U1)
    assert await s1.call("roomJoin", R1, "extra") == 1
    assert await s1.call("listOwnSockets") == {s1.socket_id: [R1]}


@pytest.mark.parametrize(
    "method, params, position, value",
    [
        ("roomHistoryGet", [R1, True, 10], 1, True),
        ("roomHistoryGet", [R1, -1, 10], 1, -1),
        ("roomHistoryGet", [R1, 0, 0], 2, 0),
        ("roomHistoryGet", [R1, 1.5, 10], 1, 1.5),
        ("roomHistoryGet", [R1, 2.0, 10], 1, 2.0),
        ("roomHistoryGet", [R1, 0, 9007199254740992], 2, 9007199254740992),
        ("roomHistoryGet", [R1, 9007199254740992, 1], 1, 9007199254740992),
        ("roomHistoryGet", [R1, 0, False], 2, False),
        ("roomCreate", [R2, 1], 1, 1),
        ("roomCreate", [R2, "true"], 1, "true"),
        ("directSetWhitelistMode", ["true"], 0, "true"),
        ("directSetWhitelistMode", [0], 0, 0),
    ],
)
async def test_b183_strict_argument_types(chat, method, params, position, value):
    """B183: strict argument types."""
    svc = await chat.start(options={"enableRoomsManagement": True})
    await svc.add_room(R1)
    s1 = await chat.client(svc, U1)
    assert await s1.call("roomJoin", R1) == 1
    reply = await s1.request(method, *params)
    assert_error(reply, reply["id"], -32602, "badArgument", args=[position, value])
    returned = reply["error"]["data"]["args"][1]
    assert type(returned) is type(value), (returned, value)  # 2.0 stays a float, True a bool
    assert not await svc.has_room(R2)
    assert await s1.call("directGetWhitelistMode") is False


async def test_b183_largest_safe_integer_is_accepted(chat):
    """B183: largest safe integer is accepted."""
    svc = await chat.start(options={"enableRoomsManagement": True})
    await svc.add_room(R1)
    s1 = await chat.client(svc, U1)
    assert await s1.call("roomJoin", R1) == 1
    assert await s1.call("roomMessage", R1, {"textMessage": "x"}) == 1
    assert [m["id"] for m in await s1.call("roomHistoryGet", R1, 0, MAX_SAFE)] == [1]
    assert await s1.call("roomHistoryGet", R1, MAX_SAFE, 1) == []
    reply = await s1.request("roomHistoryGet", R1, 0, 9007199254740992)
    assert_error(reply, reply["id"], -32602, "badArgument",
                 "Bad argument at position 2, value 9007199254740992", [2, 9007199254740992])
    # A number written with an exponent is never an integer, not even 1e2.
    reply = await raw(s1, '{"jsonrpc":"2.0","id":9,"method":"roomHistoryGet","params":["room1",0,1e2]}', 9)
    assert_error(reply, 9, -32602, "badArgument", args=[2, 100.0])


async def test_b184_list_argument_types(chat, svc):
    """B184: list argument types."""
    await svc.add_room(R1, {"owner": U1})
    s1 = await chat.client(svc, U1)
    reply = await s1.request("roomAddToList", R1, "whitelist", ["a", 1])
    assert_error(reply, reply["id"], -32602, "badArgument", 'Bad argument at position 2, value ["a",1]', [2, ["a", 1]])
    reply = await s1.request("roomAddToList", R1, "whitelist", "a")
    assert_error(reply, reply["id"], -32602, "badArgument", 'Bad argument at position 2, value "a"', [2, "a"])
    assert await s1.call("roomGetAccessList", R1, "whitelist") == []


async def test_b185_unknown_method(chat, svc):
    """B185: unknown method."""
    s1 = await chat.client(svc, U1)
    reply = await s1.request("noSuchCommand")
    assert_error(reply, reply["id"], -32601, "noCommand", "No such command noSuchCommand", ["noSuchCommand"])


async def test_b186_types_checked_before_room_lookup(chat, svc):
    """B186: types checked before room lookup."""
    s1 = await chat.client(svc, U1)
    error = await expect_error(s1, "roomHistoryGet", "noroom", -1, 1)
    assert (error.code, error.args_) == ("badArgument", [1, -1])
    error = await expect_error(s1, "roomHistoryGet", "noroom", 0, 1)
    assert (error.code, error.args_) == ("noRoom", ["noroom"])


class MyError(ChatServiceError):
    pass


async def test_b187_subclassed_error_from_before_hook(chat):
    """B187: subclassed error from before hook."""
    error = MyError("myCode", 1)
    assert isinstance(error, ChatServiceError) and isinstance(error, Exception)
    assert error.code == "myCode" and list(error.args) == [1]

    class RaisingHooks(Hooks):
        async def list_own_sockets_before(self, exec_info):
            raise MyError("myCode", 1)

    svc = await chat.start(hooks=RaisingHooks())
    s1 = await chat.client(svc, U1)
    reply = await s1.request("listOwnSockets")
    assert_error(reply, reply["id"], -32000, "myCode", "myCode", [1])


# --- B220 - B225 ---------------------------------------------------------


async def test_b220_binary_frame_is_invalid_request(chat, svc):
    """B220: binary frame is invalid request."""
    s1 = await chat.client(svc, U1)
    await s1.send_raw(binary=json.dumps({"jsonrpc": "2.0", "id": 1, "method": "listOwnSockets"}).encode())
    reply = await s1.reply(None)
    assert_error(reply, None, -32600, "invalidRequest", "Invalid request", [])
    assert 1 not in s1.replies
    assert await s1.call("listOwnSockets") == {s1.socket_id: []}


@pytest.mark.parametrize(
    "frame, reply_id",
    [
        ({"jsonrpc": "2.0", "id": 3, "method": "listOwnSockets", "params": {}}, 3),
        ({"jsonrpc": "1.0", "id": 4, "method": "listOwnSockets"}, 4),
        ({"jsonrpc": "2.0", "id": 5, "method": 7}, 5),
        ({"jsonrpc": "2.0", "method": "listOwnSockets", "params": "x"}, None),
        ({"jsonrpc": "2.0", "id": True, "method": "listOwnSockets"}, None),
        (5, None),
        # further invalid request objects of docs/protocol.md, Errors
        ({"id": 6, "method": "listOwnSockets"}, 6),
        ({"jsonrpc": "2.0", "id": 8}, 8),
        ({"jsonrpc": "2.0", "id": "s", "method": "listOwnSockets", "params": None}, "s"),
        ({"jsonrpc": "2.0", "id": [1], "method": "listOwnSockets"}, None),
        ({"jsonrpc": "2.0", "id": {"a": 1}, "method": "listOwnSockets"}, None),
        ("listOwnSockets", None),
        (None, None),
    ],
)
async def test_b221_invalid_request_objects(chat, svc, frame, reply_id):
    """B221: invalid request objects."""
    s1 = await chat.client(svc, U1)
    reply = await raw(s1, json.dumps(frame), reply_id)
    assert_error(reply, reply_id, -32600, "invalidRequest", "Invalid request", [])
    await still_open(s1)
    assert not s1.replies and not s1.notifications


async def test_b221_all_cases_on_one_connection(chat, svc):
    """B221: all cases on one connection."""
    s1 = await chat.client(svc, U1)
    cases = [
        ('{"jsonrpc":"2.0","id":3,"method":"listOwnSockets","params":{}}', 3),
        ('{"jsonrpc":"1.0","id":4,"method":"listOwnSockets"}', 4),
        ('{"jsonrpc":"2.0","id":5,"method":7}', 5),
        ('{"jsonrpc":"2.0","method":"listOwnSockets","params":"x"}', None),
        ('{"jsonrpc":"2.0","id":true,"method":"listOwnSockets"}', None),
        ("5", None),
    ]
    for text, reply_id in cases:
        reply = await raw(s1, text, reply_id)
        assert_error(reply, reply_id, -32600, "invalidRequest", "Invalid request", [])
    assert await s1.call("listOwnSockets") == {s1.socket_id: []}


async def test_b222_null_id_empty_batch_and_batches(chat, svc):
    """B222: null id empty batch and batches."""
    s1 = await chat.client(svc, U1)
    s2 = await chat.client(svc, U1)
    # "id": null is a request, answered with "id": null.
    reply = await raw(s1, '{"jsonrpc":"2.0","id":null,"method":"listOwnSockets"}', None)
    assert reply["id"] is None and "error" not in reply
    assert set(reply["result"]) == {s1.socket_id, s2.socket_id}
    # The empty batch: one error object, not an array.
    reply = await raw(s1, "[]", None)
    assert_error(reply, None, -32600, "invalidRequest", "Invalid request", [])
    assert not s1.replies.get("batch")
    # A batch of notifications only: executed in order, no reply at all.
    await s1.send_raw(text=json.dumps([
        {"jsonrpc": "2.0", "method": "systemMessage", "params": ["a"]},
        {"jsonrpc": "2.0", "method": "systemMessage", "params": ["b"]},
    ]))
    assert await s2.notification("systemMessage") == ["a"]
    assert await s2.notification("systemMessage") == ["b"]
    # Replies come in order: whatever the batch caused precedes this reply.
    assert await s1.call("listOwnSockets") == {s1.socket_id: [], s2.socket_id: []}
    assert not s1.replies, s1.replies
    await s1.no_notification("systemMessage", wait=0.2)
    # Mixed batch: two replies, in order; the notification runs.
    await s1.send_raw(text='[{"jsonrpc":"2.0","id":1,"method":"listOwnSockets"}, 7, '
                           '{"jsonrpc":"2.0","method":"systemMessage","params":["c"]}]')
    replies = await batch_reply(s1)
    assert isinstance(replies, list) and len(replies) == 2, replies
    assert replies[0]["id"] == 1 and set(replies[0]["result"]) == {s1.socket_id, s2.socket_id}
    assert_error(replies[1], None, -32600, "invalidRequest", "Invalid request", [])
    assert await s2.notification("systemMessage") == ["c"]
    await still_open(s1)


async def test_b222_batch_replies_in_order_with_errors(chat, svc):
    """B222: batch replies in order with errors."""
    s1 = await chat.client(svc, U1)
    await s1.send_raw(text=json.dumps([
        {"jsonrpc": "2.0", "id": "x", "method": "noSuchCommand"},
        {"jsonrpc": "2.0", "id": 2, "method": "roomJoin", "params": ["noroom"]},
        {"jsonrpc": "2.0", "method": "roomJoin", "params": ["noroom"]},  # notification: no reply, even failing
        {"jsonrpc": "2.0", "id": 3, "method": "directGetWhitelistMode"},
    ]))
    replies = await batch_reply(s1)
    assert [r["id"] for r in replies] == ["x", 2, 3]
    assert_error(replies[0], "x", -32601, "noCommand", args=["noSuchCommand"])
    assert_error(replies[1], 2, -32000, "noRoom", args=["noroom"])
    assert replies[2]["result"] is False
    # A failing notification outside a batch gets no reply either.
    await s1.notify("roomJoin", "noroom")
    assert await s1.call("listOwnSockets") == {s1.socket_id: []}
    assert not s1.replies


def nested_call(levels, request_id=1):
    """A systemMessage call whose frame is `levels` deep (the outer object is level 1)."""
    inner = levels - 2  # the params array is level 2
    argument = "[" * inner + "]" * inner
    return '{"jsonrpc":"2.0","id":%d,"method":"systemMessage","params":[%s]}' % (request_id, argument), argument


PARSE_ERROR_FRAMES = [
    "hello",
    '{"jsonrpc":"2.0","id":1,"method":"systemMessage","params":[NaN]}',
    '{"jsonrpc":"2.0","id":1,"method":"systemMessage","params":[Infinity]}',
    '{"jsonrpc":"2.0","id":1,"method":"systemMessage","params":[-Infinity]}',
    '{"jsonrpc":"2.0","id":1,"method":"systemMessage","params":["\\ud800"]}',
    '{"jsonrpc":"2.0","id":1,"method":"systemMessage","params":["a\\udfffb"]}',
    '{"jsonrpc":"2.0","id":1,"method":"systemMessage","params":["\\udc00\\ud800"]}',
    '{"jsonrpc":"2.0","id":1,"method":"systemMessage","params":[%s]}' % ("1" * 4301),
    '{"jsonrpc":"2.0","id":1,"method":"systemMessage","params":[-%s]}' % ("9" * 4301),
    '{"jsonrpc":"2.0","id":1,"method":"systemMessage","params":[1e999]}',
    nested_call(65)[0],
    '{"jsonrpc":"2.0","id":1,"method":"systemMessage","params":["x"]',
    " ",
]


async def test_b223_parse_errors(chat, svc):
    """B223: parse errors."""
    s1 = await chat.client(svc, U1)
    s2 = await chat.client(svc, U1)
    for text in PARSE_ERROR_FRAMES:
        reply = await raw(s1, text, None)
        assert_error(reply, None, -32700, "parseError", "Parse error", [])
        assert 1 not in s1.replies, text[:80]
        await still_open(s1)
    await s2.no_notification("systemMessage")


async def test_b223_limits_that_still_parse(chat, svc):
    """B223: limits that still parse."""
    s1 = await chat.client(svc, U1)
    s2 = await chat.client(svc, U1)
    text, argument = nested_call(64)
    reply = await raw(s1, text, 1)
    assert reply == {"jsonrpc": "2.0", "id": 1, "result": None}
    assert await s2.notification("systemMessage") == [json.loads(argument)]
    # A proper surrogate pair is one character, not a lone surrogate.
    reply = await raw(s1, '{"jsonrpc":"2.0","id":2,"method":"systemMessage","params":["\\ud83d\\ude00"]}', 2)
    assert reply["result"] is None
    assert await s2.notification("systemMessage") == ["\U0001F600"]
    # 4300 digits is not more than 4300.
    reply = await raw(s1, '{"jsonrpc":"2.0","id":3,"method":"systemMessage","params":[%s]}' % ("7" * 4300), 3)
    assert reply["result"] is None
    assert await s2.notification("systemMessage") == [int("7" * 4300)]


@pytest.mark.parametrize(
    "error, rpc_code",
    [
        (ChatServiceError("badArgument", 0, "x"), -32602),
        (ChatServiceError("wrongArgumentsCount", 1, 0), -32602),
        (ChatServiceError("noCommand", "x"), -32601),
        (ChatServiceError("notAllowed"), -32000),
        (ChatServiceError("myCode"), -32000),
        (ChatServiceError("parseError"), -32700),
        (ChatServiceError("invalidRequest"), -32600),
        (ChatServiceError("internalError", "Internal server error"), -32603),
    ],
)
async def test_b224_rpc_code_depends_on_data_code(chat, error, rpc_code):
    """B224: rpc code depends on data code."""
    class RaisingHooks:
        async def list_own_sockets_before(self, exec_info):
            raise error

    svc = await chat.start(hooks=RaisingHooks())
    s1 = await chat.client(svc, U1)
    reply = await s1.request("listOwnSockets")
    assert_error(reply, reply["id"], rpc_code, error.code, args=list(error.args))
    assert reply["error"]["message"] == error.message


async def test_b224_unexpected_exception_is_internal_error(chat):
    """B224: unexpected exception is internal error."""
    class RaisingHooks:
        async def list_own_sockets_before(self, exec_info):
            raise RuntimeError("secret detail")

    svc = await chat.start(hooks=RaisingHooks())
    s1 = await chat.client(svc, U1)
    reply = await s1.request("listOwnSockets")
    assert_error(reply, reply["id"], -32603, "internalError", "Internal server error", ["Internal server error"])
    assert "secret" not in json.dumps(reply)


async def test_b225_lone_surrogates_break_the_name_rule(chat, svc):
    """B225: lone surrogates break the name rule."""
    with pytest.raises(ChatServiceError) as info:
        await svc.add_user("user\ud8001")
    assert info.value.code == "invalidName" and list(info.value.args) == ["user\ud8001"]
    with pytest.raises(ChatServiceError) as info:
        await svc.add_room("room\udfff")
    assert info.value.code == "invalidName" and list(info.value.args) == ["room\udfff"]
    # A name that breaks the rule never matches a user or room (docs/protocol.md, Names).
    assert await svc.has_user("user\ud8001") is False
    assert await svc.has_room("room\udfff") is False
    assert await svc.add_room("room\U0001F600") is None
    assert await svc.has_room("room\U0001F600")


@pytest.mark.parametrize("name", ["a\x00b", "x\ud800", "\udfff", "room:1", "{", ""])
async def test_b225_rule_breaking_names_never_match(chat, name):
    """B225 (docs/protocol.md, Names): lookups of such names answer noRoom / noUser / False, never
    internalError (NUL cannot reach PostgreSQL, lone surrogates not SQLite)."""
    svc = await chat.start(options={"enableDirectMessages": True})
    await svc.add_room(R1)
    assert await svc.has_room(name) is False
    assert await svc.has_user(name) is False
    calls = [
        ("roomJoin", [name], "noRoom"),
        ("roomGetOwner", [name], "noRoom"),
        ("directMessage", [name, {"textMessage": "x"}], "noUser"),
    ]
    await svc.add_user(U2)
    for method, params, code in calls[1:] + [("roomHistoryInfo", [name], "noRoom")]:
        with pytest.raises(ChatServiceError) as info:
            await svc.exec_user_command({"userName": U2}, method, *params)
        assert (info.value.code, list(info.value.args)) == (code, [name]), method
    if "\ud800" not in name and "\udfff" not in name:  # the wire refuses lone surrogates (B223)
        s1 = await chat.client(svc, U1)
        for method, params, code in calls:
            error = await expect_error(s1, method, *params)
            assert (error.code, error.args_) == (code, [name]), (method, error.error)
    with pytest.raises(ChatServiceError) as info:
        await svc.exec_user_command({"userName": name}, "listOwnSockets")
    assert info.value.code == "noUser"


# --- B212 without daphne's own limit: the service's check closes with 4009 ---


def system_message_frame(size, fill="x"):
    """A systemMessage call (id 1) of exactly `size` bytes of UTF-8."""
    empty = '{"jsonrpc":"2.0","id":1,"method":"systemMessage","params":[""]}'
    room = size - len(empty.encode())
    width = len(fill.encode())
    data = fill * (room // width) + "x" * (room % width)
    text = '{"jsonrpc":"2.0","id":1,"method":"systemMessage","params":["%s"]}' % data
    assert len(text.encode()) == size
    return text, data


@pytest.mark.parametrize("fill", ["x", "\u00e9", "\U0001F600"])
async def test_b212_service_frame_limit_closes_with_4009(chat, fill):
    """B212: service frame limit closes with 4009."""
    svc = await chat.start(options={"maxFrameBytes": 1000})
    s1 = await chat.client(svc, U1)
    s2 = await chat.client(svc, U1)
    text, data = system_message_frame(1000, fill)
    assert await raw(s1, text, 1) == {"jsonrpc": "2.0", "id": 1, "result": None}
    assert await s2.notification("systemMessage") == [data]
    text, data = system_message_frame(1001, fill)
    await s1.send_raw(text=text)
    assert await s1.wait_closed() == 4009
    assert not s1.replies
    await s2.no_notification("systemMessage")
    assert s2.socket_id in await s2.call("listOwnSockets")
