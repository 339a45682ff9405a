"""Side-by-side benchmark of the chat service (run it through bench/run).

Starts each server itself, drives it from this asyncio process with the four
loads of scenarios.py, prints the figures (and, with --peer, the original
chat-service's and the ours/original ratios), appends one JSON line to
bench/results.jsonl, and after a full-size run rewrites bench/RESULTS.md.
"""
import argparse
import asyncio
import dataclasses
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time

import scenarios
import servers
from clients import BenchError

RESULTS_JSONL = servers.BENCH / "results.jsonl"
RESULTS_MD = servers.BENCH / "RESULTS.md"
CHANGES_HEADING = "## What each change bought"

# (scenario, figure, label, whether an ours/original ratio means anything)
FIGURES = [
    ("fan_out", "cpu_s_per_1000_deliveries", "fan-out: server CPU s per 1,000 deliveries", True),
    ("fan_out", "deliveries_per_s", "fan-out: deliveries/s", True),
    ("fan_out", "latency_p50_ms", "fan-out: latency p50 (ms)", True),
    ("fan_out", "latency_p99_ms", "fan-out: latency p99 (ms)", True),
    ("fan_out", "load_cpu_share", "fan-out: load process CPU share (1 = one core busy)", False),
    ("light_load", "latency_p50_ms", "light load: latency p50 (ms)", True),
    ("light_load", "latency_p99_ms", "light load: latency p99 (ms)", True),
    ("connections", "connections_per_s", "connections/s", True),
    ("connections", "cpu_s_per_1000_connections", "server CPU s per 1,000 new connections", True),
    ("connections", "rss_mib_per_1000_connections", "RSS growth MiB per 1,000 idle connections", True),
    ("history", "calls_per_s", "history: roomHistoryGet calls/s", True),
    ("history", "cpu_s_per_1000_calls", "history: server CPU s per 1,000 calls", True),
]


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="bench/run",
        description="Measure the chat service (and, with --peer, the original chat-service 1.0.0) "
                    "under fan-out, light-load, connection and history loads.",
    )
    parser.add_argument("--peer", action="store_true",
                        help="also run the same loads against chat-service 1.0.0 (Node, memory state)")
    parser.add_argument("--config", action="append", choices=servers.Ours.CONFIGS,
                        help="our set-up to measure; repeat for several (default: all three)")
    parser.add_argument("--quick", action="store_true",
                        help="small loads for development (3 rooms x 5 members x 10 messages, "
                             "100 connections, one round); does not rewrite RESULTS.md")
    args = parser.parse_args(argv)
    args.config = args.config or list(servers.Ours.CONFIGS)
    return args


def fmt(value):
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}" if value >= 0.01 else f"{value:.4f}"


def table(results, peer):
    """Markdown table: a row per figure, a column per target, then ratios."""
    names = list(results)
    ours = [name for name in names if name != servers.Peer.name]
    header = ["figure", *names] + ([f"{name} / original" for name in ours] if peer else [])
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for scenario, key, label, comparable in FIGURES:
        row = [label] + [fmt(results[name][scenario][key]) for name in names]
        if peer:
            base = results[servers.Peer.name][scenario][key]
            row += [f"{results[name][scenario][key] / base:.2f}" if comparable and base else "-" for name in ours]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def machine():
    model = "unknown"
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as meminfo:
        mem_kib = int(meminfo.readline().split()[1])
    return {"nproc": os.cpu_count(), "cpu": model, "memory_gib": round(mem_kib / 2**20, 1),
            "python": platform.python_version(),
            "node": subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()}


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def git_commit():
    result = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=servers.ROOT, capture_output=True, text=True)
    return result.stdout.strip() or "unknown"


async def measure(target, sizes):
    started = time.perf_counter()
    print(f"== {target.name}: starting", flush=True)
    try:
        target.start(scenarios.rooms(sizes))
        figures = await scenarios.run_all(target, sizes)
    finally:
        target.stop()
    print(f"== {target.name}: done in {time.perf_counter() - started:.0f} s", flush=True)
    return figures


def write_results_md(record, command):
    m = record["machine"]
    sizes = record["sizes"]
    text = f"""# Benchmark results

Latest full-size run of `{command}` ({record["date"]}, commit {record["commit"]}).
How the loads work and what each figure means: [README.md](README.md).

Machine: {m["nproc"]} cores ({m["cpu"]}), {m["memory_gib"]} GiB memory; Python {m["python"]}, Node {m["node"]}.
Load average before / after the run: {record["loadavg_before"]} / {record["loadavg_after"]}.

The machine is shared with other people's work (test suites, mostly), so
the wall-clock figures (rates and latencies) are indicative only; the CPU
seconds per 1,000 operations are the fairer comparison. The load averages
above show how busy it was. Where the load process's CPU share nears 1, the
load process, not the server, limited the fan-out rate.

Sizes (median of {sizes["rounds"]} rounds; RSS growth from the first round):

- fan-out: {sizes["rooms"]} rooms × {sizes["members"]} members × {sizes["messages"]} messages each;
- light load: {sizes["light_messages"]} messages from one sender;
- connections: {sizes["connections"]:,} idle connections;
- history: {sizes["history_size"]:,} stored messages, {sizes["history_clients"]} readers × {sizes["history_calls"]} calls.

{table(record["results"], record["peer"])}
"""
    RESULTS_MD.write_text(text + kept_history(RESULTS_MD))


def kept_history(path):
    """The hand-written "What each change bought" section of the previous
    RESULTS.md, kept under the new figures ("" when there is none)."""
    try:
        previous = path.read_text()
    except FileNotFoundError:
        return ""
    start = previous.find(CHANGES_HEADING)
    return "" if start < 0 else "\n" + previous[start:]


async def main(argv):
    args = parse_args(argv)
    sizes = scenarios.QUICK if args.quick else scenarios.FULL
    workdir = tempfile.mkdtemp(prefix="chat-bench-")
    record = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "commit": git_commit(), "quick": args.quick, "peer": args.peer, "machine": machine(),
        "sizes": dataclasses.asdict(sizes),
        "loadavg_before": loadavg(), "results": {},
    }
    targets = [servers.Ours(workdir, config, sizes.history_size) for config in args.config]
    if args.peer:
        targets.append(servers.Peer(workdir, sizes.history_size))
    try:
        for target in targets:
            record["results"][target.name] = await measure(target, sizes)
    except BenchError as exc:
        print(f"benchmark failed: {exc}\n(server logs are in {workdir})", file=sys.stderr)
        return 1
    record["loadavg_after"] = loadavg()
    shutil.rmtree(workdir, ignore_errors=True)
    print()
    print(table(record["results"], args.peer))
    with open(RESULTS_JSONL, "a") as out:
        out.write(json.dumps(record) + "\n")
    if not args.quick:
        write_results_md(record, " ".join(["bench/run", *argv]))
        print(f"\nwrote {RESULTS_MD.relative_to(servers.ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
