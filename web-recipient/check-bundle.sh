#!/usr/bin/env bash
# Checks that the committed bundle, web-recipient/dist/, is exactly what web-recipient/build.sh
# builds from the source: rebuilds into a temporary directory and compares every byte. Fails
# with the files that differ (and their SHA-384) if anyone edited dist/ by hand or forgot to
# rebuild after changing www/ or the Rust code.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
committed="$here/dist"
fresh_root="$(mktemp -d)"
trap 'rm -rf "$fresh_root"' EXIT
fresh="$fresh_root/dist"

[ -d "$committed" ] || { echo "check-bundle: $committed is missing; run web-recipient/build.sh" >&2; exit 1; }
"$here/build.sh" "$fresh" >/dev/null

hashes() {
    (cd "$1" && find . -type f | LC_ALL=C sort | while read -r f; do
        printf '%s  %s\n' "$(openssl dgst -sha384 -binary "$f" | openssl base64 -A)" "${f#./}"
    done)
}

if diff -r -q "$committed" "$fresh" >/dev/null; then
    echo "check-bundle: web-recipient/dist/ matches a fresh build"
    exit 0
fi
echo "check-bundle: web-recipient/dist/ differs from a fresh build of the source." >&2
echo "Run web-recipient/build.sh and commit web-recipient/dist/. SHA-384 (committed vs fresh):" >&2
diff -u <(hashes "$committed") <(hashes "$fresh") --label committed --label fresh >&2 || true
exit 1
