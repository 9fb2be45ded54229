"""Plain helpers shared by the stock-ledger tests (no fixtures here, so no conftest clash)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select


@dataclass
class Shop:
    """District 1 with alliance A (schools a1, a2) and B (b1); district 2 with school x.
    Items: pen, book, milk (food, shelf life) of district 1; other_item of district 2."""

    district_id: int
    a1: int
    a2: int
    b1: int
    x: int
    pen: int
    book: int
    milk: int
    other_item: int


def make_shop(tag: str = "") -> Shop:
    """Create the rows above and commit (names carry ``tag`` so repeated calls never clash)."""
    from app.extensions import db
    from app.inventory.operations import create_item
    from app.org.operations import create_alliance, create_district, create_school

    d1 = create_district(name=f"一区{tag}", code=f"d1{tag}")
    d2 = create_district(name=f"二区{tag}", code=f"d2{tag}")
    a = create_alliance(district_id=d1.id, name="甲联盟")
    b = create_alliance(district_id=d1.id, name="乙联盟")
    a1 = create_school(district_id=d1.id, name="甲一小学", alliance_id=a.id)
    a2 = create_school(district_id=d1.id, name="甲二小学", alliance_id=a.id)
    b1 = create_school(district_id=d1.id, name="乙一小学", alliance_id=b.id)
    x = create_school(district_id=d2.id, name="外区小学")

    def item(district, name, category="stationery", **kw):
        return create_item(
            district_id=district.id, name=name, category=category, unit="个", points=5, **kw
        ).id

    shop = Shop(
        district_id=d1.id,
        a1=a1.id,
        a2=a2.id,
        b1=b1.id,
        x=x.id,
        pen=item(d1, "铅笔"),
        book=item(d1, "练习本"),
        milk=item(d1, "牛奶", "food", shelf_life_days=180),
        other_item=item(d2, "铅笔"),
    )
    db.session.commit()
    return shop


def on_hand(school_id: int, item_id: int) -> int:
    from app.extensions import db
    from app.inventory.models import StockLevel

    value = db.session.scalar(
        select(StockLevel.on_hand).where(
            StockLevel.school_id == school_id, StockLevel.item_id == item_id
        )
    )
    return value or 0


def count(model, *where) -> int:
    from app.extensions import db

    return db.session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def lot_remaining(school_id: int, item_id: int) -> dict[int, int]:
    """{lot id: remaining} of every lot of the item at the school."""
    from app.extensions import db
    from app.inventory.models import StockLot

    return dict(
        db.session.execute(
            select(StockLot.id, StockLot.remaining)
            .where(StockLot.school_id == school_id, StockLot.item_id == item_id)
            .order_by(StockLot.id)
        ).all()
    )


def snapshot() -> tuple:
    """Everything the ledger holds, to compare before and after a refused operation."""
    from app.extensions import db
    from app.inventory.models import LotAllocation, StockLevel, StockLot, StockMove

    return (
        db.session.execute(
            select(StockLevel.school_id, StockLevel.item_id, StockLevel.on_hand).order_by(
                StockLevel.id
            )
        ).all(),
        db.session.execute(select(StockLot.id, StockLot.remaining).order_by(StockLot.id)).all(),
        count(StockMove),
        count(LotAllocation),
    )


def ledger_problems() -> list[str]:
    from app.ledgers import run_checks

    return [problem for result in run_checks() for problem in result.problems]


def make_receipt_line(school_id: int, item_id: int, quantity: int, expiry=None) -> int:
    """A walk-in receipt line (the donor chain's start) without going through donations."""
    from app.donations.models import Receipt, ReceiptLine
    from app.extensions import db

    receipt = Receipt(school_id=school_id, source="walk_in")
    db.session.add(receipt)
    db.session.flush()
    line = ReceiptLine(
        receipt_id=receipt.id,
        item_id=item_id,
        quantity=quantity,
        condition="new",
        expiry_date=expiry,
    )
    db.session.add(line)
    db.session.flush()
    return line.id


def in_thread(app, fn, *args, **kwargs):
    """Run ``fn`` in its own app context and session, as a separate request would, commit it,
    and tell how it went: ``"ok"``, or the code of the DomainError that refused it."""
    from app.common import DomainError
    from app.extensions import db

    with app.app_context():
        try:
            fn(*args, **kwargs)
            db.session.commit()
            return "ok"
        except DomainError as error:
            db.session.rollback()
            return error.code
        finally:
            db.session.remove()
