#!/usr/bin/env bats
# Man pages (issue 19 part 3): every verb each tool's usage prints has its
# own section in the tool's man page, and every option of that verb's usage
# line is documented in that section; the pages render without warnings.

load helpers

MAN_DIR="$BATS_TEST_DIRNAME/../../man"

# render PAGE: the page as man shows it (no hyphenation or justification,
# so words stay whole).
render() {
    LC_ALL=C.UTF-8 MANWIDTH=200 man --nh --nj -E UTF-8 -l "$1" 2>"$BATS_TEST_TMPDIR/warn" | col -bx
}

# check_page TOOL: the usage of TOOL (its --help) against man/TOOL.8.
# A usage line "[<tool>] <verb> [options] ..." needs a section headed
# "<tool> <verb>" (a .SS line) that mentions each option of that line:
# bundles such as [-fjr] are split into -f -j -r, long options are whole.
check_page() {
    local tool=$1
    "$tool" --help > "$BATS_TEST_TMPDIR/usage" 2>&1 || true
    render "$MAN_DIR/$tool.8" > "$BATS_TEST_TMPDIR/page"
    [ ! -s "$BATS_TEST_TMPDIR/warn" ] || { cat "$BATS_TEST_TMPDIR/warn"; false; }
    python3 - "$tool" "$BATS_TEST_TMPDIR/usage" "$BATS_TEST_TMPDIR/page" <<'EOF'
import re, sys
tool, usage, page = sys.argv[1], open(sys.argv[2]).read(), open(sys.argv[3]).read()
# verb lines of each tool's usage
pat = {
    "vmadm": r"^\s*(?:-or- )?([a-z][a-z-]*)\b(.*)$",
    "imgadm": r"^\s+imgadm ([a-z]+)\b(.*)$",
    "vmstore": r"^\t([a-z]+)\b(.*)$",
    "nictagadm": r"^\s{8}(?!nictagadm )([a-z]+)\s+(.*)$",
    "vminfo": r"^  ([a-z]+)\b(.*?)(?:\s{2,}.*)?$",
}
lines = [m.groups() for m in (re.match(pat[tool], l) for l in usage.splitlines()) if m] if tool in pat else []
if tool == "vmadm":
    lines = [(v, r) for v, r in lines if v not in ("usage", "for")]
if tool == "vminfod":
    lines = [("", usage)]
if not lines:
    sys.exit(f"{tool}: no verbs found in its usage")
def options(text):
    out = []
    for tok in re.findall(r"(?<![\w=<>\"-])(--?[A-Za-z0-9][\w-]*)", text):
        if tok.startswith("--") or tok == "-or-":
            out += [tok] if tok != "-or-" else []
        elif tok[1:].isupper() and len(tok) > 2:
            out.append(tok)  # a placeholder such as -SIGNAL
        else:
            out += ["-" + c for c in tok[1:]]
    return out
# sections: a .SS heading renders at indent 3
sections, head = {}, None
for l in page.splitlines():
    if re.match(r"^ {3}\S", l):
        head = l.strip()
        sections.setdefault(head, "")
    elif head:
        sections[head] += l + "\n"
missing = []
for verb, rest in lines:
    if tool == "vminfod":
        body = page
    else:
        heads = [h for h in sections if re.match(rf"^{tool} {re.escape(verb)}(\s|$)", h)]
        if not heads:
            missing.append(f"verb {verb!r}: no section '{tool} {verb}'")
            continue
        # the option must be described, not only shown in the heading
        body = "\n".join(sections[h] for h in heads)
    for opt in options(rest):
        if not re.search(rf"(?<![\w-]){re.escape(opt)}(?![\w-])", body):
            missing.append(f"{verb or tool}: option {opt} not documented")
if missing:
    sys.exit("\n".join(f"{tool}.8: {m}" for m in missing))
print(f"{tool}: {len(lines)} verbs, {sum(len(options(r)) for _, r in lines)} options checked")
EOF
}

@test "man: vmadm(8) documents every verb and option of vmadm's usage" {
    run check_page vmadm
    echo "$output"
    [ "$status" -eq 0 ]
    [[ "$output" == "vmadm: 31 verbs, 39 options checked" ]]
}

@test "man: imgadm(8) documents every verb and option of imgadm's usage" {
    check_page imgadm
}

@test "man: vmstore(8) documents every verb and option of vmstore's usage" {
    check_page vmstore
}

@test "man: nictagadm(8), vminfod(8), vminfo(8) document every verb and option" {
    PATH="$BUILD_DIR/src/nictagadm:$PATH" check_page nictagadm
    check_page vminfod
    check_page vminfo
}

@test "man: the check fails for an undocumented verb or option" {
    # a page without the 'list' section and without -F must be refused
    mkdir -p "$BATS_TEST_TMPDIR/m"
    sed -e '/^\.SS "vmadm list/,/^\.SS "vmadm login/{/^\.SS "vmadm login/!d}' \
        -e 's/^\.B \\-F$/.B \\-X/' "$MAN_DIR/vmadm.8" > "$BATS_TEST_TMPDIR/m/vmadm.8"
    MAN_DIR="$BATS_TEST_TMPDIR/m" run check_page vmadm
    [ "$status" -ne 0 ]
    [[ "$output" == *"verb 'list': no section"* ]]
    [[ "$output" == *"stop: option -F not documented"* ]]
}
