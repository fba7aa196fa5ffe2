#!/usr/bin/env bats
# imgadm as an operator uses it: install (raw, qcow2, every compression,
# tarballs), get/list/delete, create, and every refusal leaving no trace.

load helpers
load fixtures/imgadm-lib

IMG=6d2b1e80-8c4f-4b57-a4f6-0c2b0e5c7a11
TAR_IMG=0b9d4c1e-3a5f-4e2d-9c8b-7f6e5d4c3b2a

setup() {
    vm_setup_root
    F=$BATS_TEST_TMPDIR
}

teardown() {
    vm_teardown_root
}

# A small zone root tarball.
make_rootfs() {
    mkdir -p "$F/rootfs/etc" "$F/rootfs/usr/bin" "$F/rootfs/var/tmp"
    echo "zone-$1" > "$F/rootfs/etc/hostname"
    printf '#!/bin/sh\necho hi\n' > "$F/rootfs/usr/bin/hello"
    chmod 755 "$F/rootfs/usr/bin/hello"
    ln -sf usr/bin "$F/rootfs/bin"
    ln -sf /usr/share/zoneinfo/UTC "$F/rootfs/etc/localtime"
}

@test "help and usage errors" {
    run imgadm help
    [ "$status" -eq 0 ]
    [[ "$output" == *"imgadm install -m"* ]]
    run imgadm frobnicate
    [ "$status" -eq 2 ]
    [[ "$output" == *'unknown command "frobnicate"'* ]]
    run imgadm install -m only.json
    [ "$status" -eq 2 ]
}

@test "install a raw zvol image, get, list, vmstore shows @final" {
    make_zvol_image $IMG 64 "$F"
    run imgadm install -m "$F/$IMG.json" -f "$F/$IMG.raw"
    [ "$status" -eq 0 ]
    [ "$output" = "Installed image $IMG (test-64@1.0.0)" ]

    run imgadm get $IMG
    [ "$status" -eq 0 ]
    [ "$(echo "$output" | jq -r .zpool)" = zones ]
    [ "$(echo "$output" | jq -r .manifest.uuid)" = $IMG ]
    [ "$(echo "$output" | jq -r .manifest.image_size)" = 64 ]

    run imgadm list
    [ "$status" -eq 0 ]
    [ "${lines[0]}" = "$(printf 'UUID%-34sNAME     VERSION  OS     TYPE  PUB' '')" ]
    [[ "${lines[1]}" == "$IMG  test-64  1.0.0    linux  zvol  -" ]]

    run imgadm list -j
    [ "$(echo "$output" | jq -r '.[0].manifest.name')" = test-64 ]

    run vmstore list -H -t snapshot -o name
    [ "$status" -eq 0 ]
    [[ "$output" == *"zones/$IMG@final"* ]]
    run vmstore list -Hp -o volsize zones/$IMG
    [ "$output" = $((64 * 1024 * 1024)) ]
}

@test "install a qcow2 zvol image keeps the content" {
    make_zvol_image $IMG 32 "$F"
    qemu-img convert -f raw -O qcow2 "$F/$IMG.raw" "$F/$IMG.qcow2"
    write_manifest $IMG zvol "$F/$IMG.qcow2" none 32
    run imgadm install -m "$F/$IMG.json" -f "$F/$IMG.qcow2"
    [ "$status" -eq 0 ]
    run vmstore list -H -t snapshot -o name
    [[ "$output" == *"zones/$IMG@final"* ]]
}

@test "install compressed zvol images: gzip, bzip2, xz, zstd" {
    make_zvol_image $IMG 16 "$F"
    local n=0
    for c in gzip bzip2 xz zstd; do
        n=$((n + 1))
        local u=6d2b1e80-8c4f-4b57-a4f6-0c2b0e5c7a1$n
        case $c in
            gzip) gzip -c "$F/$IMG.raw" > "$F/$u.img" ;;
            bzip2) bzip2 -c "$F/$IMG.raw" > "$F/$u.img" ;;
            xz) xz -c "$F/$IMG.raw" > "$F/$u.img" ;;
            zstd) zstd -q -c "$F/$IMG.raw" > "$F/$u.img" ;;
        esac
        write_manifest $u zvol "$F/$u.img" $c 16
        run imgadm install -q -m "$F/$u.json" -f "$F/$u.img"
        echo "$c: $output"
        [ "$status" -eq 0 ]
        [ -z "$output" ]
    done
    run imgadm list -H -o name,type
    [ "${#lines[@]}" -eq 4 ]
    run imgadm list -H -o uuid type=zvol name=img-xz
    [ "$output" = 6d2b1e80-8c4f-4b57-a4f6-0c2b0e5c7a13 ]
    run vmstore list -H -t snapshot -o name
    [ "$(echo "$output" | grep -c '@final')" -eq 4 ]
}

@test "install a zone-dataset tarball: files land in <mountpoint>/root" {
    make_rootfs a
    tar -C "$F/rootfs" -czf "$F/root.tgz" .
    write_manifest $TAR_IMG zone-dataset "$F/root.tgz" gzip
    run imgadm install -m "$F/$TAR_IMG.json" -f "$F/root.tgz"
    [ "$status" -eq 0 ]
    [ "$output" = "Installed image $TAR_IMG (img-gzip@1.2.3)" ]
    local mp
    mp=$(vmstore list -H -o mountpoint zones/$TAR_IMG)
    [ "$(cat "$mp/root/etc/hostname")" = zone-a ]
    [ -x "$mp/root/usr/bin/hello" ]
    [ "$(readlink "$mp/root/etc/localtime")" = /usr/share/zoneinfo/UTC ]
    run vmstore list -H -t snapshot -o name
    [[ "$output" == *"zones/$TAR_IMG@final"* ]]
    run imgadm get $TAR_IMG
    [ "$(echo "$output" | jq -r .manifest.type)" = zone-dataset ]
}

@test "lx-dataset with zstd tarball" {
    make_rootfs lx
    tar -C "$F/rootfs" --zstd -cf "$F/root.tar.zst" .
    write_manifest $TAR_IMG lx-dataset "$F/root.tar.zst" zstd
    run imgadm install -m "$F/$TAR_IMG.json" -f "$F/root.tar.zst"
    [ "$status" -eq 0 ]
    run imgadm list -H -o type
    [ "$output" = lx-dataset ]
}

@test "lying manifests change nothing: sha1, size, compression, type" {
    make_zvol_image $IMG 16 "$F"
    local good_sha; good_sha=$(sha1sum "$F/$IMG.raw" | cut -d' ' -f1)
    sed -i "s/$good_sha/0000000000000000000000000000000000000000/" "$F/$IMG.json"
    refused "sha1 mismatch: manifest says 0000000000000000000000000000000000000000" \
        install -m "$F/$IMG.json" -f "$F/$IMG.raw"

    make_zvol_image $IMG 16 "$F"
    sed -i 's/"size": [0-9]*/"size": 12345/' "$F/$IMG.json"
    refused "size mismatch: manifest says 12345 bytes" install -m "$F/$IMG.json" -f "$F/$IMG.raw"

    make_zvol_image $IMG 16 "$F"
    sed -i 's/"compression": "none"/"compression": "gzip"/' "$F/$IMG.json"
    refused 'compression mismatch: manifest says "gzip" but '"$F/$IMG.raw"' is "none"' \
        install -m "$F/$IMG.json" -f "$F/$IMG.raw"

    xz -c "$F/$IMG.raw" > "$F/x.img"
    write_manifest $IMG zvol "$F/x.img" zstd 16
    refused 'compression mismatch: manifest says "zstd" but '"$F/x.img"' is "xz"' \
        install -m "$F/$IMG.json" -f "$F/x.img"

    # xz content with a lying sha1: refused after decompression, no temp left
    write_manifest $IMG zvol "$F/x.img" xz 16
    sed -i 's/"sha1": "[0-9a-f]*"/"sha1": "1111111111111111111111111111111111111111"/' "$F/$IMG.json"
    refused "sha1 mismatch" install -m "$F/$IMG.json" -f "$F/x.img"

    # image larger than image_size
    write_manifest $IMG zvol "$F/$IMG.raw" none 8
    refused "image file is larger than its manifest image_size" install -m "$F/$IMG.json" -f "$F/$IMG.raw"

    # type lies: a tarball called zvol, a disk called zone-dataset
    make_rootfs t
    tar -C "$F/rootfs" -cf "$F/root.tar" .
    write_manifest $IMG zvol "$F/root.tar" none 16
    refused 'image type mismatch: manifest says "zvol" but the file holds a tar archive' \
        install -m "$F/$IMG.json" -f "$F/root.tar"
    write_manifest $TAR_IMG zone-dataset "$F/$IMG.raw" none
    refused 'image type mismatch: manifest says "zone-dataset"' \
        install -m "$F/$TAR_IMG.json" -f "$F/$IMG.raw"

    # unsupported type
    write_manifest $IMG docker "$F/root.tar" none
    refused 'image type "docker" is not supported' install -m "$F/$IMG.json" -f "$F/root.tar"
}

@test "truncated and corrupt compressed files change nothing" {
    make_zvol_image $IMG 16 "$F"
    dd if=/dev/urandom of="$F/$IMG.raw" bs=1M count=2 seek=1 conv=notrunc status=none
    gzip -c "$F/$IMG.raw" > "$F/full.gz"
    head -c $(( $(stat -c %s "$F/full.gz") / 2 )) "$F/full.gz" > "$F/half.gz"
    write_manifest $IMG zvol "$F/half.gz" gzip 16
    refused "truncated gzip data" install -m "$F/$IMG.json" -f "$F/half.gz"

    make_rootfs c
    dd if=/dev/urandom of="$F/rootfs/var/tmp/blob" bs=1M count=2 status=none
    tar -C "$F/rootfs" --zstd -cf "$F/root.tar.zst" .
    head -c $(( $(stat -c %s "$F/root.tar.zst") / 2 )) "$F/root.tar.zst" > "$F/half.zst"
    write_manifest $TAR_IMG zone-dataset "$F/half.zst" zstd
    refused "$F/half.zst" install -m "$F/$TAR_IMG.json" -f "$F/half.zst"
}

@test "unsafe tarballs are refused before anything is written" {
    mkdir -p "$F/evil/etc"
    echo x > "$F/evil/etc/passwd"
    tar -C "$F/evil" -cf "$F/abs.tar" -P --transform 's,^\./,/,' ./etc/passwd
    write_manifest $TAR_IMG zone-dataset "$F/abs.tar" none
    refused 'entry "/etc/passwd": absolute path' install -m "$F/$TAR_IMG.json" -f "$F/abs.tar"

    ln -s ../../../etc "$F/evil/up"
    tar -C "$F/evil" -cf "$F/sym.tar" ./up
    write_manifest $TAR_IMG zone-dataset "$F/sym.tar" none
    refused 'points outside the image root' install -m "$F/$TAR_IMG.json" -f "$F/sym.tar"

    mkdir -p "$F/dev"
    mknod "$F/dev/null" c 1 3
    tar -C "$F" -cf "$F/dev.tar" ./dev
    write_manifest $TAR_IMG zone-dataset "$F/dev.tar" none
    refused 'entry "./dev/null" is a device node' install -m "$F/$TAR_IMG.json" -f "$F/dev.tar"

    make_rootfs s
    chmod 4755 "$F/rootfs/usr/bin/hello"
    tar -C "$F/rootfs" -cf "$F/suid.tar" .
    write_manifest $TAR_IMG zone-dataset "$F/suid.tar" none
    refused 'entry "./usr/bin/hello" is a setuid file' install -m "$F/$TAR_IMG.json" -f "$F/suid.tar"
    run imgadm install --allow-setuid -m "$F/$TAR_IMG.json" -f "$F/suid.tar"
    [ "$status" -eq 0 ]
    local mp; mp=$(vmstore list -H -o mountpoint zones/$TAR_IMG)
    [ "$(stat -c %a "$mp/root/usr/bin/hello")" = 4755 ]
}

@test "already installed, bad uuid and unknown image" {
    make_zvol_image $IMG 16 "$F"
    imgadm install -q -m "$F/$IMG.json" -f "$F/$IMG.raw"
    refused "image $IMG is already installed" install -m "$F/$IMG.json" -f "$F/$IMG.raw"
    refused 'invalid uuid: "x"' get x
    refused 'invalid uuid: "x"' delete x
    refused 'image "0b9d4c1e-3a5f-4e2d-9c8b-7f6e5d4c3b2a" was not found on zpool "zones"' get $TAR_IMG
    refused 'image "0b9d4c1e-3a5f-4e2d-9c8b-7f6e5d4c3b2a" was not found on zpool "zones"' delete $TAR_IMG
    refused 'was not found on zpool "other"' get -P other $IMG
    run imgadm list -H -P other
    [ "$status" -eq 0 ] && [ -z "$output" ]
    [ ! -e "$VMADM_ROOT/var/vmstore/other" ]
    run imgadm get $IMG
    [ "$status" -eq 0 ]
}

@test "delete removes the dataset; refused while a clone depends on it" {
    make_zvol_image $IMG 16 "$F"
    imgadm install -q -m "$F/$IMG.json" -f "$F/$IMG.raw"
    vmstore create zones/vm1
    vmstore clone zones/$IMG@final zones/vm1/disk0
    refused "image \"$IMG\" has dependent clones: zones/vm1/disk0" delete $IMG
    vmstore destroy zones/vm1/disk0
    run imgadm delete $IMG
    [ "$status" -eq 0 ]
    [ "$output" = "Deleted image $IMG" ]
    run imgadm list -H
    [ -z "$output" ]
    run vmstore list -H -o name zones/$IMG
    [ "$status" -ne 0 ]
    [ ! -e "$VMADM_ROOT/var/imgadm/images/zones-$IMG.json" ]
}

@test "create an image from a VM disk and install it back" {
    make_zvol_image $IMG 16 "$F"
    dd if=/dev/urandom of="$F/$IMG.raw" bs=1M count=1 seek=3 conv=notrunc status=none
    write_manifest $IMG zvol "$F/$IMG.raw" none 16
    imgadm install -q -m "$F/$IMG.json" -f "$F/$IMG.raw"
    local vm=3f1d2c3b-4a5e-4f60-8a7b-9c8d7e6f5a4b
    vmstore create zones/$vm
    vmstore clone zones/$IMG@final zones/$vm/disk0
    cat > "$F/vm.json" <<EOT
{"uuid": "$vm", "brand": "bhyve", "state": "stopped", "zfs_filesystem": "zones/$vm",
 "disks": [{"path": "/dev/zvol/rdsk/zones/$vm/disk0", "boot": true, "image_uuid": "$IMG",
            "zfs_filesystem": "zones/$vm/disk0", "size": 16}]}
EOT
    run imgadm create -q --vmobj "$F/vm.json" -o "$F/out" $vm name=mine version=2.0 description=hello
    echo "$output"
    [ "$status" -eq 0 ]
    local m="$F/out/mine-2.0.json"
    [ -f "$m" ] && [ -f "$F/out/mine-2.0.qcow2.zst" ]
    [ "$(jq -r .type "$m")" = zvol ]
    [ "$(jq -r .image_size "$m")" = 16 ]
    [ "$(jq -r .origin "$m")" = $IMG ]
    [ "$(jq -r .requirements.brand "$m")" = bhyve ]
    [ "$(jq -r .description "$m")" = hello ]
    [ "$(jq -r '.files[0].compression' "$m")" = zstd ]
    [ "$(jq -r '.files[0].sha1' "$m")" = "$(sha1sum "$F/out/mine-2.0.qcow2.zst" | cut -d' ' -f1)" ]
    zstd -q -d -c "$F/out/mine-2.0.qcow2.zst" > "$F/back.qcow2"
    run qemu-img compare -f raw -F qcow2 "$F/$IMG.raw" "$F/back.qcow2"
    [ "$status" -eq 0 ]

    run imgadm install -m "$m" -f "$F/out/mine-2.0.qcow2.zst"
    [ "$status" -eq 0 ]
    run imgadm list -H -o name
    [ "${#lines[@]}" -eq 2 ]

    # running VMs are refused
    sed -i 's/"stopped"/"running"/' "$F/vm.json"
    run imgadm create --vmobj "$F/vm.json" -o "$F/out2" $vm name=x version=1
    [ "$status" -eq 1 ]
    [[ "$output" == *"must be stopped"* ]]
    run imgadm create --vmobj "$F/vm.json" -o "$F/out2" $vm version=1
    [ "$status" -eq 2 ]
}

@test "create an image from a container root (gzip) and install it" {
    make_rootfs orig
    tar -C "$F/rootfs" -czf "$F/root.tgz" .
    write_manifest $TAR_IMG zone-dataset "$F/root.tgz" gzip
    imgadm install -q -m "$F/$TAR_IMG.json" -f "$F/root.tgz"
    local vm=3f1d2c3b-4a5e-4f60-8a7b-9c8d7e6f5a4c
    vmstore clone zones/$TAR_IMG@final zones/$vm
    local mp; mp=$(vmstore list -H -o mountpoint zones/$vm)
    echo changed > "$mp/root/etc/hostname"
    cat > "$F/vm.json" <<EOT
{"uuid": "$vm", "brand": "joyent", "state": "stopped", "zfs_filesystem": "zones/$vm",
 "zonepath": "/zones/$vm", "image_uuid": "$TAR_IMG"}
EOT
    run imgadm create -q -c gzip --vmobj "$F/vm.json" -o "$F/out" $vm name=ct version=1
    [ "$status" -eq 0 ]
    local m="$F/out/ct-1.json"
    [ "$(jq -r .type "$m")" = zone-dataset ]
    [ "$(jq -r .origin "$m")" = $TAR_IMG ]
    tar -tzf "$F/out/ct-1.tar.gz" | grep -qx 'etc/hostname'
    run imgadm install -m "$m" -f "$F/out/ct-1.tar.gz"
    [ "$status" -eq 0 ]
    local nu; nu=$(jq -r .uuid "$m")
    local mp2; mp2=$(vmstore list -H -o mountpoint zones/$nu)
    [ "$(cat "$mp2/root/etc/hostname")" = changed ]
}

@test "an interrupted install's leftover is replaced; a foreign dataset is not" {
    make_rootfs r
    tar -C "$F/rootfs" -czf "$F/root.tgz" .
    write_manifest $TAR_IMG zone-dataset "$F/root.tgz" gzip
    # what a kill -9 during extraction leaves: the marked dataset, no manifest
    vmstore create -o imgadm:image=$TAR_IMG zones/$TAR_IMG
    mkdir -p "$(vmstore list -H -o mountpoint zones/$TAR_IMG)/root/half"
    run imgadm list -H
    [ -z "$output" ]
    run imgadm install -m "$F/$TAR_IMG.json" -f "$F/root.tgz"
    [ "$status" -eq 0 ]
    local mp; mp=$(vmstore list -H -o mountpoint zones/$TAR_IMG)
    [ ! -e "$mp/root/half" ]
    [ "$(cat "$mp/root/etc/hostname")" = zone-r ]

    make_zvol_image $IMG 16 "$F"
    vmstore create zones/$IMG
    refused "cannot install image $IMG: dataset zones/$IMG already exists" \
        install -m "$F/$IMG.json" -f "$F/$IMG.raw"
}

@test "progress bar only on a TTY" {
    make_zvol_image $IMG 16 "$F"
    gzip -c "$F/$IMG.raw" > "$F/$IMG.gz"
    write_manifest $IMG zvol "$F/$IMG.gz" gzip 16
    run script -qec "imgadm install -m $F/$IMG.json -f $F/$IMG.gz" /dev/null
    [ "$status" -eq 0 ]
    [[ "$output" == *"decompress"*"%"* ]]
    [[ "$output" == *"Installed image $IMG"* ]]
    imgadm delete $IMG
    run imgadm install -m "$F/$IMG.json" -f "$F/$IMG.gz"
    [ "$output" = "Installed image $IMG (img-gzip@1.2.3)" ]
}

@test "a manifest in IMGAPI's string forms (\"v\": \"2\", \"image_size\": \"64\") installs, stored as numbers" {
    make_zvol_image "$IMG" 64 "$F"
    jq '.v = "2" | .image_size = "64"' "$F/$IMG.json" > "$F/str.json"
    run imgadm install -m "$F/str.json" -f "$F/$IMG.raw"
    [ "$status" -eq 0 ]
    imgadm get "$IMG" | jq -e '.manifest.v == 2 and .manifest.image_size == 64'
    # still checked: another version, or a size that is not a number
    jq '.v = "3"' "$F/$IMG.json" > "$F/v3.json"
    run imgadm install -m "$F/v3.json" -f "$F/$IMG.raw"
    [ "$status" -ne 0 ]
    [[ "$output" == *'unsupported manifest version "v" (must be 2)'* ]]
}
