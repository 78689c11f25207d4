"""Network features on one block-diagonal sparse graph per scope (deal, account).

Nodes are (scope, person) pairs, so every deal (or account) is its own block of one big scipy.sparse matrix and
all blocks are computed at once: degree and strength by sparse sums, PageRank by batched power iteration with
per-block teleport and dangling mass, Burt's constraint and brokerage by sparse products, hops to the seller side
by a few sparse BFS steps. Edges:

- e-mail: sender -> each recipient, weight 1 per message (directed);
- meetings: two people who both attended a meeting, weight 1 per shared meeting (undirected).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from influence.features._ops import distinct_count, find, group_sum, safe_div, unique
from influence.features._prepare import SELLER, Prepared
from influence.features._spec import MAX_HOPS
from influence.features._tabular import Features, Rows

DAMPING = 0.85
PAGERANK_TOL = 1e-10
PAGERANK_MAX_ITER = 100


def _metrics(
    n: int,
    block: np.ndarray,
    n_blocks: int,
    seller: np.ndarray,
    dept: np.ndarray,
    email: tuple[np.ndarray, np.ndarray],
    meeting: tuple[np.ndarray, np.ndarray, int],
    with_dept: bool,
) -> Features:
    src, dst = email
    E = sp.csr_array((np.ones(len(src)), (src, dst)), shape=(n, n))
    m_id, m_node, n_mtg = meeting
    B = sp.csr_array((np.ones(len(m_id)), (m_id, m_node)), shape=(n_mtg, n))
    M = (B.T @ B).tocsr()
    M.setdiag(0)
    M.eliminate_zeros()
    G = (E + M).tocsr()
    W = (E + E.T + M).tocsr()
    A = W.copy()
    A.data[:] = 1.0

    strength = np.asarray(W.sum(axis=1)).ravel()
    degree = np.diff(A.indptr).astype(np.float64)
    isolated = degree == 0

    in_strength = np.asarray(E.sum(axis=0)).ravel()
    block_links = group_sum(block, n_blocks, in_strength)
    out: Features = {
        "degree": degree,
        "in_strength_share": safe_div(in_strength, block_links[block], empty=0.0),
    }

    # PageRank, all blocks at once: teleport and dangling mass stay inside each block
    block_size = group_sum(block, n_blocks)[block]
    out_w = np.asarray(G.sum(axis=1)).ravel()
    dangling = out_w == 0
    T = (sp.diags_array(safe_div(np.ones(n), out_w, empty=0.0)) @ G).T.tocsr()
    x = 1.0 / block_size
    for _ in range(PAGERANK_MAX_ITER):
        dangling_mass = group_sum(block, n_blocks, np.where(dangling, x, 0.0))[block]
        new = DAMPING * (T @ x) + (DAMPING * dangling_mass + (1.0 - DAMPING)) / block_size
        done = np.abs(new - x).max(initial=0.0) < PAGERANK_TOL
        x = new
        if done:
            break
    out["pagerank"] = np.where(isolated, 0.0, x * block_size)

    # Burt's constraint: sum over contacts j of (p_ij + sum_q p_iq p_qj)^2, p = row-normalised tie weight
    P = (sp.diags_array(safe_div(np.ones(n), strength, empty=0.0)) @ W).tocsr()
    local = (P + (P @ P).multiply(A)).tocsr()
    constraint = np.asarray(local.multiply(local).sum(axis=1)).ravel()
    out["constraint"] = np.where(isolated, np.nan, constraint)

    # brokerage: share of pairs of contacts that are not tied to each other (1 - local clustering)
    tied_pairs = np.asarray((A @ A).multiply(A).sum(axis=1)).ravel() / 2.0
    possible = degree * (degree - 1) / 2.0
    out["brokerage"] = np.where(degree >= 2, 1.0 - safe_div(tied_pairs, possible, empty=0.0), np.nan)

    # hops to the nearest seller-side node, capped at MAX_HOPS (MAX_HOPS + 1 = further or not connected)
    block_has_seller = group_sum(block, n_blocks, seller) > 0
    hops = np.full(n, MAX_HOPS + 1.0)
    reached = seller.copy()
    for h in range(1, MAX_HOPS + 1):
        frontier = ((A @ reached.astype(np.float64)) > 0) & ~reached
        hops[frontier] = h
        reached |= frontier
    hops[seller] = 0.0
    out["hops_to_seller"] = np.where(block_has_seller[block], hops, np.nan)
    out["seller_tie_share"] = safe_div(W @ seller.astype(np.float64), strength)

    if with_dept:
        Acoo = A.tocoo()
        i, j = Acoo.row, Acoo.col
        buyer_contact = ~seller[j] & (dept[j] >= 0)
        i, j = i[buyer_contact], j[buyer_contact]
        out["dept_count"] = distinct_count(i, dept[j], n)
        known = dept[i] >= 0
        cross = group_sum(i[known], n, dept[i[known]] != dept[j[known]])
        out["cross_dept_share"] = np.where(dept >= 0, safe_div(cross, group_sum(i[known], n)), np.nan)
    return out


def _scope(
    p: Prepared, rows: Rows, scope_of_deal: np.ndarray, n_scopes: int, prefix: str, names: dict[str, str]
) -> Features:
    """Graph features of one scope (deal or account) for the output rows."""
    n_p = rows.n_people
    part_deal = p.mtg_deal[p.part_mtg]
    rec_deal = p.msg_deal[p.rec_msg]
    sender = p.msg_sender[p.rec_msg]
    s_part = scope_of_deal[part_deal].astype(np.int64) * n_p + p.part_person
    s_send = scope_of_deal[rec_deal].astype(np.int64) * n_p + sender
    s_recv = scope_of_deal[rec_deal].astype(np.int64) * n_p + p.rec_person
    s_msg = scope_of_deal[p.msg_deal].astype(np.int64) * n_p + p.msg_sender
    nodes = unique(np.concatenate([s_part, s_send, s_recv, s_msg]))
    n = len(nodes)
    person = nodes % n_p
    seller = p.person_side[person] == SELLER
    att = p.part_attended
    metrics = _metrics(
        n,
        (nodes // n_p).astype(np.int64),
        n_scopes,
        seller,
        p.person_dept[person],
        (find(nodes, s_send), find(nodes, s_recv)),
        (p.part_mtg[att], find(nodes, s_part[att]), len(p.mtg_deal)),
        with_dept="dept_count" in names,
    )

    node_of_row = find(nodes, scope_of_deal[rows.deal].astype(np.int64) * n_p + rows.person)
    is_node = node_of_row >= 0
    # rows that are not nodes (added through `pairs`): no ties at all
    scope_has_seller = group_sum((nodes // n_p)[seller], n_scopes) > 0
    no_tie = {
        "degree": 0.0,
        "in_strength_share": 0.0,
        "pagerank": 0.0,
        "constraint": np.nan,
        "brokerage": np.nan,
        "seller_tie_share": np.nan,
        "dept_count": 0.0,
        "cross_dept_share": np.nan,
    }
    out: Features = {}
    for metric, name in names.items():
        values = np.full(rows.n, np.nan)
        values[is_node] = metrics[metric][node_of_row[is_node]]
        if metric == "hops_to_seller":
            values[~is_node] = np.where(
                scope_has_seller[scope_of_deal[rows.deal[~is_node]]], MAX_HOPS + 1.0, np.nan
            )
        else:
            values[~is_node] = no_tie[metric]
        out[f"{prefix}{name}"] = values
    return out


DEAL_METRICS = {
    "degree": "degree",
    "in_strength_share": "in_strength_share",
    "pagerank": "pagerank",
    "constraint": "constraint",
    "brokerage": "brokerage",
    "dept_count": "dept_count",
    "cross_dept_share": "cross_dept_share",
    "hops_to_seller": "hops_to_seller",
    "seller_tie_share": "seller_tie_share",
}
ACCOUNT_METRICS = {
    "degree": "degree",
    "in_strength_share": "in_strength_share",
    "pagerank": "pagerank",
    "constraint": "constraint",
    "brokerage": "brokerage",
    "hops_to_seller": "hops_to_seller",
}


def network(p: Prepared, rows: Rows) -> Features:
    """Deal-graph (`net_*`) and account-graph (`acct_*`) features for the output rows."""
    deal_scope = _scope(p, rows, np.arange(p.n_deals), p.n_deals, "net_", DEAL_METRICS)
    acct_scope = _scope(
        p, rows, p.deal_account.astype(np.int64), len(p.account_ids), "acct_", ACCOUNT_METRICS
    )
    return {**deal_scope, **acct_scope}
