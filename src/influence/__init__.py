"""influence: who really decides a B2B deal.

Predicts every person's hidden influence and DMU profile from deal-history metadata (meetings, e-mail
metadata, titles, digital signals), explains why, and shows which parts of the DMU a seller has not engaged.
Nothing happens at import time; see the stage modules (`contract`, `data`, `generate`, `features`, ...).
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
