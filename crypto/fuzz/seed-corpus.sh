#!/usr/bin/env bash
# Seeds the fuzz corpora with the C2SP CCTV age files (their age part, decompressed).
set -euo pipefail
cd "$(dirname "$0")"
vectors=../../../shared/vectors/cctv-age/testdata
mkdir -p corpus/header_parse corpus/decrypt corpus/seal_parse
for f in "$vectors"/*; do
  name=$(basename "$f")
  python3 - "$f" "corpus/header_parse/$name" "corpus/decrypt/$name" <<'PY'
import sys, zlib
data = open(sys.argv[1], 'rb').read()
head, _, body = data.partition(b'\n\n')
if b'compressed: zlib' in head:
    body = zlib.decompress(body)
open(sys.argv[2], 'wb').write(body)
open(sys.argv[3], 'wb').write(b'\x00' + body)
PY
done
printf 'sealpost.org/seal/v1\nmessage AAAAAAAAAAAAAAAAAAAAAA\nheader AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\npolicy AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\npayload AAAAAAAAAAAAAAAAAAAAAA 32 AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n' > corpus/seal_parse/seal
