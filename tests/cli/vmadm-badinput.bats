#!/usr/bin/env bats
# Bad input and usage (reference C1, C5, C9–C11): every bad payload gets
# exactly one line on stderr, exit 1, and changes nothing; usage errors
# exit 2.

load helpers
load fixtures/vmadm-lib

setup() {
    vm_setup_root
    install_ct
    create_ok "$(fixture joyent-minimal)"
    B=$BATS_TEST_TMPDIR/bad
}

teardown() {
    vm_teardown_root
}

# one_line_refusal CMD...: exit 1, nothing on stdout, exactly one stderr
# line, VMs and state dir unchanged.  Input comes from $B.
one_line_refusal() {
    local before; before=$(state)
    local objs; objs=$(vmadm lookup -j | jq -S 'map(del(.last_modified))')
    run --separate-stderr "$@" < "$B"
    echo "$*: status=$status stderr=${stderr:0:300}"
    [ "$status" -eq 1 ]
    [ -z "$output" ]
    [ "${#stderr_lines[@]}" -eq 1 ]
    [ -n "$stderr" ]
    [ "$(state)" = "$before" ]
    [ "$(vmadm lookup -j | jq -S 'map(del(.last_modified))')" = "$objs" ]
}

# every command that reads a payload
all_readers() {
    one_line_refusal vmadm create
    one_line_refusal vmadm create -f "$B"
    one_line_refusal vmadm update "$VM"
    one_line_refusal vmadm update "$VM" -f "$B"
    one_line_refusal vmadm validate create
    one_line_refusal vmadm validate update joyent-minimal -f "$B"
}

@test "not JSON" {
    echo '{"brand": "joyent-minimal", alias: x}' > "$B"
    all_readers
    [[ "$stderr" == "Invalid JSON payload: "* ]]
}

@test "empty input and whitespace only" {
    : > "$B"
    all_readers
    [ "$stderr" = "Invalid JSON payload: Unexpected end of JSON input" ]
    printf ' \n\t\n' > "$B"
    all_readers
}

@test "truncated JSON" {
    printf '{"brand":"bhyve","autoboot":fal' > "$B"
    all_readers
}

@test "JSON that is not an object" {
    for p in '[]' '"bhyve"' '42' 'null' '[{"brand":"bhyve"}]'; do
        echo "$p" > "$B"
        one_line_refusal vmadm create
        one_line_refusal vmadm update "$VM"
        # validate answers with its (multi-line) error object
        before=$(state)
        run --separate-stderr vmadm validate create < "$B"
        [ "$status" -eq 1 ]
        [ -z "$output" ]
        [ "$(state)" = "$before" ]
    done
}

@test "20 MiB input is refused (otherwise valid payload)" {
    # valid but for its size: 20 MiB of customer_metadata
    { printf '{"brand":"bhyve","autoboot":false,"customer_metadata":{"big":"'
      head -c $((20 * 1024 * 1024)) /dev/zero | tr '\0' a; printf '"}}'; } > "$B"
    all_readers
    { printf '{"set_customer_metadata":{"big":"'
      head -c $((20 * 1024 * 1024)) /dev/zero | tr '\0' a; printf '"}}'; } > "$B"
    one_line_refusal vmadm update "$VM"
    # far larger still: refused without reading it all into memory
    { printf '{"brand":"bhyve","alias":"'; head -c $((200 * 1024 * 1024)) /dev/zero | tr '\0' a; printf '"}'; } > "$B"
    one_line_refusal vmadm create
}

@test "deep nesting: 100000 [" {
    head -c 100000 /dev/zero | tr '\0' '[' > "$B"
    all_readers
    { printf '{"brand":"bhyve","tags":'; head -c 100000 /dev/zero | tr '\0' '['; head -c 100000 /dev/zero | tr '\0' ']'; printf '}'; } > "$B"
    all_readers
}

@test "non-UTF-8 bytes" {
    printf '{"brand":"bhyve","autoboot":false,"alias":"\xff\xfe\xc3"}' > "$B"
    all_readers
    printf '\xef\xbb\xbf\x80{"brand":"bhyve"}' > "$B"
    all_readers
}

@test "NUL bytes and control characters" {
    printf '{"brand":"bhyve","autoboot":false,"alias":"a\\u0000b"}' > "$B"
    one_line_refusal vmadm create
    printf '{"brand":"bhyve","autoboot":false}\0{"x":1}' > "$B"
    one_line_refusal vmadm create
}

@test "duplicate keys" {
    echo '{"brand":"bhyve","autoboot":false,"alias":"a","alias":"b"}' > "$B"
    one_line_refusal vmadm create
}

@test "path-like and odd aliases" {
    for a in '../x' 'a/b' '/etc/passwd' '..' '.' 'a\nb' 'tab\there'; do
        printf '{"brand":"bhyve","autoboot":false,"alias":"%s"}' "$a" > "$B"
        one_line_refusal vmadm create
        [ "$stderr" = "Invalid value(s) for: alias" ]
        printf '{"alias":"%s"}' "$a" > "$B"
        one_line_refusal vmadm update "$VM"
        [ "$stderr" = "Invalid value(s) for: alias" ]
    done
    echo > "$B"
    one_line_refusal vmadm update "$VM" alias=../x
    one_line_refusal vmadm update "$VM" alias=a/b
}

@test "payload file that does not exist or cannot be read (C10)" {
    : > "$B"
    one_line_refusal vmadm create -f /nonexistent/p.json
    [ "$stderr" = "File: /nonexistent/p.json does not exist." ]
    one_line_refusal vmadm update "$VM" -f /nonexistent/p.json
    [ "$stderr" = "File: /nonexistent/p.json does not exist." ]
    one_line_refusal vmadm create -f "$BATS_TEST_TMPDIR"
}

@test "usage: no arguments, help, unknown command (C5)" {
    run --separate-stderr vmadm
    [ "$status" -eq 2 ]
    [ -z "$output" ]
    [ "${stderr_lines[0]}" = "Usage: vmadm <command> [options]" ]
    [ "${stderr_lines[-1]}" = "For more detailed information on the use of this command,type 'man vmadm'." ]
    for h in help -h '-?'; do
        run --separate-stderr vmadm $h
        [ "$status" -eq 0 ]
        [ -z "$stderr" ]
        [ "${lines[0]}" = "Usage: vmadm <command> [options]" ]
    done
    run --separate-stderr vmadm frobnicate
    [ "$status" -eq 2 ]
    [ -z "$output" ]
    [ "${stderr_lines[0]}" = 'Invalid command: "frobnicate".' ]
    [ "${stderr_lines[1]}" = "Usage: vmadm <command> [options]" ]
}

@test "usage: invalid or missing UUID (C9) exits 2" {
    for cmd in get update delete start stop reboot info; do
        run --separate-stderr vmadm $cmd 1234
        [ "$status" -eq 2 ]
        [ "${stderr_lines[0]}" = "Invalid or missing UUID for $cmd" ]
        run --separate-stderr vmadm $cmd
        [ "$status" -eq 2 ]
        [ "${stderr_lines[0]}" = "Invalid or missing UUID for $cmd" ]
    done
    # halt is reported as stop
    run --separate-stderr vmadm halt 1234
    [ "$status" -eq 2 ]
    [ "${stderr_lines[0]}" = "Invalid or missing UUID for stop" ]
    # syntactic check only: uppercase has the right shape
    run --separate-stderr vmadm get 6A3B8C1E-2F4D-4E5A-9B6C-7D8E9F0A1B2C
    [ "$status" -eq 1 ]
}

@test "usage: -f without its argument exits 2" {
    run --separate-stderr vmadm create -f
    [ "$status" -eq 2 ]
}

@test "refusal to read a payload from a TTY (C11) exits 2" {
    before=$(state)
    tty_run() { script -qec "$1" /dev/null; }
    run tty_run "vmadm create"
    [ "$status" -eq 2 ]
    [[ "${lines[0]}" == "Will not create from stdin when stdin is a tty."* ]]
    run tty_run "vmadm update $VM"
    [ "$status" -eq 2 ]
    [[ "${lines[0]}" == "Will not update from stdin when stdin is a tty."* ]]
    run tty_run "vmadm validate create"
    [ "$status" -eq 2 ]
    [[ "${lines[0]}" == "Will not validate from stdin when stdin is a tty."* ]]
    run tty_run "vmadm reprovision $VM"
    [ "$status" -eq 2 ]
    [[ "${lines[0]}" == "Will not take payload from stdin when stdin is a tty."* ]]
    [ "$(state)" = "$before" ]
    # key=value updates never read stdin, TTY or not
    run tty_run "vmadm update $VM alias=tty"
    [ "$status" -eq 0 ]
    [ "$(jget $VM .alias)" = tty ]
}
