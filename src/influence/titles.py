"""Job-title parsing (English, Dutch, German, French): seniority level, function, assistant/technical flags.

`parse_title` reads one free-text title; `parse_titles` does a whole column, parsing each distinct title once.

How a title is read:

1. Normalise: lower case, German umlauts expanded (ä -> ae, so "Geschäftsführer" == "Geschaeftsfuehrer"),
   other accents folded, punctuation to spaces, abbreviations expanded ("Sr." -> senior, "Mgr" -> manager,
   "Dir." -> director, "Hd" -> head, "MD" -> managing director, "GF" -> Geschäftsführer, ...). Region words
   ("Middle East", "EMEA", "DACH", "Benelux", ...) are removed so they never read as seniority.
2. Role cues, strongest first, word-boundary aware; German/Dutch compounds are matched by suffix or prefix
   ("Einkaufsleiterin" -> "...leiterin", "Vorstandsvorsitzender" -> "vorstand...", "Beleidsmedewerker" ->
   "...medewerker"). A matched phrase is consumed, so "Vice President" never also reads as "President" and
   "Chief of Staff" never reads as "Chief ... Officer".
3. Seniority = strongest cue (scale in docs/architecture.md, 0 = nothing recognisable), then modifiers:
   intern/trainee/Praktikant/stagiair(e)/Werkstudent -> 1; an assistant TO someone ("Assistant to the CFO",
   "Management Assistant", "Directiesecretaresse", "Assistentin der Geschäftsführung") -> 1, `is_assistant`;
   "Junior" -> 1; "Senior" lifts 0/2 -> 3 and 1 -> 2 but never a manager to director; "Assistant"/"Associate"
   before a higher role ("Assistant Director"), "Deputy", "Stellvertretender", "adjoint", "adjunct",
   "plaatsvervangend", "Vice" (not Vice President) lower by one.
4. Function: department words in four languages; specialised departments win over generic ones
   (procurement > security > legal > data > hr > finance), then the first-mentioned of it, marketing, sales,
   product, engineering ("Sales & Marketing Director" -> sales), then operations, then weak hints
   ("technical", "digital", "strategy"), then the function implied by the role itself (CEO/MD/owner ->
   executive, engineer -> engineering, architect/administrator -> it, scientist -> data, designer -> product).

Choices a user should know:
- CPO is read as Chief Procurement Officer (procurement) unless a product word is present; in a B2B buying
  group the purchasing chief is the one that matters. "Chief Product Officer" spelled out -> product.
- CTO -> engineering, CIO -> it, CDO -> data, CSO (security/sales/strategy) -> executive, CCO/CRO -> sales.
- "Managing Director", Geschäftsführer, algemeen directeur, directeur général/PDG/DG, owner, founder,
  president, board members -> 6. General Manager -> 5. Executive/Senior VP -> 5, AVP -> 4.
- French DAF/DSI/DRH are read as their expansion ("Directeur administratif et financier", ...) -> 5.
- Individual-contributor "managers": Account Manager and Office Manager -> 2; Project/Programme/Product/
  Category/Key Account Manager, Chef de projet, Projektleiter, projectleider -> 3. Any other manager -> 4.
- "Medewerker"/"Mitarbeiter" alone -> 1, with a department ("Medewerker inkoop") -> 2.
- `is_assistant` is true for assistant/secretary roles (including "Sales Assistant"); "Assistant Manager" is a
  lowered manager, not an assistant, and so is "Asst Gen Cnsl" (Assistant General Counsel -> 5).
- Abbreviations read by context: "Gen" is General before counsel/manager/partner/... ("Gen Cnsl", "Gen Mgr")
  but stays "gen" after Lead/Demand (lead generation); "Mng Dir" is Managing Director; "Dep" is Deputy before a
  role ("Dep Gen Cnsl", "Dep Dir") and a department otherwise; "Admin Asst" is an administrative assistant.
  "Cnsl" is counsel (legal, 2), "Trader" a finance professional (2).
- Joined roles: when every part of a title joined by "&", "+" or "and" (und/en/et) names a role by itself, the
  person holds the higher one ("Director & Gen Cnsl Asst" -> 5, not an assistant). Department lists ("Sales &
  Marketing Director") and an assistant TO someone ("Assistant to the CEO & Chairman") are read whole.
- `is_technical`: an architect/engineer/developer/administrator/specialist-type role in it, engineering, data
  or security (a "Sales Engineer" is not technical, an "IT Manager" is not an individual technical role).
- `language` is a guess from distinctive words and accents; "unknown" when nothing tells the languages apart
  (e.g. "Directeur" alone, or acronyms only).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

from influence.contract import FUNCTIONS

__all__ = [
    "FUNCTIONS",
    "LANGUAGES",
    "ParsedTitle",
    "normalise_title",
    "parse_title",
    "parse_titles",
]


LANGUAGES: tuple[str, ...] = ("en", "nl", "de", "fr", "unknown")


@dataclass(frozen=True, slots=True)
class ParsedTitle:
    """What a job title says about a person. `seniority_cue` is the normalised text that set the level
    (empty when none), for explanations."""

    seniority_level: int
    function: str
    is_missing: bool
    is_assistant: bool
    is_technical: bool
    language: str
    seniority_cue: str = ""


_MISSING = ParsedTitle(0, "other", True, False, False, "unknown", "")

# -------------------------------------------------------------------------------------------------- normalise

_UMLAUTS = str.maketrans({"ä": "ae", "ü": "ue", "ß": "ss", "ö": "oe"})
_PRE = (
    # order matters: these run on the lower-cased text before punctuation is dropped
    (re.compile(r"r\s*&\s*d"), " rnd "),
    (re.compile(r"fp\s*&\s*a"), " fpa "),
    (re.compile(r"l\s*&\s*d"), " learning development "),
    (re.compile(r"m\s*&\s*a"), " mergers acquisitions "),
    (re.compile(r"\bc\s*-\s*(level|suite)\b"), " cxo "),
    (re.compile(r"\bc\s*x\s*o\b"), " cxo "),
    (re.compile(r"\bd'"), "de "),
    (re.compile(r"\bl'"), "le "),
)
_POST = (
    (re.compile(r"\b(vice|vize) ?(president|praesident|prasident|presidente|voorzitter)\b"), "vicepresident"),
    (
        re.compile(
            r"\b(co|mede|mit) (founder|oprichter|gruender|gruenderin|owner|eigenaar|fondateur|fondatrice)\b"
        ),
        r"\1\2",
    ),
    (re.compile(r"\bhead hunter\b"), "headhunter"),
    (re.compile(r"\bpre sales\b"), "presales"),
    (re.compile(r"\be commerce\b"), "ecommerce"),
    (re.compile(r"\bsys admin\b"), "sysadmin"),
    (re.compile(r"\bcooerd"), "coord"),  # Dutch coördinator after umlaut expansion
    (re.compile(r"\bnon executive\b"), "nonexecutive"),
    # regions: never a seniority ("Middle East" is not middle management), dropped before cues are read
    (
        re.compile(
            r"\b(middle east|mittlerer osten|naher osten|moyen orient|midden oosten|north america|"
            r"south america|latin america|asia pacific|emea|apac|dach|benelux|nordics?|americas|latam|"
            r"mena|cee|anz|uk ?i|iberia|europe|europa)\b"
        ),
        " ",
    ),
)
_ABBREV: dict[str, str] = {
    "sr": "senior",
    "snr": "senior",
    "sen": "senior",
    "jr": "junior",
    "jnr": "junior",
    "jun": "junior",
    "mgr": "manager",
    "mngr": "manager",
    "mgmt": "management",
    "mngmt": "management",
    "mgt": "management",
    "dir": "director",
    "hd": "head",
    "asst": "assistant",
    "assist": "assistant",
    "exec": "executive",
    "mktg": "marketing",
    "sec": "security",
    "mkt": "marketing",
    "ops": "operations",
    "dept": "department",
    "acct": "account",
    "coord": "coordinator",
    "spec": "specialist",
    "rep": "representative",
    "fin": "finance",
    "purch": "purchasing",
    "supv": "supervisor",
    "intl": "international",
    "engr": "engineer",
    "md": "managing director",
    "gm": "general manager",
    "gf": "geschaeftsfuehrer",
    "bdm": "business development manager",
    "kam": "key account manager",
    "hrbp": "hr business partner",
    "pa": "personal assistant",
    "ea": "executive assistant",
    "tl": "team lead",
    "stv": "stellvertretender",
    "stellv": "stellvertretender",
    "techn": "technical",
    "kfm": "kaufmaennischer",
    "ceo's": "ceo",
    "cnsl": "counsel",
    "cnsel": "counsel",
    "couns": "counsel",
    "assoc": "associate",
    "treas": "treasurer",
}
_ROLE_AFTER_ENG = {"manager", "director", "lead", "head", "team", "vp", "vicepresident", "department"}
# Abbreviations whose meaning depends on the next word: "Gen Cnsl" is General Counsel but "Lead Gen" is lead
# generation; "Mng Dir" is Managing Director but "Mng" elsewhere is a manager; "Dep Dir" is a deputy but
# "Dep" alone is a department; "Admin Asst" is an administrative assistant, not an IT administrator.
_GENERAL_BEFORE = {"counsel", "manager", "management", "partner", "secretary", "director", "auditor", "agent"}
_MANAGING_BEFORE = {"director", "partner", "editor", "consultant"}
_DEPUTY_BEFORE = {
    "director",
    "head",
    "general",
    "manager",
    "chief",
    "ceo",
    "cfo",
    "coo",
    "cio",
    "cto",
    "managing",
    "counsel",
    "leiter",
    "vp",
    "vicepresident",
    "treasurer",
}


def _fold(text: str) -> str:
    text = text.lower().translate(_UMLAUTS)
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def normalise_title(title: str) -> str:
    """Lower-case, accent-folded, punctuation-free, abbreviation-expanded form of a title ("" when empty)."""
    text = _fold(title)
    for pattern, repl in _PRE:
        text = pattern.sub(repl, text)
    tokens = re.sub(r"[^a-z0-9]+", " ", text).split()
    out: list[str] = []
    for i, tok in enumerate(tokens):
        if tok == "eng":
            nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
            out.append(
                "engineering" if nxt in _ROLE_AFTER_ENG or _ABBREV.get(nxt) in _ROLE_AFTER_ENG else "engineer"
            )
        elif tok == "dev":
            out.append("development" if out and out[-1] == "business" else "developer")
        elif tok in ("gen", "mng", "mang", "mngg", "dep", "admin"):
            nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
            nxt = _ABBREV.get(nxt, nxt)
            if tok == "gen":
                lead_gen = bool(out) and out[-1] in ("lead", "demand")
                out.append("general" if not lead_gen and (nxt in _GENERAL_BEFORE or nxt == "mng") else tok)
            elif tok == "dep":
                out.append("deputy" if nxt in _DEPUTY_BEFORE or nxt == "gen" else "department")
            elif tok == "admin":
                out.append("administrative" if nxt in ("assistant", "asst", "secretary") else tok)
            else:
                out.append("managing" if nxt in _MANAGING_BEFORE or nxt == "dir" else "manager")
        else:
            out.append(_ABBREV.get(tok, tok))
    text = " ".join(out)
    for pattern, repl in _POST:
        text = pattern.sub(repl, text)
    return " ".join(text.split())


# -------------------------------------------------------------------------------------------------- role cues

# (regex over the normalised title, level, implied function or None, tag). Tags: "entry" (forces level 1),
# "assistant" (assistant/secretary as the role), "weak" (used only when no other cue), "" otherwise.
# Rules run in order and consume what they match. `\w*` prefixes let German/Dutch compounds match.
_W = r"(?<![a-z0-9])"  # left word boundary
_E = r"(?![a-z0-9])"  # right word boundary
_RoleRule = tuple[re.Pattern[str], int, str | None, str, tuple[str, ...] | None]


def _split_top(pattern: str) -> list[str]:
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(pattern):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "|" and depth == 0:
            parts.append(pattern[start:i])
            start = i + 1
    parts.append(pattern[start:])
    return parts


def _gate(pattern: str) -> tuple[str, ...] | None:
    """Literal fragments, one per alternative, that any match must contain: a cheap substring test lets a
    title skip the regex (about 2x faster parsing). None when some alternative has no usable literal."""
    literals = []
    for alt in _split_top(pattern):
        depth, flat = 0, []
        for ch in alt:  # drop groups (optional or alternative parts are not guaranteed)
            depth += ch == "("
            flat.append(ch if depth == 0 else "#")
            depth -= ch == ")"
        text = re.sub(r"\\w[*+]|\{[0-9,]+\}", "#", "".join(flat))
        text = re.sub(r".[?*]", "#", text)
        runs = re.findall(r"[a-z0-9 ]{2,}", text)
        if not runs:
            return None
        literals.append(max(runs, key=len).strip() or max(runs, key=len))
    return tuple(sorted(set(literals)))


def _passes(gate: tuple[str, ...] | None, text: str) -> bool:
    return gate is None or any(lit in text for lit in gate)


def _r(pattern: str, level: int, function: str | None = None, tag: str = "") -> _RoleRule:
    return (re.compile(_W + "(?:" + pattern + ")" + _E), level, function, tag, _gate(pattern))


_GF = r"gesch(?:ae|a)fts(?:fue|fu)hr(?:er|erin|ender|ende)"
_ROLE_RULES: tuple[_RoleRule, ...] = (
    # entry level (they win over everything: "Marketing Manager Intern" is an intern)
    _r(
        r"intern|interns|trainee|\w*praktikant(?:in)?|\w*werkstudent(?:in)?|working student|stagiair(?:e)?|"
        r"stagiaire|apprentice|apprenti(?:e)?|alternant(?:e)?|azubi|auszubildende(?:r)?|volontaer(?:in)?|"
        r"graduate trainee|graduate|student",
        1,
        None,
        "entry",
    ),
    # assistant / secretary as the role itself (assistant TO someone); modifier use is handled separately
    _r(
        r"\w*assistent(?:e|in)?|\w*assistente|assistant(?:e)?|\w*secretaresse|secretary|secretaire|"
        r"\w*sekretaer(?:in)?|assistenz",
        1,
        None,
        "assistant",
    ),
    _r(r"receptionist(?:e)?|clerk|empfang", 1),
    # executive / board
    _r(r"chief of staff|stabschef(?:in)?", 4, "executive"),
    # IC roles that contain an executive word
    _r(r"product owner|productowner", 2, "product"),
    _r(r"process owner|service owner|business process owner", 3),
    _r(r"business partner|businesspartner", 3),
    _r(r"partner manager|partner account manager", 4, "sales"),
    _r(r"chief(?: [a-z]+){1,4} officer", 6, "executive"),
    _r(
        r"ceo|cxo|c level|chief executive|pdg|dg|dga|managing director|directeur general(?:e)?|"
        r"directrice generale|directeur generaal|director general|generaldirektor(?:in)?|algemeen directeur|"
        r"algemene directeur|statutair directeur|president directeur|" + _GF + r"|"
        r"\w*vorsitzende(?:r)?|\w*voorzitter|vorstand(?:s?(?:vorsitzende(?:r)?|mitglied|sprecher(?:in)?|"
        r"chef(?:in)?))?|"
        r"\w*vorstand|vorstaendin|\w*vorstaendin|aufsichtsrat\w*|directoire|membre du conseil|"
        r"raad van bestuur|bestuurder|bestuurslid|bestuursvoorzitter|zaakvoerder|gerant(?:e)?|"
        r"president(?:e)?|praesident(?:in)?|prasident(?:in)?|chairman|chairwoman|chairperson|chair|"
        r"board member|member of the board|board director|nonexecutive director|board|"
        r"managing partner|senior partner|founding partner|equity partner|partner|"
        r"owner|coowner|eigenaar|medeeigenaar|inhaber(?:in)?|proprietaire|"
        r"founder|cofounder|\w*gruender(?:in)?|oprichter|medeoprichter|fondat(?:eur|rice)|"
        r"cofondat(?:eur|rice)|"
        r"gesellschafter(?:in)?",
        6,
        "executive",
    ),
    _r(r"cfo", 6, "finance"),
    _r(r"cio", 6, "it"),
    _r(r"cto", 6, "engineering"),
    _r(r"ciso", 6, "security"),
    _r(r"cdo", 6, "data"),
    _r(r"cmo", 6, "marketing"),
    _r(r"chro|cpeo", 6, "hr"),
    _r(r"coo", 6, "operations"),
    _r(r"cro|cco", 6, "sales"),
    _r(r"clo", 6, "legal"),
    _r(r"cpo", 6, "procurement"),
    _r(r"cso|cao|cno", 6, "executive"),
    # director / VP
    _r(r"avp", 4),
    _r(r"vp|svp|evp|vicepresident|vizepraesident(?:in)?|vicepresidente", 5),
    _r(r"general manager|generalbevollmaechtigte(?:r)?", 5),
    _r(r"general counsel", 6, "legal"),
    _r(r"rssi", 4, "security"),
    _r(
        r"director|directors|directeur|directrice|\w+directeur|\w*direktor(?:in)?|direccion|directie|"
        r"directielid|prokurist(?:in)?|associe(?:e)?|daf|dsi|drh",
        5,
    ),
    _r(r"(?:haupt)?abteilungsleit(?:er|erin|ung)", 4),
    _r(
        r"(?:geschaefts|gesamt)?bereichsleit(?:er|erin|ung)|hauptabteilungsleit(?:er|erin|ung)|"
        r"(?:ressort|sparten|divisions|werks)leit(?:er|erin|ung)",
        5,
    ),
    # team / project lead (3) before the generic "...leiter" (4)
    _r(
        r"(?:team|gruppen|projekt|teilprojekt|schicht|sachgebiets|kolonnen|bau)leit(?:er|erin|ung)|"
        r"(?:team|project|ploeg|groeps)(?:leider|leidster)|teamleader|team leader|team lead|tech lead|"
        r"chef(?:fe)? de (?:projet|projets|equipe|produit)|responsable de equipe|teamlead|"
        r"managing consultant|"
        r"project manager|projectmanager|projektmanager(?:in)?|program manager|programme manager|"
        r"programmamanager|product manager|productmanager|produktmanager(?:in)?|category manager|"
        r"categorymanager|key account manager|keyaccountmanager|key accountmanager|projectleider|"
        r"supervisor|superviseur|foreman|vorarbeiter(?:in)?|contremaitre|meister(?:in)?",
        3,
    ),
    _r(r"account manager|accountmanager|office manager|officemanager|community manager", 2),
    # manager / head
    _r(r"middle management|middle manager", 4),
    _r(
        r"head|hoofd|\w+hoofd|leiter(?:in)?|\w+leiter(?:in)?|leitung|\w+leitung|leidinggevende|"
        r"\w*leider|\w*leidster|responsable|chef(?:fe)? de service|chefin|cheffe|\w+chef|chef\w*|chef|"
        r"manager|managers|\w+manager(?:in)?|managerin|mgr|gerente",
        4,
    ),
    _r(r"lead generation|lead gen|demand generation", 0, None, "skip"),
    _r(r"principal|lead|leader|staff engineer|\w*architect(?:e)?|\w*architekt(?:in)?", 3),
    # professionals
    _r(
        r"\w*engineer|\w*ingenieur(?:e|in)?|\w*developer|\w*developpeu(?:r|se)|\w*entwickler(?:in)?|"
        r"\w*ontwikkelaar|programmer|programmeur|programmierer(?:in)?|\w*analyst(?:in)?|\w*analist|analyste|"
        r"\w*beauftragte(?:r)?|\w*beveiliger|revisor(?:in)?|administrat(?:eur|rice)|\w*administrateur|"
        r"approvisionn(?:eur|euse)|"
        r"planner|planificat(?:eur|rice)|\w*planer(?:in)?|disponent(?:in)?|werkvoorbereider|"
        r"\w*informatiker(?:in)?|"
        r"logisticien(?:ne)?|logistiker(?:in)?|\w*marketeer|marketer|paralegal|gestionnaire|\w*ontwerper|"
        r"\w*secretaris|charge(?:e)?|\w*controller(?:in)?|recruiter(?:in)?|\w*administrator(?:in)?|"
        r"consultant(?:e)?|\w*berater(?:in)?|\w*adviseur|advisor|adviser|conseill(?:er|ere)|"
        r"\w*specialist(?:e)?|\w*spezialist(?:in)?|expert(?:e)?|\w*experte|officer|\w*referent(?:in)?|"
        r"\w*sachbearbeiter(?:in)?|accountant|controller|controleur|controleuse|comptable|"
        r"\w*buchhalter(?:in)?|boekhouder|auditor|auditeur|auditrice|wirtschaftspruefer(?:in)?|treasurer|"
        r"tresorier|buyer|\w*einkaeufer(?:in)?|einkaufer(?:in)?|\w*inkoper|acheteu(?:r|se)|purchaser|"
        r"\w*administrator|sysadmin|admin|\w*beheerder|technician|\w*techniker(?:in)?|technicien(?:ne)?|"
        r"technicus|monteur|designer|scientist|\w*wissenschaftler(?:in)?|onderzoeker|researcher|"
        r"\w*kaufmann|\w*kauffrau|\w*fachkraft|representative|jurist(?:e|in)?|\w*jurist|lawyer|attorney|"
        r"counsel|advocaat|avocat(?:e)?|\w*rechtsanwa(?:e)?lt(?:in)?|notar(?:is)?|recruiter|recruteu(?:r|se)|"
        r"headhunter|charge(?:e)? de|chargee|\w*coordinator|coordinatrice|\w*koordinator(?:in)?|"
        r"\w*medewerker|\w*medewerkster|\w*mitarbeiter(?:in)?|employe(?:e)?|agent|verkoper|verkaeufer(?:in)?|"
        r"vendeu(?:r|se)|salesperson|account executive|sales executive|marketing executive|"
        r"beleidsmedewerker|fellow|trader|\w*haendler(?:in)?|trad(?:eur|euse)",
        2,
    ),
    _r(r"commercial(?:e)?|associate|executive", 2, None, "weak"),
)

# role-implied functions (used only when the title names no department)
_ROLE_FUNCTION = (
    (
        re.compile(
            _W + r"(?:\w*engineer|\w*ingenieur\w*|\w*developer|\w*developpeu\w*|\w*entwickler\w*|"
            r"\w*ontwikkelaar|programmer|programmeur|programmierer\w*|devops|sre|techniker\w*|"
            r"technicien\w*|technicus)" + _E
        ),
        "engineering",
    ),
    (
        re.compile(
            _W + r"(?:\w*architect\w*|\w*architekt\w*|\w*administrator|sysadmin|admin|\w*beheerder)" + _E
        ),
        "it",
    ),
    (re.compile(_W + r"(?:scientist|\w*wissenschaftler\w*)" + _E), "data"),
    (re.compile(_W + r"(?:designer)" + _E), "product"),
)

# ------------------------------------------------------------------------------------------------ departments

_DeptRule = tuple[re.Pattern[str], str, tuple[str, ...] | None]


def _d(pattern: str, function: str) -> _DeptRule:
    return (re.compile(_W + "(?:" + pattern + ")" + _E), function, _gate(pattern))


# phrases first (they consume), then words; `\w*` = allowed as part of a compound
_DEPT_RULES: tuple[_DeptRule, ...] = (
    _d(
        r"unternehmensentwicklung|corporate development|executive assistant|executive office|chief of staff",
        "executive",
    ),
    _d(
        r"quality control|qualitaetskontrolle|kwaliteitscontrole|controle qualite|process\w*|proces\w*|"
        r"bedrijfsbureau|operating",
        "operations",
    ),
    _d(r"access control|toegangscontrole", "security"),
    _d(r"data protection|datenschutz\w*|gegevensbescherming|protection des donnees|privacy|dpo", "legal"),
    _d(
        r"product marketing|productmarketing|produktmarketing|lead generation|lead gen|demand generation",
        "marketing",
    ),
    _d(
        r"business development|businessdevelopment|customer success|sales engineer|salesengineer|presales|"
        r"inside sales|partner manager|channel|sales(?!force)\w*|\w*vertrieb\w*|\w*verkauf\w*|\w*verkoop\w*|"
        r"verkoper|verkaeufer(?:in)?|vente|ventes|vendeu(?:r|se)|commercial(?:e)?|commercieel|commerciele|"
        r"kommerziell\w*|revenue|account manager|accountmanager|account executive|"
        r"key accounts?|solutions? engineer|\w*aussendienst\w*|\w*innendienst\w*|buitendienst|"
        r"binnendienst|relatiebeheerder|affaires|cro|cco",
        "sales",
    ),
    _d(
        r"information security|informationssicherheit|informatiebeveiliging|securite informatique|"
        r"\w*security|\w*sicherheit\w*|\w*beveilig\w*|securite|cyber\w*|infosec|ciso|soc|siem|pentest\w*",
        "security",
    ),
    _d(
        r"chief procurement officer|procurement|purchasing|purchaser|sourcing|buyer|buying|\w*einkauf\w*|"
        r"einkaeufer(?:in)?|einkaufer(?:in)?|\w*beschaffung\w*|\w*inkoop\w*|\w*inkoper|aankoop|aankoper|"
        r"achat|"
        r"achats|acheteu(?:r|se)|approvisionn\w*|supplier\w*|vendor management|\w*lieferanten\w*|"
        r"leverancier\w*|category manager|categorymanager",
        "procurement",
    ),
    _d(
        r"legal|\w*juris\w*|juridi\w*|rechts\w*|recht|counsel|lawyer|attorney|advocaat|avocat(?:e)?|"
        r"\w*anwa(?:e)?lt\w*|compliance|conformite|paralegal|notar\w*|justiziar\w*|contracts?|"
        r"contract management|clo",
        "legal",
    ),
    _d(
        r"chief data officer|data\w*|daten\w*|donnees|gegevens|analytics|bi|business intelligence|"
        r"machine learning|ml|ai|artificial intelligence|kuenstliche intelligenz|statisti\w*|dwh|"
        r"scientist|cdo",
        "data",
    ),
    _d(
        r"hr|human resources|human resource|ressources humaines|rh|drh|personnel|personeel\w*|people|"
        r"talent\w*|recruit\w*|rekrut\w*|recrut\w*|werving\w*|headhunter|payroll|loonadministratie|"
        r"personal(?! assist)|p o|learning development|compensation|benefits|salaris\w*|paie|chro|cpeo|"
        r"personal\w+|hrm",
        "hr",
    ),
    _d(
        r"finance|finances|financial|financieel|financiele|financien|financier|financiere|finanz\w*|"
        r"control|\w*controlling|\w*controller(?:in)?|controleu(?:r|se)|comptab\w*|\w*buchhalt\w*|"
        r"rechnungswesen|"
        r"accounting|accountant|accounts|boekhoud\w*|treasury|treasurer|tresorerie|tresorier|tax|"
        r"\w*steuer\w*|"
        r"fiscal\w*|audit\w*|revisor\w*|revision|wirtschaftspruef\w*|credit|kredit\w*|billing|"
        r"facturation|fpa|"
        r"investor relations|administratie|kaufmaennisch\w*|cfo|daf|raf|trading|trader|\w*handel|"
        r"\w*haendler(?:in)?|trad(?:eur|euse)",
        "finance",
    ),
    _d(
        r"information technology|informationstechnologie|informatietechnologie|it|ict|edv|dsi|cio|"
        r"\w*informati\w*|systemes d information|system\w*|systeem\w*|network\w*|netzwerk\w*|netwerk\w*|"
        r"reseau\w*|"
        r"infrastruct\w*|infrastruktur\w*|helpdesk|service desk|servicedesk|erp|sap|applicat\w*|"
        r"applikation\w*|cloud|sysadmin|desktop|workplace|chief information officer",
        "it",
    ),
    _d(
        r"marketing\w*|cmo|brand\w*|communicat\w*|kommunikation\w*|communicatie|pr|public relations|"
        r"oeffentlichkeitsarbeit|content|seo|sea|campaign\w*|growth|events?|evenement\w*|social media|"
        r"copywriter|\w*marketeer|marketer",
        "marketing",
    ),
    _d(
        r"product|products|producten|produkt|produkte|produktmanag\w*|productmanag\w*|produit|produits|ux|ui|"
        r"user experience|chief product officer",
        "product",
    ),
    _d(
        r"engineering|rnd|research development|research and development|"
        r"forschung\w*|\w*entwicklung|ontwikkel\w*|developpement|software\w*|hardware|firmware|mechanical|"
        r"electrical|elektro\w*|konstruktion|technology|technologie|technologies|cto|devops|sre|qa|"
        r"r d",
        "engineering",
    ),
    _d(
        r"operations|operation|operational|operationeel|operationnel\w*|operativ\w*|betrieb|betriebs\w*|"
        r"logisti\w*|supply chain|lieferkette|produktion\w*|production|productie\w*|fabrication|"
        r"manufactur\w*|"
        r"fertigung\w*|werk|werks|disponent\w*|planificat\w*|planner|\w*planer(?:in)?|werkvoorbereid\w*|"
        r"plant|usine|fabriek|facilit\w*|facility|quality|qualitaet\w*|kwaliteit\w*|"
        r"qualite|qhse|hse|ehs|maintenance|instandhaltung|onderhoud|warehouse|lager\w+|magazijn|entrepot|"
        r"transport\w*|fleet|coo|exploitation|bedrijfsvoering|customer service|kundenservice|klantenservice|"
        r"service client|planning|\w*einsatz\w*",
        "operations",
    ),
    _d(
        r"geschaeftsfuehrung|geschaftsfuhrung|management assistant|managementassistent\w*|directie\w*|"
        r"bestuur\w*|"
        r"direction|vorstand\w*|bestuur|board|executive office|strategy|strategie|strategic|ceo|"
        r"general management",
        "executive",
    ),
)
_TIER_A = ("procurement", "security", "legal", "data", "hr", "finance")
_TIER_B = ("it", "marketing", "sales", "product", "engineering")
_WEAK_DEPT = (
    _d(r"technical|technische?r?|technique|techniek|technisch|tech|technik", "engineering"),
    _d(r"digital|digitale?|digitalisierung|digitalisering", "it"),
)

# -------------------------------------------------------------------------------------------------- modifiers

_SENIOR = re.compile(_W + r"(?:senior|sr|snr|confirme(?:e)?|ervaren)" + _E)
_JUNIOR = re.compile(_W + r"(?:junior|jr|jnr|jun)" + _E)
_LOWER = re.compile(
    _W + r"(?:deputy|stellvertretende(?:r|n)?|adjoint(?:e)?|adjunct|plaatsvervangend(?:e)?|"
    r"vice|vize|substitute)" + _E
)
# "Assistant"/"Associate" directly before a role is a modifier ("Assistant Director"), not the role
_MODIFIER_BEFORE = re.compile(_W + r"(?:assistant(?:e)?|associate|assistent(?:e|in)?)" + _E)
_TO_WORDS = {"to", "of", "for", "de", "du", "des", "der", "van", "aan", "bij", "au", "a", "la", "the"}
_TECH_ROLE = re.compile(
    _W + r"(?:\w*architect\w*|\w*architekt\w*|\w*engineer\w*|\w*ingenieur\w*|\w*developer|\w*developpeu\w*|"
    r"\w*entwickler\w*|\w*ontwikkelaar|programmer|programmeur|programmierer\w*|\w*administrator|sysadmin|"
    r"admin|\w*beheerder|\w*specialist\w*|\w*spezialist\w*|scientist|devops|sre|tech lead|technician|"
    r"\w*techniker\w*|technicien\w*|technicus)" + _E
)
_TECH_FUNCTIONS = {"it", "engineering", "data", "security"}
_ALONE_ENTRY = {"medewerker", "medewerkster", "mitarbeiter", "mitarbeiterin", "employe", "employee"}

# --------------------------------------------------------------------------------------------------- language


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_LANG_WORDS: dict[str, frozenset[str]] = {
    "en": _words(
        "head of the and senior director engineer developer purchasing procurement officer chief owner "
        "founder "
        "lead team analyst accountant buyer recruiter board chairman executive account business development "
        "operations software security legal counsel technology information human people product program "
        "programme quality supply chain customer for to staff principal architect managing general deputy "
        "associate global regional vicepresident engineering financial office secretary middle receptionist "
        "clerk representative supervisor advisor purchaser scientist internal auditor management headhunter "
        "technical",
    ),
    "nl": _words(
        "hoofd medewerker medewerkster teamleider teamleidster inkoop inkoper adviseur beleidsmedewerker "
        "stagiair algemeen directie directiesecretaresse secretaresse van afdeling afdelingshoofd bestuurder "
        "eigenaar oprichter financien financieel commercieel verkoop verkoper zaakvoerder voorzitter raad "
        "bestuur plaatsvervangend adjunct boekhouder juridisch projectleider gegevens communicatie kwaliteit "
        "logistiek productie onderhoud facilitair klantenservice binnendienst buitendienst accountmanager "
        "coordinator leidinggevende beheerder systeembeheerder ontwikkelaar onderzoeker personeelszaken "
        "bij ploegleider managementassistent managementassistente statutair aankoop",
    ),
    "de": _words(
        "leiter leiterin leitung einkauf einkaeufer einkaeuferin geschaeftsfuehrer geschaeftsfuehrerin "
        "geschaeftsfuehrung vorstand vorsitzender prokurist prokuristin sachbearbeiter sachbearbeiterin "
        "referent referentin werkstudent werkstudentin praktikant praktikantin abteilungsleiter "
        "bereichsleiter gruppenleiter teamleiter der des und fuer im stellvertretender stellvertretende "
        "vertrieb verkauf finanzen buchhaltung rechnungswesen entwicklung entwickler berater beraterin "
        "mitarbeiter mitarbeiterin kaufmann kauffrau kaufmaennischer technischer assistentin assistenz "
        "sekretaerin inhaber inhaberin gruender gruenderin direktor direktorin informatik edv "
        "systemadministrator projektleiter projektmanager produktmanager spezialist datenschutz recht "
        "rechtsanwalt beschaffung logistik qualitaet produktion fertigung werk betrieb aufsichtsrat "
        "gesellschafter personal ingenieurin einkauf",
    ),
    "fr": _words(
        "directrice responsable achats achat acheteur acheteuse chef des du la le et informatique financier "
        "financiere stagiaire pdg dg dsi daf drh adjoint adjointe generale gerant gerante fondateur "
        "fondatrice presidente charge chargee equipe projet produit ressources humaines juriste comptable "
        "comptabilite controleur gestion conseiller conseillere commerciale ventes vente developpeur "
        "developpeuse technicien technicienne technique systemes reseau securite donnees qualite logistique "
        "associe associee assistante secretaire alternant alternante apprenti apprentie ingenieure "
        "au aux affaires client",
    ),
}
_LANG_SHARED: dict[str, dict[str, float]] = {
    # words two languages share count half for each
    "directeur": {"nl": 0.5, "fr": 0.5},
    "ingenieur": {"de": 0.5, "fr": 0.5},
    "de": {"nl": 0.3, "fr": 0.3},
    "manager": {"en": 0.5},
    "sales": {"en": 0.5},
    "marketing": {"en": 0.3},
    "finance": {"en": 0.5, "fr": 0.5},
    "consultant": {"en": 0.4, "fr": 0.4, "nl": 0.4},
    "specialist": {"en": 0.5, "nl": 0.5},
    "project": {"en": 0.5, "nl": 0.5},
    "assistant": {"en": 0.5, "fr": 0.5},
    "president": {"en": 0.5, "fr": 0.5},
    "partner": {"en": 0.5, "de": 0.3, "nl": 0.3},
    "intern": {"en": 0.5, "nl": 0.3},
    "trainee": {"en": 0.5, "nl": 0.3, "de": 0.3},
    "service": {"en": 0.5, "fr": 0.5},
    "controller": {"en": 0.3, "de": 0.3, "nl": 0.3},
    "ict": {"nl": 0.5},
    "interim": {"nl": 0.3},
}
_LANG_STEMS = {
    # compounds: a token containing one of these stems is evidence for the language
    "de": (
        "leiter",
        "leitung",
        "einkauf",
        "vertrieb",
        "geschaeftsf",
        "vorstand",
        "sachbearbeit",
        "referent",
        "mitarbeiter",
        "entwickl",
        "beschaff",
        "abteilung",
        "stellvertret",
        "sekretaer",
        "spezialist",
        "praktikant",
        "werkstudent",
        "vorsitz",
        "verantwortlich",
        "kaufm",
        "fuehr",
        "buchhalt",
    ),
    "nl": (
        "medewerk",
        "inkoop",
        "leider",
        "hoofd",
        "beleids",
        "secretaresse",
        "beheer",
        "afdeling",
        "directeur",
        "adviseur",
    ),
}
_ACCENT_LANG = {
    "é": "fr",
    "è": "fr",
    "ê": "fr",
    "à": "fr",
    "ç": "fr",
    "ô": "fr",
    "î": "fr",
    "û": "fr",
    "ä": "de",
    "ü": "de",
    "ß": "de",
    "ë": "nl",
    "ï": "nl",
}


def _accent_votes(raw: str) -> tuple[str, ...]:
    """Languages hinted by accented letters in the raw title (they are gone after normalisation)."""
    return tuple(sorted(_ACCENT_LANG[ch] for ch in raw.lower() if ch in _ACCENT_LANG))


def _language(accents: tuple[str, ...], tokens: list[str]) -> str:
    score = {"en": 0.0, "nl": 0.0, "de": 0.0, "fr": 0.0}
    for lang in accents:
        score[lang] += 1.0
    for tok in tokens:
        shared = _LANG_SHARED.get(tok)
        if shared:
            for lang, w in shared.items():
                score[lang] += w
            continue
        hit = False
        for lang, words in _LANG_WORDS.items():
            if tok in words:
                score[lang] += 1.0
                hit = True
        if not hit and len(tok) > 7:
            for lang, stems in _LANG_STEMS.items():
                if any(s in tok for s in stems):
                    score[lang] += 1.0
    best = max(score.values())
    if best <= 0:
        return "unknown"
    winners = [lang for lang, s in score.items() if s == best]
    return winners[0] if len(winners) == 1 else "unknown"


# ------------------------------------------------------------------------------------------------------ parse


def _consume(text: str, start: int, end: int) -> str:
    return text[:start] + " " * (end - start) + text[end:]


def _function(norm: str, role_functions: list[tuple[int, str]]) -> str:
    found: list[tuple[int, str]] = []
    text = norm
    for pattern, function, gate in _DEPT_RULES:
        if not _passes(gate, text):
            continue
        for m in list(pattern.finditer(text)):
            found.append((m.start(), function))
            text = _consume(text, m.start(), m.end())
    if found:
        functions = {f for _, f in found}
        for f in _TIER_A:
            if f in functions:
                return f
        tier_b = sorted((pos, f) for pos, f in found if f in _TIER_B)
        if tier_b:
            return tier_b[0][1]
        if "operations" in functions:
            return "operations"
    for pattern, function, _ in _WEAK_DEPT:
        if pattern.search(text):
            return function
    if "executive" in {f for _, f in found}:
        return "executive"
    # C-level acronyms ("CPO"), then executive roles (CEO, MD, owner)
    specific = sorted((pos, f) for pos, f in role_functions if f != "executive")
    if specific:
        return specific[0][1]
    if role_functions:
        return "executive"
    for pattern, function in _ROLE_FUNCTION:
        if pattern.search(norm):
            return function
    return "other"


# Joined roles: "VP & General Counsel", "Trader and Analyst". Only "&", "+" and the word "and" (en/de/nl/fr) join
# roles: commas, slashes and dashes are layout ("Director, Sales"), and punctuation never changes a parse.
_ROLE_JOIN = re.compile(r"\s*(?:&|\+|\band\b|\bund\b|\ben\b|\bet\b)\s*", re.IGNORECASE)
_ASSISTANT_TO = re.compile(
    r"\b(?:assistant|assistent\w*|secretary|secretaresse|sekretaer\w*)\s+(?:to|of|for)\b"
)


@lru_cache(maxsize=200_000)
def _parse_clean(raw: str) -> ParsedTitle:
    norm = normalise_title(raw)
    if not norm:
        return _MISSING
    # titles that differ only in case, punctuation or abbreviation share one parse
    whole = _parse_normalised(norm, _accent_votes(raw))
    return _joined_roles(raw, norm, whole)


def _joined_roles(raw: str, norm: str, whole: ParsedTitle) -> ParsedTitle:
    """A person holding two roles at once ("VP & Asst Gen Cnsl", "Director & Gen Cnsl Asst") has the seniority
    of the higher one. Applies only when every joined part names a role on its own, so department lists
    ("Sales & Marketing Director", "Head of Data & Analytics") are read as one title, and never to an
    assistant TO someone ("Assistant to the CEO & Chairman")."""
    parts = [p for p in _ROLE_JOIN.split(raw) if p.strip()]
    if len(parts) < 2 or _ASSISTANT_TO.search(norm):
        return whole
    parsed = []
    for part in parts:
        part_norm = normalise_title(part)
        if not part_norm:
            return whole
        one = _parse_normalised(part_norm, _accent_votes(part))
        if one.seniority_level == 0:
            return whole
        parsed.append(one)
    best = max(parsed, key=lambda p: p.seniority_level)
    if best.seniority_level <= whole.seniority_level:
        return whole
    return ParsedTitle(
        seniority_level=best.seniority_level,
        function=whole.function if whole.function != "other" else best.function,
        is_missing=False,
        is_assistant=all(p.is_assistant for p in parsed),
        is_technical=best.is_technical,
        language=whole.language,
        seniority_cue=best.seniority_cue,
    )


@lru_cache(maxsize=200_000)
def _parse_normalised(norm: str, accents: tuple[str, ...]) -> ParsedTitle:
    tokens = norm.split()
    text = norm
    cues: list[tuple[int, int, str, str]] = []  # (level, position, tag, cue text)
    role_functions: list[tuple[int, str]] = []
    for pattern, level, function, tag, gate in _ROLE_RULES:
        if not _passes(gate, text):
            continue
        for m in list(pattern.finditer(text)):
            cue = m.group(0)
            if cue == "cpo" and re.search(r"\bprodu", norm):
                function = "product"
            cues.append((level, m.start(), tag, cue))
            if function is not None:
                role_functions.append((m.start(), function))
            text = _consume(text, m.start(), m.end())

    entry = [c for c in cues if c[2] == "entry"]
    assistants = [c for c in cues if c[2] == "assistant"]
    strong = [c for c in cues if c[2] not in ("entry", "assistant", "weak", "skip")]
    weak = [c for c in cues if c[2] == "weak"]

    # "Assistant Manager" / "Associate Director": the modifier sits before a stronger role cue and is
    # not followed by "to/of/der/de..." (which would make it an assistant TO someone)
    lower = 0
    role_assistants = []
    for level, pos, tag, cue in assistants:
        after = norm[pos + len(cue) :].split()
        directly_to = bool(after) and after[0] in _TO_WORDS
        later_role = any(p > pos and lv >= 2 for lv, p, _, _ in strong)
        if later_role and not directly_to and _MODIFIER_BEFORE.fullmatch(cue):
            lower += 1
        else:
            role_assistants.append((level, pos, tag, cue))
    for _level, pos, _, cue in weak:
        if cue == "associate" and any(p > pos and lv >= 2 for lv, p, _, _ in strong):
            lower += 1
    if _LOWER.search(norm):
        lower += 1
    lower = min(lower, 1)

    is_assistant = bool(role_assistants) and not entry
    if entry:
        level, cue = 1, entry[0][3]
    elif role_assistants:
        level, cue = 1, role_assistants[0][3]
    elif strong:
        top = max(strong, key=lambda c: (c[0], -c[1]))
        level, cue = top[0], top[3]
    elif weak:
        level, cue = weak[0][0], weak[0][3]
    else:
        level, cue = 0, ""

    # "medewerker"/"Mitarbeiter" alone is entry level; with a department it is a professional
    if level == 2 and len(tokens) == 1 and cue in _ALONE_ENTRY:
        level = 1

    if not entry:
        if _JUNIOR.search(norm):
            level, cue = 1, "junior"
        elif _SENIOR.search(norm) and level <= 2:
            level = 2 if level == 1 else 3
            cue = ("senior " + cue).strip()
        elif lower and level >= 2:
            level -= 1

    func = _function(norm, role_functions)
    is_technical = (
        bool(func in _TECH_FUNCTIONS and _TECH_ROLE.search(norm)) and not is_assistant and not entry
    )
    return ParsedTitle(
        seniority_level=int(level),
        function=func,
        is_missing=False,
        is_assistant=is_assistant,
        is_technical=is_technical,
        language=_language(accents, tokens),
        seniority_cue=cue,
    )


def parse_title(title: str | None) -> ParsedTitle:
    """Parse one job title. None, NaN, "" and whitespace give `is_missing=True`, level 0, function "other"."""
    if not isinstance(title, str):
        if title is None or title is pd.NA or (isinstance(title, float) and title != title):
            return _MISSING
        raise TypeError(f"title must be a string or None, got {type(title).__name__}: {title!r}")
    if not title.strip():
        return _MISSING
    return _parse_clean(title)


_COLUMNS = (
    "seniority_level",
    "function",
    "is_missing",
    "is_assistant",
    "is_technical",
    "language",
    "seniority_cue",
)


def parse_titles(titles: pd.Series) -> pd.DataFrame:
    """Parse a column of titles; each distinct title is parsed once, then mapped back.

    Returns a DataFrame on the input's index with columns seniority_level (int8), function (categorical over
    FUNCTIONS), is_missing, is_assistant, is_technical (bool), language (categorical over LANGUAGES) and
    seniority_cue (categorical). Missing values (None/NaN/NA/blank) give is_missing=True.
    """
    if not isinstance(titles, pd.Series):
        raise TypeError(f"parse_titles expects a pandas Series, got {type(titles).__name__}")
    codes, uniques = pd.factorize(titles, use_na_sentinel=True)
    bad = [u for u in uniques if not isinstance(u, str)]
    if bad:
        label = titles.index[int(np.flatnonzero(titles.map(lambda v: v is bad[0]).to_numpy())[0])]
        name = titles.name if titles.name is not None else "title"
        raise ValueError(
            f"{name}: row {label!r}: expected a text title, got {type(bad[0]).__name__} {bad[0]!r}"
        )
    parsed = [parse_title(t) for t in uniques] + [_MISSING]  # last slot serves code -1 (missing)
    codes = np.where(codes < 0, len(parsed) - 1, codes)
    table: dict[str, Any] = {name: [getattr(p, name) for p in parsed] for name in _COLUMNS}
    out = {
        "seniority_level": np.asarray(table["seniority_level"], dtype=np.int8)[codes],
        "function": pd.Categorical.from_codes(
            np.asarray([FUNCTIONS.index(f) for f in table["function"]], dtype=np.int8)[codes], FUNCTIONS
        ),
        "is_missing": np.asarray(table["is_missing"], dtype=bool)[codes],
        "is_assistant": np.asarray(table["is_assistant"], dtype=bool)[codes],
        "is_technical": np.asarray(table["is_technical"], dtype=bool)[codes],
        "language": pd.Categorical.from_codes(
            np.asarray([LANGUAGES.index(x) for x in table["language"]], dtype=np.int8)[codes], LANGUAGES
        ),
        # categorical: a handful of distinct cues over millions of rows
        "seniority_cue": pd.Categorical(table["seniority_cue"]).take(codes),
    }
    return pd.DataFrame(out, index=titles.index)
