#!/usr/bin/env bats
# vminfod GET /metrics (issue 19 part 3): Prometheus text exposition 0.0.4,
# checked by a strict parser below (no prometheus_client or promtool here),
# and the values against what the daemon knows.  VMs are made by hand and
# the daemon runs with --loader files, as in vminfod.bats.

load helpers

U1=11111111-2222-3333-4444-555555555555
U2=22222222-2222-3333-4444-555555555555
U3=33333333-2222-3333-4444-555555555555

setup() {
    vm_setup_root
    mkdir -p "$VMADM_ROOT/etc/vms"
}

teardown() {
    [ -n "${VMINFOD_PID:-}" ] && kill "$VMINFOD_PID" 2>/dev/null || true
    [ -n "${VMINFOD_PID:-}" ] && wait "$VMINFOD_PID" 2>/dev/null || true
    vm_teardown_root
}

put_vm() {
    mkdir -p "$VMADM_ROOT/etc/vms/$1"
    printf '%s\n' "$2" > "$VMADM_ROOT/etc/vms/$1/.tmp.vm.json"
    mv "$VMADM_ROOT/etc/vms/$1/.tmp.vm.json" "$VMADM_ROOT/etc/vms/$1/vm.json"
}

# prom_check FILE: fails (saying which line and why) unless FILE is valid
# text exposition: HELP/TYPE once per family and before its samples,
# families contiguous, names/labels/escapes/values well-formed, counters
# >= 0, histograms cumulative with +Inf == _count and a _sum.  Prints
# "name{labels} value" lines, one per sample, normalised.
prom_check() {
    python3 - "$1" <<'EOF'
import math, re, sys
text = open(sys.argv[1], encoding="utf-8").read()
def die(n, why, line=""):
    sys.exit(f"line {n}: {why}: {line!r}")
if not text.endswith("\n"):
    die(0, "no final newline")
NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"'
sample_re = re.compile(rf"^(?P<name>{NAME})(?:\{{(?P<labels>(?:{LABEL})(?:,{LABEL})*)?,?\}})? (?P<value>\S+)(?: (?P<ts>-?\d+))?$")
types, helps, seen_done, cur = {}, set(), set(), None
samples = []
def family(name):
    for suf in ("_bucket", "_sum", "_count"):
        base = name[: -len(suf)]
        if name.endswith(suf) and types.get(base) in ("histogram", "summary"):
            return base
    return name
def value(n, s, line):
    if s in ("+Inf", "-Inf", "NaN"):
        return float(s.replace("Inf", "inf"))
    if not re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", s):
        die(n, "bad value", line)
    return float(s)
for n, line in enumerate(text.split("\n")[:-1], 1):
    if line.startswith("#"):
        m = re.fullmatch(rf"# (HELP|TYPE) ({NAME}) (.*)", line)
        if not m:
            if line.startswith("# HELP") or line.startswith("# TYPE"):
                die(n, "malformed HELP/TYPE", line)
            continue
        kind, name, rest = m.groups()
        if name in seen_done or (cur and cur != name and name in types):
            die(n, "family not contiguous", line)
        if kind == "TYPE":
            if name in types:
                die(n, "second TYPE", line)
            if any(family(s[0]) == name for s in samples):
                die(n, "TYPE after samples", line)
            if rest not in ("counter", "gauge", "histogram", "summary", "untyped"):
                die(n, "unknown type", line)
            types[name] = rest
        else:
            if name in helps:
                die(n, "second HELP", line)
            if re.search(r"\\[^\\n]", rest):
                die(n, "bad escape in HELP", line)
            helps.add(name)
        if cur and cur != name:
            seen_done.add(cur)
        cur = name
        continue
    if not line.strip():
        die(n, "empty line", line)
    m = sample_re.match(line)
    if not m:
        die(n, "malformed sample", line)
    name = m.group("name")
    found = re.findall(LABEL, m.group("labels") or "")
    labels = dict(found)
    if len(labels) != len(found):
        die(n, "duplicate label", line)
    fam = family(name)
    if fam in seen_done:
        die(n, "family not contiguous", line)
    if cur and cur != fam:
        seen_done.add(cur)
    cur = fam
    v = value(n, m.group("value"), line)
    if types.get(fam) == "counter" and (v < 0 or math.isnan(v)):
        die(n, "negative counter", line)
    samples.append((name, labels, v, n, line))
for fam, t in types.items():
    if t != "histogram":
        continue
    buckets = [(s[1].get("le"), s[2], s[3], s[4]) for s in samples if s[0] == fam + "_bucket"]
    count = [s[2] for s in samples if s[0] == fam + "_count"]
    if not buckets or len(count) != 1 or not any(s[0] == fam + "_sum" for s in samples):
        die(0, "histogram without buckets, _sum or _count", fam)
    prev_le, prev = -math.inf, 0
    for le, v, n, line in buckets:
        lev = value(n, le or "", line)
        if lev <= prev_le or v < prev:
            die(n, "buckets not cumulative/increasing", line)
        prev_le, prev = lev, v
    if buckets[-1][0] != "+Inf" or buckets[-1][1] != count[0]:
        die(buckets[-1][2], "+Inf bucket != _count", buckets[-1][3])
for name, labels, v, n, line in samples:
    if family(name) not in types:
        die(n, "sample without TYPE", line)
    lab = ",".join(f'{k}="{labels[k]}"' for k in sorted(labels))
    print(f"{name}{{{lab}}} {v:g}")
EOF
}

@test "vminfod /metrics: strict text format; VMs by state and brand, events, requests, heap" {
    put_vm $U1 '{"uuid":"'$U1'","brand":"bhyve","state":"running","alias":"a"}'
    put_vm $U2 '{"uuid":"'$U2'","brand":"bhyve","state":"stopped","alias":"b"}'
    put_vm $U3 '{"uuid":"'$U3'","brand":"joyent","state":"stopped","alias":"c"}'
    start_vminfod --loader files

    run curl -s -D "$BATS_TEST_TMPDIR/h" -o "$BATS_TEST_TMPDIR/m1" "http://$ADDR/metrics"
    [ "$status" -eq 0 ]
    grep -qi '^Content-Type: text/plain; version=0.0.4; charset=utf-8' "$BATS_TEST_TMPDIR/h"
    prom_check "$BATS_TEST_TMPDIR/m1" > "$BATS_TEST_TMPDIR/s1"
    cat "$BATS_TEST_TMPDIR/s1"
    grep -qx 'vminfod_vms{brand="bhyve",state="running"} 1' "$BATS_TEST_TMPDIR/s1"
    grep -qx 'vminfod_vms{brand="bhyve",state="stopped"} 1' "$BATS_TEST_TMPDIR/s1"
    grep -qx 'vminfod_vms{brand="joyent",state="stopped"} 1' "$BATS_TEST_TMPDIR/s1"
    grep -qx 'vminfod_vms_cached{} 3' "$BATS_TEST_TMPDIR/s1"
    grep -qx 'vminfod_event_subscribers{} 0' "$BATS_TEST_TMPDIR/s1"
    # startup loads are create events
    grep -qx 'vminfod_events_total{} 3' "$BATS_TEST_TMPDIR/s1"
    grep -q '^vminfod_cache_refresh_duration_seconds{} ' "$BATS_TEST_TMPDIR/s1"
    # heap from glibc's mallinfo2 (0 under ASan's allocator), RSS always
    grep -q '^vminfod_heap_in_use_bytes{} ' "$BATS_TEST_TMPDIR/s1"
    awk '$1 == "vminfod_resident_memory_bytes{}" && $2 > 1000000 {ok = 1} END {exit !ok}' "$BATS_TEST_TMPDIR/s1"
    # the same as /status reports
    curl -s "http://$ADDR/status" | jq -e '.numVms == 3'

    # a change is an event; a stream is a subscriber; each request counts
    put_vm $U2 '{"uuid":"'$U2'","brand":"bhyve","state":"running","alias":"b"}'
    wait_for sh -c "curl -s http://$ADDR/vms/$U2 | grep -q running"
    curl -sN "http://$ADDR/events" > /dev/null 3>&- &
    local cpid=$!
    wait_for sh -c "curl -s http://$ADDR/metrics | grep -qx 'vminfod_event_subscribers 1'"
    curl -s "http://$ADDR/metrics" > "$BATS_TEST_TMPDIR/m2"
    kill $cpid
    prom_check "$BATS_TEST_TMPDIR/m2" > "$BATS_TEST_TMPDIR/s2"
    grep -qx 'vminfod_vms{brand="bhyve",state="running"} 2' "$BATS_TEST_TMPDIR/s2"
    ! grep -q 'state="stopped",brand="bhyve"\|brand="bhyve",state="stopped"' "$BATS_TEST_TMPDIR/s2"
    grep -qx 'vminfod_events_total{} 4' "$BATS_TEST_TMPDIR/s2"
    r1=$(awk '$1 == "vminfod_requests_total{}" {print $2}' "$BATS_TEST_TMPDIR/s1")
    r2=$(awk '$1 == "vminfod_requests_total{}" {print $2}' "$BATS_TEST_TMPDIR/s2")
    [ "$r2" -gt "$r1" ]
    grep -qx "vminfod_request_duration_seconds_count{} $r2" "$BATS_TEST_TMPDIR/s2"
}

@test "vminfod /metrics: label values are escaped; the checker rejects broken exposition" {
    put_vm $U1 '{"uuid":"'$U1'","brand":"we\"ird\\br\nand","state":"running"}'
    start_vminfod --loader files
    curl -s "http://$ADDR/metrics" > "$BATS_TEST_TMPDIR/m"
    grep -qF 'vminfod_vms{state="running",brand="we\"ird\\br\nand"} 1' "$BATS_TEST_TMPDIR/m"
    prom_check "$BATS_TEST_TMPDIR/m" > /dev/null

    # the checker is not a rubber stamp
    printf '# TYPE a counter\na -1\n' > "$BATS_TEST_TMPDIR/bad1"
    printf '# TYPE a gauge\na{x="\\q"} 1\n' > "$BATS_TEST_TMPDIR/bad2"
    printf '# TYPE a gauge\na 1\n# TYPE b gauge\nb 1\na 2\n' > "$BATS_TEST_TMPDIR/bad3"
    printf '# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n' > "$BATS_TEST_TMPDIR/bad4"
    printf 'a 1\n' > "$BATS_TEST_TMPDIR/bad5"
    printf '# TYPE a gauge\na one\n' > "$BATS_TEST_TMPDIR/bad6"
    for b in 1 2 3 4 5 6; do
        run prom_check "$BATS_TEST_TMPDIR/bad$b"
        [ "$status" -ne 0 ] || { echo "bad$b accepted"; false; }
    done
}
