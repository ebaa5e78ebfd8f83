"""Sphinx configuration for pathbeacon's documentation (``sphinx-build -W docs site``).

Pages are Markdown (MyST); the API reference comes from the docstrings (autodoc) and the
command-line reference from the argparse parsers themselves (sphinx-argparse), so neither is
ever copied by hand.
"""

import pathbeacon

project = "pathbeacon"
author = "pathbeacon developers"
copyright = "2026, pathbeacon developers"
release = version = pathbeacon.__version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinxarg.ext",
]
source_suffix = {".md": "markdown"}
myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence"]
exclude_patterns = ["_build"]
html_theme = "furo"
html_title = f"pathbeacon {release}"
autodoc_member_order = "bysource"
autodoc_typehints = "description"
# The documentation describes the installed package; nothing is fetched while building.
suppress_warnings: list[str] = []


def setup(app):  # type: ignore[no-untyped-def]
    """Sample logs are shown in ```log blocks: plain text to the highlighter."""
    from pygments.lexers.special import TextLexer

    app.add_lexer("log", TextLexer)
