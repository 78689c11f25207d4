"""The scoring API (FastAPI): `create_app(settings=None)`, served by `influence serve`.

Routes: `POST /v1/deals/score`, `POST /v1/people/score`, `GET /v1/model`, `GET /healthz`, `GET /readyz`
(docs/api.md). Importing this package loads FastAPI but no model: the model is loaded when the app starts.
"""

from influence.api._app import create_app
from influence.api._convert import deal_request_from_dataset
from influence.api._settings import ApiSettings

__all__ = ["ApiSettings", "create_app", "deal_request_from_dataset"]
