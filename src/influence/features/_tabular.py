"""Tabular feature families: meetings, e-mail, title, signals, external, history, timing, context, relative.

Every function takes the `Prepared` arrays and the output `Rows` and returns {feature: float64 array per row}.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from influence.contract import RECIPIENT_KINDS, RESPONSES
from influence.features._ops import (
    count_before,
    dense_rank,
    distinct_count,
    find,
    group_max,
    group_medians,
    group_sum,
    safe_div,
    unique,
)
from influence.features._prepare import NO_TIME, NS_PER_DAY, NS_PER_HOUR, PARTNER, SELLER, Prepared
from influence.features._spec import SENIOR_LEVEL, SIGNAL_LOOKBACK_DAYS, TITLE_FUNCTIONS

Features = dict[str, np.ndarray]


@dataclass
class Rows:
    """Output rows: (deal, person) codes sorted like (deal_id, person_id)."""

    keys: np.ndarray  # deal * n_people + person
    deal: np.ndarray
    person: np.ndarray
    active: np.ndarray  # bool: appears in the deal's events (not only through `pairs`)
    n_people: int
    # row of each event's person, -1 when not an output row (sellers): computed once, used by every family
    of_part: np.ndarray  # meeting participants
    of_sender: np.ndarray  # e-mail senders
    of_recipient: np.ndarray  # e-mail recipients

    @property
    def n(self) -> int:
        return len(self.keys)

    def of(self, deal: np.ndarray, person: np.ndarray) -> np.ndarray:
        """Row index of each (deal, person), -1 when it is not an output row."""
        return find(self.keys, deal.astype(np.int64) * self.n_people + person)


def _event_keys(p: Prepared) -> np.ndarray:
    """(deal, person) key of every meeting participant, e-mail sender and recipient, in that order."""
    n_p = max(p.n_people, 1)
    return np.concatenate(
        [
            p.mtg_deal[p.part_mtg].astype(np.int64) * n_p + p.part_person,
            p.msg_deal.astype(np.int64) * n_p + p.msg_sender,
            p.msg_deal[p.rec_msg].astype(np.int64) * n_p + p.rec_person,
        ]
    )


# From this many events on, participation keys are hashed: a person's events in a deal repeat one key many times
# (7.9M events, 300k keys), so one hash pass finds the few distinct keys and codes every event, which also spares
# make_rows its three event lookups (keys and rows: 0.4 s against 0.5-0.65 s for 7.9M events).
HASH_EVENTS_MIN = 65_536


def participation_keys(p: Prepared) -> np.ndarray:
    """(deal, person) keys of everyone (any side) who took part in a deal's events before as_of."""
    keys = _event_keys(p)
    if len(keys) < HASH_EVENTS_MIN:
        return unique(keys)
    codes, distinct = pd.factorize(keys)
    order = np.argsort(distinct)
    position = np.empty(len(order), np.int64)
    position[order] = np.arange(len(order))
    out = distinct[order]
    p.participation = (out, codes, position)
    return out


def make_rows(p: Prepared, active_keys: np.ndarray, extra_keys: np.ndarray) -> Rows:
    n_p = max(p.n_people, 1)
    people_side = p.person_side
    active = active_keys[people_side[active_keys % n_p] != SELLER]
    extra = extra_keys[people_side[extra_keys % n_p] != SELLER]
    keys = unique(np.concatenate([active, extra]))
    n_part, n_sent = len(p.part_mtg), len(p.msg_deal)
    if p.participation is not None and p.participation[0] is active_keys:
        # every event's key is a participation key already coded: look up only the distinct keys
        _, codes, position = p.participation
        of_event = find(keys, active_keys)[position][codes]
    else:
        of_event = find(keys, _event_keys(p))
    return Rows(
        keys=keys,
        deal=keys // n_p,
        person=keys % n_p,
        active=find(active, keys) >= 0,
        n_people=n_p,
        of_part=of_event[:n_part],
        of_sender=of_event[n_part : n_part + n_sent],
        of_recipient=of_event[n_part + n_sent :],
    )


def _position(p: Prepared, deal: np.ndarray, time: np.ndarray) -> np.ndarray:
    """Where `time` falls in the deal's observed span: 0 = creation, 1 = observation end (0 when the span is 0)."""
    start = p.deal_created[deal]
    span = (p.deal_obs_end[deal] - start).astype(np.float64)
    return safe_div((time - start).astype(np.float64), span, empty=0.0)


def meetings(p: Prepared, rows: Rows) -> Features:
    n = rows.n
    n_deal_mtg = group_sum(p.mtg_deal, p.n_deals)
    part_deal = p.mtg_deal[p.part_mtg]
    r = rows.of_part
    att = p.part_attended
    invited = p.part_response >= 0

    mtg_attended = group_sum(r, n, att)
    late = _position(p, part_deal, p.mtg_time[p.part_mtg]) >= 0.5
    attended_late = group_sum(r, n, att & late)

    # co-attendance with senior buyer/partner people: senior attendees per meeting, minus oneself
    senior = (
        (p.person_seniority[p.part_person] >= SENIOR_LEVEL) & (p.person_side[p.part_person] != SELLER) & att
    )
    senior_per_mtg = group_sum(p.part_mtg, len(p.mtg_deal), senior)
    others_senior = (senior_per_mtg[p.part_mtg] - senior) > 0
    size_per_mtg = group_sum(p.part_mtg, len(p.mtg_deal), att)

    organised = group_sum(r, n, p.part_organiser)
    out: Features = {
        "mtg_invited": group_sum(r, n),
        "mtg_attended": mtg_attended,
        "mtg_attended_share": safe_div(mtg_attended, n_deal_mtg[rows.deal], empty=0.0),
        "mtg_organised": organised,
        "mtg_organised_share": safe_div(organised, group_sum(r, n)),
        "mtg_attended_early": mtg_attended - attended_late,
        "mtg_attended_late": attended_late,
        "mtg_late_share": safe_div(attended_late, mtg_attended),
    }
    n_invited = group_sum(r, n, invited)
    for code, response in enumerate(RESPONSES):
        out[f"mtg_resp_{response}_share"] = safe_div(group_sum(r, n, p.part_response == code), n_invited)
    out["mtg_senior_coattend_share"] = safe_div(group_sum(r, n, att & others_senior), mtg_attended)
    out["mtg_technical_share"] = safe_div(group_sum(r, n, att & p.mtg_technical[p.part_mtg]), mtg_attended)
    out["mtg_executive_share"] = safe_div(group_sum(r, n, att & p.mtg_executive[p.part_mtg]), mtg_attended)
    out["mtg_size_mean"] = safe_div(
        group_sum(r, n, np.where(att, size_per_mtg[p.part_mtg], 0.0)), mtg_attended
    )
    # of the deal's meetings of one kind, the share attended (the other shares above are "of MY meetings")
    for name, kind in (("technical", p.mtg_technical), ("executive", p.mtg_executive)):
        deal_kind = group_sum(p.mtg_deal, p.n_deals, kind)
        out[f"mtg_{name}_attended_share"] = safe_div(
            group_sum(r, n, att & kind[p.part_mtg]), deal_kind[rows.deal]
        )
    return out


def email(p: Prepared, rows: Rows) -> Features:
    n = rows.n
    r_sent = rows.of_sender
    r_recv = rows.of_recipient
    is_cc = p.rec_kind == RECIPIENT_KINDS.index("cc")
    sender = p.msg_sender[p.rec_msg]
    senior_sender = (p.person_seniority[sender] >= SENIOR_LEVEL) & (p.person_side[sender] != SELLER)

    thread_key, n_threads, n_threads_deal = _deal_threads(p)
    person_threads = _threads_per_row(p, rows, thread_key, n_threads_deal)
    # the first captured message(s) of each thread: every sender at the thread's earliest time is a starter
    thread_start = _group_min_time(thread_key, p.msg_time, n_threads)
    first = np.flatnonzero(p.msg_time == thread_start[thread_key])

    # replies: a message answering a captured message of someone else
    parent = p.msg_parent
    is_reply = parent >= 0
    is_reply[is_reply] &= p.msg_sender[parent[is_reply]] != p.msg_sender[is_reply]
    child = np.flatnonzero(is_reply)
    par = parent[child]
    latency = (p.msg_time[child] - p.msg_time[par]).astype(np.float64) / NS_PER_HOUR
    latency[latency < 0] = np.nan  # clock skew: the reply cannot predate its parent
    r_replier = rows.of_sender[child]  # the reply's own sender row
    r_parent_author = _author_rows(p, rows, child, par)
    lat_recv, lat_given, deal_median = group_medians(
        [(r_parent_author, n), (r_replier, n), (p.msg_deal[child], p.n_deals)], latency
    )
    deal_latency = np.log1p(deal_median)[rows.deal]
    # A deal without any captured reply (e.g. a header-only import without In-Reply-To) says nothing about who
    # gets answered: reply counts there are undefined (NaN), not "nobody replies to this person".
    no_replies = (group_sum(p.msg_deal[child], p.n_deals) == 0)[rows.deal]
    replied = np.zeros(len(p.msg_deal), bool)
    replied[par] = True
    sent = group_sum(r_sent, n)
    replied_share = safe_div(group_sum(r_sent, n, replied), sent)
    replied_share[no_replies] = np.nan

    def reply_count(r: np.ndarray) -> np.ndarray:
        out = group_sum(r, n)
        out[no_replies] = np.nan
        return out

    return {
        "em_sent": sent,
        "em_received": group_sum(r_recv, n),
        "em_received_cc": group_sum(r_recv, n, is_cc),
        "em_cc_by_senior": group_sum(r_recv, n, is_cc & senior_sender),
        "em_threads_share": safe_div(person_threads, n_threads_deal[rows.deal], empty=0.0),
        "em_threads_started": group_sum(r_sent[first], n),
        "em_replies_received": reply_count(r_parent_author),
        "em_replies_given": reply_count(r_replier),
        "em_replied_share": replied_share,
        "em_latency_received_h": lat_recv,
        "em_latency_given_h": lat_given,
        "em_latency_log_ratio": np.log1p(lat_given) - np.log1p(lat_recv),
        "em_latency_received_rel": np.log1p(lat_recv) - deal_latency,
        "em_latency_given_rel": np.log1p(lat_given) - deal_latency,
        **_fans(p, rows, sender),
    }


# Distinct counts per row (fan-in, fan-out, threads) mark each (row, value) pair in a bitmap holding, per row, one
# slot per value of its deal (people taking part, threads), instead of sorting int64 (row, value) keys: marking
# 4.4M recipients costs ~15 ms where their sort cost ~0.15 s. The bitmap has, summed over rows, as many slots as
# their deal has values, so deals with thousands of people and threads (a whole mailbox) make it large: a slot
# costs ~1 ns (zeroing, summing) against ~30 ns per event sorted, so past this many slots per event the sort is
# used (a generated 190-person mailbox: 11 slots per event).
BITMAP_SLOTS_PER_EVENT = 16
BITMAP_MIN_SLOTS = 1 << 16  # small inputs: always the bitmap


def _bitmap_distinct(
    rows: Rows, width: np.ndarray, events: list[tuple[np.ndarray, np.ndarray]]
) -> np.ndarray | None:
    """Per row, the number of distinct values in `events`: pairs of (row or -1, code of the value within the
    deal of its event, in [0, width[deal])). None when the bitmap would be too large (see BITMAP_SLOTS_PER_EVENT).
    """
    row_width = width[rows.deal]
    start = np.zeros(rows.n + 1, np.int64)
    np.cumsum(row_width, out=start[1:])
    total = int(start[-1])
    if total > max(BITMAP_SLOTS_PER_EVENT * sum(len(row) for row, _ in events), BITMAP_MIN_SLOTS):
        return None
    # slots past the rows' take the events of row -1 (start[-1] = total): no masking copies
    seen = np.zeros(total + int(width.max(initial=0)), bool)
    for row, local in events:
        seen[start[row] + local] = True
    counts = np.zeros(rows.n, np.float64)
    has = row_width > 0  # (rows of deals without values have no slots: np.add.reduceat needs them left out)
    if has.any():
        counts[has] = np.add.reduceat(seen[:total].view(np.int8), start[:-1][has], dtype=np.int64)
    return counts


def _threads_per_row(p: Prepared, rows: Rows, thread_key: np.ndarray, per_deal: np.ndarray) -> np.ndarray:
    """Distinct threads each row sent or received a message in."""
    # The bitmap needs each deal's threads coded 0..k-1. They are once the codes of threads without a message
    # left (after as_of) are closed up, if each deal's thread codes are one range (threads coded in order of first
    # appearance, e-mails listed by deal), which is checked.
    present = np.zeros(int(thread_key.max(initial=-1)) + 1, bool)
    present[thread_key] = True
    dense = (np.cumsum(present) - 1)[thread_key]
    lowest = np.full(p.n_deals, np.iinfo(np.int64).max, np.int64)
    np.minimum.at(lowest, p.msg_deal, dense)
    local = dense - lowest[p.msg_deal]
    counts = None
    if (local < per_deal[p.msg_deal]).all():
        counts = _bitmap_distinct(
            rows, per_deal, [(rows.of_sender, local), (rows.of_recipient, local[p.rec_msg])]
        )
    if counts is None:
        counts = distinct_count(
            np.concatenate([rows.of_sender, rows.of_recipient]),
            np.concatenate([thread_key, thread_key[p.rec_msg]]),
            rows.n,
        )
    return counts


def _fans(p: Prepared, rows: Rows, sender: np.ndarray) -> Features:
    """em_fan_out (distinct people each row sent to) and em_fan_in (distinct senders each row received from)."""
    if p.participation is not None:
        # A person's code within the deal's participants is its participation key's position less the deal's
        # first one (keys sort by deal): known for every event from the hashed participation keys.
        keys, codes, position = p.participation
        first = np.searchsorted(keys // rows.n_people, np.arange(p.n_deals + 1))
        n_part, n_sent = len(p.part_mtg), len(p.msg_deal)
        sent_local = position[codes[n_part : n_part + n_sent]] - first[p.msg_deal]
        rec_local = position[codes[n_part + n_sent :]] - first[p.msg_deal[p.rec_msg]]
        width = np.diff(first)
        fan_out = _bitmap_distinct(rows, width, [(rows.of_sender[p.rec_msg], rec_local)])
        fan_in = _bitmap_distinct(rows, width, [(rows.of_recipient, sent_local[p.rec_msg])])
        if fan_out is not None and fan_in is not None:
            return {"em_fan_out": fan_out, "em_fan_in": fan_in}
    return {
        "em_fan_out": distinct_count(rows.of_sender[p.rec_msg], p.rec_person, rows.n),
        "em_fan_in": distinct_count(rows.of_recipient, sender, rows.n),
    }


def _author_rows(p: Prepared, rows: Rows, child: np.ndarray, par: np.ndarray) -> np.ndarray:
    """Row of each parent message's sender in the deal of its reply (`rows.of(deal of child, sender of par)`).

    That is the parent's own sender row unless the parent was captured in another deal: only those few are
    looked up (two lookups of 1.2M replies were 5% of the e-mail family)."""
    out = rows.of_sender[par]
    elsewhere = np.flatnonzero(p.msg_deal[par] != p.msg_deal[child])
    if len(elsewhere):
        out[elsewhere] = rows.of(p.msg_deal[child[elsewhere]], p.msg_sender[par[elsewhere]])
    return out


def _deal_threads(p: Prepared) -> tuple[np.ndarray, int, np.ndarray]:
    """(per message its thread's code in [0, n_threads), n_threads, threads per deal). Threads are per deal: the
    same thread id in two deals is two threads. Codes only need to tell threads apart."""
    width = int(p.msg_thread.max(initial=0)) + 1
    deal_of = np.full(width, -1, np.int64)
    deal_of[p.msg_thread] = p.msg_deal
    if np.array_equal(deal_of[p.msg_thread], p.msg_deal):
        # the usual case, every thread id within one deal: the prepared thread codes already are the threads
        return p.msg_thread, width, group_sum(deal_of, p.n_deals)
    deal_thread = p.msg_deal.astype(np.int64) * width + p.msg_thread
    thread_codes = unique(deal_thread)
    return (
        np.searchsorted(thread_codes, deal_thread),
        len(thread_codes),
        group_sum(thread_codes // width, p.n_deals),
    )


def _group_min_time(idx: np.ndarray, times: np.ndarray, n: int) -> np.ndarray:
    """Earliest time per group code in [0, n) (int64 max where none)."""
    out = np.full(n, np.iinfo(np.int64).max, np.int64)
    if len(idx) > 1:
        starts = np.flatnonzero(np.r_[True, idx[1:] != idx[:-1]])
        if len(unique(idx[starts])) == len(starts):
            # each group's rows are together (e-mails listed by thread): one reduceat over the runs instead of
            # a scattered np.minimum.at
            out[idx[starts]] = np.minimum.reduceat(times, starts)
            return out
    np.minimum.at(out, idx, times)
    return out


def title(p: Prepared, rows: Rows) -> Features:
    t = {
        k: p.title[k][rows.person]
        for k in ("seniority", "missing", "assistant", "technical", "function_code")
    }
    out: Features = {
        "title_seniority": t["seniority"].astype(np.float64),
        "title_missing": t["missing"].astype(np.float64),
        "title_assistant": t["assistant"].astype(np.float64),
        "title_technical": t["technical"].astype(np.float64),
    }
    for code, f in enumerate(TITLE_FUNCTIONS):  # codes, not every row's string compared 14 times (57 ms)
        out[f"title_fn_{f}"] = (t["function_code"] == code).astype(np.float64)
    return out


def first_seller_contact(p: Prepared) -> np.ndarray:
    """First event of each deal that involves a seller-side person (NO_TIME when none)."""
    seller_part = p.person_side[p.part_person] == SELLER
    seller_msg = p.person_side[p.msg_sender] == SELLER
    seller_msg[p.rec_msg[p.person_side[p.rec_person] == SELLER]] = True
    big = np.iinfo(np.int64).max
    first = np.full(p.n_deals, big, np.int64)
    np.minimum.at(first, p.mtg_deal[p.part_mtg[seller_part]], p.mtg_time[p.part_mtg[seller_part]])
    np.minimum.at(first, p.msg_deal[seller_msg], p.msg_time[seller_msg])
    first[first == big] = NO_TIME
    return first


def signals(p: Prepared, rows: Rows, contact: np.ndarray) -> Features:
    n = rows.n
    lookback = np.int64(SIGNAL_LOOKBACK_DAYS) * NS_PER_DAY
    start = p.deal_created[rows.deal] - lookback
    obs_end = p.deal_obs_end[rows.deal]
    has_contact = contact[rows.deal] != NO_TIME
    cutoff = np.where(has_contact, contact[rows.deal], obs_end + 1)

    # signals sorted by (person, time rank) in one int64 key: a person's signals before t are the keys below
    # (person, number of distinct signal times < t), so each bound is two binary searches of the rows
    t_rank, times = dense_rank(p.sig_time)
    width = np.int64(len(times) + 1)
    key = p.sig_person.astype(np.int64) * width + t_rank
    order = np.argsort(key)
    key = key[order]
    s_time, s_kind = p.sig_time[order], p.sig_kind[order]
    q_base = rows.person.astype(np.int64) * width

    def first_at(t: np.ndarray) -> np.ndarray:
        """Per row, the position of its person's first signal at or after t."""
        return np.searchsorted(key, q_base + np.searchsorted(times, t, side="left"), side="left")

    lo, hi, end = first_at(start), first_at(cutoff), first_at(obs_end + 1)
    before_contact = np.maximum(hi - lo, 0)

    # distinct kinds: expand each row's window (windows are short: a person's signals around one deal)
    lengths = before_contact
    row_of_sig = np.repeat(np.arange(n), lengths)
    offsets = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    kinds = distinct_count(row_of_sig, s_kind[np.repeat(lo, lengths) + offsets], n)

    first_time = np.full(n, NO_TIME, np.int64)
    first_time[before_contact > 0] = s_time[lo[before_contact > 0]]
    days = np.where(
        (before_contact > 0) & has_contact,
        (contact[rows.deal] - first_time).astype(np.float64) / NS_PER_DAY,
        np.nan,
    )
    return {
        "sig_before_contact": before_contact.astype(np.float64),
        "sig_kinds_before_contact": kinds,
        "sig_days_first_to_contact": days,
        "sig_in_deal": np.maximum(end - lo, 0).astype(np.float64),
    }


def external(p: Prepared, rows: Rows) -> Features:
    side = p.person_side[rows.person]
    person_domain = p.person_email_domain[rows.person]
    account_domain = p.account_domain[p.deal_account[rows.deal]]
    out = np.full(rows.n, np.nan)
    known = pd.notna(person_domain) & pd.notna(account_domain)
    if known.any():
        # compare each distinct (person, account) once; people rarely change account between deals
        key = (
            rows.person[known].astype(np.int64) * (len(p.account_ids) + 1) + p.deal_account[rows.deal[known]]
        )
        pairs = unique(key)
        inverse = np.searchsorted(pairs, key)
        mine = p.person_email_domain[pairs // (len(p.account_ids) + 1)]
        theirs = p.account_domain[pairs % (len(p.account_ids) + 1)]
        out[known] = (~_same_domain(mine, theirs)[inverse]).astype(np.float64)
    out[side == PARTNER] = 1.0
    return {"ext_external": out}


# From this many (person, account) pairs on, `external` compares each distinct pair of domains once: an account's
# people share a few domains (210k pairs, 10k domain pairs); below, factorising costs more than it saves.
DOMAIN_PAIRS_MIN = 4_096


def _same_domain(mine: np.ndarray, theirs: np.ndarray) -> np.ndarray:
    """Per pair: is the e-mail domain `mine` the account domain `theirs` or one of its subdomains?"""

    def compare(mine: np.ndarray, theirs: np.ndarray) -> np.ndarray:
        return np.array([a == b or a.endswith("." + b) for a, b in zip(mine, theirs, strict=True)], bool)

    if len(mine) < DOMAIN_PAIRS_MIN:
        return compare(mine, theirs)
    mine_code, mine_domains = pd.factorize(mine)
    theirs_code, theirs_domains = pd.factorize(theirs)
    width = len(theirs_domains)
    domain_pair = mine_code.astype(np.int64) * width + theirs_code
    distinct = unique(domain_pair)
    same = compare(mine_domains[distinct // width], theirs_domains[distinct % width])
    return same[np.searchsorted(distinct, domain_pair)]


def history(p: Prepared, rows: Rows, first_seen: np.ndarray) -> Features:
    """Participation in earlier deals of the same account, counted only before this deal was created.

    An event of deal e counts for row (d, person) when e was created before d AND the event happened before d
    was created, i.e. when max(event time, created_at of e) < created_at of d: one sorted count per kind. Only
    output rows are ever queried, so only events of output rows (never sellers) are counted.
    """
    account_of_deal = p.deal_account.astype(np.int64)
    q_time = p.deal_created[rows.deal]
    # (account, person) groups as dense codes: a row's earlier deals are the other rows of its group
    row_group = account_of_deal[rows.deal] * rows.n_people + rows.person
    groups = unique(row_group)
    group = find(groups, row_group)

    # count_before's method with the time ranks shared: times are ranked against the distinct query times, and
    # rank(max(t, created)) is max(rank(t), rank(created)) since ranking keeps order. Counts are exactly
    # count_before's.
    q_times = unique(q_time)
    width = np.int64(len(q_times) + 1)
    q_rank = np.searchsorted(q_times, q_time)  # events ranked <= this are strictly before the query time
    row_floor = q_rank + 1  # rank of the row's own deal creation: q_time is one of q_times
    q_base = group * width
    # Binary searches of queries in key order walk the sorted events once instead of jumping around them
    # (0.25 s per search of 255k rows in 6.7M e-mail events otherwise).
    by_key = np.argsort(q_base + q_rank, kind="stable")
    q_hi, q_lo = (q_base + q_rank)[by_key], q_base[by_key]

    # Most events count for nobody: an event of row r can only count for a deal of r's group created after both
    # the event and r's own deal, so it counts for someone iff its time and r's creation are both before the
    # group's latest creation L (with ranks: max(rank(t), floor) <= rank of L). Dropping the others first (87% of
    # the e-mail events in generated data, all of them for people with one deal per account) leaves every count
    # as it was and spares ranking and sorting them.
    latest = np.full(len(groups), NO_TIME, np.int64)
    np.maximum.at(latest, group, q_time)
    limit = np.where(q_time < latest[group], latest[group], NO_TIME)
    limit = np.append(limit, NO_TIME)  # position -1 (events of sellers): nothing is before NO_TIME

    def events(row: np.ndarray, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        keep = times < limit[row]
        row = row[keep]
        return group[row], np.maximum(np.searchsorted(q_times, times[keep], side="right"), row_floor[row])

    def count(ev_group: np.ndarray, ranks: np.ndarray) -> np.ndarray:
        ev_key = np.sort(ev_group * width + ranks)
        out = np.empty(rows.n, np.float64)
        out[by_key] = np.searchsorted(ev_key, q_hi, side="right") - np.searchsorted(ev_key, q_lo, side="left")
        return out

    mtg_group, mtg_rank = events(rows.of_part, p.mtg_time[p.part_mtg])
    sent_group, sent_rank = events(rows.of_sender, p.msg_time)
    recv_group, recv_rank = events(rows.of_recipient, p.msg_time[p.rec_msg])
    seen = np.flatnonzero(rows.active & (first_seen != NO_TIME))
    deal_group, deal_rank = events(seen, first_seen[seen])

    account_deals = count_before(account_of_deal, p.deal_created, account_of_deal[rows.deal], q_time)
    deals = count(deal_group, deal_rank)
    return {
        "hist_account_deals": account_deals,
        "hist_deals": deals,
        "hist_deals_share": safe_div(deals, account_deals),
        "hist_meetings": count(mtg_group, mtg_rank),
        "hist_emails": count(
            np.concatenate([sent_group, recv_group]), np.concatenate([sent_rank, recv_rank])
        ),
    }


def first_seen(p: Prepared, rows: Rows) -> np.ndarray:
    """Time of each row's first event in its deal (NO_TIME for rows added only through `pairs`)."""
    big = np.iinfo(np.int64).max
    first = _event_time_extreme(p, rows, np.minimum, big)
    first[first == big] = NO_TIME
    return first


def _event_time_extreme(p: Prepared, rows: Rows, reduce: np.ufunc, start: int) -> np.ndarray:
    """Per row, `reduce` (np.minimum / np.maximum) over the times of its meetings attended, e-mails sent and
    e-mails received, starting from `start` (which rows without any event keep)."""
    # one slot more for the events of sellers (row -1): no masking copies of the rows and times
    out = np.full(rows.n + 1, start, np.int64)
    for r, t in (
        (rows.of_part, p.mtg_time[p.part_mtg]),
        (rows.of_sender, p.msg_time),
        (rows.of_recipient, p.msg_time[p.rec_msg]),
    ):
        reduce.at(out, r, t)
    return out[:-1]


def timing(p: Prepared, rows: Rows, first: np.ndarray) -> Features:
    seen = first != NO_TIME
    days = np.full(rows.n, np.nan)
    days[seen] = (first[seen] - p.deal_created[rows.deal[seen]]).astype(np.float64) / NS_PER_DAY
    position = np.full(rows.n, np.nan)
    position[seen] = _position(p, rows.deal[seen], first[seen])
    last = _event_time_extreme(p, rows, np.maximum, NO_TIME)
    last_position = np.full(rows.n, np.nan)
    last_position[seen] = _position(p, rows.deal[seen], last[seen])
    return {"first_seen_days": days, "first_seen_position": position, "last_seen_position": last_position}


def context(p: Prepared, rows: Rows, participants: np.ndarray) -> Features:
    n_p = rows.n_people
    part_deal = participants // n_p
    seller = p.person_side[participants % n_p] == SELLER
    has_seller = group_sum(part_deal[seller], p.n_deals) > 0
    people = group_sum(rows.deal[rows.active], p.n_deals)
    return {
        "ctx_deal_people": people[rows.deal],
        "ctx_deal_meetings": group_sum(p.mtg_deal, p.n_deals)[rows.deal],
        "ctx_deal_emails": group_sum(p.msg_deal, p.n_deals)[rows.deal],
        "ctx_deal_age_days": (p.deal_obs_end - p.deal_created)[rows.deal].astype(np.float64) / NS_PER_DAY,
        "ctx_deal_has_seller": has_seller[rows.deal].astype(np.float64),
    }


RELATIVE = {
    "rel_mtg_attended": "mtg_attended",
    "rel_em_sent": "em_sent",
    "rel_em_received": "em_received",
    "rel_em_fan_in": "em_fan_in",
    "rel_net_degree": "net_degree",
    "rel_net_pagerank": "net_pagerank",
}


# Within-deal percentiles: scale-free, so a 150-person mailbox and a 10-person deal read alike.
PERCENTILE = {
    "pct_net_pagerank": "net_pagerank",
    "pct_acct_pagerank": "acct_pagerank",
    "pct_net_in_strength": "net_in_strength_share",
    "pct_em_fan_in": "em_fan_in",
    "pct_em_received": "em_received",
    "pct_mtg_invited": "mtg_invited",
    "pct_net_cc_weighted": "net_cc_weighted",
}


def percentile_in_deal(values: np.ndarray, rows: Rows, n_deals: int) -> np.ndarray:
    """Mid-rank percentile of each row's value among the OTHER active people of its deal: the share of them
    with a lower value, ties counting half (0 = lowest, 1 = highest). NaN when nobody else is active.

    Only active rows are compared against, so rows added through `pairs` never shift anyone's percentile.
    """
    # rounding makes people in symmetric positions tie despite float noise (PageRank's power iteration)
    rank, distinct = dense_rank(np.round(np.nan_to_num(values), 9))
    width = np.int64(len(distinct) + 1)
    deal = rows.deal.astype(np.int64)
    active = rows.active
    keys = np.sort(deal[active] * width + rank[active])
    base = deal * width
    q = base + rank
    lo, hi = np.searchsorted(keys, q, side="left"), np.searchsorted(keys, q, side="right")
    below = lo - np.searchsorted(keys, base, side="left")
    equal = hi - lo - active
    others = group_sum(deal[active], n_deals)[deal] - active
    return safe_div(below + 0.5 * equal, others)


# Up to this many rows (a scoring request: ~10-40) percentiles compare every pair of rows, all columns at once:
# a handful of numpy calls instead of ~15 per column; the sort-based path above scales to millions.
PAIRWISE_MAX_ROWS = 128


def percentiles_in_deal(columns: list[np.ndarray], rows: Rows, n_deals: int) -> list[np.ndarray]:
    """`percentile_in_deal` of each column, bit for bit (counts are integers either way, and equal ranks are
    equal values: the ranks are dense ranks of the same rounded values)."""
    if rows.n > PAIRWISE_MAX_ROWS or not columns:
        return [percentile_in_deal(values, rows, n_deals) for values in columns]
    values = np.round(np.nan_to_num(np.stack(columns)), 9)  # (column, row)
    active = rows.active
    peer = (rows.deal[:, None] == rows.deal[None, :]) & active[None, :]  # [row, other]: an active deal mate
    mine, theirs = values[:, :, None], values[:, None, :]
    below = ((theirs < mine) & peer).sum(axis=2)
    equal = ((theirs == mine) & peer).sum(axis=2) - active
    others = group_sum(rows.deal[active], n_deals)[rows.deal] - active
    out = np.full(below.shape, np.nan, np.float64)
    np.divide(below + 0.5 * equal, others, out=out, where=others != 0)
    return list(out)


def _relative_to_max(columns: list[np.ndarray], rows: Rows, n_deals: int) -> list[np.ndarray]:
    """Each column (NaN as 0) divided by its deal's maximum (at least 0), 0 where that is 0: `group_max` and
    `safe_div` of every column at once (rows are sorted by deal; the per-deal maxima are the same reduceat)."""
    values = np.nan_to_num(np.stack(columns))
    deal = rows.deal
    if not len(deal) or deal[0] < 0 or not bool((deal[1:] >= deal[:-1]).all()):
        out = []
        for v in values:
            deal_max = group_max(deal, v, n_deals)
            out.append(safe_div(v, deal_max[deal], empty=0.0))
        return out
    starts = np.flatnonzero(np.r_[True, deal[1:] != deal[:-1]])
    deal_max = np.zeros((len(columns), n_deals), np.float64)
    with np.errstate(invalid="ignore"):
        deal_max[:, deal[starts]] = np.maximum(0.0, np.maximum.reduceat(values, starts, axis=1))
    den = deal_max[:, deal]
    out_2d = np.zeros(values.shape, np.float64)
    np.divide(values, den, out=out_2d, where=den != 0)
    return list(out_2d)


def relative(features: Features, rows: Rows, n_deals: int) -> Features:
    out: Features = dict(
        zip(
            RELATIVE,
            _relative_to_max([features[base] for base in RELATIVE.values()], rows, n_deals),
            strict=True,
        )
    )
    pct = percentiles_in_deal([features[base] for base in PERCENTILE.values()], rows, n_deals)
    out.update(zip(PERCENTILE, pct, strict=True))
    return out
