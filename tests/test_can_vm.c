/* Host-side checks of the CAN traces recorded inside the QEMU VM by
 * socketcan_vm.trace_recorded_in_vm (tests/vm/vm_socketcan.c): can-utils
 * (log2asc, asc2log) and tshark must read what the guest wrote from real
 * kernel frames. `make test-vm` runs this suite after the VM with
 * --set params.vm_results=build/vm/results; in `make test` it skips. */
#include "selftest.h"

HIL_SUITE(can_vm_host, "tags=can,vm")

static const char* vm_file(const char* name) {
    static char buf[4][1024];
    static int next;
    const char* dir = hil_param("vm_results", NULL);
    char* p = buf[next++ % 4];
    if (!dir || !*dir) HIL_SKIP("checks the trace files the VM bench recorded: run make test-vm");
    snprintf(p, 1024, "%s/%s", dir, name);
    if (access(p, R_OK) != 0) HIL_FAIL("%s did not come back from the VM (did socketcan_vm.trace_recorded_in_vm run?)", p);
    return p;
}

/* "can1 123#DEADBEEF" lines written by the guest next to the trace. */
typedef struct expected { char ifname[32]; char frame[HIL_CAN_FRAME_TEXT_MAX]; } expected;

static size_t read_expected(expected* out, size_t max) {
    char* text = st_read(vm_file("can_trace_expected.txt"));
    char* line = text;
    size_t n = 0;
    while (*line && n < max) {
        char* nl = strchr(line, '\n');
        if (nl) *nl = 0;
        if (sscanf(line, "%31s %159s", out[n].ifname, out[n].frame) == 2) n++;
        if (!nl) break;
        line = nl + 1;
    }
    free(text);
    HIL_ASSERT(n >= 7, "expected at least 7 frames, the guest listed %zu", n);
    return n;
}

HIL_TEST(can_vm_host, guest_candump_log_reads_back_and_converts_with_log2asc_and_asc2log) {
    expected want[32];
    size_t n = read_expected(want, 32), i = 0;
    const char* log = vm_file("can_trace.log");
    const char* asc = st_path("vm.asc");
    const char* back = st_path("vm_back.log");
    hil_can_log* lg;
    hil_can_log_entry e;
    char text[HIL_CAN_FRAME_TEXT_MAX];
    uint64_t prev = 0;
    char* a;
    st_result r;
    HIL_ASSERT_OK(hil_can_log_open(log, &lg));
    while (hil_can_log_next(lg, &e) == HIL_OK) {
        HIL_ASSERT(i < n, "more frames in the log than the guest sent");
        HIL_EXPECT_STREQ(e.ifname, want[i].ifname, "frame %zu", i + 1);
        HIL_ASSERT(hil_can_format_frame(&e.msg, text, sizeof text) > 0);
        HIL_EXPECT_STREQ(text, want[i].frame, "frame %zu", i + 1);
        HIL_EXPECT_GE(e.timestamp_ns, prev, "kernel receive times in order");
        prev = e.timestamp_ns;
        i++;
    }
    hil_can_log_close(lg);
    HIL_EXPECT_EQ(i, n);

    ST_SKIP_UNLESS_PROG("log2asc", "can-utils");
    {
        const char* argv[] = {"log2asc", "-I", log, "-O", asc, "can1", "vcan0", NULL};
        st_run(argv, NULL, 10000, &r);
        HIL_ASSERT_EQ(r.code, 0, "log2asc: %s", r.out);
        st_result_free(&r);
    }
    a = st_read(asc);
    HIL_EXPECT(strstr(a, "1  123             Rx   d 8 DE AD BE EF 01 02 03 04"), "%s", a);
    HIL_EXPECT(strstr(a, "1  1ABCDE0x        Rx   d 3 DE AD BE"), "%s", a);
    HIL_EXPECT(strstr(a, "1  321             Rx   r"), "%s", a);
    HIL_EXPECT(strstr(a, "CANFD   2 Rx        456") && strstr(a, "CANFD   2 Rx      12345x"), "%s", a);
    HIL_EXPECT(strstr(a, "2  ErrorFrame"), "%s", a);
    free(a);
    ST_SKIP_UNLESS_PROG("asc2log", "can-utils");
    {
        const char* argv[] = {"asc2log", "-I", asc, "-O", back, NULL};
        st_run(argv, NULL, 10000, &r);
        HIL_ASSERT_EQ(r.code, 0, "asc2log: %s", r.out);
        st_result_free(&r);
    }
    HIL_ASSERT_OK(hil_can_log_open(back, &lg));
    for (i = 0; hil_can_log_next(lg, &e) == HIL_OK; i++) {
        HIL_ASSERT(i < n);
        HIL_ASSERT(hil_can_format_frame(&e.msg, text, sizeof text) > 0);
        if (e.msg.flags & HIL_MSG_ERROR) /* ASC keeps only "ErrorFrame" */
            HIL_EXPECT(strncmp(want[i].frame, "2000", 4) == 0, "frame %zu: %s", i + 1, want[i].frame);
        else
            HIL_EXPECT_STREQ(text, want[i].frame, "frame %zu after log2asc and asc2log", i + 1);
    }
    hil_can_log_close(lg);
    HIL_EXPECT_EQ(i, n);
}

HIL_TEST(can_vm_host, guest_pcap_is_read_by_tshark) {
    expected want[32];
    size_t n = read_expected(want, 32), i;
    const char* pcap = vm_file("can_trace.pcap");
    st_result r;
    ST_SKIP_UNLESS_PROG("tshark", "tshark");
    {
        const char* argv[] = {"tshark", "-r", pcap, "-T", "fields", "-E", "separator=/s", "-e", "frame.number",
                              "-e", "can.id", "-e", "can.flags.xtd", "-e", "can.flags.rtr", "-e", "can.flags.err",
                              "-e", "can.len", "-e", "canfd.flags.brs", "-e", "canfd.flags.esi", NULL};
        st_run(argv, NULL, 60000, &r);
    }
    HIL_ASSERT_EQ(r.code, 0, "tshark: %s", r.out);
    for (i = 0; i < n; i++) {
        unsigned char d[64];
        char line[200];
        hil_msg m;
        hil_msg_init(&m, d, sizeof d);
        HIL_ASSERT_OK(hil_can_parse_frame(want[i].frame, &m));
        /* frame.number id xtd rtr err len brs esi, empty fields collapsed to single spaces */
        if (m.flags & HIL_MSG_ERROR)
            snprintf(line, sizeof line, "\n%zu    1 8  ", i + 1);
        else if (m.flags & HIL_MSG_FD)
            snprintf(line, sizeof line, "\n%zu %u %d   %zu %d %d", i + 1, (unsigned)m.remote_id,
                     (m.flags & HIL_MSG_EXTENDED) ? 1 : 0, m.len, (m.flags & HIL_MSG_BRS) ? 1 : 0,
                     (m.flags & HIL_MSG_ESI) ? 1 : 0);
        else
            snprintf(line, sizeof line, "\n%zu %u %d %d 0 %zu  ", i + 1, (unsigned)m.remote_id,
                     (m.flags & HIL_MSG_EXTENDED) ? 1 : 0, (m.flags & HIL_MSG_RTR) ? 1 : 0, m.len);
        HIL_EXPECT(strstr(r.out, line) || (i == 0 && strncmp(r.out, line + 1, strlen(line + 1)) == 0),
                   "frame %zu (%s): no \"%s\" in:\n%s", i + 1, want[i].frame, line + 1, r.out);
    }
    st_result_free(&r);
    {   /* the injected error frame, decoded */
        const char* argv[] = {"tshark", "-r", pcap, "-Y", "can.err.busoff == 1 && can.err.ctrl.tx_passive == 1",
                              "-T", "fields", "-e", "frame.number", NULL};
        st_run(argv, NULL, 60000, &r);
        HIL_EXPECT(st_has(&r, "7\n"), "tshark did not decode the bus-off error frame:\n%s", r.out);
        st_result_free(&r);
    }
}
