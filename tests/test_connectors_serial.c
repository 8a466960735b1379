/* The serial type (libserialport): what can be checked on a machine
 * without a free UART (the errors and their hints, finding ports, a build
 * without the library), and the real-UART test the VM bench runs
 * (tests/vm: `--set params.uart=/dev/ttyS1` with an echo peer on it). */
#include "selftest.h"
#include <pthread.h>

HIL_SUITE(serial_channel, "tags=connectors")

#if defined(HIL_HAVE_LIBSERIALPORT) && !defined(HIL_NO_LIBSERIALPORT)
#define HAVE_SP 1
#define SKIP_WITHOUT_SP()
#else
#define HAVE_SP 0
#define SKIP_WITHOUT_SP() HIL_SKIP("built without libserialport (apt-get install libserialport-dev, then rebuild)")
#endif

static hil_result try_open(const char* const* opts, hil_channel** out) {
    hil_channel_config c;
    hil_result r;
    hil_channel_config_init(&c);
    c.name = "dut";
    c.type = "serial";
    c.options = opts;
    *out = NULL;
    r = hil_channel_create(&c, out);
    if (r != HIL_OK) return r;
    return hil_channel_open(*out);
}

HIL_TEST(serial_channel, a_build_without_libserialport_says_how_to_get_it) {
    const char* argv[2];
    st_result res;
    argv[0] = st_meta("meta_serial_nolib");
    argv[1] = NULL;
    st_run(argv, NULL, 10000, &res);
    HIL_EXPECT_EQ(res.code, 0, "%s", res.out);
    HIL_EXPECT(st_has(&res, "open: missing library: serial 'dut': this build has no libserialport: install it "
                            "(apt-get install libserialport-dev) and rebuild"), "%s", res.out);
    HIL_EXPECT(st_has(&res, "loopback: ok"), "everything else works: %s", res.out);
    st_result_free(&res);
}

HIL_TEST(serial_channel, a_pty_or_a_missing_device_gets_a_clear_error) {
    hil_channel* pty;
    hil_channel* ch = NULL;
    char opt[200];
    const char* opts[2];
    const char* missing[] = {"port=/dev/ttyUSB97", NULL};
    hil_channel_config c;
    SKIP_WITHOUT_SP();
    hil_channel_config_init(&c);
    c.name = "sim";
    c.type = "pty";
    HIL_ASSERT_OK(hil_channel_create(&c, &pty));
    HIL_ASSERT_OK(hil_channel_open(pty));
    snprintf(opt, sizeof opt, "port=%s", hil_pty_path(pty));
    opts[0] = opt;
    opts[1] = NULL;
    HIL_EXPECT_EQ(try_open(opts, &ch), HIL_ERR_UNSUPPORTED);
    HIL_EXPECT(strstr(hil_last_error(), "is a pseudo-terminal: libserialport opens real serial ports only") &&
               strstr(hil_last_error(), "use the pty type"), "%s", hil_last_error());
    hil_channel_destroy(ch);
    HIL_EXPECT_EQ(try_open(missing, &ch), HIL_ERR_NOT_FOUND);
    HIL_EXPECT(strstr(hil_last_error(), "serial 'dut': /dev/ttyUSB97: No such file or directory: is the device plugged in?"),
               "%s", hil_last_error());
    hil_channel_destroy(ch);
    hil_channel_destroy(pty);
}

HIL_TEST(serial_channel, finding_a_port_that_is_not_there_lists_the_ports) {
    hil_channel* ch = NULL;
    const char* by_id[] = {"vid_pid=ffff:fffe", "serial_number=HIL-NOPE", NULL};
    char dev[64];
    hil_strbuf ports = {0, 0, 0, 0};
    SKIP_WITHOUT_SP();
    HIL_EXPECT_EQ(try_open(by_id, &ch), HIL_ERR_NOT_FOUND);
    HIL_EXPECT(strstr(hil_last_error(), "serial 'dut': no serial port matches vid_pid=ffff:fffe serial_number=HIL-NOPE "
                                        "(is it plugged in?); ports: "), "%s", hil_last_error());
    hil_channel_destroy(ch);
    HIL_EXPECT_EQ(hil_serial_find_port("ffff:fffe", NULL, NULL, dev, sizeof dev), HIL_ERR_NOT_FOUND);
    HIL_EXPECT_EQ(hil_serial_find_port("zz", NULL, NULL, dev, sizeof dev), HIL_ERR_INVALID_ARG);
    HIL_EXPECT_OK(hil_serial_list_ports(&ports));
    hil_sb_free(&ports);
}

HIL_TEST(serial_channel, bad_options_are_rejected_at_create) {
    hil_channel* ch = NULL;
    const char* none[] = {"baudrate=9600", NULL};
    const char* vid[] = {"vid_pid=FTDI", NULL};
    const char* flow[] = {"port=/dev/ttyUSB0", "flow_control=cts", NULL};
    const char* rts[] = {"port=/dev/ttyUSB0", "rts=maybe", NULL};
    HIL_EXPECT_EQ(try_open(none, &ch), HIL_ERR_CONFIG);
    HIL_EXPECT(strstr(hil_last_error(), "no port: set connectors.dut.port (/dev/ttyUSB0), or vid_pid, serial_number or "
                                        "description"), "%s", hil_last_error());
    HIL_EXPECT_EQ(try_open(vid, &ch), HIL_ERR_CONFIG);
    HIL_EXPECT(strstr(hil_last_error(), "option vid_pid: 'FTDI' is not VID:PID in hex"), "%s", hil_last_error());
    HIL_EXPECT_EQ(try_open(flow, &ch), HIL_ERR_CONFIG);
    HIL_EXPECT(strstr(hil_last_error(), "option flow_control: 'cts' is not allowed; expected one of "
                                        "none|xonxoff|rtscts|dtrdsr"), "%s", hil_last_error());
    HIL_EXPECT_EQ(try_open(rts, &ch), HIL_ERR_CONFIG);
    HIL_EXPECT(strstr(hil_last_error(), "option rts: 'maybe' is not allowed; expected one of keep|on|off"), "%s",
               hil_last_error());
}

HIL_TEST(serial_channel, permission_denied_points_at_the_dialout_group) {
    static const char* const devs[] = {"/dev/ttyS0", "/dev/ttyS1", "/dev/ttyS2", "/dev/ttyS3", "/dev/ttyAMA0", NULL};
    const char* argv[3];
    st_result res;
    size_t i;
    SKIP_WITHOUT_SP();
    argv[0] = st_meta("meta_serial_access");
    argv[1] = NULL;
    for (i = 0; devs[i]; i++)
        if (access(devs[i], F_OK) == 0) { argv[1] = devs[i]; break; }
    if (!argv[1]) HIL_SKIP("no /dev/ttyS* device here to try");
    argv[2] = NULL;
    st_run(argv, NULL, 10000, &res);
    if (res.code == 77) {
        char why[300];
        snprintf(why, sizeof why, "%s", res.out ? res.out : "");
        st_result_free(&res);
        HIL_SKIP("%s", why);
    }
    HIL_EXPECT_EQ(res.code, 0, "%s", res.out);
    HIL_EXPECT(st_has(&res, "open: permission denied: serial 'dut': open ") &&
               st_has(&res, "Permission denied: add your user to the dialout group (sudo usermod -aG dialout $USER, "
                            "then log in again)"), "%s", res.out);
    st_result_free(&res);
}

/* ---- on a real UART (the VM bench: tests/vm) ---------------------------------------- */

HIL_TEST_META(serial_channel, a_real_uart_with_an_echo_peer, "tags=hardware") {
    const char* uart = hil_param("uart", NULL);
    char popt[300];
    const char* opts[4];
    hil_channel* ch = NULL;
    hil_serial_settings st;
    char buf[300];
    hil_msg m;
    int i;
    SKIP_WITHOUT_SP();
    if (!uart)
        HIL_SKIP("needs a real UART with an echo peer: --set params.uart=/dev/ttyS1 (the VM bench in tests/vm runs "
                 "it; libserialport refuses ptys)");
    snprintf(popt, sizeof popt, "port=%s", uart);
    opts[0] = popt;
    opts[1] = "framing=cobs";
    opts[2] = "baudrate=115200";
    opts[3] = NULL;
    HIL_ASSERT_OK(try_open(opts, &ch));
    HIL_ASSERT_OK(hil_serial_get_settings(ch, &st));
    HIL_EXPECT_EQ(st.baudrate, 115200);
    HIL_EXPECT_EQ(st.data_bits, 8);
    HIL_EXPECT_EQ(st.parity, HIL_PARITY_NONE);
    HIL_EXPECT_EQ(st.stop_bits, 1);
    HIL_EXPECT_OK(hil_serial_flush(ch, HIL_FLUSH_INPUT | HIL_FLUSH_OUTPUT));
    for (i = 0; i < 3; i++) {
        unsigned char frame[256];
        int k;
        for (k = 0; k < 256; k++) frame[k] = (unsigned char)(k + i);
        HIL_ASSERT_OK(hil_channel_send_bytes(ch, frame, sizeof frame, 2000));
        hil_msg_init(&m, buf, sizeof buf);
        HIL_ASSERT_OK(hil_channel_recv(ch, &m, 5000), "echo of frame %d", i);
        HIL_ASSERT_EQ(m.len, 256);
        HIL_EXPECT_MEMEQ(buf, frame, 256);
    }
    HIL_EXPECT_OK(hil_serial_set_rts(ch, 0));
    HIL_EXPECT_OK(hil_serial_set_rts(ch, 1));
    HIL_EXPECT_OK(hil_serial_set_dtr(ch, 0));
    HIL_EXPECT_OK(hil_serial_set_dtr(ch, 1));
    HIL_EXPECT_OK(hil_serial_send_break(ch, 20));
    HIL_ASSERT_OK(hil_serial_set_baudrate(ch, 57600));
    HIL_ASSERT_OK(hil_serial_get_settings(ch, &st));
    HIL_EXPECT_EQ(st.baudrate, 57600);
    {
        /* exclusive: a second channel on the same port is refused */
        hil_channel* second = NULL;
        HIL_EXPECT_EQ(try_open(opts, &second), HIL_ERR_BUSY);
        HIL_EXPECT(strstr(hil_last_error(), "is in use"), "%s", hil_last_error());
        hil_channel_destroy(second);
    }
    hil_channel_destroy(ch);
}
