"""Room and direct messages as the server passes them on (docs/protocol.md,
What the server adds)."""


def process_message(message, author):
    """Drop the client's `id` and `timestamp` (the server sets them), and set
    `author` when there is a caller."""
    processed = {key: value for key, value in message.items() if key not in ("id", "timestamp")}
    if author is not None:
        processed["author"] = author
    return processed
