"""Group chats against a real server process, on SQLite and on PostgreSQL: the assistant answers only what is
addressed to it, exactly once, quoting the asker; memory is per person within the group.

LINE: a message mentioning the assistant (`isSelf: true`), the mention taken out; not a plain message, a mention
of someone else or of everyone. Joining a group gets an introduction that says how to ask.
Telegram: a command for this bot, an `@botname` mention, a reply to one of its messages; not a plain message or a
command for another bot.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx

from tests.fakes.fake_line import FakeLine, follow_event, signed_webhook, text_event
from tests.fakes.fake_telegram import BOT_USERNAME, FakeTelegram, post_update
from tests.support.faults import metric_value
from tests.support.server import ServerProcess, base_env, database_env, line_env, running_server, telegram_env

SECRET = "groups-channel-secret-0123456789ab"
TOKEN = "groups-channel-access-token"
TG_TOKEN = "7000000003:AAGroupsGroupsGroupsGroupsGroups-x"
TG_BOT_ID = 7000000003
TG_SECRET = "groups_webhook_secret-0123"
MENTION = "@ผู้ช่วยงบ"


def _env(tmp: Path, line: FakeLine, tg: FakeTelegram, database_url: str) -> dict[str, str]:
    env = {**base_env(tmp), **line_env(line.url, SECRET, TOKEN), **telegram_env(tg.base_url, TG_TOKEN, TG_SECRET)}
    env.update(database_env(database_url), BUDGETBOT_WATCH_KNOWLEDGE="false")
    return env


def _line_group(text: str, user: str, *, mentions: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    event = text_event(text, source={"type": "group", "groupId": "C" + "7" * 32, "userId": user})
    if mentions:
        event["message"]["mention"] = {"mentionees": mentions}
    return event


def _self(text: str) -> dict[str, Any]:
    return {"index": text.index(MENTION), "length": len(MENTION), "type": "user", "userId": "Ubot", "isSelf": True}


def _post_line(server: ServerProcess, events: list[dict[str, Any]]) -> None:
    body, headers = signed_webhook(events, SECRET)
    assert httpx.post(f"{server.base_url}/webhooks/line", content=body, headers=headers, timeout=10).status_code == 200


_update_ids = iter(range(500_000, 10**9))


def _tg_message(chat: int, user: int, text: str, **extra: Any) -> dict[str, Any]:
    message_id = next(_update_ids)
    message: dict[str, Any] = {
        "message_id": message_id,
        "date": int(time.time()),
        "chat": {"id": chat, "type": "supergroup", "title": "ทีมงบประมาณ"},
        "from": {"id": user, "is_bot": False, "first_name": "สมหญิง"},
        "text": text,
        **extra,
    }
    return {"update_id": message_id, "message": message}


def _post_tg(server: ServerProcess, update: dict[str, Any]) -> None:
    response = post_update(server.base_url, update, TG_SECRET)
    assert response.status_code == 200, response.text


def _texts(messages: list[dict[str, Any]]) -> str:
    return " ".join(str(m.get("text", "")) + str(m.get("altText", "")) for m in messages)


def test_group_chats_answer_only_what_is_addressed_to_the_assistant(database_url: str, tmp_path: Path) -> None:
    with FakeLine(access_token=TOKEN) as line, FakeTelegram(token=TG_TOKEN) as tg:
        with running_server(_env(tmp_path, line, tg, database_url), tmp_path) as server:
            log = server.log_text
            # --- LINE ---
            member, other = "U" + "1" * 32, "U" + "2" * 32
            addressed_text = f"{MENTION} ปีงบ 66 ยังยื่นได้ไหม"
            plain = _line_group("ปีงบ 66 ยังยื่นได้ไหม", member)
            someone = _line_group(
                "@สมชาย ปีงบ 66 ยังยื่นได้ไหม",
                member,
                mentions=[{"index": 0, "length": 6, "type": "user", "userId": other, "isSelf": False}],
            )
            everyone = _line_group("@All ปีงบ 66", member, mentions=[{"index": 0, "length": 4, "type": "all"}])
            addressed = _line_group(addressed_text, member, mentions=[_self(addressed_text)])
            join = follow_event(source={"type": "group", "groupId": "C" + "8" * 32})
            join["type"] = "join"
            del join["follow"]
            _post_line(server, [plain, someone, everyone, addressed, join])
            # Memory per person: another member's "and 67?" has no context; the first member's own has.
            follow_other = _line_group(f"{MENTION} แล้วปี 67 ล่ะ", other)
            follow_other["message"]["mention"] = {"mentionees": [_self(follow_other["message"]["text"])]}
            _post_line(server, [follow_other])
            follow_own = _line_group(f"{MENTION} แล้วปี 67 ล่ะ", member)
            follow_own["message"]["mention"] = {"mentionees": [_self(follow_own["message"]["text"])]}
            _post_line(server, [follow_own])
            expected = {e["replyToken"] for e in (addressed, join, follow_other, follow_own)}
            line.wait_for(lambda _: {(r.json or {}).get("replyToken") for r in line.replies()} >= expected, 30)

            # --- Telegram ---
            group = -100_777
            tg_plain = _tg_message(group, 11, "ปีงบ 66 ยังยื่นได้ไหม")
            other_bot = _tg_message(group, 11, "/help@some_other_bot", entities=[_command("/help@some_other_bot")])
            mention = f"@{BOT_USERNAME} ปีงบ 66 ยังยื่นได้ไหม"
            tg_mention = _tg_message(
                group, 11, mention, entities=[{"type": "mention", "offset": 0, "length": len(BOT_USERNAME) + 1}]
            )
            bots_message = {
                "message_id": 1,
                "date": int(time.time()),
                "chat": {"id": group, "type": "supergroup", "title": "ทีมงบประมาณ"},
                "from": {"id": TG_BOT_ID, "is_bot": True, "first_name": "ผู้ช่วย", "username": BOT_USERNAME},
                "text": "คำตอบก่อนหน้า",
            }
            tg_reply = _tg_message(group, 12, "แนวทางมีอะไรบ้าง", reply_to_message=bots_message)
            command = f"/help@{BOT_USERNAME}"
            tg_command = _tg_message(group, 13, command, entities=[_command(command)])
            for update in (tg_plain, other_bot, tg_mention, tg_reply, tg_command):
                _post_tg(server, update)
            tg.wait_for(lambda _: len(_firsts(tg, group)) >= 3, 30)
            time.sleep(1.0)  # anything else would follow these in the chat's order; give it a moment
            metrics = httpx.get(f"{server.base_url}/metrics", timeout=10).text
            server_log = log()

    # LINE: the mention and the join, each once; nothing for the others.
    replied = [(r.json or {}).get("replyToken") for r in line.replies(ok_only=False)]
    assert sorted(replied) == sorted(expected), server_log[-4000:]
    assert line.pushes(ok_only=False) == []
    by_token = {(r.json or {})["replyToken"]: r.json["messages"] for r in line.replies()}
    answer = by_token[addressed["replyToken"]]
    assert answer[0].get("quoteToken") == addressed["message"]["quoteToken"]  # the asker's message, quoted
    assert "2566" in _texts(answer)  # the question without the mention was understood
    items = answer[-1]["quickReply"]["items"]
    assert all(i["action"]["type"] == "postback" for i in items)  # work in a group without a mention
    intro = _texts(by_token[join["replyToken"]])
    assert "@" in intro
    assert "2567" in _texts(by_token[follow_own["replyToken"]])
    assert _texts(by_token[follow_other["replyToken"]]) != _texts(by_token[follow_own["replyToken"]])
    assert metric_value(metrics, "budgetbot_events_total", channel="line", outcome="not_addressed") == 3

    # Telegram: the mention, the reply to the assistant and its own command, each once, each quoting the asker.
    firsts = _firsts(tg, group)
    assert sorted(firsts) == sorted(u["message"]["message_id"] for u in (tg_mention, tg_reply, tg_command)), server_log[
        -4000:
    ]
    assert metric_value(metrics, "budgetbot_events_total", channel="telegram", outcome="not_addressed") == 2


def _command(text: str) -> dict[str, Any]:
    return {"type": "bot_command", "offset": 0, "length": len(text)}


def _firsts(tg: FakeTelegram, chat: int) -> list[int]:
    """The message each answer in `chat` quotes (the first message of an answer replies to the asker's)."""
    out = []
    for call in tg.sent_messages(chat):
        reply = call.param("reply_parameters")
        if isinstance(reply, dict) and "message_id" in reply:
            out.append(int(reply["message_id"]))
    return out
