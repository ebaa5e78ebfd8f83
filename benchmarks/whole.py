"""What a short program pays, whole process: ``python -c "import hostpkg"``.

    python benchmarks/whole.py             # builds .bench/ once (see run.py), then measures

Packages are imported in fresh interpreters, interleaved run by run: a bare package, the
floor (one whose ``__init__`` sends the same GET with nothing but ``http.client``, on its
own thread: the least any report can cost), one whose ``__init__`` calls
``pathbeacon.report_once(...)`` with the README's template (its
``<version>`` and the default ``skip_dev`` check look the version up), the same without the
version look-up (to show what it costs), and one that sends an event with scarf-sdk's
``ScarfEventLogger(...).log_event(...)`` (synchronous, as scarf-sdk is used). Each run's
wall time (launch to exit) and CPU time (user + system, from ``wait4``) are recorded; the
table gives medians and what each adds over the bare package, against loopback collectors:

- HTTP up; HTTPS up (a TLS collector whose test CA, made with the ``openssl`` command in
  .bench/, is appended to a copy of the system bundle passed through ``SSL_CERT_FILE`` for
  pathbeacon and ``REQUESTS_CA_BUNDLE`` for scarf-sdk, so both load a full bundle, as users
  do); a refused port;
- ``interval`` with a recent state file (when ``report_once`` accepts ``interval``);
- and how many reports arrived, which must equal the runs whenever the collector is up.

The ratios are of what each adds over the bare package: pathbeacon / floor (issue 16's
target: at most 1.2) and pathbeacon / scarf-sdk (at most 0.3 over HTTP, 0.45 over HTTPS).
pathbeacon writes the same GET on the socket itself, without ``http.client`` (whose
``email`` imports were most of the floor's cost), so it can cost less than the floor.
The first line says the machine's load (``os.getloadavg``) before and after: numbers from a
busy machine are not comparable with a quiet one's.

Everything stays on this machine: the collectors listen on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import os
import ssl
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from run import BENCH, PYTHON, fresh_env, setup

TEMPLATE = "<base>/<package>/<version>/<os>/<arch>/<runtime>"
PACKAGES = {
    "barepkg": "",
    # The floor: the same GET, synchronous, with the standard library alone.
    "floorpkg": """
        import http.client, os
        from urllib.parse import urlsplit
        url = urlsplit(os.environ["BENCH_URL"])
        if url.scheme == "https":
            import ssl
            conn = http.client.HTTPSConnection(url.hostname, url.port, timeout=3,
                                               context=ssl.create_default_context())
        else:
            conn = http.client.HTTPConnection(url.hostname, url.port, timeout=3)
        try:
            conn.request("GET", "/telemetry/floorpkg/1.4.2/linux/x86_64/cpython-3.11.7",
                         headers={"User-Agent": "floor"})
            conn.getresponse().read()
        except Exception:
            pass
        conn.close()
        """,
    "beaconpkg": f"""
        import os, pathbeacon
        pathbeacon.report_once({TEMPLATE!r}, base=os.environ["BENCH_URL"] + "/telemetry",
                               package="beaconpkg")
        """,
    # The same report without the version look-up (importlib.metadata and packaging, which
    # <version> and skip_dev's check need): what that look-up costs, shown beside.
    "leanpkg": """
        import os, pathbeacon
        pathbeacon.report_once("<base>/<package>/<os>/<arch>/<runtime>",
                               base=os.environ["BENCH_URL"] + "/telemetry", package="leanpkg",
                               skip_dev=False)
        """,
    "scarfpkg": """
        import os
        from scarf import ScarfEventLogger
        try:  # scarf-sdk raises when the event is not delivered; an author guards it
            ScarfEventLogger(os.environ["BENCH_URL"] + "/events").log_event({"package": "scarfpkg"})
        except Exception:
            pass
        """,
    "intervalpkg": f"""
        import os, pathbeacon
        pathbeacon.report_once({TEMPLATE!r}, base=os.environ["BENCH_URL"] + "/telemetry",
                               package="intervalpkg", interval="1d")
        """,
}

COLLECTOR = r"""
import json, ssl, sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
counts = {}
lock = threading.Lock()
class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def _answer(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        # GET /telemetry/<package>/...: counted per package; POSTs are scarf-sdk's
        name = "scarf-sdk" if self.command == "POST" else self.path.split("/")[2]
        with lock:
            counts[name] = counts.get(name, 0) + 1
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
    do_GET = do_POST = _answer
    def log_message(self, *args):
        pass
server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
if len(sys.argv) > 2:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(sys.argv[1], sys.argv[2])
    server.socket = context.wrap_socket(server.socket, server_side=True)
threading.Thread(target=server.serve_forever, daemon=True).start()
print(server.server_address[1], flush=True)
for line in sys.stdin:  # one line asks for the counts; end of input ends the collector
    with lock:
        print(json.dumps(counts), flush=True)
"""


class Collector:
    """A loopback collector in its own process, so its CPU is not the host's."""

    def __init__(self, cert: Path | None = None, key: Path | None = None) -> None:
        args = [sys.executable, "-c", COLLECTOR] + ([str(cert), str(key)] if cert else [])
        self.process = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        text=True)
        assert self.process.stdout is not None
        self.port = int(self.process.stdout.readline())
        self.url = f"{'https' if cert else 'http'}://127.0.0.1:{self.port}"

    def counts(self) -> dict[str, int]:
        assert self.process.stdin is not None and self.process.stdout is not None
        time.sleep(0.2)  # let the last request land
        self.process.stdin.write("count\n")
        self.process.stdin.flush()
        return dict(json.loads(self.process.stdout.readline()))

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(10)


def make_certificates(folder: Path) -> tuple[Path, Path, Path]:
    """A test CA and a certificate for 127.0.0.1 it signed, with the openssl command."""
    folder.mkdir(parents=True, exist_ok=True)
    ca_key, ca, key, csr, cert = (folder / n for n in ("ca.key", "ca.pem", "server.key",
                                                        "server.csr", "server.pem"))
    if not cert.exists():
        def openssl(*args: str) -> None:
            subprocess.run(["openssl", *args], check=True, capture_output=True)

        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(ca_key),
                "-out", str(ca), "-days", "365", "-subj", "/CN=pathbeacon bench CA",
                "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(csr),
                "-subj", "/CN=127.0.0.1")
        extensions = folder / "server.ext"
        extensions.write_text("subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
                              "keyUsage=critical,digitalSignature,keyEncipherment\n"
                              "extendedKeyUsage=serverAuth\n"
                              "authorityKeyIdentifier=keyid\n")
        openssl("x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key),
                "-CAcreateserial", "-out", str(cert), "-days", "365",
                "-extfile", str(extensions))
    bundle = folder / "bundle.pem"
    system = ssl.get_default_verify_paths().cafile or "/etc/ssl/certs/ca-certificates.crt"
    text = Path(system).read_text() if Path(system).exists() else ""
    bundle.write_text(text + "\n" + ca.read_text())
    return cert, key, bundle


def one_run(package: str, env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU milliseconds of ``python -c "import package"`` in a fresh interpreter."""
    started = time.perf_counter()
    process = subprocess.Popen([str(PYTHON), "-c", f"import {package}"], env=env)
    _, status, usage = os.wait4(process.pid, 0)
    wall = (time.perf_counter() - started) * 1000
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"import {package} exited {process.returncode}")
    return wall, (usage.ru_utime + usage.ru_stime) * 1000


def measure(packages: list[str], env: dict[str, str], runs: int) -> dict[str, dict[str, float]]:
    samples: dict[str, list[tuple[float, float]]] = {p: [] for p in packages}
    for round_ in range(runs):
        order = packages[round_ % len(packages):] + packages[:round_ % len(packages)]
        for package in order:  # interleaved and rotated, so drift hits all alike
            samples[package].append(one_run(package, env))
    return {p: {"wall": statistics.median(w for w, _ in s),
                "cpu": statistics.median(c for _, c in s)} for p, s in samples.items()}


def has_interval() -> bool:
    code = ("import inspect, pathbeacon; "
            "print('interval' in inspect.signature(pathbeacon.report_once).parameters)")
    out = subprocess.run([str(PYTHON), "-c", code], capture_output=True, text=True).stdout
    return out.strip() == "True"


def in_process_import(package: str, env: dict[str, str], runs: int) -> float:
    """Median milliseconds of ``import package`` measured inside the interpreter."""
    code = (f"import time; t = time.perf_counter(); import {package}; "
            "print((time.perf_counter() - t) * 1000)")
    return statistics.median(
        float(subprocess.run([str(PYTHON), "-c", code], env=env, capture_output=True,
                             text=True, check=True).stdout) for _ in range(runs))


def _load(average: tuple[float, float, float] | None) -> str:
    return "unknown" if average is None else "/".join(f"{x:.1f}" for x in average)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30, help="fresh interpreters per package")
    parser.add_argument("--quick", action="store_true", help="few runs, for a smoke test")
    parser.add_argument("--no-setup", action="store_true", help="use .bench/venv as it is")
    args = parser.parse_args()
    runs = 4 if args.quick else args.runs
    if not args.no_setup:
        setup()
    load_before = os.getloadavg() if hasattr(os, "getloadavg") else None
    cert, key, bundle = make_certificates(BENCH / "tls")
    rows: list[str] = []
    notes: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, body in PACKAGES.items():
            (Path(tmp) / name).mkdir()
            (Path(tmp) / name / "__init__.py").write_text(textwrap.dedent(body))
        for name in ("beaconpkg", "intervalpkg"):  # installed, so <version> is found
            info = Path(tmp) / f"{name}-1.4.2.dist-info"
            info.mkdir()
            (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\n"
                                           "Version: 1.4.2\n")
        base_env = fresh_env(tmp)
        base_env = {k: v for k, v in base_env.items() if not k.lower().endswith("_proxy")}
        base_env["PATHBEACON_CACHE_DIR"] = str(Path(tmp) / "cache")
        subprocess.run([str(PYTHON), "-m", "compileall", "-q", tmp], check=True, env=base_env)
        packages = ["barepkg", "floorpkg", "beaconpkg", "leanpkg", "scarfpkg"]
        has_scarf = subprocess.run([str(PYTHON), "-c", "import scarf"], env=base_env,
                                   capture_output=True).returncode == 0
        if not has_scarf:
            packages.remove("scarfpkg")
            notes.append("scarf-sdk: not installed in .bench/venv, its column is empty")

        def case(label: str, url: str, extra: dict[str, str], target: str,
                 collector: Collector | None) -> None:
            env = {**base_env, "BENCH_URL": url, **extra}
            for package in packages:  # warm the disk caches
                one_run(package, env)
            before = collector.counts() if collector else None
            got = measure(packages, env, runs)
            bare = got["barepkg"]
            added = {p: {k: got[p][k] - bare[k] for k in ("wall", "cpu")} for p in packages}
            arrived = "-"
            if collector and before is not None:
                after = collector.counts()
                arrived = ", ".join(f"{after.get(n, 0) - before.get(n, 0)}/{runs}"
                                    for n in ("floorpkg", "beaconpkg", "leanpkg", "scarf-sdk"))
            key_ = "wall" if "wall" in target else "cpu"

            def ratio(over: str) -> str:
                if over not in added or added[over][key_] <= 0:
                    return "-"
                return f"{added['beaconpkg'][key_] / added[over][key_]:.2f}"

            def adds(package: str) -> str:
                if package not in added:
                    return "-"
                return f"+{added[package]['wall']:.1f} / +{added[package]['cpu']:.1f}"

            rows.append(
                f"| {label} | {bare['wall']:.0f} / {bare['cpu']:.0f} | {adds('floorpkg')} | "
                f"{adds('beaconpkg')} | {adds('leanpkg')} | {adds('scarfpkg')} | "
                f"{ratio('floorpkg')} | {ratio('scarfpkg')} ({key_}) | {target} | {arrived} |")

        http = Collector()
        try:
            case("collector up, HTTP", http.url, {}, "cpu: <= 1.2 floor, <= 0.3 scarf", http)
        finally:
            http.close()
        https = Collector(cert, key)
        try:
            case("collector up, HTTPS", https.url,
                 {"SSL_CERT_FILE": str(bundle), "REQUESTS_CA_BUNDLE": str(bundle)},
                 "cpu: <= 1.2 floor, <= 0.45 scarf", https)
        finally:
            https.close()
        refused = Collector()
        refused.close()  # its port is now closed
        case("port refused", refused.url, {}, "wall: <= 0.5 scarf", None)

        if has_interval():
            http = Collector()
            try:
                env = {**base_env, "BENCH_URL": http.url}
                one_run("intervalpkg", env)  # sends, and writes the state file
                first = http.counts().get("intervalpkg", 0)
                got = measure(["barepkg", "intervalpkg"], env, runs)
                collector_gets = http.counts().get("intervalpkg", 0) - first
                wall = got["intervalpkg"]["wall"] - got["barepkg"]["wall"]
                cpu = got["intervalpkg"]["cpu"] - got["barepkg"]["cpu"]
                inner = (in_process_import("intervalpkg", env, runs)
                         - in_process_import("barepkg", env, runs))
                rows.append(f"| interval, recent state file | {got['barepkg']['wall']:.0f} / "
                            f"{got['barepkg']['cpu']:.0f} | - | {wall:+.1f} / {cpu:+.1f} "
                            f"(import alone: +{inner:.2f} ms) | - | - | - | - | < 2 ms wall | "
                            f"{collector_gets} sent (0 expected) |")
            finally:
                http.close()
        else:
            notes.append("interval: not measured, report_once() does not accept interval yet")
    version = subprocess.run([str(PYTHON), "-c", "import sys; print(sys.version.split()[0])"],
                             capture_output=True, text=True).stdout.strip()
    scarf = subprocess.run([str(PYTHON), "-c", "from importlib.metadata import version; "
                            "print('scarf-sdk ' + version('scarf-sdk'))"],
                           capture_output=True, text=True).stdout.strip() or "no scarf-sdk"
    load_after = os.getloadavg() if hasattr(os, "getloadavg") else None
    print(f"whole-process cost of `python -c \"import hostpkg\"` - Python {version}, "
          f"{scarf}, {os.cpu_count()} cores, load average {_load(load_before)} before and "
          f"{_load(load_after)} after, medians of {runs} interleaved runs, ms wall / ms CPU\n")
    print("| case | bare package | floor (http.client) adds | pathbeacon adds | "
          "without version look-up | scarf-sdk adds | pathbeacon / floor | "
          "pathbeacon / scarf-sdk | target | reports arrived (floor, pathbeacon, without "
          "look-up, scarf-sdk) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    for note in notes:
        print(f"\n{note}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
