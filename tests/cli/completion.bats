#!/usr/bin/env bats
# Bash completion (issue 19 part 3): each tool's completion file registers
# with `complete -F`, and its function, called with COMP_WORDS/COMP_CWORD
# as bash sets them, offers verbs, each verb's options (checked against the
# tool's usage), VM uuids and aliases, images, datasets and nic tags from
# the tools themselves.

load helpers

COMPDIR="$BATS_TEST_DIRNAME/../../completion"

setup() {
    vm_setup_root
    PATH="$BUILD_DIR/src/nictagadm:$PATH"
}

teardown() {
    [ -n "${VMINFOD_PID:-}" ] && kill "$VMINFOD_PID" 2>/dev/null || true
    [ -n "${VMINFOD_PID:-}" ] && wait "$VMINFOD_PID" 2>/dev/null || true
    vm_teardown_root
}

# comp TOOL WORD...: completes the last WORD of "TOOL WORD..." in a fresh
# bash that sourced only the tool's completion file; prints COMPREPLY, one
# per line, sorted.
comp() {
    local tool=$1
    shift
    bash -c '
        source "$1/$2" || exit 1
        shift 2
        fn=$(complete -p "$1" | sed -n "s/^complete -F \([^ ]*\) .*/\1/p")
        [ -n "$fn" ] || exit 1
        COMP_WORDS=("$@")
        COMP_CWORD=$(($# - 1))
        COMP_LINE="$*"
        COMP_POINT=${#COMP_LINE}
        "$fn" "$1" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
        printf "%s\n" "${COMPREPLY[@]}" | sort
    ' comp "$COMPDIR" "$tool" "$tool" "$@"
}

has() { grep -qx -- "$2" <<< "$1" || { echo "missing $2 in: $1"; false; }; }

@test "completion: every file registers its tool with complete -F" {
    for t in vmadm imgadm vmstore nictagadm; do
        run bash -c "source '$COMPDIR/$t' && complete -p $t"
        [ "$status" -eq 0 ]
        [[ "$output" == "complete -F _$t $t" ]]
    done
}

@test "completion: the verbs are exactly the ones each usage prints" {
    # vmadm: the usage's verbs (plus help)
    want=$( (vmadm --help | sed -n 's/^ *\(-or- \)\{0,1\}\([a-z][a-z-]*\).*/\2/p' | grep -vx 'for\|usage'; echo help) | sort -u)
    run comp vmadm ''
    [ "$output" = "$want" ] || { diff <(echo "$want") <(echo "$output"); false; }
    want=$( (imgadm --help | sed -n 's/^  imgadm \([a-z]*\).*/\1/p') | sort -u)
    run comp imgadm ''
    [ "$output" = "$want" ]
    want=$(vmstore --help 2>&1 | sed -n 's/^\t\([a-z]*\).*/\1/p' | sort -u)
    run comp vmstore ''
    [ "$output" = "$want" ]
    want=$(nictagadm --help | sed -n 's/^        \([a-z]*\) .*/\1/p' | grep -vx nictagadm | sort -u)
    run comp nictagadm ''
    [ "$output" = "$want" ]

    run comp vmadm st
    [ "$output" = "$(printf 'start\nstop')" ]
}

@test "completion: each verb's options are the ones its usage line lists" {
    # usage_opts LINE: the options of a usage line, bundles split
    usage_opts() {
        grep -o -- '\(^\|[[ |]\)--\{0,1\}[A-Za-z0-9][A-Za-z0-9-]*' <<< "$1" | sed 's/^[[ |]//' |
            grep -vx -- '-SIGNAL\|-or-' | while read -r o; do
                case $o in --*) printf "%s\n" "$o" ;; *) for ((i = 1; i < ${#o}; i++)); do printf -- "-%s\n" "${o:i:1}"; done ;; esac
            done | sort -u
    }
    while read -r verb rest; do
        want=$(usage_opts "$rest")
        got=$(comp vmadm "$verb" - | grep -v '^-[A-Z0-9]\{3,\}$' || true)
        [ "$got" = "$want" ] || { echo "vmadm $verb: want [$want] got [$got]"; false; }
    done < <(vmadm --help | grep -E '^(create|disks|events|kill|list|lookup|reboot|reprovision|stop|update) ')
    while read -r verb rest; do
        [ "$verb" = help ] && continue
        want=$(usage_opts "$rest")
        got=$(comp imgadm "$verb" -)
        [ "$got" = "$want" ] || { echo "imgadm $verb: want [$want] got [$got]"; false; }
    done < <(imgadm --help | sed -n 's/^  imgadm //p')
    while read -r verb rest; do
        want=$(usage_opts "$rest")
        got=$(comp vmstore "$verb" -)
        [ "$got" = "$want" ] || { echo "vmstore $verb: want [$want] got [$got]"; false; }
    done < <(vmstore --help 2>&1 | sed -n 's/^\t//p' |
        awk '{v = $1; $1 = ""; if (!(v in l)) o[n++] = v; l[v] = l[v] " |" $0} END {for (i = 0; i < n; i++) print o[i], l[o[i]]}')
    # kill also takes -SIGNAL
    has "$(comp vmadm kill -K)" -KILL
}

@test "completion: VM uuids and aliases from vmadm list, through vminfod" {
    u1=$(echo '{"brand":"bhyve","alias":"web0","ram":256,"autoboot":false}' | vmadm create 2>&1 | awk '/Successfully created VM/ {print $NF}')
    u2=$(echo '{"brand":"bhyve","alias":"db0","ram":256,"autoboot":false}' | vmadm create 2>&1 | awk '/Successfully created VM/ {print $NF}')
    [ -n "$u1" ] && [ -n "$u2" ]
    start_vminfod

    run comp vmadm stop ''
    [ "$output" = "$(printf '%s\n' "$u1" "$u2" | sort)" ]
    # a uuid prefix
    run comp vmadm get "${u1:0:6}"
    [ "$output" = "$u1" ]
    # an alias becomes its VM's uuid (vmadm takes uuids)
    run comp vmadm start web
    [ "$output" = "$u1" ]
    run comp vmadm delete db0
    [ "$output" = "$u2" ]
    # only the first operand is a VM
    run comp vmadm create-snapshot "$u1" ''
    [ -z "$output" ]
    run comp vmadm sysrq "$u1" ''
    [ "$output" = "$(printf 'nmi\nscreenshot')" ]
    # list fields and filters
    has "$(comp vmadm list -o al)" alias
    has "$(comp vmadm list -Hpo uuid,al)" uuid,alias
    has "$(comp vmadm kill -s TE)" TERM
    # events -f is a flag, not a file: the next word is a VM
    has "$(comp vmadm events -f web)" "$u1"
    has "$(comp vmadm list sta)" state=
    has "$(comp vmadm lookup bra)" brand=

    # fast: one list through vminfod per completion (printed, not asserted)
    start=$(date +%s%N)
    for i in $(seq 20); do vmadm list -Ho uuid,alias > /dev/null; done
    echo "# vmadm list -Ho uuid,alias through vminfod: $((($(date +%s%N) - start) / 20000000)) ms each" >&3
}

@test "completion: images, datasets, snapshots and nic tags from the tools" {
    make_zvol_image 0a1b2c3d-0000-4000-8000-000000000001 4
    imgadm install -q -m "$BATS_TEST_TMPDIR/0a1b2c3d-0000-4000-8000-000000000001.json" \
        -f "$BATS_TEST_TMPDIR/0a1b2c3d-0000-4000-8000-000000000001.raw"
    run comp imgadm get 0a1b
    [ "$output" = 0a1b2c3d-0000-4000-8000-000000000001 ]
    run comp imgadm create -c z
    [ "$output" = zstd ]

    vmstore create -V 1M zones/vol1
    vmstore snapshot zones/vol1@s1
    has "$(comp vmstore destroy zones/v)" zones/vol1
    run comp vmstore rollback zones/vol1
    [ "$output" = zones/vol1@s1 ]
    run comp vmstore send -i ''
    has "$output" zones/vol1@s1
    run comp vmstore list -t s
    [ "$output" = snapshot ]

    # the test root's tags (helpers: admin, external), no bridge touched
    run comp nictagadm delete ''
    [ "$output" = "$(printf 'admin\nexternal')" ]
    run comp nictagadm vms ex
    [ "$output" = external ]
    run comp nictagadm list -
    [ "$output" = "$(printf '%s\n' -H -L -d -l -p | sort)" ]
}
