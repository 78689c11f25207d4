"""The account report: one self-contained HTML file with, per account, a summary (top people, coverage gaps,
next-best contacts) and the DMU map of every deal (`influence report DIR --out FILE.html`).

Self-contained means no request leaves the file: the CSS and JavaScript of the map page
(`influence/static/dmu-map.css|js`) and the data are inlined, and a Content-Security-Policy (`default-src
'none'`) makes the browser refuse any external fetch, so the file can be mailed and opened offline. The summaries
are plain HTML (readable without JavaScript); the maps are drawn by the same script as the API's pages, each one
when its deal is opened (the first deal of every account is open), so a report with many deals stays fast.

The account summary speaks about what a seller can still act on: the account's open deals, or, when it has
none, its most recent deal (the summary says which).
"""

from __future__ import annotations

import datetime as dt
import html
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from influence.dmu_map import deal_maps, json_ready

if TYPE_CHECKING:
    from influence.contract import Dataset
    from influence.predict import ScoreResult

__all__ = [
    "ReportSummary",
    "account_summary",
    "build_report",
    "render_report",
    "write_report",
    "script_json",
    "TOP_PEOPLE",
]

TOP_PEOPLE = 5
# Nothing may be fetched from anywhere: inline styles and scripts only, images only as data: URIs.
CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:"


@dataclass
class ReportSummary:
    """What `write_report` wrote."""

    path: Path
    accounts: int
    deals: int
    people: int  # scored (deal, person) rows, as in `influence score`; our team is not counted
    bytes: int
    unknown_accounts: list[str] = field(default_factory=list)
    seconds: float = 0.0


def script_json(value: Any) -> str:
    """JSON safe inside `<script type="application/json">`: `<`, `>` and `&` escaped, so no data (a name such
    as `</script><script>...`) can close the element or start markup."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _asset(name: str) -> str:
    from importlib import resources

    return resources.files("influence").joinpath("static", name).read_text(encoding="utf-8")


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _pct(value: Any) -> str:
    return "–" if value is None else f"{round(100 * float(value))}%"


def _label(profile: Any) -> str:
    return "no profile" if profile is None else str(profile).replace("_", " ")


def _deal_order(maps: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Open deals first (newest first), then closed ones by closing date, newest first."""

    def key(m: dict[str, Any]) -> tuple[int, str, str]:
        d = m["deal"]
        is_open = d.get("outcome") == "open"
        when = (d.get("created_at") if is_open else d.get("closed_at") or d.get("created_at")) or ""
        return (0 if is_open else 1, _desc(when), d["deal_id"])

    return sorted(maps, key=key)


def _desc(text: str) -> str:
    # Sort ISO timestamps newest first inside an ascending sort: invert each character.
    return "".join(chr(0x10FFFF - ord(c)) for c in text)


def account_summary(maps: Sequence[dict[str, Any]], *, top: int = TOP_PEOPLE) -> dict[str, Any]:
    """The summary of one account from its deal maps: `focus` (the deals it speaks about: the open ones, else the
    most recent), `top_people` (highest influence first, each person once, with the deal where it is highest),
    `gaps` and `next_best_contacts` of the focus deals (each with its deal_id)."""
    ordered = _deal_order(maps)
    focus = [m for m in ordered if m["deal"].get("outcome") == "open"] or ordered[:1]
    people: dict[str, dict[str, Any]] = {}
    for m in focus:
        for n in m["nodes"]:
            if not n["scored"] or n["influence"] is None:
                continue
            best = people.get(n["id"])
            if best is None or n["influence"] > best["influence"]:
                people[n["id"]] = {**n, "deal_id": m["deal"]["deal_id"]}
    top_people = sorted(people.values(), key=lambda n: (-n["influence"], n["id"]))[:top]
    gaps = [{"deal_id": m["deal"]["deal_id"], "gap": g} for m in focus for g in m["gaps"]]
    nbc = [
        {
            **c,
            "deal_id": m["deal"]["deal_id"],
            "name": c.get("full_name") or _node_names(m).get(c["person_id"]),
        }
        for m in focus
        for c in m["next_best_contacts"]
    ]
    nbc.sort(key=lambda c: (-(c.get("influence") or 0.0), c["deal_id"], c.get("rank") or 0))
    return {
        "focus": [m["deal"]["deal_id"] for m in focus],
        "focus_kind": "open" if focus and focus[0]["deal"].get("outcome") == "open" else "latest",
        "top_people": top_people,
        "gaps": gaps,
        "next_best_contacts": nbc,
        "deals": [m["deal"]["deal_id"] for m in ordered],
    }


def _no_contact_reason(top_people: Sequence[dict[str, Any]]) -> str:
    """Why an account has no next-best contact (only people at or above NEXT_BEST_MIN_INFLUENCE are suggested):
    "everyone is engaged" would be false when nobody reaches the bar, as `influence dmu` says too."""
    from influence.coverage import NEXT_BEST_MIN_INFLUENCE as bar

    if not top_people:
        return "no next-best contact: nobody scored yet"
    if max(n["influence"] for n in top_people) < bar:
        return f"no next-best contact: nobody reaches {bar:.2f} influence yet, the bar for a suggestion"
    return f"no next-best contact: everyone with influence {bar:.2f} or more is already engaged"


def _node_names(m: dict[str, Any]) -> dict[str, str]:
    """Person id -> the name the map shows (the e-mail address when the data has no display name)."""
    return {n["id"]: n["name"] for n in m["nodes"] if n.get("name")}


def _summary_html(summary: dict[str, Any], several: bool) -> str:
    def where(deal_id: str) -> str:
        return f' <span class="meta">({_e(deal_id)})</span>' if several else ""

    people = (
        "".join(
            f"<li><strong>{_e(n['name'])}</strong> — {_e(n['title'] or 'no title')}<br>"
            f'<span class="meta">{_e(_label(n["profile"]))} · influence {_pct(n["influence"])}'
            f" · engagement {_e(n['engagement'] or '–')}</span>{where(n['deal_id'])}</li>"
            for n in summary["top_people"]
        )
        or '<li class="empty">nobody scored yet</li>'
    )
    gaps = "".join(f"<li>{_e(g['gap'])}{where(g['deal_id'])}</li>" for g in summary["gaps"]) or (
        '<li class="empty">no coverage gap found</li>'
    )
    nbc = (
        "".join(
            f"<li><strong>{_e(c.get('name') or c['person_id'])}</strong> — {_e(_label(c.get('profile')))}"
            f" · influence {_pct(c.get('influence'))}{where(c['deal_id'])}<br>"
            f'<span class="meta">Angle: {_e(c.get("angle") or "–")}</span></li>'
            for c in summary["next_best_contacts"]
        )
        or f'<li class="empty">{_e(_no_contact_reason(summary["top_people"]))}</li>'
    )
    focus = ", ".join(summary["focus"])
    basis = (
        f"open deal{'s' if len(summary['focus']) > 1 else ''} {_e(focus)}"
        if summary["focus_kind"] == "open"
        else f"the most recent deal {_e(focus)} (no open deal)"
    )
    return (
        f'<p class="meta">Summary of {basis}.</p>'
        '<div class="summary">'
        f'<section><h3>Top people</h3><ol class="top-people">{people}</ol></section>'
        f'<section><h3>Coverage gaps</h3><ul class="account-gaps">{gaps}</ul></section>'
        f'<section><h3>Next-best contacts</h3><ol class="account-nbc">{nbc}</ol></section>'
        "</div>"
    )


def _deal_heading(m: dict[str, Any]) -> str:
    d = m["deal"]
    bits = [f"Deal {_e(d['deal_id'])}"]
    if d.get("stage") or d.get("outcome"):
        bits.append(" · ".join(_e(x) for x in (d.get("stage"), d.get("outcome")) if x))
    if d.get("amount") is not None:
        bits.append(f"{float(d['amount']):,.0f} {_e(d.get('currency') or '')}".strip())
    bits.append(f"{_people_count(m)}, {len(m['gaps'])} gap{'s' if len(m['gaps']) != 1 else ''}")
    return " — ".join(bits)


def _scored(m: dict[str, Any]) -> int:
    return sum(1 for n in m["nodes"] if n.get("scored"))


def _people_count(m: dict[str, Any]) -> str:
    """ "2 people scored + 1 of our team": the scored count is the one `influence score` gives for the deal (its
    rows), so a report and a score file of the same data agree; our team is drawn on the map but not scored."""
    scored = _scored(m)
    team = sum(1 for n in m["nodes"] if n.get("side") == "seller")
    text = f"{scored} {'person' if scored == 1 else 'people'} scored"
    return text + (f" + {team} of our team" if team else "")


def render_report(
    maps: Sequence[dict[str, Any]],
    *,
    account_names: dict[str, str | None] | None = None,
    source: str | None = None,
    model_version: str | None = None,
    as_of: str | None = None,
    unknown_accounts: Sequence[str] = (),
    accounts_without_deals: Sequence[str] = (),
    generated_at: str | None = None,
) -> str:
    """The report's HTML text from deal maps (`influence.dmu_map.deal_maps`), grouped by account (sorted by
    account id). Pure: the same maps and arguments give the same text."""
    names = dict(account_names or {})
    by_account: dict[str, list[dict[str, Any]]] = {}
    for m in maps:
        by_account.setdefault(str(m["deal"]["account_id"]), []).append(m)
    accounts = sorted(by_account)
    nav: list[str] = []
    body: list[str] = []
    for k, account_id in enumerate(accounts):
        account_maps = by_account[account_id]
        name = names.get(account_id) or account_maps[0]["deal"].get("account_name") or account_id
        anchor = f"account-{k + 1}"
        summary = account_summary(account_maps)
        nav.append(f'<li><a href="#{anchor}">{_e(name)}</a></li>')
        deals = []
        for i, m in enumerate(_deal_order(account_maps)):
            deals.append(
                f'<details class="deal-section" data-deal="{_e(m["deal"]["deal_id"])}"{" open" if i == 0 else ""}>'
                f"<summary>{_deal_heading(m)}</summary>"
                '<div class="dmu-slot"><p class="empty">The map needs JavaScript.</p></div></details>'
            )
        body.append(
            f'<section class="account" id="{anchor}" data-account="{_e(account_id)}">'
            f'<h2>{_e(name)} <span class="meta">({_e(account_id)}, {len(account_maps)} '
            f"deal{'s' if len(account_maps) != 1 else ''})</span></h2>"
            + _summary_html(summary, several=len(summary["focus"]) > 1)
            + "".join(deals)
            + "</section>"
        )
    n_deals = len(maps)
    facts = [
        f"{len(accounts)} account{'s' if len(accounts) != 1 else ''}",
        f"{n_deals} deal{'s' if n_deals != 1 else ''}",
    ]
    if source:
        facts.insert(0, f"dataset {_e(source)}")
    if model_version:
        facts.append(f"model {_e(model_version)}")
    facts.append(f"as of {_e(as_of)}" if as_of else "all history")
    if generated_at:
        facts.append(f"generated {_e(generated_at)}")
    unknown = ""
    if unknown_accounts:
        shown = ", ".join(_e(a) for a in unknown_accounts[:20])
        more = f" and {len(unknown_accounts) - 20} more" if len(unknown_accounts) > 20 else ""
        unknown = (
            f'<p class="notice" role="status">{len(unknown_accounts)} account id(s) of the list are not in the '
            f"dataset and are not in this report: {shown}{more}</p>"
        )
    if accounts_without_deals:
        shown = ", ".join(_e(a) for a in accounts_without_deals[:20])
        more = f" and {len(accounts_without_deals) - 20} more" if len(accounts_without_deals) > 20 else ""
        unknown += (
            f'<p class="notice" role="status">{len(accounts_without_deals)} account(s) have no deal to map'
            f"{' as of ' + _e(as_of) if as_of else ''}: {shown}{more}</p>"
        )
    data = {"maps": {m["deal"]["deal_id"]: m for m in maps}}
    title = f"DMU report — {len(accounts)} account{'s' if len(accounts) != 1 else ''}"
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1"><link rel="icon" href="data:,">'
        f"<title>{_e(title)}</title>"
        f"<style>{_asset('dmu-map.css')}</style></head>"
        '<body class="page-report"><div class="report">'
        f'<nav aria-label="accounts"><strong>Accounts</strong><ol>{"".join(nav)}</ol></nav>'
        "<main>"
        f'<div class="head"><h1>{_e(title)}</h1><p>{" · ".join(facts)}</p>'
        "<p>Per account: the people who matter most, the missing or cold parts of the DMU and who to contact "
        "next. Each deal opens into its network: circle size = influence, colour and two-letter code = DMU "
        "profile, grey squares = our team, line width = e-mails + shared meetings.</p>"
        f"{unknown}</div>" + ("".join(body) or '<p class="empty">No deals to show.</p>') + "</main></div>"
        f'<script type="application/json" id="dmu-data">{script_json(data)}</script>'
        f"<script>{_asset('dmu-map.js')}</script>"
        "<script>DmuMap.pages.report();</script>"
        "</body></html>\n"
    )


def _select_accounts(ds: Dataset, accounts: Sequence[str] | None) -> tuple[list[str], list[str]]:
    """(deal ids of the wanted accounts, account ids not in the dataset)."""
    deals = ds.deals
    if accounts is None:
        return deals["deal_id"].astype(str).tolist(), []
    known = set(ds.accounts["account_id"].astype(str))
    unknown = [a for a in accounts if a not in known]
    wanted = set(accounts) - set(unknown)
    return deals[deals["account_id"].astype(str).isin(wanted)]["deal_id"].astype(str).tolist(), unknown


def build_report(
    ds: Dataset,
    result: ScoreResult,
    *,
    source: str | None = None,
    unknown_accounts: Sequence[str] = (),
    accounts: Sequence[str] | None = None,
    generated_at: str | None = None,
) -> tuple[str, list[dict[str, Any]]]:
    """(HTML, maps) for every deal scored in `result`; `accounts` (default: all of `ds`) that have no scored deal
    are listed in the report's head, never silently left out."""
    maps = deal_maps(ds, result)
    listed = ds.accounts["account_id"].astype(str).tolist() if accounts is None else list(accounts)
    mapped = {str(m["deal"]["account_id"]) for m in maps}
    without = [a for a in listed if a not in mapped and a not in set(unknown_accounts)]
    names = {
        str(a): json_ready(n) for a, n in zip(ds.accounts["account_id"], ds.accounts["name"], strict=True)
    }
    text = render_report(
        maps,
        account_names=names,
        source=source,
        model_version=result.model_version,
        as_of=None if result.as_of is None else result.as_of.isoformat(),
        unknown_accounts=unknown_accounts,
        accounts_without_deals=without,
        generated_at=generated_at,
    )
    return text, maps


def write_report(
    data_dir: str | Path,
    out: str | Path,
    *,
    accounts: Sequence[str] | None = None,
    model: str | None = None,
    as_of: str | pd.Timestamp | None = None,
) -> ReportSummary:
    """Load `data_dir`, score the deals of `accounts` (default: all) with `model` (default: the shipped one) and
    write the report to `out` (atomically: a temporary file renamed). Raises `influence.data.DatasetError` for a
    dataset that breaks the contract, ValueError when no listed account is in the dataset."""
    from influence.data import load
    from influence.predict import Scorer

    started = time.perf_counter()
    ds = load(data_dir)
    deal_ids, unknown = _select_accounts(ds, accounts)
    if accounts is not None and len(unknown) == len(accounts):
        raise ValueError(
            f"none of the {len(accounts)} listed account id(s) is in {data_dir}: {', '.join(unknown[:10])}"
        )
    scorer = Scorer.from_ref(model)
    result = scorer.score_dataset(ds, as_of=as_of, deal_ids=deal_ids)
    generated = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    text, maps = build_report(
        ds, result, source=str(data_dir), unknown_accounts=unknown, accounts=accounts, generated_at=generated
    )
    target = Path(out)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(target)
    return ReportSummary(
        path=target,
        accounts=len({m["deal"]["account_id"] for m in maps}),
        deals=len(maps),
        people=sum(_scored(m) for m in maps),
        bytes=target.stat().st_size,
        unknown_accounts=unknown,
        seconds=time.perf_counter() - started,
    )
