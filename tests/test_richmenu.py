"""`budgetbot line rich-menu`: its status button asks which years are open now, running it again replaces the
menu it made (and only its own), and `--image-out` is a preview that needs no token."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

from bot.settings import Settings
from handlers.line_richmenu import BUTTONS, MENU_NAME, create_rich_menu, rich_menu_request
from tests.fakes.fake_line import FakeLine

REPO = Path(__file__).resolve().parents[1]
TOKEN = "richmenu-access-token-0123456789"


def settings(tmp: Path, fake: FakeLine | None) -> Settings:
    values: dict[str, object] = dict(data_dir=tmp / "data", today=date(2026, 11, 21), watch_knowledge=False)
    if fake is not None:
        values.update(
            line_channel_secret="richmenu-secret-0123456789",
            line_channel_access_token=TOKEN,
            line_api_base_url=fake.url,
            line_data_api_base_url=fake.url,
        )
    else:
        values.update(line_channel_access_token=None)
    return Settings(**values)  # type: ignore[arg-type]


def test_running_it_again_replaces_its_own_menu_and_keeps_others(tmp_path: Path) -> None:
    with FakeLine(access_token=TOKEN) as fake:
        by_hand = rich_menu_request().to_dict()
        by_hand["name"] = "campaign"  # made in the LINE console, say
        fake.rich_menus["richmenu-made-by-hand"] = by_hand
        assert asyncio.run(create_rich_menu(settings(tmp_path, fake))) == 0
        first = fake.default_rich_menu
        assert asyncio.run(create_rich_menu(settings(tmp_path, fake))) == 0
        second = fake.default_rich_menu
        assert asyncio.run(create_rich_menu(settings(tmp_path, fake))) == 0
        third = fake.default_rich_menu
        assert len({first, second, third}) == 3
        ours = [k for k, v in fake.rich_menus.items() if v.get("name") == MENU_NAME]
        assert ours == [third], "only the newest of its own menus is left"
        assert "richmenu-made-by-hand" in fake.rich_menus, "a menu it did not make is left alone"
        deleted = [r.path for r in fake.requests if r.method == "DELETE"]
        assert deleted == [f"/v2/bot/richmenu/{first}", f"/v2/bot/richmenu/{second}"]


def test_image_out_is_a_preview_that_needs_no_token(tmp_path: Path) -> None:
    out = tmp_path / "preview" / "menu.png"
    assert asyncio.run(create_rich_menu(settings(tmp_path, None), image_out=out)) == 0
    assert out.read_bytes().startswith(b"\x89PNG")
    assert asyncio.run(create_rich_menu(settings(tmp_path, None))) == 2, "without --image-out: nothing to do"


def test_the_status_button_asks_which_years_are_open_now() -> None:
    """Not "this fiscal year": it has always begun, so the answer was always no, even while the next year took
    requests. The button's question is answered by the calendar: the years open now."""
    (status,) = [b for b in BUTTONS if b.icon == "calendar"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("BUDGETBOT_")}
    env.update(PYTHAINLP_READ_ONLY="1", PYTHAINLP_OFFLINE="1")
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "ask", "--json", "--today", "2026-11-21", status.question],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["entry_id"] == "fiscal-calendar-open", answer
