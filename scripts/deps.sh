#!/bin/sh
# Installs the Debian packages vmadm needs to build, run and test.
# As root: apt-get installs what is missing. Otherwise: prints the apt line and exits 1.
set -eu
PKGS="build-essential pkg-config meson ninja-build clang libfuzzer-14-dev libclang-rt-14-dev \
libjansson-dev uuid-dev libcmocka-dev libmicrohttpd-dev lxc lxc-dev libzstd-dev liblzma-dev \
zlib1g-dev libbz2-dev libarchive-dev \
qemu-system-x86 qemu-utils ovmf seabios socat \
mtools dosfstools syslinux syslinux-common fdisk e2fsprogs busybox-static cpio gzip xz-utils zstd bzip2 \
bats hyperfine iproute2 procps psmisc curl jq python3 bc clang-format git \
libmnl-dev libnftables-dev nftables libcurl4-openssl-dev libssl-dev libnbd-dev libarchive-tools dnsmasq-base cloud-init nodejs \
libfuse3-dev fuse3 debhelper bash-completion openssh-server man-db systemd-container"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "missing packages; run as root:" >&2
  echo "  apt-get install -y --no-install-recommends$missing" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# cloud-init is installed for its client code (tests drive DataSourceSmartOS
# against our metadata service); it must never configure this host.
mkdir -p /etc/cloud && touch /etc/cloud/cloud-init.disabled
apt-get update -qq >/dev/null 2>&1 || apt-get update
apt-get install -y -qq --no-install-recommends $missing >/dev/null
