"""What a count means: one report per process that imports the package.

The README's section "What a count means and where to call report_once" quotes these.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import Collector, clean_env, make_package

ACME = """
import pathbeacon
REPORT = pathbeacon.report_once("<base>/<package>/<os>", base={base!r}, package="acme")
"""

MAIN = """
import multiprocessing, os, sys
import acme  # the parent reports too

def ready():
    # Pool workers leave through os._exit, which skips the exit grace: wait here instead,
    # as a long-lived worker would simply go on working.
    import acme
    acme.REPORT.wait(10)

def pid(_):
    return os.getpid()

if __name__ == "__main__":
    context = multiprocessing.get_context(sys.argv[1])
    pool = context.Pool(4, initializer=ready)
    workers = set(pool.map(pid, range(16), chunksize=1))
    pool.close()
    pool.join()
    acme.REPORT.wait(10)
    print(acme.REPORT.status, len(workers) <= 4)
"""


def _run_pool(tmp_path: Path, collector: Collector, method: str) -> int:
    make_package(tmp_path, "acme", ACME.format(base=collector.url))
    (tmp_path / "main.py").write_text(MAIN, encoding="utf-8")
    env = clean_env(PYTHONPATH=os.pathsep.join([str(tmp_path), *sys.path]))
    result = subprocess.run([sys.executable, "main.py", method], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["sent", "True"], result.stdout + result.stderr
    requests = collector.settle(0.5)
    assert all(r.path.startswith("/acme/") for r in requests)
    return len(requests)


def test_a_spawn_pool_of_4_sends_5(collector: Collector, tmp_path: Path) -> None:
    assert _run_pool(tmp_path, collector, "spawn") == 5


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_pool_sends_only_the_parents(collector: Collector, tmp_path: Path) -> None:
    assert _run_pool(tmp_path, collector, "fork") == 1
