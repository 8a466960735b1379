/* fuzz/fuzz_labstate.c - a board's persistent health in the lab state
 * directory (hil_lab_state_parse, hil_runner.h part 3), as found on disk
 * after any crash.
 *
 * Input: the file's bytes.
 * Properties: whatever parses (wholly or in part: a torn file gives its
 * whole lines) is written (hil_lab_state_format) and parsed again without
 * a fault into the same state, and writing that gives the same text; every
 * text field stays terminated inside its buffer; at most HIL_LAB_EVENTS
 * events are kept. */
#define HIL_IMPLEMENTATION
#include "hil.h"
#include "hil_runner.h"

#include "fuzz_common.h"

static void check_terminated(const char* s, size_t cap, const char* what) {
    FUZZ_CHECK(memchr(s, 0, cap) != NULL, "%s is not terminated", what);
}

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    hil_lab_board_state* st = (hil_lab_board_state*)malloc(sizeof *st);
    hil_lab_board_state* st2 = (hil_lab_board_state*)malloc(sizeof *st2);
    hil_strbuf a = {0, 0, 0, 0}, b = {0, 0, 0, 0};
    size_t bad = 0, i;
    hil_result r;
    /* a copy of exactly size bytes: the parser must not read past len */
    char* buf = (char*)malloc(size ? size : 1);
    if (!buf || !st || !st2) abort();
    if (size) memcpy(buf, data, size);
    fuzz_clock_start();
    r = hil_lab_state_parse(buf, size, st, &bad);
    FUZZ_CHECK(r == HIL_OK ? bad == 0 : r == HIL_ERR_INVALID_ARG, "result %d, bad line %zu", (int)r, bad);
    FUZZ_CHECK(st->n_events <= HIL_LAB_EVENTS, "%zu events kept", st->n_events);
    check_terminated(st->reason, sizeof st->reason, "reason");
    check_terminated(st->last_result, sizeof st->last_result, "last_result");
    check_terminated(st->last_run, sizeof st->last_run, "last_run");
    for (i = 0; i < st->n_events; i++) {
        check_terminated(st->events[i].kind, sizeof st->events[i].kind, "event kind");
        check_terminated(st->events[i].text, sizeof st->events[i].text, "event text");
    }
    FUZZ_CHECK(hil_lab_state_format(st, &a) == HIL_OK, "format");
    FUZZ_CHECK(hil_lab_state_parse(a.data, a.len, st2, &bad) == HIL_OK, "what was written does not parse: line %zu: %s",
               bad, hil_last_error());
    FUZZ_CHECK(st2->quarantined == st->quarantined && st2->streak == st->streak && st2->n_events == st->n_events,
               "a round trip changed the state");
    FUZZ_CHECK(hil_lab_state_format(st2, &b) == HIL_OK, "format");
    FUZZ_CHECK(a.len == b.len && memcmp(a.data, b.data, a.len) == 0, "writing is not stable:\n%s---\n%s",
               hil_sb_cstr(&a), hil_sb_cstr(&b));
    hil_sb_free(&a);
    hil_sb_free(&b);
    free(buf);
    free(st);
    free(st2);
    hil_clear_error();
    fuzz_clock_check(size, "hil_lab_state_parse");
    return 0;
}
