"""Turn an `Answer` into Telegram messages: HTML text within Telegram's limits, sources, suggestion buttons.

Pure functions plus one small store (`SuggestionCallbacks`); no network, so it is easy to test on its own.

Limits (Bot API): a message text is at most 4,096 characters and callback data at most 64 *bytes*.
Thai takes 3 bytes a character in UTF-8, so most suggested questions do not fit in callback data.
"""

from __future__ import annotations

import hashlib
import html
import re
import unicodedata
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.answer import ActionKind, Answer, Offer, SourceRef, SubscriptionAction
from bot.formatting import english_date, thai_date

MAX_MESSAGE_CHARS = 4096
MAX_CALLBACK_BYTES = 64
MAX_BUTTONS = 8
MAX_BUTTON_LABEL = 60
MAX_SOURCES = 3
MAX_SOURCE_TITLE = 80

# Sent when an answer is (unexpectedly) empty: Telegram rejects an empty message.
EMPTY_ANSWER_TEXT = "ขออภัย ยังไม่มีคำตอบสำหรับคำถามนี้ กรุณาลองถามใหม่อีกครั้ง"
# Sent when a button's question can no longer be found (the map is per process and bounded).
EXPIRED_SUGGESTION_TEXT = "ขออภัย ตัวเลือกนี้หมดอายุแล้ว กรุณาพิมพ์คำถามอีกครั้ง"
TEXT_ONLY_NOTICE = "ขออภัย ตอนนี้ตอบได้เฉพาะข้อความตัวอักษร กรุณาพิมพ์คำถามเป็นข้อความ"
ERROR_NOTICE = "ขออภัย ระบบขัดข้องชั่วคราว กรุณาลองใหม่อีกครั้ง"

# Answer text written for plain-text channels may end with a one-line "ที่มา: ..." paragraph; here the
# sources get their own line (with titles), so that paragraph would only repeat them.
_TRAILING_SOURCE_LINE = re.compile(r"\n\n(?:ที่มา|Sources?): [^\n]*\s*$")


@dataclass(frozen=True)
class OutgoingMessage:
    """One sendMessage call: `html` is already escaped for parse_mode=HTML."""

    html: str
    keyboard: InlineKeyboardMarkup | None = None


class SuggestionCallbacks:
    """Maps suggested questions to callback data of at most 64 bytes, and back.

    Choice: a question that fits is carried inline (`q:<question>`), so it needs no state and survives
    restarts and multiple instances. A longer one (most Thai questions) becomes `h:<16 hex of SHA-256>`,
    kept in a bounded per-app LRU map. The same question always gets the same data, so a button shown
    again refreshes its entry instead of growing the map. A hash missing from the map (after a restart,
    on another instance, or evicted) decodes to None: the caller asks the user to type the question.
    """

    def __init__(self, capacity: int = 4096) -> None:
        self._capacity = capacity
        self._by_hash: OrderedDict[str, str] = OrderedDict()

    def encode(self, question: str) -> str:
        inline = f"q:{question}"
        if len(inline.encode("utf-8")) <= MAX_CALLBACK_BYTES:
            return inline
        digest = hashlib.sha256(question.encode("utf-8")).hexdigest()[:16]
        self._by_hash[digest] = question
        self._by_hash.move_to_end(digest)
        while len(self._by_hash) > self._capacity:
            self._by_hash.popitem(last=False)
        return f"h:{digest}"

    def decode(self, data: str) -> str | None:
        if data.startswith("q:") and len(data) > 2:
            return data[2:]
        if data.startswith("h:"):
            return self._by_hash.get(data[2:])
        return None

    def __len__(self) -> int:
        return len(self._by_hash)


def telegram_length(text: str) -> int:
    """Length as Telegram counts it (UTF-16 code units): an emoji counts 2."""
    return len(text.encode("utf-16-le")) // 2


def _escaped_size(ch: str) -> int:
    return telegram_length(html.escape(ch, quote=False))


def _safe_cut(text: str, cut: int) -> int:
    """Move a cut left so it never separates a Thai vowel or tone mark from its consonant."""
    while 0 < cut < len(text) and unicodedata.category(text[cut]) in ("Mn", "Mc"):
        cut -= 1
    return cut if cut > 0 else 1


def split_text(text: str, limit: int = MAX_MESSAGE_CHARS) -> list[str]:
    """Split plain text into pieces whose HTML-escaped size fits `limit`.

    Prefers paragraph breaks, then line breaks, then spaces (Thai has no spaces between words, so it
    may finally cut inside a word, but never inside a character cluster).
    """
    pieces: list[str] = []
    rest = text.strip()
    while rest:
        size = 0
        fit = 0  # how many characters of `rest` fit once escaped
        for ch in rest:
            size += _escaped_size(ch)
            if size > limit:
                break
            fit += 1
        if fit >= len(rest):
            pieces.append(rest)
            break
        head = rest[:fit]
        cut = -1
        for sep in ("\n\n", "\n", " "):
            pos = head.rfind(sep)
            if pos >= fit // 2:  # a break too early would waste most of a message
                cut = pos
                break
        if cut <= 0:
            cut = _safe_cut(rest, fit)
        piece = rest[:cut].rstrip()
        if piece:
            pieces.append(piece)
        rest = rest[cut:].lstrip()
    return pieces


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def sources_line(sources: Sequence[SourceRef], language: str = "th") -> str | None:
    """A short HTML line naming where the facts come from, or None when there are no sources."""
    if not sources:
        return None
    english = language == "en"
    parts: list[str] = []
    for src in sources[:MAX_SOURCES]:
        title = html.escape(_clip(src.title, MAX_SOURCE_TITLE), quote=False)
        if src.posted is None:
            parts.append(title)
        else:
            parts.append(f"{title} ({english_date(src.posted) if english else thai_date(src.posted, short=True)})")
        if src.url and src.url.startswith(("https://", "http://")):  # beside the citation: the document's page
            parts[-1] += f' <a href="{html.escape(src.url, quote=True)}">{"link" if english else "ลิงก์"}</a>'
    extra = len(sources) - MAX_SOURCES
    more = (f" and {extra} more" if english else f" และอีก {extra} รายการ") if extra > 0 else ""
    return f"<i>{'Sources' if english else 'ที่มา'}: {'; '.join(parts)}{more}</i>"


SUBSCRIBE_DATA, UNSUBSCRIBE_DATA = "sub:", "unsub:"  # callback data of the subscription buttons (issue 11)


def callback_data(action: SubscriptionAction) -> str:
    """`sub:N`, `unsub:N`, `unsub:all` (every year)."""
    prefix = SUBSCRIBE_DATA if action.kind is ActionKind.SUBSCRIBE else UNSUBSCRIBE_DATA
    return f"{prefix}{action.fiscal_year if action.fiscal_year is not None else 'all'}"


def suggestion_keyboard(
    suggestions: Sequence[str], callbacks: SuggestionCallbacks, offers: Sequence[Offer] = ()
) -> InlineKeyboardMarkup | None:
    """Offered actions first, then the suggestions: one button a row (Thai questions are long), the label clipped,
    the full question behind it."""
    rows: list[list[InlineKeyboardButton]] = [
        [InlineKeyboardButton(_clip(o.label, MAX_BUTTON_LABEL), callback_data=callback_data(o.action))]
        for o in list({o.action.encode(): o for o in offers}.values())[:MAX_BUTTONS]
    ]
    seen: set[str] = set()
    for question in suggestions:
        question = question.strip()
        if not question or question in seen:
            continue
        seen.add(question)
        label = _clip(question, MAX_BUTTON_LABEL)
        rows.append([InlineKeyboardButton(label, callback_data=callbacks.encode(question))])
        if len(rows) >= MAX_BUTTONS:
            break
    return InlineKeyboardMarkup(rows) if rows else None


def _offers(answer: Answer) -> list[Offer]:
    return list(answer.offers) or [o for p in answer.parts for o in p.offers]


def render_answer(
    answer: Answer,
    callbacks: SuggestionCallbacks,
    *,
    heading: str | None = None,
    limit: int = MAX_MESSAGE_CHARS,
) -> list[OutgoingMessage]:
    """The messages for one answer, in order; the suggestion keyboard rides on the last one.

    `heading` (the tapped suggestion) is shown in bold first, so the chat shows what was asked. An answer to
    several questions (`parts`) is one message per part (each with its own sources), the keyboard on the last.
    """
    if answer.parts:
        messages: list[OutgoingMessage] = []
        for i, part in enumerate(answer.parts):
            one = part.model_copy(update={"suggestions": [], "parts": [], "offers": []})
            messages += render_answer(one, callbacks, heading=heading if i == 0 else None, limit=limit)
        keyboard = suggestion_keyboard(answer.suggestions, callbacks, _offers(answer))
        messages[-1] = OutgoingMessage(messages[-1].html, keyboard)
        return messages
    line = sources_line(answer.sources, answer.language)
    text = _TRAILING_SOURCE_LINE.sub("", answer.text) if line else answer.text
    bodies = [html.escape(p, quote=False) for p in split_text(text, limit)]
    if not bodies:
        bodies = [html.escape(EMPTY_ANSWER_TEXT, quote=False)]
    if heading:
        head = f"<b>{html.escape(_clip(heading, 300), quote=False)}</b>"
        joined = f"{head}\n\n{bodies[0]}"
        if telegram_length(joined) <= limit:
            bodies[0] = joined
        else:
            bodies.insert(0, head)
    if line:
        joined = f"{bodies[-1]}\n\n{line}"
        if telegram_length(joined) <= limit:
            bodies[-1] = joined
        else:
            bodies.append(line)
    keyboard = suggestion_keyboard(answer.suggestions, callbacks, _offers(answer))
    messages = [OutgoingMessage(body) for body in bodies]
    messages[-1] = OutgoingMessage(messages[-1].html, keyboard)
    return messages


def notice(text: str) -> OutgoingMessage:
    """A fixed one-line message (text-only notice, expired button, error apology)."""
    return OutgoingMessage(html.escape(text, quote=False))
