"""`GeneratorConfig`: every realism setting of the synthetic generator, with its default, in one place.

docs/synthetic-data.md lists these settings (a test checks that the doc and the dataclass agree), so a change
here must be written down there. Later sessions may not make the world easier to reach model goals: the defaults
are the honest, documented difficulty of the synthetic benchmark.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from influence.contract import PROFILES


def _doc(text: str) -> dict[str, str]:
    return {"doc": text}


@dataclass(frozen=True)
class GeneratorConfig:
    """Realism settings of the synthetic deal-history world (see docs/synthetic-data.md)."""

    # --- world and time ---------------------------------------------------------------------------------
    now: str = field(
        default="2026-06-30T00:00:00+00:00", metadata=_doc("The dataset's 'now' (UTC); no event after it.")
    )
    history_days: int = field(
        default=1095, metadata=_doc("Deals are spread over this many days before `now`.")
    )
    countries: tuple[tuple[str, float], ...] = field(
        default=(
            ("NL", 0.20),
            ("DE", 0.18),
            ("BE", 0.09),
            ("FR", 0.12),
            ("GB", 0.12),
            ("US", 0.10),
            ("AT", 0.05),
            ("CH", 0.06),
            ("IE", 0.04),
            ("LU", 0.04),
        ),
        metadata=_doc("Country mix of buyer accounts (weights)."),
    )
    org_levels: tuple[int, ...] = field(
        default=(3, 4, 5, 6), metadata=_doc("Possible hierarchy depths of a buyer organisation (uniform).")
    )
    english_title_share: float = field(
        default=0.3, metadata=_doc("Share of people in non-English companies who carry an English title.")
    )
    title_missing_rate: float = field(default=0.10, metadata=_doc("Share of people with no title at all."))
    title_noise_rate: float = field(
        default=0.10,
        metadata=_doc("Share of titles with casing/spacing noise (lower/UPPER case, double spaces)."),
    )
    seller_domain: str = field(default="vendaro.io", metadata=_doc("E-mail domain of our (seller) company."))

    # --- deals ------------------------------------------------------------------------------------------
    extra_deals_mean: float = field(
        default=1.5, metadata=_doc("Deals per account = 1 + Poisson(this), capped at `max_deals`.")
    )
    max_deals: int = field(default=6, metadata=_doc("Maximum deals per account."))
    duration_median_days: float = field(default=80.0, metadata=_doc("Median deal length (log-normal)."))
    duration_sigma: float = field(default=0.5, metadata=_doc("Log-normal sigma of deal length."))
    open_deal_share: float = field(default=0.15, metadata=_doc("Share of deals still open at `now`."))
    amount_median: float = field(
        default=45000.0, metadata=_doc("Median deal amount (log-normal, sigma 0.9).")
    )

    # --- decision-making unit ---------------------------------------------------------------------------
    dmu_slots: tuple[tuple[str, int, int, float], ...] = field(
        default=(
            ("executive_sponsor", 0, 1, 0.35),
            ("budget_holder", 0, 2, 0.55),
            ("procurement", 0, 2, 0.40),
            ("technical_gatekeeper", 1, 2, 0.30),
            ("end_user", 0, 5, 0.45),
            ("silent_influencer", 0, 2, 0.35),
            ("digital_researcher", 0, 2, 0.40),
            ("political_gatekeeper", 0, 1, 0.45),
            ("peripheral", 1, 4, 0.40),
            ("external_advisor", 0, 2, 0.30),
        ),
        metadata=_doc(
            "DMU composition per deal: (profile, fixed, n, p) gives fixed + Binomial(n, p) people of that profile."
        ),
    )
    min_buyer_dmu: int = field(
        default=5, metadata=_doc("Small DMUs are topped up with end users to this size.")
    )
    person_reuse_rate: float = field(
        default=0.4,
        metadata=_doc("Chance a DMU slot is filled by someone of the account who held it before."),
    )
    influence_mean: tuple[tuple[str, float], ...] = field(
        default=(
            ("executive_sponsor", 0.72),
            ("budget_holder", 0.64),
            ("procurement", 0.36),
            ("technical_gatekeeper", 0.48),
            ("end_user", 0.18),
            ("silent_influencer", 0.66),
            ("digital_researcher", 0.34),
            ("political_gatekeeper", 0.52),
            ("peripheral", 0.12),
            ("external_advisor", 0.42),
        ),
        metadata=_doc("Mean latent influence per profile (Beta distributed around it)."),
    )
    influence_concentration: float = field(
        default=9.0,
        metadata=_doc("Beta concentration of latent influence around the profile mean (lower: wider)."),
    )
    seniority_influence_weight: float = field(
        default=0.02,
        metadata=_doc("Direct effect of one seniority level on latent influence (beyond profile)."),
    )
    person_clout_sd: float = field(
        default=0.06,
        metadata=_doc("SD of a person's persistent clout, added to influence in every deal they join."),
    )

    # --- behaviour --------------------------------------------------------------------------------------
    meetings_mean: float = field(default=12.0, metadata=_doc("Meetings per deal of median length (Poisson)."))
    threads_mean: float = field(
        default=48.0, metadata=_doc("E-mail threads per deal of median length (Poisson).")
    )
    seller_thread_share: float = field(
        default=0.6, metadata=_doc("Share of threads between seller and buyer; the rest are buyer-internal.")
    )
    behaviour_strength: float = field(
        default=1.0, metadata=_doc("Scales every effect of latent influence on observable behaviour.")
    )
    activity_sd: float = field(
        default=0.6,
        metadata=_doc("SD (log scale) of a per-(deal, person) activity propensity unrelated to influence."),
    )
    inactive_share: float = field(
        default=0.05,
        metadata=_doc("Share of buyer DMU people with no activity at all (they still get labels)."),
    )
    reply_latency_hours: float = field(default=5.0, metadata=_doc("Median buyer reply delay between equals."))
    latency_sd: float = field(default=0.9, metadata=_doc("Log-normal SD of reply delays."))
    attendance_unknown_rate: float = field(
        default=0.3, metadata=_doc("Share of meetings whose attendance is unknown (attended empty).")
    )
    signals_pre_contact_days: float = field(
        default=45.0,
        metadata=_doc("Digital researchers start researching up to this many days before the deal."),
    )

    # --- outcome ----------------------------------------------------------------------------------------
    win_intercept: float = field(
        default=-1.3, metadata=_doc("Logit of winning at an early-engagement share of 0.5.")
    )
    win_slope: float = field(
        default=5.0,
        metadata=_doc(
            "Logit slope of winning in the influence-weighted share of key people met in the first third."
        ),
    )

    # --- observation ------------------------------------------------------------------------------------
    capture_rate: float = field(
        default=0.85, metadata=_doc("Share of meetings and e-mails that were captured.")
    )
    profile_label_error_rate: float = field(
        default=0.10, metadata=_doc("Share of profile labels replaced by a wrong profile.")
    )
    influence_label_noise_sd: float = field(
        default=0.05, metadata=_doc("SD of Gaussian noise on influence labels (then clipped to [0, 1]).")
    )
    win_loss_review_share: float = field(
        default=0.6,
        metadata=_doc("Share of labelled deals whose labels come from a win/loss review (else CRM roles)."),
    )

    # --- real-world evidence: header-only exports, whole mailboxes, hierarchy ------------------------------
    header_only_share: float = field(
        default=0.25,
        metadata=_doc(
            "Share of accounts (besides mailboxes) whose history is a header-only mail export: no meetings and "
            "no digital signals; Cc, reply headers, threads, our side and titles may be missing too (below)."
        ),
    )
    mailbox_share: float = field(
        default=0.04,
        metadata=_doc(
            "Share of accounts that are one whole company mailbox: one deal holding all of the account's mail "
            "(`mailbox_people` people, months to years), header-only as above. Everyone in it is labelled."
        ),
    )
    mailbox_people: tuple[int, int] = field(
        default=(50, 200),
        metadata=_doc("Range of people in a mailbox account (log-uniform)."),
    )
    mailbox_days: tuple[int, int] = field(
        default=(180, 1000), metadata=_doc("Range of the time a mailbox spans, in days (uniform).")
    )
    mailbox_threads_per_person: tuple[float, float] = field(
        default=(8.0, 50.0),
        metadata=_doc(
            "Range of mail threads per person in a mailbox (log-uniform per mailbox, then Poisson); a thread "
            "has 1-8 messages."
        ),
    )
    mailbox_seller_thread_share: float = field(
        default=0.1,
        metadata=_doc(
            "Share of a mailbox's threads that involve our side (most of a company's mail is internal)."
        ),
    )
    mailbox_tie_sd: float = field(
        default=2.5,
        metadata=_doc(
            "SD (log scale) of a persistent, symmetric tie strength per pair of people in a mailbox: people "
            "write mostly to their regular correspondents and their threads run longer (0 = off)."
        ),
    )
    mailbox_copies_per_message: float = field(
        default=2.0,
        metadata=_doc(
            "Mean Cc recipients of a new message in a mailbox (the copy rates are scaled to it); answers keep "
            "them only when they reply to all (`mailbox_reply_all`)."
        ),
    )
    mailbox_team_affinity: float = field(
        default=1.0,
        metadata=_doc(
            "Extra log-weight, in a mailbox, of writing to and copying people of one's own function (real "
            "mail is clustered in teams)."
        ),
    )
    mailbox_routine_share: float = field(
        default=0.7,
        metadata=_doc(
            "Share of a mailbox's internal threads that are routine exchanges between a person and one of their "
            "few regular partners (a close colleague, a team mate), chosen regardless of status: mail volume "
            "concentrates on a few heavy pairs while breadth (distinct correspondents) does not (0 = off)."
        ),
    )
    mailbox_partners: float = field(
        default=1.5,
        metadata=_doc(
            "Mean number of regular partners each mailbox person picks (Poisson; mostly their own function); "
            "a pair's routine volume is log-normal (sd `mailbox_routine_volume_sd`)."
        ),
    )
    mailbox_routine_volume_sd: float = field(
        default=2.0,
        metadata=_doc(
            "SD (log scale) of the routine mail volume of a pair of regular partners in a mailbox."
        ),
    )
    mailbox_routine_continue: float = field(
        default=0.9,
        metadata=_doc(
            "Chance a routine thread goes on after each message (back and forth, up to 8 messages)."
        ),
    )
    mailbox_broadcast_share: float = field(
        default=0.3,
        metadata=_doc(
            "Share of a mailbox's internal threads that start as a broadcast (an announcement, a team-wide note) "
            "copied to `mailbox_broadcast_size` people, mostly of the sender's own function."
        ),
    )
    mailbox_broadcast_size: tuple[int, int] = field(
        default=(3, 20),
        metadata=_doc("Range of the number of people a broadcast is copied to (log-uniform)."),
    )
    mailbox_custodian_share: tuple[float, float] = field(
        default=(1.0, 1.0),
        metadata=_doc(
            "Range of the share of a mailbox company's people whose mail the export covers (uniform per mailbox; "
            "custodians cluster by function): only mail among custodians is in it, and only they are labelled. "
            "(1.0, 1.0) = the whole company."
        ),
    )
    mailbox_reply_all: float = field(
        default=0.5,
        metadata=_doc(
            'Chance, in a mailbox, that an answer keeps the thread\'s copies ("reply all"); otherwise it goes to '
            "the sender alone and the copies drop out of the thread (1 = copies stay to the end)."
        ),
    )
    mailbox_copy_ties: float = field(
        default=1.0,
        metadata=_doc(
            "Weight, in a mailbox, of the persistent tie strength (`mailbox_tie_sd`) in choosing whom a message "
            "copies and whom a broadcast reaches: people copy their usual circle and announce to the same list, "
            "not to a fresh set each time (0 = copies ignore ties)."
        ),
    )
    mailbox_sender_sd: float = field(
        default=1.0,
        metadata=_doc(
            "SD (log scale) of a persistent per-person propensity, in a mailbox, to start threads, unrelated to "
            "status: some people write far more than they are written to (0 = off)."
        ),
    )
    header_only_no_cc_rate: float = field(
        default=0.5,
        metadata=_doc("Header-only accounts whose export keeps no Cc: every recipient is written as To."),
    )
    header_only_no_reply_rate: float = field(
        default=0.6,
        metadata=_doc("Header-only accounts without In-Reply-To/References (no reply chains in the data)."),
    )
    header_only_flat_thread_rate: float = field(
        default=0.5,
        metadata=_doc(
            "Of the header-only accounts without reply headers, the share whose threads cannot be rebuilt "
            "either (each message its own thread)."
        ),
    )
    header_only_no_seller_rate: float = field(
        default=0.5,
        metadata=_doc(
            "Header-only accounts that are a buyer-internal export: no message to or from our side is in it."
        ),
    )
    header_only_no_titles_rate: float = field(
        default=0.5,
        metadata=_doc("Header-only accounts with no titles and no departments at all (a bare address book)."),
    )
    header_only_title_missing_rate: float = field(
        default=0.3,
        metadata=_doc("In the other header-only accounts, the share of people with no title."),
    )
    mail_hierarchy_strength: float = field(
        default=1.0,
        metadata=_doc(
            "How strongly mail follows the hierarchy: people write and copy up to their manager and seniors, "
            "managers write down to their reports, seniors receive from many people (0 = off)."
        ),
    )
    assistant_rate: float = field(
        default=0.5,
        metadata=_doc(
            "Chance a top-level executive in a deal has an assistant who sends and receives mail on their "
            "behalf (a busy, low-influence peripheral person)."
        ),
    )

    def __post_init__(self) -> None:
        for name in (
            "title_missing_rate",
            "title_noise_rate",
            "open_deal_share",
            "person_reuse_rate",
            "inactive_share",
            "capture_rate",
            "profile_label_error_rate",
            "english_title_share",
            "seller_thread_share",
            "attendance_unknown_rate",
            "win_loss_review_share",
            "header_only_share",
            "mailbox_share",
            "header_only_no_cc_rate",
            "header_only_no_reply_rate",
            "header_only_flat_thread_rate",
            "header_only_no_seller_rate",
            "header_only_no_titles_rate",
            "header_only_title_missing_rate",
            "assistant_rate",
            "mailbox_seller_thread_share",
            "mailbox_routine_share",
            "mailbox_routine_continue",
            "mailbox_broadcast_share",
            "mailbox_reply_all",
        ):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"GeneratorConfig.{name} must be in [0, 1], got {value!r}")
        slots = [s[0] for s in self.dmu_slots]
        means = [m[0] for m in self.influence_mean]
        if sorted(slots) != sorted(PROFILES) or sorted(means) != sorted(PROFILES):
            raise ValueError(
                "GeneratorConfig.dmu_slots and influence_mean need exactly one entry per profile"
            )
        if self.max_deals < 1 or self.history_days < 30 or self.meetings_mean <= 0 or self.threads_mean <= 0:
            raise ValueError(
                "GeneratorConfig: max_deals >= 1, history_days >= 30, meetings/threads means > 0"
            )

        if self.header_only_share + self.mailbox_share > 1.0:
            raise ValueError("GeneratorConfig: header_only_share + mailbox_share must be at most 1")
        lo, hi = self.mailbox_people
        if not 10 <= lo <= hi or self.mailbox_days[0] < 30 or self.mailbox_days[0] > self.mailbox_days[1]:
            raise ValueError(
                "GeneratorConfig: mailbox_people needs 10 <= low <= high; mailbox_days 30 <= low <= high"
            )
        tlo, thi = self.mailbox_threads_per_person
        if self.mailbox_partners < 0:
            raise ValueError("GeneratorConfig.mailbox_partners must be >= 0")
        if min(self.mailbox_copy_ties, self.mailbox_sender_sd, self.mailbox_routine_volume_sd) < 0:
            raise ValueError(
                "GeneratorConfig: mailbox_copy_ties, mailbox_sender_sd and mailbox_routine_volume_sd must be >= 0"
            )
        clo, chi = self.mailbox_custodian_share
        if not 0.0 < clo <= chi <= 1.0:
            raise ValueError("GeneratorConfig.mailbox_custodian_share needs 0 < low <= high <= 1")
        blo, bhi = self.mailbox_broadcast_size
        if not 1 <= blo <= bhi:
            raise ValueError("GeneratorConfig.mailbox_broadcast_size needs 1 <= low <= high")
        if not 0 < tlo <= thi or self.mail_hierarchy_strength < 0:
            raise ValueError(
                "GeneratorConfig: mailbox_threads_per_person needs 0 < low <= high; mail_hierarchy_strength >= 0"
            )

    def expected_profile_mix(self) -> dict[str, float]:
        """Expected share of DMU rows per profile implied by `dmu_slots` (before topping up small DMUs)."""
        means = {p: f + n * q for p, f, n, q in self.dmu_slots}
        total = sum(means.values())
        return {p: means[p] / total for p in PROFILES}


def settings_table(config: GeneratorConfig | None = None) -> list[tuple[str, str, str]]:
    """(name, default value, description) for every setting, in declaration order (used by the docs)."""
    config = config or GeneratorConfig()
    return [(f.name, repr(getattr(config, f.name)), f.metadata.get("doc", "")) for f in fields(config)]


def settings_markdown(config: GeneratorConfig | None = None) -> str:
    """The settings as a Markdown table (docs/synthetic-data.md embeds it between settings markers)."""
    lines = ["| setting | default | meaning |", "|---|---|---|"]
    for name, value, doc in settings_table(config):
        lines.append(f"| `{name}` | `{value.replace('|', chr(92) + '|')}` | {doc} |")
    return "\n".join(lines)
