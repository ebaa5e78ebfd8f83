"""One HTTP request with bounded retries, through urllib3; knows nothing but a URL.

Redirects are never followed: a gateway answering 302 to a real artifact must not make
us download it. 2xx and 3xx count as delivered; 4xx fails at once except 408 and 429;
5xx, connection errors and timeouts are retried with exponential backoff (honouring
``Retry-After`` up to a cap) inside an overall deadline.
"""

from __future__ import annotations

import time
import urllib.request
from typing import NamedTuple
from urllib.parse import urlsplit

import urllib3

__all__ = ["BACKOFF", "MAX_PAUSE", "Outcome", "send"]

#: First pause between attempts (seconds); it doubles after each retry.
BACKOFF = 0.25
#: Longest pause between attempts, and the cap on a server's ``Retry-After`` (seconds).
MAX_PAUSE = 5.0
_RETRY_STATUSES = frozenset({408, 429})
_BODY_PEEK = 64


class Outcome(NamedTuple):
    """What happened to one delivery."""

    delivered: bool
    status: int | None
    attempts: int
    reason: str


def _manager(url: str) -> urllib3.PoolManager:
    """A one-shot pool, through the proxy that the environment names for this URL."""
    parts = urlsplit(url)
    proxies = urllib.request.getproxies_environment()  # HTTP_PROXY & co., either case
    proxy = proxies.get(parts.scheme.lower())
    # proxy_bypass_environment is what urllib.request uses for NO_PROXY (not in typeshed).
    bypass = urllib.request.proxy_bypass_environment  # type: ignore[attr-defined]
    if proxy and not bypass(parts.netloc, proxies):
        return urllib3.ProxyManager(proxy, num_pools=1)
    return urllib3.PoolManager(num_pools=1)


def _retry_after(response: urllib3.BaseHTTPResponse) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return min(max(float(value), 0.0), MAX_PAUSE)
    except ValueError:
        return None  # an HTTP date: fall back to our own backoff


def _describe(error: BaseException) -> str:
    # urllib3 wraps the cause; name the innermost one ("connection refused", "timed out").
    reason = getattr(error, "reason", None) or error
    text = str(reason)
    return f"{type(error).__name__}: {text.split(': ', 1)[-1] if ': ' in text else text}"


def send(
    url: str,
    *,
    method: str = "GET",
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 3.0,
    retries: int = 2,
) -> Outcome:
    """Send one request to ``url``; retry as described above; never raise for network trouble.

    ``timeout`` bounds the connect and the read of each attempt; the whole exchange ends
    within ``(retries + 1) * 2 * timeout + retries * MAX_PAUSE`` seconds, DNS aside.
    """
    attempts = retries + 1
    deadline = time.monotonic() + attempts * 2 * timeout + retries * MAX_PAUSE
    try:
        manager = _manager(url)
    except (ValueError, urllib3.exceptions.HTTPError) as error:  # a malformed URL or proxy
        return Outcome(False, None, 0, f"cannot send to {url!r}: {error}")
    status: int | None = None
    reason = "not attempted"
    try:
        for attempt in range(1, attempts + 1):
            pause: float | None = None
            left = max(deadline - time.monotonic(), 0.001)
            try:
                response = manager.request(
                    method,
                    url,
                    body=body,
                    headers=headers,
                    timeout=urllib3.Timeout(connect=min(timeout, left), read=min(timeout, left)),
                    retries=False,
                    redirect=False,
                    preload_content=False,
                )
            except urllib3.exceptions.LocationValueError as error:  # no retry mends a bad URL
                return Outcome(False, None, attempt, _describe(error))
            except (urllib3.exceptions.HTTPError, OSError) as error:
                status, reason, retryable = None, _describe(error), True
            else:
                status = response.status
                try:
                    response.read(_BODY_PEEK)
                except urllib3.exceptions.HTTPError:
                    pass  # the status is what counts; the body is not ours to read
                finally:
                    response.release_conn()
                if 200 <= status < 400:
                    return Outcome(True, status, attempt, f"HTTP {status}")
                reason = f"HTTP {status}"
                retryable = status >= 500 or status in _RETRY_STATUSES
                pause = _retry_after(response)
            if not retryable or attempt == attempts:
                return Outcome(False, status, attempt, reason)
            if pause is None:
                pause = min(BACKOFF * 2 ** (attempt - 1), MAX_PAUSE)
            if time.monotonic() + pause >= deadline:
                return Outcome(False, status, attempt, reason + " (deadline reached)")
            time.sleep(pause)
        return Outcome(False, status, attempts, reason)  # pragma: no cover - loop returns
    finally:
        manager.clear()
