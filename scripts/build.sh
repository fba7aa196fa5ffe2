#!/bin/sh
# Builds vmadm: `scripts/build.sh` → build/ (release), `scripts/build.sh asan`
# → build-asan/ (ASan+UBSan, what the test suite runs), `scripts/build.sh fuzz`
# → build-fuzz/ (clang, -Werror, libFuzzer harnesses).
set -eu
cd "$(dirname "$0")/.."
mode=${1:-release}
case "$mode" in
  release) dir=build; opts="--buildtype=debugoptimized" ;;
  asan)    dir=build-asan; opts="--buildtype=debugoptimized -Db_sanitize=address,undefined -Db_lundef=false" ;;
  fuzz)    dir=build-fuzz; opts="--buildtype=debugoptimized -Dfuzz=true -Db_lundef=false -Db_sanitize=address,undefined -Dc_args=-fsanitize=fuzzer-no-link" ;;
  *) echo "usage: $0 [release|asan|fuzz]" >&2; exit 2 ;;
esac
if [ ! -f "$dir/build.ninja" ]; then
  if [ "$mode" = fuzz ]; then
    CC=clang meson setup "$dir" $opts >/dev/null
  else
    meson setup "$dir" $opts >/dev/null
  fi
fi
# The fuzz build compiles the whole tree with clang and -Werror too: clang
# refuses a goto that skips a cleanup variable, which gcc accepts silently.
# It also checks the house style (.clang-format) and the size limits
# (scripts/check-size.py: files and functions a reader can hold).
if [ "$mode" = fuzz ]; then
  ./scripts/check-format.sh >&2 || exit 1
  ./scripts/check-size.py >&2 || exit 1
fi
ninja -C "$dir" -j"$(nproc)" >/dev/null || ninja -C "$dir" -j1
echo "$dir"
