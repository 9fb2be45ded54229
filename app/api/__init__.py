"""The JSON API under /api/v1 (API-v1.md: the contract that must not break).

Built with flask-smorest: it is maintained by the marshmallow-code organisation (with marshmallow
and webargs, which we use anyway), works with a plain Flask app and ordinary blueprints, generates
the OpenAPI 3 document from the same marshmallow schemas that validate input and shape output,
and validates input with webargs (422 naming the field). Of the alternatives, APIFlask and
connexion want their own application class (connexion also a spec written first), Flask-RESTX
has its own model layer and emits Swagger 2 only, and flasgger builds the document from YAML
docstrings instead of from the schemas that validate.

The package:

* ``blueprint.py`` — :class:`ApiBlueprint`: refuses views without an access decorator, runs the
  guard, documents security; :class:`ApiParser`: JSON bodies or 400.
* ``auth.py`` — the guard: bearer token or session + CSRF header, then the view's access.
* ``fields.py`` — the bounds of API-v1.md as marshmallow fields; ``InputSchema`` for bodies.
* ``pagination.py`` — ``PageArgs`` + ``scoped_page``: ``{"items": [...], "total": N}``.
* ``meta.py``, ``org.py`` — the endpoints; more go in modules listed in ``BLUEPRINTS``.

Errors are not handled here: ``app/errors.py`` answers every error under /api/ with
``{"error": {"code", "message", "fields"?}}`` and every other one with an HTML page, so the
Api's own app-wide JSON error handler is switched off (see :class:`AixinApi`).
"""

from __future__ import annotations

import importlib

from flask import Flask
from flask_smorest import Api
from flask_smorest import Blueprint as SmorestBlueprint
from werkzeug.routing import IntegerConverter

from app.api.blueprint import BEARER_SCHEME
from app.api.fields import MAX_ID
from app.api.schemas import ErrorSchema
from app.extensions import csrf

API_PREFIX = "/api/v1"

# "module:attribute" of every API blueprint, registered in this order under /api/v1.
BLUEPRINTS = (
    "app.api.meta:bp",
    "app.api.org:bp",
    "app.api.inventory:bp",
    "app.api.pledges:bp",
    "app.api.students:bp",
    "app.api.receipts:bp",
    "app.api.points:bp",
    "app.api.counter:bp",
)


class AixinApi(Api):
    ERROR_SCHEMA = ErrorSchema  # documents our error body in the OpenAPI document

    def _register_error_handlers(self) -> None:
        # flask-smorest would register an app-wide HTTPException handler that answers every
        # error — HTML pages' 404s included — with its own JSON. app/errors.py does both.
        pass


class IdConverter(IntegerConverter):
    """``<id:name>`` in a route: a positive id that fits the database's integer columns.

    Anything else (0, 99999999999999999999, 5000 digits) is a 404 at routing, not an
    overflow error from the driver.
    """

    regex = r"\d{1,10}"

    def __init__(self, url_map, *args, **kwargs):  # noqa: ANN001, ARG002
        super().__init__(url_map, min=1, max=MAX_ID)


def init_api(app: Flask) -> None:
    """Create the Api for this app and register every API blueprint under /api/v1."""
    app.url_map.converters.setdefault("id", IdConverter)
    app.config.setdefault("API_MAX_CONTENT_LENGTH", 1024 * 1024)
    api = AixinApi(
        app,
        spec_kwargs={
            "info": {
                "description": (
                    "Aixin (爱心超市) JSON API. Authenticate with `Authorization: Bearer <token>` "
                    "(`flask --app app token create USERNAME`, or the token page of the web UI). "
                    "Browser pages may instead send their session cookie plus the `X-CSRFToken` "
                    'header. Errors: `{"error": {"code", "message", "fields"?}}`.'
                )
            }
        },
    )
    api.spec.components.security_scheme(
        BEARER_SCHEME,
        {"type": "http", "scheme": "bearer", "description": "An API token (axt_…)."},
    )
    app.extensions["aixin_api"] = api
    for path in BLUEPRINTS:
        module, _, attr = path.partition(":")
        register_api_blueprint(app, getattr(importlib.import_module(module), attr))


def register_api_blueprint(app: Flask, blueprint: SmorestBlueprint) -> None:
    """Register one API blueprint under /api/v1, documented, with CSRF done by the API guard."""
    api: AixinApi = app.extensions["aixin_api"]
    api.register_blueprint(blueprint, url_prefix=API_PREFIX)
    csrf.exempt(blueprint)
