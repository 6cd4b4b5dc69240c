"""The matcher kept in the database (`SIMILARITY_BACKEND=database`): the same matches as the
file store, from tables any node can read. Runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from bids.publishing import hide_bid
from search_index import similarity
from search_index.similarity.db_models import (
    SimilarityGeneration,
    SimilarityTerm,
    SimilarityVector,
)
from search_index.similarity.db_store import DbStore
from search_index.similarity.store import Store
from search_index.similarity.sync import similarity_backend
from tests.conftest import ON_POSTGRES, vacuum_count
from tests.test_similarity import DIGITAL, FOOD, LONELY, SPORT


@pytest.fixture
def app_config():
    return {"SIMILARITY_BACKEND": "database"}


def test_the_backend_is_chosen_from_configuration():
    assert similarity_backend({"SQLALCHEMY_DATABASE_URI": "sqlite:///x.db"}) == "files"
    assert similarity_backend({"SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://h/db"}) == (
        "database"
    )
    assert (
        similarity_backend(
            {"SQLALCHEMY_DATABASE_URI": "postgresql://h/db", "SIMILARITY_BACKEND": "Files"}
        )
        == "files"
    )
    with pytest.raises(RuntimeError, match="files or database"):
        similarity_backend({"SIMILARITY_BACKEND": "redis"})


def _corpus(factory):
    orgs = [factory.org() for _ in range(4)]
    return {
        "lonely": factory.bid(orgs[0], title="Village lunches", body=LONELY),
        "copy": factory.bid(orgs[1], title="Rural befriending", body=LONELY + " " + DIGITAL),
        "food": factory.bid(orgs[2], title="Kitchen", body=FOOD),
        "sport": factory.bid(orgs[3], title="Sport", body=SPORT),
        "draft": factory.bid(orgs[3], title="Draft", published=False, body=LONELY),
    }


def test_matches_come_from_the_tables(app, db, factory):
    assert isinstance(similarity.get_store(), DbStore)
    bids = _corpus(factory)
    stored = set(db.session.scalars(select(SimilarityVector.bid_id)))
    assert stored == {b.id for b in bids.values()}
    postings = db.session.scalar(
        select(func.count()).where(SimilarityTerm.bid_id == bids["lonely"].id)
    )
    assert postings and postings > 10
    found = similarity.similar_to_bid(None, bids["lonely"])
    assert [m.bid.id for m in found][:1] == [bids["copy"].id]
    assert bids["draft"].id not in [m.bid.id for m in found]  # not the outsider's to see
    assert "befriending" in found[0].shared_terms or "isolated older" in found[0].shared_terms
    drafts = similarity.similar_to_text(None, LONELY)
    assert drafts[0].bid.id == bids["lonely"].id and drafts[0].relation == "near_duplicate"


def test_the_same_matches_as_the_file_store(app, db, factory, tmp_path):
    """Both stores fitted on the same bids rank and label them alike."""
    _corpus(factory)
    similarity.rebuild()
    database = [
        (m.bid.id, m.score, m.relation, m.shared_terms)
        for m in similarity.similar_to_text(None, LONELY + " " + FOOD)
    ]
    app.extensions["similarity"] = Store(tmp_path / "files")
    similarity.rebuild()
    files = [
        (m.bid.id, m.score, m.relation, m.shared_terms)
        for m in similarity.similar_to_text(None, LONELY + " " + FOOD)
    ]
    assert database == files and len(files) >= 2


def test_a_refit_writes_each_row_from_its_slice_of_the_matrix(app, db, factory, monkeypatch):
    """`matrix[i]` copies every index of the matrix before slicing (mixed index dtypes): per
    row of a 42k refit that was over 10 minutes in all. The rows stored are the matrix's."""
    import numpy as np
    import scipy.sparse as sp

    bids = _corpus(factory)

    real_getitem = sp.csr_matrix.__getitem__

    def no_row_slicing(self, key):
        if isinstance(key, int | np.integer):  # one row: matrix[i]
            raise AssertionError(f"matrix[{key!r}] while writing the store")
        return real_getitem(self, key)

    monkeypatch.setattr(sp.csr_matrix, "__getitem__", no_row_slicing)
    similarity.rebuild()
    monkeypatch.undo()
    snap = similarity.get_store().snapshot()
    row = db.session.get(SimilarityVector, bids["lonely"].id)
    expected = snap.vectoriser.transform([similarity.document_text(bids["lonely"])])
    assert np.frombuffer(row.columns, dtype="<i4").tolist() == expected.indices.tolist()
    assert np.allclose(np.frombuffer(row.weights, dtype="<f4"), expected.data)


def test_a_member_sees_its_own_draft_as_a_candidate(app, db, factory):
    bids = _corpus(factory)
    member = factory.user("member@example.org", org=bids["draft"].organisation)
    found = [m.bid.id for m in similarity.similar_to_bid(member, bids["lonely"])]
    assert bids["draft"].id in found


def test_hiding_and_deleting_reach_the_tables(app, db, factory):
    from bids.models import Bid

    bids = _corpus(factory)
    admin = factory.user("admin@example.org", admin=True)
    hide_bid(admin, bids["copy"], "copied")
    db.session.commit()
    row = db.session.get(SimilarityVector, bids["copy"].id)
    assert row is not None and row.public is False
    assert bids["copy"].id not in [m.a for m in similarity.pairs_for(bids["lonely"].id)] + [
        m.b for m in similarity.pairs_for(bids["lonely"].id)
    ]
    sport_id = bids["sport"].id
    db.session.delete(db.session.get(Bid, sport_id))
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(SimilarityVector, sport_id) is None
    assert not db.session.scalar(select(func.count()).where(SimilarityTerm.bid_id == sport_id))


def test_a_large_store_takes_changes_without_refitting(app, db, factory):
    store = similarity.get_store()
    store.refit_below = 0  # as a large store: changes keep the fitted vocabulary
    bids = _corpus(factory)
    similarity.rebuild()
    generation = db.session.scalar(select(SimilarityGeneration.id))
    new = factory.bid(factory.org(), title="Cafe", body=FOOD + " Open on Saturdays too.")
    db.session.expire_all()
    assert db.session.scalar(select(SimilarityGeneration.id)) == generation
    row = db.session.get(SimilarityVector, new.id)
    assert row is not None and row.fitted is False
    snap = store.snapshot()
    assert snap is not None and snap.unfitted_rows() == 1
    assert new.id in [m.bid.id for m in similarity.similar_to_bid(None, bids["food"])]


def test_rebuild_command_fills_the_tables_and_status_reads_them(app, db, factory, runner):
    _corpus(factory)
    db.session.execute(SimilarityTerm.__table__.delete())
    db.session.execute(SimilarityVector.__table__.delete())
    db.session.commit()
    result = runner.invoke(args=["similarity", "rebuild"])
    assert result.exit_code == 0 and "rebuilt: 5 bids" in result.output
    assert db.session.scalar(select(func.count()).select_from(SimilarityVector)) == 5
    status = runner.invoke(args=["similarity", "status"])
    assert "5 bids" in status.output and "0 rows in the delta" in status.output


@pytest.mark.skipif(not ON_POSTGRES, reason="VACUUM is PostgreSQL's (TEST_DATABASE_URL)")
def test_a_rebuild_vacuums_the_tables_it_replaced(app, db, factory, runner):
    _corpus(factory)
    tables = [SimilarityTerm.__tablename__, SimilarityVector.__tablename__]
    before = [vacuum_count(t) for t in tables]
    assert runner.invoke(args=["similarity", "rebuild"]).exit_code == 0
    assert [vacuum_count(t) for t in tables] == [n + 1 for n in before]


def test_clusters_read_the_pairs_from_the_tables(app, db, factory):
    bids = _corpus(factory)
    pairs = {(p.a, p.b): p for p in similarity.overlap_pairs()}
    key = tuple(sorted((bids["lonely"].id, bids["copy"].id)))
    assert key in pairs and pairs[key].shared_terms
    assert all(bids["draft"].id not in k for k in pairs)
