/* The qemu channel (hil_connectors.h, section qemu) and board control
 * (hil_channel_reset/power/flash) against a real emulated Cortex-M3: a
 * tiny firmware built here with arm-none-eabi-gcc prints a greeting on
 * CMSDK UART0 and echoes what it receives. Skipped without
 * qemu-system-arm or arm-none-eabi-gcc (the reason names the packages).
 * Part of `make test`; the firmware of examples/mcu is tested by `make
 * test-mcu` (tests/test_mcu.c, tests/mcu). */
#include "selftest.h"
#include <pthread.h>
#include <sys/wait.h>

HIL_SUITE(qemu, "tags=qemu")

#ifndef HIL_NO_QEMU

/* UART0 of mps2-an385: DATA +0, STATE +4 (bit 0 TX full, bit 1 RX full), CTRL +8. */
static const char* const tiny_fw =
    "#define U0 ((volatile unsigned*)0x40004000)\n"
    "void reset(void);\n"
    "__attribute__((section(\".vectors\"))) void* const vt[] = {(void*)0x20010000, (void*)reset};\n"
    "static void put(char c) { while (U0[1] & 1) {} U0[0] = (unsigned)c; }\n"
    "void reset(void) {\n"
    "    const char* s = GREETING;\n"
    "    U0[2] = 3;\n"
    "    while (*s) put(*s++);\n"
    "    for (;;) if (U0[1] & 2) put((char)U0[0]);\n"
    "}\n";
static const char* const tiny_ld =
    "MEMORY { FLASH (rx) : ORIGIN = 0, LENGTH = 4M  RAM (rwx) : ORIGIN = 0x20000000, LENGTH = 4M }\n"
    "SECTIONS { .text : { KEEP(*(.vectors)) *(.text*) *(.rodata*) } > FLASH }\n";

static void need_tools(void) {
    ST_SKIP_UNLESS_PROG("qemu-system-arm", "qemu-system-arm");
    ST_SKIP_UNLESS_PROG("arm-none-eabi-gcc", "gcc-arm-none-eabi");
}

/* Build the tiny firmware greeting with `greeting` (NULL: a silent one
 * that never writes) into <tmp>/<name>.elf; returns its path. */
static const char* tiny_image(const char* name, const char* greeting) {
    static char paths[4][512];
    static int next;
    char src[512], ld[512], def[128], *out = paths[next++ % 4];
    FILE* f;
    st_result r;
    snprintf(src, sizeof src, "%s", st_path("tiny.c"));
    snprintf(ld, sizeof ld, "%s", st_path("tiny.ld"));
    snprintf(out, 512, "%s.elf", st_path(name));
    f = fopen(src, "w");
    HIL_ASSERT(f != NULL, "%s", src);
    fputs(tiny_fw, f);
    fclose(f);
    f = fopen(ld, "w");
    HIL_ASSERT(f != NULL, "%s", ld);
    fputs(tiny_ld, f);
    fclose(f);
    if (greeting) snprintf(def, sizeof def, "-DGREETING=\"%s\"", greeting);
    else snprintf(def, sizeof def, "-DGREETING=\"\"");
    {
        const char* argv[] = {"arm-none-eabi-gcc", "-mcpu=cortex-m3", "-mthumb", "-ffreestanding", "-nostdlib", "-O1",
                              "-T", ld, def, "-o", out, src, NULL};
        st_run(argv, NULL, 60000, &r);
        HIL_ASSERT_EQ(r.code, 0, "arm-none-eabi-gcc: %s", r.out);
        st_result_free(&r);
    }
    return out;
}

static hil_channel* board(const char* image, const char* extra) {
    hil_channel_config c;
    hil_channel* ch = NULL;
    char img[600];
    const char* opts[5];
    int n = 0;
    snprintf(img, sizeof img, "image=%s", image);
    if (extra) opts[n++] = extra; /* the first of two values of a key wins */
    opts[n++] = "machine=mps2-an385";
    opts[n++] = img;
    opts[n++] = "boot_timeout_ms=5000";
    opts[n] = NULL;
    hil_channel_config_init(&c);
    c.name = "board";
    c.type = "qemu";
    c.options = opts;
    HIL_ASSERT_OK(hil_channel_create(&c, &ch));
    return ch;
}

/* Receive until want has arrived (raw stream: bytes come in pieces). */
static int expect_text(hil_channel* ch, const char* want, int timeout_ms) {
    char got[512];
    size_t have = 0;
    uint64_t deadline = hil_deadline_ms(timeout_ms);
    got[0] = 0;
    while (!strstr(got, want)) {
        hil_msg m;
        hil_msg_init(&m, got + have, sizeof got - 1 - have);
        if (have + 1 >= sizeof got) return 0;
        if (hil_channel_recv(ch, &m, hil_deadline_left_ms(deadline)) != HIL_OK) return 0;
        have += m.len;
        got[have] = 0;
    }
    return 1;
}

/* Whether a process is there and not a zombie waiting to be reaped. */
static int alive(int pid) {
    char path[64], st[256];
    FILE* f;
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    f = fopen(path, "r");
    if (!f) return 0;
    st[0] = 0;
    if (!fgets(st, sizeof st, f)) st[0] = 0;
    fclose(f);
    return !strstr(st, ") Z ");
}

HIL_TEST(qemu, boots_echoes_and_leaves_no_process) {
    hil_channel* ch;
    int pid;
    need_tools();
    ch = board(tiny_image("hello", "hello from the board\\n"), NULL);
    HIL_ASSERT_OK(hil_channel_open(ch));
    pid = hil_qemu_pid(ch);
    HIL_ASSERT(pid > 0 && alive(pid), "the emulator runs (pid %d)", pid);
    HIL_EXPECT(expect_text(ch, "hello from the board", 5000), "the greeting arrived");
    HIL_ASSERT_OK(hil_channel_send_bytes(ch, "ping!", 5, 1000));
    HIL_EXPECT(expect_text(ch, "ping!", 5000), "the UART echoes");
    hil_channel_destroy(ch);
    HIL_EXPECT(!alive(pid), "after close the emulator (pid %d) is gone and reaped", pid);
}

HIL_TEST(qemu, qmp_answers_and_errors_are_named) {
    hil_channel* ch;
    char* reply = NULL;
    need_tools();
    ch = board(tiny_image("hello", "hi\\n"), NULL);
    HIL_ASSERT_OK(hil_channel_open(ch));
    HIL_ASSERT_OK(hil_qemu_qmp(ch, "{\"execute\":\"query-status\"}", 5000, &reply));
    HIL_EXPECT(reply && strstr(reply, "\"running\""), "%s", reply ? reply : "(null)");
    HIL_FREE(reply);
    HIL_EXPECT_EQ(hil_qemu_qmp(ch, "{\"execute\":\"no-such-command\"}", 5000, NULL), HIL_ERR_PROTOCOL);
    HIL_EXPECT(strstr(hil_last_error(), "CommandNotFound"), "%s", hil_last_error());
    hil_channel_destroy(ch);
}

HIL_TEST(qemu, reset_power_cycle_and_flash) {
    hil_channel* ch;
    int pid1, pid2;
    hil_msg m;
    char buf[64];
    const char* v2;
    need_tools();
    v2 = tiny_image("v2", "firmware v2\\n");
    ch = board(tiny_image("v1", "firmware v1\\n"), NULL);
    HIL_ASSERT_OK(hil_channel_open(ch));
    HIL_ASSERT(expect_text(ch, "firmware v1", 5000), "first boot");
    pid1 = hil_qemu_pid(ch);
    HIL_ASSERT_OK(hil_channel_reset(ch, 5000));
    HIL_EXPECT(expect_text(ch, "firmware v1", 5000), "the greeting again after a reset");
    HIL_EXPECT_EQ(hil_qemu_pid(ch), pid1, "a reset keeps the emulator");
    HIL_ASSERT_OK(hil_channel_power(ch, 0, 5000));
    HIL_EXPECT(!alive(pid1), "powered off: the emulator is gone");
    HIL_EXPECT_EQ(hil_qemu_pid(ch), -1);
    HIL_EXPECT_EQ(hil_channel_send_bytes(ch, "x", 1, 100), HIL_ERR_STATE);
    HIL_EXPECT(strstr(hil_last_error(), "powered off"), "%s", hil_last_error());
    hil_msg_init(&m, buf, sizeof buf);
    HIL_EXPECT_EQ(hil_channel_recv(ch, &m, 200), HIL_ERR_TIMEOUT, "a board that is off is silent");
    HIL_ASSERT_OK(hil_channel_power(ch, 1, 5000));
    pid2 = hil_qemu_pid(ch);
    HIL_EXPECT(pid2 > 0 && pid2 != pid1, "a new emulator (pid %d, was %d)", pid2, pid1);
    HIL_EXPECT(expect_text(ch, "firmware v1", 5000), "it boots again");
    HIL_ASSERT_OK(hil_channel_flash(ch, v2, 5000));
    HIL_EXPECT(expect_text(ch, "firmware v2", 5000), "the new image boots");
    HIL_EXPECT(!alive(pid2), "flashing restarted the emulator");
    pid2 = hil_qemu_pid(ch);
    hil_channel_destroy(ch);
    HIL_EXPECT(!alive(pid2), "nothing left after close");
}

typedef struct blocked_reader {
    hil_channel* ch;
    int got;
} blocked_reader;

static void* read_through_restart(void* arg) {
    blocked_reader* b = (blocked_reader*)arg;
    b->got = expect_text(b->ch, "after", 15000);
    return NULL;
}

HIL_TEST(qemu, a_blocked_reader_reads_from_the_restarted_board) {
    hil_channel* ch;
    blocked_reader b;
    pthread_t t;
    const char* after;
    need_tools();
    after = tiny_image("after", "after the restart\\n");
    ch = board(tiny_image("before", "before\\n"), NULL);
    HIL_ASSERT_OK(hil_channel_open(ch));
    HIL_ASSERT(expect_text(ch, "before", 5000), "first boot");
    b.ch = ch;
    b.got = 0;
    HIL_ASSERT_EQ(pthread_create(&t, NULL, read_through_restart, &b), 0);
    HIL_EXPECT_OK(hil_channel_flash(ch, after, 5000), "flashing while another thread is blocked in receive");
    pthread_join(t, NULL);
    HIL_EXPECT(b.got, "the reader saw the new firmware's greeting");
    hil_channel_destroy(ch);
}

HIL_TEST(qemu, a_board_that_does_not_boot_says_why) {
    hil_channel* ch;
    const char* silent;
    need_tools();
    silent = tiny_image("silent", NULL);
    /* a machine QEMU does not have: QEMU's own message is in the error */
    ch = board(silent, "machine=no-such-board");
    HIL_EXPECT_NE(hil_channel_open(ch), HIL_OK);
    HIL_EXPECT(strstr(hil_last_error(), "did not boot (machine no-such-board") &&
                   strstr(hil_last_error(), "unsupported machine type"), "%s", hil_last_error());
    hil_channel_destroy(ch);
    /* an image that is not there */
    ch = board(st_path("missing.elf"), NULL);
    HIL_EXPECT_NE(hil_channel_open(ch), HIL_OK);
    HIL_EXPECT(strstr(hil_last_error(), "missing.elf") && strstr(hil_last_error(), "mps2-an385") &&
                   strstr(hil_last_error(), "QEMU said"), "%s", hil_last_error());
    hil_channel_destroy(ch);
    /* firmware that never writes: a boot timeout */
    ch = board(silent, "boot_timeout_ms=700");
    HIL_EXPECT_EQ(hil_channel_open(ch), HIL_ERR_TIMEOUT);
    HIL_EXPECT(strstr(hil_last_error(), "did not boot within 700 ms") && strstr(hil_last_error(), "no byte on its UART") &&
                   strstr(hil_last_error(), "silent.elf"), "%s", hil_last_error());
    hil_channel_destroy(ch);
    /* no emulator at all */
    ch = board(silent, "qemu=hil-no-such-qemu");
    HIL_EXPECT_EQ(hil_channel_open(ch), HIL_ERR_NOT_FOUND);
    HIL_EXPECT(strstr(hil_last_error(), "apt-get install qemu-system-arm"), "%s", hil_last_error());
    hil_channel_destroy(ch);
}

HIL_TEST(qemu, options_are_checked_at_create) {
    hil_channel_config c;
    hil_channel* ch = NULL;
    const char* no_machine[] = {"image=fw.elf", NULL};
    const char* no_image[] = {"machine=mps2-an385", NULL};
    hil_channel_config_init(&c);
    c.name = "board";
    c.type = "qemu";
    c.options = no_machine;
    HIL_EXPECT_EQ(hil_channel_create(&c, &ch), HIL_ERR_CONFIG);
    HIL_EXPECT(strstr(hil_last_error(), "connectors.board.machine"), "%s", hil_last_error());
    c.options = no_image;
    HIL_EXPECT_EQ(hil_channel_create(&c, &ch), HIL_ERR_CONFIG);
    HIL_EXPECT(strstr(hil_last_error(), "connectors.board.image"), "%s", hil_last_error());
    {
        const char* bad_gdb[] = {"machine=mps2-an385", "image=none", "gdb=localhost:12", NULL};
        const char* bad_port[] = {"machine=mps2-an385", "image=none", "gdb=70000", NULL};
        const char* wait_alone[] = {"machine=mps2-an385", "image=none", "gdb_wait=true", NULL};
        const char* fine[] = {"machine=mps2-an385", "image=none", "gdb=auto", "gdb_wait=true", NULL};
        char addr[64];
        c.options = bad_gdb;
        HIL_EXPECT_EQ(hil_channel_create(&c, &ch), HIL_ERR_CONFIG);
        HIL_EXPECT(strstr(hil_last_error(), "option gdb: 'localhost:12'"), "%s", hil_last_error());
        c.options = bad_port;
        HIL_EXPECT_EQ(hil_channel_create(&c, &ch), HIL_ERR_CONFIG);
        HIL_EXPECT(strstr(hil_last_error(), "a port (1..65535)"), "%s", hil_last_error());
        c.options = wait_alone;
        HIL_EXPECT_EQ(hil_channel_create(&c, &ch), HIL_ERR_CONFIG);
        HIL_EXPECT(strstr(hil_last_error(), "set connectors.board.gdb too"), "%s", hil_last_error());
        c.options = fine;
        HIL_ASSERT_OK(hil_channel_create(&c, &ch));
        HIL_EXPECT_EQ(hil_qemu_gdb_address(ch, addr, sizeof addr), HIL_ERR_STATE, "not listening before open");
        HIL_EXPECT(strstr(hil_last_error(), "only while the channel is open"), "%s", hil_last_error());
        hil_channel_destroy(ch);
    }
}

/* The power auxiliary's board driver (hil_aux.h, section power;
 * docs/power.md) on a real emulated board: off -> the UART is silent and
 * no emulator runs; on -> it boots and greets; a cycle -> it greets again. */
HIL_TEST(qemu, power_auxiliary_switches_the_board) {
    hil_channel* ch;
    hil_aux_config ac;
    hil_aux* a = NULL;
    const char* opts[] = {"power_type=board", NULL};
    char buf[256];
    hil_msg m;
    int on = -1;
    double v;
    need_tools();
    ch = board(tiny_image("power", "powered up\\n"), NULL);
    hil_aux_config_init(&ac);
    ac.name = "board_power";
    ac.type = "power";
    ac.com = ch; /* the auxiliary owns it; this test only reads the UART */
    ac.options = opts;
    HIL_ASSERT_OK(hil_aux_create(&ac, &a));
    HIL_EXPECT(expect_text(ch, "powered up", 5000), "the board booted when the auxiliary started");
    HIL_ASSERT_OK(hil_power_off(a, 5000));
    HIL_ASSERT_OK(hil_power_state(a, &on, 1000));
    HIL_EXPECT_EQ(on, 0);
    HIL_EXPECT_EQ(hil_qemu_pid(ch), -1, "no emulator runs while the board is off");
    hil_msg_init(&m, buf, sizeof buf);
    HIL_EXPECT(hil_channel_recv(ch, &m, 300) != HIL_OK, "the UART of a board that is off is silent");
    HIL_ASSERT_OK(hil_power_on(a, 10000));
    HIL_EXPECT(hil_qemu_pid(ch) > 0, "the emulator runs again");
    HIL_EXPECT(expect_text(ch, "powered up", 5000), "the board booted again");
    HIL_ASSERT_OK(hil_power_cycle(a, 100, 10000));
    HIL_ASSERT_OK(hil_power_state(a, &on, 1000));
    HIL_EXPECT_EQ(on, 1);
    HIL_EXPECT(expect_text(ch, "powered up", 5000), "the board booted after the cycle");
    HIL_EXPECT_EQ(hil_power_measure(a, &v, NULL, 1000), HIL_ERR_UNSUPPORTED);
    HIL_EXPECT(strstr(hil_last_error(), "power_type board cannot measure") != NULL, "%s", hil_last_error());
    hil_aux_destroy(a);
}

/* Received by an auxiliary until want has arrived (5 s). */
static int aux_heard(hil_aux* a, const char* want) {
    char got[512];
    size_t have = 0;
    uint64_t dl = hil_deadline_ms(5000);
    got[0] = 0;
    while (!strstr(got, want)) {
        hil_msg m;
        if (have + 1 >= sizeof got) return 0;
        hil_msg_init(&m, got + have, sizeof got - 1 - have);
        if (hil_aux_receive_message(a, &m, hil_deadline_left_ms(dl)) != HIL_OK) return 0;
        have += m.len;
        got[have] = 0;
    }
    return 1;
}

/* The documented lab: a communication auxiliary and the power auxiliary
 * on the same qemu connector (a proxy is inserted): the power auxiliary
 * switches the board through its proxy channel, the other one hears it boot. */
HIL_TEST(qemu, power_auxiliary_shares_the_board_through_a_proxy) {
    hil_config* cfg;
    hil_aux *com, *pwr;
    char text[1200];
    need_tools();
    snprintf(text, sizeof text,
             "connectors.board.type = qemu\n"
             "connectors.board.machine = mps2-an385\n"
             "connectors.board.image = %s\n"
             "connectors.board.boot_timeout_ms = 5000\n"
             "auxiliaries.uart.type = communication\n"
             "auxiliaries.uart.connectors.com = board\n"
             "auxiliaries.board_power.type = power\n"
             "auxiliaries.board_power.power_type = board\n"
             "auxiliaries.board_power.connectors.com = board\n",
             tiny_image("power2", "up again\\n"));
    HIL_ASSERT_OK(hil_config_create(&cfg));
    HIL_ASSERT_OK(hil_config_load_kv(cfg, text, "lab.conf", HIL_PRIO_FILE));
    HIL_ASSERT_OK(hil_aux_create_all(cfg));
    com = hil_aux_get("uart");
    pwr = hil_aux_get("board_power");
    HIL_ASSERT(com && pwr && hil_aux_get("proxy:board"), "both auxiliaries and the proxy exist");
    HIL_ASSERT_EQ(hil_aux_get_state(pwr), HIL_AUX_RUNNING);
    /* (the first boot's greeting may come before the proxy channels open) */
    (void)hil_aux_clear_buffer(com);
    HIL_ASSERT_OK(hil_power_cycle(pwr, 50, 10000));
    HIL_EXPECT(aux_heard(com, "up again"), "the communication auxiliary heard the board boot again");
    hil_aux_destroy_all();
    hil_config_destroy(cfg);
}

#endif /* HIL_NO_QEMU */

HIL_TEST(qemu, board_control_is_unsupported_on_other_channels) {
    hil_channel_config c;
    hil_channel* ch = NULL;
    hil_channel_config_init(&c);
    c.name = "plain";
    c.type = "loopback";
    HIL_ASSERT_OK(hil_channel_create(&c, &ch));
    HIL_ASSERT_OK(hil_channel_open(ch));
    HIL_EXPECT_EQ(hil_channel_reset(ch, 100), HIL_ERR_UNSUPPORTED);
    HIL_EXPECT(strstr(hil_last_error(), "'plain'") && strstr(hil_last_error(), "loopback channel has no board control"),
               "%s", hil_last_error());
    HIL_EXPECT_EQ(hil_channel_power(ch, 0, 100), HIL_ERR_UNSUPPORTED);
    HIL_EXPECT_EQ(hil_channel_flash(ch, "fw.elf", 100), HIL_ERR_UNSUPPORTED);
    hil_channel_destroy(ch);
}
