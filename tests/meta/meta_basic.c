/* A test program with every kind of outcome, run by the self-tests
 * (tests/test_runner.c) to check the runner's results, reports and exit
 * codes. Its behaviour is steered by parameters (--set params.X=Y). */
#define HIL_IMPLEMENTATION
#include "hil.h"
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

HIL_SUITE(basic, "id=1; tags=meta")

HIL_TEST_META(basic, passes, "id=1; tags=fast") { HIL_ASSERT_EQ(2 + 2, 4); }

HIL_TEST_META(basic, fails, "id=2") {
    int n = 3;
    printf("output of a failing test\n");
    HIL_ASSERT_EQ(n, 4, "reply to %s", "ping");
    HIL_FAIL("not reached");
}

HIL_TEST(basic, expects_go_on) {
    HIL_EXPECT(1 == 2);
    HIL_EXPECT_STREQ("abc", "abd");
    HIL_EXPECT_MEMEQ("hello", "help!", 5);
    HIL_EXPECT_NEAR(1.0, 2.0, 0.5);
    printf("after the expectations\n");
}

HIL_TEST(basic, segfaults) {
    /* an unmapped address that is not NULL, so UBSan lets the fault happen */
    volatile uintptr_t addr = 8;
    printf("about to crash\n");
    *(volatile int*)addr = 1;
}

HIL_TEST(basic, aborts) { abort(); }

HIL_TEST(basic, exits) { exit(3); }

HIL_TEST_META(basic, hangs, "timeout=0.3") {
    for (;;) pause();
}

HIL_TEST(basic, skips) { HIL_SKIP("needs board rev %s", "B"); }

HIL_TEST_META(basic, skipped_by_meta, "skip=not wired in this lab") { HIL_FAIL("must not run"); }

/* Fails on its first attempt, passes on the second: Passx. */
HIL_TEST_META(basic, flaky, "retries=2; tags=fast") {
    static int calls;
    HIL_ASSERT(++calls >= 2, "attempt %d", calls);
}

HIL_TEST(basic, logs_and_warns) {
    HIL_INFO("meta.basic", "an info record from the test");
    HIL_WARN("meta.basic", "a warning record from the test");
    hil_test_warn("queue overflowed %d times", 3);
    fprintf(stderr, "to stderr\n");
}

HIL_TEST(basic, last) { HIL_ASSERT_STREQ(hil_param("who", "nobody"), hil_param("expect_who", "nobody")); }

/* A suite whose setup fails: its tests are Blocked. */
HIL_SUITE_SETUP(blocked) { HIL_ASSERT(0, "the board did not power up"); }
HIL_TEST(blocked, one) { HIL_FAIL("must not run"); }
HIL_TEST(blocked, two) { HIL_FAIL("must not run"); }

/* A suite whose setup crashes (only with params.crash_setup=1). */
HIL_SUITE_SETUP(crashy) {
    if (hil_param_int("crash_setup", 0)) raise(SIGSEGV);
}
HIL_TEST(crashy, one) { HIL_ASSERT(1); }

/* A teardown that fails. */
HIL_SUITE_TEARDOWN(torn) { HIL_ASSERT_EQ(1, 2, "cleanup failed"); }
HIL_TEST(torn, runs) { HIL_ASSERT(1); }

HIL_MAIN()
