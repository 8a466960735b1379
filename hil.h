/* hil.h - hardware-in-the-loop testing for firmware teams, in C.
 *
 * The core of the hil toolkit: conventions, platform layer, self-registering
 * tests and assertions, the seven-result model, a crash-safe runner with
 * console, JUnit, TAP and JSON reports, typed configuration with priorities,
 * extension tables, a message bus and the command line.
 *
 * Companion headers: hil_connectors.h (channels to devices), hil_aux.h
 * (auxiliaries), hil_runner.h (jobs, tasks, lazy scheduler). Each one needs
 * this header first.
 *
 * ==========================================================================
 * QUICK START
 * ==========================================================================
 *
 * Put the headers next to your code. In exactly ONE .c file:
 *
 *     #define HIL_IMPLEMENTATION
 *     #include "hil.h"
 *     HIL_MAIN()
 *
 * Tests live in any number of .c files that include "hil.h" (without the
 * define):
 *
 *     #include "hil.h"
 *
 *     HIL_SUITE(uart, "id=2; tags=smoke")
 *
 *     HIL_SUITE_SETUP(uart) {
 *         HIL_ASSERT(board_power_on() == 0, "board did not power up");
 *     }
 *
 *     HIL_TEST(uart, echo_roundtrip) {
 *         char buf[16];
 *         size_t n = board_echo("ping", buf, sizeof buf);
 *         HIL_ASSERT_EQ(n, 4);
 *         HIL_ASSERT_MEMEQ(buf, "ping", 4);
 *     }
 *
 *     HIL_TEST_META(uart, slow_flash, "id=7; tags=flash; timeout=120; retries=1") {
 *         HIL_EXPECT(flash_image("fw.bin") == 0, "flashing %s", "fw.bin");
 *     }
 *
 * Build and run:
 *
 *     cc -std=c99 -o suite main.c test_uart.c -lpthread -lm
 *     ./suite                      # run everything
 *     ./suite list                 # list the tests
 *     ./suite run --filter 'uart.*' --junit report.xml --json results.json
 *     ./suite --help
 *     ./suite --version            # hil's version and the optional libraries built in
 *
 * With the headers elsewhere, name their directory (-Ithird_party/hil); with
 * hil installed (make install), `$(pkg-config --cflags --libs hil)` or CMake's
 * find_package(hil) give the flags. `hil-init` writes this layout into a
 * firmware repository.
 *
 * Every test runs in a worker process supervised by the runner: a test that
 * crashes, calls exit() or hangs past its timeout is reported as Errored
 * (with the signal name or "timeout after N s") and the run continues with
 * the next test in a fresh worker. `--isolate` forks a worker per test;
 * `--no-fork` runs in-process for debuggers.
 *
 * ==========================================================================
 * RESULTS
 * ==========================================================================
 *
 * Seven results, ordered for roll-up (a suite's or job's result is the
 * maximum of its parts):
 *
 *     Skipped < Passed < Passx < Blocked < Failed < Errored < Aborted
 *
 * A failed assertion -> Failed; a crash, timeout or unexpected error ->
 * Errored; a failed suite setup -> its tests Blocked; an interrupted run ->
 * Aborted for what was running; passed only after a retry -> Passx.
 * The closing line is exactly `N passed, N failed, N skipped`, where failed
 * counts Failed + Errored + Aborted + Blocked. Exit codes: 0 nothing failed,
 * 1 something failed, 2 usage error, 3 configuration error, 4 internal error.
 *
 * ==========================================================================
 * COMPILE-TIME OPTIONS (define before including)
 * ==========================================================================
 *
 *   HIL_IMPLEMENTATION    compile the implementation (one .c file only)
 *   HIL_IMPLEMENTATION_CORE, _CONNECTORS, _AUX, _RUNNER, _PROBE
 *                         the implementation split over several files: each
 *                         compiles one module's (define it before the first
 *                         hil header; each in one file; not with HIL_STATIC).
 *                         make -j builds them in parallel (section 10).
 *   HIL_STATIC            make every hil function static (single-file use)
 *   HIL_MALLOC(sz), HIL_REALLOC(p, sz), HIL_FREE(p)
 *                         allocator (default: malloc, realloc, free)
 *   HIL_INTERNAL_ASSERT(c) the library's own invariant checks (default:
 *                         assert). Note: HIL_ASSERT is the *test* assertion.
 *   HIL_NO_CONSTRUCTORS   do not self-register with constructor attributes;
 *                         use the explicit tables (hil_register_tests).
 *   HIL_HAVE_LIBYAML      YAML configuration files through libyaml
 *                         (link -lyaml). The Makefile sets it when
 *                         pkg-config finds yaml-0.1.
 *   HIL_CONFIG_MAX_FILE, HIL_CONFIG_MAX_NESTING, HIL_CONFIG_MAX_EXPANDED
 *                         configuration limits (16 MiB a file, 64 levels
 *                         of YAML nesting, 1 MiB an expanded value).
 *
 * ==========================================================================
 * OWNERSHIP AND THREADS
 * ==========================================================================
 *
 * - Strings passed to registration functions must outlive the program
 *   (string literals). Everything the library returns is owned by the
 *   library unless the function says otherwise.
 * - The configuration is safe to read from any thread. Fatal assertions
 *   (HIL_ASSERT_*) must be called from the test's own thread; from other
 *   threads they record the failure and return.
 * - Global state: the test, suite and extension registries, the log
 *   configuration and the run's configuration (hil_cfg()). Nothing else.
 *
 * ==========================================================================
 * CONTENTS
 * ==========================================================================
 *
 *   1. Conventions: API decoration, memory, results, errors
 *   2. Logging
 *   3. Platform layer (threads, clocks, wakers, processes, signals)
 *   4. Strings and files
 *   5. Tests, suites and assertions
 *   6. Configuration
 *   7. Message bus
 *   8. Extensions and commands
 *   9. The test runner and its reports
 *  10. Implementation (behind HIL_IMPLEMENTATION, or split by module)
 *
 * Licence: MIT. See LICENSE.
 */
#ifndef HIL_H_INCLUDED
#define HIL_H_INCLUDED

/* The implementation uses POSIX.1-2008 and a few GNU/Linux calls; they must
 * be requested before the first system header. Include hil.h first in the
 * HIL_IMPLEMENTATION file (or build with -D_GNU_SOURCE). */
#if defined(HIL_IMPLEMENTATION) || defined(HIL_IMPLEMENTATION_CORE) || defined(HIL_IMPLEMENTATION_CONNECTORS) || \
    defined(HIL_IMPLEMENTATION_AUX) || defined(HIL_IMPLEMENTATION_RUNNER) || defined(HIL_IMPLEMENTATION_PROBE) || \
    defined(HIL_IMPLEMENTATION_UDS) || defined(HIL_IMPLEMENTATION_CONSOLE) || defined(HIL_IMPLEMENTATION_HARVEST)
#define HIL__IMPL_BEFORE_FIRST_INCLUDE
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#endif

#if defined(_WIN32)
/* The platform layer (section 3) is POSIX today. A Windows port fills in
 * the same section; nothing outside it touches the OS directly. */
#error "hil.h: Windows is not supported yet (the platform layer is POSIX only)"
#endif

#include <stddef.h>
#include <stdint.h>
#include <stdarg.h>
#include <stdio.h>
#include <pthread.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ==========================================================================
 * 1. Conventions
 * ========================================================================== */

/* The version: the one place it is written (the Makefile, CMakeLists.txt,
 * hil.pc and hilConfigVersion.cmake read it from here). Code that must build
 * with several versions tests HIL_VERSION_AT_LEAST(0, 2, 0) or compares
 * HIL_VERSION_NUMBER (MAJOR * 10000 + MINOR * 100 + PATCH); the promise
 * behind it (what may change in which release) is in CHANGELOG.md. */
#define HIL_VERSION_MAJOR 0
#define HIL_VERSION_MINOR 1
#define HIL_VERSION_PATCH 0
#define HIL_VERSION "0.1.0"
#define HIL_VERSION_NUMBER (HIL_VERSION_MAJOR * 10000 + HIL_VERSION_MINOR * 100 + HIL_VERSION_PATCH)
#define HIL_VERSION_AT_LEAST(major, minor, patch) \
    (HIL_VERSION_NUMBER >= (major) * 10000 + (minor) * 100 + (patch))

#if defined(__GNUC__) || defined(__clang__)
#define HIL__UNUSED __attribute__((unused))
#define HIL__PRINTF(f, a) __attribute__((format(printf, f, a)))
#define HIL__NORETURN __attribute__((noreturn))
#else
#define HIL__UNUSED
#define HIL__PRINTF(f, a)
#define HIL__NORETURN
#endif

#ifndef HIL_API
#ifdef HIL_STATIC
#define HIL_API static HIL__UNUSED
#else
#define HIL_API extern
#endif
#endif

#ifndef HIL_MALLOC
#include <stdlib.h>
#define HIL_MALLOC(sz) malloc(sz)
#define HIL_REALLOC(p, sz) realloc(p, sz)
#define HIL_FREE(p) free(p)
#endif

#ifndef HIL_INTERNAL_ASSERT
#include <assert.h>
#define HIL_INTERNAL_ASSERT(c) assert(c)
#endif

/* One result type for everything that can fail. 0 is success; errors are
 * negative. hil_result_str() names the code; hil_last_error() holds the
 * sentence for the user (what failed and what to do), per thread. */
typedef enum hil_result {
    HIL_OK = 0,
    HIL_ERROR = -1,            /* unspecified failure */
    HIL_ERR_INVALID_ARG = -2,  /* a bad argument or option value */
    HIL_ERR_NO_MEMORY = -3,
    HIL_ERR_TIMEOUT = -4,
    HIL_ERR_IO = -5,           /* the OS reported an I/O error */
    HIL_ERR_CLOSED = -6,       /* end of stream, peer closed, object closed */
    HIL_ERR_NOT_FOUND = -7,
    HIL_ERR_BUSY = -8,         /* locked or in use by someone else */
    HIL_ERR_UNSUPPORTED = -9,
    HIL_ERR_CONFIG = -10,      /* configuration is missing or wrong */
    HIL_ERR_PERMISSION = -11,
    HIL_ERR_OVERFLOW = -12,    /* a bounded buffer or queue is full */
    HIL_ERR_PROTOCOL = -13,    /* the peer said something unexpected */
    HIL_ERR_CRASHED = -14,     /* a child process or worker died */
    HIL_ERR_ABORTED = -15,     /* cancelled on request */
    HIL_ERR_STOPPED = -16,     /* the object was stopped or deleted */
    HIL_ERR_EXISTS = -17,
    HIL_ERR_STATE = -18,       /* not allowed in the object's current state */
    HIL_ERR_MISSING_LIBRARY = -19, /* an optional library was not built in */
    HIL_ERR_CHECKSUM = -20,
    HIL_ERR_INTERRUPTED = -21, /* interrupted by a signal (Ctrl-C) */
    HIL_ERR_AGAIN = -22,       /* nothing available now, try again */
    HIL_ERR_INTERNAL = -23     /* a bug in hil: please report it */
} hil_result;

HIL_API const char* hil_result_str(hil_result r);
/* Record the user-facing message for the calling thread and return r, so
 * `return hil_error(HIL_ERR_IO, "serial 'dut': open %s: %s", ...)` reads
 * naturally. */
HIL_API hil_result hil_error(hil_result r, const char* fmt, ...) HIL__PRINTF(2, 3);
HIL_API hil_result hil_errorv(hil_result r, const char* fmt, va_list ap);
/* The last message set by hil_error() on this thread ("" if none). */
HIL_API const char* hil_last_error(void);
HIL_API void hil_clear_error(void);

/* The seven results, in roll-up order. HIL_NOT_RUN marks "no result yet". */
typedef enum hil_outcome {
    HIL_NOT_RUN = 0,
    HIL_SKIPPED,
    HIL_PASSED,
    HIL_PASSX,
    HIL_BLOCKED,
    HIL_FAILED,
    HIL_ERRORED,
    HIL_ABORTED,
    HIL_OUTCOME_COUNT
} hil_outcome;

HIL_API const char* hil_outcome_str(hil_outcome o);  /* "Passed", ... */
HIL_API hil_outcome hil_outcome_parse(const char* s); /* case-insensitive; HIL_NOT_RUN if unknown */
HIL_API hil_outcome hil_outcome_rollup(hil_outcome a, hil_outcome b);
/* Failed, Errored, Aborted and Blocked count as failures. */
HIL_API int hil_outcome_is_failure(hil_outcome o);

/* ==========================================================================
 * 2. Logging
 *
 * Loggers are dotted names ("hil.aux.dut"); a level set on a prefix applies
 * to every logger below it (the longest matching prefix wins). Records go to
 * one callback; the default callback routes them to the running test's
 * report and to the console (stderr when no run is active).
 * ========================================================================== */

typedef enum hil_log_level {
    HIL_LOG_TRACE = 0,
    HIL_LOG_DEBUG,
    HIL_LOG_INFO,
    HIL_LOG_WARN,
    HIL_LOG_ERROR,
    HIL_LOG_OFF
} hil_log_level;

typedef struct hil_log_record {
    hil_log_level level;
    const char* logger;
    const char* file;
    int line;
    uint64_t wall_ns;   /* CLOCK_REALTIME */
    int pid;            /* the process that logged (workers, children) */
    const char* message;
} hil_log_record;

typedef void (*hil_log_fn)(const hil_log_record* rec, void* user);

HIL_API void hil_log_set_callback(hil_log_fn fn, void* user); /* NULL restores the default */
HIL_API void hil_log_default_callback(const hil_log_record* rec, void* user);
/* prefix "" or NULL sets the default level. */
HIL_API hil_result hil_log_set_level(const char* prefix, hil_log_level level);
/* "debug" or "hil.aux=debug"; several separated by ',' */
HIL_API hil_result hil_log_configure(const char* spec);
HIL_API int hil_log_enabled(const char* logger, hil_log_level level);
HIL_API const char* hil_log_level_str(hil_log_level level);
HIL_API hil_result hil_log_level_parse(const char* s, hil_log_level* out);
HIL_API void hil_log_at(hil_log_level level, const char* file, int line, const char* logger,
                        const char* fmt, ...) HIL__PRINTF(5, 6);
HIL_API void hil_log_v(hil_log_level level, const char* file, int line, const char* logger,
                       const char* fmt, va_list ap);
/* Deliver a complete record made elsewhere (a child process's log record,
 * forwarded): the same levels, callback and routing as a local record, with
 * the record's own pid, time, file and line. */
HIL_API void hil_log_emit(const hil_log_record* rec);

#define HIL_LOG_TRACE_(...) hil_log_at(HIL_LOG_TRACE, __FILE__, __LINE__, __VA_ARGS__)
/* HIL_DEBUG("hil.aux", "opened %s", name) */
#define HIL_TRACE(...) hil_log_at(HIL_LOG_TRACE, __FILE__, __LINE__, __VA_ARGS__)
#define HIL_DEBUG(...) hil_log_at(HIL_LOG_DEBUG, __FILE__, __LINE__, __VA_ARGS__)
#define HIL_INFO(...) hil_log_at(HIL_LOG_INFO, __FILE__, __LINE__, __VA_ARGS__)
#define HIL_WARN(...) hil_log_at(HIL_LOG_WARN, __FILE__, __LINE__, __VA_ARGS__)
#define HIL_ERROR(...) hil_log_at(HIL_LOG_ERROR, __FILE__, __LINE__, __VA_ARGS__)

/* ==========================================================================
 * 3. Platform layer
 *
 * Everything that touches the OS lives here. Timeouts are `int timeout_ms`
 * everywhere in hil: -1 waits forever, 0 does not block.
 * ========================================================================== */

#define HIL_FOREVER (-1)

typedef struct hil_mutex { pthread_mutex_t m; } hil_mutex;
typedef struct hil_cond { pthread_cond_t c; } hil_cond;
typedef struct hil_thread { pthread_t t; int started; } hil_thread;
typedef void* (*hil_thread_fn)(void* arg);

HIL_API hil_result hil_mutex_init(hil_mutex* m);
HIL_API void hil_mutex_destroy(hil_mutex* m);
HIL_API void hil_mutex_lock(hil_mutex* m);
HIL_API void hil_mutex_unlock(hil_mutex* m);
/* Condition variables wait on the monotonic clock. */
HIL_API hil_result hil_cond_init(hil_cond* c);
HIL_API void hil_cond_destroy(hil_cond* c);
HIL_API void hil_cond_signal(hil_cond* c);
HIL_API void hil_cond_broadcast(hil_cond* c);
HIL_API void hil_cond_wait(hil_cond* c, hil_mutex* m);
/* HIL_OK when signalled (or spuriously woken), HIL_ERR_TIMEOUT at the deadline. */
HIL_API hil_result hil_cond_wait_until(hil_cond* c, hil_mutex* m, uint64_t deadline_ns);
/* name is shown by debuggers and top (15 characters). */
HIL_API hil_result hil_thread_create(hil_thread* t, hil_thread_fn fn, void* arg, const char* name);
HIL_API void* hil_thread_join(hil_thread* t);

HIL_API uint64_t hil_now_ns(void);   /* monotonic */
HIL_API uint64_t hil_wall_ns(void);  /* real time, ns since 1970 */
/* A deadline is a monotonic time in ns; UINT64_MAX is "never". */
#define HIL_NEVER UINT64_MAX
HIL_API uint64_t hil_deadline_ms(int timeout_ms);
HIL_API uint64_t hil_deadline_s(double seconds); /* <= 0: never */
/* Milliseconds left, rounded up, for poll(); -1 for never; 0 when past. */
HIL_API int hil_deadline_left_ms(uint64_t deadline_ns);
/* "2026-11-21T23:46:47.123Z" */
HIL_API void hil_format_time_iso(uint64_t wall_ns, char* out, size_t size);

/* A waker interrupts a blocking wait from another thread or a signal
 * handler: its fd becomes readable after hil_waker_wake() until drained.
 * eventfd on Linux, a pipe elsewhere. wake() is async-signal-safe. */
typedef struct hil_waker { int rfd, wfd; } hil_waker;
HIL_API hil_result hil_waker_init(hil_waker* w);
HIL_API void hil_waker_destroy(hil_waker* w);
HIL_API void hil_waker_wake(hil_waker* w);
HIL_API void hil_waker_drain(hil_waker* w);
HIL_API int hil_waker_fd(const hil_waker* w);

/* Wait until fd is readable (or has an error/hang-up). HIL_OK, HIL_ERR_TIMEOUT. */
HIL_API hil_result hil_wait_readable(int fd, int timeout_ms);
HIL_API hil_result hil_set_nonblocking(int fd, int on);
HIL_API hil_result hil_set_cloexec(int fd);
/* Write all of buf, retrying on EINTR and short writes (blocking fds). */
HIL_API hil_result hil_write_all(int fd, const void* buf, size_t len);

/* Child processes. No shell in between: argv[0] is looked up on PATH. */
#define HIL_PROC_MAX_EXTRA_FDS 16
typedef struct hil_proc_fd { int child_fd, parent_fd; } hil_proc_fd;
typedef struct hil_proc_config {
    const char* const* argv;   /* NULL-terminated */
    const char* const* env;    /* extra "KEY=VALUE" entries, NULL-terminated, or NULL */
    const char* cwd;           /* NULL: inherit */
    int pipe_stdin;            /* 1: proc->stdin_fd is a pipe to the child */
    int pipe_stdout;           /* 1: proc->stdout_fd reads the child's stdout */
    int stderr_to_stdout;      /* 1: the child's stderr goes where stdout goes */
    int pipe_stderr;           /* 1: proc->stderr_fd (ignored with stderr_to_stdout) */
    int null_stdin;            /* 1: stdin from /dev/null (when not piped) */
    int new_process_group;     /* 1: the child leads its own group (kill() reaches its children) */
    int die_with_parent;       /* 1: Linux PR_SET_PDEATHSIG(SIGKILL) */
    int no_core_dump;          /* 1: RLIMIT_CORE 0 in the child (an emulator that aborts dumps no core) */
    /* More descriptors for the child: extra_fds[i].parent_fd becomes the
     * child's extra_fds[i].child_fd (3 or above, each once); nothing else
     * above 2 is passed on except descriptors without close-on-exec. At most
     * HIL_PROC_MAX_EXTRA_FDS. The parent's descriptors stay open. */
    const hil_proc_fd* extra_fds;
    size_t n_extra_fds;
} hil_proc_config;

typedef struct hil_proc {
    int pid;
    int pidfd;     /* readable when the child exits (Linux), or -1 */
    int stdin_fd, stdout_fd, stderr_fd;  /* -1 when not piped */
    int exited;    /* 1 once reaped */
    int status;    /* raw wait status once reaped */
    int group;     /* 1 if it leads a process group */
} hil_proc;

HIL_API void hil_proc_config_init(hil_proc_config* cfg);
HIL_API hil_result hil_proc_spawn(hil_proc* p, const hil_proc_config* cfg);
/* Wait for exit up to timeout; reaps the child. HIL_ERR_TIMEOUT if still running. */
HIL_API hil_result hil_proc_wait(hil_proc* p, int timeout_ms);
/* Send sig to the child (its whole group when it leads one). */
HIL_API hil_result hil_proc_kill(hil_proc* p, int sig);
/* SIGTERM, wait grace_ms, then SIGKILL; always reaps. */
HIL_API hil_result hil_proc_terminate(hil_proc* p, int grace_ms);
/* Close pipes and the pidfd (does not kill). */
HIL_API void hil_proc_close(hil_proc* p);
/* "exited with status 3", "killed by SIGSEGV (Segmentation fault)" */
HIL_API void hil_proc_status_str(int status, char* out, size_t size);
/* Exit code: the status for normal exits, 128+signal for signals. */
HIL_API int hil_proc_exit_code(int status);
/* "SIGSEGV"; "SIG<n>" for unknown numbers */
HIL_API const char* hil_signal_name(int sig);

/* Process-wide interrupt handling: SIGINT and SIGTERM set a counter and wake
 * every registered waker. The first interrupt asks for a clean stop; the
 * runner exits at once on the second. */
HIL_API hil_result hil_interrupts_install(void);
HIL_API int hil_interrupt_count(void);
HIL_API void hil_interrupt_reset(void);
HIL_API hil_waker* hil_interrupt_waker(void);

/* ==========================================================================
 * 4. Strings and files
 * ========================================================================== */

/* A growable, always NUL-terminated byte buffer. Zero-initialised is empty. */
typedef struct hil_strbuf { char* data; size_t len, cap; int failed; } hil_strbuf;
HIL_API void hil_sb_append(hil_strbuf* sb, const void* data, size_t len);
HIL_API void hil_sb_puts(hil_strbuf* sb, const char* s);
HIL_API void hil_sb_putc(hil_strbuf* sb, char c);
HIL_API void hil_sb_printf(hil_strbuf* sb, const char* fmt, ...) HIL__PRINTF(2, 3);
HIL_API void hil_sb_vprintf(hil_strbuf* sb, const char* fmt, va_list ap);
HIL_API void hil_sb_json_str(hil_strbuf* sb, const char* s);  /* quoted, escaped */
HIL_API void hil_sb_json_strn(hil_strbuf* sb, const char* s, size_t n);
HIL_API void hil_sb_xml_text(hil_strbuf* sb, const char* s, size_t n); /* escaped, invalid chars replaced */
HIL_API const char* hil_sb_cstr(const hil_strbuf* sb); /* never NULL */
HIL_API void hil_sb_clear(hil_strbuf* sb);
HIL_API void hil_sb_free(hil_strbuf* sb);
/* Returns a malloc'd copy and leaves sb empty. */
HIL_API char* hil_sb_take(hil_strbuf* sb);

HIL_API char* hil_strdup(const char* s);
HIL_API char* hil_strndup(const char* s, size_t n);
/* Shell-style glob: '*', '?', '[abc]'. */
HIL_API int hil_glob_match(const char* pattern, const char* s);
/* Levenshtein distance, capped at cap+1. */
HIL_API size_t hil_edit_distance(const char* a, const char* b, size_t cap);
/* Whether item appears in a ',' (or ';' / ' ') separated list. */
HIL_API int hil_list_contains(const char* list, const char* item);

/* Write a file atomically: a temporary file next to it, then rename(), so a
 * reader sees the old or the new file, never half of one. */
HIL_API hil_result hil_write_file_atomic(const char* path, const void* data, size_t len);
HIL_API hil_result hil_read_file(const char* path, char** out, size_t* len);
/* mkdir -p */
HIL_API hil_result hil_mkdirs(const char* path);

/* ==========================================================================
 * 5. Tests, suites and assertions
 * ========================================================================== */

typedef void (*hil_test_fn)(void);

/* What a test knows about itself (hil_current_test()). Metadata comes from
 * the meta string: "id=3; tags=smoke,uart; timeout=5; retries=2;
 * skip=not on rev A; requires=dut,can_aux". Suite metadata (HIL_SUITE)
 * gives the suite id and tags, timeout and requires that its tests inherit. */
typedef struct hil_test_info {
    const char* suite;
    const char* name;
    const char* full_name;    /* "suite.name" */
    int suite_id;             /* 0 when not set */
    int case_id;              /* 0 when not set */
    const char* tags;         /* "smoke,uart" (test and suite tags), "" if none */
    double timeout_s;         /* 0: the run's default */
    int retries;              /* extra attempts after a failure (isolated: also a crash or timeout) */
    const char* skip_reason;  /* non-NULL: always skipped */
    const char* requires;     /* names of auxiliaries/resources it needs */
    const char* file;
    int line;
    int attempt;              /* 1 for the first attempt */
    int iteration;            /* 1.. with --repeat */
    int index;                /* registration order */
} hil_test_info;

typedef struct hil_test_entry {
    const char* suite;
    const char* name;
    hil_test_fn fn;
    const char* meta;
} hil_test_entry;

HIL_API void hil_register_test(const char* suite, const char* name, hil_test_fn fn,
                               const char* meta, const char* file, int line);
/* The explicit table API, for toolchains without constructors. */
HIL_API void hil_register_tests(const hil_test_entry* table, size_t count);
HIL_API void hil_register_suite(const char* suite, const char* meta);
HIL_API void hil_register_suite_setup(const char* suite, hil_test_fn fn);
HIL_API void hil_register_suite_teardown(const char* suite, hil_test_fn fn);
HIL_API size_t hil_test_count(void);
HIL_API const hil_test_info* hil_test_at(size_t index);
/* The test running on this thread, or NULL. */
HIL_API const hil_test_info* hil_current_test(void);
/* A parameter given to the run (`--set params.NAME=V`, or by a job's task). */
HIL_API const char* hil_param(const char* name, const char* fallback);
HIL_API long long hil_param_int(const char* name, long long fallback);
/* Attach a warning to the current test's report (counted, shown). */
HIL_API void hil_test_warn(const char* fmt, ...) HIL__PRINTF(1, 2);
/* Mark the running test Errored with this reason (a crash or an unexpected
 * error, not a failed check). From the test's own thread it ends the test
 * like a fatal assertion; from another thread (an auxiliary noticing its
 * child process died) it records the error and the test ends Errored. */
HIL_API void hil_test_error(const char* fmt, ...) HIL__PRINTF(1, 2);

/* A check that decides, before a test runs, that it cannot run (e.g. a
 * required auxiliary is missing). Return HIL_BLOCKED or HIL_SKIPPED with a
 * reason to stop the test, HIL_NOT_RUN to let it go on. */
typedef hil_outcome (*hil_test_precheck_fn)(const hil_test_info* t, char* reason, size_t size);
HIL_API void hil_add_test_precheck(hil_test_precheck_fn fn);
/* Called with 1 when a process starts running tests (the worker, or this
 * process with --no-fork) and with 0 when it stops, so modules that own
 * threads or devices (auxiliaries) set them up where the tests run. */
HIL_API void hil_add_worker_hook(void (*fn)(int starting));

/* Internal helpers called by the macros below. */
HIL_API const char* hil__fmt(const char* fmt, ...) HIL__PRINTF(1, 2);
HIL_API void hil__check_fail(int fatal, const char* file, int line, const char* what,
                             const char* msg);
HIL_API void hil__check_int(int fatal, const char* file, int line, const char* op,
                            const char* ea, const char* eb, long long a, long long b,
                            const char* msg);
HIL_API int hil__check_str(int fatal, const char* file, int line, const char* ea,
                           const char* eb, const char* a, const char* b, int want_equal);
HIL_API int hil__check_mem(int fatal, const char* file, int line, const char* ea,
                           const char* eb, const void* a, const void* b, size_t n);
HIL_API int hil__check_near(int fatal, const char* file, int line, const char* ea,
                            const char* eb, double a, double b, double eps);
HIL_API void hil__end_check(int fatal, const char* msg);
HIL_API void hil__skip(const char* file, int line, const char* reason);
HIL_API void hil__fail_now(void);

#if defined(__GNUC__) || defined(__clang__)
#define HIL__CONSTRUCTOR(f) static void f(void) __attribute__((constructor)); static void f(void)
#else
#define HIL__CONSTRUCTOR(f) static void f(void)
#endif

#define HIL__CAT_(a, b) a##b
#define HIL__CAT(a, b) HIL__CAT_(a, b)
#define HIL__A1(...) HIL__A1_(__VA_ARGS__, ~)
#define HIL__A1_(a, ...) a
#define HIL__S1(...) HIL__S1_(__VA_ARGS__, ~)
#define HIL__S1_(a, ...) #a
#define HIL__A2(...) HIL__A2_(__VA_ARGS__, ~, ~)
#define HIL__A2_(a, b, ...) b
#define HIL__S2(...) HIL__S2_(__VA_ARGS__, ~, ~)
#define HIL__S2_(a, b, ...) #b
#define HIL__A3(...) HIL__A3_(__VA_ARGS__, ~, ~, ~)
#define HIL__A3_(a, b, c, ...) c
#define HIL__S3(...) HIL__S3_(__VA_ARGS__, ~, ~, ~)
#define HIL__S3_(a, b, c, ...) #c
#define HIL__PICK(_1, _2, _3, _4, _5, _6, _7, _8, _9, _10, _11, _12, _13, _14, _15, _16, \
                  _17, _18, _19, _20, N, ...) N
/* 1 when __VA_ARGS__ has exactly n arguments, M when it has more. */
#define HIL__MORE1(...) HIL__PICK(__VA_ARGS__, M, M, M, M, M, M, M, M, M, M, M, M, M, M, \
                                  M, M, M, M, M, 1, ~)
#define HIL__MORE2(...) HIL__PICK(__VA_ARGS__, M, M, M, M, M, M, M, M, M, M, M, M, M, M, \
                                  M, M, M, M, 1, 1, ~)
#define HIL__MORE3(...) HIL__PICK(__VA_ARGS__, M, M, M, M, M, M, M, M, M, M, M, M, M, M, \
                                  M, M, M, 1, 1, 1, ~)
/* The optional printf-style message after the first n arguments. */
#define HIL__MSG1(...) HIL__CAT(HIL__MSG1_, HIL__MORE1(__VA_ARGS__))(__VA_ARGS__)
#define HIL__MSG1_1(a) ((const char*)0)
#define HIL__MSG1_M(a, ...) hil__fmt(__VA_ARGS__)
#define HIL__MSG2(...) HIL__CAT(HIL__MSG2_, HIL__MORE2(__VA_ARGS__))(__VA_ARGS__)
#define HIL__MSG2_1(a, b) ((const char*)0)
#define HIL__MSG2_M(a, b, ...) hil__fmt(__VA_ARGS__)
#define HIL__MSG3(...) HIL__CAT(HIL__MSG3_, HIL__MORE3(__VA_ARGS__))(__VA_ARGS__)
#define HIL__MSG3_1(a, b, c) ((const char*)0)
#define HIL__MSG3_M(a, b, c, ...) hil__fmt(__VA_ARGS__)

#ifndef HIL_NO_CONSTRUCTORS
#define HIL__REGISTER_TEST(suite, name, meta) \
    HIL__CONSTRUCTOR(hil__reg_##suite##__##name) { \
        hil_register_test(#suite, #name, hil__test_##suite##__##name, meta, __FILE__, __LINE__); }
#define HIL__REGISTER_SUITE(suite, kind, fn) \
    HIL__CONSTRUCTOR(hil__reg_##kind##_##suite) { hil_register_suite_##kind(#suite, fn); }
#define HIL_SUITE(suite, meta) \
    HIL__CONSTRUCTOR(hil__reg_suite_##suite) { hil_register_suite(#suite, meta); }
#else
#define HIL__REGISTER_TEST(suite, name, meta)
#define HIL__REGISTER_SUITE(suite, kind, fn)
#define HIL_SUITE(suite, meta)
#endif

/* HIL_TEST(suite, name) { body } defines and registers a test. */
#define HIL_TEST(suite, name) HIL_TEST_META(suite, name, "")
#define HIL_TEST_META(suite, name, meta) \
    static void hil__test_##suite##__##name(void); \
    HIL__REGISTER_TEST(suite, name, meta) \
    static void hil__test_##suite##__##name(void)
/* With HIL_NO_CONSTRUCTORS: { HIL_TEST_ENTRY(suite, name, "meta"), ... } */
#define HIL_TEST_ENTRY(suite, name, meta) { #suite, #name, hil__test_##suite##__##name, meta }
#define HIL_SUITE_SETUP(suite) \
    static void hil__setup_##suite(void); \
    HIL__REGISTER_SUITE(suite, setup, hil__setup_##suite) \
    static void hil__setup_##suite(void)
#define HIL_SUITE_TEARDOWN(suite) \
    static void hil__teardown_##suite(void); \
    HIL__REGISTER_SUITE(suite, teardown, hil__teardown_##suite) \
    static void hil__teardown_##suite(void)

/* Assertions. HIL_ASSERT_* end the test (Failed); HIL_EXPECT_* record the
 * failure and let the test go on. Each takes an optional printf-style
 * message after its operands: HIL_ASSERT_EQ(n, 4, "reply to %s", cmd). */
#define HIL__CHECK_BOOL(fatal, ...) \
    do { if (!(HIL__A1(__VA_ARGS__))) { \
        hil__check_fail(fatal, __FILE__, __LINE__, HIL__S1(__VA_ARGS__), HIL__MSG1(__VA_ARGS__)); \
    } } while (0)
#define HIL__CHECK_INT(fatal, op, ...) \
    do { long long hil__a_ = (long long)(HIL__A1(__VA_ARGS__)); \
         long long hil__b_ = (long long)(HIL__A2(__VA_ARGS__)); \
         if (!(hil__a_ op hil__b_)) { \
            hil__check_int(fatal, __FILE__, __LINE__, #op, HIL__S1(__VA_ARGS__), \
                           HIL__S2(__VA_ARGS__), hil__a_, hil__b_, HIL__MSG2(__VA_ARGS__)); \
    } } while (0)
#define HIL__CHECK_STR(fatal, eq, ...) \
    do { if (!hil__check_str(fatal, __FILE__, __LINE__, HIL__S1(__VA_ARGS__), HIL__S2(__VA_ARGS__), \
                             HIL__A1(__VA_ARGS__), HIL__A2(__VA_ARGS__), eq)) \
            hil__end_check(fatal, HIL__MSG2(__VA_ARGS__)); } while (0)
#define HIL__CHECK_MEM(fatal, ...) \
    do { if (!hil__check_mem(fatal, __FILE__, __LINE__, HIL__S1(__VA_ARGS__), HIL__S2(__VA_ARGS__), \
                             HIL__A1(__VA_ARGS__), HIL__A2(__VA_ARGS__), \
                             (size_t)(HIL__A3(__VA_ARGS__)))) \
            hil__end_check(fatal, HIL__MSG3(__VA_ARGS__)); } while (0)
#define HIL__CHECK_NEAR(fatal, ...) \
    do { if (!hil__check_near(fatal, __FILE__, __LINE__, HIL__S1(__VA_ARGS__), HIL__S2(__VA_ARGS__), \
                              (double)(HIL__A1(__VA_ARGS__)), (double)(HIL__A2(__VA_ARGS__)), \
                              (double)(HIL__A3(__VA_ARGS__)))) \
            hil__end_check(fatal, HIL__MSG3(__VA_ARGS__)); } while (0)

#define HIL_ASSERT(...) HIL__CHECK_BOOL(1, __VA_ARGS__)
#define HIL_ASSERT_EQ(...) HIL__CHECK_INT(1, ==, __VA_ARGS__)
#define HIL_ASSERT_NE(...) HIL__CHECK_INT(1, !=, __VA_ARGS__)
#define HIL_ASSERT_LT(...) HIL__CHECK_INT(1, <, __VA_ARGS__)
#define HIL_ASSERT_LE(...) HIL__CHECK_INT(1, <=, __VA_ARGS__)
#define HIL_ASSERT_GT(...) HIL__CHECK_INT(1, >, __VA_ARGS__)
#define HIL_ASSERT_GE(...) HIL__CHECK_INT(1, >=, __VA_ARGS__)
#define HIL_ASSERT_STREQ(...) HIL__CHECK_STR(1, 1, __VA_ARGS__)
#define HIL_ASSERT_STRNE(...) HIL__CHECK_STR(1, 0, __VA_ARGS__)
#define HIL_ASSERT_MEMEQ(...) HIL__CHECK_MEM(1, __VA_ARGS__)
#define HIL_ASSERT_NEAR(...) HIL__CHECK_NEAR(1, __VA_ARGS__)
/* Assert that a hil_result is HIL_OK; the message shows hil_last_error(). */
#define HIL_ASSERT_OK(...) \
    do { hil_result hil__r_ = (HIL__A1(__VA_ARGS__)); if (hil__r_ != HIL_OK) { \
        hil__check_fail(1, __FILE__, __LINE__, hil__fmt("%s == HIL_OK (got %s: %s)", \
            HIL__S1(__VA_ARGS__), hil_result_str(hil__r_), hil_last_error()), HIL__MSG1(__VA_ARGS__)); \
    } } while (0)

#define HIL_EXPECT(...) HIL__CHECK_BOOL(0, __VA_ARGS__)
#define HIL_EXPECT_EQ(...) HIL__CHECK_INT(0, ==, __VA_ARGS__)
#define HIL_EXPECT_NE(...) HIL__CHECK_INT(0, !=, __VA_ARGS__)
#define HIL_EXPECT_LT(...) HIL__CHECK_INT(0, <, __VA_ARGS__)
#define HIL_EXPECT_LE(...) HIL__CHECK_INT(0, <=, __VA_ARGS__)
#define HIL_EXPECT_GT(...) HIL__CHECK_INT(0, >, __VA_ARGS__)
#define HIL_EXPECT_GE(...) HIL__CHECK_INT(0, >=, __VA_ARGS__)
#define HIL_EXPECT_STREQ(...) HIL__CHECK_STR(0, 1, __VA_ARGS__)
#define HIL_EXPECT_STRNE(...) HIL__CHECK_STR(0, 0, __VA_ARGS__)
#define HIL_EXPECT_MEMEQ(...) HIL__CHECK_MEM(0, __VA_ARGS__)
#define HIL_EXPECT_NEAR(...) HIL__CHECK_NEAR(0, __VA_ARGS__)
#define HIL_EXPECT_OK(...) \
    do { hil_result hil__r_ = (HIL__A1(__VA_ARGS__)); if (hil__r_ != HIL_OK) { \
        hil__check_fail(0, __FILE__, __LINE__, hil__fmt("%s == HIL_OK (got %s: %s)", \
            HIL__S1(__VA_ARGS__), hil_result_str(hil__r_), hil_last_error()), HIL__MSG1(__VA_ARGS__)); \
    } } while (0)

/* HIL_FAIL("fmt", ...) fails the test now. HIL_SKIP("why", ...) skips it. */
#define HIL_FAIL(...) hil__check_fail(1, __FILE__, __LINE__, "HIL_FAIL", hil__fmt(__VA_ARGS__))
#define HIL_SKIP(...) hil__skip(__FILE__, __LINE__, hil__fmt(__VA_ARGS__))

#define HIL_MAIN() int main(int argc, char** argv) { return hil_main(argc, argv); }
HIL_API int hil_main(int argc, char** argv);

/* ==========================================================================
 * 6. Configuration
 *
 * Typed options are declared by extensions (hil_ext_option). Values come
 * from several sources, each with a priority; the highest priority wins, on
 * a tie the value added first stays, and `multiple` options take the union.
 *
 *     defaults 0 | config files 10..50 (later files higher) |
 *     environment HIL_<KEY> 90 | command line (--set k=v, options) 100
 *
 * Keys are dotted; entity options use '*' for the entity name
 * ("connectors.*.baudrate" matches "connectors.dut.baudrate"). Values are
 * strings; `${other.key}` and `${env:VAR:-default}` are expanded when read.
 * Reading is thread-safe; a returned string stays valid until that key is
 * set again.
 *
 * Limits (bad or hostile files get an error, not a crash or a full memory):
 * a file or !include at most HIL_CONFIG_MAX_FILE bytes, and an !include
 * only of a regular file; YAML mappings and lists nested at most
 * HIL_CONFIG_MAX_NESTING deep; a value at most HIL_CONFIG_MAX_EXPANDED
 * bytes once its references are expanded (each reference is expanded once
 * per read).
 * ========================================================================== */

#ifndef HIL_CONFIG_MAX_FILE
#define HIL_CONFIG_MAX_FILE (16 << 20)      /* 16 MiB */
#endif
#ifndef HIL_CONFIG_MAX_NESTING
#define HIL_CONFIG_MAX_NESTING 64
#endif
#ifndef HIL_CONFIG_MAX_EXPANDED
#define HIL_CONFIG_MAX_EXPANDED (1 << 20)   /* 1 MiB */
#endif

typedef enum hil_opt_type {
    HIL_OPT_STRING = 0,
    HIL_OPT_INT,
    HIL_OPT_FLOAT,
    HIL_OPT_BOOL,
    HIL_OPT_CHOICE,
    HIL_OPT_PATH,
    HIL_OPT_FLAG,     /* a command-line switch without value: true when given */
    HIL_OPT_COUNT     /* a switch counting how often it is given (-v -v) */
} hil_opt_type;

#define HIL_OPT_REQUIRED 1u
#define HIL_OPT_MULTIPLE 2u
#define HIL_OPT_HIDDEN 4u   /* not listed by help */

typedef struct hil_option {
    const char* key;           /* "run.timeout", "connectors.*.baudrate" */
    hil_opt_type type;
    const char* default_value; /* string form; NULL: no default */
    const char* help;
    const char* choices;       /* HIL_OPT_CHOICE: "auto|always|never" */
    unsigned flags;            /* HIL_OPT_REQUIRED | HIL_OPT_MULTIPLE | ... */
    const char* cli;           /* "--timeout" or "-q,--quiet": a command-line option */
    const char* metavar;       /* "S", "FILE" in help */
    const char* commands;      /* the commands it applies to ("run,list"); NULL: all */
    const char* implicit;      /* value when given without "=value" (--shuffle); NULL: value required */
    const char* owner;         /* the extension that declared it (set by hil) */
    struct hil_option* next;   /* internal */
} hil_option;

#define HIL_PRIO_DEFAULT 0
#define HIL_PRIO_FILE 10
#define HIL_PRIO_FILE_MAX 50
#define HIL_PRIO_ENV 90
#define HIL_PRIO_CLI 100

typedef struct hil_config hil_config;

typedef struct hil_config_value {
    const char* value;            /* first value, expanded */
    const char* const* values;    /* all values (multiple), raw */
    size_t count;
    int priority;
    const char* source;           /* "default", "lab.yaml:12:5", "env HIL_X", "--set", ... */
} hil_config_value;

HIL_API hil_result hil_config_create(hil_config** out);
HIL_API void hil_config_destroy(hil_config* cfg);
/* Add a value from a source. For `multiple` options (and keys ending in
 * "[]") values accumulate; otherwise the priority rule decides. */
HIL_API hil_result hil_config_set(hil_config* cfg, const char* key, const char* value,
                                  int priority, const char* source);
HIL_API hil_result hil_config_unset(hil_config* cfg, const char* key);
/* Expanded value, the option's default, or fallback. */
HIL_API const char* hil_config_get(hil_config* cfg, const char* key, const char* fallback);
HIL_API long long hil_config_get_int(hil_config* cfg, const char* key, long long fallback);
HIL_API double hil_config_get_float(hil_config* cfg, const char* key, double fallback);
HIL_API int hil_config_get_bool(hil_config* cfg, const char* key, int fallback);
/* Checked getters: HIL_ERR_NOT_FOUND (no value, no default) or
 * HIL_ERR_CONFIG (wrong type; hil_last_error() names key, value, source). */
HIL_API hil_result hil_config_get_int_ex(hil_config* cfg, const char* key, long long* out);
HIL_API hil_result hil_config_get_float_ex(hil_config* cfg, const char* key, double* out);
HIL_API hil_result hil_config_get_bool_ex(hil_config* cfg, const char* key, int* out);
/* All values of a multiple option (expanded). Returns the count; fills up to max. */
HIL_API size_t hil_config_get_list(hil_config* cfg, const char* key, const char** out, size_t max);
/* Whether a value is set (defaults do not count). */
HIL_API int hil_config_has(hil_config* cfg, const char* key);
HIL_API int hil_config_lookup(hil_config* cfg, const char* key, hil_config_value* out);
/* Entity names under a namespace, sorted: "connectors" -> {"can0", "dut"}.
 * Returns the count; fills up to max. */
HIL_API size_t hil_config_entities(hil_config* cfg, const char* ns, const char** out, size_t max);
/* The same names in the order the configuration declared them: by the first
 * of each entity's keys that was set (file order, then what was set later:
 * environment, command line, hil_config_set). */
HIL_API size_t hil_config_entities_declared(hil_config* cfg, const char* ns, const char** out, size_t max);
/* Visit every set key in sorted order. */
typedef void (*hil_config_visit_fn)(const char* key, const hil_config_value* v, void* user);
HIL_API void hil_config_foreach(hil_config* cfg, hil_config_visit_fn fn, void* user);
/* Files: YAML (.yaml/.yml, needs HIL_HAVE_LIBYAML) or "key = value" (any
 * other name). priority HIL_PRIO_FILE..HIL_PRIO_FILE_MAX. */
HIL_API hil_result hil_config_load_file(hil_config* cfg, const char* path, int priority);
HIL_API hil_result hil_config_load_kv(hil_config* cfg, const char* text, const char* name, int priority);
HIL_API hil_result hil_config_load_yaml(hil_config* cfg, const char* text, const char* name, int priority);
/* Every set key must match a declared option and have the right type. */
HIL_API hil_result hil_config_validate(hil_config* cfg);
/* Every required option must have a value; the error names each way to set it. */
HIL_API hil_result hil_config_check_required(hil_config* cfg);
/* The option declared for key (patterns match entities), or NULL. */
HIL_API const hil_option* hil_option_find(const char* key);
/* Validate one value against an option's type; HIL_ERR_CONFIG with the reason. */
HIL_API hil_result hil_option_check_value(const hil_option* opt, const char* key, const char* value,
                                          const char* source);
/* The configuration of the running program. */
HIL_API hil_config* hil_cfg(void);

/* ==========================================================================
 * 7. Message bus
 *
 * Endpoints and messages are ids (a name and a description) defined by
 * extensions. trigger() delivers an event to the dispatchers subscribed to
 * the message on the sender's endpoint (optionally one entity); request()
 * does the same and returns futures that collect each dispatcher's answer.
 * Dispatchers run the callback in the sender's thread (CALLBACK), in their
 * own worker in FIFO order (SEQUENTIAL) or on a fixed pool (POOLED).
 * ========================================================================== */

typedef struct hil_endpoint { const char* name; const char* description; } hil_endpoint;
typedef struct hil_message_def { const char* name; const char* description; } hil_message_def;

typedef struct hil_bus hil_bus;
typedef struct hil_dispatcher hil_dispatcher;
typedef struct hil_futures hil_futures;
typedef struct hil_msg_queue hil_msg_queue;
typedef struct hil__request hil__request;

typedef struct hil_bus_msg {
    const hil_message_def* id;
    const hil_endpoint* endpoint;
    const char* entity;     /* NULL: not entity specific */
    const void* data;
    size_t size;
    hil__request* request;  /* non-NULL when it is a request */
    void* reserved;
} hil_bus_msg;

typedef void (*hil_dispatch_fn)(const hil_bus_msg* msg, void* user);

typedef enum hil_dispatch_kind {
    HIL_DISPATCH_CALLBACK = 0,
    HIL_DISPATCH_SEQUENTIAL,
    HIL_DISPATCH_POOLED
} hil_dispatch_kind;

typedef struct hil_dispatcher_config {
    hil_dispatch_kind kind;
    hil_dispatch_fn fn;
    void* user;
    int workers;          /* POOLED: worker threads (default 4) */
    int priority;         /* higher runs first among callback dispatchers */
    const char* name;
    int spin_us;          /* SEQUENTIAL/POOLED workers spin this long before blocking (0: off) */
} hil_dispatcher_config;

HIL_API hil_result hil_bus_create(hil_bus** out);
/* Stops and frees every dispatcher still attached. */
HIL_API void hil_bus_destroy(hil_bus* bus);
/* Define an endpoint and its messages; a name defined twice is an error. */
HIL_API hil_result hil_bus_define(hil_bus* bus, const hil_endpoint* ep,
                                  const hil_message_def* const* msgs, size_t count, const char* owner);
HIL_API void hil_dispatcher_config_init(hil_dispatcher_config* cfg);
HIL_API hil_result hil_dispatcher_create(hil_bus* bus, const hil_dispatcher_config* cfg,
                                         hil_dispatcher** out);
/* msg NULL: every message; ep NULL: every endpoint; entity NULL: every entity. */
HIL_API hil_result hil_dispatcher_subscribe(hil_dispatcher* d, const hil_message_def* msg,
                                            const hil_endpoint* ep, const char* entity);
/* Unsubscribes, lets queued messages finish, joins the workers. */
HIL_API void hil_dispatcher_destroy(hil_dispatcher* d);
/* size > 0: data is copied for asynchronous dispatchers; size 0: the pointer
 * is passed as it is (the caller keeps it alive until the bus is idle). */
HIL_API hil_result hil_bus_trigger(hil_bus* bus, const hil_message_def* msg, const hil_endpoint* ep,
                                   const char* entity, const void* data, size_t size);
HIL_API hil_result hil_bus_request(hil_bus* bus, const hil_message_def* msg, const hil_endpoint* ep,
                                   const char* entity, const void* data, size_t size,
                                   hil_futures** out);
/* Answer a request from inside a dispatcher. Not answering completes the
 * future with HIL_OK and no data when the dispatcher returns. */
HIL_API void hil_bus_respond(const hil_bus_msg* msg, hil_result r, const void* data, size_t size);
HIL_API size_t hil_futures_count(const hil_futures* f);
/* Wait until every future is done. */
HIL_API hil_result hil_futures_wait(hil_futures* f, int timeout_ms);
/* As completed: the index of the next future to finish (each once). */
HIL_API hil_result hil_futures_next(hil_futures* f, int timeout_ms, size_t* index);
HIL_API hil_result hil_futures_get(const hil_futures* f, size_t index, hil_result* r,
                                   const void** data, size_t* size);
HIL_API void hil_futures_destroy(hil_futures* f);
/* Wait until no asynchronous dispatcher has work queued or running. */
HIL_API hil_result hil_bus_wait_idle(hil_bus* bus, int timeout_ms);

/* A local message queue collects matching messages, for tests. */
typedef int (*hil_msg_match_fn)(const hil_bus_msg* msg, void* user);
typedef struct hil_queued_msg {
    const hil_message_def* id;
    const hil_endpoint* endpoint;
    char* entity;
    void* data;     /* a copy (size bytes), or the original pointer when size is 0 */
    size_t size;
} hil_queued_msg;
HIL_API hil_result hil_msg_queue_create(hil_bus* bus, const hil_message_def* msg,
                                        const hil_endpoint* ep, const char* entity,
                                        hil_msg_match_fn match, void* user, hil_msg_queue** out);
HIL_API hil_result hil_msg_queue_get(hil_msg_queue* q, int timeout_ms, hil_queued_msg* out);
HIL_API size_t hil_msg_queue_size(hil_msg_queue* q);
HIL_API void hil_queued_msg_free(hil_queued_msg* m);
HIL_API void hil_msg_queue_destroy(hil_msg_queue* q);

/* ==========================================================================
 * 8. Extensions and commands
 *
 * The program is assembled from extensions, as K2/ZAF does it. Framework
 * extensions load in order 1..1000 and may add commands and config; command
 * extensions (order 1000) attach to the commands whose `uses` contain every
 * capability in their `extends` (or that they name). The stages:
 *
 *    1-10   may add config files         (after 10: -c files are loaded)
 *   11-20   may enable/disable others    (after 20: enabled set is fixed)
 *   21-90   add config; the command line is parsed at 90
 *   91-100  act on the command line; required options are checked at 100
 *    >100   the config is complete
 *
 * Disabled: never created. Inactive (activate_on/deactivate_on; deactivate
 * wins): created, but its subscriptions are not made.
 * ========================================================================== */

typedef struct hil_extension hil_extension;
typedef struct hil_command hil_command;
typedef struct hil_ext_ctx hil_ext_ctx;
typedef struct hil_cmd_ctx hil_cmd_ctx;

#define HIL_EXT_FRAMEWORK 0
#define HIL_EXT_COMMAND 1

struct hil_ext_ctx {
    const hil_extension* ext;
    hil_config* config;
    hil_bus* bus;
    const char* instance;   /* the entity with instantiate_on, else NULL */
    void* user;             /* the extension's own state */
    int active;
    void* internal;
};

struct hil_cmd_ctx {
    const hil_command* command;
    hil_config* config;
    hil_bus* bus;
    int argc;               /* positional and passed-on arguments */
    char** argv;
};

typedef hil_result (*hil_ext_init_fn)(hil_ext_ctx* ctx);
typedef hil_result (*hil_ext_get_config_fn)(hil_ext_ctx* ctx);
typedef void (*hil_ext_destroy_fn)(hil_ext_ctx* ctx);
/* A command returns the process exit code. */
typedef int (*hil_command_fn)(hil_cmd_ctx* ctx);

struct hil_command {
    const char* name;
    const char* help;
    const char* uses;       /* capabilities, "tests,report" */
    hil_command_fn fn;
    const char* usage;      /* "[FILTER...]" */
    int pass_unknown;       /* unknown options go to argv instead of failing */
    const char* owner;
    struct hil_command* next;
};

struct hil_extension {
    const char* name;
    const char* description;
    int kind;               /* HIL_EXT_FRAMEWORK or HIL_EXT_COMMAND */
    int load_order;         /* 1..1000 (command extensions: 1000) */
    int default_enabled;    /* 1 unless set to 0 */
    const char* extends;    /* command extensions: capabilities or command names */
    const char* activate_on;   /* "key", "key=value", "key!=value"; ';' = and */
    const char* deactivate_on; /* same syntax; ';' = or */
    const char* replaces;   /* another extension this one stands in for */
    const char* instantiate_on; /* entity namespace: one instance per entity, in declared order */
    hil_ext_init_fn initialize;
    hil_ext_get_config_fn get_config;
    hil_ext_destroy_fn destroy;
    /* filled by the hil_ext_* functions */
    hil_option* options;
    hil_command* commands;
    struct hil__ext_endpoint* endpoints;
    struct hil_extension* next;
};

/* Self-registering declarations; the body fills `ext`:
 *
 *     HIL_FRAMEWORK_EXTENSION(my_reporter) {
 *         ext->load_order = 200;
 *         ext->initialize = my_init;
 *         hil_ext_option(ext, "my.file", HIL_OPT_PATH, NULL, "Where to write")->cli = "--my-file";
 *     }
 */
#ifndef HIL_NO_CONSTRUCTORS
#define HIL__EXT_DECL(id, kind) \
    static void hil__describe_##id(hil_extension* ext); \
    HIL__CONSTRUCTOR(hil__reg_ext_##id) { hil_extension_declare(#id, kind, hil__describe_##id); } \
    static void hil__describe_##id(hil_extension* ext)
#else
#define HIL__EXT_DECL(id, kind) \
    static void hil__describe_##id(hil_extension* ext)
#endif
#define HIL_FRAMEWORK_EXTENSION(id) HIL__EXT_DECL(id, HIL_EXT_FRAMEWORK)
#define HIL_COMMAND_EXTENSION(id) HIL__EXT_DECL(id, HIL_EXT_COMMAND)
/* With HIL_NO_CONSTRUCTORS: HIL_EXTENSION_REGISTER(my_reporter, HIL_EXT_FRAMEWORK) in main. */
#define HIL_EXTENSION_REGISTER(id, kind) hil_extension_declare(#id, kind, hil__describe_##id)

typedef void (*hil_ext_describe_fn)(hil_extension* ext);
/* Explicit table API: fills a fresh definition through describe and registers it. */
HIL_API hil_extension* hil_extension_declare(const char* name, int kind, hil_ext_describe_fn describe);
HIL_API hil_extension* hil_extension_find(const char* name);
HIL_API hil_option* hil_ext_option(hil_extension* ext, const char* key, hil_opt_type type,
                                   const char* default_value, const char* help);
HIL_API hil_command* hil_ext_command(hil_extension* ext, const char* name, const char* help,
                                     hil_command_fn fn);
/* msgs: NULL-terminated. */
HIL_API void hil_ext_endpoint(hil_extension* ext, const hil_endpoint* ep, const hil_message_def* const* msgs);
/* From get_config: provide a value with a priority. */
HIL_API hil_result hil_ext_provide(hil_ext_ctx* ctx, const char* key, const char* value, int priority);
/* From an extension at load order 11-20: enable or disable another one. */
HIL_API hil_result hil_ext_set_enabled(hil_ext_ctx* ctx, const char* name, int enabled);
/* Subscribe through the extension: nothing happens when it is inactive, and
 * the dispatcher is destroyed with the extension. */
HIL_API hil_result hil_ext_subscribe(hil_ext_ctx* ctx, hil_dispatch_kind kind, hil_dispatch_fn fn,
                                     void* user, const hil_message_def* msg, const hil_endpoint* ep);

/* The extension test harness: one extension, a private bus and config. */
typedef struct hil_harness hil_harness;
/* settings: "key=value" strings, NULL-terminated (CLI priority). */
HIL_API hil_result hil_harness_create(const char* ext_name, const char* const* settings, hil_harness** out);
HIL_API hil_bus* hil_harness_bus(hil_harness* h);
HIL_API hil_config* hil_harness_config(hil_harness* h);
HIL_API hil_ext_ctx* hil_harness_ctx(hil_harness* h);
HIL_API void hil_harness_destroy(hil_harness* h);

/* ==========================================================================
 * 9. The test runner and its reports
 * ========================================================================== */

typedef struct hil_failure {
    char* file;
    int line;
    char* message;
} hil_failure;

typedef struct hil_test_result {
    const hil_test_info* test;
    hil_outcome outcome;
    char* reason;              /* first failure, skip reason, crash or timeout */
    uint64_t start_wall_ns;
    uint64_t duration_ns;
    int attempts;
    int iteration;
    char* output;              /* log records and captured stdout/stderr */
    size_t output_len;
    hil_failure* failures;
    size_t n_failures;         /* listed, at most 64 */
    size_t n_failures_dropped; /* failed checks beyond those */
    char** warnings;
    size_t n_warnings;
} hil_test_result;

typedef struct hil_run_summary {
    const char* name;          /* program or task name */
    size_t counts[HIL_OUTCOME_COUNT];
    size_t planned;            /* tests in the plan (with repeats) */
    size_t not_run;            /* left when the run stopped early */
    hil_outcome outcome;       /* roll-up */
    uint64_t start_wall_ns;
    uint64_t duration_ns;
    int interrupted;
    int shuffled;
    unsigned long long seed;
    hil_test_result* results;  /* in execution order */
    size_t n_results;
    void* internal;            /* owned by hil */
} hil_run_summary;

#define HIL_ISOLATE_WORKER 0   /* one worker process, replaced after a crash */
#define HIL_ISOLATE_TEST 1     /* a fresh process per test */
#define HIL_ISOLATE_NONE 2     /* in-process (debuggers); no crash or timeout protection */

typedef struct hil_run_options {
    const char* const* filters;  size_t n_filters;   /* globs on "suite.name" */
    const char* const* tags;     size_t n_tags;      /* any of */
    const char* const* exclude_tags; size_t n_exclude_tags;
    int shuffle;
    unsigned long long seed;
    int repeat;                  /* default 1 */
    int fail_fast;
    double timeout_s;            /* default per-test timeout; 0: none */
    int isolation;               /* HIL_ISOLATE_* */
    int capture;                 /* capture stdout/stderr of tests (worker modes) */
    hil_bus* bus;                /* reports go here; NULL: the program's bus */
    const char* name;
} hil_run_options;

HIL_API void hil_run_options_init(hil_run_options* o);
/* Run the selected tests; *out receives the summary (free it). */
HIL_API hil_result hil_run_tests(const hil_run_options* o, hil_run_summary** out);
HIL_API void hil_run_summary_free(hil_run_summary* s);
/* A test info owned by the summary, for results that are not registered
 * tests (a JUnit file read back, a job's task): the strings are copied
 * (tags and file may be NULL) and freed with the summary. */
HIL_API hil_test_info* hil_run_summary_add_info(hil_run_summary* s, const char* suite, const char* name,
                                                const char* tags, const char* file, int line);
HIL_API size_t hil_summary_failed(const hil_run_summary* s);
HIL_API size_t hil_summary_passed(const hil_run_summary* s);
/* Whether a test is selected by the options (filters, tags). */
HIL_API int hil_test_selected(const hil_test_info* t, const hil_run_options* o);
/* JUnit XML of one or more runs (one <testsuites>); written atomically. */
HIL_API hil_result hil_junit_write(const char* path, const hil_run_summary* const* runs, size_t n,
                                   const char* name);
/* The "suites" array of results.json for one run. */
HIL_API void hil_json_suites(hil_strbuf* sb, const hil_run_summary* s);
HIL_API hil_result hil_json_write(const char* path, const hil_run_summary* s);

/* The run's bus events, on endpoint HIL_EP_RUN. Data pointers are valid
 * during the callback; subscribe with CALLBACK dispatchers to use them. */
extern const hil_endpoint HIL_EP_RUN;
extern const hil_message_def HIL_MSG_RUN_STARTED;   /* const hil_run_summary* (planned set) */
extern const hil_message_def HIL_MSG_SUITE_STARTED; /* const char* suite */
extern const hil_message_def HIL_MSG_TEST_STARTED;  /* const hil_test_result* */
extern const hil_message_def HIL_MSG_TEST_FINISHED; /* const hil_test_result* */
extern const hil_message_def HIL_MSG_SUITE_FINISHED;/* const char* suite */
extern const hil_message_def HIL_MSG_RUN_FINISHED;  /* const hil_run_summary* */
extern const hil_message_def HIL_MSG_LOG;           /* const hil_log_record* */
extern const hil_message_def HIL_MSG_RUN_TICK;      /* NULL, about twice a second while tests run */

/* Process groups killed when the program exits on a second Ctrl-C. */
HIL_API void hil_track_child_group(int pgid, int add);
/* In a child forked from a running program that goes on to run tests
 * itself (a job's task): forget what belongs to the parent: the interrupt
 * count and waker (an eventfd shared with the parent), the child groups
 * the parent kills on a second Ctrl-C, and the program bus (its dispatcher
 * threads stayed in the parent). */
HIL_API void hil_forked_child_reset(void);

/* The program's bus (created by hil_main), or NULL. */
HIL_API hil_bus* hil_program_bus(void);

/* A test case that ran somewhere else (on the target, in a program whose
 * output a test reads: hil_harvest.h) and that the running test reports as
 * a result of its own: it appears in the console, TAP, JUnit, JSON and a
 * job's report like a registered test, named "suite.name", with its
 * outcome, duration, reason, file:line (a failure entry when file is set
 * and the outcome is a failure) and output. Strings are copied. Outside a
 * run (no test is running) it does nothing and returns HIL_ERR_STATE. */
typedef struct hil_case_report {
    const char* suite;         /* NULL or "": the running test's suite */
    const char* name;          /* required */
    hil_outcome outcome;       /* HIL_SKIPPED .. HIL_ABORTED */
    uint64_t duration_ns;
    const char* reason;        /* failure message, skip reason, crash; may be NULL */
    const char* file;          /* where the case failed or is declared; may be NULL */
    int line;
    const char* output;        /* the lines that belong to the case; may be NULL */
} hil_case_report;
HIL_API hil_result hil_report_case(const hil_case_report* c);

#ifdef __cplusplus
}
#endif

#endif /* HIL_H_INCLUDED */

/* ==========================================================================
 * 10. Implementation
 *
 * HIL_IMPLEMENTATION compiles the implementation of every hil header that
 * the file includes. It can also be split over several files, each
 * defining one of these before its first hil header (each in exactly one
 * .c file of the program): HIL_IMPLEMENTATION_CORE (hil.h),
 * HIL_IMPLEMENTATION_CONNECTORS, HIL_IMPLEMENTATION_AUX,
 * HIL_IMPLEMENTATION_RUNNER, HIL_IMPLEMENTATION_PROBE, HIL_IMPLEMENTATION_UDS
 * (and HIL_IMPLEMENTATION_CONSOLE, _HARVEST for those modules). make -j compiles
 * them in parallel and a change to one module recompiles one file (the
 * implementation is about 1300 functions; -O0 code generation is most of a
 * build's time: README, "Build time"). The prelude below is what every
 * module's implementation needs from hil.h: system headers and small
 * private helpers (static in each file), and the declarations of the few
 * bigger ones that only hil.h's implementation defines (HIL__SHARED: static
 * with HIL_IMPLEMENTATION, external when split).
 * ========================================================================== */
#if defined(HIL_IMPLEMENTATION) || defined(HIL_IMPLEMENTATION_CORE) || defined(HIL_IMPLEMENTATION_CONNECTORS) || \
    defined(HIL_IMPLEMENTATION_AUX) || defined(HIL_IMPLEMENTATION_RUNNER) || defined(HIL_IMPLEMENTATION_PROBE) || \
    defined(HIL_IMPLEMENTATION_UDS) || defined(HIL_IMPLEMENTATION_CONSOLE) || defined(HIL_IMPLEMENTATION_HARVEST)
#ifndef HIL__PRELUDE_DONE
#define HIL__PRELUDE_DONE
#if !defined(HIL_IMPLEMENTATION) && !defined(HIL__IMPL_BEFORE_FIRST_INCLUDE)
#error "hil: define HIL_IMPLEMENTATION_<MODULE> before the first hil header of the file (hil.h requests _GNU_SOURCE for the implementation at its first inclusion)"
#endif
#if !defined(HIL_IMPLEMENTATION) && defined(HIL_STATIC)
#error "hil: HIL_STATIC needs the whole implementation in one file (HIL_IMPLEMENTATION), not HIL_IMPLEMENTATION_<MODULE>"
#endif

#include <errno.h>
#include <strings.h>
#include <string.h>
#include <stdlib.h>
#include <ctype.h>
#include <limits.h>
#include <math.h>
#include <setjmp.h>
#include <signal.h>
#include <time.h>
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>
#include <sys/types.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/time.h>
#include <sys/resource.h>
#ifdef __linux__
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#endif


#ifdef __cplusplus
extern "C" {
#endif

#ifdef HIL_IMPLEMENTATION
#define HIL__SHARED static HIL__UNUSED /* a file may leave out the module that calls it */
#else
#define HIL__SHARED extern
#endif

#if defined(__cplusplus)
#define HIL__TLS thread_local
#elif defined(__GNUC__) || defined(__clang__)
#define HIL__TLS __thread
#else
#define HIL__TLS _Thread_local
#endif

#define HIL__ALLOC(T, n) ((T*)HIL_MALLOC(sizeof(T) * (size_t)(n)))
#define HIL__COUNTOF(a) (sizeof(a) / sizeof((a)[0]))

/* snprintf for messages where truncation is fine (and expected at the
 * limits): gcc's -Wformat-truncation does not look through it. */
static HIL__UNUSED void hil__sfmt(char* buf, size_t size, const char* fmt, ...) HIL__PRINTF(3, 4);
static HIL__UNUSED void hil__sfmt(char* buf, size_t size, const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, size, fmt, ap);
    va_end(ap);
}

static HIL__UNUSED void* hil__calloc(size_t n, size_t size) {
    void* p;
    if (size && n > (size_t)-1 / size) return NULL;
    p = HIL_MALLOC(n * size > 0 ? n * size : 1);
    if (p) memset(p, 0, n * size);
    return p;
}

HIL__SHARED int hil__sb_reserve(hil_strbuf* sb, size_t extra);
HIL__SHARED void hil__close_pair(int p[2]);
HIL__SHARED int hil__exit_fd(int pid);
HIL__SHARED void hil__bind_fork_calls(void);
HIL__SHARED void hil__child_exit(int code) HIL__NORETURN;
/* For hil_runner.h's one-test tasks (docs/jobs.md, Performance): whether o
 * selects exactly one test that runs as one call of its function, and that
 * test's own timeout (0: the run's); a log record as a test's output shows it. */
HIL__SHARED int hil__run_solo(const hil_run_options* o, double* test_timeout_s);
HIL__SHARED void hil__log_output_line(hil_strbuf* sb, const hil_log_record* rec);
/* Such a task hears each failed check and warning (file NULL) of the test
 * as it is made, since its process may die before the test's result
 * carries them (a worker streams them to its supervisor for that reason).
 * NULL: nobody. */
typedef void (*hil__solo_check_fn)(void* user, const char* file, int line, const char* msg);
HIL__SHARED void hil__solo_on_check(hil__solo_check_fn fn, void* user);

/* ---- binary records ----------------------------------------------------------
 * [u32 length of what follows][u8 kind][fields...], in host byte order: the
 * runner's worker events, the auxiliaries' process backend and the job's task
 * streams cross a pipe or socket between processes of one machine this way.
 * Strings and byte blocks are a u32 length, then the bytes. A reader marks
 * itself bad instead of reading past the record. */

static HIL__UNUSED void hil__put_u8(hil_strbuf* b, unsigned v) {
    unsigned char c = (unsigned char)v;
    hil_sb_append(b, &c, 1);
}
static HIL__UNUSED void hil__put_u32(hil_strbuf* b, uint32_t v) { hil_sb_append(b, &v, 4); }
static HIL__UNUSED void hil__put_u64(hil_strbuf* b, uint64_t v) { hil_sb_append(b, &v, 8); }
static HIL__UNUSED void hil__put_bytes(hil_strbuf* b, const void* p, size_t n) {
    hil__put_u32(b, (uint32_t)n);
    if (n) hil_sb_append(b, p, n);
}
static HIL__UNUSED void hil__put_str(hil_strbuf* b, const char* s) { hil__put_bytes(b, s ? s : "", s ? strlen(s) : 0); }
/* Start a record at the end of b; returns where, for hil__rec_end. */
static HIL__UNUSED size_t hil__rec_begin(hil_strbuf* b, int kind) {
    size_t at = b->len;
    hil__put_u32(b, 0);
    hil__put_u8(b, (unsigned)kind);
    return at;
}
static HIL__UNUSED void hil__rec_end(hil_strbuf* b, size_t at) {
    uint32_t n = (uint32_t)(b->len - at - 4);
    if (b->data && !b->failed) memcpy(b->data + at, &n, 4);
}

typedef struct hil__rd { const unsigned char* p; size_t left; int bad; } hil__rd;

static HIL__UNUSED unsigned hil__get_u8(hil__rd* r) {
    if (r->left < 1) { r->bad = 1; return 0; }
    r->left--;
    return *r->p++;
}
static HIL__UNUSED uint32_t hil__get_u32(hil__rd* r) {
    uint32_t v = 0;
    if (r->left < 4) { r->bad = 1; return 0; }
    memcpy(&v, r->p, 4);
    r->p += 4;
    r->left -= 4;
    return v;
}
static HIL__UNUSED uint64_t hil__get_u64(hil__rd* r) {
    uint64_t v = 0;
    if (r->left < 8) { r->bad = 1; return 0; }
    memcpy(&v, r->p, 8);
    r->p += 8;
    r->left -= 8;
    return v;
}
/* Points into the record (not NUL-terminated); NULL when bad. */
static HIL__UNUSED const unsigned char* hil__get_bytes(hil__rd* r, size_t* n) {
    const unsigned char* p;
    uint32_t len = hil__get_u32(r);
    if (r->bad || len > r->left) { r->bad = 1; *n = 0; return NULL; }
    p = r->p;
    r->p += len;
    r->left -= len;
    *n = len;
    return p;
}
/* Into a buffer, truncated to fit. */
static HIL__UNUSED void hil__get_str(hil__rd* r, char* out, size_t size) {
    size_t n;
    const unsigned char* p = hil__get_bytes(r, &n);
    if (n >= size) n = size - 1;
    if (p && n) memcpy(out, p, n);
    out[p ? n : 0] = 0;
}
/* A malloc'd copy ("" when bad; NULL only without memory); *len its length. */
static HIL__UNUSED char* hil__get_dup(hil__rd* r, size_t* len) {
    size_t n;
    const unsigned char* p = hil__get_bytes(r, &n);
    if (len) *len = p ? n : 0;
    return hil_strndup(p ? (const char*)p : "", p ? n : 0);
}

#ifdef __cplusplus
}
#endif
#endif /* HIL__PRELUDE_DONE */
#endif

#if (defined(HIL_IMPLEMENTATION) || defined(HIL_IMPLEMENTATION_CORE)) && !defined(HIL__IMPLEMENTED)
#define HIL__IMPLEMENTED

#ifdef __cplusplus
extern "C" {
#endif

/* ---- results and errors ---------------------------------------------- */

HIL_API const char* hil_result_str(hil_result r) {
    switch (r) {
    case HIL_OK: return "ok";
    case HIL_ERROR: return "error";
    case HIL_ERR_INVALID_ARG: return "invalid argument";
    case HIL_ERR_NO_MEMORY: return "out of memory";
    case HIL_ERR_TIMEOUT: return "timeout";
    case HIL_ERR_IO: return "I/O error";
    case HIL_ERR_CLOSED: return "closed";
    case HIL_ERR_NOT_FOUND: return "not found";
    case HIL_ERR_BUSY: return "busy";
    case HIL_ERR_UNSUPPORTED: return "unsupported";
    case HIL_ERR_CONFIG: return "configuration error";
    case HIL_ERR_PERMISSION: return "permission denied";
    case HIL_ERR_OVERFLOW: return "overflow";
    case HIL_ERR_PROTOCOL: return "protocol error";
    case HIL_ERR_CRASHED: return "crashed";
    case HIL_ERR_ABORTED: return "aborted";
    case HIL_ERR_STOPPED: return "stopped";
    case HIL_ERR_EXISTS: return "already exists";
    case HIL_ERR_STATE: return "invalid state";
    case HIL_ERR_MISSING_LIBRARY: return "missing library";
    case HIL_ERR_CHECKSUM: return "checksum error";
    case HIL_ERR_INTERRUPTED: return "interrupted";
    case HIL_ERR_AGAIN: return "try again";
    case HIL_ERR_INTERNAL: return "internal error";
    }
    return "unknown result";
}

static HIL__TLS char hil__last_error[1024];

HIL_API hil_result hil_errorv(hil_result r, const char* fmt, va_list ap) {
    char tmp[sizeof hil__last_error];
    /* via tmp: the arguments may point into hil__last_error itself */
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    memcpy(hil__last_error, tmp, sizeof tmp);
    return r;
}

HIL_API hil_result hil_error(hil_result r, const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    hil_errorv(r, fmt, ap);
    va_end(ap);
    return r;
}

HIL_API const char* hil_last_error(void) { return hil__last_error; }
HIL_API void hil_clear_error(void) { hil__last_error[0] = 0; }

static const char* const hil__outcome_names[HIL_OUTCOME_COUNT] = {
    "NotRun", "Skipped", "Passed", "Passx", "Blocked", "Failed", "Errored", "Aborted"
};

HIL_API const char* hil_outcome_str(hil_outcome o) {
    return (o >= 0 && o < HIL_OUTCOME_COUNT) ? hil__outcome_names[o] : "Unknown";
}

HIL_API hil_outcome hil_outcome_parse(const char* s) {
    int i;
    for (i = 0; s && i < HIL_OUTCOME_COUNT; i++)
        if (strcasecmp(s, hil__outcome_names[i]) == 0) return (hil_outcome)i;
    return HIL_NOT_RUN;
}

HIL_API hil_outcome hil_outcome_rollup(hil_outcome a, hil_outcome b) { return a > b ? a : b; }

HIL_API int hil_outcome_is_failure(hil_outcome o) {
    return o == HIL_FAILED || o == HIL_ERRORED || o == HIL_ABORTED || o == HIL_BLOCKED;
}

/* ---- strings ----------------------------------------------------------- */

HIL_API char* hil_strndup(const char* s, size_t n) {
    char* d;
    if (!s) return NULL;
    d = (char*)HIL_MALLOC(n + 1);
    if (!d) return NULL;
    memcpy(d, s, n);
    d[n] = 0;
    return d;
}

HIL_API char* hil_strdup(const char* s) { return s ? hil_strndup(s, strlen(s)) : NULL; }

HIL__SHARED int hil__sb_reserve(hil_strbuf* sb, size_t extra) {
    size_t need, cap;
    char* p;
    if (sb->failed) return 0;
    need = sb->len + extra + 1;
    if (need <= sb->cap) return 1;
    cap = sb->cap ? sb->cap : 64;
    while (cap < need) cap *= 2;
    p = (char*)HIL_REALLOC(sb->data, cap);
    if (!p) { sb->failed = 1; return 0; }
    sb->data = p;
    sb->cap = cap;
    return 1;
}

HIL_API void hil_sb_append(hil_strbuf* sb, const void* data, size_t len) {
    if (!hil__sb_reserve(sb, len)) return;
    if (len) memcpy(sb->data + sb->len, data, len);
    sb->len += len;
    sb->data[sb->len] = 0;
}

HIL_API void hil_sb_puts(hil_strbuf* sb, const char* s) { if (s) hil_sb_append(sb, s, strlen(s)); }
HIL_API void hil_sb_putc(hil_strbuf* sb, char c) { hil_sb_append(sb, &c, 1); }

HIL_API void hil_sb_vprintf(hil_strbuf* sb, const char* fmt, va_list ap) {
    va_list ap2;
    int n;
    char small[256];
    va_copy(ap2, ap);
    n = vsnprintf(small, sizeof small, fmt, ap2);
    va_end(ap2);
    if (n < 0) return;
    if ((size_t)n < sizeof small) { hil_sb_append(sb, small, (size_t)n); return; }
    if (!hil__sb_reserve(sb, (size_t)n)) return;
    vsnprintf(sb->data + sb->len, (size_t)n + 1, fmt, ap);
    sb->len += (size_t)n;
}

HIL_API void hil_sb_printf(hil_strbuf* sb, const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    hil_sb_vprintf(sb, fmt, ap);
    va_end(ap);
}

HIL_API void hil_sb_json_strn(hil_strbuf* sb, const char* s, size_t n) {
    size_t i;
    hil_sb_putc(sb, '"');
    for (i = 0; s && i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"': hil_sb_puts(sb, "\\\""); break;
        case '\\': hil_sb_puts(sb, "\\\\"); break;
        case '\n': hil_sb_puts(sb, "\\n"); break;
        case '\r': hil_sb_puts(sb, "\\r"); break;
        case '\t': hil_sb_puts(sb, "\\t"); break;
        default:
            if (c < 0x20 || c == 0x7f) hil_sb_printf(sb, "\\u%04x", c);
            else hil_sb_putc(sb, (char)c);
        }
    }
    hil_sb_putc(sb, '"');
}

HIL_API void hil_sb_json_str(hil_strbuf* sb, const char* s) {
    if (!s) { hil_sb_puts(sb, "null"); return; }
    hil_sb_json_strn(sb, s, strlen(s));
}

/* Length of a valid UTF-8 sequence at s (n bytes available), 0 if invalid. */
static size_t hil__utf8_len(const unsigned char* s, size_t n) {
    size_t len, i;
    if (s[0] < 0x80) return 1;
    if ((s[0] & 0xe0) == 0xc0) len = 2;
    else if ((s[0] & 0xf0) == 0xe0) len = 3;
    else if ((s[0] & 0xf8) == 0xf0) len = 4;
    else return 0;
    if (len > n) return 0;
    for (i = 1; i < len; i++)
        if ((s[i] & 0xc0) != 0x80) return 0;
    return len;
}

/* XML 1.0 forbids most control characters even as entities; a test's output
 * may hold anything, so they (and invalid UTF-8) become U+FFFD. */
HIL_API void hil_sb_xml_text(hil_strbuf* sb, const char* s, size_t n) {
    size_t i = 0;
    while (s && i < n) {
        unsigned char c = (unsigned char)s[i];
        size_t len;
        switch (c) {
        case '<': hil_sb_puts(sb, "&lt;"); i++; continue;
        case '>': hil_sb_puts(sb, "&gt;"); i++; continue;
        case '&': hil_sb_puts(sb, "&amp;"); i++; continue;
        case '"': hil_sb_puts(sb, "&quot;"); i++; continue;
        case '\'': hil_sb_puts(sb, "&apos;"); i++; continue;
        default: break;
        }
        if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') {
            hil_sb_puts(sb, "\xEF\xBF\xBD");
            i++;
            continue;
        }
        len = hil__utf8_len((const unsigned char*)s + i, n - i);
        if (len == 0) { hil_sb_puts(sb, "\xEF\xBF\xBD"); i++; continue; }
        hil_sb_append(sb, s + i, len);
        i += len;
    }
}

HIL_API const char* hil_sb_cstr(const hil_strbuf* sb) { return sb->data ? sb->data : ""; }
HIL_API void hil_sb_clear(hil_strbuf* sb) { sb->len = 0; if (sb->data) sb->data[0] = 0; }
HIL_API void hil_sb_free(hil_strbuf* sb) { HIL_FREE(sb->data); memset(sb, 0, sizeof *sb); }

HIL_API char* hil_sb_take(hil_strbuf* sb) {
    char* p = sb->data ? sb->data : hil_strdup("");
    memset(sb, 0, sizeof *sb);
    return p;
}

static int hil__glob_class(const char** pp, char c) {
    const char* p = *pp + 1;
    int neg = 0, match = 0;
    if (*p == '!' || *p == '^') { neg = 1; p++; }
    while (*p && *p != ']') {
        if (p[1] == '-' && p[2] && p[2] != ']') {
            if (c >= p[0] && c <= p[2]) match = 1;
            p += 3;
        } else {
            if (c == *p) match = 1;
            p++;
        }
    }
    *pp = *p ? p + 1 : p;
    return match != neg;
}

HIL_API int hil_glob_match(const char* p, const char* s) {
    const char* star_p = NULL;
    const char* star_s = NULL;
    while (*s) {
        if (*p == '*') { star_p = ++p; star_s = s; continue; }
        if (*p == '[') {
            const char* q = p;
            if (hil__glob_class(&q, *s)) { p = q; s++; continue; }
        } else if (*p == '?' || *p == *s) { p++; s++; continue; }
        if (!star_p) return 0;
        p = star_p;
        s = ++star_s;
    }
    while (*p == '*') p++;
    return *p == 0;
}

HIL_API size_t hil_edit_distance(const char* a, const char* b, size_t cap) {
    size_t la = strlen(a), lb = strlen(b), i, j;
    size_t row[128];
    if (lb >= HIL__COUNTOF(row) || la >= 128) return cap + 1;
    for (j = 0; j <= lb; j++) row[j] = j;
    for (i = 1; i <= la; i++) {
        size_t prev = row[0], best;
        row[0] = i;
        best = row[0];
        for (j = 1; j <= lb; j++) {
            size_t cur = row[j];
            size_t sub = prev + (a[i - 1] != b[j - 1]);
            size_t v = row[j] + 1 < row[j - 1] + 1 ? row[j] + 1 : row[j - 1] + 1;
            row[j] = sub < v ? sub : v;
            prev = cur;
            if (row[j] < best) best = row[j];
        }
        if (best > cap) return cap + 1;
    }
    return row[lb] > cap ? cap + 1 : row[lb];
}

HIL_API int hil_list_contains(const char* list, const char* item) {
    size_t n = strlen(item);
    const char* p = list;
    while (p && *p) {
        size_t len;
        while (*p == ',' || *p == ';' || *p == ' ') p++;
        len = strcspn(p, ",; ");
        if (len == n && len && strncmp(p, item, n) == 0) return 1;
        p += len;
    }
    return 0;
}

/* ---- files --------------------------------------------------------------- */

HIL_API hil_result hil_mkdirs(const char* path) {
    char buf[4096];
    size_t i, n = strlen(path);
    if (n == 0 || n >= sizeof buf) return hil_error(HIL_ERR_INVALID_ARG, "mkdir: bad path '%s'", path);
    memcpy(buf, path, n + 1);
    for (i = 1; i <= n; i++) {
        if (buf[i] == '/' || buf[i] == 0) {
            char c = buf[i];
            buf[i] = 0;
            if (mkdir(buf, 0777) != 0 && errno != EEXIST)
                return hil_error(HIL_ERR_IO, "cannot create directory '%s': %s", buf, strerror(errno));
            buf[i] = c;
        }
    }
    return HIL_OK;
}

HIL_API hil_result hil_write_all(int fd, const void* buf, size_t len) {
    const char* p = (const char*)buf;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                struct pollfd pf;
                pf.fd = fd; pf.events = POLLOUT; pf.revents = 0;
                poll(&pf, 1, -1);
                continue;
            }
            return hil_error(errno == EPIPE ? HIL_ERR_CLOSED : HIL_ERR_IO, "write: %s", strerror(errno));
        }
        p += w;
        len -= (size_t)w;
    }
    return HIL_OK;
}

HIL_API hil_result hil_write_file_atomic(const char* path, const void* data, size_t len) {
    char tmp[4200];
    int fd;
    hil_result r;
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid()) >= (int)sizeof tmp)
        return hil_error(HIL_ERR_INVALID_ARG, "path too long: %s", path);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0) return hil_error(HIL_ERR_IO, "cannot write '%s': %s", tmp, strerror(errno));
    r = hil_write_all(fd, data, len);
    if (close(fd) != 0 && r == HIL_OK)
        r = hil_error(HIL_ERR_IO, "cannot write '%s': %s", tmp, strerror(errno));
    if (r == HIL_OK && rename(tmp, path) != 0)
        r = hil_error(HIL_ERR_IO, "cannot rename '%s' to '%s': %s", tmp, path, strerror(errno));
    if (r != HIL_OK) {
        const char* e = hil_last_error();
        char saved[512];
        hil__sfmt(saved, sizeof saved, "%s", e);
        unlink(tmp);
        return hil_error(r, "%s", saved);
    }
    return HIL_OK;
}

HIL_API hil_result hil_read_file(const char* path, char** out, size_t* len) {
    hil_strbuf sb = {0, 0, 0, 0};
    char buf[8192];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return hil_error(errno == ENOENT ? HIL_ERR_NOT_FOUND : HIL_ERR_IO, "cannot read '%s': %s", path,
                         strerror(errno));
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            int e = errno;
            close(fd);
            hil_sb_free(&sb);
            return hil_error(HIL_ERR_IO, "cannot read '%s': %s", path, strerror(e));
        }
        if (n == 0) break;
        hil_sb_append(&sb, buf, (size_t)n);
    }
    close(fd);
    if (sb.failed) { hil_sb_free(&sb); return hil_error(HIL_ERR_NO_MEMORY, "reading '%s'", path); }
    if (len) *len = sb.len;
    *out = hil_sb_take(&sb);
    return HIL_OK;
}

/* ==========================================================================
 * Platform layer (POSIX). A Windows port replaces this section.
 * ========================================================================== */

HIL_API hil_result hil_mutex_init(hil_mutex* m) {
    return pthread_mutex_init(&m->m, NULL) == 0 ? HIL_OK : hil_error(HIL_ERR_NO_MEMORY, "mutex init");
}
HIL_API void hil_mutex_destroy(hil_mutex* m) { pthread_mutex_destroy(&m->m); }
HIL_API void hil_mutex_lock(hil_mutex* m) { pthread_mutex_lock(&m->m); }
HIL_API void hil_mutex_unlock(hil_mutex* m) { pthread_mutex_unlock(&m->m); }

HIL_API hil_result hil_cond_init(hil_cond* c) {
    pthread_condattr_t a;
    int rc;
    pthread_condattr_init(&a);
#if !defined(__APPLE__)
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
#endif
    rc = pthread_cond_init(&c->c, &a);
    pthread_condattr_destroy(&a);
    return rc == 0 ? HIL_OK : hil_error(HIL_ERR_NO_MEMORY, "condition variable init");
}
HIL_API void hil_cond_destroy(hil_cond* c) { pthread_cond_destroy(&c->c); }
HIL_API void hil_cond_signal(hil_cond* c) { pthread_cond_signal(&c->c); }
HIL_API void hil_cond_broadcast(hil_cond* c) { pthread_cond_broadcast(&c->c); }
HIL_API void hil_cond_wait(hil_cond* c, hil_mutex* m) { pthread_cond_wait(&c->c, &m->m); }

HIL_API hil_result hil_cond_wait_until(hil_cond* c, hil_mutex* m, uint64_t deadline_ns) {
    struct timespec ts;
    int rc;
    if (deadline_ns == HIL_NEVER) { pthread_cond_wait(&c->c, &m->m); return HIL_OK; }
    ts.tv_sec = (time_t)(deadline_ns / 1000000000u);
    ts.tv_nsec = (long)(deadline_ns % 1000000000u);
    rc = pthread_cond_timedwait(&c->c, &m->m, &ts);
    return rc == ETIMEDOUT ? HIL_ERR_TIMEOUT : HIL_OK;
}

typedef struct hil__thread_start { hil_thread_fn fn; void* arg; char name[16]; } hil__thread_start;

static void* hil__thread_trampoline(void* p) {
    hil__thread_start s = *(hil__thread_start*)p;
    HIL_FREE(p);
#ifdef __linux__
    if (s.name[0]) prctl(PR_SET_NAME, s.name, 0, 0, 0);
#endif
    return s.fn(s.arg);
}

HIL_API hil_result hil_thread_create(hil_thread* t, hil_thread_fn fn, void* arg, const char* name) {
    hil__thread_start* s = HIL__ALLOC(hil__thread_start, 1);
    int rc;
    if (!s) return hil_error(HIL_ERR_NO_MEMORY, "thread '%s': out of memory", name ? name : "");
    s->fn = fn;
    s->arg = arg;
    hil__sfmt(s->name, sizeof s->name, "%s", name ? name : "");
    rc = pthread_create(&t->t, NULL, hil__thread_trampoline, s);
    if (rc != 0) {
        HIL_FREE(s);
        t->started = 0;
        return hil_error(HIL_ERR_NO_MEMORY, "cannot start thread '%s': %s", name ? name : "", strerror(rc));
    }
    t->started = 1;
    return HIL_OK;
}

HIL_API void* hil_thread_join(hil_thread* t) {
    void* ret = NULL;
    if (t->started) pthread_join(t->t, &ret);
    t->started = 0;
    return ret;
}

HIL_API uint64_t hil_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

HIL_API uint64_t hil_wall_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

HIL_API uint64_t hil_deadline_ms(int timeout_ms) {
    if (timeout_ms < 0) return HIL_NEVER;
    return hil_now_ns() + (uint64_t)timeout_ms * 1000000u;
}

HIL_API uint64_t hil_deadline_s(double seconds) {
    if (!(seconds > 0)) return HIL_NEVER;
    if (seconds > 1e9) return HIL_NEVER;
    return hil_now_ns() + (uint64_t)(seconds * 1e9);
}

HIL_API int hil_deadline_left_ms(uint64_t deadline_ns) {
    uint64_t now, left;
    if (deadline_ns == HIL_NEVER) return -1;
    now = hil_now_ns();
    if (now >= deadline_ns) return 0;
    left = (deadline_ns - now + 999999u) / 1000000u;
    return left > (uint64_t)INT_MAX ? INT_MAX : (int)left;
}

HIL_API void hil_format_time_iso(uint64_t wall_ns, char* out, size_t size) {
    time_t secs = (time_t)(wall_ns / 1000000000u);
    struct tm tm;
    char buf[32];
    gmtime_r(&secs, &tm);
    strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    hil__sfmt(out, size, "%s.%03uZ", buf, (unsigned)((wall_ns / 1000000u) % 1000u));
}

HIL_API hil_result hil_set_nonblocking(int fd, int on) {
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0) return hil_error(HIL_ERR_IO, "fcntl: %s", strerror(errno));
    fl = on ? (fl | O_NONBLOCK) : (fl & ~O_NONBLOCK);
    return fcntl(fd, F_SETFL, fl) == 0 ? HIL_OK : hil_error(HIL_ERR_IO, "fcntl: %s", strerror(errno));
}

HIL_API hil_result hil_set_cloexec(int fd) {
    int fl = fcntl(fd, F_GETFD);
    if (fl < 0 || fcntl(fd, F_SETFD, fl | FD_CLOEXEC) != 0)
        return hil_error(HIL_ERR_IO, "fcntl: %s", strerror(errno));
    return HIL_OK;
}

HIL_API hil_result hil_waker_init(hil_waker* w) {
#ifdef __linux__
    int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (fd < 0) return hil_error(HIL_ERR_IO, "eventfd: %s", strerror(errno));
    w->rfd = w->wfd = fd;
#else
    int p[2];
    if (pipe(p) != 0) return hil_error(HIL_ERR_IO, "pipe: %s", strerror(errno));
    hil_set_nonblocking(p[0], 1);
    hil_set_nonblocking(p[1], 1);
    hil_set_cloexec(p[0]);
    hil_set_cloexec(p[1]);
    w->rfd = p[0];
    w->wfd = p[1];
#endif
    return HIL_OK;
}

HIL_API void hil_waker_destroy(hil_waker* w) {
    if (w->rfd >= 0) close(w->rfd);
    if (w->wfd >= 0 && w->wfd != w->rfd) close(w->wfd);
    w->rfd = w->wfd = -1;
}

HIL_API void hil_waker_wake(hil_waker* w) {
    ssize_t rc;
#ifdef __linux__
    uint64_t one = 1;
    rc = write(w->wfd, &one, sizeof one);
#else
    char c = 1;
    rc = write(w->wfd, &c, 1);
#endif
    (void)rc; /* full counter or pipe: already awake */
}

HIL_API void hil_waker_drain(hil_waker* w) {
#ifdef __linux__
    /* one read returns and clears the whole eventfd counter: a second read
     * would only fail with EAGAIN, a wasted system call on hot paths */
    uint64_t n;
    ssize_t rc;
    do rc = read(w->rfd, &n, sizeof n);
    while (rc < 0 && errno == EINTR);
#else
    char buf[64];
    while (read(w->rfd, buf, sizeof buf) > 0) {
    }
#endif
}

HIL_API int hil_waker_fd(const hil_waker* w) { return w->rfd; }

HIL_API hil_result hil_wait_readable(int fd, int timeout_ms) {
    struct pollfd p;
    uint64_t deadline = hil_deadline_ms(timeout_ms);
    for (;;) {
        int rc;
        p.fd = fd;
        p.events = POLLIN;
        p.revents = 0;
        rc = poll(&p, 1, hil_deadline_left_ms(deadline));
        if (rc > 0) return HIL_OK;
        if (rc == 0) return HIL_ERR_TIMEOUT;
        if (errno != EINTR) return hil_error(HIL_ERR_IO, "poll: %s", strerror(errno));
    }
}

/* ---- child processes ------------------------------------------------- */

HIL_API const char* hil_signal_name(int sig) {
    static const struct { int sig; const char* name; } names[] = {
        {SIGHUP, "SIGHUP"}, {SIGINT, "SIGINT"}, {SIGQUIT, "SIGQUIT"}, {SIGILL, "SIGILL"},
        {SIGTRAP, "SIGTRAP"}, {SIGABRT, "SIGABRT"}, {SIGBUS, "SIGBUS"}, {SIGFPE, "SIGFPE"},
        {SIGKILL, "SIGKILL"}, {SIGUSR1, "SIGUSR1"}, {SIGSEGV, "SIGSEGV"}, {SIGUSR2, "SIGUSR2"},
        {SIGPIPE, "SIGPIPE"}, {SIGALRM, "SIGALRM"}, {SIGTERM, "SIGTERM"}, {SIGCHLD, "SIGCHLD"},
        {SIGCONT, "SIGCONT"}, {SIGSTOP, "SIGSTOP"}, {SIGTSTP, "SIGTSTP"}, {SIGXCPU, "SIGXCPU"},
        {SIGXFSZ, "SIGXFSZ"}, {SIGSYS, "SIGSYS"}
    };
    static HIL__TLS char other[16];
    size_t i;
    for (i = 0; i < HIL__COUNTOF(names); i++)
        if (names[i].sig == sig) return names[i].name;
    hil__sfmt(other, sizeof other, "SIG%d", sig);
    return other;
}

HIL_API void hil_proc_status_str(int status, char* out, size_t size) {
    if (WIFEXITED(status))
        hil__sfmt(out, size, "exited with status %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        hil__sfmt(out, size, "killed by %s (%s)%s", hil_signal_name(WTERMSIG(status)),
                 strsignal(WTERMSIG(status)),
#ifdef WCOREDUMP
                 WCOREDUMP(status) ? ", core dumped" : ""
#else
                 ""
#endif
        );
    else
        hil__sfmt(out, size, "stopped (status 0x%x)", status);
}

HIL_API int hil_proc_exit_code(int status) {
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return 255;
}

HIL_API void hil_proc_config_init(hil_proc_config* cfg) {
    memset(cfg, 0, sizeof *cfg);
    cfg->null_stdin = 1;
}

static int hil__pidfd_open(int pid) {
#if defined(__linux__) && defined(SYS_pidfd_open)
    /* the kernel sets close-on-exec on every pidfd (pidfd_open(2)) */
    return (int)syscall(SYS_pidfd_open, pid, 0);
#else
    (void)pid;
    return -1;
#endif
}

HIL__SHARED void hil__close_pair(int p[2]) {
    if (p[0] >= 0) close(p[0]);
    if (p[1] >= 0) close(p[1]);
    p[0] = p[1] = -1;
}

/* The environment for the child, built before fork(): after fork() in a
 * threaded program only async-signal-safe calls are allowed. */
static char** hil__proc_envp(const char* const* extra) {
    extern char** environ;
    size_t n = 0, m = 0, i, j, k = 0;
    char** envp;
    while (environ && environ[n]) n++;
    while (extra && extra[m]) m++;
    envp = HIL__ALLOC(char*, n + m + 1);
    if (!envp) return NULL;
    for (i = 0; i < n; i++) {
        size_t klen = strcspn(environ[i], "=");
        int overridden = 0;
        for (j = 0; j < m; j++)
            if (strncmp(extra[j], environ[i], klen) == 0 && extra[j][klen] == '=') overridden = 1;
        if (!overridden) envp[k++] = environ[i];
    }
    for (j = 0; j < m; j++) envp[k++] = (char*)extra[j];
    envp[k] = NULL;
    return envp;
}

/* In the child between fork and exec: only async-signal-safe calls. */
static void hil__child_exec(const hil_proc_config* cfg, char** envp, int in[2], int out[2], int err[2],
                            int errpipe, int parent) {
    sigset_t none;
    struct sigaction dfl;
    int e, lifted[HIL_PROC_MAX_EXTRA_FDS], above = 2;
    size_t i;
    if (cfg->new_process_group) setpgid(0, 0);
#ifdef __linux__
    if (cfg->die_with_parent) {
        prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
        if ((int)getppid() != parent) _exit(127); /* the parent died before prctl */
    }
#else
    (void)parent;
#endif
    if (cfg->no_core_dump) {
        struct rlimit no_core;
        no_core.rlim_cur = no_core.rlim_max = 0;
        setrlimit(RLIMIT_CORE, &no_core);
    }
    /* Extra descriptors first go above every number they or the pipes are
     * moved to (close-on-exec copies), so no dup2 below clobbers another's
     * source; dup2 onto the target then clears close-on-exec. */
    for (i = 0; i < cfg->n_extra_fds; i++)
        if (cfg->extra_fds[i].child_fd > above) above = cfg->extra_fds[i].child_fd;
    for (i = 0; i < cfg->n_extra_fds; i++) {
        lifted[i] = fcntl(cfg->extra_fds[i].parent_fd, F_DUPFD_CLOEXEC, above + 1);
        if (lifted[i] < 0) {
            e = errno;
            (void)!write(errpipe, &e, sizeof e);
            _exit(127);
        }
    }
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigaction(SIGPIPE, &dfl, NULL);
    sigaction(SIGINT, &dfl, NULL);
    sigaction(SIGTERM, &dfl, NULL);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (in[0] >= 0) dup2(in[0], 0);
    else if (cfg->null_stdin) {
        int fd = open("/dev/null", O_RDONLY);
        if (fd >= 0) { dup2(fd, 0); close(fd); }
    }
    if (out[1] >= 0) dup2(out[1], 1);
    if (cfg->stderr_to_stdout) dup2(1, 2);
    else if (err[1] >= 0) dup2(err[1], 2);
    /* Only 0, 1 and 2 may keep the pipes open: a child that closes its
     * stdout must give the parent end of file. */
    if (in[0] > 2) close(in[0]);
    if (out[1] > 2) close(out[1]);
    if (err[1] > 2) close(err[1]);
    for (i = 0; i < cfg->n_extra_fds; i++) dup2(lifted[i], cfg->extra_fds[i].child_fd);
    if (cfg->cwd && chdir(cfg->cwd) != 0) {
        e = errno;
        (void)!write(errpipe, &e, sizeof e);
        _exit(127);
    }
    {
        extern char** environ;
        environ = envp; /* a plain store: safe after fork, and execvp reads it */
    }
    execvp(cfg->argv[0], (char* const*)cfg->argv);
    e = errno;
    (void)!write(errpipe, &e, sizeof e);
    _exit(127);
}

/* Without pidfd (kernels before 5.3) a small thread waits for the exit
 * without reaping it (WNOWAIT) and makes a pipe readable, so waiting with a
 * timeout stays a poll() on a descriptor. */
typedef struct hil__exit_watch { int pid; int wfd; } hil__exit_watch;

static void* hil__exit_watch_thread(void* p) {
    hil__exit_watch w = *(hil__exit_watch*)p;
    siginfo_t si;
    HIL_FREE(p);
    while (waitid(P_PID, (id_t)w.pid, &si, WEXITED | WNOWAIT) != 0 && errno == EINTR) {
    }
    (void)!write(w.wfd, "x", 1);
    close(w.wfd);
    return NULL;
}

HIL__SHARED int hil__exit_fd(int pid) {
    int fd = hil__pidfd_open(pid), p[2];
    hil__exit_watch* w;
    pthread_t t;
    if (fd >= 0) return fd;
    if (pipe(p) != 0) return -1;
    hil_set_cloexec(p[0]);
    hil_set_cloexec(p[1]);
    w = HIL__ALLOC(hil__exit_watch, 1);
    if (!w) { hil__close_pair(p); return -1; }
    w->pid = pid;
    w->wfd = p[1];
    if (pthread_create(&t, NULL, hil__exit_watch_thread, w) != 0) {
        HIL_FREE(w);
        hil__close_pair(p);
        return -1;
    }
    pthread_detach(t);
    return p[0];
}

HIL_API hil_result hil_proc_spawn(hil_proc* p, const hil_proc_config* cfg) {
    int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1}, ep[2] = {-1, -1};
    int pid, parent, child_errno = 0;
    ssize_t n;
    char** envp;
    memset(p, 0, sizeof *p);
    p->pid = -1;
    p->pidfd = p->stdin_fd = p->stdout_fd = p->stderr_fd = -1;
    if (!cfg || !cfg->argv || !cfg->argv[0])
        return hil_error(HIL_ERR_INVALID_ARG, "spawn: no program given (argv is empty)");
    if (cfg->n_extra_fds > HIL_PROC_MAX_EXTRA_FDS || (cfg->n_extra_fds && !cfg->extra_fds))
        return hil_error(HIL_ERR_INVALID_ARG, "spawn '%s': %zu extra descriptors (at most %d, and extra_fds set)",
                         cfg->argv[0], cfg->n_extra_fds, HIL_PROC_MAX_EXTRA_FDS);
    {
        size_t i, j;
        for (i = 0; i < cfg->n_extra_fds; i++) {
            const hil_proc_fd* f = &cfg->extra_fds[i];
            if (f->child_fd < 3 || f->parent_fd < 0 || fcntl(f->parent_fd, F_GETFD) < 0)
                return hil_error(HIL_ERR_INVALID_ARG, "spawn '%s': extra_fds[%zu] = {child %d, parent %d}: the "
                                 "child's number must be 3 or above (0-2 are the pipe_* options) and the parent's an "
                                 "open descriptor", cfg->argv[0], i, f->child_fd, f->parent_fd);
            for (j = 0; j < i; j++)
                if (cfg->extra_fds[j].child_fd == f->child_fd)
                    return hil_error(HIL_ERR_INVALID_ARG, "spawn '%s': extra_fds gives the child's descriptor %d twice",
                                     cfg->argv[0], f->child_fd);
        }
    }
    if ((cfg->pipe_stdin && pipe(in) != 0) || (cfg->pipe_stdout && pipe(out) != 0) ||
        (cfg->pipe_stderr && !cfg->stderr_to_stdout && pipe(err) != 0) || pipe(ep) != 0) {
        int e = errno;
        hil__close_pair(in); hil__close_pair(out); hil__close_pair(err); hil__close_pair(ep);
        return hil_error(HIL_ERR_IO, "spawn '%s': pipe: %s", cfg->argv[0], strerror(e));
    }
    hil_set_cloexec(ep[1]);
    envp = hil__proc_envp(cfg->env);
    if (!envp) {
        hil__close_pair(in); hil__close_pair(out); hil__close_pair(err); hil__close_pair(ep);
        return hil_error(HIL_ERR_NO_MEMORY, "spawn '%s': out of memory", cfg->argv[0]);
    }
    parent = (int)getpid();
    pid = fork();
    if (pid < 0) {
        int e = errno;
        HIL_FREE(envp);
        hil__close_pair(in); hil__close_pair(out); hil__close_pair(err); hil__close_pair(ep);
        return hil_error(HIL_ERR_IO, "spawn '%s': fork: %s", cfg->argv[0], strerror(e));
    }
    if (pid == 0) {
        close(ep[0]);
        if (in[1] >= 0) close(in[1]);
        if (out[0] >= 0) close(out[0]);
        if (err[0] >= 0) close(err[0]);
        hil__child_exec(cfg, envp, in, out, err, ep[1], parent);
    }
    HIL_FREE(envp);
    if (cfg->new_process_group) setpgid(pid, pid); /* both sides: no race with kill() */
    close(ep[1]);
    do n = read(ep[0], &child_errno, sizeof child_errno); while (n < 0 && errno == EINTR);
    close(ep[0]);
    if (in[0] >= 0) close(in[0]);
    if (out[1] >= 0) close(out[1]);
    if (err[1] >= 0) close(err[1]);
    p->pid = pid;
    p->group = cfg->new_process_group;
    p->stdin_fd = in[1];
    p->stdout_fd = out[0];
    p->stderr_fd = err[0];
    if (p->stdin_fd >= 0) hil_set_cloexec(p->stdin_fd);
    if (p->stdout_fd >= 0) hil_set_cloexec(p->stdout_fd);
    if (p->stderr_fd >= 0) hil_set_cloexec(p->stderr_fd);
    if (n == (ssize_t)sizeof child_errno) {
        int st;
        waitpid(pid, &st, 0);
        p->exited = 1;
        p->status = st;
        hil_proc_close(p);
        return hil_error(child_errno == ENOENT ? HIL_ERR_NOT_FOUND : HIL_ERR_IO,
                         "cannot run '%s': %s%s", cfg->argv[0], strerror(child_errno),
                         child_errno == ENOENT ? " (is it installed and on PATH?)" : "");
    }
    p->pidfd = hil__exit_fd(pid);
    return HIL_OK;
}

HIL_API hil_result hil_proc_wait(hil_proc* p, int timeout_ms) {
    uint64_t deadline = hil_deadline_ms(timeout_ms);
    if (p->exited) return HIL_OK;
    if (p->pid <= 0) return hil_error(HIL_ERR_STATE, "wait: no process");
    for (;;) {
        int st, rc = waitpid(p->pid, &st, WNOHANG);
        if (rc == p->pid) { p->exited = 1; p->status = st; return HIL_OK; }
        if (rc < 0 && errno != EINTR) {
            p->exited = 1;
            p->status = 0;
            return hil_error(HIL_ERR_IO, "waitpid %d: %s", p->pid, strerror(errno));
        }
        if (timeout_ms == 0 || hil_deadline_left_ms(deadline) == 0) return HIL_ERR_TIMEOUT;
        if (p->pidfd >= 0) {
            hil_wait_readable(p->pidfd, hil_deadline_left_ms(deadline));
        } else {
            /* No exit descriptor at all (out of fds): block in waitpid. */
            rc = waitpid(p->pid, &st, 0);
            if (rc == p->pid) { p->exited = 1; p->status = st; return HIL_OK; }
        }
    }
}

HIL_API hil_result hil_proc_kill(hil_proc* p, int sig) {
    if (p->pid <= 0 || p->exited) return HIL_OK;
    if ((p->group ? kill(-p->pid, sig) : kill(p->pid, sig)) != 0 && errno != ESRCH)
        return hil_error(HIL_ERR_IO, "kill %d: %s", p->pid, strerror(errno));
    return HIL_OK;
}

HIL_API hil_result hil_proc_terminate(hil_proc* p, int grace_ms) {
    if (p->pid <= 0 || p->exited) {
        if (p->group && p->pid > 0) kill(-p->pid, SIGKILL); /* leftovers in its group */
        return HIL_OK;
    }
    hil_proc_kill(p, SIGTERM);
    if (hil_proc_wait(p, grace_ms) == HIL_ERR_TIMEOUT) {
        hil_proc_kill(p, SIGKILL);
        hil_proc_wait(p, -1);
    }
    if (p->group) kill(-p->pid, SIGKILL);
    return HIL_OK;
}

HIL_API void hil_proc_close(hil_proc* p) {
    if (p->stdin_fd >= 0) close(p->stdin_fd);
    if (p->stdout_fd >= 0) close(p->stdout_fd);
    if (p->stderr_fd >= 0) close(p->stderr_fd);
    if (p->pidfd >= 0) close(p->pidfd);
    p->stdin_fd = p->stdout_fd = p->stderr_fd = p->pidfd = -1;
}

/* ---- interrupts ------------------------------------------------------ */

static volatile sig_atomic_t hil__interrupts;
static hil_waker hil__interrupt_waker = {-1, -1};
static int hil__interrupts_installed;
static void hil__hard_exit(void);

static void hil__on_interrupt(int sig) {
    int saved = errno;
    (void)sig;
    hil__interrupts++;
    if (hil__interrupts >= 2) hil__hard_exit();
    if (hil__interrupt_waker.wfd >= 0) hil_waker_wake(&hil__interrupt_waker);
    errno = saved;
}

HIL_API hil_result hil_interrupts_install(void) {
    struct sigaction sa;
    if (hil__interrupts_installed) return HIL_OK;
    if (hil_waker_init(&hil__interrupt_waker) != HIL_OK) return HIL_ERR_IO;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = hil__on_interrupt;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    hil__interrupts_installed = 1;
    return HIL_OK;
}

HIL_API int hil_interrupt_count(void) { return (int)hil__interrupts; }
HIL_API void hil_interrupt_reset(void) {
    hil__interrupts = 0;
    if (hil__interrupt_waker.rfd >= 0) hil_waker_drain(&hil__interrupt_waker);
}
HIL_API hil_waker* hil_interrupt_waker(void) {
    return hil__interrupts_installed ? &hil__interrupt_waker : NULL;
}

/* ==========================================================================
 * Logging
 * ========================================================================== */

typedef struct hil__log_rule { char* prefix; size_t len; hil_log_level level; } hil__log_rule;

static struct {
    hil_log_fn fn;
    void* user;
    hil_log_level level;          /* default */
    hil__log_rule rules[32];
    size_t n_rules;
    hil_log_level min_level;      /* lowest level of any rule: fast reject */
    int color;                    /* stderr colours for the default sink */
} hil__log = {NULL, NULL, HIL_LOG_INFO, {{NULL, 0, HIL_LOG_INFO}}, 0, HIL_LOG_INFO, 0};

/* The runner routes records while a run is active (set in section 9). */
static void (*hil__log_router)(const hil_log_record* rec) = NULL;
static HIL__TLS int hil__log_depth;

static const char* const hil__level_names[] = {"trace", "debug", "info", "warning", "error", "off"};

HIL_API const char* hil_log_level_str(hil_log_level level) {
    return (level >= HIL_LOG_TRACE && level <= HIL_LOG_OFF) ? hil__level_names[level] : "?";
}

HIL_API hil_result hil_log_level_parse(const char* s, hil_log_level* out) {
    int i;
    for (i = 0; i <= HIL_LOG_OFF; i++)
        if (strcasecmp(s, hil__level_names[i]) == 0) { *out = (hil_log_level)i; return HIL_OK; }
    if (strcasecmp(s, "warn") == 0) { *out = HIL_LOG_WARN; return HIL_OK; }
    return hil_error(HIL_ERR_INVALID_ARG,
                     "unknown log level '%s' (use trace, debug, info, warning, error or off)", s);
}

static void hil__log_recompute_min(void) {
    size_t i;
    hil_log_level m = hil__log.level;
    for (i = 0; i < hil__log.n_rules; i++)
        if (hil__log.rules[i].level < m) m = hil__log.rules[i].level;
    hil__log.min_level = m;
}

HIL_API hil_result hil_log_set_level(const char* prefix, hil_log_level level) {
    size_t i;
    if (!prefix || !*prefix) {
        hil__log.level = level;
        hil__log_recompute_min();
        return HIL_OK;
    }
    for (i = 0; i < hil__log.n_rules; i++) {
        if (strcmp(hil__log.rules[i].prefix, prefix) == 0) {
            hil__log.rules[i].level = level;
            hil__log_recompute_min();
            return HIL_OK;
        }
    }
    if (hil__log.n_rules == HIL__COUNTOF(hil__log.rules))
        return hil_error(HIL_ERR_OVERFLOW, "too many logger levels (at most 32)");
    hil__log.rules[hil__log.n_rules].prefix = hil_strdup(prefix);
    hil__log.rules[hil__log.n_rules].len = strlen(prefix);
    hil__log.rules[hil__log.n_rules].level = level;
    hil__log.n_rules++;
    hil__log_recompute_min();
    return HIL_OK;
}

HIL_API hil_result hil_log_configure(const char* spec) {
    char item[256];
    const char* p = spec;
    while (p && *p) {
        size_t len = strcspn(p, ",");
        char* eq;
        hil_log_level lvl;
        hil_result r;
        if (len >= sizeof item) return hil_error(HIL_ERR_INVALID_ARG, "log level spec too long");
        memcpy(item, p, len);
        item[len] = 0;
        p += len + (p[len] == ',');
        if (!item[0]) continue;
        eq = strchr(item, '=');
        if (eq) {
            *eq = 0;
            r = hil_log_level_parse(eq + 1, &lvl);
            if (r == HIL_OK) r = hil_log_set_level(item, lvl);
        } else {
            r = hil_log_level_parse(item, &lvl);
            if (r == HIL_OK) r = hil_log_set_level(NULL, lvl);
        }
        if (r != HIL_OK) return r;
    }
    return HIL_OK;
}

static hil_log_level hil__log_threshold(const char* logger) {
    size_t i, best = 0;
    hil_log_level lvl = hil__log.level;
    for (i = 0; i < hil__log.n_rules; i++) {
        const hil__log_rule* r = &hil__log.rules[i];
        if (r->len >= best && strncmp(logger, r->prefix, r->len) == 0 &&
            (logger[r->len] == 0 || logger[r->len] == '.')) {
            best = r->len;
            lvl = r->level;
        }
    }
    return lvl;
}

HIL_API int hil_log_enabled(const char* logger, hil_log_level level) {
    if (level < hil__log.min_level || level >= HIL_LOG_OFF) return 0;
    return level >= hil__log_threshold(logger ? logger : "");
}

HIL_API void hil_log_set_callback(hil_log_fn fn, void* user) {
    hil__log.fn = fn;
    hil__log.user = user;
}

static void hil__log_format_line(hil_strbuf* sb, const hil_log_record* rec, int color) {
    static const char* const colors[] = {"\x1b[2m", "\x1b[2m", "", "\x1b[33m", "\x1b[31m", ""};
    char ts[40];
    time_t secs = (time_t)(rec->wall_ns / 1000000000u);
    struct tm tm;
    localtime_r(&secs, &tm);
    strftime(ts, sizeof ts, "%H:%M:%S", &tm);
    hil_sb_printf(sb, "%s%s.%03u %-7s %s: %s%s\n", color ? colors[rec->level] : "", ts,
                  (unsigned)((rec->wall_ns / 1000000u) % 1000u), hil_log_level_str(rec->level),
                  rec->logger, rec->message, color && colors[rec->level][0] ? "\x1b[0m" : "");
}

HIL__SHARED void hil__log_output_line(hil_strbuf* sb, const hil_log_record* rec) { hil__log_format_line(sb, rec, 0); }

HIL_API void hil_log_default_callback(const hil_log_record* rec, void* user) {
    (void)user;
    if (hil__log_router && hil__log_depth == 1) {
        hil__log_router(rec);
    } else {
        hil_strbuf sb = {0, 0, 0, 0};
        hil__log_format_line(&sb, rec, hil__log.color);
        if (sb.data) (void)!write(2, sb.data, sb.len);
        hil_sb_free(&sb);
    }
}

HIL_API void hil_log_v(hil_log_level level, const char* file, int line, const char* logger,
                       const char* fmt, va_list ap) {
    hil_log_record rec;
    char small[512];
    char* msg = small;
    int n;
    va_list ap2;
    if (!logger) logger = "hil";
    if (!hil_log_enabled(logger, level)) return;
    va_copy(ap2, ap);
    n = vsnprintf(small, sizeof small, fmt, ap2);
    va_end(ap2);
    if (n >= (int)sizeof small) {
        msg = (char*)HIL_MALLOC((size_t)n + 1);
        if (msg) vsnprintf(msg, (size_t)n + 1, fmt, ap);
        else msg = small;
    }
    rec.level = level;
    rec.logger = logger;
    rec.file = file;
    rec.line = line;
    rec.wall_ns = hil_wall_ns();
    rec.pid = (int)getpid();
    rec.message = msg;
    hil__log_depth++;
    if (hil__log.fn) hil__log.fn(&rec, hil__log.user);
    else hil_log_default_callback(&rec, NULL);
    hil__log_depth--;
    if (msg != small) HIL_FREE(msg);
}

HIL_API void hil_log_emit(const hil_log_record* rec) {
    if (!rec || !hil_log_enabled(rec->logger ? rec->logger : "hil", rec->level)) return;
    hil__log_depth++;
    if (hil__log.fn) hil__log.fn(rec, hil__log.user);
    else hil_log_default_callback(rec, NULL);
    hil__log_depth--;
}

HIL_API void hil_log_at(hil_log_level level, const char* file, int line, const char* logger,
                        const char* fmt, ...) {
    va_list ap;
    if (!hil_log_enabled(logger ? logger : "hil", level)) return;
    va_start(ap, fmt);
    hil_log_v(level, file, line, logger, fmt, ap);
    va_end(ap);
}

/* ==========================================================================
 * Tests: registry, metadata, contexts, assertions
 * ========================================================================== */

typedef struct hil__suite {
    const char* name;
    const char* meta;
    hil_test_fn setup, teardown;
    int id;
    char* tags;
    double timeout_s;
    int retries;
    char* requires;
    int parsed;
    struct hil__suite* next;
} hil__suite;

typedef struct hil__test {
    hil_test_info info;      /* first: a hil_test_info* is a hil__test* */
    hil_test_fn fn;
    const char* meta;
    hil__suite* suite;
    char* own_tags;
    char* own_requires;
    char* skip_buf;
    int has_timeout, has_retries;
    int prepared;
} hil__test;

static struct {
    hil__test** tests;
    size_t n, cap;
    hil__suite* suites;
    hil_test_precheck_fn prechecks[16];
    size_t n_prechecks;
    void (*worker_hooks[16])(int starting);
    size_t n_worker_hooks;
} hil__reg;

static hil__suite* hil__suite_get(const char* name) {
    hil__suite* s;
    hil__suite** tail = &hil__reg.suites;
    for (s = hil__reg.suites; s; s = s->next) {
        if (strcmp(s->name, name) == 0) return s;
        tail = &s->next;
    }
    s = (hil__suite*)hil__calloc(1, sizeof *s);
    if (!s) return NULL;
    s->name = name;
    *tail = s;
    return s;
}

HIL_API void hil_register_test(const char* suite, const char* name, hil_test_fn fn, const char* meta,
                               const char* file, int line) {
    hil__test* t;
    size_t n;
    if (hil__reg.n == hil__reg.cap) {
        size_t cap = hil__reg.cap ? hil__reg.cap * 2 : 64;
        hil__test** p = (hil__test**)HIL_REALLOC(hil__reg.tests, cap * sizeof *p);
        if (!p) return;
        hil__reg.tests = p;
        hil__reg.cap = cap;
    }
    t = (hil__test*)hil__calloc(1, sizeof *t);
    if (!t) return;
    t->suite = hil__suite_get(suite);
    t->fn = fn;
    t->meta = meta ? meta : "";
    t->info.suite = suite;
    t->info.name = name;
    n = strlen(suite) + strlen(name) + 2;
    t->info.full_name = (char*)HIL_MALLOC(n);
    if (t->info.full_name) hil__sfmt((char*)t->info.full_name, n, "%s.%s", suite, name);
    t->info.file = file;
    t->info.line = line;
    t->info.tags = "";
    t->info.attempt = 1;
    t->info.iteration = 1;
    t->info.index = (int)hil__reg.n;
    hil__reg.tests[hil__reg.n++] = t;
}

HIL_API void hil_register_tests(const hil_test_entry* table, size_t count) {
    size_t i;
    for (i = 0; i < count; i++)
        hil_register_test(table[i].suite, table[i].name, table[i].fn, table[i].meta, "", 0);
}

HIL_API void hil_register_suite(const char* suite, const char* meta) {
    hil__suite* s = hil__suite_get(suite);
    if (s) s->meta = meta;
}
HIL_API void hil_register_suite_setup(const char* suite, hil_test_fn fn) {
    hil__suite* s = hil__suite_get(suite);
    if (s) s->setup = fn;
}
HIL_API void hil_register_suite_teardown(const char* suite, hil_test_fn fn) {
    hil__suite* s = hil__suite_get(suite);
    if (s) s->teardown = fn;
}

HIL_API size_t hil_test_count(void) { return hil__reg.n; }
HIL_API const hil_test_info* hil_test_at(size_t i) {
    return i < hil__reg.n ? &hil__reg.tests[i]->info : NULL;
}

HIL_API void hil_add_test_precheck(hil_test_precheck_fn fn) {
    size_t i;
    for (i = 0; i < hil__reg.n_prechecks; i++)
        if (hil__reg.prechecks[i] == fn) return;
    if (hil__reg.n_prechecks < HIL__COUNTOF(hil__reg.prechecks)) hil__reg.prechecks[hil__reg.n_prechecks++] = fn;
}

HIL_API void hil_add_worker_hook(void (*fn)(int starting)) {
    size_t i;
    for (i = 0; i < hil__reg.n_worker_hooks; i++)
        if (hil__reg.worker_hooks[i] == fn) return;
    if (hil__reg.n_worker_hooks < HIL__COUNTOF(hil__reg.worker_hooks))
        hil__reg.worker_hooks[hil__reg.n_worker_hooks++] = fn;
}

static void hil__run_worker_hooks(int starting) {
    size_t i, n = hil__reg.n_worker_hooks;
    for (i = 0; i < n; i++) hil__reg.worker_hooks[starting ? i : n - 1 - i](starting);
}

/* ---- metadata ------------------------------------------------------------ */

typedef struct hil__meta_kv { char key[32]; char value[512]; } hil__meta_kv;

/* Calls fn(key, value) for "k=v; k2=v2". Returns HIL_ERR_CONFIG with a message. */
static hil_result hil__meta_parse(const char* meta, const char* what,
                                  hil_result (*fn)(void* obj, const char* k, const char* v, const char* what),
                                  void* obj) {
    const char* p = meta;
    while (p && *p) {
        hil__meta_kv kv;
        size_t len = strcspn(p, ";"), klen, vlen;
        const char* eq = (const char*)memchr(p, '=', len);
        const char* k = p;
        const char* v;
        hil_result r;
        p += len + (p[len] == ';');
        while (len && isspace((unsigned char)*k)) { k++; len--; }
        if (!len) continue;
        if (!eq) return hil_error(HIL_ERR_CONFIG, "%s: metadata item '%.*s' has no '=' (write key=value)", what,
                                  (int)len, k);
        klen = (size_t)(eq - k);
        while (klen && isspace((unsigned char)k[klen - 1])) klen--;
        v = eq + 1;
        vlen = len - (size_t)(v - k);
        while (vlen && isspace((unsigned char)*v)) { v++; vlen--; }
        while (vlen && isspace((unsigned char)v[vlen - 1])) vlen--;
        if (klen >= sizeof kv.key || vlen >= sizeof kv.value)
            return hil_error(HIL_ERR_CONFIG, "%s: metadata item too long", what);
        memcpy(kv.key, k, klen);
        kv.key[klen] = 0;
        memcpy(kv.value, v, vlen);
        kv.value[vlen] = 0;
        r = fn(obj, kv.key, kv.value, what);
        if (r != HIL_OK) return r;
    }
    return HIL_OK;
}

static hil_result hil__meta_int(const char* what, const char* k, const char* v, long long lo, long long hi,
                                long long* out) {
    char* end;
    long long x;
    errno = 0;
    x = strtoll(v, &end, 0);
    if (errno || end == v || *end || x < lo || x > hi)
        return hil_error(HIL_ERR_CONFIG, "%s: '%s' must be an integer from %lld to %lld, got '%s'", what, k, lo, hi, v);
    *out = x;
    return HIL_OK;
}

static hil_result hil__meta_seconds(const char* what, const char* k, const char* v, double* out) {
    char* end;
    double x = strtod(v, &end);
    if (end == v || *end || !(x >= 0) || x > 1e7)
        return hil_error(HIL_ERR_CONFIG, "%s: '%s' must be a number of seconds, got '%s'", what, k, v);
    *out = x;
    return HIL_OK;
}

/* "tags=a timeout=5" (a missing ';') would quietly become the tag "a timeout=5". */
static hil_result hil__meta_tags(const char* what, const char* v, char** out) {
    if (strchr(v, '='))
        return hil_error(HIL_ERR_CONFIG, "%s: tags '%s' contain '=': separate metadata items with ';' "
                         "(\"tags=a,b; timeout=5\")", what, v);
    HIL_FREE(*out);
    *out = hil_strdup(v);
    return HIL_OK;
}

static hil_result hil__suite_meta_kv(void* obj, const char* k, const char* v, const char* what) {
    hil__suite* s = (hil__suite*)obj;
    long long x;
    hil_result r = HIL_OK;
    if (strcmp(k, "id") == 0) { r = hil__meta_int(what, k, v, 0, INT_MAX, &x); s->id = (int)x; }
    else if (strcmp(k, "tags") == 0) r = hil__meta_tags(what, v, &s->tags);
    else if (strcmp(k, "timeout") == 0) r = hil__meta_seconds(what, k, v, &s->timeout_s);
    else if (strcmp(k, "retries") == 0) { r = hil__meta_int(what, k, v, 0, 100, &x); s->retries = (int)x; }
    else if (strcmp(k, "requires") == 0) { HIL_FREE(s->requires); s->requires = hil_strdup(v); }
    else r = hil_error(HIL_ERR_CONFIG, "%s: unknown metadata key '%s' (suites know id, tags, timeout, retries, requires)",
                       what, k);
    return r;
}

static hil_result hil__test_meta_kv(void* obj, const char* k, const char* v, const char* what) {
    hil__test* t = (hil__test*)obj;
    long long x;
    hil_result r = HIL_OK;
    if (strcmp(k, "id") == 0) { r = hil__meta_int(what, k, v, 0, INT_MAX, &x); t->info.case_id = (int)x; }
    else if (strcmp(k, "tags") == 0) r = hil__meta_tags(what, v, &t->own_tags);
    else if (strcmp(k, "timeout") == 0) { r = hil__meta_seconds(what, k, v, &t->info.timeout_s); t->has_timeout = 1; }
    else if (strcmp(k, "retries") == 0) {
        r = hil__meta_int(what, k, v, 0, 100, &x);
        t->info.retries = (int)x;
        t->has_retries = 1;
    } else if (strcmp(k, "skip") == 0) { HIL_FREE(t->skip_buf); t->skip_buf = hil_strdup(*v ? v : "skipped"); }
    else if (strcmp(k, "requires") == 0) { HIL_FREE(t->own_requires); t->own_requires = hil_strdup(v); }
    else r = hil_error(HIL_ERR_CONFIG,
                       "%s: unknown metadata key '%s' (tests know id, tags, timeout, retries, skip, requires)", what, k);
    return r;
}

static char* hil__join_lists(const char* a, const char* b) {
    hil_strbuf sb = {0, 0, 0, 0};
    if (a && *a) hil_sb_puts(&sb, a);
    if (b && *b) {
        if (sb.len) hil_sb_putc(&sb, ',');
        hil_sb_puts(&sb, b);
    }
    return hil_sb_take(&sb);
}

/* Parse the metadata of every suite and test not parsed yet (tests can be
 * registered late, e.g. by a benchmark or a plugin). */
static hil_result hil__tests_prepare(void) {
    hil__suite* s;
    size_t i;
    char what[300];
    for (s = hil__reg.suites; s; s = s->next) {
        if (s->parsed) continue;
        snprintf(what, sizeof what, "suite '%s'", s->name);
        if (s->meta && hil__meta_parse(s->meta, what, hil__suite_meta_kv, s) != HIL_OK) return HIL_ERR_CONFIG;
        s->parsed = 1;
    }
    for (i = 0; i < hil__reg.n; i++) {
        hil__test* t = hil__reg.tests[i];
        if (t->prepared) continue;
        hil__sfmt(what, sizeof what, "test '%s' (%s:%d)", t->info.full_name, t->info.file, t->info.line);
        if (hil__meta_parse(t->meta, what, hil__test_meta_kv, t) != HIL_OK) return HIL_ERR_CONFIG;
        t->info.suite_id = t->suite->id;
        t->info.tags = hil__join_lists(t->suite->tags, t->own_tags);
        t->info.requires = hil__join_lists(t->suite->requires, t->own_requires);
        if (!t->has_timeout) t->info.timeout_s = t->suite->timeout_s;
        if (!t->has_retries) t->info.retries = t->suite->retries;
        t->info.skip_reason = t->skip_buf;
        t->prepared = 1;
    }
    return HIL_OK;
}

/* ---- the running test's context ----------------------------------------- */

typedef struct hil__tctx {
    const hil_test_info* info;
    jmp_buf jb;
    volatile int can_jump;
    volatile int failed;
    volatile int skipped;
    int errored;             /* hil_test_error() (atomic): wins over failed */
    char reason[1024];       /* first failure or the skip reason */
    char pending[2048];      /* a failed check waiting for its message (hil__end_check) */
    const char* pending_file;
    int pending_line;
    pthread_t thread;
} hil__tctx;

static hil__tctx* volatile hil__active;    /* the test running in this process */
static HIL__TLS hil__tctx* hil__ctx;       /* ... if it runs on this thread */

/* Where results go: set by the runner (section 9). */
static void (*hil__sink_failure)(const char* file, int line, const char* msg) = NULL;
static void (*hil__sink_warning)(const char* msg) = NULL;

HIL_API const hil_test_info* hil_current_test(void) {
    hil__tctx* c = hil__ctx ? hil__ctx : hil__active;
    return c ? c->info : NULL;
}

/* A few rotating buffers: one assertion may format two strings (the
 * expression and the message) before it reports them. */
HIL_API const char* hil__fmt(const char* fmt, ...) {
    static HIL__TLS char bufs[4][1024];
    static HIL__TLS unsigned next;
    char* buf = bufs[next++ % 4];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof bufs[0], fmt, ap);
    va_end(ap);
    return buf;
}

HIL_API void hil__fail_now(void) {
    hil__tctx* c = hil__ctx;
    if (c && c->can_jump) {
        c->can_jump = 0;
        longjmp(c->jb, 1);
    }
}

static void hil__record_failure(const char* file, int line, const char* text, const char* msg) {
    hil__tctx* c = hil__ctx ? hil__ctx : hil__active;
    char full[3072];
    if (msg && *msg) hil__sfmt(full, sizeof full, "%s - %s", text, msg);
    else hil__sfmt(full, sizeof full, "%s", text);
    if (c) {
        if (!c->failed && !c->skipped) {
            if (file && *file) hil__sfmt(c->reason, sizeof c->reason, "%s:%d: %s", file, line, full);
            else hil__sfmt(c->reason, sizeof c->reason, "%s", full);
        }
        c->failed = 1;
    }
    if (hil__sink_failure) hil__sink_failure(file, line, full);
    else if (file && *file) fprintf(stderr, "%s:%d: %s\n", file, line, full);
    else fprintf(stderr, "%s\n", full);
}

HIL_API void hil__check_fail(int fatal, const char* file, int line, const char* what, const char* msg) {
    char text[2048];
    if (strcmp(what, "HIL_FAIL") == 0) hil__sfmt(text, sizeof text, "failed");
    else if (strstr(what, "== HIL_OK (got")) hil__sfmt(text, sizeof text, "expected %s", what);
    else hil__sfmt(text, sizeof text, "check failed: %s", what);
    hil__record_failure(file, line, text, msg);
    if (fatal) hil__fail_now();
}

HIL_API void hil__check_int(int fatal, const char* file, int line, const char* op, const char* ea, const char* eb,
                            long long a, long long b, const char* msg) {
    char text[2048];
    hil__sfmt(text, sizeof text, "expected %s %s %s, got %lld vs %lld", ea, op, eb, a, b);
    hil__record_failure(file, line, text, msg);
    if (fatal) hil__fail_now();
}

static void hil__set_pending(const char* file, int line, const char* text) {
    hil__tctx* c = hil__ctx ? hil__ctx : hil__active;
    static HIL__TLS char orphan[2048];
    char* dst = c ? c->pending : orphan;
    hil__sfmt(dst, 2048, "%s", text);
    if (c) { c->pending_file = file; c->pending_line = line; }
    else hil__record_failure(file, line, text, NULL);
}

HIL_API void hil__end_check(int fatal, const char* msg) {
    hil__tctx* c = hil__ctx ? hil__ctx : hil__active;
    if (c) {
        char text[2048];
        hil__sfmt(text, sizeof text, "%s", c->pending);
        hil__record_failure(c->pending_file ? c->pending_file : "?", c->pending_line, text, msg);
    }
    if (fatal) hil__fail_now();
}

static void hil__quote(char* out, size_t size, const char* s, size_t max) {
    hil_strbuf sb = {0, 0, 0, 0};
    size_t n;
    if (!s) { hil__sfmt(out, size, "NULL"); return; }
    n = strlen(s);
    hil_sb_json_strn(&sb, s, n > max ? max : n);
    hil__sfmt(out, size, "%s%s", hil_sb_cstr(&sb), n > max ? "..." : "");
    hil_sb_free(&sb);
}

HIL_API int hil__check_str(int fatal, const char* file, int line, const char* ea, const char* eb, const char* a,
                           const char* b, int want_equal) {
    int equal = (a && b) ? strcmp(a, b) == 0 : a == b;
    char qa[400], qb[400], text[2048];
    (void)fatal;
    if (equal == want_equal) return 1;
    hil__quote(qa, sizeof qa, a, 300);
    hil__quote(qb, sizeof qb, b, 300);
    if (want_equal && a && b) {
        size_t i = 0;
        while (a[i] && a[i] == b[i]) i++;
        hil__sfmt(text, sizeof text, "expected %s == %s, got %s vs %s (first difference at index %zu)", ea, eb, qa, qb,
                 i);
    } else {
        hil__sfmt(text, sizeof text, "expected %s %s %s, got %s vs %s", ea, want_equal ? "==" : "!=", eb, qa, qb);
    }
    hil__set_pending(file, line, text);
    return 0;
}

static void hil__hex_window(hil_strbuf* sb, const unsigned char* p, size_t n, size_t at) {
    size_t lo = at >= 4 ? at - 4 : 0, hi = at + 5 < n ? at + 5 : n, i;
    if (lo > 0) hil_sb_puts(sb, ".. ");
    for (i = lo; i < hi; i++) hil_sb_printf(sb, i == at ? "[%02x] " : "%02x ", p[i]);
    if (hi < n) hil_sb_puts(sb, "..");
}

HIL_API int hil__check_mem(int fatal, const char* file, int line, const char* ea, const char* eb, const void* a,
                           const void* b, size_t n) {
    const unsigned char* pa = (const unsigned char*)a;
    const unsigned char* pb = (const unsigned char*)b;
    size_t i;
    hil_strbuf sb = {0, 0, 0, 0};
    (void)fatal;
    if (n == 0) return 1;
    if (!pa || !pb) {
        hil_sb_printf(&sb, "expected %s == %s over %zu bytes, got a NULL pointer", ea, eb, n);
        hil__set_pending(file, line, hil_sb_cstr(&sb));
        hil_sb_free(&sb);
        return 0;
    }
    for (i = 0; i < n && pa[i] == pb[i]; i++) {
    }
    if (i == n) return 1;
    hil_sb_printf(&sb, "expected %s == %s over %zu bytes, first difference at offset %zu: 0x%02x vs 0x%02x; ", ea,
                  eb, n, i, pa[i], pb[i]);
    hil_sb_printf(&sb, "%s: ", ea);
    hil__hex_window(&sb, pa, n, i);
    hil_sb_printf(&sb, "; %s: ", eb);
    hil__hex_window(&sb, pb, n, i);
    hil__set_pending(file, line, hil_sb_cstr(&sb));
    hil_sb_free(&sb);
    return 0;
}

HIL_API int hil__check_near(int fatal, const char* file, int line, const char* ea, const char* eb, double a,
                            double b, double eps) {
    char text[1024];
    (void)fatal;
    if (fabs(a - b) <= eps) return 1;
    hil__sfmt(text, sizeof text, "expected %s == %s within %g, got %.17g vs %.17g (difference %g)", ea, eb, eps, a, b,
             fabs(a - b));
    hil__set_pending(file, line, text);
    return 0;
}

HIL_API void hil__skip(const char* file, int line, const char* reason) {
    hil__tctx* c = hil__ctx ? hil__ctx : hil__active;
    (void)file;
    (void)line;
    if (c) {
        if (!c->failed) hil__sfmt(c->reason, sizeof c->reason, "%s", reason && *reason ? reason : "skipped");
        c->skipped = 1;
    }
    hil__fail_now();
}

HIL_API void hil_test_warn(const char* fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (hil__sink_warning) hil__sink_warning(msg);
    else fprintf(stderr, "warning: %s\n", msg);
}

HIL_API void hil_test_error(const char* fmt, ...) {
    hil__tctx* c = hil__ctx ? hil__ctx : hil__active;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (c) {
        /* the error is the reason shown, even after an earlier failure */
        hil__sfmt(c->reason, sizeof c->reason, "%s", msg);
        __atomic_store_n(&c->errored, 1, __ATOMIC_RELEASE);
    }
    if (hil__sink_failure) hil__sink_failure("", 0, msg);
    else fprintf(stderr, "error: %s\n", msg);
    if (c && c == hil__ctx) hil__fail_now();
}

/* Run fn as the body of a test on this thread: a fatal check longjmps back
 * here. Returns the attempt's outcome; ctx->reason says why. */
static hil_outcome hil__call_test_fn(hil__tctx* ctx, hil_test_fn fn) {
    hil__tctx* volatile saved_tls = hil__ctx;
    hil__tctx* volatile saved_active = hil__active;
    hil__ctx = ctx;
    hil__active = ctx;
    ctx->thread = pthread_self();
    if (setjmp(ctx->jb) == 0) {
        ctx->can_jump = 1;
        fn();
    }
    ctx->can_jump = 0;
    hil__ctx = saved_tls;
    hil__active = saved_active;
    if (__atomic_load_n(&ctx->errored, __ATOMIC_ACQUIRE)) return HIL_ERRORED;
    if (ctx->failed) return HIL_FAILED;
    if (ctx->skipped) return HIL_SKIPPED;
    return HIL_PASSED;
}

/* ==========================================================================
 * Configuration
 * ========================================================================== */

typedef struct hil__cfg_entry {
    char* key;
    uint32_t hash;
    char** values;
    size_t count, cap;
    int priority;
    char* source;
    int multiple;
    unsigned long seq;       /* when the key was first set: declaration order */
    /* caches, valid while gen == cfg->gen */
    unsigned gen;
    char* expanded;
    char** expanded_list;
    size_t expanded_count;
} hil__cfg_entry;

struct hil_config {
    hil_mutex mu;
    hil__cfg_entry** slots;
    size_t cap, count;
    unsigned gen;
    char** names;            /* interned entity names (hil_config_entities) */
    size_t n_names;
    unsigned long next_seq;  /* hil__cfg_entry.seq of the next new key */
};

static hil_option* hil__options_head;
static hil_option** hil__options_tail = &hil__options_head;

static uint32_t hil__hash(const char* s) {
    uint32_t h = 2166136261u;
    while (*s) { h ^= (unsigned char)*s++; h *= 16777619u; }
    return h ? h : 1;
}

HIL_API hil_result hil_config_create(hil_config** out) {
    hil_config* c = (hil_config*)hil__calloc(1, sizeof *c);
    if (!c) return hil_error(HIL_ERR_NO_MEMORY, "config: out of memory");
    c->cap = 64;
    c->slots = (hil__cfg_entry**)hil__calloc(c->cap, sizeof *c->slots);
    if (!c->slots) { HIL_FREE(c); return hil_error(HIL_ERR_NO_MEMORY, "config: out of memory"); }
    hil_mutex_init(&c->mu);
    c->gen = 1;
    *out = c;
    return HIL_OK;
}

static void hil__cfg_free_caches(hil__cfg_entry* e) {
    size_t i;
    HIL_FREE(e->expanded);
    e->expanded = NULL;
    for (i = 0; i < e->expanded_count; i++) HIL_FREE(e->expanded_list[i]);
    HIL_FREE(e->expanded_list);
    e->expanded_list = NULL;
    e->expanded_count = 0;
    e->gen = 0;
}

static void hil__cfg_clear_values(hil__cfg_entry* e) {
    size_t i;
    for (i = 0; i < e->count; i++) HIL_FREE(e->values[i]);
    e->count = 0;
}

static void hil__cfg_entry_free(hil__cfg_entry* e) {
    hil__cfg_clear_values(e);
    HIL_FREE(e->values);
    hil__cfg_free_caches(e);
    HIL_FREE(e->source);
    HIL_FREE(e->key);
    HIL_FREE(e);
}

HIL_API void hil_config_destroy(hil_config* c) {
    size_t i;
    if (!c) return;
    for (i = 0; i < c->cap; i++)
        if (c->slots[i]) hil__cfg_entry_free(c->slots[i]);
    HIL_FREE(c->slots);
    for (i = 0; i < c->n_names; i++) HIL_FREE(c->names[i]);
    HIL_FREE(c->names);
    hil_mutex_destroy(&c->mu);
    HIL_FREE(c);
}

static hil__cfg_entry** hil__cfg_slot(hil_config* c, const char* key, uint32_t h) {
    size_t mask = c->cap - 1, i = h & mask;
    while (c->slots[i]) {
        if (c->slots[i]->hash == h && strcmp(c->slots[i]->key, key) == 0) return &c->slots[i];
        i = (i + 1) & mask;
    }
    return &c->slots[i];
}

static int hil__cfg_grow(hil_config* c) {
    size_t old_cap = c->cap, i;
    hil__cfg_entry** old = c->slots;
    hil__cfg_entry** slots = (hil__cfg_entry**)hil__calloc(old_cap * 2, sizeof *slots);
    if (!slots) return 0;
    c->slots = slots;
    c->cap = old_cap * 2;
    for (i = 0; i < old_cap; i++)
        if (old[i]) *hil__cfg_slot(c, old[i]->key, old[i]->hash) = old[i];
    HIL_FREE(old);
    return 1;
}

static hil__cfg_entry* hil__cfg_find(hil_config* c, const char* key) {
    return *hil__cfg_slot(c, key, hil__hash(key));
}

static int hil__cfg_push_value(hil__cfg_entry* e, const char* value) {
    if (e->count == e->cap) {
        size_t cap = e->cap ? e->cap * 2 : 2;
        char** v = (char**)HIL_REALLOC(e->values, cap * sizeof *v);
        if (!v) return 0;
        e->values = v;
        e->cap = cap;
    }
    e->values[e->count] = hil_strdup(value);
    if (!e->values[e->count]) return 0;
    e->count++;
    return 1;
}

/* Does key match pattern, where a '*' segment matches any one segment? */
static int hil__key_match(const char* pattern, const char* key) {
    while (*pattern && *key) {
        if (pattern[0] == '*' && (pattern[1] == '.' || pattern[1] == 0)) {
            pattern++;
            while (*key && *key != '.') key++;
            continue;
        }
        if (*pattern != *key) return 0;
        pattern++;
        key++;
    }
    return *pattern == 0 && *key == 0;
}

HIL_API const hil_option* hil_option_find(const char* key) {
    hil_option* o;
    hil_option* pattern_hit = NULL;
    for (o = hil__options_head; o; o = o->next) {
        if (strcmp(o->key, key) == 0) return o;
        if (!pattern_hit && strchr(o->key, '*') && hil__key_match(o->key, key)) pattern_hit = o;
    }
    return pattern_hit;
}

static int hil__option_multiple(const char* key) {
    const hil_option* o = hil_option_find(key);
    size_t n = strlen(key);
    return (o && (o->flags & HIL_OPT_MULTIPLE)) || (n > 2 && strcmp(key + n - 2, "[]") == 0);
}

HIL_API hil_result hil_config_set(hil_config* c, const char* key, const char* value, int priority,
                                  const char* source) {
    hil__cfg_entry** slot;
    hil__cfg_entry* e;
    uint32_t h;
    hil_result r = HIL_OK;
    if (!c || !key || !*key || !value) return hil_error(HIL_ERR_INVALID_ARG, "config set: empty key or value");
    h = hil__hash(key);
    hil_mutex_lock(&c->mu);
    if ((c->count + 1) * 4 > c->cap * 3 && !hil__cfg_grow(c)) { r = HIL_ERR_NO_MEMORY; goto out; }
    slot = hil__cfg_slot(c, key, h);
    e = *slot;
    if (!e) {
        e = (hil__cfg_entry*)hil__calloc(1, sizeof *e);
        if (!e || !(e->key = hil_strdup(key))) { HIL_FREE(e); r = HIL_ERR_NO_MEMORY; goto out; }
        e->hash = h;
        e->seq = c->next_seq++;
        e->priority = priority;
        e->source = hil_strdup(source ? source : "");
        e->multiple = hil__option_multiple(key);
        *slot = e;
        c->count++;
        if (!hil__cfg_push_value(e, value)) r = HIL_ERR_NO_MEMORY;
    } else if (e->multiple) {
        size_t i;
        int present = 0;
        for (i = 0; i < e->count; i++)
            if (strcmp(e->values[i], value) == 0) present = 1;
        if (!present && !hil__cfg_push_value(e, value)) r = HIL_ERR_NO_MEMORY;
        if (priority > e->priority) {
            e->priority = priority;
            HIL_FREE(e->source);
            e->source = hil_strdup(source ? source : "");
        }
    } else if (priority > e->priority) {
        /* Strictly higher wins: on a tie the value added first stays. */
        hil__cfg_clear_values(e);
        if (!hil__cfg_push_value(e, value)) r = HIL_ERR_NO_MEMORY;
        e->priority = priority;
        HIL_FREE(e->source);
        e->source = hil_strdup(source ? source : "");
    }
    c->gen++;
out:
    hil_mutex_unlock(&c->mu);
    return r == HIL_OK ? HIL_OK : hil_error(r, "config: out of memory setting '%s'", key);
}

HIL_API hil_result hil_config_unset(hil_config* c, const char* key) {
    size_t i, j, mask;
    hil_mutex_lock(&c->mu);
    {
        hil__cfg_entry** slot = hil__cfg_slot(c, key, hil__hash(key));
        if (!*slot) { hil_mutex_unlock(&c->mu); return HIL_ERR_NOT_FOUND; }
        hil__cfg_entry_free(*slot);
        *slot = NULL;
        c->count--;
        /* Re-insert the rest of the probe cluster (linear probing delete). */
        mask = c->cap - 1;
        i = (size_t)(slot - c->slots);
        for (j = (i + 1) & mask; c->slots[j]; j = (j + 1) & mask) {
            hil__cfg_entry* e = c->slots[j];
            c->slots[j] = NULL;
            *hil__cfg_slot(c, e->key, e->hash) = e;
        }
    }
    c->gen++;
    hil_mutex_unlock(&c->mu);
    return HIL_OK;
}

/* ---- expansion: ${key}, ${env:VAR}, ${env:VAR:-default}, pykiso's ENV{VAR=default} */

#define HIL__EXPAND_DEPTH 16

/* One expansion pass (one read of a key, or one check of a value): each
 * referenced key is expanded once and its text kept (memo), so a value that
 * names ${a} many times, each naming ${b} many times, costs one expansion
 * of each and not a product; the result is bounded by
 * HIL_CONFIG_MAX_EXPANDED. The config lock is held for the whole pass. */
typedef struct hil__expand_memo {
    char* name;
    char* text;
    size_t len;
} hil__expand_memo;

typedef struct hil__expand_state {
    const char* stack[HIL__EXPAND_DEPTH];
    size_t depth;
    int error;
    const char* top;          /* the key being read, for messages */
    hil__expand_memo* memo;
    size_t n_memo, cap_memo;
} hil__expand_state;

static void hil__expand_state_init(hil__expand_state* st, const char* top) {
    memset(st, 0, sizeof *st);
    st->top = top;
}

static void hil__expand_state_free(hil__expand_state* st) {
    size_t i;
    for (i = 0; i < st->n_memo; i++) {
        HIL_FREE(st->memo[i].name);
        HIL_FREE(st->memo[i].text);
    }
    HIL_FREE(st->memo);
    st->memo = NULL;
    st->n_memo = st->cap_memo = 0;
}

static const char* hil__cfg_raw_locked(hil_config* c, const char* key) {
    hil__cfg_entry* e = hil__cfg_find(c, key);
    if (e && e->count) return e->values[0];
    {
        const hil_option* o = hil_option_find(key);
        return o ? o->default_value : NULL;
    }
}

static void hil__expand(hil_config* c, const char* key, const char* in, hil_strbuf* out, hil__expand_state* st);

/* Append n bytes, within the limit; past it the pass fails. */
static void hil__expand_put(hil_strbuf* out, const char* s, size_t n, hil__expand_state* st, const char* at) {
    if (st->error) return;
    if (out->len + n > (size_t)HIL_CONFIG_MAX_EXPANDED) {
        hil_error(HIL_ERR_CONFIG,
                  "config: '%s' expands to more than %d bytes (HIL_CONFIG_MAX_EXPANDED) at %s%s%s: "
                  "do its references repeat each other?",
                  st->top ? st->top : "a value", HIL_CONFIG_MAX_EXPANDED, at ? "${" : "the text", at ? at : "",
                  at ? "}" : "");
        st->error = 1;
        return;
    }
    hil_sb_append(out, s, n);
    if (out->failed) {
        hil_error(HIL_ERR_NO_MEMORY, "config: '%s': out of memory expanding it", st->top ? st->top : "a value");
        st->error = 1;
    }
}

static void hil__expand_ref(hil_config* c, const char* ref, size_t len, hil_strbuf* out, hil__expand_state* st) {
    char name[256];
    size_t i;
    if (len >= sizeof name) { st->error = 1; return; }
    memcpy(name, ref, len);
    name[len] = 0;
    if (strncmp(name, "env:", 4) == 0) {
        char* dflt = strstr(name + 4, ":-");
        const char* v;
        if (dflt) *dflt = 0;
        v = getenv(name + 4);
        if (v && *v) hil__expand_put(out, v, strlen(v), st, name);
        else if (dflt) hil__expand(c, NULL, dflt + 2, out, st);
        return;
    }
    for (i = 0; i < st->n_memo; i++)
        if (strcmp(st->memo[i].name, name) == 0) {
            hil__expand_put(out, st->memo[i].text, st->memo[i].len, st, name);
            return;
        }
    for (i = 0; i < st->depth; i++) {
        if (strcmp(st->stack[i], name) == 0) {
            hil_strbuf msg = {0, 0, 0, 0};
            size_t j;
            for (j = i; j < st->depth; j++) hil_sb_printf(&msg, "${%s} -> ", st->stack[j]);
            hil_sb_printf(&msg, "${%s}", name);
            hil_error(HIL_ERR_CONFIG, "config: reference cycle %s", hil_sb_cstr(&msg));
            hil_sb_free(&msg);
            st->error = 1;
            return;
        }
    }
    if (st->depth == HIL__EXPAND_DEPTH) {
        hil_error(HIL_ERR_CONFIG, "config: references nested deeper than %d at ${%s}", HIL__EXPAND_DEPTH, name);
        st->error = 1;
        return;
    }
    {
        const char* v = hil__cfg_raw_locked(c, name);
        hil_strbuf sub = {0, 0, 0, 0};
        hil__expand_memo* m;
        if (!v) {
            hil_error(HIL_ERR_CONFIG, "config: %s%s%s refers to ${%s}, which is not set", st->depth ? "'" : "",
                      st->depth ? st->stack[st->depth - 1] : "a value", st->depth ? "'" : "", name);
            st->error = 1;
            return;
        }
        hil__expand(c, name, v, &sub, st);
        if (!st->error && st->n_memo == st->cap_memo) {
            size_t ncap = st->cap_memo ? st->cap_memo * 2 : 8;
            hil__expand_memo* nm = (hil__expand_memo*)HIL_REALLOC(st->memo, ncap * sizeof *nm);
            if (nm) {
                st->memo = nm;
                st->cap_memo = ncap;
            }
        }
        if (st->error || st->n_memo == st->cap_memo) { /* failed, or no room to remember it: still correct */
            hil__expand_put(out, hil_sb_cstr(&sub), sub.len, st, name);
            hil_sb_free(&sub);
            return;
        }
        m = &st->memo[st->n_memo];
        m->name = hil_strdup(name);
        m->len = sub.len;
        m->text = hil_sb_take(&sub);
        if (!m->name || !m->text) {
            HIL_FREE(m->name);
            HIL_FREE(m->text);
            hil_error(HIL_ERR_NO_MEMORY, "config: '%s': out of memory expanding it", st->top ? st->top : "a value");
            st->error = 1;
            return;
        }
        st->n_memo++;
        hil__expand_put(out, m->text, m->len, st, name);
    }
}

static void hil__expand(hil_config* c, const char* key, const char* in, hil_strbuf* out, hil__expand_state* st) {
    const char* p = in;
    if (key) st->stack[st->depth++] = key;
    while (*p && !st->error) {
        if (p[0] == '$' && p[1] == '$' && p[2] == '{') { hil__expand_put(out, "${", 2, st, NULL); p += 3; continue; }
        if (p[0] == '$' && p[1] == '{') {
            const char* end = strchr(p + 2, '}');
            if (!end) { hil__expand_put(out, p, strlen(p), st, NULL); break; }
            hil__expand_ref(c, p + 2, (size_t)(end - p - 2), out, st);
            p = end + 1;
            continue;
        }
        if (strncmp(p, "ENV{", 4) == 0) {
            const char* end = strchr(p + 4, '}');
            if (end) {
                char spec[256];
                size_t len = (size_t)(end - p - 4);
                char* eq;
                const char* v;
                if (len < sizeof spec) {
                    memcpy(spec, p + 4, len);
                    spec[len] = 0;
                    eq = strchr(spec, '=');
                    if (eq) *eq = 0;
                    v = getenv(spec);
                    if (!(v && *v)) v = eq ? eq + 1 : "";
                    hil__expand_put(out, v, strlen(v), st, NULL);
                    p = end + 1;
                    continue;
                }
            }
        }
        {
            /* plain text up to the next '$' or 'E' in one piece */
            size_t n = 1 + strcspn(p + 1, "$E");
            hil__expand_put(out, p, n, st, NULL);
            p += n;
        }
    }
    if (key) st->depth--;
}

static char* hil__expand_value(hil_config* c, const char* key, const char* raw) {
    hil__expand_state st;
    hil_strbuf sb = {0, 0, 0, 0};
    if (!strchr(raw, '$') && !strstr(raw, "ENV{")) return hil_strdup(raw);
    hil__expand_state_init(&st, key);
    hil__expand(c, key, raw, &sb, &st);
    hil__expand_state_free(&st);
    if (st.error) { hil_sb_free(&sb); return hil_strdup(raw); }
    return hil_sb_take(&sb);
}

static void hil__cfg_refresh(hil_config* c, hil__cfg_entry* e) {
    size_t i;
    if (e->gen == c->gen && e->expanded) return;
    hil__cfg_free_caches(e);
    e->expanded = hil__expand_value(c, e->key, e->count ? e->values[0] : "");
    if (e->count > 1 || e->multiple) {
        e->expanded_list = (char**)hil__calloc(e->count ? e->count : 1, sizeof(char*));
        if (e->expanded_list) {
            for (i = 0; i < e->count; i++) e->expanded_list[i] = hil__expand_value(c, e->key, e->values[i]);
            e->expanded_count = e->count;
        }
    }
    e->gen = c->gen;
}

HIL_API const char* hil_config_get(hil_config* c, const char* key, const char* fallback) {
    hil__cfg_entry* e;
    const char* v = fallback;
    if (!c || !key) return fallback;
    hil_mutex_lock(&c->mu);
    e = hil__cfg_find(c, key);
    if (e && e->count) {
        hil__cfg_refresh(c, e);
        v = e->expanded;
    } else {
        const hil_option* o = hil_option_find(key);
        if (o && o->default_value) v = o->default_value;
    }
    hil_mutex_unlock(&c->mu);
    return v;
}

HIL_API int hil_config_has(hil_config* c, const char* key) {
    int has;
    hil_mutex_lock(&c->mu);
    has = hil__cfg_find(c, key) != NULL;
    hil_mutex_unlock(&c->mu);
    return has;
}

HIL_API int hil_config_lookup(hil_config* c, const char* key, hil_config_value* out) {
    hil__cfg_entry* e;
    int found = 0;
    memset(out, 0, sizeof *out);
    hil_mutex_lock(&c->mu);
    e = hil__cfg_find(c, key);
    if (e) {
        hil__cfg_refresh(c, e);
        out->value = e->expanded;
        out->values = (const char* const*)e->values;
        out->count = e->count;
        out->priority = e->priority;
        out->source = e->source;
        found = 1;
    }
    hil_mutex_unlock(&c->mu);
    return found;
}

static const char* hil__cfg_source(hil_config* c, const char* key) {
    hil__cfg_entry* e;
    const char* s = "default";
    hil_mutex_lock(&c->mu);
    e = hil__cfg_find(c, key);
    if (e) s = e->source;
    hil_mutex_unlock(&c->mu);
    return s;
}

static int hil__parse_bool(const char* v, int* out) {
    static const char* const yes[] = {"1", "true", "yes", "on", "y"};
    static const char* const no[] = {"0", "false", "no", "off", "n", ""};
    size_t i;
    for (i = 0; i < HIL__COUNTOF(yes); i++)
        if (strcasecmp(v, yes[i]) == 0) { *out = 1; return 1; }
    for (i = 0; i < HIL__COUNTOF(no); i++)
        if (strcasecmp(v, no[i]) == 0) { *out = 0; return 1; }
    return 0;
}

static int hil__parse_int(const char* v, long long* out) {
    char* end;
    errno = 0;
    *out = strtoll(v, &end, 0);
    while (end && isspace((unsigned char)*end)) end++;
    return errno == 0 && end != v && *end == 0;
}

static int hil__parse_float(const char* v, double* out) {
    char* end;
    *out = strtod(v, &end);
    while (end && isspace((unsigned char)*end)) end++;
    return end != v && *end == 0;
}

HIL_API hil_result hil_config_get_int_ex(hil_config* c, const char* key, long long* out) {
    const char* v = hil_config_get(c, key, NULL);
    if (!v) return hil_error(HIL_ERR_NOT_FOUND, "config: '%s' is not set", key);
    if (!hil__parse_int(v, out))
        return hil_error(HIL_ERR_CONFIG, "%s: %s: expected an integer, got '%s'", hil__cfg_source(c, key), key, v);
    return HIL_OK;
}

HIL_API hil_result hil_config_get_float_ex(hil_config* c, const char* key, double* out) {
    const char* v = hil_config_get(c, key, NULL);
    if (!v) return hil_error(HIL_ERR_NOT_FOUND, "config: '%s' is not set", key);
    if (!hil__parse_float(v, out))
        return hil_error(HIL_ERR_CONFIG, "%s: %s: expected a number, got '%s'", hil__cfg_source(c, key), key, v);
    return HIL_OK;
}

HIL_API hil_result hil_config_get_bool_ex(hil_config* c, const char* key, int* out) {
    const char* v = hil_config_get(c, key, NULL);
    if (!v) return hil_error(HIL_ERR_NOT_FOUND, "config: '%s' is not set", key);
    if (!hil__parse_bool(v, out))
        return hil_error(HIL_ERR_CONFIG, "%s: %s: expected true or false, got '%s'", hil__cfg_source(c, key), key,
                         v);
    return HIL_OK;
}

HIL_API long long hil_config_get_int(hil_config* c, const char* key, long long fallback) {
    long long v;
    return hil_config_get_int_ex(c, key, &v) == HIL_OK ? v : fallback;
}

HIL_API double hil_config_get_float(hil_config* c, const char* key, double fallback) {
    double v;
    return hil_config_get_float_ex(c, key, &v) == HIL_OK ? v : fallback;
}

HIL_API int hil_config_get_bool(hil_config* c, const char* key, int fallback) {
    int v;
    return hil_config_get_bool_ex(c, key, &v) == HIL_OK ? v : fallback;
}

HIL_API size_t hil_config_get_list(hil_config* c, const char* key, const char** out, size_t max) {
    hil__cfg_entry* e;
    size_t n = 0, i;
    hil_mutex_lock(&c->mu);
    e = hil__cfg_find(c, key);
    if (e) {
        hil__cfg_refresh(c, e);
        n = e->count;
        for (i = 0; i < n && i < max; i++)
            out[i] = e->expanded_list ? e->expanded_list[i] : e->expanded;
    }
    hil_mutex_unlock(&c->mu);
    return n;
}

typedef struct hil__cfg_ent {
    const char* name;  /* interned */
    unsigned long seq; /* the smallest seq of the entity's keys */
} hil__cfg_ent;

static int hil__cmp_ent_name(const void* a, const void* b) {
    return strcmp(((const hil__cfg_ent*)a)->name, ((const hil__cfg_ent*)b)->name);
}

static int hil__cmp_ent_seq(const void* a, const void* b) {
    unsigned long x = ((const hil__cfg_ent*)a)->seq, y = ((const hil__cfg_ent*)b)->seq;
    return x < y ? -1 : x > y;
}

/* The entity names under ns, sorted by name or by declaration. The names
   are interned for the config's lifetime (entities are few), so callers may
   keep the pointers without freeing them. */
static size_t hil__config_entities(hil_config* c, const char* ns, const char** out, size_t max, int declared) {
    size_t nslen = strlen(ns), i, n = 0, cap = 0, j;
    hil__cfg_ent* list = NULL;
    hil_mutex_lock(&c->mu);
    for (i = 0; i < c->cap; i++) {
        hil__cfg_entry* e = c->slots[i];
        const char* name;
        const char* s = NULL;
        size_t len, k;
        int dup = 0;
        if (!e || strncmp(e->key, ns, nslen) != 0 || e->key[nslen] != '.') continue;
        name = e->key + nslen + 1;
        len = strcspn(name, ".");
        if (name[len] != '.') continue; /* "ns.name" alone is not an entity */
        for (j = 0; j < n; j++)
            if (strlen(list[j].name) == len && strncmp(list[j].name, name, len) == 0) {
                if (e->seq < list[j].seq) list[j].seq = e->seq;
                dup = 1;
            }
        if (dup) continue;
        for (k = 0; k < c->n_names; k++)
            if (strlen(c->names[k]) == len && strncmp(c->names[k], name, len) == 0) s = c->names[k];
        if (!s) {
            char** p = (char**)HIL_REALLOC(c->names, (c->n_names + 1) * sizeof *p);
            if (!p) continue;
            c->names = p;
            s = c->names[c->n_names] = hil_strndup(name, len);
            if (!s) continue;
            c->n_names++;
        }
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            hil__cfg_ent* l = (hil__cfg_ent*)HIL_REALLOC(list, ncap * sizeof *l);
            if (!l) continue;
            list = l;
            cap = ncap;
        }
        list[n].name = s;
        list[n].seq = e->seq;
        n++;
    }
    hil_mutex_unlock(&c->mu);
    if (n) qsort(list, n, sizeof *list, declared ? hil__cmp_ent_seq : hil__cmp_ent_name);
    for (i = 0; i < n && i < max; i++) out[i] = list[i].name;
    HIL_FREE(list);
    return n;
}

HIL_API size_t hil_config_entities(hil_config* c, const char* ns, const char** out, size_t max) {
    return hil__config_entities(c, ns, out, max, 0);
}

HIL_API size_t hil_config_entities_declared(hil_config* c, const char* ns, const char** out, size_t max) {
    return hil__config_entities(c, ns, out, max, 1);
}

static int hil__cmp_cfg_entry(const void* a, const void* b) {
    return strcmp((*(hil__cfg_entry* const*)a)->key, (*(hil__cfg_entry* const*)b)->key);
}

HIL_API void hil_config_foreach(hil_config* c, hil_config_visit_fn fn, void* user) {
    hil__cfg_entry** list;
    size_t i, n = 0;
    hil_mutex_lock(&c->mu);
    list = (hil__cfg_entry**)hil__calloc(c->count ? c->count : 1, sizeof *list);
    for (i = 0; list && i < c->cap; i++)
        if (c->slots[i]) list[n++] = c->slots[i];
    hil_mutex_unlock(&c->mu);
    if (!list) return;
    qsort(list, n, sizeof *list, hil__cmp_cfg_entry);
    for (i = 0; i < n; i++) {
        hil_config_value v;
        if (hil_config_lookup(c, list[i]->key, &v)) fn(list[i]->key, &v, user);
    }
    HIL_FREE(list);
}

/* ---- key = value files ------------------------------------------------- */

static hil_result hil__kv_unquote(const char* v, size_t len, hil_strbuf* out, const char* where) {
    size_t i;
    char q = v[0];
    if (len < 2 || v[len - 1] != q)
        return hil_error(HIL_ERR_CONFIG, "%s: unterminated quoted value (add the closing %c)", where, q);
    for (i = 1; i + 1 < len; i++) {
        char ch = v[i];
        if (q == '"' && ch == '\\' && i + 2 < len) {
            ch = v[++i];
            switch (ch) {
            case 'n': ch = '\n'; break;
            case 't': ch = '\t'; break;
            case 'r': ch = '\r'; break;
            case '0': ch = 0; break;
            default: break;
            }
        }
        hil_sb_putc(out, ch);
    }
    return HIL_OK;
}

HIL_API hil_result hil_config_load_kv(hil_config* c, const char* text, const char* name, int priority) {
    const char* p = text;
    int lineno = 0;
    char section[256] = "";
    while (*p) {
        const char* line = p;
        size_t len = strcspn(p, "\n"), klen, vlen;
        const char *k, *eq, *v, *end;
        char key[512], where[600];
        int append = 0;
        hil_strbuf val = {0, 0, 0, 0};
        hil_result r;
        p += len + (p[len] == '\n');
        lineno++;
        end = line + len;
        while (end > line && (end[-1] == '\r' || isspace((unsigned char)end[-1]))) end--;
        k = line;
        while (k < end && isspace((unsigned char)*k)) k++;
        if (k == end || *k == '#' || *k == ';') continue;
        if (*k == '[') {
            const char* close = (const char*)memchr(k, ']', (size_t)(end - k));
            size_t slen;
            if (!close)
                return hil_error(HIL_ERR_CONFIG, "%s:%d:%d: section header without ']'", name, lineno,
                                 (int)(k - line) + 1);
            slen = (size_t)(close - k - 1);
            if (slen >= sizeof section) return hil_error(HIL_ERR_CONFIG, "%s:%d: section name too long", name, lineno);
            memcpy(section, k + 1, slen);
            section[slen] = 0;
            continue;
        }
        eq = (const char*)memchr(k, '=', (size_t)(end - k));
        if (!eq)
            return hil_error(HIL_ERR_CONFIG, "%s:%d:%d: expected 'key = value', got '%.*s'", name, lineno,
                             (int)(k - line) + 1, (int)(end - k), k);
        klen = (size_t)(eq - k);
        if (klen && eq[-1] == '+') { append = 1; klen--; }
        while (klen && isspace((unsigned char)k[klen - 1])) klen--;
        if (klen == 0) return hil_error(HIL_ERR_CONFIG, "%s:%d:%d: missing key before '='", name, lineno, (int)(k - line) + 1);
        if (snprintf(key, sizeof key, "%s%s%.*s", section, section[0] ? "." : "", (int)klen, k) >= (int)sizeof key)
            return hil_error(HIL_ERR_CONFIG, "%s:%d: key too long", name, lineno);
        v = eq + 1;
        while (v < end && isspace((unsigned char)*v)) v++;
        vlen = (size_t)(end - v);
        hil__sfmt(where, sizeof where, "%s:%d:%d", name, lineno, (int)(v - line) + 1);
        if (vlen && (*v == '"' || *v == '\'')) {
            r = hil__kv_unquote(v, vlen, &val, where);
            if (r != HIL_OK) return r;
        } else {
            /* an unquoted value ends at " #" */
            const char* hash = v;
            while ((hash = (const char*)memchr(hash, '#', (size_t)(end - hash))) != NULL) {
                if (hash > v && isspace((unsigned char)hash[-1])) { vlen = (size_t)(hash - v); break; }
                hash++;
            }
            while (vlen && isspace((unsigned char)v[vlen - 1])) vlen--;
            hil_sb_append(&val, v, vlen);
        }
        (void)append; /* "+=" reads naturally for lists; multiple options accumulate anyway */
        r = hil_config_set(c, key, hil_sb_cstr(&val), priority, where);
        hil_sb_free(&val);
        if (r != HIL_OK) return r;
    }
    return HIL_OK;
}

/* Configuration files are read whole, under no lock but into memory: a
 * device (/dev/zero) would never end, a FIFO nobody writes would block
 * open() for ever, and a huge file would fill memory. regular_only is for
 * !include; the file on the command line may be a pipe (-c <(make-lab)).
 * Either way at most HIL_CONFIG_MAX_FILE bytes. */
static hil_result hil__config_read(const char* path, int regular_only, char** out, size_t* len) {
    hil_strbuf sb = {0, 0, 0, 0};
    struct stat st;
    /* O_NONBLOCK: opening a FIFO without a writer returns at once */
    int fd = open(path, O_RDONLY | O_CLOEXEC | (regular_only ? O_NONBLOCK : 0));
    if (fd < 0)
        return hil_error(errno == ENOENT ? HIL_ERR_NOT_FOUND : HIL_ERR_IO, "cannot read '%s': %s", path,
                         strerror(errno));
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return hil_error(HIL_ERR_IO, "cannot read '%s': %s", path, strerror(e));
    }
    if (regular_only && !S_ISREG(st.st_mode)) {
        close(fd);
        return hil_error(HIL_ERR_CONFIG, "'%s' is not a regular file (a %s): only files can be included", path,
                         S_ISDIR(st.st_mode) ? "directory" : S_ISFIFO(st.st_mode) ? "FIFO" : "device or socket");
    }
    for (;;) {
        ssize_t n;
        if (sb.len > (size_t)HIL_CONFIG_MAX_FILE) {
            close(fd);
            hil_sb_free(&sb);
            return hil_error(HIL_ERR_CONFIG,
                             "'%s' is larger than %d MiB (HIL_CONFIG_MAX_FILE): is it the configuration file?", path,
                             HIL_CONFIG_MAX_FILE >> 20);
        }
        if (!hil__sb_reserve(&sb, 65536)) break;
        n = read(fd, sb.data + sb.len, 65536);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            int e = errno;
            close(fd);
            hil_sb_free(&sb);
            return hil_error(HIL_ERR_IO, "cannot read '%s': %s", path, strerror(e));
        }
        if (n == 0) break;
        sb.len += (size_t)n;
        sb.data[sb.len] = 0;
    }
    close(fd);
    if (sb.failed) {
        hil_sb_free(&sb);
        return hil_error(HIL_ERR_NO_MEMORY, "reading '%s': out of memory", path);
    }
    if (len) *len = sb.len;
    *out = sb.data ? hil_sb_take(&sb) : hil_strdup("");
    return *out ? HIL_OK : hil_error(HIL_ERR_NO_MEMORY, "reading '%s': out of memory", path);
}

/* ---- YAML files (libyaml) ------------------------------------------------ */

#ifdef HIL_HAVE_LIBYAML
#include <yaml.h>

#define HIL__YAML_KEY_MAX 1024
#define HIL__YAML_SCRATCH 4400

/* Nesting recurses (hil__yaml_node -> _mapping/_sequence -> _node), so the
 * frames on that path hold no buffers: the key being built is one buffer
 * for every level (each level appends to its parent's prefix), and what
 * !include and messages need is allocated or lives in leaf functions. */
typedef struct hil__yaml_ctx {
    hil_config* cfg;
    const char* name;   /* file name for messages */
    const char* dir;    /* directory for !include */
    int priority;
    int depth_includes;
    int depth;          /* open mappings and sequences, includes too */
    char* key;          /* HIL__YAML_KEY_MAX bytes: the key so far */
    char* scratch;      /* HIL__YAML_SCRATCH bytes for the leaf functions' text */
} hil__yaml_ctx;

static hil_result hil__yaml_load_text(hil__yaml_ctx* y, const char* text, size_t len, size_t prefix);

/* pykiso nests an entity's options under "config:" (connectors.chan.config.
 * baudrate); hil keys do not (connectors.chan.baudrate). A "config" key is
 * dropped where the prefix is an entity: some option is "<ns>.*.<x>". */
static int hil__is_entity_prefix(const char* prefix) {
    const char* dot = strrchr(prefix, '.');
    size_t nslen;
    hil_option* o;
    if (!dot) return 0;
    nslen = (size_t)(dot - prefix);
    for (o = hil__options_head; o; o = o->next)
        if (strncmp(o->key, prefix, nslen) == 0 && strncmp(o->key + nslen, ".*.", 3) == 0) return 1;
    return 0;
}

static hil_result hil__yaml_error(hil__yaml_ctx* y, const yaml_mark_t* m, const char* what) {
    return hil_error(HIL_ERR_CONFIG, "%s:%lu:%lu: %s", y->name, (unsigned long)m->line + 1,
                     (unsigned long)m->column + 1, what);
}

/* y->key[0..prefix) is the parent's key; append k (".k" under a prefix) and
 * NUL-terminate; *len is the new key's length. */
static hil_result hil__yaml_key(hil__yaml_ctx* y, size_t prefix, const char* k, size_t* len, const yaml_mark_t* m) {
    size_t n = strlen(k) + (prefix ? 1 : 0);
    y->key[prefix] = 0;
    if (strcmp(k, "config") == 0 && prefix && hil__is_entity_prefix(y->key)) {
        *len = prefix;
        return HIL_OK;
    }
    if (prefix + n >= HIL__YAML_KEY_MAX) {
        hil__sfmt(y->scratch, HIL__YAML_SCRATCH, "the key '%.40s...' is longer than %d characters", y->key,
                  HIL__YAML_KEY_MAX - 1);
        return hil__yaml_error(y, m, y->scratch);
    }
    if (prefix) y->key[prefix] = '.';
    memcpy(y->key + prefix + (prefix ? 1 : 0), k, n - (prefix ? 1 : 0) + 1);
    *len = prefix + n;
    return HIL_OK;
}

/* What an !include needs, on the heap: it runs at the deepest level. */
typedef struct hil__yaml_inc {
    char path[4096], dir[4096], msg[4400];
    hil__yaml_ctx sub;
} hil__yaml_inc;

static hil_result hil__yaml_include(hil__yaml_ctx* y, const char* file, size_t prefix, const yaml_mark_t* m) {
    hil__yaml_inc* b;
    char* text;
    char* slash;
    size_t len;
    hil_result r;
    if (y->depth_includes > 8) return hil__yaml_error(y, m, "!include nested more than 8 deep (a cycle?)");
    b = (hil__yaml_inc*)HIL_MALLOC(sizeof *b);
    if (!b) return hil_error(HIL_ERR_NO_MEMORY, "%s: !include %s: out of memory", y->name, file);
    if (file[0] == '/') hil__sfmt(b->path, sizeof b->path, "%s", file);
    else hil__sfmt(b->path, sizeof b->path, "%s/%s", y->dir, file);
    if (hil__config_read(b->path, 1, &text, &len) != HIL_OK) {
        hil__sfmt(b->msg, sizeof b->msg, "!include %s: %s", file, hil_last_error());
        r = hil__yaml_error(y, m, b->msg);
        HIL_FREE(b);
        return r;
    }
    hil__sfmt(b->dir, sizeof b->dir, "%s", b->path);
    slash = strrchr(b->dir, '/');
    if (slash) *slash = 0;
    else hil__sfmt(b->dir, sizeof b->dir, ".");
    b->sub = *y;
    b->sub.name = b->path;
    b->sub.dir = b->dir;
    b->sub.depth_includes++;
    r = hil__yaml_load_text(&b->sub, text, len, prefix);
    HIL_FREE(text);
    HIL_FREE(b);
    return r;
}

static int hil__yaml_is_include(const yaml_event_t* ev) {
    return ev->data.scalar.tag && strcmp((const char*)ev->data.scalar.tag, "!include") == 0;
}

/* Parse one node whose first event is ev, storing scalars under y->key
 * (len bytes). */
static hil_result hil__yaml_node(hil__yaml_ctx* y, yaml_parser_t* p, yaml_event_t* ev, size_t len);

static hil_result hil__yaml_set(hil__yaml_ctx* y, const char* value, const yaml_mark_t* m) {
    hil__sfmt(y->scratch, HIL__YAML_SCRATCH, "%s:%lu:%lu", y->name, (unsigned long)m->line + 1,
              (unsigned long)m->column + 1);
    if (!y->key[0]) return hil__yaml_error(y, m, "a value at the top level (expected a mapping of keys)");
    return hil_config_set(y->cfg, y->key, value, y->priority, y->scratch);
}

static hil_result hil__yaml_next(hil__yaml_ctx* y, yaml_parser_t* p, yaml_event_t* ev) {
    if (!yaml_parser_parse(p, ev)) {
        hil__sfmt(y->scratch, HIL__YAML_SCRATCH, "YAML syntax error: %s%s%s", p->problem ? p->problem : "unknown",
                  p->context ? " " : "", p->context ? p->context : "");
        return hil__yaml_error(y, &p->problem_mark, y->scratch);
    }
    return HIL_OK;
}

/* A mapping or sequence opens: one level deeper, within the limit. */
static hil_result hil__yaml_enter(hil__yaml_ctx* y, const yaml_mark_t* m) {
    if (y->depth < HIL_CONFIG_MAX_NESTING) {
        y->depth++;
        return HIL_OK;
    }
    hil__sfmt(y->scratch, HIL__YAML_SCRATCH,
              "mappings and lists nested deeper than %d levels (HIL_CONFIG_MAX_NESTING): flatten the file",
              HIL_CONFIG_MAX_NESTING);
    return hil__yaml_error(y, m, y->scratch);
}

static hil_result hil__yaml_mapping(hil__yaml_ctx* y, yaml_parser_t* p, size_t prefix) {
    for (;;) {
        yaml_event_t kev, vev;
        size_t len = 0;
        hil_result r = hil__yaml_next(y, p, &kev);
        if (r != HIL_OK) return r;
        if (kev.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete(&kev);
            y->depth--;
            return HIL_OK;
        }
        if (kev.type != YAML_SCALAR_EVENT) {
            r = hil__yaml_error(y, &kev.start_mark, "mapping keys must be plain scalars");
            yaml_event_delete(&kev);
            return r;
        }
        if (strcmp((const char*)kev.data.scalar.value, "<<") == 0 && hil__yaml_next(y, p, &vev) == HIL_OK) {
            r = hil__yaml_error(y, &kev.start_mark, "merge keys (<<) are not supported");
            yaml_event_delete(&vev);
            yaml_event_delete(&kev);
            return r;
        }
        r = hil__yaml_key(y, prefix, (const char*)kev.data.scalar.value, &len, &kev.start_mark);
        yaml_event_delete(&kev);
        if (r != HIL_OK) return r;
        r = hil__yaml_next(y, p, &vev);
        if (r != HIL_OK) return r;
        r = hil__yaml_node(y, p, &vev, len);
        if (r != HIL_OK) return r;
    }
}

/* The ".N" key of a sequence's N-th item that is not a plain scalar. */
static hil_result hil__yaml_index_key(hil__yaml_ctx* y, size_t prefix, int index, size_t* len,
                                      const yaml_mark_t* m) {
    char k[16];
    hil__sfmt(k, sizeof k, "%d", index);
    return hil__yaml_key(y, prefix, k, len, m);
}

static hil_result hil__yaml_sequence(hil__yaml_ctx* y, yaml_parser_t* p, size_t prefix) {
    int index = 0;
    for (;;) {
        yaml_event_t ev;
        size_t len = 0;
        hil_result r = hil__yaml_next(y, p, &ev);
        if (r != HIL_OK) return r;
        if (ev.type == YAML_SEQUENCE_END_EVENT) {
            yaml_event_delete(&ev);
            y->depth--;
            return HIL_OK;
        }
        if (ev.type == YAML_SCALAR_EVENT && !hil__yaml_is_include(&ev)) {
            /* a list of scalars: the values of a `multiple` option */
            y->key[prefix] = 0;
            r = hil__yaml_set(y, (const char*)ev.data.scalar.value, &ev.start_mark);
            yaml_event_delete(&ev);
        } else {
            r = hil__yaml_index_key(y, prefix, index, &len, &ev.start_mark);
            if (r == HIL_OK) r = hil__yaml_node(y, p, &ev, len);
            else yaml_event_delete(&ev);
        }
        index++;
        if (r != HIL_OK) return r;
    }
}

static hil_result hil__yaml_node(hil__yaml_ctx* y, yaml_parser_t* p, yaml_event_t* ev, size_t len) {
    hil_result r;
    y->key[len] = 0;
    switch (ev->type) {
    case YAML_SCALAR_EVENT:
        if (hil__yaml_is_include(ev))
            r = hil__yaml_include(y, (const char*)ev->data.scalar.value, len, &ev->start_mark);
        else if (ev->data.scalar.length == 0 && ev->data.scalar.plain_implicit)
            r = HIL_OK; /* "key:" with nothing: an empty mapping, not a value */
        else
            r = hil__yaml_set(y, (const char*)ev->data.scalar.value, &ev->start_mark);
        yaml_event_delete(ev);
        return r;
    case YAML_MAPPING_START_EVENT:
        r = hil__yaml_enter(y, &ev->start_mark);
        yaml_event_delete(ev);
        return r == HIL_OK ? hil__yaml_mapping(y, p, len) : r;
    case YAML_SEQUENCE_START_EVENT:
        r = hil__yaml_enter(y, &ev->start_mark);
        yaml_event_delete(ev);
        return r == HIL_OK ? hil__yaml_sequence(y, p, len) : r;
    case YAML_ALIAS_EVENT:
        r = hil__yaml_error(y, &ev->start_mark, "aliases (*name) are not supported; repeat the value");
        yaml_event_delete(ev);
        return r;
    default:
        r = hil__yaml_error(y, &ev->start_mark, "unexpected YAML event");
        yaml_event_delete(ev);
        return r;
    }
}

/* The document's mapping goes under y->key[0..prefix) (an !include's key). */
static hil_result hil__yaml_load_text(hil__yaml_ctx* y, const char* text, size_t len, size_t prefix) {
    yaml_parser_t p;
    hil_result r = HIL_OK;
    int done = 0;
    if (!yaml_parser_initialize(&p)) return hil_error(HIL_ERR_NO_MEMORY, "%s: cannot start the YAML parser", y->name);
    yaml_parser_set_input_string(&p, (const unsigned char*)text, len);
    while (!done && r == HIL_OK) {
        yaml_event_t ev;
        r = hil__yaml_next(y, &p, &ev);
        if (r != HIL_OK) break;
        switch (ev.type) {
        case YAML_STREAM_END_EVENT: done = 1; yaml_event_delete(&ev); break;
        case YAML_STREAM_START_EVENT:
        case YAML_DOCUMENT_START_EVENT:
        case YAML_DOCUMENT_END_EVENT: yaml_event_delete(&ev); break;
        case YAML_MAPPING_START_EVENT:
            r = hil__yaml_enter(y, &ev.start_mark);
            yaml_event_delete(&ev);
            if (r == HIL_OK) r = hil__yaml_mapping(y, &p, prefix);
            break;
        case YAML_SCALAR_EVENT:
            if (ev.data.scalar.length == 0) { yaml_event_delete(&ev); break; } /* empty document */
            /* fall through */
        default:
            r = hil__yaml_error(y, &ev.start_mark, "the document must be a mapping of keys (key: value)");
            yaml_event_delete(&ev);
            break;
        }
    }
    yaml_parser_delete(&p);
    return r;
}

static hil_result hil__yaml_load(hil_config* c, const char* text, size_t len, const char* name, const char* dir,
                                 int priority) {
    hil__yaml_ctx y;
    hil_result r;
    memset(&y, 0, sizeof y);
    y.cfg = c;
    y.name = name;
    y.dir = dir;
    y.priority = priority;
    y.key = (char*)HIL_MALLOC(HIL__YAML_KEY_MAX + HIL__YAML_SCRATCH);
    if (!y.key) return hil_error(HIL_ERR_NO_MEMORY, "%s: out of memory", name);
    y.key[0] = 0;
    y.scratch = y.key + HIL__YAML_KEY_MAX;
    r = hil__yaml_load_text(&y, text, len, 0);
    HIL_FREE(y.key);
    return r;
}

HIL_API hil_result hil_config_load_yaml(hil_config* c, const char* text, const char* name, int priority) {
    return hil__yaml_load(c, text, strlen(text), name, ".", priority);
}

static hil_result hil__config_load_yaml_file(hil_config* c, const char* path, const char* text, size_t len,
                                             int priority) {
    char dir[4096];
    char* slash;
    hil__sfmt(dir, sizeof dir, "%s", path);
    slash = strrchr(dir, '/');
    if (slash) *slash = 0;
    else hil__sfmt(dir, sizeof dir, ".");
    return hil__yaml_load(c, text, len, path, dir, priority);
}
#else
HIL_API hil_result hil_config_load_yaml(hil_config* c, const char* text, const char* name, int priority) {
    (void)c;
    (void)text;
    (void)priority;
    return hil_error(HIL_ERR_MISSING_LIBRARY,
                     "%s: YAML needs libyaml: install it (apt-get install libyaml-dev) and build with "
                     "-DHIL_HAVE_LIBYAML -lyaml, or write the file as 'key = value' lines",
                     name);
}
#endif

static int hil__has_suffix(const char* s, const char* suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

HIL_API hil_result hil_config_load_file(hil_config* c, const char* path, int priority) {
    char* text;
    size_t len;
    hil_result r = hil__config_read(path, 0, &text, &len);
    if (r != HIL_OK) return hil_error(HIL_ERR_CONFIG, "config file: %s", hil_last_error());
    if (hil__has_suffix(path, ".yaml") || hil__has_suffix(path, ".yml")) {
#ifdef HIL_HAVE_LIBYAML
        r = hil__config_load_yaml_file(c, path, text, len, priority);
#else
        r = hil_config_load_yaml(c, text, path, priority);
#endif
    } else {
        r = hil_config_load_kv(c, text, path, priority);
    }
    HIL_FREE(text);
    return r;
}

/* ---- validation -------------------------------------------------------- */

static const char* hil__opt_type_str(hil_opt_type t) {
    switch (t) {
    case HIL_OPT_STRING: return "string";
    case HIL_OPT_INT: return "integer";
    case HIL_OPT_FLOAT: return "number";
    case HIL_OPT_BOOL: return "bool";
    case HIL_OPT_CHOICE: return "choice";
    case HIL_OPT_PATH: return "path";
    case HIL_OPT_FLAG: return "flag";
    case HIL_OPT_COUNT: return "count";
    }
    return "?";
}

HIL_API hil_result hil_option_check_value(const hil_option* o, const char* key, const char* v, const char* source) {
    long long i;
    double d;
    int b;
    const char* src = source && *source ? source : "config";
    switch (o->type) {
    case HIL_OPT_INT:
    case HIL_OPT_COUNT:
        if (!hil__parse_int(v, &i))
            return hil_error(HIL_ERR_CONFIG, "%s: %s: expected an integer, got '%s'", src, key, v);
        break;
    case HIL_OPT_FLOAT:
        if (!hil__parse_float(v, &d))
            return hil_error(HIL_ERR_CONFIG, "%s: %s: expected a number, got '%s'", src, key, v);
        break;
    case HIL_OPT_BOOL:
    case HIL_OPT_FLAG:
        if (!hil__parse_bool(v, &b))
            return hil_error(HIL_ERR_CONFIG, "%s: %s: expected true or false, got '%s'", src, key, v);
        break;
    case HIL_OPT_CHOICE: {
        char item[128];
        const char* p = o->choices ? o->choices : "";
        int ok = 0;
        while (*p) {
            size_t len = strcspn(p, "|");
            if (len < sizeof item) {
                memcpy(item, p, len);
                item[len] = 0;
                if (strcmp(item, v) == 0) ok = 1;
            }
            p += len + (p[len] == '|');
        }
        if (!ok)
            return hil_error(HIL_ERR_CONFIG, "%s: %s: '%s' is not allowed; expected one of %s", src, key, v,
                             o->choices ? o->choices : "(none)");
        break;
    }
    default: break;
    }
    return HIL_OK;
}

/* Split a dotted key into at most max segments; returns the count. */
static size_t hil__segments(const char* key, const char** seg, size_t* len, size_t max) {
    size_t n = 0;
    while (*key && n < max) {
        size_t l = strcspn(key, ".");
        seg[n] = key;
        len[n++] = l;
        key += l + (key[l] == '.');
    }
    return n;
}

/* The closest declared key to an unknown one, with entity names filled in
 * from the unknown key where the option's key has '*'. */
static void hil__suggest_key(const char* key, char* out, size_t size) {
    hil_option* o;
    const char* kseg[32];
    size_t klen[32], nk = hil__segments(key, kseg, klen, 32), best = 4;
    out[0] = 0;
    for (o = hil__options_head; o; o = o->next) {
        const char* pseg[32];
        size_t plen[32], np = hil__segments(o->key, pseg, plen, 32), i, d;
        hil_strbuf cand = {0, 0, 0, 0};
        if (strchr(o->key, '*') && np != nk) continue;
        for (i = 0; i < np; i++) {
            if (i) hil_sb_putc(&cand, '.');
            if (plen[i] == 1 && pseg[i][0] == '*') hil_sb_append(&cand, kseg[i], klen[i]);
            else hil_sb_append(&cand, pseg[i], plen[i]);
        }
        d = hil_edit_distance(key, hil_sb_cstr(&cand), best);
        if (d < best) {
            best = d;
            hil__sfmt(out, size, "%s", hil_sb_cstr(&cand));
        }
        hil_sb_free(&cand);
    }
}

typedef struct hil__validate_state { hil_config* cfg; hil_result r; hil_strbuf msgs; int n; } hil__validate_state;

static void hil__validate_one(const char* key, const hil_config_value* v, void* user) {
    hil__validate_state* st = (hil__validate_state*)user;
    const hil_option* o = hil_option_find(key);
    size_t i;
    if (v->priority == HIL_PRIO_DEFAULT) return;
    if (!o) {
        char sug[512];
        hil__suggest_key(key, sug, sizeof sug);
        hil_sb_printf(&st->msgs, "%s%s: unknown key '%s'%s%s%s", st->n++ ? "\n" : "", v->source, key,
                      sug[0] ? "; did you mean '" : " (see the 'config' command for every key)", sug,
                      sug[0] ? "'?" : "");
        st->r = HIL_ERR_CONFIG;
        return;
    }
    for (i = 0; i < v->count; i++) {
        const char* val = v->values[i];
        char* exp = NULL;
        if (strchr(val, '$') || strstr(val, "ENV{")) {
            hil__expand_state es;
            hil_strbuf sb = {0, 0, 0, 0};
            hil__expand_state_init(&es, key);
            hil_mutex_lock(&st->cfg->mu);
            hil__expand(st->cfg, key, val, &sb, &es);
            hil_mutex_unlock(&st->cfg->mu);
            hil__expand_state_free(&es);
            if (es.error) {
                hil_sb_printf(&st->msgs, "%s%s: %s: %s", st->n++ ? "\n" : "", v->source, key, hil_last_error());
                st->r = HIL_ERR_CONFIG;
                hil_sb_free(&sb);
                return;
            }
            exp = hil_sb_take(&sb);
            val = exp;
        }
        if (hil_option_check_value(o, key, val, v->source) != HIL_OK) {
            hil_sb_printf(&st->msgs, "%s%s", st->n++ ? "\n" : "", hil_last_error());
            st->r = HIL_ERR_CONFIG;
        }
        HIL_FREE(exp);
    }
}

HIL_API hil_result hil_config_validate(hil_config* c) {
    hil__validate_state st;
    st.cfg = c;
    st.r = HIL_OK;
    st.n = 0;
    memset(&st.msgs, 0, sizeof st.msgs);
    hil_config_foreach(c, hil__validate_one, &st);
    if (st.r != HIL_OK) hil_error(st.r, "%s", hil_sb_cstr(&st.msgs));
    hil_sb_free(&st.msgs);
    return st.r;
}

static void hil__env_name(const char* key, char* out, size_t size) {
    size_t i, n = 0;
    n = (size_t)snprintf(out, size, "HIL_");
    for (i = 0; key[i] && n + 1 < size; i++)
        out[n++] = isalnum((unsigned char)key[i]) ? (char)toupper((unsigned char)key[i]) : '_';
    out[n] = 0;
}

static int hil__option_owner_enabled(const hil_option* o, hil_config* c);

HIL_API hil_result hil_config_check_required(hil_config* c) {
    hil_option* o;
    hil_strbuf msgs = {0, 0, 0, 0};
    int n = 0;
    for (o = hil__options_head; o; o = o->next) {
        char env[300];
        if (!(o->flags & HIL_OPT_REQUIRED) || strchr(o->key, '*')) continue;
        if (!hil__option_owner_enabled(o, c)) continue; /* a disabled extension needs nothing */
        if (hil_config_has(c, o->key) || o->default_value) continue;
        hil__env_name(o->key, env, sizeof env);
        hil_sb_printf(&msgs, "%smissing required option '%s' (%s): set it in a config file ('%s = ...'), with the "
                             "environment variable %s, or on the command line with --set %s=...",
                      n++ ? "\n" : "", o->key, o->help ? o->help : "no description", o->key, env, o->key);
        if (o->cli) hil_sb_printf(&msgs, " or %s", o->cli);
    }
    if (n) {
        hil_error(HIL_ERR_CONFIG, "%s", hil_sb_cstr(&msgs));
        hil_sb_free(&msgs);
        return HIL_ERR_CONFIG;
    }
    return HIL_OK;
}

/* Environment variables HIL_<KEY> (dots and dashes become '_') at priority 90. */
static hil_result hil__config_load_env(hil_config* c) {
    extern char** environ;
    char** e;
    hil_option* o;
    for (e = environ; e && *e; e++) {
        const char* eq = strchr(*e, '=');
        size_t nlen;
        if (strncmp(*e, "HIL_", 4) != 0 || !eq) continue;
        nlen = (size_t)(eq - *e);
        for (o = hil__options_head; o; o = o->next) {
            char env[300];
            if (strchr(o->key, '*')) {
                /* entity options: try every entity already configured */
                const char* ents[64];
                char ns[256], concrete[512];
                size_t k, n, plen = (size_t)(strchr(o->key, '*') - o->key);
                if (plen == 0 || plen >= sizeof ns) continue;
                memcpy(ns, o->key, plen - 1);
                ns[plen - 1] = 0;
                n = hil_config_entities(c, ns, ents, 64);
                for (k = 0; k < n && k < 64; k++) {
                    hil__sfmt(concrete, sizeof concrete, "%s.%s%s", ns, ents[k], o->key + plen + 1);
                    hil__env_name(concrete, env, sizeof env);
                    if (strlen(env) == nlen && strncmp(env, *e, nlen) == 0) {
                        char src[320];
                        hil__sfmt(src, sizeof src, "env %s", env);
                        if (hil_config_set(c, concrete, eq + 1, HIL_PRIO_ENV, src) != HIL_OK) return HIL_ERR_NO_MEMORY;
                    }
                }
                continue;
            }
            hil__env_name(o->key, env, sizeof env);
            if (strlen(env) == nlen && strncmp(env, *e, nlen) == 0) {
                char src[320];
                hil__sfmt(src, sizeof src, "env %s", env);
                if (o->flags & HIL_OPT_MULTIPLE) {
                    /* a list: values separated by ',' */
                    const char* p = eq + 1;
                    while (*p) {
                        size_t len = strcspn(p, ",");
                        char* item = hil_strndup(p, len);
                        if (item && *item) hil_config_set(c, o->key, item, HIL_PRIO_ENV, src);
                        HIL_FREE(item);
                        p += len + (p[len] == ',');
                    }
                } else if (hil_config_set(c, o->key, eq + 1, HIL_PRIO_ENV, src) != HIL_OK) {
                    return HIL_ERR_NO_MEMORY;
                }
            }
        }
    }
    return HIL_OK;
}

/* ==========================================================================
 * Message bus
 * ========================================================================== */

struct hil__future {
    int done;
    int taken;
    hil_result r;
    void* data;
    size_t size;
};

struct hil_futures {
    hil_mutex mu;
    hil_cond cv;
    size_t n, n_done, n_taken;
    struct hil__future* items;
    size_t* order;   /* completion order, for hil_futures_next */
    int refs;        /* the caller plus each pending delivery */
};

struct hil__request {
    hil_futures* futures;
    size_t index;
    int responded;
};

typedef struct hil__delivery {
    const hil_message_def* msg;
    const hil_endpoint* ep;
    char* entity;
    void* data;         /* owned copy when size > 0 */
    size_t size;
    hil__request req;   /* req.futures NULL: an event */
    struct hil__delivery* next;
} hil__delivery;

typedef struct hil__sub {
    const hil_message_def* msg;
    const hil_endpoint* ep;
    char* entity;
    hil_dispatcher* d;
    struct hil__sub* next;
} hil__sub;

struct hil_dispatcher {
    hil_bus* bus;
    hil_dispatcher_config cfg;
    int inflight;          /* callback calls running (under bus->mu) */
    int closing;
    /* asynchronous kinds: one token per queued delivery (and per worker to
     * stop) in a semaphore descriptor. Workers block in read() on it rather
     * than in a condition variable: a descriptor wake-up lets the kernel
     * run the worker on the waker's CPU, about 1 us here against 20-30 us
     * for a futex wake-up that lands on an idle virtual CPU. */
    hil_mutex mu;
    hil_cond cv;
    int sem_r, sem_w;
    hil__delivery* head;
    hil__delivery* tail;
    int stop;
    hil_thread* threads;
    int n_threads;
    struct hil_dispatcher* next;
};

typedef struct hil__bus_def {
    const hil_endpoint* ep;
    const hil_message_def* msg;
    char* owner;
} hil__bus_def;

struct hil_bus {
    hil_mutex mu;
    hil_cond idle_cv;
    hil__sub* subs;          /* sorted by dispatcher priority, highest first */
    hil_dispatcher* dispatchers;
    hil__bus_def* defs;
    size_t n_defs, cap_defs;
    long pending;            /* queued or running asynchronous deliveries */
    hil_cond inflight_cv;
};

HIL_API hil_result hil_bus_create(hil_bus** out) {
    hil_bus* b = (hil_bus*)hil__calloc(1, sizeof *b);
    if (!b) return hil_error(HIL_ERR_NO_MEMORY, "bus: out of memory");
    hil_mutex_init(&b->mu);
    hil_cond_init(&b->idle_cv);
    hil_cond_init(&b->inflight_cv);
    *out = b;
    return HIL_OK;
}

HIL_API void hil_bus_destroy(hil_bus* b) {
    size_t i;
    if (!b) return;
    while (b->dispatchers) hil_dispatcher_destroy(b->dispatchers);
    for (i = 0; i < b->n_defs; i++) HIL_FREE(b->defs[i].owner);
    HIL_FREE(b->defs);
    hil_cond_destroy(&b->idle_cv);
    hil_cond_destroy(&b->inflight_cv);
    hil_mutex_destroy(&b->mu);
    HIL_FREE(b);
}

static hil_result hil__bus_add_def(hil_bus* b, const hil_endpoint* ep, const hil_message_def* msg, const char* owner) {
    size_t i;
    for (i = 0; i < b->n_defs; i++) {
        const hil__bus_def* d = &b->defs[i];
        if (msg && d->msg && strcmp(d->msg->name, msg->name) == 0 && strcmp(d->ep->name, ep->name) == 0)
            return hil_error(HIL_ERR_EXISTS, "bus: message '%s' on endpoint '%s' is defined twice (by %s and %s)",
                             msg->name, ep->name, d->owner, owner);
        if (!msg && !d->msg && strcmp(d->ep->name, ep->name) == 0 && d->ep != ep)
            return hil_error(HIL_ERR_EXISTS, "bus: endpoint '%s' is defined twice (by %s and %s)", ep->name,
                             d->owner, owner);
    }
    if (b->n_defs == b->cap_defs) {
        size_t cap = b->cap_defs ? b->cap_defs * 2 : 16;
        hil__bus_def* p = (hil__bus_def*)HIL_REALLOC(b->defs, cap * sizeof *p);
        if (!p) return hil_error(HIL_ERR_NO_MEMORY, "bus: out of memory");
        b->defs = p;
        b->cap_defs = cap;
    }
    b->defs[b->n_defs].ep = ep;
    b->defs[b->n_defs].msg = msg;
    b->defs[b->n_defs].owner = hil_strdup(owner ? owner : "?");
    b->n_defs++;
    return HIL_OK;
}

HIL_API hil_result hil_bus_define(hil_bus* b, const hil_endpoint* ep, const hil_message_def* const* msgs,
                                  size_t count, const char* owner) {
    size_t i;
    hil_result r = HIL_OK;
    int have_ep = 0;
    hil_mutex_lock(&b->mu);
    for (i = 0; i < b->n_defs; i++)
        if (b->defs[i].ep == ep && !b->defs[i].msg) have_ep = 1;
    if (!have_ep) r = hil__bus_add_def(b, ep, NULL, owner);
    for (i = 0; r == HIL_OK && i < count; i++) r = hil__bus_add_def(b, ep, msgs[i], owner);
    hil_mutex_unlock(&b->mu);
    return r;
}

/* Visit definitions (for the 'endpoints' command). */
static void hil__bus_defs(hil_bus* b, void (*fn)(const hil__bus_def* d, void* u), void* u) {
    size_t i;
    for (i = 0; i < b->n_defs; i++) fn(&b->defs[i], u);
}

HIL_API void hil_dispatcher_config_init(hil_dispatcher_config* c) {
    memset(c, 0, sizeof *c);
    c->kind = HIL_DISPATCH_CALLBACK;
    c->workers = 4;
}

/* ---- futures ---------------------------------------------------------- */

static hil_futures* hil__futures_new(size_t n) {
    hil_futures* f = (hil_futures*)hil__calloc(1, sizeof *f);
    if (!f) return NULL;
    f->items = (struct hil__future*)hil__calloc(n ? n : 1, sizeof *f->items);
    f->order = (size_t*)hil__calloc(n ? n : 1, sizeof *f->order);
    if (!f->items || !f->order) {
        HIL_FREE(f->items);
        HIL_FREE(f->order);
        HIL_FREE(f);
        return NULL;
    }
    f->n = n;
    f->refs = 1;
    hil_mutex_init(&f->mu);
    hil_cond_init(&f->cv);
    return f;
}

static void hil__futures_unref(hil_futures* f) {
    int last;
    size_t i;
    hil_mutex_lock(&f->mu);
    last = --f->refs == 0;
    hil_mutex_unlock(&f->mu);
    if (!last) return;
    for (i = 0; i < f->n; i++) HIL_FREE(f->items[i].data);
    HIL_FREE(f->items);
    HIL_FREE(f->order);
    hil_cond_destroy(&f->cv);
    hil_mutex_destroy(&f->mu);
    HIL_FREE(f);
}

static void hil__future_complete(hil__request* rq, hil_result r, const void* data, size_t size) {
    hil_futures* f = rq->futures;
    struct hil__future* it;
    if (!f || rq->responded) return;
    rq->responded = 1;
    hil_mutex_lock(&f->mu);
    it = &f->items[rq->index];
    if (!it->done) {
        it->r = r;
        if (size) {
            it->data = HIL_MALLOC(size);
            if (it->data) { memcpy(it->data, data, size); it->size = size; }
            else it->r = HIL_ERR_NO_MEMORY;
        }
        it->done = 1;
        f->order[f->n_done++] = rq->index;
        hil_cond_broadcast(&f->cv);
    }
    hil_mutex_unlock(&f->mu);
}

HIL_API void hil_bus_respond(const hil_bus_msg* m, hil_result r, const void* data, size_t size) {
    if (m && m->request) hil__future_complete(m->request, r, data, size);
}

HIL_API size_t hil_futures_count(const hil_futures* f) { return f ? f->n : 0; }

HIL_API hil_result hil_futures_wait(hil_futures* f, int timeout_ms) {
    uint64_t deadline = hil_deadline_ms(timeout_ms);
    hil_result r = HIL_OK;
    hil_mutex_lock(&f->mu);
    while (f->n_done < f->n && r == HIL_OK) r = hil_cond_wait_until(&f->cv, &f->mu, deadline);
    if (f->n_done == f->n) r = HIL_OK;
    hil_mutex_unlock(&f->mu);
    return r == HIL_OK ? HIL_OK
                       : hil_error(HIL_ERR_TIMEOUT, "bus request: %zu of %zu answers after %d ms", f->n_done, f->n,
                                   timeout_ms);
}

HIL_API hil_result hil_futures_next(hil_futures* f, int timeout_ms, size_t* index) {
    uint64_t deadline = hil_deadline_ms(timeout_ms);
    hil_result r = HIL_OK;
    hil_mutex_lock(&f->mu);
    if (f->n_taken == f->n) { hil_mutex_unlock(&f->mu); return HIL_ERR_NOT_FOUND; }
    while (f->n_taken == f->n_done && r == HIL_OK) r = hil_cond_wait_until(&f->cv, &f->mu, deadline);
    if (f->n_taken < f->n_done) {
        *index = f->order[f->n_taken++];
        f->items[*index].taken = 1;
        r = HIL_OK;
    }
    hil_mutex_unlock(&f->mu);
    return r;
}

HIL_API hil_result hil_futures_get(const hil_futures* f, size_t i, hil_result* r, const void** data, size_t* size) {
    hil_result ret;
    hil_futures* mf = (hil_futures*)f;
    if (!f || i >= f->n) return HIL_ERR_INVALID_ARG;
    hil_mutex_lock(&mf->mu);
    if (!f->items[i].done) {
        ret = HIL_ERR_AGAIN;
    } else {
        if (r) *r = f->items[i].r;
        if (data) *data = f->items[i].data;
        if (size) *size = f->items[i].size;
        ret = HIL_OK;
    }
    hil_mutex_unlock(&mf->mu);
    return ret;
}

HIL_API void hil_futures_destroy(hil_futures* f) {
    if (f) hil__futures_unref(f);
}

/* ---- dispatchers --------------------------------------------------------- */

static void hil__delivery_free(hil__delivery* d) {
    if (d->size) HIL_FREE(d->data);
    HIL_FREE(d->entity);
    HIL_FREE(d);
}

static void hil__dispatch_call(hil_dispatcher* d, hil__delivery* dv) {
    hil_bus_msg m;
    m.id = dv->msg;
    m.endpoint = dv->ep;
    m.entity = dv->entity;
    m.data = dv->data;
    m.size = dv->size;
    m.request = dv->req.futures ? &dv->req : NULL;
    m.reserved = NULL;
    d->cfg.fn(&m, d->cfg.user);
    if (dv->req.futures) {
        hil__future_complete(&dv->req, HIL_OK, NULL, 0);
        hil__futures_unref(dv->req.futures);
    }
}

static void hil__bus_pending_done(hil_bus* b) {
    hil_mutex_lock(&b->mu);
    if (--b->pending == 0) hil_cond_broadcast(&b->idle_cv);
    hil_mutex_unlock(&b->mu);
}

static int hil__sem_open(int* r, int* w) {
#ifdef __linux__
    int fd = eventfd(0, EFD_SEMAPHORE | EFD_CLOEXEC);
    if (fd < 0) return 0;
    *r = *w = fd;
    return 1;
#else
    int p[2];
    if (pipe(p) != 0) return 0;
    hil_set_cloexec(p[0]);
    hil_set_cloexec(p[1]);
    *r = p[0];
    *w = p[1];
    return 1;
#endif
}

static void hil__sem_post(int w) {
#ifdef __linux__
    uint64_t one = 1;
    while (write(w, &one, sizeof one) < 0 && errno == EINTR) {
    }
#else
    char c = 1;
    while (write(w, &c, 1) < 0 && errno == EINTR) {
    }
#endif
}

static void hil__sem_take(int r) {
#ifdef __linux__
    uint64_t v;
    while (read(r, &v, sizeof v) < 0 && errno == EINTR) {
    }
#else
    char c;
    while (read(r, &c, 1) < 0 && errno == EINTR) {
    }
#endif
}

static hil__delivery* hil__dispatcher_pop(hil_dispatcher* d) {
    hil__delivery* dv;
    if (d->cfg.spin_us > 0 && !__atomic_load_n(&d->head, __ATOMIC_ACQUIRE)) {
        /* Spin briefly before sleeping: a hand-off that arrives within
         * spin_us skips the wake-up latency (off by default: it burns CPU). */
        uint64_t until = hil_now_ns() + (uint64_t)d->cfg.spin_us * 1000u;
        while (hil_now_ns() < until && !__atomic_load_n(&d->head, __ATOMIC_ACQUIRE)) {
        }
    }
    hil__sem_take(d->sem_r); /* one token per delivery, or a stop token */
    hil_mutex_lock(&d->mu);
    dv = d->head;
    if (dv) {
        __atomic_store_n(&d->head, dv->next, __ATOMIC_RELAXED);
        if (!d->head) d->tail = NULL;
    }
    hil_mutex_unlock(&d->mu);
    return dv; /* NULL: a stop token (the queue drains before stop tokens are posted) */
}

static void* hil__dispatcher_thread(void* arg) {
    hil_dispatcher* d = (hil_dispatcher*)arg;
    for (;;) {
        hil__delivery* dv = hil__dispatcher_pop(d);
        if (!dv) break;
        hil__dispatch_call(d, dv);
        hil__delivery_free(dv);
        hil__bus_pending_done(d->bus);
    }
    return NULL;
}

HIL_API hil_result hil_dispatcher_create(hil_bus* b, const hil_dispatcher_config* cfg, hil_dispatcher** out) {
    hil_dispatcher* d;
    int i;
    if (!b || !cfg || !cfg->fn) return hil_error(HIL_ERR_INVALID_ARG, "dispatcher: no callback given");
    d = (hil_dispatcher*)hil__calloc(1, sizeof *d);
    if (!d) return hil_error(HIL_ERR_NO_MEMORY, "dispatcher: out of memory");
    d->bus = b;
    d->cfg = *cfg;
    d->sem_r = d->sem_w = -1;
    hil_mutex_init(&d->mu);
    hil_cond_init(&d->cv);
    if (cfg->kind != HIL_DISPATCH_CALLBACK && !hil__sem_open(&d->sem_r, &d->sem_w)) {
        HIL_FREE(d);
        return hil_error(HIL_ERR_IO, "dispatcher: cannot create its wake-up descriptor: %s", strerror(errno));
    }
    if (cfg->kind != HIL_DISPATCH_CALLBACK) {
        int n = cfg->kind == HIL_DISPATCH_SEQUENTIAL ? 1 : (cfg->workers > 0 ? cfg->workers : 4);
        d->threads = (hil_thread*)hil__calloc((size_t)n, sizeof *d->threads);
        if (!d->threads) { HIL_FREE(d); return hil_error(HIL_ERR_NO_MEMORY, "dispatcher: out of memory"); }
        for (i = 0; i < n; i++) {
            if (hil_thread_create(&d->threads[i], hil__dispatcher_thread, d, cfg->name ? cfg->name : "hil-dispatch") !=
                HIL_OK) {
                int k;
                for (k = 0; k < i; k++) hil__sem_post(d->sem_w);
                while (i-- > 0) hil_thread_join(&d->threads[i]);
                close(d->sem_r);
                if (d->sem_w != d->sem_r) close(d->sem_w);
                HIL_FREE(d->threads);
                HIL_FREE(d);
                return HIL_ERR_NO_MEMORY;
            }
        }
        d->n_threads = n;
    }
    hil_mutex_lock(&b->mu);
    d->next = b->dispatchers;
    b->dispatchers = d;
    hil_mutex_unlock(&b->mu);
    *out = d;
    return HIL_OK;
}

HIL_API hil_result hil_dispatcher_subscribe(hil_dispatcher* d, const hil_message_def* msg, const hil_endpoint* ep,
                                            const char* entity) {
    hil_bus* b = d->bus;
    hil__sub* s = (hil__sub*)hil__calloc(1, sizeof *s);
    hil__sub** pp;
    if (!s) return hil_error(HIL_ERR_NO_MEMORY, "subscribe: out of memory");
    s->msg = msg;
    s->ep = ep;
    s->entity = entity ? hil_strdup(entity) : NULL;
    s->d = d;
    hil_mutex_lock(&b->mu);
    pp = &b->subs;
    while (*pp && (*pp)->d->cfg.priority >= d->cfg.priority) pp = &(*pp)->next;
    s->next = *pp;
    *pp = s;
    hil_mutex_unlock(&b->mu);
    return HIL_OK;
}

HIL_API void hil_dispatcher_destroy(hil_dispatcher* d) {
    hil_bus* b;
    hil__sub** pp;
    hil_dispatcher** dp;
    int i;
    if (!d) return;
    b = d->bus;
    hil_mutex_lock(&b->mu);
    for (pp = &b->subs; *pp;) {
        if ((*pp)->d == d) {
            hil__sub* s = *pp;
            *pp = s->next;
            HIL_FREE(s->entity);
            HIL_FREE(s);
        } else {
            pp = &(*pp)->next;
        }
    }
    for (dp = &b->dispatchers; *dp; dp = &(*dp)->next)
        if (*dp == d) { *dp = d->next; break; }
    /* callbacks already running in other threads must finish first */
    d->closing = 1;
    while (d->inflight > 0) hil_cond_wait(&b->inflight_cv, &b->mu);
    hil_mutex_unlock(&b->mu);
    if (d->n_threads) {
        /* Stop tokens come after every queued delivery's token: the queue
         * is worked off first, then each worker takes one stop token. */
        for (i = 0; i < d->n_threads; i++) hil__sem_post(d->sem_w);
        for (i = 0; i < d->n_threads; i++) hil_thread_join(&d->threads[i]);
        HIL_FREE(d->threads);
    }
    if (d->sem_r >= 0) close(d->sem_r);
    if (d->sem_w >= 0 && d->sem_w != d->sem_r) close(d->sem_w);
    hil_cond_destroy(&d->cv);
    hil_mutex_destroy(&d->mu);
    HIL_FREE(d);
}

/* ---- trigger and request ---------------------------------------------- */

static int hil__sub_matches(const hil__sub* s, const hil_message_def* msg, const hil_endpoint* ep, const char* entity) {
    if (s->msg && s->msg != msg) return 0;
    if (s->ep && s->ep != ep) return 0;
    if (s->entity && (!entity || strcmp(s->entity, entity) != 0)) return 0;
    return !s->d->closing;
}

static int hil__enqueue(hil_dispatcher* d, const hil_message_def* msg, const hil_endpoint* ep, const char* entity,
                        const void* data, size_t size, hil_futures* f, size_t index) {
    hil__delivery* dv = (hil__delivery*)hil__calloc(1, sizeof *dv);
    if (!dv) return 0;
    dv->msg = msg;
    dv->ep = ep;
    dv->entity = entity ? hil_strdup(entity) : NULL;
    if (size) {
        dv->data = HIL_MALLOC(size);
        if (!dv->data) { HIL_FREE(dv->entity); HIL_FREE(dv); return 0; }
        memcpy(dv->data, data, size);
    } else {
        dv->data = (void*)data;
    }
    dv->size = size;
    dv->req.futures = f;
    dv->req.index = index;
    hil_mutex_lock(&d->mu);
    if (d->tail) d->tail->next = dv;
    else __atomic_store_n(&d->head, dv, __ATOMIC_RELEASE);
    d->tail = dv;
    hil_mutex_unlock(&d->mu);
    hil__sem_post(d->sem_w);
    return 1;
}

#define HIL__MAX_TARGETS 32

static hil_result hil__bus_send(hil_bus* b, const hil_message_def* msg, const hil_endpoint* ep, const char* entity,
                                const void* data, size_t size, hil_futures** out) {
    hil_dispatcher* targets[HIL__MAX_TARGETS];
    size_t n = 0, i, async = 0;
    hil__sub* s;
    hil_futures* f = NULL;
    hil_mutex_lock(&b->mu);
    for (s = b->subs; s; s = s->next) {
        if (!hil__sub_matches(s, msg, ep, entity)) continue;
        for (i = 0; i < n && targets[i] != s->d; i++) {
        }
        if (i < n) continue; /* subscribed twice: deliver once */
        if (n == HIL__MAX_TARGETS) break;
        targets[n++] = s->d;
        s->d->inflight++; /* hil_dispatcher_destroy() waits for this to drop */
        if (s->d->cfg.kind != HIL_DISPATCH_CALLBACK) async++;
    }
    b->pending += (long)async;
    hil_mutex_unlock(&b->mu);
    if (out) {
        f = hil__futures_new(n);
        if (!f) n = 0; /* cannot track answers: deliver nothing, report it */
        else f->refs += (int)n;
        *out = f;
    }
    for (i = 0; i < n; i++) {
        hil_dispatcher* d = targets[i];
        if (d->cfg.kind == HIL_DISPATCH_CALLBACK) {
            hil__delivery dv;
            memset(&dv, 0, sizeof dv);
            dv.msg = msg;
            dv.ep = ep;
            dv.entity = (char*)entity;
            dv.data = (void*)data;
            dv.size = size;
            dv.req.futures = f;
            dv.req.index = i;
            hil__dispatch_call(d, &dv);
        } else if (!hil__enqueue(d, msg, ep, entity, data, size, f, i)) {
            if (f) {
                hil__request rq;
                rq.futures = f;
                rq.index = i;
                rq.responded = 0;
                hil__future_complete(&rq, HIL_ERR_NO_MEMORY, NULL, 0);
                hil__futures_unref(f);
            }
            hil__bus_pending_done(b);
        }
    }
    if (n) {
        hil_mutex_lock(&b->mu);
        for (i = 0; i < n; i++)
            if (--targets[i]->inflight == 0 && targets[i]->closing) hil_cond_broadcast(&b->inflight_cv);
        hil_mutex_unlock(&b->mu);
    }
    if (out && !f) return hil_error(HIL_ERR_NO_MEMORY, "bus request '%s': out of memory", msg ? msg->name : "?");
    return HIL_OK;
}

HIL_API hil_result hil_bus_trigger(hil_bus* b, const hil_message_def* msg, const hil_endpoint* ep, const char* entity,
                                   const void* data, size_t size) {
    if (!b) return HIL_OK;
    return hil__bus_send(b, msg, ep, entity, data, size, NULL);
}

HIL_API hil_result hil_bus_request(hil_bus* b, const hil_message_def* msg, const hil_endpoint* ep,
                                   const char* entity, const void* data, size_t size, hil_futures** out) {
    if (!b || !out) return hil_error(HIL_ERR_INVALID_ARG, "bus request: no bus or no place for the futures");
    return hil__bus_send(b, msg, ep, entity, data, size, out);
}

HIL_API hil_result hil_bus_wait_idle(hil_bus* b, int timeout_ms) {
    uint64_t deadline = hil_deadline_ms(timeout_ms);
    hil_result r = HIL_OK;
    hil_mutex_lock(&b->mu);
    while (b->pending > 0 && r == HIL_OK) r = hil_cond_wait_until(&b->idle_cv, &b->mu, deadline);
    if (b->pending == 0) r = HIL_OK;
    hil_mutex_unlock(&b->mu);
    return r == HIL_OK ? HIL_OK : hil_error(HIL_ERR_TIMEOUT, "bus: still busy after %d ms", timeout_ms);
}

/* ---- local message queue ----------------------------------------------- */

typedef struct hil__qitem { hil_queued_msg m; struct hil__qitem* next; } hil__qitem;

struct hil_msg_queue {
    hil_dispatcher* d;
    hil_msg_match_fn match;
    void* user;
    hil_mutex mu;
    hil_cond cv;
    hil__qitem* head;
    hil__qitem* tail;
    size_t n;
};

static void hil__msg_queue_cb(const hil_bus_msg* m, void* user) {
    hil_msg_queue* q = (hil_msg_queue*)user;
    hil__qitem* it;
    if (q->match && !q->match(m, q->user)) return;
    it = (hil__qitem*)hil__calloc(1, sizeof *it);
    if (!it) return;
    it->m.id = m->id;
    it->m.endpoint = m->endpoint;
    it->m.entity = m->entity ? hil_strdup(m->entity) : NULL;
    if (m->size) {
        it->m.data = HIL_MALLOC(m->size);
        if (it->m.data) memcpy(it->m.data, m->data, m->size);
        it->m.size = it->m.data ? m->size : 0;
    } else {
        it->m.data = (void*)m->data;
    }
    hil_mutex_lock(&q->mu);
    if (q->tail) q->tail->next = it;
    else q->head = it;
    q->tail = it;
    q->n++;
    hil_cond_broadcast(&q->cv);
    hil_mutex_unlock(&q->mu);
}

HIL_API hil_result hil_msg_queue_create(hil_bus* b, const hil_message_def* msg, const hil_endpoint* ep,
                                        const char* entity, hil_msg_match_fn match, void* user,
                                        hil_msg_queue** out) {
    hil_dispatcher_config cfg;
    hil_msg_queue* q = (hil_msg_queue*)hil__calloc(1, sizeof *q);
    hil_result r;
    if (!q) return hil_error(HIL_ERR_NO_MEMORY, "message queue: out of memory");
    q->match = match;
    q->user = user;
    hil_mutex_init(&q->mu);
    hil_cond_init(&q->cv);
    hil_dispatcher_config_init(&cfg);
    cfg.fn = hil__msg_queue_cb;
    cfg.user = q;
    cfg.name = "msg-queue";
    cfg.priority = -1000; /* observe after the real handlers */
    r = hil_dispatcher_create(b, &cfg, &q->d);
    if (r == HIL_OK) r = hil_dispatcher_subscribe(q->d, msg, ep, entity);
    if (r != HIL_OK) {
        hil_msg_queue_destroy(q);
        return r;
    }
    *out = q;
    return HIL_OK;
}

HIL_API hil_result hil_msg_queue_get(hil_msg_queue* q, int timeout_ms, hil_queued_msg* out) {
    uint64_t deadline = hil_deadline_ms(timeout_ms);
    hil__qitem* it;
    hil_mutex_lock(&q->mu);
    while (!q->head) {
        if (hil_cond_wait_until(&q->cv, &q->mu, deadline) == HIL_ERR_TIMEOUT && !q->head) {
            hil_mutex_unlock(&q->mu);
            return HIL_ERR_TIMEOUT;
        }
    }
    it = q->head;
    q->head = it->next;
    if (!q->head) q->tail = NULL;
    q->n--;
    hil_mutex_unlock(&q->mu);
    *out = it->m;
    HIL_FREE(it);
    return HIL_OK;
}

HIL_API size_t hil_msg_queue_size(hil_msg_queue* q) {
    size_t n;
    hil_mutex_lock(&q->mu);
    n = q->n;
    hil_mutex_unlock(&q->mu);
    return n;
}

HIL_API void hil_queued_msg_free(hil_queued_msg* m) {
    if (!m) return;
    if (m->size) HIL_FREE(m->data);
    HIL_FREE(m->entity);
    memset(m, 0, sizeof *m);
}

HIL_API void hil_msg_queue_destroy(hil_msg_queue* q) {
    if (!q) return;
    if (q->d) hil_dispatcher_destroy(q->d);
    while (q->head) {
        hil__qitem* it = q->head;
        q->head = it->next;
        hil_queued_msg_free(&it->m);
        HIL_FREE(it);
    }
    hil_cond_destroy(&q->cv);
    hil_mutex_destroy(&q->mu);
    HIL_FREE(q);
}

/* ==========================================================================
 * Extensions, commands and the application
 * ========================================================================== */

typedef struct hil__ext_endpoint {
    const hil_endpoint* ep;
    const hil_message_def* const* msgs;
    struct hil__ext_endpoint* next;
} hil__ext_endpoint;

typedef struct hil__pending_sub {
    hil_dispatch_kind kind;
    hil_dispatch_fn fn;
    void* user;
    const hil_message_def* msg;
    const hil_endpoint* ep;
    struct hil__pending_sub* next;
} hil__pending_sub;

typedef struct hil__ext_inst {
    hil_extension* ext;
    hil_ext_ctx ctx;
    hil__pending_sub* pending;      /* subscriptions waiting for the activation decision */
    hil_dispatcher** dispatchers;
    size_t n_dispatchers;
    int decided;                    /* activation decided */
    int initialized;
    struct hil__ext_inst* next;     /* creation order */
} hil__ext_inst;

typedef struct hil__ext_override { const char* name; int enabled; } hil__ext_override;

static hil_extension* hil__ext_head;
static hil_extension** hil__ext_tail = &hil__ext_head;

static struct {
    hil_config* cfg;
    hil_bus* bus;
    hil__ext_inst* insts;          /* creation order */
    int argc;
    char** argv;
    const char* command_name;
    hil_command* command;
    int stage;                     /* the load order being processed */
    hil__ext_override overrides[64];
    size_t n_overrides;
    char** pos;                    /* positional and passed-on args */
    int n_pos;
    int exit_code;                 /* set by a failing stage: 2 usage, 3 config, 4 internal */
    int help;
} hil__app;

HIL_API hil_config* hil_cfg(void) {
    if (!hil__app.cfg) hil_config_create(&hil__app.cfg);
    return hil__app.cfg;
}

HIL_API hil_bus* hil_program_bus(void) { return hil__app.bus; }

HIL_API hil_extension* hil_extension_find(const char* name) {
    hil_extension* e;
    for (e = hil__ext_head; e; e = e->next)
        if (strcmp(e->name, name) == 0) return e;
    return NULL;
}

HIL_API hil_extension* hil_extension_declare(const char* name, int kind, hil_ext_describe_fn describe) {
    hil_extension* e = hil_extension_find(name);
    if (e) return e; /* declared twice (constructor and explicit): once is enough */
    e = (hil_extension*)hil__calloc(1, sizeof *e);
    if (!e) return NULL;
    e->name = name;
    e->kind = kind;
    e->load_order = kind == HIL_EXT_COMMAND ? 1000 : 500;
    e->default_enabled = 1;
    if (describe) describe(e);
    if (e->kind == HIL_EXT_COMMAND) e->load_order = 1000;
    *hil__ext_tail = e;
    hil__ext_tail = &e->next;
    return e;
}

HIL_API hil_option* hil_ext_option(hil_extension* ext, const char* key, hil_opt_type type, const char* default_value,
                                   const char* help) {
    hil_option* o = (hil_option*)hil__calloc(1, sizeof *o);
    if (!o) return NULL;
    o->key = key;
    o->type = type;
    o->default_value = default_value;
    o->help = help;
    o->owner = ext ? ext->name : "hil";
    /* One global list for lookups; ext->options points at the extension's
     * first option in it (its options are contiguous: describe() adds them
     * all at once). */
    if (ext && !ext->options) ext->options = o;
    *hil__options_tail = o;
    hil__options_tail = &o->next;
    return o;
}

HIL_API hil_command* hil_ext_command(hil_extension* ext, const char* name, const char* help, hil_command_fn fn) {
    hil_command* c = (hil_command*)hil__calloc(1, sizeof *c);
    hil_command** pp;
    if (!c) return NULL;
    c->name = name;
    c->help = help;
    c->fn = fn;
    c->owner = ext->name;
    for (pp = &ext->commands; *pp; pp = &(*pp)->next) {
    }
    *pp = c;
    return c;
}

HIL_API void hil_ext_endpoint(hil_extension* ext, const hil_endpoint* ep, const hil_message_def* const* msgs) {
    hil__ext_endpoint* e = (hil__ext_endpoint*)hil__calloc(1, sizeof *e);
    hil__ext_endpoint** pp;
    if (!e) return;
    e->ep = ep;
    e->msgs = msgs;
    for (pp = &ext->endpoints; *pp; pp = &(*pp)->next) {
    }
    *pp = e;
}

/* ---- conditions (activate_on / deactivate_on) ---------------------------- */

/* One condition: "key", "!key", "key=value", "key!=value". "key" holds when the
 * value is set and not false/empty. */
static int hil__condition_holds(hil_config* cfg, const char* cond) {
    char key[256];
    const char* ne = strstr(cond, "!=");
    const char* eq = strchr(cond, '=');
    const char* v;
    int truth;
    if (ne || eq) {
        size_t klen = (size_t)((ne ? ne : eq) - cond);
        const char* want = ne ? ne + 2 : eq + 1;
        if (klen >= sizeof key) return 0;
        memcpy(key, cond, klen);
        key[klen] = 0;
        v = hil_config_get(cfg, key, "");
        return ne ? strcmp(v, want) != 0 : strcmp(v, want) == 0;
    }
    if (cond[0] == '!') return !hil__condition_holds(cfg, cond + 1);
    v = hil_config_get(cfg, cond, NULL);
    if (!v || !*v) return 0;
    return !(hil__parse_bool(v, &truth) && !truth);
}

/* all_of: every ';'-separated condition must hold; otherwise any one. */
static int hil__conditions(hil_config* cfg, const char* list, int all_of) {
    char item[512];
    const char* p = list;
    int any = 0, n = 0;
    while (*p) {
        size_t len = strcspn(p, ";");
        int holds;
        while (len && isspace((unsigned char)*p)) { p++; len--; }
        if (len && len < sizeof item) {
            memcpy(item, p, len);
            while (len && isspace((unsigned char)item[len - 1])) len--;
            item[len] = 0;
            holds = hil__condition_holds(cfg, item);
            n++;
            if (holds) any = 1;
            else if (all_of) return 0;
        }
        p += strcspn(p, ";");
        if (*p) p++;
    }
    return all_of ? 1 : (n ? any : 0);
}

static int hil__ext_is_active(const hil_extension* e, hil_config* cfg) {
    if (e->deactivate_on && *e->deactivate_on && hil__conditions(cfg, e->deactivate_on, 0)) return 0;
    if (e->activate_on && *e->activate_on) return hil__conditions(cfg, e->activate_on, 1);
    return 1;
}

/* ---- instances --------------------------------------------------------- */

static hil_result hil__inst_subscribe_now(hil__ext_inst* in, const hil__pending_sub* ps) {
    hil_dispatcher_config cfg;
    hil_dispatcher* d;
    hil_dispatcher** arr;
    hil_result r;
    hil_dispatcher_config_init(&cfg);
    cfg.kind = ps->kind;
    cfg.fn = ps->fn;
    cfg.user = ps->user;
    cfg.name = in->ext->name;
    r = hil_dispatcher_create(in->ctx.bus, &cfg, &d);
    if (r != HIL_OK) return r;
    r = hil_dispatcher_subscribe(d, ps->msg, ps->ep, NULL);
    if (r != HIL_OK) { hil_dispatcher_destroy(d); return r; }
    arr = (hil_dispatcher**)HIL_REALLOC(in->dispatchers, (in->n_dispatchers + 1) * sizeof *arr);
    if (!arr) { hil_dispatcher_destroy(d); return hil_error(HIL_ERR_NO_MEMORY, "subscribe: out of memory"); }
    in->dispatchers = arr;
    in->dispatchers[in->n_dispatchers++] = d;
    return HIL_OK;
}

HIL_API hil_result hil_ext_subscribe(hil_ext_ctx* ctx, hil_dispatch_kind kind, hil_dispatch_fn fn, void* user,
                                     const hil_message_def* msg, const hil_endpoint* ep) {
    hil__ext_inst* in = (hil__ext_inst*)ctx->internal;
    hil__pending_sub ps;
    memset(&ps, 0, sizeof ps);
    ps.kind = kind;
    ps.fn = fn;
    ps.user = user;
    ps.msg = msg;
    ps.ep = ep;
    if (!in) return hil_error(HIL_ERR_STATE, "hil_ext_subscribe: not called from an extension");
    if (in->decided) return ctx->active ? hil__inst_subscribe_now(in, &ps) : HIL_OK;
    {
        hil__pending_sub* p = (hil__pending_sub*)hil__calloc(1, sizeof *p);
        hil__pending_sub** pp;
        if (!p) return hil_error(HIL_ERR_NO_MEMORY, "subscribe: out of memory");
        *p = ps;
        for (pp = &in->pending; *pp; pp = &(*pp)->next) {
        }
        *pp = p;
    }
    return HIL_OK;
}

static hil_result hil__inst_decide(hil__ext_inst* in) {
    hil_result r = HIL_OK;
    if (in->decided) return HIL_OK;
    in->decided = 1;
    in->ctx.active = hil__ext_is_active(in->ext, in->ctx.config);
    while (in->pending) {
        hil__pending_sub* p = in->pending;
        in->pending = p->next;
        if (in->ctx.active && r == HIL_OK) r = hil__inst_subscribe_now(in, p);
        HIL_FREE(p);
    }
    return r;
}

HIL_API hil_result hil_ext_provide(hil_ext_ctx* ctx, const char* key, const char* value, int priority) {
    char src[128];
    hil__sfmt(src, sizeof src, "extension %s", ctx->ext->name);
    return hil_config_set(ctx->config, key, value, priority, src);
}

HIL_API hil_result hil_ext_set_enabled(hil_ext_ctx* ctx, const char* name, int enabled) {
    if (hil__app.stage > 20 && ctx->ext->load_order > 20)
        return hil_error(HIL_ERR_STATE,
                         "extension '%s' (load order %d) cannot enable or disable '%s': that is decided at load "
                         "order 20; give it a load order of 20 or less",
                         ctx->ext->name, ctx->ext->load_order, name);
    if (!hil_extension_find(name)) return hil_error(HIL_ERR_NOT_FOUND, "no extension named '%s'", name);
    if (hil__app.n_overrides == HIL__COUNTOF(hil__app.overrides))
        return hil_error(HIL_ERR_OVERFLOW, "too many enable/disable requests");
    hil__app.overrides[hil__app.n_overrides].name = name;
    hil__app.overrides[hil__app.n_overrides].enabled = enabled;
    hil__app.n_overrides++;
    return HIL_OK;
}

static int hil__ext_enabled(const hil_extension* e, hil_config* cfg) {
    size_t i;
    char key[200];
    int v = e->default_enabled, found = -1;
    const hil_extension* x;
    for (i = 0; i < hil__app.n_overrides; i++)
        if (strcmp(hil__app.overrides[i].name, e->name) == 0) found = hil__app.overrides[i].enabled;
    if (found >= 0) return found;
    hil__sfmt(key, sizeof key, "extensions.%s.enabled", e->name);
    if (cfg && hil_config_has(cfg, key)) return hil_config_get_bool(cfg, key, v);
    /* an enabled extension that replaces this one disables it */
    for (x = hil__ext_head; x; x = x->next)
        if (x != e && x->replaces && strcmp(x->replaces, e->name) == 0 && x->default_enabled) return 0;
    return v;
}

static int hil__option_owner_enabled(const hil_option* o, hil_config* c) {
    const hil_extension* e = hil_extension_find(o->owner);
    return !e || hil__ext_enabled(e, c);
}

static hil_result hil__inst_create(hil_extension* e, const char* instance, hil_config* cfg, hil_bus* bus,
                                   hil__ext_inst** list, int decide_now) {
    hil__ext_inst* in = (hil__ext_inst*)hil__calloc(1, sizeof *in);
    hil__ext_inst** pp;
    hil_result r = HIL_OK;
    int first = 1; /* the extension's first instance defines its endpoints */
    if (!in) return hil_error(HIL_ERR_NO_MEMORY, "extension '%s': out of memory", e->name);
    in->ext = e;
    in->ctx.ext = e;
    in->ctx.config = cfg;
    in->ctx.bus = bus;
    in->ctx.instance = instance;
    in->ctx.internal = in;
    in->ctx.active = 1;
    for (pp = list; *pp; pp = &(*pp)->next)
        if ((*pp)->ext == e) first = 0;
    *pp = in;
    if (bus) {
        hil__ext_endpoint* ep;
        for (ep = e->endpoints; ep && r == HIL_OK; ep = ep->next) {
            size_t n = 0;
            while (ep->msgs && ep->msgs[n]) n++;
            if (first) r = hil_bus_define(bus, ep->ep, ep->msgs, n, e->name);
        }
        if (r != HIL_OK) return r;
    }
    if (decide_now) r = hil__inst_decide(in);
    if (r == HIL_OK && e->initialize) r = e->initialize(&in->ctx);
    in->initialized = (r == HIL_OK);
    if (r == HIL_OK && e->get_config) r = e->get_config(&in->ctx);
    if (r != HIL_OK && !hil_last_error()[0])
        hil_error(r, "extension '%s' failed to initialise: %s", e->name, hil_result_str(r));
    return r;
}

static void hil__inst_destroy_all(hil__ext_inst** list) {
    /* reverse creation order */
    while (*list) {
        hil__ext_inst** pp = list;
        hil__ext_inst* in;
        size_t i;
        while ((*pp)->next) pp = &(*pp)->next;
        in = *pp;
        *pp = NULL;
        for (i = in->n_dispatchers; i > 0; i--) hil_dispatcher_destroy(in->dispatchers[i - 1]);
        HIL_FREE(in->dispatchers);
        if (in->initialized && in->ext->destroy) in->ext->destroy(&in->ctx);
        while (in->pending) {
            hil__pending_sub* p = in->pending;
            in->pending = p->next;
            HIL_FREE(p);
        }
        HIL_FREE(in);
    }
}

/* Create an extension: once, or once per entity with instantiate_on, in
 * the order the configuration declares the entities (as auxiliaries are). */
static hil_result hil__ext_create(hil_extension* e, hil_config* cfg, hil_bus* bus, hil__ext_inst** list,
                                  int decide_now) {
    if (e->instantiate_on && *e->instantiate_on) {
        const char* names[256];
        size_t n = hil_config_entities_declared(cfg, e->instantiate_on, names, HIL__COUNTOF(names)), i;
        hil_result r = HIL_OK;
        if (n > HIL__COUNTOF(names))
            return hil_error(HIL_ERR_INVALID_ARG, "extension '%s': %zu entities under '%s'; at most %zu get an instance",
                             e->name, n, e->instantiate_on, HIL__COUNTOF(names));
        for (i = 0; i < n && r == HIL_OK; i++) r = hil__inst_create(e, names[i], cfg, bus, list, decide_now);
        return r;
    }
    return hil__inst_create(e, NULL, cfg, bus, list, decide_now);
}

/* ---- command matching ------------------------------------------------- */

static hil_command* hil__command_find(const char* name) {
    hil_extension* e;
    hil_command* c;
    for (e = hil__ext_head; e; e = e->next)
        for (c = e->commands; c; c = c->next)
            if (strcmp(c->name, name) == 0) return c;
    return NULL;
}

/* Every item of a ',' list is in the set (a ',' list, or the name). */
static int hil__subset(const char* items, const char* set, const char* name) {
    char item[128];
    const char* p = items;
    int n = 0;
    while (*p) {
        size_t len = strcspn(p, ", ");
        if (len && len < sizeof item) {
            memcpy(item, p, len);
            item[len] = 0;
            n++;
            if (!hil_list_contains(set ? set : "", item) && strcmp(item, name) != 0) return 0;
        }
        p += len;
        while (*p == ',' || *p == ' ') p++;
    }
    return n > 0;
}

/* Why a command extension attaches to a command ("" if it does not). */
static const char* hil__attach_reason(const hil_extension* e, const hil_command* c, char* buf, size_t size) {
    buf[0] = 0;
    if (!e->extends || !*e->extends) return buf;
    if (hil_list_contains(e->extends, c->name)) hil__sfmt(buf, size, "names the command '%s'", c->name);
    else if (hil__subset(e->extends, c->uses, c->name))
        hil__sfmt(buf, size, "extends {%s}, a subset of what '%s' uses {%s}", e->extends, c->name,
                 c->uses ? c->uses : "");
    return buf;
}

/* Does an option apply to a command? Its `commands` may list command names
 * or capabilities the command uses. */
static int hil__option_applies(const hil_option* o, const hil_command* c) {
    hil_extension* e;
    if (!c) return o->commands == NULL;
    if (o->commands && *o->commands) {
        char item[128];
        const char* p = o->commands;
        while (*p) {
            size_t len = strcspn(p, ", ");
            if (len && len < sizeof item) {
                memcpy(item, p, len);
                item[len] = 0;
                if (strcmp(item, c->name) == 0 || hil_list_contains(c->uses ? c->uses : "", item)) return 1;
            }
            p += len;
            while (*p == ',' || *p == ' ') p++;
        }
        return 0;
    }
    /* options of a command extension apply where it attaches */
    e = hil_extension_find(o->owner);
    if (e && e->kind == HIL_EXT_COMMAND) {
        char buf[256];
        return hil__attach_reason(e, c, buf, sizeof buf)[0] != 0;
    }
    return 1;
}

/* ---- the command line -------------------------------------------------- */

/* Find the option for "--name" or "-x" that applies to the command. */
static const hil_option* hil__cli_find(const char* flag, size_t len, const hil_command* c, int* exists_elsewhere) {
    hil_option* o;
    *exists_elsewhere = 0;
    for (o = hil__options_head; o; o = o->next) {
        const char* p = o->cli;
        while (p && *p) {
            size_t l = strcspn(p, ",");
            if (l == len && strncmp(p, flag, len) == 0) {
                if (hil__option_applies(o, c)) return o;
                *exists_elsewhere = 1;
            }
            p += l + (p[l] == ',');
        }
    }
    return NULL;
}

static void hil__cli_suggest(const char* flag, const hil_command* c, char* out, size_t size) {
    hil_option* o;
    size_t best = 3;
    out[0] = 0;
    for (o = hil__options_head; o; o = o->next) {
        const char* p = o->cli;
        if (!hil__option_applies(o, c)) continue;
        while (p && *p) {
            size_t l = strcspn(p, ",");
            char cand[64];
            if (l < sizeof cand) {
                size_t d;
                memcpy(cand, p, l);
                cand[l] = 0;
                d = hil_edit_distance(flag, cand, best);
                if (d < best) { best = d; hil__sfmt(out, size, "%s", cand); }
            }
            p += l + (p[l] == ',');
        }
    }
}

static hil_result hil__usage_error(const char* fmt, ...) HIL__PRINTF(1, 2);
static hil_result hil__usage_error(const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    hil_errorv(HIL_ERR_INVALID_ARG, fmt, ap);
    va_end(ap);
    hil__app.exit_code = 2;
    return HIL_ERR_INVALID_ARG;
}

static hil_result hil__cli_set(const hil_option* o, const char* flag, const char* value) {
    char src[96];
    hil__sfmt(src, sizeof src, "command line %s", flag);
    if (hil_option_check_value(o, flag, value, "command line") != HIL_OK)
        return hil__usage_error("%s", hil_last_error());
    return hil_config_set(hil__app.cfg, o->key, value, HIL_PRIO_CLI, src);
}

static hil_result hil__cli_add_pos(const char* arg) {
    char** p = (char**)HIL_REALLOC(hil__app.pos, (size_t)(hil__app.n_pos + 2) * sizeof *p);
    if (!p) return hil_error(HIL_ERR_NO_MEMORY, "out of memory");
    hil__app.pos = p;
    p[hil__app.n_pos++] = (char*)arg;
    p[hil__app.n_pos] = NULL;
    return HIL_OK;
}

static hil_result hil__cli_count(const hil_option* o, const char* flag) {
    long long n = hil_config_get_int(hil__app.cfg, o->key, 0);
    char buf[32];
    hil__sfmt(buf, sizeof buf, "%lld", n + 1);
    hil_config_unset(hil__app.cfg, o->key);
    return hil__cli_set(o, flag, buf);
}

/* Parse argv for command c; argv[skip] is the command's name (0: none). */
static hil_result hil__cli_parse(int argc, char** argv, int skip, const hil_command* c) {
    int i;
    for (i = 1; i < argc; i++) {
        const char* a = argv[i];
        if (i == skip) continue;
        const hil_option* o;
        const char* eq;
        size_t flen;
        int elsewhere;
        if (strcmp(a, "--") == 0) {
            for (i++; i < argc; i++)
                if (hil__cli_add_pos(argv[i]) != HIL_OK) return HIL_ERR_NO_MEMORY;
            break;
        }
        if (a[0] != '-' || a[1] == 0) {
            if (hil__cli_add_pos(a) != HIL_OK) return HIL_ERR_NO_MEMORY;
            continue;
        }
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) { hil__app.help = 1; continue; }
        if (strcmp(a, "--set") == 0 || strncmp(a, "--set=", 6) == 0) {
            const char* kv = a[5] == '=' ? a + 6 : (i + 1 < argc ? argv[++i] : NULL);
            const char* e2 = kv ? strchr(kv, '=') : NULL;
            char key[512];
            if (!e2 || e2 == kv || (size_t)(e2 - kv) >= sizeof key)
                return hil__usage_error("--set needs KEY=VALUE, got '%s'", kv ? kv : "nothing");
            memcpy(key, kv, (size_t)(e2 - kv));
            key[e2 - kv] = 0;
            if (hil_config_set(hil__app.cfg, key, e2 + 1, HIL_PRIO_CLI, "command line --set") != HIL_OK)
                return HIL_ERR_NO_MEMORY;
            continue;
        }
        eq = a[1] == '-' ? strchr(a, '=') : NULL;
        flen = eq ? (size_t)(eq - a) : strlen(a);
        o = hil__cli_find(a, flen, c, &elsewhere);
        if (!o && a[1] != '-' && flen > 2) {
            /* "-vv": a repeated short counting flag */
            size_t k;
            int same = 1;
            for (k = 2; k < flen; k++)
                if (a[k] != a[1]) same = 0;
            if (same) {
                o = hil__cli_find(a, 2, c, &elsewhere);
                if (o && o->type == HIL_OPT_COUNT) {
                    for (k = 1; k < flen; k++)
                        if (hil__cli_count(o, a) != HIL_OK) return HIL_ERR_INVALID_ARG;
                    continue;
                }
                o = NULL;
            }
        }
        if (!o) {
            char sug[64];
            if (c && c->pass_unknown) {
                if (hil__cli_add_pos(a) != HIL_OK) return HIL_ERR_NO_MEMORY;
                continue;
            }
            if (elsewhere)
                return hil__usage_error("option %.*s does not apply to the '%s' command (see '%s help %s')", (int)flen,
                                        a, c ? c->name : "?", argv[0], c ? c->name : "");
            {
                char flag[64];
                hil__sfmt(flag, sizeof flag, "%.*s", (int)(flen < 60 ? flen : 60), a);
                hil__cli_suggest(flag, c, sug, sizeof sug);
            }
            return hil__usage_error("unknown option '%.*s'%s%s%s (see '%s --help')", (int)flen, a,
                                    sug[0] ? "; did you mean '" : "", sug, sug[0] ? "'?" : "", argv[0]);
        }
        if (o->type == HIL_OPT_FLAG) {
            if (eq) { if (hil__cli_set(o, a, eq + 1) != HIL_OK) return HIL_ERR_INVALID_ARG; }
            else if (hil__cli_set(o, a, o->implicit ? o->implicit : "true") != HIL_OK) return HIL_ERR_INVALID_ARG;
            continue;
        }
        if (o->type == HIL_OPT_COUNT) {
            if (hil__cli_count(o, a) != HIL_OK) return HIL_ERR_INVALID_ARG;
            continue;
        }
        if (eq) {
            if (hil__cli_set(o, a, eq + 1) != HIL_OK) return HIL_ERR_INVALID_ARG;
        } else if (o->implicit) {
            if (hil__cli_set(o, a, o->implicit) != HIL_OK) return HIL_ERR_INVALID_ARG;
        } else if (i + 1 < argc) {
            char flag[64];
            hil__sfmt(flag, sizeof flag, "%.*s", (int)(flen < 60 ? flen : 60), a);
            if (hil__cli_set(o, flag, argv[++i]) != HIL_OK) return HIL_ERR_INVALID_ARG;
        } else {
            return hil__usage_error("option %s needs a value%s%s", a, o->metavar ? " " : "",
                                    o->metavar ? o->metavar : "");
        }
    }
    return HIL_OK;
}

/* Does a command-line flag take the next argument as its value? */
static int hil__cli_takes_value(const char* a) {
    hil_option* o;
    size_t len = strcspn(a, "=");
    if (a[len] == '=') return 0;
    if (strcmp(a, "--set") == 0) return 1;
    for (o = hil__options_head; o; o = o->next) {
        const char* p = o->cli;
        while (p && *p) {
            size_t l = strcspn(p, ",");
            if (l == len && strncmp(p, a, len) == 0)
                return o->type != HIL_OPT_FLAG && o->type != HIL_OPT_COUNT && !o->implicit;
            p += l + (p[l] == ',');
        }
    }
    return 0;
}

/* Which command? The first argument that is not an option (or an option's
 * value) when it names a command, else "run". Returns its index, or 0. */
static int hil__cli_command(int argc, char** argv, const char** name) {
    int i;
    *name = "run";
    for (i = 1; i < argc; i++) {
        const char* a = argv[i];
        if (strcmp(a, "--") == 0) return 0;
        if (a[0] == '-' && a[1]) {
            if (hil__cli_takes_value(a)) i++;
            continue;
        }
        if (hil__command_find(a)) {
            *name = a;
            return i;
        }
        return 0;
    }
    return 0;
}

/* -c FILE / --config FILE and --enable/--disable NAME, read before the
 * command line proper because they change what gets loaded. */
static hil_result hil__cli_prescan(int argc, char** argv) {
    int i, n_files = 0;
    for (i = 1; i < argc; i++) {
        const char* a = argv[i];
        const char* v = NULL;
        if (strcmp(a, "--") == 0) break;
        if (strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) {
            if (i + 1 >= argc) return hil__usage_error("%s needs a file name", a);
            v = argv[++i];
        } else if (strncmp(a, "--config=", 9) == 0) {
            v = a + 9;
        }
        if (v) {
            int prio = HIL_PRIO_FILE + n_files++;
            hil_result r;
            if (prio > HIL_PRIO_FILE_MAX) prio = HIL_PRIO_FILE_MAX;
            hil_config_set(hil__app.cfg, "config.files", v, HIL_PRIO_CLI, "command line -c");
            r = hil_config_load_file(hil__app.cfg, v, prio);
            if (r != HIL_OK) { hil__app.exit_code = 3; return r; }
            continue;
        }
        if (strcmp(a, "--enable") == 0 || strcmp(a, "--disable") == 0) {
            int en = a[2] == 'e';
            if (i + 1 >= argc) return hil__usage_error("%s needs an extension name", a);
            v = argv[++i];
            if (!hil_extension_find(v)) return hil__usage_error("%s: no extension named '%s' (see the 'extensions' command)", a, v);
            hil__app.overrides[hil__app.n_overrides % HIL__COUNTOF(hil__app.overrides)].name = v;
            hil__app.overrides[hil__app.n_overrides % HIL__COUNTOF(hil__app.overrides)].enabled = en;
            hil__app.n_overrides++;
        }
    }
    return HIL_OK;
}

/* ==========================================================================
 * The test runner
 *
 * The supervisor (the process that called hil_run_tests) forks a worker
 * that runs the plan and streams events back over a pipe: test start,
 * failures, warnings, log records, test end. The worker's stdout and stderr
 * go through a second pipe and are attributed to the running test. When the
 * worker dies or a test overruns its timeout, the supervisor records the
 * result and forks a new worker that goes on with the next test; it holds
 * every result, so reports are complete whatever the tests do.
 * ========================================================================== */

#ifdef __cplusplus
#define HIL__DEFINE_CONST extern const
#else
#define HIL__DEFINE_CONST const
#endif

HIL__DEFINE_CONST hil_endpoint HIL_EP_RUN = {"run", "The test runner: run, suite and test life cycle, log records"};
HIL__DEFINE_CONST hil_message_def HIL_MSG_RUN_STARTED = {"run_started", "A run begins (data: hil_run_summary*)"};
HIL__DEFINE_CONST hil_message_def HIL_MSG_SUITE_STARTED = {"suite_started", "A suite's first test starts (data: suite name)"};
HIL__DEFINE_CONST hil_message_def HIL_MSG_TEST_STARTED = {"test_started", "A test starts (data: hil_test_result*)"};
HIL__DEFINE_CONST hil_message_def HIL_MSG_TEST_FINISHED = {"test_finished", "A test has a result (data: hil_test_result*)"};
HIL__DEFINE_CONST hil_message_def HIL_MSG_SUITE_FINISHED = {"suite_finished", "A suite's last test ended (data: suite name)"};
HIL__DEFINE_CONST hil_message_def HIL_MSG_RUN_FINISHED = {"run_finished", "A run ended; reports are written now (data: hil_run_summary*)"};
HIL__DEFINE_CONST hil_message_def HIL_MSG_LOG = {"log", "A log record (data: hil_log_record*)"};
HIL__DEFINE_CONST hil_message_def HIL_MSG_RUN_TICK = {"run_tick", "About twice a second while tests run, for live displays"};

enum {
    HIL__EV_TEST_START = 1,
    HIL__EV_FAILURE,
    HIL__EV_WARNING,
    HIL__EV_LOG,
    HIL__EV_TEST_END,
    HIL__EV_SETUP_BEGIN,
    HIL__EV_TEARDOWN_BEGIN,
    HIL__EV_TEARDOWN_END,
    HIL__EV_DONE,
    HIL__EV_CASE
};

#define HIL__PHASE_IDLE 0
#define HIL__PHASE_SETUP 1
#define HIL__PHASE_TEST 2
#define HIL__PHASE_TEARDOWN 3
#define HIL__MAX_FAILURES 64
#define HIL__MAX_EVENT (1u << 24)

typedef struct hil__plan_item { hil__test* t; int iteration; } hil__plan_item;

typedef struct hil__run {
    hil_run_options o;
    hil_bus* bus;
    hil__plan_item* plan;
    size_t n_plan;
    hil_run_summary* sum;
    size_t results_cap;
    pthread_mutex_t mu;          /* recursive: reporters may log */
    /* the supervisor's view of the worker */
    long cur;                    /* index in sum->results of the running test, or -1 */
    size_t cur_plan;             /* plan index of the running (or last) test */
    int cur_attempt;
    int phase;
    double phase_timeout;
    uint64_t phase_deadline;
    size_t next_plan;            /* first plan index without a result */
    const char* open_suite;      /* for SUITE_STARTED/FINISHED */
    int stop;                    /* fail-fast or interrupted */
    int worker_done;
    int crash_noted;             /* the retried attempt's end is in the output already */
    size_t max_output;
    hil_strbuf orphan;           /* output outside any test */
    /* the worker's side */
    int ev_fd;                   /* -1: in-process, events are function calls */
    pthread_mutex_t emit_mu;
    hil_strbuf ev;               /* encoding buffer */
    /* after a test's end the worker holds its events and markers, and
     * writes them with the next boundary that runs user code (or at exit):
     * one write per pipe per test rather than three, and fewer wake-ups of
     * the supervisor */
    int ev_hold;
    hil_strbuf ev_pend, out_pend;
    struct hil__synthetic* synthetic;
    /* hil_report_case: the running test's cases from attempts whose fate is
     * not known yet (the test may still be retried), in arrival order */
    struct hil__held_case* held;
    int sup_outfd;               /* supervisor: the worker's stdout/stderr pipe */
    /* Events and output travel in two pipes. Before each boundary event the
     * worker writes a marker with a sequence number into the output pipe;
     * the supervisor holds a boundary event back until the output stream
     * has passed its marker, so every byte lands in the right test. */
    char marker[32];             /* "\x1eHIL<nonce>:" */
    size_t marker_len;
    uint32_t seq;                /* worker: last marker written */
    uint32_t out_seq;            /* supervisor: last marker reached in the output */
    uint32_t ev_seq;             /* supervisor: last boundary event handled */
    int out_open;                /* supervisor: markers are still coming */
    hil_strbuf out_carry;        /* output that may end in half a marker */
} hil__run;

typedef struct hil__synthetic { hil__test t; struct hil__synthetic* next; } hil__synthetic;

static hil__run* hil__cur_run;
static int hil__in_worker;

/* ---- results -------------------------------------------------------- */

static hil_test_result* hil__result_new(hil__run* R, const hil_test_info* info, int iteration) {
    hil_test_result* r;
    if (R->sum->n_results == R->results_cap) {
        size_t cap = R->results_cap ? R->results_cap * 2 : 16;
        hil_test_result* p = (hil_test_result*)HIL_REALLOC(R->sum->results, cap * sizeof *p);
        if (!p) return NULL;
        R->sum->results = p;
        R->results_cap = cap;
    }
    r = &R->sum->results[R->sum->n_results++];
    memset(r, 0, sizeof *r);
    r->test = info;
    r->iteration = iteration;
    r->attempts = 1;
    r->start_wall_ns = hil_wall_ns();
    return r;
}

static void hil__result_output(hil__run* R, hil_test_result* r, const char* data, size_t len) {
    static const char note[] = "\n[hil: output limit reached (run.max_output); the rest of this test's output is dropped]\n";
    size_t room, add, extra;
    char* p;
    if (!len || r->output_len >= R->max_output) return;
    room = R->max_output - r->output_len;
    add = len > room ? room : len;
    extra = len > room ? sizeof note - 1 : 0;
    p = (char*)HIL_REALLOC(r->output, r->output_len + add + extra + 1);
    if (!p) return;
    memcpy(p + r->output_len, data, add);
    r->output_len += add;
    if (extra) {
        memcpy(p + r->output_len, note, extra);
        r->output_len += extra;
    }
    p[r->output_len] = 0;
    r->output = p;
}

static void hil__result_free(hil_test_result* r) {
    size_t i;
    HIL_FREE(r->reason);
    HIL_FREE(r->output);
    for (i = 0; i < r->n_failures; i++) {
        HIL_FREE(r->failures[i].file);
        HIL_FREE(r->failures[i].message);
    }
    HIL_FREE(r->failures);
    for (i = 0; i < r->n_warnings; i++) HIL_FREE(r->warnings[i]);
    HIL_FREE(r->warnings);
}

HIL_API void hil_run_summary_free(hil_run_summary* s) {
    size_t i;
    hil__synthetic* syn;
    if (!s) return;
    for (i = 0; i < s->n_results; i++) hil__result_free(&s->results[i]);
    HIL_FREE(s->results);
    syn = (hil__synthetic*)s->internal;
    while (syn) {
        hil__synthetic* next = syn->next;
        HIL_FREE((char*)syn->t.info.full_name);
        HIL_FREE((char*)syn->t.info.name);
        HIL_FREE(syn);
        syn = next;
    }
    HIL_FREE(s);
}

HIL_API hil_test_info* hil_run_summary_add_info(hil_run_summary* s, const char* suite, const char* name,
                                                const char* tags, const char* file, int line) {
    /* One block "suite.name\0suite\0tags\0file\0" holds the strings, so
     * hil_run_summary_free releases them with full_name. */
    hil__synthetic* syn;
    size_t ls, ln, lt, lf;
    char* block;
    if (!s || !suite || !name) return NULL;
    ls = strlen(suite);
    ln = strlen(name);
    lt = tags ? strlen(tags) : 0;
    lf = file ? strlen(file) : 0;
    syn = (hil__synthetic*)hil__calloc(1, sizeof *syn);
    block = (char*)HIL_MALLOC(ls + ln + 2 + ls + 1 + lt + 1 + lf + 1);
    if (!syn || !block || !(syn->t.info.name = hil_strdup(name))) {
        HIL_FREE(syn);
        HIL_FREE(block);
        return NULL;
    }
    memcpy(block, suite, ls);
    block[ls] = '.';
    memcpy(block + ls + 1, name, ln + 1);
    syn->t.info.full_name = block;
    block += ls + ln + 2;
    memcpy(block, suite, ls + 1);
    syn->t.info.suite = block;
    block += ls + 1;
    memcpy(block, tags ? tags : "", lt + 1);
    syn->t.info.tags = block;
    block += lt + 1;
    memcpy(block, file ? file : "", lf + 1);
    syn->t.info.file = block;
    syn->t.info.line = line;
    syn->t.info.requires = "";
    syn->t.info.attempt = 1;
    syn->t.info.iteration = 1;
    syn->t.info.index = -1;
    syn->next = (hil__synthetic*)s->internal;
    s->internal = syn;
    return &syn->t.info;
}

HIL_API size_t hil_summary_failed(const hil_run_summary* s) {
    return s->counts[HIL_FAILED] + s->counts[HIL_ERRORED] + s->counts[HIL_ABORTED] + s->counts[HIL_BLOCKED];
}
HIL_API size_t hil_summary_passed(const hil_run_summary* s) { return s->counts[HIL_PASSED] + s->counts[HIL_PASSX]; }

/* ---- supervisor-side event handlers ---------------------------------------- */

static void hil__lock(hil__run* R) { pthread_mutex_lock(&R->mu); }
static void hil__unlock(hil__run* R) { pthread_mutex_unlock(&R->mu); }

static void hil__suite_switch(hil__run* R, const char* suite) {
    if (R->open_suite && suite && strcmp(R->open_suite, suite) == 0) return;
    if (R->open_suite) hil_bus_trigger(R->bus, &HIL_MSG_SUITE_FINISHED, &HIL_EP_RUN, NULL, R->open_suite, 0);
    R->open_suite = suite;
    if (suite) hil_bus_trigger(R->bus, &HIL_MSG_SUITE_STARTED, &HIL_EP_RUN, NULL, suite, 0);
}

static double hil__timeout_for(hil__run* R, const hil_test_info* t) {
    return t && t->timeout_s > 0 ? t->timeout_s : R->o.timeout_s;
}

static void hil__on_test_start(hil__run* R, size_t plan, int attempt) {
    hil_test_result* r;
    const hil_test_info* info;
    hil__lock(R);
    if (plan >= R->n_plan) { hil__unlock(R); return; }
    info = &R->plan[plan].t->info;
    if (R->cur >= 0 && R->cur_plan == plan) {
        /* a retry: keep what happened as output, start the result afresh */
        size_t i;
        hil_strbuf note = {0, 0, 0, 0};
        r = &R->sum->results[R->cur];
        if (!R->crash_noted) {
            hil_sb_printf(&note, "[hil: attempt %d %s: %s]\n", r->attempts, hil_outcome_str(HIL_FAILED),
                          r->reason ? r->reason : "");
            hil__result_output(R, r, note.data, note.len);
            hil_sb_free(&note);
        }
        R->crash_noted = 0;
        for (i = 0; i < r->n_failures; i++) {
            HIL_FREE(r->failures[i].file);
            HIL_FREE(r->failures[i].message);
        }
        r->n_failures = 0;
        HIL_FREE(r->reason);
        r->reason = NULL;
        r->attempts = attempt;
    } else {
        hil__suite_switch(R, info->suite);
        r = hil__result_new(R, info, R->plan[plan].iteration);
        if (!r) { hil__unlock(R); return; }
        r->attempts = attempt;
        R->cur = (long)(r - R->sum->results);
        R->cur_plan = plan;
        hil_bus_trigger(R->bus, &HIL_MSG_TEST_STARTED, &HIL_EP_RUN, NULL, r, 0);
    }
    R->cur_attempt = attempt;
    R->phase = HIL__PHASE_TEST;
    R->phase_timeout = hil__timeout_for(R, info);
    R->phase_deadline = hil_deadline_s(R->phase_timeout);
    hil__unlock(R);
}

static void hil__on_failure(hil__run* R, const char* file, int line, const char* msg) {
    hil_test_result* r;
    hil__lock(R);
    if (R->cur < 0) {
        hil_sb_printf(&R->orphan, "%s:%d: %s\n", file, line, msg);
        hil__unlock(R);
        return;
    }
    r = &R->sum->results[R->cur];
    if (!r->reason) {
        hil_strbuf sb = {0, 0, 0, 0};
        if (file && *file) hil_sb_printf(&sb, "%s:%d: ", file, line);
        hil_sb_puts(&sb, msg);
        r->reason = hil_sb_take(&sb);
    }
    if (r->n_failures < HIL__MAX_FAILURES) {
        hil_failure* f = (hil_failure*)HIL_REALLOC(r->failures, (r->n_failures + 1) * sizeof *f);
        if (f) {
            r->failures = f;
            f[r->n_failures].file = hil_strdup(file);
            f[r->n_failures].line = line;
            f[r->n_failures].message = hil_strdup(msg);
            r->n_failures++;
        }
    } else {
        /* counted, not listed: n_failures stays the size of the array */
        if (r->n_failures_dropped++ == 0) {
            static const char note[] = "[hil: more than 64 failed checks; the rest are counted, not listed]\n";
            hil__result_output(R, r, note, sizeof note - 1);
        }
    }
    hil__unlock(R);
}

static void hil__on_warning(hil__run* R, const char* msg) {
    hil_test_result* r;
    char** w;
    hil__lock(R);
    if (R->cur < 0) {
        hil_sb_printf(&R->orphan, "warning: %s\n", msg);
        hil__unlock(R);
        return;
    }
    r = &R->sum->results[R->cur];
    w = (char**)HIL_REALLOC(r->warnings, (r->n_warnings + 1) * sizeof *w);
    if (w) {
        r->warnings = w;
        w[r->n_warnings++] = hil_strdup(msg);
    }
    hil__unlock(R);
}

static void hil__on_log(hil__run* R, const hil_log_record* rec) {
    hil_strbuf line = {0, 0, 0, 0};
    hil__lock(R);
    hil_bus_trigger(R->bus, &HIL_MSG_LOG, &HIL_EP_RUN, rec->logger, rec, 0);
    hil__log_format_line(&line, rec, 0);
    if (R->cur >= 0) hil__result_output(R, &R->sum->results[R->cur], line.data, line.len);
    hil__unlock(R);
    hil_sb_free(&line);
}

static void hil__on_output(hil__run* R, const char* data, size_t len) {
    hil__lock(R);
    if (R->cur >= 0) hil__result_output(R, &R->sum->results[R->cur], data, len);
    else if (R->orphan.len < R->max_output) hil_sb_append(&R->orphan, data, len);
    hil__unlock(R);
}

static void hil__finish_result(hil__run* R, hil_test_result* r, hil_outcome o, uint64_t duration_ns,
                               const char* reason) {
    r->outcome = o;
    r->duration_ns = duration_ns;
    if (reason && *reason && (!r->reason || o == HIL_ERRORED || o == HIL_ABORTED || o == HIL_BLOCKED)) {
        if (r->reason && (o == HIL_ERRORED || o == HIL_ABORTED) && !strstr(r->reason, reason)) {
            /* keep the earlier failure visible in the output */
            hil_strbuf sb = {0, 0, 0, 0};
            hil_sb_printf(&sb, "[hil: before that: %s]\n", r->reason);
            hil__result_output(R, r, sb.data, sb.len);
            hil_sb_free(&sb);
        }
        HIL_FREE(r->reason);
        r->reason = hil_strdup(reason);
    }
    R->sum->counts[o]++;
    hil_bus_trigger(R->bus, &HIL_MSG_TEST_FINISHED, &HIL_EP_RUN, NULL, r, 0);
    if (R->o.fail_fast && hil_outcome_is_failure(o)) R->stop = 1;
}

static void hil__held_publish(hil__run* R);

static void hil__on_test_end(hil__run* R, size_t plan, hil_outcome o, uint64_t duration_ns, const char* reason) {
    hil__lock(R);
    if (R->cur >= 0 && R->cur_plan == plan) {
        hil__held_publish(R);
        hil__finish_result(R, &R->sum->results[R->cur], o, duration_ns, reason);
        R->cur = -1;
        R->phase = HIL__PHASE_IDLE;
        R->next_plan = plan + 1;
    }
    hil__unlock(R);
}

static void hil__on_phase(hil__run* R, int phase, size_t plan) {
    const hil__suite* s;
    hil__lock(R);
    if (plan < R->n_plan) {
        s = R->plan[plan].t->suite;
        R->phase = phase;
        R->cur_plan = plan;
        R->phase_timeout = s->timeout_s > 0 ? s->timeout_s : R->o.timeout_s;
        R->phase_deadline = hil_deadline_s(R->phase_timeout);
    }
    hil__unlock(R);
}

/* A result that is not a registered test: a suite's teardown that failed. */
static hil_test_result* hil__synthetic_result(hil__run* R, const hil__suite* s, const char* what) {
    hil__synthetic* syn = (hil__synthetic*)hil__calloc(1, sizeof *syn);
    hil_strbuf sb = {0, 0, 0, 0};
    if (!syn) return NULL;
    syn->t.info.suite = s->name;
    syn->t.info.name = hil_strdup(what);
    hil_sb_printf(&sb, "%s.%s", s->name, what);
    syn->t.info.full_name = hil_sb_take(&sb);
    syn->t.info.suite_id = s->id;
    syn->t.info.tags = "";
    syn->t.info.requires = "";
    syn->t.info.file = "";
    syn->t.info.attempt = 1;
    syn->t.info.iteration = 1;
    syn->t.info.index = -1;
    syn->t.suite = (hil__suite*)s;
    syn->next = R->synthetic;
    R->synthetic = syn;
    return hil__result_new(R, &syn->t.info, 1);
}

static void hil__on_teardown_end(hil__run* R, size_t plan, hil_outcome o, const char* reason) {
    hil__lock(R);
    R->phase = HIL__PHASE_IDLE;
    if (o != HIL_PASSED && plan < R->n_plan) {
        hil_test_result* r = hil__synthetic_result(R, R->plan[plan].t->suite, "teardown");
        if (r) {
            R->cur = (long)(r - R->sum->results);
            hil_bus_trigger(R->bus, &HIL_MSG_TEST_STARTED, &HIL_EP_RUN, NULL, r, 0);
            hil__finish_result(R, r, o == HIL_SKIPPED ? HIL_FAILED : o, 0, reason);
            R->cur = -1;
        }
    }
    hil__unlock(R);
}

/* A case reported by the running test (hil_report_case): a result of its
 * own between the running test's start and end; the running test stays
 * current, so its own output and failures still land in it. history: what
 * earlier attempts of the running test did with this case (their output and
 * an "[hil: attempt N ...]" line each, as a retried test keeps them), and
 * attempts how many ran it, this one included. */
static void hil__publish_case(hil__run* R, const hil_case_report* c, const char* history, int attempts,
                              int failed_before, uint64_t ended_wall_ns) {
    hil__synthetic* syn;
    hil_test_result* r;
    const char* suite = c->suite && *c->suite ? c->suite : NULL;
    size_t ls, ln, lf;
    char* block;
    long saved;
    hil__lock(R);
    if (!suite) suite = R->cur >= 0 ? R->sum->results[R->cur].test->suite : "harvest";
    ls = strlen(suite);
    ln = strlen(c->name);
    lf = c->file ? strlen(c->file) : 0;
    syn = (hil__synthetic*)hil__calloc(1, sizeof *syn);
    /* "suite.name\0suite\0file\0" in one block, freed with full_name */
    block = (char*)HIL_MALLOC(ls + 1 + ln + 1 + ls + 1 + lf + 1);
    if (!syn || !block || !(syn->t.info.name = hil_strdup(c->name))) {
        HIL_FREE(syn);
        HIL_FREE(block);
        hil__unlock(R);
        return;
    }
    memcpy(block, suite, ls);
    block[ls] = '.';
    memcpy(block + ls + 1, c->name, ln + 1);
    syn->t.info.full_name = block;
    memcpy(block + ls + ln + 2, suite, ls + 1);
    syn->t.info.suite = block + ls + ln + 2;
    memcpy(block + 2 * ls + ln + 3, c->file ? c->file : "", lf + 1);
    syn->t.info.file = block + 2 * ls + ln + 3;
    syn->t.info.line = c->line;
    syn->t.info.tags = "";
    syn->t.info.requires = "";
    syn->t.info.attempt = attempts;
    syn->t.info.iteration = 1;
    syn->t.info.index = -1;
    syn->next = R->synthetic;
    R->synthetic = syn;
    saved = R->cur;
    r = hil__result_new(R, &syn->t.info, 1);
    if (!r) { hil__unlock(R); return; }
    r->attempts = attempts;
    if (ended_wall_ns) r->start_wall_ns = ended_wall_ns; /* it was held: when it ended, not now */
    if (c->duration_ns && r->start_wall_ns > c->duration_ns) r->start_wall_ns -= c->duration_ns;
    R->cur = (long)(r - R->sum->results);
    hil_bus_trigger(R->bus, &HIL_MSG_TEST_STARTED, &HIL_EP_RUN, NULL, r, 0);
    if (history && *history) hil__result_output(R, r, history, strlen(history));
    if (c->output && *c->output) hil__result_output(R, r, c->output, strlen(c->output));
    if (hil_outcome_is_failure(c->outcome) && c->reason && *c->reason) {
        /* R->mu is recursive: hil__on_failure takes it again */
        hil__on_failure(R, c->file && *c->file ? c->file : "", c->file && *c->file ? c->line : 0, c->reason);
    }
    /* failed in an earlier attempt, passed in the last: flaky, as a test */
    hil__finish_result(R, r, c->outcome == HIL_PASSED && failed_before ? HIL_PASSX : c->outcome, c->duration_ns,
                       c->reason);
    R->cur = saved;
    hil__unlock(R);
}

/* A case of an attempt that may still be retried waits here: reported at
 * once, the cases of a failed attempt would stay in every report and the
 * next attempt would add them again. The last attempt's cases are the
 * results; what earlier attempts did with a case is kept in its output
 * (a case that failed, then passed, is Passx); a case only earlier attempts
 * ran is dropped, with a note in the running test's output. */
typedef struct hil__held_case {
    hil_case_report c;             /* the latest attempt's report; strings owned */
    int attempt;                   /* the running test's attempt that reported it */
    int attempts;                  /* attempts that ran it, this one included */
    int failed_before;             /* it failed in an earlier attempt */
    uint64_t ended_wall_ns;        /* when the latest report arrived */
    hil_strbuf history;            /* earlier attempts: output and a note each */
    struct hil__held_case* next;
} hil__held_case;

static void hil__held_report_free(hil_case_report* c) {
    HIL_FREE((char*)c->suite);
    HIL_FREE((char*)c->name);
    HIL_FREE((char*)c->reason);
    HIL_FREE((char*)c->file);
    HIL_FREE((char*)c->output);
    memset(c, 0, sizeof *c);
}

static int hil__held_report_copy(hil_case_report* dst, const hil_case_report* c) {
    *dst = *c;
    dst->suite = hil_strdup(c->suite);
    dst->name = hil_strdup(c->name);
    dst->reason = hil_strdup(c->reason);
    dst->file = hil_strdup(c->file);
    dst->output = hil_strdup(c->output);
    if (!dst->name || (c->suite && !dst->suite) || (c->reason && !dst->reason) || (c->file && !dst->file) ||
        (c->output && !dst->output)) {
        hil__held_report_free(dst);
        return 0;
    }
    return 1;
}

static int hil__same_case(const hil_case_report* a, const hil_case_report* b) {
    return strcmp(a->name, b->name) == 0 && strcmp(a->suite ? a->suite : "", b->suite ? b->suite : "") == 0;
}

/* The case of an earlier attempt with c's name, or NULL. */
static hil__held_case* hil__held_find(hil__run* R, const hil_case_report* c, int attempt) {
    hil__held_case* h;
    for (h = R->held; h; h = h->next)
        if (h->attempt >= 0 && h->attempt < attempt && hil__same_case(&h->c, c)) return h;
    return NULL;
}

/* h's latest report becomes history: the attempt `attempt` ran it again. */
static void hil__held_fold(hil__held_case* h, int attempt) {
    if (h->c.output && *h->c.output) {
        hil_sb_puts(&h->history, h->c.output);
        if (h->c.output[strlen(h->c.output) - 1] != '\n') hil_sb_putc(&h->history, '\n');
    }
    hil_sb_printf(&h->history, "[hil: attempt %d %s%s%s]\n", h->attempt, hil_outcome_str(h->c.outcome),
                  h->c.reason && *h->c.reason ? ": " : "", h->c.reason ? h->c.reason : "");
    h->failed_before |= hil_outcome_is_failure(h->c.outcome);
    h->attempts++;
    h->attempt = attempt;
    hil__held_report_free(&h->c);
}

static void hil__held_free_all(hil__run* R) {
    while (R->held) {
        hil__held_case* next = R->held->next;
        hil__held_report_free(&R->held->c);
        hil_sb_free(&R->held->history);
        HIL_FREE(R->held);
        R->held = next;
    }
}

/* The running test's last attempt is over: its cases become results; cases
 * only earlier attempts ran are named in the running test's output. */
static void hil__held_publish(hil__run* R) {
    hil__held_case* h;
    hil_strbuf gone = {0, 0, 0, 0};
    int last = R->cur_attempt;
    hil__lock(R);
    for (h = R->held; h; h = h->next) {
        if (h->attempt < 0) continue; /* a result already, or lost to memory */
        if (h->attempt == last) {
            hil__publish_case(R, &h->c, hil_sb_cstr(&h->history), h->attempts, h->failed_before, h->ended_wall_ns);
        } else {
            hil_sb_printf(&gone, "[hil: case %s%s%s of attempt %d (%s) was not run by attempt %d: not a result]\n",
                          h->c.suite ? h->c.suite : "", h->c.suite ? "." : "", h->c.name, h->attempt,
                          hil_outcome_str(h->c.outcome), last);
        }
    }
    if (gone.len && R->cur >= 0) hil__result_output(R, &R->sum->results[R->cur], gone.data, gone.len);
    hil_sb_free(&gone);
    hil__held_free_all(R);
    hil__unlock(R);
}

static void hil__on_case(hil__run* R, const hil_case_report* c) {
    hil__held_case *h, **tail;
    const hil_test_info* info;
    int attempt;
    hil__lock(R);
    info = R->cur >= 0 ? R->sum->results[R->cur].test : NULL;
    attempt = R->cur_attempt;
    h = info ? hil__held_find(R, c, attempt) : NULL;
    if (info && attempt <= info->retries) {
        /* it may be retried: hold the case until the attempt's fate is known */
        if (h) {
            hil__held_fold(h, attempt);
            if (!hil__held_report_copy(&h->c, c)) h->attempt = -1;
            h->ended_wall_ns = hil_wall_ns();
        } else if ((h = (hil__held_case*)hil__calloc(1, sizeof *h)) != NULL) {
            if (hil__held_report_copy(&h->c, c)) {
                h->attempt = attempt;
                h->attempts = 1;
                h->ended_wall_ns = hil_wall_ns();
                for (tail = &R->held; *tail; tail = &(*tail)->next) {}
                *tail = h;
            } else {
                HIL_FREE(h);
            }
        }
        hil__unlock(R);
        return;
    }
    if (h) {
        /* the last attempt: the case is a result now, with its history */
        hil__held_fold(h, attempt);
        hil__publish_case(R, c, hil_sb_cstr(&h->history), h->attempts, h->failed_before, 0);
        h->attempt = -1; /* published: neither a result again nor "not run" */
    } else {
        hil__publish_case(R, c, NULL, 1, 0, 0);
    }
    hil__unlock(R);
}

/* ---- the worker's side: emitting events ------------------------------------ */

/* One event record in R->ev, written to the supervisor by hil__ev_send. */
static void hil__ev_begin(hil__run* R, int type) {
    pthread_mutex_lock(&R->emit_mu);
    hil_sb_clear(&R->ev);
    (void)hil__rec_begin(&R->ev, type);
}

/* emit_mu held: write what is held, markers before events (output after
 * marker k waits for event k in the supervisor). */
static void hil__ev_flush_locked(hil__run* R) {
    R->ev_hold = 0;
    if (R->out_pend.len) (void)hil_write_all(1, R->out_pend.data, R->out_pend.len);
    if (R->ev_pend.len && !R->ev_pend.failed) (void)hil_write_all(R->ev_fd, R->ev_pend.data, R->ev_pend.len);
    hil_sb_clear(&R->out_pend);
    hil_sb_clear(&R->ev_pend);
}

/* Before user code runs (a crash must not lose what is held) and at exit. */
static void hil__ev_flush(hil__run* R) {
    if (R->ev_fd < 0) return;
    pthread_mutex_lock(&R->emit_mu);
    hil__ev_flush_locked(R);
    pthread_mutex_unlock(&R->emit_mu);
}

/* hold: the event ends a step; it waits for the next flush. */
static void hil__ev_send_as(hil__run* R, int hold) {
    hil__rec_end(&R->ev, 0);
    /* The supervisor may be gone (killed): nothing useful to do then. */
    if (R->ev_hold || hold) {
        R->ev_hold = 1;
        if (!R->ev.failed) hil_sb_append(&R->ev_pend, R->ev.data, R->ev.len);
        if (!hold) hil__ev_flush_locked(R);
    } else if (!R->ev.failed) {
        (void)hil_write_all(R->ev_fd, R->ev.data, R->ev.len);
    }
    pthread_mutex_unlock(&R->emit_mu);
}

static void hil__ev_send(hil__run* R) { hil__ev_send_as(R, 0); }

/* Flush what the test printed and put a marker after it in the output pipe;
 * returns the marker's sequence number for the event that follows. */
static uint32_t hil__ev_mark(hil__run* R, int hold) {
    char buf[64], digits[12];
    size_t n, k = 0;
    uint32_t v;
    fflush(NULL);
    R->seq++;
    if (!R->o.capture) return R->seq;
    /* by hand: a fresh worker that formats with printf faults its code in */
    for (v = R->seq; k == 0 || v; v /= 10) digits[k++] = (char)('0' + v % 10);
    memcpy(buf, R->marker, R->marker_len);
    for (n = R->marker_len; k;) buf[n++] = digits[--k];
    buf[n++] = '\x1e';
    pthread_mutex_lock(&R->emit_mu);
    if (R->ev_hold || hold) {
        R->ev_hold = 1;
        hil_sb_append(&R->out_pend, buf, n);
    } else {
        (void)hil_write_all(1, buf, n);
    }
    pthread_mutex_unlock(&R->emit_mu);
    return R->seq;
}

static void hil__ev_boundary(hil__run* R, int type, int hold) {
    uint32_t seq = hil__ev_mark(R, hold);
    hil__ev_begin(R, type);
    hil__put_u32(&R->ev, seq);
}

static void hil__emit_test_start(hil__run* R, size_t plan, int attempt) {
    if (R->ev_fd < 0) { hil__on_test_start(R, plan, attempt); return; }
    hil__ev_boundary(R, HIL__EV_TEST_START, 0);
    hil__put_u32(&R->ev, (uint32_t)plan);
    hil__put_u32(&R->ev, (uint32_t)attempt);
    hil__ev_send(R);
}

static void hil__emit_test_end(hil__run* R, size_t plan, hil_outcome o, uint64_t dur, const char* reason) {
    if (R->ev_fd < 0) { hil__on_test_end(R, plan, o, dur, reason); return; }
    hil__ev_boundary(R, HIL__EV_TEST_END, 1);
    hil__put_u32(&R->ev, (uint32_t)plan);
    hil__put_u32(&R->ev, (uint32_t)o);
    hil__put_u64(&R->ev, dur);
    hil__put_str(&R->ev, reason);
    hil__ev_send_as(R, 1);
}

static void hil__emit_phase(hil__run* R, int type, size_t plan) {
    if (R->ev_fd < 0) {
        hil__on_phase(R, type == HIL__EV_SETUP_BEGIN ? HIL__PHASE_SETUP : HIL__PHASE_TEARDOWN, plan);
        return;
    }
    hil__ev_boundary(R, type, 0);
    hil__put_u32(&R->ev, (uint32_t)plan);
    hil__ev_send(R);
}

static void hil__emit_teardown_end(hil__run* R, size_t plan, hil_outcome o, const char* reason) {
    if (R->ev_fd < 0) { hil__on_teardown_end(R, plan, o, reason); return; }
    hil__ev_boundary(R, HIL__EV_TEARDOWN_END, 1);
    hil__put_u32(&R->ev, (uint32_t)plan);
    hil__put_u32(&R->ev, (uint32_t)o);
    hil__put_str(&R->ev, reason);
    hil__ev_send_as(R, 1);
}

static void hil__emit_done(hil__run* R) {
    if (R->ev_fd < 0) return;
    hil__ev_boundary(R, HIL__EV_DONE, 1);
    hil__ev_send_as(R, 1);
}

static hil__solo_check_fn hil__solo_check;
static void* hil__solo_check_user;

HIL__SHARED void hil__solo_on_check(hil__solo_check_fn fn, void* user) {
    hil__solo_check = fn;
    hil__solo_check_user = user;
}

/* In-process: a one-test task hears the check under R's lock, so that it
 * comes between the test's start and end as the run reports them. */
static void hil__solo_heard(hil__run* R, const char* file, int line, const char* msg) {
    if (!hil__solo_check) return;
    hil__lock(R);
    hil__solo_check(hil__solo_check_user, file, line, msg);
    hil__unlock(R);
}

static void hil__sink_failure_fn(const char* file, int line, const char* msg) {
    hil__run* R = hil__cur_run;
    if (!R) return;
    if (R->ev_fd < 0) {
        hil__solo_heard(R, file ? file : "", line, msg);
        hil__on_failure(R, file, line, msg);
        return;
    }
    hil__ev_begin(R, HIL__EV_FAILURE);
    hil__put_str(&R->ev, file);
    hil__put_u32(&R->ev, (uint32_t)line);
    hil__put_str(&R->ev, msg);
    hil__ev_send(R);
}

HIL_API hil_result hil_report_case(const hil_case_report* c) {
    hil__run* R = hil__cur_run;
    if (!c || !c->name || !*c->name || c->outcome <= HIL_NOT_RUN || c->outcome >= HIL_OUTCOME_COUNT)
        return hil_error(HIL_ERR_INVALID_ARG, "hil_report_case: a case needs a name and an outcome (Skipped..Aborted)");
    if (!R) return hil_error(HIL_ERR_STATE, "hil_report_case: case '%s': no test is running", c->name);
    if (R->ev_fd < 0) { hil__on_case(R, c); return HIL_OK; }
    hil__ev_begin(R, HIL__EV_CASE);
    hil__put_str(&R->ev, c->suite);
    hil__put_str(&R->ev, c->name);
    hil__put_u32(&R->ev, (uint32_t)c->outcome);
    hil__put_u64(&R->ev, c->duration_ns);
    hil__put_str(&R->ev, c->reason);
    hil__put_str(&R->ev, c->file);
    hil__put_u32(&R->ev, (uint32_t)c->line);
    hil__put_str(&R->ev, c->output);
    hil__ev_send(R);
    return HIL_OK;
}

static void hil__sink_warning_fn(const char* msg) {
    hil__run* R = hil__cur_run;
    if (!R) return;
    if (R->ev_fd < 0) {
        hil__solo_heard(R, NULL, 0, msg);
        hil__on_warning(R, msg);
        return;
    }
    hil__ev_begin(R, HIL__EV_WARNING);
    hil__put_str(&R->ev, msg);
    hil__ev_send(R);
}

/* The log router while a run is active (see hil_log_default_callback). */
static void hil__app_log_route(const hil_log_record* rec);

static void hil__run_log_route(const hil_log_record* rec) {
    hil__run* R = hil__cur_run;
    if (!R) { hil__app_log_route(rec); return; }
    if (R->ev_fd < 0) { hil__on_log(R, rec); return; }
    hil__ev_begin(R, HIL__EV_LOG);
    hil__put_u32(&R->ev, (uint32_t)rec->level);
    hil__put_u64(&R->ev, rec->wall_ns);
    hil__put_u32(&R->ev, (uint32_t)rec->pid);
    hil__put_u32(&R->ev, (uint32_t)rec->line);
    hil__put_str(&R->ev, rec->logger);
    hil__put_str(&R->ev, rec->file);
    hil__put_str(&R->ev, rec->message);
    hil__ev_send(R);
}

/* ---- the supervisor's side: decoding events ------------------------------ */

static int hil__is_boundary(int type) {
    return type != HIL__EV_FAILURE && type != HIL__EV_WARNING && type != HIL__EV_LOG && type != HIL__EV_CASE;
}

static void hil__dispatch_event(hil__run* R, int type, hil__rd* rd) {
    switch (type) {
    case HIL__EV_TEST_START: {
        uint32_t plan = hil__get_u32(rd), attempt = hil__get_u32(rd);
        if (!rd->bad) hil__on_test_start(R, plan, (int)attempt);
        break;
    }
    case HIL__EV_FAILURE: {
        char* file = hil__get_dup(rd, NULL);
        uint32_t line = hil__get_u32(rd);
        char* msg = hil__get_dup(rd, NULL);
        if (!rd->bad) hil__on_failure(R, file, (int)line, msg);
        HIL_FREE(file);
        HIL_FREE(msg);
        break;
    }
    case HIL__EV_WARNING: {
        char* msg = hil__get_dup(rd, NULL);
        if (!rd->bad) hil__on_warning(R, msg);
        HIL_FREE(msg);
        break;
    }
    case HIL__EV_LOG: {
        hil_log_record rec;
        char *logger, *file, *msg;
        rec.level = (hil_log_level)hil__get_u32(rd);
        rec.wall_ns = hil__get_u64(rd);
        rec.pid = (int)hil__get_u32(rd);
        rec.line = (int)hil__get_u32(rd);
        logger = hil__get_dup(rd, NULL);
        file = hil__get_dup(rd, NULL);
        msg = hil__get_dup(rd, NULL);
        rec.logger = logger;
        rec.file = file;
        rec.message = msg;
        if (!rd->bad && rec.level <= HIL_LOG_ERROR) hil__on_log(R, &rec);
        HIL_FREE(logger);
        HIL_FREE(file);
        HIL_FREE(msg);
        break;
    }
    case HIL__EV_TEST_END: {
        uint32_t plan = hil__get_u32(rd), o = hil__get_u32(rd);
        uint64_t dur = hil__get_u64(rd);
        char* reason = hil__get_dup(rd, NULL);
        if (!rd->bad && o < HIL_OUTCOME_COUNT) hil__on_test_end(R, plan, (hil_outcome)o, dur, reason);
        HIL_FREE(reason);
        break;
    }
    case HIL__EV_SETUP_BEGIN:
    case HIL__EV_TEARDOWN_BEGIN: {
        uint32_t plan = hil__get_u32(rd);
        if (!rd->bad)
            hil__on_phase(R, type == HIL__EV_SETUP_BEGIN ? HIL__PHASE_SETUP : HIL__PHASE_TEARDOWN, plan);
        break;
    }
    case HIL__EV_TEARDOWN_END: {
        uint32_t plan = hil__get_u32(rd), o = hil__get_u32(rd);
        char* reason = hil__get_dup(rd, NULL);
        if (!rd->bad && o < HIL_OUTCOME_COUNT) hil__on_teardown_end(R, plan, (hil_outcome)o, reason);
        HIL_FREE(reason);
        break;
    }
    case HIL__EV_DONE: R->worker_done = 1; break;
    case HIL__EV_CASE: {
        hil_case_report c;
        char *suite = hil__get_dup(rd, NULL), *name = hil__get_dup(rd, NULL);
        uint32_t o = hil__get_u32(rd);
        uint64_t dur = hil__get_u64(rd);
        char *reason = hil__get_dup(rd, NULL), *file = hil__get_dup(rd, NULL);
        uint32_t line = hil__get_u32(rd);
        char* output = hil__get_dup(rd, NULL);
        c.suite = suite;
        c.name = name;
        c.outcome = (hil_outcome)o;
        c.duration_ns = dur;
        c.reason = reason;
        c.file = file;
        c.line = (int)line;
        c.output = output;
        if (!rd->bad && o > HIL_NOT_RUN && o < HIL_OUTCOME_COUNT) hil__on_case(R, &c);
        HIL_FREE(suite);
        HIL_FREE(name);
        HIL_FREE(reason);
        HIL_FREE(file);
        HIL_FREE(output);
        break;
    }
    default: rd->bad = 1; break;
    }
}

/* Decode every complete event in buf; keep a partial one for later. */
static int hil__decode_events(hil__run* R, hil_strbuf* buf) {
    size_t off = 0;
    while (buf->len - off >= 5) {
        uint32_t len;
        hil__rd rd;
        memcpy(&len, buf->data + off, 4);
        if (len < 1 || len > HIL__MAX_EVENT) return 0;
        if (buf->len - off - 4 < len) break;
        rd.p = (const unsigned char*)buf->data + off + 5;
        rd.left = len - 1;
        rd.bad = 0;
        if (hil__is_boundary((unsigned char)buf->data[off + 4])) {
            uint32_t seq = hil__get_u32(&rd);
            if (rd.bad) return 0;
            if (R->out_open && seq > R->out_seq) break; /* its output is not all here yet */
            R->ev_seq = seq;
        }
        hil__dispatch_event(R, (unsigned char)buf->data[off + 4], &rd);
        if (rd.bad) return 0;
        off += 4 + len;
    }
    if (off) {
        memmove(buf->data, buf->data + off, buf->len - off);
        buf->len -= off;
        buf->data[buf->len] = 0;
    }
    return 1;
}

/* Interleave output and events until neither can move. */
static void hil__on_output_raw(hil__run* R, const char* data, size_t len, int final);

static void hil__pump(hil__run* R, hil_strbuf* evbuf, int* bad) {
    for (;;) {
        size_t out_before = R->out_carry.len, ev_before = evbuf->len;
        hil__on_output_raw(R, "", 0, 0);
        if (!hil__decode_events(R, evbuf)) { *bad = 1; return; }
        if (R->out_carry.len == out_before && evbuf->len == ev_before) return;
    }
}

/* ---- running tests (the worker, or in-process) ----------------------------- */

static hil_outcome hil__run_suite_fn(hil__run* R, hil__suite* s, hil_test_fn fn, const char* what, char* reason,
                                     size_t size) {
    hil__tctx ctx;
    hil_test_info info;
    hil_outcome o;
    char name[256];
    memset(&ctx, 0, sizeof ctx);
    memset(&info, 0, sizeof info);
    hil__sfmt(name, sizeof name, "%s.%s", s->name, what);
    info.suite = s->name;
    info.name = what;
    info.full_name = name;
    info.suite_id = s->id;
    info.tags = s->tags ? s->tags : "";
    info.requires = s->requires ? s->requires : "";
    info.attempt = 1;
    info.iteration = 1;
    info.index = -1;
    info.file = "";
    ctx.info = &info;
    {
        /* failures in setup/teardown are not a test's: keep them local */
        void (*saved)(const char*, int, const char*) = hil__sink_failure;
        hil__sink_failure = NULL;
        (void)R;
        o = hil__call_test_fn(&ctx, fn);
        hil__sink_failure = saved;
    }
    hil__sfmt(reason, size, "%s", ctx.reason);
    return o;
}

static hil_outcome hil__run_test(hil__run* R, size_t i, int first_attempt) {
    hil__test* t = R->plan[i].t;
    char reason[1024];
    size_t k;
    int attempt;
    if (t->info.skip_reason) {
        hil__emit_test_start(R, i, 1);
        hil__emit_test_end(R, i, HIL_SKIPPED, 0, t->info.skip_reason);
        return HIL_SKIPPED;
    }
    t->info.iteration = R->plan[i].iteration;
    for (k = 0; k < hil__reg.n_prechecks; k++) {
        hil_outcome o;
        reason[0] = 0;
        o = hil__reg.prechecks[k](&t->info, reason, sizeof reason);
        if (o != HIL_NOT_RUN) {
            hil__emit_test_start(R, i, 1);
            hil__emit_test_end(R, i, o, 0, reason[0] ? reason : hil_outcome_str(o));
            return o;
        }
    }
    for (attempt = first_attempt;; attempt++) {
        hil__tctx ctx;
        uint64_t t0;
        hil_outcome o;
        memset(&ctx, 0, sizeof ctx);
        t->info.attempt = attempt;
        ctx.info = &t->info;
        hil__emit_test_start(R, i, attempt);
        t0 = hil_now_ns();
        o = hil__call_test_fn(&ctx, t->fn);
        if (o == HIL_FAILED && attempt <= t->info.retries) continue;
        if (o == HIL_PASSED && attempt > 1) o = HIL_PASSX;
        hil__emit_test_end(R, i, o, hil_now_ns() - t0, ctx.reason);
        return o;
    }
}

static void hil__teardown(hil__run* R, hil__suite* s, size_t last) {
    char reason[1024];
    hil_outcome o;
    if (!s->teardown) return;
    hil__emit_phase(R, HIL__EV_TEARDOWN_BEGIN, last);
    o = hil__run_suite_fn(R, s, s->teardown, "teardown", reason, sizeof reason);
    hil__emit_teardown_end(R, last, o, reason);
}

/* Run plan[start..] (one test with single). Suite setup runs before a
 * suite's first test here, teardown after its last. */
static void hil__worker_run(hil__run* R, size_t start, int first_attempt, int single) {
    size_t i;
    hil__suite* open = NULL;
    hil__suite* blocked = NULL;
    hil_outcome blocked_as = HIL_BLOCKED;
    char blocked_reason[1100] = "";
    for (i = start; i < R->n_plan; i++) {
        hil__suite* s = R->plan[i].t->suite;
        hil_outcome o;
        if (R->stop || (R->ev_fd < 0 && hil_interrupt_count() > 0)) break;
        if (open && open != s) {
            hil__teardown(R, open, i - 1);
            open = NULL;
        }
        if (s != open && s != blocked) {
            blocked = NULL;
            if (s->setup) {
                char reason[1024];
                hil__emit_phase(R, HIL__EV_SETUP_BEGIN, i);
                o = hil__run_suite_fn(R, s, s->setup, "setup", reason, sizeof reason);
                if (o != HIL_PASSED) {
                    blocked = s;
                    blocked_as = o == HIL_SKIPPED ? HIL_SKIPPED : HIL_BLOCKED;
                    if (o == HIL_SKIPPED) hil__sfmt(blocked_reason, sizeof blocked_reason, "%s", reason);
                    else hil__sfmt(blocked_reason, sizeof blocked_reason, "suite setup failed: %s", reason);
                }
            }
            if (!blocked) open = s;
        }
        if (s == blocked) {
            hil__emit_test_start(R, i, 1);
            hil__emit_test_end(R, i, blocked_as, 0, blocked_reason);
            if (single) break;
            continue;
        }
        o = hil__run_test(R, i, i == start ? first_attempt : 1);
        if (R->o.fail_fast && hil_outcome_is_failure(o)) {
            R->stop = 1;
            i++;
            break;
        }
        if (single) { i++; break; }
    }
    if (open) hil__teardown(R, open, i > 0 ? i - 1 : 0);
}

/* ---- supervising workers ----------------------------------------------------- */

static volatile sig_atomic_t hil__hard_exit_pgids[16];

HIL_API void hil_track_child_group(int pgid, int add) {
    size_t i;
    for (i = 0; i < HIL__COUNTOF(hil__hard_exit_pgids); i++) {
        if (add && hil__hard_exit_pgids[i] == 0) { hil__hard_exit_pgids[i] = pgid; return; }
        if (!add && hil__hard_exit_pgids[i] == pgid) { hil__hard_exit_pgids[i] = 0; return; }
    }
}

HIL_API void hil_forked_child_reset(void) {
    size_t i;
    hil__interrupts = 0;
    if (hil__interrupts_installed) {
        hil_waker_destroy(&hil__interrupt_waker);
        hil_waker_init(&hil__interrupt_waker);
    }
    for (i = 0; i < HIL__COUNTOF(hil__hard_exit_pgids); i++) hil__hard_exit_pgids[i] = 0;
    hil__app.bus = NULL;
}

/* The second Ctrl-C ends the program at once (from the signal handler). */
static void hil__hard_exit(void) {
    static const char note[] = "\nhil: interrupted twice: exiting now (reports of this run are not written)\n";
    size_t i;
    for (i = 0; i < HIL__COUNTOF(hil__hard_exit_pgids); i++)
        if (hil__hard_exit_pgids[i] > 0) kill(-hil__hard_exit_pgids[i], SIGKILL);
    (void)!write(2, note, sizeof note - 1);
    _exit(130);
}

/* Output bytes from the worker: split at markers, attribute the rest. */
static void hil__on_output_raw(hil__run* R, const char* data, size_t len, int final) {
    hil_strbuf* c = &R->out_carry;
    size_t off = 0;
    hil_sb_append(c, data, len);
    while (off < c->len) {
        const char* start;
        /* output after marker k belongs after event k: wait for it */
        if (!final && R->out_seq > R->ev_seq) break;
        start = c->data + off;
        size_t left = c->len - off;
        const char* m = (const char*)memchr(start, '\x1e', left);
        size_t plain;
        if (!m) { hil__on_output(R, start, left); off = c->len; break; }
        plain = (size_t)(m - start);
        if (plain) hil__on_output(R, start, plain);
        off += plain;
        left -= plain;
        if (left < R->marker_len + 2) {
            if (!final && memcmp(m, R->marker, left < R->marker_len ? left : R->marker_len) == 0) break;
            hil__on_output(R, m, 1);
            off++;
            continue;
        }
        if (memcmp(m, R->marker, R->marker_len) == 0) {
            const char* num = m + R->marker_len;
            const char* end = (const char*)memchr(num, '\x1e', left - R->marker_len);
            if (!end) {
                if (!final && left < R->marker_len + 12) break; /* the rest of the marker is coming */
                hil__on_output(R, m, 1);
                off++;
                continue;
            }
            R->out_seq = (uint32_t)strtoul(num, NULL, 10);
            off += (size_t)(end - m) + 1;
            continue;
        }
        hil__on_output(R, m, 1);
        off++;
    }
    if (off) {
        memmove(c->data, c->data + off, c->len - off);
        c->len -= off;
        c->data[c->len] = 0;
    }
}

/* Read what fd holds: one read when poll said it is ready (a second read
 * would only find EAGAIN, one system call per pipe and wake-up), or until
 * EAGAIN or the end when the worker is gone (once = 0). */
static void hil__drain_fd(hil__run* R, int* fd, hil_strbuf* evbuf, int is_events, int* bad, int once) {
    char buf[65536];
    for (;;) {
        ssize_t n;
        if (*fd < 0) return;
        n = read(*fd, buf, sizeof buf);
        if (n > 0) {
            if (is_events) {
                hil_sb_append(evbuf, buf, (size_t)n);
                if (!hil__decode_events(R, evbuf)) *bad = 1;
            } else {
                hil__on_output_raw(R, buf, (size_t)n, 0);
            }
            if (once) return;
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        close(*fd);
        *fd = -1;
        return;
    }
}

/* A program linked with lazy binding (the default, without -z now) looks a
 * shared-library function up at its first call, in the process that makes
 * it, and writes the address into its GOT. A forked worker (or a job's task
 * process, hil_runner.h) is a fresh copy of its parent: what only the child
 * calls was looked up again in every child, and each one copied the GOT
 * page and faulted the loader's code in (11 of a worker's 56 page faults,
 * about 60 us of a forked empty test; 14 look-ups in every task process).
 * The parent makes those calls once, harmlessly, before its first fork, so
 * every later child inherits the addresses; _exit, which it cannot call,
 * goes through a pointer that the loader fills at start-up. The list is
 * what the children call (LD_DEBUG=bindings shows what is left). */
static void (*volatile hil__exit_fn)(int) = _exit;

HIL__SHARED void hil__child_exit(int code) {
    hil__exit_fn(code);
    _exit(code); /* not reached */
}

static volatile size_t hil__bind_sink;

HIL__SHARED void hil__bind_fork_calls(void) {
    static int done;
    static char mem[8];
    static const char* volatile text = "1x";
    jmp_buf jb;
    FILE* f;
    void* p;
    pthread_mutex_t mu;
    /* the job's monitor thread and a runner may both fork: once is enough */
    if (__atomic_exchange_n(&done, 1, __ATOMIC_ACQ_REL)) return;
    {
        /* pthread_self is a const function: a call whose result is unused is dropped */
        pthread_t self = pthread_self();
        volatile unsigned char first = *(const unsigned char*)&self;
        (void)first;
    }
    if (setjmp(jb) != 0) return;
    (void)!write(-1, "", 0);
    (void)!dup2(-1, -1);
    (void)getppid();
    /* pure functions: their results go somewhere the compiler cannot see through */
    hil__bind_sink += (size_t)(strchr(text, 'x') != NULL) + (size_t)(memchr(text, 'x', 2) != NULL) +
            (size_t)memcmp(text, text, 2) + (size_t)strtoul(text, NULL, 10);
    p = calloc(1, 1);
    hil__bind_sink += (size_t)(p != NULL);
    free(p);
    if (pthread_mutex_init(&mu, NULL) == 0) pthread_mutex_destroy(&mu);
#ifdef __linux__
    {
        int sig = 0, bad[2];
        (void)prctl(PR_GET_PDEATHSIG, &sig, 0, 0, 0);
        (void)pipe2(bad, -1); /* EINVAL: no pipe is made */
    }
#endif
    f = fmemopen(mem, sizeof mem, "w");
    if (f) {
        (void)setvbuf(f, NULL, _IOLBF, 0);
        fclose(f);
    }
}

/* In the forked worker: never returns. */
static void hil__worker_child(hil__run* R, int evw, int outw, size_t start, int first_attempt, int single) {
    struct sigaction dfl;
    setpgid(0, 0);
#ifdef __linux__
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
#endif
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigaction(SIGINT, &dfl, NULL);
    sigaction(SIGTERM, &dfl, NULL);
    sigaction(SIGPIPE, &dfl, NULL);
    {
        sigset_t stop_sigs; /* blocked by hil__worker_start around fork */
        sigemptyset(&stop_sigs);
        sigaddset(&stop_sigs, SIGINT);
        sigaddset(&stop_sigs, SIGTERM);
        pthread_sigmask(SIG_UNBLOCK, &stop_sigs, NULL);
    }
    if (outw >= 0) {
        static char out_buf[4096];
        dup2(outw, 1);
        dup2(outw, 2);
        close(outw);
        /* line by line, so what a test printed before crashing is kept;
         * with a buffer given, glibc also resets a stream the supervisor
         * used already (with NULL it only sets the flag, and stays fully
         * buffered) */
        setvbuf(stdout, out_buf, _IOLBF, sizeof out_buf);
    }
    R->ev_fd = evw;
    hil__in_worker = 1;
    hil__app.bus = NULL; /* its dispatcher threads stayed in the supervisor */
    R->bus = NULL;
    hil__log_router = hil__run_log_route;
    hil__run_worker_hooks(1);
    hil__worker_run(R, start, first_attempt, single);
    /* "done" goes with the last step's events, before the exit hooks: they
     * are user code, and a crash in one must not lose the results (it is
     * then a worker that died between tests) */
    hil__emit_done(R);
    hil__ev_flush(R);
    hil__run_worker_hooks(0);
    fflush(NULL);
    hil__child_exit(0);
}

typedef struct hil__worker {
    int pid, evfd, outfd, exitfd;
} hil__worker;

/* The worker's pipes are not for the programs its tests start (a daemon
 * holding one would keep it open); the output pipe's write end becomes the
 * worker's fds 1 and 2, which dup2 leaves inheritable. One system call per
 * pipe: a forking run pays this for every test. */
static int hil__pipe_cloexec(int p[2], int nonblock) {
#ifdef __linux__
    return pipe2(p, O_CLOEXEC | (nonblock ? O_NONBLOCK : 0));
#else
    if (pipe(p) != 0) return -1;
    hil_set_cloexec(p[0]);
    hil_set_cloexec(p[1]);
    if (nonblock) (void)fcntl(p[0], F_SETFL, O_NONBLOCK);
    return 0;
#endif
}

static hil_result hil__worker_start(hil__run* R, hil__worker* w, size_t start, int first_attempt, int single) {
    int ev[2], out[2] = {-1, -1};
    int pid;
    sigset_t stop_sigs, old_mask;
    memset(w, 0, sizeof *w);
    w->evfd = w->outfd = w->exitfd = -1;
    /* The event pipe is non-blocking at both ends (the worker writes it
     * with hil_write_all, which waits on EAGAIN); the output pipe's write
     * end becomes the tests' stdout, which must block, so its read end is
     * made non-blocking alone. */
    if (hil__pipe_cloexec(ev, 1) != 0 || (R->o.capture && hil__pipe_cloexec(out, 0) != 0))
        return hil_error(HIL_ERR_IO, "cannot create pipes for the test worker: %s", strerror(errno));
    fflush(NULL);
    hil__bind_fork_calls();
    /* a stop signal stays pending until the worker has its default handlers
     * (caught by the inherited handler it would be lost) */
    sigemptyset(&stop_sigs);
    sigaddset(&stop_sigs, SIGINT);
    sigaddset(&stop_sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_sigs, &old_mask);
    pid = fork();
    if (pid != 0) pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
    if (pid < 0) {
        int e = errno;
        close(ev[0]); close(ev[1]);
        if (out[0] >= 0) { close(out[0]); close(out[1]); }
        return hil_error(HIL_ERR_IO, "cannot fork the test worker: %s", strerror(e));
    }
    if (pid == 0) {
        close(ev[0]);
        if (out[0] >= 0) close(out[0]);
        hil__worker_child(R, ev[1], out[1], start, first_attempt, single);
    }
    setpgid(pid, pid);
    hil_track_child_group(pid, 1);
    close(ev[1]);
    if (out[1] >= 0) close(out[1]);
    w->pid = pid;
    w->evfd = ev[0];
    w->outfd = out[0];
    /* a fresh read end: O_RDONLY is its only status flag */
    if (w->outfd >= 0) (void)fcntl(w->outfd, F_SETFL, O_NONBLOCK);
    w->exitfd = hil__exit_fd(pid);
    return HIL_OK;
}

/* Wait for the worker to finish; handles events, output, timeouts and
 * interrupts. Returns the wait status; *timed_out / *interrupted tell why it
 * was killed. */
static int hil__worker_wait(hil__run* R, hil__worker* w, int* timed_out, int* interrupted, int* bad) {
    hil_strbuf evbuf = {0, 0, 0, 0};
    hil_waker* intr = hil_interrupt_waker();
    R->sup_outfd = w->outfd;
    R->out_open = w->outfd >= 0;
    R->out_seq = 0;
    R->ev_seq = 0;
    hil_sb_clear(&R->out_carry);
    uint64_t kill_at = HIL_NEVER, next_tick = hil_now_ns() + 500000000u;
    int status = 0, exited = 0, killed = 0;
    *timed_out = *interrupted = *bad = 0;
    while (!exited) {
        struct pollfd pf[4];
        int n = 0, rc, wait_ms, at_ev = -1, at_out = -1, at_exit = -1;
        uint64_t deadline = R->phase != HIL__PHASE_IDLE ? R->phase_deadline : HIL_NEVER;
        if (kill_at < deadline) deadline = kill_at;
        if (next_tick < deadline) deadline = next_tick;
        if (w->evfd >= 0) { at_ev = n; pf[n].fd = w->evfd; pf[n].events = POLLIN; n++; }
        if (R->sup_outfd >= 0) { at_out = n; pf[n].fd = R->sup_outfd; pf[n].events = POLLIN; n++; }
        if (w->exitfd >= 0) { at_exit = n; pf[n].fd = w->exitfd; pf[n].events = POLLIN; n++; }
        if (intr) { pf[n].fd = hil_waker_fd(intr); pf[n].events = POLLIN; n++; }
        for (rc = 0; rc < n; rc++) pf[rc].revents = 0;
        wait_ms = hil_deadline_left_ms(deadline);
        rc = poll(pf, (nfds_t)n, wait_ms);
        if (rc < 0 && errno != EINTR) break;
        /* only what poll reported: a forked test's supervisor is woken two
         * or three times, and every read or waitpid that finds nothing is a
         * system call the bench pays per test */
        if (at_out >= 0 && pf[at_out].revents) hil__drain_fd(R, &R->sup_outfd, NULL, 0, bad, 1);
        if (at_ev >= 0 && pf[at_ev].revents) hil__drain_fd(R, &w->evfd, &evbuf, 1, bad, 1);
        hil__pump(R, &evbuf, bad);
        if (*bad && !killed) {
            kill(-w->pid, SIGKILL);
            killed = 1;
        }
        if (intr && hil_interrupt_count() > 0 && !*interrupted) {
            static const char note[] =
                "\nhil: interrupted: stopping the running test and writing the reports (Ctrl-C again exits at once)\n";
            hil_waker_drain(intr);
            (void)!write(2, note, sizeof note - 1);
            *interrupted = 1;
            R->stop = 1;
            kill(-w->pid, SIGTERM);
            kill_at = hil_now_ns() + 2000000000u; /* then SIGKILL */
        }
        if (hil_now_ns() >= next_tick) {
            hil_bus_trigger(R->bus, &HIL_MSG_RUN_TICK, &HIL_EP_RUN, NULL, NULL, 0);
            next_tick = hil_now_ns() + 500000000u;
        }
        if (!killed && R->phase != HIL__PHASE_IDLE && R->phase_deadline != HIL_NEVER &&
            hil_now_ns() >= R->phase_deadline) {
            *timed_out = 1;
            kill(-w->pid, SIGKILL);
            killed = 1;
        }
        if (kill_at != HIL_NEVER && hil_now_ns() >= kill_at && !killed) {
            kill(-w->pid, SIGKILL);
            killed = 1;
        }
        if (w->exitfd < 0 || (at_exit >= 0 && pf[at_exit].revents)) {
            int st;
            int r = waitpid(w->pid, &st, WNOHANG);
            if (r == w->pid) { status = st; exited = 1; }
            else if (r < 0 && errno == ECHILD) { exited = 1; }
            /* a worker that closed its pipes but lives on (e.g. a daemonised
             * child of a test) is waited for through exitfd */
            if (!exited && w->exitfd < 0 && w->evfd < 0 && R->sup_outfd < 0) {
                waitpid(w->pid, &st, 0);
                status = st;
                exited = 1;
            }
        }
    }
    /* whatever the worker wrote before it died is still in the pipes */
    hil__drain_fd(R, &R->sup_outfd, NULL, 0, bad, 0);
    hil__drain_fd(R, &w->evfd, &evbuf, 1, bad, 0);
    hil__pump(R, &evbuf, bad);
    /* a marker without its event (the worker died in between): the rest goes as it is */
    hil__on_output_raw(R, "", 0, 1);
    R->out_open = 0;
    if (!hil__decode_events(R, &evbuf)) *bad = 1;
    w->outfd = R->sup_outfd;
    R->sup_outfd = -1;
    kill(-w->pid, SIGKILL); /* leftovers of tests in its group */
    hil_track_child_group(w->pid, 0);
    if (w->evfd >= 0) close(w->evfd);
    if (w->outfd >= 0) close(w->outfd);
    if (w->exitfd >= 0) close(w->exitfd);
    w->evfd = w->outfd = w->exitfd = -1;
    hil_sb_free(&evbuf);
    return status;
}

/* The worker died or was killed: give the running step its result; returns
 * where the next worker starts. */
static size_t hil__after_crash(hil__run* R, int status, int timed_out, int interrupted, int bad, int* retry_attempt) {
    char why[256], st[160];
    size_t next = R->next_plan;
    hil_proc_status_str(status, st, sizeof st);
    if (interrupted) hil__sfmt(why, sizeof why, "interrupted (Ctrl-C or SIGTERM)");
    else if (timed_out) hil__sfmt(why, sizeof why, "timeout after %g s", R->phase_timeout);
    else if (bad) hil__sfmt(why, sizeof why, "the worker sent a corrupt event stream (memory corruption?)");
    else if (WIFEXITED(status)) hil__sfmt(why, sizeof why, "the test ended the process: %s", st);
    else hil__sfmt(why, sizeof why, "crashed: %s", st);
    *retry_attempt = 1;
    hil__lock(R);
    if (R->phase == HIL__PHASE_TEST && R->cur >= 0) {
        hil_test_result* r = &R->sum->results[R->cur];
        const hil_test_info* info = r->test;
        if (!interrupted && r->attempts <= info->retries) {
            /* retry on a fresh worker */
            hil_strbuf note = {0, 0, 0, 0};
            hil_sb_printf(&note, "[hil: attempt %d: %s]\n", r->attempts, why);
            hil__result_output(R, r, note.data, note.len);
            hil_sb_free(&note);
            R->crash_noted = 1;
            *retry_attempt = r->attempts + 1;
            next = R->cur_plan;
        } else {
            hil__held_publish(R);
            hil__finish_result(R, r, interrupted ? HIL_ABORTED : HIL_ERRORED,
                               hil_wall_ns() - r->start_wall_ns, why);
            R->cur = -1;
            next = R->cur_plan + 1;
        }
    } else if (R->phase == HIL__PHASE_SETUP) {
        /* the suite's tests from here on cannot run */
        size_t i = R->cur_plan;
        const hil__suite* s = R->plan[i].t->suite;
        char reason[300];
        hil__sfmt(reason, sizeof reason, "suite setup %s", why);
        while (i < R->n_plan && R->plan[i].t->suite == s) {
            hil_test_result* r;
            uint64_t duration_ns = 0;
            hil__suite_switch(R, s->name);
            if (i == R->cur_plan && R->cur >= 0 && R->sum->results[R->cur].test == &R->plan[i].t->info) {
                /* a test retried after a crash, whose fresh worker then died
                 * in the suite's setup, ends its own result (else it stays
                 * NotRun beside a second, Blocked one) */
                r = &R->sum->results[R->cur];
                hil__held_publish(R);
                duration_ns = hil_wall_ns() - r->start_wall_ns;
            } else if ((r = hil__result_new(R, &R->plan[i].t->info, R->plan[i].iteration)) != NULL) {
                R->cur = (long)(r - R->sum->results);
                hil_bus_trigger(R->bus, &HIL_MSG_TEST_STARTED, &HIL_EP_RUN, NULL, r, 0);
            }
            if (r) hil__finish_result(R, r, interrupted ? HIL_ABORTED : HIL_BLOCKED, duration_ns, reason);
            i++;
            if (interrupted) break;
        }
        R->cur = -1;
        next = i;
    } else if (R->phase == HIL__PHASE_TEARDOWN) {
        hil_test_result* r = hil__synthetic_result(R, R->plan[R->cur_plan].t->suite, "teardown");
        if (r) {
            R->cur = (long)(r - R->sum->results);
            hil_bus_trigger(R->bus, &HIL_MSG_TEST_STARTED, &HIL_EP_RUN, NULL, r, 0);
            hil__finish_result(R, r, interrupted ? HIL_ABORTED : HIL_ERRORED, 0, why);
            R->cur = -1;
        }
        next = R->cur_plan + 1;
    } else {
        hil_sb_printf(&R->orphan, "[hil: the worker died between tests: %s]\n", why);
        HIL_WARN("hil.run", "the test worker died between tests: %s", why);
    }
    R->phase = HIL__PHASE_IDLE;
    R->next_plan = next;
    hil__unlock(R);
    return next;
}

static void hil__supervise(hil__run* R) {
    size_t start = 0;
    int attempt = 1;
    int single = R->o.isolation == HIL_ISOLATE_TEST;
    while (start < R->n_plan && !R->stop) {
        hil__worker w;
        int status, timed_out, interrupted, bad;
        if (hil_interrupt_count() > 0) { R->stop = 1; break; }
        if (hil__worker_start(R, &w, start, attempt, single) != HIL_OK) {
            HIL_ERROR("hil.run", "%s", hil_last_error());
            R->stop = 1;
            break;
        }
        R->worker_done = 0;
        /* a test retried after a crash keeps its result: the next attempt
         * continues it (else the crashed attempt stays as a NotRun result) */
        if (attempt == 1) R->cur = -1;
        R->phase = HIL__PHASE_IDLE;
        R->next_plan = start;
        status = hil__worker_wait(R, &w, &timed_out, &interrupted, &bad);
        attempt = 1;
        if (R->worker_done && !timed_out && !interrupted && !bad && WIFEXITED(status) && WEXITSTATUS(status) == 0) {
            start = R->next_plan;
            if (!single) break; /* it ran to the end (or stopped for fail-fast) */
            continue;
        }
        start = hil__after_crash(R, status, timed_out, interrupted, bad, &attempt);
        if (interrupted) R->stop = 1;
    }
}

/* ---- planning ---------------------------------------------------------- */

HIL_API void hil_run_options_init(hil_run_options* o) {
    memset(o, 0, sizeof *o);
    o->repeat = 1;
    o->timeout_s = 60;
    o->capture = 1;
    o->isolation = HIL_ISOLATE_WORKER;
}

static int hil__any_tag(const char* tags, const char* const* list, size_t n) {
    size_t i;
    for (i = 0; i < n; i++)
        if (hil_list_contains(tags, list[i])) return 1;
    return 0;
}

HIL_API int hil_test_selected(const hil_test_info* t, const hil_run_options* o) {
    size_t i;
    if (o->n_filters) {
        int hit = 0;
        for (i = 0; i < o->n_filters && !hit; i++) {
            const char* f = o->filters[i];
            /* a bare suite name selects the suite */
            hit = hil_glob_match(f, t->full_name) || strcmp(f, t->suite) == 0;
        }
        if (!hit) return 0;
    }
    if (o->n_tags && !hil__any_tag(t->tags, o->tags, o->n_tags)) return 0;
    if (o->n_exclude_tags && hil__any_tag(t->tags, o->exclude_tags, o->n_exclude_tags)) return 0;
    return 1;
}

static uint64_t hil__rand_next(uint64_t* s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Shuffle suites, and tests within each suite: a suite's tests stay
 * together so its setup and teardown run once. */
static void hil__plan_shuffle(hil__plan_item* plan, size_t n, uint64_t seed) {
    size_t i, nb = 0, k;
    size_t* starts = (size_t*)hil__calloc(n + 1, sizeof *starts);
    hil__plan_item* tmp = (hil__plan_item*)hil__calloc(n ? n : 1, sizeof *tmp);
    size_t* order;
    if (!starts || !tmp) { HIL_FREE(starts); HIL_FREE(tmp); return; }
    for (i = 0; i < n; i++)
        if (i == 0 || plan[i].t->suite != plan[i - 1].t->suite || plan[i].iteration != plan[i - 1].iteration)
            starts[nb++] = i;
    starts[nb] = n;
    for (k = 0; k < nb; k++) {
        size_t a = starts[k], len = starts[k + 1] - starts[k];
        for (i = len; i > 1; i--) {
            size_t j = (size_t)(hil__rand_next(&seed) % i);
            hil__plan_item t = plan[a + i - 1];
            plan[a + i - 1] = plan[a + j];
            plan[a + j] = t;
        }
    }
    order = (size_t*)hil__calloc(nb ? nb : 1, sizeof *order);
    if (order) {
        size_t pos = 0;
        for (k = 0; k < nb; k++) order[k] = k;
        for (k = nb; k > 1; k--) {
            size_t j = (size_t)(hil__rand_next(&seed) % k), t = order[k - 1];
            order[k - 1] = order[j];
            order[j] = t;
        }
        for (k = 0; k < nb; k++) {
            size_t a = starts[order[k]], len = starts[order[k] + 1] - a;
            memcpy(tmp + pos, plan + a, len * sizeof *plan);
            pos += len;
        }
        memcpy(plan, tmp, n * sizeof *plan);
        HIL_FREE(order);
    }
    HIL_FREE(starts);
    HIL_FREE(tmp);
}

/* Selected tests, grouped by suite in first-appearance order (suite setup
 * and teardown run once per group), repeated. */
static hil_result hil__plan_build(hil__run* R) {
    size_t i, j, n = 0, rep, total;
    hil__test** sel = (hil__test**)hil__calloc(hil__reg.n ? hil__reg.n : 1, sizeof *sel);
    hil__suite* s;
    int repeat = R->o.repeat > 0 ? R->o.repeat : 1;
    if (!sel) return hil_error(HIL_ERR_NO_MEMORY, "out of memory");
    for (s = hil__reg.suites; s; s = s->next)
        for (i = 0; i < hil__reg.n; i++)
            if (hil__reg.tests[i]->suite == s && hil_test_selected(&hil__reg.tests[i]->info, &R->o))
                sel[n++] = hil__reg.tests[i];
    total = n * (size_t)repeat;
    R->plan = (hil__plan_item*)hil__calloc(total ? total : 1, sizeof *R->plan);
    if (!R->plan) { HIL_FREE(sel); return hil_error(HIL_ERR_NO_MEMORY, "out of memory"); }
    for (rep = 0, j = 0; rep < (size_t)repeat; rep++)
        for (i = 0; i < n; i++, j++) {
            R->plan[j].t = sel[i];
            R->plan[j].iteration = (int)rep + 1;
        }
    R->n_plan = total;
    HIL_FREE(sel);
    if (R->o.shuffle) hil__plan_shuffle(R->plan, R->n_plan, R->o.seed);
    return HIL_OK;
}

HIL_API hil_result hil_run_tests(const hil_run_options* o, hil_run_summary** out) {
    hil__run R;
    hil__run* saved_run = hil__cur_run;
    void (*saved_router)(const hil_log_record*) = hil__log_router;
    pthread_mutexattr_t ma;
    hil_result r;
    uint64_t t0;
    *out = NULL;
    if (hil__tests_prepare() != HIL_OK) return HIL_ERR_CONFIG;
    memset(&R, 0, sizeof R);
    R.o = *o;
    R.bus = o->bus ? o->bus : hil__app.bus;
    R.cur = -1;
    R.ev_fd = -1;
    R.sup_outfd = -1;
    {
        uint64_t seed = hil_wall_ns() ^ ((uint64_t)getpid() << 20);
        R.marker_len = (size_t)snprintf(R.marker, sizeof R.marker, "\x1eHIL%016llx:",
                                        (unsigned long long)hil__rand_next(&seed));
    }
    R.max_output = 1u << 20;
    if (hil__app.cfg) R.max_output = (size_t)hil_config_get_int(hil__app.cfg, "run.max_output", 1 << 20);
    pthread_mutexattr_init(&ma);
    pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&R.mu, &ma);
    pthread_mutexattr_destroy(&ma);
    pthread_mutex_init(&R.emit_mu, NULL);
    R.sum = (hil_run_summary*)hil__calloc(1, sizeof *R.sum);
    if (!R.sum) return hil_error(HIL_ERR_NO_MEMORY, "out of memory");
    r = hil__plan_build(&R);
    if (r != HIL_OK) { HIL_FREE(R.sum); return r; }
    R.sum->name = o->name ? o->name : "hil";
    R.sum->planned = R.n_plan;
    R.sum->shuffled = o->shuffle;
    R.sum->seed = o->seed;
    R.sum->start_wall_ns = hil_wall_ns();
    hil_interrupts_install();
    hil__cur_run = &R;
    hil__sink_failure = hil__sink_failure_fn;
    hil__sink_warning = hil__sink_warning_fn;
    hil__log_router = hil__run_log_route;
    t0 = hil_now_ns();
    hil_bus_trigger(R.bus, &HIL_MSG_RUN_STARTED, &HIL_EP_RUN, NULL, R.sum, 0);
    if (R.o.isolation == HIL_ISOLATE_NONE) {
        hil__run_worker_hooks(1);
        hil__worker_run(&R, 0, 1, 0);
        hil__run_worker_hooks(0);
        if (hil_interrupt_count() > 0) R.sum->interrupted = 1;
    } else {
        hil__supervise(&R);
        if (hil_interrupt_count() > 0) R.sum->interrupted = 1;
    }
    hil__lock(&R);
    hil__suite_switch(&R, NULL);
    {
        size_t i, ran = 0;
        hil_outcome roll = HIL_NOT_RUN;
        for (i = 0; i < R.sum->n_results; i++) {
            roll = hil_outcome_rollup(roll, R.sum->results[i].outcome);
            if (R.sum->results[i].test->index >= 0) ran++;
        }
        R.sum->not_run = R.n_plan > ran ? R.n_plan - ran : 0;
        if (R.sum->interrupted) roll = hil_outcome_rollup(roll, HIL_ABORTED);
        R.sum->outcome = roll;
    }
    R.sum->duration_ns = hil_now_ns() - t0;
    if (R.orphan.len) HIL_DEBUG("hil.run", "output outside tests:\n%s", hil_sb_cstr(&R.orphan));
    hil_bus_trigger(R.bus, &HIL_MSG_RUN_FINISHED, &HIL_EP_RUN, NULL, R.sum, 0);
    hil__unlock(&R);
    hil__cur_run = saved_run;
    hil__log_router = saved_router;
    if (!saved_run) {
        hil__sink_failure = NULL;
        hil__sink_warning = NULL;
    }
    hil__held_free_all(&R); /* a test that never ended left its cases */
    R.sum->internal = R.synthetic;
    *out = R.sum;
    HIL_FREE(R.plan);
    hil_sb_free(&R.orphan);
    hil_sb_free(&R.ev);
    hil_sb_free(&R.ev_pend);
    hil_sb_free(&R.out_pend);
    hil_sb_free(&R.out_carry);
    pthread_mutex_destroy(&R.mu);
    pthread_mutex_destroy(&R.emit_mu);
    return HIL_OK;
}

/* A job task that selects one test may run it in the task process itself
 * (hil_runner.h): that process is a fresh fork made for this one test, as
 * a worker would be. Only when the test is one call of its function: a
 * suite setup or teardown (a crash there Blocks the suite or adds a
 * teardown result), retries (a crash retries on a fresh worker) and
 * repeats need the worker's supervisor. */
HIL__SHARED int hil__run_solo(const hil_run_options* o, double* test_timeout_s) {
    const hil__test* one = NULL;
    size_t i;
    if (o->repeat > 1 || hil__tests_prepare() != HIL_OK) return 0;
    for (i = 0; i < hil__reg.n; i++) {
        if (!hil_test_selected(&hil__reg.tests[i]->info, o)) continue;
        if (one) return 0;
        one = hil__reg.tests[i];
    }
    if (!one || one->suite->setup || one->suite->teardown || one->info.retries > 0) return 0;
    *test_timeout_s = one->info.timeout_s;
    return 1;
}

HIL_API const char* hil_param(const char* name, const char* fallback) {
    char key[256];
    hil__sfmt(key, sizeof key, "params.%s", name);
    return hil_config_get(hil_cfg(), key, fallback);
}

HIL_API long long hil_param_int(const char* name, long long fallback) {
    char key[256];
    hil__sfmt(key, sizeof key, "params.%s", name);
    return hil_config_get_int(hil_cfg(), key, fallback);
}

/* ==========================================================================
 * Reports: JUnit XML, JSON, TAP 13 and the console
 * ========================================================================== */

static double hil__secs(uint64_t ns) { return (double)ns / 1e9; }

/* Suites in first-appearance order within a run's results. */
static size_t hil__suites_of(const hil_run_summary* s, const char** out, size_t max) {
    size_t i, j, n = 0;
    for (i = 0; i < s->n_results; i++) {
        const char* name = s->results[i].test->suite;
        for (j = 0; j < n; j++)
            if (strcmp(out[j], name) == 0) break;
        if (j == n && n < max) out[n++] = name;
    }
    return n;
}

static void hil__xml_attr(hil_strbuf* sb, const char* name, const char* v) {
    hil_sb_printf(sb, " %s=\"", name);
    if (v) hil_sb_xml_text(sb, v, strlen(v));
    hil_sb_putc(sb, '"');
}

static void hil__xml_prop(hil_strbuf* sb, const char* indent, const char* name, const char* v) {
    hil_sb_printf(sb, "%s<property", indent);
    hil__xml_attr(sb, "name", name);
    hil__xml_attr(sb, "value", v);
    hil_sb_puts(sb, "/>\n");
}

static void hil__junit_case(hil_strbuf* sb, const hil_test_result* r) {
    const hil_test_info* t = r->test;
    char num[64];
    size_t i;
    hil_sb_puts(sb, "    <testcase");
    hil__xml_attr(sb, "name", t->name);
    hil__xml_attr(sb, "classname", t->suite);
    hil_sb_printf(sb, " time=\"%.6f\"", hil__secs(r->duration_ns));
    if (t->file && *t->file) {
        hil__xml_attr(sb, "file", t->file);
        hil_sb_printf(sb, " line=\"%d\"", t->line);
    }
    hil_sb_puts(sb, ">\n      <properties>\n");
    hil__xml_prop(sb, "        ", "result", hil_outcome_str(r->outcome));
    if (t->case_id) { hil__sfmt(num, sizeof num, "%d", t->case_id); hil__xml_prop(sb, "        ", "case_id", num); }
    if (t->suite_id) { hil__sfmt(num, sizeof num, "%d", t->suite_id); hil__xml_prop(sb, "        ", "suite_id", num); }
    if (t->tags && *t->tags) hil__xml_prop(sb, "        ", "tags", t->tags);
    hil__sfmt(num, sizeof num, "%d", r->attempts);
    hil__xml_prop(sb, "        ", "attempts", num);
    if (r->iteration > 1) { hil__sfmt(num, sizeof num, "%d", r->iteration); hil__xml_prop(sb, "        ", "iteration", num); }
    if (r->n_warnings) { hil__sfmt(num, sizeof num, "%zu", r->n_warnings); hil__xml_prop(sb, "        ", "warnings", num); }
    hil_sb_puts(sb, "      </properties>\n");
    switch (r->outcome) {
    case HIL_FAILED:
    case HIL_ERRORED:
    case HIL_ABORTED:
    case HIL_BLOCKED: {
        const char* el = r->outcome == HIL_FAILED ? "failure" : "error";
        hil_sb_printf(sb, "      <%s", el);
        hil__xml_attr(sb, "message", r->reason ? r->reason : hil_outcome_str(r->outcome));
        hil__xml_attr(sb, "type", hil_outcome_str(r->outcome));
        hil_sb_puts(sb, ">");
        for (i = 0; i < r->n_failures && i < HIL__MAX_FAILURES; i++) {
            hil_strbuf line = {0, 0, 0, 0};
            if (r->failures[i].file && *r->failures[i].file)
                hil_sb_printf(&line, "%s:%d: ", r->failures[i].file, r->failures[i].line);
            hil_sb_printf(&line, "%s\n", r->failures[i].message);
            hil_sb_xml_text(sb, line.data, line.len);
            hil_sb_free(&line);
        }
        if (!r->n_failures && r->reason) hil_sb_xml_text(sb, r->reason, strlen(r->reason));
        hil_sb_printf(sb, "</%s>\n", el);
        break;
    }
    case HIL_SKIPPED:
        hil_sb_puts(sb, "      <skipped");
        hil__xml_attr(sb, "message", r->reason ? r->reason : "skipped");
        hil_sb_puts(sb, "/>\n");
        break;
    default: break;
    }
    if (r->output_len) {
        hil_sb_puts(sb, "      <system-out>");
        hil_sb_xml_text(sb, r->output, r->output_len);
        hil_sb_puts(sb, "</system-out>\n");
    }
    if (r->n_warnings) {
        hil_sb_puts(sb, "      <system-err>");
        for (i = 0; i < r->n_warnings; i++) {
            hil_sb_puts(sb, "warning: ");
            hil_sb_xml_text(sb, r->warnings[i], strlen(r->warnings[i]));
            hil_sb_putc(sb, '\n');
        }
        hil_sb_puts(sb, "</system-err>\n");
    }
    hil_sb_puts(sb, "    </testcase>\n");
}

typedef struct hil__counts { size_t tests, failures, errors, skipped; uint64_t ns; } hil__counts;

static void hil__count(hil__counts* c, const hil_test_result* r) {
    c->tests++;
    c->ns += r->duration_ns;
    if (r->outcome == HIL_FAILED) c->failures++;
    else if (r->outcome == HIL_ERRORED || r->outcome == HIL_ABORTED || r->outcome == HIL_BLOCKED) c->errors++;
    else if (r->outcome == HIL_SKIPPED) c->skipped++;
}

static void hil__junit_suite(hil_strbuf* sb, const hil_run_summary* s, const char* suite, int prefix) {
    hil__counts c;
    size_t i;
    char ts[40], host[256] = "localhost", name[512];
    int suite_id = 0;
    memset(&c, 0, sizeof c);
    for (i = 0; i < s->n_results; i++)
        if (strcmp(s->results[i].test->suite, suite) == 0) {
            hil__count(&c, &s->results[i]);
            if (s->results[i].test->suite_id) suite_id = s->results[i].test->suite_id;
        }
    gethostname(host, sizeof host - 1);
    hil_format_time_iso(s->start_wall_ns, ts, sizeof ts);
    ts[19] = 0; /* the JUnit schema's timestamp has no zone or fraction */
    hil__sfmt(name, sizeof name, "%s%s%s", prefix ? s->name : "", prefix ? "." : "", suite);
    hil_sb_puts(sb, "  <testsuite");
    hil__xml_attr(sb, "name", name);
    hil_sb_printf(sb, " tests=\"%zu\" failures=\"%zu\" errors=\"%zu\" skipped=\"%zu\" time=\"%.6f\"", c.tests,
                  c.failures, c.errors, c.skipped, hil__secs(c.ns));
    hil__xml_attr(sb, "timestamp", ts);
    hil__xml_attr(sb, "hostname", host);
    hil_sb_puts(sb, ">\n");
    if (suite_id || prefix) {
        hil_sb_puts(sb, "    <properties>\n");
        if (suite_id) {
            char num[32];
            hil__sfmt(num, sizeof num, "%d", suite_id);
            hil__xml_prop(sb, "      ", "suite_id", num);
        }
        if (prefix) hil__xml_prop(sb, "      ", "task", s->name);
        hil_sb_puts(sb, "    </properties>\n");
    }
    for (i = 0; i < s->n_results; i++)
        if (strcmp(s->results[i].test->suite, suite) == 0) hil__junit_case(sb, &s->results[i]);
    hil_sb_puts(sb, "  </testsuite>\n");
}

HIL_API hil_result hil_junit_write(const char* path, const hil_run_summary* const* runs, size_t n, const char* name) {
    hil_strbuf sb = {0, 0, 0, 0};
    hil__counts total;
    size_t k, i;
    char ts[40];
    hil_result r;
    memset(&total, 0, sizeof total);
    for (k = 0; k < n; k++)
        for (i = 0; i < runs[k]->n_results; i++) hil__count(&total, &runs[k]->results[i]);
    hil_format_time_iso(n ? runs[0]->start_wall_ns : hil_wall_ns(), ts, sizeof ts);
    ts[19] = 0;
    hil_sb_puts(&sb, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites");
    hil__xml_attr(&sb, "name", name ? name : "hil");
    hil_sb_printf(&sb, " tests=\"%zu\" failures=\"%zu\" errors=\"%zu\" skipped=\"%zu\" time=\"%.6f\"", total.tests,
                  total.failures, total.errors, total.skipped, hil__secs(total.ns));
    hil__xml_attr(&sb, "timestamp", ts);
    hil_sb_puts(&sb, ">\n");
    for (k = 0; k < n; k++) {
        const char* suites[512];
        size_t ns = hil__suites_of(runs[k], suites, HIL__COUNTOF(suites));
        for (i = 0; i < ns; i++) hil__junit_suite(&sb, runs[k], suites[i], n > 1);
    }
    hil_sb_puts(&sb, "</testsuites>\n");
    if (sb.failed) { hil_sb_free(&sb); return hil_error(HIL_ERR_NO_MEMORY, "JUnit report: out of memory"); }
    r = hil_write_file_atomic(path, sb.data, sb.len);
    hil_sb_free(&sb);
    return r;
}

static void hil__json_time(hil_strbuf* sb, uint64_t wall_ns) {
    char ts[40];
    hil_format_time_iso(wall_ns, ts, sizeof ts);
    hil_sb_json_str(sb, ts);
}

static void hil__json_test(hil_strbuf* sb, const hil_test_result* r) {
    const hil_test_info* t = r->test;
    size_t i;
    hil_sb_puts(sb, "{\"name\":");
    hil_sb_json_str(sb, t->name);
    hil_sb_puts(sb, ",\"full_name\":");
    hil_sb_json_str(sb, t->full_name);
    hil_sb_printf(sb, ",\"case_id\":%d,\"tags\":[", t->case_id);
    {
        const char* p = t->tags ? t->tags : "";
        int first = 1;
        while (*p) {
            size_t len = strcspn(p, ",; ");
            if (len) {
                if (!first) hil_sb_putc(sb, ',');
                hil_sb_json_strn(sb, p, len);
                first = 0;
            }
            p += len;
            while (*p == ',' || *p == ';' || *p == ' ') p++;
        }
    }
    hil_sb_puts(sb, "],\"result\":");
    hil_sb_json_str(sb, hil_outcome_str(r->outcome));
    hil_sb_puts(sb, ",\"reason\":");
    hil_sb_json_str(sb, r->reason);
    hil_sb_puts(sb, ",\"started\":");
    hil__json_time(sb, r->start_wall_ns);
    hil_sb_printf(sb, ",\"duration_s\":%.6f,\"attempts\":%d,\"iteration\":%d,\"file\":", hil__secs(r->duration_ns),
                  r->attempts, r->iteration);
    hil_sb_json_str(sb, t->file ? t->file : "");
    hil_sb_printf(sb, ",\"line\":%d,\"failures\":[", t->line);
    for (i = 0; i < r->n_failures && i < HIL__MAX_FAILURES; i++) {
        if (i) hil_sb_putc(sb, ',');
        hil_sb_puts(sb, "{\"file\":");
        hil_sb_json_str(sb, r->failures[i].file);
        hil_sb_printf(sb, ",\"line\":%d,\"message\":", r->failures[i].line);
        hil_sb_json_str(sb, r->failures[i].message);
        hil_sb_putc(sb, '}');
    }
    hil_sb_puts(sb, "],\"warnings\":[");
    for (i = 0; i < r->n_warnings; i++) {
        if (i) hil_sb_putc(sb, ',');
        hil_sb_json_str(sb, r->warnings[i]);
    }
    hil_sb_puts(sb, "],\"output\":");
    hil_sb_json_strn(sb, r->output ? r->output : "", r->output_len);
    hil_sb_putc(sb, '}');
}

HIL_API void hil_json_suites(hil_strbuf* sb, const hil_run_summary* s) {
    const char* suites[512];
    size_t ns = hil__suites_of(s, suites, HIL__COUNTOF(suites)), i, k;
    hil_sb_putc(sb, '[');
    for (k = 0; k < ns; k++) {
        hil_outcome roll = HIL_NOT_RUN;
        uint64_t dur = 0;
        int id = 0, first = 1;
        for (i = 0; i < s->n_results; i++)
            if (strcmp(s->results[i].test->suite, suites[k]) == 0) {
                roll = hil_outcome_rollup(roll, s->results[i].outcome);
                dur += s->results[i].duration_ns;
                if (s->results[i].test->suite_id) id = s->results[i].test->suite_id;
            }
        if (k) hil_sb_putc(sb, ',');
        hil_sb_puts(sb, "{\"name\":");
        hil_sb_json_str(sb, suites[k]);
        hil_sb_printf(sb, ",\"id\":%d,\"result\":", id);
        hil_sb_json_str(sb, hil_outcome_str(roll));
        hil_sb_printf(sb, ",\"duration_s\":%.6f,\"tests\":[", hil__secs(dur));
        for (i = 0; i < s->n_results; i++)
            if (strcmp(s->results[i].test->suite, suites[k]) == 0) {
                if (!first) hil_sb_putc(sb, ',');
                hil__json_test(sb, &s->results[i]);
                first = 0;
            }
        hil_sb_puts(sb, "]}");
    }
    hil_sb_putc(sb, ']');
}

static double hil__success_rate(const hil_run_summary* s) {
    size_t total = 0, ok = s->counts[HIL_PASSED] + s->counts[HIL_PASSX] + s->counts[HIL_SKIPPED];
    int i;
    for (i = 1; i < HIL_OUTCOME_COUNT; i++) total += s->counts[i];
    return total ? 100.0 * (double)ok / (double)total : 100.0;
}

HIL_API hil_result hil_json_write(const char* path, const hil_run_summary* s) {
    hil_strbuf sb = {0, 0, 0, 0};
    hil_result r;
    int i;
    hil_sb_puts(&sb, "{\"schema\":\"hil-results-1\",\"tool\":{\"name\":\"hil\",\"version\":\"" HIL_VERSION "\"},\"name\":");
    hil_sb_json_str(&sb, s->name);
    hil_sb_puts(&sb, ",\"result\":");
    hil_sb_json_str(&sb, hil_outcome_str(s->outcome));
    hil_sb_puts(&sb, ",\"started\":");
    hil__json_time(&sb, s->start_wall_ns);
    hil_sb_printf(&sb, ",\"duration_s\":%.6f,\"interrupted\":%s,\"shuffled\":%s,\"seed\":%llu,\"summary\":{",
                  hil__secs(s->duration_ns), s->interrupted ? "true" : "false", s->shuffled ? "true" : "false",
                  s->seed);
    hil_sb_printf(&sb, "\"total\":%zu", s->n_results);
    for (i = 1; i < HIL_OUTCOME_COUNT; i++) {
        char key[32];
        size_t j;
        hil__sfmt(key, sizeof key, "%s", hil_outcome_str((hil_outcome)i));
        for (j = 0; key[j]; j++) key[j] = (char)tolower((unsigned char)key[j]);
        hil_sb_printf(&sb, ",\"%s\":%zu", key, s->counts[i]);
    }
    hil_sb_printf(&sb, ",\"not_run\":%zu},\"success_rate\":%.2f,\"suites\":", s->not_run, hil__success_rate(s));
    hil_json_suites(&sb, s);
    hil_sb_puts(&sb, "}\n");
    if (sb.failed) { hil_sb_free(&sb); return hil_error(HIL_ERR_NO_MEMORY, "JSON report: out of memory"); }
    r = hil_write_file_atomic(path, sb.data, sb.len);
    hil_sb_free(&sb);
    return r;
}

/* ---- the JUnit, JSON and TAP reporter extensions ------------------------------ */

static void hil__on_junit(const hil_bus_msg* m, void* user) {
    hil_ext_ctx* ctx = (hil_ext_ctx*)user;
    const hil_run_summary* s = (const hil_run_summary*)m->data;
    const char* path = hil_config_get(ctx->config, "report.junit", NULL);
    if (!path || !*path) return;
    if (hil_junit_write(path, &s, 1, s->name) != HIL_OK)
        HIL_ERROR("hil.report", "JUnit report not written: %s", hil_last_error());
}

static void hil__on_json(const hil_bus_msg* m, void* user) {
    hil_ext_ctx* ctx = (hil_ext_ctx*)user;
    const char* path = hil_config_get(ctx->config, "report.json", NULL);
    if (!path || !*path) return;
    if (hil_json_write(path, (const hil_run_summary*)m->data) != HIL_OK)
        HIL_ERROR("hil.report", "JSON report not written: %s", hil_last_error());
}

static hil_result hil__junit_init(hil_ext_ctx* ctx) {
    return hil_ext_subscribe(ctx, HIL_DISPATCH_CALLBACK, hil__on_junit, ctx, &HIL_MSG_RUN_FINISHED, &HIL_EP_RUN);
}

static hil_result hil__json_init(hil_ext_ctx* ctx) {
    return hil_ext_subscribe(ctx, HIL_DISPATCH_CALLBACK, hil__on_json, ctx, &HIL_MSG_RUN_FINISHED, &HIL_EP_RUN);
}

static void hil__describe_junit(hil_extension* ext) {
    hil_option* o;
    ext->description = "Writes a JUnit XML report (Jenkins, GitLab) when the run ends";
    ext->load_order = 200;
    ext->activate_on = "report.junit";
    ext->initialize = hil__junit_init;
    o = hil_ext_option(ext, "report.junit", HIL_OPT_PATH, NULL, "Write a JUnit XML report to FILE");
    o->cli = "--junit";
    o->metavar = "FILE";
    o->commands = "report";
}

static void hil__describe_json(hil_extension* ext) {
    hil_option* o;
    ext->description = "Writes the results as JSON (schema: docs/results.schema.json) when the run ends";
    ext->load_order = 200;
    ext->activate_on = "report.json";
    ext->initialize = hil__json_init;
    o = hil_ext_option(ext, "report.json", HIL_OPT_PATH, NULL, "Write the results as JSON to FILE");
    o->cli = "--json";
    o->metavar = "FILE";
    o->commands = "report";
}

typedef struct hil__tap_state { size_t n; FILE* out; } hil__tap_state;

static void hil__tap_yaml_str(FILE* f, const char* key, const char* v) {
    hil_strbuf sb = {0, 0, 0, 0};
    hil_sb_json_str(&sb, v ? v : "");
    fprintf(f, "  %s: %s\n", key, hil_sb_cstr(&sb));
    hil_sb_free(&sb);
}

static void hil__on_tap(const hil_bus_msg* m, void* user) {
    hil__tap_state* st = (hil__tap_state*)user;
    FILE* f = st->out;
    if (m->id == &HIL_MSG_RUN_STARTED) {
        st->n = 0;
        fprintf(f, "TAP version 13\n");
    } else if (m->id == &HIL_MSG_TEST_FINISHED) {
        const hil_test_result* r = (const hil_test_result*)m->data;
        int bad = hil_outcome_is_failure(r->outcome);
        st->n++;
        fprintf(f, "%s %zu - %s", bad ? "not ok" : "ok", st->n, r->test->full_name);
        if (r->outcome == HIL_SKIPPED) fprintf(f, " # SKIP %s", r->reason ? r->reason : "");
        fputc('\n', f);
        if (bad || r->outcome == HIL_PASSX) {
            fprintf(f, "  ---\n");
            hil__tap_yaml_str(f, "result", hil_outcome_str(r->outcome));
            hil__tap_yaml_str(f, "message", r->reason);
            fprintf(f, "  duration_ms: %.3f\n", (double)r->duration_ns / 1e6);
            if (r->test->file && *r->test->file) fprintf(f, "  at: %s:%d\n", r->test->file, r->test->line);
            fprintf(f, "  ...\n");
        }
    } else if (m->id == &HIL_MSG_RUN_FINISHED) {
        const hil_run_summary* s = (const hil_run_summary*)m->data;
        fprintf(f, "1..%zu\n", st->n);
        if (s->interrupted) fprintf(f, "# interrupted: %zu tests not run\n", s->not_run);
        fprintf(f, "# %zu passed, %zu failed, %zu skipped\n", hil_summary_passed(s), hil_summary_failed(s),
                s->counts[HIL_SKIPPED]);
    }
    fflush(f);
}

static hil_result hil__tap_init(hil_ext_ctx* ctx) {
    hil__tap_state* st = (hil__tap_state*)hil__calloc(1, sizeof *st);
    hil_result r;
    if (!st) return HIL_ERR_NO_MEMORY;
    st->out = stdout;
    ctx->user = st;
    r = hil_ext_subscribe(ctx, HIL_DISPATCH_CALLBACK, hil__on_tap, st, &HIL_MSG_RUN_STARTED, &HIL_EP_RUN);
    if (r == HIL_OK) r = hil_ext_subscribe(ctx, HIL_DISPATCH_CALLBACK, hil__on_tap, st, &HIL_MSG_TEST_FINISHED, &HIL_EP_RUN);
    if (r == HIL_OK) r = hil_ext_subscribe(ctx, HIL_DISPATCH_CALLBACK, hil__on_tap, st, &HIL_MSG_RUN_FINISHED, &HIL_EP_RUN);
    return r;
}

static void hil__ext_free_user(hil_ext_ctx* ctx) {
    HIL_FREE(ctx->user);
    ctx->user = NULL;
}

static void hil__describe_tap(hil_extension* ext) {
    hil_option* o;
    ext->description = "Prints TAP version 13 on standard output instead of the console report";
    ext->load_order = 200;
    ext->activate_on = "report.tap";
    ext->initialize = hil__tap_init;
    ext->destroy = hil__ext_free_user;
    o = hil_ext_option(ext, "report.tap", HIL_OPT_FLAG, "false", "Print TAP 13 on standard output");
    o->cli = "--tap";
    o->commands = "report";
}

/* ---- the console ---------------------------------------------------------------- */

typedef struct hil__console {
    int color, verbose, quiet, progress;
    size_t planned, done, counts[HIL_OUTCOME_COUNT];
    const hil_test_result* running;
    uint64_t run_start, test_start, last_draw, sum_ns;
    int drawn;
    hil_log_level log_level;
} hil__console;

static const char* hil__outcome_color(hil_outcome o) {
    switch (o) {
    case HIL_PASSED:
    case HIL_PASSX: return "\x1b[32m";
    case HIL_SKIPPED: return "\x1b[36m";
    case HIL_BLOCKED: return "\x1b[35m";
    default: return "\x1b[31m";
    }
}

static int hil__color_wanted(const char* mode, int fd) {
    const char* term = getenv("TERM");
    if (strcmp(mode, "always") == 0) return 1;
    if (strcmp(mode, "never") == 0) return 0;
    if (getenv("NO_COLOR") && *getenv("NO_COLOR")) return 0;
    return isatty(fd) && term && strcmp(term, "dumb") != 0;
}

static void hil__console_clear(hil__console* c) {
    if (c->drawn) {
        fputs("\r\x1b[K", stdout);
        c->drawn = 0;
    }
}

static void hil__fmt_duration(char* out, size_t size, uint64_t ns) {
    double s = hil__secs(ns);
    if (s < 1e-3) hil__sfmt(out, size, "%.0f us", s * 1e6);
    else if (s < 1) hil__sfmt(out, size, "%.1f ms", s * 1e3);
    else if (s < 120) hil__sfmt(out, size, "%.2f s", s);
    else hil__sfmt(out, size, "%dm%02ds", (int)(s / 60), (int)s % 60);
}

static void hil__console_draw(hil__console* c, int force) {
    uint64_t now = hil_now_ns();
    char eta[32] = "", el[32] = "";
    if (!c->progress) return;
    if (!force && now - c->last_draw < 100000000u) return;
    c->last_draw = now;
    if (c->done && c->planned > c->done) {
        double per = hil__secs(now - c->run_start) / (double)c->done;
        hil__sfmt(eta, sizeof eta, " ETA %.0fs", per * (double)(c->planned - c->done));
    }
    if (c->running) hil__fmt_duration(el, sizeof el, now - c->test_start);
    fprintf(stdout, "\r\x1b[K[%zu/%zu] %zu passed, %zu failed, %zu skipped%s%s%s%s%s", c->done, c->planned,
            c->counts[HIL_PASSED] + c->counts[HIL_PASSX],
            c->counts[HIL_FAILED] + c->counts[HIL_ERRORED] + c->counts[HIL_ABORTED] + c->counts[HIL_BLOCKED],
            c->counts[HIL_SKIPPED], eta, c->running ? " | " : "", c->running ? c->running->test->full_name : "",
            c->running ? " " : "", el);
    fflush(stdout);
    c->drawn = 1;
}

static void hil__console_indent(const char* text, size_t len, size_t max_lines) {
    /* the last max_lines lines, indented */
    size_t lines = 0, i, start = 0;
    for (i = len; i > 0; i--)
        if (text[i - 1] == '\n' && i != len && ++lines >= max_lines) { start = i; break; }
    if (start) printf("      ...\n");
    while (start < len) {
        size_t l = 0;
        while (start + l < len && text[start + l] != '\n') l++;
        printf("      | %.*s\n", (int)l, text + start);
        start += l + 1;
    }
}

static void hil__console_result(hil__console* c, const hil_test_result* r) {
    char dur[32];
    int bad = hil_outcome_is_failure(r->outcome);
    size_t i;
    hil__fmt_duration(dur, sizeof dur, r->duration_ns);
    if (c->quiet && !bad) return;
    printf("  %s%-8s%s %s", c->color ? hil__outcome_color(r->outcome) : "", hil_outcome_str(r->outcome),
           c->color ? "\x1b[0m" : "", r->test->full_name);
    if (r->iteration > 1) printf(" #%d", r->iteration);
    printf(" (%s)", dur);
    if (r->outcome == HIL_PASSX) printf(" after %d attempts", r->attempts);
    if (r->outcome == HIL_SKIPPED && r->reason) printf(": %s", r->reason);
    putchar('\n');
    if (bad) {
        if (r->n_failures == 0 && r->reason) printf("      %s\n", r->reason);
        for (i = 0; i < r->n_failures && i < 10; i++)
            if (r->failures[i].file && *r->failures[i].file)
                printf("      %s:%d: %s\n", r->failures[i].file, r->failures[i].line, r->failures[i].message);
            else
                printf("      %s\n", r->failures[i].message);
        if (r->n_failures + r->n_failures_dropped > 10)
            printf("      ... %zu more failed checks\n", r->n_failures + r->n_failures_dropped - 10);
    }
    for (i = 0; i < r->n_warnings; i++) printf("      warning: %s\n", r->warnings[i]);
    if (r->output_len && (bad || c->verbose)) hil__console_indent(r->output, r->output_len, c->verbose ? 1000 : 40);
}

static void hil__console_summary(hil__console* c, const hil_run_summary* s) {
    static const hil_outcome order[] = {HIL_PASSED, HIL_PASSX, HIL_FAILED, HIL_ERRORED,
                                        HIL_BLOCKED, HIL_ABORTED, HIL_SKIPPED};
    char dur[32];
    size_t i;
    hil__fmt_duration(dur, sizeof dur, s->duration_ns);
    printf("\n");
    for (i = 0; i < HIL__COUNTOF(order); i++)
        printf("%s%s %zu", i ? ", " : "", hil_outcome_str(order[i]), s->counts[order[i]]);
    printf(" (%zu tests in %s, success rate %.1f%%%s%s)\n", s->n_results, dur, hil__success_rate(s),
           s->shuffled ? ", shuffled with --shuffle=" : "", "");
    if (s->shuffled) printf("rerun in this order with --shuffle=%llu\n", s->seed);
    if (s->interrupted) printf("interrupted: %zu tests not run\n", s->not_run);
    else if (s->not_run) printf("stopped early (--fail-fast): %zu tests not run\n", s->not_run);
    (void)c;
    printf("%zu passed, %zu failed, %zu skipped\n", hil_summary_passed(s), hil_summary_failed(s),
           s->counts[HIL_SKIPPED]);
    fflush(stdout);
}

static void hil__on_console(const hil_bus_msg* m, void* user) {
    hil__console* c = (hil__console*)user;
    if (m->id == &HIL_MSG_RUN_STARTED) {
        const hil_run_summary* s = (const hil_run_summary*)m->data;
        memset(c->counts, 0, sizeof c->counts);
        c->planned = s->planned;
        c->done = 0;
        c->run_start = hil_now_ns();
        if (!c->quiet) {
            printf("hil %s: running %zu test%s", HIL_VERSION, s->planned, s->planned == 1 ? "" : "s");
            if (s->shuffled) printf(" (shuffled, seed %llu)", s->seed);
            printf("\n");
            fflush(stdout);
        }
    } else if (m->id == &HIL_MSG_TEST_STARTED) {
        c->running = (const hil_test_result*)m->data;
        c->test_start = hil_now_ns();
        hil__console_draw(c, 0);
    } else if (m->id == &HIL_MSG_TEST_FINISHED) {
        const hil_test_result* r = (const hil_test_result*)m->data;
        hil__console_clear(c);
        c->counts[r->outcome]++;
        if (r->test->index >= 0) c->done++;
        c->running = NULL;
        hil__console_result(c, r);
        if (c->progress) hil__console_draw(c, 1);
        else if (!c->quiet) fflush(stdout);
    } else if (m->id == &HIL_MSG_RUN_TICK) {
        hil__console_draw(c, 1);
    } else if (m->id == &HIL_MSG_RUN_FINISHED) {
        hil__console_clear(c);
        hil__console_summary(c, (const hil_run_summary*)m->data);
    }
}

static void hil__on_console_log(const hil_bus_msg* m, void* user) {
    hil__console* c = (hil__console*)user;
    const hil_log_record* rec = (const hil_log_record*)m->data;
    hil_strbuf sb = {0, 0, 0, 0};
    if (rec->level < c->log_level) return;
    hil__console_clear(c);
    hil__log_format_line(&sb, rec, c->color);
    fflush(stdout);
    if (sb.data) (void)!write(2, sb.data, sb.len);
    hil_sb_free(&sb);
}

static hil__console* hil__the_console;

static hil_result hil__console_init(hil_ext_ctx* ctx) {
    hil__console* c = (hil__console*)hil__calloc(1, sizeof *c);
    static const hil_message_def* const msgs[] = {&HIL_MSG_RUN_STARTED, &HIL_MSG_TEST_STARTED, &HIL_MSG_TEST_FINISHED,
                                                  &HIL_MSG_RUN_TICK, &HIL_MSG_RUN_FINISHED};
    size_t i;
    hil_result r = HIL_OK;
    if (!c) return HIL_ERR_NO_MEMORY;
    ctx->user = c;
    c->color = hil__color_wanted(hil_config_get(ctx->config, "console.color", "auto"), 1);
    hil__log.color = hil__color_wanted(hil_config_get(ctx->config, "console.color", "auto"), 2);
    c->quiet = hil_config_get_bool(ctx->config, "console.quiet", 0);
    c->verbose = (int)hil_config_get_int(ctx->config, "console.verbose", 0);
    c->progress = !c->quiet && isatty(1) && hil_config_get_bool(ctx->config, "console.progress", 1) &&
                  getenv("TERM") && strcmp(getenv("TERM"), "dumb") != 0;
    if (hil_log_level_parse(hil_config_get(ctx->config, "console.log_level", "warning"), &c->log_level) != HIL_OK)
        c->log_level = HIL_LOG_WARN;
    if (c->verbose) c->log_level = HIL_LOG_TRACE; /* whatever the log level lets through */
    hil__the_console = c;
    for (i = 0; i < HIL__COUNTOF(msgs) && r == HIL_OK; i++)
        r = hil_ext_subscribe(ctx, HIL_DISPATCH_CALLBACK, hil__on_console, c, msgs[i], &HIL_EP_RUN);
    return r;
}

static void hil__console_destroy(hil_ext_ctx* ctx) {
    if (hil__the_console == ctx->user) hil__the_console = NULL;
    hil__ext_free_user(ctx);
}

static void hil__describe_console(hil_extension* ext) {
    hil_option* o;
    ext->description = "The console report: a line per test, a live progress line on a terminal, the summary";
    ext->load_order = 200;
    ext->deactivate_on = "report.tap";
    ext->initialize = hil__console_init;
    ext->destroy = hil__console_destroy;
    o = hil_ext_option(ext, "console.color", HIL_OPT_CHOICE, "auto", "Colour output: auto, always or never");
    o->choices = "auto|always|never";
    o->cli = "--color";
    o->metavar = "WHEN";
    o = hil_ext_option(ext, "console.quiet", HIL_OPT_FLAG, "false", "Only failures and the summary");
    o->cli = "-q,--quiet";
    o = hil_ext_option(ext, "console.verbose", HIL_OPT_COUNT, "0",
                       "Show every test's captured output and log records live");
    o->cli = "-v,--verbose";
    hil_ext_option(ext, "console.progress", HIL_OPT_BOOL, "true", "Draw a live progress line on a terminal");
    hil_ext_option(ext, "console.log_level", HIL_OPT_CHOICE, "warning",
                   "Log records at or above this level are printed live (all are kept in the reports)")
        ->choices = "trace|debug|info|warning|error|off";
}

/* Log records on the console (also with --tap, where the report is on stdout). */
static hil_result hil__console_log_init(hil_ext_ctx* ctx) {
    hil__console* c = (hil__console*)hil__calloc(1, sizeof *c);
    if (!c) return HIL_ERR_NO_MEMORY;
    ctx->user = c;
    c->color = hil__color_wanted(hil_config_get(ctx->config, "console.color", "auto"), 2);
    if (hil_log_level_parse(hil_config_get(ctx->config, "console.log_level", "warning"), &c->log_level) != HIL_OK)
        c->log_level = HIL_LOG_WARN;
    if (hil_config_get_int(ctx->config, "console.verbose", 0) > 0) c->log_level = HIL_LOG_TRACE;
    return hil_ext_subscribe(ctx, HIL_DISPATCH_CALLBACK, hil__on_console_log, c, &HIL_MSG_LOG, &HIL_EP_RUN);
}

static void hil__describe_console_log(hil_extension* ext) {
    ext->description = "Prints log records on standard error";
    ext->load_order = 200;
    ext->initialize = hil__console_log_init;
    ext->destroy = hil__ext_free_user;
}

/* ---- logging: levels and the log file ------------------------------------------- */

typedef struct hil__logfile { FILE* f; } hil__logfile;

static void hil__on_logfile(const hil_bus_msg* m, void* user) {
    hil__logfile* lf = (hil__logfile*)user;
    hil_strbuf sb = {0, 0, 0, 0};
    const hil_log_record* rec = (const hil_log_record*)m->data;
    hil__log_format_line(&sb, rec, 0);
    if (sb.data) fwrite(sb.data, 1, sb.len, lf->f);
    fflush(lf->f);
    hil_sb_free(&sb);
}

static hil_result hil__logging_init(hil_ext_ctx* ctx) {
    const char* levels[32];
    size_t n = hil_config_get_list(ctx->config, "log.level", levels, 32), i;
    const char* file = hil_config_get(ctx->config, "log.file", NULL);
    for (i = 0; i < n && i < 32; i++)
        if (hil_log_configure(levels[i]) != HIL_OK) {
            hil__app.exit_code = 2;
            return hil_error(HIL_ERR_INVALID_ARG, "--log-level: %s", hil_last_error());
        }
    if (file && *file) {
        hil__logfile* lf = (hil__logfile*)hil__calloc(1, sizeof *lf);
        if (!lf) return HIL_ERR_NO_MEMORY;
        lf->f = fopen(file, "a");
        if (!lf->f) {
            HIL_FREE(lf);
            hil__app.exit_code = 3;
            return hil_error(HIL_ERR_CONFIG, "log file '%s': %s", file, strerror(errno));
        }
        ctx->user = lf;
        return hil_ext_subscribe(ctx, HIL_DISPATCH_CALLBACK, hil__on_logfile, lf, &HIL_MSG_LOG, &HIL_EP_RUN);
    }
    return HIL_OK;
}

static void hil__logging_destroy(hil_ext_ctx* ctx) {
    hil__logfile* lf = (hil__logfile*)ctx->user;
    if (lf) fclose(lf->f);
    hil__ext_free_user(ctx);
}

static void hil__describe_logging(hil_extension* ext) {
    hil_option* o;
    ext->description = "Log levels per logger and an optional log file";
    ext->load_order = 95;
    ext->initialize = hil__logging_init;
    ext->destroy = hil__logging_destroy;
    o = hil_ext_option(ext, "log.level", HIL_OPT_STRING, NULL,
                       "Log level (trace, debug, info, warning, error, off), or LOGGER=LEVEL, e.g. hil.aux=debug");
    o->flags = HIL_OPT_MULTIPLE;
    o->cli = "--log-level";
    o->metavar = "LEVEL";
    o = hil_ext_option(ext, "log.file", HIL_OPT_PATH, NULL, "Append every log record to FILE");
    o->cli = "--log-file";
    o->metavar = "FILE";
}

/* ==========================================================================
 * Built-in commands and hil_main
 * ========================================================================== */

static void hil__app_log_route(const hil_log_record* rec) {
    if (hil__app.bus) {
        hil_bus_trigger(hil__app.bus, &HIL_MSG_LOG, &HIL_EP_RUN, rec->logger, rec, 0);
    } else {
        hil_strbuf sb = {0, 0, 0, 0};
        hil__log_format_line(&sb, rec, 0);
        if (sb.data) (void)!write(2, sb.data, sb.len);
        hil_sb_free(&sb);
    }
}

/* Run options from the configuration (command line, files, environment). */
static hil_result hil__run_options_from_config(hil_config* cfg, hil_run_options* o, const char** lists[3],
                                               char** pos, int n_pos) {
    static const char* const keys[3] = {"run.filter", "run.tag", "run.exclude_tag"};
    size_t i, n[3];
    const char* shuffle = hil_config_get(cfg, "run.shuffle", NULL);
    hil_run_options_init(o);
    for (i = 0; i < 3; i++) {
        size_t extra = i == 0 ? (size_t)n_pos : 0, k;
        n[i] = hil_config_get_list(cfg, keys[i], NULL, 0);
        lists[i] = (const char**)hil__calloc(n[i] + extra + 1, sizeof(char*));
        if (!lists[i]) return HIL_ERR_NO_MEMORY;
        hil_config_get_list(cfg, keys[i], lists[i], n[i]);
        for (k = 0; k < extra; k++) lists[i][n[i] + k] = pos[k];
        n[i] += extra;
    }
    o->filters = lists[0];
    o->n_filters = n[0];
    o->tags = lists[1];
    o->n_tags = n[1];
    o->exclude_tags = lists[2];
    o->n_exclude_tags = n[2];
    if (shuffle && *shuffle && strcmp(shuffle, "false") != 0) {
        o->shuffle = 1;
        if (strcmp(shuffle, "random") == 0 || strcmp(shuffle, "true") == 0) {
            uint64_t s = hil_wall_ns() ^ ((uint64_t)getpid() << 32);
            o->seed = (unsigned long long)(hil__rand_next(&s) % 1000000000ull);
        } else {
            char* end;
            o->seed = strtoull(shuffle, &end, 0);
            if (*end) {
                hil__app.exit_code = 2;
                return hil_error(HIL_ERR_INVALID_ARG, "--shuffle: expected a number (the seed), got '%s'", shuffle);
            }
        }
    }
    o->repeat = (int)hil_config_get_int(cfg, "run.repeat", 1);
    if (o->repeat < 1) {
        hil__app.exit_code = 2;
        return hil_error(HIL_ERR_INVALID_ARG, "--repeat: must be at least 1");
    }
    o->fail_fast = hil_config_get_bool(cfg, "run.fail_fast", 0);
    o->timeout_s = hil_config_get_float(cfg, "run.timeout", 60);
    o->capture = hil_config_get_bool(cfg, "run.capture", 1);
    if (hil_config_get_bool(cfg, "run.no_fork", 0)) o->isolation = HIL_ISOLATE_NONE;
    else if (hil_config_get_bool(cfg, "run.isolate", 0)) o->isolation = HIL_ISOLATE_TEST;
    return HIL_OK;
}

static void hil__free_lists(const char** lists[3]) {
    int i;
    for (i = 0; i < 3; i++) HIL_FREE((void*)lists[i]);
}

static int hil__cmd_run(hil_cmd_ctx* ctx) {
    hil_run_options o;
    const char** lists[3] = {NULL, NULL, NULL};
    hil_run_summary* s = NULL;
    int code;
    if (hil__run_options_from_config(ctx->config, &o, lists, ctx->argv, ctx->argc) != HIL_OK) {
        fprintf(stderr, "hil: error: %s\n", hil_last_error());
        hil__free_lists(lists);
        return hil__app.exit_code ? hil__app.exit_code : 4;
    }
    o.bus = ctx->bus;
    o.name = hil_config_get(ctx->config, "run.name", NULL);
    if (!o.name) {
        const char* slash = strrchr(hil__app.argv[0], '/');
        o.name = slash ? slash + 1 : hil__app.argv[0];
    }
    if (hil_run_tests(&o, &s) != HIL_OK) {
        fprintf(stderr, "hil: error: %s\n", hil_last_error());
        hil__free_lists(lists);
        return 3;
    }
    if (s->planned == 0) fprintf(stderr, "hil: warning: no test matches the selection\n");
    code = (hil_summary_failed(s) || s->interrupted) ? 1 : 0;
    hil_run_summary_free(s);
    hil__free_lists(lists);
    return code;
}

static int hil__cmd_list(hil_cmd_ctx* ctx) {
    hil_run_options o;
    const char** lists[3] = {NULL, NULL, NULL};
    size_t i, n = 0;
    int verbose = (int)hil_config_get_int(ctx->config, "console.verbose", 0);
    if (hil__tests_prepare() != HIL_OK) {
        fprintf(stderr, "hil: error: %s\n", hil_last_error());
        return 3;
    }
    if (hil__run_options_from_config(ctx->config, &o, lists, ctx->argv, ctx->argc) != HIL_OK) {
        fprintf(stderr, "hil: error: %s\n", hil_last_error());
        hil__free_lists(lists);
        return hil__app.exit_code ? hil__app.exit_code : 4;
    }
    for (i = 0; i < hil__reg.n; i++) {
        const hil_test_info* t = &hil__reg.tests[i]->info;
        if (!hil_test_selected(t, &o)) continue;
        n++;
        printf("%s", t->full_name);
        if (verbose) {
            printf("  [");
            if (t->suite_id) printf("suite_id=%d ", t->suite_id);
            if (t->case_id) printf("case_id=%d ", t->case_id);
            if (*t->tags) printf("tags=%s ", t->tags);
            if (t->timeout_s > 0) printf("timeout=%gs ", t->timeout_s);
            if (t->retries) printf("retries=%d ", t->retries);
            if (t->skip_reason) printf("skip=\"%s\" ", t->skip_reason);
            printf("%s:%d]", t->file, t->line);
        }
        putchar('\n');
    }
    printf("%zu test%s\n", n, n == 1 ? "" : "s");
    hil__free_lists(lists);
    return 0;
}

static int hil__cmp_opt(const void* a, const void* b) {
    return strcmp((*(const hil_option* const*)a)->key, (*(const hil_option* const*)b)->key);
}

typedef struct hil__cfg_print { hil_config* cfg; int found; } hil__cfg_print;

static void hil__print_concrete(const char* key, const hil_config_value* v, void* user) {
    hil__cfg_print* p = (hil__cfg_print*)user;
    const hil_option* o = hil_option_find(key);
    size_t i;
    if (o && !strchr(o->key, '*')) return; /* printed with its option */
    printf("%-36s = ", key);
    for (i = 0; i < v->count; i++) printf("%s%s", i ? ", " : "", v->count > 1 ? v->values[i] : v->value);
    printf("   [priority %d, %s]\n", v->priority, v->source);
    p->found++;
}

static int hil__cmd_config(hil_cmd_ctx* ctx) {
    hil_option* o;
    const hil_option** opts;
    size_t n = 0, i;
    hil__cfg_print p;
    for (o = hil__options_head; o; o = o->next) n++;
    opts = (const hil_option**)hil__calloc(n ? n : 1, sizeof *opts);
    if (!opts) return 4;
    for (n = 0, o = hil__options_head; o; o = o->next) opts[n++] = o;
    qsort(opts, n, sizeof *opts, hil__cmp_opt);
    printf("%-36s   %-18s %-9s %-8s %s\n", "KEY", "VALUE", "TYPE", "PRIORITY", "SOURCE");
    for (i = 0; i < n; i++) {
        hil_config_value v;
        hil_strbuf val = {0, 0, 0, 0};
        if (strchr(opts[i]->key, '*')) {
            printf("%-36s   %-18s %-9s %-8s %s\n", opts[i]->key,
                   opts[i]->default_value ? opts[i]->default_value : "-", hil__opt_type_str(opts[i]->type), "0",
                   "default (per entity)");
            continue;
        }
        if (hil_config_lookup(ctx->config, opts[i]->key, &v)) {
            size_t k;
            for (k = 0; k < v.count; k++) {
                if (k) hil_sb_puts(&val, ", ");
                hil_sb_puts(&val, v.count > 1 ? v.values[k] : v.value);
            }
            printf("%-36s = %-18s %-9s %-8d %s\n", opts[i]->key, hil_sb_cstr(&val), hil__opt_type_str(opts[i]->type),
                   v.priority, v.source);
        } else {
            printf("%-36s = %-18s %-9s %-8s %s\n", opts[i]->key, opts[i]->default_value ? opts[i]->default_value : "",
                   hil__opt_type_str(opts[i]->type), "0", "default");
        }
        hil_sb_free(&val);
    }
    p.cfg = ctx->config;
    p.found = 0;
    printf("\nentity values:\n");
    hil_config_foreach(ctx->config, hil__print_concrete, &p);
    if (!p.found) printf("  (none)\n");
    HIL_FREE((void*)opts);
    return 0;
}

static int hil__cmd_config_doc(hil_cmd_ctx* ctx) {
    /* The configuration reference, generated from the declared options so
     * it cannot drift from the code (docs/config-reference.md). */
    hil_option* o;
    const hil_option** opts;
    size_t n = 0, i;
    (void)ctx;
    for (o = hil__options_head; o; o = o->next) n++;
    opts = (const hil_option**)hil__calloc(n ? n : 1, sizeof *opts);
    if (!opts) return 4;
    for (n = 0, o = hil__options_head; o; o = o->next) opts[n++] = o;
    qsort(opts, n, sizeof *opts, hil__cmp_opt);
    printf("# Configuration reference\n\nGenerated by `config-doc` from the options the extensions declare.\n"
           "Set a key in a config file (`key = value` or YAML), with the environment variable `HIL_<KEY>` "
           "(dots become `_`), or with `--set key=value`. `*` stands for an entity name.\n\n");
    printf("| key | type | default | command line | extension | description |\n|---|---|---|---|---|---|\n");
    for (i = 0; i < n; i++) {
        if (opts[i]->flags & HIL_OPT_HIDDEN) continue;
        hil_strbuf choices = {0, 0, 0, 0}, help = {0, 0, 0, 0};
        const char* p;
        /* '|' would end a Markdown table cell */
        for (p = opts[i]->choices; p && *p; p++) {
            if (*p == '|') hil_sb_puts(&choices, ", ");
            else hil_sb_putc(&choices, *p);
        }
        for (p = opts[i]->help; p && *p; p++) {
            if (*p == '|') hil_sb_putc(&help, '\\');
            hil_sb_putc(&help, *p);
        }
        printf("| `%s` | %s%s%s | %s%s%s | %s%s%s | %s | %s%s%s%s |\n", opts[i]->key, hil__opt_type_str(opts[i]->type),
               opts[i]->flags & HIL_OPT_MULTIPLE ? ", multiple" : "", opts[i]->flags & HIL_OPT_REQUIRED ? ", required" : "",
               opts[i]->default_value ? "`" : "", opts[i]->default_value ? opts[i]->default_value : "",
               opts[i]->default_value ? "`" : "", opts[i]->cli ? "`" : "", opts[i]->cli ? opts[i]->cli : "",
               opts[i]->cli ? "`" : "", opts[i]->owner, hil_sb_cstr(&help), opts[i]->choices ? " (one of: " : "",
               hil_sb_cstr(&choices), opts[i]->choices ? ")" : "");
        hil_sb_free(&choices);
        hil_sb_free(&help);
    }
    HIL_FREE((void*)opts);
    return 0;
}

static int hil__cmd_extensions(hil_cmd_ctx* ctx) {
    hil_extension* e;
    const char* cmd_name = hil_config_get(ctx->config, "extensions.command", NULL);
    hil_command* cmd = cmd_name ? hil__command_find(cmd_name) : NULL;
    if (cmd_name && !cmd) {
        fprintf(stderr, "hil: error: --command: no command named '%s' (see '%s help')\n", cmd_name, hil__app.argv[0]);
        return 2;
    }
    printf("%-20s %-9s %-5s %-8s %-8s %s\n", "EXTENSION", "KIND", "ORDER", "ENABLED", "ACTIVE", "DESCRIPTION");
    for (e = hil__ext_head; e; e = e->next) {
        int enabled = hil__ext_enabled(e, ctx->config);
        hil__ext_inst* in;
        const char* active = "-";
        for (in = hil__app.insts; in; in = in->next)
            if (in->ext == e) active = in->ctx.active ? "yes" : "no";
        if (e->kind == HIL_EXT_COMMAND && enabled)
            active = hil__ext_is_active(e, ctx->config) ? "yes" : "no";
        printf("%-20s %-9s %-5d %-8s %-8s %s\n", e->name, e->kind == HIL_EXT_COMMAND ? "command" : "framework",
               e->load_order, enabled ? "yes" : "no", active, e->description ? e->description : "");
        if (e->kind == HIL_EXT_COMMAND) {
            hil_extension* f;
            hil_command* c;
            char why[512];
            if (cmd) {
                hil__attach_reason(e, cmd, why, sizeof why);
                printf("    %s '%s': %s\n", why[0] ? "attaches to" : "does not attach to", cmd->name,
                       why[0] ? why : "its extends is not a subset of what the command uses");
            } else {
                for (f = hil__ext_head; f; f = f->next)
                    for (c = f->commands; c; c = c->next)
                        if (hil__attach_reason(e, c, why, sizeof why)[0])
                            printf("    attaches to '%s': %s\n", c->name, why);
            }
        }
        if (e->replaces) printf("    replaces '%s'\n", e->replaces);
        if (e->activate_on) printf("    active when: %s\n", e->activate_on);
        if (e->deactivate_on) printf("    inactive when: %s\n", e->deactivate_on);
    }
    return 0;
}

static void hil__print_def(const hil__bus_def* d, void* u) {
    (void)u;
    if (!d->msg) printf("%s - %s  [%s]\n", d->ep->name, d->ep->description, d->owner);
    else printf("    %-22s %s\n", d->msg->name, d->msg->description);
}

static int hil__cmd_endpoints(hil_cmd_ctx* ctx) {
    if (!ctx->bus) return 4;
    hil__bus_defs(ctx->bus, hil__print_def, NULL);
    return 0;
}

static void hil__print_options_for(const hil_command* c) {
    hil_option* o;
    for (o = hil__options_head; o; o = o->next) {
        char flag[96];
        if (!o->cli || (o->flags & HIL_OPT_HIDDEN) || !hil__option_applies(o, c)) continue;
        hil__sfmt(flag, sizeof flag, "%s%s%s%s", o->cli,
                 o->type == HIL_OPT_FLAG || o->type == HIL_OPT_COUNT ? "" : (o->implicit ? "[=" : " "),
                 o->type == HIL_OPT_FLAG || o->type == HIL_OPT_COUNT ? "" : (o->metavar ? o->metavar : "VALUE"),
                 o->implicit && o->type != HIL_OPT_FLAG ? "]" : "");
        printf("  %-28s %s%s%s%s\n", flag, o->help ? o->help : "", o->default_value && o->type != HIL_OPT_FLAG ? " (default: " : "",
               o->default_value && o->type != HIL_OPT_FLAG ? o->default_value : "",
               o->default_value && o->type != HIL_OPT_FLAG ? ")" : "");
    }
}

static int hil__cmd_help(hil_cmd_ctx* ctx) {
    hil_extension* e;
    hil_command* c;
    const char* prog = hil__app.argv[0];
    const char* which = ctx->argc > 0 ? ctx->argv[0] : NULL;
    hil_command* cmd = which ? hil__command_find(which) : NULL;
    if (which && !cmd) {
        fprintf(stderr, "hil: error: no command named '%s' (see '%s help')\n", which, prog);
        return 2;
    }
    if (cmd) {
        printf("usage: %s %s [OPTIONS]%s%s\n\n%s\n\noptions:\n", prog, cmd->name, cmd->usage ? " " : "",
               cmd->usage ? cmd->usage : "", cmd->help ? cmd->help : "");
        hil__print_options_for(cmd);
        printf("  %-28s %s\n", "--set KEY=VALUE", "Set any configuration key (see the 'config' command)");
        printf("  %-28s %s\n", "-h, --help", "Show this help");
        return 0;
    }
    printf("usage: %s [COMMAND] [OPTIONS] [ARGS]\n\n"
           "hil %s - hardware-in-the-loop tests in C. Without a command, 'run' runs the tests.\n\ncommands:\n",
           prog, HIL_VERSION);
    for (e = hil__ext_head; e; e = e->next) {
        if (!hil__ext_enabled(e, ctx->config)) continue;
        for (c = e->commands; c; c = c->next) printf("  %-14s %s\n", c->name, c->help ? c->help : "");
    }
    printf("\nrun options (see '%s help COMMAND' for each command):\n", prog);
    hil__print_options_for(hil__command_find("run"));
    printf("  %-28s %s\n", "--set KEY=VALUE", "Set any configuration key (see the 'config' command)");
    printf("  %-28s %s\n", "--version", "Print the hil version and the optional libraries built in");
    printf("\nexit codes: 0 nothing failed, 1 a test failed, 2 usage error, 3 configuration error, 4 internal error\n");
    return 0;
}

static void hil__describe_commands(hil_extension* ext) {
    static const hil_message_def* const msgs[] = {&HIL_MSG_RUN_STARTED, &HIL_MSG_SUITE_STARTED, &HIL_MSG_TEST_STARTED,
                                                  &HIL_MSG_TEST_FINISHED, &HIL_MSG_SUITE_FINISHED, &HIL_MSG_RUN_FINISHED,
                                                  &HIL_MSG_LOG, &HIL_MSG_RUN_TICK, NULL};
    hil_command* c;
    hil_option* o;
    ext->description = "The core commands: run, list, config, extensions, endpoints, help";
    ext->load_order = 50;
    hil_ext_endpoint(ext, &HIL_EP_RUN, msgs);
    c = hil_ext_command(ext, "run", "Run the tests (the default command)", hil__cmd_run);
    c->uses = "tests,report";
    c->usage = "[FILTER...]";
    c = hil_ext_command(ext, "list", "List the tests (with -v: ids, tags, timeouts)", hil__cmd_list);
    c->uses = "tests";
    c->usage = "[FILTER...]";
    hil_ext_command(ext, "config", "Show every option with its value, priority and source", hil__cmd_config);
    hil_ext_command(ext, "config-doc", "Print the configuration reference as Markdown", hil__cmd_config_doc);
    hil_ext_command(ext, "extensions", "Show the extensions and which commands they attach to", hil__cmd_extensions);
    hil_ext_command(ext, "endpoints", "Show the message bus endpoints and messages", hil__cmd_endpoints);
    c = hil_ext_command(ext, "help", "Show help for the program or a command", hil__cmd_help);
    c->usage = "[COMMAND]";
    o = hil_ext_option(ext, "run.filter", HIL_OPT_STRING, NULL, "Run tests whose suite.name matches GLOB (repeatable)");
    o->flags = HIL_OPT_MULTIPLE;
    o->cli = "--filter";
    o->metavar = "GLOB";
    o->commands = "tests";
    o = hil_ext_option(ext, "run.tag", HIL_OPT_STRING, NULL, "Run tests with tag T (repeatable: any of them)");
    o->flags = HIL_OPT_MULTIPLE;
    o->cli = "--tag";
    o->metavar = "T";
    o->commands = "tests";
    o = hil_ext_option(ext, "run.exclude_tag", HIL_OPT_STRING, NULL, "Skip tests with tag T (repeatable)");
    o->flags = HIL_OPT_MULTIPLE;
    o->cli = "--exclude-tag";
    o->metavar = "T";
    o->commands = "tests";
    o = hil_ext_option(ext, "run.shuffle", HIL_OPT_STRING, NULL, "Shuffle the order (suites stay together); =SEED repeats an order");
    o->cli = "--shuffle";
    o->metavar = "SEED";
    o->implicit = "random";
    o->commands = "run";
    o = hil_ext_option(ext, "run.repeat", HIL_OPT_INT, "1", "Run the selection N times");
    o->cli = "--repeat";
    o->metavar = "N";
    o->commands = "run";
    o = hil_ext_option(ext, "run.fail_fast", HIL_OPT_FLAG, "false", "Stop after the first failure");
    o->cli = "--fail-fast";
    o->commands = "run";
    o = hil_ext_option(ext, "run.timeout", HIL_OPT_FLOAT, "60",
                       "Default per-test timeout in seconds (0: none); a test's own timeout wins");
    o->cli = "--timeout";
    o->metavar = "S";
    o->commands = "run";
    o = hil_ext_option(ext, "run.isolate", HIL_OPT_FLAG, "false", "Run every test in a fresh process");
    o->cli = "--isolate";
    o->commands = "run";
    o = hil_ext_option(ext, "run.no_fork", HIL_OPT_FLAG, "false",
                       "Run tests in this process (for debuggers; no crash or timeout protection)");
    o->cli = "--no-fork";
    o->commands = "run";
    o = hil_ext_option(ext, "run.capture", HIL_OPT_BOOL, "true",
                       "Capture the tests' stdout and stderr into the reports");
    o = hil_ext_option(ext, "run.max_output", HIL_OPT_INT, "1048576", "Bytes of output kept per test");
    o = hil_ext_option(ext, "run.name", HIL_OPT_STRING, NULL, "Name of the run in reports (default: the program)");
    o = hil_ext_option(ext, "params.*", HIL_OPT_STRING, NULL, "A parameter for the tests (hil_param(\"NAME\"))");
    o = hil_ext_option(ext, "extensions.command", HIL_OPT_STRING, NULL, "With 'extensions': show attachment to COMMAND");
    o->cli = "--command";
    o->metavar = "COMMAND";
    o->commands = "extensions";
}

/* Stage 5: config files and --enable/--disable (read early, see hil__cli_prescan). */
static hil_result hil__config_files_init(hil_ext_ctx* ctx) {
    (void)ctx;
    return hil__cli_prescan(hil__app.argc, hil__app.argv);
}

static void hil__describe_config_files(hil_extension* ext) {
    hil_option* o;
    ext->description = "Loads configuration files (-c) and applies --enable/--disable (load order 5)";
    ext->load_order = 5;
    ext->initialize = hil__config_files_init;
    o = hil_ext_option(ext, "config.files", HIL_OPT_PATH, NULL,
                       "Load a configuration file: YAML (.yaml, .yml) or 'key = value' lines (repeatable; later files win)");
    o->flags = HIL_OPT_MULTIPLE;
    o->cli = "-c,--config";
    o->metavar = "FILE";
    o = hil_ext_option(ext, "extensions.enable", HIL_OPT_STRING, NULL, "Enable the extension NAME");
    o->flags = HIL_OPT_MULTIPLE;
    o->cli = "--enable";
    o->metavar = "NAME";
    o = hil_ext_option(ext, "extensions.disable", HIL_OPT_STRING, NULL, "Disable the extension NAME");
    o->flags = HIL_OPT_MULTIPLE;
    o->cli = "--disable";
    o->metavar = "NAME";
    hil_ext_option(ext, "extensions.*.enabled", HIL_OPT_BOOL, NULL, "Enable or disable an extension (from files)");
}

/* Stage 90: the environment and the command line. */
static hil_result hil__cmdline_init(hil_ext_ctx* ctx) {
    int at = hil__cli_command(hil__app.argc, hil__app.argv, &hil__app.command_name);
    hil_result r;
    hil__app.command = hil__command_find(hil__app.command_name);
    if (!hil__app.command) {
        hil__app.exit_code = 4;
        return hil_error(HIL_ERR_INTERNAL, "no '%s' command is registered", hil__app.command_name);
    }
    r = hil__config_load_env(ctx->config);
    if (r != HIL_OK) return r;
    return hil__cli_parse(hil__app.argc, hil__app.argv, at, hil__app.command);
}

static void hil__describe_cmdline(hil_extension* ext) {
    ext->description = "Reads HIL_* environment variables and parses the command line (load order 90)";
    ext->load_order = 90;
    ext->initialize = hil__cmdline_init;
}

/* Stage 100: the configuration must be complete and valid. */
static hil_result hil__check_config_init(hil_ext_ctx* ctx) {
    hil_result r;
    if (hil__app.help) return HIL_OK;
    r = hil_config_validate(ctx->config);
    if (r == HIL_OK) r = hil_config_check_required(ctx->config);
    if (r != HIL_OK) hil__app.exit_code = 3;
    return r;
}

static void hil__describe_check_config(hil_extension* ext) {
    ext->description = "Checks the configuration: unknown keys, types, required options (load order 100)";
    ext->load_order = 100;
    ext->initialize = hil__check_config_init;
}

static void hil__declare_builtins(void) {
    hil_extension_declare("config_files", HIL_EXT_FRAMEWORK, hil__describe_config_files);
    hil_extension_declare("commands", HIL_EXT_FRAMEWORK, hil__describe_commands);
    hil_extension_declare("cmdline", HIL_EXT_FRAMEWORK, hil__describe_cmdline);
    hil_extension_declare("logging", HIL_EXT_FRAMEWORK, hil__describe_logging);
    hil_extension_declare("check_config", HIL_EXT_FRAMEWORK, hil__describe_check_config);
    hil_extension_declare("console", HIL_EXT_FRAMEWORK, hil__describe_console);
    hil_extension_declare("console_log", HIL_EXT_FRAMEWORK, hil__describe_console_log);
    hil_extension_declare("junit", HIL_EXT_FRAMEWORK, hil__describe_junit);
    hil_extension_declare("json", HIL_EXT_FRAMEWORK, hil__describe_json);
    hil_extension_declare("tap", HIL_EXT_FRAMEWORK, hil__describe_tap);
}

static int hil__cmp_ext(const void* a, const void* b) {
    const hil_extension* x = *(const hil_extension* const*)a;
    const hil_extension* y = *(const hil_extension* const*)b;
    return x->load_order - y->load_order;
}

/* Framework extensions in load order (stable: declaration order breaks ties). */
static hil_extension** hil__framework_order(size_t* n_out) {
    hil_extension* e;
    hil_extension** arr;
    size_t n = 0, i, j;
    for (e = hil__ext_head; e; e = e->next)
        if (e->kind == HIL_EXT_FRAMEWORK) n++;
    arr = (hil_extension**)hil__calloc(n ? n : 1, sizeof *arr);
    if (!arr) return NULL;
    for (n = 0, e = hil__ext_head; e; e = e->next)
        if (e->kind == HIL_EXT_FRAMEWORK) arr[n++] = e;
    for (i = 1; i < n; i++) /* insertion sort keeps equal orders stable */
        for (j = i; j > 0 && hil__cmp_ext(&arr[j - 1], &arr[j]) > 0; j--) {
            hil_extension* t = arr[j];
            arr[j] = arr[j - 1];
            arr[j - 1] = t;
        }
    *n_out = n;
    return arr;
}

static int hil__fail(hil_result r, int code) {
    const char* msg = hil_last_error()[0] ? hil_last_error() : hil_result_str(r);
    fprintf(stderr, "hil: error: %s\n", msg);
    /* a usage error points at the help, once: most messages name it already */
    if (code == 2 && !strstr(msg, "help")) fprintf(stderr, "hil: see '%s --help'\n", hil__app.argv[0]);
    return code;
}

static void hil__app_teardown(void) {
    hil__log_router = NULL;
    hil__inst_destroy_all(&hil__app.insts);
    if (hil__app.bus) hil_bus_destroy(hil__app.bus);
    hil__app.bus = NULL;
    HIL_FREE(hil__app.pos);
    hil__app.pos = NULL;
    hil__app.n_pos = 0;
}

/* --version: the version and the optional libraries compiled in (the
 * HIL_HAVE_* switches of the file that holds the implementation), so a
 * user or a packaging test can see what a test program was built with. */
static int hil__print_version(void) {
    static const char* const have[] = {
#ifdef HIL_HAVE_LIBYAML
        "libyaml",
#endif
#ifdef HIL_HAVE_LIBSERIALPORT
        "libserialport",
#endif
#ifdef HIL_HAVE_LIBSOCKETCAN
        "libsocketcan",
#endif
        NULL};
    size_t i;
    printf("hil %s\noptional libraries:", HIL_VERSION);
    for (i = 0; have[i]; i++) printf(" %s", have[i]);
    printf("%s\n", have[0] ? "" : " none");
    return 0;
}

HIL_API int hil_main(int argc, char** argv) {
    hil_extension** order;
    size_t n = 0, i;
    hil__ext_inst* in;
    hil_result r = HIL_OK;
    int code;
    hil_extension* e;
    hil_cmd_ctx cctx;
    static char* no_args[] = {(char*)"hil", NULL};
    if (argc < 1 || !argv) { argc = 1; argv = no_args; }
    hil__declare_builtins();
    hil__app.argc = argc;
    hil__app.argv = argv;
    hil__app.exit_code = 0;
    /* --version answers before any configuration is read: it must work
     * where a config file or the environment is broken. */
    for (i = 1; i < (size_t)argc && strcmp(argv[i], "--") != 0; i++)
        if (strcmp(argv[i], "--version") == 0) return hil__print_version();
    if (!hil_cfg() || hil_bus_create(&hil__app.bus) != HIL_OK) {
        fprintf(stderr, "hil: error: out of memory\n");
        return 4;
    }
    order = hil__framework_order(&n);
    if (!order) return 4;
    for (i = 0; i < n && r == HIL_OK; i++) {
        hil__app.stage = order[i]->load_order;
        if (!hil__ext_enabled(order[i], hil__app.cfg)) continue;
        r = hil__ext_create(order[i], hil__app.cfg, hil__app.bus, &hil__app.insts, order[i]->load_order > 100);
        if (r == HIL_OK && order[i]->load_order >= 100 && !hil__app.help) {
            /* the config is complete: decide who is active */
            for (in = hil__app.insts; in && r == HIL_OK; in = in->next) r = hil__inst_decide(in);
        }
    }
    HIL_FREE(order);
    for (in = hil__app.insts; in && r == HIL_OK; in = in->next) r = hil__inst_decide(in);
    if (r != HIL_OK) {
        code = hil__fail(r, hil__app.exit_code ? hil__app.exit_code : 3);
        hil__app_teardown();
        return code;
    }
    hil__log_router = hil__app_log_route;
    {
        /* a command exists only while the extension that adds it is enabled */
        hil_extension* owner = hil_extension_find(hil__app.command->owner);
        int created = 0;
        for (in = hil__app.insts; in; in = in->next)
            if (in->ext == owner) created = 1;
        if (!created) {
            hil_error(HIL_ERR_INVALID_ARG, "the command '%s' belongs to the extension '%s', which is disabled",
                      hil__app.command->name, owner ? owner->name : "?");
            code = hil__fail(HIL_ERR_INVALID_ARG, 2);
            hil__app_teardown();
            return code;
        }
    }
    if (hil__app.help) {
        char* args[1];
        args[0] = (char*)hil__app.command->name;
        memset(&cctx, 0, sizeof cctx);
        cctx.config = hil__app.cfg;
        cctx.argc = hil__app.argc > 1 && strcmp(hil__app.command_name, "run") != 0 ? 1 : 0;
        cctx.argv = args;
        if (strcmp(hil__app.command_name, "help") == 0) cctx.argc = 0;
        code = hil__cmd_help(&cctx);
        hil__app_teardown();
        return code;
    }
    /* command extensions that attach to the chosen command */
    for (e = hil__ext_head; e && r == HIL_OK; e = e->next) {
        char why[512];
        if (e->kind != HIL_EXT_COMMAND || !hil__ext_enabled(e, hil__app.cfg)) continue;
        if (!hil__attach_reason(e, hil__app.command, why, sizeof why)[0]) continue;
        hil__app.stage = 1000;
        r = hil__ext_create(e, hil__app.cfg, hil__app.bus, &hil__app.insts, 1);
    }
    if (r != HIL_OK) {
        code = hil__fail(r, hil__app.exit_code ? hil__app.exit_code : 3);
        hil__app_teardown();
        return code;
    }
    memset(&cctx, 0, sizeof cctx);
    cctx.command = hil__app.command;
    cctx.config = hil__app.cfg;
    cctx.bus = hil__app.bus;
    cctx.argc = hil__app.n_pos;
    cctx.argv = hil__app.pos;
    code = hil__app.command->fn(&cctx);
    hil__app_teardown();
    return code;
}

/* ---- the extension test harness ---------------------------------------------------- */

struct hil_harness {
    hil_config* cfg;
    hil_bus* bus;
    hil__ext_inst* insts;
};

HIL_API hil_result hil_harness_create(const char* ext_name, const char* const* settings, hil_harness** out) {
    hil_harness* h;
    hil_extension* e;
    hil_result r = HIL_OK;
    size_t i;
    hil__declare_builtins();
    e = hil_extension_find(ext_name);
    if (!e) return hil_error(HIL_ERR_NOT_FOUND, "harness: no extension named '%s'", ext_name);
    h = (hil_harness*)hil__calloc(1, sizeof *h);
    if (!h) return hil_error(HIL_ERR_NO_MEMORY, "harness: out of memory");
    if (hil_config_create(&h->cfg) != HIL_OK || hil_bus_create(&h->bus) != HIL_OK) {
        hil_harness_destroy(h);
        return hil_error(HIL_ERR_NO_MEMORY, "harness: out of memory");
    }
    for (i = 0; settings && settings[i] && r == HIL_OK; i++) {
        const char* eq = strchr(settings[i], '=');
        char key[512];
        if (!eq || (size_t)(eq - settings[i]) >= sizeof key) {
            r = hil_error(HIL_ERR_INVALID_ARG, "harness: setting '%s' is not KEY=VALUE", settings[i]);
            break;
        }
        memcpy(key, settings[i], (size_t)(eq - settings[i]));
        key[eq - settings[i]] = 0;
        r = hil_config_set(h->cfg, key, eq + 1, HIL_PRIO_CLI, "harness");
    }
    /* the runner's endpoint, so the extension can listen to run events */
    if (r == HIL_OK && strcmp(e->name, "commands") != 0) {
        static const hil_message_def* const msgs[] = {&HIL_MSG_RUN_STARTED, &HIL_MSG_SUITE_STARTED,
                                                      &HIL_MSG_TEST_STARTED, &HIL_MSG_TEST_FINISHED,
                                                      &HIL_MSG_SUITE_FINISHED, &HIL_MSG_RUN_FINISHED,
                                                      &HIL_MSG_LOG, &HIL_MSG_RUN_TICK};
        r = hil_bus_define(h->bus, &HIL_EP_RUN, msgs, HIL__COUNTOF(msgs), "harness");
    }
    if (r == HIL_OK) r = hil__ext_create(e, h->cfg, h->bus, &h->insts, 1);
    if (r != HIL_OK) {
        char msg[1024];
        hil__sfmt(msg, sizeof msg, "%s", hil_last_error());
        hil_harness_destroy(h);
        return hil_error(r, "%s", msg);
    }
    *out = h;
    return HIL_OK;
}

HIL_API hil_bus* hil_harness_bus(hil_harness* h) { return h->bus; }
HIL_API hil_config* hil_harness_config(hil_harness* h) { return h->cfg; }
HIL_API hil_ext_ctx* hil_harness_ctx(hil_harness* h) { return h->insts ? &h->insts->ctx : NULL; }

HIL_API void hil_harness_destroy(hil_harness* h) {
    if (!h) return;
    hil__inst_destroy_all(&h->insts);
    if (h->bus) hil_bus_destroy(h->bus);
    if (h->cfg) hil_config_destroy(h->cfg);
    HIL_FREE(h);
}

#ifdef __cplusplus
}
#endif

#endif /* HIL_IMPLEMENTATION */
