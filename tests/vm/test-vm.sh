#!/usr/bin/env bash
# make test-vm / make bench-vm: the library's CAN and serial suites inside the
# QEMU VM bench (tests/vm/README.md), with real kernel CAN drivers and UARTs.
#
#   tests/vm/test-vm.sh [test|bench]
#
# test: builds tests/vm/vm_*.c statically into BUILD/vm/bin/hil_vm_tests (with
# libsocketcan and libserialport), boots one VM that runs every suite
# (JUnit: BUILD/vm/results/vm.xml), then checks on the host what the guest
# recorded (trace files with log2asc, asc2log and tshark: the can_vm_host
# suite of BUILD/selftest, JUnit BUILD/vm/host.xml). Prints both closing
# lines and, last, their sum "N passed, N failed, N skipped".
# bench: the same VM runs `hil_vm_tests bench` and its BENCH lines are printed.
#
# Environment: BUILD (default build), CC (default cc), HIL_REQUIRE_VM=1 makes a
# missing QEMU/kernel/package a failure instead of a skip (CI sets it),
# HILVM_TIMEOUT (default 120 s for the whole VM).
#
# Exit: 0 passed (or skipped), 1 a test failed, else run.sh's code (124 VM
# timeout, 125 VM failure).
set -uo pipefail

mode=${1:-test}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cd "$repo" || exit 2
build=${BUILD:-build}
vm_dir=$build/vm
cc=${CC:-cc}
timeout_s=${HILVM_TIMEOUT:-120}
say() { echo "test-vm: $*" >&2; }

rc=0
tests/vm/run.sh --check || rc=$?
if [ $rc = 77 ]; then
    if [ "${HIL_REQUIRE_VM:-0}" = 1 ]; then
        say "FAIL: the VM bench is required here (HIL_REQUIRE_VM=1) but cannot run: install what is listed above"
        echo "0 passed, 1 failed, 0 skipped"
        exit 1
    fi
    say "skipped: the VM bench cannot run here (install what is listed above; CI sets HIL_REQUIRE_VM=1)"
    echo "0 passed, 0 failed, 1 skipped"
    exit 0
fi
[ $rc = 0 ] || exit $rc

mkdir -p "$vm_dir/bin"
# -static: the guest has no libraries. getaddrinfo and friends in libc.a
# warn about static linking; nothing here uses them.
flags=(-std=c99 -O2 -g -Wall -Wextra -Wpedantic -Werror -I. -Itests/vm
       -DHIL_HAVE_LIBSOCKETCAN -DHIL_HAVE_LIBSERIALPORT)
srcs=(tests/vm/vm_main.c tests/vm/vm_socketcan.c tests/vm/vm_serial.c tests/vm/vm_bench_can.c
      tests/vm/vm_isotp.c tests/vm/vm_uds.c)
say "building $vm_dir/bin/hil_vm_tests (static)"
"$cc" "${flags[@]}" -static -pthread -o "$vm_dir/bin/hil_vm_tests" "${srcs[@]}" \
    -lsocketcan -lserialport -lm 2> >(grep -v -e 'statically linked applications requires at runtime' \
                                         -e 'in function' >&2) || { say "FAIL: building the VM test program"; exit 1; }
"$cc" -std=c99 -O2 -Wall -Wextra -o "$vm_dir/bin/uart_peer" tests/vm/uart_peer.c || exit 1
# the ECU simulator the uds suite talks to over the kernel's ISO-TP (vm_uds.c)
"$cc" -std=c99 -O2 -Wall -Wextra -Wpedantic -Werror -static -o "$vm_dir/bin/ecu-sim" examples/ecu-sim/ecu_sim.c || exit 1

# can-utils for the interoperability tests: the host's dynamically linked
# programs, each with the libraries ldd names and the loader, copied with
# --file (mkinitramfs.sh's --bin takes static programs only). The same
# Debian binaries a user runs, not a rebuild: can-utils needs only libc.
files=()
for prog in canplayer candump isotpsend isotprecv isotpdump; do
    p=$(command -v "$prog" 2>/dev/null) || continue
    files+=(--file "$p:/usr/bin/$prog")
    while read -r lib; do
        [ -n "$lib" ] && files+=(--file "$(readlink -f "$lib"):$lib")
    done < <(ldd "$p" | awk '/=> \//{print $3} /^[ \t]*\/[^ ]*ld-linux/{print $1}')
done
if [ ${#files[@]} = 0 ]; then
    say "note: can-utils not installed: the canplayer/candump tests in the VM skip (apt-get install can-utils)"
fi
# one copy of each file is enough
if [ ${#files[@]} -gt 0 ]; then
    mapfile -t files < <(printf '%s\n' "${files[@]}" | awk 'NR%2==1{o=$0; next} !seen[$0]++{print o; print $0}')
fi

if [ "$mode" = bench ]; then
    args=(/bin/hil_vm_tests bench 20000)
else
    args=(/bin/hil_vm_tests run --junit /results/vm.xml --color never --set console.progress=false)
fi
vm_rc=0
tests/vm/run.sh --build-dir "$vm_dir" --timeout "$timeout_s" --quiet \
    --bin "$vm_dir/bin/hil_vm_tests" --bin "$vm_dir/bin/ecu-sim" "${files[@]+"${files[@]}"}" \
    --peer "$(printf '%q' "$vm_dir/bin/uart_peer") --quiet" \
    -- "${args[@]}" || vm_rc=$?
console=$vm_dir/run/console.log

if [ "$mode" = bench ]; then
    grep -a '^BENCH ' "$console" | tr -d '\r'
    if [ $vm_rc != 0 ]; then
        tail -n 20 "$console" >&2
        say "FAIL: the benchmark in the VM ended with $vm_rc"
    fi
    exit $vm_rc
fi

# The guest console, without the kernel's and init's chatter.
sed -n '/@@HILVM-TEST-BEGIN@@/,/@@HILVM-TEST-END/p' "$console" | grep -av '^@@HILVM' | tr -d '\r'
vm_line=$(grep -aE '^[0-9]+ passed, [0-9]+ failed, [0-9]+ skipped' "$console" | tail -n 1 | tr -d '\r')
if [ -z "$vm_line" ]; then
    say "FAIL: the VM run ended with $vm_rc and printed no closing line (see $console)"
    vm_line="0 passed, 1 failed, 0 skipped"
    [ $vm_rc = 0 ] && vm_rc=1
fi

host_rc=0
host_out=$("$build/selftest" run --filter 'can_vm_host.*' --set "params.vm_results=$vm_dir/results" \
           --set "params.build_dir=$build" --junit "$vm_dir/host.xml" 2>&1) || host_rc=$?
printf '%s\n' "$host_out" | sed -n '/^[0-9]* passed, /!p'
host_line=$(printf '%s\n' "$host_out" | grep -E '^[0-9]+ passed, [0-9]+ failed, [0-9]+ skipped' | tail -n 1)
[ -n "$host_line" ] || { host_line="0 passed, 1 failed, 0 skipped"; host_rc=1; }

# The shell auxiliary against the guest's login on ttyS2: a VM of its own (tests/vm/shell-vm.sh).
shell_rc=0
shell_out=$(BUILD=$build tests/vm/shell-vm.sh 2>&1) || shell_rc=$?
printf '%s\n' "$shell_out" | sed -n '/^[0-9]* passed, /!p'
shell_line=$(printf '%s\n' "$shell_out" | grep -E '^[0-9]+ passed, [0-9]+ failed, [0-9]+ skipped' | tail -n 1)
[ -n "$shell_line" ] || { shell_line="0 passed, 1 failed, 0 skipped"; shell_rc=1; }

echo "test-vm: guest (VM) suites: $vm_line   [JUnit $vm_dir/results/vm.xml]"
echo "test-vm: host checks of the guest's traces: $host_line   [JUnit $vm_dir/host.xml]"
echo "test-vm: the shell auxiliary on the guest's console: $shell_line   [JUnit $build/vm-shell/console_vm.xml]"
read -r p1 _ f1 _ s1 _ <<<"${vm_line//,/}"
read -r p2 _ f2 _ s2 _ <<<"${host_line//,/}"
read -r p3 _ f3 _ s3 _ <<<"${shell_line//,/}"
echo "$((p1 + p2 + p3)) passed, $((f1 + f2 + f3)) failed, $((s1 + s2 + s3)) skipped"
if [ $vm_rc != 0 ]; then exit $vm_rc; fi
[ $host_rc = 0 ] && [ $shell_rc = 0 ] || exit 1
exit 0
