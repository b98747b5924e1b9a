"""Hostile input: whatever arrives, the service answers with a 4xx (never a 500), stays fast, keeps its
limits and never writes a secret to its log.

- properties of bot.thai.normalize and bot.years.read_years that tests/test_thai.py and tests/test_years.py
  do not cover (invisible characters, full-width and Thai digits, non-text input, time on long input,
  years found in any surroundings, "this fiscal year" on any date);
- the webhooks with arbitrary bytes, headers and JSON, correctly signed LINE bodies and Telegram updates
  with the right secret, built from real event shapes with random fields changed (one app for all);
- schemathesis against the JSON API's OpenAPI schema;
- the body size limit on every POST route, with and without Content-Length;
- no secret in the server's log, whatever the routes are asked;
- a LINE webhook signed with the previous channel secret stops being accepted once it is removed.
"""

from __future__ import annotations

import copy
import json
import re
import secrets
import shutil
import tempfile
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from schemathesis.specs.openapi.checks import unsupported_method

from bot.settings import Settings
from bot.thai import normalize
from bot.years import fiscal_year_of, read_years
from handlers.app import create_app
from handlers.telegram import SECRET_HEADER
from tests.fakes.fake_line import (
    FakeLine,
    follow_event,
    image_event,
    postback_event,
    sign,
    signed_webhook,
    sticker_event,
    text_event,
    unfollow_event,
    user_source,
)
from tests.fakes.fake_telegram import FakeTelegram, callback_update, photo_update, text_update
from tests.support.env import clean_bot_env
from tests.support.faults import json_logs, parse_json_lines, reply_token_of, settle
from tests.support.server import base_env, running_server

REPO = Path(__file__).resolve().parents[1]
TODAY = date(2026, 11, 21)
SECRET = "hostile-line-secret-" + secrets.token_hex(8)
OLD_SECRET = "hostile-line-old-secret-" + secrets.token_hex(8)
TOKEN = "hostile-line-access-token-" + secrets.token_hex(8)
TG_TOKEN = "7000000002:AAHostile" + secrets.token_hex(12)
TG_SECRET = "hostile_tg_secret-" + secrets.token_hex(8)
ADMIN = "hostile-admin-token-" + secrets.token_hex(8)
MAX_BODY = 64 * 1024  # small, so oversized bodies are cheap to send

# Fuzzing budget: enough variety to find shape bugs, small enough for the file to run in ~20 s.
FUZZ = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)

# --- bot.thai.normalize and bot.years.read_years ------------------------------------------------------

INVISIBLES = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad"]
THAI_DIGITS = str.maketrans("0123456789", "๐๑๒๓๔๕๖๗๘๙")
# Thai letters, vowels, tone marks and spaces: filler that can never form a number, unit or cue by itself.
THAI_FILLER = st.text(alphabet=st.sampled_from(list("กขคงจชซดตถทนบปผพฟมยรลวสหอะาิีึืุูเแโใไ่้๊๋ ")), max_size=20)


def _fullwidth(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else ("\u3000" if c == " " else c) for c in text)


@settings(max_examples=100, deadline=None)
@given(st.one_of(st.none(), st.integers(), st.floats(), st.binary(max_size=20), st.booleans()))
def test_normalize_takes_what_a_handler_might_pass(value: Any) -> None:
    out = normalize(value)
    assert isinstance(out, str) and normalize(out) == out


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(codec=None, exclude_categories=())))
@example("a\ud800b\udfff")  # lone surrogates: JSON can carry them, UTF-8 cannot
@example("\x00\x1f\x7f\x85\u2028\u2029")
def test_normalize_output_can_be_stored_and_sent(text: str) -> None:
    out = normalize(text)
    out.encode("utf-8")  # PostgreSQL, JSON and the chat APIs all need UTF-8
    assert "\x00" not in out
    import unicodedata

    assert not [ch for ch in out if unicodedata.category(ch) in ("Cc", "Cs", "Cf")]


@settings(max_examples=200, deadline=None)
@given(st.text(), st.lists(st.tuples(st.integers(0, 10_000), st.sampled_from(INVISIBLES)), max_size=8))
def test_invisible_characters_change_nothing(text: str, insertions: list[tuple[int, str]]) -> None:
    noisy = text
    for position, char in insertions:
        at = position % (len(noisy) + 1)
        noisy = noisy[:at] + char + noisy[at:]
    assert normalize(noisy) == normalize(text)


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40))
def test_full_width_forms_read_as_ascii(text: str) -> None:
    assert normalize(_fullwidth(text)) == normalize(text)


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("0123456789 .,-/ปีงบประมาณfy")), max_size=30), THAI_FILLER)
def test_thai_digits_read_as_ascii_digits(numbers: str, filler: str) -> None:
    text = filler + numbers
    assert normalize(text.translate(THAI_DIGITS)) == normalize(text)


_LONG_PATTERNS = [
    "ปีงบ",
    "2566-",
    "1",
    "fy",
    "ปีงบประมาณ 66 ",
    "ๆ",
    "ค่ะะะ",
    ". ",
    "1.",
    "1,",
    "ปี 6",
    "\u200b",
    "ก่",
    "x ",
    "ยื่น 66 ",
    "((((",
    "พ.ศ.",
    "ล้านบาท",
]


@settings(max_examples=20, deadline=None)
@given(st.one_of(st.sampled_from(_LONG_PATTERNS), st.text(min_size=1, max_size=8)))
def test_long_repetitive_text_is_read_quickly(unit: str) -> None:
    """LINE allows 5,000 characters: repetitions are where a regular expression could blow up."""
    text = (unit * (5000 // len(unit) + 1))[:5000]
    started = time.perf_counter()
    normalized = normalize(text)
    read_years(normalized, TODAY)
    read_years(text, TODAY)
    assert time.perf_counter() - started < 2.0, repr(unit)
    assert len(normalized) <= 5 * len(text)


@settings(max_examples=150, deadline=None)
@given(st.integers(min_value=2500, max_value=2699), THAI_FILLER, THAI_FILLER, st.booleans())
def test_a_written_fiscal_year_is_found_in_any_surroundings(
    year: int, before: str, after: str, thai_digits: bool
) -> None:
    written = str(year).translate(THAI_DIGITS) if thai_digits else str(year)
    text = f"{before} ปีงบประมาณ {written} ยื่น{after}"
    assert year in [m.year for m in read_years(text, TODAY)]


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=1990, max_value=2156), THAI_FILLER)
def test_a_fiscal_year_in_ce_after_fy_is_read_as_be(ce: int, before: str) -> None:
    assert ce + 543 in [m.year for m in read_years(f"{before} fy{ce} ", TODAY)]


@settings(max_examples=150, deadline=None)
@given(st.dates(min_value=date(1990, 1, 1), max_value=date(2150, 12, 31)), THAI_FILLER)
def test_this_fiscal_year_follows_the_calendar_on_any_day(today: date, before: str) -> None:
    years = [m.year for m in read_years(f"{before} ปีงบประมาณนี้ ยื่นได้ไหม", today)]
    assert fiscal_year_of(today) in years
    nxt = [m.year for m in read_years(f"{before} ปีงบหน้า", today)]
    assert fiscal_year_of(today) + 1 in nxt


# --- one app, both channels on, fakes behind them -------------------------------------------------------


@pytest.fixture(scope="module")
def line_fake() -> Iterator[FakeLine]:
    with FakeLine(access_token=TOKEN) as fake:
        yield fake


@pytest.fixture(scope="module")
def tg_fake() -> Iterator[FakeTelegram]:
    with FakeTelegram(token=TG_TOKEN) as fake:
        yield fake


def _clean_env(mp: pytest.MonkeyPatch) -> None:
    clean_bot_env(mp)


@pytest.fixture(scope="module")
def client(
    line_fake: FakeLine, tg_fake: FakeTelegram, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    tmp = tmp_path_factory.mktemp("hostile")
    with pytest.MonkeyPatch.context() as mp:
        _clean_env(mp)
        mp.chdir(tmp)
        settings_ = Settings(
            _env_file=None,  # type: ignore[call-arg]
            line_channel_secret=SECRET,
            line_channel_access_token=TOKEN,
            line_api_base_url=line_fake.url,
            line_data_api_base_url=line_fake.url,
            telegram_bot_token=TG_TOKEN,
            telegram_webhook_secret=TG_SECRET,
            telegram_api_base_url=tg_fake.base_url,
            admin_token=ADMIN,
            data_dir=tmp / "data",
            today=TODAY,
            watch_knowledge=False,
            max_body_bytes=MAX_BODY,
        )
        with TestClient(create_app(settings_), raise_server_exceptions=False) as test_client:
            yield test_client


@pytest.fixture(scope="module")
def background(client: TestClient) -> Iterator[Any]:
    """The app's log lines while the fuzz tests run (attached after start-up, see json_logs)."""
    with json_logs() as logs:
        yield logs


def _settle(client: TestClient, tg_fake: FakeTelegram) -> None:
    """Wait (bounded) until the pipeline has finished everything and Telegram has gone quiet."""
    settle(client, 30.0)
    last = -1
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        count = len(tg_fake.calls)
        if count == last:
            return
        last = count
        time.sleep(0.3)


# --- webhooks: arbitrary input --------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
special_values = st.sampled_from(
    [
        "",
        " ",
        "\x00",
        "\ud800",
        "0" * 32,
        "f" * 32,
        "x" * 6000,
        "๑๒๓",
        "ปีงบ 2566" * 300,
        -1,
        0,
        2**63,
        10**30,
        1e308,
        True,
        [],
        {},
        {"type": "user"},
        "q=",
        "q=%E0%B8%AA%E0%B8%A7",
        "<b>&amp;</b>",
        "/start",
        "/help@bot",
    ]
)
any_value = st.one_of(json_values, special_values)
header_text = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40)
headers = st.dictionaries(
    st.sampled_from(
        [
            "content-type",
            "x-line-signature",
            SECRET_HEADER.lower(),
            "authorization",
            "x-forwarded-for",
            "content-encoding",
            "accept",
            "user-agent",
        ]
    ),
    header_text,
    max_size=5,
)
DELETE = object()

LINE_PATHS = [
    ("type",),
    ("mode",),
    ("timestamp",),
    ("source",),
    ("source", "type"),
    ("source", "userId"),
    ("source", "groupId"),
    ("source", "roomId"),
    ("webhookEventId",),
    ("deliveryContext",),
    ("deliveryContext", "isRedelivery"),
    ("replyToken",),
    ("message",),
    ("message", "type"),
    ("message", "text"),
    ("message", "id"),
    ("message", "quoteToken"),
    ("message", "emojis"),
    ("message", "mention"),
    ("postback",),
    ("postback", "data"),
    ("postback", "params"),
    ("follow",),
    ("follow", "isUnblocked"),
    ("somethingNew",),
]
TG_PATHS = [
    ("update_id",),
    ("message",),
    ("message", "text"),
    ("message", "chat"),
    ("message", "chat", "id"),
    ("message", "chat", "type"),
    ("message", "from"),
    ("message", "from", "id"),
    ("message", "entities"),
    ("message", "date"),
    ("message", "message_id"),
    ("message", "photo"),
    ("message", "reply_to_message"),
    ("callback_query",),
    ("callback_query", "data"),
    ("callback_query", "id"),
    ("callback_query", "message"),
    ("callback_query", "from"),
    ("edited_message",),
    ("my_chat_member",),
]
LINE_KINDS = {
    "text": lambda: text_event("ปีงบประมาณนี้ยังยื่นคำขอได้ไหม", source=user_source("U" + secrets.token_hex(16))),
    "group": lambda: text_event("แนวทางมีอะไรบ้าง", source={"type": "group", "groupId": "C" + secrets.token_hex(16)}),
    "sticker": sticker_event,
    "image": image_event,
    "follow": follow_event,
    "unfollow": unfollow_event,
    "postback": lambda: postback_event("q=%E0%B9%81%E0%B8%99%E0%B8%A7%E0%B8%97%E0%B8%B2%E0%B8%87"),
}
_update_ids = iter(range(50_000_000, 60_000_000))
TG_KINDS = {
    "text": lambda: text_update(next(_update_ids), "ปีงบประมาณนี้ยังยื่นคำขอได้ไหม", chat_id=secrets.randbelow(10**9) + 1),
    "command": lambda: text_update(next(_update_ids), "/start", chat_id=secrets.randbelow(10**9) + 1),
    "group": lambda: text_update(next(_update_ids), "แนวทางมีอะไรบ้าง", chat_id=-(secrets.randbelow(10**9) + 1)),
    "photo": lambda: photo_update(next(_update_ids), chat_id=secrets.randbelow(10**9) + 1),
    "callback": lambda: callback_update(next(_update_ids), "s:unknown", chat_id=secrets.randbelow(10**9) + 1),
}
mutations = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=3),
        st.integers(min_value=0, max_value=10**6),
        st.one_of(any_value, st.just(DELETE)),
    ),
    max_size=4,
)


def _mutate(obj: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    node: Any = obj
    for key in path[:-1]:
        if not isinstance(node, dict):
            return
        node = node.setdefault(key, {})
    if not isinstance(node, dict):
        return
    if value is DELETE:
        node.pop(path[-1], None)
    else:
        node[path[-1]] = copy.deepcopy(value)


def _build(
    kinds: list[str], changes: list[tuple[int, int, Any]], makers: dict[str, Any], paths: list[tuple[str, ...]]
) -> list[dict[str, Any]]:
    items = [makers[k]() for k in kinds]
    for which, path_index, value in changes:
        _mutate(items[which % len(items)], paths[path_index % len(paths)], value)
    return items


def _with(extra: dict[str, str], name: str, value: str) -> dict[str, str]:
    """`extra` with one header set (replacing any spelling of it: a duplicate would be a different test)."""
    return {**{k: v for k, v in extra.items() if k.lower() != name.lower()}, name: value}


def _dump(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=True).encode()  # ASCII escapes carry lone surrogates too


@FUZZ
@given(body=st.binary(max_size=300), extra=headers)
def test_webhooks_and_api_never_500_on_arbitrary_bytes(
    client: TestClient, background: Any, body: bytes, extra: dict[str, str]
) -> None:
    for path in ("/webhooks/line", "/webhooks/telegram", "/api/ask"):
        response = client.post(path, content=body, headers=extra)
        assert response.status_code < 500, (path, body, extra, response.text)


@FUZZ
@given(value=any_value, extra=headers)
def test_webhooks_never_500_on_arbitrary_json(
    client: TestClient, background: Any, value: Any, extra: dict[str, str]
) -> None:
    body = _dump(value)
    line = client.post("/webhooks/line", content=body, headers=_with(extra, "X-Line-Signature", sign(body, SECRET)))
    assert line.status_code in (200, 400), (body, line.text)
    telegram = client.post("/webhooks/telegram", content=body, headers=_with(extra, SECRET_HEADER, TG_SECRET))
    assert telegram.status_code in (200, 400), (body, telegram.text)


@FUZZ
@given(
    kinds=st.lists(st.sampled_from(sorted(LINE_KINDS)), min_size=1, max_size=3),
    changes=mutations,
    destination=any_value,
)
@example(kinds=["text"], changes=[(0, 0, "message")], destination="U0")  # type and content disagree
def test_signed_line_events_with_arbitrary_fields_never_500(
    client: TestClient, background: Any, kinds: list[str], changes: list[tuple[int, int, Any]], destination: Any
) -> None:
    events = _build(kinds, changes, LINE_KINDS, LINE_PATHS)
    body = _dump({"destination": destination, "events": events})
    response = client.post(
        "/webhooks/line",
        content=body,
        headers={"Content-Type": "application/json", "X-Line-Signature": sign(body, SECRET)},
    )
    assert response.status_code in (200, 400), (body, response.text)


@FUZZ
@given(kinds=st.lists(st.sampled_from(sorted(TG_KINDS)), min_size=1, max_size=1), changes=mutations)
def test_telegram_updates_with_arbitrary_fields_never_500(
    client: TestClient, background: Any, kinds: list[str], changes: list[tuple[int, int, Any]]
) -> None:
    (update,) = _build(kinds, changes, TG_KINDS, TG_PATHS)
    response = client.post(
        "/webhooks/telegram",
        content=_dump(update),
        headers={"Content-Type": "application/json", SECRET_HEADER: TG_SECRET},
    )
    assert response.status_code in (200, 400), (update, response.text)


def test_deeply_nested_json_is_a_400(client: TestClient) -> None:
    """json.loads raises RecursionError (not ValueError) past ~1,000 levels."""
    nested = b'{"events": ' + b"[" * 20_000 + b"]" * 20_000 + b"}"
    for content in (nested, b'{"update_id": 1, "message": ' + b"[" * 20_000 + b"]" * 20_000 + b"}"):
        line = client.post("/webhooks/line", content=content, headers={"X-Line-Signature": sign(content, SECRET)})
        assert line.status_code == 400, line.text
        telegram = client.post("/webhooks/telegram", content=content, headers={SECRET_HEADER: TG_SECRET})
        assert telegram.status_code == 400, telegram.text
        api = client.post("/api/ask", content=content, headers={"Content-Type": "application/json"})
        assert 400 <= api.status_code < 500, api.text


@pytest.mark.parametrize("unit", ["ปีงบ", "2566-", "ๆ", "fy", "ค่ะะะ", "((((", "ปีงบประมาณ 66 ", "\u200b"])
def test_long_pathological_questions_are_answered_quickly(client: TestClient, unit: str) -> None:
    question = (unit * 2000)[:2000]
    started = time.perf_counter()
    response = client.post("/api/ask", json={"question": question})
    assert response.status_code == 200
    assert response.json()["text"].strip()
    assert time.perf_counter() - started < 3.0


def test_hostile_input_never_crashed_a_handler_or_made_an_invalid_reply(
    client: TestClient, background: Any, line_fake: FakeLine, tg_fake: FakeTelegram
) -> None:
    """Runs after the fuzz tests above (file order): what their background handling left in the log and
    in the fakes. A reply LINE or Telegram would refuse means a user got nothing."""
    _settle(client, tg_fake)
    records = background.records()
    crashed = [r for r in records if r.get("level") in ("error", "critical") or "exception" in r]
    assert crashed == [], json.dumps(crashed[:3], ensure_ascii=False, indent=1)[:4000]
    # A fuzzed reply token is refused as LINE would ("Invalid reply token"): nobody was waiting for that reply.
    # Any other 400 is a message LINE would refuse.
    refused_line = [
        (r.status, r.answer, r.body[:300])
        for r in line_fake.requests
        if r.status == 400 and (r.answer or {}).get("message") != "Invalid reply token"
    ]
    refused_tg = [
        (c.method, c.status, c.params.get("text", "")[:200])
        for c in tg_fake.calls
        if c.status == 400 and c.method.lower() == "sendmessage"
    ]
    assert refused_line == []
    assert refused_tg == []


# --- schemathesis: the JSON API against its own OpenAPI schema --------------------------------------------

_API_DIR = Path(tempfile.mkdtemp(prefix="budgetbot-schema-"))
API_APP = create_app(
    Settings(
        _env_file=None,  # type: ignore[call-arg]
        line_channel_secret=None,
        line_channel_access_token=None,
        telegram_bot_token=None,
        admin_token=ADMIN,
        data_dir=_API_DIR,
        database_url=f"sqlite:///{_API_DIR}/budgetbot.sqlite3",
        knowledge_dir=REPO / "knowledge",
        today=TODAY,
        watch_knowledge=False,
    )
)
# The webhooks take raw bodies (their schema describes no request at all): they are fuzzed above instead.
api_schema = schemathesis.openapi.from_dict(API_APP.openapi()).exclude(path_regex="^/webhooks/")
api_schema.app = API_APP  # called in-process; schemathesis runs the app's lifespan itself


@pytest.fixture(scope="module", autouse=True)
def _stop_schema_app() -> Iterator[None]:
    yield
    from schemathesis.python import asgi

    asgi.shutdown_lifespans()  # the app schemathesis started: close its database
    shutil.rmtree(_API_DIR, ignore_errors=True)


@api_schema.parametrize()
@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_schema(case: Any) -> None:
    # /admin answers any unknown method or path with the same 404 after the token check, on purpose (it
    # reveals no route names), so "405 for an undeclared method" does not apply there.
    excluded = [unsupported_method] if case.path.startswith("/admin") else []
    response = case.call_and_validate(headers={"Authorization": f"Bearer {ADMIN}"}, excluded_checks=excluded)
    assert response.status_code != 503, "the app under test did not start"


# --- body size limit --------------------------------------------------------------------------------------


def _post_routes(client: TestClient) -> list[str]:
    """Every POST operation in the app's schema, plus an unlisted /admin path (the admin API answers any)."""
    schema = client.app.openapi()  # type: ignore[attr-defined]
    paths = [re.sub(r"\{[^}]*\}", "x", p) for p, ops in schema["paths"].items() if "post" in ops]
    if any(p.startswith("/admin/") for p in paths):
        paths.append("/admin/not-a-route")
    return sorted(set(paths))


def _credentials(body: bytes) -> dict[str, str]:
    """What a legitimate caller sends, so the limit (not a missing credential) is what refuses the body."""
    return {
        "Content-Type": "application/json",
        "X-Line-Signature": sign(body, SECRET),
        SECRET_HEADER: TG_SECRET,
        "Authorization": f"Bearer {ADMIN}",
    }


def _chunks(total: int, size: int = 16 * 1024) -> Iterator[bytes]:
    sent = 0
    while sent < total:
        chunk = b" " * min(size, total - sent)
        sent += len(chunk)
        yield chunk


def test_every_post_route_is_covered_by_the_limit_test(client: TestClient) -> None:
    routes = _post_routes(client)
    assert {"/api/ask", "/webhooks/line", "/webhooks/telegram"} <= set(routes)
    assert any(r.startswith("/admin/") for r in routes)  # the admin API is on in this app


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_oversized_bodies_get_413_on_every_post_route(client: TestClient, chunked: bool) -> None:
    big = b'{"question": "' + b"x" * (MAX_BODY + 10) + b'"}'
    for path in _post_routes(client):
        if chunked:
            response = client.post(path, content=_chunks(MAX_BODY + 1), headers=_credentials(b""))
        else:
            response = client.post(path, content=big, headers=_credentials(big))
        assert response.status_code == 413, (path, response.status_code, response.text)
    # ...and a body just under the limit is not refused by it.
    ok = client.post("/api/ask", content=_chunks(MAX_BODY - 100), headers={"Content-Type": "application/json"})
    assert ok.status_code != 413


# --- secrets never in logs (the real server, as a separate process) ----------------------------------------


def _leaks(log_text: str, values: dict[str, str]) -> list[str]:
    found = []
    for name, value in values.items():
        forms = {value, quote(value, safe=""), quote(value)}
        if ":" in value:
            forms.add(value.split(":", 1)[1])  # a bot token's secret half
        found += [f"{name} ({form[:6]}...)" for form in forms if form and form in log_text]
    return found


def test_secrets_never_reach_the_log(tmp_path: Path) -> None:
    salt = "hostile-salt-" + secrets.token_hex(8)
    values = {
        "LINE_CHANNEL_SECRET": SECRET,
        "LINE_CHANNEL_SECRET_PREVIOUS": OLD_SECRET,
        "LINE_CHANNEL_ACCESS_TOKEN": TOKEN,
        "TELEGRAM_BOT_TOKEN": TG_TOKEN,
        "TELEGRAM_WEBHOOK_SECRET": TG_SECRET,
        "BUDGETBOT_ADMIN_TOKEN": ADMIN,
        "BUDGETBOT_USER_HASH_SALT": salt,
    }
    with FakeLine(access_token=TOKEN) as line, FakeTelegram(token=TG_TOKEN) as tg:
        env = base_env(tmp_path)
        env.update(values)
        env.update(
            LINE_API_BASE_URL=line.url,
            LINE_DATA_API_BASE_URL=line.url,
            TELEGRAM_API_BASE_URL=tg.base_url,
            BUDGETBOT_WATCH_KNOWLEDGE="false",
            BUDGETBOT_LOG_LEVEL="DEBUG",  # the most a log can ever say
            BUDGETBOT_MAX_BODY_BYTES=str(MAX_BODY),
        )
        with running_server(env, tmp_path) as server:
            url = server.base_url
            with httpx.Client(base_url=url, timeout=10) as http:
                _exercise_every_route(http, line, tg)
            log_text = server.log_text()

    records = parse_json_lines(log_text)
    messages = {str(r.get("message")) for r in records}
    # The failing paths really ran (and were logged), so the check below means something.
    for expected in (
        "webhook rejected",  # a bad LINE signature, a wrong Telegram secret
        "delivered after failed attempts",  # LINE: a reply retried, a push after a refused reply token
        "delivery given up",  # Telegram: the user blocked the bot
        "admin request refused",
    ):
        assert expected in messages, expected
    rejected = {r.get("channel") for r in records if r.get("message") == "webhook rejected"}
    assert rejected == {"line", "telegram"}
    assert _leaks(log_text, values) == []


def test_a_rejected_bot_token_is_not_logged(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    """Telegram refusing the token at start-up: PTB writes the token itself into that error's message.
    In-process (same logging set-up as the server: JSON lines on stderr), to spare a second server start."""
    with FakeTelegram(token=TG_TOKEN) as tg, pytest.MonkeyPatch.context() as mp:
        _clean_env(mp)
        mp.chdir(tmp_path)
        tg.fail_next("getMe", 1, status=401, description="Unauthorized")
        settings_ = Settings(
            _env_file=None,  # type: ignore[call-arg]
            telegram_bot_token=TG_TOKEN,
            telegram_webhook_secret=TG_SECRET,
            telegram_api_base_url=tg.base_url,
            line_channel_secret=None,
            data_dir=tmp_path / "data",
            watch_knowledge=False,
            log_level="DEBUG",
        )
        with TestClient(create_app(settings_)) as client:
            refused = client.post(
                "/webhooks/telegram",
                content=_dump(text_update(1, "สวัสดี", chat_id=7)),
                headers={SECRET_HEADER: TG_SECRET},
            )
            assert refused.status_code == 503
    err = capfd.readouterr().err
    start_failed = "telegram start failed; webhooks get 503 until it works"
    (failed,) = [r for r in parse_json_lines(err) if r.get("message") == start_failed]
    assert "rejected by the server" in failed["error"]  # the message that carried the token
    assert _leaks(err, {"TELEGRAM_BOT_TOKEN": TG_TOKEN, "TELEGRAM_WEBHOOK_SECRET": TG_SECRET}) == []


def _exercise_every_route(http: httpx.Client, line: FakeLine, tg: FakeTelegram) -> None:
    for path in (
        "/",
        "/static/console.js",
        "/static/console.css",
        "/healthz",
        "/readyz",
        "/metrics",
        "/openapi.json",
        "/docs",
        "/admin/",
        "/nothing-here",
    ):
        assert http.get(path).status_code < 500, path
    # The admin API: no token, a wrong one, the right one.
    assert http.get("/admin/review").status_code == 401
    assert http.get("/admin/stats", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert http.get("/admin/review", headers={"Authorization": f"Bearer {ADMIN}"}).status_code == 200
    assert http.get("/admin/stats", headers={"Authorization": f"Bearer {ADMIN}"}).status_code == 200
    assert http.post("/admin/reload", headers={"Authorization": f"Bearer {ADMIN}"}).status_code in (200, 422)
    assert http.post("/admin/reload", headers={"Authorization": f"Bearer {ADMIN[:-1]}"}).status_code == 401

    # The JSON API, good and bad.
    assert http.post("/api/ask", json={"question": "ปีงบประมาณนี้ยังยื่นคำขอได้ไหม"}).status_code == 200
    assert http.post("/api/ask", content=b"{", headers={"Content-Type": "application/json"}).status_code == 422
    not_utf8 = http.post("/api/ask", content=b"\xff\xfe", headers={"Content-Type": "application/json"})
    assert not_utf8.status_code in (400, 422)
    assert http.post("/api/ask", json={"question": "x" * 3000}).status_code == 422
    assert http.post("/api/ask", content=b" " * (MAX_BODY + 1)).status_code == 413
    assert http.post("/api/ask", content=_chunks(MAX_BODY + 1)).status_code == 413  # chunked, over real HTTP

    # LINE: answered, refused, and failing on the way out.
    def line_post(events: list[dict[str, Any]], secret: str = SECRET, **headers: str) -> httpx.Response:
        body, signed = signed_webhook(events, secret)
        return http.post("/webhooks/line", content=body, headers={**signed, **headers})

    ok = text_event("สวัสดี")
    assert line_post([ok]).status_code == 200
    assert line_post([text_event("สวัสดี")], secret=OLD_SECRET).status_code == 200  # rotation
    assert line_post([text_event("สวัสดี")], secret=TOKEN).status_code == 400  # signed with the wrong thing
    assert http.post("/webhooks/line", content=b'{"events": []}').status_code == 400  # no signature
    junk = http.post("/webhooks/line", content=b"{oops", headers={"X-Line-Signature": sign(b"{oops", SECRET)})
    assert junk.status_code == 400
    streamed = http.post("/webhooks/line", content=_chunks(MAX_BODY + 1), headers={"X-Line-Signature": "x"})
    assert streamed.status_code == 413

    def sent(event: dict[str, Any], status: int) -> bool:
        return any(reply_token_of(r) == event["replyToken"] and r.status == status for r in line.requests)

    line.fail_next_replies(1, status=500)  # retried
    retried = text_event("แนวทางมีอะไรบ้าง", source=user_source("U" + secrets.token_hex(16)))
    assert line_post([retried]).status_code == 200
    line.wait_for(lambda _: sent(retried, 200), timeout=10)
    line.fail_next_replies(1, status=401)  # the access token refused: retried (it may be fixed) until the deadline
    refused = text_event("ช่วยอะไรได้บ้าง", source=user_source("U" + secrets.token_hex(16)))
    assert line_post([refused]).status_code == 200
    line.wait_for(lambda _: sent(refused, 401), timeout=10)
    line.reject_reply_tokens()  # -> pushed, the first push failing
    line.fail_next_pushes(1, status=500)
    assert line_post([text_event("สวัสดี", source=user_source("U" + secrets.token_hex(16)))]).status_code == 200
    line.wait_for(lambda _: bool(line.pushes()), timeout=10)
    line.reject_reply_tokens(False)

    # Telegram: answered, refused, and failing on the way out.
    def tg_post(update: Any, secret: str | None = TG_SECRET) -> httpx.Response:
        headers = {"Content-Type": "application/json"}
        if secret is not None:
            headers[SECRET_HEADER] = secret
        return http.post("/webhooks/telegram", content=_dump(update), headers=headers)

    assert tg_post(text_update(1, "สวัสดี", chat_id=11)).status_code == 200
    tg.wait_for_messages(11)
    assert tg_post(text_update(2, "สวัสดี", chat_id=12), secret=None).status_code == 403
    assert tg_post(text_update(3, "สวัสดี", chat_id=12), secret=TG_SECRET.upper()).status_code == 403
    assert tg_post(text_update(4, "สวัสดี", chat_id=12), secret=TG_TOKEN).status_code == 403
    assert tg_post({"update_id": "x"}).status_code == 400
    streamed = http.post("/webhooks/telegram", content=_chunks(MAX_BODY + 1), headers={SECRET_HEADER: TG_SECRET})
    assert streamed.status_code == 413
    tg.fail_next("sendMessage", 1, status=403, description="Forbidden: bot was blocked by the user")
    assert tg_post(text_update(5, "สวัสดี", chat_id=13)).status_code == 200
    tg.wait_for(lambda calls: any(c.status == 403 for c in calls))
    tg.fail_next("sendMessage", 1, status=401, description="Unauthorized")
    assert tg_post(text_update(6, "สวัสดี", chat_id=14)).status_code == 200
    tg.wait_for(lambda calls: any(c.status == 401 for c in calls))
    tg.fail_next("answerCallbackQuery", 1, status=400, description="Bad Request: query is too old")
    assert tg_post(callback_update(7, "s:nothing", chat_id=15)).status_code == 200
    tg.wait_for_messages(15)
    assert http.get("/metrics").status_code == 200


# --- LINE channel secret rotation ---------------------------------------------------------------------------


def test_previous_line_secret_stops_working_once_removed(client: TestClient, line_fake: FakeLine) -> None:
    """tests/test_line_webhook.py shows the previous secret accepted while it is set. Here the operator
    finishes the rotation by removing it (the settings the channel reads on each request)."""
    settings_ = client.app.state.ctx.settings  # type: ignore[attr-defined]
    settings_.line_channel_secret_previous = OLD_SECRET
    try:
        during = text_event("สวัสดี", source=user_source("U" + secrets.token_hex(16)))
        body, headers = signed_webhook([during], OLD_SECRET)
        assert client.post("/webhooks/line", content=body, headers=headers).status_code == 200
        line_fake.wait_for(lambda _: any(reply_token_of(r) == during["replyToken"] for r in line_fake.replies()))
    finally:
        settings_.line_channel_secret_previous = None

    after = text_event("สวัสดี", source=user_source("U" + secrets.token_hex(16)))
    body, headers = signed_webhook([after], OLD_SECRET)
    response = client.post("/webhooks/line", content=body, headers=headers)
    assert response.status_code == 400
    current = text_event("สวัสดี", source=user_source("U" + secrets.token_hex(16)))
    body, headers = signed_webhook([current], SECRET)
    assert client.post("/webhooks/line", content=body, headers=headers).status_code == 200
    line_fake.wait_for(lambda _: any(reply_token_of(r) == current["replyToken"] for r in line_fake.replies()))
    assert not any(reply_token_of(r) == after["replyToken"] for r in line_fake.requests)
