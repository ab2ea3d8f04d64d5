#!/usr/bin/env bash
# The whole Sealpost test suite, as README.md states it:
#   1. every native test of the workspace (unit, integration, external vectors, interop, doc tests);
#   2. the known-answer vectors again on the wasm32 build, in Node, through wasm-bindgen-test.
# It installs the Rust-side tools it needs (the wasm32 target, wasm-bindgen-cli pinned to the
# wasm-bindgen version in Cargo.lock); system packages are .ci/run's job.
set -euo pipefail
cd "$(dirname "$0")/.."

wasm_bindgen_version=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
if [ -z "$wasm_bindgen_version" ]; then
  echo "scripts/test.sh: cannot find the wasm-bindgen version in Cargo.lock" >&2
  exit 1
fi
if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  rustup target add wasm32-unknown-unknown
fi
if ! wasm-bindgen-test-runner --version 2>/dev/null | grep -q " $wasm_bindgen_version\$"; then
  echo "scripts/test.sh: installing wasm-bindgen-cli $wasm_bindgen_version (one time)"
  cargo install wasm-bindgen-cli --version "$wasm_bindgen_version" --force
fi
if ! command -v node >/dev/null; then
  echo "scripts/test.sh: Node.js is needed for the wasm32 tests (apt-get install nodejs)" >&2
  exit 1
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
run() {
  "$@" 2>&1 | tee -a "$log" || status=1
}

echo "== native tests"
# --no-fail-fast: one failing test binary must not hide the results of the others.
run cargo test --workspace --locked --no-fail-fast

echo "== wasm32 tests (Node)"
run web-recipient/run-wasm-tests.sh

# One closing line over every runner above (cargo prints one `test result:` line per binary).
awk '/^test result:/ {
       for (i = 2; i <= NF; i++) {
         if ($i ~ /^passed;?$/) passed += $(i - 1)
         if ($i ~ /^failed;?$/) failed += $(i - 1)
       }
     }
     END { printf "\nSummary: %d passed, %d failed\n", passed, failed }' "$log"
if [ "$status" -ne 0 ]; then
  echo "scripts/test.sh: FAILED (see above)" >&2
fi
exit "$status"
