/* make bench-mcu (informative, like bench-vm; not part of `make bench`):
 * examples/mcu's firmware on an emulated mps2-an385 against the same DUT
 * auxiliary talking to examples/sim-firmware (a Linux process on
 * hil_target.h), measured in the same run:
 *
 *   BENCH mcu_boot_to_ping <ms> ms        emulator start to the first PING answered (median of 7)
 *   BENCH mcu_boot_to_ping_min/_max       the fastest and slowest of the 7 (docs/qemu.md: a
 *                                         UART model that delays the first answer shows here)
 *   BENCH mcu_dut_step_p50 <ms> ms        one remote step (COMMAND, ACK, REPORT: CASE_SETUP of
 *                                         suite 1, case 1, which does no work) on the board
 *   BENCH sim_dut_step_p50 <ms> ms        the same step against sim-firmware
 *   BENCH mcu_vs_sim_step_ratio <x> x     the first over the second
 *
 * Usage: mcu_bench BUILD_DIR (the firmware: BUILD_DIR/mcu/fw-mps2-an385-default.elf,
 * sim-firmware: BUILD_DIR/demo/sim-firmware). Prints a SKIP line and exits 0
 * when either is missing or QEMU is not installed. */
#define HIL_IMPLEMENTATION
#include "hil.h"
#include "hil_connectors.h"
#include "hil_aux.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BOOTS 7
#define STEPS 200

static int cmp_double(const void* a, const void* b) {
    double x = *(const double*)a, y = *(const double*)b;
    return x < y ? -1 : x > y;
}

static double median(double* v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return v[n / 2];
}

/* A DUT auxiliary (thread backend) on a new channel of `type` with opts;
 * it PINGs the target when created. */
static hil_result make_dut(const char* type, const char* const* opts, hil_aux** out) {
    hil_channel_config cc;
    hil_aux_config ac;
    hil_channel* ch = NULL;
    const char* aopts[] = {"ping_tries=1", "ping_timeout_ms=5000", NULL};
    hil_result r;
    hil_channel_config_init(&cc);
    cc.name = "bench";
    cc.type = type;
    cc.options = opts;
    if ((r = hil_channel_create(&cc, &ch)) != HIL_OK) return r;
    hil_aux_config_init(&ac);
    ac.name = "bench_dut";
    ac.type = "dut";
    ac.com = ch;
    ac.options = aopts;
    return hil_aux_create(&ac, out);
}

static int steps_p50(hil_aux* dut, double* p50) {
    static double t[STEPS];
    hil_dut_result res;
    int i;
    for (i = 0; i < STEPS; i++) {
        uint64_t t0 = hil_now_ns();
        /* CASE_SETUP of suite 1, case 1: a step that does no work on either
         * target (sim-firmware's RUN of that case sleeps 400 ms on purpose,
         * to look like a RAM test), so the protocol round trip is measured */
        if (hil_dut_step(dut, HIL_TAPP_CASE_SETUP, 1, 1, &res) != HIL_OK || res.verdict != HIL_TAPP_PASS) {
            fprintf(stderr, "mcu_bench: step %d: %s\n", i, res.reason);
            return 0;
        }
        t[i] = (double)(hil_now_ns() - t0) / 1e6;
    }
    *p50 = median(t, STEPS);
    return 1;
}

int main(int argc, char** argv) {
    const char* build = argc > 1 ? argv[1] : "build";
    char image[512], img_opt[600], sim[512], sim_cmd[700];
    double boot[BOOTS], mcu_p50 = 0, sim_p50 = 0;
    hil_aux* dut = NULL;
    int i;
    snprintf(image, sizeof image, "%s/mcu/fw-mps2-an385-default.elf", build);
    snprintf(sim, sizeof sim, "%s/demo/sim-firmware", build);
    if (access(image, R_OK) != 0 || access(sim, X_OK) != 0 || system("command -v qemu-system-arm >/dev/null 2>&1") != 0) {
        printf("SKIP mcu_bench: needs %s, %s and qemu-system-arm (apt-get install gcc-arm-none-eabi qemu-system-arm; "
               "make bench-mcu builds them)\n", image, sim);
        return 0;
    }
    hil_log_set_level("", HIL_LOG_WARN);
    snprintf(img_opt, sizeof img_opt, "image=%s", image);
    {
        const char* qopts[] = {"machine=mps2-an385", img_opt, NULL};
        for (i = 0; i < BOOTS; i++) {
            uint64_t t0 = hil_now_ns();
            if (make_dut("qemu", qopts, &dut) != HIL_OK) {
                fprintf(stderr, "mcu_bench: the board: %s\n", hil_last_error());
                return 1;
            }
            boot[i] = (double)(hil_now_ns() - t0) / 1e6;
            if (i < BOOTS - 1) hil_aux_destroy(dut);
        }
        if (!steps_p50(dut, &mcu_p50)) return 1;
        hil_aux_destroy(dut);
    }
    {
        const char* sopts[3];
        snprintf(sim_cmd, sizeof sim_cmd, "command=%s --name bench --type sensor-node --variant rev-b --seed 7", sim);
        sopts[0] = sim_cmd;
        sopts[1] = "framing=cobs";
        sopts[2] = NULL;
        if (make_dut("process", sopts, &dut) != HIL_OK) {
            fprintf(stderr, "mcu_bench: sim-firmware: %s\n", hil_last_error());
            return 1;
        }
        if (!steps_p50(dut, &sim_p50)) return 1;
        hil_aux_destroy(dut);
    }
    printf("BENCH mcu_boot_to_ping %.1f ms\n", median(boot, BOOTS)); /* sorts boot[] */
    printf("BENCH mcu_boot_to_ping_min %.1f ms\n", boot[0]);
    printf("BENCH mcu_boot_to_ping_max %.1f ms\n", boot[BOOTS - 1]);
    printf("BENCH mcu_dut_step_p50 %.3f ms\n", mcu_p50);
    printf("BENCH sim_dut_step_p50 %.3f ms\n", sim_p50);
    printf("BENCH mcu_vs_sim_step_ratio %.2f x\n", sim_p50 > 0 ? mcu_p50 / sim_p50 : 0.0);
    return 0;
}
