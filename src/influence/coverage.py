"""DMU coverage of a deal: which profiles are present, which important ones are missing or not engaged by the
seller, and who to contact next with which angle.

Engagement is measured from the dataset, never from the model: a buyer/partner person is

- `engaged`: attended at least one meeting of the deal together with a seller-side person before `as_of`;
- `weak`: e-mail contact with a seller-side person (sent to or received from) but no shared meeting;
- `none`: neither;
- `unknown`: the dataset has no seller-side people at all (e.g. an imported mailbox), so engagement cannot be
  assessed.

Presence is from the model: a profile is present in a deal when at least one person's predicted profile is that
profile with `profile_confidence >= PRESENT_MIN_CONFIDENCE` and `influence >= PRESENT_MIN_INFLUENCE`.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from influence.contract import PROFILES, Dataset
from influence.data import _arrow_string_array, _column_arrays, _objects

__all__ = [
    "ANGLES",
    "COVERAGE_COLUMNS",
    "ENGAGEMENT_LEVELS",
    "IMPORTANT_PROFILES",
    "NEXT_BEST_COLUMNS",
    "NEXT_BEST_MIN_INFLUENCE",
    "NOT_ASSESSABLE_MESSAGE",
    "PRESENT_MIN_CONFIDENCE",
    "PRESENT_MIN_INFLUENCE",
    "coverage_frame",
    "deal_coverage",
    "engagement",
    "engagement_counts",
    "next_best_contacts",
    "profile_label",
    "seller_ids",
]

# A predicted profile counts as present only when the model is reasonably sure (10 classes: 0.4 is 4x chance)
# and the person matters (P(key influencer) at least 0.2).
PRESENT_MIN_CONFIDENCE = 0.4
PRESENT_MIN_INFLUENCE = 0.2
# Next-best contacts: un- or weakly engaged people with at least this P(key influencer).
NEXT_BEST_MIN_INFLUENCE = 0.3
NEXT_BEST_K = 3

# The parts of a DMU a seller must cover to win; their absence or non-engagement is reported as a gap.
IMPORTANT_PROFILES: tuple[str, ...] = (
    "executive_sponsor",
    "budget_holder",
    "technical_gatekeeper",
    "procurement",
    "silent_influencer",
    "political_gatekeeper",
)
ENGAGEMENT_LEVELS: tuple[str, ...] = ("engaged", "weak", "none", "unknown")

ANGLES: dict[str, str] = {
    "executive_sponsor": "impact and vision: the business outcome, strategic fit and what success looks like",
    "budget_holder": "ROI and total cost of ownership: payback period, budget timing, cost of doing nothing",
    "procurement": "risk managed: clear terms, compliance, references from comparable customers",
    "technical_gatekeeper": "architecture, security and integration: a technical deep-dive with our engineers",
    "end_user": "day-to-day usability: a hands-on demo of the workflows they use every day",
    "silent_influencer": "technical depth: share detailed material and ask for their expert opinion one-to-one",
    "digital_researcher": "comparison material: analyst reports, reviews, benchmarks and a self-serve trial",
    "political_gatekeeper": "internal alignment: who else should be involved and how the decision gets made",
    "external_advisor": "independent evidence: third-party validation, references and the partner ecosystem",
    # Only influential people are suggested (influence >= NEXT_BEST_MIN_INFLUENCE): "low priority" would
    # contradict the suggestion itself; a peripheral profile there means the role is still unknown.
    "peripheral": "influential but no clear buying role yet: a short discovery call on their stake in the decision",
}

NOT_ASSESSABLE_MESSAGE = (
    "engagement can't be assessed: the data has no seller-side people (e.g. an imported mailbox), so who we "
    "have met is unknown"
)

COVERAGE_COLUMNS = [
    "deal_id",
    "profile",
    "important",
    "present",
    "person_id",
    "full_name",
    "influence",
    "profile_confidence",
    "engagement",
    "status",
    "message",
]
NEXT_BEST_COLUMNS = [
    "deal_id",
    "rank",
    "person_id",
    "full_name",
    "title",
    "profile",
    "influence",
    "engagement",
    "seller_meetings",
    "seller_emails",
    "angle",
    "why",
]
_ENGAGEMENT_ORDER = {"engaged": 0, "weak": 1, "none": 2, "unknown": 3}


def profile_label(profile: str) -> str:
    """`executive_sponsor` -> `executive sponsor`."""
    return profile.replace("_", " ")


# -- engagement from the dataset ---------------------------------------------------------------------------------
def engagement(ds: Dataset, as_of: pd.Timestamp | None = None) -> pd.DataFrame:
    """Seller contact per (deal, buyer/partner person) before `as_of`, from meetings and e-mail metadata.

    Returns deal_id, person_id, seller_meetings (meetings both attended), seller_emails (e-mails between the
    person and a seller-side person, either way), engagement (see the module docstring). Only people with at
    least one event in the deal appear; everyone else is `none` (or `unknown`), see `has_seller_side`.
    """
    counts = engagement_counts(ds, as_of)
    assessable = has_seller_side(ds)
    keys = sorted(counts)
    meetings = np.fromiter((counts[k][0] for k in keys), dtype=np.int64, count=len(keys))
    emails = np.fromiter((counts[k][1] for k in keys), dtype=np.int64, count=len(keys))
    return pd.DataFrame(
        {
            "deal_id": pd.array([k[0] for k in keys], dtype=_string_dtype()),
            "person_id": pd.array([k[1] for k in keys], dtype=_string_dtype()),
            "seller_meetings": meetings,
            "seller_emails": emails,
            "engagement": engagement_level(meetings, emails, assessable),
        }
    )


# From this many attendee + recipient rows on, engagement is counted with arrays (a batch chunk has ~10^6); below
# it, the plain loop (one API deal: a few hundred rows, where each pandas call costs more than the whole loop).
_ARRAY_MIN_ROWS = 2_000


def engagement_counts(
    ds: Dataset, as_of: pd.Timestamp | None = None, *, sellers: set[Any] | None = None
) -> dict[tuple[str, str], tuple[int, int]]:
    """{(deal_id, person_id): (seller_meetings, seller_emails)} for every buyer/partner person with seller
    contact in a deal before `as_of` (the counts behind `engagement`).

    Seller meetings: meetings of the deal where the person and a seller-side person were present (attended, or
    accepted when attendance is unknown, or organised). Seller e-mails: distinct messages between the person and
    a seller-side person, either way. Small inputs (one API deal) take a plain loop, large ones integer arrays;
    both give the same counts (tested). `sellers`: `seller_ids(ds)`, when the caller has read it already."""
    sellers = seller_ids(ds) if sellers is None else sellers
    if len(ds.meeting_attendees) + len(ds.email_recipients) >= _ARRAY_MIN_ROWS:
        found = _engagement_counts_arrays(ds, as_of, sellers)
        if found is not None:
            return found
    return _engagement_counts_loop(ds, as_of, sellers)


def engagement_count_columns(
    ds: Dataset,
    deal_ids: Any,
    person_ids: Any,
    as_of: pd.Timestamp | None = None,
    *,
    sellers: set[Any] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(seller_meetings, seller_emails) as int64 arrays for each (deal_ids[i], person_ids[i]) row: the counts of
    `engagement_counts` (0 for a pair it lacks), looked up for many rows at once. Ids: object arrays of str/None
    (a None never matches). Large inputs are matched on integer codes, without a Python dict of string pairs."""
    sellers = seller_ids(ds) if sellers is None else sellers
    n = len(deal_ids)
    found = None
    if len(ds.meeting_attendees) + len(ds.email_recipients) >= _ARRAY_MIN_ROWS:
        found = _engagement_keys(ds, as_of, sellers)
    if found is None:
        counts = engagement_counts(ds, as_of, sellers=sellers)
        pairs = [counts.get((str(d), str(q)), (0, 0)) for d, q in zip(deal_ids, person_ids, strict=True)]
        return (
            np.fromiter((m for m, _ in pairs), dtype=np.int64, count=n),
            np.fromiter((e for _, e in pairs), dtype=np.int64, count=n),
        )
    import pyarrow as pa
    import pyarrow.compute as pc

    meetings = np.zeros(n, dtype=np.int64)
    emails = np.zeros(n, dtype=np.int64)
    if not n or not len(found.keys):
        return meetings, emails
    # str(d) of an id that is not text (a hand-built frame) is matched as its text, as the dict lookup did.
    d_text = pa.array([None if d is None else str(d) for d in deal_ids], pa.string())
    q_text = pa.array([None if q is None else str(q) for q in person_ids], pa.string())
    d_code = pc.index_in(d_text, value_set=found.deals).fill_null(-1).to_numpy(zero_copy_only=False)
    q_code = pc.index_in(q_text, value_set=found.persons).fill_null(-1).to_numpy(zero_copy_only=False)
    live = np.flatnonzero((d_code >= 0) & (q_code >= 0))
    wanted = d_code[live].astype(np.int64) * found.n_people + q_code[live].astype(np.int64)
    at = np.minimum(np.searchsorted(found.keys, wanted), len(found.keys) - 1)
    hit = found.keys[at] == wanted
    meetings[live[hit]] = found.meetings[at[hit]]
    emails[live[hit]] = found.emails[at[hit]]
    return meetings, emails


def seller_ids(ds: Dataset) -> set[Any]:
    """The person ids of the seller side (empty: engagement cannot be assessed, see `has_seller_side`)."""
    person_id, side = _value_lists(ds.people, "person_id", "side")
    return {q for q, s in zip(person_id, side, strict=True) if s == "seller"}


@dataclass(frozen=True)
class _EngagementKeys:
    """The counts of `engagement_counts` on integer codes: `keys` (sorted) = deal code * n_people + person code,
    codes being positions in `deals` / `persons` (Arrow string arrays of distinct ids)."""

    keys: np.ndarray
    meetings: np.ndarray
    emails: np.ndarray
    deals: Any
    persons: Any
    n_people: int


def _engagement_counts_arrays(
    ds: Dataset, as_of: pd.Timestamp | None, sellers: set[Any] | None = None
) -> dict[tuple[str, str], tuple[int, int]] | None:
    """`engagement_counts` over integer codes (`_engagement_keys`); None when that path does not apply."""
    found = _engagement_keys(ds, as_of, seller_ids(ds) if sellers is None else sellers)
    if found is None:
        return None
    import pyarrow as pa

    deal_of_key = found.deals.take(pa.array(found.keys // found.n_people)).to_pylist()
    person_of_key = found.persons.take(pa.array(found.keys % found.n_people)).to_pylist()
    return {
        (d, p): (m, e)
        for d, p, m, e in zip(
            deal_of_key, person_of_key, found.meetings.tolist(), found.emails.tolist(), strict=True
        )
    }


def _in_order_codes(keys: Any, values: Any) -> np.ndarray | None:
    """Position of each value in `keys` when the values, in order of first appearance, are the keys in their own
    order (a child table listed in its parent's order: recipients by message): dictionary-encoding the values alone
    then gives the answer, without hashing the keys too. None otherwise (the caller hashes both)."""
    import pyarrow.compute as pc

    if not len(values) or values.null_count or len(keys) < 1024:
        return None
    head = pc.unique(values.slice(0, 2048))
    if len(head) > len(keys) or not pc.all(pc.equal(head, keys.slice(0, len(head)))).as_py():
        return None
    encoded = values.dictionary_encode()
    dictionary = encoded.dictionary
    # Every key must be named (a key no value names might repeat an earlier one: the caller's check finds that).
    if len(dictionary) != len(keys) or not pc.all(pc.equal(dictionary, keys)).as_py():
        return None
    return encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)


def _engagement_keys(ds: Dataset, as_of: pd.Timestamp | None, sellers: set[Any]) -> _EngagementKeys | None:
    """The counts of `engagement_counts` over integer codes (Arrow's hash kernels: no Python string objects per
    event); None when an id column has gaps or a meeting/message id repeats (invalid data the validator rejects
    anyway), which the loop handles with its own (dict) semantics."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not all(isinstance(p, str) for p in sellers):
        return None
    meetings, emails = ds.meetings, ds.emails
    if as_of is not None:
        meetings = meetings[(meetings["start_at"] < as_of).to_numpy(dtype=bool, na_value=False)]
        emails = emails[(emails["sent_at"] < as_of).to_numpy(dtype=bool, na_value=False)]
    att, rec = ds.meeting_attendees, ds.email_recipients
    try:
        m_ids, e_ids = _text(meetings["meeting_id"]), _text(emails["message_id"])
        m_deal, e_deal = _text(meetings["deal_id"]), _text(emails["deal_id"])
        organizer, sender = _text(meetings["organizer_id"]), _text(emails["sender_id"])
        a_meeting, a_person = _text(att["meeting_id"]), _text(att["person_id"])
        r_message, r_person = _text(rec["message_id"]), _text(rec["person_id"])
    except (pa.ArrowException, TypeError, ValueError):
        return None
    if any(x.null_count for x in (m_ids, e_ids, m_deal, e_deal, sender)):
        return None

    def positions(keys: Any, values: Any) -> np.ndarray | None:
        """Position of each value in `keys` (-1: absent or null), hashing both in one pass; None when a key
        repeats."""
        in_order = _in_order_codes(keys, values)
        if in_order is not None:
            return in_order
        codes = pa.concat_arrays([keys, values]).dictionary_encode().indices
        codes = codes.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
        own, theirs = codes[: len(keys)], codes[len(keys) :]
        at = np.full(len(keys) + len(values), -1, dtype=np.int64)
        at[own] = np.arange(len(keys))
        if len(keys) and np.count_nonzero(at >= 0) != len(keys):
            return None
        return np.where(theirs >= 0, at[theirs], -1)

    a_m = positions(m_ids, a_meeting)
    r_m = positions(e_ids, r_message)
    if a_m is None or r_m is None:
        return None
    a_live, r_live = a_m >= 0, r_m >= 0
    if a_person.filter(pa.array(a_live)).null_count or r_person.filter(pa.array(r_live)).null_count:
        return None
    has_organizer = pc.is_valid(organizer).to_numpy(zero_copy_only=False)
    # One code space for people and one for deals across meetings and e-mails.
    everyone = pa.concat_arrays(
        [a_person, organizer.filter(pa.array(has_organizer)), r_person, sender]
    ).dictionary_encode()
    person_code = everyone.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    persons = everyone.dictionary
    n_a, n_o, n_r = len(a_person), int(has_organizer.sum()), len(r_person)
    a_p = person_code[:n_a]
    o_p = person_code[n_a : n_a + n_o]
    r_p = person_code[n_a + n_o : n_a + n_o + n_r]
    s_p = person_code[n_a + n_o + n_r :]
    seller_array = pa.array(sorted(sellers), pa.string())
    seller = pc.is_in(persons, value_set=seller_array).to_numpy(zero_copy_only=False).astype(bool)
    all_deals = pa.concat_arrays([m_deal, e_deal]).dictionary_encode()
    deal_code = all_deals.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    m_dc, e_dc = deal_code[: len(m_deal)], deal_code[len(m_deal) :]
    n_people = max(len(persons), 1)

    # Meetings: the distinct (meeting, person) pairs present, then the non-sellers of meetings with a seller.
    attended = att["attended"]
    known = attended.notna().to_numpy(dtype=bool)
    said_yes = np.asarray(attended.to_numpy(dtype=object, na_value=False)).astype(bool)
    accepted = (att["response"].astype(_string_dtype()) == "accepted").to_numpy(dtype=bool, na_value=False)
    present = a_live & np.where(known, said_yes, accepted)
    pair = np.unique(
        np.concatenate(
            [
                a_m[present] * n_people + a_p[present],
                np.flatnonzero(has_organizer).astype(np.int64) * n_people + o_p,
            ]
        )
    )
    pair_m, pair_p = pair // n_people, pair % n_people
    with_seller = np.zeros(len(m_ids), dtype=bool)
    with_seller[pair_m[seller[pair_p]]] = True
    counted = with_seller[pair_m] & ~seller[pair_p]
    meet_keys, meet_n = np.unique(m_dc[pair_m[counted]] * n_people + pair_p[counted], return_counts=True)

    # E-mails: each message once per (deal, non-seller) between that person and a seller, either way.
    r_m, r_p = r_m[r_live], r_p[r_live]
    sender_seller = seller[s_p[r_m]]
    between = sender_seller != seller[r_p]
    other = np.where(sender_seller, r_p, s_p[r_m])[between]
    distinct = np.unique(r_m[between] * n_people + other)
    msg, person = distinct // n_people, distinct % n_people
    mail_keys, mail_n = np.unique(e_dc[msg] * n_people + person, return_counts=True)

    keys, inverse = np.unique(np.concatenate([meet_keys, mail_keys]), return_inverse=True)
    meetings_n = np.zeros(len(keys), dtype=np.int64)
    mails_n = np.zeros(len(keys), dtype=np.int64)
    meetings_n[inverse[: len(meet_keys)]] = meet_n
    mails_n[inverse[len(meet_keys) :]] = mail_n
    return _EngagementKeys(keys, meetings_n, mails_n, all_deals.dictionary, persons, n_people)


def _text(values: pd.Series) -> Any:
    """A text id column as one Arrow string array (nulls kept); TypeError for ids stored otherwise."""
    import pyarrow as pa

    if not isinstance(values.dtype, pd.StringDtype):
        raise TypeError("ids not stored as text")  # the loop keeps such ids as they are
    array = pa.array(values.array)
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    return array.cast(pa.string())


def _engagement_counts_loop(
    ds: Dataset, as_of: pd.Timestamp | None = None, sellers: set[Any] | None = None
) -> dict[tuple[str, str], tuple[int, int]]:
    """`engagement_counts` as plain Python over the id columns (sets and dicts, one operation per event).

    Columns are read once each as object arrays (`_values`): for one API deal, pandas' per-column access,
    comparisons and `to_numpy` on Arrow strings cost more than the loop itself."""
    sellers = seller_ids(ds) if sellers is None else sellers
    meeting_counts: dict[tuple[str, str], int] = {}
    meetings = ds.meetings
    m_ids, m_deals, organizers = _value_lists(meetings, "meeting_id", "deal_id", "organizer_id")
    if as_of is not None:
        keep = (meetings["start_at"] < as_of).to_numpy(dtype=bool, na_value=False).tolist()
        m_ids, m_deals, organizers = (
            [v for v, k in zip(c, keep, strict=True) if k] for c in (m_ids, m_deals, organizers)
        )
    deal_of = dict(zip(m_ids, m_deals, strict=True))
    # Present: attended, or accepted when attendance is unknown, and the organiser (the features' rule).
    att = ds.meeting_attendees
    present: set[tuple[str, str]] = set()
    for m, p, a, r in zip(*_value_lists(att, "meeting_id", "person_id", "attended", "response"), strict=True):
        if m in deal_of and ((r == "accepted") if a is None else a):
            present.add((m, p))
    for m, o in zip(m_ids, organizers, strict=True):
        if o is not None:
            present.add((m, o))
    with_seller = {m for m, p in present if p in sellers}
    for m, p in present:
        if m in with_seller and p not in sellers:
            key = (deal_of[m], p)
            meeting_counts[key] = meeting_counts.get(key, 0) + 1

    emails = ds.emails
    if as_of is not None:
        emails = emails[(emails["sent_at"] < as_of).to_numpy(dtype=bool, na_value=False)]
    message_id, email_deal, sender_id = _value_lists(emails, "message_id", "deal_id", "sender_id")
    sent = dict(zip(message_id, zip(email_deal, sender_id, strict=True), strict=True))
    rec = ds.email_recipients
    # Seller -> person: one per recipient; person -> seller: each message once per sender.
    pairs: set[tuple[str, str, str]] = set()
    for msg, p in zip(*_value_lists(rec, "message_id", "person_id"), strict=True):
        hit = sent.get(msg)
        if hit is None:
            continue
        deal, sender = hit
        sender_seller = sender in sellers
        if sender_seller != (p in sellers):
            pairs.add((deal, sender if not sender_seller else p, msg))
    email_counts: dict[tuple[str, str], int] = {}
    for deal, p, _ in pairs:
        email_counts[(deal, p)] = email_counts.get((deal, p), 0) + 1
    return {
        k: (meeting_counts.get(k, 0), email_counts.get(k, 0))
        for k in meeting_counts.keys() | email_counts.keys()
    }


def _values(frame: pd.DataFrame, column: str) -> list[Any]:
    """A column as Python values, None for every missing value (Arrow's own conversion for Arrow strings:
    pandas' `to_numpy(dtype=object, na_value=None)` costs ~100 us on such a column once it holds a null)."""
    return _objects(frame[column]).tolist()


def _value_lists(frame: pd.DataFrame, *columns: str) -> list[list[Any]]:
    """`_values` of several columns, reading the frame's arrays once: a Series per column costs ~30 us, which on
    one API deal (15 id columns) was most of the engagement count. Numpy-backed columns go through `_values`."""
    arrays = _column_arrays(frame) if frame.columns.is_unique else {}
    out = []
    for column in columns:
        array = arrays.get(column)
        if array is None or isinstance(array, np.ndarray):
            out.append(_values(frame, column))
        else:
            out.append(_objects(array).tolist())
    return out


def has_seller_side(ds: Dataset) -> bool:
    """Whether the dataset knows any seller-side person; without one, engagement cannot be assessed."""
    return "seller" in set(_values(ds.people, "side"))


def engagement_level(meetings: pd.Series, emails: pd.Series, assessable: bool) -> np.ndarray:
    """`engaged` (a shared meeting), `weak` (e-mail only), `none`, or `unknown` when not assessable."""
    m = np.asarray(meetings, dtype=np.float64)
    e = np.asarray(emails, dtype=np.float64)
    if not assessable:
        return np.full(len(m), "unknown", dtype=object)
    return np.where(m > 0, "engaged", np.where(e > 0, "weak", "none")).astype(object)


class PeopleColumns:
    """Read access to the scored people's columns for coverage and next-best contacts, from a frame or from the
    arrays `Scorer.score_dataset` builds the frame from (so one deal pays no per-column pandas cost twice).

    `typed`: column name -> array as stored in the people frame (pandas ExtensionArray or numpy array);
    `plain`: optional column name -> object ndarray with None for missing values (computed when absent).
    """

    def __init__(
        self, typed: Mapping[str, Any], n: int, plain: Mapping[str, np.ndarray] | None = None
    ) -> None:
        self.typed = typed
        self.n = n
        self._plain: dict[str, np.ndarray] = dict(plain or {})

    @classmethod
    def from_frame(cls, people: pd.DataFrame) -> PeopleColumns:
        return cls({str(c): s.array for c, s in people.items()}, len(people))

    def __contains__(self, name: str) -> bool:
        return name in self.typed

    def obj(self, name: str) -> np.ndarray:
        """Object values, None for missing (all None for an absent column)."""
        found = self._plain.get(name)
        if found is None:
            values = self.typed.get(name)
            if values is None:
                found = np.full(self.n, None, dtype=object)
            elif isinstance(values, np.ndarray):
                found = values.astype(object)
                if values.dtype.kind == "f":
                    found[np.isnan(values)] = None
            else:
                found = _objects(values)
            self._plain[name] = found
        return found

    def floats(self, name: str) -> np.ndarray:
        values = self.typed[name]
        if isinstance(values, np.ndarray):
            return values.astype(np.float64, copy=False)
        return values.to_numpy(dtype=np.float64, na_value=np.nan)


# -- coverage ----------------------------------------------------------------------------------------------------
def deal_coverage(people: pd.DataFrame, *, engagement_assessable: bool) -> pd.DataFrame:
    """One row per (deal, profile) for the nine non-peripheral profiles, with a gap message where one applies.

    `people`: the scored people frame (deal_id, person_id, full_name, influence, profile, profile_confidence,
    engagement, seller_meetings, seller_emails). The representative of a present profile is its most
    influential qualifying person; status is the best engagement among the qualifying people, and a message
    names the most influential person at that engagement level.
    """
    return deal_coverage_columns(
        PeopleColumns.from_frame(people), engagement_assessable=engagement_assessable
    )


def deal_coverage_columns(people: PeopleColumns, *, engagement_assessable: bool) -> pd.DataFrame:
    """`deal_coverage` on the people's columns (see `PeopleColumns`)."""
    return coverage_frame(coverage_column_values(people, engagement_assessable=engagement_assessable))


# Text columns that stay object in the frames, so "nothing to say" is None, not NaN: pandas 3 infers a `str` dtype
# for a bare array of strings. Wrapped at frame time only: a Series per column costs ~25 us, and one API deal's
# JSON reads the arrays.
_COVERAGE_OBJECT_COLUMNS = frozenset({"person_id", "full_name", "engagement", "message"})


def coverage_frame(values: Mapping[str, Any]) -> pd.DataFrame:
    """The coverage frame from `coverage_column_values`' columns."""
    return pd.DataFrame(
        {
            c: pd.Series(values[c], dtype=object) if c in _COVERAGE_OBJECT_COLUMNS else values[c]
            for c in COVERAGE_COLUMNS
        },
        columns=COVERAGE_COLUMNS,
    )


def coverage_column_values(people: PeopleColumns, *, engagement_assessable: bool) -> dict[str, Any]:
    """`deal_coverage_columns` before the frame: {column: values} in COVERAGE_COLUMNS order (arrays or lists;
    `coverage_frame` builds the frame), for callers that turn one deal into JSON without building the frame."""
    profiles = [p for p in PROFILES if p != "peripheral"]
    n = people.n
    column = people.obj
    # Deals in order of first appearance, as str (as pd.unique on the str-cast column gave).
    deals = list(dict.fromkeys(str(d) for d in column("deal_id").tolist()))
    influence = people.floats("influence")
    confidence = people.floats("profile_confidence")
    ok = np.flatnonzero((confidence >= PRESENT_MIN_CONFIDENCE) & (influence >= PRESENT_MIN_INFLUENCE))
    deal_col, profile_col, pid = column("deal_id"), column("profile"), column("person_id")
    name_cols = [column(c) for c in ("full_name", "email", "person_id") if c in people]
    eng_col = column("engagement")
    emails_col = column("seller_emails")
    # Per (deal, profile): the most influential qualifying person (ties: person_id, then row order), and the
    # most influential one at the best engagement level; the sort keys the frame version used.
    top: dict[tuple[str, str], tuple] = {}
    who: dict[tuple[str, str], tuple] = {}
    for i in ok.tolist():
        key = (str(deal_col[i]), str(profile_col[i]))
        rank = (-influence[i], pid[i], i)
        if key not in top or rank < top[key]:
            top[key] = rank
        wrank = (_ENGAGEMENT_ORDER.get(eng_col[i], 9), *rank)
        if key not in who or wrank < who[key]:
            who[key] = wrank
    # An important profile with no qualifying person may still be some listed person's (unsure) prediction: the
    # gap names the likeliest one, so "no budget holder identified" never contradicts a row showing one.
    unsure: dict[tuple[str, str], tuple] = {}
    if n:
        important = frozenset(IMPORTANT_PROFILES)  # a set: np.isin on object arrays sorts them (~0.3 ms)
        below = np.fromiter((p in important for p in profile_col.tolist()), dtype=bool, count=n)
        below &= np.isfinite(confidence)
        below[ok] = False
        for i in np.flatnonzero(below).tolist():
            key = (str(deal_col[i]), str(profile_col[i]))
            if key in top:
                continue
            rank = (-influence[i], pid[i], i)
            if key not in unsure or rank < unsure[key]:
                unsure[key] = rank
    rows_deal, rows_profile, present, top_i, who_i = [], [], [], [], []
    for d in deals:
        for p in profiles:
            rows_deal.append(d)
            rows_profile.append(p)
            t = top.get((d, p))
            present.append(t is not None)
            top_i.append(t[-1] if t is not None else -1)
            w = who.get((d, p))
            who_i.append(w[-1] if w is not None else -1)

    def name(i: int) -> str | None:
        return _name_of(tuple(c[i] for c in name_cols)) if i >= 0 else None

    status, messages = [], []
    for deal, profile, here, i in zip(rows_deal, rows_profile, present, who_i, strict=True):
        important = profile in IMPORTANT_PROFILES
        label = profile_label(profile)
        if not here:
            status.append("missing")
            maybe = unsure.get((deal, profile)) if important else None
            if maybe is not None:
                j = maybe[-1]
                messages.append(
                    _unsure_message(label, name(j) or pid[j], float(confidence[j]), float(influence[j]))
                )
            else:
                messages.append(f"no {label} identified among the people seen so far" if important else None)
            continue
        level = {"engaged": "engaged", "weak": "weak", "none": "not_engaged"}.get(str(eng_col[i]), "unknown")
        status.append(level)
        message = None
        if important and engagement_assessable and level != "engaged":
            who_name = name(i)
            if level == "weak":
                k = int(emails_col[i])
                message = (
                    f"the {label} ({who_name}) is only weakly engaged: {k} e-mail{'s' if k != 1 else ''} with "
                    "us, no meeting"
                )
            elif profile == "silent_influencer":
                message = f"the silent influencer ({who_name}) has met us in no meeting"
            else:
                message = (
                    f"no {label} engaged: {who_name} has met us in no meeting and exchanged no e-mail with us"
                )
        messages.append(message)
    top_idx = np.asarray(top_i, dtype=np.int64)
    has = top_idx >= 0
    nan = np.full(len(top_idx), np.nan)
    columns = {
        "deal_id": np.asarray(rows_deal, dtype=object),
        "profile": np.asarray(rows_profile, dtype=object),
        "important": np.fromiter(
            (p in IMPORTANT_PROFILES for p in rows_profile), dtype=bool, count=len(rows_profile)
        ),
        "present": np.asarray(present, dtype=bool),
        "person_id": _object_array([str(pid[i]) if i >= 0 else None for i in top_i]),
        "full_name": _object_array([name(i) for i in top_i]),
        "influence": np.where(has, influence[top_idx], np.nan) if n else nan,
        "profile_confidence": np.where(has, confidence[top_idx], np.nan) if n else nan,
        "engagement": _object_array(
            [str(eng_col[w]) if t >= 0 else None for t, w in zip(top_i, who_i, strict=True)]
        ),
        "status": status,
        "message": _object_array(messages),
    }
    return columns


def _unsure_message(label: str, who: str, confidence: float, influence: float) -> str:
    """The gap of an important profile whose likeliest person is under the presence bar: the message names only
    the bar(s) that person actually missed, so a confident prediction is never called unsure (and figures are
    rounded down when missed, so a shown figure never reaches the bar it missed)."""
    low_confidence = not confidence >= PRESENT_MIN_CONFIDENCE
    low_influence = not influence >= PRESENT_MIN_INFLUENCE
    if not math.isfinite(influence):
        shown_influence = "unknown"
    elif low_influence:
        shown_influence = f"{math.floor(influence * 100 + 1e-9) / 100:.2f}"
    else:
        shown_influence = f"{influence:.2f}"
    figures = f"(profile confidence {math.floor(confidence * 100 + 1e-9)}%, influence {shown_influence})"
    bars = []
    if low_confidence:
        bars.append(f"{PRESENT_MIN_CONFIDENCE:.0%} confidence")
    if low_influence:
        bars.append(f"{PRESENT_MIN_INFLUENCE:.2f} influence")
    # Only influence missed: the profile itself is confident, the person just matters too little to count.
    head = f"no {label} identified " + ("with confidence" if low_confidence else "with enough influence")
    return f"{head}: the likeliest is {who} {figures}, under the bar of {' and '.join(bars)}"


def _object_array(values: list[Any]) -> np.ndarray:
    """A 1-D object array of the values as they are (np.asarray would make a 2-D array of equal-length lists)."""
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def _name_of(row: tuple) -> str | None:
    for value in row:
        if isinstance(value, str) and value.strip():
            return value
    return None


# -- next-best contacts ------------------------------------------------------------------------------------------
def next_best_contacts(
    people: pd.DataFrame,
    *,
    engagement_assessable: bool,
    k: int = NEXT_BEST_K,
    why: pd.Series | None = None,
) -> pd.DataFrame:
    """Per deal, up to `k` people with influence >= NEXT_BEST_MIN_INFLUENCE whom the seller has not engaged
    (engagement none or weak), most influential first, each with the angle for their profile.

    When engagement cannot be assessed, the most influential people are listed with engagement `unknown`.
    `why`: optional text per row of `people` (same index), e.g. the strongest positive reason.
    """
    why_values = None
    if why is not None:
        why_values = (
            why.to_numpy(dtype=object)
            if why.index.equals(people.index)
            else why.reindex(people.index).to_numpy(dtype=object)
        )
    return next_best_contacts_columns(
        PeopleColumns.from_frame(people), engagement_assessable=engagement_assessable, k=k, why=why_values
    )


def next_best_contacts_columns(
    people: PeopleColumns,
    *,
    engagement_assessable: bool,
    k: int = NEXT_BEST_K,
    why: Sequence[str | None] | np.ndarray | None = None,
) -> pd.DataFrame:
    """`next_best_contacts` on the people's columns (see `PeopleColumns`); `why` one text per row."""
    columns = next_best_column_values(people, engagement_assessable=engagement_assessable, k=k, why=why)
    return pd.DataFrame(columns, index=pd.RangeIndex(len(columns["rank"])), columns=NEXT_BEST_COLUMNS)


def next_best_column_values(
    people: PeopleColumns,
    *,
    engagement_assessable: bool,
    k: int = NEXT_BEST_K,
    why: Sequence[str | None] | np.ndarray | None = None,
) -> dict[str, Any]:
    """`next_best_contacts_columns` before the frame: {column: values} in NEXT_BEST_COLUMNS order (None: a column
    the people lack, all missing)."""
    influence = people.floats("influence")
    keep = influence >= NEXT_BEST_MIN_INFLUENCE
    if engagement_assessable:
        engagement = people.obj("engagement")
        keep &= np.fromiter((e in ("none", "weak") for e in engagement.tolist()), dtype=bool, count=people.n)
    if "method" in people:
        method = people.obj("method")
        keep &= np.fromiter((m == "model" for m in method.tolist()), dtype=bool, count=people.n)
    # Sorted by deal, influence (highest first), person_id, then row order; plain Python on the few candidates
    # (a frame sort + groupby costs milliseconds of overhead for one deal).
    deal = people.obj("deal_id")
    pid = people.obj("person_id")
    rows = sorted(np.flatnonzero(keep).tolist(), key=lambda i: (deal[i], -influence[i], pid[i], i))
    chosen, rank = [], []
    for i in rows:
        n = rank[-1] + 1 if chosen and deal[chosen[-1]] == deal[i] else 1
        if n <= k:
            chosen.append(i)
            rank.append(n)
    at = np.asarray(chosen, dtype=np.intp)

    def take(column: str, dtype: Any = None) -> Any:
        # Arrays, not Series: the frame constructor would otherwise align every column on its index, and a
        # Series per column costs ~0.1 ms each on a deal of 30 people.
        if column not in people:
            return None
        typed = people.typed[column]
        values = _take_strings(typed, people.obj(column), at) if _arrow_strings(typed) else typed.take(at)
        return values if dtype is None or values.dtype == dtype else values.astype(dtype)

    profile = take("profile")
    # As `Series.map` did: a missing profile reads "<NA>" and gets the peripheral angle.
    angles = [
        ANGLES.get("<NA>" if p is None else str(p), ANGLES["peripheral"]) for p in _python_values(profile)
    ]
    index = pd.RangeIndex(len(at))
    why_values = None
    if why is not None:
        # A Series keeps the object dtype (a bare array of strings would be inferred as `str`, NaN for None).
        why_values = pd.Series(np.asarray(why, dtype=object)[at], index=index, dtype=object)
    columns: dict[str, Any] = {
        "deal_id": take("deal_id", _string_dtype()),
        "rank": np.asarray(rank, dtype=np.int64),
        "person_id": take("person_id", _string_dtype()),
        "full_name": take("full_name"),
        "title": take("title"),
        "profile": profile,
        "influence": influence[at],
        "engagement": take("engagement"),
        "seller_meetings": take("seller_meetings").astype(np.int64),
        "seller_emails": take("seller_emails").astype(np.int64),
        "angle": pd.array(angles, dtype=_angle_dtype(profile.dtype)),
        "why": why_values,
    }
    return columns


def _arrow_strings(values: Any) -> bool:
    return isinstance(values, pd.arrays.ArrowStringArray)


def _take_strings(typed: Any, plain: np.ndarray, at: np.ndarray) -> Any:
    """`typed.take(at)` of an Arrow string array, built from its plain values (str / None) at `at`: an Arrow take
    costs ~30 us a column, building the few picked strings anew a third of that."""
    strings = _arrow_string_array(plain[at], typed.dtype)
    return typed.take(at) if strings is None else strings


def _python_values(values: Any) -> list[Any]:
    """Values of any array as a Python list with None for every missing value (NaN included)."""
    return [
        None if v is None or v is pd.NA or (isinstance(v, float) and v != v) else v for v in values.tolist()
    ]


def _angle_dtype(profile_dtype: Any) -> Any:
    """`Series.map` keeps a string dtype for the angles; object profiles give object angles (as before)."""
    return profile_dtype if isinstance(profile_dtype, pd.StringDtype) else object


@functools.cache
def _string_dtype() -> pd.StringDtype:
    """pandas' "string" dtype; looking it up by name costs ~40 us per call."""
    return pd.api.types.pandas_dtype("string")
