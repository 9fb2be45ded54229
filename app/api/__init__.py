"""The JSON API under /api/v1 (API-v1.md)."""

from flask import Flask


def init_api(app: Flask) -> None:
    pass
