#!/bin/sh
# Builds vmadm: `scripts/build.sh` → build/ (release), `scripts/build.sh asan`
# → build-asan/ (ASan+UBSan, what the test suite runs), `scripts/build.sh fuzz`
# → build-fuzz/ (clang + libFuzzer harnesses).
set -eu
cd "$(dirname "$0")/.."
mode=${1:-release}
case "$mode" in
  release) dir=build; opts="--buildtype=debugoptimized" ;;
  asan)    dir=build-asan; opts="--buildtype=debugoptimized -Db_sanitize=address,undefined -Db_lundef=false" ;;
  fuzz)    dir=build-fuzz; opts="--buildtype=debugoptimized -Dfuzz=true -Db_lundef=false -Dwerror=false -Db_sanitize=address,undefined -Dc_args=-fsanitize=fuzzer-no-link" ;;
  *) echo "usage: $0 [release|asan|fuzz]" >&2; exit 2 ;;
esac
if [ ! -f "$dir/build.ninja" ]; then
  if [ "$mode" = fuzz ]; then
    CC=clang meson setup "$dir" $opts >/dev/null
  else
    meson setup "$dir" $opts >/dev/null
  fi
fi
targets=""
if [ "$mode" = fuzz ]; then
  # Only the harnesses (and what they link): the tools are built elsewhere.
  targets=$(ninja -C "$dir" -t targets all 2>/dev/null | sed -n 's/^\(tests\/fuzz\/[a-z_]*_fuzz\): .*/\1/p' | sort -u | tr '\n' ' ')
fi
ninja -C "$dir" -j"$(nproc)" $targets >/dev/null || ninja -C "$dir" -j1 $targets
echo "$dir"
