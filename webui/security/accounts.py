"""Accounts of a shared instance and who is calling.

Logins come from A1111's flags: `--gradio-auth user:pass,...` and `--gradio-auth-path FILE` cover the page, its
queue and file routes, extension routes and `/sdapi`; `--api-auth` sets separate accounts for `/sdapi` only (A1111's
meaning). A password may also be given as a stored hash (`scrypt$...`, see `passwords.py`) so a credentials file need
not hold plain text. Admins (who may switch the checkpoint for everyone or change server settings) are the names in
`--admin-users`, by default `admin` if such an account exists, else the first account listed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from webui.security.passwords import PasswordChecker, hash_password, is_password_hash


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
    return tuple(Account(name, secret if is_password_hash(secret) else hash_password(secret), name in admins)
                 for name, secret in pairs)


class AccountDirectory:
    """Checks credentials for the page (UI accounts) and for `/sdapi` (API accounts, or the UI ones)."""

    def __init__(self, ui_accounts: tuple[Account, ...] = (), api_accounts: tuple[Account, ...] = ()) -> None:
        self._ui = {account.name: account for account in ui_accounts}
        self._api = {account.name: account for account in api_accounts}
        self._ui_checker = PasswordChecker({name: account.password_hash for name, account in self._ui.items()})
        self._api_checker = PasswordChecker({name: account.password_hash for name, account in self._api.items()})

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
        return self._check(self._ui, self._ui_checker, name, password)

    def check_api(self, name: str, password: str) -> Caller | None:
        if self._api:
            return self._check(self._api, self._api_checker, name, password)
        return self.check_ui(name, password)

    def caller_named(self, name: str) -> Caller | None:
        """The caller for a UI session that logged in earlier (None if the account is gone)."""
        account = self._ui.get(name)
        return Caller(account.name, account.is_admin) if account else None

    @staticmethod
    def _check(accounts: dict[str, Account], checker: PasswordChecker, name: str, password: str) -> Caller | None:
        if not checker.check(name, password):
            return None
        account = accounts[name]
        return Caller(account.name, account.is_admin)
