"""Facts about the running platform, detected without subprocesses or personal data.

Each fact has a tiny probe; probes run on first use and their answers are cached for the
process. The normalisation tables are pure and kept apart from the probes that feed them.

    >>> sorted(detect())[:4]
    ['arch', 'ci', 'container', 'distro']

Never read or sent: host name, user name, paths, IP or MAC addresses, machine IDs.
"""

from __future__ import annotations

import os
import sys

from . import optout as _optout

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs milliseconds
if TYPE_CHECKING:
    from typing import Callable

__all__ = [
    "DESCRIPTIONS",
    "NAMES",
    "ci_provider",
    "container_kind",
    "detect",
    "get",
    "head",
    "is_development",
    "libc_from",
    "normalise_arch",
    "normalise_os",
    "package_version",
]

UNKNOWN = "unknown"
#: The most any probe reads of any one file (bytes).
READ_LIMIT = 64 * 1024
# A musl loader is scanned READ_LIMIT bytes at a time, this far at most.
MUSL_SCAN = 1 << 20
# The root that distro facts are read under (``None``: the real one); tests point it at a
# fake root to try hostile files.
DISTRO_ROOT: str | None = None

#: Raw machine names (lower-cased) and the architecture they normalise to.
ARCH_ALIASES = {
    "x86_64": "x86_64", "amd64": "x86_64", "x64": "x86_64", "em64t": "x86_64",
    "aarch64": "aarch64", "arm64": "aarch64", "aarch64_be": "aarch64",
    "i386": "i686", "i486": "i686", "i586": "i686", "i686": "i686", "x86": "i686",
}
#: ``sys.platform`` prefixes and the OS name they stand for.
OS_NAMES = (("linux", "linux"), ("darwin", "macos"), ("win32", "windows"), ("cygwin", "windows"))
#: Environment variables that name a CI provider (in :mod:`optout`, which the caller's thread
#: reads to know whether a first-run notice may be shown).
CI_VARIABLES = _optout.CI_VARIABLES

#: What each detected fact means, for people (used by ``pathbeacon explain``).
DESCRIPTIONS = {
    "language": "the programming language (always python)",
    "implementation": "the Python implementation, such as cpython or pypy",
    "python": "the Python version, such as 3.11.7",
    "python_minor": "the Python minor version, such as 3.11",
    "runtime": "the Python implementation and version, such as cpython-3.11.7",
    "os": "the operating system: linux, macos, windows or another lower-case name",
    "os_version": "the operating system's release (the kernel release on Linux)",
    "arch": "the processor architecture, normalised (x86_64, aarch64, i686, ...)",
    "machine": "the processor architecture as the OS names it",
    "distro": "the Linux distribution's ID from /etc/os-release (the OS name elsewhere)",
    "distro_version": "the Linux distribution's VERSION_ID (the OS release elsewhere)",
    "libc": "the C library and its version, such as glibc-2.36 or musl-1.2.4",
    "ci": "the CI provider running the code (github-actions, gitlab, ...) or none",
    "container": "the container runtime (docker, podman, kubernetes, other) or none",
    "version": "the installed version of the reporting package",
}


# ---- pure normalisation ---------------------------------------------------------------


def normalise_arch(machine: str) -> str:
    """``x86_64`` for x86_64/amd64/x64, ``aarch64`` for aarch64/arm64, ``i686`` for 32-bit x86.

        >>> normalise_arch("AMD64"), normalise_arch("arm64"), normalise_arch("riscv64")
        ('x86_64', 'aarch64', 'riscv64')
    """
    raw = machine.strip().lower()
    return ARCH_ALIASES.get(raw, raw) or UNKNOWN


def normalise_os(platform: str, sysname: str = "") -> str:
    """``linux``, ``macos`` or ``windows`` from ``sys.platform``; else the lower-case system name.

        >>> normalise_os("darwin"), normalise_os("freebsd14", "FreeBSD")
        ('macos', 'freebsd')
    """
    for prefix, name in OS_NAMES:
        if platform.startswith(prefix):
            return name
    return (sysname or platform).strip().lower() or UNKNOWN


def ci_provider(environ: dict[str, str] | os._Environ[str]) -> str:
    """The CI provider slug that the environment names, or ``none``.

        >>> ci_provider({"GITHUB_ACTIONS": "true"}), ci_provider({})
        ('github-actions', 'none')
    """
    return _optout.ci_provider(environ)


def container_kind(environ: dict[str, str] | os._Environ[str], markers: set[str],
                   cgroup: str) -> str:
    """Name the container runtime from env vars, marker files and ``/proc/1/cgroup`` text.

        >>> container_kind({}, {"/.dockerenv"}, ""), container_kind({}, set(), "")
        ('docker', 'none')
    """
    if "KUBERNETES_SERVICE_HOST" in environ or "kubepods" in cgroup:
        return "kubernetes"
    marker = environ.get("container", "").lower()
    if "/run/.containerenv" in markers or marker == "podman" or "libpod" in cgroup:
        return "podman"
    if "/.dockerenv" in markers or marker == "docker" or "docker" in cgroup:
        return "docker"
    if marker or "lxc" in cgroup or "containerd" in cgroup:
        return "other"
    return "none"


def libc_from(confstr: str | None, interpreter: str | None, musl_version: str | None) -> str:
    """``glibc-X.Y`` from ``CS_GNU_LIBC_VERSION``, ``musl-X.Y.Z`` from the ELF interpreter.

        >>> libc_from("glibc 2.36", None, None)
        'glibc-2.36'
        >>> libc_from(None, "/lib/ld-musl-x86_64.so.1", "1.2.4")
        'musl-1.2.4'
    """
    if confstr:
        name, _, version = confstr.partition(" ")
        return f"{name}-{version}" if version else name
    if interpreter and "musl" in interpreter:
        return f"musl-{musl_version or UNKNOWN}"
    return UNKNOWN


def python_version(info: tuple[int, int, int, str, int]) -> str:
    """PEP 440 spelling of a ``sys.version_info``-like tuple.

        >>> python_version((3, 13, 0, "candidate", 1)), python_version((3, 11, 7, "final", 0))
        ('3.13.0rc1', '3.11.7')
    """
    major, minor, micro, level, serial = info
    tag = {"alpha": "a", "beta": "b", "candidate": "rc"}.get(level)
    return f"{major}.{minor}.{micro}" + (f"{tag}{serial}" if tag else "")


# ---- tiny probes ----------------------------------------------------------------------


def _uname() -> tuple[str, str, str]:
    """(sysname, release, machine) without spawning anything."""
    if hasattr(os, "uname"):
        u = os.uname()
        return u.sysname, u.release, u.machine
    version = sys.getwindowsversion()  # type: ignore[attr-defined,unused-ignore]
    machine = os.environ.get("PROCESSOR_ARCHITEW6432") or os.environ.get(
        "PROCESSOR_ARCHITECTURE", ""
    )
    return "Windows", f"{version.major}.{version.minor}.{version.build}", machine


def _elf_interpreter(path: str) -> str | None:
    """The PT_INTERP path of an ELF file, reading only its first 4 KiB (like packaging)."""
    _load("struct")
    import struct

    try:
        with open(path, "rb") as stream:
            head = stream.read(4096)
    except OSError:
        return None
    if head[:4] != b"\x7fELF" or len(head) < 64:
        return None
    wide, endian = head[4] == 2, "<" if head[5] == 1 else ">"
    if wide:
        phoff, = struct.unpack_from(endian + "Q", head, 32)
        phentsize, phnum = struct.unpack_from(endian + "HH", head, 54)
    else:
        phoff, = struct.unpack_from(endian + "I", head, 28)
        phentsize, phnum = struct.unpack_from(endian + "HH", head, 42)
    for i in range(phnum):
        at = phoff + i * phentsize
        if at + phentsize > len(head):
            return None
        if struct.unpack_from(endian + "I", head, at)[0] != 3:  # PT_INTERP
            continue
        if wide:
            offset, = struct.unpack_from(endian + "Q", head, at + 8)
            size, = struct.unpack_from(endian + "Q", head, at + 32)
        else:
            offset, = struct.unpack_from(endian + "I", head, at + 4)
            size, = struct.unpack_from(endian + "I", head, at + 16)
        return head[offset : offset + size].rstrip(b"\0").decode("ascii", "replace")
    return None


def _musl_version(loader: str) -> str | None:
    """musl embeds its version as a plain string; look for it in the loader's first 1 MiB,
    64 KiB at a time, so memory stays bounded whatever the file."""
    _load("re")
    import re

    pattern = re.compile(rb"\x00(1\.[0-9]\.[0-9]{1,2})\x00")
    tail = b""
    try:
        with open(loader, "rb") as stream:
            for _ in range(MUSL_SCAN // READ_LIMIT):
                chunk = stream.read(READ_LIMIT)
                if not chunk:
                    break
                found = pattern.search(tail + chunk)
                if found:
                    return found.group(1).decode("ascii")
                tail = chunk[-16:]  # a version string split across two reads
    except OSError:
        return None
    return None


def _probe_libc() -> str:
    try:
        confstr = os.confstr("CS_GNU_LIBC_VERSION")
    except (AttributeError, ValueError, OSError):
        confstr = None
    if confstr:
        return libc_from(confstr, None, None)
    if not sys.platform.startswith("linux"):
        return UNKNOWN
    interpreter = _elf_interpreter(sys.executable)
    musl = _musl_version(interpreter) if interpreter and "musl" in interpreter else None
    return libc_from(None, interpreter, musl)


def _probe_os_version() -> str:
    if sys.platform == "darwin":
        _load("platform")
        import platform

        return platform.mac_ver()[0] or _uname()[1]
    return _uname()[1]


def head(path: str, limit: int | None = None) -> str | None:
    """At most ``limit`` (default :data:`READ_LIMIT`) bytes of a regular text file, decoded
    as UTF-8 (bad bytes replaced); ``None`` if it cannot be read or is not a regular file.
    Opened without blocking: a FIFO planted there costs nothing. A 200 MB file costs what
    64 KiB do.

        >>> head("/surely/not/a/file") is None
        True
    """
    import stat

    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except (OSError, ValueError):
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        want = READ_LIMIT if limit is None else limit
        chunks: list[bytes] = []
        while want > 0:  # /proc files answer in pieces
            chunk = os.read(fd, want)
            if not chunk:
                break
            chunks.append(chunk)
            want -= len(chunk)
    except OSError:
        return None
    finally:
        os.close(fd)
    return b"".join(chunks).decode("utf-8", "replace")


def _load(name: str) -> None:
    """Import ``name`` holding forks off until it is complete (a fork must never copy a
    half-imported module), and nothing else: probes that read files run without it."""
    if name not in sys.modules:
        from pathbeacon.guard import importing

        with importing():
            __import__(name)


def _first_line(path: str) -> str:
    return (head(path) or "").split("\n", 1)[0]


def _os_release(root: str) -> dict[str, str] | None:
    """The fields of an os-release file in its plain form (every line
    ``KEY=value``, the value quoted without escapes, or bare without spaces), read as
    distro reads it; ``None`` for anything else, which distro itself then parses. Spares a short
    program distro's imports (logging, subprocess, argparse, json: about 10 ms).

        >>> _os_release("/nonexistent") is None
        True
    """
    for name in ("etc/os-release", "usr/lib/os-release"):
        text = head(os.path.join(root, name))
        if text is not None:
            break
    else:
        return None
    plain = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._+-/:,()"
    found: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, equals, value = line.partition("=")
        if not equals or not key.isidentifier():
            return None
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]  # quoted: spaces are literal, but no quote, escape or $
            if any(mark in value for mark in "\"'\\$`"):
                return None
        elif value.strip(plain):
            return None  # bare, with spaces or shell syntax: shell rules, distro's to read
        found[key.lower()] = value
    return found if found.get("id") else None


def _probe_distro(part: int) -> str:
    if not sys.platform.startswith("linux"):
        return get(("os", "os_version")[part])
    fast = _os_release(DISTRO_ROOT or "/")
    if fast is not None:  # as distro.id() and distro.version() read os-release
        distro_id = fast["id"].lower().replace(" ", "_")
        distro_id = {"ol": "oracle", "opensuse-leap": "opensuse"}.get(distro_id, distro_id)
        _cache.setdefault("distro", distro_id)
        if fast.get("version_id"):
            _cache.setdefault("distro_version", fast["version_id"])
        if part == 0 or fast.get("version_id"):
            return _cache[("distro", "distro_version")[part]]
        # no VERSION_ID (Arch, Debian testing): distro looks in other files for a version
    _load("io")
    import io

    _load("distro")
    import distro

    class Bounded(distro.LinuxDistribution):
        """distro's parsing over text read here, at most READ_LIMIT bytes of each file:
        distro itself reads whole files (a 200 MB os-release took 400 MB and 20 s)."""

        def __init__(self) -> None:
            # lsb_release, uname and oslevel would each spawn a subprocess: turned off.
            if DISTRO_ROOT is None:
                super().__init__(include_lsb=False, include_uname=False, include_oslevel=False)
            else:
                super().__init__(include_lsb=False, include_uname=False, include_oslevel=False,
                                 root_dir=DISTRO_ROOT)
            # distro caches each source in the instance's __dict__ on first use: filled here
            # from bounded reads, the files are never opened by distro.
            text = head(self.os_release_file) or ""
            self.__dict__["_os_release_info"] = self._parse_os_release_content(io.StringIO(text))
            self.__dict__["_debian_version"] = _first_line(
                os.path.join(self.etc_dir, "debian_version")).rstrip()

        def _parse_distro_release_file(self, filepath: str) -> dict[str, str]:
            return self._parse_distro_release_content(_first_line(filepath))

    info = Bounded()
    _cache.setdefault("distro", info.id() or UNKNOWN)
    _cache.setdefault("distro_version", info.version() or UNKNOWN)
    return _cache[("distro", "distro_version")[part]]


def _probe_container() -> str:
    markers = {path for path in ("/.dockerenv", "/run/.containerenv") if os.path.exists(path)}
    cgroup = head("/proc/1/cgroup", 8192) or ""
    return container_kind(os.environ, markers, cgroup)


def _python() -> str:
    return python_version(tuple(sys.version_info))  # type: ignore[arg-type]


_PROBES: dict[str, Callable[[], str]] = {
    "language": lambda: "python",
    "implementation": lambda: sys.implementation.name,
    "python": _python,
    "python_minor": lambda: "{}.{}".format(*sys.version_info[:2]),
    "runtime": lambda: f"{sys.implementation.name}-{_python()}",
    "os": lambda: normalise_os(sys.platform, _uname()[0]),
    "os_version": _probe_os_version,
    "arch": lambda: normalise_arch(_uname()[2]),
    "machine": lambda: _uname()[2] or UNKNOWN,
    "distro": lambda: _probe_distro(0),
    "distro_version": lambda: _probe_distro(1),
    "libc": _probe_libc,
    "ci": lambda: ci_provider(os.environ),
    "container": _probe_container,
}
#: Names of the facts :func:`detect` returns.
NAMES = tuple(_PROBES)

_cache: dict[str, str] = {}
# Facts that can change while a process runs are read afresh at every call.
_LIVE = frozenset({"ci"})


def get(name: str) -> str:
    """One detected fact by name (cached), ``unknown`` if it cannot be found.

        >>> get("language")
        'python'
    """
    if name in _LIVE:
        return _PROBES[name]()
    value = _cache.get(name)
    if value is None:
        probe = _PROBES.get(name)
        try:
            value = (probe() if probe else "") or UNKNOWN
        except Exception:  # a probe must never break the host
            value = UNKNOWN
        _cache[name] = value
    return value


def detect(package: str | None = None) -> dict[str, str]:
    """Every detected fact, as a new dict of non-empty strings; with ``package``, also its
    installed ``version``.

        >>> detect()["language"], detect("surely-not-installed-xyz")["version"]
        ('python', 'unknown')
    """
    facts = {name: get(name) for name in NAMES}
    if package:
        facts["version"] = package_version(package)
    return facts


def package_version(package: str) -> str:
    """The installed version of distribution ``package``, PEP 440-normalised, or ``unknown``.

        >>> package_version("surely-not-installed-xyz")
        'unknown'
    """
    try:
        folder = _dist_info(package)
        if folder is not None:
            raw = _metadata_version(folder)
        else:  # eggs, zip files, custom finders: importlib.metadata knows them all
            _load("importlib.metadata")
            from importlib import metadata

            raw = _metadata_version(metadata.distribution(package))
    except Exception:  # not installed, or broken metadata
        return UNKNOWN
    if not raw:
        return UNKNOWN
    if _canonical(raw):  # the common case needs no parsing, hence no packaging import
        return raw
    _load("packaging.version")
    from packaging.version import InvalidVersion, Version

    try:
        return str(Version(raw))
    except InvalidVersion:
        return raw


def _normal_name(name: str) -> str:
    """A distribution name as metadata folders spell it, for comparing (PEP 503 runs of
    ``-_.`` as one ``_``, lower case)."""
    out: list[str] = []
    for ch in name.lower():
        if ch in "-_.":
            if not out or out[-1] != "_":
                out.append("_")
        else:
            out.append(ch)
    return "".join(out)


def _dist_info(package: str) -> str | None:
    """The ``<name>-<version>.dist-info`` folder of ``package`` in the first ``sys.path``
    folder that holds one, as importlib.metadata's path finder would find it, but without
    importing it (with ``email``, ``zipfile`` and ``csv``, about 10 ms of a short program's
    CPU); ``None`` when a plain folder scan cannot tell, to ask importlib.metadata."""
    want = _normal_name(package)
    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            if entry and os.path.isfile(entry):
                return None  # a zip file on the path: importlib.metadata reads those
            continue
        for name in names:
            stem, dot, kind = name.rpartition(".")
            if dot and kind in ("dist-info", "egg-info") and \
                    _normal_name(stem.split("-", 1)[0]) == want:
                path = os.path.join(entry or ".", name)
                return path if os.path.isdir(path) else None
    return None


def _metadata_version(found: object) -> str | None:
    """The ``Version`` header of a distribution's metadata (a folder path, or an
    importlib.metadata distribution), reading at most READ_LIMIT bytes of it
    (``importlib.metadata`` would parse the whole file, long description and all); through
    ``importlib.metadata`` itself where the metadata is not a plain file."""
    folder = found if isinstance(found, str) else getattr(found, "_path", None)
    if folder is not None:
        for name in ("METADATA", "PKG-INFO"):
            text = head(os.path.join(str(folder), name))
            if text is not None:
                for line in text.splitlines():
                    if not line.strip():
                        break  # the headers end at the first blank line
                    key, colon, value = line.partition(":")
                    if colon and key.strip().lower() == "version":
                        return value.strip()
                return None
    return str(getattr(found, "version", "") or "") or None


def _canonical(version: str) -> bool:
    """Whether ``version`` is plain dotted digits already in PEP 440 normal form (``1.4.2``).

        >>> _canonical("1.4.2"), _canonical("01.2"), _canonical("1.0rc1")
        (True, False, False)
    """
    return all(part.isdigit() and part.isascii() and (part == "0" or part[0] != "0")
               for part in version.split("."))


def is_development(version: str) -> bool:
    """Whether ``version`` is a PEP 440 dev release or carries a local label.

        >>> is_development("1.2.dev3"), is_development("1.2+g1234"), is_development("1.2")
        (True, True, False)
    """
    if "dev" not in version.lower() and "+" not in version:
        return False  # neither can be: no need to import packaging
    _load("packaging.version")
    from packaging.version import InvalidVersion, Version

    try:
        parsed = Version(version)
    except InvalidVersion:
        return False
    return parsed.is_devrelease or parsed.local is not None
