"""Sessions (signed, persisted, expiring, revocable), auth.json and the Users service, quotas — without a server."""

import json

import pytest

from webui.security.accounts import AccountDirectory, make_accounts
from webui.security.quotas import JobSize, Quota, QuotaBook, QuotaExceeded, parse_quota
from webui.security.sessions import SessionStore, load_or_create_key
from webui.security.setup import LoginFlags, build_accounts
from webui.security.user_admin import UserAdmin, UserError
from webui.security.users_file import read_users


def test_sessions_are_signed_persisted_expiring_and_revocable(tmp_path):
    now = [1000.0]
    key = load_or_create_key(tmp_path / "session-key")
    store = SessionStore(tmp_path / "sessions.sqlite3", key, lifetime=60, clock=lambda: now[0])
    token, other = store.open("alice"), store.open("alice")
    assert store.name_for(token) == "alice"
    session_id, signature = token.split(".")
    assert store.name_for(f"{session_id}.{signature[:-1]}x") is None and store.name_for(session_id) is None
    store.close_store()
    reopened = SessionStore(tmp_path / "sessions.sqlite3", load_or_create_key(tmp_path / "session-key"),
                            lifetime=60, clock=lambda: now[0])
    assert reopened.name_for(token) == "alice"  # a restart keeps it
    assert SessionStore(tmp_path / "sessions.sqlite3", b"k" * 32, clock=lambda: now[0]).name_for(token) is None
    reopened.close(token)
    assert reopened.name_for(token) is None and reopened.name_for(other) == "alice"
    now[0] += 61
    assert reopened.name_for(other) is None  # expired
    third = reopened.open("bob")
    assert reopened.close_all("bob") == 1 and reopened.name_for(third) is None


def users(tmp_path, quota: Quota = Quota()) -> UserAdmin:
    accounts = AccountDirectory(make_accounts([("root", "pr")], ("root",)))
    return UserAdmin(accounts, SessionStore(), tmp_path / "auth.json", quota)


def test_the_users_service_keeps_an_admin_and_leaves_flag_accounts_alone(tmp_path):
    admin = users(tmp_path)
    with pytest.raises(UserError, match="command line"):
        admin.remove("root")
    admin.add("ann", "ann-pass-1", is_admin=True)
    admin.add("ben", "ben-pass-1")
    with pytest.raises(UserError, match="at least 8"):
        admin.add("cy", "short")
    with pytest.raises(UserError, match="user name 'a b'"):
        admin.add("a b", "long-enough")
    assert admin.accounts.check_ui("ben", "ben-pass-1") is not None
    admin.reset_password("ben", "ben-pass-2")
    assert admin.accounts.check_ui("ben", "ben-pass-1") is None  # the remembered old password stops at once
    stored = {account.name: account for account in read_users(tmp_path / "auth.json")}
    assert set(stored) == {"ann", "ben"} and stored["ann"].is_admin
    admin2 = UserAdmin(AccountDirectory(), SessionStore(), tmp_path / "other.json")
    admin2.accounts.replace_ui_accounts(read_users(tmp_path / "auth.json"))
    with pytest.raises(UserError, match="last enabled admin"):
        admin2.update("ann", disabled=True)


def test_quotas_merge_per_field_and_admins_have_none(tmp_path):
    admin = users(tmp_path, parse_quota("steps=20,batch=4"))
    admin.add("ben", "ben-pass-1", quota=Quota(max_steps=5))
    admin.add("ann", "ann-pass-1", is_admin=True, quota=Quota(max_steps=1))
    assert admin.quota_for("ben") == Quota(max_steps=5, max_batch=4)
    assert admin.quota_for("ann") is None and admin.quota_for("root") is None and admin.quota_for("ghost") is None
    with pytest.raises(ValueError, match="'speed=3' is not a limit"):
        parse_quota("speed=3")
    with pytest.raises(ValueError, match="steps='0' must be a whole number"):
        parse_quota("steps=0")


def test_the_hourly_count_slides():
    now = [0.0]
    book = QuotaBook(clock=lambda: now[0])
    quota = Quota(jobs_per_hour=2, max_pixels=64 * 64)
    size = JobSize(steps=2, pixels=64 * 64, batch=1)
    book.admit("ben", quota, size)
    now[0] = 100
    book.admit("ben", quota, size)
    with pytest.raises(QuotaExceeded) as refused:
        book.admit("ben", quota, size)
    assert refused.value.http_status == 429 and refused.value.retry_after == 3500
    with pytest.raises(QuotaExceeded, match="pixels 8192 is more than the 4096") as too_big:
        book.admit("ben", quota, JobSize(steps=2, pixels=8192, batch=1))
    assert too_big.value.http_status == 403
    now[0] = 3601
    book.admit("ben", quota, size)


def test_auth_json_old_format_and_a_broken_file(tmp_path):
    from webui.security.passwords import hash_password

    (tmp_path / "auth.json").write_text(json.dumps({"admin": hash_password("old-admin")}))
    accounts = build_accounts(LoginFlags(), tmp_path, lambda text: None)  # in force even without --listen
    caller = accounts.check_ui("admin", "old-admin")
    assert caller is not None and caller.is_admin
    (tmp_path / "auth.json").write_text("{not json")
    with pytest.raises(ValueError, match="auth.json: not valid JSON"):
        build_accounts(LoginFlags(), tmp_path, lambda text: None)
    (tmp_path / "auth.json").write_text(json.dumps({"users": {"eve": {"password": "plain"}}}))
    with pytest.raises(ValueError, match="account 'eve' needs \"password\": a scrypt\\$ hash"):
        build_accounts(LoginFlags(), tmp_path, lambda text: None)
