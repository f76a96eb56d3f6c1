"""Password hashes for accounts: scrypt with a random salt, compared in constant time.

Only hashes are kept in memory and on disk, so a password given on the command line or in a file is turned into a
hash at start and never logged. Checking scrypt costs tens of milliseconds, which slows guessing but would also slow
every API call that sends HTTP Basic credentials; `PasswordChecker` remembers credentials that already verified, keyed
by a keyed digest (never the password itself).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading

SCHEME = "scrypt"
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_password(password: str, salt: bytes | None = None) -> str:
    """`scrypt$N$r$p$<salt>$<digest>`, self-describing so the cost can be raised later without breaking old hashes."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32)
    return f"{SCHEME}${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, encoded: str) -> bool:
    """True when `password` matches; a malformed stored hash never matches (and never raises)."""
    try:
        scheme, n, r, p, salt, digest = encoded.split("$")
        if scheme != SCHEME:
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p),
                                dklen=len(expected))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


def is_password_hash(text: str) -> bool:
    return text.startswith(f"{SCHEME}$") and text.count("$") == 5


class PasswordChecker:
    """Verifies name/password pairs against stored hashes, remembering the ones that matched (per process)."""

    def __init__(self, hashes: dict[str, str]) -> None:
        self._hashes = dict(hashes)
        self._key = secrets.token_bytes(32)
        self._verified: set[bytes] = set()
        self._lock = threading.Lock()
        self._unknown_user_hash = hash_password(secrets.token_urlsafe(16))  # same work for unknown names

    def _fingerprint(self, name: str, password: str) -> bytes:
        return hmac.new(self._key, f"{name}\0{password}".encode(), hashlib.sha256).digest()

    def check(self, name: str, password: str) -> bool:
        fingerprint = self._fingerprint(name, password)
        with self._lock:
            if fingerprint in self._verified:
                return True
        stored = self._hashes.get(name)
        matched = verify_password(password, stored if stored is not None else self._unknown_user_hash)
        if matched and stored is not None:
            with self._lock:
                self._verified.add(fingerprint)
            return True
        return False
