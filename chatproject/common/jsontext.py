"""JSON text as the service writes it: compact, UTF-8 characters kept."""
import json


def compact_json(value):
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
