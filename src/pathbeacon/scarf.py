"""A drop-in for scarf-sdk's ``ScarfEventLogger``, and Scarf pixel URL helpers.

    >>> pixel_url("abc-123", page="docs/install")
    'https://static.scarf.sh/a.png?x-pxid=abc-123&page=docs%2Finstall'

Importing this module costs what importing pathbeacon costs: urllib3, json and the fact
probes are imported on the first event sent.
"""

import _thread
import os
import sys
import time

from . import optout

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs milliseconds
if TYPE_CHECKING:
    from typing import Any

    from pathbeacon.pool import Pool

__all__ = ["PIXEL_TEMPLATE", "ScarfEventLogger", "pixel_html", "pixel_markdown", "pixel_url",
           "user_agent"]

#: The shipped template the pixel helpers start from.
PIXEL_TEMPLATE = "scarf-pixel"
#: The query parameter that carries the pixel id; no extra param may take its name.
PIXEL_ID_PARAM = "x-pxid"


def _user_choice() -> "str | None":
    """Why the user's lasting choice for every package (or the administrator's) turns events
    off; never read inside ``testing.capture()``, which simulates the user."""
    from pathbeacon import choice, report

    return None if report._captures else choice.decide(None)


def user_agent() -> str:
    """scarf-sdk's User-Agent style: ``pathbeacon/<version> (platform=<os>; arch=<arch>;
    python=<x.y.z>)``.

        >>> user_agent().startswith("pathbeacon/")
        True
    """
    from pathbeacon import __version__, probes

    return (
        f"pathbeacon/{__version__} (platform={probes.get('os')}; arch={probes.get('arch')}; "
        f"python={probes.get('python')})"
    )


def _seconds(value: object, name: str, most: float) -> "float":
    """A timeout as given when it is a number above 0; clamped to ``most``; else an error."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number of seconds, not {type(value).__name__}"
                        f" ({value!r})")
    if not value > 0:  # nan too
        raise ValueError(f"{name} must be a number of seconds above 0, not {value!r}")
    return value if value <= most else most


def _say(*lines: str) -> None:
    """Print for ``verbose``; a closed, broken or narrow stdout never raises into the caller."""
    out = sys.stdout
    if out is None:
        return
    try:
        text = "\n".join(lines) + "\n"
        encoding = getattr(out, "encoding", None) or "utf-8"
        # Whatever stdout cannot encode is shown escaped rather than raising.
        out.write(text.encode(encoding, "backslashreplace").decode(encoding, "replace"))
        out.flush()
    except Exception:
        pass


class ScarfEventLogger:
    """Send JSON events to a Scarf endpoint, like ``scarf.ScarfEventLogger`` (scarf-sdk 0.2).

    Differences, on purpose: a failed delivery returns ``False`` instead of raising, because
    telemetry must never break the caller (``raise_on_error=True`` raises
    :class:`pathbeacon.DeliveryError` instead); redirects are not followed; every opt-out
    variable of :func:`pathbeacon.report_once` is honoured; ``timeout`` bounds the whole
    call (connect, TLS, send, answer), not each read. One logger keeps its connections open
    across events and threads.

    ``timeout`` (here and in :meth:`log_event`) must be a number of seconds above 0: a
    string or a bool raises ``TypeError``, 0, a negative number or ``nan`` ``ValueError``;
    more than ``MAX_TIMEOUT`` (``inf`` included) is clamped to it.

        >>> logger = ScarfEventLogger("https://acme.gateway.scarf.sh/events/", timeout=2)
        >>> logger.endpoint_url, logger.timeout
        ('https://acme.gateway.scarf.sh/events', 2)
        >>> ScarfEventLogger("https://acme.example", timeout=float("inf")).timeout
        60.0
    """

    DEFAULT_TIMEOUT = 3.0
    #: The longest timeout a call may wait (seconds); larger ones are clamped to it.
    MAX_TIMEOUT = 60.0

    def __init__(
        self,
        endpoint_url: str,
        timeout: "float | None" = None,
        verbose: "bool | None" = None,
        *,
        raise_on_error: bool = False,
    ) -> None:
        if not endpoint_url:
            raise ValueError("endpoint_url must be provided")
        if not isinstance(endpoint_url, str):
            raise ValueError(f"endpoint_url must be a string, not {type(endpoint_url).__name__}")
        self.endpoint_url = endpoint_url[:-1] if endpoint_url.endswith("/") else endpoint_url
        self.timeout = self.DEFAULT_TIMEOUT if timeout is None else \
            _seconds(timeout, "timeout", self.MAX_TIMEOUT)
        self.verbose = (
            os.environ.get("SCARF_VERBOSE", "").strip().lower() in ("1", "true")
            if verbose is None
            else bool(verbose)
        )
        self.raise_on_error = raise_on_error
        self._target: tuple[str, str | None] | None = None  # (URL without user info, auth)
        self._user_agent: str | None = None
        self._pool: Pool | None = None
        self._pool_lock = _thread.allocate_lock()
        if self.verbose:
            _say("Scarf Logger Configuration:", f"  Endpoint URL: {self._shown_url}",
                 f"  Timeout: {self.timeout}s", f"  User-Agent: {self.user_agent}")

    @property
    def _shown_url(self) -> str:
        from pathbeacon.transport import redact

        return redact(self.endpoint_url)

    @property
    def user_agent(self) -> str:
        """``pathbeacon/<version> (platform=<os>; arch=<arch>; python=<x.y.z>)``."""
        if self._user_agent is None:
            self._user_agent = user_agent()
        return self._user_agent

    def _get_target(self) -> "tuple[str, str | None]":
        if self._target is None:
            self._target = _credentials(self.endpoint_url)
        return self._target

    def _get_pool(self) -> "Pool":
        with self._pool_lock:
            if self._pool is None:
                from pathbeacon.pool import Pool  # urllib3 is imported here, on the first event

                self._pool = Pool(self._get_target()[0])
            return self._pool

    def log_event(
        self, properties: "dict[str, Any] | None", timeout: "float | None" = None
    ) -> bool:
        """POST ``properties`` as JSON; ``True`` on a 2xx answer, else ``False``.

        Opted out → ``False``, nothing sent. Properties that JSON cannot carry raise
        ``TypeError`` or ``ValueError`` before any socket is opened, and so does a bad
        ``timeout`` (see the class). ``None`` sends ``{}``. Returns within ``timeout``
        seconds, whatever the server or the resolver does.
        """
        seconds = self.timeout if timeout is None else \
            _seconds(timeout, "timeout", self.MAX_TIMEOUT)
        from pathbeacon import report

        # Inside pathbeacon.testing.capture(): its opt-out rule, and events recorded there.
        records: Any = report._captures[-1] if report._captures else None
        why = optout.reason() if records is None else records.opt_out(None)
        if why is not None:
            if self.verbose:
                _say("Analytics are disabled via environment variables")
            if records is not None:
                records.event(self._shown_url, properties, False)
            return False
        why = _user_choice()
        if why is not None:  # `pathbeacon telemetry off` (every package), or the admin's file
            if self.verbose:
                _say(f"Analytics are disabled: {why}")
            return False
        import json

        try:
            body = json.dumps({} if properties is None else properties, allow_nan=False)
        except RecursionError:  # the C encoder's own limit: the same error as any bad value
            raise ValueError("properties are nested too deeply to send as JSON") from None
        if records is not None:  # pathbeacon.testing.capture(): recorded, never sent
            records.event(self._shown_url, properties, True)
            return True
        if self.verbose:
            try:
                shown = f"  Properties: {properties}"
            except Exception:  # a dict subclass with a hostile __repr__
                shown = "  Properties: (cannot be shown)"
            _say("", "Sending event:", shown, f"  Timeout: {seconds}s")
        started = time.monotonic()
        try:
            url, auth = self._get_target()
            headers = {"Content-Type": "application/json", "User-Agent": self.user_agent}
            if auth is not None:
                headers["Authorization"] = auth
            outcome = self._get_pool().send(url, method="POST", body=body.encode("utf-8"),
                                            headers=headers, timeout=seconds, retries=0)
            status, reason = outcome.status, outcome.reason
        except Exception as error:  # never into the caller, whatever broke
            status, reason = None, f"internal error: {error!r}"
        ok = status is not None and 200 <= status < 300
        if self.verbose:
            _say("", f"{'Response received' if status else 'Error'} after "
                     f"{time.monotonic() - started:.3f}s:",
                 f"  Status: {status}" if status else f"  {reason}")
        if not ok and self.raise_on_error:
            from pathbeacon.errors import DeliveryError

            raise DeliveryError(f"event not delivered to {self._shown_url}: {reason}", status)
        return ok

    def __repr__(self) -> str:
        return f"ScarfEventLogger({self._shown_url!r}, timeout={self.timeout!r})"


def _credentials(url: str) -> "tuple[str, str | None]":
    """``url`` without its user info, and the ``Authorization`` value that carries it.

    As requests does: ``user:password@`` (percent-decoded) becomes Basic auth; a user with
    no ``:password`` sends none.

        >>> _credentials("https://bob:pa%40ss@acme.example/e")
        ('https://acme.example/e', 'Basic Ym9iOnBhQHNz')
        >>> _credentials("https://acme.example/e")
        ('https://acme.example/e', None)
    """
    scheme, sep, rest = url.partition("://")
    end = len(rest)
    for mark in "/?#":
        found = rest.find(mark)
        if found >= 0:
            end = min(end, found)
    info, at, host = rest[:end].rpartition("@")
    if not sep or not at:
        return url, None
    stripped = f"{scheme}://{host}{rest[end:]}"
    user, colon, password = info.partition(":")
    if not colon:
        return stripped, None
    from base64 import b64encode
    from urllib.parse import unquote

    text = f"{unquote(user)}:{unquote(password)}"
    try:
        pair = text.encode("latin-1")  # as requests encodes it
    except UnicodeEncodeError:  # where requests raises: UTF-8, as RFC 7617 suggests
        pair = text.encode("utf-8")
    return stripped, "Basic " + b64encode(pair).decode("ascii")


def pixel_url(pixel_id: str, /, **params: object) -> str:
    """Scarf's pixel URL for ``pixel_id``, with each param as ``&name=value``.

    Values are sanitised and encoded like every other value. A param named ``x-pxid``
    (any case) is refused: it would give the pixel a second, competing id.

        >>> pixel_url("abc", v="1.0 beta")
        'https://static.scarf.sh/a.png?x-pxid=abc&v=1.0_beta'
    """
    from pathbeacon.compose import render
    from pathbeacon.encoding import encode, quote
    from pathbeacon.errors import TemplateError

    if pixel_id is None or not str(pixel_id).strip():
        raise TemplateError("pixel_id must be given: Scarf shows it on the pixel's page")
    for name in params:
        if not name:
            raise TemplateError("a pixel param needs a name")
        if name.strip().lower() == PIXEL_ID_PARAM:
            raise TemplateError(
                f"a param may not be called {name!r}: the pixel id ({PIXEL_ID_PARAM}) is the "
                "first argument"
            )
    url = render(PIXEL_TEMPLATE, pixel_id=pixel_id)
    return url + "".join(f"&{quote(name)}={encode(value)}" for name, value in params.items())


def pixel_html(pixel_id: str, /, **params: object) -> str:
    """The ``<img>`` tag Scarf documents for a pixel, its ``src`` escaped for HTML.

        >>> print(pixel_html("abc", v="1", copy="2"))  # doctest: +NORMALIZE_WHITESPACE
        <img referrerpolicy="no-referrer-when-downgrade"
          src="https://static.scarf.sh/a.png?x-pxid=abc&amp;v=1&amp;copy=2" alt="" />
    """
    # A raw "&copy=2" is read as "(c)=2" by HTML parsers (named character references need
    # no ";" in attributes for some consumers), so every "&" is written as "&amp;".
    from html import escape

    src = escape(pixel_url(pixel_id, **params), quote=True)
    return f'<img referrerpolicy="no-referrer-when-downgrade" src="{src}" alt="" />'


def pixel_markdown(pixel_id: str, /, **params: object) -> str:
    """The pixel as a Markdown image.

        >>> pixel_markdown("abc")
        '![](https://static.scarf.sh/a.png?x-pxid=abc)'
    """
    return f"![]({pixel_url(pixel_id, **params)})"
