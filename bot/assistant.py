"""The assistant: routes an analyzed question to the composer of the right kind of answer.

Routing is deliberately explicit (cue words from the knowledge base, then the matcher's score) so that a
DGA editor can see why a question got the answer it got, and so that nothing out of scope is ever answered
with a confident fact.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from bot.analysis import Analyzed, TextAnalyzer, contains_phrase
from bot.answer import Answer, AnswerKind
from bot.answers import guided
from bot.answers.context import Turn
from bot.answers.faq import did_you_mean, entry_answer, entry_question
from bot.answers.general import fallback, greeting, help_answer
from bot.answers.guidelines import GuidelineClassifier, guideline_entries, guideline_match_answer
from bot.answers.status import status_answer
from bot.conversation import ConversationState
from bot.knowledge.loader import KnowledgeBase
from bot.knowledge.schema import FaqEntry
from bot.matching import Match, QuestionIndex, Variant
from bot.thai import is_mostly_english
from bot.years import YearMention, fiscal_year_of, read_years

ANSWER_THRESHOLD = 45.0  # best match at or above: answer with the entry
SUGGEST_THRESHOLD = 35.0  # between the two: "did you mean", with up to 3 suggestions
STRONG_MATCH = 65.0  # a match this good wins over cue words that point elsewhere
OVERRIDE_OOS = 85.0  # only a near-verbatim knowledge question outweighs an out-of-scope word (ภาษี, passport)
PROJECT_EVIDENCE = 2.0  # guideline keyword weight that makes a question a project description
FOLLOW_UP_MAX_TOKENS = 4
SHORT_QUESTION_TOKENS = 3
HELP_MAX_TOKENS = 4  # "ช่วยอะไรได้บ้าง" is help; "โครงการ...เงินช่วยเหลือ..." is not

# "แนวทางที่ 2", "แนวทาง 2", "guideline 2": a guideline named by number.
_GUIDELINE_NUMBER = re.compile(r"(?:แนวทาง(?:ที่)?|guideline|guidance)\s?#?([1-9])(?!\d)")
# Words that strongly tie a question to this plan even when it also mentions an out-of-scope topic.
_PLAN_ANCHORS = ("บูรณาการ", "รัฐบาลดิจิทัล", "ของบ", "คำขอ", "แนวทาง", "integration plan", "guideline")
_NOW = re.compile(r"ตอนนี้|ขณะนี้|ปัจจุบัน|\b(?:now|currently|still)\b")  # and the word ยัง (not ยังไง)
# Words that frame a question as a description of a project ("โครงการ...", "we want to build ...").
_PROJECT_WORDS = ("โครงการ", "อยากทำ", "จะทำ", "ต้องการทำ", "จัดทำระบบ", "พัฒนาระบบ", "project", "build", "develop")
_MAY = ("ได้ไหม", "ได้มั้ย", "ได้มั๊ย", "ได้ใหม", "ได้หรือไม่", "ได้รึเปล่า", "ได้ป่าว", "ได้บ่", "can", "may", "eligible")
_YEARS_REF = date(2000, 1, 1)  # only explicit years are read from entries
_UNSURE = ("ไม่แน่ใจ", "ไม่รู้", "ไม่ทราบ", "not sure", "don't know", "dont know")


@dataclass(frozen=True)
class _Cue:
    phrase: str
    canonical: str


class Assistant:
    def __init__(self, kb: KnowledgeBase, analyzer: TextAnalyzer) -> None:
        self.kb = kb
        self.analyzer = analyzer
        self.faq: dict[str, FaqEntry] = {**{e.id: e for e in guideline_entries(kb)}, **kb.faq}
        variants = [
            Variant(e.id, q, analyzer.analyze(q)) for e in self.faq.values() for q in [*e.questions, *e.questions_en]
        ]
        self.index = QuestionIndex(variants)
        # Years an entry speaks of (its fiscal year, and dates in its text such as 11 ธ.ค. 2562): a question
        # naming any other year asks about something the entry does not cover.
        self.entry_years: dict[str, set[int]] = {
            e.id: ({e.fiscal_year} if e.fiscal_year else set())
            | {
                m.year
                for t in (*e.questions, *e.questions_en, e.answer)
                for m in read_years(t, _YEARS_REF)
                if m.how != "relative"
            }
            for e in self.faq.values()
        }
        self.classifier = GuidelineClassifier(kb.guidelines, analyzer)
        i = kb.intents
        cue = self._cues
        self.status_cues, self.guideline_cues = cue(i.status_cues), cue(i.guideline_cues)
        self.request_verbs, self.organizations = cue(i.request_verbs), cue(i.organizations)
        self.unknown_topics = cue(i.unknown_topics)
        self.eligibility_cues, self.guided_cues = cue(i.eligibility_cues), cue(i.guided_check_cues)
        self.greeting_cues, self.help_cues = cue(i.greetings), cue(i.help)
        self.domain_cues, self.out_of_scope_cues = cue(i.domain_terms), cue(i.out_of_scope_terms)
        self.follow_up_cues, self.cancel_cues = cue(i.follow_up_cues), cue(i.cancel)
        self.plan_anchors = cue(list(_PLAN_ANCHORS))

    @classmethod
    def build(cls, kb: KnowledgeBase) -> Assistant:
        return cls(kb, TextAnalyzer(kb.synonyms, vocabulary(kb)))

    def warm(self) -> None:
        self.analyzer.warm()
        self.respond("ปีงบ 2566 ยังยื่นได้ไหม", None, date(2026, 1, 1))

    def _cues(self, phrases: list[str]) -> list[_Cue]:
        out = []
        for p in phrases:
            norm = self.analyzer.analyze(p).normalized
            if norm:
                out.append(_Cue(norm, self.analyzer.canonical_phrase(p)))
        return out

    @staticmethod
    def _found(a: Analyzed, cues: list[_Cue]) -> list[str]:
        return [c.phrase for c in cues if contains_phrase(a, c.phrase, c.canonical)]

    # ------------------------------------------------------------------ entry point
    def respond(self, question: str, state: ConversationState | None, today: date) -> tuple[Answer, ConversationState]:
        a = self.analyzer.analyze(question if isinstance(question, str) else "")
        turn = Turn(a, "en" if is_mostly_english(a.normalized) else "th", today)
        state = state or ConversationState()
        answer, new_state = self._route(turn, state)
        return answer.model_copy(update={"knowledge_version": self.kb.version}), new_state

    # ------------------------------------------------------------------ routing
    def _route(self, turn: Turn, state: ConversationState) -> tuple[Answer, ConversationState]:
        a = turn.question
        if not a.content:
            if a.tokens and self._found(a, self.follow_up_cues) and state.last_kind:
                return help_answer(self.kb, turn), state
            return help_answer(self.kb, turn, empty=True), state

        if state.flow == guided.FLOW:
            if self._is_only(a, self.cancel_cues):
                done = state.model_copy(update={"flow": None, "flow_step": None, "project_description": None})
                cancelled = help_answer(self.kb, turn)
                text = turn.pick("ยกเลิกการตรวจโครงการแล้ว\n", "Project check cancelled.\n") + cancelled.text
                return cancelled.model_copy(update={"text": text}), done
            stepped = self._guided_step(turn, state)
            if stepped is not None:
                return stepped
            state = state.model_copy(update={"flow": None, "flow_step": None, "project_description": None})

        years = read_years(a.normalized, turn.today)
        matches = self.index.search(a, limit=3)
        best = matches[0].score if matches else 0.0

        if self._found(a, self.out_of_scope_cues) and not self._found(a, self.plan_anchors) and best < OVERRIDE_OOS:
            return fallback(self.kb, turn), state
        if self._is_only(a, self.greeting_cues):
            return greeting(self.kb, turn), state
        if self._found(a, self.unknown_topics):
            return fallback(
                self.kb,
                turn,
                note=turn.pick("ขออภัย เอกสารที่มีไม่ได้ให้ข้อมูลเรื่องนี้", "Sorry, the sources have no information on that."),
            ), state
        if self._found(a, self.help_cues) and len(a.content) <= HELP_MAX_TOKENS and not years and best < STRONG_MATCH:
            return help_answer(self.kb, turn), state

        follow = self._follow_up(turn, state, years)
        if follow is not None:
            return follow
        if self._found(a, self.guided_cues):
            return guided.start(self.kb, turn, state)

        status_cue = bool(self._found(a, self.status_cues))
        request_verb = bool(self._found(a, self.request_verbs))
        # "ใครขอได้" asks who may request; "มหาลัยขอได้ไหม" too, but an organisation named in a question about a
        # year ("หน่วยงานยังเสนอคำขอปี 2571 ได้หรือไม่") is only the asker, so it does not outweigh the year.
        asks_who = bool(self._found(a, self.eligibility_cues))
        eligibility_cue = asks_who or (
            bool(self._found(a, self.organizations)) and (request_verb or any(w in a.compact for w in _MAY))
        )
        guideline_cue = bool(self._found(a, self.guideline_cues))
        guideline_no = self._guideline_number(a)
        scores = self.classifier.classify(a)
        asked_year = years[0].year if years else None
        # In the plan's domain: a word of the plan, or a year that the best entry is about ("งบปี 65 กี่ล้าน").
        in_domain = bool(self._found(a, self.domain_cues)) or bool(
            years and matches and self.entry_years.get(matches[0].entry_id, set()) & {y.year for y in years}
        )

        # "แนวทางอะไร" asks which guideline fits a project; without any project words it is a question about
        # the guidelines themselves ("ปีงบ 66 มีแนวทางอะไรบ้าง"), which an entry answers.
        if guideline_cue and (scores or best < ANSWER_THRESHOLD) and not (status_cue and years):
            answer = guideline_match_answer(self.kb, turn, scores, asked_year=asked_year)
            return answer, self._remember(state, answer)
        # A request word with a year asks about that year ("ปีงบ 67 ยื่นได้ไหม") unless a knowledge entry
        # matches the whole question well ("ชี้แจงแนวทางจัดทำคำของบปี 66 จัดเมื่อไร").
        if years and guideline_no is None and not asks_who and (status_cue or (request_verb and best < STRONG_MATCH)):
            return self._status(turn, state, years[0].year, assumed=False)
        still = self._asks_now(a)
        if (status_cue or (request_verb and still)) and not asks_who and not self._is_eligibility(matches):
            # A short "หมดเขตเมื่อไหร่" / "deadline?" needs no word of the plan: asking this bot, it means the plan.
            if in_domain or still or status_cue and len(a.content) <= SHORT_QUESTION_TOKENS:
                return self._status(turn, state, fiscal_year_of(turn.today) + 1, assumed=True)

        if guideline_no is not None and guideline_no in self.kb.guidelines:
            return self._entry(turn, state, self.faq[f"guideline-{guideline_no}"], 100.0)
        if scores and best < STRONG_MATCH and scores[0].score >= self._evidence_needed(a):
            answer = guideline_match_answer(self.kb, turn, scores, asked_year=asked_year)
            return answer, self._remember(state, answer)

        if eligibility_cue and best < STRONG_MATCH:
            entry = next((self.faq[m.entry_id] for m in matches if self.faq[m.entry_id].kind == "eligibility"), None)
            entry = entry or next((e for e in self.faq.values() if e.kind == "eligibility"), None)
            if entry is not None:
                return self._entry(turn, state, entry, max(best, ANSWER_THRESHOLD))

        # A middling match on a question with no word of the plan in it is more likely out of scope than not.
        confident = best >= (ANSWER_THRESHOLD if in_domain else STRONG_MATCH)
        if confident:
            entry = self.faq[matches[0].entry_id]
            if self._other_year(entry, years):
                return self._no_year_info(turn, state, entry, years[0].year)
            return self._entry(turn, state, entry, best)
        if best >= SUGGEST_THRESHOLD:
            top = self.faq[matches[0].entry_id]
            if self._other_year(top, years):
                return self._no_year_info(turn, state, top, years[0].year)
            if in_domain:
                return did_you_mean(self.faq, turn, matches), state
            return fallback(
                self.kb, turn, suggestions=[entry_question(self.faq[m.entry_id], turn) for m in matches]
            ), state
        if years:
            return self._no_year_info(turn, state, None, years[0].year)
        return fallback(self.kb, turn), state

    # ------------------------------------------------------------------ helpers
    def _is_only(self, a: Analyzed, cues: list[_Cue]) -> bool:
        """True when the question is nothing but one of these cue phrases (plus polite filler)."""
        found = self._found(a, cues)
        rest = "".join(a.content)  # Thai has no spaces: "หวัด ดี" is the phrase หวัดดี
        for phrase in sorted(found, key=len, reverse=True):
            rest = rest.replace(phrase.replace(" ", ""), "")
        return bool(found) and not rest.strip()

    @staticmethod
    def _asks_now(a: Analyzed) -> bool:
        return "ยัง" in a.tokens or _NOW.search(a.normalized) is not None

    def _other_year(self, entry: FaqEntry, years: list[YearMention]) -> bool:
        """True when the question names years and the entry, which is about a specific year, covers none."""
        covered = self.entry_years.get(entry.id, set())
        return entry.fiscal_year is not None and bool(years) and not covered & {y.year for y in years}

    def _evidence_needed(self, a: Analyzed) -> float:
        """Guideline keyword weight that makes a question a project description: less when it says it is one."""
        framed = any(w in a.compact for w in _PROJECT_WORDS) or any(t in _PROJECT_WORDS for t in a.tokens)
        return PROJECT_EVIDENCE / 2 if framed else PROJECT_EVIDENCE

    def _is_eligibility(self, matches: list[Match]) -> bool:
        return (
            bool(matches)
            and matches[0].score >= ANSWER_THRESHOLD
            and self.faq[matches[0].entry_id].kind == "eligibility"
        )

    @staticmethod
    def _guideline_number(a: Analyzed) -> int | None:
        m = _GUIDELINE_NUMBER.search(a.normalized)
        return int(m.group(1)) if m else None

    def _status(
        self, turn: Turn, state: ConversationState, year: int, *, assumed: bool
    ) -> tuple[Answer, ConversationState]:
        answer = status_answer(self.kb, turn, year, assumed=assumed)
        return answer, self._remember(state, answer)

    def _entry(
        self, turn: Turn, state: ConversationState, entry: FaqEntry, score: float
    ) -> tuple[Answer, ConversationState]:
        if entry.guideline is not None and entry.guideline not in self.kb.guidelines:
            return fallback(self.kb, turn), state
        answer = entry_answer(self.kb, self.faq, turn, entry, score)
        return answer, self._remember(state, answer)

    def _no_year_info(
        self, turn: Turn, state: ConversationState, entry: FaqEntry | None, year: int
    ) -> tuple[Answer, ConversationState]:
        if entry is not None:
            note = turn.pick(
                f'ไม่มีข้อมูลเรื่อง "{entry.title}" สำหรับปีงบประมาณ พ.ศ. {year} '
                f"ข้อมูลที่มีเป็นของปีงบประมาณ พ.ศ. {entry.fiscal_year}",
                f'There is no information on "{entry.title_en}" for FY {year}; '
                f"the sources cover FY {entry.fiscal_year}.",
            )
        else:
            note = turn.pick(
                f"ไม่มีข้อมูลเรื่องนี้สำหรับปีงบประมาณ พ.ศ. {year} ในเอกสารที่มี",
                f"The sources have no information on this for FY {year}.",
            )
        answer = fallback(self.kb, turn, note=note)
        if entry is not None:
            answer = answer.model_copy(update={"suggestions": [entry_question(entry, turn), *answer.suggestions[:3]]})
        return answer.model_copy(update={"fiscal_year": year}), state

    def _follow_up(self, turn: Turn, state: ConversationState, years: list) -> tuple[Answer, ConversationState] | None:
        """ "แล้วปี 67 ล่ะ" after a status answer, "แล้วแนวทางที่ 3 ล่ะ" after a guideline answer."""
        a = turn.question
        if state.last_kind is None or len(a.content) > FOLLOW_UP_MAX_TOKENS:
            return None
        if not (self._found(a, self.follow_up_cues) or self._only_year_or_number(a)):
            return None
        number = self._guideline_number(a)
        if number is not None and number in self.kb.guidelines:
            return self._entry(turn, state, self.faq[f"guideline-{number}"], 100.0)
        if not years:
            return None
        year = years[0].year
        # After a status answer, or a project check that ended with one, a new year asks for its status.
        if state.last_kind is AnswerKind.FISCAL_YEAR_STATUS or (
            state.last_kind is AnswerKind.GUIDELINE_MATCH and state.fiscal_year is not None
        ):
            return self._status(turn, state, year, assumed=False)
        entry = self.faq.get(state.entry_id or "")
        if entry is not None and entry.fiscal_year is not None:
            if entry.fiscal_year == year:
                return self._entry(turn, state, entry, 100.0)
            return self._no_year_info(turn, state, entry, year)
        return None

    @staticmethod
    def _only_year_or_number(a: Analyzed) -> bool:
        return all(t.isdigit() or t in ("ปี", "ปีงบประมาณ", "fy", "พศ", "แนวทาง", "ที่") for t in a.content)

    @staticmethod
    def _remember(state: ConversationState, answer: Answer) -> ConversationState:
        return state.model_copy(
            update={
                "last_kind": answer.kind,
                "fiscal_year": answer.fiscal_year if answer.fiscal_year is not None else state.fiscal_year,
                "guideline": answer.guideline if answer.guideline is not None else state.guideline,
                "entry_id": answer.entry_id,
            }
        )

    def _guided_step(self, turn: Turn, state: ConversationState) -> tuple[Answer, ConversationState] | None:
        a = turn.question
        years = read_years(a.normalized, turn.today)
        if state.flow_step == guided.STEP_DESCRIBE:
            scores = self.classifier.classify(a)
            if not scores and self._looks_like_new_question(a, years):
                return None
            if years:
                return guided.finish(self.kb, turn, state, scores, years[0].year, assumed=False)
            return guided.ask_year(turn, state, a.raw)
        if state.flow_step == guided.STEP_YEAR:
            description = state.project_description or ""
            scores = self.classifier.classify(self.analyzer.analyze(description))
            if years:
                return guided.finish(self.kb, turn, state, scores, years[0].year, assumed=False)
            if any(w in a.normalized for w in _UNSURE):
                return guided.finish(self.kb, turn, state, scores, fiscal_year_of(turn.today) + 1, assumed=True)
            if self._looks_like_new_question(a, years):
                return None
            return guided.ask_year(turn, state, description)
        return None

    def _looks_like_new_question(self, a: Analyzed, years: list) -> bool:
        matches = self.index.search(a, limit=1)
        return bool(
            (matches and matches[0].score >= STRONG_MATCH)
            or self._found(a, self.status_cues)
            or self._found(a, self.help_cues)
            or self._found(a, self.out_of_scope_cues)
        )


def vocabulary(kb: KnowledgeBase) -> set[str]:
    """Domain words for the tokenizer's dictionary, so newmm keeps them whole. Cue phrases ("ยื่นได้ไหม") are
    left out: they are found by substring, and as dictionary words they would hide the words inside them."""
    i = kb.intents
    words = {*i.organizations, *i.out_of_scope_terms, *i.unknown_topics}
    for g in kb.guidelines.values():
        words.update(g.keywords)
        words.update(g.strong_keywords)
    return {w for w in words if " " not in w}
