"""What the matcher calls overlap across funders on the shared UK 360Giving grants.

    python -m benchmarks.similarity_uk            # counts and ten examples to read
    python -m benchmarks.similarity_uk --examples 20

The grants are short (a title and a one- or two-sentence description, as `import-bids`
stores them), so this is where a label claimed on thin evidence shows. Each grant's top
NEIGHBOURS neighbours are scored as the engine scores them (`scores_for`: TF-IDF cosine lifted
to passage resemblance) and labelled by `relations_of` with the shared content words; pairs
of grants from different funders are counted per label, and a fixed-seed sample of the
near-duplicate and strong-overlap pairs is printed for a reader to judge.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import tempfile
import textwrap
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks.similarity_eval import SHARED_DATA
from search_index.similarity.matching import scores_for, shared_terms, shared_words
from search_index.similarity.relations import RELATED, RELATION_LABELS, relations_of
from search_index.similarity.store import Doc, Store

NEIGHBOURS = 20
GRANTS = Path("uk360giving") / "grants.json.gz"


@dataclass
class Grant:
    identifier: str
    funder: str
    recipient: str
    text: str


@dataclass
class CrossFunderPair:
    a: Grant
    b: Grant
    score: float
    relation: str
    words: int
    terms: list[str]


def load_grants(shared: Path = SHARED_DATA) -> list[Grant]:
    with gzip.open(shared / GRANTS, "rt") as handle:
        grants = json.load(handle)["grants"]
    out = []
    for g in grants:
        text = "\n\n".join(p for p in (g.get("title") or "", g.get("description") or "") if p)
        if not text.strip():
            continue
        funders = g.get("fundingOrganization") or [{}]
        recipients = g.get("recipientOrganization") or [{}]
        out.append(
            Grant(
                g["id"],
                funders[0].get("id") or funders[0].get("name") or "",
                recipients[0].get("name") or "",
                text,
            )
        )
    return out


def cross_funder_pairs(grants: list[Grant], scratch: Path) -> list[CrossFunderPair]:
    """Each grant's top neighbours from other funders scoring >= RELATED, labelled; each
    unordered pair once."""
    funders = {f: i for i, f in enumerate(sorted({g.funder for g in grants}))}
    store = Store(scratch, refit_below=0)
    with store.locked():
        snap = store.rebuild(
            [Doc(i, funders[g.funder], True, g.text) for i, g in enumerate(grants)]
        )
    rows, _ = snap.all_rows()
    sigs = np.asarray(snap.signatures())
    org = rows["org_id"]
    seen: set[tuple[int, int]] = set()
    found: list[tuple[int, int, float, float]] = []
    for p in range(len(rows)):
        score, resemblance = scores_for(snap, snap.row_vector(p), sigs[p])
        score[org == org[p]] = -1.0  # the same funder (and the grant itself)
        k = min(NEIGHBOURS, len(score) - 1)
        top = np.argpartition(-score, k - 1)[:k]
        for q in top[score[top] >= RELATED]:
            pair = (min(p, int(q)), max(p, int(q)))
            if pair not in seen:
                seen.add(pair)
                found.append((pair[0], pair[1], float(score[q]), float(resemblance[q])))
    out = []
    for x, y, score, resemblance in found:
        qx, qy = snap.row_vector(x), snap.row_vector(y)
        words = shared_words(snap, qx, qy)
        relation = str(
            relations_of(np.array([score]), np.array([resemblance]), np.array([words]))[0]
        )
        a, b = grants[int(rows["bid_id"][x])], grants[int(rows["bid_id"][y])]
        out.append(
            CrossFunderPair(a, b, min(score, 1.0), relation, words, shared_terms(snap, qx, qy))
        )
    return out


def report(pairs: list[CrossFunderPair], grants: int, examples: int = 10, seed: int = 15) -> str:
    counts = Counter(p.relation for p in pairs)
    lines = [
        f"{grants:,} grants; cross-funder pairs among each grant's top {NEIGHBOURS} "
        f"(score >= {RELATED}):",
        *(f"  {RELATION_LABELS[r]:20} {counts.get(r, 0):>7,}" for r in RELATION_LABELS),
    ]
    strong = [p for p in pairs if p.relation in ("near_duplicate", "strong")]
    short = [p for p in strong if min(len(p.a.text.split()), len(p.b.text.split())) < 40]
    lines.append(
        f"  of the near-duplicate and strong pairs, {len(short):,} have a text under 40 words"
    )
    chosen = sorted(
        random.Random(seed).sample(strong, min(examples, len(strong))), key=lambda p: -p.score
    )
    for n, p in enumerate(chosen, 1):
        lines.append(
            f"\n[{n}] {RELATION_LABELS[p.relation]}, score {p.score:.2f}, "
            f"{p.words} shared content words: {', '.join(p.terms)}"
        )
        for g in (p.a, p.b):
            lines.append(f"    {g.funder} -> {g.recipient} ({g.identifier})")
            lines.append(textwrap.indent(textwrap.shorten(g.text, 300), "      "))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.similarity_uk", description=__doc__)
    parser.add_argument("--examples", type=int, default=10)
    args = parser.parse_args(argv)
    grants = load_grants()
    with tempfile.TemporaryDirectory() as tmp:
        pairs = cross_funder_pairs(grants, Path(tmp))
    print(report(pairs, len(grants), args.examples))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
