#!/usr/bin/env bats
# The Debian package (issue 19 part 3): what it holds (dpkg-deb -I/-c), and
# install / remove / purge with its maintainer scripts in throwaway copies
# of this host's root: an overlayfs over / whose writes land on a tmpfs, in
# private mount and pid namespaces.  Nothing reaches the host's /, no unit
# of the host is touched.  Two kinds of copy:
#  - throwaway_root, entered with chroot: no systemd runs there (the units
#    are checked with systemd-analyze, vminfod is run with its unit's
#    command line and environment); remove stops a running VM.
#  - booted_root: the copy boots this host's systemd (Debian 12's 252) as
#    PID 1 of a container (systemd-nspawn -b), twice: dpkg -i on the
#    running system starts vminfod, vmadm-zvold and vmadm-autoboot and the
#    tools work on the default root; the next boot starts the units by
#    itself; apt-get remove leaves no unit and no process, purge keeps VM
#    data.
#
# Building the .deb takes about 2 minutes here, so it is not part of the
# default test command: VMADM_DEB=<path to a built .deb> tests that
# package, VMADM_TEST_PACKAGE=1 builds one (scripts/build-deb.sh) first.

load helpers

setup_file() {
    if [ -n "${VMADM_DEB:-}" ]; then
        export DEB=$VMADM_DEB
    elif [ "${VMADM_TEST_PACKAGE:-}" = 1 ]; then
        local t0=$SECONDS
        DEB=$("$BATS_TEST_DIRNAME/../../scripts/build-deb.sh" "$BATS_FILE_TMPDIR/deb" | tail -n 1)
        export DEB
        echo "# scripts/build-deb.sh: $((SECONDS - t0)) s" >&3
    fi
}

setup() {
    [[ "$BATS_TEST_DESCRIPTION" == "meson install"* ]] && return 0
    [ -n "${DEB:-}" ] || skip "set VMADM_DEB=<.deb> or VMADM_TEST_PACKAGE=1 (builds it, ~2 min)"
    [ -f "$DEB" ]
}

# A booted copy's processes and cgroups go even when its test failed.
teardown() {
    boot_cleanup
}

# throwaway_root SCRIPT: runs SCRIPT (sh -eu) as root in a copy-on-write
# view of this host's / (see the top); the .deb is /tmp/vmadm.deb there.
throwaway_root() {
    local t=$BATS_TEST_TMPDIR/ovl
    mkdir -p "$t"
    printf '%s\n' "$1" > "$BATS_TEST_TMPDIR/inner.sh"
    unshare --mount --net --pid --fork --propagation private sh -euc '
        t=$1 deb=$2 inner=$3
        mount -t tmpfs tmpfs "$t"
        mkdir "$t/up" "$t/work" "$t/m"
        mount -t overlay overlay -o "lowerdir=/,upperdir=$t/up,workdir=$t/work" "$t/m"
        mount -t proc proc "$t/m/proc"
        mount --rbind /dev "$t/m/dev"
        mount -t tmpfs tmpfs "$t/m/run"
        mount -t tmpfs tmpfs "$t/m/tmp"
        cp "$deb" "$t/m/tmp/vmadm.deb"
        cp "$inner" "$t/m/tmp/inner.sh"
        ip link set lo up
        exec chroot "$t/m" /bin/sh -eu /tmp/inner.sh
    ' sh "$t" "$DEB" "$BATS_TEST_TMPDIR/inner.sh"
}

# The cgroups a booted copy runs in (booted_root): one of ours in each
# hierarchy systemd uses, cgroup v2 alone or v1's name=systemd plus the
# unified one (this host's hybrid layout).
boot_cgroups() {
    local n=vmadm-pkgtest.$$
    if [ "$(stat -fc %T /sys/fs/cgroup)" = cgroup2fs ]; then
        echo "/sys/fs/cgroup/$n"
    else
        for h in systemd unified; do
            [ -e "/sys/fs/cgroup/$h/cgroup.procs" ] && echo "/sys/fs/cgroup/$h/$n"
        done
    fi
    return 0
}

# Kills whatever still runs in those cgroups (the container's PID 1 takes
# its whole pid namespace with it) and removes them.
boot_cleanup() {
    local c i
    for c in $(boot_cgroups); do
        [ -d "$c" ] || continue
        for i in $(seq 50); do
            [ -z "$(find "$c" -name cgroup.procs -exec cat {} + 2>/dev/null)" ] && break
            find "$c" -name cgroup.procs -exec cat {} + 2>/dev/null | xargs -r kill -9 2>/dev/null || true
            sleep 0.1
        done
        find "$c" -depth -type d -exec rmdir {} + 2>/dev/null || true
        [ ! -d "$c" ] || { echo "cannot remove cgroup $c" >&2; return 1; }
    done
}

# booted_root SCRIPT...: boots this host's systemd as PID 1 of a container
# (systemd-nspawn -b) whose root is a copy-on-write view of / (as
# throwaway_root), once per SCRIPT, every boot on the same copy.  Boot i
# runs SCRIPT i (sh -eu) once multi-user.target is reached
# (vmadm-pkgtest.service), then powers off.  The host directory
# $BATS_TEST_TMPDIR/out is /pkgtest in the container: the .deb
# (vmadm.deb), i.log (SCRIPT i's output), i.rc (its exit status) and
# i.boot (the console).  Fresh machine id, private network (lo only),
# /dev/fuse for vmadm-zvold; the units this host enabled are not enabled
# in the copy (a fresh Debian has none of them).  The container, its
# mounts and cgroups are gone when this returns, also after a timeout.
booted_root() {
    local o=$BATS_TEST_TMPDIR/out t=$BATS_TEST_TMPDIR/ovl i=0 s c
    mkdir -p "$o" "$t"
    cp "$DEB" "$o/vmadm.deb"
    for s in "$@"; do i=$((i + 1)); printf '%s\n' "$s" > "$o/$i.sh"; done
    cat > "$o/run" <<'EOT'
i=1; while [ -e /pkgtest/$i.rc ]; do i=$((i + 1)); done
rc=0; sh -eu /pkgtest/$i.sh > /pkgtest/$i.log 2>&1 || rc=$?
echo $rc > /pkgtest/$i.rc
exit $rc
EOT
    for c in $(boot_cgroups); do mkdir "$c"; done
    # The container runs in cgroups of ours (no host systemd to ask for a
    # scope: --register=no --keep-unit; nspawn makes payload/ and
    # supervisor/ in them).  --mount-proc: a /proc of this pid namespace,
    # without it nspawn exits 1 at poweroff ("Failed to open parent network
    # namespace").  --kill-child: when timeout kills unshare, the pid
    # namespace, the container's included, goes with it.
    timeout -k 10 150 unshare --mount --pid --fork --kill-child --mount-proc --propagation private sh -euc '
        t=$1 o=$2; shift 2
        for c; do echo 0 > "$c/cgroup.procs"; done
        mount -t tmpfs tmpfs "$t"
        mkdir "$t/up" "$t/work" "$t/m"
        mount -t overlay overlay -o "lowerdir=/,upperdir=$t/up,workdir=$t/work" "$t/m"
        # nspawn keeps its state in /run/systemd/nspawn; /run is not
        # always a tmpfs: it gets a throwaway one
        mount -t tmpfs tmpfs /run
        r=$t/m
        systemd-id128 new > "$r/etc/machine-id"
        rm -f "$r"/etc/systemd/system/*.wants/*
        # a Docker-style policy-rc.d (exit 101) lets no maintainer script
        # start a service: a fresh Debian has none
        rm -f "$r/usr/sbin/policy-rc.d"
        # Type=exec after multi-user.target: started once the boot is done,
        # which is then over (systemctl is-system-running --wait returns)
        mkdir -p "$r/pkgtest" "$r/etc/systemd/system/multi-user.target.wants"
        cat > "$r/etc/systemd/system/vmadm-pkgtest.service" <<EOT
[Unit]
Description=vmadm package test (tests/cli/package.bats)
After=multi-user.target
SuccessAction=poweroff
FailureAction=poweroff
[Service]
Type=exec
ExecStart=/bin/sh /pkgtest/run
RuntimeMaxSec=60
EOT
        ln -s ../vmadm-pkgtest.service "$r/etc/systemd/system/multi-user.target.wants/"
        i=1
        while [ -e "$o/$i.sh" ]; do
            rc=0
            systemd-nspawn -q -b -D "$r" -M vmadm-pkgtest --register=no --keep-unit \
                --private-network --link-journal=no --resolv-conf=off --timezone=off \
                --console=read-only --bind="$o:/pkgtest" --bind=/dev/fuse \
                < /dev/null > "$o/$i.boot" 2>&1 || rc=$?
            [ $rc -eq 0 ] || { echo "boot $i: systemd-nspawn exited $rc"; exit 1; }
            [ -e "$o/$i.rc" ] || { echo "boot $i: its script did not finish"; exit 1; }
            [ "$(cat "$o/$i.rc")" = 0 ] || { echo "boot $i: its script failed"; exit 1; }
            i=$((i + 1))
        done
    ' sh "$t" "$o" $(boot_cgroups)
}

@test "meson install: binaries, man pages, completion and units under the build's prefix" {
    prefix=$(meson introspect --buildoptions "$BUILD_DIR" | jq -r '.[] | select(.name == "prefix") | .value')
    DESTDIR="$BATS_TEST_TMPDIR/dest" meson install -C "$BUILD_DIR" --no-rebuild --quiet
    d=$BATS_TEST_TMPDIR/dest$prefix
    for t in vmadm imgadm vmstore nictagadm vminfod vminfo; do
        [ -x "$d/sbin/$t" ]
        [ -f "$d/share/man/man8/$t.8" ]
        ! grep -q '@VERSION@' "$d/share/man/man8/$t.8"
    done
    for t in vmadm imgadm vmstore nictagadm; do
        [ -f "$d/share/bash-completion/completions/$t" ]
    done
    # units name the binaries where this prefix puts them
    u=$(find "$BATS_TEST_TMPDIR/dest" -name vminfod.service)
    grep -qx "ExecStart=$prefix/sbin/vminfod" "$u"
    grep -qx "ExecStart=$prefix/sbin/vmadm boot-all" "$(dirname "$u")/vmadm-autoboot.service"
    grep -qx "ExecStart=$prefix/sbin/vmadm-zvold" "$(dirname "$u")/vmadm-zvold.service"
    [ -x "$d/sbin/vmadm-zvold" ]
    # nothing else: no test or bench programs
    [ "$(find "$BATS_TEST_TMPDIR/dest" -type f | wc -l)" -eq 20 ]
}

@test "package: control fields and dependencies (dpkg-deb -I)" {
    run dpkg-deb -f "$DEB" Package Architecture Section
    [ "$output" = "$(printf 'Package: vmadm\nArchitecture: amd64\nSection: admin')" ]
    deps=$(dpkg-deb -f "$DEB" Depends)
    for d in qemu-system-x86 qemu-utils ovmf lxc libc6 libjansson4 libmicrohttpd12 libnftables1 libnbd0; do
        [[ "$deps" == *"$d"* ]] || { echo "no $d in: $deps"; false; }
    done
    run dpkg-deb -I "$DEB"
    [[ "$output" == *" postinst "* && "$output" == *" prerm "* && "$output" == *" postrm "* ]]
}

@test "package: binaries, man pages, completion, units and nothing else (dpkg-deb -c)" {
    dpkg-deb -c "$DEB" | awk '{print $NF}' | grep -v '/$' | sed 's|^\./|/|' | sort > "$BATS_TEST_TMPDIR/files"
    cat > "$BATS_TEST_TMPDIR/want" <<'EOF'
/lib/systemd/system/vmadm-autoboot.service
/lib/systemd/system/vmadm-zvold.service
/lib/systemd/system/vminfod.service
/usr/sbin/imgadm
/usr/sbin/nictagadm
/usr/sbin/vmadm
/usr/sbin/vmadm-zvold
/usr/sbin/vminfo
/usr/sbin/vminfod
/usr/sbin/vmstore
/usr/share/bash-completion/completions/imgadm
/usr/share/bash-completion/completions/nictagadm
/usr/share/bash-completion/completions/vmadm
/usr/share/bash-completion/completions/vmstore
/usr/share/doc/vmadm/changelog.gz
/usr/share/man/man8/imgadm.8.gz
/usr/share/man/man8/nictagadm.8.gz
/usr/share/man/man8/vmadm.8.gz
/usr/share/man/man8/vminfo.8.gz
/usr/share/man/man8/vminfod.8.gz
/usr/share/man/man8/vmstore.8.gz
EOF
    diff "$BATS_TEST_TMPDIR/want" "$BATS_TEST_TMPDIR/files"
    # the units name the installed binaries and the default root
    dpkg-deb --fsys-tarfile "$DEB" | tar -xOf - ./lib/systemd/system/vminfod.service > "$BATS_TEST_TMPDIR/u"
    grep -qx 'ExecStart=/usr/sbin/vminfod' "$BATS_TEST_TMPDIR/u"
    grep -qx 'Environment=VMADM_ROOT=/var/lib/vmadm' "$BATS_TEST_TMPDIR/u"
    grep -qx 'WantedBy=multi-user.target' "$BATS_TEST_TMPDIR/u"
}

@test "package: dpkg -i in a throwaway root enables the units, tools work, vminfod runs from its unit; remove and purge leave nothing" {
    run throwaway_root '
        rm -rf /var/lib/vmadm      # the host'\''s (only in this copy)
        dpkg -i /tmp/vmadm.deb > /tmp/log 2>&1 || { cat /tmp/log; exit 1; }
        echo "installed: $(dpkg-query -W -f="\${Status}" vmadm)"
        test -d /var/lib/vmadm
        for u in vminfod vmadm-autoboot; do
            test -L /etc/systemd/system/multi-user.target.wants/$u.service
        done
        echo enabled
        # the units as systemd reads them (targets, binaries, man pages)
        systemd-analyze verify /lib/systemd/system/vminfod.service /lib/systemd/system/vmadm-autoboot.service
        echo verified
        man -w vmadm vminfod vmstore > /dev/null
        bash -c ". /usr/share/bash-completion/bash_completion; _completion_loader vmadm; complete -p vmadm"
        # vminfod with its unit'\''s command line and environment
        env $(sed -n "s/^Environment=//p" /lib/systemd/system/vminfod.service) \
            $(sed -n "s/^ExecStart=//p" /lib/systemd/system/vminfod.service) 2> /tmp/vminfod.log &
        pid=$!
        i=0; until curl -sf http://127.0.0.1:9090/ping > /dev/null; do
            i=$((i + 1)); [ $i -lt 100 ] || { cat /tmp/vminfod.log; exit 1; }; sleep 0.1; done
        # a VM (autoboot: created running, QEMU in this pid namespace)
        echo "{\"brand\":\"bhyve\",\"alias\":\"pkg0\",\"ram\":256}" | vmadm create 2>&1
        uuid=$(vmadm list -Ho uuid alias=pkg0)
        vmadm list -Ho alias,state
        curl -s http://127.0.0.1:9090/metrics | grep "^vminfod_vms{"
        kill $pid; wait $pid || true

        # remove: running VMs are stopped (a guest without an OS ignores
        # ACPI: forced after prerm'\''s 60 s), the files go, VM data stays
        dpkg -r vmadm > /tmp/log 2>&1 || { cat /tmp/log; exit 1; }
        grep "stopping running VMs" /tmp/log
        pgrep -f qemu-system && { echo "a VM still runs"; exit 1; }
        for f in /usr/sbin/vmadm /usr/sbin/vminfod /lib/systemd/system/vminfod.service \
                 /usr/share/man/man8/vmadm.8.gz /usr/share/bash-completion/completions/vmadm; do
            test ! -e $f || { echo "left after remove: $f"; exit 1; }
        done
        test -f /var/lib/vmadm/etc/vms/$uuid/vm.json && echo "removed; VM data kept"
        # purge with a VM left: its data stays, the operator is told
        dpkg -P vmadm 2>&1 | grep "still holds" || true
        test -f /var/lib/vmadm/etc/vms/$uuid/vm.json && echo "purged; VM data kept"
        # the operator deletes the VM: the next purge removes the root
        dpkg -i /tmp/vmadm.deb > /tmp/log 2>&1 || { cat /tmp/log; exit 1; }
        VMINFOD_ADDR=none vmadm delete $uuid
        dpkg -P vmadm > /tmp/log 2>&1 || { cat /tmp/log; exit 1; }
        test ! -e /var/lib/vmadm && echo "purged; root gone"
        test -z "$(find /etc/systemd -name "vminfod.service" -o -name "vmadm-autoboot.service")" && echo "no unit links"
        test -z "$(find /usr /lib /etc -newer /tmp/vmadm.deb \( -name "vm*" -o -name "imgadm*" -o -name "nictagadm*" \) \
            -not -path "/usr/lib/python3*" 2>/dev/null)" && echo "no files left"
    '
    echo "$output"
    [ "$status" -eq 0 ]
    [[ "$output" == *"installed: install ok installed"* ]]
    [[ "$output" == *enabled*verified* ]]
    [[ "$output" == *"complete -F _vmadm vmadm"* ]]
    [[ "$output" == *"Successfully created VM"* ]]
    [[ "$output" == *"pkg0"*"running"* ]]
    [[ "$output" == *'vminfod_vms{state="running",brand="bhyve"} 1'* ]]
    [[ "$output" == *"stopping running VMs"* ]]
    [[ "$output" == *"removed; VM data kept"* ]]
    [[ "$output" == *"still holds VMs, images or datasets; kept."*"purged; VM data kept"* ]]
    [[ "$output" == *"purged; root gone"*"no unit links"*"no files left"* ]]
}

@test "package: on a booted systemd (nspawn), dpkg -i starts the units and the tools work, the units start at boot; apt-get remove leaves nothing running, purge keeps VM data" {
    command -v systemd-nspawn > /dev/null || { echo "no systemd-nspawn: scripts/deps.sh installs systemd-container"; false; }
    local o=$BATS_TEST_TMPDIR/out t0=$SECONDS
    # boot 1: install on a running system
    boot1='
        echo "boot 1: $(systemctl is-system-running --wait)"
        # a host with vmadm installed: this copy starts without it
        rm -rf /var/lib/vmadm      # the host'\''s (only in this copy)
        if dpkg-query -W -f="\${Status}" vmadm 2> /dev/null | grep -q "ok installed"; then dpkg -P vmadm > /dev/null; fi
        dpkg -i /pkgtest/vmadm.deb > /tmp/log 2>&1 || { cat /tmp/log; exit 1; }
        echo "installed: $(dpkg-query -W -f="\${Status}" vmadm)"
        i=0; until vminfo ping > /dev/null 2>&1; do
            i=$((i + 1)); [ $i -lt 100 ] || { journalctl -u vminfod --no-pager; exit 1; }; sleep 0.1; done
        i=0; until [ "$(findmnt -no FSTYPE /dev/zvol)" = fuse.zvol ]; do
            i=$((i + 1)); [ $i -lt 100 ] || { journalctl -u vmadm-zvold --no-pager; exit 1; }; sleep 0.1; done
        for u in vminfod vmadm-zvold vmadm-autoboot; do
            echo "$u: $(systemctl is-enabled $u) $(systemctl is-active $u)"
        done
        echo "system: $(systemctl is-system-running)"
        vminfo ping
        curl -sf http://127.0.0.1:9090/ping
        echo
        vmadm list
        imgadm list
        vmstore list
        vmadm sysinfo | jq -er .UUID | sed "s/^/sysinfo: /"
        echo "{\"brand\":\"bhyve\",\"alias\":\"pkg0\",\"ram\":256,\"autoboot\":false}" | vmadm create 2>&1
        vmadm list -Ho uuid alias=pkg0 > /pkgtest/uuid
        echo "vminfod: $(vminfo vm $(cat /pkgtest/uuid) | jq -r ".alias + \" \" + .state")"
    '
    # boot 2: the units start at boot; remove and purge
    boot2='
        echo "boot 2: $(systemctl is-system-running --wait)"
        for u in vminfod vmadm-zvold vmadm-autoboot; do
            echo "$u: $(systemctl is-enabled $u) $(systemctl is-active $u)"
        done
        i=0; until vminfo ping > /dev/null 2>&1; do
            i=$((i + 1)); [ $i -lt 100 ] || { journalctl -u vminfod --no-pager; exit 1; }; sleep 0.1; done
        echo "zvol: $(findmnt -no FSTYPE /dev/zvol)"
        # boot 1 powered off with both daemons running: they stopped on
        # SIGTERM (the journal is kept across boots of the copy)
        journalctl -b -1 -o cat -u vminfod -u vmadm-zvold | grep -E "Deactivated|timed out|Killing" || true
        vmadm list -Ho alias,state
        echo "running: $(pgrep -x vminfod > /dev/null && echo vminfod) $(pgrep -x vmadm-zvold > /dev/null && echo vmadm-zvold)"
        uuid=$(cat /pkgtest/uuid)
        apt-get remove -y vmadm > /tmp/log 2>&1 || { cat /tmp/log; exit 1; }
        echo "removed: $(dpkg-query -W -f="\${Status}" vmadm)"
        for u in vminfod vmadm-zvold vmadm-autoboot; do
            echo "$u: $(systemctl is-active $u) $(systemctl show -P LoadState $u)"
        done
        for p in vminfod vmadm-zvold vmadm qemu-nbd; do
            if pgrep -ax $p; then echo "$p still runs"; exit 1; fi
        done
        if pgrep -af qemu-system; then echo "a VM still runs"; exit 1; fi
        echo "nothing runs"
        if findmnt /dev/zvol; then echo "/dev/zvol still mounted"; exit 1; fi
        echo "system: $(systemctl is-system-running)"
        test -f /var/lib/vmadm/etc/vms/$uuid/vm.json && echo "removed; VM data kept"
        apt-get purge -y vmadm > /tmp/log 2>&1 || { cat /tmp/log; exit 1; }
        grep "still holds" /tmp/log
        test -f /var/lib/vmadm/etc/vms/$uuid/vm.json && echo "purged; VM data kept"
        echo "purged: $(dpkg-query -W -f="\${Status}" vmadm 2>&1)"
        test -z "$(find /etc/systemd /lib/systemd /run/systemd \( -name vminfod.service -o -name vmadm-zvold.service \
            -o -name vmadm-autoboot.service \) 2> /dev/null)" && echo "no units"
    '
    run booted_root "$boot1" "$boot2"
    echo "# booted package test: $((SECONDS - t0)) s" >&3
    echo "$output"
    for f in "$o"/*.log; do echo "== $f"; cat "$f"; done
    [ "$status" -eq 0 ] || { tail -n 40 "$o"/*.boot; false; }
    [ "$(cat "$o/1.rc" "$o/2.rc")" = "$(printf '0\n0')" ]
    # nothing of the container is left on the host: no process in its
    # cgroups (then removed), no mount
    [ -z "$(find $(boot_cgroups) -name cgroup.procs -exec cat {} +)" ]
    boot_cleanup
    [ -z "$(findmnt -rn -o TARGET | grep -F "$BATS_TEST_TMPDIR")" ]
    [ ! -e /run/systemd/nspawn/propagate/vmadm-pkgtest ]
    run cat "$o/1.log" "$o/2.log"
    [[ "$output" == *"boot 1: running"* ]]
    [[ "$output" == *"installed: install ok installed"* ]]
    [[ "$output" == *"vminfod: enabled active"*"vmadm-zvold: enabled active"*"vmadm-autoboot: enabled active"*"system: running"* ]]
    [[ "$output" == *"sysinfo: "[0-9a-f]* ]]
    [[ "$output" == *"Successfully created VM"* ]]
    [[ "$output" == *"vminfod: pkg0 stopped"* ]]
    [[ "$output" == *"boot 2: running"*"vminfod: enabled active"*"vmadm-zvold: enabled active"*"vmadm-autoboot: enabled active"* ]]
    [[ "$output" == *"vminfod.service: Deactivated successfully."* ]]
    [[ "$output" == *"vmadm-zvold.service: Deactivated successfully."* ]]
    [[ "$output" != *"timed out"* && "$output" != *"Killing"* ]]
    [[ "$output" == *"zvol: fuse.zvol"*"pkg0"*"stopped"*"running: vminfod vmadm-zvold"* ]]
    [[ "$output" == *"removed: deinstall ok config-files"* ]]
    [[ "$output" == *"vminfod: inactive not-found"*"vmadm-zvold: inactive not-found"*"vmadm-autoboot: inactive not-found"* ]]
    [[ "$output" == *"nothing runs"*"system: running"*"removed; VM data kept"* ]]
    [[ "$output" == *"still holds VMs, images or datasets; kept."*"purged; VM data kept"* ]]
    [[ "$output" == *"purged: dpkg-query: no packages found matching vmadm"*"no units"* ]]
}
