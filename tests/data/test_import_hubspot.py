"""HubSpot CSV import: export labels or internal names, buying roles -> labels with precedence, CSV quirks."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from influence.cli import app
from influence.data import load, validate
from influence.importers import import_hubspot

FILES = {
    # Export labels, BOM, semicolons, a quoted newline in a free-text column.
    "companies.csv": "\ufeffRecord ID;Company name;Company Domain Name;Industry;Country/Region;About\n"
    '11;Acme BV;www.acme.nl;Manufacturing;Netherlands;"Makes\nthings"\n'
    "12;Globex;globex.de;Chemicals;Germany;\n"
    "12;Globex again;globex.de;;;\n",
    # Internal names; one contact without company (matched by domain), one with an unknown role.
    "contacts.csv": "hs_object_id,firstname,lastname,email,jobtitle,hs_buying_role,associatedcompanyid\n"
    "21,Jörg,Müller,joerg@acme.nl,CFO,BUDGET_HOLDER;EXECUTIVE_SPONSOR,11\n"
    "22,Ann,Buyer,ann@acme.nl,IT lead,CHAMPION;BLOCKER,\n"
    "23,Greta,Graf,greta@globex.de,Einkauf,LEGAL_AND_COMPLIANCE;ASTROLOGER,12\n"
    "24,Pat,Partner,pat@advisors.com,Consultant,,\n",
    "deals.csv": "Record ID,Deal Name,Deal Stage,Amount,Currency,Create Date,Close Date\n"
    '31,Acme platform,Closed Won,"25,000.00",EUR,2024-01-10 09:00,2024-05-31\n'
    "32,Globex pilot,Contract Sent,5000,EUR,15/02/2024,\n"
    "33,No company,Appointment Scheduled,100,EUR,2024-02-01,\n"
    "34,Bad date,Closed Lost,100,EUR,yesterday-ish,2024-03-01\n",
    "deal_company_associations.csv": "Deal ID,Company ID\n31,11\n32,12\n99,11\n34,11\n",
    "deal_contact_associations.csv": "Deal ID,Contact ID\n31,21\n31,22\n31,24\n32,23\n31,999\n",
}


def _export(tmp_path: Path) -> Path:
    folder = tmp_path / "hs"
    folder.mkdir()
    for name, text in FILES.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def test_hubspot_export_becomes_a_valid_dataset_with_role_labels(tmp_path: Path) -> None:
    report = import_hubspot(_export(tmp_path), tmp_path / "ds")
    check = validate(tmp_path / "ds")
    assert check.ok, check.format_problems(10)
    assert report.records_read == report.imported + report.rejected
    ds = load(tmp_path / "ds")
    assert ds.accounts.set_index("account_id").loc["11", ["domain", "country"]].tolist() == ["acme.nl", "NL"]
    people = ds.people.set_index("person_id")
    assert people.loc["22", "account_id"] == "11"  # no company in the export: matched by e-mail domain
    assert people.loc["24", "side"] == "partner" and pd.isna(people.loc["24", "account_id"])

    labels = ds.labels.set_index(["deal_id", "person_id"])
    assert labels.loc[("31", "21"), "profile"] == "executive_sponsor"  # precedence over budget_holder
    assert labels.loc[("31", "22"), "profile"] == "political_gatekeeper"  # BLOCKER beats CHAMPION
    assert labels.loc[("31", "22"), "influence"] == 0.7  # the highest prior of the two roles
    assert labels.loc[("32", "23"), "profile"] == "procurement"
    # no buying role: kept as a participant of the deal, without a label (influence and profile empty)
    participant = labels.loc[("31", "24")]
    assert participant["source"] == "crm_association"
    assert pd.isna(participant["influence"]) and pd.isna(participant["profile"])
    assert set(ds.labels["source"]) == {"crm_buying_role", "crm_association"}
    assert any("ASTROLOGER" in w for w in report.warnings)

    deals = ds.deals.set_index("deal_id")
    assert deals.loc["31", "outcome"] == "won" and deals.loc["31", "amount"] == 25000.0
    assert deals.loc["32", "created_at"] == pd.Timestamp("2024-02-15", tz="UTC")  # day-first Excel date
    assert deals.loc["32", "outcome"] == "open"

    rejects = {(r.file, r.record, r.field): r.reason for r in report.rejects}
    assert rejects[("companies.csv", "row 3", "Record ID")] == "duplicate company id 12"
    assert "no associated company" in rejects[("deals.csv", "row 3", "Associated Company")]
    assert "yesterday-ish" in rejects[("deals.csv", "row 4", "Create Date")]
    assert "99 is not in deals.csv" in rejects[("deal_company_associations.csv", "row 3", "Deal ID")]
    assert "999" in rejects[("deal_contact_associations.csv", "row 5", "Contact ID")]
    assert report.rejected == 5


def test_hubspot_cli(tmp_path: Path) -> None:
    folder = _export(tmp_path)
    result = CliRunner().invoke(
        app, ["import", "hubspot", str(folder), "--out", str(tmp_path / "ds"), "--format", "csv"]
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "ds" / "labels.csv").exists() and validate(tmp_path / "ds").ok
    (folder / "deals.csv").write_text("Deal Name,Amount\nX,1\n")
    no_id = CliRunner().invoke(app, ["import", "hubspot", str(folder), "--out", str(tmp_path / "ds3")])
    assert no_id.exit_code == 1 and "deals.csv: no id column" in no_id.output
    (folder / "deals.csv").unlink()
    missing = CliRunner().invoke(app, ["import", "hubspot", str(folder), "--out", str(tmp_path / "ds2")])
    assert missing.exit_code == 1 and "deals.csv is missing" in missing.output


def test_a_contact_without_buying_role_is_scored_as_a_participant_but_never_trained_on(
    tmp_path: Path,
) -> None:
    from influence.evaluate import labelled_frame
    from influence.features import build_features

    import_hubspot(_export(tmp_path), tmp_path / "ds")
    ds = load(tmp_path / "ds")
    crm = ds.labels[ds.labels["source"].str.startswith("crm_")][["deal_id", "person_id"]]
    rows = build_features(ds, pairs=crm).set_index(["deal_id", "person_id"])
    assert ("31", "24") in rows.index  # a zero-activity row: the CRM ties the contact to the deal
    frame, counts = labelled_frame(ds)
    assert counts["rows_missing_influence"] == counts["rows_missing_profile"] == 1
    assert frame.dropna(subset=["influence"])["person_id"].isin(["21", "22"]).all()


def test_a_missing_export_file_names_what_the_folder_holds_instead(tmp_path: Path) -> None:
    folder = _export(tmp_path)
    # As HubSpot downloads it: a long file name, or a spreadsheet when XLSX was picked in the export dialog.
    (folder / "deals.csv").rename(folder / "hubspot-crm-exports-all-deals-2024-03-01.csv")
    (folder / "companies.csv").rename(folder / "companies.xlsx")
    result = CliRunner().invoke(app, ["import", "hubspot", str(folder), "--out", str(tmp_path / "ds")])
    assert result.exit_code == 1, result.output
    assert "companies.csv is missing" in result.output
    assert "companies.xlsx is a spreadsheet: export it as CSV (companies.csv)" in result.output
    (folder / "companies.xlsx").rename(folder / "companies.csv")
    result = CliRunner().invoke(app, ["import", "hubspot", str(folder), "--out", str(tmp_path / "ds")])
    assert "hubspot-crm-exports-all-deals-2024-03-01.csv may be it: rename it to deals.csv" in result.output
    # The association exports also carry "deal" in their names: never offered as the deals table.
    assert "deal_contact_associations.csv may be it" not in result.output
    assert not (tmp_path / "ds").exists()
