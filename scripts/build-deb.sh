#!/bin/sh
# Builds the Debian package with the standard tools (dpkg-buildpackage
# -us -uc -b, debhelper, meson) from a copy of this tree, so nothing is
# written next to the checkout, and puts the .deb (and its .buildinfo and
# .changes) into OUTDIR.
#
# Usage: scripts/build-deb.sh OUTDIR   (builds with as many jobs as cores: -J)
# Needs the build dependencies in debian/control (scripts/deps.sh installs
# them) and debhelper; prints the path of the .deb on success.
set -eu

[ $# -eq 1 ] || { echo "usage: $0 OUTDIR" >&2; exit 2; }
out=$1
src=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$out"
out=$(cd "$out" && pwd)
version=$(dpkg-parsechangelog -l "$src/debian/changelog" -S Version)

work=$(mktemp -d "${TMPDIR:-/tmp}/vmadm-deb.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
tree="$work/vmadm-$version"
mkdir "$tree"
# The working tree as it is (tracked and new files, not build output).
if git -C "$src" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    (cd "$src" && git ls-files -z -co --exclude-standard | xargs -0 -r sh -c '
        for f; do [ -e "$f" ] || [ -L "$f" ] && printf "%s\0" "$f"; done' sh) |
        (cd "$src" && tar --null -T - -cf -) | tar -C "$tree" -xf -
else
    (cd "$src" && tar --exclude=./build --exclude=./.git -cf - .) | tar -C "$tree" -xf -
fi

(cd "$tree" && dpkg-buildpackage -us -uc -b -J) > "$work/build.log" 2>&1 || {
    tail -n 40 "$work/build.log" >&2
    echo "build-deb: dpkg-buildpackage failed (log above)" >&2
    exit 1
}
for f in "$work"/*.deb "$work"/*.buildinfo "$work"/*.changes; do
    [ -e "$f" ] && mv "$f" "$out/"
done
ls "$out"/vmadm_"$version"_*.deb
