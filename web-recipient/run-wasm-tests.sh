#!/usr/bin/env bash
# Runs the wasm32 tests of sealpost-web (the Sealpost v1 vectors and the bindings) in node, with
# wasm-bindgen-test-runner from wasm-bindgen-cli 0.2.130 (the version sealpost-web pins).
# Fails if anything fails. CI calls this script; it works from any directory.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

want="0.2.130"
if ! command -v wasm-bindgen-test-runner >/dev/null; then
    echo "wasm-bindgen-test-runner not found: cargo install wasm-bindgen-cli --version $want" >&2
    exit 1
fi
have="$(wasm-bindgen-test-runner --version | awk '{print $2}')"
if [ "$have" != "$want" ]; then
    echo "wasm-bindgen-test-runner is $have, sealpost-web needs $want" >&2
    exit 1
fi
if ! command -v node >/dev/null; then
    echo "node not found: the wasm tests run in node" >&2
    exit 1
fi
rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown \
    || rustup target add wasm32-unknown-unknown

# The crypto crate must keep building on its own for wasm32 (no entropy source of its own).
cargo build -p sealpost-crypto --target wasm32-unknown-unknown

CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
    cargo test -p sealpost-web --target wasm32-unknown-unknown "$@"
