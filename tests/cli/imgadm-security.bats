#!/usr/bin/env bats
# imgadm against hostile images and hostile image files (issue 14): a file
# swapped or rewritten between verification and use, decompression bombs,
# archive write errors, symlink chains out of the root, and temp files left
# by a kill -9.  Each test is the attack; it must fail and change nothing.

load helpers
load fixtures/imgadm-lib

IMG=6d2b1e80-8c4f-4b57-a4f6-0c2b0e5c7a11
TAR_IMG=0b9d4c1e-3a5f-4e2d-9c8b-7f6e5d4c3b2a

setup() {
    vm_setup_root
    F=$BATS_TEST_TMPDIR
    MNT=()
}

teardown() {
    [ -n "${BG:-}" ] && kill -9 "$BG" 2>/dev/null
    for m in "${MNT[@]}"; do umount -l "$m" 2>/dev/null || true; done
    vm_teardown_root
}

# install_paused MANIFEST FILE: starts an install that stops once the file
# is hashed (test hook of lib/image); returns when it is there.
install_paused() {
    mkfifo "$F/pause"
    VMADM_TEST_IMGADM_PAUSE_AFTER_HASH="$F/pause" imgadm install -q -m "$1" -f "$2" > "$F/out" 2>&1 &
    BG=$!
    run timeout 60 cat "$F/pause"
    [ "$output" = hashed ]
}

# resume_install: lets it go on; $status/$output are its result.
resume_install() {
    timeout 60 sh -c "echo go > '$F/pause'"
    local rc=0
    wait "$BG" || rc=$?
    BG=
    status=$rc
    output=$(cat "$F/out")
    echo "install: status=$status output=$output"
}

# The content of the installed volume of image $1 equals raw file $2.
volume_is() {
    local q
    for q in "$VMADM_ROOT"/var/vmstore/zones/data/*.qcow2; do
        qemu-img compare -q -U -f raw -F qcow2 "$2" "$q" || return 1
    done
}

@test "#2 zvol: a file renamed over the image after hashing is never installed" {
    make_zvol_image $IMG 16 "$F"
    cp "$F/$IMG.raw" "$F/good.raw"
    cp "$F/$IMG.raw" "$F/evil.raw"
    printf 'EVIL BOOT SECTOR' | dd of="$F/evil.raw" conv=notrunc status=none
    # a second name keeps the verified file alive: the swap unlinks nothing
    ln "$F/$IMG.raw" "$F/keep.raw"
    install_paused "$F/$IMG.json" "$F/$IMG.raw"
    mv "$F/evil.raw" "$F/$IMG.raw"
    resume_install
    # only the open (verified) file is read: either its bytes are installed
    # or, as the rename changed its link count (ctime), it is refused
    if [ "$status" -eq 0 ]; then
        volume_is $IMG "$F/good.raw"
    else
        [[ "$output" == *"changed while being installed"* ]]
        run imgadm list -H
        [ -z "$output" ]
    fi
    # and with no rename at all the same file installs fine
    run imgadm install -q -m "$F/$IMG.json" -f "$F/keep.raw"
    [ "$status" -eq 0 ]
    volume_is $IMG "$F/good.raw"
}

@test "#2 zvol: a file rewritten in place after hashing is refused, nothing installed" {
    make_zvol_image $IMG 16 "$F"
    local before; before=$(state)
    install_paused "$F/$IMG.json" "$F/$IMG.raw"
    printf 'EVIL BOOT SECTOR' | dd of="$F/$IMG.raw" conv=notrunc status=none
    resume_install
    [ "$status" -eq 1 ]
    [[ "$output" == *"$F/$IMG.raw changed while being installed"* ]]
    [ "$(state)" = "$before" ]
}

@test "#2 zvol (compressed): rewriting after the hash is refused" {
    make_zvol_image $IMG 16 "$F"
    zstd -q -c "$F/$IMG.raw" > "$F/img.zst"
    write_manifest $IMG zvol "$F/img.zst" zstd 16
    local before; before=$(state)
    install_paused "$F/$IMG.json" "$F/img.zst"
    printf 'x' | dd of="$F/img.zst" bs=1 seek=100 conv=notrunc status=none
    resume_install
    [ "$status" -eq 1 ]
    [[ "$output" == *"changed while being installed"* ]]
    [ "$(state)" = "$before" ]
}

@test "#2 tarball: swapped or rewritten between verification and extraction" {
    mkdir -p "$F/good/etc" "$F/evil/etc"
    echo good > "$F/good/etc/motd"
    echo evil > "$F/evil/etc/motd"
    tar -C "$F/good" -cf "$F/root.tar" .
    tar -C "$F/evil" -cf "$F/evil.tar" .
    [ "$(stat -c %s "$F/root.tar")" = "$(stat -c %s "$F/evil.tar")" ]
    write_manifest $TAR_IMG zone-dataset "$F/root.tar" none
    cp "$F/root.tar" "$F/keep.tar"

    # rename: the open file is still the verified one (the unlink changes
    # its ctime, so the install is refused rather than trusting that)
    install_paused "$F/$TAR_IMG.json" "$F/root.tar"
    mv "$F/evil.tar" "$F/root.tar"
    resume_install
    if [ "$status" -eq 0 ]; then
        local mp; mp=$(vmstore list -H -o mountpoint zones/$TAR_IMG)
        [ "$(cat "$mp/root/etc/motd")" = good ]
        imgadm delete $TAR_IMG
    else
        [[ "$output" == *"changed while being installed"* ]]
    fi
    run imgadm list -H
    [ -z "$output" ]

    # in place: refused
    cp "$F/keep.tar" "$F/root.tar"
    local before; before=$(state)
    rm -f "$F/pause"
    install_paused "$F/$TAR_IMG.json" "$F/root.tar"
    tar -C "$F/evil" -cf - . | dd of="$F/root.tar" conv=notrunc status=none
    resume_install
    [ "$status" -eq 1 ]
    [[ "$output" == *"changed while being installed"* ]]
    [ "$(state)" = "$before" ]
}

@test "#3 zvol decompression bomb stops at image_size + margin, before writing more" {
    # 1 GiB of non-zero data (zero blocks would become holes) in a few KB
    yes | head -c 1G | zstd -q -c > "$F/bomb.zst"
    [ "$(stat -c %s "$F/bomb.zst")" -lt 200000 ]
    write_manifest $IMG zvol "$F/bomb.zst" zstd 16
    # The temp file lives on an 18 MiB tmpfs: writing past 16 MiB + 1 MiB
    # + 1/256 would end in "No space left", not in the bomb message.
    mkdir -p "$VMADM_ROOT/var/imgadm/tmp"
    mount -t tmpfs -o size=18m tmpfs "$VMADM_ROOT/var/imgadm/tmp"
    MNT+=("$VMADM_ROOT/var/imgadm/tmp")
    refused "$F/bomb.zst decompresses to more than 17 MiB (its manifest image_size plus margin): refusing a decompression bomb" \
        install -m "$F/$IMG.json" -f "$F/bomb.zst"
    [ -z "$(ls -A "$VMADM_ROOT/var/imgadm/tmp")" ]

    # gzip too
    yes | head -c 256M | gzip -c > "$F/bomb.gz"
    write_manifest $IMG zvol "$F/bomb.gz" gzip 16
    refused "refusing a decompression bomb" install -m "$F/$IMG.json" -f "$F/bomb.gz"
}

@test "#3 tarball decompression bomb is refused before anything is written" {
    mkdir -p "$F/r"
    yes | head -c 300M > "$F/r/big"
    tar -C "$F/r" -cf - . | zstd -q -c > "$F/bomb.tar.zst"
    rm -rf "$F/r"
    # without image_size: 100 x the shipped size + 256 MiB
    write_manifest $TAR_IMG zone-dataset "$F/bomb.tar.zst" zstd
    refused "decompresses to more than 25" install -m "$F/$TAR_IMG.json" -f "$F/bomb.tar.zst"
    # with image_size: that + margin
    write_manifest $TAR_IMG zone-dataset "$F/bomb.tar.zst" zstd 100
    refused "decompresses to more than 101 MiB" install -m "$F/$TAR_IMG.json" -f "$F/bomb.tar.zst"
    # an honest image_size lets it in
    write_manifest $TAR_IMG zone-dataset "$F/bomb.tar.zst" zstd 400
    run imgadm install -q -m "$F/$TAR_IMG.json" -f "$F/bomb.tar.zst"
    [ "$status" -eq 0 ]
}

@test "#16 a compressed install killed with -9 leaves no temp file after the next command" {
    make_zvol_image $IMG 16 "$F"
    dd if=/dev/urandom of="$F/$IMG.raw" bs=1M count=4 conv=notrunc status=none
    zstd -q -c "$F/$IMG.raw" > "$F/img.zst"
    write_manifest $IMG zvol "$F/img.zst" zstd 16
    install_paused "$F/$IMG.json" "$F/img.zst"
    # decompressed, hashed, not yet imported: the temp file is there
    run ls "$VMADM_ROOT/var/imgadm/tmp"
    [ "$output" = "$IMG.$BG.raw" ]
    kill -9 "$BG"
    wait "$BG" || true
    BG=
    [ -n "$(ls -A "$VMADM_ROOT/var/imgadm/tmp")" ]
    run imgadm list
    [ "$status" -eq 0 ]
    [ -z "$(ls -A "$VMADM_ROOT/var/imgadm/tmp")" ]

    # a live install's temp file is left alone by other commands
    make_zvol_image $IMG 16 "$F"
    rm -f "$F/pause"
    zstd -q -f -c "$F/$IMG.raw" > "$F/img.zst"
    write_manifest $IMG zvol "$F/img.zst" zstd 16
    install_paused "$F/$IMG.json" "$F/img.zst"
    imgadm list
    [ -f "$VMADM_ROOT/var/imgadm/tmp/$IMG.$BG.raw" ]
    resume_install
    [ "$status" -eq 0 ]
    [ -z "$(ls -A "$VMADM_ROOT/var/imgadm/tmp")" ]
}

@test "#11 symlink chains and symlinks over directories never send a write outside the root" {
    mkdir -p "$F/canary/etc"
    chmod 755 "$F/canary/etc"
    # a -> <canary> (absolute: allowed, it resolves inside the container),
    # then a file written through it
    mkdir -p "$F/t1/a"; echo pwned > "$F/t1/a/pwned"
    ln -s "$F/canary" "$F/t1/l"
    tar -C "$F/t1" -cf "$F/abs.tar" ./l
    tar -C "$F/t1" -rf "$F/abs.tar" --transform 's,^\./a,./l,' ./a/pwned
    write_manifest $TAR_IMG zone-dataset "$F/abs.tar" none
    refused 'is written through symlink' install -m "$F/$TAR_IMG.json" -f "$F/abs.tar"

    # a chain whose text stays inside: d/l1 -> .., d/l2 -> l1/.. (the root's
    # parent), then a file through it
    mkdir -p "$F/t2/d"
    ln -s .. "$F/t2/d/l1"
    ln -s l1/.. "$F/t2/d/l2"
    echo pwned > "$F/t2/pwned"
    tar -C "$F/t2" -cf "$F/chain.tar" ./d
    tar -C "$F/t2" -rf "$F/chain.tar" --transform 's,^\./pwned,./d/l2/pwned,' ./pwned
    write_manifest $TAR_IMG zone-dataset "$F/chain.tar" none
    refused 'is written through symlink' install -m "$F/$TAR_IMG.json" -f "$F/chain.tar"

    # a directory (mode 0777) replaced by a symlink to the canary: the
    # directory's deferred mode must not land on the canary
    mkdir -p "$F/t3/x" "$F/t4"
    chmod 777 "$F/t3/x"
    ln -s "$F/canary/etc" "$F/t4/x"
    tar -C "$F/t3" -cf "$F/over.tar" ./x
    tar -C "$F/t4" -rf "$F/over.tar" ./x
    write_manifest $TAR_IMG zone-dataset "$F/over.tar" none
    run imgadm install -q -m "$F/$TAR_IMG.json" -f "$F/over.tar"
    [ "$status" -eq 0 ]
    local mp; mp=$(vmstore list -H -o mountpoint zones/$TAR_IMG)
    [ "$(readlink "$mp/root/x")" = "$F/canary/etc" ]

    [ "$(stat -c %a "$F/canary/etc")" = 755 ]
    [ -z "$(find "$F/canary" -mindepth 1 ! -path "$F/canary/etc")" ]
}

@test "#9 a write error during extraction fails the install: full pool, refused xattr" {
    # a pool on a 24 MiB tmpfs, a tarball holding 30 MiB
    mkdir -p "$VMADM_ROOT/var/vmstore"
    mount -t tmpfs -o size=24m tmpfs "$VMADM_ROOT/var/vmstore"
    MNT+=("$VMADM_ROOT/var/vmstore")
    mkdir -p "$F/r/etc"
    echo hi > "$F/r/etc/motd"
    head -c 30M /dev/urandom > "$F/r/big"
    tar -C "$F/r" -cf "$F/big.tar" .
    write_manifest $TAR_IMG zone-dataset "$F/big.tar" none
    # the pool exists (with its delete reserve) before the baseline
    vmstore list >/dev/null
    local free0; free0=$(df --output=avail "$VMADM_ROOT/var/vmstore" | tail -1)
    refused 'cannot extract "big": cannot write: No space left on device' \
        install -m "$F/$TAR_IMG.json" -f "$F/big.tar"
    # the partial dataset is gone (its files first, so the pool could
    # record the destroy): the space is back
    [ "$(df --output=avail "$VMADM_ROOT/var/vmstore" | tail -1)" -ge $((free0 - 64)) ]

    # an extended attribute the file system will not store
    python3 - "$F/xattr.tar" <<'PY'
import io, sys, tarfile
with tarfile.open(sys.argv[1], "w", format=tarfile.PAX_FORMAT) as t:
    i = tarfile.TarInfo("etc/motd"); i.size = 3
    i.pax_headers = {"SCHILY.xattr.bogus.attr": "x"}
    t.addfile(i, io.BytesIO(b"hi\n"))
PY
    write_manifest $TAR_IMG zone-dataset "$F/xattr.tar" none
    refused 'cannot extract "etc/motd": cannot set an extended attribute' \
        install -m "$F/$TAR_IMG.json" -f "$F/xattr.tar"
}
