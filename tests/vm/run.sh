#!/usr/bin/env bash
# Boots a QEMU VM (Debian kernel, busybox initramfs) with a real CAN bus (two
# emulated Kvaser PCI / SJA1000 boards: can0 and can1 on one bus, plus vcan0
# for CAN FD) and real 8250 UARTs, runs one statically linked test program in
# it, and brings its results back.
#
#   tests/vm/run.sh [options] -- /bin/PROG [ARGS...]
#   tests/vm/run.sh --check
#
# Options:
#   --build-dir DIR   where the initramfs, logs and results go
#                     (default: build/vm under the repository root)
#   --timeout SECS    wall-clock limit for the whole VM (default 120); the test
#                     itself is killed by a guest watchdog a bit earlier so
#                     its partial results still come back
#   --bin FILE        (re)build DIR/initramfs.cpio.gz with this static program
#                     in /bin (repeatable); without --bin the existing
#                     DIR/initramfs.cpio.gz (from mkinitramfs.sh) is used
#   --file SRC:DEST   extra file for the initramfs (with --bin; repeatable)
#   --initramfs FILE  boot this initramfs instead of DIR/initramfs.cpio.gz
#   --peer CMD        host program wired to the guest's /dev/ttyS1: run with
#                     bash -c CMD once QEMU listens on the unix socket named by
#                     $HILVM_UART_SOCK; the guest does not start before it
#                     connects. Without --peer, ttyS1 talks to nobody.
#   --peer2 CMD       the same for /dev/ttyS2
#   --env KEY=VALUE   environment variable for the test (repeatable)
#   --kernel FILE     kernel image (default: newest /boot/vmlinuz-* that has
#                     modules; its version must match the initramfs)
#   --accel NAME      QEMU accelerator (default tcg; kvm hangs on some hosts)
#   --memory MIB      guest memory (default 256)
#   --quiet           do not copy the guest console to stdout
#   --check           only check that everything needed is installed
#
# Prints the guest console (test output) on stdout, copies the guest's
# /results into DIR/results/ and exits with the test's exit code, or:
#   77  something needed is not installed (the message says what to install)
#   124 the VM did not finish within --timeout (or the guest watchdog fired)
#   125 the VM did not boot, crashed, or its results could not be read back
#   2   bad usage
# Logs of the last run: DIR/run/{console.log,qemu.log,peer1.log,peer2.log,
# dmesg.txt,results.bin}.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib.sh"

EXIT_MISSING=77 EXIT_TIMEOUT=124 EXIT_INFRA=125

usage() { sed -n '2,43p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }
bad()   { printf 'hilvm: usage error: %s (see --help)\n' "$*" >&2; exit 2; }
infra() { printf 'hilvm: FAIL: %s\n' "$*" >&2; exit $EXIT_INFRA; }

repo=$(cd "$here/../.." && pwd)
build_dir="" timeout_s=120 bins=() files=() initramfs="" peer1="" peer2=""
envs=() accel=tcg memory=256 quiet=0 check=0
while [ $# -gt 0 ]; do
    case $1 in
        --build-dir) build_dir=${2:?}; shift 2 ;;
        --timeout) timeout_s=${2:?}; shift 2 ;;
        --bin) bins+=("${2:?}"); shift 2 ;;
        --file) files+=("${2:?}"); shift 2 ;;
        --initramfs) initramfs=${2:?}; shift 2 ;;
        --peer) peer1=${2:?}; shift 2 ;;
        --peer2) peer2=${2:?}; shift 2 ;;
        --env) envs+=("${2:?}"); shift 2 ;;
        --kernel) HILVM_KERNEL=${2:?}; export HILVM_KERNEL; shift 2 ;;
        --accel) accel=${2:?}; shift 2 ;;
        --memory) memory=${2:?}; shift 2 ;;
        --quiet) quiet=1; shift ;;
        --check) check=1; shift ;;
        -h|--help) usage ;;
        --) shift; break ;;
        *) bad "unknown argument '$1'" ;;
    esac
done

if [ $check = 1 ]; then
    hilvm_check_boot_deps
    hilvm_check_initramfs_deps
    hilvm_check_build_deps
    if hilvm_report_missing; then
        k=$(hilvm_find_kernel)
        hilvm_log "ok: qemu-system-x86_64 with kvaser_pci, kernel ${k% *} (${k#* }), static busybox, static libsocketcan/libserialport"
        exit 0
    fi
    exit $EXIT_MISSING
fi

[ $# -gt 0 ] || bad "no test command; give it after --, e.g. -- /bin/mytest --junit /results/junit.xml"
case $timeout_s in ''|*[!0-9]*) bad "--timeout wants whole seconds, got '$timeout_s'" ;; esac
[ "$timeout_s" -ge 10 ] || bad "--timeout must be at least 10 s (boot alone takes several)"

hilvm_check_boot_deps
[ ${#bins[@]} -eq 0 ] || hilvm_check_initramfs_deps
hilvm_report_missing || exit $EXIT_MISSING

build_dir=${build_dir:-$repo/build/vm}
mkdir -p "$build_dir"
build_dir=$(cd "$build_dir" && pwd)
k=$(hilvm_find_kernel) || infra "no kernel found (set --kernel)"
kernel=${k%% *} kver=${k#* }
[ -r "$kernel" ] || infra "kernel image $kernel is not readable"

if [ ${#bins[@]} -gt 0 ]; then
    initramfs=${initramfs:-$build_dir/initramfs.cpio.gz}
    margs=(-o "$initramfs" --kver "$kver")
    for b in "${bins[@]}"; do margs+=(--bin "$b"); done
    for f in ${files[@]+"${files[@]}"}; do margs+=(--file "$f"); done
    "$here/mkinitramfs.sh" "${margs[@]}" || exit $?
fi
initramfs=${initramfs:-$build_dir/initramfs.cpio.gz}
[ -f "$initramfs" ] || infra "no initramfs at $initramfs: pass --bin PROG, or build it with tests/vm/mkinitramfs.sh -o $initramfs --bin PROG"
if [ -f "$initramfs.kver" ] && [ "$(cat "$initramfs.kver")" != "$kver" ]; then
    infra "$initramfs holds modules of kernel $(cat "$initramfs.kver") but $kernel is $kver: rebuild it (--bin) or pass --kernel"
fi

# Per-run state. Unix socket paths must stay under 108 bytes, so the sockets
# live in a short temporary directory.
run=$build_dir/run
rm -rf "$run" "$build_dir/results"
mkdir -p "$run/overlay/etc/hilvm" "$build_dir/results"
sockdir=$(mktemp -d /tmp/hilvm.XXXXXX)   # no commas: QEMU option syntax
sock1=$sockdir/uart1.sock sock2=$sockdir/uart2.sock

qemu_running=0 peer_pids=()
# shellcheck disable=SC2317 # called through trap
cleanup() {
    local p
    # The pid is of timeout(1), which passes the signal on to QEMU.
    if [ $qemu_running = 1 ] && [ -s "$run/qemu.pid" ]; then
        kill "$(cat "$run/qemu.pid")" 2>/dev/null || true
    fi
    for p in ${peer_pids[@]+"${peer_pids[@]}"}; do kill "$p" 2>/dev/null || true; done
    rm -rf "$sockdir"
}
trap cleanup EXIT
trap 'hilvm_log "interrupted"; exit 130' INT TERM

# The guest watchdog leaves time to send results and power off.
if [ "$timeout_s" -ge 30 ]; then guest_timeout=$((timeout_s - 15)); else guest_timeout=$((timeout_s / 2)); fi
printf '%s\0' "$@" >"$run/overlay/etc/hilvm/argv"
printf '%s\n' "$guest_timeout" >"$run/overlay/etc/hilvm/timeout"
: >"$run/overlay/etc/hilvm/env"
for e in ${envs[@]+"${envs[@]}"}; do
    case $e in *=*) printf '%s\n' "$e" >>"$run/overlay/etc/hilvm/env" ;; *) bad "--env wants KEY=VALUE, got '$e'" ;; esac
done
# Linux unpacks concatenated cpio archives in order: the per-run files ride
# on a copy of the base initramfs, which is not rebuilt.
( cd "$run/overlay" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet | gzip -1 -n ) >"$run/overlay.cpio.gz"
cat "$initramfs" "$run/overlay.cpio.gz" >"$run/initramfs.cpio.gz"

uart_chardev() { # ID SOCKET PEER
    if [ -n "$3" ]; then
        printf 'socket,id=%s,path=%s,server=on,wait=on' "$1" "$2"
    else
        printf 'socket,id=%s,path=%s,server=on,wait=off' "$1" "$2"
    fi
}

# Why each part is there: README.md "QEMU command line".
# shellcheck disable=SC2054 # the commas are QEMU's option syntax
qemu=(qemu-system-x86_64
    -accel "$accel" -M pc -m "$memory" -smp 1
    -nodefaults -no-user-config -display none -no-reboot
    -kernel "$kernel" -initrd "$run/initramfs.cpio.gz"
    -append "console=ttyS0,115200 quiet panic=-1 8250.nr_uarts=4"
    -object can-bus,id=canbus0
    -device kvaser_pci,canbus=canbus0
    -device kvaser_pci,canbus=canbus0
    -chardev stdio,id=con0,signal=off -serial chardev:con0
    -chardev "$(uart_chardev uart1 "$sock1" "$peer1")" -serial chardev:uart1
    -chardev "$(uart_chardev uart2 "$sock2" "$peer2")" -serial chardev:uart2
    -chardev "file,id=results,path=${run//,/,,}/results.bin" -serial chardev:results
)
printf '%q ' "${qemu[@]}" >"$run/qemu.cmdline"; echo >>"$run/qemu.cmdline"

# A peer that ends before the test has started cannot have served it (QEMU
# would wait for its connection until the timeout): stop the VM at once.
start_peer() { # N CMD SOCKET
    (
        rc=0
        HILVM_UART_SOCK=$3 HILVM_BUILD_DIR=$build_dir bash -c "$2" </dev/null || rc=$?
        if ! grep -q '^@@HILVM-TEST-BEGIN@@$' "$run/console.log" 2>/dev/null \
            && [ -s "$run/qemu.pid" ] && kill -0 "$(cat "$run/qemu.pid")" 2>/dev/null; then
            echo "peer $1 ('$2') exited with status $rc before the test started" >"$run/peer-abort"
            kill "$(cat "$run/qemu.pid")" 2>/dev/null
        fi
        exit $rc
    ) > >(tee "$run/peer$1.log" | sed -u "s/^/[peer$1] /" >&2) 2>&1 &
    peer_pids+=($!)
    hilvm_log "peer $1 started (pid $!): $2"
}

mkfifo "$run/qemu.stderr"
t0=$(date +%s.%N)
hilvm_log "booting $kernel ($kver) with $initramfs, timeout ${timeout_s} s: $*"
show_console() {
    if [ $quiet = 1 ]; then cat >"$run/console.log"
    else tee "$run/console.log" | sed -u -e '/^@@HILVM-[^@]*@@$/d' -e 's/@@HILVM-[^@]*@@$//'; fi
}
{
    set +e
    timeout --kill-after=5 "$timeout_s" "${qemu[@]}" </dev/null 2>"$run/qemu.stderr" &
    echo $! >"$run/qemu.pid"
    wait $!
    echo $? >"$run/qemu.rc"
} | sed -u 's/\r$//' | show_console &
console_pid=$!
qemu_running=1
exec 3<"$run/qemu.stderr"   # returns once QEMU has opened its end

# QEMU's stderr tells when a socket with a peer is listening: start the peer
# then, so it connects on its first try and the guest waits for it.
while IFS= read -r line; do
    printf '%s\n' "$line" >>"$run/qemu.log"
    case $line in
        *"waiting for connection on:"*"$sock1"*) start_peer 1 "$peer1" "$sock1" ;;
        *"waiting for connection on:"*"$sock2"*) start_peer 2 "$peer2" "$sock2" ;;
        *) printf 'qemu: %s\n' "$line" >&2 ;;
    esac
done <&3
exec 3<&-
wait "$console_pid" || true
qemu_running=0
t1=$(date +%s.%N)
qemu_rc=$(cat "$run/qemu.rc" 2>/dev/null || echo 255)
elapsed=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')

# Peers see EOF when QEMU exits; give them a few seconds to report.
peer_rc=0
if [ ${#peer_pids[@]} -gt 0 ]; then
    ( sleep 5; kill "${peer_pids[@]}" 2>/dev/null ) </dev/null >/dev/null 2>&1 &
    reaper=$!
    for p in "${peer_pids[@]}"; do
        wait "$p" || {
            r=$?
            hilvm_log "FAIL: peer (pid $p) exited with status $r; see $run/peer*.log"
            peer_rc=$r
        }
    done
    kill "$reaper" 2>/dev/null || true
    peer_pids=()
fi

console=$run/console.log
# (a test whose output does not end in a newline shares its last line with
# the end marker)
end_rc=$(sed -n 's/^.*@@HILVM-TEST-END rc=\([0-9]*\)@@$/\1/p' "$console" | tail -n1)
began=0; grep -q '^@@HILVM-TEST-BEGIN@@$' "$console" && began=1

# Results: "HILVM-RESULTS 1 rc=N size=N md5=HEX\n" + tar + trailer.
results_rc="" results_err=""
if [ ! -s "$run/results.bin" ]; then
    results_err="the guest sent nothing on its results port (/dev/ttyS3)"
else
    header=$(head -n1 "$run/results.bin")
    if [[ $header =~ ^HILVM-RESULTS\ 1\ rc=([0-9]+)\ size=([0-9]+)\ md5=([0-9a-f]{32})$ ]]; then
        r_rc=${BASH_REMATCH[1]} r_size=${BASH_REMATCH[2]} r_md5=${BASH_REMATCH[3]}
        tail -c +$(( ${#header} + 2 )) "$run/results.bin" | head -c "$r_size" >"$run/results.tar"
        got=$(wc -c <"$run/results.tar"); md5=$(md5sum <"$run/results.tar"); md5=${md5%% *}
        if [ "$got" != "$r_size" ] || [ "$md5" != "$r_md5" ]; then
            results_err="results transfer damaged: got $got of $r_size bytes, md5 $md5 (expected $r_md5)"
        elif ! tar -xf "$run/results.tar" -C "$run" --no-same-owner; then
            results_err="could not unpack $run/results.tar"
        else
            cp -a "$run/results/." "$build_dir/results/" 2>/dev/null || true
            rm -rf "$run/results"
            results_rc=$r_rc
        fi
    else
        results_err="results port sent a bad header: $(printf '%s' "$header" | head -c 80 | tr -cd '[:print:]')"
    fi
fi

tail_console() { hilvm_log "last console lines ($console):"; tail -n 15 "$console" | sed 's/^/    /' >&2; }

if [ -f "$run/peer-abort" ]; then
    hilvm_log "FAIL: $(cat "$run/peer-abort"); the VM was stopped. The peer must connect to \$HILVM_UART_SOCK and serve until the VM powers off (log: $run/peer*.log)"
    exit $EXIT_INFRA
fi
if [ "$qemu_rc" = 124 ] || [ "$qemu_rc" = 137 ]; then
    if [ $began = 0 ] && grep -q 'waiting for connection' "$run/qemu.log" 2>/dev/null && [ -n "$peer1$peer2" ]; then
        hilvm_log "FAIL: timeout after ${timeout_s} s while QEMU waited for a peer to connect: check --peer (log: $run/peer*.log)"
    elif [ $began = 0 ]; then
        hilvm_log "FAIL: timeout after ${timeout_s} s before the test started: the guest hung while booting"
        tail_console
    else
        hilvm_log "FAIL: timeout after ${timeout_s} s: the guest did not power off (test or init hung; guest watchdog was ${guest_timeout} s)"
        tail_console
    fi
    exit $EXIT_TIMEOUT
fi
if [ "$qemu_rc" != 0 ]; then
    hilvm_log "FAIL: qemu-system-x86_64 exited with status $qemu_rc; see $run/qemu.log:"
    tail -n 5 "$run/qemu.log" | sed 's/^/    /' >&2
    exit $EXIT_INFRA
fi
if [ -z "$results_rc" ]; then
    if grep -q 'Kernel panic' "$console"; then
        hilvm_log "FAIL: the guest kernel panicked after ${elapsed} s"
    elif [ $began = 0 ]; then
        hilvm_log "FAIL: the VM stopped after ${elapsed} s without starting the test"
    else
        hilvm_log "FAIL: $results_err (test exit code on the console: ${end_rc:-none})"
    fi
    tail_console
    exit $EXIT_INFRA
fi

hilvm_log "VM finished in ${elapsed} s; test exit code $results_rc; results in $build_dir/results/ ($(find "$build_dir/results" -type f | wc -l) files)"
case $results_rc in
    126|127) hilvm_log "exit code $results_rc: the guest shell could not run '$1' (not in the initramfs, or not executable: add it with --bin)" ;;
    124) hilvm_log "exit code 124: the guest watchdog killed the test after ${guest_timeout} s (raise --timeout)" ;;
esac
if [ "$results_rc" = 0 ] && [ "$peer_rc" != 0 ]; then
    hilvm_log "FAIL: the test passed but its host peer failed (status $peer_rc)"
    exit 1
fi
exit "$results_rc"
