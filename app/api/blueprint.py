"""The API's blueprint class and request parser.

:class:`ApiBlueprint` is a flask-smorest blueprint that

* refuses, when the module is imported, a view without an access decorator from
  :mod:`app.auth.access` (``@public``, ``@staff_required``, ``@roles_required``) and refuses
  MethodView classes, whose per-method access the guard could not read;
* runs :func:`app.api.auth.api_guard` before every view: authentication (bearer token or session
  cookie + CSRF header), then the access the view declares — before any argument parsing, so an
  anonymous caller gets 401, never a 422 that tells them about the endpoint's fields;
* documents each operation's security (bearer token, or none for public views) and access.

:class:`ApiParser` is webargs' parser with stricter JSON bodies: a body that is not
``application/json`` or not valid JSON is a 400, never a 422 about missing fields or a 500.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from flask.views import View
from flask_babel import gettext as _
from flask_smorest import Blueprint
from flask_smorest.utils import deepupdate
from webargs import core
from webargs.flaskparser import FlaskParser, abort, is_json_request

from app.auth.access import ANY_STAFF, PUBLIC, access_of

BEARER_SCHEME = "bearerAuth"


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


class ApiParser(FlaskParser):
    def _raw_load_json(self, req: Any) -> Any:
        body = req.get_data(cache=True)  # over the size limit: 413 from Werkzeug
        if not body:
            return core.missing  # no body: the schema reports its missing fields (422)
        if not is_json_request(req):
            abort(
                400,
                message=_("Send the request body as JSON (Content-Type: application/json)."),
            )
        try:
            return json.loads(body, parse_constant=_refuse_constant)
        except (ValueError, RecursionError):
            # ValueError covers bad syntax, bad UTF-8 and integers too long to convert;
            # RecursionError a body nested thousands of levels deep.
            abort(400, message=_("The request body is not valid JSON."))


def _security_doc(access: Any) -> dict[str, Any]:
    if access == PUBLIC:
        return {"security": [], "x-aixin-access": "public"}
    roles = "any_staff" if access == ANY_STAFF else sorted(access)
    responses: dict[str, str] = {"401": "UNAUTHORIZED"}
    if access != ANY_STAFF:
        responses["403"] = "FORBIDDEN"
    return {"security": [{BEARER_SCHEME: []}], "x-aixin-access": roles, "responses": responses}


class ApiBlueprint(Blueprint):
    """A blueprint of the JSON API; register it with :func:`app.api.register_api_blueprint`."""

    ARGUMENTS_PARSER = ApiParser()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        from app.api.auth import add_www_authenticate, api_guard

        self.before_request(api_guard)
        self.after_request(add_www_authenticate)

    def arguments(self, schema: Any, *args: Any, **kwargs: Any) -> Callable:
        """As flask-smorest's, with the schema made once: given a class, webargs would build
        a new instance (and its nested ones) on every request."""
        if isinstance(schema, type):
            schema = schema()
        return super().arguments(schema, *args, **kwargs)

    def add_url_rule(
        self,
        rule: str,
        endpoint: str | None = None,
        view_func: Callable | None = None,
        provide_automatic_options: bool | None = None,
        **options: Any,
    ) -> None:
        if isinstance(view_func, type) and issubclass(view_func, View):
            raise TypeError(f"API route {rule}: use a function view, not a class-based view")
        if view_func is not None and access_of(view_func) is None:
            raise TypeError(
                f"API view {getattr(view_func, '__name__', view_func)!r} ({rule}) declares no "
                "access: decorate it with @public, @staff_required or @roles_required(...)"
            )
        super().add_url_rule(rule, endpoint, view_func, provide_automatic_options, **options)

    def _store_endpoint_docs(self, endpoint, obj, parameters, tags, **options):  # noqa: ANN001
        super()._store_endpoint_docs(endpoint, obj, parameters, tags, **options)
        for method, doc in self._docs[endpoint].items():
            if method == "parameters":
                continue
            # Manual documentation (@bp.doc) wins over what we infer.
            auto = _security_doc(access_of(obj))
            doc["manual_doc"] = deepupdate(auto, doc.get("manual_doc", {}))
