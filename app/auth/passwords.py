"""Password hashing and checks (ASVS 5.0 §6.2, Appendix C).

argon2id with at least OWASP's parameters (t=2, m=19 MiB, p=1); a hash made with weaker
parameters is re-hashed at the next successful login. Rules: 8–128 characters, no composition
rules, not a well-known password, not the username.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from flask import current_app
from flask_babel import gettext as _

MIN_LENGTH = 8
MAX_LENGTH = 128


def _hasher() -> PasswordHasher:
    cfg = current_app.config
    return PasswordHasher(
        time_cost=cfg["ARGON2_TIME_COST"],
        memory_cost=cfg["ARGON2_MEMORY_COST_KIB"],
        parallelism=cfg["ARGON2_PARALLELISM"],
    )


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def verify_password(stored_hash: str, password: str) -> bool:
    try:
        return _hasher().verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    try:
        return _hasher().check_needs_rehash(stored_hash)
    except InvalidHashError:
        return True


_DUMMY_HASH: dict[str, str] = {}


def burn_verify_time(password: str) -> None:
    """Spend the time of a real check, so an unknown username is not told apart by timing."""
    key = current_app.config["ARGON2_MEMORY_COST_KIB"]
    if key not in _DUMMY_HASH:
        _DUMMY_HASH[key] = hash_password("not-a-real-password-0")
    verify_password(_DUMMY_HASH[key], password)


@cache
def common_passwords() -> frozenset[str]:
    path = Path(__file__).with_name("common_passwords.txt")
    lines = path.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip().lower() for line in lines if line.strip())


def password_problems(password: str, username: str | None = None) -> list[str]:
    """Human-readable reasons the password may not be used; empty when it is fine."""
    problems = []
    if len(password) < MIN_LENGTH:
        problems.append(_("At least %(n)d characters.", n=MIN_LENGTH))
    if len(password) > MAX_LENGTH:
        problems.append(_("At most %(n)d characters.", n=MAX_LENGTH))
    lowered = password.lower()
    if lowered in common_passwords() or len(set(password)) <= 2:
        problems.append(_("This password is too common; choose another."))
    if username and lowered == username.lower():
        problems.append(_("The password must not be the username."))
    return problems
