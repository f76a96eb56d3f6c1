"""Accounts of a shared instance and who is calling.

Logins come from A1111's flags — `--gradio-auth user:pass,...` and `--gradio-auth-path FILE` cover the page, its
queue and file routes, extension routes and `/sdapi`; `--api-auth` sets separate accounts for `/sdapi` only (A1111's
meaning) — and from `auth.json` in the data dir, which the admin's Users section edits (`users_file.py`). A password
may be given as a stored hash (`scrypt$...`, see `passwords.py`) so a credentials file need not hold plain text.
Admins (who may switch the checkpoint for everyone, change server settings and manage users) are the names in
`--admin-users` and the accounts marked admin in auth.json; without either, `admin` if such an account exists, else
the first account listed.

The directory is the one mutable thing here: the Users section replaces its UI accounts as a whole (under a lock,
with a fresh password checker, so a remembered old password stops working at once).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass

from webui.security.passwords import PasswordChecker, hash_password, is_password_hash
from webui.security.quotas import Quota


@dataclass(frozen=True)
class Caller:
    """Who made a request. With logins off everyone is a trusted local user (an admin without a name)."""

    name: str | None
    is_admin: bool

    @property
    def authenticated(self) -> bool:
        return self.name is not None


LOCAL_USER = Caller(None, is_admin=True)
ANONYMOUS = Caller(None, is_admin=False)  # a public route's caller when logins are on


@dataclass(frozen=True)
class Account:
    name: str
    password_hash: str
    is_admin: bool
    disabled: bool = False
    quota: Quota | None = None   # this account's own limits (fields left None fall back to --user-quota)
    from_flags: bool = False     # --gradio-auth / --gradio-auth-path: fixed by the command line, not editable


def make_accounts(pairs: Iterable[tuple[str, str]], admin_names: Iterable[str] | None = None) -> tuple[Account, ...]:
    """Accounts from (name, password or stored hash) pairs; plain passwords are hashed here and forgotten.

    `admin_names` None means the default rule (`admin` if listed, else the first account)."""
    pairs = list(pairs)
    names = [name for name, _ in pairs]
    if len(set(names)) != len(names):
        duplicate = next(name for name in names if names.count(name) > 1)
        raise ValueError(f"the account {duplicate!r} is listed twice")
    if admin_names is None:
        admins = ({"admin"} if "admin" in names else {names[0]}) if names else set()
    else:
        admins = set(admin_names)
    return tuple(Account(name, secret if is_password_hash(secret) else hash_password(secret), name in admins,
                         from_flags=True) for name, secret in pairs)


class AccountDirectory:
    """Checks credentials for the page (UI accounts) and for `/sdapi` (API accounts, or the UI ones)."""

    def __init__(self, ui_accounts: tuple[Account, ...] = (), api_accounts: tuple[Account, ...] = ()) -> None:
        self._lock = threading.Lock()
        self._api = {account.name: account for account in api_accounts}
        self._api_checker = self._checker(self._api)
        self._ui: dict[str, Account] = {}
        self._ui_checker = self._checker({})
        self.replace_ui_accounts(ui_accounts)

    @staticmethod
    def _checker(accounts: dict[str, Account]) -> PasswordChecker:
        return PasswordChecker({name: account.password_hash for name, account in accounts.items()
                                if not account.disabled})

    def replace_ui_accounts(self, accounts: Iterable[Account]) -> None:
        table = {account.name: account for account in accounts}
        checker = self._checker(table)
        with self._lock:
            self._ui, self._ui_checker = table, checker

    def ui_accounts(self) -> tuple[Account, ...]:
        with self._lock:
            return tuple(self._ui.values())

    def account(self, name: str) -> Account | None:
        with self._lock:
            return self._ui.get(name) or self._api.get(name)

    @property
    def ui_login_required(self) -> bool:
        return bool(self._ui)

    @property
    def api_login_required(self) -> bool:
        return bool(self._api) or bool(self._ui)

    @property
    def separate_api_accounts(self) -> bool:
        return bool(self._api)

    def check_ui(self, name: str, password: str) -> Caller | None:
        with self._lock:
            accounts, checker = self._ui, self._ui_checker
        return self._check(accounts, checker, name, password)

    def check_api(self, name: str, password: str) -> Caller | None:
        if self._api:
            return self._check(self._api, self._api_checker, name, password)
        return self.check_ui(name, password)

    def caller_named(self, name: str) -> Caller | None:
        """The caller for a UI session that logged in earlier (None if the account is gone or disabled)."""
        with self._lock:
            account = self._ui.get(name)
        return Caller(account.name, account.is_admin) if account and not account.disabled else None

    @staticmethod
    def _check(accounts: dict[str, Account], checker: PasswordChecker, name: str, password: str) -> Caller | None:
        account = accounts.get(name)
        if not checker.check(name, password) or account is None or account.disabled:
            return None
        return Caller(account.name, account.is_admin)
