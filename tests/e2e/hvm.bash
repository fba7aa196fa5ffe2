# Shared by the e2e files that boot hardware VMs (QEMU under TCG) on the
# tiny test guests of tests/guest: builds the guests once per file; each
# test starts from a fresh VMADM_ROOT with image A installed and a new
# VM uuid in $U, and its VM is force-stopped at the end.

GUEST_DIR="$BATS_TEST_DIRNAME/../guest"
BOOT_TIMEOUT=${BOOT_TIMEOUT:-240} # TCG boots take 7-15 s; allow for a loaded machine
MiB=1048576

setup_file() {
    "$GUEST_DIR/build.sh" >&2
}

# hvm_setup: the start of every test's setup().
hvm_setup() {
    . "$GUEST_DIR/images.env"
    vm_setup_root
    F=$BATS_TEST_TMPDIR
    U=$(cat /proc/sys/kernel/random/uuid)
    imgadm install -m "$VMADM_TEST_CACHE/hvm-A.json" -f "$VMADM_TEST_CACHE/hvm-A.raw.zst" >/dev/null
}

hvm_teardown() {
    vmadm stop -F "$U" >/dev/null 2>&1 || true
    vm_teardown_root
}
