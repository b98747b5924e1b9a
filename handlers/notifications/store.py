"""The notification tables in plain SQL (like the pipeline's, and run in its writer's transactions).

Subscriptions hold the raw channel id (needed to push) and nothing else about the person; everything is keyed by
`user_key`, the keyed hash of channel and id (bot.privacy.hash_user). A notification is created in one transaction
with its claim (a window's dates in notified_windows, or a unique dedupe key), its batches and their outbox rows:
either all of it is stored, or none, whichever instance or restart gets there first.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date

from bot.privacy import hash_user
from bot.storage.direct import Tx
from bot.subscriptions import NotificationKind, Notified, NotifiedWindow

PENDING = "pending"
DELIVERED = "delivered"
FAILED = "failed"
HELD_REASON = "quota_exceeded"  # FailureReason.QUOTA_EXCEEDED: a pending batch whose last attempt was held
REF_PREFIX = "notify:"  # outbox refs of notification batches: notify:<notification id>:<batch number>


def user_key(channel: str, recipient: str, salt: str) -> str:
    return hash_user(f"{channel}:{recipient}", salt)


@dataclass(frozen=True)
class Recipient:
    channel: str
    recipient: str  # the raw channel id
    language: str
    key: str = ""  # user_key (when read with it)


@dataclass
class NotificationRow:
    id: str
    kind: str
    fiscal_year: int | None
    text: str
    day: str
    created_at: float
    recipients: dict[str, int]
    delivered: dict[str, int] = field(default_factory=dict)
    failed: dict[str, int] = field(default_factory=dict)
    held: dict[str, int] = field(default_factory=dict)
    pending: dict[str, int] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)


# --- subscriptions ---------------------------------------------------------------------------------------------


def subscribe(
    tx: Tx,
    channel: str,
    recipient: str,
    year: int,
    language: str,
    *,
    salt: str,
    now: float,
    told: tuple[date, date | None] | None = None,
) -> bool:
    """True when this is a new subscription (False: it was there already; its language is brought up to date).
    `told`: the window the confirmation named (it counts as notified to this person)."""
    key = user_key(channel, recipient, salt)
    opens, closes = _window_text(told)
    tx.execute(
        "INSERT INTO subscriptions (channel, user_key, fiscal_year, recipient, language, created_at, told_opens, "
        "told_closes) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (channel, user_key, fiscal_year) DO NOTHING",
        (channel, key, year, recipient, language, now, opens, closes),
    )
    if tx.rowcount == 1:
        return True
    tx.execute(
        "UPDATE subscriptions SET language = ?, told_opens = coalesce(?, told_opens), "
        "told_closes = coalesce(?, told_closes) WHERE channel = ? AND user_key = ? AND fiscal_year = ?",
        (language, opens, closes, channel, key, year),
    )
    return False


def _window_text(window: tuple[date, date | None] | None) -> tuple[str | None, str | None]:
    if window is None:
        return None, None
    opens, closes = window
    return opens.isoformat(), closes.isoformat() if closes else ""


def not_told(tx: Tx, year: int, opens: date, closes: date | None) -> list[Recipient]:
    """Subscribers of `year` who have not been told of this window (told of none, or of other dates)."""
    o, c = _window_text((opens, closes))
    rows = tx.execute(
        "SELECT channel, recipient, language, user_key FROM subscriptions WHERE fiscal_year = ? "
        "AND (told_opens IS NULL OR told_opens <> ? OR told_closes <> ?) ORDER BY channel, recipient",
        (year, o, c),
    ).fetchall()
    return [Recipient(str(r[0]), str(r[1]), str(r[2]), str(r[3])) for r in rows]


def mark_told(tx: Tx, year: int, opens: date, closes: date | None, people: Iterable[Recipient]) -> None:
    """These subscribers of `year` have now been told of this window (only they: on PostgreSQL someone who
    subscribed since they were read is not, and is caught up later)."""
    o, c = _window_text((opens, closes))
    tx.executemany(
        "UPDATE subscriptions SET told_opens = ?, told_closes = ? "
        "WHERE channel = ? AND user_key = ? AND fiscal_year = ?",
        [(o, c, p.channel, p.key, year) for p in people],
    )


def untold_years(tx: Tx) -> list[int]:
    """Fiscal years whose notified window some subscriber has not been told of (they subscribed while its
    notification was being made, with a confirmation written before the window was known): to catch up."""
    rows = tx.execute(
        "SELECT DISTINCT s.fiscal_year FROM subscriptions s JOIN notified_windows w ON w.fiscal_year = s.fiscal_year "
        "WHERE s.told_opens IS NULL OR s.told_opens <> w.opens OR s.told_closes <> w.closes ORDER BY s.fiscal_year"
    ).fetchall()
    return [int(r[0]) for r in rows]


def years_of(tx: Tx, channel: str, recipient: str, *, salt: str) -> set[int]:
    key = user_key(channel, recipient, salt)
    rows = tx.execute("SELECT fiscal_year FROM subscriptions WHERE channel = ? AND user_key = ?", (channel, key))
    return {int(r[0]) for r in rows.fetchall()}


def unsubscribe(tx: Tx, channel: str, recipient: str, year: int | None, *, salt: str) -> int:
    """Delete the person's subscription to `year` (None: every one), and with it their id. Rows deleted."""
    key = user_key(channel, recipient, salt)
    if year is None:
        tx.execute("DELETE FROM subscriptions WHERE channel = ? AND user_key = ?", (channel, key))
    else:
        tx.execute(
            "DELETE FROM subscriptions WHERE channel = ? AND user_key = ? AND fiscal_year = ?", (channel, key, year)
        )
    return tx.rowcount


def recipients(tx: Tx, year: int | None) -> list[Recipient]:
    """Subscribers of `year` (None: of any year), one row per person however many years they follow."""
    where, params = ("WHERE fiscal_year = ?", (year,)) if year is not None else ("", ())
    rows = tx.execute(
        "SELECT channel, min(recipient), min(language) FROM subscriptions "
        f"{where} GROUP BY channel, user_key ORDER BY channel, min(recipient)",
        params,
    ).fetchall()
    return [Recipient(str(r[0]), str(r[1]), str(r[2])) for r in rows]


def recipient_counts(tx: Tx, year: int | None) -> dict[str, int]:
    where, params = ("WHERE fiscal_year = ?", (year,)) if year is not None else ("", ())
    rows = tx.execute(
        f"SELECT channel, count(DISTINCT user_key) FROM subscriptions {where} GROUP BY channel", params
    ).fetchall()
    return {str(r[0]): int(r[1]) for r in rows}


def subscription_counts(tx: Tx) -> tuple[dict[int, dict[str, int]], dict[str, int]]:
    """Per fiscal year and channel, and distinct people per channel."""
    years: dict[int, dict[str, int]] = {}
    for year, channel, count in tx.execute(
        "SELECT fiscal_year, channel, count(*) FROM subscriptions GROUP BY fiscal_year, channel ORDER BY fiscal_year"
    ).fetchall():
        years.setdefault(int(year), {})[str(channel)] = int(count)
    return years, recipient_counts(tx, None)


# --- what was notified -------------------------------------------------------------------------------------------


def notified(tx: Tx) -> Notified:
    windows = {
        int(year): NotifiedWindow(
            int(year),
            date.fromisoformat(opens),
            date.fromisoformat(closes) if closes else None,
            date.fromisoformat(day),
        )
        for year, opens, closes, day in tx.execute(
            "SELECT fiscal_year, opens, closes, day FROM notified_windows"
        ).fetchall()
    }
    sent = frozenset(
        str(r[0])
        for r in tx.execute(
            "SELECT dedupe_key FROM notifications WHERE dedupe_key IS NOT NULL AND kind IN (?, ?)",
            (NotificationKind.OPENING.value, NotificationKind.REMINDER.value),
        ).fetchall()
    )
    return Notified(windows, sent)


def claim_window(tx: Tx, year: int, opens: date, closes: date | None, day: date, notification_id: str) -> bool:
    """Record that subscribers of `year` are told of this window, unless they were told of these very dates already
    (by another instance a moment ago, say): True when this transaction is the one to tell them."""
    tx.execute(
        "INSERT INTO notified_windows (fiscal_year, opens, closes, day, notification_id) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT (fiscal_year) DO UPDATE SET opens = excluded.opens, closes = excluded.closes, "
        "day = excluded.day, notification_id = excluded.notification_id "
        "WHERE notified_windows.opens <> excluded.opens OR notified_windows.closes <> excluded.closes",
        (year, opens.isoformat(), closes.isoformat() if closes else "", day.isoformat(), notification_id),
    )
    return tx.rowcount == 1


def claim_key(tx: Tx, key: str) -> bool:
    """Whether a notification with this dedupe key may be created (none exists yet)."""
    row = tx.execute("SELECT 1 FROM notifications WHERE dedupe_key = ?", (key,)).fetchone()
    return row is None


def insert_notification(
    tx: Tx,
    notification_id: str,
    kind: str,
    year: int | None,
    dedupe_key: str | None,
    text: str,
    day: date,
    now: float,
    counts: dict[str, int],
) -> bool:
    """False when another transaction created one with this dedupe key first (nothing else was written here)."""
    tx.execute(
        "INSERT INTO notifications (id, kind, fiscal_year, dedupe_key, text, day, created_at, line_recipients, "
        "telegram_recipients) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (dedupe_key) DO NOTHING",
        (
            notification_id,
            kind,
            year,
            dedupe_key,
            text,
            day.isoformat(),
            now,
            counts.get("line", 0),
            counts.get("telegram", 0),
        ),
    )
    return tx.rowcount == 1


def insert_batches(tx: Tx, notification_id: str, batches: Iterable[tuple[str, str, int]]) -> None:
    """(ref, channel, recipients) of each outgoing message, pending."""
    tx.executemany(
        "INSERT INTO notification_batches (ref, notification_id, channel, recipients, status) VALUES (?, ?, ?, ?, ?)",
        [(ref, notification_id, channel, count, PENDING) for ref, channel, count in batches],
    )


def batch_finished(tx: Tx, ref: str, status: str, reason: str | None, now: float) -> None:
    tx.execute(
        "UPDATE notification_batches SET status = ?, reason = ?, finished_at = ? WHERE ref = ?",
        (status, reason, now, ref),
    )


# --- the admin page ------------------------------------------------------------------------------------------


def list_notifications(tx: Tx, limit: int) -> list[NotificationRow]:
    rows = tx.execute(
        "SELECT id, kind, fiscal_year, text, day, created_at, line_recipients, telegram_recipients "
        "FROM notifications ORDER BY created_at DESC LIMIT ?",
        (limit,),
    ).fetchall()
    out = [
        NotificationRow(
            id=str(r[0]),
            kind=str(r[1]),
            fiscal_year=None if r[2] is None else int(r[2]),
            text=str(r[3]),
            day=str(r[4]),
            created_at=float(r[5]),
            recipients={"line": int(r[6]), "telegram": int(r[7])},
        )
        for r in rows
    ]
    if not out:
        return out
    by_id = {n.id: n for n in out}
    marks = ", ".join("?" * len(by_id))
    for notification_id, channel, count, status, reason, last in tx.execute(
        "SELECT b.notification_id, b.channel, b.recipients, b.status, b.reason, o.last_reason "
        "FROM notification_batches b LEFT JOIN pipeline_outbox o ON o.ref = b.ref "
        f"WHERE b.notification_id IN ({marks})",
        list(by_id),
    ).fetchall():
        n = by_id[str(notification_id)]
        if status == DELIVERED:
            bucket = n.delivered
        elif status == FAILED:
            bucket = n.failed
        elif last is not None and str(last).startswith(HELD_REASON):
            bucket = n.held
        else:
            bucket = n.pending
        bucket[str(channel)] = bucket.get(str(channel), 0) + int(count)
        why = reason if status == FAILED else last
        if why and str(why) not in n.reasons:
            n.reasons.append(str(why))
    return out


def refs(batches: Sequence[tuple[str, str, int]]) -> list[str]:
    return [ref for ref, _, _ in batches]
