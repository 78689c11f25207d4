"""Turn a `Dataset` into integer-coded numpy arrays, keeping only what is visible at `as_of`.

Everything downstream works on these arrays (np.bincount, sorting, scipy.sparse), never on per-event Python
loops. This is also the only place that reads the dataset, so it is where leakage is prevented: it never touches
deals.outcome / closed_at / stage / amount or the labels table.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from influence.contract import RECIPIENT_KINDS, RESPONSES, SIDES, Dataset
from influence.features._ops import find
from influence.features._spec import (
    EXECUTIVE_KIND_PATTERN,
    TECHNICAL_KIND_PATTERN,
    TITLE_FUNCTIONS,
)

SELLER = SIDES.index("seller")
PARTNER = SIDES.index("partner")
NO_TIME = np.iinfo(np.int64).min
NS_PER_HOUR = 3_600_000_000_000
NS_PER_DAY = 24 * NS_PER_HOUR


@dataclass
class Prepared:
    """The coded, as_of-filtered dataset. Person and deal codes follow the sorted ids, so (deal, person) keys sort
    like (deal_id, person_id)."""

    as_of_ns: int | None
    person_ids: pa.Array  # sorted
    person_side: np.ndarray  # int8 index into SIDES
    person_account: np.ndarray  # account code or -1
    person_email_domain: np.ndarray  # object, None when unknown
    person_dept: np.ndarray  # department code or -1
    person_seniority: np.ndarray  # int8 0-6
    title: dict[str, np.ndarray]  # parsed title fields per person code: seniority, function, missing, ...
    account_ids: pa.Array
    account_domain: np.ndarray  # object, None when unknown
    deal_ids: pa.Array  # kept deals only (created before as_of), sorted
    deal_account: np.ndarray
    deal_created: np.ndarray  # int64 ns
    deal_obs_end: np.ndarray  # int64 ns: last event before as_of, else created_at
    # meetings (kept)
    mtg_deal: np.ndarray
    mtg_time: np.ndarray
    mtg_technical: np.ndarray
    mtg_executive: np.ndarray
    # meeting participants: invitees plus organisers who were not on the invitee list
    part_mtg: np.ndarray
    part_person: np.ndarray
    part_response: np.ndarray  # index into RESPONSES, -1 for an organiser who was not invited
    part_attended: np.ndarray  # bool
    part_organiser: np.ndarray  # bool
    # e-mails (kept)
    msg_deal: np.ndarray
    msg_time: np.ndarray
    msg_sender: np.ndarray
    msg_thread: np.ndarray  # thread code (global)
    msg_parent: np.ndarray  # index of the replied-to kept message, or -1
    # recipients of kept e-mails, self-addressed copies removed
    rec_msg: np.ndarray
    rec_person: np.ndarray
    rec_kind: np.ndarray  # index into RECIPIENT_KINDS
    # signals before as_of
    sig_person: np.ndarray
    sig_time: np.ndarray
    sig_kind: np.ndarray

    @property
    def n_people(self) -> int:
        return len(self.person_ids)

    @property
    def n_deals(self) -> int:
        return len(self.deal_ids)


def to_ns(values: pd.Series) -> np.ndarray:
    """int64 nanoseconds since the epoch (UTC); NaT -> NO_TIME."""
    if isinstance(values.dtype, pd.DatetimeTZDtype):  # the contract's dtype: no parsing, just the integers
        return values.array.as_unit("ns").asi8
    return pd.to_datetime(values, utc=True).array.as_unit("ns").asi8


def arrow_text(values: pd.Series) -> pa.Array:
    """A column as a pyarrow large_string array (zero-copy for pandas' pyarrow-backed strings)."""
    # Hand pyarrow the array, not the Series: probing a Series for the Arrow protocols goes through pandas'
    # __getattr__ and costs ~15x more, which matters for one-deal scoring requests.
    raw = values.array
    if isinstance(raw, pd.arrays.NumpyExtensionArray):
        arr = pa.array(raw.to_numpy(), from_pandas=True)
    else:
        arr = pa.array(raw, from_pandas=True)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    return arr if arr.type == pa.large_string() else arr.cast(pa.large_string())


def _int_codes(arr: pa.Array) -> np.ndarray:
    """An Arrow integer array as int64 numpy, nulls -> -1."""
    if arr.null_count:
        arr = arr.fill_null(-1)
    return arr.to_numpy(zero_copy_only=False).astype(np.int64)


def _codes(values: pa.Array, index: pa.Array) -> np.ndarray:
    """Position of each value in `index` (hash lookup in Arrow, much faster than pandas on strings); -1 if absent.

    Child tables usually list their rows grouped by parent (recipients by message, e-mails by deal), so runs of
    equal values are looked up once; when the runs are exactly the parent ids in order, nothing is hashed at all.
    Long message ids made these lookups the largest cost of the whole tabular part.
    """
    n = len(values)
    if n > 1024:
        change = pc.not_equal(values.slice(1), values.slice(0, n - 1)).fill_null(True)
        starts = np.flatnonzero(np.concatenate(([True], change.to_numpy(zero_copy_only=False))))
        if len(starts) < 0.6 * n:
            run_values = values.take(pa.array(starts))
            lengths = np.diff(np.append(starts, n))
            if len(run_values) == len(index) and pc.all(pc.equal(run_values, index)).as_py():
                return np.repeat(np.arange(len(index), dtype=np.int64), lengths)
            return np.repeat(_int_codes(pc.index_in(run_values, value_set=index)), lengths)
    return _int_codes(pc.index_in(values, value_set=index))


def _lookup(
    index: pa.Array, values: pd.Series, table: str, column: str, ref: str, nullable: bool
) -> np.ndarray:
    """Codes of `values` in `index`; a value that is not there is a clear error (table, row, field)."""
    arr = arrow_text(values)
    codes = _codes(arr, index)
    _check_found(codes, values, arr, table, column, ref, nullable)
    return codes


def _check_found(
    codes: np.ndarray, values: pd.Series, arr: pa.Array, table: str, column: str, ref: str, nullable: bool
) -> None:
    missing = codes < 0
    if nullable and arr.null_count and missing.any():
        missing &= ~np.asarray(arr.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    if missing.any():
        pos = int(np.flatnonzero(missing)[0])
        raise ValueError(
            f"{table}: row {pos}: {column} {values.iloc[pos]!r} is not a known {ref} "
            f"({int(missing.sum())} such rows); validate the dataset first (influence validate)"
        )


def _sorted_ids(values: pd.Series, table: str, column: str) -> tuple[pa.Array, np.ndarray]:
    """The ids sorted (so codes order like ids) and, per input row, its code; duplicates are an error."""
    arr = arrow_text(values)
    order = pc.sort_indices(arr).to_numpy()
    ids = arr.take(pa.array(order))
    if len(ids) > 1:
        dup = (
            pc.equal(ids.slice(1), ids.slice(0, len(ids) - 1)).fill_null(False).to_numpy(zero_copy_only=False)
        )
        if dup.any():
            raise ValueError(
                f"{table}: {column} {ids[int(np.flatnonzero(dup)[0])].as_py()!r} appears more than once"
            )
    codes = np.empty(len(order), np.int64)
    codes[order] = np.arange(len(order))
    return ids, codes


def _dictionary_of(values: pa.Array) -> tuple[np.ndarray, pa.Array]:
    """Integer codes (-1 for null) and the distinct values, in order of first appearance."""
    enc = pc.dictionary_encode(values)
    return _int_codes(enc.indices), enc.dictionary


def _dictionary(values: pd.Series) -> tuple[np.ndarray, pa.Array]:
    return _dictionary_of(arrow_text(values))


def _match(dictionary: pa.Array, codes: np.ndarray, pattern: str) -> np.ndarray:
    """Per row: does its (lower-cased) dictionary value contain `pattern`? Regex runs once per distinct value."""
    hit = (
        pc.match_substring_regex(pc.utf8_lower(dictionary), pattern)
        .fill_null(False)
        .to_numpy(zero_copy_only=False)
    )
    hit = np.append(np.asarray(hit, dtype=bool), False)  # code -1 (null) -> False
    return hit[codes]


def _domain(values: pd.Series) -> np.ndarray:
    text = pc.utf8_lower(pc.utf8_trim_whitespace(arrow_text(values)))
    return np.asarray(text.to_pylist(), dtype=object)


@functools.lru_cache(maxsize=1 << 16)
def _parsed_title(title: str | None) -> tuple[int, str, bool, bool, bool]:
    """(seniority, function, missing, assistant, technical) of one title, memoised: titles repeat across people
    and across scoring requests, and parsing is the costly part of a small request."""
    from influence.titles import parse_title

    t = parse_title(title)
    return (
        int(t.seniority_level),
        str(t.function),
        bool(t.is_missing),
        bool(t.is_assistant),
        bool(t.is_technical),
    )


def parse_title_columns(titles: pa.Array) -> dict[str, np.ndarray]:
    """Parsed title fields per row (each distinct title parsed once)."""
    codes, uniques = _dictionary_of(titles)
    parsed = [_parsed_title(t) for t in uniques.to_pylist()] + [_parsed_title(None)]  # code -1 -> missing
    fields = list(zip(*parsed, strict=True))
    codes = np.where(codes < 0, len(parsed) - 1, codes)
    return {
        "seniority": np.asarray(fields[0], dtype=np.int8)[codes],
        "function": np.asarray(fields[1], dtype=object)[codes],
        "missing": np.asarray(fields[2], dtype=bool)[codes],
        "assistant": np.asarray(fields[3], dtype=bool)[codes],
        "technical": np.asarray(fields[4], dtype=bool)[codes],
    }


def prepare(ds: Dataset, as_of: pd.Timestamp | None) -> Prepared:
    """Code ids, drop everything at/after `as_of`, and resolve meetings/e-mails to deals and people."""
    as_of_ns = None if as_of is None else int(as_of.value)

    # --- people: computed in file order (so errors name the right row), then put in person-code order --------
    people = ds.people
    person_ids, person_code = _sorted_ids(people["person_id"], "people", "person_id")
    n_people = len(person_ids)
    by_code = np.empty(n_people, np.int64)
    by_code[person_code] = np.arange(n_people)
    side = _codes(arrow_text(people["side"]), pa.array(SIDES, pa.large_string())).astype(np.int8)
    if (side < 0).any():
        pos = int(np.flatnonzero(side < 0)[0])
        raise ValueError(f"people: row {pos}: side {people['side'].iloc[pos]!r} is not one of {SIDES}")

    accounts = ds.accounts
    account_ids = arrow_text(accounts["account_id"])
    person_account = _lookup(account_ids, people["account_id"], "people", "account_id", "account_id", True)
    email = pc.utf8_lower(pc.utf8_trim_whitespace(arrow_text(people["email"])))
    has_at = pc.match_substring(email, "@").fill_null(False)
    email_domain = pc.if_else(has_at, pc.replace_substring_regex(email, pattern="^.*@", replacement=""), None)

    title = parse_title_columns(arrow_text(people["title"]))
    fn = title["function"]
    fn_known = np.isin(fn, TITLE_FUNCTIONS) & (fn != "other")
    dept = pc.utf8_lower(pc.utf8_trim_whitespace(arrow_text(people["department"])))
    dept = pc.if_else(pc.equal(dept, ""), None, dept)
    dept = pc.coalesce(dept, pa.array(np.where(fn_known, fn, None), pa.large_string()))
    dept_codes, _ = _dictionary_of(dept)
    title = {k: v[by_code] for k, v in title.items()}

    # --- deals (only what existed before as_of; codes follow the sorted deal_id) ------------------------------
    deals = ds.deals
    deal_ids_all, deal_code_all = _sorted_ids(deals["deal_id"], "deals", "deal_id")
    deal_created_all = to_ns(deals["created_at"])
    keep_deal = np.ones(len(deals), bool) if as_of_ns is None else deal_created_all < as_of_ns
    # sorted position -> kept code (-1 for deals that did not exist yet at as_of)
    kept_sorted = np.zeros(len(deals), bool)
    kept_sorted[deal_code_all[keep_deal]] = True
    sorted_to_kept = np.where(kept_sorted, np.cumsum(kept_sorted) - 1, -1)
    kept_rows = np.empty(int(keep_deal.sum()), np.int64)
    kept_rows[sorted_to_kept[deal_code_all[keep_deal]]] = np.flatnonzero(keep_deal)
    kept = deals.iloc[kept_rows]
    deal_ids = deal_ids_all.filter(pa.array(kept_sorted))
    deal_account = _lookup(account_ids, kept["account_id"], "deals", "account_id", "account_id", False)
    deal_created = deal_created_all[kept_rows]

    def deal_codes(values: pd.Series, table: str) -> np.ndarray:
        return sorted_to_kept[_lookup(deal_ids_all, values, table, "deal_id", "deal_id", False)]

    def before(times: np.ndarray) -> np.ndarray:
        return np.ones(len(times), bool) if as_of_ns is None else times < as_of_ns

    # --- meetings -------------------------------------------------------------------------------------------
    meetings = ds.meetings
    m_deal = deal_codes(meetings["deal_id"], "meetings")
    m_time = to_ns(meetings["start_at"])
    m_keep = (m_deal >= 0) & before(m_time)
    meeting_ids = arrow_text(meetings["meeting_id"])
    m_org = _lookup(person_ids, meetings["organizer_id"], "meetings", "organizer_id", "person_id", True)
    kind_codes, kinds = _dictionary(meetings["kind"])
    m_tech = _match(kinds, kind_codes, TECHNICAL_KIND_PATTERN)
    m_exec = _match(kinds, kind_codes, EXECUTIVE_KIND_PATTERN)
    m_new = np.full(len(meetings), -1, np.int64)
    m_new[m_keep] = np.arange(int(m_keep.sum()))

    att = ds.meeting_attendees
    a_mtg = m_new[
        _lookup(meeting_ids, att["meeting_id"], "meeting_attendees", "meeting_id", "meeting_id", False)
    ]
    a_person = _lookup(person_ids, att["person_id"], "meeting_attendees", "person_id", "person_id", False)
    a_resp = _codes(arrow_text(att["response"]), pa.array(RESPONSES, pa.large_string())).astype(np.int8)
    attended = att["attended"]
    a_known = attended.notna().to_numpy()
    a_flag = attended.to_numpy(dtype=bool, na_value=False)
    a_keep = a_mtg >= 0
    a_mtg, a_person, a_resp = a_mtg[a_keep], a_person[a_keep], a_resp[a_keep]
    a_known, a_flag = a_known[a_keep], a_flag[a_keep]

    o_mtg = m_new[m_keep]
    o_person = m_org[m_keep]
    has_org = o_person >= 0
    o_mtg, o_person = o_mtg[has_org], o_person[has_org]
    n_p = max(n_people, 1)
    a_key = a_mtg * n_p + a_person
    o_key = np.sort(o_mtg * n_p + o_person)
    org_invited = find(o_key, a_key) >= 0
    org_missing = find(np.sort(a_key), o_mtg * n_p + o_person) < 0
    # Attendance when not recorded: an accepted invitation, or being the organiser.
    a_att = np.where(a_known, a_flag, (a_resp == RESPONSES.index("accepted")) | org_invited)
    part_mtg = np.concatenate([a_mtg, o_mtg[org_missing]])
    part_person = np.concatenate([a_person, o_person[org_missing]])
    part_response = np.concatenate([a_resp, np.full(int(org_missing.sum()), -1, np.int8)])
    part_attended = np.concatenate([a_att, np.ones(int(org_missing.sum()), bool)])
    part_organiser = np.concatenate([org_invited, np.ones(int(org_missing.sum()), bool)])

    # --- e-mails --------------------------------------------------------------------------------------------
    emails = ds.emails
    e_deal = deal_codes(emails["deal_id"], "emails")
    e_time = to_ns(emails["sent_at"])
    e_keep = (e_deal >= 0) & before(e_time)
    e_sender = _lookup(person_ids, emails["sender_id"], "emails", "sender_id", "person_id", False)
    message_ids = arrow_text(emails["message_id"])
    e_new = np.full(len(emails), -1, np.int64)
    e_new[e_keep] = np.arange(int(e_keep.sum()))
    rec = ds.email_recipients
    # One hash table of the (long) message ids serves both the recipients and the replies.
    rec_message = arrow_text(rec["message_id"])
    both = _codes(pa.concat_arrays([rec_message, arrow_text(emails["in_reply_to"])]), message_ids)
    r_codes, parent_all = both[: len(rec)], both[len(rec) :]
    _check_found(
        r_codes, rec["message_id"], rec_message, "email_recipients", "message_id", "message_id", False
    )
    r_msg = e_new[r_codes]
    parent = np.where(parent_all >= 0, e_new[np.maximum(parent_all, 0)], -1)
    thread_codes, threads = _dictionary(emails["thread_id"])
    # a message without a thread id is a thread of its own
    no_thread = thread_codes < 0
    thread_codes[no_thread] = len(threads) + np.arange(int(no_thread.sum()))
    r_person = _lookup(person_ids, rec["person_id"], "email_recipients", "person_id", "person_id", False)
    r_kind = _codes(arrow_text(rec["kind"]), pa.array(RECIPIENT_KINDS, pa.large_string())).astype(np.int8)
    msg_sender = e_sender[e_keep]
    r_keep = r_msg >= 0
    r_keep[r_keep] &= msg_sender[r_msg[r_keep]] != r_person[r_keep]

    # --- signals --------------------------------------------------------------------------------------------
    sig = ds.signals
    s_person = _lookup(person_ids, sig["person_id"], "signals", "person_id", "person_id", False)
    s_time = to_ns(sig["occurred_at"])
    s_keep = before(s_time)
    s_kind, _ = _dictionary(
        pd.Series(pc.utf8_lower(pc.utf8_trim_whitespace(arrow_text(sig["kind"]))), dtype="string")
    )

    # --- observation end per deal: the last event seen (before as_of), else creation --------------------------
    msg_deal = e_deal[e_keep]
    msg_time = e_time[e_keep]
    mtg_deal = m_deal[m_keep]
    mtg_time = m_time[m_keep]
    obs_end = deal_created.copy()
    if len(kept):
        last = np.full(len(kept), NO_TIME, np.int64)
        np.maximum.at(last, mtg_deal, mtg_time)
        np.maximum.at(last, msg_deal, msg_time)
        obs_end = np.where(last == NO_TIME, deal_created, last)

    return Prepared(
        as_of_ns=as_of_ns,
        person_ids=person_ids,
        person_side=side[by_code],
        person_account=person_account[by_code],
        person_email_domain=np.asarray(email_domain.to_pylist(), dtype=object)[by_code],
        person_dept=dept_codes[by_code],
        person_seniority=title["seniority"],
        title=title,
        account_ids=account_ids,
        account_domain=_domain(accounts["domain"]),
        deal_ids=deal_ids,
        deal_account=deal_account,
        deal_created=deal_created,
        deal_obs_end=obs_end,
        mtg_deal=mtg_deal,
        mtg_time=mtg_time,
        mtg_technical=m_tech[m_keep],
        mtg_executive=m_exec[m_keep],
        part_mtg=part_mtg,
        part_person=part_person,
        part_response=part_response,
        part_attended=part_attended,
        part_organiser=part_organiser,
        msg_deal=msg_deal,
        msg_time=msg_time,
        msg_sender=msg_sender,
        msg_thread=thread_codes[e_keep].astype(np.int64),
        msg_parent=parent[e_keep],
        rec_msg=r_msg[r_keep],
        rec_person=r_person[r_keep],
        rec_kind=r_kind[r_keep],
        sig_person=s_person[s_keep],
        sig_time=s_time[s_keep],
        sig_kind=s_kind[s_keep].astype(np.int64),
    )
