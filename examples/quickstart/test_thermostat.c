/* The quickstart demo: tests for a (simulated) thermostat reached over its
 * stdin/stdout, the way a firmware team tests a board over a UART. */
#define HIL_IMPLEMENTATION
#include "hil.h"

#include <string.h>
#include <unistd.h>

static hil_proc dev;            /* the simulated device, one per suite */
static char rx[256];
static size_t rx_len;

/* Send a command line and wait (with a timeout) for the reply line. */
static const char* ask(const char* cmd) {
    static char reply[128];
    uint64_t deadline = hil_deadline_ms(2000);
    HIL_ASSERT_OK(hil_write_all(dev.stdin_fd, cmd, strlen(cmd)));
    HIL_ASSERT_OK(hil_write_all(dev.stdin_fd, "\n", 1));
    for (;;) {
        char* nl = (char*)memchr(rx, '\n', rx_len);
        ssize_t n;
        if (nl) {
            size_t len = (size_t)(nl - rx);
            snprintf(reply, sizeof reply, "%.*s", (int)len, rx);
            memmove(rx, nl + 1, rx_len - len - 1);
            rx_len -= len + 1;
            HIL_DEBUG("demo.device", "%s -> %s", cmd, reply);
            return reply;
        }
        HIL_ASSERT_OK(hil_wait_readable(dev.stdout_fd, hil_deadline_left_ms(deadline)), "no reply to %s", cmd);
        n = read(dev.stdout_fd, rx + rx_len, sizeof rx - rx_len);
        HIL_ASSERT(n > 0, "the device closed its output after %s", cmd);
        rx_len += (size_t)n;
    }
}

HIL_SUITE(thermostat, "id=1; tags=demo")

HIL_SUITE_SETUP(thermostat) {
    const char* argv[] = {hil_param("device", "build/demo/sim_thermostat"), NULL};
    hil_proc_config cfg;
    hil_proc_config_init(&cfg);
    cfg.argv = argv;
    cfg.pipe_stdin = 1;
    cfg.pipe_stdout = 1;
    cfg.die_with_parent = 1;
    HIL_ASSERT_OK(hil_proc_spawn(&dev, &cfg), "starting the simulated thermostat");
    rx_len = 0;
    HIL_ASSERT_STREQ(ask("PING"), "PONG", "the device answers");
}

HIL_SUITE_TEARDOWN(thermostat) {
    hil_proc_terminate(&dev, 500);
    hil_proc_close(&dev);
}

HIL_TEST_META(thermostat, reports_its_version, "id=1") {
    HIL_ASSERT_STREQ(ask("VERSION?"), "VERSION 1.4.2");
}

HIL_TEST_META(thermostat, accepts_a_setpoint, "id=2; tags=smoke") {
    HIL_ASSERT_STREQ(ask("SET 23"), "OK");
    HIL_ASSERT_STREQ(ask("SETPOINT?"), "SETPOINT 23.0");
}

HIL_TEST_META(thermostat, rejects_a_setpoint_out_of_range, "id=3") {
    HIL_ASSERT_STREQ(ask("SET 45"), "ERR range");
    HIL_EXPECT_STREQ(ask("SETPOINT?"), "SETPOINT 23.0", "the old setpoint stays");
}

HIL_TEST_META(thermostat, temperature_converges_to_the_setpoint, "id=4; timeout=5") {
    double t = 0;
    int i;
    HIL_ASSERT_STREQ(ask("SET 25"), "OK");
    for (i = 0; i < 12; i++) {
        HIL_ASSERT_EQ(sscanf(ask("TEMP?"), "TEMP %lf", &t), 1);
        HIL_INFO("demo.thermostat", "reading %d: %.1f C", i, t);
    }
    HIL_ASSERT_NEAR(t, 25.0, 0.1, "after 12 readings");
}

HIL_TEST_META(thermostat, unknown_commands_get_an_error, "id=5") {
    HIL_ASSERT_STREQ(ask("REBOOT NOW"), "ERR unknown");
}

HIL_TEST_META(thermostat, wifi_link, "id=6; skip=this board revision has no radio") {
    HIL_FAIL("never runs");
}

HIL_MAIN()
