"""The JSON API (`POST /api/ask`) and the console page, in-process with the real app and knowledge."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from bot.answer import Answer, AnswerKind
from tests.support.app import app_client

REPO = Path(__file__).resolve().parents[1]
THAI = re.compile(r"[\u0E00-\u0E7F]")
SESSION = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
KINDS = {k.value for k in AnswerKind}
QUESTION = "แผนงานบูรณาการรัฐบาลดิจิทัลคืออะไร"


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    with app_client(tmp_path_factory.mktemp("console-api")) as test_client:
        yield test_client


def ask(client: TestClient, question: str, session: str | None = None) -> dict:
    body: dict[str, str] = {"question": question}
    if session is not None:
        body["session"] = session
    response = client.post("/api/ask", json=body)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    return response.json()


def test_answer_has_every_field_of_the_answer_model_and_the_session(client: TestClient) -> None:
    data = ask(client, QUESTION)
    required = {"kind", "text", "confidence", "suggestions", "sources", "fiscal_year", "accepting", "guideline"}
    assert required | {"session"} <= data.keys()
    assert set(Answer.model_fields) | {"session"} == data.keys()
    assert data["kind"] in KINDS
    assert THAI.search(data["text"]), data["text"]
    assert 0.0 <= data["confidence"] <= 1.0
    assert all(isinstance(s, str) and s for s in data["suggestions"])
    for source in data["sources"]:
        assert source["title"]
        assert source["posted"] is None or date.fromisoformat(source["posted"])
    assert SESSION.match(data["session"])
    # The JSON is a faithful Answer: it parses back without loss.
    Answer.model_validate({k: v for k, v in data.items() if k != "session"})


def test_year_question_fills_the_badge_fields(client: TestClient) -> None:
    data = ask(client, "ปีงบประมาณ 2570 เปิดรับคำของบประมาณหรือยัง")
    assert data["fiscal_year"] is None or isinstance(data["fiscal_year"], int)
    assert data["accepting"] in (None, True, False)
    assert data["guideline"] is None or 1 <= data["guideline"] <= 3
    assert data["fiscal_year"] is not None, "a question naming a fiscal year reports that year"


def test_session_is_echoed_and_generated_when_missing(client: TestClient) -> None:
    first = ask(client, QUESTION, session="tab-42_abc")
    second = ask(client, "มีแนวทางอะไรบ้าง", session="tab-42_abc")
    assert first["session"] == second["session"] == "tab-42_abc"

    generated_a = ask(client, QUESTION)["session"]
    generated_b = ask(client, QUESTION, session="")["session"]
    assert SESSION.match(generated_a) and SESSION.match(generated_b)
    assert generated_a != generated_b  # each new visitor gets their own conversation


@pytest.mark.parametrize("question", ["", "   ", "?!", "😀"])
def test_empty_or_odd_question_gets_a_sensible_answer(client: TestClient, question: str) -> None:
    data = ask(client, question)
    assert data["kind"] in KINDS
    assert data["text"].strip()


def test_too_long_question_is_422_with_a_clear_message(client: TestClient) -> None:
    response = client.post("/api/ask", json={"question": "ก" * 10_000})
    assert response.status_code == 422
    body = response.json()
    assert "question" in body["message"] and "2,000" in body["message"]
    assert "ก" * 100 not in response.text  # the input is not echoed back
    # Exactly at the limit is still fine.
    assert client.post("/api/ask", json={"question": "ก" * 2000}).status_code == 200


@pytest.mark.parametrize("session", ["has space", "semi;colon", "ไทย", "a" * 129, "../../etc/passwd"])
def test_bad_session_is_422(client: TestClient, session: str) -> None:
    response = client.post("/api/ask", json={"question": QUESTION, "session": session})
    assert response.status_code == 422
    assert "session" in response.json()["message"]


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b"not json at all", "application/json"),
        (b'{"question": ', "application/json"),
        ("คำถาม".encode(), "text/plain"),
        (b"", "application/json"),
        (b"\xff\xfe\x00", "application/json"),
        (b'["a list"]', "application/json"),
        (b'"just a string"', "application/json"),
        (b'{"session": "abc"}', "application/json"),
        (b'{"question": 42}', "application/json"),
        (b'{"question": null}', "application/json"),
    ],
)
def test_bad_body_is_a_4xx_with_a_message(client: TestClient, content: bytes, content_type: str) -> None:
    response = client.post("/api/ask", content=content, headers={"Content-Type": content_type})
    assert response.status_code in (400, 422), response.text
    assert response.json()["message"]


def test_only_post_is_allowed(client: TestClient) -> None:
    assert client.get("/api/ask").status_code == 405


def test_console_page_is_thai_html(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert 'lang="th"' in html
    assert THAI.search(html)
    for testid in ("question-input", "send", "messages"):
        assert f'data-testid="{testid}"' in html
    # Everything it needs comes from this server: no CDN, nothing fetched from elsewhere.
    assert "default-src 'none'" in response.headers["content-security-policy"]
    for path in ("/static/console.js", "/static/console.css"):
        assert path in html
        asset = client.get(path)
        assert asset.status_code == 200, path
        assert "http://" not in asset.text and "https://" not in asset.text
    assert "http://" not in html and "https://" not in html


def test_console_assets_have_the_right_types_and_thai_fonts(client: TestClient) -> None:
    js = client.get("/static/console.js")
    css = client.get("/static/console.css")
    assert "javascript" in js.headers["content-type"]
    assert css.headers["content-type"].startswith("text/css")
    assert '"Noto Sans Thai", "Sarabun", "Leelawadee UI"' in css.text
    assert "pre-wrap" in css.text
    assert "innerHTML" not in js.text  # answer text is only ever set with textContent
    assert client.get("/static/other.js").status_code == 404
    assert client.get("/static/../pyproject.toml").status_code == 404
