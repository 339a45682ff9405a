"""This process's Prometheus metrics (docs/operations.md) and the calls
that record them.

The recording functions run on the hot path of every connection, command
and delivery: each is a dictionary lookup and an addition, and none ever
raises, so that a metrics fault can never fail a command. The channel-layer
and heartbeat gauges are states, not events: the /metrics view
(chatproject/metrics_endpoint.py) adds them from the service when scraped.
This module imports nothing of the project, so the service can use it.
"""
import bisect
import functools
import itertools
import logging

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, ProcessCollector
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily
from prometheus_client.exposition import generate_latest
from prometheus_client.utils import floatToGoString

logger = logging.getLogger("chat")

REGISTRY = CollectorRegistry()
ProcessCollector(registry=REGISTRY)  # CPU, memory and file descriptors of the process

CONNECTIONS = Gauge(
    "chat_connections", "Open logged-in connections.", ["transport"], registry=REGISTRY)
LOGINS = Counter(
    "chat_logins", "Login outcomes: accepted or the error code.", ["result"], registry=REGISTRY)
CLOSED = Counter(
    "chat_connections_closed", "Connections closed, by close code.", ["code"], registry=REGISTRY)
RATE_LIMITED = Counter(
    "chat_rate_limited", "Requests refused with rateLimited.", registry=REGISTRY)
LOOP_LAG = Gauge(
    "chat_event_loop_lag_seconds", "Last measured event-loop lag.", registry=REGISTRY)
RECOVERED = Counter(
    "chat_instances_recovered", "Dead instances this process recovered.", registry=REGISTRY)


def _never_raises(record):
    @functools.wraps(record)
    def safe(*args, **kwargs):
        try:
            record(*args, **kwargs)
        except Exception:
            logger.exception("metrics: %s%r failed", record.__name__, args)

    return safe


_CHILDREN = {}  # (metric, label values) -> the metric's child


def _child(metric, *values):
    """A labelled metric's child, made at its first use: `labels()` takes a lock
    and builds its key on every call, a dictionary lookup does not. Every label
    here has a bounded set of values (transports, codes, command names)."""
    key = (metric, values)
    child = _CHILDREN.get(key)
    if child is None:
        child = _CHILDREN[key] = metric.labels(*map(str, values))
    return child


@_never_raises
def connection_opened(transport):
    """A connection logged in."""
    _child(CONNECTIONS, transport).inc()


@_never_raises
def connection_closed(transport, code):
    """A logged-in connection closed with `code` (None when there was none)."""
    _child(CONNECTIONS, transport).dec()
    _child(CLOSED, "none" if code is None else code).inc()


@_never_raises
def login(result):
    """A login ended: "accepted" or the error code."""
    _child(LOGINS, result).inc()


class _Commands:
    """chat_commands and chat_command_duration_seconds: recorded once per
    command, so plain numbers read when scraped (with a Counter's and a
    Histogram's locks and checks, `command` cost twice as much)."""

    BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

    def __init__(self):
        self.counts = {}  # (command, outcome) -> commands
        self.durations = {}  # command -> [commands per bucket, the last one +Inf; sum of seconds]

    def record(self, name, outcome, seconds):
        key = (name, outcome)
        self.counts[key] = self.counts.get(key, 0) + 1
        duration = self.durations.get(name)
        if duration is None:
            duration = self.durations[name] = [[0] * (len(self.BUCKETS) + 1), 0.0]
        duration[0][bisect.bisect_left(self.BUCKETS, seconds)] += 1  # a bucket counts up to its bound, included
        duration[1] += seconds

    def collect(self):
        counts = CounterMetricFamily(
            "chat_commands", "Client commands executed or refused, by outcome (ok or the error code).",
            labels=["command", "outcome"])
        for labels, count in list(self.counts.items()):
            counts.add_metric(labels, count)
        yield counts
        durations = HistogramMetricFamily(
            "chat_command_duration_seconds", "Time from a command's frame to its reply.", labels=["command"])
        bounds = [*map(floatToGoString, self.BUCKETS), "+Inf"]
        for name, (buckets, total) in list(self.durations.items()):
            durations.add_metric([name], list(zip(bounds, itertools.accumulate(buckets))), total)
        yield durations


_COMMANDS = _Commands()
REGISTRY.register(_COMMANDS)


@_never_raises
def command(name, outcome, seconds):
    """A client command replied: `name` is a known command or "unknown"."""
    seconds = float(seconds)  # first, so that a bad value moves neither metric
    _COMMANDS.record(name, outcome, seconds)


class _Deliveries:
    """chat_notifications_delivered: counted once per recipient, so a plain
    integer (a tenth of a Counter's lock and checks) read when scraped."""

    count = 0

    def collect(self):
        yield CounterMetricFamily("chat_notifications_delivered", "Notifications written to sockets.", value=self.count)


_DELIVERIES = _Deliveries()
REGISTRY.register(_DELIVERIES)


@_never_raises
def delivered(count=1):
    """`count` notifications were written."""
    if type(count) is not int or count < 1:
        raise ValueError(f"not a positive count: {count!r}")
    _DELIVERIES.count += count


@_never_raises
def rate_limited():
    RATE_LIMITED.inc()


@_never_raises
def set_loop_lag(seconds):
    LOOP_LAG.set(seconds)


@_never_raises
def instance_recovered():
    RECOVERED.inc()


def exposition():
    """The scrape body and its content type."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
