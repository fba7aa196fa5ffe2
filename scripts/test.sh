#!/bin/bash
# The test command: installs what is missing (apt, as root), builds with
# ASan+UBSan, builds the tiny guest images, then runs every suite:
#   unit (cmocka, via meson test), cli (bats), e2e (bats, real QEMU and LXC),
#   fuzz (libFuzzer, bounded time).
# Ends with one line "N passed, N failed, N skipped".
# Usage: scripts/test.sh [unit|cli|e2e|fuzz ...]   (default: all)
set -u
cd "$(dirname "$0")/.."
ROOT=$PWD
suites=${*:-unit cli e2e fuzz}
FUZZ_SECONDS=${FUZZ_SECONDS:-10}
CLI_JOBS=${CLI_JOBS:-2}
E2E_JOBS=${E2E_JOBS:-2}

t_start=$SECONDS
./scripts/deps.sh || exit 1
echo "deps: $((SECONDS - t_start)) s"
t0=$SECONDS
BUILD_DIR=$ROOT/$(./scripts/build.sh asan) || { echo "build failed"; echo "0 passed, 1 failed"; exit 1; }
export BUILD_DIR
echo "build (asan): $((SECONDS - t0)) s"
# In CI every part is tested: the package too (builds the .deb, ~2 min).
[ "${CI:-}" = true ] && [ -z "${VMADM_DEB:-}" ] && export VMADM_TEST_PACKAGE=${VMADM_TEST_PACKAGE:-1}
# Leaks are reported; ASan must not abort forked supervisors that exec.
# intercept_tls_get_addr=0: ASan's tracking of dynamic TLS hands
# LeakSanitizer a bogus range (its tracer dies with SIGSEGV) in a vmadm
# that links libnftables' dependency chain and dlopens liblxc; without the
# interception LSan still scans static TLS and every thread's stack.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:halt_on_error=1:intercept_tls_get_addr=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export VMADM_ACCEL=${VMADM_ACCEL:-tcg}

# The clang fuzz build (~2 min of compiling) runs at low priority behind
# the cli files, which mostly wait on processes and guests; the fuzz
# suite then only waits for it.  Not a shell job: the lanes count those.
log=$(mktemp -d /tmp/vmadm-test-logs.XXXXXX)
case " $suites " in
  *" fuzz "*)
    setsid nice -n 15 sh -c './scripts/build.sh fuzz > "$1/fuzz-build.out" 2>&1; echo $? > "$1/fuzz-build.rc"' \
      sh "$log" < /dev/null &
    disown $! 2>/dev/null ;;
esac

pass=0 fail=0 skip=0
failed_names=() skipped_names=()

# Say loudly what this machine lacks: the e2e suites boot real QEMU guests
# and LXC containers; KVM is optional (TCG is used where it cannot run).
for t in qemu-system-x86_64 qemu-img lxc-start busybox; do
    command -v $t >/dev/null || echo "WARNING: $t is missing: tests that need it will fail" >&2
done
[ -e /dev/kvm ] || echo "note: no /dev/kvm, guests run under TCG" >&2
[ "$(id -u)" = 0 ] || echo "WARNING: not root: LXC tests are skipped (CI counts skips as failures)" >&2

count_tap() { # file label
    local f=$1 label=$2 p f2 s
    p=$(grep -cE '^ok [0-9]+' "$f" | head -1); s=$(grep -cE '^ok [0-9]+ .*# skip' "$f")
    f2=$(grep -cE '^not ok [0-9]+' "$f")
    pass=$((pass + p - s)); skip=$((skip + s)); fail=$((fail + f2))
    while IFS= read -r l; do failed_names+=("$label: $l"); done < <(grep -E '^not ok' "$f")
    while IFS= read -r l; do skipped_names+=("$label: $l"); done < <(grep -E '^ok [0-9]+ .*# skip' "$f")
}

for suite in $suites; do
  t_suite=$SECONDS
  case $suite in
  unit)
    echo "== unit (cmocka)"
    meson test -C "$BUILD_DIR" --suite unit --print-errorlogs > "$log/unit.txt" 2>&1
    tail -n 12 "$log/unit.txt"
    ok=$(awk '/^Ok:/{print $2}' "$log/unit.txt"); bad=$(awk '/^Fail:/{print $2}' "$log/unit.txt")
    to=$(awk '/^Timeout:/{print $2}' "$log/unit.txt"); sk=$(awk '/^Skipped:/{print $2}' "$log/unit.txt")
    pass=$((pass + ${ok:-0})); fail=$((fail + ${bad:-0} + ${to:-0})); skip=$((skip + ${sk:-0}))
    grep -E ' (FAIL|TIMEOUT) ' "$log/unit.txt" | while read -r l; do echo "  $l"; done
    [ -z "$ok" ] && { fail=$((fail + 1)); failed_names+=("unit: meson test did not run"); }
    ;;
  cli|e2e)
    echo "== $suite (bats)"
    # The guest images (tests/guest: cached, rebuilt when their inputs
    # change): the e2e suites boot them, cli tests install them as images.
    tests/guest/build.sh >&2 || { fail=$((fail+1)); failed_names+=("$suite: guest image build"); continue; }
    # Files run side by side, each with its own VMADM_ROOT, vminfod port
    # and temporary directory, waiting for conditions, never for time:
    # cli files $CLI_JOBS at a time, e2e files $E2E_JOBS at a time — except
    # those that share something host-wide (bridges and nft tables of the
    # net tests; the migrate tests' receivers, which they kill by pattern):
    # those run one after another in a lane of their own.
    jobs_max=$CLI_JOBS serial=""
    [ $suite = e2e ] && jobs_max=$E2E_JOBS && serial="migrate net-vm migrate-faults net-filter migrate-ssh migrate-live"
    # The longest files start first, so the lanes end together.
    first=""
    [ $suite = cli ] && first="vmadm-vminfod vmadm-crash vmadm-disks package vmadm-badinput vmadm-reprovision vminfod \
        vmadm-concurrency"
    [ $suite = e2e ] && first="vmadm-ct ct-lib hv-lib vmadm-hvm mdata guest-images"
    run_one() { # file
      local name t0
      name=$(basename "$1" .bats); t0=$SECONDS
      timeout 1200 bats --tap "$1" > "$log/$suite-$name.tap" 2>&1
      echo $((SECONDS - t0)) > "$log/$suite-$name.secs"
    }
    if [ -n "$serial" ]; then
      ( for n in $serial; do [ -e tests/$suite/$n.bats ] && run_one tests/$suite/$n.bats; done ) &
    fi
    order=""
    for n in $first; do [ -e tests/$suite/$n.bats ] && order="$order tests/$suite/$n.bats"; done
    for f in tests/$suite/*.bats; do
      n=$(basename "$f" .bats)
      case " $first $serial " in *" $n "*) ;; *) order="$order $f" ;; esac
    done
    for f in $order; do
      while [ "$(jobs -rp | wc -l)" -ge "$jobs_max" ]; do wait -n; done
      run_one "$f" &
      [ "$jobs_max" -gt 1 ] || wait
    done
    wait
    for f in tests/$suite/*.bats; do
      [ -e "$f" ] || continue
      name=$(basename "$f" .bats)
      count_tap "$log/$suite-$name.tap" "$suite/$name"
      printf '  %-28s %s\n' "$name" "$(grep -cE '^ok' "$log/$suite-$name.tap") ok, $(grep -cE '^not ok' "$log/$suite-$name.tap") failed ($(cat "$log/$suite-$name.secs" 2>/dev/null || echo '?') s)"
      grep -E '^not ok|^# ' "$log/$suite-$name.tap" | head -40 | sed 's/^/    /'
    done
    ;;
  fuzz)
    echo "== fuzz (libFuzzer, ${FUZZ_SECONDS}s each)"
    while [ ! -s "$log/fuzz-build.rc" ]; do sleep 1; done
    cat "$log/fuzz-build.out" | grep -v '^build-fuzz$' >&2
    [ "$(cat "$log/fuzz-build.rc")" = 0 ] || { fail=$((fail+1)); failed_names+=("fuzz: build"); continue; }
    FB=$ROOT/$(tail -n 1 "$log/fuzz-build.out")
    echo "  build (clang fuzz, started with the cli files): waited $((SECONDS - t_suite)) s"
    for h in "$FB"/tests/fuzz/*_fuzz; do
      [ -x "$h" ] || continue
      name=$(basename "$h")
      corpus=$log/corpus-$name; mkdir -p "$corpus"
      [ -d "tests/fuzz/corpus/$name" ] && cp tests/fuzz/corpus/$name/* "$corpus/" 2>/dev/null
      if "$h" -max_total_time="$FUZZ_SECONDS" -max_len=65536 -rss_limit_mb=2048 "$corpus" > "$log/$name.txt" 2>&1; then
        pass=$((pass + 1)); echo "  $name: ok ($(grep -oE 'Done [0-9]+ runs in [0-9]+ second' "$log/$name.txt" | tail -1)s)"
      else
        fail=$((fail + 1)); failed_names+=("fuzz: $name"); tail -30 "$log/$name.txt" | sed 's/^/    /'
      fi
    done
    ;;
  *) echo "unknown suite $suite"; exit 2 ;;
  esac
  echo "  ($suite: $((SECONDS - t_suite)) s)"
done

if [ ${#skipped_names[@]} -gt 0 ]; then
  echo "== skipped (a skip means a missing part on this machine)"
  printf '  %s\n' "${skipped_names[@]}"
  # In CI every part is installed: a skip is a broken setup, not a pass.
  if [ "${CI:-}" = true ]; then
    fail=$((fail + skip)); skip=0
    failed_names+=("skips are failures in CI")
  fi
fi
if [ ${#failed_names[@]} -gt 0 ]; then
  echo "== failures"
  printf '  %s\n' "${failed_names[@]}"
fi
echo "logs: $log (total $((SECONDS - t_start)) s)"
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
