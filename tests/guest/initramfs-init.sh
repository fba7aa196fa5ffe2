#!/bin/busybox sh
# Stage 1 (initramfs /init) of the vmadm test guest.
# Loads the drivers, finds the root filesystem by its ext UUID (kernel
# argument vmadm.rootuuid=) and switches to it. The UUID, not a vdX name or a
# fixed PCI slot, identifies the boot disk: vmadm may place disks anywhere.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev

say() { echo "VMADM-GUEST: initramfs: $*"; }

for m in $(cat /lib/modules/order); do
    insmod "/lib/modules/$m.ko" 2>/dev/null || say "insmod $m failed"
done

want=
for a in $(cat /proc/cmdline); do
    case "$a" in vmadm.rootuuid=*) want=${a#vmadm.rootuuid=};; esac
done
want=$(echo "$want" | tr -d -)

# PCI address of the device a sysfs block entry hangs off (last PCI component).
pciaddr() {
    readlink -f "$1" | grep -o '[0-9a-f]\{4\}:[0-9a-f]\{2\}:[0-9a-f]\{2\}\.[0-9a-f]' | tail -n 1
}

# Print "<pci> <partition>" for every partition 2 carrying our root UUID,
# lowest PCI address first (a cloned disk on a later slot never wins).
candidates() {
    for s in /sys/class/block/*; do
        [ -r "$s/partition" ] && [ "$(cat "$s/partition")" = 2 ] || continue
        n=${s##*/}
        [ -b "/dev/$n" ] || continue
        u=$(hexdump -s 1128 -n 16 -ve '1/1 "%02x"' "/dev/$n" 2>/dev/null)
        [ "$u" = "$want" ] && echo "$(pciaddr "$s") $n"
    done | sort
}

root=
i=0
while [ $i -lt 300 ]; do
    root=$(candidates | head -n 1 | cut -d' ' -f2)
    [ -n "$root" ] && break
    sleep 0.1
    i=$((i + 1))
done
if [ -z "$root" ]; then
    say "no root filesystem with UUID $want found"
    cat /proc/partitions
    poweroff -f
fi
mount -t ext4 -o ro "/dev/$root" /newroot || { say "mount /dev/$root failed"; poweroff -f; }
mount -o move /dev /newroot/dev
umount /proc /sys
exec switch_root /newroot /sbin/init
