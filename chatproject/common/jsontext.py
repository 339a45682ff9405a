"""JSON text as the service writes it: compact, UTF-8 characters kept."""
import json
from json.encoder import c_make_encoder, encode_basestring

# `json.dumps` with options builds a new encoder per call, which cost more
# than encoding a reply (bench/RESULTS.md); so does `JSONEncoder.encode`'s
# Python layer (`iterencode` defines a function and makes the C encoder on
# every call: 40% of encoding a reply). The C encoder is made here as
# `JSONEncoder.encode` makes it, with the same options and a fresh set of
# markers per call, so circular values are still refused with ValueError.
_DEFAULT = json.JSONEncoder().default  # raises TypeError for what JSON cannot hold
if c_make_encoder is None:  # only CPython's _json accelerator provides it
    raise ImportError("the json module's C encoder (_json) is required")


class JSONText:
    """A value already written as `compact_json` would write it, which
    `compact_json` copies instead of encoding: a history page is its stored
    messages' texts, and parsing them only to encode them again was a sixth
    of roomHistoryGet's CPU in a profile (bench/RESULTS.md)."""

    __slots__ = ("text",)

    def __init__(self, text):
        self.text = text

    def value(self):
        return json.loads(self.text)


class _HoldsText(Exception):
    """The value holds a JSONText: encoded again by `_spliced`."""


# What `_spliced` encodes in a JSONText's place, then looks for: a string
# holding it is possible, and sends the value down the parsing path.
_STAND_IN = "\x00JSONText\x00"
_STAND_IN_ENCODED = '"\\u0000JSONText\\u0000"'


def _encode(value, default):
    return "".join(c_make_encoder({}, default, encode_basestring, None, ":", ",", False, False, True)(value, 0))


def _default(value):
    if type(value) is JSONText:
        raise _HoldsText
    return _DEFAULT(value)


def compact_json(value):
    """`json.dumps(value, ensure_ascii=False, separators=(",", ":"))`, in a little over half the time;
    a JSONText within the value is copied as it is."""
    try:
        return _encode(value, _default)
    except _HoldsText:
        return _spliced(value)


def _spliced(value):
    texts = []

    def stand_in(item):
        if type(item) is JSONText:
            texts.append(item.text)
            return _STAND_IN
        return _DEFAULT(item)

    pieces = _encode(value, stand_in).split(_STAND_IN_ENCODED)
    if len(pieces) != len(texts) + 1:
        return _encode(value, lambda item: item.value() if type(item) is JSONText else _DEFAULT(item))
    return "".join(piece + text for piece, text in zip(pieces, texts)) + pieces[-1]
