"""schemathesis over the API's own OpenAPI document (`/api/v1/openapi.json`): every GET route
and the draft check (`POST /similar`), with parameters and bodies generated from the document,
both valid ones and ones the document forbids. No answer may be a 500, valid requests must be
accepted, invalid ones refused, and every answer must match what the document says of its
status, content type, headers and JSON body.

Bounded and derandomised (the same cases every run, a few seconds an operation) so it runs in
`make test`; `make bench` is where speed is measured.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from bids.database import db as _db
from bids.demo import seed_demo
from portal import create_app
from portal.api import openapi
from search_index import similarity
from tests.conftest import make_config

EXAMPLES = 12
# `GET /openapi.json` and `GET /` take no parameters: there is nothing invalid to send them.
NO_PARAMETERS = ("/", "/openapi.json")


def _operations() -> list[tuple[str, str]]:
    document = openapi.build_document("http://localhost/api/v1")
    return sorted(
        (method.upper(), path)
        for path, operations in document["paths"].items()
        for method in operations
        if method == "get" or (method, path) == ("post", "/similar")
    )


OPERATIONS = _operations()
CASES = [
    (method, path, mode)
    for method, path in OPERATIONS
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    if mode == GenerationMode.POSITIVE or path not in NO_PARAMETERS
]


@pytest.fixture(scope="module")
def fuzzed_app(tmp_path_factory):
    """One app for the whole module, with the demo content (so ids, facets and matches exist)."""
    app = create_app(make_config(tmp_path_factory.mktemp("fuzz")))
    with app.app_context():
        _db.create_all()
        seed_demo()
        yield app
        _db.session.remove()
        _db.drop_all()
        _db.engine.dispose()


@pytest.fixture(scope="module")
def api_schema(fuzzed_app):
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", fuzzed_app)
    # A NUL character is refused in every parameter (400; test_api_description tests it), as
    # the document's introduction says: valid strings here hold none.
    schema.config.generation.update(allow_x00=False)
    return schema


def test_the_fuzzed_operations_cover_the_public_reads_and_the_draft_check():
    assert {("GET", "/bids"), ("GET", "/bids/{bid_id}"), ("POST", "/similar")} <= set(OPERATIONS)
    assert ("GET", "/360giving.json") in OPERATIONS


def _check_draft_check(case, response) -> None:
    """The draft check refuses, with 422, a text too short to compare (the document gives the
    minimum in words, which a JSON schema cannot state); anything else valid is answered."""
    if response.status_code == 422 and isinstance(case.body, dict):
        words = len(str(case.body.get("text", "")).split())
        assert words < similarity.MIN_WORDS, response.get_data(as_text=True)


@pytest.mark.parametrize(("method", "path", "mode"), CASES)
def test_operation_answers_as_described(api_schema, method, path, mode):
    operation = api_schema[path][method]

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def check(case):
        if path == "/similar" and mode == GenerationMode.POSITIVE:
            response = case.call_and_validate(
                excluded_checks=[schemathesis.checks.positive_data_acceptance]
            )
            _check_draft_check(case, response)
        else:
            case.call_and_validate()

    check()
