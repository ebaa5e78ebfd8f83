"""What a host's own thread pays for ``report_once()``, in fresh interpreters.

    python benchmarks/lifecycle.py [--runs 60] [--src PATH]

Measures, as medians over interleaved fresh interpreters (compiled bytecode), the in-process
time of ``import pkg`` for packages whose ``__init__`` is:

- empty (``bare``);
- ``report_once(...)`` in a host that has not imported ``threading`` (most CLIs): pathbeacon
  imports ``threading`` on this thread before 3.13, so that it knows the real main thread;
- the same in a host that imported ``re`` (hence ``functools`` and ``collections``, which
  ``threading`` needs) but not ``threading``, as CLIs using ``argparse`` or ``re`` do;
- the same in a host that imported ``threading`` already (``threading`` is imported before
  the timer starts, in the bare package's run too);
- ``report_once(..., interval="1d")`` with a recent state file: the whole call is a check of
  one small file, and returns ``skipped``.

The worker thread is kept from doing anything during the measure (the opt-out variables are
clear, the collector address is a closed port; the worker idles 0.2 s first and the process
ends before that). ``--src`` measures another checkout's ``src`` (to compare before/after).
Uses the running interpreter; pathbeacon must be importable from it (or from ``--src``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CALL = """
import pathbeacon
pathbeacon.report_once("<base>/<package>/<version>/<os>/<arch>/<runtime>",
                       base="http://127.0.0.1:9/telemetry", package="beaconpkg"{extra})
"""
PACKAGES = {
    "barepkg": "",
    "beaconpkg": CALL.format(extra=""),
    "intervalpkg": CALL.format(extra=', interval="1d"'),
}
CASES = {  # label: (package, imported before the timer starts)
    "bare": ("barepkg", ""),
    "bare, threading imported": ("barepkg", "import threading; "),
    "report_once, host without threading": ("beaconpkg", ""),
    "bare, re imported": ("barepkg", "import re; "),
    "report_once, host with re (functools), without threading": ("beaconpkg", "import re; "),
    "report_once, host with threading": ("beaconpkg", "import threading; "),
    "report_once(interval='1d'), recent state file": ("intervalpkg", ""),
}
TIMED = "{pre}import time; t = time.perf_counter(); import {name}; " \
        "print((time.perf_counter() - t) * 1000)"


def measure(runs: int, src: Path | None) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        for name, body in PACKAGES.items():
            (Path(tmp) / name).mkdir()
            (Path(tmp) / name / "__init__.py").write_text(textwrap.dedent(body))
        cache = Path(tmp) / "cache"
        path = [tmp, *([str(src)] if src else [])]  # as an installed package would be
        env = {k: v for k, v in os.environ.items()
               if not (k.endswith("_NO_ANALYTICS") or k.startswith(("PATHBEACON_", "SCARF_"))
                       or k in ("DO_NOT_TRACK", "PYTHONDONTWRITEBYTECODE"))}
        env.update(PYTHONPATH=os.pathsep.join(path), PATHBEACON_CACHE_DIR=str(cache))
        subprocess.run([sys.executable, "-m", "compileall", "-q", tmp], check=True, env=env)
        if src:
            subprocess.run([sys.executable, "-m", "compileall", "-q", str(src)], check=True,
                           env=env)
        # A recent stamp for the interval package's key (the default key: template, package).
        sys.path.insert(0, str(src or ROOT / "src"))
        try:
            from pathbeacon import stamps
        except ImportError:  # a checkout from before interval existed
            pass
        else:
            key = (textwrap.dedent(CALL).split('"')[1], "beaconpkg")
            stamps.record(str(cache / stamps.file_name(key)), time.time())
        for name in PACKAGES:  # warm the file system cache and bytecode
            subprocess.run([sys.executable, "-c", f"import {name}"], env=env, check=True)
        samples: dict[str, list[float]] = {label: [] for label in CASES}
        for _ in range(runs):
            for label, (name, pre) in CASES.items():  # interleaved: drift hits all alike
                out = subprocess.run([sys.executable, "-c", TIMED.format(pre=pre, name=name)],
                                     env=env, capture_output=True, text=True)
                if out.returncode != 0:  # a host that does not exit cleanly is a bug
                    raise SystemExit(f"{label}: exit status {out.returncode}\n{out.stderr}")
                samples[label].append(float(out.stdout))
        check = subprocess.run(
            [sys.executable, "-c", "import intervalpkg, pathbeacon; print(pathbeacon."
             "report_once('<base>/<package>/<version>/<os>/<arch>/<runtime>', "
             "package='beaconpkg', interval='1d').status)"],
            env=env, capture_output=True, text=True)
        print(f"(interval case status: {check.stdout.strip() or check.stderr.strip()[-200:]})")
    return {label: statistics.median(values) for label, values in samples.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=60)
    parser.add_argument("--src", type=Path, default=None,
                        help="a checkout's src folder to measure instead of the installed one")
    args = parser.parse_args()
    result = measure(args.runs, args.src)
    bare, bare_threading = result["bare"], result["bare, threading imported"]
    print(f"Python {sys.version.split()[0]}, {args.runs} fresh interpreters per case, medians")
    print("| case | import time | over its bare package |")
    print("|---|---|---|")
    for label, value in result.items():
        if "with threading" in label or "threading imported" in label:
            base = bare_threading
        elif "re imported" in label or "with re" in label:
            base = result["bare, re imported"]
        else:
            base = bare
        print(f"| {label} | {value:.2f} ms | {value - base:+.2f} ms |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
