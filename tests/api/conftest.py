"""API fixtures: a second app carrying a test-only blueprint of JSON endpoints.

The production API has no JSON-body endpoint yet, so body parsing, the field bounds, CSRF on the
API and the error answers are checked against ``/api/v1/probe…`` on an app built exactly like
production (same database) plus this one blueprint.
"""

from __future__ import annotations

import pytest

from app.api.blueprint import ApiBlueprint
from app.api.fields import (
    FreeText,
    Id,
    InputSchema,
    Lines,
    Name,
    Points,
    Quantity,
    StrictBool,
)
from app.auth.access import public, roles_required, staff_required
from tests.conftest import IsolatedClient


class ProbeLine(InputSchema):
    item_id = Id(required=True)
    quantity = Quantity(required=True)


class ProbeBody(InputSchema):
    name = Name(required=True)
    note = FreeText()
    points = Points()
    quantity = Quantity()
    flag = StrictBool()
    lines = Lines(ProbeLine)


def make_probe_blueprint() -> ApiBlueprint:
    bp = ApiBlueprint("api_probe", __name__)

    @bp.route("/probe", methods=["POST"])
    @bp.arguments(ProbeBody)
    @bp.response(201)
    @staff_required
    def probe(body):
        return {"received": body}, 201

    @bp.route("/probe/officers-only", methods=["POST"])
    @roles_required("school_officer")
    def officers_only():
        return {"ok": True}

    @bp.route("/probe/crash")
    @public
    def crash():
        raise RuntimeError("secret internals: /srv/aixin/app.py line 42")

    return bp


@pytest.fixture(scope="session")
def probe_app(app):
    """The production app factory + the probe blueprint, on the test database."""
    from app import create_app
    from app.api import register_api_blueprint
    from config import TestConfig

    class Cfg(TestConfig):
        SQLALCHEMY_DATABASE_URI = app.config["SQLALCHEMY_DATABASE_URI"]

    probe = create_app(Cfg)
    probe.test_client_class = IsolatedClient
    register_api_blueprint(probe, make_probe_blueprint())
    return probe


@pytest.fixture
def probe_client(probe_app):
    return probe_app.test_client()


def error_of(response) -> dict:
    body = response.get_json()
    assert body is not None, response.get_data(as_text=True)[:300]
    assert set(body) == {"error"}, body
    assert isinstance(body["error"]["code"], str) and body["error"]["message"]
    return body["error"]
