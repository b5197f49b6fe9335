"""The `browser` fixture: headless Chromium driven by Selenium, one per test process."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

# Headless, and quiet: without the background-networking flags Chromium reaches out
# for updates, safe browsing and sync, which a closed network refuses and which no
# test wants. A fresh profile for every run.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1400,1000",
)


@pytest.fixture(scope="session")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[webdriver.Chrome]:
    """Headless Chromium: skipped without it on a developer's machine, a failure in CI."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    chromedriver = shutil.which("chromedriver")
    if chromium is None or chromedriver is None:
        missing = " and ".join(
            name for name, path in (("chromium", chromium), ("chromedriver", chromedriver)) if path is None
        )
        if os.environ.get("CI") == "true":
            pytest.fail(f"{missing} missing in CI: run `bash scripts/ensure-browser.sh`")
        pytest.skip(f"{missing} not installed (bash scripts/ensure-browser.sh installs them)")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    # The performance log lists every request the page makes; the browser log its console.
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    # Given chromedriver's path, Selenium does not look for (or download) a driver of its own.
    driver = webdriver.Chrome(options=options, service=Service(chromedriver))
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def screenshots() -> Path:
    """out/ at the top of the repository, where the browser tests leave their screenshots."""
    folder = Path(__file__).resolve().parents[2] / "out"
    folder.mkdir(exist_ok=True)
    return folder
