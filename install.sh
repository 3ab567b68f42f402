#!/bin/sh
# Install llm-router from this source tree: build and install the binary with cargo, install
# shell completions where each shell looks for them, and print the line that wires a shell
# to the gateway. Safe to run again (it reinstalls); `--uninstall` reverses it.
#
#   ./install.sh                    # binary into ~/.cargo/bin, completions into your home
#   ./install.sh --prefix /usr/local
#   ./install.sh --uninstall [--prefix DIR]
#   ./install.sh --debug            # unoptimised build (fast; used by the tests)
set -eu

prefix=""
uninstall=0
debug=0

err() {
    printf 'install.sh: %s\n' "$1" >&2
    exit 1
}

need_cmd() {
    command -v "$1" >/dev/null 2>&1 || err "$1 is required but was not found: $2"
}

usage() {
    sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'
}

while [ $# -gt 0 ]; do
    case "$1" in
        --prefix)
            [ $# -ge 2 ] || err "--prefix needs a directory"
            prefix=$2
            shift 2
            ;;
        --prefix=*)
            prefix=${1#--prefix=}
            shift
            ;;
        --uninstall)
            uninstall=1
            shift
            ;;
        --debug)
            debug=1
            shift
            ;;
        -h | --help)
            usage
            exit 0
            ;;
        *)
            err "unknown option $1 (see --help)"
            ;;
    esac
done

src=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd)

# Where things go.
if [ -n "$prefix" ]; then
    mkdir -p "$prefix"
    prefix=$(CDPATH='' cd -- "$prefix" && pwd)
    bindir="$prefix/bin"
    bash_dir="$prefix/share/bash-completion/completions"
    zsh_dir="$prefix/share/zsh/site-functions"
    fish_dir="$prefix/share/fish/vendor_completions.d"
else
    home=${HOME:?HOME is not set}
    bindir="${CARGO_HOME:-$home/.cargo}/bin"
    data="${XDG_DATA_HOME:-$home/.local/share}"
    bash_dir="$data/bash-completion/completions"
    zsh_dir="$data/zsh/site-functions"
    fish_dir="${XDG_CONFIG_HOME:-$home/.config}/fish/completions"
fi

if [ "$uninstall" -eq 1 ]; then
    if command -v cargo >/dev/null 2>&1; then
        if [ -n "$prefix" ]; then
            cargo uninstall --root "$prefix" llm-router >/dev/null 2>&1 || true
        else
            cargo uninstall llm-router >/dev/null 2>&1 || true
        fi
    fi
    rm -f "$bindir/llm-router" \
        "$bash_dir/llm-router" "$zsh_dir/_llm-router" "$fish_dir/llm-router.fish"
    echo "llm-router uninstalled (your config and state were kept; see \`docs/configuration.md\`)"
    exit 0
fi

need_cmd cargo "install Rust from your package manager or rustup, then run this again"

set -- install --locked --force --path "$src"
[ -n "$prefix" ] && set -- "$@" --root "$prefix"
[ "$debug" -eq 1 ] && set -- "$@" --debug
echo "==> cargo $*"
cargo "$@"

bin="$bindir/llm-router"
[ -x "$bin" ] || err "cargo did not produce $bin"

echo "==> shell completions"
mkdir -p "$bash_dir" "$zsh_dir" "$fish_dir"
cp "$src/completions/llm-router.bash" "$bash_dir/llm-router"
cp "$src/completions/_llm-router" "$zsh_dir/_llm-router"
cp "$src/completions/llm-router.fish" "$fish_dir/llm-router.fish"
echo "    bash: $bash_dir/llm-router"
echo "    zsh:  $zsh_dir/_llm-router (add that directory to fpath if zsh does not find it)"
echo "    fish: $fish_dir/llm-router.fish"

echo
echo "installed: $("$bin" --version) at $bin"
case ":$PATH:" in
    *":$bindir:"*) ;;
    *) echo "note: $bindir is not on your PATH; add it to use \`llm-router\` directly" ;;
esac
cat <<'EOF'

Next:
  llm-router init                # set up your relay (or: llm-router start --demo)
  llm-router start
  echo 'eval "$(llm-router env)"' >> ~/.bashrc   # or ~/.zshrc; fish: llm-router env --shell fish | source
EOF
