/* The invariant checker must catch what it checks: schedules made by the
 * scheduling core are corrupted here on purpose (the core's internals are
 * only visible where the implementation is compiled, hence a program of its
 * own), and hil_sched_check has to refuse each one. Prints one line per
 * case and exits 0 when every corruption was caught (run by
 * tests/test_sched_lab.c). */
#define HIL_IMPLEMENTATION
#include "hil.h"
#include "hil_runner.h"

#define S ((int64_t)1000000000)

static int failures;

static hil_sched* two_boards_two_items(void) {
    hil_sched_config cfg;
    hil_sched* s = NULL;
    hil_sched_resource_spec r;
    hil_sched_role role;
    hil_sched_item_spec it;
    const char* names[] = {"a0", "a1"};
    const char* items[] = {"x", "y"};
    int i;
    hil_sched_config_init(&cfg);
    cfg.jobs = 2;
    if (hil_sched_create(&cfg, &s) != HIL_OK) exit(2);
    for (i = 0; i < 2; i++) {
        memset(&r, 0, sizeof r);
        r.name = names[i];
        r.type = "A";
        hil_sched_add_resource(s, &r, NULL);
    }
    memset(&role, 0, sizeof role);
    role.name = "dut";
    role.type = "A";
    for (i = 0; i < 2; i++) {
        memset(&it, 0, sizeof it);
        it.name = items[i];
        it.roles = &role;
        it.n_roles = 1;
        it.expected_ns = 10 * S;
        hil_sched_add_item(s, &it, NULL);
    }
    if (hil_sched_simulate(s, NULL, 0, NULL) != HIL_OK) exit(2);
    return s;
}

static void expect_caught(const char* what, hil_sched* s, const char* words) {
    hil_strbuf msg = {0, 0, 0, 0};
    int caught = hil_sched_check(s, &msg) == HIL_ERR_STATE && strstr(hil_sb_cstr(&msg), words) != NULL;
    printf("checker: %s: %s (%s)\n", what, caught ? "caught" : "MISSED", hil_sb_cstr(&msg));
    failures += !caught;
    hil_sb_free(&msg);
}

int main(void) {
    hil_sched* s = two_boards_two_items();
    if (hil_sched_check(s, NULL) != HIL_OK) {
        printf("checker: a correct schedule was refused\n");
        return 1;
    }
    /* the second run on the first run's board, at the same time */
    s->ids[s->runs[1].res_first] = s->ids[s->runs[0].res_first];
    expect_caught("a board in two runs at once", s, "resource in two runs at once");
    hil_sched_destroy(s);

    s = two_boards_two_items();
    s->items[0].attempts = 2; /* claims a second run that never happened */
    expect_caught("an item without its runs", s, "attempts do not match");
    hil_sched_destroy(s);

    s = two_boards_two_items();
    s->runs[1].item = s->runs[0].item; /* one item twice, the other never */
    expect_caught("an item run twice", s, "exactly once");
    hil_sched_destroy(s);

    s = two_boards_two_items();
    s->cfg.jobs = 1; /* two runs at once under --jobs 1 */
    expect_caught("the jobs cap", s, "jobs cap exceeded");
    hil_sched_destroy(s);

    s = two_boards_two_items();
    s->runs[1].requeued = 1; /* retried without a failure of the lab */
    expect_caught("a retry without an infrastructure failure", s, "retry without infra failure");
    hil_sched_destroy(s);

    printf("checker: %d missed\n", failures);
    return failures ? 1 : 0;
}
