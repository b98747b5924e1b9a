"""Personal data (Thailand's PDPA): keyed hashes for user ids, and masking of what users type.

Two rules, applied everywhere a question or a user id could be kept:
- A channel's user id is never stored or logged as it is: only as `hash_user` (HMAC-SHA256 keyed with the
  secret `BUDGETBOT_USER_HASH_SALT`), so nobody without the salt can test guesses against it. An unkeyed hash
  of a Telegram chat id (a number of 10 digits or fewer) is reversed by brute force in under a second.
- Phone numbers, 13-digit national ID numbers and e-mail addresses typed into a question are masked by
  `mask_personal_data` before the question is stored, logged or shown anywhere, leaving no run of their digits.
"""

from __future__ import annotations

import hashlib
import hmac
import re

__all__ = ["DEV_SALT", "hash_user", "mask_personal_data", "redact_user"]

# The value used when BUDGETBOT_USER_HASH_SALT is unset; the server refuses it once a chat channel is on.
DEV_SALT = "budgetbot-dev-salt"

PHONE_MASK = "[เบอร์โทรศัพท์]"
NATIONAL_ID_MASK = "[เลขประจำตัวประชาชน]"
EMAIL_MASK = "[อีเมล]"

_THAI_DIGITS = str.maketrans("๐๑๒๓๔๕๖๗๘๙", "0123456789")
_MAX_DIGITS = 13  # the longest number masked: a national ID, or 0066 and a 9-digit landline
# A run of digits (Thai or Arabic) with the separators people type inside numbers: 081-234-5678,
# 0 2612 6000, (02) 123.4567, +66 81 234 5678, 1-2345-67890-12-3, ๐๘๑๒๓๔๕๖๗๘.
_NUMBER_RUN = re.compile(r"\+?\(?[0-9๐-๙](?:[ \-.()]{0,2}[0-9๐-๙])+\)?")
# A loose e-mail shape: anything@anything.tld, without spaces. The lookbehind starts a match only where a run of
# such characters starts, and the possessive runs never backtrack: linear time on any input (without them a
# long run of letters took quadratic time, 20 ms for 2,000 characters).
_E = r"[^\s@<>()\[\]\"',;:]"
_EMAIL = re.compile(rf"(?<!{_E}){_E}++@{_E}+\.{_E}{{2,}}")


def mask_personal_data(text: str) -> str:
    """`text` with phone numbers, national ID numbers and e-mail addresses replaced by a marker."""
    if not text or not any(ch.isdigit() or ch == "@" for ch in text):
        return text  # the common case costs one scan
    text = _EMAIL.sub(EMAIL_MASK, text)
    return _NUMBER_RUN.sub(_mask_run, text)


def _kind(groups: list[str]) -> str | None:
    """What a sequence of digit groups spells: a national ID, a Thai phone number, or neither."""
    digits = re.sub(r"\D", "", "".join(groups).translate(_THAI_DIGITS))
    plus = groups[0].lstrip("(").startswith("+")
    if len(digits) == 13 and not plus:
        return NATIONAL_ID_MASK
    if digits.startswith("0066"):
        digits = "0" + digits[4:]
    elif digits.startswith("66") and (plus or len(digits) in (10, 11)):
        digits = "0" + digits[2:]
    # Thai numbers start with 0: 9 digits for landlines (02-123-4567), 10 for mobiles (081-234-5678). Fiscal
    # years (2566), amounts (1,000,000) and dates never do.
    if digits.startswith("0") and len(digits) in (9, 10):
        return PHONE_MASK
    return None


def _mask_run(match: re.Match[str]) -> str:
    """Mask every part of a run of numbers that is a phone or ID number: spaces may join unrelated numbers
    ("ปี 65 081 234 5678"), so spans of space-separated groups are tried, the longest first. No phone or ID
    number has more than 13 digits, so a span never grows past that: linear in the run's length."""
    run = match.group(0)
    groups = [g for g in run.split(" ") if g]
    digits = [sum(ch.isdigit() for ch in g) for g in groups]
    out: list[str] = []
    changed = False
    i = 0
    while i < len(groups):
        end, total = i, 0
        while end < len(groups) and total + digits[end] <= _MAX_DIGITS:
            total += digits[end]
            end += 1
        # A phone number first: Thai ID numbers never start with 0, so a phone-shaped span is never part of one,
        # and consecutive phone numbers ("081 234 5678 089 ...") are not read as one 13-digit ID.
        spans = [(j, _kind(groups[i:j])) for j in range(end, i, -1)]
        found = next((s for s in spans if s[1] == PHONE_MASK), None) or next((s for s in spans if s[1]), None)
        if found is not None:
            out.append(found[1])  # type: ignore[arg-type]
            changed = True
            i = found[0]
        else:
            out.append(groups[i])
            i += 1
    return " ".join(out) if changed else run


def hash_user(user: str, salt: str) -> str:
    """A stable pseudonym for a user id: HMAC-SHA256 keyed with the secret salt, hex."""
    return hmac.new(salt.encode("utf-8"), user.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()


def redact_user(user: str, salt: str) -> str:
    """A short keyed pseudonym fit for log lines (12 hex digits: enough to follow one user through a log)."""
    return hash_user(user, salt)[:12]
