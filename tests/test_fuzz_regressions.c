/* Defects the fuzzers (fuzz/, docs/fuzzing.md) found, each pinned by the
 * smallest input that showed it. The reproducers are in fuzz/corpus/ too,
 * so `make fuzz-regress` replays them through the harnesses. */
#include "selftest.h"

HIL_SUITE(fuzz_regressions, "tags=fuzz")

/* fuzz/corpus/framing/crash-line-overlapping-terminator: a line "\xff\xff"
 * with the terminator "\xff\xff\xff\xff" went out as six 0xff bytes and came
 * back as an empty line (the deframer finds the terminator two bytes early).
 * encode must refuse what the deframer cannot give back. */
HIL_TEST(fuzz_regressions, line_framing_refuses_a_line_that_overlaps_its_terminator) {
    static const struct { const char* term; size_t tl; const char* line; size_t n; } bad[] = {
        {"\xff\xff\xff\xff", 4, "\xff\xff", 2},
        {"aa", 2, "a", 1},
        {"abab", 4, "xab", 3},
    };
    hil_framing f;
    size_t i;
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        hil_strbuf wire = {0, 0, 0, 0};
        hil_framing_init(&f, HIL_FRAMING_LINE);
        memcpy(f.terminator, bad[i].term, bad[i].tl);
        f.terminator_len = bad[i].tl;
        HIL_ASSERT_EQ(hil_frame_encode(&f, bad[i].line, bad[i].n, &wire), HIL_ERR_INVALID_ARG);
        HIL_ASSERT_EQ(wire.len, 0);
        HIL_EXPECT(strstr(hil_last_error(), "start of the line terminator"), "%s", hil_last_error());
        hil_sb_free(&wire);
    }
}

/* What still encodes comes back as it went in, even with a terminator that
 * overlaps itself, and the usual terminators accept any line without them. */
HIL_TEST(fuzz_regressions, line_framing_round_trips_what_it_accepts) {
    static const struct { const char* term; size_t tl; const char* line; size_t n; } ok[] = {
        {"aa", 2, "ab", 2},
        {"abab", 4, "xa", 2},
        {"\r\n", 2, "x\r", 2},
        {"\n", 1, "", 0},
    };
    size_t i;
    for (i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        hil_framing f;
        hil_deframer d;
        hil_strbuf wire = {0, 0, 0, 0};
        const void* frame;
        size_t len;
        hil_framing_init(&f, HIL_FRAMING_LINE);
        memcpy(f.terminator, ok[i].term, ok[i].tl);
        f.terminator_len = ok[i].tl;
        HIL_ASSERT_OK(hil_frame_encode(&f, ok[i].line, ok[i].n, &wire));
        HIL_ASSERT_OK(hil_deframer_init(&d, &f));
        HIL_ASSERT_OK(hil_deframer_push(&d, wire.data, wire.len));
        HIL_ASSERT(hil_deframer_next(&d, &frame, &len));
        HIL_ASSERT_EQ(len, ok[i].n);
        HIL_ASSERT(len == 0 || memcmp(frame, ok[i].line, len) == 0);
        HIL_ASSERT_EQ(hil_deframer_buffered(&d), 0);
        hil_deframer_free(&d);
        hil_sb_free(&wire);
    }
}

/* fuzz/corpus/can/crash-filters-separated-by-spaces: the socketcan option
 * "filters" accepts filters separated by spaces as well as commas, but room
 * was made for one filter per comma only: "7FF:7FF 000~000" wrote its second
 * filter past the end of the array (ASan: heap-buffer-overflow). Many
 * filters make the overrun large enough to fail without a sanitizer too. */
HIL_TEST(fuzz_regressions, socketcan_filters_separated_by_spaces_fit_their_array) {
    hil_strbuf filters = {0, 0, 0, 0};
    const char* opts[] = {"interface=can0", NULL, NULL};
    hil_channel_config c;
    hil_channel* ch = NULL;
    int i;
    hil_sb_puts(&filters, "filters=7FF:7FF 000~000");
    for (i = 0; i < 300; i++) hil_sb_printf(&filters, " %03X:7FF", i);
    opts[1] = hil_sb_cstr(&filters);
    hil_channel_config_init(&c);
    c.name = "bus";
    c.type = "socketcan";
    c.options = opts;
    HIL_ASSERT_OK(hil_channel_create(&c, &ch));
    hil_channel_destroy(ch);
    hil_sb_free(&filters);
}

/* fuzz/corpus/junit/crash-classname-nul: a testcase whose classname decodes
 * to an empty string (a NUL byte in the attribute, or "&#0;") was read with
 * the suite name "" instead of the enclosing testsuite's (the rule for an
 * empty classname); written again and read back it became another suite. */
HIL_TEST(fuzz_regressions, junit_read_an_empty_classname_after_decoding_takes_the_suite_name) {
    static const char text[] = "<testsuite name=\"outer\"><testcase classname=\"\0x\" name=\"a\"/>"
                               "<testcase classname=\"&#0;\" name=\"b\"/></testsuite>";
    char path[] = "/tmp/hil-fuzz-regression-XXXXXX";
    hil_run_summary* s = NULL;
    int fd = mkstemp(path);
    HIL_ASSERT(fd >= 0);
    HIL_ASSERT_EQ((long)write(fd, text, sizeof text - 1), (long)(sizeof text - 1));
    close(fd);
    HIL_ASSERT_OK(hil_junit_read(path, "x", &s));
    unlink(path);
    HIL_ASSERT_EQ(s->n_results, 2);
    HIL_EXPECT_STREQ(s->results[0].test->suite, "outer");
    HIL_EXPECT_STREQ(s->results[1].test->suite, "outer");
    hil_run_summary_free(s);
}
