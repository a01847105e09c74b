#!/usr/bin/env bash
# Installs what the project needs on a fresh Debian machine of the project's kind (Rust
# toolchain already present). Safe to run again: it installs only what is missing.
#
#   scripts/setup.sh          xmllint (libxml2-utils), used by tests that check our output
#                             against the IOTP DTD; gcc and g++, used by the plugin tests (C test
#                             plugins, include/iotp_plugin.h compiled as C99 and C++); rustfmt
#                             and clippy if the toolchain lacks them;
#                             and .venv, a Python venv with maturin, pytest, mypy and lxml (the
#                             Python bindings' tests)
#   scripts/setup.sh --fuzz   also cargo-fuzz (the fuzz targets in fuzz/ need a nightly toolchain)
#
# Run as root (apt-get); elsewhere it uses sudo when there is one.
set -euo pipefail

fuzz=false
for arg in "$@"; do
    case "$arg" in
        --fuzz) fuzz=true ;;
        -h | --help)
            sed -n '2,13p' "$0"
            exit 0
            ;;
        *)
            echo "setup.sh: unknown option: $arg" >&2
            exit 2
            ;;
    esac
done

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        echo "setup.sh: need root to run: $*" >&2
        return 1
    fi
}

if ! command -v xmllint >/dev/null 2>&1; then
    echo "setup.sh: installing libxml2-utils (xmllint)"
    as_root apt-get update
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y libxml2-utils
fi

# gcc/g++ for the C plugins and examples; make and readelf (binutils) for the C examples and
# libiotp's SONAME (ffi/install.sh).
if ! command -v gcc >/dev/null 2>&1 || ! command -v g++ >/dev/null 2>&1 \
    || ! command -v make >/dev/null 2>&1 || ! command -v readelf >/dev/null 2>&1; then
    echo "setup.sh: installing gcc, g++, make and binutils (plugin and C API tests)"
    as_root apt-get update
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y gcc g++ make binutils
fi

if ! command -v valgrind >/dev/null 2>&1 || ! command -v pkg-config >/dev/null 2>&1; then
    echo "setup.sh: installing valgrind and pkg-config (C API tests: examples under valgrind)"
    as_root apt-get update
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y valgrind pkg-config
fi

for component in rustfmt clippy; do
    if ! cargo "${component/rustfmt/fmt}" --version >/dev/null 2>&1; then
        echo "setup.sh: adding the $component component"
        rustup component add "$component"
    fi
done

# The Python bindings' tools, in the repository's own venv (.venv): maturin builds the
# extension, pytest runs its suite, mypy checks its stubs, lxml is the benchmark's baseline.
venv="$(cd "$(dirname "$0")/.." && pwd)/.venv"
if ! "$venv/bin/python" -c "import maturin, pytest, mypy, lxml" >/dev/null 2>&1; then
    echo "setup.sh: creating $venv (maturin, pytest, mypy, lxml)"
    if ! python3 -m venv "$venv" >/dev/null 2>&1; then
        as_root apt-get update
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y python3-venv
        python3 -m venv "$venv"
    fi
    "$venv/bin/pip" install --quiet --upgrade pip
    "$venv/bin/pip" install --quiet "maturin>=1.9,<2" pytest mypy lxml
fi

if $fuzz && ! cargo fuzz --version >/dev/null 2>&1; then
    echo "setup.sh: installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi
