#!/usr/bin/env bash
# Proves the VM bench end to end: builds the prototype guest test
# (proto_can_serial.c, static) and the host UART peer (uart_peer.c), boots
# the VM through run.sh with the peer on /dev/ttyS1, and checks that the
# JUnit file came back.
#
#   tests/vm/selftest.sh [--build-dir DIR] [--timeout SECS] [-- PROTO_ARGS...]
#
# Exit: 0 all passed, 1 a check failed, 77 something needed is not installed
# (run.sh --check says what), else run.sh's code (124 timeout, 125 VM failure).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
build_dir=$repo/build/vm timeout_s=120
while [ $# -gt 0 ]; do
    case $1 in
        --build-dir) build_dir=${2:?}; shift 2 ;;
        --timeout) timeout_s=${2:?}; shift 2 ;;
        --) shift; break ;;
        *) echo "selftest: unknown argument '$1'" >&2; exit 2 ;;
    esac
done

rc=0
"$here/run.sh" --check || rc=$?
[ $rc = 0 ] || exit $rc

mkdir -p "$build_dir/bin"
cc=${CC:-gcc}
flags=(-std=c99 -O2 -Wall -Wextra -Wpedantic -Werror)
"$cc" "${flags[@]}" -static -pthread -o "$build_dir/bin/proto_can_serial" \
    "$here/proto_can_serial.c" -lsocketcan -lserialport
"$cc" "${flags[@]}" -o "$build_dir/bin/uart_peer" "$here/uart_peer.c"

rc=0
"$here/run.sh" --build-dir "$build_dir" --timeout "$timeout_s" \
    --bin "$build_dir/bin/proto_can_serial" \
    --peer "$(printf '%q' "$build_dir/bin/uart_peer") --expect 65536" \
    -- /bin/proto_can_serial --rtr-dlc-probe "$@" || rc=$?
if [ $rc = 0 ] && [ ! -s "$build_dir/results/proto_can_serial.xml" ]; then
    echo "selftest: FAIL: the guest passed but $build_dir/results/proto_can_serial.xml did not come back" >&2
    rc=1
fi
exit $rc
