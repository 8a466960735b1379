/* What a consumer of the installed package relies on: the headers, the
 * version macros and the optional libraries the package says it has. */
#include "hil.h"
#include "hil_connectors.h"

HIL_SUITE(installed, "")

HIL_TEST(installed, version_macros_agree) {
    char v[32];
    snprintf(v, sizeof v, "%d.%d.%d", HIL_VERSION_MAJOR, HIL_VERSION_MINOR, HIL_VERSION_PATCH);
    HIL_ASSERT_STREQ(v, HIL_VERSION);
    HIL_ASSERT(HIL_VERSION_AT_LEAST(HIL_VERSION_MAJOR, HIL_VERSION_MINOR, HIL_VERSION_PATCH));
    HIL_ASSERT(!HIL_VERSION_AT_LEAST(HIL_VERSION_MAJOR + 1, 0, 0));
    HIL_ASSERT(!HIL_VERSION_AT_LEAST(HIL_VERSION_MAJOR, HIL_VERSION_MINOR, HIL_VERSION_PATCH + 1));
}

HIL_TEST(installed, yaml_when_the_package_has_it) {
#ifdef HIL_HAVE_LIBYAML
    hil_config* c;
    HIL_ASSERT_OK(hil_config_create(&c));
    HIL_ASSERT_OK(hil_config_load_yaml(c, "board:\n  baud: 115200\n", "inline.yaml", 10));
    HIL_ASSERT_STREQ(hil_config_get(c, "board.baud", NULL), "115200");
    hil_config_destroy(c);
#else
    HIL_SKIP("the package was installed without libyaml");
#endif
}
