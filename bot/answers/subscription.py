"""subscription and notification: what the assistant says about being told when a fiscal year opens.

Replies to "tell me when FY 2571 opens" / "stop the notifications", and the notifications themselves (a window
announced, the opening day, a reminder before closing, an announcement). Every date and source comes from the
knowledge; nothing here knows about storage or channels (the pipeline carries the actions out and sends).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

from bot.answer import ActionKind, Answer, AnswerKind, Offer, SubscriptionAction
from bot.answers.context import Spoken, Voice, source_refs
from bot.answers.inference import CALENDAR_SOURCE, CLOSED_NOTICE_SOURCE, begun_inference, cite
from bot.formatting import format_date, source_line
from bot.knowledge.loader import KnowledgeBase
from bot.subscriptions import DEFAULT_REMINDER_DAYS, subscribable
from bot.years import fiscal_year_of, fiscal_year_start

STOP_WORDS_TH = "ยกเลิกการแจ้งเตือน"  # an unsubscribe cue of knowledge/language.yaml
STOP_WORDS_EN = "unsubscribe"


@dataclass(frozen=True)
class Speech(Spoken):
    """Who is spoken to: the language and the assistant's voice (a Turn without a question, for replies to buttons
    and for notifications nobody asked for just then)."""

    language: str = "th"
    voice: Voice = field(default_factory=Voice)

    def date(self, d: date) -> str:
        return format_date(d, self.language)


def subscribe_words(year: int, speech: Speech) -> str:
    """What a person types (or a button shows as typed) to subscribe to `year`."""
    return speech.pick(f"แจ้งเตือนเมื่อปีงบ {year} เปิดรับ", f"Notify me when FY{year} opens")


def subscribe_offer(year: int, speech: Speech) -> Offer:
    return Offer(
        action=SubscriptionAction(kind=ActionKind.SUBSCRIBE, fiscal_year=year),
        label=speech.pick("🔔 รับแจ้งเตือน", "🔔 Notify me"),
        text=subscribe_words(year, speech),
    )


def unsubscribe_offer(year: int | None, speech: Speech) -> Offer:
    text = speech.pick(STOP_WORDS_TH, "Unsubscribe")
    if year is not None:
        text = speech.pick(f"{STOP_WORDS_TH}ปีงบ {year}", f"Unsubscribe from FY{year}")
    return Offer(
        action=SubscriptionAction(kind=ActionKind.UNSUBSCRIBE, fiscal_year=year),
        label=speech.pick("🔕 ยกเลิกแจ้งเตือน", "🔕 Unsubscribe"),
        text=text,
    )


def _stop_line(speech: Speech) -> str:
    return speech.pick(
        f'หากไม่ต้องการรับการแจ้งเตือนแล้ว พิมพ์ "{STOP_WORDS_TH}" ได้ทุกเมื่อ',
        f'To stop, type "{STOP_WORDS_EN}" at any time.',
    )


def _days(days: Sequence[int], speech: Speech) -> str:
    words = [speech.pick(f"{d} วัน", f"{d} day{'s' if d != 1 else ''}") for d in days]
    if len(words) <= 1:
        return "".join(words)
    return speech.pick(" ".join(words[:-1]) + " และ " + words[-1], ", ".join(words[:-1]) + " and " + words[-1])


def _answer(kb: KnowledgeBase, speech: Speech, kind: AnswerKind, text: str, **fields: object) -> Answer:
    ids = list(fields.pop("source_ids", []) or [])  # type: ignore[call-overload]
    return Answer(
        kind=kind,
        text=text,
        confidence=1.0,
        language=speech.language,
        sources=source_refs(kb, ids),
        **fields,  # type: ignore[arg-type]
    )


def _with_source(kb: KnowledgeBase, speech: Speech, text: str, ids: list[str]) -> str:
    line = source_line(kb.source_refs(list(dict.fromkeys(ids))), speech.language)
    return f"{text}\n\n{line}" if line else text


def _window_sentence(speech: Speech, today: date, opens: date, closes: date | None) -> tuple[str, bool | None]:
    """The window in dates and whether it is open today (None: it may be; only the opening is known)."""
    d = speech.date
    span = (
        speech.pick(f"{d(opens)} ถึง {d(closes)}", f"{d(opens)} to {d(closes)}")
        if closes is not None
        else speech.pick(f"ตั้งแต่ {d(opens)} (ยังไม่มีกำหนดวันปิดรับ)", f"from {d(opens)} (no closing date yet)")
    )
    if today < opens:
        return speech.pick(f"รับคำขอ {span} ขณะนี้ยังไม่เปิดรับ", f"Requests: {span}. Not open yet."), False
    if closes is not None and today > closes:
        return speech.pick(f"รับคำขอ {span} ขณะนี้ปิดรับแล้ว", f"Requests: {span}. Now closed."), False
    return speech.pick(f"รับคำขอ {span} ขณะนี้เปิดรับอยู่", f"Requests: {span}. Open now."), True


def _known_window(kb: KnowledgeBase, year: int) -> tuple[date, date | None, list[str]] | None:
    info = kb.fiscal_years.get(year)
    window = info.window if info is not None else None
    if window is None or window.opens is None:
        return None
    return window.opens, window.closes, list(window.sources)


# --- replies ----------------------------------------------------------------------------------------------------


def subscribed(
    kb: KnowledgeBase,
    speech: Speech,
    today: date,
    year: int,
    *,
    already: bool = False,
    reminder_days: Sequence[int] = DEFAULT_REMINDER_DAYS,
) -> Answer:
    """The confirmation: what was subscribed, what will come (the window now if it is known), how to stop."""
    e, me = speech.end, speech.me
    head = (
        speech.pick(f"คุณรับแจ้งเตือนปีงบประมาณ พ.ศ. {year} อยู่แล้ว{e}", f"You are already subscribed to FY {year}.")
        if already
        else speech.pick(f"รับแจ้งเตือนปีงบประมาณ พ.ศ. {year} แล้ว{e}", f"Subscribed: FY {year}.")
    )
    reminders = _days(reminder_days, speech)
    remind = (
        speech.pick(f" และเตือนก่อนปิดรับ {reminders}", f", and remind you {reminders} before it closes")
        if reminder_days
        else ""
    )
    window = _known_window(kb, year)
    ids: list[str] = []
    if window is None:
        body = speech.pick(
            f"เมื่อ สพร. ประกาศช่วงเวลารับคำขอของปีนี้ {me}จะแจ้งให้ทราบหนึ่งครั้ง{remind}",
            f"When DGA announces this year's request window, {me} will tell you once{remind}.",
        )
    else:
        opens, closes, ids = window
        sentence, _ = _window_sentence(speech, today, opens, closes)
        later = []
        if today < opens:
            later.append(speech.pick("แจ้งอีกครั้งในวันที่เปิดรับ", "tell you again on the opening day"))
        if closes is not None and reminder_days and today <= closes:
            later.append(speech.pick(f"เตือนก่อนปิดรับ {reminders}", f"remind you {reminders} before it closes"))
        body = speech.pick(f"ช่วงเวลาของปีนี้: {sentence}", f"This year's window: {sentence}")
        if later:
            body += speech.pick(f"\n{me}จะ" + " และ".join(later), f"\n{me} will " + " and ".join(later) + ".")
    text = _with_source(kb, speech, f"{head} {body}\n{_stop_line(speech)}", ids)
    return _answer(
        kb,
        speech,
        AnswerKind.SUBSCRIPTION,
        text,
        fiscal_year=year,
        as_of=today,
        source_ids=ids,
        offers=[unsubscribe_offer(year, speech)],
        title=speech.pick(f"แจ้งเตือนปีงบประมาณ พ.ศ. {year}", f"FY {year} notifications"),
    )


def not_subscribable(kb: KnowledgeBase, speech: Speech, today: date, year: int) -> Answer:
    """Nothing can come for this year: it has begun, or its window has closed, or the sources say it takes none."""
    e = speech.end
    info = kb.fiscal_years.get(year)
    ids: list[str] = []
    if today >= fiscal_year_start(year):
        text = speech.pick(
            f"ปีงบประมาณ พ.ศ. {year} เริ่มไปแล้ว {cite(kb, speech, CALENDAR_SOURCE)} จึงไม่มีกำหนดการรับคำขอให้แจ้งเตือน{e}\n"
            + begun_inference(kb, speech),
            f"FY {year} has already begun {cite(kb, speech, CALENDAR_SOURCE)}, so there is no request schedule "
            "to notify.\n" + begun_inference(kb, speech),
        )
        ids = [i for i in (CALENDAR_SOURCE, CLOSED_NOTICE_SOURCE) if i in kb.sources]
    elif info is not None and info.status is not None and not info.status.accepting:
        ids = list(info.status.sources)
        text = speech.pick(
            f"ปีงบประมาณ พ.ศ. {year} ไม่รับคำขอแล้ว จึงไม่มีกำหนดการให้แจ้งเตือน{e}",
            f"FY {year} no longer takes requests, so there is nothing to notify.",
        )
    else:
        window = _known_window(kb, year)
        closes = info.window.closes if info is not None and info.window is not None else None
        ids = window[2] if window else list(info.window.sources) if info is not None and info.window else []
        text = speech.pick(
            f"ปีงบประมาณ พ.ศ. {year} ปิดรับคำขอแล้ว{f'เมื่อ {speech.date(closes)}' if closes else ''}"
            f" จึงไม่มีกำหนดการให้แจ้งเตือน{e}",
            f"FY {year}: requests closed{f' on {speech.date(closes)}' if closes else ''}, so there is nothing to "
            "notify.",
        )
    upcoming = fiscal_year_of(today) + 1
    offers = [subscribe_offer(upcoming, speech)] if subscribable(kb, upcoming, today) and upcoming != year else []
    return _answer(
        kb,
        speech,
        AnswerKind.SUBSCRIPTION,
        _with_source(kb, speech, text, ids),
        fiscal_year=year,
        accepting=False,
        as_of=today,
        source_ids=ids,
        offers=offers,
    )


def unsubscribed(kb: KnowledgeBase, speech: Speech, asked: int | None, removed: Sequence[int]) -> Answer:
    """The confirmation of stopping: which years, and that the stored id is gone; or that there was nothing."""
    e, me = speech.end, speech.me
    years = sorted(set(removed))
    if years:
        named = speech.pick(" และ ".join(str(y) for y in years), " and ".join(str(y) for y in years))
        text = speech.pick(
            f"ยกเลิกการแจ้งเตือนปีงบประมาณ พ.ศ. {named} แล้ว{e} {me}จะไม่ส่งการแจ้งเตือน"
            f"{'ของปีนี้' if asked is not None else ''}อีก และลบข้อมูลการรับแจ้งเตือนนั้นแล้ว",
            f"Unsubscribed from FY {named}: {me} will send no more notifications"
            f"{' for it' if asked is not None else ''}, and the subscription is deleted.",
        )
    elif asked is not None:
        text = speech.pick(f"คุณไม่ได้รับแจ้งเตือนปีงบประมาณ พ.ศ. {asked} อยู่{e}", f"You are not subscribed to FY {asked}.")
    else:
        text = speech.pick(f"คุณไม่ได้รับแจ้งเตือนปีงบประมาณใดอยู่{e}", "You are not subscribed to any fiscal year.")
    return _answer(kb, speech, AnswerKind.SUBSCRIPTION, text, fiscal_year=asked)


def which_year(kb: KnowledgeBase, speech: Speech, today: date) -> Answer:
    """ "Notify me when it opens" without a year (and no status answer just before to take it from)."""
    upcoming = fiscal_year_of(today) + 1
    words = subscribe_words(upcoming, speech)
    text = speech.pick(
        f'ต้องการรับแจ้งเตือนปีงบประมาณไหน{speech.ask} เช่น พิมพ์ "{words}"',
        f'Which fiscal year would you like to be notified about? For example, type "{words}".',
    )
    return _answer(
        kb,
        speech,
        AnswerKind.SUBSCRIPTION,
        text,
        suggestions=[words],
        offers=[subscribe_offer(upcoming, speech)] if subscribable(kb, upcoming, today) else [],
    )


def chat_only(kb: KnowledgeBase, speech: Speech, today: date, action: SubscriptionAction) -> Answer:
    """What the console and the terminal say to a subscription request: notifications come on LINE and Telegram."""
    e, me = speech.end, speech.me
    if action.kind is ActionKind.UNSUBSCRIBE:
        text = speech.pick(
            f'การแจ้งเตือนส่งทางแชต LINE และ Telegram เท่านั้น{e} ยกเลิกได้ในแชตนั้นโดยพิมพ์ "{STOP_WORDS_TH}"',
            f'Notifications are sent on LINE and Telegram only: stop them there by typing "{STOP_WORDS_EN}".',
        )
    else:
        year = action.fiscal_year or fiscal_year_of(today) + 1
        words = subscribe_words(year, speech)
        text = speech.pick(
            f'การแจ้งเตือนส่งทางแชต LINE และ Telegram เท่านั้น{e} ในแชตกับ{me}ที่นั่น พิมพ์ "{words}" '
            f"แล้ว{me}จะแจ้งเมื่อ สพร. ประกาศช่วงเวลารับคำขอ",
            f'Notifications are sent on LINE and Telegram only: in a chat with this assistant there, type "{words}" '
            "and you will be told when DGA announces the request window.",
        )
    return _answer(kb, speech, AnswerKind.SUBSCRIPTION, text, fiscal_year=action.fiscal_year, action=action)


def private_only(kb: KnowledgeBase, speech: Speech) -> Answer:
    """In a group chat: notifications go to one person, in a private chat."""
    e, me = speech.end, speech.me
    text = speech.pick(
        f"การแจ้งเตือนส่งเป็นข้อความส่วนตัว จึงขอรับหรือยกเลิกได้ในแชตส่วนตัวกับ{me}{e}",
        f"Notifications are private messages: subscribe or unsubscribe in a private chat with {me}.",
    )
    return _answer(kb, speech, AnswerKind.SUBSCRIPTION, text)


def unavailable(kb: KnowledgeBase, speech: Speech) -> Answer:
    """Storage is unreachable: nothing was recorded, and the reply says so."""
    text = speech.pick(
        f"ขออภัย{speech.end} ขณะนี้{speech.me}บันทึกการแจ้งเตือนไม่ได้ กรุณาลองใหม่อีกครั้งในอีกสักครู่",
        "Sorry, notifications cannot be recorded right now. Please try again in a moment.",
    )
    return _answer(kb, speech, AnswerKind.SUBSCRIPTION, text, confidence=0.0)


# --- notifications ----------------------------------------------------------------------------------------------


def window_notification(
    kb: KnowledgeBase, speech: Speech, today: date, year: int, opens: date, closes: date | None
) -> Answer:
    """A window appeared (or changed): the fiscal year, the window in dates, whether it is open today, its source."""
    sentence, open_now = _window_sentence(speech, today, opens, closes)
    info = kb.fiscal_years.get(year)
    ids = list(info.window.sources) if info is not None and info.window is not None else []
    head = speech.pick(
        f"🔔 ปีงบประมาณ พ.ศ. {year}: สพร. กำหนดช่วงเวลารับคำขอแล้ว{speech.end}",
        f"🔔 FY {year}: DGA has set the request window.",
    )
    later = ""
    if today < opens:
        later = speech.pick(
            f"\n{speech.me}จะแจ้งอีกครั้งในวันที่เปิดรับ", f"\n{speech.me} will tell you again on the opening day."
        )
    text = _with_source(kb, speech, f"{head}\n{sentence}{later}", ids) + f"\n{_stop_line(speech)}"
    return _answer(
        kb,
        speech,
        AnswerKind.NOTIFICATION,
        text,
        fiscal_year=year,
        accepting=open_now,
        as_of=today,
        source_ids=ids,
        offers=[unsubscribe_offer(year, speech)],
        title=speech.pick(f"ปีงบประมาณ พ.ศ. {year} มีกำหนดการรับคำขอแล้ว", f"FY {year}: request window"),
    )


def opening_notification(
    kb: KnowledgeBase, speech: Speech, today: date, year: int, opens: date, closes: date | None
) -> Answer:
    d = speech.date
    until = speech.pick(f" ถึงวันที่ {d(closes)}", f" until {d(closes)}") if closes is not None else ""
    head = speech.pick(
        f"🔔 ปีงบประมาณ พ.ศ. {year} เปิดรับคำขอแล้ว{speech.end} ตั้งแต่ {d(opens)}{until}",
        f"🔔 FY {year} is now accepting requests: from {d(opens)}{until}.",
    )
    return _notification(kb, speech, today, year, head, accepting=True)


def reminder_notification(kb: KnowledgeBase, speech: Speech, today: date, year: int, closes: date) -> Answer:
    d, e = speech.date, speech.end
    left = (closes - today).days
    if left <= 0:
        head = speech.pick(
            f"⏰ วันนี้ ({d(closes)}) เป็นวันสุดท้ายที่รับคำขอของปีงบประมาณ พ.ศ. {year}{e}",
            f"⏰ Today ({d(closes)}) is the last day for FY {year} requests.",
        )
    elif left == 1:
        head = speech.pick(
            f"⏰ ปีงบประมาณ พ.ศ. {year} ปิดรับคำขอพรุ่งนี้ ({d(closes)}){e}",
            f"⏰ FY {year} requests close tomorrow ({d(closes)}).",
        )
    else:
        head = speech.pick(
            f"⏰ ปีงบประมาณ พ.ศ. {year} จะปิดรับคำขอในอีก {left} วัน ({d(closes)}){e}",
            f"⏰ FY {year} requests close in {left} days ({d(closes)}).",
        )
    return _notification(kb, speech, today, year, head, accepting=True)


def _notification(kb: KnowledgeBase, speech: Speech, today: date, year: int, head: str, accepting: bool) -> Answer:
    info = kb.fiscal_years.get(year)
    ids = list(info.window.sources) if info is not None and info.window is not None else []
    return _answer(
        kb,
        speech,
        AnswerKind.NOTIFICATION,
        _with_source(kb, speech, head, ids) + f"\n{_stop_line(speech)}",
        fiscal_year=year,
        accepting=accepting,
        as_of=today,
        source_ids=ids,
        offers=[unsubscribe_offer(year, speech)],
    )


def announcement(kb: KnowledgeBase, speech: Speech, today: date, text: str, year: int | None) -> Answer:
    """DGA's announcement as written by an admin, said to be one, with how to stop."""
    head = (
        speech.pick(f"📢 ประกาศ (ปีงบประมาณ พ.ศ. {year})", f"📢 Announcement (FY {year})")
        if year is not None
        else speech.pick("📢 ประกาศ", "📢 Announcement")
    )
    return _answer(
        kb,
        speech,
        AnswerKind.NOTIFICATION,
        f"{head}\n{text.strip()}\n\n{_stop_line(speech)}",
        fiscal_year=year,
        as_of=today,
        offers=[unsubscribe_offer(year, speech)] if year is not None else [],
    )
