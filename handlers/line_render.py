"""Turn a channel-neutral `Answer` into LINE messages, within LINE's limits.

LINE counts text length in UTF-16 code units (an emoji is 2), allows 1-5 messages per reply, up to 13
quick-reply items with labels of up to 20 characters. The SDK checks none of this, and LINE rejects the
whole reply (400) when one limit is broken, so everything here is cut to size before it is sent.
"""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from linebot.v3.messaging import (
    FlexBox,
    FlexBubble,
    FlexComponent,
    FlexMessage,
    FlexSeparator,
    FlexText,
    Message,
    MessageAction,
    PostbackAction,
    QuickReply,
    QuickReplyItem,
    TextMessage,
)

from bot.answer import Answer, AnswerKind, Offer, SubscriptionAction
from bot.thai import segment

log = logging.getLogger(__name__)

ELLIPSIS = "…"


@dataclass(frozen=True)
class LineLimits:
    max_messages: int = 5
    max_text_units: int = 5000  # UTF-16 code units per text message
    max_quick_replies: int = 13
    max_label_units: int = 20
    max_action_text_units: int = 300  # MessageAction.text
    max_alt_text_units: int = 400  # Flex altText


LINE_LIMITS = LineLimits()

# What the menu, the welcome and the help reply offer when an answer brings no suggestions of its own.
DEFAULT_QUESTIONS: tuple[str, ...] = (
    "ปีงบประมาณนี้ยังยื่นคำขอได้ไหม",
    "แนวทางมีอะไรบ้าง",
    "โครงการเราขอได้ไหม",
    "ช่วยอะไรได้บ้าง",
)

HELP_TEXT = (
    "ตอนนี้ผมอ่านได้เฉพาะข้อความตัวอักษรครับ 🙏\nพิมพ์คำถามเกี่ยวกับการของบประมาณแผนงานบูรณาการรัฐบาลดิจิทัลได้เลย หรือแตะคำถามด้านล่าง"
)
ERROR_TEXT = "ขออภัยครับ ระบบขัดข้องชั่วคราว กรุณาลองถามใหม่อีกครั้งในอีกสักครู่"
EMPTY_TEXT = "ขออภัยครับ ยังไม่มีคำตอบสำหรับคำถามนี้"

_CARD_KINDS = frozenset({AnswerKind.FISCAL_YEAR_STATUS, AnswerKind.GUIDELINE_MATCH})
_THAI_MONTHS = ("ม.ค.", "ก.พ.", "มี.ค.", "เม.ย.", "พ.ค.", "มิ.ย.", "ก.ค.", "ส.ค.", "ก.ย.", "ต.ค.", "พ.ย.", "ธ.ค.")
_MAX_CARD_SOURCES = 3


# --- lengths and cutting -------------------------------------------------------------------------


def utf16_len(text: str) -> int:
    """Length as LINE counts it: UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def _units(ch: str) -> int:
    return 2 if ord(ch) > 0xFFFF else 1


def _joins_previous(ch: str) -> bool:
    """True for characters that must stay with the one before (Thai vowel/tone marks, ZWJ, selectors)."""
    return (
        bool(unicodedata.combining(ch)) or unicodedata.category(ch) in ("Mn", "Mc", "Me") or ch in "\u200d\ufe0f\ufe0e"
    )


def _cut(text: str, max_units: int) -> tuple[str, str]:
    """Split text after at most max_units code units, never inside a surrogate pair or a Thai cluster."""
    used = 0
    end = 0
    for i, ch in enumerate(text):
        if used + _units(ch) > max_units:
            break
        used += _units(ch)
        end = i + 1
    else:
        return text, ""
    # Step back so a base letter is not separated from the marks drawn on it.
    cut = end
    while 0 < cut < len(text) and _joins_previous(text[cut]):
        cut -= 1
    if cut == 0:  # one giant cluster (only adversarial input): cut where it fits
        cut = max(end, 1)
    return text[:cut], text[cut:]


# Thai vowels written before their consonant (เ แ โ ใ ไ): a cut must not leave one at the end.
_PREPOSED = frozenset("\u0e40\u0e41\u0e42\u0e43\u0e44")


def truncate(text: str, max_units: int) -> str:
    """The text itself if it fits, else as much as fits followed by an ellipsis.

    Cuts at a space when one falls in the second half (whole words read better), and never right after a
    Thai preposed vowel.
    """
    if utf16_len(text) <= max_units:
        return text
    head, _ = _cut(text, max_units - utf16_len(ELLIPSIS))
    space = head.rfind(" ")
    if space >= len(head) * 2 // 3:
        head = head[:space]
    return _finish(head)


def _finish(head: str) -> str:
    while len(head) > 1 and (head[-1] in _PREPOSED or head[-1].isspace() or head[-1] in "([{\"'“‘"):
        head = head[:-1]
    return head + ELLIPSIS


def _word_ends(text: str) -> list[int]:
    """Offsets where a word (or a run of spaces) ends, by newmm; [] if it fails."""
    try:
        tokens = segment(text)
    except Exception:  # noqa: BLE001 - labels still work, just cut less nicely
        log.warning("Thai word segmentation failed; cutting labels by length", exc_info=True)
        return []
    ends: list[int] = []
    position = 0
    for token in tokens:
        position += len(token)
        ends.append(position)
    return ends


def warm() -> None:
    """Load the segmentation dictionary now rather than on the first reply."""
    _word_ends("ปีงบประมาณนี้ยังยื่นคำขอได้ไหม")


_SEPARATORS = ("\n\n", "\n", " ")


def _hard_split(text: str, max_units: int) -> list[str]:
    parts: list[str] = []
    rest = text
    while rest:
        head, rest = _cut(rest, max_units)
        parts.append(head)
    return parts


def _pack(pieces: Iterable[str], sep: str, max_units: int) -> list[str]:
    """Greedily join pieces (each within the limit) with sep into as few chunks as fit."""
    chunks: list[str] = []
    current: str | None = None
    for piece in pieces:
        if current is None:
            current = piece
        elif utf16_len(current) + utf16_len(sep) + utf16_len(piece) <= max_units:
            current = current + sep + piece
        else:
            chunks.append(current)
            current = piece
    if current is not None:
        chunks.append(current)
    return chunks


def _split(text: str, max_units: int, level: int = 0) -> list[str]:
    if utf16_len(text) <= max_units:
        return [text]
    # Prefer paragraph breaks, then line breaks, then spaces (Thai puts spaces between phrases).
    for i in range(level, len(_SEPARATORS)):
        sep = _SEPARATORS[i]
        if sep in text:
            pieces: list[str] = []
            for part in text.split(sep):
                pieces.extend(_split(part, max_units, i + 1))
            return _pack(pieces, sep, max_units)
    return _hard_split(text, max_units)


def split_text(
    text: str, *, max_units: int = LINE_LIMITS.max_text_units, max_parts: int = LINE_LIMITS.max_messages
) -> list[str]:
    """Split text into at most max_parts non-empty chunks of at most max_units UTF-16 units each.

    Splits on paragraph, then line, then word boundaries; what does not fit in max_parts is cut and marked
    with an ellipsis (an answer that long is a knowledge-base problem, not something to send in full).
    """
    if max_parts < 1:
        return []
    normalized = text.replace("\r\n", "\n").replace("\r", "\n").strip()
    if not normalized:
        return []
    chunks = [c.strip() for c in _split(normalized, max_units)]
    chunks = [c for c in chunks if c]
    if len(chunks) > max_parts:
        chunks = chunks[:max_parts]
        chunks[-1] = _cut(chunks[-1], max_units - utf16_len(ELLIPSIS))[0].rstrip() + ELLIPSIS
    return chunks


# --- quick replies -------------------------------------------------------------------------------


def shorten_label(text: str, max_units: int = LINE_LIMITS.max_label_units) -> str:
    """A quick-reply label: the text if it fits, else cut at a word boundary (Thai has no spaces) + ellipsis."""
    text = " ".join(text.split())
    if utf16_len(text) <= max_units:
        return text
    head, _ = _cut(text, max_units - utf16_len(ELLIPSIS))
    # The last word end that keeps at least half of what fits; else the plain cut.
    ends = [e for e in _word_ends(text) if len(head) // 2 <= e <= len(head)]
    if ends:
        head = head[: max(ends)]
    return _finish(head)


def postback_data(action: SubscriptionAction) -> str:
    """An action as LINE postback data (issue 11's interface): `action=subscribe&fy=N`, `action=unsubscribe&fy=N`,
    `action=unsubscribe` (every year)."""
    data = f"action={action.kind.value}"
    return data if action.fiscal_year is None else f"{data}&fy={action.fiscal_year}"


def offer_item(offer: Offer, limits: LineLimits = LINE_LIMITS) -> QuickReplyItem:
    """An offered action as a postback button; the chat shows `offer.text` as if the person had typed it."""
    return QuickReplyItem(
        action=PostbackAction(
            label=shorten_label(offer.label, limits.max_label_units),
            data=postback_data(offer.action),
            displayText=truncate(offer.text, limits.max_action_text_units),
        )
    )


def quick_reply(
    suggestions: Sequence[str], limits: LineLimits = LINE_LIMITS, offers: Sequence[Offer] = ()
) -> QuickReply | None:
    """Quick-reply buttons: offered actions first (postbacks), then suggestions: a short label, and the full question
    as the text the button sends."""
    items: list[QuickReplyItem] = [offer_item(o, limits) for o in offers[: limits.max_quick_replies]]
    seen: set[str] = set()
    for suggestion in suggestions:
        if len(items) >= limits.max_quick_replies:
            break
        question = " ".join(suggestion.split())
        if not question or question in seen:
            continue
        seen.add(question)
        items.append(
            QuickReplyItem(
                action=MessageAction(
                    label=shorten_label(question, limits.max_label_units),
                    text=truncate(question, limits.max_action_text_units),
                )
            )
        )
        if len(items) == limits.max_quick_replies:
            break
    return QuickReply(items=items) if items else None


# --- Flex summary card ---------------------------------------------------------------------------


def _thai_date(d: date) -> str:
    return f"{d.day} {_THAI_MONTHS[d.month - 1]} {d.year + 543}"


def _accepting_label(accepting: bool | None, english: bool) -> tuple[str, str]:
    """(label, colour) for the accepting state."""
    if accepting is True:
        return ("Open" if english else "เปิดรับ"), "#1DB446"
    if accepting is False:
        return ("Closed" if english else "ไม่รับแล้ว"), "#D0021B"
    return ("No data" if english else "ไม่มีข้อมูล"), "#888888"


def _guidelines(answer: Answer) -> list[int]:
    numbers = list(answer.guidelines)
    if answer.guideline is not None and answer.guideline not in numbers:
        numbers.insert(0, answer.guideline)
    return numbers


@dataclass(frozen=True)
class _Row:
    label: str
    value: str
    color: str | None = None


def _card_rows(answer: Answer) -> list[_Row]:
    en = answer.language == "en"
    rows: list[_Row] = []
    if answer.fiscal_year is not None:
        fy = f"B.E. {answer.fiscal_year} (FY {answer.fiscal_year - 543})" if en else f"พ.ศ. {answer.fiscal_year}"
        rows.append(_Row("Fiscal year" if en else "ปีงบประมาณ", fy))
    if answer.kind is AnswerKind.FISCAL_YEAR_STATUS or answer.accepting is not None:
        label, color = _accepting_label(answer.accepting, en)
        rows.append(_Row("Requests" if en else "การรับคำขอ", label, color))
    numbers = _guidelines(answer)
    if numbers:
        joined = ", ".join(str(n) for n in numbers)
        rows.append(_Row("Guideline" if en else "แนวทาง", f"{joined}" if en else f"แนวทางที่ {joined}"))
    elif answer.kind is AnswerKind.GUIDELINE_MATCH:
        rows.append(_Row("Guideline" if en else "แนวทาง", "Not clear yet" if en else "ยังระบุไม่ได้", "#888888"))
    if answer.as_of is not None:
        rows.append(_Row("As of" if en else "ข้อมูล ณ", answer.as_of.isoformat() if en else _thai_date(answer.as_of)))
    return rows


def _card_title(answer: Answer) -> str:
    if answer.title and answer.title.strip():
        return answer.title.strip()
    en = answer.language == "en"
    if answer.kind is AnswerKind.FISCAL_YEAR_STATUS:
        return "Fiscal year status" if en else "สถานะปีงบประมาณ"
    return "Matching guideline" if en else "แนวทางที่เหมาะสม"


def _alt_text(title: str, rows: list[_Row], limits: LineLimits) -> str:
    parts = [title] + [f"{r.label} {r.value}" for r in rows]
    return truncate(" · ".join(parts), limits.max_alt_text_units)


def flex_summary(answer: Answer, limits: LineLimits = LINE_LIMITS) -> FlexMessage | None:
    """A summary card for status and guideline answers; None for every other kind."""
    if answer.kind not in _CARD_KINDS:
        return None
    title = truncate(_card_title(answer), 200)
    rows = _card_rows(answer)
    body: list[FlexComponent] = []
    for row in rows:
        body.append(
            FlexBox(
                layout="baseline",
                spacing="sm",
                contents=[
                    FlexText(text=row.label, size="sm", color="#888888", flex=2, wrap=True),
                    FlexText(
                        text=row.value,
                        size="sm",
                        flex=4,
                        wrap=True,
                        weight="bold" if row.color else None,
                        color=row.color or "#333333",
                    ),
                ],
            )
        )
    if answer.sources:
        body.append(FlexSeparator(margin="md"))
        body.append(
            FlexText(text="Sources" if answer.language == "en" else "ที่มา", size="xs", color="#888888", margin="md")
        )
        for source in answer.sources[:_MAX_CARD_SOURCES]:
            label = source.title if not source.posted else f"{source.title} ({_thai_date(source.posted)})"
            body.append(FlexText(text=truncate(label or source.id, 200), size="xs", color="#555555", wrap=True))
    if not body:  # a bubble body must not be empty
        body.append(FlexText(text=ELLIPSIS, size="sm", color="#888888"))
    bubble = FlexBubble(
        header=FlexBox(
            layout="vertical",
            contents=[FlexText(text=title, weight="bold", size="md", wrap=True, color="#FFFFFF")],
            background_color="#0B5394",
        ),
        body=FlexBox(layout="vertical", spacing="sm", contents=body),
    )
    return FlexMessage(alt_text=_alt_text(title, rows, limits), contents=bubble)


# --- whole replies -------------------------------------------------------------------------------


def _attach_quick_reply(
    messages: list[Message], suggestions: Sequence[str], limits: LineLimits, offers: Sequence[Offer] = ()
) -> list[Message]:
    # LINE shows the quick reply of the last message only.
    qr = quick_reply(suggestions, limits, offers)
    if qr is not None and messages:
        messages[-1].quick_reply = qr
    return messages


def render_answer(answer: Answer, limits: LineLimits = LINE_LIMITS) -> list[Message]:
    """The reply for an answer: its text (split), a summary card for status answers, quick replies last.

    An answer to several questions (`parts`) is one bubble per part, in order, then the first part's card if a
    message slot is left: never more than LINE's 5 messages in one reply."""
    if answer.parts:
        return _render_parts(answer, limits)
    card = flex_summary(answer, limits)
    text_slots = limits.max_messages - (1 if card is not None else 0)
    chunks = split_text(answer.text, max_units=limits.max_text_units, max_parts=text_slots)
    if not chunks and card is None:
        chunks = [EMPTY_TEXT]
    messages: list[Message] = [TextMessage(text=chunk) for chunk in chunks]
    if card is not None:
        messages.append(card)
    return _attach_quick_reply(messages, answer.suggestions, limits, offers_of(answer))


def _render_parts(answer: Answer, limits: LineLimits) -> list[Message]:
    parts = answer.parts[: limits.max_messages]
    messages: list[Message] = []
    for part in parts:
        # One bubble per part: a part too long for a bubble is cut, never spread over the other parts' slots.
        chunks = split_text(part.text, max_units=limits.max_text_units, max_parts=1)
        messages.append(TextMessage(text=chunks[0] if chunks else EMPTY_TEXT))
    if len(messages) < limits.max_messages:
        card = next((c for p in parts if (c := flex_summary(p, limits)) is not None), None)
        if card is not None:
            messages.append(card)
    return _attach_quick_reply(messages, answer.suggestions, limits, offers_of(answer))


def offers_of(answer: Answer) -> list[Offer]:
    """The answer's offered actions, or its parts' (a status question among several), each once."""
    offers = list(answer.offers) or [o for p in answer.parts for o in p.offers]
    return list({o.action.encode(): o for o in offers}.values())


def render_text(
    text: str, suggestions: Sequence[str] = DEFAULT_QUESTIONS, limits: LineLimits = LINE_LIMITS
) -> list[Message]:
    """A plain reply (help, errors) with quick replies."""
    chunks = split_text(text, max_units=limits.max_text_units, max_parts=limits.max_messages) or [EMPTY_TEXT]
    return _attach_quick_reply([TextMessage(text=c) for c in chunks], suggestions, limits)


def render_help(limits: LineLimits = LINE_LIMITS) -> list[Message]:
    """For stickers, images and other non-text messages."""
    return render_text(HELP_TEXT, DEFAULT_QUESTIONS, limits)


def render_error(limits: LineLimits = LINE_LIMITS) -> list[Message]:
    return render_text(ERROR_TEXT, DEFAULT_QUESTIONS, limits)
