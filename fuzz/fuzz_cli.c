/* fuzz/fuzz_cli.c - the command line: which command (hil__cli_command),
 * then its options (hil__cli_parse) against every option the headers
 * declare, as hil_main does at load stage 90; and the values users type
 * that have parsers of their own: --shard K/N (hil_sched_parse_shard),
 * --log-level, outcome names.
 *
 * Input: the arguments, separated by NUL bytes (argv[0] is "fuzz"; at
 * most 64). -c/--config and --enable/--disable are read by the prescan
 * that loads files: not here (fuzz_config covers the files).
 * Properties: a parse that fails says why (hil_last_error) and sets exit
 * code 2 when it was a usage error; a shard that parses is 1 <= K <= N
 * and "K/N" printed back parses to the same pair. */
#define HIL_IMPLEMENTATION
#include "hil.h"
#include "hil_connectors.h"
#include "hil_aux.h"
#include "hil_runner.h"

#include "fuzz_common.h"

#define MAX_ARGS 64

static hil_result parse(int argc, char** argv) {
    hil_config* cfg = NULL;
    hil_result r;
    int at;
    if (hil_config_create(&cfg) != HIL_OK) abort();
    hil__app.cfg = cfg;
    hil__app.exit_code = 0;
    hil__app.help = 0;
    at = hil__cli_command(argc, argv, &hil__app.command_name);
    hil__app.command = hil__command_find(hil__app.command_name);
    FUZZ_CHECK(hil__app.command != NULL, "no command '%s'", hil__app.command_name);
    r = hil__cli_parse(argc, argv, at, hil__app.command);
    if (r != HIL_OK) FUZZ_CHECK(hil_last_error()[0], "parse failed (%d) and said nothing", (int)r);
    if (r == HIL_OK) (void)hil_config_validate(cfg);
    HIL_FREE(hil__app.pos);
    hil__app.pos = NULL;
    hil__app.n_pos = 0;
    hil__app.cfg = NULL;
    hil_config_destroy(cfg);
    return r;
}

static void values(const char* a) {
    uint32_t k = 0, n = 0, k2 = 0, n2 = 0;
    hil_log_level lvl;
    if (hil_sched_parse_shard(a, &k, &n) == HIL_OK) {
        char again[32];
        FUZZ_CHECK(k >= 1 && k <= n, "shard '%s' parsed as %u/%u", a, k, n);
        snprintf(again, sizeof again, "%u/%u", k, n);
        FUZZ_CHECK(hil_sched_parse_shard(again, &k2, &n2) == HIL_OK && k2 == k && n2 == n, "'%s' -> '%s' -> %u/%u", a,
                   again, k2, n2);
    }
    (void)hil_log_level_parse(a, &lvl);
    (void)hil_outcome_parse(a);
}

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static int ready;
    char* buf = (char*)malloc(size + 1);
    char* argv[MAX_ARGS + 2];
    int argc = 1;
    size_t i, start = 0;
    if (!buf) abort();
    if (!ready) {
        /* the options must be declared, or this fuzzes only "unknown option" */
        char* probe[] = {(char*)"fuzz", (char*)"schedule", (char*)"--shard", (char*)"2/4", NULL};
        char* probe2[] = {(char*)"fuzz", (char*)"--junit", (char*)"x.xml", (char*)"-vv", NULL};
        hil__declare_builtins();
        FUZZ_CHECK(parse(4, probe) == HIL_OK, "the probe command line does not parse: %s", hil_last_error());
        FUZZ_CHECK(parse(4, probe2) == HIL_OK, "the probe command line does not parse: %s", hil_last_error());
        ready = 1;
    }
    if (size) memcpy(buf, data, size);
    buf[size] = 0;
    argv[0] = (char*)"fuzz";
    for (i = 0; i <= size && argc <= MAX_ARGS; i++)
        if (buf[i] == 0) {
            argv[argc++] = buf + start;
            start = i + 1;
        }
    argv[argc] = NULL;
    fuzz_clock_start();
    for (i = 1; i < (size_t)argc; i++) values(argv[i]);
    if (parse(argc, argv) != HIL_OK && hil__app.exit_code != 0)
        FUZZ_CHECK(hil__app.exit_code == 2, "a usage error with exit code %d", hil__app.exit_code);
    hil_clear_error();
    fuzz_clock_check(size, "the command line");
    free(buf);
    return 0;
}
