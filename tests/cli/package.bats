#!/usr/bin/env bats
# The Debian package (issue 19 part 3): what it holds (dpkg-deb -I/-c), and
# install / remove / purge with its maintainer scripts in a throwaway copy
# of this host's root: an overlayfs over / whose writes land on a tmpfs, in
# private mount, network and pid namespaces, entered with chroot.  Nothing
# reaches the host's /, no unit of the host is touched (there is no
# systemd inside the chroot: the units are checked with systemd-analyze
# and vminfod is run with its unit's command line and environment).
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
