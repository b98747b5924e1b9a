"""The rule table: from what a message asks (the router's intent) and names (its slots), in the conversation
it continues (its frame), to the composer of the answer.

Rules are tried in order and the first whose `when` holds answers; its name becomes the Answer's `intent`
(`status.relative_year`, `fact.entry`, `status.why`). Every threshold is in `Thresholds`, so the whole order of
decisions reads here, top to bottom. A rule named "{topic}.*" answers that topic; a follow-up rule takes the
topic of the frame it follows ("status.why").
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.answer import Answer
from bot.answers.context import Turn
from bot.conversation import ConversationState
from bot.frames import Frame
from bot.router import Intent
from bot.slots import Slots

if TYPE_CHECKING:
    from bot.assistant import Assistant


@dataclass(frozen=True)
class Thresholds:
    answer: float = 45.0  # a knowledge match at or above answers with its entry
    suggest: float = 35.0  # between suggest and answer: "did you mean", up to 3 options
    clear_lead: float = 10.0  # ... unless the first option leads the second by this much
    strong: float = 65.0  # a match this good is the question, whatever else the message says
    override_oos: float = 85.0  # only a near-verbatim knowledge question outweighs an out-of-scope intent
    verbatim: float = 95.0  # a knowledge question asked word for word is that entry's ...
    verbatim_unless: float = 0.9  # ... unless the router is this sure of another kind of question
    act: float = 0.3  # a follow-up act is taken at this probability when a frame can carry it
    project_evidence: float = 2.0  # guideline keyword weight that makes a message a project description
    intent_doubt: float = 0.45  # below this the router is unsure: a strong knowledge match decides instead
    small_talk: float = 0.4  # small talk and help only this sure: "book me a flight" is neither
    calibration: float = 0.15  # an answer is at most this much surer than the router is of the question's kind


LIMITS = Thresholds()

Reply = tuple[Answer, ConversationState]


@dataclass(frozen=True)
class Decision:
    """Everything a rule may look at."""

    turn: Turn
    state: ConversationState
    intent: Intent
    slots: Slots
    assistant: Assistant

    @property
    def frame(self) -> Frame | None:
        return self.state.frame

    @property
    def label(self) -> str:
        return self.intent.label

    def is_(self, *labels: str) -> bool:
        return self.intent.label in labels

    def act(self, name: str) -> bool:
        """The router read this follow-up act, or gave it a fair chance, and there is a frame to carry it."""
        return self.frame is not None and (
            self.intent.label == f"act.{name}" or self.intent.p(f"act.{name}") >= LIMITS.act
        )

    def cue(self, name: str) -> bool:
        return name in self.slots.cues

    @property
    def time_kinds(self) -> frozenset[str]:
        return self.slots.evidence.time_kinds


@dataclass(frozen=True)
class Rule:
    name: str
    when: Callable[[Decision], bool]
    compose: Callable[[Decision], Reply]


# "ปีงบไหน", "which years": asking which year, not about one.
_WHICH_YEAR = re.compile(
    r"ปี(?:งบ(?:ประมาณ)?)?\s?(?:ไหน|ใด)|\bwhich (?:fiscal |budget )?years?\b|\bwhat (?:fiscal )?years\b"
)


def _relative(d: Decision) -> bool:
    return d.slots.asked is not None and d.slots.asked.kind.startswith("relative")


def _dated(d: Decision) -> bool:
    return d.slots.asked is not None and d.slots.asked.kind in ("date", "month", "span")


def _confident_entry(d: Decision) -> bool:
    return d.assistant.entry_is_clear(d)


def _strong_other(d: Decision) -> bool:
    """The router is unsure and a knowledge entry matches the message nearly word for word."""
    return d.intent.confidence < LIMITS.intent_doubt and d.slots.best >= LIMITS.strong


def rules() -> list[Rule]:
    """The table, in the order the rules are tried."""
    a = lambda d: d.assistant  # noqa: E731
    return [
        # Nothing to answer but a greeting, a sticker, an empty message.
        Rule("smalltalk.empty", lambda d: not d.turn.question.content, lambda d: a(d).compose_empty(d)),
        # Inside the guided project check, a message is the step's input unless it asks something new.
        Rule("guideline_fit.guided_step", lambda d: d.state.flow is not None, lambda d: a(d).compose_guided_step(d)),
        # Follow-up acts, against the frame of the last answer.
        Rule(
            "followup.pick",
            lambda d: d.frame is not None and bool(d.frame.options) and d.slots.pick is not None,
            lambda d: a(d).compose_pick(d),
        ),
        Rule(
            "followup.no_list",
            lambda d: d.is_("act.pick") and d.slots.pick is not None and not (d.frame and d.frame.options),
            lambda d: a(d).compose_no_list(d),
        ),
        Rule("followup.why", lambda d: d.act("why") and not d.slots.times, lambda d: a(d).compose_why(d)),
        Rule("followup.source", lambda d: d.act("source"), lambda d: a(d).compose_source(d)),
        Rule("followup.language", lambda d: d.act("language"), lambda d: a(d).compose_language(d)),
        Rule(
            "followup.yes",
            lambda d: (
                d.frame is not None
                and d.frame.offer is not None
                and (d.act("yes") or d.is_("subscribe"))
                and d.slots.pick is None
            ),
            lambda d: a(d).compose_yes(d),
        ),
        Rule(
            "followup.no",
            lambda d: d.frame is not None and d.frame.offer is not None and d.act("no"),
            lambda d: a(d).compose_no(d),
        ),
        Rule(
            "followup.correction",
            lambda d: d.act("correction") and a(d).has_new_slot(d),
            lambda d: a(d).compose_same_question(d, "correction"),
        ),
        Rule(
            "followup.what_about",
            lambda d: (d.act("what_about") or a(d).only_slot(d)) and a(d).has_new_slot(d),
            lambda d: a(d).compose_same_question(d, "what_about"),
        ),
        # A knowledge question asked (nearly) word for word: that entry, whatever the router leans to.
        Rule("entry.verbatim", lambda d: a(d).verbatim_entry(d) is not None, lambda d: a(d).compose_verbatim(d)),
        # Kinds of question.
        # "ตรวจโครงการ", "check my project": the guided check, asked for by name.
        Rule(
            "guideline_fit.check_project",
            lambda d: (
                d.cue("guided")
                and not a(d).describes_project(d)
                and not d.is_("status", "subscribe", "unsubscribe", "help")
            ),
            lambda d: a(d).compose_guided_start(d),
        ),
        Rule(
            "out_of_scope.term",
            lambda d: (
                d.cue("out_of_scope")
                and not d.cue("domain")
                and d.slots.best < LIMITS.override_oos
                and d.intent.label not in ("subscribe", "unsubscribe")
            ),
            lambda d: a(d).compose_out_of_scope(d),
        ),
        Rule(
            "out_of_scope.topic",
            lambda d: d.is_("out_of_scope") and d.slots.best < LIMITS.override_oos,
            lambda d: a(d).compose_out_of_scope(d),
        ),
        Rule("unsubscribe.request", lambda d: d.is_("unsubscribe"), lambda d: a(d).compose_unsubscribe(d)),
        Rule("subscribe.request", lambda d: d.is_("subscribe"), lambda d: a(d).compose_subscribe(d)),
        Rule(
            "help.request",
            lambda d: d.is_("help") and not _strong_other(d) and d.intent.confidence >= LIMITS.small_talk,
            lambda d: a(d).compose_help(d),
        ),
        Rule(
            "smalltalk.reply",
            lambda d: d.is_("smalltalk") and not _strong_other(d) and d.intent.confidence >= LIMITS.small_talk,
            lambda d: a(d).compose_small_talk(d),
        ),
        Rule(
            "status.open_years",
            lambda d: (
                d.is_("status", "calendar")
                and not d.slots.times
                and (
                    d.cue("calendar_open")
                    or d.is_("status")
                    and _WHICH_YEAR.search(d.turn.question.normalized) is not None
                )
            ),
            lambda d: a(d).compose_open_years(d),
        ),
        Rule("calendar.date", lambda d: d.is_("calendar") and _dated(d), lambda d: a(d).compose_calendar_date(d)),
        Rule(
            "calendar.months",
            lambda d: d.is_("calendar") and (d.cue("calendar_months") or bool(d.slots.times) and not _relative(d)),
            lambda d: a(d).compose_calendar_months(d),
        ),
        Rule("calendar.now", lambda d: d.is_("calendar"), lambda d: a(d).compose_calendar_now(d)),
        Rule(
            "status.several_years",
            lambda d: d.is_("status") and len(d.slots.years) > 1 and d.slots.joined and d.slots.times[0].kind != "span",
            lambda d: a(d).compose_status_years(d),
        ),
        Rule("status.relative_year", lambda d: d.is_("status") and _relative(d), lambda d: a(d).compose_status(d)),
        Rule("status.date", lambda d: d.is_("status") and _dated(d), lambda d: a(d).compose_status(d)),
        Rule("status.year", lambda d: d.is_("status") and bool(d.slots.times), lambda d: a(d).compose_status(d)),
        Rule("status.no_year", lambda d: d.is_("status"), lambda d: a(d).compose_status(d)),
        Rule(
            "guideline_info.compare",
            lambda d: d.is_("guideline_info") and len(d.slots.guidelines) > 1,
            lambda d: a(d).compose_guideline_compare(d),
        ),
        Rule(
            "guideline_info.number",
            lambda d: d.is_("guideline_info") and len(d.slots.guidelines) == 1,
            lambda d: a(d).compose_guideline_number(d),
        ),
        Rule(
            "guideline_fit.ask_project",
            lambda d: d.is_("guideline_fit") and not a(d).describes_project(d),
            lambda d: a(d).compose_guided_start(d),
        ),
        Rule("guideline_fit.project", lambda d: d.is_("guideline_fit"), lambda d: a(d).compose_guideline_fit(d)),
        Rule(
            "eligibility.body",
            lambda d: d.is_("eligibility") and d.slots.body is not None,
            lambda d: a(d).compose_named_body(d),
        ),
        Rule("eligibility.who", lambda d: d.is_("eligibility"), lambda d: a(d).compose_eligibility(d)),
        Rule(
            "guideline_info.described",
            lambda d: d.is_("guideline_info") and not a(d).guideline_entry_matches(d) and bool(d.slots.advice.fits),
            lambda d: a(d).compose_guideline_described(d),
        ),
        Rule(
            "guideline_info.overview",
            lambda d: d.is_("guideline_info") and not a(d).guideline_entry_matches(d),
            lambda d: a(d).compose_guideline_overview(d),
        ),
        # A fact of the sources: the knowledge entry that matches, honestly about what it does not cover. These
        # rules serve every topic an entry can answer: "{topic}" is the router's (fact, guideline_info,
        # eligibility).
        Rule("{topic}.premise_false", lambda d: a(d).contradicts(d) is not None, lambda d: a(d).compose_premise(d)),
        Rule("{topic}.other_year", lambda d: a(d).other_year(d), lambda d: a(d).compose_other_year(d)),
        Rule("{topic}.missing_detail", lambda d: a(d).missing_detail(d) is not None, lambda d: a(d).compose_missing(d)),
        Rule("{topic}.entry", _confident_entry, lambda d: a(d).compose_entry(d)),
        Rule(
            "{topic}.did_you_mean",
            lambda d: d.slots.best >= LIMITS.suggest and d.is_("fact", "guideline_info", "eligibility"),
            lambda d: a(d).compose_did_you_mean(d),
        ),
        Rule(
            "fact.year_not_given",
            lambda d: any(not t.how.endswith("no_year") for t in d.slots.times) and d.is_("fact"),
            lambda d: a(d).compose_no_year_info(d),
        ),
        Rule("{topic}.not_in_sources", lambda d: d.is_("fact", "guideline_info"), lambda d: a(d).compose_not_given(d)),
        Rule("out_of_scope.fallback", lambda d: True, lambda d: a(d).compose_out_of_scope(d)),
    ]
