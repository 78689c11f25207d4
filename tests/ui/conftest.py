"""Shared fixtures of the map/report tests: a tiny model trained with the project's own generator and trainer
(fixed seeds), a generated dataset folder, the app served by uvicorn on a free port, and headless Chromium.

Browser tests need Debian's `chromium` and `chromium-driver` (apt) and the `selenium` package (dev extra). When
they are missing the tests FAIL saying what to install, unless INFLUENCE_SKIP_BROWSER=1 (then they skip).
"""

from __future__ import annotations

import copy
import functools
import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

SEED = 7
N_ACCOUNTS = 6
VIEWPORT = (1366, 768)
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)
INSTALL_HINT = (
    "headless Chromium is needed for the browser tests: `apt-get install -y chromium chromium-driver` and "
    "`pip install selenium` (or set INFLUENCE_SKIP_BROWSER=1 to skip them)"
)


@functools.cache
def tiny_model() -> tuple[Any, Any]:
    """(bundle, dataset): a deliberately small, quick model; the map tests check rendering, not accuracy."""
    from influence.evaluate import labelled_frame
    from influence.generate import GeneratorConfig, generate
    from influence.train import default_config, train_frame

    # Full-evidence accounts only: the map checks expect every deal to involve our team (header-only exports
    # may hold no seller at all; docs/synthetic-data.md).
    ds = generate(N_ACCOUNTS, SEED, GeneratorConfig(header_only_share=0.0, mailbox_share=0.0))
    frame, counts = labelled_frame(ds)
    config = default_config()
    config["influence"].update(max_iter=8, n_iter_no_change=3, min_samples_leaf=10)
    config["profile"].update(max_iter=8, n_iter_no_change=3, min_samples_leaf=10)
    result = train_frame(frame, config, name="ui-test", seed=1, counts=counts, accounts=ds.accounts)
    return result.bundle, ds


@pytest.fixture(scope="session")
def model() -> tuple[Any, Any]:
    return tiny_model()


@pytest.fixture(scope="session")
def bundle_path(model, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from influence.bundle import save_bundle

    bundle, _ = model
    return save_bundle(copy.copy(bundle), tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="session")
def data_dir(model, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from influence.contract import write_dataset

    _, ds = model
    return write_dataset(ds, tmp_path_factory.mktemp("data") / "deals")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def server(bundle_path: Path, data_dir: Path) -> Iterator[str]:
    """Base URL of the app (`influence serve --data DIR` equivalent) running in a thread."""
    import uvicorn

    from influence.api import ApiSettings, create_app

    app = create_app(ApiSettings(model=str(bundle_path), data=str(data_dir)))
    config = uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning", lifespan="on")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not srv.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the app did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{config.port}"
    srv.should_exit = True
    thread.join(10)


def _browser_or_fail() -> tuple[Any, str, str]:
    skip = os.environ.get("INFLUENCE_SKIP_BROWSER") == "1"
    try:
        import selenium.webdriver as webdriver
    except ImportError:
        webdriver = None
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if webdriver is None or not chromium or not driver:
        missing = ", ".join(
            name
            for name, ok in (("selenium", webdriver), ("chromium", chromium), ("chromedriver", driver))
            if not ok
        )
        if skip:
            pytest.skip(f"INFLUENCE_SKIP_BROWSER=1 and {missing} not installed")
        pytest.fail(f"{missing} not found. {INSTALL_HINT}", pytrace=False)
    return webdriver, chromium, driver


@pytest.fixture(scope="session")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Headless Chromium (Selenium) with a fresh profile and a 1366x768 viewport (a common laptop screen)."""
    webdriver, chromium, driver_path = _browser_or_fail()
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    options.add_argument(f"--window-size={VIEWPORT[0]},{VIEWPORT[1]}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # An explicit driver path: Selenium Manager would otherwise try to download one.
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    driver.set_page_load_timeout(30)
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": VIEWPORT[0], "height": VIEWPORT[1], "deviceScaleFactor": 1, "mobile": False},
    )
    try:
        yield driver
    finally:
        driver.quit()


UPDATE_SCREENSHOTS_ENV = "INFLUENCE_UPDATE_SCREENSHOTS"


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the browser tests save their screenshots: a temporary folder, so a test run never rewrites tracked
    files; with INFLUENCE_UPDATE_SCREENSHOTS=1 the committed reports/screenshots/ (to refresh them on purpose)."""
    if os.environ.get(UPDATE_SCREENSHOTS_ENV) != "1":
        return tmp_path_factory.mktemp("screenshots")
    from influence.settings import reports_dir

    folder = reports_dir() / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder
