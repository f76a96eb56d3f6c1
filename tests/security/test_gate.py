"""The security gate on a small app with the same route shapes as the real one (page, Gradio files, /sdapi)."""

import base64
import os
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from webui.api.gate import GatePolicy, SecurityGate, file_allowed
from webui.security.client_address import TrustedProxies, parse_networks
from webui.security.request_caller import caller_of_scope
from webui.security.sessions import SessionStore
from webui.security.setup import LoginFlags, build_accounts
from webui.security.throttle import LoginThrottle, ThrottlePolicy


def whoami(request: Request):
    caller = caller_of_scope(request.scope)
    return JSONResponse({"name": caller.name, "admin": caller.is_admin})


async def echo_body(request: Request):
    return PlainTextResponse(str(len(await request.body())))


def serve_file(request: Request):
    return FileResponse(request.path_params["path"])


async def socket(websocket):
    await websocket.accept()
    await websocket.send_text("hi")
    await websocket.close()


async def stream_a_cached_path(request: Request):
    """Like Gradio's queue stream: an event naming a cached file, for whoever asked."""
    async def events():
        yield f'data: {{"msg": "process_completed", "path": "{request.query_params["path"]}"}}\n\n'.encode()
    return StreamingResponse(events(), media_type="text/event-stream")


def inner_app() -> Starlette:
    return Starlette(routes=[Route("/gradio_api/queue/events", stream_a_cached_path),
        Route("/", whoami), Route("/sdapi/v1/whoami", whoami), Route("/sdapi/v1/echo", echo_body, methods=["POST"]),
        Route("/internal/ping", whoami), Route("/gradio_api/file={path:path}", serve_file),
        WebSocketRoute("/ws", socket)])


@pytest.fixture
def cache(tmp_path) -> Path:
    folder = tmp_path / "gradio-cache" / "0123abcd"
    folder.mkdir(parents=True)
    (folder / "image.png").write_bytes(b"png bytes")
    return folder.parent


def gate(tmp_path, cache, **flags) -> TestClient:
    accounts = build_accounts(LoginFlags(**flags), tmp_path / "data", lambda text: None)
    policy = GatePolicy(accounts, SessionStore(), LoginThrottle(ThrottlePolicy(free_failures=3)), (cache,),
                        allowed_origins=("http://good.example",), max_body_bytes=1024)
    return TestClient(SecurityGate(inner_app(), policy), base_url="http://testserver")


def basic(name: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{name}:{password}".encode()).decode()}


USERS = {"gradio_auth": (("alice", "pa"), ("bob", "pb"))}


def test_without_logins_everyone_is_the_local_admin(tmp_path, cache):
    client = gate(tmp_path, cache)
    assert client.get("/").json() == {"name": None, "admin": True}
    assert client.get("/login", follow_redirects=False).status_code == 303


def test_the_page_redirects_to_the_login_form_and_the_form_opens_a_session(tmp_path, cache):
    client = gate(tmp_path, cache, **USERS)
    page = client.get("/?x=1", headers={"Accept": "text/html"}, follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"] == "/login?next=%2F%3Fx%3D1"
    assert client.get("/", headers={"Accept": "application/json"}).status_code == 401
    wrong = client.post("/login", data={"username": "alice", "password": "nope", "next": "/"})
    assert wrong.status_code == 401 and "Incorrect username or password" in wrong.text
    right = client.post("/login", data={"username": "alice", "password": "pa", "next": "/?x=1"},
                        follow_redirects=False)
    assert right.status_code == 303 and right.headers["location"] == "/?x=1"
    cookie = right.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert client.get("/").json() == {"name": "alice", "admin": True}
    client.get("/logout")
    assert client.get("/").status_code == 401


def test_login_never_redirects_off_site(tmp_path, cache):
    client = gate(tmp_path, cache, **USERS)
    for target in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
        response = client.post("/login", data={"username": "bob", "password": "pb", "next": target},
                               follow_redirects=False)
        assert response.headers["location"] == "/"


def test_api_takes_basic_credentials_and_api_auth_replaces_them(tmp_path, cache):
    client = gate(tmp_path, cache, **USERS)
    assert client.get("/sdapi/v1/whoami").status_code == 401
    assert client.get("/sdapi/v1/whoami").headers["www-authenticate"].startswith("Basic")
    assert client.get("/sdapi/v1/whoami", headers=basic("bob", "pb")).json() == {"name": "bob", "admin": False}
    separate = gate(tmp_path, cache, api_auth=(("bot", "pk"),), **USERS)
    assert separate.get("/sdapi/v1/whoami", headers=basic("bob", "pb")).status_code == 401
    assert separate.get("/sdapi/v1/whoami", headers=basic("bot", "pk")).json()["name"] == "bot"
    api_only = gate(tmp_path, cache, api_auth=(("bot", "pk"),))  # A1111: --api-auth alone leaves the page open
    assert api_only.get("/").status_code == 200 and api_only.get("/sdapi/v1/whoami").status_code == 401


def test_an_account_with_too_many_failures_is_refused_even_for_the_right_password(tmp_path, cache):
    client = gate(tmp_path, cache, **USERS)
    for _ in range(3):
        assert client.get("/sdapi/v1/whoami", headers=basic("alice", "guess")).status_code == 401
    locked = client.get("/sdapi/v1/whoami", headers=basic("alice", "pa"))
    assert locked.status_code == 429 and int(locked.headers["retry-after"]) >= 1
    form = client.post("/login", data={"username": "alice", "password": "pa"})
    assert form.status_code == 429 and "Too many failed logins" in form.text
    assert client.get("/internal/ping").json() == {"name": None, "admin": False}  # public: anonymous, no rights


def test_malformed_basic_headers_are_a_plain_401(tmp_path, cache):
    client = gate(tmp_path, cache, **USERS)
    for header in ("Basic !!!", "Basic " + base64.b64encode(b"\xff\xfe").decode(), "Bearer abc"):
        assert client.get("/sdapi/v1/whoami", headers={"Authorization": header}).status_code == 401


TRAVERSALS = ["/etc/passwd", "../../../../etc/passwd", "%2e%2e/%2e%2e/etc/passwd", "%252e%252e%252fetc%252fpasswd",
              "{cache}/../secret.txt", "{cache}/%2e%2e/secret.txt", "{cache}/0123abcd/..%2f..%2fsecret.txt",
              "{cache}\\..\\secret.txt", "C:\\Windows\\win.ini", "C:/x/secret.txt::$DATA", "{cache}/link.txt",
              "http://169.254.169.254/latest/meta-data", "{cache}/0123abcd/image.png%00.txt", "{data}/auth.json"]


def test_file_routes_serve_the_cache_and_nothing_else(tmp_path, cache):
    client = gate(tmp_path, cache)
    secret = tmp_path / "secret.txt"
    secret.write_text("do not serve")
    os.symlink(secret, cache / "link.txt")
    client.get("/")  # creates nothing, but the data dir exists after the first build
    assert client.get(f"/gradio_api/file={cache}/0123abcd/image.png").content == b"png bytes"
    for pattern in TRAVERSALS:
        target = pattern.format(cache=cache, data=tmp_path / "data")
        response = client.get(f"/gradio_api/file={target}")
        assert response.status_code in (403, 404), (target, response.status_code)
        assert b"do not serve" not in response.content


def test_a_cached_file_is_served_only_to_the_accounts_it_was_shown_to_and_admins(tmp_path, cache):
    client = gate(tmp_path, cache, gradio_auth=(("alice", "pa"), ("bob", "pb"), ("carol", "pc")),
                  admin_users=("alice",))
    url = f"/gradio_api/file={cache}/0123abcd/image.png"
    assert client.get(url, headers=basic("bob", "pb")).status_code == 403  # shown to nobody yet: admins only
    assert client.get(url, headers=basic("alice", "pa")).content == b"png bytes"
    shown = client.get("/gradio_api/queue/events", params={"path": f"{cache}/0123abcd/image.png"},
                       headers=basic("bob", "pb"))
    assert shown.status_code == 200 and "0123abcd" in shown.text
    assert client.get(url, headers=basic("bob", "pb")).content == b"png bytes"
    refused = client.get(url, headers=basic("carol", "pc"))
    assert refused.status_code == 403 and "not shown to 'carol'" in refused.json()["detail"]


def test_hsts_and_the_forwarded_client_only_behind_a_trusted_proxy(tmp_path, cache):
    accounts = build_accounts(LoginFlags(), tmp_path / "data", lambda text: None)
    seen = {}

    async def client_of(request: Request):
        seen.update(client=request.client.host, scheme=request.url.scheme)
        return PlainTextResponse("ok")

    inner = Starlette(routes=[Route("/", client_of)])
    for networks, expected in (((), "127.0.0.1"), (parse_networks("127.0.0.0/8"), "203.0.113.5")):
        policy = GatePolicy(accounts, SessionStore(), LoginThrottle(), (cache,), hsts=True,
                            proxies=TrustedProxies(networks))
        answer = TestClient(SecurityGate(inner, policy), client=("127.0.0.1", 5000)).get(
            "/", headers={"X-Forwarded-For": "203.0.113.5", "X-Forwarded-Proto": "https"})
        assert answer.headers["strict-transport-security"] == "max-age=31536000"
        assert seen["client"] == expected and seen["scheme"] == ("https" if networks else "http")


def test_file_allowed_is_strict():
    root = Path("/tmp/gradio")
    assert file_allowed("/tmp/gradio/abc/x.png", (root,))
    assert not file_allowed("/tmp/gradio-evil/x.png", (root,))
    assert not file_allowed("tmp/gradio/x.png", (root,))


def test_cross_site_writes_and_sockets_are_refused(tmp_path, cache):
    client = gate(tmp_path, cache)
    assert client.post("/sdapi/v1/echo", content=b"x", headers={"Origin": "http://evil.example"}).status_code == 403
    assert client.post("/sdapi/v1/echo", content=b"x", headers={"Origin": "null"}).status_code == 403
    assert client.post("/sdapi/v1/echo", content=b"x", headers={"Origin": "http://testserver"}).text == "1"
    assert client.post("/sdapi/v1/echo", content=b"x", headers={"Origin": "http://good.example"}).text == "1"
    assert client.get("/", headers={"Origin": "http://evil.example"}).status_code == 200  # reads are the browser's job
    with pytest.raises(WebSocketDisconnect):
        with client.websocket_connect("/ws", headers={"Origin": "http://evil.example"}) as ws:
            ws.receive_text()
    with client.websocket_connect("/ws", headers={"Origin": "http://testserver"}) as ws:
        assert ws.receive_text() == "hi"


def test_sockets_need_a_login_too(tmp_path, cache):
    client = gate(tmp_path, cache, **USERS)
    with pytest.raises(WebSocketDisconnect):
        with client.websocket_connect("/ws") as ws:
            ws.receive_text()
    with client.websocket_connect("/ws", headers=basic("bob", "pb")) as ws:
        assert ws.receive_text() == "hi"


def test_bodies_over_the_cap_are_refused(tmp_path, cache):
    client = gate(tmp_path, cache)
    assert client.post("/sdapi/v1/echo", content=b"x" * 1024).text == "1024"
    assert client.post("/sdapi/v1/echo", content=b"x" * 1025).status_code == 413

    def chunks():
        for _ in range(5):
            yield b"y" * 400
    assert client.post("/sdapi/v1/echo", content=chunks()).status_code == 413  # chunked, no Content-Length
    assert client.post("/sdapi/v1/echo", content=iter([b"z" * 600, b"z" * 400])).text == "1000"
