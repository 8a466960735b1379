/* fuzz/fuzz_history.c - the scheduler's duration history file
 * (hil_sched_history_parse, hil_runner.h), as found on disk.
 *
 * Input: the file's bytes.
 * Properties: a file that parses is written (hil_sched_history_write)
 * and parsed again into the same entries, and writing that gives the
 * same text; every entry read can be looked up by its name. */
#define HIL_IMPLEMENTATION
#include "hil.h"
#include "hil_runner.h"

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    hil_sched_history *h = NULL, *h2 = NULL;
    hil_strbuf a = {0, 0, 0, 0}, b = {0, 0, 0, 0};
    size_t bad = 0;
    /* a copy of exactly size bytes: the parser must not read past len */
    char* buf = (char*)malloc(size ? size : 1);
    if (!buf) abort();
    if (size) memcpy(buf, data, size);
    fuzz_clock_start();
    if (hil_sched_history_create(0, &h) != HIL_OK) abort();
    if (hil_sched_history_parse(h, buf, size, &bad) == HIL_OK) {
        FUZZ_CHECK(bad == 0, "bad_line %zu on success", bad);
        FUZZ_CHECK(hil_sched_history_write(h, &a) == HIL_OK, "write");
        if (hil_sched_history_create(0, &h2) != HIL_OK) abort();
        FUZZ_CHECK(hil_sched_history_parse(h2, a.data, a.len, &bad) == HIL_OK, "what was written does not parse: line %zu: %s",
                   bad, hil_last_error());
        FUZZ_CHECK(hil_sched_history_count(h2) == hil_sched_history_count(h), "%u entries, %u after a round trip",
                   hil_sched_history_count(h), hil_sched_history_count(h2));
        FUZZ_CHECK(hil_sched_history_write(h2, &b) == HIL_OK, "write");
        FUZZ_CHECK(a.len == b.len && memcmp(a.data, b.data, a.len) == 0, "writing is not stable");
        {
            /* every name line written can be looked up */
            const char* p = a.data;
            const char* end = a.data + a.len;
            while (p < end) {
                const char* nl = (const char*)memchr(p, '\n', (size_t)(end - p));
                size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
                if (n && *p != '#') {
                    const char* sp = (const char*)memchr(p, ' ', n);
                    const char* sp2 = sp ? (const char*)memchr(sp + 1, ' ', n - (size_t)(sp + 1 - p)) : NULL;
                    if (sp2) {
                        char* name = hil_strndup(sp2 + 1, n - (size_t)(sp2 + 1 - p));
                        int64_t ema;
                        uint32_t count;
                        FUZZ_CHECK(hil_sched_history_lookup(h2, name, &ema, &count) == HIL_OK, "'%s' not found", name);
                        HIL_FREE(name);
                    }
                }
                p += n + 1;
            }
        }
    } else {
        FUZZ_CHECK(bad >= 1, "an error without the line number");
    }
    hil_sched_history_destroy(h);
    hil_sched_history_destroy(h2);
    hil_sb_free(&a);
    hil_sb_free(&b);
    free(buf);
    hil_clear_error();
    fuzz_clock_check(size, "hil_sched_history_parse");
    return 0;
}
