import time


def now_ms():
    """Milliseconds since the epoch: the timestamp unit of the whole protocol."""
    return int(time.time() * 1000)
