/* A build of hil without SocketCAN (HIL_NO_SOCKETCAN: as on a system
 * without linux/can.h): everything compiles, the socketcan and isotp
 * channels say at open why they cannot work, and traces still work. Run by tests/test_can.c. */
#define HIL_NO_SOCKETCAN
#undef HIL_HAVE_LIBSOCKETCAN
#define HIL_IMPLEMENTATION
#include "hil.h"
#include "hil_connectors.h"

#include <string.h>

HIL_TEST(can_nolinux, open_explains) {
    const char* opts[] = {"interface=can0", NULL};
    hil_channel_config c;
    hil_channel* ch = NULL;
    hil_channel_config_init(&c);
    c.name = "bus";
    c.type = "socketcan";
    c.options = opts;
    HIL_ASSERT_OK(hil_channel_create(&c, &ch));
    HIL_EXPECT_EQ(hil_channel_open(ch), HIL_ERR_UNSUPPORTED);
    HIL_EXPECT(strstr(hil_last_error(), "SocketCAN needs Linux and its CAN headers") &&
               strstr(hil_last_error(), "HIL_NO_SOCKETCAN"), "%s", hil_last_error());
    hil_channel_destroy(ch);
    HIL_EXPECT_EQ(hil_can_start("can0"), HIL_ERR_UNSUPPORTED);
}

HIL_TEST(can_nolinux, isotp_open_explains) {
    const char* opts[] = {"interface=can0", "tx_id=7E0", "rx_id=7E8", NULL};
    hil_channel_config c;
    hil_channel* ch = NULL;
    uint32_t id;
    int ext;
    hil_channel_config_init(&c);
    c.name = "ecu";
    c.type = "isotp";
    c.options = opts;
    HIL_ASSERT_OK(hil_channel_create(&c, &ch), "options are still checked");
    HIL_EXPECT_EQ(hil_channel_open(ch), HIL_ERR_UNSUPPORTED);
    HIL_EXPECT(strstr(hil_last_error(), "ISO-TP needs Linux and its CAN headers") &&
               strstr(hil_last_error(), "HIL_NO_SOCKETCAN"), "%s", hil_last_error());
    hil_channel_destroy(ch);
    HIL_EXPECT_OK(hil_isotp_parse_id("18DA00F1", &id, &ext));
    HIL_EXPECT(id == 0x18DA00F1u && ext);
}

HIL_TEST(can_nolinux, frames_still_format) {
    unsigned char d[2] = {0xca, 0xfe};
    char text[HIL_CAN_FRAME_TEXT_MAX];
    hil_msg m;
    hil_msg_init(&m, d, sizeof d);
    m.len = 2;
    m.remote_id = 0x42;
    HIL_ASSERT(hil_can_format_frame(&m, text, sizeof text) > 0);
    HIL_EXPECT_STREQ(text, "042#CAFE");
}

HIL_MAIN()
