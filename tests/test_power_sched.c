/* The scheduler power-cycles a board that stopped answering
 * (resources.<name>.power, docs/power.md), through tests/meta/meta_sched
 * on a lab of simulated boards: a board is a state file that a run's
 * command reads ("ok" answers; "hung" is a board that stopped answering,
 * exit 3 = runs.<name>.infra_exit), and its power command is a script
 * that brings it back, or (a ".dead" file beside it) does not. */
#include "selftest.h"

HIL_SUITE(power_sched, "tags=power,meta,sched")

static char* json_task(const char* json, const char* id, const char* field) {
    int i;
    for (i = 0; i < 100; i++) {
        char path[64], *tid;
        snprintf(path, sizeof path, "tasks.%d.taskid", i);
        if (!(tid = st_json_get(json, path))) return NULL;
        if (strcmp(tid, id) == 0) {
            free(tid);
            snprintf(path, sizeof path, "tasks.%d.%s", i, field);
            return st_json_get(json, path);
        }
        free(tid);
    }
    return NULL;
}

static void expect_task(const char* json, const char* id, const char* result, const char* reason_part) {
    char* res = json_task(json, id, "result");
    char* why = json_task(json, id, "reason");
    HIL_EXPECT(res && strcmp(res, result) == 0, "task %s: result %s, want %s", id, res ? res : "(missing)", result);
    if (reason_part)
        HIL_EXPECT(why && strstr(why, reason_part), "task %s: reason '%s' does not say '%s'", id, why ? why : "",
                   reason_part);
    free(res);
    free(why);
}

static void put(const char* dir, const char* name, const char* text) {
    char path[1200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    HIL_ASSERT_OK(hil_write_file_atomic(path, text, strlen(text)), "writing %s", path);
}

HIL_TEST_META(power_sched, board_that_stopped_answering_is_power_cycled, "timeout=60") {
    const char* d = st_path("powerlab");
    char text[4096], conf[1200], runs[1200], path[1200];
    const char* argv[] = {st_meta("meta_sched"), "schedule", "-c", conf, "--runs", runs, "--color=never", NULL};
    st_result r;
    char *json, *joblog, *calls;
    HIL_ASSERT_OK(hil_mkdirs(d));
    snprintf(text, sizeof text,
             "#!/bin/sh\n"
             "if [ \"$(cat %s/$1.state)\" = ok ]; then echo \"board $1 answered\"; exit 0; fi\n"
             "echo \"board $1: no answer\"; exit 3\n", d);
    put(d, "board.sh", text);
    snprintf(text, sizeof text,
             "#!/bin/sh\n"
             "echo \"cycle $1\" >> %s/calls\n"
             "[ -f %s/$1.dead ] || echo ok > %s/$1.state\n", d, d, d);
    put(d, "power.sh", text);
    put(d, "b0.state", "hung\n"); /* comes back when power-cycled */
    put(d, "b1.state", "hung\n"); /* stays dead */
    put(d, "b1.dead", "");
    put(d, "b2.state", "hung\n"); /* its power switch itself fails */
    snprintf(text, sizeof text,
             "schedule.quarantine_after = 1\n"
             "resources.b0.type = T\n"
             "resources.b0.power = sh %s/power.sh {board}\n"
             "resources.b1.type = T\n"
             "resources.b1.power = sh %s/power.sh {board}\n"
             "resources.b2.type = T\n"
             "resources.b2.power = sh -c \"echo relay board not found; exit 2\"\n"
             "runs.r0.command = sh %s/board.sh {dut}\n"
             "runs.r0.infra_exit = 3\n"
             "runs.r0.retries = 0\n"
             "runs.r0.roles.dut.resource = b0\n"
             "runs.r1.command = sh %s/board.sh {dut}\n"
             "runs.r1.infra_exit = 3\n"
             "runs.r1.retries = 0\n"
             "runs.r1.roles.dut.resource = b1\n"
             "runs.r2.command = sh %s/board.sh {dut}\n"
             "runs.r2.infra_exit = 3\n"
             "runs.r2.retries = 0\n"
             "runs.r2.roles.dut.resource = b2\n",
             d, d, d, d, d);
    put(d, "lab.conf", text);
    snprintf(conf, sizeof conf, "%s/lab.conf", d);
    snprintf(runs, sizeof runs, "%s/runs", d);
    st_run(argv, NULL, 60000, &r);
    HIL_EXPECT_EQ(r.code, 1, "two boards stay broken: the schedule fails\n%s", r.out);
    snprintf(path, sizeof path, "%s/runs/latest/results.json", d);
    json = st_read(path);
    /* b0: power-cycled, the run again on it passes (Passx: after a retry) */
    expect_task(json, "r0", "Skipped", "power-cycled the board and ran again (this attempt: command.r0: exited with "
                                       "status 3)");
    expect_task(json, "power.b0.r0.1", "Passed", NULL);
    expect_task(json, "r0-2", "Passx", NULL);
    /* b1: power-cycled, still no answer: a lab failure, and quarantined */
    expect_task(json, "power.b1.r1.1", "Passed", NULL);
    expect_task(json, "r1-2", "Failed", "exited with status 3");
    /* b2: the power command fails: a lab failure naming it */
    expect_task(json, "power.b2.r2.1", "Failed", "exited with status 2");
    free(json);
    snprintf(path, sizeof path, "%s/runs/latest/JobLog", d);
    joblog = st_read(path);
    HIL_EXPECT(strstr(joblog, "r0: b0 stopped answering (command.r0: exited with status 3): power-cycling it "
                              "(power.b0.r0.1), then running again") != NULL, "%s", joblog);
    HIL_EXPECT(strstr(joblog, "b1 quarantined after 1 infrastructure failure") != NULL, "%s", joblog);
    HIL_EXPECT(strstr(joblog, "b2 quarantined after 1 infrastructure failure in a row (last: power-cycling b2 "
                              "failed") != NULL, "%s", joblog);
    free(joblog);
    snprintf(path, sizeof path, "%s/calls", d);
    calls = st_read(path);
    HIL_EXPECT(strstr(calls, "cycle b0\n") && strstr(calls, "cycle b1\n"), "%s", calls);
    HIL_EXPECT(strstr(calls, "cycle b0\ncycle b0") == NULL, "power_retries=1: one cycle per run: %s", calls);
    free(calls);
    {
        /* the HTML report lists the power tasks as such */
        char* html;
        snprintf(path, sizeof path, "%s/runs/latest/report.html", d);
        html = st_read(path);
        HIL_EXPECT(strstr(html, ">power.b0.r0.1<") && strstr(html, ">power</td>"), "report.html lists the power task");
        free(html);
    }
    st_result_free(&r);
}
