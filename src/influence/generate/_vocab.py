"""Real-world vocabulary for the synthetic generator: names, companies and job titles in EN/NL/DE/FR.

Titles are built from the level patterns people actually use in each language ("Hoofd ICT", "Leiterin Einkauf",
"Directeur financier", "Sr. Data Engineer") so that the title parser can be measured against the true level.
Everything here is plain data; the lookup tables are built lazily (nothing happens at import time).
"""

from __future__ import annotations

from functools import cache

from influence.contract import FUNCTIONS as FUNCTIONS  # re-exported: the generator's departments

COUNTRY_LANGUAGES: dict[str, tuple[str, ...]] = {
    "NL": ("nl",),
    "BE": ("nl", "fr"),
    "DE": ("de",),
    "AT": ("de",),
    "CH": ("de", "fr"),
    "FR": ("fr",),
    "LU": ("fr", "de"),
    "GB": ("en",),
    "US": ("en",),
    "IE": ("en",),
}
COUNTRY_TLD: dict[str, str] = {
    "NL": "nl",
    "BE": "be",
    "DE": "de",
    "AT": "at",
    "CH": "ch",
    "FR": "fr",
    "LU": "lu",
    "GB": "co.uk",
    "US": "com",
    "IE": "ie",
}
COUNTRY_CURRENCY: dict[str, str] = {"CH": "CHF", "GB": "GBP", "US": "USD"}
LEGAL_FORMS: dict[str, tuple[str, ...]] = {
    "NL": ("B.V.", "N.V.", "Groep B.V.", "B.V."),
    "BE": ("NV", "BV", "SA", "SRL"),
    "DE": ("GmbH", "AG", "GmbH & Co. KG", "SE", "GmbH"),
    "AT": ("GmbH", "AG", "GesmbH"),
    "CH": ("AG", "SA", "GmbH"),
    "FR": ("SA", "SAS", "SARL", "SAS"),
    "LU": ("S.A.", "S.à r.l."),
    "GB": ("Ltd", "plc", "Group Ltd", "Ltd"),
    "US": ("Inc.", "LLC", "Corp.", "Inc."),
    "IE": ("Ltd", "DAC", "Ltd"),
}

INDUSTRIES: dict[str, dict[str, str]] = {
    "Logistics": {"en": "Logistics", "nl": "Logistiek", "de": "Logistik", "fr": "Logistique"},
    "Manufacturing": {"en": "Manufacturing", "nl": "Techniek", "de": "Maschinenbau", "fr": "Industries"},
    "Insurance": {"en": "Insurance", "nl": "Verzekeringen", "de": "Versicherung", "fr": "Assurances"},
    "Energy": {"en": "Energy", "nl": "Energie", "de": "Energie", "fr": "Énergie"},
    "Healthcare": {"en": "Health", "nl": "Zorg", "de": "Medizintechnik", "fr": "Santé"},
    "Retail": {"en": "Retail", "nl": "Retail", "de": "Handel", "fr": "Distribution"},
    "Construction": {"en": "Construction", "nl": "Bouw", "de": "Bau", "fr": "Bâtiment"},
    "Chemicals": {"en": "Chemicals", "nl": "Chemie", "de": "Chemie", "fr": "Chimie"},
    "Financial Services": {"en": "Financial", "nl": "Financiële Diensten", "de": "Finanz", "fr": "Finance"},
    "Food & Beverage": {"en": "Foods", "nl": "Voedingsmiddelen", "de": "Lebensmittel", "fr": "Alimentaire"},
    "Telecommunications": {"en": "Telecom", "nl": "Telecom", "de": "Telekom", "fr": "Télécom"},
    "Software": {"en": "Software", "nl": "Software", "de": "Software", "fr": "Logiciels"},
}

COMPANY_STEMS: dict[str, tuple[str, ...]] = {
    "en": (
        "Harbor",
        "Northfield",
        "Bluestone",
        "Crescent",
        "Summit",
        "Redwood",
        "Oakridge",
        "Brightwater",
        "Ironbridge",
        "Kingsway",
        "Meridian",
        "Silverline",
        "Westbrook",
        "Pinecrest",
        "Highgate",
        "Ashford",
    ),
    "nl": (
        "Van Dijk",
        "De Vries",
        "Noordzee",
        "Oranje",
        "Polder",
        "Zuidas",
        "Delta",
        "Rijnmond",
        "Hollandse",
        "Veluwe",
        "IJssel",
        "Dommel",
        "Kempen",
        "Waterland",
        "Brabantse",
        "Vlaamse",
    ),
    "de": (
        "Müller",
        "Schmidt",
        "Rhein",
        "Alpen",
        "Nord",
        "Bayern",
        "Elbe",
        "Weser",
        "Schwarzwald",
        "Hansa",
        "Donau",
        "Brandt",
        "Keller",
        "Isar",
        "Bodensee",
        "Harz",
    ),
    "fr": (
        "Lemaire",
        "Dubois",
        "Rhône",
        "Atlantique",
        "Provence",
        "Loire",
        "Méditerranée",
        "Bretagne",
        "Lumière",
        "Alpes",
        "Garonne",
        "Vauban",
        "Moreau",
        "Picardie",
        "Seine",
        "Girard",
    ),
}

FIRST_NAMES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # (male, female)
    "en": (
        (
            "James",
            "Oliver",
            "Michael",
            "David",
            "Daniel",
            "Thomas",
            "Liam",
            "Ryan",
            "Andrew",
            "Mark",
            "Sean",
            "Patrick",
            "Christopher",
            "Ethan",
            "Samuel",
            "Conor",
        ),
        (
            "Emma",
            "Olivia",
            "Sarah",
            "Emily",
            "Jessica",
            "Laura",
            "Hannah",
            "Sophie",
            "Rachel",
            "Megan",
            "Aoife",
            "Chloe",
            "Lucy",
            "Grace",
            "Amy",
            "Kate",
        ),
    ),
    "nl": (
        (
            "Jan",
            "Pieter",
            "Bram",
            "Thijs",
            "Sander",
            "Joost",
            "Maarten",
            "Ruben",
            "Daan",
            "Lars",
            "Wouter",
            "Bas",
            "Koen",
            "Stijn",
            "Jeroen",
            "Tom",
        ),
        (
            "Anouk",
            "Sanne",
            "Lotte",
            "Femke",
            "Marieke",
            "Eva",
            "Lieke",
            "Inge",
            "Annelies",
            "Fleur",
            "Esther",
            "Iris",
            "Noor",
            "Sofie",
            "Lisa",
            "Marloes",
        ),
    ),
    "de": (
        (
            "Thomas",
            "Michael",
            "Andreas",
            "Stefan",
            "Markus",
            "Jürgen",
            "Florian",
            "Tobias",
            "Jan",
            "Lukas",
            "Matthias",
            "Christian",
            "Sebastian",
            "Felix",
            "Jonas",
            "Uwe",
        ),
        (
            "Anna",
            "Julia",
            "Katharina",
            "Sabine",
            "Claudia",
            "Lena",
            "Sarah",
            "Laura",
            "Petra",
            "Stefanie",
            "Johanna",
            "Birgit",
            "Miriam",
            "Lea",
            "Nina",
            "Ursula",
        ),
    ),
    "fr": (
        (
            "Jean",
            "Pierre",
            "Nicolas",
            "Julien",
            "Thomas",
            "Antoine",
            "Mathieu",
            "Laurent",
            "François",
            "Olivier",
            "Sébastien",
            "Guillaume",
            "Hugo",
            "Louis",
            "Éric",
            "Benoît",
        ),
        (
            "Marie",
            "Camille",
            "Sophie",
            "Julie",
            "Céline",
            "Claire",
            "Isabelle",
            "Nathalie",
            "Émilie",
            "Aurélie",
            "Chloé",
            "Manon",
            "Léa",
            "Hélène",
            "Sandrine",
            "Élodie",
        ),
    ),
}
LAST_NAMES: dict[str, tuple[str, ...]] = {
    "en": (
        "Smith",
        "Johnson",
        "Brown",
        "Taylor",
        "Walker",
        "Wilson",
        "Murphy",
        "O'Brien",
        "Kelly",
        "Davies",
        "Evans",
        "Thompson",
        "Clarke",
        "Hughes",
        "Bennett",
        "Ryan",
        "Miller",
        "Campbell",
        "Carter",
        "Byrne",
    ),
    "nl": (
        "de Jong",
        "Jansen",
        "de Vries",
        "van den Berg",
        "van Dijk",
        "Bakker",
        "Visser",
        "Smit",
        "Meijer",
        "de Boer",
        "Mulder",
        "de Groot",
        "Bos",
        "Vos",
        "Peters",
        "Hendriks",
        "van Leeuwen",
        "Dekker",
        "Claes",
        "Peeters",
    ),
    "de": (
        "Müller",
        "Schmidt",
        "Schneider",
        "Fischer",
        "Weber",
        "Meyer",
        "Wagner",
        "Becker",
        "Schulz",
        "Hoffmann",
        "Koch",
        "Richter",
        "Klein",
        "Wolf",
        "Schröder",
        "Neumann",
        "Schwarz",
        "Zimmermann",
        "Huber",
        "Gruber",
    ),
    "fr": (
        "Martin",
        "Bernard",
        "Dubois",
        "Thomas",
        "Robert",
        "Richard",
        "Petit",
        "Durand",
        "Leroy",
        "Moreau",
        "Simon",
        "Laurent",
        "Lefebvre",
        "Michel",
        "Garcia",
        "Fontaine",
        "Rousseau",
        "Girard",
        "Dupont",
        "Lambert",
    ),
}

# --- titles -----------------------------------------------------------------------------------------------
# Per language and function: department names (as used inside titles) and professional role nouns.
# Role nouns for DE/FR are (male, female) pairs.

_EN_DEPT = {
    "executive": ("Strategy", "Business Operations"),
    "finance": ("Finance", "Finance & Control", "Finance"),
    "procurement": ("Procurement", "Purchasing", "Sourcing", "Procurement"),
    "it": ("IT", "IT Infrastructure", "ICT", "IT"),
    "engineering": ("Engineering", "Software Development", "R&D", "Engineering"),
    "operations": ("Operations", "Supply Chain", "Logistics"),
    "sales": ("Sales", "Commercial", "Sales"),
    "marketing": ("Marketing", "Digital Marketing", "Marketing"),
    "hr": ("HR", "People", "Human Resources"),
    "legal": ("Legal", "Legal & Compliance"),
    "data": ("Data", "Data & Analytics", "BI"),
    "security": ("Security", "Information Security", "IT Security"),
    "product": ("Product", "Product Management"),
}
_EN_ABBR = {
    "engineering": "Eng.",
    "operations": "Ops",
    "marketing": "Mktg",
    "finance": "Fin.",
    "sales": "Sales",
    "it": "IT",
    "product": "Product",
    "hr": "HR",
    "data": "Data",
    "security": "Sec.",
    "procurement": "Purch.",
    "legal": "Legal",
    "executive": "Strategy",
}
_EN_ROLE = {
    "executive": ("Executive Assistant", "Management Assistant", "Strategy Analyst"),
    "finance": ("Financial Analyst", "Accountant", "Financial Controller", "Internal Auditor", "Controller"),
    "procurement": (
        "Buyer",
        "Procurement Specialist",
        "Purchasing Agent",
        "Category Buyer",
        "Sourcing Specialist",
    ),
    "it": ("System Administrator", "Systems Engineer", "IT Specialist", "Network Engineer", "Cloud Engineer"),
    "engineering": ("Software Engineer", "Developer", "DevOps Engineer", "Backend Developer", "Engineer"),
    "operations": (
        "Operations Analyst",
        "Planner",
        "Logistics Coordinator",
        "Process Engineer",
        "Supply Chain Analyst",
    ),
    "sales": (
        "Account Manager",
        "Sales Representative",
        "Business Development Manager Middle East",
        "Inside Sales Rep",
        "Sales Engineer",
    ),
    "marketing": ("Marketing Specialist", "Content Marketer", "Marketing Coordinator", "SEO Specialist"),
    "hr": ("HR Advisor", "Recruiter", "HR Business Partner", "Payroll Specialist"),
    "legal": ("Legal Counsel", "Paralegal", "Compliance Officer", "Corporate Lawyer"),
    "data": ("Data Engineer", "Data Analyst", "Data Scientist", "BI Developer", "Analytics Engineer"),
    "security": ("Security Analyst", "Security Engineer", "SOC Analyst", "Information Security Officer"),
    "product": ("Product Owner", "Business Analyst", "UX Designer", "Product Analyst"),
}
_EN_CLEVEL = {
    "executive": ("CEO", "Chief Executive Officer", "Managing Director", "President", "Founder & CEO", "COO"),
    "finance": ("CFO", "Chief Financial Officer", "CFO"),
    "procurement": ("Chief Procurement Officer", "CPO"),
    "it": ("CIO", "Chief Information Officer", "CTO", "CIO"),
    "engineering": ("CTO", "Chief Technology Officer"),
    "operations": ("COO", "Chief Operating Officer"),
    "sales": ("CRO", "Chief Revenue Officer", "Chief Commercial Officer", "CCO"),
    "marketing": ("CMO", "Chief Marketing Officer"),
    "hr": ("CHRO", "Chief People Officer", "Chief Human Resources Officer"),
    "legal": ("General Counsel", "Chief Legal Officer"),
    "data": ("CDO", "Chief Data Officer", "Chief Data & Analytics Officer"),
    "security": ("CISO", "Chief Information Security Officer"),
    "product": ("CPO", "Chief Product Officer"),
}
_EN_LEVEL = {
    1: (
        "Junior {role}",
        "Junior {role}",
        "{role} Intern",
        "Trainee {role}",
        "{dept} Intern",
        "Graduate {role}",
    ),
    2: ("{role}", "{role}", "{role}", "{dept} Specialist", "{dept} Officer"),
    3: (
        "Senior {role}",
        "Sr. {role}",
        "Sr {role}",
        "Lead {role}",
        "Team Lead {dept}",
        "{dept} Team Lead",
        "Principal {role}",
        "Senior {role}",
    ),
    4: (
        "{dept} Manager",
        "Head of {dept}",
        "{dept} Mgr",
        "Manager {dept}",
        "Head of {dept} EMEA",
        "{dept} Manager Benelux",
        "Head of {dept}",
    ),
    5: (
        "Director of {dept}",
        "{dept} Director",
        "VP {dept}",
        "VP of {dept}",
        "Vice President {dept}",
        "Sr. Director {dept}",
        "VP {abbr}",
        "Dir. {dept}",
    ),
}

_NL_DEPT = {  # (as in "Hoofd ICT", as in "Medewerker inkoop")
    "executive": (("Strategie", "strategie"), ("Bedrijfsvoering", "bedrijfsvoering")),
    "finance": (("Financiën", "financiën"), ("Finance", "finance"), ("Control", "control")),
    "procurement": (("Inkoop", "inkoop"),),
    "it": (("ICT", "ICT"), ("IT", "IT"), ("Informatievoorziening", "informatievoorziening")),
    "engineering": (("Ontwikkeling", "ontwikkeling"), ("Engineering", "engineering")),
    "operations": (
        ("Operations", "operations"),
        ("Logistiek", "logistiek"),
        ("Bedrijfsbureau", "bedrijfsbureau"),
    ),
    "sales": (("Verkoop", "verkoop"), ("Sales", "sales")),
    "marketing": (("Marketing", "marketing"), ("Marketing & Communicatie", "marketing en communicatie")),
    "hr": (("HR", "HR"), ("P&O", "P&O"), ("Personeelszaken", "personeelszaken")),
    "legal": (("Juridische Zaken", "juridische zaken"),),
    "data": (("Data", "data"), ("BI", "BI"), ("Data & Analytics", "data & analytics")),
    "security": (("Informatiebeveiliging", "informatiebeveiliging"), ("Security", "security")),
    "product": (("Product", "product"), ("Productmanagement", "productmanagement")),
}
_NL_ROLE = {
    "executive": ("Directiesecretaresse", "Managementassistent", "Bestuurssecretaris"),
    "finance": (
        "Financieel administrateur",
        "Controller",
        "Business controller",
        "Financieel analist",
        "Internal Auditor",
    ),
    "procurement": ("Inkoper", "Inkoopadviseur", "Category inkoper", "Adviseur inkoop"),
    "it": ("Systeembeheerder", "ICT-beheerder", "Netwerkbeheerder", "Applicatiebeheerder", "IT-specialist"),
    "engineering": ("Software-ontwikkelaar", "Ontwikkelaar", "Software Engineer", "DevOps engineer"),
    "operations": ("Planner", "Procesanalist", "Werkvoorbereider", "Logistiek coördinator"),
    "sales": ("Accountmanager", "Verkoper", "Binnendienst medewerker", "Business Development Manager"),
    "marketing": ("Marketeer", "Online marketeer", "Communicatieadviseur"),
    "hr": ("HR-adviseur", "Recruiter", "P&O adviseur", "Salarisadministrateur"),
    "legal": ("Jurist", "Bedrijfsjurist", "Compliance officer"),
    "data": ("Data-analist", "Data engineer", "Data scientist", "BI-specialist"),
    "security": ("Security officer", "Informatiebeveiliger", "Security analist"),
    "product": ("Product owner", "Business analist", "UX-ontwerper"),
}
_NL_CLEVEL = {
    "executive": (
        "Algemeen directeur",
        "Algemeen Directeur",
        "CEO",
        "Directeur-eigenaar",
        "Voorzitter Raad van Bestuur",
        "Statutair directeur",
        "Bestuurder",
    ),
    "finance": ("CFO", "Lid Raad van Bestuur", "CFO"),
}
_NL_LEVEL = {
    1: ("Junior {role}", "Stagiair {dept_l}", "Medewerker", "Trainee {role}", "Assistent {dept_l}"),
    2: ("{role}", "{role}", "Medewerker {dept_l}", "Adviseur {dept_l}", "{role}"),
    3: (
        "Senior {role}",
        "Sr. {role}",
        "Teamleider {dept}",
        "Teamlead {dept}",
        "Coördinator {dept_l}",
        "Teamleider {dept}",
    ),
    4: (
        "Hoofd {dept}",
        "Manager {dept}",
        "Afdelingshoofd {dept}",
        "Hoofd {dept} a.i.",
        "{dept} manager",
        "Hoofd {dept}",
    ),
    5: ("Directeur {dept}", "Director {dept}", "Directeur {dept} a.i.", "Directeur {dept}"),
}

_DE_DEPT = {
    "executive": ("Unternehmensentwicklung", "Strategie"),
    "finance": ("Finanzen", "Controlling", "Rechnungswesen"),
    "procurement": ("Einkauf", "Beschaffung", "Einkauf"),
    "it": ("IT", "Informationstechnologie", "IT"),
    "engineering": ("Entwicklung", "Softwareentwicklung"),
    "operations": ("Betrieb", "Logistik", "Produktion"),
    "sales": ("Vertrieb",),
    "marketing": ("Marketing",),
    "hr": ("Personal", "HR"),
    "legal": ("Recht", "Rechtsabteilung"),
    "data": ("Data & Analytics", "Business Intelligence"),
    "security": ("IT-Sicherheit", "Informationssicherheit"),
    "product": ("Produktmanagement",),
}
_DE_ROLE = {
    "executive": (
        ("Assistent der Geschäftsführung", "Assistentin der Geschäftsführung"),
        ("Vorstandsreferent", "Vorstandsreferentin"),
    ),
    "finance": (
        ("Buchhalter", "Buchhalterin"),
        ("Controller", "Controllerin"),
        ("Finanzanalyst", "Finanzanalystin"),
        ("Interner Revisor", "Interne Revisorin"),
    ),
    "procurement": (
        ("Einkäufer", "Einkäuferin"),
        ("Strategischer Einkäufer", "Strategische Einkäuferin"),
        ("Sachbearbeiter Einkauf", "Sachbearbeiterin Einkauf"),
    ),
    "it": (
        ("Systemadministrator", "Systemadministratorin"),
        ("IT-Administrator", "IT-Administratorin"),
        ("Netzwerkadministrator", "Netzwerkadministratorin"),
        ("Fachinformatiker", "Fachinformatikerin"),
    ),
    "engineering": (
        ("Softwareentwickler", "Softwareentwicklerin"),
        ("Entwickler", "Entwicklerin"),
        ("Ingenieur", "Ingenieurin"),
        ("DevOps Engineer", "DevOps Engineer"),
    ),
    "operations": (
        ("Disponent", "Disponentin"),
        ("Logistiker", "Logistikerin"),
        ("Produktionsplaner", "Produktionsplanerin"),
    ),
    "sales": (
        ("Vertriebsmitarbeiter", "Vertriebsmitarbeiterin"),
        ("Key Account Manager", "Key Account Managerin"),
        ("Außendienstmitarbeiter", "Außendienstmitarbeiterin"),
    ),
    "marketing": (
        ("Marketingreferent", "Marketingreferentin"),
        ("Online-Marketing-Spezialist", "Online-Marketing-Spezialistin"),
    ),
    "hr": (
        ("Personalreferent", "Personalreferentin"),
        ("Recruiter", "Recruiterin"),
        ("HR Business Partner", "HR Business Partner"),
    ),
    "legal": (
        ("Syndikusrechtsanwalt", "Syndikusrechtsanwältin"),
        ("Jurist", "Juristin"),
        ("Compliance Officer", "Compliance Officer"),
    ),
    "data": (
        ("Datenanalyst", "Datenanalystin"),
        ("Data Engineer", "Data Engineer"),
        ("Data Scientist", "Data Scientist"),
        ("BI-Entwickler", "BI-Entwicklerin"),
    ),
    "security": (
        ("IT-Sicherheitsbeauftragter", "IT-Sicherheitsbeauftragte"),
        ("Security Analyst", "Security Analyst"),
        ("Informationssicherheitsbeauftragter", "Informationssicherheitsbeauftragte"),
    ),
    "product": (
        ("Product Owner", "Product Owner"),
        ("Produktmanager", "Produktmanagerin"),
        ("Business Analyst", "Business Analyst"),
    ),
}
_DE_CLEVEL = {
    "executive": (
        ("Geschäftsführer", "Geschäftsführerin"),
        ("Vorstandsvorsitzender", "Vorstandsvorsitzende"),
        ("CEO", "CEO"),
        ("Geschäftsführender Gesellschafter", "Geschäftsführende Gesellschafterin"),
        ("Geschäftsführer", "Geschäftsführerin"),
    ),
    "finance": (
        ("CFO", "CFO"),
        ("Vorstand Finanzen", "Vorständin Finanzen"),
        ("Kaufmännischer Geschäftsführer", "Kaufmännische Geschäftsführerin"),
    ),
}
_DE_LEVEL = {  # (male, female)
    1: (
        ("Praktikant {dept}", "Praktikantin {dept}"),
        ("Werkstudent {dept}", "Werkstudentin {dept}"),
        ("Junior {role}", "Junior {role}"),
        ("Auszubildender", "Auszubildende"),
        ("Assistenz {dept}", "Assistenz {dept}"),
    ),
    2: (
        ("{role}", "{role}"),
        ("{role}", "{role}"),
        ("Sachbearbeiter {dept}", "Sachbearbeiterin {dept}"),
        ("Referent {dept}", "Referentin {dept}"),
    ),
    3: (
        ("Senior {role}", "Senior {role}"),
        ("Teamleiter {dept}", "Teamleiterin {dept}"),
        ("Gruppenleiter {dept}", "Gruppenleiterin {dept}"),
        ("Lead {role}", "Lead {role}"),
    ),
    4: (
        ("Leiter {dept}", "Leiterin {dept}"),
        ("Abteilungsleiter {dept}", "Abteilungsleiterin {dept}"),
        ("Head of {dept_en}", "Head of {dept_en}"),
        ("Leitung {dept}", "Leitung {dept}"),
        ("Leiter {dept}", "Leiterin {dept}"),
    ),
    5: (
        ("Bereichsleiter {dept}", "Bereichsleiterin {dept}"),
        ("Direktor {dept}", "Direktorin {dept}"),
        ("VP {dept_en}", "VP {dept_en}"),
        ("Bereichsleiter {dept}", "Bereichsleiterin {dept}"),
    ),
}

_FR_DEPT = {  # (noun as in "Responsable achats", adjective as in "Directeur financier" (m, f))
    "executive": ("stratégie", ("de la stratégie", "de la stratégie")),
    "finance": ("comptabilité", ("financier", "financière")),
    "procurement": ("achats", ("des achats", "des achats")),
    "it": ("informatique", ("informatique", "informatique")),
    "engineering": ("R&D", ("technique", "technique")),
    "operations": ("logistique", ("des opérations", "des opérations")),
    "sales": ("commercial", ("commercial", "commerciale")),
    "marketing": ("marketing", ("marketing", "marketing")),
    "hr": ("RH", ("des ressources humaines", "des ressources humaines")),
    "legal": ("juridique", ("juridique", "juridique")),
    "data": ("data", ("des données", "des données")),
    "security": ("sécurité SI", ("de la sécurité", "de la sécurité")),
    "product": ("produit", ("produit", "produit")),
}
_FR_ROLE = {
    "executive": (
        ("Assistant de direction", "Assistante de direction"),
        ("Chargé de mission", "Chargée de mission"),
    ),
    "finance": (
        ("Comptable", "Comptable"),
        ("Contrôleur de gestion", "Contrôleuse de gestion"),
        ("Analyste financier", "Analyste financière"),
        ("Auditeur interne", "Auditrice interne"),
    ),
    "procurement": (
        ("Acheteur", "Acheteuse"),
        ("Acheteur projet", "Acheteuse projet"),
        ("Approvisionneur", "Approvisionneuse"),
    ),
    "it": (
        ("Administrateur systèmes", "Administratrice systèmes"),
        ("Technicien informatique", "Technicienne informatique"),
        ("Ingénieur systèmes", "Ingénieure systèmes"),
        ("Administrateur réseau", "Administratrice réseau"),
    ),
    "engineering": (
        ("Ingénieur logiciel", "Ingénieure logiciel"),
        ("Développeur", "Développeuse"),
        ("Ingénieur DevOps", "Ingénieure DevOps"),
    ),
    "operations": (
        ("Planificateur", "Planificatrice"),
        ("Logisticien", "Logisticienne"),
        ("Analyste des opérations", "Analyste des opérations"),
    ),
    "sales": (
        ("Commercial", "Commerciale"),
        ("Ingénieur commercial", "Ingénieure commerciale"),
        ("Chargé d'affaires", "Chargée d'affaires"),
    ),
    "marketing": (
        ("Chargé de marketing", "Chargée de marketing"),
        ("Chargé de communication", "Chargée de communication"),
    ),
    "hr": (
        ("Chargé de recrutement", "Chargée de recrutement"),
        ("Gestionnaire paie", "Gestionnaire paie"),
        ("Chargé RH", "Chargée RH"),
    ),
    "legal": (
        ("Juriste", "Juriste"),
        ("Juriste d'entreprise", "Juriste d'entreprise"),
        ("Chargé de conformité", "Chargée de conformité"),
    ),
    "data": (
        ("Data analyst", "Data analyst"),
        ("Ingénieur data", "Ingénieure data"),
        ("Data scientist", "Data scientist"),
    ),
    "security": (("Analyste sécurité", "Analyste sécurité"), ("Ingénieur sécurité", "Ingénieure sécurité")),
    "product": (("Product owner", "Product owner"), ("Analyste métier", "Analyste métier")),
}
_FR_CLEVEL = {
    "executive": (
        ("PDG", "PDG"),
        ("Président-directeur général", "Présidente-directrice générale"),
        ("Directeur général", "Directrice générale"),
        ("DG", "DG"),
        ("CEO", "CEO"),
        ("Président", "Présidente"),
    ),
    "finance": (("CFO", "CFO"), ("Membre du directoire", "Membre du directoire")),
}
_FR_LEVEL = {
    1: (
        ("Stagiaire {dept}", "Stagiaire {dept}"),
        ("Alternant {dept}", "Alternante {dept}"),
        ("Assistant {dept}", "Assistante {dept}"),
        ("{role} junior", "{role} junior"),
    ),
    2: (("{role}", "{role}"), ("{role}", "{role}"), ("{role}", "{role}")),
    3: (
        ("{role} senior", "{role} senior"),
        ("{role} confirmé", "{role} confirmée"),
        ("Chef d'équipe {dept}", "Cheffe d'équipe {dept}"),
        ("Responsable d'équipe {dept}", "Responsable d'équipe {dept}"),
    ),
    4: (
        ("Responsable {dept}", "Responsable {dept}"),
        ("Chef de service {dept}", "Cheffe de service {dept}"),
        ("Responsable {dept}", "Responsable {dept}"),
        ("Manager {dept}", "Manager {dept}"),
    ),
    5: (
        ("Directeur {adj}", "Directrice {adj}"),
        ("Directeur {adj}", "Directrice {adj}"),
        ("VP {dept_en}", "VP {dept_en}"),
    ),
}
# Well-known French acronyms, with their level on the shared scale.
_FR_SPECIAL = {("it", 5): ("DSI",), ("hr", 5): ("DRH",), ("finance", 5): ("DAF",), ("security", 4): ("RSSI",)}

SELLER_TITLES: dict[str, tuple[tuple[str, int], ...]] = {
    "account_executive": (
        ("Account Executive", 2),
        ("Senior Account Executive", 3),
        ("Enterprise Account Executive", 3),
    ),
    "solutions_engineer": (
        ("Solutions Engineer", 2),
        ("Senior Solutions Engineer", 3),
        ("Presales Consultant", 2),
        ("Sales Engineer", 2),
    ),
    "sales_manager": (
        ("Sales Manager", 4),
        ("Regional Sales Director", 5),
        ("Head of Sales DACH", 4),
        ("Head of Sales Benelux", 4),
        ("VP Sales EMEA", 5),
    ),
}
PARTNER_FIRMS: tuple[tuple[str, str, str], ...] = (
    # (firm name, domain, language)
    ("Brightpath Consulting", "brightpath-consulting.com", "en"),
    ("Van Dijk & Partners Advies", "vandijk-advies.nl", "nl"),
    ("Kessler Beratung", "kessler-beratung.de", "de"),
    ("Cabinet Lemaire Conseil", "lemaire-conseil.fr", "fr"),
    ("Northgate Advisory", "northgate-advisory.co.uk", "en"),
    ("Alpine IT Consulting", "alpine-itconsulting.ch", "de"),
    ("Quayside Digital", "quayside-digital.ie", "en"),
    ("Meridian Transformation Partners", "meridian-tp.com", "en"),
)
PARTNER_TITLES: tuple[tuple[str, int], ...] = (
    ("Consultant", 2),
    ("Business Consultant", 2),
    ("Senior Consultant", 3),
    ("Managing Consultant", 3),
    ("Senior Adviseur", 3),
    ("Berater", 2),
    ("Senior Berater", 3),
    ("Consultant senior", 3),
    ("Engagement Manager", 4),
    ("Manager", 4),
    ("Principal", 3),
    ("Director", 5),
    ("Associate Partner", 5),
    ("Partner", 6),
    ("Managing Partner", 6),
)

SIGNAL_DETAILS: dict[str, tuple[str, ...]] = {
    "web_visit": (
        "/",
        "/product",
        "/product/integrations",
        "/solutions/data-platform",
        "/customers",
        "/security",
        "/about",
        "/blog/dmu-mapping",
        "/docs/api",
    ),
    "content_download": (
        "whitepaper: total-cost-of-ownership.pdf",
        "ebook: buyers-guide-2026.pdf",
        "datasheet: platform-overview.pdf",
        "report: analyst-market-guide.pdf",
        "checklist: security-questionnaire.pdf",
    ),
    "webinar": (
        "webinar: getting-started",
        "webinar: customer-panel",
        "webinar: roadmap-2026",
        "webinar: integration-deep-dive",
    ),
    "review_site": ("g2.com", "capterra.com", "gartner.com/peer-insights", "trustradius.com"),
    "pricing_page": ("/pricing", "/pricing/enterprise", "/pricing/calculator"),
    "case_study": ("case: logistics-leader", "case: insurer-migration", "case: manufacturer-roi"),
}
SIGNAL_KINDS: tuple[str, ...] = tuple(SIGNAL_DETAILS)


def _fmt(template: str, **values: str) -> str:
    return template.format(**values)


@cache
def title_options(lang: str, function: str, level: int, female: bool) -> tuple[str, ...]:
    """Every clean title a person of this language, function (not 'other') and level (1-6) could carry."""
    g = 1 if female else 0
    out: list[str] = []
    if lang == "en":
        if level == 6:
            return _EN_CLEVEL[function]
        for role in _EN_ROLE[function]:
            for dept in _EN_DEPT[function]:
                for tpl in _EN_LEVEL[level]:
                    out.append(_fmt(tpl, role=role, dept=dept, abbr=_EN_ABBR[function]))
    elif lang == "nl":
        if level == 6:
            return _NL_CLEVEL.get(function, _EN_CLEVEL[function])
        for role in _NL_ROLE[function]:
            for dept, dept_l in _NL_DEPT[function]:
                for tpl in _NL_LEVEL[level]:
                    out.append(_fmt(tpl, role=role, dept=dept, dept_l=dept_l))
    elif lang == "de":
        if level == 6:
            pairs = _DE_CLEVEL.get(function)
            return tuple(p[g] for p in pairs) if pairs else _EN_CLEVEL[function]
        for pair in _DE_ROLE[function]:
            for dept in _DE_DEPT[function]:
                for tpl in _DE_LEVEL[level]:
                    out.append(_fmt(tpl[g], role=pair[g], dept=dept, dept_en=_EN_DEPT[function][0]))
    elif lang == "fr":
        if level == 6:
            pairs = _FR_CLEVEL.get(function)
            return tuple(p[g] for p in pairs) if pairs else _EN_CLEVEL[function]
        noun, adj = _FR_DEPT[function]
        for pair in _FR_ROLE[function]:
            for tpl in _FR_LEVEL[level]:
                out.append(_fmt(tpl[g], role=pair[g], dept=noun, adj=adj[g], dept_en=_EN_DEPT[function][0]))
        out.extend(_FR_SPECIAL.get((function, level), ()) * 3)
    else:
        raise ValueError(f"unknown language {lang!r}")
    return tuple(out)


DEPARTMENT_NAMES: dict[str, dict[str, str]] = {
    # Free-text `people.department` per language (what an HR system or CRM would hold).
    "en": {f: d[0] for f, d in _EN_DEPT.items()} | {"executive": "Executive Board"},
    "nl": {f: d[0][0] for f, d in _NL_DEPT.items()} | {"executive": "Directie"},
    "de": {f: d[0] for f, d in _DE_DEPT.items()} | {"executive": "Geschäftsleitung"},
    "fr": {f: d[0].capitalize() for f, d in _FR_DEPT.items()} | {"executive": "Direction générale"},
}

# Assistants who work for an executive (sent on their behalf); (male, female) per language. All read as an
# assistant TO someone (level 1) by `influence.titles`.
ASSISTANT_TITLES: dict[str, tuple[tuple[str, str], ...]] = {
    "en": (
        ("Executive Assistant", "Executive Assistant"),
        ("Assistant to the CEO", "Assistant to the CEO"),
        ("PA to the Managing Director", "PA to the Managing Director"),
        ("Management Assistant", "Management Assistant"),
        ("Exec. Asst. to the CFO", "Exec. Asst. to the CFO"),
    ),
    "nl": (
        ("Directieassistent", "Directiesecretaresse"),
        ("Managementassistent", "Managementassistente"),
        ("Executive Assistant", "Executive Assistant"),
    ),
    "de": (
        ("Assistent der Geschäftsführung", "Assistentin der Geschäftsführung"),
        ("Vorstandsassistent", "Vorstandsassistentin"),
        ("Sekretär der Geschäftsleitung", "Sekretärin der Geschäftsleitung"),
    ),
    "fr": (
        ("Assistant de direction", "Assistante de direction"),
        ("Secrétaire de direction", "Secrétaire de direction"),
        ("Assistant du PDG", "Assistante du PDG"),
    ),
}
