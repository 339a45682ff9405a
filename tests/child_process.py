"""Run a test module's function in a child Python process: importing daphne
installs a Twisted reactor, which the test process itself must not have."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_in_child(module, function, stdin=None):
    """`module.function()` in a child process; returns what it printed (it must exit 0)."""
    child = subprocess.run(
        [sys.executable, "-c", f"from {module} import {function}; {function}()"],
        input=stdin, capture_output=True, text=True, cwd=ROOT, timeout=90,
    )
    assert child.returncode == 0, child.stderr[-3000:]
    return child.stdout
