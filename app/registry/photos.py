"""Student photos: optional, checked by content, re-encoded, served only through a scoped view.

Pillow must recognise the upload as a JPEG, PNG or WebP; its pixel count is checked from the
header before the pixels are decoded; it is re-encoded as a JPEG at most 600 px on its long
side, which also drops EXIF data (where and when a phone took the picture). Files get random
names under the instance folder (``student_photos/``), never under /static.
"""

from __future__ import annotations

import io
import os
import re
import uuid
import warnings
from pathlib import Path

from flask import current_app
from flask_babel import gettext as _
from PIL import Image, ImageOps, UnidentifiedImageError
from werkzeug.datastructures import FileStorage

from app.common import ValidationFailed

PHOTO_FOLDER = "student_photos"
MAX_PHOTO_BYTES = 5 * 1024 * 1024
MAX_PIXELS = 24_000_000
MAX_SIDE = 600
ACCEPTED_FORMATS = frozenset({"JPEG", "PNG", "WEBP"})
_STORED_NAME = re.compile(r"[0-9a-f]{32}\.jpg")


def _folder() -> Path:
    folder = Path(current_app.instance_path) / PHOTO_FOLDER
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return folder


def _refuse(message: str) -> ValidationFailed:
    return ValidationFailed(message, field="photo")


def store_photo(upload: FileStorage) -> str:
    """Check and re-encode an uploaded photo; return the stored file's name."""
    data = upload.stream.read(MAX_PHOTO_BYTES + 1)
    if len(data) > MAX_PHOTO_BYTES:
        raise _refuse(_("The photo is larger than %(mb)d MB.", mb=MAX_PHOTO_BYTES // 2**20))
    if not data:
        raise _refuse(_("The file is empty."))
    not_a_photo = _("This file is not a photo (JPEG, PNG or WebP).")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            probe = Image.open(io.BytesIO(data))
            if probe.format not in ACCEPTED_FORMATS:
                raise _refuse(not_a_photo)
            width, height = probe.size
            if width < 1 or height < 1 or width * height > MAX_PIXELS:
                raise _refuse(_("The photo has too many pixels; use a smaller picture."))
            probe.verify()
            image = Image.open(io.BytesIO(data))
            image.load()
    except ValidationFailed:
        raise
    except (
        UnidentifiedImageError,
        Image.DecompressionBombError,
        Image.DecompressionBombWarning,
        OSError,
        SyntaxError,
        ValueError,
        EOFError,
    ) as exc:
        raise _refuse(not_a_photo) from exc
    image = ImageOps.exif_transpose(image) or image
    image = image.convert("RGB")
    image.thumbnail((MAX_SIDE, MAX_SIDE))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=85, optimize=True)
    name = f"{uuid.uuid4().hex}.jpg"
    folder = _folder()
    tmp = folder / f".{name}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(out.getvalue())
    os.replace(tmp, folder / name)
    return name


def photo_path(name: str | None) -> Path | None:
    """The stored photo's path, if the name is one of ours and the file exists."""
    if not name or not _STORED_NAME.fullmatch(name):
        return None
    path = _folder() / name
    return path if path.is_file() else None


def delete_photo(name: str | None) -> None:
    path = photo_path(name)
    if path is not None:
        try:
            path.unlink()
        except OSError:
            current_app.logger.warning("could not delete a student photo")
