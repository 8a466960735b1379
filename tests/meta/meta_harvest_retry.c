/* Harvested suites that are retried (tests/test_harvest.c writes the
 * configuration): only the last attempt's cases are results, each once, in
 * every report. "flaky" is a scripted producer that fails its first run and
 * passes its second; "cm" is the cmocka suite, failing the same cases in
 * both attempts; "flaky_wd" is the scripted producer again, passing, harvested
 * by a test whose worker dies after the first attempt. */
#define HIL_IMPLEMENTATION
#include "hil.h"
#include "hil_connectors.h"
#include "hil_harvest.h"
#include "hil_runner.h"
#include <stdlib.h>

HIL_HARVEST_TEST_META(retried, flaky_suite, "retries=1", "flaky", "format=tap; suite=fl")
HIL_HARVEST_TEST_META(retried, cmocka_twice, "retries=1", "cm", "format=gtest; suite=cm")

/* Harvests, then ends its worker in the first attempt (as a crashing driver
 * would): the retry runs on a fresh worker and continues the same result;
 * the first attempt's cases were held, so they are not reported twice.
 * params.die_mark: the file that tells the attempts apart. */
HIL_TEST_META(retried, worker_dies_once, "retries=1") {
    const char* mark = hil_param("die_mark", NULL);
    FILE* f;
    HIL_ASSERT(mark != NULL, "run with params.die_mark");
    hil_harvest_test_at("flaky_wd", "format=tap; suite=wd", __FILE__, __LINE__);
    if ((f = fopen(mark, "r")) != NULL) {
        fclose(f);
        return;
    }
    f = fopen(mark, "w");
    HIL_ASSERT(f != NULL, "%s: cannot create", mark);
    fclose(f);
    abort();
}

/* The same in a job's task: the job's results.json has each case once. */
HIL_JOB(retried) {
    hil_task_options o;
    static const char* const filters[] = {"retried.*", NULL};
    hil_task_options_init(&o);
    o.filters = filters;
    printf("job: task=%s\n", hil_outcome_str(hil_run(rt, &o)));
}

HIL_MAIN()
