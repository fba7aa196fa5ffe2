#!/bin/bash
# imgadm import of a 1 GiB image from a local source (a static mirror served
# by python3 -m http.server on 127.0.0.1) against `curl -o` of the same file
# followed by `imgadm install`, side by side in one run.  Both fetch from the
# same server and install the same way; import hashes while it downloads,
# so the goal is import <= 1.1x curl + install.  Not a test: figures only.
#
# usage: bench/image/import.sh [BUILD_DIR] [SIZE_MIB] [RUNS]
set -euo pipefail
BUILD_DIR=${1:-${BUILD_DIR:-$(cd "$(dirname "$0")/../.." && pwd)/build}}
SIZE_MIB=${2:-1024}
RUNS=${3:-2}
IMGADM=$BUILD_DIR/src/imgadm/imgadm
[ -x "$IMGADM" ] || { echo "no imgadm in $BUILD_DIR" >&2; exit 2; }

W=$(mktemp -d /tmp/imgimport.XXXXXX)
SRV=
cleanup() {
    [ -n "$SRV" ] && kill "$SRV" 2>/dev/null || true
    rm -rf "$W"
}
trap cleanup EXIT
UUID=9b0e7c2a-4d1f-4e3b-8a5c-6f7e8d9c0b1a
D=$W/mirror/images/$UUID
mkdir -p "$D"
# Random data: nothing to skip, nothing to compress.
head -c $((SIZE_MIB * 1024 * 1024)) /dev/urandom > "$D/file"
sha=$(sha1sum "$D/file" | cut -d' ' -f1)
cat > "$D/index.html" <<EOT
{"v": 2, "uuid": "$UUID", "name": "bench", "version": "1", "type": "zvol", "os": "linux",
 "published_at": "2024-01-01T00:00:00Z", "image_size": $SIZE_MIB,
 "files": [{"sha1": "$sha", "size": $(stat -c %s "$D/file"), "compression": "none"}]}
EOT
cp "$D/index.html" "$W/manifest.json"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 -m http.server --bind 127.0.0.1 --directory "$W/mirror" "$port" >/dev/null 2>&1 &
SRV=$!
URL=http://127.0.0.1:$port
for _ in $(seq 100); do curl -sf -o /dev/null "$URL/images/$UUID/" && break; sleep 0.05; done
echo "image: $SIZE_MIB MiB raw zvol (random data), served by python3 -m http.server at $URL"

now() { date +%s.%N; }
export VMINFOD_ADDR=none
best_curl=999999 best_imp=999999
one_curl() {
    rm -rf "$W/r1" "$W/dl.raw"
    sync
    t0=$(now)
    curl -sS -o "$W/dl.raw" "$URL/images/$UUID/file"
    VMADM_ROOT=$W/r1 "$IMGADM" install -q -m "$W/manifest.json" -f "$W/dl.raw"
    t1=$(now)
    rm -f "$W/dl.raw"
}
one_import() {
    rm -rf "$W/r2"
    sync
    t2=$(now)
    VMADM_ROOT=$W/r2 "$IMGADM" import -q -S "$URL" "$UUID"
    t3=$(now)
}
# The order alternates between runs, so neither side always runs first.
for r in $(seq "$RUNS"); do
    if [ $((r % 2)) = 1 ]; then one_curl; one_import; else one_import; one_curl; fi
    a=$(echo "$t1 - $t0" | bc -l)
    b=$(echo "$t3 - $t2" | bc -l)
    printf 'run %d: curl -o + imgadm install %7.3f s   imgadm import %7.3f s\n' "$r" "$a" "$b"
    best_curl=$(echo "if ($a < $best_curl) $a else $best_curl" | bc -l)
    best_imp=$(echo "if ($b < $best_imp) $b else $best_imp" | bc -l)
done
printf 'curl -o + imgadm install : %8.3f s (best of %d)\n' "$best_curl" "$RUNS"
printf 'imgadm import            : %8.3f s (best of %d)\n' "$best_imp" "$RUNS"
printf 'ratio import/(curl+install): %6.2fx  (target <= 1.1x)\n' "$(echo "$best_imp / $best_curl" | bc -l)"
