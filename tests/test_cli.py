"""The command line, run as a real subprocess."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import pathbeacon

from .conftest import Collector, clean_env, run_cli


def test_render_prints_the_url() -> None:
    result = run_cli("render", "sedona", "base=https://example.gateway.scarf.sh/packages",
                     "engine=spark")
    assert result.returncode == 0, result.stderr
    url = result.stdout.strip()
    assert url.startswith("https://example.gateway.scarf.sh/packages/python/spark/")
    assert pathbeacon.parse("sedona", url)["engine"] == "spark"


def test_parse_prints_a_table_or_json() -> None:
    url = "https://g.example/p/python/spark/x86_64/Mac_OS_X/cpython-3.11.7"
    table = run_cli("parse", "sedona", url)
    assert table.returncode == 0
    assert any(line.split() == ["os", "Mac_OS_X"] for line in table.stdout.splitlines())
    as_json = run_cli("parse", "sedona", url, "--json")
    assert json.loads(as_json.stdout)["base"] == "https://g.example/p"


def test_facts_prints_a_table_and_json() -> None:
    as_json = run_cli("facts", "--json")
    facts = json.loads(as_json.stdout)
    assert facts["language"] == "python"
    table = run_cli("facts")
    assert any(line.split() == ["language", "python"] for line in table.stdout.splitlines())


def test_templates_lists_names_descriptions_and_texts() -> None:
    out = run_cli("templates").stdout
    for name in ("sedona", "risingwave", "scarf-pixel", "default"):
        assert name in out
    assert "<base>/<language>/<engine>/<arch>/<os>/<runtime>" in out


def test_templates_is_an_aligned_table() -> None:
    from pathbeacon.catalogue import entries

    lines = run_cli("templates").stdout.splitlines()
    assert lines[0].split() == ["NAME", "TEMPLATE", "DESCRIPTION"]
    assert len(lines) == 1 + len(entries())
    template_column = lines[0].index("TEMPLATE")
    description_column = lines[0].index("DESCRIPTION")
    for line, entry in zip(lines[1:], entries()):
        assert line.startswith(entry.name + " ")
        assert line[template_column:].startswith(entry.text + " ")
        assert line[description_column:] == entry.description


def test_templates_json() -> None:
    from pathbeacon.catalogue import entries

    result = run_cli("templates", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [
        {"name": e.name, "template": e.text, "description": e.description,
         "facts": list(e.facts)} for e in entries()
    ]


def test_facts_package_adds_its_version() -> None:
    result = run_cli("facts", "--package", "pathbeacon", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["version"] == pathbeacon.__version__
    missing = json.loads(run_cli("facts", "--json", "--package", "surely-not-installed").stdout)
    assert missing["version"] == "unknown"
    assert "version" not in json.loads(run_cli("facts", "--json").stdout)


@pytest.mark.parametrize(
    "args",
    [
        ("render", "<base>/<OS>", "base=https://g.example"),
        ("render", "sedona"),  # no base
        ("render", "no-such-template"),
        ("render", "sedona", "not-a-pair"),
        ("parse", "sedona", "https://g.example/too/short"),
        ("frobnicate",),
    ],
)
def test_errors_exit_2_with_a_clear_line_and_no_traceback(args: tuple[str, ...]) -> None:
    result = run_cli(*args)
    assert result.returncode == 2
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("pathbeacon: error: ")
    assert all(line.startswith("  ") for line in result.stderr.splitlines()[1:])  # carets


def test_caret_line_follows_a_template_error() -> None:
    result = run_cli("render", "<base>/<OS>", "base=https://g.example")
    lines = result.stderr.splitlines()
    assert lines[0].startswith("pathbeacon: error: bad placeholder name 'OS'")
    assert lines[-1].strip() == "^" and lines[-1].index("^") == lines[-2].index("<OS>")


def test_console_script_is_installed() -> None:
    beside = Path(sys.executable).with_name("pathbeacon")
    exe = str(beside) if beside.exists() else shutil.which("pathbeacon")
    if exe is None:
        pytest.skip("console script not installed beside this Python")
    result = subprocess.run([exe, "render", "risingwave", "base=https://g.example"],
                            capture_output=True, text=True, env=clean_env(), timeout=60)
    assert result.returncode == 0 and "/telemetry/" in result.stdout


def test_send_delivers_and_exits_0(collector: Collector) -> None:
    result = run_cli("send", "<base>/<os>/<engine>", f"base={collector.url}/t", "engine=spark")
    assert result.returncode == 0, result.stderr
    url, outcome = result.stdout.splitlines()
    assert outcome.startswith("sent")
    (request,) = collector.settle(0.3)
    assert url == collector.url + request.path and request.path.endswith("/spark")


def test_send_failure_exits_1(refused: str) -> None:
    result = run_cli("send", "<base>/<os>", f"base={refused}", "--timeout", "1")
    assert result.returncode == 1
    assert result.stdout.splitlines()[1].startswith("failed")


def test_send_dry_run_and_opt_out_exit_0_and_send_nothing(collector: Collector) -> None:
    dry = run_cli("send", "<base>/<os>", f"base={collector.url}", "--dry-run")
    assert dry.returncode == 0 and dry.stdout.splitlines()[1] == "dry_run"
    off = run_cli("send", "<base>/<os>", f"base={collector.url}", env=clean_env(DO_NOT_TRACK="1"))
    assert off.returncode == 0 and off.stdout.splitlines()[1].startswith("disabled")
    assert collector.settle(0.3) == []


@pytest.mark.parametrize("args", [
    ("send", "<base>/<OS>", "base=http://127.0.0.1:9"),
    ("send", "<base>/<os>"),
    ("send", "<base>/<os>", "base=http://127.0.0.1:9", "--timeout", "0"),
    ("send", "<base>/<os>", "base=http://127.0.0.1:9", "--timeout", "soon"),
])
def test_send_usage_errors_exit_2(args: tuple[str, ...]) -> None:
    result = run_cli(*args)
    assert result.returncode == 2 and "Traceback" not in result.stderr


def test_closed_pipe_is_not_a_traceback() -> None:
    process = subprocess.Popen([sys.executable, "-m", "pathbeacon", "templates"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=clean_env())
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()  # the reader is gone before anything is written
    assert b"Traceback" not in process.stderr.read()
    process.wait(timeout=60)


# ---- options anywhere, names checked, outcomes on the right stream ---------------------


@pytest.mark.parametrize("args", [
    ("pixel", "abc", "--markdown", "page=readme"),
    ("pixel", "--markdown", "abc", "page=readme"),
    ("pixel", "abc", "page=readme", "--markdown"),
])
def test_options_stand_anywhere_among_pixel_pairs(args: tuple[str, ...]) -> None:
    result = run_cli(*args)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "![](https://static.scarf.sh/a.png?x-pxid=abc&page=readme)\n"


def test_options_stand_anywhere_among_send_pairs(collector: Collector) -> None:
    for args in (("--dry-run", f"base={collector.url}", "engine=x"),
                 (f"base={collector.url}", "--dry-run", "engine=x"),
                 (f"base={collector.url}", "engine=x", "--json", "--dry-run")):
        result = run_cli("send", "<base>/<engine>", *args)
        assert result.returncode == 0, result.stderr
        assert f"{collector.url}/x" in result.stdout and "dry_run" in result.stdout
    assert collector.settle(0.3) == []


def test_options_stand_anywhere_among_urls_and_explain_pairs() -> None:
    urls = run_cli("urls", "<base>/<os>", "--json", "base=https://g.example", "os=a,b")
    assert json.loads(urls.stdout) == ["https://g.example/a", "https://g.example/b"]
    notice = run_cli("explain", "default", "base=https://g.example", "--interval", "1d",
                     "package=acme")
    assert notice.returncode == 0, notice.stderr
    assert "at most once a day" in notice.stdout and "ACME_NO_ANALYTICS" in notice.stdout


@pytest.mark.parametrize("command", ["render", "send", "explain", "urls"])
def test_a_misspelt_name_is_a_usage_error_with_a_suggestion(command: str) -> None:
    result = run_cli(command, "default", "base=https://g.example", "pakage=acme")
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith("pathbeacon: error: unknown name 'pakage'")
    assert "did you mean 'package'?" in result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_known_facts_the_template_ignores_are_fine() -> None:
    result = run_cli("render", "risingwave", "base=https://g.example", "version=1",
                     "os=linux", "arch=x86_64", "package=acme", "libc=musl")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "https://g.example/telemetry/1/linux\n"
    custom = run_cli("render", "<base>/<flavour>", "base=https://g.example", "flavour=mint")
    assert custom.stdout == "https://g.example/mint\n"


def test_unrelated_unknown_name_has_no_suggestion() -> None:
    result = run_cli("render", "<base>/<os>", "base=https://g.example", "zzzzzz=1")
    assert result.returncode == 2 and "unknown name 'zzzzzz'" in result.stderr
    assert "did you mean" not in result.stderr


def test_send_json_outcome(collector: Collector) -> None:
    result = run_cli("send", "<base>/<os>", f"base={collector.url}/t", "--json")
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout)
    (request,) = collector.settle(0.3)
    assert set(outcome) == {"url", "status", "reason"}
    assert outcome["url"] == collector.url + request.path and outcome["status"] == "sent"
    assert result.stderr == ""  # nothing went wrong, so nothing to say there


def test_send_failure_reason_goes_to_stderr(refused: str) -> None:
    result = run_cli("send", "<base>/<os>", f"base={refused}", "--timeout", "1", "--json")
    assert result.returncode == 1
    outcome = json.loads(result.stdout)
    assert outcome["status"] == "failed" and outcome["reason"]
    assert result.stderr.startswith("pathbeacon: failed: ")
    text = run_cli("send", "<base>/<os>", f"base={refused}", "--timeout", "1")
    assert text.stdout.splitlines()[1] == "failed"  # the result; the reason is on stderr
    assert text.stderr.startswith("pathbeacon: failed: ") and "Traceback" not in text.stderr


def test_opted_out_send_says_why_on_stderr(collector: Collector) -> None:
    result = run_cli("send", "<base>/<os>", f"base={collector.url}",
                     env=clean_env(DO_NOT_TRACK="1"))
    assert result.returncode == 0
    assert result.stdout.splitlines()[1] == "disabled"
    assert result.stderr == "pathbeacon: disabled: DO_NOT_TRACK is set\n"


# ---- help and the messages people meet first ---------------------------------------------


COMMANDS = ["render", "parse", "facts", "templates", "send", "demo", "pixel", "urls",
            "explain"]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_with_a_description_an_example_and_exit_codes(
        command: str) -> None:
    result = run_cli(command, "--help")
    assert result.returncode == 0 and result.stderr == ""
    text = result.stdout
    description = text.split("\n\n")[1]
    assert "\n" not in description.strip() and description.strip().endswith(".")
    example = text.split("example:\n", 1)[1].splitlines()[0].strip()
    assert example.startswith(f"pathbeacon {command}")
    assert "exit status: 0 " in text and ("2 usage error" in text or command == "demo")


def test_the_examples_in_help_run() -> None:
    for command in ("render", "parse", "facts", "templates", "pixel", "urls", "explain"):
        text = run_cli(command, "--help").stdout
        example = text.split("example:\n", 1)[1].splitlines()[0].strip()
        import shlex

        args = shlex.split(example)[1:]
        result = run_cli(*args)
        assert result.returncode == 0, (example, result.stderr)


def test_pixel_without_arguments_names_what_is_missing() -> None:
    result = run_cli("pixel")
    assert result.returncode == 2
    assert result.stderr == ("pathbeacon: error: the following arguments are required: "
                             "PIXEL_ID (see pathbeacon pixel --help)\n")


@pytest.mark.parametrize("flag", ["-V", "--version"])
def test_version_flags(flag: str) -> None:
    result = run_cli(flag)
    assert result.returncode == 0 and result.stdout == f"pathbeacon {pathbeacon.__version__}\n"


def test_no_command_says_a_command_is_required() -> None:
    result = run_cli()
    assert result.returncode == 2
    assert result.stderr == "pathbeacon: error: a command is required (see pathbeacon --help)\n"


# ---- output that cannot be written ---------------------------------------------------------

ALL_COMMANDS = [
    ("render", "risingwave", "base=https://g.example"),
    ("parse", "risingwave", "https://g.example/telemetry/1/linux"),
    ("facts",),
    ("templates",),
    ("send", "<base>/<os>", "base=http://127.0.0.1:9", "--dry-run"),
    ("pixel", "abc"),
    ("urls", "<base>/<os>", "base=https://g.example", "os=a,b"),
    ("explain", "default", "base=https://g.example"),
    ("demo", "--processes", "2"),
    ("--help",),
    ("render", "--help"),
    ("--version",),
]


def _one_line_and_status_1(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr and "Exception ignored" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("pathbeacon: error: "), result.stderr


@pytest.mark.parametrize("args", ALL_COMMANDS, ids=lambda a: " ".join(a))
def test_closed_stdout_ends_with_one_line_and_status_1(args: tuple[str, ...]) -> None:
    result = subprocess.run([sys.executable, "-m", "pathbeacon", *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, env=clean_env(), timeout=60,
                            preexec_fn=lambda: os.close(1))
    _one_line_and_status_1(result)
    assert "closed" in result.stderr


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
@pytest.mark.parametrize("args", ALL_COMMANDS, ids=lambda a: " ".join(a))
def test_a_full_device_ends_with_one_line_and_status_1(args: tuple[str, ...]) -> None:
    with open("/dev/full", "w") as full:
        result = subprocess.run([sys.executable, "-m", "pathbeacon", *args], stdout=full,
                                stderr=subprocess.PIPE, text=True, env=clean_env(), timeout=60)
    _one_line_and_status_1(result)
    assert "No space left on device" in result.stderr


@pytest.mark.parametrize("args", ALL_COMMANDS, ids=lambda a: " ".join(a))
def test_a_broken_pipe_ends_with_one_line_and_status_1(args: tuple[str, ...]) -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader left before anything was written
    try:
        result = subprocess.run([sys.executable, "-m", "pathbeacon", *args], stdout=write_end,
                                stderr=subprocess.PIPE, text=True, env=clean_env(), timeout=60)
    finally:
        os.close(write_end)
    _one_line_and_status_1(result)
    assert "Broken pipe" in result.stderr


def test_a_reader_that_leaves_midway_ends_with_one_line() -> None:
    code = "import pathbeacon.cli as c, sys; sys.exit(c.main(['urls', '<base>/<os>/<arch>', " \
           "'base=https://g.example', 'os=' + ','.join(map(str, range(400))), " \
           "'arch=' + ','.join(map(str, range(400)))]))"
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, env=clean_env())
    assert process.stdout is not None and process.stderr is not None
    process.stdout.readline()
    process.stdout.close()  # `| head -1`
    err = process.stderr.read().decode()
    assert process.wait(timeout=60) == 1
    assert err.count("\n") == 1 and err.startswith("pathbeacon: error: ") and "Broken pipe" in err


# ---- nothing from input reaches the terminal raw ----------------------------------------


HOSTILE = "\x1b]0;pwned\x07\x1b[2J\u202e\r"


def test_parse_refuses_control_sequences_in_a_base_and_shows_them_escaped() -> None:
    # parse() never returns a base holding a control character (issue 16): the URL is
    # refused, in one line that shows them escaped.
    url = f"https://x{HOSTILE}.example/linux"
    for extra in ((), ("--json",)):
        result = run_cli("parse", "<base>/<os>", url, *extra)
        assert result.returncode == 2 and result.stdout == "", result.stderr
        err = result.stderr
        assert err.count("\n") == 1 and err.startswith("pathbeacon: error: ")
        assert "\x1b" not in err and "\x07" not in err and "\u202e" not in err
        assert "\r" not in err and "\\x1b]0;pwned\\x07" in err


@pytest.mark.parametrize("args", [
    ("render", f"<base>/<os>{HOSTILE}"),
    ("parse", "<base>/<os>", f"ftp://{HOSTILE}"),
    ("render", "<base>/<os>", f"base=https://{HOSTILE}"),
    ("render", "<base>/<os>", f"{HOSTILE}=1"),
    ("pixel", "abc", f"x-pxid{HOSTILE}=1", "--html"),
    ("explain", "<base>/<engine>", "base=https://g.example", f"engine={HOSTILE}",
     f"package={HOSTILE}"),
    ("urls", "<base>/<engine>", "base=https://g.example", f"engine=a,{HOSTILE}"),
    ("send", "<base>/<engine>", "base=https://g.example", f"engine={HOSTILE}", "--dry-run"),
    (f"frob{HOSTILE}",),
])
def test_no_raw_control_sequence_from_input_is_printed(args: tuple[str, ...]) -> None:
    result = run_cli(*args)
    for stream in (result.stdout, result.stderr):
        assert not any(ch in stream for ch in "\x1b\x07\u202e\r"), (args, stream)


# ---- the protocol for extra commands -------------------------------------------------------

EXTRA = '''
import sys, types
import pathbeacon.cli as cli

def register(sub):
    p = cli.command(sub, "shout", "print a word loudly", example="pathbeacon shout hi")
    p.add_argument("word")
    p.add_argument("--times", type=int, default=1)
    cli.takes_pairs(p)
    p.set_defaults(run=run)

def run(args):
    if args.word == "bad":
        raise ValueError("bad is not a word")
    for _ in range(args.times):
        print(args.word.upper(), sorted(args.pairs))
    return 0

module = types.ModuleType("pathbeacon.analysis.cli")
module.register = register
sys.modules["pathbeacon.analysis.cli"] = module
sys.exit(cli.main(sys.argv[1:]))
'''


def _extra(*args: str, stdout: int = subprocess.PIPE) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", EXTRA, *args], stdout=stdout,
                          stderr=subprocess.PIPE, text=True, env=clean_env(), timeout=60)


def test_an_extra_module_adds_a_command() -> None:
    result = _extra("shout", "hi", "a=1", "--times", "2", "b=2")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "HI ['a=1', 'b=2']\n" * 2
    help_text = _extra("shout", "--help").stdout
    assert "example:\n  pathbeacon shout hi" in help_text
    assert "shout" in _extra("--help").stdout


def test_an_extra_commands_value_error_is_a_usage_error() -> None:
    result = _extra("shout", "bad")
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr == "pathbeacon: error: bad is not a word\n"


def test_an_extra_commands_closed_pipe_ends_with_one_line() -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        result = _extra("shout", "hi", stdout=write_end)
    finally:
        os.close(write_end)
    _one_line_and_status_1(result)


def test_without_the_analysis_module_the_core_commands_stand_alone() -> None:
    import importlib.util

    if importlib.util.find_spec("pathbeacon.analysis") is not None:
        pytest.skip("the analysis subpackage is installed here")
    assert run_cli("render", "risingwave", "base=https://g.example").returncode == 0


def test_download_names_render_expand_and_parse_back_from_the_command_line() -> None:
    template = "<base>/<version>/acme-<os>-<arch>.tar.gz"
    base = "base=https://acme.gateway.scarf.sh/dl"
    urls = run_cli("urls", template, base, "version=1.4.2", "os=linux,macos",
                   "arch=x86_64,aarch64")
    assert urls.returncode == 0, urls.stderr
    assert urls.stdout.splitlines() == [
        f"https://acme.gateway.scarf.sh/dl/1.4.2/acme-{os_}-{arch}.tar.gz"
        for os_ in ("linux", "macos") for arch in ("x86_64", "aarch64")]
    rendered = run_cli("render", template, base, "version=1.4.2", "os=linux", "arch=x86_64")
    assert rendered.stdout == "https://acme.gateway.scarf.sh/dl/1.4.2/acme-linux-x86_64.tar.gz\n"
    parsed = run_cli("parse", template, rendered.stdout.strip(), "--json")
    assert json.loads(parsed.stdout) == {"base": "https://acme.gateway.scarf.sh/dl",
                                         "version": "1.4.2", "os": "linux", "arch": "x86_64"}


def test_send_accepts_a_known_fact_the_template_ignores(collector: Collector) -> None:
    """As `render` does: `os_version` is a fact pathbeacon knows, unused by risingwave."""
    result = run_cli("send", "risingwave", f"base={collector.url}", "version=1.0",
                     "os_version=5")
    assert (result.returncode, result.stderr) == (0, "")
    (request,) = collector.wait_for(1)
    assert request.path.startswith("/telemetry/1.0/")
