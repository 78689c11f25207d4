"""Label-free shape statistics of one deal's (or one imported mailbox's) e-mail traffic.

These compare the synthetic world with real mail WITHOUT any label: they describe how mail volume spreads over
people and pairs, never who is senior or influential. docs/synthetic-data.md ("Real mail vs the generator")
tabulates them for the Enron development mailbox and for synthetic mailbox accounts; generator knobs that shape
mail are set against these figures only.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from influence.contract import Dataset

__all__ = ["SHAPE_STATISTICS", "mail_shape"]

SHAPE_STATISTICS: dict[str, str] = {
    "people": "People who sent or received at least one message (self-copies ignored).",
    "messages_per_person": "Messages / people.",
    "recipients_per_message": "Recipient rows per message (to, cc and bcc).",
    "distinct_senders_median_share": "Median over people of distinct senders to them / (people - 1).",
    "rho_received_distinct_senders": "Spearman over people of messages received vs distinct senders.",
    "rho_sent_distinct_recipients": "Spearman over people of messages sent vs distinct recipients.",
    "rho_sent_received": "Spearman over people of messages sent vs messages received.",
    "rho_in_out_distinct": "Spearman over people of distinct senders vs distinct recipients.",
    "top10_pair_share": "Share of recipient rows carried by the busiest 10% of directed sender->recipient pairs.",
    "top_sender_share_median": "Median over people of the share of their received mail from their busiest sender.",
    "pair_reciprocity": "Share of directed pairs a->b (with mail) whose reverse b->a also has mail.",
    "received_gini": "Gini coefficient of messages received over people.",
    "distinct_senders_gini": "Gini coefficient of distinct senders over people.",
    "sent_gini": "Gini coefficient of messages sent over people.",
    "contact_density": "Pairs of people with mail either way / all pairs of people (undirected density).",
    "contact_clustering": (
        "Mean local clustering coefficient of the undirected contact graph (people with 2+ contacts): "
        "how much correspondents of a person also write to each other (teams)."
    ),
    "wide_message_share": "Share of messages with 5 or more recipients (lists, announcements).",
    "pairs_per_person": "Directed sender->recipient pairs with mail / people: correspondents per person (size-free).",
    "rho_group_received_distinct_senders": (
        "Spearman over people of messages received on messages with 3+ recipients vs distinct senders: do "
        "group messages reach the broadly connected, or recurring circles?"
    ),
}


def _gini(x: np.ndarray) -> float:
    x = np.sort(np.asarray(x, dtype=np.float64))
    if len(x) == 0 or x.sum() == 0:
        return float("nan")
    n = len(x)
    return float((2 * np.arange(1, n + 1) - n - 1).dot(x) / (n * x.sum()))


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    if len(a) < 3:
        return float("nan")
    ra, rb = pd.Series(a).rank().to_numpy(), pd.Series(b).rank().to_numpy()
    if ra.std() == 0 or rb.std() == 0:
        return float("nan")
    return float(np.corrcoef(ra, rb)[0, 1])


def _contact_structure(pairs: pd.Series, people: pd.Index) -> tuple[float, float]:
    """Undirected density and mean local clustering coefficient of the contact graph given by the directed
    (sender_id, person_id) pairs of `pairs`' index."""
    from scipy.sparse import coo_matrix

    n = len(people)
    if n < 2 or len(pairs) == 0:
        return float("nan"), float("nan")
    a = people.get_indexer(pairs.index.get_level_values("sender_id"))
    b = people.get_indexer(pairs.index.get_level_values("person_id"))
    adj = coo_matrix((np.ones(2 * len(a)), (np.r_[a, b], np.r_[b, a])), shape=(n, n)).tocsr()
    adj.data[:] = 1.0  # a pair with mail both ways is one contact
    adj.setdiag(0)
    adj.eliminate_zeros()
    degree = np.asarray(adj.sum(axis=1)).ravel()
    triangles = np.asarray((adj @ adj).multiply(adj).sum(axis=1)).ravel() / 2.0
    ok = degree >= 2
    local = triangles[ok] / (degree[ok] * (degree[ok] - 1) / 2.0)
    density = float(degree.sum() / 2.0 / (n * (n - 1) / 2.0))
    return density, float(local.mean()) if ok.any() else float("nan")


def mail_shape(ds: Dataset, deal_id: str | None = None) -> dict[str, float]:
    """The label-free statistics of `SHAPE_STATISTICS` for one deal's mail (all the dataset's mail when
    `deal_id` is None), over every person who sent or received mail in it, sellers included (a mailbox import
    has no sides). Reads emails and email_recipients only."""
    emails = ds.emails[["message_id", "deal_id", "sender_id"]]
    if deal_id is not None:
        emails = emails[emails["deal_id"].astype(str) == str(deal_id)]
    emails = emails[["message_id", "sender_id"]].astype(str)
    rec = ds.email_recipients[["message_id", "person_id"]].astype(str)
    rec = rec.merge(emails, on="message_id", how="inner", validate="many_to_one")
    rec = rec[rec["person_id"] != rec["sender_id"]]
    people = pd.Index(pd.unique(pd.concat([emails["sender_id"], rec["person_id"]])))
    n = len(people)
    received = rec.groupby("person_id").size().reindex(people, fill_value=0).to_numpy(np.float64)
    sent = emails.groupby("sender_id").size().reindex(people, fill_value=0).to_numpy(np.float64)
    pairs = rec.groupby(["sender_id", "person_id"]).size()
    in_distinct = pairs.groupby(level="person_id").size().reindex(people, fill_value=0).to_numpy(np.float64)
    out_distinct = pairs.groupby(level="sender_id").size().reindex(people, fill_value=0).to_numpy(np.float64)
    volume = np.sort(pairs.to_numpy(np.float64))[::-1]
    top = max(1, int(np.ceil(0.1 * len(volume))))
    top_sender = pairs.groupby(level="person_id").max() / pairs.groupby(level="person_id").sum()
    edges = set(pairs.index)
    reciprocal = sum((b, a) in edges for a, b in edges)
    density, clustering = _contact_structure(pairs, people)
    per_message = rec.groupby("message_id").size()
    group = rec[rec["message_id"].map(per_message).to_numpy() >= 3]
    group_received = group.groupby("person_id").size().reindex(people, fill_value=0).to_numpy(np.float64)
    return {
        "people": float(n),
        "messages_per_person": len(emails) / n if n else float("nan"),
        "recipients_per_message": len(rec) / len(emails) if len(emails) else float("nan"),
        "distinct_senders_median_share": float(np.median(in_distinct) / max(n - 1, 1)),
        "rho_received_distinct_senders": _spearman(received, in_distinct),
        "rho_sent_distinct_recipients": _spearman(sent, out_distinct),
        "rho_sent_received": _spearman(sent, received),
        "rho_in_out_distinct": _spearman(in_distinct, out_distinct),
        "top10_pair_share": float(volume[:top].sum() / volume.sum()) if len(volume) else float("nan"),
        "top_sender_share_median": float(top_sender.median()) if len(top_sender) else float("nan"),
        "pair_reciprocity": reciprocal / len(edges) if edges else float("nan"),
        "received_gini": _gini(received),
        "distinct_senders_gini": _gini(in_distinct),
        "sent_gini": _gini(sent),
        "contact_density": density,
        "contact_clustering": clustering,
        "wide_message_share": float((per_message >= 5).sum() / len(emails)) if len(emails) else float("nan"),
        "pairs_per_person": len(pairs) / n if n else float("nan"),
        "rho_group_received_distinct_senders": _spearman(group_received, in_distinct),
    }
