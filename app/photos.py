"""Uploaded photos, one implementation for every kind (catalogue items, students, evidence of
volunteer service and handwritten thank-you letters): checked by content, re-encoded, kept
under the instance folder, served only through views that check scope — never from /static.

An upload is trusted for nothing: not its name, not its Content-Type. Pillow must recognise it
as one of the kind's formats; its pixel count is checked from the header *before* the pixels
are decoded (a small file can claim a huge canvas); it is re-encoded — JPEG, or PNG where the
kind keeps transparency — at most ``max_side`` px on its long side, which also drops EXIF data
such as where and when a phone took the picture. Files get random names (``<32 hex>.jpg``) and
are written whole (a temporary name, then a rename) with owner-only permissions. The request
as a whole is capped by ``MAX_CONTENT_LENGTH`` (413); a photo on its own by ``max_bytes``.

Each kind is one :class:`PhotoStore`; its limits can be lowered per deployment (and in tests)
through ``MAX_<CONFIG>_BYTES`` and ``MAX_<CONFIG>_PIXELS`` in the app's config.
"""

from __future__ import annotations

import io
import os
import re
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path

from flask import current_app
from flask_babel import gettext as _
from PIL import Image, ImageOps, UnidentifiedImageError
from werkzeug.datastructures import FileStorage

from app.common import ValidationFailed

_STORED_NAME = re.compile(r"[0-9a-f]{32}\.(jpg|png)")
MIMETYPES = {"jpg": "image/jpeg", "png": "image/png"}
_NOT_DECODABLE = (
    UnidentifiedImageError,
    Image.DecompressionBombError,
    Image.DecompressionBombWarning,
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
)


def has_upload(upload: FileStorage | None) -> bool:
    """Whether a form's file field holds a file (an empty field still sends a part)."""
    return upload is not None and bool(getattr(upload, "filename", ""))


def _refuse(message: str) -> ValidationFailed:
    return ValidationFailed(message, field="photo")


@dataclass(frozen=True)
class PhotoStore:
    folder: str  # under the instance folder
    config: str  # MAX_<config>_BYTES / MAX_<config>_PIXELS override the limits
    max_bytes: int
    max_pixels: int
    max_side: int
    gif: bool = False  # accept GIF too (catalogue pictures)
    keep_transparency: bool = False  # store a transparent picture as PNG, not JPEG
    check_suffix: bool = False  # refuse a file whose name does not say it is a picture

    # ------------------------------------------------------------ storing

    def store(self, upload: FileStorage) -> str:
        """Check and re-encode an uploaded photo; return the stored file's name.

        ``ValidationFailed`` (field ``photo``) for anything that is not a usable photo.
        """
        if self.check_suffix and Path(upload.filename or "").suffix.lower() not in (
            {".jpg", ".jpeg", ".png", ".webp"} | ({".gif"} if self.gif else set())
        ):
            raise _refuse(
                _("Choose a JPEG, PNG, WebP or GIF photo.")
                if self.gif
                else _("This file is not a photo (JPEG, PNG or WebP).")
            )
        data, suffix = self._encode(self._decode(self._read(upload)))
        name = f"{uuid.uuid4().hex}.{suffix}"
        folder = self._folder()
        tmp = folder / f".{name}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, folder / name)
        return name

    def _read(self, upload: FileStorage) -> bytes:
        limit = current_app.config.get(f"MAX_{self.config}_BYTES", self.max_bytes)
        data = upload.stream.read(limit + 1)
        if len(data) > limit:
            raise _refuse(
                _("The photo is larger than %(mb)d MB. Choose a smaller one.", mb=limit // 2**20)
            )
        if not data:
            raise _refuse(_("The file is empty."))
        return data

    def _decode(self, data: bytes) -> Image.Image:
        max_pixels = current_app.config.get(f"MAX_{self.config}_PIXELS", self.max_pixels)
        formats = {"JPEG", "PNG", "WEBP"} | ({"GIF"} if self.gif else set())
        not_a_photo = (
            _("This file is not a photo (JPEG, PNG, WebP or GIF).")
            if self.gif
            else _("This file is not a photo (JPEG, PNG or WebP).")
        )
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                probe = Image.open(io.BytesIO(data))
                if probe.format not in formats:
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
        except _NOT_DECODABLE as exc:
            raise _refuse(not_a_photo) from exc
        return image

    def _encode(self, image: Image.Image) -> tuple[bytes, str]:
        image = ImageOps.exif_transpose(image) or image
        if image.mode == "P":
            image = image.convert("RGBA")
        transparent = (
            self.keep_transparency
            and image.mode in ("RGBA", "LA")
            and image.getextrema()[-1][0] < 255
        )
        image.thumbnail((self.max_side, self.max_side))
        out = io.BytesIO()
        if transparent:
            image.convert("RGBA").save(out, format="PNG", optimize=True)
            return out.getvalue(), "png"
        image.convert("RGB").save(out, format="JPEG", quality=85, optimize=True)
        return out.getvalue(), "jpg"

    # ------------------------------------------------------------ reading and deleting

    def _folder(self) -> Path:
        folder = Path(current_app.instance_path) / self.folder
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        return folder

    def path(self, name: str | None) -> Path | None:
        """The stored photo's path, if the name is one of ours and the file exists."""
        if not name or not _STORED_NAME.fullmatch(name):
            return None
        path = self._folder() / name
        return path if path.is_file() else None

    def mimetype(self, name: str) -> str:
        return MIMETYPES[name.rsplit(".", 1)[1]]

    def delete(self, name: str | None) -> None:
        """Remove a stored photo (best effort: a leftover file harms no one)."""
        path = self.path(name)
        if path is not None:
            try:
                path.unlink()
            except OSError:
                current_app.logger.warning("could not delete %s/%s", self.folder, name)
