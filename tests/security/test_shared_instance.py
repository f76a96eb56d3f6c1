"""A shared instance, second round, on one real https server (and one restart of it at the end of the module).

`app.py` with a self-signed certificate made here, `--http-redirect-port`, `--trusted-proxies 127.0.0.1` (so the
tests can speak for clients at different addresses through `X-Forwarded-For`, as a reverse proxy would) and a
`--user-quota`. alice is the admin; every other test uses its own accounts, so the throttle's state of one test
never decides another's. The order matters only for the last test, which restarts the server.
"""

import json
import stat
import time

import httpx
import pytest

from tests.security.shared_instance import TlsServer, make_self_signed
from tests.security.test_lan_server import png_bytes, tiny_job
from tests.support import copy_checkpoint
from tests.support.server import free_port

ACCOUNTS = {"alice": "pa", "bob": "pb", "carol": "pc", "dave": "pd", "erin": "pe"}
FLAGS = ("--api", "--gradio-auth", ",".join(f"{name}:{password}" for name, password in ACCOUNTS.items()),
         "--admin-users", "alice", "--trusted-proxies", "127.0.0.1",
         "--user-quota", "steps=3,pixels=4096,batch=2")


def start(data, cert, key, redirect_port):
    from tests.support.netguard import MARKER

    server = TlsServer(data, data / f"server-{time.monotonic_ns()}.log", cert,
                       (*FLAGS, "--tls-keyfile", str(key), "--tls-certfile", str(cert),
                        "--http-redirect-port", str(redirect_port)))
    server.wait_ready()
    server.data, server.cert, server.key, server.redirect_port = data, cert, key, redirect_port
    server.marker = MARKER
    return server


@pytest.fixture(scope="module")
def holder(tmp_path_factory, tiny_checkpoint):
    """{"server": the running server}; the restart test replaces it."""
    data = tmp_path_factory.mktemp("shared-instance")
    copy_checkpoint(tiny_checkpoint, data / "models" / "Stable-diffusion" / "tiny.safetensors")
    key, cert = make_self_signed(tmp_path_factory.mktemp("tls"))
    holder = {"server": start(data, cert, key, free_port())}
    yield holder
    log = holder["server"].stop()
    assert holder["server"].marker not in log
    assert "alice:pa" not in log and "bob:pb" not in log  # passwords never reach the log


@pytest.fixture
def server(holder):
    return holder["server"]


def client(server, auth=None, address=None, **kwargs) -> httpx.Client:
    headers = {"X-Forwarded-For": address} if address else {}
    return httpx.Client(base_url=server.url, auth=auth, verify=server.trust, timeout=120, headers=headers, **kwargs)


def form_login(http: httpx.Client, name: str, password: str) -> httpx.Response:
    return http.post("/login", data={"username": name, "password": password})


# -- 1. the login throttle --------------------------------------------------------------------------------------------

def test_interleaved_guesses_are_refused_after_the_limit_and_the_other_account_still_logs_in(server):
    """The reported bypass: four wrong guesses for carol, then dave's correct login, five times over, by HTTP Basic
    and by the form in turn. Before, all 20 guesses were checked; now the 6th and later are refused unchecked."""
    guesses, dave_logins = [], []
    with client(server, address="198.51.100.1") as http:
        for round_number in range(5):
            for guess in range(4):
                if round_number % 2 == 0:
                    answer = http.get("/sdapi/v1/sd-models", auth=("carol", f"guess-{round_number}-{guess}"))
                else:
                    answer = form_login(http, "carol", f"guess-{round_number}-{guess}")
                guesses.append(answer.status_code)
            dave_logins.append(http.get("/sdapi/v1/sd-models", auth=("dave", "pd")).status_code)
            http.cookies.clear()
        assert guesses == [401] * 5 + [429] * 15, guesses
        assert dave_logins == [200] * 5  # the NAT lockout is gone: dave's right password works from that address
        refused = http.get("/sdapi/v1/sd-models", auth=("carol", "pc"))  # even carol's right password, for now
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 30
    with client(server, address="203.0.113.77") as elsewhere:  # the account is refused from every address
        assert elsewhere.get("/sdapi/v1/sd-models", auth=("carol", "pc")).status_code == 429
        locked_form = form_login(elsewhere, "carol", "pc")
        assert locked_form.status_code == 429 and "Too many failed logins" in locked_form.text


def test_one_address_guessing_many_names_hits_the_higher_address_bound(server):
    with client(server, address="198.51.100.50") as guesser, client(server, address="198.51.100.51") as neighbour:
        statuses = [guesser.get("/sdapi/v1/sd-models", auth=(f"nobody{index}", "x")).status_code
                    for index in range(50)]
        assert statuses == [401] * 50
        assert guesser.get("/sdapi/v1/sd-models", auth=("erin", "pe")).status_code == 429
        assert neighbour.get("/sdapi/v1/sd-models", auth=("erin", "pe")).status_code == 200


def test_the_throttle_logs_the_address_the_trusted_proxy_names(server):
    log = server.log_path.read_text()
    assert "failed login for 'carol' from 198.51.100.1" in log
    assert "account 'carol' refused for" in log and "address 198.51.100.50 refused for" in log


# -- 2. images only to their owner ------------------------------------------------------------------------------------

def test_an_uploaded_image_is_served_to_its_owner_and_admins_only(server):
    with client(server, ("bob", "pb")) as bob, client(server, ("dave", "pd")) as dave, \
            client(server, ("alice", "pa")) as alice:
        uploaded = bob.post("/gradio_api/upload", files={"files": ("red.png", png_bytes(), "image/png")})
        assert uploaded.status_code == 200, uploaded.text
        path = uploaded.json()[0]
        for route in (f"/gradio_api/file={path}", f"/file={path}"):
            refused = dave.get(route)
            assert refused.status_code == 403 and "not shown to 'dave'" in refused.json()["detail"], route
        assert bob.get(f"/gradio_api/file={path}").content == png_bytes()
        assert alice.get(f"/gradio_api/file={path}").content == png_bytes()


# -- 4. TLS -----------------------------------------------------------------------------------------------------------

def test_https_with_a_secure_cookie_hsts_and_plain_http_redirected(server):
    with client(server) as browser:
        answer = form_login(browser, "bob", "pb")
        assert answer.status_code == 303
        cookie = answer.headers["set-cookie"]
        assert "kestrel_session=" in cookie and "Secure" in cookie and "HttpOnly" in cookie
        assert answer.headers["strict-transport-security"].startswith("max-age=")
        assert browser.get("/config").status_code == 200
    plain = httpx.get(f"http://127.0.0.1:{server.redirect_port}/sdapi/v1/sd-models?x=1", follow_redirects=False)
    assert plain.status_code == 308
    assert plain.headers["location"] == f"https://127.0.0.1:{server.port}/sdapi/v1/sd-models?x=1"
    with pytest.raises(httpx.HTTPError):  # the https port speaks nothing else
        httpx.get(f"http://127.0.0.1:{server.port}/internal/ping", timeout=5)


# -- 5. users ---------------------------------------------------------------------------------------------------------

def test_user_management_round_trip(server):
    with client(server, ("alice", "pa")) as alice, client(server, ("bob", "pb")) as bob:
        assert bob.get("/kestrel/v1/users").status_code == 403
        assert alice.post("/kestrel/v1/users", json={"name": "frank", "password": "short"}).status_code == 422
        assert alice.post("/kestrel/v1/users", json={"name": "frank", "password": "frank-pass-1"}).status_code == 201
        assert alice.post("/kestrel/v1/users", json={"name": "frank", "password": "frank-pass-1"}).status_code == 409
        listed = {user["name"]: user for user in alice.get("/kestrel/v1/users").json()}
        assert listed["frank"]["from_flags"] is False and listed["bob"]["from_flags"] is True
        stored = server.data / "auth.json"
        text = stored.read_text()
        assert "frank-pass-1" not in text and json.loads(text)["users"]["frank"]["password"].startswith("scrypt$")
        assert stat.S_IMODE(stored.stat().st_mode) == 0o600
        with client(server, ("frank", "frank-pass-1")) as frank:
            assert frank.get("/sdapi/v1/sd-models").status_code == 200
            assert frank.get("/kestrel/v1/users").status_code == 403
            wrong = frank.post("/kestrel/v1/me/password", json={"current": "nope", "new": "frank-pass-2"})
            assert wrong.status_code == 403
            changed = frank.post("/kestrel/v1/me/password", json={"current": "frank-pass-1", "new": "frank-pass-2"})
            assert changed.status_code == 200, changed.text
        assert client(server, ("frank", "frank-pass-1")).get("/sdapi/v1/sd-models").status_code == 401
        assert client(server, ("frank", "frank-pass-2")).get("/sdapi/v1/sd-models").status_code == 200
        assert alice.patch("/kestrel/v1/users/frank", json={"disabled": True}).status_code == 200
        assert client(server, ("frank", "frank-pass-2")).get("/sdapi/v1/sd-models").status_code == 401
        assert alice.patch("/kestrel/v1/users/frank", json={"disabled": False, "admin": True}).status_code == 200
        assert alice.post("/kestrel/v1/users/frank/password", json={"password": "frank-pass-3"}).status_code == 200
        with client(server, ("frank", "frank-pass-3")) as frank:
            assert frank.get("/kestrel/v1/users").status_code == 200  # an admin now
        assert alice.patch("/kestrel/v1/users/bob", json={"disabled": True}).status_code == 422  # from the flags
        assert "command line" in alice.delete("/kestrel/v1/users/bob").json()["detail"]
        assert alice.delete("/kestrel/v1/users/frank").status_code == 200
        assert client(server, ("frank", "frank-pass-3")).get("/sdapi/v1/sd-models").status_code == 401
        assert "frank" not in json.loads(stored.read_text())["users"]


def test_removing_an_account_ends_its_browser_sessions(server):
    with client(server, ("alice", "pa")) as alice, client(server) as browser:
        alice.post("/kestrel/v1/users", json={"name": "gwen", "password": "gwen-pass-1"})
        assert form_login(browser, "gwen", "gwen-pass-1").status_code == 303
        assert browser.get("/config").status_code == 200
        alice.delete("/kestrel/v1/users/gwen")
        assert browser.get("/config").status_code == 401


# -- 6. quotas --------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("fields", "limit"), [({"steps": 4}, "steps=3"), ({"width": 128}, "pixels=4096"),
                                               ({"batch_size": 3}, "batch=2"),
                                               ({"batch_size": 2, "n_iter": 2}, "batch=2")])
def test_a_request_over_the_user_quota_is_403_naming_the_limit(server, fields, limit):
    with client(server, ("bob", "pb")) as bob:
        refused = bob.post("/sdapi/v1/txt2img", json=tiny_job(**fields))
        assert refused.status_code == 403 and limit in refused.json()["detail"], refused.text


def test_a_per_user_quota_and_the_hourly_count(server):
    with client(server, ("alice", "pa")) as alice:
        created = alice.post("/kestrel/v1/users", json={"name": "hana", "password": "hana-pass-1",
                                                        "quota": {"jobs_per_hour": 1, "steps": 2}})
        assert created.status_code == 201, created.text
        assert alice.post("/sdapi/v1/txt2img", json=tiny_job(steps=4, width=128)).status_code == 200  # admins: none
    with client(server, ("hana", "hana-pass-1")) as hana:
        assert hana.get("/kestrel/v1/me").json()["quota"] == {"steps": 2, "pixels": 4096, "batch": 2,
                                                               "jobs_per_hour": 1}
        assert "steps=2" in hana.post("/sdapi/v1/txt2img", json=tiny_job(steps=3)).json()["detail"]
        assert hana.post("/sdapi/v1/txt2img", json=tiny_job()).status_code == 200
        second = hana.post("/sdapi/v1/txt2img", json=tiny_job())
        assert second.status_code == 429 and "jobs_per_hour=1" in second.json()["detail"]
        assert int(second.headers["retry-after"]) > 3000


# -- 3. sessions survive a restart (last: it restarts the server) -----------------------------------------------------

def test_sessions_survive_a_restart_and_log_out_everywhere_ends_them(holder):
    server = holder["server"]
    with client(server) as first, client(server) as second:
        assert form_login(first, "erin", "pe").status_code == 303
        assert form_login(second, "erin", "pe").status_code == 303
        tokens = [first.cookies["kestrel_session"], second.cookies["kestrel_session"]]
    server.stop()
    holder["server"] = server = start(server.data, server.cert, server.key, server.redirect_port)
    cookie_of = lambda token: {"Cookie": f"kestrel_session={token}"}  # noqa: E731 - a new port, the same cookie
    with client(server) as http:
        assert http.get("/config", headers=cookie_of(tokens[0])).status_code == 200
        assert http.get("/config", headers=cookie_of(tokens[1])).status_code == 200
        forged = tokens[0][:-2] + ("AA" if not tokens[0].endswith("AA") else "BB")
        assert http.get("/config", headers=cookie_of(forged)).status_code == 401
        assert http.post("/logout-everywhere", headers=cookie_of(tokens[0])).status_code == 303
        assert http.get("/config", headers=cookie_of(tokens[1])).status_code == 401
    stored = (server.data / "sessions.sqlite3").read_bytes()
    assert all(token.split(".")[0].encode() not in stored for token in tokens)  # only digests are kept
