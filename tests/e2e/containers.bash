# Shared by the e2e files that run containers (LXC needs root) on the tiny
# test guests of tests/guest: builds the guests once per file, and each
# test starts from a fresh VMADM_ROOT with the image uuids loaded.
# Without root the tests are skipped with the reason, which the test
# runner lists (and counts as a failure when CI=true).

GUEST_DIR="$BATS_TEST_DIRNAME/../guest"

setup_file() {
    [ "$(id -u)" = 0 ] || return 0
    "$GUEST_DIR/build.sh" >&2
}

# ct_setup: the start of every test's setup().
ct_setup() {
    [ "$(id -u)" = 0 ] || skip "needs root for LXC"
    . "$GUEST_DIR/images.env"
    vm_setup_root
}
