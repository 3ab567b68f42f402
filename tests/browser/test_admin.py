"""The /admin page in a real browser (headless Chromium over WebDriver).

What it proves: the page loads and shows the relay's models; with a router key it asks for
the key, refuses a wrong one and shows data with the right one (kept in sessionStorage only);
switching the router model in the UI rewrites `router.model` in the config file and the next
`auto` request is routed by that model; cross-origin and header-less POSTs are refused.
A screenshot of the page with data is saved (path printed) for a human to look at.
"""

import os
import tempfile
import tomllib
from pathlib import Path

import pytest

from pyfixtures import RELAY_KEY, ROUTER_KEY, http

pytestmark = pytest.mark.usefixtures("browser_bins")

WAIT = 15


def wait(driver):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, WAIT, poll_frequency=0.1)


def by_id(driver, id_):
    from selenium.webdriver.common.by import By

    return driver.find_element(By.ID, id_)


def text_of(driver, id_) -> str:
    return by_id(driver, id_).text


def model_ids(driver) -> list[str]:
    from selenium.webdriver.common.by import By

    cells = driver.find_elements(By.CSS_SELECTOR, "#models tbody td.id")
    return [c.text.split()[0] for c in cells if c.text.strip()]


def unlock(driver, gateway):
    """Open the page and make sure it shows data (enter the key if it asks)."""
    driver.get(gateway["base"] + "/admin")
    wait(driver).until(lambda d: by_id(d, "auth").is_displayed() or by_id(d, "content").is_displayed())
    if by_id(driver, "auth").is_displayed():
        by_id(driver, "key").send_keys(ROUTER_KEY)
        by_id(driver, "unlock").click()
    wait(driver).until(lambda d: by_id(d, "content").is_displayed())
    wait(driver).until(lambda d: "gpt-5.5" in model_ids(d))


def chat(gateway, model="auto", text="Say hello."):
    return http(
        "POST",
        gateway["base"] + "/v1/chat/completions",
        {"model": model, "messages": [{"role": "user", "content": text}]},
        {"content-type": "application/json", "authorization": f"Bearer {ROUTER_KEY}"},
    )


def router_model_in_file(cfg: Path):
    return tomllib.loads(cfg.read_text()).get("router", {}).get("model")


@pytest.fixture(scope="module")
def shots() -> Path:
    """Where screenshots go: $ADMIN_SCREENSHOT_DIR, else a fresh temp dir (printed)."""
    d = Path(os.environ.get("ADMIN_SCREENSHOT_DIR") or tempfile.mkdtemp(prefix="llm-router-admin-"))
    d.mkdir(parents=True, exist_ok=True)
    return d


def test_page_asks_for_the_key_refuses_a_wrong_one_and_shows_models(driver, gateway, shots):
    driver.get(gateway["base"] + "/admin")
    driver.execute_script("sessionStorage.clear(); localStorage.clear();")
    driver.refresh()
    wait(driver).until(lambda d: by_id(d, "auth").is_displayed())
    assert not by_id(driver, "content").is_displayed()

    by_id(driver, "key").send_keys("not-the-key")
    by_id(driver, "unlock").click()
    wait(driver).until(lambda d: "refused" in text_of(d, "auth-error"))
    assert not by_id(driver, "content").is_displayed()
    driver.save_screenshot(str(shots / "admin-locked.png"))

    by_id(driver, "key").send_keys(ROUTER_KEY)
    by_id(driver, "unlock").click()
    wait(driver).until(lambda d: by_id(d, "content").is_displayed())
    wait(driver).until(lambda d: "gpt-5.5" in model_ids(d))
    ids = model_ids(driver)
    for want in ("gpt-5.5", "gpt-5.4-mini", "gpt-5.3-codex"):
        assert want in ids, ids
    # The key lives for the tab only, and no secret is anywhere in the page.
    assert driver.execute_script("return sessionStorage.getItem('llm-router-admin-key')") == ROUTER_KEY
    assert driver.execute_script("return localStorage.length") == 0
    html = driver.page_source
    assert RELAY_KEY not in html
    assert "relay reachable" in text_of(driver, "status")


def test_switching_the_router_model_applies_at_once(driver, gateway, shots):
    from selenium.webdriver.support.ui import Select

    unlock(driver, gateway)
    by_id(driver, "mode-manual").click()
    Select(by_id(driver, "router-select")).select_by_value("gpt-5.4-mini")
    by_id(driver, "save").click()
    wait(driver).until(lambda d: "Saved" in text_of(d, "save-msg") or "error" in by_id(d, "save-msg").get_attribute("class"))
    assert "Saved" in text_of(driver, "save-msg"), text_of(driver, "save-msg")

    cfg = gateway["config"]
    assert router_model_in_file(cfg) == "gpt-5.4-mini"
    assert cfg.read_text().startswith("# written by tests/browser"), "comments are kept"

    status, headers, body = chat(gateway)
    assert status == 200, body
    assert headers["x-llm-router-router-model"] == "gpt-5.4-mini"

    # Some traffic for the tables, then the page shows the decision.
    chat(gateway, "auto-coding", "Write a tiny TypeScript add(a,b) function. Reply only with code.")
    chat(gateway, "auto", "Design a robust architecture for multi-provider LLM fallback. Reply exactly: ok.")
    chat(gateway, "gpt-5.4", "Say hi.")
    by_id(driver, "refresh").click()
    wait(driver).until(lambda d: "gpt-5.4-mini" in text_of(d, "router-now"))
    wait(driver).until(lambda d: "auto-coding" in text_of(d, "recent"))
    assert "manual" in text_of(driver, "router-now")

    shot = shots / "admin.png"
    driver.save_screenshot(str(shot))
    driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": "dark"}]})
    driver.save_screenshot(str(shots / "admin-dark.png"))
    driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})
    print(f"admin page screenshots: {shot} and {shots / 'admin-dark.png'}")

    # Back to automatic: the key is removed and the cheapest model routes again.
    by_id(driver, "mode-auto").click()
    by_id(driver, "save").click()
    wait(driver).until(lambda d: "Automatic" in text_of(d, "save-msg") or "error" in by_id(d, "save-msg").get_attribute("class"))
    assert router_model_in_file(cfg) is None
    _, _, state = http("GET", gateway["base"] + "/admin/api/state", headers={"authorization": f"Bearer {ROUTER_KEY}"})
    auto = state["router"]["automatic"]
    assert state["router"]["mode"] == "automatic" and auto
    status, headers, _ = chat(gateway)
    assert status == 200
    assert headers["x-llm-router-router-model"] == auto


def test_cross_origin_and_headerless_posts_are_refused(driver, gateway, sim):
    url = gateway["base"] + "/admin/api/router-model"
    cfg = gateway["config"]
    before = cfg.read_text()
    body = {"model": "gpt-5.5"}
    auth = {"authorization": f"Bearer {ROUTER_KEY}", "content-type": "application/json"}

    status, headers, err = http("POST", url, body, {**auth, "origin": "http://evil.example"})
    assert status == 403, err
    assert err["error"]["code"] == "cross_origin_refused"
    assert not any(k.lower().startswith("access-control-") for k in headers.keys())
    status, _, _ = http("POST", url, body, {**auth, "origin": "http://evil.example", "x-llm-router-admin": "1"})
    assert status == 403
    status, _, _ = http("POST", url, body, auth)  # no Origin, no custom header
    assert status == 403
    status, _, _ = http("POST", url, body, {**auth, "authorization": "Bearer wrong", "x-llm-router-admin": "1"})
    assert status == 401
    status, _, _ = http("POST", url, body, {**auth, "content-type": "text/plain", "x-llm-router-admin": "1"})
    assert status == 415
    assert cfg.read_text() == before

    # A real page on another origin (the relay's) tries both kinds of cross-origin POST.
    driver.get(sim.base_url + "/v1/models")
    result = driver.execute_async_script(
        """
        const [url, key, done] = arguments;
        const out = {};
        fetch(url, {method: 'POST', headers: {'content-type': 'application/json',
              'authorization': 'Bearer ' + key, 'x-llm-router-admin': '1'},
              body: JSON.stringify({model: 'gpt-5.5'})})
          .then(r => { out.preflighted = 'status ' + r.status; }, e => { out.preflighted = 'blocked'; })
          .then(() => fetch(url, {method: 'POST', mode: 'no-cors', headers: {'content-type': 'text/plain'},
                body: JSON.stringify({model: 'gpt-5.5'})}))
          .then(r => { out.simple = 'sent'; }, e => { out.simple = 'blocked'; })
          .then(() => done(out));
        """,
        url,
        ROUTER_KEY,
    )
    # Custom headers need a CORS preflight, which the gateway never grants.
    assert result["preflighted"] == "blocked", result
    assert cfg.read_text() == before
    _, _, state = http("GET", gateway["base"] + "/admin/api/state", headers={"authorization": f"Bearer {ROUTER_KEY}"})
    assert state["router"]["mode"] == "automatic"
