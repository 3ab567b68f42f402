"""What the Python suites (tests/sdk, tests/browser) share: the real binary, the simulated relay
and a real gateway as processes on loopback, free ports, and waiting on a condition.

`tests/pytest.ini` puts `tests/` on `sys.path`, so both suites `import pyfixtures`. Every
process gets an isolated config and state directory and is stopped when its context ends.
Waiting is always on an event (a line the process prints, an HTTP answer, a state the gateway
reports), polled with a deadline that only turns a hang into a failure.
"""

import contextlib
import json
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ROUTER_KEY = "router-key-for-python-tests"
RELAY_KEY = "relay-key-for-python-tests-123456"
# Generous: only a hang should ever reach it.
DEADLINE_SECS = 30.0


def binary() -> str:
    """The gateway binary: `$LLM_ROUTER_BIN`, else target/debug/llm-router."""
    b = os.environ.get("LLM_ROUTER_BIN") or str(ROOT / "target" / "debug" / "llm-router")
    if not Path(b).exists():
        pytest.fail(f"llm-router binary not found at {b}: run `cargo build` first")
    return b


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(what: str, check, timeout: float = DEADLINE_SECS, every: float = 0.05):
    """Poll `check()` until it returns something truthy and return that; fail with `what` and
    the last exception if the deadline passes first."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            got = check()
            if got:
                return got
        except Exception as e:  # not there yet
            last = e
        if time.monotonic() >= deadline:
            raise RuntimeError(f"{what} did not happen within {timeout:.0f} s (last error: {last})")
        time.sleep(every)


def http(method: str, url: str, body=None, headers=None):
    """(status, headers, parsed JSON or text) without raising on 4xx/5xx."""
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            status, h, raw = r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        status, h, raw = e.code, e.headers, e.read()
    try:
        return status, h, json.loads(raw)
    except ValueError:
        return status, h, raw.decode(errors="replace")


def wait_http(url: str, timeout: float = DEADLINE_SECS) -> None:
    """Wait until `GET url` answers 200."""
    wait_until(f"GET {url} answering 200", lambda: http("GET", url)[0] == 200, timeout)


class Sim:
    """The simulated relay (`llm-router sim`), scriptable over HTTP."""

    def __init__(self, base_url: str):
        self.base_url = base_url

    def _post(self, path: str, body: dict) -> None:
        status, _, reply = http(
            "POST",
            self.base_url + path,
            body,
            {"content-type": "application/json", "authorization": f"Bearer {RELAY_KEY}"},
        )
        assert status == 200, (path, status, reply)

    def script(self, **step) -> None:
        """Queue one scripted answer for the next request to step["model"]."""
        self._post("/_sim/script", step)

    def clear(self) -> None:
        """Drop every queued script."""
        self._post("/_sim/clear", {})


@contextlib.contextmanager
def sim_relay():
    """A simulated relay on a free loopback port that requires `RELAY_KEY`; ready when its
    one start-up line (with the URL) is printed."""
    proc = subprocess.Popen(
        [binary(), "sim", "--port", "0", "--require-key", RELAY_KEY],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline().strip()
        url = line.rsplit(" ", 1)[-1]
        assert url.startswith("http://127.0.0.1:"), line
        yield Sim(url)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@contextlib.contextmanager
def gateway(sim: Sim, home: Path, header: str = "", wait_for_models: bool = False):
    """The real gateway (`start --foreground`) in front of `sim`, with `ROUTER_KEY` required,
    its config, state and log under `home`. Yields a dict: `base` (http://127.0.0.1:PORT),
    `base_url` (`base` + /v1), `port`, `config`, `log`, `home`. With `wait_for_models`, it is
    ready only once the relay's model list was fetched (the admin page's table needs it)."""
    port = free_port()
    cfg = home / "config.toml"
    cfg.write_text(
        f"""{header}
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
    log_path = home / "gateway.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [binary(), "--config", str(cfg), "start", "--foreground"],
            env=env,
            cwd=home,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            try:
                wait_http(base + "/health")
                if wait_for_models:
                    wait_until("the relay's model list", lambda: http("GET", base + "/health")[2].get("models", 0) > 0)
            except Exception as e:
                proc.kill()
                raise RuntimeError(f"the gateway did not come up: {e}\n{log_path.read_text()}") from e
            yield {
                "base": base,
                "base_url": base + "/v1",
                "port": port,
                "config": cfg,
                "log": log_path,
                "home": home,
            }
        finally:
            proc.terminate()
            proc.wait(timeout=40)
