/* fuzz/fuzz_merge.c - merge-results (hil_merge_results, hil_runner.h):
 * the results.json and junit.xml of shards run on other machines, read
 * with hil's small JSON reader and merged into one report.
 *
 * Input: [shard 1 results.json][NUL][shard 2 results.json][NUL][shard 1 junit.xml]
 * Properties: when the merge succeeds, the results.json it writes is one
 * valid JSON value (checked with an independent strict validator) - what
 * CI dashboards and the next merge will read. */
#define HIL_IMPLEMENTATION
#include "hil.h"
#include "hil_runner.h"

#include "fuzz_common.h"

#include <sys/stat.h>
#include <unistd.h>

static char root[64];

/* The temp tree goes when the fuzzer exits normally. */
static void remove_root(void) {
    char cmd[96];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    if (system(cmd) != 0) fprintf(stderr, "fuzz: could not remove %s\n", root);
}

static void put(const char* rel, const uint8_t* p, size_t n) {
    char path[160];
    FILE* f;
    snprintf(path, sizeof path, "%s/%s", root, rel);
    f = fopen(path, "wb");
    if (!f) abort();
    if (n && fwrite(p, 1, n, f) != n) abort();
    fclose(f);
}

/* A strict JSON validator (RFC 8259), independent of the code under test. */
static const char* ws(const char* p, const char* e) {
    while (p < e && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
    return p;
}
static const char* value(const char* p, const char* e, int depth);
static const char* string(const char* p, const char* e) {
    if (p >= e || *p != '"') return NULL;
    for (p++; p < e; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '"') return p + 1;
        if (c < 0x20) return NULL;
        if (c == '\\') {
            if (++p >= e) return NULL;
            if (*p == 'u') {
                int k;
                for (k = 0; k < 4; k++)
                    if (++p >= e || !strchr("0123456789abcdefABCDEF", *p)) return NULL;
            } else if (!strchr("\"\\/bfnrt", *p)) {
                return NULL;
            }
        }
    }
    return NULL;
}
static const char* number(const char* p, const char* e) {
    const char* s;
    if (p < e && *p == '-') p++;
    if (p >= e) return NULL;
    if (*p == '0') p++;
    else if (*p >= '1' && *p <= '9') while (p < e && *p >= '0' && *p <= '9') p++;
    else return NULL;
    if (p < e && *p == '.') {
        s = ++p;
        while (p < e && *p >= '0' && *p <= '9') p++;
        if (p == s) return NULL;
    }
    if (p < e && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < e && (*p == '+' || *p == '-')) p++;
        s = p;
        while (p < e && *p >= '0' && *p <= '9') p++;
        if (p == s) return NULL;
    }
    return p;
}
static const char* value(const char* p, const char* e, int depth) {
    p = ws(p, e);
    if (p >= e || depth > 500) return NULL;
    if (*p == '"') return string(p, e);
    if (*p == '{' || *p == '[') {
        char close = *p == '{' ? '}' : ']';
        int obj = *p == '{';
        p = ws(p + 1, e);
        if (p < e && *p == close) return p + 1;
        for (;;) {
            if (obj) {
                p = string(ws(p, e), e);
                if (!p || (p = ws(p, e)) >= e || *p != ':') return NULL;
                p++;
            }
            p = value(p, e, depth + 1);
            if (!p || (p = ws(p, e)) >= e) return NULL;
            if (*p == close) return p + 1;
            if (*p != ',') return NULL;
            p++;
        }
    }
    if (e - p >= 4 && (!strncmp(p, "true", 4) || !strncmp(p, "null", 4))) return p + 4;
    if (e - p >= 5 && !strncmp(p, "false", 5)) return p + 5;
    return number(p, e);
}

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const uint8_t* part[3] = {data, NULL, NULL};
    size_t plen[3] = {size, 0, 0}, i;
    char in1[96], in2[96], out[96], path[128];
    const char* inputs[2];
    hil_job_summary js;
    char* text;
    size_t len;
    if (!root[0]) {
        snprintf(root, sizeof root, "/tmp/hil-fuzz-merge-XXXXXX");
        if (!mkdtemp(root)) abort();
        atexit(remove_root);
        snprintf(path, sizeof path, "%s/s1", root);
        mkdir(path, 0700);
        snprintf(path, sizeof path, "%s/s2", root);
        mkdir(path, 0700);
        if (!freopen("/dev/null", "w", stdout)) abort(); /* the merge prints its summary */
    }
    for (i = 0; i < 2; i++) {
        const uint8_t* nul = part[i] ? (const uint8_t*)memchr(part[i], 0, plen[i]) : NULL;
        if (!nul) break;
        part[i + 1] = nul + 1;
        plen[i + 1] = plen[i] - (size_t)(nul + 1 - part[i]);
        plen[i] = (size_t)(nul - part[i]);
    }
    put("s1/results.json", part[0], plen[0]);
    put("s2/results.json", part[1] ? part[1] : (const uint8_t*)"", plen[1]);
    if (part[2]) put("s1/junit.xml", part[2], plen[2]);
    else {
        snprintf(path, sizeof path, "%s/s1/junit.xml", root);
        unlink(path);
    }
    snprintf(path, sizeof path, "%s/s2/junit.xml", root);
    put("s2/junit.xml", (const uint8_t*)"<testsuites/>", 13);
    snprintf(in1, sizeof in1, "%s/s1", root);
    snprintf(in2, sizeof in2, "%s/s2", root);
    snprintf(out, sizeof out, "%s/merged", root);
    inputs[0] = in1;
    inputs[1] = in2;
    fuzz_clock_start();
    if (hil_merge_results(inputs, part[1] ? 2 : 1, out, &js) == HIL_OK) {
        const char* end;
        snprintf(path, sizeof path, "%s/results.json", out);
        FUZZ_CHECK(hil_read_file(path, &text, &len) == HIL_OK, "no merged results.json");
        end = value(text, text + len, 0);
        FUZZ_CHECK(end && ws(end, text + len) == text + len, "the merged results.json is not valid JSON (at byte %ld):\n%s",
                   end ? (long)(end - text) : -1L, text);
        HIL_FREE(text);
    }
    hil_clear_error();
    fuzz_clock_check(size, "merge-results");
    return 0;
}
