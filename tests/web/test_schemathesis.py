"""schemathesis against /openapi.json: no server errors, no response that breaks the schema."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import settings
from schemathesis.specs.openapi.checks import negative_data_rejection

from reminders.config import Settings
from reminders.ops import heartbeat
from reminders.web.app import create_app
from tests.harness import Clinic
from tests.web.conftest import Clock

# A schema can say a phone is a string, not that it is a real number, nor that each patient
# reads the same on every row: the import's own validation answers 422 to such a batch.
CONFIG = schemathesis.Config.from_dict(
    {
        "operations": [
            {
                "include-path": "/api/v1/sessions",
                "include-method": "PUT",
                "checks": {
                    "positive_data_acceptance": {
                        "expected-statuses": ["2xx", "401", "409", "422"],
                    },
                },
            }
        ]
    }
)


@pytest.fixture
def api_schema(
    web_settings: Settings, clinic: Clinic, clock: Clock, request: pytest.FixtureRequest
) -> schemathesis.BaseSchema:
    # schemathesis 4.32's fixture loader renames the test through `node._nodeid`, which
    # pytest 9 no longer has: give it the attribute to read.
    request.node._nodeid = request.node.nodeid
    (web_settings.state_dir / "broker").mkdir(parents=True, exist_ok=True)
    # A running service: without a worker's and beat's heartbeat /healthz rightly answers 503.
    heartbeat.record(web_settings, "worker:celery@clinic", clock.now)
    heartbeat.record(web_settings, heartbeat.BEAT, clock.now)
    app = create_app(web_settings, clock=clock)
    return schemathesis.openapi.from_asgi("/openapi.json", app, config=CONFIG)


schema = schemathesis.pytest.from_fixture("api_schema")


# The same cases every run, so CI does not flake on a newly drawn one.
@schema.parametrize()
@settings(max_examples=25, deadline=None, derandomize=True)
def test_the_api_keeps_to_its_schema(case: schemathesis.Case[Any], api_token: str) -> None:
    # Every call carries a valid token, so a case generated to lack one is in fact a valid
    # request: the negative-data check cannot judge it (test_api tests the 401s directly).
    case.call_and_validate(
        headers={"Authorization": f"Bearer {api_token}"},
        excluded_checks=[negative_data_rejection],
    )
