/* Extensions, stages, commands and the configuration as the program sees
 * it: runs tests/meta/meta_ext and checks what it prints. */
#include "selftest.h"

HIL_SUITE(extensions, "tags=meta")

static void run_ext(st_result* r, const char* const* args, const char* const* env) {
    const char* argv[16];
    size_t n = 0;
    argv[n++] = st_meta("meta_ext");
    while (args && *args && n < 15) argv[n++] = *args++;
    argv[n] = NULL;
    st_run(argv, env, 20000, r);
}

static const char* write_conf(const char* name, const char* text) {
    const char* p = st_path(name);
    HIL_ASSERT_OK(hil_write_file_atomic(p, text, strlen(text)));
    return p;
}

HIL_TEST(extensions, load_order_stages_replaces_and_reverse_destroy) {
    st_result r;
    const char* a[] = {"order", NULL};
    const char* out;
    run_ext(&r, a, NULL);
    HIL_ASSERT_EQ(r.code, 0, "%s", r.out);
    HIL_EXPECT(st_has(&r, "order: early provider new_impl listener commands_demo report_cap \n"), "%s", r.out);
    HIL_EXPECT(!st_has(&r, "optional_feature"), "disabled at load order 12: never created");
    HIL_EXPECT(!st_has(&r, "old_impl"), "replaced by new_impl");
    HIL_EXPECT(!st_has(&r, "both_caps"), "{tests,report} is not a subset of order's {report}");
    /* destroyed in reverse creation order */
    out = strstr(r.out, "destroy report_cap\ndestroy commands_demo\ndestroy listener\ndestroy new_impl\ndestroy provider\ndestroy early\n");
    HIL_EXPECT(out != NULL, "%s", r.out);
    st_result_free(&r);
}

HIL_TEST(extensions, a_config_file_feeds_early_stages_and_entities) {
    st_result r;
    const char* conf = write_conf("early.conf", "demo.keep_optional = true\n[boards.alpha]\nkind = dut\n"
                                                "[boards.beta]\nkind = reference\n");
    const char* a[] = {"-c", conf, "order", NULL};
    run_ext(&r, a, NULL);
    HIL_ASSERT_EQ(r.code, 0, "%s", r.out);
    HIL_EXPECT(st_has(&r, "order: early provider boards:alpha boards:beta new_impl listener optional_feature commands_demo"),
               "%s", r.out);
    st_result_free(&r);
}

/* Instances are made in the order the configuration declares the entities,
 * as auxiliaries are, and destroyed in reverse. */
HIL_TEST(extensions, instances_follow_the_declared_order) {
    st_result r;
    const char* conf = write_conf("declared.conf", "[boards.zeta]\nkind = dut\n[boards.alpha]\nkind = reference\n");
    const char* a[] = {"-c", conf, "order", NULL};
    run_ext(&r, a, NULL);
    HIL_ASSERT_EQ(r.code, 0, "%s", r.out);
    HIL_EXPECT(st_has(&r, "boards:zeta boards:alpha new_impl"), "%s", r.out);
    HIL_EXPECT(st_has(&r, "destroy boards:alpha\ndestroy boards:zeta\n"), "%s", r.out);
    st_result_free(&r);
}

/* The first instance of an instanced extension defines its endpoints, also
 * when other extensions were created before it. */
HIL_TEST(extensions, an_instanced_extension_defines_its_endpoints) {
    st_result r;
    const char* conf = write_conf("ep.conf", "[boards.alpha]\nkind = dut\n[boards.beta]\nkind = dut\n");
    const char* a[] = {"-c", conf, "endpoints", NULL};
    run_ext(&r, a, NULL);
    HIL_ASSERT_EQ(r.code, 0, "%s", r.out);
    HIL_EXPECT(st_has(&r, "board_events"), "%s", r.out);
    HIL_EXPECT(st_has(&r, "board_ready"), "%s", r.out);
    st_result_free(&r);
}

HIL_TEST(extensions, disable_and_enable_from_the_command_line) {
    st_result r;
    const char* a1[] = {"--disable", "provider", "order", NULL};
    const char* a2[] = {"--enable", "optional_feature", "optional-cmd", NULL};
    const char* a3[] = {"optional-cmd", NULL};
    const char* a4[] = {"--disable", "nosuchext", "order", NULL};
    run_ext(&r, a1, NULL);
    HIL_EXPECT(st_has(&r, "order: early new_impl"), "%s", r.out);
    st_result_free(&r);
    run_ext(&r, a2, NULL);
    /* --enable is an override, but early (order 12) disables it again */
    HIL_EXPECT_NE(r.code, 0, "%s", r.out);
    st_result_free(&r);
    run_ext(&r, a3, NULL);
    HIL_EXPECT_EQ(r.code, 2, "a disabled extension's command does not exist\n%s", r.out);
    HIL_EXPECT(st_has(&r, "belongs to the extension 'optional_feature', which is disabled"), "%s", r.out);
    st_result_free(&r);
    run_ext(&r, a4, NULL);
    HIL_EXPECT_EQ(r.code, 2, "%s", r.out);
    HIL_EXPECT(st_has(&r, "no extension named 'nosuchext'"), "%s", r.out);
    st_result_free(&r);
}

HIL_TEST(extensions, activate_on_and_deactivate_on) {
    st_result r;
    const char* a1[] = {"run", NULL};
    const char* a2[] = {"run", "--listen", NULL};
    const char* a3[] = {"run", "--listen", "--quiet-listener", NULL};
    run_ext(&r, a1, NULL);
    HIL_EXPECT(!st_has(&r, "listener:"), "inactive without demo.listen\n%s", r.out);
    HIL_EXPECT(st_has(&r, "destroy listener"), "inactive extensions are still created\n%s", r.out);
    st_result_free(&r);
    run_ext(&r, a2, NULL);
    HIL_EXPECT(st_has(&r, "listener: ext.one Passed"), "%s", r.out);
    HIL_EXPECT(st_has(&r, "listener: ext.two Failed"), "%s", r.out);
    st_result_free(&r);
    run_ext(&r, a3, NULL);
    HIL_EXPECT(!st_has(&r, "listener:"), "deactivate_on wins\n%s", r.out);
    st_result_free(&r);
}

HIL_TEST(extensions, capabilities_decide_which_command_extensions_attach) {
    st_result r;
    const char* a1[] = {"extensions", "--command", "run", NULL};
    const char* a2[] = {"extensions", "--command", "list", NULL};
    const char* a3[] = {"list", NULL};
    run_ext(&r, a1, NULL);
    HIL_ASSERT_EQ(r.code, 0, "%s", r.out);
    HIL_EXPECT(st_has(&r, "attaches to 'run': extends {report}, a subset of what 'run' uses {tests,report}"), "%s",
               r.out);
    HIL_EXPECT(st_has(&r, "attaches to 'run': extends {tests,report}, a subset"), "%s", r.out);
    HIL_EXPECT(st_has(&r, "does not attach to 'run'"), "%s", r.out);
    st_result_free(&r);
    run_ext(&r, a2, NULL);
    HIL_EXPECT(st_has(&r, "attaches to 'list': names the command 'list'"), "%s", r.out);
    st_result_free(&r);
    run_ext(&r, a3, NULL);
    HIL_EXPECT(st_has(&r, "destroy names_list"), "created for 'list'\n%s", r.out);
    HIL_EXPECT(!st_has(&r, "destroy report_cap"), "not for 'list'\n%s", r.out);
    st_result_free(&r);
}

HIL_TEST(extensions, config_priorities_from_every_source) {
    st_result r;
    const char* conf = write_conf("greet.conf", "demo.greeting = from the file\n");
    const char* a1[] = {"greet", NULL};
    const char* a2[] = {"-c", conf, "greet", NULL};
    const char* a3[] = {"-c", conf, "greet", "--set", "demo.greeting=from the command line", NULL};
    const char* env[] = {"HIL_DEMO_GREETING=from the environment", NULL};
    run_ext(&r, a1, NULL);
    HIL_EXPECT(st_has(&r, "greet: hello from provider [20 extension provider]"), "%s", r.out);
    st_result_free(&r);
    run_ext(&r, a2, NULL);
    HIL_EXPECT(st_has(&r, "greet: hello from provider [20 extension provider]"), "the file (10) loses to 20\n%s",
               r.out);
    st_result_free(&r);
    run_ext(&r, a2, env);
    HIL_EXPECT(st_has(&r, "greet: from the environment [90 env HIL_DEMO_GREETING]"), "%s", r.out);
    st_result_free(&r);
    run_ext(&r, a3, env);
    HIL_EXPECT(st_has(&r, "greet: from the command line [100 command line --set]"), "%s", r.out);
    st_result_free(&r);
}

HIL_TEST(extensions, config_command_shows_value_priority_and_source) {
    st_result r;
    const char* conf = write_conf("show.conf", "[boards.alpha]\nkind = reference\n");
    const char* a[] = {"-c", conf, "config", "--set", "run.repeat=3", NULL};
    run_ext(&r, a, NULL);
    HIL_ASSERT_EQ(r.code, 0, "%s", r.out);
    HIL_EXPECT(st_has(&r, "hello from provider"), "%s", r.out);
    HIL_EXPECT(st_has(&r, "extension provider"), "%s", r.out);
    HIL_EXPECT(st_has(&r, "run.repeat"), "%s", r.out);
    HIL_EXPECT(st_has(&r, "command line --set"), "%s", r.out);
    HIL_EXPECT(st_has(&r, "boards.alpha.kind"), "%s", r.out);
    HIL_EXPECT(st_has(&r, "show.conf:2:8"), "file:line:column of the value\n%s", r.out);
    st_result_free(&r);
}

HIL_TEST(extensions, endpoints_command_lists_messages) {
    st_result r;
    const char* a[] = {"endpoints", NULL};
    run_ext(&r, a, NULL);
    HIL_ASSERT_EQ(r.code, 0, "%s", r.out);
    HIL_EXPECT(st_has(&r, "run - The test runner"), "%s", r.out);
    HIL_EXPECT(st_has(&r, "test_finished"), "%s", r.out);
    HIL_EXPECT(st_has(&r, "A test has a result"), "%s", r.out);
    st_result_free(&r);
}

HIL_TEST(extensions, a_missing_required_option_names_every_way_to_set_it) {
    st_result r;
    const char* a1[] = {"--enable", "needs_lab", "order", NULL};
    const char* a2[] = {"--enable", "needs_lab", "order", "--lab", "lab7", NULL};
    const char* env[] = {"HIL_DEMO_LAB=lab9", NULL};
    run_ext(&r, a1, NULL);
    HIL_EXPECT_EQ(r.code, 3, "%s", r.out);
    HIL_EXPECT(st_has(&r, "missing required option 'demo.lab'"), "%s", r.out);
    HIL_EXPECT(st_has(&r, "'demo.lab = ...'"), "%s", r.out);
    HIL_EXPECT(st_has(&r, "HIL_DEMO_LAB"), "%s", r.out);
    HIL_EXPECT(st_has(&r, "--set demo.lab=..."), "%s", r.out);
    HIL_EXPECT(st_has(&r, "or --lab"), "%s", r.out);
    st_result_free(&r);
    run_ext(&r, a2, NULL);
    HIL_EXPECT_EQ(r.code, 0, "%s", r.out);
    st_result_free(&r);
    run_ext(&r, a1, env);
    HIL_EXPECT_EQ(r.code, 0, "%s", r.out);
    st_result_free(&r);
}

HIL_TEST(extensions, a_message_defined_twice_is_an_error) {
    st_result r;
    const char* a[] = {"--enable", "dup_endpoint", "order", NULL};
    run_ext(&r, a, NULL);
    HIL_EXPECT_NE(r.code, 0, "%s", r.out);
    HIL_EXPECT(st_has(&r, "endpoint 'run' is defined twice (by commands and dup_endpoint)"), "%s", r.out);
    st_result_free(&r);
}

HIL_TEST(extensions, bad_config_files_give_file_line_column_and_a_suggestion) {
    st_result r;
    const char* typo = write_conf("typo.conf", "# lab settings\ndemo.greting = hi\n");
    const char* wrong = write_conf("wrong.conf", "[boards.alpha]\nkind = spare\n");
    const char* broken = write_conf("broken.conf", "demo.greeting\n");
    const char* a1[] = {"-c", typo, "order", NULL};
    const char* a2[] = {"-c", wrong, "order", NULL};
    const char* a3[] = {"-c", broken, "order", NULL};
    const char* a4[] = {"-c", "/nonexistent/lab.conf", "order", NULL};
    run_ext(&r, a1, NULL);
    HIL_EXPECT_EQ(r.code, 3, "%s", r.out);
    HIL_EXPECT(st_has(&r, "typo.conf:2:16: unknown key 'demo.greting'; did you mean 'demo.greeting'?"), "%s", r.out);
    st_result_free(&r);
    run_ext(&r, a2, NULL);
    HIL_EXPECT_EQ(r.code, 3, "%s", r.out);
    HIL_EXPECT(st_has(&r, "wrong.conf:2:8: boards.alpha.kind: 'spare' is not allowed; expected one of dut|reference"),
               "%s", r.out);
    st_result_free(&r);
    run_ext(&r, a3, NULL);
    HIL_EXPECT_EQ(r.code, 3, "%s", r.out);
    HIL_EXPECT(st_has(&r, "broken.conf:1:1: expected 'key = value'"), "%s", r.out);
    st_result_free(&r);
    run_ext(&r, a4, NULL);
    HIL_EXPECT_EQ(r.code, 3, "%s", r.out);
    HIL_EXPECT(st_has(&r, "cannot read '/nonexistent/lab.conf': No such file or directory"), "%s", r.out);
    st_result_free(&r);
}

HIL_TEST(extensions, yaml_config_in_the_pykiso_layout) {
    st_result r;
    const char* yaml;
#ifndef HIL_HAVE_LIBYAML
    HIL_SKIP("built without libyaml (apt-get install libyaml-dev, then rebuild)");
#endif
    write_conf("boards.yaml", "kind: reference\n");
    yaml = write_conf("lab.yaml",
                      "demo:\n"
                      "  keep_optional: true\n"
                      "boards:\n"
                      "  alpha:\n"
                      "    config:\n"
                      "      kind: dut\n"
                      "  gamma: !include boards.yaml\n");
    {
        const char* args[] = {"-c", yaml, "order", NULL};
        run_ext(&r, args, NULL);
    }
    HIL_EXPECT_EQ(r.code, 0, "%s", r.out);
    /* "config:" under an entity is dropped (pykiso layout); !include nests a file */
    HIL_EXPECT(st_has(&r, "boards:alpha boards:gamma "), "%s", r.out);
    HIL_EXPECT(st_has(&r, "optional_feature"), "%s", r.out);
    st_result_free(&r);
    {
        const char* bad = write_conf("bad.yaml", "demo:\n  greeting: [unclosed\n");
        const char* args[] = {"-c", bad, "order", NULL};
        run_ext(&r, args, NULL);
        HIL_EXPECT_EQ(r.code, 3, "%s", r.out);
        HIL_EXPECT(st_has(&r, "bad.yaml:"), "%s", r.out);
        HIL_EXPECT(st_has(&r, "YAML syntax error"), "%s", r.out);
        st_result_free(&r);
    }
}
