#!/usr/bin/env bats
# Self-test of the test guests from tests/guest/build.sh, with plain QEMU and
# no vmadm: if these fail, every e2e test that boots a guest is meaningless.

load ../cli/helpers

GUEST_DIR="$BATS_TEST_DIRNAME/../guest"
# TCG boots take 7-15 s here; allow for a loaded machine.
BOOT_TIMEOUT=240

setup_file() {
    "$BATS_TEST_DIRNAME/../guest/build.sh"
}

setup() {
    . "$GUEST_DIR/images.env"
    C=$VMADM_TEST_CACHE
    T=$BATS_TEST_TMPDIR
}

teardown() {
    # only the QEMU this test started, by its pid
    if [ -f "$T/qemu.pid" ]; then
        kill -9 "$(cat "$T/qemu.pid")" 2>/dev/null || true
    fi
}

# qemu_args DISK0 [DISK1]: q35 machine, disk0 at 00:04.0, disk1 at 00:04.1
qemu_args() {
    QARGS=(-machine q35 -accel "$VMADM_ACCEL" -m 256 -smp 1 -nodefaults -display none -no-reboot
           -drive "if=none,id=disk0,format=raw,file=$1"
           -device virtio-blk-pci,drive=disk0,addr=4.0,multifunction=on,bootindex=0)
    if [ -n "${2:-}" ]; then
        QARGS+=(-drive "if=none,id=disk1,format=raw,file=$2" -device virtio-blk-pci,drive=disk1,addr=4.1)
    fi
}

uefi_args() {
    cp /usr/share/OVMF/OVMF_VARS_4M.fd "$T/vars.fd"
    QARGS+=(-drive if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd
            -drive "if=pflash,format=raw,unit=1,file=$T/vars.fd")
}

# boot_poweroff LOG: run the guest in mode poweroff to the end; serial to LOG
boot_poweroff() {
    timeout "$BOOT_TIMEOUT" qemu-system-x86_64 "${QARGS[@]}" \
        -fw_cfg name=opt/vmadm/mode,string=poweroff -serial "file:$1" </dev/null
}

# wait_serial LOG TEXT SECONDS: until LOG has TEXT; fails early if QEMU died
wait_serial() {
    local i=0 n=$(($3 * 5))
    while [ $i -lt $n ]; do
        grep -aqF -- "$2" "$1" 2>/dev/null && return 0
        if [ -f "$T/qemu.pid" ] && ! kill -0 "$(cat "$T/qemu.pid")" 2>/dev/null; then
            grep -aqF -- "$2" "$1" 2>/dev/null && return 0
            echo "QEMU exited before '$2'; serial:" >&2
            cat "$1" >&2
            return 1
        fi
        sleep 0.2
        i=$((i + 1))
    done
    echo "timeout waiting for '$2'; serial:" >&2
    cat "$1" >&2
    return 1
}

qmp() {  # qmp SOCK CMD-JSON...: run commands after capabilities negotiation
    { echo '{"execute":"qmp_capabilities"}'; printf '%s\n' "$@"; } | socat -t 3 - "UNIX-CONNECT:$1"
}

@test "guest images: build outputs and manifests are consistent" {
    for f in hvm-A.raw hvm-B.raw hvm-A.raw.zst hvm-B.raw.zst ct-A.tar.gz ct-B.tar.gz; do
        [ -s "$C/$f" ]
    done
    [ "$(stat -c %s "$C/hvm-A.raw")" -eq $((IMG_HVM_SIZE_MIB * 1048576)) ]
    check() {  # MANIFEST UUID TYPE FILE COMPRESSION
        local m=$C/$1
        [ "$(jq -r .uuid "$m")" = "$2" ]
        [ "$(jq -r .type "$m")" = "$3" ]
        [ "$(jq -r .v "$m")" = 2 ]
        [ "$(jq -r '.files[0].sha1' "$m")" = "$(sha1sum "$C/$4" | cut -d' ' -f1)" ]
        [ "$(jq -r '.files[0].size' "$m")" = "$(stat -c %s "$C/$4")" ]
        [ "$(jq -r '.files[0].compression' "$m")" = "$5" ]
        [ "$(jq -c .requirements "$m")" = "{}" ]
    }
    check hvm-A.json "$IMG_HVM_A" zvol hvm-A.raw.zst zstd
    check hvm-B.json "$IMG_HVM_B" zvol hvm-B.raw.zst zstd
    check hvm-A-uncompressed.json "$IMG_HVM_A" zvol hvm-A.raw none
    check hvm-B-uncompressed.json "$IMG_HVM_B" zvol hvm-B.raw none
    check ct-A.json "$IMG_CT_A" zone-dataset ct-A.tar.gz gzip
    check ct-B.json "$IMG_CT_B" zone-dataset ct-B.tar.gz gzip
    check lx-A.json "$IMG_LX_A" lx-dataset ct-A.tar.gz gzip
    check lx-B.json "$IMG_LX_B" lx-dataset ct-B.tar.gz gzip
    [ "$(jq -r .image_size "$C/hvm-A.json")" = "$IMG_HVM_SIZE_MIB" ]
    zstd -dc "$C/hvm-B.raw.zst" | cmp - "$C/hvm-B.raw"
}

@test "guest images: container tarball is a root-owned rootfs whose init exits 0 on SIGPWR" {
    tar -tzvf "$C/ct-A.tar.gz" > "$T/list"
    grep -q ' \./sbin/init$' "$T/list"
    grep -q ' \./bin/busybox$' "$T/list"
    ! grep -q ' /' <(awk '{print " " $6}' "$T/list") || false
    ! awk '$2 != "0/0"' "$T/list" | grep -q . || false
    mkdir "$T/r"
    tar -C "$T/r" -xzf "$C/ct-A.tar.gz"
    grep -qx 'ID=ctalpha' "$T/r/etc/os-release"
    tar -xzOf "$C/ct-B.tar.gz" ./etc/os-release | grep -qx 'ID=ctbeta'
    rmdir "$T/r/root"
    chroot "$T/r" /sbin/init > "$T/ct.out" 2>&1 &
    local pid=$!
    wait_serial "$T/ct.out" "VMADM-CT: booted image=ctalpha" 10
    kill -PWR "$pid"
    wait "$pid"
    [ -d "$T/r/root" ]
    grep -q 'VMADM-CT: halt signal, exiting' "$T/ct.out"
}

@test "guest images: A formats the data disk, B booted from the replaced disk0 sees A's marker (SeaBIOS)" {
    cp --sparse=always "$C/hvm-A.raw" "$T/disk0.raw"
    truncate -s 64M "$T/disk1.raw"
    qemu_args "$T/disk0.raw" "$T/disk1.raw"
    boot_poweroff "$T/boot1.log"
    grep -a 'VMADM-GUEST' "$T/boot1.log"
    grep -aq 'VMADM-GUEST: booted image=alpha' "$T/boot1.log"
    grep -aq 'VMADM-GUEST: disk 0000:00:04.0 vda 64' "$T/boot1.log"
    grep -aq 'VMADM-GUEST: disk 0000:00:04.1 vdb 64' "$T/boot1.log"
    grep -aq 'VMADM-GUEST: data written' "$T/boot1.log"
    ! grep -aq 'VMADM-GUEST: data marker:' "$T/boot1.log" || false

    rm "$T/disk0.raw"
    cp --sparse=always "$C/hvm-B.raw" "$T/disk0.raw"
    boot_poweroff "$T/boot2.log"
    grep -a 'VMADM-GUEST' "$T/boot2.log"
    grep -aq 'VMADM-GUEST: booted image=beta' "$T/boot2.log"
    grep -aq 'VMADM-GUEST: data marker: written under image=alpha' "$T/boot2.log"
    grep -aq 'VMADM-GUEST: data written' "$T/boot2.log"
    [ "$(debugfs -R 'cat /marker' "$T/disk1.raw" 2>/dev/null)" = "$(printf 'written under image=alpha\nwritten under image=beta')" ]
}

@test "guest images: A boots under OVMF (UEFI, systemd-boot)" {
    cp --sparse=always "$C/hvm-A.raw" "$T/disk0.raw"
    truncate -s 64M "$T/disk1.raw"
    qemu_args "$T/disk0.raw" "$T/disk1.raw"
    uefi_args
    boot_poweroff "$T/uefi.log"
    grep -a 'VMADM-GUEST' "$T/uefi.log"
    grep -aq 'VMADM-GUEST: booted image=alpha' "$T/uefi.log"
    grep -aq 'VMADM-GUEST: data written' "$T/uefi.log"
}

@test "guest images: default mode waits, reports an online resize, powers off on ACPI system_powerdown" {
    cp --sparse=always "$C/hvm-A.raw" "$T/disk0.raw"
    truncate -s 64M "$T/disk1.raw"
    qemu_args "$T/disk0.raw" "$T/disk1.raw"
    local sock=$T/qmp.sock log=$T/wait.log
    # no fw_cfg mode: vmadm starts VMs like this
    qemu-system-x86_64 "${QARGS[@]}" -serial "file:$log" -qmp "unix:$sock,server=on,wait=off" \
        </dev/null >"$T/qemu.out" 2>&1 3>&- &
    local pid=$!
    echo "$pid" > "$T/qemu.pid"
    wait_serial "$log" "VMADM-GUEST: ready" "$BOOT_TIMEOUT"
    grep -aq 'VMADM-GUEST: mode=wait' "$log"
    grep -aq 'VMADM-GUEST: data written' "$log"

    qmp "$sock" '{"execute":"block_resize","arguments":{"device":"disk1","size":134217728}}'
    wait_serial "$log" "VMADM-GUEST: disk 0000:00:04.1 size 128" 30

    qmp "$sock" '{"execute":"system_powerdown"}'
    local i=0
    while kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.2; i=$((i + 1)); done
    if kill -0 "$pid" 2>/dev/null; then
        echo "QEMU still running 20 s after system_powerdown; serial:" >&2
        cat "$log" >&2
        return 1
    fi
    wait "$pid"
    rm -f "$T/qemu.pid"
    grep -a 'VMADM-GUEST' "$log"
    grep -aq 'VMADM-GUEST: acpi poweroff' "$log"
}
