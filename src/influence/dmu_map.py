"""The deal map: one deal's DMU as a network, merged with its scores into one JSON-ready dict.

Pure functions, no I/O. `deal_graphs(ds)` builds, per deal, the people around it and the ties between them from
metadata only (who e-mailed whom, who sat in the same meeting); `deal_map(graph, report)` merges one graph with
that deal's scores (`ScoreResult.deal_report(deal_id)` or the `/v1/deals/score` answer, which share the fields
used here) and a deterministic layout. The map page, the API and `influence report` all render this dict with
the same JavaScript (`influence/static/dmu-map.js`).

Choices (docs/map.md):

- Nodes are everyone who took part in the deal's meetings (organiser or invitee, whatever the answer) or e-mails
  (sender or recipient), on every side (buyer, partner, seller), plus every person the scorer scored for the
  deal (a person seen only through digital signals has no tie but is still part of the DMU). Seller-side people
  are never scored: they carry `scored: false` and are drawn apart (grey squares).
- Ties are undirected and counted per pair: `emails` = messages where one of the two sent and the other received
  (either direction, each message once), `meetings` = meetings both attended; `weight = emails + meetings`.
  Attendance follows the features (`influence.features`): `attended` when recorded, else an accepted invitation
  or being the organiser; an organiser who is not on the invitation list attended.
- With `as_of`, only events strictly before it count, as in `build_features`.
- The layout is computed here, not in the browser: a weighted Fruchterman-Reingold spring layout in numpy with a
  fixed seed, so the same deal is always drawn the same way (stable screenshots, the same picture in the page
  and in the report) and the front end stays plain SVG.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from influence.contract import PROFILES, RESPONSES, Dataset
from influence.predict import json_ready

if TYPE_CHECKING:
    from influence.predict import ScoreResult

__all__ = [
    "MAP_VERSION",
    "NODE_COLUMNS",
    "EDGE_COLUMNS",
    "DealGraph",
    "deal_graphs",
    "deal_graph",
    "spring_layout",
    "spring_layouts",
    "deal_map",
    "deal_maps",
    "deal_reports",
    "json_ready",
]

MAP_VERSION = 1
NODE_COLUMNS = [
    "person_id",
    "full_name",
    "title",
    "department",
    "side",
    "account_id",
    "emails_sent",
    "emails_received",
    "meetings",
]
EDGE_COLUMNS = ["source", "target", "emails", "meetings", "weight"]
# Fields copied from the scored person into its node; everything else of the score row (p_<profile>, ids) is
# left out to keep the page light.
_SCORE_FIELDS = (
    "influence",
    "influence_rank",
    "profile",
    "profile_confidence",
    "method",
    "engagement",
    "seller_meetings",
    "seller_emails",
    "reasons",
)
_DEAL_FIELDS = ("stage", "outcome", "amount", "currency", "created_at", "closed_at")
LAYOUT_ITERATIONS = 200
# Smallest distance kept between two node centres, in layout units (the layout spans [0, 1] on both axes).
MIN_SEPARATION = 0.07


@dataclass(frozen=True)
class DealGraph:
    """The people around one deal and the ties between them.

    `nodes`: one row per person (`NODE_COLUMNS`), `emails_sent` / `emails_received` / `meetings` counted within
    this deal. `edges`: one row per tied pair (`EDGE_COLUMNS`), `source < target` as text. `n_meetings` /
    `n_emails`: the deal's meetings and messages counted (before `as_of`).
    """

    deal_id: str
    account_id: str | None
    nodes: pd.DataFrame
    edges: pd.DataFrame
    n_meetings: int = 0
    n_emails: int = 0


# -- graph --------------------------------------------------------------------------------------------------------
def _text(series: pd.Series) -> pd.Series:
    return series.astype("string")


def _participation(ds: Dataset, meetings: pd.DataFrame) -> pd.DataFrame:
    """(deal_id, meeting_id, person_id, attended) for every invitee and organiser of `meetings`."""
    att = ds.meeting_attendees
    att = att[att["meeting_id"].isin(meetings["meeting_id"])]
    invited = pd.DataFrame(
        {"meeting_id": _text(att["meeting_id"]), "person_id": _text(att["person_id"])}, index=att.index
    )
    organisers = pd.DataFrame(
        {"meeting_id": _text(meetings["meeting_id"]), "person_id": _text(meetings["organizer_id"])}
    ).dropna()
    org_key = set(zip(organisers["meeting_id"], organisers["person_id"], strict=True))
    is_organiser = pd.Series(
        [k in org_key for k in zip(invited["meeting_id"], invited["person_id"], strict=True)],
        index=invited.index,
        dtype=bool,
    )
    recorded = att["attended"]
    accepted = (att["response"].astype("string") == RESPONSES[0]).fillna(False).astype(bool)
    # Same rule as the features: the recorded flag when known, else an accepted invitation or being the organiser.
    invited["attended"] = recorded.astype("boolean").fillna(accepted | is_organiser).astype(bool).to_numpy()
    inv_key = set(zip(invited["meeting_id"], invited["person_id"], strict=True))
    uninvited = organisers[
        [k not in inv_key for k in zip(organisers["meeting_id"], organisers["person_id"], strict=True)]
    ].assign(attended=True)
    part = pd.concat([invited, uninvited], ignore_index=True)
    deal_of = pd.Series(_text(meetings["deal_id"]).to_numpy(), index=_text(meetings["meeting_id"]).to_numpy())
    part.insert(0, "deal_id", deal_of.reindex(part["meeting_id"].to_numpy()).to_numpy())
    return part.astype({"deal_id": "string", "meeting_id": "string", "person_id": "string"})


def _pairs(a: pd.Series, b: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Each pair ordered (smaller id first), so a->b and b->a count as one undirected tie."""
    first = a.where(a < b, b)
    second = b.where(a < b, a)
    return first, second


@dataclass
class _Tables:
    """Every wanted deal's nodes and ties in two frames, sorted by deal (then person / pair)."""

    wanted: list[str]
    nodes: pd.DataFrame
    ties: pd.DataFrame
    n_meetings: pd.Series
    n_emails: pd.Series
    account_of: dict[str, str]


@dataclass
class _GraphRecords:
    """One deal's graph as plain Python rows (what the map is built from)."""

    deal_id: str
    account_id: str | None
    nodes: list[dict[str, Any]]
    edges: list[tuple[Any, ...]]
    n_meetings: int
    n_emails: int


def deal_graphs(
    ds: Dataset,
    deal_ids: Sequence[str] | None = None,
    *,
    as_of: pd.Timestamp | str | None = None,
    extra_people: Mapping[str, Iterable[str]] | None = None,
) -> dict[str, DealGraph]:
    """The graph of every deal of `ds` (or of `deal_ids`, in that order), counting events before `as_of`.

    `extra_people` maps a deal to people who must be nodes even without any tie (the scored people). A deal id not
    in `ds.deals` raises KeyError naming it. People referenced but absent from `ds.people` keep side `unknown`.
    """
    t = _graph_tables(ds, deal_ids, as_of=as_of, extra_people=extra_people)
    by_deal_nodes = {str(k): v for k, v in t.nodes.groupby("deal_id", sort=False)}
    by_deal_ties = {str(k): v for k, v in t.ties.groupby("deal_id", sort=False)}
    empty_nodes = t.nodes.iloc[0:0]
    empty_ties = t.ties.iloc[0:0]
    out: dict[str, DealGraph] = {}
    for deal_id in t.wanted:
        out[deal_id] = DealGraph(
            deal_id=deal_id,
            account_id=t.account_of.get(deal_id),
            nodes=by_deal_nodes.get(deal_id, empty_nodes)[NODE_COLUMNS].reset_index(drop=True),
            edges=by_deal_ties.get(deal_id, empty_ties)[EDGE_COLUMNS].reset_index(drop=True),
            n_meetings=int(t.n_meetings.get(deal_id, 0)),
            n_emails=int(t.n_emails.get(deal_id, 0)),
        )
    return out


def _graph_records(
    ds: Dataset,
    deal_ids: Sequence[str],
    *,
    as_of: pd.Timestamp | None,
    extra_people: Mapping[str, Iterable[str]] | None,
) -> dict[str, _GraphRecords]:
    """`deal_graphs` as Python rows, converted once for all deals (per-deal DataFrames cost more than the map)."""
    t = _graph_tables(ds, deal_ids, as_of=as_of, extra_people=extra_people)
    nodes: dict[str, list[dict[str, Any]]] = {}
    columns = [t.nodes[c].tolist() for c in NODE_COLUMNS]
    for deal_id, *row in zip(t.nodes["deal_id"].astype(str).tolist(), *columns, strict=True):
        nodes.setdefault(deal_id, []).append(
            {c: json_ready(v) for c, v in zip(NODE_COLUMNS, row, strict=True)}
        )
    edges: dict[str, list[tuple[Any, ...]]] = {}
    columns = [t.ties[c].tolist() for c in EDGE_COLUMNS]
    for deal_id, *row in zip(t.ties["deal_id"].astype(str).tolist(), *columns, strict=True):
        edges.setdefault(deal_id, []).append(tuple(row))
    return {
        d: _GraphRecords(
            deal_id=d,
            account_id=t.account_of.get(d),
            nodes=nodes.get(d, []),
            edges=edges.get(d, []),
            n_meetings=int(t.n_meetings.get(d, 0)),
            n_emails=int(t.n_emails.get(d, 0)),
        )
        for d in t.wanted
    }


def _records_of(graph: DealGraph) -> _GraphRecords:
    return _GraphRecords(
        deal_id=graph.deal_id,
        account_id=graph.account_id,
        nodes=[
            {c: json_ready(v) for c, v in zip(NODE_COLUMNS, r, strict=True)}
            for r in zip(*(graph.nodes[c].tolist() for c in NODE_COLUMNS), strict=True)
        ],
        edges=list(zip(*(graph.edges[c].tolist() for c in EDGE_COLUMNS), strict=True)),
        n_meetings=graph.n_meetings,
        n_emails=graph.n_emails,
    )


def _graph_tables(
    ds: Dataset,
    deal_ids: Sequence[str] | None,
    *,
    as_of: pd.Timestamp | str | None,
    extra_people: Mapping[str, Iterable[str]] | None,
) -> _Tables:
    deals = ds.deals.assign(deal_id=_text(ds.deals["deal_id"]), account_id=_text(ds.deals["account_id"]))
    wanted = list(
        dict.fromkeys(deals["deal_id"].tolist() if deal_ids is None else [str(d) for d in deal_ids])
    )
    missing = sorted(set(wanted) - set(deals["deal_id"]))
    if missing:
        raise KeyError(f"deal(s) not in the dataset: {', '.join(missing[:10])}")
    cutoff = None if as_of is None else pd.Timestamp(as_of)
    if cutoff is not None and cutoff.tzinfo is None:
        raise ValueError(f"as_of {as_of!s} has no time zone; add Z for UTC or an offset")

    meetings = ds.meetings[_text(ds.meetings["deal_id"]).isin(wanted)]
    emails = ds.emails[_text(ds.emails["deal_id"]).isin(wanted)]
    if cutoff is not None:
        meetings = meetings[meetings["start_at"] < cutoff]
        emails = emails[emails["sent_at"] < cutoff]

    part = _participation(ds, meetings)
    rec = ds.email_recipients[ds.email_recipients["message_id"].isin(emails["message_id"])]
    msg = pd.DataFrame(
        {
            "message_id": _text(emails["message_id"]),
            "deal_id": _text(emails["deal_id"]),
            "sender": _text(emails["sender_id"]),
        }
    )
    sent = msg.merge(
        pd.DataFrame({"message_id": _text(rec["message_id"]), "recipient": _text(rec["person_id"])}),
        on="message_id",
        how="inner",
    )
    sent = sent[sent["sender"] != sent["recipient"]]

    # Meeting ties: every pair of people who both attended the same meeting.
    present = part[part["attended"]][["deal_id", "meeting_id", "person_id"]].drop_duplicates()
    together = present.merge(present, on=["deal_id", "meeting_id"], suffixes=("_a", "_b"))
    together = together[together["person_id_a"] < together["person_id_b"]]
    meet_ties = (
        together.groupby(["deal_id", "person_id_a", "person_id_b"], sort=False)
        .size()
        .rename("meetings")
        .reset_index()
        .rename(columns={"person_id_a": "source", "person_id_b": "target"})
    )
    first, second = _pairs(sent["sender"], sent["recipient"])
    mail = pd.DataFrame(
        {"deal_id": sent["deal_id"], "source": first, "target": second, "m": sent["message_id"]}
    )
    mail_ties = (
        mail.drop_duplicates().groupby(["deal_id", "source", "target"], sort=False).size().rename("emails")
    ).reset_index()
    ties = mail_ties.merge(meet_ties, on=["deal_id", "source", "target"], how="outer")
    ties["emails"] = ties["emails"].fillna(0).astype("int64")
    ties["meetings"] = ties["meetings"].fillna(0).astype("int64")
    ties["weight"] = ties["emails"] + ties["meetings"]
    ties = ties.astype({"source": "string", "target": "string"}).sort_values(
        ["deal_id", "source", "target"], kind="stable"
    )

    # Per-person activity within the deal (for the node's tooltip).
    sent_count = msg.groupby(["deal_id", "sender"]).size()
    received = sent.drop_duplicates(["message_id", "recipient"]).groupby(["deal_id", "recipient"]).size()
    attended = present.groupby(["deal_id", "person_id"]).size()

    members = pd.concat(
        [
            part[["deal_id", "person_id"]],
            msg[["deal_id", "sender"]].set_axis(["deal_id", "person_id"], axis=1),
            sent[["deal_id", "recipient"]].set_axis(["deal_id", "person_id"], axis=1),
        ],
        ignore_index=True,
    )
    if extra_people:
        extra = [(str(d), str(p)) for d, ps in extra_people.items() for p in ps]
        members = pd.concat(
            [members, pd.DataFrame(extra, columns=["deal_id", "person_id"])], ignore_index=True
        )
    members = members.dropna().astype("string").drop_duplicates()

    people = ds.people.drop_duplicates("person_id")
    info = pd.DataFrame(
        {c: _text(people[c]).to_numpy() for c in ("person_id", "full_name", "title", "department", "side")}
        | {"account_id": _text(people["account_id"]).to_numpy()}
    )
    nodes_all = members.merge(info, on="person_id", how="left")
    nodes_all["side"] = nodes_all["side"].fillna("unknown")
    for column, counts in (
        ("emails_sent", sent_count.rename_axis(["deal_id", "person_id"])),
        ("emails_received", received.rename_axis(["deal_id", "person_id"])),
        ("meetings", attended),
    ):
        frame = counts.rename(column).reset_index().astype({"deal_id": "string", "person_id": "string"})
        nodes_all = nodes_all.merge(frame, on=["deal_id", "person_id"], how="left")
        nodes_all[column] = nodes_all[column].fillna(0).astype("int64")
    nodes_all = nodes_all.sort_values(["deal_id", "person_id"], kind="stable")
    n_meetings = meetings.groupby(_text(meetings["deal_id"])).size()
    n_emails = msg.groupby("deal_id").size()

    account_of = dict(zip(deals["deal_id"], deals["account_id"], strict=True))
    return _Tables(wanted, nodes_all, ties, n_meetings, n_emails, account_of)


def deal_graph(ds: Dataset, deal_id: str, *, as_of: pd.Timestamp | str | None = None) -> DealGraph:
    """The graph of one deal (see `deal_graphs`)."""
    return deal_graphs(ds, [deal_id], as_of=as_of)[str(deal_id)]


# -- layout -------------------------------------------------------------------------------------------------------
# (n, edges as (i, j, weight) rows, seed[, radii (n,) in layout units or None])
LayoutCase = tuple[Any, ...]


def _capacity(n: int) -> int:
    """Padded size of a layout problem: n rounded up to a multiple of 8 (of 32 beyond 64 people). A deal is
    always padded the same way, alone or in a batch, so its picture does not depend on the other deals."""
    step = 8 if n <= 64 else 32
    return max(step, -(-n // step) * step)


def spring_layouts(
    cases: Sequence[LayoutCase],
    *,
    iterations: int = LAYOUT_ITERATIONS,
    min_separation: float = MIN_SEPARATION,
) -> list[np.ndarray]:
    """`spring_layout` for many (n, edges, seed) cases at once: cases of the same padded size run as one stack of
    matrices, so a report with thousands of small deals pays numpy's per-call cost once per iteration, not once
    per deal. Each result equals `spring_layout` of that case alone."""
    out: list[np.ndarray] = [np.zeros((0, 2))] * len(cases)
    buckets: dict[int, list[int]] = {}
    for idx, (n, *_) in enumerate(cases):
        if n == 1:
            out[idx] = np.array([[0.5, 0.5]])
        elif n > 1:
            buckets.setdefault(_capacity(n), []).append(idx)
    for cap, members in sorted(buckets.items()):
        for idx, pos in zip(
            members, _layout_stack([cases[i] for i in members], cap, iterations), strict=True
        ):
            radii = cases[idx][3] if len(cases[idx]) > 3 else None
            out[idx] = _separate(_normalise(pos), min_separation, radii)
    return out


def _layout_stack(cases: Sequence[LayoutCase], cap: int, iterations: int) -> list[np.ndarray]:
    """Weighted Fruchterman-Reingold on a stack of padded problems; padded rows take no part (zero forces)."""
    b = len(cases)
    pos = np.zeros((b, cap, 2))
    strength = np.zeros((b, cap, cap))
    live = np.zeros((b, cap, cap))
    k = np.empty(b)
    for i, (n, edges, seed, *_) in enumerate(cases):
        rng = np.random.default_rng(seed)
        angle = 2 * math.pi * np.arange(n) / n
        pos[i, :n] = np.c_[np.cos(angle), np.sin(angle)] * 0.5 + rng.normal(scale=0.02, size=(n, 2))
        e = np.asarray(edges, dtype=np.float64).reshape(-1, 3)
        s = np.zeros((cap, cap))
        np.add.at(s, (e[:, 0].astype(np.intp), e[:, 1].astype(np.intp)), 1.0 + np.log1p(e[:, 2]))
        strength[i] = s + s.T
        live[i, :n, :n] = 1.0
        np.fill_diagonal(live[i], 0.0)
        k[i] = math.sqrt(1.0 / n)
    strength *= live
    k3 = k[:, None, None]
    k2 = k3 * k3
    gravity = (2.0 * k)[:, None, None]
    temperature = 0.1
    for step in range(iterations):
        delta = pos[:, :, None, :] - pos[:, None, :, :]
        d2 = np.maximum(np.einsum("bijk,bijk->bij", delta, delta), 1e-8)
        # Along each unit vector: repulsion k^2/d, attraction strength * d^2/k (both already divided by d).
        coef = (k2 / d2 - strength * np.sqrt(d2) / k3) * live
        disp = np.einsum("bij,bijk->bik", coef, delta) - pos * gravity  # plus a pull to the centre
        norm = np.maximum(np.sqrt(np.einsum("bik,bik->bi", disp, disp)), 1e-9)
        step_size = temperature * (1.0 - step / iterations) + 1e-3
        pos += disp * (np.minimum(norm, step_size) / norm)[:, :, None]
    return [pos[i, : cases[i][0]].copy() for i in range(b)]


def spring_layout(
    n: int,
    edges: Sequence[tuple[int, int, float]] | np.ndarray,
    *,
    seed: int = 0,
    iterations: int = LAYOUT_ITERATIONS,
    min_separation: float = MIN_SEPARATION,
    radii: np.ndarray | Sequence[float] | None = None,
) -> np.ndarray:
    """Positions (n, 2) in [0, 1] from a weighted Fruchterman-Reingold spring layout; deterministic for a seed.

    `edges` holds (i, j, weight) rows; heavier ties pull harder (log-scaled, so one chatty pair does not collapse
    the picture). A weak pull to the centre keeps isolated people and separate groups on the canvas, and a final
    pass pushes apart nodes closer than `min_separation` (or, with `radii` in layout units, than the sum of the
    two radii when that is larger) so circles and labels do not sit on top of each other.
    """
    case = (n, edges, seed, None if radii is None else np.asarray(radii, dtype=np.float64))
    return spring_layouts([case], iterations=iterations, min_separation=min_separation)[0]


def _separate(pos: np.ndarray, min_separation: float, radii: np.ndarray | None = None) -> np.ndarray:
    """Push apart centres closer than `min_separation` (or the sum of their radii), keeping the picture in [0, 1]."""
    n = len(pos)
    need = np.full((n, n), min_separation)
    if radii is not None:
        need = np.maximum(need, radii[:, None] + radii[None, :])
    for _ in range(50):
        delta = pos[:, None, :] - pos[None, :, :]
        dist = np.linalg.norm(delta, axis=2)
        np.fill_diagonal(dist, 1e9)  # a node is never too close to itself
        close = dist < need
        if not close.any():
            break
        push = np.where(close, (need - dist) / np.maximum(dist, 1e-6) / 2, 0.0)
        # Coincident points have no direction: separate them along a fixed, index-based direction.
        same = close & (dist < 1e-6)
        if same.any():
            a, b = np.nonzero(np.triu(same))
            pos[a] += np.c_[np.cos(b), np.sin(b)] * min_separation / 2
            continue
        pos += (delta * push[:, :, None]).sum(axis=1)
        pos = _normalise(pos)
    return pos if n else np.zeros((0, 2))


def _normalise(pos: np.ndarray) -> np.ndarray:
    lo, hi = pos.min(axis=0), pos.max(axis=0)
    span = np.where(hi - lo > 1e-9, hi - lo, 1.0)
    out = (pos - lo) / span
    out[:, hi - lo <= 1e-9] = 0.5
    return out


# -- the map -----------------------------------------------------------------------------------------------------


def _layout_seed(deal_id: str, seed: int) -> int:
    # A per-deal seed from a stable hash (Python's hash() is salted per process).
    return (zlib.crc32(deal_id.encode("utf-8")) + seed) & 0xFFFFFFFF


def _assemble(
    graph: _GraphRecords,
    report: Mapping[str, Any],
    *,
    deal: Mapping[str, Any] | None = None,
    account_name: str | None = None,
    seed: int = 0,
) -> tuple[dict[str, Any], LayoutCase]:
    """The map of one deal without positions, and its layout problem (see `deal_map`)."""
    people = {str(p["person_id"]): p for p in report.get("people", [])}
    rows = [dict(r) for r in graph.nodes]
    known = {r["person_id"] for r in rows}
    extra = [pid for pid in people if pid not in known]
    for pid in extra:
        p = people[pid]
        rows.append(
            {
                "person_id": pid,
                "full_name": json_ready(p.get("full_name")),
                "title": json_ready(p.get("title")),
                "department": None,
                "side": "unknown",  # pass the scored people to deal_graphs(extra_people=...) to know it
                "account_id": json_ready(p.get("account_id")),
                "emails_sent": 0,
                "emails_received": 0,
                "meetings": 0,
            }
        )
    nodes: list[dict[str, Any]] = []
    for row in rows:
        pid = row.pop("person_id")
        score = people.get(pid)
        node: dict[str, Any] = {
            "id": pid,
            # An imported mailbox often has no display name: the address tells a rep who it is, an id does not.
            "name": row.pop("full_name") or (score or {}).get("email") or pid,
            **row,
            "scored": score is not None,
        }
        if score is not None:
            for f in _SCORE_FIELDS:
                node[f] = json_ready(score.get(f))
            node["reasons"] = [str(r) for r in (node["reasons"] or [])]
            if node["title"] is None:
                node["title"] = json_ready(score.get("title"))
        else:
            node.update({f: None for f in _SCORE_FIELDS})
            node["reasons"] = []
        node["top"] = False
        nodes.append(node)

    side_order = {"buyer": 0, "partner": 1, "seller": 2}
    nodes.sort(
        key=lambda n: (
            n["influence_rank"] if n["influence_rank"] is not None else math.inf,
            side_order.get(n["side"], 3),
            n["id"],
        )
    )
    ranked = [n for n in nodes if n["influence_rank"] is not None]
    top = min(ranked, key=lambda n: (n["influence_rank"], n["id"])) if ranked else None
    if top is not None:
        top["top"] = True

    index = {n["id"]: k for k, n in enumerate(nodes)}
    edges = [
        {"source": s, "target": t, "emails": int(e), "meetings": int(m), "weight": int(w)}
        for s, t, e, m, w in graph.edges
    ]
    triples = [(index[e["source"]], index[e["target"]], e["weight"]) for e in edges]

    sides = [n["side"] for n in nodes]
    deal_info = {"deal_id": graph.deal_id, "account_id": graph.account_id, "account_name": account_name}
    for f in _DEAL_FIELDS:
        deal_info[f] = json_ready((deal or {}).get(f))
    deal_map = {
        "map_version": MAP_VERSION,
        "deal": deal_info,
        "model_version": json_ready(report.get("model_version")),
        "as_of": json_ready(report.get("as_of")),
        "engagement_assessable": bool(report.get("engagement_assessable", False)),
        "profiles": list(PROFILES),
        "layout": {"method": "fruchterman-reingold", "seed": seed, "iterations": LAYOUT_ITERATIONS},
        "top_person_id": None if top is None else top["id"],
        "nodes": nodes,
        "edges": edges,
        "coverage": [
            {k: json_ready(v) for k, v in item.items() if k != "deal_id"}
            for item in report.get("coverage", [])
        ],
        "gaps": [str(g) for g in report.get("gaps", [])],
        "next_best_contacts": [
            {k: json_ready(v) for k, v in item.items() if k != "deal_id"}
            for item in report.get("next_best_contacts", [])
        ],
        "summary": {
            "people": len(nodes),
            "scored": len(ranked),
            "buyer": sides.count("buyer"),
            "partner": sides.count("partner"),
            "seller": sides.count("seller"),
            "ties": len(edges),
            "emails": graph.n_emails,
            "meetings": graph.n_meetings,
        },
    }
    return deal_map, (len(nodes), triples, _layout_seed(graph.deal_id, seed), _radii(nodes))


# How the page draws a node (static/dmu-map.js): radius 11 + 17 * sqrt(influence) px, our team 9 px; the name
# sits under it and the top person has a ring and a badge. A layout unit is at least ~480 px on a laptop.
_PX_PER_UNIT = 480.0


def _radii(nodes: Sequence[Mapping[str, Any]]) -> np.ndarray:
    """Room each node needs around its centre, in layout units, so circles, names and the badge do not touch."""
    out = np.empty(len(nodes))
    for k, n in enumerate(nodes):
        if n["side"] == "seller":
            px = 9.0
        else:
            influence = n["influence"] if isinstance(n["influence"], float | int) else 0.0
            px = 11.0 + 17.0 * math.sqrt(min(max(influence, 0.0), 1.0))
        out[k] = (px + (32.0 if n["top"] else 16.0)) / _PX_PER_UNIT
    return out


def deal_map(
    graph: DealGraph,
    report: Mapping[str, Any],
    *,
    deal: Mapping[str, Any] | None = None,
    account_name: str | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """The JSON-ready map of one deal: graph + scores + layout.

    `report` is the deal's scores: `ScoreResult.deal_report(deal_id)` or the `/v1/deals/score` answer (fields
    used: people[*].person_id/full_name/title/influence/influence_rank/profile/..., coverage, gaps,
    next_best_contacts, model_version, as_of, engagement_assessable). Scored people missing from the graph are
    added as tie-less nodes. `deal` adds the deal's stage/outcome/amount. Nodes are ordered by influence rank
    (scored people first), then side and person id; `top` marks the rank-1 person. `x`, `y` in [0, 1] come from
    `spring_layout`, seeded by the deal id, so a deal is drawn the same way every time.
    """
    deal_map, case = _assemble(_records_of(graph), report, deal=deal, account_name=account_name, seed=seed)
    return _place(deal_map, spring_layouts([case])[0])


def _place(deal_map: dict[str, Any], pos: np.ndarray) -> dict[str, Any]:
    for n, (x, y) in zip(deal_map["nodes"], pos, strict=True):
        n["x"], n["y"] = round(float(x), 4), round(float(y), 4)
    return deal_map


def deal_maps(
    ds: Dataset,
    result: ScoreResult,
    *,
    deal_ids: Sequence[str] | None = None,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """The map of every scored deal of `result` (or `deal_ids`), graphs built from `ds` at `result.as_of`."""
    scored = result.deals["deal_id"].astype(str).tolist()
    wanted = scored if deal_ids is None else [str(d) for d in deal_ids]
    unknown = [d for d in wanted if d not in set(scored)]
    if unknown:
        raise KeyError(f"deal(s) not scored: {', '.join(unknown[:10])}")
    people = result.people
    extra = {
        str(d): group["person_id"].astype(str).tolist()
        for d, group in people[people["deal_id"].isin(wanted)].groupby("deal_id", sort=False)
    }
    graphs = _graph_records(ds, wanted, as_of=result.as_of, extra_people=extra)
    table = ds.deals.drop_duplicates("deal_id")
    deals = {
        str(d): deal_as_of(dict(zip(_DEAL_FIELDS, row, strict=True)), result.as_of)
        for d, *row in zip(table["deal_id"].tolist(), *(table[f].tolist() for f in _DEAL_FIELDS), strict=True)
    }
    names = dict(zip(_text(ds.accounts["account_id"]), ds.accounts["name"], strict=True))
    reports = deal_reports(result, wanted)
    assembled = []
    for deal_id in wanted:
        graph = graphs[deal_id]
        deal = deals[deal_id]
        name = names.get(graph.account_id) if graph.account_id is not None else None
        assembled.append(
            _assemble(graph, reports[deal_id], deal=deal, account_name=json_ready(name), seed=seed)
        )
    positions = spring_layouts([case for _, case in assembled])
    out = [_place(m, pos) for (m, _), pos in zip(assembled, positions, strict=True)]
    return out


def deal_as_of(deal: dict[str, Any], as_of: pd.Timestamp | None) -> dict[str, Any]:
    """A deal's fields as they stood at `as_of`: one closed at or after it was still open then, so its outcome,
    close date and (closing) stage are not shown; a map or report as of a past date never tells the future."""
    closed = deal.get("closed_at")
    if as_of is None or closed is None or pd.isna(closed) or pd.Timestamp(closed) < as_of:
        return deal
    return {**deal, "outcome": "open", "closed_at": None, "stage": None}


def _records_by_deal(frame: pd.DataFrame, keep: set[str]) -> dict[str, list[dict[str, Any]]]:
    """Rows of `frame` as JSON-ready dicts grouped by deal_id (only `keep`), without the p_<profile> columns.
    Column lists, not itertuples: row access on Arrow-backed frames is slow."""
    deal = frame["deal_id"].astype(str)
    frame = frame[deal.isin(keep)]
    columns = [c for c in frame.columns if not str(c).startswith("p_") and c != "deal_id"]
    out: dict[str, list[dict[str, Any]]] = {}
    values = [frame[c].tolist() for c in columns]
    for deal_id, *row in zip(frame["deal_id"].astype(str).tolist(), *values, strict=True):
        out.setdefault(deal_id, []).append({c: json_ready(v) for c, v in zip(columns, row, strict=True)})
    return out


def deal_reports(result: ScoreResult, deal_ids: Sequence[str] | None = None) -> dict[str, dict[str, Any]]:
    """`result.deal_report(d)` for many deals at once (each frame is split once instead of filtered per deal),
    without the per-profile probability columns, which the map does not show."""
    wanted = result.deals["deal_id"].astype(str).tolist() if deal_ids is None else [str(d) for d in deal_ids]
    keep = set(wanted)
    split = {
        name: _records_by_deal(frame, keep)
        for name, frame in (
            ("people", result.people),
            ("coverage", result.coverage),
            ("next_best_contacts", result.next_best_contacts),
        )
    }
    deals = {
        d: {"account_id": a, "gaps": g}
        for d, a, g in zip(
            result.deals["deal_id"].astype(str).tolist(),
            result.deals["account_id"].tolist(),
            result.deals["gaps"].tolist(),
            strict=True,
        )
    }
    out: dict[str, dict[str, Any]] = {}
    for deal_id in wanted:
        if deal_id not in deals:
            raise KeyError(f"deal {deal_id!r} was not scored")
        row = deals[deal_id]
        report: dict[str, Any] = {
            "deal_id": deal_id,
            "account_id": json_ready(row["account_id"]),
            "model_version": result.model_version,
            "as_of": None if result.as_of is None else result.as_of.isoformat(),
            "engagement_assessable": result.engagement_assessable,
            "gaps": [str(g) for g in row["gaps"]],
        }
        for name, groups in split.items():
            report[name] = groups.get(deal_id, [])
        out[deal_id] = report
    return out
