/* hil_probe.h against real GDB servers: QEMU's stub on an emulated
 * Cortex-M3 (mps2-an385) running tests/probe/fw_probe.c, and gdbserver
 * running a Linux program (tests/probe/linux_target.c); gdb-multiarch
 * checks what hil loaded. Flash, reset, memory, registers, symbols,
 * breakpoints, RTT both ways, the gdb flasher, and the failures: a busy
 * server, a running target, an address out of range, a symbol not in the
 * ELF, a verify mismatch, a server that dies. Tagged mcu: `make test-mcu`
 * (the firmware is built by make probe-firmware). Skipped, naming the
 * Debian packages, without the tools; HIL_REQUIRE_MCU=1 (CI) makes that a
 * failure. */
#include "selftest.h"
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>

HIL_SUITE(probe_qemu, "tags=mcu,probe")
HIL_SUITE(probe_gdbserver, "tags=mcu,probe")

/* Skip (or, with HIL_REQUIRE_MCU=1 as in CI, fail) when a tool or a built
 * file is missing; the reason says what to install or build. */
static int require_mcu(void) {
    const char* v = getenv("HIL_REQUIRE_MCU");
    return v && strcmp(v, "1") == 0;
}

static void need_prog(const char* prog, const char* pkg) {
    if (st_have(prog)) return;
    if (require_mcu()) HIL_FAIL("%s not installed; HIL_REQUIRE_MCU=1 needs it (apt-get install %s)", prog, pkg);
    HIL_SKIP("%s not installed (apt-get install %s)", prog, pkg);
}

static void need_file(const char* path, const char* how) {
    if (access(path, R_OK) == 0) return;
    if (require_mcu()) HIL_FAIL("%s is not built; HIL_REQUIRE_MCU=1 needs it (%s)", path, how);
    HIL_SKIP("%s is not built: %s", path, how);
}

static const char* fw(const char* variant) {
    static char paths[4][600];
    static int next;
    char* p = paths[next++ % 4];
    snprintf(p, 600, "%s/probe/fw-probe-%s.elf", st_build_dir(), variant);
    need_prog("arm-none-eabi-gcc", "gcc-arm-none-eabi");
    need_file(p, "run make probe-firmware");
    return p;
}

/* ---- QEMU with its GDB stub on a socket we listen on: no port race ---- */

typedef struct qemu {
    hil_proc proc;
    char addr[64];
} qemu;

static void qemu_start(qemu* q) {
    struct sockaddr_in a;
    socklen_t al = sizeof a;
    char chardev[96];
    int fd;
    hil_proc_config pc;
    need_prog("qemu-system-arm", "qemu-system-arm");
    need_prog("arm-none-eabi-gcc", "gcc-arm-none-eabi");
    fd = socket(AF_INET, SOCK_STREAM, 0); /* inherited by QEMU: no close-on-exec */
    HIL_ASSERT(fd >= 0, "socket");
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    HIL_ASSERT_EQ(bind(fd, (struct sockaddr*)&a, sizeof a), 0);
    HIL_ASSERT_EQ(listen(fd, 4), 0);
    getsockname(fd, (struct sockaddr*)&a, &al);
    snprintf(q->addr, sizeof q->addr, "127.0.0.1:%d", ntohs(a.sin_port));
    snprintf(chardev, sizeof chardev, "socket,id=gdb0,fd=%d,server=on,wait=off,nodelay=on", fd);
    {
        /* no -kernel: QEMU restores a -kernel image at every reset, which
         * would undo what the probe flashed (docs/probes.md) */
        const char* argv[] = {"qemu-system-arm", "-M", "mps2-an385", "-nographic", "-monitor", "none", "-serial", "null",
                              "-S", "-chardev", chardev, "-gdb", "chardev:gdb0", NULL};
        hil_proc_config_init(&pc);
        pc.argv = argv;
        pc.null_stdin = 1;
        pc.new_process_group = 1;
        pc.die_with_parent = 1;
        HIL_ASSERT_OK(hil_proc_spawn(&q->proc, &pc));
    }
    close(fd);
}

static void qemu_stop(qemu* q) { hil_proc_terminate(&q->proc, 2000); }

static hil_probe* probe_at(const char* name, const char* addr, const char* flavor, const char* elf) {
    hil_probe_config c;
    hil_probe* p = NULL;
    hil_probe_config_init(&c);
    c.name = name;
    c.address = addr;
    c.flavor = flavor;
    c.elf = elf;
    c.timeout_ms = 5000;
    HIL_ASSERT_OK(hil_probe_create(&c, &p));
    return p;
}

static uint32_t sym_u32(hil_probe* p, const char* name) {
    uint32_t v = 0;
    HIL_ASSERT_OK(hil_probe_read_symbol(p, name, &v, sizeof v));
    return v;
}

/* Read RTT up-buffer 0 until `want` appears (the target runs meanwhile). */
static void rtt_expect(hil_rtt* rt, const char* want, int timeout_ms) {
    char buf[512];
    size_t have = 0, got;
    uint64_t deadline = hil_deadline_ms(timeout_ms);
    buf[0] = 0;
    while (!strstr(buf, want)) {
        HIL_ASSERT(hil_deadline_left_ms(deadline) > 0, "RTT: '%s' not seen within %d ms; got '%s'", want, timeout_ms, buf);
        HIL_ASSERT_OK(hil_rtt_read(rt, 0, buf + have, sizeof buf - 1 - have, &got));
        have += got;
        buf[have] = 0;
        /* RTT has no event to wait on: the target is looked at again after
         * 5 ms of running, as the rtt channel's reader does every poll_ms */
        if (!got) poll(NULL, 0, 5);
    }
}

HIL_TEST(probe_qemu, flash_a_variant_and_it_boots) {
    qemu q;
    hil_probe* p;
    hil_rtt rt;
    uint32_t c1, c2;
    uint64_t pc, tick;
    const char* v1 = fw("1");
    const char* v2 = fw("2");
    qemu_start(&q);
    p = probe_at("q", q.addr, "qemu", v1);
    HIL_EXPECT(!hil_probe_is_running(p), "-S: QEMU waits halted");
    HIL_ASSERT_OK(hil_probe_flash(p, v1, NULL)); /* load, verify, reset, run */
    HIL_EXPECT(hil_probe_is_running(p), "resumed after the reset");
    HIL_ASSERT_OK(hil_probe_run_to(p, "probe_tick", 5000));
    HIL_EXPECT_EQ(sym_u32(p, "g_variant"), 1);
    HIL_ASSERT_OK(hil_probe_read_pc(p, &pc));
    HIL_ASSERT_OK(hil_probe_symbol(p, "probe_tick", &tick, NULL));
    HIL_EXPECT_EQ(pc, tick & ~1ull);
    /* the firmware increments the counter once per loop: one more stop, one more count */
    c1 = sym_u32(p, "g_counter");
    HIL_ASSERT_OK(hil_probe_run_to(p, "probe_tick", 5000));
    c2 = sym_u32(p, "g_counter");
    HIL_EXPECT_EQ(c2, c1 + 1);
    /* a new variant: flashed, reset, booted (its .data copied by its own reset handler) */
    HIL_ASSERT_OK(hil_probe_set_elf(p, v2));
    HIL_ASSERT_OK(hil_probe_flash(p, v2, NULL));
    HIL_ASSERT_OK(hil_rtt_attach(p, NULL, &rt));
    rtt_expect(&rt, "boot variant=2\n", 5000);
    HIL_ASSERT_OK(hil_probe_halt(p, 2000));
    HIL_EXPECT_EQ(sym_u32(p, "g_variant"), 2);
    HIL_EXPECT(sym_u32(p, "g_counter") > 0, "it runs");
    /* reset-halt: stopped at the reset vector, the counter zeroed by startup once it runs */
    HIL_ASSERT_OK(hil_probe_reset(p, 1, 5000));
    HIL_ASSERT_OK(hil_probe_read_pc(p, &pc));
    HIL_ASSERT_OK(hil_probe_symbol(p, "Reset_Handler", &tick, NULL));
    HIL_EXPECT_EQ(pc, tick & ~1ull);
    hil_probe_destroy(p);
    qemu_stop(&q);
}

HIL_TEST(probe_qemu, breakpoints_steps_registers_and_monitor) {
    qemu q;
    hil_probe* p;
    hil_rsp_stop st;
    uint64_t addr, pc, r0;
    hil_strbuf out = {0, 0, 0, 0};
    const char* v1 = fw("1");
    qemu_start(&q);
    p = probe_at("q", q.addr, "qemu", v1);
    HIL_ASSERT_OK(hil_probe_flash(p, v1, NULL));
    HIL_ASSERT_OK(hil_probe_halt(p, 2000));
    HIL_ASSERT_OK(hil_probe_break_symbol(p, "probe_tick", 1, &addr)); /* hardware */
    HIL_ASSERT_OK(hil_probe_resume(p));
    HIL_ASSERT_OK(hil_probe_wait_halt(p, 5000, &st));
    HIL_EXPECT_EQ(st.signal, 5);
    HIL_ASSERT_OK(hil_probe_read_pc(p, &pc));
    HIL_EXPECT_EQ(pc, addr);
    /* resuming from the breakpoint steps over it and stops there again next loop */
    HIL_ASSERT_OK(hil_probe_resume(p));
    HIL_ASSERT_OK(hil_probe_wait_halt(p, 5000, &st));
    HIL_ASSERT_OK(hil_probe_read_pc(p, &pc));
    HIL_EXPECT_EQ(pc, addr);
    HIL_ASSERT_OK(hil_probe_unbreak(p, addr));
    HIL_ASSERT_OK(hil_probe_step(p, 2000));
    HIL_ASSERT_OK(hil_probe_read_pc(p, &pc));
    HIL_EXPECT(pc != addr, "a step moves the PC (0x%llx)", (unsigned long long)pc);
    HIL_ASSERT_OK(hil_probe_write_reg(p, 0, 0xC0FFEE));
    HIL_ASSERT_OK(hil_probe_read_reg(p, 0, &r0));
    HIL_EXPECT_EQ(r0, 0xC0FFEEu);
    HIL_ASSERT_OK(hil_probe_write_symbol(p, "g_error_count", "\x2a\x00\x00\x00", 4));
    HIL_EXPECT_EQ(sym_u32(p, "g_error_count"), 42);
    HIL_ASSERT_OK(hil_probe_monitor(p, "info registers", &out, 5000));
    HIL_EXPECT(strstr(hil_sb_cstr(&out), "R00=00c0ffee") != NULL, "monitor output decoded: %.200s", hil_sb_cstr(&out));
    hil_sb_free(&out);
    hil_probe_destroy(p);
    qemu_stop(&q);
}

HIL_TEST(probe_qemu, rtt_channel_both_ways) {
    qemu q;
    hil_probe* p;
    hil_channel* ch;
    hil_channel_config c;
    hil_msg m;
    char buf[256];
    const char* opts[] = {"probe=qrtt", "framing=line", "poll_ms=5", NULL};
    const char* v1 = fw("1");
    qemu_start(&q);
    p = probe_at("qrtt", q.addr, "qemu", v1);
    HIL_ASSERT_OK(hil_probe_flash(p, v1, NULL));
    HIL_ASSERT_OK(hil_probe_register(p)); /* the channel shares this connection */
    hil_channel_config_init(&c);
    c.name = "rtt";
    c.type = "rtt";
    c.options = opts;
    HIL_ASSERT_OK(hil_channel_create(&c, &ch));
    HIL_ASSERT_OK(hil_channel_open(ch));
    hil_msg_init(&m, buf, sizeof buf - 1);
    HIL_ASSERT_OK(hil_channel_recv(ch, &m, 5000));
    buf[m.len] = 0;
    HIL_EXPECT_STREQ(buf, "boot variant=1");
    HIL_ASSERT_OK(hil_channel_send_bytes(ch, "ping", 4, 2000));
    hil_msg_init(&m, buf, sizeof buf - 1);
    HIL_ASSERT_OK(hil_channel_recv(ch, &m, 5000));
    buf[m.len] = 0;
    HIL_EXPECT_STREQ(buf, "echo:ping");
    /* a test reads the firmware meanwhile through the same probe */
    HIL_ASSERT_OK(hil_probe_halt(p, 2000));
    HIL_EXPECT_EQ(sym_u32(p, "g_echoed"), 5);
    HIL_ASSERT_OK(hil_probe_resume(p));
    /* the server dies: the channel's reader stops and a receive says why */
    hil_proc_kill(&q.proc, SIGKILL);
    hil_proc_wait(&q.proc, 5000);
    hil_msg_init(&m, buf, sizeof buf - 1);
    HIL_EXPECT_EQ(hil_channel_recv(ch, &m, 5000), HIL_ERR_CLOSED);
    HIL_EXPECT(strstr(hil_last_error(), "RTT reading stopped: ") && strstr(hil_last_error(), "closed the connection"), "%s",
               hil_last_error());
    hil_channel_destroy(ch);
    hil_probe_release(p);
    qemu_stop(&q);
}

HIL_TEST(probe_qemu, errors_are_clear_and_nothing_hangs) {
    qemu q;
    hil_probe* p;
    hil_probe* second = NULL;
    hil_probe_config c;
    hil_flash_options o;
    unsigned char b[4];
    uint32_t v;
    const char* v1 = fw("1");
    const char* bin = st_path("uart.bin");
    qemu_start(&q);
    p = probe_at("q", q.addr, "qemu", v1);
    /* busy: QEMU serves one client; a second one gets no answer */
    hil_probe_config_init(&c);
    c.name = "second";
    c.address = q.addr;
    c.connect_timeout_ms = 500;
    HIL_EXPECT_EQ(hil_probe_create(&c, &second), HIL_ERR_TIMEOUT);
    HIL_EXPECT(strstr(hil_last_error(), "busy with another client") != NULL, "%s", hil_last_error());
    /* an address out of range: the server's E reply, and the connection stays */
    HIL_EXPECT_EQ(hil_probe_read_mem(p, 0xF0000000u, b, 4), HIL_ERR_IO);
    HIL_EXPECT(strstr(hil_last_error(), "at 0xf0000000: the server answered 'E") != NULL, "%s", hil_last_error());
    /* a symbol that is not there names the ELF */
    HIL_EXPECT_EQ(hil_probe_read_symbol(p, "g_no_such_counter", &v, 4), HIL_ERR_NOT_FOUND);
    HIL_EXPECT(strstr(hil_last_error(), "'g_no_such_counter' is not in ") && strstr(hil_last_error(), "fw-probe-1.elf"),
               "%s", hil_last_error());
    /* running: memory access needs a halt */
    HIL_ASSERT_OK(hil_probe_flash(p, v1, NULL));
    HIL_EXPECT_EQ(hil_probe_read_symbol(p, "g_counter", &v, 4), HIL_ERR_STATE);
    HIL_EXPECT(strstr(hil_last_error(), "the target is running") != NULL, "%s", hil_last_error());
    /* verify: UART0's data register does not read back what was written */
    HIL_ASSERT_OK(hil_write_file_atomic(bin, "ABCD", 4));
    hil_flash_options_init(&o);
    o.bin_address = 0x40004000u;
    o.start = HIL_PROBE_START_NONE;
    HIL_EXPECT_EQ(hil_probe_flash(p, bin, &o), HIL_ERR_CHECKSUM);
    HIL_EXPECT(strstr(hil_last_error(), "verify failed: the target differs from the image at 0x40004000") != NULL, "%s",
               hil_last_error());
    /* the server dies: the next request says so at once */
    hil_proc_kill(&q.proc, SIGKILL);
    hil_proc_wait(&q.proc, 5000);
    {
        uint64_t t0 = hil_now_ns();
        hil_result r = hil_probe_read_mem(p, 0x20000000u, b, 4);
        HIL_EXPECT(r == HIL_ERR_CLOSED, "%d: %s", r, hil_last_error());
        HIL_EXPECT(strstr(hil_last_error(), "closed the connection") != NULL, "%s", hil_last_error());
        HIL_EXPECT_EQ(hil_probe_read_mem(p, 0x20000000u, b, 4), HIL_ERR_CLOSED);
        HIL_EXPECT(hil_now_ns() - t0 < 3000000000ull, "no hang");
    }
    hil_probe_destroy(p);
    qemu_stop(&q);
}

HIL_TEST(probe_qemu, the_gdb_flasher_from_configuration) {
    qemu q;
    hil_probe* p;
    hil_flasher* f;
    hil_flasher_config fc;
    const char* opts[] = {"probe=qflash", "verify=read", NULL};
    const char* v2 = fw("2");
    qemu_start(&q);
    p = probe_at("qflash", q.addr, "qemu", v2);
    HIL_ASSERT_OK(hil_probe_register(p));
    hil_flasher_config_init(&fc);
    fc.name = "board";
    fc.type = "gdb";
    fc.options = opts;
    HIL_ASSERT_OK(hil_flasher_create(&fc, &f));
    HIL_ASSERT_OK(hil_flasher_flash(f, v2, -1));
    HIL_EXPECT(strstr(hil_flasher_output(f), "loaded ") && strstr(hil_flasher_output(f), "verified"), "%s",
               hil_flasher_output(f));
    HIL_ASSERT_OK(hil_probe_run_to(p, "probe_tick", 5000));
    HIL_EXPECT_EQ(sym_u32(p, "g_variant"), 2);
    /* an image that is not there: the flasher names it */
    HIL_EXPECT_EQ(hil_flasher_flash(f, st_path("nope.elf"), -1), HIL_ERR_IO);
    HIL_EXPECT(strstr(hil_last_error(), "flasher 'board'") && strstr(hil_last_error(), "nope.elf"), "%s", hil_last_error());
    hil_flasher_destroy(f);
    hil_probe_release(p);
    qemu_stop(&q);
}

/* gdb-multiarch's view of what hil loaded, and what gdb loads read back by hil. */
HIL_TEST(probe_qemu, gdb_multiarch_agrees_with_what_hil_loaded) {
    qemu a, b;
    hil_probe* p;
    hil_image img;
    hil_flash_options o;
    st_result r;
    char target[96];
    size_t i;
    const char* v1 = fw("1");
    need_prog("gdb-multiarch", "gdb-multiarch");
    qemu_start(&a);
    p = probe_at("qa", a.addr, "qemu", v1);
    hil_flash_options_init(&o);
    o.start = HIL_PROBE_START_NONE;
    HIL_ASSERT_OK(hil_probe_flash(p, v1, &o));
    hil_probe_destroy(p); /* detach: gdb connects next */
    snprintf(target, sizeof target, "target remote %s", a.addr);
    {
        const char* argv[] = {"gdb-multiarch", "-nx", "-batch", "-ex", "set confirm off", "-ex", target, "-ex",
                              "compare-sections", "-ex", "detach", v1, NULL};
        st_run(argv, NULL, 60000, &r);
        HIL_EXPECT(st_has(&r, "Section .text, range 0x0 -- ") && st_has(&r, ": matched."), "%s", r.out);
        HIL_EXPECT(!st_has(&r, "MIS-MATCHED"), "%s", r.out);
        st_result_free(&r);
    }
    qemu_stop(&a);
    qemu_start(&b);
    snprintf(target, sizeof target, "target remote %s", b.addr);
    {
        const char* argv[] = {"gdb-multiarch", "-nx", "-batch", "-ex", "set confirm off", "-ex", target, "-ex", "load",
                              "-ex", "detach", v1, NULL};
        st_run(argv, NULL, 60000, &r);
        HIL_EXPECT(st_has(&r, "Transfer rate"), "%s", r.out);
        st_result_free(&r);
    }
    p = probe_at("qb", b.addr, "qemu", v1);
    HIL_ASSERT_OK(hil_image_load(v1, 0, &img));
    for (i = 0; i < img.n_blocks; i++) {
        unsigned char* back = (unsigned char*)malloc(img.blocks[i].len);
        HIL_ASSERT_OK(hil_probe_read_mem(p, img.blocks[i].addr, back, img.blocks[i].len));
        HIL_EXPECT_MEMEQ(back, img.blocks[i].data, img.blocks[i].len);
        free(back);
    }
    hil_image_free(&img);
    hil_probe_destroy(p);
    qemu_stop(&b);
}

/* ---- gdbserver ---- */

typedef struct gdbs {
    hil_proc proc;
    char addr[64];
    int inferior;
} gdbs;

static void gdbs_start(gdbs* g, const char* program) {
    hil_proc_config pc;
    char out[2048];
    size_t have = 0;
    uint64_t deadline = hil_deadline_ms(10000);
    const char* argv[] = {"gdbserver", "--once", "127.0.0.1:0", program, NULL};
    char* s;
    need_prog("gdbserver", "gdbserver");
    hil_proc_config_init(&pc);
    pc.argv = argv;
    pc.null_stdin = 1;
    pc.pipe_stdout = 1;
    pc.stderr_to_stdout = 1;
    pc.new_process_group = 1;
    pc.die_with_parent = 1;
    HIL_ASSERT_OK(hil_proc_spawn(&g->proc, &pc));
    /* port 0: gdbserver picks one and says which */
    out[0] = 0;
    while (!strstr(out, "Listening on port ") || !strchr(strstr(out, "Listening on port "), '\n')) {
        ssize_t n;
        HIL_ASSERT(hil_wait_readable(g->proc.stdout_fd, hil_deadline_left_ms(deadline)) == HIL_OK,
                   "gdbserver did not start listening: %s", out);
        n = read(g->proc.stdout_fd, out + have, sizeof out - 1 - have);
        HIL_ASSERT(n > 0, "gdbserver ended: %s", out);
        have += (size_t)n;
        out[have] = 0;
    }
    snprintf(g->addr, sizeof g->addr, "127.0.0.1:%d", atoi(strstr(out, "Listening on port ") + 18));
    s = strstr(out, "pid = ");
    g->inferior = s ? atoi(s + 6) : -1;
}

static void gdbs_stop(gdbs* g) {
    if (g->inferior > 0) kill(g->inferior, SIGKILL); /* the program we had gdbserver start */
    hil_proc_terminate(&g->proc, 2000);
    hil_proc_close(&g->proc);
}

static const char* linux_target(void) {
    static char p[600];
    snprintf(p, sizeof p, "%s/probe/linux_target", st_build_dir());
    need_file(p, "run make probe-firmware");
    return p;
}

HIL_TEST(probe_gdbserver, memory_registers_and_breakpoints) {
    gdbs g;
    hil_probe* p;
    unsigned char t[8];
    uint64_t pc, tick, rax;
    hil_rsp_stop st;
    uint32_t c1;
    const char* prog = linux_target();
    gdbs_start(&g, prog);
    p = probe_at("gs", g.addr, "gdbserver", prog);
    HIL_EXPECT(hil_rsp_is_no_ack(hil_probe_rsp(p)), "gdbserver offers no-ack mode");
    HIL_EXPECT_EQ(hil_probe_pc_regnum(p), 16); /* x86-64 rip, from the ELF */
    HIL_ASSERT_OK(hil_probe_run_to(p, "probe_tick", 5000));
    HIL_ASSERT_OK(hil_probe_read_pc(p, &pc));
    HIL_ASSERT_OK(hil_probe_symbol(p, "probe_tick", &tick, NULL));
    HIL_EXPECT_EQ(pc, tick);
    HIL_ASSERT_OK(hil_probe_read_symbol(p, "g_table", t, 8));
    HIL_EXPECT_MEMEQ(t, "\0\1\2\3\4\5\6\7", 8);
    /* X packets carry the bytes that must be escaped */
    HIL_ASSERT_OK(hil_probe_write_symbol(p, "g_table", "#$}*\x03", 5));
    HIL_ASSERT_OK(hil_probe_read_symbol(p, "g_table", t, 8));
    HIL_EXPECT_MEMEQ(t, "#$}*\x03\5\6\7", 8);
    HIL_EXPECT_EQ(sym_u32(p, "g_error_count"), 7);
    HIL_ASSERT_OK(hil_probe_write_reg(p, 0, 0x1122334455667788ull));
    HIL_ASSERT_OK(hil_probe_read_reg(p, 0, &rax));
    HIL_EXPECT_EQ(rax, 0x1122334455667788ull);
    /* a software breakpoint: resume, stop there again, one more count */
    c1 = sym_u32(p, "g_counter");
    HIL_ASSERT_OK(hil_probe_break(p, tick, 0));
    HIL_ASSERT_OK(hil_probe_resume(p));
    HIL_ASSERT_OK(hil_probe_wait_halt(p, 5000, &st));
    HIL_EXPECT_EQ(st.signal, 5);
    HIL_ASSERT_OK(hil_probe_read_pc(p, &pc));
    HIL_EXPECT_EQ(pc, tick);
    HIL_EXPECT_EQ(sym_u32(p, "g_counter"), c1 + 1);
    HIL_ASSERT_OK(hil_probe_unbreak(p, tick));
    HIL_EXPECT_EQ(hil_probe_read_mem(p, 0x10, t, 4), HIL_ERR_IO);
    HIL_EXPECT(strstr(hil_last_error(), "reading 4 bytes at 0x10: the server answered 'E") != NULL, "%s", hil_last_error());
    HIL_EXPECT_EQ(hil_probe_reset(p, 1, 1000), HIL_ERR_UNSUPPORTED);
    HIL_EXPECT(strstr(hil_last_error(), "gdbserver cannot reset") != NULL, "%s", hil_last_error());
    hil_probe_destroy(p);
    gdbs_stop(&g);
}

HIL_TEST(probe_gdbserver, rtt_with_8_byte_pointers) {
    gdbs g;
    hil_probe* p;
    hil_rtt rt;
    size_t w;
    const char* prog = linux_target();
    gdbs_start(&g, prog);
    p = probe_at("gs", g.addr, "gdbserver", prog);
    HIL_ASSERT_OK(hil_probe_run_to(p, "probe_tick", 5000)); /* past rtt_init */
    HIL_ASSERT_OK(hil_probe_resume(p));
    HIL_ASSERT_OK(hil_rtt_attach(p, NULL, &rt));
    HIL_EXPECT_EQ(rt.ptr_size, 8);
    rtt_expect(&rt, "boot linux\n", 5000);
    HIL_ASSERT_OK(hil_rtt_write(&rt, 0, "hi", 2, &w));
    HIL_EXPECT_EQ(w, 2);
    rtt_expect(&rt, "echo:hi", 5000);
    HIL_EXPECT_EQ(hil_rtt_read(&rt, 3, NULL, 0, &w), HIL_ERR_INVALID_ARG);
    HIL_EXPECT(strstr(hil_last_error(), "up-buffer 3 does not exist") != NULL, "%s", hil_last_error());
    hil_probe_destroy(p);
    gdbs_stop(&g);
}

HIL_TEST(probe_gdbserver, a_program_that_exits) {
    gdbs g;
    hil_probe* p;
    hil_rsp_stop st;
    unsigned char b[4];
    need_prog("true", "coreutils");
    gdbs_start(&g, "/bin/true");
    p = probe_at("gs", g.addr, "gdbserver", NULL);
    HIL_ASSERT_OK(hil_probe_resume(p));
    HIL_EXPECT_EQ(hil_probe_wait_halt(p, 5000, &st), HIL_ERR_CLOSED);
    HIL_EXPECT(strstr(hil_last_error(), "the program exited with status 0") != NULL, "%s", hil_last_error());
    HIL_EXPECT_EQ(st.kind, 'W');
    HIL_EXPECT_EQ(hil_probe_read_mem(p, 0x1000, b, 4), HIL_ERR_CLOSED);
    hil_probe_destroy(p);
    g.inferior = -1;
    gdbs_stop(&g);
}

/* examples/mcu's firmware (built by make mcu-firmware) flashed through the
 * stub into an empty board: it boots and says so on RTT as on its UART. */
HIL_TEST(probe_qemu, the_example_firmware_boots_and_speaks_rtt) {
    qemu q;
    hil_probe* p;
    hil_rtt rt;
    char path[600];
    snprintf(path, sizeof path, "%s/mcu/fw-mps2-an385-default.elf", st_build_dir());
    need_prog("arm-none-eabi-gcc", "gcc-arm-none-eabi");
    need_file(path, "run make mcu-firmware");
    qemu_start(&q);
    p = probe_at("mcu", q.addr, "qemu", path);
    HIL_ASSERT_OK(hil_probe_flash(p, path, NULL));
    HIL_ASSERT_OK(hil_rtt_attach(p, NULL, &rt));
    rtt_expect(&rt, "boot board=mps2-an385 variant=default version=", 5000);
    hil_probe_destroy(p);
    qemu_stop(&q);
}

/* ---- the qemu channel's GDB stub (gdb = auto), an empty board (image = none) ---- */

/* Receive from ch until `want` is in the stream (the UART carries COBS
 * frames with zero bytes: searched with memmem). */
static int uart_expect(hil_channel* ch, const char* want, int timeout_ms) {
    static char got[4096];
    size_t have = 0;
    uint64_t deadline = hil_deadline_ms(timeout_ms);
    for (;;) {
        hil_msg m;
        if (have && memmem(got, have, want, strlen(want))) return 1;
        if (have + 256 > sizeof got) {
            memmove(got, got + have - 256, 256);
            have = 256;
        }
        hil_msg_init(&m, got + have, sizeof got - have);
        if (hil_channel_recv(ch, &m, hil_deadline_left_ms(deadline)) != HIL_OK) return 0;
        have += m.len;
    }
}

static hil_channel* stub_board(const char* name, const char* machine) {
    hil_channel_config c;
    hil_channel* ch = NULL;
    char mach[100];
    const char* opts[] = {mach, "image=none", "gdb=auto", "gdb_wait=true", NULL};
    need_prog("qemu-system-arm", "qemu-system-arm");
    snprintf(mach, sizeof mach, "machine=%s", machine);
    hil_channel_config_init(&c);
    c.name = name;
    c.type = "qemu";
    c.options = opts;
    HIL_ASSERT_OK(hil_channel_create(&c, &ch));
    return ch;
}

/* Both machines: the board opens halted and empty (no boot wait), the
 * probe finds the stub by the channel's name and flashes the example
 * firmware, the boot LOG on the UART names the version, and a reset of
 * the board (QMP system_reset) boots the flashed image again: without
 * -kernel nothing is copied back over it. netduinoplus2's flash at
 * 0x08000000 is ROM to the CPU; the stub writes it all the same. */
HIL_TEST(probe_qemu, the_qemu_channel_serves_a_stub_that_flashes_and_survives_resets) {
    static const char* const machines[] = {"mps2-an385", "netduinoplus2"};
    size_t i;
    for (i = 0; i < 2; i++) {
        char path[600], addr[64], want[128], qaddr[80];
        hil_channel* ch;
        hil_probe* p;
        char* reply = NULL;
        snprintf(path, sizeof path, "%s/mcu/fw-%s-default.elf", st_build_dir(), machines[i]);
        need_prog("arm-none-eabi-gcc", "gcc-arm-none-eabi");
        need_file(path, "run make mcu-firmware");
        ch = stub_board("stubboard", machines[i]);
        HIL_ASSERT_OK(hil_channel_open(ch), "gdb_wait: open does not wait for a boot");
        HIL_ASSERT_OK(hil_qemu_gdb_address(ch, addr, sizeof addr));
        HIL_EXPECT(strncmp(addr, "127.0.0.1:", 10) == 0 && atoi(addr + 10) > 0, "%s", addr);
        HIL_ASSERT_OK(hil_qemu_qmp(ch, "{\"execute\":\"query-status\"}", 5000, &reply));
        HIL_EXPECT(reply && strstr(reply, "\"running\": false"), "-S: the CPU waits: %s", reply ? reply : "");
        HIL_FREE(reply);
        p = probe_at("stub", "qemu:stubboard", "qemu", path);
        snprintf(qaddr, sizeof qaddr, "%s", hil_rsp_where(hil_probe_rsp(p)));
        HIL_EXPECT(strstr(qaddr, addr) != NULL, "the probe reached %s through qemu:stubboard (%s)", addr, qaddr);
        HIL_ASSERT_OK(hil_probe_flash(p, path, NULL), "%s", machines[i]);
        snprintf(want, sizeof want, "boot board=%s variant=default version=1.0.0", machines[i]);
        HIL_EXPECT(uart_expect(ch, want, 5000), "%s: the flashed firmware booted ('%s' on the UART)", machines[i], want);
        hil_probe_destroy(p); /* detaches: the target runs on */
        HIL_ASSERT_OK(hil_channel_reset(ch, 5000));
        HIL_EXPECT(uart_expect(ch, want, 5000), "%s: after a reset the flashed firmware boots again", machines[i]);
        hil_channel_destroy(ch);
        HIL_EXPECT_EQ(hil_qemu_gdb_address_of("stubboard", addr, sizeof addr), HIL_ERR_NOT_FOUND, "closed: forgotten");
    }
}

/* A probe auxiliary: created from configuration, flashes at start, the
 * test reaches the probe through the aux API; its commands; a probe that
 * cannot connect leaves it FAILED with the reason (so requires= blocks). */
HIL_TEST(probe_qemu, the_probe_auxiliary) {
    hil_config* cfg = NULL;
    hil_channel* ch;
    hil_aux_config ac;
    hil_aux* a = NULL;
    hil_probe* p;
    hil_aux_cmd cmd;
    hil_aux_report rep;
    char path[600], why[600];
    snprintf(path, sizeof path, "%s/mcu/fw-mps2-an385-v2.elf", st_build_dir());
    need_prog("arm-none-eabi-gcc", "gcc-arm-none-eabi");
    need_file(path, "run make mcu-firmware");
    ch = stub_board("auxboard", "mps2-an385");
    HIL_ASSERT_OK(hil_channel_open(ch));
    HIL_ASSERT_OK(hil_config_create(&cfg));
    HIL_ASSERT_OK(hil_config_set(cfg, "probes.board.address", "qemu:auxboard", 10, "test"));
    HIL_ASSERT_OK(hil_config_set(cfg, "probes.board.flavor", "qemu", 10, "test"));
    HIL_ASSERT_OK(hil_config_set(cfg, "probes.board.elf", path, 10, "test"));
    HIL_ASSERT_OK(hil_config_set(cfg, "auxiliaries.jtag.type", "probe", 10, "test"));
    HIL_ASSERT_OK(hil_config_set(cfg, "auxiliaries.jtag.probe", "board", 10, "test"));
    HIL_ASSERT_OK(hil_config_set(cfg, "auxiliaries.jtag.flash", path, 10, "test"));
    hil_aux_config_init(&ac);
    ac.name = "jtag";
    ac.config = cfg;
    HIL_ASSERT_OK(hil_aux_create(&ac, &a));
    HIL_EXPECT(hil_aux_get("jtag") == a, "found by name");
    p = hil_aux_probe(a);
    HIL_ASSERT(p != NULL, "a running probe auxiliary has its probe");
    HIL_EXPECT(uart_expect(ch, "boot board=mps2-an385 variant=v2 version=1.0.0", 5000), "flashed at start");
    HIL_ASSERT_OK(hil_probe_halt(p, 2000));
    {
        uint64_t pc = 0;
        HIL_ASSERT_OK(hil_probe_read_pc(p, &pc));
        HIL_EXPECT(pc > 0 && pc < 0x400000, "halted in the firmware's code (pc 0x%llx)", (unsigned long long)pc);
    }
    HIL_ASSERT_OK(hil_probe_resume(p));
    /* the commands: a reset through the probe boots again */
    memset(&cmd, 0, sizeof cmd);
    cmd.code = HIL_PROBE_CMD_RESET;
    HIL_ASSERT_OK(hil_aux_run_command(a, &cmd, 1, 10000, &rep));
    HIL_EXPECT(uart_expect(ch, "boot board=mps2-an385 variant=v2", 5000), "reset through the auxiliary");
    cmd.code = HIL_PROBE_CMD_FLASH;
    cmd.data = "/nonexistent/fw.elf";
    cmd.len = strlen("/nonexistent/fw.elf");
    HIL_EXPECT_NE(hil_aux_run_command(a, &cmd, 1, 10000, &rep), HIL_OK);
    HIL_EXPECT(strstr(rep.text, "/nonexistent/fw.elf") != NULL, "%s", rep.text);
    HIL_EXPECT(hil_aux_probe(hil_aux_get("jtag")) == p, "still usable after a failed command");
    hil_aux_destroy(a);
    hil_channel_destroy(ch);
    /* no board any more: the auxiliary fails, naming the probe and why */
    a = NULL;
    HIL_EXPECT_NE(hil_aux_create(&ac, &a), HIL_OK);
    if (a) {
        HIL_EXPECT_EQ(hil_aux_get_state(a), HIL_AUX_FAILED);
        hil_aux_why(a, why, sizeof why);
        hil_aux_destroy(a);
    } else {
        snprintf(why, sizeof why, "%s", hil_last_error());
    }
    HIL_EXPECT(strstr(why, "qemu:auxboard") && strstr(why, "no open qemu channel"), "%s", why);
    /* the process backend is refused: the connection would be out of the test's reach */
    HIL_ASSERT_OK(hil_config_set(cfg, "auxiliaries.jtag.backend", "process", 20, "test"));
    HIL_EXPECT_EQ(hil_aux_create(&ac, &a), HIL_ERR_CONFIG);
    HIL_EXPECT(strstr(hil_last_error(), "backend = process"), "%s", hil_last_error());
    hil_config_destroy(cfg);
}
