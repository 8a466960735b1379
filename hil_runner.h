/* hil_runner.h - jobs and tasks (and, later, the lazy scheduler), for hil.
 *
 * ==========================================================================
 * PART 1: JOBS AND TASKS
 * ==========================================================================
 *
 * A job is a C function, compiled into the test program, that runs tasks:
 * selections of this program's tests, each in its own forked process with
 * its own crash-safe worker, or external commands. Tasks run one after the
 * other (hil_run) or in parallel (hil_task_start, hil_task_wait); each can
 * have a max_runtime. The job gets a run directory with a log per task,
 * the merged results (results.json, one JUnit file, a readable summary),
 * and a key/value store shared with its tasks. It is the job/task model of
 * pyATS Easypy without the Python start-up: the first task runs about a
 * millisecond after the job starts.
 *
 *     #include "hil.h"
 *     #include "hil_runner.h"
 *
 *     HIL_JOB(nightly) {
 *         const char* smoke[] = {"smoke.*", NULL};
 *         const char* uart[] = {"uart", "can", NULL};
 *         const char* params[] = {"board=rev_b", NULL};   // hil_param("board")
 *         hil_task_options o;
 *         hil_task *a, *b;
 *
 *         hil_task_options_init(&o);
 *         o.filters = smoke;
 *         o.max_runtime_s = 300;
 *         if (hil_run(rt, &o) != HIL_PASSED) return;     // one task, waited for
 *
 *         hil_task_options_init(&o);                      // two tasks in parallel
 *         o.filters = uart;
 *         o.params = params;
 *         hil_task_create(rt, &o, &a);
 *         hil_task_options_init(&o);
 *         o.argv = flash_check_argv;                      // an external command
 *         o.junit = "flash-check.xml";                    // ... and the JUnit it writes
 *         hil_task_create(rt, &o, &b);
 *         hil_task_start(a);
 *         hil_task_start(b);
 *         hil_task_wait(a, 600);
 *         hil_task_wait(b, 600);
 *     }
 *
 *     ./suite job nightly [--archive] [--runs DIR] [JOB ARGS...]
 *     ./suite jobs                   # the registered jobs
 *
 * Run directory: <runs>/<job>.<YYYYmmdd-HHMMSS>[-N]/ with JobLog,
 * TaskLog.<taskid>, env.txt, results.json (job -> tasks -> suites ->
 * tests), junit.xml (every task in one file), summary.txt; <runs>/latest
 * links to it; --archive packs it into <runs>/<dir>.tar.gz with tar(1).
 *
 * Results: a task's result is the maximum over its tests (Skipped < Passed
 * < Passx < Blocked < Failed < Errored < Aborted), the job's the maximum
 * over its tasks. The success rate is (Passed + Passx + Skipped) / tests
 * over every task; the `job` command exits 0 only at 100 %, 1 below,
 * then hil's codes (2 usage, 3 configuration, 4 internal).
 *
 * max_runtime: the task's process group gets SIGTERM (a test task stops
 * its running test and reports what it has), SIGKILL after job.grace
 * seconds; the task is Errored with "max_runtime N s exceeded" and keeps
 * the results it had streamed. Tasks still running when the job function
 * returns are stopped the same way and reported as errors.
 *
 * Interruption: the first Ctrl-C stops every task (running tests become
 * Aborted), refuses new tasks and still writes the reports; the second
 * exits at once. Every task leads its own process group and dies with
 * the job (PR_SET_PDEATHSIG on Linux).
 *
 * Arguments: `./suite job NAME ...`: options the runner does not know and
 * positional arguments reach the job in rt->argc/rt->argv (hil_job_arg()
 * takes one out, like argparse's parse_known_args); task parameters reach
 * the tests through hil_param().
 *
 * Shared state (hil_shared_*): a key/value store in shared memory, set up
 * before the first fork, so the job and its test tasks (and their tests)
 * see the same values; typed integers, strings and blobs; a process-shared
 * robust lock, and updates that are never half-visible, keep it consistent
 * when a task dies at any point. Its capacity (job.shared_size, default
 * 1 MiB) is a hard limit: a set that does not fit fails with
 * HIL_ERR_OVERFLOW and says how much room there is.
 *
 * THREADS AND FORK: the job function runs on the caller's thread; a
 * monitor thread reads the tasks' result streams, enforces max_runtime,
 * handles Ctrl-C and draws the progress. Tasks are forked by the monitor
 * thread (so PR_SET_PDEATHSIG follows the job's lifetime, not a user
 * thread's). The task API may be called from any thread of the job process,
 * not from a HIL_MSG_TASK_* callback (those run on the monitor thread).
 * The allocator must survive fork() in a threaded program (glibc's does).
 *
 * Docs: docs/jobs.md.
 *
 * ==========================================================================
 * PART 2: THE LAZY SCHEDULER (to come, in the second half of this file)
 * ==========================================================================
 *
 * Needs hil.h. The implementation is compiled where HIL_IMPLEMENTATION is
 * defined (after hil.h's).
 */
#ifndef HIL_RUNNER_H_INCLUDED
#define HIL_RUNNER_H_INCLUDED

#include "hil.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ==========================================================================
 * PART 1: jobs and tasks - declarations
 * ========================================================================== */

typedef struct hil_job_rt hil_job_rt;
typedef struct hil_task hil_task;
typedef struct hil_shared hil_shared;
typedef void (*hil_job_fn)(hil_job_rt* rt);

/* ---- registering jobs ------------------------------------------------------ */

typedef struct hil_job_entry { const char* name; hil_job_fn fn; } hil_job_entry;

HIL_API void hil_register_job(const char* name, hil_job_fn fn, const char* file, int line);
/* The explicit table API, for toolchains without constructors:
 * { HIL_JOB_ENTRY(nightly), ... } */
HIL_API void hil_register_jobs(const hil_job_entry* table, size_t count);
HIL_API size_t hil_job_count(void);
HIL_API const char* hil_job_name_at(size_t index);
/* The job extension (the `job` and `jobs` commands). Registered by a
 * constructor; call it before hil_main() with HIL_NO_CONSTRUCTORS. */
HIL_API void hil_jobs_register(void);

#ifndef HIL_NO_CONSTRUCTORS
#define HIL__REGISTER_JOB(name) \
    HIL__CONSTRUCTOR(hil__reg_job_##name) { hil_register_job(#name, hil__job_##name, __FILE__, __LINE__); }
#else
#define HIL__REGISTER_JOB(name)
#endif

/* HIL_JOB(name) { body } defines and registers a job; the body sees `rt`. */
#define HIL_JOB(name) \
    static void hil__job_##name(hil_job_rt* rt); \
    HIL__REGISTER_JOB(name) \
    static void hil__job_##name(hil_job_rt* rt HIL__UNUSED)
#define HIL_JOB_ENTRY(name) { #name, hil__job_##name }

/* ---- the runtime a job function receives ------------------------------------ */

struct hil_job_rt {
    const char* job;          /* the registered job name */
    const char* name;         /* the reporting name (hil_job_set_name changes it) */
    const char* directory;    /* the run directory, an absolute path */
    int argc;                 /* arguments for the job: options the runner */
    char** argv;              /*   did not know, and positionals (argv[argc] == NULL) */
    hil_config* config;       /* the program's configuration (hil_param() reads params.*) */
    hil_bus* bus;             /* the program's bus, or NULL (HIL_EP_JOB events go there) */
    hil_shared* shared;       /* the job's shared state, or NULL with job.shared_size 0 */
    void* internal;
};

HIL_API void hil_job_set_name(hil_job_rt* rt, const char* name);
/* parse_known_args: take "--flag VALUE" or "--flag=VALUE" out of rt->argv
 * and return VALUE (valid until the job ends), or fallback. */
HIL_API const char* hil_job_arg(hil_job_rt* rt, const char* flag, const char* fallback);
/* Take a "--flag" without a value out of rt->argv: 1 if it was there. */
HIL_API int hil_job_flag(hil_job_rt* rt, const char* flag);
/* Record an error of the job itself (it is Errored; the reports show why). */
HIL_API void hil_job_error(hil_job_rt* rt, const char* fmt, ...) HIL__PRINTF(2, 3);
/* Whether Ctrl-C (SIGINT/SIGTERM) was received: new tasks are refused. */
HIL_API int hil_job_interrupted(const hil_job_rt* rt);
HIL_API size_t hil_job_task_count(hil_job_rt* rt);
HIL_API hil_task* hil_job_task(hil_job_rt* rt, size_t index);

/* In the job process and in its test tasks (and their tests): the running
 * job, or NULL. */
HIL_API const hil_job_rt* hil_job_current(void);
HIL_API hil_shared* hil_job_shared(void);
/* In a test task (and its tests): the task's id, else NULL. */
HIL_API const char* hil_task_current_id(void);

/* ---- running a job ------------------------------------------------------------ */

#define HIL_JOB_CONSOLE_AUTO (-1)  /* LIVE on a terminal, LINES otherwise */
#define HIL_JOB_CONSOLE_SILENT 0   /* nothing */
#define HIL_JOB_CONSOLE_QUIET 1    /* failing tasks and the summary */
#define HIL_JOB_CONSOLE_LINES 2    /* a line per finished task and the summary */
#define HIL_JOB_CONSOLE_LIVE 3     /* LINES plus a live line per running task */

typedef struct hil_job_config {
    const char* job;          /* the registered job to run */
    const char* name;         /* reporting name (default: the job's) */
    const char* runs_dir;     /* where run directories are made (default "runs") */
    int argc;                 /* arguments for the job function */
    char** argv;
    int archive;              /* pack the run directory into <runs>/<dir>.tar.gz */
    double grace_s;           /* SIGTERM to SIGKILL for stopped tasks (default 5) */
    double max_runtime_s;     /* for tasks that set none (default 0: no limit) */
    size_t shared_size;       /* shared state capacity in bytes (0: none) */
    int console;              /* HIL_JOB_CONSOLE_* */
    int color;                /* colour the results on the console */
    hil_config* config;       /* NULL: hil_cfg() */
    hil_bus* bus;             /* NULL: hil_program_bus() */
} hil_job_config;

typedef struct hil_job_summary {
    hil_outcome result;       /* the job's roll-up */
    double success_rate;      /* percent */
    size_t tests, passed, failed, skipped;
    size_t n_tasks;
    int interrupted;
    int exit_code;            /* what the `job` command returns */
    char directory[1024];     /* the run directory ("" if none was made) */
} hil_job_summary;

HIL_API void hil_job_config_init(hil_job_config* c);
/* Run a registered job: make its run directory, call the job function,
 * stop what it left running, write the reports. out may be NULL. Errors
 * (unknown job, run directory) return an error with out->exit_code set. */
HIL_API hil_result hil_job_exec(const hil_job_config* c, hil_job_summary* out);

/* ---- tasks ------------------------------------------------------------------- */

#define HIL_PRIO_TASK 110     /* task parameters win over --set params.X */

typedef struct hil_task_options {
    const char* taskid;       /* NULL: "Task-N"; '/' becomes '_'; made unique */
    /* A selection of this program's tests (when argv is NULL). Lists are
     * NULL-terminated; a bare suite name in filters selects the suite. */
    const char* const* filters;       /* globs on "suite.name", or suite names */
    const char* const* tags;          /* any of */
    const char* const* exclude_tags;
    const char* const* params;        /* "NAME=VALUE": hil_param("NAME") in the tests */
    const char* const* config;        /* "KEY=VALUE": configuration the tests see (e.g. connectors.dut.port) */
    double timeout_s;         /* per-test timeout (0: run.timeout) */
    int isolation;            /* HIL_ISOLATE_* (default HIL_ISOLATE_WORKER) */
    /* ... or an external command */
    const char* const* argv;          /* the command (no shell), NULL-terminated */
    const char* const* env;           /* extra "KEY=VALUE" entries */
    const char* cwd;                  /* NULL: the job's */
    const char* junit;        /* the JUnit XML file the command writes (relative to cwd) */
    /* both kinds */
    double max_runtime_s;     /* 0: the job's default (job.max_runtime) */
    double grace_s;           /* SIGTERM to SIGKILL (0: job.grace) */
} hil_task_options;

HIL_API void hil_task_options_init(hil_task_options* o);
/* Prepare a task (no process yet); the options are copied. The task
 * belongs to the job and is freed when it ends. */
HIL_API hil_result hil_task_create(hil_job_rt* rt, const hil_task_options* o, hil_task** out);
/* Fork (tests) or spawn (command) the task. Once per task. After Ctrl-C
 * the task is not started: it is Aborted and this returns
 * HIL_ERR_INTERRUPTED. */
HIL_API hil_result hil_task_start(hil_task* t);
/* Wait until the task ends. max_runtime_s > 0: stop it when it is still
 * running after that long (from now) and return HIL_ERR_TIMEOUT; the task
 * is Errored with "max_runtime N s exceeded". */
HIL_API hil_result hil_task_wait(hil_task* t, double max_runtime_s);
/* Wait up to timeout_ms for the end: HIL_OK, or HIL_ERR_TIMEOUT (still running). */
HIL_API hil_result hil_task_join(hil_task* t, int timeout_ms);
/* Wait until one of the given started tasks has ended; *index is its
 * position (a pool: remove it from the list and start the next). */
HIL_API hil_result hil_task_wait_any(hil_task* const* tasks, size_t n, int timeout_ms, size_t* index);
HIL_API int hil_task_is_alive(hil_task* t);
/* SIGTERM to the task's process group, SIGKILL after the grace period; it
 * does not wait (join or wait for the end). */
HIL_API hil_result hil_task_terminate(hil_task* t);
/* The rolled-up result once the task ended, else HIL_NOT_RUN. */
HIL_API hil_outcome hil_task_result(hil_task* t);
/* Why the task did not pass (NULL while it runs or when it passed). */
HIL_API const char* hil_task_reason(hil_task* t);
HIL_API int hil_task_pid(hil_task* t);            /* 0 before start */
HIL_API const char* hil_task_id(const hil_task* t);
/* The task's results once it ended (tests, or the command's), else NULL. */
HIL_API const hil_run_summary* hil_task_summary(hil_task* t);
/* Create, start and wait for one task: its rolled-up result (Errored when
 * it could not be created or started; the reports say why). */
HIL_API hil_outcome hil_run(hil_job_rt* rt, const hil_task_options* o);

/* ---- shared state ------------------------------------------------------------- */

#define HIL_SHARED_DEFAULT_SIZE (1024u * 1024u)
#define HIL_SHARED_MAX_KEY 255

/* A store of `capacity` bytes (each value costs its size plus its key plus
 * 18 bytes, rounded up to 8) in anonymous shared memory: processes forked
 * after this call share it. hil_job_exec makes one for every job. */
HIL_API hil_result hil_shared_create(size_t capacity, hil_shared** out);
HIL_API void hil_shared_destroy(hil_shared* s);
HIL_API size_t hil_shared_capacity(const hil_shared* s);
/* Bytes the live values take (of the capacity). */
HIL_API size_t hil_shared_used(hil_shared* s);
HIL_API hil_result hil_shared_set_int(hil_shared* s, const char* key, long long v);
/* HIL_ERR_NOT_FOUND, or HIL_ERR_INVALID_ARG when the key holds another type. */
HIL_API hil_result hil_shared_get_int(hil_shared* s, const char* key, long long* out);
/* Atomic add (a missing key counts as 0); *out (may be NULL) gets the new value. */
HIL_API hil_result hil_shared_add_int(hil_shared* s, const char* key, long long delta, long long* out);
HIL_API hil_result hil_shared_set_str(hil_shared* s, const char* key, const char* v);
/* Copies into buf; HIL_ERR_OVERFLOW (nothing copied) when size is too small. */
HIL_API hil_result hil_shared_get_str(hil_shared* s, const char* key, char* buf, size_t size);
HIL_API hil_result hil_shared_set_blob(hil_shared* s, const char* key, const void* data, size_t len);
/* *len gets the blob's length; with buf NULL only the length is returned. */
HIL_API hil_result hil_shared_get_blob(hil_shared* s, const char* key, void* buf, size_t cap, size_t* len);
HIL_API hil_result hil_shared_delete(hil_shared* s, const char* key);
/* Hold the store's lock across several calls (read-modify-write of
 * several keys). Recursive; if the holder dies, the next locker recovers. */
HIL_API hil_result hil_shared_lock(hil_shared* s);
HIL_API void hil_shared_unlock(hil_shared* s);

/* ---- JUnit import ------------------------------------------------------------- */

/* Read a JUnit XML file (testsuite/testcase with failure, error, skipped;
 * hil's own result property when present) as a run summary named `name`
 * (not copied). Free it with hil_run_summary_free. */
HIL_API hil_result hil_junit_read(const char* path, const char* name, hil_run_summary** out);

/* ---- bus events on HIL_EP_JOB ---------------------------------------------------
 * Data pointers are valid during the callback. Task messages are sent from
 * the job's monitor thread: keep those callbacks short and do not wait on
 * tasks there. */
extern const hil_endpoint HIL_EP_JOB;
extern const hil_message_def HIL_MSG_JOB_STARTED;   /* const hil_job_rt* */
extern const hil_message_def HIL_MSG_TASK_STARTED;  /* hil_task* */
extern const hil_message_def HIL_MSG_TASK_FINISHED; /* hil_task* (result and summary are set) */
extern const hil_message_def HIL_MSG_JOB_FINISHED;  /* const hil_job_summary*; results.json is written */

/* ==========================================================================
 * PART 2: the lazy scheduler - declarations (to come)
 * ========================================================================== */

#ifdef __cplusplus
}
#endif

#endif /* HIL_RUNNER_H_INCLUDED */

/* ==========================================================================
 * Implementation
 * ========================================================================== */
#if defined(HIL_IMPLEMENTATION) && !defined(HIL_RUNNER__IMPLEMENTED)
#define HIL_RUNNER__IMPLEMENTED

#include <errno.h>
#include <string.h>
#include <stdlib.h>
#include <ctype.h>
#include <time.h>
#include <poll.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <sys/ioctl.h>
#include <sys/utsname.h>
#ifdef __linux__
#include <sys/prctl.h>
#include <sys/syscall.h>
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ==========================================================================
 * PART 1: jobs and tasks - implementation
 * ========================================================================== */

#ifdef __cplusplus
#define HIL__JOB_CONST extern const
#else
#define HIL__JOB_CONST const
#endif

HIL__JOB_CONST hil_endpoint HIL_EP_JOB = {"job", "Jobs and tasks: job and task life cycle (hil_runner.h)"};
HIL__JOB_CONST hil_message_def HIL_MSG_JOB_STARTED = {"job_started", "A job's function is about to run (data: hil_job_rt*)"};
HIL__JOB_CONST hil_message_def HIL_MSG_TASK_STARTED = {"task_started", "A task's process started (data: hil_task*)"};
HIL__JOB_CONST hil_message_def HIL_MSG_TASK_FINISHED = {"task_finished", "A task ended with its result (data: hil_task*)"};
HIL__JOB_CONST hil_message_def HIL_MSG_JOB_FINISHED = {"job_finished", "A job ended; its reports are written (data: hil_job_summary*)"};

static void hil__jfmt(char* buf, size_t size, const char* fmt, ...) HIL__PRINTF(3, 4);
static void hil__jfmt(char* buf, size_t size, const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, size, fmt, ap);
    va_end(ap);
}

static void* hil__jcalloc(size_t n, size_t size) {
    void* p;
    if (size && n > (size_t)-1 / size) return NULL;
    p = HIL_MALLOC(n * size > 0 ? n * size : 1);
    if (p) memset(p, 0, n * size);
    return p;
}

/* ---- 1. the job registry -------------------------------------------------------- */

typedef struct hil__job_def { const char* name; hil_job_fn fn; const char* file; int line; } hil__job_def;

static struct { hil__job_def* defs; size_t n, cap; } hil__jobreg;

HIL_API void hil_register_job(const char* name, hil_job_fn fn, const char* file, int line) {
    size_t i;
    for (i = 0; i < hil__jobreg.n; i++)
        if (strcmp(hil__jobreg.defs[i].name, name) == 0) return; /* constructor and table: once */
    if (hil__jobreg.n == hil__jobreg.cap) {
        size_t cap = hil__jobreg.cap ? hil__jobreg.cap * 2 : 16;
        hil__job_def* p = (hil__job_def*)HIL_REALLOC(hil__jobreg.defs, cap * sizeof *p);
        if (!p) return;
        hil__jobreg.defs = p;
        hil__jobreg.cap = cap;
    }
    hil__jobreg.defs[hil__jobreg.n].name = name;
    hil__jobreg.defs[hil__jobreg.n].fn = fn;
    hil__jobreg.defs[hil__jobreg.n].file = file ? file : "";
    hil__jobreg.defs[hil__jobreg.n].line = line;
    hil__jobreg.n++;
}

HIL_API void hil_register_jobs(const hil_job_entry* table, size_t count) {
    size_t i;
    for (i = 0; i < count; i++) hil_register_job(table[i].name, table[i].fn, "", 0);
}

HIL_API size_t hil_job_count(void) { return hil__jobreg.n; }
HIL_API const char* hil_job_name_at(size_t i) { return i < hil__jobreg.n ? hil__jobreg.defs[i].name : NULL; }

static const hil__job_def* hil__job_find(const char* name) {
    size_t i;
    for (i = 0; name && i < hil__jobreg.n; i++)
        if (strcmp(hil__jobreg.defs[i].name, name) == 0) return &hil__jobreg.defs[i];
    return NULL;
}

/* ---- 2. shared state --------------------------------------------------------------
 *
 * Two halves of `capacity` bytes each; the active one holds a log of
 * records (key, type, value). A set appends a record and then publishes it
 * by advancing `used` (one aligned store), then marks the old record dead:
 * a process that dies half way leaves either the old or the new value,
 * never a torn one (a reader takes the last live record for a key). When
 * the active half is full, the live records are copied into the other half
 * and one store to `active` switches over, so dying while compacting
 * leaves the old half untouched. The mutex is robust: the next locker
 * after a dead holder repairs (drops duplicate live records) and goes on.
 */

#define HIL__SHM_MAGIC 0x484c5348u
#define HIL__SHM_INT 1
#define HIL__SHM_STR 2
#define HIL__SHM_BLOB 3

typedef struct hil__shm_hdr {
    uint32_t magic, version;
    uint64_t capacity;
    uint64_t active;
    uint64_t used[2];
    pthread_mutex_t mu;
} hil__shm_hdr;

typedef struct hil__shm_rec {
    uint32_t size;      /* the whole record, a multiple of 8 */
    uint8_t type;
    uint8_t dead;
    uint16_t klen;
    uint64_t vlen;
} hil__shm_rec;          /* then key, '\0', value, '\0' */

struct hil_shared {
    hil__shm_hdr* h;
    size_t map_size;
    unsigned char* half[2];
};

#define HIL__SHM_HDR_SIZE ((sizeof(hil__shm_hdr) + 63u) & ~(size_t)63u)

static const char* hil__shm_type_str(int type) {
    return type == HIL__SHM_INT ? "an integer" : type == HIL__SHM_STR ? "a string" : "a blob";
}

HIL_API hil_result hil_shared_create(size_t capacity, hil_shared** out) {
    hil_shared* s;
    pthread_mutexattr_t a;
    void* p;
    int rc;
    *out = NULL;
    if (capacity < 256) capacity = 256;
    if (capacity > ((size_t)1 << 30))
        return hil_error(HIL_ERR_INVALID_ARG, "shared state: %zu bytes asked for, at most 1 GiB (job.shared_size)",
                         capacity);
    capacity = (capacity + 63u) & ~(size_t)63u;
    s = (hil_shared*)hil__jcalloc(1, sizeof *s);
    if (!s) return hil_error(HIL_ERR_NO_MEMORY, "shared state: out of memory");
    s->map_size = HIL__SHM_HDR_SIZE + 2 * capacity;
    p = mmap(NULL, s->map_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        int e = errno;
        HIL_FREE(s);
        return hil_error(HIL_ERR_NO_MEMORY, "shared state: cannot map %zu bytes of shared memory: %s", 2 * capacity,
                         strerror(e));
    }
    s->h = (hil__shm_hdr*)p;
    s->half[0] = (unsigned char*)p + HIL__SHM_HDR_SIZE;
    s->half[1] = s->half[0] + capacity;
    s->h->magic = HIL__SHM_MAGIC;
    s->h->version = 1;
    s->h->capacity = capacity;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
    rc = pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    if (rc == 0) rc = pthread_mutex_init(&s->h->mu, &a);
    pthread_mutexattr_destroy(&a);
    if (rc != 0) {
        munmap(p, s->map_size);
        HIL_FREE(s);
        return hil_error(HIL_ERR_UNSUPPORTED, "shared state: no process-shared robust mutex here: %s", strerror(rc));
    }
    *out = s;
    return HIL_OK;
}

HIL_API void hil_shared_destroy(hil_shared* s) {
    if (!s) return;
    pthread_mutex_destroy(&s->h->mu);
    munmap((void*)s->h, s->map_size);
    HIL_FREE(s);
}

HIL_API size_t hil_shared_capacity(const hil_shared* s) { return s ? (size_t)s->h->capacity : 0; }

static hil__shm_rec* hil__shm_at(hil_shared* s, int half, uint64_t off) {
    return (hil__shm_rec*)(void*)(s->half[half] + off);
}

static const char* hil__shm_key(const hil__shm_rec* r) { return (const char*)(r + 1); }
static unsigned char* hil__shm_val(hil__shm_rec* r) { return (unsigned char*)(r + 1) + r->klen + 1; }

/* Whether the record at off is well formed (it always is unless memory was
 * scribbled on; a bad one ends the walk). */
static int hil__shm_ok(hil_shared* s, int half, uint64_t off, uint64_t used) {
    const hil__shm_rec* r;
    if (off + sizeof(hil__shm_rec) > used) return 0;
    r = hil__shm_at(s, half, off);
    return r->size >= sizeof(hil__shm_rec) && (r->size & 7u) == 0 && off + r->size <= used &&
           sizeof(hil__shm_rec) + (uint64_t)r->klen + 2 + r->vlen <= r->size;
}

/* After a holder died: keep only the last live record of each key. */
static void hil__shm_repair(hil_shared* s) {
    int a = (int)s->h->active;
    uint64_t used = s->h->used[a], off, off2;
    for (off = 0; hil__shm_ok(s, a, off, used); off += hil__shm_at(s, a, off)->size) {
        hil__shm_rec* r = hil__shm_at(s, a, off);
        if (r->dead) continue;
        for (off2 = off + r->size; hil__shm_ok(s, a, off2, used); off2 += hil__shm_at(s, a, off2)->size) {
            hil__shm_rec* q = hil__shm_at(s, a, off2);
            if (!q->dead && q->klen == r->klen && memcmp(hil__shm_key(q), hil__shm_key(r), r->klen) == 0) {
                r->dead = 1;
                break;
            }
        }
    }
}

HIL_API hil_result hil_shared_lock(hil_shared* s) {
    int rc;
    if (!s) return hil_error(HIL_ERR_INVALID_ARG, "shared state: none (job.shared_size is 0, or not in a job)");
    rc = pthread_mutex_lock(&s->h->mu);
    if (rc == EOWNERDEAD) {
        hil__shm_repair(s);
        pthread_mutex_consistent(&s->h->mu);
        return HIL_OK;
    }
    if (rc != 0) return hil_error(HIL_ERR_STATE, "shared state: cannot take the lock: %s", strerror(rc));
    return HIL_OK;
}

HIL_API void hil_shared_unlock(hil_shared* s) {
    if (s) pthread_mutex_unlock(&s->h->mu);
}

static hil__shm_rec* hil__shm_find(hil_shared* s, const char* key, size_t klen) {
    int a = (int)s->h->active;
    uint64_t used = s->h->used[a], off;
    hil__shm_rec* last = NULL;
    for (off = 0; hil__shm_ok(s, a, off, used); off += hil__shm_at(s, a, off)->size) {
        hil__shm_rec* r = hil__shm_at(s, a, off);
        if (!r->dead && r->klen == klen && memcmp(hil__shm_key(r), key, klen) == 0) last = r;
    }
    return last;
}

HIL_API size_t hil_shared_used(hil_shared* s) {
    size_t n = 0;
    int a;
    uint64_t used, off;
    if (!s || hil_shared_lock(s) != HIL_OK) return 0;
    a = (int)s->h->active;
    used = s->h->used[a];
    for (off = 0; hil__shm_ok(s, a, off, used); off += hil__shm_at(s, a, off)->size)
        if (!hil__shm_at(s, a, off)->dead) n += hil__shm_at(s, a, off)->size;
    hil_shared_unlock(s);
    return n;
}

static hil_result hil__shm_check_key(const char* key, size_t* klen) {
    if (!key || !*key) return hil_error(HIL_ERR_INVALID_ARG, "shared state: empty key");
    *klen = strlen(key);
    if (*klen > HIL_SHARED_MAX_KEY)
        return hil_error(HIL_ERR_INVALID_ARG, "shared state: key '%.40s...' is %zu bytes long, at most %d", key, *klen,
                         HIL_SHARED_MAX_KEY);
    return HIL_OK;
}

static void hil__shm_write(unsigned char* at, const char* key, size_t klen, int type, const void* val, size_t vlen,
                           uint32_t size) {
    hil__shm_rec* r = (hil__shm_rec*)(void*)at;
    r->size = size;
    r->type = (uint8_t)type;
    r->dead = 0;
    r->klen = (uint16_t)klen;
    r->vlen = vlen;
    memcpy(r + 1, key, klen);
    ((unsigned char*)(r + 1))[klen] = 0;
    if (vlen) memcpy(hil__shm_val(r), val, vlen);
    hil__shm_val(r)[vlen] = 0;
}

static hil_result hil__shm_put(hil_shared* s, const char* key, int type, const void* val, size_t vlen) {
    size_t klen;
    uint64_t need, cap;
    int a;
    hil__shm_rec* old;
    hil_result r = hil__shm_check_key(key, &klen);
    if (r != HIL_OK) return r;
    if (!s) return hil_error(HIL_ERR_INVALID_ARG, "shared state: none (job.shared_size is 0, or not in a job)");
    cap = s->h->capacity;
    need = (sizeof(hil__shm_rec) + klen + 2 + (uint64_t)vlen + 7u) & ~(uint64_t)7u;
    if (need > cap || need > 0xffffffffu)
        return hil_error(HIL_ERR_OVERFLOW,
                         "shared state: key '%s' needs %llu bytes, more than the whole store (%llu bytes): raise "
                         "job.shared_size or store less",
                         key, (unsigned long long)need, (unsigned long long)cap);
    r = hil_shared_lock(s);
    if (r != HIL_OK) return r;
    a = (int)s->h->active;
    old = hil__shm_find(s, key, klen);
    if (s->h->used[a] + need <= cap) {
        hil__shm_write(s->half[a] + s->h->used[a], key, klen, type, val, vlen, (uint32_t)need);
        __atomic_store_n(&s->h->used[a], s->h->used[a] + need, __ATOMIC_RELEASE); /* the commit */
        if (old) __atomic_store_n(&old->dead, (uint8_t)1, __ATOMIC_RELEASE);
    } else {
        int b = 1 - a;
        uint64_t used = s->h->used[a], off, to = 0;
        for (off = 0; hil__shm_ok(s, a, off, used); off += hil__shm_at(s, a, off)->size) {
            hil__shm_rec* q = hil__shm_at(s, a, off);
            if (q->dead || q == old) continue;
            memcpy(s->half[b] + to, q, q->size);
            to += q->size;
        }
        if (to + need > cap) {
            hil_shared_unlock(s);
            return hil_error(HIL_ERR_OVERFLOW,
                             "shared state: no room for key '%s': %llu bytes needed, %llu of %llu free: raise "
                             "job.shared_size or delete keys",
                             key, (unsigned long long)need, (unsigned long long)(cap - to), (unsigned long long)cap);
        }
        hil__shm_write(s->half[b] + to, key, klen, type, val, vlen, (uint32_t)need);
        s->h->used[b] = to + need;
        __atomic_store_n(&s->h->active, (uint64_t)b, __ATOMIC_RELEASE); /* the commit */
    }
    hil_shared_unlock(s);
    return HIL_OK;
}

/* Under the lock: the record for key with the right type, or an error. */
static hil_result hil__shm_lookup(hil_shared* s, const char* key, int type, hil__shm_rec** out) {
    size_t klen;
    hil_result r = hil__shm_check_key(key, &klen);
    if (r != HIL_OK) return r;
    *out = hil__shm_find(s, key, klen);
    if (!*out) return hil_error(HIL_ERR_NOT_FOUND, "shared state: no key '%s'", key);
    if ((*out)->type != type)
        return hil_error(HIL_ERR_INVALID_ARG, "shared state: key '%s' holds %s, not %s", key,
                         hil__shm_type_str((*out)->type), hil__shm_type_str(type));
    return HIL_OK;
}

HIL_API hil_result hil_shared_set_int(hil_shared* s, const char* key, long long v) {
    int64_t x = (int64_t)v;
    return hil__shm_put(s, key, HIL__SHM_INT, &x, sizeof x);
}

HIL_API hil_result hil_shared_get_int(hil_shared* s, const char* key, long long* out) {
    hil__shm_rec* rec;
    hil_result r = hil_shared_lock(s);
    int64_t x;
    if (r != HIL_OK) return r;
    r = hil__shm_lookup(s, key, HIL__SHM_INT, &rec);
    if (r == HIL_OK) {
        memcpy(&x, hil__shm_val(rec), sizeof x);
        *out = (long long)x;
    }
    hil_shared_unlock(s);
    return r;
}

HIL_API hil_result hil_shared_add_int(hil_shared* s, const char* key, long long delta, long long* out) {
    long long v = 0;
    hil_result r = hil_shared_lock(s);
    if (r != HIL_OK) return r;
    r = hil_shared_get_int(s, key, &v);
    if (r == HIL_ERR_NOT_FOUND) { v = 0; r = HIL_OK; }
    if (r == HIL_OK) {
        v += delta;
        r = hil_shared_set_int(s, key, v);
    }
    hil_shared_unlock(s);
    if (r == HIL_OK && out) *out = v;
    return r;
}

HIL_API hil_result hil_shared_set_str(hil_shared* s, const char* key, const char* v) {
    if (!v) return hil_error(HIL_ERR_INVALID_ARG, "shared state: NULL string for key '%s'", key ? key : "");
    return hil__shm_put(s, key, HIL__SHM_STR, v, strlen(v));
}

HIL_API hil_result hil_shared_get_str(hil_shared* s, const char* key, char* buf, size_t size) {
    hil__shm_rec* rec;
    hil_result r = hil_shared_lock(s);
    if (r != HIL_OK) return r;
    r = hil__shm_lookup(s, key, HIL__SHM_STR, &rec);
    if (r == HIL_OK) {
        if (!buf || rec->vlen + 1 > size)
            r = hil_error(HIL_ERR_OVERFLOW, "shared state: key '%s' holds %llu bytes, the buffer has room for %zu", key,
                          (unsigned long long)rec->vlen + 1, size);
        else
            memcpy(buf, hil__shm_val(rec), (size_t)rec->vlen + 1);
    }
    hil_shared_unlock(s);
    return r;
}

HIL_API hil_result hil_shared_set_blob(hil_shared* s, const char* key, const void* data, size_t len) {
    if (!data && len) return hil_error(HIL_ERR_INVALID_ARG, "shared state: NULL data for key '%s'", key ? key : "");
    return hil__shm_put(s, key, HIL__SHM_BLOB, data, len);
}

HIL_API hil_result hil_shared_get_blob(hil_shared* s, const char* key, void* buf, size_t cap, size_t* len) {
    hil__shm_rec* rec;
    hil_result r = hil_shared_lock(s);
    if (r != HIL_OK) return r;
    r = hil__shm_lookup(s, key, HIL__SHM_BLOB, &rec);
    if (r == HIL_OK) {
        if (len) *len = (size_t)rec->vlen;
        if (buf) {
            if (rec->vlen > cap)
                r = hil_error(HIL_ERR_OVERFLOW, "shared state: key '%s' holds %llu bytes, the buffer has room for %zu",
                              key, (unsigned long long)rec->vlen, cap);
            else if (rec->vlen)
                memcpy(buf, hil__shm_val(rec), (size_t)rec->vlen);
        }
    }
    hil_shared_unlock(s);
    return r;
}

HIL_API hil_result hil_shared_delete(hil_shared* s, const char* key) {
    size_t klen;
    hil__shm_rec* rec;
    hil_result r = hil__shm_check_key(key, &klen);
    if (r != HIL_OK) return r;
    r = hil_shared_lock(s);
    if (r != HIL_OK) return r;
    rec = hil__shm_find(s, key, klen);
    if (rec) __atomic_store_n(&rec->dead, (uint8_t)1, __ATOMIC_RELEASE);
    else r = hil_error(HIL_ERR_NOT_FOUND, "shared state: no key '%s'", key);
    hil_shared_unlock(s);
    return r;
}

/* ---- 3. summaries and JUnit import ------------------------------------------------ */

static hil_run_summary* hil__sum_new(const char* name) {
    hil_run_summary* s = (hil_run_summary*)hil__jcalloc(1, sizeof *s);
    if (s) {
        s->name = name;
        s->start_wall_ns = hil_wall_ns();
    }
    return s;
}

/* A new zeroed result (attempts 1), or NULL. The array grows in powers of two. */
static hil_test_result* hil__sum_add(hil_run_summary* s, const hil_test_info* info) {
    size_t n = s->n_results;
    hil_test_result* r;
    if (n == 0 || (n >= 8 && (n & (n - 1)) == 0)) {
        size_t cap = n ? 2 * n : 8;
        hil_test_result* p = (hil_test_result*)HIL_REALLOC(s->results, cap * sizeof *p);
        if (!p) return NULL;
        s->results = p;
    }
    r = &s->results[s->n_results++];
    memset(r, 0, sizeof *r);
    r->test = info;
    r->attempts = 1;
    r->iteration = 1;
    return r;
}

/* A result for a test that is not registered here: its own info. */
static hil_test_result* hil__sum_add_named(hil_run_summary* s, const char* suite, const char* name,
                                           hil_outcome o, const char* reason) {
    hil_test_info* info = hil_run_summary_add_info(s, suite, name, NULL, NULL, 0);
    hil_test_result* r = info ? hil__sum_add(s, info) : NULL;
    if (!r) return NULL;
    r->outcome = o;
    r->reason = reason ? hil_strdup(reason) : NULL;
    r->start_wall_ns = hil_wall_ns();
    return r;
}

static void hil__sum_finish(hil_run_summary* s) {
    size_t i;
    hil_outcome roll = HIL_NOT_RUN;
    memset(s->counts, 0, sizeof s->counts);
    for (i = 0; i < s->n_results; i++) {
        s->counts[s->results[i].outcome]++;
        roll = hil_outcome_rollup(roll, s->results[i].outcome);
    }
    s->outcome = roll;
    if (s->planned < s->n_results) s->planned = s->n_results;
}

static void hil__result_set_reason(hil_test_result* r, const char* reason) {
    HIL_FREE(r->reason);
    r->reason = reason ? hil_strdup(reason) : NULL;
}

static void hil__result_append_output(hil_test_result* r, const char* text, size_t len) {
    char* p;
    if (!len) return;
    p = (char*)HIL_REALLOC(r->output, r->output_len + len + 1);
    if (!p) return;
    memcpy(p + r->output_len, text, len);
    r->output_len += len;
    p[r->output_len] = 0;
    r->output = p;
}

/* A minimal XML reader for JUnit files: elements, attributes, text, CDATA,
 * comments and the five entities plus character references. */
typedef struct hil__xml {
    const char* p;
    const char* end;
} hil__xml;

static void hil__xml_utf8(hil_strbuf* sb, unsigned long c) {
    char b[4];
    if (c < 0x80) { b[0] = (char)c; hil_sb_append(sb, b, 1); }
    else if (c < 0x800) { b[0] = (char)(0xc0 | (c >> 6)); b[1] = (char)(0x80 | (c & 0x3f)); hil_sb_append(sb, b, 2); }
    else if (c < 0x10000) {
        b[0] = (char)(0xe0 | (c >> 12)); b[1] = (char)(0x80 | ((c >> 6) & 0x3f)); b[2] = (char)(0x80 | (c & 0x3f));
        hil_sb_append(sb, b, 3);
    } else if (c < 0x110000) {
        b[0] = (char)(0xf0 | (c >> 18)); b[1] = (char)(0x80 | ((c >> 12) & 0x3f));
        b[2] = (char)(0x80 | ((c >> 6) & 0x3f)); b[3] = (char)(0x80 | (c & 0x3f));
        hil_sb_append(sb, b, 4);
    }
}

static void hil__xml_decode(hil_strbuf* sb, const char* s, size_t n) {
    size_t i = 0;
    while (i < n) {
        if (s[i] == '&') {
            const char* semi = (const char*)memchr(s + i, ';', n - i);
            size_t len = semi ? (size_t)(semi - (s + i)) + 1 : 0;
            if (len == 4 && !strncmp(s + i, "&lt;", 4)) { hil_sb_putc(sb, '<'); i += 4; continue; }
            if (len == 4 && !strncmp(s + i, "&gt;", 4)) { hil_sb_putc(sb, '>'); i += 4; continue; }
            if (len == 5 && !strncmp(s + i, "&amp;", 5)) { hil_sb_putc(sb, '&'); i += 5; continue; }
            if (len == 6 && !strncmp(s + i, "&quot;", 6)) { hil_sb_putc(sb, '"'); i += 6; continue; }
            if (len == 6 && !strncmp(s + i, "&apos;", 6)) { hil_sb_putc(sb, '\''); i += 6; continue; }
            if (len > 3 && s[i + 1] == '#') {
                char num[16];
                unsigned long c;
                if (len - 3 < sizeof num) {
                    memcpy(num, s + i + 2, len - 3);
                    num[len - 3] = 0;
                    c = (num[0] == 'x' || num[0] == 'X') ? strtoul(num + 1, NULL, 16) : strtoul(num, NULL, 10);
                    hil__xml_utf8(sb, c);
                    i += len;
                    continue;
                }
            }
        }
        hil_sb_putc(sb, s[i]);
        i++;
    }
}

/* The value of attribute `name` in a start tag's attribute text, decoded
 * into sb; 0 when absent. */
static int hil__xml_attr_get(const char* attrs, size_t n, const char* name, hil_strbuf* sb) {
    size_t i = 0, ln = strlen(name);
    hil_sb_clear(sb);
    while (i < n) {
        size_t ks, ke;
        char q;
        const char* vend;
        while (i < n && isspace((unsigned char)attrs[i])) i++;
        ks = i;
        while (i < n && attrs[i] != '=' && !isspace((unsigned char)attrs[i])) i++;
        ke = i;
        while (i < n && isspace((unsigned char)attrs[i])) i++;
        if (i >= n || attrs[i] != '=') { i++; continue; }
        i++;
        while (i < n && isspace((unsigned char)attrs[i])) i++;
        if (i >= n || (attrs[i] != '"' && attrs[i] != '\'')) return 0;
        q = attrs[i++];
        vend = (const char*)memchr(attrs + i, q, n - i);
        if (!vend) return 0;
        if (ke - ks == ln && strncmp(attrs + ks, name, ln) == 0) {
            hil__xml_decode(sb, attrs + i, (size_t)(vend - (attrs + i)));
            return 1;
        }
        i = (size_t)(vend - attrs) + 1;
    }
    return 0;
}


typedef struct hil__junit_state {
    hil_run_summary* s;
    char suites[16][256];
    int depth;
    hil_test_result* cur;     /* the open testcase */
    int result_prop;          /* hil's own "result" property decided the outcome */
    int capture;              /* 1: failure/error/skipped text, 2: system-out/err */
    hil_strbuf ftext, attr, cls, nm;
} hil__junit_state;

static int hil__tag_is(const char* tag, size_t tlen, const char* want) {
    return tlen == strlen(want) && strncmp(tag, want, tlen) == 0;
}

static void hil__junit_close_case(hil__junit_state* st) {
    st->cur = NULL;
    st->capture = 0;
}

static void hil__junit_start(hil__junit_state* st, const char* tag, size_t tlen, const char* attrs, size_t alen,
                             int selfclose) {
    hil_test_result* r = st->cur;
    if (hil__tag_is(tag, tlen, "testsuite")) {
        if (st->depth < 16) {
            hil__xml_attr_get(attrs, alen, "name", &st->attr);
            hil__jfmt(st->suites[st->depth], sizeof st->suites[0], "%s", hil_sb_cstr(&st->attr));
        }
        if (!selfclose) st->depth++;
    } else if (hil__tag_is(tag, tlen, "testcase")) {
        const char* suite = "junit";
        hil_test_info* info;
        hil__junit_close_case(st);
        hil__xml_attr_get(attrs, alen, "classname", &st->cls);
        if (!hil__xml_attr_get(attrs, alen, "name", &st->nm)) hil_sb_puts(&st->nm, "(unnamed)");
        if (st->cls.len) suite = hil_sb_cstr(&st->cls);
        else if (st->depth > 0 && st->depth <= 16 && st->suites[st->depth - 1][0]) suite = st->suites[st->depth - 1];
        info = hil_run_summary_add_info(st->s, suite, hil_sb_cstr(&st->nm), NULL, NULL, 0);
        st->cur = info ? hil__sum_add(st->s, info) : NULL;
        if (st->cur) {
            st->cur->outcome = HIL_PASSED;
            st->cur->start_wall_ns = st->s->start_wall_ns;
            if (hil__xml_attr_get(attrs, alen, "time", &st->attr)) {
                double t = strtod(hil_sb_cstr(&st->attr), NULL);
                if (t > 0 && t < 1e9) st->cur->duration_ns = (uint64_t)(t * 1e9);
            }
        }
        st->result_prop = 0;
        if (selfclose) hil__junit_close_case(st);
    } else if (r && (hil__tag_is(tag, tlen, "failure") || hil__tag_is(tag, tlen, "error") ||
                     hil__tag_is(tag, tlen, "skipped"))) {
        hil_outcome o = hil__tag_is(tag, tlen, "failure") ? HIL_FAILED
                        : hil__tag_is(tag, tlen, "error") ? HIL_ERRORED : HIL_SKIPPED;
        if (!st->result_prop) {
            if (o == HIL_SKIPPED) { if (r->outcome == HIL_PASSED) r->outcome = HIL_SKIPPED; }
            else r->outcome = hil_outcome_rollup(r->outcome == HIL_SKIPPED ? HIL_PASSED : r->outcome, o);
        }
        if (!r->reason && hil__xml_attr_get(attrs, alen, "message", &st->attr) && st->attr.len)
            r->reason = hil_strdup(hil_sb_cstr(&st->attr));
        hil_sb_clear(&st->ftext);
        st->capture = selfclose ? 0 : 1;
    } else if (r && (hil__tag_is(tag, tlen, "system-out") || hil__tag_is(tag, tlen, "system-err"))) {
        st->capture = selfclose ? 0 : 2;
    } else if (r && hil__tag_is(tag, tlen, "property")) {
        /* hil's own JUnit keeps the exact result (Blocked, Aborted, Passx) */
        if (hil__xml_attr_get(attrs, alen, "name", &st->attr) && strcmp(hil_sb_cstr(&st->attr), "result") == 0 &&
            hil__xml_attr_get(attrs, alen, "value", &st->attr)) {
            hil_outcome o = hil_outcome_parse(hil_sb_cstr(&st->attr));
            if (o != HIL_NOT_RUN) { r->outcome = o; st->result_prop = 1; }
        }
    }
}

static void hil__junit_end(hil__junit_state* st, const char* tag, size_t tlen) {
    hil_test_result* r = st->cur;
    if (hil__tag_is(tag, tlen, "testsuite")) {
        if (st->depth > 0) st->depth--;
    } else if (hil__tag_is(tag, tlen, "testcase")) {
        hil__junit_close_case(st);
    } else if (r && st->capture == 1) {
        /* failure text: the first line is the reason when there was no message */
        if (!r->reason && st->ftext.len) {
            const char* t = hil_sb_cstr(&st->ftext);
            while (*t == '\n' || *t == '\r' || *t == ' ') t++;
            r->reason = hil_strndup(t, strcspn(t, "\r\n"));
        }
        if (st->ftext.len) {
            hil__result_append_output(r, st->ftext.data, st->ftext.len);
            if (st->ftext.data[st->ftext.len - 1] != '\n') hil__result_append_output(r, "\n", 1);
        }
        st->capture = 0;
    } else {
        st->capture = 0;
    }
}

static void hil__junit_text(hil__junit_state* st, const char* s, size_t n, int raw) {
    hil_strbuf dec = {0, 0, 0, 0};
    if (!st->cur || !st->capture || !n) return;
    if (raw) hil_sb_append(&dec, s, n);
    else hil__xml_decode(&dec, s, n);
    if (st->capture == 1) hil_sb_append(&st->ftext, dec.data, dec.len);
    else if (dec.len) hil__result_append_output(st->cur, dec.data, dec.len);
    hil_sb_free(&dec);
}

HIL_API hil_result hil_junit_read(const char* path, const char* name, hil_run_summary** out) {
    hil__junit_state st;
    char* text = NULL;
    size_t len = 0;
    const char *p, *end;
    int saw = 0;
    hil_result r;
    *out = NULL;
    r = hil_read_file(path, &text, &len);
    if (r != HIL_OK) return r;
    memset(&st, 0, sizeof st);
    st.s = hil__sum_new(name ? name : path);
    if (!st.s) { HIL_FREE(text); return hil_error(HIL_ERR_NO_MEMORY, "JUnit file '%s': out of memory", path); }
    {
        struct stat sb;
        if (stat(path, &sb) == 0)
            st.s->start_wall_ns = (uint64_t)sb.st_mtime * 1000000000u;
    }
    p = text;
    end = text + len;
    while (p < end) {
        const char* lt = (const char*)memchr(p, '<', (size_t)(end - p));
        const char* gt;
        if (!lt) { hil__junit_text(&st, p, (size_t)(end - p), 0); break; }
        if (lt > p) hil__junit_text(&st, p, (size_t)(lt - p), 0);
        if (end - lt >= 4 && strncmp(lt, "<!--", 4) == 0) {
            const char* q = strstr(lt + 4, "-->");
            p = q ? q + 3 : end;
            continue;
        }
        if (end - lt >= 9 && strncmp(lt, "<![CDATA[", 9) == 0) {
            const char* q = strstr(lt + 9, "]]>");
            hil__junit_text(&st, lt + 9, (size_t)((q ? q : end) - (lt + 9)), 1);
            p = q ? q + 3 : end;
            continue;
        }
        {
            /* the end of the tag, outside quoted attribute values */
            char quote = 0;
            for (gt = lt + 1; gt < end; gt++) {
                if (quote) { if (*gt == quote) quote = 0; }
                else if (*gt == '"' || *gt == '\'') quote = *gt;
                else if (*gt == '>') break;
            }
        }
        if (gt >= end) break; /* cut off (the writer was killed): keep what came before */
        if (lt[1] == '?' || lt[1] == '!') { p = gt + 1; continue; }
        if (lt[1] == '/') {
            const char* t = lt + 2;
            size_t tl = 0;
            while (t + tl < gt && !isspace((unsigned char)t[tl])) tl++;
            hil__junit_end(&st, t, tl);
        } else {
            const char* t = lt + 1;
            size_t tl = 0;
            const char* aend = gt;
            int selfclose = gt[-1] == '/';
            while (t + tl < gt && !isspace((unsigned char)t[tl]) && t[tl] != '/') tl++;
            if (selfclose) aend--;
            if (hil__tag_is(t, tl, "testsuite") || hil__tag_is(t, tl, "testsuites") || hil__tag_is(t, tl, "testcase"))
                saw = 1;
            hil__junit_start(&st, t, tl, t + tl, (size_t)(aend - (t + tl)), selfclose);
        }
        p = gt + 1;
    }
    HIL_FREE(text);
    hil_sb_free(&st.ftext);
    hil_sb_free(&st.attr);
    hil_sb_free(&st.cls);
    hil_sb_free(&st.nm);
    if (!saw) {
        hil_run_summary_free(st.s);
        return hil_error(HIL_ERR_PROTOCOL, "'%s' is not a JUnit XML file (no <testsuites>, <testsuite> or <testcase>)",
                         path);
    }
    hil__sum_finish(st.s);
    *out = st.s;
    return HIL_OK;
}

/* ---- 4. the result stream from a test task to the job -------------------------------
 *
 * The task process runs hil_run_tests (with its own worker) on a private
 * bus; a callback turns the run's events into frames on a pipe to the job:
 * u32 length of the rest, u8 type, payload. The job keeps every result as
 * it arrives, so a task killed half way keeps what it had reported. */

enum {
    HIL__TEV_RUN_STARTED = 1,
    HIL__TEV_TEST_STARTED,
    HIL__TEV_TEST_FINISHED,
    HIL__TEV_RUN_FINISHED,
    HIL__TEV_ERROR,
    HIL__TEV_DONE,
    HIL__TEV_WORKER          /* from the worker: its pid (it leads its own group) */
};

#define HIL__MAX_LISTED_FAILURES 64 /* hil.h lists at most this many failed checks */

#define HIL__TEV_MAX (1u << 26)

static void hil__tw_u32(hil_strbuf* b, uint32_t v) { hil_sb_append(b, &v, 4); }
static void hil__tw_u64(hil_strbuf* b, uint64_t v) { hil_sb_append(b, &v, 8); }
static void hil__tw_mem(hil_strbuf* b, const char* s, size_t n) {
    if (n > HIL__TEV_MAX / 4) n = HIL__TEV_MAX / 4;
    hil__tw_u32(b, (uint32_t)n);
    hil_sb_append(b, s ? s : "", n);
}
static void hil__tw_str(hil_strbuf* b, const char* s) { hil__tw_mem(b, s, s ? strlen(s) : 0); }

static void hil__tw_begin(hil_strbuf* b, int type) {
    unsigned char t = (unsigned char)type;
    hil_sb_clear(b);
    hil__tw_u32(b, 0);
    hil_sb_append(b, &t, 1);
}

static void hil__tw_send(int fd, hil_strbuf* b) {
    uint32_t n = (uint32_t)(b->len - 4);
    if (b->failed || fd < 0) return;
    memcpy(b->data, &n, 4);
    (void)hil_write_all(fd, b->data, b->len); /* the job may be gone: nothing to do then */
}

static void hil__tw_info(hil_strbuf* b, const hil_test_info* t) {
    hil__tw_str(b, t->suite);
    hil__tw_str(b, t->name);
    hil__tw_str(b, t->tags);
    hil__tw_str(b, t->file);
    hil__tw_u32(b, (uint32_t)t->line);
    hil__tw_u32(b, (uint32_t)t->case_id);
    hil__tw_u32(b, (uint32_t)t->suite_id);
    hil__tw_u32(b, (uint32_t)(int32_t)t->index);
}

typedef struct hil__tr { const unsigned char* p; size_t left; int bad; } hil__tr;

static uint32_t hil__tr_u32(hil__tr* r) {
    uint32_t v = 0;
    if (r->left < 4) { r->bad = 1; return 0; }
    memcpy(&v, r->p, 4);
    r->p += 4;
    r->left -= 4;
    return v;
}

static uint64_t hil__tr_u64(hil__tr* r) {
    uint64_t v = 0;
    if (r->left < 8) { r->bad = 1; return 0; }
    memcpy(&v, r->p, 8);
    r->p += 8;
    r->left -= 8;
    return v;
}

/* A malloc'd copy (never NULL unless out of memory); *len its length. */
static char* hil__tr_mem(hil__tr* r, size_t* len) {
    uint32_t n = hil__tr_u32(r);
    char* s;
    if (r->bad || n > r->left) { r->bad = 1; n = 0; }
    s = hil_strndup((const char*)r->p, n);
    r->p += n;
    r->left -= n;
    if (len) *len = n;
    return s;
}

static hil_test_info* hil__tr_info(hil__tr* r, hil_run_summary* s) {
    char* suite = hil__tr_mem(r, NULL);
    char* name = hil__tr_mem(r, NULL);
    char* tags = hil__tr_mem(r, NULL);
    char* file = hil__tr_mem(r, NULL);
    int line = (int)hil__tr_u32(r);
    int case_id = (int)hil__tr_u32(r);
    int suite_id = (int)hil__tr_u32(r);
    int index = (int)(int32_t)hil__tr_u32(r);
    hil_test_info* info = NULL;
    if (!r->bad && suite && name) info = hil_run_summary_add_info(s, suite, name, tags, file, line);
    if (info) {
        info->case_id = case_id;
        info->suite_id = suite_id;
        info->index = index;
    }
    HIL_FREE(suite);
    HIL_FREE(name);
    HIL_FREE(tags);
    HIL_FREE(file);
    return info;
}

/* ---- 5. jobs and tasks: state --------------------------------------------------- */

#define HIL__T_CREATED 0
#define HIL__T_STARTING 1
#define HIL__T_RUNNING 2
#define HIL__T_DONE 3

#define HIL__STOP_NONE 0
#define HIL__STOP_MAX_RUNTIME 1
#define HIL__STOP_TERMINATED 2
#define HIL__STOP_JOB_ENDED 3
#define HIL__STOP_INTERRUPTED 4

#define HIL__TASK_TESTS 0
#define HIL__TASK_COMMAND 1

#define HIL__CMD_OUTPUT_MAX (1u << 20)

struct hil__job;

struct hil_task {
    struct hil__job* J;
    int n;                       /* Task-N */
    char* taskid;
    int kind;
    char** filters;
    char** tags;
    char** exclude_tags;
    char** params;
    char** config;               /* "KEY=VALUE" set in the task process */
    char** argv;
    char** env;                  /* the user's plus HIL_RUN_DIR, HIL_TASK_ID, ... */
    char* cwd;
    char* junit;                 /* resolved against cwd */
    struct stat junit_before;    /* to tell a file written by this run from a stale one */
    int junit_existed;
    double timeout_s, max_runtime_s, grace_s;
    int isolation;
    /* the rest changes under the job's mutex */
    int state;
    int pid, exitfd, evfd, outfd, logfd;
    hil_proc proc;               /* commands */
    hil_strbuf evbuf;            /* frames not yet complete */
    hil_strbuf cmd_out;          /* a command's output, for its result (bounded) */
    uint64_t start_ns, end_ns, deadline, kill_at;
    double limit_s;              /* the max_runtime behind deadline */
    int term_sent, kill_sent, stop_why;
    size_t results_at_term;      /* Aborted results from here on were stopped by us */
    int status, reaped;
    hil_run_summary* sum;
    hil_test_info* open_info;    /* started, not finished */
    uint64_t open_wall;
    int got_done, stream_bad;
    int worker_pgid;             /* the task's current worker (its own group) */
    int log_made;                /* TaskLog.<taskid> exists */
    int stop_pending;            /* hil_task_terminate while it was starting */
    char* child_error;
    hil_outcome outcome;
    char* reason;
    char* start_error;
    hil_result start_code;
};

typedef struct hil__job {
    hil_job_rt rt;
    const hil__job_def* def;
    char** names;                /* hil_job_set_name's copies, NULL-terminated */
    char* dir;
    char* dirbase;
    char* runs;
    char** args;                 /* our copies of the job's arguments */
    int n_args;
    char** argv_view;            /* rt.argv: hil_job_arg() takes items out */
    hil_mutex mu;
    hil_cond cv;
    hil_waker wake;              /* requests for the monitor */
    hil_thread thread;
    int stopping;
    hil_task** tasks;
    size_t n_tasks, cap_tasks;
    int next_n;
    int pid;
    int interrupted;             /* Ctrl-C seen (set by the monitor) */
    uint64_t start_ns, start_wall;
    long tz_off;
    int joblog;
    double grace_s, max_runtime_s;
    hil_run_summary* errors;     /* the job's own errors */
    int console, color, width;
    hil_mutex draw_mu;
    int drawn;                   /* live lines on the screen (under draw_mu) */
    uint64_t next_draw;
    hil_strbuf pending_out;      /* console lines to print (under mu) */
    hil_strbuf status;           /* an extra live line (the scheduler's progress; under mu) */
    uint64_t status_eta;         /* its expected end (hil_now_ns), 0: none */
    hil_task** notes;            /* bus events to send, outside the lock */
    int* note_kinds;
    size_t n_notes, cap_notes;
    hil_dispatcher* log_disp;
    hil_shared* shared;
    hil_config* cfg;
    hil_bus* bus;
    int archive;
} hil__job;

static hil__job* hil__job_cur;      /* the running job (inherited by its test tasks) */
static hil_task* hil__task_self;    /* in a test task: the task */

HIL_API const hil_job_rt* hil_job_current(void) { return hil__job_cur ? &hil__job_cur->rt : NULL; }
HIL_API hil_shared* hil_job_shared(void) { return hil__job_cur ? hil__job_cur->shared : NULL; }
HIL_API const char* hil_task_current_id(void) { return hil__task_self ? hil__task_self->taskid : NULL; }

static int hil__job_is_monitor(const hil__job* J) {
    return J->thread.started && pthread_equal(pthread_self(), J->thread.t);
}

/* "12:34:56.789" in local time, without localtime_r: the monitor thread
 * must not take libc's time zone lock (a task forked while it held it
 * would deadlock formatting its own log). */
static void hil__job_clock(const hil__job* J, char* out, size_t size) {
    uint64_t w = hil_wall_ns();
    long long secs = (long long)(w / 1000000000u) + J->tz_off;
    long long day = ((secs % 86400) + 86400) % 86400;
    hil__jfmt(out, size, "%02d:%02d:%02d.%03u", (int)(day / 3600), (int)(day / 60 % 60), (int)(day % 60),
              (unsigned)((w / 1000000u) % 1000u));
}

static void hil__job_log(hil__job* J, const char* level, const char* fmt, ...) HIL__PRINTF(3, 4);
static void hil__job_log(hil__job* J, const char* level, const char* fmt, ...) {
    hil_strbuf sb = {0, 0, 0, 0};
    char ts[32];
    va_list ap;
    if (J->joblog < 0) return;
    hil__job_clock(J, ts, sizeof ts);
    hil_sb_printf(&sb, "%s %-7s hil.job: ", ts, level);
    va_start(ap, fmt);
    hil_sb_vprintf(&sb, fmt, ap);
    va_end(ap);
    hil_sb_putc(&sb, '\n');
    if (!sb.failed) (void)!write(J->joblog, sb.data, sb.len); /* one write per line: O_APPEND keeps lines whole */
    hil_sb_free(&sb);
}

static void hil__fd_printf(int fd, const char* fmt, ...) HIL__PRINTF(2, 3);
static void hil__fd_printf(int fd, const char* fmt, ...) {
    hil_strbuf sb = {0, 0, 0, 0};
    va_list ap;
    if (fd < 0) return;
    va_start(ap, fmt);
    hil_sb_vprintf(&sb, fmt, ap);
    va_end(ap);
    if (!sb.failed) (void)!write(fd, sb.data, sb.len);
    hil_sb_free(&sb);
}

static void hil__fmt_secs(char* out, size_t size, uint64_t ns) {
    double s = (double)ns / 1e9;
    if (s < 1e-3) hil__jfmt(out, size, "%.0f us", s * 1e6);
    else if (s < 1) hil__jfmt(out, size, "%.1f ms", s * 1e3);
    else if (s < 120) hil__jfmt(out, size, "%.2f s", s);
    else hil__jfmt(out, size, "%dm%02ds", (int)(s / 60), (int)s % 60);
}

static const char* hil__job_color(const hil__job* J, hil_outcome o) {
    if (!J->color) return "";
    switch (o) {
    case HIL_PASSED:
    case HIL_PASSX: return "\x1b[32m";
    case HIL_SKIPPED: return "\x1b[36m";
    case HIL_BLOCKED: return "\x1b[35m";
    default: return "\x1b[31m";
    }
}

static void hil__job_note(hil__job* J, hil_task* t, int kind) {
    if (J->n_notes == J->cap_notes) {
        size_t cap = J->cap_notes ? J->cap_notes * 2 : 16;
        hil_task** n = (hil_task**)HIL_REALLOC(J->notes, cap * sizeof *n);
        int* k;
        if (!n) return;
        J->notes = n;
        k = (int*)HIL_REALLOC(J->note_kinds, cap * sizeof *k);
        if (!k) return;
        J->note_kinds = k;
        J->cap_notes = cap;
    }
    J->notes[J->n_notes] = t;
    J->note_kinds[J->n_notes] = kind;
    J->n_notes++;
}

/* Send the queued task events (called without the job's lock). */
static void hil__job_send_notes(hil__job* J) {
    for (;;) {
        hil_task* t;
        int kind;
        hil_mutex_lock(&J->mu);
        if (!J->n_notes) { hil_mutex_unlock(&J->mu); return; }
        t = J->notes[0];
        kind = J->note_kinds[0];
        J->n_notes--;
        memmove(J->notes, J->notes + 1, J->n_notes * sizeof *J->notes);
        memmove(J->note_kinds, J->note_kinds + 1, J->n_notes * sizeof *J->note_kinds);
        hil_mutex_unlock(&J->mu);
        hil_bus_trigger(J->bus, kind ? &HIL_MSG_TASK_FINISHED : &HIL_MSG_TASK_STARTED, &HIL_EP_JOB, t->taskid, t, 0);
    }
}

/* The console: finished-task lines, and on a terminal a live line per
 * running task. Lines are built under the job's lock and written under
 * draw_mu, which also orders them with the log hook that clears the live
 * lines before a log record is printed. */
static void hil__job_draw(hil__job* J) {
    hil_strbuf sb = {0, 0, 0, 0};
    int lines = 0;
    size_t i;
    hil_mutex_lock(&J->draw_mu);
    hil_mutex_lock(&J->mu);
    if (J->console == HIL_JOB_CONSOLE_LIVE && J->drawn) hil_sb_printf(&sb, "\r\x1b[%dA\x1b[J", J->drawn);
    hil_sb_append(&sb, J->pending_out.data, J->pending_out.len);
    hil_sb_clear(&J->pending_out);
    if (J->console == HIL_JOB_CONSOLE_LIVE && !J->stopping) {
        uint64_t now = hil_now_ns();
        for (i = 0; i < J->n_tasks; i++) {
            hil_task* t = J->tasks[i];
            char el[32], line[512];
            if (t->state != HIL__T_RUNNING) continue;
            hil__fmt_secs(el, sizeof el, now - t->start_ns);
            hil__jfmt(line, sizeof line, "  running  %-12s %9s  %s", t->taskid, el,
                      t->open_info ? t->open_info->full_name : (t->kind == HIL__TASK_COMMAND ? t->argv[0] : ""));
            if ((int)strlen(line) > J->width - 1) line[J->width > 1 ? J->width - 1 : 0] = 0;
            hil_sb_printf(&sb, "%s\n", line);
            lines++;
        }
        if (J->status.len) {
            char line[512], left[32] = "";
            if (J->status_eta) hil__fmt_secs(left, sizeof left, J->status_eta > now ? J->status_eta - now : 0);
            hil__jfmt(line, sizeof line, "  %s%s%s", hil_sb_cstr(&J->status), J->status_eta ? ", ETA " : "", left);
            if ((int)strlen(line) > J->width - 1) line[J->width > 1 ? J->width - 1 : 0] = 0;
            hil_sb_printf(&sb, "%s\n", line);
            lines++;
        }
        J->next_draw = now + 200000000u;
    }
    hil_mutex_unlock(&J->mu);
    if (sb.len && !sb.failed) (void)!write(1, sb.data, sb.len);
    J->drawn = lines;
    hil_mutex_unlock(&J->draw_mu);
    hil_sb_free(&sb);
}

/* ---- 6. the task process ---------------------------------------------------------- */

typedef struct hil__child {
    int evfd;
    int open;                /* a test is running */
    hil_strbuf frame;
} hil__child;

static void hil__child_log_line(const hil_log_record* rec) {
    hil_strbuf sb = {0, 0, 0, 0};
    char ts[40];
    time_t secs = (time_t)(rec->wall_ns / 1000000000u);
    struct tm tm;
    localtime_r(&secs, &tm); /* the task process has one thread */
    strftime(ts, sizeof ts, "%H:%M:%S", &tm);
    hil_sb_printf(&sb, "%s.%03u %-7s %s: %s\n", ts, (unsigned)((rec->wall_ns / 1000000u) % 1000u),
                  hil_log_level_str(rec->level), rec->logger, rec->message);
    if (!sb.failed) (void)!write(1, sb.data, sb.len);
    hil_sb_free(&sb);
}

/* The task log: a line per test with its reason and captured output. */
static void hil__child_result_line(const hil_test_result* r) {
    hil_strbuf sb = {0, 0, 0, 0};
    char dur[32];
    hil__fmt_secs(dur, sizeof dur, r->duration_ns);
    hil_sb_printf(&sb, "%-8s %s (%s)\n", hil_outcome_str(r->outcome), r->test->full_name, dur);
    if (r->reason && r->outcome != HIL_PASSED) hil_sb_printf(&sb, "    %s\n", r->reason);
    if (r->output_len) {
        size_t i = 0;
        while (i < r->output_len) {
            size_t l = 0;
            while (i + l < r->output_len && r->output[i + l] != '\n') l++;
            hil_sb_puts(&sb, "    | ");
            hil_sb_append(&sb, r->output + i, l);
            hil_sb_putc(&sb, '\n');
            i += l + 1;
        }
    }
    if (!sb.failed) (void)!write(1, sb.data, sb.len);
    hil_sb_free(&sb);
}

static void hil__child_on_event(const hil_bus_msg* m, void* user) {
    hil__child* c = (hil__child*)user;
    hil_strbuf* b = &c->frame;
    if (m->id == &HIL_MSG_RUN_STARTED) {
        const hil_run_summary* s = (const hil_run_summary*)m->data;
        hil__tw_begin(b, HIL__TEV_RUN_STARTED);
        hil__tw_u64(b, (uint64_t)s->planned);
        hil__tw_send(c->evfd, b);
    } else if (m->id == &HIL_MSG_TEST_STARTED) {
        const hil_test_result* r = (const hil_test_result*)m->data;
        hil__tw_begin(b, HIL__TEV_TEST_STARTED);
        hil__tw_info(b, r->test);
        hil__tw_u64(b, r->start_wall_ns);
        hil__tw_send(c->evfd, b);
        c->open = 1;
    } else if (m->id == &HIL_MSG_TEST_FINISHED) {
        const hil_test_result* r = (const hil_test_result*)m->data;
        size_t i, n;
        hil__tw_begin(b, HIL__TEV_TEST_FINISHED);
        hil__tw_u32(b, (uint32_t)r->outcome);
        hil__tw_str(b, r->reason);
        hil__tw_u64(b, r->start_wall_ns);
        hil__tw_u64(b, r->duration_ns);
        hil__tw_u32(b, (uint32_t)r->attempts);
        hil__tw_u32(b, (uint32_t)r->iteration);
        hil__tw_mem(b, r->output, r->output_len);
        n = r->n_failures < HIL__MAX_LISTED_FAILURES ? r->n_failures : HIL__MAX_LISTED_FAILURES;
        hil__tw_u32(b, (uint32_t)n);
        for (i = 0; i < n; i++) {
            hil__tw_str(b, r->failures[i].file);
            hil__tw_u32(b, (uint32_t)r->failures[i].line);
            hil__tw_str(b, r->failures[i].message);
        }
        hil__tw_u32(b, (uint32_t)r->n_warnings);
        for (i = 0; i < r->n_warnings; i++) hil__tw_str(b, r->warnings[i]);
        hil__tw_send(c->evfd, b);
        hil__child_result_line(r);
        c->open = 0;
    } else if (m->id == &HIL_MSG_RUN_FINISHED) {
        const hil_run_summary* s = (const hil_run_summary*)m->data;
        hil__tw_begin(b, HIL__TEV_RUN_FINISHED);
        hil__tw_u64(b, (uint64_t)s->not_run);
        hil__tw_u32(b, (uint32_t)s->interrupted);
        hil__tw_u64(b, s->duration_ns);
        hil__tw_send(c->evfd, b);
    } else if (m->id == &HIL_MSG_LOG) {
        /* during a test its records are in its output */
        if (!c->open) hil__child_log_line((const hil_log_record*)m->data);
    }
}

/* The task's worker tells the job its process group, so the job can end
 * it if the task process dies (one small write: atomic on a pipe). */
static int hil__child_evfd = -1;

static void hil__child_worker_hook(int starting) {
    hil_strbuf b = {0, 0, 0, 0};
    if (!starting || !hil__task_self || getpid() == hil__task_self->pid || hil__child_evfd < 0) return;
    hil__tw_begin(&b, HIL__TEV_WORKER);
    hil__tw_u32(&b, (uint32_t)getpid());
    hil__tw_send(hil__child_evfd, &b);
    hil_sb_free(&b);
}

static void hil__job_close_fd(int* fd) {
    if (*fd >= 0) close(*fd);
    *fd = -1;
}

/* In the forked task process (a copy of the job process as the monitor
 * thread saw it, holding the job's lock): never returns. */
static void hil__task_child(hil__job* J, hil_task* t, int evw) HIL__NORETURN;
static void hil__task_child(hil__job* J, hil_task* t, int evw) {
    hil__child c;
    hil_bus* bus = NULL;
    hil_dispatcher* d = NULL;
    hil_dispatcher_config dc;
    hil_run_options o;
    hil_run_summary* s = NULL;
    size_t i, n;
    hil_result r;
    char src[300];
    setpgid(0, 0);
#ifdef __linux__
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    if (getppid() != J->pid) _exit(0); /* the job died before prctl took effect */
#endif
    hil_forked_child_reset();
    {
        sigset_t stop_sigs;
        sigemptyset(&stop_sigs);
        sigaddset(&stop_sigs, SIGINT);
        sigaddset(&stop_sigs, SIGTERM);
        pthread_sigmask(SIG_UNBLOCK, &stop_sigs, NULL); /* a pending stop now counts */
    }
    hil__task_self = t;
    t->pid = (int)getpid();
    hil__child_evfd = evw;
    hil_add_worker_hook(hil__child_worker_hook);
    /* descriptors of the job and of other tasks are not this task's */
    for (i = 0; i < J->n_tasks; i++) {
        hil_task* x = J->tasks[i];
        if (x == t) continue;
        hil__job_close_fd(&x->evfd);
        hil__job_close_fd(&x->outfd);
        hil__job_close_fd(&x->logfd);
        hil__job_close_fd(&x->exitfd);
    }
    hil__job_close_fd(&J->joblog);
    hil_waker_destroy(&J->wake);
    dup2(t->logfd, 1);
    dup2(t->logfd, 2);
    hil__job_close_fd(&t->logfd);
    hil__jfmt(src, sizeof src, "task %s", t->taskid);
    for (i = 0; t->params && t->params[i]; i++) {
        char key[300];
        const char* eq = strchr(t->params[i], '=');
        n = eq ? (size_t)(eq - t->params[i]) : strlen(t->params[i]);
        hil__jfmt(key, sizeof key, "params.%.*s", (int)n, t->params[i]);
        hil_config_set(hil_cfg(), key, eq ? eq + 1 : "true", HIL_PRIO_TASK, src);
    }
    for (i = 0; t->config && t->config[i]; i++) {
        char key[512];
        const char* eq = strchr(t->config[i], '=');
        n = eq ? (size_t)(eq - t->config[i]) : strlen(t->config[i]);
        hil__jfmt(key, sizeof key, "%.*s", (int)n, t->config[i]);
        hil_config_set(hil_cfg(), key, eq ? eq + 1 : "true", HIL_PRIO_TASK, src);
    }
    memset(&c, 0, sizeof c);
    c.evfd = evw;
    hil_dispatcher_config_init(&dc);
    dc.fn = hil__child_on_event;
    dc.user = &c;
    dc.name = "task";
    if (hil_bus_create(&bus) != HIL_OK || hil_dispatcher_create(bus, &dc, &d) != HIL_OK ||
        hil_dispatcher_subscribe(d, NULL, &HIL_EP_RUN, NULL) != HIL_OK) {
        hil__tw_begin(&c.frame, HIL__TEV_ERROR);
        hil__tw_str(&c.frame, "the task process could not set up its bus (out of memory)");
        hil__tw_send(evw, &c.frame);
        _exit(0);
    }
    hil_run_options_init(&o);
    for (n = 0; t->filters && t->filters[n]; n++) {
    }
    o.filters = (const char* const*)t->filters;
    o.n_filters = n;
    for (n = 0; t->tags && t->tags[n]; n++) {
    }
    o.tags = (const char* const*)t->tags;
    o.n_tags = n;
    for (n = 0; t->exclude_tags && t->exclude_tags[n]; n++) {
    }
    o.exclude_tags = (const char* const*)t->exclude_tags;
    o.n_exclude_tags = n;
    o.timeout_s = t->timeout_s > 0 ? t->timeout_s : hil_config_get_float(J->cfg, "run.timeout", 60);
    o.isolation = t->isolation;
    o.capture = hil_config_get_bool(J->cfg, "run.capture", 1);
    o.bus = bus;
    o.name = t->taskid;
    r = hil_run_tests(&o, &s);
    if (r != HIL_OK) {
        char msg[1100];
        hil__jfmt(msg, sizeof msg, "the task could not run its tests: %s", hil_last_error());
        hil__fd_printf(1, "%s\n", msg);
        hil__tw_begin(&c.frame, HIL__TEV_ERROR);
        hil__tw_str(&c.frame, msg);
        hil__tw_send(evw, &c.frame);
    } else {
        hil__fd_printf(1, "== %s: %zu passed, %zu failed, %zu skipped\n", t->taskid, hil_summary_passed(s),
                       hil_summary_failed(s), s->counts[HIL_SKIPPED]);
    }
    hil__tw_begin(&c.frame, HIL__TEV_DONE);
    hil__tw_send(evw, &c.frame);
    fflush(NULL);
    _exit(0); /* no atexit handlers: they belong to the job process */
}

/* A descriptor that becomes readable when pid exits (pidfd on Linux;
 * otherwise a thread waits without reaping and writes to a pipe). */
typedef struct hil__xwatch { int pid, wfd; } hil__xwatch;

static void* hil__xwatch_thread(void* p) {
    hil__xwatch w = *(hil__xwatch*)p;
    siginfo_t si;
    HIL_FREE(p);
    while (waitid(P_PID, (id_t)w.pid, &si, WEXITED | WNOWAIT) != 0 && errno == EINTR) {
    }
    (void)!write(w.wfd, "x", 1);
    close(w.wfd);
    return NULL;
}

static int hil__job_exit_fd(int pid) {
    int fd = -1, p[2];
    hil__xwatch* w;
    pthread_t th;
#if defined(__linux__) && defined(SYS_pidfd_open)
    fd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (fd >= 0) { hil_set_cloexec(fd); return fd; }
#endif
    if (pipe(p) != 0) return -1;
    hil_set_cloexec(p[0]);
    hil_set_cloexec(p[1]);
    w = (hil__xwatch*)HIL_MALLOC(sizeof *w);
    if (!w) { close(p[0]); close(p[1]); return -1; }
    w->pid = pid;
    w->wfd = p[1];
    if (pthread_create(&th, NULL, hil__xwatch_thread, w) != 0) {
        HIL_FREE(w);
        close(p[0]);
        close(p[1]);
        return -1;
    }
    pthread_detach(th);
    return p[0];
}

/* ---- 7. the monitor thread: starting, watching and ending tasks ------------------- */

static void hil__sb_list(hil_strbuf* sb, const char* label, char* const* list) {
    size_t i;
    if (!list || !list[0]) return;
    hil_sb_printf(sb, " %s", label);
    for (i = 0; list[i]; i++) hil_sb_printf(sb, "%s%s", i ? "," : " ", list[i]);
}

static void hil__task_desc(const hil_task* t, hil_strbuf* sb) {
    size_t i;
    if (t->kind == HIL__TASK_COMMAND) {
        hil_sb_puts(sb, "command:");
        for (i = 0; t->argv[i]; i++) hil_sb_printf(sb, " %s", t->argv[i]);
        if (t->cwd) hil_sb_printf(sb, " (in %s)", t->cwd);
        return;
    }
    hil_sb_puts(sb, "tests:");
    if (!(t->filters && t->filters[0]) && !(t->tags && t->tags[0]) && !(t->exclude_tags && t->exclude_tags[0]))
        hil_sb_puts(sb, " all");
    hil__sb_list(sb, "filters", t->filters);
    hil__sb_list(sb, "tags", t->tags);
    hil__sb_list(sb, "exclude_tags", t->exclude_tags);
    hil__sb_list(sb, "params", t->params);
}

static void hil__stop_text(const hil_task* t, char* out, size_t size) {
    switch (t->stop_why) {
    case HIL__STOP_MAX_RUNTIME: hil__jfmt(out, size, "max_runtime %g s exceeded", t->limit_s); break;
    case HIL__STOP_TERMINATED: hil__jfmt(out, size, "terminated by the job (hil_task_terminate)"); break;
    case HIL__STOP_JOB_ENDED: hil__jfmt(out, size, "still running when the job function returned"); break;
    case HIL__STOP_INTERRUPTED: hil__jfmt(out, size, "interrupted (Ctrl-C or SIGTERM)"); break;
    default: out[0] = 0;
    }
}

/* The console lines of a finished task (into pending_out). */
static void hil__task_console(hil__job* J, hil_task* t) {
    hil_strbuf* sb = &J->pending_out;
    char dur[32];
    size_t i, shown = 0;
    int bad = hil_outcome_is_failure(t->outcome);
    if (J->console == HIL_JOB_CONSOLE_SILENT || (J->console == HIL_JOB_CONSOLE_QUIET && !bad)) return;
    hil__fmt_secs(dur, sizeof dur, t->end_ns - t->start_ns);
    hil_sb_printf(sb, "  %s%-8s%s %-12s %zu test%s in %s%s%s\n", hil__job_color(J, t->outcome),
                  hil_outcome_str(t->outcome), J->color ? "\x1b[0m" : "", t->taskid, t->sum->n_results,
                  t->sum->n_results == 1 ? "" : "s", dur, t->reason ? ": " : "", t->reason ? t->reason : "");
    for (i = 0; bad && i < t->sum->n_results; i++) {
        const hil_test_result* r = &t->sum->results[i];
        if (!hil_outcome_is_failure(r->outcome)) continue;
        if (++shown > 10) { hil_sb_puts(sb, "      ...\n"); break; }
        hil_sb_printf(sb, "      %-8s %s%s%s\n", hil_outcome_str(r->outcome), r->test->full_name, r->reason ? ": " : "",
                      r->reason ? r->reason : "");
    }
}

/* The task did not run (refused, or it could not be started). */
static void hil__task_refuse(hil__job* J, hil_task* t, hil_outcome o, const char* name, const char* why,
                             hil_result code) {
    hil__sum_add_named(t->sum, "task", name, o, why);
    t->start_ns = t->end_ns = hil_now_ns();
    t->sum->start_wall_ns = hil_wall_ns();
    hil__sum_finish(t->sum);
    t->outcome = t->sum->outcome;
    HIL_FREE(t->reason);
    t->reason = hil_strdup(why);
    HIL_FREE(t->start_error);
    t->start_error = hil_strdup(why);
    t->start_code = code;
    t->state = HIL__T_DONE;
    hil__job_log(J, "warning", "%s not run: %s", t->taskid, why);
    hil__task_console(J, t);
    hil__job_note(J, t, 1);
    hil_cond_broadcast(&J->cv);
}

static void hil__task_stop(hil__job* J, hil_task* t, int why);

/* Start one task (the monitor thread, holding the job's lock: the forked
 * task process sees a consistent copy of the job). */
static void hil__task_launch(hil__job* J, hil_task* t) {
    char path[4200], why[1200], ts[40];
    hil_strbuf desc = {0, 0, 0, 0};
    uint64_t now;
    double limit;
    sigset_t stop_sigs, old_mask;
    sigemptyset(&stop_sigs);
    sigaddset(&stop_sigs, SIGINT);
    sigaddset(&stop_sigs, SIGTERM);
    if (J->interrupted) {
        hil__task_refuse(J, t, HIL_ABORTED, "not_started", "not started: the job was interrupted", HIL_ERR_INTERRUPTED);
        return;
    }
    if (J->stopping) {
        hil__task_refuse(J, t, HIL_ERRORED, "not_started", "not started: the job function had returned", HIL_ERR_STATE);
        return;
    }
    hil__jfmt(path, sizeof path, "%s/TaskLog.%s", J->dir, t->taskid);
    t->logfd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0666);
    t->log_made = t->logfd >= 0;
    if (t->logfd < 0) {
        hil__jfmt(why, sizeof why, "cannot create its log '%s': %s", path, strerror(errno));
        hil__task_refuse(J, t, HIL_ERRORED, "start", why, HIL_ERR_IO);
        return;
    }
    hil__task_desc(t, &desc);
    t->start_ns = now = hil_now_ns();
    t->sum->start_wall_ns = hil_wall_ns();
    hil_format_time_iso(t->sum->start_wall_ns, ts, sizeof ts);
    hil__fd_printf(t->logfd, "== %s: %s (started %s)\n", t->taskid, hil_sb_cstr(&desc), ts);
    limit = t->max_runtime_s > 0 ? t->max_runtime_s : J->max_runtime_s;
    if (limit > 0 && now + (uint64_t)(limit * 1e9) < t->deadline) { /* a wait() may have set an earlier one */
        t->deadline = now + (uint64_t)(limit * 1e9);
        t->limit_s = limit;
    }
    if (t->kind == HIL__TASK_TESTS) {
        int ev[2], pid;
        if (pipe(ev) != 0) {
            hil__jfmt(why, sizeof why, "cannot create a pipe: %s", strerror(errno));
            hil__job_close_fd(&t->logfd);
            hil__task_refuse(J, t, HIL_ERRORED, "start", why, HIL_ERR_IO);
            hil_sb_free(&desc);
            return;
        }
        hil_set_cloexec(ev[0]);
        hil_set_cloexec(ev[1]);
        /* SIGTERM/SIGINT stay pending until the task process has its own
         * interrupt state (hil_forked_child_reset), or they would be lost */
        pthread_sigmask(SIG_BLOCK, &stop_sigs, &old_mask);
        pid = fork();
        if (pid == 0) {
            close(ev[0]);
            hil__task_child(J, t, ev[1]);
        }
        pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
        if (pid < 0) {
            hil__jfmt(why, sizeof why, "cannot fork the task process: %s (too many processes? see ulimit -u)",
                      strerror(errno));
            close(ev[0]);
            close(ev[1]);
            hil__job_close_fd(&t->logfd);
            hil__task_refuse(J, t, HIL_ERRORED, "start", why, HIL_ERR_IO);
            hil_sb_free(&desc);
            return;
        }
        setpgid(pid, pid); /* both sides: no race with kill(-pid) */
        close(ev[1]);
        t->pid = pid;
        t->evfd = ev[0];
        hil_set_nonblocking(t->evfd, 1);
        t->exitfd = hil__job_exit_fd(pid);
    } else {
        hil_proc_config pc;
        hil_result r;
        hil_proc_config_init(&pc);
        pc.argv = (const char* const*)t->argv;
        pc.env = (const char* const*)t->env;
        pc.cwd = t->cwd;
        pc.pipe_stdout = 1;
        pc.stderr_to_stdout = 1;
        pc.new_process_group = 1;
        pc.die_with_parent = 1;
        if (t->junit) t->junit_existed = stat(t->junit, &t->junit_before) == 0;
        /* pending until the child has reset its handlers: not lost before exec */
        pthread_sigmask(SIG_BLOCK, &stop_sigs, &old_mask);
        r = hil_proc_spawn(&t->proc, &pc);
        pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
        if (r != HIL_OK) {
            hil__jfmt(why, sizeof why, "cannot start: %s", hil_last_error());
            hil__fd_printf(t->logfd, "== %s: %s\n", t->taskid, why);
            hil__job_close_fd(&t->logfd);
            hil__task_refuse(J, t, HIL_ERRORED, "start", why, r);
            hil_sb_free(&desc);
            return;
        }
        t->pid = t->proc.pid;
        t->outfd = t->proc.stdout_fd;
        hil_set_nonblocking(t->outfd, 1);
        t->exitfd = t->proc.pidfd;
    }
    hil_track_child_group(t->pid, 1);
    t->state = HIL__T_RUNNING;
    hil__job_log(J, "info", "%s started (pid %d): %s", t->taskid, t->pid, hil_sb_cstr(&desc));
    if (t->stop_pending) hil__task_stop(J, t, t->stop_pending); /* terminated while it started */
    hil__job_note(J, t, 0);
    hil_cond_broadcast(&J->cv);
    hil_sb_free(&desc);
}

static void hil__task_stop(hil__job* J, hil_task* t, int why) {
    char text[200];
    double grace;
    if (t->state != HIL__T_RUNNING || t->term_sent) return;
    t->stop_why = why;
    t->term_sent = 1;
    t->results_at_term = t->sum->n_results;
    grace = t->grace_s > 0 ? t->grace_s : J->grace_s;
    t->kill_at = hil_now_ns() + (uint64_t)(grace * 1e9);
    kill(-t->pid, SIGTERM);
    hil__stop_text(t, text, sizeof text);
    hil__fd_printf(t->logfd, "== %s: %s: SIGTERM to its process group (SIGKILL after %g s)\n", t->taskid, text, grace);
    hil__job_log(J, "warning", "%s: %s: SIGTERM to its process group (SIGKILL after %g s)", t->taskid, text, grace);
}

static void hil__task_on_frame(hil_task* t, int type, hil__tr* rd) {
    switch (type) {
    case HIL__TEV_RUN_STARTED: t->sum->planned = (size_t)hil__tr_u64(rd); break;
    case HIL__TEV_TEST_STARTED: {
        hil_test_info* info = hil__tr_info(rd, t->sum);
        uint64_t w = hil__tr_u64(rd);
        if (!rd->bad && info) {
            t->open_info = info;
            t->open_wall = w;
        }
        break;
    }
    case HIL__TEV_TEST_FINISHED: {
        hil_test_result* r;
        uint32_t k, n, o;
        size_t len;
        if (!t->open_info || !(r = hil__sum_add(t->sum, t->open_info))) { rd->bad = 1; break; }
        t->open_info = NULL;
        o = hil__tr_u32(rd);
        r->outcome = o > HIL_NOT_RUN && o < HIL_OUTCOME_COUNT ? (hil_outcome)o : HIL_ERRORED;
        r->reason = hil__tr_mem(rd, &len);
        if (r->reason && !len) { HIL_FREE(r->reason); r->reason = NULL; }
        r->start_wall_ns = hil__tr_u64(rd);
        r->duration_ns = hil__tr_u64(rd);
        r->attempts = (int)hil__tr_u32(rd);
        r->iteration = (int)hil__tr_u32(rd);
        r->output = hil__tr_mem(rd, &r->output_len);
        if (r->output && !r->output_len) { HIL_FREE(r->output); r->output = NULL; }
        n = hil__tr_u32(rd);
        if (n > HIL__MAX_LISTED_FAILURES) { rd->bad = 1; break; }
        if (n) r->failures = (hil_failure*)hil__jcalloc(n, sizeof *r->failures);
        for (k = 0; r->failures && k < n && !rd->bad; k++) {
            r->failures[k].file = hil__tr_mem(rd, NULL);
            r->failures[k].line = (int)hil__tr_u32(rd);
            r->failures[k].message = hil__tr_mem(rd, NULL);
            r->n_failures = k + 1;
        }
        n = hil__tr_u32(rd);
        if (n > rd->left / 4) { rd->bad = 1; break; }
        if (n) r->warnings = (char**)hil__jcalloc(n, sizeof *r->warnings);
        for (k = 0; r->warnings && k < n && !rd->bad; k++) {
            r->warnings[k] = hil__tr_mem(rd, NULL);
            r->n_warnings = k + 1;
        }
        break;
    }
    case HIL__TEV_RUN_FINISHED:
        t->sum->not_run = (size_t)hil__tr_u64(rd);
        t->sum->interrupted = (int)hil__tr_u32(rd);
        (void)hil__tr_u64(rd);
        break;
    case HIL__TEV_ERROR:
        HIL_FREE(t->child_error);
        t->child_error = hil__tr_mem(rd, NULL);
        break;
    case HIL__TEV_DONE: t->got_done = 1; break;
    case HIL__TEV_WORKER: t->worker_pgid = (int)hil__tr_u32(rd); break;
    default: rd->bad = 1; break;
    }
}

static void hil__task_decode(hil_task* t) {
    hil_strbuf* b = &t->evbuf;
    size_t off = 0;
    while (!t->stream_bad && b->len - off >= 5) {
        uint32_t len;
        hil__tr rd;
        memcpy(&len, b->data + off, 4);
        if (len < 1 || len > HIL__TEV_MAX) { t->stream_bad = 1; break; }
        if (b->len - off - 4 < len) break;
        rd.p = (const unsigned char*)b->data + off + 5;
        rd.left = len - 1;
        rd.bad = 0;
        hil__task_on_frame(t, (unsigned char)b->data[off + 4], &rd);
        if (rd.bad) t->stream_bad = 1;
        off += 4 + len;
    }
    if (t->stream_bad) { hil_sb_clear(b); return; }
    if (off) {
        memmove(b->data, b->data + off, b->len - off);
        b->len -= off;
        b->data[b->len] = 0;
    }
}

/* Read what the task wrote: result frames, or a command's output. */
static void hil__task_read(hil__job* J, hil_task* t) {
    char buf[65536];
    (void)J;
    while (t->evfd >= 0) {
        ssize_t n = read(t->evfd, buf, sizeof buf);
        if (n > 0) {
            hil_sb_append(&t->evbuf, buf, (size_t)n);
            hil__task_decode(t);
            if (t->stream_bad) {
                /* a task that scribbles on its own memory: end it */
                kill(-t->pid, SIGKILL);
                t->kill_sent = 1;
                hil__job_close_fd(&t->evfd);
            }
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        hil__job_close_fd(&t->evfd);
    }
    while (t->outfd >= 0) {
        ssize_t n = read(t->outfd, buf, sizeof buf);
        if (n > 0) {
            size_t room = HIL__CMD_OUTPUT_MAX - (t->cmd_out.len < HIL__CMD_OUTPUT_MAX ? t->cmd_out.len : HIL__CMD_OUTPUT_MAX);
            if (t->logfd >= 0) (void)hil_write_all(t->logfd, buf, (size_t)n);
            hil_sb_append(&t->cmd_out, buf, (size_t)n < room ? (size_t)n : room);
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        t->outfd = -1; /* end of output; hil_proc_close closes it */
    }
}

static int hil__task_reap(hil_task* t) {
    if (t->kind == HIL__TASK_COMMAND) {
        hil_proc_wait(&t->proc, 0);
        if (!t->proc.exited) return 0;
        t->status = t->proc.status;
    } else {
        int st = 0, rc;
        do rc = waitpid(t->pid, &st, WNOHANG); while (rc < 0 && errno == EINTR);
        if (rc == 0) return 0;
        t->status = rc == t->pid ? st : 0;
    }
    t->reaped = 1;
    return 1;
}

/* The results of a test task, once its process ended. */
static void hil__task_results_tests(hil_task* t, const char* st, const char* why) {
    hil_run_summary* s = t->sum;
    int clean = WIFEXITED(t->status) && WEXITSTATUS(t->status) == 0 && t->got_done;
    hil_outcome forced = HIL_NOT_RUN, roll = HIL_NOT_RUN;
    size_t i, registered = 0;
    char reason[600];
    if (t->stop_why && t->stop_why != HIL__STOP_INTERRUPTED) {
        /* the task stopped its running test when we told it to: that test
         * is Errored for the reason we stopped it, not Aborted */
        for (i = t->results_at_term; i < s->n_results; i++) {
            hil_test_result* r = &s->results[i];
            if (r->outcome != HIL_ABORTED) continue;
            if (r->reason) {
                char note[1200];
                hil__jfmt(note, sizeof note, "[hil: %s]\n", r->reason);
                hil__result_append_output(r, note, strlen(note));
            }
            r->outcome = HIL_ERRORED;
            hil__result_set_reason(r, why);
        }
    }
    if (t->stop_why) forced = t->stop_why == HIL__STOP_INTERRUPTED ? HIL_ABORTED : HIL_ERRORED;
    else if (!clean) forced = HIL_ERRORED;
    if (why[0]) hil__jfmt(reason, sizeof reason, "%s", why);
    else hil__jfmt(reason, sizeof reason, "the task process ended unexpectedly: %s", st);
    if (t->open_info) {
        /* the test that was running when the task process ended */
        hil_test_result* r = hil__sum_add(s, t->open_info);
        if (r) {
            r->outcome = forced != HIL_NOT_RUN ? forced : HIL_ERRORED;
            r->reason = hil_strdup(reason);
            r->start_wall_ns = t->open_wall;
            r->duration_ns = hil_wall_ns() > t->open_wall ? hil_wall_ns() - t->open_wall : 0;
        }
        t->open_info = NULL;
    }
    if (t->child_error) hil__sum_add_named(s, "task", "error", HIL_ERRORED, t->child_error);
    if (t->stream_bad)
        hil__sum_add_named(s, "task", "stream", HIL_ERRORED,
                           "the task process sent a corrupt result stream (memory corruption in it?)");
    for (i = 0; i < s->n_results; i++) {
        roll = hil_outcome_rollup(roll, s->results[i].outcome);
        if (s->results[i].test->index >= 0) registered++;
    }
    if (forced != HIL_NOT_RUN && roll < forced)
        hil__sum_add_named(s, "task", t->stop_why == HIL__STOP_MAX_RUNTIME ? "max_runtime"
                                      : t->stop_why == HIL__STOP_INTERRUPTED ? "interrupted"
                                      : t->stop_why ? "stopped" : "crashed",
                           forced, reason);
    if (clean && !t->child_error && s->planned == 0) {
        hil_strbuf sel = {0, 0, 0, 0};
        hil__task_desc(t, &sel);
        hil__jfmt(reason, sizeof reason, "no test matches the task's selection (%s)", hil_sb_cstr(&sel));
        hil__sum_add_named(s, "task", "no_tests", HIL_ERRORED, reason);
        hil_sb_free(&sel);
    }
    s->not_run = s->planned > registered ? s->planned - registered : 0;
}

static const char* hil__basename(const char* p) {
    const char* s = strrchr(p, '/');
    return s ? s + 1 : p;
}

/* The results of a command: its exit status, and its JUnit file. */
static void hil__task_results_command(hil_task* t, const char* st, const char* why) {
    hil_outcome exit_o;
    char reason[1400], note[1200] = "";
    size_t n_junit = 0;
    hil_test_result* r;
    if (why[0]) exit_o = t->stop_why == HIL__STOP_INTERRUPTED ? HIL_ABORTED : HIL_ERRORED;
    else if (WIFEXITED(t->status) && WEXITSTATUS(t->status) == 0) exit_o = HIL_PASSED;
    else if (WIFEXITED(t->status)) exit_o = HIL_FAILED;
    else exit_o = HIL_ERRORED;
    if (t->junit) {
        struct stat now;
        int written = stat(t->junit, &now) == 0 &&
                      (!t->junit_existed || now.st_ino != t->junit_before.st_ino ||
                       now.st_mtime != t->junit_before.st_mtime || now.st_size != t->junit_before.st_size
#if defined(__linux__)
                       || now.st_mtim.tv_nsec != t->junit_before.st_mtim.tv_nsec
#endif
                      );
        if (written) {
            hil_run_summary* js = NULL;
            if (hil_junit_read(t->junit, t->taskid, &js) == HIL_OK) {
                js->start_wall_ns = t->sum->start_wall_ns;
                hil_run_summary_free(t->sum);
                t->sum = js;
                n_junit = js->n_results;
            } else {
                hil__jfmt(note, sizeof note, "%s", hil_last_error());
                hil__sum_add_named(t->sum, "command", "junit", HIL_ERRORED, note);
                note[0] = 0;
            }
        } else if (exit_o == HIL_PASSED) {
            hil__jfmt(note, sizeof note, "the command exited with status 0 but did not write its JUnit file '%s'",
                      t->junit);
            hil__sum_add_named(t->sum, "command", "junit", HIL_ERRORED, note);
            note[0] = 0;
        } else {
            hil__jfmt(note, sizeof note, "; it wrote no JUnit file '%s'", t->junit);
        }
    }
    hil__jfmt(reason, sizeof reason, "%s%s", why[0] ? why : st, note);
    if (n_junit == 0) {
        r = hil__sum_add_named(t->sum, "command", hil__basename(t->argv[0]), exit_o,
                               exit_o == HIL_PASSED ? NULL : reason);
    } else {
        size_t i;
        hil_outcome roll = HIL_NOT_RUN;
        for (i = 0; i < t->sum->n_results; i++) roll = hil_outcome_rollup(roll, t->sum->results[i].outcome);
        r = NULL;
        if (exit_o != HIL_PASSED && roll < exit_o)
            r = hil__sum_add_named(t->sum, "command", "exit_status", exit_o, reason);
    }
    if (r) {
        r->start_wall_ns = t->sum->start_wall_ns;
        r->duration_ns = t->end_ns - t->start_ns;
        if (t->cmd_out.len) hil__result_append_output(r, t->cmd_out.data, t->cmd_out.len);
    }
}

/* The task's process ended (reaped): collect the rest, decide its result. */
static void hil__task_finalize(hil__job* J, hil_task* t) {
    char st[160], why[200], dur[32];
    size_t i;
    hil__task_read(J, t); /* what it wrote before it ended is still in the pipes */
    if (t->pid > 0) kill(-t->pid, SIGKILL); /* anything it left in its group */
    if (t->worker_pgid > 0 && !t->got_done) kill(-t->worker_pgid, SIGKILL);
    hil_track_child_group(t->pid, 0);
    hil__job_close_fd(&t->evfd);
    if (t->kind == HIL__TASK_COMMAND) {
        hil_proc_close(&t->proc);
        t->outfd = t->exitfd = -1;
    } else {
        hil__job_close_fd(&t->exitfd);
    }
    t->end_ns = hil_now_ns();
    hil_proc_status_str(t->status, st, sizeof st);
    hil__stop_text(t, why, sizeof why);
    if (t->kind == HIL__TASK_TESTS) hil__task_results_tests(t, st, why);
    else hil__task_results_command(t, st, why);
    t->sum->name = t->taskid;
    t->sum->duration_ns = t->end_ns - t->start_ns;
    t->sum->interrupted = t->stop_why == HIL__STOP_INTERRUPTED;
    hil__sum_finish(t->sum);
    t->outcome = t->sum->outcome;
    HIL_FREE(t->reason);
    t->reason = NULL;
    if (why[0]) {
        t->reason = hil_strdup(why);
    } else {
        for (i = 0; i < t->sum->n_results; i++) {
            const hil_test_result* r = &t->sum->results[i];
            if (hil_outcome_is_failure(r->outcome)) {
                hil_strbuf sb = {0, 0, 0, 0};
                hil_sb_printf(&sb, "%s: %s", r->test->full_name, r->reason ? r->reason : hil_outcome_str(r->outcome));
                t->reason = hil_sb_take(&sb);
                break;
            }
        }
    }
    hil__fmt_secs(dur, sizeof dur, t->end_ns - t->start_ns);
    hil__fd_printf(t->logfd, "== %s: %s in %s (%s)%s%s\n", t->taskid, hil_outcome_str(t->outcome), dur, st,
                   t->reason ? ": " : "", t->reason ? t->reason : "");
    hil__job_close_fd(&t->logfd);
    t->state = HIL__T_DONE;
    hil__job_log(J, hil_outcome_is_failure(t->outcome) ? "warning" : "info", "%s finished: %s in %s (%s)%s%s",
                 t->taskid, hil_outcome_str(t->outcome), dur, st, t->reason ? ": " : "", t->reason ? t->reason : "");
    hil__task_console(J, t);
    hil__job_note(J, t, 1);
    hil_cond_broadcast(&J->cv);
}

static int hil__job_busy(const hil__job* J) {
    size_t i;
    for (i = 0; i < J->n_tasks; i++)
        if (J->tasks[i]->state == HIL__T_STARTING || J->tasks[i]->state == HIL__T_RUNNING) return 1;
    return 0;
}

static void* hil__job_monitor(void* arg) {
    hil__job* J = (hil__job*)arg;
    struct pollfd* pf = NULL;
    hil_task** who = NULL;
    size_t cap = 0;
    hil_waker* intr = hil_interrupt_waker();
    int intr_pending = 0;
    sigset_t stop_sigs;
    /* Ctrl-C is handled on the job's other threads; this one learns of it
     * from the interrupt waker (the handler's counter is theirs) */
    sigemptyset(&stop_sigs);
    sigaddset(&stop_sigs, SIGINT);
    sigaddset(&stop_sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_sigs, NULL);
    hil_mutex_lock(&J->mu);
    for (;;) {
        size_t i, n = 0;
        uint64_t now, next = HIL_NEVER;
        int running = 0;
        for (i = 0; i < J->n_tasks; i++)
            if (J->tasks[i]->state == HIL__T_STARTING) hil__task_launch(J, J->tasks[i]);
        if (intr_pending) {
            intr_pending = 0;
            if (!J->interrupted) {
                static const char note[] =
                    "\nhil: interrupted: stopping the tasks and writing the reports (Ctrl-C again exits at once)\n";
                J->interrupted = 1;
                if (J->console != HIL_JOB_CONSOLE_SILENT) (void)!write(2, note, sizeof note - 1);
                hil__job_log(J, "warning", "interrupted: stopping every task");
                for (i = 0; i < J->n_tasks; i++) hil__task_stop(J, J->tasks[i], HIL__STOP_INTERRUPTED);
            }
        }
        now = hil_now_ns();
        for (i = 0; i < J->n_tasks; i++) {
            hil_task* t = J->tasks[i];
            if (t->state != HIL__T_RUNNING) continue;
            running++;
            if (!t->term_sent && t->deadline != HIL_NEVER && now >= t->deadline)
                hil__task_stop(J, t, HIL__STOP_MAX_RUNTIME);
            if (t->term_sent && !t->kill_sent && now >= t->kill_at) {
                kill(-t->pid, SIGKILL);
                if (t->worker_pgid > 0) kill(-t->worker_pgid, SIGKILL);
                t->kill_sent = 1;
                hil__fd_printf(t->logfd, "== %s: still running after the grace period: SIGKILL\n", t->taskid);
                hil__job_log(J, "warning", "%s: still running after the grace period: SIGKILL", t->taskid);
            }
            if (!t->term_sent && t->deadline < next) next = t->deadline;
            if (t->term_sent && !t->kill_sent && t->kill_at < next) next = t->kill_at;
        }
        if (J->stopping && !hil__job_busy(J)) break;
        if (J->console == HIL_JOB_CONSOLE_LIVE && running && J->next_draw < next) next = J->next_draw;
        if (cap < 2 + 3 * J->n_tasks) {
            size_t c2 = 2 + 3 * J->n_tasks + 16;
            struct pollfd* p2 = (struct pollfd*)HIL_REALLOC(pf, c2 * sizeof *p2);
            hil_task** w2;
            if (!p2) { next = now + 100000000u; goto unlock_and_wait; } /* out of memory: try again shortly */
            pf = p2;
            w2 = (hil_task**)HIL_REALLOC(who, c2 * sizeof *w2);
            if (!w2) { next = now + 100000000u; goto unlock_and_wait; }
            who = w2;
            cap = c2;
        }
        pf[n].fd = hil_waker_fd(&J->wake);
        who[n++] = NULL;
        if (intr) { pf[n].fd = hil_waker_fd(intr); who[n++] = NULL; }
        for (i = 0; i < J->n_tasks; i++) {
            hil_task* t = J->tasks[i];
            if (t->state != HIL__T_RUNNING) continue;
            if (t->evfd >= 0) { pf[n].fd = t->evfd; who[n++] = t; }
            if (t->outfd >= 0) { pf[n].fd = t->outfd; who[n++] = t; }
            if (t->exitfd >= 0) { pf[n].fd = t->exitfd; who[n++] = t; }
        }
        for (i = 0; i < n; i++) {
            pf[i].events = POLLIN;
            pf[i].revents = 0;
        }
    unlock_and_wait:
        hil_cond_broadcast(&J->cv);
        hil_mutex_unlock(&J->mu);
        hil__job_send_notes(J);
        if (J->console != HIL_JOB_CONSOLE_SILENT) {
            int due;
            hil_mutex_lock(&J->mu);
            due = J->pending_out.len > 0 ||
                  (J->console == HIL_JOB_CONSOLE_LIVE && running && hil_now_ns() >= J->next_draw);
            hil_mutex_unlock(&J->mu);
            if (due) hil__job_draw(J);
        }
        poll(pf, (nfds_t)n, hil_deadline_left_ms(next));
        hil_waker_drain(&J->wake);
        hil_mutex_lock(&J->mu);
        for (i = 0; i < n; i++) {
            hil_task* t = who[i];
            if (!t && intr && pf[i].fd == hil_waker_fd(intr) && pf[i].revents) {
                hil_waker_drain(intr);
                intr_pending = 1;
            }
            if (!t || !pf[i].revents || t->state != HIL__T_RUNNING) continue;
            if (pf[i].fd == t->evfd || pf[i].fd == t->outfd) hil__task_read(J, t);
            else if (pf[i].fd == t->exitfd && hil__task_reap(t)) hil__task_finalize(J, t);
        }
    }
    hil_cond_broadcast(&J->cv);
    hil_mutex_unlock(&J->mu);
    hil__job_send_notes(J);
    HIL_FREE(pf);
    HIL_FREE(who);
    return NULL;
}

/* ---- 8. the task API ---------------------------------------------------------------- */

static void hil__strv_free(char** v) {
    size_t i;
    for (i = 0; v && v[i]; i++) HIL_FREE(v[i]);
    HIL_FREE(v);
}

/* A copy of a NULL-terminated list plus `extra` free slots; NULL for NULL
 * (and no extra). *ok is cleared when out of memory. */
static char** hil__strv_dup(const char* const* v, size_t extra, int* ok) {
    size_t n = 0, i;
    char** out;
    if (!v && !extra) return NULL;
    while (v && v[n]) n++;
    out = (char**)hil__jcalloc(n + extra + 1, sizeof *out);
    if (!out) { *ok = 0; return NULL; }
    for (i = 0; i < n; i++)
        if (!(out[i] = hil_strdup(v[i]))) { *ok = 0; break; }
    return out;
}

static char* hil__strcat3(const char* a, const char* b, const char* c) {
    hil_strbuf sb = {0, 0, 0, 0};
    hil_sb_puts(&sb, a);
    hil_sb_puts(&sb, b);
    hil_sb_puts(&sb, c);
    if (sb.failed) { hil_sb_free(&sb); return NULL; }
    return hil_sb_take(&sb);
}

static void hil__task_free(hil_task* t) {
    hil__strv_free(t->filters);
    hil__strv_free(t->tags);
    hil__strv_free(t->exclude_tags);
    hil__strv_free(t->params);
    hil__strv_free(t->config);
    hil__strv_free(t->argv);
    hil__strv_free(t->env);
    HIL_FREE(t->cwd);
    HIL_FREE(t->junit);
    HIL_FREE(t->taskid);
    hil_sb_free(&t->evbuf);
    hil_sb_free(&t->cmd_out);
    if (t->sum) hil_run_summary_free(t->sum);
    HIL_FREE(t->child_error);
    HIL_FREE(t->reason);
    HIL_FREE(t->start_error);
    HIL_FREE(t);
}

HIL_API void hil_task_options_init(hil_task_options* o) {
    memset(o, 0, sizeof *o);
    o->isolation = HIL_ISOLATE_WORKER;
}

static hil__job* hil__rt_job(const hil_job_rt* rt) { return rt ? (hil__job*)rt->internal : NULL; }

static int hil__taskid_taken(const hil__job* J, const char* id) {
    size_t i;
    for (i = 0; i < J->n_tasks; i++)
        if (strcmp(J->tasks[i]->taskid, id) == 0) return 1;
    return 0;
}

HIL_API hil_result hil_task_create(hil_job_rt* rt, const hil_task_options* o, hil_task** out) {
    hil__job* J = hil__rt_job(rt);
    hil_task* t;
    char base[200], id[240];
    size_t i;
    int ok = 1, k;
    if (out) *out = NULL;
    if (!J || !o || !out) return hil_error(HIL_ERR_INVALID_ARG, "hil_task_create: no job runtime, options or result");
    if (hil__task_self) return hil_error(HIL_ERR_STATE, "hil_task_create: a task cannot create tasks (jobs do not nest)");
    if (o->argv && (o->filters || o->tags || o->exclude_tags || o->params || o->config))
        return hil_error(HIL_ERR_INVALID_ARG, "task options: set argv (a command) or filters/tags/params/config (tests "
                                              "of this program), not both");
    if (o->argv && !o->argv[0]) return hil_error(HIL_ERR_INVALID_ARG, "task options: argv is empty (argv[0] is NULL)");
    if (!o->argv && (o->junit || o->env || o->cwd))
        return hil_error(HIL_ERR_INVALID_ARG, "task options: junit, env and cwd are for commands: set argv too");
    if (o->isolation < HIL_ISOLATE_WORKER || o->isolation > HIL_ISOLATE_NONE)
        return hil_error(HIL_ERR_INVALID_ARG, "task options: isolation %d is not one of HIL_ISOLATE_*", o->isolation);
    for (i = 0; o->params && o->params[i]; i++)
        if (!strchr(o->params[i], '=') || o->params[i][0] == '=')
            return hil_error(HIL_ERR_INVALID_ARG, "task options: parameter '%s' is not NAME=VALUE", o->params[i]);
    for (i = 0; o->config && o->config[i]; i++)
        if (!strchr(o->config[i], '=') || o->config[i][0] == '=')
            return hil_error(HIL_ERR_INVALID_ARG, "task options: configuration '%s' is not KEY=VALUE", o->config[i]);
    t = (hil_task*)hil__jcalloc(1, sizeof *t);
    if (!t) return hil_error(HIL_ERR_NO_MEMORY, "hil_task_create: out of memory");
    t->J = J;
    t->kind = o->argv ? HIL__TASK_COMMAND : HIL__TASK_TESTS;
    t->pid = 0;
    t->exitfd = t->evfd = t->outfd = t->logfd = -1;
    t->deadline = HIL_NEVER;
    t->proc.pid = -1;
    t->proc.pidfd = t->proc.stdin_fd = t->proc.stdout_fd = t->proc.stderr_fd = -1;
    t->timeout_s = o->timeout_s;
    t->max_runtime_s = o->max_runtime_s;
    t->grace_s = o->grace_s;
    t->isolation = o->isolation;
    t->filters = hil__strv_dup(o->filters, 0, &ok);
    t->tags = hil__strv_dup(o->tags, 0, &ok);
    t->exclude_tags = hil__strv_dup(o->exclude_tags, 0, &ok);
    t->params = hil__strv_dup(o->params, 0, &ok);
    t->config = hil__strv_dup(o->config, 0, &ok);
    t->argv = hil__strv_dup(o->argv, 0, &ok);
    if (o->cwd) ok = ok && (t->cwd = hil_strdup(o->cwd)) != NULL;
    if (o->junit) {
        if (o->junit[0] != '/' && o->cwd) t->junit = hil__strcat3(o->cwd, "/", o->junit);
        else t->junit = hil_strdup(o->junit);
        ok = ok && t->junit;
    }
    t->sum = hil__sum_new(NULL);
    ok = ok && t->sum;
    hil_mutex_lock(&J->mu);
    t->n = ++J->next_n;
    if (o->taskid && *o->taskid) hil__jfmt(base, sizeof base, "%s", o->taskid);
    else hil__jfmt(base, sizeof base, "Task-%d", t->n);
    for (i = 0; base[i]; i++)
        if (base[i] == '/' || (unsigned char)base[i] < 0x20) base[i] = '_';
    hil__jfmt(id, sizeof id, "%s", base);
    for (k = 2; hil__taskid_taken(J, id); k++) hil__jfmt(id, sizeof id, "%s-%d", base, k);
    t->taskid = hil_strdup(id);
    ok = ok && t->taskid;
    if (ok && t->kind == HIL__TASK_COMMAND) {
        size_t n = 0;
        t->env = hil__strv_dup(o->env, 4, &ok);
        while (ok && t->env[n]) n++;
        if (ok) {
            char logpath[4200];
            hil__jfmt(logpath, sizeof logpath, "%s/TaskLog.%s", J->dir, t->taskid);
            ok = (t->env[n] = hil__strcat3("HIL_RUN_DIR=", J->dir, "")) != NULL &&
                 (t->env[n + 1] = hil__strcat3("HIL_TASK_ID=", t->taskid, "")) != NULL &&
                 (t->env[n + 2] = hil__strcat3("HIL_JOB=", J->rt.job, "")) != NULL &&
                 (t->env[n + 3] = hil__strcat3("HIL_TASK_LOG=", logpath, "")) != NULL;
        }
    }
    if (ok && J->n_tasks == J->cap_tasks) {
        size_t cap = J->cap_tasks ? J->cap_tasks * 2 : 16;
        hil_task** p = (hil_task**)HIL_REALLOC(J->tasks, cap * sizeof *p);
        if (p) { J->tasks = p; J->cap_tasks = cap; }
        else ok = 0;
    }
    if (!ok) {
        hil_mutex_unlock(&J->mu);
        hil__task_free(t);
        return hil_error(HIL_ERR_NO_MEMORY, "hil_task_create: out of memory");
    }
    t->sum->name = t->taskid;
    J->tasks[J->n_tasks++] = t;
    hil_mutex_unlock(&J->mu);
    *out = t;
    return HIL_OK;
}

/* Print what finished before returning to the job, so its own output
 * comes after the task's line. */
static void hil__job_flush_console(hil__job* J) {
    int pending;
    if (J->console == HIL_JOB_CONSOLE_SILENT) return;
    hil_mutex_lock(&J->mu);
    pending = J->pending_out.len > 0;
    hil_mutex_unlock(&J->mu);
    if (pending) hil__job_draw(J);
}

static hil_result hil__task_check_caller(const hil_task* t, const char* what) {
    if (!t) return hil_error(HIL_ERR_INVALID_ARG, "%s: no task", what);
    if (hil__task_self) return hil_error(HIL_ERR_STATE, "%s: not from inside a task", what);
    if (hil__job_is_monitor(t->J))
        return hil_error(HIL_ERR_STATE, "%s: not from a HIL_MSG_TASK_* callback (it runs on the job's monitor thread)",
                         what);
    return HIL_OK;
}

HIL_API hil_result hil_task_start(hil_task* t) {
    hil__job* J;
    hil_result r = hil__task_check_caller(t, "hil_task_start");
    if (r != HIL_OK) return r;
    J = t->J;
    fflush(stdout); /* or the task process would print it again */
    fflush(stderr);
    hil_mutex_lock(&J->mu);
    if (t->state != HIL__T_CREATED) {
        hil_mutex_unlock(&J->mu);
        return hil_error(HIL_ERR_STATE, "task '%s' was started already (a task starts once)", t->taskid);
    }
    t->state = HIL__T_STARTING;
    hil_waker_wake(&J->wake);
    while (t->state == HIL__T_STARTING) hil_cond_wait(&J->cv, &J->mu);
    if (t->start_error) r = hil_error(t->start_code ? t->start_code : HIL_ERROR, "task '%s': %s", t->taskid, t->start_error);
    hil_mutex_unlock(&J->mu);
    if (r != HIL_OK) hil__job_flush_console(J);
    return r;
}

static hil_result hil__task_wait_until(hil_task* t, uint64_t deadline) {
    hil__job* J = t->J;
    hil_result r = HIL_OK;
    while (t->state != HIL__T_DONE && r == HIL_OK) r = hil_cond_wait_until(&J->cv, &J->mu, deadline);
    return t->state == HIL__T_DONE ? HIL_OK : HIL_ERR_TIMEOUT;
}

HIL_API hil_result hil_task_wait(hil_task* t, double max_runtime_s) {
    hil__job* J;
    hil_result r = hil__task_check_caller(t, "hil_task_wait");
    if (r != HIL_OK) return r;
    J = t->J;
    hil_mutex_lock(&J->mu);
    if (t->state == HIL__T_CREATED) {
        hil_mutex_unlock(&J->mu);
        return hil_error(HIL_ERR_STATE, "hil_task_wait: task '%s' was not started (hil_task_start)", t->taskid);
    }
    if (max_runtime_s > 0 && t->state != HIL__T_DONE) {
        uint64_t dl = hil_deadline_s(max_runtime_s);
        if (dl < t->deadline) {
            t->deadline = dl;
            t->limit_s = max_runtime_s;
            hil_waker_wake(&J->wake);
        }
    }
    hil__task_wait_until(t, HIL_NEVER);
    if (t->stop_why == HIL__STOP_MAX_RUNTIME)
        r = hil_error(HIL_ERR_TIMEOUT, "task '%s': max_runtime %g s exceeded: it was stopped", t->taskid, t->limit_s);
    hil_mutex_unlock(&J->mu);
    hil__job_flush_console(J);
    return r;
}

HIL_API hil_result hil_task_join(hil_task* t, int timeout_ms) {
    hil__job* J;
    hil_result r = hil__task_check_caller(t, "hil_task_join");
    if (r != HIL_OK) return r;
    J = t->J;
    hil_mutex_lock(&J->mu);
    if (t->state == HIL__T_CREATED) r = hil_error(HIL_ERR_STATE, "hil_task_join: task '%s' was not started", t->taskid);
    else r = hil__task_wait_until(t, hil_deadline_ms(timeout_ms));
    hil_mutex_unlock(&J->mu);
    if (r == HIL_OK) hil__job_flush_console(J);
    return r;
}

HIL_API hil_result hil_task_wait_any(hil_task* const* tasks, size_t n, int timeout_ms, size_t* index) {
    hil__job* J;
    uint64_t deadline = hil_deadline_ms(timeout_ms);
    hil_result r = HIL_OK;
    size_t i;
    if (!tasks || !n || !index) return hil_error(HIL_ERR_INVALID_ARG, "hil_task_wait_any: no tasks");
    r = hil__task_check_caller(tasks[0], "hil_task_wait_any");
    if (r != HIL_OK) return r;
    J = tasks[0]->J;
    hil_mutex_lock(&J->mu);
    for (;;) {
        int waiting = 0;
        for (i = 0; i < n; i++) {
            if (tasks[i]->J != J) {
                hil_mutex_unlock(&J->mu);
                return hil_error(HIL_ERR_INVALID_ARG, "hil_task_wait_any: the tasks belong to different jobs");
            }
            if (tasks[i]->state == HIL__T_DONE) {
                *index = i;
                hil_mutex_unlock(&J->mu);
                hil__job_flush_console(J);
                return HIL_OK;
            }
            if (tasks[i]->state != HIL__T_CREATED) waiting = 1;
        }
        if (!waiting) {
            hil_mutex_unlock(&J->mu);
            return hil_error(HIL_ERR_STATE, "hil_task_wait_any: none of the %zu tasks was started", n);
        }
        if (r == HIL_ERR_TIMEOUT) break;
        r = hil_cond_wait_until(&J->cv, &J->mu, deadline);
    }
    hil_mutex_unlock(&J->mu);
    return HIL_ERR_TIMEOUT;
}

HIL_API int hil_task_is_alive(hil_task* t) {
    int alive;
    if (!t) return 0;
    hil_mutex_lock(&t->J->mu);
    alive = t->state == HIL__T_STARTING || t->state == HIL__T_RUNNING;
    hil_mutex_unlock(&t->J->mu);
    return alive;
}

HIL_API hil_result hil_task_terminate(hil_task* t) {
    hil__job* J;
    hil_result r = HIL_OK;
    if (!t) return hil_error(HIL_ERR_INVALID_ARG, "hil_task_terminate: no task");
    J = t->J;
    hil_mutex_lock(&J->mu);
    if (t->state == HIL__T_CREATED) r = hil_error(HIL_ERR_STATE, "hil_task_terminate: task '%s' was not started", t->taskid);
    else if (t->state == HIL__T_RUNNING) hil__task_stop(J, t, HIL__STOP_TERMINATED);
    else if (t->state == HIL__T_STARTING) t->stop_pending = HIL__STOP_TERMINATED;
    hil_waker_wake(&J->wake);
    hil_mutex_unlock(&J->mu);
    return r;
}

HIL_API hil_outcome hil_task_result(hil_task* t) {
    hil_outcome o;
    if (!t) return HIL_NOT_RUN;
    hil_mutex_lock(&t->J->mu);
    o = t->state == HIL__T_DONE ? t->outcome : HIL_NOT_RUN;
    hil_mutex_unlock(&t->J->mu);
    return o;
}

HIL_API const char* hil_task_reason(hil_task* t) {
    const char* s;
    if (!t) return NULL;
    hil_mutex_lock(&t->J->mu);
    s = t->state == HIL__T_DONE ? t->reason : NULL;
    hil_mutex_unlock(&t->J->mu);
    return s;
}

HIL_API int hil_task_pid(hil_task* t) {
    int pid;
    if (!t) return 0;
    hil_mutex_lock(&t->J->mu);
    pid = t->pid > 0 ? t->pid : 0;
    hil_mutex_unlock(&t->J->mu);
    return pid;
}

HIL_API const char* hil_task_id(const hil_task* t) { return t ? t->taskid : NULL; }

HIL_API const hil_run_summary* hil_task_summary(hil_task* t) {
    const hil_run_summary* s;
    if (!t) return NULL;
    hil_mutex_lock(&t->J->mu);
    s = t->state == HIL__T_DONE ? t->sum : NULL;
    hil_mutex_unlock(&t->J->mu);
    return s;
}

HIL_API hil_outcome hil_run(hil_job_rt* rt, const hil_task_options* o) {
    hil_task* t = NULL;
    if (hil_task_create(rt, o, &t) != HIL_OK) {
        char msg[1100];
        hil__jfmt(msg, sizeof msg, "%s", hil_last_error());
        if (hil__rt_job(rt)) hil_job_error(rt, "hil_run: %s", msg);
        return HIL_ERRORED;
    }
    if (hil_task_start(t) == HIL_OK) hil_task_wait(t, 0);
    return hil_task_result(t);
}

/* ---- the job runtime ---------------------------------------------------------------- */

HIL_API void hil_job_set_name(hil_job_rt* rt, const char* name) {
    hil__job* J = hil__rt_job(rt);
    char** names;
    size_t n = 0;
    if (!J || !name || !*name) return;
    hil_mutex_lock(&J->mu);
    /* earlier names stay valid until the job ends: someone may hold one */
    while (J->names && J->names[n]) n++;
    names = (char**)HIL_REALLOC(J->names, (n + 2) * sizeof *names);
    if (names) {
        J->names = names;
        names[n] = hil_strdup(name);
        names[n + 1] = NULL;
        if (names[n]) J->rt.name = names[n];
    }
    hil_mutex_unlock(&J->mu);
}

static void hil__job_args_remove(hil_job_rt* rt, int i, int count) {
    int k;
    for (k = i; k + count <= rt->argc; k++) rt->argv[k] = rt->argv[k + count];
    rt->argc -= count;
}

HIL_API const char* hil_job_arg(hil_job_rt* rt, const char* flag, const char* fallback) {
    size_t fl;
    int i;
    if (!rt || !flag || !*flag) return fallback;
    fl = strlen(flag);
    for (i = 0; i < rt->argc; i++) {
        const char* a = rt->argv[i];
        if (strcmp(a, "--") == 0) break;
        if (strncmp(a, flag, fl) == 0 && a[fl] == '=') {
            hil__job_args_remove(rt, i, 1);
            return a + fl + 1;
        }
        if (strcmp(a, flag) == 0 && i + 1 < rt->argc) {
            const char* v = rt->argv[i + 1];
            hil__job_args_remove(rt, i, 2);
            return v;
        }
    }
    return fallback;
}

HIL_API int hil_job_flag(hil_job_rt* rt, const char* flag) {
    int i;
    if (!rt || !flag || !*flag) return 0;
    for (i = 0; i < rt->argc; i++) {
        if (strcmp(rt->argv[i], "--") == 0) break;
        if (strcmp(rt->argv[i], flag) == 0) {
            hil__job_args_remove(rt, i, 1);
            return 1;
        }
    }
    return 0;
}

HIL_API void hil_job_error(hil_job_rt* rt, const char* fmt, ...) {
    hil__job* J = hil__rt_job(rt);
    char msg[1200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (!J) return;
    hil_mutex_lock(&J->mu);
    hil__sum_add_named(J->errors, "job", "error", HIL_ERRORED, msg);
    hil__job_log(J, "error", "job error: %s", msg);
    if (J->console != HIL_JOB_CONSOLE_SILENT)
        hil_sb_printf(&J->pending_out, "  %sErrored%s  job: %s\n", hil__job_color(J, HIL_ERRORED), J->color ? "\x1b[0m" : "",
                      msg);
    hil_waker_wake(&J->wake);
    hil_mutex_unlock(&J->mu);
}

HIL_API int hil_job_interrupted(const hil_job_rt* rt) {
    hil__job* J = hil__rt_job(rt);
    int v;
    if (!J) return 0;
    hil_mutex_lock(&J->mu);
    v = J->interrupted;
    hil_mutex_unlock(&J->mu);
    return v;
}

HIL_API size_t hil_job_task_count(hil_job_rt* rt) {
    hil__job* J = hil__rt_job(rt);
    size_t n;
    if (!J) return 0;
    hil_mutex_lock(&J->mu);
    n = J->n_tasks;
    hil_mutex_unlock(&J->mu);
    return n;
}

HIL_API hil_task* hil_job_task(hil_job_rt* rt, size_t index) {
    hil__job* J = hil__rt_job(rt);
    hil_task* t;
    if (!J) return NULL;
    hil_mutex_lock(&J->mu);
    t = index < J->n_tasks ? J->tasks[index] : NULL;
    hil_mutex_unlock(&J->mu);
    return t;
}

/* ---- 9. the run directory and the reports ------------------------------------------ */

static hil_result hil__job_make_dir(hil__job* J, const char* runs) {
    char path[4096], stamp[32], real[4096];
    time_t now = (time_t)(J->start_wall / 1000000000u);
    struct tm tm;
    int k;
    hil_result r = hil_mkdirs(runs);
    if (r != HIL_OK)
        return hil_error(HIL_ERR_IO, "%s: set job.runs (--runs DIR) to a directory you can write to", hil_last_error());
    localtime_r(&now, &tm);
    strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
    for (k = 1;; k++) {
        if (k == 1) hil__jfmt(path, sizeof path, "%s/%s.%s", runs, J->rt.name, stamp);
        else hil__jfmt(path, sizeof path, "%s/%s.%s-%d", runs, J->rt.name, stamp, k);
        if (mkdir(path, 0777) == 0) break;
        if (errno != EEXIST || k >= 10000)
            return hil_error(HIL_ERR_IO, "cannot create the run directory '%s': %s: set job.runs (--runs DIR) to a "
                             "directory you can write to", path, strerror(errno));
    }
    if (!realpath(path, real)) hil__jfmt(real, sizeof real, "%s", path);
    J->dir = hil_strdup(real);
    J->dirbase = hil_strdup(hil__basename(path));
    J->runs = hil_strdup(runs);
    if (!J->dir || !J->dirbase || !J->runs) return hil_error(HIL_ERR_NO_MEMORY, "run directory: out of memory");
    return HIL_OK;
}

static void hil__env_visit(const char* key, const hil_config_value* v, void* user) {
    hil_strbuf* sb = (hil_strbuf*)user;
    size_t i;
    hil_sb_printf(sb, "  %s = ", key);
    for (i = 0; i < v->count; i++) hil_sb_printf(sb, "%s%s", i ? ", " : "", v->count > 1 ? v->values[i] : v->value);
    hil_sb_printf(sb, "   [priority %d, %s]\n", v->priority, v->source);
}

/* env.txt: where and how the job ran. */
static void hil__job_write_env(hil__job* J) {
    hil_strbuf sb = {0, 0, 0, 0};
    char host[256] = "?", cwd[4096] = "?", ts[40], path[4200];
    const char* user = getenv("USER");
    struct utsname u;
    int i;
    gethostname(host, sizeof host - 1);
    if (!getcwd(cwd, sizeof cwd)) hil__jfmt(cwd, sizeof cwd, "?");
    if (!user) user = getenv("LOGNAME");
    hil_format_time_iso(J->start_wall, ts, sizeof ts);
    hil_sb_printf(&sb, "job:        %s (reported as %s)\n", J->rt.job, J->rt.name);
    hil_sb_printf(&sb, "started:    %s\n", ts);
    hil_sb_printf(&sb, "directory:  %s\n", J->dir);
    hil_sb_printf(&sb, "host:       %s\n", host);
    hil_sb_printf(&sb, "user:       %s (uid %d)\n", user ? user : "?", (int)getuid());
    hil_sb_printf(&sb, "cwd:        %s\n", cwd);
    hil_sb_printf(&sb, "pid:        %d\n", J->pid);
    {
        char* cmd = NULL;
        size_t len = 0, k;
        hil_sb_puts(&sb, "command:    ");
        if (hil_read_file("/proc/self/cmdline", &cmd, &len) == HIL_OK) {
            /* NUL-separated arguments */
            for (k = 0; k < len; k++) hil_sb_putc(&sb, cmd[k] ? cmd[k] : ' ');
            while (sb.len && sb.data[sb.len - 1] == ' ') sb.data[--sb.len] = 0;
            HIL_FREE(cmd);
        } else {
            hil_sb_puts(&sb, " ?");
        }
        hil_sb_putc(&sb, '\n');
    }
    hil_sb_puts(&sb, "job args:  ");
    for (i = 0; i < J->n_args; i++) hil_sb_printf(&sb, " %s", J->args[i]);
    hil_sb_putc(&sb, '\n');
    hil_sb_printf(&sb, "hil:        %s\n", HIL_VERSION);
#if defined(__VERSION__)
    hil_sb_printf(&sb, "compiler:   %s", __VERSION__);
#else
    hil_sb_printf(&sb, "compiler:   ?");
#endif
#if defined(__cplusplus)
    hil_sb_printf(&sb, " (C++ %ld)\n", (long)__cplusplus);
#elif defined(__STDC_VERSION__)
    hil_sb_printf(&sb, " (C %ld)\n", (long)__STDC_VERSION__);
#else
    hil_sb_puts(&sb, "\n");
#endif
    if (uname(&u) == 0) hil_sb_printf(&sb, "os:         %s %s %s (%s)\n", u.sysname, u.release, u.machine, u.version);
    hil_sb_printf(&sb, "shared:     %zu bytes\n", J->shared ? hil_shared_capacity(J->shared) : (size_t)0);
    hil_sb_puts(&sb, "\nconfiguration (values that were set; the highest priority wins):\n");
    hil_config_foreach(J->cfg, hil__env_visit, &sb);
    hil__jfmt(path, sizeof path, "%s/env.txt", J->dir);
    if (!sb.failed) (void)hil_write_file_atomic(path, sb.data, sb.len);
    hil_sb_free(&sb);
}

static double hil__rate(const size_t* counts) {
    size_t total = 0, ok = counts[HIL_PASSED] + counts[HIL_PASSX] + counts[HIL_SKIPPED];
    int i;
    for (i = 1; i < HIL_OUTCOME_COUNT; i++) total += counts[i];
    return total ? 100.0 * (double)ok / (double)total : 100.0;
}

static void hil__json_strv(hil_strbuf* sb, char* const* v) {
    size_t i;
    hil_sb_putc(sb, '[');
    for (i = 0; v && v[i]; i++) {
        if (i) hil_sb_putc(sb, ',');
        hil_sb_json_str(sb, v[i]);
    }
    hil_sb_putc(sb, ']');
}

static void hil__json_counts(hil_strbuf* sb, const size_t* counts, size_t not_run) {
    size_t total = 0;
    int i;
    for (i = 1; i < HIL_OUTCOME_COUNT; i++) total += counts[i];
    hil_sb_printf(sb, "{\"total\":%zu", total);
    for (i = 1; i < HIL_OUTCOME_COUNT; i++) {
        char key[32];
        size_t j;
        hil__jfmt(key, sizeof key, "%s", hil_outcome_str((hil_outcome)i));
        for (j = 0; key[j]; j++) key[j] = (char)tolower((unsigned char)key[j]);
        hil_sb_printf(sb, ",\"%s\":%zu", key, counts[i]);
    }
    hil_sb_printf(sb, ",\"not_run\":%zu}", not_run);
}

static void hil__json_time_ns(hil_strbuf* sb, uint64_t wall_ns) {
    char ts[40];
    hil_format_time_iso(wall_ns, ts, sizeof ts);
    hil_sb_json_str(sb, ts);
}

static void hil__job_json_task(hil_strbuf* sb, const hil_task* t) {
    char st[160], why[200], log[300];
    hil_sb_puts(sb, "{\"taskid\":");
    hil_sb_json_str(sb, t->taskid);
    hil_sb_printf(sb, ",\"kind\":\"%s\"", t->kind == HIL__TASK_TESTS ? "tests" : "command");
    if (t->kind == HIL__TASK_TESTS) {
        hil_sb_puts(sb, ",\"filters\":");
        hil__json_strv(sb, t->filters);
        hil_sb_puts(sb, ",\"tags\":");
        hil__json_strv(sb, t->tags);
        hil_sb_puts(sb, ",\"exclude_tags\":");
        hil__json_strv(sb, t->exclude_tags);
        hil_sb_puts(sb, ",\"params\":");
        hil__json_strv(sb, t->params);
    } else {
        hil_sb_puts(sb, ",\"argv\":");
        hil__json_strv(sb, t->argv);
        hil_sb_puts(sb, ",\"cwd\":");
        hil_sb_json_str(sb, t->cwd);
        hil_sb_puts(sb, ",\"junit\":");
        hil_sb_json_str(sb, t->junit);
    }
    hil_sb_printf(sb, ",\"pid\":%d,\"result\":", t->pid);
    hil_sb_json_str(sb, hil_outcome_str(t->outcome));
    hil_sb_puts(sb, ",\"reason\":");
    hil_sb_json_str(sb, t->reason);
    hil_sb_puts(sb, ",\"started\":");
    hil__json_time_ns(sb, t->sum->start_wall_ns);
    hil_sb_printf(sb, ",\"duration_s\":%.6f,\"max_runtime_s\":%g,\"exit\":", (double)(t->end_ns - t->start_ns) / 1e9,
                  t->limit_s);
    if (t->reaped) {
        hil_proc_status_str(t->status, st, sizeof st);
        hil_sb_json_str(sb, st);
    } else {
        hil_sb_puts(sb, "null");
    }
    hil__stop_text(t, why, sizeof why);
    hil_sb_puts(sb, ",\"stopped\":");
    hil_sb_json_str(sb, why[0] ? why : NULL);
    hil__jfmt(log, sizeof log, "TaskLog.%s", t->taskid);
    hil_sb_puts(sb, ",\"log\":");
    hil_sb_json_str(sb, t->log_made ? log : NULL);
    hil_sb_puts(sb, ",\"summary\":");
    hil__json_counts(sb, t->sum->counts, t->sum->not_run);
    hil_sb_printf(sb, ",\"success_rate\":%.2f,\"suites\":", hil__rate(t->sum->counts));
    hil_json_suites(sb, t->sum);
    hil_sb_putc(sb, '}');
}

static hil_result hil__job_write_json(hil__job* J, const hil_job_summary* js, const size_t* counts, size_t not_run,
                                      uint64_t dur_ns) {
    hil_strbuf sb = {0, 0, 0, 0};
    char path[4200];
    size_t i;
    int k;
    hil_result r;
    hil_sb_puts(&sb, "{\"schema\":\"hil-job-1\",\"tool\":{\"name\":\"hil\",\"version\":\"" HIL_VERSION "\"},\"job\":");
    hil_sb_json_str(&sb, J->rt.job);
    hil_sb_puts(&sb, ",\"name\":");
    hil_sb_json_str(&sb, J->rt.name);
    hil_sb_puts(&sb, ",\"directory\":");
    hil_sb_json_str(&sb, J->dir);
    hil_sb_puts(&sb, ",\"result\":");
    hil_sb_json_str(&sb, hil_outcome_str(js->result));
    hil_sb_puts(&sb, ",\"started\":");
    hil__json_time_ns(&sb, J->start_wall);
    hil_sb_printf(&sb, ",\"duration_s\":%.6f,\"interrupted\":%s,\"success_rate\":%.2f,\"exit_code\":%d,\"args\":[",
                  (double)dur_ns / 1e9, js->interrupted ? "true" : "false", js->success_rate, js->exit_code);
    for (k = 0; k < J->n_args; k++) {
        if (k) hil_sb_putc(&sb, ',');
        hil_sb_json_str(&sb, J->args[k]);
    }
    hil_sb_puts(&sb, "],\"summary\":");
    hil__json_counts(&sb, counts, not_run);
    hil_sb_puts(&sb, ",\"errors\":[");
    for (i = 0; i < J->errors->n_results; i++) {
        if (i) hil_sb_putc(&sb, ',');
        hil_sb_json_str(&sb, J->errors->results[i].reason);
    }
    hil_sb_puts(&sb, "],\"tasks\":[");
    for (i = 0; i < J->n_tasks; i++) {
        if (i) hil_sb_putc(&sb, ',');
        hil__job_json_task(&sb, J->tasks[i]);
    }
    hil_sb_puts(&sb, "]}\n");
    if (sb.failed) { hil_sb_free(&sb); return hil_error(HIL_ERR_NO_MEMORY, "results.json: out of memory"); }
    hil__jfmt(path, sizeof path, "%s/results.json", J->dir);
    r = hil_write_file_atomic(path, sb.data, sb.len);
    hil_sb_free(&sb);
    return r;
}

/* The summary table (console and summary.txt). */
static void hil__job_table(hil__job* J, hil_strbuf* sb, int color, const hil_job_summary* js, const size_t* counts,
                           uint64_t dur_ns) {
    size_t i, w = 8;
    char dur[32];
    for (i = 0; i < J->n_tasks; i++)
        if (strlen(J->tasks[i]->taskid) > w) w = strlen(J->tasks[i]->taskid);
    if (w > 40) w = 40;
    hil_sb_printf(sb, "%-*s  %-8s %6s %6s %6s %7s %10s  %s\n", (int)w, "TASK", "RESULT", "TESTS", "PASSED", "FAILED",
                  "SKIPPED", "TIME", "REASON");
    for (i = 0; i < J->n_tasks; i++) {
        const hil_task* t = J->tasks[i];
        const hil_run_summary* s = t->sum;
        hil__fmt_secs(dur, sizeof dur, t->end_ns - t->start_ns);
        hil_sb_printf(sb, "%-*s  %s%-8s%s %6zu %6zu %6zu %7zu %10s  %s\n", (int)w, t->taskid,
                      color ? hil__job_color(J, t->outcome) : "", hil_outcome_str(t->outcome), color ? "\x1b[0m" : "",
                      s->n_results, hil_summary_passed(s), hil_summary_failed(s), s->counts[HIL_SKIPPED], dur,
                      t->reason ? t->reason : "");
    }
    for (i = 0; i < J->errors->n_results; i++)
        hil_sb_printf(sb, "%-*s  %s%-8s%s %6s %6s %6s %7s %10s  %s\n", (int)w, "(job)", color ? hil__job_color(J, HIL_ERRORED) : "",
                      "Errored", color ? "\x1b[0m" : "", "", "", "", "", "", J->errors->results[i].reason);
    hil__fmt_secs(dur, sizeof dur, dur_ns);
    hil_sb_printf(sb, "\njob %s: %s%s%s, success rate %.1f%% (%zu of %zu tests), %zu task%s in %s\n", J->rt.name,
                  color ? hil__job_color(J, js->result) : "", hil_outcome_str(js->result), color ? "\x1b[0m" : "",
                  js->success_rate, counts[HIL_PASSED] + counts[HIL_PASSX] + counts[HIL_SKIPPED], js->tests,
                  J->n_tasks, J->n_tasks == 1 ? "" : "s", dur);
    if (js->interrupted) hil_sb_puts(sb, "interrupted: the tasks were stopped\n");
    if (J->n_tasks == 0) hil_sb_puts(sb, "warning: the job ran no task\n");
    hil_sb_printf(sb, "run directory: %s\n", J->dir);
    hil_sb_printf(sb, "%zu passed, %zu failed, %zu skipped\n", js->passed, js->failed, js->skipped);
}

static void hil__job_latest(hil__job* J) {
    char link[4200], tmp[4300];
    hil__jfmt(link, sizeof link, "%s/latest", J->runs);
    hil__jfmt(tmp, sizeof tmp, "%s/.latest.%d", J->runs, J->pid);
    unlink(tmp);
    if (symlink(J->dirbase, tmp) != 0 || rename(tmp, link) != 0) {
        hil__job_log(J, "warning", "cannot point %s at %s: %s", link, J->dirbase, strerror(errno));
        unlink(tmp);
    }
}

/* --archive: tar(1) packs the run directory next to it. */
static hil_result hil__job_archive(hil__job* J, char* out, size_t size) {
    hil_proc_config pc;
    hil_proc p;
    hil_strbuf msg = {0, 0, 0, 0};
    char st[160];
    const char* argv[7];
    hil_result r;
    uint64_t deadline = hil_deadline_ms(600000);
    hil__jfmt(out, size, "%s/%s.tar.gz", J->runs, J->dirbase);
    argv[0] = "tar";
    argv[1] = "-czf";
    argv[2] = out;
    argv[3] = "-C";
    argv[4] = J->runs;
    argv[5] = J->dirbase;
    argv[6] = NULL;
    hil_proc_config_init(&pc);
    pc.argv = argv;
    pc.pipe_stdout = 1;
    pc.stderr_to_stdout = 1;
    pc.new_process_group = 1;
    pc.die_with_parent = 1;
    r = hil_proc_spawn(&p, &pc);
    if (r != HIL_OK)
        return hil_error(r, "--archive: %s (tar packs the run directory: apt-get install tar)", hil_last_error());
    for (;;) {
        char buf[1024];
        ssize_t n;
        if (hil_wait_readable(p.stdout_fd, hil_deadline_left_ms(deadline)) != HIL_OK) break;
        n = read(p.stdout_fd, buf, sizeof buf);
        if (n > 0) { if (msg.len < 4096) hil_sb_append(&msg, buf, (size_t)n); continue; }
        if (n < 0 && errno == EINTR) continue;
        break;
    }
    if (hil_proc_wait(&p, hil_deadline_left_ms(deadline)) != HIL_OK) hil_proc_terminate(&p, 1000);
    hil_proc_close(&p);
    if (!WIFEXITED(p.status) || WEXITSTATUS(p.status) != 0) {
        hil_proc_status_str(p.status, st, sizeof st);
        r = hil_error(HIL_ERR_IO, "--archive: tar %s: %s", st, hil_sb_cstr(&msg));
        hil_sb_free(&msg);
        return r;
    }
    hil_sb_free(&msg);
    return HIL_OK;
}

/* ---- 10. running a job ------------------------------------------------------------- */

HIL_API void hil_job_config_init(hil_job_config* c) {
    memset(c, 0, sizeof *c);
    c->runs_dir = "runs";
    c->grace_s = 5;
    c->shared_size = HIL_SHARED_DEFAULT_SIZE;
    c->console = HIL_JOB_CONSOLE_AUTO;
}

/* Log records of the job process go to JobLog; on a terminal the live
 * lines are cleared first so the record is not drawn over. */
static void hil__job_on_log(const hil_bus_msg* m, void* user) {
    hil__job* J = (hil__job*)user;
    const hil_log_record* rec = (const hil_log_record*)m->data;
    hil_strbuf sb = {0, 0, 0, 0};
    long long secs = (long long)(rec->wall_ns / 1000000000u) + J->tz_off;
    long long day = ((secs % 86400) + 86400) % 86400;
    if (J->console == HIL_JOB_CONSOLE_LIVE) {
        hil_mutex_lock(&J->draw_mu);
        if (J->drawn) {
            char clr[32];
            hil__jfmt(clr, sizeof clr, "\r\x1b[%dA\x1b[J", J->drawn);
            (void)!write(1, clr, strlen(clr));
            J->drawn = 0;
        }
        hil_mutex_unlock(&J->draw_mu);
    }
    hil_sb_printf(&sb, "%02d:%02d:%02d.%03u %-7s %s: %s\n", (int)(day / 3600), (int)(day / 60 % 60), (int)(day % 60),
                  (unsigned)((rec->wall_ns / 1000000u) % 1000u), hil_log_level_str(rec->level), rec->logger,
                  rec->message);
    if (!sb.failed && J->joblog >= 0) (void)!write(J->joblog, sb.data, sb.len);
    hil_sb_free(&sb);
}

/* Stop what the job function left running and wait for every task. */
static void hil__job_end(hil__job* J) {
    size_t i;
    hil_mutex_lock(&J->mu);
    for (i = 0; i < J->n_tasks; i++) {
        hil_task* t = J->tasks[i];
        if (t->state == HIL__T_CREATED)
            hil__task_refuse(J, t, HIL_ERRORED, "not_started", "created but never started (hil_task_start)",
                             HIL_ERR_STATE);
        else if (t->state == HIL__T_RUNNING)
            hil__task_stop(J, t, HIL__STOP_JOB_ENDED);
    }
    J->stopping = 1;
    hil_waker_wake(&J->wake);
    while (hil__job_busy(J)) hil_cond_wait(&J->cv, &J->mu);
    hil_mutex_unlock(&J->mu);
    if (J->thread.started) hil_thread_join(&J->thread);
    if (J->console != HIL_JOB_CONSOLE_SILENT) hil__job_draw(J); /* the last finished lines */
}

static void hil__job_free(hil__job* J) {
    size_t i;
    int k;
    if (J->log_disp) hil_dispatcher_destroy(J->log_disp);
    for (i = 0; i < J->n_tasks; i++) hil__task_free(J->tasks[i]);
    HIL_FREE(J->tasks);
    if (J->errors) hil_run_summary_free(J->errors);
    if (J->shared) hil_shared_destroy(J->shared);
    if (J->joblog >= 0) close(J->joblog);
    if (J->wake.rfd >= 0) hil_waker_destroy(&J->wake);
    hil__strv_free(J->names);
    for (k = 0; k < J->n_args; k++) HIL_FREE(J->args[k]);
    HIL_FREE(J->args);
    HIL_FREE(J->argv_view);
    HIL_FREE(J->dir);
    HIL_FREE(J->dirbase);
    HIL_FREE(J->runs);
    HIL_FREE(J->notes);
    HIL_FREE(J->note_kinds);
    hil_sb_free(&J->pending_out);
    hil_sb_free(&J->status);
    hil_cond_destroy(&J->cv);
    hil_mutex_destroy(&J->mu);
    hil_mutex_destroy(&J->draw_mu);
    HIL_FREE(J);
}

static int hil__term_ok(void) {
    const char* term = getenv("TERM");
    return isatty(1) && term && strcmp(term, "dumb") != 0;
}

static hil_result hil__job_exec_def(const hil_job_config* c, const hil__job_def* def, hil_job_summary* js);

HIL_API hil_result hil_job_exec(const hil_job_config* c, hil_job_summary* out) {
    hil_job_summary local;
    hil_job_summary* js = out ? out : &local;
    const hil__job_def* def;
    hil_result r;
    size_t i;
    memset(js, 0, sizeof *js);
    js->exit_code = 4;
    if (!c || !c->job || !*c->job) {
        js->exit_code = 2;
        return hil_error(HIL_ERR_INVALID_ARG, "no job given: name the job to run (see the 'jobs' command)");
    }
    if (hil__job_cur) return hil_error(HIL_ERR_STATE, "job '%s': a job is running already (jobs do not nest)", c->job);
    def = hil__job_find(c->job);
    if (!def) {
        hil_strbuf names = {0, 0, 0, 0};
        const char* best = NULL;
        size_t bd = 3;
        for (i = 0; i < hil__jobreg.n; i++) {
            size_t d = hil_edit_distance(c->job, hil__jobreg.defs[i].name, bd);
            hil_sb_printf(&names, "%s%s", i ? ", " : "", hil__jobreg.defs[i].name);
            if (d < bd) { bd = d; best = hil__jobreg.defs[i].name; }
        }
        js->exit_code = 2;
        r = hil_error(HIL_ERR_NOT_FOUND, "no job named '%s'%s%s%s (jobs: %s)", c->job, best ? "; did you mean '" : "",
                      best ? best : "", best ? "'?" : "", names.len ? hil_sb_cstr(&names) : "none");
        hil_sb_free(&names);
        return r;
    }
    return hil__job_exec_def(c, def, js);
}

/* Run def as a job (a registered one, or the scheduler's own job function). */
static hil_result hil__job_exec_def(const hil_job_config* c, const hil__job_def* def, hil_job_summary* js) {
    hil__job* J;
    hil_result r;
    size_t i, counts[HIL_OUTCOME_COUNT], not_run = 0, n_runs = 0;
    const hil_run_summary** runs;
    hil_strbuf table = {0, 0, 0, 0};
    char path[4200];
    uint64_t dur;
    int k;
    memset(js, 0, sizeof *js);
    js->exit_code = 4;
    if (hil__job_cur) return hil_error(HIL_ERR_STATE, "job '%s': a job is running already (jobs do not nest)", def->name);
    J = (hil__job*)hil__jcalloc(1, sizeof *J);
    if (!J) return hil_error(HIL_ERR_NO_MEMORY, "job '%s': out of memory", c->job);
    J->def = def;
    J->joblog = -1;
    J->wake.rfd = J->wake.wfd = -1;
    J->cfg = c->config ? c->config : hil_cfg();
    J->bus = c->bus ? c->bus : hil_program_bus();
    J->pid = (int)getpid();
    J->start_ns = hil_now_ns();
    J->start_wall = hil_wall_ns();
    {
        time_t now = (time_t)(J->start_wall / 1000000000u);
        struct tm tm;
        localtime_r(&now, &tm);
        J->tz_off = (long)tm.tm_gmtoff;
    }
    J->grace_s = c->grace_s > 0 ? c->grace_s : 5;
    J->max_runtime_s = c->max_runtime_s > 0 ? c->max_runtime_s : 0;
    J->console = c->console;
    if (J->console == HIL_JOB_CONSOLE_AUTO) J->console = hil__term_ok() ? HIL_JOB_CONSOLE_LIVE : HIL_JOB_CONSOLE_LINES;
    J->color = c->color;
    J->width = 100;
#ifdef TIOCGWINSZ
    {
        struct winsize ws;
        if (ioctl(1, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 20) J->width = ws.ws_col;
    }
#endif
    J->archive = c->archive;
    hil_mutex_init(&J->mu);
    hil_mutex_init(&J->draw_mu);
    hil_cond_init(&J->cv);
    J->rt.job = def->name;
    J->rt.name = def->name;
    if (c->name && *c->name) hil_job_set_name(&J->rt, c->name);
    J->rt.internal = J;
    r = hil__job_make_dir(J, c->runs_dir && *c->runs_dir ? c->runs_dir : "runs");
    if (r != HIL_OK) {
        js->exit_code = 3;
        hil__job_free(J);
        return r;
    }
    hil__jfmt(js->directory, sizeof js->directory, "%s", J->dir);
    hil__jfmt(path, sizeof path, "%s/JobLog", J->dir);
    J->joblog = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0666);
    if (J->joblog < 0 || hil_waker_init(&J->wake) != HIL_OK) {
        r = hil_error(HIL_ERR_IO, "job '%s': cannot create '%s': %s", def->name, path, strerror(errno));
        hil__job_free(J);
        return r;
    }
    if (c->shared_size) {
        r = hil_shared_create(c->shared_size, &J->shared);
        if (r != HIL_OK) {
            js->exit_code = 3;
            hil__job_free(J);
            return r;
        }
    }
    J->args = (char**)hil__jcalloc((size_t)(c->argc > 0 ? c->argc : 0) + 1, sizeof *J->args);
    J->argv_view = (char**)hil__jcalloc((size_t)(c->argc > 0 ? c->argc : 0) + 1, sizeof *J->argv_view);
    J->errors = hil__sum_new("job");
    if (!J->args || !J->argv_view || !J->errors) {
        hil__job_free(J);
        return hil_error(HIL_ERR_NO_MEMORY, "job '%s': out of memory", def->name);
    }
    for (k = 0; k < c->argc; k++) {
        J->args[k] = hil_strdup(c->argv[k] ? c->argv[k] : "");
        if (!J->args[k]) break;
        J->argv_view[k] = J->args[k];
        J->n_args = k + 1;
    }
    J->rt.directory = J->dir;
    J->rt.argc = J->n_args;
    J->rt.argv = J->argv_view;
    J->rt.config = J->cfg;
    J->rt.bus = J->bus;
    J->rt.shared = J->shared;
    hil__job_write_env(J);
    hil_interrupts_install();
    hil__job_cur = J;
    if (J->bus) {
        hil_dispatcher_config dc;
        hil_dispatcher_config_init(&dc);
        dc.fn = hil__job_on_log;
        dc.user = J;
        dc.priority = 1000; /* before the console prints the record */
        dc.name = "joblog";
        if (hil_dispatcher_create(J->bus, &dc, &J->log_disp) == HIL_OK &&
            hil_dispatcher_subscribe(J->log_disp, &HIL_MSG_LOG, &HIL_EP_RUN, NULL) != HIL_OK) {
            hil_dispatcher_destroy(J->log_disp);
            J->log_disp = NULL;
        }
    }
    if (hil_thread_create(&J->thread, hil__job_monitor, J, "hil-job") != HIL_OK) {
        r = hil_error(HIL_ERR_NO_MEMORY, "job '%s': %s", def->name, hil_last_error());
        hil__job_cur = NULL;
        hil__job_free(J);
        return r;
    }
    if (J->console != HIL_JOB_CONSOLE_SILENT && J->console != HIL_JOB_CONSOLE_QUIET) {
        printf("hil %s: job %s -> %s\n", HIL_VERSION, J->rt.name, J->dir);
        fflush(stdout);
    }
    hil__job_log(J, "info", "job %s started (pid %d) in %s", J->rt.job, J->pid, J->dir);
    hil_bus_trigger(J->bus, &HIL_MSG_JOB_STARTED, &HIL_EP_JOB, NULL, &J->rt, 0);

    def->fn(&J->rt);

    fflush(stdout);
    hil__job_end(J);

    /* roll-up: the job is the maximum of its tasks, the rate counts tests */
    dur = hil_now_ns() - J->start_ns;
    memset(counts, 0, sizeof counts);
    runs = (const hil_run_summary**)hil__jcalloc(J->n_tasks + 1, sizeof *runs);
    js->result = HIL_NOT_RUN;
    for (i = 0; i < J->n_tasks; i++) {
        const hil_run_summary* s = J->tasks[i]->sum;
        int o;
        for (o = 0; o < HIL_OUTCOME_COUNT; o++) counts[o] += s->counts[o];
        not_run += s->not_run;
        js->result = hil_outcome_rollup(js->result, J->tasks[i]->outcome);
        if (runs) runs[n_runs++] = s;
    }
    if (J->errors->n_results) {
        hil__sum_finish(J->errors);
        J->errors->name = J->rt.name;
        counts[HIL_ERRORED] += J->errors->n_results;
        js->result = hil_outcome_rollup(js->result, HIL_ERRORED);
        if (runs) runs[n_runs++] = J->errors;
    }
    js->interrupted = J->interrupted;
    if (js->interrupted) js->result = hil_outcome_rollup(js->result, HIL_ABORTED);
    for (k = 1; k < HIL_OUTCOME_COUNT; k++) js->tests += counts[k];
    js->passed = counts[HIL_PASSED] + counts[HIL_PASSX];
    js->skipped = counts[HIL_SKIPPED];
    js->failed = counts[HIL_FAILED] + counts[HIL_ERRORED] + counts[HIL_ABORTED] + counts[HIL_BLOCKED];
    js->success_rate = hil__rate(counts);
    js->n_tasks = J->n_tasks;
    js->exit_code = (js->success_rate < 100.0 || js->interrupted) ? 1 : 0;

    /* the reports */
    r = hil__job_write_json(J, js, counts, not_run, dur);
    if (r != HIL_OK) hil__job_log(J, "error", "results.json: %s", hil_last_error());
    hil__jfmt(path, sizeof path, "%s/junit.xml", J->dir);
    if (runs && hil_junit_write(path, runs, n_runs, J->rt.name) != HIL_OK)
        hil__job_log(J, "error", "junit.xml: %s", hil_last_error());
    HIL_FREE((void*)runs);
    hil__job_table(J, &table, 0, js, counts, dur);
    hil__jfmt(path, sizeof path, "%s/summary.txt", J->dir);
    if (!table.failed) (void)hil_write_file_atomic(path, table.data, table.len);
    if (J->console != HIL_JOB_CONSOLE_SILENT) {
        hil_sb_clear(&table);
        hil__job_table(J, &table, J->color, js, counts, dur);
        printf("\n%s", hil_sb_cstr(&table));
        fflush(stdout);
    }
    hil_sb_free(&table);
    hil__job_latest(J);
    hil__job_log(J, "info", "job %s finished: %s, success rate %.1f%%, exit code %d", J->rt.job,
                 hil_outcome_str(js->result), js->success_rate, js->exit_code);
    hil_bus_trigger(J->bus, &HIL_MSG_JOB_FINISHED, &HIL_EP_JOB, NULL, js, 0);
    if (J->archive) {
        char archive[4200];
        close(J->joblog); /* complete before it is packed */
        J->joblog = -1;
        if (hil__job_archive(J, archive, sizeof archive) != HIL_OK) {
            if (J->console != HIL_JOB_CONSOLE_SILENT) fprintf(stderr, "hil: error: %s\n", hil_last_error());
            js->exit_code = 4;
        } else if (J->console != HIL_JOB_CONSOLE_SILENT) {
            printf("archive: %s\n", archive);
            fflush(stdout);
        }
    }
    hil__job_cur = NULL;
    hil__job_free(J);
    return HIL_OK;
}

/* ---- 11. the `job` and `jobs` commands -------------------------------------------- */

static int hil__cmd_jobs(hil_cmd_ctx* ctx) {
    size_t i;
    (void)ctx;
    for (i = 0; i < hil__jobreg.n; i++)
        printf("%-28s %s:%d\n", hil__jobreg.defs[i].name, hil__jobreg.defs[i].file, hil__jobreg.defs[i].line);
    printf("%zu job%s\n", hil__jobreg.n, hil__jobreg.n == 1 ? "" : "s");
    return 0;
}

static int hil__color_on(hil_config* cfg) {
    const char* mode = hil_config_get(cfg, "console.color", "auto");
    if (strcmp(mode, "always") == 0) return 1;
    if (strcmp(mode, "never") == 0) return 0;
    if (getenv("NO_COLOR") && *getenv("NO_COLOR")) return 0;
    return hil__term_ok();
}

static int hil__cmd_job(hil_cmd_ctx* ctx) {
    hil_config* cfg = ctx->config;
    hil_job_config jc;
    hil_job_summary js;
    long long shared;
    if (hil_config_get_bool(cfg, "job.list", 0)) return hil__cmd_jobs(ctx);
    if (ctx->argc < 1) {
        fprintf(stderr, "hil: error: job: name the job to run: job NAME [ARGS...] (the 'jobs' command lists them)\n");
        return 2;
    }
    if (ctx->argv[0][0] == '-') {
        fprintf(stderr, "hil: error: job: the job's name comes first (job NAME [ARGS...]); '%s' is not an option "
                        "the job command knows\n", ctx->argv[0]);
        return 2;
    }
    hil_job_config_init(&jc);
    jc.job = ctx->argv[0];
    jc.argc = ctx->argc - 1;
    jc.argv = ctx->argv + 1;
    jc.name = hil_config_get(cfg, "job.name", NULL);
    jc.runs_dir = hil_config_get(cfg, "job.runs", "runs");
    jc.archive = hil_config_get_bool(cfg, "job.archive", 0);
    jc.grace_s = hil_config_get_float(cfg, "job.grace", 5);
    jc.max_runtime_s = hil_config_get_float(cfg, "job.max_runtime", 0);
    shared = hil_config_get_int(cfg, "job.shared_size", (long long)HIL_SHARED_DEFAULT_SIZE);
    jc.shared_size = shared > 0 ? (size_t)shared : 0;
    if (hil_config_get_bool(cfg, "console.quiet", 0)) jc.console = HIL_JOB_CONSOLE_QUIET;
    else if (hil_config_get_bool(cfg, "console.progress", 1) && hil__term_ok()) jc.console = HIL_JOB_CONSOLE_LIVE;
    else jc.console = HIL_JOB_CONSOLE_LINES;
    jc.color = hil__color_on(cfg);
    jc.config = cfg;
    jc.bus = ctx->bus;
    if (hil_job_exec(&jc, &js) != HIL_OK) fprintf(stderr, "hil: error: %s\n", hil_last_error());
    return js.exit_code;
}

static void hil__describe_jobs(hil_extension* ext) {
    static const hil_message_def* const msgs[] = {&HIL_MSG_JOB_STARTED, &HIL_MSG_TASK_STARTED, &HIL_MSG_TASK_FINISHED,
                                                  &HIL_MSG_JOB_FINISHED, NULL};
    hil_command* c;
    hil_option* o;
    ext->description = "Jobs and tasks: the 'job' and 'jobs' commands (hil_runner.h, docs/jobs.md)";
    ext->load_order = 60;
    hil_ext_endpoint(ext, &HIL_EP_JOB, msgs);
    c = hil_ext_command(ext, "job", "Run a job: its tasks, run directory and reports (docs/jobs.md)", hil__cmd_job);
    c->uses = "job";
    c->usage = "NAME [JOB ARGS...]";
    c->pass_unknown = 1; /* the job's own options reach it in rt->argv */
    hil_ext_command(ext, "jobs", "List the jobs", hil__cmd_jobs);
    o = hil_ext_option(ext, "job.runs", HIL_OPT_PATH, "runs", "Directory for the run directories");
    o->cli = "--runs";
    o->metavar = "DIR";
    o->commands = "job";
    o = hil_ext_option(ext, "job.archive", HIL_OPT_FLAG, "false", "Pack the run directory into <runs>/<dir>.tar.gz (tar)");
    o->cli = "--archive";
    o->commands = "job";
    o = hil_ext_option(ext, "job.name", HIL_OPT_STRING, NULL, "The job's name in reports and its run directory");
    o->cli = "--job-name";
    o->metavar = "NAME";
    o->commands = "job";
    o = hil_ext_option(ext, "job.list", HIL_OPT_FLAG, "false", "List the jobs instead of running one");
    o->cli = "--list";
    o->commands = "job";
    o = hil_ext_option(ext, "job.grace", HIL_OPT_FLOAT, "5", "Seconds from SIGTERM to SIGKILL when a task is stopped");
    o->cli = "--grace";
    o->metavar = "S";
    o->commands = "job";
    o = hil_ext_option(ext, "job.max_runtime", HIL_OPT_FLOAT, "0",
                       "max_runtime in seconds for tasks that set none (0: no limit)");
    o->cli = "--max-runtime";
    o->metavar = "S";
    o->commands = "job";
    hil_ext_option(ext, "job.shared_size", HIL_OPT_INT, "1048576",
                   "Bytes of shared state for the job and its tasks (0: none)");
}

HIL_API void hil_jobs_register(void) { hil_extension_declare("jobs", HIL_EXT_FRAMEWORK, hil__describe_jobs); }

#ifndef HIL_NO_CONSTRUCTORS
HIL__CONSTRUCTOR(hil__reg_jobs_extension) { hil_jobs_register(); }
#endif

/* ==========================================================================
 * PART 2: the lazy scheduler - implementation (to come)
 * ========================================================================== */

#ifdef __cplusplus
}
#endif

#endif /* HIL_IMPLEMENTATION */
