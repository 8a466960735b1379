/* Shared by the self-test files: the headers under test (the headers,
 * or the amalgamated single file with -DHIL_TEST_SINGLE) and helpers for
 * meta-tests that run small test programs and look at what they did. */
#ifndef HIL_SELFTEST_H
#define HIL_SELFTEST_H

/* The self-tests use POSIX calls (kill, chmod, ...) under -std=c99. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#ifdef HIL_TEST_SINGLE
#include "hil_single.h"
#else
#include "hil.h"
#if __has_include("hil_connectors.h")
#include "hil_connectors.h"
#endif
#if __has_include("hil_aux.h")
#include "hil_aux.h"
#endif
#if __has_include("hil_runner.h")
#include "hil_runner.h"
#endif
#if __has_include("hil_probe.h")
#include "hil_probe.h"
#endif
#if __has_include("hil_uds.h")
#include "hil_uds.h"
#endif
#if __has_include("hil_console.h")
#include "hil_console.h"
#endif
#endif

#include <string.h>
#include <stdlib.h>
#include <errno.h>
#include <signal.h>
#include <unistd.h>
#include <sys/stat.h>

/* What a program printed (stdout and stderr together) and how it ended. */
typedef struct st_result {
    char* out;
    size_t len;
    int status;   /* raw wait status */
    int code;     /* exit code, 128+N for signals */
} st_result;

/* The build directory (make passes --set params.build_dir=...). */
const char* st_build_dir(void);
/* "<build>/meta/<name>" */
const char* st_meta(const char* name);
/* Run argv (NULL-terminated) with optional extra env ("K=V", NULL-terminated),
 * capturing its output; fails the test if it cannot be started or runs
 * longer than timeout_ms. */
void st_run(const char* const* argv, const char* const* env, int timeout_ms, st_result* r);
void st_result_free(st_result* r);
/* Whether the output contains s. */
int st_has(const st_result* r, const char* s);
/* A fresh temporary directory for this test (removed at exit). */
const char* st_tmpdir(void);
/* A file path in st_tmpdir(). */
const char* st_path(const char* name);
/* Whether a program is on PATH. */
int st_have(const char* prog);
/* Read a whole file (fails the test when it cannot). */
char* st_read(const char* path);

/* Whether text is one valid JSON value (RFC 8259); on error, why and where. */
int st_json_valid(const char* text, char* err, size_t size);
/* A value in a JSON text by a simple path of keys and indices ("suites.0.name");
 * returns a malloc'd copy of the raw value text (strings without quotes), or NULL. */
char* st_json_get(const char* text, const char* path);

#define ST_SKIP_UNLESS_PROG(prog, pkg) \
    do { if (!st_have(prog)) HIL_SKIP("%s not installed (apt-get install %s)", prog, pkg); } while (0)

#endif
