"""Network features on one block-diagonal sparse graph per scope (deal, account).

Nodes are (scope, person) pairs, so every deal (or account) is its own block of one big scipy.sparse matrix and
all blocks are computed at once: degree and strength by sparse sums, PageRank by batched power iteration with
per-block teleport and dangling mass, Burt's constraint and brokerage by sparse products, hops to the seller side
by a few sparse BFS steps. Edges:

- e-mail: sender -> each recipient, weight 1 per message (directed);
- meetings: two people who both attended a meeting, weight 1 per shared meeting (undirected).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from influence.contract import RECIPIENT_KINDS
from influence.features._ops import distinct_count, find, group_max, group_sum, safe_div, unique
from influence.features._prepare import NS_PER_DAY, SELLER, Prepared
from influence.features._spec import ACCOUNT_WINDOW_DAYS, MAX_HOPS
from influence.features._tabular import Features, Rows, percentiles_in_deal

DAMPING = 0.85
PAGERANK_TOL = 1e-7
PAGERANK_MAX_ITER = 100


# Below this many nodes (one small deal: the scoring API) dense numpy beats scipy.sparse's per-call overhead.
DENSE_MAX_NODES = 400
DENSE_MAX_MEETINGS = 5_000


class _Dense:
    """The few matrix operations the metrics need, on dense numpy arrays."""

    @staticmethod
    def build(rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        # counts of each (row, col): whole numbers, exact in any order (np.add.at costs ~4x more)
        cells = np.bincount(rows.astype(np.int64) * shape[1] + cols, minlength=shape[0] * shape[1])
        return cells.reshape(shape).astype(np.float64)

    @staticmethod
    def cooccurrence(B: np.ndarray) -> np.ndarray:
        M = B.T @ B
        np.fill_diagonal(M, 0.0)
        return M

    @staticmethod
    def binary(W: np.ndarray) -> np.ndarray:
        return (W != 0).astype(np.float64)

    @staticmethod
    def mul(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
        return X * Y

    @staticmethod
    def scale_rows(X: np.ndarray, v: np.ndarray) -> np.ndarray:
        return X * v[:, None]

    @staticmethod
    def nnz_per_row(X: np.ndarray) -> np.ndarray:
        return (X != 0).sum(axis=1).astype(np.float64)

    @staticmethod
    def edges(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return np.nonzero(X)

    @staticmethod
    def transpose(X: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(X.T)

    @staticmethod
    def row_max(X: np.ndarray) -> np.ndarray:
        return X.max(axis=1, initial=0.0)


class _Sparse:
    """The same operations on scipy.sparse CSR arrays (all deals or accounts as one block-diagonal matrix)."""

    @staticmethod
    def build(rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int]) -> sp.csr_array:
        return sp.csr_array((np.ones(len(rows)), (rows, cols)), shape=shape)

    @staticmethod
    def cooccurrence(B: sp.csr_array) -> sp.csr_array:
        M = (B.T @ B).tocsr()
        M.setdiag(0)
        M.eliminate_zeros()
        return M

    @staticmethod
    def binary(W: sp.csr_array) -> sp.csr_array:
        A = W.copy()
        A.data[:] = 1.0
        return A

    @staticmethod
    def mul(X: sp.csr_array, Y: sp.csr_array) -> sp.csr_array:
        return X.multiply(Y).tocsr()

    @staticmethod
    def scale_rows(X: sp.csr_array, v: np.ndarray) -> sp.csr_array:
        return (sp.diags_array(v) @ X).tocsr()

    @staticmethod
    def nnz_per_row(X: sp.csr_array) -> np.ndarray:
        return np.diff(X.indptr).astype(np.float64)

    @staticmethod
    def edges(X: sp.csr_array) -> tuple[np.ndarray, np.ndarray]:
        coo = X.tocoo()
        return coo.row, coo.col

    @staticmethod
    def transpose(X: sp.csr_array) -> sp.csr_array:
        return X.T.tocsr()

    @staticmethod
    def row_max(X: sp.csr_array) -> np.ndarray:
        return np.asarray(X.max(axis=1).toarray()).ravel()


def _rowsum(X: object) -> np.ndarray:
    return np.asarray(X.sum(axis=1)).ravel()  # type: ignore[attr-defined]


def _pagerank(ops: type[_Dense] | type[_Sparse], G: object, block: np.ndarray, n_blocks: int) -> np.ndarray:
    """PageRank of every block at once (teleport and dangling mass stay inside each block), scaled so that 1 is
    the average node of its block.

    Each block stops iterating when it has converged, not when the slowest block of the batch has: a deal's
    scores must not depend on which other deals were scored with it (one API deal vs a batch of thousands).
    The result is rounded to 1e-9 so that people in symmetric positions tie exactly whatever the summation order
    (dense vs sparse path), which keeps the within-deal percentiles built on it path-independent too."""
    n = len(block)
    out_w = _rowsum(G)
    dangling = out_w == 0
    T = ops.transpose(ops.scale_rows(G, safe_div(np.ones(n), out_w, empty=0.0)))
    if n_blocks == 1:
        return np.round(_pagerank_one_block(T, dangling), 9)
    return np.round(_pagerank_blocks(T, dangling, block, n_blocks), 9)


# The sparse power iteration works on the nodes of blocks still iterating only, dropping converged blocks once
# they are at least this share of the nodes it still holds: half the blocks of a batch chunk converge within
# ~16 iterations and a few take 100, so iterating every node until the slowest block is done was ~4-5x the work.
PAGERANK_SHRINK_SHARE = 0.5


def _pagerank_blocks(T: object, dangling: np.ndarray, block: np.ndarray, n_blocks: int) -> np.ndarray:
    """`_pagerank`'s power iteration for any number of blocks (T: the transposed row-stochastic matrix), before
    rounding.

    A converged block's scores never change again, so with a CSR matrix the iteration goes on with the other
    blocks' nodes only (`_block_rows`), bit for bit the same: a row's product sums its stored entries in the
    same order, and the per-block sums and maxima see the same values in the same order (a block is kept or
    dropped whole, in node order). A dense T (small inputs) keeps every node: BLAS may group a shorter
    product's terms differently."""
    block_size = group_sum(block, n_blocks)[block]
    x = 1.0 / block_size
    active = np.ones(n_blocks, dtype=bool)
    shrink = isinstance(T, sp.csr_array | sp.csr_matrix)
    nodes: np.ndarray | None = None  # the working set's positions in x (None: every node)
    x_w, T_w, dangling_w, block_w, size_w = x, T, dangling, block, block_size
    for _ in range(PAGERANK_MAX_ITER):
        dangling_mass = group_sum(block_w, n_blocks, np.where(dangling_w, x_w, 0.0))[block_w]
        new = DAMPING * (T_w @ x_w) + (DAMPING * dangling_mass + (1.0 - DAMPING)) / size_w  # type: ignore[operator]
        # a block has converged when none of its scores (in "1 = average person" units) moves by PAGERANK_TOL
        moved = group_max(block_w, np.abs(new - x_w) * size_w, n_blocks)
        x_w = np.where(active[block_w], new, x_w)
        active &= moved >= PAGERANK_TOL
        if not active.any():
            break
        if shrink:
            keep = active[block_w]
            n_keep = int(np.count_nonzero(keep))
            if n_keep <= PAGERANK_SHRINK_SHARE * len(keep):
                if nodes is None:
                    x = x_w
                else:
                    x[nodes] = x_w
                rows = np.flatnonzero(keep)
                nodes = rows if nodes is None else nodes[rows]
                T_w = _block_rows(T_w, rows)  # type: ignore[arg-type]
                x_w, dangling_w, block_w, size_w = x_w[rows], dangling_w[rows], block_w[rows], size_w[rows]
    if nodes is None:
        return x_w * block_size
    x[nodes] = x_w
    return x * block_size


def _block_rows(T: sp.csr_array | sp.csr_matrix, rows: np.ndarray) -> sp.csr_array:
    """The square submatrix of CSR `T` on `rows` (ascending, whole blocks of a block-diagonal T, so every stored
    column of those rows is among them), each row's entries kept in their stored order."""
    starts, ends = T.indptr[rows], T.indptr[rows + 1]
    lengths = (ends - starts).astype(np.int64)
    indptr = np.zeros(len(rows) + 1, np.int64)
    np.cumsum(lengths, out=indptr[1:])
    take = np.repeat(starts.astype(np.int64) - indptr[:-1], lengths) + np.arange(int(indptr[-1]))
    position = np.full(T.shape[1], -1, np.int64)
    position[rows] = np.arange(len(rows))
    return sp.csr_array((T.data[take], position[T.indices[take]], indptr), shape=(len(rows), len(rows)))


def _pagerank_one_block(T: object, dangling: np.ndarray) -> np.ndarray:
    """`_pagerank_blocks` for a single block (one scoring request), bit for bit: the per-block sums and maxima
    become scalars and each iteration takes a third of the numpy calls (per-call overhead is the whole cost on a
    30-person deal). The dangling mass must be summed in bincount's order (left to right, from 0.0), hence the
    running sum (np.add.accumulate) rather than np.sum (pairwise summation)."""
    if len(dangling) == 0:  # a deal without any e-mail or meeting
        return np.zeros(0)
    n = float(len(dangling))
    x = np.full(len(dangling), 1.0 / n)
    dangling_idx = np.flatnonzero(dangling)
    teleport = 1.0 - DAMPING
    has_dangling = len(dangling_idx) > 0
    step = np.empty(len(dangling))
    for _ in range(PAGERANK_MAX_ITER):
        dangling_mass = float(np.add.accumulate(x[dangling_idx])[-1]) if has_dangling else 0.0
        # DAMPING * (T @ x) + (DAMPING * dangling_mass + teleport) / n, in place: the same operations in the
        # same order, without the temporaries
        new = T @ x
        new *= DAMPING
        new += (DAMPING * dangling_mass + teleport) / n
        np.subtract(new, x, out=step)
        # max(|d| * n) == max(|d|) * n exactly: rounding a product by n > 0 is monotone
        moved = float(np.abs(step, out=step).max()) * n
        x = new
        if not moved >= PAGERANK_TOL:  # NaN stops too, as in the blocks version
            break
    return x * n


# Up to this many nodes (a scoring request's deal) `_constraint_dense` builds every product term at once (n^3
# doubles: 2 MiB at 64) instead of one numpy call per contact.
CONSTRAINT_STACK_MAX_NODES = 64


def _constraint_dense(W: np.ndarray, A: np.ndarray, inv_strength: np.ndarray) -> np.ndarray:
    """Burt's constraint per node on dense arrays, summed in the order of the scipy.sparse path, bit for bit.

    Sums of products depend on their order in the last bit, and 1 ulp is enough to reorder tied people in the
    within-deal percentiles: with BLAS's order a deal scored alone (dense) got other scores than in a batch
    (sparse). So: (P @ P)[i, k] adds its terms P[i, j] P[j, k] one at a time from 0, over j from the highest to
    the lowest (the CSR rows of `diags @ W` come out in descending column order, and the CSR product adds them in
    stored order); the row sums are np.add.reduceat over each row's nonzeros in column order, what scipy's
    `sum(axis=1)` runs. Zero terms are exact no-ops in both. tests/code/test_graph_fastpath.py checks this
    against `_Sparse` on random graphs, so a scipy that changes its order fails there, not silently."""
    n = len(W)
    P = W * inv_strength[:, None]
    js = np.flatnonzero(P.any(axis=0))[::-1]
    if n <= CONSTRAINT_STACK_MAX_NODES and len(js):
        # the same terms added in the same order, all at once: np.add.accumulate along the first axis adds the
        # (i, k) terms one j after the other from the first one (0 + t == t exactly: every term is >= 0)
        Q = np.add.accumulate(P[:, js].T[:, :, None] * P[js][:, None, :], axis=0)[-1]
    else:
        Q = np.zeros((n, n))
        for j in js:
            Q += np.multiply.outer(P[:, j], P[j])
    local = P + Q * A
    squared = local * local
    nonzero = squared != 0
    per_row = nonzero.sum(axis=1)
    out = np.zeros(n)
    rows = np.flatnonzero(per_row)
    if len(rows):
        starts = (np.cumsum(per_row) - per_row)[rows]
        out[rows] = np.add.reduceat(squared[nonzero], starts)
    return out


def _metrics(
    n: int,
    block: np.ndarray,
    n_blocks: int,
    seller: np.ndarray,
    dept: np.ndarray,
    email: tuple[np.ndarray, np.ndarray],
    meeting: tuple[np.ndarray, np.ndarray, int],
    deal_metrics: bool,
    sparse: bool = False,
) -> Features:
    """The metrics of every node. `deal_metrics`: also those only the deal graphs report (distinct-contact PageRank,
    top tie share, seller tie share, departments); the account graphs' callers skip them (a whole PageRank).
    `sparse`: scipy.sparse whatever the size (a part of a graph that is large as a whole, see `_Reuse`)."""
    small = n <= DENSE_MAX_NODES and meeting[2] <= DENSE_MAX_MEETINGS
    ops = _Dense if small and not sparse else _Sparse
    src, dst = email
    E = ops.build(src, dst, (n, n))
    m_id, m_node, n_mtg = meeting
    M = ops.cooccurrence(ops.build(m_id, m_node, (n_mtg, n)))
    G = E + M
    W = E + ops.transpose(E) + M
    A = ops.binary(W)

    strength = _rowsum(W)
    degree = ops.nnz_per_row(A)
    isolated = degree == 0

    in_strength = np.asarray(E.sum(axis=0)).ravel()
    block_links = group_sum(block, n_blocks, in_strength)
    out: Features = {
        "degree": degree,
        "in_strength_share": safe_div(in_strength, block_links[block], empty=0.0),
    }

    out["pagerank"] = np.where(isolated, 0.0, _pagerank(ops, G, block, n_blocks))
    if deal_metrics:
        # The same on the distinct-contact graph: a pair counts once whatever its volume, so a heavy pair (an
        # assistant, a close colleague, a mailing list) cannot make someone central; breadth of contact does.
        G_distinct = ops.binary(E) + ops.binary(M)
        out["pagerank_distinct"] = np.where(isolated, 0.0, _pagerank(ops, G_distinct, block, n_blocks))
        # How much of the person's tie volume goes to their single strongest contact (1 = one heavy pair only).
        out["top_tie_share"] = np.where(isolated, np.nan, safe_div(ops.row_max(W), strength))

    # Burt's constraint: sum over contacts j of (p_ij + sum_q p_iq p_qj)^2, p = row-normalised tie weight
    inv_strength = safe_div(np.ones(n), strength, empty=0.0)
    if ops is _Dense:
        constraint = _constraint_dense(W, A, inv_strength)  # type: ignore[arg-type]
    else:
        P = ops.scale_rows(W, inv_strength)
        local = P + ops.mul(P @ P, A)
        constraint = _rowsum(ops.mul(local, local))
    out["constraint"] = np.where(isolated, np.nan, constraint)

    # brokerage: share of pairs of contacts that are not tied to each other (1 - local clustering)
    tied_pairs = _rowsum(ops.mul(A @ A, A)) / 2.0
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
    if deal_metrics:
        out["seller_tie_share"] = safe_div(W @ seller.astype(np.float64), strength)
        i, j = ops.edges(A)
        buyer_contact = ~seller[j] & (dept[j] >= 0)
        i, j = i[buyer_contact], j[buyer_contact]
        out["dept_count"] = distinct_count(i, dept[j], n)
        known = dept[i] >= 0
        cross = group_sum(i[known], n, dept[i[known]] != dept[j[known]])
        out["cross_dept_share"] = np.where(dept >= 0, safe_div(cross, group_sum(i[known], n)), np.nan)
    return out


@dataclass
class _Instances:
    """Which events belong to which graph: event indices and, per index, the deal whose graph it joins."""

    part: tuple[np.ndarray, np.ndarray]  # meeting participant rows
    rec: tuple[np.ndarray, np.ndarray]  # e-mail recipient rows
    msg: tuple[np.ndarray, np.ndarray]  # e-mails (so a sender without captured recipients is still a node)


def _own_deal(p: Prepared) -> _Instances:
    """Deal graphs: every event joins its own deal's graph."""
    return _Instances(
        part=(np.arange(len(p.part_mtg)), p.mtg_deal[p.part_mtg]),
        rec=(np.arange(len(p.rec_msg)), p.msg_deal[p.rec_msg]),
        msg=(np.arange(len(p.msg_deal)), p.msg_deal),
    )


def _account_as_of_deal(p: Prepared) -> _Instances:
    """Account graphs, one per deal: the account's events (all its deals) up to that deal's observation end.

    A closed deal's account graph must not contain what happened after it (later deals), or training would see
    a future the scoring API never has. So an event at time t of account a joins the graph of every deal d of
    a with t <= obs_end(d) < t + ACCOUNT_WINDOW_DAYS: a contiguous range once the account's deals are sorted by
    observation end. The window bounds the cost for accounts with hundreds of deals (each event is copied into
    at most the deals that end within a year after it) and keeps stale ties out.
    """
    account = p.deal_account.astype(np.int64)
    obs_values = unique(p.deal_obs_end)
    width = np.int64(len(obs_values) + 1)
    deal_key = account * width + np.searchsorted(obs_values, p.deal_obs_end)
    order = np.argsort(deal_key, kind="stable")
    sorted_key = deal_key[order]

    window = np.int64(ACCOUNT_WINDOW_DAYS) * NS_PER_DAY

    def bounds(event_deal: np.ndarray, event_time: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per event, the range [lo, hi) of the sorted deals whose graphs it joins."""
        acc = account[event_deal] * width
        lo = np.searchsorted(sorted_key, acc + np.searchsorted(obs_values, event_time, side="left"))
        hi = np.searchsorted(sorted_key, acc + np.searchsorted(obs_values, event_time + window, side="left"))
        return lo, hi

    def expand(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        lengths = hi - lo
        event = np.repeat(np.arange(len(lo)), lengths)
        offsets = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        return event, order[np.repeat(lo, lengths) + offsets]

    # A participant has its meeting's deal and time, a recipient its e-mail's: the ranges are searched once per
    # meeting and per e-mail, not once per participant and recipient (1.8 recipients per e-mail).
    mtg_lo, mtg_hi = bounds(p.mtg_deal, p.mtg_time)
    msg_lo, msg_hi = bounds(p.msg_deal, p.msg_time)
    return _Instances(
        part=expand(mtg_lo[p.part_mtg], mtg_hi[p.part_mtg]),
        rec=expand(msg_lo[p.rec_msg], msg_hi[p.rec_msg]),
        msg=expand(msg_lo, msg_hi),
    )


class _MetricsMemo:
    """The last `_metrics` inputs and result of one `network` run, shared by its deal and account graphs.

    A deal scored on its own (the scoring API) nearly always has an account graph equal to its deal graph (its
    body holds that deal's events only, all within ACCOUNT_WINDOW_DAYS; 201 of 204 eval deals): the second graph
    then reuses the first's metrics instead of computing the same numbers again. Reused only when every input
    array is equal, so the values are the ones `_metrics` would return. Only small graphs are kept (a batch's
    graphs differ anyway, and holding them would raise its peak memory). Safe across the two task threads of a
    large input: a task either sees a complete entry or none (one attribute assignment)."""

    def __init__(self) -> None:
        self.last: tuple[tuple[object, ...], bool, Features] | None = None

    def metrics(self, args: tuple[object, ...], deal_metrics: bool) -> Features:
        last = self.last
        if last is not None and (last[1] or not deal_metrics) and _same(last[0], args):
            return dict(last[2])  # a new dict: `_scope` adds its cc columns to it
        out = _metrics(*args, deal_metrics=deal_metrics)  # type: ignore[arg-type]
        if args[0] <= DENSE_MAX_NODES:  # type: ignore[operator]  # a batch's graphs are not held on to
            self.last = (args, deal_metrics, dict(out))
        return out


def _same(a: object, b: object) -> bool:
    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
        return a.dtype == b.dtype and a.shape == b.shape and bool(np.array_equal(a, b))
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return False
    return type(a) is type(b) and a == b


@dataclass
class _Located:
    """The sorted (scope, person) node keys of a graph, and the node of each instance: of meeting participant rows,
    of e-mail senders and of recipients (per recipient row)."""

    nodes: np.ndarray
    part: np.ndarray
    send: np.ndarray
    recv: np.ndarray


def _deal_nodes(p: Prepared) -> _Located | None:
    """The deal graphs' nodes from the hashed participation keys (large inputs): they are exactly the keys of
    `_own_deal`'s instances (participants, senders, recipients, in that order), each event's already coded, so
    neither sorting the ~3 keys per event nor looking them up again is needed."""
    if p.participation is None:
        return None
    keys, codes, position = p.participation
    n_part, n_sent = len(p.part_mtg), len(p.msg_deal)
    of_event = position[codes]
    sent = of_event[n_part : n_part + n_sent]
    return _Located(keys, of_event[:n_part], sent[p.rec_msg], of_event[n_part + n_sent :])


def _scope(
    p: Prepared,
    rows: Rows,
    inst: _Instances,
    prefix: str,
    names: dict[str, str],
    memo: _MetricsMemo | None = None,
    located: _Located | None = None,
    sparse: bool = False,
) -> Features:
    """Graph features of one kind of graph (one graph per deal) for the output rows. `located`: the nodes and each
    instance's node when already known (the deal graphs' nodes are the participation keys)."""
    n_p = rows.n_people
    part, part_scope = inst.part
    rec, rec_scope = inst.rec
    if located is None:
        msg, msg_scope = inst.msg
        s_part = part_scope.astype(np.int64) * n_p + p.part_person[part]
        s_send = rec_scope.astype(np.int64) * n_p + p.msg_sender[p.rec_msg[rec]]
        s_recv = rec_scope.astype(np.int64) * n_p + p.rec_person[rec]
        s_msg = msg_scope.astype(np.int64) * n_p + p.msg_sender[msg]
        # (the senders' nodes are among the e-mails' own: a recipient row joins exactly the graphs its e-mail
        # joins, see _own_deal and _account_as_of_deal, so s_send need not be sorted in)
        nodes = unique(np.concatenate([s_part, s_recv, s_msg]))
        located = _Located(nodes, find(nodes, s_part), find(nodes, s_send), find(nodes, s_recv))
    nodes = located.nodes
    n = len(nodes)
    person = nodes % n_p
    seller = p.person_side[person] == SELLER
    att = p.part_attended[part]
    meeting_key = p.part_mtg[part[att]].astype(np.int64) * max(p.n_deals, 1) + part_scope[att]
    meeting_instances = unique(meeting_key)
    args = (
        n,
        (nodes // n_p).astype(np.int64),
        p.n_deals,
        seller,
        p.person_dept[person],
        (located.send, located.recv),
        (np.searchsorted(meeting_instances, meeting_key), located.part[att], len(meeting_instances)),
    )
    deal_metrics = not DEAL_ONLY_METRICS.isdisjoint(names)
    if sparse:  # (never memoised: the memo's graphs take the size rule)
        metrics = _metrics(*args, deal_metrics=deal_metrics, sparse=True)  # type: ignore[arg-type]
    else:
        metrics = (memo or _MetricsMemo()).metrics(args, deal_metrics)

    if "cc_weighted" in names or "cc_sender_rank" in names:
        # copies received in cc from buyer/partner people, each weighted by how central the sender is in the
        # same graph (the seller's own copies say little: our team copies whoever it writes to)
        cc = (p.rec_kind[rec] == RECIPIENT_KINDS.index("cc")) & (
            p.person_side[p.msg_sender[p.rec_msg[rec]]] != SELLER
        )
        sender_rank = metrics["pagerank"][located.send[cc]]
        cc_node = located.recv[cc]
        metrics["cc_weighted"] = group_sum(cc_node, n, sender_rank)
        # the typical centrality of whoever copies this person: free of how much mail the person gets at all
        metrics["cc_sender_rank"] = safe_div(metrics["cc_weighted"], group_sum(cc_node, n))

    node_of_row = find(nodes, rows.keys)
    is_node = node_of_row >= 0
    # rows that are not nodes (added through `pairs`): no ties at all
    scope_has_seller = group_sum((nodes // n_p)[seller], p.n_deals) > 0
    no_tie = {
        "degree": 0.0,
        "in_strength_share": 0.0,
        "pagerank": 0.0,
        "pagerank_distinct": 0.0,
        "top_tie_share": np.nan,
        "constraint": np.nan,
        "brokerage": np.nan,
        "seller_tie_share": np.nan,
        "dept_count": 0.0,
        "cross_dept_share": np.nan,
        "cc_weighted": 0.0,
        "cc_sender_rank": np.nan,
    }
    out: Features = {}
    for metric, name in names.items():
        values = np.full(rows.n, np.nan)
        values[is_node] = metrics[metric][node_of_row[is_node]]
        if metric == "hops_to_seller":
            values[~is_node] = np.where(scope_has_seller[rows.deal[~is_node]], MAX_HOPS + 1.0, np.nan)
        else:
            values[~is_node] = no_tie[metric]
        out[f"{prefix}{name}"] = values
    return out


DEAL_METRICS = {
    "degree": "degree",
    "in_strength_share": "in_strength_share",
    "pagerank": "pagerank",
    "pagerank_distinct": "pagerank_distinct",
    "top_tie_share": "top_tie_share",
    "constraint": "constraint",
    "brokerage": "brokerage",
    "dept_count": "dept_count",
    "cross_dept_share": "cross_dept_share",
    "hops_to_seller": "hops_to_seller",
    "seller_tie_share": "seller_tie_share",
    "cc_weighted": "cc_weighted",
    "cc_sender_rank": "cc_sender_rank",
}
# computed only when asked for (`_metrics(deal_metrics=True)`): the account graphs do not report them
DEAL_ONLY_METRICS = frozenset(
    {"pagerank_distinct", "top_tie_share", "seller_tie_share", "dept_count", "cross_dept_share"}
)
ACCOUNT_METRICS = {
    "degree": "degree",
    "in_strength_share": "in_strength_share",
    "pagerank": "pagerank",
    "constraint": "constraint",
    "brokerage": "brokerage",
    "hops_to_seller": "hops_to_seller",
}


# Within-deal percentiles of the distinct-contact measures (scale-free: a 150-person mailbox and a 10-person deal
# read alike); computed here because they only need this task's own columns.
GRAPH_PERCENTILE = {
    "pct_net_degree": "net_degree",
    "pct_net_pagerank_distinct": "net_pagerank_distinct",
}


def _deal_scope(p: Prepared, rows: Rows, memo: _MetricsMemo | None = None) -> Features:
    out = _scope(p, rows, _own_deal(p), "net_", DEAL_METRICS, memo, _deal_nodes(p))
    pct = percentiles_in_deal([out[base] for base in GRAPH_PERCENTILE.values()], rows, p.n_deals)
    out.update(zip(GRAPH_PERCENTILE, pct, strict=True))
    return out


def _account_graph_is_deal_graph(p: Prepared) -> bool:
    """True when the account graphs are exactly the deal graphs because there is one deal (a scoring request)
    whose events all lie within ACCOUNT_WINDOW_DAYS of its observation end: `_account_as_of_deal` then gives every
    event to its own deal, in the same order (every event is at or before the observation end, the last of them).
    """
    if p.n_deals != 1:
        return False
    floor = p.deal_obs_end[0] - np.int64(ACCOUNT_WINDOW_DAYS) * NS_PER_DAY
    return bool((p.mtg_time > floor).all() and (p.msg_time > floor).all())


def _deals_with_own_graph(p: Prepared, inst: _Instances) -> np.ndarray:
    """Per deal: is its account graph built from exactly its own events (no other deal's event joins it, none of
    its own is left out by the window)? Such a deal's account graph is its deal graph, event for event and in the
    same order (both list events in event order)."""
    n_deals = p.n_deals
    same = np.ones(n_deals, bool)
    for (event, target), own in (
        (inst.part, p.mtg_deal[p.part_mtg]),
        (inst.rec, p.msg_deal[p.rec_msg]),
        (inst.msg, p.msg_deal),
    ):
        same[target[own[event] != target]] = False
        same &= np.bincount(target, minlength=n_deals) == np.bincount(own, minlength=n_deals)
    return same


@dataclass
class _Reuse:
    """The account graphs to compute (`inst`: the events of the deals in `computed` only) and the deals whose
    account graph is their deal graph, whose `acct_*` values are the `net_*` ones (`copied`, per deal).

    Every metric of a graph's node depends on its own block (deal) only, summed in the block's own stored order,
    and a block keeps its relative order when other blocks are left out; so a block's values are the same in the
    full account graph, in the account graph without the copied deals, and in the deal graph, provided all three
    take scipy.sparse (dense arrays may sum in another order). They do here: the deal graphs and the copied
    deals' share of the account graphs each have over DENSE_MAX_NODES nodes, and the rest is forced sparse."""

    inst: _Instances
    copied: np.ndarray


def _account_reuse(p: Prepared, inst: _Instances) -> _Reuse | None:
    """How much of the account graphs the deal graphs already hold (large inputs only), or None to compute them
    all: in a batch chunk about half the deals have one account graph equal to their deal graph (one deal in the
    account, or its deals years apart), a third of the account graphs' events."""
    if p.participation is None or len(p.participation[0]) <= DENSE_MAX_NODES:
        return None
    same = _deals_with_own_graph(p, inst)
    deal_nodes = np.bincount(p.participation[0] // max(p.n_people, 1), minlength=p.n_deals)
    if int(deal_nodes[same].sum()) <= DENSE_MAX_NODES:
        return None

    def keep(pair: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        mask = ~same[pair[1]]
        return pair[0][mask], pair[1][mask]

    return _Reuse(_Instances(part=keep(inst.part), rec=keep(inst.rec), msg=keep(inst.msg)), same)


def network_tasks(p: Prepared, rows: Rows) -> tuple[tuple[str, Callable[[], Features]], ...]:
    """The deal-graph (`net_*`) and account-graph (`acct_*`) computations, which may run in two threads.

    The account task takes what the deal task computes where the graphs are the same: all of it when one deal is
    scored alone (`_account_graph_is_deal_graph`, if the deal task has run), else the deals of `_account_reuse`,
    whose rows it copies once the deal task is done (it waits for it at the end; were that task not started or
    failed, the account graphs are computed whole). The values are the same either way."""
    memo = _MetricsMemo()
    done: list[Features] = []
    started, finished = threading.Event(), threading.Event()

    def deal() -> Features:
        started.set()
        try:
            out = _deal_scope(p, rows, memo)
            done.append(out)
            return out
        finally:
            finished.set()

    def account() -> Features:
        if done and _account_graph_is_deal_graph(p):
            net = done[0]
            return {
                f"acct_{name}": net[f"net_{DEAL_METRICS[metric]}"].copy()
                for metric, name in ACCOUNT_METRICS.items()
            }
        inst = _account_as_of_deal(p)
        reuse = _account_reuse(p, inst)
        if reuse is not None:
            out = _scope(p, rows, reuse.inst, "acct_", ACCOUNT_METRICS, sparse=True)
            if started.is_set() and finished.wait() and done:
                net, copied = done[0], reuse.copied[rows.deal]
                for metric, name in ACCOUNT_METRICS.items():
                    out[f"acct_{name}"][copied] = net[f"net_{DEAL_METRICS[metric]}"][copied]
                return out
        return _scope(p, rows, inst, "acct_", ACCOUNT_METRICS, memo)

    return (("deal", deal), ("account", account))


def network(p: Prepared, rows: Rows) -> Features:
    """Deal-graph (`net_*`) and account-graph (`acct_*`) features for the output rows."""
    out: Features = {}
    for _, task in network_tasks(p, rows):
        out.update(task())
    return out
