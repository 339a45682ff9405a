"""JSON text as the service writes it: compact, UTF-8 characters kept."""
import json

# One encoder for every text: `json.dumps` with options builds a new one per
# call, which cost more than encoding a reply (bench/RESULTS.md).
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def compact_json(value):
    return _ENCODER.encode(value)
