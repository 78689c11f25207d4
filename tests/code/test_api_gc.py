"""While the API serves, what it loaded at start-up is frozen out of the cyclic garbage collector and the young
generation is collected less often (influence.api._app, lifespan); shutting down restores both."""

from __future__ import annotations

import gc
import warnings

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from influence.api import ApiSettings, create_app


def test_the_lifespan_freezes_start_up_objects_and_restores_the_collector(unit_bundle) -> None:
    before_threshold = gc.get_threshold()
    before_frozen = gc.get_freeze_count()
    with TestClient(create_app(ApiSettings(model="unused"), bundle=unit_bundle)) as client:
        assert gc.get_freeze_count() > before_frozen
        assert gc.get_threshold()[0] >= 10_000 and gc.get_threshold()[1:] == before_threshold[1:]
        # a full collection no longer walks the frozen objects
        frozen = gc.get_freeze_count()
        assert frozen > 10_000
        gc.collect()
        assert gc.get_freeze_count() == frozen
        assert client.get("/readyz").status_code == 200
    assert gc.get_threshold() == before_threshold
    assert gc.get_freeze_count() == 0
