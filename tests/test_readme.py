"""Every code block and shell command in the README runs as written.

The rule, for anyone adding to the README:

- Fenced blocks run **in order, in one temporary directory per README**, so an earlier
  block may create files that a later one uses.
- ```` ```python ```` / ```` ```pycon ````: a block with ``>>>`` prompts is a doctest (outputs
  must match, whitespace normalised). A block whose first line is a comment naming a file
  (``# acme/__init__.py``, ``# conftest.py of your package``) is written to that file
  instead, and a later ``# other_file.py`` comment line after a blank line starts the next
  file. Any other Python block runs as a script (``python block.py``).
- ```` ```bash ```` / ```` ```sh ````: the block runs as one script under ``bash -euo
  pipefail``, so every command must succeed. ```` ```console ````: the lines after ``$ `` are
  the commands (the other lines are their output, not compared).
- ``pip install`` lines are set-up, skipped by rule: CI installs the package and the test
  tools itself (``.ci/run``), and runs the test suite.
- Blocks tagged ``text``, ``toml``, ``json``, ``html``, ``markdown`` or ``log`` are shown,
  not run. An untagged block fails this test: say what it is.
- A block of any tag with ``<!-- readme-test: file: access.log -->`` on the line right above
  it is written to that file (relative to the directory) instead, for a later command to
  read: sample logs, configuration files.
- Anything else is excluded only by a marker comment with a reason on the line right above
  the block: ``<!-- readme-test: skip: builds a venv from PyPI -->``. Use it sparingly.

Commands find this environment's ``pathbeacon`` and ``python`` first on ``PATH``. Nothing
leaves the machine: ``HTTP_PROXY``/``HTTPS_PROXY`` point at a closed loopback port, so a
report to a real gateway fails fast instead of being sent (loopback itself is reachable),
and the interval state lives in the temporary directory.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import pytest

from .conftest import ROOT, clean_env

READMES = [ROOT / "README.md", ROOT / "docs" / "maintainers.md"]
RUN = {"python", "py", "pycon", "bash", "sh", "shell", "console"}
SHOWN = {"text", "toml", "json", "html", "markdown", "md", "log"}
SKIP_MARKER = re.compile(r"<!--\s*readme-test:\s*skip:\s*(?P<reason>\S.*?)\s*-->")
FILE_MARKER = re.compile(r"<!--\s*readme-test:\s*file:\s*(?P<path>[\w./-]+)\s*-->")
FILE_HEADER = re.compile(r"#\s+(?P<path>[\w./-]+\.\w+)(?:\s.*)?$")
PIP_INSTALL = re.compile(r"^\s*(?:python3?\s+-m\s+)?pip\s+install\b")


class Block(NamedTuple):
    line: int  # 1-based line of the opening fence
    lang: str
    text: str
    skip: str  # the marker's reason, or ""
    file: str = ""  # where a file marker says to write the block, or ""


def blocks(markdown: str) -> list[Block]:
    """The fenced blocks of ``markdown`` (``` or ~~~ fences, any indentation), in order."""
    found: list[Block] = []
    lines = markdown.splitlines()
    i = 0
    while i < len(lines):
        opening = re.match(r"^(\s*)(`{3,}|~{3,})\s*([\w+-]*)", lines[i])
        if not opening:
            i += 1
            continue
        indent, fence, lang = opening.groups()
        previous = next((lines[j] for j in range(i - 1, -1, -1) if lines[j].strip()), "")
        marker = SKIP_MARKER.search(previous)
        file_marker = FILE_MARKER.search(previous)
        body: list[str] = []
        j = i + 1
        while j < len(lines) and not lines[j].strip().startswith(fence):
            body.append(lines[j][len(indent):] if lines[j].startswith(indent) else lines[j])
            j += 1
        found.append(Block(i + 1, lang.lower(), "\n".join(body) + "\n",
                           marker.group("reason") if marker else "",
                           file_marker.group("path") if file_marker else ""))
        i = j + 1
    return found


def files_in(text: str) -> dict[str, str] | None:
    """The files a Python block stands for, or ``None`` when it is a script."""
    lines = text.splitlines()
    if not lines or not FILE_HEADER.match(lines[0]):
        return None
    files: dict[str, str] = {}
    current: list[str] = []
    name = ""
    for k, line in enumerate(lines):
        header = FILE_HEADER.match(line)
        if header and (k == 0 or not lines[k - 1].strip()):
            if name:
                files[name] = "\n".join(current).strip("\n") + "\n"
            name, current = header.group("path"), []
            continue
        current.append(line)
    files[name] = "\n".join(current).strip("\n") + "\n"
    return files


def shell_script(block: Block) -> str:
    """The commands of a shell block, ``pip install`` lines left out (set-up)."""
    text = block.text
    if block.lang == "console":
        commands = []
        lines = text.splitlines()
        k = 0
        while k < len(lines):
            if lines[k].startswith("$ "):
                command = lines[k][2:]
                while command.endswith("\\") and k + 1 < len(lines):
                    k += 1
                    command += "\n" + lines[k]
                commands.append(command)
            k += 1
        text = "\n".join(commands) + "\n"
    kept: list[str] = []
    skipping = False
    for line in text.splitlines():
        if skipping or PIP_INSTALL.match(line):
            skipping = line.rstrip().endswith("\\")  # a continued pip line stays skipped
            continue
        kept.append(line)
    return "\n".join(kept) + "\n"


def _closed_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def _environment(workdir: Path) -> dict[str, str]:
    bin_dir = str(Path(sys.executable).parent)
    proxy = f"http://127.0.0.1:{_closed_port()}"
    return clean_env(
        PATH=os.pathsep.join([bin_dir, os.environ.get("PATH", "")]),
        HTTP_PROXY=proxy, HTTPS_PROXY=proxy, http_proxy=proxy, https_proxy=proxy,
        NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost",
        PATHBEACON_CACHE_DIR=str(workdir / ".cache"), XDG_CACHE_HOME=str(workdir / ".cache"),
        PYTHONDONTWRITEBYTECODE="1",
    )


def run_block(block: Block, workdir: Path, env: dict[str, str]) -> str:
    """Run one block; return a description of the failure, or ``""``."""
    where = f"README line {block.line} ({block.lang})"
    if block.file:
        path = workdir / block.file
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(block.text, encoding="utf-8")
        return ""
    if block.lang in ("python", "py", "pycon"):
        if re.search(r"^\s*>>> ", block.text, re.M):
            (workdir / ".block.txt").write_text(block.text, encoding="utf-8")
            argv = [sys.executable, "-m", "doctest", "-o", "NORMALIZE_WHITESPACE", ".block.txt"]
        else:
            files = files_in(block.text)
            if files is not None:
                for name, content in files.items():
                    path = workdir / name
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_text(content, encoding="utf-8")
                return ""
            (workdir / ".block.py").write_text(block.text, encoding="utf-8")
            argv = [sys.executable, ".block.py"]
    else:
        argv = ["bash", "-euo", "pipefail", "-c", shell_script(block)]
    result = subprocess.run(argv, cwd=workdir, env=env, capture_output=True, text=True,
                            timeout=300)
    if result.returncode != 0:
        return (f"{where} exited {result.returncode}\n--- block ---\n{block.text}"
                f"--- stdout ---\n{result.stdout[-3000:]}\n--- stderr ---\n{result.stderr[-3000:]}")
    return ""


@pytest.mark.parametrize("readme", READMES, ids=lambda p: p.name)
def test_every_block_runs_as_written(readme: Path, tmp_path: Path) -> None:
    # The README documents the full install, receiving side included (on PyPy, whose
    # environment has the beacon side only, this test skips).
    for module in ("duckdb", "matplotlib", "markdown_it"):
        pytest.importorskip(module)
    env = _environment(tmp_path)
    ran = 0
    for block in blocks(readme.read_text(encoding="utf-8")):
        assert block.lang, f"README line {block.line}: tag the block (```text, ```bash, ...)"
        assert block.lang in RUN | SHOWN, f"README line {block.line}: unknown tag {block.lang}"
        if (block.lang in SHOWN and not block.file) or block.skip:
            continue
        failure = run_block(block, tmp_path, env)
        assert not failure, failure
        ran += 1
    assert ran >= 5  # the README's blocks were found and run


# ---- the mechanism itself --------------------------------------------------------------

SAMPLE = '''
Intro.

```bash
pip install . && pathbeacon demo
pathbeacon render risingwave base=https://g.example \\
    version=1 os=linux
```

<!-- readme-test: skip: talks to PyPI -->
```bash
pip download scarf-sdk
```

  ```python
  # pkg/__init__.py
  X = 1

  # test_pkg.py
  import pkg
  ```

```console
$ pathbeacon render risingwave base=https://g.example version=1 os=linux
https://g.example/telemetry/1/linux
```

```text
shown only
```

<!-- readme-test: file: logs/access.log -->
```log
GET /t/acme/linux
```
'''


def test_blocks_are_found_with_their_tags_markers_and_lines() -> None:
    found = blocks(SAMPLE)
    assert [(b.lang, bool(b.skip)) for b in found] == [
        ("bash", False), ("bash", True), ("python", False), ("console", False), ("text", False),
        ("log", False)]
    assert found[0].line == 4 and found[1].skip == "talks to PyPI"
    assert found[2].text.startswith("# pkg/__init__.py\nX = 1\n")  # indentation removed


def test_pip_install_lines_are_set_up_and_other_lines_run() -> None:
    script = shell_script(blocks(SAMPLE)[0])
    assert "pip" not in script and "demo" not in script
    assert script == "pathbeacon render risingwave base=https://g.example \\\n    version=1 os=linux\n"


def test_a_python_block_can_stand_for_several_files() -> None:
    assert files_in(blocks(SAMPLE)[2].text) == {"pkg/__init__.py": "X = 1\n",
                                                "test_pkg.py": "import pkg\n"}
    assert files_in("import pathbeacon\n") is None


def test_console_blocks_run_their_dollar_lines_only() -> None:
    assert shell_script(blocks(SAMPLE)[3]) == \
        "pathbeacon render risingwave base=https://g.example version=1 os=linux\n"


def test_a_failing_command_fails_the_readme(tmp_path: Path) -> None:
    block = Block(1, "bash", "pathbeacon render '<base>/<OS>' base=https://g.example\n", "")
    failure = run_block(block, tmp_path, _environment(tmp_path))
    assert "exited 2" in failure and "bad placeholder name" in failure
    doctest_block = Block(1, "python", ">>> 1 + 1\n3\n", "")
    assert "exited 1" in run_block(doctest_block, tmp_path, _environment(tmp_path))


def test_a_file_marker_writes_the_block_for_later_commands(tmp_path: Path) -> None:
    log = blocks(SAMPLE)[-1]
    assert log.file == "logs/access.log"
    assert run_block(log, tmp_path, _environment(tmp_path)) == ""
    assert (tmp_path / "logs" / "access.log").read_text() == "GET /t/acme/linux\n"
    reader = Block(1, "bash", "grep -q acme logs/access.log\n", "")
    assert run_block(reader, tmp_path, _environment(tmp_path)) == ""
