#!/bin/sh
# The guest side of the console tests (tests/test_console_vm.c, run by
# tests/vm/shell-vm.sh): a board's serial login on /dev/ttyS2, as getty and
# login give it. The host logs in as root with the password whose MD5-crypt
# hash it passes in HILVM_SHELL_HASH. Each session ends with `exit`; getty
# then starts again (blocking, not polling), until the host has created
# /tmp/hil-done: then this test command ends and the VM powers off.
set -e
echo "root:${HILVM_SHELL_HASH:?}:0:0:root:/root:/bin/sh" >/etc/passwd
mkdir -p /root
echo 'hil VM bench' >/etc/issue
hostname bench
# no line editing: a login shell that answers like a plain tty (see docs/consoles.md)
echo "set +o emacs 2>/dev/null; set +o vi 2>/dev/null" >/etc/profile
# getty makes ttyS2 the session's controlling tty, sets it sane (echo, line
# editing) and execs login, which execs the shell.
while [ ! -e /tmp/hil-done ]; do
    getty -L 115200 ttyS2 vt100 || true
done
