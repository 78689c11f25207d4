"""Title parser: real-world titles in EN/NL/DE/FR, the known traps, missing values, invariance to noise,
and the vectorised path. Expected values are written from domain knowledge and the scale in
docs/architecture.md."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from influence.titles import FUNCTIONS, LANGUAGES, ParsedTitle, normalise_title, parse_title, parse_titles

# (title, seniority level, function)
REAL_WORLD: list[tuple[str, int, str]] = [
    # --- English
    ("Chief Executive Officer", 6, "executive"),
    ("CEO & Founder", 6, "executive"),
    ("Founder", 6, "executive"),
    ("Owner", 6, "executive"),
    ("President", 6, "executive"),
    ("Managing Director", 6, "executive"),
    ("MD, DACH", 6, "executive"),
    ("Chief Financial Officer", 6, "finance"),
    ("CFO", 6, "finance"),
    ("CIO", 6, "it"),
    ("CTO", 6, "engineering"),
    ("COO", 6, "operations"),
    ("CISO", 6, "security"),
    ("Chief Information Security Officer", 6, "security"),
    ("CDO", 6, "data"),
    ("CMO", 6, "marketing"),
    ("CHRO", 6, "hr"),
    ("CPO", 6, "procurement"),
    ("Chief Procurement Officer", 6, "procurement"),
    ("Chief Product Officer", 6, "product"),
    ("CxO", 6, "executive"),
    ("Chief of Staff", 4, "executive"),
    ("Vice President Sales", 5, "sales"),
    ("VP, Sales & Marketing (Benelux)", 5, "sales"),
    ("SVP Finance", 5, "finance"),
    ("EVP Operations", 5, "operations"),
    ("AVP, Procurement", 4, "procurement"),
    ("Director of Procurement", 5, "procurement"),
    ("Dir. IT Infrastructure EMEA", 5, "it"),
    ("Sr. Director, Data & Analytics", 5, "data"),
    ("General Manager", 5, "other"),
    ("Head of Procurement", 4, "procurement"),
    ("Hd of Sales DACH", 4, "sales"),
    ("Global Head of IT Security", 4, "security"),
    ("IT Mgr", 4, "it"),
    ("Senior Manager, Finance", 4, "finance"),
    ("Procurement Manager", 4, "procurement"),
    ("Business Development Manager Middle East", 4, "sales"),
    ("Engineering Manager", 4, "engineering"),
    ("Assistant Manager", 3, "other"),
    ("Senior Engineer", 3, "engineering"),
    ("Sr. Software Eng.", 3, "engineering"),
    ("Snr Data Scientist", 3, "data"),
    ("Tech Lead", 3, "engineering"),
    ("Team Lead Customer Service", 3, "operations"),
    ("Lead Buyer", 3, "procurement"),
    ("Principal Architect", 3, "it"),
    ("Project Manager", 3, "other"),
    ("Product Manager", 3, "product"),
    ("Key Account Manager", 3, "sales"),
    ("Category Manager Indirect Spend", 3, "procurement"),
    ("Product Owner", 2, "product"),
    ("Account Manager", 2, "sales"),
    ("Account Executive", 2, "sales"),
    ("Sales Engineer", 2, "sales"),
    ("Software Engineer", 2, "engineering"),
    ("Data Engineer", 2, "data"),
    ("Security Analyst", 2, "security"),
    ("Financial Controller", 2, "finance"),
    ("Internal Auditor", 2, "finance"),
    ("Buyer", 2, "procurement"),
    ("Legal Counsel", 2, "legal"),
    ("General Counsel", 6, "legal"),
    ("HR Business Partner", 3, "hr"),
    ("Recruiter", 2, "hr"),
    ("Headhunter", 2, "hr"),
    ("Marketing Specialist", 2, "marketing"),
    ("Lead Generation Specialist", 2, "marketing"),
    ("Product Marketing Manager", 4, "marketing"),
    ("Systems Administrator", 2, "it"),
    ("Junior Buyer", 1, "procurement"),
    ("Marketing Intern", 1, "marketing"),
    ("Intern IT", 1, "it"),
    ("Assistant to the CFO", 1, "finance"),
    ("Executive Assistant to the CEO", 1, "executive"),
    ("Management Assistant", 1, "executive"),
    ("Mgmt Assistant", 1, "executive"),
    ("Sales Assistant", 1, "sales"),
    ("Receptionist", 1, "other"),
    # --- Dutch
    ("Algemeen directeur", 6, "executive"),
    ("Directeur-eigenaar", 6, "executive"),
    ("Voorzitter Raad van Bestuur", 6, "executive"),
    ("Directeur", 5, "other"),
    ("Financieel directeur", 5, "finance"),
    ("Commercieel directeur", 5, "sales"),
    ("Hoofd ICT", 4, "it"),
    ("Hoofd Inkoop", 4, "procurement"),
    ("Afdelingshoofd Financiën", 4, "finance"),
    ("Inkoopmanager", 4, "procurement"),
    ("Teamleider Data", 3, "data"),
    ("Projectleider ICT", 3, "it"),
    ("Senior beleidsmedewerker", 3, "other"),
    ("Beleidsmedewerker", 2, "other"),
    ("Adviseur", 2, "other"),
    ("Inkoper", 2, "procurement"),
    ("Medewerker inkoop", 2, "procurement"),
    ("Systeembeheerder", 2, "it"),
    ("Accountmanager", 2, "sales"),
    ("Medewerker", 1, "other"),
    ("Stagiair", 1, "other"),
    ("Stagiair marketing", 1, "marketing"),
    ("Directiesecretaresse", 1, "executive"),
    ("Managementassistente", 1, "executive"),
    ("Adjunct-directeur", 4, "other"),
    # --- German
    ("Vorstandsvorsitzender", 6, "executive"),
    ("Vorstand Finanzen", 6, "finance"),
    ("Geschäftsführer", 6, "executive"),
    ("Geschaeftsfuehrer", 6, "executive"),
    ("Geschäftsführerin", 6, "executive"),
    ("Geschäftsführer Vertrieb", 6, "sales"),
    ("Technischer Geschäftsführer", 6, "engineering"),
    ("Inhaberin", 6, "executive"),
    ("Prokurist", 5, "other"),
    ("Bereichsleiter", 5, "other"),
    ("Bereichsleiterin Personal", 5, "hr"),
    ("Direktor Einkauf", 5, "procurement"),
    ("Abteilungsleiter IT", 4, "it"),
    ("Leiter Einkauf", 4, "procurement"),
    ("Leiterin Einkauf", 4, "procurement"),
    ("Einkaufsleiterin", 4, "procurement"),
    ("IT-Leiter", 4, "it"),
    ("Kaufmännischer Leiter", 4, "finance"),
    ("Stellvertretender Abteilungsleiter Einkauf", 3, "procurement"),
    ("Gruppenleiter", 3, "other"),
    ("Teamleiterin Controlling", 3, "finance"),
    ("Projektleiter Softwareentwicklung", 3, "engineering"),
    ("Systemadministrator", 2, "it"),
    ("Sachbearbeiter Einkauf", 2, "procurement"),
    ("Einkäuferin", 2, "procurement"),
    ("Softwareentwickler", 2, "engineering"),
    ("Personalreferentin", 2, "hr"),
    ("Datenschutzbeauftragter", 2, "legal"),
    ("Werkstudent", 1, "other"),
    ("Praktikantin Marketing", 1, "marketing"),
    ("Assistentin der Geschäftsführung", 1, "executive"),
    # --- French
    ("PDG", 6, "executive"),
    ("Président-directeur général", 6, "executive"),
    ("DG", 6, "executive"),
    ("Directrice générale", 6, "executive"),
    ("Directeur général adjoint", 5, "executive"),
    ("Directeur financier", 5, "finance"),
    ("Directrice des achats", 5, "procurement"),
    ("DSI", 5, "it"),
    ("DAF", 5, "finance"),
    ("Responsable informatique", 4, "it"),
    ("Responsable des achats", 4, "procurement"),
    ("Chef de service comptabilité", 4, "finance"),
    ("Directeur adjoint", 4, "other"),
    ("Chef de projet", 3, "other"),
    ("Chef d'équipe", 3, "other"),
    ("Cheffe d'équipe logistique", 3, "operations"),
    ("Ingénieur", 2, "engineering"),
    ("Ingénieur commercial", 2, "sales"),
    ("Acheteur", 2, "procurement"),
    ("Acheteuse", 2, "procurement"),
    ("Juriste", 2, "legal"),
    ("Contrôleur de gestion", 2, "finance"),
    ("Développeuse confirmée", 3, "engineering"),
    ("Stagiaire", 1, "other"),
    ("Assistante de direction", 1, "executive"),
]


@pytest.mark.parametrize(("title", "level", "function"), REAL_WORLD, ids=[t for t, _, _ in REAL_WORLD])
def test_real_world_titles(title: str, level: int, function: str) -> None:
    parsed = parse_title(title)
    assert (parsed.seniority_level, parsed.function) == (level, function)
    assert not parsed.is_missing


def test_table_is_large_and_covers_every_language() -> None:
    assert len(REAL_WORLD) >= 80
    langs = {parse_title(t).language for t, _, _ in REAL_WORLD}
    assert {"en", "nl", "de", "fr"} <= langs


# --- traps --------------------------------------------------------------------------------------------------


def test_intern_inside_internal_is_not_an_intern() -> None:
    assert parse_title("Internal Auditor").seniority_level == 2
    assert parse_title("Internal Communications Manager").seniority_level == 4
    assert parse_title("Intern IT").seniority_level == 1
    assert parse_title("IT Intern").seniority_level == 1


def test_middle_east_is_a_region_not_middle_management() -> None:
    plain = parse_title("Business Development Manager")
    regional = parse_title("Business Development Manager Middle East")
    assert regional.seniority_level == plain.seniority_level == 4
    assert regional.function == "sales"
    assert parse_title("Head of Sales Middle East").seniority_level == 4


def test_systemadministrator_is_an_it_professional_not_an_executive() -> None:
    parsed = parse_title("Systemadministrator")
    assert (parsed.seniority_level, parsed.function, parsed.is_technical) == (2, "it", True)


def test_german_compounds_and_female_forms() -> None:
    assert parse_title("Vorstandsvorsitzender").seniority_level == 6
    assert parse_title("Vorstandsvorsitzende").seniority_level == 6
    # "Vorstand" inside a staff role is a department, not the board
    referent = parse_title("Vorstandsreferentin")
    assert (referent.seniority_level, referent.function) == (2, "executive")
    for title in ("Leiterin Einkauf", "Leiter Einkauf", "Einkaufsleiterin", "Leitung Einkauf"):
        parsed = parse_title(title)
        assert (parsed.seniority_level, parsed.function) == (4, "procurement"), title
    for title in ("Geschäftsführer", "Geschaeftsfuehrer", "Geschäftsführerin", "Geschaftsfuhrer"):
        assert parse_title(title).seniority_level == 6, title
    assert parse_title("Gruppenleiter").seniority_level < parse_title("Abteilungsleiter IT").seniority_level
    assert parse_title("Abteilungsleiter IT").seniority_level < parse_title("Bereichsleiter").seniority_level


def test_assistant_to_someone_is_entry_level_not_the_boss() -> None:
    for title in (
        "Assistant to the CFO",
        "Management Assistant",
        "Directiesecretaresse",
        "Assistentin der Geschäftsführung",
        "Executive Assistant",
        "Assistante de direction",
        "PA to the Managing Director",
    ):
        parsed = parse_title(title)
        assert parsed.is_assistant, title
        assert parsed.seniority_level == 1, title
    # "Assistant" as a modifier lowers the role by one and is not an assistant role
    for title, level in (
        ("Assistant Manager", 3),
        ("Assistant Director", 4),
        ("Assistant Vice President", 4),
        ("Associate Director", 4),
    ):
        parsed = parse_title(title)
        assert (parsed.seniority_level, parsed.is_assistant) == (level, False), title


def test_vice_president_is_below_president_and_deputies_are_one_below() -> None:
    assert parse_title("President").seniority_level == 6
    assert parse_title("Vice President").seniority_level == 5
    assert parse_title("Vice-President").seniority_level == 5
    assert parse_title("Deputy CEO").seniority_level == 5
    assert parse_title("Stellvertretender Geschäftsführer").seniority_level == 5
    assert parse_title("Directeur adjoint").seniority_level == 4
    assert parse_title("Plaatsvervangend hoofd ICT").seniority_level == 3


def test_head_of_is_not_headhunter() -> None:
    assert parse_title("Head of Talent").seniority_level == 4
    hunter = parse_title("Headhunter")
    assert (hunter.seniority_level, hunter.function) == (2, "hr")


def test_director_in_three_languages() -> None:
    assert {parse_title(t).seniority_level for t in ("Director", "Directeur", "Direktor", "Directrice")} == {
        5
    }


def test_senior_lifts_professionals_but_never_managers() -> None:
    assert parse_title("Engineer").seniority_level == 2
    assert parse_title("Senior Engineer").seniority_level == 3
    assert parse_title("Manager").seniority_level == 4
    assert parse_title("Senior Manager").seniority_level == 4
    assert parse_title("Senior Director").seniority_level == 5
    assert parse_title("Junior Engineer").seniority_level == 1


def test_leads_and_principals_are_level_three() -> None:
    for title in ("Lead", "Tech Lead", "Team Lead", "Principal Architect", "Teamleider", "Chef d'équipe"):
        assert parse_title(title).seniority_level == 3, title


def test_owner_founder_and_managing_director_are_top_level() -> None:
    for title in (
        "Owner",
        "Founder",
        "Co-Founder",
        "Managing Director",
        "MD",
        "Eigenaar",
        "Gründer",
        "Fondatrice",
    ):
        assert parse_title(title).seniority_level == 6, title
    assert parse_title("Product Owner").seniority_level == 2


def test_cpo_is_procurement_unless_product_is_named() -> None:
    assert parse_title("CPO").function == "procurement"
    assert parse_title("CPO (Product)").function == "product"


def test_technical_flag() -> None:
    for title in (
        "Solution Architect",
        "DevOps Engineer",
        "Systemadministrator",
        "Data Engineer",
        "IT Specialist",
        "Security Engineer",
        "Softwareentwickler",
    ):
        assert parse_title(title).is_technical, title
    for title in ("IT Manager", "Sales Engineer", "Head of IT", "CIO", "Buyer", "Assistant to the CTO"):
        assert not parse_title(title).is_technical, title


def test_language_guess() -> None:
    assert parse_title("Head of Procurement").language == "en"
    assert parse_title("Hoofd Inkoop").language == "nl"
    assert parse_title("Leiterin Einkauf").language == "de"
    assert parse_title("Directrice des achats").language == "fr"
    assert parse_title("Ingénieur").language == "fr"  # the accent decides
    assert parse_title("Directeur").language == "unknown"  # Dutch or French


# --- missing and bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize("title", [None, "", " ", "\t\n", float("nan"), pd.NA])
def test_missing_titles(title: object) -> None:
    parsed = parse_title(title)  # type: ignore[arg-type]
    assert parsed.is_missing
    assert (parsed.seniority_level, parsed.function, parsed.language) == (0, "other", "unknown")


def test_unrecognisable_title_is_level_zero_but_not_missing() -> None:
    parsed = parse_title("xyzzy")
    assert (parsed.seniority_level, parsed.function, parsed.is_missing) == (0, "other", False)


def test_non_text_title_is_rejected_with_its_row() -> None:
    with pytest.raises(TypeError):
        parse_title(42)  # type: ignore[arg-type]
    titles = pd.Series(["CEO", 42, "CFO"], index=["p1", "p2", "p3"], name="title", dtype=object)
    with pytest.raises(ValueError, match=r"title: row 'p2'"):
        parse_titles(titles)


# --- invariance ---------------------------------------------------------------------------------------------

_TITLES = [t for t, _, _ in REAL_WORLD]


@st.composite
def _noisy(draw: st.DrawFn) -> tuple[str, str]:
    title = draw(st.sampled_from(_TITLES))
    words = title.split()
    out = []
    for word in words:
        case = draw(st.sampled_from(["keep", "upper", "lower", "title"]))
        word = {"keep": word, "upper": word.upper(), "lower": word.lower(), "title": word.title()}[case]
        out.append(word)
        out.append(draw(st.sampled_from([" ", "  ", " - ", " / ", ", ", " | ", "\t"])))
    prefix = draw(st.sampled_from(["", " ", "(", "- ", '"']))
    suffix = draw(st.sampled_from(["", " ", ")", ".", " ;", '"']))
    return title, prefix + "".join(out[:-1]) + suffix


@settings(max_examples=300, deadline=None)
@given(_noisy())
def test_case_spacing_and_punctuation_never_change_the_result(pair: tuple[str, str]) -> None:
    clean, noisy = pair
    assert parse_title(noisy) == parse_title(clean)


def test_normalise_is_idempotent() -> None:
    for title in _TITLES:
        once = normalise_title(title)
        assert normalise_title(once) == once


# --- vectorised ---------------------------------------------------------------------------------------------


def test_parse_titles_equals_parse_title_row_by_row() -> None:
    rng = np.random.default_rng(7)
    pool = _TITLES + [None, "", "  ", "xyzzy"]
    values = [pool[i] for i in rng.integers(0, len(pool), size=2_000)]
    series = pd.Series(values, index=pd.RangeIndex(100, 2_100), name="title", dtype="string")
    frame = parse_titles(series)
    assert len(frame) == len(series)
    assert frame.index.equals(series.index)
    for label, value in series.items():
        expected = parse_title(None if pd.isna(value) else value)
        row = frame.loc[label]
        got = ParsedTitle(
            int(row["seniority_level"]),
            str(row["function"]),
            bool(row["is_missing"]),
            bool(row["is_assistant"]),
            bool(row["is_technical"]),
            str(row["language"]),
            str(row["seniority_cue"]),
        )
        assert got == expected, value


def test_parse_titles_dtypes_and_empty_input() -> None:
    frame = parse_titles(pd.Series(["CFO", None], dtype=object))
    assert list(frame["function"].cat.categories) == list(FUNCTIONS)
    assert list(frame["language"].cat.categories) == list(LANGUAGES)
    assert frame["seniority_level"].dtype == np.int8
    assert frame["is_missing"].tolist() == [False, True]
    empty = parse_titles(pd.Series([], dtype="string"))
    assert len(empty) == 0 and list(empty.columns) == list(frame.columns)


# --- agreement with the generator's truth -------------------------------------------------------------------


def test_parser_agrees_with_generator_truth() -> None:
    """On generated people, the parsed level should match the generator's true level.

    Floors: the generator writes clean titles from the same scale, so a parser regression shows up as a drop
    here. Measured (seed 11, 60 accounts, ~1,200 titled people): exact 0.98, within one level 0.998, function
    0.98. The remaining gaps are deliberate differences (assistants are entry level here, "Coördinator" is 2,
    "Business Development Manager" is a manager), so the floors leave a margin for sampling but not for a
    broken rule: exact >= 0.90, within one >= 0.97, function >= 0.90 (buyers, function known)."""
    from influence.generate import generate_with_truth

    ds, truth = generate_with_truth(40, seed=11)
    people = truth.drop_duplicates("person_id").set_index("person_id")
    titles = ds.people.set_index("person_id")["title"].reindex(people.index)
    has_title = titles.notna() & (titles.astype("string").str.strip() != "")
    assert has_title.sum() >= 300
    parsed = parse_titles(titles[has_title])
    true_level = people.loc[has_title, "seniority_level"].to_numpy()
    got_level = parsed["seniority_level"].to_numpy()
    exact = float(np.mean(got_level == true_level))
    within_one = float(np.mean(np.abs(got_level.astype(int) - true_level) <= 1))
    buyers = (people.loc[has_title, "side"] == "buyer").to_numpy() & (
        people.loc[has_title, "function"] != "other"
    ).to_numpy()
    function = float(
        np.mean(
            parsed["function"].astype(str).to_numpy()[buyers]
            == people.loc[has_title, "function"].to_numpy()[buyers]
        )
    )
    assert exact >= 0.90, exact
    assert within_one >= 0.97, within_one
    assert function >= 0.90, function
    # a missing title in the dataset is parsed as missing, never as a level
    missing = parse_titles(titles[~has_title])
    assert missing["is_missing"].all() and (missing["seniority_level"] == 0).all()


@pytest.mark.parametrize(
    ("title", "level", "function", "assistant"),
    [
        # "Asst"/"Assoc"/"Dep" qualifying a senior role lower it by one; they do not make an assistant
        ("VP & Asst Gen Cnsl", 5, "legal", False),
        ("Asst Gen Cnsl", 5, "legal", False),
        ("Assoc. Gen. Cnsl", 5, "legal", False),
        ("Dep Gen Cnsl", 5, "legal", False),
        ("VP & Gen Cnsl", 6, "legal", False),
        ("Mng Director & Gen Cnsl", 6, "legal", False),
        # an assistant OF the general counsel is an assistant
        ("Gen Cnsl Asst", 1, "legal", True),
        # two roles joined: the higher one counts ("Director" and an assistant role)
        ("Director & Gen Cnsl Asst", 5, "legal", False),
        ("Director & Cnsl", 5, "legal", False),
        ("Cnsl", 2, "legal", False),
        ("Sr Cnsl", 3, "legal", False),
        ("Mng Dir Trading", 6, "finance", False),
        ("Mng Director Research", 6, "executive", False),
        ("Mng Partner", 6, "executive", False),
        ("Gen Mgr", 5, "other", False),
        ("Dep Dir Finance", 4, "finance", False),
        ("Trader", 2, "finance", False),
        ("Mgr Trading", 4, "finance", False),
        ("Admin Asst", 1, "other", True),
    ],
)
def test_abbreviation_combinations(title: str, level: int, function: str, assistant: bool) -> None:
    parsed = parse_title(title)
    assert (parsed.seniority_level, parsed.function, parsed.is_assistant) == (level, function, assistant), (
        parsed
    )


def test_context_dependent_abbreviations_keep_their_other_meaning() -> None:
    # "Gen" after "Lead"/"Demand" is generation, "Dep" before a non-role word is a department
    assert normalise_title("Lead Gen Manager") == "lead gen manager"
    assert parse_title("Lead Gen Manager").function == "marketing"
    assert normalise_title("Dep Finance") == "department finance"
    assert normalise_title("Admin") == "admin" and parse_title("Admin").function == "it"


def test_joined_roles_do_not_split_department_lists_or_assistants_to_someone() -> None:
    # department lists stay one title
    assert parse_title("Sales & Marketing Director").seniority_level == 5
    assert parse_title("Head of Data & Analytics").seniority_level == 4
    # the assistant TO a chairman is still an assistant, whatever follows "&"
    chair = parse_title("Assistant to the CEO & Chairman")
    assert chair.seniority_level == 1 and chair.is_assistant
    # both orders of two joined roles give the higher role
    assert (
        parse_title("Analyst & Director").seniority_level
        == parse_title("Director & Analyst").seniority_level
        == 5
    )
