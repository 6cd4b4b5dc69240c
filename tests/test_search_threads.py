"""Whoosh's readers are not safe to share between threads: each thread gets its own searcher."""

from __future__ import annotations

import threading

import pytest

from search_index import get_index
from search_index.service import get_search_service


@pytest.fixture
def app_config():
    return {"SEARCH_BACKEND": "whoosh"}  # Whoosh's searchers; PostgreSQL has none to share


def test_each_thread_has_its_own_searcher_and_keeps_it_between_searches(app, factory):
    factory.bid(factory.org("Harbour Makers"), title="Harbour steps")
    index = get_index()
    mine = index.searcher()
    assert index.searcher() is mine  # reused between requests of one thread
    theirs: list = []

    def other_thread() -> None:
        theirs.append(index.searcher())

    thread = threading.Thread(target=other_thread)
    thread.start()
    thread.join()
    assert theirs and theirs[0] is not mine


def test_concurrent_searches_all_answer(app, factory):
    for n in range(12):
        factory.bid(
            factory.org(f"Valley Group {n}"),
            title=f"Valley tool share {n}",
            body="Neighbours share tools, skills and meals.",
        )
    errors: list[BaseException] = []
    totals: list[int] = []

    def search() -> None:
        try:
            with app.app_context():
                for _ in range(20):
                    totals.append(get_search_service().search(None, "tools").total)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=search) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    assert set(totals) == {12}
