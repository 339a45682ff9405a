"""Tests of the benchmark itself: its arithmetic, its CPU accounting, and the
loads run end to end against both servers at toy sizes (so every check the
scenarios make on deliveries, replies and history pages is exercised)."""
import asyncio
import os
import signal
import subprocess
import sys
import time

import pytest

import bench
import scenarios
import servers
from clients import BenchError

TOY = scenarios.Sizes(
    rooms=2, members=3, messages=2, light_messages=3, connections=8,
    history_size=120, history_clients=2, history_calls=3, rounds=2,
)
FIGURES = {
    "connections": {"connections_per_s", "cpu_s_per_1000_connections", "rss_mib_per_1000_connections"},
    "fan_out": {"deliveries_per_s", "cpu_s_per_1000_deliveries", "latency_p50_ms", "latency_p99_ms", "load_cpu_share"},
    "light_load": {"latency_p50_ms", "latency_p99_ms"},
    "history": {"calls_per_s", "cpu_s_per_1000_calls"},
}
BURN = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.3: pass\n"


def test_percentile_is_nearest_rank():
    values = list(range(100, 0, -1))
    assert scenarios.percentile(values, 50) == 50
    assert scenarios.percentile(values, 99) == 99
    assert scenarios.percentile(values, 100) == 100
    assert scenarios.percentile([7.5], 99) == 7.5


def test_cpu_counts_live_and_reaped_descendants():
    """A reaped child's CPU (cutime) and a live grandchild's both count."""
    script = f'{sys.executable} -c "$BURN"; {sys.executable} -c "$BURN_AND_WAIT"; true'
    env = dict(os.environ, BURN=BURN, BURN_AND_WAIT=BURN + "time.sleep(120)\n")
    root = subprocess.Popen(["bash", "-c", script], env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while servers.cpu_seconds([root.pid]) < 0.55:
            assert time.monotonic() < deadline, f"only {servers.cpu_seconds([root.pid])} s counted"
            time.sleep(0.05)
        assert len(servers.process_tree(root.pid)) == 2
        assert servers.rss_bytes([root.pid]) > servers.rss_bytes([servers.process_tree(root.pid)[1]])
    finally:
        os.killpg(root.pid, signal.SIGKILL)
        root.wait()


def test_table_gives_ours_over_original():
    def results(scale):
        return {scenario: {key: 2.0 * scale for key in keys} for scenario, keys in FIGURES.items()}

    text = bench.table({"sqlite": results(3), "original": results(1)}, peer=True)
    header, _, *rows = text.splitlines()
    assert header == "| figure | sqlite | original | sqlite / original |"
    assert len(rows) == len(bench.FIGURES)
    for row, (_, _, label, comparable) in zip(rows, bench.FIGURES):
        assert row == f"| {label} | 6 | 2 | {'3.00' if comparable else '-'} |"


def test_results_md_keeps_the_changes_section(tmp_path):
    path = tmp_path / "RESULTS.md"
    assert bench.kept_history(path) == ""
    path.write_text("# Benchmark results\n\nold figures\n\n## What each change bought\n\n| change | before | after |\n")
    assert bench.kept_history(path) == "\n## What each change bought\n\n| change | before | after |\n"
    path.write_text("# Benchmark results\n\nno section\n")
    assert bench.kept_history(path) == ""


def test_unknown_configuration_is_refused(tmp_path):
    with pytest.raises(BenchError, match="unknown configuration 'mysql'"):
        servers.Ours(tmp_path, "mysql", 100)


def test_arguments_default_to_every_configuration():
    args = bench.parse_args(["--peer"])
    assert args.peer and not args.quick
    assert args.config == list(servers.Ours.CONFIGS)
    assert bench.parse_args(["--config", "sqlite", "--quick"]).config == ["sqlite"]
    with pytest.raises(SystemExit):
        bench.parse_args(["--config", "oracle"])


def _run_all(target):
    target.start(scenarios.rooms(TOY))
    try:
        return asyncio.run(scenarios.run_all(target, TOY))
    finally:
        target.stop()


def _check_figures(results):
    assert {scenario: set(figures) for scenario, figures in results.items()} == FIGURES
    for scenario, figures in results.items():
        for key, value in figures.items():
            assert value > 0 or key == "rss_mib_per_1000_connections", (scenario, key, value)


def test_loads_against_ours(tmp_path):
    _check_figures(_run_all(servers.Ours(tmp_path, "sqlite", TOY.history_size)))


def test_loads_against_the_original(tmp_path):
    assert (servers.PEER_DIR / "node_modules" / "chat-service").is_dir(), "run bench/run --peer --quick once first"
    _check_figures(_run_all(servers.Peer(tmp_path, TOY.history_size)))


def test_a_missing_delivery_stops_the_run(tmp_path, monkeypatch):
    """A phase whose expected deliveries do not all arrive raises, naming the count."""
    target = servers.Ours(tmp_path, "sqlite", TOY.history_size)

    async def scenario():
        population = await scenarios.join_population(target, TOY)
        try:
            deliveries = scenarios.Deliveries(TOY.members + 1)  # one more than the room has
            scenarios.set_sink(population, deliveries)
            await population[0].call("roomMessage", scenarios.fan_room(0), scenarios.stamped())
            deadline = time.monotonic() + 120
            while len(deliveries.latencies) < TOY.members:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.05)
            monkeypatch.setattr(scenarios, "PHASE_TIMEOUT", 1)
            with pytest.raises(BenchError, match=f"{TOY.members} of {TOY.members + 1} deliveries arrived"):
                await deliveries.wait("toy")
        finally:
            await scenarios.close_all(population)

    target.start(scenarios.rooms(TOY))
    try:
        asyncio.run(scenario())
    finally:
        target.stop()
