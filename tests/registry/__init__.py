"""Helpers for the roster tests: valid ID numbers and students put on a roster."""

from __future__ import annotations

from datetime import date

from app.registry.validation import id_check_char

REGION = "410103"  # 郑州市二七区


def valid_id(born: date, seq: int, gender: str = "M") -> str:
    """An 18-character ID number with a correct check character (GB 11643-1999)."""
    order = seq % 500 * 2 + (1 if gender == "M" else 0)  # odd: male, even: female
    first17 = f"{REGION}{born:%Y%m%d}{order:03d}"
    return first17 + id_check_char(first17)


def roster_student(school, school_class=None, *, seq: int = 1, **kw):
    """A student put on the roster through the real operation (commit is the caller's)."""
    from app.extensions import db
    from app.registry import operations

    born = kw.pop("born", date(2016, 3, 1))
    gender = kw.pop("gender", "M")
    id_number = kw.pop("id_number", valid_id(born, seq, gender))
    data = operations.StudentInput(
        name=kw.pop("name", f"学生{seq}"),
        gender=gender,
        class_id=school_class.id if school_class is not None else None,
        id_number=id_number,
        student_no=kw.pop("student_no", "G" + id_number if id_number else None),
        guardian_name=kw.pop("guardian_name", "家长"),
        guardian_phone=kw.pop("guardian_phone", f"138{seq:08d}"),
        address=kw.pop("address", "郑州市二七区大学路1号"),
        **kw,
    )
    student = operations.add_student(school, data)
    db.session.flush()
    return student


# ---------------------------------------------------------------- roster files

HEADERS = [
    "姓名", "性别", "出生日期", "民族", "身份证件号", "全国学籍号", "年级", "班级", "是否住校",
    "是否留守儿童", "监护人姓名", "监护人联系电话", "家庭住址",
]  # fmt: skip
SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗"
GIVEN = ["子涵", "欣怡", "梓轩", "浩然", "雨桐", "一诺", "宇航", "思远", "佳琪", "俊熙"]
GRADE_ZH = "一二三四五六"


def roster_row(i: int, *, grade: int = 3, number: int = 2, born: date | None = None) -> list:
    """A valid roster row as the 学籍系统 exports it (the ID number unique for each i)."""
    from datetime import timedelta

    born = born or date(2014, 1, 1) + timedelta(days=i % 2000)
    gender = "M" if i % 2 else "F"
    number_id = valid_id(born, i // 2000, gender)
    name = SURNAMES[i % len(SURNAMES)] + GIVEN[(i // 7) % len(GIVEN)]
    return [
        name,
        "男" if gender == "M" else "女",
        born.isoformat(),
        "汉族",
        number_id,
        "G" + number_id,
        f"{GRADE_ZH[grade - 1]}年级",
        f"{number}班",
        "否",
        "是" if i % 9 == 0 else "否",
        name[0] + "建国",
        f"138{i:08d}",
        f"郑州市二七区大学路{i % 300 + 1}号",
    ]


def xlsx_bytes(sheets: dict[str, list[list]], *, write_only: bool = True) -> bytes:
    """A workbook with one sheet per key (rows as given, header included)."""
    import io

    from openpyxl import Workbook

    workbook = Workbook(write_only=write_only)
    if not write_only:
        workbook.remove(workbook.active)
    for title, rows in sheets.items():
        sheet = workbook.create_sheet(title)
        for row in rows:
            sheet.append(row)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def upload(client, school, filename: str, data: bytes):
    """POST a roster file to the school's import page (with the page's CSRF token)."""
    import io

    from tests.conftest import csrf_token

    path = f"/students/school/{school.id}/import"
    token = csrf_token(client, path)
    return client.post(
        path,
        data={"csrf_token": token, "file": (io.BytesIO(data), filename)},
        content_type="multipart/form-data",
    )


def import_id_of(response) -> str:
    location = response.headers["Location"]
    assert "/students/imports/" in location, location
    return location.rsplit("/", 1)[1]


def check_import(client, import_id: str, *, all_or_nothing: bool = False, mapping=None):
    """POST the mapping page as suggested (or with ``mapping``: label → field)."""
    from app.registry import importing
    from tests.conftest import csrf_token

    job = importing.load_job(import_id)
    chosen = {**job["mapping"], **(mapping or {})}
    data = {f"map-{i}": chosen.get(h["label"], "") for i, h in enumerate(job["headers"])}
    if all_or_nothing:
        data["all_or_nothing"] = "1"
    data["csrf_token"] = csrf_token(client, f"/students/imports/{import_id}")
    return client.post(f"/students/imports/{import_id}/check", data=data)
