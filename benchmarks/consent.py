"""What the user's choice costs the caller's thread, with and without a choice file.

    python benchmarks/consent.py [--runs 40] [--baseline main]

Two measures:

1. In fresh interpreters (compiled bytecode, interleaved run by run), the in-process time of
   ``import pkg`` for a package whose ``__init__`` calls ``report_once()``, in a host that
   has imported ``threading``: with no choice file; with a choice file that lets it send
   (a few lines, ``acme = on`` among them); with the choice file saying ``* = off`` (the
   call is then ``disabled``: no thread). With ``--baseline REF`` the same package is also
   imported from REF's ``src`` (``git archive``), so the difference is what consent adds.
2. In this process, the median time of one ``choice.decide("acme")`` (what
   ``report_once`` adds to a call on its thread), with and without a choice file.

The worker never does anything during the measure: the collector address is a closed port
and the process ends before the worker's 0.2 s idle is over.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from io import BytesIO
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CALL = """
import pathbeacon
pathbeacon.report_once("<base>/<package>/<os>/<arch>/<runtime>",
                       base="http://127.0.0.1:9/telemetry", package="acme", skip_dev=False)
"""
# Wall time, and the main thread's CPU time (steady on a loaded machine: a process that is
# descheduled spends no CPU meanwhile).
TIMED = "import threading, time{gc}; c = time.thread_time(); t = time.perf_counter(); " \
        "import {name}; print((time.perf_counter() - t) * 1000, (time.thread_time() - c) * 1000)"
# The cyclic garbage collector runs after a count of allocations: a few more objects (two
# small modules' code) can make a full collection of a small program's start-up objects fall
# inside the timed import instead of a little later (at the latest, at exit). "gc off"
# shows the cost without that shift.
GC = {"gc on": "", "gc off": ", gc; gc.disable()"}
CHOICE_ON = "# choices\nother = off\nacme = on\nthird-party = off\n"
CHOICE_OFF = "* = off\n"


def _baseline(ref: str, into: Path) -> Path:
    """REF's ``src`` folder, extracted with ``git archive``."""
    data = subprocess.run(["git", "archive", ref, "src"], cwd=ROOT, check=True,
                          capture_output=True).stdout
    with tarfile.open(fileobj=BytesIO(data)) as archive:
        archive.extractall(into)  # our own repository's tree
    return into / "src"


def measure(runs: int, baseline: str | None) -> dict[str, tuple[float, float, float]]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for name, body in {"barepkg": "", "beaconpkg": CALL}.items():
            (root / "pkgs" / name).mkdir(parents=True)
            (root / "pkgs" / name / "__init__.py").write_text(body)
        sources = {"this checkout": ROOT / "src"}
        if baseline:
            sources[f"baseline {baseline}"] = _baseline(baseline, root / "base")
        folders = {"no choice file": root / "none", "choice file, acme = on": root / "on",
                   "choice file, * = off": root / "off"}
        for label, folder in folders.items():
            folder.mkdir()
            if "acme = on" in label:
                (folder / "telemetry").write_text(CHOICE_ON)
            elif "off" in label:
                (folder / "telemetry").write_text(CHOICE_OFF)
        base_env = {k: v for k, v in os.environ.items()
                    if not (k.endswith("_NO_ANALYTICS") or k.startswith(("PATHBEACON_", "SCARF_"))
                            or k in ("DO_NOT_TRACK", "PYTHONDONTWRITEBYTECODE"))}
        base_env["PATHBEACON_SYSTEM_CONFIG"] = str(root / "no-admin-file")
        cases: dict[str, tuple[str, dict[str, str], str]] = {}
        for source_label, src in sources.items():
            subprocess.run([sys.executable, "-m", "compileall", "-q", str(src)], check=True)
            path = os.pathsep.join([str(root / "pkgs"), str(src)])
            bare_env = dict(base_env, PYTHONPATH=path, PATHBEACON_CONFIG_DIR=str(root / "none"))
            for gc_label, gc in GC.items():
                cases[f"{source_label}, {gc_label}: bare package"] = ("barepkg", bare_env, gc)
                for label, folder in folders.items():
                    if source_label != "this checkout" and label != "no choice file":
                        continue  # the baseline knows no choice file
                    env = dict(base_env, PYTHONPATH=path, PATHBEACON_CONFIG_DIR=str(folder))
                    cases[f"{source_label}, {gc_label}: report_once, {label}"] = (
                        "beaconpkg", env, gc)
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(root / "pkgs")], check=True)
        for name, env, _ in cases.values():  # warm the file system cache and bytecode
            subprocess.run([sys.executable, "-c", f"import {name}"], env=env, check=True)
        samples: dict[str, list[tuple[float, float]]] = {label: [] for label in cases}
        for _ in range(runs):
            for label, (name, env, gc) in cases.items():  # interleaved: drift hits all alike
                out = subprocess.run([sys.executable, "-c", TIMED.format(name=name, gc=gc)],
                                     env=env, capture_output=True, text=True)
                if out.returncode != 0:
                    raise SystemExit(f"{label}: exit status {out.returncode}\n{out.stderr}")
                wall, cpu = out.stdout.split()
                samples[label].append((float(wall), float(cpu)))
    # Wall: the median, and the lower quartile (on a shared machine a run is only ever
    # slowed, never sped up); and the median of the main thread's CPU time.
    result = {}
    for label, values in samples.items():
        walls = [wall for wall, _ in values]
        result[label] = (statistics.median(walls), statistics.quantiles(walls, n=4)[0],
                         statistics.median(cpu for _, cpu in values))
    return result


def in_process(repeat: int = 2000) -> dict[str, float]:
    """Median microseconds of one ``consent.decide("acme")``."""
    sys.path.insert(0, str(ROOT / "src"))
    from pathbeacon import choice as consent

    result = {}
    with tempfile.TemporaryDirectory() as tmp:
        os.environ[consent.SYSTEM_CONFIG] = os.path.join(tmp, "no-admin-file")
        for label, text in (("no choice file", None), ("choice file, acme = on", CHOICE_ON),
                            ("choice file, * = off", CHOICE_OFF)):
            folder = os.path.join(tmp, label.replace(" ", "_").replace(",", ""))
            os.makedirs(folder)
            if text is not None:
                Path(folder, "telemetry").write_text(text)
            os.environ[consent.CONFIG_DIR] = folder
            times = []
            for _ in range(repeat):
                t = time.perf_counter()
                consent.decide("acme")
                times.append((time.perf_counter() - t) * 1e6)
            result[label] = statistics.median(times)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--baseline", metavar="REF",
                        help="a git ref whose src to measure beside (e.g. main)")
    args = parser.parse_args()
    result = measure(args.runs, args.baseline)
    print(f"Python {sys.version.split()[0]}, {args.runs} fresh interpreters per case, medians;"
          f" load average before: {os.getloadavg()[0]:.2f}")
    print("| case | wall, median | lower quartile | main thread's CPU, median |")
    print("|---|---|---|---|")
    for label, (median, low, cpu) in result.items():
        bare, bare_low, bare_cpu = result[label.split(":")[0] + ": bare package"]
        print(f"| {label} | {median - bare:+.2f} ms | {low - bare_low:+.2f} ms | "
              f"{cpu - bare_cpu:+.2f} ms |")
    print("(each figure is over the bare package of the same source and gc setting)")
    print()
    print("| one choice.decide('acme'), in process | median |")
    print("|---|---|")
    for label, value in in_process().items():
        print(f"| {label} | {value:.1f} us |")
    print(f"(load average after: {os.getloadavg()[0]:.2f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
