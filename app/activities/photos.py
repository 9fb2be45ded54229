"""Evidence photos of volunteer service and photos of handwritten thank-you letters.

Trusted for nothing: Pillow must recognise the upload as a JPEG, PNG or WebP; the pixel count
is checked from the header before the pixels are decoded (a small file can claim a huge
canvas); the picture is re-encoded as a JPEG at most ``MAX_SIDE`` px on its long side (large
enough to read a handwritten page), which also drops EXIF data such as where a phone took it.
Files get random names under the instance folder and are served only through views that check
the log's or letter's scope, never from /static.
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

PHOTO_FOLDER = "activity_photos"
MAX_PHOTO_BYTES = 8 * 1024 * 1024
MAX_PIXELS = 40_000_000  # a 48-megapixel phone's default output is 12 MP; this leaves room
MAX_SIDE = 1600
ACCEPTED_FORMATS = frozenset({"JPEG", "PNG", "WEBP"})
_STORED_NAME = re.compile(r"[0-9a-f]{32}\.jpg")


def _folder() -> Path:
    folder = Path(current_app.instance_path) / PHOTO_FOLDER
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return folder


def _refuse(message: str) -> ValidationFailed:
    return ValidationFailed(message, field="photo")


def has_upload(upload: FileStorage | None) -> bool:
    return upload is not None and bool(getattr(upload, "filename", ""))


def store_photo(upload: FileStorage) -> str:
    """Check and re-encode an uploaded photo; the stored file's name."""
    limit = current_app.config.get("MAX_ACTIVITY_PHOTO_BYTES", MAX_PHOTO_BYTES)
    max_pixels = current_app.config.get("MAX_ACTIVITY_PHOTO_PIXELS", MAX_PIXELS)
    data = upload.stream.read(limit + 1)
    if len(data) > limit:
        raise _refuse(_("The photo is larger than %(mb)d MB.", mb=limit // 2**20))
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
            if width < 1 or height < 1 or width * height > max_pixels:
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
            current_app.logger.warning("could not delete an activity photo")
