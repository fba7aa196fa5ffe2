#!/bin/sh
# /sbin/init of the vmadm HVM test guest (root is ext4, mounted read-only).
# Every line meant for tests starts with "VMADM-GUEST: " (see README.md).
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
[ -e /dev/null ] || mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
mount -t tmpfs run /run

say() { echo "VMADM-GUEST: $*"; }

. /etc/os-release
say "booted image=$ID"

# Mode from QEMU: -fw_cfg name=opt/vmadm/mode,string=poweroff|wait|shell.
# vmadm starts VMs without it, so the default must keep the guest running.
MODE=$(cat /sys/firmware/qemu_fw_cfg/by_name/opt/vmadm/mode/raw 2>/dev/null)
case "$MODE" in poweroff|wait|shell) ;; *) MODE=wait;; esac
say "mode=$MODE"

# busybox acpid exits silently if it cannot open its log, and / is read-only:
# log to tmpfs. The power button action is /etc/acpi/PWRF/00000080.
if acpid -c /etc/acpi -l /tmp/acpid.log -p /run/acpid.pid; then
    say "acpid started"
else
    say "acpid failed"
fi

pciaddr() {
    readlink -f "$1" | grep -o '[0-9a-f]\{4\}:[0-9a-f]\{2\}:[0-9a-f]\{2\}\.[0-9a-f]' | tail -n 1
}

# The disk we booted from: the parent of the partition mounted on /.
rootpart=$(awk '$2 == "/" && $1 ~ /^\/dev\// { sub("/dev/", "", $1); print $1 }' /proc/mounts | tail -n 1)
bootdisk=
[ -n "$rootpart" ] && bootdisk=$(basename "$(dirname "$(readlink -f "/sys/class/block/$rootpart")")")

# virtio-blk disks as "<pci> <vdX>", ordered by PCI address.
vdisks() {
    for d in /sys/bus/virtio/drivers/virtio_blk/virtio*/block/*; do
        [ -e "$d" ] || continue
        echo "$(pciaddr "$d") ${d##*/}"
    done | sort
}
mib() { echo $(( $(cat "/sys/class/block/$1/size") / 2048 )); }

datadisk=
datapci=
vdisks > /tmp/disks
while read -r pci dev; do
    sz=$(mib "$dev")
    echo "$sz" > "/tmp/size.$dev"
    say "disk $pci $dev $sz"
    if [ -z "$datadisk" ] && [ "$dev" != "$bootdisk" ]; then
        datadisk=$dev
        datapci=$pci
    fi
done < /tmp/disks
say "boot disk ${bootdisk:-unknown}"

for n in /sys/class/net/*; do
    [ -e "$n/device" ] || continue
    say "nic $(pciaddr "$n") ${n##*/} $(cat "$n/address")"
done

# Data disk: format when it has no ext superblock (magic 0xef53 at 1080),
# show what earlier boots wrote, add our own line.
if [ -n "$datadisk" ]; then
    dev=/dev/$datadisk
    say "data disk $datapci $datadisk"
    magic=$(hexdump -s 1080 -n 2 -ve '1/1 "%02x"' "$dev" 2>/dev/null)
    if [ "$magic" != "53ef" ]; then
        say "data formatting $datadisk"
        mke2fs -q -i 1048576 -L data "$dev" >/dev/null 2>&1 || say "data mke2fs failed"
    fi
    mkdir -p /tmp/data
    if mount -t ext4 "$dev" /tmp/data; then
        if [ -f /tmp/data/marker ]; then
            while IFS= read -r line; do
                say "data marker: $line"
            done < /tmp/data/marker
        fi
        echo "written under image=$ID" >> /tmp/data/marker
        sync
        umount /tmp/data && say "data written" || say "data umount failed"
    else
        say "data mount failed"
    fi
else
    say "no data disk"
fi

if [ "$MODE" = poweroff ]; then
    say "poweroff"
    sync
    poweroff -f
fi

if [ "$MODE" = shell ]; then
    setsid sh -c 'exec sh -i </dev/ttyS0 >/dev/ttyS0 2>&1' &
fi
say "ready"
# Report size changes every second so an online resize (QMP block_resize)
# is visible on the console.
while :; do
    sleep 1
    vdisks > /tmp/disks.now
    while read -r pci dev; do
        sz=$(mib "$dev")
        old=$(cat "/tmp/size.$dev" 2>/dev/null)
        if [ -n "$old" ] && [ "$old" != "$sz" ]; then
            say "disk $pci size $sz"
        fi
        echo "$sz" > "/tmp/size.$dev"
    done < /tmp/disks.now
done
