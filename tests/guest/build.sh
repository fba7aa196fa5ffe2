#!/bin/bash
# Builds the tiny real guests of the vmadm test suite (see README.md):
#   hvm-A.raw / hvm-B.raw   64 MiB hybrid BIOS+UEFI disks (ID=alpha / ID=beta)
#   ct-A.tar.gz / ct-B.tar.gz  busybox container rootfs (ID=ctalpha / ID=ctbeta)
#   imgadm manifests for all of them (UUIDs in images.env).
# Needs root and Debian's package mirror only: the kernel, busybox-static and
# systemd-boot-efi are fetched with `apt-get download` and unpacked with
# dpkg-deb, never installed. Nothing is mounted.
#
# Output goes to ${VMADM_TEST_CACHE:-/var/cache/vmadm-test}. The build is
# skipped when the cache key (checksums of this directory's build inputs +
# package versions) is unchanged.
#
# Usage: build.sh [--force]
# Env:   VMADM_TEST_CACHE   output/cache directory
#        VMADM_GUEST_KERNEL_PKG  kernel package (default: what linux-image-amd64 depends on)
set -euo pipefail
export PATH="$PATH:/usr/sbin:/sbin"

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${VMADM_TEST_CACHE:-/var/cache/vmadm-test}
FORCE=0
for a in "$@"; do
    case "$a" in
        --force) FORCE=1 ;;
        -h|--help) sed -n '2,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "build.sh: unknown argument '$a' (usage: build.sh [--force])" >&2; exit 2 ;;
    esac
done

# shellcheck source=images.env
. "$HERE/images.env"
INPUTS=(build.sh images.env initramfs-init.sh hvm-init.sh ct-init.sh)
# Kernel modules the guest needs; dependencies are added from .modinfo.
MODS="virtio_pci virtio_blk ext4 crc32c_generic button evdev qemu_fw_cfg virtio_net"
DISK_MB=64
P1_START=2048                       # sectors; p1 = FAT16 ESP / syslinux boot, 32 MiB
P1_SECT=65536
P2_START=$((P1_START + P1_SECT))    # p2 = ext4 root, rest of the disk
PUBLISHED_AT=2024-01-01T00:00:00.000Z
EPOCH=1704067200                    # the same instant, for tar mtimes
KCMDLINE="console=ttyS0,115200 quiet panic=-1"

T0=$(date +%s.%N)
log() { printf 'guest-build: %s\n' "$*" >&2; }
die() { printf 'guest-build: error: %s\n' "$*" >&2; exit 1; }
elapsed() { awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f s", b - a }'; }

# --- host tools ----------------------------------------------------------------
check_host() {
    local missing="" pair cmd pkg
    for pair in apt-get:apt apt-cache:apt dpkg-deb:dpkg mkfs.fat:dosfstools mmd:mtools \
                mcopy:mtools syslinux:syslinux sfdisk:fdisk mke2fs:e2fsprogs cpio:cpio \
                gzip:gzip zstd:zstd tar:tar sha1sum:coreutils sha256sum:coreutils flock:util-linux; do
        cmd=${pair%%:*}; pkg=${pair#*:}
        command -v "$cmd" >/dev/null 2>&1 \
            || case " $missing " in *" $pkg "*) ;; *) missing="$missing $pkg" ;; esac
    done
    [ -f /usr/lib/syslinux/mbr/mbr.bin ] || missing="$missing syslinux-common"
    [ -z "$missing" ] || die "missing host packages:$missing (run scripts/deps.sh or: apt-get install -y --no-install-recommends$missing)"
}

# --- package versions (the cache key depends on them) -------------------------
candidate() { apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ { print $2; exit }'; }
resolve_pkgs() {
    KPKG=${VMADM_GUEST_KERNEL_PKG:-$(apt-cache depends linux-image-amd64 2>/dev/null \
        | awk '/Depends: linux-image-[0-9]/ { print $2; exit }')}
    [ -n "$KPKG" ] || die "apt knows no linux-image-amd64; run 'apt-get update' first"
    PKGS=("$KPKG" busybox-static systemd-boot-efi)
    PKGVERS=()
    local p v
    for p in "${PKGS[@]}"; do
        v=$(candidate "$p")
        [ -n "$v" ] && [ "$v" != "(none)" ] || die "apt has no candidate for $p; run 'apt-get update' first"
        PKGVERS+=("$p=$v")
    done
}

# Cheap key for the common "nothing changed" case: inputs + the apt lists'
# identity. Candidate versions only change when the lists do, so a match
# avoids apt-cache (about 0.5 s per call without pkgcache.bin).
quick_key() {
    { (cd "$HERE" && sha256sum "${INPUTS[@]}")
      echo "kernel=${VMADM_GUEST_KERNEL_PKG:-}"
      stat -c '%n %s %Y' /var/lib/apt/lists/*Packages* /etc/apt/sources.list* /etc/apt/preferences* 2>/dev/null || true
    } | sha256sum | cut -d' ' -f1
}

cache_key() {
    { (cd "$HERE" && sha256sum "${INPUTS[@]}"); printf '%s\n' "${PKGVERS[@]}"; } | sha256sum | cut -d' ' -f1
}

OUTPUTS=(hvm-A.raw hvm-B.raw hvm-A.raw.zst hvm-B.raw.zst hvm-A.json hvm-B.json
         hvm-A-uncompressed.json hvm-B-uncompressed.json
         ct-A.tar.gz ct-B.tar.gz ct-A.json ct-B.json lx-A.json lx-B.json)
outputs_present() {
    local f
    for f in "${OUTPUTS[@]}"; do [ -f "$CACHE/$f" ] || return 1; done
}
up_to_date() {
    [ "$FORCE" = 0 ] && [ -f "$CACHE/build.key" ] && [ "$(cat "$CACHE/build.key")" = "$KEY" ] && outputs_present
}

# --- download + unpack ---------------------------------------------------------
deb_path() {  # PKG=VER -> path apt-get download writes (':' in versions becomes %3a)
    local p=${1%%=*} v=${1#*=}
    echo "$CACHE/debs/${p}_${v//:/%3a}_amd64.deb"
}
fetch() {
    mkdir -p "$CACHE/debs"
    local pv f p
    for pv in "${PKGVERS[@]}"; do
        f=$(deb_path "$pv"); p=${pv%%=*}
        if [ -f "$f" ]; then
            log "have $(basename "$f")"
            continue
        fi
        log "apt-get download $pv"
        # root downloads outside _apt's reach print a harmless sandbox warning
        (cd "$CACHE/debs" && apt-get download -q "$pv" 2>&1 | grep -v -e '^W: Download is performed unsandboxed' -e '^$' >&2 || true)
        [ -f "$f" ] || die "download of $pv failed (is the Debian mirror reachable?)"
        find "$CACHE/debs" -maxdepth 1 -name "${p}_*.deb" ! -path "$f" -delete
    done
}

# --- shared parts: kernel, initramfs, busybox ----------------------------------
prepare() {
    local kx=$W/kx
    mkdir -p "$kx" "$W/bbx" "$W/sdb"
    dpkg-deb -x "$(deb_path "${PKGVERS[0]}")" "$kx"
    dpkg-deb -x "$(deb_path "${PKGVERS[1]}")" "$W/bbx"
    dpkg-deb -x "$(deb_path "${PKGVERS[2]}")" "$W/sdb"
    BUSYBOX=$W/bbx/bin/busybox
    SDBOOT=$W/sdb/usr/lib/systemd/boot/efi/systemd-bootx64.efi
    [ -x "$BUSYBOX" ] || die "busybox-static .deb has no bin/busybox"
    [ -f "$SDBOOT" ] || die "systemd-boot-efi .deb has no systemd-bootx64.efi"
    local kver
    kver=$(ls "$kx/lib/modules")
    [ -f "$kx/boot/vmlinuz-$kver" ] || die "kernel .deb has no boot/vmlinuz-$kver"
    cp "$kx/boot/vmlinuz-$kver" "$W/vmlinuz"
    KVER=$kver

    # The .deb ships no modules.dep: follow "depends=" in each module's .modinfo.
    find "$kx/lib/modules/$kver/kernel" -name '*.ko' > "$W/ko.index"
    ORDER=()
    local seen=" "
    resolve() {
        local n=${1//-/_} f d
        case "$seen" in *" $n "*) return 0 ;; esac
        f=$(grep -E "/(${n}|${n//_/-})\.ko$" "$W/ko.index" | head -n 1)
        if [ -z "$f" ]; then
            # built into the kernel (e.g. crc32c_generic on some configs): nothing to load
            grep -qE "/(${n}|${n//_/-})\.ko$" "$kx/lib/modules/$kver/modules.builtin" 2>/dev/null \
                || log "note: module $1 not found as .ko, assuming built in"
            seen="$seen$n "
            return 0
        fi
        for d in $(tr '\0' '\n' < "$f" | grep -a '^depends=' | cut -d= -f2 | tr ',' ' '); do
            resolve "$d"
        done
        seen="$seen$n "
        ORDER+=("$f")
    }
    local m
    for m in $MODS; do resolve "$m"; done

    local ir=$W/initramfs
    mkdir -p "$ir"/{bin,dev,proc,sys,newroot,lib/modules}
    cp "$BUSYBOX" "$ir/bin/busybox"
    local f
    for f in "${ORDER[@]}"; do
        cp "$f" "$ir/lib/modules/"
        basename "$f" .ko >> "$ir/lib/modules/order"
    done
    install -m 755 "$HERE/initramfs-init.sh" "$ir/init"
    (cd "$ir" && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) | gzip -9 -n > "$W/initrd.img"
    rm -rf "$kx"
    log "kernel $KVER, ${#ORDER[@]} modules ($(tr '\n' ' ' < "$ir/lib/modules/order")), initrd $(stat -c %s "$W/initrd.img") B [$(elapsed)]"
}

# busybox rootfs shared by VM root and container images: DIR ID NAME
bbroot() {
    local r=$1 id=$2 name=$3 a
    mkdir -p "$r"/{bin,sbin,etc,proc,sys,dev,tmp,run,root,var/log,var/tmp,usr/bin,usr/sbin}
    chmod 1777 "$r/tmp" "$r/var/tmp"
    chmod 700 "$r/root"
    cp "$BUSYBOX" "$r/bin/busybox"
    for a in $("$BUSYBOX" --list); do
        case "$a" in busybox|init) ;; *) ln -s busybox "$r/bin/$a" ;; esac
    done
    printf 'ID=%s\nNAME="%s"\nPRETTY_NAME="%s"\nVERSION_ID=1\n' "$id" "$name" "$name" > "$r/etc/os-release"
    printf 'root:x:0:0:root:/root:/bin/sh\n' > "$r/etc/passwd"
    printf 'root:x:0:\n' > "$r/etc/group"
    printf '%s\n' "$id" > "$r/etc/hostname"
}

# --- HVM disk image: LETTER ID FSUUID --------------------------------------------
build_hvm() {
    local L=$1 id=$2 fsuuid=$3 r=$W/root-hvm-$1 d=$W/hvm-$1
    mkdir -p "$d"
    bbroot "$r" "$id" "vmadm test guest $L ($id)"
    mkdir -p "$r/etc/acpi/PWRF"
    printf '#!/bin/sh\necho "VMADM-GUEST: acpi poweroff" > /dev/console\nsync\n/bin/poweroff -f\n' \
        > "$r/etc/acpi/PWRF/00000080"
    chmod 755 "$r/etc/acpi/PWRF/00000080"
    install -m 755 "$HERE/hvm-init.sh" "$r/sbin/init"

    # p1: FAT16, BIOS via syslinux, UEFI via systemd-boot (\EFI\BOOT\BOOTX64.EFI)
    local p1=$d/p1.img p2=$d/p2.img raw=$d/hvm-$L.raw
    local append="$KCMDLINE vmadm.rootuuid=$fsuuid"
    mkfs.fat -F 16 -n VMADMBOOT -i "${fsuuid:0:8}" -C "$p1" $((P1_SECT / 2)) >/dev/null
    printf 'DEFAULT linux\nPROMPT 0\nTIMEOUT 0\nLABEL linux\n  LINUX /vmlinuz\n  INITRD /initrd.img\n  APPEND %s\n' \
        "$append" > "$d/syslinux.cfg"
    printf 'default vmadm.conf\ntimeout 0\neditor no\n' > "$d/loader.conf"
    printf 'title vmadm test guest %s\nlinux /vmlinuz\ninitrd /initrd.img\noptions %s\n' "$id" "$append" > "$d/vmadm.conf"
    mmd -i "$p1" ::/EFI ::/EFI/BOOT ::/loader ::/loader/entries
    mcopy -i "$p1" "$W/vmlinuz" ::/vmlinuz
    mcopy -i "$p1" "$W/initrd.img" ::/initrd.img
    mcopy -i "$p1" "$d/syslinux.cfg" ::/syslinux.cfg
    mcopy -i "$p1" "$SDBOOT" ::/EFI/BOOT/BOOTX64.EFI
    mcopy -i "$p1" "$d/loader.conf" ::/loader/loader.conf
    mcopy -i "$p1" "$d/vmadm.conf" ::/loader/entries/vmadm.conf
    syslinux --install "$p1"     # the Debian binary installs through mtools: no mount

    # p2: ext4 root filled from the directory, fixed UUID (the initramfs looks for it)
    mke2fs -q -t ext4 -L root -U "$fsuuid" -E root_owner=0:0 -d "$r" "$p2" \
        $(( (DISK_MB * 2048 - P2_START) / 2 ))k >/dev/null

    truncate -s "${DISK_MB}M" "$raw"
    printf 'label: dos\nlabel-id: 0x%s\nunit: sectors\nstart=%d, size=%d, type=ef, bootable\nstart=%d, type=83\n' \
        "${fsuuid:0:8}" "$P1_START" "$P1_SECT" "$P2_START" | sfdisk -q "$raw"
    dd if=/usr/lib/syslinux/mbr/mbr.bin of="$raw" bs=440 count=1 conv=notrunc status=none
    dd if="$p1" of="$raw" bs=512 seek=$P1_START conv=notrunc,sparse status=none
    dd if="$p2" of="$raw" bs=512 seek=$P2_START conv=notrunc,sparse status=none
    rm -f "$p1" "$p2"
    zstd -q -3 -f -o "$raw.zst" "$raw"
    mv "$raw" "$raw.zst" "$W/out/"
    log "hvm-$L.raw (ID=$id): $(du -k "$W/out/hvm-$L.raw" | cut -f1) KiB allocated, .zst $(stat -c %s "$W/out/hvm-$L.raw.zst") B [$(elapsed)]"
}

# --- container rootfs tarball: LETTER ID -------------------------------------------
build_ct() {
    local L=$1 id=$2 r=$W/root-ct-$1
    bbroot "$r" "$id" "vmadm test container $L ($id)"
    install -m 755 "$HERE/ct-init.sh" "$r/sbin/init"
    tar -C "$r" --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$EPOCH" -cf - . \
        | gzip -9 -n > "$W/out/ct-$L.tar.gz"
    log "ct-$L.tar.gz (ID=$id): $(stat -c %s "$W/out/ct-$L.tar.gz") B [$(elapsed)]"
}

# --- manifests -------------------------------------------------------------------
# manifest OUT UUID NAME TYPE OS FILE COMPRESSION [EXTRA_JSON_MEMBERS]
manifest() {
    local out=$1 uuid=$2 name=$3 type=$4 os=$5 file=$6 comp=$7 extra=${8:-}
    local sha size
    sha=$(sha1sum "$W/out/$file" | cut -d' ' -f1)
    size=$(stat -c %s "$W/out/$file")
    cat > "$W/out/$out" <<EOF
{
  "v": 2,
  "uuid": "$uuid",
  "owner": "00000000-0000-0000-0000-000000000000",
  "name": "$name",
  "version": "1.0.0",
  "state": "active",
  "disabled": false,
  "public": false,
  "published_at": "$PUBLISHED_AT",
  "type": "$type",
  "os": "$os",
  "description": "vmadm test image ($file)",${extra}
  "files": [
    {
      "sha1": "$sha",
      "size": $size,
      "compression": "$comp"
    }
  ],
  "requirements": {}
}
EOF
}

write_manifests() {
    local L uuid id
    for L in A B; do
        if [ $L = A ]; then uuid=$IMG_HVM_A; id=alpha; else uuid=$IMG_HVM_B; id=beta; fi
        manifest "hvm-$L.json" "$uuid" "vmadm-test-hvm-$id" zvol linux "hvm-$L.raw.zst" zstd \
            $'\n  "image_size": '"$DISK_MB,"
        manifest "hvm-$L-uncompressed.json" "$uuid" "vmadm-test-hvm-$id" zvol linux "hvm-$L.raw" none \
            $'\n  "image_size": '"$DISK_MB,"
        if [ $L = A ]; then uuid=$IMG_CT_A; id=ctalpha; else uuid=$IMG_CT_B; id=ctbeta; fi
        manifest "ct-$L.json" "$uuid" "vmadm-test-ct-$id" zone-dataset smartos "ct-$L.tar.gz" gzip
        if [ $L = A ]; then uuid=$IMG_LX_A; else uuid=$IMG_LX_B; fi
        manifest "lx-$L.json" "$uuid" "vmadm-test-lx-$id" lx-dataset linux "ct-$L.tar.gz" gzip \
            $'\n  "tags": {"kernel_version": "'"$IMG_LX_KERNEL_VERSION"'"},'
    done
}

# --- main ------------------------------------------------------------------------
QKEY=$(quick_key)
if [ "$FORCE" = 0 ] && [ -f "$CACHE/quick.key" ] && [ "$(cat "$CACHE/quick.key")" = "$QKEY" ] \
   && [ -f "$CACHE/build.key" ] && outputs_present; then
    log "up to date in $CACHE (inputs and apt lists unchanged)"
    exit 0
fi
check_host
resolve_pkgs
KEY=$(cache_key)
if up_to_date; then
    echo "$QKEY" 2>/dev/null > "$CACHE/quick.key" || true
    log "up to date in $CACHE (key ${KEY:0:12}, ${PKGVERS[*]})"
    exit 0
fi
[ "$(id -u)" = 0 ] || die "must run as root to build (images must contain root-owned files)"
mkdir -p "$CACHE"
# One builder at a time; a second caller waits and then finds the cache fresh.
exec 9> "$CACHE/.lock"
flock 9
if up_to_date; then
    log "up to date in $CACHE (built by a concurrent run)"
    exit 0
fi
log "building into $CACHE (key ${KEY:0:12}, ${PKGVERS[*]})"
W=$CACHE/.build
rm -rf "$W"
mkdir -p "$W/out"
trap 'rm -rf "$W"' EXIT
fetch
prepare
build_hvm A alpha "$FSUUID_HVM_A"
build_hvm B beta "$FSUUID_HVM_B"
build_ct A ctalpha
build_ct B ctbeta
write_manifests
# Publish: drop the key first so an interrupted publish is rebuilt next time.
rm -f "$CACHE/build.key" "$CACHE/quick.key"
for f in "${OUTPUTS[@]}"; do mv -f "$W/out/$f" "$CACHE/$f"; done
echo "$KEY" > "$CACHE/build.key.tmp" && mv -f "$CACHE/build.key.tmp" "$CACHE/build.key"
echo "$QKEY" > "$CACHE/quick.key"
log "done in $(elapsed): $(cd "$CACHE" && echo "${OUTPUTS[*]}")"
