"""Telegram suggestion buttons keep working after a restart and on every instance (real server processes).

Most Thai suggestions do not fit in Telegram's 64 bytes of callback data, so their buttons carry a digest; the
question behind it is stored with the answer, in the database, not only in the process that drew the button.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from tests.fakes.fake_telegram import BotApiCall, FakeTelegram, callback_update, post_update, text_update
from tests.support.server import ServerProcess, base_env, database_env, running_server, telegram_env

TG_TOKEN = "7000000004:AAButtonsButtonsButtonsButtons-xyz"
TG_SECRET = "buttons_webhook_secret-0123"
QUESTION = "แผนงานบูรณาการรัฐบาลดิจิทัลคืออะไร"
CHAT = 4_400_001


def _env(home: Path, tg: FakeTelegram, database_url: str) -> dict[str, str]:
    env = {**base_env(home), **telegram_env(tg.base_url, TG_TOKEN, TG_SECRET), **database_env(database_url)}
    env["BUDGETBOT_WATCH_KNOWLEDGE"] = "false"
    return env


def _post(server: ServerProcess, update: dict[str, Any]) -> None:
    response = post_update(server.base_url, update, TG_SECRET)
    assert response.status_code == 200, response.text


_ids = iter(range(800_000, 10**9))


def _tap(server: ServerProcess, tg: FakeTelegram, data: str) -> BotApiCall:
    """Tap a button in CHAT on `server`; returns the answer's first message."""
    before = len(tg.sent_messages(CHAT))
    _post(server, callback_update(next(_ids), data, chat_id=CHAT))
    return tg.wait_for_messages(CHAT, before + 1, timeout=30)[before]


def test_a_suggestion_tapped_after_a_restart_and_on_another_instance(database_url: str, tmp_path: Path) -> None:
    postgres = not database_url.startswith("sqlite")
    with FakeTelegram(token=TG_TOKEN) as tg:
        home_a, home_b = tmp_path / "a", tmp_path / "b"
        home_a.mkdir()
        home_b.mkdir()
        with running_server(_env(home_a, tg, database_url), home_a) as a:
            _post(a, text_update(next(_ids), QUESTION, chat_id=CHAT))
            answer = tg.wait_for_messages(CHAT, timeout=30)
            buttons = [b for b in answer[-1].buttons if b["callback_data"].startswith("h:")]
            assert buttons, "a suggestion too long for inline callback data"
            button = buttons[0]
            if postgres:  # another instance on the same database, which never drew this button
                with running_server(_env(home_b, tg, database_url), home_b) as b:
                    other = _tap(b, tg, button["callback_data"])
                    b_log = b.log_text()
                assert other.visible_text.startswith(button["text"].rstrip("…")), b_log[-3000:]
        time.sleep(0.2)
        with running_server(_env(home_a, tg, database_url), home_a) as restarted:
            again = _tap(restarted, tg, button["callback_data"])
            log = restarted.log_text()
    # The tapped question, in bold above its answer: not "this button has expired".
    assert again.visible_text.startswith(button["text"].rstrip("…")), log[-3000:]
    assert len(again.visible_text) > len(button["text"]) + 10
    spinners = [c for c in tg.calls if c.method == "answerCallbackQuery"]
    assert len(spinners) == (2 if postgres else 1)  # every tap's spinner stopped, once
