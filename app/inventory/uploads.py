"""Catalogue photos: JPEG, PNG, WebP or GIF, stored as JPEG — or PNG when the picture has
transparency (a product cut-out) — at most 1200 px on the long side, under ``item_photos/``.
The checks are :mod:`app.photos`'."""

from __future__ import annotations

from pathlib import Path

from app.photos import PhotoStore

ITEM_PHOTOS = PhotoStore(
    folder="item_photos",
    config="PHOTO",
    max_bytes=5 * 1024 * 1024,
    max_pixels=24_000_000,  # e.g. 6000 x 4000: a phone camera's photo
    max_side=1200,
    gif=True,
    keep_transparency=True,
    check_suffix=True,
)
store_photo = ITEM_PHOTOS.store
delete_photo = ITEM_PHOTOS.delete


def stored_photo(name: str | None) -> tuple[Path, str] | None:
    """Path and MIME type of a stored photo, if the name is one of ours and the file exists."""
    path = ITEM_PHOTOS.path(name)
    return (path, ITEM_PHOTOS.mimetype(name)) if path is not None else None
