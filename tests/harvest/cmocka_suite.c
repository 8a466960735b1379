/* A small cmocka suite harvested by tests/test_harvest.c through a process
 * channel: passing, failing, skipped and crashing cases. cmocka prints
 * GoogleTest-style lines by default and TAP with CMOCKA_MESSAGE_OUTPUT=TAP.
 * With HARVEST_DIE=1 the process dies in the middle of a case (SIGKILL,
 * which cmocka cannot catch): the harvester must report that case Errored
 * and the rest as not run. */
#define _POSIX_C_SOURCE 200809L /* kill() */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <cmocka.h>

static void adds_up(void** state) {
    (void)state;
    assert_int_equal(2 + 2, 4);
}

static void off_by_one(void** state) {
    (void)state;
    assert_int_equal(3, 4); /* fails on purpose */
}

static void not_on_this_board(void** state) {
    (void)state;
    skip();
}

static void null_deref(void** state) {
    volatile int* p = NULL;
    (void)state;
    if (getenv("HARVEST_DIE")) {
        fflush(NULL);
        kill(getpid(), SIGKILL);
    }
    *p = 1; /* cmocka catches SIGSEGV and fails the case */
}

static void still_runs(void** state) {
    (void)state;
    assert_true(1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(adds_up),
        cmocka_unit_test(off_by_one),
        cmocka_unit_test(not_on_this_board),
        cmocka_unit_test(null_deref),
        cmocka_unit_test(still_runs),
    };
    return cmocka_run_group_tests_name("harvested", tests, NULL, NULL);
}
