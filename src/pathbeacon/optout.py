"""Opt-out and mode switches, read from the environment at every call, never cached.

    >>> truthy("1"), truthy(" Off "), truthy(None)
    (True, False, False)
    >>> package_variable("my-pkg")
    'MY_PKG_NO_ANALYTICS'

Kept free of imports beyond ``os``: it runs on the host's importing thread.
"""

import os
import sys

#: Values that mean "no" (after trimming and lower-casing); anything else set means "yes".
FALSY = frozenset({"", "0", "false", "no", "off"})
#: Variables that opt out of every package's telemetry when truthy.
GLOBAL_VARIABLES = ("DO_NOT_TRACK", "SCARF_NO_ANALYTICS", "PATHBEACON_NO_ANALYTICS")
#: Scarf's older convention: opted out when set to a falsy value.
SCARF_ANALYTICS = "SCARF_ANALYTICS"
DRY_RUN = "PATHBEACON_DRY_RUN"
DEBUG = "PATHBEACON_DEBUG"
EXIT_GRACE = "PATHBEACON_EXIT_GRACE"


def truthy(value: "str | None") -> bool:
    """Whether an environment value is set to something other than empty/0/false/no/off."""
    return value is not None and value.strip().lower() not in FALSY


#: Characters of a package name that make its variable (a longer name is cut: a 10 MB
#: "package" must not hold the caller's thread).
MAX_NAME = 256


def _name(package: object) -> str:
    # As encoding.text_of: an exact str, so that a str subclass's methods (__len__,
    # upper, ...), which may lie, are never asked; then cut.
    text = package if isinstance(package, str) else str(package)
    if type(text) is not str:  # str's own methods, called on the type, read the characters
        head = str.__getitem__(text, slice(0, MAX_NAME))
        text = str.encode(head, "utf-8", "surrogatepass").decode("utf-8", "surrogatepass")
    return text[:MAX_NAME]


def package_variable(package: object) -> str:
    """``<PACKAGE>_NO_ANALYTICS``: upper-case, each non-alphanumeric character as ``_``."""
    name = "".join(ch if ch.isascii() and ch.isalnum() else "_" for ch in _name(package).upper())
    return f"{name}_NO_ANALYTICS"


def variables(package: object = None) -> "list[str]":
    """Every variable that opts out (when truthy) for ``package``.

        >>> variables("acme")[-1]
        'ACME_NO_ANALYTICS'
    """
    names = list(GLOBAL_VARIABLES)
    if package is not None and _name(package):
        names.append(package_variable(package))
    return names


def reason(package: object = None) -> "str | None":
    """Why telemetry is off for ``package`` right now, or ``None`` when it is on.

        >>> reason("acme") is None or isinstance(reason("acme"), str)
        True
    """
    environ = os.environ
    for name in variables(package):
        if truthy(environ.get(name)):
            return f"{name} is set"
    scarf = environ.get(SCARF_ANALYTICS)
    if scarf is not None and not truthy(scarf):
        return f"{SCARF_ANALYTICS} is {scarf.strip() or 'empty'}"
    return None


def reason_since(package: object, before: "dict[str, str]") -> "str | None":
    """Like :func:`reason`, counting only variables set or changed since ``before`` (a copy
    of ``os.environ`` taken earlier): ``pathbeacon.testing.capture()`` uses it so that a
    contributor's own shell does not change what a package's tests see.

        >>> reason_since("acme", dict(os.environ)) is None
        True
    """
    environ = os.environ
    for name in variables(package):
        value = environ.get(name)
        if value != before.get(name) and truthy(value):
            return f"{name} is set"
    scarf = environ.get(SCARF_ANALYTICS)
    if scarf is not None and scarf != before.get(SCARF_ANALYTICS) and not truthy(scarf):
        return f"{SCARF_ANALYTICS} is {scarf.strip() or 'empty'}"
    return None


def dry_run() -> bool:
    """Whether ``PATHBEACON_DRY_RUN`` asks to render without sending."""
    return truthy(os.environ.get(DRY_RUN))


def debug() -> bool:
    """Whether ``PATHBEACON_DEBUG`` asks for one line per report on stderr."""
    return truthy(os.environ.get(DEBUG))


def exit_grace(default: "float | None" = None) -> "float | None":
    """``PATHBEACON_EXIT_GRACE`` in seconds (clamped to 0..5), else ``default``.

        >>> exit_grace(0.5) == 0.5 or EXIT_GRACE in os.environ
        True
    """
    raw = os.environ.get(EXIT_GRACE)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        return default
    return min(max(value, 0.0), 5.0) if value == value else default


#: Environment variables that name a CI provider, checked in order; ``CI`` alone is generic.
CI_VARIABLES = (
    ("GITHUB_ACTIONS", "github-actions"),
    ("GITLAB_CI", "gitlab"),
    ("JENKINS_URL", "jenkins"),
    ("JENKINS_HOME", "jenkins"),
    ("CIRCLECI", "circleci"),
    ("TF_BUILD", "azure-pipelines"),
    ("BUILDKITE", "buildkite"),
    ("TRAVIS", "travis"),
    ("BITBUCKET_BUILD_NUMBER", "bitbucket"),
    ("TEAMCITY_VERSION", "teamcity"),
    ("APPVEYOR", "appveyor"),
    ("CODEBUILD_BUILD_ID", "aws-codebuild"),
    ("DRONE", "drone"),
    ("BUILD_ID", "generic"),
    ("CI", "generic"),
    ("CONTINUOUS_INTEGRATION", "generic"),
)


def ci_provider(environ: "object") -> str:
    """The CI provider slug that ``environ`` (a mapping like ``os.environ``) names, or
    ``none``.

        >>> ci_provider({"GITLAB_CI": "true"}), ci_provider({"CI": "false"})
        ('gitlab', 'none')
    """
    get = getattr(environ, "get", None)
    if get is None:
        return "none"
    for variable, slug in CI_VARIABLES:
        if truthy(get(variable)):
            return slug
    return "none"


# The user's folders per platform, as platformdirs names them (kept here, free of imports:
# the caller's thread reads them): Windows' variable, macOS's folder under the home, the
# XDG variable and its fallback under the home.
_FOLDERS = {
    "cache": ("LOCALAPPDATA", ("Library", "Caches"), "XDG_CACHE_HOME", ".cache"),
    "config": ("APPDATA", ("Library", "Application Support"), "XDG_CONFIG_HOME", ".config"),
}


def user_folder(kind: str, override: str) -> "str | None":
    """pathbeacon's folder of ``kind`` (``"cache"`` or ``"config"``): the environment
    variable ``override`` if set, else ``pathbeacon`` in the user's folder of that kind
    (``%LOCALAPPDATA%``/``%APPDATA%``, ``~/Library/...``, ``$XDG_..._HOME`` or
    ``~/.cache``/``~/.config``); ``None`` when none can be named.

        >>> os.environ["PB_DOC_FOLDER"] = "/srv/pb"
        >>> user_folder("cache", "PB_DOC_FOLDER")
        '/srv/pb'
        >>> del os.environ["PB_DOC_FOLDER"]
    """
    environ = os.environ
    chosen = environ.get(override)
    if chosen:
        return chosen
    windows, mac, xdg, fallback = _FOLDERS[kind]
    if sys.platform == "win32":
        root = environ.get(windows)
    elif sys.platform == "darwin":
        root = os.path.join(os.path.expanduser("~"), *mac)
    else:
        root = environ.get(xdg)
        if not (root and os.path.isabs(root)):  # the XDG spec: relative paths are ignored
            root = os.path.join(os.path.expanduser("~"), fallback)
    if not root or not os.path.isabs(root):  # no home to speak of
        return None
    return os.path.join(root, "pathbeacon")
