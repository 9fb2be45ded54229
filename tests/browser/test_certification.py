"""In a real browser: the aid officer imports three new students from the school's own Excel
template, certifies one of them through to 公示, and the public notice page shows that student's
masked name only — on a desktop and on a phone.

The server is this module's own: ``tests/browser/clock_app.py`` serves the app with its clock
moved from a Saturday or Sunday to the next Monday (Asia/Shanghai), because a 公示 decided on a
weekend opens on the next working day. So the test holds on any day. ``AIXIN_TEST_TODAY=
YYYY-MM-DD`` pretends another day (try a weekend on a weekday); ``AIXIN_TEST_CLOCK_SHIFT=0``
switches the shift off, and then the test fails on a weekend, as it should.

Selectors are form field names and data-testid attributes, so the test holds whether the page
is in Chinese or still in English.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.browser.clock_app import settings_from_env, test_now
from tests.browser.conftest import PHONE, demo_server, login, need_chromium, shot

SCHOOL = "陇西小学"
HEAD_TEACHER_CLASS = "三年级(2)班"  # the demo's only class with a head teacher account
SHANGHAI = ZoneInfo("Asia/Shanghai")
SITUATION = "父亲因病长期住院，家庭收入微薄。"
CATEGORY_WORDS = ("最低生活保障", "Minimum living allowance", "低保")


# ---------------------------------------------------------------- the server with its clock


@pytest.fixture(scope="session")
def live_server(tmp_path_factory):
    """This module's own gunicorn on a fresh demo database, serving ``clock_app`` (overrides
    the conftest's ``live_server`` for the tests here, so ``page_factory`` keeps every request
    on this server)."""
    need_chromium()
    shift = {"AIXIN_TEST_CLOCK_SHIFT": os.environ.get("AIXIN_TEST_CLOCK_SHIFT", "1")}
    app_spec = "tests.browser.clock_app:create_clock_app()"
    with demo_server(tmp_path_factory.mktemp("clock"), app_spec, shift) as base:
        yield base


def test_the_clock_moves_a_weekend_to_the_next_monday():
    def seen(day: date, *, shift: bool = True) -> date:
        real = datetime(2026, 12, 2, 12, 30, tzinfo=UTC)  # 20:30 in Shanghai, a Wednesday
        moment = test_now(real, SHANGHAI, today=day, shift=shift)
        return moment.replace(tzinfo=UTC).astimezone(SHANGHAI).date()

    assert seen(date(2026, 12, 5)) == date(2026, 12, 7)  # Saturday → Monday
    assert seen(date(2026, 12, 6)) == date(2026, 12, 7)  # Sunday → Monday
    assert seen(date(2026, 12, 4)) == date(2026, 12, 4)  # Friday stays
    assert seen(date(2026, 12, 5), shift=False) == date(2026, 12, 5)
    late = datetime(2026, 12, 4, 17, 0, tzinfo=UTC)  # Saturday 01:00 in Shanghai
    assert test_now(late, SHANGHAI, today=None, shift=True) == datetime(2026, 12, 6, 17, 0)
    assert settings_from_env({"AIXIN_TEST_TODAY": "2026-12-05"}) == (date(2026, 12, 5), True)
    assert settings_from_env({"AIXIN_TEST_CLOCK_SHIFT": "0"}) == (None, False)


# ---------------------------------------------------------------- the roster file


def id_check_char(first17: str) -> str:
    """GB 11643-1999: weights 2^(17-i) mod 11, check = (12 - sum mod 11) mod 11, 10 → X."""
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    return "10X98765432"[sum(int(d) * w for d, w in zip(first17, weights, strict=True)) % 11]


@dataclass(frozen=True)
class NewStudent:
    name: str
    gender: str  # 男 / 女
    born: date
    order: int  # odd for boys, even for girls (GB 11643)
    phone: str
    guardian: str

    @property
    def id_number(self) -> str:
        # 410181 (巩义市) is none of the demo roster's regions: no clash with a demo student.
        first17 = f"410181{self.born:%Y%m%d}{self.order:03d}"
        return first17 + id_check_char(first17)

    @property
    def masked(self) -> str:
        return self.name[0] + "*" * (len(self.name) - 2) + self.name[-1]


# One set per device: both runs share the server's database.
NEW_STUDENTS = {
    "desktop": (
        NewStudent("林晓岚", "女", date(2017, 3, 14), 992, "13912340001", "林建华"),
        NewStudent("欧阳振宇", "男", date(2016, 11, 2), 993, "13912340002", "欧阳明"),
        NewStudent("苏语桐", "女", date(2017, 6, 30), 994, "13912340003", "苏卫东"),
    ),
    "phone": (
        NewStudent("季思岚", "女", date(2017, 1, 9), 996, "13912340004", "季长青"),
        NewStudent("司马浩然", "男", date(2016, 9, 21), 997, "13912340005", "司马峰"),
        NewStudent("宁可欣", "女", date(2017, 4, 18), 998, "13912340006", "宁国强"),
    ),
}


def test_the_id_numbers_have_valid_check_characters():
    from app.registry.validation import id_number_problem

    assert id_check_char("11010519491231002") == "X"  # the standard's own example
    for students in NEW_STUDENTS.values():
        for s in students:
            assert id_number_problem(s.id_number) is None, s


def fill_template(path: Path, students: tuple[NewStudent, ...]) -> str:
    """Type the students into the downloaded template under its header, as an officer does.
    Returns the class chosen (from the template's own list, not the head teacher's class)."""
    from openpyxl import load_workbook

    workbook = load_workbook(path)
    notes = [str(c.value) for c in workbook.worksheets[1]["A"] if c.value]
    classes = notes[-1].split("、")  # "…现有班级：" then the classes
    school_class = next(c for c in classes if c != HEAD_TEACHER_CLASS)
    sheet = workbook.worksheets[0]
    headers = [c.value for c in sheet[1]]
    for row, s in enumerate(students, start=2):
        values = {
            "姓名": s.name,
            "性别": s.gender,
            "出生日期": s.born.isoformat(),
            "民族": "汉族",
            "身份证件类型": "居民身份证",
            "身份证件号": s.id_number,
            "全国学籍号": "G" + s.id_number,
            "班级": school_class,
            "是否住校": "否",
            "是否留守儿童": "否",
            "监护人姓名": s.guardian,
            "监护人联系电话": s.phone,
            "家庭住址": "郑州市二七区陇海中路88号",
        }
        for column, header in enumerate(headers, start=1):
            if header in values:
                sheet.cell(row=row, column=column, value=values[header])
    workbook.save(path)
    return school_class


# ---------------------------------------------------------------- the steps


def _page(page_factory, device: str):
    return page_factory(PHONE, is_mobile=True) if device == "phone" else page_factory()


def import_students(page, base: str, students, device: str, tmp_path: Path) -> str:
    """Officer: template → filled file → upload → mapping → dry run → add. Returns the class."""
    page.goto(base + "/students/")
    page.get_by_test_id("import").click()
    shot(page, f"import-upload-{device}")
    with page.expect_download() as download:
        page.get_by_test_id("template").click()
    path = tmp_path / "名册.xlsx"
    download.value.save_as(path)
    school_class = fill_template(path, students)
    page.set_input_files("input[name=file]", str(path))
    page.locator("[data-testid=upload-form] button[type=submit]").click()
    page.wait_for_url(re.compile(r".*/students/imports/[0-9a-f]{32}$"))

    # The columns are matched by themselves; the ID type column is not imported.
    mapping = page.eval_on_selector_all(
        "[data-testid=mapping-form] tbody tr",
        "rows => rows.map(r => [r.querySelector('label').textContent.trim(),"
        " r.querySelector('select').value])",
    )
    mapping = dict(mapping)
    assert {k: mapping[k] for k in ("姓名", "性别", "身份证件号", "全国学籍号", "班级")} == {
        "姓名": "name",
        "性别": "gender",
        "身份证件号": "id_number",
        "全国学籍号": "student_no",
        "班级": "class_name",
    }
    assert mapping["监护人联系电话"] == "guardian_phone" and mapping["身份证件类型"] == ""
    assert page.get_by_test_id("skipped-sheets").count() == 0  # the 填写说明 sheet: quietly
    shot(page, f"import-mapping-{device}")

    page.get_by_test_id("check").click()
    report = page.get_by_test_id("report")
    report.wait_for()
    assert page.get_by_test_id("rows").inner_text().strip() == "3"
    assert page.get_by_test_id("valid").inner_text().strip() == "3"
    assert page.get_by_test_id("problem-rows").inner_text().strip() == "0"
    assert page.get_by_test_id("no-problems").is_visible()
    names = [n.strip() for n in page.get_by_test_id("preview-name").all_inner_texts()]
    assert sorted(names) == sorted(s.name for s in students)
    html = page.content()
    for s in students:  # the list is masked like the roster
        assert s.id_number not in html and s.phone not in html
        assert f"{s.id_number[:6]}********{s.id_number[-4:]}" in html
    shot(page, f"import-preview-{device}")

    page.get_by_test_id("commit").click()
    page.wait_for_url(re.compile(r".*/students/school/\d+\?import=[0-9a-f]{32}$"))
    banner = page.get_by_test_id("import-filter")
    assert re.search(r"\b3\b", banner.inner_text())
    listed = page.locator("[data-testid=roster] tbody a").all_inner_texts()
    assert sorted(n.strip() for n in listed) == sorted(s.name for s in students)
    shot(page, f"import-roster-{device}")
    return school_class


def certify(page, base: str, student: NewStudent, device: str) -> None:
    """Officer: new application → class review → school decision (公示 starts)."""
    page.goto(base + "/aid/")
    page.get_by_test_id("new-application").click()
    options = page.eval_on_selector_all(
        "select[name=student_id] option",
        "opts => opts.map(o => [o.value, o.textContent.trim()])",
    )
    value = next(v for v, label in options if v and label.endswith(" · " + student.name))
    page.select_option("select[name=student_id]", value)
    page.check("input[name=categories][value=dibao]")
    page.fill("textarea[name=situation]", SITUATION)
    page.check("input[name=written_pledge]")
    shot(page, f"aid-new-application-{device}")
    page.get_by_test_id("save-submit").click()
    page.wait_for_url(re.compile(r".*/aid/applications/\d+$"))
    url = page.url
    review = page.get_by_test_id("class-review")
    review.locator("input[name=recommended_level][value=moderate]").check()
    review.locator("button[type=submit]").click()
    page.wait_for_url(url)
    decide = page.get_by_test_id("decide")
    decide.locator("input[name=outcome][value=moderate]").check()
    shot(page, f"aid-decide-{device}")
    decide.locator("button[type=submit]").click()
    page.wait_for_url(url)
    assert page.get_by_test_id("notice").is_visible()
    shot(page, f"aid-on-notice-{device}")


def public_names(page, base: str) -> list[str]:
    page.goto(base + "/publicity/")
    link = page.locator("a", has_text=SCHOOL)
    if link.count() == 0:
        return []
    link.first.click()
    page.get_by_test_id("notices").first.wait_for()
    return [n.strip() for n in page.get_by_test_id("masked-name").all_inner_texts()]


# ---------------------------------------------------------------- the test


@pytest.mark.parametrize("device", ["desktop", "phone"])
def test_officer_imports_certifies_and_the_public_notice_shows_the_masked_name(
    page_factory, live_server, device, tmp_path
):
    students = NEW_STUDENTS[device]
    chosen = students[0]
    before = public_names(_page(page_factory, device), live_server).count(chosen.masked)

    officer = _page(page_factory, device)
    login(officer, live_server, "officer_longxi")
    school_class = import_students(officer, live_server, students, device, tmp_path)
    certify(officer, live_server, chosen, device)

    public = _page(page_factory, device)
    names = public_names(public, live_server)
    shot(public, f"aid-public-notice-{device}")
    today, shift = settings_from_env()
    seen = test_now(datetime.now(UTC), SHANGHAI, today=today, shift=shift)
    assert names.count(chosen.masked) == before + 1, (
        f"{chosen.masked} is not on the public notice (the server's day: "
        f"{seen.replace(tzinfo=UTC).astimezone(SHANGHAI):%A %Y-%m-%d})"
    )
    row = public.locator("[data-testid=notices] tbody tr", has_text=chosen.masked).last
    assert school_class in row.inner_text()
    html = public.content()
    for s in students:
        for secret in (s.name, s.id_number, "G" + s.id_number, s.phone, s.guardian):
            assert secret not in html
    for word in (*CATEGORY_WORDS, SITUATION[:4]):
        assert word not in html
    for name in names:
        assert "*" in name  # every name on the public page is masked
    assert not re.search(r"\d{17}[\dXx]", html) and not re.search(r"1[3-9]\d{9}", html)
