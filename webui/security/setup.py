"""Turn the login flags into accounts, with a secure default for LAN servers.

`--listen` (or a non-loopback `--server-name`) without any credentials does not serve an open instance: an `admin`
account is created with a random password, which is printed once on the console; only its hash is kept, in
`<data dir>/auth.json`, so later starts reuse it (delete the file to get a new password). `--insecure-no-auth` opts
out, with a warning on every start.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from webui.config.atomic import write_atomically
from webui.security.accounts import AccountDirectory, make_accounts
from webui.security.passwords import hash_password, is_password_hash

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


def build_accounts(flags: LoginFlags, data_dir: Path, announce: Callable[[str], None] = print) -> AccountDirectory:
    """The account directory for this start; `announce` shows the generated admin password (once)."""
    ui_pairs = [*flags.gradio_auth, *(read_credentials_file(flags.gradio_auth_file) if flags.gradio_auth_file else [])]
    admin_names: tuple[str, ...] | None = flags.admin_users or None
    known = {name for name, _ in [*ui_pairs, *flags.api_auth]}
    if admin_names and (unknown := sorted(set(admin_names) - known)):
        raise ValueError(f"--admin-users names {', '.join(unknown)}, which are not accounts "
                         f"(accounts: {', '.join(sorted(known)) or 'none'})")
    if not ui_pairs and flags.exposed:
        if flags.insecure_no_auth:
            log.warning("--insecure-no-auth: the UI is open to anyone who can reach this machine; anyone can "
                        "generate, change settings and switch models")
        else:
            ui_pairs = [(GENERATED_ADMIN, _generated_admin_hash(data_dir / "auth.json", announce))]
            admin_names = (GENERATED_ADMIN,)
    return AccountDirectory(make_accounts(ui_pairs, admin_names), make_accounts(flags.api_auth, admin_names))


def _generated_admin_hash(store: Path, announce: Callable[[str], None]) -> str:
    try:
        stored = json.loads(store.read_text(encoding="utf-8")).get(GENERATED_ADMIN, "")
    except (OSError, ValueError, AttributeError):
        stored = ""
    if is_password_hash(stored):
        announce(f"Logins are on (--listen): user {GENERATED_ADMIN!r}, the password printed when {store} was made. "
                 f"Delete that file to get a new one.")
        return stored
    password = secrets.token_urlsafe(12)
    stored = hash_password(password)
    payload = json.dumps({GENERATED_ADMIN: stored}, indent=2).encode()
    write_atomically(store, lambda stream: stream.write(payload))
    os.chmod(store, 0o600)
    announce(f"Logins are on (--listen without --gradio-auth). User: {GENERATED_ADMIN}  Password: {password}\n"
             f"This password is shown only now; its hash is kept in {store}. Use --gradio-auth to choose accounts, "
             f"or --insecure-no-auth to serve without logins.")
    return stored
