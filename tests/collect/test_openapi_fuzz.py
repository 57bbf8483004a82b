"""schemathesis against the application's own /openapi.json, for every collection route.

The generated requests (schema-conforming and, in negative mode, deliberately not) go to the
real application with its writer and a real database. Each response must not be a server
error, and must match what the document promises: a listed status code, the listed content
type, a body valid against the listed schema.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import APIOperation, BaseSchema, Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok  # what get_all_operations yields (or Err)
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import Engine
from starlette.types import Receive, Scope, Send

from tests.collect.helpers import add_source, basic, running_app

AnyCase = Case[Any]
AnyOperation = APIOperation[Any, Any, Any, Any]

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
# Not `positive_data_acceptance`: the document cannot say "userId or anonymousId" and the
# per-type required fields, so schema-valid messages are legitimately refused with 400.
EXAMPLES_PER_OPERATION = 12


@pytest.fixture
def api(engine: Engine, database_url: str) -> Iterator[tuple[BaseSchema, str]]:
    """The collection routes of the running app's schema, and a valid write key."""
    key = add_source(engine)
    with running_app(database_url) as client:
        app = client.app

        async def without_lifespan(scope: Scope, receive: Receive, send: Send) -> None:
            # The TestClient above already ran the lifespan (the runtime lives in app.state);
            # schemathesis would start a second one that outlives this test. Returning without
            # reading a lifespan message is how an ASGI app says it has none.
            if scope["type"] == "lifespan":
                return
            await app(scope, receive, send)

        schema = schemathesis.openapi.from_asgi("/openapi.json", without_lifespan)
        yield schema.include(tag="collection"), key


def _with_identity(case: AnyCase) -> AnyCase:
    """Gives the message(s) an anonymousId, which the document cannot require (see above)."""
    body = case.body
    messages = body.get("batch") if isinstance(body, dict) and "batch" in body else [body]
    for message in messages if isinstance(messages, list) else []:
        if isinstance(message, dict):
            message.setdefault("anonymousId", "anon-1")
    return case


def _cases(operation: AnyOperation, mode: GenerationMode, key: str) -> st.SearchStrategy[AnyCase]:
    cases: st.SearchStrategy[AnyCase] = operation.as_strategy(generation_mode=mode)
    if operation.method.upper() == "GET":  # settings: random keys, and the one that exists
        existing: st.SearchStrategy[AnyCase] = operation.as_strategy(
            generation_mode=mode, path_parameters={"write_key": key}
        )
        return cases | existing
    if mode is GenerationMode.NEGATIVE:
        return cases
    # Positive: JSON only. For text/plain (what analytics.js sends to avoid CORS preflights)
    # the document can only say "a string", so schemathesis sends random text, which tests
    # nothing beyond invalid JSON; test_fuzz_intake sends real JSON under random content types.
    # (as_strategy's media_type applies to explicit bodies only, hence the filter.)
    as_json = cases.filter(lambda case: case.media_type == "application/json")
    # Half of the cases get an identity, so that they get past validation to storage.
    return as_json | as_json.map(_with_identity)


def _with_key(
    cases: st.SearchStrategy[AnyCase], key: str
) -> st.SearchStrategy[tuple[AnyCase, dict[str, str]]]:
    # Most requests carry a valid key (Basic auth, as the SDKs send it) so they reach message
    # validation and storage; the rest test the refusals.
    return st.tuples(cases, st.sampled_from([basic(key)] * 4 + [{}]))


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
def test_collection_routes_keep_their_documented_promises(
    api: tuple[BaseSchema, str], mode: GenerationMode
) -> None:
    schema, key = api
    results = list(schema.get_all_operations())
    operations = [result.ok() for result in results if isinstance(result, Ok)]
    # 8 routes, 7 short forms and analytics.js' settings document, all well described.
    assert len(operations) == len(results) == 16, [operation.label for operation in operations]

    for operation in operations:
        if mode is GenerationMode.NEGATIVE and operation.method.upper() == "GET":
            # The settings route's only input is a string path parameter: every string is
            # valid, so there is nothing to negate (hypothesis would report Unsatisfiable).
            continue

        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,  # the write key differs per run; stored examples would not replay
            suppress_health_check=[
                HealthCheck.too_slow,
                HealthCheck.filter_too_much,
                HealthCheck.data_too_large,
                HealthCheck.function_scoped_fixture,
            ],
        )
        @given(drawn=_with_key(_cases(operation, mode, key), key))
        def call(drawn: tuple[AnyCase, dict[str, str]]) -> None:
            case, headers = drawn
            # Raises with the failing check, the response and a curl line to replay it.
            case.call_and_validate(headers=headers, checks=CHECKS)

        call()
