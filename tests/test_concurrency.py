"""Several writers publishing at once, beside readers: nothing fails, nothing is lost.

Writers publish through the API (each for its own organisation) and through the domain
service (as the importer does, naming applicant organisations that do not exist yet); every
bid names one of a few funders nobody has created yet, so they all race to create them.
Readers search, list and open bids meanwhile. Afterwards every acknowledged bid is in the
database, in the search index and in the similarity store, no follower failed, nothing is
left in the outbox once it is drained, and the clusters are what a full refresh computes.
Runs on the suite's database (a SQLite file, or TEST_DATABASE_URL's PostgreSQL).
"""

from __future__ import annotations

import logging
import threading
import traceback

from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from whoosh.index import LockError

from bids.database import db as _db
from bids.models import Bid, Organisation, OrgKind, Visibility
from bids.organisations import find_or_create_organisation
from bids.pools.models import OverlapCluster
from bids.publishing import create_bid
from search_index import get_index, outbox, similarity
from search_index.similarity import get_store
from tests.test_races import api_user, assert_clusters_as_from_scratch

API_WRITERS = 2
SERVICE_WRITERS = 2
BIDS_EACH = 4
READERS = 2
FUNDERS = ["Accept Funder", "Harbour Light Trust", "Lantern Community Fund"]
THEMES = [
    "Relational practice network: a map of community connectors, peer learning circles for "
    "neighbourhood workers, and a shared library of stories about kindness between strangers "
    "in small towns across the valleys, with monthly gatherings and a small grants fund.",
    "Coastal repair workshop: volunteers restore fishing boats, teach fibreglass and marine "
    "engine skills to school leavers, and keep the harbour slipway open for rowing clubs, "
    "sea scouts and the lifeboat crew through the winter storms.",
]


def bid_data(writer: str, n: int) -> dict:
    theme = n % len(THEMES)
    return {
        "title": f"{writer} bid {n}",
        "summary": f"Round {n} of the {writer} programme.",
        "body": f"{THEMES[theme]} Delivered by {writer} in round {n}.",
        "funder": {"name": FUNDERS[n % len(FUNDERS)]},
        "amount_requested": "12000",
        "visibility": "published",
    }


def waited_for_a_lock(exc: BaseException | None) -> bool:
    if isinstance(exc, LockError):
        return True
    return isinstance(exc, OperationalError) and "database is locked" in str(exc)


def test_writers_beside_readers_lose_nothing(app, db, factory, caplog):  # noqa: C901 - one scenario, read top to bottom
    tokens = [
        api_user(db, factory.org(f"API Applicant {i}"), f"api{i}@example.org")
        for i in range(API_WRITERS)
    ]
    acknowledged: list[int] = []
    errors: list[str] = []
    lock = threading.Lock()
    writers_done = threading.Event()
    start = threading.Barrier(API_WRITERS + SERVICE_WRITERS + READERS)

    def note_error(message: str) -> None:
        with lock:
            errors.append(message)

    def api_writer(i: int) -> None:
        client = app.test_client()
        start.wait()
        for n in range(BIDS_EACH):
            response = client.post(
                "/api/v1/bids",
                json=bid_data(f"api{i}", n),
                headers={"Authorization": f"Bearer {tokens[i]}"},
            )
            if response.status_code != 201:
                note_error(
                    f"api{i} bid {n}: {response.status_code} {response.get_data(True)[:300]}"
                )
                continue
            with lock:
                acknowledged.append(response.get_json()["id"])

    def service_writer(i: int) -> None:
        start.wait()
        for n in range(BIDS_EACH):
            # The same new applicants for every service writer: they race to create them too.
            org = find_or_create_organisation(f"Shared Applicant {n % 2}")
            bid = create_bid(None, org, bid_data(f"service{i}", n), check_membership=False)
            _db.session.commit()
            with lock:
                acknowledged.append(bid.id)

    def reader(i: int) -> None:
        client = app.test_client()
        start.wait()
        n = 0
        while not writers_done.is_set() or n < 3:
            with lock:
                seen = acknowledged[-1] if acknowledged else None
            for url in (
                "/search?q=community+connectors",
                "/api/v1/bids?q=harbour",
                f"/bids/{seen}" if seen else "/search?q=boats",
            ):
                status = client.get(url).status_code
                if status != 200:
                    note_error(f"reader{i} {url}: {status}")
            n += 1

    def run(work, i: int) -> None:
        with app.app_context():
            try:
                work(i)
            except BaseException as exc:  # noqa: BLE001 - reported by the test
                note_error(f"{work.__name__}{i}: {exc!r}\n{traceback.format_exc()[-2000:]}")
                _db.session.rollback()
            finally:
                _db.session.remove()

    writers = [threading.Thread(target=run, args=(api_writer, i)) for i in range(API_WRITERS)] + [
        threading.Thread(target=run, args=(service_writer, i)) for i in range(SERVICE_WRITERS)
    ]
    readers = [threading.Thread(target=run, args=(reader, i)) for i in range(READERS)]
    for thread in writers + readers:
        thread.start()
    for thread in writers:
        thread.join(timeout=300)
    writers_done.set()
    for thread in readers:
        thread.join(timeout=60)
    assert not any(t.is_alive() for t in writers + readers), "a thread hung"

    assert errors == []
    expected = (API_WRITERS + SERVICE_WRITERS) * BIDS_EACH
    assert len(acknowledged) == expected
    db.session.expire_all()
    stored = set(
        db.session.scalars(
            select(Bid.id).where(Bid.id.in_(acknowledged), Bid.visibility == Visibility.PUBLISHED)
        )
    )
    assert stored == set(acknowledged)

    # One row for each organisation, however many writers named it first.
    for name in FUNDERS + ["Shared Applicant 0", "Shared Applicant 1"]:
        rows = list(db.session.scalars(select(Organisation).where(Organisation.name == name)))
        assert len(rows) == 1, name
    assert {
        o.kind
        for o in db.session.scalars(select(Organisation).where(Organisation.name.in_(FUNDERS)))
    } == {OrgKind.FUNDER}

    # Applying after commit is best effort by design: the failures allowed are a lock still held
    # by other writers after its timeout (the search index's, or on a loaded machine SQLite's
    # own), which leaves the rows queued for the next drain (here `sync`, as `index sync` or the
    # next write would).
    failures = [
        r
        for r in caplog.records
        if r.name == "search_index.outbox" and r.levelno >= logging.WARNING
    ]
    assert all(r.exc_info and waited_for_a_lock(r.exc_info[1]) for r in failures), [
        r.getMessage() + repr(r.exc_info and r.exc_info[1]) for r in failures
    ]
    outbox.sync()
    assert outbox.pending_count() == 0
    assert set(acknowledged) <= set(get_index().stored())
    snapshot = get_store().snapshot().whole()  # every row, whichever the store
    assert all(snapshot.position_of(bid_id) is not None for bid_id in acknowledged)
    for bid in db.session.scalars(select(Bid).where(Bid.id.in_(acknowledged))):
        matches = {m.bid.id for m in similarity.similar_to_bid(None, bid, limit=50)}
        assert matches & set(acknowledged), bid.title  # each theme has bids of other writers

    assert db.session.scalar(select(OverlapCluster.id).limit(1)) is not None
    assert_clusters_as_from_scratch(db)


def test_searching_before_anything_was_indexed_answers(client, db):
    """Readers may come first: an index nothing was written to yet (it used to be a 500:
    'EmptyReader' object has no attribute '_segment')."""
    for url in ("/search?q=community", "/search", "/api/v1/bids?q=harbour"):
        assert client.get(url).status_code == 200, url
