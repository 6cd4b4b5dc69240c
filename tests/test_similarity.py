"""Unit tests of the similarity engine: scoring, labels, explanations, persistence, permissions."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer

from bids.publishing import publish_bid
from search_index import similarity
from search_index.similarity.store import Doc, Store, Vectoriser
from search_index.similarity.text import estimated_resemblance, passage_overlap, signature

LONELY = (
    "Weekly lunch clubs and telephone befriending for isolated older people in rural villages, "
    "with volunteer drivers bringing members to the village hall and a winter programme of "
    "home visits so nobody spends the cold months alone."
)
FOOD = (
    "A community kitchen cooking surplus food into hot meals, teaching cooking skills to young "
    "parents and running a pay-what-you-can cafe on the estate every weekday lunchtime."
)
DIGITAL = (
    "Digital inclusion sessions in the library: lending tablets, helping older residents "
    "get online safely, video calls with family and booking appointments on the internet."
)
SPORT = (
    "Cross-community football and basketball leagues for teenagers, with dialogue workshops "
    "after each match so young people from both sides of the interface meet as team mates."
)


def test_fixed_vocabulary_transform_matches_fitted_vectors():
    texts = [LONELY, FOOD, DIGITAL, SPORT, LONELY + " " + FOOD]
    vectoriser, matrix = Vectoriser.fit(texts)
    reference = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, stop_words="english").fit(
        texts
    )
    assert vectoriser.terms == list(reference.get_feature_names_out())
    again = vectoriser.transform(texts)
    assert np.allclose(again.toarray(), matrix.toarray(), atol=1e-6)


def test_minhash_estimates_passage_resemblance():
    half = LONELY + " " + FOOD
    assert estimated_resemblance(signature(LONELY), signature(LONELY)[None, :])[0] == 1.0
    assert estimated_resemblance(signature(LONELY), signature(SPORT)[None, :])[0] < 0.1
    exact, share = passage_overlap(LONELY, half)
    estimate = estimated_resemblance(signature(LONELY), signature(half)[None, :])[0]
    assert share == 1.0 and 0.3 < exact < 0.7
    assert abs(estimate - exact) < 0.2


@pytest.mark.parametrize(
    ("score", "resemblance", "relation"),
    [
        (0.85, 0.0, "near_duplicate"),
        (0.2, 0.6, "near_duplicate"),
        (0.6, 0.1, "strong"),
        (0.3, 0.0, "strong"),
        (0.12, 0.0, "related"),
        (0.08, 0.0, None),
    ],
)
def test_relation_labels(score, resemblance, relation):
    assert similarity.relation_for(score, resemblance) == relation


def test_store_persists_and_applies_changes_incrementally(tmp_path):
    store = Store(tmp_path, refit_below=0)
    docs = [Doc(1, 10, True, LONELY), Doc(2, 20, True, FOOD), Doc(3, 30, True, DIGITAL)]
    with store.locked():
        store.rebuild(docs)
        store.change([Doc(4, 40, True, LONELY + " Also in the market town.")], [2])
    reopened = Store(tmp_path).snapshot()  # a restart reads the files, nothing is refitted
    rows, alive = reopened.all_rows()
    assert sorted(rows["bid_id"][alive].tolist()) == [1, 3, 4]
    q = reopened.vectoriser.transform([LONELY])
    base, delta = reopened.lexical_scores(q)
    scores = dict(zip(rows["bid_id"].tolist(), np.concatenate([base, delta]).tolist(), strict=True))
    assert scores[1] == pytest.approx(1.0, abs=1e-5)
    assert scores[4] > 0.8 > scores[3]
    assert reopened.position_of(2) is None


def test_same_text_from_two_organisations_ranks_first_for_each_other(app, factory):
    orgs = [factory.org(f"Org {i}") for i in range(4)]
    a = factory.bid(orgs[0], title="Lunch clubs", body=LONELY + " " + DIGITAL)
    b = factory.bid(orgs[1], title="Village lunches", body=LONELY + " " + DIGITAL)
    factory.bid(orgs[2], title="Rural lunch clubs", body=LONELY + " " + FOOD)
    factory.bid(orgs[3], title="Football", body=SPORT)
    for bid, other in ((a, b), (b, a)):
        matches = similarity.similar_to_bid(None, bid)
        assert matches[0].bid.id == other.id
        assert matches[0].relation == "near_duplicate"
        assert matches[0].passages_shared > 0.8
        assert bid.id not in [m.bid.id for m in matches]
        assert {"lunch", "older"} & set(" ".join(matches[0].shared_terms).split())


def test_drafts_are_matched_only_for_their_own_organisation(app, factory):
    mine, theirs = factory.org("Mine"), factory.org("Theirs")
    member = factory.user(org=mine)
    outsider = factory.user(org=theirs)
    draft = factory.bid(mine, published=False, title="Secret lunch clubs", body=LONELY)
    public = factory.bid(theirs, title="Lunch clubs", body=LONELY + " " + FOOD)
    draft_id = draft.id
    for user in (None, outsider):
        assert draft_id not in [m.bid.id for m in similarity.similar_to_text(user, LONELY)]
        assert draft_id not in [m.bid.id for m in similarity.similar_to_bid(user, public)]
    assert draft_id in [m.bid.id for m in similarity.similar_to_text(member, LONELY)]
    publish_bid(member, draft)
    factory.db.session.commit()
    assert draft_id in [m.bid.id for m in similarity.similar_to_text(outsider, LONELY)]


def test_new_bid_is_matchable_after_commit_without_a_rebuild(app, factory):
    app.extensions["similarity"].refit_below = 0  # take the large-corpus path: delta rows
    org = factory.org()
    factory.bid(org, body=FOOD)
    factory.bid(org, body=SPORT)
    similarity.rebuild()
    built = app.extensions["similarity"].manifest()["base"]
    new = factory.bid(factory.org(), title="Cafe", body=FOOD + " Open on Saturdays too.")
    assert app.extensions["similarity"].manifest()["base"] == built
    found = similarity.similar_to_text(None, FOOD)
    assert new.id in [m.bid.id for m in found]


def test_overlap_pairs_cover_published_bids_only(app, factory):
    orgs = [factory.org() for _ in range(3)]
    a = factory.bid(orgs[0], body=LONELY)
    b = factory.bid(orgs[1], body=LONELY + " " + DIGITAL)
    draft = factory.bid(orgs[2], published=False, body=LONELY)
    factory.bid(orgs[2], body=SPORT)
    pairs = list(similarity.overlap_pairs(0.3))
    assert {(p.a, p.b) for p in pairs} == {(min(a.id, b.id), max(a.id, b.id))}
    pair = pairs[0]
    assert pair.a < pair.b and 0 < pair.score <= 1 and pair.relation in similarity.RELATION_LABELS
    assert pair.shared_terms
    assert draft.id not in {x for p in similarity.pairs_for(a.id) for x in (p.a, p.b)}
    assert [(p.a, p.b) for p in similarity.pairs_for(a.id)] == [(pair.a, pair.b)]


def test_compare_escapes_text_and_marks_shared_passages(app):
    left = "<script>alert(1)</script> " + LONELY
    right = LONELY + " <b>bold</b>"
    comparison = similarity.compare_texts(left, right)
    assert "<script>" not in comparison.left and "&lt;script&gt;" in comparison.left
    assert "<b>" not in comparison.right
    assert comparison.left.count("<mark>") == 1 and "<mark>Weekly lunch clubs" in comparison.left
    assert comparison.share_right > 0.9


def test_text_length_checks():
    assert similarity.check_text_length("too short") is not None
    assert similarity.check_text_length(LONELY) is None
    assert "200,000" in similarity.check_text_length("word " * 40_001)


def test_rebuild_command_reports_and_status(app, factory, runner):
    org = factory.org()
    factory.bid(org, body=LONELY)
    factory.bid(org, body=FOOD)
    result = runner.invoke(args=["similarity", "rebuild"])
    assert result.exit_code == 0 and "rebuilt: 2 bids" in result.output
    status = runner.invoke(args=["similarity", "status"])
    assert "2 bids" in status.output and "0 rows in the delta" in status.output
    assert "not matched until" not in status.output
    similarity.get_store().refit_below = 0  # as a large store: changes go to the delta
    factory.bid(org, body=DIGITAL)
    status = runner.invoke(args=["similarity", "status"])
    assert "3 bids" in status.output and "1 rows in the delta" in status.output
    assert "not matched until the next `flask --app portal similarity rebuild`" in status.output


def test_overlap_pair_unpacks_like_a_tuple(app, factory):
    orgs = [factory.org() for _ in range(2)]
    a = factory.bid(orgs[0], body=LONELY)
    b = factory.bid(orgs[1], body=LONELY)
    (pair,) = similarity.overlap_pairs(0.3)
    x, y, score, relation, terms = pair
    assert (x, y) == (min(a.id, b.id), max(a.id, b.id)) and pair[2] == score == pair.score
    assert relation == "near_duplicate" and terms == pair.shared_terms and "clubs" in terms


def _snapshot_without_cached_neighbours():
    from search_index.similarity.sync import current_snapshot

    for cached in similarity.get_store().dir.glob("neighbours-*.npz"):
        cached.unlink()
    return current_snapshot().whole()


def _exact_scores(snap, positions):
    matrix = snap.matrix()[positions]
    cosine = (matrix @ matrix.T).toarray()
    sigs = np.asarray(snap.signatures())[positions]
    same = (sigs[:, None, :] == sigs[None, :, :]) & (sigs[:, None, :] != np.iinfo(np.uint32).max)
    scores = np.maximum(cosine, same.mean(axis=2))
    np.fill_diagonal(scores, -1.0)
    return scores


def test_corpus_neighbours_are_each_bids_best_scoring_bids(app, factory, monkeypatch):
    """The candidate step (a sparse product through the query terms' postings, chunk by
    chunk) finds every public bid's exact top NEIGHBOURS when no query term is left out."""
    import random
    import re

    from search_index.similarity import pairs

    rng = random.Random(7)
    words = sorted(set(re.findall(r"[a-z]+", (LONELY + FOOD + DIGITAL + SPORT).lower())))
    orgs = [factory.org() for _ in range(3)]
    for i in range(30):
        factory.bid(orgs[i % 3], body=" ".join(rng.sample(words, 14)), published=i != 5)
    for name, value in (
        ("QUERY_TERMS", 10_000),
        ("CHUNK_ROWS", 4),
        ("CHUNK_POSTINGS", 60),
        ("NEIGHBOURS", 5),
        ("CANDIDATES", 8),
    ):
        monkeypatch.setattr(pairs, name, value)
    snap = _snapshot_without_cached_neighbours()
    positions = pairs._public_positions(snap)
    assert len(positions) == 29
    a, b, s = pairs._neighbours(snap)
    exact = _exact_scores(snap, positions)
    assert set(a.tolist()) | set(b.tolist()) <= set(positions.tolist())
    for i, position in enumerate(positions):
        best = sorted(exact[i], reverse=True)[:5]
        assert sorted(s[a == position].tolist(), reverse=True) == pytest.approx(best, abs=1e-5)
        for other, score in zip(b[a == position].tolist(), s[a == position].tolist(), strict=True):
            assert exact[i, positions.tolist().index(other)] == pytest.approx(score, abs=1e-5)


def test_a_word_most_bids_use_finds_no_neighbours(app, factory, monkeypatch):
    """Candidates come through the postings of a bid's rarer terms only: a term more than
    CANDIDATE_SHARE of the bids hold would bring in most of the corpus (and is no evidence)."""
    from search_index.similarity import pairs

    orgs = [factory.org() for _ in range(4)]
    common = " Harmony harmony harmony for everybody."
    for text in (LONELY, FOOD, DIGITAL, SPORT):
        factory.bid(orgs[0], body=text + common)
    monkeypatch.setattr(pairs, "MIN_CANDIDATE_DF", 1)
    monkeypatch.setattr(pairs, "CANDIDATE_SHARE", 0.5)
    snap = _snapshot_without_cached_neighbours()
    positions = pairs._public_positions(snap)
    matrix = snap.matrix()[positions]
    df = np.diff(matrix.tocsc().indptr)
    rare = (matrix[:, df <= 2] @ matrix[:, df <= 2].T).toarray()
    a, b, _ = pairs._neighbours(snap)
    local = {p: i for i, p in enumerate(positions.tolist())}
    found = {(local[x], local[y]) for x, y in zip(a.tolist(), b.tolist(), strict=True)}
    assert found and all(rare[x, y] > 0 for x, y in found)
    exact = _exact_scores(snap, positions)
    missed = [(x, y) for x in range(4) for y in range(4) if x != y and (x, y) not in found]
    assert any(exact[x, y] > 0 for x, y in missed)
