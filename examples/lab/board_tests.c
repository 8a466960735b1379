/* The demo lab's tests for one board running sim-firmware.
 *
 * Local tests talk to the board's services through the communication
 * auxiliary "svc"; remote tests run on the board through the DUT auxiliary
 * "dut" (pykiso's testApp protocol, answered by hil_target.h in the
 * firmware). Both auxiliaries name the same connector, so hil puts a proxy
 * between them and the board's one line. Which board, and how to reach it,
 * comes from the configuration (examples/lab/board.conf, or the scheduler,
 * which gives each run its board's connector). */
#define HIL_IMPLEMENTATION
#include "hil.h"
#include "hil_connectors.h"
#include "hil_aux.h"
#include "hil_runner.h"

#include <stdlib.h>
#include <string.h>

/* The lab's own settings, used by examples/lab/lab.conf. */
HIL_FRAMEWORK_EXTENSION(demo_lab) {
    ext->description = "The demo lab's settings";
    hil_ext_option(ext, "lab.dir", HIL_OPT_PATH, "build/demo/lab", "Where the lab keeps firmware images and flash files");
    hil_ext_option(ext, "lab.bin", HIL_OPT_PATH, "build/demo", "Where sim-firmware is");
}

/* Ask the board's service something; the reply is the next service frame
 * (frames of the testApp protocol on the same line are not ours). */
static const char* ask(const char* question) {
    static char reply[300];
    hil_aux* svc = hil_aux_get("svc");
    char frame[256];
    uint64_t deadline = hil_deadline_ms(2000);
    int n = snprintf(frame, sizeof frame, "\x01%s", question);
    HIL_ASSERT(svc != NULL, "no 'svc' auxiliary: is the lab configuration loaded (-c)?");
    HIL_ASSERT_OK(hil_aux_send_bytes(svc, frame, (size_t)n, 1000), "asking %s", question);
    for (;;) {
        unsigned char buf[300];
        hil_msg m;
        hil_msg_init(&m, buf, sizeof buf - 1);
        HIL_ASSERT_OK(hil_aux_receive_message(svc, &m, hil_deadline_left_ms(deadline)), "no answer to %s", question);
        if (m.len == 0 || buf[0] != 0x01) continue; /* a testApp frame for the DUT auxiliary */
        buf[m.len] = 0;
        snprintf(reply, sizeof reply, "%s", (const char*)buf + 1);
        HIL_DEBUG("lab.board", "%s -> %s", question, reply);
        return reply;
    }
}

HIL_SUITE(service, "id=10; tags=local; requires=svc")

HIL_TEST_META(service, echo_round_trip, "id=1; tags=smoke") {
    HIL_ASSERT_STREQ(ask("ECHO hello board"), "ECHO hello board");
}

HIL_TEST_META(service, reports_its_identity, "id=2") {
    char name[64], type[64], variant[64], version[64];
    HIL_ASSERT_EQ(sscanf(ask("INFO?"), "INFO %63s %63s %63s %63s", name, type, variant, version), 4);
    HIL_INFO("lab.board", "board %s: %s, firmware %s %s", name, type, variant, version);
    if (hil_param("variant", NULL)) HIL_EXPECT_STREQ(variant, hil_param("variant", ""), "the firmware variant flashed");
}

HIL_TEST_META(service, sensor_reads_are_plausible, "id=3; timeout=30") {
    double min = 1e9, max = -1e9;
    int i, n = hil_param_int("soak", 0) ? 120 : 20; /* the soak run reads for longer */
    for (i = 0; i < n; i++) {
        double v = 0;
        HIL_ASSERT_EQ(sscanf(ask("SENSOR?"), "SENSOR %lf C", &v), 1);
        if (v < min) min = v;
        if (v > max) max = v;
    }
    HIL_INFO("lab.board", "%d readings between %.2f and %.2f C", n, min, max);
    HIL_EXPECT_GE(min, 18.0);
    HIL_EXPECT_LE(max, 26.0);
    HIL_EXPECT(max - min < 4.0, "a room does not jump %.1f degrees", max - min);
}

HIL_TEST_META(service, unknown_commands_are_refused, "id=4") {
    HIL_ASSERT_STREQ(ask("REBOOT"), "ERR unknown command");
}

/* On-target tests: the firmware runs them (sim-firmware's hil_target table). */
HIL_SUITE(target, "id=1; tags=remote; requires=dut")
HIL_REMOTE_SUITE_SETUP(target, "dut", 1);
HIL_REMOTE_TEST_META(target, ram_check, "dut", 1, 1, "id=1");
HIL_REMOTE_TEST_META(target, flash_crc, "dut", 1, 2, "id=2");
HIL_REMOTE_TEST_META(target, adc_reference, "dut", 1, 3, "id=3");

HIL_SUITE(radio, "id=2; tags=remote,gateway; requires=dut")
HIL_REMOTE_TEST_META(radio, link_up, "dut", 2, 1, "id=1");

HIL_MAIN()
