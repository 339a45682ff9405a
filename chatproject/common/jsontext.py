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


def compact_json(value):
    """`json.dumps(value, ensure_ascii=False, separators=(",", ":"))`, in a little over half the time."""
    return "".join(c_make_encoder({}, _DEFAULT, encode_basestring, None, ":", ",", False, False, True)(value, 0))
