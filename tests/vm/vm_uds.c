/* The uds auxiliary and the uds flasher (hil_uds.h) over the isotp channel
 * against the ECU simulator (examples/ecu-sim, copied in as /bin/ecu-sim by
 * test-vm.sh) on the kernel's ISO-TP: the tester on can0 (tx 0x7E0, rx
 * 0x7E8, functional tx 0x7DF), the ECU on can1, both SJA1000 boards on one
 * emulated bus. Also `make bench-vm`'s uds_rdbi_rtt_p50. */
#include "vm_tests.h"
#include "hil_aux.h"
#include "hil_probe.h"
#include "hil_uds.h"

HIL_SUITE(uds_vm, "tags=can,isotp,uds,vm; timeout=120")

static int uds_bus_up(void) {
    hil_can_if_config c;
    hil_can_if_config_init(&c);
    c.bitrate = 500000;
    c.ctrl_mask = HIL_CAN_CTRL_LISTEN_ONLY; /* listen-only off (a previous suite may have set it) */
    c.start = 1;
    if (hil_can_configure("can0", &c, NULL) != HIL_OK) return 0;
    return hil_can_configure("can1", &c, NULL) == HIL_OK;
}

/* The simulator on can1 with physical ids rx/tx (hex text); waits for its
 * "ready" line (sockets bound) on stderr. */
static void start_sim(hil_proc* p, const char* rx, const char* tx, const char* mode) {
    const char* argv[16];
    size_t n = 0;
    char line[512];
    size_t len = 0;
    uint64_t deadline = hil_deadline_ms(10000);
    hil_proc_config pc;
    argv[n++] = "/bin/ecu-sim";
    argv[n++] = "--isotp";
    argv[n++] = "can1";
    argv[n++] = "--rx";
    argv[n++] = rx;
    argv[n++] = "--tx";
    argv[n++] = tx;
    argv[n++] = "--s3";
    argv[n++] = "1500";
    /* only one simulator listens functionally; each test has its own ids, so
     * a simulator left by a failed test cannot answer the next one */
    if (strcmp(rx, "0x7E0") != 0) { argv[n++] = "--func-rx"; argv[n++] = "0"; }
    if (mode) { argv[n++] = "--mode"; argv[n++] = mode; argv[n++] = "--pending-ms"; argv[n++] = "20"; }
    argv[n] = NULL;
    hil_proc_config_init(&pc);
    pc.argv = argv;
    pc.null_stdin = 1;
    pc.pipe_stdout = 1;
    pc.stderr_to_stdout = 1;
    pc.die_with_parent = 1;
    HIL_ASSERT_OK(hil_proc_spawn(p, &pc), "starting /bin/ecu-sim");
    for (;;) {
        ssize_t r;
        HIL_ASSERT(hil_wait_readable(p->stdout_fd, hil_deadline_left_ms(deadline)) == HIL_OK, "ecu-sim did not say ready");
        r = read(p->stdout_fd, line + len, sizeof line - 1 - len);
        HIL_ASSERT(r > 0, "ecu-sim ended: %.*s", (int)len, line);
        len += (size_t)r;
        line[len] = 0;
        if (strstr(line, "ready")) break;
        HIL_ASSERT(len < sizeof line - 1, "ecu-sim: %s", line);
    }
}

static void stop_sim(hil_proc* p) {
    hil_proc_terminate(p, 500);
    hil_proc_close(p);
}

static hil_result vm_key(int level, const unsigned char* seed, size_t n, unsigned char* key, size_t cap, size_t* len,
                         void* user) {
    uint32_t s, k; /* the simulator's algorithm: rotl32(seed, 5) ^ 0x48494C21 */
    (void)level;
    (void)user;
    if (n != 4 || cap < 4) return hil_error(HIL_ERR_PROTOCOL, "a seed of %zu bytes", n);
    s = (uint32_t)seed[0] << 24 | (uint32_t)seed[1] << 16 | (uint32_t)seed[2] << 8 | seed[3];
    k = ((s << 5) | (s >> 27)) ^ 0x48494C21u;
    key[0] = (unsigned char)(k >> 24);
    key[1] = (unsigned char)(k >> 16);
    key[2] = (unsigned char)(k >> 8);
    key[3] = (unsigned char)k;
    *len = 4;
    return HIL_OK;
}

/* A uds auxiliary on can0 (tx, rx ids) with the simulator's DIDs; the
 * functional connector "uds_vm_func" when functional is set. */
static hil_aux* vm_uds(const char* name, const char* tx, const char* rx, int functional, const char* const* extra) {
    static int registered;
    char o_tx[32], o_rx[32];
    const char* copts[] = {"interface=can0", o_tx, o_rx, NULL};
    const char* aopts[16];
    hil_channel_config cc;
    hil_channel* ch = NULL;
    hil_aux_config c;
    hil_aux* a = NULL;
    size_t n = 0;
    if (!registered) {
        registered = 1;
        HIL_ASSERT_OK(hil_uds_key_fn_register("vm_key", vm_key, NULL));
        HIL_ASSERT_OK(hil_config_set(hil_cfg(), "connectors.uds_vm_func.type", "isotp", HIL_PRIO_CLI, "vm_uds.c"));
        HIL_ASSERT_OK(hil_config_set(hil_cfg(), "connectors.uds_vm_func.interface", "can0", HIL_PRIO_CLI, "vm_uds.c"));
        HIL_ASSERT_OK(hil_config_set(hil_cfg(), "connectors.uds_vm_func.tx_id", "7DF", HIL_PRIO_CLI, "vm_uds.c"));
        /* a functional sender receives nothing: answers come on the physical ids */
        HIL_ASSERT_OK(hil_config_set(hil_cfg(), "connectors.uds_vm_func.rx_id", "7DE", HIL_PRIO_CLI, "vm_uds.c"));
    }
    snprintf(o_tx, sizeof o_tx, "tx_id=%s", tx);
    snprintf(o_rx, sizeof o_rx, "rx_id=%s", rx);
    hil_channel_config_init(&cc);
    cc.name = name;
    cc.type = "isotp";
    cc.options = copts;
    HIL_ASSERT_OK(hil_channel_create(&cc, &ch));
    while (extra && *extra && n < 10) aopts[n++] = *extra++;
    aopts[n++] = "dids=vin 0xF190 ascii 17; session 0xF186 u8; temp 0x0101 s16 scale=0.1 unit=degC; config 0x0102 u16; "
                 "raw_le 0x0103 s64 le; tp_count 0x0200 u32; dl_crc 0x0201 u32; dl_bytes 0x0202 u32";
    aopts[n++] = "security=1:vm_key";
    aopts[n++] = "margin_ms=1000"; /* TCG on a shared host */
    if (functional) aopts[n++] = "connectors.functional=uds_vm_func";
    aopts[n] = NULL;
    hil_aux_config_init(&c);
    c.name = name;
    c.type = "uds";
    c.com = ch;
    c.options = aopts;
    HIL_ASSERT_OK(hil_aux_create(&c, &a));
    return a;
}

static void nrc_of(hil_aux* a, const unsigned char* req, size_t len, int want) {
    HIL_EXPECT_EQ(hil_uds_request(a, req, len, 0, NULL, 0, NULL), HIL_ERR_PROTOCOL, "request 0x%02X", req[0]);
    HIL_EXPECT_EQ(hil_uds_last_nrc(a), want, "request 0x%02X: %s", req[0], hil_last_error());
}

HIL_TEST(uds_vm, services_over_kernel_isotp) {
    hil_proc sim;
    hil_aux* a;
    hil_uds_value v;
    hil_uds_dtc d[4];
    size_t n;
    uint8_t st[8];
    uint16_t count;
    VM_REQUIRE();
    HIL_ASSERT(uds_bus_up(), "%s", hil_last_error());
    start_sim(&sim, "0x7E0", "0x7E8", NULL);
    a = vm_uds("uds_vm", "7E0", "7E8", 1, NULL);
    HIL_ASSERT_OK(hil_uds_read(a, "vin", &v)); /* 20 bytes: a multi-frame answer */
    HIL_EXPECT_STREQ(v.text, "HILSIM00000000001");
    HIL_ASSERT_OK(hil_uds_read(a, "temp", &v));
    HIL_EXPECT_STREQ(v.text, "-12.3 degC");
    HIL_ASSERT_OK(hil_uds_session_ex(a, HIL_UDS_SESSION_EXTENDED, HIL_UDS_FUNCTIONAL, NULL)); /* 0x7DF */
    HIL_ASSERT_OK(hil_uds_read(a, "session", &v));
    HIL_EXPECT_EQ(v.u, 3);
    HIL_ASSERT_OK(hil_uds_security_access(a, 1));
    HIL_ASSERT_OK(hil_uds_write(a, "config", "4711"));
    HIL_ASSERT_OK(hil_uds_read(a, "config", &v));
    HIL_EXPECT_EQ(v.u, 4711);
    HIL_ASSERT_OK(hil_uds_write(a, "raw_le", "-9223372036854775807"));
    HIL_ASSERT_OK(hil_uds_read(a, "raw_le", &v));
    HIL_EXPECT_EQ(v.i, -9223372036854775807LL);
    HIL_ASSERT_OK(hil_uds_dtc_count(a, 0x08, &count, NULL));
    HIL_EXPECT_EQ(count, 2);
    HIL_ASSERT_OK(hil_uds_dtc_list(a, 0x0A, 0, d, 4, &n, NULL));
    HIL_EXPECT_EQ(n, 3);
    HIL_ASSERT_OK(hil_uds_routine(a, HIL_UDS_ROUTINE_START, 0x0201, NULL, 0, st, sizeof st, &n)); /* 0x78 first */
    HIL_EXPECT_EQ(n, 2);
    HIL_ASSERT_OK(hil_uds_communication_control(a, 3, 1, 0));
    HIL_ASSERT_OK(hil_uds_control_dtc_setting(a, 2, 0));
    {
        static const unsigned char sns[] = {0xBA}, rdbi[] = {0x22, 0x12, 0x34}, sa[] = {0x27, 0x02, 1, 2, 3, 4},
                                   rc[] = {0x31, 0x01, 0x99, 0x99}, td[] = {0x36, 0x05, 0x00}, ex[] = {0x37},
                                   dl[] = {0x34, 0x00, 0x44, 8, 0, 0, 0, 0, 0, 0, 16}, tp[] = {0x3E, 0x05},
                                   dtc[] = {0x19, 0x06, 1, 2, 3, 1}, clr[] = {0x14, 0, 0, 1}, cc[] = {0x28, 0x09, 0x01},
                                   ds[] = {0x85, 0x07}, rs[] = {0x11, 0x09}, ss[] = {0x10, 0x09}, wd[] = {0x2E, 0xF1, 0x90, 1};
        nrc_of(a, sns, sizeof sns, 0x11);
        nrc_of(a, rdbi, sizeof rdbi, 0x31);
        nrc_of(a, sa, sizeof sa, 0x24);
        nrc_of(a, rc, sizeof rc, 0x31);
        nrc_of(a, td, sizeof td, 0x24);
        nrc_of(a, ex, sizeof ex, 0x24);
        nrc_of(a, dl, sizeof dl, 0x7F);
        nrc_of(a, tp, sizeof tp, 0x12);
        nrc_of(a, dtc, sizeof dtc, 0x31);
        nrc_of(a, clr, sizeof clr, 0x31);
        nrc_of(a, cc, sizeof cc, 0x12);
        nrc_of(a, ds, sizeof ds, 0x12);
        nrc_of(a, rs, sizeof rs, 0x12);
        nrc_of(a, ss, sizeof ss, 0x12);
        nrc_of(a, wd, sizeof wd, 0x31);
    }
    HIL_ASSERT_OK(hil_uds_ecu_reset(a, HIL_UDS_RESET_HARD, NULL));
    hil_aux_destroy(a);
    stop_sim(&sim);
}

HIL_TEST(uds_vm, tester_present_holds_the_session) {
    static const char* const tp[] = {"tester_present_ms=150", NULL};
    hil_proc sim;
    hil_aux* a;
    hil_uds_value v;
    unsigned char b[8];
    hil_msg m;
    VM_REQUIRE();
    HIL_ASSERT(uds_bus_up(), "%s", hil_last_error());
    start_sim(&sim, "0x7E2", "0x7EA", NULL); /* S3 1500 ms: 10 periods */
    a = vm_uds("uds_vm_tp", "7E2", "7EA", 0, tp);
    HIL_ASSERT_OK(hil_uds_session(a, HIL_UDS_SESSION_EXTENDED));
    hil_msg_init(&m, b, sizeof b);
    HIL_EXPECT_EQ(hil_aux_receive_message(a, &m, 3500), HIL_ERR_TIMEOUT); /* over two S3 periods */
    HIL_ASSERT_OK(hil_uds_read(a, "session", &v));
    HIL_EXPECT_EQ(v.u, 3);
    HIL_ASSERT_OK(hil_uds_read(a, "tp_count", &v));
    HIL_EXPECT_GE(v.u, 6);
    hil_aux_destroy(a);
    stop_sim(&sim);
}

HIL_TEST(uds_vm, timeouts_over_kernel_isotp) {
    static const char* const fast[] = {"margin_ms=200", "p2_star_ms=400", "pending_max=4", NULL};
    hil_proc sim;
    hil_aux* a;
    hil_uds_value v;
    VM_REQUIRE();
    HIL_ASSERT(uds_bus_up(), "%s", hil_last_error());
    start_sim(&sim, "0x7E1", "0x7E9", "silent");
    a = vm_uds("uds_vm_silent", "7E1", "7E9", 0, fast);
    HIL_EXPECT_EQ(hil_uds_read(a, "vin", &v), HIL_ERR_TIMEOUT);
    HIL_EXPECT(strstr(hil_last_error(), "no answer within P2") != NULL, "%s", hil_last_error());
    hil_aux_destroy(a);
    stop_sim(&sim);
    start_sim(&sim, "0x7E3", "0x7EB", "pending");
    a = vm_uds("uds_vm_pending", "7E3", "7EB", 0, fast);
    HIL_EXPECT_EQ(hil_uds_read(a, "vin", &v), HIL_ERR_TIMEOUT);
    HIL_EXPECT(strstr(hil_last_error(), "pending_max = 4") != NULL, "%s", hil_last_error());
    hil_aux_destroy(a);
    stop_sim(&sim);
}

HIL_TEST(uds_vm, flasher_and_interrupted_download) {
    hil_proc sim;
    hil_aux* a;
    hil_flasher_config fc;
    hil_flasher* f;
    const char* opts[] = {"auxiliary=uds_vm_flash", "bin_address=0x08000000", NULL};
    const char* path = vm_result_path("uds-image.bin");
    static unsigned char img[66560]; /* 260 blocks of 256: the counter wraps 0xFF -> 0x00 */
    hil_uds_value v;
    uint32_t crc = 0xFFFFFFFFu;
    size_t i, maxb;
    uint8_t st[4];
    size_t n;
    int k;
    FILE* fp;
    VM_REQUIRE();
    HIL_ASSERT(uds_bus_up(), "%s", hil_last_error());
    for (i = 0; i < sizeof img; i++) img[i] = (unsigned char)(i * 13 + (i >> 9));
    for (i = 0; i < sizeof img; i++) {
        crc ^= img[i];
        for (k = 0; k < 8; k++) crc = crc & 1 ? (crc >> 1) ^ 0xEDB88320u : crc >> 1;
    }
    crc ^= 0xFFFFFFFFu;
    fp = fopen(path, "wb");
    HIL_ASSERT(fp != NULL, "%s", path);
    HIL_ASSERT_EQ(fwrite(img, 1, sizeof img, fp), sizeof img);
    fclose(fp);
    start_sim(&sim, "0x7E4", "0x7EC", NULL);
    a = vm_uds("uds_vm_flash", "7E4", "7EC", 0, NULL);
    hil_flasher_config_init(&fc);
    fc.name = "ecu";
    fc.type = "uds";
    fc.options = opts;
    HIL_ASSERT_OK(hil_flasher_create(&fc, &f));
    HIL_ASSERT_OK(hil_flasher_flash(f, path, -1));
    printf("%s", hil_flasher_output(f));
    hil_flasher_destroy(f);
    HIL_ASSERT_OK(hil_uds_read(a, "dl_crc", &v));
    HIL_EXPECT_EQ(v.u, crc);
    HIL_ASSERT_OK(hil_uds_read(a, "session", &v));
    HIL_EXPECT_EQ(v.u, 1);
    /* half a download, then the exit: refused, and the check routine says so */
    HIL_ASSERT_OK(hil_uds_session(a, HIL_UDS_SESSION_PROGRAMMING));
    HIL_ASSERT_OK(hil_uds_security_access(a, 1));
    HIL_ASSERT_OK(hil_uds_request_download(a, 0, 0x08000000, 4096, 4, 4, &maxb));
    for (i = 0; i < 8; i++) HIL_ASSERT_OK(hil_uds_transfer_data(a, (uint8_t)(i + 1), img + 256 * i, 256));
    HIL_EXPECT_EQ(hil_uds_transfer_exit(a), HIL_ERR_PROTOCOL);
    HIL_EXPECT_EQ(hil_uds_last_nrc(a), 0x24);
    HIL_ASSERT_OK(hil_uds_routine(a, HIL_UDS_ROUTINE_START, 0xFF01, NULL, 0, st, sizeof st, &n));
    HIL_EXPECT_EQ(st[0], 1);
    hil_aux_destroy(a);
    stop_sim(&sim);
}

/* ---- make bench-vm ----------------------------------------------------------- */

static int uds_cmp(const void* a, const void* b) {
    double x = *(const double*)a, y = *(const double*)b;
    return x < y ? -1 : x > y;
}

int vm_bench_uds(void);
int vm_bench_uds(void) {
    hil_proc sim;
    hil_proc_config pc;
    const char* argv[] = {"/bin/ecu-sim", "--isotp", "can1", NULL};
    const char* copts[] = {"interface=can0", "tx_id=7E0", "rx_id=7E8", NULL};
    const char* aopts[] = {"margin_ms=1000", NULL};
    hil_channel_config cc;
    hil_channel* ch = NULL;
    hil_aux_config c;
    hil_aux* a = NULL;
    double ms[200];
    unsigned char buf[64];
    size_t n;
    int i, reps = 200;
    if (!uds_bus_up()) {
        fprintf(stderr, "bench: %s\n", hil_last_error());
        return 1;
    }
    hil_proc_config_init(&pc);
    pc.argv = argv;
    pc.null_stdin = 1;
    pc.die_with_parent = 1;
    if (hil_proc_spawn(&sim, &pc) != HIL_OK) {
        fprintf(stderr, "bench: %s\n", hil_last_error());
        return 1;
    }
    hil_channel_config_init(&cc);
    cc.name = "bench_uds";
    cc.type = "isotp";
    cc.options = copts;
    hil_aux_config_init(&c);
    c.name = "bench_uds";
    c.type = "uds";
    c.options = aopts;
    if (hil_channel_create(&cc, &ch) != HIL_OK || (c.com = ch, hil_aux_create(&c, &a)) != HIL_OK) {
        fprintf(stderr, "bench: %s\n", hil_last_error());
        hil_proc_terminate(&sim, 500);
        hil_proc_close(&sim);
        return 1;
    }
    /* the simulator binds its sockets after it starts: the first answer says it is there */
    for (i = 0; i < 50 && hil_uds_read_did(a, 0xF190, buf, sizeof buf, &n) != HIL_OK; i++) {}
    for (i = 0; i < reps; i++) {
        uint64_t t0 = hil_now_ns();
        if (hil_uds_read_did(a, 0xF190, buf, sizeof buf, &n) != HIL_OK) break;
        ms[i] = (double)(hil_now_ns() - t0) / 1e6;
    }
    hil_aux_destroy(a);
    hil_proc_terminate(&sim, 500);
    hil_proc_close(&sim);
    if (i < reps) {
        fprintf(stderr, "bench: ReadDataByIdentifier %d of %d failed: %s\n", i + 1, reps, hil_last_error());
        return 1;
    }
    qsort(ms, (size_t)reps, sizeof ms[0], uds_cmp);
    printf("BENCH uds_rdbi_rtt_p50 %.2f ms\n", ms[reps / 2]);
    printf("bench: uds_rdbi_rtt: ReadDataByIdentifier 0xF190 (3-byte request, 20-byte answer: a first frame, a flow "
           "control, two consecutive frames) over kernel ISO-TP can0 -> can1, %d requests: p90 %.2f ms, max %.2f ms\n",
           reps, ms[reps * 9 / 10], ms[reps - 1]);
    return 0;
}
