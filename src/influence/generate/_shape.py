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
    }
