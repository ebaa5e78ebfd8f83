"""pathbeacon's benchmarks, side by side with scarf-sdk and hand-written code.

    python benchmarks/run.py            # builds .bench/venv once, then measures

(``benchmarks/whole.py`` measures what a short program pays, whole process.)

It installs pathbeacon (from this checkout) and scarf-sdk into a private virtual
environment under .bench/ (scarf-sdk is never a dependency of pathbeacon), then prints a
Markdown table of medians:

- extra import time of a package whose ``__init__`` calls ``report_once`` (and one that
  constructs scarf-sdk's ``ScarfEventLogger``) over a bare package, in fresh interpreters;
- ``log_event`` round-trip latency against a loopback server, pathbeacon versus scarf-sdk,
  one logger each, so both reuse a keep-alive connection;
- ``Template.render`` against a hand-written f-string with ``urllib.parse.quote``;
- cold ``facts()`` detection in a fresh interpreter.

Everything stays on this machine: the only server is on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / ".bench"
VENV = BENCH / "venv"
PYTHON = VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")

BARE = ""
BEACON = """
import pathbeacon
pathbeacon.report_once("<base>/<package>/<version>/<os>/<arch>/<runtime>",
                       base="http://127.0.0.1:9/telemetry", package="beaconpkg")
"""
SCARF = """
from scarf import ScarfEventLogger
logger = ScarfEventLogger("http://127.0.0.1:9/events")
"""
PACKAGES = {"barepkg": BARE, "beaconpkg": BEACON, "scarfpkg": SCARF}

SERVER = """
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(204); self.send_header("Content-Length", "0"); self.end_headers()
    def log_message(self, *a): pass
s = ThreadingHTTPServer(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
"""


def setup() -> None:
    """Create .bench/venv with pathbeacon (this checkout) and scarf-sdk, once."""
    if not PYTHON.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    subprocess.run([str(PYTHON), "-m", "pip", "install", "--quiet", "--upgrade",
                    "--force-reinstall", "--no-deps", str(ROOT)], check=True)
    subprocess.run([str(PYTHON), "-m", "pip", "install", "--quiet", str(ROOT), "scarf-sdk"],
                   check=True)


def fresh_env(extra_path: str = "") -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not (k.endswith("_NO_ANALYTICS") or k.startswith(("PATHBEACON_", "SCARF_"))
                   or k in ("DO_NOT_TRACK", "PYTHONDONTWRITEBYTECODE"))}
    if extra_path:
        env["PYTHONPATH"] = extra_path
    return env


def import_times(runs: int) -> dict[str, float]:
    """Median in-process import time (ms) of each package, fresh interpreter per run."""
    with tempfile.TemporaryDirectory() as tmp:
        for name, body in PACKAGES.items():
            (Path(tmp) / name).mkdir()
            (Path(tmp) / name / "__init__.py").write_text(textwrap.dedent(body))
        env = fresh_env(tmp)
        # Compile once, as an install would, so every run reads bytecode.
        subprocess.run([str(PYTHON), "-m", "compileall", "-q", tmp], check=True, env=env)
        for name in PACKAGES:
            subprocess.run([str(PYTHON), "-c", f"import {name}"], env=env, check=True)
        samples: dict[str, list[float]] = {name: [] for name in PACKAGES}
        code = ("import time; t = time.perf_counter(); import {}; "
                "print((time.perf_counter() - t) * 1000)")
        for _ in range(runs):
            for name in PACKAGES:  # interleaved, so drift hits all three alike
                out = subprocess.run([str(PYTHON), "-c", code.format(name)], env=env,
                                     capture_output=True, text=True, check=True).stdout
                samples[name].append(float(out))
    return {name: statistics.median(values) for name, values in samples.items()}


def inner_latency(port: int, calls: int) -> dict[str, float]:
    """Median log_event round trip (ms) for each logger; runs inside the bench venv."""
    import scarf

    import pathbeacon

    url = f"http://127.0.0.1:{port}/events"
    results = {}
    for label, logger in (("pathbeacon", pathbeacon.ScarfEventLogger(url)),
                          ("scarf-sdk", scarf.ScarfEventLogger(url))):
        for _ in range(5):
            assert logger.log_event({"event": "warm-up"})
        samples = []
        for i in range(calls):
            t = time.perf_counter()
            ok = logger.log_event({"event": "bench", "i": i})
            samples.append((time.perf_counter() - t) * 1000)
            assert ok
        results[label] = statistics.median(samples)
    return results


def inner_render(loops: int) -> dict[str, float]:
    """Median microseconds per render: Template.render versus a hand-written f-string."""
    import timeit
    from urllib.parse import quote

    import pathbeacon

    template = pathbeacon.Template("<base>/<language>/<engine>/<arch>/<os>/<runtime>")
    facts = {"base": "https://example.gateway.scarf.sh/packages", "language": "python",
             "engine": "spark", "arch": "x86_64", "os": "linux", "runtime": "cpython-3.11.7"}

    def hand(f: dict[str, str]) -> str:
        return (f"{f['base']}/{quote(f['language'], safe='')}/{quote(f['engine'], safe='')}/"
                f"{quote(f['arch'], safe='')}/{quote(f['os'], safe='')}/"
                f"{quote(f['runtime'], safe='')}")

    assert hand(facts) == template.render(facts)
    results = {}
    for label, fn in (("pathbeacon", template.render), ("hand-written", hand)):
        runs = timeit.repeat(lambda fn=fn: fn(facts), number=loops, repeat=7)
        results[label] = statistics.median(runs) / loops * 1e6
    return results


def facts_cold(runs: int) -> tuple[float, float]:
    """Median ms of the first facts() call in a fresh interpreter: in all, and the probing
    alone (with distro, which imports argparse, logging and subprocess, already imported)."""
    code = ("import pathbeacon, time{pre}; t = time.perf_counter(); pathbeacon.facts(); "
            "print((time.perf_counter() - t) * 1000)")
    results = []
    for pre in ("", ", distro"):
        samples = [float(subprocess.run([str(PYTHON), "-c", code.format(pre=pre)],
                                        env=fresh_env(), capture_output=True, text=True,
                                        check=True).stdout)
                   for _ in range(runs)]
        results.append(statistics.median(samples))
    return results[0], results[1]


def latency(calls: int) -> dict[str, float]:
    server = subprocess.Popen([str(PYTHON), "-c", SERVER], stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        code = (f"import json, sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); "
                f"import run; print(json.dumps(run.inner_latency({port}, {calls})))")
        out = subprocess.run([str(PYTHON), "-c", code], env=fresh_env(), capture_output=True,
                             text=True, check=True).stdout
        return dict(json.loads(out))
    finally:
        server.terminate()
        server.wait()


def render_speed(loops: int) -> dict[str, float]:
    code = (f"import json, sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); "
            f"import run; print(json.dumps(run.inner_render({loops})))")
    out = subprocess.run([str(PYTHON), "-c", code], env=fresh_env(), capture_output=True,
                         text=True, check=True).stdout
    return dict(json.loads(out))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=40, help="fresh interpreters per package")
    parser.add_argument("--calls", type=int, default=200, help="log_event calls per logger")
    parser.add_argument("--quick", action="store_true", help="few runs, for a smoke test")
    args = parser.parse_args()
    runs, calls, loops = (5, 20, 2000) if args.quick else (args.runs, args.calls, 20000)
    setup()
    imports = import_times(runs)
    beacon = imports["beaconpkg"] - imports["barepkg"]
    scarf = imports["scarfpkg"] - imports["barepkg"]
    rtt = latency(calls)
    render = render_speed(loops)
    cold = facts_cold(max(runs // 2, 3))
    version = subprocess.run([str(PYTHON), "-c", "import sys; print(sys.version.split()[0])"],
                             capture_output=True, text=True).stdout.strip()
    print(f"pathbeacon benchmarks - Python {version}, {os.cpu_count()} cores, medians\n")
    print("| measure | pathbeacon | compared with | ratio | target |")
    print("|---|---|---|---|---|")
    print(f"| import overhead of a package calling it (over a bare package, {runs} fresh "
          f"interpreters) | {beacon:.2f} ms | scarf-sdk ScarfEventLogger: {scarf:.2f} ms | "
          f"1/{scarf / beacon if beacon > 0 else float('inf'):.0f} | < 2 ms and < 1/40 |")
    print(f"| log_event round trip, loopback, keep-alive ({calls} calls) | "
          f"{rtt['pathbeacon']:.2f} ms | "
          f"scarf-sdk: {rtt['scarf-sdk']:.2f} ms | "
          f"{rtt['pathbeacon'] / rtt['scarf-sdk']:.2f}x | - |")
    print(f"| Template.render, 5 fields | {render['pathbeacon']:.2f} us | f-string + quote: "
          f"{render['hand-written']:.2f} us | "
          f"{render['pathbeacon'] / render['hand-written']:.2f}x | <= 1.5x |")
    print(f"| cold facts() in a fresh interpreter | {cold[0]:.1f} ms in all; {cold[1]:.1f} ms "
          "probing once distro is imported | - | - | a few ms |")
    print(f"\nbare package import: {imports['barepkg']:.2f} ms; with pathbeacon: "
          f"{imports['beaconpkg']:.2f} ms; with scarf-sdk: {imports['scarfpkg']:.2f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
