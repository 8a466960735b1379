/* The examples of docs/jobs.md, compiled: every ```c block of the document
 * appears verbatim in this file (tests/test_runner_jobs_docs.c checks that
 * and runs the jobs). Edit both together. */
#define HIL_IMPLEMENTATION
#include "hil.h"
#include "hil_runner.h"

HIL_TEST(uart, echo) { HIL_ASSERT_EQ(2 + 2, 4); }
HIL_TEST(uart, baudrate) {
    long long baud = hil_param_int("baud", 115200);
    HIL_ASSERT(baud == 9600 || baud == 115200, "unsupported baud rate %lld", baud);
}
HIL_TEST_META(can, loopback, "tags=smoke") { HIL_ASSERT(1); }

HIL_JOB(smoke) {
    static const char* const uart[] = {"uart", NULL};
    static const char* const smoke[] = {"smoke", NULL};
    hil_task_options o;

    hil_task_options_init(&o);
    o.filters = uart;                 /* the suite "uart" of this program */
    hil_run(rt, &o);                  /* a task: forked, run, waited for */

    hil_task_options_init(&o);
    o.tags = smoke;                   /* every test tagged smoke */
    hil_run(rt, &o);
}

HIL_JOB(nightly) {
    static const char* const uart[] = {"uart.*", NULL};
    static const char* const slow_baud[] = {"baud=9600", NULL};
    hil_task_options o;
    hil_outcome first;
    FILE* f;
    char path[4200];

    hil_job_set_name(rt, "nightly-rev-b");           /* the name in the reports */

    hil_task_options_init(&o);
    o.filters = uart;
    o.taskid = "uart/fast";                          /* becomes "uart_fast" */
    o.max_runtime_s = 60;                            /* stopped after a minute */
    first = hil_run(rt, &o);

    if (first == HIL_PASSED) {                       /* only when the first passed */
        hil_task_options_init(&o);
        o.filters = uart;
        o.params = slow_baud;                        /* hil_param("baud") == "9600" */
        o.taskid = "uart/slow";
        hil_run(rt, &o);
    }

    /* anything else the job wants to keep goes into its run directory */
    snprintf(path, sizeof path, "%s/board.txt", rt->directory);
    f = fopen(path, "w");
    if (f) {
        fprintf(f, "board rev B, first task %s\n", hil_outcome_str(first));
        fclose(f);
    }
}

HIL_JOB(parallel) {
    static const char* const uart[] = {"uart", NULL};
    static const char* const can[] = {"can", NULL};
    hil_task_options o;
    hil_task *a, *b;

    hil_task_options_init(&o);
    o.filters = uart;
    if (hil_task_create(rt, &o, &a) != HIL_OK) return;
    o.filters = can;
    if (hil_task_create(rt, &o, &b) != HIL_OK) return;

    hil_task_start(a);                    /* both run now, each in its own process */
    hil_task_start(b);

    if (hil_task_join(a, 5 * 60 * 1000) == HIL_ERR_TIMEOUT) {  /* wait up to 5 minutes */
        hil_task_terminate(a);            /* SIGTERM, SIGKILL after job.grace */
        hil_task_join(a, -1);
    }
    hil_task_wait(b, 300);                /* or: wait, and stop it after 300 s */

    printf("%s: %s (pid %d)\n", hil_task_id(a), hil_outcome_str(hil_task_result(a)), hil_task_pid(a));
    printf("%s: %s\n", hil_task_id(b), hil_outcome_str(hil_task_result(b)));
}

HIL_JOB(pool) {
    static const char* const one[] = {"uart.echo", NULL};
    hil_task_options o;
    hil_task* running[4];
    size_t n = 0, done;
    int started = 0;

    hil_task_options_init(&o);
    o.filters = one;
    while (started < 10 || n > 0) {
        while (n < 4 && started < 10) {               /* at most 4 at a time */
            hil_task* t;
            if (hil_task_create(rt, &o, &t) != HIL_OK || hil_task_start(t) != HIL_OK) return;
            running[n++] = t;
            started++;
        }
        if (hil_task_wait_any(running, n, -1, &done) != HIL_OK) return;
        running[done] = running[--n];                 /* the next one takes its place */
    }
}

HIL_JOB(tools) {
    static const char* const pytest[] = {"pytest", "-q", "--junitxml=pytest.xml", "tests/host", NULL};
    static const char* const env[] = {"PYTHONDONTWRITEBYTECODE=1", NULL};
    hil_task_options o;

    hil_task_options_init(&o);
    o.argv = pytest;                  /* no shell: argv[0] is looked up on PATH */
    o.env = env;                      /* added to the job's environment */
    o.cwd = "host-tools";             /* NULL: the job's working directory */
    o.junit = "pytest.xml";           /* relative to cwd; its testcases become the task's results */
    o.max_runtime_s = 600;
    hil_run(rt, &o);
}

/* In a test: the job's shared state (NULL outside a job). */
HIL_TEST(board, power_on) {
    hil_shared* s = hil_job_shared();
    char board[32] = "unknown";
    if (s) {
        hil_shared_get_str(s, "board", board, sizeof board);
        HIL_ASSERT_OK(hil_shared_add_int(s, "power_cycles", 1, NULL));
    }
    HIL_INFO("board", "powering %s", board);
}

HIL_JOB(shared) {
    static const char* const board[] = {"board", NULL};
    hil_task_options o;
    long long cycles = 0;

    hil_shared_set_str(rt->shared, "board", "rev_b");   /* before the tasks start */

    hil_task_options_init(&o);
    o.filters = board;
    hil_run(rt, &o);
    hil_run(rt, &o);

    if (hil_shared_get_int(rt->shared, "power_cycles", &cycles) == HIL_OK)
        HIL_INFO("job", "the board was powered %lld times", cycles);
}

/* ./suite job args --board rev_c --quick */
HIL_JOB(args) {
    const char* board = hil_job_arg(rt, "--board", "rev_b");  /* takes "--board X" out of argv */
    int quick = hil_job_flag(rt, "--quick");
    char param[64];
    const char* params[2];
    static const char* const uart[] = {"uart", NULL};
    hil_task_options o;

    if (rt->argc > 0) {                               /* what nobody took */
        hil_job_error(rt, "unknown job argument '%s'", rt->argv[0]);
        return;
    }
    snprintf(param, sizeof param, "board=%s", board);
    params[0] = param;
    params[1] = NULL;
    hil_task_options_init(&o);
    o.filters = uart;
    o.params = params;
    o.max_runtime_s = quick ? 10 : 600;
    hil_run(rt, &o);
}

/* Run a job from C, e.g. from your own main() instead of HIL_MAIN(). */
int run_smoke(void) {
    hil_job_config jc;
    hil_job_summary js;
    hil_job_config_init(&jc);
    jc.job = "smoke";
    jc.runs_dir = "runs";
    jc.console = HIL_JOB_CONSOLE_QUIET;
    if (hil_job_exec(&jc, &js) != HIL_OK) {
        fprintf(stderr, "%s\n", hil_last_error());
        return js.exit_code;
    }
    printf("%s, %.1f%% in %s\n", hil_outcome_str(js.result), js.success_rate, js.directory);
    return js.exit_code;
}

HIL_MAIN()
