"""The four loads, the same for every target.

Every scenario checks what it measures (each delivery arrives, each call
succeeds, each history page is full) and raises ``BenchError`` otherwise,
so a figure is never computed from a broken run. Between measured phases
the load waits until the servers' CPU goes quiet, so one phase's tail (for
example the clean-up after closing a thousand sockets) is not billed to the
next. Latencies are measured from just before a ``roomMessage`` call to the
arrival of its notification at each member: the message text carries the
send time, and sender and receivers share this process's monotonic clock.
"""
import asyncio
import math
import statistics
import time
from dataclasses import dataclass

from clients import BenchError

CONNECT_CONCURRENCY = 50  # handshakes in flight at once
HISTORY_PAGE = 100  # historyMaxGetMessages, the default of both servers
SETTLE_WINDOW = 0.5  # seconds per CPU sample while waiting for quiet
SETTLE_QUIET = 0.05  # CPU seconds per window that count as quiet
SETTLE_TIMEOUT = 180
PHASE_TIMEOUT = 600


@dataclass(frozen=True)
class Sizes:
    rooms: int  # fan-out: R rooms ...
    members: int  # ... of M joined users ...
    messages: int  # ... each sending K messages
    light_messages: int  # light load: messages of the one sender
    connections: int  # idle logged-in connections per round
    history_size: int  # historyMaxSize of both servers: the full history
    history_clients: int  # history: joined readers (they also fill it)
    history_calls: int  # history: calls per reader per round
    rounds: int  # each figure is the median over the rounds


FULL = Sizes(10, 10, 30, 100, 1000, 1000, 10, 100, 3)
QUICK = Sizes(3, 5, 10, 20, 100, 200, 5, 40, 1)


def percentile(values, p):
    """Nearest-rank percentile; p in (0, 100]."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def fan_room(index):
    return f"fan{index}"


HISTORY_ROOM = "history"


def rooms(sizes):
    """Every room the scenarios use; the targets create them before the load."""
    return [fan_room(r) for r in range(sizes.rooms)] + [HISTORY_ROOM]


async def settle(target):
    """Wait until the servers' CPU use falls quiet."""
    deadline = time.monotonic() + SETTLE_TIMEOUT
    before = target.cpu()
    while True:
        await asyncio.sleep(SETTLE_WINDOW)
        now = target.cpu()
        if now - before <= SETTLE_QUIET:
            return
        if time.monotonic() > deadline:
            raise BenchError(f"{target.name}: the server stayed busy for {SETTLE_TIMEOUT} s")
        before = now


async def connect_all(target, users, first_index=0):
    """Logged-in clients for users, CONNECT_CONCURRENCY handshakes at a time."""
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

    async def one(index, user):
        client = target.client(first_index + index, user)
        async with gate:
            await client.connect()
        return client

    results = await asyncio.gather(*(one(i, u) for i, u in enumerate(users)), return_exceptions=True)
    clients = [r for r in results if not isinstance(r, BaseException)]
    errors = [r for r in results if isinstance(r, BaseException)]
    if errors:
        await close_all(clients)
        raise BenchError(f"{target.name}: {len(errors)} of {len(users)} connections failed, first: {errors[0]!r}")
    return clients


async def close_all(clients):
    await asyncio.gather(*(client.close() for client in clients), return_exceptions=True)


class Deliveries:
    """Counts room-message notifications and their latencies until a target."""

    def __init__(self, expected):
        self.expected = expected
        self.latencies = []
        self.done = asyncio.Event()
        if expected == 0:
            self.done.set()

    def __call__(self, room, message):
        self.latencies.append(time.perf_counter() - float(message["textMessage"]))
        if len(self.latencies) >= self.expected:
            self.done.set()

    async def wait(self, what):
        try:
            await asyncio.wait_for(self.done.wait(), PHASE_TIMEOUT)
        except asyncio.TimeoutError:
            raise BenchError(f"{what}: {len(self.latencies)} of {self.expected} deliveries arrived") from None


def stamped():
    """A room message whose text is its send time."""
    return {"textMessage": repr(time.perf_counter())}


async def send(client, room, count):
    for _ in range(count):
        await client.call("roomMessage", room, stamped())


def median_figures(rounds):
    return {key: statistics.median(r[key] for r in rounds) for key in rounds[0]}


async def connections(target, sizes):
    """N idle logged-in connections: rate, server CPU and RSS per 1,000.

    RSS growth is taken from the first round only: memory freed when a
    round's sockets close stays with the process and is reused by the next
    round, which would hide the growth."""
    warm = await connect_all(target, ["warm-up"])
    await close_all(warm)
    await settle(target)
    rounds = []
    for round_no in range(sizes.rounds):
        users = [f"idle{round_no}-{i}" for i in range(sizes.connections)]
        rss0, cpu0, t0 = target.rss(), target.cpu(), time.perf_counter()
        clients = await connect_all(target, users)
        wall = time.perf_counter() - t0
        await settle(target)
        cpu, rss = target.cpu() - cpu0, target.rss() - rss0
        rounds.append({
            "connections_per_s": sizes.connections / wall,
            "cpu_s_per_1000_connections": cpu / sizes.connections * 1000,
            "rss_mib_per_1000_connections": rss / sizes.connections * 1000 / 2**20,
        })
        await close_all(clients)
        await settle(target)
    figures = median_figures(rounds)
    figures["rss_mib_per_1000_connections"] = rounds[0]["rss_mib_per_1000_connections"]
    return figures


async def join_population(target, sizes):
    """R rooms of M joined clients; client r*M+m is member m of room r."""
    users = [f"fan{r}-{m}" for r in range(sizes.rooms) for m in range(sizes.members)]
    clients = await connect_all(target, users)
    await asyncio.gather(*(
        client.call("roomJoin", fan_room(index // sizes.members)) for index, client in enumerate(clients)
    ))
    return clients


def set_sink(clients, sink):
    for client in clients:
        client.sink = sink


async def fan_out(target, sizes, population):
    """Every member of every room sends K messages, each after the last's ack."""
    expected = sizes.rooms * sizes.members * sizes.messages * sizes.members
    rounds = []
    for _ in range(sizes.rounds):
        deliveries = Deliveries(expected)
        set_sink(population, deliveries)
        cpu0, load0, t0 = target.cpu(), time.process_time(), time.perf_counter()
        await asyncio.gather(*(
            send(client, fan_room(index // sizes.members), sizes.messages)
            for index, client in enumerate(population)
        ))
        await deliveries.wait(f"{target.name} fan-out")
        wall = time.perf_counter() - t0
        cpu, load_cpu = target.cpu() - cpu0, time.process_time() - load0
        rounds.append({
            "deliveries_per_s": expected / wall,
            "cpu_s_per_1000_deliveries": cpu / expected * 1000,
            "latency_p50_ms": percentile(deliveries.latencies, 50) * 1000,
            "latency_p99_ms": percentile(deliveries.latencies, 99) * 1000,
            "load_cpu_share": load_cpu / wall,
        })
        await settle(target)
    return median_figures(rounds)


async def light_load(target, sizes, population):
    """One sender in room 0, everyone else idle; each message waits for the
    previous one to reach every member, so nothing queues."""
    sender, members = population[0], sizes.members
    rounds = []
    for _ in range(sizes.rounds):
        latencies = []
        for _ in range(sizes.light_messages):
            deliveries = Deliveries(members)
            set_sink(population, deliveries)
            await sender.call("roomMessage", fan_room(0), stamped())
            await deliveries.wait(f"{target.name} light load")
            latencies.extend(deliveries.latencies)
        rounds.append({
            "latency_p50_ms": percentile(latencies, 50) * 1000,
            "latency_p99_ms": percentile(latencies, 99) * 1000,
        })
        await settle(target)
    return median_figures(rounds)


async def history(target, sizes):
    """roomHistoryGet pages of 100 from a full history, by C joined readers."""
    size, page = sizes.history_size, HISTORY_PAGE
    users = [f"reader{i}" for i in range(sizes.history_clients)]
    readers = await connect_all(target, users)
    try:
        await asyncio.gather(*(reader.call("roomJoin", HISTORY_ROOM) for reader in readers))
        # Fill past historyMaxSize, so the oldest messages have been dropped.
        per_reader = math.ceil(size * 1.1 / len(readers))
        deliveries = Deliveries(per_reader * len(readers) * len(readers))
        set_sink(readers, deliveries)
        await asyncio.gather(*(send(reader, HISTORY_ROOM, per_reader) for reader in readers))
        await deliveries.wait(f"{target.name} history fill")
        info = await readers[0].call("roomHistoryInfo", HISTORY_ROOM)
        if info["historySize"] != size:
            raise BenchError(f"{target.name}: history holds {info['historySize']} messages, not {size}")
        last = info["lastMessageId"]
        await settle(target)

        async def read(reader_no):
            for call_no in range(sizes.history_calls):
                # Starting points spread over the stored range; each page is full.
                after = last - size + (reader_no * 7919 + call_no * 37) % (size - page + 1)
                messages = await readers[reader_no].call("roomHistoryGet", HISTORY_ROOM, after, page)
                if len(messages) != page:
                    raise BenchError(f"{target.name}: roomHistoryGet after {after} gave {len(messages)} messages")

        calls = len(readers) * sizes.history_calls
        rounds = []
        for _ in range(sizes.rounds):
            cpu0, t0 = target.cpu(), time.perf_counter()
            await asyncio.gather(*(read(i) for i in range(len(readers))))
            wall = time.perf_counter() - t0
            rounds.append({
                "calls_per_s": calls / wall,
                "cpu_s_per_1000_calls": (target.cpu() - cpu0) / calls * 1000,
            })
            await settle(target)
        return median_figures(rounds)
    finally:
        await close_all(readers)


async def run_all(target, sizes):
    """All four scenarios against a started target."""
    results = {"connections": await connections(target, sizes)}
    population = await join_population(target, sizes)
    try:
        await settle(target)
        results["fan_out"] = await fan_out(target, sizes, population)
        results["light_load"] = await light_load(target, sizes, population)
    finally:
        await close_all(population)
    await settle(target)
    results["history"] = await history(target, sizes)
    return results
