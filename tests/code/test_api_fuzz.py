"""Fuzz the scoring API from its own OpenAPI schema with schemathesis: no input may cause a 5xx, and every answer
must match the documented status codes, content types and response schemas. Bounded (30 examples per operation,
derandomized) so it stays fast and repeatable.

The schema is read from an app built at import (cheap: no model is loaded then); the suite's small bundle (trained
with the project's own generator and trainer, tests/conftest.py) is attached by a fixture before the first request. (schemathesis'
`pytest.from_fixture` loader needs a pytest-internal attribute that pytest 9.2 no longer has.)
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from influence.api import ApiSettings, create_app

SETTINGS = ApiSettings(model="unused", max_body_bytes=256 * 1024)
app = create_app(SETTINGS)
# The scoring API's own operations (other routers mounted on the app have their own tests).
OPERATIONS = r"^/(healthz|readyz|v1/model|v1/deals/score|v1/people/score)$"
schema = schemathesis.openapi.from_dict(app.openapi()).include(path_regex=OPERATIONS)
schema.app = app


@pytest.fixture(scope="module", autouse=True)
def loaded_model(unit_bundle) -> None:
    from influence.api._service import load_service

    app.state.service = load_service(SETTINGS, unit_bundle)


@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_no_server_errors_and_answers_match_the_schema(case: schemathesis.Case) -> None:
    case.call_and_validate(
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
        ]
    )
