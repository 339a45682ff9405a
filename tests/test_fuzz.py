"""Hypothesis fuzzing of the WebSocket request path, in-process (docs/protocol.md:
requests and replies, errors, limits).

Each test drives one service and one logged-in connection (`rateLimit` 0, the
default `maxBatchLength`) through thousands of generated frames. After every
example a sentinel request proves the order and count of replies: every
request with an id got exactly one reply (a batch one array), every reply is a
well-formed JSON-RPC 2.0 response with the error object of the spec, no reply
is an internalError, the "chat" logger wrote no ERROR and the connection is
still open. Expected replies come from the spec's rules, written here
independently of the server (`expect_frame`). The generated frames add up to
more than 10,000 per run (`BUDGETS`); `derandomize` makes every run the same.
"""
import abc
import asyncio
import collections
import itertools
import json
import logging
import math

import pytest
from asgiref.sync import sync_to_async
from django.db import connections
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from chatproject.service.commands import COMMANDS
from tests.conftest import Chat, U1

MAX_SAFE = 2**53 - 1
MAX_DEPTH = 64
MAX_DIGITS = 4300
MAX_BATCH = 100  # maxBatchLength's default
MAX_FRAME_BYTES = 65536  # maxFrameBytes' default
REPLY_TIMEOUT = 30
FINAL_ROOM = "fuzz-final-room"  # no generated name can hit it: the pools below never name it

RPC_CODES = {
    "parseError": -32700,
    "invalidRequest": -32600,
    "noCommand": -32601,
    "badArgument": -32602,
    "wrongArgumentsCount": -32602,
    "internalError": -32603,
}
# Codes a call whose argument count and types are right can never get (no checker hooks run here).
FRAMING_AND_VALIDATION = {"parseError", "invalidRequest", "noCommand", "badArgument", "wrongArgumentsCount"}

# Frames each test sends at least: max_examples times the frames per example.
BUDGETS = {
    "text_and_binary": 700 * 3,
    "json_values": 600 * 3,
    "hazards": 600 * 3,
    "argument_types": 900 * 3,
    "batches": 450 * 2,
    "state": 250 * 4,
}
assert sum(BUDGETS.values()) >= 10_000


def fuzz_settings(max_examples):
    return settings(
        max_examples=max_examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )


# ---------------------------------------------------------------------------
# The spec's rules, as the expected replies of a frame.


class NotJson(Exception):
    pass


def _no_constant(name):
    raise NotJson(name)


def _finite_float(text):
    value = float(text)
    if math.isinf(value):
        raise NotJson(text)
    return value


def _depth(value):
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    return 0


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _is_unicode(text):
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def strict_parse(text):
    """JSON as the spec reads it: no NaN/Infinity, no number beyond a double or
    4300 digits, no lone surrogate, at most 64 levels."""
    try:
        value = json.loads(text, parse_constant=_no_constant, parse_float=_finite_float)
    except (ValueError, NotJson, RecursionError):
        raise NotJson(text) from None
    if _depth(value) > MAX_DEPTH or not all(map(_is_unicode, _strings(value))):
        raise NotJson(text)
    return value


class Expect:
    """One expected reply: its id, and the error code and args it must carry,
    or `code=None`: a result or any error a valid call may get."""

    def __init__(self, request_id, code=None, args=None, message=None):
        self.id, self.code, self.args, self.message = request_id, code, args, message

    def __repr__(self):
        return f"Expect(id={self.id!r}, code={self.code!r}, args={self.args!r})"


def compact(value):
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def error(request_id, code, args, message):
    return Expect(request_id, code, args, message)


def parse_error():
    return error(None, "parseError", [], "Parse error")


def invalid_request(request_id=None, args=()):
    return error(request_id, "invalidRequest", list(args), "Invalid request")


def accepts(kind, value):
    """Argument kinds, from the spec's table of types."""
    if kind == "str":
        return type(value) is str
    if kind == "bool":
        return type(value) is bool
    if kind == "list[str]":
        # List entries are stored as given: U+0000 is refused like a wrong type (docs/protocol.md).
        return type(value) is list and all(type(item) is str and "\x00" not in item for item in value)
    if kind in ("int>=0", "int>=1"):
        return type(value) is int and int(kind[-1]) <= value <= MAX_SAFE
    if kind == "message":
        return type(value) is dict and list(value) == ["textMessage"] and type(value["textMessage"]) is str
    assert kind == "any", kind
    return True


def expect_call(request_id, method, params):
    command = COMMANDS.get(method)
    if command is None:
        return error(request_id, "noCommand", [method], f"No such command {method}")
    count = len(command.kinds)
    if len(params) < count:
        return error(request_id, "wrongArgumentsCount", [count, len(params)],
                     f"Expected {count} arguments, got {len(params)}")
    for position, kind in enumerate(command.kinds):
        if not accepts(kind, params[position]):
            value = params[position]
            return error(request_id, "badArgument", [position, value],
                         f"Bad argument at position {position}, value {compact(value)}")
    return Expect(request_id)


def _valid_id(value):
    return value is None or type(value) in (str, int, float)


def expect_request(item):
    """The reply to one request object, or None for a valid notification."""
    if type(item) is not dict:
        return invalid_request()
    has_id = "id" in item
    request_id = item.get("id")
    if (
        item.get("jsonrpc") != "2.0"
        or type(item.get("method")) is not str
        or ("params" in item and type(item["params"]) is not list)
        or (has_id and not _valid_id(request_id))
    ):
        return invalid_request(request_id if has_id and _valid_id(request_id) else None)
    if not has_id:
        return None
    return expect_call(request_id, item["method"], item.get("params", []))


def expect_value(value):
    """None (no reply), one Expect, or a list of Expect (one array reply)."""
    if isinstance(value, list):
        if not value:
            return invalid_request()
        if len(value) > MAX_BATCH:
            return invalid_request(args=[MAX_BATCH])
        replies = [reply for reply in map(expect_request, value) if reply is not None]
        return replies or None
    return expect_request(value)


def expect_frame(frame):
    if isinstance(frame, bytes):
        return invalid_request()
    try:
        value = strict_parse(frame)
    except NotJson:
        return parse_error()
    return expect_value(value)


def same(a, b):
    """Equal JSON values of equal types (True is not 1, 2.0 is not 2)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(map(same, a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[key], b[key]) for key in a)
    return a == b


def check_reply(reply, expect):
    """One reply against its expectation and the error object of docs/protocol.md, Errors."""
    assert type(reply) is dict, reply
    assert reply.get("jsonrpc") == "2.0", reply
    assert same(reply.get("id"), expect.id) and "id" in reply, (reply, expect)
    assert set(reply) in ({"jsonrpc", "id", "result"}, {"jsonrpc", "id", "error"}), reply
    if "result" in reply:
        assert expect.code is None, (reply, expect)
        return
    err = reply["error"]
    assert set(err) == {"code", "message", "data"}, reply
    data = err["data"]
    assert type(data) is dict and set(data) == {"name", "code", "args"}, reply
    assert data["name"] == "ChatServiceError", reply
    assert type(data["code"]) is str and type(data["args"]) is list, reply
    assert data["code"] != "internalError", reply
    assert type(err["code"]) is int and err["code"] == RPC_CODES.get(data["code"], -32000), reply
    assert type(err["message"]) is str and err["message"], reply
    if expect.code is None:
        assert data["code"] not in FRAMING_AND_VALIDATION, (reply, expect)
    else:
        assert data["code"] == expect.code, (reply, expect)
        assert same(data["args"], expect.args), (reply, expect)
        assert err["message"] == expect.message, (reply, expect)


def check_frame_replies(frame, expected, received):
    """`received`: every reply the frame caused, in order."""
    try:
        _check_frame_replies(frame, expected, received)
    except AssertionError as exc:
        raise AssertionError(f"frame {frame[:2000]!r}: {exc}") from None


def _check_frame_replies(frame, expected, received):
    if expected is None:
        assert received == [], (frame[:300], received)
        return
    assert len(received) == 1, (frame[:300], expected, received)
    reply = received[0]
    if isinstance(expected, list):
        assert type(reply) is list and len(reply) == len(expected), (frame[:300], expected, reply)
        for item, expect in zip(reply, expected):
            check_reply(item, expect)
    else:
        check_reply(reply, expected)


# ---------------------------------------------------------------------------
# Generated JSON, written as text (literals the json module would not write).


class Raw(str):
    """A JSON token written as is (numbers past what json.dumps will write)."""


def write(value, ascii_only):
    if isinstance(value, Raw):
        return str(value)
    if isinstance(value, dict):
        return "{" + ",".join(f"{write(k, ascii_only)}:{write(v, ascii_only)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(write(item, ascii_only) for item in value) + "]"
    return json.dumps(value, ensure_ascii=ascii_only)


def to_frame(value, ascii_only=True):
    """The frame a WebSocket client can send: raw non-ASCII text only when it is
    valid Unicode (a lone surrogate can only travel escaped)."""
    if not ascii_only:
        text = write(value, False)
        if _is_unicode(text):
            return text
    return write(value, True)


SPECIAL_CHARS = st.sampled_from(["\x00", "\ud800", "\udfff", "\ud83d", "\ude00", "\ufeff", '"', "\\", "\u2028", "😀", "é"])
ANY_CHAR = st.characters(exclude_categories=()) | SPECIAL_CHARS
TEXT = st.text(ANY_CHAR, max_size=12)
NAME_POOL = ["room1", "room2", "user1", "user2", "lobby", "", "a:b", "x{y}", "tab\t", "nul\x00", "é", "😀", "\ud800x"]
NAMES = st.sampled_from(NAME_POOL) | TEXT


@st.composite
def int_literals(draw, huge=True):
    """Integer literals, with `huge` also of about 4300 digits."""
    digits = draw(st.integers(1, 20) | st.integers(MAX_DIGITS - 5, MAX_DIGITS + 5) if huge else st.integers(1, 20))
    first = draw(st.sampled_from("123456789"))
    pattern = draw(st.text("0123456789", min_size=1, max_size=8))  # repeated: one draw, not thousands
    rest = (pattern * digits)[: digits - 1]
    return Raw(draw(st.sampled_from(["", "-"])) + first + rest)


@st.composite
def float_literals(draw):
    """Number literals with a fraction or an exponent, some past a double's range."""
    mantissa = draw(st.sampled_from(["0", "1", "2", "9", "12", "-1", "-0"]))
    fraction = draw(st.sampled_from(["", ".0", ".5", ".25", ".000001"]))
    exponent = draw(st.sampled_from(["", "e0", "E2", "e+10", "e-5", "e308", "e309", "e400", "e-400", "E-330"]))
    if not fraction and not exponent:
        fraction = ".0"
    return Raw(mantissa + fraction + exponent)


NUMBERS = (
    st.integers(-(2**70), 2**70)
    | st.sampled_from([0, 1, -1, MAX_SAFE, MAX_SAFE + 1, -MAX_SAFE, 2**63, 2**64])
    | st.floats(allow_nan=False, allow_infinity=False)
    | int_literals(huge=False)
    | float_literals()
)
SCALARS = st.none() | st.booleans() | NUMBERS | TEXT
JSON = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(TEXT, children, max_size=4),
    max_leaves=8,
)
IDS = st.none() | st.integers(-(2**60), 2**60) | st.floats(allow_nan=False, allow_infinity=False) | TEXT
CLEAN_IDS = st.none() | st.integers(-(2**60), 2**60) | st.text(max_size=10)  # none breaks a JSON rule
CLEAN_SCALARS = st.none() | st.booleans() | st.integers(-(10**6), 10**6) | st.text(max_size=10)
BAD_IDS = st.booleans() | st.lists(SCALARS, max_size=2) | st.dictionaries(TEXT, SCALARS, max_size=2)
METHODS = st.sampled_from(sorted(COMMANDS)) | st.sampled_from(["noSuchCommand", "", "roomjoin", "__init__"]) | TEXT


def weighted(right, wrong, weight):
    """`right` `weight` times in `weight` + 1, else `wrong` (one_of would merge
    repeated branches, so it cannot weigh them)."""
    return st.integers(0, weight).flatmap(lambda pick: wrong if pick == 0 else right)


def valid_for(kind):
    return {
        "str": NAMES,
        "bool": st.booleans(),
        "list[str]": st.lists(NAMES, max_size=4),
        "int>=0": st.integers(0, MAX_SAFE) | st.sampled_from([0, MAX_SAFE]),
        "int>=1": st.integers(1, MAX_SAFE) | st.sampled_from([1, MAX_SAFE]),
        "message": st.builds(lambda text: {"textMessage": text}, TEXT),
        "any": JSON,
    }[kind]


def argument(kind, right=1):
    """A value for an argument of `kind`: right `right` times in `right` + 1,
    else of another type or a near miss."""
    near_misses = {
        "str": st.none() | st.booleans() | NUMBERS | st.lists(NAMES, max_size=2),
        "bool": st.sampled_from([0, 1, "true", "false", None, 0.0, [], {}]),
        "list[str]": NAMES | st.lists(NAMES | NUMBERS | st.none(), min_size=1, max_size=4) | st.just(["ok", "nul\x00"]),
        "int>=0": st.sampled_from([-1, 1.5, 2.0, True, False, "1", None, MAX_SAFE + 1, -(2**63)]) | float_literals() | int_literals(),
        "int>=1": st.sampled_from([0, -1, 1.0, True, "2", None, MAX_SAFE + 1]) | float_literals() | int_literals(),
        "message": st.dictionaries(st.sampled_from(["textMessage", "id", "timestamp", "author", "x"]), JSON, max_size=3)
        | st.sampled_from([None, "hi", [], {"textMessage": 1}, {"textMessage": None}]),
        "any": JSON,
    }[kind]
    return weighted(valid_for(kind), near_misses | JSON, right)


@st.composite
def calls(draw, methods=METHODS, with_id=True):
    """A request object for a command, with arguments of every kind, right or wrong."""
    method = draw(methods)
    command = COMMANDS.get(method)
    kinds = command.kinds if command else ()
    params = [draw(argument(kind)) for kind in kinds]
    shape = draw(st.sampled_from(["exact", "exact", "exact", "fewer", "more"]))
    if shape == "fewer":
        params = params[: draw(st.integers(0, max(len(params) - 1, 0)))]
    elif shape == "more":
        params += draw(st.lists(JSON, min_size=1, max_size=3))
    request = {"jsonrpc": "2.0", "method": method}
    if params or draw(st.booleans()):
        request["params"] = params
    if with_id:
        request["id"] = draw(IDS)
    return request


@st.composite
def request_like(draw):
    """Objects that are almost request objects: each field right or wrong."""
    fields = {
        "jsonrpc": st.just("2.0") | st.sampled_from(["1.0", "2", 2.0, None]) | JSON,
        "method": METHODS | JSON,
        "params": st.lists(JSON, max_size=3) | JSON,
        "id": IDS | BAD_IDS,
    }
    request = {}
    for name, values in fields.items():
        if draw(st.integers(0, 4)):  # present four times in five
            request[name] = draw(values)
    request.update(draw(st.dictionaries(TEXT, JSON, max_size=2)))
    return request


# ---------------------------------------------------------------------------
# One service and one connection per test.


class FuzzSession(abc.ABC):
    """One logged-in connection and a private event loop for a whole
    hypothesis test (examples are synchronous calls into it). Subclasses say
    how frames travel and where ERROR logs are found."""

    def __init__(self):
        self.runner = asyncio.Runner()
        self.frames = 0
        self.outcomes = collections.Counter()  # reply kinds seen: "result" or an error code
        self.sentinels = itertools.count(1)

    def run(self, coroutine):
        return self.runner.run(coroutine)

    @abc.abstractmethod
    async def _send_frame(self, frame):
        """Send one text (str) or binary (bytes) frame."""

    @abc.abstractmethod
    async def _next(self):
        """The next message from the server, parsed; fails if the connection closed."""

    @abc.abstractmethod
    def new_errors(self):
        """ERROR log lines since the last call."""

    @property
    @abc.abstractmethod
    def is_open(self):
        """The connection is still open."""

    async def _exchange(self, frames):
        # A sentinel after each frame: replies are matched to frames by order.
        replies = []
        for frame in frames:
            await self._send_frame(frame)
            replies.append(await self._until_sentinel())
        return replies

    async def _until_sentinel(self):
        """Every reply received before the reply to a new sentinel request."""
        sentinel = f"sentinel-{next(self.sentinels)}"
        await self._send_frame(json.dumps({"jsonrpc": "2.0", "id": sentinel, "method": "fuzzSentinel"}))
        received = []
        while True:
            value = await self._next()
            if isinstance(value, dict) and "method" in value and "id" not in value:
                continue  # a notification (roomMessage, socketConnectEcho...)
            if isinstance(value, dict) and value.get("id") == sentinel:
                check_reply(value, error(sentinel, "noCommand", ["fuzzSentinel"], "No such command fuzzSentinel"))
                return received
            else:
                received.append(value)

    def send(self, frames):
        """Send `frames` (text or bytes), each followed by a sentinel; for each
        frame, the replies it caused."""
        self.frames += len(frames)
        try:
            received = self.run(self._exchange(frames))
        except Exception:
            self.resynchronise()
            raise
        self.check_log()
        return received

    def check(self, frames, expectations=None):
        """Send generated `frames` and check every reply against the spec's rules."""
        # Frames past maxFrameBytes close the connection (4009/1009): not this fuzzer's subject.
        assume(all(len(f if isinstance(f, bytes) else f.encode("utf-8")) <= MAX_FRAME_BYTES for f in frames))
        expectations = expectations or [expect_frame(frame) for frame in frames]
        received = self.send(frames)
        for frame, expected, replies in zip(frames, expectations, received):
            check_frame_replies(frame, expected, replies)
            for reply in replies[0] if replies and type(replies[0]) is list else replies:
                self.outcomes[reply["error"]["data"]["code"] if "error" in reply else "result"] += 1
        return [reply for replies in received for reply in replies]

    def resynchronise(self):
        """After a failed example: drop whatever it left unread, so that
        hypothesis's replays see the same connection state."""
        if self.is_open:
            self.run(self._until_sentinel())

    def check_log(self):
        errors = self.new_errors()
        assert not errors, errors

    def call(self, method, *params):
        """A call through the fuzzed connection: its reply (checked for form)."""
        [[reply]] = self.send([json.dumps({"jsonrpc": "2.0", "id": "call", "method": method, "params": list(params)})])
        check_reply(reply, Expect("call"))
        return reply

    def finish(self, budget, outcomes):
        """The connection still works, the test sent its share of frames, and
        the generated frames reached each of `outcomes` (reply kinds)."""
        print(f"{self.frames} frames, replies: {dict(self.outcomes)}")
        missing = set(outcomes) - set(self.outcomes)
        assert not missing, f"no frame got {missing}: {dict(self.outcomes)}"
        assert self.call("roomJoin", FINAL_ROOM)["result"] >= 1
        message_id = self.call("roomMessage", FINAL_ROOM, {"textMessage": "still here"})["result"]
        assert type(message_id) is int and message_id >= 1
        assert self.is_open
        assert self.frames >= budget, f"only {self.frames} frames, the budget is {budget}"


class InProcessSession(FuzzSession):
    """A service on the test's database and a client of it (tests/client.py)."""

    def __init__(self, options, log_handler):
        super().__init__()
        self.log_handler = log_handler
        self.seen_records = 0
        self.chat = Chat()
        self.svc = self.run(self.chat.start({"rateLimit": 0, **options}))
        self.run(self.svc.add_room(FINAL_ROOM))
        self.client = self.run(self.chat.client(self.svc, user=U1))

    def close(self):
        try:
            self.run(self.chat.close())
            self.run(sync_to_async(connections.close_all, thread_sensitive=True)())
        finally:
            self.runner.close()

    async def _send_frame(self, frame):
        # Straight to the application: the communicator's send_to refuses empty frames.
        key = "bytes" if isinstance(frame, bytes) else "text"
        await self.client.communicator.send_input({"type": "websocket.receive", key: frame})

    async def _next(self):
        message = await self.client.communicator.receive_output(REPLY_TIMEOUT)
        assert message["type"] == "websocket.send", f"the connection was closed: {message}"
        assert "text" in message, message
        return json.loads(message["text"])

    def new_errors(self):
        records = self.log_handler.records
        errors = [r.getMessage() for r in records[self.seen_records:] if r.levelno >= logging.ERROR]
        self.seen_records = len(records)
        return errors

    @property
    def is_open(self):
        return self.client.close_code is None


@pytest.fixture
def chat_log(caplog):
    """caplog's handler on the "chat" logger, which does not propagate to the
    root logger where caplog listens (pytest makes a new handler per test
    phase: this one, from set-up, is kept to the end)."""
    logger = logging.getLogger("chat")
    handler = caplog.handler
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


@pytest.fixture(autouse=True)
def examples_of_this_file_only(monkeypatch):
    """Hypothesis mixes literals of the project's own modules into what it
    draws, so that any new module anywhere would change these derandomized
    examples (and which outcomes they reach): draw from this file's strategies
    alone."""
    from hypothesis.internal.conjecture import providers

    monkeypatch.setattr(providers, "_get_local_constants", providers.Constants)
    providers.CONSTANTS_CACHE.cache.clear()


@pytest.fixture
def fuzz(chat_db, chat_log):
    """``fuzz(**options)``: an InProcessSession, closed at the end of the test."""
    sessions = []

    def make(**options):
        session = InProcessSession(options, chat_log)
        sessions.append(session)
        return session

    yield make
    for session in sessions:
        session.close()


# ---------------------------------------------------------------------------
# The tests.


def _mutate(text, edits):
    for position, action, char in edits:
        position %= len(text) + 1
        if action == "insert":
            text = text[:position] + char + text[position:]
        elif action == "delete":
            text = text[:position] + text[position + 1:]
        else:
            text = text[:position]
    return text


EDITS = st.lists(st.tuples(st.integers(0, 200), st.sampled_from(["insert", "delete", "cut"]), ANY_CHAR), max_size=3)


@st.composite
def text_frames(draw):
    """Non-JSON text, JSON with a typo, and valid requests written as text."""
    kind = draw(st.sampled_from(["random", "mutated", "mutated", "valid"]))
    if kind == "random":
        text = draw(st.text(ANY_CHAR, max_size=60))
    else:
        text = to_frame(draw(calls() | request_like()), ascii_only=draw(st.booleans()))
        if kind == "mutated":
            text = _mutate(text, draw(EDITS))
    if not _is_unicode(text):  # a raw lone surrogate cannot travel in a text frame: escape it
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


FRAMES = weighted(text_frames(), st.binary(max_size=80) | st.builds(lambda v: to_frame(v).encode("utf-8"), calls()), 3)


def test_fuzz_text_and_binary_frames(fuzz):
    """Non-JSON text, JSON with typos, binary frames (B220, B223): parseError or
    invalidRequest with id null, the connection kept."""
    session = fuzz()

    @fuzz_settings(BUDGETS["text_and_binary"] // 3)
    @given(st.lists(FRAMES, min_size=3, max_size=5))
    def run(frames):
        session.check(frames)

    run()
    session.finish(BUDGETS["text_and_binary"], ("parseError", "invalidRequest"))


def test_fuzz_json_values_and_request_objects(fuzz):
    """Random JSON values and near-request objects (B221, B222): the reply, its id
    and its error object follow the spec for each."""
    session = fuzz()
    values = JSON | request_like() | calls() | calls(with_id=False) | st.lists(request_like() | JSON, max_size=4)

    @fuzz_settings(BUDGETS["json_values"] // 3)
    @given(st.lists(st.tuples(values, st.booleans()), min_size=3, max_size=5))
    def run(items):
        session.check([to_frame(value, ascii_only) for value, ascii_only in items])

    run()
    session.finish(BUDGETS["json_values"], ("invalidRequest", "parseError", "noCommand", "result"))


@st.composite
def deep_frames(draw):
    """A systemMessage call whose argument nests so that the frame is `depth`
    levels deep (the request object is level 1), maybe inside a batch.
    Returns (frame, depth)."""
    depth = draw(st.integers(MAX_DEPTH - 4, MAX_DEPTH + 4) | st.integers(1, 200))
    in_batch = draw(st.booleans())
    inner = depth - (3 if in_batch else 2)  # levels left for the argument
    container = draw(st.sampled_from(["list", "dict", "mixed"]))
    argument = draw(CLEAN_SCALARS)
    for level in range(max(inner, 0)):
        as_dict = container == "dict" or (container == "mixed" and level % 2)
        argument = {"k": argument} if as_dict else [argument]
    request = {"jsonrpc": "2.0", "id": draw(CLEAN_IDS), "method": "systemMessage", "params": [argument]}
    frame_depth = max(depth, 3 if in_batch else 2)
    return to_frame([request] if in_batch else request), frame_depth


@st.composite
def hazard_frames(draw):
    """(frame, is_parse_error) for the JSON rules of the spec, each on the
    spec's side of its limit; `is_parse_error` comes from how it was built."""
    kind = draw(st.sampled_from(["depth", "digits", "float", "constant", "surrogate", "nul"]))
    method = draw(st.sampled_from(["systemMessage", "roomHistoryGet", "roomJoin"]))
    request_id = draw(CLEAN_IDS)

    def call_with(argument_text):
        return (f'{{"jsonrpc":"2.0","id":{json.dumps(request_id)},"method":"{method}",'
                f'"params":["room1",{argument_text},1]}}')

    if kind == "depth":
        frame, depth = draw(deep_frames())
        return frame, depth > MAX_DEPTH
    if kind == "digits":
        literal = draw(int_literals())
        return call_with(literal), len(literal.lstrip("-")) > MAX_DIGITS
    if kind == "float":
        literal = draw(float_literals())
        return call_with(literal), math.isinf(float(literal))
    if kind == "constant":
        return call_with(draw(st.sampled_from(["NaN", "Infinity", "-Infinity"]))), True
    if kind == "surrogate":
        high = draw(st.sampled_from(["\\ud800", "\\udbff", "\\uD83D"]))
        low = draw(st.sampled_from(["\\udc00", "\\uDE00", "\\udfff"]))
        shape = draw(st.sampled_from(["pair", "high", "low", "reversed", "key"]))
        text = {"pair": high + low, "high": high + "x", "low": "x" + low, "reversed": low + high}.get(shape)
        if shape == "key":
            return call_with(f'{{"{high}":1}}'), True
        return call_with(f'"{text}"'), shape != "pair"
    text = draw(st.sampled_from(['"\\u0000"', '"a\\u0000b"', '["\\u0000"]', '{"\\u0000":"\\u0000"}']))
    return call_with(text), False


def test_fuzz_nesting_numbers_and_escapes(fuzz):
    """Depth around and past 64, integers around 4300 digits and past 2^53-1,
    floats and exponents past a double, NaN/Infinity, lone and paired
    surrogates, U+0000 (B183, B223): parseError exactly on the spec's side of
    each limit, otherwise the call's own reply."""
    session = fuzz()

    @fuzz_settings(BUDGETS["hazards"] // 3)
    @given(st.lists(hazard_frames(), min_size=3, max_size=4))
    def run(items):
        frames = [frame for frame, _ in items]
        expectations = [parse_error() if bad else expect_frame(frame) for frame, bad in items]
        for frame, (_, bad) in zip(frames, items):  # the rules above agree with how the frame was built
            assert bad == (getattr(expect_frame(frame), "code", None) == "parseError"), frame[:200]
        session.check(frames, expectations)

    run()
    session.finish(BUDGETS["hazards"], ("parseError", "result", "badArgument"))


def test_fuzz_argument_types_of_every_command(fuzz):
    """Every command, every argument position: right and wrong types, too few
    and too many arguments (B178, B181-B184, B186): wrongArgumentsCount or the
    first bad position's badArgument, and never a validation error for a
    well-typed call."""
    session = fuzz(enableRoomsManagement=True, enableDirectMessages=True)

    @fuzz_settings(BUDGETS["argument_types"] // 3)
    @given(st.lists(st.tuples(calls(methods=st.sampled_from(sorted(COMMANDS))), st.booleans()), min_size=3, max_size=5))
    def run(items):
        session.check([to_frame(request, ascii_only) for request, ascii_only in items])

    run()
    session.finish(BUDGETS["argument_types"], ("result", "badArgument", "wrongArgumentsCount"))


# Entries of long batches: a template and an id each (generating every entry
# of a 150-entry batch field by field would cost a second per batch).
BATCH_TEMPLATES = [
    {"jsonrpc": "2.0", "method": "listOwnSockets"},
    {"jsonrpc": "2.0", "method": "directGetWhitelistMode", "params": []},
    {"jsonrpc": "2.0", "method": "roomGetOwner", "params": ["room1"]},
    {"jsonrpc": "2.0", "method": "noSuchCommand"},
    {"jsonrpc": "2.0", "method": "roomHistoryGet", "params": ["room1", -1, 1]},
    {"jsonrpc": "2.0", "method": "roomCreate"},
    {"jsonrpc": "2.0", "method": "systemMessage", "params": ["x"]},
    {"jsonrpc": "1.0", "method": "listOwnSockets"},
    {"jsonrpc": "2.0", "method": 7},
    {"jsonrpc": "2.0", "method": "listOwnSockets", "params": "x"},
    {"jsonrpc": "2.0", "method": "listOwnSockets", "params": {}},
    {"method": "listOwnSockets"},
]
BATCH_IDS = st.none() | st.integers(-5, 2**60) | st.sampled_from(["a", "", "é"]) | st.sampled_from([True, [], {}, 1.5])


@st.composite
def batch_entries(draw):
    entry = dict(draw(st.sampled_from(BATCH_TEMPLATES)))
    if draw(st.integers(0, 3)):  # an id three times in four
        entry["id"] = draw(BATCH_IDS)
    return entry


@st.composite
def batches(draw):
    """Short batches of any entries, and long ones (some past maxBatchLength)
    of valid calls, notifications, invalid entries and non-objects."""
    if draw(st.booleans()):
        entry = calls() | calls(with_id=False) | request_like() | SCALARS
        return draw(st.lists(entry, max_size=8))
    size = draw(st.integers(MAX_BATCH - 3, MAX_BATCH + 50))
    entry = batch_entries() | st.sampled_from([5, None, "x", [], [1], {}, True])
    return draw(st.lists(entry, min_size=size, max_size=size))


def test_fuzz_mixed_batches(fuzz):
    """Batches of up to 150 mixed entries (B222): one array with a reply per
    request with an id and per invalid entry, in order; nothing for
    notifications; one invalidRequest [100] past maxBatchLength."""
    session = fuzz()

    @fuzz_settings(BUDGETS["batches"] // 2)
    @given(st.lists(batches(), min_size=2, max_size=3))
    def run(items):
        session.check([to_frame(batch) for batch in items])

    run()
    session.finish(BUDGETS["batches"], ("invalidRequest", "result", "noCommand"))


STATE_ROOM = "fuzzed"
STATE_NAMES = st.sampled_from([STATE_ROOM, "other", "user2", "user3", "a:b", "nul\x00", ""]) | TEXT


def state_calls():
    """Requests (all with ids) to the commands that change state, arguments fuzzed."""
    def call(method, *params):
        return st.tuples(*params).map(lambda args: (method, list(args)))

    def mostly(right, fuzzed):
        return weighted(right, fuzzed, 3)

    room = mostly(st.just(STATE_ROOM), argument("str"))
    names = mostly(st.lists(st.sampled_from(["user2", "user3", "other", "é"]), max_size=3), argument("list[str]"))
    room_list = mostly(st.sampled_from(["whitelist", "blacklist", "adminlist"]), argument("str"))
    direct_list = mostly(st.sampled_from(["whitelist", "blacklist"]), argument("str"))
    return st.one_of(
        call("roomCreate", STATE_NAMES | argument("str"), argument("bool", right=4)),
        call("roomAddToList", room, room_list, names),
        call("directAddToList", direct_list, names),
        call("roomMessage", room, argument("message", right=4)),
    )


def test_fuzz_rejected_requests_change_nothing(fuzz):
    """roomCreate, roomAddToList, directAddToList and roomMessage with fuzzed
    arguments (B178, B183, B184): afterwards the rooms, the access lists, the
    direct lists and the room history hold exactly what the calls that got a
    success reply did."""
    session = fuzz(enableRoomsManagement=True, enableDirectMessages=True)
    session.call("roomCreate", STATE_ROOM, False)
    session.call("roomJoin", STATE_ROOM)
    created = {STATE_ROOM}
    attempted = set()
    room_lists = {"whitelist": set(), "blacklist": set(), "adminlist": set()}
    direct_lists = {"whitelist": set(), "blacklist": set()}
    messages = {}  # room -> [(id, textMessage)] of the messages that got an id back
    ids = itertools.count(1)

    @fuzz_settings(BUDGETS["state"] // 4)
    @given(st.lists(state_calls(), min_size=4, max_size=6))
    def run(items):
        requests = [{"jsonrpc": "2.0", "id": next(ids), "method": m, "params": p} for m, p in items]
        replies = session.check([to_frame(request) for request in requests])
        for (method, params), reply in zip(items, replies):
            if "error" in reply:
                continue
            if method == "roomCreate":
                created.add(params[0])
            elif method == "roomAddToList":
                room_lists[params[1]].update(params[2])
            elif method == "directAddToList":
                direct_lists[params[0]].update(params[1])
            else:
                messages.setdefault(params[0], []).append((reply["result"], params[1]["textMessage"]))
        attempted.update(params[0] for method, params in items if method == "roomCreate" and type(params[0]) is str)

    run()
    assert created != {STATE_ROOM} and any(room_lists.values()) and any(direct_lists.values())
    assert messages.get(STATE_ROOM), "no roomMessage succeeded"
    for name in attempted | created:
        assert session.run(session.svc.has_room(name)) == (name in created), name
    for list_name, expected in room_lists.items():
        assert set(session.call("roomGetAccessList", STATE_ROOM, list_name)["result"]) == expected, list_name
    for list_name, expected in direct_lists.items():
        assert set(session.call("directGetAccessList", list_name)["result"]) == expected, list_name
    posted = messages.get(STATE_ROOM, [])
    assert [message_id for message_id, _ in posted] == list(range(1, len(posted) + 1))
    assert session.call("roomHistoryInfo", STATE_ROOM)["result"]["lastMessageId"] == len(posted)
    recent = session.call("roomRecentHistory", STATE_ROOM)["result"]
    assert sorted((m["id"], m["textMessage"]) for m in recent) == posted[-100:]  # historyMaxGetMessages
    session.finish(BUDGETS["state"], ("result", "badArgument"))


class HeldCommandHooks:
    """Holds listOwnSockets in its before hook until the test releases it."""

    def __init__(self):
        self.entered = asyncio.Event()
        self.release = asyncio.Event()

    async def list_own_sockets_before(self, exec_info):
        self.entered.set()
        await self.release.wait()


async def test_frame_error_reply_waits_for_the_call_before_it(chat):
    """Found by the fuzzer: replies follow the arrival order of the frames
    (docs/protocol.md), also when a frame is answered without running a
    command (parseError) while an earlier call still runs."""
    hooks = HeldCommandHooks()
    svc = await chat.start({"rateLimit": 0}, hooks=hooks)
    client = await chat.client(svc, user=U1)
    await client.send_raw(text=json.dumps({"jsonrpc": "2.0", "id": 1, "method": "listOwnSockets"}))
    await asyncio.wait_for(hooks.entered.wait(), REPLY_TIMEOUT)
    await client.send_raw(text="not json")
    await client.send_raw(binary=b"\x00")
    hooks.release.set()
    order = []
    for _ in range(3):
        reply = json.loads(await client.communicator.receive_from(REPLY_TIMEOUT))
        order.append(reply["id"] if "result" in reply else reply["error"]["data"]["code"])
    assert order == [1, "parseError", "invalidRequest"]
