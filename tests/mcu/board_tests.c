/* Suites against one emulated board running examples/mcu's firmware
 * (tests/mcu/board.conf): on-target tests through the DUT auxiliary, every
 * fault of the firmware, the text service through a communication
 * auxiliary sharing the UART (an automatic proxy), reset, power cycle and
 * flashing through the qemu channel. Some of these end Failed, Errored or
 * Skipped on purpose: tests/test_mcu.c runs this program and checks each
 * result and reason (make test-mcu).
 *
 * Parameters: params.board (the BOARD the firmware was built for),
 * params.image_v2 (the same board's firmware, VARIANT=v2). */
#define HIL_IMPLEMENTATION
#include "hil.h"
#include "hil_connectors.h"
#include "hil_aux.h"

/* ---- suite 1 of the firmware: ordinary cases ---------------------------------- */
HIL_SUITE(target, "id=1; tags=remote; requires=dut")
HIL_REMOTE_TEST_META(target, passes, "dut", 1, 1, "id=1");
HIL_REMOTE_TEST_META(target, fails_with_a_reason, "dut", 1, 2, "id=2");
HIL_REMOTE_TEST_META(target, not_implemented, "dut", 1, 3, "id=3");
HIL_REMOTE_TEST_META(target, logs, "dut", 1, 4, "id=4");
HIL_REMOTE_TEST_META(target, identity, "dut", 1, 5, "id=5");

/* ---- suite 2: faults on request, each followed by a passing case: the
 * board is alive again and the suite goes on ------------------------------------ */
HIL_SUITE(faults, "id=2; tags=remote; requires=dut")
HIL_REMOTE_TEST_META(faults, hardfault, "dut", 2, 1, "id=1");
HIL_REMOTE_TEST_META(faults, after_hardfault, "dut", 1, 1, "id=2");
HIL_REMOTE_TEST_META(faults, hang, "dut", 2, 2, "id=3");
HIL_REMOTE_TEST_META(faults, after_hang, "dut", 1, 1, "id=4");
HIL_REMOTE_TEST_META(faults, reset_by_itself, "dut", 2, 3, "id=5");
HIL_REMOTE_TEST_META(faults, after_reset_by_itself, "dut", 1, 1, "id=6");
HIL_REMOTE_TEST_META(faults, corrupted_report, "dut", 2, 4, "id=7");
HIL_REMOTE_TEST_META(faults, after_corrupted_report, "dut", 1, 1, "id=8");
HIL_REMOTE_TEST_META(faults, undefined_instruction, "dut", 2, 5, "id=9");
HIL_REMOTE_TEST_META(faults, after_undefined_instruction, "dut", 1, 1, "id=10");

/* ---- the text service: '#' request '\n' -> '#' reply '\n' (docs/mcu.md) ---------- */

static char raw_line[256]; /* the last reply as it came, escapes and all */

/* '\xHH' back to the byte (the firmware escapes '@', 'P', '`', 'p', '\\'). */
static void unescape(const char* in, char* out, size_t size) {
    size_t o = 0;
    while (*in && o + 1 < size) {
        unsigned v;
        if (in[0] == '\\' && in[1] == 'x' && sscanf(in + 2, "%2x", &v) == 1) {
            out[o++] = (char)v;
            in += 4;
        } else {
            out[o++] = *in++;
        }
    }
    out[o] = 0;
}

/* Send a request and return the reply line (unescaped) that starts with
 * want_prefix (testApp frames and other lines on the same UART are skipped). */
static const char* ask(const char* request, const char* want_prefix) {
    static char line[256];
    char stream[2048];
    size_t have = 0;
    char req[128];
    hil_aux* svc = hil_aux_get("svc");
    uint64_t deadline = hil_deadline_ms(5000);
    int n = snprintf(req, sizeof req, "#%s\n", request);
    HIL_ASSERT(svc != NULL, "auxiliary svc");
    HIL_ASSERT_OK(hil_aux_send_bytes(svc, req, (size_t)n, 1000), "sending '%s'", request);
    for (;;) {
        hil_msg m;
        char* at;
        hil_msg_init(&m, stream + have, sizeof stream - 1 - have);
        HIL_ASSERT_OK(hil_aux_receive_message(svc, &m, hil_deadline_left_ms(deadline)), "no reply to '%s'", request);
        have += m.len;
        stream[have] = 0;
        /* binary frames may hold a NUL: search after each of them too */
        {
            size_t off = 0;
            while (off < have) {
                at = strstr(stream + off, want_prefix);
                if (at) {
                    char* nl = strchr(at, '\n');
                    if (nl) {
                        snprintf(raw_line, sizeof raw_line, "%.*s", (int)(nl - at), at);
                        unescape(raw_line, line, sizeof line);
                        return line;
                    }
                    break;
                }
                off += strlen(stream + off) + 1;
            }
        }
        if (have > sizeof stream - 300) { /* keep the tail: a reply may straddle */
            memmove(stream, stream + have - 256, 256);
            have = 256;
        }
    }
}

static long count_now(void) {
    const char* r = ask("count", "#ok count=");
    return strtol(r + 10, NULL, 10);
}

HIL_SUITE(service, "id=3; tags=local; requires=svc")

HIL_TEST_META(service, version, "id=1") {
    char want[128];
    const char* r = ask("version", "#ok board=");
    snprintf(want, sizeof want, "#ok board=%s variant=", hil_param("board", "mps2-an385"));
    HIL_EXPECT(strncmp(r, want, strlen(want)) == 0, "'%s' starts with '%s'", r, want);
}

HIL_TEST_META(service, counter_counts, "id=2") {
    long a = count_now(), b = count_now();
    HIL_EXPECT_EQ(b, a + 1);
}

HIL_TEST_META(service, echo_with_header_bytes_escaped, "id=3") {
    const char* r = ask("echo mail@example.org up", "#ok mail");
    HIL_EXPECT_STREQ(r, "#ok mail@example.org up");
    /* '@' and 'p' look like testApp headers: on the wire they are escaped */
    HIL_EXPECT_STREQ(raw_line, "#ok mail\\x40exam\\x70le.org u\\x70");
}

HIL_TEST_META(service, shares_the_uart_with_the_dut, "id=4; requires=svc,dut") {
    hil_dut_result res;
    long a = count_now();
    HIL_ASSERT_OK(hil_dut_step(hil_aux_get("dut"), HIL_TAPP_CASE_RUN, 1, 1, &res), "%s", res.reason);
    HIL_EXPECT_EQ(res.verdict, HIL_TAPP_PASS);
    HIL_EXPECT_EQ(count_now(), a + 1, "the text service kept its state across a remote step");
}

/* ---- board control through the qemu channel (behind the proxy) ----------------- */
HIL_SUITE(board, "id=4; tags=board; requires=svc,dut")

static hil_channel* board_channel(void) { return hil_aux_com(hil_aux_get("svc")); }

HIL_TEST_META(board, reset_starts_the_firmware_again, "id=1") {
    count_now();
    count_now();
    HIL_ASSERT_OK(hil_dut_reset(hil_aux_get("dut"), -1));
    HIL_EXPECT_EQ(count_now(), 1, "the counter starts over after a reset");
}

HIL_TEST_META(board, power_cycle, "id=2") {
    hil_aux* dut = hil_aux_get("dut");
    count_now();
    HIL_ASSERT_OK(hil_channel_power(board_channel(), 0, 5000));
    HIL_EXPECT_NE(hil_dut_ping(dut, 500), HIL_OK, "a board that is off does not answer");
    HIL_ASSERT_OK(hil_channel_power(board_channel(), 1, 10000));
    HIL_ASSERT_OK(hil_dut_ping(dut, 2000), "the board answers after power on");
    HIL_EXPECT_EQ(count_now(), 1, "the counter starts over after a power cycle");
}

HIL_TEST_META(board, flash_a_new_image, "id=3") {
    const char* v2 = hil_param("image_v2", NULL);
    const char* v1 = hil_config_get(hil_cfg(), "connectors.board.image", NULL);
    if (!v2) HIL_SKIP("params.image_v2 is not set (make test-mcu sets it)");
    HIL_ASSERT_OK(hil_channel_flash(board_channel(), v2, 10000));
    HIL_EXPECT(strstr(ask("version", "#ok board="), "variant=v2"), "the v2 image runs");
    HIL_ASSERT(v1 != NULL, "connectors.board.image");
    HIL_ASSERT_OK(hil_channel_flash(board_channel(), v1, 10000));
    HIL_EXPECT(strstr(ask("version", "#ok board="), "variant=default"), "the first image runs again");
}

HIL_MAIN()
