/* Shared by the test suites that run inside the QEMU VM bench
 * (tests/vm/vm_*.c, built statically into build/vm/bin/hil_vm_tests by
 * tests/vm/test-vm.sh). The VM has real kernel CAN drivers (can0, can1: two
 * emulated SJA1000s on one bus; vcan0 with CAN FD) and 8250 UARTs wired to
 * host-side peers; see tests/vm/README.md. */
#ifndef HIL_VM_TESTS_H
#define HIL_VM_TESTS_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "hil.h"
#include "hil_connectors.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Every VM test starts with this: outside the VM (HILVM unset) it skips. */
#define VM_REQUIRE() \
    do { if (!getenv("HILVM")) HIL_SKIP("runs inside the QEMU VM bench: make test-vm"); } while (0)

/* Create and open a channel of `type` named `name` with "key=value"
 * options (NULL-terminated); fails the test with the library's message. */
hil_channel* vm_channel(const char* name, const char* type, const char* const* opts);
/* The same, returning the result instead of failing (for error tests). */
hil_result vm_channel_try(const char* name, const char* type, const char* const* opts, hil_channel** out);
/* Where results go back to the host ($HILVM_RESULTS_DIR, or "."). */
const char* vm_results_dir(void);
/* "<results>/<name>" */
const char* vm_result_path(const char* name);
/* Whether a program is on PATH. */
int vm_have(const char* prog);

#endif
