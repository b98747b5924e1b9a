"""The OCI image (Containerfile) and the compose file (deploy/compose.yaml).

- The compose file, parsed: two app instances built from the Containerfile on one PostgreSQL, nginx with the site
  of deploy/nginx/budgetbot.conf pointed at both, settings that exist, a volume of its own for each instance.
- The Containerfile, read: a Debian base, a non-root user, the Thai font, a HEALTHCHECK, settings from the
  environment, the data in a volume.
- The image, built and run for real with Debian's buildah (no image registry is reachable here, and containers
  cannot be run with crun): scripts/image-base builds the base from Debian's packages (debootstrap) and tags it as
  the name the Containerfile's FROM uses, scripts/image-build builds with --pull=never from wheels downloaded
  here (both cached in /var/cache/budgetbot-image, so a warm run takes a minute or two), then `budgetbot serve`
  runs inside it with `buildah run --isolation=chroot` on a free port and answers one question.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest
import yaml

from bot.settings import DEFAULT_SOURCES_DIR, Settings
from tests.support.server import free_port

REPO = Path(__file__).resolve().parents[1]
CONTAINERFILE = REPO / "Containerfile"
COMPOSE = REPO / "deploy" / "compose.yaml"
SITE = REPO / "deploy" / "nginx" / "budgetbot.conf"


def known_settings() -> set[str]:
    names: set[str] = set()
    for info in Settings.model_fields.values():
        names.update(str(c) for c in getattr(info.validation_alias, "choices", []) if str(c).isupper())
    return names


# --- the compose file --------------------------------------------------------------------------------------


def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


def test_compose_runs_two_instances_of_the_image_on_one_postgresql_behind_nginx() -> None:
    services = compose()["services"]
    assert set(services) == {"app1", "app2", "db", "nginx"}
    apps = [services["app1"], services["app2"]]
    for app in apps:
        build = app["build"]
        assert (COMPOSE.parent / build["context"] / build["dockerfile"]).resolve() == CONTAINERFILE
        env = app["environment"]
        assert set(env) <= known_settings(), set(env) - known_settings()
        assert re.fullmatch(
            r"postgresql://budgetbot:\$\{POSTGRES_PASSWORD[^}]*\}@db:5432/budgetbot", env["BUDGETBOT_DATABASE_URL"]
        )
        assert app["depends_on"]["db"]["condition"] == "service_healthy"
        assert "./sources:/srv/budgetbot/sources:ro" in app["volumes"]
        assert env["BUDGETBOT_SOURCES_DIR"] == "/srv/budgetbot/sources"
        assert app["restart"] == "on-failure:5"
    data = [next(v for v in app["volumes"] if v.endswith(":/var/lib/budgetbot")) for app in apps]
    assert len(set(data)) == 2, "each instance its own data volume"
    for volume in data:
        assert volume.split(":")[0] in compose()["volumes"]
    assert services["db"]["image"].startswith("docker.io/library/postgres:")
    assert services["db"]["environment"]["POSTGRES_DB"] == "budgetbot"

    nginx = services["nginx"]
    mounted = {v.split(":")[0]: v.split(":")[1] for v in nginx["volumes"]}
    assert (COMPOSE.parent / "./nginx/budgetbot.conf").resolve() == SITE, "the same site as on a host"
    assert "./nginx/budgetbot.conf" in mounted
    # The certificate where the site looks for it.
    assert mounted["./tls"] + "/fullchain.pem" in SITE.read_text(encoding="utf-8")
    command = " ".join(nginx["command"])
    assert "s/server 127.0.0.1:8000;/server app1:8000; server app2:8000;/" in command
    assert "server 127.0.0.1:8000;" in SITE.read_text(encoding="utf-8"), "the line the sed replaces is there"
    # The app believes X-Forwarded-For only from nginx's fixed address.
    proxy = nginx["networks"]["budgetbot"]["ipv4_address"]
    assert all(app["environment"]["BUDGETBOT_TRUSTED_PROXIES"] == proxy for app in apps)


def test_compose_settings_file_comes_from_the_env_example() -> None:
    """`env_file: budgetbot.env` beside the compose file: the README says to make it from the example, whose
    settings are all real."""
    app = compose()["services"]["app1"]
    assert app["env_file"] == "budgetbot.env"
    example = (REPO / "deploy" / "budgetbot.env.example").read_text(encoding="utf-8")
    assert set(re.findall(r"^#?([A-Z][A-Z0-9_]*)=", example, flags=re.MULTILINE)) <= known_settings()


# --- the Containerfile ---------------------------------------------------------------------------------------


def instructions() -> list[tuple[str, str]]:
    text = CONTAINERFILE.read_text(encoding="utf-8").replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def test_the_containerfile_is_a_debian_image_run_by_a_user_with_the_thai_font() -> None:
    steps = instructions()
    assert steps[0] == ("FROM", "docker.io/library/debian:bookworm-slim")
    users = [rest for word, rest in steps if word == "USER"]
    assert users and users[-1] not in ("root", "0")
    runs = " ".join(rest for word, rest in steps if word == "RUN")
    assert "fonts-thai-tlwg" in runs and "python3-venv" in runs
    assert any(word == "HEALTHCHECK" and "/readyz" in rest for word, rest in steps)
    assert ("VOLUME", '["/var/lib/budgetbot"]') in steps
    env = " ".join(rest for word, rest in steps if word == "ENV")
    named = set(re.findall(r"\b(BUDGETBOT_[A-Z_]+)=", env))
    assert {"BUDGETBOT_DATA_DIR", "BUDGETBOT_KNOWLEDGE_DIR", "BUDGETBOT_SOURCES_DIR"} <= named <= known_settings()
    cmd = json.loads(next(rest for word, rest in steps if word == "CMD"))
    assert cmd[:2] == ["budgetbot", "serve"]


# --- the image, built and run ---------------------------------------------------------------------------------


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def _image_tools() -> None:
    if os.geteuid() != 0:
        pytest.skip("buildah builds here only as root (no rootless user namespaces are set up for this user)")
    missing = [t for t in ("buildah", "debootstrap") if shutil.which(t) is None]
    if missing:
        message = f"{', '.join(missing)} not installed (scripts/install-deploy-tools installs them)"
        if _in_ci():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)


def _run(command: list[str], timeout: float = 1800) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=timeout)


def test_the_image_builds_without_a_registry_and_answers_a_question(tmp_path: Path) -> None:
    _image_tools()
    tag = f"localhost/budgetbot:test-{os.getpid()}"
    built = _run(["bash", "scripts/image-build", tag])
    assert built.returncode == 0, built.stderr[-5000:]
    container = None
    server = None
    try:
        config = json.loads(_run(["buildah", "inspect", "--type", "image", tag]).stdout)["Docker"]["config"]
        assert config["User"] == "budgetbot"
        assert "/readyz" in " ".join(config["Healthcheck"]["Test"])
        assert "/var/lib/budgetbot" in config["Volumes"]

        made = _run(["buildah", "from", "--pull=never", "--name", f"budgetbot-test-{os.getpid()}", tag])
        assert made.returncode == 0, made.stderr
        container = made.stdout.strip()
        font = _run(
            [
                "buildah",
                "run",
                "--isolation=chroot",
                container,
                "--",
                "python3",
                "-c",
                "from handlers.line_richmenu import find_thai_font; print(find_thai_font())",
            ]
        )
        assert font.returncode == 0 and "tlwg" in font.stdout, font.stdout + font.stderr
        whoami = _run(["buildah", "run", "--isolation=chroot", container, "--", "id", "-un"])
        assert whoami.stdout.strip() == "budgetbot"

        port = free_port()
        log_path = tmp_path / "server.log"
        with open(log_path, "wb") as log:
            server = subprocess.Popen(
                [
                    "buildah",
                    "run",
                    "--isolation=chroot",
                    "--volume",
                    f"{DEFAULT_SOURCES_DIR}:/srv/budgetbot/sources:ro",
                    "--env",
                    "BUDGETBOT_TODAY=2026-11-21",
                    container,
                    "--",
                    "budgetbot",
                    "serve",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its children go with it below
            )
        deadline = time.monotonic() + 240
        while True:
            assert server.poll() is None, log_path.read_text(errors="replace")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"not ready in 240 s:\n{log_path.read_text(errors='replace')}"
            time.sleep(0.5)
        answer = httpx.post(f"http://127.0.0.1:{port}/api/ask", json={"question": "ปีงบ 66 ยังยื่นได้ไหม"}, timeout=30)
        assert answer.status_code == 200, answer.text
        assert answer.json()["kind"] == "fiscal_year_status" and answer.json()["fiscal_year"] == 2566
        # deploy/backup runs inside the image too, beside the running server, as its user.
        backup = _run(
            [
                "buildah",
                "run",
                "--isolation=chroot",
                container,
                "--",
                "/opt/budgetbot/deploy/backup",
                "/var/lib/budgetbot/backups",
            ],
            timeout=300,
        )
        assert backup.returncode == 0, backup.stderr
        assert backup.stdout.strip().startswith("/var/lib/budgetbot/backups/budgetbot-")
        lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
        assert any(r["message"].startswith("budgetbot is ready") for r in lines), "JSON logs, ready after the bind"
    finally:
        if server is not None and server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)  # the process group this test started: buildah and the server
            try:
                server.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()
        if container is not None:
            _run(["buildah", "rm", container])
        _run(["buildah", "rmi", tag])  # the tag only: the layers stay cached for the next run
