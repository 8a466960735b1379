#!/bin/sh
# The README's drop-in example, run as printed (make test runs this through
# tests/test_adoption.c): in a fresh directory next to a clone of hil
# (../hil), the C blocks whose first line is "/* tests/NAME.c: ..." become
# those files, the sh blocks of the section run in order with `sh -e`, and
# every line of the text block that shows the output must be in what they
# printed ("(...)" stands for a time). Then every `make TARGET` that
# README.md and docs/index.md mention must be a target of the Makefile.
set -eu
BUILD=${BUILD:-build}
root=$(pwd)
t=$root/$BUILD/test-readme
fail() { echo "test-readme: FAIL: $*" >&2; exit 1; }
rm -rf "$t"
mkdir -p "$t/firmware"
ln -s "$root" "$t/hil"

awk -v out="$t" '
    /^## / { insec = ($0 == "## A drop-in example") ; next }
    !insec { next }
    /^```/ && !inb {
        inb = 1; kind = substr($0, 4); first = 1; file = ""
        if (kind == "sh") { nsh++; file = out "/step" nsh ".sh" }
        if (kind == "text") { file = out "/expected.txt" }
        next
    }
    /^```/ && inb { inb = 0; if (file != "") close(file); next }
    inb && kind == "c" && first {
        first = 0
        if (match($0, /^\/\* tests\/[a-z_0-9]+\.c:/)) {
            file = out "/firmware/" substr($0, 4, RLENGTH - 4)
            system("mkdir -p \"" out "/firmware/tests\"")
        }
    }
    inb && file != "" { print > file }
' "$root/README.md"

ls "$t"/firmware/tests/*.c > /dev/null 2>&1 || fail "no C file found in README.md's drop-in section"
[ -f "$t/step1.sh" ] || fail "no sh block found in README.md's drop-in section"
[ -s "$t/expected.txt" ] || fail "no text block (the output) found in README.md's drop-in section"
for s in "$t"/step*.sh; do
    (cd "$t/firmware" && sh -e "$s") >> "$t/out.txt" 2>&1 || { cat "$t/out.txt"; fail "$(basename "$s") of README.md's drop-in section failed: $(cat "$s")"; }
done
[ -x "$t/firmware/hil_tests" ] || fail "the README's build command made no hil_tests"
while IFS= read -r line; do
    [ -n "$line" ] || continue
    case $line in
        *"(...)") grep -qF -- "${line%(...)}" "$t/out.txt" || { cat "$t/out.txt"; fail "README.md shows '$line', the program did not print it"; } ;;
        *) grep -qxF -- "$line" "$t/out.txt" || { cat "$t/out.txt"; fail "README.md shows '$line', the program did not print it"; } ;;
    esac
done < "$t/expected.txt"
for f in report.xml results.json; do [ -s "$t/firmware/$f" ] || fail "the README's command did not write $f"; done
echo "test-readme: the drop-in section runs as printed ($(cat "$t"/step*.sh | grep -cv '^ *$') commands)"

# docs/index.md's commands on the demo lab that answer at once (running the
# whole lab is make demo's job, tested in tests/test_lab.c)
if [ -x "$root/$BUILD/demo/board_tests" ]; then
    grep -E '^build/demo/board_tests schedule .*--(simulate|list)' "$root/docs/index.md" | sed 's/ *#.*//' > "$t/index-cmds.sh"
    [ -s "$t/index-cmds.sh" ] || fail "docs/index.md no longer shows the schedule --simulate/--list commands"
    # a directory that looks like the top of the tree (t was made empty above)
    mkdir -p "$t/build"
    ln -s "$root/examples" "$t/examples"
    ln -s "$root/$BUILD/demo" "$t/build/demo"
    while IFS= read -r c; do
        (cd "$t" && sh -ec "$c") > "$t/index.out" 2>&1 || { cat "$t/index.out"; fail "docs/index.md: '$c' failed"; }
    done < "$t/index-cmds.sh"
    echo "test-readme: docs/index.md's schedule commands run as printed ($(wc -l < "$t/index-cmds.sh") commands)"
else
    fail "$BUILD/demo/board_tests is missing: run make (docs/index.md's schedule commands need it)"
fi

# make targets the documents name
targets=$(make -qp -f "$root/Makefile" -C "$root" 2>/dev/null | sed -n 's/^\([a-zA-Z][a-zA-Z0-9_-]*\):.*/\1/p' | sort -u)
names=$(grep -ohE '(^|`)make [a-z][a-z0-9-]*' "$root/README.md" "$root/docs/index.md" | sed 's/.*make //' | sort -u)
for m in $names; do
    echo "$targets" | grep -qx "$m" || fail "README.md or docs/index.md says 'make $m': the Makefile has no such target"
done
echo "test-readme: every 'make TARGET' in README.md and docs/index.md exists ($(echo $names | wc -w) targets)"
