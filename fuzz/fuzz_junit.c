/* fuzz/fuzz_junit.c - hil_junit_read (hil_runner.h): JUnit XML from other
 * tools (a merge-results input, a task's report), written to a file.
 *
 * Input: the file's bytes.
 * Properties: what was read, written again with hil_junit_write and read
 * back, gives the same tests (suite, name) with the same outcomes (in
 * any order: the writer groups tests by suite): the
 * writer and the reader agree on everything the reader accepts. Names are
 * compared as the writer must give them: bytes XML cannot carry (control
 * characters, invalid UTF-8) are replaced on the way out, by design. */
#define HIL_IMPLEMENTATION
#include "hil.h"
#include "hil_runner.h"

#include "fuzz_common.h"

#include <unistd.h>

static char in_path[64], out_path[64];

/* The name as the writer must give it back. */
static void after_xml(hil_strbuf* out, const char* original) {
    hil_strbuf esc = {0, 0, 0, 0};
    hil_sb_xml_text(&esc, original, strlen(original));
    hil__xml_decode(out, esc.data ? esc.data : "", esc.len);
    hil_sb_free(&esc);
}

static int cmp_str(const void* x, const void* y) { return strcmp(*(char* const*)x, *(char* const*)y); }

/* "suite\x01name\x01outcome" for each test, sorted; normalize: as written. */
static char** keys(const hil_run_summary* s, int normalize) {
    char** k = (char**)calloc(s->n_results + 1, sizeof *k);
    size_t i;
    if (!k) abort();
    for (i = 0; i < s->n_results; i++) {
        hil_strbuf sb = {0, 0, 0, 0};
        const hil_test_result* r = &s->results[i];
        if (normalize) after_xml(&sb, r->test->suite);
        else hil_sb_puts(&sb, r->test->suite);
        hil_sb_putc(&sb, 1);
        if (normalize) after_xml(&sb, r->test->name);
        else hil_sb_puts(&sb, r->test->name);
        hil_sb_printf(&sb, "\x01%s", hil_outcome_str(r->outcome));
        k[i] = hil_sb_take(&sb);
    }
    qsort(k, s->n_results, sizeof *k, cmp_str);
    return k;
}

static void free_keys(char** k, size_t n) {
    size_t i;
    for (i = 0; i < n; i++) HIL_FREE(k[i]);
    free(k);
}

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    hil_run_summary *s = NULL, *back = NULL;
    const hil_run_summary* runs[1];
    FILE* f;
    size_t i;
    if (!in_path[0]) {
        snprintf(in_path, sizeof in_path, "/tmp/hil-fuzz-junit-%ld.xml", (long)getpid());
        snprintf(out_path, sizeof out_path, "/tmp/hil-fuzz-junit-%ld.out.xml", (long)getpid());
    }
    f = fopen(in_path, "wb");
    if (!f) abort();
    if (size && fwrite(data, 1, size, f) != size) abort();
    fclose(f);
    fuzz_clock_start();
    if (hil_junit_read(in_path, "fuzz", &s) == HIL_OK && s) {
        runs[0] = s;
        FUZZ_CHECK(hil_junit_write(out_path, runs, 1, "fuzz") == HIL_OK, "writing what was read: %s", hil_last_error());
        FUZZ_CHECK(hil_junit_read(out_path, "fuzz", &back) == HIL_OK && back, "reading what was written: %s",
                   hil_last_error());
        FUZZ_CHECK(back->n_results == s->n_results, "%zu tests read, %zu after writing and reading again",
                   s->n_results, back->n_results);
        {
            char **ka = keys(s, 1), **kb = keys(back, 0);
            for (i = 0; i < s->n_results; i++)
                FUZZ_CHECK(strcmp(ka[i], kb[i]) == 0, "a test (suite, name, outcome) '%s' came back as '%s'", ka[i], kb[i]);
            free_keys(ka, s->n_results);
            free_keys(kb, back->n_results);
        }
        hil_run_summary_free(back);
    }
    hil_run_summary_free(s);
    hil_clear_error();
    fuzz_clock_check(size, "hil_junit_read");
    return 0;
}
