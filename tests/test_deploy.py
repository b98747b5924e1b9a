"""The deployment kit in deploy/, each piece run for real.

- nginx (deploy/nginx/budgetbot.conf): Debian's nginx, started here as a non-daemon with a prefix, ports and
  throwaway TLS certificate of its own, the site rendered into a copy of Debian's own nginx.conf. In front of
  a real `budgetbot serve` (LINE and Telegram on, against the fake APIs) it serves the public routes and
  hides the private ones; in front of a recording upstream it shows exactly what reaches the app: the
  client's address as nginx saw it, nothing of an oversized or slow request, nothing past the rate limit.
- systemd (deploy/*.service, *.timer): `systemd-analyze verify` (no running systemd needed), and the unit's
  own command line and environment (Environment=, the EnvironmentFile from budgetbot.env.example) starting
  the server as an unprivileged user that cannot write the checkout.
- Backups (deploy/backup, deploy/restore): data written through the app's storage on SQLite and PostgreSQL,
  backed up, changed, restored, and back; the SQLite copy taken while a writer holds a transaction open.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import pwd
import re
import shlex
import shutil
import signal
import socket
import sqlite3
import ssl
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web
from sqlalchemy import select

from bot.answer import Answer, AnswerKind
from bot.conversation import ConversationState
from bot.settings import DEFAULT_SOURCES_DIR, Settings
from bot.storage import Database, SqlConversationStore, SqlEventLedger, SqlQuestionLog
from bot.storage.models import QuestionLogEntry
from tests.fakes.background import BackgroundServer
from tests.fakes.fake_line import FakeLine, signed_webhook, text_event, user_source
from tests.fakes.fake_telegram import FakeTelegram, text_update
from tests.support.server import base_env, free_port, running_server

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
DEPLOY = REPO / "deploy"
SITE = DEPLOY / "nginx" / "budgetbot.conf"
DEBIAN_NGINX_CONF = Path("/etc/nginx/nginx.conf")
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
INSTALLED_AT = "/opt/budgetbot"  # where the units and the README put the checkout
STATE_DIR = "/var/lib/budgetbot"

SALT = "deploy-test-salt-0123456789abcdef"
LINE_SECRET = "deploy-line-channel-secret-0123"
LINE_TOKEN = "deploy-line-access-token"
TELEGRAM_TOKEN = "7012345678:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw-deploy"
TELEGRAM_SECRET = "deploy_Webhook-secret_0123456789"
ADMIN_TOKEN = "deploy-admin-token-0123456789"
MAX_BODY = 1_000_000  # BUDGETBOT_MAX_BODY_BYTES's default, which the site's client_max_body_size matches
APP_RATE_PER_CLIENT = 10  # /api/ask a minute per client, in the app behind nginx (nginx's own is looser)


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def require(tool: str) -> str:
    """The tool's path; a skip locally, a failure under CI (where scripts/install-deploy-tools must have run)."""
    found = shutil.which(tool) or (tool if os.access(tool, os.X_OK) else None)  # /usr/sbin may not be on PATH
    if found is None:
        message = f"{tool} is not installed (scripts/install-deploy-tools installs it)"
        if _in_ci():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return found


def substitute(text: str, old: str, new: str, *, where: Path, count: int = 1) -> str:
    """Replace `old`, which must occur exactly `count` times: if a deploy file changes shape, the test says so
    rather than quietly testing something else."""
    found = text.count(old)
    assert found == count, f"expected {count} x {old!r} in {where}, found {found}: update tests/test_deploy.py"
    return text.replace(old, new)


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout}s: {what}"
        time.sleep(0.05)


# --- a throwaway certificate -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Certificate:
    cert: Path
    key: Path

    def context(self) -> ssl.SSLContext:
        """A client context that trusts only this certificate (and checks it: no verify=False here)."""
        return ssl.create_default_context(cafile=str(self.cert))


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    openssl = require("openssl")
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "fullchain.pem", directory / "privkey.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        + ["-days", "2", "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"]
        + ["-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    return Certificate(cert, key)


# --- nginx with the site, as a process of the test's own ----------------------------------------------------


@dataclass
class Nginx:
    prefix: Path
    http_port: int
    https_port: int
    process: subprocess.Popen[bytes]
    certificate: Certificate

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.https_port}"

    def client(self, *, source: str = "127.0.0.1") -> httpx.Client:
        """An HTTPS client connecting from `source` (any 127.x.y.z is this machine: a client of its own)."""
        transport = httpx.HTTPTransport(verify=self.certificate.context(), local_address=source)
        return httpx.Client(base_url=self.url, transport=transport, timeout=30)

    def raw(self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None) -> int:
        """One request with the path exactly as written (httpx would normalize /./ and ..); its status."""
        connection = http.client.HTTPSConnection(
            "127.0.0.1", self.https_port, context=self.certificate.context(), timeout=30
        )
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            response.read()
            return response.status
        finally:
            connection.close()

    def tls_socket(self) -> ssl.SSLSocket:
        raw = socket.create_connection(("127.0.0.1", self.https_port), timeout=30)
        return self.certificate.context().wrap_socket(raw, server_hostname="localhost")

    def log(self) -> str:
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')}" for p in sorted(self.prefix.glob("*.log")) if p.is_file()
        )


def render_site(
    *, upstream_port: int | None, http_port: int | None, https_port: int | None, certificate: Certificate, webroot: Path
) -> str:
    """The site file with what an operator fills in (certificate, webroot) and, to run it here, loopback ports
    of the test's own (None keeps the shipped value)."""
    text = SITE.read_text(encoding="utf-8")
    text = substitute(
        text, "/etc/letsencrypt/live/budgetbot.example.org/fullchain.pem", str(certificate.cert), where=SITE
    )
    text = substitute(text, "/etc/letsencrypt/live/budgetbot.example.org/privkey.pem", str(certificate.key), where=SITE)
    text = substitute(text, "root /var/www/html;", f"root {webroot};", where=SITE)
    if upstream_port is not None:
        text = substitute(text, "server 127.0.0.1:8000;", f"server 127.0.0.1:{upstream_port};", where=SITE)
    if http_port is not None:
        text = substitute(text, "listen 80;", f"listen 127.0.0.1:{http_port};", where=SITE)
        text = substitute(text, "listen [::]:80;", "", where=SITE)  # this machine may have no IPv6
    if https_port is not None:
        text = substitute(text, "listen 443 ssl http2;", f"listen 127.0.0.1:{https_port} ssl http2;", where=SITE)
        text = substitute(text, "listen [::]:443 ssl http2;", "", where=SITE)
    return text


def render_main_config(prefix: Path, site: Path) -> str:
    """Debian's own nginx.conf, with everything that is global state (pid, logs, temp files, the machine's
    other sites) moved into `prefix`, and only our site enabled."""
    text = DEBIAN_NGINX_CONF.read_text(encoding="utf-8")
    where = DEBIAN_NGINX_CONF
    if os.geteuid() != 0:
        text = substitute(text, "user www-data;", "", where=where)  # only root can switch users
    text = substitute(text, "pid /run/nginx.pid;", f"pid {prefix}/nginx.pid;", where=where)
    text = substitute(text, "error_log /var/log/nginx/error.log;", f"error_log {prefix}/error.log;", where=where)
    text = substitute(text, "access_log /var/log/nginx/access.log;", f"access_log {prefix}/access.log;", where=where)
    text = substitute(text, "include /etc/nginx/conf.d/*.conf;", "", where=where)
    temp_paths = "".join(
        f"{kind}_temp_path {prefix}/{kind}_temp;\n" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return substitute(text, "include /etc/nginx/sites-enabled/*;", f"{temp_paths}include {site};", where=where)


def nginx_prefix() -> Path:
    # Not under pytest's tmp_path (mode 700 up the tree): nginx's workers run as www-data when root starts it.
    prefix = Path(tempfile.mkdtemp(prefix="budgetbot-nginx-"))
    prefix.chmod(0o755)
    return prefix


def nginx_command(prefix: Path, *args: str) -> list[str]:
    return [NGINX, "-p", f"{prefix}/", "-c", str(prefix / "nginx.conf"), "-e", str(prefix / "startup.log"), *args]


@contextmanager
def running_nginx(upstream_port: int, certificate: Certificate, *, timeout: float = 30.0) -> Iterator[Nginx]:
    prefix = nginx_prefix()
    webroot = prefix / "webroot"
    webroot.mkdir()
    try:
        for attempt in range(3):  # a port found free may be taken by another checkout before nginx binds it
            http_port, https_port = free_port(), free_port()
            site = prefix / "budgetbot.conf"
            site.write_text(
                render_site(
                    upstream_port=upstream_port,
                    http_port=http_port,
                    https_port=https_port,
                    certificate=certificate,
                    webroot=webroot,
                )
            )
            (prefix / "nginx.conf").write_text(render_main_config(prefix, site))
            with open(prefix / "stdout.log", "wb") as out:
                process = subprocess.Popen(
                    nginx_command(prefix, "-g", "daemon off;"),
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # its workers go with it in _stop_nginx
                )
            nginx = Nginx(prefix, http_port, https_port, process, certificate)
            pid_file = prefix / "nginx.pid"
            deadline = time.monotonic() + timeout
            # nginx writes its pid file once it listens; a port it cannot bind makes it exit instead.
            while process.poll() is None and not pid_file.exists():
                if time.monotonic() > deadline:
                    _stop_nginx(process)
                    raise RuntimeError(f"nginx not started in {timeout}s:\n{nginx.log()}")
                time.sleep(0.05)
            if process.poll() is None:
                break
            if attempt == 2 or "Address already in use" not in nginx.log():
                raise RuntimeError(f"nginx exited with {process.returncode}:\n{nginx.log()}")
            pid_file.unlink(missing_ok=True)
        try:
            yield nginx
        finally:
            _stop_nginx(process)
    finally:
        shutil.rmtree(prefix, ignore_errors=True)


def _stop_nginx(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGQUIT)  # graceful: workers finish their requests
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)  # the group of the nginx this test started, workers included
            process.wait()


# --- an upstream that records what nginx passes on ----------------------------------------------------------


@dataclass(frozen=True)
class Received:
    method: str
    raw_path: str
    headers: list[tuple[str, str]]
    body_size: int

    def header(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name.lower()]


class RecordingUpstream(BackgroundServer):
    """Stands where the app would: records each request it gets and answers 200. While `held` is set,
    requests wait (up to a minute) until it is cleared, like an app busy answering."""

    thread_name = "recording-upstream"

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self.received: list[Received] = []
        self.held = threading.Event()
        self.waiting = 0

    def make_app(self) -> web.Application:
        app = web.Application(client_max_size=4 * MAX_BODY)  # the limit under test is nginx's, not ours

        async def record(request: web.Request) -> web.Response:
            body = await request.read()
            with self._lock:
                self.received.append(
                    Received(request.method, request.raw_path, list(request.headers.items()), len(body))
                )
                self.waiting += 1
            try:
                deadline = time.monotonic() + 60
                while self.held.is_set() and time.monotonic() < deadline:
                    await asyncio.sleep(0.02)
            finally:
                with self._lock:
                    self.waiting -= 1
            return web.json_response({"ok": True})

        app.router.add_route("*", "/{tail:.*}", record)
        return app

    def clear(self) -> None:
        with self._lock:
            self.received.clear()

    def paths(self) -> list[str]:
        with self._lock:
            return [r.raw_path for r in self.received]


@pytest.fixture(scope="module")
def upstream() -> Iterator[RecordingUpstream]:
    with RecordingUpstream() as recorder:
        yield recorder


@pytest.fixture(scope="module")
def recorded_edge(upstream: RecordingUpstream, certificate: Certificate) -> Iterator[Nginx]:
    """nginx in front of the recording upstream."""
    require(NGINX)
    with running_nginx(upstream.port, certificate) as nginx:
        yield nginx


@pytest.fixture
def fresh_edge(upstream: RecordingUpstream, certificate: Certificate) -> Iterator[Nginx]:
    """nginx in front of the recording upstream, with its rate-limit counters at zero."""
    require(NGINX)
    upstream.clear()
    with running_nginx(upstream.port, certificate) as nginx:
        yield nginx


@pytest.fixture(autouse=True)
def _clear_upstream(request: pytest.FixtureRequest) -> None:
    if "upstream" in request.fixturenames:
        request.getfixturevalue("upstream").clear()


# --- the real server behind nginx ---------------------------------------------------------------------------


@dataclass
class Stack:
    app: str  # the app's own address (127.0.0.1:port): what an operator reaches over ssh
    nginx: Nginx
    line: FakeLine
    telegram: FakeTelegram


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, certificate: Certificate) -> Iterator[Stack]:
    require(NGINX)
    home = tmp_path_factory.mktemp("app")
    with FakeLine(access_token=LINE_TOKEN) as line, FakeTelegram(token=TELEGRAM_TOKEN) as telegram:
        env = base_env(home)
        env.update(
            {
                "BUDGETBOT_USER_HASH_SALT": SALT,
                "BUDGETBOT_ADMIN_TOKEN": ADMIN_TOKEN,
                "BUDGETBOT_API_DOCS": "true",  # the docs exist on the app's port, so hiding them is tested
                "BUDGETBOT_ASK_RATE_PER_CLIENT": str(APP_RATE_PER_CLIENT),
                "BUDGETBOT_WATCH_KNOWLEDGE": "false",
                "LINE_CHANNEL_SECRET": LINE_SECRET,
                "LINE_CHANNEL_ACCESS_TOKEN": LINE_TOKEN,
                "LINE_API_BASE_URL": line.url,
                "LINE_DATA_API_BASE_URL": line.url,
                "TELEGRAM_BOT_TOKEN": TELEGRAM_TOKEN,
                "TELEGRAM_WEBHOOK_SECRET": TELEGRAM_SECRET,
                "TELEGRAM_API_BASE_URL": telegram.base_url,
            }
        )
        with running_server(env, home) as server:
            port = int(server.base_url.rsplit(":", 1)[1])
            with running_nginx(port, certificate) as nginx:
                yield Stack(server.base_url, nginx, line, telegram)


# ============================================================================================================
# nginx
# ============================================================================================================


def test_debians_nginx_accepts_the_site_as_shipped(certificate: Certificate) -> None:
    """`nginx -t` on the file as an operator installs it: only the certificate filled in, ports 80 and 443,
    inside Debian's own nginx.conf (which it must not contradict, e.g. by repeating an http-level setting)."""
    require(NGINX)
    prefix = nginx_prefix()
    try:
        site = prefix / "budgetbot.conf"
        site.write_text(
            render_site(upstream_port=None, http_port=None, https_port=None, certificate=certificate, webroot=prefix)
        )
        (prefix / "nginx.conf").write_text(render_main_config(prefix, site))
        result = subprocess.run(nginx_command(prefix, "-t"), capture_output=True, text=True, timeout=60)
        output = result.stdout + result.stderr
        assert result.returncode == 0, output
        assert "test is successful" in output, output
        assert "[warn]" not in output, output
    finally:
        shutil.rmtree(prefix, ignore_errors=True)


def test_public_routes_work_through_nginx(stack: Stack) -> None:
    with stack.nginx.client() as https:
        page = https.get("/")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert "Strict-Transport-Security" in page.headers
        assert "nginx/" not in page.headers.get("server", "")  # server_tokens off: no version
        for path, media in (("/static/console.js", "text/javascript"), ("/static/console.css", "text/css")):
            response = https.get(path)
            assert response.status_code == 200, path
            assert response.headers["content-type"].startswith(media)

        answer = https.post("/api/ask", json={"question": "ปีงบ 66 ยังยื่นได้ไหม"})
        assert answer.status_code == 200, answer.text
        assert answer.json()["kind"] == "fiscal_year_status"
        assert answer.json()["fiscal_year"] == 2566

        # LINE: the signature is over the raw body, so this also shows nginx passes it on byte for byte.
        event = text_event("แผนงานบูรณาการรัฐบาลดิจิทัลคืออะไร", source=user_source("U" + "d" * 32))
        body, headers = signed_webhook([event], LINE_SECRET)
        assert https.post("/webhooks/line", content=body, headers=headers).status_code == 200
        stack.line.wait_for(
            lambda requests: any(r.json and r.json.get("replyToken") == event["replyToken"] for r in requests),
            timeout=30,
        )

        chat = 880_001
        update = text_update(990_001, "แผนงานบูรณาการรัฐบาลดิจิทัลคืออะไร", chat_id=chat)
        sent = https.post(
            "/webhooks/telegram", json=update, headers={"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET}
        )
        assert sent.status_code == 200, sent.text
        stack.telegram.wait_for_messages(chat, timeout=30)


PRIVATE = [
    ("GET", "/admin/"),
    ("GET", "/admin/stats"),
    ("GET", "/admin/review"),
    ("POST", "/admin/reload"),
    ("GET", "/metrics"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/docs"),
    ("GET", "/redoc"),
    ("GET", "/openapi.json"),
]


@pytest.mark.parametrize(("method", "path"), PRIVATE, ids=[p for _, p in PRIVATE])
def test_private_routes_answer_on_the_apps_port_but_not_through_nginx(stack: Stack, method: str, path: str) -> None:
    auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    if method == "GET":  # on the app's own port (as over `ssh -L`), the route is there
        direct = httpx.get(f"{stack.app}{path}", headers=auth, timeout=30)
        assert direct.status_code == 200, f"{path} should exist on the app's port: {direct.status_code}"
    with stack.nginx.client() as https:
        through = https.request(method, path, headers=auth)
    assert through.status_code == 404, through.text[:200]
    assert "budgetbot" not in through.text and "openapi" not in through.text


TRICKS = [
    "//admin/stats",
    "/./admin/stats",
    "/static/../admin/stats",
    "/static/%2e%2e/admin/stats",
    "/api/ask/../../admin/stats",
    "/webhooks/line/..%2F..%2Fadmin/stats",
    "/%61dmin/stats",
    "/metrics/",
    "/openapi.json?x=1",
    "/static/../openapi.json",
]


@pytest.mark.parametrize("path", TRICKS)
def test_no_spelling_of_a_private_path_gets_through(stack: Stack, path: str) -> None:
    status = stack.nginx.raw("GET", path, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert status in (400, 404), f"{path}: {status}"


def test_the_console_works_in_a_browser_through_nginx(stack: Stack) -> None:
    """Headless Chromium, as a user's browser: over TLS (HTTP/2), the page, its files, its greeting and an
    answer, and not one of the page's requests refused (every route the console uses is public)."""
    from tests.test_console_browser import CHROMIUM, CHROMIUM_ARGS, THAI

    if not CHROMIUM.exists():
        require(str(CHROMIUM))
    from playwright.sync_api import expect, sync_playwright

    refused: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            # The throwaway certificate is not from a CA the browser knows; httpx checks it in the other tests.
            context = browser.new_context(ignore_https_errors=True, locale="th-TH")
            context.set_default_timeout(30_000)
            page = context.new_page()
            page.on("response", lambda r: refused.append(f"{r.status} {r.url}") if r.status >= 400 else None)
            page.on("requestfailed", lambda r: refused.append(f"failed {r.url}"))
            page.goto(f"{stack.nginx.url}/")
            answers = page.get_by_test_id("answer")
            expect(answers).to_have_count(1, timeout=30_000)  # the greeting, from /api/welcome
            page.get_by_test_id("question-input").fill("แผนงานบูรณาการรัฐบาลดิจิทัลคืออะไร")
            page.get_by_test_id("send").click()
            expect(answers).to_have_count(2, timeout=30_000)
            expect(answers.nth(1).locator(".text")).to_contain_text(THAI)
        finally:
            browser.close()
    assert refused == []


def test_the_app_limits_each_real_client_whatever_x_forwarded_for_it_sends(stack: Stack) -> None:
    """The app's own per-client limit (BUDGETBOT_ASK_RATE_PER_CLIENT) counts the address nginx saw: a client
    that makes up a new X-Forwarded-For for every question is still one client, and another is not affected."""
    question = {"question": "ปีงบ 66 ยังยื่นได้ไหม"}
    statuses = []
    with stack.nginx.client(source="127.0.0.2") as https:
        for n in range(APP_RATE_PER_CLIENT + 1):
            response = https.post("/api/ask", json=question, headers={"X-Forwarded-For": f"203.0.113.{n}"})
            statuses.append(response.status_code)
    assert statuses == [200] * APP_RATE_PER_CLIENT + [429]
    assert "questions from this client" in response.json()["message"]  # the app's 429, not nginx's
    assert int(response.headers["Retry-After"]) >= 1
    with stack.nginx.client(source="127.0.0.3") as someone_else:
        assert someone_else.post("/api/ask", json=question).status_code == 200


def test_what_nginx_lets_through_the_app_accepts(stack: Stack) -> None:
    """The two sets of limits agree: the largest headers and body nginx passes on, the app takes; what the app
    would refuse, nginx refuses first (its own answer, before the app sees anything)."""
    fair = {f"X-Filler-{n}": "a" * 7_000 for n in range(2)}
    too_many = {f"X-Filler-{n}": "a" * 6_000 for n in range(3)}
    question = json.dumps({"question": "ปีงบ 66 ยังยื่นได้ไหม"}).encode()
    at_limit = question + b" " * (MAX_BODY - len(question))  # JSON allows trailing spaces
    with stack.nginx.client(source="127.0.0.4") as https:
        assert https.get("/", headers=fair).status_code == 200
        answered = https.post("/api/ask", content=at_limit, headers={"Content-Type": "application/json"})
        assert answered.status_code == 200, answered.text[:300]
        too_big = https.post("/api/ask", content=at_limit + b" ", headers={"Content-Type": "application/json"})
        assert too_big.status_code == 413 and too_big.headers["content-type"].startswith("text/html")  # nginx's
        assert https.get("/", headers=too_many).status_code == 400


def test_every_response_through_nginx_says_nosniff_once(stack: Stack) -> None:
    with stack.nginx.client(source="127.0.0.5") as https:
        responses = [
            https.get("/"),  # the app's, which sets it too
            https.post("/api/ask", json={}),  # the app's 422
            https.get("/admin/"),  # nginx's 404
            https.post("/api/ask", content=b" " * (MAX_BODY + 1)),  # nginx's 413
        ]
    for response in responses:
        assert response.headers.get_list("X-Content-Type-Options") == ["nosniff"], response.status_code
        assert response.headers.get_list("Strict-Transport-Security") == ["max-age=31536000"]


def test_the_app_receives_exactly_the_public_path_whatever_the_spelling(
    recorded_edge: Nginx, upstream: RecordingUpstream
) -> None:
    for spelling in ("//api/ask", "/api/./ask", "/admin/../api/ask", "/api/%61sk", "/x/..%2Fapi/ask"):
        assert recorded_edge.raw("POST", spelling, body=b"{}") == 200, spelling
    assert recorded_edge.raw("GET", "/static/./console.js") == 200
    assert upstream.paths() == ["/api/ask"] * 5 + ["/static/console.js"]


def test_the_client_address_is_set_by_nginx_never_taken_from_the_client(
    recorded_edge: Nginx, upstream: RecordingUpstream
) -> None:
    spoofed = [
        ("X-Forwarded-For", "203.0.113.7"),
        ("X-Forwarded-For", "198.51.100.9, 127.0.0.1"),
        ("X-Real-IP", "203.0.113.7"),
        ("Forwarded", "for=203.0.113.7;proto=https"),
        ("X-Forwarded-Proto", "http"),
    ]
    with recorded_edge.client(source="127.0.0.2") as https:
        assert https.post("/api/ask", json={}, headers=spoofed).status_code == 200
    (received,) = upstream.received
    # One address, the client's own (127.0.0.2; nginx itself connects from 127.0.0.1), set, never appended to.
    assert received.header("X-Forwarded-For") == ["127.0.0.2"]
    assert received.header("X-Forwarded-Proto") == ["https"]
    assert received.header("X-Real-IP") == [] and received.header("Forwarded") == []
    assert received.header("Host") == ["127.0.0.1"]  # $host: the name asked for, without the port


def test_oversized_bodies_are_refused_by_nginx(recorded_edge: Nginx, upstream: RecordingUpstream) -> None:
    with recorded_edge.client() as https:
        at_limit = https.post("/api/ask", content=b"x" * MAX_BODY, headers={"Content-Type": "application/json"})
        assert at_limit.status_code == 200  # the app's own limit, not less: the app decides up to there
        assert https.post("/api/ask", content=b"x" * (MAX_BODY + 1)).status_code == 413

        def chunks() -> Iterator[bytes]:  # no Content-Length: nginx counts as it reads
            for _ in range(40):
                yield b"x" * 65_536

        assert https.post("/webhooks/line", content=chunks()).status_code == 413
    assert [r.body_size for r in upstream.received] == [MAX_BODY], "only the body within the limit got through"


def test_oversized_headers_are_refused_by_nginx(recorded_edge: Nginx, upstream: RecordingUpstream) -> None:
    with recorded_edge.client() as https:
        fair = {f"X-Filler-{n}": "a" * 7_000 for n in range(2)}  # 14 KB, within the app's 16 KB
        assert https.get("/", headers=fair).status_code == 200
        assert https.get("/", headers={"X-Filler": "a" * 9_000}).status_code == 400  # one header over 8 KB
        assert https.get("/", headers={f"X-Filler-{n}": "a" * 6_000 for n in range(3)}).status_code == 400  # 18 KB
        assert https.get("/?q=" + "a" * 9_000).status_code == 414
    assert len(upstream.received) == 1

    # The attack: a 16 MB header. nginx answers 400 after 8 KB and never buffers the rest.
    sent = 0
    with recorded_edge.tls_socket() as tls:
        tls.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Huge: ")
        try:
            while sent < 16 * 1024 * 1024:
                tls.sendall(b"a" * 65_536)
                sent += 65_536
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            pass
        try:
            reply = tls.recv(4096)
        except (ConnectionResetError, ssl.SSLError):
            reply = b""
    assert sent < 16 * 1024 * 1024 or reply.startswith(b"HTTP/1.1 400"), (sent, reply[:100])
    assert len(upstream.received) == 1


def test_slow_clients_are_dropped_by_nginx_and_never_reach_the_app(
    recorded_edge: Nginx, upstream: RecordingUpstream
) -> None:
    """50 connections that send half a request and stall (the issue's held connections): nginx drops each
    after client_header_timeout (10 s), the app never hears of them, and others are served meanwhile."""
    slow = [recorded_edge.tls_socket() for _ in range(50)]
    try:
        for tls in slow:
            tls.sendall(b"POST /api/ask HTTP/1.1\r\nHost: localhost\r\n")
        with recorded_edge.client() as https:
            assert https.get("/static/console.css").status_code == 200
        started = time.monotonic()
        for tls in slow:
            tls.settimeout(max(60 - (time.monotonic() - started), 1))
            try:
                assert tls.recv(4096) == b"", "nginx closes a connection whose request never completes"
            except (ConnectionResetError, ssl.SSLError):
                pass  # closed, less politely
    finally:
        for tls in slow:
            tls.close()
    assert upstream.paths() == ["/static/console.css"]


def test_api_ask_is_rate_limited_per_address_and_webhooks_are_not(
    fresh_edge: Nginx, upstream: RecordingUpstream
) -> None:
    statuses: list[int] = []
    limited: httpx.Response | None = None
    started = time.monotonic()
    with fresh_edge.client() as https:
        for _ in range(150):
            response = https.post("/api/ask", json={})
            statuses.append(response.status_code)
            if response.status_code == 429:
                limited = limited or response
        elapsed = time.monotonic() - started
        passed = statuses.count(200)
        # A person typing quickly is never limited: the first 31 (1 + burst) all pass.
        assert statuses[:31] == [200] * 31
        # Then about one a second (60 a minute) gets through.
        assert limited is not None, statuses
        assert passed <= 31 + elapsed * 1.0 + 2, (passed, elapsed)
        assert limited.headers["Retry-After"] == "60"
        assert limited.headers.get_list("X-Content-Type-Options") == ["nosniff"]
        assert limited.headers["content-type"] == "application/json"
        assert "try again" in limited.json()["message"]
        assert upstream.paths().count("/api/ask") == passed

        # LINE and Telegram deliver every user's messages from a few addresses: never limited.
        for _ in range(150):
            assert https.post("/webhooks/line", content=b"{}").status_code == 200


def test_api_ask_limits_concurrent_requests_per_address(fresh_edge: Nginx, upstream: RecordingUpstream) -> None:
    upstream.held.set()  # the app is slow to answer: one address's requests pile up
    try:
        with fresh_edge.client() as https, ThreadPoolExecutor(15) as pool:
            futures = [pool.submit(lambda: https.post("/api/ask", json={}).status_code) for _ in range(15)]
            wait_until(lambda: sum(f.done() for f in futures) >= 5, "5 requests turned away")
            wait_until(lambda: upstream.waiting >= 10, "10 requests with the app")
            refused = [f.result() for f in futures if f.done()]
            upstream.held.clear()
            statuses = [f.result() for f in futures]
    finally:
        upstream.held.clear()
    assert refused == [429] * 5, refused
    assert sorted(statuses) == [200] * 10 + [429] * 5, statuses
    assert len(upstream.received) == 10


def test_plain_http_only_redirects_to_https_and_serves_certificate_renewal(
    recorded_edge: Nginx, upstream: RecordingUpstream
) -> None:
    challenge = recorded_edge.prefix / "webroot" / ".well-known" / "acme-challenge"
    challenge.mkdir(parents=True)
    (challenge / "token-123").write_text("token-123.key")
    plain = f"http://127.0.0.1:{recorded_edge.http_port}"
    for method, path in (("POST", "/webhooks/line"), ("GET", "/admin/stats"), ("POST", "/api/ask")):
        response = httpx.request(method, f"{plain}{path}", timeout=30)
        assert response.status_code == 301
        assert response.headers["location"] == f"https://127.0.0.1{path}"
    renewal = httpx.get(f"{plain}/.well-known/acme-challenge/token-123", timeout=30)
    assert renewal.status_code == 200 and renewal.text == "token-123.key"
    assert upstream.received == []


# ============================================================================================================
# systemd
# ============================================================================================================


def read_unit(path: Path) -> dict[str, dict[str, list[str]]]:
    """A unit file's sections, each key with all its values in order (Environment= may repeat)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        assert current is not None, f"{path}: {line!r} outside a section"
        key, _, value = line.partition("=")
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def installed_here(text: str) -> str:
    """A unit with this checkout where the README installs it (/opt/budgetbot)."""
    return text.replace(INSTALLED_AT, str(REPO))


UNITS = ["budgetbot.service", "budgetbot-backup.service", "budgetbot-backup.timer"]


def test_systemd_accepts_the_units(tmp_path: Path) -> None:
    analyze = require("systemd-analyze")
    for name in UNITS:
        (tmp_path / name).write_text(installed_here((DEPLOY / name).read_text(encoding="utf-8")))
    result = subprocess.run(
        [analyze, "verify", "--man=no", *(str(tmp_path / name) for name in UNITS)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    # Unknown keys and bad values are only warnings: none may be about our units.
    ours = [line for line in output.splitlines() if any(name in line for name in UNITS)]
    assert ours == [], output


def test_the_unit_runs_the_server_as_a_dedicated_user_with_the_env_file() -> None:
    service = read_unit(DEPLOY / "budgetbot.service")["Service"]
    assert service["User"] == ["budgetbot"] and service["Group"] == ["budgetbot"]
    assert service["EnvironmentFile"] == ["/etc/budgetbot/budgetbot.env"]  # no "-": a missing file fails the start
    assert service["WorkingDirectory"] == [STATE_DIR] and service["StateDirectory"] == ["budgetbot"]
    assert service["Restart"] == ["on-failure"]
    for hardening in ("NoNewPrivileges", "PrivateTmp", "ProtectHome"):
        assert service[hardening] == ["yes"], hardening
    assert service["ProtectSystem"] == ["strict"]
    # Long enough for a graceful shutdown (the acknowledged webhooks answered, the question log flushed).
    assert int(service["TimeoutStopSec"][0].removesuffix("s")) >= 30
    command = shlex.split(service["ExecStart"][0])
    assert command[:2] == [f"{INSTALLED_AT}/.venv/bin/budgetbot", "serve"]
    assert command[command.index("--host") + 1] == "127.0.0.1"  # only nginx is public
    assert command[command.index("--port") + 1] == "8000"  # the site's upstream
    assert "server 127.0.0.1:8000;" in SITE.read_text(encoding="utf-8")
    # The command exists after the README's install (`pip install -e .` into .venv, as scripts/test does).
    assert os.access(installed_here(command[0]), os.X_OK)


def known_settings() -> set[str]:
    names: set[str] = set()
    for info in Settings.model_fields.values():
        alias = info.validation_alias
        choices = getattr(alias, "choices", [alias])
        names.update(str(c) for c in choices if isinstance(c, str) and c.isupper())
    return names


def test_the_env_file_example_names_only_real_settings() -> None:
    example = (DEPLOY / "budgetbot.env.example").read_text(encoding="utf-8")
    keys = re.findall(r"^#?([A-Z][A-Z0-9_]*)=", example, flags=re.MULTILINE)
    assert "BUDGETBOT_USER_HASH_SALT" in keys and "LINE_CHANNEL_SECRET" in keys
    assert set(keys) <= known_settings(), set(keys) - known_settings()


def env_file_filled_in(path: Path, root: Path, values: dict[str, str]) -> None:
    """budgetbot.env.example as an operator fills it in: the wanted lines uncommented, values added; with this
    checkout for /opt/budgetbot and the layout deploy/setup made under `root` for the other host paths."""
    lines = []
    example = (DEPLOY / "budgetbot.env.example").read_text(encoding="utf-8")
    for line in under_root(installed_here(example), root).splitlines():
        key = re.match(r"^#?([A-Z][A-Z0-9_]*)=", line)
        if key and key.group(1) in values:
            line = f"{key.group(1)}={values.pop(key.group(1))}"
        lines.append(line)
    lines += [f"{k}={v}" for k, v in values.items()]  # what this test adds (the fake LINE API)
    path.write_text("\n".join(lines) + "\n")


def under_root(text: str, root: Path) -> str:
    for prefix in ("/var/lib/budgetbot", "/srv/budgetbot", "/etc/budgetbot", "/var/backups/budgetbot"):
        text = text.replace(prefix, f"{root}{prefix}")
    return text


def systemd_environment(service: dict[str, list[str]], env_file: Path, home: Path) -> dict[str, str]:
    """The environment systemd gives the service: a bare one, then Environment=, then the EnvironmentFile."""
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": str(home)}
    for assignments in service.get("Environment", []):
        for assignment in shlex.split(assignments):
            key, _, value = assignment.partition("=")
            env[key] = value
    for line in env_file.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith(("#", ";")):
            key, _, value = line.partition("=")
            env[key.strip()] = value.strip()
    return env


@dataclass(frozen=True)
class Layout:
    root: Path  # stands for / on the host
    user: pwd.struct_passwd | None  # the service user (None: the test is not root and runs as itself)

    def path(self, host_path: str) -> Path:
        return Path(f"{self.root}{host_path}")


def run_setup(root: Path, user: pwd.struct_passwd | None, *extra: str) -> subprocess.CompletedProcess[str]:
    name = user.pw_name if user is not None else pwd.getpwuid(os.geteuid()).pw_name
    return subprocess.run(
        [str(DEPLOY / "setup"), "--root", str(root), "--user", name, *extra],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def layout() -> Iterator[Layout]:
    """The host layout deploy/setup makes, under a temporary root (outside pytest's tmp_path, whose parents only
    root may enter), with the service user `nobody` when the test runs as root."""
    root = Path(tempfile.mkdtemp(prefix="budgetbot-root-"))
    root.chmod(0o755)
    user = _unprivileged_user()
    try:
        result = run_setup(root, user, "--sources-from", str(DEFAULT_SOURCES_DIR))
        assert result.returncode == 0, result.stderr
        yield Layout(root, user)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_setup_lays_out_code_settings_data_knowledge_and_sources_apart(layout: Layout) -> None:
    """Data, knowledge and sources are the service user's, the settings root's and readable by its group, the
    code stays root's; the knowledge is seeded from the checkout, the sources from the folder given; the units
    are in place. Running it again changes no edit."""
    expected = {
        "/etc/budgetbot": (0o750, "root"),
        "/etc/budgetbot/budgetbot.env": (0o640, "root"),
        "/var/lib/budgetbot": (0o700, "service"),
        "/srv/budgetbot/knowledge": (0o2775, "service"),
        "/srv/budgetbot/sources": (0o2775, "service"),
        "/var/backups/budgetbot": (0o700, "service"),
    }
    for host_path, (mode, owner) in expected.items():
        st = layout.path(host_path).stat()
        assert st.st_mode & 0o7777 == mode, f"{host_path}: {oct(st.st_mode & 0o7777)}"
        if layout.user is not None:
            uid = 0 if owner == "root" else layout.user.pw_uid
            assert st.st_uid == uid, host_path
            assert st.st_gid == layout.user.pw_gid, host_path
    knowledge = layout.path("/srv/budgetbot/knowledge")
    assert sorted(p.name for p in knowledge.iterdir()) == sorted(p.name for p in (REPO / "knowledge").glob("*.yaml"))
    cited = {p.name for p in DEFAULT_SOURCES_DIR.iterdir() if p.is_file()}
    assert {p.name for p in layout.path("/srv/budgetbot/sources").iterdir()} == cited
    for unit in UNITS:
        assert layout.path(f"/etc/systemd/system/{unit}").read_text() == (DEPLOY / unit).read_text()

    # An editor's change and the operator's settings survive a second run.
    edited = knowledge / "faq_plan.yaml"
    edited.write_text(edited.read_text(encoding="utf-8") + "\n# an editor's note\n", encoding="utf-8")
    env_file = layout.path("/etc/budgetbot/budgetbot.env")
    env_file.write_text("BUDGETBOT_USER_HASH_SALT=kept\n")
    again = run_setup(layout.root, layout.user)
    assert again.returncode == 0, again.stderr
    assert edited.read_text(encoding="utf-8").endswith("# an editor's note\n")
    assert env_file.read_text() == "BUDGETBOT_USER_HASH_SALT=kept\n"


def test_the_env_file_example_names_the_layouts_folders() -> None:
    example = (DEPLOY / "budgetbot.env.example").read_text(encoding="utf-8")
    active = dict(re.findall(r"^([A-Z][A-Z0-9_]*)=(.*)$", example, flags=re.MULTILINE))
    assert active["BUDGETBOT_DATA_DIR"] == STATE_DIR
    assert active["BUDGETBOT_KNOWLEDGE_DIR"] == "/srv/budgetbot/knowledge"
    assert active["BUDGETBOT_SOURCES_DIR"] == "/srv/budgetbot/sources"
    assert not active["BUDGETBOT_KNOWLEDGE_DIR"].startswith(INSTALLED_AT), "knowledge apart from the code"


def test_the_units_command_and_environment_start_the_server(layout: Layout, tmp_path: Path) -> None:
    """ExecStart, Environment= and the env file deploy/setup installed, filled in, as systemd would run them; as an
    unprivileged user (when the test can switch to one) that can write only its state directory, like User= with
    ProtectSystem=strict. Then deploy/backup, given the same env file, finds the database the server made."""
    service = read_unit(layout.path("/etc/systemd/system/budgetbot.service"))["Service"]
    user = layout.user
    state_dir = layout.path(STATE_DIR)
    with FakeLine(access_token=LINE_TOKEN) as line:
        env_file = layout.path("/etc/budgetbot/budgetbot.env")
        env_file_filled_in(
            env_file,
            layout.root,
            {
                "BUDGETBOT_USER_HASH_SALT": SALT,
                "LINE_CHANNEL_SECRET": LINE_SECRET,
                "LINE_CHANNEL_ACCESS_TOKEN": LINE_TOKEN,
                "LINE_API_BASE_URL": line.url,
                "LINE_DATA_API_BASE_URL": line.url,
                "NO_PROXY": "127.0.0.1,localhost",
            },
        )
        env = systemd_environment(service, env_file, home=state_dir)
        assert env["BUDGETBOT_DATA_DIR"] == str(state_dir), "the env file puts the database in the state dir"
        assert env["BUDGETBOT_SOURCES_DIR"] == str(layout.path("/srv/budgetbot/sources"))
        port = free_port()
        command = unit_command(service, port)
        if user is not None:
            command = ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--clear-groups", *command]
        log_path = tmp_path / "server.log"
        with open(log_path, "wb") as log:
            process = subprocess.Popen(command, cwd=state_dir, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_until(lambda: _ready(port) or process.poll() is not None, "the server ready", timeout=120)
            assert process.poll() is None, log_path.read_text(errors="replace")
            assert "line" in _started_line(log_path)["channels_on"]
            answer = httpx.post(f"http://127.0.0.1:{port}/api/ask", json={"question": "ปีงบ 66 ยังยื่นได้ไหม"}, timeout=30)
            assert answer.status_code == 200
            assert answer.json()["sources"], "answered from the knowledge, citing the documents in the sources folder"
            if user is not None:  # the service cannot change its code, nor its knowledge (it only reads it)
                for target in (REPO / "bot" / "probe", layout.path("/opt-probe")):
                    probe = subprocess.run(
                        ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--clear-groups"]
                        + ["touch", str(target)],
                        capture_output=True,
                    )
                    assert probe.returncode != 0, f"the service user could write {target}"
        finally:
            process.terminate()
            process.wait(timeout=60)
        assert process.returncode == 0, "SIGTERM (systemctl stop) is a clean stop, not a failure to restart"

    database = state_dir / "budgetbot.sqlite3"
    assert database.is_file()
    if user is not None:
        assert database.stat().st_uid == user.pw_uid, "written as the service's user"
    # A backup as cron would run it: another working directory, the settings from the env file only.
    backups = layout.path("/var/backups/budgetbot")
    result = run_tool("backup", "--env-file", str(env_file), str(backups), env={"PATH": env["PATH"]}, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    (made,) = backups.iterdir()
    assert Path(result.stdout.strip()) == made.resolve()
    with sqlite3.connect(made) as copy:
        assert copy.execute("SELECT count(*) FROM alembic_version").fetchone() == (1,)


def unit_command(service: dict[str, list[str]], port: int) -> list[str]:
    """ExecStart, with this checkout for /opt/budgetbot and a free port for 8000."""
    command = [installed_here(a) for a in shlex.split(service["ExecStart"][0])]
    command[command.index("--port") + 1] = str(port)
    return command


def test_a_channel_without_the_salt_is_a_refused_start_that_systemd_does_not_retry(
    layout: Layout, tmp_path: Path
) -> None:
    """The env file filled in but for the salt (as shipped, commented out): the server says what to set and
    exits 2, the status the unit names in RestartPreventExitStatus, so systemd stops instead of looping."""
    service = read_unit(DEPLOY / "budgetbot.service")["Service"]
    assert service["RestartPreventExitStatus"] == ["2"]
    env_file = tmp_path / "budgetbot.env"
    env_file_filled_in(
        env_file, layout.root, {"LINE_CHANNEL_SECRET": LINE_SECRET, "LINE_CHANNEL_ACCESS_TOKEN": LINE_TOKEN}
    )
    state_dir = layout.path(STATE_DIR)
    env = systemd_environment(service, env_file, home=state_dir)
    assert "BUDGETBOT_USER_HASH_SALT" not in env
    result = subprocess.run(
        unit_command(service, free_port()), cwd=state_dir, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2, result.stderr
    assert "BUDGETBOT_USER_HASH_SALT" in result.stderr and "Traceback" not in result.stderr
    assert not (state_dir / "budgetbot.sqlite3").exists(), "refused before touching anything"


@pytest.mark.parametrize("fault", ["sources folder missing", "cited document missing", "knowledge file broken"])
def test_knowledge_that_cannot_load_is_exit_2_which_systemd_does_not_retry(
    layout: Layout, tmp_path: Path, fault: str
) -> None:
    """What the issue saw as exit 3 and five restarts with a traceback each: the sources folder not there, a cited
    document missing, a knowledge file with an error left on disk (as after a reboot). Each is exit 2, one
    line saying what is wrong, no traceback, nothing written."""
    service = read_unit(DEPLOY / "budgetbot.service")["Service"]
    env_file = tmp_path / "budgetbot.env"
    env_file_filled_in(env_file, layout.root, {"BUDGETBOT_USER_HASH_SALT": SALT})
    sources = layout.path("/srv/budgetbot/sources")
    if fault == "sources folder missing":
        shutil.rmtree(sources)
        expected = "sources folder not found"
    elif fault == "cited document missing":
        (sources / "budget-procedures-act-2561.txt").unlink()
        expected = "budget-procedures-act-2561.txt"
    else:
        broken = layout.path("/srv/budgetbot/knowledge/fiscal_years.yaml")
        broken.write_text(broken.read_text(encoding="utf-8") + "\n  - this: [is not valid\n", encoding="utf-8")
        expected = "fiscal_years.yaml"
    state_dir = layout.path(STATE_DIR)
    env = systemd_environment(service, env_file, home=state_dir)
    result = subprocess.run(
        unit_command(service, free_port()), cwd=state_dir, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2, result.stderr
    assert expected in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert not (state_dir / "budgetbot.sqlite3").exists()


def test_a_port_already_taken_is_a_transient_fault_that_systemd_retries(layout: Layout, tmp_path: Path) -> None:
    """Not status 2 (systemd restarts it, the port may be free by then), and never a "ready" line first."""
    service = read_unit(DEPLOY / "budgetbot.service")["Service"]
    assert service["Restart"] == ["on-failure"]
    env_file = tmp_path / "budgetbot.env"
    env_file_filled_in(env_file, layout.root, {"BUDGETBOT_USER_HASH_SALT": SALT})
    state_dir = layout.path(STATE_DIR)
    env = systemd_environment(service, env_file, home=state_dir)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        result = subprocess.run(
            unit_command(service, taken.getsockname()[1]),
            cwd=state_dir,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert result.returncode not in (0, 2), result.stderr
    assert "address already in use" in result.stderr
    assert "is ready" not in result.stderr


def test_the_readme_and_deploy_agree() -> None:
    """deploy/readme_check.py: every path, setting and file the README's Deploying section names is in deploy/,
    and every one the units, the env example and deploy/setup need is named there."""
    from deploy.readme_check import problems

    assert problems(README.read_text(encoding="utf-8"), DEPLOY) == []


def test_the_readme_checker_catches_each_kind_of_disagreement(tmp_path: Path) -> None:
    from deploy.readme_check import problems

    readme = README.read_text(encoding="utf-8")
    deploy = tmp_path / "deploy"
    shutil.copytree(DEPLOY, deploy, ignore=shutil.ignore_patterns("__pycache__"))
    assert problems(readme, deploy) == []
    # The README names what deploy/ lacks: a file, a setting, a path.
    assert any(
        "deploy/nowhere.sh" in p for p in problems(readme.replace("`deploy/upgrade`", "`deploy/nowhere.sh`"), deploy)
    )
    assert any(
        "BUDGETBOT_MADE_UP" in p
        for p in problems(readme.replace("## Deploying\n", "## Deploying\n\nBUDGETBOT_MADE_UP=1\n"), deploy)
    )
    assert any(
        "/srv/budgetbot/elsewhere" in p
        for p in problems(readme.replace("## Deploying\n", "## Deploying\n\n`/srv/budgetbot/elsewhere/x`\n"), deploy)
    )
    # deploy/ needs what the README does not name: the unit, a path; the env example, a setting; a new file.
    unit = deploy / "budgetbot.service"
    unit.write_text(
        unit.read_text().replace("WorkingDirectory=/var/lib/budgetbot", "WorkingDirectory=/srv/budgetbot/run")
    )
    assert any("/srv/budgetbot/run" in p for p in problems(readme, deploy))
    shutil.copy(DEPLOY / "budgetbot.service", unit)
    unit.write_text(unit.read_text().replace("Environment=PYTHAINLP_READ_ONLY=1", "Environment=MALLOC_ARENA_MAX=2"))
    assert any("MALLOC_ARENA_MAX" in p for p in problems(readme, deploy))
    shutil.copy(DEPLOY / "budgetbot.service", unit)
    example = deploy / "budgetbot.env.example"
    example.write_text(example.read_text() + "\nBUDGETBOT_UNDOCUMENTED=1\n")
    assert any("BUDGETBOT_UNDOCUMENTED" in p for p in problems(readme, deploy))
    shutil.copy(DEPLOY / "budgetbot.env.example", example)
    (deploy / "extra.conf").write_text("x")
    assert any("deploy/extra.conf" in p for p in problems(readme, deploy))


def test_the_readme_installs_the_thai_font_and_names_supported_platforms() -> None:
    """The rich menu is drawn in Thai only with a Thai font; Ubuntu 22.04's Python (3.10) is below
    requires-python, so the README must not offer it."""
    text = README.read_text(encoding="utf-8")
    deploying = text[text.index("## Deploying") : text.index("## Evaluation")]
    install = next(line for line in deploying.splitlines() if line.startswith("apt-get install"))
    assert "fonts-thai-tlwg" in install
    assert "Ubuntu 22.04 is not supported" in deploying
    from handlers.line_richmenu import find_thai_font

    if os.path.exists("/usr/share/fonts/truetype/tlwg"):  # scripts/install-deploy-tools installs it
        assert find_thai_font() is not None


def test_upgrade_moves_the_code_on_and_leaves_data_knowledge_and_sources_alone(layout: Layout, tmp_path: Path) -> None:
    """deploy/upgrade on a checkout of its own (a clone at the commit before, fast-forwarded to this one), with
    systemctl and the service's readiness stood in for, and the virtualenv step pointed at a stand-in: the
    database is backed up, the code moves, knowledge and data are untouched, the restart is asked for."""
    git = shutil.which("git")
    if git is None:
        pytest.skip("git is not installed")
    origin = tmp_path / "origin"
    subprocess.run([git, "init", "-q", "-b", "main", str(origin)], check=True)
    for name in ("deploy", "bot", "handlers", "pyproject.toml", "README.md"):
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, origin / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, origin / name)
    author = ["-c", "user.name=t", "-c", "user.email=t@example.org"]
    subprocess.run([git, "-C", str(origin), "add", "-A"], check=True)
    subprocess.run([git, *author, "-C", str(origin), "commit", "-qm", "v1"], check=True)
    checkout = tmp_path / "opt-budgetbot"
    subprocess.run([git, "clone", "-q", str(origin), str(checkout)], check=True)
    (origin / "NEWS").write_text("v2\n")
    subprocess.run([git, "-C", str(origin), "add", "-A"], check=True)
    subprocess.run([git, *author, "-C", str(origin), "commit", "-qm", "v2"], check=True)
    # The checkout's virtualenv: this one's python and budgetbot, pip a stand-in (installing here would
    # repoint this test run's own editable install).
    venv_bin = checkout / ".venv" / "bin"
    venv_bin.mkdir(parents=True)
    (venv_bin / "python").write_text(
        f'#!/bin/sh\nif [ "$1 $2" = "-m pip" ]; then echo pip "$@" >> {tmp_path}/pip.log; exit 0; fi\n'
        f'exec {REPO}/.venv/bin/python "$@"\n'
    )
    (venv_bin / "budgetbot").write_text(f'#!/bin/sh\nexec {REPO}/.venv/bin/budgetbot "$@"\n')
    for f in venv_bin.iterdir():
        f.chmod(0o755)
    systemctl = tmp_path / "systemctl"
    systemctl.write_text(f'#!/bin/sh\necho "$@" >> {tmp_path}/systemctl.log\n')
    systemctl.chmod(0o755)

    # A server's database in the layout, and an editor's knowledge change.
    env_file = tmp_path / "budgetbot.env"
    env_file_filled_in(env_file, layout.root, {"BUDGETBOT_USER_HASH_SALT": SALT})
    db = Database(f"sqlite:///{layout.path(STATE_DIR)}/budgetbot.sqlite3")
    db.migrate()
    db.dispose()
    edited = layout.path("/srv/budgetbot/knowledge/faq_plan.yaml")
    edited.write_text(edited.read_text(encoding="utf-8") + "\n# an editor's note\n", encoding="utf-8")
    knowledge_before = {p.name: p.read_bytes() for p in edited.parent.iterdir()}
    data_before = sorted(p.name for p in layout.path(STATE_DIR).iterdir())

    with ReadyStandIn() as ready:  # /readyz of the "restarted" service
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("BUDGETBOT_", "LINE_", "TELEGRAM_"))},
            "BUDGETBOT_SYSTEMCTL": str(systemctl),
            "BUDGETBOT_SERVICE_USER": pwd.getpwuid(os.geteuid()).pw_name,
            "BUDGETBOT_READY_URL": f"http://127.0.0.1:{ready.port}/readyz",
        }
        backups = tmp_path / "backups"
        result = subprocess.run(
            [str(checkout / "deploy" / "upgrade"), "--env-file", str(env_file), "--backups", str(backups)],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
    assert result.returncode == 0, result.stderr
    assert (checkout / "NEWS").read_text() == "v2\n", "the code moved on"
    assert len(list(backups.iterdir())) == 1, "a backup first"
    assert (tmp_path / "systemctl.log").read_text().split() == ["restart", "budgetbot"]
    assert "install" in (tmp_path / "pip.log").read_text()
    assert {p.name: p.read_bytes() for p in edited.parent.iterdir()} == knowledge_before
    assert sorted(p.name for p in layout.path(STATE_DIR).iterdir()) == data_before


class ReadyStandIn(BackgroundServer):
    thread_name = "ready-stand-in"

    def __init__(self) -> None:
        super().__init__()

    def make_app(self) -> web.Application:
        app = web.Application()

        async def ready(request: web.Request) -> web.Response:
            return web.json_response({"status": "ready"})

        app.router.add_get("/readyz", ready)
        return app


def _unprivileged_user() -> pwd.struct_passwd | None:
    """`nobody`, when the test runs as root and can switch to it (CI does); else None (run as ourselves)."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        return None
    try:
        return pwd.getpwnam("nobody")
    except KeyError:
        return None


def _ready(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def _started_line(log_path: Path) -> dict[str, Any]:
    for line in log_path.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            if record.get("message") == "budgetbot started":
                return record
    raise AssertionError(f"no start-up line in the log:\n{log_path.read_text(errors='replace')}")


# ============================================================================================================
# backup and restore
# ============================================================================================================


def run_tool(
    name: str, *args: str, env: dict[str, str], cwd: Path, stdin: int | None = subprocess.DEVNULL
) -> subprocess.CompletedProcess[str]:
    """deploy/backup or deploy/restore, as an operator runs it."""
    return subprocess.run(
        [str(DEPLOY / name), *args], env=env, cwd=cwd, capture_output=True, text=True, stdin=stdin, timeout=300
    )


def tool_env(database_url: str, tmp_path: Path) -> dict[str, str]:
    """The settings the server would have: SQLite through BUDGETBOT_DATA_DIR (the usual way), PostgreSQL
    through BUDGETBOT_DATABASE_URL."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BUDGETBOT_", "LINE_", "TELEGRAM_"))}
    if database_url.startswith("sqlite"):
        assert database_url == f"sqlite:///{tmp_path}/data/budgetbot.sqlite3"
        env["BUDGETBOT_DATA_DIR"] = str(tmp_path / "data")
    else:
        env["BUDGETBOT_DATABASE_URL"] = database_url
    return env


def logged(question: str, user: str) -> Any:
    from bot.service import LoggedQuestion  # imports the assistant: only when a test records questions

    answer = Answer(kind=AnswerKind.FAQ, text="ตอบ", confidence=0.9, entry_id="what-is-the-plan")
    return LoggedQuestion(datetime.now(timezone.utc), "line", user, question, answer)


def questions(db: Database) -> list[str]:
    with db.engine.connect() as connection:
        return sorted(connection.execute(select(QuestionLogEntry.question)).scalars())


def test_backup_then_restore_brings_the_data_back(database_url: str, tmp_path: Path) -> None:
    db = Database(database_url)
    db.migrate()
    try:
        ledger = SqlEventLedger(db)
        conversations = SqlConversationStore(db, salt=SALT)
        log = SqlQuestionLog(db, salt=SALT)
        assert ledger.claim_sync("line", "event-before-backup")
        conversations.save_sync("line:Ualice", ConversationState(fiscal_year=2566, entry_id="what-is-the-plan"))
        log.record_many_sync([logged("ปีงบ 66 ยังยื่นได้ไหม", "Ualice"), logged("แผนงานคืออะไร", "Ubob")])
        before = questions(db)

        env = tool_env(database_url, tmp_path)
        made = run_tool("backup", str(tmp_path / "backups"), env=env, cwd=tmp_path)
        assert made.returncode == 0, made.stderr
        backup_file = Path(made.stdout.strip())
        assert backup_file.is_file() and backup_file.stat().st_mode & 0o077 == 0, "readable by its owner only"

        # After the backup: a conversation forgotten, more questions, another event.
        with db.engine.begin() as connection:
            connection.exec_driver_sql("DELETE FROM conversations")
            connection.exec_driver_sql("DELETE FROM question_log WHERE question = 'แผนงานคืออะไร'")
        log.record_many_sync([logged("asked after the backup", "Ucarol")])
        assert ledger.claim_sync("line", "event-after-backup")
        assert conversations.load_sync("line:Ualice") is None

        refused = run_tool("restore", str(backup_file), env=env, cwd=tmp_path)
        assert refused.returncode != 0 and "--yes" in refused.stderr  # no prompt to answer: nothing done
        assert questions(db) != before

        restored = run_tool("restore", "--yes", str(backup_file), env=env, cwd=tmp_path)
        assert restored.returncode == 0, restored.stderr
        db.engine.dispose()  # fresh connections, as after `systemctl start budgetbot`

        assert questions(db) == before
        state = conversations.load_sync("line:Ualice")
        assert state is not None and state.fiscal_year == 2566
        assert ledger.claim_sync("line", "event-before-backup") is False, "still marked as answered"
        assert ledger.claim_sync("line", "event-after-backup") is True, "gone with the rest of what came later"
    finally:
        db.dispose()


def test_a_backup_of_a_live_sqlite_database_is_consistent(tmp_path: Path) -> None:
    """The server keeps its connections open and writes in WAL mode: what it committed may still be only in the
    -wal file, and a writer may be mid-transaction. The backup has every committed row and none uncommitted,
    and waits for nobody."""
    url = f"sqlite:///{tmp_path}/data/budgetbot.sqlite3"
    db = Database(url)
    db.migrate()
    try:
        log = SqlQuestionLog(db, salt=SALT)
        log.record_many_sync([logged(f"committed question {n}", "Ualice") for n in range(50)])
        main_file_only = tmp_path / "copied.sqlite3"
        shutil.copyfile(tmp_path / "data" / "budgetbot.sqlite3", main_file_only)  # what `cp` would give
        with db.engine.connect() as writer:
            transaction = writer.begin()
            writer.exec_driver_sql(
                "INSERT INTO question_log (asked_at, channel, user_hash, question, answer_kind, confidence) "
                "VALUES ('2026-11-21 00:00:00', 'line', 'x', 'not committed', 'faq', 0.5)"
            )
            made = run_tool("backup", str(tmp_path / "backups"), env=tool_env(url, tmp_path), cwd=tmp_path)
            transaction.rollback()
        assert made.returncode == 0, made.stderr
        with sqlite3.connect(Path(made.stdout.strip())) as copy:
            rows = [r[0] for r in copy.execute("SELECT question FROM question_log ORDER BY id")]
            assert copy.execute("PRAGMA journal_mode").fetchone() == ("delete",), "one self-contained file"
        assert rows == [f"committed question {n}" for n in range(50)]
        with sqlite3.connect(main_file_only) as copied:
            tables = copied.execute("SELECT count(*) FROM sqlite_master WHERE name = 'question_log'").fetchone()
            in_copy = copied.execute("SELECT count(*) FROM question_log").fetchone()[0] if tables[0] else 0
        assert in_copy < 50, "a plain file copy misses what is still in the WAL: the reason for the backup API"
    finally:
        db.dispose()


def test_backup_refuses_settings_that_point_at_no_database(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BUDGETBOT_")}
    env["BUDGETBOT_DATA_DIR"] = str(tmp_path / "nowhere")
    result = run_tool("backup", str(tmp_path / "backups"), env=env, cwd=tmp_path)
    assert result.returncode == 1
    assert "no SQLite database at" in result.stderr and "BUDGETBOT_DATA_DIR" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "nowhere").exists(), "no empty database created"
    assert not (tmp_path / "backups").exists() or list((tmp_path / "backups").iterdir()) == []


def test_backup_says_which_setting_is_invalid_without_a_traceback(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BUDGETBOT_")}
    env_file = tmp_path / "budgetbot.env"
    env_file.write_text(f"BUDGETBOT_DATA_DIR={tmp_path}\nBUDGETBOT_USER_HASH_SALT=\n")  # uncommented, not filled in
    result = run_tool("backup", "--env-file", str(env_file), str(tmp_path / "backups"), env=env, cwd=tmp_path)
    assert result.returncode == 1
    assert "BUDGETBOT_USER_HASH_SALT" in result.stderr and "Traceback" not in result.stderr, result.stderr


def test_restore_refuses_a_file_that_is_not_a_backup_of_this_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/data/budgetbot.sqlite3"
    db = Database(url)
    db.migrate()
    db.dispose()
    env = tool_env(url, tmp_path)
    fake_dump = tmp_path / "budgetbot-20261121T000000Z.pgdump"
    fake_dump.write_bytes(b"PGDMP\x01\x0e\x00" + b"\x00" * 64)
    other = tmp_path / "other.sqlite3"
    with sqlite3.connect(other) as connection:
        connection.execute("CREATE TABLE t (x)")
    text_file = tmp_path / "notes.txt"
    text_file.write_text("not a backup")
    for bad, reason in ((fake_dump, "postgresql backup"), (other, "not the assistant's"), (text_file, "neither")):
        result = run_tool("restore", "--yes", str(bad), env=env, cwd=tmp_path)
        assert result.returncode == 1 and reason in result.stderr, result.stderr
        assert "Traceback" not in result.stderr


def test_backup_keep_removes_only_older_backups(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/data/budgetbot.sqlite3"
    db = Database(url)
    db.migrate()
    db.dispose()
    backups = tmp_path / "backups"
    backups.mkdir()
    unrelated = backups / "operator-notes.txt"
    unrelated.write_text("keep me")
    old = [backups / f"budgetbot-2026010{n}T000000Z.sqlite3" for n in range(1, 5)]
    for path in old:
        shutil.copyfile(tmp_path / "data" / "budgetbot.sqlite3", path)
    result = run_tool("backup", "--keep", "2", str(backups), env=tool_env(url, tmp_path), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    newest = Path(result.stdout.strip())
    assert sorted(p.name for p in backups.iterdir()) == sorted([old[-1].name, newest.name, unrelated.name])


def test_backup_keep_1_twice_in_one_second_keeps_the_newest(tmp_path: Path) -> None:
    """The issue's case: the second backup of the second used to sort before the first, was deleted by its own
    --keep 1, and the command then failed with a traceback."""
    url = f"sqlite:///{tmp_path}/data/budgetbot.sqlite3"
    db = Database(url)
    db.migrate()
    db.dispose()
    backups = tmp_path / "backups"
    made = []
    for _ in range(3):
        result = run_tool("backup", "--keep", "1", str(backups), env=tool_env(url, tmp_path), cwd=tmp_path)
        assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
        made.append(Path(result.stdout.strip()))
        assert [p.name for p in backups.iterdir()] == [made[-1].name], "the one just made is the one kept"
    assert made == sorted(made, key=lambda p: p.name), "names sort by time"


def test_backup_names_sort_by_time_and_keep_counts_an_older_releases_names(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/data/budgetbot.sqlite3"
    db = Database(url)
    db.migrate()
    db.dispose()
    backups = tmp_path / "backups"
    backups.mkdir()
    # An older release's names: ...Z, then ...Z-2 for a second backup in the same second.
    older = ["budgetbot-20260101T000000Z.sqlite3", "budgetbot-20260101T000000Z-2.sqlite3"]
    for name in older:
        shutil.copyfile(tmp_path / "data" / "budgetbot.sqlite3", backups / name)
    result = run_tool("backup", "--keep", "2", str(backups), env=tool_env(url, tmp_path), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    newest = Path(result.stdout.strip()).name
    assert re.fullmatch(r"budgetbot-\d{8}T\d{6}\.\d{6}Z\.sqlite3", newest)
    assert sorted(p.name for p in backups.iterdir()) == sorted([older[1], newest]), "the -2 one was the later"


def test_restore_refuses_while_a_server_runs_on_the_database_unless_forced(tmp_path: Path) -> None:
    env = base_env(tmp_path)
    backups = tmp_path / "backups"
    with running_server(env, tmp_path):
        tool = tool_env(f"sqlite:///{tmp_path}/data/budgetbot.sqlite3", tmp_path)
        made = run_tool("backup", str(backups), env=tool, cwd=tmp_path)
        assert made.returncode == 0, made.stderr
        backup_file = made.stdout.strip()
        refused = run_tool("restore", "--yes", backup_file, env=tool, cwd=tmp_path)
        assert refused.returncode == 1, refused.stderr
        assert "running" in refused.stderr and "--force" in refused.stderr and "Traceback" not in refused.stderr
        forced = run_tool("restore", "--yes", "--force", backup_file, env=tool, cwd=tmp_path)
        assert forced.returncode == 0, forced.stderr
    # Stopped (its heartbeat row is gone with a clean stop): restored without --force.
    after = run_tool("restore", "--yes", backup_file, env=tool, cwd=tmp_path)
    assert after.returncode == 0, after.stderr
