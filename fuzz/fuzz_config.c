/* fuzz/fuzz_config.c - configuration files (hil.h section 6): "key = value"
 * text and YAML with !include, then every value read back, which expands
 * ${key}, ${env:VAR:-default} and ENV{VAR=default} references.
 *
 * Input: [format][text of the main file][NUL][include 1][NUL][include 2]...
 *   format & 1: 0 "key = value" (hil_config_load_kv), 1 YAML.
 *   YAML that mentions !include is written with its includes to a temp
 *   directory (inc1.yaml, inc2.yaml, inc3.yaml) and loaded with
 *   hil_config_load_file, so relative includes resolve there; other YAML
 *   is parsed from memory.
 * Properties: no crash, leak or undefined behaviour; within the time
 * budget; every key hil_config_foreach visits reads back (hil_config_get)
 * as a value or the fallback, and a failed load leaves an error text. */
#define HIL_IMPLEMENTATION
#include "hil.h"

#include "fuzz_common.h"

#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[64];

static void write_file(const char* name, const uint8_t* p, size_t n) {
    char path[128];
    FILE* f;
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    f = fopen(path, "wb");
    if (!f) { perror(path); abort(); }
    if (n && fwrite(p, 1, n, f) != n) abort();
    fclose(f);
}

static void read_back(const char* key, const hil_config_value* v, void* user) {
    hil_config* c = (hil_config*)user;
    const char* got = hil_config_get(c, key, "(fallback)");
    (void)v;
    FUZZ_CHECK(got != NULL, "hil_config_get('%s') returned NULL", key);
    (void)hil_config_get_int(c, key, 0);
    (void)hil_config_get_bool(c, key, 0);
}

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    fuzz_in in = {data, size};
    uint8_t format = fuzz_u8(&in);
    const uint8_t* nul = (const uint8_t*)memchr(in.p, 0, in.n);
    size_t main_len = nul ? (size_t)(nul - in.p) : in.n;
    char* text = (char*)malloc(main_len + 1);
    hil_config* c = NULL;
    hil_result r;
    if (!text) abort();
    memcpy(text, in.p, main_len);
    text[main_len] = 0;
    if (!tmpdir[0]) {
        snprintf(tmpdir, sizeof tmpdir, "/tmp/hil-fuzz-config-XXXXXX");
        if (!mkdtemp(tmpdir)) { perror("mkdtemp"); abort(); }
    }
    fuzz_clock_start();
    if (hil_config_create(&c) != HIL_OK) abort();
    if ((format & 1) == 0) {
        r = hil_config_load_kv(c, text, "fuzz.conf", HIL_PRIO_FILE);
    } else if (!strstr(text, "!include")) {
        r = hil_config_load_yaml(c, text, "fuzz.yaml", HIL_PRIO_FILE);
    } else {
        static const char* const inc[] = {"inc1.yaml", "inc2.yaml", "inc3.yaml"};
        char path[128];
        size_t i, rest = in.n - main_len;
        const uint8_t* p = in.p + main_len;
        write_file("main.yaml", in.p, main_len);
        for (i = 0; i < 3; i++) {
            const uint8_t* part = rest ? p + 1 : p; /* after the NUL */
            size_t left = rest ? rest - 1 : 0;
            const uint8_t* end = (const uint8_t*)memchr(part, 0, left);
            size_t n = end ? (size_t)(end - part) : left;
            write_file(inc[i], part, n);
            p = part + n;
            rest = left - n;
        }
        snprintf(path, sizeof path, "%s/main.yaml", tmpdir);
        r = hil_config_load_file(c, path, HIL_PRIO_FILE);
    }
    if (r != HIL_OK) FUZZ_CHECK(hil_last_error()[0] != 0, "load failed (%d) without an error text", (int)r);
    hil_config_foreach(c, read_back, c);
    (void)hil_config_validate(c);
    hil_config_destroy(c);
    hil_clear_error();
    fuzz_clock_check(size, (format & 1) ? "YAML configuration" : "key = value configuration");
    free(text);
    return 0;
}
