"""pathbeacon: privacy-respecting, never-in-the-way install and usage telemetry.

One line in a package's ``__init__.py``::

    import pathbeacon
    pathbeacon.report_once("<base>/<package>/<version>/<os>/<arch>/<runtime>",
                           base="https://acme.gateway.scarf.sh/telemetry", package="acme")

This module is a thin facade: it imports nothing heavy and starts nothing at import. Each
public name is loaded from its own module on first use, so that a host package's import
pays only for what it calls.
"""

import sys as _sys

__version__ = "0.1.0"

# Not ``typing.TYPE_CHECKING``: importing typing alone would cost several milliseconds.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from . import consent
    from .compose import expand, parse, render
    from .errors import DeliveryError, TemplateError
    from .notice import explain
    from .probes import detect as facts
    from .report import Report, report_once
    from .scarf import ScarfEventLogger, pixel_html, pixel_markdown, pixel_url
    from .template import Template

__all__ = [
    "DeliveryError",
    "Report",
    "ScarfEventLogger",
    "Template",
    "TemplateError",
    "__version__",
    "consent",
    "expand",
    "explain",
    "facts",
    "parse",
    "pixel_html",
    "pixel_markdown",
    "pixel_url",
    "render",
    "report_once",
]

# public name -> (module, attribute)
_LAZY = {
    "DeliveryError": ("errors", "DeliveryError"),
    "Template": ("template", "Template"),
    "TemplateError": ("errors", "TemplateError"),
    "expand": ("compose", "expand"),
    "facts": ("probes", "detect"),
    "parse": ("compose", "parse"),
    "render": ("compose", "render"),
    "Report": ("report", "Report"),
    "report_once": ("report", "report_once"),
    "ScarfEventLogger": ("scarf", "ScarfEventLogger"),
    "pixel_url": ("scarf", "pixel_url"),
    "pixel_html": ("scarf", "pixel_html"),
    "pixel_markdown": ("scarf", "pixel_markdown"),
    "explain": ("notice", "explain"),
    "consent": ("consent", ""),  # the module itself: the user's choice, from Python
}


def __getattr__(name: str) -> object:
    try:
        module, attribute = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'pathbeacon' has no attribute {name!r}") from None
    try:
        # __import__ rather than importlib.import_module: importlib is not loaded at start-up.
        __import__(f"{__name__}.{module}")
        loaded = _sys.modules[f"{__name__}.{module}"]
        value = getattr(loaded, attribute) if attribute else loaded
    except (ImportError, AttributeError):
        if name != "report_once":
            raise
        # report_once() never raises, even from a signal handler that runs while this
        # thread is still importing pathbeacon.report (a half-made module), or from a
        # __del__ as the interpreter shuts down (no imports left): a failed report.
        return _unavailable
    globals()[name] = value  # later look-ups skip this hook
    return value


class _Unavailable:
    """What ``report_once()`` returns when its module cannot be had: ``failed``, at once."""

    status = "failed"
    url = None
    key = None
    reason = "pathbeacon.report is not available yet (still being imported) or any more " \
             "(the interpreter is shutting down)"

    def wait(self, timeout: object = None) -> str:
        return self.status

    def __repr__(self) -> str:
        return f"<Report failed url=None, reason={self.reason!r}>"


def _unavailable(*args: object, **kwargs: object) -> _Unavailable:
    return _Unavailable()


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
