#!/bin/sh
# Install what the test suite drives, on a fresh machine: real shells for the `env` tests,
# the shellcheck linter for install.sh, headless Chromium and its WebDriver for the admin page test.
# tests/run.sh runs this first, and CI runs tests/run.sh, so both install the same way.
# Only missing packages are installed (Debian/Ubuntu, apt-get as root or through sudo).
set -eu

need=""
for tool in bash zsh dash fish shellcheck chromium chromedriver; do
    command -v "$tool" >/dev/null 2>&1 && continue
    case $tool in
        chromedriver) pkg=chromium-driver ;;
        *) pkg=$tool ;;
    esac
    need="$need $pkg"
done
[ -z "$need" ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
    echo "tests/setup.sh: please install:$need (no apt-get here); their tests are skipped, and fail under CI" >&2
    exit 0
fi
if [ "$(id -u)" = 0 ]; then
    as_root=""
elif command -v sudo >/dev/null 2>&1; then
    as_root="sudo"
else
    echo "tests/setup.sh: not root and no sudo: run \`apt-get install$need\` as root; until then their tests are skipped, and fail under CI" >&2
    exit 0
fi
echo "tests/setup.sh: installing$need" >&2
# shellcheck disable=SC2086 # word splitting of the package list is wanted
$as_root apt-get update -qq >/dev/null
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive $as_root apt-get install -y -qq $need >/dev/null
