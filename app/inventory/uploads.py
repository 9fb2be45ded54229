"""Catalogue photos: checked by their content, re-encoded, kept under the instance folder.

An upload is trusted for nothing: not its name, not its Content-Type. Pillow must recognise it
as a JPEG, PNG, WebP or GIF, its pixel count is checked from the header *before* the pixels are
decoded (a small file can claim a huge canvas), and it is re-encoded — JPEG, or PNG when it has
transparency — which also drops EXIF data such as where a phone took the picture. The request
as a whole is capped by ``MAX_CONTENT_LENGTH`` (413); a photo on its own by ``MAX_PHOTO_BYTES``.

Files get random names (``<32 hex>.jpg``) and are served only through a view that checks the
item's scope, never from /static.
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

PHOTO_FOLDER = "item_photos"
MAX_PHOTO_BYTES = 5 * 1024 * 1024
MAX_PIXELS = 24_000_000  # e.g. 6000 x 4000: a phone camera's photo
MAX_SIDE = 1200  # stored photos are scaled down to this on their long side
ACCEPTED_FORMATS = frozenset({"JPEG", "PNG", "WEBP", "GIF"})
ACCEPTED_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".gif"})
_STORED_NAME = re.compile(r"[0-9a-f]{32}\.(jpg|png)")
MIMETYPES = {"jpg": "image/jpeg", "png": "image/png"}


def photo_folder() -> Path:
    folder = Path(current_app.instance_path) / PHOTO_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _refuse(message: str) -> ValidationFailed:
    return ValidationFailed(message, field="photo")


def _read_limited(upload: FileStorage) -> bytes:
    limit = current_app.config.get("MAX_PHOTO_BYTES", MAX_PHOTO_BYTES)
    data = upload.stream.read(limit + 1)
    if len(data) > limit:
        raise _refuse(
            _("The photo is larger than %(mb)d MB. Choose a smaller one.", mb=limit // 2**20)
        )
    if not data:
        raise _refuse(_("The file is empty."))
    return data


def _decode(data: bytes) -> Image.Image:
    max_pixels = current_app.config.get("MAX_PHOTO_PIXELS", MAX_PIXELS)
    not_a_photo = _("This file is not a photo (JPEG, PNG, WebP or GIF).")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            probe = Image.open(io.BytesIO(data))
            if probe.format not in ACCEPTED_FORMATS:
                raise _refuse(not_a_photo)
            width, height = probe.size
            if width < 1 or height < 1:
                raise _refuse(not_a_photo)
            if width * height > max_pixels:
                raise _refuse(
                    _(
                        "The photo has too many pixels (%(w)d × %(h)d). Use a smaller picture.",
                        w=width,
                        h=height,
                    )
                )
            probe.verify()  # checks the file's structure without decoding it all
            image = Image.open(io.BytesIO(data))  # verify() leaves the image unusable
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
    return image


def _encode(image: Image.Image) -> tuple[bytes, str]:
    image = ImageOps.exif_transpose(image) or image
    if image.mode == "P":
        image = image.convert("RGBA")
    has_alpha = image.mode in ("RGBA", "LA") and image.getextrema()[-1][0] < 255
    image.thumbnail((MAX_SIDE, MAX_SIDE))
    out = io.BytesIO()
    if has_alpha:
        image.convert("RGBA").save(out, format="PNG", optimize=True)
        return out.getvalue(), "png"
    image.convert("RGB").save(out, format="JPEG", quality=85, optimize=True)
    return out.getvalue(), "jpg"


def store_photo(upload: FileStorage) -> str:
    """Check and re-encode an uploaded photo; return the stored file's name.

    Raises ``ValidationFailed`` (field ``photo``) for anything that is not a usable photo.
    """
    suffix = Path(upload.filename or "").suffix.lower()
    if suffix not in ACCEPTED_SUFFIXES:
        raise _refuse(_("Choose a JPEG, PNG, WebP or GIF photo."))
    data, kind = _encode(_decode(_read_limited(upload)))
    name = f"{uuid.uuid4().hex}.{kind}"
    folder = photo_folder()
    tmp = folder / f".{name}.tmp"
    tmp.write_bytes(data)
    os.replace(tmp, folder / name)
    return name


def stored_photo(name: str | None) -> tuple[Path, str] | None:
    """Path and MIME type of a stored photo, if the name is one of ours and the file exists."""
    if not name or not _STORED_NAME.fullmatch(name):
        return None
    path = photo_folder() / name
    if not path.is_file():
        return None
    return path, MIMETYPES[name.rsplit(".", 1)[1]]


def delete_photo(name: str | None) -> None:
    """Remove a stored photo (best effort: a leftover file harms no one)."""
    found = stored_photo(name)
    if found is not None:
        try:
            found[0].unlink()
        except OSError:
            current_app.logger.warning("could not delete photo %s", name)
