"""Detected facts: forms, normalisation tables, and what is never done or read."""

from __future__ import annotations

import getpass
import re
import socket
import sys

import pytest

import pathbeacon
from pathbeacon import probes

from .conftest import run_python


def test_every_fact_is_a_non_empty_string_in_its_form() -> None:
    facts = pathbeacon.facts()
    assert set(facts) == set(probes.NAMES)
    assert all(isinstance(v, str) and v for v in facts.values())
    assert facts["language"] == "python"
    assert facts["implementation"] == sys.implementation.name
    assert re.fullmatch(r"\d+\.\d+\.\d+\S*", facts["python"])
    assert facts["python"].startswith(facts["python_minor"] + ".")
    assert facts["runtime"] == f"{facts['implementation']}-{facts['python']}"
    assert facts["arch"] == probes.normalise_arch(facts["machine"])
    assert re.fullmatch(r"(glibc|musl)-[\w.]+|unknown", facts["libc"])
    assert facts["container"] in {"docker", "podman", "kubernetes", "other", "none"}
    if sys.platform.startswith("linux"):
        assert facts["os"] == "linux"


def test_facts_returns_a_copy() -> None:
    facts = pathbeacon.facts()
    facts["os"] = "changed"
    assert pathbeacon.facts()["os"] != "changed"


@pytest.mark.parametrize(
    ("raw", "arch"),
    [("x86_64", "x86_64"), ("AMD64", "x86_64"), ("x64", "x86_64"), ("aarch64", "aarch64"),
     ("arm64", "aarch64"), ("i386", "i686"), ("i686", "i686"), ("x86", "i686"),
     ("riscv64", "riscv64"), ("PPC64LE", "ppc64le"), ("", "unknown")],
)
def test_arch_normalisation(raw: str, arch: str) -> None:
    assert probes.normalise_arch(raw) == arch


@pytest.mark.parametrize(
    ("platform", "sysname", "name"),
    [("linux", "Linux", "linux"), ("darwin", "Darwin", "macos"), ("win32", "", "windows"),
     ("cygwin", "CYGWIN_NT", "windows"), ("freebsd14", "FreeBSD", "freebsd")],
)
def test_os_normalisation(platform: str, sysname: str, name: str) -> None:
    assert probes.normalise_os(platform, sysname) == name


@pytest.mark.parametrize(
    ("environ", "slug"),
    [({"GITHUB_ACTIONS": "true"}, "github-actions"), ({"GITLAB_CI": "true"}, "gitlab"),
     ({"JENKINS_URL": "http://j"}, "jenkins"), ({"CIRCLECI": "true"}, "circleci"),
     ({"TF_BUILD": "True"}, "azure-pipelines"), ({"BUILDKITE": "true"}, "buildkite"),
     ({"TRAVIS": "true"}, "travis"), ({"CI": "1"}, "generic"), ({"CI": "false"}, "none"),
     ({}, "none")],
)
def test_ci_provider(environ: dict[str, str], slug: str) -> None:
    assert probes.ci_provider(environ) == slug


def test_container_kind() -> None:
    assert probes.container_kind({"KUBERNETES_SERVICE_HOST": "10.0.0.1"}, set(), "") == "kubernetes"
    assert probes.container_kind({}, {"/run/.containerenv"}, "") == "podman"
    assert probes.container_kind({"container": "podman"}, set(), "") == "podman"
    assert probes.container_kind({}, {"/.dockerenv"}, "") == "docker"
    assert probes.container_kind({}, set(), "0::/system.slice/docker-ab12.scope") == "docker"
    assert probes.container_kind({"container": "lxc"}, set(), "") == "other"
    assert probes.container_kind({}, set(), "0::/init.scope") == "none"


def test_libc_forms() -> None:
    assert probes.libc_from("glibc 2.36", None, None) == "glibc-2.36"
    assert probes.libc_from(None, "/lib/ld-musl-aarch64.so.1", "1.2.4") == "musl-1.2.4"
    assert probes.libc_from(None, "/lib/ld-musl-aarch64.so.1", None) == "musl-unknown"
    assert probes.libc_from(None, "/lib64/ld-linux-x86-64.so.2", None) == "unknown"


def test_elf_interpreter_of_this_python() -> None:
    if not sys.platform.startswith("linux"):
        pytest.skip("ELF only")
    interpreter = probes._elf_interpreter(sys.executable)
    assert interpreter is None or interpreter.startswith("/")


def test_package_version_is_normalised_and_unknown_when_absent() -> None:
    import importlib.metadata

    assert probes.package_version("pytest") == importlib.metadata.version("pytest")
    assert probes.package_version("no-such-distribution-pathbeacon-test") == "unknown"
    assert pathbeacon.render("<base>/<version>", base="https://g.example", package="pytest") == \
        "https://g.example/" + importlib.metadata.version("pytest")
    assert probes.is_development("1.0.dev1") and probes.is_development("1.0+local")
    assert not probes.is_development("1.0rc1") and not probes.is_development("junk")


def test_detection_spawns_no_subprocess_and_reads_no_personal_data() -> None:
    # A fresh interpreter where starting any process, or looking up names, is an error.
    code = """
import os, subprocess, socket, sys
def boom(*a, **k):
    raise AssertionError("pathbeacon spawned a process or looked up a name")
subprocess.Popen.__init__ = boom
os.system = os.popen = os.posix_spawn = os.posix_spawnp = os.fork = boom
socket.gethostname = socket.getaddrinfo = boom
import pathbeacon, json
print(json.dumps(pathbeacon.facts()))
"""
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    import json

    values = set(json.loads(result.stdout).values())
    private = {socket.gethostname(), getpass.getuser()} - {"", "localhost", "root", "linux"}
    assert not values & private
    assert not any("/" in v and not v.startswith(("glibc", "musl")) for v in values)


def test_detection_is_cached() -> None:
    first = probes.get("os_version")
    probes._cache["os_version"] = "cached-value"
    try:
        assert pathbeacon.facts()["os_version"] == "cached-value"
    finally:
        probes._cache["os_version"] = first


def test_facts_with_a_package_include_its_version() -> None:
    import importlib.metadata

    assert pathbeacon.facts("pytest")["version"] == importlib.metadata.version("pytest")
    assert "version" not in pathbeacon.facts()
