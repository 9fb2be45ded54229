"""Evidence photos of volunteer service and photos of handwritten thank-you letters: up to
1600 px on the long side (large enough to read a handwritten page), under
``activity_photos/``. The checks are :mod:`app.photos`'."""

from __future__ import annotations

from app.photos import PhotoStore, has_upload

ACTIVITY_PHOTOS = PhotoStore(
    folder="activity_photos",
    config="ACTIVITY_PHOTO",
    max_bytes=8 * 1024 * 1024,
    max_pixels=40_000_000,  # a 48-megapixel phone's default output is 12 MP; this leaves room
    max_side=1600,
)
store_photo = ACTIVITY_PHOTOS.store
photo_path = ACTIVITY_PHOTOS.path
delete_photo = ACTIVITY_PHOTOS.delete

__all__ = ["ACTIVITY_PHOTOS", "delete_photo", "has_upload", "photo_path", "store_photo"]
