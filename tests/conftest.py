"""Shared fixtures: subprocess helpers (and, for delivery tests, a loopback collector)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def clean_env(**extra: str) -> dict[str, str]:
    """The environment minus anything that would opt out, proxy, or debug pathbeacon."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not (k.endswith("_NO_ANALYTICS") or k.lower().endswith("_proxy")
                or k.startswith(("PATHBEACON_", "SCARF_")) or k == "DO_NOT_TRACK")
    }
    env.update(extra)
    return env


def run_python(code: str, *, env: dict[str, str] | None = None, timeout: float = 60,
               cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``python -c code`` in a fresh interpreter and capture its output."""
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout,
        env=clean_env() if env is None else env, cwd=cwd,
    )


def run_cli(*args: str, env: dict[str, str] | None = None,
            timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run ``python -m pathbeacon ARGS``."""
    return subprocess.run(
        [sys.executable, "-m", "pathbeacon", *args], capture_output=True, text=True,
        timeout=timeout, env=clean_env() if env is None else env,
    )


@pytest.fixture(autouse=True)
def _no_optout_leaks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests start from an environment with no opt-out, proxy or debug variables."""
    for name in list(os.environ):
        if name not in clean_env():
            monkeypatch.delenv(name, raising=False)
