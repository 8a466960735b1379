/* The example programs of the documents in docs/ (extracted and compiled by
 * what the documents say. */
#include "selftest.h"

HIL_SUITE(doc_examples, "tags=docs")

static const char* example(const char* name) {
    static char buf[4][512];
    static int next;
    char* p = buf[next++ % 4];
    snprintf(p, 512, "%s/doc-examples/%s", st_build_dir(), name);
    if (access(p, X_OK) != 0) HIL_FAIL("%s is missing: run make (it extracts docs/*.md examples)", p);
    return p;
}

HIL_TEST(doc_examples, extensions_failure_budget) {
    st_result r;
    const char* a1[] = {example("ext_failure_budget"), "--max-failures", "1", NULL};
    const char* a2[] = {example("ext_failure_budget"), "list", "--max-failures", "1", NULL};
    st_run(a1, NULL, 10000, &r);
    HIL_EXPECT(st_has(&r, "failure budget of 1 exceeded by demo.fails_twice"), "%s", r.out);
    st_result_free(&r);
    st_run(a2, NULL, 10000, &r);
    HIL_EXPECT_EQ(r.code, 2, "%s", r.out);
    st_result_free(&r);
}

HIL_TEST(doc_examples, extensions_harness) {
    st_result r;
    const char* a[] = {example("ext_harness"), NULL};
    st_run(a, NULL, 10000, &r);
    HIL_EXPECT_EQ(r.code, 0, "%s", r.out);
    HIL_EXPECT(st_has(&r, "1 passed, 0 failed, 0 skipped"), "%s", r.out);
    st_result_free(&r);
}

HIL_TEST(doc_examples, extensions_command) {
    st_result r;
    const char* a1[] = {example("ext_command"), "lab-info", "--lab", "west", "x", NULL};
    const char* a2[] = {example("ext_command"), "lab-info", NULL};
    const char* env[] = {"LAB_HOST=", NULL};
    st_run(a1, env, 10000, &r);
    HIL_EXPECT_EQ(r.code, 0, "%s", r.out);
    HIL_EXPECT(st_has(&r, "lab west on bench-1.local\nargument: x\n"), "%s", r.out);
    st_result_free(&r);
    st_run(a2, NULL, 10000, &r);
    HIL_EXPECT_EQ(r.code, 3, "%s", r.out);
    HIL_EXPECT(st_has(&r, "HIL_LAB_NAME"), "%s", r.out);
    st_result_free(&r);
}

HIL_TEST(doc_examples, extensions_csv_reporter) {
    st_result r;
    const char* csv = st_path("results.csv");
    const char* a[] = {example("ext_csv_reporter"), "--csv", csv, NULL};
    char* text;
    st_run(a, NULL, 10000, &r);
    HIL_EXPECT_EQ(r.code, 1, "%s", r.out);
    text = st_read(csv);
    HIL_EXPECT(strstr(text, "test,result,seconds\ncsv.passes,Passed,"), "%s", text);
    HIL_EXPECT(strstr(text, "csv.crashes,Errored,"), "%s", text);
    free(text);
    st_result_free(&r);
}

static void run_drop_in(const char* dir) {
    char bin[512];
    st_result r;
    snprintf(bin, sizeof bin, "%s/%s/hil_tests", st_build_dir(), dir);
    if (access(bin, X_OK) != 0) HIL_FAIL("%s is missing: run make", bin);
    {
        const char* a[] = {bin, "--color=never", NULL};
        st_run(a, NULL, 10000, &r);
    }
    HIL_EXPECT_EQ(r.code, 0, "%s", r.out);
    HIL_EXPECT(st_has(&r, "2 passed, 0 failed, 1 skipped"), "%s", r.out);
    HIL_EXPECT(st_has(&r, "--set params.board_port=/dev/ttyUSB0"), "the skip says how to run it\n%s", r.out);
    st_result_free(&r);
}

HIL_TEST_META(doc_examples, the_drop_in_example_builds_and_passes, "tags=build") { run_drop_in("drop-in"); }

/* examples/drop-in/README.md's other route: hil_single.h copied in as hil.h. */
HIL_TEST_META(doc_examples, the_drop_in_example_builds_with_the_single_header, "tags=build") {
    char single[512];
    snprintf(single, sizeof single, "%s/single/hil_single.h", st_build_dir());
    if (access(single, R_OK) != 0) HIL_SKIP("no single header: amalgamate.py needs python3 (apt-get install python3)");
    run_drop_in("drop-in-single");
}

HIL_TEST_META(doc_examples, the_configuration_reference_is_current, "tags=build") {
    char bin[512];
    st_result r;
    char* doc;
    snprintf(bin, sizeof bin, "%s/all_headers", st_build_dir());
    if (access(bin, X_OK) != 0) HIL_FAIL("%s is missing: run make", bin);
    {
        const char* a[] = {bin, "config-doc", NULL};
        st_run(a, NULL, 10000, &r);
    }
    HIL_ASSERT_EQ(r.code, 0, "%s", r.out);
    doc = st_read("docs/config-reference.md");
    HIL_EXPECT(strcmp(doc, r.out) == 0,
               "docs/config-reference.md differs from what the code declares: run make docs-config and commit it");
    free(doc);
    st_result_free(&r);
}
