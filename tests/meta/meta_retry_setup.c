/* A test retried after a crash whose fresh worker then fails in the suite's
 * setup, run by tests/test_runner.c: the test must end with one result
 * (Blocked, its first attempt's crash in its output), not a NotRun result
 * beside a Blocked one. params.marker is a file the first attempt makes;
 * the setup crashes (params.how=crash) or fails (how=fail) once it exists. */
#define HIL_IMPLEMENTATION
#include "hil.h"
#include <signal.h>
#include <unistd.h>

static int marked(void) { return access(hil_param("marker", "/nonexistent"), F_OK) == 0; }

HIL_SUITE_SETUP(board) {
    if (!marked()) return;
    if (strcmp(hil_param("how", "crash"), "crash") == 0) raise(SIGSEGV);
    HIL_ASSERT(0, "the board did not come back");
}

HIL_TEST_META(board, crashes_once, "retries=1") {
    FILE* f = fopen(hil_param("marker", "/nonexistent"), "w");
    HIL_ASSERT(f != NULL, "params.marker must name a file that can be made");
    fclose(f);
    raise(SIGSEGV);
}

HIL_TEST(board, after) { HIL_ASSERT(1); }

HIL_MAIN()
