"""The feature catalogue: names, groups, one-line definitions and monotone-by-design features.

Declared once here; `build_features` emits exactly these columns in this order and docs/features.md is generated
from `FEATURE_DOCS` (a test keeps the two in sync).
"""

from __future__ import annotations

from influence.contract import FUNCTIONS

# Free-text meeting kinds are matched against these (lower case, substring) to flag technical / executive meetings.
TECHNICAL_KIND_PATTERN = r"tech|demo|poc|proof|pilot|architect|security|integrat|workshop|sandbox|trial"
EXECUTIVE_KIND_PATTERN = r"exec|board|steering|sponsor|c-level|leadership|negotiat|contract|business case"
SENIOR_LEVEL = 5  # director / VP and above on the shared seniority scale
SIGNAL_LOOKBACK_DAYS = 180
ACCOUNT_WINDOW_DAYS = 365  # account graphs hold the account's events of the last year up to the deal's end
MAX_HOPS = 4  # hops-to-seller is capped: MAX_HOPS + 1 means "further, or not connected"

TITLE_FUNCTIONS: tuple[str, ...] = FUNCTIONS

_GROUPS: dict[str, dict[str, str]] = {
    "meetings": {
        "mtg_invited": "Meetings of the deal the person was invited to or organised.",
        "mtg_attended": "Meetings attended (attended flag; when unknown, an accepted invitation; organisers attend).",
        "mtg_attended_share": "mtg_attended / number of the deal's meetings (0 when the deal has no meetings).",
        "mtg_organised": "Meetings of the deal the person organised.",
        "mtg_organised_share": "mtg_organised / mtg_invited: share of the person's meetings they organised; NaN when none.",
        "mtg_attended_early": "Attended meetings in the first half of the deal's observed span (see Time).",
        "mtg_attended_late": "Attended meetings in the second half of the deal's observed span.",
        "mtg_late_share": "mtg_attended_late / mtg_attended; NaN when nothing attended.",
        "mtg_resp_accepted_share": "Share of invitations answered 'accepted'; NaN when never invited.",
        "mtg_resp_declined_share": "Share of invitations answered 'declined'; NaN when never invited.",
        "mtg_resp_tentative_share": "Share of invitations answered 'tentative'; NaN when never invited.",
        "mtg_resp_none_share": "Share of invitations never answered; NaN when never invited.",
        "mtg_senior_coattend_share": (
            "Share of attended meetings where another buyer/partner attendee has title seniority >= 5; "
            "NaN when nothing attended."
        ),
        "mtg_technical_share": "Share of attended meetings whose kind is technical (demo, PoC, ...); NaN when none.",
        "mtg_executive_share": "Share of attended meetings whose kind is executive (board, steering, ...); NaN when none.",
        "mtg_size_mean": "Mean number of attendees of the meetings the person attended; NaN when none.",
        "mtg_technical_attended_share": (
            "Share of the deal's technical meetings the person attended; NaN when the deal has none."
        ),
        "mtg_executive_attended_share": (
            "Share of the deal's executive meetings the person attended; NaN when the deal has none."
        ),
    },
    "email": {
        "em_sent": "E-mails of the deal the person sent.",
        "em_received": "E-mails of the deal the person received (to, cc or bcc; self-addressed copies ignored).",
        "em_received_cc": "E-mails received in cc (cc'd by others).",
        "em_cc_by_senior": "E-mails received in cc from a buyer/partner sender with title seniority >= 5.",
        "em_threads_share": "Share of the deal's threads the person sent or received in (0 when no threads).",
        "em_threads_started": "Threads whose first captured message the person sent (ties: every earliest sender).",
        "em_replies_received": (
            "Replies by others to messages this person sent; NaN when the deal has no captured reply at all."
        ),
        "em_replies_given": "Replies this person sent to others' messages; NaN when the deal has no reply at all.",
        "em_replied_share": (
            "Share of this person's sent e-mails that someone else answered; NaN when nothing sent or the deal "
            "has no reply at all."
        ),
        "em_latency_received_h": "Median hours others took to reply to this person; NaN with no such reply.",
        "em_latency_given_h": "Median hours this person took to reply to others; NaN with no such reply.",
        "em_latency_log_ratio": (
            "log((1 + latency given) / (1 + latency received)): > 0 when others answer faster than this person "
            "does; NaN when either is NaN."
        ),
        "em_latency_received_rel": (
            "log((1 + em_latency_received_h) / (1 + the deal's median reply time)): < 0 when others answer this "
            "person faster than is usual in the deal; NaN without such replies."
        ),
        "em_latency_given_rel": (
            "log((1 + em_latency_given_h) / (1 + the deal's median reply time)): > 0 when this person answers "
            "slower than is usual in the deal; NaN without such replies."
        ),
        "em_fan_out": "Distinct people this person e-mailed.",
        "em_fan_in": "Distinct people who e-mailed this person.",
    },
    "network": {
        "net_degree": "Distinct contacts in the deal graph (e-mail either way or a shared attended meeting).",
        "net_in_strength_share": "Weighted e-mail in-degree / all e-mail recipient links of the deal (0 if none).",
        "net_pagerank_distinct": (
            "PageRank (damping 0.85) in the deal's distinct-contact graph: an edge sender->recipient once for any "
            "number of e-mails, and once per pair of meeting co-attendees; times the number of people in the deal "
            "(1 = average), 0 without any tie. Unlike net_pagerank, a single heavy pair (an assistant, a close "
            "colleague, an automated sender) cannot make a person central."
        ),
        "net_top_tie_share": (
            "Share of the person's tie weight (e-mails either way plus shared meetings) that goes to their single "
            "strongest contact (1 = all with one person); NaN when isolated."
        ),
        "net_pagerank": (
            "PageRank (damping 0.85) in the deal graph (e-mail sender->recipient plus meeting co-attendance), "
            "times the number of people in the deal so 1 is average; 0 without any tie."
        ),
        "net_constraint": "Burt's constraint in the weighted undirected deal graph (low = broker); NaN when isolated.",
        "net_brokerage": "Share of pairs of the person's contacts that are not tied to each other; NaN under 2 contacts.",
        "net_dept_count": "Distinct departments among buyer/partner contacts (department, else parsed title function).",
        "net_cross_dept_share": (
            "Share of ties to buyer/partner contacts in another department; NaN when the person's or all contacts' "
            "departments are unknown."
        ),
        "net_hops_to_seller": (
            f"Hops to the nearest seller-side person in the deal graph (1..{MAX_HOPS}, {MAX_HOPS + 1} = further or "
            "not connected); NaN when the deal has no seller-side participant."
        ),
        "net_seller_tie_share": "Share of the person's tie weight that goes to seller-side people; NaN when isolated.",
        "net_cc_weighted": (
            "E-mails received in cc from a buyer/partner sender, each weighted by the sender's net_pagerank "
            "(copied by central people counts more); 0 when never in such cc."
        ),
        "net_cc_sender_rank": (
            "The mean net_pagerank of the buyer/partner senders who copy the person in cc (1 = an average "
            "person); NaN when never in such cc."
        ),
        "acct_degree": (
            f"net_degree in the account graph: events of all the account's deals in the {ACCOUNT_WINDOW_DAYS} "
            "days up to this deal's observation end (never later ones)."
        ),
        "acct_in_strength_share": "net_in_strength_share in the account graph.",
        "acct_pagerank": "net_pagerank in the account graph (1 = average person of the account graph).",
        "acct_constraint": "net_constraint in the account graph.",
        "acct_brokerage": "net_brokerage in the account graph.",
        "acct_hops_to_seller": "net_hops_to_seller in the account graph.",
    },
    "title": {
        "title_seniority": "Seniority level 0-6 parsed from the title (0 = none or unrecognised).",
        "title_missing": "1 when the person has no title.",
        "title_assistant": "1 when the title is an assistant role.",
        "title_technical": "1 when the title is a technical role.",
        **{f"title_fn_{f}": f"1 when the parsed title function is '{f}'." for f in TITLE_FUNCTIONS},
    },
    "signals": {
        "sig_before_contact": (
            f"Digital signals of the person from {SIGNAL_LOOKBACK_DAYS} days before deal creation up to the deal's "
            "first seller contact (the observation end when there is no seller contact)."
        ),
        "sig_kinds_before_contact": "Distinct signal kinds in that window.",
        "sig_days_first_to_contact": (
            "Days from the first signal in that window to the first seller contact; NaN without both."
        ),
        "sig_in_deal": (
            f"Signals from {SIGNAL_LOOKBACK_DAYS} days before deal creation up to the deal's observation end."
        ),
    },
    "external": {
        "ext_external": (
            "1 for partner-side people or an e-mail domain other than the account's (subdomains count as the "
            "account's); NaN for buyer-side people when either domain is unknown."
        ),
    },
    "history": {
        "hist_account_deals": "Earlier deals of the same account (created before this deal).",
        "hist_deals": "Earlier deals of the same account in which the person appeared before this deal's creation.",
        "hist_deals_share": "hist_deals / hist_account_deals; NaN for the account's first deal.",
        "hist_meetings": "Meetings of earlier deals of the account the person was invited to, before this deal.",
        "hist_emails": "E-mails of earlier deals of the account the person sent or received, before this deal.",
    },
    "timing": {
        "first_seen_days": "Days from deal creation to the person's first event in the deal (negative = before).",
        "first_seen_position": "Position of that first event in the deal's observed span (0 = creation, 1 = end).",
        "last_seen_position": (
            "Position of the person's last event in the deal's observed span (0 = creation, 1 = end); NaN when "
            "not seen."
        ),
    },
    "relative": {
        "rel_mtg_attended": "mtg_attended / the deal's maximum over its people (0 when the maximum is 0).",
        "rel_em_sent": "em_sent / the deal's maximum.",
        "rel_em_received": "em_received / the deal's maximum.",
        "rel_em_fan_in": "em_fan_in / the deal's maximum.",
        "rel_net_degree": "net_degree / the deal's maximum.",
        "rel_net_pagerank": "net_pagerank / the deal's maximum.",
        **{
            f"pct_{base}": (
                f"Percentile of {of} among the other active buyer/partner people of the deal (share with a lower "
                "value, ties count half; 0 = lowest, 1 = highest); NaN when nobody else is active."
            )
            for base, of in (
                ("net_pagerank", "net_pagerank"),
                ("acct_pagerank", "acct_pagerank"),
                ("net_in_strength", "net_in_strength_share (weighted e-mail in-degree)"),
                ("em_fan_in", "em_fan_in (distinct senders)"),
                ("em_received", "em_received"),
                ("mtg_invited", "mtg_invited"),
                ("net_cc_weighted", "net_cc_weighted"),
                ("net_degree", "net_degree (distinct contacts)"),
                ("net_pagerank_distinct", "net_pagerank_distinct (centrality by distinct contacts)"),
            )
        },
    },
    "context": {
        "ctx_deal_people": "Buyer/partner people active in the deal (rows added only through `pairs` not counted).",
        "ctx_deal_meetings": "Meetings of the deal before as_of.",
        "ctx_deal_emails": "E-mails of the deal before as_of.",
        "ctx_deal_age_days": "Days from deal creation to the deal's observation end.",
        "ctx_deal_has_seller": "1 when a seller-side person took part in the deal's events so far.",
    },
}

FEATURE_GROUPS: dict[str, list[str]] = {group: list(docs) for group, docs in _GROUPS.items()}
FEATURE_DOCS: dict[str, str] = {name: doc for docs in _GROUPS.values() for name, doc in docs.items()}
FEATURE_COLUMNS: list[str] = list(FEATURE_DOCS)
KEY_COLUMNS: list[str] = ["deal_id", "person_id", "account_id"]

# Features where, by construction and by the domain story, "more" never means "less influence"; the model may
# constrain them (HistGradientBoosting monotonic_cst = +1). Kept short on purpose: activity volume is NOT here,
# because silent influencers are influential with little visible activity.
MONOTONE_INCREASING: list[str] = [
    "mtg_organised",
    "mtg_attended_share",
    "mtg_senior_coattend_share",
    "title_seniority",
    "em_cc_by_senior",
]
