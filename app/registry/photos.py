"""Student photos (optional, beside the name on the roster and at the counter): at most 600 px
on the long side, under ``student_photos/``. The checks are :mod:`app.photos`'."""

from __future__ import annotations

from app.photos import PhotoStore

STUDENT_PHOTOS = PhotoStore(
    folder="student_photos",
    config="STUDENT_PHOTO",
    max_bytes=5 * 1024 * 1024,
    max_pixels=24_000_000,
    max_side=600,
)
store_photo = STUDENT_PHOTOS.store
photo_path = STUDENT_PHOTOS.path
delete_photo = STUDENT_PHOTOS.delete
