"""Receiving goods, pledges' progress, certificate numbers and thanks (app.donations.operations)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from app.common import DomainError, ValidationFailed, frozen_time, local_today
from app.donations import operations as ops
from app.donations.models import DocumentSequence, Donor, Pledge, PledgeLine, Receipt, ReceiptLine
from app.inventory.models import StockLevel, StockLot, StockMove

R = ops.ReceiptLineInput
L = ops.PledgeLineInput
DONOR = ops.DonorInput("张伟", "13800000001")


@pytest.fixture
def items(db, world):
    """Catalogue items of district 1 (and one of district 2)."""
    from app.inventory import operations as inventory

    def item(name, unit="个", shelf=None, district=world.district):
        return inventory.create_item(
            district_id=district.id,
            name=name,
            category="stationery",
            unit=unit,
            points=5,
            shelf_life_days=shelf,
        )

    rows = {
        "book": item("练习本", "本"),
        "pencil": item("铅笔", "支"),
        "coat": item("冬季棉服", "件"),
        "milk": item("纯牛奶", "箱", shelf=180),
        "other_district": item("外区铅笔", district=world.other_district),
    }
    db.session.commit()
    return rows


def on_hand(db, school, item) -> int:
    return (
        db.session.scalar(
            select(StockLevel.on_hand).where(
                StockLevel.school_id == school.id, StockLevel.item_id == item.id
            )
        )
        or 0
    )


def count(db, model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def pledge_to(db, school, lines, **kw):
    pledge = ops.create_pledge(donor=kw.pop("donor", DONOR), lines=lines, school_id=school.id, **kw)
    db.session.commit()
    return pledge


# ---------------------------------------------------------------- a pledge's progress


def test_partial_receipts_move_the_pledge_from_pledged_to_received(db, world, items):
    pledge = pledge_to(
        db, world.school_a1, [L(100, item_id=items["book"].id), L(50, item_id=items["pencil"].id)]
    )
    first, second = pledge.lines
    assert pledge.status == "pledged"

    ops.receive_goods(
        school_id=world.school_a1.id,
        pledge=pledge,
        lines=[R(items["book"].id, 60, pledge_line_id=first.id)],
    )
    db.session.commit()
    assert pledge.status == "partly_received"
    assert (first.received_quantity, second.received_quantity) == (60, 0)
    assert on_hand(db, world.school_a1, items["book"]) == 60

    ops.receive_goods(
        school_id=world.school_a1.id,
        pledge=pledge,
        lines=[
            R(items["book"].id, 40, pledge_line_id=first.id),
            R(items["pencil"].id, 50, pledge_line_id=second.id),
        ],
    )
    db.session.commit()
    assert pledge.status == "received"
    assert on_hand(db, world.school_a1, items["book"]) == 100
    assert on_hand(db, world.school_a1, items["pencil"]) == 50
    receipts = db.session.scalars(select(Receipt).where(Receipt.pledge_id == pledge.id)).all()
    assert len(receipts) == 2 and all(r.source == "pledge" for r in receipts)
    assert all(r.donor_id == pledge.donor_id for r in receipts)


def test_over_receipt_is_refused_and_nothing_is_written(db, world, items):
    pledge = pledge_to(db, world.school_a1, [L(10, item_id=items["book"].id)])
    line = pledge.lines[0]
    with pytest.raises(ValidationFailed) as exc:
        ops.receive_goods(
            school_id=world.school_a1.id,
            pledge=pledge,
            lines=[R(items["book"].id, 11, pledge_line_id=line.id)],
        )
    assert exc.value.field == "lines.0.quantity"
    db.session.rollback()
    # Two lines on the same pledge line may not add up to more than is still to come either.
    with pytest.raises(ValidationFailed) as exc:
        ops.receive_goods(
            school_id=world.school_a1.id,
            pledge=pledge,
            lines=[
                R(items["book"].id, 6, pledge_line_id=line.id),
                R(items["book"].id, 5, pledge_line_id=line.id),
            ],
        )
    assert exc.value.field == "lines.1.quantity"
    db.session.rollback()
    assert count(db, Receipt) == 0 and count(db, StockMove) == 0
    assert db.session.get(PledgeLine, line.id).received_quantity == 0


def test_other_goods_are_named_by_a_catalogue_item_when_they_arrive(db, world, items):
    pledge = pledge_to(db, world.school_a1, [L(10, description="儿童绘本（九成新）")])
    line = pledge.lines[0]
    ops.receive_goods(
        school_id=world.school_a1.id,
        pledge=pledge,
        lines=[R(items["book"].id, 4, condition="good", pledge_line_id=line.id)],
    )
    db.session.commit()
    assert line.item_id == items["book"].id
    assert line.description == "儿童绘本（九成新）"  # free text keeps Chinese punctuation
    assert line.received_quantity == 4 and pledge.status == "partly_received"
    receipt_line = db.session.scalars(select(ReceiptLine)).one()
    assert receipt_line.pledge_line_id == line.id and receipt_line.condition == "good"
    # Once named, the rest of the line must be the same item.
    with pytest.raises(ValidationFailed) as exc:
        ops.receive_goods(
            school_id=world.school_a1.id,
            pledge=pledge,
            lines=[R(items["pencil"].id, 2, pledge_line_id=line.id)],
        )
    assert exc.value.field == "lines.0.item_id"
    db.session.rollback()


def test_lines_without_a_pledge_line_are_matched_by_item_then_to_other_goods(db, world, items):
    pledge = pledge_to(
        db,
        world.school_a1,
        [L(5, item_id=items["book"].id), L(3, description="旧外套")],
    )
    book_line, other_line = pledge.lines
    ops.receive_goods(
        school_id=world.school_a1.id,
        pledge=pledge,
        lines=[R(items["book"].id, 5), R(items["coat"].id, 3)],
    )
    db.session.commit()
    assert book_line.received_quantity == 5
    assert (other_line.item_id, other_line.received_quantity) == (items["coat"].id, 3)
    assert pledge.status == "received"


def test_goods_not_on_the_pledge_are_refused(db, world, items):
    pledge = pledge_to(db, world.school_a1, [L(5, item_id=items["book"].id)])
    with pytest.raises(ValidationFailed) as exc:
        ops.receive_goods(
            school_id=world.school_a1.id, pledge=pledge, lines=[R(items["pencil"].id, 1)]
        )
    assert exc.value.field == "lines.0.item_id"
    db.session.rollback()


def test_a_cancelled_or_completed_pledge_takes_no_more_goods(db, world, items):
    cancelled = pledge_to(db, world.school_a1, [L(5, item_id=items["book"].id)])
    ops.cancel_pledge(cancelled, "捐赠人改期")
    db.session.commit()
    assert cancelled.cancelled_reason == "捐赠人改期"
    with pytest.raises(DomainError) as exc:
        ops.receive_goods(
            school_id=world.school_a1.id, pledge=cancelled, lines=[R(items["book"].id, 1)]
        )
    assert exc.value.code == "pledge_cancelled" and exc.value.status == 409
    db.session.rollback()

    done = pledge_to(db, world.school_a1, [L(2, item_id=items["book"].id)])
    ops.receive_goods(school_id=world.school_a1.id, pledge=done, lines=[R(items["book"].id, 2)])
    db.session.commit()
    with pytest.raises(DomainError) as exc:
        ops.receive_goods(school_id=world.school_a1.id, pledge=done, lines=[R(items["book"].id, 1)])
    assert exc.value.code == "pledge_closed"
    db.session.rollback()
    with pytest.raises(DomainError):
        ops.cancel_pledge(done, None)  # received in full: nothing left to cancel
    db.session.rollback()
    assert on_hand(db, world.school_a1, items["book"]) == 2


def test_an_alliance_pledge_is_assigned_to_the_school_that_receives_it(db, world, items):
    pledge = ops.create_pledge(
        donor=DONOR, lines=[L(8, item_id=items["coat"].id)], alliance_id=world.alliance_a.id
    )
    db.session.commit()
    ops.receive_goods(school_id=world.school_a2.id, pledge=pledge, lines=[R(items["coat"].id, 3)])
    db.session.commit()
    assert (pledge.school_id, pledge.alliance_id) == (world.school_a2.id, None)
    assert pledge.status == "partly_received"
    # Now it belongs to A2: A1 cannot receive the rest.
    with pytest.raises(ValidationFailed) as exc:
        ops.receive_goods(
            school_id=world.school_a1.id, pledge=pledge, lines=[R(items["coat"].id, 1)]
        )
    assert exc.value.field == "pledge_id"
    db.session.rollback()


def test_an_alliance_pledge_stays_in_its_alliance(db, world, items):
    pledge = ops.create_pledge(
        donor=DONOR, lines=[L(8, item_id=items["coat"].id)], alliance_id=world.alliance_a.id
    )
    db.session.commit()
    with pytest.raises(ValidationFailed):
        ops.receive_goods(
            school_id=world.school_b1.id, pledge=pledge, lines=[R(items["coat"].id, 1)]
        )
    db.session.rollback()
    with pytest.raises(ValidationFailed):
        ops.assign_pledge_school(pledge, world.school_b1.id)
    db.session.rollback()
    ops.assign_pledge_school(pledge, world.school_a1.id)
    db.session.commit()
    assert pledge.school_id == world.school_a1.id and pledge.alliance_id is None


# ---------------------------------------------------------------- what a line may be


def test_expiry_defaults_from_shelf_life_and_past_dates_are_refused(db, world, items):
    receipt = ops.receive_goods(
        school_id=world.school_a1.id,
        source="purchase",
        lines=[R(items["milk"].id, 2), R(items["book"].id, 3)],
    )
    db.session.commit()
    milk, book = receipt.lines
    assert milk.expiry_date == local_today() + timedelta(days=180)
    assert book.expiry_date is None
    lot = db.session.scalars(select(StockLot).where(StockLot.receipt_line_id == milk.id)).one()
    assert lot.expiry_date == milk.expiry_date and lot.remaining == 2
    with pytest.raises(ValidationFailed) as exc:
        ops.receive_goods(
            school_id=world.school_a1.id,
            source="purchase",
            lines=[R(items["milk"].id, 1, expiry_date=local_today() - timedelta(days=1))],
        )
    assert exc.value.field == "lines.0.expiry_date"
    db.session.rollback()


@pytest.mark.parametrize(
    ("line", "field"),
    [
        (R(0, 1), "lines.1.item_id"),
        (R(None, 1), "lines.1.item_id"),  # type: ignore[arg-type]
        (R(True, 1), "lines.1.item_id"),  # type: ignore[arg-type]
        ("other_district", "lines.1.item_id"),
        ("zero", "lines.1.quantity"),
        ("huge", "lines.1.quantity"),
        ("condition", "lines.1.condition"),
        ("value", "lines.1.unit_value_fen"),
    ],
)
def test_a_bad_line_after_good_ones_writes_nothing(db, world, items, line, field):
    book = items["book"].id
    line = {
        "other_district": R(items["other_district"].id, 1),
        "zero": R(book, 0),
        "huge": R(book, 1_000_001),
        "condition": R(book, 1, condition="broken"),
        "value": R(book, 1, unit_value_fen=-1),
    }.get(line, line)
    with pytest.raises(ValidationFailed) as exc:
        ops.receive_goods(
            school_id=world.school_a1.id,
            donor=ops.DonorInput("陈女士", None),
            lines=[R(book, 5), line],
        )
    assert exc.value.field == field
    db.session.rollback()
    assert count(db, Receipt) == 0
    assert count(db, StockMove) == 0 and count(db, Donor) == 0
    assert count(db, DocumentSequence) == 0  # no certificate number was used up


# ---------------------------------------------------------------- walk-ins and purchases


def test_a_purchase_gets_no_donor_and_no_certificate(db, world, items):
    receipt = ops.receive_goods(
        school_id=world.school_a1.id,
        source="purchase",
        lines=[R(items["pencil"].id, 200, unit_value_fen=150)],
        public_consent=True,
    )
    db.session.commit()
    assert receipt.certificate_no is None and receipt.verify_token is None
    assert receipt.donor_id is None and not receipt.public_consent and not receipt.is_donation
    assert on_hand(db, world.school_a1, items["pencil"]) == 200
    with pytest.raises(DomainError) as exc:
        ops.mark_thanked(receipt, via="letter", user_id=None)
    assert exc.value.code == "not_a_donation"
    db.session.rollback()
    with pytest.raises(ValidationFailed):
        ops.receive_goods(
            school_id=world.school_a1.id,
            source="purchase",
            donor=DONOR,
            lines=[R(items["pencil"].id, 1)],
        )
    db.session.rollback()


def test_a_walk_in_donor_needs_no_phone(db, world, items):
    receipt = ops.receive_goods(
        school_id=world.school_a1.id,
        donor=ops.DonorInput("陈女士", None),
        lines=[R(items["book"].id, 15)],
    )
    db.session.commit()
    assert receipt.source == "walk_in" and receipt.certificate_no
    assert (receipt.donor.name, receipt.donor.phone) == ("陈女士", None)
    # Two phoneless 陈女士 are not assumed to be one person.
    other = ops.receive_goods(
        school_id=world.school_a1.id,
        donor=ops.DonorInput("陈女士", "  ", kind="enterprise", organization="某公司"),
        lines=[R(items["book"].id, 1)],
    )
    db.session.commit()
    assert other.donor_id != receipt.donor_id and receipt.donor.organization is None
    # With a phone the donor is recognised again; a bad phone is refused on its field.
    first = ops.receive_goods(
        school_id=world.school_a1.id,
        donor=ops.DonorInput("李四", "138 0000 0002"),
        lines=[R(items["book"].id, 1)],
    )
    again = ops.receive_goods(
        school_id=world.school_a2.id,
        donor=ops.DonorInput("李四", "13800000002"),
        lines=[R(items["book"].id, 1)],
    )
    db.session.commit()
    assert first.donor_id == again.donor_id
    with pytest.raises(ValidationFailed) as exc:
        ops.receive_goods(
            school_id=world.school_a1.id,
            donor=ops.DonorInput("王五", "12345"),
            lines=[R(items["book"].id, 1)],
        )
    assert exc.value.field == "phone"
    db.session.rollback()


def test_a_walk_in_without_a_donor_is_an_anonymous_donation(db, world, items):
    receipt = ops.receive_goods(
        school_id=world.school_a1.id, lines=[R(items["book"].id, 3)], public_consent=True
    )
    db.session.commit()
    assert receipt.source == "walk_in" and receipt.donor_id is None
    assert receipt.anonymous and receipt.certificate_no


def test_a_pledge_still_needs_a_phone(db, world, items):
    for phone in (None, "", "12345"):
        with pytest.raises(ValidationFailed) as exc:
            ops.create_pledge(
                donor=ops.DonorInput("张三", phone),  # type: ignore[arg-type]
                lines=[L(1, item_id=items["book"].id)],
                school_id=world.school_a1.id,
            )
        assert exc.value.field == "phone"
        db.session.rollback()


def test_a_deactivated_school_receives_nothing(db, world, items):
    from app.org.operations import set_school_active

    set_school_active(world.school_a2, False)
    db.session.commit()
    with pytest.raises(DomainError) as exc:
        ops.receive_goods(
            school_id=world.school_a2.id, source="purchase", lines=[R(items["book"].id, 1)]
        )
    assert exc.value.code == "school_inactive"
    db.session.rollback()


# ---------------------------------------------------------------- certificates and thanks


def test_certificate_numbers_run_per_district_and_year(db, world, items, make_school):
    def donate(school, when):
        item = items["book"] if school.district_id == world.district.id else items["other_district"]
        with frozen_time(when):
            receipt = ops.receive_goods(school_id=school.id, lines=[R(item.id, 1)])
        db.session.commit()
        return receipt.certificate_no

    code = world.district.code.upper()
    other = world.other_district.code.upper()
    assert donate(world.school_a1, datetime(2026, 3, 1, 2)) == f"{code}-2026-00001"
    assert donate(world.school_b1, datetime(2026, 3, 2, 2)) == f"{code}-2026-00002"
    assert donate(world.school_x, datetime(2026, 3, 2, 2)) == f"{other}-2026-00001"
    # The year is the local one: 31 Dec 17:00 UTC is already 1 January in Beijing.
    assert donate(world.school_a2, datetime(2026, 12, 31, 17)) == f"{code}-2027-00001"
    assert donate(world.school_a1, datetime(2026, 12, 31, 15)) == f"{code}-2026-00003"
    tokens = db.session.scalars(select(Receipt.verify_token)).all()
    assert len(set(tokens)) == 5 and all(len(t) >= 20 for t in tokens)


def _receive_in_thread(app, school_id: int, item_id: int, barrier: threading.Barrier):
    from app.extensions import db

    with app.app_context():
        try:
            barrier.wait(timeout=10)
            receipt = ops.receive_goods(
                school_id=school_id, lines=[R(item_id, 1)], donor=ops.DonorInput("并发", None)
            )
            db.session.commit()
            return receipt.certificate_no
        finally:
            db.session.remove()


def test_certificate_numbers_stay_unique_and_gapless_under_concurrency(app, db, world, items):
    school_id, item_id = world.school_a1.id, items["book"].id
    db.session.commit()  # the test's own transaction must not hold SQLite's writer lock
    workers = 12
    barrier = threading.Barrier(workers)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        numbers = list(
            pool.map(lambda _: _receive_in_thread(app, school_id, item_id, barrier), range(workers))
        )
    year = local_today().year
    code = world.district.code.upper()
    assert sorted(numbers) == [f"{code}-{year}-{n:05d}" for n in range(1, workers + 1)]
    assert on_hand(db, world.school_a1, items["book"]) == workers


def _receive_pledge_in_thread(app, pledge_id, school_id, item_id, barrier) -> bool:
    from app.extensions import db

    with app.app_context():
        try:
            barrier.wait(timeout=10)
            pledge = db.session.get(Pledge, pledge_id)
            ops.receive_goods(school_id=school_id, pledge=pledge, lines=[R(item_id, 4)])
            db.session.commit()
            return True
        except (ValidationFailed, DomainError):
            db.session.rollback()
            return False
        finally:
            db.session.remove()


def test_concurrent_receipts_of_one_pledge_never_exceed_it(app, db, world, items):
    pledge = pledge_to(db, world.school_a1, [L(10, item_id=items["book"].id)])
    pledge_id, school_id, item_id = pledge.id, world.school_a1.id, items["book"].id
    db.session.commit()
    workers = 6
    barrier = threading.Barrier(workers)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(
            pool.map(
                lambda _: _receive_pledge_in_thread(app, pledge_id, school_id, item_id, barrier),
                range(workers),
            )
        )
    assert results.count(True) == 2  # 4 + 4 fit into 10; a third 4 does not
    line = db.session.scalars(select(PledgeLine).where(PledgeLine.pledge_id == pledge_id)).one()
    assert line.received_quantity == 8
    assert db.session.get(Pledge, pledge_id).status == "partly_received"
    assert on_hand(db, world.school_a1, items["book"]) == 8


def test_thanks_are_recorded_once(db, world, items):
    receipt = ops.receive_goods(
        school_id=world.school_a1.id, donor=DONOR, lines=[R(items["book"].id, 1)]
    )
    db.session.commit()
    with pytest.raises(ValidationFailed):
        ops.mark_thanked(receipt, via="pigeon", user_id=None)
    db.session.rollback()
    officer = world.user("officer_a1")
    ops.mark_thanked(receipt, via="phone", user_id=officer.id)
    db.session.commit()
    assert (receipt.thanked_via, receipt.thanked_by_id) == ("phone", officer.id)
    assert receipt.thanked_at is not None
    with pytest.raises(DomainError) as exc:
        ops.mark_thanked(receipt, via="letter", user_id=officer.id)
    assert exc.value.code == "already_thanked"
    db.session.rollback()
    assert db.session.get(Receipt, receipt.id).thanked_via == "phone"


def test_received_goods_can_be_followed_to_their_receipt_line(db, world, items):
    pledge = pledge_to(db, world.school_a1, [L(10, item_id=items["coat"].id)])
    later = local_today() + timedelta(days=400)
    receipt = ops.receive_goods(
        school_id=world.school_a1.id,
        pledge=pledge,
        lines=[R(items["coat"].id, 10, unit_value_fen=12000, expiry_date=later)],
    )
    db.session.commit()
    line = receipt.lines[0]
    move = db.session.scalars(select(StockMove).where(StockMove.receipt_line_id == line.id)).one()
    assert (move.kind, move.quantity, move.balance_after) == ("receipt", 10, 10)
    assert line.unit_value_fen == 12000 and line.expiry_date == later
    with pytest.raises(ValidationFailed) as exc:
        ops.receive_goods(
            school_id=world.school_a1.id,
            source="purchase",
            lines=[R(items["coat"].id, 1, expiry_date=date(2099, 1, 1))],
        )
    assert exc.value.field == "lines.0.expiry_date"
    db.session.rollback()


def test_locking_keeps_the_callers_unsaved_changes(db, world, items):
    receipt = ops.receive_goods(
        school_id=world.school_a1.id, donor=DONOR, lines=[R(items["book"].id, 1)]
    )
    receipt.note = "先改备注"  # not flushed yet
    ops.mark_thanked(receipt, via="letter", user_id=None)
    pledge = pledge_to(db, world.school_a1, [L(5, item_id=items["book"].id)])
    pledge.message = "改过的留言"
    ops.receive_goods(school_id=world.school_a1.id, pledge=pledge, lines=[R(items["book"].id, 1)])
    db.session.commit()
    assert db.session.get(Receipt, receipt.id).note == "先改备注"
    assert db.session.get(Pledge, pledge.id).message == "改过的留言"
