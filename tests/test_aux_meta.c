/* Auxiliaries in a real run (tests/meta/aux_meta.c with a configuration
 * file): remote tests on the device simulator, requires= blocking, a
 * child's crash Erroring the test, a child's logs and drop warnings in the
 * report, a proxy for a shared connector, auxiliaries recreated after a
 * worker crash. Once with the DUT on the thread backend, once on process. */
#include "selftest.h"

HIL_SUITE(aux_meta, "tags=aux")

/* result and reason of a test in results.json, by full name */
static void find_test(const char* json, const char* full, char** result, char** reason, char** output,
                      char** warnings) {
    int s, t;
    *result = *reason = *output = *warnings = NULL;
    for (s = 0; s < 50; s++) {
        for (t = 0; t < 100; t++) {
            char path[64];
            char* name;
            snprintf(path, sizeof path, "suites.%d.tests.%d.full_name", s, t);
            name = st_json_get(json, path);
            if (!name) break;
            if (strcmp(name, full) == 0) {
                free(name);
                snprintf(path, sizeof path, "suites.%d.tests.%d.result", s, t);
                *result = st_json_get(json, path);
                snprintf(path, sizeof path, "suites.%d.tests.%d.reason", s, t);
                *reason = st_json_get(json, path);
                snprintf(path, sizeof path, "suites.%d.tests.%d.output", s, t);
                *output = st_json_get(json, path);
                snprintf(path, sizeof path, "suites.%d.tests.%d.warnings", s, t);
                *warnings = st_json_get(json, path);
                return;
            }
            free(name);
        }
        if (t == 0) break;
    }
}

static void expect(const char* json, const char* full, const char* result, const char* reason_part) {
    char *res, *why, *out, *warn;
    find_test(json, full, &res, &why, &out, &warn);
    HIL_EXPECT(res != NULL, "%s is in the report", full);
    if (res) HIL_EXPECT_STREQ(res, result, "%s (%s)", full, why ? why : "");
    if (reason_part) HIL_EXPECT(why && strstr(why, reason_part), "%s: reason '%s' has '%s'", full, why ? why : "", reason_part);
    free(res);
    free(why);
    free(out);
    free(warn);
}

/* "tests/meta/aux_meta.c:N" of the line that starts with decl */
static void decl_at(const char* decl, char* out, size_t size) {
    char* src = st_read("tests/meta/aux_meta.c");
    const char* p = strstr(src, decl);
    int line = 1;
    const char* q;
    HIL_ASSERT(p != NULL, "no '%s' in tests/meta/aux_meta.c", decl);
    for (q = src; q < p; q++) line += *q == '\n';
    snprintf(out, size, "tests/meta/aux_meta.c:%d", line);
    free(src);
}

/* A failure on the target is reported at the user's HIL_REMOTE_TEST (or
 * HIL_REMOTE_SUITE_SETUP) line in every report, not inside hil_aux.h. */
static void expect_declared_at(const st_result* r, const char* json, const char* junit) {
    char at[128], at_suite[128], want[320];
    char* j = st_read(junit);
    char *res, *why, *out, *warn, *file, *line;
    decl_at("HIL_REMOTE_TEST(fw, off_by_one,", at, sizeof at);
    decl_at("HIL_REMOTE_SUITE_SETUP(nohw,", at_suite, sizeof at_suite);
    find_test(json, "fw.off_by_one", &res, &why, &out, &warn);
    snprintf(want, sizeof want, "%s: failed - target: suite 1, case 2 failed", at);
    HIL_EXPECT(why && strncmp(why, want, strlen(want)) == 0, "JSON reason '%s', want '%s...'", why ? why : "", want);
    free(res); free(why); free(out); free(warn);
    file = line = NULL;
    {
        int si, ti;
        for (si = 0; si < 50 && !file; si++)
            for (ti = 0; ti < 100 && !file; ti++) {
                char path[80];
                char* name;
                snprintf(path, sizeof path, "suites.%d.tests.%d.full_name", si, ti);
                if (!(name = st_json_get(json, path))) break;
                if (strcmp(name, "fw.off_by_one") == 0) {
                    snprintf(path, sizeof path, "suites.%d.tests.%d.failures.0.file", si, ti);
                    file = st_json_get(json, path);
                    snprintf(path, sizeof path, "suites.%d.tests.%d.failures.0.line", si, ti);
                    line = st_json_get(json, path);
                }
                free(name);
            }
    }
    snprintf(want, sizeof want, "%s:%s", file ? file : "?", line ? line : "?");
    HIL_EXPECT_STREQ(want, at, "JSON failures[0] of fw.off_by_one");
    free(file);
    free(line);
    snprintf(want, sizeof want, "suite setup failed: %s: failed - target suite setup of suite 3", at_suite);
    expect(json, "nohw.blocked_by_suite", "Blocked", want);
    snprintf(want, sizeof want, "%s: failed - target: suite 1, case 2 failed", at);
    HIL_EXPECT(strstr(j, want) != NULL, "JUnit has no '%s'", want);
    HIL_EXPECT(st_has(r, want), "the console has no '%s':\n%s", want, r->out);
    HIL_EXPECT(!strstr(j, "hil_aux.h:") && !strstr(json, "hil_aux.h:") && !st_has(r, "hil_aux.h:"),
               "a location inside hil_aux.h is reported");
    free(j);
}

static void run_meta(const char* dut_backend) {
    char conf[4096], out[600];
    const char* cfg = st_path("lab.conf");
    const char* json = st_path("results.json");
    const char* junit = st_path("junit.xml");
    const char* argv[] = {st_meta("aux_meta"), "run", "-c", cfg, "--json", json, "--junit", junit, NULL};
    st_result r;
    char* text;
    char *res, *why, *output, *warn;
    snprintf(conf, sizeof conf,
             "connectors.target.type = simproc\n"
             "connectors.target.path = %s\n"
             "auxiliaries.dut.type = dut\n"
             "auxiliaries.dut.connectors.com = target\n"
             "auxiliaries.dut.backend = %s\n"
             "connectors.lb.type = loopback\n"
             "auxiliaries.c1.type = communication\n"
             "auxiliaries.c1.connectors.com = lb\n"
             "auxiliaries.c2.type = communication\n"
             "auxiliaries.c2.connectors.com = lb\n"
             "auxiliaries.probe.type = probe\n"
             "auxiliaries.probe.backend = process\n"
             "auxiliaries.probe2.type = probe\n"
             "auxiliaries.probe2.backend = process\n"
             "connectors.lb4.type = loopback\n"
             "auxiliaries.dropper.type = communication\n"
             "auxiliaries.dropper.connectors.com = lb4\n"
             "auxiliaries.dropper.queue_size = 2\n"
             "auxiliaries.dropper.overflow = drop-oldest\n",
             st_meta("dut_sim"), dut_backend);
    HIL_ASSERT_OK(hil_write_file_atomic(cfg, conf, strlen(conf)));
    st_run(argv, NULL, 60000, &r);
    HIL_EXPECT_EQ(r.code, 1, "some tests fail on purpose: %s", r.out);
    text = st_read(json);
    expect(text, "fw.adds", "Passed", NULL);
    expect(text, "fw.off_by_one", "Failed", "target: suite 1, case 2 failed: expected 42, got 41");
    expect(text, "fw.not_there", "Skipped", "not implemented on the target (suite 1, case 3)");
    expect(text, "fw.no_power", "Failed", "target setup of suite 1, case 5 failed: no power on the rail");
    expect(text, "fw.bad_cleanup", "Failed", "teardown of suite 1, case 7 failed: cleanup failed");
    expect(text, "nohw.blocked_by_suite", "Blocked", "suite 3 has no hardware");
    expect(text, "meta.missing_aux", "Blocked", "no auxiliary 'nothere' (configure auxiliaries.nothere.type)");
    expect(text, "meta.child_logs", "Passed", NULL);
    expect(text, "meta.crash", "Errored", "killed by SIGSEGV");
    expect(text, "meta.after_crash", "Blocked", "auxiliary 'probe' is crashed");
    expect(text, "meta.drops", "Passed", NULL);
    expect(text, "meta.shared_connector", "Passed", NULL);
    expect(text, "meta.worker_crash", "Errored", "SIGSEGV");
    expect(text, "meta.after_worker_crash", "Passed", NULL);
    expect_declared_at(&r, text, junit);
    /* the child's log line is in its test's output, with its logger */
    find_test(text, "meta.child_logs", &res, &why, &output, &warn);
    HIL_EXPECT(output && strstr(output, "hil.aux.probe2: hello from the child process"), "%s", output ? output : "");
    free(res); free(why); free(output); free(warn);
    /* the remote test's LOG from the target */
    find_test(text, "fw.adds", &res, &why, &output, &warn);
    HIL_EXPECT(output && strstr(output, "target: checking 1+1"), "%s", output ? output : "");
    free(res); free(why); free(output); free(warn);
    /* drops are a warning in the test's report */
    find_test(text, "meta.drops", &res, &why, &output, &warn);
    HIL_EXPECT(warn && strstr(warn, "received messages dropped"), "%s", warn ? warn : "");
    free(res); free(why); free(output); free(warn);
    snprintf(out, sizeof out, "%s", r.out);
    free(text);
    st_result_free(&r);
}

HIL_TEST_META(aux_meta, configured_run_with_the_dut_on_a_thread, "timeout=120") { run_meta("thread"); }
HIL_TEST_META(aux_meta, configured_run_with_the_dut_in_a_process, "timeout=120") { run_meta("process"); }

/* A connector or auxiliary type the configuration names but nobody
 * registered is a configuration error at start-up (exit 3: the code of the
 * other configuration errors) with the file and line and the registered
 * types; types registered before main by the program (simproc, probe in
 * aux_meta.c) are known by then. */
HIL_TEST(aux_meta, an_unknown_type_in_the_configuration_is_an_error_at_start_up) {
    static const struct {
        const char* file;
        const char* text;
        const char* want;
        const char* registered; /* one of the types the message lists */
    } cases[] = {
        {"types.conf",
         "# a known type of the program's own, then an unknown one\n"
         "connectors.target.type = simproc\n"
         "connectors.lb.type = telepathy\n",
         "types.conf:3:22: connector 'lb': unknown type 'telepathy' (registered: ", "simproc"},
        {"types2.conf",
         "connectors.lb.type = loopback\n"
         "auxiliaries.p.type = probe\n"
         "auxiliaries.com.type = carrier-pigeon\n"
         "auxiliaries.com.connectors.com = lb\n",
         "types2.conf:3:24: auxiliary 'com': unknown type 'carrier-pigeon' (registered: ", "probe"},
        {"types3.conf", "flashers.f.type = teleport\n", "types3.conf:1:19: flasher 'f': unknown type 'teleport' (registered: ",
         "command"},
#ifdef HIL_HAVE_LIBYAML
        {"types.yaml",
         "connectors:\n"
         "  lb:\n"
         "    type: loopback\n"
         "auxiliaries:\n"
         "  dut:\n"
         "    type: dutt\n"
         "    connectors: {com: lb}\n",
         "types.yaml:6:11: auxiliary 'dut': unknown type 'dutt' (registered: ", "dut"},
#endif
    };
    size_t i;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char* cfg = st_path(cases[i].file);
        const char* argv[] = {st_meta("aux_meta"), "run", "-c", cfg, "--filter", "fw.adds", NULL};
        st_result r;
        char reg[64];
        HIL_ASSERT_OK(hil_write_file_atomic(cfg, cases[i].text, strlen(cases[i].text)));
        st_run(argv, NULL, 30000, &r);
        HIL_EXPECT_EQ(r.code, 3, "%s: a configuration error:\n%s", cases[i].file, r.out);
        HIL_EXPECT(st_has(&r, cases[i].want), "%s: no '%s' in:\n%s", cases[i].file, cases[i].want, r.out);
        snprintf(reg, sizeof reg, " %s", cases[i].registered);
        HIL_EXPECT(st_has(&r, reg), "%s: the registered types are listed:\n%s", cases[i].file, r.out);
        HIL_EXPECT(!st_has(&r, "Blocked") && !st_has(&r, "running "), "%s: no test ran:\n%s", cases[i].file, r.out);
        st_result_free(&r);
    }
}
