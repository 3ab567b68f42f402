"""Fixtures for the real-browser test of /admin: headless Chromium over WebDriver (Selenium),
a simulated relay and the real llm-router binary started in the foreground.

The relay and gateway fixtures come from `tests/pyfixtures` (shared with tests/sdk). Chromium
and chromedriver come from the system's packages (tests/setup.sh installs them); when either
is missing the tests are skipped with the reason printed, and fail under CI.
"""

import os
import shutil
import tempfile
from pathlib import Path

import pytest

import pyfixtures

CHROMIUM = os.environ.get("CHROMIUM_BIN", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER_BIN", "/usr/bin/chromedriver")


def _missing(reason):
    """Skip locally; under CI a missing tool fails, so a green run never hides an install step."""
    if os.environ.get("CI", "") not in ("", "false", "0"):
        pytest.fail(f"{reason}; under CI a missing tool fails its test (tests/setup.sh installs it)")
    print(f"headless browser test skipped: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def browser_bins():
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not Path(p).exists()]
    if missing:
        _missing(f"{', '.join(missing)} not installed (tests/setup.sh, or apt-get install chromium chromium-driver)")
    try:
        import selenium  # noqa: F401
    except ImportError:
        _missing("selenium is not installed (pip install -r tests/sdk/requirements.txt)")
    return CHROMIUM, CHROMEDRIVER


@pytest.fixture(scope="session")
def driver(browser_bins):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, chromedriver = browser_bins
    profile = tempfile.mkdtemp(prefix="llm-router-chromium-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile}",
        "--window-size=1400,1800",
    ):
        opts.add_argument(flag)
    d = webdriver.Chrome(service=Service(executable_path=chromedriver), options=opts)
    d.set_page_load_timeout(30)
    d.set_script_timeout(30)
    yield d
    d.quit()
    shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="session")
def sim():
    with pyfixtures.sim_relay() as s:
        yield s


@pytest.fixture(scope="session")
def gateway(sim, tmp_path_factory):
    """A real gateway with a router key, started from a config file the page may edit; ready
    once it has the relay's model list (the page's table shows it)."""
    home = tmp_path_factory.mktemp("admin-gw")
    with pyfixtures.gateway(
        sim, home, header="# written by tests/browser; the admin page edits this file", wait_for_models=True
    ) as g:
        yield g
