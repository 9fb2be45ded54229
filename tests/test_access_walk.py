"""Walk every registered route (ASVS 8.2): function-level and object-level access.

* Every view declares its access (``@public``, ``@staff_required``, ``@roles_required``); a new
  route without a declaration fails here.
* Anonymous callers are sent to the login page (pages) or get 401 (API).
* Every role a route does not allow gets 403 (or 404), never the page or the write.
* A user of another school, another alliance or another district asking for this school's
  objects gets 404 — the same answer as for an id that never existed — or 403 when their role
  may not use the route at all. Denied writes leave the audit log (every write is audited)
  exactly as it was.

Ids in URLs are filled from ``ARGS`` with objects of school A1 (alliance A, district 1); a new
URL parameter name must be added there.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from sqlalchemy import func, select

from app.auth.access import ANY_STAFF, PUBLIC, access_of
from tests.conftest import World, csrf_token, login
from tests.points import support as pts
from tests.registry import aid_support as aid

ALL_ROLES = {"district_admin", "alliance_lead", "school_officer", "teacher", "clerk"}


def _member_id(world: World, db) -> int:
    from app.org.operations import add_leadership_member

    member = add_leadership_member(tier=world.school_a1, name="甲校长", group_role="leader")
    db.session.commit()
    return member.id


def _token_id(world: World, db) -> int:
    from app.auth.operations import create_token

    token, _secret = create_token(world.user("teacher_a1"), "walk")
    db.session.commit()
    return token.id


def _session_id(world: World, db, app) -> int:
    from app.auth.models import UserSession

    login(app.test_client(), world.user("teacher_a1"))
    return db.session.scalar(select(UserSession.id).order_by(UserSession.id.desc()))


def _event_id(world: World, db) -> int:
    from app.audit.models import AuditEvent

    return db.session.scalar(
        select(AuditEvent.id).where(AuditEvent.district_id == world.district.id).limit(1)
    )


def _item(world: World, db, name: str = "走查铅笔"):
    from app.inventory.operations import create_item

    item = create_item(
        district_id=world.district.id, name=name, category="stationery", unit="支", points=2
    )
    db.session.commit()
    return item


def _need_id(world: World, db) -> int:
    from app.donations.operations import set_need

    need = set_need(
        school_id=world.school_a1.id, item_id=_item(world, db, "走查需求").id, target_quantity=5
    )
    db.session.commit()
    return need.id


def _stocktake_id(world: World, db) -> int:
    from app.inventory.operations import receive_stock, start_stocktake

    item = _item(world, db, "走查盘点")
    receive_stock(world.school_a1.id, item.id, 3)
    stocktake = start_stocktake(world.school_a1.id)
    db.session.commit()
    return stocktake.id


def _transfer_id(world: World, db) -> int:
    from app.inventory.operations import Line, receive_stock, request_transfer

    item = _item(world, db, "走查调拨")
    receive_stock(world.school_a1.id, item.id, 3)
    transfer = request_transfer(
        from_school_id=world.school_a1.id,
        to_school_id=world.school_a2.id,
        lines=[Line(item.id, 2)],
        user_id=world.user("officer_a1").id,
    )
    db.session.commit()
    return transfer.id


def _verify_token(world: World, db) -> str:
    """The check-page token of a donation certificate of school A1 (a walk-in gift)."""
    from app.donations.operations import ReceiptLineInput, receive_goods

    receipt = receive_goods(
        school_id=world.school_a1.id,
        source="walk_in",
        lines=[ReceiptLineInput(_item(world, db, "走查证书").id, 2)],
    )
    db.session.commit()
    return receipt.verify_token


def _pledge_id(world: World, db) -> int:
    from app.donations.operations import DonorInput, PledgeLineInput, create_pledge

    pledge = create_pledge(
        donor=DonorInput("走查捐赠人", "13800000001"),
        lines=[PledgeLineInput(5, item_id=_item(world, db, "走查认捐").id)],
        school_id=world.school_a1.id,
    )
    db.session.commit()
    return pledge.id


def _receipt_id(world: World, db) -> int:
    from app.donations.operations import DonorInput, ReceiptLineInput, receive_goods

    receipt = receive_goods(
        school_id=world.school_a1.id,
        donor=DonorInput("走查现场捐赠", None),
        lines=[ReceiptLineInput(_item(world, db, "走查入库").id, 2)],
    )
    db.session.commit()
    return receipt.id


# ---- registry: roster (student_id, import_id)
def _student_id(world: World, db) -> int:
    """A student of school A1, class 三年级(2)班."""
    from tests.registry import roster_student

    student = roster_student(world.school_a1, world.class_a1, seq=901, name="走查学生")
    db.session.commit()
    return student.id


def _import_id(world: World, db) -> str:
    """A roster upload (a CSV) waiting for its check, for school A1."""
    import io

    from werkzeug.datastructures import FileStorage

    from app.registry import importing

    upload = FileStorage(io.BytesIO("姓名,性别,班级\n走查,男,三年级(2)班\n".encode()), "walk.csv")
    return importing.create_job(upload, world.school_a1, world.user("officer_a1").id)["id"]


# ---- end registry: roster


# ---- counter (card_code, redemption_id)
def _counter_fixture(world: World, db) -> tuple[str, int]:
    """A card of a student of school A1 and one checkout made with it."""
    from app.counter import operations as counter
    from app.inventory import operations as inventory
    from app.points import operations as points
    from app.registry import operations as registry

    item = _item(world, db, name="柜台走查商品")
    inventory.receive_stock(world.school_a1.id, item.id, 10)
    student = registry.add_student(
        world.school_a1,
        registry.StudentInput(name="柜台走查", gender="M", class_id=world.class_a1.id),
    )
    points.credit(student, 50, kind="award", reason="walk")
    card = counter.issue_card(student)
    redemption = counter.redeem(
        clerk=world.user("clerk_a1"), card_code=card.code, lines=[counter.Line(item.id, 1)]
    )
    db.session.commit()
    return card.code, redemption.id


def _counter(world: World, db) -> tuple[str, int]:
    """Made once per test (card_code and redemption_id share it)."""
    if "_counter" not in world.__dict__:
        world.__dict__["_counter"] = _counter_fixture(world, db)
    return world.__dict__["_counter"]


def _close_id(world: World, db) -> int:
    """A day close (日结) of school A1's clerk."""
    from app.common import local_today
    from app.counter import operations as counter

    _counter(world, db)
    row = counter.close_day(
        school_id=world.school_a1.id, clerk_id=world.user("clerk_a1").id, day=local_today()
    )
    db.session.commit()
    return row.id


def _card_id(world: World, db) -> int:
    """The active card of the counter fixture's student."""
    from sqlalchemy import select

    from app.counter.models import Card

    code = _counter(world, db)[0]
    return db.session.scalar(select(Card.id).where(Card.code == code))


# ---- end counter


# parameter name -> (tier that owns the object, how to get its id)
ARGS: dict[str, tuple[str, Callable]] = {
    "school_id": ("school", lambda w, db, app: w.school_a1.id),
    "sid": ("school", lambda w, db, app: w.school_a1.id),
    "class_id": ("school", lambda w, db, app: w.class_a1.id),
    "member_id": ("school", lambda w, db, app: _member_id(w, db)),
    "user_id": ("school", lambda w, db, app: w.user("teacher_a1").id),
    "alliance_id": ("alliance", lambda w, db, app: w.alliance_a.id),
    "district_id": ("district", lambda w, db, app: w.district.id),
    "event_id": ("district", lambda w, db, app: _event_id(w, db)),
    "token_id": ("own", lambda w, db, app: _token_id(w, db)),
    "session_id": ("own", lambda w, db, app: _session_id(w, db, app)),
    "item_id": ("district", lambda w, db, app: _item(w, db).id),
    "need_id": ("school", lambda w, db, app: _need_id(w, db)),
    "stocktake_id": ("school", lambda w, db, app: _stocktake_id(w, db)),
    # A transfer from A1 to A2: both schools' officers see it, so it belongs to the alliance.
    "transfer_id": ("alliance", lambda w, db, app: _transfer_id(w, db)),
    # A donation certificate's public check token (/verify/<token>).
    "token": ("school", lambda w, db, app: _verify_token(w, db)),
    # A pledge to school A1, and a receipt (a walk-in donation) of A1.
    "pledge_id": ("school", lambda w, db, app: _pledge_id(w, db)),
    "receipt_id": ("school", lambda w, db, app: _receipt_id(w, db)),
    # Aid (tests/registry/aid_support.py): an application of class A1 at class review (its
    # head teacher teacher_a1 sees it), an open objection, a district programme, a grant and a
    # teacher–student pairing of A1 in which teacher_a1 helps.
    "application_id": ("school", aid.walk_application_id),
    "objection_id": ("school", aid.walk_objection_id),
    "programme_id": ("district", aid.walk_programme_id),
    "grant_id": ("school", aid.walk_grant_id),
    "pairing_id": ("school", aid.walk_pairing_id),
    # Roster: a student of A1 (class 三年级(2)班), and a roster upload of A1 awaiting its check.
    "student_id": ("school", lambda w, db, app: _student_id(w, db)),
    "card_code": ("school", lambda w, db, app: _counter(w, db)[0]),
    "redemption_id": ("school", lambda w, db, app: _counter(w, db)[1]),
    "close_id": ("school", lambda w, db, app: _close_id(w, db)),
    "card_id": ("school", lambda w, db, app: _card_id(w, db)),
    "import_id": ("school", lambda w, db, app: _import_id(w, db)),
    # Points and activities (tests/points/support.py): a volunteer activity of A1 held
    # yesterday, a pending hours log logged by teacher_a1, a volunteer team, a pending thank-you
    # letter to a donation A1 received, A1's rule override starting in a month, an award entry.
    "activity_id": ("school", pts.walk_activity_id),
    "log_id": ("school", pts.walk_log_id),
    "team_id": ("school", pts.walk_team_id),
    "letter_id": ("school", pts.walk_letter_id),
    "rule_id": ("school", pts.walk_rule_id),
    "entry_id": ("school", pts.walk_entry_id),
}

# Who must not reach an object of each tier (keys of World.users).
OUTSIDERS = {
    "school": [
        "officer_a2",
        "teacher_a2",
        "clerk_a2",
        "officer_b1",
        "teacher_b1",
        "clerk_b1",
        "lead_b",
        "admin_other",
        "officer_x",
    ],
    "alliance": ["officer_b1", "teacher_b1", "clerk_b1", "lead_b", "admin_other", "officer_x"],
    "district": ["admin_other", "officer_x", "teacher_x", "clerk_x"],
    "own": ["officer_a1", "admin", "teacher_a2"],
}

# An in-scope user of each role (for the "lower role" walk).
IN_SCOPE = {
    "district_admin": "admin",
    "alliance_lead": "lead_a",
    "school_officer": "officer_a1",
    "teacher": "teacher_a1",
    "clerk": "clerk_a1",
}


def _routes(app: Flask):
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        methods = sorted(rule.methods - {"HEAD", "OPTIONS"})
        yield rule, app.view_functions[rule.endpoint], methods


def test_every_route_declares_its_access(app):
    missing = [r.rule for r, view, _ in _routes(app) if access_of(view) is None]
    assert missing == [], f"routes without @public/@staff_required/@roles_required: {missing}"


def test_every_url_parameter_has_a_walk_fixture(app):
    unknown = {a for r, _, _ in _routes(app) for a in r.arguments if a not in ARGS}
    assert unknown == set(), f"add these URL parameters to ARGS: {unknown}"


class Walker:
    def __init__(self, app: Flask, world: World, db):
        self.app, self.world, self.db = app, world, db
        self.clients: dict[str, tuple] = {}
        self.ids: dict[str, int] = {}

    def url(self, rule) -> tuple[str, set[str]]:
        values, tiers = {}, set()
        for name in rule.arguments:
            tier, get = ARGS[name]
            if name not in self.ids:
                self.ids[name] = get(self.world, self.db, self.app)
            values[name] = self.ids[name]
            tiers.add(tier)
        with self.app.test_request_context():
            from flask import url_for

            return url_for(rule.endpoint, **values), tiers

    def client(self, key: str):
        if key not in self.clients:
            client = self.app.test_client()
            response = login(client, self.world.user(key))
            assert response.status_code == 302, key
            self.clients[key] = (client, csrf_token(client, "/dashboard"))
        return self.clients[key]

    def audit_count(self) -> int:
        from app.audit.models import AuditEvent

        self.db.session.commit()
        return self.db.session.scalar(select(func.count()).select_from(AuditEvent))

    def call(self, key: str | None, method: str, url: str):
        if key is None:
            client, token = self.app.test_client(), ""
        else:
            client, token = self.client(key)
        before = self.audit_count()
        response = client.open(
            url,
            method=method,
            data={"csrf_token": token} if method != "GET" and not url.startswith("/api/") else None,
            json={} if method != "GET" and url.startswith("/api/") else None,
            headers={"X-CSRFToken": token} if token else {},
        )
        after = self.audit_count()
        return response, after - before


@pytest.fixture
def walker(app, world, db):
    return Walker(app, world, db)


def test_anonymous_callers_are_sent_to_login(app, walker):
    for rule, view, methods in _routes(app):
        if access_of(view) == PUBLIC:
            continue
        url, _ = walker.url(rule)
        for method in methods:
            response, written = walker.call(None, method, url)
            if url.startswith("/api/"):
                assert response.status_code == 401, (method, url)
            elif method == "GET":
                assert response.status_code == 302, (method, url)
                assert "/login" in response.headers["Location"], (method, url)
            else:
                # A POST without a session has no valid CSRF token either: refused either way.
                assert response.status_code in (302, 400, 401), (method, url)
            assert written == 0, (method, url)


def test_roles_that_a_route_does_not_allow_are_refused(app, walker):
    checked = 0
    for rule, view, methods in _routes(app):
        access = access_of(view)
        if access in (PUBLIC, ANY_STAFF):
            continue
        url, _ = walker.url(rule)
        for role in sorted(ALL_ROLES - set(access)):
            for method in methods:
                response, written = walker.call(IN_SCOPE[role], method, url)
                assert response.status_code in (403, 404), (role, method, url, response.status_code)
                assert written == 0, (role, method, url)
                checked += 1
    assert checked > 0


def test_users_of_other_schools_alliances_and_districts_get_404(app, walker, world):
    checked = 0
    for rule, view, methods in _routes(app):
        access = access_of(view)
        if access == PUBLIC or not rule.arguments:
            continue
        url, tiers = walker.url(rule)
        # The narrowest tier named in the URL decides who is an outsider ("own": objects that
        # only their owner reaches, like /account/tokens/<id>, unless nested under a user).
        tier = next(t for t in ("school", "alliance", "district", "own") if t in tiers)
        for key in OUTSIDERS[tier]:
            role = world.user(key).role
            allowed = access == ANY_STAFF or role in access
            for method in methods:
                response, written = walker.call(key, method, url)
                expected = {404} if allowed else {403, 404}
                assert response.status_code in expected, (key, method, url, response.status_code)
                assert written == 0, (key, method, url)
                checked += 1
    assert checked > 0


def test_no_route_answers_500_to_an_unknown_id(app, walker):
    for rule, _view, methods in _routes(app):
        if not any(a.endswith("_id") or a == "sid" for a in rule.arguments):
            continue
        with app.test_request_context():
            from flask import url_for

            url = url_for(rule.endpoint, **{a: 987654 for a in rule.arguments})
        for method in methods:
            response, written = walker.call("admin", method, url)
            assert response.status_code in (403, 404), (method, url, response.status_code)
            assert written == 0
