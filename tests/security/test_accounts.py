"""Accounts, password hashes, the generated admin for --listen, and the login throttle."""

import json
import stat

import pytest

from webui.config.flags import parse_flags
from webui.security.accounts import make_accounts
from webui.security.passwords import PasswordChecker, hash_password, verify_password
from webui.security.setup import LoginFlags, build_accounts, read_credentials_file


def test_password_hashes_verify_and_differ_per_salt():
    first, second = hash_password("s3cret"), hash_password("s3cret")
    assert first != second and "s3cret" not in first
    assert verify_password("s3cret", first) and verify_password("s3cret", second)
    assert not verify_password("s3cret ", first)
    assert not verify_password("s3cret", "scrypt$garbage") and not verify_password("x", "md5$1$2$3$4$5")


def test_checker_remembers_only_what_matched():
    checker = PasswordChecker({"alice": hash_password("wonder")})
    assert checker.check("alice", "wonder") and checker.check("alice", "wonder")
    assert not checker.check("alice", "wander") and not checker.check("bob", "wonder")


def test_admins_default_to_admin_or_the_first_account():
    assert [(a.name, a.is_admin) for a in make_accounts([("zoe", "1"), ("admin", "2")])] == \
        [("zoe", False), ("admin", True)]
    assert [(a.name, a.is_admin) for a in make_accounts([("zoe", "1"), ("yan", "2")])] == \
        [("zoe", True), ("yan", False)]
    assert [a.is_admin for a in make_accounts([("zoe", "1"), ("yan", "2")], ("yan",))] == [False, True]
    with pytest.raises(ValueError, match="'zoe' is listed twice"):
        make_accounts([("zoe", "1"), ("zoe", "2")])


def test_ui_and_api_accounts(tmp_path):
    accounts = build_accounts(LoginFlags(gradio_auth=(("alice", "pa"), ("bob", "pb")), api_auth=(("bot", "pk"),),
                                         admin_users=("alice",)), tmp_path)
    assert accounts.ui_login_required and accounts.separate_api_accounts
    alice = accounts.check_ui("alice", "pa")
    assert alice is not None and alice.is_admin
    bob = accounts.check_ui("bob", "pb")
    assert bob is not None and not bob.is_admin
    assert accounts.check_api("alice", "pa") is None  # --api-auth replaces the UI accounts on /sdapi
    bot = accounts.check_api("bot", "pk")
    assert bot is not None and not bot.is_admin
    with pytest.raises(ValueError, match="--admin-users names carol, which are not accounts"):
        build_accounts(LoginFlags(gradio_auth=(("alice", "pa"),), admin_users=("carol",)), tmp_path)


def test_credentials_file_accepts_lines_commas_comments_and_hashes(tmp_path):
    stored = hash_password("from-hash")
    path = tmp_path / "users.txt"
    path.write_text(f"# team\nalice:pa, bob:pb\ncarol:{stored}\n", encoding="utf-8")
    assert [name for name, _ in read_credentials_file(path)] == ["alice", "bob", "carol"]
    accounts = build_accounts(LoginFlags(gradio_auth_file=path), tmp_path)
    assert accounts.check_ui("carol", "from-hash") is not None and accounts.check_ui("bob", "pb") is not None
    path.write_text("dave\n", encoding="utf-8")
    with pytest.raises(ValueError, match="'dave' has no password"):
        read_credentials_file(path)
    with pytest.raises(ValueError, match="cannot read it"):
        read_credentials_file(tmp_path / "missing.txt")


def test_listen_without_credentials_generates_an_admin_once(tmp_path):
    shown: list[str] = []
    accounts = build_accounts(LoginFlags(exposed=True), tmp_path, shown.append)
    password = shown[0].split("Password: ")[1].split()[0]
    store = tmp_path / "auth.json"
    assert password not in store.read_text()
    assert json.loads(store.read_text())["users"]["admin"]["password"].startswith("scrypt$")
    assert stat.S_IMODE(store.stat().st_mode) == 0o600
    admin = accounts.check_ui("admin", password)
    assert admin is not None and admin.is_admin and accounts.api_login_required
    again = build_accounts(LoginFlags(exposed=True), tmp_path, shown.append)
    assert password not in shown[1] and again.check_ui("admin", password) is not None


def test_the_opt_out_and_the_local_default_have_no_logins(tmp_path):
    assert not build_accounts(LoginFlags(exposed=True, insecure_no_auth=True), tmp_path).ui_login_required
    assert not build_accounts(LoginFlags(), tmp_path).api_login_required
    assert not (tmp_path / "auth.json").exists()


def test_flags_decide_exposure():
    assert parse_flags(["--listen"]).exposed
    assert parse_flags(["--server-name", "192.168.1.5"]).exposed
    assert not parse_flags(["--server-name", "127.0.0.1"]).exposed and not parse_flags([]).exposed
    with pytest.raises(SystemExit):
        parse_flags(["--gradio-auth", "nopassword"])
    with pytest.raises(SystemExit):
        parse_flags(["--queue-per-user", "0"])
