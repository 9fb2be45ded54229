"""Marshmallow fields for the bounds API-v1.md fixes, shared by every endpoint.

- ``Quantity`` / ``Points``: JSON integers 1–1,000,000. ``"5"``, ``5.0``, ``1.5`` and ``true``
  are refused (marshmallow's own ``strict`` integer lets ``true`` through: bool is an int).
- ``Id``: a JSON integer id, 1 … 2**31-1 (larger values would overflow the database driver).
- ``Name``: trimmed (and NFKC-folded, like the forms), 1–100 characters, no control characters.
- ``FreeText``: at most 2,000 characters; line breaks and tabs allowed, other control chars not.
- ``StrictBool``: JSON ``true`` / ``false`` only.
- ``Lines``: a list of 1–200 nested line objects.
- ``InputSchema``: the base of every request body schema; unknown fields are refused.
- ``QueryInt``: an integer from the query string (``?page=3``), with bounds.

Messages are translated when raised (we are inside a request, so the caller's locale is known).
Every problem is a ``ValidationError``, which webargs answers with 422 naming the field.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

import marshmallow as ma
from flask_babel import format_number
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app.common import has_control_chars, normalise_name

MAX_QUANTITY = 1_000_000
MAX_POINTS = 1_000_000
MAX_ID = 2**31 - 1
MAX_LINES = 200
NAME_MAX = 100
FREE_TEXT_MAX = 2000

# marshmallow's and webargs' own messages carry no placeholders, so app/errors.py can translate
# them when it builds the error body. Listed here so the catalog extractor finds them.
LIBRARY_MESSAGES = (
    _l("Missing data for required field."),
    _l("Field may not be null."),
    _l("Unknown field."),
    _l("Invalid input type."),
    _l("Invalid value."),
    _l("Not a valid string."),
    _l("Not a valid integer."),
    _l("Not a valid boolean."),
    _l("Not a valid list."),
    _l("Not a valid mapping type."),
    _l("Invalid JSON body."),
)

# Characters that are not control characters in the C0 sense but still hide or reorder text:
# line/paragraph separators and the bidirectional overrides used to spoof names.
_INVISIBLE = frozenset("\u2028\u2029\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _has_surrogates(value: str) -> bool:
    # JSON allows "\ud800"; such a lone surrogate cannot be encoded as UTF-8 by the database driver.
    return bool(_SURROGATE.search(value))


class InputSchema(ma.Schema):
    """Base of request body schemas: a field the schema does not know is a 422, not ignored."""

    class Meta:
        unknown = ma.RAISE


class BoundedInt(ma.fields.Field):
    """A JSON integer within [minimum, maximum]; no strings, floats or booleans."""

    minimum = 1
    maximum = MAX_ID

    def __init__(self, *, minimum: int | None = None, maximum: int | None = None, **kwargs: Any):
        if minimum is not None:
            self.minimum = minimum
        if maximum is not None:
            self.maximum = maximum
        metadata = {"type": "integer", "minimum": self.minimum, "maximum": self.maximum}
        kwargs["metadata"] = {**metadata, **kwargs.get("metadata", {})}
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ma.ValidationError(_("Must be a whole number."))
        if not self.minimum <= value <= self.maximum:
            raise ma.ValidationError(
                _(
                    "Must be between %(min)s and %(max)s.",
                    min=format_number(self.minimum),
                    max=format_number(self.maximum),
                )
            )
        return value

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> int | None:
        return None if value is None else int(value)


class Quantity(BoundedInt):
    """Items per line: 1–1,000,000."""

    minimum = 1
    maximum = MAX_QUANTITY


class Points(BoundedInt):
    """Points per award or per item: 1–1,000,000."""

    minimum = 1
    maximum = MAX_POINTS


class Id(BoundedInt):
    """A reference to a row by id."""

    minimum = 1
    maximum = MAX_ID


class StrictBool(ma.fields.Field):
    """JSON ``true`` or ``false``; not ``"true"``, ``1`` or ``"yes"``."""

    def __init__(self, **kwargs: Any):
        kwargs["metadata"] = {"type": "boolean", **kwargs.get("metadata", {})}
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise ma.ValidationError(_("Must be true or false."))
        return value

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> bool | None:
        return None if value is None else bool(value)


class _Text(ma.fields.String):
    def _string(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if _has_surrogates(text):
            raise ma.ValidationError(_("Contains characters that are not allowed."))
        return text


class Name(_Text):
    """A required piece of text such as a name: trimmed, 1–``max_length`` characters."""

    def __init__(self, *, max_length: int = NAME_MAX, **kwargs: Any):
        self.max_length = max_length
        kwargs["metadata"] = {"minLength": 1, "maxLength": max_length, **kwargs.get("metadata", {})}
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = normalise_name(self._string(value, attr, data, **kwargs))
        if not text:
            raise ma.ValidationError(_("Must not be empty."))
        if len(text) > self.max_length:
            raise ma.ValidationError(
                _("At most %(max)s characters.", max=format_number(self.max_length))
            )
        if any(unicodedata.category(c) == "Cc" or c in _INVISIBLE for c in text):
            raise ma.ValidationError(_("Must not contain control characters."))
        return text


class FreeText(_Text):
    """Messages, descriptions, reasons: trimmed, at most 2,000 characters, may be empty."""

    def __init__(self, *, max_length: int = FREE_TEXT_MAX, **kwargs: Any):
        self.max_length = max_length
        kwargs["metadata"] = {"maxLength": max_length, **kwargs.get("metadata", {})}
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = self._string(value, attr, data, **kwargs).strip()
        if len(text) > self.max_length:
            raise ma.ValidationError(
                _("At most %(max)s characters.", max=format_number(self.max_length))
            )
        if has_control_chars(text) or any(c in _INVISIBLE for c in text):
            raise ma.ValidationError(_("Must not contain control characters."))
        return text


class Lines(ma.fields.List):
    """The lines of a receipt, redemption or pledge: 1–200 of them."""

    def __init__(self, line: type[ma.Schema] | ma.Schema, *, max_lines: int = MAX_LINES, **kw: Any):
        self.max_lines = max_lines
        kw["metadata"] = {"minItems": 1, "maxItems": max_lines, **kw.get("metadata", {})}
        super().__init__(ma.fields.Nested(line), **kw)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> list:
        # Count before the items are validated one by one: a list of a million lines is refused
        # without building a million error messages.
        if isinstance(value, list | tuple):
            if not value:
                raise ma.ValidationError(_("At least one line is needed."))
            if len(value) > self.max_lines:
                raise ma.ValidationError(
                    _("At most %(max)s lines.", max=format_number(self.max_lines))
                )
        return super()._deserialize(value, attr, data, **kwargs)


_QUERY_INT = re.compile(r"[+-]?[0-9]{1,12}")


class QueryInt(ma.fields.Field):
    """An integer from the query string (which only carries text), within bounds."""

    def __init__(self, *, minimum: int, maximum: int, **kwargs: Any):
        self.minimum = minimum
        self.maximum = maximum
        kwargs["metadata"] = {
            "type": "integer",
            "minimum": minimum,
            "maximum": maximum,
            **kwargs.get("metadata", {}),
        }
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        text = value.strip() if isinstance(value, str) else None
        if text is None or not _QUERY_INT.fullmatch(text):
            raise ma.ValidationError(_("Must be a whole number."))
        number = int(text)
        if not self.minimum <= number <= self.maximum:
            raise ma.ValidationError(
                _(
                    "Must be between %(min)s and %(max)s.",
                    min=format_number(self.minimum),
                    max=format_number(self.maximum),
                )
            )
        return number

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> int | None:
        return None if value is None else int(value)
