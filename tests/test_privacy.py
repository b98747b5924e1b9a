"""Personal data (Thailand's PDPA): what users type is masked before it is kept or shown anywhere, user ids are
only ever kept as keyed hashes, and the server refuses to run a chat channel without a secret key for them."""

from __future__ import annotations

import hashlib
import json
import logging
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from bot.privacy import DEV_SALT, EMAIL_MASK, NATIONAL_ID_MASK, PHONE_MASK, mask_personal_data, redact_user
from bot.service import AssistantService
from bot.storage.models import Conversation, QuestionLogEntry
from handlers.app import ConfigurationError, create_app
from tests.support.app import app_client
from tests.support.core import shipped_assistant

THAI_DIGITS = str.maketrans("0123456789", "๐๑๒๓๔๕๖๗๘๙")

MASKED = [
    ("โทร 081-234-5678 นะคะ", f"โทร {PHONE_MASK} นะคะ"),
    ("เบอร์ 0812345678", f"เบอร์ {PHONE_MASK}"),
    ("ติดต่อ 02 123 4567 ค่ะ", f"ติดต่อ {PHONE_MASK} ค่ะ"),
    ("สพร. 0-2612-6000", f"สพร. {PHONE_MASK}"),
    ("(02) 612-6000 ต่อ 1", f"{PHONE_MASK} ต่อ 1"),
    ("+66 81 234 5678", PHONE_MASK),
    ("+66812345678", PHONE_MASK),
    ("๐๘๑-๒๓๔-๕๖๗๘", PHONE_MASK),
    ("ปี 65 081 234 5678 ครับ", f"ปี 65 {PHONE_MASK} ครับ"),
    ("เลขบัตร 1-2345-67890-12-3", f"เลขบัตร {NATIONAL_ID_MASK}"),
    ("1234567890123", NATIONAL_ID_MASK),
    ("๑๒๓๔๕๖๗๘๙๐๑๒๓", NATIONAL_ID_MASK),
    ("ส่งมาที่ somchai.k@agency.go.th ได้ไหม", f"ส่งมาที่ {EMAIL_MASK} ได้ไหม"),
]

KEPT = [
    "ปีงบ 2566 ยังยื่นได้ไหม",
    "ปีงบประมาณ พ.ศ. 2565 ได้รับจัดสรร 2,409.3962 ล้านบาท",
    "งบ 100000000 บาท",
    "ยื่นได้ถึง 30 ก.ย. 2566",
    "ปี 2565 2566 2567",
    "FY2023 ครับ",
    "แนวทางที่ 1 2 และ 3",
]


@pytest.mark.parametrize(("text", "expected"), MASKED)
def test_phone_id_and_email_are_masked(text: str, expected: str) -> None:
    assert mask_personal_data(text) == expected


@pytest.mark.parametrize("text", KEPT)
def test_years_amounts_and_dates_are_left_alone(text: str) -> None:
    assert mask_personal_data(text) == text


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text.translate(str.maketrans("๐๑๒๓๔๕๖๗๘๙", "0123456789")))


@given(
    prefix=st.sampled_from(["06", "08", "09", "02", "053", "0"]),
    rest=st.text("0123456789", min_size=8, max_size=8),
    sep=st.sampled_from(["", "-", " ", "."]),
    thai=st.booleans(),
    before=st.sampled_from(["", "โทร ", "ปีงบ 66 เบอร์ ", "call "]),
)
def test_no_run_of_a_phone_numbers_digits_is_left(prefix: str, rest: str, sep: str, thai: bool, before: str) -> None:
    number = (prefix + rest)[:10] if prefix != "02" else (prefix + rest)[:9]
    shown = sep.join([number[:3], number[3:6], number[6:]])
    if thai:
        shown = shown.translate(THAI_DIGITS)
    masked = mask_personal_data(f"{before}{shown} ค่ะ")
    assert PHONE_MASK in masked
    assert number[3:] not in _digits(masked)


@given(
    first=st.sampled_from("12345678"),  # a Thai ID number's first digit is its holder's type, 1 to 8
    rest=st.text("0123456789", min_size=12, max_size=12),
    grouped=st.booleans(),
)
def test_no_run_of_a_national_id_is_left(first: str, rest: str, grouped: bool) -> None:
    digits = first + rest
    shown = "-".join([digits[0], digits[1:5], digits[5:10], digits[10:12], digits[12]]) if grouped else digits
    masked = mask_personal_data(f"เลขบัตรประชาชน {shown} ค่ะ")
    assert not re.search(r"\d{4}", _digits(masked)), masked


def test_masking_is_linear_on_hostile_input() -> None:
    import time

    # 200,000 characters: a quadratic pattern would take many minutes on these, a linear one milliseconds, so
    # the bound below only fails for the former however busy the machine is.
    for text in ("ก" * 200_000 + "@", "a" * 100_000 + "@" + "b" * 99_999, "1 " * 100_000, "@." * 100_000):
        started = time.perf_counter()
        mask_personal_data(text)
        assert time.perf_counter() - started < 20


# --- end to end: nothing unmasked is stored, logged or shown -------------------------------------------------

PHONE = "081-234-5678"
NATIONAL_ID = "1-2345-67890-12-3"
EMAIL = "somchai.k@agency.go.th"
RAW = ("2345678", "1234567890123", "somchai")


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with app_client(tmp_path, admin_token="admin-token-for-tests") as test_client:
        yield test_client


def _stored_text(client: TestClient) -> str:
    ctx = client.app.state.ctx  # type: ignore[attr-defined]
    client.portal.call(ctx.flush_question_log)  # type: ignore[union-attr]
    with ctx.db.engine.connect() as connection:
        questions = connection.execute(select(QuestionLogEntry.question, QuestionLogEntry.normalized_question)).all()
        states = connection.execute(select(Conversation.state)).scalars().all()
    return json.dumps([list(q) for q in questions] + list(states), ensure_ascii=False)


def test_personal_numbers_never_reach_storage_logs_or_the_review(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    session = {"session": "privacy-check"}
    for question in (
        f"สอบถามค่ะ ติดต่อกลับที่ {PHONE} หรือ {EMAIL} ค่ะ",
        f"เลขบัตรประชาชน {NATIONAL_ID} ขอรับงบได้ไหม",
        "โครงการเราขอได้ไหม",  # the guided check: the next message is kept as the project description
        f"ระบบจองคิวออนไลน์ของกรม ติดต่อผู้รับผิดชอบ {PHONE}",
    ):
        assert client.post("/api/ask", json={"question": question, **session}).status_code == 200
    stored = _stored_text(client)
    assert PHONE_MASK in stored and EMAIL_MASK in stored and NATIONAL_ID_MASK in stored
    assert not any(raw in _digits(stored) or raw in stored for raw in RAW), stored
    review = client.get("/admin/review", headers={"Authorization": "Bearer admin-token-for-tests"})
    assert review.status_code == 200
    assert not any(raw in _digits(review.text) or raw in review.text for raw in RAW), review.text
    logged = "\n".join(r.getMessage() + json.dumps(r.__dict__, default=str, ensure_ascii=False) for r in caplog.records)
    assert not any(raw in logged for raw in RAW)


class _Provider:
    @property
    def assistant(self):  # type: ignore[no-untyped-def]
        return shipped_assistant()


def test_log_lines_name_users_by_a_keyed_hash_never_a_plain_one() -> None:
    service = AssistantService(_Provider(), user_salt="a-secret-salt-for-this-test")
    shown = service._redact("telegram:123456789")
    assert shown == "telegram:" + redact_user("123456789", "a-secret-salt-for-this-test")
    assert hashlib.sha256(b"123456789").hexdigest()[:12] not in shown  # the old, brute-forceable form
    other = AssistantService(_Provider(), user_salt="another-salt-entirely")
    assert other._redact("telegram:123456789") != shown


# --- the salt is required once a channel is on -----------------------------------------------------------------


def _serve(tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    from tests.support.server import base_env

    full = base_env(tmp_path)
    full.pop("BUDGETBOT_USER_HASH_SALT", None)
    full.update(env)
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", "serve", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env=full,
    )


@pytest.mark.parametrize(
    "channel",
    [
        {"LINE_CHANNEL_SECRET": "line-secret-0123456789", "LINE_CHANNEL_ACCESS_TOKEN": "line-token-0123456789"},
        {"TELEGRAM_BOT_TOKEN": "123456:telegram-token-0123456789"},
    ],
    ids=["line", "telegram"],
)
@pytest.mark.parametrize("salt", [None, DEV_SALT], ids=["unset", "the-published-dev-value"])
def test_a_channel_without_a_secret_salt_refuses_to_start(
    tmp_path: Path, channel: dict[str, str], salt: str | None
) -> None:
    env = dict(channel)
    if salt is not None:
        env["BUDGETBOT_USER_HASH_SALT"] = salt
    result = _serve(tmp_path, env)
    assert result.returncode == 2
    assert "BUDGETBOT_USER_HASH_SALT" in result.stderr and "Traceback" not in result.stderr, result.stderr


def test_the_app_itself_refuses_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.settings import Settings

    monkeypatch.delenv("BUDGETBOT_USER_HASH_SALT", raising=False)
    settings = Settings(_env_file=None, data_dir=tmp_path, telegram_bot_token="123:abc")  # type: ignore[call-arg]
    with pytest.raises(ConfigurationError, match="BUDGETBOT_USER_HASH_SALT"):
        create_app(settings)
