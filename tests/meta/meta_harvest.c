/* Harvested suites in a real run (tests/test_harvest.c writes the
 * configuration): cmocka's GoogleTest-style and TAP output, cmocka killed in
 * the middle of a case, and Criterion's TAP, each through a process channel;
 * every target case becomes a result of its own in every report. The
 * firmware tests need a qemu connector "fw" (tests/test_harvest.c, tag mcu). */
#define HIL_IMPLEMENTATION
#include "hil.h"
#include "hil_connectors.h"
#include "hil_harvest.h"
#include "hil_runner.h"

HIL_HARVEST_TEST(producers, cmocka_gtest, "cm_gtest", "format=gtest; suite=cm_gtest")
HIL_HARVEST_TEST(producers, cmocka_tap, "cm_tap", "suite=cm_tap")
HIL_HARVEST_TEST(producers, cmocka_dies, "cm_dies", "suite=cm_dies")
HIL_HARVEST_TEST(producers, criterion_tap, "cr_tap", "format=tap; suite=cr_tap")

/* examples/mcu's firmware on an emulated board (make test-mcu): its Unity-
 * and Ztest-style suites (examples/mcu/ontarget.c) started through the text
 * service, once running through and once with a HardFault in the middle. */
HIL_HARVEST_TEST(firmware, unity, "fw", "format=unity; suite=fw_unity; start=#ontarget unity; timeout_ms=20000")
HIL_HARVEST_TEST(firmware, ztest, "fw", "start=#ontarget ztest; timeout_ms=20000")
HIL_HARVEST_TEST(firmware, unity_fault, "fw", "format=unity; suite=fw_unity_fault; start=#ontarget unity-fault; timeout_ms=20000")
HIL_HARVEST_TEST(firmware, ztest_fault, "fw", "format=ztest; suite=fw_ztest_fault; start=#ontarget ztest-fault; idle_timeout_ms=3000")

/* A job whose task harvests: the cases reach the job's report (results.json
 * of the run directory) through the task's event stream. */
HIL_JOB(harvest) {
    hil_task_options o;
    static const char* const filters[] = {"producers.cmocka_gtest", NULL};
    hil_task_options_init(&o);
    o.filters = filters;
    printf("job: task=%s\n", hil_outcome_str(hil_run(rt, &o)));
}

HIL_MAIN()
