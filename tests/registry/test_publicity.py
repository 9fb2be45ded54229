"""The public 公示 page: only the allowed fields, only inside the window, no login, no search."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest

from app.common import local_today
from app.registry.access import mask_name
from app.registry.models import AidApplication
from app.registry.publicity import notices_for
from tests.registry.aid_support import CATEGORY_LABELS_ZH, draft, drive, make_student

FULL_NAME = "欧阳小明"
ID_NUMBER = "410102201501011234"
PHONE = "13812345678"
ADDRESS = "郑州市二七区幸福路88号3单元"
SITUATION = "父亲重病卧床，母亲无固定工作"


@pytest.fixture
def notice(world, db):
    """A severe-hardship notice at school A1 whose window runs from yesterday to in 3 days."""
    world.school_a1.phone = "0371-68880001"
    db.session.commit()
    student = make_student(
        world.school_a1,
        world.class_a1,
        name=FULL_NAME,
        id_number=ID_NUMBER,
        guardian_phone=PHONE,
        address=ADDRESS,
        guardian_name="欧阳大伟",
        birth_date=date(2015, 1, 1),
    )
    application = draft(
        student, world.user("officer_a1"), categories=["dibao", "martyr"], situation=SITUATION
    )
    drive(application, "school_review", world)
    return set_window(db, application, -1, 3, level="severe")


def set_window(db, application, start_offset: int, end_offset: int, *, level="severe"):
    today = local_today()
    application.status = "publicity"
    application.level = level
    application.publicity_start = today + timedelta(days=start_offset)
    application.publicity_end = today + timedelta(days=end_offset)
    db.session.commit()
    return application


def english(client):
    client.set_cookie("aixin_lang", "en")
    return client


def test_the_school_page_shows_masked_name_school_class_and_level(client, world, notice):
    response = english(client).get(f"/publicity/schools/{world.school_a1.id}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "欧**明" in html
    assert "甲一小学" in html and "Grade 3 Class 2" in html and "Severe hardship" in html
    # The window and where to object.
    today = local_today()
    assert str(today.year) in html and "0371-68880001" in html
    assert 'name="robots" content="noindex' in html
    assert response.headers["Cache-Control"] == "no-store"


def test_nothing_else_about_the_student_is_shown(client, world, notice):
    for lang in ("en", "zh_CN"):
        client.set_cookie("aixin_lang", lang)
        for path in ("/publicity/", f"/publicity/schools/{world.school_a1.id}"):
            html = client.get(path).get_data(as_text=True)
            for secret in (
                FULL_NAME,
                "小明",
                ID_NUMBER,
                ID_NUMBER[-4:],
                PHONE,
                PHONE[-4:],
                ADDRESS,
                "幸福路88号",
                SITUATION,
                "欧阳大伟",
                "2015-01-01",
                "2015年1月1日",
            ):
                assert secret not in html, (lang, path, secret)
            for label in [*CATEGORY_LABELS_ZH, "Minimum living allowance", "Child of a martyr"]:
                assert label not in html, (lang, path, label)


def test_only_inside_the_window(client, world, db, notice):
    url = f"/publicity/schools/{world.school_a1.id}"
    # The first day and the last day are inside.
    set_window(db, notice, 0, 4)
    assert "欧**明" in client.get(url).get_data(as_text=True)
    set_window(db, notice, -4, 0)
    assert "欧**明" in client.get(url).get_data(as_text=True)
    # The day before the first day, and the day after the last: nothing.
    set_window(db, notice, 1, 5)
    html = client.get(url).get_data(as_text=True)
    assert "欧**明" not in html and 'data-testid="no-notices"' in html
    set_window(db, notice, -5, -1)
    html = client.get(url).get_data(as_text=True)
    assert "欧**明" not in html and 'data-testid="no-notices"' in html
    assert "甲一小学" not in client.get("/publicity/").get_data(as_text=True)


def test_the_query_filters_by_date_with_explicit_days(world, db, notice):
    start, end = notice.publicity_start, notice.publicity_end
    assert [n.masked_name for n in notices_for(world.school_a1.id, start)] == ["欧**明"]
    assert [n.masked_name for n in notices_for(world.school_a1.id, end)] == ["欧**明"]
    assert notices_for(world.school_a1.id, start - timedelta(days=1)) == []
    assert notices_for(world.school_a1.id, end + timedelta(days=1)) == []


@pytest.mark.parametrize("status", ["school_review", "confirmed", "filed", "rejected", "withdrawn"])
def test_only_applications_on_notice_are_shown(client, world, db, notice, status):
    notice.status = status
    db.session.commit()
    html = client.get(f"/publicity/schools/{world.school_a1.id}").get_data(as_text=True)
    assert "欧**明" not in html


def test_an_upheld_objection_takes_the_notice_down(client, world, db, notice):
    from app.registry import certification as cert

    objection = cert.record_objection(
        notice, user=world.user("officer_a1"), content="情况不实", received_on=local_today()
    )
    db.session.commit()
    assert "欧**明" in client.get(f"/publicity/schools/{world.school_a1.id}").get_data(as_text=True)
    cert.resolve_objection(objection, user=world.user("officer_a1"), upheld=True, resolution="属实")
    db.session.commit()
    assert "欧**明" not in client.get(f"/publicity/schools/{world.school_a1.id}").get_data(
        as_text=True
    )


def test_the_index_lists_schools_with_live_notices(client, world, db, notice):
    other = draft(make_student(world.school_x, None, name="李雷"), world.user("officer_x"))
    drive(other, "school_review", world)
    set_window(db, other, 0, 2, level="general")
    html = client.get("/publicity/").get_data(as_text=True)
    assert "甲一小学" in html and "外区小学" in html and "甲二小学" not in html
    assert f"/publicity/schools/{world.school_x.id}" in html
    assert "李雷" not in html and "欧**明" not in html  # the index lists schools, not names


def test_there_is_no_search(client, world, notice):
    plain = client.get("/publicity/").get_data(as_text=True)
    searched = client.get(f"/publicity/?q={FULL_NAME}&name={FULL_NAME}").get_data(as_text=True)
    # Parameters change nothing (the header's language switch keeps the URL it came from).
    noise = re.compile(r'name="csrf[-_]token" (content|value)="[^"]+"|name="next" value="[^"]*"')
    assert noise.sub("", plain) == noise.sub("", searched)
    assert FULL_NAME not in noise.sub("", searched)
    assert 'type="search"' not in plain and 'name="q"' not in plain


def test_unknown_school_is_404_and_a_quiet_school_says_so(client, world):
    assert client.get("/publicity/schools/987654").status_code == 404
    response = client.get(f"/publicity/schools/{world.school_a2.id}")
    assert response.status_code == 200 and 'data-testid="no-notices"' in response.get_data(
        as_text=True
    )


def test_the_order_reveals_nothing_but_window_and_class(world, db, notice, make_class):
    later = make_class(world.school_a1, grade=1, number=1)
    other = draft(make_student(world.school_a1, later, name="王五"), world.user("officer_a1"))
    drive(other, "school_review", world)
    set_window(db, other, -1, 3, level="general")
    rows = notices_for(world.school_a1.id, local_today())
    assert [r.masked_name for r in rows] == ["王*", "欧**明"]  # grade 1 before grade 3


def test_mask_name():
    assert mask_name("张三明") == "张*明"
    assert mask_name("欧阳小明") == "欧**明"
    assert mask_name("王五") == "王*"
    assert mask_name("李") == "李"


def test_a_student_without_a_class_still_shows_masked(client, world, db):
    application = draft(
        make_student(world.school_b1, None, name="赵无班"), world.user("officer_b1")
    )
    drive(application, "school_review", world)
    set_window(db, application, 0, 1, level="moderate")
    html = client.get(f"/publicity/schools/{world.school_b1.id}").get_data(as_text=True)
    assert "赵*班" in html and "赵无班" not in html
    assert db.session.get(AidApplication, application.id).status == "publicity"
