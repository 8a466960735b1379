/* A command sent right after a boot, before the firmware has set its UART
 * up, is not lost (examples/mcu, board_early_init in the board files).
 *
 * Made deterministic with QEMU's GDB stub: the board starts halted, runs to
 * a breakpoint at main (the startup code has run, board_init has not), a
 * PING is sent, and a QMP round trip makes sure QEMU's main loop has looked
 * at the UART while the CPU stands there. QEMU's STM32 USART model
 * (netduinoplus2) takes every byte offered while its receive register is
 * empty and drops it unless UE and RE are set; a firmware that holds input
 * from its first instructions gets the PING once it runs on. The CMSDK UART
 * of mps2-an385 holds input while RX is off; its firmware is checked the
 * same way.
 *
 * Tag mcu: `make test-mcu` builds the firmware. Skipped, naming the
 * packages, without the tools; HIL_REQUIRE_MCU=1 (CI) makes that a failure. */
#include "selftest.h"

HIL_SUITE(mcu_early_rx, "tags=mcu")

static void need(const char* prog, const char* pkg, const char* file) {
    const char* why = NULL;
    char what[700];
    if (prog && !st_have(prog)) {
        snprintf(what, sizeof what, "%s not installed (apt-get install %s)", prog, pkg);
        why = what;
    } else if (file && access(file, R_OK) != 0) {
        snprintf(what, sizeof what, "%s is not built (make test-mcu builds it)", file);
        why = what;
    }
    if (!why) return;
    if (getenv("HIL_REQUIRE_MCU") && strcmp(getenv("HIL_REQUIRE_MCU"), "1") == 0)
        HIL_FAIL("%s; HIL_REQUIRE_MCU=1 needs it", why);
    HIL_SKIP("%s", why);
}

/* Read from the UART until the ACK of the PING with `token` (the boot LOG
   comes first); HIL_ERR_TIMEOUT if it does not come. */
static hil_result wait_ack(hil_channel* ch, uint8_t token, int timeout_ms, char* seen, size_t seen_size) {
    uint8_t buf[2048];
    size_t have = 0, o = 0;
    uint64_t deadline = hil_deadline_ms(timeout_ms);
    seen[0] = 0;
    for (;;) {
        hil_tapp_msg m;
        size_t used;
        hil_result r;
        hil_msg in;
        while (have) {
            r = hil_tapp_decode(buf, have, &m, &used);
            if (r == HIL_ERR_AGAIN) break;
            if (r == HIL_ERR_PROTOCOL) used = 1; /* text of the firmware's service, not a message */
            if (r == HIL_OK && o + 24 < seen_size)
                o += (size_t)snprintf(seen + o, seen_size - o, "%stype %d sub %d token %d", o ? ", " : "", m.type,
                                      m.sub_type, m.token);
            if (r == HIL_OK && m.type == HIL_TAPP_ACK && m.token == token) return HIL_OK;
            memmove(buf, buf + used, have - used);
            have -= used;
        }
        if (have == sizeof buf) have = 0;
        hil_msg_init(&in, buf + have, sizeof buf - have);
        r = hil_channel_recv(ch, &in, hil_deadline_left_ms(deadline));
        if (r != HIL_OK) return r;
        have += in.len;
    }
}

static void ping_before_board_init(const char* machine, const char* board) {
    char image[600], machine_opt[64], image_opt[700], gdb[64], seen[600];
    const char* opts[] = {machine_opt, image_opt, "gdb=auto", "gdb_wait=true", NULL};
    hil_channel_config cc;
    hil_channel* ch = NULL;
    hil_probe_config pc;
    hil_probe* p = NULL;
    hil_rsp_stop st;
    hil_tapp_msg ping;
    uint8_t wire[HIL_TAPP_MAX_MSG];
    size_t len;
    uint64_t main_addr = 0, pc_now = 0;
    hil_result r;
    snprintf(image, sizeof image, "%s/mcu/fw-%s-default.elf", st_build_dir(), board);
    need("qemu-system-arm", "qemu-system-arm", NULL);
    need("arm-none-eabi-gcc", "gcc-arm-none-eabi", image);
    snprintf(machine_opt, sizeof machine_opt, "machine=%s", machine);
    snprintf(image_opt, sizeof image_opt, "image=%s", image);
    hil_channel_config_init(&cc);
    cc.name = "early";
    cc.type = "qemu";
    cc.options = opts;
    HIL_ASSERT_OK(hil_channel_create(&cc, &ch));
    HIL_ASSERT_OK(hil_channel_open(ch), "%s", hil_last_error());
    HIL_ASSERT_OK(hil_qemu_gdb_address(ch, gdb, sizeof gdb));
    hil_probe_config_init(&pc);
    pc.name = "early";
    pc.address = gdb;
    pc.flavor = "qemu";
    pc.elf = image;
    pc.timeout_ms = 5000;
    HIL_ASSERT_OK(hil_probe_create(&pc, &p), "%s", hil_last_error());
    /* halted at the reset vector: run the startup code, stop before board_init */
    HIL_ASSERT_OK(hil_probe_break_symbol(p, "main", 1, &main_addr), "%s", hil_last_error());
    HIL_ASSERT_OK(hil_probe_resume(p));
    HIL_ASSERT_OK(hil_probe_wait_halt(p, 5000, &st), "%s", hil_last_error());
    HIL_ASSERT_OK(hil_probe_read_pc(p, &pc_now));
    HIL_ASSERT_EQ(pc_now & ~(uint64_t)1, main_addr & ~(uint64_t)1, "stopped at main");
    memset(&ping, 0, sizeof ping);
    ping.type = HIL_TAPP_COMMAND;
    ping.token = 0x5a;
    ping.sub_type = HIL_TAPP_PING;
    len = hil_tapp_encode(&ping, wire);
    HIL_ASSERT_OK(hil_channel_send_bytes(ch, wire, len, 1000));
    /* the PING was written before this command: QEMU's main loop, which
       answers it, has seen the UART readable meanwhile */
    HIL_ASSERT_OK(hil_qemu_qmp(ch, "{\"execute\":\"query-status\"}", 5000, NULL), "%s", hil_last_error());
    HIL_ASSERT_OK(hil_probe_unbreak(p, main_addr));
    HIL_ASSERT_OK(hil_probe_resume(p));
    r = wait_ack(ch, ping.token, 3000, seen, sizeof seen);
    HIL_EXPECT_OK(r, "the PING sent while %s stood at main was answered (received: %s)", board, seen[0] ? seen : "nothing");
    hil_probe_destroy(p);
    hil_channel_destroy(ch);
}

HIL_TEST_META(mcu_early_rx, netduinoplus2_ping_before_board_init, "timeout=60") {
    ping_before_board_init("netduinoplus2", "netduinoplus2");
}

HIL_TEST_META(mcu_early_rx, mps2_an385_ping_before_board_init, "timeout=60") {
    ping_before_board_init("mps2-an385", "mps2-an385");
}
