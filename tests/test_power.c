/* The power auxiliary (hil_aux.h, section power; docs/power.md):
 *   - command: real programs (a shell script that records its calls in a
 *     file, and answers status like a relay board's CLI);
 *   - scpi: against tests/meta/scpi_sim, a SIMULATED supply (no real one
 *     can be reached from here) over TCP: *IDN?, settings with SYST:ERR?
 *     read back, measurements that follow the output state and the load,
 *     the instrument's errors, no answer, garbage, a flood;
 *   - the SCPI reply parsers on their own.
 * The board driver against a real QEMU board is in tests/test_power_qemu.c. */
#include "selftest.h"
#include <poll.h>
#include <unistd.h>
#include <sys/stat.h>

HIL_SUITE(power, "tags=power")

/* ---- the simulated supply ---------------------------------------------------------- */

typedef struct sim {
    hil_proc p;
    int port;
} sim;

/* Start scpi_sim; it ends when we close its stdin (or die). */
static void sim_start(sim* s) {
    const char* argv[] = {st_meta("scpi_sim"), NULL};
    hil_proc_config pc;
    char buf[128];
    size_t have = 0;
    uint64_t dl = hil_deadline_ms(5000);
    if (access(argv[0], X_OK) != 0) HIL_SKIP("%s is not built (make %s)", argv[0], argv[0]);
    hil_proc_config_init(&pc);
    pc.argv = argv;
    pc.pipe_stdin = 1;
    pc.pipe_stdout = 1;
    pc.die_with_parent = 1;
    HIL_ASSERT_OK(hil_proc_spawn(&s->p, &pc));
    /* its first line names the port: wait for it, not for a time */
    while (!memchr(buf, '\n', have)) {
        struct pollfd pf;
        ssize_t got;
        pf.fd = s->p.stdout_fd;
        pf.events = POLLIN;
        HIL_ASSERT(poll(&pf, 1, hil_deadline_left_ms(dl)) == 1, "scpi_sim printed no port within 5 s");
        got = read(s->p.stdout_fd, buf + have, sizeof buf - 1 - have);
        HIL_ASSERT(got > 0, "scpi_sim ended before printing its port");
        have += (size_t)got;
        buf[have] = 0;
    }
    HIL_ASSERT(sscanf(buf, "scpi_sim: port %d", &s->port) == 1, "scpi_sim said '%s'", buf);
}

static void sim_stop(sim* s) {
    close(s->p.stdin_fd);
    s->p.stdin_fd = -1;
    HIL_EXPECT_OK(hil_proc_wait(&s->p, 5000));
    hil_proc_close(&s->p);
}

/* A line to the simulator on a connection of its own (SIM:FAULT ...). */
static void sim_say(const sim* s, const char* line) {
    hil_channel_config c;
    hil_channel* ch = NULL;
    char host[32], port[32];
    const char* opts[] = {host, port, NULL};
    snprintf(host, sizeof host, "host=127.0.0.1");
    snprintf(port, sizeof port, "port=%d", s->port);
    hil_channel_config_init(&c);
    c.name = "simctl";
    c.type = "tcp";
    c.options = opts;
    HIL_ASSERT_OK(hil_channel_create(&c, &ch));
    HIL_ASSERT_OK(hil_channel_open(ch));
    HIL_ASSERT_OK(hil_channel_send_bytes(ch, line, strlen(line), 2000));
    HIL_ASSERT_OK(hil_channel_send_bytes(ch, "\n", 1, 2000));
    /* a query after it, so the setting has been applied when we go on */
    {
        char buf[64];
        hil_msg m;
        HIL_ASSERT_OK(hil_channel_send_bytes(ch, "SIM:FAULT?\n", 11, 2000));
        hil_msg_init(&m, buf, sizeof buf);
        HIL_ASSERT_OK(hil_channel_recv(ch, &m, 2000));
    }
    hil_channel_destroy(ch);
}

static hil_aux* psu(const sim* s, const char* const* more) {
    hil_channel_config c;
    hil_channel* ch = NULL;
    hil_aux_config ac;
    hil_aux* a = NULL;
    char host[32], port[32];
    const char* opts[] = {host, port, NULL};
    const char* aopts[16];
    int n = 0;
    snprintf(host, sizeof host, "host=127.0.0.1");
    snprintf(port, sizeof port, "port=%d", s->port);
    hil_channel_config_init(&c);
    c.name = "psu_lan";
    c.type = "tcp";
    c.options = opts;
    HIL_ASSERT_OK(hil_channel_create(&c, &ch));
    aopts[n++] = "power_type=scpi";
    aopts[n++] = "reply_timeout_ms=300";
    while (more && *more && n < 15) aopts[n++] = *more++;
    aopts[n] = NULL;
    if ((a = hil_aux_get("psu")) != NULL) hil_aux_destroy(a);
    a = NULL;
    hil_aux_config_init(&ac);
    ac.name = "psu";
    ac.type = "power";
    ac.com = ch;
    ac.options = aopts;
    HIL_ASSERT_OK(hil_aux_create(&ac, &a));
    return a;
}

/* ---- scpi --------------------------------------------------------------------------- */

HIL_TEST(power, scpi_measures_what_the_output_drives) {
    sim s;
    hil_aux* a;
    double v = -1, i = -1;
    int on = -1;
    const char* more[] = {"voltage=5", "current=1", NULL};
    sim_start(&s);
    a = psu(&s, more);
    HIL_ASSERT_OK(hil_power_state(a, &on, 2000));
    HIL_ASSERT_EQ(on, 0, "a supply starts with its output off");
    HIL_ASSERT_OK(hil_power_measure(a, &v, &i, 2000));
    HIL_ASSERT_NEAR(v, 0.0, 1e-9);
    HIL_ASSERT_NEAR(i, 0.0, 1e-9);
    HIL_ASSERT_OK(hil_power_on(a, 2000));
    HIL_ASSERT_OK(hil_power_state(a, &on, 2000));
    HIL_ASSERT_EQ(on, 1);
    HIL_ASSERT_OK(hil_power_measure(a, &v, &i, 2000));
    HIL_ASSERT_NEAR(v, 5.0, 1e-6);
    HIL_ASSERT_NEAR(i, 0.5, 1e-6, "5 V into the simulated 10 ohm load");
    /* the current limit holds: the voltage drops */
    HIL_ASSERT_OK(hil_power_set_current(a, 0.2, 2000));
    HIL_ASSERT_OK(hil_power_measure(a, &v, &i, 2000));
    HIL_ASSERT_NEAR(i, 0.2, 1e-6);
    HIL_ASSERT_NEAR(v, 2.0, 1e-6);
    HIL_ASSERT_OK(hil_power_set_voltage(a, 3.3, 2000));
    HIL_ASSERT_OK(hil_power_set_current(a, 1.0, 2000));
    HIL_ASSERT_OK(hil_power_cycle(a, 50, 2000));
    HIL_ASSERT_OK(hil_power_measure(a, &v, &i, 2000));
    HIL_ASSERT_NEAR(v, 3.3, 1e-6);
    HIL_ASSERT_NEAR(i, 0.33, 1e-6);
    HIL_ASSERT_OK(hil_power_off(a, 2000));
    HIL_ASSERT_OK(hil_power_measure(a, NULL, &i, 2000));
    HIL_ASSERT_NEAR(i, 0.0, 1e-9);
    hil_aux_destroy(a);
    sim_stop(&s);
}

HIL_TEST(power, scpi_channels_nsel_and_list) {
    sim s;
    hil_aux *a, *b;
    double i = -1;
    const char* ch2[] = {"channel=2", "voltage=10", NULL};
    sim_start(&s);
    a = psu(&s, ch2);
    HIL_ASSERT_OK(hil_power_on(a, 2000));
    HIL_ASSERT_OK(hil_power_measure(a, NULL, &i, 2000));
    HIL_ASSERT_NEAR(i, 1.0, 1e-6, "channel 2 at 10 V, 10 ohm");
    hil_aux_destroy(a);
    {
        /* the same output through "(@2)": on, and channel 3 still off */
        const char* l2[] = {"channel=2", "channel_style=list", NULL};
        const char* l3[] = {"channel=3", "channel_style=list", NULL};
        int on = -1;
        b = psu(&s, l2);
        HIL_ASSERT_OK(hil_power_state(b, &on, 2000));
        HIL_ASSERT_EQ(on, 1);
        hil_aux_destroy(b);
        b = psu(&s, l3);
        HIL_ASSERT_OK(hil_power_state(b, &on, 2000));
        HIL_ASSERT_EQ(on, 0);
        hil_aux_destroy(b);
    }
    sim_stop(&s);
}

HIL_TEST(power, scpi_instrument_errors_are_clear) {
    sim s;
    hil_aux* a;
    hil_result r;
    const char* bad_start[] = {"voltage=99", NULL};
    sim_start(&s);
    a = psu(&s, NULL);
    r = hil_power_set_voltage(a, 45.0, 2000);
    HIL_ASSERT_EQ(r, HIL_ERR_PROTOCOL);
    HIL_ASSERT(strstr(hil_last_error(), "-222") && strstr(hil_last_error(), "Data out of range") &&
                   strstr(hil_last_error(), "VOLT 45"),
               "the message names the command and quotes the instrument: %s", hil_last_error());
    /* the queue was read: the next setting is fine */
    HIL_ASSERT_OK(hil_power_set_voltage(a, 12.0, 2000));
    hil_aux_destroy(a);
    {
        /* a wrong setting at start: the auxiliary fails, saying why */
        hil_aux_config ac;
        hil_channel_config c;
        hil_channel* ch = NULL;
        hil_aux* x = NULL;
        char port[32];
        const char* copts[] = {"host=127.0.0.1", port, NULL};
        const char* aopts[] = {"power_type=scpi", bad_start[0], NULL};
        snprintf(port, sizeof port, "port=%d", s.port);
        hil_channel_config_init(&c);
        c.name = "psu_lan";
        c.type = "tcp";
        c.options = copts;
        HIL_ASSERT_OK(hil_channel_create(&c, &ch));
        hil_aux_config_init(&ac);
        ac.name = "psu_bad";
        ac.type = "power";
        ac.com = ch;
        ac.options = aopts;
        r = hil_aux_create(&ac, &x);
        HIL_ASSERT(r != HIL_OK, "VOLT 99 on a 30 V supply must fail the start");
        HIL_ASSERT(strstr(hil_last_error(), "Data out of range") != NULL, "%s", hil_last_error());
        if (x) hil_aux_destroy(x);
    }
    sim_stop(&s);
}

HIL_TEST(power, scpi_silence_garbage_and_flood) {
    sim s;
    hil_aux* a;
    hil_result r;
    double v;
    uint64_t t0;
    sim_start(&s);
    a = psu(&s, NULL);
    sim_say(&s, "SIM:FAULT SILENT");
    t0 = hil_now_ns();
    r = hil_power_measure(a, &v, NULL, 5000);
    HIL_ASSERT_EQ(r, HIL_ERR_TIMEOUT);
    HIL_ASSERT(strstr(hil_last_error(), "did not answer 'MEAS:VOLT?' within 300 ms") != NULL, "%s", hil_last_error());
    HIL_ASSERT_LT((hil_now_ns() - t0) / 1000000, 4000, "reply_timeout_ms bounds the wait, not the call's timeout");
    sim_say(&s, "SIM:FAULT GARBAGE");
    r = hil_power_measure(a, &v, NULL, 2000);
    HIL_ASSERT_EQ(r, HIL_ERR_PROTOCOL);
    HIL_ASSERT(strstr(hil_last_error(), "is not a number") != NULL, "%s", hil_last_error());
    r = hil_power_on(a, 2000);
    HIL_ASSERT_EQ(r, HIL_ERR_PROTOCOL);
    HIL_ASSERT(strstr(hil_last_error(), "not an error queue entry") != NULL, "%s", hil_last_error());
    sim_say(&s, "SIM:FAULT FLOOD");
    r = hil_power_measure(a, &v, NULL, 2000);
    HIL_ASSERT_EQ(r, HIL_ERR_PROTOCOL);
    HIL_ASSERT(strstr(hil_last_error(), "without a line end") != NULL, "%s", hil_last_error());
    /* healthy again: nothing stale is taken for an answer */
    sim_say(&s, "SIM:FAULT NONE");
    HIL_ASSERT_OK(hil_power_measure(a, &v, NULL, 2000));
    HIL_ASSERT_NEAR(v, 0.0, 1e-9);
    hil_aux_destroy(a);
    sim_stop(&s);
}

HIL_TEST(power, scpi_nobody_listening) {
    hil_aux_config ac;
    hil_channel_config c;
    hil_channel* ch = NULL;
    hil_aux* x = NULL;
    hil_result r;
    sim s;
    char port[32];
    const char* copts[] = {"host=127.0.0.1", port, NULL};
    const char* aopts[] = {"power_type=scpi", NULL};
    /* a port that was just free: the simulator's, after it ended */
    sim_start(&s);
    snprintf(port, sizeof port, "port=%d", s.port);
    sim_stop(&s);
    hil_channel_config_init(&c);
    c.name = "psu_lan";
    c.type = "tcp";
    c.options = copts;
    HIL_ASSERT_OK(hil_channel_create(&c, &ch));
    hil_aux_config_init(&ac);
    ac.name = "psu_gone";
    ac.type = "power";
    ac.com = ch;
    ac.options = aopts;
    r = hil_aux_create(&ac, &x);
    HIL_ASSERT(r != HIL_OK, "no supply there");
    HIL_ASSERT(strstr(hil_last_error(), "psu_lan") != NULL, "names the connector: %s", hil_last_error());
    if (x) hil_aux_destroy(x);
}

/* ---- command ---------------------------------------------------------------------------- */

/* A relay board's CLI, as a script: it records every call and keeps the
 * state in a file; `status` prints "port N: power on|off". */
static const char* relay_script(void) {
    const char* path = st_path("relay.sh");
    const char* text =
        "#!/bin/sh\n"
        "dir=$(dirname \"$0\")\n"
        "echo \"$*\" >> \"$dir/calls\"\n"
        "case \"$1\" in\n"
        "  on) echo on > \"$dir/state.$2\"; echo \"relay $2 closed\" ;;\n"
        "  off) echo off > \"$dir/state.$2\"; echo \"relay $2 open\" ;;\n"
        "  status) echo \"port $2: power $(cat \"$dir/state.$2\" 2>/dev/null || echo off)\";"
        " [ \"$(cat \"$dir/state.$2\" 2>/dev/null)\" = on ] ;;\n"
        "  fail) echo 'relay board: no such port' >&2; exit 4 ;;\n"
        "  hang) exec sleep 30 ;;\n"
        "esac\n";
    HIL_ASSERT_OK(hil_write_file_atomic(path, text, strlen(text)));
    HIL_ASSERT(chmod(path, 0755) == 0, "chmod %s", path);
    return path;
}

static hil_aux* relay(const char* name, const char* const* opts) {
    hil_aux_config ac;
    hil_aux* a = NULL;
    hil_aux_config_init(&ac);
    ac.name = name;
    ac.type = "power";
    ac.options = opts;
    HIL_ASSERT_OK(hil_aux_create(&ac, &a));
    return a;
}

HIL_TEST(power, command_runs_the_templates) {
    const char* sh = relay_script();
    char on[600], off[600], status[600], *calls;
    int st = -1;
    hil_aux* a;
    const char* opts[] = {"power_type=command", on, off, status, "port=3", "board=dut A", NULL};
    snprintf(on, sizeof on, "on=%s on {port} '{board}'", sh);
    snprintf(off, sizeof off, "off=%s off {port} '{board}'", sh);
    snprintf(status, sizeof status, "status=%s status {port}", sh);
    a = relay("relay1", opts);
    HIL_ASSERT_OK(hil_power_state(a, &st, 5000));
    HIL_ASSERT_EQ(st, 0, "exit status 1: off");
    HIL_ASSERT_OK(hil_power_on(a, 5000));
    HIL_ASSERT_OK(hil_power_state(a, &st, 5000));
    HIL_ASSERT_EQ(st, 1, "exit status 0: on");
    HIL_ASSERT_OK(hil_power_cycle(a, 20, 5000));
    HIL_ASSERT_OK(hil_power_state(a, &st, 5000));
    HIL_ASSERT_EQ(st, 1);
    HIL_ASSERT_EQ(hil_power_measure(a, NULL, NULL, 1000), HIL_ERR_UNSUPPORTED);
    HIL_ASSERT(strstr(hil_last_error(), "command cannot measure") != NULL, "%s", hil_last_error());
    hil_aux_destroy(a);
    calls = st_read(st_path("calls"));
    /* "dut A" stayed one argument: the script saw it as $3 */
    HIL_ASSERT_STREQ(calls, "status 3\non 3 dut A\nstatus 3\noff 3 dut A\non 3 dut A\nstatus 3\n");
    free(calls);
}

HIL_TEST(power, command_status_by_pattern_failures_and_timeouts) {
    const char* sh = relay_script();
    char on[600], off[600], status[600], cycle[600], fail_on[600], hang_off[600];
    int st = -1;
    hil_aux* a;
    hil_result r;
    uint64_t t0;
    const char* opts[] = {"power_type=command", on, off, status, cycle, "port=5",
                          "status_on=power on$", "status_off=power off$", NULL};
    snprintf(on, sizeof on, "on=%s on {port}", sh);
    snprintf(off, sizeof off, "off=%s off {port}", sh);
    snprintf(status, sizeof status, "status=%s status {port}", sh);
    snprintf(cycle, sizeof cycle, "cycle=%s on {port} {off_ms}", sh);
    a = relay("relay2", opts);
    HIL_ASSERT_OK(hil_power_on(a, 5000));
    HIL_ASSERT_OK(hil_power_state(a, &st, 5000));
    HIL_ASSERT_EQ(st, 1);
    HIL_ASSERT_OK(hil_power_off(a, 5000));
    HIL_ASSERT_OK(hil_power_state(a, &st, 5000));
    HIL_ASSERT_EQ(st, 0, "status_off matched");
    hil_aux_destroy(a);
    {
        char* calls = st_read(st_path("calls"));
        HIL_ASSERT(strstr(calls, "on 5\n") != NULL, "%s", calls);
        free(calls);
    }
    /* a failing command: the error names it and quotes its output */
    snprintf(fail_on, sizeof fail_on, "on=%s fail {port}", sh);
    snprintf(hang_off, sizeof hang_off, "off=%s hang {port}", sh);
    {
        const char* o2[] = {"power_type=command", fail_on, hang_off, NULL};
        a = relay("relay3", o2);
        r = hil_power_on(a, 5000);
        HIL_ASSERT_EQ(r, HIL_ERR_IO);
        HIL_ASSERT(strstr(hil_last_error(), "relay3") && strstr(hil_last_error(), "no such port") &&
                       strstr(hil_last_error(), "status 4"),
                   "%s", hil_last_error());
        t0 = hil_now_ns();
        r = hil_power_off(a, 300);
        HIL_ASSERT_EQ(r, HIL_ERR_TIMEOUT, "%s", hil_last_error());
        HIL_ASSERT_LT((hil_now_ns() - t0) / 1000000, 3000, "the hung command is killed at its timeout");
        HIL_ASSERT_EQ(hil_power_state(a, &st, 1000), HIL_ERR_UNSUPPORTED);
        hil_aux_destroy(a);
    }
}

HIL_TEST(power, bad_configuration_says_what_to_set) {
    hil_aux_config ac;
    hil_aux* a = NULL;
    const char* none[] = {NULL};
    const char* unknown[] = {"power_type=mains", NULL};
    const char* no_off[] = {"power_type=command", "on=true", NULL};
    const char* bad_re[] = {"power_type=command", "on=true", "off=true", "status=true", "status_on=(", NULL};
    const char* const* cases[] = {none, unknown, no_off, bad_re};
    const char* want[] = {"set auxiliaries.badpower.power_type", "unknown driver 'mains'", "needs auxiliaries.badpower.on",
                          "is not a regular expression"};
    size_t k;
    for (k = 0; k < 4; k++) {
        hil_aux_config_init(&ac);
        ac.name = "badpower";
        ac.type = "power";
        ac.options = cases[k];
        HIL_ASSERT_EQ(hil_aux_create(&ac, &a), HIL_ERR_CONFIG);
        HIL_ASSERT(strstr(hil_last_error(), want[k]) != NULL, "case %zu: %s", k, hil_last_error());
    }
    HIL_ASSERT_EQ(hil_power_on(NULL, 10), HIL_ERR_INVALID_ARG);
}

/* ---- the parsers -------------------------------------------------------------------------- */

HIL_TEST(power, scpi_reply_parsers) {
    double d;
    int code = 1, b = -1;
    char text[16];
    HIL_ASSERT_OK(hil_scpi_parse_number("+4.99870E+00\r\n", 14, &d));
    HIL_ASSERT_NEAR(d, 4.9987, 1e-12);
    HIL_ASSERT_OK(hil_scpi_parse_number(" 0.25", 5, &d));
    HIL_ASSERT_NEAR(d, 0.25, 1e-12);
    HIL_ASSERT_OK(hil_scpi_parse_number("12345", 3, &d));
    HIL_ASSERT_NEAR(d, 123, 1e-12, "never reads past len");
    HIL_ASSERT_EQ(hil_scpi_parse_number("9.91E37", 7, &d), HIL_ERR_PROTOCOL);
    HIL_ASSERT_EQ(hil_scpi_parse_number("inf", 3, &d), HIL_ERR_PROTOCOL);
    HIL_ASSERT_EQ(hil_scpi_parse_number("0x10", 4, &d), HIL_ERR_PROTOCOL);
    HIL_ASSERT_EQ(hil_scpi_parse_number("", 0, &d), HIL_ERR_PROTOCOL);
    HIL_ASSERT_EQ(hil_scpi_parse_number("1e999", 5, &d), HIL_ERR_PROTOCOL);
    HIL_ASSERT_OK(hil_scpi_parse_error("-222,\"Data out of range\"", 24, &code, text, sizeof text));
    HIL_ASSERT_EQ(code, -222);
    HIL_ASSERT_STREQ(text, "Data out of ran", "cut to size");
    HIL_ASSERT_OK(hil_scpi_parse_error("+0,\"No error\"\n", 14, &code, text, sizeof text));
    HIL_ASSERT_EQ(code, 0);
    HIL_ASSERT_OK(hil_scpi_parse_error("0", 1, &code, NULL, 0));
    HIL_ASSERT_EQ(hil_scpi_parse_error("No error", 8, &code, text, sizeof text), HIL_ERR_PROTOCOL);
    HIL_ASSERT_EQ(hil_scpi_parse_error("-1234567,\"x\"", 12, &code, text, sizeof text), HIL_ERR_PROTOCOL);
    HIL_ASSERT_OK(hil_scpi_parse_bool("ON", 2, &b));
    HIL_ASSERT_EQ(b, 1);
    HIL_ASSERT_OK(hil_scpi_parse_bool("0\n", 2, &b));
    HIL_ASSERT_EQ(b, 0);
    HIL_ASSERT_EQ(hil_scpi_parse_bool("2", 1, &b), HIL_ERR_PROTOCOL);
}

/* ---- the `power` command (an operator's switch; resources.<name>.power) ------------------------ */

HIL_TEST(power, the_power_command) {
    sim s;
    char self[600], port[64], on[700], off[700], status[700];
    const char* sh = relay_script();
    st_result r;
    sim_start(&s);
    snprintf(self, sizeof self, "%s/selftest", st_build_dir());
    snprintf(port, sizeof port, "connectors.psu_lan.port=%d", s.port);
    {
        const char* argv[] = {self, "power", "measure", "psu", "--set", "auxiliaries.psu.type=power", "--set",
                              "auxiliaries.psu.power_type=scpi", "--set", "auxiliaries.psu.connectors.com=psu_lan",
                              "--set", "auxiliaries.psu.voltage=5", "--set", "connectors.psu_lan.type=tcp", "--set",
                              "connectors.psu_lan.host=127.0.0.1", "--set", port, NULL};
        st_run(argv, NULL, 20000, &r);
        HIL_EXPECT_EQ(r.code, 0, "%s", r.out);
        HIL_EXPECT(st_has(&r, "psu: 0 V, 0 A"), "the output is off: %s", r.out);
        st_result_free(&r);
        argv[2] = "on";
        st_run(argv, NULL, 20000, &r);
        HIL_EXPECT_EQ(r.code, 0, "%s", r.out);
        HIL_EXPECT(st_has(&r, "psu: on"), "%s", r.out);
        st_result_free(&r);
        argv[2] = "measure";
        st_run(argv, NULL, 20000, &r);
        HIL_EXPECT(st_has(&r, "psu: 5 V, 0.5 A"), "the supply kept its output on: %s", r.out);
        st_result_free(&r);
    }
    sim_stop(&s);
    snprintf(on, sizeof on, "auxiliaries.rl.on=%s on 7", sh);
    snprintf(off, sizeof off, "auxiliaries.rl.off=%s off 7", sh);
    snprintf(status, sizeof status, "auxiliaries.rl.status=%s status 7", sh);
    {
        const char* argv[] = {self, "power", "cycle", "rl", "--off-ms", "10", "--set", "auxiliaries.rl.type=power",
                              "--set", "auxiliaries.rl.power_type=command", "--set", on, "--set", off, "--set", status,
                              NULL};
        char* calls;
        st_run(argv, NULL, 20000, &r);
        HIL_EXPECT_EQ(r.code, 0, "%s", r.out);
        HIL_EXPECT(st_has(&r, "rl: power-cycled"), "%s", r.out);
        st_result_free(&r);
        argv[2] = "status";
        st_run(argv, NULL, 20000, &r);
        HIL_EXPECT(st_has(&r, "rl: on"), "%s", r.out);
        st_result_free(&r);
        calls = st_read(st_path("calls"));
        HIL_EXPECT(strstr(calls, "off 7\non 7\nstatus 7\n") != NULL, "%s", calls);
        free(calls);
        argv[2] = "sideways";
        st_run(argv, NULL, 20000, &r);
        HIL_EXPECT_EQ(r.code, 2, "%s", r.out);
        HIL_EXPECT(st_has(&r, "power on|off|cycle|status|measure AUXILIARY"), "%s", r.out);
        st_result_free(&r);
        argv[2] = "on";
        argv[3] = "nosuch";
        st_run(argv, NULL, 20000, &r);
        HIL_EXPECT_EQ(r.code, 3, "%s", r.out);
        HIL_EXPECT(st_has(&r, "nosuch"), "%s", r.out);
        st_result_free(&r);
    }
}

/* docs/power.md's test program, against the simulated supply: the
 * configuration of its comment given with --set. */
HIL_TEST(power, the_documented_test_program) {
    sim s;
    char prog[600], port[64];
    st_result r;
    snprintf(prog, sizeof prog, "%s/doc-examples/power_supply_test", st_build_dir());
    if (access(prog, X_OK) != 0) HIL_FAIL("%s is missing: run make (it extracts docs/*.md examples)", prog);
    sim_start(&s);
    snprintf(port, sizeof port, "connectors.psu_lan.port=%d", s.port);
    {
        const char* argv[] = {prog, "--set", "connectors.psu_lan.type=tcp", "--set", "connectors.psu_lan.host=127.0.0.1",
                              "--set", port, "--set", "auxiliaries.psu.type=power", "--set",
                              "auxiliaries.psu.power_type=scpi", "--set", "auxiliaries.psu.connectors.com=psu_lan",
                              "--set", "auxiliaries.psu.channel=1", "--set", "auxiliaries.psu.voltage=5", "--set",
                              "auxiliaries.psu.current=1", NULL};
        st_run(argv, NULL, 30000, &r);
        HIL_EXPECT_EQ(r.code, 0, "%s", r.out);
        HIL_EXPECT(st_has(&r, "1 passed, 0 failed"), "%s", r.out);
        st_result_free(&r);
    }
    sim_stop(&s);
}

/* The same calls from the process and simple backends (the process
 * backend's child owns the connection; a vendor CLI or library that
 * misbehaves stays away from the test program). */
HIL_TEST(power, scpi_on_every_backend) {
    static const char* const backends[] = {"backend=process", "backend=simple", "backend=thread"};
    sim s;
    size_t k;
    sim_start(&s);
    for (k = 0; k < 3; k++) {
        const char* more[] = {backends[k], "voltage=2.5", NULL};
        hil_aux* a = psu(&s, more);
        double v = -1, i = -1;
        HIL_ASSERT_EQ((int)hil_aux_get_backend(a), (int)k == 2 ? HIL_AUX_THREAD : k == 0 ? HIL_AUX_PROCESS : HIL_AUX_SIMPLE);
        HIL_ASSERT_OK(hil_power_cycle(a, 10, 2000), "%s", backends[k]);
        HIL_ASSERT_OK(hil_power_measure(a, &v, &i, 2000), "%s", backends[k]);
        HIL_ASSERT_NEAR(v, 2.5, 1e-6, "%s", backends[k]);
        HIL_ASSERT_NEAR(i, 0.25, 1e-6, "%s", backends[k]);
        HIL_ASSERT_EQ(hil_power_set_voltage(a, 31, 2000), HIL_ERR_PROTOCOL, "%s", backends[k]);
        HIL_ASSERT(strstr(hil_last_error(), "Data out of range") != NULL, "%s: %s", backends[k], hil_last_error());
        HIL_ASSERT_OK(hil_power_off(a, 2000));
        hil_aux_destroy(a);
    }
    sim_stop(&s);
}
