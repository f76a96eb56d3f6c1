"""Turn the login flags and `auth.json` into accounts, with a secure default for LAN servers.

The accounts in `<data dir>/auth.json` (the Users section's) are always in force, local or not: once an instance
has accounts it asks for a login (delete the file to go back to an open local instance). The flags' accounts come
beside them, fixed by the command line; a name in both is the flags' account.
`--listen` (or a non-loopback `--server-name`) without any account does not serve an open instance: an `admin`
account is created with a random password, which is printed once on the console; only its hash is kept, in
auth.json, so later starts reuse it. `--insecure-no-auth` opts out, with a warning on every start.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from webui.security.accounts import Account, AccountDirectory, make_accounts
from webui.security.passwords import hash_password
from webui.security.users_file import read_users, write_users

log = logging.getLogger(__name__)
GENERATED_ADMIN = "admin"


@dataclass(frozen=True)
class LoginFlags:
    gradio_auth: tuple[tuple[str, str], ...] = ()
    gradio_auth_file: Path | None = None
    api_auth: tuple[tuple[str, str], ...] = ()
    admin_users: tuple[str, ...] = ()
    exposed: bool = False            # reachable from other machines (--listen / --server-name)
    insecure_no_auth: bool = False


def read_credentials_file(path: Path) -> list[tuple[str, str]]:
    """A1111's --gradio-auth-path format: user:pass entries separated by commas or new lines."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ValueError(f"--gradio-auth-path {path}: cannot read it ({error.strerror})") from error
    pairs = []
    for entry in (part.strip() for line in text.splitlines() for part in line.split(",")):
        if not entry or entry.startswith("#"):
            continue
        name, separator, secret = entry.partition(":")
        if not separator or not name or not secret:
            raise ValueError(f"--gradio-auth-path {path}: entries must look like user:password; "
                             f"{name!r} has no password")
        pairs.append((name, secret))
    return pairs


def users_file_of(data_dir: Path) -> Path:
    return data_dir / "auth.json"


def build_accounts(flags: LoginFlags, data_dir: Path, announce: Callable[[str], None] = print) -> AccountDirectory:
    """The account directory for this start; `announce` shows the generated admin password (once)."""
    ui_pairs = [*flags.gradio_auth, *(read_credentials_file(flags.gradio_auth_file) if flags.gradio_auth_file else [])]
    stored = read_users(users_file_of(data_dir))
    admin_names: tuple[str, ...] | None = flags.admin_users or None
    known = {name for name, _ in [*ui_pairs, *flags.api_auth]} | {account.name for account in stored}
    if admin_names and (unknown := sorted(set(admin_names) - known)):
        raise ValueError(f"--admin-users names {', '.join(unknown)}, which are not accounts "
                         f"(accounts: {', '.join(sorted(known)) or 'none'})")
    if not ui_pairs and not stored and flags.exposed:
        if flags.insecure_no_auth:
            log.warning("--insecure-no-auth: the UI is open to anyone who can reach this machine; anyone can "
                        "generate, change settings and switch models")
        else:
            stored = (_generated_admin(users_file_of(data_dir), announce),)
    elif stored and flags.insecure_no_auth:
        log.warning("--insecure-no-auth is ignored: %s holds accounts, so logins stay on", users_file_of(data_dir))
    elif stored and not ui_pairs:
        announce(f"Logins are on: {len(stored)} account(s) in {users_file_of(data_dir)} (the Users section manages "
                 f"them; delete the file to start over).")
    if admin_names is None and any(account.is_admin for account in stored):
        admin_names = ()  # auth.json names its admins: the flags' first account is not made one by default
    from_flags = make_accounts(ui_pairs, admin_names)
    shadowed = {account.name for account in from_flags}
    if overlap := sorted(shadowed & {account.name for account in stored}):
        log.warning("%s: %s also given by the flags; the flags' password applies", users_file_of(data_dir),
                    ", ".join(overlap))
    marked = set(admin_names or ())
    file_accounts = tuple(replace(account, is_admin=account.is_admin or account.name in marked)
                          for account in stored if account.name not in shadowed)
    return AccountDirectory((*from_flags, *file_accounts), make_accounts(flags.api_auth, admin_names))


def _generated_admin(store: Path, announce: Callable[[str], None]) -> Account:
    password = secrets.token_urlsafe(12)
    account = Account(GENERATED_ADMIN, hash_password(password), is_admin=True)
    write_users(store, (account,))
    announce(f"Logins are on (--listen without --gradio-auth). User: {GENERATED_ADMIN}  Password: {password}\n"
             f"This password is shown only now; its hash is kept in {store}. Use --gradio-auth to choose accounts, "
             f"or --insecure-no-auth to serve without logins.")
    return account
