"""`auth.json` in the data dir: the accounts the admin's Users section manages, as scrypt hashes.

    {"version": 2, "users": {"alice": {"password": "scrypt$...", "admin": true, "disabled": false,
                                       "quota": {"steps": 30, "jobs_per_hour": 20}}}}

The first format (`{"admin": "scrypt$..."}`, the generated --listen admin) is still read: each entry is an admin.
Every write is atomic (a crash never leaves half a file) and the file is readable by its owner only (0600).
A file that cannot be read as accounts stops the start with a message naming it, instead of silently opening an
instance without logins.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from webui.config.atomic import write_atomically
from webui.security.accounts import Account
from webui.security.passwords import is_password_hash
from webui.security.quotas import quota_from_json

FORMAT_VERSION = 2


def read_users(path: Path) -> tuple[Account, ...]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return ()
    except OSError as error:
        raise ValueError(f"{path}: cannot read the accounts ({error.strerror})") from error
    try:
        data = json.loads(text)
    except ValueError as error:
        raise ValueError(f"{path}: not valid JSON ({error}); fix it or delete it to start without its accounts") \
            from error
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected an object of accounts")
    if "users" not in data:  # the first format: name → hash, admins all
        return tuple(_account(path, name, {"password": secret, "admin": True}) for name, secret in data.items())
    users = data["users"]
    if not isinstance(users, dict):
        raise ValueError(f"{path}: \"users\" must be an object of accounts")
    return tuple(_account(path, name, entry) for name, entry in users.items())


def _account(path: Path, name: str, entry: Any) -> Account:
    where = f"{path}: account {name!r}"
    if not isinstance(entry, dict) or not isinstance(entry.get("password"), str) \
            or not is_password_hash(entry["password"]):
        raise ValueError(f"{where} needs \"password\": a scrypt$ hash")
    return Account(name, entry["password"], bool(entry.get("admin", False)), bool(entry.get("disabled", False)),
                   quota_from_json(entry.get("quota"), f"{where} quota"))


def write_users(path: Path, accounts: tuple[Account, ...]) -> None:
    users: dict[str, dict[str, Any]] = {}
    for account in accounts:
        entry: dict[str, Any] = {"password": account.password_hash, "admin": account.is_admin,
                                 "disabled": account.disabled}
        if account.quota is not None and not account.quota.empty:
            entry["quota"] = account.quota.as_json()
        users[account.name] = entry
    payload = json.dumps({"version": FORMAT_VERSION, "users": users}, indent=2).encode()
    write_atomically(path, lambda stream: stream.write(payload))
    os.chmod(path, 0o600)
