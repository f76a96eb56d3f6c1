"""What the admin's Users section (and `/kestrel/v1/users`) does: add, remove, disable, reset, make admin, quotas;
and what every user may do: change their own password.

Each change is written to auth.json first (atomically), then put live in the account directory, then the sessions
it invalidates are ended: a removed, disabled or reset account is logged out everywhere at once, and so is the
user who changes their own password (the route gives the browser that asked a fresh session). Accounts from
`--gradio-auth` are listed but fixed by the command line. The last enabled admin cannot be removed, disabled or
demoted, so an instance can never lock its admins out.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, replace
from pathlib import Path

from webui.errors import KestrelError
from webui.security.accounts import Account, AccountDirectory
from webui.security.passwords import hash_password, verify_password
from webui.security.quotas import Quota
from webui.security.sessions import SessionStore
from webui.security.users_file import write_users

NAME_PATTERN = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
MIN_PASSWORD = 8


class UserError(KestrelError):
    """A Users request that cannot be done; the message says why and what is allowed."""

    def __init__(self, message: str, http_status: int = 422) -> None:
        super().__init__(message)
        self.http_status = http_status


@dataclass(frozen=True)
class UserView:
    """One account as the Users section shows it (never the hash)."""

    name: str
    is_admin: bool
    disabled: bool
    from_flags: bool
    quota: str          # this account's own quota, as `steps=30,...` ('' = the --user-quota default)
    sessions: int


class UserAdmin:
    def __init__(self, accounts: AccountDirectory, sessions: SessionStore, store: Path,
                 default_quota: Quota = Quota()) -> None:
        self.accounts = accounts
        self.sessions = sessions
        self.store = store
        self.default_quota = default_quota
        self._lock = threading.Lock()  # one change at a time: read, check, write, put live

    def views(self) -> list[UserView]:
        return [UserView(account.name, account.is_admin, account.disabled, account.from_flags,
                         account.quota.as_text() if account.quota else "", self.sessions.count_of(account.name))
                for account in self.accounts.ui_accounts()]

    def quota_for(self, name: str) -> Quota | None:
        """The limits that apply to `name`'s jobs; None for admins and for owners that are no account."""
        account = self.accounts.account(name)
        if account is None or account.is_admin:
            return None
        quota = account.quota.over(self.default_quota) if account.quota else self.default_quota
        return None if quota.empty else quota

    def add(self, name: str, password: str, is_admin: bool = False, quota: Quota | None = None) -> None:
        if not NAME_PATTERN.match(name or ""):
            raise UserError(f"user name {name!r}: use 1-64 letters, digits, '_', '.', '@' or '-'")
        _check_password(password)
        with self._lock:
            if self.accounts.account(name) is not None:
                raise UserError(f"there is already an account {name!r}", 409)
            self._save([*self.accounts.ui_accounts(), Account(name, hash_password(password), is_admin, quota=quota)])

    def remove(self, name: str) -> None:
        with self._lock:
            self._editable(name)
            self._keep_an_admin(name)
            self._save([account for account in self.accounts.ui_accounts() if account.name != name])
        self.sessions.close_all(name)

    def update(self, name: str, is_admin: bool | None = None, disabled: bool | None = None,
               quota: Quota | None = None) -> None:
        """Change the admin flag, disable or enable, or set the account's own quota (an empty Quota clears it)."""
        with self._lock:
            account = self._editable(name)
            changed = replace(account, is_admin=account.is_admin if is_admin is None else is_admin,
                              disabled=account.disabled if disabled is None else disabled,
                              quota=account.quota if quota is None else (None if quota.empty else quota))
            if (account.is_admin and not changed.is_admin) or (not account.disabled and changed.disabled):
                self._keep_an_admin(name)
            self._save([changed if item.name == name else item for item in self.accounts.ui_accounts()])
        if changed.disabled or changed.is_admin != account.is_admin:
            self.sessions.close_all(name)  # rights changed: the next request logs in again with the new ones

    def reset_password(self, name: str, password: str) -> None:
        _check_password(password)
        self._set_hash(name, hash_password(password))

    def change_own_password(self, name: str, current: str, new: str) -> None:
        account = self.accounts.account(name)
        if account is None or account.from_flags:
            raise UserError(f"{name!r} is set by --gradio-auth on the command line; its password changes there")
        if not verify_password(current, account.password_hash):
            raise UserError("the current password is not right", 403)
        _check_password(new)
        if new == current:
            raise UserError("the new password is the same as the current one")
        self._set_hash(name, hash_password(new))

    def _set_hash(self, name: str, password_hash: str) -> None:
        with self._lock:
            account = self._editable(name)
            self._save([replace(account, password_hash=password_hash) if item.name == name else item
                        for item in self.accounts.ui_accounts()])
        self.sessions.close_all(name)

    def _editable(self, name: str) -> Account:
        account = next((item for item in self.accounts.ui_accounts() if item.name == name), None)
        if account is None:
            raise UserError(f"no account {name!r}", 404)
        if account.from_flags:
            raise UserError(f"{name!r} is set by --gradio-auth on the command line; change it there")
        return account

    def _keep_an_admin(self, name: str) -> None:
        others = [item for item in self.accounts.ui_accounts()
                  if item.is_admin and not item.disabled and item.name != name]
        if not others:
            raise UserError(f"{name!r} is the last enabled admin; make another account admin first", 409)

    def _save(self, accounts: list[Account]) -> None:
        write_users(self.store, tuple(account for account in accounts if not account.from_flags))
        self.accounts.replace_ui_accounts(accounts)


def _check_password(password: str) -> None:
    if len(password or "") < MIN_PASSWORD:
        raise UserError(f"a password needs at least {MIN_PASSWORD} characters")
