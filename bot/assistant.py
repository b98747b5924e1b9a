"""The assistant: cuts a message into its questions, routes each to the composer of the right kind of answer.

Routing is deliberately explicit (cue words from the knowledge base, then the matcher's score) so that a
DGA editor can see why a question got the answer it got, and so that nothing out of scope is ever answered
with a confident fact.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

from bot.advisor import Advice, GuidelineAdvisor, LinearModel
from bot.analysis import Analyzed, TextAnalyzer, message_language
from bot.answer import Answer, AnswerKind, SubscriptionAction
from bot.answers import calendar, guided, subscription
from bot.answers.context import Turn, Voice
from bot.answers.faq import did_you_mean, entry_answer, entry_question, named_body_answer, other_year_answer
from bot.answers.general import SmallTalk, fallback, help_answer, small_talk
from bot.answers.guidelines import ProjectEvidence, guideline_entries, guideline_match_answer
from bot.answers.parts import combine
from bot.answers.status import status_answer
from bot.answers.subscription import Speech
from bot.conversation import ConversationState
from bot.cues import PhraseSet, WordSet
from bot.knowledge.loader import KnowledgeBase
from bot.knowledge.schema import FaqEntry
from bot.matching import Match, QuestionIndex, Variant
from bot.memory import release_free_memory
from bot.splitting import QuestionSplitter
from bot.subscriptions import subscribable
from bot.years import YearMention, fiscal_year_of, read_years

ANSWER_THRESHOLD = 45.0  # best match at or above: answer with the entry
SUGGEST_THRESHOLD = 35.0  # between the two: "did you mean", with up to 3 suggestions
CLEAR_LEAD = 10.0  # ... unless the first option leads the second by this much: then it is answered
STRONG_MATCH = 65.0  # a match this good wins over cue words that point elsewhere
OVERRIDE_OOS = 85.0  # only a near-verbatim knowledge question outweighs an out-of-scope word (ภาษี, passport)
PROJECT_EVIDENCE = 2.0  # guideline keyword weight that makes a question a project description
FOLLOW_UP_MAX_TOKENS = 4
SHORT_QUESTION_TOKENS = 3
HELP_MAX_TOKENS = 4  # "ช่วยอะไรได้บ้าง" is help; "โครงการ...เงินช่วยเหลือ..." is not
SUBSCRIPTION_MAX_TOKENS = 12  # "แจ้งเตือนเมื่อปีงบ 2571 เปิดรับนะครับ" is short; a project description is not
RELEASE_AFTER_VARIANTS = 2_000  # a knowledge base this large frees enough while indexing to give it back
CALIBRATION_LEAD = 15.0  # see _calibrated
YEAR_SPECIFIC_MARGIN = 6.0  # see _prefer_year_specific
WHO_ENTRY = "eligibility-who"  # the entry about who may request: a named kind of body gets its own answer
NAMED_BODY_MAX_CHARS = 60

# "แนวทางที่ 2", "แนวทาง 2", "guideline 2": a guideline named by number.
_GUIDELINE_NUMBER = re.compile(r"(?:แนวทาง(?:ที่)?|guidelines?|guidance)\s?#?([1-9])(?!\d)")
# "แนวทาง 1 กับ 2", "guideline 2 and 3", "แนวทางที่ 1 และแนวทางที่ 3": several guidelines named together.
_GUIDELINE_LIST = re.compile(
    r"(?:แนวทาง(?:ที่)?|guidelines?)\s?#?([1-9])((?:\s?(?:,|และ|กับ|หรือ|vs\.?|and|or|&|/)\s?(?:แนวทาง(?:ที่)?|guidelines?)?"
    r"\s?(?:ที่)?\s?#?[1-9](?!\d))+)"
)
# Words that strongly tie a question to this plan even when it also mentions an out-of-scope topic.
_PLAN_ANCHORS = ("บูรณาการ", "รัฐบาลดิจิทัล", "ของบ", "คำขอ", "แนวทาง", "integration plan", "guideline")
_NOW = re.compile(r"ตอนนี้|ขณะนี้|ปัจจุบัน|\b(?:now|currently|still)\b")  # and the word ยัง (not ยังไง)
# Words that frame a question as a description of a project ("โครงการ...", "we want to build ...").
_PROJECT_WORDS = ("โครงการ", "อยากทำ", "จะทำ", "ต้องการทำ", "จัดทำระบบ", "พัฒนาระบบ", "project", "build", "develop")
# Thai "may ...?" endings; in English "can"/"may" alone ("where can I get ... near the ministry") asks nothing
# about requesting, so an English question needs a request word (apply, join) to be about eligibility.
_MAY = ("ได้ไหม", "ได้มั้ย", "ได้มั๊ย", "ได้ใหม", "ได้หรือไม่", "ได้รึเปล่า", "ได้หรือเปล่า", "ได้ป่าว", "ได้ป่ะ", "ได้บ่", "eligible")
_YEARS_REF = date(2000, 1, 1)  # only explicit years are read from entries
_UNSURE = ("ไม่แน่ใจ", "ไม่รู้", "ไม่ทราบ", "not sure", "don't know", "dont know")
# Status cues that only ask for a date: with a calendar word they ask when a fiscal year ends, not for requests.
_DATE_ONLY_STATUS = frozenset({"ถึงวันไหน", "ถึงเมื่อไร", "ถึงเมื่อไหร่", "ได้ถึง", "วันสุดท้าย", "open", "end"})
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


@dataclass(frozen=True)
class _Signals:
    """What routing needs to know about one question, computed once."""

    years: list[YearMention]
    matches: list[Match]
    best: float


class Assistant:
    def __init__(self, kb: KnowledgeBase, analyzer: TextAnalyzer, *, voice: Voice | None = None) -> None:
        self.kb = kb
        self.analyzer = analyzer
        self.voice = voice or Voice()
        self.faq: dict[str, FaqEntry] = {**{e.id: e for e in guideline_entries(kb)}, **kb.faq}
        # Years an entry speaks of (its fiscal year, and dates in its text such as 11 ธ.ค. 2562): a question
        # naming any other year asks about something the entry does not cover. Filled while indexing.
        self.entry_years: dict[str, set[int]] = {}
        self.index = QuestionIndex(self._variants())
        self.advisor = GuidelineAdvisor(kb.guidelines, kb.outside_guidelines, analyzer, LinearModel.load())
        self.evidence = ProjectEvidence(kb.guidelines, analyzer)
        i = kb.intents
        ps = lambda words: PhraseSet(analyzer, words)  # noqa: E731
        self.status_cues, self.guideline_cues = ps(i.status_cues), ps(i.guideline_cues)
        self.request_verbs = ps(i.request_verbs)
        # Kinds of body, with every other name the synonyms give them (เทศบาลตำบล is a kind of local government).
        orgs = {analyzer.canonical_phrase(o) for o in i.organizations}
        self.organizations = ps(
            [
                *i.organizations,
                *(v for g in kb.synonyms if analyzer.canonical_phrase(g.canonical) in orgs for v in g.variants),
            ]
        )
        self._generic_bodies = {analyzer.canonical_phrase(w) for w in _GENERIC_BODIES}
        # For "is this about who may request": the listed kinds, and the synonyms of the particular ones (กรม in
        # กรมบัญชีกลาง is just an agency the question mentions).
        self.bodies = ps(
            [
                *i.organizations,
                *(
                    v
                    for g in kb.synonyms
                    if (c := analyzer.canonical_phrase(g.canonical)) in orgs and c not in self._generic_bodies
                    for v in g.variants
                ),
            ]
        )
        self.unknown_topics = ps(i.unknown_topics)
        self.eligibility_cues, self.guided_cues = ps(i.eligibility_cues), ps(i.guided_check_cues)
        self.greeting_cues, self.help_cues = ps(i.greetings), ps(i.help)
        self.domain_cues = ps(i.domain_terms)
        # Whole words: as a substring, หนัง (movies) is inside หนังสือราชการ.
        self.out_of_scope_cues = WordSet(analyzer, i.out_of_scope_terms)
        self.follow_up_cues, self.cancel_cues = ps(i.follow_up_cues), ps(i.cancel)
        self.subscribe_cues, self.unsubscribe_cues = ps(i.subscribe_cues), ps(i.unsubscribe_cues)
        self.thanks, self.acks, self.laughter = ps(i.thanks), ps(i.acknowledgements), ps(i.laughter)
        self.about_bot, self.preambles = ps(i.about_the_bot), ps(i.preambles)
        self.calendar_now, self.calendar_months = ps(i.calendar_now), ps(i.calendar_months)
        self.calendar_open, self.figure_words = ps(i.calendar_open), ps(i.figure_words)
        self.plan_anchors = ps(list(_PLAN_ANCHORS))
        self.question_words = WordSet(analyzer, i.question_words)
        self.open_questions = WordSet(analyzer, i.open_question_words)
        self._talk = [
            (self.help_cues, SmallTalk.HELP),
            (self.about_bot, SmallTalk.HELP),
            (self.thanks, SmallTalk.THANKS),
            (self.greeting_cues, SmallTalk.GREETING),
            (self.acks, SmallTalk.ACK),
            (self.laughter, SmallTalk.ACK),
            (self.preambles, None),
        ]
        self.splitter = QuestionSplitter(
            analyzer, i.next_question_cues, asks=self._asks, says_nothing=self._says_nothing
        )
        if len(self.index) > RELEASE_AFTER_VARIANTS:
            release_free_memory()

    @classmethod
    def build(cls, kb: KnowledgeBase, *, polite_particle: str = "ค่ะ") -> Assistant:
        return cls(kb, TextAnalyzer(kb.synonyms, vocabulary(kb)), voice=Voice.from_setting(polite_particle))

    def warm(self) -> None:
        self.analyzer.warm()
        self.respond("ปีงบ 2566 ยังยื่นได้ไหม แล้วปี 67 ล่ะ", None, date(2026, 1, 1))

    def _variants(self) -> Iterator[Variant]:
        """Every question variant, analyzed once (in one stream, so that shared word groups are normalized
        once); each entry's years are read on the way."""
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
            answer, state = self._answer(whole, language, today, state)
        else:
            parts: list[Answer] = []
            for piece in pieces:
                part, state = self._answer(analyze(piece), language, today, state)
                parts.append(part)
            answer = combine(parts, language)
        return answer.model_copy(update={"knowledge_version": self.kb.version}), state

    def _may_split(self, a: Analyzed, state: ConversationState) -> bool:
        """A message is cut into questions unless it is short, inside the project check, or out of scope as a
        whole (a part of "how much do DGA staff earn? salary range?" must not be answered on its own)."""
        if len(a.tokens) <= 2 or state.flow is not None:
            return False
        return not (self.out_of_scope_cues.any(a) and not self.plan_anchors.any(a))

    def _answer(
        self, a: Analyzed, language: str, today: date, state: ConversationState
    ) -> tuple[Answer, ConversationState]:
        turn = Turn(a, language, today, self.voice)
        answer, state = self._compare_guidelines(turn, state) or self._route(turn, state)
        if not turn.en and self.voice.particle:
            # "พ.ศ. 2566ค่ะ" reads as one word: a particle right after a number gets a space.
            text = _PARTICLE_AFTER_DIGIT.sub(r"\1 \2", answer.text)
            answer = answer.model_copy(update={"text": text}) if text != answer.text else answer
        return answer, state

    # ------------------------------------------------------------------ routing
    def _route(self, turn: Turn, state: ConversationState) -> tuple[Answer, ConversationState]:
        a = turn.question
        if not a.content and state.flow is None and (talk := self._small_talk(a, [])) is not None:
            return small_talk(self.kb, turn, talk), state  # "ขอบคุณค่ะ 🙏": every word of it is filler
        if not a.content:
            if a.tokens and self.follow_up_cues.any(a) and state.last_kind:
                return help_answer(self.kb, turn), state
            if _is_emoji_only(a.raw):  # a sticker or a thumbs-up: a friendly word, not "type a question"
                return small_talk(self.kb, turn, SmallTalk.ACK), state
            return help_answer(self.kb, turn, empty=True), state

        asked = self._subscription(turn, state)
        if asked is not None:
            return asked, state

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

        years = read_years(a.normalized, turn.today, normalized=True)
        matches = self._prefer_year_specific(self.index.search(a, limit=3), years)
        best = matches[0].score if matches else 0.0

        if self.out_of_scope_cues.any(a) and not self.plan_anchors.any(a) and best < OVERRIDE_OOS:
            return fallback(self.kb, turn), state
        talk = self._small_talk(a, years)
        if talk is not None:
            return small_talk(self.kb, turn, talk), state
        if self.unknown_topics.any(a) and best < STRONG_MATCH:
            return fallback(
                self.kb,
                turn,
                note=turn.pick(
                    f"ขออภัย{turn.end} เอกสารที่{turn.me}มีไม่ได้ให้ข้อมูลเรื่องนี้",
                    "Sorry, the sources have no information on that.",
                ),
            ), state
        if self.help_cues.any(a) and len(a.content) <= HELP_MAX_TOKENS and not years and best < STRONG_MATCH:
            return help_answer(self.kb, turn), state

        follow = self._follow_up(turn, state, years)
        if follow is not None:
            return follow
        status_found = self.status_cues.found(a)
        request_verb = self.request_verbs.any(a)
        cal = self._calendar(turn, years, status_found, request_verb, best)
        if cal is not None:
            return cal, self._remember(state, cal)
        if self.guided_cues.any(a):
            return guided.start(self.kb, turn, state)

        status_cue = bool(status_found)
        asks_figure = self.figure_words.any(a)
        # "ใครขอได้" asks who may request; "มหาลัยขอได้ไหม" too, but an organisation named in a question about a
        # year ("หน่วยงานยังเสนอคำขอปี 2571 ได้หรือไม่") is only the asker, so it does not outweigh the year.
        asks_who = self.eligibility_cues.any(a)
        eligibility_cue = asks_who or (self.bodies.any(a) and (request_verb or any(w in a.compact for w in _MAY)))
        guideline_cue = self.guideline_cues.any(a)
        guideline_no = self._guideline_number(a)
        evidence = self.evidence.score(a)
        advice = self.advisor.advise(a) if (guideline_cue or evidence or best < STRONG_MATCH) else None
        project_like = evidence > 0 or (advice is not None and advice.any_aspect)
        asked_year = years[0].year if years else None
        # In the plan's domain: a word of the plan, or a year that the best entry is about ("งบปี 65 กี่ล้าน").
        in_domain = self.domain_cues.any(a) or bool(
            years and matches and self.entry_years.get(matches[0].entry_id, set()) & {y.year for y in years}
        )

        # "แนวทางอะไร" asks which guideline fits a project; without any project words it is a question about
        # the guidelines themselves ("ปีงบ 66 มีแนวทางอะไรบ้าง"), which an entry answers.
        if (
            guideline_cue
            and advice is not None
            and (project_like or best < ANSWER_THRESHOLD)
            and not (status_cue and years)
        ):
            answer = guideline_match_answer(self.kb, turn, advice, asked_year=asked_year)
            return answer, self._remember(state, answer)
        # A request word with a year asks about that year ("ปีงบ 67 ยื่นได้ไหม") unless a knowledge entry
        # matches the whole question well ("ชี้แจงแนวทางจัดทำคำของบปี 66 จัดเมื่อไร"), or it asks for a figure.
        if (
            years
            and guideline_no is None
            and not asks_who
            and not (asks_figure and not status_cue)
            and (status_cue or (request_verb and best < STRONG_MATCH and not self.open_questions.any(a)))
        ):
            return self._status(turn, state, years[0].year, assumed=False)
        still = self._asks_now(a)
        if (status_cue or (request_verb and still)) and not asks_who and not self._is_eligibility(matches):
            # A short "หมดเขตเมื่อไหร่" / "deadline?" needs no word of the plan: asking this bot, it means the plan.
            if in_domain or still or status_cue and len(a.content) <= SHORT_QUESTION_TOKENS:
                return self._status(turn, state, fiscal_year_of(turn.today) + 1, assumed=True)

        if guideline_no is not None and guideline_no in self.kb.guidelines:
            return self._entry(turn, state, self.faq[f"guideline-{guideline_no}"], 100.0)
        framed = self._framed(a)
        if asks_who and request_verb and not framed and not self._is_eligibility(matches):
            # "Who can apply for this budget?" asks who may request, however well "how to apply" matches.
            return self._eligibility(turn, state, matches, max(best, ANSWER_THRESHOLD))
        if eligibility_cue and not framed and advice is not None and not any(f.aspects for f in advice.scored):
            advice = None  # "can a public hospital ... apply?" names a body, it does not describe a project
        asks_to_fund = guideline_cue or request_verb or framed or self.domain_cues.any(a)
        if (
            advice is not None
            and best < STRONG_MATCH
            and self._project_evidence(evidence, advice, asks_to_fund) >= self._evidence_needed(a)
        ):
            answer = guideline_match_answer(self.kb, turn, advice, asked_year=asked_year)
            return answer, self._remember(state, answer)

        if eligibility_cue and best < STRONG_MATCH:
            return self._eligibility(turn, state, matches, max(best, ANSWER_THRESHOLD))

        # A middling match on a question with no word of the plan in it is more likely out of scope than not.
        confident = best >= (ANSWER_THRESHOLD if in_domain else STRONG_MATCH)
        # One word ("คณะกรรมการ") stays a did-you-mean: it names a topic, not a question.
        clear = (
            len(a.content) > 1 and in_domain and best >= SUGGEST_THRESHOLD and self._leads_clearly(matches, CLEAR_LEAD)
        )
        if confident or clear:
            entry = self.faq[matches[0].entry_id]
            if self._other_year(entry, years):
                return self._no_year_info(turn, state, entry, years[0].year)
            return self._entry(turn, state, entry, _calibrated(matches))
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

    # ------------------------------------------------------------------ kinds of question
    def _asks(self, a: Analyzed) -> bool:
        """Does this clause ask something (a question word, "?", a cue of any kind of answer, a follow-up)?"""
        if self.question_words.any(a):
            return True
        cue_sets = (self.status_cues, self.guideline_cues, self.eligibility_cues, self.help_cues, self.calendar_now)
        if any(s.any(a) for s in cue_sets):
            return True
        if len(a.content) > FOLLOW_UP_MAX_TOKENS + 1 or not self.follow_up_cues.any(a):
            return False  # "แล้วเอาไปขอเงินงบปี 70" inside a long sentence is not "แล้วปี 70 ล่ะ"
        return bool(read_years(a.normalized, _YEARS_REF, normalized=True)) or self._guideline_number(a) is not None

    def _says_nothing(self, a: Analyzed) -> bool:
        """Hello, thanks, "ขอสอบถามค่ะ": a clause with nothing to answer and nothing to add to a question."""
        return not a.content or self._talk_rest(a)[1] == ""

    def _talk_rest(self, a: Analyzed) -> tuple[list[SmallTalk], str]:
        """The kinds of small talk in a message, and what is left of it without them (and without filler)."""
        kinds: list[SmallTalk] = []
        rest = "".join(a.content)
        for phrases, kind in self._talk:
            found = phrases.found(a)
            if found and kind is not None:
                kinds.append(kind)
            for p in sorted(found, key=len, reverse=True):
                rest = rest.replace(p.replace(" ", ""), "")
        return kinds, re.sub(r"[\W\d_]+", "", rest)

    def _small_talk(self, a: Analyzed, years: list[YearMention]) -> SmallTalk | None:
        kinds, rest = self._talk_rest(a)
        if not kinds:
            return None
        if rest and (years or self._asks(a) or SmallTalk.THANKS not in kinds and SmallTalk.GREETING not in kinds):
            return None  # "ขอบคุณค่ะ แล้วปี 72 ล่ะ" asks something: answer that
        for kind in (SmallTalk.HELP, SmallTalk.THANKS, SmallTalk.GREETING, SmallTalk.ACK):
            if kind in kinds:
                return kind
        return None

    def _calendar(
        self, turn: Turn, years: list[YearMention], status_found: list[str], request_verb: bool, best: float
    ) -> Answer | None:
        """Questions about the fiscal-year calendar itself."""
        a = turn.question
        asks_status = bool(status_found) or request_verb or self._asks_now(a)
        if self.calendar_open.any(a) and asks_status:
            return calendar.open_years_answer(self.kb, turn)
        if best >= STRONG_MATCH:
            return None
        explicit = [y for y in years if y.how != "relative"]
        fiscal_word = bool(years) or "ปีงบประมาณ" in a.canonical or "fy" in a.tokens
        date_only = set(status_found) <= _DATE_ONLY_STATUS
        if self.calendar_months.any(a) and fiscal_word and not request_verb and date_only:
            return calendar.months_answer(self.kb, turn, years[0].year if years else None)
        if self.calendar_now.any(a) and not explicit and not request_verb and not status_found:
            return calendar.current_year_answer(self.kb, turn)
        return None

    def _compare_guidelines(self, turn: Turn, state: ConversationState) -> tuple[Answer, ConversationState] | None:
        """ "แนวทาง 1 กับ 2 ต่างกันยังไง": each guideline named, one part each."""
        m = _GUIDELINE_LIST.search(_digits(turn.question.normalized))
        if m is None:
            return None
        numbers = list(dict.fromkeys(int(d) for d in re.findall(r"[1-9]", m.group(0))))
        numbers = [n for n in numbers if n in self.kb.guidelines]
        if len(numbers) < 2 or self.evidence.score(turn.question) or self.advisor.advise(turn.question).any_aspect:
            return None  # "...บริการแบบเบ็ดเสร็จ จะเข้าแนวทางที่ 2 หรือ 3": a project to place, not a comparison
        parts = []
        for n in numbers[:3]:
            part, state = self._entry(turn, state, self.faq[f"guideline-{n}"], 100.0)
            parts.append(part)
        return combine(parts, turn.language), state

    def _named_body(self, a: Analyzed) -> str | None:
        """The kind of body a question asks about ("มหาวิทยาลัยราชภัฏ", "a public hospital"), if it names one."""
        named = [
            o for o in self.organizations.found(a) if self.analyzer.canonical_phrase(o) not in self._generic_bodies
        ]
        if not named:
            return None
        m = _BODY_EN.search(a.normalized)
        if m is not None:
            body = m.group(1)
        else:
            text, pos, start, end = a.normalized, 0, None, None
            for t in a.tokens:
                at = text.find(t, pos)
                if at < 0:
                    continue
                pos = at + len(t)
                if start is None:
                    if t in _BODY_STOP or self.preambles.any(self.analyzer.analyze(t)) or t in ("ครับ", "ค่ะ", "คะ"):
                        continue
                    start = at
                elif t in _BODY_STOP:
                    end = at
                    break
            body = text[start:end].strip() if start is not None else ""
        body = body.strip(" ,.?")
        # The body must be what the question is about: "ต้องทำร่วมกับหน่วยงานอื่นไหม" names none.
        if not any(o.replace(" ", "") in body.replace(" ", "") for o in named) and not self._canonical_in(body, named):
            return None
        return body if 1 < len(body) <= NAMED_BODY_MAX_CHARS else None

    def _canonical_in(self, text: str, phrases: list[str]) -> bool:
        canonical = self.analyzer.canonical_phrase(text)
        return any(self.analyzer.canonical_phrase(p) in canonical for p in phrases)

    def _subscription(self, turn: Turn, state: ConversationState) -> Answer | None:
        """ "แจ้งเตือนเมื่อปีงบ 2571 เปิดรับ", "notify me when FY2571 opens", "แจ้งเตือนด้วย" right after a status
        answer, "ยกเลิกการแจ้งเตือน" (every year) or with a year. The cue words are the knowledge's; a long message,
        or one describing a project (that sends notifications, say), is not a request about this assistant's."""
        a = turn.question
        stop = self.unsubscribe_cues.any(a)
        if not stop and not self.subscribe_cues.any(a):
            return None
        if len(a.content) > SUBSCRIPTION_MAX_TOKENS or self._framed(a) or self.evidence.score(a):
            return None
        years = read_years(a.normalized, turn.today, normalized=True)
        year = years[0].year if years else None
        speech = Speech(turn.language, turn.voice)
        if stop:
            return subscription.chat_only(self.kb, speech, turn.today, SubscriptionAction.unsubscribe(year))
        if year is None:
            # Without a year the message must say nothing but that ("แจ้งเตือนด้วยนะคะ", "notify me when it
            # opens"): "remind me what the guidelines are" asks something else.
            if not self._only_cues(a, self.subscribe_cues, self.status_cues, self.thanks, self.acks, self.preambles):
                return None
            if state.last_kind is not AnswerKind.FISCAL_YEAR_STATUS or state.fiscal_year is None:
                return subscription.which_year(self.kb, speech, turn.today)
            year = state.fiscal_year  # "แจ้งเตือนด้วย" about the year just answered
        if not subscribable(self.kb, year, turn.today):
            return subscription.not_subscribable(self.kb, speech, turn.today, year)
        return subscription.chat_only(self.kb, speech, turn.today, SubscriptionAction.subscribe(year))

    # ------------------------------------------------------------------ helpers
    def _only_cues(self, a: Analyzed, *cues: PhraseSet) -> bool:
        """True when nothing of substance is left once these cue phrases are taken out of the question."""
        text = a.normalized
        covered = [False] * len(text)
        for phrase in {p for c in cues for p in c.found(a)}:  # overlapping phrases each cover their part
            start = text.find(phrase)
            while phrase and start >= 0:
                covered[start : start + len(phrase)] = [True] * len(phrase)
                start = text.find(phrase, start + 1)
        rest = "".join(" " if hidden else ch for ch, hidden in zip(text, covered, strict=True))
        return not self.analyzer.analyze(rest).content

    def _is_only(self, a: Analyzed, cues: PhraseSet) -> bool:
        """True when the question is nothing but one of these cue phrases (plus polite filler)."""
        found = cues.found(a)
        rest = "".join(a.content)  # Thai has no spaces: "หวัด ดี" is the phrase หวัดดี
        for phrase in sorted(found, key=len, reverse=True):
            rest = rest.replace(phrase.replace(" ", ""), "")
        return bool(found) and not rest.strip()

    @staticmethod
    def _asks_now(a: Analyzed) -> bool:
        return "ยัง" in a.tokens or _NOW.search(a.normalized) is not None

    def _prefer_year_specific(self, matches: list[Match], years: list[YearMention]) -> list[Match]:
        """A question naming a year asks about a fact of some year: an entry about one fiscal year that scores
        nearly as well as a general one is what it asks ("งบบูรณาการปี 2567 ได้ทั้งหมดเท่าไร": the figures,
        which the sources give for 2565 only, not what the plan is)."""
        if not years or len(matches) < 2 or self.faq[matches[0].entry_id].fiscal_year is not None:
            return matches
        for i, m in enumerate(matches[1:], 1):
            if self.faq[m.entry_id].fiscal_year is not None and matches[0].score - m.score <= YEAR_SPECIFIC_MARGIN:
                return [Match(m.entry_id, m.variant, matches[0].score), *matches[:i], *matches[i + 1 :]]
        return matches

    @staticmethod
    def _leads_clearly(matches: list[Match], lead: float) -> bool:
        """The first option far ahead of the second: a did-you-mean would only ask "did you mean the first?"."""
        return len(matches) == 1 or matches[0].score - matches[1].score >= lead

    def _other_year(self, entry: FaqEntry, years: list[YearMention]) -> bool:
        """True when the question names years and the entry, which is about a specific year, covers none."""
        covered = self.entry_years.get(entry.id, set())
        return entry.fiscal_year is not None and bool(years) and not covered & {y.year for y in years}

    @staticmethod
    def _project_evidence(keywords: float, advice: Advice, asks_to_fund: bool) -> float:
        """Keyword weight plus two for each aspect. A kind of project no guideline covers ("ค่าเบี้ยเลี้ยง")
        counts only in a question about funding or fitting it: "เบิกค่าเบี้ยเลี้ยงได้วันละเท่าไหร่" is not one."""
        aspects = sum(len(f.aspects) for f in advice.scored) + (len(advice.outside) if asks_to_fund else 0)
        return keywords + 2.0 * aspects

    @staticmethod
    def _framed(a: Analyzed) -> bool:
        return any(w in a.compact for w in _PROJECT_WORDS) or any(t in _PROJECT_WORDS for t in a.tokens)

    def _evidence_needed(self, a: Analyzed) -> float:
        """Guideline keyword weight that makes a question a project description: less when it says it is one."""
        return PROJECT_EVIDENCE / 2 if self._framed(a) else PROJECT_EVIDENCE

    def _eligibility(
        self, turn: Turn, state: ConversationState, matches: list[Match], score: float
    ) -> tuple[Answer, ConversationState]:
        """Who may request (about the body named, if one is), or what a project needs."""
        entry = self.faq.get(WHO_ENTRY) if self._named_body(turn.question) is not None else None
        entry = entry or next(
            (self.faq[m.entry_id] for m in matches if self.faq[m.entry_id].kind == "eligibility"), None
        )
        entry = (
            entry or self.faq.get(WHO_ENTRY) or next((e for e in self.faq.values() if e.kind == "eligibility"), None)
        )
        if entry is None:
            return fallback(self.kb, turn), state
        return self._entry(turn, state, entry, score)

    def _is_eligibility(self, matches: list[Match]) -> bool:
        return (
            bool(matches)
            and matches[0].score >= ANSWER_THRESHOLD
            and self.faq[matches[0].entry_id].kind == "eligibility"
        )

    @staticmethod
    def _guideline_number(a: Analyzed) -> int | None:
        m = _GUIDELINE_NUMBER.search(_digits(a.normalized))
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
        who = self.faq.get(WHO_ENTRY)
        if entry.kind == "eligibility" and who is not None and (body := self._named_body(turn.question)) is not None:
            answer = named_body_answer(self.kb, self.faq, turn, who, body)
        else:
            answer = entry_answer(self.kb, self.faq, turn, entry, score)
        return answer, self._remember(state, answer)

    def _no_year_info(
        self, turn: Turn, state: ConversationState, entry: FaqEntry | None, year: int
    ) -> tuple[Answer, ConversationState]:
        return other_year_answer(self.kb, turn, entry, year), state

    def _follow_up(self, turn: Turn, state: ConversationState, years: list) -> tuple[Answer, ConversationState] | None:
        """ "แล้วปี 67 ล่ะ" after a status answer, "แล้วแนวทางที่ 3 ล่ะ" after a guideline answer."""
        a = turn.question
        if state.last_kind is None or len(a.content) > FOLLOW_UP_MAX_TOKENS:
            return None
        if not (self.follow_up_cues.any(a) or self._only_year_or_number(a)):
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
        years = read_years(a.normalized, turn.today, normalized=True)
        if state.flow_step == guided.STEP_DESCRIBE:
            advice = self.advisor.advise(a)
            if not advice.any_aspect and not self.evidence.score(a) and self._looks_like_new_question(a, years):
                return None
            if years:
                return guided.finish(self.kb, turn, state, advice, years[0].year, assumed=False)
            return guided.ask_year(turn, state, a.raw)
        if state.flow_step == guided.STEP_YEAR:
            description = state.project_description or ""
            advice = self.advisor.advise(self.analyzer.analyze(description))
            if years:
                return guided.finish(self.kb, turn, state, advice, years[0].year, assumed=False)
            if any(w in a.normalized for w in _UNSURE):
                return guided.finish(self.kb, turn, state, advice, fiscal_year_of(turn.today) + 1, assumed=True)
            if self._looks_like_new_question(a, years):
                return None
            return guided.ask_year(turn, state, description)
        return None

    def _looks_like_new_question(self, a: Analyzed, years: list) -> bool:
        matches = self.index.search(a, limit=1)
        return bool(
            (matches and matches[0].score >= STRONG_MATCH)
            or self.status_cues.any(a)
            or self.help_cues.any(a)
            or self.out_of_scope_cues.any(a)
        )


def _calibrated(matches: list[Match]) -> float:
    """The score an answer's confidence comes from: a runner-up close behind means the question could be either,
    so a close call never reads as sure (at a lead of CALIBRATION_LEAD or more the score stands)."""
    best = matches[0].score
    if len(matches) < 2:
        return best
    lead = min(1.0, (best - matches[1].score) / CALIBRATION_LEAD)
    return best * (0.6 + 0.4 * lead)


_PARTICLE_AFTER_DIGIT = re.compile(r"(\d)(ค่ะ|ครับ|คะ)(?!\w)")

_NUMBER_WORDS = {"หนึ่ง": "1", "สอง": "2", "สาม": "3", "สี่": "4", "ห้า": "5", "one": "1", "two": "2", "three": "3"}
_RE_NUMBER_WORD = re.compile(r"(?<=แนวทางที่)\s?(หนึ่ง|สอง|สาม|สี่|ห้า)|(?<=guideline )(one|two|three)\b")


def _digits(text: str) -> str:
    """ "แนวทางที่สาม" -> "แนวทางที่3": guidelines named by a number word."""
    return _RE_NUMBER_WORD.sub(lambda m: _NUMBER_WORDS[m.group(m.lastindex or 0)], text)


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
