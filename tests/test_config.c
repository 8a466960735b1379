/* The configuration store: priorities, ties, multiple values, references,
 * files and their errors, typed getters, entities. */
#include "selftest.h"

HIL_SUITE(config, "tags=core")

/* Options used only by these tests. */
HIL_FRAMEWORK_EXTENSION(config_test_options) {
    hil_option* o;
    ext->description = "Options for the config self-tests";
    ext->load_order = 900;
    hil_ext_option(ext, "t.name", HIL_OPT_STRING, "anonymous", "a name");
    hil_ext_option(ext, "t.count", HIL_OPT_INT, "3", "a count");
    hil_ext_option(ext, "t.ratio", HIL_OPT_FLOAT, "0.5", "a ratio");
    hil_ext_option(ext, "t.on", HIL_OPT_BOOL, "false", "a switch");
    hil_ext_option(ext, "t.mode", HIL_OPT_CHOICE, "fast", "a mode")->choices = "fast|slow";
    o = hil_ext_option(ext, "t.tags", HIL_OPT_STRING, NULL, "tags");
    o->flags = HIL_OPT_MULTIPLE;
    hil_ext_option(ext, "t.a", HIL_OPT_STRING, NULL, "for references");
    hil_ext_option(ext, "t.b", HIL_OPT_STRING, NULL, "for references");
    hil_ext_option(ext, "t.c", HIL_OPT_STRING, NULL, "for references");
    hil_ext_option(ext, "t.boards.*.port", HIL_OPT_INT, "1000", "an entity option");
}

static hil_config* fresh(void) {
    hil_config* c = NULL;
    HIL_ASSERT_OK(hil_config_create(&c));
    return c;
}

HIL_TEST(config, the_highest_priority_wins_and_a_tie_keeps_the_first) {
    hil_config* c = fresh();
    hil_config_value v;
    HIL_EXPECT_STREQ(hil_config_get(c, "t.name", NULL), "anonymous", "the default");
    HIL_ASSERT_OK(hil_config_set(c, "t.name", "file-a", 10, "a.conf:1"));
    HIL_ASSERT_OK(hil_config_set(c, "t.name", "file-a-again", 10, "a.conf:9"));
    HIL_EXPECT_STREQ(hil_config_get(c, "t.name", NULL), "file-a", "a tie keeps the first value added");
    HIL_ASSERT_OK(hil_config_set(c, "t.name", "cli", 100, "--set"));
    HIL_ASSERT_OK(hil_config_set(c, "t.name", "env", 90, "env"));
    HIL_EXPECT_STREQ(hil_config_get(c, "t.name", NULL), "cli");
    HIL_ASSERT(hil_config_lookup(c, "t.name", &v));
    HIL_EXPECT_EQ(v.priority, 100);
    HIL_EXPECT_STREQ(v.source, "--set");
    hil_config_destroy(c);
}

HIL_TEST(config, multiple_options_take_the_union) {
    hil_config* c = fresh();
    const char* vals[8];
    size_t n;
    hil_config_set(c, "t.tags", "smoke", 10, "a");
    hil_config_set(c, "t.tags", "uart", 100, "b");
    hil_config_set(c, "t.tags", "smoke", 90, "c");
    n = hil_config_get_list(c, "t.tags", vals, 8);
    HIL_ASSERT_EQ(n, 2);
    HIL_EXPECT_STREQ(vals[0], "smoke");
    HIL_EXPECT_STREQ(vals[1], "uart");
    hil_config_destroy(c);
}

HIL_TEST(config, typed_getters_and_their_errors) {
    hil_config* c = fresh();
    long long i;
    double d;
    int b;
    HIL_EXPECT_EQ(hil_config_get_int(c, "t.count", -1), 3, "the option's default");
    HIL_EXPECT_NEAR(hil_config_get_float(c, "t.ratio", -1), 0.5, 1e-12);
    hil_config_set(c, "t.count", "0x10", 10, "x.conf:2:9");
    HIL_EXPECT_EQ(hil_config_get_int(c, "t.count", -1), 16);
    hil_config_set(c, "t.on", "yes", 10, "x");
    HIL_ASSERT_OK(hil_config_get_bool_ex(c, "t.on", &b));
    HIL_EXPECT_EQ(b, 1);
    hil_config_set(c, "t.ratio", "lots", 10, "x.conf:3:9");
    HIL_EXPECT_EQ(hil_config_get_float_ex(c, "t.ratio", &d), HIL_ERR_CONFIG);
    HIL_EXPECT_STREQ(hil_last_error(), "x.conf:3:9: t.ratio: expected a number, got 'lots'");
    HIL_EXPECT_EQ(hil_config_get_int_ex(c, "t.nothing", &i), HIL_ERR_NOT_FOUND);
    hil_config_destroy(c);
}

HIL_TEST(config, references_expand_and_cycles_are_errors) {
    hil_config* c = fresh();
    setenv("HIL_SELFTEST_VAR", "from-env", 1);
    unsetenv("HIL_SELFTEST_UNSET");
    hil_config_set(c, "t.a", "lab-${t.b}", 10, "r.conf:1");
    hil_config_set(c, "t.b", "${env:HIL_SELFTEST_VAR}/${env:HIL_SELFTEST_UNSET:-dflt}", 10, "r.conf:2");
    HIL_EXPECT_STREQ(hil_config_get(c, "t.a", NULL), "lab-from-env/dflt");
    hil_config_set(c, "t.c", "$${literal} ENV{HIL_SELFTEST_UNSET=pykiso-default}", 10, "r.conf:3");
    HIL_EXPECT_STREQ(hil_config_get(c, "t.c", NULL), "${literal} pykiso-default");
    HIL_EXPECT_OK(hil_config_validate(c));
    /* a cycle: a -> b -> a */
    hil_config_unset(c, "t.b");
    hil_config_set(c, "t.b", "${t.a}", 10, "r.conf:2");
    HIL_EXPECT_EQ(hil_config_validate(c), HIL_ERR_CONFIG);
    HIL_EXPECT(strstr(hil_last_error(), "reference cycle ${t.a} -> ${t.b} -> ${t.a}"), "%s", hil_last_error());
    /* a reference to nothing */
    hil_config_unset(c, "t.b");
    hil_config_set(c, "t.b", "${t.nowhere}", 10, "r.conf:2");
    HIL_EXPECT_EQ(hil_config_validate(c), HIL_ERR_CONFIG);
    HIL_EXPECT(strstr(hil_last_error(), "refers to ${t.nowhere}, which is not set"), "%s", hil_last_error());
    hil_config_destroy(c);
}

HIL_TEST(config, key_value_files_with_sections_quotes_and_comments) {
    hil_config* c = fresh();
    const char* text = "# a lab\n"
                       "t.name = \"bench \\\"A\\\"\"   \n"
                       "t.mode = slow # trailing comment\n"
                       "[t.boards.dut]\n"
                       "port = 4000\n"
                       "t.tags += smoke\n";
    const char* ents[4];
    hil_config_value v;
    HIL_ASSERT_OK(hil_config_load_kv(c, text, "lab.conf", 12));
    HIL_EXPECT_STREQ(hil_config_get(c, "t.name", NULL), "bench \"A\"");
    HIL_EXPECT_STREQ(hil_config_get(c, "t.mode", NULL), "slow");
    HIL_EXPECT_EQ(hil_config_get_int(c, "t.boards.dut.port", 0), 4000);
    HIL_EXPECT_EQ(hil_config_get_int(c, "t.boards.other.port", 0), 1000, "entity default");
    HIL_ASSERT(hil_config_lookup(c, "t.boards.dut.port", &v));
    HIL_EXPECT_STREQ(v.source, "lab.conf:5:8");
    HIL_EXPECT_EQ(v.priority, 12);
    HIL_EXPECT_EQ(hil_config_entities(c, "t.boards", ents, 4), 1);
    HIL_EXPECT_STREQ(ents[0], "dut");
    HIL_EXPECT_EQ(hil_config_load_kv(c, "t.name = \"unterminated\n", "bad.conf", 10), HIL_ERR_CONFIG);
    HIL_EXPECT(strstr(hil_last_error(), "bad.conf:1:10: unterminated quoted value"), "%s", hil_last_error());
    HIL_EXPECT_EQ(hil_config_load_kv(c, "[oops\n", "bad.conf", 10), HIL_ERR_CONFIG);
    HIL_EXPECT(strstr(hil_last_error(), "bad.conf:1:1: section header without ']'"), "%s", hil_last_error());
    hil_config_destroy(c);
}

HIL_TEST(config, validation_names_unknown_keys_and_wrong_types) {
    hil_config* c = fresh();
    hil_config_set(c, "t.nmae", "x", 10, "v.conf:1:8");
    hil_config_set(c, "t.count", "many", 10, "v.conf:2:9");
    hil_config_set(c, "t.mode", "medium", 10, "v.conf:3:8");
    hil_config_set(c, "t.boards.dut.prot", "1", 10, "v.conf:4:1");
    HIL_EXPECT_EQ(hil_config_validate(c), HIL_ERR_CONFIG);
    HIL_EXPECT(strstr(hil_last_error(), "v.conf:1:8: unknown key 't.nmae'; did you mean 't.name'?"), "%s", hil_last_error());
    HIL_EXPECT(strstr(hil_last_error(), "v.conf:2:9: t.count: expected an integer, got 'many'"), "%s", hil_last_error());
    HIL_EXPECT(strstr(hil_last_error(), "'medium' is not allowed; expected one of fast|slow"), "%s", hil_last_error());
    HIL_EXPECT(strstr(hil_last_error(), "did you mean 't.boards.dut.port'?"), "entity names are kept: %s", hil_last_error());
    hil_config_destroy(c);
}

HIL_TEST(config, yaml_maps_lists_and_errors) {
    hil_config* c = fresh();
#ifndef HIL_HAVE_LIBYAML
    HIL_EXPECT_EQ(hil_config_load_yaml(c, "t:\n  name: x\n", "lab.yaml", 10), HIL_ERR_MISSING_LIBRARY);
    HIL_EXPECT(strstr(hil_last_error(), "apt-get install libyaml-dev"), "%s", hil_last_error());
    hil_config_destroy(c);
    HIL_SKIP("built without libyaml (apt-get install libyaml-dev, then rebuild)");
#else
    const char* vals[4];
    HIL_ASSERT_OK(hil_config_load_yaml(c,
                                       "t:\n"
                                       "  name: yaml lab\n"
                                       "  tags: [smoke, can]\n"
                                       "  boards:\n"
                                       "    dut:\n"
                                       "      config:\n"
                                       "        port: 4100\n",
                                       "lab.yaml", 20));
    HIL_EXPECT_STREQ(hil_config_get(c, "t.name", NULL), "yaml lab");
    HIL_EXPECT_EQ(hil_config_get_list(c, "t.tags", vals, 4), 2);
    HIL_EXPECT_STREQ(vals[1], "can");
    HIL_EXPECT_EQ(hil_config_get_int(c, "t.boards.dut.port", 0), 4100, "config: under an entity is dropped");
    HIL_EXPECT_EQ(hil_config_load_yaml(c, "t:\n  name: [x\n", "bad.yaml", 10), HIL_ERR_CONFIG);
    HIL_EXPECT(strstr(hil_last_error(), "bad.yaml:"), "%s", hil_last_error());
    HIL_EXPECT_EQ(hil_config_load_yaml(c, "- a\n- b\n", "list.yaml", 10), HIL_ERR_CONFIG);
    HIL_EXPECT(strstr(hil_last_error(), "list.yaml:1:1: the document must be a mapping"), "%s", hil_last_error());
    hil_config_destroy(c);
#endif
}

HIL_TEST(config, unset_keeps_the_table_consistent) {
    hil_config* c = fresh();
    char key[64];
    int i;
    for (i = 0; i < 500; i++) {
        snprintf(key, sizeof key, "t.boards.b%d.port", i);
        HIL_ASSERT_OK(hil_config_set(c, key, "1", 10, "x"));
    }
    for (i = 0; i < 500; i += 2) {
        snprintf(key, sizeof key, "t.boards.b%d.port", i);
        HIL_ASSERT_OK(hil_config_unset(c, key));
    }
    for (i = 0; i < 500; i++) {
        snprintf(key, sizeof key, "t.boards.b%d.port", i);
        HIL_ASSERT_EQ(hil_config_has(c, key), i % 2, "%s", key);
    }
    hil_config_destroy(c);
}
