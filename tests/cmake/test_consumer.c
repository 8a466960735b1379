#include "hil.h"

HIL_TEST(consumer, links_against_hil) { HIL_ASSERT_STREQ(HIL_VERSION, "0.1.0"); }

HIL_TEST(consumer, optional_libraries_match_the_build) {
#ifdef HIL_HAVE_LIBYAML
    hil_config* c;
    HIL_ASSERT_OK(hil_config_create(&c));
    HIL_ASSERT_OK(hil_config_load_yaml(c, "a:\n  b: 1\n", "inline.yaml", 10));
    HIL_ASSERT_STREQ(hil_config_get(c, "a.b", NULL), "1");
    hil_config_destroy(c);
#else
    HIL_SKIP("libyaml not found by pkg-config");
#endif
}
