"""The OpenAPI document, the access declarations of every API route, and `flask token create`."""

from __future__ import annotations

import re

import pytest

from app.auth.access import ANY_STAFF, PUBLIC, access_of


def test_openapi_document_describes_the_api(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    doc = response.get_json()
    assert doc["openapi"].startswith("3.")
    assert doc["info"]["title"] and doc["info"]["version"] == "v1"
    for path in ("/api/v1/health", "/api/v1/me", "/api/v1/schools", "/api/v1/schools/{sid}"):
        assert "get" in doc["paths"][path], path
    assert doc["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "An API token (axt_…).",
    }
    assert doc["paths"]["/api/v1/me"]["get"]["security"] == [{"bearerAuth": []}]
    assert doc["paths"]["/api/v1/health"]["get"]["security"] == []
    params = {p["name"]: p for p in doc["paths"]["/api/v1/schools"]["get"]["parameters"]}
    assert params["per_page"]["schema"]["maximum"] == 500
    assert params["page"]["schema"]["minimum"] == 1
    page = doc["components"]["schemas"]["SchoolPage"]
    assert set(page["properties"]) == {"items", "total"}
    school = doc["components"]["schemas"]["School"]
    assert set(school["properties"]) == {"id", "name", "alliance_id", "is_lead"}
    assert "error" in doc["components"]["schemas"]["Error"]["properties"]


def test_every_reference_in_the_openapi_document_resolves(client):
    doc = client.get("/api/v1/openapi.json").get_json()

    def refs(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "$ref":
                    yield value
                else:
                    yield from refs(value)
        elif isinstance(node, list):
            for value in node:
                yield from refs(value)

    found = list(refs(doc))
    assert found
    for ref in found:
        _, section, kind, name = ref.split("/")
        assert name in doc[section][kind], ref


def _api_rules(app):
    return [rule for rule in app.url_map.iter_rules() if rule.rule.startswith("/api/")]


def test_every_api_route_declares_its_access(app):
    rules = _api_rules(app)
    assert len(rules) >= 5
    for rule in rules:
        access = access_of(app.view_functions[rule.endpoint])
        assert access is not None, rule.rule
        assert access in (PUBLIC, ANY_STAFF) or isinstance(access, frozenset), rule.rule


def test_every_non_public_api_route_refuses_anonymous_callers(client, app, world):
    for rule in _api_rules(app):
        if access_of(app.view_functions[rule.endpoint]) == PUBLIC:
            continue
        path = re.sub(r"<[^>]+>", str(world.school_a1.id), rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            response = client.open(path, method=method)
            assert response.status_code == 401, (method, path)


def test_an_api_view_without_access_is_refused_at_import():
    from app.api.blueprint import ApiBlueprint

    bp = ApiBlueprint("api_unmarked", __name__)
    with pytest.raises(TypeError, match="declares no access"):

        @bp.route("/unmarked")
        def unmarked():
            return {}


def test_token_create_prints_a_working_token(runner, client, world):
    result = runner.invoke(args=["token", "create", "teacher_a1"])
    assert result.exit_code == 0, result.output
    token = result.output.strip().splitlines()[-1]
    response = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert response.get_json()["username"] == "teacher_a1"
