/* docs/jobs.md: every C example in it is compiled (it appears verbatim in
 * tests/meta/meta_jobs_doc.c, which the build compiles with -Werror), and
 * its jobs do what the document says. */
#include "selftest.h"

HIL_SUITE(jobs_docs, "tags=jobs,docs")

static void run_doc_job(const char* const* args, st_result* r) {
    const char* argv[16];
    int n = 0, i;
    argv[n++] = st_meta("meta_jobs_doc");
    argv[n++] = "job";
    for (i = 0; args[i] && n < 12; i++) argv[n++] = args[i];
    argv[n++] = "--runs";
    argv[n++] = st_path("docruns");
    argv[n++] = "--color=never";
    argv[n] = NULL;
    st_run(argv, NULL, 30000, r);
}

static char* latest(const char* name) {
    char path[1200];
    snprintf(path, sizeof path, "%s/latest/%s", st_path("docruns"), name);
    return st_read(path);
}

HIL_TEST(jobs_docs, every_c_example_is_in_the_compiled_program) {
    char* doc = st_read("docs/jobs.md");
    char* src = st_read("tests/meta/meta_jobs_doc.c");
    const char* p = doc;
    int blocks = 0;
    while ((p = strstr(p, "\n```c\n")) != NULL) {
        const char* start = p + 6;
        const char* end = strstr(start, "\n```");
        char* block;
        HIL_ASSERT(end != NULL, "an unterminated ```c block in docs/jobs.md");
        block = hil_strndup(start, (size_t)(end - start) + 1);
        HIL_EXPECT(strstr(src, block) != NULL, "this example of docs/jobs.md is not in tests/meta/meta_jobs_doc.c:\n%s",
                   block);
        free(block);
        blocks++;
        p = end + 4;
    }
    HIL_EXPECT(blocks >= 8, "only %d C examples found", blocks);
    free(doc);
    free(src);
}

HIL_TEST(jobs_docs, the_documented_jobs_run) {
    static const char* const smoke[] = {"smoke", NULL};
    static const char* const nightly[] = {"nightly", NULL};
    static const char* const parallel[] = {"parallel", NULL};
    static const char* const pool[] = {"pool", NULL};
    static const char* const shared[] = {"shared", NULL};
    static const char* const args_ok[] = {"args", "--board", "rev_c", "--quick", NULL};
    static const char* const args_bad[] = {"args", "--bogus", NULL};
    st_result r;
    char* text;
    run_doc_job(smoke, &r);
    HIL_EXPECT_EQ(r.code, 0, "%s", r.out);
    HIL_EXPECT(st_has(&r, "3 passed, 0 failed, 0 skipped"), "%s", r.out);
    st_result_free(&r);
    run_doc_job(nightly, &r);
    HIL_EXPECT_EQ(r.code, 0, "%s", r.out);
    HIL_EXPECT(st_has(&r, "job nightly-rev-b: Passed") && st_has(&r, "uart_slow"), "%s", r.out);
    text = latest("board.txt");
    HIL_EXPECT_STREQ(text, "board rev B, first task Passed\n");
    free(text);
    text = latest("TaskLog.uart_slow");
    HIL_EXPECT(strstr(text, "params baud=9600"), "%s", text);
    free(text);
    st_result_free(&r);
    run_doc_job(parallel, &r);
    HIL_EXPECT_EQ(r.code, 0, "%s", r.out);
    HIL_EXPECT(st_has(&r, "Task-1: Passed (pid ") && st_has(&r, "Task-2: Passed"), "%s", r.out);
    st_result_free(&r);
    run_doc_job(pool, &r);
    HIL_EXPECT_EQ(r.code, 0, "%s", r.out);
    HIL_EXPECT(st_has(&r, "10 tasks in") && st_has(&r, "10 passed, 0 failed"), "%s", r.out);
    st_result_free(&r);
    run_doc_job(shared, &r);
    HIL_EXPECT_EQ(r.code, 0, "%s", r.out);
    text = latest("JobLog");
    HIL_EXPECT(strstr(text, "the board was powered 2 times"), "%s", text);
    free(text);
    text = latest("TaskLog.Task-1");
    HIL_EXPECT(strstr(text, "powering rev_b"), "%s", text);
    free(text);
    st_result_free(&r);
    run_doc_job(args_ok, &r);
    HIL_EXPECT_EQ(r.code, 0, "%s", r.out);
    text = latest("TaskLog.Task-1");
    HIL_EXPECT(strstr(text, "params board=rev_c"), "%s", text);
    free(text);
    st_result_free(&r);
    run_doc_job(args_bad, &r);
    HIL_EXPECT_EQ(r.code, 1, "%s", r.out);
    HIL_EXPECT(st_has(&r, "unknown job argument '--bogus'"), "%s", r.out);
    st_result_free(&r);
}
