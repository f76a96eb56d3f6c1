"""A shared LAN instance, for real: `app.py` with logins in a subprocess, driven over HTTP (and webuiapi).

alice is the admin, bob an ordinary user. Every route family is tried without, with wrong and with right credentials;
jobs belong to their user; the queue takes turns; file routes serve only Gradio's cache; uploads are capped.
"""

import base64
import io
import threading
import time

import httpx
import pytest
import webuiapi
from PIL import Image

from tests.support import copy_checkpoint
from tests.support.extensions import install_fixtures
from webui.model_manager.demo import TinySD1Spec, write_tiny_checkpoint

ALICE, BOB = ("alice", "pa"), ("bob", "pb")


def start_lan_server(data, tiny_checkpoint, flags: tuple[str, ...]):
    """`app.py` with these login flags on a data dir holding the tiny checkpoint; yields it, then checks its log."""
    from tests.support.netguard import MARKER
    from tests.support.server import Server

    folder = data / "models" / "Stable-diffusion"
    folder.mkdir(parents=True, exist_ok=True)
    copy_checkpoint(tiny_checkpoint, folder / "anything-tiny.safetensors")
    server = Server(data, data / "server.log", ("--api", *flags))
    server.wait_ready()
    server.data = data
    yield server
    log = server.stop()
    assert MARKER not in log
    assert ":pa," not in log and ":pe," not in log  # passwords never reach the log


@pytest.fixture(scope="module")
def lan(tmp_path_factory, tiny_checkpoint):
    data = tmp_path_factory.mktemp("lan-data")
    (data / "models" / "Stable-diffusion").mkdir(parents=True)
    write_tiny_checkpoint(data / "models" / "Stable-diffusion" / "counterfeit-tiny.safetensors", TinySD1Spec(seed=8))
    install_fixtures(data, "good", "a1111_style")  # extension routes: ours under /ext/, and an A1111 one
    yield from start_lan_server(data, tiny_checkpoint, ("--gradio-auth", "alice:pa,bob:pb", "--admin-users", "alice",
                                                        "--max-upload-mb", "1", "--queue-per-user", "4"))


def client(server, auth=None, **kwargs) -> httpx.Client:
    return httpx.Client(base_url=server.url, auth=auth, timeout=120, **kwargs)


def tiny_job(**fields) -> dict:
    return {"prompt": "1girl", "steps": 2, "width": 64, "height": 64, "sampler_name": "Euler a", **fields}


def png_bytes(size=(16, 16)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


def uploaded_cache_file(server) -> str:
    with client(server, ALICE) as http:
        response = http.post("/gradio_api/upload", files={"files": ("red.png", png_bytes(), "image/png")})
        assert response.status_code == 200, response.text
        return response.json()[0]


ROUTES = [("GET", "/", None), ("GET", "/config", None), ("GET", "/gradio_api/info", None),
          ("POST", "/gradio_api/queue/join", {}), ("GET", "/sdapi/v1/sd-models", None),
          ("GET", "/sdapi/v1/options", None), ("POST", "/sdapi/v1/txt2img", tiny_job()),
          ("GET", "/kestrel/v1/jobs", None), ("GET", "/docs", None), ("GET", "/openapi.json", None),
          ("GET", "/ext/good/hello", None), ("GET", "/a1111-demo/word", None)]


@pytest.mark.parametrize(("method", "path", "body"), ROUTES, ids=[f"{m} {p}" for m, p, _ in ROUTES])
def test_every_route_needs_a_login(lan, method, path, body):
    """A wrong password is a plain 401 everywhere (a name per route: five failures of one account would refuse
    it for a while, with 429)."""
    with client(lan) as anonymous, client(lan, (f"guess{path}", "not-it")) as wrong, client(lan, BOB) as right:
        assert anonymous.request(method, path, json=body).status_code == 401
        assert wrong.request(method, path, json=body).status_code == 401
        allowed = right.request(method, path, json=body)
        assert allowed.status_code not in (401, 403, 429), allowed.text


def test_file_routes_need_a_login_too(lan):
    cached = uploaded_cache_file(lan)  # alice's upload
    with client(lan) as anonymous, client(lan, BOB) as bob, client(lan, ALICE) as alice:
        assert anonymous.get(f"/gradio_api/file={cached}").status_code == 401
        assert bob.get(f"/gradio_api/file={cached}").status_code == 403  # not bob's: a known URL is not enough
        assert alice.get(f"/gradio_api/file={cached}").content == png_bytes()


def test_forwarded_for_is_ignored_without_trusted_proxies(lan):
    """Without --trusted-proxies a client cannot pick its address for the throttle (uvicorn's own handling, which
    believes the header from 127.0.0.1, is off too): the failures are counted for, and logged from, 127.0.0.1."""
    with client(lan, ("nobody-spoofing", "x"), headers={"X-Forwarded-For": "203.0.113.99"}) as spoofing:
        assert spoofing.get("/sdapi/v1/sd-models").status_code == 401
    log = lan.log_path.read_text()
    assert "failed login for 'nobody-spoofing' from 127.0.0.1" in log and "203.0.113.99" not in log


def test_the_page_sends_browsers_to_the_login_form_and_the_form_works(lan):
    with client(lan) as browser:
        page = browser.get("/", headers={"Accept": "text/html"})
        assert page.status_code == 303 and page.headers["location"].startswith("/login")
        assert 'id="login_form"' in browser.get("/login").text
        assert browser.post("/login", data={"username": "bob", "password": "pb"}).status_code == 303
        assert browser.get("/config").status_code == 200  # the session cookie now opens Gradio's routes
        assert browser.get("/sdapi/v1/sd-models").status_code == 200  # and /sdapi (no separate --api-auth)


def test_credentials_are_never_echoed(lan):
    with client(lan, BOB) as bob:
        flags = bob.get("/sdapi/v1/cmd-flags").json()
    assert flags["gradio_auth"] == "(hidden)" and flags["api_auth"] is None and flags["max_upload_mb"] == 1
    assert "alice:pa" not in str(flags)


def test_settings_and_model_switching_are_for_admins(lan):
    with client(lan, BOB) as bob, client(lan, ALICE) as alice:
        refused = bob.post("/sdapi/v1/options", json={"CLIP_stop_at_last_layers": 2})
        assert refused.status_code == 403 and "admin" in refused.json()["detail"]
        assert bob.post("/sdapi/v1/unload-checkpoint").status_code == 403
        assert alice.post("/sdapi/v1/options", json={"CLIP_stop_at_last_layers": 1}).status_code == 200
        # bob's own request may still name its checkpoint; the server's model stays as it was for everyone
        before = alice.get("/sdapi/v1/options").json()["sd_model_checkpoint"]
        other = next(m["title"] for m in bob.get("/sdapi/v1/sd-models").json() if m["title"] != before)
        job = bob.post("/sdapi/v1/txt2img", json=tiny_job(override_settings={"sd_model_checkpoint": other},
                                                         override_settings_restore_afterwards=False))
        assert job.status_code == 200 and other.split(" [")[0].removesuffix(".safetensors") in job.json()["info"]
        assert "needs an admin" in job.json()["info"]
        assert alice.get("/sdapi/v1/options").json()["sd_model_checkpoint"] == before


def run_in_thread(function):
    result: dict = {}
    thread = threading.Thread(target=lambda: result.update(response=function()), daemon=True)
    thread.start()
    return thread, result


def wait_until(condition, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_an_admin_sees_and_may_stop_anyones_job_and_the_owner_may_stop_it(lan):
    with client(lan, BOB) as bob, client(lan, ALICE) as alice:
        thread, result = run_in_thread(lambda: bob.post("/sdapi/v1/txt2img", json=tiny_job(steps=150)))
        assert wait_until(lambda: bob.get("/sdapi/v1/progress").json()["state"]["sampling_step"] > 0)
        assert alice.get("/sdapi/v1/progress").json()["state"]["job"] != ""  # an admin sees it in detail
        assert alice.post("/sdapi/v1/skip").status_code == 200
        assert bob.post("/sdapi/v1/interrupt").status_code == 200
        thread.join(60)
        assert result["response"].status_code == 200


def test_another_user_cannot_interrupt_and_sees_only_a_count(lan_pair):
    server = lan_pair
    with client(server, ("erin", "pe")) as erin, client(server, ("dan", "pd")) as dan:
        thread, result = run_in_thread(lambda: erin.post("/sdapi/v1/txt2img", json=tiny_job(steps=150)))
        assert wait_until(lambda: erin.get("/sdapi/v1/progress").json()["state"]["sampling_step"] > 0)
        seen = dan.get("/sdapi/v1/progress").json()
        assert seen["state"]["job"] == "" and seen["current_image"] is None and seen["progress"] == 0.0
        refused = dan.post("/sdapi/v1/interrupt")
        assert refused.status_code == 403 and "another user" in refused.json()["detail"]
        assert dan.post("/sdapi/v1/skip").status_code == 403
        waiting, waiting_result = run_in_thread(lambda: dan.post("/sdapi/v1/txt2img", json=tiny_job()))
        assert wait_until(lambda: dan.get("/sdapi/v1/progress").json()["textinfo"] == "1 ahead of you")
        assert erin.get("/sdapi/v1/progress").json()["state"]["sampling_step"] > 0  # still running
        assert erin.post("/sdapi/v1/interrupt").status_code == 200
        thread.join(60)
        waiting.join(60)
        assert result["response"].status_code == 200 and waiting_result["response"].status_code == 200
        assert len(result["response"].json()["images"]) == 1  # stopped by its owner: what was made (A1111)


@pytest.fixture(scope="module")
def lan_pair(tmp_path_factory, tiny_checkpoint):
    """A second server: two ordinary users and an admin nobody uses, at most 2 waiting jobs each."""
    yield from start_lan_server(tmp_path_factory.mktemp("lan-pair"), tiny_checkpoint,
                                ("--gradio-auth", "root:pr,dan:pd,erin:pe", "--admin-users", "root",
                                 "--queue-per-user", "2"))


def test_a_full_share_of_the_queue_is_429_with_retry_after(lan_pair):
    with client(lan_pair, ("dan", "pd")) as dan, client(lan_pair, ("erin", "pe")) as erin:
        running, _ = run_in_thread(lambda: erin.post("/sdapi/v1/txt2img", json=tiny_job(steps=150)))
        assert wait_until(lambda: erin.get("/sdapi/v1/progress").json()["state"]["sampling_step"] > 0)
        waiting = [run_in_thread(lambda: dan.post("/sdapi/v1/txt2img", json=tiny_job())) for _ in range(2)]
        assert wait_until(lambda: len([j for j in dan.get("/kestrel/v1/jobs").json() if j["state"] == "queued"]) == 2)
        full = dan.post("/sdapi/v1/txt2img", json=tiny_job())
        assert full.status_code == 429 and int(full.headers["retry-after"]) >= 1
        assert "limit per user is 2" in full.json()["detail"]
        erin.post("/sdapi/v1/interrupt")
        running.join(60)
        for thread, result in waiting:
            thread.join(60)
            assert result["response"].status_code == 200


def test_turns_between_users_under_concurrent_load(lan_pair):
    """4 clients: dan floods 3 jobs at once, erin and root send theirs while dan's first runs; nobody waits for all
    of dan's jobs, and every job comes back exactly once with its own seed."""
    users = {"dan": "pd", "erin": "pe", "root": "pr"}
    finished: list[tuple[str, int, float]] = []
    lock = threading.Lock()

    def submit(user: str, seed: int, steps: int = 2):
        with client(lan_pair, (user, users[user])) as http:
            response = http.post("/sdapi/v1/txt2img", json=tiny_job(seed=seed, steps=steps))
        assert response.status_code == 200, response.text
        with lock:
            finished.append((user, response.json()["parameters"]["seed"], time.monotonic()))

    with client(lan_pair, ("erin", "pe")) as erin:
        blocker = threading.Thread(target=submit, args=("erin", 1, 60))
        blocker.start()
        assert wait_until(lambda: erin.get("/sdapi/v1/progress").json()["state"]["sampling_step"] > 0)
    threads = [threading.Thread(target=submit, args=("dan", 100 + i)) for i in range(2)]
    for thread in threads:
        thread.start()
    with client(lan_pair, ("dan", "pd")) as dan:
        assert wait_until(lambda: len(dan.get("/kestrel/v1/jobs").json()) >= 2)
    late = [threading.Thread(target=submit, args=("root", 300)), threading.Thread(target=submit, args=("erin", 200))]
    for thread in late:
        thread.start()
        time.sleep(0.2)
    for thread in [blocker, *threads, *late]:
        thread.join(120)
    order = [user for user, _, _ in sorted(finished, key=lambda item: item[2])]
    seeds = sorted(seed for _, seed, _ in finished)
    assert seeds == [1, 100, 101, 200, 300]
    # after erin's blocker: dan (first to wait), root (never served), then dan's second before erin's (just served)
    assert order[0] == "erin" and order[1] == "dan" and order.index("root") < order.index("erin", 1)
    assert order.index("root") < [i for i, user in enumerate(order) if user == "dan"][1]


def test_a_client_that_goes_away_keeps_its_job_in_its_history(lan):
    with client(lan, BOB) as bob:
        with pytest.raises(httpx.TimeoutException):
            bob.post("/sdapi/v1/txt2img", json=tiny_job(steps=150, width=128, height=128, seed=4242), timeout=0.5)

        def the_abandoned_job():
            for listed in bob.get("/kestrel/v1/jobs").json():
                if listed["state"] == "done" and listed["image_count"] == 1:
                    job = bob.get(f"/kestrel/v1/jobs/{listed['id']}").json()
                    if "Seed: 4242," in job["infotexts"][0]:
                        return job
            return None
        assert wait_until(lambda: the_abandoned_job() is not None, timeout=60)
        job = the_abandoned_job()
        assert base64.b64decode(job["images"][0]).startswith(b"\x89PNG")
        with client(lan, ALICE) as alice:  # admins may look
            assert alice.get(f"/kestrel/v1/jobs/{job['id']}").status_code == 200


def test_path_traversal_on_every_file_route(lan):
    data = lan.data
    secrets = [data / "config.json", data / "models" / "Stable-diffusion" / "anything-tiny.safetensors"]
    cached = uploaded_cache_file(lan)
    attempts = []
    for route in ("/gradio_api/file=", "/file=", "/gradio_api/file/"):
        for target in [str(secrets[0]), str(secrets[1]), "/etc/passwd", f"{cached}/../../../etc/passwd",
                       cached.replace("/", "%2F").replace(".", "%2e") + "%2F..%2F..%2F..%2Fetc%2Fpasswd",
                       "..%252f..%252f..%252fetc%252fpasswd", "..\\..\\..\\etc\\passwd",
                       "C:\\Windows\\win.ini", f"{cached}::$DATA", "http://169.254.169.254/latest/meta-data/"]:
            attempts.append(route + target)
    attempts += ["/static/../../../etc/passwd", "/assets/..%2f..%2f..%2fetc%2fpasswd",
                 "/gradio_api/static/..%2f..%2fconfig.json", "/sdapi/v1/../../config.json"]
    with client(lan, ALICE) as alice:
        for path in attempts:
            response = alice.get(path)
            assert response.status_code in (403, 404, 405, 422), (path, response.status_code)
            assert b"root:x:" not in response.content and b"sd_model_checkpoint" not in response.content


def test_uploads_are_capped_and_must_be_images(lan):
    with client(lan, BOB) as bob:
        huge = bob.post("/sdapi/v1/png-info", json={"image": base64.b64encode(b"x" * (2 * 1024 * 1024)).decode()})
        assert huge.status_code == 413
        not_image = bob.post("/sdapi/v1/png-info", json={"image": base64.b64encode(b"MZ\x90\x00" * 10).decode()})
        assert not_image.status_code == 422 and "not an image" in not_image.json()["detail"]
        bomb = io.BytesIO()
        Image.new("1", (20000, 20000)).save(bomb, format="PNG")  # 400 megapixels, a few hundred KB compressed
        assert bomb.tell() < 1024 * 1024
        refused = bob.post("/sdapi/v1/png-info", json={"image": base64.b64encode(bomb.getvalue()).decode()})
        assert refused.status_code == 422 and "pixels" in refused.json()["detail"]
        upload = bob.post("/gradio_api/upload", files={"files": ("big.bin", b"x" * (2 * 1024 * 1024))})
        assert upload.status_code == 413


def test_cross_site_requests_are_refused(lan):
    with client(lan, BOB) as bob:
        forged = bob.post("/sdapi/v1/txt2img", json=tiny_job(), headers={"Origin": "http://evil.example"})
        assert forged.status_code == 403 and "cross-origin" in forged.json()["detail"]
        assert "access-control-allow-origin" not in bob.options(
            "/sdapi/v1/txt2img", headers={"Origin": "http://evil.example",
                                          "Access-Control-Request-Method": "POST"}).headers


def test_the_webuiapi_client_logs_in_with_basic_auth(lan):
    api = webuiapi.WebUIApi(host="127.0.0.1", port=lan.port, sampler="Euler a", steps=2)
    api.set_auth("bob", "pb")
    result = api.txt2img(prompt="a cat", width=64, height=64, seed=5)
    assert result.image.size == (64, 64) and result.info["seed"] == 5


def test_a_small_load_run_loses_nothing_and_takes_turns(tmp_path):
    """bench/lan_load.py at CI size: 6 accounts x 3 jobs, all waiting together behind one long job, one client
    polling /progress, and 2 clients that go away while their job waits: their jobs still run and stay in their
    history."""
    from bench.lan_load import gradio_auth, leaver_names, run
    from tests.support.server import Server

    users = [f"user{index}" for index in range(6)]
    leavers = leaver_names(2)
    server = Server(tmp_path, tmp_path / "server.log", ("--api", "--gradio-auth", gradio_auth(users + leavers)))
    server.wait_ready()
    try:
        report = run(server, users, 3, pollers=1, leavers=leavers)
    finally:
        server.stop()
    assert (report.done, report.failures, report.duplicated, report.lost) == (18, (), 0, 0)
    assert report.busiest_first_round == 1
    assert (report.leavers, report.left_waiting, report.leavers_in_history) == (2, 2, 2)
    assert report.progress.answered > 0 and report.progress.failed == 0
    assert report.after.fds <= report.before.fds + 5, "connections of finished and departed clients are closed"


def test_a_gradio_session_stream_belongs_to_the_user_who_opened_it(lan):
    with client(lan, ALICE) as alice, client(lan, BOB) as bob:
        with alice.stream("GET", "/gradio_api/queue/data", params={"session_hash": "alice-tab-1"}) as stream:
            assert stream.status_code == 200
        refused = bob.get("/gradio_api/queue/data", params={"session_hash": "alice-tab-1"})
        assert refused.status_code == 403 and "another user" in refused.json()["detail"]
        assert bob.get("/gradio_api/heartbeat/alice-tab-1").status_code == 403
