"""Demo counter: a card for every enrolled student, and two counter days at 陇西小学.

* Cards: every enrolled student of every school gets one, issued four weeks ago by the school's
  aid officer where the demo has one.
* The lunch break two school days ago: clerk_longxi serves about a dozen children; one takes the
  wrong thing, the clerk voids that checkout ("拿错了，退回") and serves the child again; the
  clerk closes the day and officer_longxi signs it off the next morning.
* The last school day before today: a few checkouts, closed by the clerk, awaiting sign-off.

Runs after the points loader and serves only children whose points were all earned before the
lunch break (the monthly points of today are left alone), from the school's own stock, so every
history reads in time order. Dates are relative to today (``frozen_time``); checkouts go through
``app.counter.operations`` like any other.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import func, select

from app.common import frozen_time, local_today
from app.counter import operations as counter
from app.counter.models import Card, Redemption
from app.extensions import db
from app.inventory.models import Item, StockMove
from app.org.models import School
from app.points.models import PointEntry
from app.registry.models import Student

VOID_REASON = "拿错了，退回"

# A lunch break's carts: (item name, quantity); the third child took the wrong thing.
LUNCH = [
    [("练习本", 2), ("铅笔", 2)],
    [("中性笔", 1), ("练习本", 1)],
    [("毛巾", 1)],
    [("牙刷牙膏套装", 1)],
    [("铅笔", 3)],
    [("安徒生童话", 1), ("练习本", 2)],
    [("中性笔", 2)],
    [("十万个为什么", 1), ("铅笔", 2)],
    [("练习本", 3)],
    [("毛巾", 1), ("铅笔", 1)],
    [("中性笔", 1), ("铅笔", 2)],
]
WRONG = 2  # index in LUNCH: voided a few minutes later ...
RIGHT = [("练习本", 2)]  # ... and the child is served this instead
LATER = [
    [("中性笔", 1), ("铅笔", 1)],
    [("练习本", 2)],
    [("牙刷牙膏套装", 1)],
]


def _moment(day: date, hour: int, minute: int = 0) -> datetime:
    """A local (Beijing) time on ``day`` as naive UTC."""
    return datetime(day.year, day.month, day.day, hour, minute) - timedelta(hours=8)


def _school_day_before(day: date) -> date:
    day -= timedelta(days=1)
    while day.weekday() >= 5:
        day -= timedelta(days=1)
    return day


def _issue_cards(users: dict, when: datetime) -> None:
    officers = {u.school_id: u.id for u in users.values() if u.role == "school_officer"}
    has_card = select(Card.student_id).where(Card.status == "active")
    students = db.session.scalars(
        select(Student)
        .where(Student.status == "enrolled", Student.id.not_in(has_card))
        .order_by(Student.id)
    ).all()
    with frozen_time(when):
        for student in students:
            counter.issue_card(student, user_id=officers.get(student.school_id))


def _customers(school: School, before: datetime, need: int) -> list[tuple[Student, int]]:
    """Enrolled children of the school with points, all earned before ``before``: (student,
    balance), richest first."""
    rows = db.session.execute(
        select(Student, func.sum(PointEntry.points), func.max(PointEntry.created_at))
        .join(PointEntry, PointEntry.student_id == Student.id)
        .where(Student.school_id == school.id, Student.status == "enrolled")
        .group_by(Student.id)
        .order_by(func.sum(PointEntry.points).desc(), Student.id)
    ).all()
    found = [(s, int(total)) for s, total, last in rows if total > 0 and last < before]
    return found[: need * 3]


def _stock_at(school: School, before: datetime) -> dict[int, int]:
    rows = db.session.execute(
        select(StockMove.item_id, func.sum(StockMove.quantity))
        .where(StockMove.school_id == school.id, StockMove.created_at < before)
        .group_by(StockMove.item_id)
    ).all()
    return {item_id: int(q) for item_id, q in rows}


class _Counter:
    """One clerk's checkouts, each at its own moment, within what the children and shelf hold."""

    def __init__(self, clerk, items: dict[str, Item], balances: dict, stock: dict[int, int]):
        self.clerk, self.items, self.balances, self.stock = clerk, items, balances, stock

    def cost(self, cart) -> int | None:
        if any(name not in self.items for name, _ in cart):
            return None
        if any(self.stock.get(self.items[n].id, 0) < q for n, q in cart):
            return None
        return sum(self.items[n].points * q for n, q in cart)

    def serve(self, student: Student, cart, at: datetime) -> Redemption | None:
        cost = self.cost(cart)
        if cost is None or self.balances[student.id] < cost:
            return None
        code = db.session.scalar(
            select(Card.code).where(Card.student_id == student.id, Card.status == "active")
        )
        with frozen_time(at):
            done = counter.redeem(
                clerk=self.clerk,
                card_code=code,
                lines=[counter.Line(self.items[n].id, q) for n, q in cart],
            )
            db.session.flush()
        self.balances[student.id] -= cost
        for name, quantity in cart:
            self.stock[self.items[name].id] -= quantity
        return db.session.get(Redemption, done.id)

    def void(self, redemption: Redemption, cart, at: datetime) -> None:
        with frozen_time(at):
            counter.void_redemption(redemption, user=self.clerk, reason=VOID_REASON)
            db.session.flush()
        self.balances[redemption.student_id] += redemption.points_spent
        for name, quantity in cart:
            self.stock[self.items[name].id] += quantity

    def day(self, carts, children, start: datetime, *, wrong: int | None = None) -> int:
        """Serve each cart to the next child who can afford it, a few minutes apart."""
        at, served = start, 0
        queue = list(children)
        for index, cart in enumerate(carts):
            cost = self.cost(cart)
            if cost is None:
                continue
            child = next((c for c in queue if self.balances[c.id] >= cost), None)
            if child is None:
                continue
            queue.remove(child)
            done = self.serve(child, cart, at)
            if done is None:
                continue
            served += 1
            at += timedelta(minutes=3, seconds=20 + 7 * index)
            if index == wrong:
                # The child comes back: wrong item. Void it, then serve what they wanted.
                self.void(done, cart, at)
                at += timedelta(minutes=1, seconds=10)
                if self.serve(child, RIGHT, at) is not None:
                    served += 1
                at += timedelta(minutes=2, seconds=40)
        return served


def load_counter(ctx: dict) -> None:
    users = {u.username: u for u in ctx["users"]}
    today = local_today()
    _issue_cards(users, _moment(today - timedelta(days=28), 9))

    school = ctx["schools"].get("陇西小学")
    clerk, officer = users.get("clerk_longxi"), users.get("officer_longxi")
    if school is None or clerk is None or officer is None:
        return
    later = _school_day_before(today)
    lunch = _school_day_before(later)
    start = _moment(lunch, 12, 5)

    names = {name for cart in LUNCH + LATER + [RIGHT] for name, _ in cart}
    items = {
        item.name: item
        for item in db.session.scalars(
            select(Item).where(
                Item.district_id == school.district_id,
                Item.name.in_(names),
                Item.active.is_(True),
            )
        )
    }
    customers = _customers(school, start, len(LUNCH) + len(LATER))
    children = [student for student, _ in customers]
    balances = {student.id: balance for student, balance in customers}
    desk = _Counter(clerk, items, balances, _stock_at(school, start))

    desk.day(LUNCH, children, start, wrong=WRONG)
    with frozen_time(_moment(lunch, 13, 10)):
        close = counter.close_day(
            school_id=school.id, clerk_id=clerk.id, day=lunch, note="午间兑换，一单拿错已作废重开。"
        )
    with frozen_time(_moment(later, 8, 40)):
        counter.sign_off_day(close, officer=officer)

    served = set(
        db.session.scalars(select(Redemption.student_id).where(Redemption.school_id == school.id))
    )
    desk.day(LATER, [c for c in children if c.id not in served], _moment(later, 12, 15))
    with frozen_time(_moment(later, 12, 50)):
        counter.close_day(school_id=school.id, clerk_id=clerk.id, day=later)
    db.session.flush()
