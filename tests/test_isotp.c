/* The isotp channel on the host: the error where the kernel has no
 * SocketCAN or no ISO-TP (these machines), CAN id parsing and option
 * checking. The channel against the kernel and can-utils runs in the VM:
 * make test-vm (tests/vm/vm_isotp.c). */
#include "selftest.h"

#include <sys/socket.h>

HIL_SUITE(isotp_host, "tags=can,isotp,connectors")

static hil_result make_tp(const char* const* opts, hil_channel** out) {
    hil_channel_config c;
    hil_channel_config_init(&c);
    c.name = "ecu";
    c.type = "isotp";
    c.options = opts;
    *out = NULL;
    return hil_channel_create(&c, out);
}

HIL_TEST(isotp_host, open_says_what_is_missing) {
    const char* opts[] = {"interface=hilcan9", "tx_id=7E0", "rx_id=7E8", NULL};
    hil_channel* ch = NULL;
    hil_result r;
    int fd;
    HIL_ASSERT(hil_channel_type_find("isotp") != NULL, "the isotp type is built in");
    HIL_ASSERT_OK(make_tp(opts, &ch));
    r = hil_channel_open(ch);
    fd = socket(29 /* PF_CAN */, SOCK_DGRAM, 6 /* CAN_ISOTP */);
    if (fd >= 0) {
        close(fd);
        HIL_EXPECT_EQ(r, HIL_ERR_NOT_FOUND);
        HIL_EXPECT(strstr(hil_last_error(), "no network interface 'hilcan9'"), "%s", hil_last_error());
    } else if (errno == EAFNOSUPPORT) { /* these machines: no AF_CAN at all */
        HIL_EXPECT_EQ(r, HIL_ERR_UNSUPPORTED);
        HIL_EXPECT(strstr(hil_last_error(), "isotp 'ecu': the kernel has no SocketCAN (AF_CAN)"), "%s", hil_last_error());
        HIL_EXPECT(strstr(hil_last_error(), "modprobe can can-isotp") && strstr(hil_last_error(), "make test-vm"), "%s",
                   hil_last_error());
    } else {                          /* AF_CAN without the can-isotp module */
        HIL_EXPECT_EQ(r, HIL_ERR_UNSUPPORTED);
        HIL_EXPECT(strstr(hil_last_error(), "modprobe can-isotp"), "%s", hil_last_error());
    }
    HIL_EXPECT(!hil_channel_is_open(ch));
    HIL_EXPECT_EQ(hil_channel_poll_fd(ch), -1);
    hil_channel_destroy(ch);
}

HIL_TEST(isotp_host, can_ids) {
    static const struct { const char* text; uint32_t id; int ext; } good[] = {
        {"7E0", 0x7E0, 0}, {"0x7e8", 0x7E8, 0}, {"0X7DF", 0x7DF, 0}, {"0", 0, 0}, {"7FF", 0x7FF, 0},
        {"800", 0x800, 1}, {"00000123", 0x123, 1}, {"0x00000123", 0x123, 1}, {"18DA00F1", 0x18DA00F1, 1},
        {"1FFFFFFF", 0x1FFFFFFF, 1}};
    static const struct { const char* text; const char* why; } bad[] = {
        {"", "not a hex CAN id"}, {"0x", "not a hex CAN id"}, {"7E0h", "'h'"}, {" 7E0", "' '"},
        {"-1", "'-'"}, {"123456789", "more than 8 hex digits"}, {"20000000", "above 1FFFFFFF"},
        {"FFFFFFFF", "above 1FFFFFFF"}, {"0x1G", "'G'"}};
    size_t i;
    for (i = 0; i < sizeof good / sizeof good[0]; i++) {
        uint32_t id = 1;
        int ext = -1;
        HIL_EXPECT_OK(hil_isotp_parse_id(good[i].text, &id, &ext), "'%s'", good[i].text);
        HIL_EXPECT_EQ(id, good[i].id, "'%s'", good[i].text);
        HIL_EXPECT_EQ(ext, good[i].ext, "'%s' is %s", good[i].text, good[i].ext ? "29-bit" : "11-bit");
    }
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint32_t id;
        int ext;
        HIL_EXPECT_EQ(hil_isotp_parse_id(bad[i].text, &id, &ext), HIL_ERR_CONFIG, "'%s'", bad[i].text);
        HIL_EXPECT(strstr(hil_last_error(), bad[i].why), "'%s': %s", bad[i].text, hil_last_error());
    }
}

static void expect_config_error(const char* o1, const char* o2, const char* o3, const char* text) {
    const char* opts[] = {o1, o2, o3, NULL, NULL, NULL};
    const char* const* p = opts;
    hil_channel* ch = NULL;
    /* a NULL in the middle ends the list early: shift the rest up */
    if (!o1) p = o2 ? opts + 1 : opts + 2;
    HIL_EXPECT_EQ(make_tp(p, &ch), HIL_ERR_CONFIG, "%s %s %s", o1 ? o1 : "", o2 ? o2 : "", o3 ? o3 : "");
    HIL_EXPECT(strstr(hil_last_error(), text), "%s %s %s: %s", o1 ? o1 : "", o2 ? o2 : "", o3 ? o3 : "",
               hil_last_error());
    HIL_EXPECT(ch == NULL);
    if (ch) hil_channel_destroy(ch);
}

/* Options on a valid base (can0, 7E0 -> 7E8); the channel must be refused. */
static void expect_option_error(const char* o1, const char* o2, const char* text) {
    const char* opts[] = {"interface=can0", "tx_id=7E0", "rx_id=7E8", o1, o2, NULL};
    hil_channel* ch = NULL;
    HIL_EXPECT_EQ(make_tp(opts, &ch), HIL_ERR_CONFIG, "%s %s", o1, o2 ? o2 : "");
    HIL_EXPECT(strstr(hil_last_error(), text), "%s %s: %s", o1, o2 ? o2 : "", hil_last_error());
    HIL_EXPECT(ch == NULL);
    if (ch) hil_channel_destroy(ch);
}

HIL_TEST(isotp_host, options_are_checked_at_create) {
    expect_config_error(NULL, "tx_id=7E0", "rx_id=7E8", "no interface: set connectors.ecu.interface");
    expect_config_error("interface=can0", NULL, "rx_id=7E8", "no tx_id: set connectors.ecu.tx_id");
    expect_config_error("interface=can0", "tx_id=7E0", NULL, "no rx_id: set connectors.ecu.rx_id");
    expect_config_error("interface=can0", "tx_id=7E0", "rx_id=0x7e0", "tx_id and rx_id are both 7E0");
    expect_config_error("interface=averyveryverylongname", "tx_id=7E0", "rx_id=7E8", "longer than 15");
    expect_config_error("interface=can0", "tx_id=7G0", "rx_id=7E8", "option tx_id: '7G0' is not a hex CAN id");
    expect_config_error("interface=can0", "tx_id=7E0", "rx_id=FFFFFFFF", "option rx_id: 'FFFFFFFF' is above 1FFFFFFF");
    expect_option_error("tx_padding=256", NULL, "option tx_padding: 256 is above 255");
    expect_option_error("rx_padding=0xZZ", NULL, "option rx_padding: '0xZZ' is not a number");
    expect_option_error("pad_check=all", NULL, "pad_check needs rx_padding");
    expect_option_error("pad_check=some", NULL, "expected one of none|length|data|all");
    expect_option_error("block_size=-1", NULL, "option block_size: '-1' is not a number");
    expect_option_error("stmin_us=1500", NULL, "1500 us cannot be sent as STmin");
    expect_option_error("stmin_us=950", NULL, "950 us cannot be sent as STmin");
    expect_option_error("stmin_us=128000", NULL, "option stmin_us: 128000 is above 127000");
    expect_option_error("stmin_raw=300", NULL, "option stmin_raw: 300 is above 255");
    expect_option_error("wft_max=0x100", NULL, "option wft_max: 0x100 is above 255");
    expect_option_error("tx_dl=12", NULL, "12 bytes need CAN FD: set fd=true");
    expect_option_error("fd=true", "tx_dl=10", "10 is not a CAN frame length");
    expect_option_error("brs=true", NULL, "brs (bit rate switch) needs fd=true");
    expect_option_error("rx_ext_address=0x10", NULL, "rx_ext_address needs ext_address");
    expect_option_error("sf_broadcast=true", "cf_broadcast=true", "exclude each other");
    expect_option_error("listen_only=maybe", NULL, "option listen_only: expected true or false");
    expect_option_error("frame_txtime_us=5000000", NULL, "option frame_txtime_us: 5000000 is above 4000000");
}

HIL_TEST(isotp_host, good_options_are_accepted) {
    const char* opts[] = {"interface=vcan0", "tx_id=18DA10F1", "rx_id=0x18DAF110", "tx_padding=0xCC",
                          "rx_padding=204", "pad_check=all", "block_size=8", "stmin_us=900",
                          "stmin_raw=0xF5", "wft_max=2", "force_tx_stmin_us=100", "force_rx_stmin_us=0",
                          "frame_txtime_us=0", "ext_address=0xF1", "rx_ext_address=010", "listen_only=false",
                          "half_duplex=true", "sf_broadcast=true", "fd=true", "tx_dl=16", "brs=true", NULL};
    hil_channel* ch = NULL;
    HIL_ASSERT_OK(make_tp(opts, &ch));
    HIL_EXPECT_STREQ(hil_channel_get_type(ch)->name, "isotp");
    HIL_EXPECT_EQ(hil_channel_get_type(ch)->stream, 0, "messages, not a byte stream: no framing");
    hil_channel_destroy(ch);
    {
        const char* unknown[] = {"interface=vcan0", "tx_id=1", "rx_id=2", "bitrate=500000", NULL};
        HIL_EXPECT_EQ(make_tp(unknown, &ch), HIL_ERR_CONFIG, "bitrate is a socketcan option, not isotp's");
        HIL_EXPECT(strstr(hil_last_error(), "bitrate"), "%s", hil_last_error());
        if (ch) hil_channel_destroy(ch);
    }
}
