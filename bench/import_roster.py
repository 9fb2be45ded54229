"""Benchmark (not a test): importing a 50,000-row roster from .xlsx — time and peak memory.

Run: ``.venv/bin/python bench/import_roster.py`` (about two minutes; ``--rows N`` for another
size, ``--database-url postgresql://...`` for PostgreSQL; default a temporary SQLite file with
the production settings: WAL, synchronous=FULL).

Each step runs in its own process, so its peak memory (``ru_maxrss``) is its own:

1. **generate** — a workbook as the 学籍系统 exports it: a title row, the usual 13 columns, one
   sheet per grade, 1 % of the rows with a bad phone number (reported, left out);
2. **upload** — :func:`app.registry.importing.create_job`: size and zip checks, every sheet's
   header found (openpyxl, read-only);
3. **check** — the dry run: every row read, cleaned and checked, duplicates looked up;
4. **commit** — the valid rows inserted in one transaction, audited.

Prints the time and peak RSS of each step, and the rows per second of the check and the commit.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEADERS = [
    "姓名", "性别", "出生日期", "民族", "身份证件号", "全国学籍号", "年级", "班级", "是否住校",
    "是否留守儿童", "监护人姓名", "监护人联系电话", "家庭住址",
]  # fmt: skip
GRADES = "一二三四五六"
CLASSES_PER_GRADE = 10
SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕"
GIVEN = ["子涵", "欣怡", "梓轩", "浩然", "雨桐", "一诺", "宇航", "思远", "佳琪", "俊熙", "若曦"]


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _id_number(i: int) -> str:
    from app.registry.validation import id_check_char

    born = date(2014, 1, 1) + timedelta(days=i % 2500)
    order = (i // 2500) * 2 + i % 2
    first17 = f"410103{born:%Y%m%d}{order:03d}"
    return first17 + id_check_char(first17)


def generate(path: Path, rows: int) -> dict:
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheets = {}
    bad = 0
    for i in range(rows):
        grade = 1 + i % 6
        if grade not in sheets:
            sheet = workbook.create_sheet(f"{GRADES[grade - 1]}年级")
            sheet.append([f"二七区实验小学{GRADES[grade - 1]}年级学生名册"])
            sheet.append(HEADERS)
            sheets[grade] = sheet
        number = _id_number(i)
        name = SURNAMES[i % len(SURNAMES)] + GIVEN[(i // 7) % len(GIVEN)]
        phone = f"138{i:08d}"
        if i % 100 == 99:
            phone, bad = "12345", bad + 1
        sheets[grade].append(
            [
                name,
                "男" if i % 2 else "女",
                (date(2014, 1, 1) + timedelta(days=i % 2500)).isoformat(),
                "汉族",
                number,
                "G" + number,
                f"{GRADES[grade - 1]}年级",
                f"{1 + (i // 6) % CLASSES_PER_GRADE}班",
                "否",
                "是" if i % 17 == 0 else "否",
                name[0] + "建国",
                phone,
                f"郑州市二七区大学路{i % 300 + 1}号",
            ]
        )
    workbook.save(path)
    return {"bytes": path.stat().st_size, "planted_problems": bad}


def _app():
    from app import create_app
    from config import DevConfig

    return create_app(DevConfig)


def setup() -> dict:
    from flask_migrate import upgrade

    from app.audit.operations import acting_as
    from app.extensions import db
    from app.org import operations as org

    app = _app()
    with app.app_context(), acting_as("bench"):
        if db.engine.dialect.name == "postgresql":
            from sqlalchemy import text

            db.drop_all()
            with db.engine.begin() as conn:
                conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
        upgrade(directory=str(ROOT / "migrations"))
        district = org.create_district(name="基准区", code="bench")
        school = org.create_school(district_id=district.id, name="二七区实验小学")
        for grade in range(1, 7):
            for number in range(1, CLASSES_PER_GRADE + 1):
                org.create_class(school=school, grade=grade, number=number)
        db.session.commit()
        return {"school_id": school.id}


def upload(path: Path, school_id: int) -> dict:
    from werkzeug.datastructures import FileStorage

    from app.extensions import db
    from app.org.models import School
    from app.registry import importing

    app = _app()
    with app.app_context(), path.open("rb") as f:
        upload_file = FileStorage(f, filename="二七区实验小学学生名册.xlsx")
        job = importing.create_job(upload_file, db.session.get(School, school_id), 1)
        return {"import_id": job["id"], "sheets": len(job["sheets"])}


def check(import_id: str, school_id: int) -> dict:
    from app.extensions import db
    from app.org.models import School
    from app.registry import importing

    app = _app()
    with app.app_context():
        job = importing.load_job(import_id)
        report = importing.check(job, db.session.get(School, school_id))
        db.session.rollback()
        return {k: report[k] for k in ("rows", "valid", "problem_rows")}


def commit(import_id: str, school_id: int) -> dict:
    from sqlalchemy import func, select

    from app.audit.operations import acting_as
    from app.extensions import db
    from app.org.models import School
    from app.registry import importing
    from app.registry.models import Student

    app = _app()
    with app.app_context(), acting_as("bench"):
        job = importing.load_job(import_id)
        result = importing.commit(job, db.session.get(School, school_id))
        db.session.commit()
        importing.delete_job(import_id)
        stored = db.session.scalar(select(func.count()).select_from(Student))
        return {"created": result["created"], "students_in_db": stored}


def run_step(step: str, env: dict, *args: str) -> dict:
    output = subprocess.run(
        [sys.executable, __file__, "--step", step, *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if output.returncode != 0:
        sys.stderr.write(output.stderr)
        raise SystemExit(f"step {step} failed")
    return json.loads(output.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--step", default=None, help=argparse.SUPPRESS)
    parser.add_argument("args", nargs="*", help=argparse.SUPPRESS)
    options = parser.parse_args()

    if options.step:  # a child process: one step, its figures as the last line of output
        started = time.perf_counter()
        a = options.args
        if options.step == "generate":
            result = generate(Path(a[0]), int(a[1]))
        elif options.step == "setup":
            result = setup()
        elif options.step == "upload":
            result = upload(Path(a[0]), int(a[1]))
        elif options.step == "check":
            result = check(a[0], int(a[1]))
        else:
            result = commit(a[0], int(a[1]))
        result.update(seconds=time.perf_counter() - started, peak_mb=peak_mb())
        print(json.dumps(result))
        return

    with tempfile.TemporaryDirectory(prefix="aixin-import-bench-") as tmp:
        tmp_path = Path(tmp)
        env = {
            **os.environ,
            "AIXIN_ENV": "development",
            "AIXIN_INSTANCE_PATH": str(tmp_path / "instance"),
            "DATABASE_URL": options.database_url or f"sqlite:///{tmp_path / 'bench.db'}",
            "PYTHONPATH": str(ROOT),
        }
        workbook = tmp_path / "roster.xlsx"
        print(f"Roster import benchmark: {options.rows:,} rows, database {env['DATABASE_URL']}")
        steps = {}
        steps["generate"] = run_step("generate", env, str(workbook), str(options.rows))
        steps["setup"] = run_step("setup", env)
        school_id = str(steps["setup"]["school_id"])
        steps["upload"] = run_step("upload", env, str(workbook), school_id)
        import_id = steps["upload"]["import_id"]
        steps["check"] = run_step("check", env, import_id, school_id)
        steps["commit"] = run_step("commit", env, import_id, school_id)

    gen = steps["generate"]
    print(f"  file: {gen['bytes'] / 2**20:.1f} MB, {gen['planted_problems']} rows with a bad phone")
    print(f"  {'step':<10}{'seconds':>10}{'peak RSS MB':>14}  notes")
    notes = {
        "generate": "openpyxl write-only",
        "setup": "migrations, a school with 60 classes",
        "upload": f"{steps['upload']['sheets']} sheets, headers found",
        "check": "{rows:,} rows, {valid:,} valid, {problem_rows:,} with problems".format(
            **steps["check"]
        ),
        "commit": "{created:,} students inserted ({students_in_db:,} in the table)".format(
            **steps["commit"]
        ),
    }
    for name, figures in steps.items():
        print(f"  {name:<10}{figures['seconds']:>10.1f}{figures['peak_mb']:>14.0f}  {notes[name]}")
    check_rate = steps["check"]["rows"] / steps["check"]["seconds"]
    commit_rate = steps["commit"]["created"] / steps["commit"]["seconds"]
    total = steps["upload"]["seconds"] + steps["check"]["seconds"] + steps["commit"]["seconds"]
    print(f"  dry run {check_rate:,.0f} rows/s · commit {commit_rate:,.0f} rows/s")
    print(f"  upload + dry run + commit: {total:.1f} s")
    assert steps["check"]["problem_rows"] == gen["planted_problems"]
    assert steps["commit"]["created"] == options.rows - gen["planted_problems"]


if __name__ == "__main__":
    main()
