"""The access matrix of the aid pages (issue 4, item 6), role by role, as app/registry/access.py
states it — and the privacy rule behind it: outside the aid office (and the head teacher's class
review) no page and no API answer shows a hardship level or a special-group category.

| page                                   | DA   | SO   | HT (own class) | T   | CL  | AL   | anon  |
|----------------------------------------|------|------|----------------|-----|-----|------|-------|
| /aid/ (entry)                          | →    | →    | →              | →   | 404 | →    | login |
| district overview, filing, totals      | yes  | 404  | 404            | 404 | 404 | 404  | login |
| counts per school (numbers only)       | yes  | 404  | 404            | 404 | 404 | yes  | login |
| a teacher's class review & pairings    | 404  | 404  | yes            | yes | 404 | 404  | login |
| school list of applications            | yes  | yes  | 404            | 404 | 404 | 404  | login |
| new application                        | 404  | yes  | yes            | 404 | 404 | 404  | login |
| application in draft or class review   | yes  | yes  | yes            | 404 | 404 | 404  | login |
| edit a draft                           | 404  | yes  | yes            | 404 | 404 | 404  | login |
| application after class review         | yes  | yes  | 404            | 404 | 404 | 404  | login |
| programmes (list)                      | yes  | yes  | 404            | 404 | 404 | 404  | login |
| programme new / edit                   | yes  | 404  | 404            | 404 | 404 | 404  | login |
| school grants list                     | yes  | yes  | 404            | 404 | 404 | 404  | login |
| record grant, batch, edit grant        | 404  | yes  | 404            | 404 | 404 | 404  | login |
| school pairings list                   | yes  | yes  | 404            | 404 | 404 | 404  | login |
| new / edit pairing                     | 404  | yes  | 404            | 404 | 404 | 404  | login |
| a pairing the teacher helps in         | yes  | yes  | yes            | 404 | 404 | 404  | login |
| exports (certifications, grants)       | yes  | yes  | 404            | 404 | 404 | 404  | login |
| district grant export                  | yes  | 404  | 404            | 404 | 404 | 404  | login |
| 公示 (public notice)                   | yes  | yes  | yes            | yes | yes | yes  | yes   |

"→" is a redirect to that role's own aid page. DA: district admin, SO: the school's aid officer,
HT: head teacher of the class, T: another teacher of the school, CL: counter clerk, AL: alliance
lead. Users of another school, alliance or district get 404 everywhere (tests/test_access_walk.py).
"""

from __future__ import annotations

import pytest
from flask import url_for

from app.common import local_today
from app.registry import certification as cert
from app.registry import grants as grants_ops
from app.registry import pairing as pairing_ops
from app.registry.certification import CATEGORY_LABELS, LEVEL_LABELS
from tests.conftest import csrf_token, login
from tests.registry.aid_support import AID_WORDS, draft, drive, make_student, object_to

ROLES = ["admin", "officer", "head", "teacher", "clerk", "lead", "anon"]
OK, NO, GO = "ok", "404", "redirect"

ENGLISH_WORDS = [str(v) for v in LEVEL_LABELS.values()] + [
    str(v) for k, v in CATEGORY_LABELS.items() if k not in ("orphan", "other")
]


@pytest.fixture
def aid_world(world, db, make_user):
    """Everything the aid pages show, at school A1: an application at class review and one
    certified (both of class A1, whose head teacher is teacher_a1), an objection, a programme, a
    grant and a pairing in which teacher_a1 helps. "teacher" is another teacher of A1."""
    users = {
        "admin": world.user("admin"),
        "officer": world.user("officer_a1"),
        "head": world.user("teacher_a1"),
        "teacher": make_user("teacher", school=world.school_a1, username="plain_teacher"),
        "clerk": world.user("clerk_a1"),
        "lead": world.user("lead_a"),
    }
    officer = users["officer"]
    in_review = drive(
        draft(make_student(world.school_a1, world.class_a1, name="评议中"), officer),
        "class_review",
        world,
    )
    a_draft = draft(make_student(world.school_a1, world.class_a1, name="草稿中"), users["head"])
    certified = drive(
        draft(
            make_student(world.school_a1, world.class_a1, name="已认定", boarding=True),
            officer,
            categories=["dibao", "martyr", "poverty_alleviated"],
        ),
        "confirmed",
        world,
        level="severe",
    )
    objected = drive(
        draft(
            make_student(world.school_a1, world.class_a1, name="有异议"),
            officer,
            categories=["tekun"],
        ),
        "publicity",
        world,
        level="general",
    )
    objection = object_to(objected, world)
    programme = grants_ops.create_programme(
        world.district.id,
        grants_ops.ProgrammeInput(
            name="生活补助", aid_mode="government", amounts_fen={"primary_day": 62500}
        ),
        user=users["admin"],
    )
    grant = grants_ops.record_grant(
        world.school_a1,
        certified.student_id,
        grants_ops.GrantInput(programme_id=programme.id, amount_fen=125000, paid_on=local_today()),
        user=officer,
    )
    pairing = pairing_ops.create_pairing(
        world.school_a1,
        pairing_ops.PairingInput(
            kind="teacher_student",
            student_id=certified.student_id,
            started_on=local_today(),
            helper_user_id=users["head"].id,
        ),
        user=officer,
    )
    db.session.commit()
    ids = {
        "school_id": world.school_a1.id,
        "in_review": in_review.id,
        "draft": a_draft.id,
        "certified": certified.id,
        "objection_id": objection.id,
        "programme_id": programme.id,
        "grant_id": grant.id,
        "pairing_id": pairing.id,
    }
    return users, ids


def _row(*expected):
    return dict(zip(ROLES, expected, strict=True))


# (method, endpoint, url args, expectation per role)
MATRIX = [
    ("GET", "aid.index", {}, _row(GO, GO, GO, GO, NO, GO, "login")),
    ("GET", "aid.overview", {}, _row(OK, NO, NO, NO, NO, NO, "login")),
    ("GET", "aid.filing", {}, _row(OK, NO, NO, NO, NO, NO, "login")),
    ("GET", "aid.grant_totals", {}, _row(OK, NO, NO, NO, NO, NO, "login")),
    ("GET", "aid.counts", {}, _row(OK, NO, NO, NO, NO, OK, "login")),
    ("GET", "aid.mine", {}, _row(NO, NO, OK, OK, NO, NO, "login")),
    ("GET", "aid.school", {"school_id": "school_id"}, _row(OK, OK, NO, NO, NO, NO, "login")),
    (
        "GET",
        "aid.new_application",
        {"school_id": "school_id"},
        _row(NO, OK, OK, NO, NO, NO, "login"),
    ),
    (
        "GET",
        "aid.application",
        {"application_id": "in_review"},
        _row(OK, OK, OK, NO, NO, NO, "login"),
    ),
    ("GET", "aid.application", {"application_id": "draft"}, _row(OK, OK, OK, NO, NO, NO, "login")),
    (
        "GET",
        "aid.edit_application",
        {"application_id": "draft"},
        _row(NO, OK, OK, NO, NO, NO, "login"),
    ),
    (
        "GET",
        "aid.application",
        {"application_id": "certified"},
        _row(OK, OK, NO, NO, NO, NO, "login"),
    ),
    ("GET", "aid.programmes", {}, _row(OK, OK, NO, NO, NO, NO, "login")),
    ("GET", "aid.new_programme", {}, _row(OK, NO, NO, NO, NO, NO, "login")),
    (
        "GET",
        "aid.edit_programme",
        {"programme_id": "programme_id"},
        _row(OK, NO, NO, NO, NO, NO, "login"),
    ),
    ("GET", "aid.school_grants", {"school_id": "school_id"}, _row(OK, OK, NO, NO, NO, NO, "login")),
    ("GET", "aid.new_grant", {"school_id": "school_id"}, _row(NO, OK, NO, NO, NO, NO, "login")),
    ("GET", "aid.batch_grants", {"school_id": "school_id"}, _row(NO, OK, NO, NO, NO, NO, "login")),
    ("GET", "aid.edit_grant", {"grant_id": "grant_id"}, _row(NO, OK, NO, NO, NO, NO, "login")),
    (
        "GET",
        "aid.school_pairings",
        {"school_id": "school_id"},
        _row(OK, OK, NO, NO, NO, NO, "login"),
    ),
    ("GET", "aid.new_pairing", {"school_id": "school_id"}, _row(NO, OK, NO, NO, NO, NO, "login")),
    (
        "GET",
        "aid.pairing_detail",
        {"pairing_id": "pairing_id"},
        _row(OK, OK, OK, NO, NO, NO, "login"),
    ),
    (
        "GET",
        "aid.edit_pairing",
        {"pairing_id": "pairing_id"},
        _row(NO, OK, NO, NO, NO, NO, "login"),
    ),
    (
        "POST",
        "aid.export_applications",
        {"school_id": "school_id"},
        _row(OK, OK, NO, NO, NO, NO, "login"),
    ),
    (
        "POST",
        "aid.export_school_grants",
        {"school_id": "school_id"},
        _row(OK, OK, NO, NO, NO, NO, "login"),
    ),
    ("POST", "aid.export_district_grants", {}, _row(OK, NO, NO, NO, NO, NO, "login")),
    ("GET", "publicity.index", {}, _row(OK, OK, OK, OK, OK, OK, OK)),
    ("GET", "publicity.school", {"school_id": "school_id"}, _row(OK, OK, OK, OK, OK, OK, OK)),
]


def _client(app, users, role):
    client = app.test_client()
    if role != "anon":
        assert login(client, users[role]).status_code == 302
    return client


def test_every_aid_page_is_in_the_matrix(app):
    covered = {endpoint for _m, endpoint, _a, _e in MATRIX}
    get_pages = {
        rule.endpoint
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith(("aid.", "publicity.")) and "GET" in rule.methods
    }
    exports = {r.endpoint for r in app.url_map.iter_rules() if r.endpoint.startswith("aid.export")}
    assert get_pages | exports <= covered, sorted((get_pages | exports) - covered)


@pytest.mark.parametrize("role", ROLES)
def test_access_matrix(app, aid_world, role):
    users, ids = aid_world
    client = _client(app, users, role)
    token = csrf_token(client, "/dashboard" if role != "anon" else "/login")
    failures = []
    for method, endpoint, args, expected in MATRIX:
        with app.test_request_context():
            url = url_for(endpoint, **{k: ids[v] for k, v in args.items()})
        if method == "GET":
            response = client.get(url)
        else:
            response = client.post(url, data={"csrf_token": token, "format": "csv"})
        want = expected[role]
        status = response.status_code
        location = response.headers.get("Location", "")
        if want == OK:
            good = status == 200
        elif want == NO:
            good = status == 404
        elif want == GO:
            good = status == 302 and "/login" not in location and location.startswith("/aid/")
        else:  # login
            good = (status == 302 and "/login" in location) or (method == "POST" and status == 400)
        if not good:
            failures.append((method, url, want, status, location))
    assert failures == [], failures


def _all_get_urls(app, world, db, ids):
    """Every GET page of the whole app, filled from the access walk's fixtures (aid objects
    from this world instead: its application is past class review)."""
    from tests.test_access_walk import ARGS

    values = {
        "application_id": ids["certified"],
        "objection_id": ids["objection_id"],
        "programme_id": ids["programme_id"],
        "grant_id": ids["grant_id"],
        "pairing_id": ids["pairing_id"],
    }
    urls = []
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.endpoint == "static":
            continue
        if rule.rule.startswith("/publicity"):
            continue  # the public notice shows levels by design (masked names, in the window)
        try:
            for name in rule.arguments:
                if name not in values:
                    values[name] = ARGS[name][1](world, db, app)
        except KeyError:
            continue  # a parameter the walk does not know yet: that domain's own tests cover it
        with app.test_request_context():
            urls.append(url_for(rule.endpoint, **{n: values[n] for n in rule.arguments}))
    return urls


@pytest.mark.parametrize("role", ["head", "teacher", "clerk", "lead"])
def test_no_page_or_api_answer_outside_the_aid_office_shows_aid_status(
    app, world, db, aid_world, role, api_token
):
    users, ids = aid_world
    # The head teacher's class has nothing in class review now: they see no aid status either.
    in_review = db.session.get(cert.AidApplication, ids["in_review"])
    drive(in_review, "confirmed", world, level="moderate")
    cert.withdraw_application(db.session.get(cert.AidApplication, ids["draft"]), user=users["head"])
    db.session.commit()
    urls = _all_get_urls(app, world, db, ids)
    assert any(u.startswith("/aid") for u in urls) and any(u.startswith("/api/") for u in urls)
    leaks = []
    for lang in ("zh_CN", "en"):
        client = _client(app, users, role)
        client.set_cookie("aixin_lang", lang)
        headers = api_token(users[role])
        for url in urls:
            if url.startswith("/api/"):
                response = app.test_client().get(url, headers=headers)
            else:
                response = client.get(url)
            if role == "head" and url.endswith("/applications/new"):
                # The blank form a head teacher fills in on a family's behalf lists the
                # categories to choose from; it says nothing about any student.
                continue
            body = response.get_data()  # bytes: some answers are files
            for word in (*AID_WORDS, *ENGLISH_WORDS):
                if word.encode() in body:
                    leaks.append((lang, url, response.status_code, word))
    assert leaks == []


def test_the_head_teacher_sees_levels_only_in_class_review(app, aid_world):
    users, ids = aid_world
    client = _client(app, users, "head")
    client.set_cookie("aixin_lang", "en")
    page = client.get(f"/aid/applications/{ids['in_review']}").get_data(as_text=True)
    assert "Severe hardship" in page  # the class review form's levels
    assert client.get(f"/aid/applications/{ids['certified']}").status_code == 404
