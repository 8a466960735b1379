/* A test program where everything passes (exit code 0, TAP for prove). */
#define HIL_IMPLEMENTATION
#include "hil.h"
#include <time.h>
#include <unistd.h>

HIL_SUITE_SETUP(ok) { HIL_INFO("meta.ok", "setup"); }
HIL_TEST_META(ok, one, "tags=a") { HIL_ASSERT_EQ(1, 1); }
HIL_TEST_META(ok, two, "tags=b") { HIL_ASSERT_STREQ("x", "x"); }
HIL_TEST(ok, skipped) { HIL_SKIP("not today"); }
HIL_TEST(other, three) { HIL_ASSERT_NEAR(0.1 + 0.2, 0.3, 1e-9); }
HIL_TEST(other, slow) {
    /* long enough for an interrupt to land while it runs */
    int fd = (int)hil_param_int("started_fd", -1);
    if (fd >= 0) (void)!write(fd, "x", 1); /* tell the self-test we are running */
    if (hil_param_int("slow_ms", 0) > 0) {
        struct timespec ts;
        long ms = (long)hil_param_int("slow_ms", 0);
        ts.tv_sec = ms / 1000;
        ts.tv_nsec = (ms % 1000) * 1000000L;
        nanosleep(&ts, NULL);
    }
}
HIL_MAIN()
