"""Slots: what a message names, read once per message for the router and the rules.

Times come from the time model (bot.time_model), guideline numbers from the text, a kind of body from the
knowledge's organisation list, the closest knowledge entries from the index, and the project evidence from the
guideline advisor. The router sees them as features (bot.router.Evidence); the rules use their values.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from bot.advisor import Advice, GuidelineAdvisor
from bot.analysis import Analyzed, TextAnalyzer
from bot.answers.guidelines import ProjectEvidence
from bot.cues import CueIndex, PhraseSet, WordSet
from bot.knowledge.loader import KnowledgeBase
from bot.knowledge.schema import FaqEntry
from bot.matching import Match, QuestionIndex
from bot.router import Evidence
from bot.time_model import TimeRef, read_time

# "แนวทางที่ 2", "แนวทาง 2", "guideline 2", "แนวทางที่สาม": a guideline named by number.
_GUIDELINE_NUMBER = re.compile(r"(?:แนวทาง(?:ที่)?|guidelines?|guidance|แนว(?:ที่)?)\s?#?([1-9])(?!\d)")
_GUIDELINE_MORE = re.compile(
    r"(?:\s?(?:,|และ|กับ|หรือ|vs\.?|and|or|&|/|-)\s?(?:แนวทาง(?:ที่)?|guidelines?)?\s?(?:ที่)?\s?#?([1-9])(?!\d))"
)
_NUMBER_WORDS = {"หนึ่ง": "1", "สอง": "2", "สาม": "3", "สี่": "4", "ห้า": "5", "หก": "6", "one": "1", "two": "2",
                 "three": "3", "first": "1", "second": "2", "third": "3", "fourth": "4", "fifth": "5"}  # fmt: skip
_RE_NUMBER_WORD = re.compile(r"(?<=แนวทางที่)\s?(หนึ่ง|สอง|สาม|สี่|ห้า)|(?<=guideline )(one|two|three)\b")
# An option picked by its number: "2", "ข้อ 3", "อันที่สอง", "ขอรายละเอียดข้อ 4", "the second one", "no. 4?".
_ORDINAL_WORD = r"หนึ่ง|สอง|สาม|สี่|ห้า|หก|one|two|three|four|five|six|first|second|third|fourth|fifth|sixth"
_PICK_ALONE = re.compile(rf"^(?:เอา|ขอ|เลือก)?\s?(\d{{1,2}}|{_ORDINAL_WORD})\s?(?:ครับ|ค่ะ|คะ|คับ|นะ|จ้า)?\s?[.!?]?$")
_PICK_NAMED = re.compile(
    rf"(?:ข้อ|อัน|ตัว|หัวข้อ|ด้าน|รายการ|option|item|number|no\.?|#)\s?(?:ที่)?\s?(\d{{1,2}}|{_ORDINAL_WORD})(?![\d.])"
    rf"|\bthe\s({_ORDINAL_WORD})\b|^({_ORDINAL_WORD})\s(?:one|อัน)\b"
)
PICK_MAX_TOKENS = 8
_ORDINALS = {"หนึ่ง": 1, "สอง": 2, "สาม": 3, "สี่": 4, "ห้า": 5, "หก": 6, "one": 1, "two": 2, "three": 3, "four": 4,
             "five": 5, "six": 6, "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6}  # fmt: skip

# Organisation words that name no particular kind of body: the sources speak of government agencies.
_GENERIC_BODIES = frozenset({"หน่วยงาน", "หน่วยงานรัฐ", "หน่วยงานของรัฐ", "ส่วนราชการ", "กรม", "agency", "agencies"})
_BODY_STOP = frozenset(
    {"ขอ", "ของบ", "ขอรับ", "ยื่น", "ยื่นขอ", "ส่ง", "เสนอ", "มีสิทธิ์", "มีสิทธิ", "สามารถ", "ได้", "ไหม", "มั้ย",
     "หรือ", "เข้าร่วม", "จะ", "ต้อง", "ควร", "ก็", "ยัง"}
)  # fmt: skip
_BODY_EN = re.compile(
    r"\b(?:can|may|could|is|are|does|do|will)\s+(.+?)\s+(?:apply|request|submit|join|get|be eligible|qualify|ask|"
    r"take part|participate|eligible)\b"
)
NAMED_BODY_MAX_CHARS = 60
CONTEXT_BELOW = 45.0  # a message matching an entry this well on its own needs no context
CONTEXT_AT_LEAST = 45.0  # ... and with the last question's words the match must reach this
CONTEXT_MAX_TOKENS = 8  # only a short message leaves words out
# What joins two times into one subject of a question.
_JOINS = re.compile(r"\s?(?:กับ|และ|หรือ|แล้วก็|and|or|vs\.?|,|/|-|–|ถึง|to)\s?(?:ปี(?:งบ(?:ประมาณ)?)?\s?)?")
# Words that point back at what was just said ("ในคณะนั้น", "what did he say"): the last question fills them in.
_REFERS_BACK = frozenset(
    {"นั้น", "ดังกล่าว", "เขา", "เค้า", "ท่าน", "ที่ว่า", "that", "it", "he", "she", "they", "his", "her", "their",
     "its", "those", "them", "him"}
)  # fmt: skip
VOTE_SURE = 0.6  # the entry model's probability that counts as a vote against the matcher ...
VOTE_AGREES = 0.3  # ... and for the matcher's own first choice
VOTE_SCORE = 50.0  # the match score a voted entry gets: enough to answer
VOTE_ALONE_BELOW = 35.0  # below this the voted entry must be among the matcher's own
VOTE_OVERRULED = 65.0  # a matcher this sure of its first choice is not overruled


@dataclass(frozen=True)
class Slots:
    times: tuple[TimeRef, ...]
    guidelines: tuple[int, ...]  # guideline numbers named, in order
    body: str | None  # a particular kind of body the message asks about
    pick: int | None  # the message is only an option's number
    matches: tuple[Match, ...]  # the closest knowledge entries, best first
    advice: Advice
    project_evidence: float  # guideline keyword weight
    cues: frozenset[str]  # names of the knowledge's cue lists with a phrase in the message
    evidence: Evidence
    in_context: bool = False  # the matches were found with the last question's words added
    several_joined: bool = False  # two or more times joined by "กับ", "และ", "หรือ", "and", a comma or a dash

    @property
    def years(self) -> list[int]:
        """Distinct fiscal years named, in text order (a span or a calendar year counts its first)."""
        return list(dict.fromkeys(t.fiscal_year for t in self.times))

    @property
    def year(self) -> int | None:
        return self.times[0].fiscal_year if self.times else None

    @property
    def asked(self) -> TimeRef | None:
        """The time a status question asks about: a fiscal year named as one wins over a date beside it ("วันนี้
        21 พ.ย. แล้ว ปีงบ 71 เปิดหรือยัง")."""
        named = [t for t in self.times if t.kind in ("fiscal_year", "relative_fiscal")]
        if len(named) > 1 and not self.joined:
            return named[-1]  # "ปีที่แล้วยื่นไม่ทัน ปีงบนี้ยังทันไหม": the year the question ends on
        return named[0] if named else (self.times[0] if self.times else None)

    @property
    def joined(self) -> bool:
        """Several times joined as one subject ("ปีนี้กับปีหน้า", "FY70 and FY71", "2566-2567")."""
        return self.several_joined

    @property
    def best(self) -> float:
        return self.matches[0].score if self.matches else 0.0


class SlotReader:
    """Reads a message's slots with the knowledge's lists, compiled once."""

    def __init__(
        self,
        kb: KnowledgeBase,
        analyzer: TextAnalyzer,
        index: QuestionIndex,
        faq: dict[str, FaqEntry],
        advisor: GuidelineAdvisor,
        entry_vote: Callable[[Analyzed], tuple[str, float] | None] = lambda a: None,
    ) -> None:
        self.kb, self.analyzer, self.index, self.faq, self.advisor = kb, analyzer, index, faq, advisor
        self.entry_vote = entry_vote
        self.project = ProjectEvidence(kb.guidelines, analyzer)
        i = kb.intents
        lists: dict[str, list[str]] = {
            "status": i.status_cues,
            "request": i.request_verbs,
            "guideline": i.guideline_cues,
            "eligibility": i.eligibility_cues,
            "guided": i.guided_check_cues,
            "greeting": i.greetings,
            "help": i.help,
            "domain": i.domain_terms,
            "unknown": i.unknown_topics,
            "follow_up": i.follow_up_cues,
            "cancel": i.cancel,
            "thanks": i.thanks,
            "ack": [*i.acknowledgements, *i.laughter],
            "about_bot": i.about_the_bot,
            "question": i.question_words,
            "preamble": i.preambles,
            "calendar_now": i.calendar_now,
            "calendar_months": i.calendar_months,
            "calendar_open": i.calendar_open,
            "figure": i.figure_words,
            "open_question": i.open_question_words,
            "subscribe": i.subscribe_cues,
            "unsubscribe": i.unsubscribe_cues,
            "confirm": i.confirm_cues,
        }
        self.cue_index = CueIndex(analyzer, lists)
        self.cue_sets = {name: self.cue_index[name] for name in lists}
        self.out_of_scope = WordSet(analyzer, i.out_of_scope_terms)  # whole words: หนัง is inside หนังสือ
        orgs = {analyzer.canonical_phrase(o) for o in i.organizations}
        self._generic = {analyzer.canonical_phrase(w) for w in _GENERIC_BODIES}
        # Kinds of body, with every other name the synonyms give the particular ones (เทศบาลตำบล is a kind of
        # local government; กรม in กรมบัญชีกลาง is just an agency the question mentions).
        self.organizations = PhraseSet(
            analyzer,
            [
                *i.organizations,
                *(
                    v
                    for g in kb.synonyms
                    if (c := analyzer.canonical_phrase(g.canonical)) in orgs and c not in self._generic
                    for v in g.variants
                ),
            ],
        )

    def read(self, a: Analyzed, today: date, context: str | None = None) -> Slots:
        """`context`: the question the last answer answered. A short message that matches no entry on its own
        ("who opened it?", "วันไหน") is matched again with it: the words it leaves out are the last question's."""
        times = tuple(read_time(a.normalized, today, normalized=True))
        guidelines = guideline_numbers(a.normalized)
        matches = tuple(self.index.search(a, limit=3))
        in_context = False
        best = matches[0].score if matches else 0.0
        refers_back = any(t in _REFERS_BACK for t in a.tokens)
        short = 0 < len(a.content) <= CONTEXT_MAX_TOKENS
        if context and short and (best < CONTEXT_BELOW or refers_back):
            joined = tuple(self.index.search(self.analyzer.analyze(f"{context} {a.raw}"), limit=3))
            if joined and joined[0].score >= max(best, CONTEXT_AT_LEAST):
                matches, in_context = joined, True
        if not in_context:
            matches = self._with_vote(a, matches)
        advice = self.advisor.advise(a)
        project = self.project.score(a)
        cues = self.cue_index.names(a)
        if self.out_of_scope.any(a):
            cues |= {"out_of_scope"}
        body = self.named_body(a)
        pick = option_number(a.normalized)
        top = self.faq.get(matches[0].entry_id) if matches else None
        match_kind = (
            ""
            if top is None
            else "guideline"
            if top.guideline is not None
            else "eligibility"
            if top.kind == "eligibility"
            else "year"
            if top.fiscal_year is not None
            else "faq"
        )
        evidence = Evidence(
            time_kinds=frozenset(t.kind for t in times),
            guideline_number=bool(guidelines),
            several_guidelines=len(guidelines) > 1,
            body=body is not None,
            only_number=pick is not None,
            match_score=matches[0].score if matches else 0.0,
            match_kind=match_kind,
            aspects=sum(len(f.aspects) for f in advice.scored),
            outside=bool(advice.outside),
            cues=cues,
            in_context=in_context,
        )
        together = any(
            _JOINS.fullmatch(a.normalized[x.end : y.start]) is not None for x, y in zip(times, times[1:], strict=False)
        )
        return Slots(times, guidelines, body, pick, matches, advice, project, cues, evidence, in_context, together)

    def _with_vote(self, a: Analyzed, matches: tuple[Match, ...]) -> tuple[Match, ...]:
        """The matcher's entries with the entry model's vote: a sure vote for the matcher's own first choice makes
        a middling match clear; a sure vote for another entry puts it first, unless the matcher is sure itself."""
        if len(a.content) < 2 or not any(len(t) > 2 and not t.replace(".", "").isdigit() for t in a.content):
            return matches  # "2", "คณะกรรมการ": a word names a topic, not a question; too little for a vote
        vote = self.entry_vote(a)
        if vote is None or vote[0] not in self.faq:
            return matches
        entry_id, p = vote
        top = matches[0].score if matches else 0.0
        agrees = bool(matches) and matches[0].entry_id == entry_id
        if top >= VOTE_OVERRULED or p < (VOTE_AGREES if agrees else VOTE_SURE):
            return matches
        mine = next((m for m in matches if m.entry_id == entry_id), None)
        if mine is None and top < VOTE_ALONE_BELOW:
            return matches  # the matcher finds nothing like it: a vote alone is a guess
        score = max(top, VOTE_SCORE)
        first = Match(entry_id, mine.variant if mine else "", score)
        return (first, *(m for m in matches if m.entry_id != entry_id))[:3]

    def bodies(self, a: Analyzed) -> list[str]:
        """Two or more particular kinds of body named ("มหาวิทยาลัยกับรัฐวิสาหกิจ", "a company and a foundation"),
        as written and in that order; names written next to each other are one body ("บริษัทเอกชน")."""
        text = a.normalized
        spans: list[tuple[int, int]] = []
        for o in self.organizations.found(a):
            if self.analyzer.canonical_phrase(o) in self._generic:
                continue
            start = text.find(o)
            while start >= 0:
                spans.append((start, start + len(o)))
                start = text.find(o, start + 1)
        merged: list[list[int]] = []
        for start, end in sorted(spans):
            if merged and start <= merged[-1][1] + 1:
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([start, end])
        names = list(dict.fromkeys(text[s:e].strip() for s, e in merged))
        return names if len(names) > 1 else []

    def named_body(self, a: Analyzed) -> str | None:
        """The kind of body a question asks about ("มหาวิทยาลัยราชภัฏ", "a public hospital"), if it names one."""
        named = [o for o in self.organizations.found(a) if self.analyzer.canonical_phrase(o) not in self._generic]
        if not named:
            return None
        m = _BODY_EN.search(a.normalized)
        if m is not None:
            body = m.group(1)
        elif a.normalized.isascii():
            body = max(named, key=len)  # "what about a foundation?": the kind of body named is the body
        else:
            text, pos, start, end = a.normalized, 0, None, None
            preambles = self.cue_sets["preamble"]
            for t in a.tokens:
                at = text.find(t, pos)
                if at < 0:
                    continue
                pos = at + len(t)
                if start is None:
                    if t in _BODY_STOP or t in ("ครับ", "ค่ะ", "คะ") or preambles.any(self.analyzer.analyze(t)):
                        continue
                    start = at
                elif t in _BODY_STOP:
                    end = at
                    break
            body = text[start:end].strip() if start is not None else ""
        body = body.strip(" ,.?")
        # The body must be what the question is about: "ต้องทำร่วมกับหน่วยงานอื่นไหม" names none.
        canonical = self.analyzer.canonical_phrase(body)
        if not any(o.replace(" ", "") in body.replace(" ", "") for o in named) and not any(
            self.analyzer.canonical_phrase(o) in canonical for o in named
        ):
            return None
        return body if 1 < len(body) <= NAMED_BODY_MAX_CHARS else None


def guideline_numbers(normalized: str) -> tuple[int, ...]:
    """Guidelines named by number, in order: "แนวทาง 1 กับ 3" -> (1, 3)."""
    text = _RE_NUMBER_WORD.sub(lambda m: _NUMBER_WORDS[m.group(m.lastindex or 0)], normalized)
    found: list[int] = []
    for m in _GUIDELINE_NUMBER.finditer(text):
        found.append(int(m.group(1)))
        pos = m.end()
        while (more := _GUIDELINE_MORE.match(text, pos)) is not None:
            found.append(int(more.group(1)))
            pos = more.end()
    return tuple(dict.fromkeys(found))


def option_number(normalized: str) -> int | None:
    """The option a message picks: a number or an ordinal alone, or one named as an item ("ข้อ 3", "the second")
    in a short message."""
    text = normalized.strip()
    m = _PICK_ALONE.match(text)
    if m is None and len(text.split()) <= PICK_MAX_TOKENS and len(text) <= 60:
        m = _PICK_NAMED.search(text)
    if m is None:
        return None
    word = next(g for g in m.groups() if g)
    n = int(word) if word.isdigit() else _ORDINALS[word]
    return n if 1 <= n <= 20 else None
