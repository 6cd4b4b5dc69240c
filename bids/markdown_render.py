"""Markdown to safe HTML: Python-Markdown renders, nh3 sanitises.

Python-Markdown passes raw HTML, `javascript:` links and event attributes
straight through, so its output is never trusted before nh3 has cleaned it.
"""

from __future__ import annotations

import html as html_lib
import re

import markdown
import nh3

ALLOWED_TAGS = {
    "a",
    "abbr",
    "blockquote",
    "br",
    "code",
    "dd",
    "del",
    "div",
    "dl",
    "dt",
    "em",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "li",
    "ol",
    "p",
    "pre",
    "span",
    "strong",
    "sub",
    "sup",
    "table",
    "tbody",
    "td",
    "th",
    "thead",
    "tr",
    "ul",
}
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "abbr": {"title"},
    "td": {"align"},
    "th": {"align"},
}
URL_SCHEMES = {"http", "https", "mailto"}
EXTENSIONS = ["extra", "sane_lists", "smarty"]


def render_markdown(source: str) -> str:
    html = markdown.markdown(source or "", extensions=EXTENSIONS, output_format="html")
    # Headings in a bid sit under the page's own h1, so demote them one level.
    html = re.sub(r"<(/?)h([1-5])\b", lambda m: f"<{m[1]}h{int(m[2]) + 1}", html)
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="nofollow noopener noreferrer",
    )


def markdown_to_text(source: str) -> str:
    """Plain text of a Markdown source, for search, similarity and the API's `text`."""
    html = markdown.markdown(source or "", extensions=EXTENSIONS)
    text = html_lib.unescape(nh3.clean(html, tags=set()))
    text = re.sub(r"[ \t]+", " ", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()
