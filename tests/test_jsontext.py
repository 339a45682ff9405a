"""compact_json (chatproject/common/jsontext.py) writes what `json.dumps` with
the same options writes, and refuses what it refuses, with the same errors."""
import json
import re

import pytest

from chatproject.common.jsontext import compact_json


def reference(value):
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


@pytest.mark.parametrize("value", [
    "plain", "é\u2028\u2029\x00\x1f\"\\/", "\udc80 lone surrogate", "", 0, -5, 10**40, 1.5, -0.0, 1e300,
    float("nan"), float("inf"), float("-inf"), True, False, None, [], {}, [[[]]],
    {"jsonrpc": "2.0", "id": 7, "result": 12},
    {"a": [1, {"b": "ü", "c": None}], 1: 2, True: 3, None: 4, 1.5: 6},
    (1, "tuple"),
])
def test_writes_what_json_dumps_writes(value):
    assert compact_json(value) == reference(value)


def circular():
    value = []
    value.append({"again": value})
    return value


@pytest.mark.parametrize("make", [circular, lambda: {"a": object()}, lambda: {(1, 2): 3}, lambda: {1, 2}, lambda: b"bytes"])
def test_refuses_what_json_dumps_refuses(make):
    with pytest.raises((TypeError, ValueError)) as expected:
        reference(make())
    with pytest.raises(expected.type, match=re.escape(str(expected.value))):
        compact_json(make())
