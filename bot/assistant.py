"""The assistant: understands a message in three explicit stages and composes the answer.

1. The time model (bot.time_model) and the other slot readers (bot.slots) read what the message names.
2. The intent router (bot.router), a learned classifier, reads what kind of question it is, or which follow-up
   act, given the conversation's frame.
3. The rule table (bot.rules) maps intent + slots + frame to the composer of the answer; the first rule that
   holds answers, and its name is the Answer's `intent`.

The answer leaves a frame (bot.frames) in the conversation state for the next message. A message with several
questions is cut first (bot.splitting) and each part goes through the same three stages.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from datetime import date

from bot.advisor import Advice, GuidelineAdvisor, LinearModel
from bot.analysis import Analyzed, TextAnalyzer, message_language
from bot.answer import Answer, AnswerKind, SubscriptionAction
from bot.answers import calendar, guided, subscription
from bot.answers.context import Turn, Voice, source_refs, where_to_ask, with_sources
from bot.answers.faq import did_you_mean, entry_answer, entry_question, named_body_answer, other_year_answer
from bot.answers.general import SmallTalk, fallback, help_answer, small_talk
from bot.answers.guidelines import guideline_entries, guideline_match_answer
from bot.answers.parts import combine
from bot.answers.status import status_answer
from bot.answers.subscription import Speech
from bot.conversation import ConversationState
from bot.formatting import source_line, thai_date
from bot.frames import Frame, frame_of, numbered_items
from bot.knowledge.loader import KnowledgeBase
from bot.knowledge.schema import FaqEntry
from bot.matching import Match, QuestionIndex, Variant
from bot.memory import release_free_memory
from bot.router import Context, IntentModel, IntentRouter
from bot.rules import LIMITS, Decision, Reply, Rule, rules
from bot.slots import SlotReader, Slots, guideline_numbers
from bot.splitting import QuestionSplitter
from bot.subscriptions import subscribable
from bot.time_model import TimeRef, read_time
from bot.years import fiscal_year_of, read_years

RELEASE_AFTER_VARIANTS = 2_000  # a knowledge base this large frees enough while indexing to give it back
CALIBRATION_LEAD = 15.0  # see _calibrated
YEAR_SPECIFIC_MARGIN = 6.0  # see _prefer_year_specific
WHO_ENTRY = "eligibility-who"  # the entry about who may request: a named kind of body gets its own answer
SUBSCRIPTION_MAX_TOKENS = 12  # a request about notifications is short; a project description is not
FOLLOW_UP_MAX_TOKENS = 4
_YEARS_REF = date(2000, 1, 1)  # only explicit years are read from entries
_UNSURE = ("ไม่แน่ใจ", "ไม่รู้", "ไม่ทราบ", "not sure", "don't know", "dont know")
# "in English", "ภาษาไทย": the language a follow-up asks the answer in.
_ENGLISH = re.compile(r"อังกฤษ|english|\beng\b|\ben\b")
_THAI = re.compile(r"ภาษาไทย|\bthai\b|ไทย")
# Words of a claim that assert nothing checkable ("ตอนนั้น", "so", "correct", "yes").
_GENERIC_CLAIM = re.compile(
    r"ตอนนั้น|นั้น|ตอน|จริง|ถูก|ต้อง|ใช่|ครับ|ค่ะ|คะ|นะ|เลย|เขา|ท่าน|ผม|ดิฉัน|หนู|เรา|so|yes|right|correct|true|was|were"
    r"|is|are|the|a|an|it|he|she|they|that|this|in|of|by|did|do|does|i|then"
)
# Relative years counted from the year just discussed rather than from today.
_FROM_THE_LAST = re.compile(r"ถัดไป|ถัดจาก|ก่อนหน้านั้น|following|after that|before that|the one after|the one before")
# "72 ด้วย", "also FY2028": the same again, for another year.
_ALSO = re.compile(r"ด้วย|\balso\b|\btoo\b|as well|อีกปี")
_INSTEAD = re.compile(r"แทน|instead|rather than|เปลี่ยนเป็น")
# Rules whose answers do not rest on the router's reading: follow-ups of a frame, a knowledge question asked
# word for word, an empty message, the steps of the guided check.
_UNCALIBRATED = ("why", "source", "language", "pick", "what_about", "correction", "yes", "no", "verbatim", "empty",
                 "guided_step", "no_list", "cancelled")  # fmt: skip
_ENTRY_TOPICS = ("fact", "guideline_info", "eligibility")  # what a knowledge entry can answer
OVERVIEW_ENTRY = "guidelines-overview"
_PARTICLE_AFTER_DIGIT = re.compile(r"(\d)(ค่ะ|ครับ|คะ)(?!\w)")
# Number + unit, for a question that states a figure ("4,000 ล้าน", "30 หน่วยงาน", "8 ธ.ค."): checked against
# the entry that answers, a different number with the same unit is a false premise.
_UNITS = {
    "ล้าน": "money", "million": "money", "หน่วยงาน": "agencies", "agencies": "agencies", "โครงการ": "projects",
    "projects": "projects", "แผนงาน": "plans", "plans": "plans", "ด้าน": "areas", "areas": "areas",
    "แนวทาง": "guidelines", "guidelines": "guidelines", "ปี": "years",
}  # fmt: skip
_FIGURE = re.compile(r"(?<![\d.,])(\d[\d,]*(?:\.\d+)?)\s?(" + "|".join(sorted(_UNITS, key=len, reverse=True)) + ")")


class Assistant:
    def __init__(
        self,
        kb: KnowledgeBase,
        analyzer: TextAnalyzer,
        *,
        voice: Voice | None = None,
        router: IntentModel | None = None,
        advisor: LinearModel | None = None,
    ) -> None:
        self.kb = kb
        self.analyzer = analyzer
        self.voice = voice or Voice()
        self.faq: dict[str, FaqEntry] = {**{e.id: e for e in guideline_entries(kb)}, **kb.faq}
        # Years an entry speaks of (its fiscal year, and dates in its text such as 11 ธ.ค. 2562): a question
        # naming any other year asks about something the entry does not cover. Filled while indexing.
        self.entry_years: dict[str, set[int]] = {}
        self.index = QuestionIndex(self._variants())
        self.advisor = GuidelineAdvisor(kb.guidelines, kb.outside_guidelines, analyzer, advisor or LinearModel.load())
        self.router = IntentRouter(router or IntentModel.load())
        self.slots = SlotReader(kb, analyzer, self.index, self.faq, self.advisor, self.router.entry)
        self.rules: list[Rule] = rules()
        cues = self.slots.cue_sets
        self._asking_cues = [
            cues[n] for n in ("question", "status", "guideline", "eligibility", "help", "calendar_now")
        ]
        self._talk = [
            (cues["help"], SmallTalk.HELP),
            (cues["about_bot"], SmallTalk.HELP),
            (cues["thanks"], SmallTalk.THANKS),
            (cues["greeting"], SmallTalk.GREETING),
            (cues["ack"], SmallTalk.ACK),
            (cues["preamble"], None),
        ]
        self.splitter = QuestionSplitter(
            analyzer, kb.intents.next_question_cues, asks=self._asks, says_nothing=self._says_nothing
        )
        if len(self.index) > RELEASE_AFTER_VARIANTS:
            release_free_memory()

    @classmethod
    def build(
        cls,
        kb: KnowledgeBase,
        *,
        polite_particle: str = "ค่ะ",
        router: IntentModel | None = None,
        advisor: LinearModel | None = None,
    ) -> Assistant:
        analyzer = TextAnalyzer(kb.synonyms, vocabulary(kb))
        return cls(kb, analyzer, voice=Voice.from_setting(polite_particle), router=router, advisor=advisor)

    def warm(self) -> None:
        self.analyzer.warm()
        self.respond("ปีงบ 2566 ยังยื่นได้ไหม แล้วปี 67 ล่ะ", None, date(2026, 1, 1))

    def _variants(self) -> Iterator[Variant]:
        """Every question variant, analyzed once; each entry's years are read on the way."""
        answer_years: dict[str, set[int]] = {}  # entries copied from others share their answer
        for e in self.faq.values():
            years = {e.fiscal_year} if e.fiscal_year else set()
            if any(ch.isdigit() for ch in e.answer):
                if e.answer not in answer_years:
                    answer_years[e.answer] = {m.year for m in read_years(e.answer, _YEARS_REF, relative=False)}
                years |= answer_years[e.answer]
            self.entry_years[e.id] = years
        pairs = [(e.id, q) for e in self.faq.values() for q in [*e.questions, *e.questions_en]]
        for (entry_id, q), a in zip(pairs, self.analyzer.analyze_many(q for _, q in pairs), strict=True):
            self.entry_years[entry_id] |= a.years
            yield Variant(entry_id, q, a)

    # ------------------------------------------------------------------ entry point
    def respond(self, question: str, state: ConversationState | None, today: date) -> tuple[Answer, ConversationState]:
        text = question if isinstance(question, str) else ""
        state = state or ConversationState()
        seen: dict[str, Analyzed] = {}

        def analyze(piece: str) -> Analyzed:  # each distinct text of this message analyzed once
            if piece not in seen:
                seen[piece] = self.analyzer.analyze(piece)
            return seen[piece]

        whole = analyze(text)
        language = message_language(whole)  # one message, one language: its parts too
        pieces = self.splitter.split(text, analyze) if self._may_split(whole, state) else [text]
        if len(pieces) == 1:
            answer, state = self.understand(whole, language, today, state)
        else:
            parts: list[Answer] = []
            for piece in pieces:
                part, state = self.understand(analyze(piece), language, today, state)
                parts.append(part)
            answer = combine(parts, language)
        return answer.model_copy(update={"knowledge_version": self.kb.version}), state

    def _may_split(self, a: Analyzed, state: ConversationState) -> bool:
        """A message is cut into questions unless it is short, inside the project check, or out of scope as a
        whole (a part of "how much do DGA staff earn? salary range?" must not be answered on its own)."""
        if len(a.tokens) <= 2 or state.flow is not None:
            return False
        cues = self.slots.cue_sets
        return not (
            self.slots.out_of_scope.any(a)
            and not cues["domain"].any(a)
            and not read_time(a.normalized, _YEARS_REF, normalized=True)
        )

    def understand(
        self, a: Analyzed, language: str, today: date, state: ConversationState
    ) -> tuple[Answer, ConversationState]:
        """One question through the three stages: slots, intent, the first rule that holds."""
        turn = Turn(a, language, today, self.voice)
        frame = state.frame
        slots = self.slots.read(a, today, frame.question if frame is not None else None)
        context = Context(
            topic=frame.topic if frame is not None else None,
            options=bool(frame and frame.options),
            offer=bool(frame and frame.offer is not None),
        )
        intent = self.router.classify(a, slots.evidence, context)
        d = Decision(turn, state, intent, slots, self)
        rule = next(r for r in self.rules if r.when(d))
        if rule is self.rules[-1] and intent.act is not None:
            # A follow-up act with nothing to act on ("why" with no reason kept): the likeliest kind of question.
            d = Decision(turn, state, intent.best_kind(), slots, self)
            rule = next(r for r in self.rules if r.when(d))
        answer, new_state = rule.compose(d)
        name = answer.intent or rule.name.format(topic=intent.label if intent.label in _ENTRY_TOPICS else "fact")
        if name.startswith("followup.") and frame is not None:
            name = f"{frame.topic}.{name.split('.', 1)[1]}"
        if not turn.en and self.voice.particle:
            # "พ.ศ. 2566ค่ะ" reads as one word: a particle right after a number gets a space.
            answer = answer.model_copy(update={"text": _PARTICLE_AFTER_DIGIT.sub(r"\1 \2", answer.text)})
        update: dict[str, object] = {"intent": name}
        if name.split(".", 1)[-1] not in _UNCALIBRATED and answer.confidence > intent.confidence:
            # An answer is no surer than the reading of the question it answers.
            update["confidence"] = round(min(answer.confidence, d.intent.confidence + LIMITS.calibration), 2)
        answer = answer.model_copy(update=update)
        if new_state.frame is frame and answer.kind is not AnswerKind.GUIDED_CHECK:
            new_state = self.remember(new_state, answer, a.raw, slots)
        return answer, new_state

    def remember(
        self, state: ConversationState, answer: Answer, question: str, slots: Slots | None = None
    ) -> ConversationState:
        """The state after an answer: its frame (options: the numbered items it showed, or the guidelines it
        listed), and the fields older code paths read."""
        items = numbered_items(answer.text)
        named = guideline_numbers(answer.text.split("\n\n")[0].lower())
        if answer.kind is AnswerKind.FAQ and answer.title and answer.suggestions and answer.confidence <= 0.5:
            options = list(answer.suggestions)  # "did you mean": the entries listed, in order
        elif items:
            options = items
        elif len(named) > 1 and answer.entry_id is not None and answer.entry_id.startswith("guidelines"):
            options = [f"แนวทางที่ {n}" for n in named]
        else:
            options = []
        frame = frame_of(answer, question, options=options, body=slots.body if slots else None)
        return state.model_copy(
            update={
                "frame": frame,
                "last_kind": answer.kind,
                "fiscal_year": answer.fiscal_year if answer.fiscal_year is not None else state.fiscal_year,
                "guideline": answer.guideline if answer.guideline is not None else state.guideline,
                "entry_id": answer.entry_id,
            }
        )

    # ------------------------------------------------------------------ predicates the rules use
    def entry_is_clear(self, d: Decision) -> bool:
        """The best entry answers: a good match, or a fair one well ahead of the next in a question of the plan."""
        m = list(d.slots.matches)
        if not m:
            return False
        in_domain = d.cue("domain") or d.intent.label in ("fact", "guideline_info", "eligibility")
        if d.slots.best >= (LIMITS.answer if in_domain else LIMITS.strong):
            return True
        lead = len(m) == 1 or m[0].score - m[1].score >= LIMITS.clear_lead
        return len(d.turn.question.content) > 1 and in_domain and d.slots.best >= LIMITS.suggest and lead

    def verbatim_entry(self, d: Decision) -> FaqEntry | None:
        """The entry whose question the message repeats, when the router is not sure of another topic."""
        if d.slots.best < LIMITS.verbatim or d.slots.times and d.intent.label == "status":
            return None
        entry = self.faq[d.slots.matches[0].entry_id]
        if d.intent.label == entry_topic(entry) or d.intent.confidence >= LIMITS.verbatim_unless:
            return None
        return entry

    def compose_verbatim(self, d: Decision) -> Reply:
        entry = self.verbatim_entry(d)
        assert entry is not None
        answer, state = self._entry_answer(d.turn, entry, _calibrated(list(d.slots.matches))), d.state
        return answer.model_copy(update={"intent": f"{entry_topic(entry)}.verbatim"}), state

    def has_new_slot(self, d: Decision) -> bool:
        """The message names something to put in the last question's place: a year, a guideline, a body, or
        (after a project check) more of the project."""
        f = d.frame
        if f is None:
            return False
        if f.topic == "guideline_fit" and (d.slots.advice.any_aspect or d.slots.project_evidence > 0):
            return True
        if self._bare_year(d) is not None or d.slots.times:
            return f.topic in ("status", "calendar", "fact", "subscribe", "guideline_fit", "eligibility")
        if d.slots.guidelines:
            return f.topic in ("guideline_info", "guideline_fit")
        return d.slots.body is not None and f.topic == "eligibility"

    def only_slot(self, d: Decision) -> bool:
        """A short message with a slot and nothing else of substance ("ปี 71 ล่ะ", "แนวทาง 3"): what about it."""
        a = d.turn.question
        if d.frame is None or len(a.content) > FOLLOW_UP_MAX_TOKENS:
            return False
        if d.intent.act is None and d.intent.label != d.frame.topic and d.intent.confidence >= 0.5:
            return False  # "แล้วปีงบ 70 ล่ะ ปิดไปหรือยัง" after a calendar answer asks its own question
        return (
            d.cue("follow_up")
            or self._bare_year(d) is not None
            or all(t.isdigit() or t in ("ปี", "ปีงบประมาณ", "fy", "พศ", "แนวทาง", "ที่", "guideline") for t in a.content)
        )

    def describes_project(self, d: Decision) -> bool:
        s = d.slots
        long = len(d.turn.question.content) > (12 if d.cue("guided") else 6)
        return s.advice.any_aspect or s.project_evidence >= LIMITS.project_evidence / 2 or long

    def other_year(self, d: Decision) -> bool:
        """The entry that matches is about one fiscal year and the question names another (a date names its
        fiscal year and its calendar year: "11 ธ.ค. 2562" is covered by an entry that gives that date)."""
        if not self.entry_is_clear(d) and d.slots.best < LIMITS.suggest:
            return False
        entry = self._best_entry(d)
        refs = _with_year(d.slots.times)
        if entry is None or entry.fiscal_year is None or not refs:
            return False
        covered = self.entry_years.get(entry.id, set())
        return not any(_ref_years(t) & covered for t in refs)

    def missing_detail(self, d: Decision) -> str | None:
        """A detail the sources do not give ("เบอร์โทร", "รายชื่อหน่วยงาน"), asked about a topic they cover, unless
        the entry that answers speaks of that detail itself ("the sources give no form" is the answer)."""
        found = self.slots.cue_sets["unknown"].found(d.turn.question)
        if not found:
            return None
        entry = self._best_entry(d) if d.slots.best >= LIMITS.answer else None
        if entry is not None:
            _, compact = self._entry_words(entry.id)
            if any(f.replace(" ", "") in compact for f in found):
                return None
        return found[0]

    def contradicts(self, d: Decision) -> tuple[str, str] | None:
        """(claimed, stated): a figure in the question that the entry it asks about gives otherwise, or a year it
        asks to confirm that the entry does not give. The figure is left out when looking for the entry: the
        matcher rightly scores an entry down when their numbers disagree."""
        a = d.turn.question
        claimed = _figures(a.normalized)
        confirm = d.cue("confirm")
        years = (
            [t for t in _with_year(d.slots.times) if t.kind in ("fiscal_year", "calendar_year", "date")]
            if confirm
            else []
        )
        if not claimed and not confirm:
            return None
        entry = self._claimed_entry(a.normalized, tuple((t.start, t.end) for t in years))
        if entry is None:
            return None
        stated = _figures(entry.answer.lower()) + _figures(entry.answer_en.lower())
        for number, unit in claimed:
            same_unit = [n for n, u in stated if u == unit]
            if same_unit and not any(_same_number(number, n) for n in same_unit):
                return f"{number} {unit_word(unit, d.turn.en)}", f"{same_unit[0]} {unit_word(unit, d.turn.en)}"
        covered = self.entry_years.get(entry.id, set())
        for ref in years:
            if covered and not _ref_years(ref) & covered:
                stated_year = min(covered)
                return ref.text, d.turn.pick(f"พ.ศ. {stated_year}", f"B.E. {stated_year}")
        if confirm:
            unsupported = self.unsupported(d, entry)
            if unsupported:
                return " ".join(unsupported), ""
        return None

    def unsupported(self, d: Decision, entry: FaqEntry) -> list[str]:
        """The words of a claim the message asks to confirm that the entry's answer does not contain: a name, a
        place, a title it does not give ("จัดที่ทำเนียบใช่ไหม", "Prawit opened it, right?"). Cue words, numbers
        (checked as figures) and filler are left out; what remains must all be in the answer for it to confirm."""
        a = d.turn.question
        ignore = {
            w
            for name in ("confirm", "question", "preamble", "open_question", "follow_up")
            for phrase in self.slots.cue_sets[name].found(a)
            for w in self.analyzer.analyze(phrase).canonical
        }
        words, compact = self._entry_words(entry.id)
        return [
            t
            for t in dict.fromkeys(a.content)
            if len(t) > 1 and not any(ch.isdigit() for ch in t) and t not in ignore and t not in words
            and not (not t.isascii() and t in compact)  # Thai words are found inside longer ones: จัด in จัดการ
            and not _GENERIC_CLAIM.fullmatch(t)
        ]  # fmt: skip

    @functools.lru_cache(maxsize=512)  # noqa: B019 - the assistant lives as long as the process
    def _entry_words(self, entry_id: str) -> tuple[frozenset[str], str]:
        """The words of an entry's answer and title (canonical), and the same text with no spaces."""
        e = self.faq[entry_id]
        words: set[str] = set()
        compact = []
        for text in (e.answer, e.answer_en, e.title, e.title_en):
            a = self.analyzer.analyze(text)
            words |= set(a.canonical)
            compact += [a.compact, a.canonical_compact]
        return frozenset(words), "".join(compact)

    def _claimed_entry(self, normalized: str, years: tuple[tuple[int, int], ...]) -> FaqEntry | None:
        """The entry a claim is about: found with its years, or, when a wrong year hides it, without them."""
        return self._entry_without_figures(normalized) or (
            self._entry_without_figures(normalized, years) if years else None
        )

    @functools.lru_cache(maxsize=256)  # noqa: B019 - the assistant lives as long as the process
    def _entry_without_figures(self, normalized: str, spans: tuple[tuple[int, int], ...] = ()) -> FaqEntry | None:
        """The entry a question asks to confirm, found with its figures' numbers (and the years it asks about)
        left out: "ปี 65 ได้ 4,000 ล้านใช่ไหม" asks about the FY 2565 amount whatever amount it states."""
        for start, end in sorted(spans, reverse=True):
            normalized = normalized[:start] + " " + normalized[end:]
        plain = _FIGURE.sub(lambda m: f" {m.group(2)} ", normalized)
        matches = self.index.search(self.analyzer.analyze(plain), limit=2)
        if not matches or matches[0].score < LIMITS.suggest:
            return None
        if len(matches) > 1 and matches[0].score - matches[1].score < LIMITS.clear_lead / 2:
            return None
        return self.faq[matches[0].entry_id]

    # ------------------------------------------------------------------ composers: conversation
    def compose_empty(self, d: Decision) -> Reply:
        a, turn = d.turn.question, d.turn
        talk = self._small_talk_kind(a)
        if talk is not None and d.state.flow is None:
            return small_talk(self.kb, turn, talk), d.state
        if a.tokens and d.cue("follow_up") and d.frame is not None:
            return help_answer(self.kb, turn), d.state
        if _is_emoji_only(a.raw):  # a sticker or a thumbs-up: a friendly word, not "type a question"
            return small_talk(self.kb, turn, SmallTalk.ACK), d.state
        return help_answer(self.kb, turn, empty=True), d.state

    def compose_guided_step(self, d: Decision) -> Reply:
        turn, state, a = d.turn, d.state, d.turn.question
        cancel = self.slots.cue_sets["cancel"]
        if cancel.any(a) and len(a.content) <= 2:
            done = state.model_copy(update={"flow": None, "flow_step": None, "project_description": None})
            cancelled = help_answer(self.kb, turn)
            text = turn.pick("ยกเลิกการตรวจโครงการแล้ว\n", "Project check cancelled.\n") + cancelled.text
            return cancelled.model_copy(update={"text": text, "intent": "guideline_fit.cancelled"}), done
        years = d.slots.years
        new_question = d.slots.best >= LIMITS.strong or d.intent.label in ("status", "help", "out_of_scope")
        if state.flow_step == guided.STEP_DESCRIBE:
            if not d.slots.advice.any_aspect and not d.slots.project_evidence and new_question:
                return self._leave_flow(d)
            if years:
                return guided.finish(self.kb, turn, state, d.slots.advice, years[0], assumed=False)
            return guided.ask_year(turn, state, a.raw)
        description = state.project_description or ""
        advice = self.advisor.advise(self.analyzer.analyze(description))
        if years:
            return guided.finish(self.kb, turn, state, advice, years[0], assumed=False)
        if any(w in a.normalized for w in _UNSURE):
            return guided.finish(self.kb, turn, state, advice, fiscal_year_of(turn.today) + 1, assumed=True)
        if new_question:
            return self._leave_flow(d)
        return guided.ask_year(turn, state, description)

    def _leave_flow(self, d: Decision) -> Reply:
        state = d.state.model_copy(update={"flow": None, "flow_step": None, "project_description": None})
        again = Decision(d.turn, state, d.intent, d.slots, self)
        rule = next(r for r in self.rules if r.when(again))
        answer, new_state = rule.compose(again)
        return answer.model_copy(update={"intent": answer.intent or rule.name}), new_state

    def compose_pick(self, d: Decision) -> Reply:
        f = d.frame
        assert f is not None and d.slots.pick is not None
        if d.slots.pick > len(f.options):
            text = d.turn.pick(
                f"รายการก่อนหน้ามี {len(f.options)} ข้อ{d.turn.end} เลือกได้ตั้งแต่ 1 ถึง {len(f.options)}",
                f"The list had {len(f.options)} items: pick 1 to {len(f.options)}.",
            )
            return Answer(kind=AnswerKind.HELP, text=text, confidence=1.0, language=d.turn.language,
                          suggestions=f.options[:4]), d.state  # fmt: skip
        option = f.options[d.slots.pick - 1]
        plain = d.state.model_copy(update={"frame": None})
        answer, state = self.understand(self.analyzer.analyze(option), d.turn.language, d.turn.today, plain)
        topic = (answer.intent or "fact").split(".", 1)[0]
        return answer.model_copy(update={"intent": f"{topic}.pick"}), state

    def compose_no_list(self, d: Decision) -> Reply:
        """ "The second one" when the last answer listed nothing: ask, rather than guess."""
        t = d.turn
        text = t.pick(
            f"คำตอบก่อนหน้าไม่มีรายการให้เลือก{t.end} ช่วยพิมพ์คำถามที่ต้องการทราบอีกครั้งได้ไหม{t.ask}",
            "My last answer had no list to pick from. Could you type what you would like to know?",
        )
        return Answer(kind=AnswerKind.HELP, text=text, confidence=1.0, language=t.language,
                      suggestions=list(d.frame.options if d.frame else [])[:4]), d.state  # fmt: skip

    def compose_why(self, d: Decision) -> Reply:
        f = d.frame
        assert f is not None
        t = d.turn
        reason = f.reason or t.pick(
            "คำตอบก่อนหน้ามาจากเอกสารที่อ้างถึงโดยตรง", "The last answer comes straight from its sources."
        )
        line = source_line(self.kb.source_refs([s.id for s in f.sources]), t.language)
        text = (
            t.pick(f"เหตุผลของคำตอบก่อนหน้า{t.end}\n", "Why I answered that:\n") + reason + (f"\n\n{line}" if line else "")
        )
        answer = Answer(kind=self._kind_of(f), text=text, title=t.pick("เหตุผล", "Why"), confidence=0.9,
                        sources=f.sources, fiscal_year=f.fiscal_year, guidelines=f.guidelines,
                        guideline=f.guidelines[0] if f.guidelines else None, entry_id=f.entry_id,
                        language=t.language, as_of=t.today)  # fmt: skip
        return answer, self._keep_frame(d, answer)

    def compose_source(self, d: Decision) -> Reply:
        f = d.frame
        assert f is not None
        t = d.turn
        refs = self.kb.source_refs([s.id for s in f.sources])
        if not refs:
            # Nothing cited: the answer said the sources are silent. Name the documents that were looked in.
            refs = self.kb.source_refs(list(self.kb.sources))
        if not refs:
            text = t.pick(f"คำตอบก่อนหน้าไม่ได้อ้างเอกสารใด{t.end}", "The last answer cited no document.")
        else:
            lines = []
            for s in refs:
                posted = (
                    t.pick(f" ลงวันที่ {thai_date(s.posted, short=True)}", f", posted {s.posted.isoformat()}")
                    if s.posted
                    else ""
                )
                lines.append(f"- {s.title}{posted}" + (f"\n  {s.url}" if s.url else ""))
            head = (
                t.pick(f"คำตอบก่อนหน้ามาจากเอกสารต่อไปนี้{t.end}\n", "The last answer comes from:\n")
                if f.sources
                else t.pick(
                    f"คำตอบก่อนหน้าบอกว่าเอกสารไม่ได้ระบุเรื่องนี้ เอกสารที่{t.me}ตรวจดูคือ\n",
                    "The last answer says the sources do not give this; the documents I looked in are:\n",
                )
            )
            text = head + "\n".join(lines)
        answer = Answer(kind=self._kind_of(f), text=text, title=t.pick("ที่มา", "Sources"), confidence=0.95,
                        sources=f.sources, fiscal_year=f.fiscal_year, guidelines=f.guidelines,
                        guideline=f.guidelines[0] if f.guidelines else None, entry_id=f.entry_id,
                        language=t.language)  # fmt: skip
        return answer, self._keep_frame(d, answer)

    def compose_language(self, d: Decision) -> Reply:
        f = d.frame
        assert f is not None
        text = d.turn.question.normalized
        language = (
            "en" if _ENGLISH.search(text) else "th" if _THAI.search(text) else ("th" if f.language == "en" else "en")
        )
        return self._replay(d, f, language=language)

    def compose_yes(self, d: Decision) -> Reply:
        f = d.frame
        assert f is not None and f.offer is not None
        speech = Speech(d.turn.language, d.turn.voice)
        if not subscribable(self.kb, f.offer, d.turn.today):
            return subscription.not_subscribable(self.kb, speech, d.turn.today, f.offer), d.state
        action = SubscriptionAction.subscribe(f.offer)
        answer = subscription.chat_only(self.kb, speech, d.turn.today, action)
        return answer.model_copy(update={"intent": "subscribe.yes"}), d.state

    def compose_no(self, d: Decision) -> Reply:
        """No to the offer: nothing is set up, and the offer is not made again."""
        f = d.frame
        assert f is not None
        t = d.turn
        text = t.pick(
            f'ได้{t.end} ไม่ได้ตั้งการแจ้งเตือนให้ หากเปลี่ยนใจ พิมพ์ "แจ้งเตือนปีงบ {f.offer}" ได้ตลอด{t.end}',
            f'All right, no notifications. If you change your mind, type "notify me about FY {f.offer}".',
        )
        answer = Answer(kind=AnswerKind.SUBSCRIPTION, text=text, confidence=1.0, fiscal_year=f.offer,
                        language=t.language, intent="subscribe.no")  # fmt: skip
        return answer, d.state.model_copy(update={"frame": f.model_copy(update={"offer": None})})

    def compose_same_question(self, d: Decision, act: str) -> Reply:
        f = d.frame
        assert f is not None
        year = self._bare_year(d) if not d.slots.times else d.slots.times[0].fiscal_year
        ref = d.slots.times[0] if d.slots.times else None
        if ref is not None and f.fiscal_year is not None and _FROM_THE_LAST.search(ref.text):
            # "ปีถัดไป", "the following year": after the year just answered, not after this one.
            year = f.fiscal_year + ref.fiscal_year - fiscal_year_of(d.turn.today)
        return self._replay(d, f, year=year, guidelines=list(d.slots.guidelines), body=d.slots.body, act=act)

    def _replay(
        self,
        d: Decision,
        f: Frame,
        *,
        language: str | None = None,
        year: int | None = None,
        guidelines: list[int] | None = None,
        body: str | None = None,
        act: str = "language",
    ) -> Reply:
        """The frame's question asked again: in another language, or with a new year, guideline or body."""
        turn = Turn(d.turn.question, language or d.turn.language, d.turn.today, self.voice)
        topic, state = f.topic, d.state
        year = year if year is not None else f.fiscal_year
        question = f.question
        new_project = d.slots.advice.any_aspect or d.slots.project_evidence > 0
        if act != "language" and (
            topic in ("subscribe", "unsubscribe") or topic == "guideline_fit" and not new_project
        ):
            topic = "status"  # "แล้วปี 72 ล่ะ" after a subscription or a project check asks about that year
        if topic == "status" and year is not None:
            answer = status_answer(self.kb, turn, year, assumed=False)
        elif topic == "subscribe" and year is not None:
            answer = self._subscription_answer(turn, d.state, year, stop=False)
        elif topic == "calendar" and year is not None and act != "language":
            answer = calendar.months_answer(self.kb, turn, year)
        elif topic == "guideline_info" and (guidelines or f.guidelines):
            n = (guidelines or f.guidelines)[0]
            answer = (
                self._entry_answer(turn, self.faq[f"guideline-{n}"], 100.0)
                if f"guideline-{n}" in self.faq
                else fallback(self.kb, turn)
            )
        elif topic == "guideline_fit":
            advice = self.advisor.advise(self.analyzer.analyze(question))
            if act != "language" and (d.slots.advice.any_aspect or d.slots.project_evidence > 0):
                question, advice = self._amended(f.question, d)
            answer = guideline_match_answer(self.kb, turn, advice, asked_year=year)
        elif topic == "eligibility" and (body or f.body) and WHO_ENTRY in self.faq:
            answer = named_body_answer(self.kb, self.faq, turn, self.faq[WHO_ENTRY], body or f.body or "")
        elif f.entry_id in self.faq and topic in ("fact", "eligibility", "guideline_info", "calendar"):
            entry = self.faq[f.entry_id or ""]
            covered = self.entry_years.get(entry.id, set())
            if entry.fiscal_year is not None and year is not None and year not in covered:
                answer = other_year_answer(self.kb, turn, entry, year)
            elif f.entry_id in (calendar.NOW_ENTRY, calendar.MONTHS_ENTRY, calendar.OPEN_ENTRY):
                answer = self._calendar_entry(turn, f.entry_id or "", year)
            else:
                answer = self._entry_answer(turn, entry, 100.0)
        else:
            plain = state.model_copy(update={"frame": None})
            again, state = self.understand(self.analyzer.analyze(f.question), turn.language, turn.today, plain)
            return again.model_copy(update={"intent": f"{(again.intent or topic).split('.')[0]}.{act}"}), state
        answer = answer.model_copy(update={"intent": f"{topic}.{act}"})
        new = self.remember(state, answer, question, None)
        if new.frame is not None:
            new = new.model_copy(update={"frame": new.frame.model_copy(update={"body": body or f.body})})
        return answer, new

    def _amended(self, project: str, d: Decision) -> tuple[str, Advice]:
        """A project described again: "instead" replaces it; otherwise the change adds to it, and a guideline the
        addition fits on its own is named beside the project's own."""
        change = d.turn.question
        if _INSTEAD.search(change.normalized):
            return change.raw, d.slots.advice
        question = f"{project} {change.raw}"
        advice = self.advisor.advise(self.analyzer.analyze(question))
        fits = list(advice.fits)
        for extra in d.slots.advice.fits:
            if extra.number not in {f.number for f in fits} and len(fits) < 2:
                fits.append(extra)
        return question, Advice(fits, advice.scored, advice.outside)

    def _keep_frame(self, d: Decision, answer: Answer) -> ConversationState:
        """why/where-from leave the frame as it was (a second "why" asks about the same answer), but it is a
        new object, so that the caller does not frame the explanation itself."""
        f = d.frame
        return d.state.model_copy(update={"frame": f.model_copy() if f is not None else None})

    @staticmethod
    def _kind_of(f: Frame) -> AnswerKind:
        return {
            "status": AnswerKind.FISCAL_YEAR_STATUS,
            "guideline_fit": AnswerKind.GUIDELINE_MATCH,
            "eligibility": AnswerKind.ELIGIBILITY,
            "subscribe": AnswerKind.SUBSCRIPTION,
        }.get(f.topic, AnswerKind.FAQ)

    # ------------------------------------------------------------------ composers: kinds of question
    def compose_out_of_scope(self, d: Decision) -> Reply:
        return fallback(self.kb, d.turn), d.state

    def compose_help(self, d: Decision) -> Reply:
        return help_answer(self.kb, d.turn), d.state

    def compose_small_talk(self, d: Decision) -> Reply:
        kind = self._small_talk_kind(d.turn.question) or SmallTalk.ACK
        return small_talk(self.kb, d.turn, kind), d.state

    def compose_subscribe(self, d: Decision) -> Reply:
        year = d.slots.year
        if year is None and d.frame is not None:
            # "แจ้งเตือนด้วย" about the year just offered or answered
            year = d.frame.offer if d.frame.offer is not None else d.frame.fiscal_year
        if year is None:
            return subscription.which_year(self.kb, Speech(d.turn.language, d.turn.voice), d.turn.today), d.state
        return self._subscription_answer(d.turn, d.state, year, stop=False), d.state

    def compose_unsubscribe(self, d: Decision) -> Reply:
        return self._subscription_answer(d.turn, d.state, d.slots.year, stop=True), d.state

    def _subscription_answer(self, turn: Turn, state: ConversationState, year: int | None, *, stop: bool) -> Answer:
        speech = Speech(turn.language, turn.voice)
        if stop:
            return subscription.chat_only(self.kb, speech, turn.today, SubscriptionAction.unsubscribe(year))
        assert year is not None
        if not subscribable(self.kb, year, turn.today):
            return subscription.not_subscribable(self.kb, speech, turn.today, year)
        return subscription.chat_only(self.kb, speech, turn.today, SubscriptionAction.subscribe(year))

    def compose_open_years(self, d: Decision) -> Reply:
        return calendar.open_years_answer(self.kb, d.turn), d.state

    def compose_calendar_date(self, d: Decision) -> Reply:
        return calendar.date_answer(self.kb, d.turn, d.slots.times[0]), d.state

    def compose_calendar_months(self, d: Decision) -> Reply:
        return calendar.months_answer(self.kb, d.turn, d.slots.year or self.frame_year(d)), d.state

    def compose_calendar_now(self, d: Decision) -> Reply:
        year = d.slots.year or self.frame_year(d)
        relative_now = bool(d.slots.times) and d.slots.times[0].kind.startswith("relative")
        if year is not None and not (
            relative_now and year == fiscal_year_of(d.turn.today)
        ):  # "ปีงบหน้าคือปีอะไร", "เริ่มวันไหน" after an answer about FY 2570
            return calendar.months_answer(self.kb, d.turn, year), d.state
        return calendar.current_year_answer(self.kb, d.turn), d.state

    def _calendar_entry(self, turn: Turn, entry_id: str, year: int | None) -> Answer:
        if entry_id == calendar.OPEN_ENTRY:
            return calendar.open_years_answer(self.kb, turn)
        if entry_id == calendar.NOW_ENTRY and year is None:
            return calendar.current_year_answer(self.kb, turn)
        return calendar.months_answer(self.kb, turn, year)

    def frame_year(self, d: Decision) -> int | None:
        """The year a short follow-up without one leaves to the conversation ("เริ่มวันไหน" after FY 2570)."""
        f = d.frame
        if f is None or d.slots.times or len(d.turn.question.content) > FOLLOW_UP_MAX_TOKENS:
            return None
        return f.fiscal_year

    def compose_status(self, d: Decision) -> Reply:
        turn = d.turn
        if not d.slots.times:
            inherited = self.frame_year(d)
            if inherited is not None:
                return status_answer(self.kb, turn, inherited, assumed=False), d.state
            return status_answer(self.kb, turn, fiscal_year_of(turn.today) + 1, assumed=True), d.state
        ref = d.slots.asked
        assert ref is not None
        answer = status_answer(self.kb, turn, ref.fiscal_year, assumed=False)
        if ref.kind in ("date", "month", "span"):
            # Say how the date was read, so a wrong reading shows at once.
            years = " และ ".join(str(y) for y in ref.fiscal_years)
            note = turn.pick(
                f"({ref.text} อยู่ในปีงบประมาณ พ.ศ. {years})\n",
                f"({ref.text} falls in FY {' and '.join(map(str, ref.fiscal_years))})\n",
            )
            answer = answer.model_copy(update={"text": note + answer.text})
        return answer, d.state

    def compose_status_years(self, d: Decision) -> Reply:
        parts = [status_answer(self.kb, d.turn, y, assumed=False) for y in d.slots.years[:3]]
        answer = combine([p.model_copy(update={"intent": "status.year"}) for p in parts], d.turn.language)
        return answer, d.state

    def compose_guideline_compare(self, d: Decision) -> Reply:
        numbers = [n for n in d.slots.guidelines if f"guideline-{n}" in self.faq][:3]
        parts = [self._entry_answer(d.turn, self.faq[f"guideline-{n}"], 100.0) for n in numbers]
        if not parts:
            return fallback(self.kb, d.turn), d.state
        parts = [p.model_copy(update={"intent": "guideline_info.number"}) for p in parts]
        return combine(parts, d.turn.language), d.state

    def _guideline_years(self, d: Decision, answer: Answer) -> Answer:
        """A question about the guidelines of a year the sources give none for: say so first."""
        years = {y for g in self.kb.guidelines.values() for y in g.fiscal_years}
        asked = [t.fiscal_year for t in _with_year(d.slots.times) if t.fiscal_year not in years]
        if not asked or not years:
            return answer
        t = d.turn
        given = ", ".join(str(y) for y in sorted(years))
        note = t.pick(
            f"เอกสารให้แนวทางไว้สำหรับปีงบประมาณ พ.ศ. {given} เท่านั้น ไม่มีข้อมูลแนวทางของปีงบประมาณ พ.ศ. {asked[0]}{t.end}\n",
            f"The sources give the guidelines for FY {given} only; they have no information on FY {asked[0]}'s.\n",
        )
        return answer.model_copy(update={"text": note + answer.text, "confidence": min(answer.confidence, 0.5)})

    def compose_guideline_number(self, d: Decision) -> Reply:
        n = d.slots.guidelines[0]
        entry = self.faq.get(f"guideline-{n}")
        if entry is None or n not in self.kb.guidelines:
            note = d.turn.pick(
                f"แผนงานมี {len(self.kb.guidelines)} แนวทาง{d.turn.end} ไม่มีแนวทางที่ {n}",
                f"The plan has {len(self.kb.guidelines)} guidelines; there is no guideline {n}.",
            )
            return fallback(self.kb, d.turn, note=note), d.state
        return self._entry_answer(d.turn, entry, 100.0), d.state

    def guideline_entry_matches(self, d: Decision) -> bool:
        """The best knowledge entry is about the guidelines, and matches well enough to answer."""
        m = d.slots.matches
        if not m or m[0].score < LIMITS.suggest:
            return False
        entry = self.faq[m[0].entry_id]
        return entry.guideline is not None or entry.id == OVERVIEW_ENTRY

    def compose_guideline_described(self, d: Decision) -> Reply:
        """ "Which guideline is about training staff?": the guideline the description fits."""
        numbers = [f.number for f in d.slots.advice.fits if f"guideline-{f.number}" in self.faq]
        parts = [self._entry_answer(d.turn, self.faq[f"guideline-{n}"], 90.0) for n in numbers]
        if not parts:
            return self.compose_guideline_overview(d)
        return combine(
            [p.model_copy(update={"intent": "guideline_info.described"}) for p in parts], d.turn.language
        ), d.state

    def compose_guideline_overview(self, d: Decision) -> Reply:
        entry = self.faq.get(OVERVIEW_ENTRY)
        if entry is None:
            return fallback(self.kb, d.turn), d.state
        return self._guideline_years(d, self._entry_answer(d.turn, entry, 90.0)), d.state

    def compose_guided_start(self, d: Decision) -> Reply:
        return guided.start(self.kb, d.turn, d.state)

    def compose_guideline_fit(self, d: Decision) -> Reply:
        return guideline_match_answer(self.kb, d.turn, d.slots.advice, asked_year=d.slots.year), d.state

    def compose_named_body(self, d: Decision) -> Reply:
        """ "May a university request?", and for "a university and a state enterprise" each of them."""
        who = self.faq.get(WHO_ENTRY)
        if who is None:
            return self.compose_eligibility(d)
        bodies = self.slots.bodies(d.turn.question)
        body = d.turn.pick(" และ", " and").join(f" {b}" for b in bodies[:3]).strip() if bodies else d.slots.body
        return named_body_answer(self.kb, self.faq, d.turn, who, body or ""), d.state

    def compose_eligibility(self, d: Decision) -> Reply:
        """Who may request, or what a project needs: the eligibility entry that matches best."""
        matches = [m for m in d.slots.matches if self.faq[m.entry_id].kind == "eligibility"]
        entry = self.faq[matches[0].entry_id] if matches else self.faq.get(WHO_ENTRY)
        entry = entry or next((e for e in self.faq.values() if e.kind == "eligibility"), None)
        if entry is None:
            return fallback(self.kb, d.turn), d.state
        score = max(d.slots.best, LIMITS.answer) if matches else LIMITS.answer
        return self._entry_answer(d.turn, entry, score), d.state

    def compose_premise(self, d: Decision) -> Reply:
        spans = tuple((t.start, t.end) for t in _with_year(d.slots.times) if d.cue("confirm"))
        entry = self._claimed_entry(d.turn.question.normalized, spans)
        claim = self.contradicts(d)
        assert entry is not None and claim is not None
        claimed, stated = claim
        t = d.turn
        answer = self._entry_answer(t, entry, 90.0)
        if stated:
            head = t.pick(
                f"ไม่ใช่{t.end} เอกสารไม่ได้ระบุ {claimed} แต่ระบุ {stated} ดังนี้\n",
                f"No: the source does not say {claimed}; it says {stated}.\n",
            )
        else:
            head = t.pick(
                f"ไม่ใช่{t.end} เอกสารไม่ได้ระบุเช่นนั้น (ไม่มีเรื่อง {claimed}) เอกสารระบุว่า\n",
                f"No, the source does not say so (nothing about {claimed}). What it says:\n",
            )
        return answer.model_copy(update={"text": head + answer.text}), d.state

    def compose_other_year(self, d: Decision) -> Reply:
        entry = self._best_entry(d)
        return other_year_answer(self.kb, d.turn, entry, d.slots.times[0].fiscal_year), d.state

    def compose_missing(self, d: Decision) -> Reply:
        """ "The sources don't give X" first; then the nearest fact they do give, labelled as such."""
        detail = self.missing_detail(d) or ""
        t = d.turn
        note = t.pick(
            f"เอกสารที่{t.me}มีไม่ได้ให้ข้อมูล{detail}{t.end}", f"The sources do not give the {detail} you ask about."
        )
        entry = self._best_entry(d) if d.slots.best >= LIMITS.answer else None
        if entry is None:
            return fallback(self.kb, t, note=note), d.state
        nearest = self._entry_answer(t, entry, d.slots.best)
        lead, _, sources = nearest.text.partition("\n\n")
        text = note + t.pick("\nข้อมูลที่ใกล้เคียงที่สุดที่เอกสารให้ไว้:\n", "\nThe nearest fact they do give:\n") + lead
        text += "\n" + where_to_ask(self.kb, t) + (f"\n\n{sources}" if sources else "")
        # The answer is "not given": what follows it is context, so it is no fact-answer and claims no certainty.
        return nearest.model_copy(
            update={"kind": AnswerKind.FALLBACK, "text": text, "confidence": min(nearest.confidence, 0.5)}
        ), d.state

    def compose_entry(self, d: Decision) -> Reply:
        entry = self._best_entry(d)
        assert entry is not None
        answer = self._entry_answer(d.turn, entry, _calibrated(list(d.slots.matches)))
        if entry_topic(entry) == "guideline_info":
            answer = self._guideline_years(d, answer)
        return answer, d.state

    def compose_did_you_mean(self, d: Decision) -> Reply:
        return did_you_mean(self.faq, d.turn, list(d.slots.matches)), d.state

    def compose_no_year_info(self, d: Decision) -> Reply:
        return other_year_answer(self.kb, d.turn, None, d.slots.times[0].fiscal_year), d.state

    def compose_not_given(self, d: Decision) -> Reply:
        t = d.turn
        note = t.pick(f"ขออภัย{t.end} เอกสารที่{t.me}มีไม่ได้ให้ข้อมูลเรื่องนี้", "Sorry, the sources have no information on that.")
        suggestions = [entry_question(self.faq[m.entry_id], t) for m in d.slots.matches] or None
        return fallback(self.kb, t, note=note, suggestions=suggestions), d.state

    # ------------------------------------------------------------------ helpers
    def _entry_answer(self, turn: Turn, entry: FaqEntry, score: float) -> Answer:
        if entry.guideline is not None and entry.guideline not in self.kb.guidelines:
            return fallback(self.kb, turn)
        return entry_answer(self.kb, self.faq, turn, entry, score)

    def _best_entry(self, d: Decision) -> FaqEntry | None:
        matches = self._prefer_year_specific(list(d.slots.matches), d.slots.years)
        return self.faq[matches[0].entry_id] if matches else None

    def _bare_year(self, d: Decision) -> int | None:
        """ "65" or "2571" alone, right after an answer about a year: a year, not an option's number."""
        a = d.turn.question
        digits = [t for t in a.content if t.isdigit()]
        if len(digits) != 1 or d.frame is None or d.frame.options and d.slots.pick is not None:
            return None
        n = int(digits[0])
        if 50 <= n <= 99:
            return 2500 + n
        if 2500 <= n <= 2699:
            return n
        return None

    def _prefer_year_specific(self, matches: list[Match], years: list[int]) -> list[Match]:
        """A question naming a year asks about a fact of some year: an entry about one fiscal year that scores
        nearly as well as a general one is what it asks ("งบบูรณาการปี 2567 ได้ทั้งหมดเท่าไร")."""
        if not years or len(matches) < 2 or self.faq[matches[0].entry_id].fiscal_year is not None:
            return matches
        for i, m in enumerate(matches[1:], 1):
            if self.faq[m.entry_id].fiscal_year is not None and matches[0].score - m.score <= YEAR_SPECIFIC_MARGIN:
                return [Match(m.entry_id, m.variant, matches[0].score), *matches[:i], *matches[i + 1 :]]
        return matches

    def _small_talk_kind(self, a: Analyzed) -> SmallTalk | None:
        kinds = [kind for phrases, kind in self._talk if kind is not None and phrases.any(a)]
        for kind in (SmallTalk.HELP, SmallTalk.THANKS, SmallTalk.GREETING, SmallTalk.ACK):
            if kind in kinds:
                return kind
        return None

    def _asks(self, a: Analyzed) -> bool:
        """Does this clause ask something (a question word, "?", a cue of any kind of answer, a follow-up)?"""
        if "?" in a.raw or any(s.any(a) for s in self._asking_cues):
            return True
        if len(a.content) > FOLLOW_UP_MAX_TOKENS + 1 or not self.slots.cue_sets["follow_up"].any(a):
            return False  # "แล้วเอาไปขอเงินงบปี 70" inside a long sentence is not "แล้วปี 70 ล่ะ"
        return bool(read_time(a.normalized, _YEARS_REF, normalized=True)) or bool(guideline_numbers(a.normalized))

    def _says_nothing(self, a: Analyzed) -> bool:
        """Hello, thanks, "ขอสอบถามค่ะ": a clause with nothing to answer and nothing to add to a question."""
        if not a.content:
            return True
        rest = "".join(a.content)
        for phrases, _ in self._talk:
            for p in sorted(phrases.found(a), key=len, reverse=True):
                rest = rest.replace(p.replace(" ", ""), "")
        return re.sub(r"[\W\d_]+", "", rest) == ""


def _calibrated(matches: list[Match]) -> float:
    """The score an answer's confidence comes from: a runner-up close behind means the question could be either,
    so a close call never reads as sure (at a lead of CALIBRATION_LEAD or more the score stands)."""
    if not matches:
        return 0.0
    best = matches[0].score
    if len(matches) < 2:
        return best
    lead = min(1.0, (best - matches[1].score) / CALIBRATION_LEAD)
    return best * (0.6 + 0.4 * lead)


def unit_word(unit: str, en: bool) -> str:
    return {"money": "million baht" if en else "ล้านบาท", "agencies": "agencies" if en else "หน่วยงาน",
            "projects": "projects" if en else "โครงการ", "plans": "plans" if en else "แผนงาน",
            "areas": "areas" if en else "ด้าน", "guidelines": "guidelines" if en else "แนวทาง",
            "years": "years" if en else "ปี"}[unit]  # fmt: skip


def entry_topic(entry: FaqEntry) -> str:
    if entry.guideline is not None or entry.id == OVERVIEW_ENTRY:
        return "guideline_info"
    return "eligibility" if entry.kind == "eligibility" else "fact"


def _with_year(refs: tuple[TimeRef, ...]) -> list[TimeRef]:
    """References that name their year ("7 ธ.ค." alone is a day of whichever year the topic is about)."""
    return [t for t in refs if not t.how.endswith("no_year")]


def _ref_years(ref: TimeRef) -> set[int]:
    """Every year a time reference can be read as: its fiscal years, and a date's calendar year (B.E.)."""
    years = {ref.fiscal_year, *ref.fiscal_years}
    if ref.day is not None:
        years.add(ref.day.year + 543)
    return years


def _figures(text: str) -> list[tuple[str, str]]:
    return [(m.group(1), _UNITS[m.group(2)]) for m in _FIGURE.finditer(text)]


def _same_number(a: str, b: str) -> bool:
    try:
        x, y = float(a.replace(",", "")), float(b.replace(",", ""))
    except ValueError:
        return a == b
    return abs(x - y) <= 0.05 * max(abs(x), abs(y)) or int(x) == int(y)


def _is_emoji_only(text: str) -> bool:
    chars = [ch for ch in text if not ch.isspace()]
    return bool(chars) and all(not ch.isalnum() and ord(ch) > 0x2000 for ch in chars)


def vocabulary(kb: KnowledgeBase) -> set[str]:
    """Domain words for the tokenizer's dictionary, so newmm keeps them whole. Cue phrases ("ยื่นได้ไหม") are
    left out: they are found by substring, and as dictionary words they would hide the words inside them."""
    i = kb.intents
    words = {*i.organizations, *i.out_of_scope_terms, *i.unknown_topics}
    for g in kb.guidelines.values():
        words.update(g.keywords)
        words.update(g.strong_keywords)
    return {w for w in words if " " not in w}


__all__ = ["Assistant", "source_refs", "vocabulary", "with_sources"]
