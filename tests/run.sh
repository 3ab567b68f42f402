#!/bin/sh
# Run the whole test suite: Rust unit and integration tests, then the real-client tests
# (the official OpenAI Python SDK, the admin page in headless Chromium) against the real binary.
# Usage: tests/run.sh            (from anywhere inside the repository; installs what it needs)
set -eu

root=$(CDPATH='' cd -- "$(dirname -- "$0")/.." && pwd)
cd "$root"

# The shells, shellcheck and Chromium the tests drive (a no-op when all are there).
tests/setup.sh

venv="$root/.venv"
if [ ! -x "$venv/bin/python" ]; then
    echo "tests/run.sh: creating $venv for the SDK tests" >&2
    python3 -m venv "$venv"
fi
if ! "$venv/bin/python" -c 'import openai, pytest, pexpect, selenium, prometheus_client' 2>/dev/null; then
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r tests/sdk/requirements.txt
fi

cargo build --quiet
cargo test --quiet --lib --bins --tests -- --test-threads="${TEST_THREADS:-4}"
# The criterion benchmarks run once each in test mode: a smoke test that they still work.
cargo test --quiet --bench hot_paths

LLM_ROUTER_BIN="$root/target/debug/llm-router" "$venv/bin/python" -m pytest -q tests/sdk tests/browser
