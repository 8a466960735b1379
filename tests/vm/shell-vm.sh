#!/usr/bin/env bash
# tests/vm/shell-vm.sh - the shell auxiliary against the VM's Linux console
# (part of `make test-vm`; docs/consoles.md). The guest runs
# tests/vm/shell_guest.sh (getty, login, sh on /dev/ttyS2); the host runs
# the console_vm suite of build/selftest as the VM's --peer2. Prints the
# suite's results and ends with its closing line "N passed, N failed, N skipped".
# Environment: BUILD (build).
set -uo pipefail
cd "$(dirname "$0")/../.."
build=${BUILD:-build}
vm_dir=$build/vm-shell
mkdir -p "$vm_dir"
say() { echo "shell-vm: $*"; }
command -v socat >/dev/null || { say "socat not installed (apt-get install socat)"; echo "0 passed, 1 failed, 0 skipped"; exit 1; }
hash=$(openssl passwd -1 s3cret) || { say "openssl passwd failed (apt-get install openssl)"; echo "0 passed, 1 failed, 0 skipped"; exit 1; }
sel=$(cd "$build" && pwd)/selftest
rm -f "$vm_dir/peer.out"
vm_rc=0
tests/vm/run.sh --build-dir "$vm_dir" --timeout 150 --quiet \
    --bin "$(command -v busybox)" --file tests/vm/shell_guest.sh:/bin/shell_guest.sh --env "HILVM_SHELL_HASH=$hash" \
    --peer2 "$(printf '%q' "$sel") --filter 'console_vm.*' --set params.build_dir=$(printf '%q' "$(cd "$build" && pwd)") --junit $(printf '%q' "$(pwd)/$vm_dir/console_vm.xml") --color never > $(printf '%q' "$(pwd)/$vm_dir/peer.out") 2>&1" \
    -- /bin/sh /bin/shell_guest.sh || vm_rc=$?
[ -f "$vm_dir/peer.out" ] && sed -n '/^[0-9]* passed, /!p' "$vm_dir/peer.out"
line=$(grep -E '^[0-9]+ passed, [0-9]+ failed, [0-9]+ skipped' "$vm_dir/peer.out" 2>/dev/null | tail -n 1)
if [ -z "$line" ]; then
    say "FAIL: the host suite printed no closing line; the VM run ended with $vm_rc (see $vm_dir/run/)"
    echo "0 passed, 1 failed, 0 skipped"
    exit 1
fi
[ $vm_rc = 0 ] || say "FAIL: the VM run ended with $vm_rc (see $vm_dir/run/console.log)"
echo "$line"
[ $vm_rc = 0 ] && case $line in *" 0 failed"*) exit 0 ;; esac
exit 1
