/* Registration without constructor attributes (HIL_NO_CONSTRUCTORS): the
 * explicit table API for toolchains that lack them. */
#define HIL_NO_CONSTRUCTORS
#define HIL_IMPLEMENTATION
#include "hil.h"

HIL_TEST(table, first) { HIL_ASSERT_EQ(1, 1); }
HIL_TEST_META(table, second, "tags=x") { HIL_ASSERT_STREQ("a", "a"); }
HIL_SUITE_SETUP(table) { HIL_INFO("meta.table", "setup ran"); }

static const hil_test_entry tests[] = {
    HIL_TEST_ENTRY(table, first, ""),
    HIL_TEST_ENTRY(table, second, "tags=x"),
};

static int answer_cmd(hil_cmd_ctx* ctx) {
    (void)ctx;
    printf("answer: 42\n");
    return 0;
}

HIL_FRAMEWORK_EXTENSION(answer) { hil_ext_command(ext, "answer", "Print the answer", answer_cmd); }

int main(int argc, char** argv) {
    hil_register_tests(tests, sizeof tests / sizeof tests[0]);
    hil_register_suite_setup("table", hil__setup_table);
    HIL_EXTENSION_REGISTER(answer, HIL_EXT_FRAMEWORK);
    return hil_main(argc, argv);
}
