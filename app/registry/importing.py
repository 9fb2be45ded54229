"""Importing a roster from Excel (.xlsx) or CSV, as schools export it from the 学籍系统.

The steps, each its own request (DOMAIN.md §6, CORRECTNESS.md "Uploads"):

1. **Upload** (:func:`create_job`): at most 20 MB. The content decides what the file is, not its
   name: an .xlsx must be a zip — its entry count and total uncompressed size are checked from
   the central directory *before* anything is decompressed (a zip bomb is refused), and it must
   hold a workbook. openpyxl then reads it with ``read_only=True, data_only=True`` (no formulas
   run, rows streamed) and parses XML through ``defusedxml`` (no entity expansion). A CSV may be
   UTF-8 (with or without BOM), UTF-16 or GBK/GB18030, as Excel in China saves them. Each visible
   sheet's header row is found by its column names, below any title rows or merged headers.
   The file is kept under the instance folder (``roster_imports/<id>/``) until the import is
   committed or cancelled, or for a day at most.
2. **Mapping**: each column name found is matched to a roster field by name and synonyms; the
   officer may change the suggestion.
3. **Dry run** (:func:`check`): every row goes through the same checks as the form
   (:func:`app.registry.operations.clean_student_fields`), plus duplicates within the file and
   against every roster; the result is a row-by-row report and a masked list of the first
   valid rows (who will be added). The valid rows are kept, cleaned, beside the upload.
4. **Commit** (:func:`commit`): the valid rows go in, in one transaction, after their numbers
   are looked up once more (someone may have added the same student since). "All or nothing"
   refuses the whole file if any row has a problem. Every student added carries the import's
   id in ``Student.import_batch``, so the roster can show "the students of this import".

Progress of the long steps is written to a small file that the page polls.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import secrets
import shutil
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from flask import current_app
from flask_babel import format_number
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import insert, select
from werkzeug.datastructures import FileStorage

from app.audit.operations import record_event
from app.common import DomainError, ValidationFailed, utcnow
from app.extensions import db
from app.org.models import School, SchoolClass
from app.registry import validation as v
from app.registry.models import CARE_FLAGS, Student
from app.registry.operations import StudentInput, clean_student_fields

IMPORT_FOLDER = "roster_imports"
MAX_IMPORT_BYTES = 20 * 1024 * 1024
MAX_ZIP_ENTRIES = 1_000
MAX_UNCOMPRESSED_BYTES = 200 * 1024 * 1024
MAX_ROWS = 100_000
MAX_COLUMNS = 100
HEADER_SCAN_ROWS = 30
JOB_TTL = timedelta(hours=24)
STORED_PROBLEMS = 20_000
BATCH = 500
PROGRESS_EVERY = 250
PREVIEW_ROWS = 200  # valid rows listed on the dry-run page, masked
TEMPLATE_SHEET = "学生名册"
NOTES_SHEET = "填写说明"  # the template's instructions: never read as data, never reported
NOTES_TITLE = "学生名册导入说明（本页不会被导入）"
_JOB_ID = re.compile(r"[0-9a-f]{32}")

# The roster fields a column can fill, in the order the mapping page lists them.
TARGETS: dict[str, Any] = {
    "name": _l("Name"),
    "gender": _l("Gender"),
    "birth_date": _l("Birth date"),
    "ethnicity": _l("Ethnicity"),
    "id_number": _l("ID number"),
    "student_no": _l("National student number (学籍号)"),
    "grade": _l("Grade"),
    "class_name": _l("Class"),
    "boarding": _l("Boarding (yes/no)"),
    "study_mode": _l("Study mode (1 day pupil / 2 boarding)"),
    "left_behind": _l("Left-behind child"),
    "migrant": _l("Child of migrant workers"),
    "orphan": _l("Orphan"),
    "disabled": _l("Disability"),
    "single_parent": _l("Single-parent family"),
    "guardian_name": _l("Guardian's name"),
    "guardian_phone": _l("Guardian's phone"),
    "address": _l("Home address"),
}

# Column names as the 学籍系统 and schools write them (compared after _norm_header).
_SYNONYMS: dict[str, tuple[str, ...]] = {
    "name": ("姓名", "学生姓名", "名字", "学生名字", "name", "studentname"),
    "gender": ("性别", "学生性别", "gender", "sex"),
    "birth_date": ("出生日期", "出生年月", "出生年月日", "生日", "birthdate", "dateofbirth"),
    "ethnicity": ("民族", "ethnicity"),
    "id_number": (
        "身份证件号",
        "身份证件号码",
        "身份证号",
        "身份证号码",
        "证件号码",
        "证件号",
        "公民身份号码",
        "学生身份证号",
        "idnumber",
        "id",
    ),  # fmt: skip
    "student_no": (
        "全国学籍号",
        "学籍号",
        "学籍编号",
        "学生学籍号",
        "国家学籍号",
        "studentnumber",
        "studentno",
        "nationalstudentnumber",
    ),  # fmt: skip
    "grade": ("年级", "年级名称", "所在年级", "grade"),
    "class_name": ("班级", "班级名称", "所在班级", "班名", "班", "class", "classname"),
    "boarding": ("是否住校", "住校", "是否寄宿", "寄宿", "是否寄宿生", "寄宿生", "boarding"),
    "study_mode": ("就读方式",),
    "left_behind": ("是否留守儿童", "留守儿童", "留守", "leftbehind", "left-behindchild"),
    "migrant": (
        "是否进城务工人员随迁子女",
        "进城务工人员随迁子女",
        "随迁子女",
        "是否随迁子女",
        "migrant",
        "childofmigrantworkers",
    ),  # fmt: skip
    "orphan": ("是否孤儿", "孤儿", "orphan"),
    "disabled": ("是否残疾", "是否残疾人", "是否残疾儿童", "残疾", "disabled", "disability"),
    "single_parent": (
        "是否单亲",
        "是否单亲家庭",
        "单亲",
        "单亲家庭",
        "singleparent",
        "single-parentfamily",
    ),  # fmt: skip
    "guardian_name": (
        "监护人姓名",
        "监护人",
        "家长姓名",
        "家长",
        "第一监护人姓名",
        "监护人一姓名",
        "guardian",
        "guardianname",
    ),  # fmt: skip
    "guardian_phone": (
        "监护人联系电话",
        "监护人电话",
        "监护人手机",
        "联系电话",
        "家长电话",
        "家长联系电话",
        "手机号码",
        "手机号",
        "手机",
        "电话",
        "联系方式",
        "guardian'sphone",
        "guardianphone",
        "phone",
    ),  # fmt: skip
    "address": (
        "家庭住址",
        "家庭地址",
        "现住址",
        "住址",
        "地址",
        "居住地址",
        "homeaddress",
        "address",
    ),  # fmt: skip
}
_EXACT = {name: target for target, names in _SYNONYMS.items() for name in names}
_IGNORED = re.compile(r"身份证件类型|证件类型|关系|监护人.*身份证|监护人.*证件|辅号|序号|备注")
# Substrings that still identify a column when its name is not one of the synonyms.
_CONTAINS: tuple[tuple[str, str], ...] = (
    ("学籍号", "student_no"),
    ("身份证", "id_number"),
    ("监护人电话", "guardian_phone"),
    ("电话", "guardian_phone"),
    ("手机", "guardian_phone"),
    ("监护人姓名", "guardian_name"),
    ("住址", "address"),
    ("地址", "address"),
    ("留守", "left_behind"),
    ("随迁", "migrant"),
    ("孤儿", "orphan"),
    ("残疾", "disabled"),
    ("单亲", "single_parent"),
    ("住校", "boarding"),
    ("寄宿", "boarding"),
    ("出生", "birth_date"),
)
# Labels of a merged parent cell over a two-row header (监护人 → 姓名 | 联系电话).
_PARENT_WORDS = re.compile(r"^(监护人|家长|第一监护人|第二监护人|联系人|学生|基本|家庭|特殊群体)")
_SUBHEADER_WORDS = frozenset({"姓名", "电话", "联系电话", "手机", "手机号码", "关系", "与学生关系",
                              "工作单位", "身份证件号", "证件类型", "住址"})  # fmt: skip

PROBLEM_KINDS: dict[str, Any] = {
    "missing_name": _l("Name missing"),
    "bad_id_number": _l("ID number invalid"),
    "mangled_number": _l("Number mangled by Excel"),
    "bad_student_no": _l("Student number invalid"),
    "duplicate_in_file": _l("Duplicate within the file"),
    "already_in_school": _l("Already on this school's roster"),
    "already_elsewhere": _l("Already on another school's roster"),
    "unknown_class": _l("Unknown class"),
    "bad_phone": _l("Phone number invalid"),
    "bad_date": _l("Date invalid"),
    "bad_gender": _l("Gender missing or not understood"),
    "bad_yes_no": _l("Yes/no value not understood"),
    "bad_text": _l("Text too long or with control characters"),
}
_FIELD_KIND = {
    "id_number": "bad_id_number",
    "student_no": "bad_student_no",
    "gender": "bad_gender",
    "birth_date": "bad_date",
    "class_id": "unknown_class",
    "guardian_phone": "bad_phone",
}
_YES_NO_FIELDS = ("boarding", "study_mode", *CARE_FLAGS)


class ImportRefused(ValidationFailed):
    """The file cannot be imported at all (its type, size, structure); shown on the upload form."""

    code = "import_refused"

    def __init__(self, message: str):
        super().__init__(message, field="file")


# ---------------------------------------------------------------- jobs on disk


def import_root() -> Path:
    root = Path(current_app.instance_path) / IMPORT_FOLDER
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    return root


def job_dir(import_id: str) -> Path | None:
    if not isinstance(import_id, str) or not _JOB_ID.fullmatch(import_id):
        return None
    return import_root() / import_id


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(data, f, ensure_ascii=False)
    os.replace(tmp, path)


def load_job(import_id: str) -> dict | None:
    """The job's state, or None if there is no such (unexpired) job."""
    folder = job_dir(import_id)
    if folder is None:
        return None
    try:
        job = json.loads((folder / "job.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if utcnow() - datetime.fromisoformat(job["created_at"]) > JOB_TTL:
        delete_job(import_id)
        return None
    return job


def save_job(job: dict) -> None:
    folder = job_dir(job["id"])
    if folder is None or not folder.is_dir():
        raise DomainError(_("This import has ended; upload the file again."), code="import_gone")
    _write_json(folder / "job.json", job)


def delete_job(import_id: str) -> None:
    """Remove the upload and everything derived from it."""
    folder = job_dir(import_id)
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)


def purge_stale_jobs() -> None:
    """Delete jobs older than a day (uploads hold personal data; nobody keeps them longer)."""
    limit = time.time() - JOB_TTL.total_seconds()
    for folder in import_root().iterdir():
        try:
            if folder.is_dir() and folder.stat().st_mtime < limit:
                shutil.rmtree(folder, ignore_errors=True)
        except OSError:
            continue


def write_progress(import_id: str, phase: str, done: int, total: int | None) -> None:
    folder = job_dir(import_id)
    if folder is not None and folder.is_dir():
        _write_json(folder / "progress.json", {"phase": phase, "done": done, "total": total})


def read_progress(import_id: str) -> dict:
    folder = job_dir(import_id)
    try:
        return json.loads((folder / "progress.json").read_text(encoding="utf-8"))  # type: ignore[operator]
    except (OSError, ValueError, TypeError):
        return {"phase": None, "done": 0, "total": None}


def _source(job: dict) -> Path:
    return job_dir(job["id"]) / f"source.{job['kind']}"  # type: ignore[operator]


def _valid_rows_path(job: dict) -> Path:
    return job_dir(job["id"]) / "valid.jsonl"  # type: ignore[operator]


# ---------------------------------------------------------------- headers


def _norm_header(value: object) -> str:
    text = v.fold(value).lower()
    text = re.sub(r"[(\[【<].*?[)\]】>]", "", text)  # 出生日期(yyyymmdd), 身份证件号（必填）
    return re.sub(r"[\s*:：_]", "", text)


def auto_field(label: str) -> str | None:
    """The roster field a column name stands for, if it is one we know."""
    text = _norm_header(label)
    if not text:
        return None
    if text in _EXACT:
        return _EXACT[text]
    if _IGNORED.search(text):
        return None
    for word, target in _CONTAINS:
        if word in text:
            return target
    return None


def _cell_text(value: object) -> str:
    """A cell as text: numbers without ".0", dates as ISO, and the tricks that keep Excel from
    mangling a number (a leading apostrophe, ="0123") undone."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    text = v.fold(value)
    if text.startswith('="') and text.endswith('"'):
        text = text[2:-1]
    return text.lstrip("'\t").strip()


def _blank(row: tuple) -> bool:
    return all(value is None or (isinstance(value, str) and not value.strip()) for value in row)


def _row_score(cells: list[str]) -> int:
    return len({f for f in (auto_field(c) for c in cells if c) if f})


def _is_subheader(row: list[str], above: list[str]) -> bool:
    """A second header row under merged parent cells: 监护人 over 姓名 | 联系电话."""
    filled = [(i, c) for i, c in enumerate(row) if c]
    if not filled:
        return False
    for _i, cell in filled:
        known = auto_field(cell) is not None or _norm_header(cell) in _SUBHEADER_WORDS
        if len(cell) > 12 or not known:
            return False
    return any(
        i >= len(above) or not above[i] or _PARENT_WORDS.match(_norm_header(above[i]))
        for i, _c in filled
    )


@dataclass
class SheetLayout:
    title: str
    header_row: int | None  # 1-based
    data_row: int | None
    labels: list[str] = field(default_factory=list)
    estimate: int | None = None
    skipped: str | None = None  # why the sheet is not read
    samples: dict[str, list[str]] = field(default_factory=dict)  # a few values per column

    def as_dict(self) -> dict:
        return self.__dict__.copy()


def find_layout(title: str, rows: list[tuple], estimate_rows: int | None) -> SheetLayout:
    """Find the header row among a sheet's first rows and name its columns."""
    texts = [[_cell_text(c) for c in row[:MAX_COLUMNS]] for row in rows]
    best, best_score = None, 1
    for index, cells in enumerate(texts):
        score = _row_score(cells)
        if score > best_score:
            best, best_score = index, score
    if best is None:
        filled = any(any(c for c in cells) for cells in texts)
        return SheetLayout(
            title, None, None, skipped="no_header" if filled else "empty", estimate=estimate_rows
        )
    header = texts[best]
    labels = list(header)
    data_index = best + 1
    if data_index < len(texts) and _is_subheader(texts[data_index], header):
        child = texts[data_index]
        labels, parent = [], ""
        for i in range(max(len(header), len(child))):
            top = header[i] if i < len(header) else ""
            below = child[i] if i < len(child) else ""
            parent = top or parent
            if below:
                stem = re.sub(r"信息$", "", parent)
                combined = f"{stem}{below}" if stem and stem != below else below
                labels.append(combined if auto_field(combined) else below)
            else:
                labels.append(top)
        data_index += 1
    # Trailing unnamed columns are dropped; a name used twice gets a number.
    while labels and not labels[-1]:
        labels.pop()
    seen: dict[str, int] = {}
    unique = []
    for label in labels:
        if label:
            seen[label] = seen.get(label, 0) + 1
            if seen[label] > 1:
                label = f"{label} ({seen[label]})"
        unique.append(label)
    estimate = None if estimate_rows is None else max(estimate_rows - data_index, 0)
    samples: dict[str, list[str]] = {}
    for cells in texts[data_index:]:
        for label, text in zip(unique, cells, strict=False):
            if label and text and len(samples.setdefault(label, [])) < 3:
                samples[label].append(_mask_sample(text))
    return SheetLayout(title, best + 1, data_index + 1, unique, estimate, samples=samples)


# ---------------------------------------------------------------- reading files


def _refuse_size() -> ImportRefused:
    return ImportRefused(
        _(
            "The file is larger than %(mb)d MB. Split it (for example one file per grade) "
            "and import the parts one after another.",
            mb=MAX_IMPORT_BYTES // 2**20,
        )
    )


def _sniff_kind(head: bytes, filename: str) -> str:
    suffix = Path(filename or "").suffix.lower()
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        raise ImportRefused(
            _(
                "This is an old Excel 97–2003 file (.xls) or a password-protected workbook. "
                "Open it in Excel or WPS, remove any password and save it as .xlsx."
            )
        )
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        if suffix not in (".xlsx", ".xlsm"):
            raise ImportRefused(_("Choose an Excel workbook (.xlsx) or a CSV file (.csv)."))
        return "xlsx"
    if suffix == ".xlsx":
        raise ImportRefused(_("This file is not a real .xlsx workbook (it is damaged or renamed)."))
    if suffix in (".csv", ".txt"):
        if b"\x00" in head and not head.startswith((b"\xff\xfe", b"\xfe\xff")):
            raise ImportRefused(_("This file is not a text (CSV) file."))
        return "csv"
    raise ImportRefused(_("Choose an Excel workbook (.xlsx) or a CSV file (.csv)."))


def check_zip(path: Path) -> None:
    """Refuse a zip bomb or a zip that is no workbook, before decompressing anything."""
    try:
        with zipfile.ZipFile(path) as archive:
            entries = archive.infolist()
            if len(entries) > MAX_ZIP_ENTRIES:
                raise ImportRefused(
                    _(
                        "The workbook has too many parts (%(n)d); it cannot be a roster.",
                        n=len(entries),
                    )
                )
            total = sum(entry.file_size for entry in entries)
            if total > MAX_UNCOMPRESSED_BYTES:
                raise ImportRefused(
                    _(
                        "The workbook would unpack to more than %(mb)d MB. It is refused "
                        "(a roster is far smaller; this may be a damaged or hostile file).",
                        mb=MAX_UNCOMPRESSED_BYTES // 2**20,
                    )
                )
            if any(entry.flag_bits & 0x1 for entry in entries):
                raise ImportRefused(_("The workbook is encrypted; save it without a password."))
            names = {entry.filename for entry in entries}
            if "[Content_Types].xml" not in names or "xl/workbook.xml" not in names:
                raise ImportRefused(
                    _("This file is not a real .xlsx workbook (it is damaged or renamed).")
                )
    except zipfile.BadZipFile as exc:
        raise ImportRefused(
            _("This file is not a real .xlsx workbook (it is damaged or renamed).")
        ) from exc


def _open_workbook(path: Path):
    import openpyxl
    import openpyxl.xml

    if not openpyxl.xml.DEFUSEDXML:  # pragma: no cover - defusedxml is a dependency
        raise ImportRefused(_("Excel import is not available on this server (defusedxml missing)."))
    check_zip(path)
    try:
        return openpyxl.load_workbook(path, read_only=True, data_only=True)
    except ImportRefused:
        raise
    except Exception as exc:  # noqa: BLE001 - any parser error means "cannot read this file"
        raise ImportRefused(
            _("The workbook could not be read. Open it in Excel or WPS and save it again.")
        ) from exc


def decode_text(data: bytes) -> tuple[str, str]:
    """(text, encoding) of a CSV: UTF-8 (BOM or not), UTF-16 with BOM, else GB18030 (⊃ GBK)."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="replace"), "utf-8"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace"), "utf-16"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030"), "gb18030"
    except UnicodeDecodeError as exc:
        raise ImportRefused(
            _("The CSV file's characters could not be read; save it as UTF-8 or GBK.")
        ) from exc


def _csv_rows(path: Path) -> tuple[list[list[str]], str, str]:
    text, encoding = decode_text(path.read_bytes())
    sample = text[:8192]
    try:
        delimiter = csv.Sniffer().sniff(sample, delimiters=",\t;|").delimiter
    except csv.Error:
        delimiter = "\t" if sample.count("\t") > sample.count(",") else ","
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    except csv.Error as exc:
        raise ImportRefused(_("The CSV file is malformed: %(error)s", error=str(exc))) from exc
    return rows, encoding, delimiter


def _read_limited(upload: FileStorage) -> bytes:
    data = upload.stream.read(MAX_IMPORT_BYTES + 1)
    if len(data) > MAX_IMPORT_BYTES:
        raise _refuse_size()
    if not data:
        raise ImportRefused(_("The file is empty."))
    return data


def create_job(upload: FileStorage, school: School, user_id: int) -> dict:
    """Check an uploaded roster file, keep it, and find its sheets' headers."""
    purge_stale_jobs()
    data = _read_limited(upload)
    filename = Path(upload.filename or "roster").name[:120]
    kind = _sniff_kind(data[:8], filename)
    import_id = secrets.token_hex(16)
    folder = import_root() / import_id
    folder.mkdir(mode=0o700)
    job: dict[str, Any] = {
        "id": import_id,
        "school_id": school.id,
        "user_id": user_id,
        "filename": filename,
        "kind": kind,
        "size": len(data),
        "created_at": utcnow().isoformat(),
        "state": "uploaded",
        "all_or_nothing": False,
    }
    path = _source(job)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    del data
    try:
        layouts = _read_layouts(job, path)
    except Exception:
        delete_job(import_id)
        raise
    readable = [lay for lay in layouts if not lay.skipped]
    if not readable:
        delete_job(import_id)
        raise ImportRefused(
            _(
                "No header row was found. The file needs a row of column names such as "
                "姓名, 性别, 身份证件号, 全国学籍号 or 班级."
            )
        )
    estimate = sum(lay.estimate or 0 for lay in readable)
    if estimate > MAX_ROWS:
        delete_job(import_id)
        raise ImportRefused(
            _(
                "The file has more than %(n)s rows; split it into smaller files.",
                n=format_number(MAX_ROWS),
            )
        )
    job["sheets"] = [lay.as_dict() for lay in layouts]
    job["headers"] = _headers(layouts)
    job["mapping"] = {h["label"]: h["suggested"] or "" for h in job["headers"]}
    _write_json(folder / "job.json", job)
    return job


def _read_layouts(job: dict, path: Path) -> list[SheetLayout]:
    if job["kind"] == "csv":
        rows, encoding, delimiter = _csv_rows(path)
        job["encoding"], job["delimiter"] = encoding, delimiter
        title = Path(job["filename"]).stem[:60] or "CSV"
        return [find_layout(title, [tuple(r) for r in rows[:HEADER_SCAN_ROWS]], len(rows))]
    workbook = _open_workbook(path)
    try:
        layouts = []
        for sheet in workbook.worksheets:
            if sheet.sheet_state != "visible":
                layouts.append(SheetLayout(sheet.title, None, None, skipped="hidden"))
                continue
            estimate = sheet.max_row if isinstance(sheet.max_row, int) else None
            sheet.reset_dimensions()  # a wrong <dimension> must not cut rows off
            head = list(sheet.iter_rows(max_row=HEADER_SCAN_ROWS, values_only=True))
            if is_template_notes(head):
                layouts.append(SheetLayout(sheet.title, None, None, skipped="instructions"))
                continue
            layouts.append(find_layout(sheet.title, head, estimate))
        return layouts
    finally:
        workbook.close()


def is_template_notes(head: list[tuple]) -> bool:
    """The template's own 填写说明 sheet, still in the filled-in file (known by its first line,
    whatever the sheet is called now): left out without a word, since it is no roster and
    "sheet not read" would only worry the officer."""
    first = next((text for row in head for c in row if (text := _cell_text(c))), "")
    return first.startswith(NOTES_TITLE.split("（")[0])


def _headers(layouts: list[SheetLayout]) -> list[dict]:
    """Every column name of the readable sheets, once, with a suggested field."""
    out: dict[str, dict] = {}
    for layout in layouts:
        if layout.skipped:
            continue
        taken: set[str] = set()
        for label in layout.labels:
            if not label:
                continue
            suggestion = auto_field(label)
            if suggestion in taken:
                suggestion = None  # 联系电话 and 手机号码 both: suggest the first only
            if suggestion:
                taken.add(suggestion)
            if label not in out:
                out[label] = {"label": label, "suggested": suggestion, "sheets": 0, "samples": []}
            out[label]["sheets"] += 1
            known = out[label]["samples"]
            for sample in layout.samples.get(label, []):
                if len(known) < 3 and sample not in known:
                    known.append(sample)
    return list(out.values())


def _mask_sample(text: str) -> str:
    from app.registry.access import mask_id_number

    if re.search(r"\d{11,}", text):  # phones and ID numbers; a date like 20150901 is shown
        if text.startswith("G") and len(text) == 19:
            return "G" + mask_id_number(text[1:])
        return mask_id_number(text) if len(text) > 11 else text[:3] + "****" + text[-4:]
    return text[:40]


def _iter_rows(job: dict) -> Iterator[tuple[dict, int, tuple]]:
    """(sheet layout, row number, values) of every non-empty data row of the readable sheets."""
    path = _source(job)
    sheets = [s for s in job["sheets"] if not s["skipped"]]
    if job["kind"] == "csv":
        rows, _enc, _delim = _csv_rows(path)
        layout = sheets[0]
        start = layout["data_row"]
        for offset, row in enumerate(rows[start - 1 :]):
            if not _blank(tuple(row)):
                yield layout, start + offset, tuple(row)
        return
    workbook = _open_workbook(path)
    try:
        for layout in sheets:
            sheet = workbook[layout["title"]]
            sheet.reset_dimensions()
            width = max(len(layout["labels"]), 1)
            start = layout["data_row"]
            rows = sheet.iter_rows(min_row=start, max_col=width, values_only=True)
            for offset, row in enumerate(rows):
                if not _blank(row):
                    yield layout, start + offset, row
    finally:
        workbook.close()


# ---------------------------------------------------------------- checking rows


@dataclass
class Problem:
    sheet: str
    row: int
    column: str
    kind: str
    message: str

    def as_dict(self) -> dict:
        return self.__dict__.copy()


@dataclass
class _Row:
    sheet: str
    number: int
    cleaned: dict | None
    id_number: str | None
    student_no: str | None
    problems: list[Problem]
    labels: dict[str, str]


class _RowProblems:
    """The problems of one row: one per field and kind, and which fields have one."""

    def __init__(self, sheet: str, number: int, labels: dict[str, str]):
        self.sheet, self.number, self.labels = sheet, number, labels
        self.items: list[Problem] = []
        self.fields: set[str] = set()

    def add(self, target: str, kind: str, message: str) -> None:
        if any(p.kind == kind and target in self.fields for p in self.items):
            return
        self.fields.add(target)
        column = self.labels.get(target) or str(TARGETS.get(target, target))
        self.items.append(Problem(self.sheet, self.number, column, kind, message))


def _mangled_message(shown: str) -> str:
    return _(
        "Excel turned this number into %(shown)s and its last digits are lost; format the "
        "column as text and type the numbers again.",
        shown=shown,
    )


class RowChecker:
    """Turns raw rows into cleaned roster rows or problems, exactly as the form would."""

    def __init__(self, school: School, mapping: dict[str, str], today: date | None = None):
        self.school = school
        self.mapping = mapping
        self.classes = _class_lookup(school.id)
        # Held here so that clean_student_fields' session.get() finds them in the identity map
        # (which keeps objects only while something else references them): no query per row.
        self._class_objects = list(
            db.session.scalars(select(SchoolClass).where(SchoolClass.school_id == school.id))
        )
        self.today = today
        self.seen: dict[str, dict[str, tuple[str, int]]] = {"id_number": {}, "student_no": {}}
        self._columns: dict[str, tuple[dict[str, list[int]], dict[str, str]]] = {}

    def columns(self, layout: dict) -> tuple[dict[str, list[int]], dict[str, str]]:
        """field → the sheet's column indexes mapped to it (the first non-empty one counts),
        and field → the first such column's name (to point at in the report)."""
        title = layout["title"]
        if title not in self._columns:
            by_field: dict[str, list[int]] = {}
            labels: dict[str, str] = {}
            for index, label in enumerate(layout["labels"]):
                target = self.mapping.get(label) if label else None
                if target in TARGETS:
                    by_field.setdefault(target, []).append(index)
                    labels.setdefault(target, label)
            self._columns[title] = (by_field, labels)
        return self._columns[title]

    def check(self, layout: dict, number: int, row: tuple) -> _Row:
        columns, labels = self.columns(layout)
        sheet = layout["title"]
        problems = _RowProblems(sheet, number, labels)

        def raw(target: str) -> object:
            for index in columns.get(target, ()):
                if index < len(row):
                    value = row[index]
                    if value is not None and not (isinstance(value, str) and not value.strip()):
                        return value
            return None

        data = StudentInput(name=_cell_text(raw("name")))
        numbers: dict[str, str | None] = {"id_number": None, "student_no": None}
        for target in ("id_number", "student_no"):
            value = raw(target)
            if value is None:
                continue
            # A number cell: Excel keeps 15 digits, so an 18-character ID is already lost.
            numeric = isinstance(value, int | float) and not isinstance(value, bool)
            if numeric and v.looks_mangled_by_excel(float(value)):
                problems.add(target, "mangled_number", _mangled_message(f"{value:.5E}"))
                continue
            text = _cell_text(value)
            if v.looks_mangled_by_excel(text):
                problems.add(target, "mangled_number", _mangled_message(text))
                continue
            setattr(data, target, text)
            numbers[target] = text
        gender = raw("gender")
        if gender is not None:
            data.gender = v.parse_gender(gender)
            if data.gender is None:
                problems.add("gender", "bad_gender", _("Gender not understood: write 男 or 女."))
        birth = raw("birth_date")
        if birth is not None:
            data.birth_date = v.parse_date(birth)
            if data.birth_date is None:
                problems.add(
                    "birth_date",
                    "bad_date",
                    _("Date not understood: write it like 2015-09-01 or 20150901."),
                )
        for target in ("ethnicity", "guardian_name", "guardian_phone", "address"):
            value = raw(target)
            if value is not None:
                setattr(data, target, _cell_text(value))
        for target in _YES_NO_FIELDS:
            value = raw(target)
            if value is None:
                continue
            parsed = v.parse_study_mode(value) if target == "study_mode" else v.parse_yes_no(value)
            if parsed is None:
                problems.add(target, "bad_yes_no", _("Not understood: write 是 or 否 (or 1 / 0)."))
            elif target == "study_mode":
                if raw("boarding") is None:
                    data.boarding = parsed
            else:
                setattr(data, target, parsed)
        class_id = self._class_id(raw("grade"), raw("class_name"), sheet)
        if class_id == -1:
            target = "class_name" if raw("class_name") is not None else "grade"
            problems.add(
                target,
                "unknown_class",
                _(
                    "Class %(name)s is not a class of this school. Add it on the school's "
                    "page first, or correct the file.",
                    name=self._class_text(raw("grade"), raw("class_name"), sheet),
                ),
            )
        else:
            data.class_id = class_id

        cleaned = self._clean(data, problems)
        found = {
            target: self._register(target, numbers[target], sheet, number, problems)
            for target in ("id_number", "student_no")
        }
        return _Row(
            sheet,
            number,
            None if problems.items else cleaned,
            found["id_number"],
            found["student_no"],
            problems.items,
            labels,
        )

    def _clean(self, data: StudentInput, problems: _RowProblems) -> dict | None:
        """clean_student_fields, again after each refusal, so a row reports all its problems."""
        for _attempt in range(len(TARGETS)):
            try:
                cleaned = clean_student_fields(data, self.school)
            except ValidationFailed as exc:
                target = exc.field or "name"
                if target == "name":
                    kind = "missing_name" if not v.fold(data.name) else "bad_text"
                    problems.add("name", kind, exc.message)
                    data.name = "-"
                    continue
                column = "class_name" if target == "class_id" else target
                if column not in problems.fields:
                    problems.add(column, _FIELD_KIND.get(target, "bad_text"), exc.message)
                setattr(data, target, None)
                continue
            if cleaned["gender"] is None and "gender" not in problems.fields:
                problems.add("gender", "bad_gender", _("Choose the gender."))
            return cleaned
        return None

    def _register(
        self, target: str, text: str | None, sheet: str, number: int, problems: _RowProblems
    ) -> str | None:
        """Note a valid number; a second row with it is a duplicate within the file."""
        if not text:
            return None
        if target == "id_number":
            value = v.normalise_id_number(text)
            if v.id_number_problem(value):
                return None
        else:
            value = v.normalise_student_no(text)
            if v.student_no_problem(value):
                return None
        first = self.seen[target].get(value)
        if first is not None:
            if target == "id_number":
                message = _(
                    "The same ID number is on row %(row)d of sheet %(sheet)s.",
                    row=first[1],
                    sheet=first[0],
                )
            else:
                message = _(
                    "The same student number is on row %(row)d of sheet %(sheet)s.",
                    row=first[1],
                    sheet=first[0],
                )
            problems.add(target, "duplicate_in_file", message)
            return None
        self.seen[target][value] = (sheet, number)
        return value

    def _class_text(self, grade: object, class_name: object, sheet: str) -> str:
        text = " ".join(p for p in (_cell_text(grade), _cell_text(class_name)) if p)
        return text or sheet

    def _class_id(self, grade: object, class_name: object, sheet: str) -> int | None:
        """The class id, None when the row names no class, -1 when it names an unknown one.

        The class comes from the 班级 column (三年级(2)班, or 2班 with a 年级 column), else
        from the sheet's name when a school keeps one sheet per class."""
        stage = self.school.stage
        sheet_class = v.parse_class_name(sheet, stage=stage, today=self.today)
        class_text = _cell_text(class_name)
        grade_text = _cell_text(grade)
        parsed: tuple[int, int] | None
        if class_text:
            parsed = v.parse_class_name(class_text, stage=stage, today=self.today)
            if parsed is None:
                number = v.parse_class_number(class_text)
                grade_number = (
                    v.parse_grade(grade_text, stage=stage, today=self.today)
                    if grade_text
                    else (sheet_class[0] if sheet_class else None)
                )
                if number is not None and grade_number is not None:
                    parsed = (grade_number, number)
            if parsed is None:
                return -1
        elif grade_text:
            grade_number = v.parse_grade(grade_text, stage=stage, today=self.today)
            if sheet_class is None or grade_number != sheet_class[0]:
                return -1
            parsed = sheet_class
        else:
            parsed = sheet_class
        if parsed is None:
            return None
        return self.classes.get(parsed, -1)


def _class_lookup(school_id: int) -> dict[tuple[int, int], int]:
    from app.registry.queries import class_map

    return class_map(school_id)


def _numbers_on_rosters(column, values: list[str]) -> dict[str, int]:
    """number → school id of the students that already have one of these numbers."""
    found: dict[str, int] = {}
    for start in range(0, len(values), BATCH):
        chunk = values[start : start + BATCH]
        rows = db.session.execute(select(column, Student.school_id).where(column.in_(chunk))).all()
        found.update({number: school_id for number, school_id in rows})
    return found


def _check_against_rosters(rows: list[_Row], school_id: int) -> None:
    """Add 'already on a roster' problems to a batch of rows, with two queries."""
    for target, column in (("id_number", Student.id_number), ("student_no", Student.student_no)):
        values = [getattr(r, target) for r in rows if getattr(r, target)]
        if not values:
            continue
        found = _numbers_on_rosters(column, values)
        for row in rows:
            value = getattr(row, target)
            if not value or value not in found:
                continue
            here = found[value] == school_id
            kind = "already_in_school" if here else "already_elsewhere"
            if any(p.kind == kind for p in row.problems):
                continue
            row.problems.append(
                Problem(
                    row.sheet,
                    row.number,
                    row.labels.get(target) or str(TARGETS[target]),
                    kind,
                    (
                        _("This student is already on this school's roster.")
                        if here
                        else _("This number is already on another school's roster.")
                    ),
                )
            )
            row.cleaned = None


def mapping_problems(job: dict, mapping: dict[str, str]) -> list[str]:
    """What is wrong with a mapping chosen on the page (empty if it can be used)."""
    problems = []
    if "name" not in mapping.values():
        problems.append(_("Choose the column that holds the students' names."))
    unknown = {t for t in mapping.values() if t and t not in TARGETS}
    if unknown:
        problems.append(_("Unknown field chosen."))
    return problems


def check(job: dict, school: School, *, today: date | None = None) -> dict:
    """The dry run: a row-by-row report; the valid rows are kept for :func:`commit`."""
    checker = RowChecker(school, job["mapping"], today=today)
    preview: list[dict] = []
    sheets = [s for s in job["sheets"] if not s["skipped"]]
    total = sum(s.get("estimate") or 0 for s in sheets) or None
    problems: list[dict] = []
    by_kind: dict[str, int] = {}
    counts = {"rows": 0, "valid": 0, "problem_rows": 0, "problems": 0}
    per_sheet: dict[str, int] = {}
    pending: list[_Row] = []
    out_path = _valid_rows_path(job)
    fd = os.open(out_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    write_progress(job["id"], "check", 0, total)

    def flush(out) -> None:
        _check_against_rosters(pending, school.id)
        for row in pending:
            if row.problems:
                counts["problem_rows"] += 1
                for kind in {p.kind for p in row.problems}:  # rows per kind of problem
                    by_kind[kind] = by_kind.get(kind, 0) + 1
                for p in row.problems:
                    counts["problems"] += 1
                    if len(problems) < STORED_PROBLEMS:
                        problems.append(p.as_dict())
            else:
                counts["valid"] += 1
                cleaned = dict(row.cleaned or {})
                if cleaned.get("birth_date") is not None:
                    cleaned["birth_date"] = cleaned["birth_date"].isoformat()
                cleaned["_at"] = [row.sheet, row.number]
                out.write(json.dumps(cleaned, ensure_ascii=False) + "\n")
                if len(preview) < PREVIEW_ROWS:
                    preview.append(_preview_row(cleaned))
        pending.clear()

    with os.fdopen(fd, "w", encoding="utf-8") as out:
        for layout, number, values in _iter_rows(job):
            counts["rows"] += 1
            if counts["rows"] > MAX_ROWS:
                raise ImportRefused(
                    _(
                        "The file has more than %(n)s rows; split it into smaller files.",
                        n=format_number(MAX_ROWS),
                    )
                )
            per_sheet[layout["title"]] = per_sheet.get(layout["title"], 0) + 1
            pending.append(checker.check(layout, number, values))
            if len(pending) >= BATCH:
                flush(out)
            if counts["rows"] % PROGRESS_EVERY == 0:
                known = max(total, counts["rows"]) if total else None  # None: no <dimension>
                write_progress(job["id"], "check", counts["rows"], known)
        flush(out)
    write_progress(job["id"], "check", counts["rows"], counts["rows"])
    report = {
        **counts,
        "by_kind": by_kind,
        "problem_list": problems,
        "truncated": counts["problems"] > len(problems),
        "preview": preview,
        "per_sheet": per_sheet,
        "checked_at": utcnow().isoformat(),
    }
    job["report"] = report
    job["state"] = "checked"
    save_job(job)
    return report


def _preview_row(cleaned: dict) -> dict:
    """One student who will be added, as the dry-run page lists them: numbers masked as on the
    roster (the job file keeps no more than the page shows)."""
    from app.registry.access import mask_id_number, mask_phone, mask_student_no

    sheet, number = cleaned["_at"]
    return {
        "sheet": sheet,
        "row": number,
        "name": cleaned["name"],
        "gender": cleaned.get("gender"),
        "class_id": cleaned.get("class_id"),  # named when shown, in the reader's language
        "id_number": mask_id_number(cleaned.get("id_number")),
        "student_no": mask_student_no(cleaned.get("student_no")),
        "guardian_name": cleaned.get("guardian_name") or "",
        "guardian_phone": mask_phone(cleaned.get("guardian_phone")),
        "flags": [f for f in ("boarding", *CARE_FLAGS) if cleaned.get(f)],
    }


# ---------------------------------------------------------------- commit


def _commit_lock(job: dict) -> Path:
    lock = job_dir(job["id"]) / "commit.lock"  # type: ignore[operator]
    try:
        os.close(os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError as exc:
        raise DomainError(
            _("This import is already being committed."), code="import_in_progress"
        ) from exc
    return lock


def _valid_rows(job: dict) -> Iterator[dict]:
    with _valid_rows_path(job).open(encoding="utf-8") as f:
        for line in f:
            yield json.loads(line)


def commit(job: dict, school: School) -> dict:
    """Add the dry run's valid rows to the roster in the caller's transaction (one commit).

    Raises ``DomainError`` when "all or nothing" was chosen and a row has a problem; the caller
    rolls back, so nothing of the file is written.
    """
    if job.get("state") != "checked" or "report" not in job:
        raise DomainError(_("Check the file first."), code="import_not_checked")
    report = job["report"]
    if job.get("all_or_nothing") and report["problem_rows"]:
        raise DomainError(
            _(
                "Nothing was imported: %(n)d rows have problems and you chose all or nothing. "
                "Correct the file and upload it again.",
                n=report["problem_rows"],
            ),
            code="import_has_problems",
        )
    lock = _commit_lock(job)
    try:
        return _insert(job, school, report)
    finally:
        lock.unlink(missing_ok=True)


def _insert(job: dict, school: School, report: dict) -> dict:
    live_classes = set(_class_lookup(school.id).values())
    total = report["valid"]
    created: list[int] = []
    conflicts: list[dict] = []
    batch: list[dict] = []
    now = utcnow()
    write_progress(job["id"], "commit", 0, total)

    def flush() -> None:
        taken_ids = _numbers_on_rosters(
            Student.id_number, [r["id_number"] for r in batch if r["id_number"]]
        )
        taken_nos = _numbers_on_rosters(
            Student.student_no, [r["student_no"] for r in batch if r["student_no"]]
        )
        rows = []
        for r in batch:
            sheet, number = r.pop("_at")
            if (r["id_number"] and r["id_number"] in taken_ids) or (
                r["student_no"] and r["student_no"] in taken_nos
            ):
                conflicts.append({"sheet": sheet, "row": number})
            else:
                rows.append(r)
        if conflicts and job.get("all_or_nothing"):
            raise DomainError(
                _(
                    "Nothing was imported: since the check, %(n)d students of the file were "
                    "added to a roster by someone else. Check the file again.",
                    n=len(conflicts),
                ),
                code="import_conflict",
            )
        if rows:
            created.extend(db.session.scalars(insert(Student).returning(Student.id), rows).all())
        batch.clear()
        write_progress(job["id"], "commit", len(created) + len(conflicts), total)

    for row in _valid_rows(job):
        if row["class_id"] is not None and row["class_id"] not in live_classes:
            raise DomainError(
                _("The school's classes changed since the check. Check the file again."),
                code="import_stale",
            )
        birth = row.get("birth_date")
        row.update(
            school_id=school.id,
            status="enrolled",
            import_batch=job["id"],
            created_at=now,
            birth_date=date.fromisoformat(birth) if birth else None,
        )
        batch.append(row)
        if len(batch) >= BATCH:
            flush()
    if batch:
        flush()
    record_event(
        "import",
        "school",
        school.id,
        changes={
            "what": "roster",
            "file": job["filename"],
            "created": len(created),
            "skipped": report["problem_rows"] + len(conflicts),
            "first_id": min(created) if created else None,
            "last_id": max(created) if created else None,
            "batch": job["id"],
        },
        school_id=school.id,
        district_id=school.district_id,
    )
    db.session.flush()
    return {
        "created": len(created),
        "problems": report["problem_rows"],
        "conflicts": conflicts,
        "batch": job["id"],
    }


# ---------------------------------------------------------------- the template


TEMPLATE_HEADERS = (
    "姓名", "性别", "出生日期", "民族", "身份证件类型", "身份证件号", "全国学籍号", "年级", "班级",
    "是否住校", "是否留守儿童", "是否进城务工人员随迁子女", "是否孤儿", "是否残疾", "是否单亲",
    "监护人姓名", "监护人联系电话", "家庭住址",
)  # fmt: skip
_TEXT_COLUMNS = ("身份证件号", "全国学籍号", "监护人联系电话", "出生日期")


def template_workbook(school: School | None = None) -> bytes:
    """An empty roster in the 学籍系统's column order, number columns formatted as text."""
    from openpyxl import Workbook
    from openpyxl.styles import Font, PatternFill
    from openpyxl.utils import get_column_letter

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = TEMPLATE_SHEET
    sheet.append(list(TEMPLATE_HEADERS))
    bold = Font(bold=True)
    fill = PatternFill("solid", fgColor="FCE9E2")
    for index, header in enumerate(TEMPLATE_HEADERS, start=1):
        cell = sheet.cell(row=1, column=index)
        cell.font, cell.fill = bold, fill
        letter = get_column_letter(index)
        sheet.column_dimensions[letter].width = max(10, len(header) * 2 + 2)
        if header in _TEXT_COLUMNS:
            sheet.column_dimensions[letter].number_format = "@"
            for row in range(2, 1002):  # typed numbers stay text (no 4.10102E+17)
                sheet.cell(row=row, column=index).number_format = "@"
    sheet.freeze_panes = "A2"
    notes = workbook.create_sheet(NOTES_SHEET)
    for line in _template_notes(school):
        notes.append([line])
    notes.column_dimensions["A"].width = 100
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def _template_notes(school: School | None) -> list[str]:
    lines = [
        NOTES_TITLE,
        "1. 每行一名学生；第一行为列名。列的顺序可以不同，导入时可以重新对应列。",
        "2. 身份证件号、全国学籍号、联系电话请使用“文本”格式，"
        "否则 Excel 会把长数字变成 4.10102E+17，后几位丢失。",
        "3. 全国学籍号：G + 18 位身份证件号；没有身份证件号的学生为 L 或 J 开头的学籍号。",
        "4. 年级、班级可写成：三年级 + 2班，或在班级一列写 三年级(2)班、三年级2班、3年级2班、3-2。",
        "5. 是否住校、是否留守儿童等：是/否、1/0 均可；"
        "是否留守儿童也可写 单亲留守儿童、双亲留守儿童、非留守儿童。",
        "6. 出生日期：2015-09-01、2015/9/1 或 20150901；"
        "有身份证件号时可不填，性别也可由身份证件号得出。",
        "7. 可以有多个工作表（例如每个班一个），工作表名为班级名（如 三年级(2)班）时可不填班级列。",
    ]
    if school is not None:
        classes = db.session.scalars(
            select(SchoolClass)
            .where(SchoolClass.school_id == school.id, SchoolClass.active.is_(True))
            .order_by(SchoolClass.grade, SchoolClass.number)
        ).all()
        if classes:
            lines.append("")
            lines.append(f"{school.name}现有班级：")
            lines.append("、".join(_zh_class(c.grade, c.number) for c in classes))
    return lines


def _zh_class(grade: int, number: int) -> str:
    from app.org.models import GRADE_NAMES_ZH

    name = GRADE_NAMES_ZH[grade - 1] if 1 <= grade <= len(GRADE_NAMES_ZH) else str(grade)
    return f"{name}年级({number})班"
