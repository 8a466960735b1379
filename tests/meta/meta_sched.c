/* A test program with a lab, run by the self-tests (tests/test_sched_meta.c)
 * as `meta_sched schedule -c LAB ...`: the lab's runs select these tests,
 * which pass, fail, hang, check the board and connectors they were given,
 * and fail their suite setup on a board that "is not there". What a test
 * sees is printed as "sched: ..." lines (they end up in the TaskLogs). */
#define HIL_IMPLEMENTATION
#include "hil.h"
#include "hil_connectors.h"
#include "hil_runner.h"
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void sleep_ms(long ms) {
    struct timespec ts;
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (ms % 1000) * 1000000L;
    nanosleep(&ts, NULL);
}

/* The board and connector this run was given: the lab gives every board a
 * loopback connector with its own capacity (the self-test checks the pair). */
HIL_TEST(board, identify) {
    const char* res = hil_param("resource_dut", NULL);
    const char* cap = hil_config_get(hil_cfg(), "connectors.dut.capacity", NULL);
    hil_channel* ch = NULL;
    HIL_ASSERT(res != NULL, "no params.resource_dut: not run by the scheduler?");
    HIL_ASSERT(cap != NULL, "no connectors.dut.* in the run's configuration");
    HIL_ASSERT_OK(hil_channel_from_config("dut", &ch));
    HIL_ASSERT_OK(hil_channel_open(ch));
    hil_channel_destroy(ch);
    printf("sched: identify resource=%s capacity=%s variant=%s image=%s flash=%s\n", res, cap,
           hil_param("variant", "-"), hil_param("image", "-"), hil_param("flash_dut", "0"));
}

HIL_TEST(fast, one) {
    sleep_ms((long)hil_param_int("ms", 0));
    printf("sched: fast.one on %s\n", hil_param("resource_dut", "?"));
}
HIL_TEST(fast, two) { HIL_ASSERT_EQ(2 + 2, 4); }

HIL_TEST(bad, fails) { HIL_ASSERT_EQ(1 + 1, 3); }

/* Says it hangs (a byte on params.started_fd, when given), then does. */
HIL_TEST_META(slow, hang, "timeout=600") {
    int fd = (int)hil_param_int("started_fd", -1);
    printf("sched: hanging on %s\n", hil_param("resource_dut", "?"));
    fflush(stdout);
    if (fd >= 0) (void)!write(fd, "x", 1);
    for (;;) pause();
}

/* Two boards at once: a DUT and the reference board. */
HIL_TEST(pair, both) {
    const char* dut = hil_param("resource_dut", NULL);
    const char* ref = hil_param("resource_ref", NULL);
    HIL_ASSERT(dut && ref, "a two-role run without both boards");
    HIL_ASSERT(strcmp(dut, ref) != 0, "both roles on %s", dut);
    printf("sched: pair dut=%s ref=%s\n", dut, ref);
}

/* The suite setup cannot reach a board listed in params.missing_board: its
 * tests are Blocked, which the scheduler counts against the board. */
HIL_SUITE_SETUP(needs_board) {
    const char* res = hil_param("resource_dut", "?");
    const char* missing = hil_param("missing_board", "");
    HIL_ASSERT(strcmp(res, missing) != 0, "board %s does not answer", res);
}
HIL_TEST(needs_board, works) { printf("sched: needs_board on %s\n", hil_param("resource_dut", "?")); }

/* The same with a long reason (about 950 characters, the last words
 * "END-OF-THE-REASON"): every report must carry it whole. */
HIL_SUITE_SETUP(long_reason) {
    const char* res = hil_param("resource_dut", "?");
    char pad[901];
    size_t i;
    static const char words[] = "the board's UART said nothing; ";
    if (strcmp(res, hil_param("missing_board", "")) != 0) return;
    for (i = 0; i < 900; i++) pad[i] = words[i % (sizeof words - 1)];
    pad[900] = 0;
    HIL_FAIL("board %s does not answer: %s END-OF-THE-REASON", res, pad);
}
HIL_TEST(long_reason, works) { printf("sched: long_reason on %s\n", hil_param("resource_dut", "?")); }

HIL_MAIN()
