#!/usr/bin/env bats
# imgadm sources / avail / import / update against real HTTP servers started
# here on 127.0.0.1: fixtures/imgapi_server.py (IMGAPI paths, with switches
# to cut, stall, corrupt, 404, redirect loop or ignore Range) and a plain
# `python3 -m http.server` over the same directory (a static mirror).

load helpers
load fixtures/imgadm-lib

A=3f1c0e6a-5b7d-4c2e-9a8b-1d2e3f4a5b6c
B=7a6b5c4d-3e2f-4a1b-8c9d-0e1f2a3b4c5d
C=c0ffee00-1234-4abc-8def-0123456789ab
NOPE=deadbeef-0000-4000-8000-000000000001

setup() {
    vm_setup_root
    F=$BATS_TEST_TMPDIR
    MIRROR=$F/mirror
    mkdir -p "$MIRROR/images"
    PIDS=()
}

teardown() {
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    vm_teardown_root
}

# publish UUID SIZE_MIB NAME VERSION PUBLISHED [EXTRA_JSON]: a random-data
# raw zvol image in the mirror (images/<uuid>/{index.html,file}) and the
# mirror's image list (images/index.html) rebuilt.
publish() {
    local uuid=$1 size=$2 name=$3 version=$4 pub=$5 extra=${6:-}
    local d=$MIRROR/images/$uuid
    mkdir -p "$d"
    head -c $((size * 1024 * 1024)) /dev/urandom > "$d/file"
    local sha bytes
    sha=$(sha1sum "$d/file" | cut -d' ' -f1)
    bytes=$(stat -c %s "$d/file")
    cat > "$d/index.html" <<EOT
{"v": 2, "uuid": "$uuid", "name": "$name", "version": "$version", "type": "zvol", "os": "linux",
 "state": "active", "disabled": false, "public": true, "published_at": "$pub", "image_size": $size,
 $extra "files": [{"sha1": "$sha", "size": $bytes, "compression": "none"}], "requirements": {}}
EOT
    reindex
}

reindex() {
    (cd "$MIRROR/images" && jq -s . */index.html > index.html)
}

# start_imgapi [DIR [CERT KEY]]: the IMGAPI-shaped server (HTTPS with a
# certificate); sets URL.
start_imgapi() {
    local dir=${1:-$MIRROR} scheme=http
    [ -n "${2:-}" ] && scheme=https
    rm -f "$dir/port"
    python3 "$BATS_TEST_DIRNAME/fixtures/imgapi_server.py" "$dir" "$dir/port" "${@:2}" &
    PIDS+=($!)
    wait_for test -s "$dir/port"
    URL=$scheme://127.0.0.1:$(cat "$dir/port")
}

# start_static: python3 -m http.server over the mirror; sets STATIC.
start_static() {
    local port
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    python3 -m http.server --bind 127.0.0.1 --directory "$MIRROR" "$port" >/dev/null 2>&1 &
    PIDS+=($!)
    STATIC=http://127.0.0.1:$port
    wait_for curl -sf "$STATIC/images/"
}

ctl() { echo "$1" > "$MIRROR/control.json"; }

use_only() {
    imgadm sources -d https://images.smartos.org >/dev/null
    imgadm sources -a "$1" >/dev/null
}

# Nothing installed, nothing kept: no image, no dataset, no download.
nothing_installed() {
    [ -z "$(imgadm list -H)" ]
    [ -z "$(vmstore list -H -t all -o name 2>/dev/null | grep -v '^zones$' || true)" ]
    [ -z "$(ls -A "$VMADM_ROOT/var/imgadm/downloads" 2>/dev/null)" ]
}

@test "sources: default, add (ping-checked), delete, JSON, kept under VMADM_ROOT" {
    start_imgapi
    run imgadm sources
    [ "$status" -eq 0 ]
    [ "$output" = https://images.smartos.org ]
    run imgadm sources -a "$URL/"
    [ "$status" -eq 0 ]
    [ "$output" = "Added image source \"$URL\"" ]
    run imgadm sources -a "$URL"
    [ "$output" = "Already have image source \"$URL\", no change" ]
    run imgadm sources -d https://images.smartos.org
    [ "$output" = 'Deleted image source "https://images.smartos.org"' ]
    run imgadm sources -d https://images.smartos.org
    [ "$output" = 'Do not have image source "https://images.smartos.org", no change' ]
    run imgadm sources -j
    [ "$(echo "$output" | jq -c .)" = "[\"$URL\"]" ]
    [ "$(jq -r '.sources[0].url' "$VMADM_ROOT/var/imgadm/imgadm.conf")" = "$URL" ]
    # -e through $EDITOR: add one, drop one.
    cat > "$F/ed.sh" <<EOT
#!/bin/sh
sed -i 's|^$URL\$|$URL/other|' "\$1"
EOT
    chmod +x "$F/ed.sh"
    EDITOR=$F/ed.sh run imgadm sources -e -f
    [ "$status" -eq 0 ]
    [[ "$output" == *"Deleted image source \"$URL\""* ]]
    [[ "$output" == *"Added image source \"$URL/other\""* ]]
    run imgadm sources
    [ "$output" = "$URL/other" ]
}

@test "sources: bad URLs and unreachable sources are refused, list unchanged" {
    for u in ftp://example.com file:///etc/passwd 'http://a b' http://user:pw@host/ 'http://h/?channel=x' http:// \
        'http://h:99999999/'; do
        run imgadm sources -a "$u"
        echo "$u -> $output"
        [ "$status" -eq 1 ]
        [[ "$output" == *"invalid image source URL"* ]]
    done
    run imgadm sources -a http://127.0.0.1:9
    [ "$status" -eq 1 ]
    [[ "$output" == *"cannot reach http://127.0.0.1:9/ping"* ]]
    run imgadm sources
    [ "$output" = https://images.smartos.org ]
    [ ! -e "$VMADM_ROOT/var/imgadm/imgadm.conf" ]
    run imgadm sources -a http://127.0.0.1:9 -d http://x
    [ "$status" -eq 2 ]
    [[ "$output" == *'cannot specify more than one of "-a", "-d" and "-e"'* ]]
}

@test "avail: merged across sources (first wins), columns, sort, filters, JSON; a dead source is reported" {
    publish $A 1 base 1.0 2024-01-01T00:00:00.000Z
    publish $B 1 base 2.0 2024-03-01T00:00:00.123Z
    start_imgapi
    # A second source offering B (renamed) and C.
    local M2=$F/m2
    mkdir -p "$M2/images"
    cp -r "$MIRROR/images/$B" "$MIRROR/images/$A" "$M2/images/"
    jq '.name = "other"' "$M2/images/$B/index.html" > "$M2/x" && mv "$M2/x" "$M2/images/$B/index.html"
    MIRROR=$M2 publish $C 1 zeta 0.1 2023-06-01T00:00:00Z
    local U1=$URL
    start_imgapi "$M2"
    local U2=$URL
    use_only "$U1"
    imgadm sources -a "$U2"
    run imgadm avail
    [ "$status" -eq 0 ]
    [ "${lines[0]}" = "$(printf 'UUID%-34sNAME  VERSION  OS     TYPE  PUB' '')" ]
    [ "${lines[1]}" = "$C  zeta  0.1      linux  zvol  2023-06-01" ]
    [ "${lines[2]}" = "$A  base  1.0      linux  zvol  2024-01-01" ]
    [ "${lines[3]}" = "$B  base  2.0      linux  zvol  2024-03-01" ]
    [ "${#lines[@]}" -eq 4 ]
    run imgadm avail -H -o uuid,source,published -s -name,version name=base
    [ "${lines[0]}" = "$A  $U1  2024-01-01T00:00:00Z" ]
    [ "${lines[1]}" = "$B  $U1  2024-03-01T00:00:00Z" ]
    run imgadm avail -j
    [ "$(echo "$output" | jq -r "map(select(.manifest.uuid == \"$C\"))[0].source")" = "$U2" ]
    [ "$(echo "$output" | jq length)" = 3 ]
    # A dead source: the others' images are listed, the error follows, exit 1.
    imgadm sources -f -a http://127.0.0.1:9
    run imgadm avail -H -o uuid
    [ "$status" -eq 1 ]
    [ "${#lines[@]}" -eq 4 ]
    [[ "${lines[3]}" == "imgadm: error: cannot reach http://127.0.0.1:9/images"* ]]
}

@test "import by uuid from an IMGAPI server installs it; again is a no-op" {
    publish $A 4 base 1.0 2024-01-01T00:00:00Z
    start_imgapi
    use_only "$URL"
    run imgadm import $A
    echo "$output"
    [ "$status" -eq 0 ]
    [ "${lines[0]}" = "Importing $A (base@1.0) from \"$URL\"" ]
    [ "${lines[1]}" = "Imported image $A (base@1.0)" ]
    run imgadm get $A
    [ "$(echo "$output" | jq -r .manifest.name)" = base ]
    run vmstore list -H -t snapshot -o name
    [[ "$output" == *"zones/$A@final"* ]]
    [ -z "$(ls -A "$VMADM_ROOT/var/imgadm/downloads")" ]
    run imgadm import $A
    [ "$status" -eq 0 ]
    [ "$output" = "Image $A (base@1.0) is already installed, skipping" ]
    [ "$(grep -c "/images/$A/file" "$MIRROR/requests.log")" -eq 1 ]
}

@test "import name and name@version pick from avail; -j and -q for scripts" {
    publish $A 1 base 1.0 2024-01-01T00:00:00Z
    publish $B 1 base 2.0 2024-03-01T00:00:00Z
    publish $C 1 zeta 0.1 2023-06-01T00:00:00Z
    start_imgapi
    use_only "$URL"
    run imgadm import -q base@1.0
    [ "$status" -eq 0 ]
    [ -z "$output" ]
    imgadm get $A >/dev/null
    run imgadm import -j base
    [ "$status" -eq 0 ]
    [ "$(echo "$output" | jq -r '.[0].manifest.uuid')" = $B ]
    [ "$(echo "$output" | jq -r '.[0].source')" = "$URL" ]
    [ "$(echo "$output" | jq -r '.[0].imported')" = true ]
    run imgadm import nosuch@1
    [ "$status" -eq 1 ]
    [ "$output" = 'imgadm: error: no image "nosuch@1" in image sources' ]
}

@test "import from a static mirror (python3 -m http.server) with -S" {
    publish $A 2 base 1.0 2024-01-01T00:00:00Z
    start_static
    run imgadm import -S "$STATIC" $A
    echo "$output"
    [ "$status" -eq 0 ]
    [ "${lines[1]}" = "Imported image $A (base@1.0)" ]
    imgadm get $A >/dev/null
    # The configured sources were not used (nor changed).
    [ "$(imgadm sources)" = https://images.smartos.org ]
    imgadm sources -d https://images.smartos.org
    run imgadm sources -a "$STATIC"
    [ "$status" -eq 0 ]
    run imgadm avail -H -o uuid,name
    [ "$output" = "$A  base" ]
}

@test "import of an incremental image imports its origin first" {
    publish $A 1 base 1.0 2024-01-01T00:00:00Z
    publish $B 1 child 1.0 2024-02-01T00:00:00Z "\"origin\": \"$A\","
    start_imgapi
    use_only "$URL"
    run imgadm import $B
    echo "$output"
    [ "$status" -eq 0 ]
    [ "${lines[0]}" = "Importing $A (base@1.0) from \"$URL\"" ]
    [ "${lines[1]}" = "Imported image $A (base@1.0)" ]
    [ "${lines[2]}" = "Importing $B (child@1.0) from \"$URL\"" ]
    [ "${lines[3]}" = "Imported image $B (child@1.0)" ]
    imgadm get $A >/dev/null
    imgadm get $B >/dev/null
    # An origin that no source has: nothing installed.
    publish $C 1 orphan 1.0 2024-02-01T00:00:00Z "\"origin\": \"$NOPE\","
    run imgadm import $C
    [ "$status" -eq 1 ]
    [ "$output" = "imgadm: error: an active image \"$NOPE\" was not found in image sources" ]
    run imgadm get $C
    [ "$status" -ne 0 ]
}

@test "HTTPS: the server certificate is verified; CURL_CA_BUNDLE names the CA" {
    publish $A 1 base 1.0 2024-01-01T00:00:00Z
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
        -keyout "$F/key.pem" -out "$F/cert.pem" 2>/dev/null
    start_imgapi "$MIRROR" "$F/cert.pem" "$F/key.pem"
    run imgadm import -S "$URL" $A
    [ "$status" -eq 1 ]
    [[ "$output" == *"cannot reach $URL/images/$A"*"certificate"* ]]
    nothing_installed
    run imgadm sources -a "$URL"
    [ "$status" -eq 1 ]
    CURL_CA_BUNDLE=$F/cert.pem run imgadm import -S "$URL" $A
    echo "$output"
    [ "$status" -eq 0 ]
    [ "${lines[1]}" = "Imported image $A (base@1.0)" ]
}

@test "a download cut mid-body resumes with Range in the same run" {
    publish $A 4 base 1.0 2024-01-01T00:00:00Z
    start_imgapi
    use_only "$URL"
    ctl '{"cut_at": 1500000, "cut_times": 1}'
    run imgadm import $A
    echo "$output"
    [ "$status" -eq 0 ]
    grep -q "^/images/$A/file bytes=1500000-\$" "$MIRROR/requests.log"
    imgadm get $A >/dev/null
}

@test "a download cut for good keeps the partial file; the next import resumes it" {
    publish $A 4 base 1.0 2024-01-01T00:00:00Z
    start_imgapi
    use_only "$URL"
    ctl '{"cut_at": 3000000}'
    run imgadm import $A
    echo "$output"
    [ "$status" -eq 1 ]
    [[ "$output" == *"download of $URL/images/$A/file was cut after 3000000 of 4194304 bytes"* ]]
    [ -z "$(imgadm list -H)" ]
    [ "$(stat -c %s "$VMADM_ROOT/var/imgadm/downloads/$A.file")" -eq 3000000 ]
    ctl '{}'
    : > "$MIRROR/requests.log"
    run imgadm import $A
    [ "$status" -eq 0 ]
    [ "$(grep "/file" "$MIRROR/requests.log")" = "/images/$A/file bytes=3000000-" ]
    imgadm get $A >/dev/null
    [ -z "$(ls -A "$VMADM_ROOT/var/imgadm/downloads")" ]

    # A partial download abandoned for more than 7 days goes at the next import.
    publish $B 2 other 1.0 2024-01-01T00:00:00Z
    ctl '{"cut_at": 1000000}'
    run imgadm import $B
    [ "$status" -eq 1 ]
    [ -s "$VMADM_ROOT/var/imgadm/downloads/$B.file" ]
    touch -d '8 days ago' "$VMADM_ROOT/var/imgadm/downloads/$B.file"
    run imgadm import $NOPE
    [ "$status" -eq 1 ]
    [ -z "$(ls -A "$VMADM_ROOT/var/imgadm/downloads")" ]
}

@test "a server that ignores Range: the partial download starts over and still verifies" {
    publish $A 2 base 1.0 2024-01-01T00:00:00Z
    start_imgapi
    use_only "$URL"
    ctl '{"cut_at": 1000000}'
    run imgadm import $A
    [ "$status" -eq 1 ]
    ctl '{"no_range": true}'
    run imgadm import $A
    [ "$status" -eq 0 ]
    imgadm get $A >/dev/null
}

@test "bad sources: 404, unreachable, wrong uuid, bad manifest, corrupt or short file, redirect loop, stall" {
    publish $A 2 base 1.0 2024-01-01T00:00:00Z
    start_imgapi
    use_only "$URL"
    run imgadm import $NOPE
    [ "$status" -eq 1 ]
    [ "$output" = "imgadm: error: an active image \"$NOPE\" was not found in image sources" ]
    nothing_installed

    run imgadm import -S http://127.0.0.1:9 $A
    [ "$status" -eq 1 ]
    [[ "$output" == *"cannot reach http://127.0.0.1:9/images/$A"* ]]
    nothing_installed

    ctl "{\"wrong_uuid\": \"$B\"}"
    run imgadm import $A
    [ "$status" -eq 1 ]
    [ "$output" = "imgadm: error: image source \"$URL\" answered for image \"$A\" with the manifest of \"$B\"" ]
    nothing_installed

    ctl '{"corrupt": true}'
    run imgadm import $A
    [ "$status" -eq 1 ]
    [[ "${lines[1]}" == "imgadm: error: sha1 mismatch: manifest says "*", $URL/images/$A/file has "* ]]
    nothing_installed

    ctl '{"file_404": true}'
    run imgadm import $A
    [ "$status" -eq 1 ]
    [[ "$output" == *"$URL/images/$A/file: HTTP 404"* ]]
    nothing_installed

    ctl '{"redirect_loop": true}'
    run imgadm import $A
    [ "$status" -eq 1 ]
    [[ "$output" == *"too many redirects fetching $URL/images/$A"* ]]
    nothing_installed

    ctl '{"stall": true}'
    IMGADM_STALL_TIMEOUT=2 run imgadm import $A
    [ "$status" -eq 1 ]
    [[ "$output" == *"$URL/images/$A/file stalled: no data for 2 s"* ]]
    nothing_installed

    ctl '{}'
    # The manifest lies about the size: refused before a byte is kept.
    jq '.files[0].size += 10' "$MIRROR/images/$A/index.html" > "$F/m" && cp "$F/m" "$MIRROR/images/$A/index.html"
    run imgadm import $A
    [ "$status" -eq 1 ]
    [[ "$output" == *"size mismatch: manifest says 2097162 bytes, $URL/images/$A/file has 2097152 bytes"* ]]
    nothing_installed

    # A manifest that fails validation (a name with '/').
    jq '.files[0].size -= 10 | .name = "../../etc"' "$MIRROR/images/$A/index.html" > "$F/m" &&
        cp "$F/m" "$MIRROR/images/$A/index.html"
    run imgadm import $A
    [ "$status" -eq 1 ]
    [[ "$output" == *"invalid manifest: \"name\" must not contain '/'"* ]]
    nothing_installed
}

@test "concurrent imports of one image wait for each other: one download, both succeed" {
    publish $A 4 base 1.0 2024-01-01T00:00:00Z
    start_imgapi
    use_only "$URL"
    ctl '{"rate": 4000000}'
    imgadm import $A > "$F/one" 2>&1 &
    local p1=$!
    imgadm import $A > "$F/two" 2>&1 &
    local p2=$!
    wait $p1
    wait $p2
    cat "$F/one" "$F/two"
    [ "$(grep -c "/images/$A/file" "$MIRROR/requests.log")" -eq 1 ]
    cat "$F/one" "$F/two" | grep -q "Imported image $A (base@1.0)"
    cat "$F/one" "$F/two" | grep -q "Image $A (base@1.0) is already installed, skipping"
    imgadm get $A >/dev/null
}

@test "progress bar on a TTY shows bytes, rate and ETA; none without a TTY" {
    publish $A 4 base 1.0 2024-01-01T00:00:00Z
    start_imgapi
    use_only "$URL"
    ctl '{"rate": 8000000}'
    run script -qec "imgadm import $A" /dev/null
    echo "$output"
    [ "$status" -eq 0 ]
    [[ "$output" == *"download"*"4.0M/4.0M"*"/s ETA "* ]]
    imgadm delete $A
    run imgadm import $A
    [[ "$output" != *ETA* ]]
}

@test "update refreshes installed manifests from the sources, refuses another file" {
    publish $A 1 base 1.0 2024-01-01T00:00:00Z
    start_imgapi
    use_only "$URL"
    imgadm import -q $A
    run imgadm update
    [ "$status" -eq 0 ]
    [ -z "$output" ]
    jq '.description = "now described"' "$MIRROR/images/$A/index.html" > "$F/m" && cp "$F/m" "$MIRROR/images/$A/index.html"
    run imgadm update $A
    [ "$status" -eq 0 ]
    [ "$output" = "Updated image $A (base@1.0) manifest" ]
    [ "$(imgadm get $A | jq -r .manifest.description)" = "now described" ]
    jq '.files[0].sha1 = "0000000000000000000000000000000000000000" | .description = "evil"' \
        "$MIRROR/images/$A/index.html" > "$F/m" && cp "$F/m" "$MIRROR/images/$A/index.html"
    run imgadm update
    [ "$status" -eq 1 ]
    [[ "$output" == *"describes image $A with another file or type: manifest not updated"* ]]
    [ "$(imgadm get $A | jq -r .manifest.description)" = "now described" ]
}
