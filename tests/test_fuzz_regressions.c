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

/* fuzz/corpus/can/crash-error-text-of-a-remote-frame (found by CI's fuzz
 * step): a remote (RTR) error frame's len is the length it asks for, not
 * what its buffer holds, but hil_can_error_str read len data bytes (ASan:
 * heap-buffer-overflow on a buffer smaller than 8). Without a sanitizer the
 * text showed whatever stale bytes the buffer held. */
HIL_TEST(fuzz_regressions, can_error_text_of_a_remote_frame_reads_no_data) {
    uint8_t stale[8];
    char text[256];
    hil_msg m;
    memset(stale, 0xFF, sizeof stale);
    hil_msg_init(&m, stale, sizeof stale);
    m.len = 8; /* asks for 8 bytes, carries none */
    m.flags = HIL_MSG_ERROR | HIL_MSG_RTR;
    m.remote_id = HIL_CAN_ERR_CNT | HIL_CAN_ERR_TRX;
    hil_can_error_str(&m, text, sizeof text);
    HIL_EXPECT(strstr(text, "error counters tx 0 rx 0") != NULL, "%s", text);
    HIL_EXPECT(strstr(text, "255") == NULL, "stale buffer bytes in the text: %s", text);
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

/* merge-results over one shard made of these files (junit_xml may be
 * NULL); when it succeeds and `read` names a merged file, *text gets it.
 * The shard's directory is removed again. */
static hil_result merge_one_shard(const char* results_json, const char* junit_xml, const char* read, char** text,
                                  hil_job_summary* js) {
    char dir[] = "/tmp/hil-fuzz-regression-XXXXXX";
    char path[256], out[128];
    const char* inputs[1];
    size_t len = 0;
    hil_result r;
    HIL_ASSERT(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/results.json", dir);
    HIL_ASSERT_OK(hil_write_file_atomic(path, results_json, strlen(results_json)));
    if (junit_xml) {
        snprintf(path, sizeof path, "%s/junit.xml", dir);
        HIL_ASSERT_OK(hil_write_file_atomic(path, junit_xml, strlen(junit_xml)));
    }
    snprintf(out, sizeof out, "%s/merged", dir);
    inputs[0] = dir;
    r = hil_merge_results(inputs, 1, out, js);
    if (r == HIL_OK && read) {
        snprintf(path, sizeof path, "%s/%s", out, read);
        HIL_EXPECT_OK(hil_read_file(path, text, &len));
    }
    snprintf(path, sizeof path, "rm -rf '%s'", dir);
    HIL_EXPECT_EQ(system(path), 0);
    return r;
}

/* fuzz/corpus/merge/crash-summary-key-and-inf: a shard's results.json whose
 * summary has a key with a quote ("pa\"ss") and a count of 1e999 was merged
 * into a results.json that is not JSON: the key was printed unescaped and
 * the count as "inf". Keys are escaped now, and counts or durations that
 * are not finite, sane numbers are left out. */
HIL_TEST(fuzz_regressions, merge_results_writes_json_whatever_a_shard_summary_holds) {
    static const char shard[] =
        "{\"schema\":\"hil-job-1\",\"result\":\"Passed\",\"duration_s\":1e999,"
        "\"summary\":{\"total\":1,\"pa\\\"ss\":1e999,\"passed\":1,\"skipped\":-5},\"tasks\":[]}";
    hil_job_summary js;
    char* text = NULL;
    HIL_ASSERT_OK(merge_one_shard(shard, NULL, "results.json", &text, &js));
    HIL_ASSERT(text != NULL);
    HIL_EXPECT(strstr(text, "\"pa\\\"ss\":0") != NULL, "%s", text);
    HIL_EXPECT(strstr(text, "inf") == NULL, "%s", text);
    HIL_EXPECT(strstr(text, "\"duration_s\":0.000000") != NULL, "%s", text);
    /* a negative count is left out (it was converted to size_t: undefined) */
    HIL_EXPECT(strstr(text, "\"skipped\":0") != NULL, "%s", text);
    HIL_EXPECT_EQ(js.skipped, 0);
    HIL_FREE(text);
}

/* fuzz/corpus/merge/crash-junit-count-4e115: a shard's junit.xml said
 * tests="4e115", which was converted to unsigned long (undefined), and a
 * time of "inf" went into the merged file as it was. Counts and times now
 * saturate at 1e9; what is no number or negative counts 0. */
HIL_TEST(fuzz_regressions, merge_results_bounds_a_shards_junit_counts) {
    hil_job_summary js;
    char* text = NULL;
    HIL_ASSERT_OK(merge_one_shard("{\"schema\":\"hil-job-1\",\"result\":\"Passed\",\"tasks\":[]}",
                                  "<testsuites tests=\"4e115\" failures=\"-3\" errors=\"nan\" skipped=\"2\" time=\"inf\">"
                                  "<testsuite name=\"s\" tests=\"0\"/></testsuites>",
                                  "junit.xml", &text, &js));
    HIL_ASSERT(text != NULL);
    HIL_EXPECT(strstr(text, "tests=\"1000000000\"") != NULL, "%s", text);
    HIL_EXPECT(strstr(text, "failures=\"0\"") != NULL, "%s", text);
    HIL_EXPECT(strstr(text, "errors=\"0\"") != NULL, "%s", text);
    HIL_EXPECT(strstr(text, "inf") == NULL && strstr(text, "nan") == NULL, "%s", text);
    HIL_FREE(text);
}

/* fuzz/corpus/merge/crash-raw-control-char: the JSON reader of merge-results
 * skipped strings with raw control characters and numbers like "-" or "1e",
 * and the merge copied them into its own results.json, which then was no
 * JSON. The reader is strict now: such a shard is not a results.json. */
HIL_TEST(fuzz_regressions, merge_results_refuses_a_shard_that_is_not_json) {
    static const char* const bad[] = {
        "{\"schema\":\"hil-job-1\",\"errors\":[{\"task\":\"\x01\"}],\"tasks\":[]}",
        "{\"schema\":\"hil-job-1\",\"tasks\":[{\"n\":-}]}",
        "{\"schema\":\"hil-job-1\",\"tasks\":[{\"n\":1e}]}",
        "{\"schema\":\"hil-job-1\",\"tasks\":[{\"n\":\"\\q\"}]}",
        /* fuzz/corpus/merge/crash-task-not-an-object: each task was spliced
         * in as '{"shard":N,' + the task's text after its '{' */
        "{\"schema\":\"hil-job-1\",\"tasks\":[{\"name\":\"t1\"},1,true,null]}",
        "{\"schema\":\"hil-job-1\",\"tasks\":[[]]}",
        /* fuzz/corpus/merge/crash-key-not-a-string: an object key that is
         * no string was skipped as a value and copied */
        "{\"schema\":\"hil-job-1\",\"tasks\":[{\"name\":\"t1\",null:[1]}]}",
        "{\"schema\":\"hil-job-1\",\"tasks\":[{1:2}]}",
    };
    size_t i;
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        hil_job_summary js;
        HIL_EXPECT_EQ(merge_one_shard(bad[i], NULL, NULL, NULL, &js), HIL_ERR_PROTOCOL, "%s", bad[i]);
        if (strstr(bad[i], "\"name\":\"t1\"},1") || strstr(bad[i], "[[]]"))
            HIL_EXPECT(strstr(hil_last_error(), "] is not an object") != NULL, "%s", hil_last_error());
    }
}
