"""Command-line helpers the self-hosting commands share: logs and ``base=URL`` given in
any order with options.

    >>> split_pairs(["a.log", "base=https://g.example/t", "./x=y.log"])
    (['a.log', './x=y.log'], {'base': 'https://g.example/t'})
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

__all__ = ["gather_positionals", "split_pairs"]


def split_pairs(items: Sequence[str]) -> tuple[list[str], dict[str, str]]:
    """Log names and ``base=URL`` apart, as ``decode`` and ``stats`` take them (an item
    holding ``=`` with no ``/`` before it is a setting; only ``base`` is one)."""
    logs: list[str] = []
    pairs: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or "/" in name or "\\" in name:
            logs.append(item)
        elif name == "base":
            pairs[name] = value
        else:
            raise ValueError(f"unknown setting {item!r}: only base=URL is taken here")
    return logs, pairs


def gather_positionals(parser: argparse.ArgumentParser, dest: str) -> None:
    """Let ``parser`` take arguments like ``base=URL`` after options too, into ``dest``.

    argparse reads the positionals given before the first option and leaves any given
    after one over (``ingest T LOG --db F base=URL``); those join ``dest`` (a ``*`` list).
    """

    class Gathering(type(parser)):  # type: ignore[misc]
        def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
            known, extras = super().parse_known_args(args, namespace)
            stray = [a for a in extras if a == "-" or not a.startswith("-")]
            if stray:
                setattr(known, dest, [*(getattr(known, dest, None) or []), *stray])
            return known, [a for a in extras if a not in stray]

    parser.__class__ = Gathering
