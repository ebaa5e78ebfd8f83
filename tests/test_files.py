"""pathbeacon.files: the one safe way every state, consent and output file is touched."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from pathbeacon import files
from pathbeacon.errors import OutputError

posix_only = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs POSIX FIFOs")


@posix_only
def test_a_fifo_without_a_writer_is_refused_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "state"
    os.mkfifo(fifo)
    link = tmp_path / "link"
    link.symlink_to(fifo)
    for path in (fifo, link):
        # In a fresh interpreter with an alarm: a blocking open would hang the test run.
        code = (
            "import signal, sys; signal.alarm(5)\n"
            "from pathbeacon import files\n"
            "try:\n    files.read(sys.argv[1], 64)\n"
            "except OSError as e:\n    print(e.strerror)\n"
        )
        out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True,
                             text=True, timeout=30)
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == "not a regular file"


def test_devices_directories_and_huge_files_are_refused(tmp_path: Path) -> None:
    huge = tmp_path / "huge"
    huge.write_bytes(b"1" * 100)
    with pytest.raises(OSError, match="larger than 64 bytes"):
        files.read(str(huge), 64)
    with pytest.raises(OSError, match="not a regular file"):
        files.read(str(tmp_path), 64)
    if os.path.exists("/dev/zero"):
        with pytest.raises(OSError, match="not a regular file"):
            files.read("/dev/zero", 64)
    assert files.read(str(tmp_path / "missing"), 64) is None
    assert files.read(str(huge / "below-a-file"), 64) is None  # ENOTDIR: no such file


def test_a_link_to_a_regular_file_is_read(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.write_bytes(b"off\n")
    (tmp_path / "link").symlink_to(real)
    assert files.read(str(tmp_path / "link"), 64) == b"off\n"


def test_replace_never_writes_through_a_planted_link(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious")
    target = tmp_path / "cache" / "state"
    target.parent.mkdir()
    target.symlink_to(victim)
    files.replace(str(target), b"123\n")
    assert victim.read_text() == "precious"
    assert not target.is_symlink() and target.read_bytes() == b"123\n"
    assert oct(target.stat().st_mode & 0o777) == oct(0o600)
    assert sorted(p.name for p in target.parent.iterdir()) == ["state"]  # no temporary left


def test_replace_makes_an_owner_only_folder(tmp_path: Path) -> None:
    target = tmp_path / "new" / "deeper" / "state"
    files.replace(str(target), b"x")
    assert target.parent.stat().st_mode & 0o077 == 0


def test_create_is_exclusive_and_whole_under_racing_threads(tmp_path: Path) -> None:
    target = str(tmp_path / "claim")
    wins: list[bool] = []
    barrier = threading.Barrier(16)

    def claim() -> None:
        barrier.wait()
        wins.append(files.create(target, b"mine\n"))

    threads = [threading.Thread(target=claim) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert wins.count(True) == 1
    assert Path(target).read_bytes() == b"mine\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["claim"]


def test_create_refuses_a_dangling_link(tmp_path: Path) -> None:
    target = tmp_path / "claim"
    target.symlink_to(tmp_path / "elsewhere")
    assert files.create(str(target), b"x") is False
    assert not (tmp_path / "elsewhere").exists()


def test_append_refuses_links_and_fifos(tmp_path: Path) -> None:
    log = tmp_path / "log"
    assert files.append(str(log), b"a\n") == 2
    assert files.append(str(log), b"b\n") == 4
    assert log.read_bytes() == b"a\nb\n"
    victim = tmp_path / "victim"
    victim.write_text("precious")
    (tmp_path / "link").symlink_to(victim)
    with pytest.raises(OSError):
        files.append(str(tmp_path / "link"), b"x")
    assert victim.read_text() == "precious"
    if hasattr(os, "mkfifo"):
        os.mkfifo(tmp_path / "fifo")
        with pytest.raises(OSError):  # ENXIO: no reader, and O_NONBLOCK never waits for one
            files.append(str(tmp_path / "fifo"), b"x")


def test_atomic_file_keeps_the_old_file_when_the_block_fails(tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    page.write_text("good")
    with pytest.raises(RuntimeError), files.AtomicFile(str(page)) as out:
        out.write("half")
        raise RuntimeError("interrupted")
    assert page.read_text() == "good"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["page.html"]


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_failed_write_is_an_output_error_naming_the_file(tmp_path: Path) -> None:
    # A full disk, simulated where it really happens: the write to the file's descriptor.
    page = tmp_path / "page.html"
    page.write_text("good")
    with pytest.raises(OutputError, match=r"cannot write .*page\.html: No space left"), \
            files.AtomicFile(str(page)) as out:
        full = os.open("/dev/full", os.O_WRONLY)
        os.dup2(full, out.fileno())
        os.close(full)
        out.write("x" * 100_000)
    assert page.read_text() == "good"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["page.html"]


def test_a_missing_folder_is_one_output_error(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="no such folder"), \
            files.AtomicFile(str(tmp_path / "nope" / "x.html")):
        pass
