/* Regression tests for defects a coverage-guided fuzzer and a review found
 * (issue 14): a torn duration history, YAML nesting, ${...} expansion that
 * grows without bound, a TLV copied into a buffer of size 0, !include of a
 * device or FIFO. Each test failed before its fix (the history one under
 * ASan as a heap-buffer-overflow read, and without ASan by losing the lines
 * after the torn one). */
#include "selftest.h"

#include <fcntl.h>
#include <pthread.h>

HIL_SUITE(hardening, "tags=core")

/* ---- 1. the duration history ------------------------------------------------------- */

HIL_TEST(hardening, a_torn_history_loads_its_whole_lines_and_names_the_first_bad_one) {
    /* "abcdefg" and its NUL fill the string pool's first 8 bytes exactly;
     * "abcdefg" and 16 NULs hashes to its slot: the lookup compared them with
     * strncmp, then read byte 23 of the 8-byte pool. A crash or power loss
     * leaves a run of NULs at the end of the file. */
    static const char torn[] = "# hil-sched-history 1\n"
                               "100 1 abcdefg\n"
                               "200 2 abcdefg\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\n"
                               "300 3 whole\n"
                               "\0\0\0\0\0\0\0\0";
    hil_sched_history* h = NULL;
    size_t bad = 0;
    int64_t ema = 0;
    uint32_t count = 0;
    HIL_ASSERT_OK(hil_sched_history_create(0, &h));
    HIL_EXPECT_EQ(hil_sched_history_parse(h, torn, sizeof torn - 1, &bad), HIL_ERR_INVALID_ARG);
    HIL_EXPECT_EQ(bad, 3, "the first line that is not whole");
    HIL_EXPECT(strstr(hil_last_error(), "line 3") && strstr(hil_last_error(), "skipped"), "%s", hil_last_error());
    HIL_EXPECT(strstr(hil_last_error(), "2 lines"), "the count of skipped lines: %s", hil_last_error());
    HIL_EXPECT_EQ(hil_sched_history_lookup(h, "abcdefg", &ema, &count), HIL_OK);
    HIL_EXPECT(ema == 100 && count == 1, "the whole line before it stays: %lld %u", (long long)ema, count);
    HIL_EXPECT_EQ(hil_sched_history_lookup(h, "whole", &ema, &count), HIL_OK, "the whole line after it is loaded");
    HIL_EXPECT(ema == 300 && count == 3, "%lld %u", (long long)ema, count);
    HIL_EXPECT_EQ(hil_sched_history_count(h), 2);
    hil_sched_history_destroy(h);
}

HIL_TEST(hardening, a_history_without_its_header_loads_nothing) {
    static const char text[] = "100 1 abc\n200 2 def\n";
    hil_sched_history* h = NULL;
    size_t bad = 0;
    HIL_ASSERT_OK(hil_sched_history_create(0, &h));
    HIL_EXPECT_EQ(hil_sched_history_parse(h, text, sizeof text - 1, &bad), HIL_ERR_INVALID_ARG);
    HIL_EXPECT_EQ(bad, 1);
    HIL_EXPECT_EQ(hil_sched_history_count(h), 0, "not a history file: nothing of it is taken");
    hil_sched_history_destroy(h);
}

/* ---- 4. testApp TLV text ------------------------------------------------------------------- */

HIL_TEST(hardening, a_tlv_copied_into_a_buffer_of_size_0_writes_nothing) {
    hil_tapp_msg m;
    char area[32], want[32];
    memset(&m, 0, sizeof m);
    HIL_ASSERT_OK(hil_tapp_add_tlv(&m, HIL_TAPP_TLV_FAILURE_REASON, "failure", 7));
    memset(area, 'G', sizeof area);
    memset(want, 'G', sizeof want);
    HIL_EXPECT_EQ(hil_tapp_tlv_text(&m, HIL_TAPP_TLV_FAILURE_REASON, area, 0), 1, "the TLV is there");
    HIL_EXPECT(memcmp(area, want, sizeof area) == 0, "size 0: not a byte written (got '%.8s')", area);
    HIL_EXPECT_EQ(hil_tapp_tlv_text(&m, HIL_TAPP_TLV_TEST_REPORT, area, 0), 0, "no such TLV");
    HIL_EXPECT(memcmp(area, want, sizeof area) == 0, "size 0 and no TLV: not a byte written");
    HIL_EXPECT_EQ(hil_tapp_tlv_text(&m, HIL_TAPP_TLV_FAILURE_REASON, area, 4), 1);
    HIL_EXPECT_STREQ(area, "fai", "cut to the size, NUL included");
}
