/* hil_runner.h - jobs and tasks, and the lazy scheduler that keeps a lab's
 * boards busy with them, for hil.
 *
 *   PART 1   jobs and tasks: HIL_JOB, hil_run, hil_task_*, the run
 *            directory and its reports (docs/jobs.md)
 *   PART 2   the lazy scheduler: the pure core (hil_sched_*), the lab from
 *            configuration, the `schedule` and `merge-results` commands
 *            (docs/scheduler.md)
 *   PART 3   lab operations: board locks shared by every process on the
 *            lab host, persistent board health, the `lab` command,
 *            reservation hooks (docs/lab.md)
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
 * PART 2: THE LAZY SCHEDULER
 * ==========================================================================
 *
 * A lab has boards (resources, each with a type, tags, the firmware
 * variants it can run and the connectors it carries), firmware builds, and
 * test-run specs (a selection of this program's tests, or a command; per
 * role the board it needs; variants; priority; timeout; retries). Specs
 * expand into work items, one per (spec, variant). A bartender keeps every
 * board busy: whenever a board is freed or a build finishes, it starts the
 * best work item that can start now (the key: priority, the most loaded
 * boards, longest expected duration, most constrained, no reflash, name),
 * each run a task of PART 1 (forked, max_runtime = its timeout, its own
 * log). Multi-role runs take all their boards at once or none. A failure of
 * the lab (a flash, a dead task process, a Blocked precheck) is retried on
 * another board (after a power cycle of the board on the same one, when it
 * has resources.<name>.power: docs/power.md); a board failing N times in a
 * row is quarantined. Durations
 * are learnt in a history file; planning runs the same bartender on a
 * virtual clock.
 *
 *     # lab.conf
 *     resources.pico1.type = PICO_W
 *     resources.pico1.variants = PICO_W, PICO_W_THREAD
 *     resources.pico1.connectors = pico1_uart      # the run's tests see connectors.dut
 *     connectors.pico1_uart.type = serial
 *     connectors.pico1_uart.port = /dev/ttyACM0
 *     builds.PICO_W.command = make -C fw BOARD=PICO_W
 *     builds.PICO_W.image = fw/build-PICO_W/firmware.uf2
 *     runs.standard.select = uart.*, flash.*
 *     runs.standard.variants = PICO_W
 *     runs.standard.roles.dut.type = PICO_W
 *     runs.standard.timeout = 600
 *
 *     ./suite schedule -c lab.conf [--jobs N] [--shard K/N]
 *     ./suite schedule -c lab.conf --simulate [--add-board PICO_W:1]
 *     ./suite merge-results --output merged runs-1/latest runs-2/latest
 *
 * In C, the pure core (no I/O, no clock, no processes; times are passed in):
 *
 *     hil_sched_config cfg;
 *     hil_sched* s;
 *     hil_sched_decision d;
 *     hil_sched_config_init(&cfg);
 *     hil_sched_create(&cfg, &s);
 *     ... hil_sched_add_resource, hil_sched_add_build, hil_sched_add_item ...
 *     for (;;) {                        // after every event (run or build ended)
 *         hil_sched_next(s, now_ns, &d);
 *         if (d.kind == HIL_SCHED_NEXT_NONE) break;
 *         if (d.kind == HIL_SCHED_NEXT_START) start(d.run, d.resources);
 *     }
 *     hil_sched_run_finished(s, run, HIL_SCHED_PASSED, 0, now_ns);
 *     hil_sched_simulate(s, NULL, 0, NULL);        // or plan it all on a virtual clock
 *     hil_sched_destroy(s);
 *
 * Reports: the `schedule` command's run directory is a job's (results.json,
 * junit.xml, summary.txt, TaskLog.<task>) plus schedule.txt (the text Gantt
 * chart per resource, utilisation and idle per resource, queue wait per
 * run, makespan / lower bound) and report.html (the chart as inline SVG,
 * id="gantt", and every run and test, id="results"; no script, no external
 * assets).
 *
 * THREADS: the core is not thread-safe (one caller at a time); the
 * `schedule` command drives it from the job's thread only.
 *
 * Docs: docs/scheduler.md.
 *
 * ==========================================================================
 * PART 3: LAB OPERATIONS
 * ==========================================================================
 *
 * Several schedules (CI pipelines, a developer, a soak) on one lab host
 * share its boards: each run holds its boards through kernel record locks
 * in a lab state directory (lab.state, --lab-state; default <job.runs>/lab)
 * that the kernel drops when a holder dies, so `kill -9` never leaves a
 * board locked. A schedule waits (on its condition variable, woken by
 * inotify on that directory) for a board another process holds, or with
 * --no-wait fails at once naming the holders. Each board's health (the
 * infrastructure-failure streak, quarantine and why, the last result, the
 * newest events) is kept there across sessions; lab.health_check brings a
 * quarantined board back. resources.<name>.acquire / .release run around
 * each use of a board for lab-wide reservation systems (labgrid).
 *
 *     # lab.conf
 *     lab.health_check = ./suite --set connectors.dut.port={board.port} run -f health.ping
 *     resources.pico1.acquire = labgrid-client -p {board} acquire
 *     resources.pico1.release = labgrid-client -p {board} release
 *
 *     ./suite schedule -c lab.conf [--no-wait] [--lab-state DIR]
 *     ./suite run --board BOARD        # a test program by hand, holding BOARD
 *     ./suite lab status [--json]
 *     ./suite lab release BOARD [--force]
 *     ./suite lab quarantine BOARD --reason TEXT | lab unquarantine BOARD
 *
 * In C: hil_lab_open, hil_lab_try_lock / hil_lab_unlock, hil_lab_status,
 * hil_lab_state_load / hil_lab_quarantine / hil_lab_note_result (the
 * example is at PART 3's declarations).
 *
 * Docs: docs/lab.md.
 *
 * Needs hil.h. The implementation is compiled where HIL_IMPLEMENTATION is
 * defined (after hil.h's), or HIL_IMPLEMENTATION_RUNNER in a file of its
 * own (hil.h, section 10): parts 1 and 2 share their internals, so the
 * scheduler is not split from the jobs (HIL_NO_SCHEDULER leaves it out).
 *
 * COMPILE-TIME OPTIONS (define them the same way in every file that
 * includes this header, e.g. with -D):
 *   HIL_NO_SCHEDULER    leave out PARTS 2 and 3: hil_sched_*, the lab,
 *                       hil_lab_*, the `schedule`, `lab` and `merge-results`
 *                       commands, report.html.
 *                       More than half of this header's implementation; jobs
 *                       and tasks (PART 1) stay. Without hil_runner.h at all,
 *                       jobs go too.
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

#ifndef HIL_NO_SCHEDULER /* all of PART 2; see the options at the top */
/* ==========================================================================
 * PART 2: the lazy scheduler - declarations
 * ========================================================================== */

/* ---- the core: a pure, event-driven scheduler (no I/O, clock or processes) ---- */
#define HIL_SCHED_NONE 0xFFFFFFFFu /* "no id" for items, resources, runs, builds */
#define HIL_SCHED_MAX_ROLES 8u     /* boards one run may lock at once */
#define HIL_SCHED_INFRA_ALL 0xFFu  /* infra_mask: blame every resource of the run */

typedef struct hil_sched hil_sched;
typedef struct hil_sched_history hil_sched_history;

typedef enum hil_sched_policy {
    HIL_SCHED_POLICY_KEY = 0,       /* the documented key (default) */
    HIL_SCHED_POLICY_BARTENDER = 1, /* testbed_micropython's rule, for comparison */
    HIL_SCHED_POLICY_FIFO = 2       /* priority then insertion order (static plans) */
} hil_sched_policy;

typedef enum hil_sched_outcome {
    HIL_SCHED_PENDING = 0,
    HIL_SCHED_PASSED,
    HIL_SCHED_FAILED,
    HIL_SCHED_TIMEOUT,
    HIL_SCHED_ERROR,   /* infrastructure failure, no retry left */
    HIL_SCHED_BLOCKED, /* could never start: reason in the item info */
    HIL_SCHED_SKIPPED  /* belongs to another shard */
} hil_sched_outcome;

typedef enum hil_sched_item_state {
    HIL_SCHED_ITEM_WAITING = 0,
    HIL_SCHED_ITEM_RUNNING,
    HIL_SCHED_ITEM_DONE,
    HIL_SCHED_ITEM_BLOCKED,
    HIL_SCHED_ITEM_SKIPPED
} hil_sched_item_state;

typedef enum hil_sched_next_kind {
    HIL_SCHED_NEXT_NONE = 0, /* nothing can start now */
    HIL_SCHED_NEXT_START,    /* start decision.run on decision.resources */
    HIL_SCHED_NEXT_BLOCKED   /* decision.item can never run (decision.reason) */
} hil_sched_next_kind;

typedef struct hil_sched_config {
    hil_sched_policy policy;
    uint32_t jobs;                  /* max concurrent runs; 0 = no cap */
    uint32_t build_lanes;           /* parallel builds; default 1 */
    uint32_t quarantine_after;      /* consecutive infra failures; 0 = never */
    int bottleneck_aware;           /* KEY policy: bottleneck load before duration */
    uint32_t timeout_guess_percent; /* no history: expected = timeout * p / 100 */
    int64_t default_expected_ns;    /* neither history nor timeout */
} hil_sched_config;

/* Comma separated lists: "wlan,ap".  Strings are copied. */
typedef struct hil_sched_resource_spec {
    const char* name;     /* unique */
    const char* type;     /* e.g. "RPI_PICO_W" */
    const char* tags;     /* comma list, may be NULL */
    const char* variants; /* firmware variants it can run, comma list */
    const char* flashed;  /* variant on the board now, NULL = unknown */
} hil_sched_resource_spec;

typedef struct hil_sched_role {
    const char* name;     /* "dut", "ap", "ref": used in reasons and reports */
    const char* type;     /* NULL = any type */
    const char* tags;     /* all required, comma list, NULL = none */
    const char* resource; /* pin to this resource name, NULL = any */
    int fixed_firmware;   /* 1: board keeps its own firmware (reference boards) */
} hil_sched_role;

typedef struct hil_sched_item_spec {
    const char* name;    /* unique; also the duration history key */
    const char* variant; /* firmware for non-fixed roles; NULL = none */
    const hil_sched_role* roles;
    uint32_t n_roles;    /* 1..HIL_SCHED_MAX_ROLES, locked all at once */
    int priority;        /* higher first */
    int64_t timeout_ns;  /* 0 = none */
    uint32_t retries;    /* extra attempts after infrastructure failures */
    int64_t expected_ns; /* 0 = from history, else a guess from the timeout */
    int64_t submit_ns;   /* queue-wait origin; 0 = scheduler start */
} hil_sched_item_spec;

typedef struct hil_sched_role_set {
    const char* label; /* distinguishes role sets in item names */
    const hil_sched_role* roles;
    uint32_t n_roles;
} hil_sched_role_set;

/* A test-run spec expands into one work item per (variant, role set), named
 * "name[variant]" or "name[variant/label]" (see NOTES.md). */
typedef struct hil_sched_spec {
    const char* name;
    const char* variants; /* comma list; NULL = one item without firmware */
    const hil_sched_role_set* role_sets;
    uint32_t n_role_sets;
    int priority;
    int64_t timeout_ns;
    uint32_t retries;
    int64_t expected_ns; /* 0 = from history, else a guess from the timeout */
} hil_sched_spec;

typedef struct hil_sched_build_spec {
    const char* variant; /* one build per variant */
    int priority;        /* build lane order: higher first, then insertion */
    int64_t expected_ns;
} hil_sched_build_spec;

/* Pointers inside are valid until the next call that changes the scheduler. */
typedef struct hil_sched_decision {
    hil_sched_next_kind kind;
    uint32_t run;
    uint32_t item;
    uint32_t n_roles;
    uint32_t resources[HIL_SCHED_MAX_ROLES]; /* per role */
    unsigned reflash_mask;                   /* bit r: flash role r's board */
    int64_t deadline_ns;                     /* start + timeout; 0 = none */
    const char* name;
    const char* variant;
    const char* reason; /* NEXT_BLOCKED */
} hil_sched_decision;

typedef struct hil_sched_item_info {
    const char* name;
    const char* variant;
    const char* reason;
    hil_sched_item_state state;
    hil_sched_outcome outcome;
    int priority;
    int64_t expected_ns;
    int64_t timeout_ns;
    uint32_t attempts;
    uint32_t retries;
    uint32_t n_roles;
    uint32_t last_run;
} hil_sched_item_info;

typedef struct hil_sched_resource_info {
    const char* name;
    const char* type;
    const char* flashed;
    int quarantined;
    uint32_t run; /* HIL_SCHED_NONE when free */
    uint32_t infra_streak;
    int held; /* held by another process (hil_sched_set_held) */
} hil_sched_resource_info;

typedef struct hil_sched_run_info {
    uint32_t item;
    uint32_t attempt;
    uint32_t n_resources;
    const uint32_t* resources;
    int64_t ready_ns; /* when it could first have started (queue wait origin) */
    int64_t start_ns;
    int64_t end_ns; /* valid when !open */
    int64_t deadline_ns;
    int open;
    int requeued; /* ended in an infrastructure failure and was retried */
    hil_sched_outcome outcome;
    unsigned infra_mask;
    unsigned reflash_mask;
} hil_sched_run_info;

typedef struct hil_sched_build_info {
    const char* variant;
    const char* reason; /* failed builds */
    int priority;
    int state; /* 0 pending, 1 running, 2 done, 3 failed */
    int64_t expected_ns, start_ns, end_ns;
} hil_sched_build_info;

typedef struct hil_sched_sim_result {
    int64_t duration_ns;
    hil_sched_outcome outcome; /* PASSED, FAILED or ERROR */
    unsigned infra_mask;
} hil_sched_sim_result;

typedef struct hil_sched_sim_ops {
    /* NULL run: expected duration, PASSED.  NULL build: expected, ok. */
    void (*run)(void* user, const hil_sched* s, const hil_sched_decision* d, hil_sched_sim_result* out);
    void (*build)(void* user, const hil_sched* s, uint32_t build, int64_t* duration_ns, int* ok);
    void* user;
} hil_sched_sim_ops;

/* Duration of item or build 'id' for the lower bound; NULL = expected. */
typedef int64_t (*hil_sched_ns_fn)(void* user, const hil_sched* s, uint32_t id);

typedef struct hil_sched_bound {
    int64_t group_ns;         /* max over eligible sets E, |E| > 1: W(E) / |E| */
    int64_t resource_ns;      /* max over single resources r: W({r}) */
    int64_t release_ns;       /* max_j release_j + p_j */
    int64_t longest_ns;       /* max_j p_j */
    int64_t value_ns;         /* max of the four above: the bound used */
    int64_t release_group_ns; /* diagnostic: max_E,t t + W_{release>=t}(E)/|E| */
} hil_sched_bound;

typedef struct hil_sched_stats {
    int64_t t0_ns;       /* first time the scheduler was driven */
    int64_t end_ns;      /* last run end */
    int64_t makespan_ns; /* end - t0 */
    int64_t total_wait_ns;
    int64_t max_wait_ns;
    uint32_t n_runs, n_items, n_done, n_passed, n_blocked, n_skipped, n_requeued;
} hil_sched_stats;

typedef struct hil_sched_resource_stats {
    int64_t busy_ns;
    int64_t idle_ns;
    double utilisation; /* busy / makespan */
    uint32_t runs;
} hil_sched_resource_stats;

/* lifecycle */
HIL_API void hil_sched_config_init(hil_sched_config* cfg);
HIL_API hil_result hil_sched_create(const hil_sched_config* cfg, hil_sched** out);
HIL_API void hil_sched_destroy(hil_sched* s);
HIL_API hil_result hil_sched_clone(const hil_sched* s, hil_sched** out);

/* model */
HIL_API hil_result hil_sched_add_resource(hil_sched* s, const hil_sched_resource_spec* spec, uint32_t* out_id);
HIL_API hil_result hil_sched_add_build(hil_sched* s, const hil_sched_build_spec* spec, uint32_t* out_id);
HIL_API hil_result hil_sched_add_item(hil_sched* s, const hil_sched_item_spec* spec, uint32_t* out_id);
HIL_API hil_result hil_sched_add_spec(hil_sched* s, const hil_sched_spec* spec, uint32_t* first_item,
                                      uint32_t* n_items);
HIL_API hil_result hil_sched_set_quarantine(hil_sched* s, uint32_t resource, int on);
/* Mark a board as held by another process (lab board locks, PART 3): it is
 * busy (not free) but still eligible, so its work waits, never Blocked. */
HIL_API hil_result hil_sched_set_held(hil_sched* s, uint32_t resource, int on);
HIL_API hil_result hil_sched_use_history(hil_sched* s, hil_sched_history* h);

/* events */
HIL_API hil_result hil_sched_next(hil_sched* s, int64_t now_ns, hil_sched_decision* d);
HIL_API hil_result hil_sched_run_finished(hil_sched* s, uint32_t run, hil_sched_outcome outcome, unsigned infra_mask,
                                          int64_t now_ns);
HIL_API hil_result hil_sched_next_build(hil_sched* s, int64_t now_ns, uint32_t* build);
HIL_API hil_result hil_sched_build_finished(hil_sched* s, const char* variant, int ok, const char* reason,
                                            int64_t now_ns);
HIL_API hil_result hil_sched_next_deadline(const hil_sched* s, int64_t* deadline_ns, uint32_t* run);

/* queries */
HIL_API uint32_t hil_sched_item_count(const hil_sched* s);
HIL_API uint32_t hil_sched_resource_count(const hil_sched* s);
HIL_API uint32_t hil_sched_run_count(const hil_sched* s);
HIL_API uint32_t hil_sched_build_count(const hil_sched* s);
HIL_API uint32_t hil_sched_unfinished(const hil_sched* s); /* waiting + running items */
HIL_API hil_result hil_sched_find_item(const hil_sched* s, const char* name, uint32_t* id);
HIL_API hil_result hil_sched_find_resource(const hil_sched* s, const char* name, uint32_t* id);
HIL_API hil_result hil_sched_item_info_get(const hil_sched* s, uint32_t item, hil_sched_item_info* out);
HIL_API hil_result hil_sched_resource_info_get(const hil_sched* s, uint32_t res, hil_sched_resource_info* out);
HIL_API hil_result hil_sched_run_info_get(const hil_sched* s, uint32_t run, hil_sched_run_info* out);
HIL_API const char* hil_sched_build_variant(const hil_sched* s, uint32_t build);
HIL_API hil_result hil_sched_build_info_get(const hil_sched* s, uint32_t build, hil_sched_build_info* out);
HIL_API const char* hil_sched_outcome_name(hil_sched_outcome o);
HIL_API hil_result hil_sched_eta(const hil_sched* s, int64_t now_ns, int64_t* finish_ns);

/* planning and analysis */
HIL_API hil_result hil_sched_simulate(hil_sched* s, const hil_sched_sim_ops* ops, int64_t start_ns, int64_t* end_ns);
HIL_API hil_result hil_sched_lower_bound(hil_sched* s, hil_sched_ns_fn item_ns, hil_sched_ns_fn build_ns, void* user,
                                         hil_sched_bound* out);
HIL_API hil_result hil_sched_stats_get(const hil_sched* s, hil_sched_stats* out);
HIL_API hil_result hil_sched_resource_stats_get(const hil_sched* s, uint32_t res, hil_sched_resource_stats* out);
HIL_API hil_result hil_sched_check(const hil_sched* s, hil_strbuf* msg);
HIL_API hil_result hil_sched_report_text(const hil_sched* s, const hil_sched_bound* lb, unsigned width,
                                         hil_strbuf* out);
/* A standalone page (inline SVG with id="gantt", tables with ids, no script,
 * no external assets); head_html (may be NULL) goes under the title, before
 * the figures (the schedule command puts its verdict there), extra_html (may
 * be NULL) after the chart. */
HIL_API hil_result hil_sched_report_html(const hil_sched* s, const hil_sched_bound* lb, const char* title,
                                         const char* head_html, const char* extra_html, hil_strbuf* out);

/* sharding (K is 1-based, as in --shard K/N) */
HIL_API hil_result hil_sched_parse_shard(const char* arg, uint32_t* k, uint32_t* n);
HIL_API hil_result hil_sched_shard_plan(const hil_sched* s, uint32_t n, uint32_t* shard_of_item);
HIL_API hil_result hil_sched_shard(hil_sched* s, uint32_t k, uint32_t n);

/* duration history (exponential moving average per work item name) */
HIL_API hil_result hil_sched_history_create(uint32_t alpha_permille, hil_sched_history** out);
HIL_API void hil_sched_history_destroy(hil_sched_history* h);
HIL_API hil_result hil_sched_history_update(hil_sched_history* h, const char* name, int64_t duration_ns);
HIL_API hil_result hil_sched_history_lookup(const hil_sched_history* h, const char* name, int64_t* ema_ns,
                                            uint32_t* count);
HIL_API uint32_t hil_sched_history_count(const hil_sched_history* h);
HIL_API hil_result hil_sched_history_write(const hil_sched_history* h, hil_strbuf* out);
/* Lines that are not whole (a file torn by a crash) are skipped and every
 * whole line is loaded: HIL_ERR_INVALID_ARG then, *bad_line the first
 * skipped line. Without the header line nothing is loaded. */
HIL_API hil_result hil_sched_history_parse(hil_sched_history* h, const char* buf, size_t len, size_t* bad_line);
/* ---- the lab from configuration, and the schedule command ---------------------------- */

/* The lab in a configuration (resources.*, builds.*, runs.*, schedule.*; see
 * docs/scheduler.md) as a scheduler; history (may be NULL) gives the expected
 * durations and learns from real runs. Free it with hil_sched_destroy. */
HIL_API hil_result hil_sched_from_config(hil_config* cfg, hil_sched_history* history, hil_sched** out);

typedef struct hil_schedule_config {
    hil_config* config;            /* the lab and schedule.*; NULL: hil_cfg() */
    hil_bus* bus;                  /* NULL: hil_program_bus() */
    int simulate;                  /* plan on a virtual clock: no builds, boards or processes */
    const char* const* add_boards; /* simulate: "TYPE[:N]" boards more (NULL-terminated) */
    uint32_t shard_k, shard_n;     /* run share K of N (N = 0: everything) */
    int list;                      /* print the work items and their expected durations instead */
    const char* history;           /* history file; NULL: <runs_dir>/sched-history.txt, "": none */
    const char* runs_dir;          /* where the run directory is made (default "runs") */
    const char* name;              /* the run directory's name (default "schedule") */
    const char* report;            /* also write the HTML report here (a simulation: only here) */
    int archive;                   /* pack the run directory (tar) */
    double grace_s;                /* SIGTERM to SIGKILL when a run is stopped (default 5) */
    int console;                   /* HIL_JOB_CONSOLE_* */
    int color;
    double max_runtime_s;          /* runs, builds and flashes without a timeout stop after this (0: never) */
    const char* lab_state;         /* board locks and health (PART 3); NULL: <runs_dir>/lab, "": none */
    int no_wait;                   /* a board held by another run fails the schedule at once */
} hil_schedule_config;

typedef struct hil_schedule_summary {
    hil_job_summary job; /* a real schedule: the job's summary (results, run directory) */
    int64_t makespan_ns, lower_bound_ns;
    double ratio; /* makespan / lower bound */
    uint32_t items, runs, blocked, retried;
    int exit_code; /* what the schedule command returns */
    int64_t lab_wait_ns; /* time work waited for boards other processes held */
} hil_schedule_summary;

HIL_API void hil_schedule_config_init(hil_schedule_config* c);
/* Run the lab (a job: run directory, results.json, junit.xml, summary.txt,
 * schedule.txt, report.html), or simulate it. out may be NULL. */
HIL_API hil_result hil_schedule_exec(const hil_schedule_config* c, hil_schedule_summary* out);
/* Merge the results.json and junit.xml of shards (run directories or
 * results.json paths) into out_dir (results.json, junit.xml, summary.txt). */
HIL_API hil_result hil_merge_results(const char* const* inputs, size_t n, const char* out_dir, hil_job_summary* out);
/* The scheduler extension (schedule, merge-results). Registered by a
 * constructor; call it before hil_main() with HIL_NO_CONSTRUCTORS. */
HIL_API void hil_scheduler_register(void);

/* ==========================================================================
 * PART 3: lab operations - declarations (docs/lab.md)
 * ==========================================================================
 * Boards shared between processes: every schedule (and anything else that
 * uses hil_lab_try_lock) holds its boards through kernel record locks on
 * <lab dir>/<board>.lock, which the kernel drops when the holder dies, so
 * a `kill -9` never leaves a board locked. The lock file's text names the
 * holder (pid, user, host, run, since) for `lab status`. Beside each lock,
 * <board>.state keeps the board's health across sessions: quarantine (and
 * why), the infrastructure-failure streak, the last result, the newest
 * events; written as a temporary file renamed over the old one.
 *
 *     hil_lab* lab;
 *     hil_lab_holder who;
 *     hil_lab_open("runs/lab", &lab);
 *     if (hil_lab_try_lock(lab, "pico1", "nightly", 0, &who) == HIL_ERR_BUSY)
 *         printf("pico1 is held by pid %ld (%s, %s)\n", who.pid, who.user, who.run);
 *     ... use the board ...
 *     hil_lab_unlock(lab, "pico1");
 *     hil_lab_close(lab);
 *
 * The locks are POSIX record locks (fcntl F_SETLK): a forked child does not
 * inherit them, and they are owned by the process, so one process opens a
 * lab directory once (hil_lab_open returns the same object again, counted)
 * and never opens a lock file elsewhere (closing any descriptor of it would
 * drop the lock). THREADS: a hil_lab may be used from any thread.
 */
#define HIL_LAB_EVENTS 16 /* health history kept per board */
#define HIL_LAB_TEXT 200  /* longest reason, run name or event text kept */

typedef struct hil_lab hil_lab;

typedef struct hil_lab_holder {
    int held;         /* someone holds the board now */
    int mine;         /* ... this process */
    long pid;         /* the holder's process (from the kernel's lock) */
    char user[64];
    char host[128];
    char run[HIL_LAB_TEXT];
    int64_t since_ns; /* wall clock, ns since 1970 */
    int64_t until_ns; /* when the holder expects to be done (wall; 0: unknown) */
} hil_lab_holder;

typedef struct hil_lab_event {
    int64_t wall_ns;
    char kind[16]; /* passed failed infra quarantined unquarantined health-passed health-failed released */
    char text[HIL_LAB_TEXT];
} hil_lab_event;

typedef struct hil_lab_board_state {
    int quarantined;
    int64_t quarantined_ns;
    char reason[HIL_LAB_TEXT];
    uint32_t streak; /* infrastructure failures in a row */
    char last_result[16];
    char last_run[HIL_LAB_TEXT];
    int64_t last_ns;
    hil_lab_event events[HIL_LAB_EVENTS]; /* oldest first */
    size_t n_events;
} hil_lab_board_state;

/* Open (creating it) a lab state directory. Free it with hil_lab_close. */
HIL_API hil_result hil_lab_open(const char* dir, hil_lab** out);
HIL_API void hil_lab_close(hil_lab* lab);
HIL_API const char* hil_lab_dir(const hil_lab* lab);
/* Take a free board now, never waiting: HIL_OK, or HIL_ERR_BUSY with
 * *holder (may be NULL) saying who holds it. expected_ns (0: unknown) is
 * written for the others' ETA. Board names: letters, digits, . _ + -. */
HIL_API hil_result hil_lab_try_lock(hil_lab* lab, const char* board, const char* run, int64_t expected_ns,
                                    hil_lab_holder* holder);
HIL_API hil_result hil_lab_unlock(hil_lab* lab, const char* board);
HIL_API hil_result hil_lab_holder_get(hil_lab* lab, const char* board, hil_lab_holder* out);
/* Hold the lab-wide lock across several calls, so that looking at every
 * board and then locking some is one step for the other processes (the
 * scheduler's dispatch). Held for microseconds; recursive. */
HIL_API hil_result hil_lab_section_begin(hil_lab* lab);
HIL_API void hil_lab_section_end(hil_lab* lab);
/* A descriptor that becomes readable when a board may have been released
 * (inotify on the directory); hil_lab_wait_drain empties it. -1: none. */
HIL_API int hil_lab_wait_fd(hil_lab* lab);
HIL_API void hil_lab_wait_drain(hil_lab* lab);
/* An operator's release: a board whose holder died is cleared; a live
 * holder is refused (HIL_ERR_BUSY) unless force, which sends it SIGTERM
 * and waits up to timeout_s for the kernel to drop its lock. */
HIL_API hil_result hil_lab_release(hil_lab* lab, const char* board, int force, double timeout_s);
/* Persistent health. A torn file gives its whole lines: HIL_ERR_INVALID_ARG
 * then, *bad_line (may be NULL) the first line skipped; without the
 * "# hil-lab-state 1" line nothing is loaded. */
HIL_API void hil_lab_board_state_init(hil_lab_board_state* st);
HIL_API hil_result hil_lab_state_parse(const char* buf, size_t len, hil_lab_board_state* out, size_t* bad_line);
HIL_API hil_result hil_lab_state_format(const hil_lab_board_state* st, hil_strbuf* out);
HIL_API hil_result hil_lab_state_load(hil_lab* lab, const char* board, hil_lab_board_state* out);
HIL_API hil_result hil_lab_quarantine(hil_lab* lab, const char* board, int on, const char* kind, const char* reason);
/* A run ended on the board: result ("passed", "failed", ...), infra_why
 * (NULL: not the lab's failure) for the streak; with quarantine_after > 0 a
 * streak that long quarantines the board (*quarantined_now, may be NULL). */
HIL_API hil_result hil_lab_note_result(hil_lab* lab, const char* board, const char* run, const char* result,
                                       const char* infra_why, uint32_t quarantine_after, int* quarantined_now);
/* `lab status` as text or JSON (docs/lab.md has the schema) for the boards
 * named (NULL: every board with a file in the directory). */
HIL_API hil_result hil_lab_status(hil_lab* lab, const char* const* boards, size_t n, int json, hil_strbuf* out);
/* The lab extension (the `lab` command, lab.* options). */
HIL_API void hil_lab_register(void);
#endif /* HIL_NO_SCHEDULER */
#ifdef __cplusplus
}
#endif

#endif /* HIL_RUNNER_H_INCLUDED */

/* ==========================================================================
 * Implementation
 * ========================================================================== */
#if (defined(HIL_IMPLEMENTATION) || defined(HIL_IMPLEMENTATION_RUNNER)) && !defined(HIL_RUNNER__IMPLEMENTED)
#define HIL_RUNNER__IMPLEMENTED
#ifndef HIL__PRELUDE_DONE
#error "hil_runner.h: define HIL_IMPLEMENTATION_RUNNER before the first hil header of the file"
#endif

#include <errno.h>
#include <inttypes.h>
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
#include <pwd.h>
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
    s = (hil_shared*)hil__calloc(1, sizeof *s);
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
    hil_run_summary* s = (hil_run_summary*)hil__calloc(1, sizeof *s);
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
            hil__sfmt(st->suites[st->depth], sizeof st->suites[0], "%s", hil_sb_cstr(&st->attr));
        }
        if (!selfclose) st->depth++;
    } else if (hil__tag_is(tag, tlen, "testcase")) {
        const char* suite = "junit";
        hil_test_info* info;
        hil__junit_close_case(st);
        hil__xml_attr_get(attrs, alen, "classname", &st->cls);
        if (!hil__xml_attr_get(attrs, alen, "name", &st->nm)) hil_sb_puts(&st->nm, "(unnamed)");
        if (hil_sb_cstr(&st->cls)[0]) suite = hil_sb_cstr(&st->cls); /* not len: "&#0;" or a NUL byte decode to "" */
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
 * The task process runs hil_run_tests (with its own worker, or, for a task
 * of one test, the test itself: hil__task_solo) on a private bus; a
 * callback turns the run's events into frames on a pipe to the job:
 * u32 length of the rest, u8 type, payload. The job keeps every result as
 * it arrives, so a task killed half way keeps what it had reported. */

enum {
    HIL__TEV_RUN_STARTED = 1,
    HIL__TEV_TEST_STARTED,
    HIL__TEV_TEST_FINISHED,
    HIL__TEV_RUN_FINISHED,
    HIL__TEV_ERROR,
    HIL__TEV_DONE,
    HIL__TEV_WORKER,         /* from the worker: its pid (it leads its own group) */
    HIL__TEV_SOLO,           /* a one-test task runs it itself: the test's timeout (ns), run.max_output */
    HIL__TEV_CHECK           /* its test failed a check or warned, as it happened: u8 warning, file, line, message */
};

#define HIL__MAX_LISTED_FAILURES 64 /* hil.h lists at most this many failed checks */

#define HIL__TEV_MAX (1u << 26)

/* One record per buffer (hil.h's binary records), written to the job. */
static void hil__tw_begin(hil_strbuf* b, int type) {
    hil_sb_clear(b);
    (void)hil__rec_begin(b, type);
}

static void hil__tw_send(int fd, hil_strbuf* b) {
    hil__rec_end(b, 0);
    if (b->failed || fd < 0) return;
    (void)hil_write_all(fd, b->data, b->len); /* the job may be gone: nothing to do then */
}

static void hil__tw_info(hil_strbuf* b, const hil_test_info* t) {
    hil__put_str(b, t->suite);
    hil__put_str(b, t->name);
    hil__put_str(b, t->tags);
    hil__put_str(b, t->file);
    hil__put_u32(b, (uint32_t)t->line);
    hil__put_u32(b, (uint32_t)t->case_id);
    hil__put_u32(b, (uint32_t)t->suite_id);
    hil__put_u32(b, (uint32_t)(int32_t)t->index);
}

static hil_test_info* hil__get_info(hil__rd* r, hil_run_summary* s) {
    char* suite = hil__get_dup(r, NULL);
    char* name = hil__get_dup(r, NULL);
    char* tags = hil__get_dup(r, NULL);
    char* file = hil__get_dup(r, NULL);
    int line = (int)hil__get_u32(r);
    int case_id = (int)hil__get_u32(r);
    int suite_id = (int)hil__get_u32(r);
    int index = (int)(int32_t)hil__get_u32(r);
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
    /* the test that reported open_info as a case of its own (hil_report_case) */
    hil_test_info* outer_info;
    uint64_t outer_wall;
    int got_done, stream_bad;
    int worker_pgid;             /* the task's current worker (its own group) */
    int log_made;                /* TaskLog.<taskid> exists */
    /* a one-test task that runs its test in the task process (hil__task_solo):
     * the job is the test's supervisor */
    int solo;
    int capfd;                   /* the test's stdout and stderr (a memfd), -1: not captured */
    double solo_timeout_s;       /* the test's timeout, from the task (HIL__TEV_SOLO) */
    size_t solo_max_output;      /* run.max_output in the task */
    uint64_t solo_deadline;      /* when the running test times out */
    int solo_timed_out;
    /* the failed checks and warnings of the running solo test as they were
     * made (HIL__TEV_CHECK): what its result keeps if the process dies in it */
    hil_test_result solo_checks;
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
    hil__sfmt(out, size, "%02d:%02d:%02d.%03u", (int)(day / 3600), (int)(day / 60 % 60), (int)(day % 60),
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
    if (s < 1e-3) hil__sfmt(out, size, "%.0f us", s * 1e6);
    else if (s < 1) hil__sfmt(out, size, "%.1f ms", s * 1e3);
    else if (s < 120) hil__sfmt(out, size, "%.2f s", s);
    else hil__sfmt(out, size, "%dm%02ds", (int)(s / 60), (int)s % 60);
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
            hil__sfmt(line, sizeof line, "  running  %-12s %9s  %s", t->taskid, el,
                      t->open_info ? t->open_info->full_name : (t->kind == HIL__TASK_COMMAND ? t->argv[0] : ""));
            if ((int)strlen(line) > J->width - 1) line[J->width > 1 ? J->width - 1 : 0] = 0;
            hil_sb_printf(&sb, "%s\n", line);
            lines++;
        }
        if (J->status.len) {
            char line[512], left[32] = "";
            if (J->status_eta) hil__fmt_secs(left, sizeof left, J->status_eta > now ? J->status_eta - now : 0);
            hil__sfmt(line, sizeof line, "  %s%s%s", hil_sb_cstr(&J->status), J->status_eta ? ", ETA " : "", left);
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
    hil_strbuf last;         /* run_finished, written with done: one wake-up of the job */
    /* a solo task (hil__task_solo): while its test runs, fds 1 and 2 are
     * capfd, and its log records are written there too, in order */
    int solo, capfd, logfd;
    size_t max_output;
    hil_strbuf logs;         /* the log lines hil.h also put into the result's output */
} hil__child;

/* What a solo test wrote to its capture file, as the worker's supervisor
 * would have kept it (at most run.max_output bytes, then the same note).
 * The file offset is shared with the task process: pread leaves it alone. */
static void hil__solo_output(int capfd, size_t max, hil_strbuf* out) {
    static const char note[] = "\n[hil: output limit reached (run.max_output); the rest of this test's output is dropped]\n";
    off_t len = lseek(capfd, 0, SEEK_CUR);
    size_t want, got = 0;
    if (len <= 0) return;
    want = (size_t)len < max ? (size_t)len : max;
    if (!hil__sb_reserve(out, want + sizeof note)) return;
    while (got < want) {
        ssize_t n = pread(capfd, out->data + out->len + got, want - got, (off_t)got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        got += (size_t)n;
    }
    out->len += got;
    out->data[out->len] = 0;
    if ((size_t)len > max) hil_sb_append(out, note, sizeof note - 1);
}

/* The TaskLog line of a test result (and its output) */
static void hil__result_line(int fd, const hil_test_result* r);

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
static void hil__child_result_line(const hil_test_result* r) { hil__result_line(1, r); }

static void hil__result_line(int fd, const hil_test_result* r) {
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
    if (!sb.failed) (void)!write(fd, sb.data, sb.len);
    hil_sb_free(&sb);
}

/* hil.h's hook in a solo task (hil__solo_on_check): a failed check or a
 * warning goes to the job now, as a worker sends it to its supervisor, so
 * that a crash later in the test does not lose it. A frame of its own (the
 * bus frames share c->frame): hil.h calls this under the run's lock. */
static void hil__child_solo_check(void* user, const char* file, int line, const char* msg) {
    hil__child* c = (hil__child*)user;
    hil_strbuf b = {0, 0, 0, 0};
    if (!c->open) return;
    hil__tw_begin(&b, HIL__TEV_CHECK);
    hil__put_u8(&b, file ? 0 : 1);
    hil__put_str(&b, file);
    hil__put_u32(&b, (uint32_t)line);
    hil__put_str(&b, msg);
    hil__tw_send(c->evfd, &b);
    hil_sb_free(&b);
}

/* A solo test starts: its output goes to the capture file, and the stop
 * signals kill it as they kill a worker (the job's SIGTERM at max_runtime
 * must end the test now, not after the grace period). */
static void hil__child_solo_begin(hil__child* c) {
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigaction(SIGINT, &dfl, NULL);
    sigaction(SIGTERM, &dfl, NULL);
    sigaction(SIGPIPE, &dfl, NULL);
    if (c->capfd < 0) return;
    fflush(NULL);
    dup2(c->capfd, 1);
    dup2(c->capfd, 2);
    hil_sb_clear(&c->logs);
}

/* A solo test ended: its output is what it printed and logged, in the
 * order it did (hil.h put the log lines alone into the result: what else
 * it added, such as a note, stays after them), then the TaskLog again. */
static void hil__child_solo_end(hil__child* c, hil_test_result* r) {
    hil_strbuf out = {0, 0, 0, 0};
    const char* rest = r->output;
    size_t rest_len = r->output_len;
    if (c->capfd < 0) return;
    fflush(NULL);
    hil__solo_output(c->capfd, c->max_output, &out);
    dup2(c->logfd, 1);
    dup2(c->logfd, 2);
    if (rest_len >= c->logs.len && (!c->logs.len || memcmp(rest, c->logs.data, c->logs.len) == 0)) {
        rest += c->logs.len;
        rest_len -= c->logs.len;
    }
    if (rest_len) hil_sb_append(&out, rest, rest_len);
    if (out.failed) { hil_sb_free(&out); return; }
    HIL_FREE(r->output);
    r->output_len = out.len;
    r->output = out.len ? hil_sb_take(&out) : NULL;
    hil_sb_free(&out);
}

static void hil__child_on_event(const hil_bus_msg* m, void* user) {
    hil__child* c = (hil__child*)user;
    hil_strbuf* b = &c->frame;
    if (m->id == &HIL_MSG_RUN_STARTED) {
        const hil_run_summary* s = (const hil_run_summary*)m->data;
        hil__tw_begin(b, HIL__TEV_RUN_STARTED);
        hil__put_u64(b, (uint64_t)s->planned);
        hil__tw_send(c->evfd, b);
    } else if (m->id == &HIL_MSG_TEST_STARTED) {
        const hil_test_result* r = (const hil_test_result*)m->data;
        hil__tw_begin(b, HIL__TEV_TEST_STARTED);
        hil__tw_info(b, r->test);
        hil__put_u64(b, r->start_wall_ns);
        hil__tw_send(c->evfd, b);
        if (c->solo && !c->open) hil__child_solo_begin(c);
        c->open++; /* more than 1 while a running test reports a case (hil_report_case) */
    } else if (m->id == &HIL_MSG_TEST_FINISHED) {
        const hil_test_result* r = (const hil_test_result*)m->data;
        size_t i, n;
        /* the bus hands callbacks the run's own result: it is filled here,
         * before it is sent, as a supervisor fills it from the worker's pipe */
        if (c->solo && c->open == 1) hil__child_solo_end(c, (hil_test_result*)m->data);
        hil__tw_begin(b, HIL__TEV_TEST_FINISHED);
        hil__put_u32(b, (uint32_t)r->outcome);
        hil__put_str(b, r->reason);
        hil__put_u64(b, r->start_wall_ns);
        hil__put_u64(b, r->duration_ns);
        hil__put_u32(b, (uint32_t)r->attempts);
        hil__put_u32(b, (uint32_t)r->iteration);
        hil__put_bytes(b, r->output, r->output_len);
        n = r->n_failures < HIL__MAX_LISTED_FAILURES ? r->n_failures : HIL__MAX_LISTED_FAILURES;
        hil__put_u32(b, (uint32_t)n);
        for (i = 0; i < n; i++) {
            hil__put_str(b, r->failures[i].file);
            hil__put_u32(b, (uint32_t)r->failures[i].line);
            hil__put_str(b, r->failures[i].message);
        }
        hil__put_u32(b, (uint32_t)r->n_warnings);
        for (i = 0; i < r->n_warnings; i++) hil__put_str(b, r->warnings[i]);
        hil__tw_send(c->evfd, b);
        hil__child_result_line(r);
        if (c->open > 0) c->open--;
    } else if (m->id == &HIL_MSG_RUN_FINISHED) {
        const hil_run_summary* s = (const hil_run_summary*)m->data;
        hil__tw_begin(b, HIL__TEV_RUN_FINISHED);
        hil__put_u64(b, (uint64_t)s->not_run);
        hil__put_u32(b, (uint32_t)s->interrupted);
        hil__put_u64(b, s->duration_ns);
        hil__rec_end(b, 0);
        if (!b->failed) hil_sb_append(&c->last, b->data, b->len);
    } else if (m->id == &HIL_MSG_LOG) {
        /* during a test its records are in its output */
        if (!c->open) {
            hil__child_log_line((const hil_log_record*)m->data);
        } else if (c->solo && c->capfd >= 0) {
            /* into the capture file too, between what the test printed */
            hil_strbuf line = {0, 0, 0, 0};
            fflush(NULL);
            hil__log_output_line(&line, (const hil_log_record*)m->data);
            if (!line.failed) {
                (void)hil_write_all(c->capfd, line.data, line.len);
                hil_sb_append(&c->logs, line.data, line.len);
            }
            hil_sb_free(&line);
        }
    }
}

/* The task's worker tells the job its process group, so the job can end
 * it if the task process dies (one small write: atomic on a pipe). */
static int hil__child_evfd = -1;

static void hil__child_worker_hook(int starting) {
    hil_strbuf b = {0, 0, 0, 0};
    if (!starting || !hil__task_self || getpid() == hil__task_self->pid || hil__child_evfd < 0) return;
    hil__tw_begin(&b, HIL__TEV_WORKER);
    hil__put_u32(&b, (uint32_t)getpid());
    hil__tw_send(hil__child_evfd, &b);
    hil_sb_free(&b);
}

static void hil__job_close_fd(int* fd) {
    if (*fd >= 0) close(*fd);
    *fd = -1;
}

/* The run options that select what a test task runs (its filters, tags and
 * excluded tags), the rest at their defaults: the job decides with them
 * whether the task runs its test itself, the task process runs them. */
static void hil__task_selection(const hil_task* t, hil_run_options* o) {
    size_t n;
    hil_run_options_init(o);
    for (n = 0; t->filters && t->filters[n]; n++) {
    }
    o->filters = (const char* const*)t->filters;
    o->n_filters = n;
    for (n = 0; t->tags && t->tags[n]; n++) {
    }
    o->tags = (const char* const*)t->tags;
    o->n_tags = n;
    for (n = 0; t->exclude_tags && t->exclude_tags[n]; n++) {
    }
    o->exclude_tags = (const char* const*)t->exclude_tags;
    o->n_exclude_tags = n;
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
    if (getppid() != J->pid) hil__child_exit(0); /* the job died before prctl took effect */
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
        hil__job_close_fd(&x->capfd);
    }
    hil__job_close_fd(&J->joblog);
    hil_waker_destroy(&J->wake);
    dup2(t->logfd, 1);
    dup2(t->logfd, 2);
    if (!t->solo) hil__job_close_fd(&t->logfd); /* a solo task turns back to it after its test */
    hil__sfmt(src, sizeof src, "task %s", t->taskid);
    for (i = 0; t->params && t->params[i]; i++) {
        char key[300];
        const char* eq = strchr(t->params[i], '=');
        n = eq ? (size_t)(eq - t->params[i]) : strlen(t->params[i]);
        hil__sfmt(key, sizeof key, "params.%.*s", (int)n, t->params[i]);
        hil_config_set(hil_cfg(), key, eq ? eq + 1 : "true", HIL_PRIO_TASK, src);
    }
    for (i = 0; t->config && t->config[i]; i++) {
        char key[512];
        const char* eq = strchr(t->config[i], '=');
        n = eq ? (size_t)(eq - t->config[i]) : strlen(t->config[i]);
        hil__sfmt(key, sizeof key, "%.*s", (int)n, t->config[i]);
        hil_config_set(hil_cfg(), key, eq ? eq + 1 : "true", HIL_PRIO_TASK, src);
    }
    memset(&c, 0, sizeof c);
    c.evfd = evw;
    c.solo = t->solo;
    c.capfd = t->capfd;
    c.logfd = t->logfd;
    c.max_output = (size_t)hil_config_get_int(hil_cfg(), "run.max_output", 1 << 20);
    hil_dispatcher_config_init(&dc);
    dc.fn = hil__child_on_event;
    dc.user = &c;
    dc.name = "task";
    if (hil_bus_create(&bus) != HIL_OK || hil_dispatcher_create(bus, &dc, &d) != HIL_OK ||
        hil_dispatcher_subscribe(d, NULL, &HIL_EP_RUN, NULL) != HIL_OK) {
        hil__tw_begin(&c.frame, HIL__TEV_ERROR);
        hil__put_str(&c.frame, "the task process could not set up its bus (out of memory)");
        hil__tw_send(evw, &c.frame);
        hil__child_exit(0);
    }
    hil__task_selection(t, &o);
    o.timeout_s = t->timeout_s > 0 ? t->timeout_s : hil_config_get_float(J->cfg, "run.timeout", 60);
    o.isolation = t->isolation;
    o.capture = hil_config_get_bool(J->cfg, "run.capture", 1);
    o.bus = bus;
    o.name = t->taskid;
    if (t->solo) {
        /* this process is the test's worker; the job its supervisor, which
         * needs the timeout the task's configuration gives the test */
        static char out_buf[4096];
        double own = 0;
        (void)hil__run_solo(&o, &own);
        hil__tw_begin(&c.frame, HIL__TEV_SOLO);
        hil__put_u64(&c.frame, (uint64_t)((own > 0 ? own : o.timeout_s) * 1e9));
        hil__put_u64(&c.frame, (uint64_t)c.max_output);
        hil__tw_send(evw, &c.frame);
#ifdef F_ADD_SEALS
        /* A supervisor drops what a test prints past run.max_output; a file
         * would keep it, in memory. Sealed at that size plus a stdout
         * buffer's worth of slack (the first max_output bytes and the note
         * come out as from a worker), later writes fail instead. */
        if (c.capfd >= 0 && ftruncate(c.capfd, (off_t)(c.max_output + 65536)) == 0)
            (void)fcntl(c.capfd, F_ADD_SEALS, F_SEAL_GROW | F_SEAL_SHRINK);
#endif
        o.isolation = HIL_ISOLATE_NONE;
        hil__solo_on_check(hil__child_solo_check, &c);
        /* line by line, as in a worker: what the test printed before a
         * crash is in the capture file */
        if (c.capfd >= 0) setvbuf(stdout, out_buf, _IOLBF, sizeof out_buf);
    }
    r = hil_run_tests(&o, &s);
    hil__solo_on_check(NULL, NULL);
    if (r != HIL_OK) {
        char msg[1100];
        hil__sfmt(msg, sizeof msg, "the task could not run its tests: %s", hil_last_error());
        hil__fd_printf(1, "%s\n", msg);
        hil__tw_begin(&c.frame, HIL__TEV_ERROR);
        hil__put_str(&c.frame, msg);
        hil__tw_send(evw, &c.frame);
    } else {
        hil__fd_printf(1, "== %s: %zu passed, %zu failed, %zu skipped\n", t->taskid, hil_summary_passed(s),
                       hil_summary_failed(s), s->counts[HIL_SKIPPED]);
    }
    hil__tw_begin(&c.frame, HIL__TEV_DONE);
    hil__rec_end(&c.frame, 0);
    if (!c.frame.failed) hil_sb_append(&c.last, c.frame.data, c.frame.len);
    if (!c.last.failed) (void)hil_write_all(evw, c.last.data, c.last.len);
    fflush(NULL);
    hil__child_exit(0); /* no atexit handlers: they belong to the job process */
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
    case HIL__STOP_MAX_RUNTIME: hil__sfmt(out, size, "max_runtime %g s exceeded", t->limit_s); break;
    case HIL__STOP_TERMINATED: hil__sfmt(out, size, "terminated by the job (hil_task_terminate)"); break;
    case HIL__STOP_JOB_ENDED: hil__sfmt(out, size, "still running when the job function returned"); break;
    case HIL__STOP_INTERRUPTED: hil__sfmt(out, size, "interrupted (Ctrl-C or SIGTERM)"); break;
    default: out[0] = 0;
    }
}

/* The first failing test of a task (NULL: none). */
static const hil_test_result* hil__task_first_failure(const hil_task* t) {
    size_t i;
    for (i = 0; i < t->sum->n_results; i++)
        if (hil_outcome_is_failure(t->sum->results[i].outcome)) return &t->sum->results[i];
    return NULL;
}

/* The console lines of a finished task (into pending_out; the caller holds
 * J->mu). Task names are padded to the longest so far, so the counts line
 * up; a reason is printed once: the task line leaves out what its first
 * failing test's line says, and a test whose reason is the previous one's
 * says "the same". */
static void hil__task_console(hil__job* J, hil_task* t) {
    hil_strbuf* sb = &J->pending_out;
    char dur[32];
    size_t i, shown = 0, len;
    int bad = hil_outcome_is_failure(t->outcome), width = 24;
    const hil_test_result* first = bad ? hil__task_first_failure(t) : NULL;
    const char *reason = t->reason, *prev = NULL;
    if (J->console == HIL_JOB_CONSOLE_SILENT || (J->console == HIL_JOB_CONSOLE_QUIET && !bad)) return;
    for (i = 0; i < J->n_tasks; i++)
        if ((len = strlen(J->tasks[i]->taskid)) > (size_t)width) width = len > 40 ? 40 : (int)len;
    if (reason && first && first->reason && (len = strlen(first->test->full_name)) &&
        strncmp(reason, first->test->full_name, len) == 0 && strncmp(reason + len, ": ", 2) == 0 &&
        strcmp(reason + len + 2, first->reason) == 0)
        reason = NULL;
    prev = reason;
    /* a refused task (never started) has no duration to show */
    dur[0] = 0;
    if (t->end_ns > t->start_ns) hil__fmt_secs(dur, sizeof dur, t->end_ns - t->start_ns);
    hil_sb_printf(sb, "  %s%-8s%s %-*s %zu test%s%s%s%s%s\n", hil__job_color(J, t->outcome),
                  hil_outcome_str(t->outcome), J->color ? "\x1b[0m" : "", width, t->taskid, t->sum->n_results,
                  t->sum->n_results == 1 ? "" : "s", t->end_ns > t->start_ns ? " in " : ", not run",
                  t->end_ns > t->start_ns ? dur : "", reason ? ": " : "", reason ? reason : "");
    for (i = 0; bad && i < t->sum->n_results; i++) {
        const hil_test_result* r = &t->sum->results[i];
        int same;
        if (!hil_outcome_is_failure(r->outcome)) continue;
        if (++shown > 10) { hil_sb_puts(sb, "      ...\n"); break; }
        same = r->reason && prev && strcmp(r->reason, prev) == 0;
        hil_sb_printf(sb, "      %-8s %s%s%s\n", hil_outcome_str(r->outcome), r->test->full_name,
                      r->reason ? ": " : "", same ? "the same" : r->reason ? r->reason : "");
        prev = r->reason;
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

/* Whether a test task runs its test in the task process itself instead of
 * a worker forked for it. The task process is a fresh fork of the job, made
 * for this task alone, so for a task of one test it isolates the test as
 * the worker would, and the second fork (a third of a task's cost) is
 * saved. The job then does the worker's supervisor's part: the test's
 * timeout, and its result when the process dies in it. Only for a test that
 * is one call of its function (hil__run_solo), with its output captured in
 * a memfd the job can read after a crash (Linux), and unless
 * job.fork_single_test asks for the worker. */
static int hil__task_solo(hil__job* J, hil_task* t) {
    hil_run_options o;
    double own = 0;
    if (t->kind != HIL__TASK_TESTS || t->isolation == HIL_ISOLATE_NONE) return 0;
    if (hil_config_get_bool(J->cfg, "job.fork_single_test", 0)) return 0;
    hil__task_selection(t, &o);
    if (!hil__run_solo(&o, &own)) return 0;
    if (!hil_config_get_bool(J->cfg, "run.capture", 1)) return 1;
#if defined(__linux__) && defined(SYS_memfd_create)
    t->capfd = (int)syscall(SYS_memfd_create, "hil-test-output", 3u /* MFD_CLOEXEC | MFD_ALLOW_SEALING */);
#endif
    return t->capfd >= 0;
}

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
    hil__sfmt(path, sizeof path, "%s/TaskLog.%s", J->dir, t->taskid);
    t->logfd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0666);
    t->log_made = t->logfd >= 0;
    if (t->logfd < 0) {
        hil__sfmt(why, sizeof why, "cannot create its log '%s': %s", path, strerror(errno));
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
        int ev[2], pid, made;
#ifdef __linux__
        made = pipe2(ev, O_CLOEXEC) == 0; /* one system call, not five */
#else
        made = pipe(ev) == 0;
        if (made) {
            hil_set_cloexec(ev[0]);
            hil_set_cloexec(ev[1]);
        }
#endif
        if (!made) {
            hil__sfmt(why, sizeof why, "cannot create a pipe: %s", strerror(errno));
            hil__job_close_fd(&t->logfd);
            hil__task_refuse(J, t, HIL_ERRORED, "start", why, HIL_ERR_IO);
            hil_sb_free(&desc);
            return;
        }
        t->solo = hil__task_solo(J, t);
        /* what the task process and its worker call, resolved here once
         * (hil.h: lazy binding) rather than in every task process */
        hil__bind_fork_calls();
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
            hil__sfmt(why, sizeof why, "cannot fork the task process: %s (too many processes? see ulimit -u)",
                      strerror(errno));
            close(ev[0]);
            close(ev[1]);
            hil__job_close_fd(&t->logfd);
            hil__job_close_fd(&t->capfd);
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
            hil__sfmt(why, sizeof why, "cannot start: %s", hil_last_error());
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

static void hil__solo_checks_clear(hil_task* t) {
    hil_test_result* k = &t->solo_checks;
    size_t i;
    for (i = 0; i < k->n_failures; i++) {
        HIL_FREE(k->failures[i].file);
        HIL_FREE(k->failures[i].message);
    }
    for (i = 0; i < k->n_warnings; i++) HIL_FREE(k->warnings[i]);
    HIL_FREE(k->failures);
    HIL_FREE(k->warnings);
    memset(k, 0, sizeof *k);
}

/* A failed check or warning of the running solo test, kept as hil.h keeps
 * it in a result (hil__on_failure: at most HIL__MAX_LISTED_FAILURES
 * listed, the rest counted). */
static void hil__solo_check_frame(hil_task* t, hil__rd* rd) {
    hil_test_result* k = &t->solo_checks;
    int warning = (int)hil__get_u8(rd);
    char* file = hil__get_dup(rd, NULL);
    int line = (int)hil__get_u32(rd);
    char* msg = hil__get_dup(rd, NULL);
    if (rd->bad || !msg || !t->solo || !t->open_info || t->outer_info) {
        /* nothing open: the task process finishes the result itself */
    } else if (warning) {
        char** w = (char**)HIL_REALLOC(k->warnings, (k->n_warnings + 1) * sizeof *w);
        if (w) {
            k->warnings = w;
            w[k->n_warnings++] = msg;
            msg = NULL;
        }
    } else if (k->n_failures < HIL__MAX_LISTED_FAILURES) {
        hil_failure* f = (hil_failure*)HIL_REALLOC(k->failures, (k->n_failures + 1) * sizeof *f);
        if (f) {
            k->failures = f;
            f[k->n_failures].file = file;
            f[k->n_failures].line = line;
            f[k->n_failures].message = msg;
            k->n_failures++;
            file = msg = NULL;
        }
    } else {
        k->n_failures_dropped++;
    }
    HIL_FREE(file);
    HIL_FREE(msg);
}

static void hil__task_on_frame(hil_task* t, int type, hil__rd* rd) {
    switch (type) {
    case HIL__TEV_RUN_STARTED: t->sum->planned = (size_t)hil__get_u64(rd); break;
    case HIL__TEV_TEST_STARTED: {
        hil_test_info* info = hil__get_info(rd, t->sum);
        uint64_t w = hil__get_u64(rd);
        if (!rd->bad && info) {
            if (t->open_info && !t->outer_info) { /* a case reported by the running test */
                t->outer_info = t->open_info;
                t->outer_wall = t->open_wall;
            }
            if (t->solo && !t->open_info && t->solo_timeout_s > 0) /* as a supervisor times it */
                t->solo_deadline = hil_now_ns() + (uint64_t)(t->solo_timeout_s * 1e9);
            if (!t->open_info) hil__solo_checks_clear(t);
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
        t->open_info = t->outer_info; /* back to the test that reported the case, if any */
        t->open_wall = t->outer_wall;
        t->outer_info = NULL;
        if (!t->open_info) {
            /* finished: the frame lists its checks; those heard are not needed */
            t->solo_deadline = HIL_NEVER;
            hil__solo_checks_clear(t);
        }
        o = hil__get_u32(rd);
        r->outcome = o > HIL_NOT_RUN && o < HIL_OUTCOME_COUNT ? (hil_outcome)o : HIL_ERRORED;
        r->reason = hil__get_dup(rd, &len);
        if (r->reason && !len) { HIL_FREE(r->reason); r->reason = NULL; }
        r->start_wall_ns = hil__get_u64(rd);
        r->duration_ns = hil__get_u64(rd);
        r->attempts = (int)hil__get_u32(rd);
        r->iteration = (int)hil__get_u32(rd);
        r->output = hil__get_dup(rd, &r->output_len);
        if (r->output && !r->output_len) { HIL_FREE(r->output); r->output = NULL; }
        n = hil__get_u32(rd);
        if (n > HIL__MAX_LISTED_FAILURES) { rd->bad = 1; break; }
        if (n) r->failures = (hil_failure*)hil__calloc(n, sizeof *r->failures);
        for (k = 0; r->failures && k < n && !rd->bad; k++) {
            r->failures[k].file = hil__get_dup(rd, NULL);
            r->failures[k].line = (int)hil__get_u32(rd);
            r->failures[k].message = hil__get_dup(rd, NULL);
            r->n_failures = k + 1;
        }
        n = hil__get_u32(rd);
        if (n > rd->left / 4) { rd->bad = 1; break; }
        if (n) r->warnings = (char**)hil__calloc(n, sizeof *r->warnings);
        for (k = 0; r->warnings && k < n && !rd->bad; k++) {
            r->warnings[k] = hil__get_dup(rd, NULL);
            r->n_warnings = k + 1;
        }
        break;
    }
    case HIL__TEV_RUN_FINISHED:
        t->sum->not_run = (size_t)hil__get_u64(rd);
        t->sum->interrupted = (int)hil__get_u32(rd);
        (void)hil__get_u64(rd);
        break;
    case HIL__TEV_ERROR:
        HIL_FREE(t->child_error);
        t->child_error = hil__get_dup(rd, NULL);
        break;
    case HIL__TEV_DONE: t->got_done = 1; break;
    case HIL__TEV_WORKER: t->worker_pgid = (int)hil__get_u32(rd); break;
    case HIL__TEV_SOLO:
        t->solo_timeout_s = (double)hil__get_u64(rd) / 1e9;
        t->solo_max_output = (size_t)hil__get_u64(rd);
        break;
    case HIL__TEV_CHECK: hil__solo_check_frame(t, rd); break;
    default: rd->bad = 1; break;
    }
}

static void hil__task_decode(hil_task* t) {
    hil_strbuf* b = &t->evbuf;
    size_t off = 0;
    while (!t->stream_bad && b->len - off >= 5) {
        uint32_t len;
        hil__rd rd;
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

/* A note a worker's supervisor adds to a test's output (hil.h's
 * hil__result_output): dropped at run.max_output, cut there with its note. */
static void hil__solo_note(hil_strbuf* out, size_t max, const char* note) {
    static const char limit[] = "\n[hil: output limit reached (run.max_output); the rest of this test's output is dropped]\n";
    size_t len = strlen(note);
    if (out->len >= max) return;
    if (len <= max - out->len) { hil_sb_append(out, note, len); return; }
    hil_sb_append(out, note, max - out->len);
    hil_sb_append(out, limit, sizeof limit - 1);
}

/* A solo task's process ended in its test (a crash, exit(), the timeout, a
 * stop): the test's result, with the reason, output and TaskLog lines that
 * hil.h's supervisor gives a worker that ended so (hil__after_crash), and
 * that the task process would have written. */
static void hil__task_solo_unfinished(hil_task* t, const char* why) {
    hil_test_result* r = hil__sum_add(t->sum, t->open_info);
    hil_test_result* k = &t->solo_checks;
    hil_strbuf out = {0, 0, 0, 0}, first = {0, 0, 0, 0};
    char text[300], st[160];
    size_t i, passed = 0, failed = 0, skipped = 0;
    uint64_t now = hil_wall_ns();
    t->open_info = NULL;
    t->solo_deadline = HIL_NEVER;
    if (!r) return;
    hil_proc_status_str(t->status, st, sizeof st);
    if (why[0]) hil__sfmt(text, sizeof text, "%s", why);
    else if (t->solo_timed_out) hil__sfmt(text, sizeof text, "timeout after %g s", t->solo_timeout_s);
    else if (WIFEXITED(t->status)) hil__sfmt(text, sizeof text, "the test ended the process: %s", st);
    else hil__sfmt(text, sizeof text, "crashed: %s", st);
    r->outcome = t->stop_why == HIL__STOP_INTERRUPTED ? HIL_ABORTED : HIL_ERRORED;
    hil__result_set_reason(r, text);
    r->start_wall_ns = t->open_wall;
    r->duration_ns = now > t->open_wall ? now - t->open_wall : 0;
    /* the checks it failed and its warnings before it died, as a worker's
     * supervisor has them from the worker's event stream */
    r->failures = k->failures;
    r->n_failures = k->n_failures;
    r->n_failures_dropped = k->n_failures_dropped;
    r->warnings = k->warnings;
    r->n_warnings = k->n_warnings;
    memset(k, 0, sizeof *k);
    if (t->capfd >= 0) hil__solo_output(t->capfd, t->solo_max_output, &out);
    if (r->n_failures_dropped)
        hil__solo_note(&out, t->solo_max_output,
                       "[hil: more than 64 failed checks; the rest are counted, not listed]\n");
    if (r->n_failures) {
        /* the first failure was the test's reason until the crash; the
         * supervisor keeps it in sight (hil.h: hil__finish_result). Before
         * a stop's note: the worker's test had it when it was interrupted. */
        const hil_failure* f = &r->failures[0];
        hil_sb_puts(&first, "[hil: before that: ");
        if (f->file && *f->file) hil_sb_printf(&first, "%s:%d: ", f->file, f->line);
        hil_sb_printf(&first, "%s]\n", f->message ? f->message : "");
        if (!first.failed && !strstr(first.data, text)) hil__solo_note(&out, t->solo_max_output, first.data);
        hil_sb_free(&first);
    }
    /* a stopped worker's test was Aborted "interrupted", then made Errored
     * for the job's reason: its note says so (hil__task_results_tests) */
    if (why[0] && t->stop_why != HIL__STOP_INTERRUPTED) hil_sb_puts(&out, "[hil: interrupted (Ctrl-C or SIGTERM)]\n");
    if (out.len && !out.failed) hil__result_append_output(r, out.data, out.len);
    hil_sb_free(&out);
    hil__result_line(t->logfd, r);
    for (i = 0; i < t->sum->n_results; i++) {
        hil_outcome o = t->sum->results[i].outcome;
        if (o == HIL_PASSED || o == HIL_PASSX) passed++;
        else if (o == HIL_SKIPPED) skipped++;
        else if (hil_outcome_is_failure(o)) failed++;
    }
    hil__fd_printf(t->logfd, "== %s: %zu passed, %zu failed, %zu skipped\n", t->taskid, passed, failed, skipped);
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
                hil__sfmt(note, sizeof note, "[hil: %s]\n", r->reason);
                hil__result_append_output(r, note, strlen(note));
            }
            r->outcome = HIL_ERRORED;
            hil__result_set_reason(r, why);
        }
    }
    if (t->stop_why) forced = t->stop_why == HIL__STOP_INTERRUPTED ? HIL_ABORTED : HIL_ERRORED;
    else if (!clean) forced = HIL_ERRORED;
    if (t->solo && t->open_info && !t->outer_info) {
        /* it ended in its test, which a worker's supervisor would have
         * reported; the task process itself did nothing wrong */
        hil__task_solo_unfinished(t, why);
        if (!t->stop_why) forced = HIL_NOT_RUN;
    }
    if (why[0]) hil__sfmt(reason, sizeof reason, "%s", why);
    else hil__sfmt(reason, sizeof reason, "the task process ended unexpectedly: %s", st);
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
        hil__sfmt(reason, sizeof reason, "no test matches the task's selection (%s)", hil_sb_cstr(&sel));
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
                hil__sfmt(note, sizeof note, "%s", hil_last_error());
                hil__sum_add_named(t->sum, "command", "junit", HIL_ERRORED, note);
                note[0] = 0;
            }
        } else if (exit_o == HIL_PASSED) {
            hil__sfmt(note, sizeof note, "the command exited with status 0 but did not write its JUnit file '%s'",
                      t->junit);
            hil__sum_add_named(t->sum, "command", "junit", HIL_ERRORED, note);
            note[0] = 0;
        } else {
            hil__sfmt(note, sizeof note, "; it wrote no JUnit file '%s'", t->junit);
        }
    }
    hil__sfmt(reason, sizeof reason, "%s%s", why[0] ? why : st, note);
    /* The command's own result is named after the task (suite "command",
     * the task's kind): in a JUnit viewer "command.build.rev-c" says which
     * step it was, where the program's name ("sh") said nothing. */
    if (n_junit == 0) {
        r = hil__sum_add_named(t->sum, "command", t->taskid, exit_o, exit_o == HIL_PASSED ? NULL : reason);
    } else {
        size_t i;
        hil_outcome roll = HIL_NOT_RUN;
        for (i = 0; i < t->sum->n_results; i++) roll = hil_outcome_rollup(roll, t->sum->results[i].outcome);
        r = NULL;
        if (exit_o != HIL_PASSED && roll < exit_o)
            r = hil__sum_add_named(t->sum, "command", t->taskid, exit_o, reason);
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
    hil__job_close_fd(&t->capfd);
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
            if (t->solo_deadline != HIL_NEVER && now >= t->solo_deadline && !t->kill_sent) {
                /* a solo test's timeout: SIGKILL, as a supervisor kills its worker */
                kill(-t->pid, SIGKILL);
                t->kill_sent = t->solo_timed_out = 1;
                t->solo_deadline = HIL_NEVER;
            }
            if (t->solo_deadline < next) next = t->solo_deadline;
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
        /* no broadcast here: the waiters (start, wait, wait_any, the end of
         * the job) wait for a state change, and every one broadcasts
         * (launch, refuse, finalize); waking them for each event a task
         * streams cost two context switches per event */
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
    out = (char**)hil__calloc(n + extra + 1, sizeof *out);
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
    hil__solo_checks_clear(t);
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
    t = (hil_task*)hil__calloc(1, sizeof *t);
    if (!t) return hil_error(HIL_ERR_NO_MEMORY, "hil_task_create: out of memory");
    t->J = J;
    t->kind = o->argv ? HIL__TASK_COMMAND : HIL__TASK_TESTS;
    t->pid = 0;
    t->exitfd = t->evfd = t->outfd = t->logfd = t->capfd = -1;
    t->deadline = t->solo_deadline = HIL_NEVER;
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
    if (o->taskid && *o->taskid) hil__sfmt(base, sizeof base, "%s", o->taskid);
    else hil__sfmt(base, sizeof base, "Task-%d", t->n);
    for (i = 0; base[i]; i++)
        if (base[i] == '/' || (unsigned char)base[i] < 0x20) base[i] = '_';
    hil__sfmt(id, sizeof id, "%s", base);
    for (k = 2; hil__taskid_taken(J, id); k++) hil__sfmt(id, sizeof id, "%s-%d", base, k);
    t->taskid = hil_strdup(id);
    ok = ok && t->taskid;
    if (ok && t->kind == HIL__TASK_COMMAND) {
        size_t n = 0;
        t->env = hil__strv_dup(o->env, 4, &ok);
        while (ok && t->env[n]) n++;
        if (ok) {
            char logpath[4200];
            hil__sfmt(logpath, sizeof logpath, "%s/TaskLog.%s", J->dir, t->taskid);
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
        hil__sfmt(msg, sizeof msg, "%s", hil_last_error());
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
        if (k == 1) hil__sfmt(path, sizeof path, "%s/%s.%s", runs, J->rt.name, stamp);
        else hil__sfmt(path, sizeof path, "%s/%s.%s-%d", runs, J->rt.name, stamp, k);
        if (mkdir(path, 0777) == 0) break;
        if (errno != EEXIST || k >= 10000)
            return hil_error(HIL_ERR_IO, "cannot create the run directory '%s': %s: set job.runs (--runs DIR) to a "
                             "directory you can write to", path, strerror(errno));
    }
    if (!realpath(path, real)) hil__sfmt(real, sizeof real, "%s", path);
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
    if (!getcwd(cwd, sizeof cwd)) hil__sfmt(cwd, sizeof cwd, "?");
    if (!user) user = getenv("LOGNAME");
    if (!user) {
        /* CI containers and cron start jobs without USER or LOGNAME */
        const struct passwd* pw = getpwuid(getuid());
        if (pw) user = pw->pw_name;
    }
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
    hil_sb_puts(&sb, J->n_args ? "job args:   " : "job args:   (none)");
    for (i = 0; i < J->n_args; i++) hil_sb_printf(&sb, "%s%s", i ? " " : "", J->args[i]);
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
    hil_sb_puts(&sb, "\nconfiguration (values that were set, by key; the highest priority wins):\n");
    hil_config_foreach(J->cfg, hil__env_visit, &sb); /* sorted by key: two env.txt files diff line by line */
    hil__sfmt(path, sizeof path, "%s/env.txt", J->dir);
    if (sb.failed || hil_write_file_atomic(path, sb.data, sb.len) != HIL_OK)
        hil__job_log(J, "error", "env.txt: %s", sb.failed ? "out of memory" : hil_last_error());
    hil_sb_free(&sb);
}

/* The job's verdict so far: test counts by outcome (its own errors count as
 * Errored tests) and the roll-up of its tasks' outcomes. One place, so the
 * scheduler's report.html says what results.json and the exit code say. */
static hil_outcome hil__job_tally(hil__job* J, size_t* counts) {
    hil_outcome result = HIL_NOT_RUN;
    size_t i;
    int o;
    memset(counts, 0, HIL_OUTCOME_COUNT * sizeof *counts);
    for (i = 0; i < J->n_tasks; i++) {
        for (o = 0; o < HIL_OUTCOME_COUNT; o++) counts[o] += J->tasks[i]->sum->counts[o];
        result = hil_outcome_rollup(result, J->tasks[i]->outcome);
    }
    if (J->errors->n_results) {
        counts[HIL_ERRORED] += J->errors->n_results;
        result = hil_outcome_rollup(result, HIL_ERRORED);
    }
    if (J->interrupted) result = hil_outcome_rollup(result, HIL_ABORTED);
    return result;
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
        hil__sfmt(key, sizeof key, "%s", hil_outcome_str((hil_outcome)i));
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
    hil__sfmt(log, sizeof log, "TaskLog.%s", t->taskid);
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
    hil__sfmt(path, sizeof path, "%s/results.json", J->dir);
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
    hil__sfmt(link, sizeof link, "%s/latest", J->runs);
    hil__sfmt(tmp, sizeof tmp, "%s/.latest.%d", J->runs, J->pid);
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
    hil__sfmt(out, size, "%s/%s.tar.gz", J->runs, J->dirbase);
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
            hil__sfmt(clr, sizeof clr, "\r\x1b[%dA\x1b[J", J->drawn);
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
    J = (hil__job*)hil__calloc(1, sizeof *J);
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
    hil__sfmt(js->directory, sizeof js->directory, "%s", J->dir);
    hil__sfmt(path, sizeof path, "%s/JobLog", J->dir);
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
    J->args = (char**)hil__calloc((size_t)(c->argc > 0 ? c->argc : 0) + 1, sizeof *J->args);
    J->argv_view = (char**)hil__calloc((size_t)(c->argc > 0 ? c->argc : 0) + 1, sizeof *J->argv_view);
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
    runs = (const hil_run_summary**)hil__calloc(J->n_tasks + 1, sizeof *runs);
    for (i = 0; i < J->n_tasks; i++) {
        not_run += J->tasks[i]->sum->not_run;
        if (runs) runs[n_runs++] = J->tasks[i]->sum;
    }
    if (J->errors->n_results) {
        hil__sum_finish(J->errors);
        J->errors->name = J->rt.name;
        if (runs) runs[n_runs++] = J->errors;
    }
    js->result = hil__job_tally(J, counts);
    js->interrupted = J->interrupted;
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
    hil__sfmt(path, sizeof path, "%s/junit.xml", J->dir);
    if (runs && hil_junit_write(path, runs, n_runs, J->rt.name) != HIL_OK)
        hil__job_log(J, "error", "junit.xml: %s", hil_last_error());
    HIL_FREE((void*)runs);
    hil__job_table(J, &table, 0, js, counts, dur);
    hil__sfmt(path, sizeof path, "%s/summary.txt", J->dir);
    if (table.failed || hil_write_file_atomic(path, table.data, table.len) != HIL_OK)
        hil__job_log(J, "error", "summary.txt: %s", table.failed ? "out of memory" : hil_last_error());
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
    /* "job": what makes a run directory of tasks (the schedule command uses
     * it too, and shares these options); "job-registry": the HIL_JOB
     * functions, which only this command lists (--list) */
    c->uses = "job,job-registry";
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
    o->commands = "job-registry";
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
    hil_ext_option(ext, "job.fork_single_test", HIL_OPT_BOOL, "false",
                   "Run a task's only test in a worker forked for it, as several tests are (default: in the task "
                   "process, one fork less; docs/jobs.md)");
}

HIL_API void hil_jobs_register(void) { hil_extension_declare("jobs", HIL_EXT_FRAMEWORK, hil__describe_jobs); }

#ifndef HIL_NO_CONSTRUCTORS
HIL__CONSTRUCTOR(hil__reg_jobs_extension) { hil_jobs_register(); }
#endif

#ifndef HIL_NO_SCHEDULER
/* ==========================================================================
 * PART 2: the lazy scheduler - implementation
 * ========================================================================== */

#ifdef __cplusplus
#define HIL__SCHED_PTR_CAST(lv) (decltype(lv))
#else
#define HIL__SCHED_PTR_CAST(lv)
#endif

static void hil__ssb_init(hil_strbuf* b) { memset(b, 0, sizeof *b); }

/* A failure deep inside a call: out of memory is the only one without its
 * own message, so name the call. */
static hil_result hil__sched_oom(hil_result rc, const char* what) {
    if (rc == HIL_ERR_NO_MEMORY) return hil_error(rc, "scheduler: %s: out of memory", what);
    return rc;
}

/* ---- growable arrays ---------------------------------------------------- */

static void* hil__sched_regrow(void* p, size_t* cap, size_t need, size_t elem) {
    size_t ncap = *cap ? *cap : 8;
    void* np;
    while (ncap < need) {
        if (ncap > ((size_t)-1) / 4) return NULL;
        ncap *= 2;
    }
    if (ncap > ((size_t)-1) / elem) return NULL;
    np = HIL_REALLOC(p, ncap * elem);
    if (np) *cap = ncap;
    return np;
}

/* Ensures capacity for 'need' elements; sets rc on failure, arr untouched. */
#define HIL__SCHED_RESERVE(rc, arr, cap, need)                                    \
    do {                                                                          \
        if ((need) > (cap)) {                                                     \
            void* np_ = hil__sched_regrow((arr), &(cap), (need), sizeof(*(arr))); \
            if (np_)                                                              \
                (arr) = HIL__SCHED_PTR_CAST(arr) np_;                             \
            else                                                                  \
                (rc) = HIL_ERR_NO_MEMORY;                                         \
        }                                                                         \
    } while (0)

/* Copies 'count' elements of src into a fresh allocation (NULL when empty). */
#define HIL__SCHED_DUP(rc, dst, src, count)                   \
    do {                                                      \
        (dst) = NULL;                                         \
        if ((count) > 0) {                                    \
            void* np_ = HIL_MALLOC((count) * sizeof(*(src))); \
            if (np_) {                                        \
                memcpy(np_, (src), (count) * sizeof(*(src))); \
                (dst) = HIL__SCHED_PTR_CAST(dst) np_;         \
            } else                                            \
                (rc) = HIL_ERR_NO_MEMORY;                     \
        }                                                     \
    } while (0)

/* ---- string arena: strings are referenced by offset so realloc is safe --- */

typedef struct hil__sched_strs {
    char* p;
    size_t len, cap;
} hil__sched_strs;

static hil_result hil__sched_str_add(hil__sched_strs* a, const char* src, size_t n, uint32_t* off) {
    hil_result rc = HIL_OK;
    if (a->len + n + 1 > 0xFFFFFFF0u) return HIL_ERR_NO_MEMORY;
    HIL__SCHED_RESERVE(rc, a->p, a->cap, a->len + n + 1);
    if (rc) return rc;
    memcpy(a->p + a->len, src, n);
    a->p[a->len + n] = '\0';
    *off = (uint32_t)a->len;
    a->len += n + 1;
    return HIL_OK;
}

/* ---- string -> id hash map (open addressing, ids stored +1) ------------- */

typedef const char* (*hil__sched_keyfn)(const void* ctx, uint32_t id);

typedef struct hil__sched_map {
    uint32_t* slot;
    size_t cap, n;
} hil__sched_map;

static uint32_t hil__sched_hash(const char* k, size_t n) {
    uint32_t h = 2166136261u; /* FNV-1a: stable across machines (sharding) */
    size_t i;
    for (i = 0; i < n; i++) h = (h ^ (uint8_t)k[i]) * 16777619u;
    return h;
}

static uint32_t hil__sched_map_find(const hil__sched_map* m, hil__sched_keyfn key, const void* ctx, const char* k,
                                    size_t n) {
    size_t i;
    if (!m->cap) return HIL_SCHED_NONE;
    for (i = hil__sched_hash(k, n) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        uint32_t v = m->slot[i];
        const char* e;
        if (!v) return HIL_SCHED_NONE;
        size_t j = 0;
        e = key(ctx, v - 1);
        /* stops at e's end: k may hold a NUL (a torn history line), and
         * strncmp would then match a shorter e and read past it */
        while (j < n && e[j] && e[j] == k[j]) j++;
        if (j == n && e[n] == '\0') return v - 1;
    }
}

static void hil__sched_map_insert(hil__sched_map* m, hil__sched_keyfn key, const void* ctx, uint32_t id) {
    const char* k = key(ctx, id);
    size_t i = hil__sched_hash(k, strlen(k)) & (m->cap - 1);
    while (m->slot[i]) i = (i + 1) & (m->cap - 1);
    m->slot[i] = id + 1;
    m->n++;
}

/* Keeps the load under one half so probes stay short. */
static hil_result hil__sched_map_put(hil__sched_map* m, hil__sched_keyfn key, const void* ctx, uint32_t id) {
    if ((m->n + 1) * 2 > m->cap) {
        hil__sched_map old = *m;
        size_t ncap = m->cap ? m->cap * 2 : 64, i;
        uint32_t* slot = (uint32_t*)HIL_MALLOC(ncap * sizeof(uint32_t));
        if (!slot) return HIL_ERR_NO_MEMORY;
        memset(slot, 0, ncap * sizeof(uint32_t));
        m->slot = slot;
        m->cap = ncap;
        m->n = 0;
        for (i = 0; i < old.cap; i++)
            if (old.slot[i]) hil__sched_map_insert(m, key, ctx, old.slot[i] - 1);
        HIL_FREE(old.slot);
    }
    hil__sched_map_insert(m, key, ctx, id);
    return HIL_OK;
}

static hil_result hil__sched_map_dup(hil__sched_map* dst, const hil__sched_map* src) {
    hil_result rc = HIL_OK;
    *dst = *src;
    HIL__SCHED_DUP(rc, dst->slot, src->slot, src->cap);
    return rc;
}

/* ---- internal model ------------------------------------------------------ */

enum { HIL__SCHED_BUILD_PENDING, HIL__SCHED_BUILD_RUNNING, HIL__SCHED_BUILD_DONE, HIL__SCHED_BUILD_FAILED };

typedef struct hil__sched_variant {
    uint32_t atom;
    uint32_t build; /* HIL_SCHED_NONE: prebuilt, always available */
} hil__sched_variant;

typedef struct hil__sched_build {
    uint32_t variant;
    int priority;
    int64_t expected_ns, start_ns, end_ns;
    uint8_t state;
    uint32_t reason; /* str offset or NONE */
} hil__sched_build;

typedef struct hil__sched_res {
    uint32_t name, type, tags;  /* atoms */
    uint32_t tag_first, n_tags; /* tag atoms in ids pool */
    uint32_t var_first, n_vars; /* variant ids in ids pool */
    uint32_t flashed;           /* variant id or NONE */
    uint32_t run;               /* NONE when not busy */
    uint32_t infra_streak;
    uint8_t quarantined;
    uint8_t held; /* held by another process (hil_sched_set_held): busy, not blocked */
} hil__sched_res;

typedef struct hil__sched_role {
    uint32_t name, type, tags, pin; /* atoms or NONE */
    uint32_t tag_first, n_tags;     /* parsed tags, filled when the class is made */
    uint8_t fixed_fw;
} hil__sched_role;

/* Items with identical constraints share a class: they are eligible for the
 * same resources, so only the best item of each class (heap top) competes. */
typedef struct hil__sched_class {
    uint32_t variant;
    uint32_t n_roles;
    hil__sched_role roles[HIL_SCHED_MAX_ROLES];
    uint32_t avoid_first, n_avoid;     /* resources that failed these items */
    uint32_t set[HIL_SCHED_MAX_ROLES]; /* eligible set per role */
    uint32_t constraint;               /* min eligible count over roles */
    uint32_t* heap;
    size_t n, cap;
    int64_t waiting_ns; /* sum of expected durations in the heap */
    uint32_t reason;    /* str offset when blocked */
    uint8_t blocked, uses_fw;
} hil__sched_class;

typedef struct hil__sched_set {
    uint32_t first, n; /* members in set_pool, sorted ids, no quarantined */
    int64_t pressure;  /* waiting work per member (bottleneck key) */
    int64_t ready;     /* startable + still running work per member (builds) */
} hil__sched_set;

typedef struct hil__sched_item {
    uint32_t name;
    uint32_t cls;
    int priority;
    int64_t timeout_ns, expected_ns, submit_ns, queued_ns;
    uint32_t retries, attempts, last_run;
    uint32_t reason;
    uint8_t state, outcome, explicit_expected;
} hil__sched_item;

typedef struct hil__sched_run {
    uint32_t item, attempt, res_first, n_res;
    int64_t ready_ns, start_ns, end_ns, deadline_ns;
    unsigned infra_mask, reflash_mask;
    uint8_t open, outcome, requeued;
} hil__sched_run;

struct hil_sched {
    hil_sched_config cfg;
    hil__sched_strs str;
    uint32_t* ids; /* shared pool of id lists */
    size_t n_ids, ids_cap;
    uint32_t* atoms; /* atom id -> str offset */
    size_t n_atoms, atoms_cap;
    hil__sched_map atom_map;
    hil__sched_variant* vars;
    size_t n_vars, vars_cap;
    hil__sched_res* res;
    size_t n_res, res_cap;
    hil__sched_build* builds;
    size_t n_builds, builds_cap;
    hil__sched_item* items;
    size_t n_items, items_cap;
    hil__sched_map item_map;
    hil__sched_class* classes;
    size_t n_classes, classes_cap;
    hil__sched_set* sets;
    size_t n_sets, sets_cap;
    uint32_t* set_pool;
    size_t n_set_pool, set_pool_cap;
    hil__sched_run* runs;
    size_t n_runs, runs_cap;
    uint32_t* blockq; /* newly blocked items not yet reported by next() */
    size_t n_blockq, blockq_cap, blockq_head;
    uint32_t* scratch; /* one entry per resource, for building sets */
    size_t scratch_cap;
    uint32_t n_running, n_free, builds_running;
    int dirty; /* eligible sets / blocked classes must be recomputed */
    int idle;  /* next() found nothing and nothing changed since */
    int t0_set;
    int64_t t0, last_now;
    hil_sched_history* history;
};

static const char* hil__sched_s(const hil_sched* s, uint32_t off) {
    return off == HIL_SCHED_NONE ? NULL : s->str.p + off;
}

static const char* hil__sched_atom_str(const hil_sched* s, uint32_t atom) {
    return atom == HIL_SCHED_NONE ? NULL : s->str.p + s->atoms[atom];
}

static const char* hil__sched_atom_key(const void* ctx, uint32_t id) {
    const hil_sched* s = (const hil_sched*)ctx;
    return s->str.p + s->atoms[id];
}

static const char* hil__sched_item_key(const void* ctx, uint32_t id) {
    const hil_sched* s = (const hil_sched*)ctx;
    return s->str.p + s->items[id].name;
}

static const char* hil__sched_item_name(const hil_sched* s, uint32_t item) { return s->str.p + s->items[item].name; }

static const char* hil__sched_res_name(const hil_sched* s, uint32_t r) {
    return s->str.p + s->atoms[s->res[r].name]; /* resources always have a name */
}

/* Times must not go backwards: a run recorded in the past could overlap
 * runs already logged. */
static hil_result hil__sched_note_time(hil_sched* s, int64_t now) {
    if (!s->t0_set) {
        s->t0 = s->last_now = now;
        s->t0_set = 1;
    }
    if (now < s->last_now)
        return hil_error(HIL_ERR_INVALID_ARG,
                         "scheduler: time went backwards (%.3f s after %.3f s): pass one monotonic clock to every call",
                         (double)(now - s->t0) / 1e9, (double)(s->last_now - s->t0) / 1e9);
    s->last_now = now;
    return HIL_OK;
}

/* Interns a string (n bytes) as an atom; empty strings map to NONE. */
static hil_result hil__sched_atom_n(hil_sched* s, const char* p, size_t n, uint32_t* out) {
    hil_result rc = HIL_OK;
    uint32_t id, off;
    *out = HIL_SCHED_NONE;
    if (!p || !n) return HIL_OK;
    id = hil__sched_map_find(&s->atom_map, hil__sched_atom_key, s, p, n);
    if (id != HIL_SCHED_NONE) {
        *out = id;
        return HIL_OK;
    }
    HIL__SCHED_RESERVE(rc, s->atoms, s->atoms_cap, s->n_atoms + 1);
    if (!rc) rc = hil__sched_str_add(&s->str, p, n, &off);
    if (rc) return rc;
    id = (uint32_t)s->n_atoms;
    s->atoms[s->n_atoms++] = off;
    rc = hil__sched_map_put(&s->atom_map, hil__sched_atom_key, s, id);
    if (rc) {
        s->n_atoms--;
        return rc;
    }
    *out = id;
    return HIL_OK;
}

static hil_result hil__sched_atom(hil_sched* s, const char* p, uint32_t* out) {
    return hil__sched_atom_n(s, p, p ? strlen(p) : 0, out);
}

static hil_result hil__sched_push_id(hil_sched* s, uint32_t v) {
    hil_result rc = HIL_OK;
    HIL__SCHED_RESERVE(rc, s->ids, s->ids_cap, s->n_ids + 1);
    if (rc) return rc;
    s->ids[s->n_ids++] = v;
    return HIL_OK;
}

static int hil__sched_list_has(const hil_sched* s, uint32_t first, uint32_t n, uint32_t v) {
    uint32_t i;
    for (i = 0; i < n; i++)
        if (s->ids[first + i] == v) return 1;
    return 0;
}

static int hil__sched_is_space(char c) { return c == ' ' || c == '\t'; }

/* Calls fn for each trimmed, non-empty element of a comma list. */
typedef hil_result (*hil__sched_tokfn)(hil_sched* s, const char* p, size_t n, void* ctx);

static hil_result hil__sched_each_token(hil_sched* s, const char* csv, hil__sched_tokfn fn, void* ctx) {
    const char* p = csv;
    while (p && *p) {
        const char* e = strchr(p, ',');
        const char *b = p, *t = e ? e : p + strlen(p);
        hil_result rc;
        while (b < t && hil__sched_is_space(*b)) b++;
        while (t > b && hil__sched_is_space(t[-1])) t--;
        if (t > b && (rc = fn(s, b, (size_t)(t - b), ctx)) != HIL_OK) return rc;
        p = e ? e + 1 : NULL;
    }
    return HIL_OK;
}

static hil_result hil__sched_tok_atom(hil_sched* s, const char* p, size_t n, void* ctx) {
    uint32_t a;
    hil_result rc = hil__sched_atom_n(s, p, n, &a);
    if (rc) return rc;
    return hil__sched_list_has(s, *(uint32_t*)ctx, (uint32_t)(s->n_ids - *(uint32_t*)ctx), a)
               ? HIL_OK
               : hil__sched_push_id(s, a);
}

/* Parses a comma list into atoms appended to the ids pool. */
static hil_result hil__sched_atom_list(hil_sched* s, const char* csv, uint32_t* first, uint32_t* n) {
    uint32_t start = (uint32_t)s->n_ids;
    hil_result rc = hil__sched_each_token(s, csv, hil__sched_tok_atom, &start);
    *first = start;
    *n = (uint32_t)(s->n_ids - start);
    return rc;
}

static uint32_t hil__sched_variant_find(const hil_sched* s, uint32_t atom) {
    size_t i;
    for (i = 0; i < s->n_vars; i++)
        if (s->vars[i].atom == atom) return (uint32_t)i;
    return HIL_SCHED_NONE;
}

/* Variant id for a name, created on first use; NONE for NULL/empty names. */
static hil_result hil__sched_variant_n(hil_sched* s, const char* p, size_t n, uint32_t* out) {
    hil_result rc;
    uint32_t atom;
    *out = HIL_SCHED_NONE;
    if ((rc = hil__sched_atom_n(s, p, n, &atom)) != HIL_OK || atom == HIL_SCHED_NONE) return rc;
    *out = hil__sched_variant_find(s, atom);
    if (*out != HIL_SCHED_NONE) return HIL_OK;
    HIL__SCHED_RESERVE(rc, s->vars, s->vars_cap, s->n_vars + 1);
    if (rc) return rc;
    s->vars[s->n_vars].atom = atom;
    s->vars[s->n_vars].build = HIL_SCHED_NONE;
    *out = (uint32_t)s->n_vars++;
    return HIL_OK;
}

static hil_result hil__sched_tok_variant(hil_sched* s, const char* p, size_t n, void* ctx) {
    uint32_t v;
    hil_result rc = hil__sched_variant_n(s, p, n, &v);
    uint32_t start = *(uint32_t*)ctx;
    if (rc) return rc;
    return hil__sched_list_has(s, start, (uint32_t)(s->n_ids - start), v) ? HIL_OK : hil__sched_push_id(s, v);
}

static const char* hil__sched_variant_name(const hil_sched* s, uint32_t v) {
    return v == HIL_SCHED_NONE ? NULL : hil__sched_atom_str(s, s->vars[v].atom);
}

/* ---- lifecycle ------------------------------------------------------------ */

HIL_API void hil_sched_config_init(hil_sched_config* cfg) {
    memset(cfg, 0, sizeof(*cfg));
    cfg->policy = HIL_SCHED_POLICY_KEY;
    cfg->jobs = 0;
    cfg->build_lanes = 1;
    cfg->quarantine_after = 3;
    cfg->bottleneck_aware = 1;
    cfg->timeout_guess_percent = 50;
    cfg->default_expected_ns = (int64_t)60 * 1000000000;
}

HIL_API hil_result hil_sched_create(const hil_sched_config* cfg, hil_sched** out) {
    hil_sched* s;
    if (!cfg || !out) return hil_error(HIL_ERR_INVALID_ARG, "hil_sched_create: no configuration or result pointer");
    *out = NULL;
    if (cfg->build_lanes == 0)
        return hil_error(HIL_ERR_INVALID_ARG, "scheduler: build_lanes is 0: at least one build must be able to run");
    if (cfg->default_expected_ns <= 0)
        return hil_error(HIL_ERR_INVALID_ARG, "scheduler: default_expected_ns must be positive");
    if ((unsigned)cfg->policy > (unsigned)HIL_SCHED_POLICY_FIFO)
        return hil_error(HIL_ERR_INVALID_ARG, "scheduler: unknown policy %d (HIL_SCHED_POLICY_KEY, _BARTENDER, _FIFO)",
                         (int)cfg->policy);
    s = (hil_sched*)HIL_MALLOC(sizeof(*s));
    if (!s) return hil_error(HIL_ERR_NO_MEMORY, "scheduler: out of memory");
    memset(s, 0, sizeof(*s));
    s->cfg = *cfg;
    *out = s;
    return HIL_OK;
}

HIL_API void hil_sched_destroy(hil_sched* s) {
    size_t i;
    if (!s) return;
    for (i = 0; i < s->n_classes; i++) HIL_FREE(s->classes[i].heap);
    HIL_FREE(s->str.p);
    HIL_FREE(s->ids);
    HIL_FREE(s->atoms);
    HIL_FREE(s->atom_map.slot);
    HIL_FREE(s->vars);
    HIL_FREE(s->res);
    HIL_FREE(s->builds);
    HIL_FREE(s->items);
    HIL_FREE(s->item_map.slot);
    HIL_FREE(s->classes);
    HIL_FREE(s->sets);
    HIL_FREE(s->set_pool);
    HIL_FREE(s->runs);
    HIL_FREE(s->blockq);
    HIL_FREE(s->scratch);
    HIL_FREE(s);
}

static hil_result hil__sched_clone_classes(hil_sched* d, const hil_sched* s) {
    hil_result rc = HIL_OK;
    size_t i;
    HIL__SCHED_DUP(rc, d->classes, s->classes, s->n_classes);
    d->classes_cap = s->n_classes;
    for (i = 0; i < s->n_classes && !rc; i++) {
        d->classes[i].heap = NULL;
        d->classes[i].cap = s->classes[i].n;
        HIL__SCHED_DUP(rc, d->classes[i].heap, s->classes[i].heap, s->classes[i].n);
    }
    for (; i < s->n_classes; i++) { /* leave the tail freeable after a failure */
        d->classes[i].heap = NULL;
        d->classes[i].n = d->classes[i].cap = 0;
    }
    return rc;
}

/* Deep copy; the copy shares no memory and has no history attached. */
HIL_API hil_result hil_sched_clone(const hil_sched* s, hil_sched** out) {
    hil_result rc = HIL_OK;
    hil_sched* d;
    if (!s || !out) return hil_error(HIL_ERR_INVALID_ARG, "hil_sched_clone: no scheduler or result pointer");
    if ((rc = hil_sched_create(&s->cfg, &d)) != HIL_OK) return rc;
    *d = *s;
    d->classes = NULL;
    d->n_classes = 0;
    d->history = NULL;
    d->scratch = NULL;
    d->scratch_cap = 0;
#define HIL__SCHED_CLONE_ARR(f, n, capf)  \
    HIL__SCHED_DUP(rc, d->f, s->f, s->n); \
    d->capf = s->n
    HIL__SCHED_CLONE_ARR(str.p, str.len, str.cap);
    HIL__SCHED_CLONE_ARR(ids, n_ids, ids_cap);
    HIL__SCHED_CLONE_ARR(atoms, n_atoms, atoms_cap);
    HIL__SCHED_CLONE_ARR(vars, n_vars, vars_cap);
    HIL__SCHED_CLONE_ARR(res, n_res, res_cap);
    HIL__SCHED_CLONE_ARR(builds, n_builds, builds_cap);
    HIL__SCHED_CLONE_ARR(items, n_items, items_cap);
    HIL__SCHED_CLONE_ARR(sets, n_sets, sets_cap);
    HIL__SCHED_CLONE_ARR(set_pool, n_set_pool, set_pool_cap);
    HIL__SCHED_CLONE_ARR(runs, n_runs, runs_cap);
    HIL__SCHED_CLONE_ARR(blockq, n_blockq, blockq_cap);
#undef HIL__SCHED_CLONE_ARR
    if (!rc)
        rc = hil__sched_map_dup(&d->atom_map, &s->atom_map);
    else
        d->atom_map.slot = NULL;
    if (!rc)
        rc = hil__sched_map_dup(&d->item_map, &s->item_map);
    else
        d->item_map.slot = NULL;
    if (!rc) HIL__SCHED_RESERVE(rc, d->scratch, d->scratch_cap, s->n_res + 1);
    if (!rc) {
        d->n_classes = s->n_classes;
        rc = hil__sched_clone_classes(d, s);
    }
    if (rc) {
        hil_sched_destroy(d);
        return hil__sched_oom(rc, "clone");
    }
    *out = d;
    return HIL_OK;
}

/* ---- resources and builds ------------------------------------------------- */

HIL_API hil_result hil_sched_add_resource(hil_sched* s, const hil_sched_resource_spec* sp, uint32_t* out_id) {
    hil_result rc = HIL_OK;
    hil__sched_res r;
    uint32_t start;
    if (!s || !sp || !sp->name || !*sp->name)
        return hil_error(HIL_ERR_INVALID_ARG, "scheduler: a resource needs a name");
    memset(&r, 0, sizeof(r));
    if (hil_sched_find_resource(s, sp->name, &start) == HIL_OK)
        return hil_error(HIL_ERR_INVALID_ARG, "scheduler: resource '%s' is defined twice: names must be unique",
                         sp->name);
    if ((rc = hil__sched_atom(s, sp->name, &r.name)) != HIL_OK) return hil__sched_oom(rc, "add_resource");
    if ((rc = hil__sched_atom(s, sp->type, &r.type)) != HIL_OK) return hil__sched_oom(rc, "add_resource");
    if ((rc = hil__sched_atom(s, sp->tags, &r.tags)) != HIL_OK) return hil__sched_oom(rc, "add_resource");
    if ((rc = hil__sched_atom_list(s, sp->tags, &r.tag_first, &r.n_tags)) != HIL_OK)
        return hil__sched_oom(rc, "add_resource");
    start = (uint32_t)s->n_ids;
    if ((rc = hil__sched_each_token(s, sp->variants, hil__sched_tok_variant, &start)) != HIL_OK)
        return hil__sched_oom(rc, "add_resource");
    r.var_first = start;
    r.n_vars = (uint32_t)(s->n_ids - start);
    if ((rc = hil__sched_variant_n(s, sp->flashed, sp->flashed ? strlen(sp->flashed) : 0, &r.flashed)) != HIL_OK)
        return hil__sched_oom(rc, "add_resource");
    r.run = HIL_SCHED_NONE;
    HIL__SCHED_RESERVE(rc, s->res, s->res_cap, s->n_res + 1);
    if (!rc) HIL__SCHED_RESERVE(rc, s->scratch, s->scratch_cap, s->n_res + 1);
    if (rc) return hil__sched_oom(rc, "add_resource");
    s->res[s->n_res] = r;
    if (out_id) *out_id = (uint32_t)s->n_res;
    s->n_res++;
    s->n_free++;
    s->dirty = 1;
    s->idle = 0;
    return HIL_OK;
}

HIL_API hil_result hil_sched_add_build(hil_sched* s, const hil_sched_build_spec* sp, uint32_t* out_id) {
    hil_result rc = HIL_OK;
    hil__sched_build b;
    if (!s || !sp || !sp->variant || !*sp->variant)
        return hil_error(HIL_ERR_INVALID_ARG, "scheduler: a build needs the variant it produces");
    if (sp->expected_ns < 0)
        return hil_error(HIL_ERR_INVALID_ARG, "scheduler: build of '%s': negative expected duration", sp->variant);
    memset(&b, 0, sizeof(b));
    if ((rc = hil__sched_variant_n(s, sp->variant, strlen(sp->variant), &b.variant)) != HIL_OK)
        return hil__sched_oom(rc, "add_build");
    if (s->vars[b.variant].build != HIL_SCHED_NONE)
        return hil_error(HIL_ERR_INVALID_ARG, "scheduler: variant '%s' has two builds: one build per variant",
                         sp->variant);
    HIL__SCHED_RESERVE(rc, s->builds, s->builds_cap, s->n_builds + 1);
    if (rc) return hil__sched_oom(rc, "add_build");
    b.priority = sp->priority;
    b.expected_ns = sp->expected_ns;
    b.state = HIL__SCHED_BUILD_PENDING;
    b.reason = HIL_SCHED_NONE;
    s->vars[b.variant].build = (uint32_t)s->n_builds;
    s->builds[s->n_builds] = b;
    if (out_id) *out_id = (uint32_t)s->n_builds;
    s->n_builds++;
    s->idle = 0;
    return HIL_OK;
}

/* ---- classes --------------------------------------------------------------- */

static int hil__sched_role_same(const hil__sched_role* a, const hil__sched_role* b) {
    return a->name == b->name && a->type == b->type && a->tags == b->tags && a->pin == b->pin &&
           a->fixed_fw == b->fixed_fw;
}

static int hil__sched_class_matches(const hil_sched* s, const hil__sched_class* c, uint32_t variant,
                                    const hil__sched_role* roles, uint32_t n_roles, const uint32_t* avoid,
                                    uint32_t n_avoid) {
    uint32_t i;
    if (c->variant != variant || c->n_roles != n_roles || c->n_avoid != n_avoid) return 0;
    for (i = 0; i < n_roles; i++)
        if (!hil__sched_role_same(&c->roles[i], &roles[i])) return 0;
    for (i = 0; i < n_avoid; i++)
        if (s->ids[c->avoid_first + i] != avoid[i]) return 0;
    return 1;
}

static hil_result hil__sched_class_init(hil_sched* s, hil__sched_class* c, uint32_t variant,
                                        const hil__sched_role* roles, uint32_t n_roles, const uint32_t* avoid,
                                        uint32_t n_avoid) {
    hil_result rc = HIL_OK;
    uint32_t i;
    memset(c, 0, sizeof(*c));
    c->variant = variant;
    c->n_roles = n_roles;
    c->reason = HIL_SCHED_NONE;
    for (i = 0; i < n_roles && !rc; i++) {
        c->roles[i] = roles[i];
        rc =
            hil__sched_atom_list(s, hil__sched_atom_str(s, roles[i].tags), &c->roles[i].tag_first, &c->roles[i].n_tags);
        if (!roles[i].fixed_fw && variant != HIL_SCHED_NONE) c->uses_fw = 1;
    }
    c->avoid_first = (uint32_t)s->n_ids;
    for (i = 0; i < n_avoid && !rc; i++) rc = hil__sched_push_id(s, avoid[i]);
    c->n_avoid = n_avoid;
    return rc;
}

/* Finds the class with exactly these constraints, creating it if needed. */
static hil_result hil__sched_class_get(hil_sched* s, uint32_t variant, const hil__sched_role* roles, uint32_t n_roles,
                                       const uint32_t* avoid, uint32_t n_avoid, uint32_t* out) {
    hil_result rc = HIL_OK;
    size_t i;
    for (i = 0; i < s->n_classes; i++) {
        if (hil__sched_class_matches(s, &s->classes[i], variant, roles, n_roles, avoid, n_avoid)) {
            *out = (uint32_t)i;
            return HIL_OK;
        }
    }
    HIL__SCHED_RESERVE(rc, s->classes, s->classes_cap, s->n_classes + 1);
    if (!rc) rc = hil__sched_class_init(s, &s->classes[s->n_classes], variant, roles, n_roles, avoid, n_avoid);
    if (rc) return rc;
    *out = (uint32_t)s->n_classes++;
    s->dirty = 1; /* its eligible sets are not known yet */
    return HIL_OK;
}

/* ---- per-class heap of waiting items, best first --------------------------- */

static int hil__sched_item_before(const hil_sched* s, uint32_t a, uint32_t b) {
    const hil__sched_item *x = &s->items[a], *y = &s->items[b];
    int c;
    if (x->priority != y->priority) return x->priority > y->priority;
    if (s->cfg.policy == HIL_SCHED_POLICY_FIFO) return a < b;
    if (s->cfg.policy == HIL_SCHED_POLICY_KEY && x->expected_ns != y->expected_ns)
        return x->expected_ns > y->expected_ns;
    c = strcmp(s->str.p + x->name, s->str.p + y->name);
    if (c) return c < 0;
    return a < b;
}

static void hil__sched_sift_up(const hil_sched* s, uint32_t* h, size_t i) {
    while (i > 0) {
        size_t p = (i - 1) / 2;
        uint32_t t;
        if (!hil__sched_item_before(s, h[i], h[p])) break;
        t = h[i];
        h[i] = h[p];
        h[p] = t;
        i = p;
    }
}

static void hil__sched_sift_down(const hil_sched* s, uint32_t* h, size_t n, size_t i) {
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        uint32_t t;
        if (l < n && hil__sched_item_before(s, h[l], h[m])) m = l;
        if (r < n && hil__sched_item_before(s, h[r], h[m])) m = r;
        if (m == i) return;
        t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

static hil_result hil__sched_heap_push(hil_sched* s, hil__sched_class* c, uint32_t item) {
    hil_result rc = HIL_OK;
    HIL__SCHED_RESERVE(rc, c->heap, c->cap, c->n + 1);
    if (rc) return rc;
    c->heap[c->n++] = item;
    hil__sched_sift_up(s, c->heap, c->n - 1);
    c->waiting_ns += s->items[item].expected_ns;
    return HIL_OK;
}

static uint32_t hil__sched_heap_pop(hil_sched* s, hil__sched_class* c) {
    uint32_t top = c->heap[0];
    c->heap[0] = c->heap[--c->n];
    hil__sched_sift_down(s, c->heap, c->n, 0);
    c->waiting_ns -= s->items[top].expected_ns;
    return top;
}

/* Re-sorts every heap: needed after expected durations or states changed. */
static void hil__sched_rebuild_heaps(hil_sched* s) {
    size_t i, j;
    for (i = 0; i < s->n_classes; i++) {
        hil__sched_class* c = &s->classes[i];
        size_t k = 0;
        c->waiting_ns = 0;
        for (j = 0; j < c->n; j++) {
            if (s->items[c->heap[j]].state != HIL_SCHED_ITEM_WAITING) continue;
            c->heap[k++] = c->heap[j];
            c->waiting_ns += s->items[c->heap[j]].expected_ns;
        }
        c->n = k;
        for (j = k / 2; j-- > 0;) hil__sched_sift_down(s, c->heap, c->n, j);
    }
    s->idle = 0;
}

/* ---- blocking ------------------------------------------------------------------ */

static hil_result hil__sched_block_item(hil_sched* s, uint32_t item, uint32_t reason) {
    hil_result rc = HIL_OK;
    hil__sched_item* it = &s->items[item];
    HIL__SCHED_RESERVE(rc, s->blockq, s->blockq_cap, s->n_blockq + 1);
    if (rc) return rc;
    it->state = HIL_SCHED_ITEM_BLOCKED;
    it->outcome = HIL_SCHED_BLOCKED;
    it->reason = reason;
    s->blockq[s->n_blockq++] = item;
    return HIL_OK;
}

/* Queues an item in its class, or blocks it at once if the class is blocked. */
static hil_result hil__sched_enqueue(hil_sched* s, uint32_t item) {
    hil__sched_class* c = &s->classes[s->items[item].cls];
    s->items[item].state = HIL_SCHED_ITEM_WAITING;
    s->idle = 0;
    if (c->blocked) return hil__sched_block_item(s, item, c->reason);
    return hil__sched_heap_push(s, c, item);
}

static hil_result hil__sched_block_class(hil_sched* s, hil__sched_class* c, uint32_t reason) {
    hil_result rc = HIL_OK;
    c->blocked = 1;
    c->reason = reason;
    while (c->n && !rc) rc = hil__sched_block_item(s, hil__sched_heap_pop(s, c), reason);
    return rc;
}

/* ---- eligibility and sets ---------------------------------------------------- */

static int hil__sched_role_matches(const hil_sched* s, const hil__sched_class* c, const hil__sched_role* ro,
                                   const hil__sched_res* r) {
    uint32_t i;
    if (ro->pin != HIL_SCHED_NONE && ro->pin != r->name) return 0;
    if (ro->type != HIL_SCHED_NONE && ro->type != r->type) return 0;
    for (i = 0; i < ro->n_tags; i++)
        if (!hil__sched_list_has(s, r->tag_first, r->n_tags, s->ids[ro->tag_first + i])) return 0;
    if (!ro->fixed_fw && c->variant != HIL_SCHED_NONE && !hil__sched_list_has(s, r->var_first, r->n_vars, c->variant))
        return 0;
    return 1;
}

/* Usable (not quarantined) matching resources into s->scratch; the class's
 * avoid list is honoured unless it would leave nothing. */
static uint32_t hil__sched_collect(const hil_sched* s, const hil__sched_class* c, uint32_t role, int use_avoid) {
    uint32_t n = 0;
    size_t r;
    for (r = 0; r < s->n_res; r++) {
        if (s->res[r].quarantined) continue;
        if (!hil__sched_role_matches(s, c, &c->roles[role], &s->res[r])) continue;
        if (use_avoid && hil__sched_list_has(s, c->avoid_first, c->n_avoid, (uint32_t)r)) continue;
        s->scratch[n++] = (uint32_t)r;
    }
    if (n == 0 && use_avoid && c->n_avoid) return hil__sched_collect(s, c, role, 0);
    return n;
}

static hil_result hil__sched_set_intern(hil_sched* s, uint32_t n, uint32_t* out) {
    hil_result rc = HIL_OK;
    size_t i;
    for (i = 0; i < s->n_sets; i++) {
        const hil__sched_set* e = &s->sets[i];
        if (e->n == n && (!n || !memcmp(s->set_pool + e->first, s->scratch, n * sizeof(uint32_t)))) {
            *out = (uint32_t)i;
            return HIL_OK;
        }
    }
    HIL__SCHED_RESERVE(rc, s->sets, s->sets_cap, s->n_sets + 1);
    if (!rc) HIL__SCHED_RESERVE(rc, s->set_pool, s->set_pool_cap, s->n_set_pool + n);
    if (rc) return rc;
    if (n) memcpy(s->set_pool + s->n_set_pool, s->scratch, n * sizeof(uint32_t));
    s->sets[s->n_sets].first = (uint32_t)s->n_set_pool;
    s->sets[s->n_sets].n = n;
    s->sets[s->n_sets].pressure = 0;
    s->sets[s->n_sets].ready = 0;
    s->n_set_pool += n;
    *out = (uint32_t)s->n_sets++;
    return HIL_OK;
}

static int hil__sched_free(const hil_sched* s, uint32_t r) {
    return s->res[r].run == HIL_SCHED_NONE && !s->res[r].quarantined && !s->res[r].held;
}

static int hil__sched_needs_reflash(const hil_sched* s, const hil__sched_class* c, uint32_t role, uint32_t r) {
    return !c->roles[role].fixed_fw && c->variant != HIL_SCHED_NONE && s->res[r].flashed != c->variant;
}

/* Total order on resources for one role: earlier is preferred.  KEY/FIFO keep
 * boards that need no flashing first, then the least versatile boards (so the
 * versatile ones stay free for items only they can run); BARTENDER mimics
 * testbed_micropython: most variants first, then already flashed. */
static uint64_t hil__sched_res_pref(const hil_sched* s, const hil__sched_class* c, uint32_t role, uint32_t r) {
    uint64_t nv = s->res[r].n_vars > 0xFFFFF ? 0xFFFFF : s->res[r].n_vars;
    uint64_t fl = (uint64_t)hil__sched_needs_reflash(s, c, role, r);
    uint64_t a = fl, b = nv;
    if (s->cfg.policy == HIL_SCHED_POLICY_BARTENDER) {
        a = 0xFFFFF - nv;
        b = fl;
    }
    return (a << 44) | (b << 24) | (uint64_t)r;
}

static int hil__sched_taken(const uint32_t* res, uint32_t depth, uint32_t r) {
    uint32_t i;
    for (i = 0; i < depth; i++)
        if (res[i] == r) return 1;
    return 0;
}

#define HIL__SCHED_ASSIGN_BUDGET 4096 /* search nodes per attempt: bounds latency */

/* Depth-first choice of distinct resources for roles depth.., trying each
 * role's candidates in preference order.  any_state: ignore busy (used to
 * decide whether a class can ever run). */
static int hil__sched_assign(const hil_sched* s, const hil__sched_class* c, uint32_t depth, uint32_t* res,
                             int any_state, int* budget) {
    const hil__sched_set* set;
    uint64_t last = 0;
    int have_last = 0;
    if (depth == c->n_roles) return 1;
    set = &s->sets[c->set[depth]];
    for (;;) {
        uint64_t best = 0;
        uint32_t i, pick = HIL_SCHED_NONE;
        if (--*budget < 0) return 0;
        for (i = 0; i < set->n; i++) {
            uint32_t r = s->set_pool[set->first + i];
            uint64_t p;
            if ((!any_state && !hil__sched_free(s, r)) || hil__sched_taken(res, depth, r)) continue;
            p = hil__sched_res_pref(s, c, depth, r);
            if ((have_last && p <= last) || (pick != HIL_SCHED_NONE && p >= best)) continue;
            best = p;
            pick = r;
        }
        if (pick == HIL_SCHED_NONE) return 0;
        res[depth] = pick;
        if (hil__sched_assign(s, c, depth + 1, res, any_state, budget)) return 1;
        last = best;
        have_last = 1;
    }
}

/* Matching boards that are quarantined, named in a block reason: that is
 * what the lab's owner has to fix. */
static void hil__sched_note_quarantined(const hil_sched* s, const hil__sched_class* c, const hil__sched_role* ro,
                                        hil_strbuf* b) {
    size_t r;
    unsigned n = 0;
    for (r = 0; r < s->n_res; r++) {
        if (!s->res[r].quarantined || !hil__sched_role_matches(s, c, ro, &s->res[r])) continue;
        if (n < 4) hil_sb_printf(b, "%s%s", n ? ", " : ": quarantined: ", hil__sched_res_name(s, (uint32_t)r));
        n++;
    }
    if (n > 4) hil_sb_printf(b, " and %u more", n - 4);
}

/* Reason text for a class that can never run, or NONE. */
static hil_result hil__sched_block_reason(hil_sched* s, const hil__sched_class* c, uint32_t* out) {
    hil_strbuf b;
    hil_result rc = HIL_OK;
    uint32_t i, tmp[HIL_SCHED_MAX_ROLES];
    int budget = HIL__SCHED_ASSIGN_BUDGET;
    const hil__sched_variant* v = c->variant == HIL_SCHED_NONE ? NULL : &s->vars[c->variant];
    *out = HIL_SCHED_NONE;
    hil__ssb_init(&b);
    if (c->uses_fw && v && v->build != HIL_SCHED_NONE && s->builds[v->build].state == HIL__SCHED_BUILD_FAILED) {
        const char* why = hil__sched_s(s, s->builds[v->build].reason);
        hil_sb_printf(&b, "build of variant '%s' failed: %s", hil__sched_variant_name(s, c->variant),
                      why ? why : "no reason given");
    }
    for (i = 0; i < c->n_roles && !b.len; i++) {
        const hil__sched_role* ro = &c->roles[i];
        const char *t = hil__sched_atom_str(s, ro->type), *g = hil__sched_atom_str(s, ro->tags);
        const char *p = hil__sched_atom_str(s, ro->pin), *n = hil__sched_atom_str(s, ro->name);
        if (s->sets[c->set[i]].n) continue;
        hil_sb_printf(&b, "no usable resource for role '%s' (type %s, tags %s, resource %s, variant %s)", n ? n : "?",
                      t ? t : "any", g ? g : "none", p ? p : "any",
                      ro->fixed_fw || !v ? "any" : hil__sched_variant_name(s, c->variant));
        hil__sched_note_quarantined(s, c, ro, &b);
    }
    if (!b.len && c->n_roles > 1 && !hil__sched_assign(s, c, 0, tmp, 1, &budget) && budget >= 0)
        hil_sb_puts(&b, "its roles cannot be given distinct resources");
    if (b.failed)
        rc = HIL_ERR_NO_MEMORY;
    else if (b.len)
        rc = hil__sched_str_add(&s->str, b.data, b.len, out);
    hil_sb_free(&b);
    return rc;
}

static hil_result hil__sched_class_refresh(hil_sched* s, hil__sched_class* c) {
    hil_result rc = HIL_OK;
    uint32_t i, reason;
    c->constraint = HIL_SCHED_NONE;
    for (i = 0; i < c->n_roles && !rc; i++) {
        rc = hil__sched_set_intern(s, hil__sched_collect(s, c, i, 1), &c->set[i]);
        if (!rc && s->sets[c->set[i]].n < c->constraint) c->constraint = s->sets[c->set[i]].n;
    }
    if (!rc) rc = hil__sched_block_reason(s, c, &reason);
    if (rc) return rc;
    if (reason != HIL_SCHED_NONE) return hil__sched_block_class(s, c, reason);
    c->blocked = 0;
    return HIL_OK;
}

/* Recomputes eligible sets and blocked classes after the model changed. */
static hil_result hil__sched_refresh(hil_sched* s) {
    hil_result rc = HIL_OK;
    size_t i;
    s->n_sets = 0;
    s->n_set_pool = 0;
    for (i = 0; i < s->n_classes && !rc; i++) rc = hil__sched_class_refresh(s, &s->classes[i]);
    if (!rc) s->dirty = 0;
    return rc;
}

static hil_result hil__sched_refresh_if_dirty(hil_sched* s) { return s->dirty ? hil__sched_refresh(s) : HIL_OK; }

/* ---- items -------------------------------------------------------------------- */

static int64_t hil__sched_expected_of(const hil_sched* s, const hil__sched_item* it);

static hil_result hil__sched_role_parse(hil_sched* s, const hil_sched_role* in, hil__sched_role* out) {
    hil_result rc;
    memset(out, 0, sizeof(*out));
    if ((rc = hil__sched_atom(s, in->name, &out->name)) != HIL_OK) return rc;
    if ((rc = hil__sched_atom(s, in->type, &out->type)) != HIL_OK) return rc;
    if ((rc = hil__sched_atom(s, in->tags, &out->tags)) != HIL_OK) return rc;
    if ((rc = hil__sched_atom(s, in->resource, &out->pin)) != HIL_OK) return rc;
    out->fixed_fw = in->fixed_firmware ? 1 : 0;
    return HIL_OK;
}

static hil_result hil__sched_item_validate(const hil_sched* s, const hil_sched_item_spec* sp) {
    uint32_t dummy, i;
    if (!sp || !sp->name || !*sp->name) return hil_error(HIL_ERR_INVALID_ARG, "scheduler: a work item needs a name");
    if (!sp->roles || sp->n_roles == 0 || sp->n_roles > HIL_SCHED_MAX_ROLES)
        return hil_error(HIL_ERR_INVALID_ARG, "scheduler: work item '%s' has %u roles: it needs 1 to %u", sp->name,
                         sp->roles ? (unsigned)sp->n_roles : 0u, (unsigned)HIL_SCHED_MAX_ROLES);
    for (i = 0; i < sp->n_roles; i++)
        if (!sp->roles[i].name || !*sp->roles[i].name)
            return hil_error(HIL_ERR_INVALID_ARG, "scheduler: work item '%s': role %u has no name", sp->name,
                             (unsigned)i + 1);
    if (sp->timeout_ns < 0 || sp->expected_ns < 0)
        return hil_error(HIL_ERR_INVALID_ARG, "scheduler: work item '%s': negative timeout or expected duration",
                         sp->name);
    if (s->n_items >= 0xFFFFFFF0u) return hil_error(HIL_ERR_OVERFLOW, "scheduler: too many work items");
    if (hil_sched_find_item(s, sp->name, &dummy) == HIL_OK)
        return hil_error(HIL_ERR_INVALID_ARG,
                         "scheduler: work item '%s' exists already: names must be unique (they "
                         "are the duration history's key)",
                         sp->name);
    return HIL_OK;
}

static void hil__sched_item_fill(hil_sched* s, hil__sched_item* it, const hil_sched_item_spec* sp, uint32_t name,
                                 uint32_t cls) {
    memset(it, 0, sizeof(*it));
    it->name = name;
    it->cls = cls;
    it->priority = sp->priority;
    it->timeout_ns = sp->timeout_ns;
    it->retries = sp->retries;
    it->submit_ns = sp->submit_ns;
    it->queued_ns = sp->submit_ns;
    it->last_run = HIL_SCHED_NONE;
    it->reason = HIL_SCHED_NONE;
    it->explicit_expected = sp->expected_ns > 0;
    it->expected_ns = sp->expected_ns;
    if (!it->explicit_expected) it->expected_ns = hil__sched_expected_of(s, it);
}

HIL_API hil_result hil_sched_add_item(hil_sched* s, const hil_sched_item_spec* sp, uint32_t* out_id) {
    hil_result rc;
    hil__sched_role roles[HIL_SCHED_MAX_ROLES];
    uint32_t i, variant, cls, name, id;
    if (!s) return hil_error(HIL_ERR_INVALID_ARG, "hil_sched_add_item: no scheduler");
    if ((rc = hil__sched_item_validate(s, sp)) != HIL_OK) return rc;
    rc = hil__sched_variant_n(s, sp->variant, sp->variant ? strlen(sp->variant) : 0, &variant);
    for (i = 0; i < sp->n_roles && !rc; i++) rc = hil__sched_role_parse(s, &sp->roles[i], &roles[i]);
    if (!rc) rc = hil__sched_class_get(s, variant, roles, sp->n_roles, NULL, 0, &cls);
    if (!rc) HIL__SCHED_RESERVE(rc, s->items, s->items_cap, s->n_items + 1);
    if (!rc) rc = hil__sched_str_add(&s->str, sp->name, strlen(sp->name), &name);
    if (rc) return hil__sched_oom(rc, "add_item");
    id = (uint32_t)s->n_items;
    hil__sched_item_fill(s, &s->items[id], sp, name, cls);
    s->n_items++;
    if ((rc = hil__sched_map_put(&s->item_map, hil__sched_item_key, s, id)) != HIL_OK) {
        s->n_items--;
        return hil__sched_oom(rc, "add_item");
    }
    if (out_id) *out_id = id;
    return hil__sched_oom(hil__sched_enqueue(s, id), "add_item");
}

/* Item name for a spec expansion: name, name[variant], name[label] or
 * name[variant/label]. */
static hil_result hil__sched_spec_name(hil_strbuf* b, const char* name, const char* v, size_t vn, const char* label) {
    hil_sb_clear(b);
    hil_sb_puts(b, name);
    if (vn || label) hil_sb_puts(b, "[");
    if (vn) hil_sb_append(b, v, vn);
    if (vn && label) hil_sb_puts(b, "/");
    if (label) hil_sb_puts(b, label);
    if (vn || label) hil_sb_puts(b, "]");
    return b->failed ? HIL_ERR_NO_MEMORY : HIL_OK;
}

typedef struct hil__sched_spec_ctx {
    const hil_sched_spec* spec;
    uint32_t first, count;
} hil__sched_spec_ctx;

static hil_result hil__sched_spec_variant(hil_sched* s, const char* v, size_t vn, void* vctx) {
    hil__sched_spec_ctx* x = (hil__sched_spec_ctx*)vctx;
    const hil_sched_spec* sp = x->spec;
    hil_result rc = HIL_OK;
    hil_strbuf name, var;
    uint32_t i, id;
    hil__ssb_init(&name);
    hil__ssb_init(&var);
    if (vn) hil_sb_append(&var, v, vn);
    for (i = 0; i < sp->n_role_sets && !rc && !var.failed; i++) {
        hil_sched_item_spec it;
        const char* label = sp->n_role_sets > 1 ? sp->role_sets[i].label : NULL;
        if (sp->n_role_sets > 1 && (!label || !*label))
            rc = hil_error(HIL_ERR_INVALID_ARG, "scheduler: spec '%s' has %u role sets: each needs a label", sp->name,
                           (unsigned)sp->n_role_sets);
        if (!rc) rc = hil__sched_spec_name(&name, sp->name, v, vn, label);
        if (rc) break;
        memset(&it, 0, sizeof(it));
        it.name = name.data;
        it.variant = vn ? var.data : NULL;
        it.roles = sp->role_sets[i].roles;
        it.n_roles = sp->role_sets[i].n_roles;
        it.priority = sp->priority;
        it.timeout_ns = sp->timeout_ns;
        it.retries = sp->retries;
        it.expected_ns = sp->expected_ns;
        if ((rc = hil_sched_add_item(s, &it, &id)) != HIL_OK) break;
        if (x->count++ == 0) x->first = id;
    }
    if (var.failed || name.failed) rc = hil_error(HIL_ERR_NO_MEMORY, "scheduler: add_spec: out of memory");
    hil_sb_free(&name);
    hil_sb_free(&var);
    return rc;
}

/* Expands a spec into one work item per (variant, role set). */
HIL_API hil_result hil_sched_add_spec(hil_sched* s, const hil_sched_spec* sp, uint32_t* first_item, uint32_t* n_items) {
    hil__sched_spec_ctx x;
    hil_result rc;
    if (!s || !sp || !sp->name || !*sp->name) return hil_error(HIL_ERR_INVALID_ARG, "scheduler: a spec needs a name");
    if (!sp->role_sets || !sp->n_role_sets)
        return hil_error(HIL_ERR_INVALID_ARG, "scheduler: spec '%s' has no role set: it needs at least one role",
                         sp->name);
    x.spec = sp;
    x.first = HIL_SCHED_NONE;
    x.count = 0;
    if (sp->variants && strspn(sp->variants, " ,\t") != strlen(sp->variants))
        rc = hil__sched_each_token(s, sp->variants, hil__sched_spec_variant, &x);
    else
        rc = hil__sched_spec_variant(s, NULL, 0, &x);
    if (first_item) *first_item = x.first;
    if (n_items) *n_items = x.count;
    return rc;
}

HIL_API hil_result hil_sched_set_quarantine(hil_sched* s, uint32_t r, int on) {
    hil__sched_res* res;
    if (!s || r >= s->n_res)
        return hil_error(HIL_ERR_INVALID_ARG, "hil_sched_set_quarantine: no resource %u", (unsigned)r);
    res = &s->res[r];
    if ((res->quarantined != 0) == (on != 0)) return HIL_OK;
    if (res->run == HIL_SCHED_NONE && !res->held) s->n_free += on ? (uint32_t)-1 : 1u;
    res->quarantined = on ? 1 : 0;
    if (!on) res->infra_streak = 0;
    s->dirty = 1;
    s->idle = 0;
    return HIL_OK;
}

/* A board another process holds (PART 3's board locks) is busy but still
 * eligible: its items wait for it instead of being Blocked. */
HIL_API hil_result hil_sched_set_held(hil_sched* s, uint32_t r, int on) {
    hil__sched_res* res;
    if (!s || r >= s->n_res) return hil_error(HIL_ERR_INVALID_ARG, "hil_sched_set_held: no resource %u", (unsigned)r);
    res = &s->res[r];
    if ((res->held != 0) == (on != 0)) return HIL_OK;
    if (res->run == HIL_SCHED_NONE && !res->quarantined) s->n_free += on ? (uint32_t)-1 : 1u;
    res->held = on ? 1 : 0;
    s->idle = 0;
    return HIL_OK;
}

/* ---- expected durations ------------------------------------------------------- */

/* History first; without it a guess from the timeout (runs rarely use their
 * whole timeout), else the configured default. */
static int64_t hil__sched_expected_of(const hil_sched* s, const hil__sched_item* it) {
    int64_t ema;
    if (it->explicit_expected) return it->expected_ns;
    if (s->history && hil_sched_history_lookup(s->history, s->str.p + it->name, &ema, NULL) == HIL_OK && ema > 0)
        return ema;
    if (it->timeout_ns > 0) {
        int64_t g = it->timeout_ns / 100 * (int64_t)s->cfg.timeout_guess_percent;
        return g > 0 ? g : 1;
    }
    return s->cfg.default_expected_ns;
}

HIL_API hil_result hil_sched_use_history(hil_sched* s, hil_sched_history* h) {
    size_t i;
    if (!s) return HIL_ERR_INVALID_ARG;
    s->history = h;
    for (i = 0; i < s->n_items; i++) s->items[i].expected_ns = hil__sched_expected_of(s, &s->items[i]);
    hil__sched_rebuild_heaps(s);
    return HIL_OK;
}

/* ---- choosing the next run ------------------------------------------------------ */

typedef struct hil__sched_cand {
    uint32_t cls, item;
    uint32_t res[HIL_SCHED_MAX_ROLES];
    unsigned reflash_mask;
    uint32_t n_reflash, constraint, board_vars;
    int64_t bneck;
} hil__sched_cand;

static int hil__sched_fw_ready(const hil_sched* s, const hil__sched_class* c) {
    uint32_t b;
    if (!c->uses_fw) return 1;
    b = s->vars[c->variant].build;
    return b == HIL_SCHED_NONE || s->builds[b].state == HIL__SCHED_BUILD_DONE;
}

/* Release time of a class's firmware (0 when none is built). */
static int64_t hil__sched_release(const hil_sched* s, const hil__sched_class* c) {
    uint32_t b;
    if (!c->uses_fw) return 0;
    b = s->vars[c->variant].build;
    return b == HIL_SCHED_NONE ? 0 : s->builds[b].end_ns;
}

/* Bottleneck pressure: waiting expected work per usable resource of each
 * eligible set.  An item's bottleneck key is the max over its roles. */
static void hil__sched_pressure(hil_sched* s) {
    size_t i;
    uint32_t r;
    for (i = 0; i < s->n_sets; i++) s->sets[i].pressure = 0;
    for (i = 0; i < s->n_classes; i++) {
        const hil__sched_class* c = &s->classes[i];
        if (c->blocked || !c->n) continue;
        for (r = 0; r < c->n_roles; r++) s->sets[c->set[r]].pressure += c->waiting_ns;
    }
    for (i = 0; i < s->n_sets; i++)
        if (s->sets[i].n) s->sets[i].pressure /= (int64_t)s->sets[i].n;
}

static int hil__sched_class_cand(const hil_sched* s, uint32_t ci, hil__sched_cand* k) {
    const hil__sched_class* c = &s->classes[ci];
    uint32_t r;
    int budget = HIL__SCHED_ASSIGN_BUDGET;
    if (!c->n || c->blocked || !hil__sched_fw_ready(s, c)) return 0;
    if (!hil__sched_assign(s, c, 0, k->res, 0, &budget)) return 0;
    k->cls = ci;
    k->item = c->heap[0];
    k->reflash_mask = 0;
    k->n_reflash = 0;
    k->bneck = 0;
    k->constraint = c->constraint;
    k->board_vars = s->res[k->res[0]].n_vars;
    for (r = 0; r < c->n_roles; r++) {
        if (hil__sched_needs_reflash(s, c, r, k->res[r])) {
            k->reflash_mask |= 1u << r;
            k->n_reflash++;
        }
        if (s->cfg.bottleneck_aware && s->sets[c->set[r]].pressure > k->bneck) k->bneck = s->sets[c->set[r]].pressure;
    }
    return 1;
}

/* The documented choice key; returns nonzero when a goes before b. */
static int hil__sched_cand_before(const hil_sched* s, const hil__sched_cand* a, const hil__sched_cand* b) {
    const hil__sched_item *x = &s->items[a->item], *y = &s->items[b->item];
    int c;
    if (x->priority != y->priority) return x->priority > y->priority;
    switch (s->cfg.policy) {
    case HIL_SCHED_POLICY_KEY:
        if (a->bneck != b->bneck) return a->bneck > b->bneck;
        if (x->expected_ns != y->expected_ns) return x->expected_ns > y->expected_ns;
        if (a->constraint != b->constraint) return a->constraint < b->constraint;
        if (a->n_reflash != b->n_reflash) return a->n_reflash < b->n_reflash;
        break;
    case HIL_SCHED_POLICY_BARTENDER:
        if (a->board_vars != b->board_vars) return a->board_vars > b->board_vars;
        if (a->n_reflash != b->n_reflash) return a->n_reflash < b->n_reflash;
        break;
    default:
        return a->item < b->item;
    }
    c = strcmp(s->str.p + x->name, s->str.p + y->name);
    return c ? c < 0 : a->item < b->item;
}

static int hil__sched_pick(hil_sched* s, hil__sched_cand* best) {
    hil__sched_cand k;
    size_t i;
    int found = 0;
    memset(&k, 0, sizeof(k));
    *best = k;
    if (s->cfg.policy == HIL_SCHED_POLICY_KEY && s->cfg.bottleneck_aware) hil__sched_pressure(s);
    for (i = 0; i < s->n_classes; i++) {
        if (!hil__sched_class_cand(s, (uint32_t)i, &k)) continue;
        if (!found || hil__sched_cand_before(s, &k, best)) *best = k;
        found = 1;
    }
    return found;
}

static void hil__sched_fill_decision(const hil_sched* s, uint32_t run, hil_sched_decision* d) {
    const hil__sched_run* r = &s->runs[run];
    const hil__sched_class* c = &s->classes[s->items[r->item].cls];
    uint32_t i;
    d->kind = HIL_SCHED_NEXT_START;
    d->run = run;
    d->item = r->item;
    d->n_roles = r->n_res;
    for (i = 0; i < r->n_res; i++) d->resources[i] = s->ids[r->res_first + i];
    d->reflash_mask = r->reflash_mask;
    d->deadline_ns = r->deadline_ns;
    d->name = hil__sched_item_name(s, r->item);
    d->variant = hil__sched_variant_name(s, c->variant);
    d->reason = NULL;
}

static int64_t hil__sched_max64(int64_t a, int64_t b) { return a > b ? a : b; }

/* Locks the candidate's resources and records the run. */
static hil_result hil__sched_start(hil_sched* s, const hil__sched_cand* k, int64_t now, hil_sched_decision* d) {
    hil_result rc = HIL_OK;
    hil__sched_class* c = &s->classes[k->cls];
    hil__sched_run* run;
    hil__sched_item* it;
    uint32_t r, id = (uint32_t)s->n_runs;
    HIL__SCHED_RESERVE(rc, s->runs, s->runs_cap, s->n_runs + 1);
    if (!rc) HIL__SCHED_RESERVE(rc, s->ids, s->ids_cap, s->n_ids + c->n_roles);
    if (rc) return rc;
    it = &s->items[hil__sched_heap_pop(s, c)];
    run = &s->runs[s->n_runs++];
    memset(run, 0, sizeof(*run));
    run->item = k->item;
    run->attempt = it->attempts++;
    run->res_first = (uint32_t)s->n_ids;
    run->n_res = c->n_roles;
    run->ready_ns = hil__sched_max64(hil__sched_max64(it->queued_ns, s->t0), hil__sched_release(s, c));
    run->start_ns = now;
    run->deadline_ns = it->timeout_ns > 0 ? now + it->timeout_ns : 0;
    run->reflash_mask = k->reflash_mask;
    run->open = 1;
    for (r = 0; r < c->n_roles; r++) {
        hil__sched_res* res = &s->res[k->res[r]];
        s->ids[s->n_ids++] = k->res[r];
        res->run = id;
        if (!c->roles[r].fixed_fw && c->variant != HIL_SCHED_NONE) res->flashed = c->variant;
    }
    s->n_free -= c->n_roles;
    s->n_running++;
    it->state = HIL_SCHED_ITEM_RUNNING;
    it->last_run = id;
    hil__sched_fill_decision(s, id, d);
    return HIL_OK;
}

static void hil__sched_emit_blocked(hil_sched* s, hil_sched_decision* d) {
    uint32_t item = s->blockq[s->blockq_head++];
    const hil__sched_item* it = &s->items[item];
    d->kind = HIL_SCHED_NEXT_BLOCKED;
    d->item = item;
    d->name = hil__sched_item_name(s, item);
    d->variant = hil__sched_variant_name(s, s->classes[it->cls].variant);
    d->reason = hil__sched_s(s, it->reason);
}

HIL_API hil_result hil_sched_next(hil_sched* s, int64_t now_ns, hil_sched_decision* d) {
    hil__sched_cand best;
    hil_result rc;
    if (!s || !d) return hil_error(HIL_ERR_INVALID_ARG, "hil_sched_next: no scheduler or decision");
    memset(d, 0, sizeof(*d));
    d->kind = HIL_SCHED_NEXT_NONE;
    d->run = d->item = HIL_SCHED_NONE;
    if ((rc = hil__sched_note_time(s, now_ns)) != HIL_OK) return rc;
    if ((rc = hil__sched_refresh_if_dirty(s)) != HIL_OK) return hil__sched_oom(rc, "next");
    if (s->blockq_head < s->n_blockq) {
        hil__sched_emit_blocked(s, d);
        return HIL_OK;
    }
    if (s->idle || !s->n_free || (s->cfg.jobs && s->n_running >= s->cfg.jobs)) return HIL_OK;
    if (!hil__sched_pick(s, &best)) {
        s->idle = 1;
        return HIL_OK;
    }
    return hil__sched_oom(hil__sched_start(s, &best, now_ns, d), "next");
}

/* ---- finishing runs ----------------------------------------------------------------- */

static void hil__sched_release_res(hil_sched* s, const hil__sched_run* run, unsigned infra_mask, uint32_t* blamed,
                                   uint32_t* n_blamed) {
    uint32_t i;
    *n_blamed = 0;
    for (i = 0; i < run->n_res; i++) {
        uint32_t id = s->ids[run->res_first + i];
        hil__sched_res* r = &s->res[id];
        r->run = HIL_SCHED_NONE;
        if (infra_mask & (1u << i)) {
            blamed[(*n_blamed)++] = id;
            r->flashed = HIL_SCHED_NONE; /* state of a failed board is unknown */
            if (s->cfg.quarantine_after && ++r->infra_streak >= s->cfg.quarantine_after && !r->quarantined) {
                r->quarantined = 1;
                s->dirty = 1;
            }
        } else {
            r->infra_streak = 0;
        }
        if (!r->quarantined && !r->held) s->n_free++;
    }
}

static int hil__sched_cmp_u32(const void* a, const void* b) {
    uint32_t x = *(const uint32_t*)a, y = *(const uint32_t*)b;
    return x < y ? -1 : x > y;
}

/* The class for a retry: same constraints, avoid list grown by the blamed
 * resources, so the retry goes to another board when one exists. */
static hil_result hil__sched_retry_class(hil_sched* s, uint32_t item, const uint32_t* blamed, uint32_t n_blamed,
                                         uint32_t* out) {
    const hil__sched_class* c = &s->classes[s->items[item].cls];
    hil__sched_role roles[HIL_SCHED_MAX_ROLES];
    uint32_t *avoid, n = 0, i;
    hil_result rc;
    avoid = (uint32_t*)HIL_MALLOC((c->n_avoid + n_blamed + 1) * sizeof(uint32_t));
    if (!avoid) return HIL_ERR_NO_MEMORY;
    for (i = 0; i < c->n_avoid; i++) avoid[n++] = s->ids[c->avoid_first + i];
    for (i = 0; i < n_blamed; i++)
        if (!hil__sched_list_has(s, c->avoid_first, c->n_avoid, blamed[i])) avoid[n++] = blamed[i];
    qsort(avoid, n, sizeof(uint32_t), hil__sched_cmp_u32);
    memcpy(roles, c->roles, sizeof(roles));
    rc = hil__sched_class_get(s, c->variant, roles, c->n_roles, avoid, n, out);
    HIL_FREE(avoid);
    return rc;
}

static void hil__sched_record_history(hil_sched* s, const hil__sched_run* run) {
    if (!s->history || run->infra_mask || run->requeued) return;
    if (run->outcome != HIL_SCHED_PASSED && run->outcome != HIL_SCHED_FAILED) return;
    /* history is advisory: an allocation failure here only loses one sample */
    (void)hil_sched_history_update(s->history, hil__sched_item_name(s, run->item), run->end_ns - run->start_ns);
}

HIL_API hil_result hil_sched_run_finished(hil_sched* s, uint32_t run, hil_sched_outcome outcome, unsigned infra_mask,
                                          int64_t now_ns) {
    hil__sched_run* r;
    hil__sched_item* it;
    uint32_t blamed[HIL_SCHED_MAX_ROLES], n_blamed, retry_cls = HIL_SCHED_NONE;
    hil_result rc = HIL_OK;
    if (!s || run >= s->n_runs)
        return hil_error(HIL_ERR_INVALID_ARG, "hil_sched_run_finished: no run %u", (unsigned)run);
    if (outcome < HIL_SCHED_PASSED || outcome > HIL_SCHED_ERROR)
        return hil_error(HIL_ERR_INVALID_ARG,
                         "hil_sched_run_finished: outcome %d is not PASSED, FAILED, TIMEOUT or ERROR", (int)outcome);
    r = &s->runs[run];
    if (!r->open)
        return hil_error(HIL_ERR_STATE, "scheduler: run %u of '%s' was finished already", (unsigned)run,
                         hil__sched_item_name(s, r->item));
    if ((rc = hil__sched_note_time(s, now_ns)) != HIL_OK) return rc;
    infra_mask &= (1u << r->n_res) - 1u;
    it = &s->items[r->item];
    if (infra_mask && it->attempts <= it->retries) {
        uint32_t i;
        for (i = n_blamed = 0; i < r->n_res; i++)
            if (infra_mask & (1u << i)) blamed[n_blamed++] = s->ids[r->res_first + i];
        if ((rc = hil__sched_retry_class(s, r->item, blamed, n_blamed, &retry_cls)) != HIL_OK)
            return hil__sched_oom(rc, "run_finished");
    }
    r->open = 0;
    r->end_ns = now_ns;
    r->outcome = (uint8_t)outcome;
    r->infra_mask = infra_mask;
    hil__sched_release_res(s, r, infra_mask, blamed, &n_blamed);
    s->n_running--;
    s->idle = 0;
    if (retry_cls != HIL_SCHED_NONE) {
        r->requeued = 1;
        it->cls = retry_cls;
        it->queued_ns = now_ns;
        return hil__sched_oom(hil__sched_enqueue(s, r->item), "run_finished");
    }
    it->state = HIL_SCHED_ITEM_DONE;
    it->outcome = (uint8_t)outcome;
    hil__sched_record_history(s, r);
    return HIL_OK;
}

HIL_API hil_result hil_sched_next_deadline(const hil_sched* s, int64_t* deadline_ns, uint32_t* run) {
    size_t i;
    int found = 0;
    if (!s || !deadline_ns) return HIL_ERR_INVALID_ARG;
    for (i = 0; i < s->n_res; i++) {
        uint32_t id = s->res[i].run;
        int64_t dl;
        if (id == HIL_SCHED_NONE || !(dl = s->runs[id].deadline_ns)) continue;
        if (found && dl >= *deadline_ns) continue;
        *deadline_ns = dl;
        if (run) *run = id;
        found = 1;
    }
    return found ? HIL_OK : HIL_ERR_NOT_FOUND;
}

/* ---- the build lane ---------------------------------------------------------------- */

/* A build is worth starting only while some runnable item waits for it. */
static int hil__sched_build_needed(const hil_sched* s, uint32_t variant) {
    size_t i;
    for (i = 0; i < s->n_classes; i++) {
        const hil__sched_class* c = &s->classes[i];
        if (c->variant == variant && c->uses_fw && !c->blocked && c->n) return 1;
    }
    return 0;
}

/* Work each eligible set can still do without new firmware, per member:
 * waiting items whose firmware is ready plus the expected rest of running
 * runs.  Below one build's duration, the set's boards will idle. */
static void hil__sched_ready_work(hil_sched* s, int64_t now) {
    size_t i, k;
    uint32_t r;
    for (i = 0; i < s->n_sets; i++) {
        hil__sched_set* e = &s->sets[i];
        e->ready = 0;
        for (k = 0; k < e->n; k++) {
            const hil__sched_res* res = &s->res[s->set_pool[e->first + k]];
            const hil__sched_run* run = res->run == HIL_SCHED_NONE ? NULL : &s->runs[res->run];
            if (run) e->ready += hil__sched_max64(0, run->start_ns + s->items[run->item].expected_ns - now);
        }
    }
    for (i = 0; i < s->n_classes; i++) {
        const hil__sched_class* c = &s->classes[i];
        if (c->blocked || !c->n || !hil__sched_fw_ready(s, c)) continue;
        for (r = 0; r < c->n_roles; r++) s->sets[c->set[r]].ready += c->waiting_ns;
    }
    for (i = 0; i < s->n_sets; i++)
        if (s->sets[i].n) s->sets[i].ready /= (int64_t)s->sets[i].n;
}

typedef struct hil__sched_bkey {
    int64_t starving; /* max waiting work per board over the sets it feeds
                         that will idle before this build can end */
    int64_t press;    /* max waiting work per board over all sets it feeds */
    int64_t unlock;   /* expected work waiting for this firmware */
} hil__sched_bkey;

static hil__sched_bkey hil__sched_build_key(const hil_sched* s, uint32_t b) {
    hil__sched_bkey k;
    size_t i;
    uint32_t r;
    memset(&k, 0, sizeof(k));
    for (i = 0; i < s->n_classes; i++) {
        const hil__sched_class* c = &s->classes[i];
        if (c->variant != s->builds[b].variant || !c->uses_fw || c->blocked || !c->n) continue;
        k.unlock += c->waiting_ns;
        for (r = 0; r < c->n_roles; r++) {
            const hil__sched_set* e = &s->sets[c->set[r]];
            if (e->ready < s->builds[b].expected_ns) k.starving = hil__sched_max64(k.starving, e->pressure);
            k.press = hil__sched_max64(k.press, e->pressure);
        }
    }
    return k;
}

/* Smith's rule: more work unlocked per second of build first.  Compared in
 * whole milliseconds so the products stay in range and exact. */
static int hil__sched_wspt_cmp(int64_t wa, int64_t da, int64_t wb, int64_t db) {
    int64_t lhs = (wa / 1000000) * (db / 1000000 + 1), rhs = (wb / 1000000) * (da / 1000000 + 1);
    return lhs > rhs ? 1 : lhs < rhs ? -1 : 0;
}

/* Build order: priority, then (KEY policy) the build feeding the most loaded
 * set that is about to idle, then the most loaded set, then the most work
 * unlocked per build second; then insertion order. */
static int hil__sched_build_before(const hil_sched* s, uint32_t a, uint32_t b) {
    hil__sched_bkey x, y;
    int c;
    if (s->builds[a].priority != s->builds[b].priority) return s->builds[a].priority > s->builds[b].priority;
    if (s->cfg.policy == HIL_SCHED_POLICY_KEY) {
        x = hil__sched_build_key(s, a);
        y = hil__sched_build_key(s, b);
        if (x.starving != y.starving) return x.starving > y.starving;
        if (x.press != y.press) return x.press > y.press;
        c = hil__sched_wspt_cmp(x.unlock, s->builds[a].expected_ns, y.unlock, s->builds[b].expected_ns);
        if (c) return c > 0;
    }
    return a < b;
}

HIL_API hil_result hil_sched_next_build(hil_sched* s, int64_t now_ns, uint32_t* build) {
    hil_result rc;
    uint32_t i, best = HIL_SCHED_NONE;
    if (!s || !build) return hil_error(HIL_ERR_INVALID_ARG, "hil_sched_next_build: no scheduler or result pointer");
    *build = HIL_SCHED_NONE;
    if ((rc = hil__sched_note_time(s, now_ns)) != HIL_OK) return rc;
    if ((rc = hil__sched_refresh_if_dirty(s)) != HIL_OK) return hil__sched_oom(rc, "next_build");
    if (s->builds_running >= s->cfg.build_lanes) return HIL_OK;
    if (s->cfg.policy == HIL_SCHED_POLICY_KEY) {
        hil__sched_pressure(s);
        hil__sched_ready_work(s, now_ns);
    }
    for (i = 0; i < s->n_builds; i++) {
        if (s->builds[i].state != HIL__SCHED_BUILD_PENDING) continue;
        if (!hil__sched_build_needed(s, s->builds[i].variant)) continue;
        if (best == HIL_SCHED_NONE || hil__sched_build_before(s, i, best)) best = i;
    }
    if (best == HIL_SCHED_NONE) return HIL_OK;
    s->builds[best].state = HIL__SCHED_BUILD_RUNNING;
    s->builds[best].start_ns = now_ns;
    s->builds_running++;
    *build = best;
    return HIL_OK;
}

static hil_result hil__sched_build_done(hil_sched* s, uint32_t b, int ok, const char* reason, int64_t now) {
    hil__sched_build* bd = &s->builds[b];
    uint32_t off = HIL_SCHED_NONE;
    hil_result rc;
    if (bd->state == HIL__SCHED_BUILD_DONE || bd->state == HIL__SCHED_BUILD_FAILED)
        return hil_error(HIL_ERR_STATE, "scheduler: the build of '%s' was finished already",
                         hil__sched_variant_name(s, bd->variant));
    if (!ok && (rc = hil__sched_str_add(&s->str, reason ? reason : "build failed",
                                        strlen(reason ? reason : "build failed"), &off)) != HIL_OK)
        return rc;
    bd = &s->builds[b];
    if (bd->state == HIL__SCHED_BUILD_RUNNING)
        s->builds_running--;
    else
        bd->start_ns = now;
    bd->state = ok ? HIL__SCHED_BUILD_DONE : HIL__SCHED_BUILD_FAILED;
    bd->end_ns = now;
    bd->reason = off;
    if (!ok) s->dirty = 1; /* refresh blocks the runs needing it */
    s->idle = 0;
    return HIL_OK;
}

HIL_API hil_result hil_sched_build_finished(hil_sched* s, const char* variant, int ok, const char* reason,
                                            int64_t now_ns) {
    uint32_t atom, v;
    if (!s || !variant) return hil_error(HIL_ERR_INVALID_ARG, "hil_sched_build_finished: no scheduler or variant");
    atom = hil__sched_map_find(&s->atom_map, hil__sched_atom_key, s, variant, strlen(variant));
    v = atom == HIL_SCHED_NONE ? HIL_SCHED_NONE : hil__sched_variant_find(s, atom);
    if (v == HIL_SCHED_NONE || s->vars[v].build == HIL_SCHED_NONE)
        return hil_error(HIL_ERR_NOT_FOUND, "scheduler: no build of variant '%s'", variant);
    if (hil__sched_note_time(s, now_ns) != HIL_OK) return HIL_ERR_INVALID_ARG;
    return hil__sched_build_done(s, s->vars[v].build, ok, reason, now_ns);
}

/* ---- queries ---------------------------------------------------------------------- */

HIL_API uint32_t hil_sched_item_count(const hil_sched* s) { return s ? (uint32_t)s->n_items : 0; }
HIL_API uint32_t hil_sched_resource_count(const hil_sched* s) { return s ? (uint32_t)s->n_res : 0; }
HIL_API uint32_t hil_sched_run_count(const hil_sched* s) { return s ? (uint32_t)s->n_runs : 0; }
HIL_API uint32_t hil_sched_build_count(const hil_sched* s) { return s ? (uint32_t)s->n_builds : 0; }

HIL_API uint32_t hil_sched_unfinished(const hil_sched* s) {
    size_t i;
    uint32_t n = 0;
    if (!s) return 0;
    for (i = 0; i < s->n_items; i++)
        n += s->items[i].state == HIL_SCHED_ITEM_WAITING || s->items[i].state == HIL_SCHED_ITEM_RUNNING;
    return n;
}

HIL_API hil_result hil_sched_find_item(const hil_sched* s, const char* name, uint32_t* id) {
    if (!s || !name || !id) return HIL_ERR_INVALID_ARG;
    *id = hil__sched_map_find(&s->item_map, hil__sched_item_key, s, name, strlen(name));
    return *id == HIL_SCHED_NONE ? HIL_ERR_NOT_FOUND : HIL_OK;
}

HIL_API hil_result hil_sched_find_resource(const hil_sched* s, const char* name, uint32_t* id) {
    uint32_t atom;
    size_t i;
    if (!s || !name || !id) return HIL_ERR_INVALID_ARG;
    *id = HIL_SCHED_NONE;
    atom = hil__sched_map_find(&s->atom_map, hil__sched_atom_key, s, name, strlen(name));
    for (i = 0; atom != HIL_SCHED_NONE && i < s->n_res; i++)
        if (s->res[i].name == atom) *id = (uint32_t)i;
    return *id == HIL_SCHED_NONE ? HIL_ERR_NOT_FOUND : HIL_OK;
}

HIL_API hil_result hil_sched_item_info_get(const hil_sched* s, uint32_t item, hil_sched_item_info* out) {
    const hil__sched_item* it;
    if (!s || !out || item >= s->n_items) return HIL_ERR_INVALID_ARG;
    it = &s->items[item];
    memset(out, 0, sizeof(*out));
    out->name = s->str.p + it->name;
    out->variant = hil__sched_variant_name(s, s->classes[it->cls].variant);
    out->reason = hil__sched_s(s, it->reason);
    out->state = (hil_sched_item_state)it->state;
    out->outcome = (hil_sched_outcome)it->outcome;
    out->priority = it->priority;
    out->expected_ns = it->expected_ns;
    out->timeout_ns = it->timeout_ns;
    out->attempts = it->attempts;
    out->retries = it->retries;
    out->n_roles = s->classes[it->cls].n_roles;
    out->last_run = it->last_run;
    return HIL_OK;
}

HIL_API hil_result hil_sched_resource_info_get(const hil_sched* s, uint32_t res, hil_sched_resource_info* out) {
    const hil__sched_res* r;
    if (!s || !out || res >= s->n_res) return HIL_ERR_INVALID_ARG;
    r = &s->res[res];
    out->name = hil__sched_atom_str(s, r->name);
    out->type = hil__sched_atom_str(s, r->type);
    out->flashed = hil__sched_variant_name(s, r->flashed);
    out->quarantined = r->quarantined;
    out->run = r->run;
    out->infra_streak = r->infra_streak;
    out->held = r->held;
    return HIL_OK;
}

HIL_API hil_result hil_sched_run_info_get(const hil_sched* s, uint32_t run, hil_sched_run_info* out) {
    const hil__sched_run* r;
    if (!s || !out || run >= s->n_runs) return HIL_ERR_INVALID_ARG;
    r = &s->runs[run];
    out->item = r->item;
    out->attempt = r->attempt;
    out->n_resources = r->n_res;
    out->resources = s->ids + r->res_first;
    out->ready_ns = r->ready_ns;
    out->start_ns = r->start_ns;
    out->end_ns = r->end_ns;
    out->deadline_ns = r->deadline_ns;
    out->open = r->open;
    out->requeued = r->requeued;
    out->outcome = (hil_sched_outcome)r->outcome;
    out->infra_mask = r->infra_mask;
    out->reflash_mask = r->reflash_mask;
    return HIL_OK;
}

HIL_API const char* hil_sched_build_variant(const hil_sched* s, uint32_t build) {
    if (!s || build >= s->n_builds) return NULL;
    return hil__sched_variant_name(s, s->builds[build].variant);
}

HIL_API hil_result hil_sched_build_info_get(const hil_sched* s, uint32_t build, hil_sched_build_info* out) {
    const hil__sched_build* b;
    if (!s || !out || build >= s->n_builds) return HIL_ERR_INVALID_ARG;
    b = &s->builds[build];
    out->variant = hil__sched_variant_name(s, b->variant);
    out->reason = hil__sched_s(s, b->reason);
    out->priority = b->priority;
    out->state = b->state;
    out->expected_ns = b->expected_ns;
    out->start_ns = b->start_ns;
    out->end_ns = b->end_ns;
    return HIL_OK;
}

HIL_API const char* hil_sched_outcome_name(hil_sched_outcome o) {
    static const char* const names[] = {"pending", "passed", "failed", "timeout", "error", "blocked", "skipped"};
    return (unsigned)o < sizeof(names) / sizeof(names[0]) ? names[o] : "?";
}

/* ---- simulation on a virtual clock --------------------------------------------------- */

enum { HIL__SCHED_EV_RUN, HIL__SCHED_EV_BUILD };

typedef struct hil__sched_event {
    int64_t t;
    uint64_t seq; /* ties resolve in push order: deterministic */
    uint32_t kind, id;
    unsigned infra_mask;
    uint8_t outcome, ok;
} hil__sched_event;

typedef struct hil__sched_evq {
    hil__sched_event* v;
    size_t n, cap;
    uint64_t seq;
} hil__sched_evq;

static int hil__sched_ev_before(const hil__sched_event* a, const hil__sched_event* b) {
    return a->t != b->t ? a->t < b->t : a->seq < b->seq;
}

static hil_result hil__sched_ev_push(hil__sched_evq* q, hil__sched_event e) {
    hil_result rc = HIL_OK;
    size_t i;
    HIL__SCHED_RESERVE(rc, q->v, q->cap, q->n + 1);
    if (rc) return rc;
    e.seq = q->seq++;
    for (i = q->n++; i > 0 && hil__sched_ev_before(&e, &q->v[(i - 1) / 2]); i = (i - 1) / 2)
        q->v[i] = q->v[(i - 1) / 2];
    q->v[i] = e;
    return HIL_OK;
}

static hil__sched_event hil__sched_ev_pop(hil__sched_evq* q) {
    hil__sched_event top = q->v[0], last = q->v[--q->n];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, m = l;
        if (l >= q->n) break;
        if (l + 1 < q->n && hil__sched_ev_before(&q->v[l + 1], &q->v[l])) m = l + 1;
        if (!hil__sched_ev_before(&q->v[m], &last)) break;
        q->v[i] = q->v[m];
        i = m;
    }
    if (q->n) q->v[i] = last;
    return top;
}

static hil__sched_event hil__sched_ev_make(int64_t t, uint32_t kind, uint32_t id) {
    hil__sched_event e;
    memset(&e, 0, sizeof(e));
    e.t = t;
    e.kind = kind;
    e.id = id;
    e.outcome = HIL_SCHED_PASSED;
    e.ok = 1;
    return e;
}

/* Runs and builds already under way finish at their expected time. */
static hil_result hil__sched_sim_seed(const hil_sched* s, hil__sched_evq* q, int64_t now) {
    hil_result rc = HIL_OK;
    size_t i;
    for (i = 0; i < s->n_runs && !rc; i++) {
        const hil__sched_run* r = &s->runs[i];
        if (!r->open) continue;
        rc =
            hil__sched_ev_push(q, hil__sched_ev_make(hil__sched_max64(now, r->start_ns + s->items[r->item].expected_ns),
                                                     HIL__SCHED_EV_RUN, (uint32_t)i));
    }
    for (i = 0; i < s->n_builds && !rc; i++) {
        const hil__sched_build* b = &s->builds[i];
        if (b->state != HIL__SCHED_BUILD_RUNNING) continue;
        rc = hil__sched_ev_push(q, hil__sched_ev_make(hil__sched_max64(now, b->start_ns + b->expected_ns),
                                                      HIL__SCHED_EV_BUILD, (uint32_t)i));
    }
    return rc;
}

static hil_result hil__sched_sim_build(hil_sched* s, const hil_sched_sim_ops* ops, hil__sched_evq* q, uint32_t b,
                                       int64_t now) {
    int64_t dur = s->builds[b].expected_ns;
    int ok = 1;
    hil__sched_event e;
    if (ops && ops->build) ops->build(ops->user, s, b, &dur, &ok);
    e = hil__sched_ev_make(now + (dur > 0 ? dur : 0), HIL__SCHED_EV_BUILD, b);
    e.ok = (uint8_t)(ok != 0);
    return hil__sched_ev_push(q, e);
}

/* A run longer than its timeout ends at the deadline as TIMEOUT. */
static hil_result hil__sched_sim_run(hil_sched* s, const hil_sched_sim_ops* ops, hil__sched_evq* q,
                                     const hil_sched_decision* d, int64_t now) {
    hil_sched_sim_result res;
    hil__sched_event e;
    res.duration_ns = s->items[d->item].expected_ns;
    res.outcome = HIL_SCHED_PASSED;
    res.infra_mask = 0;
    if (ops && ops->run) ops->run(ops->user, s, d, &res);
    if (res.duration_ns < 0) res.duration_ns = 0;
    if (res.outcome < HIL_SCHED_PASSED || res.outcome > HIL_SCHED_ERROR) res.outcome = HIL_SCHED_ERROR;
    e = hil__sched_ev_make(now + res.duration_ns, HIL__SCHED_EV_RUN, d->run);
    e.outcome = (uint8_t)res.outcome;
    e.infra_mask = res.infra_mask;
    if (d->deadline_ns && e.t > d->deadline_ns) {
        e.t = d->deadline_ns;
        e.outcome = HIL_SCHED_TIMEOUT;
    }
    return hil__sched_ev_push(q, e);
}

/* Starts every build and run that can start at 'now'. */
static hil_result hil__sched_sim_dispatch(hil_sched* s, const hil_sched_sim_ops* ops, hil__sched_evq* q, int64_t now) {
    hil_result rc;
    hil_sched_decision d;
    uint32_t b;
    for (;;) {
        if ((rc = hil_sched_next_build(s, now, &b)) != HIL_OK) return rc;
        if (b == HIL_SCHED_NONE) break;
        if ((rc = hil__sched_sim_build(s, ops, q, b, now)) != HIL_OK) return rc;
    }
    for (;;) {
        if ((rc = hil_sched_next(s, now, &d)) != HIL_OK) return rc;
        if (d.kind == HIL_SCHED_NEXT_NONE) return HIL_OK;
        if (d.kind == HIL_SCHED_NEXT_START && (rc = hil__sched_sim_run(s, ops, q, &d, now)) != HIL_OK) return rc;
    }
}

static hil_result hil__sched_sim_apply(hil_sched* s, const hil__sched_event* e) {
    if (e->kind == HIL__SCHED_EV_BUILD)
        return hil__sched_build_done(s, e->id, e->ok, e->ok ? NULL : "simulated build failure", e->t);
    return hil_sched_run_finished(s, e->id, (hil_sched_outcome)e->outcome, e->infra_mask, e->t);
}

/* Drives the scheduler on a virtual clock until nothing more can happen.
 * Builds of a finished instant are applied before deciding, so runs released
 * at the same time compete fairly.  History is not updated by simulations. */
HIL_API hil_result hil_sched_simulate(hil_sched* s, const hil_sched_sim_ops* ops, int64_t start_ns, int64_t* end_ns) {
    hil__sched_evq q;
    hil_sched_history* saved;
    hil_result rc;
    int64_t now = start_ns;
    if (!s) return HIL_ERR_INVALID_ARG;
    if ((rc = hil__sched_note_time(s, start_ns)) != HIL_OK) return rc;
    memset(&q, 0, sizeof(q));
    saved = s->history;
    s->history = NULL;
    rc = hil__sched_sim_seed(s, &q, start_ns);
    while (!rc && !(rc = hil__sched_sim_dispatch(s, ops, &q, now)) && q.n) {
        hil__sched_event e = hil__sched_ev_pop(&q);
        now = e.t;
        rc = hil__sched_sim_apply(s, &e);
        while (!rc && q.n && q.v[0].t == now) {
            e = hil__sched_ev_pop(&q);
            rc = hil__sched_sim_apply(s, &e);
        }
    }
    s->history = saved;
    HIL_FREE(q.v);
    if (end_ns) *end_ns = now;
    return hil__sched_oom(rc, "simulate");
}

HIL_API hil_result hil_sched_eta(const hil_sched* s, int64_t now_ns, int64_t* finish_ns) {
    hil_sched* copy;
    hil_result rc;
    if (!s || !finish_ns) return HIL_ERR_INVALID_ARG;
    if ((rc = hil_sched_clone(s, &copy)) != HIL_OK) return rc;
    rc = hil_sched_simulate(copy, NULL, now_ns, finish_ns);
    hil_sched_destroy(copy);
    return rc;
}

/* ---- lower bound ------------------------------------------------------------------------ */

static int64_t hil__sched_item_p(const hil_sched* s, hil_sched_ns_fn fn, void* user, uint32_t i) {
    return fn ? fn(user, s, i) : s->items[i].expected_ns;
}

static int hil__sched_item_counts(const hil_sched* s, uint32_t i) {
    uint8_t st = s->items[i].state;
    return st != HIL_SCHED_ITEM_SKIPPED && st != HIL_SCHED_ITEM_BLOCKED;
}

/* Earliest possible release per variant, valid whatever order the scheduler
 * picks among equal priorities: the variant's own build time plus (one lane
 * only) every needed build of strictly higher priority, which must run
 * first.  Builds already finished keep their real end (relative to t0). */
static hil_result hil__sched_releases(const hil_sched* s, hil_sched_ns_fn build_ns, void* user, int64_t* rel) {
    uint8_t* need = (uint8_t*)HIL_MALLOC(s->n_vars + 1);
    uint32_t i, j;
    if (!need) return HIL_ERR_NO_MEMORY;
    memset(need, 0, s->n_vars + 1);
    for (i = 0; i < s->n_vars; i++) rel[i] = 0;
    for (i = 0; i < s->n_items; i++) {
        const hil__sched_class* c = &s->classes[s->items[i].cls];
        if (hil__sched_item_counts(s, i) && c->uses_fw) need[c->variant] = 1;
    }
    for (i = 0; i < s->n_builds; i++) {
        const hil__sched_build* b = &s->builds[i];
        int64_t r;
        if (!need[b->variant]) continue;
        if (b->state == HIL__SCHED_BUILD_DONE) {
            rel[b->variant] = b->end_ns - s->t0;
            continue;
        }
        r = build_ns ? build_ns(user, s, i) : b->expected_ns;
        for (j = 0; j < s->n_builds && s->cfg.build_lanes == 1; j++) {
            const hil__sched_build* o = &s->builds[j];
            if (need[o->variant] && o->priority > b->priority && o->state != HIL__SCHED_BUILD_DONE)
                r += build_ns ? build_ns(user, s, j) : o->expected_ns;
        }
        rel[b->variant] = r;
    }
    HIL_FREE(need);
    return HIL_OK;
}

static int hil__sched_set_subset(const hil_sched* s, uint32_t a, uint32_t b) {
    const hil__sched_set *x = &s->sets[a], *y = &s->sets[b];
    uint32_t i = 0, j = 0;
    while (i < x->n && j < y->n) {
        uint32_t u = s->set_pool[x->first + i], v = s->set_pool[y->first + j];
        if (u == v) i++;
        if (u >= v)
            j++;
        else
            return 0;
    }
    return i == x->n;
}

static int64_t hil__sched_item_release(const hil_sched* s, const int64_t* rel, uint32_t i) {
    const hil__sched_class* c = &s->classes[s->items[i].cls];
    return c->uses_fw && s->vars[c->variant].build != HIL_SCHED_NONE ? rel[c->variant] : 0;
}

/* Work W(E) of the roles whose eligible set lies inside set E, split by the
 * release time of the items (column n_vars = no build). */
static void hil__sched_set_work(const hil_sched* s, const uint8_t* sub, const int64_t* p, int64_t* work) {
    size_t i, e, cols = s->n_vars + 1;
    uint32_t r;
    for (i = 0; i < s->n_items; i++) {
        const hil__sched_class* c = &s->classes[s->items[i].cls];
        size_t col = c->uses_fw && s->vars[c->variant].build != HIL_SCHED_NONE ? c->variant : s->n_vars;
        if (!hil__sched_item_counts(s, i)) continue;
        for (r = 0; r < c->n_roles; r++)
            for (e = 0; e < s->n_sets; e++)
                if (sub[c->set[r] * s->n_sets + e]) work[e * cols + col] += p[i];
    }
}

/* Strongest "t + work released at or after t / |E|" over release times t. */
static int64_t hil__sched_release_group(const hil_sched* s, const int64_t* rel, const int64_t* w, uint32_t n) {
    size_t v, u, cols = s->n_vars + 1;
    int64_t best = 0;
    for (v = 0; v < cols; v++) {
        int64_t t = v < s->n_vars ? rel[v] : 0, sum = 0;
        if (!w[v]) continue;
        for (u = 0; u < cols; u++)
            if ((u < s->n_vars ? rel[u] : 0) >= t) sum += w[u];
        best = hil__sched_max64(best, t + sum / n);
    }
    return best;
}

static void hil__sched_bound_sets(const hil_sched* s, const int64_t* rel, const int64_t* work, hil_sched_bound* out) {
    size_t e, v, cols = s->n_vars + 1;
    for (e = 0; e < s->n_sets; e++) {
        const int64_t* w = work + e * cols;
        int64_t total = 0;
        uint32_t n = s->sets[e].n;
        for (v = 0; v < cols; v++) total += w[v];
        if (!n || !total) continue;
        if (n == 1)
            out->resource_ns = hil__sched_max64(out->resource_ns, total);
        else
            out->group_ns = hil__sched_max64(out->group_ns, total / n);
        out->release_group_ns = hil__sched_max64(out->release_group_ns, hil__sched_release_group(s, rel, w, n));
    }
}

static void hil__sched_bound_items(const hil_sched* s, const int64_t* rel, const int64_t* p, hil_sched_bound* out) {
    uint32_t i;
    for (i = 0; i < s->n_items; i++) {
        if (!hil__sched_item_counts(s, i)) continue;
        out->longest_ns = hil__sched_max64(out->longest_ns, p[i]);
        out->release_ns = hil__sched_max64(out->release_ns, hil__sched_item_release(s, rel, i) + p[i]);
    }
}

/* See NOTES.md "Lower bound".  Computed on the current resources for every
 * item that is neither blocked nor skipped, whatever its state. */
HIL_API hil_result hil_sched_lower_bound(hil_sched* s, hil_sched_ns_fn item_ns, hil_sched_ns_fn build_ns, void* user,
                                         hil_sched_bound* out) {
    hil_result rc;
    int64_t *rel, *p, *work;
    uint8_t* sub;
    size_t i, j, ns, cols;
    if (!s || !out) return hil_error(HIL_ERR_INVALID_ARG, "hil_sched_lower_bound: no scheduler or result pointer");
    memset(out, 0, sizeof(*out));
    if ((rc = hil__sched_refresh_if_dirty(s)) != HIL_OK) return hil__sched_oom(rc, "lower_bound");
    ns = s->n_sets;
    cols = s->n_vars + 1;
    rel = (int64_t*)HIL_MALLOC((s->n_vars + 1) * sizeof(int64_t));
    p = (int64_t*)HIL_MALLOC((s->n_items + 1) * sizeof(int64_t));
    work = (int64_t*)HIL_MALLOC((ns * cols + 1) * sizeof(int64_t));
    sub = (uint8_t*)HIL_MALLOC(ns * ns + 1);
    rc = rel && p && work && sub ? HIL_OK : HIL_ERR_NO_MEMORY;
    if (!rc) rc = hil__sched_releases(s, build_ns, user, rel);
    if (!rc) {
        for (i = 0; i < s->n_items; i++) p[i] = hil__sched_item_p(s, item_ns, user, (uint32_t)i);
        for (i = 0; i < ns; i++)
            for (j = 0; j < ns; j++) sub[i * ns + j] = (uint8_t)hil__sched_set_subset(s, (uint32_t)i, (uint32_t)j);
        memset(work, 0, (ns * cols + 1) * sizeof(int64_t));
        hil__sched_set_work(s, sub, p, work);
        hil__sched_bound_sets(s, rel, work, out);
        hil__sched_bound_items(s, rel, p, out);
        out->value_ns = hil__sched_max64(hil__sched_max64(out->group_ns, out->resource_ns),
                                         hil__sched_max64(out->release_ns, out->longest_ns));
        out->release_group_ns = hil__sched_max64(out->release_group_ns, out->value_ns);
    }
    HIL_FREE(rel);
    HIL_FREE(p);
    HIL_FREE(work);
    HIL_FREE(sub);
    return rc;
}

/* ---- statistics --------------------------------------------------------------------------- */

static int64_t hil__sched_run_end(const hil_sched* s, const hil__sched_run* r) {
    (void)s;
    return r->open ? r->start_ns : r->end_ns; /* open runs count up to their start */
}

HIL_API hil_result hil_sched_stats_get(const hil_sched* s, hil_sched_stats* out) {
    size_t i;
    if (!s || !out) return HIL_ERR_INVALID_ARG;
    memset(out, 0, sizeof(*out));
    out->t0_ns = s->t0;
    out->end_ns = s->t0;
    for (i = 0; i < s->n_runs; i++) {
        const hil__sched_run* r = &s->runs[i];
        int64_t wait = r->start_ns - r->ready_ns;
        out->end_ns = hil__sched_max64(out->end_ns, hil__sched_run_end(s, r));
        out->total_wait_ns += wait;
        out->max_wait_ns = hil__sched_max64(out->max_wait_ns, wait);
        out->n_requeued += r->requeued;
    }
    for (i = 0; i < s->n_builds; i++) /* a build nobody waited for may end last */
        if (s->builds[i].state == HIL__SCHED_BUILD_DONE || s->builds[i].state == HIL__SCHED_BUILD_FAILED)
            out->end_ns = hil__sched_max64(out->end_ns, s->builds[i].end_ns);
    for (i = 0; i < s->n_items; i++) {
        const hil__sched_item* it = &s->items[i];
        out->n_done += it->state == HIL_SCHED_ITEM_DONE;
        out->n_passed += it->outcome == HIL_SCHED_PASSED;
        out->n_blocked += it->state == HIL_SCHED_ITEM_BLOCKED;
        out->n_skipped += it->state == HIL_SCHED_ITEM_SKIPPED;
    }
    out->n_runs = (uint32_t)s->n_runs;
    out->n_items = (uint32_t)s->n_items;
    out->makespan_ns = out->end_ns - out->t0_ns;
    return HIL_OK;
}

static int hil__sched_run_uses(const hil_sched* s, const hil__sched_run* r, uint32_t res) {
    return hil__sched_list_has(s, r->res_first, r->n_res, res);
}

HIL_API hil_result hil_sched_resource_stats_get(const hil_sched* s, uint32_t res, hil_sched_resource_stats* out) {
    hil_sched_stats st;
    size_t i;
    if (!s || !out || res >= s->n_res) return HIL_ERR_INVALID_ARG;
    memset(out, 0, sizeof(*out));
    hil_sched_stats_get(s, &st);
    for (i = 0; i < s->n_runs; i++) {
        const hil__sched_run* r = &s->runs[i];
        if (!hil__sched_run_uses(s, r, res)) continue;
        out->busy_ns += hil__sched_run_end(s, r) - r->start_ns;
        out->runs++;
    }
    out->idle_ns = st.makespan_ns - out->busy_ns;
    out->utilisation = st.makespan_ns > 0 ? (double)out->busy_ns / (double)st.makespan_ns : 0.0;
    return HIL_OK;
}

/* ---- invariant checker ----------------------------------------------------------------------- */

typedef struct hil__sched_span {
    int64_t a, b;
    uint32_t run;
} hil__sched_span;

static int hil__sched_span_cmp(const void* x, const void* y) {
    const hil__sched_span *p = (const hil__sched_span*)x, *q = (const hil__sched_span*)y;
    if (p->a != q->a) return p->a < q->a ? -1 : 1;
    return p->run < q->run ? -1 : p->run > q->run;
}

/* The message names what broke: the resource, the run and its item. */
static hil_result hil__sched_fail(hil_strbuf* msg, const char* what, const char* name, int64_t t_ns) {
    if (msg && t_ns >= 0)
        hil_sb_printf(msg, "invariant violated: %s: %s (at %.3f s)", what, name, (double)t_ns / 1e9);
    else if (msg)
        hil_sb_printf(msg, "invariant violated: %s: %s", what, name);
    return HIL_ERR_STATE;
}

static hil_result hil__sched_fail_run(const hil_sched* s, hil_strbuf* msg, const char* what, uint32_t run) {
    char name[300];
    snprintf(name, sizeof name, "run %u of '%s'", (unsigned)run, hil__sched_item_name(s, s->runs[run].item));
    return hil__sched_fail(msg, what, name, s->runs[run].start_ns - s->t0);
}

/* No resource is in two runs at once. */
static hil_result hil__sched_check_overlap(const hil_sched* s, hil__sched_span* sp, hil_strbuf* msg) {
    size_t r, i, n;
    for (r = 0; r < s->n_res; r++) {
        for (i = n = 0; i < s->n_runs; i++) {
            const hil__sched_run* run = &s->runs[i];
            if (!hil__sched_run_uses(s, run, (uint32_t)r)) continue;
            sp[n].a = run->start_ns;
            sp[n].b = run->open ? INT64_MAX : run->end_ns;
            sp[n++].run = (uint32_t)i;
        }
        qsort(sp, n, sizeof(*sp), hil__sched_span_cmp);
        for (i = 1; i < n; i++)
            if (sp[i - 1].b > sp[i].a) {
                char name[600];
                snprintf(name, sizeof name, "%s in '%s' and '%s'", hil__sched_res_name(s, (uint32_t)r),
                         hil__sched_item_name(s, s->runs[sp[i - 1].run].item),
                         hil__sched_item_name(s, s->runs[sp[i].run].item));
                return hil__sched_fail(msg, "resource in two runs at once", name, sp[i].a - s->t0);
            }
    }
    return HIL_OK;
}

/* At most 'jobs' runs at once (ends before starts at equal times). */
static hil_result hil__sched_check_jobs(const hil_sched* s, hil__sched_span* sp, hil_strbuf* msg) {
    size_t i, n = 0;
    int64_t live = 0;
    if (!s->cfg.jobs) return HIL_OK;
    for (i = 0; i < s->n_runs; i++) {
        sp[n].a = s->runs[i].start_ns;
        sp[n++].run = 1;
        sp[n].a = s->runs[i].open ? INT64_MAX : s->runs[i].end_ns;
        sp[n++].run = 0;
    }
    qsort(sp, n, sizeof(*sp), hil__sched_span_cmp);
    for (i = 0; i < n; i++) {
        live += sp[i].run ? 1 : -1;
        if (live > (int64_t)s->cfg.jobs) {
            char name[64];
            snprintf(name, sizeof name, "%lld runs at once, jobs %u", (long long)live, (unsigned)s->cfg.jobs);
            return hil__sched_fail(msg, "jobs cap exceeded", name, sp[i].a - s->t0);
        }
    }
    return HIL_OK;
}

/* Each run: distinct, matching resources; started after its firmware. */
static hil_result hil__sched_check_run(const hil_sched* s, uint32_t i, hil_strbuf* msg) {
    const hil__sched_run* r = &s->runs[i];
    const hil__sched_class* c = &s->classes[s->items[r->item].cls];
    uint32_t k, b = c->uses_fw ? s->vars[c->variant].build : HIL_SCHED_NONE;
    if (r->n_res != c->n_roles) return hil__sched_fail_run(s, msg, "run has wrong number of resources", i);
    for (k = 0; k < r->n_res; k++) {
        uint32_t res = s->ids[r->res_first + k];
        if (hil__sched_taken(s->ids + r->res_first, k, res))
            return hil__sched_fail_run(s, msg, "run uses a resource twice", i);
        if (!hil__sched_role_matches(s, c, &c->roles[k], &s->res[res]))
            return hil__sched_fail_run(s, msg, "run on an ineligible resource", i);
    }
    if (b != HIL_SCHED_NONE && (s->builds[b].state != HIL__SCHED_BUILD_DONE || s->builds[b].end_ns > r->start_ns))
        return hil__sched_fail_run(s, msg, "run started before its firmware was built", i);
    if (!r->open && r->end_ns < r->start_ns) return hil__sched_fail_run(s, msg, "run ends before it starts", i);
    if (r->requeued && !r->infra_mask) return hil__sched_fail_run(s, msg, "retry without infra failure", i);
    return HIL_OK;
}

/* Every item runs exactly once, unless retried after infra failures. */
static hil_result hil__sched_check_items(const hil_sched* s, uint32_t* cnt, hil_strbuf* msg) {
    size_t i;
    memset(cnt, 0, s->n_items * 3 * sizeof(uint32_t));
    for (i = 0; i < s->n_runs; i++) {
        const hil__sched_run* r = &s->runs[i];
        cnt[r->item * 3 + (r->open ? 2 : r->requeued ? 1 : 0)]++;
    }
    for (i = 0; i < s->n_items; i++) {
        const hil__sched_item* it = &s->items[i];
        uint32_t fin = cnt[i * 3], req = cnt[i * 3 + 1], open = cnt[i * 3 + 2];
        int ok = it->state == HIL_SCHED_ITEM_DONE      ? fin == 1 && open == 0
                 : it->state == HIL_SCHED_ITEM_RUNNING ? fin == 0 && open == 1
                                                       : fin == 0 && open == 0;
        if (!ok) return hil__sched_fail(msg, "item did not run exactly once", hil__sched_item_name(s, (uint32_t)i), -1);
        if (fin + req + open != it->attempts || it->attempts > it->retries + 1)
            return hil__sched_fail(msg, "item attempts do not match its runs", hil__sched_item_name(s, (uint32_t)i),
                                   -1);
        if (req > it->retries)
            return hil__sched_fail(msg, "item retried too often", hil__sched_item_name(s, (uint32_t)i), -1);
    }
    return HIL_OK;
}

HIL_API hil_result hil_sched_check(const hil_sched* s, hil_strbuf* msg) {
    hil__sched_span* sp;
    uint32_t* cnt;
    hil_result rc = HIL_OK;
    size_t i;
    if (!s) return HIL_ERR_INVALID_ARG;
    sp = (hil__sched_span*)HIL_MALLOC((2 * s->n_runs + 1) * sizeof(*sp));
    cnt = (uint32_t*)HIL_MALLOC((3 * s->n_items + 1) * sizeof(uint32_t));
    if (!sp || !cnt) rc = HIL_ERR_NO_MEMORY;
    for (i = 0; i < s->n_runs && !rc; i++) rc = hil__sched_check_run(s, (uint32_t)i, msg);
    if (!rc) rc = hil__sched_check_overlap(s, sp, msg);
    if (!rc) rc = hil__sched_check_jobs(s, sp, msg);
    if (!rc) rc = hil__sched_check_items(s, cnt, msg);
    HIL_FREE(sp);
    HIL_FREE(cnt);
    return rc;
}

/* ---- reports --------------------------------------------------------------------------------- */

static double hil__sched_sec(int64_t ns) { return (double)ns / 1e9; }

static char hil__sched_code(uint32_t item) {
    static const char codes[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    return codes[item % (sizeof(codes) - 1)];
}

/* Decimals for the times of a report: short schedules (a few seconds of
 * real runs) need milliseconds, long ones do not. */
static int hil__sched_prec(const hil_sched_stats* st) {
    return st->makespan_ns < 2000000000 ? 3 : st->makespan_ns < 20000000000 ? 2 : 1;
}

static const char* hil__sched_run_state(const hil__sched_run* r) {
    return r->open ? "running" : r->requeued ? "retried" : hil_sched_outcome_name((hil_sched_outcome)r->outcome);
}

static int64_t hil__sched_build_end(const hil__sched_build* b) {
    return b->state == HIL__SCHED_BUILD_RUNNING ? b->start_ns : b->end_ns;
}

#define HIL__SCHED_MAX_LANES 16u

/* Builds that ran, each in the first report lane free at its start (one
 * row per lane); lane[b] is HIL_SCHED_NONE for builds that never ran. */
static uint32_t hil__sched_build_lanes(const hil_sched* s, uint32_t* lane) {
    int64_t busy_until[HIL__SCHED_MAX_LANES];
    uint32_t n_lanes = 0, b, k;
    for (b = 0; b < s->n_builds; b++) lane[b] = HIL_SCHED_NONE;
    for (;;) {
        uint32_t pick = HIL_SCHED_NONE;
        for (b = 0; b < s->n_builds; b++) {
            if (lane[b] != HIL_SCHED_NONE || s->builds[b].state == HIL__SCHED_BUILD_PENDING) continue;
            if (pick == HIL_SCHED_NONE || s->builds[b].start_ns < s->builds[pick].start_ns) pick = b;
        }
        if (pick == HIL_SCHED_NONE) break;
        for (k = 0; k < n_lanes && busy_until[k] > s->builds[pick].start_ns; k++) {}
        if (k == n_lanes) {
            if (n_lanes == HIL__SCHED_MAX_LANES)
                k = n_lanes - 1;
            else
                n_lanes++;
        }
        lane[pick] = k;
        busy_until[k] = s->builds[pick].state == HIL__SCHED_BUILD_RUNNING ? INT64_MAX : s->builds[pick].end_ns;
    }
    return n_lanes;
}

static void hil__sched_report_head(const hil_sched* s, const hil_sched_stats* st, const hil_sched_bound* lb,
                                   hil_strbuf* out) {
    int p = hil__sched_prec(st);
    hil_sb_printf(out, "schedule: %" PRIu32 " run%s of %" PRIu32 " work item%s on %u resource%s, %u build%s\n",
                  st->n_runs, st->n_runs == 1 ? "" : "s", st->n_items, st->n_items == 1 ? "" : "s", (unsigned)s->n_res,
                  s->n_res == 1 ? "" : "s", (unsigned)s->n_builds, s->n_builds == 1 ? "" : "s");
    hil_sb_printf(out, "makespan %.*f s", p, hil__sched_sec(st->makespan_ns));
    if (lb && lb->value_ns > 0)
        hil_sb_printf(out, ", lower bound %.*f s, makespan / lower bound %.3f", p, hil__sched_sec(lb->value_ns),
                      (double)st->makespan_ns / (double)lb->value_ns);
    hil_sb_printf(out,
                  "\nqueue wait: total %.*f s, max %.*f s; passed %" PRIu32 ", blocked %" PRIu32 ", skipped %" PRIu32
                  " (other shards), retried runs %" PRIu32 "\n",
                  p, hil__sched_sec(st->total_wait_ns), p, hil__sched_sec(st->max_wait_ns), st->n_passed, st->n_blocked,
                  st->n_skipped, st->n_requeued);
}

/* Marks columns [a, b) of a Gantt row (times relative to the makespan):
 * a column shows what covers its midpoint; anything shorter than a column
 * still shows in the column where it starts. */
static void hil__sched_gantt_mark(char* row, unsigned width, double a, double b, char c) {
    unsigned k;
    int any = 0;
    for (k = 0; k < width; k++)
        if (k + 0.5 >= a && k + 0.5 < b) {
            row[k] = c;
            any = 1;
        }
    if (!any && a >= 0 && a < width && row[(unsigned)a] == '.') row[(unsigned)a] = c;
}

static void hil__sched_report_gantt(const hil_sched* s, const hil_sched_stats* st, unsigned width, char* row,
                                    hil_strbuf* out) {
    uint32_t r, b, n_lanes, *lane = (uint32_t*)HIL_MALLOC((s->n_builds + 1) * sizeof(uint32_t));
    double span = st->makespan_ns > 0 ? (double)st->makespan_ns : 1.0;
    size_t i;
    char label[32];
    hil_sb_printf(out, "\n%-16s|0 s%*.*f s| %6s %9s %5s\n", "resource", (int)width - 5, hil__sched_prec(st),
                  hil__sched_sec(st->makespan_ns), "util", "idle", "runs");
    n_lanes = lane ? hil__sched_build_lanes(s, lane) : 0;
    for (r = 0; r < n_lanes; r++) {
        memset(row, '.', width);
        row[width] = '\0';
        for (b = 0; b < s->n_builds; b++) {
            const hil__sched_build* x = &s->builds[b];
            if (lane[b] != r) continue;
            hil__sched_gantt_mark(row, width, (double)(x->start_ns - st->t0_ns) / span * width,
                                  (double)(hil__sched_build_end(x) - st->t0_ns) / span * width,
                                  x->state == HIL__SCHED_BUILD_FAILED ? 'X' : '=');
        }
        snprintf(label, sizeof label, n_lanes > 1 ? "(builds %u)" : "(builds)", (unsigned)r + 1);
        hil_sb_printf(out, "%-16.16s|%s|\n", label, row);
    }
    HIL_FREE(lane);
    for (r = 0; r < s->n_res; r++) {
        hil_sched_resource_stats rs;
        hil_sched_resource_stats_get(s, r, &rs);
        memset(row, '.', width);
        row[width] = '\0';
        for (i = 0; i < s->n_runs; i++) {
            const hil__sched_run* x = &s->runs[i];
            if (!hil__sched_run_uses(s, x, r)) continue;
            hil__sched_gantt_mark(row, width, (double)(x->start_ns - st->t0_ns) / span * width,
                                  (double)(hil__sched_run_end(s, x) - st->t0_ns) / span * width,
                                  x->requeued ? '!' : hil__sched_code(x->item));
        }
        hil_sb_printf(out, "%-16.16s|%s| %5.1f%% %7.*f s %5" PRIu32 "%s\n", hil__sched_res_name(s, r), row,
                      rs.utilisation * 100.0, hil__sched_prec(st), hil__sched_sec(rs.idle_ns), rs.runs,
                      s->res[r].quarantined ? " QUARANTINED" : "");
    }
    hil_sb_puts(out, "  letters: work items (the code column below), '!': a run retried elsewhere, '=': a build, "
                     "'X': a failed build, '.': idle\n");
}

static void hil__sched_report_runs(const hil_sched* s, int p, hil_strbuf* out) {
    size_t i;
    uint32_t k;
    hil_sb_printf(out, "\n%5s %-4s %-32s %9s %9s %9s %8s  %-8s %s\n", "run", "code", "item", "ready s", "start s",
                  "end s", "wait s", "outcome", "resources");
    for (i = 0; i < s->n_runs; i++) {
        const hil__sched_run* r = &s->runs[i];
        hil_sb_printf(out, "%5u %-4c %-32.32s %9.*f %9.*f %9.*f %8.*f  %-8s ", (unsigned)i, hil__sched_code(r->item),
                      hil__sched_item_name(s, r->item), p, hil__sched_sec(r->ready_ns - s->t0), p,
                      hil__sched_sec(r->start_ns - s->t0), p, hil__sched_sec(hil__sched_run_end(s, r) - s->t0), p,
                      hil__sched_sec(r->start_ns - r->ready_ns), hil__sched_run_state(r));
        for (k = 0; k < r->n_res; k++)
            hil_sb_printf(out, "%s%s", k ? "," : "", hil__sched_res_name(s, s->ids[r->res_first + k]));
        hil_sb_puts(out, "\n");
    }
}

static void hil__sched_report_blocked(const hil_sched* s, hil_strbuf* out) {
    size_t i;
    int head = 0;
    for (i = 0; i < s->n_items; i++) {
        const hil__sched_item* it = &s->items[i];
        if (it->state != HIL_SCHED_ITEM_BLOCKED) continue;
        if (!head++) hil_sb_puts(out, "\nblocked:\n");
        hil_sb_printf(out, "  %s: %s\n", hil__sched_item_name(s, (uint32_t)i), hil__sched_s(s, it->reason));
    }
}

HIL_API hil_result hil_sched_report_text(const hil_sched* s, const hil_sched_bound* lb, unsigned width,
                                         hil_strbuf* out) {
    hil_sched_stats st;
    char* row;
    if (!s || !out) return hil_error(HIL_ERR_INVALID_ARG, "hil_sched_report_text: no scheduler or buffer");
    if (width < 10) width = 72;
    if (width > 1000) width = 1000;
    row = (char*)HIL_MALLOC(width + 1);
    if (!row) return hil_error(HIL_ERR_NO_MEMORY, "schedule report: out of memory");
    hil_sched_stats_get(s, &st);
    hil__sched_report_head(s, &st, lb, out);
    hil__sched_report_gantt(s, &st, width, row, out);
    hil__sched_report_runs(s, hil__sched_prec(&st), out);
    hil__sched_report_blocked(s, out);
    HIL_FREE(row);
    return out->failed ? hil_error(HIL_ERR_NO_MEMORY, "schedule report: out of memory") : HIL_OK;
}

static void hil__sched_html_esc(hil_strbuf* out, const char* t) {
    for (; t && *t; t++) {
        switch (*t) {
        case '&':
            hil_sb_puts(out, "&amp;");
            break;
        case '<':
            hil_sb_puts(out, "&lt;");
            break;
        case '>':
            hil_sb_puts(out, "&gt;");
            break;
        case '"':
            hil_sb_puts(out, "&quot;");
            break;
        case '\'':
            hil_sb_puts(out, "&#39;");
            break;
        default:
            hil_sb_append(out, t, 1);
        }
    }
}

#define HIL__SCHED_SVG_LABEL 170
#define HIL__SCHED_SVG_W 900
#define HIL__SCHED_SVG_ROW 24
#define HIL__SCHED_SVG_TOP 22

/* A round tick step (1, 2 or 5 times a power of ten seconds), 5 to 10 ticks. */
static double hil__sched_tick(double span_s) {
    double step = 1e-3;
    while (span_s / step > 10) {
        if (span_s / (step * 2) <= 10) return step * 2;
        if (span_s / (step * 5) <= 10) return step * 5;
        step *= 10;
    }
    return step;
}

static void hil__sched_svg_axis(const hil_sched_stats* st, int h, hil_strbuf* out) {
    double span = hil__sched_sec(st->makespan_ns), step = hil__sched_tick(span > 0 ? span : 1), t;
    for (t = 0; t <= span + 1e-9; t += step) {
        double x = HIL__SCHED_SVG_LABEL + (span > 0 ? t / span : 0) * HIL__SCHED_SVG_W;
        hil_sb_printf(out,
                      "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" class=\"tick\"/>"
                      "<text x=\"%.1f\" y=\"14\" text-anchor=\"middle\">%g s</text>\n",
                      x, HIL__SCHED_SVG_TOP - 4, x, h, x, t);
    }
}

/* One bar: the class says what happened (colours in the page's style). */
static void hil__sched_svg_bar(double x, double w, int y, const char* cls, hil_strbuf* out) {
    hil_sb_printf(out, "<rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\" class=\"%s\">", x, y + 3,
                  w > 1.0 ? w : 1.0, HIL__SCHED_SVG_ROW - 6, cls);
}

static void hil__sched_svg_label(double x, double w, int y, const char* name, hil_strbuf* out) {
    if (w < 7.0 * (double)strlen(name) + 6) return; /* the tooltip has it */
    hil_sb_printf(out, "<text x=\"%.1f\" y=\"%d\">", x + 3, y + HIL__SCHED_SVG_ROW - 8);
    hil__sched_html_esc(out, name);
    hil_sb_puts(out, "</text>\n");
}

static void hil__sched_svg_run(const hil_sched* s, const hil__sched_run* r, uint32_t id, int y,
                               const hil_sched_stats* st, hil_strbuf* out) {
    double span = st->makespan_ns > 0 ? (double)st->makespan_ns : 1.0;
    double x = HIL__SCHED_SVG_LABEL + (double)(r->start_ns - st->t0_ns) / span * HIL__SCHED_SVG_W;
    double w = (double)(hil__sched_run_end(s, r) - r->start_ns) / span * HIL__SCHED_SVG_W;
    const char* name = hil__sched_item_name(s, r->item);
    char cls[32];
    snprintf(cls, sizeof cls, "run %s", hil__sched_run_state(r));
    hil__sched_svg_bar(x, w, y, cls, out);
    hil_sb_puts(out, "<title>");
    hil__sched_html_esc(out, name);
    hil_sb_printf(out, " (run %" PRIu32 ", %s%s): %.*f to %.*f s, queue wait %.*f s</title></rect>\n", id,
                  hil__sched_run_state(r), r->reflash_mask ? ", flashed" : "", hil__sched_prec(st),
                  hil__sched_sec(r->start_ns - st->t0_ns), hil__sched_prec(st),
                  hil__sched_sec(hil__sched_run_end(s, r) - st->t0_ns), hil__sched_prec(st),
                  hil__sched_sec(r->start_ns - r->ready_ns));
    hil__sched_svg_label(x, w, y, name, out);
}

static void hil__sched_svg_row_label(const char* name, const char* note, int y, hil_strbuf* out) {
    hil_sb_printf(out, "<text x=\"4\" y=\"%d\" class=\"res\">", y + HIL__SCHED_SVG_ROW - 8);
    hil__sched_html_esc(out, name);
    if (note) hil_sb_puts(out, note);
    hil_sb_puts(out, "</text>\n");
}

static void hil__sched_svg(const hil_sched* s, const hil_sched_stats* st, hil_strbuf* out) {
    uint32_t *lane = (uint32_t*)HIL_MALLOC((s->n_builds + 1) * sizeof(uint32_t)), n_lanes, b, r;
    double span = st->makespan_ns > 0 ? (double)st->makespan_ns : 1.0;
    int h;
    size_t i;
    n_lanes = lane ? hil__sched_build_lanes(s, lane) : 0;
    h = HIL__SCHED_SVG_TOP + (int)(n_lanes + s->n_res) * HIL__SCHED_SVG_ROW;
    hil_sb_printf(out,
                  "<svg id=\"gantt\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
                  "viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"Gantt chart: one row per resource\">\n",
                  HIL__SCHED_SVG_LABEL + HIL__SCHED_SVG_W + 30, h + 4, HIL__SCHED_SVG_LABEL + HIL__SCHED_SVG_W + 30,
                  h + 4);
    hil__sched_svg_axis(st, h, out);
    for (r = 0; r < n_lanes; r++) {
        int y = HIL__SCHED_SVG_TOP + (int)r * HIL__SCHED_SVG_ROW;
        char label[32];
        snprintf(label, sizeof label, n_lanes > 1 ? "builds %u" : "builds", (unsigned)r + 1);
        hil_sb_printf(out, "<rect x=\"0\" y=\"%d\" width=\"%d\" height=\"%d\" class=\"lane\"/>\n", y,
                      HIL__SCHED_SVG_LABEL + HIL__SCHED_SVG_W + 30, HIL__SCHED_SVG_ROW);
        hil__sched_svg_row_label(label, NULL, y, out);
        for (b = 0; b < s->n_builds; b++) {
            const hil__sched_build* x = &s->builds[b];
            const char* v = hil__sched_variant_name(s, x->variant);
            double x0, w;
            if (lane[b] != r) continue;
            x0 = HIL__SCHED_SVG_LABEL + (double)(x->start_ns - st->t0_ns) / span * HIL__SCHED_SVG_W;
            w = (double)(hil__sched_build_end(x) - x->start_ns) / span * HIL__SCHED_SVG_W;
            hil__sched_svg_bar(x0, w, y,
                               x->state == HIL__SCHED_BUILD_FAILED    ? "build failed"
                               : x->state == HIL__SCHED_BUILD_RUNNING ? "build running"
                                                                      : "build",
                               out);
            hil_sb_puts(out, "<title>build of ");
            hil__sched_html_esc(out, v);
            hil_sb_printf(out, ": %.*f to %.*f s%s", hil__sched_prec(st), hil__sched_sec(x->start_ns - st->t0_ns),
                          hil__sched_prec(st), hil__sched_sec(hil__sched_build_end(x) - st->t0_ns),
                          x->state == HIL__SCHED_BUILD_FAILED ? ", failed: " : "");
            if (x->state == HIL__SCHED_BUILD_FAILED) hil__sched_html_esc(out, hil__sched_s(s, x->reason));
            hil_sb_puts(out, "</title></rect>\n");
            hil__sched_svg_label(x0, w, y, v, out);
        }
    }
    HIL_FREE(lane);
    for (r = 0; r < s->n_res; r++) {
        int y = HIL__SCHED_SVG_TOP + (int)(n_lanes + r) * HIL__SCHED_SVG_ROW;
        if (r % 2 == 0)
            hil_sb_printf(out, "<rect x=\"0\" y=\"%d\" width=\"%d\" height=\"%d\" class=\"stripe\"/>\n", y,
                          HIL__SCHED_SVG_LABEL + HIL__SCHED_SVG_W + 30, HIL__SCHED_SVG_ROW);
        hil__sched_svg_row_label(hil__sched_res_name(s, r), s->res[r].quarantined ? " (quarantined)" : NULL, y, out);
        for (i = 0; i < s->n_runs; i++)
            if (hil__sched_run_uses(s, &s->runs[i], r)) hil__sched_svg_run(s, &s->runs[i], (uint32_t)i, y, st, out);
    }
    hil_sb_puts(out, "</svg>\n<p class=\"legend\"><span class=\"key passed\"></span>passed "
                     "<span class=\"key failed\"></span>failed <span class=\"key timeout\"></span>timeout "
                     "<span class=\"key error\"></span>infrastructure error <span class=\"key retried\"></span>"
                     "retried elsewhere <span class=\"key running\"></span>running <span class=\"key build\">"
                     "</span>firmware build. A run's bar includes flashing its boards; hover a bar for its "
                     "times.</p>\n");
}

static void hil__sched_html_resources(const hil_sched* s, int p, hil_strbuf* out) {
    uint32_t r;
    hil_sb_puts(out, "<h2>Resources</h2>\n<table id=\"resources\"><thead><tr><th>resource</th><th>type</th>"
                     "<th>runs</th><th>busy s</th><th>idle s</th><th>utilisation</th><th>state</th></tr></thead>"
                     "<tbody>\n");
    for (r = 0; r < s->n_res; r++) {
        hil_sched_resource_stats rs;
        hil_sched_resource_stats_get(s, r, &rs);
        hil_sb_puts(out, "<tr><td class=\"l\">");
        hil__sched_html_esc(out, hil__sched_res_name(s, r));
        hil_sb_puts(out, "</td><td class=\"l\">");
        hil__sched_html_esc(out, hil__sched_atom_str(s, s->res[r].type));
        hil_sb_printf(out,
                      "</td><td>%" PRIu32 "</td><td>%.*f</td><td>%.*f</td><td><span class=\"bar\" "
                      "style=\"width:%.0fpx\"></span> %.1f%%</td><td class=\"l\">%s</td></tr>\n",
                      rs.runs, p, hil__sched_sec(rs.busy_ns), p, hil__sched_sec(rs.idle_ns), rs.utilisation * 80.0,
                      rs.utilisation * 100.0, s->res[r].quarantined ? "quarantined" : "ok");
    }
    hil_sb_puts(out, "</tbody></table>\n");
}

static void hil__sched_html_runs(const hil_sched* s, int p, hil_strbuf* out) {
    size_t i;
    uint32_t k;
    hil_sb_puts(out, "<h2>Runs</h2>\n<table id=\"runs\"><thead><tr><th>run</th><th>work item</th><th>resources</th>"
                     "<th>ready s</th><th>start s</th><th>end s</th><th>queue wait s</th><th>outcome</th></tr></thead>"
                     "<tbody>\n");
    for (i = 0; i < s->n_runs; i++) {
        const hil__sched_run* r = &s->runs[i];
        hil_sb_printf(out, "<tr><td>%u</td><td class=\"l\">", (unsigned)i);
        hil__sched_html_esc(out, hil__sched_item_name(s, r->item));
        hil_sb_puts(out, "</td><td class=\"l\">");
        for (k = 0; k < r->n_res; k++) {
            if (k) hil_sb_puts(out, ", ");
            hil__sched_html_esc(out, hil__sched_res_name(s, s->ids[r->res_first + k]));
        }
        hil_sb_printf(out,
                      "</td><td>%.*f</td><td>%.*f</td><td>%.*f</td><td>%.*f</td><td class=\"l o-%s\">%s</td></tr>\n", p,
                      hil__sched_sec(r->ready_ns - s->t0), p, hil__sched_sec(r->start_ns - s->t0), p,
                      hil__sched_sec(hil__sched_run_end(s, r) - s->t0), p, hil__sched_sec(r->start_ns - r->ready_ns),
                      hil__sched_run_state(r), hil__sched_run_state(r));
    }
    hil_sb_puts(out, "</tbody></table>\n");
}

static void hil__sched_html_builds(const hil_sched* s, int p, hil_strbuf* out) {
    static const char* const states[] = {"not needed", "running", "done", "failed"};
    uint32_t b;
    if (!s->n_builds) return;
    hil_sb_puts(out, "<h2>Builds</h2>\n<table id=\"builds\"><thead><tr><th>variant</th><th>priority</th>"
                     "<th>start s</th><th>end s</th><th>state</th></tr></thead><tbody>\n");
    for (b = 0; b < s->n_builds; b++) {
        const hil__sched_build* x = &s->builds[b];
        int ran = x->state != HIL__SCHED_BUILD_PENDING;
        hil_sb_puts(out, "<tr><td class=\"l\">");
        hil__sched_html_esc(out, hil__sched_variant_name(s, x->variant));
        hil_sb_printf(out, "</td><td>%d</td>", x->priority);
        if (ran)
            hil_sb_printf(out, "<td>%.*f</td><td>%.*f</td>", p, hil__sched_sec(x->start_ns - s->t0), p,
                          hil__sched_sec(hil__sched_build_end(x) - s->t0));
        else
            hil_sb_puts(out, "<td></td><td></td>");
        hil_sb_printf(out, "<td class=\"l o-%s\">%s", x->state == HIL__SCHED_BUILD_FAILED ? "failed" : "passed",
                      states[x->state]);
        if (x->state == HIL__SCHED_BUILD_FAILED && x->reason != HIL_SCHED_NONE) {
            hil_sb_puts(out, ": ");
            hil__sched_html_esc(out, hil__sched_s(s, x->reason));
        }
        hil_sb_puts(out, "</td></tr>\n");
    }
    hil_sb_puts(out, "</tbody></table>\n");
}

static void hil__sched_html_blocked(const hil_sched* s, hil_strbuf* out) {
    size_t i;
    int head = 0;
    for (i = 0; i < s->n_items; i++) {
        if (s->items[i].state != HIL_SCHED_ITEM_BLOCKED) continue;
        if (!head++) hil_sb_puts(out, "<h2>Blocked</h2>\n<ul id=\"blocked\">\n");
        hil_sb_puts(out, "<li><b>");
        hil__sched_html_esc(out, hil__sched_item_name(s, (uint32_t)i));
        hil_sb_puts(out, "</b>: ");
        hil__sched_html_esc(out, hil__sched_s(s, s->items[i].reason));
        hil_sb_puts(out, "</li>\n");
    }
    if (head) hil_sb_puts(out, "</ul>\n");
}

/* The page's style: the chart's colours by outcome (custom properties, so a user style sheet
   or a checker finds and changes them in one place), and the tables. */
static const char hil__sched_css[] =
    ":root{--pass:#81c995;--fail:#f28b82;--timeout:#fdd663;--error:#d7aefb;--retried:#e8eaed;--running:#8ab4f8;"
    "--build:#c9b99a}"
    "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:24px;color:#202124;"
    "background:#fff}h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}"
    "p.sub{color:#5f6368;margin:0 0 16px}"
    ".stats{display:flex;gap:12px;flex-wrap:wrap;margin:12px 0 20px}.stat{border:1px solid #dadce0;"
    "border-radius:8px;padding:8px 14px;min-width:110px}.stat b{display:block;font-size:20px}"
    ".stat span{color:#5f6368;font-size:12px}"
    "table{border-collapse:collapse;font-size:13px}th,td{border:1px solid #dadce0;padding:4px 8px;"
    "text-align:right;vertical-align:top}th{background:#f1f3f4;text-align:center}td.l{text-align:left}"
    "tbody tr:nth-child(even){background:#fafafa}td.reason{max-width:520px;text-align:left;color:#3c4043;"
    "white-space:pre-wrap;word-break:break-word}"
    ".o-passed,.o-Passed,.o-Passx,.o-Skipped{color:#137333}.o-failed,.o-Failed,.o-timeout{color:#c5221f;"
    "font-weight:600}.o-error,.o-Errored,.o-Aborted{color:#8430ce;font-weight:600}.o-Blocked,.o-blocked"
    "{color:#b06000;font-weight:600}.o-retried{color:#5f6368}.o-running{color:#1967d2}"
    "svg text{font-size:11px;fill:#202124}svg text.res{font-size:12px}svg .tick{stroke:#e0e0e0}"
    "svg .stripe{fill:#f8f9fa}svg .lane{fill:#eef3fd}"
    "svg rect.run,svg rect.build{stroke:#3c4043;stroke-width:.6}"
    "svg .passed{fill:var(--pass)}svg .failed{fill:var(--fail)}svg .timeout{fill:var(--timeout)}"
    "svg .error{fill:var(--error)}svg .retried{fill:var(--retried);stroke-dasharray:3 2}"
    "svg .running{fill:var(--running)}svg .build{fill:var(--build)}svg .build.failed{fill:var(--fail)}"
    ".legend{font-size:12px;color:#3c4043}.key{display:inline-block;width:14px;height:10px;margin:0 4px 0 10px;"
    "border:1px solid #3c4043;vertical-align:middle}.key.passed{background:var(--pass)}"
    ".key.failed{background:var(--fail)}.key.timeout{background:var(--timeout)}.key.error{background:var(--error)}"
    ".key.retried{background:var(--retried);border-style:dashed}.key.running{background:var(--running)}"
    ".key.build{background:var(--build)}"
    ".bar{display:inline-block;height:9px;background:var(--pass);vertical-align:middle}"
    ".verdict{border-radius:8px;padding:10px 16px;margin:8px 0 12px;font-size:15px;border:1px solid #dadce0}"
    ".verdict b{font-size:19px;margin-right:12px}.verdict.ok{background:#e6f4ea;border-color:#81c995}"
    ".verdict.bad{background:#fce8e6;border-color:#f28b82}.verdict span{color:#3c4043}"
    "td.l a{color:inherit}";

HIL_API hil_result hil_sched_report_html(const hil_sched* s, const hil_sched_bound* lb, const char* title,
                                         const char* head_html, const char* extra_html, hil_strbuf* out) {
    hil_sched_stats st;
    if (!s || !out) return hil_error(HIL_ERR_INVALID_ARG, "hil_sched_report_html: no scheduler or buffer");
    hil_sched_stats_get(s, &st);
    hil_sb_puts(out, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>");
    hil__sched_html_esc(out, title ? title : "hil schedule");
    hil_sb_printf(out, "</title>\n<style>%s</style></head><body>\n<h1>", hil__sched_css);
    hil__sched_html_esc(out, title ? title : "hil schedule");
    hil_sb_puts(out, "</h1>\n");
    if (head_html) hil_sb_puts(out, head_html);
    hil_sb_printf(out,
                  "<p class=\"sub\">%" PRIu32 " runs of %" PRIu32 " work items on %u resources, %u builds"
                  "</p>\n<div class=\"stats\" id=\"summary\"><div class=\"stat\"><b>%.*f s</b><span>makespan</span>"
                  "</div>",
                  st.n_runs, st.n_items, (unsigned)s->n_res, (unsigned)s->n_builds, hil__sched_prec(&st),
                  hil__sched_sec(st.makespan_ns));
    if (lb && lb->value_ns > 0)
        hil_sb_printf(out,
                      "<div class=\"stat\"><b>%.*f s</b><span>lower bound</span></div><div class=\"stat\">"
                      "<b id=\"ratio\">%.3f</b><span>makespan / lower bound</span></div>",
                      hil__sched_prec(&st), hil__sched_sec(lb->value_ns),
                      (double)st.makespan_ns / (double)lb->value_ns);
    hil_sb_printf(out,
                  "<div class=\"stat\"><b>%.*f s</b><span>total queue wait</span></div><div class=\"stat\"><b>"
                  "%.*f s</b><span>longest queue wait</span></div><div class=\"stat\"><b>%" PRIu32
                  "</b><span>runs passed</span></div><div class=\"stat\"><b>%" PRIu32 "</b><span>work items "
                  "blocked</span></div><div class=\"stat\"><b>%" PRIu32 "</b><span>runs retried elsewhere</span>"
                  "</div></div>\n<h2>Gantt chart</h2>\n",
                  hil__sched_prec(&st), hil__sched_sec(st.total_wait_ns), hil__sched_prec(&st),
                  hil__sched_sec(st.max_wait_ns), st.n_passed, st.n_blocked, st.n_requeued);
    hil__sched_svg(s, &st, out);
    if (extra_html) hil_sb_puts(out, extra_html);
    hil__sched_html_resources(s, hil__sched_prec(&st), out);
    hil__sched_html_runs(s, hil__sched_prec(&st), out);
    hil__sched_html_builds(s, hil__sched_prec(&st), out);
    hil__sched_html_blocked(s, out);
    hil_sb_puts(out, "<p class=\"sub\">Made by hil " HIL_VERSION " (hil_runner.h, docs/scheduler.md).</p>\n"
                     "</body></html>\n");
    return out->failed ? hil_error(HIL_ERR_NO_MEMORY, "schedule report: out of memory") : HIL_OK;
}

/* ---- sharding ------------------------------------------------------------------------------------ */

static hil_result hil__sched_parse_u32(const char* p, const char* e, uint32_t* out) {
    uint64_t v = 0;
    if (p == e) return HIL_ERR_INVALID_ARG;
    for (; p < e; p++) {
        if (*p < '0' || *p > '9') return HIL_ERR_INVALID_ARG;
        v = v * 10 + (uint64_t)(*p - '0');
        if (v > 0xFFFFFFu) return HIL_ERR_INVALID_ARG;
    }
    *out = (uint32_t)v;
    return HIL_OK;
}

HIL_API hil_result hil_sched_parse_shard(const char* arg, uint32_t* k, uint32_t* n) {
    const char* slash;
    if (!arg || !k || !n || !(slash = strchr(arg, '/')))
        return hil_error(HIL_ERR_INVALID_ARG, "shard '%s' is not K/N (e.g. --shard 2/4: the second of four shares)",
                         arg ? arg : "");
    if (hil__sched_parse_u32(arg, slash, k) || hil__sched_parse_u32(slash + 1, slash + strlen(slash), n))
        return hil_error(HIL_ERR_INVALID_ARG, "shard '%s' is not K/N with whole numbers (e.g. --shard 2/4)", arg);
    if (*n >= 1 && *k >= 1 && *k <= *n) return HIL_OK;
    return hil_error(HIL_ERR_INVALID_ARG, "shard '%s': K must be 1 to N (shards count from 1: 1/%u ... %u/%u)", arg,
                     (unsigned)(*n ? *n : 1), (unsigned)(*n ? *n : 1), (unsigned)(*n ? *n : 1));
}

typedef struct hil__sched_shard_ent {
    int64_t p;
    const char* name;
    uint32_t id;
} hil__sched_shard_ent;

static int hil__sched_shard_cmp(const void* x, const void* y) {
    const hil__sched_shard_ent *a = (const hil__sched_shard_ent*)x, *b = (const hil__sched_shard_ent*)y;
    int c;
    if (a->p != b->p) return a->p > b->p ? -1 : 1;
    c = strcmp(a->name, b->name);
    return c ? c : (a->id < b->id ? -1 : a->id > b->id);
}

/* Longest-first greedy partition on expected durations: integer arithmetic,
 * names break ties, so every machine with the same items and history gets
 * the same split, whatever order the items were added in. */
HIL_API hil_result hil_sched_shard_plan(const hil_sched* s, uint32_t n, uint32_t* shard_of_item) {
    hil__sched_shard_ent* e;
    int64_t* load;
    size_t i;
    uint32_t k, best;
    if (!s || !shard_of_item || n == 0) return HIL_ERR_INVALID_ARG;
    e = (hil__sched_shard_ent*)HIL_MALLOC((s->n_items + 1) * sizeof(*e));
    load = (int64_t*)HIL_MALLOC(n * sizeof(int64_t));
    if (!e || !load) {
        HIL_FREE(e);
        HIL_FREE(load);
        return HIL_ERR_NO_MEMORY;
    }
    memset(load, 0, n * sizeof(int64_t));
    for (i = 0; i < s->n_items; i++) {
        e[i].p = s->items[i].expected_ns;
        e[i].name = hil__sched_item_name(s, (uint32_t)i);
        e[i].id = (uint32_t)i;
    }
    qsort(e, s->n_items, sizeof(*e), hil__sched_shard_cmp);
    for (i = 0; i < s->n_items; i++) {
        for (k = 1, best = 0; k < n; k++)
            if (load[k] < load[best]) best = k;
        load[best] += e[i].p;
        shard_of_item[e[i].id] = best;
    }
    HIL_FREE(e);
    HIL_FREE(load);
    return HIL_OK;
}

/* Keeps shard k (1-based) of n: other items become SKIPPED. */
HIL_API hil_result hil_sched_shard(hil_sched* s, uint32_t k, uint32_t n) {
    uint32_t* plan;
    size_t i;
    hil_result rc;
    if (!s || n == 0 || k == 0 || k > n)
        return hil_error(HIL_ERR_INVALID_ARG, "scheduler: shard %u/%u: K must be 1 to N", (unsigned)k, (unsigned)n);
    if (s->n_runs) /* the split must not depend on what ran already */
        return hil_error(HIL_ERR_STATE, "scheduler: shard before anything runs (%u runs started)", (unsigned)s->n_runs);
    plan = (uint32_t*)HIL_MALLOC((s->n_items + 1) * sizeof(uint32_t));
    if (!plan) return hil_error(HIL_ERR_NO_MEMORY, "scheduler: shard: out of memory");
    if ((rc = hil_sched_shard_plan(s, n, plan)) == HIL_OK) {
        for (i = 0; i < s->n_items; i++) {
            hil__sched_item* it = &s->items[i];
            if (plan[i] == k - 1 || it->state != HIL_SCHED_ITEM_WAITING) continue;
            it->state = HIL_SCHED_ITEM_SKIPPED;
            it->outcome = HIL_SCHED_SKIPPED;
        }
        hil__sched_rebuild_heaps(s);
    }
    HIL_FREE(plan);
    return rc;
}

/* ---- duration history ------------------------------------------------------------------------------ */

typedef struct hil__sched_hent {
    uint32_t name;
    uint32_t count;
    int64_t ema_ns;
} hil__sched_hent;

struct hil_sched_history {
    hil__sched_strs str;
    hil__sched_hent* e;
    size_t n, cap;
    hil__sched_map map;
    uint32_t alpha_permille;
};

#define HIL__SCHED_HIST_HEADER "# hil-sched-history 1"
#define HIL__SCHED_HIST_MAX_NS ((int64_t)1 << 52) /* ~52 days; keeps EMA math in range */

static const char* hil__sched_hist_key(const void* ctx, uint32_t id) {
    const hil_sched_history* h = (const hil_sched_history*)ctx;
    return h->str.p + h->e[id].name;
}

HIL_API hil_result hil_sched_history_create(uint32_t alpha_permille, hil_sched_history** out) {
    hil_sched_history* h;
    if (!out || alpha_permille > 1000) return HIL_ERR_INVALID_ARG;
    h = (hil_sched_history*)HIL_MALLOC(sizeof(*h));
    if (!h) return HIL_ERR_NO_MEMORY;
    memset(h, 0, sizeof(*h));
    h->alpha_permille = alpha_permille ? alpha_permille : 300;
    *out = h;
    return HIL_OK;
}

HIL_API void hil_sched_history_destroy(hil_sched_history* h) {
    if (!h) return;
    HIL_FREE(h->str.p);
    HIL_FREE(h->e);
    HIL_FREE(h->map.slot);
    HIL_FREE(h);
}

static int hil__sched_hist_name_ok(const char* p, size_t n) {
    size_t i;
    if (!n) return 0;
    for (i = 0; i < n; i++)
        if (p[i] == '\n' || p[i] == '\r' || p[i] == '\0') return 0;
    return 1;
}

/* Entry for name (n bytes), created empty if missing. */
static hil_result hil__sched_hist_entry(hil_sched_history* h, const char* p, size_t n, uint32_t* out) {
    hil_result rc = HIL_OK;
    uint32_t off;
    if (!hil__sched_hist_name_ok(p, n)) return HIL_ERR_INVALID_ARG;
    *out = hil__sched_map_find(&h->map, hil__sched_hist_key, h, p, n);
    if (*out != HIL_SCHED_NONE) return HIL_OK;
    HIL__SCHED_RESERVE(rc, h->e, h->cap, h->n + 1);
    if (!rc) rc = hil__sched_str_add(&h->str, p, n, &off);
    if (rc) return rc;
    h->e[h->n].name = off;
    h->e[h->n].count = 0;
    h->e[h->n].ema_ns = 0;
    if ((rc = hil__sched_map_put(&h->map, hil__sched_hist_key, h, (uint32_t)h->n)) != HIL_OK) return rc;
    *out = (uint32_t)h->n++;
    return HIL_OK;
}

/* ema += alpha * (x - ema); the first sample is taken as is. */
HIL_API hil_result hil_sched_history_update(hil_sched_history* h, const char* name, int64_t d) {
    uint32_t id;
    hil_result rc;
    hil__sched_hent* e;
    if (!h || !name || d < 0) return hil_error(HIL_ERR_INVALID_ARG, "duration history: no name or a negative duration");
    if (d > HIL__SCHED_HIST_MAX_NS) d = HIL__SCHED_HIST_MAX_NS;
    if ((rc = hil__sched_hist_entry(h, name, strlen(name), &id)) != HIL_OK) {
        if (rc == HIL_ERR_NO_MEMORY) return hil_error(rc, "duration history: out of memory");
        return hil_error(rc, "duration history: the name '%s' is empty or has a line break", name);
    }
    e = &h->e[id];
    e->ema_ns = e->count ? e->ema_ns + (d - e->ema_ns) * (int64_t)h->alpha_permille / 1000 : d;
    if (e->count < 0xFFFFFFFFu) e->count++;
    return HIL_OK;
}

HIL_API hil_result hil_sched_history_lookup(const hil_sched_history* h, const char* name, int64_t* ema_ns,
                                            uint32_t* count) {
    uint32_t id;
    if (!h || !name) return HIL_ERR_INVALID_ARG;
    id = hil__sched_map_find(&h->map, hil__sched_hist_key, h, name, strlen(name));
    if (id == HIL_SCHED_NONE) return HIL_ERR_NOT_FOUND;
    if (ema_ns) *ema_ns = h->e[id].ema_ns;
    if (count) *count = h->e[id].count;
    return HIL_OK;
}

HIL_API uint32_t hil_sched_history_count(const hil_sched_history* h) { return h ? (uint32_t)h->n : 0; }

static int hil__sched_hist_cmp(const void* x, const void* y) {
    return strcmp(*(const char* const*)x, *(const char* const*)y);
}

/* Sorted by name so the file is stable and diff friendly. */
HIL_API hil_result hil_sched_history_write(const hil_sched_history* h, hil_strbuf* out) {
    const char** names;
    size_t i;
    uint32_t id;
    if (!h || !out) return HIL_ERR_INVALID_ARG;
    names = (const char**)HIL_MALLOC((h->n + 1) * sizeof(*names));
    if (!names) return HIL_ERR_NO_MEMORY;
    for (i = 0; i < h->n; i++) names[i] = h->str.p + h->e[i].name;
    qsort(names, h->n, sizeof(*names), hil__sched_hist_cmp);
    hil_sb_puts(out, HIL__SCHED_HIST_HEADER "\n# ema_ns count name\n");
    for (i = 0; i < h->n; i++) {
        id = hil__sched_map_find(&h->map, hil__sched_hist_key, h, names[i], strlen(names[i]));
        hil_sb_printf(out, "%" PRId64 " %" PRIu32 " %s\n", h->e[id].ema_ns, h->e[id].count, names[i]);
    }
    HIL_FREE(names);
    return out->failed ? HIL_ERR_NO_MEMORY : HIL_OK;
}

static const char* hil__sched_parse_num(const char* p, const char* e, uint64_t max, uint64_t* out) {
    uint64_t v = 0;
    const char* s0 = p;
    for (; p < e && *p >= '0' && *p <= '9'; p++) {
        v = v * 10 + (uint64_t)(*p - '0');
        if (v > max) return NULL;
    }
    if (p == s0 || p >= e || *p != ' ') return NULL;
    *out = v;
    return p + 1;
}

/* One "ema count name" line; entries in the file replace existing ones. */
static hil_result hil__sched_hist_line(hil_sched_history* h, const char* p, const char* e) {
    uint64_t ema, count;
    uint32_t id;
    hil_result rc;
    if (!(p = hil__sched_parse_num(p, e, (uint64_t)HIL__SCHED_HIST_MAX_NS, &ema))) return HIL_ERR_INVALID_ARG;
    if (!(p = hil__sched_parse_num(p, e, 0xFFFFFFFFu, &count))) return HIL_ERR_INVALID_ARG;
    if ((rc = hil__sched_hist_entry(h, p, (size_t)(e - p), &id)) != HIL_OK) return rc;
    h->e[id].ema_ns = (int64_t)ema;
    h->e[id].count = (uint32_t)count;
    return HIL_OK;
}

/* A file torn by a crash or power loss (a half-written line, a run of NULs)
 * still gives every whole line: a bad line is skipped and the first one is
 * reported. A file without the header is not a history: nothing is taken. */
HIL_API hil_result hil_sched_history_parse(hil_sched_history* h, const char* buf, size_t len, size_t* bad_line) {
    const char *p = buf, *end = buf + len;
    size_t line = 0, first_bad = 0, n_bad = 0;
    int header = 0;
    if (bad_line) *bad_line = 0;
    if (!h || (!buf && len)) return HIL_ERR_INVALID_ARG;
    while (p < end) {
        const char* nl = (const char*)memchr(p, '\n', (size_t)(end - p));
        const char* e = nl ? nl : end;
        hil_result rc = HIL_OK;
        line++;
        if (e > p && e[-1] == '\r') e--;
        if (!header && e > p) {
            header = (size_t)(e - p) == strlen(HIL__SCHED_HIST_HEADER) &&
                     !memcmp(p, HIL__SCHED_HIST_HEADER, (size_t)(e - p));
            if (!header) {
                if (bad_line) *bad_line = line;
                return hil_error(HIL_ERR_INVALID_ARG,
                                 "duration history line %zu: the first line must be '" HIL__SCHED_HIST_HEADER "'",
                                 line);
            }
        } else if (e > p && *p != '#') {
            rc = hil__sched_hist_line(h, p, e);
        }
        if (rc == HIL_ERR_NO_MEMORY) {
            if (bad_line) *bad_line = line;
            return hil_error(rc, "duration history: out of memory");
        }
        if (rc && !n_bad++) first_bad = line;
        p = nl ? nl + 1 : end;
    }
    if (!n_bad) return HIL_OK;
    if (bad_line) *bad_line = first_bad;
    return hil_error(HIL_ERR_INVALID_ARG,
                     "duration history line %zu: not '<ema_ns> <count> <name>': skipped (%zu line%s skipped in all; "
                     "a crash or power loss while the file was written tears it so; the whole lines are used)",
                     first_bad, n_bad, n_bad == 1 ? "" : "s");
}

/* ==========================================================================
 * PART 2b: the lab from configuration, the bartender driving real runs,
 * simulation, reports, sharding, merge-results
 * ========================================================================== */

/* ---- small helpers ---------------------------------------------------------------- */

static void hil__strv_free(char** v);

static char* hil__lab_strndup(const char* s, size_t n) {
    char* p = (char*)HIL_MALLOC(n + 1);
    if (!p) return NULL;
    memcpy(p, s, n);
    p[n] = 0;
    return p;
}

/* Append a copy of s to a NULL-terminated list (*v may be NULL). 0: out of memory. */
static int hil__strv_push(char*** v, size_t* n, const char* s) {
    char** p = (char**)HIL_REALLOC(*v, (*n + 2) * sizeof *p);
    if (!p) return 0;
    *v = p;
    p[*n] = hil_strdup(s);
    if (!p[*n]) {
        p[*n] = NULL;
        return 0;
    }
    (*n)++;
    p[*n] = NULL;
    return 1;
}

static size_t hil__strv_len(char* const* v) {
    size_t n = 0;
    while (v && v[n]) n++;
    return n;
}

/* Every value of a list option (a YAML list, repeated keys, or "a, b" in one
 * value): split at commas, trimmed, empty items dropped. *out is a
 * NULL-terminated list (NULL when there are none). 0: out of memory. */
static int hil__lab_list(hil_config* cfg, const char* key, char*** out) {
    const char* vals[256];
    size_t n = hil_config_get_list(cfg, key, vals, 256), i, count = 0;
    *out = NULL;
    if (n > 256) n = 256;
    if (n == 0) {
        const char* one = hil_config_get(cfg, key, NULL);
        if (!one) return 1;
        vals[0] = one;
        n = 1;
    }
    for (i = 0; i < n; i++) {
        const char* p = vals[i];
        while (p && *p) {
            const char* e = strchr(p, ',');
            const char *b = p, *t = e ? e : p + strlen(p);
            while (b < t && isspace((unsigned char)*b)) b++;
            while (t > b && isspace((unsigned char)t[-1])) t--;
            if (t > b) {
                /* values from several sources are a union: each once */
                char* item = hil__lab_strndup(b, (size_t)(t - b));
                size_t k;
                int ok = item != NULL;
                for (k = 0; ok && k < count && strcmp((*out)[k], item) != 0; k++) {
                }
                if (ok && k == count) ok = hil__strv_push(out, &count, item);
                HIL_FREE(item);
                if (!ok) return 0;
            }
            p = e ? e + 1 : NULL;
        }
    }
    return 1;
}

/* "a,b,c" for the core's comma lists (NULL for none). */
static char* hil__lab_join(char* const* v) {
    hil_strbuf sb = {0, 0, 0, 0};
    size_t i;
    if (!v || !v[0]) return NULL;
    for (i = 0; v[i]; i++) {
        if (i) hil_sb_putc(&sb, ',');
        hil_sb_puts(&sb, v[i]);
    }
    if (sb.failed) {
        hil_sb_free(&sb);
        return NULL;
    }
    return hil_sb_take(&sb);
}

/* Words of a command line as a shell would split it ('...', "...", \x),
 * without running a shell. */
static hil_result hil__lab_split(const char* s, const char* what, char*** out) {
    hil_strbuf w = {0, 0, 0, 0};
    size_t n = 0;
    int in_word = 0;
    *out = NULL;
    for (;;) {
        char c = *s;
        if (c == 0 || c == ' ' || c == '\t' || c == '\n') {
            if (in_word == 1) {
                if (!hil__strv_push(out, &n, hil_sb_cstr(&w))) goto oom;
                hil_sb_clear(&w);
                in_word = 0;
            }
            if (c == 0) break;
            s++;
            continue;
        }
        in_word = 1;
        if (c == '\'' || c == '"') {
            char q = c;
            s++;
            while (*s && *s != q) {
                if (q == '"' && *s == '\\' && (s[1] == '"' || s[1] == '\\' || s[1] == '$')) s++;
                hil_sb_putc(&w, *s++);
            }
            if (*s != q) {
                hil_sb_free(&w);
                hil__strv_free(*out);
                *out = NULL;
                return hil_error(HIL_ERR_CONFIG, "%s: an unterminated %c quote in the command", what, q);
            }
            s++; /* '' stays an empty word: in_word is set */
            continue;
        }
        if (c == '\\' && s[1]) s++;
        hil_sb_putc(&w, *s++);
    }
    hil_sb_free(&w);
    if (!n) return hil_error(HIL_ERR_CONFIG, "%s: the command is empty", what);
    return HIL_OK;
oom:
    hil_sb_free(&w);
    hil__strv_free(*out);
    *out = NULL;
    return hil_error(HIL_ERR_NO_MEMORY, "%s: out of memory", what);
}

/* ---- the lab --------------------------------------------------------------------------- */

typedef struct hil__lab_conn {
    char* alias;     /* NULL: the role's own name */
    char* connector; /* connectors.<connector>.* */
} hil__lab_conn;

typedef struct hil__lab_res {
    char* name;
    char* type;
    char** tags;
    char** variants;
    char* flashed;
    hil__lab_conn* conns;
    size_t n_conns;
    char* flash; /* a command that flashes the board; NULL: runs flash it themselves */
    double flash_timeout_s;
    int quarantined;
    int simulated; /* added by --add-board */
    char* acquire; /* reservation hooks (PART 3): run around each use of the board */
    char* release;
    double hook_timeout_s;
    char* power; /* a command that power-cycles the board (docs/power.md); NULL: none */
    double power_timeout_s, power_retries;
} hil__lab_res;

typedef struct hil__lab_build {
    char* variant;
    char* command; /* NULL: prebuilt (only an image) */
    char* image;
    char* cwd;
    int priority;
    double timeout_s, expected_s;
} hil__lab_build;

typedef struct hil__lab_role {
    char* name;
    char* type;
    char** tags;
    char* resource;
    int fixed_firmware;
} hil__lab_role;

typedef struct hil__lab_run {
    char* name;
    char** select;
    char** tags;
    char** exclude_tags;
    char** params;
    char* command;
    char* junit;
    char* cwd;
    char** variants;
    hil__lab_role* roles;
    size_t n_roles;
    int priority;
    double timeout_s, expected_s, test_timeout_s;
    unsigned retries;
    int infra_exit; /* a command's exit status meaning "the lab failed" (0: none) */
} hil__lab_run;

typedef struct hil__lab {
    hil_config* cfg;
    hil__lab_res* res;
    size_t n_res;
    hil__lab_build* builds;
    size_t n_builds;
    hil__lab_run* runs;
    size_t n_runs;
    hil_sched_config sc;
    hil_sched* s;
    uint32_t* item_run;   /* work item -> runs[] */
    uint32_t* core_res;   /* lab resource -> the core's id (same order) */
    uint32_t* core_build; /* core build id -> builds[] */
    size_t n_items_cap;
    int infra_on_timeout;
    double guess_percent;
    double default_expected_s;
    char** only;          /* --only: the work items to schedule (NULL: all) */
    int* only_hits;       /* per pattern: work items it selected */
} hil__lab;

static void hil__lab_free(hil__lab* L) {
    size_t i, k;
    if (!L) return;
    hil__strv_free(L->only);
    HIL_FREE(L->only_hits);
    for (i = 0; i < L->n_res; i++) {
        hil__lab_res* r = &L->res[i];
        HIL_FREE(r->name);
        HIL_FREE(r->type);
        hil__strv_free(r->tags);
        hil__strv_free(r->variants);
        HIL_FREE(r->flashed);
        for (k = 0; k < r->n_conns; k++) {
            HIL_FREE(r->conns[k].alias);
            HIL_FREE(r->conns[k].connector);
        }
        HIL_FREE(r->conns);
        HIL_FREE(r->flash);
        HIL_FREE(r->acquire);
        HIL_FREE(r->release);
        HIL_FREE(r->power);
    }
    HIL_FREE(L->res);
    for (i = 0; i < L->n_builds; i++) {
        HIL_FREE(L->builds[i].variant);
        HIL_FREE(L->builds[i].command);
        HIL_FREE(L->builds[i].image);
        HIL_FREE(L->builds[i].cwd);
    }
    HIL_FREE(L->builds);
    for (i = 0; i < L->n_runs; i++) {
        hil__lab_run* u = &L->runs[i];
        HIL_FREE(u->name);
        hil__strv_free(u->select);
        hil__strv_free(u->tags);
        hil__strv_free(u->exclude_tags);
        hil__strv_free(u->params);
        HIL_FREE(u->command);
        HIL_FREE(u->junit);
        HIL_FREE(u->cwd);
        hil__strv_free(u->variants);
        for (k = 0; k < u->n_roles; k++) {
            HIL_FREE(u->roles[k].name);
            HIL_FREE(u->roles[k].type);
            hil__strv_free(u->roles[k].tags);
            HIL_FREE(u->roles[k].resource);
        }
        HIL_FREE(u->roles);
    }
    HIL_FREE(L->runs);
    HIL_FREE(L->item_run);
    HIL_FREE(L->core_res);
    HIL_FREE(L->core_build);
    hil_sched_destroy(L->s);
    HIL_FREE(L);
}

static int hil__lab_cmp_str(const void* a, const void* b) {
    return strcmp(*(const char* const*)a, *(const char* const*)b);
}

/* Entity names under ns, sorted: the same lab gives the same order. */
static size_t hil__lab_entities(hil_config* cfg, const char* ns, const char** out, size_t max) {
    size_t n = hil_config_entities(cfg, ns, out, max);
    if (n > max) n = max;
    qsort((void*)out, n, sizeof *out, hil__lab_cmp_str);
    return n;
}

static const char* hil__lab_get(hil_config* cfg, const char* fmt, const char* a, const char* b, const char* fallback) {
    char key[600];
    hil__sfmt(key, sizeof key, fmt, a, b);
    return hil_config_get(cfg, key, fallback);
}

static char* hil__lab_dup_opt(hil_config* cfg, const char* fmt, const char* a, const char* b, int* ok) {
    const char* v = hil__lab_get(cfg, fmt, a, b, NULL);
    char* d;
    if (!v || !*v) return NULL;
    d = hil_strdup(v);
    if (!d) *ok = 0;
    return d;
}

static hil_result hil__lab_number(hil_config* cfg, const char* fmt, const char* a, const char* b, double fallback,
                                  double min, double* out) {
    char key[600];
    hil_result r;
    hil__sfmt(key, sizeof key, fmt, a, b);
    *out = fallback;
    if (!hil_config_has(cfg, key)) return HIL_OK;
    r = hil_config_get_float_ex(cfg, key, out);
    if (r != HIL_OK) return r;
    if (*out < min) return hil_error(HIL_ERR_CONFIG, "%s = %g: it must be at least %g", key, *out, min);
    return HIL_OK;
}

static hil_result hil__lab_list_opt(hil_config* cfg, const char* fmt, const char* a, const char* b, char*** out) {
    char key[600];
    hil__sfmt(key, sizeof key, fmt, a, b);
    if (!hil__lab_list(cfg, key, out)) return hil_error(HIL_ERR_NO_MEMORY, "%s: out of memory", key);
    return HIL_OK;
}

#define HIL__LAB_MAX 4096 /* resources, builds, runs and roles of one lab */

static hil_result hil__lab_load_resources(hil__lab* L) {
    const char* names[HIL__LAB_MAX];
    size_t n = hil__lab_entities(L->cfg, "resources", names, HIL__LAB_MAX), i, k;
    hil_result r = HIL_OK;
    L->res = (hil__lab_res*)hil__calloc(n + 1, sizeof *L->res);
    if (!L->res) return hil_error(HIL_ERR_NO_MEMORY, "lab: out of memory");
    for (i = 0; i < n && r == HIL_OK; i++) {
        hil__lab_res* x = &L->res[L->n_res++];
        char** conns = NULL;
        int ok = 1, q = 0;
        char key[600];
        x->name = hil_strdup(names[i]);
        x->type = hil__lab_dup_opt(L->cfg, "resources.%s.type%s", names[i], "", &ok);
        x->flashed = hil__lab_dup_opt(L->cfg, "resources.%s.flashed%s", names[i], "", &ok);
        x->flash = hil__lab_dup_opt(L->cfg, "resources.%s.flash%s", names[i], "", &ok);
        x->acquire = hil__lab_dup_opt(L->cfg, "resources.%s.acquire%s", names[i], "", &ok);
        x->release = hil__lab_dup_opt(L->cfg, "resources.%s.release%s", names[i], "", &ok);
        x->power = hil__lab_dup_opt(L->cfg, "resources.%s.power%s", names[i], "", &ok);
        if (!x->name || !ok) return hil_error(HIL_ERR_NO_MEMORY, "lab: out of memory");
        if ((r = hil__lab_list_opt(L->cfg, "resources.%s.tags%s", names[i], "", &x->tags)) != HIL_OK ||
            (r = hil__lab_list_opt(L->cfg, "resources.%s.variants%s", names[i], "", &x->variants)) != HIL_OK ||
            (r = hil__lab_list_opt(L->cfg, "resources.%s.connectors%s", names[i], "", &conns)) != HIL_OK ||
            (r = hil__lab_number(L->cfg, "resources.%s.flash_timeout%s", names[i], "", 300, 0, &x->flash_timeout_s)) !=
                HIL_OK ||
            (r = hil__lab_number(L->cfg, "resources.%s.hook_timeout%s", names[i], "", 60, 0, &x->hook_timeout_s)) !=
                HIL_OK ||
            (r = hil__lab_number(L->cfg, "resources.%s.power_timeout%s", names[i], "", 60, 0, &x->power_timeout_s)) !=
                HIL_OK ||
            (r = hil__lab_number(L->cfg, "resources.%s.power_retries%s", names[i], "", 1, 0, &x->power_retries)) !=
                HIL_OK)
            break;
        hil__sfmt(key, sizeof key, "resources.%s.quarantined", names[i]);
        if (hil_config_has(L->cfg, key) && (r = hil_config_get_bool_ex(L->cfg, key, &q)) != HIL_OK) break;
        x->quarantined = q;
        x->n_conns = hil__strv_len(conns);
        x->conns = (hil__lab_conn*)hil__calloc(x->n_conns + 1, sizeof *x->conns);
        if (!x->conns) {
            hil__strv_free(conns);
            return hil_error(HIL_ERR_NO_MEMORY, "lab: out of memory");
        }
        for (k = 0; k < x->n_conns && r == HIL_OK; k++) {
            const char* eq = strchr(conns[k], '=');
            const char* c = eq ? eq + 1 : conns[k];
            char probe[600];
            if (eq) {
                while (c[0] == ' ') c++;
                x->conns[k].alias = hil__lab_strndup(conns[k], (size_t)(eq - conns[k]));
                while (x->conns[k].alias && x->conns[k].alias[0] &&
                       isspace((unsigned char)x->conns[k].alias[strlen(x->conns[k].alias) - 1]))
                    x->conns[k].alias[strlen(x->conns[k].alias) - 1] = 0;
            }
            x->conns[k].connector = hil_strdup(c);
            if (!x->conns[k].connector || (eq && !x->conns[k].alias))
                r = hil_error(HIL_ERR_NO_MEMORY, "lab: out of memory");
            else if (eq && !x->conns[k].alias[0])
                r = hil_error(HIL_ERR_CONFIG, "resources.%s.connectors: '%s' has an empty name before '='", x->name,
                              conns[k]);
            hil__sfmt(probe, sizeof probe, "connectors.%s.type", c);
            if (r == HIL_OK && !hil_config_get(L->cfg, probe, NULL))
                r = hil_error(HIL_ERR_CONFIG,
                              "resources.%s.connectors names the connector '%s', but connectors.%s.type is not set: "
                              "define the connector (connectors.%s.type = serial, ...) or fix the name",
                              x->name, c, c, c);
        }
        for (k = 0; k < x->n_conns && r == HIL_OK; k++) {
            size_t j;
            for (j = 0; j < k; j++)
                if ((x->conns[j].alias == NULL) == (x->conns[k].alias == NULL) &&
                    (!x->conns[k].alias || strcmp(x->conns[j].alias, x->conns[k].alias) == 0))
                    r = hil_error(HIL_ERR_CONFIG,
                                  "resources.%s.connectors: two connectors would get the same name in a run: give "
                                  "them names (uart=%s, can=...)",
                                  x->name, x->conns[k].connector);
        }
        hil__strv_free(conns);
    }
    return r;
}

static hil_result hil__lab_load_builds(hil__lab* L) {
    const char* names[HIL__LAB_MAX];
    size_t n = hil__lab_entities(L->cfg, "builds", names, HIL__LAB_MAX), i;
    hil_result r = HIL_OK;
    L->builds = (hil__lab_build*)hil__calloc(n + 1, sizeof *L->builds);
    if (!L->builds) return hil_error(HIL_ERR_NO_MEMORY, "lab: out of memory");
    for (i = 0; i < n && r == HIL_OK; i++) {
        hil__lab_build* b = &L->builds[L->n_builds++];
        double prio = 0;
        int ok = 1;
        b->variant = hil_strdup(names[i]);
        b->command = hil__lab_dup_opt(L->cfg, "builds.%s.command%s", names[i], "", &ok);
        b->image = hil__lab_dup_opt(L->cfg, "builds.%s.image%s", names[i], "", &ok);
        b->cwd = hil__lab_dup_opt(L->cfg, "builds.%s.cwd%s", names[i], "", &ok);
        if (!b->variant || !ok) return hil_error(HIL_ERR_NO_MEMORY, "lab: out of memory");
        if ((r = hil__lab_number(L->cfg, "builds.%s.priority%s", names[i], "", 0, -1e9, &prio)) != HIL_OK ||
            (r = hil__lab_number(L->cfg, "builds.%s.timeout%s", names[i], "", 0, 0, &b->timeout_s)) != HIL_OK ||
            (r = hil__lab_number(L->cfg, "builds.%s.expected%s", names[i], "", 0, 0, &b->expected_s)) != HIL_OK)
            break;
        b->priority = (int)prio;
        if (!b->command && !b->image)
            r = hil_error(HIL_ERR_CONFIG,
                          "builds.%s: set command (how to build the variant) or image (a prebuilt "
                          "firmware file)",
                          names[i]);
    }
    return r;
}

static hil_result hil__lab_load_roles(hil__lab* L, hil__lab_run* u) {
    const char* names[256];
    char ns[600];
    size_t n, i;
    hil_result r = HIL_OK;
    hil__sfmt(ns, sizeof ns, "runs.%s.roles", u->name);
    n = hil__lab_entities(L->cfg, ns, names, 256);
    if (n == 0)
        return hil_error(HIL_ERR_CONFIG,
                         "runs.%s has no role: a run needs at least one board (runs.%s.roles.dut.type = <board type>)",
                         u->name, u->name);
    if (n > HIL_SCHED_MAX_ROLES)
        return hil_error(HIL_ERR_CONFIG, "runs.%s has %zu roles: at most %u boards per run", u->name, n,
                         (unsigned)HIL_SCHED_MAX_ROLES);
    u->roles = (hil__lab_role*)hil__calloc(n, sizeof *u->roles);
    if (!u->roles) return hil_error(HIL_ERR_NO_MEMORY, "lab: out of memory");
    for (i = 0; i < n && r == HIL_OK; i++) {
        hil__lab_role* ro = &u->roles[u->n_roles++];
        char key[600];
        int ok = 1, fixed = 0;
        ro->name = hil_strdup(names[i]);
        hil__sfmt(key, sizeof key, "runs.%s.roles.%s", u->name, names[i]);
        ro->type = hil__lab_dup_opt(L->cfg, "%s.type%s", key, "", &ok);
        ro->resource = hil__lab_dup_opt(L->cfg, "%s.resource%s", key, "", &ok);
        if (!ro->name || !ok) return hil_error(HIL_ERR_NO_MEMORY, "lab: out of memory");
        if ((r = hil__lab_list_opt(L->cfg, "%s.tags%s", key, "", &ro->tags)) != HIL_OK) break;
        hil__sfmt(key, sizeof key, "runs.%s.roles.%s.fixed_firmware", u->name, names[i]);
        if (hil_config_has(L->cfg, key) && (r = hil_config_get_bool_ex(L->cfg, key, &fixed)) != HIL_OK) break;
        ro->fixed_firmware = fixed;
        if (ro->resource) {
            size_t k;
            int found = 0;
            for (k = 0; k < L->n_res; k++) found |= strcmp(L->res[k].name, ro->resource) == 0;
            if (!found)
                r = hil_error(HIL_ERR_CONFIG, "runs.%s.roles.%s.resource = %s: there is no resources.%s", u->name,
                              ro->name, ro->resource, ro->resource);
        }
    }
    return r;
}

static hil_result hil__lab_load_runs(hil__lab* L) {
    const char* names[HIL__LAB_MAX];
    size_t n = hil__lab_entities(L->cfg, "runs", names, HIL__LAB_MAX), i;
    hil_result r = HIL_OK;
    L->runs = (hil__lab_run*)hil__calloc(n + 1, sizeof *L->runs);
    if (!L->runs) return hil_error(HIL_ERR_NO_MEMORY, "lab: out of memory");
    for (i = 0; i < n && r == HIL_OK; i++) {
        hil__lab_run* u = &L->runs[L->n_runs++];
        double prio = 0, retries = 0, infra_exit = 0;
        int ok = 1;
        u->name = hil_strdup(names[i]);
        u->command = hil__lab_dup_opt(L->cfg, "runs.%s.command%s", names[i], "", &ok);
        u->junit = hil__lab_dup_opt(L->cfg, "runs.%s.junit%s", names[i], "", &ok);
        u->cwd = hil__lab_dup_opt(L->cfg, "runs.%s.cwd%s", names[i], "", &ok);
        if (!u->name || !ok) return hil_error(HIL_ERR_NO_MEMORY, "lab: out of memory");
        if ((r = hil__lab_list_opt(L->cfg, "runs.%s.select%s", names[i], "", &u->select)) != HIL_OK ||
            (r = hil__lab_list_opt(L->cfg, "runs.%s.tags%s", names[i], "", &u->tags)) != HIL_OK ||
            (r = hil__lab_list_opt(L->cfg, "runs.%s.exclude_tags%s", names[i], "", &u->exclude_tags)) != HIL_OK ||
            (r = hil__lab_list_opt(L->cfg, "runs.%s.params%s", names[i], "", &u->params)) != HIL_OK ||
            (r = hil__lab_list_opt(L->cfg, "runs.%s.variants%s", names[i], "", &u->variants)) != HIL_OK ||
            (r = hil__lab_number(L->cfg, "runs.%s.priority%s", names[i], "", 0, -1e9, &prio)) != HIL_OK ||
            (r = hil__lab_number(L->cfg, "runs.%s.timeout%s", names[i], "", 0, 0, &u->timeout_s)) != HIL_OK ||
            (r = hil__lab_number(L->cfg, "runs.%s.expected%s", names[i], "", 0, 0, &u->expected_s)) != HIL_OK ||
            (r = hil__lab_number(L->cfg, "runs.%s.test_timeout%s", names[i], "", 0, 0, &u->test_timeout_s)) != HIL_OK ||
            (r = hil__lab_number(L->cfg, "runs.%s.retries%s", names[i], "", 0, 0, &retries)) != HIL_OK ||
            (r = hil__lab_number(L->cfg, "runs.%s.infra_exit%s", names[i], "", 0, 0, &infra_exit)) != HIL_OK)
            break;
        u->priority = (int)prio;
        u->retries = retries > 1000 ? 1000u : (unsigned)retries;
        u->infra_exit = (int)infra_exit;
        if (u->command && (u->select || u->tags || u->exclude_tags || u->params))
            r = hil_error(HIL_ERR_CONFIG,
                          "runs.%s: set command (an external program) or select/tags/params (tests of "
                          "this program), not both",
                          u->name);
        else if (!u->command && !u->select && !u->tags)
            r = hil_error(HIL_ERR_CONFIG,
                          "runs.%s: what does it run? Set select (test filters, e.g. 'uart.*'), "
                          "tags, or command",
                          u->name);
        else if (!u->command && (u->junit || u->cwd || u->infra_exit))
            r = hil_error(HIL_ERR_CONFIG, "runs.%s: junit, cwd and infra_exit are for commands", u->name);
        else
            r = hil__lab_load_roles(L, u);
        if (r == HIL_OK && u->params) {
            size_t k;
            for (k = 0; u->params[k] && r == HIL_OK; k++)
                if (!strchr(u->params[k], '=') || u->params[k][0] == '=')
                    r = hil_error(HIL_ERR_CONFIG, "runs.%s.params: '%s' is not NAME=VALUE", u->name, u->params[k]);
        }
    }
    return r;
}

/* The core's settings from schedule.* (hil_sched_config_init's defaults). */
static hil_result hil__lab_sched_config(hil_config* cfg, hil_sched_config* sc, double* guess, double* def_s) {
    const char* policy = hil_config_get(cfg, "schedule.policy", "key");
    long long v;
    double d;
    hil_sched_config_init(sc);
    if (strcmp(policy, "key") == 0)
        sc->policy = HIL_SCHED_POLICY_KEY;
    else if (strcmp(policy, "bartender") == 0)
        sc->policy = HIL_SCHED_POLICY_BARTENDER;
    else if (strcmp(policy, "fifo") == 0)
        sc->policy = HIL_SCHED_POLICY_FIFO;
    else
        return hil_error(HIL_ERR_CONFIG, "schedule.policy = %s: one of key, bartender, fifo", policy);
    v = hil_config_get_int(cfg, "schedule.jobs", 0);
    sc->jobs = v > 0 ? (uint32_t)v : 0;
    v = hil_config_get_int(cfg, "schedule.build_lanes", 1);
    if (v < 1) return hil_error(HIL_ERR_CONFIG, "schedule.build_lanes = %lld: at least 1", v);
    sc->build_lanes = (uint32_t)v;
    v = hil_config_get_int(cfg, "schedule.quarantine_after", 3);
    sc->quarantine_after = v > 0 ? (uint32_t)v : 0;
    sc->bottleneck_aware = hil_config_get_bool(cfg, "schedule.bottleneck", 1);
    v = hil_config_get_int(cfg, "schedule.timeout_guess", 50);
    if (v < 1 || v > 100) return hil_error(HIL_ERR_CONFIG, "schedule.timeout_guess = %lld: a percentage, 1 to 100", v);
    sc->timeout_guess_percent = (uint32_t)v;
    d = hil_config_get_float(cfg, "schedule.default_expected", 60);
    if (d <= 0) return hil_error(HIL_ERR_CONFIG, "schedule.default_expected = %g: it must be positive", d);
    sc->default_expected_ns = (int64_t)(d * 1e9);
    if (guess) *guess = (double)v;
    if (def_s) *def_s = d;
    return HIL_OK;
}

#define HIL__S_NS(s) ((int64_t)((s)*1e9))

/* A build's expected duration: given, learnt (history key "build:<variant>"),
 * a guess from its timeout, or the default. */
static int64_t hil__lab_build_expected(const hil__lab* L, const hil__lab_build* b, const hil_sched_history* h) {
    char key[300];
    int64_t ema;
    if (b->expected_s > 0) return HIL__S_NS(b->expected_s);
    hil__sfmt(key, sizeof key, "build:%s", b->variant);
    if (h && hil_sched_history_lookup(h, key, &ema, NULL) == HIL_OK && ema > 0) return ema;
    if (b->timeout_s > 0) return HIL__S_NS(b->timeout_s * L->guess_percent / 100.0);
    return HIL__S_NS(L->default_expected_s);
}

/* One --only pattern against the work item RUN[VARIANT] (RUN without
 * variants): the run's name (every variant), or globs on both parts. A
 * pattern ending in "[...]" is NAME[VARIANT] with a glob on each side, so
 * the brackets of item names are never read as a glob's character class. */
static int hil__lab_only_match(const char* pat, const char* run, const char* variant) {
    const char* open = strrchr(pat, '[');
    size_t len = strlen(pat), nl, vl;
    char name[300], var[300], item[600];
    if (strcmp(pat, run) == 0) return 1;
    if (!open || len < 2 || pat[len - 1] != ']') {
        /* a glob on the run's name or on the whole work item's name ('*rev-b*') */
        if (hil_glob_match(pat, run)) return 1;
        if (!variant) return 0;
        hil__sfmt(item, sizeof item, "%s[%s]", run, variant);
        return hil_glob_match(pat, item);
    }
    nl = (size_t)(open - pat);
    vl = len - nl - 2;
    if (!variant || nl >= sizeof name || vl >= sizeof var) return 0;
    memcpy(name, pat, nl);
    name[nl] = 0;
    memcpy(var, open + 1, vl);
    var[vl] = 0;
    return (strcmp(name, run) == 0 || hil_glob_match(name, run)) && (strcmp(var, variant) == 0 || hil_glob_match(var, variant));
}

/* --only: is the work item selected? Counts the hits of every pattern. */
static int hil__lab_only(hil__lab* L, const char* run, const char* variant) {
    size_t i;
    int hit = 0;
    if (!L->only) return 1;
    for (i = 0; L->only[i]; i++)
        if (hil__lab_only_match(L->only[i], run, variant)) {
            L->only_hits[i]++;
            hit = 1;
        }
    return hit;
}

/* The variants of a run that --only selects: *out NULL and *skip 0 for all
 * of them (no --only), *skip 1 when none is. */
static hil_result hil__lab_only_variants(hil__lab* L, const hil__lab_run* u, char** out, int* skip) {
    char** keep = NULL;
    size_t n = 0, i;
    *out = NULL;
    *skip = 0;
    if (!L->only) {
        *out = hil__lab_join(u->variants);
        return u->variants && u->variants[0] && !*out ? hil_error(HIL_ERR_NO_MEMORY, "lab: out of memory") : HIL_OK;
    }
    if (!u->variants || !u->variants[0]) {
        *skip = !hil__lab_only(L, u->name, NULL);
        return HIL_OK;
    }
    for (i = 0; u->variants[i]; i++)
        if (hil__lab_only(L, u->name, u->variants[i]) && !hil__strv_push(&keep, &n, u->variants[i])) {
            hil__strv_free(keep);
            return hil_error(HIL_ERR_NO_MEMORY, "lab: out of memory");
        }
    *skip = n == 0;
    *out = hil__lab_join(keep);
    hil__strv_free(keep);
    return n && !*out ? hil_error(HIL_ERR_NO_MEMORY, "lab: out of memory") : HIL_OK;
}

static hil_result hil__lab_add_items(hil__lab* L, size_t ri) {
    hil__lab_run* u = &L->runs[ri];
    hil_sched_role roles[HIL_SCHED_MAX_ROLES];
    char* tags[HIL_SCHED_MAX_ROLES];
    hil_sched_role_set set;
    hil_sched_spec sp;
    char* variants = NULL;
    uint32_t first = HIL_SCHED_NONE, n = 0, k;
    size_t i;
    int skip = 0;
    hil_result r = hil__lab_only_variants(L, u, &variants, &skip);
    if (r != HIL_OK || skip) return r;
    memset(&sp, 0, sizeof sp);
    for (i = 0; i < u->n_roles; i++) {
        memset(&roles[i], 0, sizeof roles[i]);
        roles[i].name = u->roles[i].name;
        roles[i].type = u->roles[i].type;
        roles[i].tags = tags[i] = hil__lab_join(u->roles[i].tags);
        roles[i].resource = u->roles[i].resource;
        roles[i].fixed_firmware = u->roles[i].fixed_firmware;
    }
    set.label = NULL;
    set.roles = roles;
    set.n_roles = (uint32_t)u->n_roles;
    sp.name = u->name;
    sp.variants = variants;
    sp.role_sets = &set;
    sp.n_role_sets = 1;
    sp.priority = u->priority;
    sp.timeout_ns = HIL__S_NS(u->timeout_s);
    sp.retries = u->retries;
    sp.expected_ns = HIL__S_NS(u->expected_s);
    r = hil_sched_add_spec(L->s, &sp, &first, &n);
    for (i = 0; i < u->n_roles; i++) HIL_FREE(tags[i]);
    HIL_FREE(variants);
    if (r != HIL_OK) return hil_error(r, "runs.%s: %s", u->name, hil_last_error());
    if (hil_sched_item_count(L->s) > L->n_items_cap) {
        size_t cap = hil_sched_item_count(L->s) * 2 + 16;
        uint32_t* p = (uint32_t*)HIL_REALLOC(L->item_run, cap * sizeof *p);
        if (!p) return hil_error(HIL_ERR_NO_MEMORY, "lab: out of memory");
        L->item_run = p;
        L->n_items_cap = cap;
    }
    for (k = 0; k < n; k++) L->item_run[first + k] = (uint32_t)ri;
    return HIL_OK;
}

static hil_result hil__lab_add_resource(hil__lab* L, const hil__lab_res* x, const char* name) {
    hil_sched_resource_spec rs;
    char* tags = hil__lab_join(x->tags);
    char* vars = hil__lab_join(x->variants);
    uint32_t id = 0;
    hil_result r;
    memset(&rs, 0, sizeof rs);
    rs.name = name;
    rs.type = x->type;
    rs.tags = tags;
    rs.variants = vars;
    rs.flashed = x->flashed;
    r = hil_sched_add_resource(L->s, &rs, &id);
    HIL_FREE(tags);
    HIL_FREE(vars);
    if (r != HIL_OK) return hil_error(r, "resources.%s: %s", name, hil_last_error());
    if (x->quarantined) r = hil_sched_set_quarantine(L->s, id, 1);
    return r;
}

/* --add-board TYPE[:N] (planning): N more boards like the first of TYPE. */
static hil_result hil__lab_add_boards(hil__lab* L, const char* spec) {
    char type[200];
    const char* colon = strrchr(spec, ':');
    long n = 1;
    size_t i, tl = colon ? (size_t)(colon - spec) : strlen(spec);
    const hil__lab_res* model = NULL;
    hil_result r = HIL_OK;
    if (colon) {
        char* end;
        n = strtol(colon + 1, &end, 10);
        if (*end || n < 1 || n > 1000)
            return hil_error(HIL_ERR_INVALID_ARG, "--add-board %s: N must be a whole number from 1 to 1000", spec);
    }
    if (tl == 0 || tl >= sizeof type) return hil_error(HIL_ERR_INVALID_ARG, "--add-board '%s': TYPE[:N]", spec);
    memcpy(type, spec, tl);
    type[tl] = 0;
    for (i = 0; i < L->n_res && !model; i++)
        if (L->res[i].type && strcmp(L->res[i].type, type) == 0) model = &L->res[i];
    if (!model)
        return hil_error(HIL_ERR_INVALID_ARG,
                         "--add-board %s: no resource of type '%s' to copy (its tags and firmware variants)", spec,
                         type);
    for (i = 0; i < (size_t)n && r == HIL_OK; i++) {
        char name[300];
        uint32_t dummy;
        int k = 1;
        hil__lab_res copy = *model;
        copy.quarantined = 0;
        do hil__sfmt(name, sizeof name, "%s+%d", type, k++);
        while (hil_sched_find_resource(L->s, name, &dummy) == HIL_OK);
        r = hil__lab_add_resource(L, &copy, name);
    }
    return r;
}

/* The lab in cfg as a scheduler: resources, builds, work items. */
static hil_result hil__lab_load(hil_config* cfg, hil_sched_history* h, hil__lab** out) {
    hil__lab* L = (hil__lab*)hil__calloc(1, sizeof *L);
    hil_result r;
    size_t i;
    *out = NULL;
    if (!L) return hil_error(HIL_ERR_NO_MEMORY, "lab: out of memory");
    L->cfg = cfg;
    L->infra_on_timeout = hil_config_get_bool(cfg, "schedule.infra_on_timeout", 0);
    if (!hil__lab_list(cfg, "schedule.only", &L->only) ||
        (L->only && !(L->only_hits = (int*)hil__calloc(hil__strv_len(L->only) + 1, sizeof *L->only_hits)))) {
        hil__lab_free(L);
        return hil_error(HIL_ERR_NO_MEMORY, "lab: out of memory");
    }
    if (!L->only && hil_config_has(cfg, "schedule.only")) {
        /* --only "$ITEMS" with ITEMS unset must not run the whole lab */
        hil__lab_free(L);
        return hil_error(HIL_ERR_CONFIG, "--only names no work item: give run names, NAME[VARIANT] or globs "
                                         "('schedule --list' shows them), or leave --only out to run them all");
    }
    r = hil__lab_sched_config(cfg, &L->sc, &L->guess_percent, &L->default_expected_s);
    if (r == HIL_OK) r = hil__lab_load_resources(L);
    if (r == HIL_OK) r = hil__lab_load_builds(L);
    if (r == HIL_OK) r = hil__lab_load_runs(L);
    if (r == HIL_OK && L->n_runs == 0)
        r = hil_error(HIL_ERR_CONFIG, "the lab has no runs: define runs.<name>.select (or .command) and "
                                      "runs.<name>.roles.<role>.type (docs/scheduler.md)");
    if (r == HIL_OK && L->n_res == 0)
        r = hil_error(HIL_ERR_CONFIG, "the lab has no resources: define resources.<name>.type (docs/scheduler.md)");
    if (r == HIL_OK) r = hil_sched_create(&L->sc, &L->s);
    for (i = 0; i < L->n_res && r == HIL_OK; i++) r = hil__lab_add_resource(L, &L->res[i], L->res[i].name);
    if (r == HIL_OK) {
        L->core_build = (uint32_t*)hil__calloc(L->n_builds + 1, sizeof *L->core_build);
        if (!L->core_build) r = hil_error(HIL_ERR_NO_MEMORY, "lab: out of memory");
    }
    for (i = 0; i < L->n_builds && r == HIL_OK; i++) {
        hil_sched_build_spec bs;
        uint32_t id;
        if (!L->builds[i].command) continue; /* prebuilt: nothing to wait for */
        memset(&bs, 0, sizeof bs);
        bs.variant = L->builds[i].variant;
        bs.priority = L->builds[i].priority;
        bs.expected_ns = hil__lab_build_expected(L, &L->builds[i], h);
        r = hil_sched_add_build(L->s, &bs, &id);
        if (r == HIL_OK)
            L->core_build[id] = (uint32_t)i;
        else
            r = hil_error(r, "builds.%s: %s", L->builds[i].variant, hil_last_error());
    }
    for (i = 0; i < L->n_runs && r == HIL_OK; i++) r = hil__lab_add_items(L, i);
    for (i = 0; r == HIL_OK && L->only && L->only[i]; i++)
        if (!L->only_hits[i])
            r = hil_error(HIL_ERR_CONFIG,
                          "--only '%s' selects no work item: name a run (every variant), a work item as "
                          "NAME[VARIANT] or a glob; 'schedule --list' shows them", L->only[i]);
    if (r == HIL_OK && h) r = hil_sched_use_history(L->s, h);
    if (r != HIL_OK) {
        hil__lab_free(L);
        return r;
    }
    *out = L;
    return HIL_OK;
}

HIL_API hil_result hil_sched_from_config(hil_config* cfg, hil_sched_history* history, hil_sched** out) {
    hil__lab* L;
    hil_result r;
    if (!out) return hil_error(HIL_ERR_INVALID_ARG, "hil_sched_from_config: no result pointer");
    *out = NULL;
    r = hil__lab_load(cfg ? cfg : hil_cfg(), history, &L);
    if (r != HIL_OK) return r;
    *out = L->s;
    L->s = NULL;
    hil__lab_free(L);
    return HIL_OK;
}

/* ---- the duration history file ------------------------------------------------------ */

#define HIL__HIST_OFF 0      /* schedule.history = off */
#define HIL__HIST_READ 1     /* read */
#define HIL__HIST_MISSING 2  /* no such file (yet) */
#define HIL__HIST_UNUSED 3   /* unreadable or damaged: left out (warned) */

/* Load the history file (a missing file is an empty history; a damaged one
 * is reported and left out: it is rebuilt from the next runs). *state says
 * which (HIL__HIST_*), for the line that tells the user where the expected
 * durations came from. */
static hil_sched_history* hil__lab_history_load(hil_config* cfg, const char* path, char* warn, size_t warn_size,
                                                int* state) {
    hil_sched_history* h = NULL;
    char* text = NULL;
    size_t len = 0, bad = 0;
    hil_result r;
    const char* why;
    double alpha = hil_config_get_float(cfg, "schedule.history_alpha", 0.3);
    warn[0] = 0;
    *state = path ? HIL__HIST_MISSING : HIL__HIST_OFF;
    if (alpha <= 0 || alpha > 1) alpha = 0.3;
    if (hil_sched_history_create((uint32_t)(alpha * 1000 + 0.5), &h) != HIL_OK) return NULL;
    if (!path) return h;
    if (access(path, F_OK) != 0) return h;
    *state = HIL__HIST_UNUSED;
    if (hil_read_file(path, &text, &len) != HIL_OK) {
        hil__sfmt(warn, warn_size, "duration history %s: %s (going on without it)", path, hil_last_error());
        return h;
    }
    r = hil_sched_history_parse(h, text, len, &bad);
    why = hil_last_error();
    if (strncmp(why, "duration history ", 17) == 0) why += 17; /* "line N: ..." */
    if (r == HIL_OK) {
        *state = HIL__HIST_READ;
    } else if (r == HIL_ERR_INVALID_ARG && hil_sched_history_count(h) > 0) {
        /* torn (a crash while it was written): its whole lines are good */
        hil__sfmt(warn, warn_size, "duration history %s: %s; it is rewritten after this run", path, why);
        *state = HIL__HIST_READ;
    } else {
        hil__sfmt(warn, warn_size, "duration history %s: %s (going on without it; it is rewritten after this run)",
                  path, why);
        hil_sched_history_destroy(h);
        h = NULL;
        hil_sched_history_create((uint32_t)(alpha * 1000 + 0.5), &h);
    }
    HIL_FREE(text);
    return h;
}

/* "history: ..." for --simulate and --list: a plan made without the
 * history (a forgotten --runs) looks like one made with it otherwise. */
static void hil__lab_history_line(const char* path, int state, const hil_sched_history* h, char* out, size_t size) {
    switch (state) {
    case HIL__HIST_READ:
        hil__sfmt(out, size, "history: %s (%u work items and builds)", path, (unsigned)hil_sched_history_count(h));
        break;
    case HIL__HIST_MISSING:
        hil__sfmt(out, size,
                  "history: %s not found: no learnt durations (is --runs the directory of earlier schedules? "
                  "schedule.history names the file)",
                  path);
        break;
    case HIL__HIST_UNUSED: hil__sfmt(out, size, "history: %s could not be used (see the warning)", path); break;
    default: hil__sfmt(out, size, "history: off (schedule.history = off)"); break;
    }
}

static hil_result hil__lab_history_save(const hil_sched_history* h, const char* path) {
    hil_strbuf sb = {0, 0, 0, 0};
    hil_result r;
    char dir[4096];
    const char* slash;
    if (!h || !path) return HIL_OK;
    slash = strrchr(path, '/');
    if (slash && slash != path && (size_t)(slash - path) < sizeof dir) {
        memcpy(dir, path, (size_t)(slash - path));
        dir[slash - path] = 0;
        (void)hil_mkdirs(dir);
    }
    r = hil_sched_history_write(h, &sb);
    if (r == HIL_OK) r = hil_write_file_atomic(path, sb.data, sb.len);
    hil_sb_free(&sb);
    return r;
}

/* ---- placeholders in commands ---------------------------------------------------------- */

/* What a run's roles resolve to: the boards and, per role, the connector
 * names its tests see (the role's name, or <role>_<alias>). */
typedef struct hil__ph {
    const hil__lab* L;
    const hil__lab_run* u; /* NULL for a flash or build command */
    const hil__lab_res* res[HIL_SCHED_MAX_ROLES];
    const char* res_name[HIL_SCHED_MAX_ROLES];
    const char* role[HIL_SCHED_MAX_ROLES];
    size_t n_roles;
    const char* variant;
    const char* image;
    const char* item;
    const char* rundir;
} hil__ph;

/* The connector behind a name a run sees ("dut", "dut_can"), or NULL. */
static const char* hil__ph_connector(const hil__ph* ph, const char* seen, size_t len) {
    size_t k, j;
    for (k = 0; k < ph->n_roles; k++) {
        size_t rl = strlen(ph->role[k]);
        if (len < rl || strncmp(seen, ph->role[k], rl) != 0) continue;
        for (j = 0; ph->res[k] && j < ph->res[k]->n_conns; j++) {
            const hil__lab_conn* c = &ph->res[k]->conns[j];
            if (!c->alias && len == rl) return c->connector;
            if (c->alias && len == rl + 1 + strlen(c->alias) && seen[rl] == '_' &&
                strncmp(seen + rl + 1, c->alias, len - rl - 1) == 0)
                return c->connector;
        }
    }
    return NULL;
}

/* {variant} {image} {item} {rundir} {ROLE} (its board) {NAME.KEY} (a key of
 * the connector a run sees as NAME); {{ and }} are braces. */
static hil_result hil__ph_expand(const hil__ph* ph, const char* tmpl, const char* what, hil_strbuf* out) {
    const char* p = tmpl;
    while (*p) {
        const char *close, *dot;
        char name[256];
        size_t len, k;
        const char* val = NULL;
        if (p[0] == '{' && p[1] == '{') {
            hil_sb_putc(out, '{');
            p += 2;
            continue;
        }
        if (p[0] == '}' && p[1] == '}') {
            hil_sb_putc(out, '}');
            p += 2;
            continue;
        }
        if (*p != '{') {
            hil_sb_putc(out, *p++);
            continue;
        }
        close = strchr(p, '}');
        if (!close) return hil_error(HIL_ERR_CONFIG, "%s: '{' without '}' in '%s' (write {{ for a brace)", what, tmpl);
        len = (size_t)(close - p - 1);
        if (len == 0 || len >= sizeof name)
            return hil_error(HIL_ERR_CONFIG, "%s: empty or long {} in '%s'", what, tmpl);
        memcpy(name, p + 1, len);
        name[len] = 0;
        dot = strchr(name, '.');
        if (strcmp(name, "variant") == 0)
            val = ph->variant ? ph->variant : "";
        else if (strcmp(name, "image") == 0) {
            val = ph->image;
            if (!val)
                return hil_error(HIL_ERR_CONFIG, "%s: {image}: no image for variant '%s' (set builds.%s.image)", what,
                                 ph->variant ? ph->variant : "(none)", ph->variant ? ph->variant : "<variant>");
        } else if (strcmp(name, "item") == 0)
            val = ph->item ? ph->item : "";
        else if (strcmp(name, "rundir") == 0)
            val = ph->rundir ? ph->rundir : ".";
        else if (!dot) {
            for (k = 0; k < ph->n_roles && !val; k++)
                if (strcmp(ph->role[k], name) == 0) val = ph->res_name[k];
            if (!val && strcmp(name, "run") == 0 && ph->item) val = ph->item; /* reservation hooks */
        } else {
            const char* conn = hil__ph_connector(ph, name, (size_t)(dot - name));
            if (conn) {
                char key[600];
                hil__sfmt(key, sizeof key, "connectors.%s.%s", conn, dot + 1);
                val = hil_config_get(ph->L->cfg, key, NULL);
                if (!val)
                    return hil_error(HIL_ERR_CONFIG, "%s: {%s}: %s is not set (the connector '%s' of the board)", what,
                                     name, key, conn);
            }
        }
        if (!val)
            return hil_error(HIL_ERR_CONFIG,
                             "%s: unknown placeholder {%s} (known: {variant} {image} {item} {rundir} {<role>} "
                             "{<role>.<connector key>})",
                             what, name);
        hil_sb_puts(out, val);
        p = close + 1;
    }
    return out->failed ? hil_error(HIL_ERR_NO_MEMORY, "%s: out of memory", what) : HIL_OK;
}

static hil_result hil__ph_argv(const hil__ph* ph, const char* tmpl, const char* what, char*** argv) {
    hil_strbuf sb = {0, 0, 0, 0};
    hil_result r = hil__ph_expand(ph, tmpl, what, &sb);
    if (r == HIL_OK) r = hil__lab_split(hil_sb_cstr(&sb), what, argv);
    hil_sb_free(&sb);
    return r;
}

/* ---- the run directory's view of a schedule ------------------------------------------- */

/* The longest reason the scheduler passes on (a run's, a flash's, a
 * build's): room for a test's whole reason (hil.h keeps up to 1023
 * characters) with the prefixes added on the way ("retried on another
 * resource: ", "flashing <board> failed: ", "<suite.test>: "), so a
 * reason is not cut before its last words (often the signal or the fix). */
#define HIL__SCHED_REASON_MAX 2048

#define HIL__ST_BUILD 0
#define HIL__ST_FLASH 1
#define HIL__ST_RUN 2
#define HIL__ST_NOT_RUN 3
#define HIL__ST_POWER 4

/* Every task the bartender made, for the reports. */
typedef struct hil__stask {
    hil_task* t;
    int kind;
    uint32_t ref;  /* core build id, or core run id (FLASH, RUN), or item (NOT_RUN) */
    uint32_t role; /* FLASH: the role */
} hil__stask;

typedef struct hil__srun {
    uint32_t item;
    char* item_name; /* copies: the core's strings move as it grows */
    char* variant;
    hil__ph ph;
    unsigned reflash, flash_left, infra;
    unsigned power_cycles; /* boards of this run power-cycled so far (docs/power.md) */
    char why[HIL__SCHED_REASON_MAX]; /* the first infrastructure failure */
    hil_task* test;
    int started;
    unsigned acquired; /* roles whose acquire hook passed: their release hook runs */
} hil__srun;

/* What waits for an end: a task and what it belongs to. */
typedef struct hil__swait {
    hil_task* t;
    int kind;
    uint32_t ref;
    uint32_t role;
} hil__swait;

typedef struct hil__sdrv {
    hil__lab* L;
    hil_sched_history* hist;
    const char* hist_path;
    const char* hist_line; /* "history: <file> ..." for the JobLog */
    const hil_schedule_config* c;
    hil__job* J;
    hil_job_rt* rt;
    hil__srun* runs; /* by core run id */
    size_t cap_runs;
    hil_task** build_task; /* by core build id */
    hil__stask* st;
    size_t n_st, cap_st;
    hil_task** wait; /* started tasks not ended yet: hil_task_wait_any's list */
    hil__swait* wait_of;
    size_t n_wait, cap_wait;
    uint32_t runs_done;
    int64_t t_end;
    int64_t eta, eta_at; /* the last ETA and when it was computed */
    hil_sched_bound lb;
    int oom;
    /* PART 3: the lab's board locks (NULL: lab.state = off) */
    hil_lab* lab;
    uint8_t* lab_mine;       /* per resource: this schedule holds its lock */
    uint32_t lab_held;       /* boards other processes hold now */
    int64_t lab_wait_from;   /* when waiting for them began (0: not waiting) */
    int64_t lab_wait_ns;     /* time spent waiting for them, in all */
    int64_t lab_until;       /* wall: the earliest end another holder expects (0: unknown) */
    int lab_wake, lab_intr;  /* set by the watcher thread, under J->mu */
    int lab_watching;
    hil_thread lab_watcher;
    hil_waker lab_stop;
    char lab_refused[1200]; /* --no-wait: why the waiting work items did not start */
} hil__sdrv;

static hil__sdrv* hil__sdrv_cur; /* the schedule being run (jobs do not nest) */

static int64_t hil__sdrv_now(void) { return (int64_t)hil_now_ns(); }

static void hil__sdrv_note(hil__sdrv* D, hil_task* t, int kind, uint32_t ref, uint32_t role) {
    if (D->n_st == D->cap_st) {
        size_t cap = D->cap_st ? D->cap_st * 2 : 32;
        hil__stask* p = (hil__stask*)HIL_REALLOC(D->st, cap * sizeof *p);
        if (!p) {
            D->oom = 1;
            return;
        }
        D->st = p;
        D->cap_st = cap;
    }
    D->st[D->n_st].t = t;
    D->st[D->n_st].kind = kind;
    D->st[D->n_st].ref = ref;
    D->st[D->n_st].role = role;
    D->n_st++;
}

static int hil__sdrv_wait_add(hil__sdrv* D, hil_task* t, int kind, uint32_t ref, uint32_t role) {
    if (D->n_wait == D->cap_wait) {
        size_t cap = D->cap_wait ? D->cap_wait * 2 : 32;
        hil_task** w = (hil_task**)HIL_REALLOC(D->wait, cap * sizeof *w);
        hil__swait* o;
        if (!w) return 0;
        D->wait = w;
        o = (hil__swait*)HIL_REALLOC(D->wait_of, cap * sizeof *o);
        if (!o) return 0;
        D->wait_of = o;
        D->cap_wait = cap;
    }
    D->wait[D->n_wait] = t;
    D->wait_of[D->n_wait].t = t;
    D->wait_of[D->n_wait].kind = kind;
    D->wait_of[D->n_wait].ref = ref;
    D->wait_of[D->n_wait].role = role;
    D->n_wait++;
    return 1;
}

/* A task that will not run (blocked, or the schedule was interrupted): it
 * carries the item's result and reason into every report. */
static void hil__sdrv_not_run(hil__sdrv* D, const char* item, hil_outcome o, const char* why) {
    hil_task_options to;
    hil_task* t = NULL;
    static const char* const none[] = {"-", NULL};
    hil_task_options_init(&to);
    to.taskid = item;
    to.filters = none;
    if (hil_task_create(D->rt, &to, &t) != HIL_OK) {
        hil_job_error(D->rt, "%s: %s", item, hil_last_error());
        return;
    }
    hil_mutex_lock(&D->J->mu);
    hil__task_refuse(D->J, t, o, o == HIL_BLOCKED ? "blocked" : "not_run", why, HIL_ERR_STATE);
    hil_waker_wake(&D->J->wake);
    hil_mutex_unlock(&D->J->mu);
    hil__sdrv_note(D, t, HIL__ST_NOT_RUN, 0, 0);
}

/* Results of an attempt that was retried elsewhere no longer count against
 * the schedule: they become Skipped, and say why. */
static void hil__sdrv_supersede(hil__sdrv* D, hil_task* t, const char* why) {
    hil__job* J = D->J;
    size_t i;
    char note[HIL__SCHED_REASON_MAX + 64];
    int power = strncmp(why, "power-cycled", 12) == 0; /* the same board again (hil__sdrv_power_cycle) */
    if (!t) return;
    hil__sfmt(note, sizeof note, power ? "%s" : "retried on another resource: %s", why);
    hil_mutex_lock(&J->mu);
    for (i = 0; i < t->sum->n_results; i++) {
        hil_test_result* r = &t->sum->results[i];
        char* old;
        if (!hil_outcome_is_failure(r->outcome)) continue;
        old = r->reason;
        r->reason = NULL;
        {
            hil_strbuf sb = {0, 0, 0, 0};
            hil_sb_printf(&sb, "%s (this attempt: %s: %s)",
                          power ? "ran again after a power cycle" : "retried on another resource",
                          hil_outcome_str(r->outcome), old ? old : "no reason");
            r->reason = sb.failed ? NULL : hil_sb_take(&sb);
            hil_sb_free(&sb);
        }
        HIL_FREE(old);
        r->outcome = HIL_SKIPPED;
    }
    hil__sum_finish(t->sum);
    t->outcome = t->sum->outcome;
    HIL_FREE(t->reason);
    t->reason = hil_strdup(note);
    hil_mutex_unlock(&J->mu);
}

/* The final attempt of a retried item passed: Passx, as for a retried test. */
static void hil__sdrv_passx(hil__sdrv* D, hil_task* t) {
    size_t i;
    if (!t) return;
    hil_mutex_lock(&D->J->mu);
    for (i = 0; i < t->sum->n_results; i++)
        if (t->sum->results[i].outcome == HIL_PASSED) t->sum->results[i].outcome = HIL_PASSX;
    hil__sum_finish(t->sum);
    t->outcome = t->sum->outcome;
    hil_mutex_unlock(&D->J->mu);
}

/* "connectors.<seen>.<key>=<value>" for every key of the board's connectors. */
typedef struct hil__conn_visit {
    hil_config* cfg;
    const char* connector;
    const char* seen;
    char*** out;
    size_t* n;
    int oom;
} hil__conn_visit;

static void hil__conn_visit_fn(const char* key, const hil_config_value* v, void* user) {
    hil__conn_visit* cv = (hil__conn_visit*)user;
    size_t cl = strlen(cv->connector);
    hil_strbuf sb = {0, 0, 0, 0};
    (void)v;
    if (strncmp(key, "connectors.", 11) != 0 || strncmp(key + 11, cv->connector, cl) != 0 || key[11 + cl] != '.')
        return;
    hil_sb_printf(&sb, "connectors.%s.%s=%s", cv->seen, key + 12 + cl, hil_config_get(cv->cfg, key, ""));
    if (sb.failed || !hil__strv_push(cv->out, cv->n, hil_sb_cstr(&sb))) cv->oom = 1;
    hil_sb_free(&sb);
}

static const char* hil__lab_image(const hil__lab* L, const char* variant) {
    size_t i;
    for (i = 0; variant && i < L->n_builds; i++)
        if (strcmp(L->builds[i].variant, variant) == 0) return L->builds[i].image;
    return NULL;
}

static void hil__sdrv_run_finished(hil__sdrv* D, uint32_t run, hil_sched_outcome o, unsigned infra, const char* why);
static int hil__sdrv_lab_acquire(hil__sdrv* D, uint32_t run, unsigned* failed, char* why, size_t size);

/* Start the tests (or the command) of a run whose boards are ready. */
static void hil__sdrv_start_test(hil__sdrv* D, uint32_t run) {
    hil__srun* R = &D->runs[run];
    const hil__lab_run* u = R->ph.u;
    hil_task_options to;
    hil_task* t = NULL;
    char **params = NULL, **config = NULL, **argv = NULL, **env = NULL;
    size_t np = 0, nc = 0, ne = 0, k, j;
    hil_strbuf sb = {0, 0, 0, 0}, what = {0, 0, 0, 0};
    hil_result r = HIL_OK;
    int ok = 1;
    char* junit = NULL;
    hil_task_options_init(&to);
    to.taskid = R->ph.item;
    to.max_runtime_s = u->timeout_s;
    hil_sb_printf(&what, "runs.%s.command", u->name);
    for (k = 0; k < R->ph.n_roles && ok; k++) {
        hil_sb_clear(&sb);
        hil_sb_printf(&sb, "resource_%s=%s", R->ph.role[k], R->ph.res_name[k]);
        ok = !sb.failed && hil__strv_push(&params, &np, hil_sb_cstr(&sb));
        if (ok && (R->reflash & (1u << k)) && !R->ph.res[k]->flash) {
            hil_sb_clear(&sb);
            hil_sb_printf(&sb, "flash_%s=1", R->ph.role[k]); /* the tests flash it themselves */
            ok = !sb.failed && hil__strv_push(&params, &np, hil_sb_cstr(&sb));
        }
        for (j = 0; ok && j < R->ph.res[k]->n_conns; j++) {
            hil__conn_visit cv;
            hil_sb_clear(&sb);
            if (R->ph.res[k]->conns[j].alias)
                hil_sb_printf(&sb, "%s_%s", R->ph.role[k], R->ph.res[k]->conns[j].alias);
            else
                hil_sb_puts(&sb, R->ph.role[k]);
            cv.cfg = D->L->cfg;
            cv.connector = R->ph.res[k]->conns[j].connector;
            cv.seen = hil_sb_cstr(&sb);
            cv.out = &config;
            cv.n = &nc;
            cv.oom = 0;
            hil_config_foreach(D->L->cfg, hil__conn_visit_fn, &cv);
            ok = !cv.oom;
        }
    }
    if (ok && R->ph.variant) {
        hil_sb_clear(&sb);
        hil_sb_printf(&sb, "variant=%s", R->ph.variant);
        ok = hil__strv_push(&params, &np, hil_sb_cstr(&sb));
    }
    if (ok && R->ph.image) {
        hil_sb_clear(&sb);
        hil_sb_printf(&sb, "image=%s", R->ph.image);
        ok = hil__strv_push(&params, &np, hil_sb_cstr(&sb));
    }
    if (ok) {
        hil_sb_clear(&sb);
        hil_sb_printf(&sb, "item=%s", R->ph.item);
        ok = hil__strv_push(&params, &np, hil_sb_cstr(&sb));
    }
    for (k = 0; ok && u->params && u->params[k]; k++) ok = hil__strv_push(&params, &np, u->params[k]);
    if (!ok) r = hil_error(HIL_ERR_NO_MEMORY, "%s: out of memory", R->ph.item);
    if (r == HIL_OK && u->command) {
        /* the command: its words, with the run's placeholders; what the
         * tests would get as params it gets as HIL_* variables */
        r = hil__ph_argv(&R->ph, u->command, hil_sb_cstr(&what), &argv);
        for (k = 0; r == HIL_OK && params && params[k]; k++) {
            const char* eq = strchr(params[k], '=');
            size_t i;
            hil_sb_clear(&sb);
            hil_sb_puts(&sb, "HIL_");
            for (i = 0; params[k] + i < eq; i++)
                hil_sb_putc(&sb,
                            isalnum((unsigned char)params[k][i]) ? (char)toupper((unsigned char)params[k][i]) : '_');
            hil_sb_puts(&sb, eq);
            if (!hil__strv_push(&env, &ne, hil_sb_cstr(&sb))) r = hil_error(HIL_ERR_NO_MEMORY, "out of memory");
        }
        if (r == HIL_OK && u->junit) {
            hil_sb_clear(&sb);
            r = hil__ph_expand(&R->ph, u->junit, "junit", &sb);
            if (r == HIL_OK && !(junit = hil_strdup(hil_sb_cstr(&sb))))
                r = hil_error(HIL_ERR_NO_MEMORY, "out of memory");
        }
        to.argv = (const char* const*)argv;
        to.env = (const char* const*)env;
        to.cwd = u->cwd;
        to.junit = junit;
    } else if (r == HIL_OK) {
        to.filters = (const char* const*)u->select;
        to.tags = (const char* const*)u->tags;
        to.exclude_tags = (const char* const*)u->exclude_tags;
        to.params = (const char* const*)params;
        to.config = (const char* const*)config;
        to.timeout_s = u->test_timeout_s;
    }
    if (r == HIL_OK) r = hil_task_create(D->rt, &to, &t);
    hil__strv_free(params);
    hil__strv_free(config);
    hil__strv_free(argv);
    hil__strv_free(env);
    HIL_FREE(junit);
    hil_sb_free(&sb);
    hil_sb_free(&what);
    if (r != HIL_OK) {
        /* the lab's configuration cannot make this run: it fails, the board is fine */
        char why[HIL__SCHED_REASON_MAX];
        hil__sfmt(why, sizeof why, "%s", hil_last_error());
        hil__sdrv_not_run(D, R->ph.item, HIL_ERRORED, why);
        hil__sdrv_run_finished(D, run, HIL_SCHED_FAILED, 0, why);
        return;
    }
    R->test = t;
    hil__sdrv_note(D, t, HIL__ST_RUN, run, 0);
    if (hil_task_start(t) != HIL_OK || !hil__sdrv_wait_add(D, t, HIL__ST_RUN, run, 0)) {
        /* it never ran (interrupted, no fork): its task says why */
        hil__sdrv_run_finished(D, run, HIL_SCHED_ERROR, 0, hil_task_reason(t) ? hil_task_reason(t) : "not started");
    }
}

/* A run's boards that need new firmware get it first, through their flash
 * command (a failure there is the board's, not the tests'). */
static void hil__sdrv_start_run(hil__sdrv* D, const hil_sched_decision* d, unsigned lock_failed, const char* lock_why) {
    hil__srun* R;
    uint32_t k;
    unsigned acq_failed = 0;
    char acq_why[HIL__SCHED_REASON_MAX];
    if (d->run >= D->cap_runs) {
        size_t cap = d->run * 2 + 16;
        hil__srun* p = (hil__srun*)HIL_REALLOC(D->runs, cap * sizeof *p);
        if (!p) {
            D->oom = 1;
            hil_sched_run_finished(D->L->s, d->run, HIL_SCHED_ERROR, 0, hil__sdrv_now());
            return;
        }
        memset(p + D->cap_runs, 0, (cap - D->cap_runs) * sizeof *p);
        D->runs = p;
        D->cap_runs = cap;
    }
    R = &D->runs[d->run];
    memset(R, 0, sizeof *R);
    R->item = d->item;
    R->started = 1;
    R->ph.L = D->L;
    R->ph.u = &D->L->runs[D->L->item_run[d->item]];
    R->ph.n_roles = d->n_roles;
    for (k = 0; k < d->n_roles; k++) {
        R->ph.res[k] = &D->L->res[d->resources[k]];
        R->ph.res_name[k] = D->L->res[d->resources[k]].name;
        R->ph.role[k] = R->ph.u->roles[k].name;
    }
    R->item_name = hil_strdup(d->name);
    R->variant = d->variant ? hil_strdup(d->variant) : NULL;
    if (!R->item_name || (d->variant && !R->variant)) D->oom = 1;
    R->ph.item = R->item_name ? R->item_name : "?";
    R->ph.variant = R->variant;
    R->ph.image = hil__lab_image(D->L, R->ph.variant);
    R->ph.rundir = D->rt->directory;
    R->reflash = d->reflash_mask;
    /* a board another process took after all, or a reservation hook that
     * failed: a failure of the lab, retried elsewhere, never a test's */
    if (lock_failed) {
        hil__sdrv_run_finished(D, d->run, HIL_SCHED_ERROR, lock_failed, lock_why);
        return;
    }
    if (!hil__sdrv_lab_acquire(D, d->run, &acq_failed, acq_why, sizeof acq_why)) {
        hil_sched_run_info ri;
        hil__job_log(D->J, "warning", "%s: %s", R->ph.item, acq_why);
        hil__sdrv_run_finished(D, d->run, HIL_SCHED_ERROR, acq_failed, acq_why);
        if (hil_sched_run_info_get(D->L->s, d->run, &ri) == HIL_OK && !ri.requeued) {
            char note[HIL__SCHED_REASON_MAX + 64];
            hil__sfmt(note, sizeof note, "a failure of the lab, not of a test: %s", acq_why);
            hil__sdrv_not_run(D, R->ph.item, HIL_BLOCKED, note);
        }
        return;
    }
    for (k = 0; k < d->n_roles; k++) {
        const hil__lab_res* x = R->ph.res[k];
        hil__ph fph;
        hil_task_options to;
        hil_task* t = NULL;
        char** argv = NULL;
        char what[300], id[600];
        hil_result r;
        if (!(d->reflash_mask & (1u << k)) || !x->flash) continue;
        fph = R->ph;
        fph.u = NULL;
        fph.n_roles = 1;
        fph.res[0] = x;
        fph.res_name[0] = x->name;
        fph.role[0] = "board";
        hil__sfmt(what, sizeof what, "resources.%s.flash", x->name);
        r = hil__ph_argv(&fph, x->flash, what, &argv);
        hil_task_options_init(&to);
        hil__sfmt(id, sizeof id, "flash.%s.%s", x->name, R->ph.item);
        to.taskid = id;
        to.argv = (const char* const*)argv;
        to.max_runtime_s = x->flash_timeout_s;
        if (r == HIL_OK) r = hil_task_create(D->rt, &to, &t);
        hil__strv_free(argv);
        if (r != HIL_OK) {
            char why[HIL__SCHED_REASON_MAX];
            hil__sfmt(why, sizeof why, "%s", hil_last_error());
            hil__sdrv_not_run(D, id, HIL_ERRORED, why); /* a configuration error: not the board's fault */
            if (!R->why[0]) hil__sfmt(R->why, sizeof R->why, "%s", why);
            continue;
        }
        hil__sdrv_note(D, t, HIL__ST_FLASH, d->run, k);
        if (hil_task_start(t) == HIL_OK && hil__sdrv_wait_add(D, t, HIL__ST_FLASH, d->run, k))
            R->flash_left++;
        else if (!R->why[0])
            hil__sfmt(R->why, sizeof R->why, "%s", hil_task_reason(t) ? hil_task_reason(t) : "flash not started");
    }
    if (R->flash_left) return;
    if (R->why[0])
        hil__sdrv_run_finished(D, d->run, HIL_SCHED_FAILED, 0, R->why);
    else
        hil__sdrv_start_test(D, d->run);
}

static void hil__sdrv_start_build(hil__sdrv* D, uint32_t b) {
    const hil__lab_build* lb = &D->L->builds[D->L->core_build[b]];
    hil__ph ph;
    hil_task_options to;
    hil_task* t = NULL;
    char** argv = NULL;
    char what[300], id[300];
    hil_result r;
    memset(&ph, 0, sizeof ph);
    ph.L = D->L;
    ph.variant = lb->variant;
    ph.image = lb->image;
    ph.rundir = D->rt->directory;
    hil__sfmt(what, sizeof what, "builds.%s.command", lb->variant);
    hil__sfmt(id, sizeof id, "build.%s", lb->variant);
    r = hil__ph_argv(&ph, lb->command, what, &argv);
    hil_task_options_init(&to);
    to.taskid = id;
    to.argv = (const char* const*)argv;
    to.cwd = lb->cwd;
    to.max_runtime_s = lb->timeout_s;
    if (r == HIL_OK) r = hil_task_create(D->rt, &to, &t);
    hil__strv_free(argv);
    if (r != HIL_OK) {
        char why[HIL__SCHED_REASON_MAX];
        hil__sfmt(why, sizeof why, "%s", hil_last_error());
        hil__sdrv_not_run(D, id, HIL_ERRORED, why);
        hil_sched_build_finished(D->L->s, lb->variant, 0, why, hil__sdrv_now());
        return;
    }
    D->build_task[b] = t;
    hil__sdrv_note(D, t, HIL__ST_BUILD, b, 0);
    if (hil_task_start(t) != HIL_OK || !hil__sdrv_wait_add(D, t, HIL__ST_BUILD, b, 0))
        hil_sched_build_finished(D->L->s, lb->variant, 0, hil_task_reason(t) ? hil_task_reason(t) : "not started",
                                 hil__sdrv_now());
}

/* ---- the lab's board locks, health and hooks in a schedule (PART 3, docs/lab.md) ------------ */

/* A task that failed because of the lab, not the tests: its failures become
 * Skipped with the reason, so the schedule's verdict stays the tests'. */
static void hil__sdrv_unfail(hil__sdrv* D, hil_task* t, const char* why) {
    size_t i;
    if (!t) return;
    hil_mutex_lock(&D->J->mu);
    for (i = 0; t->sum && i < t->sum->n_results; i++) {
        hil_test_result* r = &t->sum->results[i];
        if (!hil_outcome_is_failure(r->outcome)) continue;
        HIL_FREE(r->reason);
        r->reason = hil_strdup(why);
        r->outcome = HIL_SKIPPED;
    }
    if (t->sum) {
        hil__sum_finish(t->sum);
        t->outcome = t->sum->outcome;
    }
    HIL_FREE(t->reason);
    t->reason = hil_strdup(why);
    hil_mutex_unlock(&D->J->mu);
}

/* Run a board's command (a health check, an acquire or release hook) as a
 * task of the job and wait for it: 1 when it passed, else 0 and why. */
static int hil__sdrv_board_cmd(hil__sdrv* D, size_t ri, const char* tmpl, const char* what, const char* id,
                               const char* item, double timeout_s, char* why, size_t why_size) {
    const hil__lab_res* x = &D->L->res[ri];
    hil__ph ph;
    hil_task_options to;
    hil_task* t = NULL;
    char** argv = NULL;
    hil_result r;
    int ok;
    memset(&ph, 0, sizeof ph);
    ph.L = D->L;
    ph.n_roles = 1;
    ph.res[0] = x;
    ph.res_name[0] = x->name;
    ph.role[0] = "board";
    ph.item = item;
    ph.rundir = D->rt->directory;
    r = hil__ph_argv(&ph, tmpl, what, &argv);
    hil_task_options_init(&to);
    to.taskid = id;
    to.argv = (const char* const*)argv;
    to.max_runtime_s = timeout_s > 0 ? timeout_s : 60;
    if (r == HIL_OK) r = hil_task_create(D->rt, &to, &t);
    hil__strv_free(argv);
    if (r != HIL_OK) {
        hil__sfmt(why, why_size, "%s", hil_last_error());
        return 0;
    }
    hil__sdrv_note(D, t, HIL__ST_NOT_RUN, 0, 0);
    if (hil_task_start(t) != HIL_OK || hil_task_wait(t, 0) != HIL_OK) {
        hil__sfmt(why, why_size, "%s: %s", what, hil_task_reason(t) ? hil_task_reason(t) : "not started");
        return 0;
    }
    ok = !hil_outcome_is_failure(t->outcome);
    if (!ok) {
        char note[HIL__SCHED_REASON_MAX + 64];
        hil__sfmt(why, why_size, "%s: %s", what, t->reason ? t->reason : hil_outcome_str(t->outcome));
        hil__sfmt(note, sizeof note, "a failure of the lab, not of a test: %s", why);
        hil__sdrv_unfail(D, t, note);
    }
    return ok;
}

/* At the start: boards the lab state keeps quarantined stay out, unless the
 * health check (lab.health_check) passes on them now. */
static void hil__sdrv_lab_begin(hil__sdrv* D) {
    const char* check = hil_config_get(D->L->cfg, "lab.health_check", NULL);
    double timeout_s = hil_config_get_float(D->L->cfg, "lab.health_timeout", 60);
    size_t i;
    D->lab_mine = (uint8_t*)hil__calloc(D->L->n_res + 1, 1);
    if (!D->lab_mine) {
        D->oom = 1;
        return;
    }
    for (i = 0; i < D->L->n_res; i++) {
        hil__lab_res* x = &D->L->res[i];
        hil_lab_board_state st;
        char why[HIL__SCHED_REASON_MAX], id[300], item[300];
        if (x->simulated || x->quarantined || hil_lab_state_load(D->lab, x->name, &st) != HIL_OK || !st.quarantined)
            continue;
        if (check && *check && hil_lab_try_lock(D->lab, x->name, "health check", 0, NULL) == HIL_OK) {
            int ok;
            hil__sfmt(id, sizeof id, "health.%s", x->name);
            hil__sfmt(item, sizeof item, "health.%s", x->name);
            ok = hil__sdrv_board_cmd(D, i, check, "lab.health_check", id, item, timeout_s, why, sizeof why);
            (void)hil_lab_unlock(D->lab, x->name);
            if (ok) {
                (void)hil_lab_quarantine(D->lab, x->name, 0, "health-passed", "the health check passed");
                hil__job_log(D->J, "info", "%s: the health check passed: back in service (it was quarantined: %s)",
                             x->name, st.reason);
                continue;
            }
            (void)hil_lab_quarantine(D->lab, x->name, 1, "health-failed", why);
            hil__job_log(D->J, "warning", "%s: the health check failed: it stays quarantined (%s)", x->name, why);
        }
        x->quarantined = 1; /* reported here, not again when the core says so */
        (void)hil_sched_set_quarantine(D->L->s, (uint32_t)i, 1);
        hil__job_log(D->J, "warning", "%s is quarantined (lab state %s: %s): no runs go to it (lab unquarantine %s)",
                     x->name, hil_lab_dir(D->lab), st.reason, x->name);
    }
}

/* Which boards other processes hold now (no lock taken: F_GETLK). Call in a section. */
static void hil__sdrv_lab_probe(hil__sdrv* D) {
    size_t i;
    int64_t wall = (int64_t)hil_wall_ns();
    D->lab_held = 0;
    D->lab_until = 0;
    for (i = 0; i < D->L->n_res; i++) {
        hil_lab_holder h;
        int held = 0;
        if (!D->lab_mine[i] && !D->L->res[i].simulated && hil_lab_holder_get(D->lab, D->L->res[i].name, &h) == HIL_OK)
            held = h.held && !h.mine;
        (void)hil_sched_set_held(D->L->s, (uint32_t)i, held);
        if (!held) continue;
        D->lab_held++;
        if (h.until_ns > wall && (!D->lab_until || h.until_ns < D->lab_until)) D->lab_until = h.until_ns;
    }
}

/* --no-wait: who holds what, for the refusal. */
static void hil__sdrv_lab_holders(hil__sdrv* D, char* out, size_t size) {
    size_t i, n = 0;
    hil__sfmt(out, size, "--no-wait: boards held by other runs:");
    for (i = 0; i < D->L->n_res; i++) {
        hil_lab_holder h;
        char t[40];
        size_t len = strlen(out);
        if (D->lab_mine[i] || hil_lab_holder_get(D->lab, D->L->res[i].name, &h) != HIL_OK || !h.held || h.mine)
            continue;
        hil_format_time_iso((uint64_t)h.since_ns, t, sizeof t);
        hil__sfmt(out + len, size - len, "%s %s by pid %ld (%s@%s, %s) since %s", n++ ? ";" : "", D->L->res[i].name,
                  h.pid, h.user, h.host, h.run, t);
    }
}

/* Lock the boards the core chose (in the same section as the probe, so it
 * cannot fail unless a process locks boards without the section); 0 and
 * why when a board was taken anyway. */
static int hil__sdrv_lab_take(hil__sdrv* D, const hil_sched_decision* d, unsigned* failed, char* why, size_t size) {
    hil_sched_item_info ii;
    uint32_t k;
    int64_t expected = hil_sched_item_info_get(D->L->s, d->item, &ii) == HIL_OK ? ii.expected_ns : 0;
    *failed = 0;
    for (k = 0; k < d->n_roles; k++) {
        const char* name = D->L->res[d->resources[k]].name;
        char run[600];
        hil__sfmt(run, sizeof run, "%s %s", hil__basename(D->rt->directory), d->name);
        if (hil_lab_try_lock(D->lab, name, run, expected, NULL) == HIL_OK) {
            D->lab_mine[d->resources[k]] = 1;
        } else {
            *failed |= 1u << k;
            hil__sfmt(why, size, "%s", hil_last_error());
        }
    }
    return *failed == 0;
}

/* A run ended: its release hooks, its boards' health in the lab state, and
 * the locks back to the lab. */
static void hil__sdrv_lab_give(hil__sdrv* D, uint32_t run, hil_sched_outcome o, unsigned infra, const char* why) {
    hil__srun* R = &D->runs[run];
    size_t k;
    for (k = 0; k < R->ph.n_roles; k++) {
        size_t ri = (size_t)(R->ph.res[k] - D->L->res);
        const hil__lab_res* x = R->ph.res[k];
        if ((R->acquired & (1u << k)) && x->release) {
            char id[600], rwhy[HIL__SCHED_REASON_MAX], what[300];
            hil__sfmt(id, sizeof id, "release.%s.%s", x->name, R->ph.item);
            hil__sfmt(what, sizeof what, "resources.%s.release", x->name);
            if (!hil__sdrv_board_cmd(D, ri, x->release, what, id, R->ph.item, x->hook_timeout_s, rwhy, sizeof rwhy))
                hil__job_log(D->J, "warning", "%s: the release hook failed (the board may still be reserved): %s",
                             x->name, rwhy);
        }
        R->acquired &= ~(1u << k);
        if (!D->lab || !D->lab_mine || !D->lab_mine[ri]) continue;
        {
            int qnow = 0;
            const char* res = hil_sched_outcome_name(o);
            if (hil_lab_note_result(D->lab, x->name, R->ph.item, res, (infra & (1u << k)) ? why : NULL,
                                    D->L->sc.quarantine_after, &qnow) != HIL_OK)
                hil__job_log(D->J, "warning", "lab state of %s: %s", x->name, hil_last_error());
            if (qnow) (void)hil_sched_set_quarantine(D->L->s, (uint32_t)ri, 1);
        }
        (void)hil_lab_unlock(D->lab, x->name);
        D->lab_mine[ri] = 0;
    }
}

/* The acquire hooks of a run's boards, before anything else touches them:
 * 0 and why (with the failing roles in *failed) when one failed. */
static int hil__sdrv_lab_acquire(hil__sdrv* D, uint32_t run, unsigned* failed, char* why, size_t size) {
    hil__srun* R = &D->runs[run];
    size_t k;
    *failed = 0;
    for (k = 0; k < R->ph.n_roles; k++) {
        const hil__lab_res* x = R->ph.res[k];
        char id[600], what[300];
        if (!x->acquire) continue;
        hil__sfmt(id, sizeof id, "acquire.%s.%s", x->name, R->ph.item);
        hil__sfmt(what, sizeof what, "resources.%s.acquire", x->name);
        if (!hil__sdrv_board_cmd(D, (size_t)(x - D->L->res), x->acquire, what, id, R->ph.item, x->hook_timeout_s, why,
                                 size)) {
            *failed |= 1u << k;
            return 0;
        }
        R->acquired |= 1u << k;
    }
    return 1;
}

/* The watcher: wakes the bartender when a board may have been released
 * elsewhere (the lab directory's inotify) or on Ctrl-C, so the bartender
 * can wait on the job's condition variable for both that and its own tasks. */
static void* hil__sdrv_lab_watch(void* arg) {
    hil__sdrv* D = (hil__sdrv*)arg;
    int ino = hil_lab_wait_fd(D->lab);
    hil_waker* intr = hil_interrupt_waker();
    int intr_seen = 0;
    for (;;) {
        struct pollfd pf[3];
        nfds_t n = 0;
        int ii = -1, stop;
        pf[n].fd = hil_waker_fd(&D->lab_stop);
        pf[n++].events = POLLIN;
        if (ino >= 0) {
            pf[n].fd = ino;
            pf[n++].events = POLLIN;
        }
        if (intr && !intr_seen) {
            ii = (int)n;
            pf[n].fd = hil_waker_fd(intr);
            pf[n++].events = POLLIN;
        }
        pf[0].revents = 0;
        if (poll(pf, n, -1) < 0 && errno != EINTR) break;
        stop = pf[0].revents != 0;
        if (stop) break;
        hil_lab_wait_drain(D->lab);
        hil_mutex_lock(&D->J->mu);
        /* the job's monitor drains the interrupt waker; this only tells the bartender once */
        if (ii >= 0 && pf[ii].revents) intr_seen = D->lab_intr = 1;
        D->lab_wake = 1;
        hil_cond_broadcast(&D->J->cv);
        hil_mutex_unlock(&D->J->mu);
    }
    return NULL;
}

/* Wait for one of the bartender's tasks to end (1, *idx) or for the lab to
 * change or Ctrl-C (0). */
static int hil__sdrv_lab_wait(hil__sdrv* D, size_t* idx) {
    hil__job* J = D->J;
    size_t i;
    if (!D->lab_watching) {
        /* without a watcher the bartender could only spin: it stops waiting instead */
        int ok = hil_waker_init(&D->lab_stop) == HIL_OK;
        (void)hil_lab_wait_fd(D->lab);
        hil_lab_wait_drain(D->lab);
        if (ok && hil_thread_create(&D->lab_watcher, hil__sdrv_lab_watch, D, "hil-lab-watch") != HIL_OK) {
            hil_waker_destroy(&D->lab_stop);
            ok = 0;
        }
        if (!ok) {
            hil__sfmt(D->lab_refused, sizeof D->lab_refused,
                      "cannot wait for the boards other runs hold (no watcher thread: %s)", hil_last_error());
            hil_job_error(D->rt, "lab: %s", D->lab_refused);
            return 0;
        }
        D->lab_watching = 1;
        return 0; /* look again: a board freed before the watch began is found by the next probe */
    }
    hil_mutex_lock(&J->mu);
    for (;;) {
        for (i = 0; i < D->n_wait; i++)
            if (D->wait[i]->state == HIL__T_DONE) {
                *idx = i;
                hil_mutex_unlock(&J->mu);
                hil__job_flush_console(J);
                return 1;
            }
        if (D->lab_wake || D->lab_intr || J->interrupted) {
            D->lab_wake = 0;
            hil_mutex_unlock(&J->mu);
            return 0;
        }
        (void)hil_cond_wait_until(&J->cv, &J->mu, HIL_NEVER);
    }
}

/* Ctrl-C as the watcher saw it (it sets the flag under J->mu). */
static int hil__sdrv_lab_intr(hil__sdrv* D) {
    int v;
    hil_mutex_lock(&D->J->mu);
    v = D->lab_intr;
    hil_mutex_unlock(&D->J->mu);
    return v;
}

static void hil__sdrv_lab_end(hil__sdrv* D) {
    size_t i;
    if (D->lab_watching) {
        hil_waker_wake(&D->lab_stop);
        hil_thread_join(&D->lab_watcher);
        hil_waker_destroy(&D->lab_stop);
        D->lab_watching = 0;
    }
    for (i = 0; D->lab && D->lab_mine && i < D->L->n_res; i++)
        if (D->lab_mine[i]) (void)hil_lab_unlock(D->lab, D->L->res[i].name);
    HIL_FREE(D->lab_mine);
    D->lab_mine = NULL;
}

/* Work waits while another process holds a board: the wait is counted. */
static int hil__sdrv_lab_waiting(hil__sdrv* D) {
    uint32_t i, n = hil_sched_item_count(D->L->s);
    int waiting = 0;
    int64_t now = hil__sdrv_now();
    if (D->lab && D->lab_held)
        for (i = 0; i < n && !waiting; i++) {
            hil_sched_item_info ii;
            hil_sched_item_info_get(D->L->s, i, &ii);
            waiting = ii.state == HIL_SCHED_ITEM_WAITING;
        }
    if (waiting && !D->lab_wait_from) D->lab_wait_from = now;
    if (!waiting && D->lab_wait_from) {
        D->lab_wait_ns += now - D->lab_wait_from;
        D->lab_wait_from = 0;
    }
    return waiting;
}

/* The ETA with boards held elsewhere: the rest simulated as if those boards
 * were free, from the earliest end their holders expect (their records'
 * `until`); pessimistic for the work that did not need them. */
static hil_result hil__sdrv_eta(hil__sdrv* D, int64_t now, int64_t* fin) {
    hil_sched* copy;
    hil_result r;
    uint32_t i;
    int64_t start = now, wall = (int64_t)hil_wall_ns();
    if (!D->lab_held) return hil_sched_eta(D->L->s, now, fin);
    if ((r = hil_sched_clone(D->L->s, &copy)) != HIL_OK) return r;
    for (i = 0; i < hil_sched_resource_count(copy); i++) (void)hil_sched_set_held(copy, i, 0);
    if (D->lab_until > wall) start = now + (D->lab_until - wall);
    r = hil_sched_simulate(copy, NULL, start, fin);
    hil_sched_destroy(copy);
    return r;
}

/* Start what can start now: builds first (they release runs), then runs. */
static void hil__sdrv_dispatch(hil__sdrv* D) {
    hil_sched* s = D->L->s;
    for (;;) {
        uint32_t b = HIL_SCHED_NONE;
        if (hil_sched_next_build(s, hil__sdrv_now(), &b) != HIL_OK) {
            hil_job_error(D->rt, "scheduler: %s", hil_last_error());
            return;
        }
        if (b == HIL_SCHED_NONE) break;
        hil__sdrv_start_build(D, b);
    }
    for (;;) {
        hil_sched_decision d;
        hil_result r;
        unsigned failed = 0;
        char why[HIL__SCHED_REASON_MAX];
        /* with a lab state: look at the boards, choose, lock the chosen as
         * one step for the other processes (see PART 3) */
        if (D->lab && D->lab_mine) {
            if (hil_lab_section_begin(D->lab) != HIL_OK) {
                hil_job_error(D->rt, "%s", hil_last_error());
                return;
            }
            hil__sdrv_lab_probe(D);
        }
        r = D->lab_refused[0] ? HIL_OK : hil_sched_next(s, hil__sdrv_now(), &d);
        if (D->lab_refused[0]) d.kind = HIL_SCHED_NEXT_NONE;
        if (r == HIL_OK && d.kind == HIL_SCHED_NEXT_START && D->lab && D->lab_mine)
            (void)hil__sdrv_lab_take(D, &d, &failed, why, sizeof why);
        if (D->lab && D->lab_mine) hil_lab_section_end(D->lab);
        if (r != HIL_OK) {
            hil_job_error(D->rt, "scheduler: %s", hil_last_error());
            return;
        }
        if (d.kind == HIL_SCHED_NEXT_NONE) break;
        if (d.kind == HIL_SCHED_NEXT_BLOCKED)
            hil__sdrv_not_run(D, d.name, HIL_BLOCKED, d.reason);
        else
            hil__sdrv_start_run(D, &d, failed, why);
        if (hil_job_interrupted(D->rt)) break;
    }
}

/* What a run's task says about the run: its outcome for the scheduler and
 * which boards (if any) are to blame. Infrastructure failures, retried
 * elsewhere and counted towards quarantine: the task process died (not a
 * test in it: the worker catches those), every result was Blocked (a
 * precheck found the board's setup missing, e.g. a required auxiliary), a
 * command killed by a signal or exiting with runs.<name>.infra_exit, and,
 * with schedule.infra_on_timeout, a timeout. */
static hil_sched_outcome hil__sdrv_classify(hil__sdrv* D, hil__srun* R, hil_task* t, unsigned* infra, char* why,
                                            size_t size) {
    const hil__lab_run* u = R->ph.u;
    hil_outcome o = t->outcome;
    *infra = 0;
    hil__sfmt(why, size, "%s", t->reason ? t->reason : hil_outcome_str(o));
    if (t->start_error) return HIL_SCHED_FAILED;
    if (t->stop_why == HIL__STOP_MAX_RUNTIME) {
        if (D->L->infra_on_timeout) *infra = HIL_SCHED_INFRA_ALL;
        return HIL_SCHED_TIMEOUT;
    }
    if (t->stop_why) return HIL_SCHED_ERROR;
    if (t->kind == HIL__TASK_TESTS) {
        if (!(WIFEXITED(t->status) && WEXITSTATUS(t->status) == 0 && t->got_done) || t->stream_bad) {
            *infra = HIL_SCHED_INFRA_ALL;
            return HIL_SCHED_ERROR;
        }
        if (o == HIL_BLOCKED) {
            *infra = HIL_SCHED_INFRA_ALL;
            return HIL_SCHED_ERROR;
        }
    } else {
        if (WIFSIGNALED(t->status) ||
            (u->infra_exit && WIFEXITED(t->status) && WEXITSTATUS(t->status) == u->infra_exit)) {
            *infra = HIL_SCHED_INFRA_ALL;
            return HIL_SCHED_ERROR;
        }
    }
    return hil_outcome_is_failure(o) ? HIL_SCHED_FAILED : HIL_SCHED_PASSED;
}

static void hil__sdrv_progress(hil__sdrv* D, int line);

static void hil__sdrv_run_finished(hil__sdrv* D, uint32_t run, hil_sched_outcome o, unsigned infra, const char* why) {
    hil__srun* R = &D->runs[run];
    hil_sched_run_info ri;
    hil_sched_item_info ii;
    size_t i;
    if (hil_sched_run_finished(D->L->s, run, o, infra, hil__sdrv_now()) != HIL_OK) {
        hil_job_error(D->rt, "scheduler: %s", hil_last_error());
        return;
    }
    hil__sdrv_lab_give(D, run, o, infra, why);
    D->runs_done++;
    hil_sched_run_info_get(D->L->s, run, &ri);
    hil_sched_item_info_get(D->L->s, R->item, &ii);
    if (ri.requeued) {
        HIL_INFO("hil.sched", "%s: infrastructure failure on %s: %s; retrying on another resource", ii.name,
                 R->ph.res_name[0], why);
        /* Only what failed in this attempt is superseded: the run's tests
         * (for the run's reason), and a flash that failed (for its own
         * reason). A flash that passed did its job and stays Passed. */
        for (i = 0; i < D->n_st; i++) {
            hil__stask* x = &D->st[i];
            if (x->ref != run) continue;
            if (x->kind == HIL__ST_RUN)
                hil__sdrv_supersede(D, x->t, why);
            else if ((x->kind == HIL__ST_FLASH || x->kind == HIL__ST_POWER) && hil_outcome_is_failure(x->t->outcome))
                hil__sdrv_supersede(D, x->t, x->t->reason ? x->t->reason : hil_outcome_str(x->t->outcome));
        }
    } else if (ii.attempts > 1 && ii.outcome == HIL_SCHED_PASSED) {
        hil__sdrv_passx(D, R->test);
    }
    for (i = 0; i < hil_sched_resource_count(D->L->s); i++) {
        hil_sched_resource_info rinfo;
        hil_sched_resource_info_get(D->L->s, (uint32_t)i, &rinfo);
        if (rinfo.quarantined && !D->L->res[i].quarantined && i < D->L->n_res) {
            const char* s_ = rinfo.infra_streak == 1 ? "" : "s";
            D->L->res[i].quarantined = 1; /* reported once */
            hil__job_log(D->J, "warning", "%s quarantined after %u infrastructure failure%s in a row (last: %s)",
                         rinfo.name, (unsigned)rinfo.infra_streak, s_, why);
            hil_mutex_lock(&D->J->mu);
            if (D->J->console != HIL_JOB_CONSOLE_SILENT)
                hil_sb_printf(&D->J->pending_out, "  quarantined %s after %u infrastructure failure%s in a row: %s\n",
                              rinfo.name, (unsigned)rinfo.infra_streak, s_, why);
            hil_mutex_unlock(&D->J->mu);
        }
    }
    if (D->hist && D->hist_path && hil__lab_history_save(D->hist, D->hist_path) != HIL_OK)
        hil__job_log(D->J, "warning", "duration history %s: %s", D->hist_path, hil_last_error());
    hil__sdrv_progress(D, 1);
}

/* A board that stopped answering (an infrastructure failure of its run) is
 * power-cycled through resources.<name>.power, a command run as a task like
 * a flash, and the run starts again on the same boards, up to
 * power_retries times (docs/power.md). The attempt that failed is
 * superseded and says so; the power task is in every report. Returns 1
 * when a cycle started (the run goes on when it ends), 0 to count the
 * failure as before. */
static int hil__sdrv_power_cycle(hil__sdrv* D, uint32_t run, unsigned infra, const char* why) {
    hil__srun* R = &D->runs[run];
    unsigned k, started = 0;
    char note[HIL__SCHED_REASON_MAX + 128];
    for (k = 0; k < R->ph.n_roles; k++) {
        const hil__lab_res* x = R->ph.res[k];
        if ((infra & (1u << k)) && (!x->power || R->power_cycles >= (unsigned)x->power_retries)) return 0;
    }
    R->flash_left = 0;
    R->infra = 0;
    R->why[0] = 0;
    for (k = 0; k < R->ph.n_roles; k++) {
        const hil__lab_res* x = R->ph.res[k];
        hil__ph pph = R->ph;
        hil_task_options to;
        hil_task* t = NULL;
        char** argv = NULL;
        char what[300], id[600];
        hil_result r;
        if (!(infra & (1u << k))) continue;
        pph.u = NULL;
        pph.n_roles = 1;
        pph.res[0] = x;
        pph.res_name[0] = x->name;
        pph.role[0] = "board";
        hil__sfmt(what, sizeof what, "resources.%s.power", x->name);
        hil__sfmt(id, sizeof id, "power.%s.%s.%u", x->name, R->ph.item, R->power_cycles + 1);
        r = hil__ph_argv(&pph, x->power, what, &argv);
        hil_task_options_init(&to);
        to.taskid = id;
        to.argv = (const char* const*)argv;
        to.max_runtime_s = x->power_timeout_s;
        if (r == HIL_OK) r = hil_task_create(D->rt, &to, &t);
        hil__strv_free(argv);
        if (r != HIL_OK) {
            hil__sfmt(R->why, sizeof R->why, "%s", hil_last_error());
            hil__sdrv_not_run(D, id, HIL_ERRORED, R->why);
            continue;
        }
        hil__sdrv_note(D, t, HIL__ST_POWER, run, k);
        if (hil_task_start(t) == HIL_OK && hil__sdrv_wait_add(D, t, HIL__ST_POWER, run, k)) {
            R->flash_left++;
            started++;
            hil__job_log(D->J, "warning", "%s: %s stopped answering (%s): power-cycling it (%s), then running again",
                         R->ph.item, x->name, why, id);
        } else {
            R->infra |= 1u << k;
        }
    }
    if (!started) return 0;
    R->power_cycles++;
    hil__sfmt(note, sizeof note, "power-cycled the board and ran again (this attempt: %s)", why);
    hil__sdrv_supersede(D, R->test, note);
    R->test = NULL;
    return 1;
}

/* A task ended: tell the scheduler what it means. */
static void hil__sdrv_ended(hil__sdrv* D, size_t idx) {
    hil__swait w = D->wait_of[idx];
    hil_task* t = w.t;
    D->wait[idx] = D->wait[D->n_wait - 1];
    D->wait_of[idx] = D->wait_of[D->n_wait - 1];
    D->n_wait--;
    if (w.kind == HIL__ST_BUILD) {
        const hil__lab_build* lb = &D->L->builds[D->L->core_build[w.ref]];
        int ok = !hil_outcome_is_failure(t->outcome);
        char why[HIL__SCHED_REASON_MAX];
        hil__sfmt(why, sizeof why, "%s", t->reason ? t->reason : hil_outcome_str(t->outcome));
        if (ok && lb->image) {
            char path[4200];
            if (lb->image[0] != '/' && lb->cwd)
                hil__sfmt(path, sizeof path, "%s/%s", lb->cwd, lb->image);
            else
                hil__sfmt(path, sizeof path, "%s", lb->image);
            if (access(path, R_OK) != 0) {
                ok = 0;
                hil__sfmt(why, sizeof why, "the build passed but its image %s is missing: %s", path, strerror(errno));
            }
        }
        if (D->hist && ok && t->end_ns > t->start_ns) {
            char key[300];
            hil__sfmt(key, sizeof key, "build:%s", lb->variant);
            (void)hil_sched_history_update(D->hist, key, (int64_t)(t->end_ns - t->start_ns));
        }
        if (hil_sched_build_finished(D->L->s, lb->variant, ok, ok ? NULL : why, hil__sdrv_now()) != HIL_OK)
            hil_job_error(D->rt, "scheduler: %s", hil_last_error());
        if (!ok)
            hil__job_log(D->J, "warning", "build of %s failed: the runs that need it are blocked: %s", lb->variant,
                         why);
        hil__sdrv_progress(D, 0);
        return;
    }
    if (w.kind == HIL__ST_FLASH || w.kind == HIL__ST_POWER) {
        hil__srun* R = &D->runs[w.ref];
        R->flash_left--;
        if (hil_outcome_is_failure(t->outcome)) {
            R->infra |= 1u << w.role;
            if (!R->why[0])
                hil__sfmt(R->why, sizeof R->why, "%s %s failed: %s",
                          w.kind == HIL__ST_POWER ? "power-cycling" : "flashing", R->ph.res_name[w.role],
                          t->reason ? t->reason : hil_outcome_str(t->outcome));
        }
        if (R->flash_left) return;
        if (R->infra || R->why[0])
            hil__sdrv_run_finished(D, w.ref, HIL_SCHED_ERROR, R->infra, R->why);
        else if (hil_job_interrupted(D->rt))
            hil__sdrv_run_finished(D, w.ref, HIL_SCHED_ERROR, 0, "interrupted");
        else
            hil__sdrv_start_test(D, w.ref);
        return;
    }
    {
        hil__srun* R = &D->runs[w.ref];
        unsigned infra = 0;
        char why[HIL__SCHED_REASON_MAX];
        hil_sched_outcome o = hil__sdrv_classify(D, R, t, &infra, why, sizeof why);
        if (infra && hil__sdrv_power_cycle(D, w.ref, infra, why)) return;
        hil__sdrv_run_finished(D, w.ref, o, infra, why);
        if (R->power_cycles && o == HIL_SCHED_PASSED) hil__sdrv_passx(D, R->test);
    }
}

static void hil__fmt_eta(char* out, size_t size, int64_t ns) {
    long long s = ns > 0 ? (long long)((ns + 999999999) / 1000000000) : 0;
    if (s >= 3600)
        hil__sfmt(out, size, "%lldh%02lldm", s / 3600, s / 60 % 60);
    else if (s >= 60)
        hil__sfmt(out, size, "%lldm%02llds", s / 60, s % 60);
    else
        hil__sfmt(out, size, "%llds", s);
}

/* A duration for people: ms under a second, 1m20s above a minute. */
static void hil__fmt_dur(char* out, size_t size, int64_t ns) {
    if (ns < (int64_t)60 * 1000000000)
        hil__fmt_secs(out, size, ns > 0 ? (uint64_t)ns : 0);
    else
        hil__fmt_eta(out, size, ns);
}

/* The live status line (ETA by simulating the rest with expected
 * durations), and in CI logs a line per finished run. */
static void hil__sdrv_progress(hil__sdrv* D, int line) {
    hil_sched* s = D->L->s;
    uint32_t i, n_items = hil_sched_item_count(s), done = 0, running = 0, total = 0;
    int64_t now = hil__sdrv_now(), fin = now;
    char text[300], eta[32];
    for (i = 0; i < n_items; i++) {
        hil_sched_item_info ii;
        hil_sched_item_info_get(s, i, &ii);
        if (ii.state == HIL_SCHED_ITEM_SKIPPED) continue;
        total++;
        done += ii.state == HIL_SCHED_ITEM_DONE || ii.state == HIL_SCHED_ITEM_BLOCKED;
        running += ii.state == HIL_SCHED_ITEM_RUNNING;
    }
    /* the ETA simulates the rest: O(work left), so at most twice a second */
    if (!D->eta_at || now - D->eta_at >= 500000000) {
        if (hil__sdrv_eta(D, now, &fin) != HIL_OK) fin = now;
        D->eta = fin;
        D->eta_at = now;
    }
    fin = D->eta > now ? D->eta : now;
    hil__fmt_eta(eta, sizeof eta, fin - now);
    hil__sfmt(text, sizeof text, "schedule: %u of %u work items done, %u running", (unsigned)done, (unsigned)total,
              (unsigned)running);
    if (D->lab_wait_from)
        hil__sfmt(text + strlen(text), sizeof text - strlen(text), ", waiting for %u board%s other runs hold",
                  (unsigned)D->lab_held, D->lab_held == 1 ? "" : "s");
    hil_mutex_lock(&D->J->mu);
    hil_sb_clear(&D->J->status);
    hil_sb_puts(&D->J->status, text);
    D->J->status_eta = (uint64_t)fin;
    if (line && D->J->console == HIL_JOB_CONSOLE_LINES) hil_sb_printf(&D->J->pending_out, "  %s, ETA %s\n", text, eta);
    hil_mutex_unlock(&D->J->mu);
    hil__job_flush_console(D->J);
}

/* ---- the reports of a schedule ------------------------------------------------------------ */

static int64_t hil__sdrv_item_ns(void* user, const hil_sched* s, uint32_t id) {
    hil_sched_item_info ii;
    hil_sched_run_info ri;
    (void)user;
    if (hil_sched_item_info_get(s, id, &ii) != HIL_OK) return 0;
    /* what it took; what did not run (an interrupted session) is no work
     * this schedule had to do */
    if (ii.state == HIL_SCHED_ITEM_DONE && ii.last_run != HIL_SCHED_NONE &&
        hil_sched_run_info_get(s, ii.last_run, &ri) == HIL_OK && !ri.open)
        return ri.end_ns - ri.start_ns;
    return 0;
}

static int64_t hil__sdrv_build_ns(void* user, const hil_sched* s, uint32_t id) {
    hil_sched_build_info bi;
    (void)user;
    if (hil_sched_build_info_get(s, id, &bi) != HIL_OK) return 0;
    return bi.state >= 2 ? bi.end_ns - bi.start_ns : bi.expected_ns;
}

static void hil__html_td(hil_strbuf* sb, const char* cls, const char* text) {
    hil_sb_printf(sb, "<td class=\"%s\">", cls);
    hil__sched_html_esc(sb, text);
    hil_sb_puts(sb, "</td>");
}

/* Text as a URL path: all but unreserved characters (and '/') percent-encoded,
 * so a work item's "[rev-b]" or a space in a directory stays one link. */
static void hil__url_path(hil_strbuf* sb, const char* t) {
    static const char hex[] = "0123456789ABCDEF";
    for (; t && *t; t++) {
        unsigned char c = (unsigned char)*t;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strchr("-._~/", c))
            hil_sb_putc(sb, (char)c);
        else
            hil_sb_printf(sb, "%%%c%c", hex[c >> 4], hex[c & 15]);
    }
}

/* The verdict under report.html's title: what results.json, summary.txt and
 * the exit code say (the same tally), and when and where the schedule ran. */
static void hil__sdrv_verdict_html(hil__sdrv* D, hil_strbuf* sb) {
    size_t counts[HIL_OUTCOME_COUNT], tests = 0, passed;
    hil_outcome result;
    char ts[40], host[256] = "?";
    int k, ok;
    hil_mutex_lock(&D->J->mu);
    result = hil__job_tally(D->J, counts);
    ok = hil__rate(counts) >= 100.0 && !D->J->interrupted;
    hil_mutex_unlock(&D->J->mu);
    for (k = 1; k < HIL_OUTCOME_COUNT; k++) tests += counts[k];
    passed = counts[HIL_PASSED] + counts[HIL_PASSX];
    gethostname(host, sizeof host - 1);
    host[sizeof host - 1] = 0;
    hil_format_time_iso(D->J->start_wall, ts, sizeof ts);
    hil_sb_printf(sb,
                  "<div class=\"verdict %s\" id=\"verdict\"><b>%s</b><span>result <span class=\"o-%s\">%s</span>"
                  " &middot; %zu of %zu tests passed",
                  ok ? "ok" : "bad", ok ? "PASSED" : "FAILED", hil_outcome_str(result), hil_outcome_str(result), passed,
                  tests);
    if (counts[HIL_SKIPPED]) hil_sb_printf(sb, ", %zu skipped", counts[HIL_SKIPPED]);
    hil_sb_printf(sb, " &middot; started %s on ", ts);
    hil__sched_html_esc(sb, host);
    hil_sb_puts(sb, "</span></div>\n");
}

/* id="results": every task of the schedule and every test result in it; a
 * task's name links to its TaskLog (link_prefix: "" beside the logs, the run
 * directory's file:// URL for a copy elsewhere). */
static void hil__sdrv_results_html(hil__sdrv* D, const char* link_prefix, hil_strbuf* sb) {
    static const char* const kinds[] = {"build", "flash", "run", "not run", "power"};
    size_t i, k;
    hil_sb_puts(sb, "<h2>Results</h2>\n<table id=\"results\"><thead><tr><th>task</th><th>kind</th><th>resources</th>"
                    "<th>test</th><th>result</th><th>time s</th><th>reason</th></tr></thead><tbody>\n");
    hil_mutex_lock(&D->J->mu);
    for (i = 0; i < D->n_st; i++) {
        const hil__stask* x = &D->st[i];
        const hil_run_summary* s = x->t->sum;
        hil_strbuf res = {0, 0, 0, 0};
        size_t rows = s->n_results ? s->n_results : 1;
        if (x->kind == HIL__ST_RUN && x->ref < D->cap_runs) {
            const hil__srun* R = &D->runs[x->ref];
            for (k = 0; k < R->ph.n_roles; k++)
                hil_sb_printf(&res, "%s%s=%s", k ? ", " : "", R->ph.role[k], R->ph.res_name[k]);
        } else if ((x->kind == HIL__ST_FLASH || x->kind == HIL__ST_POWER) && x->ref < D->cap_runs) {
            hil_sb_puts(&res, D->runs[x->ref].ph.res_name[x->role]);
        }
        for (k = 0; k < rows; k++) {
            const hil_test_result* r = s->n_results ? &s->results[k] : NULL;
            char cls[32], dur[32];
            hil_outcome o = r ? r->outcome : x->t->outcome;
            hil_sb_puts(sb, "<tr>");
            if (k == 0) {
                hil_sb_printf(sb, "<td class=\"l\" rowspan=\"%zu\">", rows);
                if (x->t->log_made) {
                    hil_sb_puts(sb, "<a href=\"");
                    hil_sb_puts(sb, link_prefix);
                    hil_sb_puts(sb, "TaskLog.");
                    hil__url_path(sb, x->t->taskid);
                    hil_sb_puts(sb, "\">");
                }
                hil__sched_html_esc(sb, x->t->taskid);
                if (x->t->log_made) hil_sb_puts(sb, "</a>");
                hil_sb_printf(sb, "</td><td class=\"l\" rowspan=\"%zu\">%s</td><td class=\"l\" rowspan=\"%zu\">", rows,
                              kinds[x->kind], rows);
                hil__sched_html_esc(sb, hil_sb_cstr(&res));
                hil_sb_puts(sb, "</td>");
            }
            hil__html_td(sb, "l", r ? r->test->full_name : "-");
            hil__sfmt(cls, sizeof cls, "l o-%s", hil_outcome_str(o));
            hil__html_td(sb, cls, hil_outcome_str(o));
            hil__sfmt(dur, sizeof dur, "%.3f", r ? (double)r->duration_ns / 1e9 : 0.0);
            hil__html_td(sb, "", dur);
            hil__html_td(sb, "reason", r && r->reason ? r->reason : "");
            hil_sb_puts(sb, "</tr>\n");
        }
        hil_sb_free(&res);
    }
    hil_mutex_unlock(&D->J->mu);
    hil_sb_puts(sb, "</tbody></table>\n");
}

static unsigned hil__sched_width(hil_config* cfg) {
    long long w = hil_config_get_int(cfg, "schedule.width", 72);
    return w < 10 ? 72u : w > 400 ? 400u : (unsigned)w;
}

static void hil__sdrv_report(hil__sdrv* D) {
    hil_sched* s = D->L->s;
    hil_strbuf text = {0, 0, 0, 0}, extra = {0, 0, 0, 0}, html = {0, 0, 0, 0}, msg = {0, 0, 0, 0};
    hil_strbuf head = {0, 0, 0, 0};
    char path[4200], title[600];
    if (hil_sched_lower_bound(s, hil__sdrv_item_ns, hil__sdrv_build_ns, D, &D->lb) != HIL_OK)
        memset(&D->lb, 0, sizeof D->lb);
    if (hil_sched_check(s, &msg) != HIL_OK)
        hil_job_error(D->rt, "scheduler invariant violated (a bug in hil, please report it): %s", hil_sb_cstr(&msg));
    hil_sb_free(&msg);
    hil_sched_report_text(s, &D->lb, hil__sched_width(D->L->cfg), &text);
    if (D->lab)
        hil_sb_printf(&text, "lab %s: work waited %.3f s for boards other runs held\n", hil_lab_dir(D->lab),
                      (double)D->lab_wait_ns / 1e9);
    hil__sfmt(path, sizeof path, "%s/schedule.txt", D->rt->directory);
    if (!text.failed && hil_write_file_atomic(path, text.data, text.len) != HIL_OK)
        hil__job_log(D->J, "error", "schedule.txt: %s", hil_last_error());
    hil__sdrv_verdict_html(D, &head);
    hil__sdrv_results_html(D, "", &extra);
    /* the run directory's name is the job's name and the time: "hil: schedule.20261122-031500" */
    hil__sfmt(title, sizeof title, "hil: %s", hil__basename(D->rt->directory));
    hil_sched_report_html(s, &D->lb, title, hil_sb_cstr(&head), hil_sb_cstr(&extra), &html);
    hil__sfmt(path, sizeof path, "%s/report.html", D->rt->directory);
    if (html.failed || hil_write_file_atomic(path, html.data, html.len) != HIL_OK)
        hil__job_log(D->J, "error", "report.html: %s", html.failed ? "out of memory" : hil_last_error());
    if (D->c->report && D->c->report[0]) {
        /* the copy's links reach the logs in the run directory */
        hil_strbuf prefix = {0, 0, 0, 0};
        hil_sb_puts(&prefix, "file://");
        hil__url_path(&prefix, D->rt->directory);
        hil_sb_putc(&prefix, '/');
        hil_sb_clear(&extra);
        hil_sb_clear(&html);
        hil__sdrv_results_html(D, hil_sb_cstr(&prefix), &extra);
        hil_sched_report_html(s, &D->lb, title, hil_sb_cstr(&head), hil_sb_cstr(&extra), &html);
        if (html.failed || hil_write_file_atomic(D->c->report, html.data, html.len) != HIL_OK)
            hil__job_log(D->J, "error", "%s: %s", D->c->report, html.failed ? "out of memory" : hil_last_error());
        hil_sb_free(&prefix);
    }
    if (D->J->console != HIL_JOB_CONSOLE_SILENT && D->J->console != HIL_JOB_CONSOLE_QUIET) {
        hil_mutex_lock(&D->J->mu);
        hil_sb_printf(&D->J->pending_out, "\n%s", hil_sb_cstr(&text));
        hil_sb_printf(&D->J->pending_out, "reports: %s/report.html, %s/schedule.txt\n", D->rt->directory,
                      D->rt->directory);
        hil_mutex_unlock(&D->J->mu);
        hil__job_flush_console(D->J);
    }
    hil_sb_free(&text);
    hil_sb_free(&extra);
    hil_sb_free(&head);
    hil_sb_free(&html);
}

/* The bartender: start what can start, wait for any task to end (the job's
 * condition variable, through hil_task_wait_any), tell the scheduler, again. */
static void hil__sched_job_fn(hil_job_rt* rt) {
    hil__sdrv* D = hil__sdrv_cur;
    hil_sched* s = D->L->s;
    uint32_t i;
    size_t idx;
    D->rt = rt;
    D->J = hil__rt_job(rt);
    D->build_task = (hil_task**)hil__calloc(hil_sched_build_count(s) + 1, sizeof *D->build_task);
    if (!D->build_task) {
        hil_job_error(rt, "scheduler: out of memory");
        return;
    }
    hil__job_log(D->J, "info", "schedule: %u work items, %u resources, %u builds, jobs %u; %s",
                 hil_sched_item_count(s), hil_sched_resource_count(s), hil_sched_build_count(s),
                 (unsigned)D->L->sc.jobs, D->hist_line);
    if (D->lab) hil__sdrv_lab_begin(D);
    for (;;) {
        int lab_waiting;
        if (!hil_job_interrupted(rt) && !hil__sdrv_lab_intr(D)) hil__sdrv_dispatch(D);
        lab_waiting = !hil_job_interrupted(rt) && !hil__sdrv_lab_intr(D) && hil__sdrv_lab_waiting(D);
        if (lab_waiting && D->c->no_wait && !D->lab_refused[0]) {
            /* --no-wait: what is still waiting does not start; what runs ends */
            hil__sdrv_lab_holders(D, D->lab_refused, sizeof D->lab_refused);
            hil_job_error(rt, "lab: %s", D->lab_refused);
            lab_waiting = 0;
        }
        if (!D->n_wait && !lab_waiting) break;
        hil__sdrv_progress(D, 0);
        if (lab_waiting) {
            if (hil__sdrv_lab_wait(D, &idx)) hil__sdrv_ended(D, idx);
            continue;
        }
        if (hil_task_wait_any(D->wait, D->n_wait, -1, &idx) != HIL_OK) {
            hil_job_error(rt, "scheduler: %s", hil_last_error());
            break;
        }
        hil__sdrv_ended(D, idx);
    }
    if (D->lab_wait_from) {
        D->lab_wait_ns += hil__sdrv_now() - D->lab_wait_from;
        D->lab_wait_from = 0;
    }
    if (D->lab) hil__sdrv_lab_end(D);
    for (i = 0; i < hil_sched_item_count(s); i++) {
        hil_sched_item_info ii;
        hil_sched_item_info_get(s, i, &ii);
        if (ii.state != HIL_SCHED_ITEM_WAITING) continue;
        if (D->lab_refused[0])
            hil__sdrv_not_run(D, ii.name, HIL_BLOCKED, D->lab_refused);
        else if (hil_job_interrupted(rt) || hil__sdrv_lab_intr(D))
            hil__sdrv_not_run(D, ii.name, HIL_ABORTED, "not started: the schedule was interrupted");
        else if (D->n_wait == 0)
            hil__sdrv_not_run(D, ii.name, HIL_ERRORED, "never started: nothing could run it (see the scheduler's log)");
    }
    if (D->oom) hil_job_error(rt, "scheduler: out of memory: the reports may be incomplete");
    hil_mutex_lock(&D->J->mu);
    hil_sb_clear(&D->J->status);
    D->J->status_eta = 0;
    hil_mutex_unlock(&D->J->mu);
    hil__sdrv_report(D);
}

/* ---- simulation, listing, and the schedule command -------------------------------------------- */

HIL_API void hil_schedule_config_init(hil_schedule_config* c) {
    memset(c, 0, sizeof *c);
    c->runs_dir = "runs";
    c->grace_s = 5;
    c->console = HIL_JOB_CONSOLE_AUTO;
}

/* id="results" of a simulation: every work item, where and when it would run. */
static void hil__sim_results_html(const hil__lab* L, hil_strbuf* sb) {
    uint32_t i, k;
    hil_sb_puts(sb, "<h2>Results</h2>\n<table id=\"results\"><thead><tr><th>work item</th><th>variant</th>"
                    "<th>resources</th><th>expected s</th><th>start s</th><th>end s</th><th>result</th>"
                    "<th>reason</th></tr></thead><tbody>\n");
    for (i = 0; i < hil_sched_item_count(L->s); i++) {
        hil_sched_item_info ii;
        hil_sched_run_info ri;
        char num[64], cls[40];
        hil_strbuf res = {0, 0, 0, 0};
        int ran;
        hil_sched_item_info_get(L->s, i, &ii);
        if (ii.state == HIL_SCHED_ITEM_SKIPPED) continue;
        ran = ii.last_run != HIL_SCHED_NONE && hil_sched_run_info_get(L->s, ii.last_run, &ri) == HIL_OK;
        hil_sb_puts(sb, "<tr>");
        hil__html_td(sb, "l", ii.name);
        hil__html_td(sb, "l", ii.variant ? ii.variant : "");
        for (k = 0; ran && k < ri.n_resources; k++) {
            hil_sched_resource_info rinfo;
            hil_sched_resource_info_get(L->s, ri.resources[k], &rinfo);
            hil_sb_printf(&res, "%s%s", k ? ", " : "", rinfo.name);
        }
        hil__html_td(sb, "l", hil_sb_cstr(&res));
        hil_sb_free(&res);
        hil__sfmt(num, sizeof num, "%.1f", (double)ii.expected_ns / 1e9);
        hil__html_td(sb, "", num);
        hil__sfmt(num, sizeof num, "%.1f", ran ? (double)(ri.start_ns - L->s->t0) / 1e9 : 0.0);
        hil__html_td(sb, "", ran ? num : "");
        hil__sfmt(num, sizeof num, "%.1f", ran ? (double)(ri.end_ns - L->s->t0) / 1e9 : 0.0);
        hil__html_td(sb, "", ran ? num : "");
        hil__sfmt(cls, sizeof cls, "l o-%s", hil_sched_outcome_name(ii.outcome));
        hil__html_td(sb, cls, hil_sched_outcome_name(ii.outcome));
        hil__html_td(sb, "reason", ii.reason ? ii.reason : "");
        hil_sb_puts(sb, "</tr>\n");
    }
    hil_sb_puts(sb, "</tbody></table>\n");
}

static hil_result hil__sched_simulate_lab(const hil_schedule_config* c, hil__lab* L, const char* hist_line,
                                          hil_schedule_summary* out) {
    hil_strbuf text = {0, 0, 0, 0}, html = {0, 0, 0, 0}, extra = {0, 0, 0, 0}, msg = {0, 0, 0, 0};
    hil_sched_stats st;
    hil_sched_bound lb;
    hil_result r = hil_sched_simulate(L->s, NULL, 0, NULL);
    if (r != HIL_OK) return r;
    if (hil_sched_check(L->s, &msg) != HIL_OK) {
        r = hil_error(HIL_ERR_INTERNAL, "scheduler invariant violated (a bug in hil, please report it): %s",
                      hil_sb_cstr(&msg));
        hil_sb_free(&msg);
        return r;
    }
    hil_sb_free(&msg);
    r = hil_sched_lower_bound(L->s, NULL, NULL, NULL, &lb);
    if (r != HIL_OK) return r;
    hil_sched_stats_get(L->s, &st);
    out->makespan_ns = st.makespan_ns;
    out->lower_bound_ns = lb.value_ns;
    out->ratio = lb.value_ns > 0 ? (double)st.makespan_ns / (double)lb.value_ns : 0;
    out->items = st.n_items;
    out->runs = st.n_runs;
    out->blocked = st.n_blocked;
    out->retried = st.n_requeued;
    r = hil_sched_report_text(L->s, &lb, hil__sched_width(L->cfg), &text);
    if (r == HIL_OK && c->console != HIL_JOB_CONSOLE_SILENT) {
        printf("simulation (no processes; expected durations from runs.*.expected, the history or the timeouts)\n"
               "%s\n%s",
               hist_line, hil_sb_cstr(&text));
        fflush(stdout);
    }
    if (r == HIL_OK && c->report && c->report[0]) {
        hil__sim_results_html(L, &extra);
        r = hil_sched_report_html(L->s, &lb, "hil schedule: simulation", NULL, hil_sb_cstr(&extra), &html);
        if (r == HIL_OK) r = hil_write_file_atomic(c->report, html.data, html.len);
        if (r == HIL_OK && c->console != HIL_JOB_CONSOLE_SILENT) printf("report: %s\n", c->report);
    }
    hil_sb_free(&text);
    hil_sb_free(&html);
    hil_sb_free(&extra);
    out->exit_code = r == HIL_OK ? 0 : 4;
    return r;
}

/* --list: the work items, their expected durations and where they come from. */
static void hil__sched_list(const hil_schedule_config* c, hil__lab* L, const hil_sched_history* h,
                            const char* hist_line) {
    uint32_t i, n = hil_sched_item_count(L->s), *plan = NULL;
    int64_t load[64];
    memset(load, 0, sizeof load);
    if (c->shard_n > 1 && c->shard_n <= 64) {
        plan = (uint32_t*)hil__calloc(n + 1, sizeof *plan);
        if (plan && hil_sched_shard_plan(L->s, c->shard_n, plan) != HIL_OK) {
            HIL_FREE(plan);
            plan = NULL;
        }
    }
    printf("%-40s %-16s %10s  %-26s%s\n", "WORK ITEM", "VARIANT", "EXPECTED", "FROM", plan ? " SHARD" : "");
    for (i = 0; i < n; i++) {
        hil_sched_item_info ii;
        const hil__lab_run* u = &L->runs[L->item_run[i]];
        char from[64], dur[32];
        uint32_t count = 0;
        hil_sched_item_info_get(L->s, i, &ii);
        if (u->expected_s > 0)
            hil__sfmt(from, sizeof from, "runs.%.40s.expected", u->name);
        else if (h && hil_sched_history_lookup(h, ii.name, NULL, &count) == HIL_OK)
            hil__sfmt(from, sizeof from, "history (%u runs)", (unsigned)count);
        else if (u->timeout_s > 0)
            hil__sfmt(from, sizeof from, "%g%% of the timeout", L->guess_percent);
        else
            hil__sfmt(from, sizeof from, "schedule.default_expected");
        hil__fmt_dur(dur, sizeof dur, ii.expected_ns);
        printf("%-40s %-16s %10s  %-26s", ii.name, ii.variant ? ii.variant : "-", dur, from);
        if (plan) {
            printf(" %u/%u", (unsigned)plan[i] + 1, (unsigned)c->shard_n);
            load[plan[i]] += ii.expected_ns;
        }
        printf("\n");
    }
    if (plan) {
        for (i = 0; i < c->shard_n; i++) {
            char dur[32];
            hil__fmt_dur(dur, sizeof dur, load[i]);
            printf("shard %u/%u: %s of expected work\n", (unsigned)i + 1, (unsigned)c->shard_n, dur);
        }
    }
    printf("%u work item%s from %zu runs on %zu resources%s\n%s\n", (unsigned)n, n == 1 ? "" : "s", L->n_runs, L->n_res,
           L->only ? " (those --only selects)" : "", hist_line);
    HIL_FREE(plan);
}

HIL_API hil_result hil_schedule_exec(const hil_schedule_config* c, hil_schedule_summary* out) {
    hil_schedule_summary local;
    hil_schedule_summary* sum = out ? out : &local;
    hil_config* cfg;
    hil__lab* L = NULL;
    hil_sched_history* h = NULL;
    char hist_path[4200], warn[1400], hist_line[4400];
    const char* hp = NULL;
    int hist_state = HIL__HIST_OFF;
    hil_result r;
    size_t i;
    memset(sum, 0, sizeof *sum);
    sum->exit_code = 4;
    if (!c) return hil_error(HIL_ERR_INVALID_ARG, "hil_schedule_exec: no configuration");
    cfg = c->config ? c->config : hil_cfg();
    if (c->history) {
        if (c->history[0]) hp = c->history;
    } else {
        hil__sfmt(hist_path, sizeof hist_path, "%s/sched-history.txt", c->runs_dir ? c->runs_dir : "runs");
        hp = hist_path;
    }
    h = hil__lab_history_load(cfg, hp, warn, sizeof warn, &hist_state);
    hil__lab_history_line(hp, hist_state, h, hist_line, sizeof hist_line);
    if (warn[0] && c->console != HIL_JOB_CONSOLE_SILENT) fprintf(stderr, "hil: warning: %s\n", warn);
    r = hil__lab_load(cfg, h, &L);
    if (r != HIL_OK) {
        sum->exit_code = 3;
        hil_sched_history_destroy(h);
        return r;
    }
    for (i = 0; r == HIL_OK && c->add_boards && c->add_boards[i]; i++) {
        if (!c->simulate) {
            r = hil_error(HIL_ERR_INVALID_ARG, "--add-board %s: boards are added in a simulation only (--simulate)",
                          c->add_boards[i]);
            break;
        }
        r = hil__lab_add_boards(L, c->add_boards[i]);
    }
    if (r == HIL_OK && c->shard_n > 0) r = hil_sched_shard(L->s, c->shard_k, c->shard_n);
    if (r != HIL_OK) {
        sum->exit_code = 2;
    } else if (c->list) {
        hil__sched_list(c, L, h, hist_line);
        sum->exit_code = 0;
    } else if (c->simulate) {
        r = hil__sched_simulate_lab(c, L, hist_line, sum);
    } else {
        hil__sdrv D;
        hil__job_def def;
        hil_job_config jc;
        hil_sched_stats st;
        char lab_dir[4200];
        memset(&D, 0, sizeof D);
        if (!c->lab_state) hil__sfmt(lab_dir, sizeof lab_dir, "%s/lab", c->runs_dir ? c->runs_dir : "runs");
        if ((!c->lab_state || c->lab_state[0]) &&
            hil_lab_open(c->lab_state ? c->lab_state : lab_dir, &D.lab) != HIL_OK) {
            sum->exit_code = 3;
            hil__lab_free(L);
            hil_sched_history_destroy(h);
            return HIL_ERR_CONFIG;
        }
        D.L = L;
        D.hist = h;
        D.hist_path = hp;
        D.hist_line = hist_line;
        D.c = c;
        def.name = c->name && c->name[0] ? c->name : "schedule";
        def.fn = hil__sched_job_fn;
        def.file = __FILE__;
        def.line = __LINE__;
        hil_job_config_init(&jc);
        jc.job = def.name;
        jc.runs_dir = c->runs_dir;
        jc.archive = c->archive;
        jc.grace_s = c->grace_s;
        jc.max_runtime_s = c->max_runtime_s;
        jc.console = c->console;
        jc.color = c->color;
        jc.config = cfg;
        jc.bus = c->bus;
        hil__sdrv_cur = &D;
        r = hil__job_exec_def(&jc, &def, &sum->job);
        hil__sdrv_cur = NULL;
        sum->exit_code = sum->job.exit_code;
        hil_sched_stats_get(L->s, &st);
        sum->makespan_ns = st.makespan_ns;
        sum->lower_bound_ns = D.lb.value_ns;
        sum->ratio = D.lb.value_ns > 0 ? (double)st.makespan_ns / (double)D.lb.value_ns : 0;
        sum->items = st.n_items;
        sum->runs = st.n_runs;
        sum->blocked = st.n_blocked;
        sum->retried = st.n_requeued;
        sum->lab_wait_ns = D.lab_wait_ns;
        hil_lab_close(D.lab);
        for (i = 0; i < D.cap_runs; i++) {
            HIL_FREE(D.runs[i].item_name);
            HIL_FREE(D.runs[i].variant);
        }
        HIL_FREE(D.runs);
        HIL_FREE(D.build_task);
        HIL_FREE(D.st);
        HIL_FREE(D.wait);
        HIL_FREE(D.wait_of);
    }
    hil__lab_free(L);
    hil_sched_history_destroy(h);
    return r;
}

/* ---- merge-results: one report from the shards' run directories ------------------------------ */

/* A small JSON reader: enough to walk results.json (validates as it skips). */
static const char* hil__js_ws(const char* p, const char* e) {
    while (p < e && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
    return p;
}

static const char* hil__js_skip(const char* p, const char* e, int depth) {
    p = hil__js_ws(p, e);
    if (p >= e || depth > 200) return NULL;
    if (*p == '"') {
        /* strictly (RFC 8259): merge-results copies what it skipped into its own results.json */
        for (p++; p < e && *p != '"'; p++) {
            if ((unsigned char)*p < 0x20) return NULL;
            if (*p == '\\') {
                if (++p >= e || !strchr("\"\\/bfnrtu", *p)) return NULL;
                if (*p == 'u') {
                    int k;
                    for (k = 0; k < 4; k++)
                        if (++p >= e || !isxdigit((unsigned char)*p)) return NULL;
                }
            }
        }
        return p < e ? p + 1 : NULL;
    }
    if (*p == '{' || *p == '[') {
        char close = *p == '{' ? '}' : ']';
        int obj = *p == '{';
        p = hil__js_ws(p + 1, e);
        if (p < e && *p == close) return p + 1;
        for (;;) {
            if (obj) {
                p = hil__js_ws(p, e);
                if (p >= e || *p != '"') return NULL; /* a key is a string */
                p = hil__js_skip(p, e, depth + 1);
                if (!p || (p = hil__js_ws(p, e)) >= e || *p != ':') return NULL;
                p++;
            }
            p = hil__js_skip(p, e, depth + 1);
            if (!p || (p = hil__js_ws(p, e)) >= e) return NULL;
            if (*p == close) return p + 1;
            if (*p != ',') return NULL;
            p++;
        }
    }
    if (*p == '-' || (*p >= '0' && *p <= '9')) { /* -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
        const char* d;
        if (*p == '-' && ++p >= e) return NULL;
        if (*p == '0') p++;
        else if (*p >= '1' && *p <= '9') while (p < e && *p >= '0' && *p <= '9') p++;
        else return NULL;
        if (p < e && *p == '.') {
            for (d = ++p; p < e && *p >= '0' && *p <= '9';) p++;
            if (p == d) return NULL;
        }
        if (p < e && (*p == 'e' || *p == 'E')) {
            if (++p < e && (*p == '+' || *p == '-')) p++;
            for (d = p; p < e && *p >= '0' && *p <= '9';) p++;
            if (p == d) return NULL;
        }
        return p;
    }
    if (e - p >= 4 && (!strncmp(p, "true", 4) || !strncmp(p, "null", 4))) return p + 4;
    if (e - p >= 5 && !strncmp(p, "false", 5)) return p + 5;
    return NULL;
}

/* The value of key in the object at obj ('{'), or NULL; *vend: its end. */
static const char* hil__js_member(const char* obj, const char* e, const char* key, const char** vend) {
    const char* p = hil__js_ws(obj, e);
    size_t kl = strlen(key);
    if (p >= e || *p != '{') return NULL;
    p = hil__js_ws(p + 1, e);
    while (p < e && *p == '"') {
        const char* ks = p + 1;
        const char* ke = hil__js_skip(p, e, 0);
        const char* v;
        if (!ke) return NULL;
        p = hil__js_ws(ke, e);
        if (p >= e || *p != ':') return NULL;
        v = hil__js_ws(p + 1, e);
        p = hil__js_skip(v, e, 0);
        if (!p) return NULL;
        if ((size_t)(ke - 1 - ks) == kl && strncmp(ks, key, kl) == 0) {
            if (vend) *vend = p;
            return v;
        }
        p = hil__js_ws(p, e);
        if (p < e && *p == ',') p = hil__js_ws(p + 1, e);
    }
    return NULL;
}

/* A string value, decoded (\uXXXX into UTF-8); NULL when not a string. */
static char* hil__js_str(const char* v, const char* e) {
    hil_strbuf sb = {0, 0, 0, 0};
    if (!v || v >= e || *v != '"') return NULL;
    for (v++; v < e && *v != '"'; v++) {
        if (*v != '\\') {
            hil_sb_putc(&sb, *v);
            continue;
        }
        if (++v >= e) break;
        switch (*v) {
        case 'n':
            hil_sb_putc(&sb, '\n');
            break;
        case 't':
            hil_sb_putc(&sb, '\t');
            break;
        case 'r':
            hil_sb_putc(&sb, '\r');
            break;
        case 'b':
            hil_sb_putc(&sb, '\b');
            break;
        case 'f':
            hil_sb_putc(&sb, '\f');
            break;
        case 'u': {
            unsigned long c = 0;
            int k;
            for (k = 0; k < 4 && v + 1 < e; k++) {
                char h = *++v;
                c = c * 16 + (unsigned long)(h >= '0' && h <= '9' ? h - '0' : (h | 32) - 'a' + 10);
            }
            hil__xml_utf8(&sb, c);
            break;
        }
        default:
            hil_sb_putc(&sb, *v);
        }
    }
    if (sb.failed) {
        hil_sb_free(&sb);
        return NULL;
    }
    if (!sb.data) return hil_strdup("");
    return hil_sb_take(&sb);
}

static double hil__js_num(const char* v, const char* e, double fallback) {
    char buf[64];
    size_t n;
    if (!v || v >= e || !(*v == '-' || (*v >= '0' && *v <= '9'))) return fallback;
    n = (size_t)(e - v) < sizeof buf - 1 ? (size_t)(e - v) : sizeof buf - 1;
    memcpy(buf, v, n);
    buf[n] = 0;
    return strtod(buf, NULL);
}

/* The elements of the array at v: calls fn(start, end) for each. */
static int hil__js_each(const char* v, const char* e, void (*fn)(const char*, const char*, void*), void* user) {
    const char* p = hil__js_ws(v, e);
    if (p >= e || *p != '[') return 0;
    p = hil__js_ws(p + 1, e);
    if (p < e && *p == ']') return 1;
    for (;;) {
        const char* x = hil__js_ws(p, e);
        const char* xe = hil__js_skip(x, e, 0);
        if (!xe) return 0;
        fn(x, xe, user);
        p = hil__js_ws(xe, e);
        if (p < e && *p == ',') {
            p++;
            continue;
        }
        return p < e && *p == ']';
    }
}

typedef struct hil__merge {
    hil_strbuf tasks, errors, shards;
    size_t n_tasks, n_errors;
    char* keys[24]; /* summary counters, in the order first seen */
    double vals[24];
    size_t n_keys;
    hil_outcome result;
    int interrupted;
    double duration;
    char* started;
    char* job;
    int shard;
    size_t shard_tasks;  /* this shard's tasks seen so far */
    long bad_task;       /* this shard's first task that is not an object, or -1 */
} hil__merge;

static void hil__merge_task(const char* s, const char* e, void* user) {
    hil__merge* m = (hil__merge*)user;
    /* each task is spliced into the merged report as an object with its
     * shard added: anything else would make the report invalid JSON */
    if (*s != '{') {
        if (m->bad_task < 0) m->bad_task = (long)m->shard_tasks;
        m->shard_tasks++;
        return;
    }
    m->shard_tasks++;
    if (m->n_tasks++) hil_sb_putc(&m->tasks, ',');
    hil_sb_printf(&m->tasks, "{\"shard\":%d,", m->shard);
    s = hil__js_ws(s + 1, e);
    if (*s == '}')
        hil_sb_puts(&m->tasks, "\"empty\":true}");
    else
        hil_sb_append(&m->tasks, s, (size_t)(e - s));
}

static void hil__merge_error(const char* s, const char* e, void* user) {
    hil__merge* m = (hil__merge*)user;
    if (m->n_errors++) hil_sb_putc(&m->errors, ',');
    hil_sb_append(&m->errors, s, (size_t)(e - s));
}

static void hil__merge_counts(hil__merge* m, const char* v, const char* e) {
    const char* p = hil__js_ws(v, e);
    if (p >= e || *p != '{') return;
    p = hil__js_ws(p + 1, e);
    while (p < e && *p == '"') {
        const char* ke = hil__js_skip(p, e, 0);
        const char *val, *ve;
        char* key;
        size_t k;
        if (!ke) return;
        key = hil__js_str(p, ke);
        p = hil__js_ws(ke, e);
        if (!key || p >= e || *p != ':') {
            HIL_FREE(key);
            return;
        }
        val = hil__js_ws(p + 1, e);
        ve = hil__js_skip(val, e, 0);
        if (!ve) {
            HIL_FREE(key);
            return;
        }
        for (k = 0; k < m->n_keys && strcmp(m->keys[k], key) != 0; k++) {}
        if (k == m->n_keys && k < 24) {
            m->keys[k] = key;
            m->vals[k] = 0;
            m->n_keys++;
            key = NULL;
        }
        if (k < 24) {
            /* counts only: 1e999 (inf), NaN or huge values would print as no
             * JSON number, and a negative one becomes a size_t below */
            double x = hil__js_num(val, ve, 0);
            if (x >= 0 && x < 1e15) m->vals[k] += x;
        }
        HIL_FREE(key);
        p = hil__js_ws(ve, e);
        if (p < e && *p == ',') p = hil__js_ws(p + 1, e);
    }
}

static double hil__merge_count(const hil__merge* m, const char* key) {
    size_t k;
    for (k = 0; k < m->n_keys; k++)
        if (strcmp(m->keys[k], key) == 0) return m->vals[k];
    return 0;
}

static hil_outcome hil__outcome_from_str(const char* s) {
    int o;
    for (o = 1; s && o < HIL_OUTCOME_COUNT; o++)
        if (strcmp(hil_outcome_str((hil_outcome)o), s) == 0) return (hil_outcome)o;
    return HIL_ERRORED;
}

/* A shard's run directory (or its results.json) into the merge. */
static hil_result hil__merge_json(hil__merge* m, const char* path, const char* dir) {
    char* text = NULL;
    size_t len = 0;
    const char *e, *v, *ve;
    char *res, *st;
    hil_result r = hil_read_file(path, &text, &len);
    if (r != HIL_OK) return hil_error(r, "merge-results: %s", hil_last_error());
    e = text + len;
    if (!hil__js_skip(text, e, 0) || !(v = hil__js_member(text, e, "schema", &ve))) {
        HIL_FREE(text);
        return hil_error(HIL_ERR_PROTOCOL, "merge-results: %s is not a hil results.json (no JSON object with a schema)",
                         path);
    }
    res = hil__js_str(v, ve);
    if (!res || strcmp(res, "hil-job-1") != 0) {
        r = hil_error(HIL_ERR_PROTOCOL,
                      "merge-results: %s has schema '%s'; it merges the results.json of jobs and "
                      "schedules (hil-job-1)",
                      path, res ? res : "?");
        HIL_FREE(res);
        HIL_FREE(text);
        return r;
    }
    HIL_FREE(res);
    res = (v = hil__js_member(text, e, "result", &ve)) ? hil__js_str(v, ve) : NULL;
    m->result = hil_outcome_rollup(m->result, hil__outcome_from_str(res));
    if ((v = hil__js_member(text, e, "interrupted", &ve)) && ve - v == 4 && !strncmp(v, "true", 4)) m->interrupted = 1;
    if ((v = hil__js_member(text, e, "duration_s", &ve)) && hil__js_num(v, ve, 0) > m->duration &&
        hil__js_num(v, ve, 0) < 1e15) /* not inf: it is printed as a JSON number */
        m->duration = hil__js_num(v, ve, 0);
    st = (v = hil__js_member(text, e, "started", &ve)) ? hil__js_str(v, ve) : NULL;
    if (st && (!m->started || strcmp(st, m->started) < 0)) {
        HIL_FREE(m->started);
        m->started = st;
        st = NULL;
    }
    HIL_FREE(st);
    if (!m->job && (v = hil__js_member(text, e, "job", &ve))) m->job = hil__js_str(v, ve);
    if ((v = hil__js_member(text, e, "summary", &ve))) hil__merge_counts(m, v, ve);
    if (m->shard) hil_sb_putc(&m->shards, ',');
    hil_sb_printf(&m->shards, "{\"shard\":%d,\"source\":", m->shard);
    hil_sb_json_str(&m->shards, dir);
    hil_sb_puts(&m->shards, ",\"result\":");
    hil_sb_json_str(&m->shards, res ? res : "Errored");
    if ((v = hil__js_member(text, e, "summary", &ve))) {
        hil_sb_puts(&m->shards, ",\"summary\":");
        hil_sb_append(&m->shards, v, (size_t)(ve - v));
    }
    hil_sb_putc(&m->shards, '}');
    HIL_FREE(res);
    if ((v = hil__js_member(text, e, "errors", &ve))) hil__js_each(v, ve, hil__merge_error, m);
    m->shard_tasks = 0;
    m->bad_task = -1;
    if (!(v = hil__js_member(text, e, "tasks", &ve)) || !hil__js_each(v, ve, hil__merge_task, m)) {
        HIL_FREE(text);
        return hil_error(HIL_ERR_PROTOCOL, "merge-results: %s has no tasks array", path);
    }
    HIL_FREE(text);
    if (m->bad_task >= 0)
        return hil_error(HIL_ERR_PROTOCOL,
                         "merge-results: %s: tasks[%ld] is not an object (hil writes one object per task: is the file "
                         "from hil, and whole?)",
                         path, m->bad_task);
    return HIL_OK;
}

typedef struct hil__merge_junit {
    hil_strbuf body;
    unsigned long tests, failures, errors, skipped;
    double time;
} hil__merge_junit;

static unsigned long hil__attr_ul(const char* attrs, size_t n, const char* name, double* d) {
    hil_strbuf v = {0, 0, 0, 0};
    double x = 0;
    if (hil__xml_attr_get(attrs, n, name, &v)) x = strtod(hil_sb_cstr(&v), NULL);
    hil_sb_free(&v);
    /* a shard's file can say anything: not a number or negative is 0, and
     * above 1e9 (infinite too) it saturates (converting 4e115 is undefined,
     * and "inf" would be written into the merged file) */
    if (!(x > 0)) x = 0;
    else if (x > 1e9) x = 1e9;
    if (d) *d = x;
    return (unsigned long)x;
}

/* A shard's JUnit file: its <testsuite> elements go into the merged root
 * as they are (text level: properties and output stay byte for byte). */
static hil_result hil__merge_junit_file(hil__merge_junit* mj, const char* path) {
    char* text = NULL;
    size_t len = 0;
    const char *p, *e, *tag_end, *close;
    int suites;
    double t = 0;
    hil_result r = hil_read_file(path, &text, &len);
    if (r != HIL_OK) return hil_error(r, "merge-results: %s", hil_last_error());
    e = text + len;
    p = text;
    for (;;) { /* the root element: skip the declaration, comments, doctype */
        p = (const char*)memchr(p, '<', (size_t)(e - p));
        if (!p || p + 1 >= e) break;
        if (p[1] != '?' && p[1] != '!') break;
        p++;
    }
    suites = p && e - p > 11 && strncmp(p, "<testsuites", 11) == 0 && (isspace((unsigned char)p[11]) || p[11] == '>');
    if (!p || (!suites && !(e - p > 10 && strncmp(p, "<testsuite", 10) == 0))) {
        HIL_FREE(text);
        return hil_error(HIL_ERR_PROTOCOL, "merge-results: %s is not a JUnit file (no <testsuites> or <testsuite>)",
                         path);
    }
    tag_end = (const char*)memchr(p, '>', (size_t)(e - p));
    if (!tag_end) {
        HIL_FREE(text);
        return hil_error(HIL_ERR_PROTOCOL, "merge-results: %s: the root element never ends", path);
    }
    {
        const char* attrs = p + (suites ? 11 : 10);
        size_t an = (size_t)(tag_end - attrs);
        mj->tests += hil__attr_ul(attrs, an, "tests", NULL);
        mj->failures += hil__attr_ul(attrs, an, "failures", NULL);
        mj->errors += hil__attr_ul(attrs, an, "errors", NULL);
        mj->skipped += hil__attr_ul(attrs, an, "skipped", NULL);
        (void)hil__attr_ul(attrs, an, "time", &t);
        mj->time += t;
    }
    if (suites) {
        if (tag_end[-1] != '/') { /* <testsuites/> has nothing to add */
            for (close = e - 12; close > tag_end && strncmp(close, "</testsuites", 12) != 0; close--) {}
            if (close <= tag_end) {
                HIL_FREE(text);
                return hil_error(HIL_ERR_PROTOCOL, "merge-results: %s: </testsuites> is missing", path);
            }
            hil_sb_append(&mj->body, tag_end + 1, (size_t)(close - tag_end - 1));
        }
    } else {
        for (close = e - 1; close > p && *close != '>'; close--) {}
        hil_sb_append(&mj->body, p, (size_t)(close + 1 - p));
        hil_sb_putc(&mj->body, '\n');
    }
    HIL_FREE(text);
    return HIL_OK;
}

HIL_API hil_result hil_merge_results(const char* const* inputs, size_t n, const char* out_dir, hil_job_summary* out) {
    hil__merge m;
    hil__merge_junit mj;
    hil_strbuf sb = {0, 0, 0, 0};
    hil_job_summary local;
    hil_job_summary* js = out ? out : &local;
    hil_result r = HIL_OK;
    size_t i, k;
    char path[4200], real[4096], ts[40];
    double total, ok, rate;
    memset(js, 0, sizeof *js);
    js->exit_code = 2;
    if (!inputs || !n) return hil_error(HIL_ERR_INVALID_ARG, "merge-results: name the shards' run directories");
    if (!out_dir || !*out_dir) out_dir = "merged";
    memset(&m, 0, sizeof m);
    memset(&mj, 0, sizeof mj);
    m.result = HIL_NOT_RUN;
    js->exit_code = 3;
    for (i = 0; i < n && r == HIL_OK; i++) {
        struct stat stt;
        char dir[4096];
        const char* slash;
        if (stat(inputs[i], &stt) != 0) {
            r = hil_error(HIL_ERR_NOT_FOUND,
                          "merge-results: %s: %s (give each shard's run directory or its "
                          "results.json)",
                          inputs[i], strerror(errno));
            break;
        }
        if (S_ISDIR(stt.st_mode)) {
            hil__sfmt(dir, sizeof dir, "%s", inputs[i]);
            hil__sfmt(path, sizeof path, "%s/results.json", inputs[i]);
        } else {
            slash = strrchr(inputs[i], '/');
            if (slash)
                hil__sfmt(dir, sizeof dir, "%.*s", (int)(slash - inputs[i]), inputs[i]);
            else
                hil__sfmt(dir, sizeof dir, ".");
            hil__sfmt(path, sizeof path, "%s", inputs[i]);
        }
        m.shard = (int)i;
        r = hil__merge_json(&m, path, dir);
        if (r != HIL_OK) break;
        hil__sfmt(path, sizeof path, "%s/junit.xml", dir);
        if (access(path, F_OK) == 0)
            r = hil__merge_junit_file(&mj, path);
        else
            fprintf(stderr, "hil: warning: merge-results: %s has no junit.xml: its tests are only in results.json\n",
                    dir);
    }
    if (r == HIL_OK && (r = hil_mkdirs(out_dir)) != HIL_OK) js->exit_code = 3;
    if (r == HIL_OK) {
        total = hil__merge_count(&m, "total");
        ok = hil__merge_count(&m, "passed") + hil__merge_count(&m, "passx") + hil__merge_count(&m, "skipped");
        rate = total > 0 ? 100.0 * ok / total : 100.0;
        js->result = m.result;
        js->success_rate = rate;
        js->tests = (size_t)total;
        js->passed = (size_t)(hil__merge_count(&m, "passed") + hil__merge_count(&m, "passx"));
        js->skipped = (size_t)hil__merge_count(&m, "skipped");
        js->failed = (size_t)(hil__merge_count(&m, "failed") + hil__merge_count(&m, "errored") +
                              hil__merge_count(&m, "aborted") + hil__merge_count(&m, "blocked"));
        js->n_tasks = m.n_tasks;
        js->interrupted = m.interrupted;
        js->exit_code = rate < 100.0 || m.interrupted ? 1 : 0;
        if (!realpath(out_dir, real)) hil__sfmt(real, sizeof real, "%s", out_dir);
        hil__sfmt(js->directory, sizeof js->directory, "%s", real);
        hil_sb_puts(&sb, "{\"schema\":\"hil-job-1\",\"tool\":{\"name\":\"hil\",\"version\":\"" HIL_VERSION
                         "\"},\"merged\":true,\"job\":");
        hil_sb_json_str(&sb, m.job ? m.job : "merged");
        hil_sb_puts(&sb, ",\"name\":");
        hil_sb_json_str(&sb, m.job ? m.job : "merged");
        hil_sb_puts(&sb, ",\"directory\":");
        hil_sb_json_str(&sb, real);
        hil_sb_puts(&sb, ",\"result\":");
        hil_sb_json_str(&sb, hil_outcome_str(m.result == HIL_NOT_RUN ? HIL_PASSED : m.result));
        hil_sb_puts(&sb, ",\"started\":");
        if (m.started)
            hil_sb_json_str(&sb, m.started);
        else {
            hil_format_time_iso(hil_wall_ns(), ts, sizeof ts);
            hil_sb_json_str(&sb, ts);
        }
        hil_sb_printf(&sb,
                      ",\"duration_s\":%.6f,\"interrupted\":%s,\"success_rate\":%.2f,\"exit_code\":%d,"
                      "\"args\":[],\"summary\":{",
                      m.duration, m.interrupted ? "true" : "false", rate, js->exit_code);
        for (k = 0; k < m.n_keys; k++) {
            if (k) hil_sb_putc(&sb, ',');
            hil_sb_json_str(&sb, m.keys[k]); /* a key read from a shard may hold quotes */
            hil_sb_printf(&sb, ":%.0f", m.vals[k]);
        }
        hil_sb_puts(&sb, "},\"shards\":[");
        hil_sb_append(&sb, m.shards.data, m.shards.len);
        hil_sb_puts(&sb, "],\"errors\":[");
        hil_sb_append(&sb, m.errors.data, m.errors.len);
        hil_sb_puts(&sb, "],\"tasks\":[");
        hil_sb_append(&sb, m.tasks.data, m.tasks.len);
        hil_sb_puts(&sb, "]}\n");
        hil__sfmt(path, sizeof path, "%s/results.json", out_dir);
        r = sb.failed ? hil_error(HIL_ERR_NO_MEMORY, "merge-results: out of memory")
                      : hil_write_file_atomic(path, sb.data, sb.len);
    }
    if (r == HIL_OK) {
        hil_sb_clear(&sb);
        hil_format_time_iso(hil_wall_ns(), ts, sizeof ts);
        ts[19] = 0;
        hil_sb_printf(&sb,
                      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"merged\" tests=\"%lu\" "
                      "failures=\"%lu\" errors=\"%lu\" skipped=\"%lu\" time=\"%.6f\" timestamp=\"%s\">\n",
                      mj.tests, mj.failures, mj.errors, mj.skipped, mj.time, ts);
        hil_sb_append(&sb, mj.body.data, mj.body.len);
        hil_sb_puts(&sb, "</testsuites>\n");
        hil__sfmt(path, sizeof path, "%s/junit.xml", out_dir);
        r = sb.failed ? hil_error(HIL_ERR_NO_MEMORY, "merge-results: out of memory")
                      : hil_write_file_atomic(path, sb.data, sb.len);
    }
    if (r == HIL_OK) {
        hil_sb_clear(&sb);
        hil_sb_printf(&sb, "merged %zu shard%s: %s, success rate %.1f%% (%zu of %zu tests), %zu tasks\n", n,
                      n == 1 ? "" : "s", hil_outcome_str(js->result == HIL_NOT_RUN ? HIL_PASSED : js->result),
                      js->success_rate, js->passed + js->skipped, js->tests, js->n_tasks);
        hil_sb_printf(&sb, "report: %s (results.json, junit.xml, summary.txt)\n", real);
        hil_sb_printf(&sb, "%zu passed, %zu failed, %zu skipped\n", js->passed, js->failed, js->skipped);
        hil__sfmt(path, sizeof path, "%s/summary.txt", out_dir);
        r = hil_write_file_atomic(path, sb.data, sb.len);
        if (r == HIL_OK) {
            fputs(hil_sb_cstr(&sb), stdout);
            fflush(stdout);
        }
    }
    if (r != HIL_OK && js->exit_code < 2) js->exit_code = 4;
    hil_sb_free(&sb);
    hil_sb_free(&m.tasks);
    hil_sb_free(&m.errors);
    hil_sb_free(&m.shards);
    hil_sb_free(&mj.body);
    for (k = 0; k < m.n_keys; k++) HIL_FREE(m.keys[k]);
    HIL_FREE(m.started);
    HIL_FREE(m.job);
    return r;
}

/* ---- the schedule and merge-results commands ----------------------------------------------------- */

static int hil__cmd_schedule(hil_cmd_ctx* ctx) {
    hil_config* cfg = ctx->config;
    hil_schedule_config c;
    hil_schedule_summary sum;
    const char* boards[65];
    const char* shard = hil_config_get(cfg, "schedule.shard", NULL);
    size_t nb;
    if (ctx->argc > 0) {
        fprintf(stderr,
                "hil: error: schedule: unexpected argument '%s' (the lab comes from the configuration: "
                "-c lab.yaml; see docs/scheduler.md)\n",
                ctx->argv[0]);
        return 2;
    }
    hil_schedule_config_init(&c);
    c.config = cfg;
    c.bus = ctx->bus;
    c.simulate = hil_config_get_bool(cfg, "schedule.simulate", 0);
    c.list = hil_config_get_bool(cfg, "schedule.list", 0);
    c.max_runtime_s = hil_config_get_float(cfg, "job.max_runtime", 0);
    c.runs_dir = hil_config_get(cfg, "job.runs", "runs");
    c.name = hil_config_get(cfg, "job.name", NULL);
    c.archive = hil_config_get_bool(cfg, "job.archive", 0);
    c.grace_s = hil_config_get_float(cfg, "job.grace", 5);
    c.report = hil_config_get(cfg, "schedule.report", NULL);
    c.history = hil_config_get(cfg, "schedule.history", NULL);
    c.lab_state = hil_config_get(cfg, "lab.state", NULL);
    if (c.lab_state && strcmp(c.lab_state, "off") == 0) c.lab_state = "";
    c.no_wait = hil_config_get_bool(cfg, "lab.no_wait", 0);
    if (c.history && strcmp(c.history, "off") == 0) c.history = "";
    nb = hil_config_get_list(cfg, "schedule.add_board", boards, 64);
    boards[nb < 64 ? nb : 64] = NULL;
    c.add_boards = nb ? boards : NULL;
    if (shard && *shard && hil_sched_parse_shard(shard, &c.shard_k, &c.shard_n) != HIL_OK) {
        fprintf(stderr, "hil: error: --shard: %s\n", hil_last_error());
        return 2;
    }
    if (hil_config_get_bool(cfg, "console.quiet", 0))
        c.console = HIL_JOB_CONSOLE_QUIET;
    else if (hil_config_get_bool(cfg, "console.progress", 1) && hil__term_ok())
        c.console = HIL_JOB_CONSOLE_LIVE;
    else
        c.console = HIL_JOB_CONSOLE_LINES;
    c.color = hil__color_on(cfg);
    if (hil_schedule_exec(&c, &sum) != HIL_OK) fprintf(stderr, "hil: error: %s\n", hil_last_error());
    return sum.exit_code;
}

static int hil__cmd_merge_results(hil_cmd_ctx* ctx) {
    hil_job_summary js;
    if (ctx->argc < 1) {
        fprintf(stderr, "hil: error: merge-results: name the shards' run directories (or their results.json): "
                        "merge-results [--output DIR] runs/a/latest runs/b/latest ...\n");
        return 2;
    }
    if (hil_merge_results((const char* const*)ctx->argv, (size_t)ctx->argc,
                          hil_config_get(ctx->config, "merge.output", "merged"), &js) != HIL_OK)
        fprintf(stderr, "hil: error: %s\n", hil_last_error());
    return js.exit_code;
}

static void hil__describe_scheduler(hil_extension* ext) {
    hil_command* c;
    hil_option* o;
    ext->description = "The lazy scheduler: the 'schedule' and 'merge-results' commands (hil_runner.h, "
                       "docs/scheduler.md)";
    ext->load_order = 61;
    c = hil_ext_command(
        ext, "schedule",
        "Run the lab's test runs on its boards, longest first, each board kept busy (docs/scheduler.md)",
        hil__cmd_schedule);
    c->uses = "job";
    c = hil_ext_command(ext, "merge-results", "Merge the results.json and JUnit files of shards into one report",
                        hil__cmd_merge_results);
    c->usage = "RUN_DIR...";
    o = hil_ext_option(ext, "merge.output", HIL_OPT_PATH, "merged",
                       "merge-results: the directory of the merged report");
    o->cli = "--output";
    o->metavar = "DIR";
    o->commands = "merge-results";
    /* the scheduler */
    o = hil_ext_option(ext, "schedule.jobs", HIL_OPT_INT, "0",
                       "Runs at the same time (0: as many as the boards allow)");
    o->cli = "--jobs";
    o->metavar = "N";
    o->commands = "schedule";
    o = hil_ext_option(ext, "schedule.shard", HIL_OPT_STRING, NULL,
                       "Run share K of N (balanced by expected duration; every machine needs the same history)");
    o->cli = "--shard";
    o->metavar = "K/N";
    o->commands = "schedule";
    o = hil_ext_option(ext, "schedule.list", HIL_OPT_FLAG, "false",
                       "List the work items with their expected durations and where those come from (with "
                       "--shard: each item's share) instead of running them");
    o->cli = "--list";
    o->commands = "schedule";
    o = hil_ext_option(ext, "schedule.only", HIL_OPT_STRING, NULL,
                       "Schedule only these work items: run names (every variant), NAME[VARIANT] or globs (comma "
                       "list; repeat the option to add)");
    o->cli = "--only";
    o->metavar = "ITEMS";
    o->flags = HIL_OPT_MULTIPLE;
    o->commands = "schedule";
    o = hil_ext_option(ext, "schedule.simulate", HIL_OPT_FLAG, "false",
                       "Plan on a virtual clock with expected durations: no builds, no boards, no processes");
    o->cli = "--simulate";
    o->commands = "schedule";
    o = hil_ext_option(ext, "schedule.add_board", HIL_OPT_STRING, NULL,
                       "With --simulate: N more boards like the first of TYPE (what if we bought one more?)");
    o->flags = HIL_OPT_MULTIPLE;
    o->cli = "--add-board";
    o->metavar = "TYPE[:N]";
    o->commands = "schedule";
    o = hil_ext_option(ext, "schedule.report", HIL_OPT_PATH, NULL,
                       "Also write the HTML report here (a simulation writes it only here)");
    o->cli = "--report";
    o->metavar = "FILE";
    o->commands = "schedule";
    hil_ext_option(ext, "schedule.history", HIL_OPT_PATH, NULL,
                   "The duration history file (default <job.runs>/sched-history.txt; off: none)");
    hil_ext_option(ext, "schedule.history_alpha", HIL_OPT_FLOAT, "0.3",
                   "Weight of the newest duration in the moving average (0 to 1)");
    hil_ext_option(ext, "schedule.quarantine_after", HIL_OPT_INT, "3",
                   "Infrastructure failures in a row that quarantine a board (0: never)");
    hil_ext_option(ext, "schedule.build_lanes", HIL_OPT_INT, "1", "Firmware builds at the same time");
    o = hil_ext_option(ext, "schedule.policy", HIL_OPT_CHOICE, "key",
                       "How runs are chosen: key (the documented key), bartender (testbed_micropython's rule, no "
                       "durations), fifo (priority, then order)");
    o->choices = "key|bartender|fifo";
    hil_ext_option(ext, "schedule.bottleneck", HIL_OPT_BOOL, "true",
                   "Before duration: runs on the boards with the most waiting work per board first");
    hil_ext_option(ext, "schedule.timeout_guess", HIL_OPT_INT, "50",
                   "Without history, a run is expected to take this percentage of its timeout");
    hil_ext_option(ext, "schedule.default_expected", HIL_OPT_FLOAT, "60",
                   "Seconds expected of a run with neither history nor timeout");
    hil_ext_option(ext, "schedule.infra_on_timeout", HIL_OPT_BOOL, "false",
                   "A run's timeout counts as the board's failure (retried elsewhere, towards quarantine)");
    hil_ext_option(ext, "schedule.width", HIL_OPT_INT, "72", "Columns of the text Gantt chart");
    /* the lab: resources */
    hil_ext_option(ext, "resources.*.type", HIL_OPT_STRING, NULL, "The board's type (what roles ask for)");
    o = hil_ext_option(ext, "resources.*.tags", HIL_OPT_STRING, NULL, "The board's tags (comma list)");
    o->flags = HIL_OPT_MULTIPLE;
    o = hil_ext_option(ext, "resources.*.variants", HIL_OPT_STRING, NULL,
                       "Firmware variants the board can run (comma list)");
    o->flags = HIL_OPT_MULTIPLE;
    o = hil_ext_option(ext, "resources.*.connectors", HIL_OPT_STRING, NULL,
                       "Connectors the board carries: NAME (a run's tests see it as connectors.<role>) or "
                       "ALIAS=NAME (as connectors.<role>_<alias>)");
    o->flags = HIL_OPT_MULTIPLE;
    hil_ext_option(ext, "resources.*.flashed", HIL_OPT_STRING, NULL, "The variant on the board now (saves a flash)");
    hil_ext_option(ext, "resources.*.flash", HIL_OPT_STRING, NULL,
                   "Command that flashes the board ({image} {variant} {board} {board.<connector key>}); without it "
                   "the tests get params.flash_<role>=1");
    hil_ext_option(ext, "resources.*.flash_timeout", HIL_OPT_FLOAT, "300", "Seconds a flash may take");
    hil_ext_option(ext, "resources.*.power", HIL_OPT_STRING, NULL,
                   "A command that power-cycles the board ({board} {board.<connector key>} {variant} {item}): run "
                   "when the board stops answering, before that counts as a lab failure (docs/power.md)");
    hil_ext_option(ext, "resources.*.power_timeout", HIL_OPT_FLOAT, "60", "Seconds a power cycle may take");
    hil_ext_option(ext, "resources.*.power_retries", HIL_OPT_INT, "1",
                   "Power cycles (each followed by the run again) before the failure counts");
    hil_ext_option(ext, "resources.*.quarantined", HIL_OPT_BOOL, "false", "Keep the board out of every run");
    /* builds */
    hil_ext_option(ext, "builds.*.command", HIL_OPT_STRING, NULL,
                   "Command that builds the firmware variant <name> (words split like a shell; {variant})");
    hil_ext_option(ext, "builds.*.image", HIL_OPT_PATH, NULL,
                   "The firmware file the build makes ({image} in commands)");
    hil_ext_option(ext, "builds.*.cwd", HIL_OPT_PATH, NULL, "The build's working directory");
    hil_ext_option(ext, "builds.*.priority", HIL_OPT_INT, "0", "Build lane order: higher first");
    hil_ext_option(ext, "builds.*.timeout", HIL_OPT_FLOAT, "0", "Seconds a build may take (0: no limit)");
    hil_ext_option(ext, "builds.*.expected", HIL_OPT_FLOAT, "0", "Seconds a build is expected to take (0: history)");
    /* test-run specs */
    o = hil_ext_option(ext, "runs.*.select", HIL_OPT_STRING, NULL,
                       "Tests of this program the run runs: filters on suite.name (comma list)");
    o->flags = HIL_OPT_MULTIPLE;
    o = hil_ext_option(ext, "runs.*.tags", HIL_OPT_STRING, NULL, "... or tests with any of these tags");
    o->flags = HIL_OPT_MULTIPLE;
    o = hil_ext_option(ext, "runs.*.exclude_tags", HIL_OPT_STRING, NULL, "Leave out tests with these tags");
    o->flags = HIL_OPT_MULTIPLE;
    o = hil_ext_option(ext, "runs.*.params", HIL_OPT_STRING, NULL, "NAME=VALUE parameters for the run's tests");
    o->flags = HIL_OPT_MULTIPLE;
    hil_ext_option(ext, "runs.*.command", HIL_OPT_STRING, NULL,
                   "... or an external command ({variant} {image} {item} {rundir} {<role>} {<role>.<connector key>})");
    hil_ext_option(ext, "runs.*.junit", HIL_OPT_STRING, NULL, "The JUnit file the command writes");
    hil_ext_option(ext, "runs.*.cwd", HIL_OPT_PATH, NULL, "The command's working directory");
    hil_ext_option(ext, "runs.*.infra_exit", HIL_OPT_INT, "0",
                   "The command's exit status for 'the lab failed, not the test' (0: none)");
    o = hil_ext_option(ext, "runs.*.variants", HIL_OPT_STRING, NULL,
                       "Firmware variants to test: a work item per variant (comma list; none: any firmware)");
    o->flags = HIL_OPT_MULTIPLE;
    hil_ext_option(ext, "runs.*.priority", HIL_OPT_INT, "0", "Higher runs first, before any other rule");
    hil_ext_option(ext, "runs.*.timeout", HIL_OPT_FLOAT, "0", "Seconds the run may take (its task's max_runtime)");
    hil_ext_option(ext, "runs.*.test_timeout", HIL_OPT_FLOAT, "0", "Per-test timeout inside the run (0: run.timeout)");
    hil_ext_option(ext, "runs.*.retries", HIL_OPT_INT, "0",
                   "Attempts on another board after an infrastructure failure");
    hil_ext_option(ext, "runs.*.expected", HIL_OPT_FLOAT, "0",
                   "Seconds the run is expected to take (0: from the history, else a guess from the timeout)");
    hil_ext_option(ext, "runs.*.roles.*.type", HIL_OPT_STRING, NULL, "The board type the role needs");
    o = hil_ext_option(ext, "runs.*.roles.*.tags", HIL_OPT_STRING, NULL, "Tags the role's board must have (all)");
    o->flags = HIL_OPT_MULTIPLE;
    hil_ext_option(ext, "runs.*.roles.*.resource", HIL_OPT_STRING, NULL, "This very board (resources.<name>)");
    hil_ext_option(ext, "runs.*.roles.*.fixed_firmware", HIL_OPT_BOOL, "false",
                   "The board keeps its own firmware (a reference board): no variant needed, never flashed");
}

HIL_API void hil_scheduler_register(void) {
    hil_extension_declare("scheduler", HIL_EXT_FRAMEWORK, hil__describe_scheduler);
}

#ifndef HIL_NO_CONSTRUCTORS
HIL__CONSTRUCTOR(hil__reg_scheduler_extension) { hil_scheduler_register(); }
#endif

/* ==========================================================================
 * PART 3: lab operations - implementation
 * ==========================================================================
 * Why POSIX record locks and not flock(2): a test task is forked without
 * exec, and a flock lock belongs to the open file description, which the
 * child shares: a dead scheduler's board would stay locked as long as any
 * of its children lived. POSIX locks belong to the process and are not
 * inherited, and the kernel drops them in the dying process's close, before
 * the close is reported to inotify, so a waiter woken by that report finds
 * the board free. Why a lab-wide lock (.lab.lock) around dispatch: a
 * scheduler looks at every board (F_GETLK, no side effect), lets its core
 * choose, then locks the chosen boards; done as one step for the other
 * processes, the locking cannot fail halfway, and nobody ever takes a board
 * just to look at it (which would wake the others for nothing and let two
 * waiting schedulers wake each other forever). */

#ifdef __linux__
#include <sys/inotify.h>
#endif
#include <dirent.h>

typedef struct hil__labk {
    char* board;
    int fd;
    int mine;
} hil__labk;

struct hil_lab {
    char* dir;
    int refs;
    hil_lab* next;
    pthread_mutex_t mu; /* recursive: the section nests the calls */
    int dfd;            /* .lab.lock */
    int depth;          /* section nesting in this process */
    int ino;            /* inotify, -1 until asked */
    hil__labk* k;
    size_t n_k, cap_k;
};

/* The registry of open labs: one object per directory and process, since a
 * second descriptor of a lock file, once closed, would drop our lock. */
static pthread_mutex_t hil__labs_mu = PTHREAD_MUTEX_INITIALIZER;
static hil_lab* hil__labs;

static int hil__lab_name_ok(const char* b) {
    const char* p;
    if (!b || !*b || *b == '.' || strlen(b) > 200) return 0;
    for (p = b; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr("._+-", *p)) return 0;
    return 1;
}

static hil_result hil__lab_bad_name(const char* b) {
    return hil_error(HIL_ERR_INVALID_ARG,
                     "lab: board name '%s' cannot name a lock file (letters, digits, '.', '_', '+', '-'; not "
                     "starting with '.'): rename resources.%s",
                     b ? b : "", b ? b : "");
}

static int hil__lab_setlk(int fd, short type, int wait) {
    struct flock fl;
    int r;
    memset(&fl, 0, sizeof fl);
    fl.l_type = type;
    fl.l_whence = SEEK_SET;
    do r = fcntl(fd, wait ? F_SETLKW : F_SETLK, &fl);
    while (r != 0 && errno == EINTR);
    return r;
}

HIL_API hil_result hil_lab_open(const char* dir, hil_lab** out) {
    hil_lab* lab;
    char path[4200];
    pthread_mutexattr_t ma;
    if (!dir || !*dir || !out) return hil_error(HIL_ERR_INVALID_ARG, "hil_lab_open: no directory");
    *out = NULL;
    pthread_mutex_lock(&hil__labs_mu);
    for (lab = hil__labs; lab; lab = lab->next)
        if (strcmp(lab->dir, dir) == 0) break;
    if (lab) {
        lab->refs++;
        pthread_mutex_unlock(&hil__labs_mu);
        *out = lab;
        return HIL_OK;
    }
    if (hil_mkdirs(dir) != HIL_OK) {
        hil_result r = hil_error(HIL_ERR_IO,
                                 "lab state directory %s: cannot create it: %s (set lab.state, --lab-state, to a "
                                 "directory every run of the lab can write)",
                                 dir, strerror(errno));
        pthread_mutex_unlock(&hil__labs_mu);
        return r;
    }
    lab = (hil_lab*)hil__calloc(1, sizeof *lab);
    if (lab) lab->dir = hil_strdup(dir);
    if (!lab || !lab->dir) {
        if (lab) HIL_FREE(lab);
        pthread_mutex_unlock(&hil__labs_mu);
        return hil_error(HIL_ERR_NO_MEMORY, "lab: out of memory");
    }
    hil__sfmt(path, sizeof path, "%s/.lab.lock", dir);
    lab->dfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (lab->dfd < 0) {
        hil_result r = hil_error(HIL_ERR_IO, "lab state directory %s: cannot open %s: %s", dir, path, strerror(errno));
        HIL_FREE(lab->dir);
        HIL_FREE(lab);
        pthread_mutex_unlock(&hil__labs_mu);
        return r;
    }
    pthread_mutexattr_init(&ma);
    pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&lab->mu, &ma);
    pthread_mutexattr_destroy(&ma);
    lab->ino = -1;
    lab->refs = 1;
    lab->next = hil__labs;
    hil__labs = lab;
    pthread_mutex_unlock(&hil__labs_mu);
    *out = lab;
    return HIL_OK;
}

HIL_API void hil_lab_close(hil_lab* lab) {
    hil_lab** pp;
    size_t i;
    if (!lab) return;
    pthread_mutex_lock(&hil__labs_mu);
    if (--lab->refs > 0) {
        pthread_mutex_unlock(&hil__labs_mu);
        return;
    }
    for (pp = &hil__labs; *pp; pp = &(*pp)->next)
        if (*pp == lab) {
            *pp = lab->next;
            break;
        }
    pthread_mutex_unlock(&hil__labs_mu);
    for (i = 0; i < lab->n_k; i++) {
        if (lab->k[i].mine) (void)hil_lab_unlock(lab, lab->k[i].board);
        close(lab->k[i].fd);
        HIL_FREE(lab->k[i].board);
    }
    HIL_FREE(lab->k);
    if (lab->ino >= 0) close(lab->ino);
    close(lab->dfd);
    pthread_mutex_destroy(&lab->mu);
    HIL_FREE(lab->dir);
    HIL_FREE(lab);
}

HIL_API const char* hil_lab_dir(const hil_lab* lab) { return lab ? lab->dir : NULL; }

HIL_API hil_result hil_lab_section_begin(hil_lab* lab) {
    if (!lab) return HIL_ERR_INVALID_ARG;
    pthread_mutex_lock(&lab->mu);
    if (lab->depth++ == 0 && hil__lab_setlk(lab->dfd, F_WRLCK, 1) != 0) {
        hil_result r = hil_error(HIL_ERR_IO, "lab %s: cannot lock .lab.lock: %s", lab->dir, strerror(errno));
        lab->depth--;
        pthread_mutex_unlock(&lab->mu);
        return r;
    }
    return HIL_OK;
}

HIL_API void hil_lab_section_end(hil_lab* lab) {
    if (!lab) return;
    if (lab->depth > 0 && --lab->depth == 0) (void)hil__lab_setlk(lab->dfd, F_UNLCK, 0);
    pthread_mutex_unlock(&lab->mu);
}

/* The board's lock file, opened once for the process's lifetime. Call with lab->mu. */
static hil__labk* hil__lab_k(hil_lab* lab, const char* board) {
    size_t i;
    char path[4200];
    int fd;
    for (i = 0; i < lab->n_k; i++)
        if (strcmp(lab->k[i].board, board) == 0) return &lab->k[i];
    if (lab->n_k == lab->cap_k) {
        size_t cap = lab->cap_k ? lab->cap_k * 2 : 16;
        hil__labk* p = (hil__labk*)HIL_REALLOC(lab->k, cap * sizeof *p);
        if (!p) {
            hil_error(HIL_ERR_NO_MEMORY, "lab: out of memory");
            return NULL;
        }
        lab->k = p;
        lab->cap_k = cap;
    }
    hil__sfmt(path, sizeof path, "%s/%s.lock", lab->dir, board);
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (fd < 0) {
        hil_error(HIL_ERR_IO, "lab: cannot open %s: %s (is the lab state directory writable by every user of the lab?)",
                  path, strerror(errno));
        return NULL;
    }
    lab->k[lab->n_k].board = hil_strdup(board);
    if (!lab->k[lab->n_k].board) {
        close(fd);
        hil_error(HIL_ERR_NO_MEMORY, "lab: out of memory");
        return NULL;
    }
    lab->k[lab->n_k].fd = fd;
    lab->k[lab->n_k].mine = 0;
    return &lab->k[lab->n_k++];
}

/* The holder's record: "pid=N user=U host=H since=NS until=NS run=TEXT\n". */
static void hil__lab_record_parse(const char* t, hil_lab_holder* h) {
    const char* p = t;
    while (p && *p) {
        const char* sp;
        while (*p == ' ') p++;
        if (strncmp(p, "run=", 4) == 0) {
            size_t n = strcspn(p + 4, "\n");
            if (n >= sizeof h->run) n = sizeof h->run - 1;
            memcpy(h->run, p + 4, n);
            h->run[n] = 0;
            break;
        }
        sp = p + strcspn(p, " \n");
        if (strncmp(p, "pid=", 4) == 0 && !h->pid)
            h->pid = strtol(p + 4, NULL, 10);
        else if (strncmp(p, "since=", 6) == 0)
            h->since_ns = (int64_t)strtoll(p + 6, NULL, 10);
        else if (strncmp(p, "until=", 6) == 0)
            h->until_ns = (int64_t)strtoll(p + 6, NULL, 10);
        else if (strncmp(p, "user=", 5) == 0 || strncmp(p, "host=", 5) == 0) {
            char* dst = p[0] == 'u' ? h->user : h->host;
            size_t cap = p[0] == 'u' ? sizeof h->user : sizeof h->host, n = (size_t)(sp - p - 5);
            if (n >= cap) n = cap - 1;
            memcpy(dst, p + 5, n);
            dst[n] = 0;
        }
        if (*sp != ' ') break;
        p = sp;
    }
}

static void hil__lab_read_record(int fd, hil_lab_holder* h) {
    char buf[1024];
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    buf[n > 0 ? n : 0] = 0;
    hil__lab_record_parse(buf, h);
}

static void hil__lab_me(char* user, size_t usize, char* host, size_t hsize) {
    struct passwd* pw = getpwuid(getuid());
    const char* u = pw && pw->pw_name ? pw->pw_name : getenv("USER");
    hil__sfmt(user, usize, "%s", u && *u ? u : "?");
    if (gethostname(host, hsize) != 0) hil__sfmt(host, hsize, "?");
    host[hsize - 1] = 0;
    for (; *user; user++)
        if (*user == ' ' || *user == '\n') *user = '_';
    for (; *host; host++)
        if (*host == ' ' || *host == '\n') *host = '_';
}

static void hil__lab_holder_of(hil__labk* k, hil_lab_holder* out) {
    struct flock fl;
    memset(out, 0, sizeof *out);
    if (k->mine) {
        out->held = out->mine = 1;
        hil__lab_read_record(k->fd, out);
        out->pid = (long)getpid();
        return;
    }
    memset(&fl, 0, sizeof fl);
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    if (fcntl(k->fd, F_GETLK, &fl) != 0 || fl.l_type == F_UNLCK) return;
    out->held = 1;
    hil__lab_read_record(k->fd, out);
    out->pid = (long)fl.l_pid; /* the kernel's word beats a record that may be half written */
}

HIL_API hil_result hil_lab_holder_get(hil_lab* lab, const char* board, hil_lab_holder* out) {
    hil__labk* k;
    if (!lab || !out) return HIL_ERR_INVALID_ARG;
    if (!hil__lab_name_ok(board)) return hil__lab_bad_name(board);
    pthread_mutex_lock(&lab->mu);
    k = hil__lab_k(lab, board);
    if (k) hil__lab_holder_of(k, out);
    pthread_mutex_unlock(&lab->mu);
    return k ? HIL_OK : HIL_ERR_IO;
}

HIL_API hil_result hil_lab_try_lock(hil_lab* lab, const char* board, const char* run, int64_t expected_ns,
                                    hil_lab_holder* holder) {
    hil__labk* k;
    hil_result r = HIL_OK;
    hil_lab_holder local;
    hil_lab_holder* h = holder ? holder : &local;
    if (!lab) return HIL_ERR_INVALID_ARG;
    if (!hil__lab_name_ok(board)) return hil__lab_bad_name(board);
    memset(h, 0, sizeof *h);
    if ((r = hil_lab_section_begin(lab)) != HIL_OK) return r;
    k = hil__lab_k(lab, board);
    if (!k) {
        r = HIL_ERR_IO;
    } else if (k->mine) {
        hil__lab_holder_of(k, h);
        r = hil_error(HIL_ERR_BUSY, "lab: board %s is held by this process already (run %s)", board, h->run);
    } else if (hil__lab_setlk(k->fd, F_WRLCK, 0) != 0) {
        if (errno == EAGAIN || errno == EACCES) {
            hil__lab_holder_of(k, h);
            r = hil_error(HIL_ERR_BUSY, "lab: board %s is held by pid %ld (%s@%s, run %s)", board, h->pid, h->user,
                          h->host, h->run[0] ? h->run : "?");
        } else {
            r = hil_error(HIL_ERR_IO, "lab: cannot lock %s/%s.lock: %s", lab->dir, board, strerror(errno));
        }
    } else {
        char user[64], host[128], rec[1024];
        int64_t now = (int64_t)hil_wall_ns();
        size_t n;
        hil__lab_me(user, sizeof user, host, sizeof host);
        hil__sfmt(rec, sizeof rec, "pid=%ld user=%s host=%s since=%lld until=%lld run=%s\n", (long)getpid(), user,
                  host, (long long)now, (long long)(expected_ns > 0 ? now + expected_ns : 0), run && *run ? run : "?");
        for (n = 0; rec[n]; n++)
            if (rec[n] == '\n' && rec[n + 1]) rec[n] = ' ';
        n = strlen(rec);
        if (pwrite(k->fd, rec, n, 0) != (ssize_t)n || ftruncate(k->fd, (off_t)n) != 0) {
            /* the lock holds without a record; status then shows only the pid */
        }
        k->mine = 1;
        h->held = h->mine = 1;
    }
    hil_lab_section_end(lab);
    return r;
}

HIL_API hil_result hil_lab_unlock(hil_lab* lab, const char* board) {
    hil__labk* k;
    hil_result r = HIL_OK;
    if (!lab) return HIL_ERR_INVALID_ARG;
    if (!hil__lab_name_ok(board)) return hil__lab_bad_name(board);
    pthread_mutex_lock(&lab->mu);
    k = hil__lab_k(lab, board);
    if (!k) {
        r = HIL_ERR_IO;
    } else if (!k->mine) {
        r = hil_error(HIL_ERR_STATE, "lab: board %s is not held by this process", board);
    } else {
        /* the record goes first (nobody else can write it while we hold the
         * lock); the timestamp change after the unlock is what wakes the
         * waiters' inotify (IN_ATTRIB) */
        if (ftruncate(k->fd, 0) != 0) { /* a stale record is ignored: the lock says who holds */
        }
        (void)hil__lab_setlk(k->fd, F_UNLCK, 0);
        k->mine = 0;
        (void)futimens(k->fd, NULL);
    }
    pthread_mutex_unlock(&lab->mu);
    return r;
}

HIL_API int hil_lab_wait_fd(hil_lab* lab) {
    int fd = -1;
    if (!lab) return -1;
    pthread_mutex_lock(&lab->mu);
#ifdef __linux__
    if (lab->ino < 0) {
        lab->ino = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        if (lab->ino >= 0 && inotify_add_watch(lab->ino, lab->dir, IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_MOVED_TO) < 0) {
            close(lab->ino);
            lab->ino = -1;
        }
    }
    fd = lab->ino;
#endif
    pthread_mutex_unlock(&lab->mu);
    return fd;
}

HIL_API void hil_lab_wait_drain(hil_lab* lab) {
    char buf[4096];
    if (!lab || lab->ino < 0) return;
    while (read(lab->ino, buf, sizeof buf) > 0) {
    }
}

/* The holder ended (its lock is gone) or timeout_s passed: woken by the
 * directory's inotify, and by the holder's pidfd where there is one. */
static int hil__lab_wait_gone(hil_lab* lab, const char* board, long pid, double timeout_s) {
    uint64_t deadline = hil_deadline_ms((int)(timeout_s * 1000));
    int ino = hil_lab_wait_fd(lab), pfd = -1;
    hil_lab_holder h;
#if defined(__linux__) && defined(SYS_pidfd_open)
    pfd = (int)syscall(SYS_pidfd_open, (pid_t)pid, 0);
#else
    (void)pid;
#endif
    for (;;) {
        struct pollfd pf[2];
        int n = 0, left;
        if (hil_lab_holder_get(lab, board, &h) != HIL_OK || !h.held) break;
        left = hil_deadline_left_ms(deadline);
        if (left == 0) break;
        if (ino >= 0) {
            pf[n].fd = ino;
            pf[n++].events = POLLIN;
        }
        if (pfd >= 0) {
            pf[n].fd = pfd;
            pf[n++].events = POLLIN;
        }
        if (poll(pf, (nfds_t)n, left) < 0 && errno != EINTR) break;
        hil_lab_wait_drain(lab);
    }
    if (pfd >= 0) close(pfd);
    return !h.held;
}

HIL_API hil_result hil_lab_release(hil_lab* lab, const char* board, int force, double timeout_s) {
    hil_lab_holder h;
    hil_result r;
    char host[128], user[64], since[40];
    if ((r = hil_lab_holder_get(lab, board, &h)) != HIL_OK) return r;
    if (h.mine) return hil_lab_unlock(lab, board);
    if (!h.held) {
        /* free already (the kernel dropped a dead holder's lock): clear the stale record */
        if (hil_lab_try_lock(lab, board, "lab release", 0, NULL) == HIL_OK) (void)hil_lab_unlock(lab, board);
        return HIL_OK;
    }
    hil__lab_me(user, sizeof user, host, sizeof host);
    hil_format_time_iso((uint64_t)h.since_ns, since, sizeof since);
    if (!force)
        return hil_error(HIL_ERR_BUSY,
                         "lab release %s: the board is held by pid %ld (%s@%s, run %s, since %s), which is alive: "
                         "stop that run, or give --force to send it SIGTERM",
                         board, h.pid, h.user, h.host, h.run, since);
    if (h.host[0] && strcmp(h.host, host) != 0)
        return hil_error(HIL_ERR_PERMISSION,
                         "lab release %s --force: the holder (pid %ld) runs on %s, not on this host (%s): stop it "
                         "there",
                         board, h.pid, h.host, host);
    if (h.pid <= 0 || kill((pid_t)h.pid, SIGTERM) != 0)
        return hil_error(HIL_ERR_PERMISSION, "lab release %s --force: cannot signal pid %ld: %s", board, h.pid,
                         strerror(errno));
    if (!hil__lab_wait_gone(lab, board, h.pid, timeout_s))
        return hil_error(HIL_ERR_TIMEOUT,
                         "lab release %s --force: pid %ld still holds the board %.0f s after SIGTERM (kill -9 it: "
                         "the kernel then frees the board)",
                         board, h.pid, timeout_s);
    return HIL_OK;
}

/* ---- persistent health ---------------------------------------------------------------- */

HIL_API void hil_lab_board_state_init(hil_lab_board_state* st) {
    if (st) memset(st, 0, sizeof *st);
}

static void hil__lab_text(char* dst, size_t cap, const char* p, size_t n) {
    size_t i;
    if (n >= cap) n = cap - 1;
    for (i = 0; i < n; i++) dst[i] = (unsigned char)p[i] < 0x20 || p[i] == 0x7f ? ' ' : p[i];
    dst[n] = 0;
}

/* "NUMBER " at p; NULL when it is not one. */
static const char* hil__lab_num(const char* p, const char* e, int64_t* out) {
    uint64_t v = 0;
    const char* s = p;
    while (p < e && *p >= '0' && *p <= '9') {
        if (v > (uint64_t)INT64_MAX / 10) return NULL;
        v = v * 10 + (uint64_t)(*p - '0');
        p++;
    }
    if (p == s || v > (uint64_t)INT64_MAX) return NULL;
    *out = (int64_t)v;
    if (p < e && *p == ' ') return p + 1;
    return p == e ? p : NULL;
}

/* A word (no space) at p into dst; NULL when empty or too long. */
static const char* hil__lab_word(const char* p, const char* e, char* dst, size_t cap) {
    const char* s = p;
    while (p < e && *p != ' ') p++;
    if (p == s || (size_t)(p - s) >= cap) return NULL;
    hil__lab_text(dst, cap, s, (size_t)(p - s));
    return p < e ? p + 1 : p;
}

static void hil__lab_push_event(hil_lab_board_state* st, int64_t t, const char* kind, const char* text) {
    hil_lab_event* ev;
    if (st->n_events == HIL_LAB_EVENTS) {
        memmove(st->events, st->events + 1, (HIL_LAB_EVENTS - 1) * sizeof *st->events);
        st->n_events--;
    }
    ev = &st->events[st->n_events++];
    ev->wall_ns = t;
    hil__lab_text(ev->kind, sizeof ev->kind, kind, strlen(kind));
    hil__lab_text(ev->text, sizeof ev->text, text ? text : "", text ? strlen(text) : 0);
}

static int hil__lab_state_line(hil_lab_board_state* st, const char* p, const char* e) {
    int64_t t = 0, n = 0;
    if ((size_t)(e - p) > 12 && strncmp(p, "quarantined ", 12) == 0) {
        if (!(p = hil__lab_num(p + 12, e, &t))) return 0;
        st->quarantined = 1;
        st->quarantined_ns = t;
        hil__lab_text(st->reason, sizeof st->reason, p, (size_t)(e - p));
        return 1;
    }
    if ((size_t)(e - p) > 7 && strncmp(p, "streak ", 7) == 0) {
        if (!(p = hil__lab_num(p + 7, e, &n)) || p != e || n > 0x7fffffff) return 0;
        st->streak = (uint32_t)n;
        return 1;
    }
    if ((size_t)(e - p) > 5 && strncmp(p, "last ", 5) == 0) {
        char res[16];
        if (!(p = hil__lab_num(p + 5, e, &t)) || !(p = hil__lab_word(p, e, res, sizeof res))) return 0;
        st->last_ns = t;
        memcpy(st->last_result, res, sizeof res);
        hil__lab_text(st->last_run, sizeof st->last_run, p, (size_t)(e - p));
        return 1;
    }
    if ((size_t)(e - p) > 6 && strncmp(p, "event ", 6) == 0) {
        char kind[16], text[HIL_LAB_TEXT];
        if (!(p = hil__lab_num(p + 6, e, &t)) || !(p = hil__lab_word(p, e, kind, sizeof kind))) return 0;
        hil__lab_text(text, sizeof text, p, (size_t)(e - p));
        hil__lab_push_event(st, t, kind, text);
        return 1;
    }
    return 0;
}

HIL_API hil_result hil_lab_state_parse(const char* buf, size_t len, hil_lab_board_state* out, size_t* bad_line) {
    static const char head[] = "# hil-lab-state 1\n";
    const char *p = buf, *e = buf + len;
    size_t line = 1, bad = 0, n_bad = 0;
    if (bad_line) *bad_line = 0;
    if (!out) return HIL_ERR_INVALID_ARG;
    hil_lab_board_state_init(out);
    if (!buf || len < sizeof head - 1 || memcmp(buf, head, sizeof head - 1) != 0)
        return hil_error(HIL_ERR_INVALID_ARG, "lab state: no '# hil-lab-state 1' line: not a lab state file");
    p += sizeof head - 1;
    while (p < e) {
        const char* nl = (const char*)memchr(p, '\n', (size_t)(e - p));
        line++;
        /* a line without its newline is the torn end of a write: skipped */
        if (!nl || (*p != '#' && !hil__lab_state_line(out, p, nl))) {
            if (!bad) bad = line;
            n_bad++;
        }
        if (!nl) break;
        p = nl + 1;
    }
    if (!bad) return HIL_OK;
    if (bad_line) *bad_line = bad;
    return hil_error(HIL_ERR_INVALID_ARG, "lab state: line %zu is not whole or not known: skipped (%zu line%s skipped)",
                     bad, n_bad, n_bad == 1 ? "" : "s");
}

HIL_API hil_result hil_lab_state_format(const hil_lab_board_state* st, hil_strbuf* out) {
    size_t i;
    char clean[HIL_LAB_TEXT];
    if (!st || !out) return HIL_ERR_INVALID_ARG;
    hil_sb_puts(out, "# hil-lab-state 1\n");
    if (st->quarantined) {
        hil__lab_text(clean, sizeof clean, st->reason, strlen(st->reason));
        hil_sb_printf(out, "quarantined %lld %s\n", (long long)st->quarantined_ns, clean);
    }
    hil_sb_printf(out, "streak %u\n", (unsigned)st->streak);
    if (st->last_result[0]) {
        char res[16];
        hil__lab_text(clean, sizeof clean, st->last_run, strlen(st->last_run));
        hil__lab_text(res, sizeof res, st->last_result, strlen(st->last_result));
        for (i = 0; res[i]; i++)
            if (res[i] == ' ') res[i] = '_';
        hil_sb_printf(out, "last %lld %s %s\n", (long long)st->last_ns, res, clean);
    }
    for (i = 0; i < st->n_events && i < HIL_LAB_EVENTS; i++) {
        char kind[16];
        size_t j;
        hil__lab_text(kind, sizeof kind, st->events[i].kind, strlen(st->events[i].kind));
        for (j = 0; kind[j]; j++)
            if (kind[j] == ' ') kind[j] = '_';
        hil__lab_text(clean, sizeof clean, st->events[i].text, strlen(st->events[i].text));
        hil_sb_printf(out, "event %lld %s %s\n", (long long)st->events[i].wall_ns, kind[0] ? kind : "-", clean);
    }
    return out->failed ? hil_error(HIL_ERR_NO_MEMORY, "lab state: out of memory") : HIL_OK;
}

/* A missing file is a board with no history; a torn one gives its whole lines. */
static hil_result hil__lab_state_read(hil_lab* lab, const char* board, hil_lab_board_state* st) {
    char path[4200], *text = NULL;
    size_t len = 0;
    hil_result r;
    hil_lab_board_state_init(st);
    hil__sfmt(path, sizeof path, "%s/%s.state", lab->dir, board);
    if (access(path, F_OK) != 0) return HIL_OK;
    if ((r = hil_read_file(path, &text, &len)) != HIL_OK) return r;
    r = hil_lab_state_parse(text, len, st, NULL);
    HIL_FREE(text);
    if (r != HIL_OK) {
        HIL_WARN("hil.lab", "%s: %s (the rest is used; it is rewritten at the next change)", path, hil_last_error());
        r = HIL_OK;
    }
    return r;
}

static hil_result hil__lab_state_write(hil_lab* lab, const char* board, const hil_lab_board_state* st) {
    char path[4200];
    hil_strbuf sb = {0, 0, 0, 0};
    hil_result r = hil_lab_state_format(st, &sb);
    hil__sfmt(path, sizeof path, "%s/%s.state", lab->dir, board);
    if (r == HIL_OK) r = hil_write_file_atomic(path, sb.data, sb.len);
    hil_sb_free(&sb);
    return r;
}

HIL_API hil_result hil_lab_state_load(hil_lab* lab, const char* board, hil_lab_board_state* out) {
    if (!lab || !out) return HIL_ERR_INVALID_ARG;
    if (!hil__lab_name_ok(board)) return hil__lab_bad_name(board);
    return hil__lab_state_read(lab, board, out);
}

HIL_API hil_result hil_lab_quarantine(hil_lab* lab, const char* board, int on, const char* kind, const char* reason) {
    hil_lab_board_state st;
    hil_result r;
    int64_t now = (int64_t)hil_wall_ns();
    if (!lab) return HIL_ERR_INVALID_ARG;
    if (!hil__lab_name_ok(board)) return hil__lab_bad_name(board);
    if ((r = hil_lab_section_begin(lab)) != HIL_OK) return r;
    r = hil__lab_state_read(lab, board, &st);
    if (r == HIL_OK) {
        st.quarantined = on ? 1 : 0;
        if (on) {
            st.quarantined_ns = now;
            hil__lab_text(st.reason, sizeof st.reason, reason ? reason : "", reason ? strlen(reason) : 0);
        } else {
            st.reason[0] = 0;
            st.quarantined_ns = 0;
            st.streak = 0;
        }
        hil__lab_push_event(&st, now, kind ? kind : on ? "quarantined" : "unquarantined", reason);
        r = hil__lab_state_write(lab, board, &st);
    }
    hil_lab_section_end(lab);
    return r;
}

HIL_API hil_result hil_lab_note_result(hil_lab* lab, const char* board, const char* run, const char* result,
                                       const char* infra_why, uint32_t quarantine_after, int* quarantined_now) {
    hil_lab_board_state st;
    hil_result r;
    int64_t now = (int64_t)hil_wall_ns();
    if (quarantined_now) *quarantined_now = 0;
    if (!lab) return HIL_ERR_INVALID_ARG;
    if (!hil__lab_name_ok(board)) return hil__lab_bad_name(board);
    if ((r = hil_lab_section_begin(lab)) != HIL_OK) return r;
    r = hil__lab_state_read(lab, board, &st);
    if (r == HIL_OK) {
        char text[HIL_LAB_TEXT];
        st.streak = infra_why ? st.streak + 1 : 0;
        hil__lab_text(st.last_result, sizeof st.last_result, result, strlen(result));
        hil__lab_text(st.last_run, sizeof st.last_run, run ? run : "?", run ? strlen(run) : 1);
        st.last_ns = now;
        hil__sfmt(text, sizeof text, "%s%s%s", run ? run : "?", infra_why ? ": " : "", infra_why ? infra_why : "");
        hil__lab_push_event(&st, now, infra_why ? "infra" : result, text);
        if (infra_why && quarantine_after && st.streak >= quarantine_after && !st.quarantined) {
            st.quarantined = 1;
            st.quarantined_ns = now;
            hil__sfmt(st.reason, sizeof st.reason, "%u infrastructure failures in a row (last: %s)",
                      (unsigned)st.streak, infra_why);
            hil__lab_push_event(&st, now, "quarantined", st.reason);
            if (quarantined_now) *quarantined_now = 1;
        }
        r = hil__lab_state_write(lab, board, &st);
    }
    hil_lab_section_end(lab);
    return r;
}

/* ---- lab status ------------------------------------------------------------------------- */

static int hil__lab_cmp_cstr(const void* a, const void* b) {
    return strcmp(*(const char* const*)a, *(const char* const*)b);
}

/* Every board with a .lock or .state file in the directory, sorted. */
static hil_result hil__lab_boards_in_dir(hil_lab* lab, char*** out, size_t* n) {
    DIR* d = opendir(lab->dir);
    struct dirent* de;
    char** v = NULL;
    size_t cnt = 0, cap = 0, i;
    *out = NULL;
    *n = 0;
    if (!d) return hil_error(HIL_ERR_IO, "lab state directory %s: %s", lab->dir, strerror(errno));
    while ((de = readdir(d)) != NULL) {
        const char* nm = de->d_name;
        size_t len = strlen(nm), base;
        int dup = 0;
        if (nm[0] == '.') continue;
        if (len > 5 && strcmp(nm + len - 5, ".lock") == 0)
            base = len - 5;
        else if (len > 6 && strcmp(nm + len - 6, ".state") == 0)
            base = len - 6;
        else
            continue;
        for (i = 0; i < cnt && !dup; i++) dup = strlen(v[i]) == base && strncmp(v[i], nm, base) == 0;
        if (dup) continue;
        if (cnt == cap) {
            char** p;
            cap = cap ? cap * 2 : 16;
            p = (char**)HIL_REALLOC(v, cap * sizeof *p);
            if (!p) break;
            v = p;
        }
        v[cnt] = hil__lab_strndup(nm, base);
        if (v[cnt]) cnt++;
    }
    closedir(d);
    if (cnt) qsort(v, cnt, sizeof *v, hil__lab_cmp_cstr);
    *out = v;
    *n = cnt;
    return HIL_OK;
}

static void hil__lab_iso(int64_t ns, char* out, size_t size) {
    if (ns <= 0) {
        hil__sfmt(out, size, "-");
        return;
    }
    hil_format_time_iso((uint64_t)ns, out, size);
}

static char hil__lab_event_code(const char* kind) {
    if (!strcmp(kind, "passed")) return 'P';
    if (!strcmp(kind, "failed")) return 'F';
    if (!strcmp(kind, "infra")) return 'I';
    if (!strcmp(kind, "error")) return 'E';
    if (!strcmp(kind, "timeout")) return 'T';
    if (!strcmp(kind, "quarantined")) return 'Q';
    if (!strcmp(kind, "unquarantined")) return 'U';
    if (!strcmp(kind, "health-passed")) return 'H';
    if (!strcmp(kind, "health-failed")) return 'h';
    return '?';
}

static void hil__lab_status_json(const char* board, const hil_lab_holder* h, const hil_lab_board_state* st,
                                 hil_strbuf* out) {
    char t[40];
    size_t i;
    hil_sb_puts(out, "{\"name\":");
    hil_sb_json_str(out, board);
    hil_sb_printf(out, ",\"state\":\"%s\",\"holder\":", h->held ? "held" : st->quarantined ? "quarantined" : "free");
    if (h->held) {
        hil_sb_printf(out, "{\"pid\":%ld,\"user\":", h->pid);
        hil_sb_json_str(out, h->user);
        hil_sb_puts(out, ",\"host\":");
        hil_sb_json_str(out, h->host);
        hil_sb_puts(out, ",\"run\":");
        hil_sb_json_str(out, h->run);
        hil__lab_iso(h->since_ns, t, sizeof t);
        hil_sb_puts(out, ",\"since\":");
        hil_sb_json_str(out, t);
        hil_sb_puts(out, ",\"until\":");
        if (h->until_ns > 0) {
            hil__lab_iso(h->until_ns, t, sizeof t);
            hil_sb_json_str(out, t);
        } else {
            hil_sb_puts(out, "null");
        }
        hil_sb_puts(out, "}");
    } else {
        hil_sb_puts(out, "null");
    }
    hil_sb_puts(out, ",\"quarantine\":");
    if (st->quarantined) {
        hil__lab_iso(st->quarantined_ns, t, sizeof t);
        hil_sb_puts(out, "{\"since\":");
        hil_sb_json_str(out, t);
        hil_sb_puts(out, ",\"reason\":");
        hil_sb_json_str(out, st->reason);
        hil_sb_puts(out, "}");
    } else {
        hil_sb_puts(out, "null");
    }
    hil_sb_printf(out, ",\"streak\":%u,\"last\":", (unsigned)st->streak);
    if (st->last_result[0]) {
        hil__lab_iso(st->last_ns, t, sizeof t);
        hil_sb_puts(out, "{\"result\":");
        hil_sb_json_str(out, st->last_result);
        hil_sb_puts(out, ",\"run\":");
        hil_sb_json_str(out, st->last_run);
        hil_sb_puts(out, ",\"at\":");
        hil_sb_json_str(out, t);
        hil_sb_puts(out, "}");
    } else {
        hil_sb_puts(out, "null");
    }
    hil_sb_puts(out, ",\"history\":[");
    for (i = 0; i < st->n_events; i++) {
        hil__lab_iso(st->events[i].wall_ns, t, sizeof t);
        hil_sb_puts(out, i ? ",{\"at\":" : "{\"at\":");
        hil_sb_json_str(out, t);
        hil_sb_puts(out, ",\"kind\":");
        hil_sb_json_str(out, st->events[i].kind);
        hil_sb_puts(out, ",\"text\":");
        hil_sb_json_str(out, st->events[i].text);
        hil_sb_puts(out, "}");
    }
    hil_sb_puts(out, "]}");
}

static void hil__lab_status_text(const char* board, const hil_lab_holder* h, const hil_lab_board_state* st,
                                 hil_strbuf* out) {
    char state[600], t[40], last[300], hist[HIL_LAB_EVENTS + 1];
    size_t i;
    if (h->held) {
        hil__lab_iso(h->since_ns, t, sizeof t);
        hil__sfmt(state, sizeof state, "held by pid %ld (%s@%s, %s) since %s", h->pid, h->user, h->host, h->run, t);
    } else if (st->quarantined) {
        hil__sfmt(state, sizeof state, "quarantined: %s", st->reason);
    } else {
        hil__sfmt(state, sizeof state, "free");
    }
    if (h->held && st->quarantined) hil__sfmt(state + strlen(state), sizeof state - strlen(state), "; quarantined: %s", st->reason);
    if (st->last_result[0]) {
        hil__lab_iso(st->last_ns, t, sizeof t);
        hil__sfmt(last, sizeof last, "%s %s %s", st->last_result, st->last_run, t);
    } else {
        hil__sfmt(last, sizeof last, "-");
    }
    for (i = 0; i < st->n_events; i++) hist[i] = hil__lab_event_code(st->events[i].kind);
    hist[i] = 0;
    hil_sb_printf(out, "%-16s %-6u %-16s %s\n%16s last: %s\n", board, (unsigned)st->streak, hist[0] ? hist : "-", state,
                  "", last);
}

HIL_API hil_result hil_lab_status(hil_lab* lab, const char* const* boards, size_t n, int json, hil_strbuf* out) {
    char** found = NULL;
    size_t n_found = 0, i;
    hil_result r = HIL_OK;
    if (!lab || !out) return HIL_ERR_INVALID_ARG;
    if (!boards) {
        if ((r = hil__lab_boards_in_dir(lab, &found, &n_found)) != HIL_OK) return r;
        boards = (const char* const*)found;
        n = n_found;
    }
    if (json) {
        hil_sb_puts(out, "{\"version\":1,\"lab\":");
        hil_sb_json_str(out, lab->dir);
        hil_sb_puts(out, ",\"boards\":[");
    } else {
        hil_sb_printf(out, "lab %s: %zu board%s (history: P passed F failed E error T timeout I infra Q quarantined "
                           "U unquarantined H/h health check passed/failed, newest last)\n%-16s %-6s %-16s %s\n",
                      lab->dir, n, n == 1 ? "" : "s", "BOARD", "STREAK", "HISTORY", "STATE");
    }
    for (i = 0; i < n && r == HIL_OK; i++) {
        hil_lab_holder h;
        hil_lab_board_state st;
        if ((r = hil_lab_holder_get(lab, boards[i], &h)) != HIL_OK) break;
        if ((r = hil_lab_state_load(lab, boards[i], &st)) != HIL_OK) break;
        if (json) {
            if (i) hil_sb_putc(out, ',');
            hil__lab_status_json(boards[i], &h, &st, out);
        } else {
            hil__lab_status_text(boards[i], &h, &st, out);
        }
    }
    if (json) hil_sb_puts(out, "]}\n");
    for (i = 0; i < n_found; i++) HIL_FREE(found[i]);
    HIL_FREE(found);
    if (r == HIL_OK && out->failed) r = hil_error(HIL_ERR_NO_MEMORY, "lab status: out of memory");
    return r;
}

/* ---- the lab command ---------------------------------------------------------------------- */

/* The lab state directory of a configuration: lab.state, else <job.runs>/lab
 * (beside the duration history). NULL when lab.state is "off". */
static const char* hil__lab_state_dir(hil_config* cfg, char* buf, size_t size) {
    const char* d = hil_config_get(cfg, "lab.state", NULL);
    if (d && strcmp(d, "off") == 0) return NULL;
    if (d && *d) return d;
    hil__sfmt(buf, size, "%s/lab", hil_config_get(cfg, "job.runs", "runs"));
    return buf;
}

/* The boards of the configuration (resources.*), then any other the directory knows. */
static size_t hil__lab_cfg_boards(hil_config* cfg, const char** out, size_t max) {
    return hil__lab_entities(cfg, "resources", out, max);
}

static int hil__cmd_lab(hil_cmd_ctx* ctx) {
    hil_config* cfg = ctx->config;
    const char* verb = ctx->argc > 0 ? ctx->argv[0] : "status";
    const char* board = ctx->argc > 1 ? ctx->argv[1] : NULL;
    char buf[4200];
    const char* dir = hil__lab_state_dir(cfg, buf, sizeof buf);
    hil_lab* lab = NULL;
    hil_result r;
    int code = 0;
    if (!dir) {
        fprintf(stderr, "hil: error: lab: lab.state is off: there is no lab state to show or change\n");
        return 3;
    }
    if (strcmp(verb, "status") != 0 && strcmp(verb, "release") != 0 && strcmp(verb, "quarantine") != 0 &&
        strcmp(verb, "unquarantine") != 0) {
        fprintf(stderr, "hil: error: lab: unknown action '%s' (status, release BOARD, quarantine BOARD --reason TEXT, "
                        "unquarantine BOARD; see docs/lab.md)\n", verb);
        return 2;
    }
    if (strcmp(verb, "status") != 0 && (!board || ctx->argc > 2)) {
        fprintf(stderr, "hil: error: lab %s: name one board: lab %s BOARD\n", verb, verb);
        return 2;
    }
    if ((r = hil_lab_open(dir, &lab)) != HIL_OK) {
        fprintf(stderr, "hil: error: %s\n", hil_last_error());
        return 3;
    }
    if (strcmp(verb, "status") == 0) {
        const char* names[512];
        char** found = NULL;
        size_t n = hil__lab_cfg_boards(cfg, names, 256), n_found = 0, i, j;
        hil_strbuf sb = {0, 0, 0, 0};
        /* the lab's boards first, then those only the directory knows (an old lab, another config) */
        if (hil__lab_boards_in_dir(lab, &found, &n_found) == HIL_OK)
            for (i = 0; i < n_found && n < 512; i++) {
                int have = 0;
                for (j = 0; j < n && !have; j++) have = strcmp(names[j], found[i]) == 0;
                if (!have) names[n++] = found[i];
            }
        for (i = 0; i < n; i++)
            if (!hil__lab_name_ok(names[i])) names[i--] = names[--n]; /* not a board the locks can name */
        if (n > 1) qsort((void*)names, n, sizeof *names, hil__lab_cmp_cstr);
        r = hil_lab_status(lab, names, n, hil_config_get_bool(cfg, "lab.json", 0), &sb);
        if (r == HIL_OK) fputs(hil_sb_cstr(&sb), stdout);
        for (i = 0; i < n_found; i++) HIL_FREE(found[i]);
        HIL_FREE(found);
        hil_sb_free(&sb);
    } else if (!hil__lab_name_ok(board)) {
        r = hil__lab_bad_name(board);
    } else if (strcmp(verb, "release") == 0) {
        r = hil_lab_release(lab, board, hil_config_get_bool(cfg, "lab.force", 0), 10);
        if (r == HIL_OK) printf("%s: released\n", board);
    } else if (strcmp(verb, "quarantine") == 0) {
        const char* why = hil_config_get(cfg, "lab.reason", NULL);
        if (!why || !*why) {
            fprintf(stderr, "hil: error: lab quarantine %s: say why: --reason TEXT (it shows in lab status and in "
                            "the blocked runs' reasons)\n", board);
            hil_lab_close(lab);
            return 2;
        }
        r = hil_lab_quarantine(lab, board, 1, "quarantined", why);
        if (r == HIL_OK) printf("%s: quarantined: %s\n", board, why);
    } else {
        r = hil_lab_quarantine(lab, board, 0, "unquarantined", "by an operator");
        if (r == HIL_OK) printf("%s: back in service\n", board);
    }
    if (r != HIL_OK) {
        fprintf(stderr, "hil: error: %s\n", hil_last_error());
        code = r == HIL_ERR_BUSY ? 1 : r == HIL_ERR_INVALID_ARG ? 2 : 4;
    }
    hil_lab_close(lab);
    return code;
}

static void hil__describe_lab(hil_extension* ext) {
    hil_command* c;
    hil_option* o;
    ext->description = "Lab operations: board locks shared by every run, lab status, persistent health, "
                       "reservation hooks (hil_runner.h part 3, docs/lab.md)";
    ext->load_order = 62;
    c = hil_ext_command(ext, "lab",
                        "Show the lab's boards (who holds them, quarantine, health) or change them (docs/lab.md)",
                        hil__cmd_lab);
    c->usage = "status [--json] | release BOARD [--force] | quarantine BOARD --reason TEXT | unquarantine BOARD";
    o = hil_ext_option(ext, "lab.state", HIL_OPT_PATH, NULL,
                       "The lab state directory: board locks and health (default <job.runs>/lab; off: no locks)");
    o->cli = "--lab-state";
    o->metavar = "DIR";
    o->commands = "schedule,lab,run";
    o = hil_ext_option(ext, "lab.no_wait", HIL_OPT_FLAG, "false",
                       "schedule: fail at once, naming the holders, when a board the lab needs is held by another run");
    o->cli = "--no-wait";
    o->commands = "schedule";
    o = hil_ext_option(ext, "lab.json", HIL_OPT_FLAG, "false", "lab status: JSON for scripts (docs/lab.md)");
    o->cli = "--json";
    o->commands = "lab";
    o = hil_ext_option(ext, "lab.force", HIL_OPT_FLAG, "false",
                       "lab release: a live holder gets SIGTERM (the kernel frees its boards when it ends)");
    o->cli = "--force";
    o->commands = "lab";
    o = hil_ext_option(ext, "lab.reason", HIL_OPT_STRING, NULL, "lab quarantine: why (shown in lab status)");
    o->cli = "--reason";
    o->metavar = "TEXT";
    o->commands = "lab";
    hil_ext_option(ext, "lab.health_check", HIL_OPT_STRING, NULL,
                   "A command run on a quarantined board at the start of a schedule ({board}, {board.<connector "
                   "key>}); exit 0 brings the board back");
    hil_ext_option(ext, "lab.health_timeout", HIL_OPT_FLOAT, "60", "Seconds the health check may take");
    hil_ext_option(ext, "resources.*.acquire", HIL_OPT_STRING, NULL,
                   "Command run before each use of the board ({board} {run}; no shell), e.g. labgrid-client -p "
                   "{board} acquire; a failure is the lab's, never the test's");
    hil_ext_option(ext, "resources.*.release", HIL_OPT_STRING, NULL,
                   "Command run after each use of the board ({board} {run}), e.g. labgrid-client -p {board} release");
    hil_ext_option(ext, "resources.*.hook_timeout", HIL_OPT_FLOAT, "60", "Seconds an acquire or release may take");
}

/* A test program given a board (lab.board, --board): the board is held
 * from the start of the run to its end, like a scheduled run's; held
 * elsewhere, the program stops before any test (exit 3) and says by whom.
 * The lock is taken when the run starts, since the configuration (the
 * command line included) is only complete then. */
static void hil__lab_board_started(const hil_bus_msg* m, void* user) {
    hil_ext_ctx* ctx = (hil_ext_ctx*)user;
    const char* board = hil_config_get(ctx->config, "lab.board", NULL);
    char buf[4200], run[600];
    const char* dir = hil__lab_state_dir(ctx->config, buf, sizeof buf);
    hil_lab* lab = NULL;
    hil_lab_holder who;
    hil_result r;
    (void)m;
    if (!board || !*board || !dir || ctx->user) return;
    hil__sfmt(run, sizeof run, "test program %s --board %s", hil_config_get(ctx->config, "job.name", "run"), board);
    r = hil_lab_open(dir, &lab);
    if (r == HIL_OK) r = hil_lab_try_lock(lab, board, run, 0, &who);
    if (r != HIL_OK) {
        char since[40];
        hil_format_time_iso((uint64_t)(who.since_ns > 0 ? who.since_ns : 0), since, sizeof since);
        if (r == HIL_ERR_BUSY)
            fprintf(stderr,
                    "hil: error: --board %s: the board is held by pid %ld (%s@%s, %s) since %s: wait for it, or "
                    "choose another (lab status shows who holds what)\n",
                    board, who.pid, who.user, who.host, who.run, since);
        else
            fprintf(stderr, "hil: error: --board %s: %s\n", board, hil_last_error());
        exit(3);
    }
    ctx->user = lab;
}

static void hil__lab_board_finished(const hil_bus_msg* m, void* user) {
    hil_ext_ctx* ctx = (hil_ext_ctx*)user;
    hil_lab* lab = (hil_lab*)ctx->user;
    const char* board = hil_config_get(ctx->config, "lab.board", NULL);
    (void)m;
    if (!lab) return;
    if (board) (void)hil_lab_unlock(lab, board);
    hil_lab_close(lab);
    ctx->user = NULL;
}

static hil_result hil__lab_board_init(hil_ext_ctx* ctx) {
    hil_result r = hil_ext_subscribe(ctx, HIL_DISPATCH_CALLBACK, hil__lab_board_started, ctx, &HIL_MSG_RUN_STARTED,
                                     &HIL_EP_RUN);
    if (r == HIL_OK)
        r = hil_ext_subscribe(ctx, HIL_DISPATCH_CALLBACK, hil__lab_board_finished, ctx, &HIL_MSG_RUN_FINISHED,
                              &HIL_EP_RUN);
    return r;
}

static void hil__lab_board_destroy(hil_ext_ctx* ctx) { hil__lab_board_finished(NULL, ctx); }

static void hil__describe_lab_board(hil_extension* ext) {
    hil_option* o;
    ext->description = "Holds the board a test program is given (--board) through the lab's lock (docs/lab.md)";
    ext->load_order = 63;
    ext->activate_on = "lab.board";
    ext->initialize = hil__lab_board_init;
    ext->destroy = hil__lab_board_destroy;
    o = hil_ext_option(ext, "lab.board", HIL_OPT_STRING, NULL,
                       "Hold this board of the lab (its lock in the lab state directory) while the tests run");
    o->cli = "--board";
    o->metavar = "NAME";
    o->commands = "run";
}

HIL_API void hil_lab_register(void) {
    hil_extension_declare("lab", HIL_EXT_FRAMEWORK, hil__describe_lab);
    hil_extension_declare("lab-board", HIL_EXT_FRAMEWORK, hil__describe_lab_board);
}

#ifndef HIL_NO_CONSTRUCTORS
HIL__CONSTRUCTOR(hil__reg_lab_extension) { hil_lab_register(); }
#endif
#endif /* HIL_NO_SCHEDULER */
#ifdef __cplusplus
}
#endif

#endif /* HIL_IMPLEMENTATION */
