#!/bin/sh
# /sbin/init of the vmadm test container rootfs (joyent / lx brands on LXC).
# Exits 0 on the usual halt signals so a graceful stop is clean.
export PATH=/bin:/sbin
mkdir -p /root /tmp
. /etc/os-release
trap 'echo "VMADM-CT: halt signal, exiting"; exit 0' PWR TERM INT
echo "VMADM-CT: booted image=$ID"
# sleep in the background so the trap runs as soon as a signal arrives
while :; do
    sleep 1 &
    wait $!
done
