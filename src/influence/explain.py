"""Why a person scored as they did: Saabas path contributions turned into a few plain-language reasons.

Contributions come from the model itself (`fastpath.FastForest.contributions`): for every tree, the change of the
expected margin along the person's decision path is credited to the split feature, so contributions plus the
bias add up exactly to the raw margin (log-odds for the influence model, the class score for the profile model).

`top_reasons` picks the largest contributions by absolute value and renders each with the feature's template in
`REASON_TEMPLATES`. Every feature has a positive wording (it raised the score) and a negative one (it lowered
it), filled with the person's actual values ("attended 9 of 10 meetings", "others reply within an hour"), and no
pronouns. A value that is undefined (NaN, e.g. a reply time when nobody replied) has its own wording. Features
whose value carries no direction of its own (deal context) say which way they moved the estimate.
"""

from __future__ import annotations

import dataclasses
import math
import string
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

__all__ = [
    "REASON_TEMPLATES",
    "Reason",
    "RowContext",
    "Template",
    "render_reason",
    "render_reasons",
    "template_for",
    "top_features",
    "top_reasons",
]

_RAISES = "which raises the estimate"
_LOWERS = "which lowers the estimate"


@dataclass(frozen=True)
class Reason:
    """One explanation: the feature, the person's value, its contribution (margin units) and the sentence."""

    feature: str
    value: float
    contribution: float
    direction: int  # +1 raised the score, -1 lowered it
    text: str


class _Fields(dict):
    """Format fields for a template: the value in several shapes, plus the row's other features and text."""

    def __init__(self, value: float, context: Mapping[str, Any], positive: bool) -> None:
        super().__init__()
        self.value = value
        self.context = context
        self.positive = positive

    def __missing__(self, key: str) -> Any:
        v = self.value
        if key == "n":
            return _count(v)
        if key == "v":
            return _number(v)
        if key == "pct":
            return f"{round(100 * v)}%"
        if key == "hours":
            return _hours(v)
        if key == "duration":
            return _duration_h(v)
        if key == "people":
            return "person" if _finite(v) and round(float(v)) == 1 else "people"
        if key == "s":
            return "" if _finite(v) and round(float(v)) == 1 else "s"
        if key == "days":
            return _days(abs(v))
        if key == "effect":
            return _RAISES if self.positive else _LOWERS
        if key == "meetings":
            return _count(self.context.get("ctx_deal_meetings", math.nan))
        if key == "share_of_meetings":
            total = self.context.get("ctx_deal_meetings", math.nan)
            return (
                f"{round(v * total)} of {_count(total)}"
                if _finite(total) and total > 0
                else f"{round(100 * v)}%"
            )
        if key == "title":
            title = self.context.get("title")
            return f": {title}" if isinstance(title, str) and title.strip() else ""
        if key in self.context:
            return _number(self.context[key])
        raise KeyError(key)


def _is_zero(x: Any) -> bool:
    return _finite(x) and float(x) == 0


def _finite(x: Any) -> bool:
    try:
        return math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def _count(x: Any) -> str:
    return str(round(float(x))) if _finite(x) else "?"


def _number(x: Any) -> str:
    if not _finite(x):
        return "?"
    x = float(x)
    return str(round(x)) if abs(x - round(x)) < 1e-9 else f"{x:.2f}".rstrip("0").rstrip(".")


def _hours(h: float) -> str:
    if h < 1:
        return "within an hour"
    if h < 24:
        return f"within {math.ceil(h)} hours"
    days = h / 24
    return f"after {days:.0f} day{'s' if round(days) != 1 else ''}"


def _duration_h(h: float) -> str:
    if h < 1:
        return "under an hour"
    if h < 48:
        return f"{math.ceil(h)} hours"
    return f"{h / 24:.0f} days"


def _days(d: float) -> str:
    if d < 1:
        return "less than a day"
    if d < 14:
        return f"{d:.0f} day{'s' if round(d) != 1 else ''}"
    if d < 60:
        return f"{d / 7:.0f} weeks"
    return f"{d / 30.4:.0f} months"


@dataclass(frozen=True)
class Template:
    """Positive and negative wording of one feature, plus optional wordings for 0 and for NaN.

    Strings are `str.format` templates over `_Fields`: {n} count, {v} number, {pct} percent, {hours}/{days}
    durations, {meetings} the deal's meeting count, {share_of_meetings} "9 of 10", {title} ": <title>",
    {effect} "which raises/lowers the estimate", and any other feature of the row by name. A `zero` or
    `missing` given as one string is direction-neutral and gets {effect} appended; a pair is (positive, negative).
    """

    positive: str
    negative: str
    zero: str | tuple[str, str] | None = None
    missing: str | tuple[str, str] | None = None
    render: Callable[[float, Mapping[str, Any], bool], str] | None = None
    # The context entries `render` reads besides the value (None: unknown, so `render_reasons` cannot reuse one
    # rendering for other rows with the same value and must call it for every row).
    reads: tuple[str, ...] | None = None
    # Wordings that describe which side of a natural neutral point the value is on ("central" / "peripheral" at
    # 1x the average): chosen by the value, not by the contribution's sign, with {effect} appended when the two
    # disagree, so a 0.94x person is never called "central" because being there happened to raise the score.
    pivot: float | None = None
    # A deal-level count the feature is about ("ctx_deal_emails"): when the person's deal has none of it, the
    # feature's value says nothing about the person ("e-mailed by nobody while others are" in a deal without
    # e-mail), so the sentence says the deal has none instead (see `_ABSENT`).
    needs: str | None = None

    def text(
        self,
        value: float,
        context: Mapping[str, Any],
        positive: bool,
        feature: str = "value",
        typical: float | None = None,
    ) -> str:
        if self.needs is not None and _is_zero(context.get(self.needs)):
            return f"{_ABSENT[self.needs]}, {_RAISES if positive else _LOWERS}"
        if self.render is not None:
            return self.render(value, context, positive)
        if self.pivot is not None and _finite(value) and not (value == 0 and self.zero is not None):
            high = value >= self.pivot
            wording = self.positive if high else self.negative
            if high != positive:
                # "only 20% of pairs ..., which raises the estimate" reads as a contradiction: the value as is.
                wording = wording.replace("only ", "")
                if "{effect}" not in wording:
                    wording += ", {effect}"
            return wording.format_map(_Fields(value, context, positive))
        # "More is more" wordings ("sent 12 e-mails" / "sent only 2 e-mails") only fit values on the expected
        # side of typical; a high value that lowered the score, or a low one that raised it, is described as is
        # and the direction said explicitly.
        unexpected = typical is not None and (
            (not positive and value > typical) or (positive and value < typical)
        )
        if unexpected and _finite(value) and value != 0 and "only " in self.negative:
            return (self.positive + ", {effect}").format_map(_Fields(value, context, positive))
        if not _finite(value):
            chosen: str | tuple[str, str] = (
                self.missing if self.missing is not None else feature.replace("_", " ") + " undefined"
            )
        elif value == 0 and self.zero is not None:
            chosen = self.zero
        else:
            chosen = (self.positive, self.negative)
        pos, neg = chosen if isinstance(chosen, tuple) else (chosen, chosen)
        if value == 0 and self.zero is None and "{effect}" not in pos:
            # "0% of meetings are technical" does not say whether that helped: say it.
            pos, neg = pos + ", {effect}", neg + ", {effect}"
        if pos == neg and "{effect}" not in pos:
            # The same words either way would hide the direction; say it.
            pos = neg = pos + ", {effect}"
        return (pos if positive else neg).format_map(_Fields(value, context, positive))


def _t(
    positive: str, negative: str, zero: Any = None, missing: Any = None, pivot: float | None = None
) -> Template:
    return Template(positive, negative, zero, missing, pivot=pivot)


_NO_MEETING = "attended no meeting"

# What a reason says when the person's deal has none of what the feature counts (Template.needs).
_ABSENT = {
    "ctx_deal_emails": "no e-mail on record for this deal",
    "ctx_deal_meetings": "no meeting on record for this deal",
}


def _centrality(
    high: str, low: str, near: str, neutral: str, zero: str | None = None, missing: str | None = None
) -> Template:
    """Wording of a ratio to the average (1 = an average person) that follows the value: `high` ("central") only
    from 1.5x, `low` ("peripheral") only up to 2/3x, `near` ("about as central as an average person") from 0.8x
    to 1.25x, and plain comparatives between. An evaluative word whose side disagrees with the contribution
    ("peripheral" that raised the score) reads as a contradiction, so then the value is given as is (`neutral`)
    with the direction. {v} is the ratio; `zero` and `missing` are direction-neutral."""

    def render(value: float, context: Mapping[str, Any], positive: bool) -> str:
        effect = _RAISES if positive else _LOWERS
        if not _finite(value):
            return f"{missing}, {effect}"
        if value == 0 and zero is not None:
            return f"{zero}, {effect}"
        shown = {"v": "under 0.01" if 0 < value < 0.005 else _number(value)}
        if 0.8 <= value < 1.25:
            return f"{near.format_map(shown)}, {effect}"
        if (value >= 1.25) != positive:
            return f"{neutral.format_map(shown)}, {effect}"
        if value >= 1.5:
            return high.format_map(shown)
        if value <= 2 / 3:
            return low.format_map(shown)
        more = "more" if value >= 1.25 else "less"
        return (
            near.replace("about as", f"somewhat {more}")
            .replace(" as an average", " than an average")
            .format_map(shown)
        )

    return Template("", "", render=render, reads=())


def _graph_templates(prefix: str, scope: str) -> dict[str, Template]:
    """Network features exist per deal (net_) and per account (acct_); the wording differs only by scope."""
    s = scope
    return {
        f"{prefix}_degree": _t(
            f"in touch with {{n}} {{people}}{s}",
            f"in touch with only {{n}} {{people}}{s}",
            (f"no ties yet{s}", f"no ties{s}"),
        ),
        f"{prefix}_in_strength_share": _t(
            f"receives {{pct}} of all e-mail traffic{s}",
            f"receives only {{pct}} of the e-mail traffic{s}",
            ("receives none of the e-mail traffic" + s, "receives none of the e-mail traffic" + s),
        ),
        f"{prefix}_pagerank": _centrality(
            f"central in the communication network{s} ({{v}}x an average person)",
            f"peripheral in the communication network{s} ({{v}}x an average person)",
            f"about as central as an average person in the communication network{s} ({{v}}x)",
            f"{{v}}x an average person's centrality in the communication network{s}",
            zero=f"outside the communication network{s}",
            missing=f"centrality in the communication network{s} unknown",
        ),
        f"{prefix}_constraint": _t(
            # No neutral point: the scale is said instead of a side (0 = broker, 1 = one closed group).
            f"network constraint {{v}}{s} (0 = a broker between groups, 1 = one closed group), {{effect}}",
            f"network constraint {{v}}{s} (0 = a broker between groups, 1 = one closed group), {{effect}}",
            missing=f"no ties to measure brokerage{s}",
        ),
        f"{prefix}_brokerage": _t(
            f"bridges people who do not talk to each other{s} ({{pct}} of contact pairs)",
            f"contacts mostly know each other{s} (only {{pct}} of pairs unconnected)",
            missing=f"fewer than 2 contacts{s}",
            pivot=0.5,
        ),
        f"{prefix}_hops_to_seller": _t(
            f"{{n}} hop(s) from our team{s}, {{effect}}",
            f"{{n}} hop(s) from our team{s}, {{effect}}",
            missing=f"no seller contact in the data{s}",
        ),
    }


REASON_TEMPLATES: dict[str, Template] = {
    # -- meetings
    "mtg_invited": _t(
        "invited to {n} of the deal's {meetings} meetings",
        "invited to only {n} of the deal's {meetings} meetings",
        ("invited to no meeting", "invited to no meeting"),
    ),
    "mtg_attended": _t(
        "attended {n} of the deal's {meetings} meetings",
        "attended only {n} of the deal's {meetings} meetings",
        (_NO_MEETING + " (typical of people who decide in the background)", _NO_MEETING),
    ),
    "mtg_attended_share": _t(
        "attends {share_of_meetings} meetings",
        "attends only {share_of_meetings} meetings",
        (_NO_MEETING + " (typical of people who decide in the background)", _NO_MEETING),
    ),
    "mtg_organised": _t(
        "organised {n} meeting(s) of the deal",
        "organised only {n} meeting(s)",
        ("organised no meeting", "organised no meeting"),
    ),
    "mtg_attended_early": _t(
        "attended {n} meeting(s) early in the deal",
        "attended only {n} meeting(s) early in the deal",
        ("not in the early meetings", "not in the early meetings"),
    ),
    "mtg_attended_late": _t(
        "attended {n} meeting(s) late in the deal, when decisions are made",
        "attended only {n} meeting(s) late in the deal",
        ("not in the late-stage meetings", "not in the late-stage meetings"),
    ),
    "mtg_late_share": _t(
        "{pct} of attended meetings were in the deal's second half",
        "only {pct} of attended meetings were in the deal's second half",
        missing=_NO_MEETING,
    ),
    "mtg_resp_accepted_share": _t(
        "accepts {pct} of meeting invitations",
        "accepts only {pct} of meeting invitations",
        missing="never invited to a meeting",
    ),
    "mtg_resp_declined_share": _t(
        "declines {pct} of meeting invitations (can afford to)",
        "declines {pct} of meeting invitations",
        missing="never invited to a meeting",
    ),
    "mtg_resp_tentative_share": _t(
        "answers {pct} of invitations 'tentative'",
        "answers {pct} of invitations 'tentative'",
        missing="never invited to a meeting",
    ),
    "mtg_resp_none_share": _t(
        "leaves {pct} of invitations unanswered",
        "leaves {pct} of invitations unanswered",
        missing="never invited to a meeting",
    ),
    "mtg_senior_coattend_share": _t(
        "{pct} of attended meetings include a director or above",
        "only {pct} of attended meetings include a director or above",
        missing=_NO_MEETING,
    ),
    "mtg_technical_share": _t(
        "{pct} of attended meetings are technical (demo, PoC, ...)",
        "only {pct} of attended meetings are technical",
        missing=_NO_MEETING,
    ),
    "mtg_executive_share": _t(
        "{pct} of attended meetings are executive or negotiation meetings",
        "only {pct} of attended meetings are executive or negotiation meetings",
        missing=_NO_MEETING,
    ),
    "mtg_size_mean": _t(
        "attends meetings of {v} people on average, {effect}",
        "attends meetings of {v} people on average, {effect}",
        missing=_NO_MEETING,
    ),
    # -- e-mail
    "em_sent": _t(
        "sent {n} e-mail{s} in the deal", "sent only {n} e-mail{s}", ("sent no e-mail", "sent no e-mail")
    ),
    "em_received": _t(
        "received {n} e-mail{s} in the deal",
        "received only {n} e-mail{s}",
        ("received no e-mail", "received no e-mail"),
    ),
    "em_received_cc": _t(
        "kept in cc on {n} e-mail{s}", "in cc on only {n} e-mail{s}", ("never in cc", "never in cc")
    ),
    "em_cc_by_senior": _t(
        "senior people cc this person ({n} e-mail{s})",
        "cc'd by senior people only {n} time(s)",
        ("never cc'd by a senior person", "never cc'd by a senior person"),
    ),
    "em_threads_share": _t(
        "in {pct} of the deal's e-mail threads",
        "in only {pct} of the deal's e-mail threads",
        ("in none of the deal's e-mail threads", "in none of the deal's e-mail threads"),
    ),
    "em_threads_started": _t(
        "started {n} e-mail thread(s)",
        "started only {n} e-mail thread(s)",
        ("started no thread", "started no thread"),
    ),
    "em_replies_received": _t(
        "others replied {n} time{s} to this person's e-mails",
        "others replied only {n} time{s} to this person's e-mails",
        ("nobody replied to this person's e-mails", "no replies to this person's e-mails"),
    ),
    "em_replies_given": _t(
        "replied {n} time{s} to others",
        "replied only {n} time{s} to others",
        ("never replied", "never replied"),
    ),
    "em_latency_received_h": _t(
        "others reply {hours}",
        "others take {duration} to reply",
        missing=("no replies from others yet", "no replies from others yet"),
    ),
    "em_latency_given_h": _t(
        "replies to others {hours}, {effect}",
        "replies to others {hours}, {effect}",
        missing="has not replied to anyone",
    ),
    "em_latency_log_ratio": Template("", "", render=lambda v, c, pos: _latency_ratio(v, pos), reads=()),
    "em_fan_out": _t(
        "e-mailed {n} different people", "e-mailed only {n} {people}", ("e-mailed nobody", "e-mailed nobody")
    ),
    "em_fan_in": _t(
        "e-mailed by {n} different people",
        "e-mailed by only {n} {people}",
        ("e-mailed by nobody", "e-mailed by nobody"),
    ),
    # -- network (deal and account graphs)
    **_graph_templates("net", ""),
    **_graph_templates("acct", " across the account's deals"),
    "net_dept_count": _t(
        "in touch with {n} departments",
        "in touch with only {n} department(s)",
        ("no known departments in touch",) * 2,
    ),
    "net_cross_dept_share": _t(
        "{pct} of ties reach other departments",
        "only {pct} of ties reach other departments",
        missing="departments unknown",
    ),
    "net_seller_tie_share": _t(
        "{pct} of ties are with our team, {effect}",
        "{pct} of ties are with our team, {effect}",
        missing="no ties yet",
    ),
    # -- title
    "title_seniority": Template("", "", render=lambda v, c, pos: _seniority(v, c, pos), reads=("title",)),
    "title_missing": _t(
        "no title on record, {effect}", "no title on record, {effect}", zero="has a title on record"
    ),
    "title_assistant": _t(
        "assistant role{title}, {effect}", "assistant role{title}", zero="not an assistant role"
    ),
    "title_technical": _t(
        "technical role{title}", "technical role{title}, {effect}", zero="not a technical role"
    ),
    # -- digital signals
    "sig_before_contact": _t(
        "{n} digital signal{s} (web visits, downloads, ...) before our first contact",
        "only {n} digital signal{s} before our first contact",
        ("no digital research on record before our first contact",) * 2,
    ),
    "sig_kinds_before_contact": _t(
        "{n} kind{s} of digital research before our first contact",
        "only {n} kind(s) of digital research before our first contact",
        ("no digital research on record before our first contact",) * 2,
    ),
    "sig_days_first_to_contact": _t(
        "first active online {days} before our first contact",
        "first active online only {days} before our first contact",
        zero=(
            "first active online on the day of our first contact",
            "first active online only on the day of our first contact",
        ),
        missing="no online activity on record before our first contact",
    ),
    "sig_in_deal": _t(
        "{n} digital signal{s} during the deal",
        "only {n} digital signal{s} during the deal",
        ("no digital signals on record during the deal",) * 2,
    ),
    # -- external
    "ext_external": _t(
        "external to the buyer (partner or advisor), {effect}",
        "external to the buyer (partner or advisor), {effect}",
        zero="works for the buyer",
        missing="affiliation unknown (no e-mail domain)",
    ),
    # -- history with the account
    "hist_account_deals": _t(
        "the account has {n} earlier deal{s}, {effect}",
        "the account has {n} earlier deal{s}, {effect}",
        zero="first deal with this account",
    ),
    "hist_deals": _t(
        "involved in {n} earlier deal(s) with us",
        "involved in only {n} earlier deal(s)",
        ("not involved in earlier deals", "not involved in earlier deals"),
    ),
    "hist_meetings": _t(
        "invited to {n} meeting(s) in earlier deals",
        "invited to only {n} meeting(s) in earlier deals",
        ("in no meeting of earlier deals", "in no meeting of earlier deals"),
    ),
    "hist_emails": _t(
        "{n} e-mail{s} in earlier deals",
        "only {n} e-mail{s} in earlier deals",
        ("no e-mail in earlier deals", "no e-mail in earlier deals"),
    ),
    # -- timing
    "first_seen_days": Template("", "", render=lambda v, c, pos: _first_seen(v, pos), reads=()),
    "first_seen_position": _t(
        "appeared {pct} into the deal, {effect}",
        "appeared {pct} into the deal, {effect}",
        zero=("involved from the very start", "involved from the very start"),
        missing="not seen in the deal's events",
    ),
    # -- relative to the deal's most active person
    "rel_mtg_attended": _t(
        "attends {pct} as many meetings as the deal's most present person",
        "attends only {pct} as many meetings as the deal's most present person",
        ("attends no meeting while others do", "attends no meeting while others do"),
    ),
    "rel_em_sent": _t(
        "sends {pct} as many e-mails as the deal's most active sender",
        "sends only {pct} as many e-mails as the deal's most active sender",
        ("sends no e-mail while others do", "sends no e-mail while others do"),
    ),
    "rel_em_received": _t(
        "receives {pct} as many e-mails as the deal's most addressed person",
        "receives only {pct} as many e-mails as the deal's most addressed person",
        ("receives no e-mail while others do", "receives no e-mail while others do"),
    ),
    "rel_em_fan_in": _t(
        "e-mailed by {pct} as many people as the deal's most contacted person",
        "e-mailed by only {pct} as many people as the deal's most contacted person",
        ("e-mailed by nobody while others are", "e-mailed by nobody while others are"),
    ),
    "rel_net_degree": _t(
        "has {pct} as many contacts as the deal's best-connected person",
        "has only {pct} as many contacts as the deal's best-connected person",
        ("no contacts in the deal while others have some",) * 2,
    ),
    "rel_net_pagerank": _t(
        "{pct} as central as the deal's most central person",
        "only {pct} as central as the deal's most central person",
        ("outside the deal's network", "outside the deal's network"),
    ),
    # -- deal context (no direction of its own)
    "ctx_deal_people": _t(
        "{n} {people} active in the deal, {effect}", "{n} {people} active in the deal, {effect}"
    ),
    "ctx_deal_meetings": _t(
        "the deal had {n} meeting{s} so far, {effect}", "the deal had {n} meeting{s} so far, {effect}"
    ),
    "ctx_deal_emails": _t(
        "the deal had {n} e-mail{s} so far, {effect}", "the deal had {n} e-mail{s} so far, {effect}"
    ),
    "ctx_deal_age_days": _t("the deal is {days} old, {effect}", "the deal is {days} old, {effect}"),
    "ctx_deal_has_seller": _t(
        "our team is present in the deal, {effect}",
        "our team is present in the deal, {effect}",
        zero="no seller activity recorded in the deal",
    ),
}

_FUNCTION_WORDS = {
    "executive": "executive management",
    "finance": "finance",
    "procurement": "procurement",
    "it": "IT",
    "engineering": "engineering",
    "operations": "operations",
    "sales": "sales",
    "marketing": "marketing",
    "hr": "HR",
    "legal": "legal",
    "data": "data",
    "security": "security",
    "product": "product",
    "other": "another function",
}
_LEVEL_WORDS = {
    0: "no recognisable seniority",
    1: "entry-level",
    2: "professional-level",
    3: "senior / team-lead",
    4: "manager-level",
    5: "director / VP-level",
    6: "executive / board-level",
}


def _seniority(value: float, context: Mapping[str, Any], positive: bool) -> str:
    title = context.get("title")
    shown = f": {title}" if isinstance(title, str) and title.strip() else ""
    if not _finite(value):
        return "seniority unknown, " + (_RAISES if positive else _LOWERS)
    level = int(round(value))
    words = _LEVEL_WORDS.get(level, f"seniority {level}")
    if level == 0:
        return f"no recognisable seniority in the title{shown}, " + (_RAISES if positive else _LOWERS)
    if positive and level >= 4:
        return f"senior title{shown} ({words})"
    if not positive and level < 4:
        return f"{words} title{shown} (not senior)"
    return f"{words} title{shown}, " + (_RAISES if positive else _LOWERS)


def _first_seen(value: float, positive: bool) -> str:
    if not _finite(value):
        return "not seen in the deal's events, " + (_RAISES if positive else _LOWERS)
    if value <= -1:
        timing = f"first active {_days(-value)} before the deal opened"
    elif value < 1:
        timing = "involved from the day the deal opened"
    else:
        timing = f"first appeared {_days(value)} after the deal opened"
    return f"{timing}, " + (_RAISES if positive else _LOWERS)


for _fn, _word in _FUNCTION_WORDS.items():
    REASON_TEMPLATES[f"title_fn_{_fn}"] = _t(
        f"works in {_word}{{title}}, {{effect}}",
        f"works in {_word}{{title}}, {{effect}}",
        zero=f"does not work in {_word}",
    )


def _speed_vs_deal(subject: str, faster: str, slower: str) -> Callable[[float, Mapping[str, Any], bool], str]:
    """Wording of a reply time relative to the deal's median reply time (a log ratio: < 0 = faster)."""

    def render(value: float, context: Mapping[str, Any], positive: bool) -> str:
        effect = _RAISES if positive else _LOWERS
        if not _finite(value):
            return f"no reply times to compare with the deal's usual pace, {effect}"
        if abs(value) < 0.05:
            return f"{subject} at the deal's usual pace, {effect}"
        factor = math.exp(min(abs(value), 10.0))
        shown = "over 100x" if factor > 100 else f"{factor:.1f}x"
        return f"{subject} {faster if value < 0 else slower} than usual in the deal ({shown}), {effect}"

    return render


_PCT_MISSING = "nobody else active in the deal to compare with"


def _latency_ratio(value: float, positive: bool) -> str:
    """`em_latency_log_ratio` = log((1 + hours to answer others) / (1 + hours others take)), as a factor: the
    log itself would read as a negative "ratio"."""
    effect = _RAISES if positive else _LOWERS
    if not _finite(value):
        return f"no reply times to compare in both directions (needs replies given and received), {effect}"
    factor = math.exp(min(abs(value), 20.0))  # a log ratio of hours: e^20 is far beyond any real pair
    if factor < 1.25:
        return f"answers others about as fast as they answer, {effect}"
    times = f"{factor:.0f}x" if factor >= 3 else f"{factor:.1f}x"
    if value > 0:  # others answer faster: the pattern of someone whose input is awaited
        text = f"others answer about {times} faster than this person does"
        return text if positive else f"{text}, {effect}"
    text = f"answers others about {times} faster than they answer"
    return text if not positive else f"{text}, {effect}"


def _pct(what: str) -> Template:
    """Within-deal percentile features: 'ranks above N% of the deal's other people by <what>'; the top and the
    bottom read as such ("ranks first", not "ranks above 100%")."""

    def render(value: float, context: Mapping[str, Any], positive: bool) -> str:
        effect = _RAISES if positive else _LOWERS
        if not _finite(value):
            return f"{_PCT_MISSING}, {effect}"
        if round(100 * value) >= 100:
            return f"ranks first among the deal's people by {what}" + ("" if positive else f", {effect}")
        if value == 0:
            return f"the lowest of the deal's people by {what}, {effect}"
        # Worded by the value's side of the middle (like `Template.pivot`), the direction said when they disagree.
        high = value >= 0.5
        # "only" with a raised score would read as a contradiction: then the value as is, with the direction.
        only = "only " if not high and not positive else ""
        text = f"ranks above {only}{round(100 * value)}% of the deal's other people by {what}"
        return text if high == positive else f"{text}, {effect}"

    return Template("", "", render=render, reads=())


# Features added for hidden-influencer recall (issue #3): relative, scale-free and reply-aware measures.
REASON_TEMPLATES.update(
    {
        "mtg_technical_attended_share": _t(
            "attended {pct} of the deal's technical meetings",
            "attended only {pct} of the deal's technical meetings",
            ("attended none of the deal's technical meetings",) * 2,
            missing="the deal has no technical meetings",
        ),
        "mtg_executive_attended_share": _t(
            "attended {pct} of the deal's executive meetings",
            "attended only {pct} of the deal's executive meetings",
            ("attended none of the deal's executive meetings",) * 2,
            missing="the deal has no executive meetings",
        ),
        "em_replied_share": _t(
            "others answered {pct} of this person's e-mails",
            "others answered only {pct} of this person's e-mails",
            ("nobody answered this person's e-mails", "nobody answered this person's e-mails"),
            missing="no answered e-mails to judge by (nothing sent, or no replies captured in the deal)",
        ),
        "em_latency_received_rel": Template(
            "", "", render=_speed_vs_deal("others answer this person", "faster", "more slowly"), reads=()
        ),
        "em_latency_given_rel": Template(
            "", "", render=_speed_vs_deal("answers others", "faster", "more slowly"), reads=()
        ),
        "net_cc_weighted": _t(
            "kept in cc by central people (weighted count {v})",
            "rarely kept in cc by central people (weighted count {v})",
            ("never in cc", "never in cc"),
        ),
        "mtg_organised_share": _t(
            "organised {pct} of the meetings this person was in",
            "organised only {pct} of the meetings this person was in",
            ("organised none of the meetings this person was in",) * 2,
            missing="never invited to a meeting",
        ),
        "net_cc_sender_rank": _centrality(
            "copied in by central people ({v}x the average centrality)",
            "copied in by peripheral people ({v}x the average centrality)",
            "copied in by people about as central as an average person ({v}x)",
            "copied in by people at {v}x the average centrality",
            missing="never in cc",
        ),
        "last_seen_position": _t(
            "last active {pct} into the deal, {effect}",
            "last active {pct} into the deal, {effect}",
            zero=("last active at the very start of the deal",) * 2,
            missing="not seen in the deal's events",
        ),
        "hist_deals_share": _t(
            "involved in {pct} of the account's earlier deals",
            "involved in only {pct} of the account's earlier deals",
            ("not involved in the account's earlier deals",) * 2,
            missing="first deal with this account",
        ),
        "pct_net_pagerank": _pct("centrality in the deal's network"),
        "pct_acct_pagerank": _pct("centrality across the account's deals"),
        "pct_net_in_strength": _pct("e-mail traffic received"),
        "pct_em_fan_in": _pct("number of people writing to them"),
        "pct_em_received": _pct("e-mails received"),
        "pct_mtg_invited": _pct("meeting invitations"),
        "pct_net_cc_weighted": _pct("copies from central people"),
        # Distinct-contact network measures (a heavy pair cannot make a person central).
        "net_pagerank_distinct": _centrality(
            "central among distinct contacts in the deal ({v}x an average person)",
            "peripheral among distinct contacts in the deal ({v}x an average person)",
            "about as central as an average person among distinct contacts in the deal ({v}x)",
            "{v}x an average person's centrality among distinct contacts in the deal",
            zero="no contacts in the deal's network",
            missing="centrality among distinct contacts unknown",
        ),
        "net_top_tie_share": _t(
            "{pct} of this person's ties go to one contact, {effect}",
            "{pct} of this person's ties go to one contact, {effect}",
            missing="no ties to measure",
        ),
        "pct_net_degree": _pct("number of distinct contacts"),
        "pct_net_pagerank_distinct": _pct("centrality among distinct contacts"),
    }
)


# Features about e-mail or meetings in the person's deal: a deal without any says so instead (Template.needs).
# The account-wide features (acct_*, hist_*) are not: other deals of the account may have them.
_EMAIL_FEATURES = (
    "em_",
    "rel_em_",
    "pct_em_",
    "net_in_strength_share",
    "pct_net_in_strength",
    "net_cc_",
    "pct_net_cc_",
)
_MEETING_FEATURES = ("mtg_", "rel_mtg_", "pct_mtg_")
for _name, _template in list(REASON_TEMPLATES.items()):
    if _name.startswith(_EMAIL_FEATURES):
        REASON_TEMPLATES[_name] = dataclasses.replace(_template, needs="ctx_deal_emails")
    elif _name.startswith(_MEETING_FEATURES):
        REASON_TEMPLATES[_name] = dataclasses.replace(_template, needs="ctx_deal_meetings")


def template_for(feature: str) -> Template:
    """The template of a feature; an unknown feature (a newer model) gets a generic, still honest wording."""
    found = REASON_TEMPLATES.get(feature)
    if found is not None:
        return found
    label = feature.replace("_", " ")
    return _t(f"{label} = {{v}}, {{effect}}", f"{label} = {{v}}, {{effect}}", missing=f"{label} undefined")


def render_reason(
    feature: str,
    value: float,
    direction: int,
    context: Mapping[str, Any] | None = None,
    typical: float | None = None,
) -> str:
    """The sentence for one feature value that moved a score up (direction > 0) or down (direction < 0).

    `typical`: the feature's typical value (e.g. the median split threshold of the model), which decides
    whether "only" wording fits; None keeps the plain positive / negative wording.
    """
    template = template_for(feature)
    context = context if context is not None else {}
    value = float(value)
    if template.render is not None:
        return template.text(value, context, direction > 0, feature, typical)
    # Sentences repeat a lot across people (counts, shares): cache them on everything they depend on.
    key = tuple(context.get(name) for name in _fields_of(feature))
    return _cached_text(feature, value, direction > 0, typical, key)


@lru_cache(maxsize=4096)
def _fields_of(feature: str) -> tuple[str, ...]:
    return _context_fields(template_for(feature))


_VALUE_FIELDS = frozenset({"n", "v", "pct", "hours", "duration", "days", "s", "people", "effect"})
_FIELD_SOURCES = {"meetings": "ctx_deal_meetings", "share_of_meetings": "ctx_deal_meetings"}


@lru_cache(maxsize=256)
def _field_names(template: Template) -> frozenset[str]:
    """Every {field} named in any of the template's strings."""
    texts = [template.positive, template.negative]
    for extra in (template.zero, template.missing):
        if isinstance(extra, tuple):
            texts.extend(extra)
        elif extra is not None:
            texts.append(extra)
    return frozenset(name for text in texts for _, name, _, _ in string.Formatter().parse(text) if name)


@lru_cache(maxsize=256)
def _context_fields(template: Template) -> tuple[str, ...]:
    """The context entries a template reads besides its own value ({title}, {meetings}, other features)."""
    names = {_FIELD_SOURCES.get(n, n) for n in _field_names(template) if n not in _VALUE_FIELDS}
    if template.needs is not None:
        names.add(template.needs)
    return tuple(sorted(names))


@lru_cache(maxsize=65536)
def _cached_text(feature: str, value: float, positive: bool, typical: float | None, key: tuple) -> str:
    template = template_for(feature)
    context = dict(zip(_fields_of(feature), key, strict=True))
    return template.text(value, context, positive, feature, typical)


class RowContext(Mapping[str, Any]):
    """One row's feature values plus extra text (e.g. the title) for the templates, looked up lazily."""

    __slots__ = ("_index", "_row", "_extra")

    def __init__(
        self, index: Mapping[str, int], row: np.ndarray, extra: Mapping[str, Any] | None = None
    ) -> None:
        self._index, self._row, self._extra = index, row, extra or {}

    def __getitem__(self, key: str) -> Any:
        if key in self._extra:
            return self._extra[key]
        return float(self._row[self._index[key]])

    def get(self, key: str, default: Any = None) -> Any:
        if key in self._extra:
            return self._extra[key]
        j = self._index.get(key)
        return default if j is None else float(self._row[j])

    def __iter__(self) -> Iterator[str]:
        yield from self._index
        yield from self._extra

    def __len__(self) -> int:
        return len(self._index) + len(self._extra)

    def __contains__(self, key: object) -> bool:
        return key in self._extra or key in self._index


def top_features(
    contributions: np.ndarray, n: int, min_abs: float = 1e-6
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row, the `n` feature positions with the largest |contribution| (ties broken by feature order): the
    positions (rows, k), their contributions, and whether each is a reason (|contribution| >= `min_abs`)."""
    k = min(n, contributions.shape[1])
    # argsort of -|c| is stable, so equal contributions keep feature order: deterministic output.
    order = np.argsort(-np.abs(contributions), axis=1, kind="stable")[:, :k]
    chosen = np.take_along_axis(contributions, order, axis=1)
    return order, chosen, np.abs(chosen) >= min_abs


# Fields computed from the value ({effect} is from the direction; {meetings}, {title} and features by name are
# from the row's context).
_SHOWS_VALUE = frozenset({"n", "v", "pct", "hours", "duration", "days", "s", "people", "share_of_meetings"})


def _value_fields(template: Template) -> frozenset[str]:
    """The fields of the template's strings that are computed from the value itself ({n}, {pct}, ...)."""
    return _field_names(template) & _SHOWS_VALUE


_TEXT_FIELDS: dict[str, Callable[[float], str]] = {
    "v": _number,
    "hours": _hours,
    "duration": _duration_h,
    "days": lambda x: _days(abs(x)),
}


def _shown_value_keys(fields: frozenset[str], values: np.ndarray, finite: np.ndarray) -> list[np.ndarray]:
    """Key columns that determine what the value fields of a template show ({n} and {s} show round(v), {pct}
    round(100 v), the others their own text), for finite values (others are 0 here)."""
    keys = []
    if fields & {"n", "s", "people"}:
        keys.append(np.rint(values))  # Python's round() rounds half to even, as rint does
    if "pct" in fields:
        keys.append(np.rint(100.0 * values))
    if fields & _TEXT_FIELDS.keys():
        import pandas as pd

        live = values[finite].tolist()
        for name in sorted(fields & _TEXT_FIELDS.keys()):
            fn = _TEXT_FIELDS[name]
            codes = np.zeros(len(values))
            codes[finite] = pd.factorize(np.asarray([fn(x) for x in live], dtype=object))[0]
            keys.append(codes)
    return keys


def _groups(keys: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Entries with equal values in every key column (finite floats): the first entry of each group, and each
    entry's group (np.unique(axis=0) does the same through a slower structured view)."""
    order = np.lexsort(keys[::-1])
    if len(order) == 0:
        return order, order
    change = np.zeros(len(order), dtype=bool)
    change[0] = True
    for column in keys:
        ordered = column[order]
        change[1:] |= ordered[1:] != ordered[:-1]
    group_sorted = np.cumsum(change) - 1
    inverse = np.empty(len(order), dtype=np.intp)
    inverse[order] = group_sorted
    return order[change], inverse


def _key_columns(values: np.ndarray) -> list[np.ndarray]:
    """A float column as exact-comparison key columns: the finite value (-0.0 as 0.0), and its kind (finite,
    NaN, +inf, -inf), which the templates word differently."""
    finite = np.isfinite(values)
    kind = np.where(finite, 0.0, np.where(np.isnan(values), 1.0, np.where(values > 0, 2.0, 3.0)))
    return [np.where(finite, values, 0.0) + 0.0, kind]


@lru_cache(maxsize=16)
def _column_index(columns: tuple[str, ...]) -> dict[str, int]:
    """Feature name -> position, built once per feature list (read-only: shared by every call)."""
    return {c: j for j, c in enumerate(columns)}


# Below this many sentences `render_reasons` renders each one directly (with `render_reason`'s own cache).
_GROUPED_MIN_ENTRIES = 512


def render_reasons(
    features: np.ndarray,
    rows: np.ndarray,
    positive: np.ndarray,
    X: np.ndarray,
    feature_columns: Sequence[str],
    *,
    titles: Sequence[Any] | None = None,
    typical: Mapping[str, float] | None = None,
) -> np.ndarray:
    """`render_reason` for many (row, feature) entries at once: entry e is feature `features[e]` of row
    `rows[e]` of X, worded as raising the score when `positive[e]`; `titles` (one per row of X, or None) fill
    {title}. Returns the sentences (object array, one per entry), each exactly what `render_reason` gives.

    Why: a batch has a few sentences per person and many people share them ("attended 3 of the deal's 5
    meetings"). Per feature, entries are keyed by everything their sentence depends on (the value, or only its
    rounding when the template shows nothing finer, e.g. {pct}; the direction; the other features and the title
    the template reads) and each distinct key is rendered once."""
    features = np.asarray(features, dtype=np.intp)
    rows = np.asarray(rows, dtype=np.intp)
    positive = np.asarray(positive, dtype=bool)
    m = len(features)
    out = np.empty(m, dtype=object)
    if m == 0:
        return out
    columns = list(feature_columns)
    index = _column_index(tuple(columns))
    typical = typical or {}
    title_values = np.asarray(titles, dtype=object) if titles is not None else None
    contexts: dict[int, RowContext] = {}

    def context_of(row: int) -> RowContext:
        # One per row, shared by its sentences (read-only): a row has about five.
        context = contexts.get(row)
        if context is None:
            extra = {"title": title_values[row]} if title_values is not None else None
            context = contexts[row] = RowContext(index, X[row], extra)
        return context

    if m < _GROUPED_MIN_ENTRIES:  # one API deal: grouping costs more than it saves
        typical_of = typical.get
        for e, (j, row, p) in enumerate(
            zip(features.tolist(), rows.tolist(), positive.tolist(), strict=True)
        ):
            name = columns[j]
            out[e] = render_reason(name, float(X[row, j]), 1 if p else -1, context_of(row), typical_of(name))
        return out
    title_codes: np.ndarray | None = None
    if title_values is not None:
        import pandas as pd

        title_codes = pd.factorize(title_values, use_na_sentinel=True)[0].astype(np.float64)
    order = np.argsort(features, kind="stable")
    sorted_features = features[order]
    bounds = np.flatnonzero(np.r_[True, sorted_features[1:] != sorted_features[:-1], True])
    for lo, hi in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
        j = int(sorted_features[lo])
        name = columns[j]
        template = template_for(name)
        entries = order[lo:hi]
        r = rows[entries]
        values = X[r, j]
        pos = positive[entries]
        if template.render is not None and template.reads is None:
            for e, row, value, p in zip(
                entries.tolist(), r.tolist(), values.tolist(), pos.tolist(), strict=True
            ):
                out[e] = render_reason(name, value, 1 if p else -1, context_of(row), typical.get(name))
            continue
        typ = typical.get(name)
        finite = np.isfinite(values)
        keys: list[np.ndarray] = [pos.astype(np.float64)]
        if template.render is not None:
            keys += _key_columns(values)
            reads: tuple[str, ...] = (template.reads or ()) + (
                (template.needs,) if template.needs is not None else ()
            )
        else:
            fields = _value_fields(template)
            if "share_of_meetings" in fields:
                keys += _key_columns(values)
            else:
                # The sentence shows the value only as its fields ({pct}, {n}, {v} with 2 decimals, ...):
                # entries whose fields read the same share it. Non-finite values keep their kind.
                keys += _key_columns(values)[1:]
                keys += _shown_value_keys(fields, np.where(finite, values, 0.0), finite)
            unexpected = np.zeros(len(values), dtype=bool)
            if typ is not None:
                unexpected = (~pos & (values > typ)) | (pos & (values < typ))
            keys += [(values == 0).astype(np.float64), unexpected.astype(np.float64)]
            if template.pivot is not None:
                keys.append((values >= template.pivot).astype(np.float64))
            reads = _fields_of(name)
        for field_name in reads:
            if field_name == "title" and title_codes is not None:
                keys.append(title_codes[r])
            elif field_name != "title" and field_name in index:
                keys += _key_columns(X[r, index[field_name]])
        first, inverse = _groups(keys)
        texts = np.empty(len(first), dtype=object)
        for g, at in enumerate(first.tolist()):
            texts[g] = render_reason(
                name, float(values[at]), 1 if pos[at] else -1, context_of(int(r[at])), typ
            )
        out[entries] = texts[inverse]
    return out


def top_reasons(
    X: np.ndarray,
    contributions: np.ndarray,
    feature_columns: Sequence[str],
    *,
    context: Sequence[Mapping[str, Any]] | None = None,
    n: int = 4,
    min_abs: float = 1e-6,
    typical: Mapping[str, float] | None = None,
) -> list[list[Reason]]:
    """Per row, the `n` contributions largest in absolute value (ties broken by feature order), as Reasons.

    X: feature values (n_rows, n_features); contributions: same shape; context: per row extra text such as
    {"title": ...} (the row's own feature values are always available to the templates). Contributions below
    `min_abs` are never reasons, so a row the model barely separates may get fewer than `n`. `typical`: per
    feature, the value that separates "only ..." from plain wording (see `render_reason`).
    """
    columns = list(feature_columns)
    typical = typical or {}
    index = {c: j for j, c in enumerate(columns)}
    n_rows = X.shape[0]
    k = min(n, len(columns))
    if n_rows == 0 or k == 0:
        return [[] for _ in range(n_rows)]
    order, chosen, keep = top_features(contributions, n, min_abs)
    values = np.take_along_axis(X, order, axis=1)
    titles_only = context is None or all(set(c) <= {"title"} for c in context)
    texts = None
    if titles_only:
        rows, slots = np.nonzero(keep)
        titles = None if context is None else [c.get("title") for c in context]
        flat = render_reasons(
            order[rows, slots], rows, chosen[rows, slots] > 0, X, columns, titles=titles, typical=typical
        )
        texts = np.full(order.shape, None, dtype=object)
        texts[rows, slots] = flat
    out: list[list[Reason]] = []
    for i in range(n_rows):
        reasons = []
        for s, (j, c, value) in enumerate(
            zip(order[i].tolist(), chosen[i].tolist(), values[i].tolist(), strict=True)
        ):
            if not keep[i, s]:
                continue
            direction = 1 if c > 0 else -1
            if texts is not None:
                text = texts[i, s]
            else:
                row_context = RowContext(index, X[i], context[i] if context is not None else None)
                text = render_reason(columns[j], value, direction, row_context, typical.get(columns[j]))
            reasons.append(Reason(columns[j], value, c, direction, text))
        out.append(reasons)
    return out
