#!/usr/bin/env bats
# vmstore send / receive of filesystem datasets (container roots) and of
# clones relative to their origin (lib/storage/send_fs.c, recv_fs.c):
# round trips compared with diff -r and every owner, mode, time, xattr and
# hardlink; hostile streams refused with nothing written outside the
# dataset; origin streams carrying only what the clone changed; resumable
# receives cut among small files and inside a large one going on from
# their checkpoints.

bats_require_minimum_version 1.5.0
load helpers

setup() {
    vm_setup_root
    S=$BATS_TEST_TMPDIR
    MK="python3 $BATS_TEST_DIRNAME/fixtures/mkfsstream.py"
}

teardown() {
    vm_teardown_root
}

mnt() { echo "$VMADM_ROOT/$1"; }

# sig DIR: every entry's type, mode, owner, links, mtime, size, allocated
# blocks, device, link text and xattrs — what a copy must keep.
sig() {
    (cd "$1" && find . -printf '%p %y %m %U:%G %n %T@ %s\n' | sort)
    python3 - "$1" <<'PY'
import os, sys
root = sys.argv[1]
for d, dirs, files in sorted(os.walk(root)):
    for n in sorted(dirs + files):
        p = os.path.join(d, n)
        for k in sorted(os.listxattr(p, follow_symlinks=False)):
            print(os.path.relpath(p, root), k, os.getxattr(p, k, follow_symlinks=False).hex())
        st = os.lstat(p)
        if st.st_rdev:
            print(os.path.relpath(p, root), "rdev", st.st_rdev)
        if os.path.islink(p):
            print(os.path.relpath(p, root), "->", os.readlink(p))
PY
}

# A tree with everything a container root holds.
populate() {
    local r; r=$(mnt "$1")
    mkdir -p "$r/root/etc" "$r/root/usr/bin" "$r/root/dev" "$r/root/tmp"
    echo "host-$1" > "$r/root/etc/hostname"
    printf '#!/bin/sh\necho hi\n' > "$r/root/usr/bin/hello"
    chmod 4755 "$r/root/usr/bin/hello"
    chown 1000:1001 "$r/root/usr/bin/hello"
    ln "$r/root/usr/bin/hello" "$r/root/usr/bin/hello2"
    ln -s usr/bin "$r/root/bin"
    ln -s /etc/shadow "$r/root/abs-link"
    mknod "$r/root/dev/null" c 1 3
    mkfifo "$r/root/tmp/fifo"
    chmod 1777 "$r/root/tmp"
    truncate -s 64M "$r/root/sparse"
    echo data | dd of="$r/root/sparse" bs=1 seek=$((32 << 20)) conv=notrunc status=none
    setcap cap_net_raw+ep "$r/root/usr/bin/hello2"
    python3 -c "import os,sys; os.setxattr(sys.argv[1], 'user.tag', b'v1'); os.setxattr(sys.argv[2], 'trusted.t', b'x', follow_symlinks=False)" \
        "$r/root/etc" "$r/root/bin"
    touch -d '2020-01-02 03:04:05.123456789' "$r/root/etc/hostname" "$r/root/etc"
}

@test "filesystem send | receive: full, then incremental; trees identical in every attribute" {
    vmstore create zones/f1
    populate zones/f1
    vmstore snapshot zones/f1@a
    vmstore send zones/f1@a > "$S/full"
    # holes are not sent: 64 MiB sparse file, a few KiB of stream
    [ "$(stat -c %s "$S/full")" -lt 65536 ]
    vmstore receive zones/f2 < "$S/full"
    diff -r --no-dereference -x null -x fifo "$(mnt zones/f1)/" "$(mnt zones/f2)/"
    [ "$(sig "$(mnt zones/f1)")" = "$(sig "$(mnt zones/f2)")" ]
    [ "$(stat -c %i "$(mnt zones/f2)/root/usr/bin/hello")" = "$(stat -c %i "$(mnt zones/f2)/root/usr/bin/hello2")" ]
    [ "$(stat -c %b "$(mnt zones/f2)/root/sparse")" -lt 64 ]
    [[ "$(getcap "$(mnt zones/f2)/root/usr/bin/hello")" == *cap_net_raw=ep ]]
    [ "$(vmstore list -H -t snapshot -o name zones/f2)" = zones/f2@a ]

    # changes of every kind: content, mode, owner, deletion (file and tree),
    # a file replaced by a directory, a new hardlink group, xattr removed
    local r; r=$(mnt zones/f1)
    echo changed >> "$r/root/usr/bin/hello"
    chmod 700 "$r/root/etc/hostname"
    chown 5:5 "$r/root/bin" -h
    rm -rf "$r/root/tmp" "$r/root/abs-link"
    rm "$r/root/etc/hostname" && mkdir -p "$r/root/etc/hostname/sub" && echo x > "$r/root/etc/hostname/sub/f"
    echo new > "$r/root/new" && ln "$r/root/new" "$r/root/new2"
    python3 -c "import os,sys; os.removexattr(sys.argv[1], 'user.tag')" "$r/root/etc"
    vmstore snapshot zones/f1@b
    vmstore send -i @a zones/f1@b > "$S/incr"
    [ "$(stat -c %s "$S/incr")" -lt 16384 ]
    vmstore receive zones/f2 < "$S/incr"
    diff -r --no-dereference -x null -x fifo "$(mnt zones/f1)/" "$(mnt zones/f2)/"
    [ "$(sig "$(mnt zones/f1)")" = "$(sig "$(mnt zones/f2)")" ]
    [ "$(stat -c %h "$(mnt zones/f2)/root/usr/bin/hello")" = 2 ]
    [ "$(vmstore list -H -t snapshot -o name zones/f2 | tr '\n' ' ')" = "zones/f2@a zones/f2@b " ]

    # -n -P: the size, no stream
    run vmstore send -nP -i @a zones/f1@b
    [ "$status" -eq 0 ]
    # the object's bytes: the stream adds its framing (records, digests)
    local est=${lines[1]#size	}
    [ "$est" -gt 0 ] && [ "$est" -lt "$(stat -c %s "$S/incr")" ]
    [[ "${lines[0]}" == "incremental	zones/f1@a	zones/f1@b	"* ]]
}

@test "incremental filesystem receive refuses a modified destination and leaves it as it was" {
    vmstore create zones/f1
    populate zones/f1
    vmstore snapshot zones/f1@a
    vmstore send zones/f1@a | vmstore receive zones/f2
    echo more >> "$(mnt zones/f1)/root/etc/hostname"
    vmstore snapshot zones/f1@b
    echo local > "$(mnt zones/f2)/root/local"
    run sh -c "vmstore send -i @a zones/f1@b | vmstore receive zones/f2"
    [ "$status" -eq 1 ]
    [ "$output" = "cannot receive incremental stream: destination 'zones/f2' has been modified since most recent snapshot" ]
    [ "$(cat "$(mnt zones/f2)/root/local")" = local ]
    # a stream that fails half way (entry 3 through a symlink) is rolled back
    vmstore rollback zones/f2@a
    [ ! -e "$(mnt zones/f2)/root/local" ]
    local was; was=$(sig "$(mnt zones/f2)")
    echo '[{"path":"root/a","type":"file","data":"1"},{"path":"root/bin/x","type":"file","data":"2"}]' |
        $MK b a > "$S/bad-incr"
    run vmstore receive zones/f2 < "$S/bad-incr"
    [ "$status" -eq 1 ]
    [[ "$output" == *"through a symlink or outside the dataset"* ]]
    [ ! -e "$(mnt zones/f2)/root/a" ]
    [ "$(vmstore list -H -t snapshot -o name zones/f2)" = zones/f2@a ]
    [ "$(sig "$(mnt zones/f2)")" = "$was" ]
}

@test "hostile filesystem streams: nothing is created outside the dataset, nothing is left behind" {
    mkdir -p "$S/outside"
    local before; before=$(vmstore list -H -t all -o name | tr '\n' ' ')
    refuse() { # JSON entries, expected message part
        echo "$1" | $MK s > "$S/h"
        run vmstore receive zones/h < "$S/h"
        echo "$output"
        [ "$status" -eq 1 ]
        [[ "$output" == *"$2"* ]]
        [ "$(vmstore list -H -t all -o name | tr '\n' ' ')" = "$before" ]
        [ -z "$(ls -A "$S/outside")" ]
    }
    refuse '[{"path":"../x","type":"file","data":"pwned"}]' "unsafe or malformed path"
    refuse "[{\"path\":\"$S/outside/x\",\"type\":\"file\",\"data\":\"pwned\"}]" "unsafe or malformed path"
    refuse '[{"path":"a/../../x","type":"dir"}]' "unsafe or malformed path"
    # a symlink to the outside, then a file through it
    refuse "[{\"path\":\"l\",\"type\":\"symlink\",\"target\":\"$S/outside\"},{\"path\":\"l/x\",\"type\":\"file\",\"data\":\"pwned\"}]" \
        "through a symlink or outside the dataset"
    # a relative symlink climbing out, then a directory through it
    refuse '[{"path":"up","type":"symlink","target":"../../../../../../.."},{"path":"up/tmp","type":"dir"}]' \
        "through a symlink or outside the dataset"
    # a hardlink to a host file
    refuse '[{"path":"h","type":"hardlink","target":"../../../../etc/passwd"}]' "hardlink target"
    refuse '[{"path":"l","type":"symlink","target":"/etc"},{"path":"h","type":"hardlink","target":"l/passwd"}]' \
        "is not in the dataset"
    # a symlink's text is stored, never followed: receiving one is fine
    echo '[{"path":"l","type":"symlink","target":"/etc/passwd"}]' | $MK s | vmstore receive zones/ok
    [ "$(readlink "$(mnt zones/ok)/l")" = /etc/passwd ]
}

@test "origin streams: a clone sends only what it changed since its origin" {
    # volume: a 32 MiB image, a clone writing 1 MiB
    vmstore create -V 64M zones/img
    local D=$VMADM_ROOT/var/vmstore/zones/data P=$VMADM_ROOT/var/vmstore/zones/pool.json
    qemu-io -f qcow2 -c "write -P 0x5a 0 32M" "$D/$(jq -r '.datasets["zones/img"].file' "$P")" >/dev/null
    vmstore snapshot zones/img@final
    vmstore clone zones/img@final zones/vm/disk0 2>/dev/null || { vmstore create zones/vm; vmstore clone zones/img@final zones/vm/disk0; }
    qemu-io -f qcow2 -c "write -P 0x11 4M 1M" "$D/$(jq -r '.datasets["zones/vm/disk0"].file' "$P")" >/dev/null
    vmstore snapshot zones/vm/disk0@s
    vmstore send -i zones/img@final zones/vm/disk0@s > "$S/vol"
    [ "$(stat -c %s "$S/vol")" -lt $((1024 * 1024 + 65536)) ]
    vmstore receive zones/copy < "$S/vol"
    [ "$(vmstore get -H -o value origin zones/copy)" = zones/img@final ]
    qemu-img compare -q -f qcow2 -F qcow2 "$D/$(jq -r '.datasets["zones/vm/disk0"].file' "$P")" \
        "$D/$(jq -r '.datasets["zones/copy"].file' "$P")"
    run vmstore send -nP -i zones/img@final zones/vm/disk0@s
    [ "${lines[1]}" = "size	1048576" ]

    # filesystem: a root with 8 MiB of files, a clone changing 1 MiB
    vmstore create zones/ctimg
    mkdir "$(mnt zones/ctimg)/root"
    for i in 1 2 3 4 5 6 7 8; do head -c 1M /dev/urandom > "$(mnt zones/ctimg)/root/f$i"; done
    vmstore snapshot zones/ctimg@final
    vmstore clone zones/ctimg@final zones/ct
    head -c 1M /dev/urandom > "$(mnt zones/ct)/root/f3"
    rm "$(mnt zones/ct)/root/f5"
    vmstore snapshot zones/ct@s
    vmstore send -i zones/ctimg@final zones/ct@s > "$S/fs"
    [ "$(stat -c %s "$S/fs")" -lt $((1024 * 1024 + 65536)) ]
    vmstore receive zones/ct2 < "$S/fs"
    [ "$(vmstore get -H -o value origin zones/ct2)" = zones/ctimg@final ]
    diff -r "$(mnt zones/ct)/" "$(mnt zones/ct2)/"

    # without the origin on the receiving side
    local other=$S/other-host; mkdir "$other"
    run sh -c "VMADM_ROOT=$other vmstore receive zones/ct2 < '$S/fs'"
    rm -rf "$other"
    [ "$status" -eq 1 ]
    [ "$output" = "cannot receive incremental stream: origin 'zones/ctimg@final' does not exist" ]
    # -i with a snapshot that is neither older nor the origin
    run sh -c "vmstore send -i zones/img@final zones/ct@s > /dev/null"
    [ "$status" -eq 1 ]
    [[ "$output" == *"is neither an earlier snapshot of 'zones/ct' nor its origin"* ]]
}

@test "a receive killed half way leaves no destination, and the next receive cleans up after it" {
    vmstore create zones/f1
    populate zones/f1
    head -c 4M /dev/urandom > "$(mnt zones/f1)/root/big"
    vmstore snapshot zones/f1@a
    vmstore send zones/f1@a > "$S/full"
    mkfifo "$S/pipe"
    # a sender that stops half way and keeps the pipe open
    (head -c 2M "$S/full"; exec sleep 60) > "$S/pipe" 3>&- &
    local writer=$!
    vmstore receive zones/k < "$S/pipe" 3>&- &
    local pid=$!
    wait_for sh -c "vmstore list -H -o name | grep -q '^zones/k-vmstore-recv-$pid\$'"
    sleep 0.3
    kill -9 "$pid"
    wait "$pid" || true
    kill "$writer"
    ! vmstore list zones/k
    vmstore receive zones/k < "$S/full"
    diff -r --no-dereference -x null -x fifo "$(mnt zones/f1)/" "$(mnt zones/k)/"
    [ -z "$(vmstore list -H -o name | grep -- -vmstore-recv-)" ]
}

# tokjson TOKEN: the JSON a resume token carries.
tokjson() { python3 -c 'import sys; print(bytes.fromhex(sys.argv[1][2:]).decode())' "$1"; }
# tree DIR: sig plus every file's contents.
tree() { sig "$1"; (cd "$1" && find . -type f -print0 | sort -z | xargs -0 sha256sum); }

@test "filesystem receive -s / send -t / receive -A: a cut receive resumes inside the object, at most a chunk again" {
    vmstore create zones/fs
    local r; r=$(mnt zones/fs)
    # send order: 0pad (60 MiB), the small files under m/ (~9 MB, holding
    # the 64 MiB point), z/big (200 MiB of random data)
    head -c 60M /dev/zero > "$r/0pad"
    mkdir "$r/z"
    head -c 200M /dev/urandom > "$r/z/big"
    python3 - "$r" <<'PY'
import os, random, sys
r = sys.argv[1]
random.seed(7)
for d in range(30):
    dp = os.path.join(r, "m", "d%02d" % d)
    os.makedirs(dp)
    for f in range(100):
        p = os.path.join(dp, "f%03d" % f)
        with open(p, "wb") as fh:
            fh.write(os.urandom(random.randint(1024, 5120)))
        os.chmod(p, random.choice([0o644, 0o600, 0o755, 0o4755]))
        os.chown(p, random.randint(0, 2000), random.randint(0, 2000))
        if f % 10 == 0:
            os.setxattr(p, "user.n", b"%d" % f)
        os.utime(p, ns=(0, 1500000000123456789 + d * 1000 + f))
os.symlink("../d04/f001", os.path.join(r, "m/d03/sl"))
os.symlink("/etc/passwd", os.path.join(r, "m/d30abs"))
os.link(os.path.join(r, "m/d05/f010"), os.path.join(r, "m/d20/hl"))
os.setxattr(os.path.join(r, "m/d07"), "user.dir", b"yes")
os.setxattr(os.path.join(r, "z/big"), "user.big", b"b" * 100)
for i, d in enumerate(sorted(os.listdir(os.path.join(r, "m")))):
    p = os.path.join(r, "m", d)
    if os.path.isdir(p) and not os.path.islink(p):
        os.utime(p, ns=(0, 1400000000000000007 + i))
for i, p in enumerate(["m", "z", ""]):
    os.utime(os.path.join(r, p), ns=(0, 1300000000000000009 + i))
PY
    vmstore snapshot zones/fs@a
    tree "$r" > "$S/tree-a"
    vmstore send zones/fs@a > "$S/full"
    local total; total=$(stat -c %s "$S/full")

    # cut 1 (~100 MB): the checkpoint at 64 MiB is among the small files
    run --separate-stderr bash -c "head -c 100000000 '$S/full' | vmstore receive -s zones/copy"
    [ "$status" -ne 0 ] && [[ "$stderr" == *truncated* ]] || { echo "$stderr"; false; }
    ! vmstore list zones/copy 2>/dev/null
    local tok1 o1 small
    tok1=$(vmstore get -H -o value receive_resume_token zones/copy-vmstore-partial)
    o1=$(tokjson "$tok1" | jq .offset)
    small=$(find "$r/m" -type f -printf '%s\n' | awk '{s += $1} END {print s}')
    echo "offset $o1, small files end after $((60 * 1048576 + small))"
    [ "$o1" -ge 67108864 ] && [ "$o1" -lt $((60 * 1048576 + small)) ]
    # the token names the object and the point, no more
    [ "$(tokjson "$tok1" | jq -c 'keys')" = '["guid","offset","size","snapshot"]' ]
    vmstore send -t "$tok1" > "$S/rest1"
    # only a resumable receive takes it
    run --separate-stderr vmstore receive zones/copy < "$S/rest1"
    [ "$status" -ne 0 ] && [[ "$stderr" == *"resumes a partial receive (-s)"* ]]

    # cut 2 (~100 MB of the resumed stream): the next checkpoint is inside z/big
    run --separate-stderr bash -c "head -c 100000000 '$S/rest1' | vmstore receive -s zones/copy"
    [ "$status" -ne 0 ] && [[ "$stderr" == *truncated* ]] || { echo "$stderr"; false; }
    local tok2 o2
    tok2=$(vmstore get -H -o value receive_resume_token zones/copy-vmstore-partial)
    o2=$(tokjson "$tok2" | jq .offset)
    echo "offset $o2"
    [ "$o2" -ge $((o1 + 67108864)) ] && [ "$o2" -lt $((o1 + 100000000)) ]
    [ "$(vmstore get -H -o value vmadm:receive_resume zones/copy-vmstore-partial | jq -r .at)" = file ]
    vmstore send -t "$tok2" > "$S/rest2"
    # what is sent again: what the receiver had past its checkpoint, less
    # than one chunk (64 MiB) plus record framing
    local missing=$((total - o1 - 100000000)) rest2; rest2=$(stat -c %s "$S/rest2")
    echo "full $total, rest2 $rest2, missing about $missing"
    [ "$rest2" -gt "$missing" ] && [ "$((rest2 - missing))" -lt $((64 * 1048576 + 1048576)) ]
    [ "$rest2" -lt $((total - o2 + 1048576)) ]

    # a resumed stream of another snapshot is refused (@c: changed for the
    # incremental below)
    head -c 70M /dev/urandom > "$r/z/big2"
    echo changed > "$r/m/d29/f099"
    touch -d '2022-01-01' "$r/z"
    vmstore snapshot zones/fs@c
    local tokc; tokc=1-$(tokjson "$tok2" | jq -c --arg g "$(vmstore get -H -o value guid zones/fs@c)" '.guid = $g | .snapshot = "c"' |
        tr -d '\n' | od -An -tx1 | tr -d ' \n')
    run --separate-stderr bash -c "vmstore send -t '$tokc' | vmstore receive -s zones/copy"
    [ "$status" -ne 0 ] && [[ "$stderr" == *"cannot resume receive of 'zones/copy': the partial receive differs in 'guid'"* ]]

    vmstore receive -s zones/copy < "$S/rest2"
    [ "$(vmstore list -H -t snapshot -o name zones/copy)" = zones/copy@a ]
    ! vmstore list zones/copy-vmstore-partial 2>/dev/null
    [ "$(vmstore get -H -o value receive_resume_token zones/copy)" = - ]
    diff "$S/tree-a" <(tree "$(mnt zones/copy)")
    [ "$(stat -c %i "$(mnt zones/copy)/m/d05/f010")" = "$(stat -c %i "$(mnt zones/copy)/m/d20/hl")" ]

    # an incremental stream resumes on the dataset itself
    vmstore send -i @a zones/fs@c > "$S/incr"
    run --separate-stderr bash -c "head -c 69000000 '$S/incr' | vmstore receive -s zones/copy"
    [ "$status" -ne 0 ] && [[ "$stderr" == *truncated* ]] || { echo "$stderr"; false; }
    local tok3; tok3=$(vmstore get -H -o value receive_resume_token zones/copy)
    [ "$(tokjson "$tok3" | jq -r '.from + " " + (.offset | tostring)')" = "a 67108864" ]
    vmstore send -t "$tok3" | vmstore receive -s zones/copy
    [ "$(vmstore list -H -t snapshot -o name zones/copy | tr '\n' ' ')" = "zones/copy@a zones/copy@c " ]
    diff <(tree "$r") <(tree "$(mnt zones/copy)")

    # -A discards a partial filesystem receive
    head -c 20000000 "$S/full" | vmstore receive -s zones/third 2>/dev/null && false
    vmstore list -H -o name zones/third-vmstore-partial
    vmstore receive -A zones/third
    ! vmstore list -H -o name zones/third-vmstore-partial 2>/dev/null
    ! vmstore list zones/third 2>/dev/null
}
