"""Real-world importers: mail (mbox, .eml), calendar (.ics), Salesforce and HubSpot CSV exports.

Each importer writes (or, for .ics, merges into) a dataset folder in the data contract and returns an
`ImportReport`: records read = imported + rejected, every reject with its file, record, field and reason.
Nothing is imported at package import time; see docs/importers.md for every option and mapping.
"""

from __future__ import annotations

from influence.importers._common import ImporterError, ImportReport, Reject
from influence.importers.calendar import import_ics
from influence.importers.hubspot import import_hubspot
from influence.importers.mail import import_eml, import_mbox
from influence.importers.salesforce import import_salesforce

__all__ = [
    "ImporterError",
    "ImportReport",
    "Reject",
    "import_mbox",
    "import_eml",
    "import_salesforce",
    "import_ics",
    "import_hubspot",
]
