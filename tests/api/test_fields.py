"""The shared field bounds of API-v1.md, checked on the schemas themselves."""

from __future__ import annotations

import marshmallow as ma
import pytest

from app.api.fields import FreeText, Id, InputSchema, Lines, Name, Points, Quantity, StrictBool


class Line(InputSchema):
    item_id = Id(required=True)
    quantity = Quantity(required=True)


class Body(InputSchema):
    name = Name()
    note = FreeText()
    points = Points()
    quantity = Quantity()
    flag = StrictBool()
    item_id = Id()
    lines = Lines(Line)


def _load(**data):
    return Body().load(data)


def _error(**data) -> dict:
    with pytest.raises(ma.ValidationError) as caught:
        _load(**data)
    return caught.value.messages


@pytest.mark.parametrize("field", ["quantity", "points"])
@pytest.mark.parametrize("good", [1, 7, 1_000_000])
def test_quantities_and_points_accept_integers_in_bounds(field, good):
    assert _load(**{field: good}) == {field: good}


@pytest.mark.parametrize("field", ["quantity", "points"])
@pytest.mark.parametrize(
    "bad", [0, -1, 1_000_001, 10**30, "5", 1.5, 5.0, True, False, None, [], {}, "", "1e3"]
)
def test_quantities_and_points_refuse_anything_else(app, field, bad):
    with app.test_request_context():
        assert list(_error(**{field: bad})) == [field]


@pytest.mark.parametrize("bad", [0, -3, 2**31, "12", 1.0, True])
def test_ids_are_positive_integers_that_fit_the_database(app, bad):
    with app.test_request_context():
        assert list(_error(item_id=bad)) == ["item_id"]


def test_names_are_trimmed_and_folded():
    assert _load(name="  张三  ")["name"] == "张三"
    assert _load(name="\u3000李四\u3000")["name"] == "李四"  # full-width spaces
    assert _load(name="ＡＢＣ")["name"] == "ABC"  # full-width letters
    assert _load(name="名" * 100)["name"] == "名" * 100


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "   ",
        "名" * 101,
        "张\x00三",
        "张\n三",
        "张\t三",
        "a\x7fb",
        "evil\u202etxt",
        "\ud800",
        5,
        None,
    ],
)
def test_names_refuse_empty_long_control_and_non_text(app, bad):
    with app.test_request_context():
        assert list(_error(name=bad)) == ["name"]


def test_free_text_allows_lines_up_to_2000_characters():
    assert _load(note="第一行\n第二行\t完")["note"] == "第一行\n第二行\t完"
    assert _load(note="字" * 2000)["note"] == "字" * 2000
    assert _load(note="  ")["note"] == ""


@pytest.mark.parametrize("bad", ["字" * 2001, "a\x00b", "a\x1bb", "\udfff", 12])
def test_free_text_refuses_long_text_and_control_characters(app, bad):
    with app.test_request_context():
        assert list(_error(note=bad)) == ["note"]


def test_booleans_are_json_booleans_only(app):
    assert _load(flag=True) == {"flag": True}
    assert _load(flag=False) == {"flag": False}
    with app.test_request_context():
        for bad in ("true", "false", 1, 0, "yes", None):
            assert list(_error(flag=bad)) == ["flag"]


def test_unknown_fields_are_refused(app):
    with app.test_request_context():
        assert _error(name="x", colour="red") == {"colour": ["Unknown field."]}


def test_lines_are_between_1_and_200(app):
    line = {"item_id": 1, "quantity": 2}
    assert len(_load(lines=[line] * 200)["lines"]) == 200
    with app.test_request_context():
        assert list(_error(lines=[])) == ["lines"]
        errors = _error(lines=[line] * 201)
        assert list(errors) == ["lines"] and isinstance(errors["lines"], list)
        nested = _error(lines=[line, {"item_id": 1, "quantity": "2", "extra": 1}])
        assert set(nested["lines"][1]) == {"quantity", "extra"}


def test_field_messages_are_translated(app):
    from flask_babel import gettext

    with app.test_request_context(headers={"Cookie": "aixin_lang=en"}):
        english = _error(quantity=0)["quantity"][0]
    assert english == "Must be between 1 and 1,000,000."
    with app.test_request_context(headers={"Cookie": "aixin_lang=zh_CN"}):
        chinese = _error(quantity=0)["quantity"][0]
        expected = gettext("Must be between %(min)s and %(max)s.", min="1", max="1,000,000")
    assert chinese == expected  # the catalog's translation (.i18n/api.tsv), once merged
