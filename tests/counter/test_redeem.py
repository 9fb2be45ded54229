"""Redemption at the counter: both ledgers together, limits, cards, voids, idempotent retries."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, func, select

from app.counter import operations as counter
from app.counter.models import IdempotencyKey, Redemption
from app.inventory import operations as inventory
from app.inventory.models import StockLevel
from app.ledgers import run_checks
from app.points import operations as points
from app.points.models import PointAccount, PointEntry
from app.registry import operations as registry


@pytest.fixture
def shop(world, db):
    """School A1 with two items in stock, a student with 100 points and a card."""
    pencil = inventory.create_item(
        district_id=world.district.id, name="铅笔", category="stationery", unit="支", points=2
    )
    bag = inventory.create_item(
        district_id=world.district.id,
        name="书包",
        category="stationery",
        unit="个",
        points=30,
        limit_quantity=1,
        limit_period="semester",
    )
    inventory.receive_stock(world.school_a1.id, pencil.id, 50)
    inventory.receive_stock(world.school_a1.id, bag.id, 5)
    student = registry.add_student(
        world.school_a1,
        registry.StudentInput(name="李小花", gender="F", class_id=world.class_a1.id),
    )
    points.credit(student, 100, kind="award", reason="开学奖励")
    card = counter.issue_card(student)
    db.session.commit()
    return {
        "pencil": pencil.id,
        "bag": bag.id,
        "student": student.id,
        "code": card.code,
        "clerk": world.user("clerk_a1"),
        "school": world.school_a1.id,
    }


def _balance(db, student_id):
    return db.session.scalar(
        select(PointAccount.balance).where(PointAccount.student_id == student_id)
    )


def _on_hand(db, school_id, item_id):
    return db.session.scalar(
        select(StockLevel.on_hand).where(
            StockLevel.school_id == school_id, StockLevel.item_id == item_id
        )
    )


def _counts(db):
    return (
        db.session.scalar(select(func.count()).select_from(Redemption)),
        db.session.scalar(select(func.count()).select_from(IdempotencyKey)),
    )


def test_redeem_takes_points_and_stock_together(shop, db):
    r = counter.redeem(
        clerk=shop["clerk"],
        card_code=shop["code"],
        lines=[counter.Line(shop["pencil"], 3), counter.Line(shop["bag"], 1)],
    )
    db.session.commit()
    assert r.points_spent == 36 and r.balance_after == 64
    assert _balance(db, shop["student"]) == 64
    assert _on_hand(db, shop["school"], shop["pencil"]) == 47
    assert _on_hand(db, shop["school"], shop["bag"]) == 4
    assert all(not c.problems for c in run_checks())


@pytest.mark.parametrize(
    "lines, error",
    [
        ([("pencil", 60)], counter.DomainError),  # more points than the balance
        ([("bag", 2)], counter.LimitExceeded),  # limit 1 per semester
    ],
)
def test_refusals_write_nothing(shop, db, lines, error):
    with pytest.raises(error):
        counter.redeem(
            clerk=shop["clerk"],
            card_code=shop["code"],
            lines=[counter.Line(shop[k], q) for k, q in lines],
        )
    db.session.rollback()
    assert _balance(db, shop["student"]) == 100
    assert _on_hand(db, shop["school"], shop["pencil"]) == 50
    assert _counts(db)[0] == 0


def test_out_of_stock_rolls_back_the_points(shop, db, world):
    points.credit(db.session.get(registry.Student, shop["student"]), 500, kind="award", reason="x")
    db.session.commit()
    with pytest.raises(inventory.OutOfStock):
        counter.redeem(
            clerk=shop["clerk"], card_code=shop["code"], lines=[counter.Line(shop["pencil"], 51)]
        )
    db.session.rollback()
    assert _balance(db, shop["student"]) == 600
    assert _on_hand(db, shop["school"], shop["pencil"]) == 50


def test_limit_counts_earlier_checkouts_but_not_voided_ones(shop, db, world):
    first = counter.redeem(
        clerk=shop["clerk"], card_code=shop["code"], lines=[counter.Line(shop["bag"], 1)]
    )
    db.session.commit()
    with pytest.raises(counter.LimitExceeded):
        counter.redeem(
            clerk=shop["clerk"], card_code=shop["code"], lines=[counter.Line(shop["bag"], 1)]
        )
    db.session.rollback()
    counter.void_redemption(
        db.session.get(Redemption, first.id), user=shop["clerk"], reason="拿错了"
    )
    db.session.commit()
    counter.redeem(
        clerk=shop["clerk"], card_code=shop["code"], lines=[counter.Line(shop["bag"], 1)]
    )
    db.session.commit()
    assert all(not c.problems for c in run_checks())


def test_void_gives_points_and_stock_back_and_only_once(shop, db, world):
    r = counter.redeem(
        clerk=shop["clerk"], card_code=shop["code"], lines=[counter.Line(shop["pencil"], 5)]
    )
    db.session.commit()
    with pytest.raises(counter.VoidNotAllowed):
        counter.void_redemption(
            db.session.get(Redemption, r.id), user=world.user("teacher_a1"), reason="x"
        )
    db.session.rollback()
    counter.void_redemption(
        db.session.get(Redemption, r.id), user=world.user("officer_a1"), reason="退货"
    )
    db.session.commit()
    assert _balance(db, shop["student"]) == 100
    assert _on_hand(db, shop["school"], shop["pencil"]) == 50
    with pytest.raises(counter.DomainError):
        counter.void_redemption(
            db.session.get(Redemption, r.id), user=world.user("officer_a1"), reason="again"
        )
    db.session.rollback()
    assert all(not c.problems for c in run_checks())


def test_a_reissued_card_is_revoked_at_once(shop, db, world):
    student = db.session.get(registry.Student, shop["student"])
    new = counter.reissue_card(student, reason="丢失")
    db.session.commit()
    assert new.code != shop["code"]
    with pytest.raises(counter.CardRevoked):
        counter.find_card(shop["code"], shop["clerk"])
    assert counter.find_card(new.code.lower(), shop["clerk"]).id == new.id


def test_another_schools_clerk_cannot_find_the_card(shop, world):
    with pytest.raises(counter.CardNotFound):
        counter.find_card(shop["code"], world.user("clerk_b1"))


def test_card_codes_are_random_and_long():
    codes = {counter.new_card_code() for _ in range(1000)}
    assert len(codes) == 1000
    assert all(c.startswith("AX") and len(c) == 22 for c in codes)


# ---------------------------------------------------------------- the API


def _post(client, headers, body, key="cart-1"):
    return client.post(
        "/api/v1/counter/redemptions",
        json=body,
        headers={**headers, **({"Idempotency-Key": key} if key else {})},
    )


def test_api_redeems_and_a_retry_returns_the_first_answer(shop, client, api_token, db):
    headers = api_token(shop["clerk"])
    body = {"card_code": shop["code"], "lines": [{"item_id": shop["pencil"], "quantity": 2}]}
    first = _post(client, headers, body)
    assert first.status_code == 201, first.get_json()
    again = _post(client, headers, body)
    assert again.status_code == 201 and again.get_json() == first.get_json()
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert _counts(db)[0] == 1 and _balance(db, shop["student"]) == 96
    other = _post(client, headers, {**body, "lines": [{"item_id": shop["pencil"], "quantity": 3}]})
    assert other.status_code == 409
    assert other.get_json()["error"]["code"] == "idempotency_conflict"


def test_api_answer_carries_the_servers_time_in_the_schools_zone(shop, client, api_token):
    before = datetime.now(UTC).replace(microsecond=0)
    body = {"card_code": shop["code"], "lines": [{"item_id": shop["pencil"], "quantity": 1}]}
    answer = _post(client, api_token(shop["clerk"]), body).get_json()
    created = datetime.fromisoformat(answer["created_at"])
    assert created.utcoffset() == timedelta(hours=8)  # Asia/Shanghai, whatever the PC says
    assert before <= created <= datetime.now(UTC) + timedelta(seconds=1)


def test_api_retry_after_the_card_was_reissued_still_gets_the_first_answer(
    shop, client, api_token, db
):
    headers = api_token(shop["clerk"])
    body = {"card_code": shop["code"], "lines": [{"item_id": shop["pencil"], "quantity": 2}]}
    first = _post(client, headers, body, key="lost-reply")
    counter.reissue_card(db.session.get(registry.Student, shop["student"]), reason="丢失")
    db.session.commit()
    again = _post(client, headers, body, key="lost-reply")
    assert again.status_code == 201 and again.get_json() == first.get_json()
    assert _post(client, headers, body, key="new-cart").get_json()["error"]["code"] == (
        "card_revoked"
    )
    assert _counts(db)[0] == 1 and _balance(db, shop["student"]) == 96


def test_api_out_of_stock_after_points_were_taken_leaves_nothing_but_the_refusal(
    shop, client, api_token, db
):
    """The points go first; the stock then says no: the whole transaction is undone and only
    the refusal is kept under the key (no savepoint, a second transaction)."""
    points.credit(db.session.get(registry.Student, shop["student"]), 500, kind="award", reason="x")
    db.session.commit()
    headers = api_token(shop["clerk"])
    body = {"card_code": shop["code"], "lines": [{"item_id": shop["pencil"], "quantity": 51}]}
    refused = _post(client, headers, body, key="oos")
    assert refused.status_code == 409
    assert refused.get_json()["error"]["code"] == "out_of_stock"
    assert _balance(db, shop["student"]) == 600
    assert _on_hand(db, shop["school"], shop["pencil"]) == 50
    assert _counts(db) == (0, 1)
    assert db.session.scalar(select(func.count()).select_from(PointEntry)) == 2  # the credits
    again = _post(client, headers, body, key="oos")
    assert again.get_json() == refused.get_json()
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert all(not c.problems for c in run_checks())


def test_api_checkout_write_transaction_holds_only_writes(shop, client, api_token, db, app):
    """On SQLite the writer lock is held from BEGIN IMMEDIATE to COMMIT: the token, the card
    and the items are read before it; inside it only the claim, the ledgers (with their
    conditional updates and the lot lookup) and the stored answer."""
    if db.engine.dialect.name != "sqlite":
        pytest.skip("the writer lock is SQLite's")
    headers = api_token(shop["clerk"])
    body = {"card_code": shop["code"], "lines": [{"item_id": shop["pencil"], "quantity": 1}]}
    _post(client, headers, body, key="warm")  # the token's last-use stamp, once a minute
    statements: list[str] = []

    def record(conn, cursor, statement, *args):  # noqa: ARG001
        statements.append(statement.split()[0].upper() + " " + statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        assert _post(client, headers, body, key="measured").status_code == 201
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    writers = [i for i, s in enumerate(statements) if s.startswith("BEGIN BEGIN IMMEDIATE")]
    assert len(writers) == 1, statements  # one write transaction, after the reads
    begin = writers[0]
    before, inside = statements[:begin], statements[begin + 1 :]
    assert any("api_token" in s for s in before) and any("FROM card" in s for s in before)
    reads = [s for s in inside if s.startswith("SELECT")]
    assert len(reads) == 1 and "stock_lot" in reads[0], reads  # the lots, FEFO
    assert not any("api_token" in s or "FROM card" in s for s in inside)
    # claim; points update + entry; stock update + move, lots, lot update + allocation;
    # redemption + line; the stored answer
    assert len(inside) == 11, inside


def test_api_requires_an_idempotency_key(shop, client, api_token, db):
    body = {"card_code": shop["code"], "lines": [{"item_id": shop["pencil"], "quantity": 1}]}
    for key in (None, "x" * 129):
        response = _post(client, api_token(shop["clerk"]), body, key=key)
        assert response.status_code == 400
        assert response.get_json()["error"]["code"] == "idempotency_key_required"
    assert _counts(db) == (0, 0)


def test_api_stores_a_409_but_forgets_a_422(shop, client, api_token, db):
    headers = api_token(shop["clerk"])
    too_much = {"card_code": shop["code"], "lines": [{"item_id": shop["pencil"], "quantity": 500}]}
    refused = _post(client, headers, too_much, key="k409")
    assert refused.status_code == 409
    assert refused.get_json()["error"]["code"] == "insufficient_points"
    assert _post(client, headers, too_much, key="k409").get_json() == refused.get_json()
    bad = {"card_code": shop["code"], "lines": [{"item_id": shop["pencil"], "quantity": 0}]}
    assert _post(client, headers, bad, key="k422").status_code == 422
    good = {"card_code": shop["code"], "lines": [{"item_id": shop["pencil"], "quantity": 1}]}
    assert _post(client, headers, good, key="k422").status_code == 201
    assert _counts(db) == (1, 2)


@pytest.mark.parametrize("quantity", [0, -1, 1.5, "2", True, 10**9, None])
def test_api_refuses_bad_quantities(shop, client, api_token, db, quantity):
    body = {"card_code": shop["code"], "lines": [{"item_id": shop["pencil"], "quantity": quantity}]}
    response = _post(client, api_token(shop["clerk"]), body, key=f"q{quantity!r}")
    assert response.status_code == 422
    assert "lines.0.quantity" in response.get_json()["error"]["fields"]
    assert _counts(db) == (0, 0) and _balance(db, shop["student"]) == 100


def test_api_card_lookup(shop, client, api_token, world):
    response = client.get(f"/api/v1/counter/cards/{shop['code']}", headers=api_token(shop["clerk"]))
    assert response.status_code == 200
    body = response.get_json()
    assert body == {
        "student_id": shop["student"],
        "name": "李小花",
        "class_name": "三年级(2)班",
        "balance": 100,
        "photo_url": None,
    }
    assert (
        client.get(
            f"/api/v1/counter/cards/{shop['code']}", headers=api_token(world.user("clerk_b1"))
        ).status_code
        == 404
    )


def test_api_void(shop, client, api_token, db, world):
    headers = api_token(shop["clerk"])
    body = {"card_code": shop["code"], "lines": [{"item_id": shop["pencil"], "quantity": 2}]}
    rid = _post(client, headers, body).get_json()["id"]
    other = client.post(
        f"/api/v1/counter/redemptions/{rid}/void",
        json={},
        headers=api_token(world.user("clerk_b1")),
    )
    assert other.status_code == 404
    done = client.post(f"/api/v1/counter/redemptions/{rid}/void", json={}, headers=headers)
    assert done.status_code == 200
    assert done.get_json() == {"id": rid, "status": "void", "balance_after": 100}


# ---------------------------------------------------------------- races


def _run_parallel(app, n, fn):
    barrier = threading.Barrier(n)

    def go(i):
        barrier.wait()
        with app.app_context():
            from app.extensions import db as _db

            try:
                return fn(i)
            finally:
                _db.session.remove()

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(go, range(n)))


def test_the_same_key_sent_many_times_at_once_redeems_once(shop, app, db, api_token):
    headers = api_token(shop["clerk"])
    body = {"card_code": shop["code"], "lines": [{"item_id": shop["pencil"], "quantity": 1}]}
    db.session.commit()
    db.session.remove()

    def send(_):
        return _post(app.test_client(), headers, body, key="same").status_code

    statuses = _run_parallel(app, 12, send)
    assert statuses == [201] * 12
    assert _counts(db)[0] == 1 and _balance(db, shop["student"]) == 98


def test_one_child_spending_the_same_points_at_once(shop, app, db, api_token):
    headers = api_token(shop["clerk"])
    body = {"card_code": shop["code"], "lines": [{"item_id": shop["bag"], "quantity": 1}]}
    # 100 points, bag 30 points but limit 1 per semester: exactly one succeeds.
    db.session.commit()
    db.session.remove()

    def send(i):
        return _post(app.test_client(), headers, body, key=f"k{i}").status_code

    statuses = _run_parallel(app, 10, send)
    assert statuses.count(201) == 1 and statuses.count(409) == 9
    assert _balance(db, shop["student"]) == 70
    assert all(not c.problems for c in run_checks())
