"""The generative story, one account at a time (numpy inside, never a Python loop per event).

Every account draws from its own RNG, `np.random.SeedSequence([seed, account_index])`, so the output for a seed
does not depend on how accounts are chunked. The seller team and the pool of external advisors are shared by all
accounts and drawn from `SeedSequence([seed, 2**32 - 1, 7])`; they are emitted once, with the first chunk.

Roles are integer codes: 0-9 are the ten DMU profiles in `contract.PROFILES` order, 10-12 our account executive,
solutions engineer and sales manager. Meeting kinds and signal kinds are codes into `MEETING_KINDS` and
`SIGNAL_KINDS`.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from functools import cache

import numpy as np

from influence.contract import PROFILES
from influence.generate import _vocab as V
from influence.generate._config import GeneratorConfig

MEETING_KINDS: tuple[str, ...] = (
    "discovery",
    "demo",
    "technical",
    "security_review",
    "commercial",
    "negotiation",
    "executive_briefing",
    "workshop",
)
RESPONSES: tuple[str, ...] = ("accepted", "declined", "tentative", "none")
RECIPIENT_KINDS: tuple[str, ...] = ("to", "cc", "bcc")
SIDES: tuple[str, ...] = ("buyer", "seller", "partner")
SIGNAL_KINDS = V.SIGNAL_KINDS

ES, BH, PR, TG, EU, SI, DR, PG, EA, PE, AE, SE, SM = range(13)
assert PROFILES.index("external_advisor") == EA and PROFILES.index("peripheral") == PE
N_ROLES = 13
DAY = 86_400.0

# Invitation affinity (logit) per meeting kind (rows) and role (columns ES..PE, AE, SE, SM).
_INVITE = np.array(
    [
        # ES    BH    PR    TG    EU    SI    DR    PG    EA    PE    AE   SE    SM
        [-2.0, 0.3, -2.5, -0.3, -1.5, -1.5, 0.8, 0.3, -1.0, -2.0, 3.0, -0.5, -2.0],  # discovery
        [-2.5, -0.3, -2.5, 0.6, 0.8, -0.3, 0.5, -0.5, -0.5, -1.5, 3.0, 3.0, -2.5],  # demo
        [-4.0, -1.5, -3.0, 1.5, -1.0, 1.2, -0.5, -1.5, 0.3, -2.2, 1.0, 3.0, -3.0],  # technical
        [-4.0, -2.0, -2.0, 1.2, -2.5, 0.5, -1.5, -1.5, -0.5, -2.0, 0.5, 3.0, -3.0],  # security_review
        [-1.5, 1.0, 1.5, -1.5, -3.0, -1.2, -2.0, 0.0, -0.5, -2.5, 3.0, -1.0, 0.5],  # commercial
        [0.0, 1.2, 2.0, -2.5, -4.0, -1.5, -3.0, -0.5, -1.0, -3.0, 3.0, -2.0, 1.5],  # negotiation
        [2.5, 0.8, -2.5, -2.0, -4.0, -1.0, -3.0, 0.3, -1.0, -2.0, 3.0, -2.0, 2.0],  # executive_briefing
        [-3.0, -0.5, -2.5, 0.8, 1.2, 0.4, 0.2, 0.0, 1.0, -1.0, 2.5, 2.5, -3.0],  # workshop
    ]
)
# Meeting-kind mix per deal third (early, middle, late).
_KIND_MIX = np.array(
    [
        [0.45, 0.30, 0.10, 0.00, 0.00, 0.00, 0.00, 0.15],
        [0.05, 0.20, 0.30, 0.15, 0.10, 0.00, 0.00, 0.20],
        [0.00, 0.05, 0.10, 0.10, 0.30, 0.25, 0.20, 0.00],
    ]
)
_DURATION = np.array([30.0, 60.0, 75.0, 60.0, 45.0, 60.0, 30.0, 150.0])
_SELLER_ORGANISES = np.array([0.85, 0.8, 0.5, 0.3, 0.6, 0.5, 0.6, 0.5])
# Phase window [start, end] of the deal in which each role is active.
_WINDOW = np.array(
    [
        [0.55, 1.0],
        [0.05, 1.0],
        [0.5, 1.0],
        [0.1, 0.8],
        [0.15, 0.65],
        [0.05, 0.85],
        [0.0, 0.45],
        [0.0, 1.0],
        [0.1, 0.85],
        [0.0, 1.0],
        [0.0, 1.0],
        [0.0, 1.0],
        [0.0, 1.0],
    ]
)
_ORGANISE = np.array([-0.5, 0.5, 0.8, 0.6, -1.0, -1.5, 0.0, 1.5, -0.5, -1.5, 0, 0, 0])
_START = np.array([-1.0, 0.3, 0.0, 0.3, -0.8, -1.2, 0.3, 1.0, -0.3, -1.5, 0, 0, 0])
_TO = np.array([0.0, 0.6, 0.2, 0.5, -0.6, 0.2, 0.0, 0.4, 0.0, -1.5, 0, 0, 0])
_CC = np.array([-4.0, -2.5, -3.0, -2.5, -3.5, -2.5, -3.5, -2.5, -2.5, -3.5, -9, -9, -9])
_SIGNAL_RATE = np.array([0.5, 2.2, 3.0, 3.5, 1.5, 1.8, 20.0, 1.2, 1.2, 0.6, 0, 0, 0])
# Signal-kind mix (web_visit, content_download, webinar, review_site, pricing_page, case_study) per role.
_SIGNAL_MIX = np.tile(np.array([0.60, 0.12, 0.10, 0.05, 0.08, 0.05]), (N_ROLES, 1))
_SIGNAL_MIX[DR] = [0.35, 0.22, 0.12, 0.15, 0.08, 0.08]
_SIGNAL_MIX[BH] = [0.40, 0.10, 0.05, 0.05, 0.30, 0.10]
_SIGNAL_MIX[PR] = [0.35, 0.05, 0.02, 0.13, 0.40, 0.05]
_SIGNAL_MIX[TG] = [0.50, 0.25, 0.15, 0.05, 0.02, 0.03]

# Seniority (1-6) distribution per profile, and function mix per profile (buyer side).
_SENIORITY = np.array(
    [
        [0, 0, 0, 0, 0.25, 0.75],
        [0, 0, 0.05, 0.45, 0.35, 0.15],
        [0.05, 0.45, 0.30, 0.15, 0.05, 0],
        [0, 0.20, 0.45, 0.30, 0.05, 0],
        [0.20, 0.50, 0.25, 0.05, 0, 0],
        [0, 0.35, 0.45, 0.20, 0, 0],
        [0.10, 0.50, 0.30, 0.10, 0, 0],
        [0, 0.05, 0.30, 0.40, 0.20, 0.05],
        [0, 0.20, 0.35, 0.25, 0.15, 0.05],
        [0.10, 0.25, 0.20, 0.15, 0.15, 0.15],
    ]
)
_F = {f: i for i, f in enumerate(V.FUNCTIONS)}


def _fmix(**w: float) -> np.ndarray:
    out = np.zeros(len(V.FUNCTIONS))
    for k, v in w.items():
        out[_F[k]] = v
    return out / out.sum()


_FUNCTION_MIX = np.stack(
    [
        _fmix(executive=0.6, finance=0.1, operations=0.1, it=0.1, sales=0.05, product=0.05),
        _fmix(finance=0.35, it=0.2, operations=0.2, marketing=0.1, executive=0.05, data=0.05, sales=0.05),
        _fmix(procurement=1.0),
        _fmix(it=0.4, security=0.2, engineering=0.2, data=0.2),
        _fmix(
            operations=0.25,
            data=0.15,
            sales=0.15,
            marketing=0.15,
            engineering=0.1,
            finance=0.1,
            hr=0.05,
            product=0.05,
        ),
        _fmix(it=0.25, engineering=0.25, data=0.2, operations=0.15, finance=0.1, product=0.05),
        _fmix(it=0.3, data=0.25, marketing=0.2, operations=0.15, product=0.1),
        _fmix(executive=0.3, operations=0.2, finance=0.15, legal=0.15, hr=0.1, it=0.1),
        _fmix(other=1.0),
        _fmix(**{f: 1.0 for f in V.FUNCTIONS if f != "other"}),
    ]
)
_FUNCTION_CUM = np.cumsum(_FUNCTION_MIX, axis=1)
_SENIORITY_CUM = np.cumsum(_SENIORITY, axis=1)
_LEVELS_BY_DEPTH = {3: (2, 4, 6), 4: (2, 4, 5, 6), 5: (2, 3, 4, 5, 6), 6: (1, 2, 3, 4, 5, 6)}


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


@cache
def _ascii(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in plain.lower() if ch.isalnum())


def _base36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if n == 0:
            return out


def _noisy_title(rng: np.random.Generator, title: str, cfg: GeneratorConfig) -> str | None:
    """Missing titles and the casing/spacing mess of hand-typed CRM fields."""
    if rng.random() < cfg.title_missing_rate:
        return None
    if rng.random() < cfg.title_noise_rate:
        kind = rng.integers(5)
        if kind == 0:
            return title.lower()
        if kind == 1:
            return title.upper()
        if kind == 2:
            return title.replace(" ", "  ", 1)
        if kind == 3:
            return f" {title} "
        return title.rstrip(".") + " "
    return title


@dataclass
class Columns:
    """Column lists of every table (and the truth) for a batch of accounts, concatenated at the end."""

    data: dict[str, dict[str, list]] = field(default_factory=dict)

    def add(self, table: str, **cols: object) -> None:
        store = self.data.setdefault(table, {})
        for name, values in cols.items():
            store.setdefault(name, []).append(values)


@dataclass(frozen=True)
class Team:
    """Our sales team and the shared pool of external advisors (partner side)."""

    n_ae: int
    n_se: int
    n_sm: int
    advisor_ids: tuple[str, ...]
    advisor_seniority: np.ndarray
    advisor_clout: np.ndarray
    advisor_titles: tuple[str | None, ...]
    people: dict[str, list]


def make_team(n_accounts: int, seed: int, cfg: GeneratorConfig) -> Team:
    """The seller team (sized to the number of accounts) and the pool of advisors, with their people rows."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 2**32 - 1, 7]))
    n_ae = max(2, -(-n_accounts // 40))
    n_se = max(1, -(-n_accounts // 80))
    n_sm = max(1, -(-n_accounts // 300))
    n_adv = max(6, -(-n_accounts // 6))
    people: dict[str, list] = {
        k: [] for k in ("person_id", "account_id", "full_name", "email", "title", "department", "side")
    }
    used: set[str] = set()

    def name_and_email(lang: str, domain: str) -> tuple[str, str]:
        female = rng.random() < 0.45
        first = V.FIRST_NAMES[lang][int(female)][rng.integers(16)]
        last = V.LAST_NAMES[lang][rng.integers(20)]
        local = f"{_ascii(first)}.{_ascii(last)}"
        email, k = f"{local}@{domain}", 2
        while email in used:
            email, k = f"{local}{k}@{domain}", k + 1
        used.add(email)
        return f"{first} {last}", email

    for role, count, prefix, dept in (
        ("account_executive", n_ae, "S-AE", "Sales"),
        ("solutions_engineer", n_se, "S-SE", "Presales"),
        ("sales_manager", n_sm, "S-SM", "Sales"),
    ):
        for k in range(count):
            lang = ("en", "nl", "de", "fr")[rng.integers(4)]
            full, email = name_and_email(lang, cfg.seller_domain)
            titles = V.SELLER_TITLES[role]
            people["person_id"].append(f"{prefix}-{k + 1:04d}")
            people["account_id"].append(None)
            people["full_name"].append(full)
            people["email"].append(email)
            people["title"].append(titles[rng.integers(len(titles))][0])
            people["department"].append(dept)
            people["side"].append("seller")
    adv_ids, adv_sen, adv_titles = [], [], []
    for k in range(n_adv):
        firm, domain, lang = V.PARTNER_FIRMS[rng.integers(len(V.PARTNER_FIRMS))]
        full, email = name_and_email(lang, domain)
        title, level = V.PARTNER_TITLES[rng.integers(len(V.PARTNER_TITLES))]
        shown = _noisy_title(rng, title, cfg)
        pid = f"X-{k + 1:05d}"
        adv_ids.append(pid)
        adv_sen.append(level)
        adv_titles.append(shown)
        people["person_id"].append(pid)
        people["account_id"].append(None)
        people["full_name"].append(full)
        people["email"].append(email)
        people["title"].append(shown)
        people["department"].append(firm)
        people["side"].append("partner")
    return Team(
        n_ae=n_ae,
        n_se=n_se,
        n_sm=n_sm,
        advisor_ids=tuple(adv_ids),
        advisor_seniority=np.array(adv_sen),
        advisor_clout=rng.normal(0.0, 1.0, n_adv),
        advisor_titles=tuple(adv_titles),
        people=people,
    )


@dataclass
class _Person:
    pid: str
    function: int
    seniority: int
    clout: float
    title: str | None
    profiles: set[int]
    is_assistant: bool = False
    has_assistant: bool | None = None  # decided the first time a top executive joins a deal
    assistant: _Person | None = None


FULL, HEADER_ONLY, MAILBOX = 0, 1, 2
EVIDENCE_KINDS: tuple[str, ...] = ("full", "header_only", "mailbox")


@dataclass(frozen=True)
class Evidence:
    """What an account's export holds. `full`: everything the contract can carry. `header_only`/`mailbox`: mail
    headers only (no meetings, no signals), with Cc, reply headers, threads, our side and titles each present or
    not. The world behind it is generated in full either way; only the observation differs."""

    kind: int = FULL
    cc: bool = True
    reply_headers: bool = True
    threads: bool = True
    seller: bool = True
    titles: bool = True
    title_missing: float = 0.0

    @property
    def header_only(self) -> bool:
        return self.kind != FULL


def _draw_evidence(rng: np.random.Generator, cfg: GeneratorConfig) -> Evidence:
    u = rng.random(7)  # always 7 draws, so the rest of the account does not depend on the branch taken
    if u[0] < cfg.mailbox_share:
        kind = MAILBOX
    elif u[0] < cfg.mailbox_share + cfg.header_only_share:
        kind = HEADER_ONLY
    else:
        return Evidence()
    reply = bool(u[2] >= cfg.header_only_no_reply_rate)
    titles = bool(u[5] >= cfg.header_only_no_titles_rate)
    return Evidence(
        kind=kind,
        cc=bool(u[1] >= cfg.header_only_no_cc_rate),
        reply_headers=reply,
        threads=reply or bool(u[3] >= cfg.header_only_flat_thread_rate),
        seller=bool(u[4] >= cfg.header_only_no_seller_rate),
        titles=titles,
        title_missing=cfg.header_only_title_missing_rate if titles else 1.0,
    )


def _choice(rng: np.random.Generator, options: tuple) -> object:
    return options[rng.integers(len(options))]


def _pick(rng: np.random.Generator, logw: np.ndarray) -> np.ndarray:
    """One index per row, drawn with probability proportional to exp(logw) (Gumbel-max trick)."""
    return np.argmax(logw + rng.gumbel(size=logw.shape), axis=1)


def _business_time(rng: np.random.Generator, t: np.ndarray) -> np.ndarray:
    """Move instants (epoch seconds) to a weekday between 07:00 and 17:30 UTC, same or next working day."""
    day = np.floor(t / DAY)
    weekday = (day + 3) % 7  # 1970-01-01 was a Thursday (weekday 3, Monday = 0)
    day = day + np.where(weekday == 5, 2, 0) + np.where(weekday == 6, 1, 0)
    return day * DAY + (7 + rng.integers(0, 21, t.shape) * 0.5) * 3600.0


@dataclass(frozen=True)
class _Hierarchy:
    """Reporting lines among a deal's people (indices into the deal's role array; sellers never take part)."""

    pull: np.ndarray  # [P] log-weight of being written to or copied, from seniority
    link: np.ndarray  # [P, P] log-weight, sender row -> addressee column, along reporting lines
    cc_link: np.ndarray  # [P, P] the same for copies
    assistant: np.ndarray  # [P] index of the person's assistant in this deal, -1 if none


def _hierarchy(
    rng: np.random.Generator,
    members: list[tuple[int, _Person | None, int]],
    seniority: np.ndarray,
    n_roles: int,
    strength: float,
) -> _Hierarchy:
    """Everyone's manager in this deal is the nearest more senior buyer, preferably of their own function
    (an assistant's manager is their executive). People write and copy up to their manager, managers write
    down to their reports, and seniority alone draws mail: seniors hear from many people."""
    n = len(members)
    buyer = np.array([m[1] is not None for m in members], dtype=bool)
    helper = np.array([m[1] is not None and m[1].is_assistant for m in members], dtype=bool)
    func = np.array([m[1].function if m[1] is not None else -1 for m in members])
    sen = seniority.astype(np.float64)
    pull = np.zeros(n_roles)
    pull[:n] = np.where(buyer, 0.4 * strength * (sen - 3.5), 0.0)
    cost = (sen[None, :] - sen[:, None]) + 1.5 * (func[None, :] != func[:, None]) + rng.uniform(0, 1, (n, n))
    ok = (sen[None, :] > sen[:, None]) & buyer[None, :] & buyer[:, None] & ~helper[None, :]
    cost = np.where(ok, cost, np.inf)
    boss = np.where(np.isfinite(cost).any(axis=1), np.argmin(cost, axis=1), -1)
    assistant = np.full(n_roles, -1)
    where = {m[1].pid: i for i, m in enumerate(members) if m[1] is not None}
    for i, (_, person, _) in enumerate(members):
        if person is not None and person.assistant is not None and person.assistant.pid in where:
            j = where[person.assistant.pid]
            assistant[i], boss[j] = j, i
    link = np.zeros((n_roles, n_roles))
    cc_link = np.zeros((n_roles, n_roles))
    rows = np.flatnonzero(boss >= 0)
    up = boss[rows]
    link[rows, up] += 1.5 * strength
    link[up, rows] += 0.7 * strength
    cc_link[rows, up] += 1.2 * strength
    cc_link[up, rows] += 0.6 * strength
    return _Hierarchy(pull=pull, link=link, cc_link=cc_link, assistant=assistant)


def _cc_shift(logit: np.ndarray, eligible: np.ndarray, target: float) -> float:
    """The constant to add to copy logits so that a message has `target` copies on average (bisection on a
    sample of threads): a message in a 150-person mailbox has a handful of recipients, like anyone's mail."""
    lo, hi = -12.0, 6.0
    for _ in range(25):
        mid = (lo + hi) / 2
        mean = (_sigmoid(logit + mid) * eligible[None, :]).sum(axis=1).mean()
        lo, hi = (mid, hi) if mean < target else (lo, mid)
    return (lo + hi) / 2


def _routine_pairs(
    rng: np.random.Generator, partners: float, func: np.ndarray, eligible: np.ndarray, volume_sd: float = 1.5
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each eligible person picks Poisson(`partners`) regular partners, mostly of their own function, whatever
    anyone's status. Returns the unique pairs (a < b) and a log-normal volume weight (log scale) per pair."""
    idx = np.flatnonzero(eligible)
    empty = np.zeros(0, np.int64)
    if len(idx) < 2 or partners <= 0:
        return empty, empty, np.zeros(0)
    n = len(idx)
    picks = np.minimum(rng.poisson(partners, n), n - 1)
    logw = 2.0 * (func[idx][:, None] == func[idx][None, :]) + rng.gumbel(size=(n, n))
    np.fill_diagonal(logw, -np.inf)
    order = np.argsort(-logw, axis=1, kind="stable")
    rank_ok = np.arange(n)[None, :] < picks[:, None]
    a = np.repeat(np.arange(n), n)[rank_ok.ravel()]
    b = order.ravel()[rank_ok.ravel()]
    key = np.unique(np.minimum(a, b) * n + np.maximum(a, b))
    lo, hi = idx[key // n], idx[key % n]
    return lo, hi, rng.normal(0.0, volume_sd, len(key))


def _on_behalf(
    rng: np.random.Generator,
    hier: _Hierarchy,
    msg_sender: np.ndarray,
    msg_to: np.ndarray,
    msg_cc: np.ndarray,
    exists: np.ndarray,
    active: np.ndarray,
) -> None:
    """Assistants send half of their executive's mail (the executive in copy half the time) and are copied on a
    third of the mail to the executive. Edits the message arrays in place."""
    assistant = np.where(
        active[np.maximum(hier.assistant, 0)], hier.assistant, -1
    )  # inactive ones do nothing
    helper_of_sender = assistant[msg_sender]
    swap = exists & (helper_of_sender >= 0) & (msg_to != helper_of_sender)
    swap &= rng.random(msg_sender.shape) < 0.5
    t, k = np.nonzero(swap)
    principal = msg_sender[t, k]
    msg_sender[t, k] = helper_of_sender[t, k]
    msg_cc[t, k, msg_sender[t, k]] = False
    keep = rng.random(len(t)) < 0.5
    msg_cc[t[keep], k[keep], principal[keep]] = True
    helper_of_to = assistant[msg_to]
    copy = exists & (helper_of_to >= 0) & (helper_of_to != msg_sender) & (rng.random(msg_to.shape) < 0.35)
    t, k = np.nonzero(copy)
    msg_cc[t, k, helper_of_to[t, k]] = True


def generate_account(
    index: int, seed: int, cfg: GeneratorConfig, team: Team, now: float, out: Columns
) -> None:
    """Append one account, its people, deals and all their activity (plus the truth) to `out`."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, index]))
    countries = [c for c, _ in cfg.countries]
    weights = np.array([w for _, w in cfg.countries], dtype=float)
    country = countries[rng.choice(len(countries), p=weights / weights.sum())]
    langs = V.COUNTRY_LANGUAGES[country]
    lang = langs[rng.integers(len(langs))]
    industry = _choice(rng, tuple(V.INDUSTRIES))
    stem = _choice(rng, V.COMPANY_STEMS[lang])
    name = f"{stem} {V.INDUSTRIES[industry][lang]} {_choice(rng, V.LEGAL_FORMS[country])}"
    # The account index keeps domains (and so e-mail addresses) unique across any number of accounts.
    domain = (
        f"{_ascii(stem)}-{_ascii(V.INDUSTRIES[industry][lang])}-{_base36(index)}.{V.COUNTRY_TLD[country]}"
    )
    account_id = f"A-{index:06d}"
    out.add(
        "accounts",
        account_id=[account_id],
        name=[name],
        domain=[domain],
        industry=[industry],
        country=[country],
    )

    depth = int(_choice(rng, cfg.org_levels))
    levels = _LEVELS_BY_DEPTH[depth]
    email_style = rng.integers(3)
    ev = _draw_evidence(rng, cfg)
    staff: list[_Person] = []
    used_emails: set[str] = set()
    ppl: dict[str, list] = {k: [] for k in ("person_id", "full_name", "email", "title", "department")}

    def new_person(profile: int, assistant: bool = False) -> _Person:
        u = rng.random(3)
        func = min(int(np.searchsorted(_FUNCTION_CUM[profile], u[0], side="right")), len(V.FUNCTIONS) - 1)
        want = min(int(np.searchsorted(_SENIORITY_CUM[profile], u[1], side="right")), 5) + 1
        # Snap to the organisation's levels; ties go up or down at random.
        level = min(levels, key=lambda lv: (abs(lv - want), (lv > want) == (u[2] < 0.5)))
        if func == _F["executive"] and profile == ES:
            level = max(level, 5)
        if assistant:  # an executive's assistant is entry level in any organisation
            func, level = _F["executive"], 1
        female = bool(rng.random() < 0.42)
        name_lang = lang if rng.random() < 0.85 else langs[rng.integers(len(langs))]
        title_lang = "en" if (lang != "en" and rng.random() < cfg.english_title_share) else name_lang
        first = V.FIRST_NAMES[name_lang][int(female)][rng.integers(16)]
        last = V.LAST_NAMES[name_lang][rng.integers(20)]
        fa, la = _ascii(first), _ascii(last)
        local = (f"{fa}.{la}", f"{fa[0]}.{la}", f"{fa}{la[0]}")[email_style]
        email, k = f"{local}@{domain}", 2
        while email in used_emails:
            email, k = f"{local}{k}@{domain}", k + 1
        used_emails.add(email)
        fname = V.FUNCTIONS[func]
        if assistant:
            clean = _choice(rng, V.ASSISTANT_TITLES[title_lang])[int(female)]
        else:
            clean = str(_choice(rng, V.title_options(title_lang, fname, level, female)))
        title = _noisy_title(rng, clean, cfg)
        if ev.title_missing and rng.random() < ev.title_missing:
            title = None  # a header-only export knows addresses and names, often nothing more
        person = _Person(
            f"P-{index:06d}-{len(staff) + 1:03d}",
            func,
            level,
            float(rng.normal()),
            title,
            {profile},
            is_assistant=assistant,
        )
        staff.append(person)
        ppl["person_id"].append(person.pid)
        ppl["full_name"].append(f"{first} {last}")
        ppl["email"].append(email)
        ppl["title"].append(title)
        keep_dept = rng.random() < 0.75 and ev.titles
        ppl["department"].append(V.DEPARTMENT_NAMES[lang][fname] if keep_dept else None)
        return person

    n_deals = 1 if ev.kind == MAILBOX else min(cfg.max_deals, 1 + int(rng.poisson(cfg.extra_deals_mean)))
    # A mailbox is the whole company's mail: every slot count scales up to `mailbox_people` people.
    scale = 1.0
    if ev.kind == MAILBOX:
        lo, hi = cfg.mailbox_people
        target = float(np.exp(rng.uniform(np.log(lo), np.log(hi + 1))))
        scale = target / sum(f + n * q for name, f, n, q in cfg.dmu_slots if name != "external_advisor")
    ae = int(rng.integers(team.n_ae))
    se = int(rng.integers(team.n_se))
    sm = int(rng.integers(team.n_sm))
    sellers = (f"S-AE-{ae + 1:04d}", f"S-SE-{se + 1:04d}", f"S-SM-{sm + 1:04d}")
    currency = V.COUNTRY_CURRENCY.get(country, "EUR")
    mean_of = dict(cfg.influence_mean)
    for d in range(n_deals):
        # --- DMU -------------------------------------------------------------------------------------------
        members: list[tuple[int, _Person | None, int]] = []  # (profile, buyer person or None, advisor index)
        taken: set[str] = set()
        for profile_name, fixed, n, p in cfg.dmu_slots:
            prof = PROFILES.index(profile_name)
            if ev.kind == MAILBOX:
                count = int(rng.poisson(scale * (fixed + n * p)))
            else:
                count = fixed + int(rng.binomial(n, p))
            for _ in range(count):
                if prof == EA:
                    adv = int(rng.integers(len(team.advisor_ids)))
                    if team.advisor_ids[adv] not in taken:
                        taken.add(team.advisor_ids[adv])
                        members.append((EA, None, adv))
                    continue
                pool = [s for s in staff if prof in s.profiles and s.pid not in taken]
                if pool and rng.random() < cfg.person_reuse_rate:
                    person = pool[rng.integers(len(pool))]
                else:
                    person = new_person(prof)
                taken.add(person.pid)
                members.append((prof, person, -1))
        while sum(1 for m in members if m[1] is not None) < cfg.min_buyer_dmu:
            person = new_person(EU)
            taken.add(person.pid)
            members.append((EU, person, -1))
        # Top executives may have an assistant who handles their mail; the same one in every deal.
        for _prof, exec_person, _adv in list(members):
            if exec_person is None or exec_person.seniority < 6 or exec_person.function != _F["executive"]:
                continue
            if exec_person.has_assistant is None:
                exec_person.has_assistant = bool(rng.random() < cfg.assistant_rate)
            if not exec_person.has_assistant:
                continue
            if exec_person.assistant is None:
                exec_person.assistant = new_person(PE, assistant=True)
            helper = exec_person.assistant
            if helper.pid not in taken:
                taken.add(helper.pid)
                helper.profiles.add(PE)
                members.append((PE, helper, -1))
        _generate_deal(
            rng, cfg, team, now, out, index, d, account_id, domain, currency, members, sellers, mean_of, ev
        )

    out.add(
        "people",
        person_id=ppl["person_id"],
        account_id=[account_id] * len(staff),
        full_name=ppl["full_name"],
        email=ppl["email"],
        title=ppl["title"],
        department=ppl["department"],
        side=["buyer"] * len(staff),
    )


def _generate_deal(
    rng: np.random.Generator,
    cfg: GeneratorConfig,
    team: Team,
    now: float,
    out: Columns,
    index: int,
    d: int,
    account_id: str,
    domain: str,
    currency: str,
    members: list[tuple[int, _Person | None, int]],
    sellers: tuple[str, str, str],
    mean_of: dict[str, float],
    ev: Evidence,
) -> None:
    s = cfg.behaviour_strength
    deal_id = f"D-{index:06d}-{d + 1}"
    n_dmu = len(members)
    # --- latent influence ---------------------------------------------------------------------------------
    role = np.array([m[0] for m in members] + [AE, SE, SM])
    P = len(role)
    seniority = np.array(
        [m[1].seniority if m[1] is not None else int(team.advisor_seniority[m[2]]) for m in members]
    )
    clout = np.array([m[1].clout if m[1] is not None else float(team.advisor_clout[m[2]]) for m in members])
    mean = np.array([mean_of[PROFILES[r]] for r in role[:n_dmu]])
    k = cfg.influence_concentration
    influence = rng.beta(mean * k, (1 - mean) * k)
    influence = influence + cfg.seniority_influence_weight * (seniority - 3.5) + cfg.person_clout_sd * clout
    influence = np.clip(influence, 0.01, 0.99)
    infl = np.concatenate([influence, [0.35, 0.3, 0.5]])  # sellers: nominal, for reply dynamics only
    side = np.concatenate([np.where(role[:n_dmu] == EA, 2, 0), [1, 1, 1]])
    buyer = side == 0
    seller = side == 1
    dmu = ~seller
    func = np.array([m[1].function if m[1] is not None else _F["other"] for m in members] + [-1, -1, -1])
    active = np.ones(P, dtype=bool)
    active[:n_dmu] = rng.random(n_dmu) >= cfg.inactive_share
    log_prop = np.concatenate([rng.normal(0, cfg.activity_sd, n_dmu), np.zeros(3)])
    win = _WINDOW[role] + rng.uniform(-0.08, 0.08, (P, 2)) * dmu[:, None]
    pids = np.array(
        [m[1].pid if m[1] is not None else team.advisor_ids[m[2]] for m in members] + list(sellers),
        dtype=object,
    )
    focus = float(rng.beta(2.0, 2.0))  # how well our team targets the real influencers early on
    dead = np.where(active, 0.0, -60.0)
    hier = _hierarchy(rng, members, seniority, P, cfg.mail_hierarchy_strength)
    outside = -2.5
    if ev.kind == MAILBOX:
        # A mailbox spans the company's ordinary work, not the phases of one deal; people join and leave.
        join = np.where(rng.random(P) < 0.5, rng.uniform(0.0, 0.8, P), 0.0)
        leave = np.where(rng.random(P) < 0.25, join + (1.0 - join) * rng.uniform(0.3, 1.0, P), 1.0)
        win = np.where(dmu[:, None], np.stack([join, leave], axis=1), np.array([0.0, 1.0]))
        outside = -8.0

    # --- deal timeline -------------------------------------------------------------------------------------
    duration = (
        float(np.clip(cfg.duration_median_days * np.exp(rng.normal(0, cfg.duration_sigma)), 14, 400)) * DAY
    )
    if ev.kind == MAILBOX:
        duration = float(rng.uniform(*cfg.mailbox_days)) * DAY
    is_open = bool(rng.random() < cfg.open_deal_share)
    if is_open:
        created = now - duration * rng.uniform(0.1, 0.95)
        end = now
    else:
        latest = max(cfg.history_days * DAY - duration, DAY)
        end = now - rng.uniform(DAY, latest)
        created = end - duration
    created = float(np.floor(created))
    end = float(np.floor(end))
    size = np.sqrt(duration / (cfg.duration_median_days * DAY))

    def window_term(t: np.ndarray) -> np.ndarray:
        inside = (t[:, None] >= win[None, :, 0]) & (t[:, None] <= win[None, :, 1])
        return np.where(inside, 0.0, outside)

    def focus_term(t: np.ndarray) -> np.ndarray:
        early = (t < 1 / 3)[:, None]
        return np.where(early & buyer[None, :], 3.0 * s * (2 * focus - 1) * (infl - 0.4)[None, :], 0.0)

    # --- meetings ------------------------------------------------------------------------------------------
    M = max(2, int(rng.poisson(cfg.meetings_mean * size)))
    mt = np.sort(rng.random(M))
    third = np.minimum((mt * 3).astype(int), 2)
    kind = (rng.random(M)[:, None] > np.cumsum(_KIND_MIX[third], axis=1)).sum(axis=1)
    kind = np.minimum(kind, len(MEETING_KINDS) - 1)
    logit = (
        _INVITE[kind][:, role]
        + np.where(dmu, 2.5 * s * (infl - 0.4), 0.0)[None, :]
        + log_prop[None, :]
        + window_term(mt)
        + focus_term(mt)
        + dead[None, :]
        + rng.normal(0, 0.5, (M, P))
    )
    invited = rng.random((M, P)) < _sigmoid(logit)
    eligible = buyer & active
    if eligible.any():
        lonely = ~(invited & buyer[None, :]).any(axis=1)
        if lonely.any():
            best = np.argmax(np.where(eligible[None, :], logit[lonely], -np.inf), axis=1)
            invited[np.flatnonzero(lonely), best] = True
    by_seller = rng.random(M) < _SELLER_ORGANISES[kind]
    seller_w = np.where(seller, np.array([0] * (P - 3) + [1.0, 0.0, -1.5]), -np.inf)[None, :] + np.where(
        ((kind == 2) | (kind == 3))[:, None], np.array([0] * (P - 3) + [0, 1.5, 0])[None, :], 0.0
    )
    buyer_w = np.where(dmu, 2.5 * s * infl + _ORGANISE[role], -np.inf)[None, :] + np.zeros((M, 1))
    seller_w = np.where(invited, seller_w, -np.inf)
    buyer_w = np.where(invited, buyer_w, -np.inf)
    has_s, has_b = np.isfinite(seller_w).any(axis=1), np.isfinite(buyer_w).any(axis=1)
    by_seller = (by_seller & has_s) | ~has_b
    org_logw = np.where(by_seller[:, None], np.where(has_s[:, None], seller_w, logit), buyer_w)
    organizer = _pick(rng, org_logw)
    invited[np.arange(M), organizer] = True
    # Responses: busy, influential people leave invitations unanswered; the periphery declines.
    out_win = window_term(mt) < 0
    p_none = np.where(seller, 0.05, 0.08 + 0.2 * infl)[None, :] + np.zeros((M, 1))
    p_decl = np.where(seller, 0.0, 0.05 + 0.2 * (role == PE))[None, :] + 0.12 * out_win * dmu[None, :]
    p_tent = np.where(seller, 0.05, 0.12)[None, :] + np.zeros((M, 1))
    u = rng.random((M, P))
    response = np.where(
        u < p_none, 3, np.where(u < p_none + p_decl, 1, np.where(u < p_none + p_decl + p_tent, 2, 0))
    )
    response[np.arange(M), organizer] = 0
    p_att = np.array([0.92, 0.03, 0.55, 0.45])[response]
    attended = invited & (rng.random((M, P)) < p_att)
    attended[np.arange(M), organizer] = True
    known = rng.random(M) >= cfg.attendance_unknown_rate
    seller_there = (attended & seller[None, :]).any(axis=1)
    met_early = ((attended & (mt < 1 / 3)[:, None] & seller_there[:, None]).any(axis=0)) & dmu
    start = created + mt * duration
    start = np.clip(_business_time(rng, start), created, end)
    held = created + mt * duration <= end
    m_keep = held & (rng.random(M) < cfg.capture_rate)

    # --- e-mail threads --------------------------------------------------------------------------------------
    n_buyers = int(buyer.sum())
    if ev.kind == MAILBOX:
        lo, hi = cfg.mailbox_threads_per_person
        T = max(1, int(rng.poisson(np.exp(rng.uniform(np.log(lo), np.log(hi))) * n_buyers)))
    else:
        T = max(1, int(rng.poisson(cfg.threads_mean * size)))
    tt = rng.random(T)
    facing = rng.random(T) < (
        cfg.mailbox_seller_thread_share if ev.kind == MAILBOX else cfg.seller_thread_share
    )
    seller_starts = facing & (rng.random(T) < 0.5)
    wterm = window_term(tt)
    base = log_prop[None, :] + wterm + dead[None, :]
    start_w = np.where(dmu, _START[role] + 1.5 * s * infl, -np.inf)[None, :] + base
    if ev.kind == MAILBOX and cfg.mailbox_sender_sd > 0:
        # How much someone writes is partly personal habit (reporting, forwarding, coordinating), not position.
        start_w = start_w + rng.normal(0.0, cfg.mailbox_sender_sd, P)[None, :]
    start_w = start_w + np.where(facing[:, None] & (role == DR)[None, :] & (tt < 0.3)[:, None], 0.8, 0.0)
    start_w = start_w + np.where(facing[:, None] & (role == PR)[None, :] & (tt > 0.5)[:, None], 0.8, 0.0)
    seller_pick = np.where(seller, np.log(np.array([1e-9] * (P - 3) + [0.75, 0.2, 0.05])), -np.inf)
    first_sender = np.where(
        seller_starts, _pick(rng, seller_pick[None, :] + np.zeros((T, 1))), _pick(rng, start_w)
    )
    sender_role = role[first_sender]
    # Seniors receive from many people: a pull towards seniority on top of influence (0 for sellers).
    to_logw = _TO[role][None, :] + 3.0 * s * infl[None, :] + base + hier.pull[None, :]
    to_seller_w = np.where(seller, 0.0, -np.inf)[None, :] + np.where(
        ((sender_role == TG) | (sender_role == SI) | (sender_role == EA))[:, None],
        np.log(np.array([1e-9] * (P - 3) + [0.4, 0.55, 0.05]))[None, :],
        np.log(np.array([1e-9] * (P - 3) + [0.7, 0.25, 0.05]))[None, :],
    )
    same_dept = func[first_sender][:, None] == func[None, :]
    bridge = np.where(
        (sender_role == PG)[:, None], np.where(same_dept, -0.8, 1.5), np.where(same_dept, 0.8, 0.0)
    )
    own_team = (cfg.mailbox_team_affinity if ev.kind == MAILBOX else 0.0) * same_dept
    bridge = bridge + own_team
    ties = np.zeros((P, P))
    if ev.kind == MAILBOX and cfg.mailbox_tie_sd > 0:
        # Everyone has regular correspondents: a persistent strength per pair of people, which draws new threads
        # to them and keeps their threads going, so mail volume concentrates on a few pairs (breadth does not).
        ties = rng.normal(0.0, cfg.mailbox_tie_sd, (P, P))
        ties = (ties + ties.T) / np.sqrt(2.0)
        bridge = bridge + ties[first_sender]
    # Buyer-internal mail follows the reporting lines: up to the manager, down to the reports.
    internal_w = np.where(dmu[None, :], to_logw + bridge + hier.link[first_sender], -np.inf)
    buyer_target_w = np.where(dmu[None, :], to_logw + focus_term(tt), -np.inf)
    to_w = np.where(
        seller_starts[:, None], buyer_target_w, np.where(facing[:, None], to_seller_w, internal_w)
    )
    to_w[np.arange(T), first_sender] = -np.inf
    first_to = _pick(rng, to_w)
    sender_infl = infl[first_sender]
    cc_logit = (
        _CC[role][None, :]
        + 2.0 * s * infl[None, :]
        + base
        + np.where((sender_infl > 0.55)[:, None] & (role == SI)[None, :], 2.5 * s, 0.0)
        + np.where((sender_role == PG)[:, None] & ~same_dept, 1.2, 0.0)
        + hier.cc_link[first_sender]
        + own_team
        + hier.pull[None, :]
        # Copies per message stay at a human scale when a deal (a whole mailbox) has many people.
        - np.log(max(n_buyers / 12.0, 1.0))
    )
    if ev.kind == MAILBOX:
        # People copy their usual circle: the same persistent ties that pick addressees pick copies.
        cc_logit = cc_logit + cfg.mailbox_copy_ties * ties[first_sender]
        cc_logit = cc_logit + _cc_shift(cc_logit[:200], dmu, cfg.mailbox_copies_per_message)
    cc = (rng.random((T, P)) < _sigmoid(cc_logit)) & dmu[None, :]
    # A seller writing to the buyer sometimes copies a colleague; our manager is sometimes in blind copy.
    se_col, sm_col, ae_col = n_dmu + 1, n_dmu + 2, n_dmu
    cc[:, se_col] = seller_starts & (first_sender == ae_col) & (rng.random(T) < 0.2)
    cc[np.arange(T), first_sender] = False
    cc[np.arange(T), first_to] = False
    bcc = seller_starts & (first_sender != sm_col) & (rng.random(T) < 0.05)

    routine = np.zeros(T, dtype=bool)
    if ev.kind == MAILBOX and cfg.mailbox_routine_share > 0:
        # Routine exchanges with a few regular partners, chosen regardless of status: a person's mail volume then
        # depends on their heavy pairs (a close colleague, a team mate), their breadth on their position.
        pa_, pb_, pw_ = _routine_pairs(
            rng, cfg.mailbox_partners, func, dmu & active & buyer, cfg.mailbox_routine_volume_sd
        )
        routine = ~facing & (rng.random(T) < cfg.mailbox_routine_share) & (len(pa_) > 0)
        r = np.flatnonzero(routine)
        if len(r):
            wt = window_term(tt[r])
            pair = _pick(rng, pw_[None, :] + wt[:, pa_] + wt[:, pb_])
            flip = rng.random(len(r)) < 0.5
            first_sender[r] = np.where(flip, pb_[pair], pa_[pair])
            first_to[r] = np.where(flip, pa_[pair], pb_[pair])
            cc[r] &= rng.random((len(r), P)) < 0.25  # routine mail copies few people
            cc[r, first_sender[r]] = False
            cc[r, first_to[r]] = False
    if ev.kind == MAILBOX and cfg.mailbox_broadcast_share > 0:
        # Announcements and team-wide notes: one message copied to many, mostly the sender's own function.
        wide = np.flatnonzero(~facing & ~routine & (rng.random(T) < cfg.mailbox_broadcast_share))
        if len(wide):
            # Announcements and team notes come mostly from those who lead: managers and seniors write to lists.
            lead = start_w[wide] + 2.0 * hier.pull[None, :]
            first_sender[wide] = _pick(rng, np.where(buyer[None, :], lead, -np.inf))
            blo, bhi = cfg.mailbox_broadcast_size
            size = np.exp(rng.uniform(np.log(blo), np.log(bhi + 1), len(wide))).astype(int)
            reach = (
                np.where(dmu & active, 1.5 * (func[first_sender[wide]][:, None] == func[None, :]), -np.inf)
                + window_term(tt[wide])
                + cfg.mailbox_copy_ties * ties[first_sender[wide]]  # a sender announces to the same list
            )
            reach[np.arange(len(wide)), first_sender[wide]] = -np.inf
            order = np.argsort(-(reach + rng.gumbel(size=reach.shape)), axis=1)
            first_to[wide] = order[:, 0]  # the list's first name is the To, the rest are copied
            cc[wide] = False
            chosen = (np.arange(P)[None, :] < size[:, None]) & np.isfinite(
                np.take_along_axis(reach, order, 1)
            )
            rows_, cols_ = np.nonzero(chosen)
            cc[wide[rows_], order[rows_, cols_]] = True
            cc[wide, first_sender[wide]] = False
            cc[wide, first_to[wide]] = False

    senders, tos, times, steps, ccs, bccs = [], [], [], [], [], []
    sender, to_, cc_now = first_sender, first_to, cc
    t_now = np.maximum(_business_time(rng, created + tt * duration) + rng.uniform(0, 3600, T), created)
    alive = np.ones(T, dtype=bool)
    for step in range(8):
        if step > 0:
            # Who answers: usually the addressee, sometimes someone in copy; influential senders get answers.
            awaiting = infl[sender]
            keep_going = 0.35 + 0.5 * s * awaiting + 0.12 * ties[sender, to_]
            keep_going = np.where(routine, cfg.mailbox_routine_continue, keep_going)
            alive = alive & (rng.random(T) < np.clip(keep_going, 0.05, 0.9))
            if not alive.any():
                break
            from_cc = cc_now.any(axis=1) & (rng.random(T) < 0.15) & alive
            replier = to_.copy()
            by_cc = np.flatnonzero(from_cc)  # only these threads need a draw among their copies
            replier[by_cc] = _pick(rng, np.where(cc_now[by_cc], 0.0, -np.inf))
            new_cc = cc_now.copy()
            new_cc[np.arange(T), replier] = False
            new_cc[np.arange(T), to_] = new_cc[np.arange(T), to_] | from_cc
            new_cc[np.arange(T), sender] = False
            if ev.kind == MAILBOX and cfg.mailbox_reply_all < 1.0:
                # Many answers go to the sender alone ("reply", not "reply all"): the copies drop out of the thread.
                new_cc &= (rng.random(T) < cfg.mailbox_reply_all)[:, None]
            addressee = sender
            # People answer the influential faster; the influential make others wait.
            base_h = np.where(seller[replier], np.log(1.5), np.log(cfg.reply_latency_hours))
            delay = np.exp(
                base_h
                + 1.2 * s * (infl[replier] - 0.4) * ~seller[replier]
                - 1.6 * s * (infl[addressee] - 0.4)
                + rng.normal(0, cfg.latency_sd, T)
            )
            t_now = t_now + np.clip(delay, 0.05, 24 * 20) * 3600.0
            sender, to_, cc_now = replier, addressee, new_cc
            bcc_step = np.zeros(T, dtype=bool)
        else:
            bcc_step = bcc
        alive = alive & (t_now <= end) & active[sender] & active[to_]
        senders.append(sender.copy())
        tos.append(to_.copy())
        times.append(t_now.copy())
        steps.append(np.where(alive, step, -1))
        ccs.append(cc_now & alive[:, None])
        bccs.append(bcc_step & alive)
    n_steps = len(senders)
    msg_sender = np.stack(senders, axis=1)  # [T, steps]
    msg_to = np.stack(tos, axis=1)
    msg_time = np.stack(times, axis=1)
    msg_step = np.stack(steps, axis=1)
    msg_cc = np.stack(ccs, axis=1)  # [T, steps, P]
    msg_bcc = np.stack(bccs, axis=1)
    exists = msg_step >= 0
    _on_behalf(rng, hier, msg_sender, msg_to, msg_cc, exists, active)
    captured = exists & (rng.random((T, n_steps)) < cfg.capture_rate)
    early_mail = msg_time < created + duration / 3
    with_seller = seller[msg_sender] | seller[msg_to]
    touched = np.zeros(P, dtype=bool)
    ex_early = exists & early_mail & with_seller
    touched[msg_sender[ex_early]] = True
    touched[msg_to[ex_early]] = True
    met_early |= touched & dmu
    # --- what the export shows (the world above is complete; only the observation is reduced) ------------------
    if ev.header_only:
        m_keep = np.zeros(M, dtype=bool)  # mail headers only: no calendar
    if not ev.seller:
        # A buyer-internal export: nothing to or from our side, and none of us in copy.
        captured &= ~with_seller
        msg_cc = msg_cc & ~seller[None, None, :]
        msg_bcc = np.zeros_like(msg_bcc)

    custodian = np.ones(P, dtype=bool)
    to_kept = np.ones(msg_to.shape, dtype=bool)
    clo, chi = cfg.mailbox_custodian_share
    if ev.kind == MAILBOX and clo < 1.0:
        # A mailbox export covers some custodians' mail, not the whole company's (a department, the people under
        # a legal hold, the mailboxes a customer connected): only mail among them is in it. Custodians cluster in
        # teams: each function is more or less covered.
        share = float(rng.uniform(clo, chi))
        team_bias = rng.normal(0.0, 1.5, int(func.max()) + 2)[func]
        odds = np.log(share / (1.0 - share)) if share < 1.0 else np.inf
        custodian = ~buyer | (rng.random(P) < _sigmoid(odds + team_bias))
        to_kept = custodian[msg_to]
        msg_cc = msg_cc & custodian[None, None, :]
        captured &= custodian[msg_sender] & (to_kept | msg_cc.any(axis=2))

    # --- outcome ---------------------------------------------------------------------------------------------
    key = influence >= 0.5
    kw = influence * key
    engaged = float((kw * met_early[:n_dmu]).sum() / kw.sum()) if kw.sum() > 0 else 0.5
    if is_open:
        outcome, closed = "open", None
        progress = (now - created) / duration
        stage = ("Discovery", "Solution Validation", "Proposal", "Negotiation")[min(3, int(progress * 4))]
    else:
        won = rng.random() < _sigmoid(np.array(cfg.win_intercept + cfg.win_slope * (engaged - 0.5)))
        outcome, closed, stage = ("won", end, "Closed Won") if won else ("lost", end, "Closed Lost")
    amount = float(np.round(cfg.amount_median * np.exp(rng.normal(0, 0.9)), -2))
    out.add(
        "deals",
        deal_id=[deal_id],
        account_id=[account_id],
        created_at=[created],
        closed_at=[np.nan if closed is None else closed],
        stage=[stage],
        outcome=[outcome],
        amount=[amount],
        currency=[currency],
    )

    # --- emit meetings ---------------------------------------------------------------------------------------
    mids = np.array([f"M-{index:06d}-{d + 1}-{i + 1:03d}" for i in range(M)], dtype=object)
    mk = np.flatnonzero(m_keep)
    out.add(
        "meetings",
        meeting_id=mids[mk],
        deal_id=np.full(len(mk), deal_id, dtype=object),
        start_at=start[mk],
        duration_min=_DURATION[kind[mk]],
        organizer_id=pids[organizer[mk]],
        kind=kind[mk],
    )
    rows, cols = np.nonzero(invited & m_keep[:, None])
    out.add(
        "meeting_attendees",
        meeting_id=mids[rows],
        person_id=pids[cols],
        response=response[rows, cols],
        attended=np.where(known[rows], attended[rows, cols].astype(np.int8), -1),
    )

    # --- emit e-mails ----------------------------------------------------------------------------------------
    tag = f"{index:06d}.{d + 1}"
    ids = np.empty((T, n_steps), dtype=object)
    ex_t, ex_s = np.nonzero(exists)
    ids[ex_t, ex_s] = [
        f"<{tag}.{t + 1}.{k}@mail.{domain}>" for t, k in zip(ex_t.tolist(), ex_s.tolist(), strict=True)
    ]
    th, st = np.nonzero(captured)
    parents = np.where(st > 0, ids[th, np.maximum(st - 1, 0)], None)
    if not ev.reply_headers:
        parents = np.full(len(th), None, dtype=object)
    thread_ids = np.array([f"T-{index:06d}-{d + 1}-{t + 1:03d}" for t in range(T)], dtype=object)[th]
    if not ev.threads:  # no reply headers and no usable subjects: every message is its own thread
        thread_ids = np.array(
            [f"{t}.{k}" for t, k in zip(thread_ids, st.tolist(), strict=True)], dtype=object
        )
    out.add(
        "emails",
        message_id=ids[th, st],
        deal_id=np.full(len(th), deal_id, dtype=object),
        thread_id=thread_ids,
        sent_at=msg_time[th, st],
        sender_id=pids[msg_sender[th, st]],
        in_reply_to=parents,
    )
    rc_t, rc_s, rc_p = np.nonzero(msg_cc & captured[:, :, None])
    bc_t, bc_s = np.nonzero(msg_bcc & captured)
    to_row = to_kept[th, st]  # an addressee outside a mailbox export's custodians is not in it
    rec_msg = np.concatenate([ids[th, st][to_row], ids[rc_t, rc_s], ids[bc_t, bc_s]])
    rec_person = np.concatenate(
        [pids[msg_to[th, st]][to_row], pids[rc_p], np.full(len(bc_t), sellers[2], dtype=object)]
    )
    rec_kind = np.concatenate(
        [np.zeros(int(to_row.sum()), np.int8), np.ones(len(rc_t), np.int8), np.full(len(bc_t), 2, np.int8)]
    )
    if not ev.cc:  # the export kept one recipient list: every recipient is To
        rec_kind = np.zeros_like(rec_kind)
    out.add("email_recipients", message_id=rec_msg, person_id=rec_person, kind=rec_kind)

    # --- digital signals ------------------------------------------------------------------------------------
    rate = _SIGNAL_RATE[role] * np.exp(log_prop) * active * dmu
    n_sig = rng.poisson(rate)
    who = np.repeat(np.arange(P), n_sig)
    researcher = role[who] == DR
    lo = np.where(researcher, -cfg.signals_pre_contact_days * DAY / duration, win[who, 0])
    hi = np.where(researcher, 0.3, win[who, 1])
    sig_t = created + (lo + rng.random(len(who)) * (hi - lo)) * duration
    sig_ok = sig_t <= end
    who, sig_t = who[sig_ok], sig_t[sig_ok]
    sig_kind = (rng.random(len(who))[:, None] > np.cumsum(_SIGNAL_MIX[role[who]], axis=1)).sum(axis=1)
    sig_kind = np.minimum(sig_kind, len(SIGNAL_KINDS) - 1)
    detail_pick = rng.random(len(who))
    shown = np.full(len(who), not ev.header_only)
    out.add(
        "signals",
        person_id=pids[who][shown],
        occurred_at=np.floor(sig_t)[shown],
        kind=sig_kind[shown],
        detail_u=detail_pick[shown],
    )

    # --- labels (closed deals only) and truth ---------------------------------------------------------------
    label_infl = np.clip(influence + rng.normal(0, cfg.influence_label_noise_sd, n_dmu), 0.0, 1.0)
    wrong = rng.random(n_dmu) < cfg.profile_label_error_rate
    shift = rng.integers(1, len(PROFILES), n_dmu)
    label_prof = np.where(wrong, (role[:n_dmu] + shift) % len(PROFILES), role[:n_dmu])
    source = "win_loss_review" if rng.random() < cfg.win_loss_review_share else "crm_contact_role"
    labelled = custodian[:n_dmu] & (not is_open)  # a mailbox export's labels cover its custodians
    if labelled.any():
        out.add(
            "labels",
            deal_id=np.full(int(labelled.sum()), deal_id, dtype=object),
            person_id=pids[:n_dmu][labelled],
            influence=label_infl[labelled],
            profile=label_prof[labelled],
            source=np.full(int(labelled.sum()), source, dtype=object),
        )
    inv_all = invited & held[:, None]
    inv_cap = invited & m_keep[:, None]
    sent_all = np.bincount(msg_sender[exists], minlength=P)
    sent_cap = np.bincount(msg_sender[captured], minlength=P)
    recv_all = np.bincount(msg_to[exists], minlength=P) + msg_cc[exists].sum(axis=0)
    recv_cap = np.bincount(msg_to[captured & to_kept], minlength=P) + msg_cc[captured].sum(axis=0)
    titles = [m[1].title if m[1] is not None else team.advisor_titles[m[2]] for m in members]
    out.add(
        "truth",
        deal_id=np.full(n_dmu, deal_id, dtype=object),
        person_id=pids[:n_dmu],
        account_id=np.full(n_dmu, account_id, dtype=object),
        side=side[:n_dmu],
        profile=role[:n_dmu],
        influence=influence,
        is_key=key,
        seniority_level=seniority,
        function=func[:n_dmu],
        title=np.array(titles, dtype=object),
        active=active[:n_dmu],
        met_early=met_early[:n_dmu],
        meetings_invited=inv_all.sum(axis=0)[:n_dmu],
        captured_meetings_invited=inv_cap.sum(axis=0)[:n_dmu],
        emails_sent=sent_all[:n_dmu],
        captured_emails_sent=sent_cap[:n_dmu],
        emails_received=recv_all[:n_dmu],
        captured_emails_received=recv_cap[:n_dmu],
        signals=n_sig[:n_dmu],
        labelled=labelled,
        label_influence=label_infl,
        label_profile=label_prof,
        profile_label_wrong=wrong & labelled,
        deal_outcome=np.full(n_dmu, outcome, dtype=object),
        deal_engaged_share=np.full(n_dmu, engaged),
        deal_focus=np.full(n_dmu, focus),
        evidence=np.full(n_dmu, EVIDENCE_KINDS[ev.kind], dtype=object),
    )
