"""Metrics that are right, alert rules that fire when they should, logs a person and a machine can read.

- /metrics with `budgetbot serve --workers 2`: every scrape has every worker's figures (the issue saw 6, 4, 6, 4),
  process metrics, the knowledge version; rejected reloads counted.
- deploy/prometheus/alerts.yml: `promtool check rules` and `promtool test rules` on synthetic series
  (deploy/prometheus/alerts.test.yml); deploy/grafana/budgetbot.json graphs only metrics that exist.
- Logs: text in Bangkok time or JSON without ANSI codes, an access line per request without the query string,
  third-party chatter at warning, "ready" after the port is bound as the last start-up line.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.knowledge.runtime import KnowledgeRuntime
from bot.settings import DEFAULT_SOURCES_DIR
from handlers.logs import ACCESS_LOGGER, THIRD_PARTY, JsonFormatter, TextFormatter, configure_logging, resolve_format
from handlers.metrics import Metrics
from tests.support.app import app_client
from tests.support.server import base_env, free_port, running_server

REPO = Path(__file__).resolve().parents[1]
PROMETHEUS = REPO / "deploy" / "prometheus"
DASHBOARD = REPO / "deploy" / "grafana" / "budgetbot.json"
QUESTION = "ปีงบ 66 ยังยื่นได้ไหม"


def samples(text: str) -> dict[str, float]:
    """name{labels} -> value, from an exposition."""
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()))
            out[f"{s.name}{{{labels}}}"] = s.value
    return out


def families(text: str) -> set[str]:
    names = set()
    for family in text_string_to_metric_families(text):
        names.update(s.name for s in family.samples)
    return names


# --- metrics ------------------------------------------------------------------------------------------------


def test_every_scrape_counts_every_worker(tmp_path: Path) -> None:
    port = free_port()
    env = base_env(tmp_path)
    env["BUDGETBOT_WATCH_KNOWLEDGE"] = "false"
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    log_path = tmp_path / "server.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "serve", "--port", str(port), "--workers", "2"],
            cwd=tmp_path,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while log_path.read_text(errors="replace").count("budgetbot is ready") < 2:  # both workers up
            assert process.poll() is None, log_path.read_text(errors="replace")
            assert time.monotonic() < deadline, log_path.read_text(errors="replace")
            time.sleep(0.2)
        for _ in range(6):  # new connections: the kernel spreads them over both workers
            assert httpx.post(f"{base}/api/ask", json={"question": QUESTION}, timeout=30).status_code == 200
        seen = []
        for _ in range(8):
            text = httpx.get(f"{base}/metrics", timeout=30).text
            values = samples(text)
            seen.append(values["budgetbot_answers_total{kind=fiscal_year_status}"])
            assert values["budgetbot_workers{}"] == 2
            assert values["process_resident_memory_bytes{}"] > 0 and values["process_cpu_seconds_total{}"] > 0
            assert values["budgetbot_knowledge_reload_failures_total{}"] == 0
            assert any(k.startswith("budgetbot_knowledge_info{version=") for k in values)
        assert seen == [6.0] * 8, seen
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=60)
    assert not re.search(r"budgetbot-metrics-\w+", "".join(os.listdir(tmp_path))), "nothing left in the data dir"


def test_one_process_has_process_metrics_and_the_knowledge_version(tmp_path: Path) -> None:
    with app_client(tmp_path) as client:
        text = client.get("/metrics").text
        version = client.get("/readyz").json()["knowledge"]["version"]
    values = samples(text)
    assert values[f"budgetbot_knowledge_info{{version={version}}}"] == 1
    assert values["process_resident_memory_bytes{}"] > 0
    assert "python_info" in families(text)


def test_a_rejected_reload_is_counted_and_the_version_stays(tmp_path: Path) -> None:
    knowledge = tmp_path / "knowledge"
    shutil.copytree(REPO / "knowledge", knowledge)
    runtime = KnowledgeRuntime(knowledge, sources_dir=DEFAULT_SOURCES_DIR)
    metrics = Metrics()
    metrics.watch_knowledge(runtime)
    before = runtime.version
    broken = knowledge / "fiscal_years.yaml"
    broken.write_text(broken.read_text(encoding="utf-8") + "\n  - this: [is not valid\n", encoding="utf-8")
    assert runtime.reload().ok is False
    value = metrics.registry.get_sample_value
    assert value("budgetbot_knowledge_reload_failures_total") == 1
    assert value("budgetbot_knowledge_info", {"version": before}) == 1


# --- alert rules and the dashboard --------------------------------------------------------------------------


def _promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        message = "promtool is not installed (scripts/install-deploy-tools installs Debian's prometheus)"
        if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return found


def test_promtool_accepts_the_alert_rules() -> None:
    result = subprocess.run(
        [_promtool(), "check", "rules", "alerts.yml"], cwd=PROMETHEUS, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr


def test_the_alert_rules_fire_on_synthetic_series() -> None:
    result = subprocess.run(
        [_promtool(), "test", "rules", "alerts.test.yml"], cwd=PROMETHEUS, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr


def declared() -> set[str]:
    """Every series name the app's registry can expose (a labelled metric has none until a child exists)."""
    names = {"up"}
    for family in Metrics().registry.collect():
        suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_count", "_sum"]}.get(family.type, [""])
        names.update(family.name + s for s in suffixes)
    return names


def test_every_alert_is_tested_and_uses_only_metrics_that_exist() -> None:
    import yaml

    rules = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())["groups"][0]["rules"]
    tests = (PROMETHEUS / "alerts.test.yml").read_text()
    names = declared()
    for rule in rules:
        assert f"alertname: {rule['alert']}" in tests, f"{rule['alert']} has no promtool test"
        for name in re.findall(r"\b((?:budgetbot|process)_[a-z_]+)\b", rule["expr"]):
            assert name in names, f"{rule['alert']}: no metric {name}"
    wanted = {"outbox", "gave_up", "storage", "answer_failed", "reload", "quota"}
    exprs = " ".join(r["expr"] for r in rules)
    assert all(w in exprs for w in wanted), wanted


def test_the_dashboard_graphs_metrics_that_exist() -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    names = declared()
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    assert len(exprs) >= 10
    for expr in exprs:
        for name in re.findall(r"\b((?:budgetbot|process)_[a-z_]+)\b", expr):
            assert name in names, f"{expr}: no metric {name}"
    assert dashboard["timezone"] == "Asia/Bangkok"


# --- logs ---------------------------------------------------------------------------------------------------


def record(message: str, **extra: object) -> logging.LogRecord:
    r = logging.LogRecord("budgetbot", logging.INFO, __file__, 1, message, None, None)
    r.created = 1_795_000_000.25  # 2026-11-18 11:06:40.250 UTC
    r.msecs = 250.0
    for k, v in extra.items():
        setattr(r, k, v)
    return r


def test_text_lines_are_readable_in_bangkok_time() -> None:
    line = TextFormatter().format(record("budgetbot started", knowledge_version="abc", channels_on=["line"]))
    assert line.startswith("2026-11-18 18:06:40.250 +07 INFO    budgetbot: budgetbot started")
    assert 'knowledge_version="abc"' in line and 'channels_on=["line"]' in line


def test_json_lines_carry_no_ansi_codes_nor_uvicorns_colour_copy() -> None:
    coloured = "Started server process [\x1b[36m1234\x1b[0m]"
    payload = json.loads(JsonFormatter().format(record("\x1b[32mINFO\x1b[0m done", color_message=coloured)))
    assert payload["message"] == "INFO done"
    assert "color_message" not in payload
    assert "\x1b" not in json.dumps(payload)
    assert payload["time"].endswith("+00:00")


def test_the_format_is_text_on_a_terminal_and_json_otherwise() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert resolve_format("auto", Tty()) == "text"
    assert resolve_format("auto", io.StringIO()) == "json"
    assert resolve_format("json", Tty()) == "json"
    assert resolve_format("text", io.StringIO()) == "text"


def test_third_party_libraries_log_warnings_only() -> None:
    configure_logging("INFO")
    try:
        for name in THIRD_PARTY + ("alembic.runtime.migration", "uvicorn.access"):
            assert not logging.getLogger(name).isEnabledFor(logging.INFO), name
            if name != "uvicorn.access":
                assert logging.getLogger(name).isEnabledFor(logging.WARNING), name
        assert logging.getLogger(ACCESS_LOGGER).isEnabledFor(logging.INFO)
        assert logging.getLogger("budgetbot").isEnabledFor(logging.INFO)
    finally:
        logging.getLogger().handlers[:] = []


def test_a_server_logs_text_when_asked_with_an_access_line_per_request_and_ready_last(tmp_path: Path) -> None:
    env = base_env(tmp_path)
    env["BUDGETBOT_LOG_FORMAT"] = "text"
    env["BUDGETBOT_WATCH_KNOWLEDGE"] = "false"
    with running_server(env, tmp_path) as server:
        user = "U" + "4" * 32
        assert httpx.get(f"{server.base_url}/api/welcome?user={user}&token=secret", timeout=30).status_code == 200
        assert httpx.post(f"{server.base_url}/api/ask", json={"question": QUESTION}, timeout=30).status_code == 200
        deadline = time.monotonic() + 30
        while "POST /api/ask 200" not in server.log_text() and time.monotonic() < deadline:
            time.sleep(0.1)
        text = server.log_text()
    lines = [line for line in text.splitlines() if re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} \+07 ", line)]
    assert lines and not any(line.startswith("{") for line in text.splitlines())
    assert "\x1b" not in text
    access = [line for line in lines if "budgetbot.access:" in line]
    assert any(re.search(r"GET /api/welcome 200 [\d.]+ ms", line) for line in access), access
    assert any(re.search(r"POST /api/ask 200 [\d.]+ ms", line) for line in access), access
    assert user not in text and "token=secret" not in text and "?" not in " ".join(access)
    # Start-up: "ready" after the app started, and nothing from uvicorn at info.
    ready = next(i for i, line in enumerate(lines) if "budgetbot is ready" in line)
    started = next(i for i, line in enumerate(lines) if "budgetbot started" in line)
    assert started < ready
    assert not any("uvicorn" in line and " INFO " in line for line in lines)
    first_request = next(i for i, line in enumerate(lines) if "budgetbot.access:" in line)
    between = [line for line in lines[ready + 1 : first_request] if "database purged" not in line]
    assert between == [], "ready is the last line of start-up"
