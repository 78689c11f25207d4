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

import numpy as np
import pandas as pd

from influence.contract import PROFILES, Dataset

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
    "deal_coverage",
    "engagement",
    "engagement_counts",
    "next_best_contacts",
    "profile_label",
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
    "peripheral": "keep informed with a short summary; low priority",
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
            "deal_id": pd.array([k[0] for k in keys], dtype="string"),
            "person_id": pd.array([k[1] for k in keys], dtype="string"),
            "seller_meetings": meetings,
            "seller_emails": emails,
            "engagement": engagement_level(meetings, emails, assessable),
        }
    )


def engagement_counts(
    ds: Dataset, as_of: pd.Timestamp | None = None
) -> dict[tuple[str, str], tuple[int, int]]:
    """{(deal_id, person_id): (seller_meetings, seller_emails)} for every buyer/partner person with seller
    contact in a deal before `as_of` (the counts behind `engagement`).

    Plain Python over the id columns: one deal scored by the API has a few hundred events, where a pandas
    merge/groupby chain costs ~40 ms of per-call overhead; for a whole dataset this is linear and similar in
    speed to the frame version (a set/dict operation per event)."""
    people = ds.people
    sellers = set(
        people["person_id"].to_numpy(dtype=object)[
            (people["side"].astype("string") == "seller").to_numpy(bool, na_value=False)
        ]
    )
    meeting_counts: dict[tuple[str, str], int] = {}
    meetings = ds.meetings
    if as_of is not None:
        meetings = meetings[meetings["start_at"] < as_of]
    deal_of = dict(
        zip(
            meetings["meeting_id"].to_numpy(dtype=object),
            meetings["deal_id"].to_numpy(dtype=object),
            strict=True,
        )
    )
    # Present: attended, or accepted when attendance is unknown, and the organiser (the features' rule).
    att = ds.meeting_attendees
    attended = att["attended"].to_numpy(dtype=object, na_value=None)
    accepted = (att["response"].astype("string") == "accepted").to_numpy(dtype=bool, na_value=False)
    present: set[tuple[str, str]] = set()
    for m, p, a, acc in zip(
        att["meeting_id"].to_numpy(dtype=object),
        att["person_id"].to_numpy(dtype=object),
        attended,
        accepted,
        strict=True,
    ):
        if m in deal_of and (acc if a is None else a):
            present.add((m, p))
    for m, o in zip(
        meetings["meeting_id"].to_numpy(dtype=object),
        meetings["organizer_id"].to_numpy(dtype=object, na_value=None),
        strict=True,
    ):
        if o is not None:
            present.add((m, o))
    with_seller = {m for m, p in present if p in sellers}
    for m, p in present:
        if m in with_seller and p not in sellers:
            key = (deal_of[m], p)
            meeting_counts[key] = meeting_counts.get(key, 0) + 1

    emails = ds.emails
    if as_of is not None:
        emails = emails[emails["sent_at"] < as_of]
    sent = dict(
        zip(
            emails["message_id"].to_numpy(dtype=object),
            zip(
                emails["deal_id"].to_numpy(dtype=object),
                emails["sender_id"].to_numpy(dtype=object),
                strict=True,
            ),
            strict=True,
        )
    )
    rec = ds.email_recipients
    # Seller -> person: one per recipient; person -> seller: each message once per sender.
    pairs: set[tuple[str, str, str]] = set()
    for msg, p in zip(
        rec["message_id"].to_numpy(dtype=object), rec["person_id"].to_numpy(dtype=object), strict=True
    ):
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


def has_seller_side(ds: Dataset) -> bool:
    """Whether the dataset knows any seller-side person; without one, engagement cannot be assessed."""
    return bool((ds.people["side"].astype("string") == "seller").any())


def engagement_level(meetings: pd.Series, emails: pd.Series, assessable: bool) -> np.ndarray:
    """`engaged` (a shared meeting), `weak` (e-mail only), `none`, or `unknown` when not assessable."""
    m = np.asarray(meetings, dtype=np.float64)
    e = np.asarray(emails, dtype=np.float64)
    if not assessable:
        return np.full(len(m), "unknown", dtype=object)
    return np.where(m > 0, "engaged", np.where(e > 0, "weak", "none")).astype(object)


# -- coverage ----------------------------------------------------------------------------------------------------
def deal_coverage(people: pd.DataFrame, *, engagement_assessable: bool) -> pd.DataFrame:
    """One row per (deal, profile) for the nine non-peripheral profiles, with a gap message where one applies.

    `people`: the scored people frame (deal_id, person_id, full_name, influence, profile, profile_confidence,
    engagement, seller_meetings, seller_emails). The representative of a present profile is its most
    influential qualifying person; status is the best engagement among the qualifying people, and a message
    names the most influential person at that engagement level.
    """
    profiles = [p for p in PROFILES if p != "peripheral"]
    deals = pd.unique(people["deal_id"].astype(str))
    grid = pd.DataFrame(
        {
            "deal_id": np.repeat(deals, len(profiles)),
            "profile": np.tile(np.asarray(profiles, dtype=object), len(deals)),
        }
    )
    ok = (people["profile_confidence"].astype("float64") >= PRESENT_MIN_CONFIDENCE) & (
        people["influence"].astype("float64") >= PRESENT_MIN_INFLUENCE
    )
    cols = ["deal_id", "person_id", "full_name", "email", "influence", "profile", "profile_confidence"]
    cols += ["engagement", "seller_emails"]
    q = people.loc[ok.to_numpy(), [c for c in cols if c in people.columns]].copy()
    q["deal_id"] = q["deal_id"].astype(str)
    q["profile"] = q["profile"].astype(str)
    q["_eng"] = q["engagement"].map(_ENGAGEMENT_ORDER).fillna(9).astype(int)
    q["_neg"] = -q["influence"].astype("float64")
    keys = ["deal_id", "profile"]
    top = q.sort_values([*keys, "_neg", "person_id"], kind="stable").drop_duplicates(keys)
    who = q.sort_values([*keys, "_eng", "_neg", "person_id"], kind="stable").drop_duplicates(keys)
    top = top.set_index(keys)
    who = who.set_index(keys)
    index = pd.MultiIndex.from_frame(grid)
    top = top.reindex(index)
    who = who.reindex(index)
    present = top["person_id"].notna().to_numpy()
    best = who["engagement"].to_numpy(dtype=object)
    name_cols = [c for c in ("full_name", "email", "person_id") if c in q.columns]
    names = [_name_of(r) for r in who[name_cols].itertuples(index=False)]
    top_names = [_name_of(r) for r in top[name_cols].itertuples(index=False)]
    status, messages = [], []
    for i, profile in enumerate(grid["profile"]):
        important = profile in IMPORTANT_PROFILES
        label = profile_label(profile)
        if not present[i]:
            status.append("missing")
            messages.append(f"no {label} identified among the people seen so far" if important else None)
            continue
        level = {"engaged": "engaged", "weak": "weak", "none": "not_engaged"}.get(str(best[i]), "unknown")
        status.append(level)
        message = None
        if important and engagement_assessable and level != "engaged":
            name = names[i]
            if level == "weak":
                n = int(who["seller_emails"].iat[i])
                message = (
                    f"the {label} ({name}) is only weakly engaged: {n} e-mail{'s' if n != 1 else ''} with us, "
                    "no meeting"
                )
            elif profile == "silent_influencer":
                message = f"the silent influencer ({name}) has met us in no meeting"
            else:
                message = (
                    f"no {label} engaged: {name} has met us in no meeting and exchanged no e-mail with us"
                )
        messages.append(message)
    out = pd.DataFrame(
        {
            "deal_id": grid["deal_id"].to_numpy(),
            "profile": grid["profile"].to_numpy(),
            "important": grid["profile"].isin(IMPORTANT_PROFILES).to_numpy(),
            "present": present,
            "influence": top["influence"].to_numpy(dtype=np.float64),
            "profile_confidence": top["profile_confidence"].to_numpy(dtype=np.float64),
            "status": status,
        }
    )
    # Text columns stay object so "nothing to say" is None, not NaN (pandas 3 would infer a str dtype).
    obj = {
        "person_id": [None if not p else str(v) for p, v in zip(present, top["person_id"], strict=True)],
        "full_name": [n if p else None for p, n in zip(present, top_names, strict=True)],
        "engagement": [None if not p else str(b) for p, b in zip(present, best, strict=True)],
        "message": messages,
    }
    for column, values in obj.items():
        out[column] = pd.Series(values, index=out.index, dtype=object)
    return out[COVERAGE_COLUMNS]


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
    cand = people[people["influence"].astype("float64") >= NEXT_BEST_MIN_INFLUENCE]
    if engagement_assessable:
        cand = cand[cand["engagement"].isin(["none", "weak"])]
    if "method" in cand.columns:
        cand = cand[cand["method"] == "model"]
    cand = cand.sort_values(
        ["deal_id", "influence", "person_id"], ascending=[True, False, True], kind="stable"
    )
    cand = cand.groupby("deal_id", sort=False).head(k)
    out = pd.DataFrame(
        {
            "deal_id": cand["deal_id"].astype("string"),
            "rank": cand.groupby("deal_id", sort=False).cumcount().to_numpy() + 1,
            "person_id": cand["person_id"].astype("string"),
            "full_name": cand.get("full_name"),
            "title": cand.get("title"),
            "profile": cand["profile"],
            "influence": cand["influence"].astype("float64"),
            "engagement": cand["engagement"],
            "seller_meetings": cand["seller_meetings"].astype("int64"),
            "seller_emails": cand["seller_emails"].astype("int64"),
            "angle": cand["profile"].map(lambda p: ANGLES.get(str(p), ANGLES["peripheral"])),
            "why": why.reindex(cand.index) if why is not None else None,
        },
        columns=NEXT_BEST_COLUMNS,
    )
    return out.reset_index(drop=True)
