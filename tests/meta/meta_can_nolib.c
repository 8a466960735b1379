/* A build of hil without libsocketcan (even where the Makefile found it):
 * the socketcan channel and the hil_can_* functions must say what is
 * missing. Run by tests/test_can.c. */
#undef HIL_HAVE_LIBSOCKETCAN
#define HIL_IMPLEMENTATION
#include "hil.h"
#include "hil_connectors.h"

#include <string.h>

static hil_result make(const char* const* opts, hil_channel** out) {
    hil_channel_config c;
    hil_channel_config_init(&c);
    c.name = "bus";
    c.type = "socketcan";
    c.options = opts;
    return hil_channel_create(&c, out);
}

HIL_TEST(can_nolib, interface_options_need_libsocketcan) {
    const char* opts[] = {"interface=can0", "bitrate=500000", NULL};
    const char* up[] = {"interface=can0", "state=up", NULL};
    hil_channel* ch = NULL;
    HIL_ASSERT_EQ(make(opts, &ch), HIL_ERR_MISSING_LIBRARY);
    HIL_EXPECT(strstr(hil_last_error(), "socketcan 'bus': option bitrate needs libsocketcan") &&
               strstr(hil_last_error(), "apt-get install libsocketcan-dev") &&
               strstr(hil_last_error(), "ip link set can0 up type can bitrate"), "%s", hil_last_error());
    HIL_ASSERT_EQ(make(up, &ch), HIL_ERR_MISSING_LIBRARY);
    HIL_EXPECT(strstr(hil_last_error(), "option state=up needs libsocketcan"), "%s", hil_last_error());
}

HIL_TEST(can_nolib, a_channel_without_them_is_created) {
    const char* opts[] = {"interface=can0", "filters=123:7FF", NULL};
    hil_channel* ch = NULL;
    HIL_ASSERT_OK(make(opts, &ch));
    hil_channel_destroy(ch);
}

HIL_TEST(can_nolib, interface_control_functions_name_the_library) {
    hil_can_state st;
    hil_can_stats s;
    HIL_EXPECT_EQ(hil_can_set_bitrate("can0", 500000, 0), HIL_ERR_MISSING_LIBRARY);
    HIL_EXPECT(strstr(hil_last_error(), "set bitrate on can0: hil was built without libsocketcan"), "%s",
               hil_last_error());
    HIL_EXPECT_EQ(hil_can_get_state("can0", &st), HIL_ERR_MISSING_LIBRARY);
    HIL_EXPECT_EQ(st, HIL_CAN_STATE_UNKNOWN);
    HIL_EXPECT_EQ(hil_can_get_stats("can0", &s), HIL_ERR_MISSING_LIBRARY);
    HIL_EXPECT_EQ(hil_can_start("can0"), HIL_ERR_MISSING_LIBRARY);
}

HIL_MAIN()
