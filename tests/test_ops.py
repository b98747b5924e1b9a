"""Operations: health, readiness, Prometheus metrics, disabled channels, and the start-up log."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from tests.support.app import app_client
from tests.support.faults import parse_json_lines
from tests.support.server import base_env, running_server

REPO = Path(__file__).resolve().parents[1]
QUESTION = "แผนงานบูรณาการรัฐบาลดิจิทัลคืออะไร"
LINE_WEBHOOK = "/webhooks/line"
TELEGRAM_WEBHOOK = "/webhooks/telegram"


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    with app_client(tmp_path_factory.mktemp("ops")) as test_client:
        yield test_client


def answers_by_kind(client: TestClient) -> dict[str, float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    counts: dict[str, float] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            if sample.name == "budgetbot_answers_total":
                counts[sample.labels["kind"]] = sample.value
    return counts


def test_healthz(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_readyz_reports_the_knowledge_version(client: TestClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    assert isinstance(body["knowledge"]["version"], str) and body["knowledge"]["version"]
    assert body["knowledge"]["loaded_at"]


def test_metrics_is_prometheus_text_and_counts_answers(client: TestClient) -> None:
    response = client.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain")
    assert "# TYPE budgetbot_answers_total counter" in response.text
    before = answers_by_kind(client)

    answer = client.post("/api/ask", json={"question": QUESTION})
    assert answer.status_code == 200
    kind = answer.json()["kind"]

    after = answers_by_kind(client)
    assert after.get(kind, 0.0) == before.get(kind, 0.0) + 1
    assert sum(after.values()) == sum(before.values()) + 1
    families = {f.name: f for f in text_string_to_metric_families(client.get("/metrics").text)}
    latency = {s.name: s.value for s in families["budgetbot_answer_seconds"].samples}
    assert latency["budgetbot_answer_seconds_count"] >= 1


def test_bad_api_requests_are_not_counted_as_answers(client: TestClient) -> None:
    before = answers_by_kind(client)
    assert client.post("/api/ask", content=b"{", headers={"Content-Type": "application/json"}).status_code == 422
    assert answers_by_kind(client) == before


@pytest.mark.parametrize("path", [LINE_WEBHOOK, TELEGRAM_WEBHOOK])
def test_webhooks_without_credentials_answer_404_or_503(client: TestClient, path: str) -> None:
    for body in (b'{"destination": "U0", "events": []}', b'{"update_id": 1}', b"", b"not json"):
        response = client.post(path, content=body, headers={"Content-Type": "application/json"})
        assert response.status_code in (404, 503), (path, body, response.status_code)


def test_server_process_starts_without_credentials_and_logs_its_channels(tmp_path: Path) -> None:
    with running_server(base_env(tmp_path), tmp_path) as server:
        assert httpx.get(f"{server.base_url}/healthz", timeout=5).status_code == 200
        answer = httpx.post(f"{server.base_url}/api/ask", json={"question": QUESTION}, timeout=10)
        assert answer.status_code == 200
        for path in (LINE_WEBHOOK, TELEGRAM_WEBHOOK):
            assert httpx.post(f"{server.base_url}{path}", json={}, timeout=5).status_code in (404, 503)
        log_text = server.log_text()

    records = parse_json_lines(log_text)
    started = [r for r in records if r.get("message") == "budgetbot started"]
    assert len(started) == 1, log_text
    assert started[0]["channels_on"] == []
    assert sorted(started[0]["channels_off"]) == ["line", "telegram"]
    assert started[0]["knowledge_version"]
    assert started[0]["level"] == "info" and started[0]["time"]
