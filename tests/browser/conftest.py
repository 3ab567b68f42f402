"""Fixtures for the real-browser test of /admin: headless Chromium over WebDriver (Selenium),
a simulated relay and the real llm-router binary started in the foreground.

Same pattern as tests/sdk/conftest.py; shared helpers live in `admin_support.py`. Chromium and chromedriver come from
the system's packages (tests/setup.sh installs them); when either is missing the tests are
skipped with the reason printed, and fail under CI.
"""

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from .admin_support import CHROMEDRIVER, CHROMIUM, RELAY_KEY, ROUTER_KEY, binary, free_port, http, wait_http


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


class Sim:
    def __init__(self, base_url: str):
        self.base_url = base_url


@pytest.fixture(scope="session")
def sim():
    proc = subprocess.Popen(
        [binary(), "sim", "--port", "0", "--require-key", RELAY_KEY],
        stdout=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline().strip()
    url = line.rsplit(" ", 1)[-1]
    assert url.startswith("http://127.0.0.1:"), line
    yield Sim(url)
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(scope="session")
def gateway(sim, tmp_path_factory):
    """A real gateway with a router key, started from a config file the page may edit."""
    home = tmp_path_factory.mktemp("admin-gw")
    port = free_port()
    cfg = home / "config.toml"
    cfg.write_text(
        f"""# written by tests/browser; the admin page edits this file
[server]
port = {port}
api_key = "{ROUTER_KEY}"

[upstream]
base_url = "{sim.base_url}/v1"
api_key = "{RELAY_KEY}"
first_byte_timeout_ms = 5000

[router]
timeout_ms = 3000
"""
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "UPSTREAM_", "LLM_ROUTER_", "ROUTER_"))}
    env.update(
        LLM_ROUTER_STATE_DIR=str(home / "state"),
        LLM_ROUTER_RUNTIME_DIR=str(home / "run"),
        LLM_ROUTER_CONFIG_DIR=str(home),
        LLM_ROUTER_LOG="info",
    )
    log = open(home / "gateway.log", "w")
    proc = subprocess.Popen(
        [binary(), "--config", str(cfg), "start", "--foreground"],
        env=env,
        cwd=home,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(base + "/health")
        # The page's model table needs the relay's list; the gateway fetches it at start.
        deadline = time.time() + 20
        while time.time() < deadline:
            _, _, h = http("GET", base + "/health")
            if isinstance(h, dict) and h.get("models", 0) > 0:
                break
            time.sleep(0.1)
    except Exception:
        proc.kill()
        raise RuntimeError((home / "gateway.log").read_text())
    yield {"base": base, "port": port, "config": cfg, "log": home / "gateway.log", "home": home}
    proc.terminate()
    proc.wait(timeout=40)
    log.close()
