/* hil_vm_tests: the test program that runs inside the QEMU VM bench.
 * Every tests/vm/vm_*.c suite is linked in; tests/vm/test-vm.sh builds it
 * statically and runs it through tests/vm/run.sh:
 *
 *     hil_vm_tests run --junit /results/vm.xml     the suites (closing line last)
 *     hil_vm_tests bench [FRAMES]                  BENCH lines (make bench-vm): CAN
 *                                                  frames, then ISO-TP transfers, then UDS
 */
#define HIL_IMPLEMENTATION
#include "vm_tests.h"
#include "hil_aux.h"   /* their implementations too: vm_uds.c uses the uds auxiliary */
#include "hil_probe.h"
#include "hil_uds.h"

#include <sys/stat.h>

int vm_bench_can(int argc, char** argv); /* vm_bench_can.c */
int vm_bench_isotp(void);                /* vm_isotp.c */
int vm_bench_uds(void);                  /* vm_uds.c */

const char* vm_results_dir(void) {
    const char* d = getenv("HILVM_RESULTS_DIR");
    return d && *d ? d : ".";
}

const char* vm_result_path(const char* name) {
    static char buf[8][512];
    static int next;
    char* p = buf[next++ % 8];
    snprintf(p, 512, "%s/%s", vm_results_dir(), name);
    return p;
}

int vm_have(const char* prog) {
    const char* path = getenv("PATH");
    while (path && *path) {
        size_t n = strcspn(path, ":");
        char full[1024];
        if (n && n < 900) {
            snprintf(full, sizeof full, "%.*s/%s", (int)n, path, prog);
            if (access(full, X_OK) == 0) return 1;
        }
        path += n + (path[n] == ':');
    }
    return 0;
}

hil_result vm_channel_try(const char* name, const char* type, const char* const* opts, hil_channel** out) {
    hil_channel_config c;
    hil_result r;
    hil_channel_config_init(&c);
    c.name = name;
    c.type = type;
    c.options = opts;
    *out = NULL;
    r = hil_channel_create(&c, out);
    if (r != HIL_OK) return r;
    r = hil_channel_open(*out);
    if (r != HIL_OK) {
        char why[1024];
        snprintf(why, sizeof why, "%s", hil_last_error());
        hil_channel_destroy(*out);
        *out = NULL;
        return hil_error(r, "%s", why);
    }
    return HIL_OK;
}

hil_channel* vm_channel(const char* name, const char* type, const char* const* opts) {
    hil_channel* ch = NULL;
    HIL_ASSERT_OK(vm_channel_try(name, type, opts, &ch), "opening %s channel '%s'", type, name);
    return ch;
}

int main(int argc, char** argv) {
    if (argc > 1 && strcmp(argv[1], "bench") == 0) {
        int rc = vm_bench_can(argc - 1, argv + 1);
        if (!rc) rc = vm_bench_isotp();
        return rc ? rc : vm_bench_uds();
    }
    return hil_main(argc, argv);
}
