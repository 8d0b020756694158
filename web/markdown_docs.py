"""The project's Markdown documents as HTML for the site's pages.

markdown-it-py renders CommonMark with tables; raw HTML in a document is not
passed through (it shows as text), and link targets markdown-it deems unsafe
(``javascript:`` and the like) are not made links. Every heading gets an
``id`` (GitHub's way of making it: lower case, spaces as hyphens,
punctuation dropped) and a ``#`` permalink, so that a document's links to
its own sections work.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt
from mdit_py_plugins.anchors import anchors_plugin

# Headings down to this level get an id and a permalink.
ANCHORED_LEVELS = 4


@dataclass(frozen=True)
class RenderedDocument:
    title: str
    html: SafeString


def _markdown() -> MarkdownIt:
    renderer = MarkdownIt("commonmark", {"html": False}).enable("table")
    renderer.use(anchors_plugin, min_level=1, max_level=ANCHORED_LEVELS, permalink=True, permalinkSymbol="#")
    # Each table in a box of its own that scrolls sideways on a narrow screen.
    renderer.add_render_rule("table_open", lambda *args: '<div class="table-scroll">\n<table>\n')
    renderer.add_render_rule("table_close", lambda *args: "</table>\n</div>\n")
    return renderer


def markdown_render(text: str) -> RenderedDocument:
    """``text`` as safe HTML, and its first top-level heading as the title."""
    renderer = _markdown()
    tokens = renderer.parse(text)
    title = next(
        (tokens[i + 1].content for i, token in enumerate(tokens) if token.type == "heading_open" and token.tag == "h1"),
        "",
    )
    # Safe: markdown-it escapes all text and refuses raw HTML (html=False).
    return RenderedDocument(title=title, html=mark_safe(renderer.renderer.render(tokens, renderer.options, {})))


@lru_cache(maxsize=8)
def _rendered(path: Path, modified: int) -> RenderedDocument:
    return markdown_render(path.read_text(encoding="utf-8"))


def markdown_document(path: Path) -> RenderedDocument:
    """The document at ``path``, rendered once per version of the file."""
    return _rendered(path, path.stat().st_mtime_ns)
