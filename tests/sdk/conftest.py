"""Fixtures: a simulated relay and a real llm-router gateway, both as real processes.

The gateway binary is `$LLM_ROUTER_BIN`, else target/debug/llm-router. Every process is
started on loopback with an isolated config and state directory, and stopped at the end.
"""

import json
import os
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ROUTER_KEY = "router-key-for-sdk-tests"
RELAY_KEY = "relay-key-for-sdk-tests-123456"


def binary() -> str:
    b = os.environ.get("LLM_ROUTER_BIN") or str(ROOT / "target" / "debug" / "llm-router")
    if not Path(b).exists():
        pytest.fail(f"llm-router binary not found at {b}: run `cargo build` first")
    return b


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float = 20.0) -> None:
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return
        except Exception as e:  # not up yet
            last = e
        time.sleep(0.05)
    raise RuntimeError(f"{url} did not come up: {last}")


class Sim:
    """The simulated relay, scriptable over HTTP."""

    def __init__(self, base_url: str):
        self.base_url = base_url

    def _post(self, path: str, body: dict) -> None:
        req = urllib.request.Request(
            self.base_url + path,
            data=json.dumps(body).encode(),
            headers={"content-type": "application/json", "authorization": f"Bearer {RELAY_KEY}"},
        )
        with urllib.request.urlopen(req, timeout=5) as r:
            assert r.status == 200

    def script(self, **step) -> None:
        """Queue one scripted answer for the next request to step["model"]."""
        self._post("/_sim/script", step)

    def clear(self) -> None:
        """Drop every queued script."""
        self._post("/_sim/clear", {})


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
    home = tmp_path_factory.mktemp("gw")
    port = free_port()
    cfg = home / "config.toml"
    cfg.write_text(
        f"""
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
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "UPSTREAM_", "LLM_ROUTER_"))}
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
    except Exception:
        proc.kill()
        raise RuntimeError((home / "gateway.log").read_text())
    yield {"base_url": base + "/v1", "log": home / "gateway.log"}
    proc.terminate()
    proc.wait(timeout=40)
    log.close()
