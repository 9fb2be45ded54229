"""Friendly error pages in the user's language, JSON error objects under /api/.

Never a stack trace in a response: unexpected exceptions are logged and answered with a plain
500 page or ``{"error": {"code": "internal_error", ...}}``; the transaction is rolled back.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

from app.common import DomainError
from app.extensions import db

log = logging.getLogger(__name__)


def is_api_request() -> bool:
    return request.path.startswith("/api/")


_API_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_failed",
    429: "rate_limited",
    500: "internal_error",
    503: "unavailable",
}


def _titles() -> dict[int, tuple[str, str]]:
    return {
        400: (
            _("Bad request"),
            _("The request could not be understood. Please check what you entered and try again."),
        ),
        401: (_("Please log in"), _("You need to log in to see this page.")),
        403: (
            _("No permission"),
            _(
                "Your role does not allow this. If you think it should, ask "
                "your school's aid officer or the district aid centre."
            ),
        ),
        404: (
            _("Page not found"),
            _("This page does not exist, or it is not within your school or area."),
        ),
        405: (_("Not allowed"), _("This action cannot be done this way.")),
        409: (_("Not possible"), _("A rule prevented this action.")),
        413: (
            _("File too large"),
            _("The upload is larger than allowed. Please choose a smaller file."),
        ),
        422: (_("Invalid input"), _("Some of the information is not valid.")),
        429: (
            _("Too many attempts"),
            _("Too many attempts in a short time. Please wait a few minutes and try again."),
        ),
        500: (
            _("Something went wrong"),
            _("An unexpected error occurred. It has been logged; please try again later."),
        ),
    }


def api_error(
    status: int, message: str | None = None, code: str | None = None, fields: dict | None = None
) -> Response:
    body: dict = {
        "error": {
            "code": code or _API_CODES.get(status, "error"),
            "message": message or _titles().get(status, ("", ""))[1] or str(status),
        }
    }
    if fields:
        body["error"]["fields"] = fields
    response = jsonify(body)
    response.status_code = status
    return response


def error_page(status: int, message: str | None = None) -> tuple[str, int]:
    title, default_message = _titles().get(status, (_("Error"), ""))
    return (
        render_template(
            "errors/error.html", status=status, title=title, message=message or default_message
        ),
        status,
    )


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError):
        db.session.rollback()
        message = _(
            "The form has expired or was sent from elsewhere. Please reload the page and try again."
        )
        if is_api_request():
            return api_error(400, message, code="csrf_failed")
        return error_page(400, message)

    @app.errorhandler(DomainError)
    def domain_error(exc: DomainError):
        db.session.rollback()
        if is_api_request():
            fields = {exc.field: [exc.message]} if exc.field and exc.status == 422 else None
            return api_error(exc.status, exc.message, code=exc.code, fields=fields)
        return error_page(exc.status if exc.status in (403, 404, 409, 422) else 409, exc.message)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        db.session.rollback()
        status = exc.code or 500
        if is_api_request():
            message = code = None
            data = getattr(exc, "data", None)  # webargs / smorest validation details
            fields = None
            if isinstance(data, dict):
                # A message or code given to webargs' abort(status, message=..., code=...).
                if isinstance(data.get("message"), str):
                    message = data["message"]
                if isinstance(data.get("code"), str):
                    code = data["code"]
                if "messages" in data:
                    fields = _flatten_messages(data["messages"])
            if status == 422 and fields and not message:
                message = _("Some fields are invalid.")
            response = api_error(status, message, code=code, fields=fields)
            if status == 405 and exc.get_response().headers.get("Allow"):
                response.headers["Allow"] = exc.get_response().headers["Allow"]
            return response
        response = error_page(status)
        return response

    @app.errorhandler(Exception)
    def unexpected_error(exc: Exception):
        if isinstance(exc, HTTPException):
            return http_error(exc)
        log.exception("unhandled error on %s %s", request.method, request.path)
        db.session.rollback()
        if is_api_request():
            return api_error(500)
        return error_page(InternalServerError.code)


def _flatten_messages(messages: object) -> dict[str, list[str]]:
    """webargs nests errors by location ({"json": {"field": [...]}}); keep the field level."""
    out: dict[str, list[str]] = {}

    def walk(prefix: str, value: object) -> None:
        if isinstance(value, dict):
            for key, sub in value.items():
                name = str(key) if not prefix else f"{prefix}.{key}"
                walk(name, sub)
        elif isinstance(value, list) and all(isinstance(v, str) for v in value):
            # marshmallow's own messages ("Missing data for required field.") are plain English;
            # ours are translated already, and gettext leaves those unchanged.
            out[prefix or "_"] = [_(v) for v in value]
        else:
            out[prefix or "_"] = [str(value)]

    if isinstance(messages, dict):
        for location, fields in messages.items():
            if location in ("json", "query", "form", "headers", "files", "view_args"):
                walk("", fields)
            else:
                walk(str(location), fields)
    return out
