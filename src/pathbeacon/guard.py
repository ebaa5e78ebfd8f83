"""Once-per-key claims, the set of reports in flight, and fork safety.

Kept free of imports beyond ``_thread``, ``os`` and ``sys``: it runs on the host's importing thread.
Claims and the in-flight set take no lock: each is one dict operation, atomic under the GIL
(and in free-threaded builds), so a signal handler or a ``__del__`` that calls
``report_once()`` while this thread is inside a claim can never deadlock.

    >>> value, new = claim(("doc", "example"), lambda: "first")
    >>> claim(("doc", "example"), lambda: "second")
    ('first', False)
"""

import _thread
import os
import sys

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs milliseconds
if TYPE_CHECKING:
    from collections.abc import Sequence
    from importlib.machinery import ModuleSpec
    from types import ModuleType
    from typing import Callable, TypeVar

    T = TypeVar("T")

#: Longest a fork waits, in all, for a worker to finish importing (seconds).
FORK_WAIT = 2.0

_claims: "dict[object, object]" = {}
_pending: "dict[int, object]" = {}
# Held by a worker while it imports modules: a fork that copied a half-imported module
# would break the child (the host's child too), so forks wait for it, boundedly.
_importing = _thread.allocate_lock()
_held_for_fork = False
# When the fork under way stops waiting: the hooks may be registered twice, and both
# runs share one FORK_WAIT.
_fork_deadline: "float | None" = None
_hooks_registered = 0


def claim(key: object, make: "Callable[[], T]") -> "tuple[T, bool]":
    """Return ``(value, True)`` with a new ``make()`` for an unclaimed key, else the old value.

    Atomic across threads without a lock: racing callers may each run ``make`` (so it must
    be quick and free of effects), but exactly one value wins and every caller gets it.
    """
    claims = _claims
    existing = claims.get(key)
    if existing is not None:
        return existing, False  # type: ignore[return-value]
    value = make()
    winner = claims.setdefault(key, value)
    return winner, winner is value  # type: ignore[return-value]


def release(key: object, value: object) -> bool:
    """Free ``key`` if ``value`` holds it (a report that never started: the next call for
    the key may try again); whether it did.

        >>> value, new = claim(("doc", "release"), lambda: "mine")
        >>> release(("doc", "release"), "not mine"), release(("doc", "release"), "mine")
        (False, True)
    """
    claims = _claims
    if claims.get(key) is value:
        claims.pop(key, None)
        return True
    return False


def push_scope() -> "dict[object, object]":
    """Start an empty claim scope (for :func:`pathbeacon.testing.capture`); return the old one."""
    global _claims
    saved, _claims = _claims, {}
    return saved


def pop_scope(saved: "dict[object, object]") -> None:
    """Put back the claims that :func:`push_scope` returned."""
    global _claims
    _claims = saved


def track(item: object) -> None:
    """Remember ``item`` as in flight in this process."""
    _pending[id(item)] = item


def untrack(item: object) -> None:
    """Forget ``item``: it is no longer in flight."""
    _pending.pop(id(item), None)


def in_flight() -> "list[object]":
    """What is in flight in this process (a fork's child inherits none of its parent's)."""
    return list(_pending.values())


class importing:
    """``with importing():`` around a worker's imports keeps forks from copying them half-done.

    Fork hooks run newest first, and ``logging``'s takes a lock that a worker's imports need
    (urllib3 calls ``logging.getLogger`` as it loads): ours must be newer than logging's, or a
    fork would wait in vain. So our hooks are registered again here when logging is loaded,
    and, when it is not, right after the worker's own imports load it (never before: the
    worker imports ``logging`` only when something it needs does).
    """

    _watch: "_AfterLogging | None" = None

    def __enter__(self) -> None:
        _importing.acquire()
        if "logging" in sys.modules:
            register_fork_hooks()
            self._watch = None
        else:
            self._watch = _AfterLogging(_thread.get_ident())
            sys.meta_path.insert(0, self._watch)

    def __exit__(self, *exc: object) -> None:
        try:
            if self._watch is not None and self._watch in sys.meta_path:
                sys.meta_path.remove(self._watch)
        finally:
            _importing.release()


class _AfterLogging:
    """A finder that steps aside for every import but this thread's of ``logging``, whose
    loading it lets run, then registers our fork hooks again."""

    def __init__(self, thread: int) -> None:
        self.thread = thread

    def find_spec(self, name: str, path: "Sequence[str] | None" = None,
                  target: "ModuleType | None" = None) -> "ModuleSpec | None":
        if name != "logging" or _thread.get_ident() != self.thread:
            return None
        try:
            sys.meta_path.remove(self)
        except ValueError:
            pass
        spec: ModuleSpec | None = None
        for finder in list(sys.meta_path):  # as the import system would, without us
            find = getattr(finder, "find_spec", None)
            spec = find(name, path, target) if find is not None else None
            if spec is not None:
                break
        loader = getattr(spec, "loader", None)
        run = getattr(loader, "exec_module", None)
        if run is None or isinstance(loader, type):  # a class (frozen, built-in): not ours
            return spec

        def exec_module(module: object) -> None:
            run(module)
            register_fork_hooks()

        loader.exec_module = exec_module  # type: ignore[union-attr]
        return spec


def _before_fork() -> None:
    global _held_for_fork, _fork_deadline
    if _held_for_fork:
        return
    import time  # built in: costs nothing worth counting, and only when forking

    now = time.monotonic()
    if _fork_deadline is None:
        _fork_deadline = now + FORK_WAIT
    _held_for_fork = _importing.acquire(timeout=max(_fork_deadline - now, 0.0))


def _after_fork_in_parent() -> None:
    global _held_for_fork, _fork_deadline
    _fork_deadline = None
    if _held_for_fork:
        _held_for_fork = False
        _importing.release()


def _after_fork_in_child() -> None:
    global _importing, _held_for_fork, _fork_deadline
    # A fresh lock: one held by a thread that the child does not have would never be freed.
    _importing = _thread.allocate_lock()
    _held_for_fork = False
    _fork_deadline = None
    # The parent's workers live on in the parent only: nothing here waits for them.
    for item in list(_pending.values()):
        orphan = getattr(item, "_orphan", None)
        if orphan is not None:
            orphan()
    _pending.clear()


def register_fork_hooks() -> None:
    """Register the fork hooks (again): hooks run newest first, so a worker calls this once
    more after ``logging`` is imported, whose own hook takes a lock that a worker's imports
    need. The hooks are idempotent and share one deadline, so running twice per fork costs
    no extra wait."""
    global _hooks_registered
    if hasattr(os, "register_at_fork") and _hooks_registered < 2:
        _hooks_registered += 1
        os.register_at_fork(
            before=_before_fork,
            after_in_parent=_after_fork_in_parent,
            after_in_child=_after_fork_in_child,
        )
