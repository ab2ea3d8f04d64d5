#!/usr/bin/env bash
# Rebuilds the recipient page bundle, web-recipient/dist/, which is committed and embedded in the
# server (server/src/http/page.rs). The one command:
#
#     web-recipient/build.sh            # writes web-recipient/dist/
#     web-recipient/build.sh DIR        # writes DIR instead (check-bundle.sh uses this)
#
# Reproducible: the same source, Cargo.lock, Rust toolchain and wasm-bindgen-cli give the same
# bytes on any machine and in any directory (absolute paths are remapped; no timestamps, no
# wasm-opt). Steps:
#   1. cargo build -p sealpost-web --release --target wasm32-unknown-unknown --locked, into its
#      own target directory (target/web-bundle) so its flags never invalidate other builds;
#   2. wasm-bindgen --target no-modules (pinned 0.2.130, the version sealpost-web pins);
#   3. copy www/ and write index.html from www/index.html, replacing every
#      @@SRI:assets/<file>@@ with the file's SHA-384 subresource-integrity value and every
#      @@VERSION:assets/<file>@@ with a short content hash (cache busting for immutable assets).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
out="${1:-$here/dist}"
want="0.2.130"
cargo_home="${CARGO_HOME:-$HOME/.cargo}"
export PATH="$cargo_home/bin:$PATH"

die() {
    echo "web-recipient/build.sh: $*" >&2
    exit 1
}

command -v wasm-bindgen >/dev/null || die "wasm-bindgen not found: cargo install wasm-bindgen-cli --version $want"
have="$(wasm-bindgen --version | awk '{print $2}')"
[ "$have" = "$want" ] || die "wasm-bindgen is $have, the bundle needs $want"
command -v openssl >/dev/null || die "openssl not found (for the SHA-384 integrity values)"
rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown \
    || rustup target add wasm32-unknown-unknown

target_dir="${SEALPOST_WEB_TARGET_DIR:-$root/target/web-bundle}"
# Later prefixes win when several match: most specific last. The standard library's paths are
# already /rustc/<commit>/… in the distributed toolchain.
flags=(
    "--remap-path-prefix=$HOME=/home"
    "--remap-path-prefix=$cargo_home=/cargo"
    "--remap-path-prefix=$root=/src"
    "--remap-path-prefix=$target_dir=/target"
)
CARGO_ENCODED_RUSTFLAGS="$(IFS=$'\x1f'; echo "${flags[*]}")"
export CARGO_ENCODED_RUSTFLAGS
unset RUSTFLAGS
# The release profile as the bundle wants it, whatever the workspace's says: no debug info,
# one codegen unit and LTO (smaller and independent of parallelism).
export CARGO_PROFILE_RELEASE_DEBUG=false
export CARGO_PROFILE_RELEASE_STRIP=false
export CARGO_PROFILE_RELEASE_LTO=true
export CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1
export CARGO_PROFILE_RELEASE_OPT_LEVEL=3
export CARGO_PROFILE_RELEASE_PANIC=abort
export CARGO_INCREMENTAL=0

cd "$root"
cargo build -p sealpost-web --release --target wasm32-unknown-unknown --locked --target-dir "$target_dir"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
stage="$work/dist"
mkdir -p "$stage/assets"

wasm-bindgen --target no-modules --no-typescript --remove-producers-section \
    --out-dir "$stage/assets" --out-name sealpost_web \
    "$target_dir/wasm32-unknown-unknown/release/sealpost_web.wasm"

for f in app.js download.js style.css; do
    cp "$here/www/$f" "$stage/assets/$f"
done
cp "$here/www/sw.js" "$stage/sw.js"

index="$(cat "$here/www/index.html")"
for path in "$stage"/assets/*; do
    name="assets/$(basename "$path")"
    sri="sha384-$(openssl dgst -sha384 -binary "$path" | openssl base64 -A)"
    version="$(openssl dgst -sha256 -hex "$path" | awk '{print $NF}' | cut -c1-16)"
    index="${index//"@@SRI:$name@@"/$sri}"
    index="${index//"@@VERSION:$name@@"/$version}"
done
case "$index" in
    *@@*) die "www/index.html names a file the bundle does not have: $(grep -o '@@[^@]*@@' <<<"$index" | head -1)" ;;
esac
printf '%s\n' "$index" >"$stage/index.html"

# Every file readable by everyone, nothing executable: the bytes are what matter.
find "$stage" -type f -exec chmod 0644 {} +

if [ -e "$out" ]; then
    [ -d "$out" ] || die "$out exists and is not a directory"
    if [ -n "$(ls -A "$out")" ] && [ ! -f "$out/index.html" ]; then
        die "$out is not empty and does not look like a bundle; refusing to replace it"
    fi
    rm -rf "$out"
fi
mkdir -p "$(dirname "$out")"
cp -R "$stage" "$out"

echo "web-recipient/build.sh: bundle written to $out"
(cd "$out" && find . -type f | LC_ALL=C sort | while read -r f; do
    printf '  %s  %s\n' "$(openssl dgst -sha384 -binary "$f" | openssl base64 -A)" "${f#./}"
done)
