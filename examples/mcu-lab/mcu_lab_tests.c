/* The tests of the lab of emulated boards (examples/mcu-lab/lab.conf):
 * on-target cases of examples/mcu's firmware through the DUT auxiliary, and
 * its text service through a communication auxiliary on the same UART.
 * The scheduler gives each run its board as the connector `dut` and the
 * variant it flashed as params.variant ("an385-release": the board, then
 * the firmware's VARIANT). */
#define HIL_IMPLEMENTATION
#include "hil.h"
#include "hil_connectors.h"
#include "hil_aux.h"
#include "hil_runner.h"

#include <stdlib.h>
#include <string.h>

HIL_FRAMEWORK_EXTENSION(mcu_lab) {
    ext->description = "The lab of emulated boards";
    hil_ext_option(ext, "lab.dir", HIL_OPT_PATH, "build/mcu-lab", "Where the lab keeps firmware builds and board flash");
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

HIL_SUITE(service, "id=10; tags=local; requires=svc")

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
HIL_SUITE(target, "id=1; tags=remote; requires=dut")
HIL_REMOTE_TEST_META(target, passes, "dut", 1, 1, "id=1");
HIL_REMOTE_TEST_META(target, logs, "dut", 1, 4, "id=4");
HIL_REMOTE_TEST_META(target, identity, "dut", 1, 5, "id=5");

HIL_MAIN()
