/* fuzz/fuzz_common.h - what every libFuzzer harness of hil shares.
 *
 * - fuzz_in: take typed values from the front of the fuzzer's input (like
 *   LLVM's FuzzedDataProvider), so one input drives both the bytes given to
 *   a parser and how they are given (chunk sizes, options).
 * - FUZZ_CHECK: a property that must hold; a violation aborts, so libFuzzer
 *   saves the input as a crash reproducer.
 * - fuzz_clock_start/fuzz_clock_check: the time budget. libFuzzer's -timeout
 *   is in whole seconds; we want "no input of at most 4 KiB takes more than
 *   100 ms", so each harness measures its own call. It counts the CPU time
 *   of the calling thread, not wall time: the machines that run this are
 *   shared, and a busy neighbour must not turn into a false report.
 *   FUZZ_BUDGET_MS in the environment changes the 100 ms (0 turns it off).
 */
#ifndef HIL_FUZZ_COMMON_H
#define HIL_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FUZZ_SMALL_INPUT 4096u

#define FUZZ_CHECK(cond, ...)                                                   \
    do {                                                                        \
        if (!(cond)) {                                                          \
            fprintf(stderr, "fuzz: property violated at %s:%d: %s\n  ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                       \
            fprintf(stderr, "\n");                                              \
            abort();                                                            \
        }                                                                       \
    } while (0)

typedef struct fuzz_in {
    const uint8_t* p;
    size_t n;
} fuzz_in;

static inline uint8_t fuzz_u8(fuzz_in* in) {
    uint8_t v;
    if (!in->n) return 0;
    v = in->p[0];
    in->p++;
    in->n--;
    return v;
}

static inline uint16_t fuzz_u16(fuzz_in* in) {
    uint16_t hi = fuzz_u8(in);
    return (uint16_t)((hi << 8) | fuzz_u8(in));
}

/* Up to max bytes (fewer when the input runs out); *len gets the count. */
static inline const uint8_t* fuzz_bytes(fuzz_in* in, size_t max, size_t* len) {
    const uint8_t* p = in->p;
    size_t n = max < in->n ? max : in->n;
    in->p += n;
    in->n -= n;
    *len = n;
    return p;
}

/* The rest of the input as a NUL-terminated string in a new allocation
 * (embedded NUL bytes stay: a C parser sees only the part before them). */
static inline char* fuzz_rest_str(fuzz_in* in, size_t* len) {
    char* s = (char*)malloc(in->n + 1);
    if (!s) abort();
    if (in->n) memcpy(s, in->p, in->n);
    s[in->n] = 0;
    if (len) *len = in->n;
    in->p += in->n;
    in->n = 0;
    return s;
}

static struct timespec fuzz__t0;
static long fuzz__budget_ms = -1;

static inline void fuzz_clock_start(void) {
    if (fuzz__budget_ms < 0) {
        const char* e = getenv("FUZZ_BUDGET_MS");
        fuzz__budget_ms = e && *e ? atol(e) : 100;
    }
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &fuzz__t0);
}

/* Abort when the call since fuzz_clock_start() took longer than the budget
 * for an input of size bytes (only inputs of at most 4 KiB are held to it). */
static inline void fuzz_clock_check(size_t size, const char* what) {
    struct timespec t1;
    long long ms;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t1);
    ms = ((long long)t1.tv_sec - fuzz__t0.tv_sec) * 1000 + (t1.tv_nsec - fuzz__t0.tv_nsec) / 1000000;
    if (fuzz__budget_ms > 0 && size <= FUZZ_SMALL_INPUT && ms > fuzz__budget_ms) {
        fprintf(stderr, "fuzz: %s took %lld ms of CPU time for a %zu-byte input (budget %ld ms for inputs <= %u bytes)\n",
                what, ms, size, fuzz__budget_ms, FUZZ_SMALL_INPUT);
        abort();
    }
}

#endif /* HIL_FUZZ_COMMON_H */
