"""What a result page shows of each text: highlighted snippets, and a "did you mean" spelling.

Both read the words a parsed query looks for; snippets are cut from the database's texts
(the source of truth), not from anything stored in the index.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache

from markupsafe import Markup, escape
from sqlalchemy import select
from whoosh import query as wq

from bids.database import db
from bids.markdown_render import markdown_to_text
from bids.models import Attachment, Bid
from search_index.query import OPERATORS

SNIPPET_CHARS = 4_000  # highlight within the first part of long texts only
# A word "did you mean" may correct, on either backend (and the candidates it may offer).
SPELLED_WORD = re.compile(r"[^\W\d_]{3,}", re.UNICODE)
_TOKEN = re.compile(r"\w+", re.UNICODE)
# Anything Markdown could read as markup (emphasis, headings, lists, links, code, HTML,
# entities, tables, rules); a text with none of it is its own plain text.
_MARKUP = re.compile(r"[*_#`\[\]<>|~&\\]|^\s*(?:[-+=]|\d+[.)])(?:\s|$)", re.MULTILINE)


def plain_text(source: str) -> str:
    """What a reader sees of a Markdown text, as plain text (what snippets are cut from)."""
    if not source or not _MARKUP.search(source):
        return source or ""
    return _plain_text(source)


@lru_cache(maxsize=4096)
def _plain_text(source: str) -> str:
    return markdown_to_text(source)


class Snippeter:
    """Highlighted snippets: the text escaped, words whose stem the query looks for in <mark>.

    Whoosh's own highlighter runs every token through the analyzer chain (~7 ms a result);
    this one stems each distinct word once and remembers it.
    """

    def __init__(self, analyzer, *, surround: int = 90, fragments: int = 2):
        self.analyzer = analyzer
        self.surround = surround
        self.fragments = fragments
        self._stems: dict[str, str | None] = {}

    def stem(self, word: str) -> str | None:
        stem = self._stems.get(word, "")
        if stem == "":
            tokens = [t.text for t in self.analyzer(word)]
            stem = tokens[0] if tokens else None
            if len(self._stems) > 200_000:
                self._stems.clear()
            self._stems[word] = stem
        return stem

    @staticmethod
    @lru_cache(maxsize=1024)
    def candidates(terms: frozenset[str]) -> re.Pattern:
        """The words that may stem to one of the terms: those sharing a term's first three
        letters (a stem begins as its word does), and any word with a non-ASCII letter (its
        folded stem may differ: "école" is "ecol"), found by the regex engine, not Python."""
        heads = sorted({re.escape(t[:3]) for t in terms if t}, key=len, reverse=True)
        return re.compile(
            r"(?<!\w)(?:(?:" + "|".join(heads) + r")\w*|\w*[^\x00-\x7f]\w*)",
            re.IGNORECASE | re.UNICODE,
        )

    def __call__(self, text: str, terms: set[str]) -> Markup | None:
        if not terms:
            return None
        found = self.candidates(frozenset(terms)).finditer(text)
        matches = [m for m in found if self.stem(m.group(0).lower()) in terms]
        if not matches:
            return None
        pieces: list[str] = []
        last_end = -1
        for match in matches:
            if len(pieces) == self.fragments:
                break
            if match.start() < last_end:
                continue
            start = max(0, match.start() - self.surround)
            end = min(len(text), match.end() + self.surround * 2)
            if start > 0:  # start and end on word boundaries
                space = text.find(" ", start, match.start())
                start = space + 1 if space != -1 else start
            if end < len(text):
                space = text.rfind(" ", match.end(), end)
                end = space if space != -1 else end
            inside = [m for m in matches if m.start() >= start and m.end() <= end]
            out, cursor = [], start
            for m in inside:
                out.append(str(escape(text[cursor : m.start()])))
                out.append(f"<mark>{escape(m.group(0))}</mark>")
                cursor = m.end()
            out.append(str(escape(text[cursor:end])))
            pieces.append(
                ("… " if start > 0 else "")
                + "".join(out).strip()
                + (" …" if end < len(text) else "")
            )
            last_end = end
        return Markup(" ".join(pieces))


def add_snippets(snippeter: Snippeter, searcher, query, hits: list) -> None:
    """Give each hit a snippet of its body (attachments' text included) or else its summary."""
    terms = highlight_terms(query, searcher.reader())
    if not terms:
        return
    ids = [hit.bid_id for hit in hits]
    # Bodies are Markdown: snippets are cut from what a reader sees (`## Why this matters`
    # reads "Why this matters"); only the first part of a long body is rendered.
    texts = {
        bid_id: [
            plain_text((summary or "")[:SNIPPET_CHARS]),
            plain_text((body or "")[:SNIPPET_CHARS]),
        ]
        for bid_id, summary, body in db.session.execute(
            select(Bid.id, Bid.summary, Bid.body).where(Bid.id.in_(ids))
        )
    }
    for bid_id, text in db.session.execute(
        select(Attachment.bid_id, Attachment.text).where(Attachment.bid_id.in_(ids))
    ):
        if text and bid_id in texts:
            texts[bid_id][1] += "\n\n" + text
    for hit in hits:
        summary, body = texts.get(hit.bid_id, ("", ""))
        for text in (body, summary):
            snippet = snippeter(text[:SNIPPET_CHARS], terms) if text else None
            if snippet:
                hit.snippet = snippet
                break


def highlight_terms(query, reader, fields=("text", "summary"), prefix_limit=50) -> set[str]:
    """The indexed words a query looks for in the snippet fields (prefixes expanded)."""
    terms: set[str] = set()
    for leaf in query.leaves():
        if isinstance(leaf, wq.Prefix):
            if leaf.field() in fields:
                for n, (_, word) in enumerate(leaf.expanded_terms(reader)):
                    if n >= prefix_limit:
                        break
                    terms.add(word.decode("utf-8") if isinstance(word, bytes) else word)
            continue
        for fieldname, text in leaf.iter_all_terms(phrases=True):
            if fieldname in fields:
                terms.add(text.decode("utf-8") if isinstance(text, bytes) else text)
    return terms


SUGGESTIONS = 10  # spellings asked of the corrector per word, the first one `allowed` reads


def corrected_query(
    text: str, known: Callable[[str], bool], suggest: Callable[[str], str | None]
) -> str | None:
    """A 'did you mean' for `text`, on either backend: each word of three letters or more
    (not an operator, not a field name) that is not `known` is replaced by its `suggest`ion
    (given the word lower-cased), if there is one; None when nothing changed."""
    changed = False

    def fix(match: re.Match) -> str:
        nonlocal changed
        word = match.group(0)
        if word in OPERATORS or text[match.end() : match.end() + 1] == ":" or known(word):
            return word
        suggestion = suggest(word.lower())
        if suggestion:
            changed = True
            return suggestion
        return word

    corrected = SPELLED_WORD.sub(fix, text)
    return corrected if changed and corrected != text else None


def spelling_correction(searcher, analyzer, text: str, allowed) -> str | None:
    """Whoosh's 'did you mean': spellings from the index's title words.

    `allowed` (a mask over document numbers: who asks may read them) decides both: a word
    only drafts or hidden bids hold is unknown, and is never suggested (the index holds every
    bid, so its vocabulary would otherwise spell out a draft's title to anyone)."""
    from search_index.docsets import query_mask

    corrector = searcher.reader().corrector("title")

    def readable(word: str, fields=("text", "title", "summary")) -> bool:
        stems = [t.text for t in analyzer(word.lower())]
        if not stems:
            return True  # a stop word: nothing to look for
        query = wq.Or([wq.Term(f, stems[0]) for f in fields])
        return bool((query_mask(query, searcher, len(allowed)) & allowed).any())

    def suggest(word: str) -> str | None:
        for suggestion in corrector.suggest(word, limit=SUGGESTIONS, maxdist=2, prefix=1):
            if readable(suggestion, ("title",)):
                return suggestion
        return None

    return corrected_query(text, readable, suggest)
