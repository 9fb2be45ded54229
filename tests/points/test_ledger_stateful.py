"""The points ledger against a plain model: a Hypothesis state machine.

Random sequences of earning (volunteer, gratitude), teachers' awards under the daily cap,
spending, voids of earlier redemptions, reversals of earlier credits, officers' corrections and
monthly allowances (claimed once per student and month) run against the database; a dict of
balances, the set of reversed entries, the allowance months and the teachers' awards of the
day predict every outcome. After every step the stored balances equal the model, none is
negative and ``flask ledger check``'s checks find no problem.

Runs on whatever database the suite runs on (SQLite by default, PostgreSQL with
TEST_DATABASE_URL). Each Hypothesis example starts from empty tables (``initialize``).
"""

from __future__ import annotations

from datetime import datetime

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    multiple,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import func, select

from app.common import DomainError, _frozen
from app.extensions import db
from app.points import operations as ops
from app.points.models import PointAccount, PointEntry
from app.registry.models import Student
from tests.points.support import ledger_problems

STUDENTS = (0, 1, 2)
TEACHERS = (0, 1)
CAP = 60
MONTHS = ("2026-09", "2026-10", "2026-11")

students = st.sampled_from(STUDENTS)
amounts = st.integers(min_value=1, max_value=40)


class PointsLedgerMachine(RuleBasedStateMachine):
    redemptions = Bundle("redemptions")
    credits = Bundle("credits")

    @initialize()
    def fresh_tables(self) -> None:
        from app.auth.operations import create_user
        from app.demo import wipe_all_data
        from app.org.operations import create_district, create_school
        from app.points.models import PointRule
        from app.registry.operations import StudentInput, add_student

        db.session.rollback()
        # One fixed moment for the whole example, so "today's awards" never straddle midnight.
        self._clock = _frozen.set(datetime(2026, 11, 16, 2))
        wipe_all_data()
        district = create_district(name="一区", code="d1")
        school = create_school(district_id=district.id, name="甲一小学")
        db.session.add(
            PointRule(
                district_id=district.id,
                effective_from=ops.local_today().replace(year=2020),
                max_award_points_per_teacher_day=CAP,
            )
        )
        self.students = [
            add_student(school, StudentInput(name=f"学生{i}", gender="F")).id for i in STUDENTS
        ]
        self.teachers = [
            create_user(
                username=f"t{i}",
                display_name=f"老师{i}",
                role="teacher",
                password="correct-horse-battery",
                district_id=district.id,
                school_id=school.id,
            ).id
            for i in TEACHERS
        ]
        db.session.commit()
        self.balance = dict.fromkeys(STUDENTS, 0)
        self.awarded = dict.fromkeys(TEACHERS, 0)
        self.months: set[tuple[int, str]] = set()

    def teardown(self) -> None:
        db.session.rollback()
        if hasattr(self, "_clock"):
            _frozen.reset(self._clock)

    def _student(self, i: int) -> Student:
        return db.session.get(Student, self.students[i])

    def _run(self, call) -> str:
        """Commit the operation, or roll back and return the refusal's code."""
        try:
            call()
        except DomainError as exc:
            db.session.rollback()
            return exc.code
        db.session.commit()
        return "ok"

    # ------------------------------------------------------------ rules

    @rule(
        target=credits,
        who=students,
        points=amounts,
        kind=st.sampled_from(["volunteer", "gratitude"]),
    )
    def earn(self, who, points, kind):
        entry = ops.credit(self._student(who), points, kind=kind, reason="活动")
        db.session.commit()
        self.balance[who] += points
        return (entry.id, who, points)

    @rule(target=credits, who=students, teacher=st.sampled_from(TEACHERS), points=amounts)
    def award(self, who, teacher, points):
        made = []
        outcome = self._run(
            lambda: made.append(
                ops.award_points(
                    self._student(who),
                    points,
                    kind="award",
                    reason="表扬",
                    teacher_id=self.teachers[teacher],
                )
            )
        )
        fits = self.awarded[teacher] + points <= CAP
        assert outcome == ("ok" if fits else "rule_limit")
        if not fits:
            return multiple()
        self.awarded[teacher] += points
        self.balance[who] += points
        return (made[0].id, who, points)

    @rule(target=redemptions, who=students, points=amounts)
    def spend(self, who, points):
        made = []
        outcome = self._run(
            lambda: made.append(ops.spend(self._student(who), points, reason="兑换"))
        )
        enough = self.balance[who] >= points
        assert outcome == ("ok" if enough else "insufficient_points")
        if not enough:
            return multiple()
        self.balance[who] -= points
        return (made[0].id, who, points)

    @rule(redemption=consumes(redemptions))
    def void(self, redemption):
        entry_id, who, points = redemption
        outcome = self._run(
            lambda: ops.reverse(db.session.get(PointEntry, entry_id), reason="作废")
        )
        assert outcome == "ok"
        self.balance[who] += points

    def _try_reverse(self, credit) -> None:
        entry_id, who, points = credit
        already = db.session.scalar(select(func.count()).where(PointEntry.reverses_id == entry_id))
        outcome = self._run(
            lambda: ops.reverse(db.session.get(PointEntry, entry_id), reason="记错")
        )
        if already:
            assert outcome == "already_reversed"
        elif self.balance[who] >= points:
            assert outcome == "ok"
            self.balance[who] -= points
        else:
            assert outcome == "insufficient_points"

    @rule(credit=consumes(credits))
    def reverse(self, credit):
        self._try_reverse(credit)

    @rule(credit=credits)
    def reverse_and_keep(self, credit):
        """The credit stays in the bundle: a later reversal of it must be refused."""
        self._try_reverse(credit)

    @rule(who=students, month=st.sampled_from(MONTHS), points=amounts)
    def allowance(self, who, month, points):
        entry = ops.post_allowance(self._student(who), month, points)
        db.session.commit()
        if (who, month) in self.months:
            assert entry is None
        else:
            assert entry is not None and entry.kind == "allowance"
            self.months.add((who, month))
            self.balance[who] += points

    @rule(who=students, delta=st.integers(min_value=-30, max_value=30).filter(bool))
    def adjust(self, who, delta):
        outcome = self._run(
            lambda: ops.adjust(self._student(who), delta, reason="更正", user_id=None)
        )
        if self.balance[who] + delta >= 0:
            assert outcome == "ok"
            self.balance[who] += delta
        else:
            assert outcome == "insufficient_points"

    # ------------------------------------------------------------ invariants

    @invariant()
    def balances_match_the_model(self) -> None:
        if not hasattr(self, "students"):
            return
        stored = dict(
            db.session.execute(select(PointAccount.student_id, PointAccount.balance)).all()
        )
        for i in STUDENTS:
            assert stored.get(self.students[i], 0) == self.balance[i], i
        assert min(stored.values(), default=0) >= 0
        db.session.commit()

    @invariant()
    def the_ledger_check_is_clean(self) -> None:
        if not hasattr(self, "students"):
            return
        assert ledger_problems() == []
        db.session.commit()


def test_the_points_ledger_matches_a_plain_model(app, db):
    run_state_machine_as_test(
        PointsLedgerMachine,
        settings=settings(
            max_examples=30,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
