/* The demo lab's board tests against sim-firmware: the whole chain (process
 * channel with COBS framing, the automatic proxy between two auxiliaries,
 * the DUT auxiliary talking testApp to hil_target.h, the communication
 * auxiliary) and what faults of the board look like in the results. */
#include "selftest.h"

HIL_SUITE(lab_board, "tags=demo")

static void run_board(st_result* r, const char* misbehave, const char* extra) {
    char bin[512], sim[600], cmd[900];
    const char* argv[12];
    int n = 0;
    snprintf(bin, sizeof bin, "%s/demo/board_tests", st_build_dir());
    snprintf(sim, sizeof sim, "%s/demo/sim-firmware", st_build_dir());
    if (access(bin, X_OK) != 0 || access(sim, X_OK) != 0) HIL_FAIL("%s or %s is missing: run make", bin, sim);
    snprintf(cmd, sizeof cmd, "--set=connectors.dut.command=%s --name node-9 --type sensor-node --variant rev-b%s%s", sim,
             misbehave ? " --misbehave " : "", misbehave ? misbehave : "");
    argv[n++] = bin;
    argv[n++] = "-c";
    argv[n++] = "examples/lab/board.conf";
    argv[n++] = cmd;
    argv[n++] = "--color=never";
    argv[n++] = "--timeout=20";
    if (extra) argv[n++] = extra;
    argv[n] = NULL;
    st_run(argv, NULL, 60000, r);
}

HIL_TEST(lab_board, a_healthy_board_passes) {
    st_result r;
    run_board(&r, NULL, NULL);
    HIL_EXPECT_EQ(r.code, 0, "%s", r.out);
    HIL_EXPECT(st_has(&r, "Passed   service.sensor_reads_are_plausible"), "%s", r.out);
    HIL_EXPECT(st_has(&r, "Passed   target.adc_reference"), "%s", r.out);
    HIL_EXPECT(st_has(&r, "Skipped  radio.link_up") && st_has(&r, "not implemented on the target"),
               "a sensor node has no radio\n%s", r.out);
    HIL_EXPECT(st_has(&r, "7 passed, 0 failed, 1 skipped"), "%s", r.out);
    st_result_free(&r);
}

HIL_TEST(lab_board, a_board_that_crashes_errors_the_running_test_and_blocks_the_rest) {
    st_result r;
    run_board(&r, "crash-after=3", NULL);
    HIL_EXPECT_EQ(r.code, 1, "%s", r.out);
    HIL_EXPECT(st_has(&r, "Errored") && st_has(&r, "SIGABRT"), "the test that was talking to it\n%s", r.out);
    HIL_EXPECT(st_has(&r, "Blocked"), "tests needing the dead board cannot run\n%s", r.out);
    st_result_free(&r);
}

HIL_TEST_META(lab_board, a_silent_board_times_out_with_the_reason, "timeout=60") {
    st_result r;
    run_board(&r, "silent", "--filter=target.ram_check");
    HIL_EXPECT_EQ(r.code, 1, "%s", r.out);
    HIL_EXPECT(st_has(&r, "ACK") || st_has(&r, "ack"), "names the missing acknowledgement\n%s", r.out);
    st_result_free(&r);
}

HIL_TEST(lab_board, corrupt_frames_are_detected) {
    st_result r;
    run_board(&r, "corrupt", "--filter=target.*");
    HIL_EXPECT_EQ(r.code, 1, "%s", r.out);
    HIL_EXPECT(st_has(&r, "bad CRC"), "the CRC catches the flipped bits\n%s", r.out);
    st_result_free(&r);
}
