"""The stock ledger against a plain model: a Hypothesis state machine.

Random sequences of receipts, redemptions (single and multi-item), void-returns of earlier
redemptions, transfers between the two schools of one alliance (approved, rejected or
cancelled), adjustments either way, stocktakes with random counts (and a redemption while the
sheet is being filled) and write-offs (FEFO or of one batch) run against the database; a dict
of on-hand per (school, item) predicts every outcome. After every step the database's on-hand
equals the model, nothing is negative and ``flask ledger check``'s checks find no problem.

Runs on whatever database the suite runs on (SQLite by default, PostgreSQL with
TEST_DATABASE_URL). Each Hypothesis example starts from an empty ledger (``initialize``).
"""

from __future__ import annotations

from datetime import date

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    multiple,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import delete, func, select

from app.extensions import db
from app.inventory import operations as ops
from app.inventory.models import (
    LotAllocation,
    StockLevel,
    StockLot,
    StockMove,
    Stocktake,
    StocktakeLine,
    StockTransfer,
    StockTransferLine,
)
from tests.inventory.stock_helpers import Shop, ledger_problems, make_shop

SCHOOLS = ("a1", "a2")
ITEMS = ("pen", "book", "milk")
EXPIRIES = (None, date(2031, 1, 1), date(2031, 6, 1), date(2032, 1, 1))

# Emptied before every example, children first.
LEDGER_TABLES = (
    LotAllocation,
    StockLot,
    StockMove,
    StockLevel,
    StocktakeLine,
    Stocktake,
    StockTransferLine,
    StockTransfer,
)

schools = st.sampled_from(SCHOOLS)
items = st.sampled_from(ITEMS)
quantities = st.integers(min_value=1, max_value=12)


class StockLedgerMachine(RuleBasedStateMachine):
    redemptions = Bundle("redemptions")

    def __init__(self) -> None:
        super().__init__()
        self.model: dict[tuple[str, str], int] = {}

    # ------------------------------------------------------------ helpers

    def _ids(self, school: str, item: str) -> tuple[int, int]:
        return getattr(self.shop, school), getattr(self.shop, item)

    def _have(self, school: str, item: str) -> int:
        return self.model.get((school, item), 0)

    def _add(self, school: str, item: str, delta: int) -> None:
        self.model[(school, item)] = self._have(school, item) + delta

    def _refused(self, call) -> bool:
        """Run an operation that may run out of stock: commit it, or roll back and say so."""
        try:
            call()
        except ops.OutOfStock:
            db.session.rollback()
            return True
        db.session.commit()
        return False

    # ------------------------------------------------------------ set-up

    shop: Shop  # the schools and items, made once per test (see the test below)

    @initialize()
    def empty_ledger(self) -> None:
        """Every example starts with no stock. Only the ledger's own tables are emptied (the
        schools and items stay): much cheaper than wiping every table of the application per
        example, which on PostgreSQL is a TRUNCATE of some forty tables."""
        db.session.rollback()
        for model in LEDGER_TABLES:
            db.session.execute(delete(model))
        db.session.commit()
        self.model = {}

    def teardown(self) -> None:
        db.session.rollback()

    # ------------------------------------------------------------ rules

    @rule(school=schools, item=items, quantity=quantities, expiry=st.sampled_from(EXPIRIES))
    def receive(self, school, item, quantity, expiry) -> None:
        ops.receive_stock(*self._ids(school, item), quantity, expiry_date=expiry)
        db.session.commit()
        self._add(school, item, quantity)

    @rule(target=redemptions, school=schools, item=items, quantity=quantities)
    def redeem(self, school, item, quantity):
        moves = []
        enough = self._have(school, item) >= quantity
        refused = self._refused(
            lambda: moves.append(ops.take_stock(*self._ids(school, item), quantity))
        )
        assert refused == (not enough)
        if refused:
            return multiple()
        self._add(school, item, -quantity)
        return (moves[0].id, school, item, quantity)

    @rule(
        school=schools,
        lines=st.lists(st.tuples(items, quantities), min_size=1, max_size=4),
    )
    def redeem_several(self, school, lines) -> None:
        wanted: dict[str, int] = {}
        for item, quantity in lines:
            wanted[item] = wanted.get(item, 0) + quantity
        enough = all(self._have(school, item) >= q for item, q in wanted.items())
        refused = self._refused(
            lambda: ops.take_lines(
                getattr(self.shop, school),
                [ops.Line(getattr(self.shop, item), q) for item, q in lines],
            )
        )
        assert refused == (not enough)
        if not refused:
            for item, q in wanted.items():
                self._add(school, item, -q)

    @rule(redemption=consumes(redemptions))
    def void(self, redemption) -> None:
        move_id, school, item, quantity = redemption
        ops.return_stock(db.session.get(StockMove, move_id), reason="作废")
        db.session.commit()
        self._add(school, item, quantity)

    @rule(
        sender=schools,
        item=items,
        quantity=quantities,
        decision=st.sampled_from(("approve", "approve", "reject", "cancel")),
    )
    def transfer(self, sender, item, quantity, decision) -> None:
        receiver = "a2" if sender == "a1" else "a1"
        transfer = ops.request_transfer(
            from_school_id=getattr(self.shop, sender),
            to_school_id=getattr(self.shop, receiver),
            lines=[ops.Line(getattr(self.shop, item), quantity)],
            user_id=None,
        )
        db.session.commit()
        if decision == "reject":
            ops.reject_transfer(transfer, user_id=None, note="不需要")
            db.session.commit()
            return
        if decision == "cancel":
            ops.cancel_transfer(transfer, user_id=None)
            db.session.commit()
            return
        enough = self._have(sender, item) >= quantity
        refused = self._refused(lambda: ops.approve_transfer(transfer, user_id=None))
        assert refused == (not enough)
        if not refused:
            self._add(sender, item, -quantity)
            self._add(receiver, item, quantity)

    @rule(
        school=schools,
        item=items,
        delta=st.integers(min_value=-12, max_value=12).filter(lambda d: d != 0),
    )
    def adjust(self, school, item, delta) -> None:
        enough = self._have(school, item) + delta >= 0
        refused = self._refused(
            lambda: ops.adjust_stock(*self._ids(school, item), delta, reason="更正")
        )
        assert refused == (not enough)
        if not refused:
            self._add(school, item, delta)

    @rule(
        school=schools,
        counts=st.dictionaries(items, st.integers(min_value=0, max_value=20), max_size=3),
        taken_meanwhile=st.tuples(items, st.integers(min_value=0, max_value=3)),
        cancel=st.booleans(),
    )
    def stocktake(self, school, counts, taken_meanwhile, cancel) -> None:
        school_id = getattr(self.shop, school)
        sheet = ops.start_stocktake(school_id, item_ids=[getattr(self.shop, i) for i in ITEMS])
        db.session.commit()
        ops.record_counts(sheet, {getattr(self.shop, i): c for i, c in counts.items()})
        db.session.commit()
        # The counter keeps serving while the sheet is filled in.
        item, quantity = taken_meanwhile
        if quantity and self._have(school, item) >= quantity:
            ops.take_stock(school_id, getattr(self.shop, item), quantity)
            db.session.commit()
            self._add(school, item, -quantity)
        if cancel:
            ops.cancel_stocktake(sheet, user_id=None)
            db.session.commit()
            return
        ops.finalise_stocktake(sheet, user_id=None)
        db.session.commit()
        for counted_item, counted in counts.items():
            self.model[(school, counted_item)] = counted  # only counted items change

    @rule(school=schools, item=items, quantity=quantities, one_batch=st.booleans(), data=st.data())
    def write_off(self, school, item, quantity, one_batch, data) -> None:
        school_id, item_id = self._ids(school, item)
        lot_id = None
        enough = self._have(school, item) >= quantity
        if one_batch:
            lots = db.session.execute(
                select(StockLot.id, StockLot.remaining)
                .where(
                    StockLot.school_id == school_id,
                    StockLot.item_id == item_id,
                    StockLot.remaining > 0,
                )
                .order_by(StockLot.id)
            ).all()
            if lots:
                lot_id, remaining = data.draw(st.sampled_from(lots), label="lot")
                enough = remaining >= quantity
        refused = self._refused(
            lambda: ops.write_off(school_id, item_id, quantity, reason="过期", lot_id=lot_id)
        )
        assert refused == (not enough)
        if not refused:
            self._add(school, item, -quantity)

    @precondition(lambda self: any(self.model.values()))
    @rule(school=schools, item=items)
    def redeem_everything(self, school, item) -> None:
        """Take exactly what is left: on-hand reaches zero, never below."""
        have = self._have(school, item)
        if have:
            ops.take_stock(*self._ids(school, item), have)
            db.session.commit()
            self._add(school, item, -have)

    # ------------------------------------------------------------ invariants

    @invariant()
    def on_hand_matches_the_model(self) -> None:
        stored = {
            (s, i): q
            for s, i, q in db.session.execute(
                select(StockLevel.school_id, StockLevel.item_id, StockLevel.on_hand)
            )
        }
        for school in SCHOOLS:
            for item in ITEMS:
                assert stored.get(self._ids(school, item), 0) == self._have(school, item), (
                    school,
                    item,
                )
        assert min(stored.values(), default=0) >= 0
        assert (db.session.scalar(select(func.min(StockLot.remaining))) or 0) >= 0
        db.session.commit()

    @invariant()
    def the_ledger_check_is_clean(self) -> None:
        assert ledger_problems() == []
        db.session.commit()


def test_the_stock_ledger_matches_a_plain_model(app, db):
    StockLedgerMachine.shop = make_shop()  # the autouse fixture wipes all tables afterwards
    run_state_machine_as_test(
        StockLedgerMachine,
        settings=settings(
            max_examples=30,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
