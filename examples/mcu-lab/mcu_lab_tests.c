/* The tests of the lab of emulated boards (examples/mcu-lab/lab.conf):
 * on-target cases of examples/mcu's firmware through the DUT auxiliary, and
 * its text service through a communication auxiliary on the same UART. The
 * firmware got onto the board through the `probe` auxiliary (hil_probe.h:
 * QEMU's GDB stub), and each suite first checks that the board boots the
 * build the run was given.
 * The scheduler gives each run its board as the connector `dut` and the
 * variant it flashed as params.variant ("an385-release": the board, then
 * the firmware's VARIANT). */
#define HIL_IMPLEMENTATION
#include "hil.h"
#include "hil_connectors.h"
#include "hil_aux.h"
#include "hil_runner.h"
#include "hil_probe.h"

#include <stdlib.h>
#include <string.h>

HIL_FRAMEWORK_EXTENSION(mcu_lab) {
    ext->description = "The lab of emulated boards";
    hil_ext_option(ext, "lab.dir", HIL_OPT_PATH, "build/mcu-lab", "Where the lab keeps firmware builds");
    hil_ext_option(ext, "lab.version", HIL_OPT_STRING, NULL, "The firmware version the lab's builds stamp in (VERSION=)");
}

/* Reset the board (through the DUT auxiliary: QMP system_reset) and check
 * the boot LOG the firmware sends, read from svc's copy of the UART: it
 * names the board, the variant and the version of the build this run
 * flashed. A board started with -kernel would boot that image again after
 * a reset; this one has only what the probe flashed, so the line proves
 * the flash took and stays. */
static void boots_the_build(void) {
    char stream[2048], want[160], line[160];
    size_t have = 0, k;
    const char* variant = hil_param("variant", "");
    const char* version = hil_config_get(hil_cfg(), "lab.version", "?");
    const char* board = strncmp(variant, "an385", 5) == 0 ? "mps2-an385" : "netduinoplus2";
    const char* at = NULL;
    hil_aux* svc = hil_aux_get("svc");
    hil_aux* dut = hil_aux_get("dut");
    uint64_t deadline;
    HIL_ASSERT(svc && dut && strchr(variant, '-'), "needs auxiliaries svc and dut and params.variant (run it through schedule)");
    /* The probe started the firmware just before the tests: its first boot
     * LOG may still be on the way. An answer to PING comes after it (one
     * UART, in order), so from here on a boot LOG is the reset's. */
    HIL_ASSERT_OK(hil_dut_ping(dut, 5000), "the firmware the probe flashed does not answer PING");
    hil_aux_clear_buffer(svc);
    HIL_ASSERT_OK(hil_dut_reset(dut, 10000));
    snprintf(want, sizeof want, "boot board=%s variant=%s version=%s", board, strchr(variant, '-') + 1, version);
    deadline = hil_deadline_ms(5000);
    while (!at) {
        hil_msg m;
        if (have > sizeof stream - 256) have = 0;
        hil_msg_init(&m, stream + have, sizeof stream - have);
        if (hil_aux_receive_message(svc, &m, hil_deadline_left_ms(deadline)) != HIL_OK) {
            char hex[400];
            size_t o = 0;
            for (k = have > 120 ? have - 120 : 0; k < have && o + 4 < sizeof hex; k++)
                o += (size_t)snprintf(hex + o, sizeof hex - o, "%02x ", (unsigned char)stream[k]);
            hex[o] = 0;
            HIL_FAIL("no boot LOG after the reset: %s (%zu bytes received: %s)", hil_last_error(), have, hex);
        }
        have += m.len;
        /* the text is a TLV of the LOG message (pykiso testApp): tag
         * TEST_REPORT (110), its length, then the text; the CRC after it
         * may well be printable */
        for (k = 2; k + 5 <= have && !at; k++)
            if (memcmp(stream + k, "boot ", 5) == 0 && (unsigned char)stream[k - 2] == HIL_TAPP_TLV_TEST_REPORT &&
                k + (unsigned char)stream[k - 1] <= have) {
                size_t len = (unsigned char)stream[k - 1];
                at = stream + k;
                if (len >= sizeof line) len = sizeof line - 1;
                memcpy(line, at, len);
                line[len] = 0;
            }
    }
    HIL_INFO("lab.mcu", "board %s after a reset: %s", hil_param("resource_dut", "?"), line);
    HIL_EXPECT(strncmp(line, want, strlen(want)) == 0, "the board booted '%s'; the run flashed '%s'", line, want);
}

/* A text request '#...\n'; the reply is the next '#ok' or '#error' line
 * (testApp frames on the same UART are skipped), its \xHH escapes undone. */
static const char* ask(const char* request) {
    static char reply[256];
    char stream[1024], req[128];
    size_t have = 0;
    hil_aux* svc = hil_aux_get("svc");
    uint64_t deadline = hil_deadline_ms(3000);
    int n = snprintf(req, sizeof req, "#%s\n", request);
    HIL_ASSERT(svc != NULL, "no 'svc' auxiliary: is the lab configuration loaded (-c)?");
    HIL_ASSERT_OK(hil_aux_send_bytes(svc, req, (size_t)n, 1000), "asking %s", request);
    for (;;) {
        hil_msg m;
        size_t i;
        hil_msg_init(&m, stream + have, sizeof stream - 1 - have);
        HIL_ASSERT_OK(hil_aux_receive_message(svc, &m, hil_deadline_left_ms(deadline)), "no answer to %s", request);
        have += m.len;
        for (i = 0; i + 3 < have; i++) {
            char* nl;
            size_t o = 0, k;
            if (stream[i] != '#' || (strncmp(stream + i, "#ok", 3) != 0 && strncmp(stream + i, "#err", 4) != 0)) continue;
            nl = (char*)memchr(stream + i, '\n', have - i);
            if (!nl) break;
            for (k = i + 1; stream + k < nl && o + 1 < sizeof reply; k++) {
                unsigned v;
                if (stream[k] == '\\' && stream + k + 3 < nl && stream[k + 1] == 'x' && sscanf(stream + k + 2, "%2x", &v) == 1) {
                    reply[o++] = (char)v;
                    k += 3;
                } else {
                    reply[o++] = stream[k];
                }
            }
            reply[o] = 0;
            return reply;
        }
        if (have > sizeof stream - 128) have = 0; /* no reply in there: start over */
    }
}

HIL_SUITE(service, "id=10; tags=local; requires=svc,probe")

HIL_TEST_META(service, boots_the_build_flashed, "id=0; requires=dut") { boots_the_build(); }

HIL_TEST_META(service, runs_the_variant_flashed, "id=1") {
    const char* r = ask("version");
    const char* variant = hil_param("variant", NULL);
    HIL_INFO("lab.mcu", "board %s: %s", hil_param("resource_dut", "?"), r);
    HIL_ASSERT(strncmp(r, "ok board=", 9) == 0, "reply '%s'", r);
    if (variant && strchr(variant, '-')) {
        char want[96];
        snprintf(want, sizeof want, "variant=%s ", strchr(variant, '-') + 1);
        HIL_EXPECT(strstr(r, want), "'%s' has '%s': the firmware flashed is the one built", r, want);
    }
}

HIL_TEST_META(service, counts, "id=2") {
    long a, b;
    HIL_ASSERT_EQ(sscanf(ask("count"), "ok count=%ld", &a), 1);
    HIL_ASSERT_EQ(sscanf(ask("count"), "ok count=%ld", &b), 1);
    HIL_EXPECT_EQ(b, a + 1);
}

HIL_TEST_META(service, echoes, "id=3") {
    HIL_EXPECT_STREQ(ask("echo hello from the lab"), "ok hello from the lab");
}

/* On-target tests: the firmware's hil_target table (examples/mcu/main.c). */
HIL_SUITE(target, "id=1; tags=remote; requires=dut,probe")
HIL_TEST_META(target, boots_the_build_flashed, "id=0; requires=svc") { boots_the_build(); }
HIL_REMOTE_TEST_META(target, passes, "dut", 1, 1, "id=1");
HIL_REMOTE_TEST_META(target, logs, "dut", 1, 4, "id=4");
HIL_REMOTE_TEST_META(target, identity, "dut", 1, 5, "id=5");

HIL_MAIN()
