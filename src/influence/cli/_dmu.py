"""`influence dmu`: print the ranked DMU of a few deals, with coverage gaps and next-best contacts."""

from __future__ import annotations

import math
import textwrap
from pathlib import Path
from typing import Any

import typer


def pick_deals(deals: Any, wanted: list[str], n: int, as_of: Any = None) -> list[str]:
    """The deals to show: the ones asked for, else the `n` newest open deals (then the newest closed ones).

    With `as_of` (a UTC Timestamp), only deals created before it count, and a deal closed after it was open then.
    """
    if wanted:
        return wanted
    is_open = deals["outcome"].astype(str).eq("open")
    if as_of is not None:
        deals, is_open = deals[deals["created_at"] < as_of], is_open[deals["created_at"] < as_of]
        is_open = is_open | (deals["closed_at"] >= as_of).fillna(False).astype(bool)
    order = deals.assign(_open=is_open).sort_values(
        ["_open", "created_at", "deal_id"], ascending=[False, False, True]
    )
    return order["deal_id"].astype(str).head(n).tolist()


def _as_known(deal_row: dict[str, Any], as_of: Any) -> dict[str, Any]:
    """The deal row as it stood at `as_of`: a deal closed later was still open then (what happened next is kept
    in brackets, so the header neither hides it nor claims it was known)."""
    import pandas as pd

    closed = deal_row.get("closed_at")
    if as_of is None or closed is None or pd.isna(closed) or closed < as_of:
        return deal_row
    return {**deal_row, "outcome": f"open as of {as_of:%Y-%m-%d} (later {deal_row.get('outcome')})"}


def _clip(text: str, width: int) -> str:
    """`text` cut to `width` characters with an ellipsis, so a shortened name or title never reads as whole."""
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def format_deal(report: dict[str, Any], *, deal_row: dict[str, Any], max_people: int) -> str:
    """A deal's scores as text for a terminal: ranked people with reasons, gaps, next-best contacts."""
    head = (
        f"Deal {report['deal_id']}  account {report['account_id']}  {deal_row.get('outcome', '')}"
        f"  created {str(deal_row.get('created_at', ''))[:10]}  model {report['model_version']}"
    )
    from influence.coverage import NEXT_BEST_MIN_INFLUENCE, PRESENT_MIN_CONFIDENCE, PRESENT_MIN_INFLUENCE

    lines = [head, "=" * min(len(head), 110)]
    people = sorted(report["people"], key=lambda p: p["influence_rank"])
    if not people:
        lines.append("  (nobody on the buyer side is active in this deal yet: nothing to rank)")
    tentative = False
    for p in people[:max_people]:
        name = _clip(str(p.get("full_name") or p.get("email") or p["person_id"]), 26)
        title = _clip(str(p.get("title") or "").strip() or "(no title)", 48)
        conf = p.get("profile_confidence")
        known = isinstance(conf, int | float) and not math.isnan(conf)
        # The coverage gaps count a profile as present only above both thresholds; mark the others so a
        # "no technical gatekeeper identified" gap does not read as contradicting a listed technical_gatekeeper.
        sure = known and conf >= PRESENT_MIN_CONFIDENCE and p["influence"] >= PRESENT_MIN_INFLUENCE
        tentative = tentative or not sure
        profile = p["profile"] + ("" if sure else "?")
        pct = f"{math.floor(conf * 100 + 1e-9)}%" if known else "-"  # floor: 39.6% is not the 40% bar
        lines.append(
            f"{p['influence_rank']:>3}. {p['influence']:.2f}  {profile:<21} {pct:>4}  {name:<26} {title}"
        )
        for reason in p.get("reasons") or []:
            lines.append(
                textwrap.fill(reason, 104, initial_indent="       - ", subsequent_indent="         ")
            )
    if len(people) > max_people:
        more = len(people) - max_people
        lines.append(
            f"     ... and {more} more {'person' if more == 1 else 'people'} (--people N shows more)"
        )
    if tentative:
        lines.append(
            f"     (profile? = under {PRESENT_MIN_CONFIDENCE:.0%} confidence or {PRESENT_MIN_INFLUENCE:.2f} "
            "influence: not counted as filling that role in the coverage gaps)"
        )
    lines.append("  Coverage gaps:")
    lines += [f"    - {g}" for g in report["gaps"]] or ["    (none)"]
    lines.append("  Next-best contacts:")
    contacts = report["next_best_contacts"]
    emails = {p["person_id"]: p.get("email") for p in people}  # named as in the ranked list above
    for c in contacts:
        who = c.get("full_name") or emails.get(c["person_id"]) or c["person_id"]
        lines.append(
            textwrap.fill(
                f"{c['rank']}. {who} ({c.get('title') or 'no title'}), {c['profile']}, influence "
                f"{c['influence']:.2f}: {c['angle']}",
                104,
                initial_indent="    ",
                subsequent_indent="       ",
            )
        )
    if not contacts:
        lines.append(f"    ({_why_no_contact(people, NEXT_BEST_MIN_INFLUENCE)})")
    return "\n".join(lines)


def _why_no_contact(people: list[dict[str, Any]], min_influence: float) -> str:
    """Why the next-best list is empty: only people at or above `min_influence` are ever suggested, so "everyone
    is engaged" would be false when nobody reaches it (or nobody was scored)."""
    if not people:
        return "none: nobody to suggest yet"
    if not any(
        isinstance(p.get("influence"), int | float) and p["influence"] >= min_influence for p in people
    ):
        return f"none: nobody reaches {min_influence:.2f} influence yet, the bar for a suggestion"
    return f"none: everyone with influence {min_influence:.2f} or more is already engaged"


def register(app: typer.Typer) -> None:
    """Add `dmu`."""

    @app.command("dmu")
    def dmu(
        folder: Path = typer.Argument(..., help="Dataset folder (data contract)."),
        deal: list[str] = typer.Option(
            [], "--deal", help="Deal id to show (repeatable). Default: newest open deals."
        ),
        top: int = typer.Option(3, "--top", min=1, help="How many deals to show when no --deal is given."),
        people: int = typer.Option(8, "--people", min=1, help="People shown per deal."),
        model: str | None = typer.Option(
            None,
            "--model",
            help="Model bundle folder, or models:/NAME@ALIAS / models:/NAME/VERSION. Default: models/influence-default.",
        ),
        as_of: str | None = typer.Option(
            None,
            "--as-of",
            help="Score as known at this time (ISO 8601 with Z or an offset); default: all events.",
        ),
    ) -> None:
        """Print the ranked DMU (person, title, influence, profile, reasons) of a few deals, with coverage gaps and
        next-best contacts."""
        from influence.bundle import BundleError
        from influence.data import DatasetError, load
        from influence.features import parse_as_of
        from influence.predict import Scorer
        from influence.settings import default_model_path

        try:
            as_of_ts = parse_as_of(as_of)
        except ValueError as exc:
            typer.echo(f"error: --as-of: {exc}", err=True)
            raise typer.Exit(1) from None
        try:
            ds = load(folder)
        except DatasetError as exc:
            from influence.cli._validate import echo_dataset_error

            echo_dataset_error(exc, folder)
            raise typer.Exit(1) from exc
        chosen = pick_deals(ds.deals, deal, top, as_of_ts)
        unknown = sorted(set(chosen) - set(ds.deals["deal_id"].astype(str)))
        if unknown:
            typer.echo(f"error: deal(s) not in {folder}: {', '.join(unknown)}", err=True)
            raise typer.Exit(1)
        try:
            scorer = Scorer.from_ref(model or str(default_model_path()))
        except BundleError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from exc
        try:
            result = scorer.score_dataset(ds, deal_ids=chosen, as_of=as_of_ts)
        except ValueError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from exc
        deals = ds.deals.set_index(ds.deals["deal_id"].astype(str))
        for deal_id in chosen:
            row = deals.loc[deal_id].to_dict()
            if as_of_ts is not None and not row["created_at"] < as_of_ts:
                typer.echo(
                    f"Deal {deal_id}: created {row['created_at']:%Y-%m-%d %H:%M} UTC, not before --as-of "
                    f"{as_of_ts:%Y-%m-%d %H:%M} UTC: it did not exist yet; nothing to score.\n"
                )
                continue
            try:
                report = result.deal_report(deal_id)
            except KeyError:
                typer.echo(f"Deal {deal_id}: nobody on the buyer side is active yet; nothing to score.\n")
                continue
            typer.echo(format_deal(report, deal_row=_as_known(row, as_of_ts), max_people=people) + "\n")
