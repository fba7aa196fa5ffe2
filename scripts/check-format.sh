#!/bin/sh
# Fails (and shows the diff) when a C file under lib/, src/ or tests/ is not
# formatted as .clang-format says.  `scripts/check-format.sh -i` fixes them.
set -eu
cd "$(dirname "$0")/.."
files=$(git ls-files 'lib/*.[ch]' 'src/*.[ch]' 'tests/*.[ch]' 2>/dev/null || find lib src tests -name '*.[ch]')
if [ "${1:-}" = -i ]; then
    clang-format -i $files
    exit 0
fi
bad=0
for f in $files; do
    if ! clang-format "$f" | diff -u "$f" - >/tmp/check-format.$$ 2>&1; then
        cat /tmp/check-format.$$
        bad=1
    fi
done
rm -f /tmp/check-format.$$
[ $bad = 0 ] || { echo "format: run scripts/check-format.sh -i" >&2; exit 1; }
