/* hil_aux.h - auxiliaries for hil: the things a test talks to (a device
 * under test, a bus, a power switch), each with its own worker.
 *
 * An auxiliary is an implementation table (create_instance, delete_instance,
 * run_command, abort_command, receive_message) run by one of three backends
 * chosen at creation, with the same public API for all three:
 *
 *   thread   its own worker thread waits on the command queue and on its
 *            channels in one poll(); the default.
 *   process  a forked child process owns the channel and runs the table;
 *            commands, reports, received messages and log records cross a
 *            socketpair. A crash of the child is noticed at once: pending
 *            calls return HIL_ERR_CRASHED naming the signal and the running
 *            test is Errored. Use it for code that may crash or block.
 *   simple   no concurrency: everything runs in the calling thread, and
 *            messages are read from the channel when a call asks for them.
 *
 * Everything received is queued from the moment the auxiliary starts (a
 * bounded queue; when it is full the policy is `block`, which stops reading
 * the channel, or `drop-oldest`, which counts the drops and turns them into
 * a warning in the test's report). Nothing is dropped silently, and no
 * receive call has to be waiting for a reply to be kept.
 *
 * Built-in types: "communication" (send and receive raw messages), "proxy"
 * (one channel shared by several auxiliaries), "dut" (the pykiso testApp
 * protocol: remote tests on the target; see hil_target.h for the target
 * side), "record" (a channel's traffic to a file) and "power" (a board's
 * power: switch commands, a SCPI lab supply, an emulated board; the last
 * section, docs/power.md).
 *
 * ==========================================================================
 * EXAMPLE
 * ==========================================================================
 *
 *     # lab.conf
 *     connectors.uart.type = loopback
 *     auxiliaries.com.type = communication
 *     auxiliaries.com.connectors.com = uart
 *     auxiliaries.com.backend = thread
 *
 *     HIL_TEST_META(uart, echo, "requires=com") {
 *         hil_aux* com = hil_aux_get("com");
 *         char buf[64];
 *         hil_msg m;
 *         HIL_ASSERT_OK(hil_aux_send_bytes(com, "ping", 4, 1000));
 *         hil_msg_init(&m, buf, sizeof buf);
 *         HIL_ASSERT_OK(hil_aux_receive_message(com, &m, 1000));
 *         HIL_ASSERT_MEMEQ(buf, "ping", 4);
 *     }
 *
 * Configured auxiliaries are created where the tests run (the worker
 * process; again after a worker crash), one after the other in the order
 * the configuration declares them (proxies first), destroyed in the reverse
 * order, and found with hil_aux_get(). A test
 * that names an auxiliary in `requires=` is Blocked, with the reason, when
 * it is missing, failed to start or crashed. Without configuration:
 *
 *     hil_aux_config c;
 *     hil_aux* com;
 *     hil_aux_config_init(&c);
 *     c.name = "com";
 *     c.type = "communication";
 *     c.com = my_channel;             (the auxiliary owns it from now on)
 *     c.backend = HIL_AUX_PROCESS;
 *     HIL_ASSERT_OK(hil_aux_create(&c, &com));
 *     ...
 *     hil_aux_destroy(com);
 *
 * ==========================================================================
 * OPTIONS (auxiliaries.<name>.<key>, or "key=value" in hil_aux_config.options)
 * ==========================================================================
 *
 *   type            the implementation ("communication", "dut", ...)
 *   backend         thread | process | simple (default thread)
 *   connectors.com  the connector (connectors.<name>.*) it uses
 *   auto_start      create the instance at once (default true)
 *   start_timeout_ms  how long create_instance may take (default 60000)
 *   queue_size      received messages kept (default 1024)
 *   overflow        block | drop-oldest (default block)
 *   spin_us         a receive spins this long before it sleeps (default 0:
 *                   off; it burns a core while waiting, and on the 2-vCPU
 *                   machines measured it was slower, see docs)
 *   crash_errors_test  process: a crash of the child makes the running
 *                   test Errored (default true)
 *   ... and each type's own options (docs/auxiliaries.md).
 *
 * When two configured auxiliaries name the same connector, a proxy
 * auxiliary "proxy:<connector>" is inserted: it owns the connector and each
 * of them gets its own proxy channel (thread or simple backends).
 *
 * ==========================================================================
 * OWNERSHIP AND THREADS
 * ==========================================================================
 *
 * - Every public hil_aux_* call may be made from any thread. Calls on a
 *   stopped, failed or crashed auxiliary return at once (HIL_ERR_STOPPED,
 *   HIL_ERR_STATE, HIL_ERR_CRASHED); hil_aux_destroy() wakes every blocked
 *   caller with HIL_ERR_STOPPED and waits until they have left.
 * - The implementation's functions run on the worker: the worker thread,
 *   the child process, or (simple) the calling thread. One at a time.
 *   run_command may wait, but through hil_aux_wait()/hil_aux_recv(), which
 *   return HIL_ERR_ABORTED when the command is aborted or the auxiliary
 *   stops: then abort, timeouts and delete take effect at once.
 * - Process backend: the child is forked, so read options in `configure`
 *   (it runs in the caller before the fork); in the child, log with the
 *   HIL_* log macros (the records appear in the parent's log and report)
 *   and do not use test assertions. The child inherits every descriptor of
 *   the parent (a fork ignores close-on-exec); it ends when the parent dies.
 * - An auxiliary owns its channels and destroys them.
 *
 * Needs hil.h and hil_connectors.h. The implementation is compiled where
 * HIL_IMPLEMENTATION is defined (or HIL_IMPLEMENTATION_AUX, in a file of
 * its own: hil.h, section 10).
 */
#ifndef HIL_AUX_H_INCLUDED
#define HIL_AUX_H_INCLUDED

#include "hil.h"
#include "hil_connectors.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- backends, states ------------------------------------------------------ */

typedef enum hil_aux_backend {
    HIL_AUX_THREAD = 0,
    HIL_AUX_PROCESS,
    HIL_AUX_SIMPLE
} hil_aux_backend;

typedef enum hil_aux_state {
    HIL_AUX_NEW = 0,      /* created; the instance is not (auto_start = false) */
    HIL_AUX_RUNNING,
    HIL_AUX_SUSPENDED,    /* instance deleted by hil_aux_suspend(); resume brings it back */
    HIL_AUX_STOPPED,      /* stopped on request; hil_aux_start() starts it again */
    HIL_AUX_FAILED,       /* create_instance failed: hil_aux_why() says why */
    HIL_AUX_CRASHED       /* the child process died: hil_aux_why() names the signal */
} hil_aux_state;

#define HIL_AUX_OVERFLOW_BLOCK 0
#define HIL_AUX_OVERFLOW_DROP_OLDEST 1

HIL_API const char* hil_aux_backend_str(hil_aux_backend b);   /* "thread" */
HIL_API hil_result hil_aux_backend_parse(const char* s, hil_aux_backend* out);
HIL_API const char* hil_aux_state_str(hil_aux_state s);        /* "running" */

/* ---- commands and reports ---------------------------------------------------- */

/* A command: a code the implementation defines and optional data (copied). */
typedef struct hil_aux_cmd {
    int code;
    const void* data;
    size_t len;
} hil_aux_cmd;

#define HIL_AUX_REPORT_DATA 512

/* What a command produced. result is HIL_OK or why it failed; status and
 * data are the implementation's (the DUT auxiliary puts its verdict in
 * status); text is for people (a failure reason, an error message). */
typedef struct hil_aux_report {
    hil_result result;
    int code;                 /* the command's code */
    int status;
    size_t len;
    unsigned char data[HIL_AUX_REPORT_DATA];
    char text[512];
} hil_aux_report;

HIL_API void hil_aux_report_init(hil_aux_report* rep);
/* Set rep->text (printf-style). */
HIL_API void hil_aux_report_text(hil_aux_report* rep, const char* fmt, ...) HIL__PRINTF(2, 3);

/* ---- implementations ------------------------------------------------------------ */

typedef struct hil_aux hil_aux;
typedef hil_channel_opt hil_aux_opt;  /* {name, type, default, help, choices} */

typedef struct hil_aux_impl {
    const char* type;                 /* "communication" */
    const char* description;
    size_t state_size;                /* private state, zeroed: hil_aux_priv(a) */
    const hil_aux_opt* opts;          /* options "auxiliaries.*.<name>", {NULL}-terminated; may be NULL */
    /* Read options (hil_aux_opt_*). In the caller, once, at hil_aux_create. May be NULL. */
    hil_result (*configure)(hil_aux* a);
    /* Open channels, flash, ping... On the worker. */
    hil_result (*create_instance)(hil_aux* a);
    /* Undo create_instance (close channels). On the worker. */
    void (*delete_instance)(hil_aux* a);
    /* Run one command and fill rep. May wait through hil_aux_wait/hil_aux_recv.
     * Returning an error sets rep->result when the implementation did not. May be NULL. */
    hil_result (*run_command)(hil_aux* a, const hil_aux_cmd* cmd, hil_aux_report* rep);
    /* Undo or stop what the last command started (e.g. tell the target to
     * abort). Called after the running command returned. May be NULL. */
    hil_result (*abort_command)(hil_aux* a);
    /* Channel `channel` (hil_aux_channel index) may be read: read with
     * timeout 0 and hand messages over with hil_aux_deliver(). It may be
     * called when nothing is there (HIL_ERR_AGAIN from the channel is not an
     * error). HIL_ERR_CLOSED: the channel ended. May be NULL (channels are
     * then not watched). */
    hil_result (*receive_message)(hil_aux* a, size_t channel);
    /* Free what configure() allocated. In the caller, at destroy. May be NULL. */
    void (*destroy)(hil_aux* a);
} hil_aux_impl;

/* Register a type by name (the struct must outlive the program); its options
 * become config options. A name registered twice is an error. */
HIL_API hil_result hil_aux_type_register(const hil_aux_impl* impl);
HIL_API const hil_aux_impl* hil_aux_type_find(const char* type);
HIL_API size_t hil_aux_types(const char** out, size_t max);

#ifndef HIL_NO_CONSTRUCTORS
#define HIL_AUX_TYPE(var) \
    HIL__CONSTRUCTOR(hil__reg_auxtype_##var) { (void)hil_aux_type_register(&var); }
#else
#define HIL_AUX_TYPE(var)
#endif

/* ---- creating and deleting -------------------------------------------------------- */

typedef struct hil_aux_config {
    const char* name;              /* unique; hil_aux_get() finds it */
    const char* type;              /* NULL: auxiliaries.<name>.type */
    const hil_aux_impl* impl;      /* instead of type: an unregistered implementation */
    int backend;                   /* -1 (default): auxiliaries.<name>.backend, else thread */
    hil_channel* com;              /* the channel (owned from now on, even on error); NULL: connector */
    const char* com_connector;     /* NULL: auxiliaries.<name>.connectors.com, if set */
    const char* const* options;    /* "key=value" (no prefix), NULL-terminated; win over the config */
    hil_config* config;            /* NULL: the program's (hil_cfg()) */
    int auto_start;                /* -1 (default): auxiliaries.<name>.auto_start, else true */
    void* user;                    /* hil_aux_user() */
} hil_aux_config;

HIL_API void hil_aux_config_init(hil_aux_config* c);
/* Create and (auto_start) start it. On error nothing is left behind. */
HIL_API hil_result hil_aux_create(const hil_aux_config* c, hil_aux** out);
/* hil_aux_create for auxiliaries.<name> of the program's configuration. */
HIL_API hil_result hil_aux_from_config(const char* name, hil_aux** out);
/* Stop (waking every blocked caller with HIL_ERR_STOPPED) and free. */
HIL_API void hil_aux_destroy(hil_aux* a);
/* The auxiliary named so (configured or created), or NULL. */
HIL_API hil_aux* hil_aux_get(const char* name);

/* pykiso's create_instance: start the worker and create the instance. */
HIL_API hil_result hil_aux_start(hil_aux* a, int timeout_ms);
/* pykiso's delete_instance + stop: abort the running command, delete the
 * instance, end the worker. Blocked callers get HIL_ERR_STOPPED. */
HIL_API hil_result hil_aux_stop(hil_aux* a, int timeout_ms);
/* Delete the instance (close channels) but keep the worker; resume creates it again. */
HIL_API hil_result hil_aux_suspend(hil_aux* a, int timeout_ms);
HIL_API hil_result hil_aux_resume(hil_aux* a, int timeout_ms);
HIL_API hil_aux_state hil_aux_get_state(hil_aux* a);
/* Why it failed, crashed or its channel ended ("" if nothing to say). */
HIL_API void hil_aux_why(hil_aux* a, char* out, size_t size);
HIL_API const char* hil_aux_name(const hil_aux* a);
HIL_API const char* hil_aux_type(const hil_aux* a);
HIL_API hil_aux_backend hil_aux_get_backend(const hil_aux* a);
/* The process backend's child (0 when there is none). */
HIL_API int hil_aux_child_pid(hil_aux* a);

/* ---- commands ------------------------------------------------------------------------ */

/* Run a command. blocking: wait up to timeout_ms for its report (rep may be
 * NULL); on timeout the command is aborted and HIL_ERR_TIMEOUT returned.
 * Not blocking: queue it and return; its report comes from
 * hil_aux_wait_and_get_report(). Commands run one at a time, in order. */
HIL_API hil_result hil_aux_run_command(hil_aux* a, const hil_aux_cmd* cmd, int blocking, int timeout_ms,
                                       hil_aux_report* rep);
/* The next report of a non-blocking command. */
HIL_API hil_result hil_aux_wait_and_get_report(hil_aux* a, hil_aux_report* rep, int timeout_ms);
/* Abort the running command (its report says HIL_ERR_ABORTED) and the queued
 * ones, then call the implementation's abort_command; returns its result. */
HIL_API hil_result hil_aux_abort_command(hil_aux* a, int timeout_ms);
/* Exclusive use between callers (advisory): HIL_ERR_TIMEOUT when another
 * holder keeps it, HIL_ERR_STOPPED when the auxiliary stops meanwhile. */
HIL_API hil_result hil_aux_lock_it(hil_aux* a, int timeout_ms);
HIL_API void hil_aux_unlock_it(hil_aux* a);

/* ---- messages (every auxiliary with a com channel) ---------------------------------- */

/* Send on the com channel; returns the channel's result. */
HIL_API hil_result hil_aux_send_message(hil_aux* a, const hil_msg* m, int timeout_ms);
HIL_API hil_result hil_aux_send_bytes(hil_aux* a, const void* data, size_t len, int timeout_ms);
/* The oldest received message (data, len, remote_id, flags, timestamp).
 * HIL_ERR_TIMEOUT; HIL_ERR_CLOSED once the channel ended and the queue is empty. */
HIL_API hil_result hil_aux_receive_message(hil_aux* a, hil_msg* m, int timeout_ms);
/* Forget everything received so far; returns how many messages. */
HIL_API size_t hil_aux_clear_buffer(hil_aux* a);

typedef struct hil_aux_stats {
    uint64_t received;     /* messages queued since creation */
    uint64_t dropped;      /* dropped by overflow=drop-oldest */
    uint64_t queued;       /* waiting in the queue now */
    uint64_t commands;     /* commands completed */
} hil_aux_stats;
HIL_API void hil_aux_get_stats(hil_aux* a, hil_aux_stats* out);

/* ---- for implementations (called from the implementation's functions) ---------------- */

HIL_API void* hil_aux_priv(hil_aux* a);
HIL_API void* hil_aux_user(hil_aux* a);
/* The com channel, or NULL. */
HIL_API hil_channel* hil_aux_com(hil_aux* a);
/* Watch another channel too (owned by the auxiliary from now on); returns its index. */
HIL_API hil_result hil_aux_add_channel(hil_aux* a, hil_channel* ch, size_t* index);
HIL_API hil_channel* hil_aux_channel(hil_aux* a, size_t index);
/* Queue a received message for hil_aux_receive_message (copied). */
HIL_API hil_result hil_aux_deliver(hil_aux* a, const hil_msg* m);
/* Wait until ch may be read (ch NULL: only for the timeout). HIL_ERR_ABORTED
 * when the command is aborted or the auxiliary stops; HIL_ERR_TIMEOUT. */
HIL_API hil_result hil_aux_wait(hil_aux* a, hil_channel* ch, int timeout_ms);
/* Receive one message from ch like hil_channel_recv, but abortable as above. */
HIL_API hil_result hil_aux_recv(hil_aux* a, hil_channel* ch, hil_msg* m, int timeout_ms);
/* Send on ch under the auxiliary's send lock (test threads may send too). */
HIL_API hil_result hil_aux_send(hil_aux* a, hil_channel* ch, const hil_msg* m, int timeout_ms);
/* Options: auxiliaries.<name>.<key>, or the create() options. */
HIL_API const char* hil_aux_opt_str(hil_aux* a, const char* key, const char* fallback);
HIL_API hil_result hil_aux_opt_int(hil_aux* a, const char* key, long long fallback, long long* out);
HIL_API hil_result hil_aux_opt_bool(hil_aux* a, const char* key, int fallback, int* out);
/* Set hil_last_error() to "auxiliary '<name>': <what>" and return r. */
HIL_API hil_result hil_aux_fail(hil_aux* a, hil_result r, const char* fmt, ...) HIL__PRINTF(3, 4);
/* Its logger: "hil.aux.<name>". */
HIL_API const char* hil_aux_logger(hil_aux* a);

/* ---- communication ---------------------------------------------------------------------- */
/* "communication": opens its com channel; everything received is queued.
 * Use hil_aux_send_message / hil_aux_receive_message / hil_aux_clear_buffer. */

/* ---- proxy ------------------------------------------------------------------------------- */
/* "proxy": owns one channel (its com); auxiliaries reach it through proxy
 * channels ("connectors.<x>.type = proxy", "connectors.<x>.proxy = <proxy
 * auxiliary>"). Every received message is copied to every open proxy
 * channel. Options: echo (copy each proxy channel's sends to the others,
 * flagged HIL_MSG_ECHO; default false), trace (a file: every message with
 * its time and direction), channel_queue (per proxy channel, default 1024).
 * Closing a proxy channel (suspend, delete) never closes the shared one. */

/* A proxy channel attached to `proxy`, named `name`, not yet open. */
HIL_API hil_result hil_proxy_channel_create(hil_aux* proxy, const char* name, hil_channel** out);

/* ---- record -------------------------------------------------------------------------------- */
/* "record": writes its com channel's traffic to `file` in `format` (hex:
 * one line per message with time, direction, id, flags and bytes). Other
 * formats (candump, pcap) register with hil_record_format_register(). */

typedef struct hil_record_format {
    const char* name;
    const char* description;
    /* Open path for writing; *state is the format's. `channel` names the source. */
    hil_result (*open)(void** state, const char* path, const char* channel);
    /* One message; tx is 1 for sent (or echoed) messages. */
    hil_result (*write)(void* state, const hil_msg* m, int tx);
    /* A marker line or record, if the format has one. May be NULL. */
    hil_result (*mark)(void* state, const char* text);
    void (*close)(void* state);
} hil_record_format;

HIL_API hil_result hil_record_format_register(const hil_record_format* f);
HIL_API const hil_record_format* hil_record_format_find(const char* name);
/* A command of the record auxiliary: write a marker (data: the text). */
#define HIL_RECORD_CMD_MARK 1

/* ---- DUT: the pykiso testApp protocol ------------------------------------------------------- */
/* "dut": runs tests on the target. Options: ack_timeout_ms (5000),
 * report_timeout_ms (10000), ping_on_start (true), ping_timeout_ms (2000),
 * ping_tries (2), boot_timeout_ms (10000). Messages (8-byte header, TLV
 * payload, CRC-16/XMODEM):
 *
 *   [0x40|type<<4][token][sub_type][error_code][reserved][suite][case][payload_len]
 *   payload: {tag, len, value}... ; then the CRC, 2 bytes little-endian.
 *
 * WHEN THE TARGET MISBEHAVES during a step (docs/qemu.md shows the reports):
 *   - a LOG with the FAULT tag (hil_target_fault() in a HardFault handler):
 *     the step ends at once with HIL_ERR_CRASHED and the fault text (the
 *     registers) in the reason;
 *   - a LOG whose text starts with "boot " (the firmware started again: a
 *     watchdog, a SYSRESETREQ, a brown-out): HIL_ERR_STATE, "the target
 *     reset during ...";
 *   - no ACK or no REPORT in time: HIL_ERR_TIMEOUT;
 *   - the REPORT of the running step arrives with a bad CRC: HIL_ERR_CHECKSUM
 *     at once, saying the verdict was lost (a bad CRC on anything else is
 *     skipped and resynchronised, as before).
 * A remote test (HIL_REMOTE_TEST) turns each into Errored; after a fault or
 * a timeout it resets the board through its channel (hil_dut_reset) so the
 * next test starts on a live target, and says so in the reason. */

#define HIL_TAPP_COMMAND 0
#define HIL_TAPP_REPORT 1
#define HIL_TAPP_ACK 2
#define HIL_TAPP_LOG 3

#define HIL_TAPP_PING 0
#define HIL_TAPP_SECTION_SETUP 1
#define HIL_TAPP_SUITE_SETUP 2
#define HIL_TAPP_CASE_SETUP 3
#define HIL_TAPP_SECTION_RUN 11
#define HIL_TAPP_SUITE_RUN 12
#define HIL_TAPP_CASE_RUN 13
#define HIL_TAPP_SECTION_TEARDOWN 21
#define HIL_TAPP_SUITE_TEARDOWN 22
#define HIL_TAPP_CASE_TEARDOWN 23
#define HIL_TAPP_ABORT 99

#define HIL_TAPP_PASS 0
#define HIL_TAPP_FAILED 1
#define HIL_TAPP_NOT_IMPLEMENTED 2

#define HIL_TAPP_ACK_OK 0
#define HIL_TAPP_NACK 1

#define HIL_TAPP_TLV_TEST_REPORT 110
#define HIL_TAPP_TLV_FAILURE_REASON 112
#define HIL_TAPP_TLV_FAULT 120   /* hil_target_fault(): the target crashed; the value is its report */

#define HIL_TAPP_HEADER 8
#define HIL_TAPP_MAX_PAYLOAD 255
#define HIL_TAPP_MAX_MSG (HIL_TAPP_HEADER + HIL_TAPP_MAX_PAYLOAD + 2)

typedef struct hil_tapp_msg {
    uint8_t type, token, sub_type, error_code, reserved, suite, test_case;
    uint8_t payload_len;
    uint8_t payload[HIL_TAPP_MAX_PAYLOAD];
} hil_tapp_msg;

/* CRC-16/XMODEM (poly 0x1021, init 0): "123456789" -> 0x31C3. */
HIL_API uint16_t hil_tapp_crc16(const void* data, size_t len);
/* Encode into out (HIL_TAPP_MAX_MSG bytes); returns the length. */
HIL_API size_t hil_tapp_encode(const hil_tapp_msg* m, uint8_t* out);
/* Decode one message from the start of buf. HIL_OK (*used = its length),
 * HIL_ERR_AGAIN (need more bytes), HIL_ERR_PROTOCOL (not a message start),
 * HIL_ERR_CHECKSUM (bad CRC; *used = its length). */
HIL_API hil_result hil_tapp_decode(const uint8_t* buf, size_t len, hil_tapp_msg* m, size_t* used);
/* Append a TLV; HIL_ERR_OVERFLOW when it does not fit in 255 bytes. */
HIL_API hil_result hil_tapp_add_tlv(hil_tapp_msg* m, uint8_t tag, const void* value, size_t len);
/* The value of the first TLV with tag as text (NUL-terminated, cut to size;
 * size 0 writes nothing); 1 if there is one, 0 if none. */
HIL_API int hil_tapp_tlv_text(const hil_tapp_msg* m, uint8_t tag, char* out, size_t size);
/* "CASE_RUN", "PING", ... */
HIL_API const char* hil_tapp_command_str(int sub_type);

/* DUT commands (hil_aux_cmd.code) for custom use; data for STEP: 3 bytes
 * {sub_type, suite, case}. Their report: status = verdict (HIL_TAPP_PASS...),
 * text = the failure reason. */
#define HIL_DUT_CMD_PING 1
#define HIL_DUT_CMD_STEP 2
#define HIL_DUT_CMD_RESET 3

typedef struct hil_dut_result {
    hil_result result;      /* HIL_OK when a REPORT came; else why not */
    int verdict;            /* HIL_TAPP_PASS / FAILED / NOT_IMPLEMENTED */
    char reason[1024];      /* the failure reason TLV, or the error (as long as hil_last_error()'s) */
} hil_dut_result;

HIL_API hil_result hil_dut_ping(hil_aux* dut, int timeout_ms);
/* Reset the board through the auxiliary's channel (hil_channel_reset: a
 * qemu board, or a proxy channel in front of one), then wait up to
 * boot_timeout_ms for the firmware's "boot " LOG (a firmware that sends
 * none must answer a PING instead). HIL_ERR_UNSUPPORTED when the channel
 * cannot reset its board. */
HIL_API hil_result hil_dut_reset(hil_aux* dut, int timeout_ms);
/* One step: COMMAND, wait ACK (ack_timeout), log LOG messages, wait REPORT (report_timeout). */
HIL_API hil_result hil_dut_step(hil_aux* dut, int sub_type, int suite, int test_case, hil_dut_result* out);
/* The body of HIL_REMOTE_TEST: case setup, run and teardown on the target;
 * FAILED -> Failed with the target's reason, NOT_IMPLEMENTED -> Skipped,
 * no answer, NACK or a lost channel -> Errored. A failure is reported at
 * the running test's declaration (the HIL_REMOTE_TEST line). */
HIL_API void hil_dut_remote_test(const char* aux_name, int suite, int test_case);
/* Suite setup (setup=1) or teardown on the target. A failure is reported
 * at file:line (HIL_REMOTE_SUITE_* pass their own line; file NULL: none). */
HIL_API void hil_dut_remote_suite(const char* aux_name, int suite, int setup);
HIL_API void hil_dut_remote_suite_at(const char* aux_name, int suite, int setup, const char* file, int line);

/* A test whose setup, run and teardown execute on the target:
 *     HIL_REMOTE_TEST(adc, reads_vref, "dut", 1, 3);   (suite id 1, case id 3) */
#define HIL_REMOTE_TEST(suite, name, aux_name, suite_id, case_id) \
    HIL_REMOTE_TEST_META(suite, name, aux_name, suite_id, case_id, "")
/* With more metadata: HIL_REMOTE_TEST_META(adc, slow, "dut", 1, 4, "timeout=60; tags=adc"); */
#define HIL_REMOTE_TEST_META(suite, name, aux_name, suite_id, case_id, meta) \
    HIL_TEST_META(suite, name, "requires=" aux_name "; " meta) { \
        hil_dut_remote_test(aux_name, suite_id, case_id); \
    } \
    extern const int hil__remote_decl_semicolon
#define HIL_REMOTE_SUITE_SETUP(suite, aux_name, suite_id) \
    HIL_SUITE_SETUP(suite) { hil_dut_remote_suite_at(aux_name, suite_id, 1, __FILE__, __LINE__); } \
    extern const int hil__remote_decl_semicolon
#define HIL_REMOTE_SUITE_TEARDOWN(suite, aux_name, suite_id) \
    HIL_SUITE_TEARDOWN(suite) { hil_dut_remote_suite_at(aux_name, suite_id, 0, __FILE__, __LINE__); } \
    extern const int hil__remote_decl_semicolon

/* ---- from configuration ----------------------------------------------------------------------- */

/* Create every auxiliaries.<name> of cfg, starting those with auto_start,
 * in the order the configuration declared them (the first key of each, as
 * read from the files, then the environment and the command line), except
 * that proxies come first (the others' proxy channels attach to them): each
 * one is started before the next is created. Failures are logged and kept
 * (state FAILED) so tests that require them are Blocked with the reason.
 * Done by the worker hook; call it yourself only without hil_main. */
HIL_API hil_result hil_aux_create_all(hil_config* cfg);
/* Destroy what hil_aux_create_all created, in reverse order of creation. */
HIL_API void hil_aux_destroy_all(void);
/* With HIL_NO_CONSTRUCTORS: call once in main before hil_main (registers
 * the built-in types, options, the worker hook and the requires= check). */
HIL_API void hil_aux_module_init(void);

/* ---- power: boards switched off and on, lab power supplies ------------------------------------ */
/* "power" (docs/power.md): one board's (or one supply output's) power,
 * through a driver chosen by the option power_type:
 *
 *   command  argv templates run without a shell (the flasher's spawning,
 *            hil_connectors.h): on, off, cycle (optional: else off, wait,
 *            on) and status, with {port} {board} {channel} {name} replaced
 *            inside the words; output line by line into the log; a status
 *            from the exit code (0: on) or from status_on / status_off
 *            (POSIX extended regular expressions over the output).
 *   scpi     a lab supply over its com channel (tcp to port 5025, or
 *            serial): *IDN? on start (logged), OUTP ON|OFF, VOLT, CURR,
 *            MEAS:VOLT?, MEAS:CURR?; channel N is selected with INST:NSEL N
 *            (channel_style = nsel) or addressed as (@N) (list). After every
 *            setting, SYST:ERR? is read back: an error the instrument
 *            queued is a HIL_ERR_PROTOCOL naming the command and quoting
 *            the instrument's text.
 *   board    (alias qmp) an emulated board's power through its com channel's
 *            board control (hil_channel_power: a qemu channel, or a proxy
 *            channel in front of one).
 *
 *     auxiliaries.psu.type = power
 *     auxiliaries.psu.power_type = scpi
 *     auxiliaries.psu.connectors.com = psu_lan     # connectors.psu_lan.type = tcp, port = 5025
 *     auxiliaries.psu.channel = 1
 *
 *     double v, i;
 *     hil_aux* psu = hil_aux_get("psu");
 *     HIL_ASSERT_OK(hil_power_set_voltage(psu, 5.0, -1));
 *     HIL_ASSERT_OK(hil_power_cycle(psu, 500, -1));
 *     HIL_ASSERT_OK(hil_power_measure(psu, &v, &i, -1));
 *
 * timeout_ms -1 means the option timeout_ms (default 10000); a cycle's
 * off time -1 means the option off_ms (default 1000). The calls run as
 * commands of the auxiliary (on its worker, one at a time, abortable).
 * HIL_ERR_UNSUPPORTED for what a driver cannot do (a command driver
 * measures nothing), naming the driver. */

#define HIL_POWER_CMD_ON 1
#define HIL_POWER_CMD_OFF 2
#define HIL_POWER_CMD_CYCLE 3
#define HIL_POWER_CMD_STATE 4
#define HIL_POWER_CMD_SET_VOLTAGE 5
#define HIL_POWER_CMD_SET_CURRENT 6
#define HIL_POWER_CMD_MEASURE 7

HIL_API hil_result hil_power_on(hil_aux* a, int timeout_ms);
HIL_API hil_result hil_power_off(hil_aux* a, int timeout_ms);
/* Off, off_ms, on. */
HIL_API hil_result hil_power_cycle(hil_aux* a, int off_ms, int timeout_ms);
/* *on = 1 (on) or 0 (off), as the driver reads it back (board: as last set). */
HIL_API hil_result hil_power_state(hil_aux* a, int* on, int timeout_ms);
HIL_API hil_result hil_power_set_voltage(hil_aux* a, double volts, int timeout_ms);
HIL_API hil_result hil_power_set_current(hil_aux* a, double amps, int timeout_ms);
/* Measured output voltage and current (either pointer may be NULL: that
 * one is not measured). */
HIL_API hil_result hil_power_measure(hil_aux* a, double* volts, double* amps, int timeout_ms);

/* SCPI replies (outside input: bounded, never read past len). A number
 * ("+4.99870E+00", "0.25"; 9.9E37, SCPI's not-a-number, is an error);
 * an error queue entry ('-222,"Data out of range"': *code, and the text
 * without quotes cut to size); a boolean ("1", "0", "ON", "OFF"). */
HIL_API hil_result hil_scpi_parse_number(const char* s, size_t len, double* out);
HIL_API hil_result hil_scpi_parse_error(const char* s, size_t len, int* code, char* text, size_t size);
HIL_API hil_result hil_scpi_parse_bool(const char* s, size_t len, int* out);

#ifdef __cplusplus
}
#endif

#endif /* HIL_AUX_H_INCLUDED */

/* The private helpers of this implementation that hil_probe.h's and
 * hil_uds.h's implementations call too (hil.h, section 10: HIL__SHARED). */
#if defined(HIL__PRELUDE_DONE) && !defined(HIL_AUX__SHARED_DECLARED)
#define HIL_AUX__SHARED_DECLARED
#ifdef __cplusplus
extern "C" {
#endif
HIL__SHARED hil_result hil__com_receive(hil_aux* a, size_t index);
HIL__SHARED hil_config* hil__aux_cfg(hil_aux* a);
#ifdef __cplusplus
}
#endif
#endif

/* ==========================================================================
 * Implementation
 * ========================================================================== */
#if (defined(HIL_IMPLEMENTATION) || defined(HIL_IMPLEMENTATION_AUX)) && !defined(HIL_AUX__IMPLEMENTED)
#define HIL_AUX__IMPLEMENTED
#ifndef HIL__PRELUDE_DONE
#error "hil_aux.h: define HIL_IMPLEMENTATION_AUX before the first hil header of the file"
#endif

#include <errno.h>
#include <string.h>
#include <strings.h>
#include <poll.h>
#include <unistd.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <sys/syscall.h>
#include <limits.h>
#if defined(__linux__) && defined(SYS_futex)
#include <linux/futex.h>
#define HIL__AUX_FUTEX 1
#endif

#ifdef __cplusplus
extern "C" {
#endif

#define HIL__AUX_MAX_CH 8

/* ---- names ------------------------------------------------------------------ */

HIL_API const char* hil_aux_backend_str(hil_aux_backend b) {
    switch (b) {
    case HIL_AUX_THREAD: return "thread";
    case HIL_AUX_PROCESS: return "process";
    case HIL_AUX_SIMPLE: return "simple";
    }
    return "?";
}

HIL_API hil_result hil_aux_backend_parse(const char* s, hil_aux_backend* out) {
    if (s && strcmp(s, "thread") == 0) *out = HIL_AUX_THREAD;
    else if (s && strcmp(s, "process") == 0) *out = HIL_AUX_PROCESS;
    else if (s && strcmp(s, "simple") == 0) *out = HIL_AUX_SIMPLE;
    else return hil_error(HIL_ERR_CONFIG, "unknown auxiliary backend '%s' (use thread, process or simple)", s ? s : "");
    return HIL_OK;
}

HIL_API const char* hil_aux_state_str(hil_aux_state s) {
    static const char* const names[] = {"new", "running", "suspended", "stopped", "failed", "crashed"};
    return (s >= HIL_AUX_NEW && s <= HIL_AUX_CRASHED) ? names[s] : "?";
}

HIL_API void hil_aux_report_init(hil_aux_report* rep) { memset(rep, 0, sizeof *rep); }

HIL_API void hil_aux_report_text(hil_aux_report* rep, const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rep->text, sizeof rep->text, fmt, ap);
    va_end(ap);
}

/* Copy a string, cut to size. */
static void hil__scopy(char* dst, size_t size, const char* src) {
    size_t n = src ? strlen(src) : 0;
    if (!size) return;
    if (n >= size) n = size - 1;
    if (n) memcpy(dst, src, n);
    dst[n] = 0;
}

/* ---- the type registry and options -------------------------------------------- */

static const hil_aux_impl* hil__auxtypes[64];
static size_t hil__n_auxtypes;
static hil_mutex hil__auxtypes_mu = {PTHREAD_MUTEX_INITIALIZER};

/* Options every auxiliary has, whatever its type. */
static const hil_aux_opt hil__aux_common_opts[] = {
    {"type", HIL_OPT_STRING, NULL, "The implementation of auxiliary <name> (communication, dut, proxy, record...)", NULL},
    {"backend", HIL_OPT_CHOICE, "thread",
     "Where it runs: thread, process (a child process owns the channel) or simple (in the caller)",
     "thread|process|simple"},
    {"connectors.com", HIL_OPT_STRING, NULL, "The connector (connectors.<x>) it talks through", NULL},
    {"auto_start", HIL_OPT_BOOL, "true", "Create the instance when the auxiliary is created", NULL},
    {"start_timeout_ms", HIL_OPT_INT, "60000", "How long create_instance may take (flash, ping...)", NULL},
    {"queue_size", HIL_OPT_INT, "1024", "Received messages kept until a test reads them", NULL},
    {"overflow", HIL_OPT_CHOICE, "block",
     "A full receive queue: block (stop reading the channel) or drop-oldest (counted, warned)", "block|drop-oldest"},
    {"spin_us", HIL_OPT_INT, "0", "A waiting receive spins this long before it sleeps (0: off)", NULL},
    {"crash_errors_test", HIL_OPT_BOOL, "true",
     "process backend: a crash of its child makes the running test Errored (false: only logged and reported)", NULL},
    {NULL, HIL_OPT_STRING, NULL, NULL, NULL}
};

static hil_result hil__auxiliaries_check_types(hil_ext_ctx* ctx) {
    return hil__check_entity_types(ctx->config, "auxiliaries", "auxiliary", hil_aux_types);
}

static void hil__auxtype_options(const hil_aux_opt* opts) {
    static hil_extension* ext;
    if (!ext) {
        ext = hil_extension_declare("auxiliaries", HIL_EXT_FRAMEWORK, NULL);
        if (!ext) return;
        ext->description = "Auxiliaries: auxiliaries.<name>.type, .backend, .connectors.com and each type's options";
        ext->load_order = HIL__TYPE_CHECK_ORDER; /* a type of the configuration is registered (hil_connectors.h) */
        ext->initialize = hil__auxiliaries_check_types;
    }
    hil__declare_type_options(ext, "auxiliaries", opts);
}

HIL_API void hil_aux_module_init(void);

HIL_API hil_result hil_aux_type_register(const hil_aux_impl* impl) {
    size_t i;
    if (!impl || !impl->type || !impl->create_instance || !impl->delete_instance)
        return hil_error(HIL_ERR_INVALID_ARG, "auxiliary type: type, create_instance and delete_instance are required");
    hil_mutex_lock(&hil__auxtypes_mu);
    for (i = 0; i < hil__n_auxtypes; i++) {
        if (hil__auxtypes[i] == impl) { hil_mutex_unlock(&hil__auxtypes_mu); return HIL_OK; }
        if (strcmp(hil__auxtypes[i]->type, impl->type) == 0) {
            hil_mutex_unlock(&hil__auxtypes_mu);
            return hil_error(HIL_ERR_EXISTS, "auxiliary type '%s' is registered twice", impl->type);
        }
    }
    if (hil__n_auxtypes == sizeof hil__auxtypes / sizeof hil__auxtypes[0]) {
        hil_mutex_unlock(&hil__auxtypes_mu);
        return hil_error(HIL_ERR_OVERFLOW, "too many auxiliary types (at most 64)");
    }
    hil__auxtypes[hil__n_auxtypes++] = impl;
    hil_mutex_unlock(&hil__auxtypes_mu);
    hil__auxtype_options(impl->opts);
    return HIL_OK;
}

HIL_API const hil_aux_impl* hil_aux_type_find(const char* type) {
    size_t i;
    const hil_aux_impl* found = NULL;
    hil_aux_module_init();
    hil_mutex_lock(&hil__auxtypes_mu);
    for (i = 0; type && i < hil__n_auxtypes; i++)
        if (strcmp(hil__auxtypes[i]->type, type) == 0) found = hil__auxtypes[i];
    hil_mutex_unlock(&hil__auxtypes_mu);
    return found;
}

HIL_API size_t hil_aux_types(const char** out, size_t max) {
    size_t i, n;
    hil_aux_module_init();
    hil_mutex_lock(&hil__auxtypes_mu);
    for (i = 0; i < hil__n_auxtypes && i < max; i++) out[i] = hil__auxtypes[i]->type;
    n = hil__n_auxtypes;
    hil_mutex_unlock(&hil__auxtypes_mu);
    return n;
}

/* ---- received-message rings ---------------------------------------------------- */

typedef struct hil__rxitem {
    unsigned char* data;
    size_t len;
    uint32_t remote_id, flags;
    uint64_t ts;
} hil__rxitem;

typedef struct hil__ring {
    hil__rxitem* items;
    size_t cap, head, count;
} hil__ring;

/* Append; when full, grow (grow = 1) or refuse (returns 0). */
static int hil__ring_push(hil__ring* r, const hil__rxitem* it, int grow) {
    if (r->count == r->cap) {
        size_t ncap = r->cap ? r->cap * 2 : 16, i;
        hil__rxitem* n;
        if (!grow && r->cap) return 0;
        n = (hil__rxitem*)HIL_MALLOC(ncap * sizeof *n);
        if (!n) return 0;
        for (i = 0; i < r->count; i++) n[i] = r->items[(r->head + i) % r->cap];
        HIL_FREE(r->items);
        r->items = n;
        r->cap = ncap;
        r->head = 0;
    }
    r->items[(r->head + r->count) % r->cap] = *it;
    r->count++;
    return 1;
}

static int hil__ring_pop(hil__ring* r, hil__rxitem* out) {
    if (!r->count) return 0;
    *out = r->items[r->head];
    r->head = (r->head + 1) % r->cap;
    r->count--;
    return 1;
}

static size_t hil__ring_clear(hil__ring* r) {
    size_t n = r->count;
    hil__rxitem it;
    while (hil__ring_pop(r, &it)) HIL_FREE(it.data);
    r->head = 0;
    return n;
}

static hil_result hil__ring_init(hil__ring* r, size_t cap) {
    memset(r, 0, sizeof *r);
    r->items = (hil__rxitem*)HIL_MALLOC((cap ? cap : 1) * sizeof *r->items);
    if (!r->items) return hil_error(HIL_ERR_NO_MEMORY, "out of memory for a receive queue of %zu messages", cap);
    r->cap = cap ? cap : 1;
    return HIL_OK;
}

static void hil__ring_free(hil__ring* r) {
    hil__ring_clear(r);
    HIL_FREE(r->items);
    memset(r, 0, sizeof *r);
}

static hil_result hil__rxitem_from(hil__rxitem* it, const hil_msg* m) {
    it->len = m->len;
    it->data = (unsigned char*)HIL_MALLOC(m->len ? m->len : 1);
    if (!it->data) return hil_error(HIL_ERR_NO_MEMORY, "out of memory for a received message of %zu bytes", m->len);
    if (m->len) memcpy(it->data, m->data, m->len);
    it->remote_id = m->remote_id;
    it->flags = m->flags;
    it->ts = m->timestamp_ns ? m->timestamp_ns : hil_wall_ns();
    return HIL_OK;
}

/* Copy into the caller's message (truncating to its capacity) and free. */
static void hil__rxitem_to(hil__rxitem* it, hil_msg* m) {
    size_t n = it->len < m->cap ? it->len : m->cap;
    if (n) memcpy(m->data, it->data, n);
    m->len = n;
    m->remote_id = it->remote_id;
    m->flags = it->flags | (it->len > m->cap ? HIL_MSG_TRUNCATED : 0u);
    m->timestamp_ns = it->ts;
    HIL_FREE(it->data);
    it->data = NULL;
}

/* ---- the auxiliary ------------------------------------------------------------------ */

enum {
    HIL__RQ_START = 1, HIL__RQ_RUN, HIL__RQ_ABORT, HIL__RQ_SEND, HIL__RQ_SUSPEND, HIL__RQ_RESUME,
    HIL__RQ_STOP, HIL__RQ_CLEAR, HIL__RQ_CREDIT
};

/* A request from the callers to the worker. */
typedef struct hil__req {
    int kind;
    uint64_t ticket;
    int fifo;               /* the report goes to wait_and_get_report */
    int cancelled;
    int code;
    unsigned char* data;
    size_t len;
    int timeout_ms;
    uint32_t remote_id, flags;
    uint64_t n;
    struct hil__req* next;
} hil__req;

/* A finished request waiting for its caller. */
typedef struct hil__done {
    uint64_t ticket;
    hil_aux_report rep;
    struct hil__done* next;
} hil__done;

/* The worker's side: the worker thread, the child process, or the caller
 * (simple). Only the worker touches it. */
typedef struct hil__wside {
    hil__req* head;
    hil__req* tail;
    int abort_pending, stop_pending;
    int running, suspended, active;
    int in_child;
    int sent;                /* a SEND ran: look at the channels before sleeping */
    /* the child process */
    int sock, logsock;
    hil_strbuf out;          /* records not written yet */
    hil_strbuf in;           /* a partial record read */
    long long credit;        /* messages the parent has room for */
    hil__ring ring;          /* received, waiting for credit */
    int logs_pending;
    uint64_t drops;
    char* eof_text;          /* the com channel ended: told after the held messages */
} hil__wside;

struct hil_aux {
    char* name;
    char* logger;
    char* prefix;                /* "auxiliaries.<name>." */
    const hil_aux_impl* impl;
    hil_aux_backend backend;
    void* priv;
    void* user;
    hil_config* cfg;             /* where options are read */
    hil_config* own_cfg;         /* create() options */
    hil_channel* chs[HIL__AUX_MAX_CH];
    int ch_eof[HIL__AUX_MAX_CH];
    size_t n_chs;
    long long queue_cap, spin_us, start_timeout_ms;
    int overflow;
    int crash_errors;
    int registered;

    /* callers' side, under mu */
    hil_mutex mu;
    hil_cond cv;
    hil_aux_state state;
    char why[700];
    int users;                   /* public calls in progress */
    int destroying;
    int closing;                 /* a stop is under way: new calls are refused */
    int lifecycle_busy;
    int session;                 /* a worker thread / child exists */
    int dead;                    /* ... and it has ended */
    hil__ring rxq;
    size_t rx_count;             /* rxq.count, also read without the lock (spin) */
    uint64_t rx_total, dropped, dropped_reported, commands;
    const hil_test_info* warned_test;
    int warned_attempt;
    int rx_waiters;
    uint32_t rx_seq;             /* thread backend: receivers sleep on it (futex) */
    int eof;
    char eof_why[400];
    uint64_t next_ticket, start_ticket;
    hil__done* done;
    hil__done* fifo_head;
    hil__done* fifo_tail;
    uint64_t* abandoned;
    size_t n_abandoned, cap_abandoned;
    int locked;
    int px_sink;                 /* a proxy feeds its queue directly */
    int configured;              /* configure() succeeded: destroy() is due */

    hil_mutex tx_mu;             /* recursive: serialises senders and channel close */
    int chan_ok;                 /* under tx_mu: channels open, senders may send */

    /* thread and simple backends */
    hil_waker ctl;
    hil__req* q_head;
    hil__req* q_tail;
    hil_thread thread;
    int simple_busy, simple_abort, simple_stop;

    /* process backend, parent side */
    int pid, pidfd, sock, logsock;
    hil_thread monitor;
    int pumping, child_gone_seen, child_exited, child_status, expect_exit, starting, log_eof;
    hil_strbuf inbuf;
    hil_mutex wr_mu, log_mu;
    uint64_t owed;               /* credits to give back to the child */
    uint64_t clearing;           /* the CLEAR ticket in progress */
    size_t cleared;

    hil__wside w;
};

/* ---- the name registry ------------------------------------------------------------------ */

static hil_mutex hil__auxreg_mu = {PTHREAD_MUTEX_INITIALIZER};
static hil_aux* hil__auxreg[256];
static size_t hil__n_auxreg;

static hil_result hil__auxreg_add(hil_aux* a) {
    size_t i;
    hil_mutex_lock(&hil__auxreg_mu);
    for (i = 0; i < hil__n_auxreg; i++) {
        if (strcmp(hil__auxreg[i]->name, a->name) == 0) {
            hil_mutex_unlock(&hil__auxreg_mu);
            return hil_error(HIL_ERR_EXISTS, "auxiliary '%s' exists already (names are unique)", a->name);
        }
    }
    if (hil__n_auxreg == sizeof hil__auxreg / sizeof hil__auxreg[0]) {
        hil_mutex_unlock(&hil__auxreg_mu);
        return hil_error(HIL_ERR_OVERFLOW, "auxiliary '%s': too many auxiliaries (at most 256)", a->name);
    }
    hil__auxreg[hil__n_auxreg++] = a;
    a->registered = 1;
    hil_mutex_unlock(&hil__auxreg_mu);
    return HIL_OK;
}

static void hil__auxreg_remove(hil_aux* a) {
    size_t i;
    hil_mutex_lock(&hil__auxreg_mu);
    for (i = 0; i < hil__n_auxreg; i++) {
        if (hil__auxreg[i] == a) {
            hil__auxreg[i] = hil__auxreg[--hil__n_auxreg];
            break;
        }
    }
    hil_mutex_unlock(&hil__auxreg_mu);
}

HIL_API hil_aux* hil_aux_get(const char* name) {
    size_t i;
    hil_aux* a = NULL;
    if (!name) return NULL;
    hil_mutex_lock(&hil__auxreg_mu);
    for (i = 0; i < hil__n_auxreg; i++)
        if (strcmp(hil__auxreg[i]->name, name) == 0) a = hil__auxreg[i];
    hil_mutex_unlock(&hil__auxreg_mu);
    return a;
}

/* Parent-side descriptors of process auxiliaries: a child forked later
 * closes them, so a child's end of file really means its parent is gone. */
static hil_mutex hil__pfds_mu = {PTHREAD_MUTEX_INITIALIZER};
static int hil__pfds[256];
static size_t hil__n_pfds;

static void hil__pfds_add(int fd) {
    hil_mutex_lock(&hil__pfds_mu);
    if (hil__n_pfds < sizeof hil__pfds / sizeof hil__pfds[0]) hil__pfds[hil__n_pfds++] = fd;
    hil_mutex_unlock(&hil__pfds_mu);
}

static void hil__pfds_remove(int fd) {
    size_t i;
    hil_mutex_lock(&hil__pfds_mu);
    for (i = 0; i < hil__n_pfds; i++)
        if (hil__pfds[i] == fd) { hil__pfds[i] = hil__pfds[--hil__n_pfds]; break; }
    hil_mutex_unlock(&hil__pfds_mu);
}

/* ---- small helpers ------------------------------------------------------------------------- */

HIL_API hil_result hil_aux_fail(hil_aux* a, hil_result r, const char* fmt, ...) {
    char msg[900];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return hil_error(r, "auxiliary '%s': %s", a->name, msg);
}

HIL_API void* hil_aux_priv(hil_aux* a) { return a->priv; }
HIL_API void* hil_aux_user(hil_aux* a) { return a->user; }
HIL_API hil_channel* hil_aux_com(hil_aux* a) { return a->n_chs ? a->chs[0] : NULL; }
HIL_API hil_channel* hil_aux_channel(hil_aux* a, size_t index) { return index < a->n_chs ? a->chs[index] : NULL; }
HIL_API const char* hil_aux_logger(hil_aux* a) { return a->logger; }
HIL_API const char* hil_aux_name(const hil_aux* a) { return a->name; }
HIL_API const char* hil_aux_type(const hil_aux* a) { return a->impl->type; }
HIL_API hil_aux_backend hil_aux_get_backend(const hil_aux* a) { return a->backend; }

HIL_API hil_result hil_aux_add_channel(hil_aux* a, hil_channel* ch, size_t* index) {
    if (a->n_chs == HIL__AUX_MAX_CH) {
        hil_channel_destroy(ch);
        return hil_aux_fail(a, HIL_ERR_OVERFLOW, "at most %d channels", HIL__AUX_MAX_CH);
    }
    a->ch_eof[a->n_chs] = 0;
    a->chs[a->n_chs] = ch;
    if (index) *index = a->n_chs;
    a->n_chs++;
    return HIL_OK;
}

static const char* hil__aux_optkey(hil_aux* a, const char* key, char* buf, size_t size) {
    snprintf(buf, size, "%s%s", a->prefix, key);
    return buf;
}

HIL_API const char* hil_aux_opt_str(hil_aux* a, const char* key, const char* fallback) {
    char k[512];
    hil__aux_optkey(a, key, k, sizeof k);
    if (a->own_cfg && hil_config_has(a->own_cfg, k)) return hil_config_get(a->own_cfg, k, fallback);
    return hil_config_get(a->cfg, k, fallback);
}

HIL_API hil_result hil_aux_opt_int(hil_aux* a, const char* key, long long fallback, long long* out) {
    const char* v = hil_aux_opt_str(a, key, NULL);
    char* end;
    *out = fallback;
    if (!v || !*v) return HIL_OK;
    errno = 0;
    *out = strtoll(v, &end, 0);
    if (errno || *end) return hil_aux_fail(a, HIL_ERR_CONFIG, "option %s%s: expected an integer, got '%s'", a->prefix, key, v);
    return HIL_OK;
}

HIL_API hil_result hil_aux_opt_bool(hil_aux* a, const char* key, int fallback, int* out) {
    const char* v = hil_aux_opt_str(a, key, NULL);
    *out = fallback;
    if (!v || !*v) return HIL_OK;
    if (!strcmp(v, "1") || !strcasecmp(v, "true") || !strcasecmp(v, "yes") || !strcasecmp(v, "on")) *out = 1;
    else if (!strcmp(v, "0") || !strcasecmp(v, "false") || !strcasecmp(v, "no") || !strcasecmp(v, "off")) *out = 0;
    else return hil_aux_fail(a, HIL_ERR_CONFIG, "option %s%s: expected true or false, got '%s'", a->prefix, key, v);
    return HIL_OK;
}

/* Records between parent and child: hil.h's hil__put_* / hil__get_*. */

static void hil__report_put(hil_strbuf* b, const hil_aux_report* rep) {
    hil__put_u32(b, (uint32_t)(int32_t)rep->result);
    hil__put_u32(b, (uint32_t)(int32_t)rep->code);
    hil__put_u32(b, (uint32_t)(int32_t)rep->status);
    hil__put_bytes(b, rep->data, rep->len < sizeof rep->data ? rep->len : sizeof rep->data);
    hil__put_str(b, rep->text);
}

static void hil__report_get(hil__rd* r, hil_aux_report* rep) {
    const unsigned char* d;
    size_t n;
    hil_aux_report_init(rep);
    rep->result = (hil_result)(int32_t)hil__get_u32(r);
    rep->code = (int)(int32_t)hil__get_u32(r);
    rep->status = (int)(int32_t)hil__get_u32(r);
    d = hil__get_bytes(r, &n);
    if (n > sizeof rep->data) n = sizeof rep->data;
    if (d && n) memcpy(rep->data, d, n);
    rep->len = n;
    hil__get_str(r, rep->text, sizeof rep->text);
}

/* Records from the child to the parent. */
enum { HIL__PK_REPORT = 100, HIL__PK_RX, HIL__PK_DROPS, HIL__PK_EOF };

/* ---- waking callers ------------------------------------------------------------------------ */

/* The thread backend's receivers sleep on rx_seq with a futex: after a
 * condition variable wait the mutex comes back marked contended, and every
 * unlock costs a system call on the hottest path. */
static void hil__rx_wake(hil_aux* a) {
#ifdef HIL__AUX_FUTEX
    __atomic_add_fetch(&a->rx_seq, 1, __ATOMIC_RELEASE);
    syscall(SYS_futex, &a->rx_seq, FUTEX_WAKE | FUTEX_PRIVATE_FLAG, INT_MAX, NULL, NULL, 0);
#else
    hil_cond_broadcast(&a->cv);
#endif
}

/* mu held: sleep until woken (hil__rx_wake) or the deadline. */
static void hil__rx_sleep(hil_aux* a, uint64_t deadline) {
#ifdef HIL__AUX_FUTEX
    uint32_t seq = __atomic_load_n(&a->rx_seq, __ATOMIC_ACQUIRE);
    struct timespec ts;
    a->rx_waiters++;
    hil_mutex_unlock(&a->mu);
    ts.tv_sec = (time_t)(deadline / 1000000000u);
    ts.tv_nsec = (long)(deadline % 1000000000u);
    /* absolute, on the monotonic clock like hil_now_ns() */
    syscall(SYS_futex, &a->rx_seq, FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG, seq,
            deadline == HIL_NEVER ? NULL : &ts, NULL, FUTEX_BITSET_MATCH_ANY);
    hil_mutex_lock(&a->mu);
    a->rx_waiters--;
#else
    a->rx_waiters++;
    hil_cond_wait_until(&a->cv, &a->mu, deadline);
    a->rx_waiters--;
#endif
}

/* Wake everyone waiting on the auxiliary: its state changed. */
static void hil__wake(hil_aux* a) {
    hil_cond_broadcast(&a->cv);
#ifdef HIL__AUX_FUTEX
    if (a->backend == HIL_AUX_THREAD && __atomic_load_n(&a->rx_waiters, __ATOMIC_RELAXED)) hil__rx_wake(a);
#endif
}

/* ---- the callers' side: completed requests --------------------------------------------- */

/* mu held */
static int hil__abandoned_take(hil_aux* a, uint64_t ticket) {
    size_t i;
    for (i = 0; i < a->n_abandoned; i++) {
        if (a->abandoned[i] == ticket) {
            a->abandoned[i] = a->abandoned[--a->n_abandoned];
            return 1;
        }
    }
    return 0;
}

/* mu held: a caller stopped waiting for ticket; its report is thrown away. */
static void hil__abandon(hil_aux* a, uint64_t ticket) {
    hil__done** pp;
    for (pp = &a->done; *pp; pp = &(*pp)->next) {
        if ((*pp)->ticket == ticket) {
            hil__done* d = *pp;
            *pp = d->next;
            HIL_FREE(d);
            return;
        }
    }
    if (a->n_abandoned == a->cap_abandoned) {
        size_t cap = a->cap_abandoned ? a->cap_abandoned * 2 : 8;
        uint64_t* p = (uint64_t*)HIL_REALLOC(a->abandoned, cap * sizeof *p);
        if (!p) return;
        a->abandoned = p;
        a->cap_abandoned = cap;
    }
    a->abandoned[a->n_abandoned++] = ticket;
}

/* mu held */
static void hil__done_add(hil_aux* a, uint64_t ticket, int fifo, const hil_aux_report* rep) {
    hil__done* d;
    if (!fifo && hil__abandoned_take(a, ticket)) return;
    d = (hil__done*)HIL_MALLOC(sizeof *d);
    if (!d) return;
    d->ticket = ticket;
    d->rep = *rep;
    d->next = NULL;
    if (fifo) {
        if (a->fifo_tail) a->fifo_tail->next = d;
        else a->fifo_head = d;
        a->fifo_tail = d;
    } else {
        d->next = a->done;
        a->done = d;
    }
    hil__wake(a);
}

/* Drops become a warning in the running test's report: at the first drop
 * (from the worker), later from the next call a test makes. */
static void hil__warn_drops(hil_aux* a, int at_drop) {
    uint64_t n = 0, total = 0;
    hil_mutex_lock(&a->mu);
    if (a->dropped > a->dropped_reported && (!at_drop || a->dropped_reported == 0)) {
        n = a->dropped - a->dropped_reported;
        total = a->dropped;
        a->dropped_reported = a->dropped;
    }
    hil_mutex_unlock(&a->mu);
    if (!n) return;
    HIL_WARN(a->logger, "%llu received messages dropped (%llu in all): the receive queue of %lld was full "
             "(overflow=drop-oldest)", (unsigned long long)n, (unsigned long long)total, a->queue_cap);
    hil_test_warn("auxiliary '%s': %llu received messages dropped (%llu in all) because its receive queue "
                  "(%lld messages, overflow=drop-oldest) was full: read them sooner or raise %squeue_size",
                  a->name, (unsigned long long)n, (unsigned long long)total, a->queue_cap, a->prefix);
}

/* ---- the worker's side ----------------------------------------------------------------------- */

static void hil__req_free(hil__req* rq) {
    if (!rq) return;
    HIL_FREE(rq->data);
    HIL_FREE(rq);
}

static hil__req* hil__req_new(int kind, uint64_t ticket, int fifo) {
    hil__req* rq = (hil__req*)calloc(1, sizeof *rq);
    if (!rq) return NULL;
    rq->kind = kind;
    rq->ticket = ticket;
    rq->fifo = fifo;
    return rq;
}

static void hil__c_flush(hil_aux* a, int blocking);

/* Hand a finished request to its caller. */
static void hil__w_complete(hil_aux* a, const hil__req* rq, const hil_aux_report* rep) {
    if (rq->kind == HIL__RQ_CREDIT) return;
    if (a->w.in_child) {
        size_t at = hil__rec_begin(&a->w.out, HIL__PK_REPORT);
        hil__put_u64(&a->w.out, rq->ticket);
        hil__put_u8(&a->w.out, (unsigned)rq->fifo);
        hil__put_u8(&a->w.out, (unsigned)a->w.logs_pending);
        hil__put_u8(&a->w.out, (unsigned)rq->kind);
        hil__report_put(&a->w.out, rep);
        hil__rec_end(&a->w.out, at);
        a->w.logs_pending = 0;
        return;
    }
    hil_mutex_lock(&a->mu);
    if (rq->kind == HIL__RQ_RUN) a->commands++;
    hil__done_add(a, rq->ticket, rq->fifo, rep);
    hil_mutex_unlock(&a->mu);
}

/* New requests join the worker's list; an abort or a stop cancels the
 * commands queued before it. */
static void hil__w_take(hil_aux* a, hil__req* list) {
    while (list) {
        hil__req* rq = list;
        list = list->next;
        rq->next = NULL;
        if (rq->kind == HIL__RQ_ABORT || rq->kind == HIL__RQ_STOP) {
            hil__req* q;
            for (q = a->w.head; q; q = q->next)
                if (q->kind == HIL__RQ_RUN) q->cancelled = 1;
            if (rq->kind == HIL__RQ_ABORT) a->w.abort_pending = 1;
            else a->w.stop_pending = 1;
        }
        if (a->w.tail) a->w.tail->next = rq;
        else a->w.head = rq;
        a->w.tail = rq;
    }
}

static void hil__c_read(hil_aux* a);

/* Collect what the callers asked for since the last look. */
static void hil__w_fetch(hil_aux* a) {
    hil__req* list;
    if (a->w.in_child) {
        hil__c_read(a);
        return;
    }
    hil_waker_drain(&a->ctl);
    hil_mutex_lock(&a->mu);
    if (a->backend == HIL_AUX_SIMPLE) {
        a->w.abort_pending = a->simple_abort;
        a->w.stop_pending = a->simple_stop;
        hil_mutex_unlock(&a->mu);
        return;
    }
    list = a->q_head;
    a->q_head = a->q_tail = NULL;
    hil_mutex_unlock(&a->mu);
    hil__w_take(a, list);
}

static int hil__w_ctl_fd(hil_aux* a) { return a->w.in_child ? a->w.sock : hil_waker_fd(&a->ctl); }

static hil_result hil__w_create(hil_aux* a) {
    hil_result r;
    size_t i;
    for (i = 0; i < a->n_chs; i++) a->ch_eof[i] = 0;
    hil_clear_error();
    r = a->impl->create_instance(a);
    if (r == HIL_OK) {
        hil_mutex_lock(&a->tx_mu);
        a->chan_ok = 1;
        hil_mutex_unlock(&a->tx_mu);
    } else if (!hil_last_error()[0]) {
        hil_aux_fail(a, r, "create_instance failed (%s)", hil_result_str(r));
    }
    return r;
}

static void hil__w_delete(hil_aux* a) {
    /* senders are out of the channel before it closes */
    hil_mutex_lock(&a->tx_mu);
    a->chan_ok = 0;
    hil_mutex_unlock(&a->tx_mu);
    a->impl->delete_instance(a);
}

static void hil__c_deliver(hil_aux* a, hil__rxitem* it);

/* Queue n received items (ownership of their data passes to the queue) under
 * one lock, and wake the receivers once: a worker reading a burst pays one
 * lock hand-off and at most one wake-up for all of it, not one per message.
 * force_drop: a proxy delivering straight into the queue cannot stop
 * reading the shared channel for one slow reader: drop-oldest, counted. */
static hil_result hil__deliver_items(hil_aux* a, hil__rxitem* items, size_t n, int force_drop, int* wake_later) {
    hil__rxitem old;
    int dropped = 0, waiters;
    size_t i;
    if (a->w.in_child) {
        for (i = 0; i < n; i++) hil__c_deliver(a, &items[i]);
        return HIL_OK;
    }
    hil_mutex_lock(&a->mu);
    for (i = 0; i < n; i++) {
        if (a->rxq.count >= (size_t)a->queue_cap && (a->overflow == HIL_AUX_OVERFLOW_DROP_OLDEST || force_drop) &&
            hil__ring_pop(&a->rxq, &old)) {
            HIL_FREE(old.data);
            a->dropped++;
            dropped = 1;
        }
        /* block: the worker stops reading when full; one read may overshoot */
        if (!hil__ring_push(&a->rxq, &items[i], 1)) {
            size_t k;
            for (k = i; k < n; k++) HIL_FREE(items[k].data);
            __atomic_store_n(&a->rx_count, a->rxq.count, __ATOMIC_RELEASE);
            hil_mutex_unlock(&a->mu);
            return hil_aux_fail(a, HIL_ERR_NO_MEMORY, "out of memory queueing a received message");
        }
        a->rx_total++;
    }
    __atomic_store_n(&a->rx_count, a->rxq.count, __ATOMIC_RELEASE);
    waiters = a->rx_waiters;
    hil_mutex_unlock(&a->mu);
    /* after the unlock: the woken receiver does not run into our lock */
    if (wake_later) *wake_later = waiters; /* the caller wakes once its own locks are released */
    else if (waiters) hil__rx_wake(a);
    if (dropped) hil__warn_drops(a, 1);
    return HIL_OK;
}

static hil_result hil__deliver(hil_aux* a, const hil_msg* m, uint32_t extra_flags, int force_drop, int* wake_later) {
    hil__rxitem it;
    hil_result r = hil__rxitem_from(&it, m);
    if (r != HIL_OK) return r;
    it.flags |= extra_flags;
    return hil__deliver_items(a, &it, 1, force_drop, wake_later);
}

HIL_API hil_result hil_aux_deliver(hil_aux* a, const hil_msg* m) { return hil__deliver(a, m, 0, 0, NULL); }

HIL_API hil_result hil_aux_wait(hil_aux* a, hil_channel* ch, int timeout_ms) {
    uint64_t deadline = hil_deadline_ms(timeout_ms);
    for (;;) {
        struct pollfd pf[2];
        nfds_t n = 0;
        int rc, chfd = ch ? hil_channel_poll_fd(ch) : -1;
        if (a->backend == HIL_AUX_SIMPLE) hil__w_fetch(a);
        if (a->w.stop_pending) return hil_aux_fail(a, HIL_ERR_ABORTED, "stopped while waiting");
        if (a->w.abort_pending) return hil_aux_fail(a, HIL_ERR_ABORTED, "command aborted");
        if (a->w.in_child) hil__c_flush(a, 0);
        pf[n].fd = hil__w_ctl_fd(a);
        pf[n].events = (short)(POLLIN | (a->w.in_child && a->w.out.len ? POLLOUT : 0));
        pf[n++].revents = 0;
        if (chfd >= 0) {
            pf[n].fd = chfd;
            pf[n].events = POLLIN;
            pf[n++].revents = 0;
        }
        rc = poll(pf, n, hil_deadline_left_ms(deadline));
        if (rc < 0 && errno == EINTR) continue;
        if (rc < 0) return hil_aux_fail(a, HIL_ERR_IO, "poll: %s", strerror(errno));
        if (rc == 0) return hil_aux_fail(a, HIL_ERR_TIMEOUT, "nothing within %d ms", timeout_ms);
        if (pf[0].revents & POLLOUT) hil__c_flush(a, 0);
        if (pf[0].revents & (POLLIN | POLLHUP | POLLERR)) hil__w_fetch(a);
        if (n > 1 && pf[1].revents) return HIL_OK;
    }
}

HIL_API hil_result hil_aux_recv(hil_aux* a, hil_channel* ch, hil_msg* m, int timeout_ms) {
    uint64_t deadline = hil_deadline_ms(timeout_ms);
    size_t cap = m->cap;
    void* data = m->data;
    if (hil_channel_poll_fd(ch) < 0) return hil_channel_recv(ch, m, timeout_ms);
    for (;;) {
        hil_result r;
        hil_msg_init(m, data, cap);
        r = hil_channel_recv(ch, m, 0);
        if (r != HIL_ERR_AGAIN && r != HIL_ERR_TIMEOUT) return r;
        r = hil_aux_wait(a, ch, hil_deadline_left_ms(deadline));
        if (r == HIL_ERR_TIMEOUT)
            return hil_aux_fail(a, HIL_ERR_TIMEOUT, "nothing received on '%s' within %d ms", hil_channel_name(ch),
                                timeout_ms);
        if (r != HIL_OK) return r;
    }
}

HIL_API hil_result hil_aux_send(hil_aux* a, hil_channel* ch, const hil_msg* m, int timeout_ms) {
    hil_result r;
    hil_mutex_lock(&a->tx_mu);
    r = hil_channel_send(ch, m, timeout_ms);
    hil_mutex_unlock(&a->tx_mu);
    return r;
}

/* A channel ended: callers learn it (receive returns HIL_ERR_CLOSED once the queue is empty). */
static void hil__w_eof(hil_aux* a, size_t i, const char* text) {
    if (a->w.in_child) {
        size_t at;
        if (i == 0 && a->w.ring.count) {
            /* messages waiting for credit come first */
            HIL_FREE(a->w.eof_text);
            a->w.eof_text = hil_strdup(text);
            return;
        }
        at = hil__rec_begin(&a->w.out, HIL__PK_EOF);
        hil__put_u32(&a->w.out, (uint32_t)i);
        hil__put_str(&a->w.out, text);
        hil__rec_end(&a->w.out, at);
        return;
    }
    hil_mutex_lock(&a->mu);
    if (i == 0) {
        a->eof = 1;
        hil__scopy(a->eof_why, sizeof a->eof_why, text);
    }
    hil__wake(a);
    hil_mutex_unlock(&a->mu);
}

static void hil__w_service(hil_aux* a, size_t i) {
    hil_result r;
    char text[700];
    if (!a->impl->receive_message || a->ch_eof[i] || !hil_channel_is_open(a->chs[i])) return;
    hil_clear_error();
    r = a->impl->receive_message(a, i);
    if (r == HIL_OK || r == HIL_ERR_AGAIN || r == HIL_ERR_TIMEOUT) return;
    /* stop watching it: an ended channel stays readable */
    a->ch_eof[i] = 1;
    if (r == HIL_ERR_CLOSED)
        snprintf(text, sizeof text, "auxiliary '%s': connector '%s' closed (end of stream)%s%.300s", a->name,
                 hil_channel_name(a->chs[i]), hil_last_error()[0] ? ": " : "", hil_last_error());
    else
        snprintf(text, sizeof text, "auxiliary '%s': receiving on connector '%s' failed (%s): %.300s", a->name,
                 hil_channel_name(a->chs[i]), hil_result_str(r), hil_last_error());
    HIL_WARN(a->logger, "%s", text);
    hil__w_eof(a, i, text);
}

/* In block mode a full queue stops the reading of the channels. */
static int hil__rx_full(hil_aux* a) {
    if (a->overflow != HIL_AUX_OVERFLOW_BLOCK) return 0;
    if (a->w.in_child) return a->w.ring.count >= (size_t)a->queue_cap;
    /* no lock: a receiver that empties a full queue wakes the worker */
    return __atomic_load_n(&a->rx_count, __ATOMIC_ACQUIRE) >= (size_t)a->queue_cap;
}

static void hil__c_release(hil_aux* a);

/* One request. Returns 1 when the worker must end (stop). */
static int hil__w_handle(hil_aux* a, hil__req* rq) {
    hil_aux_report rep;
    hil_aux_report_init(&rep);
    rep.code = rq->code;
    switch (rq->kind) {
    case HIL__RQ_RUN:
        if (rq->cancelled) {
            rep.result = a->w.stop_pending ? HIL_ERR_STOPPED : HIL_ERR_ABORTED;
            hil_aux_report_text(&rep, "auxiliary '%s': command %d %s before it ran", a->name, rq->code,
                                a->w.stop_pending ? "cancelled by a stop" : "cancelled by an abort");
        } else if (!a->w.active || a->w.suspended) {
            rep.result = HIL_ERR_STATE;
            hil_aux_report_text(&rep, "auxiliary '%s' is suspended: command %d not run", a->name, rq->code);
        } else if (!a->impl->run_command) {
            rep.result = HIL_ERR_UNSUPPORTED;
            hil_aux_report_text(&rep, "auxiliary '%s' (type %s) has no commands", a->name, a->impl->type);
        } else {
            hil_aux_cmd cmd;
            hil_result r;
            cmd.code = rq->code;
            cmd.data = rq->data;
            cmd.len = rq->len;
            hil_clear_error();
            a->w.running = 1;
            r = a->impl->run_command(a, &cmd, &rep);
            a->w.running = 0;
            if (r != HIL_OK && rep.result == HIL_OK) rep.result = r;
            if (rep.result == HIL_ERR_ABORTED && a->w.stop_pending) rep.result = HIL_ERR_STOPPED;
            if (rep.result != HIL_OK && !rep.text[0])
                hil_aux_report_text(&rep, "%s", hil_last_error()[0] ? hil_last_error() : hil_result_str(rep.result));
        }
        break;
    case HIL__RQ_ABORT:
        a->w.abort_pending = 0; /* the implementation's abort may wait itself */
        hil_clear_error();
        if (a->w.active && !a->w.suspended && a->impl->abort_command) rep.result = a->impl->abort_command(a);
        if (rep.result != HIL_OK) hil_aux_report_text(&rep, "%s", hil_last_error());
        break;
    case HIL__RQ_SEND: {
        hil_channel* com = hil_aux_com(a);
        hil_msg m;
        if (!a->w.active || a->w.suspended || !com) {
            rep.result = HIL_ERR_STATE;
            hil_aux_report_text(&rep, "auxiliary '%s': %s", a->name, com ? "suspended: nothing sent" : "no com channel");
            break;
        }
        hil_msg_init(&m, rq->data, rq->len);
        m.len = rq->len;
        m.remote_id = rq->remote_id;
        m.flags = rq->flags;
        rep.result = hil_aux_send(a, com, &m, rq->timeout_ms);
        if (rep.result != HIL_OK) hil_aux_report_text(&rep, "%s", hil_last_error());
        a->w.sent = 1;
        break;
    }
    case HIL__RQ_SUSPEND:
        if (a->w.active && !a->w.suspended) {
            hil__w_delete(a);
            a->w.suspended = 1;
        }
        break;
    case HIL__RQ_RESUME:
        if (a->w.active && a->w.suspended) {
            rep.result = hil__w_create(a);
            if (rep.result == HIL_OK) a->w.suspended = 0;
            else hil_aux_report_text(&rep, "%s", hil_last_error());
        }
        break;
    case HIL__RQ_CLEAR:
        rep.status = (int)hil__ring_clear(&a->w.ring);
        hil__c_release(a);
        break;
    case HIL__RQ_CREDIT:
        a->w.credit += (long long)rq->n;
        hil__c_release(a);
        return 0;
    case HIL__RQ_STOP:
        if (a->w.active && !a->w.suspended) hil__w_delete(a);
        a->w.active = 0;
        hil__w_complete(a, rq, &rep);
        return 1;
    default:
        return 0;
    }
    hil__w_complete(a, rq, &rep);
    return 0;
}

/* The worker: requests first, then wait for the next request or message. */
static void hil__w_loop(hil_aux* a) {
    for (;;) {
        struct pollfd pf[1 + HIL__AUX_MAX_CH];
        size_t map[1 + HIL__AUX_MAX_CH], i;
        nfds_t n = 0, k;
        int rc;
        hil__req* rq;
        while ((rq = a->w.head) != NULL) {
            int quit;
            a->w.head = rq->next;
            if (!a->w.head) a->w.tail = NULL;
            quit = hil__w_handle(a, rq);
            hil__req_free(rq);
            if (quit) return;
        }
        if (a->w.sent) {
            /* a send often has an answer waiting already: read it before
             * sleeping, so the report and the answer leave together */
            a->w.sent = 0;
            if (a->w.active && !a->w.suspended && !hil__rx_full(a))
                for (i = 0; i < a->n_chs; i++) hil__w_service(a, i);
        }
        if (a->w.in_child) hil__c_flush(a, 0);
        pf[n].fd = hil__w_ctl_fd(a);
        pf[n].events = (short)(POLLIN | (a->w.in_child && a->w.out.len ? POLLOUT : 0));
        pf[n].revents = 0;
        map[n++] = 0;
        if (a->w.active && !a->w.suspended && a->impl->receive_message && !hil__rx_full(a)) {
            for (i = 0; i < a->n_chs; i++) {
                int fd = a->ch_eof[i] ? -1 : hil_channel_poll_fd(a->chs[i]);
                if (fd < 0) continue;
                pf[n].fd = fd;
                pf[n].events = POLLIN;
                pf[n].revents = 0;
                map[n++] = i;
            }
        }
        rc = poll(pf, n, -1);
        if (rc < 0) {
            if (errno != EINTR) HIL_ERROR(a->logger, "auxiliary '%s': poll: %s", a->name, strerror(errno));
            continue;
        }
        if (pf[0].revents & POLLOUT) hil__c_flush(a, 0);
        if (pf[0].revents & (POLLIN | POLLHUP | POLLERR)) hil__w_fetch(a);
        for (k = 1; k < n; k++)
            if (pf[k].revents) hil__w_service(a, map[k]);
    }
}

/* ---- process backend: the child ------------------------------------------------------------- */

static void hil__c_flush(hil_aux* a, int blocking) {
    size_t off = 0;
    hil_strbuf* b = &a->w.out;
    while (off < b->len) {
        ssize_t n = send(a->w.sock, b->data + off, b->len - off, MSG_NOSIGNAL | (blocking ? 0 : MSG_DONTWAIT));
        if (n > 0) { off += (size_t)n; continue; }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        off = b->len; /* the parent is gone: nobody to tell */
    }
    if (off) {
        memmove(b->data, b->data + off, b->len - off);
        b->len -= off;
        if (b->data) b->data[b->len] = 0;
    }
}

static void hil__c_rx(hil_aux* a, hil__rxitem* it) {
    size_t at = hil__rec_begin(&a->w.out, HIL__PK_RX);
    hil__put_u32(&a->w.out, it->remote_id);
    hil__put_u32(&a->w.out, it->flags);
    hil__put_u64(&a->w.out, it->ts);
    hil__put_bytes(&a->w.out, it->data, it->len);
    hil__rec_end(&a->w.out, at);
    HIL_FREE(it->data);
    it->data = NULL;
}

/* The parent has room for `credit` messages; the rest wait here. */
static void hil__c_deliver(hil_aux* a, hil__rxitem* it) {
    if (a->w.credit > 0 && a->w.ring.count == 0) {
        a->w.credit--;
        hil__c_rx(a, it);
        return;
    }
    if (a->w.ring.count >= (size_t)a->queue_cap && a->overflow == HIL_AUX_OVERFLOW_DROP_OLDEST) {
        hil__rxitem old;
        if (hil__ring_pop(&a->w.ring, &old)) {
            size_t at;
            HIL_FREE(old.data);
            at = hil__rec_begin(&a->w.out, HIL__PK_DROPS);
            hil__put_u64(&a->w.out, 1);
            hil__rec_end(&a->w.out, at);
        }
    }
    if (!hil__ring_push(&a->w.ring, it, 1)) HIL_FREE(it->data);
}

static void hil__w_eof(hil_aux* a, size_t i, const char* text);

static void hil__c_release(hil_aux* a) {
    hil__rxitem it;
    while (a->w.credit > 0 && hil__ring_pop(&a->w.ring, &it)) {
        a->w.credit--;
        hil__c_rx(a, &it);
    }
    if (!a->w.ring.count && a->w.eof_text) {
        char* text = a->w.eof_text;
        a->w.eof_text = NULL;
        hil__w_eof(a, 0, text);
        HIL_FREE(text);
    }
}

/* Requests from the parent; end of file means the parent is gone. */
static void hil__c_read(hil_aux* a) {
    hil_strbuf* in = &a->w.in;
    hil__req* list = NULL;
    hil__req** tail = &list;
    size_t off = 0;
    for (;;) {
        char buf[16384];
        ssize_t n = recv(a->w.sock, buf, sizeof buf, MSG_DONTWAIT);
        if (n > 0) { hil_sb_append(in, buf, (size_t)n); if ((size_t)n < sizeof buf) break; continue; }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        if (!a->w.stop_pending) {
            hil__req* rq = hil__req_new(HIL__RQ_STOP, 0, 0);
            if (rq) { *tail = rq; tail = &rq->next; }
        }
        break;
    }
    while (in->len - off >= 5) {
        uint32_t len;
        hil__rd r;
        hil__req* rq;
        int kind;
        memcpy(&len, in->data + off, 4);
        if (in->len - off - 4 < len) break;
        r.p = (const unsigned char*)in->data + off + 4;
        r.left = len;
        r.bad = 0;
        off += 4 + (size_t)len;
        kind = (int)hil__get_u8(&r);
        rq = hil__req_new(kind, 0, 0);
        if (!rq) continue;
        if (kind == HIL__RQ_CREDIT) {
            rq->n = hil__get_u64(&r);
        } else {
            rq->ticket = hil__get_u64(&r);
            if (kind == HIL__RQ_RUN || kind == HIL__RQ_SEND) {
                const unsigned char* d;
                size_t dn;
                rq->fifo = (int)hil__get_u8(&r);
                rq->code = (int)(int32_t)hil__get_u32(&r);
                rq->timeout_ms = (int)(int32_t)hil__get_u32(&r);
                rq->remote_id = hil__get_u32(&r);
                rq->flags = hil__get_u32(&r);
                d = hil__get_bytes(&r, &dn);
                rq->data = (unsigned char*)HIL_MALLOC(dn ? dn : 1);
                if (rq->data && dn) memcpy(rq->data, d, dn);
                rq->len = dn;
            }
        }
        if (r.bad) { hil__req_free(rq); continue; }
        *tail = rq;
        tail = &rq->next;
    }
    if (off) {
        memmove(in->data, in->data + off, in->len - off);
        in->len -= off;
    }
    hil__w_take(a, list);
}

/* The child's log records go to the parent, which logs them as its own. */
static void hil__c_log(const hil_log_record* rec, void* user) {
    hil_aux* a = (hil_aux*)user;
    hil_strbuf b = {0, 0, 0, 0};
    size_t mlen = rec->message ? strlen(rec->message) : 0;
    hil__put_u32(&b, (uint32_t)rec->level);
    hil__put_u64(&b, rec->wall_ns);
    hil__put_u32(&b, (uint32_t)rec->pid);
    hil__put_u32(&b, (uint32_t)rec->line);
    hil__put_str(&b, rec->logger);
    hil__put_str(&b, rec->file);
    hil__put_bytes(&b, rec->message ? rec->message : "", mlen > 8000 ? 8000 : mlen);
    if (b.data && !b.failed) {
        ssize_t n;
        do n = send(a->w.logsock, b.data, b.len, MSG_NOSIGNAL);
        while (n < 0 && errno == EINTR);
    }
    a->w.logs_pending = 1;
    hil_sb_free(&b);
}

HIL__NORETURN static void hil__c_main(hil_aux* a, int sock, int logsock, uint64_t ticket) {
    hil__req start;
    hil_aux_report rep;
    struct sigaction sa;
    pthread_mutexattr_t ma;
    size_t i;
    /* Other auxiliaries' parent ends: they must see end of file when their
     * parent dies, not stay open in here. */
    for (i = 0; i < hil__n_pfds; i++) close(hil__pfds[i]);
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGINT, &sa, NULL);   /* the parent decides when we stop */
    sigaction(SIGPIPE, &sa, NULL);
    sa.sa_handler = SIG_DFL;
    sigaction(SIGTERM, &sa, NULL);
    /* Another thread of the parent may have held these at the fork. */
    pthread_mutex_init(&a->mu.m, NULL);
    pthread_cond_init(&a->cv.c, NULL);
    pthread_mutexattr_init(&ma);
    pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&a->tx_mu.m, &ma);
    pthread_mutexattr_destroy(&ma);
    memset(&a->w, 0, sizeof a->w);
    a->w.in_child = 1;
    a->w.sock = sock;
    a->w.logsock = logsock;
    a->w.credit = a->queue_cap;
    a->w.ring.cap = 0;
    hil_log_set_callback(hil__c_log, a);
    memset(&start, 0, sizeof start);
    start.kind = HIL__RQ_START;
    start.ticket = ticket;
    hil_aux_report_init(&rep);
    rep.result = hil__w_create(a);
    if (rep.result != HIL_OK) hil_aux_report_text(&rep, "%s", hil_last_error());
    else a->w.active = 1;
    hil__w_complete(a, &start, &rep);
    if (rep.result == HIL_OK) hil__w_loop(a);
    hil__c_flush(a, 1);
    _exit(0);
}

/* ---- process backend: the parent ---------------------------------------------------------- */

static hil_result hil__p_write(hil_aux* a, const hil_strbuf* b) {
    size_t off = 0;
    hil_result r = HIL_OK;
    if (b->failed) return hil_aux_fail(a, HIL_ERR_NO_MEMORY, "out of memory");
    hil_mutex_lock(&a->wr_mu);
    while (off < b->len) {
        ssize_t n = send(a->sock, b->data + off, b->len - off, MSG_NOSIGNAL);
        if (n > 0) { off += (size_t)n; continue; }
        if (n < 0 && errno == EINTR) continue;
        r = hil_aux_fail(a, HIL_ERR_CRASHED, "its process is gone (%s)", strerror(errno));
        break;
    }
    hil_mutex_unlock(&a->wr_mu);
    return r;
}

static void hil__p_drain_logs(hil_aux* a) {
    char buf[16384];
    hil_mutex_lock(&a->log_mu);
    while (!a->log_eof) {
        hil__rd r;
        hil_log_record rec;
        char logger[256], file[512];
        const unsigned char* msg;
        size_t mlen;
        char* text;
        ssize_t n = recv(a->logsock, buf, sizeof buf, MSG_DONTWAIT);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) break;
        if (n == 0) { a->log_eof = 1; break; }
        r.p = (const unsigned char*)buf;
        r.left = (size_t)n;
        r.bad = 0;
        rec.level = (hil_log_level)hil__get_u32(&r);
        rec.wall_ns = hil__get_u64(&r);
        rec.pid = (int)hil__get_u32(&r);
        rec.line = (int)hil__get_u32(&r);
        hil__get_str(&r, logger, sizeof logger);
        hil__get_str(&r, file, sizeof file);
        msg = hil__get_bytes(&r, &mlen);
        if (r.bad) continue;
        text = hil_strndup(msg ? (const char*)msg : "", mlen);
        rec.logger = logger;
        rec.file = file;
        rec.message = text ? text : "";
        hil_log_emit(&rec);
        HIL_FREE(text);
    }
    hil_mutex_unlock(&a->log_mu);
}

/* mu held: one record from the child. */
static void hil__p_dispatch(hil_aux* a, int kind, hil__rd* r) {
    switch (kind) {
    case HIL__PK_REPORT: {
        hil_aux_report rep;
        uint64_t ticket = hil__get_u64(r);
        int fifo = (int)hil__get_u8(r), logs = (int)hil__get_u8(r), rkind = (int)hil__get_u8(r);
        hil__report_get(r, &rep);
        if (r->bad) return;
        /* the child's log lines written before the report come first */
        if (logs) hil__p_drain_logs(a);
        if (rkind == HIL__RQ_RUN) a->commands++;
        if (rkind == HIL__RQ_CLEAR) a->clearing = 0; /* what follows is newer than the clear */
        hil__done_add(a, ticket, fifo, &rep);
        break;
    }
    case HIL__PK_RX: {
        hil__rxitem it;
        const unsigned char* d;
        size_t n;
        it.remote_id = hil__get_u32(r);
        it.flags = hil__get_u32(r);
        it.ts = hil__get_u64(r);
        d = hil__get_bytes(r, &n);
        if (r->bad) return;
        if (a->clearing) {
            a->cleared++;
            a->owed++;
            return;
        }
        it.len = n;
        it.data = (unsigned char*)HIL_MALLOC(n ? n : 1);
        if (!it.data) return;
        if (n) memcpy(it.data, d, n);
        if (!hil__ring_push(&a->rxq, &it, 1)) { HIL_FREE(it.data); return; }
        a->rx_total++;
        __atomic_store_n(&a->rx_count, a->rxq.count, __ATOMIC_RELEASE);
        if (a->rx_waiters) hil__wake(a);
        break;
    }
    case HIL__PK_DROPS:
        a->dropped += hil__get_u64(r);
        break;
    case HIL__PK_EOF: {
        uint32_t idx = hil__get_u32(r);
        char text[400];
        hil__get_str(r, text, sizeof text);
        if (idx == 0) {
            a->eof = 1;
            hil__scopy(a->eof_why, sizeof a->eof_why, text);
        }
        hil__wake(a);
        break;
    }
    default:
        break;
    }
}

/* mu held. One caller at a time reads the socket (and hands over what it
 * finds); the others wait on the condition. No thread sits in between. */
static void hil__p_pump(hil_aux* a, uint64_t deadline) {
    struct pollfd pf[2];
    nfds_t n = 0;
    int rc, gone = 0;
    size_t off = 0;
    uint64_t drops_before;
    char buf[32768];
    ssize_t got = 0;
    if (a->pumping || a->child_gone_seen || a->sock < 0) {
        hil_cond_wait_until(&a->cv, &a->mu, deadline);
        return;
    }
    a->pumping = 1;
    hil_mutex_unlock(&a->mu);
    pf[n].fd = a->sock;
    pf[n].events = POLLIN;
    pf[n++].revents = 0;
    if (a->pidfd >= 0) {
        pf[n].fd = a->pidfd;
        pf[n].events = POLLIN;
        pf[n++].revents = 0;
    }
    rc = poll(pf, n, hil_deadline_left_ms(deadline));
    if (rc > 0 && pf[0].revents) {
        do got = recv(a->sock, buf, sizeof buf, MSG_DONTWAIT);
        while (got < 0 && errno == EINTR);
        if (got == 0 || (got < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) gone = 1;
    }
    if (rc > 0 && n > 1 && pf[1].revents && got <= 0) gone = 1; /* exited and nothing left to read */
    hil_mutex_lock(&a->mu);
    drops_before = a->dropped;
    if (got > 0) hil_sb_append(&a->inbuf, buf, (size_t)got);
    while (a->inbuf.len - off >= 5) {
        uint32_t len;
        hil__rd r;
        memcpy(&len, a->inbuf.data + off, 4);
        if (a->inbuf.len - off - 4 < len) break;
        r.p = (const unsigned char*)a->inbuf.data + off + 5;
        r.left = len - 1;
        r.bad = 0;
        hil__p_dispatch(a, (unsigned char)a->inbuf.data[off + 4], &r);
        off += 4 + (size_t)len;
    }
    if (off) {
        memmove(a->inbuf.data, a->inbuf.data + off, a->inbuf.len - off);
        a->inbuf.len -= off;
    }
    if (gone) a->child_gone_seen = 1;
    a->pumping = 0;
    hil__wake(a);
    if (a->dropped != drops_before && drops_before == a->dropped_reported) {
        hil_mutex_unlock(&a->mu);
        hil__warn_drops(a, 0);
        hil_mutex_lock(&a->mu);
    }
}

/* Watches the child: its log records, and its end (a crash is noticed at once). */
static void* hil__p_monitor(void* arg) {
    hil_aux* a = (hil_aux*)arg;
    int status = 0, crash;
    char st[200], text[700];
    for (;;) {
        struct pollfd pf[2];
        nfds_t n = 0;
        int eof, rc;
        hil_mutex_lock(&a->log_mu);
        eof = a->log_eof;
        hil_mutex_unlock(&a->log_mu);
        if (!eof) {
            pf[n].fd = a->logsock;
            pf[n].events = POLLIN;
            pf[n++].revents = 0;
        }
        if (a->pidfd >= 0) {
            pf[n].fd = a->pidfd;
            pf[n].events = POLLIN;
            pf[n++].revents = 0;
        }
        if (n == 0) break; /* no pidfd: the end of its log socket is its end */
        rc = poll(pf, n, -1);
        if (rc < 0) continue;
        if (!eof && pf[0].revents) hil__p_drain_logs(a);
        if (a->pidfd >= 0 && pf[n - 1].revents) break;
    }
    while (waitpid(a->pid, &status, 0) < 0 && errno == EINTR) {
    }
    hil__p_drain_logs(a); /* its last words */
    hil_proc_status_str(status, st, sizeof st);
    snprintf(text, sizeof text, "auxiliary '%s': its process (pid %d) %s", a->name, a->pid, st);
    hil_mutex_lock(&a->mu);
    crash = !a->expect_exit && !a->starting;
    hil_mutex_unlock(&a->mu);
    if (crash) {
        /* before anyone learns of the crash: the test running now is the
         * one to be Errored, not whichever runs after it */
        HIL_ERROR(a->logger, "%s", text);
        if (a->crash_errors) hil_test_error("%s", text);
    }
    hil_mutex_lock(&a->mu);
    a->child_exited = 1;
    a->child_status = status;
    crash = !a->expect_exit && !a->starting;
    if (!a->expect_exit) hil__scopy(a->why, sizeof a->why, text);
    if (crash) a->state = HIL_AUX_CRASHED;
    a->dead = 1;
    hil__wake(a);
    hil_mutex_unlock(&a->mu);
    return NULL;
}

static int hil__pidfd_open_(int pid) {
#if defined(__linux__) && defined(SYS_pidfd_open)
    int fd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (fd >= 0) (void)fcntl(fd, F_SETFD, FD_CLOEXEC);
    return fd;
#else
    (void)pid;
    return -1;
#endif
}

/* Make sure the child is gone and reaped; close the parent's ends. */
static void hil__p_reap(hil_aux* a, int grace_ms) {
    uint64_t deadline = hil_deadline_ms(grace_ms);
    hil_mutex_lock(&a->mu);
    a->expect_exit = 1;
    while (!a->child_exited && hil_cond_wait_until(&a->cv, &a->mu, deadline) == HIL_OK) {
    }
    if (!a->child_exited) {
        kill(a->pid, SIGKILL);
        while (!a->child_exited) hil_cond_wait(&a->cv, &a->mu);
    }
    hil_mutex_unlock(&a->mu);
    hil_thread_join(&a->monitor);
    hil_mutex_lock(&a->mu);
    hil__pfds_remove(a->sock);
    hil__pfds_remove(a->logsock);
    close(a->sock);
    close(a->logsock);
    if (a->pidfd >= 0) close(a->pidfd);
    a->sock = a->logsock = a->pidfd = -1;
    a->session = 0;
    a->inbuf.len = 0;
    hil_mutex_unlock(&a->mu);
}

/* ---- waiting for a request's report -------------------------------------------------------- */

/* mu held */
static void hil__wait_step(hil_aux* a, uint64_t deadline) {
    if (a->backend == HIL_AUX_PROCESS && a->session && !a->dead) hil__p_pump(a, deadline);
    else hil_cond_wait_until(&a->cv, &a->mu, deadline);
}

/* mu held */
static hil_result hil__dead_result(hil_aux* a) {
    if (a->state == HIL_AUX_CRASHED || (a->backend == HIL_AUX_PROCESS && a->why[0] && !a->expect_exit))
        return hil_error(HIL_ERR_CRASHED, "%s", a->why);
    return hil_error(HIL_ERR_STOPPED, "auxiliary '%s' stopped", a->name);
}

/* mu held: wait for ticket's report. */
static hil_result hil__await(hil_aux* a, uint64_t ticket, uint64_t deadline, hil_aux_report* out) {
    for (;;) {
        hil__done** pp;
        for (pp = &a->done; *pp; pp = &(*pp)->next) {
            if ((*pp)->ticket == ticket) {
                hil__done* d = *pp;
                *pp = d->next;
                if (out) *out = d->rep;
                HIL_FREE(d);
                return HIL_OK;
            }
        }
        if (a->dead) return hil__dead_result(a);
        if (deadline != HIL_NEVER && hil_now_ns() >= deadline) return HIL_ERR_TIMEOUT;
        hil__wait_step(a, deadline);
    }
}

/* mu held: may a call use the auxiliary now? */
static hil_result hil__usable(hil_aux* a) {
    if (a->destroying) return hil_error(HIL_ERR_STOPPED, "auxiliary '%s' is being deleted", a->name);
    if (a->closing) return hil_error(HIL_ERR_STOPPED, "auxiliary '%s' is stopping", a->name);
    switch (a->state) {
    case HIL_AUX_RUNNING: return HIL_OK;
    case HIL_AUX_NEW:
        return hil_error(HIL_ERR_STATE, "auxiliary '%s' is not started (auto_start is off: call hil_aux_start)", a->name);
    case HIL_AUX_SUSPENDED:
        return hil_error(HIL_ERR_STATE, "auxiliary '%s' is suspended (hil_aux_resume brings it back)", a->name);
    case HIL_AUX_STOPPED: return hil_error(HIL_ERR_STOPPED, "auxiliary '%s' is stopped", a->name);
    case HIL_AUX_FAILED: return hil_error(HIL_ERR_STATE, "auxiliary '%s' failed to start: %s", a->name, a->why);
    case HIL_AUX_CRASHED: return hil_error(HIL_ERR_CRASHED, "%s", a->why);
    }
    return hil_error(HIL_ERR_INTERNAL, "auxiliary '%s': unknown state", a->name);
}

/* ---- thread backend ---------------------------------------------------------------------------- */

/* mu held */
static void hil__t_post(hil_aux* a, hil__req* rq) {
    if (a->q_tail) a->q_tail->next = rq;
    else a->q_head = rq;
    a->q_tail = rq;
    hil_waker_wake(&a->ctl);
}

/* Whatever the worker did not get to ends with HIL_ERR_STOPPED. */
static void hil__w_drop_all(hil_aux* a) {
    hil__req* rq;
    hil_mutex_lock(&a->mu);
    if (a->q_head) {
        if (a->w.tail) a->w.tail->next = a->q_head;
        else a->w.head = a->q_head;
        a->w.tail = a->q_tail;
        a->q_head = a->q_tail = NULL;
    }
    hil_mutex_unlock(&a->mu);
    while ((rq = a->w.head) != NULL) {
        hil_aux_report rep;
        a->w.head = rq->next;
        hil_aux_report_init(&rep);
        rep.code = rq->code;
        rep.result = HIL_ERR_STOPPED;
        hil_aux_report_text(&rep, "auxiliary '%s' stopped before the request ran", a->name);
        hil__w_complete(a, rq, &rep);
        hil__req_free(rq);
    }
    a->w.tail = NULL;
}

static void* hil__t_main(void* arg) {
    hil_aux* a = (hil_aux*)arg;
    hil__req start;
    hil_aux_report rep;
    memset(&start, 0, sizeof start);
    start.kind = HIL__RQ_START;
    hil_mutex_lock(&a->mu);
    start.ticket = a->start_ticket;
    hil_mutex_unlock(&a->mu);
    hil_aux_report_init(&rep);
    rep.result = hil__w_create(a);
    if (rep.result != HIL_OK) hil_aux_report_text(&rep, "%s", hil_last_error());
    else a->w.active = 1;
    hil__w_complete(a, &start, &rep);
    if (rep.result == HIL_OK) hil__w_loop(a);
    hil__w_drop_all(a);
    hil_mutex_lock(&a->mu);
    a->dead = 1;
    hil__wake(a);
    hil_mutex_unlock(&a->mu);
    return NULL;
}

/* ---- requests, for every backend ---------------------------------------------------------------- */

typedef struct hil__call {
    int kind, fifo, code, timeout_ms;
    const void* data;
    size_t len;
    uint32_t remote_id, flags;
} hil__call;

static void hil__call_init(hil__call* c, int kind) {
    memset(c, 0, sizeof *c);
    c->kind = kind;
}

/* mu held (released while it waits). Hands the request to the worker and,
 * with wait, waits for its report. *ticket_out: the request's ticket. */
static hil_result hil__aux_request(hil_aux* a, const hil__call* c, int wait, uint64_t deadline, hil_aux_report* rep,
                               uint64_t* ticket_out) {
    uint64_t ticket = ++a->next_ticket;
    hil_result r;
    if (ticket_out) *ticket_out = ticket;
    if (a->backend == HIL_AUX_THREAD) {
        hil__req* rq = hil__req_new(c->kind, ticket, c->fifo);
        if (!rq) return hil_aux_fail(a, HIL_ERR_NO_MEMORY, "out of memory");
        rq->code = c->code;
        rq->timeout_ms = c->timeout_ms;
        rq->remote_id = c->remote_id;
        rq->flags = c->flags;
        if (c->len) {
            rq->data = (unsigned char*)HIL_MALLOC(c->len);
            if (!rq->data) { HIL_FREE(rq); return hil_aux_fail(a, HIL_ERR_NO_MEMORY, "out of memory"); }
            memcpy(rq->data, c->data, c->len);
            rq->len = c->len;
        }
        hil__t_post(a, rq);
    } else if (a->backend == HIL_AUX_PROCESS) {
        hil_strbuf b = {0, 0, 0, 0};
        size_t at = hil__rec_begin(&b, c->kind);
        hil__put_u64(&b, ticket);
        if (c->kind == HIL__RQ_RUN || c->kind == HIL__RQ_SEND) {
            hil__put_u8(&b, (unsigned)c->fifo);
            hil__put_u32(&b, (uint32_t)(int32_t)c->code);
            hil__put_u32(&b, (uint32_t)(int32_t)c->timeout_ms);
            hil__put_u32(&b, c->remote_id);
            hil__put_u32(&b, c->flags);
            hil__put_bytes(&b, c->data, c->len);
        }
        hil__rec_end(&b, at);
        hil_mutex_unlock(&a->mu);
        r = hil__p_write(a, &b);
        hil_sb_free(&b);
        hil_mutex_lock(&a->mu);
        if (r != HIL_OK) return a->dead ? hil__dead_result(a) : r;
    } else {
        /* simple: the caller is the worker, one caller at a time */
        hil__req rq;
        while (a->simple_busy) {
            if (deadline != HIL_NEVER && hil_now_ns() >= deadline)
                return hil_aux_fail(a, HIL_ERR_TIMEOUT, "busy with another call");
            hil_cond_wait_until(&a->cv, &a->mu, deadline);
        }
        a->simple_busy = 1;
        if (c->kind == HIL__RQ_ABORT) a->simple_abort = 0;
        hil_mutex_unlock(&a->mu);
        memset(&rq, 0, sizeof rq);
        rq.kind = c->kind;
        rq.ticket = ticket;
        rq.fifo = c->fifo;
        rq.code = c->code;
        rq.data = (unsigned char*)c->data;
        rq.len = c->len;
        rq.timeout_ms = c->timeout_ms;
        hil__w_fetch(a);
        (void)hil__w_handle(a, &rq);
        hil_mutex_lock(&a->mu);
        a->simple_busy = 0;
        hil__wake(a);
    }
    if (!wait) return HIL_OK;
    r = hil__await(a, ticket, deadline, rep);
    if (r == HIL_ERR_TIMEOUT) hil__abandon(a, ticket);
    return r;
}

/* A request nobody waits for (its report is dropped). mu held. */
static void hil__aux_detached(hil_aux* a, int kind) {
    hil__call c;
    uint64_t ticket = 0;
    hil__call_init(&c, kind);
    if (hil__aux_request(a, &c, 0, HIL_NEVER, NULL, &ticket) == HIL_OK) hil__abandon(a, ticket);
}

static void hil__enter(hil_aux* a) {
    hil_mutex_lock(&a->mu);
    a->users++;
}

static void hil__leave(hil_aux* a) {
    a->users--;
    if (a->destroying && a->users == 0) hil__wake(a);
    hil_mutex_unlock(&a->mu);
}

/* A report's error, as this thread's hil_last_error(). */
static hil_result hil__report_error(const hil_aux_report* rep) {
    if (rep->result == HIL_OK) return HIL_OK;
    return hil_error(rep->result, "%s", rep->text[0] ? rep->text : hil_result_str(rep->result));
}

/* ---- simple backend: reading the channels in the caller ---------------------------------------- */

/* mu held */
static void hil__s_service(hil_aux* a, uint64_t deadline) {
    struct pollfd pf[1 + HIL__AUX_MAX_CH];
    size_t map[1 + HIL__AUX_MAX_CH], i;
    nfds_t n = 0, k;
    int rc;
    if (a->simple_busy) {
        hil_cond_wait_until(&a->cv, &a->mu, deadline);
        return;
    }
    a->simple_busy = 1;
    hil_mutex_unlock(&a->mu);
    pf[n].fd = hil_waker_fd(&a->ctl);
    pf[n].events = POLLIN;
    pf[n].revents = 0;
    map[n++] = 0;
    if (a->w.active && !a->w.suspended && a->impl->receive_message && !hil__rx_full(a)) {
        for (i = 0; i < a->n_chs; i++) {
            int fd = a->ch_eof[i] ? -1 : hil_channel_poll_fd(a->chs[i]);
            if (fd < 0) continue;
            pf[n].fd = fd;
            pf[n].events = POLLIN;
            pf[n].revents = 0;
            map[n++] = i;
        }
    }
    rc = poll(pf, n, hil_deadline_left_ms(deadline));
    if (rc > 0) {
        if (pf[0].revents) hil_waker_drain(&a->ctl);
        for (k = 1; k < n; k++)
            if (pf[k].revents) hil__w_service(a, map[k]);
    }
    hil_mutex_lock(&a->mu);
    a->simple_busy = 0;
    hil__wake(a);
}

/* ---- lifecycle ------------------------------------------------------------------------------------- */

/* mu held: wait for the worker thread to end, then join it. */
static int hil__t_join(hil_aux* a, uint64_t deadline) {
    while (!a->dead && hil_cond_wait_until(&a->cv, &a->mu, deadline) == HIL_OK) {
    }
    if (!a->dead) return 0;
    hil_mutex_unlock(&a->mu);
    hil_thread_join(&a->thread);
    hil_mutex_lock(&a->mu);
    a->session = 0;
    return 1;
}

/* mu held, lifecycle_busy: start the process backend's child. */
static hil_result hil__p_start(hil_aux* a, uint64_t deadline, int timeout_ms, hil_aux_report* rep) {
    int sv[2], lv[2], pid;
    uint64_t ticket = ++a->next_ticket;
    hil_result r;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
        return hil_aux_fail(a, HIL_ERR_IO, "socketpair: %s", strerror(errno));
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, lv) != 0) {
        r = hil_aux_fail(a, HIL_ERR_IO, "socketpair: %s", strerror(errno));
        close(sv[0]);
        close(sv[1]);
        return r;
    }
    a->sock = sv[0];
    a->logsock = lv[0];
    a->child_exited = a->child_gone_seen = a->log_eof = a->pumping = 0;
    a->expect_exit = 0;
    a->starting = 1;
    a->owed = 0;
    a->clearing = 0;
    a->inbuf.len = 0;
    hil_mutex_unlock(&a->mu);
    hil__pfds_add(sv[0]);
    hil__pfds_add(lv[0]);
    fflush(NULL); /* the child must not write our buffered output again */
    pid = fork();
    if (pid == 0) hil__c_main(a, sv[1], lv[1], ticket);
    close(sv[1]);
    close(lv[1]);
    hil_mutex_lock(&a->mu);
    if (pid < 0) {
        r = hil_aux_fail(a, HIL_ERR_IO, "fork: %s", strerror(errno));
        hil__pfds_remove(sv[0]);
        hil__pfds_remove(lv[0]);
        close(sv[0]);
        close(lv[0]);
        a->sock = a->logsock = -1;
        a->session = 0;
        return r;
    }
    a->pid = pid;
    a->pidfd = hil__pidfd_open_(pid);
    if (hil_thread_create(&a->monitor, hil__p_monitor, a, "hil-aux-mon") != HIL_OK) {
        r = hil_aux_fail(a, HIL_ERR_IO, "cannot start the thread that watches its process");
        kill(pid, SIGKILL);
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
        }
        hil__pfds_remove(sv[0]);
        hil__pfds_remove(lv[0]);
        close(sv[0]);
        close(lv[0]);
        if (a->pidfd >= 0) close(a->pidfd);
        a->sock = a->logsock = a->pidfd = -1;
        a->session = 0;
        return r;
    }
    r = hil__await(a, ticket, deadline, rep);
    if (r == HIL_OK && rep->result == HIL_OK && !a->dead) {
        a->starting = 0;
        return HIL_OK;
    }
    /* it failed, died or is too slow: make sure it is gone */
    if (r == HIL_OK && rep->result != HIL_OK) r = hil__report_error(rep);
    else if (r == HIL_ERR_TIMEOUT) r = hil_aux_fail(a, HIL_ERR_TIMEOUT, "create_instance did not finish within %d ms",
                                                   timeout_ms);
    else if (r == HIL_OK || a->dead) r = hil_error(HIL_ERR_CRASHED, "auxiliary '%s' crashed while starting: %s", a->name,
                                                   a->why[0] ? a->why : "its process ended");
    {
        char keep[900];
        hil__scopy(keep, sizeof keep, hil_last_error());
        hil_mutex_unlock(&a->mu);
        hil__p_reap(a, r == HIL_ERR_TIMEOUT ? 0 : 2000);
        hil_mutex_lock(&a->mu);
        a->starting = 0;
        return hil_error(r, "%s", keep);
    }
}

HIL_API hil_result hil_aux_start(hil_aux* a, int timeout_ms) {
    uint64_t deadline = hil_deadline_ms(timeout_ms);
    hil_result r = HIL_OK;
    hil_aux_report rep;
    hil_aux_report_init(&rep);
    hil_mutex_lock(&a->mu);
    while (a->lifecycle_busy) hil_cond_wait(&a->cv, &a->mu);
    if (a->destroying) { hil_mutex_unlock(&a->mu); return hil_error(HIL_ERR_STOPPED, "auxiliary '%s' is being deleted", a->name); }
    if (a->state == HIL_AUX_RUNNING) { hil_mutex_unlock(&a->mu); return HIL_OK; }
    if (a->state == HIL_AUX_SUSPENDED) {
        hil_mutex_unlock(&a->mu);
        return hil_error(HIL_ERR_STATE, "auxiliary '%s' is suspended: resume it", a->name);
    }
    if (a->session && a->dead && a->backend == HIL_AUX_PROCESS) {
        /* crashed: reap it before starting a new one */
        a->lifecycle_busy = 1;
        hil_mutex_unlock(&a->mu);
        hil__p_reap(a, 0);
        hil_mutex_lock(&a->mu);
        a->lifecycle_busy = 0;
    }
    if (a->session) {
        hil_mutex_unlock(&a->mu);
        return hil_error(HIL_ERR_BUSY, "auxiliary '%s': its earlier worker has not ended", a->name);
    }
    a->lifecycle_busy = 1;
    a->dead = 0;
    a->eof = 0;
    a->eof_why[0] = 0;
    a->why[0] = 0;
    a->closing = 0;
    a->session = 1;
    hil__ring_clear(&a->rxq);
    __atomic_store_n(&a->rx_count, 0, __ATOMIC_RELEASE);
    if (a->backend != HIL_AUX_PROCESS) {
        memset(&a->w, 0, sizeof a->w);
        hil_waker_drain(&a->ctl);
    }
    switch (a->backend) {
    case HIL_AUX_THREAD: {
        char tname[16];
        a->start_ticket = ++a->next_ticket;
        snprintf(tname, sizeof tname, "aux:%s", a->name);
        hil_mutex_unlock(&a->mu);
        r = hil_thread_create(&a->thread, hil__t_main, a, tname);
        hil_mutex_lock(&a->mu);
        if (r != HIL_OK) {
            a->session = 0;
            r = hil_aux_fail(a, r, "cannot start its worker thread: %s", hil_last_error());
            break;
        }
        r = hil__await(a, a->start_ticket, deadline, &rep);
        if (r == HIL_ERR_TIMEOUT) {
            hil__abandon(a, a->start_ticket);
            hil__aux_detached(a, HIL__RQ_STOP);
            hil__t_join(a, hil_deadline_ms(2000));
            r = hil_aux_fail(a, HIL_ERR_TIMEOUT, "create_instance did not finish within %d ms", timeout_ms);
        } else if (r == HIL_OK && rep.result != HIL_OK) {
            r = hil__report_error(&rep);
            hil__t_join(a, HIL_NEVER);
        }
        break;
    }
    case HIL_AUX_PROCESS:
        r = hil__p_start(a, deadline, timeout_ms, &rep);
        break;
    case HIL_AUX_SIMPLE:
        a->simple_busy = 1;
        a->simple_abort = a->simple_stop = 0;
        hil_mutex_unlock(&a->mu);
        r = hil__w_create(a);
        hil_mutex_lock(&a->mu);
        a->simple_busy = 0;
        if (r == HIL_OK) a->w.active = 1;
        else a->session = 0;
        break;
    }
    if (r == HIL_OK) {
        a->state = HIL_AUX_RUNNING;
    } else {
        a->state = HIL_AUX_FAILED;
        hil__scopy(a->why, sizeof a->why, hil_last_error());
    }
    a->lifecycle_busy = 0;
    hil__wake(a);
    hil_mutex_unlock(&a->mu);
    if (r != HIL_OK) {
        HIL_WARN(a->logger, "%s", a->why);
        return hil_error(r, "%s", a->why);
    }
    HIL_DEBUG(a->logger, "auxiliary '%s' (%s, %s backend) started", a->name, a->impl->type,
              hil_aux_backend_str(a->backend));
    return HIL_OK;
}

HIL_API hil_result hil_aux_stop(hil_aux* a, int timeout_ms) {
    uint64_t deadline = hil_deadline_ms(timeout_ms);
    hil_result r = HIL_OK;
    hil_aux_report rep;
    char keep[900] = "";
    hil_mutex_lock(&a->mu);
    while (a->lifecycle_busy) hil_cond_wait(&a->cv, &a->mu);
    if (!a->session) {
        if (a->state == HIL_AUX_RUNNING || a->state == HIL_AUX_SUSPENDED) a->state = HIL_AUX_STOPPED;
        hil_mutex_unlock(&a->mu);
        return HIL_OK;
    }
    a->lifecycle_busy = 1;
    a->closing = 1;
    hil__wake(a); /* blocked receivers and lockers return now */
    switch (a->backend) {
    case HIL_AUX_THREAD: {
        hil__call c;
        hil__call_init(&c, HIL__RQ_STOP);
        if (!a->dead) r = hil__aux_request(a, &c, 1, deadline, &rep, NULL);
        if (r == HIL_ERR_STOPPED || r == HIL_ERR_CRASHED) r = HIL_OK;
        if (!hil__t_join(a, r == HIL_OK ? HIL_NEVER : hil_deadline_ms(0)))
            r = hil_aux_fail(a, HIL_ERR_TIMEOUT,
                             "its worker did not stop within %d ms (a command that does not wait through hil_aux_wait?)",
                             timeout_ms);
        else r = HIL_OK;
        break;
    }
    case HIL_AUX_PROCESS: {
        hil__call c;
        hil__call_init(&c, HIL__RQ_STOP);
        a->expect_exit = 1;
        if (!a->dead) r = hil__aux_request(a, &c, 1, deadline, &rep, NULL);
        hil_mutex_unlock(&a->mu);
        /* answered: it is on its way out; not answered: it is stuck or gone */
        hil__p_reap(a, r == HIL_OK ? 2000 : 0);
        hil_mutex_lock(&a->mu);
        r = HIL_OK;
        break;
    }
    case HIL_AUX_SIMPLE:
        a->simple_stop = 1;
        hil_waker_wake(&a->ctl);
        while (a->simple_busy && hil_cond_wait_until(&a->cv, &a->mu, deadline) == HIL_OK) {
        }
        if (a->simple_busy) {
            r = hil_aux_fail(a, HIL_ERR_TIMEOUT, "a call running in another thread did not return within %d ms",
                             timeout_ms);
            break;
        }
        a->simple_busy = 1;
        hil_mutex_unlock(&a->mu);
        if (a->w.active && !a->w.suspended) hil__w_delete(a);
        a->w.active = 0;
        hil_mutex_lock(&a->mu);
        a->simple_busy = 0;
        a->simple_stop = 0;
        a->session = 0;
        break;
    }
    if (r != HIL_OK) hil__scopy(keep, sizeof keep, hil_last_error());
    a->state = HIL_AUX_STOPPED;
    a->closing = a->session; /* a stuck worker keeps the auxiliary closed */
    a->lifecycle_busy = 0;
    hil__wake(a);
    hil_mutex_unlock(&a->mu);
    if (r != HIL_OK) {
        HIL_ERROR(a->logger, "%s", keep);
        return hil_error(r, "%s", keep);
    }
    return HIL_OK;
}

static hil_result hil__suspend_resume(hil_aux* a, int kind, int timeout_ms) {
    uint64_t deadline = hil_deadline_ms(timeout_ms);
    hil_result r;
    hil_aux_report rep;
    hil__call c;
    hil_aux_state want = kind == HIL__RQ_SUSPEND ? HIL_AUX_SUSPENDED : HIL_AUX_RUNNING;
    hil_aux_state from = kind == HIL__RQ_SUSPEND ? HIL_AUX_RUNNING : HIL_AUX_SUSPENDED;
    hil_aux_report_init(&rep);
    hil_mutex_lock(&a->mu);
    while (a->lifecycle_busy) hil_cond_wait(&a->cv, &a->mu);
    if (a->state == want) { hil_mutex_unlock(&a->mu); return HIL_OK; }
    if (a->state != from || a->closing || a->destroying) {
        r = a->state == HIL_AUX_RUNNING || a->state == HIL_AUX_SUSPENDED ? hil_error(HIL_ERR_STOPPED, "auxiliary '%s' is stopping", a->name)
                                                                         : hil__usable(a);
        hil_mutex_unlock(&a->mu);
        return r;
    }
    a->lifecycle_busy = 1;
    hil__call_init(&c, kind);
    r = hil__aux_request(a, &c, 1, deadline, &rep, NULL);
    if (r == HIL_OK) r = hil__report_error(&rep);
    if (r == HIL_OK) {
        a->state = want;
        if (want == HIL_AUX_RUNNING) { a->eof = 0; a->eof_why[0] = 0; }
    }
    a->lifecycle_busy = 0;
    hil__wake(a);
    hil_mutex_unlock(&a->mu);
    return r;
}

HIL_API hil_result hil_aux_suspend(hil_aux* a, int timeout_ms) { return hil__suspend_resume(a, HIL__RQ_SUSPEND, timeout_ms); }
HIL_API hil_result hil_aux_resume(hil_aux* a, int timeout_ms) { return hil__suspend_resume(a, HIL__RQ_RESUME, timeout_ms); }

HIL_API hil_aux_state hil_aux_get_state(hil_aux* a) {
    hil_aux_state s;
    hil_mutex_lock(&a->mu);
    s = a->state;
    hil_mutex_unlock(&a->mu);
    return s;
}

HIL_API void hil_aux_why(hil_aux* a, char* out, size_t size) {
    hil_mutex_lock(&a->mu);
    if (a->why[0]) hil__scopy(out, size, a->why);
    else if (a->eof) hil__scopy(out, size, a->eof_why);
    else if (size) out[0] = 0;
    hil_mutex_unlock(&a->mu);
}

HIL_API int hil_aux_child_pid(hil_aux* a) {
    int pid;
    hil_mutex_lock(&a->mu);
    pid = a->backend == HIL_AUX_PROCESS && a->session && !a->child_exited ? a->pid : 0;
    hil_mutex_unlock(&a->mu);
    return pid;
}

/* ---- commands ------------------------------------------------------------------------------------------ */

HIL_API hil_result hil_aux_run_command(hil_aux* a, const hil_aux_cmd* cmd, int blocking, int timeout_ms,
                                       hil_aux_report* rep) {
    uint64_t deadline = hil_deadline_ms(timeout_ms);
    hil_aux_report local;
    hil_result r;
    if (!rep) rep = &local;
    hil_aux_report_init(rep);
    if (!cmd) return hil_error(HIL_ERR_INVALID_ARG, "hil_aux_run_command: no command");
    rep->code = cmd->code;
    hil__warn_drops(a, 0);
    hil__enter(a);
    r = hil__usable(a);
    if (r == HIL_OK) {
        hil__call c;
        hil__call_init(&c, HIL__RQ_RUN);
        c.fifo = !blocking;
        c.code = cmd->code;
        c.data = cmd->data;
        c.len = cmd->data ? cmd->len : 0;
        r = hil__aux_request(a, &c, blocking, deadline, rep, NULL);
        if (blocking && r == HIL_ERR_TIMEOUT) {
            /* the command keeps nothing waiting: abort it */
            if (a->backend != HIL_AUX_SIMPLE) hil__aux_detached(a, HIL__RQ_ABORT);
            rep->result = HIL_ERR_TIMEOUT;
            r = hil_aux_fail(a, HIL_ERR_TIMEOUT, "command %d: no report within %d ms (aborted)", cmd->code, timeout_ms);
            hil_aux_report_text(rep, "%s", hil_last_error());
        } else if (blocking && r == HIL_OK) {
            r = hil__report_error(rep);
        } else if (r != HIL_OK) {
            rep->result = r;
            hil_aux_report_text(rep, "%s", hil_last_error());
        }
    }
    hil__leave(a);
    return r;
}

HIL_API hil_result hil_aux_wait_and_get_report(hil_aux* a, hil_aux_report* rep, int timeout_ms) {
    uint64_t deadline = hil_deadline_ms(timeout_ms);
    hil_result r;
    hil_aux_report_init(rep);
    hil__enter(a);
    for (;;) {
        if (a->fifo_head) {
            hil__done* d = a->fifo_head;
            a->fifo_head = d->next;
            if (!a->fifo_head) a->fifo_tail = NULL;
            *rep = d->rep;
            HIL_FREE(d);
            r = HIL_OK;
            break;
        }
        r = hil__usable(a);
        if (r != HIL_OK) break;
        if (a->dead) { r = hil__dead_result(a); break; }
        if (deadline != HIL_NEVER && hil_now_ns() >= deadline) {
            r = hil_aux_fail(a, HIL_ERR_TIMEOUT, "no report within %d ms", timeout_ms);
            break;
        }
        hil__wait_step(a, deadline);
    }
    hil__leave(a);
    return r;
}

HIL_API hil_result hil_aux_abort_command(hil_aux* a, int timeout_ms) {
    uint64_t deadline = hil_deadline_ms(timeout_ms);
    hil_result r;
    hil_aux_report rep;
    hil_aux_report_init(&rep);
    hil__enter(a);
    r = hil__usable(a);
    if (r == HIL_OK) {
        hil__call c;
        if (a->backend == HIL_AUX_SIMPLE) {
            /* interrupt a command running in another thread */
            a->simple_abort = 1;
            hil_waker_wake(&a->ctl);
        }
        hil__call_init(&c, HIL__RQ_ABORT);
        r = hil__aux_request(a, &c, 1, deadline, &rep, NULL);
        if (r == HIL_OK) r = hil__report_error(&rep);
        else if (r == HIL_ERR_TIMEOUT) r = hil_aux_fail(a, HIL_ERR_TIMEOUT, "abort not done within %d ms", timeout_ms);
        if (a->backend == HIL_AUX_SIMPLE) a->simple_abort = 0;
    }
    hil__leave(a);
    return r;
}

HIL_API hil_result hil_aux_lock_it(hil_aux* a, int timeout_ms) {
    uint64_t deadline = hil_deadline_ms(timeout_ms);
    hil_result r;
    hil__enter(a);
    for (;;) {
        r = hil__usable(a);
        if (r != HIL_OK) break;
        if (!a->locked) {
            a->locked = 1;
            break;
        }
        if (deadline != HIL_NEVER && hil_now_ns() >= deadline) {
            r = hil_aux_fail(a, HIL_ERR_TIMEOUT, "locked by another user for more than %d ms", timeout_ms);
            break;
        }
        hil_cond_wait_until(&a->cv, &a->mu, deadline);
    }
    hil__leave(a);
    return r;
}

HIL_API void hil_aux_unlock_it(hil_aux* a) {
    hil_mutex_lock(&a->mu);
    a->locked = 0;
    hil__wake(a);
    hil_mutex_unlock(&a->mu);
}

/* ---- messages ------------------------------------------------------------------------------------------- */

static void hil__p_credit(hil_aux* a, uint64_t n) {
    hil_strbuf b = {0, 0, 0, 0};
    size_t at = hil__rec_begin(&b, HIL__RQ_CREDIT);
    hil__put_u64(&b, n);
    hil__rec_end(&b, at);
    (void)hil__p_write(a, &b);
    hil_sb_free(&b);
}

HIL_API hil_result hil_aux_send_message(hil_aux* a, const hil_msg* m, int timeout_ms) {
    hil_result r;
    hil__enter(a);
    r = hil__usable(a);
    if (r == HIL_OK && !hil_aux_com(a)) r = hil_aux_fail(a, HIL_ERR_STATE, "it has no com channel to send on");
    if (r == HIL_OK && a->backend == HIL_AUX_PROCESS) {
        hil__call c;
        hil_aux_report rep;
        hil__call_init(&c, HIL__RQ_SEND);
        c.data = m->data;
        c.len = m->len;
        c.timeout_ms = timeout_ms;
        c.remote_id = m->remote_id;
        c.flags = m->flags;
        r = hil__aux_request(a, &c, 1, HIL_NEVER, &rep, NULL);
        if (r == HIL_OK) r = hil__report_error(&rep);
    } else if (r == HIL_OK) {
        /* thread and simple: straight onto the channel, no hand-off */
        hil_mutex_unlock(&a->mu);
        hil_mutex_lock(&a->tx_mu);
        if (!a->chan_ok) r = hil_aux_fail(a, HIL_ERR_STATE, "its channel is closed (suspended or stopping)");
        else r = hil_channel_send(a->chs[0], m, timeout_ms);
        hil_mutex_unlock(&a->tx_mu);
        hil_mutex_lock(&a->mu);
    }
    hil__leave(a);
    return r;
}

HIL_API hil_result hil_aux_send_bytes(hil_aux* a, const void* data, size_t len, int timeout_ms) {
    hil_msg m;
    hil_msg_init(&m, (void*)data, len);
    m.len = len;
    return hil_aux_send_message(a, &m, timeout_ms);
}

HIL_API hil_result hil_aux_receive_message(hil_aux* a, hil_msg* m, int timeout_ms) {
    uint64_t deadline = hil_deadline_ms(timeout_ms), grant = 0;
    hil_result r;
    hil__rxitem it;
    int spun = 0, wake_worker = 0, drops = 0, last_look = 0;
    void* data = m->data;
    size_t cap = m->cap;
    memset(&it, 0, sizeof it);
    hil__enter(a);
    for (;;) {
        if (a->rxq.count) {
            int was_full = a->rxq.count >= (size_t)a->queue_cap;
            hil__ring_pop(&a->rxq, &it);
            __atomic_store_n(&a->rx_count, a->rxq.count, __ATOMIC_RELEASE);
            if (a->backend == HIL_AUX_PROCESS) {
                a->owed++;
                if (a->owed >= (uint64_t)(a->queue_cap + 1) / 2 && a->session && !a->dead) {
                    grant = a->owed;
                    a->owed = 0;
                }
            } else if (was_full && a->overflow == HIL_AUX_OVERFLOW_BLOCK) {
                wake_worker = 1;
            }
            r = HIL_OK;
            break;
        }
        r = hil__usable(a);
        if (r != HIL_OK) break;
        if (a->eof) { r = hil_error(HIL_ERR_CLOSED, "%s", a->eof_why); break; }
        if (a->dead) { r = hil__dead_result(a); break; }
        if (a->backend == HIL_AUX_SIMPLE && !last_look) {
            /* simple reads the channel now, at least once even with timeout 0 */
            last_look = deadline != HIL_NEVER && hil_now_ns() >= deadline;
            hil__s_service(a, deadline);
            continue;
        }
        if (deadline != HIL_NEVER && hil_now_ns() >= deadline) {
            r = hil_aux_fail(a, HIL_ERR_TIMEOUT, "nothing received within %d ms", timeout_ms);
            break;
        }
        if (a->spin_us > 0 && !spun) {
            /* optional: a short spin saves the sleep and wake-up of a fast reply */
            uint64_t until = hil_now_ns() + (uint64_t)a->spin_us * 1000u;
            spun = 1;
            hil_mutex_unlock(&a->mu);
            while (__atomic_load_n(&a->rx_count, __ATOMIC_ACQUIRE) == 0 && hil_now_ns() < until) {
#if defined(__x86_64__) || defined(__i386__)
                __asm__ __volatile__("pause");
#endif
            }
            hil_mutex_lock(&a->mu);
            continue;
        }
        if (a->backend == HIL_AUX_THREAD) {
            hil__rx_sleep(a, deadline);
            continue;
        }
        a->rx_waiters++;
        hil__wait_step(a, deadline);
        a->rx_waiters--;
    }
    drops = a->dropped > a->dropped_reported;
    hil__leave(a);
    if (r == HIL_OK) {
        hil_msg_init(m, data, cap);
        hil__rxitem_to(&it, m);
    }
    if (wake_worker) hil_waker_wake(&a->ctl);
    if (grant) hil__p_credit(a, grant);
    if (drops) hil__warn_drops(a, 0);
    return r;
}

HIL_API size_t hil_aux_clear_buffer(hil_aux* a) {
    size_t n;
    int was_full, wake = 0;
    uint64_t grant = 0;
    hil__enter(a);
    if (a->backend == HIL_AUX_SIMPLE && a->state == HIL_AUX_RUNNING && !a->closing) {
        /* simple reads only when asked: take in what is pending, then forget it */
        uint64_t before;
        do {
            before = a->rx_total;
            hil__s_service(a, hil_now_ns());
        } while (a->rx_total != before);
    }
    was_full = a->rxq.count >= (size_t)a->queue_cap;
    n = hil__ring_clear(&a->rxq);
    __atomic_store_n(&a->rx_count, 0, __ATOMIC_RELEASE);
    if (a->backend == HIL_AUX_PROCESS && a->session && !a->dead && !a->closing) {
        hil__call c;
        hil_aux_report rep;
        a->owed += n;
        a->clearing = 1;
        a->cleared = 0;
        hil__call_init(&c, HIL__RQ_CLEAR);
        if (hil__aux_request(a, &c, 1, hil_deadline_ms(5000), &rep, NULL) == HIL_OK) n += a->cleared + (size_t)rep.status;
        a->clearing = 0;
        if (a->owed >= (uint64_t)(a->queue_cap + 1) / 2) {
            grant = a->owed;
            a->owed = 0;
        }
    } else if (was_full && a->overflow == HIL_AUX_OVERFLOW_BLOCK) {
        wake = 1;
    }
    hil__leave(a);
    if (wake && a->backend != HIL_AUX_PROCESS) hil_waker_wake(&a->ctl);
    if (grant) hil__p_credit(a, grant);
    hil__warn_drops(a, 0);
    return n;
}

HIL_API void hil_aux_get_stats(hil_aux* a, hil_aux_stats* out) {
    hil_mutex_lock(&a->mu);
    /* process: count what the child has sent so far too */
    if (a->backend == HIL_AUX_PROCESS && a->session && !a->dead && !a->pumping) hil__p_pump(a, hil_now_ns());
    out->received = a->rx_total;
    out->dropped = a->dropped;
    out->queued = a->rxq.count;
    out->commands = a->commands;
    hil_mutex_unlock(&a->mu);
}

/* ---- creating and deleting ------------------------------------------------------------------------------ */

static void hil__proxy_sink(hil_channel* ch, hil_aux* a);

HIL_API void hil_aux_config_init(hil_aux_config* c) {
    memset(c, 0, sizeof *c);
    c->backend = -1;
    c->auto_start = -1;
}

static int hil__auxopt_known(const hil_aux_opt* opts, const char* name) {
    size_t i;
    for (i = 0; opts && opts[i].name; i++)
        if (strcmp(opts[i].name, name) == 0) return 1;
    return 0;
}

typedef struct hil__auxkeys { hil_aux* a; size_t plen; hil_strbuf bad; size_t n; } hil__auxkeys;

static void hil__auxkeys_visit(const char* key, const hil_config_value* v, void* user) {
    hil__auxkeys* st = (hil__auxkeys*)user;
    const char* name;
    if (strncmp(key, st->a->prefix, st->plen) != 0) return;
    name = key + st->plen;
    if (hil__auxopt_known(hil__aux_common_opts, name) || hil__auxopt_known(st->a->impl->opts, name)) return;
    hil_sb_printf(&st->bad, "%s%s (%s)", st->n++ ? ", " : "", key, v->source);
}

/* Every auxiliaries.<name>.* key must be an option of its type: a key meant
 * for another type is a mistake worth stopping for. */
static hil_result hil__aux_check_keys(hil_aux* a) {
    hil__auxkeys st;
    hil_result r = HIL_OK;
    size_t i;
    memset(&st, 0, sizeof st);
    st.a = a;
    st.plen = strlen(a->prefix);
    hil_config_foreach(a->cfg, hil__auxkeys_visit, &st);
    if (a->own_cfg) hil_config_foreach(a->own_cfg, hil__auxkeys_visit, &st);
    if (st.n) {
        hil_strbuf known = {0, 0, 0, 0};
        for (i = 0; hil__aux_common_opts[i].name; i++)
            hil_sb_printf(&known, "%s%s", i ? ", " : "", hil__aux_common_opts[i].name);
        for (i = 0; a->impl->opts && a->impl->opts[i].name; i++) hil_sb_printf(&known, ", %s", a->impl->opts[i].name);
        r = hil_aux_fail(a, HIL_ERR_CONFIG, "not an option of type '%s': %s; its options are: %s", a->impl->type,
                         hil_sb_cstr(&st.bad), hil_sb_cstr(&known));
        hil_sb_free(&known);
    }
    hil_sb_free(&st.bad);
    return r;
}

static void hil__aux_free(hil_aux* a) {
    size_t i;
    hil__done* d;
    hil__req* rq;
    if (!a) return;
    if (a->impl && a->impl->destroy && a->configured) a->impl->destroy(a);
    for (i = 0; i < a->n_chs; i++) hil_channel_destroy(a->chs[i]);
    hil__ring_free(&a->rxq);
    while ((d = a->done) != NULL) { a->done = d->next; HIL_FREE(d); }
    while ((d = a->fifo_head) != NULL) { a->fifo_head = d->next; HIL_FREE(d); }
    while ((rq = a->q_head) != NULL) { a->q_head = rq->next; hil__req_free(rq); }
    while ((rq = a->w.head) != NULL) { a->w.head = rq->next; hil__req_free(rq); }
    hil_sb_free(&a->inbuf);
    HIL_FREE(a->abandoned);
    if (a->ctl.rfd >= 0) hil_waker_destroy(&a->ctl);
    hil_cond_destroy(&a->cv);
    hil_mutex_destroy(&a->mu);
    hil_mutex_destroy(&a->tx_mu);
    hil_mutex_destroy(&a->wr_mu);
    hil_mutex_destroy(&a->log_mu);
    if (a->own_cfg) hil_config_destroy(a->own_cfg);
    HIL_FREE(a->priv);
    HIL_FREE(a->prefix);
    HIL_FREE(a->logger);
    HIL_FREE(a->name);
    HIL_FREE(a);
}

HIL_API hil_result hil_aux_create(const hil_aux_config* c, hil_aux** out) {
    hil_aux* a;
    hil_result r;
    const char* tname;
    const char* conn;
    long long x;
    int auto_start = 1;
    size_t n;
    pthread_mutexattr_t ma;
    *out = NULL;
    hil_aux_module_init();
    if (!c || !c->name || !*c->name) {
        if (c && c->com) hil_channel_destroy(c->com);
        return hil_error(HIL_ERR_INVALID_ARG, "auxiliary: no name given");
    }
    a = (hil_aux*)calloc(1, sizeof *a);
    if (!a) {
        if (c->com) hil_channel_destroy(c->com);
        return hil_error(HIL_ERR_NO_MEMORY, "auxiliary '%s': out of memory", c->name);
    }
    a->sock = a->logsock = a->pidfd = -1;
    a->ctl.rfd = a->ctl.wfd = -1;
    hil_mutex_init(&a->mu);
    hil_cond_init(&a->cv);
    hil_mutex_init(&a->wr_mu);
    hil_mutex_init(&a->log_mu);
    pthread_mutexattr_init(&ma);
    pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&a->tx_mu.m, &ma);
    pthread_mutexattr_destroy(&ma);
    if (c->com) { a->chs[0] = c->com; a->n_chs = 1; }
    a->name = hil_strdup(c->name);
    n = strlen(c->name) + 16;
    a->logger = (char*)HIL_MALLOC(n);
    a->prefix = (char*)HIL_MALLOC(n);
    if (!a->name || !a->logger || !a->prefix) { hil__aux_free(a); return hil_error(HIL_ERR_NO_MEMORY, "out of memory"); }
    snprintf(a->logger, n, "hil.aux.%s", c->name);
    snprintf(a->prefix, n, "auxiliaries.%s.", c->name);
    a->cfg = c->config ? c->config : hil_cfg();
    a->user = c->user;
    if (c->options) {
        size_t i;
        r = hil_config_create(&a->own_cfg);
        for (i = 0; r == HIL_OK && c->options[i]; i++) {
            const char* eq = strchr(c->options[i], '=');
            char key[512];
            if (!eq) { r = hil_aux_fail(a, HIL_ERR_INVALID_ARG, "option '%s' is not key=value", c->options[i]); break; }
            snprintf(key, sizeof key, "%s%.*s", a->prefix, (int)(eq - c->options[i]), c->options[i]);
            r = hil_config_set(a->own_cfg, key, eq + 1, HIL_PRIO_CLI, "hil_aux_create");
        }
        if (r != HIL_OK) { hil__aux_free(a); return r; }
    }
    a->impl = c->impl;
    if (!a->impl) {
        tname = c->type ? c->type : hil_aux_opt_str(a, "type", NULL);
        if (!tname) {
            r = hil_error(HIL_ERR_CONFIG, "auxiliary '%s': no type: set auxiliaries.%s.type (one of the registered types)",
                          c->name, c->name);
            hil__aux_free(a);
            return r;
        }
        a->impl = hil_aux_type_find(tname);
        if (!a->impl) {
            const char* names[64];
            size_t m = hil_aux_types(names, 64);
            r = hil__unknown_type("auxiliary", c->name, tname, names, m < 64 ? m : 64);
            hil__aux_free(a);
            return r;
        }
    }
    r = hil__aux_check_keys(a);
    if (r == HIL_OK) {
        if (c->backend >= 0) a->backend = (hil_aux_backend)c->backend;
        else r = hil_aux_backend_parse(hil_aux_opt_str(a, "backend", "thread"), &a->backend);
        if (r != HIL_OK) r = hil_aux_fail(a, HIL_ERR_CONFIG, "%s", hil_last_error());
    }
    if (r == HIL_OK) r = hil_aux_opt_int(a, "queue_size", 1024, &a->queue_cap);
    if (r == HIL_OK && (a->queue_cap < 1 || a->queue_cap > 10000000))
        r = hil_aux_fail(a, HIL_ERR_CONFIG, "option %squeue_size: must be 1..10000000, got %lld", a->prefix, a->queue_cap);
    if (r == HIL_OK) {
        const char* ov = hil_aux_opt_str(a, "overflow", "block");
        if (strcmp(ov, "block") == 0) a->overflow = HIL_AUX_OVERFLOW_BLOCK;
        else if (strcmp(ov, "drop-oldest") == 0) a->overflow = HIL_AUX_OVERFLOW_DROP_OLDEST;
        else r = hil_aux_fail(a, HIL_ERR_CONFIG, "option %soverflow: block or drop-oldest, got '%s'", a->prefix, ov);
    }
    if (r == HIL_OK) r = hil_aux_opt_int(a, "spin_us", 0, &a->spin_us);
    if (r == HIL_OK) r = hil_aux_opt_int(a, "start_timeout_ms", 60000, &a->start_timeout_ms);
    if (r == HIL_OK) r = hil_aux_opt_bool(a, "crash_errors_test", 1, &a->crash_errors);
    if (r == HIL_OK && c->auto_start >= 0) auto_start = c->auto_start;
    else if (r == HIL_OK) r = hil_aux_opt_bool(a, "auto_start", 1, &auto_start);
    if (r == HIL_OK) r = hil__ring_init(&a->rxq, (size_t)a->queue_cap);
    if (r == HIL_OK) r = hil_waker_init(&a->ctl);
    if (r == HIL_OK && a->impl->state_size) {
        a->priv = calloc(1, a->impl->state_size);
        if (!a->priv) r = hil_aux_fail(a, HIL_ERR_NO_MEMORY, "out of memory");
    }
    if (r == HIL_OK && !a->n_chs) {
        conn = c->com_connector ? c->com_connector : hil_aux_opt_str(a, "connectors.com", NULL);
        if (conn && *conn) {
            hil_channel_config cc;
            hil_channel* ch = NULL;
            hil_channel_config_init(&cc);
            cc.name = conn;
            cc.config = c->config;
            r = hil_channel_create(&cc, &ch);
            if (r == HIL_OK) { a->chs[0] = ch; a->n_chs = 1; }
            else r = hil_aux_fail(a, r, "%s", hil_last_error());
        }
    }
    if (r == HIL_OK && a->backend == HIL_AUX_PROCESS && a->n_chs &&
        strcmp(hil_channel_get_type(a->chs[0])->name, "proxy") == 0)
        r = hil_aux_fail(a, HIL_ERR_CONFIG,
                         "backend process cannot use proxy channel '%s' (a proxy lives in this process): "
                         "use backend thread or simple", hil_channel_name(a->chs[0]));
    (void)x;
    if (r == HIL_OK && a->impl->configure) {
        hil_clear_error();
        r = a->impl->configure(a);
        if (r != HIL_OK && !hil_last_error()[0]) r = hil_aux_fail(a, r, "configure failed");
        a->configured = r == HIL_OK;
    }
    if (r == HIL_OK) r = hil__auxreg_add(a);
    /* a communication auxiliary only queues what it receives: a proxy may do that for it */
    if (r == HIL_OK && a->impl->receive_message == hil__com_receive && a->backend != HIL_AUX_PROCESS && a->n_chs) {
        hil__proxy_sink(a->chs[0], a);
        a->px_sink = 1;
    }
    if (r != HIL_OK) {
        char keep[900];
        hil__scopy(keep, sizeof keep, hil_last_error());
        hil__aux_free(a);
        return hil_error(r, "%s", keep);
    }
    a->state = HIL_AUX_NEW;
    if (auto_start) {
        r = hil_aux_start(a, (int)a->start_timeout_ms);
        if (r != HIL_OK) {
            char keep[900];
            hil__scopy(keep, sizeof keep, hil_last_error());
            if (a->px_sink) hil__proxy_sink(a->chs[0], NULL);
            hil__auxreg_remove(a);
            hil__aux_free(a);
            return hil_error(r, "%s", keep);
        }
    }
    *out = a;
    return HIL_OK;
}

HIL_API hil_result hil_aux_from_config(const char* name, hil_aux** out) {
    hil_aux_config c;
    hil_aux_config_init(&c);
    c.name = name;
    return hil_aux_create(&c, out);
}

HIL_API void hil_aux_destroy(hil_aux* a) {
    int stuck;
    if (!a) return;
    hil__warn_drops(a, 0);
    (void)hil_aux_stop(a, 5000);
    hil_mutex_lock(&a->mu);
    a->destroying = 1;
    hil__wake(a);
    while (a->users > 0) hil_cond_wait(&a->cv, &a->mu);
    stuck = a->session;
    hil_mutex_unlock(&a->mu);
    if (a->registered) hil__auxreg_remove(a);
    if (a->px_sink) hil__proxy_sink(a->chs[0], NULL);
    if (stuck) {
        /* its worker still runs the implementation: freeing would pull the
         * memory from under it */
        HIL_ERROR(a->logger, "auxiliary '%s': its worker did not stop; it and its memory are left behind", a->name);
        return;
    }
    hil__aux_free(a);
}

/* ---- communication ---------------------------------------------------------------------------------------- */

static hil_result hil__open_com(hil_aux* a) {
    hil_channel* ch = hil_aux_com(a);
    hil_result r;
    if (!ch) return hil_aux_fail(a, HIL_ERR_CONFIG, "no com channel: set %sconnectors.com", a->prefix);
    r = hil_channel_open(ch);
    if (r != HIL_OK) return hil_aux_fail(a, r, "opening connector '%s': %s", hil_channel_name(ch), hil_last_error());
    return HIL_OK;
}

static hil_result hil__com_create(hil_aux* a) { return hil__open_com(a); }

static void hil__com_delete(hil_aux* a) { hil_channel_close(hil_aux_com(a)); }

/* Everything that is there, up to 64 messages (then the worker looks at
 * its requests again), queued as one batch. In block mode the batch stops
 * at the room left, so the queue overshoots by one message at most. */
HIL__SHARED hil_config* hil__aux_cfg(hil_aux* a) { return a->cfg; }

HIL__SHARED hil_result hil__com_receive(hil_aux* a, size_t index) {
    unsigned char buf[65536];
    hil__rxitem items[64];
    hil_channel* ch = hil_aux_channel(a, index);
    size_t n = 0, room = 64;
    hil_result r = HIL_OK, d;
    if (a->overflow == HIL_AUX_OVERFLOW_BLOCK && !a->w.in_child) {
        size_t q = __atomic_load_n(&a->rx_count, __ATOMIC_ACQUIRE);
        room = q < (size_t)a->queue_cap ? (size_t)a->queue_cap - q : 1;
        if (room > 64) room = 64;
    }
    while (n < room) {
        hil_msg m;
        hil_msg_init(&m, buf, sizeof buf);
        r = hil_channel_recv(ch, &m, 0);
        if (r == HIL_ERR_AGAIN || r == HIL_ERR_TIMEOUT) { r = HIL_OK; break; }
        if (r != HIL_OK) break;
        r = hil__rxitem_from(&items[n], &m);
        if (r != HIL_OK) break;
        n++;
    }
    /* what was read is delivered even when the channel then failed */
    d = n ? hil__deliver_items(a, items, n, 0, NULL) : HIL_OK;
    return r != HIL_OK ? r : d;
}

static const hil_aux_impl hil__com_type = {
    "communication", "Send and receive raw messages on one channel; everything received is queued",
    0, NULL, NULL, hil__com_create, hil__com_delete, NULL, NULL, hil__com_receive, NULL
};

/* ---- traffic lines (proxy trace, record "hex") ----------------------------------------------------------- */

static void hil__traffic_line(FILE* f, const hil_msg* m, const char* dir, const char* who) {
    char ts[40];
    size_t i;
    hil_format_time_iso(m->timestamp_ns ? m->timestamp_ns : hil_wall_ns(), ts, sizeof ts);
    fprintf(f, "%s %s %s id=0x%x flags=0x%x len=%zu:", ts, dir, who, (unsigned)m->remote_id, (unsigned)m->flags,
            m->len);
    for (i = 0; i < m->len; i++) fprintf(f, " %02x", ((const unsigned char*)m->data)[i]);
    fputc('\n', f);
}

/* ---- proxy ------------------------------------------------------------------------------------------------- */

/* Attachments of proxy channels to proxies, and sends in flight. */
static hil_mutex hil__px_mu = {PTHREAD_MUTEX_INITIALIZER};
static hil_cond hil__px_cv; /* initialised by hil_aux_module_init */
static int hil__px_waking;  /* wake-ups after hil__px_mu was released (under hil__px_mu) */

/* Auxiliaries fed directly whose receivers must be woken once hil__px_mu
 * is released: a woken receiver must not run into that lock. */
typedef struct hil__px_wakes { hil_aux* a[64]; size_t n; } hil__px_wakes;

/* hil__px_mu held */
static void hil__px_wakes_add(hil__px_wakes* w, hil_aux* a) {
    if (w->n < sizeof w->a / sizeof w->a[0]) w->a[w->n++] = a;
    else hil__rx_wake(a);
}

/* hil__px_mu held on entry; released on return. */
static void hil__px_wakes_run(hil__px_wakes* w) {
    size_t i;
    if (!w->n) {
        hil_mutex_unlock(&hil__px_mu);
        return;
    }
    hil__px_waking++; /* a destroy waits: the auxiliaries stay alive */
    hil_mutex_unlock(&hil__px_mu);
    for (i = 0; i < w->n; i++) hil__rx_wake(w->a[i]);
    hil_mutex_lock(&hil__px_mu);
    if (--hil__px_waking == 0) hil_cond_broadcast(&hil__px_cv);
    hil_mutex_unlock(&hil__px_mu);
}

typedef struct hil__pxch hil__pxch;

typedef struct hil__proxy {
    int echo;
    long long chq;
    const char* trace_path;
    FILE* trace;
    hil_mutex trace_mu;
    int down;             /* instance deleted: proxy channels see end of file */
    char why[400];        /* why the shared channel ended (under hil__px_mu) */
    int inflight;         /* sends through it (atomic; taken under hil__px_mu) */
    hil__pxch* list;      /* attached proxy channels (under hil__px_mu) */
} hil__proxy;

struct hil__pxch {
    hil_mutex mu;
    hil_waker readable;
    hil__ring q;
    int ready, closed, eof, warned;
    char* proxy_name;
    hil_aux* proxy;       /* under hil__px_mu */
    hil__pxch* next;      /* in the proxy's list, under hil__px_mu */
    hil_channel* ch;
    long long cap;
    hil_aux* sink;        /* a communication auxiliary fed directly (under hil__px_mu) */
};

static void hil__px_trace(hil__proxy* px, const hil_msg* m, const char* dir, const char* who) {
    if (!px->trace) return;
    hil_mutex_lock(&px->trace_mu);
    hil__traffic_line(px->trace, m, dir, who);
    hil_mutex_unlock(&px->trace_mu);
}

/* hil__px_mu held: a copy for one proxy channel. */
static void hil__pxch_push(hil__pxch* p, const hil_msg* m, uint32_t extra_flags, hil__px_wakes* wakes) {
    hil__rxitem it, old;
    int dropped = 0, first = 0;
    if (p->sink) {
        /* straight into the auxiliary's queue: its worker need not wake */
        int wake = 0;
        (void)hil__deliver(p->sink, m, extra_flags, 1, &wake);
        if (wake) hil__px_wakes_add(wakes, p->sink);
        return;
    }
    if (hil__rxitem_from(&it, m) != HIL_OK) return;
    it.flags |= extra_flags;
    hil_mutex_lock(&p->mu);
    if (p->closed) {
        hil_mutex_unlock(&p->mu);
        HIL_FREE(it.data);
        return;
    }
    if (p->q.count >= (size_t)p->cap && hil__ring_pop(&p->q, &old)) {
        HIL_FREE(old.data);
        dropped = 1;
        first = !p->warned;
        p->warned = 1;
    }
    if (!hil__ring_push(&p->q, &it, 0)) HIL_FREE(it.data);
    if (p->q.count == 1) hil_waker_wake(&p->readable);
    hil_mutex_unlock(&p->mu);
    if (dropped) {
        hil_channel_count(p->ch, &hil_channel_stats_ptr(p->ch)->rx_dropped, 1);
        if (first) {
            HIL_WARN("hil.aux.proxy", "proxy channel '%s': its queue (%lld messages) is full: the oldest are dropped "
                     "(counted in its rx_dropped)", hil_channel_name(p->ch), p->cap);
            hil_test_warn("proxy channel '%s' dropped messages: its auxiliary did not read them in time (queue of %lld)",
                          hil_channel_name(p->ch), p->cap);
        }
    }
}

static const hil_channel_opt hil__pxch_opts[] = {
    {"proxy", HIL_OPT_STRING, NULL, "proxy: the proxy auxiliary this channel goes through", NULL},
    {NULL, HIL_OPT_STRING, NULL, NULL, NULL}
};

static hil_result hil__pxch_configure(hil_channel* ch) {
    hil__pxch* p = (hil__pxch*)hil_channel_state(ch);
    const char* name = hil_channel_opt_str(ch, "proxy", NULL);
    if (!name || !*name)
        return hil_channel_error(ch, HIL_ERR_CONFIG, "option proxy: name the proxy auxiliary (connectors.%s.proxy)",
                                 hil_channel_name(ch));
    p->proxy_name = hil_strdup(name);
    p->ch = ch;
    if (!p->proxy_name) return hil_channel_error(ch, HIL_ERR_NO_MEMORY, "out of memory");
    return HIL_OK;
}

static void hil__pxch_detach(hil__pxch* p) {
    hil__pxch** pp;
    hil__proxy* px;
    if (!p->proxy) return;
    px = (hil__proxy*)hil_aux_priv(p->proxy);
    for (pp = &px->list; *pp; pp = &(*pp)->next)
        if (*pp == p) { *pp = p->next; break; }
    p->proxy = NULL;
    p->next = NULL;
}

static hil_result hil__pxch_open(hil_channel* ch) {
    hil__pxch* p = (hil__pxch*)hil_channel_state(ch);
    hil_aux* a = hil_aux_get(p->proxy_name);
    hil__proxy* px;
    if (!a || strcmp(hil_aux_type(a), "proxy") != 0)
        return hil_channel_error(ch, HIL_ERR_NOT_FOUND, "no proxy auxiliary named '%s' (auxiliaries.%s.type = proxy)",
                                 p->proxy_name, p->proxy_name);
    if (hil_aux_get_state(a) != HIL_AUX_RUNNING)
        return hil_channel_error(ch, HIL_ERR_STATE, "proxy auxiliary '%s' is %s", p->proxy_name,
                                 hil_aux_state_str(hil_aux_get_state(a)));
    px = (hil__proxy*)hil_aux_priv(a);
    if (!p->ready) {
        if (hil_waker_init(&p->readable) != HIL_OK) return hil_channel_error(ch, HIL_ERR_IO, "%s", hil_last_error());
        hil_mutex_init(&p->mu);
        p->cap = px->chq;
        if (hil__ring_init(&p->q, (size_t)p->cap) != HIL_OK) {
            hil_waker_destroy(&p->readable);
            hil_mutex_destroy(&p->mu);
            return hil_channel_error(ch, HIL_ERR_NO_MEMORY, "%s", hil_last_error());
        }
        p->ready = 1;
    }
    hil_mutex_lock(&p->mu);
    p->closed = 0;
    p->eof = 0;
    hil__ring_clear(&p->q);
    hil_waker_drain(&p->readable);
    hil_mutex_unlock(&p->mu);
    hil_mutex_lock(&hil__px_mu);
    p->proxy = a;
    p->next = px->list;
    px->list = p;
    hil_mutex_unlock(&hil__px_mu);
    return HIL_OK;
}

/* Detach only: the shared channel stays open for the others. */
static void hil__pxch_close(hil_channel* ch) {
    hil__pxch* p = (hil__pxch*)hil_channel_state(ch);
    hil_mutex_lock(&hil__px_mu);
    hil__pxch_detach(p);
    hil_mutex_unlock(&hil__px_mu);
    if (!p->ready) return;
    hil_mutex_lock(&p->mu);
    p->closed = 1;
    hil__ring_clear(&p->q);
    hil_waker_wake(&p->readable); /* a blocked reader sees the close */
    hil_mutex_unlock(&p->mu);
}

static void hil__pxch_destroy(hil_channel* ch) {
    hil__pxch* p = (hil__pxch*)hil_channel_state(ch);
    if (p->ready) {
        hil__ring_free(&p->q);
        hil_waker_destroy(&p->readable);
        hil_mutex_destroy(&p->mu);
        p->ready = 0;
    }
    HIL_FREE(p->proxy_name);
    p->proxy_name = NULL;
}

/* Take the proxy for one send or board operation: while inflight is raised
 * its delete waits (hil__pxch_release wakes it), so the shared channel stays
 * open. HIL_ERR_CLOSED when the proxy is gone or going down. */
static hil_result hil__pxch_acquire(hil_channel* ch, hil_aux** out) {
    hil__pxch* p = (hil__pxch*)hil_channel_state(ch);
    hil_aux* a;
    hil__proxy* px;
    *out = NULL;
    hil_mutex_lock(&hil__px_mu);
    a = p->proxy;
    px = a ? (hil__proxy*)hil_aux_priv(a) : NULL;
    if (!px || __atomic_load_n(&px->down, __ATOMIC_ACQUIRE)) {
        hil_mutex_unlock(&hil__px_mu);
        return hil_channel_error(ch, HIL_ERR_CLOSED, "proxy auxiliary '%s' is not running", p->proxy_name);
    }
    __atomic_add_fetch(&px->inflight, 1, __ATOMIC_ACQ_REL);
    hil_mutex_unlock(&hil__px_mu);
    *out = a;
    return HIL_OK;
}

static void hil__pxch_release(hil__proxy* px) {
    if (__atomic_sub_fetch(&px->inflight, 1, __ATOMIC_ACQ_REL) == 0 && __atomic_load_n(&px->down, __ATOMIC_ACQUIRE)) {
        hil_mutex_lock(&hil__px_mu); /* its delete waits for the last send */
        hil_cond_broadcast(&hil__px_cv);
        hil_mutex_unlock(&hil__px_mu);
    }
}

static hil_result hil__pxch_send(hil_channel* ch, const hil_msg* m, int timeout_ms) {
    hil__pxch* p = (hil__pxch*)hil_channel_state(ch);
    hil_aux* a;
    hil__proxy* px;
    hil_result r = hil__pxch_acquire(ch, &a);
    if (r != HIL_OK) return r;
    px = (hil__proxy*)hil_aux_priv(a);
    r = hil_aux_send(a, hil_aux_com(a), m, timeout_ms);
    if (r == HIL_OK) hil__px_trace(px, m, "TX", hil_channel_name(ch));
    if (r == HIL_OK && px->echo) {
        hil__pxch* o;
        hil__px_wakes wakes;
        wakes.n = 0;
        hil_mutex_lock(&hil__px_mu);
        for (o = px->list; o; o = o->next)
            if (o != p) hil__pxch_push(o, m, HIL_MSG_ECHO, &wakes);
        hil__px_wakes_run(&wakes);
    }
    hil__pxch_release(px);
    return r;
}

static hil_result hil__pxch_recv(hil_channel* ch, hil_msg* m, int timeout_ms) {
    hil__pxch* p = (hil__pxch*)hil_channel_state(ch);
    uint64_t deadline = hil_deadline_ms(timeout_ms);
    for (;;) {
        hil__rxitem it;
        hil_mutex_lock(&p->mu);
        if (hil__ring_pop(&p->q, &it)) {
            if (!p->q.count) hil_waker_drain(&p->readable);
            hil_mutex_unlock(&p->mu);
            hil__rxitem_to(&it, m);
            return HIL_OK;
        }
        if (p->closed || p->eof) {
            char why[400] = "";
            hil_mutex_unlock(&p->mu);
            hil_mutex_lock(&hil__px_mu);
            if (p->proxy) hil__scopy(why, sizeof why, ((hil__proxy*)hil_aux_priv(p->proxy))->why);
            hil_mutex_unlock(&hil__px_mu);
            if (why[0]) return hil_channel_error(ch, HIL_ERR_CLOSED, "%s", why);
            return hil_channel_error(ch, HIL_ERR_CLOSED, "proxy auxiliary '%s' stopped", p->proxy_name);
        }
        hil_mutex_unlock(&p->mu);
        if (timeout_ms == 0) return HIL_ERR_AGAIN;
        if (hil_wait_readable(hil_waker_fd(&p->readable), hil_deadline_left_ms(deadline)) == HIL_ERR_TIMEOUT)
            return HIL_ERR_TIMEOUT;
    }
}

static int hil__pxch_poll_fd(hil_channel* ch) {
    hil__pxch* p = (hil__pxch*)hil_channel_state(ch);
    return p->ready ? hil_waker_fd(&p->readable) : -1;
}

/* Board control (hil_channel_reset/power/flash) on a proxy channel acts on
 * the shared channel: it is the same board. The proxy stays up meanwhile
 * (inflight, like a send). */
static hil_result hil__pxch_board(hil_channel* ch, int op, int on, const char* image, int timeout_ms) {
    hil_aux* a;
    hil__proxy* px;
    hil_result r = hil__pxch_acquire(ch, &a);
    if (r != HIL_OK) return r;
    px = (hil__proxy*)hil_aux_priv(a);
    r = op == 0 ? hil_channel_reset(hil_aux_com(a), timeout_ms)
        : op == 1 ? hil_channel_power(hil_aux_com(a), on, timeout_ms)
                  : hil_channel_flash(hil_aux_com(a), image, timeout_ms);
    hil__pxch_release(px);
    return r;
}

static hil_result hil__pxch_reset(hil_channel* ch, int timeout_ms) { return hil__pxch_board(ch, 0, 0, NULL, timeout_ms); }
static hil_result hil__pxch_power(hil_channel* ch, int on, int timeout_ms) {
    return hil__pxch_board(ch, 1, on, NULL, timeout_ms);
}
static hil_result hil__pxch_flash(hil_channel* ch, const char* image, int timeout_ms) {
    return hil__pxch_board(ch, 2, 0, image, timeout_ms);
}
static const hil_board_ops hil__pxch_board_ops = {hil__pxch_reset, hil__pxch_power, hil__pxch_flash};

static const hil_channel_type hil__proxy_channel_type = {
    "proxy", "A channel shared through a proxy auxiliary (connectors.<name>.proxy)", 0, sizeof(hil__pxch),
    hil__pxch_opts, hil__pxch_configure, hil__pxch_open, hil__pxch_close, hil__pxch_send, hil__pxch_recv,
    hil__pxch_poll_fd, hil__pxch_destroy
};

HIL_API hil_result hil_proxy_channel_create(hil_aux* proxy, const char* name, hil_channel** out) {
    hil_channel_config c;
    char opt[300];
    const char* opts[2];
    *out = NULL;
    if (!proxy || strcmp(hil_aux_type(proxy), "proxy") != 0)
        return hil_error(HIL_ERR_INVALID_ARG, "proxy channel '%s': '%s' is not a proxy auxiliary", name ? name : "",
                         proxy ? hil_aux_name(proxy) : "(null)");
    snprintf(opt, sizeof opt, "proxy=%s", hil_aux_name(proxy));
    opts[0] = opt;
    opts[1] = NULL;
    hil_channel_config_init(&c);
    c.name = name;
    c.type = "proxy";
    c.options = opts;
    return hil_channel_create(&c, out);
}

/* A communication auxiliary on a proxy channel takes messages directly. */
static void hil__proxy_sink(hil_channel* ch, hil_aux* a) {
    hil__pxch* p;
    if (!ch || strcmp(hil_channel_get_type(ch)->name, "proxy") != 0) return;
    p = (hil__pxch*)hil_channel_state(ch);
    hil_mutex_lock(&hil__px_mu);
    p->sink = a;
    /* no wake-up of the old sink may still be under way when it is freed */
    while (!a && hil__px_waking > 0) hil_cond_wait(&hil__px_cv, &hil__px_mu);
    hil_mutex_unlock(&hil__px_mu);
}

static const hil_aux_opt hil__proxy_opts[] = {
    {"echo", HIL_OPT_BOOL, "false", "proxy: copy each proxy channel's sends to the other proxy channels", NULL},
    {"trace", HIL_OPT_PATH, NULL, "proxy/...: a file for every message with its time and direction", NULL},
    {"channel_queue", HIL_OPT_INT, "1024", "proxy: messages each proxy channel keeps for its auxiliary", NULL},
    {NULL, HIL_OPT_STRING, NULL, NULL, NULL}
};

static hil_result hil__proxy_configure(hil_aux* a) {
    hil__proxy* px = (hil__proxy*)hil_aux_priv(a);
    hil_result r = hil_aux_opt_bool(a, "echo", 0, &px->echo);
    if (r == HIL_OK) r = hil_aux_opt_int(a, "channel_queue", 1024, &px->chq);
    if (r == HIL_OK && (px->chq < 1 || px->chq > 10000000))
        r = hil_aux_fail(a, HIL_ERR_CONFIG, "option %schannel_queue: must be 1..10000000", a->prefix);
    px->trace_path = hil_aux_opt_str(a, "trace", NULL);
    if (px->trace_path) px->trace_path = hil_strdup(px->trace_path);
    hil_mutex_init(&px->trace_mu);
    if (hil_aux_get_backend(a) == HIL_AUX_PROCESS && r == HIL_OK)
        r = hil_aux_fail(a, HIL_ERR_CONFIG, "a proxy serves proxy channels in this process: use backend thread or simple");
    return r;
}

static hil_result hil__proxy_create(hil_aux* a) {
    hil__proxy* px = (hil__proxy*)hil_aux_priv(a);
    hil__pxch* p;
    hil_result r = hil__open_com(a);
    if (r != HIL_OK) return r;
    if (px->trace_path && !px->trace) {
        px->trace = fopen(px->trace_path, "w");
        if (!px->trace) {
            r = hil_aux_fail(a, HIL_ERR_IO, "trace file %s: %s (does its directory exist and is it writable?)",
                             px->trace_path, strerror(errno));
            hil_channel_close(hil_aux_com(a));
            return r;
        }
        setvbuf(px->trace, NULL, _IOLBF, 0);
    }
    hil_mutex_lock(&hil__px_mu);
    __atomic_store_n(&px->down, 0, __ATOMIC_RELEASE);
    px->why[0] = 0;
    for (p = px->list; p; p = p->next) {
        hil_mutex_lock(&p->mu);
        p->eof = 0;
        hil_mutex_unlock(&p->mu);
    }
    hil_mutex_unlock(&hil__px_mu);
    return HIL_OK;
}

static void hil__proxy_delete(hil_aux* a) {
    hil__proxy* px = (hil__proxy*)hil_aux_priv(a);
    hil__pxch* p;
    hil_mutex_lock(&hil__px_mu);
    __atomic_store_n(&px->down, 1, __ATOMIC_RELEASE);
    for (p = px->list; p; p = p->next) {
        hil_mutex_lock(&p->mu);
        p->eof = 1;
        hil_waker_wake(&p->readable);
        hil_mutex_unlock(&p->mu);
    }
    while (__atomic_load_n(&px->inflight, __ATOMIC_ACQUIRE) > 0) hil_cond_wait(&hil__px_cv, &hil__px_mu);
    hil_mutex_unlock(&hil__px_mu);
    hil_channel_close(hil_aux_com(a));
    if (px->trace) {
        fclose(px->trace);
        px->trace = NULL;
    }
}

static void hil__proxy_line_ended(hil__proxy* px, const char* why) {
    hil__pxch* p;
    hil_mutex_lock(&hil__px_mu);
    hil__scopy(px->why, sizeof px->why, why && *why ? why : "the shared channel ended");
    for (p = px->list; p; p = p->next) {
        hil_mutex_lock(&p->mu);
        p->eof = 1;
        hil_waker_wake(&p->readable);
        hil_mutex_unlock(&p->mu);
    }
    hil_mutex_unlock(&hil__px_mu);
}

static hil_result hil__proxy_receive(hil_aux* a, size_t index) {
    hil__proxy* px = (hil__proxy*)hil_aux_priv(a);
    unsigned char buf[65536];
    hil_channel* ch = hil_aux_channel(a, index);
    int k;
    for (k = 0; k < 64; k++) {
        hil_msg m;
        hil__pxch* p;
        hil_result r;
        hil_msg_init(&m, buf, sizeof buf);
        r = hil_channel_recv(ch, &m, 0);
        if (r == HIL_ERR_AGAIN || r == HIL_ERR_TIMEOUT) return HIL_OK;
        if (r != HIL_OK) {
            /* the shared line ended: every user learns it now (after what
             * is queued for it), not at the end of its receive timeout */
            hil__proxy_line_ended(px, hil_last_error());
            return r;
        }
        hil__px_wakes wakes;
        wakes.n = 0;
        hil__px_trace(px, &m, "RX", hil_channel_name(ch));
        hil_mutex_lock(&hil__px_mu);
        for (p = px->list; p; p = p->next) hil__pxch_push(p, &m, 0, &wakes);
        hil__px_wakes_run(&wakes);
    }
    return HIL_OK;
}

static void hil__proxy_destroy(hil_aux* a) {
    hil__proxy* px = (hil__proxy*)hil_aux_priv(a);
    hil_mutex_lock(&hil__px_mu);
    while (px->list) {
        hil__pxch* p = px->list;
        hil_mutex_lock(&p->mu);
        p->eof = 1;
        hil_waker_wake(&p->readable);
        hil_mutex_unlock(&p->mu);
        hil__pxch_detach(p);
    }
    hil_mutex_unlock(&hil__px_mu);
    if (px->trace) fclose(px->trace);
    HIL_FREE((void*)px->trace_path);
    hil_mutex_destroy(&px->trace_mu);
}

static const hil_aux_impl hil__proxy_type = {
    "proxy", "One channel shared by several auxiliaries through proxy channels", sizeof(hil__proxy),
    hil__proxy_opts, hil__proxy_configure, hil__proxy_create, hil__proxy_delete, NULL, NULL, hil__proxy_receive,
    hil__proxy_destroy
};

/* ---- record ------------------------------------------------------------------------------------------------------- */

static hil_mutex hil__recfmt_mu = {PTHREAD_MUTEX_INITIALIZER};
static const hil_record_format* hil__recfmts[16];
static size_t hil__n_recfmts;

HIL_API hil_result hil_record_format_register(const hil_record_format* f) {
    size_t i;
    if (!f || !f->name || !f->open || !f->write || !f->close)
        return hil_error(HIL_ERR_INVALID_ARG, "record format: name, open, write and close are required");
    hil_mutex_lock(&hil__recfmt_mu);
    for (i = 0; i < hil__n_recfmts; i++) {
        if (hil__recfmts[i] == f) { hil_mutex_unlock(&hil__recfmt_mu); return HIL_OK; }
        if (strcmp(hil__recfmts[i]->name, f->name) == 0) {
            hil_mutex_unlock(&hil__recfmt_mu);
            return hil_error(HIL_ERR_EXISTS, "record format '%s' is registered twice", f->name);
        }
    }
    if (hil__n_recfmts == sizeof hil__recfmts / sizeof hil__recfmts[0]) {
        hil_mutex_unlock(&hil__recfmt_mu);
        return hil_error(HIL_ERR_OVERFLOW, "too many record formats (at most 16)");
    }
    hil__recfmts[hil__n_recfmts++] = f;
    hil_mutex_unlock(&hil__recfmt_mu);
    return HIL_OK;
}

HIL_API const hil_record_format* hil_record_format_find(const char* name) {
    size_t i;
    const hil_record_format* f = NULL;
    hil_aux_module_init();
    hil_mutex_lock(&hil__recfmt_mu);
    for (i = 0; name && i < hil__n_recfmts; i++)
        if (strcmp(hil__recfmts[i]->name, name) == 0) f = hil__recfmts[i];
    hil_mutex_unlock(&hil__recfmt_mu);
    return f;
}

typedef struct hil__hexrec { FILE* f; char* channel; } hil__hexrec;

static hil_result hil__hex_open(void** state, const char* path, const char* channel) {
    hil__hexrec* h = (hil__hexrec*)calloc(1, sizeof *h);
    if (!h) return hil_error(HIL_ERR_NO_MEMORY, "out of memory");
    h->f = fopen(path, "w");
    if (!h->f) {
        int e = errno;
        HIL_FREE(h);
        return hil_error(HIL_ERR_IO, "record file %s: %s (does its directory exist and is it writable?)", path,
                         strerror(e));
    }
    setvbuf(h->f, NULL, _IOLBF, 0); /* every line is on disk if we crash */
    h->channel = hil_strdup(channel);
    fprintf(h->f, "# hil record of '%s': time direction channel id flags len: bytes\n", channel);
    *state = h;
    return HIL_OK;
}

static hil_result hil__hex_write(void* state, const hil_msg* m, int tx) {
    hil__hexrec* h = (hil__hexrec*)state;
    hil__traffic_line(h->f, m, tx ? "TX" : "RX", h->channel);
    return ferror(h->f) ? hil_error(HIL_ERR_IO, "record file: write failed (disk full?)") : HIL_OK;
}

static hil_result hil__hex_mark(void* state, const char* text) {
    hil__hexrec* h = (hil__hexrec*)state;
    char ts[40];
    hil_format_time_iso(hil_wall_ns(), ts, sizeof ts);
    fprintf(h->f, "# %s MARK %s\n", ts, text);
    return HIL_OK;
}

static void hil__hex_close(void* state) {
    hil__hexrec* h = (hil__hexrec*)state;
    fclose(h->f);
    HIL_FREE(h->channel);
    HIL_FREE(h);
}

static const hil_record_format hil__hex_format = {
    "hex", "Text: one line per message with ISO time, direction, channel, id, flags and hex bytes",
    hil__hex_open, hil__hex_write, hil__hex_mark, hil__hex_close
};

typedef struct hil__record {
    const char* file;
    const hil_record_format* fmt;
    void* state;
    int forward;
} hil__record;

static const hil_aux_opt hil__record_opts[] = {
    {"file", HIL_OPT_PATH, NULL, "record: the file the traffic is written to", NULL},
    {"format", HIL_OPT_STRING, "hex", "record: hex (text lines); formats registered by others (candump, pcap)", NULL},
    {"forward", HIL_OPT_BOOL, "false", "record: also queue what it records for hil_aux_receive_message", NULL},
    {NULL, HIL_OPT_STRING, NULL, NULL, NULL}
};

static hil_result hil__record_configure(hil_aux* a) {
    hil__record* rec = (hil__record*)hil_aux_priv(a);
    const char* f = hil_aux_opt_str(a, "file", NULL);
    const char* fmt = hil_aux_opt_str(a, "format", "hex");
    if (!f || !*f) return hil_aux_fail(a, HIL_ERR_CONFIG, "no file to record to: set %sfile", a->prefix);
    rec->fmt = hil_record_format_find(fmt);
    if (!rec->fmt) {
        size_t i;
        hil_strbuf sb = {0, 0, 0, 0};
        hil_result r;
        hil_mutex_lock(&hil__recfmt_mu);
        for (i = 0; i < hil__n_recfmts; i++) hil_sb_printf(&sb, "%s%s", i ? ", " : "", hil__recfmts[i]->name);
        hil_mutex_unlock(&hil__recfmt_mu);
        r = hil_aux_fail(a, HIL_ERR_CONFIG, "unknown record format '%s' (registered: %s)", fmt, hil_sb_cstr(&sb));
        hil_sb_free(&sb);
        return r;
    }
    rec->file = hil_strdup(f);
    return hil_aux_opt_bool(a, "forward", 0, &rec->forward);
}

static hil_result hil__record_create(hil_aux* a) {
    hil__record* rec = (hil__record*)hil_aux_priv(a);
    hil_result r = hil__open_com(a);
    if (r != HIL_OK) return r;
    r = rec->fmt->open(&rec->state, rec->file, hil_channel_name(hil_aux_com(a)));
    if (r != HIL_OK) {
        r = hil_aux_fail(a, r, "%s", hil_last_error());
        hil_channel_close(hil_aux_com(a));
    }
    return r;
}

static void hil__record_delete(hil_aux* a) {
    hil__record* rec = (hil__record*)hil_aux_priv(a);
    hil_channel_close(hil_aux_com(a));
    if (rec->state) rec->fmt->close(rec->state);
    rec->state = NULL;
}

static hil_result hil__record_receive(hil_aux* a, size_t index) {
    hil__record* rec = (hil__record*)hil_aux_priv(a);
    unsigned char buf[65536];
    hil_channel* ch = hil_aux_channel(a, index);
    int k;
    for (k = 0; k < 64; k++) {
        hil_msg m;
        hil_result r;
        hil_msg_init(&m, buf, sizeof buf);
        r = hil_channel_recv(ch, &m, 0);
        if (r == HIL_ERR_AGAIN || r == HIL_ERR_TIMEOUT) return HIL_OK;
        if (r != HIL_OK) return r;
        r = rec->fmt->write(rec->state, &m, (m.flags & HIL_MSG_ECHO) ? 1 : 0);
        if (r != HIL_OK) HIL_ERROR(a->logger, "auxiliary '%s': %s", a->name, hil_last_error());
        if (rec->forward) hil_aux_deliver(a, &m);
    }
    return HIL_OK;
}

static hil_result hil__record_run(hil_aux* a, const hil_aux_cmd* cmd, hil_aux_report* rep) {
    hil__record* rec = (hil__record*)hil_aux_priv(a);
    char text[512];
    size_t n;
    (void)rep;
    if (cmd->code != HIL_RECORD_CMD_MARK)
        return hil_aux_fail(a, HIL_ERR_UNSUPPORTED, "unknown command %d (HIL_RECORD_CMD_MARK is %d)", cmd->code,
                            HIL_RECORD_CMD_MARK);
    n = cmd->len < sizeof text - 1 ? cmd->len : sizeof text - 1;
    if (n) memcpy(text, cmd->data, n);
    text[n] = 0;
    return rec->fmt->mark ? rec->fmt->mark(rec->state, text) : HIL_OK;
}

static void hil__record_destroy(hil_aux* a) {
    hil__record* rec = (hil__record*)hil_aux_priv(a);
    HIL_FREE((void*)rec->file);
}

static const hil_aux_impl hil__record_type = {
    "record", "Writes a channel's traffic to a file", sizeof(hil__record), hil__record_opts, hil__record_configure,
    hil__record_create, hil__record_delete, hil__record_run, NULL, hil__record_receive, hil__record_destroy
};

/* ---- the testApp message format ------------------------------------------------------------------------------- */

HIL_API uint16_t hil_tapp_crc16(const void* data, size_t len) {
    const uint8_t* p = (const uint8_t*)data;
    uint16_t crc = 0;
    size_t i;
    for (i = 0; i < len; i++) {
        /* byte-wise CRC-16/XMODEM without a table */
        uint16_t x = (uint16_t)(((crc >> 8) ^ p[i]) & 0xFF);
        x ^= (uint16_t)(x >> 4);
        crc = (uint16_t)((crc << 8) ^ (x << 12) ^ (x << 5) ^ x);
    }
    return crc;
}

HIL_API size_t hil_tapp_encode(const hil_tapp_msg* m, uint8_t* out) {
    size_t n = HIL_TAPP_HEADER + m->payload_len;
    uint16_t crc;
    out[0] = (uint8_t)(0x40u | ((m->type & 3u) << 4));
    out[1] = m->token;
    out[2] = m->sub_type;
    out[3] = m->error_code;
    out[4] = m->reserved;
    out[5] = m->suite;
    out[6] = m->test_case;
    out[7] = m->payload_len;
    if (m->payload_len) memcpy(out + HIL_TAPP_HEADER, m->payload, m->payload_len);
    crc = hil_tapp_crc16(out, n);
    out[n] = (uint8_t)(crc & 0xFF);
    out[n + 1] = (uint8_t)(crc >> 8);
    return n + 2;
}

HIL_API hil_result hil_tapp_decode(const uint8_t* buf, size_t len, hil_tapp_msg* m, size_t* used) {
    size_t total;
    uint16_t crc;
    *used = 0;
    if (len < 1) return HIL_ERR_AGAIN;
    if ((buf[0] & 0xCF) != 0x40) return HIL_ERR_PROTOCOL;
    if (len < HIL_TAPP_HEADER) return HIL_ERR_AGAIN;
    total = HIL_TAPP_HEADER + (size_t)buf[7] + 2;
    if (len < total) return HIL_ERR_AGAIN;
    *used = total;
    crc = hil_tapp_crc16(buf, total - 2);
    if ((uint8_t)(crc & 0xFF) != buf[total - 2] || (uint8_t)(crc >> 8) != buf[total - 1]) return HIL_ERR_CHECKSUM;
    memset(m, 0, sizeof *m);
    m->type = (uint8_t)((buf[0] >> 4) & 3u);
    m->token = buf[1];
    m->sub_type = buf[2];
    m->error_code = buf[3];
    m->reserved = buf[4];
    m->suite = buf[5];
    m->test_case = buf[6];
    m->payload_len = buf[7];
    if (m->payload_len) memcpy(m->payload, buf + HIL_TAPP_HEADER, m->payload_len);
    return HIL_OK;
}

HIL_API hil_result hil_tapp_add_tlv(hil_tapp_msg* m, uint8_t tag, const void* value, size_t len) {
    if (len > 255 || (size_t)m->payload_len + 2 + len > HIL_TAPP_MAX_PAYLOAD)
        return hil_error(HIL_ERR_OVERFLOW, "testApp message: a TLV of %zu bytes does not fit (payload at most 255)", len);
    m->payload[m->payload_len] = tag;
    m->payload[m->payload_len + 1] = (uint8_t)len;
    if (len) memcpy(m->payload + m->payload_len + 2, value, len);
    m->payload_len = (uint8_t)(m->payload_len + 2 + len);
    return HIL_OK;
}

HIL_API int hil_tapp_tlv_text(const hil_tapp_msg* m, uint8_t tag, char* out, size_t size) {
    size_t i = 0;
    while (i + 2 <= m->payload_len) {
        size_t len = m->payload[i + 1];
        if (i + 2 + len > m->payload_len) break;
        if (m->payload[i] == tag) {
            size_t n, k;
            if (!size) return 1; /* found, but not even the NUL fits */
            n = len < size - 1 ? len : size - 1;
            for (k = 0; k < n; k++) {
                char c = (char)m->payload[i + 2 + k];
                out[k] = (c >= 0x20 && c < 0x7f) ? c : '.';
            }
            out[n] = 0;
            return 1;
        }
        i += 2 + len;
    }
    if (size) out[0] = 0;
    return 0;
}

HIL_API const char* hil_tapp_command_str(int sub_type) {
    switch (sub_type) {
    case HIL_TAPP_PING: return "PING";
    case HIL_TAPP_SECTION_SETUP: return "SECTION_SETUP";
    case HIL_TAPP_SUITE_SETUP: return "SUITE_SETUP";
    case HIL_TAPP_CASE_SETUP: return "CASE_SETUP";
    case HIL_TAPP_SECTION_RUN: return "SECTION_RUN";
    case HIL_TAPP_SUITE_RUN: return "SUITE_RUN";
    case HIL_TAPP_CASE_RUN: return "CASE_RUN";
    case HIL_TAPP_SECTION_TEARDOWN: return "SECTION_TEARDOWN";
    case HIL_TAPP_SUITE_TEARDOWN: return "SUITE_TEARDOWN";
    case HIL_TAPP_CASE_TEARDOWN: return "CASE_TEARDOWN";
    case HIL_TAPP_ABORT: return "ABORT";
    }
    return "UNKNOWN";
}

static const char* hil__tapp_verdict_str(int v) {
    return v == HIL_TAPP_PASS ? "PASS" : v == HIL_TAPP_FAILED ? "FAILED" : v == HIL_TAPP_NOT_IMPLEMENTED ? "NOT_IMPLEMENTED"
                                                                                                       : "UNKNOWN";
}

/* Every TLV's value as text, "; "-separated (LOG messages). */
static void hil__tapp_all_text(const hil_tapp_msg* m, char* out, size_t size) {
    size_t i = 0, o = 0;
    out[0] = 0;
    while (i + 2 <= m->payload_len && o + 1 < size) {
        size_t len = m->payload[i + 1], k;
        if (i + 2 + len > m->payload_len) break;
        if (o && o + 2 < size) { out[o++] = ';'; out[o++] = ' '; }
        for (k = 0; k < len && o + 1 < size; k++) {
            char c = (char)m->payload[i + 2 + k];
            out[o++] = (c >= 0x20 && c < 0x7f) ? c : '.';
        }
        out[o] = 0;
        i += 2 + len;
    }
}

/* ---- DUT ------------------------------------------------------------------------------------------------------------ */

typedef struct hil__dut {
    long long ack_ms, report_ms, ping_ms, ping_tries, boot_ms;
    int ping_on_start;
    uint8_t token;
    uint8_t buf[4 * HIL_TAPP_MAX_MSG];
    size_t len;
    uint64_t bad;
} hil__dut;

static const hil_aux_opt hil__dut_opts[] = {
    {"ack_timeout_ms", HIL_OPT_INT, "5000", "dut: how long the target may take to ACK a command", NULL},
    {"report_timeout_ms", HIL_OPT_INT, "10000", "dut: how long a test step on the target may take to REPORT", NULL},
    {"ping_on_start", HIL_OPT_BOOL, "true", "dut: PING the target when the instance is created", NULL},
    {"ping_timeout_ms", HIL_OPT_INT, "2000", "dut: how long to wait for the ACK of a PING", NULL},
    {"ping_tries", HIL_OPT_INT, "2", "dut: PINGs sent before the target is declared silent", NULL},
    {"boot_timeout_ms", HIL_OPT_INT, "10000",
     "dut: after a reset of the board (hil_dut_reset), how long the firmware may take to send its boot LOG", NULL},
    {NULL, HIL_OPT_STRING, NULL, NULL, NULL}
};

static hil_result hil__dut_configure(hil_aux* a) {
    hil__dut* d = (hil__dut*)hil_aux_priv(a);
    hil_result r = hil_aux_opt_int(a, "ack_timeout_ms", 5000, &d->ack_ms);
    if (r == HIL_OK) r = hil_aux_opt_int(a, "report_timeout_ms", 10000, &d->report_ms);
    if (r == HIL_OK) r = hil_aux_opt_int(a, "ping_timeout_ms", 2000, &d->ping_ms);
    if (r == HIL_OK) r = hil_aux_opt_int(a, "ping_tries", 2, &d->ping_tries);
    if (r == HIL_OK) r = hil_aux_opt_bool(a, "ping_on_start", 1, &d->ping_on_start);
    if (r == HIL_OK) r = hil_aux_opt_int(a, "boot_timeout_ms", 10000, &d->boot_ms);
    if (r == HIL_OK && d->ping_tries < 1) d->ping_tries = 1;
    return r;
}

static hil_result hil__dut_send(hil_aux* a, const hil_tapp_msg* m) {
    uint8_t raw[HIL_TAPP_MAX_MSG];
    hil_msg out;
    hil_msg_init(&out, raw, sizeof raw);
    out.len = hil_tapp_encode(m, raw);
    return hil_aux_send(a, hil_aux_com(a), &out, 1000);
}

static void hil__dut_ack(hil_aux* a, const hil_tapp_msg* in) {
    hil_tapp_msg ack;
    memset(&ack, 0, sizeof ack);
    ack.type = HIL_TAPP_ACK;
    ack.token = in->token; /* an ACK echoes the token, suite and case */
    ack.sub_type = HIL_TAPP_ACK_OK;
    ack.suite = in->suite;
    ack.test_case = in->test_case;
    (void)hil__dut_send(a, &ack);
}

/* Take received bytes into the reassembly buffer: packet channels give
 * whole messages, byte streams give pieces; both work. */
static void hil__dut_take(hil__dut* d, const uint8_t* p, size_t n) {
    if (n > sizeof d->buf) { p += n - sizeof d->buf; n = sizeof d->buf; }
    if (d->len + n > sizeof d->buf) {
        size_t drop = d->len + n - sizeof d->buf;
        memmove(d->buf, d->buf + drop, d->len - drop);
        d->len -= drop;
        d->bad += drop;
    }
    memcpy(d->buf + d->len, p, n);
    d->len += n;
}

/* The next whole message: from the buffer, else read (waiting until
 * deadline, abortably, when wait is set). */
static hil_result hil__dut_next(hil_aux* a, hil_tapp_msg* out, uint64_t deadline, int wait) {
    hil__dut* d = (hil__dut*)hil_aux_priv(a);
    for (;;) {
        uint8_t raw[2 * HIL_TAPP_MAX_MSG];
        hil_msg m;
        hil_result r;
        while (d->len) {
            size_t used = 0;
            r = hil_tapp_decode(d->buf, d->len, out, &used);
            if (r == HIL_OK) {
                memmove(d->buf, d->buf + used, d->len - used);
                d->len -= used;
                return HIL_OK;
            }
            if (r == HIL_ERR_AGAIN) {
                /* A header whose message is not complete yet may be a false
                 * start: text inside a message we joined half-way ('p', '@'
                 * look like headers), or a message that lost a byte. A whole,
                 * valid message further on wins, so one false start cannot
                 * swallow the answers that follow it. */
                size_t k;
                for (k = 1; k < d->len; k++) {
                    if ((d->buf[k] & 0xCFu) != 0x40u) continue;
                    if (hil_tapp_decode(d->buf + k, d->len - k, out, &used) == HIL_OK) {
                        d->bad += k;
                        memmove(d->buf, d->buf + k + used, d->len - k - used);
                        d->len -= k + used;
                        return HIL_OK;
                    }
                }
                break;
            }
            if (r == HIL_ERR_CHECKSUM) {
                /* the header says what was lost; the caller decides whether
                 * it was the answer it waits for. The length byte may be the
                 * corrupted one, so resynchronise one byte further. */
                memset(out, 0, sizeof *out);
                out->type = (uint8_t)((d->buf[0] >> 4) & 3u);
                out->token = d->buf[1];
                out->sub_type = d->buf[2];
                out->suite = d->buf[5];
                out->test_case = d->buf[6];
                out->payload_len = d->buf[7];
                memmove(d->buf, d->buf + 1, d->len - 1);
                d->len--;
                d->bad++;
                return HIL_ERR_CHECKSUM;
            }
            /* not a message start here: look one byte further */
            memmove(d->buf, d->buf + 1, d->len - 1);
            d->len--;
            d->bad++;
        }
        hil_msg_init(&m, raw, sizeof raw);
        if (wait) r = hil_aux_recv(a, hil_aux_com(a), &m, hil_deadline_left_ms(deadline));
        else r = hil_channel_recv(hil_aux_com(a), &m, 0);
        if (r != HIL_OK) return r;
        hil__dut_take(d, raw, m.len);
    }
}

/* A message that is not the answer being waited for. */
static void hil__dut_other(hil_aux* a, const hil_tapp_msg* m) {
    char text[600];
    switch (m->type) {
    case HIL_TAPP_LOG:
        if (hil_tapp_tlv_text(m, HIL_TAPP_TLV_FAULT, text, sizeof text)) {
            HIL_WARN(a->logger, "auxiliary '%s': the target faulted outside a test step: %s", a->name, text);
            break; /* it halted: nobody reads an ACK */
        }
        hil__tapp_all_text(m, text, sizeof text);
        HIL_INFO(a->logger, "target: %s", text);
        hil__dut_ack(a, m);
        break;
    case HIL_TAPP_REPORT:
        hil_tapp_tlv_text(m, HIL_TAPP_TLV_FAILURE_REASON, text, sizeof text);
        HIL_WARN(a->logger, "auxiliary '%s': a REPORT nobody waited for (suite %u, case %u, %s%s%s)", a->name, m->suite,
                 m->test_case, hil__tapp_verdict_str(m->sub_type), text[0] ? ": " : "", text);
        hil__dut_ack(a, m);
        break;
    case HIL_TAPP_ACK:
        HIL_DEBUG(a->logger, "auxiliary '%s': a stray ACK (token %u)", a->name, m->token);
        break;
    default:
        HIL_WARN(a->logger, "auxiliary '%s': the target sent a command (%s): ignored", a->name,
                 hil_tapp_command_str(m->sub_type));
        break;
    }
}

/* What a message that arrived during a step says about the target:
 * HIL_OK when it is ordinary, else the step's error (a fault, a reboot). */
static hil_result hil__dut_trouble(hil_aux* a, const hil_tapp_msg* m, const char* what, int suite, int tc) {
    char text[600];
    if (m->type != HIL_TAPP_LOG) return HIL_OK;
    if (hil_tapp_tlv_text(m, HIL_TAPP_TLV_FAULT, text, sizeof text))
        return hil_aux_fail(a, HIL_ERR_CRASHED, "the target faulted during %s of suite %d, case %d: %s", what, suite, tc,
                            text);
    if (hil_tapp_tlv_text(m, HIL_TAPP_TLV_TEST_REPORT, text, sizeof text) && strncmp(text, "boot ", 5) == 0) {
        hil__dut_ack(a, m);
        return hil_aux_fail(a, HIL_ERR_STATE,
                            "the target reset during %s of suite %d, case %d: it booted again (%s)", what, suite, tc,
                            text);
    }
    return HIL_OK;
}

/* COMMAND, then its ACK, then (want_report) its REPORT; LOGs on the way are logged. */
static hil_result hil__dut_exchange(hil_aux* a, int sub, int suite, int tc, long long ack_ms, long long report_ms,
                                    int want_report, hil_aux_report* rep) {
    hil__dut* d = (hil__dut*)hil_aux_priv(a);
    hil_tapp_msg cmd, in;
    uint64_t deadline;
    hil_result r;
    const char* what = hil_tapp_command_str(sub);
    memset(&cmd, 0, sizeof cmd);
    cmd.type = HIL_TAPP_COMMAND;
    cmd.token = d->token++;
    cmd.sub_type = (uint8_t)sub;
    cmd.suite = (uint8_t)suite;
    cmd.test_case = (uint8_t)tc;
    /* What arrived before this command (a boot LOG after a power-on, a
     * late LOG) is no answer to it: handle it first, so it cannot be taken
     * for something that happened during this step. */
    while ((r = hil__dut_next(a, &in, 0, 0)) == HIL_OK || r == HIL_ERR_CHECKSUM)
        if (r == HIL_OK) hil__dut_other(a, &in);
    if (r == HIL_ERR_CLOSED) /* the line ended already: say so, not what a send into it reports */
        return hil_aux_fail(a, r, "before sending %s (suite %d, case %d): %.400s", what, suite, tc, hil_last_error());
    r = hil__dut_send(a, &cmd);
    if (r != HIL_OK) return hil_aux_fail(a, r, "sending %s: %s", what, hil_last_error());
    deadline = hil_deadline_ms((int)ack_ms);
    for (;;) {
        r = hil__dut_next(a, &in, deadline, 1);
        if (r == HIL_ERR_TIMEOUT)
            return hil_aux_fail(a, HIL_ERR_TIMEOUT, "no ACK from the target within %lld ms for %s (suite %d, case %d, token %u)",
                                ack_ms, what, suite, tc, cmd.token);
        if (r == HIL_ERR_ABORTED) return r;
        if (r == HIL_ERR_CHECKSUM) {
            HIL_WARN(a->logger, "auxiliary '%s': a message with a bad CRC from the target: resynchronising", a->name);
            continue;
        }
        if (r != HIL_OK)
            return hil_aux_fail(a, r, "waiting for the ACK of %s (suite %d, case %d): %.400s", what, suite, tc,
                                hil_last_error());
        if (sub != HIL_TAPP_PING && (r = hil__dut_trouble(a, &in, what, suite, tc)) != HIL_OK) return r;
        if (in.type == HIL_TAPP_ACK && in.token == cmd.token) {
            if (in.sub_type == HIL_TAPP_NACK)
                return hil_aux_fail(a, HIL_ERR_PROTOCOL, "the target refused %s for suite %d, case %d (NACK, error code %u)",
                                    what, suite, tc, in.error_code);
            break;
        }
        hil__dut_other(a, &in);
    }
    if (!want_report) return HIL_OK;
    deadline = hil_deadline_ms((int)report_ms);
    for (;;) {
        r = hil__dut_next(a, &in, deadline, 1);
        if (r == HIL_ERR_TIMEOUT)
            return hil_aux_fail(a, HIL_ERR_TIMEOUT, "no REPORT from the target within %lld ms for %s (suite %d, case %d)",
                                report_ms, what, suite, tc);
        if (r == HIL_ERR_ABORTED) return r;
        if (r == HIL_ERR_CHECKSUM) {
            if (in.type == HIL_TAPP_REPORT && in.suite == (uint8_t)suite && in.test_case == (uint8_t)tc)
                return hil_aux_fail(a, HIL_ERR_CHECKSUM,
                                    "the REPORT of %s (suite %d, case %d) arrived with a bad CRC (CRC-16/XMODEM): "
                                    "the message was dropped and its verdict is unknown", what, suite, tc);
            HIL_WARN(a->logger, "auxiliary '%s': a message with a bad CRC from the target: resynchronising", a->name);
            continue;
        }
        if (r != HIL_OK)
            return hil_aux_fail(a, r, "waiting for the REPORT of %s (suite %d, case %d): %.400s", what, suite, tc,
                                hil_last_error());
        if ((r = hil__dut_trouble(a, &in, what, suite, tc)) != HIL_OK) return r;
        if (in.type == HIL_TAPP_REPORT) {
            hil__dut_ack(a, &in);
            if (in.suite != (uint8_t)suite || in.test_case != (uint8_t)tc)
                HIL_WARN(a->logger, "auxiliary '%s': REPORT for suite %u, case %u while running suite %d, case %d",
                         a->name, in.suite, in.test_case, suite, tc);
            rep->status = in.sub_type;
            if (!hil_tapp_tlv_text(&in, HIL_TAPP_TLV_FAILURE_REASON, rep->text, sizeof rep->text))
                hil_tapp_tlv_text(&in, HIL_TAPP_TLV_TEST_REPORT, rep->text, sizeof rep->text);
            rep->len = in.payload_len;
            memcpy(rep->data, in.payload, in.payload_len);
            HIL_DEBUG(a->logger, "%s suite %d case %d: %s%s%s", what, suite, tc, hil__tapp_verdict_str(in.sub_type),
                      rep->text[0] ? ": " : "", rep->text);
            return HIL_OK;
        }
        if (in.type == HIL_TAPP_ACK && in.token == cmd.token) continue; /* a repeated ACK */
        hil__dut_other(a, &in);
    }
}

static hil_result hil__dut_create(hil_aux* a) {
    hil__dut* d = (hil__dut*)hil_aux_priv(a);
    hil_result r = hil__open_com(a);
    hil_aux_report rep;
    long long i;
    hil_tapp_msg in;
    if (r != HIL_OK) return r;
    d->len = 0;
    /* what the target said before we came is not an answer to us */
    while ((r = hil__dut_next(a, &in, 0, 0)) == HIL_OK || r == HIL_ERR_CHECKSUM)
        if (r == HIL_OK) hil__dut_other(a, &in);
    if (!d->ping_on_start) return HIL_OK;
    for (i = 0; i < d->ping_tries; i++) {
        hil_aux_report_init(&rep);
        r = hil__dut_exchange(a, HIL_TAPP_PING, 0, 0, d->ping_ms, 0, 0, &rep);
        if (r == HIL_OK || r == HIL_ERR_ABORTED || r == HIL_ERR_CLOSED) break;
        HIL_INFO(a->logger, "auxiliary '%s': PING %lld of %lld: %s", a->name, i + 1, d->ping_tries, hil_last_error());
    }
    if (r == HIL_ERR_CLOSED || r == HIL_ERR_ABORTED) {
        /* not a silent target: the line ended (a dead board) or we were stopped */
        r = hil_aux_fail(a, r, "no answer to PING on connector '%s': %s", hil_channel_name(hil_aux_com(a)),
                         hil_last_error());
        hil_channel_close(hil_aux_com(a));
    } else if (r != HIL_OK) {
        r = hil_aux_fail(a, r, "the target did not answer PING on connector '%s' (%lld tries of %lld ms): %s",
                         hil_channel_name(hil_aux_com(a)), d->ping_tries, d->ping_ms, hil_last_error());
        hil_channel_close(hil_aux_com(a));
    }
    return r;
}

static void hil__dut_delete(hil_aux* a) {
    hil__dut* d = (hil__dut*)hil_aux_priv(a);
    hil_channel_close(hil_aux_com(a));
    d->len = 0;
}

static hil_result hil__dut_receive(hil_aux* a, size_t index);

/* Reset the board through the channel, then wait for its boot LOG (or,
 * from a firmware that sends none, an answer to PING). */
static hil_result hil__dut_reset_board(hil_aux* a) {
    hil__dut* d = (hil__dut*)hil_aux_priv(a);
    hil_channel* com = hil_aux_com(a);
    uint64_t deadline;
    hil_tapp_msg in;
    hil_aux_report rep;
    char text[600];
    hil_result r;
    /* A boot LOG already waiting in the channel is an earlier boot's: take
     * what is there now (handled as any unasked message), so only a LOG
     * that comes after the reset counts as the reset's. */
    (void)hil__dut_receive(a, 0); /* a closed channel is the reset's to report */
    r = hil_channel_reset(com, (int)d->ping_ms);
    if (r != HIL_OK) return hil_aux_fail(a, r, "%s", hil_last_error());
    d->len = 0; /* what came before the reset belongs to the old run */
    deadline = hil_deadline_ms((int)d->boot_ms);
    for (;;) {
        r = hil__dut_next(a, &in, deadline, 1);
        if (r == HIL_ERR_CHECKSUM) continue;
        if (r != HIL_OK) break;
        if (in.type == HIL_TAPP_LOG && hil_tapp_tlv_text(&in, HIL_TAPP_TLV_TEST_REPORT, text, sizeof text) &&
            strncmp(text, "boot ", 5) == 0) {
            HIL_INFO(a->logger, "auxiliary '%s': the board was reset: %s", a->name, text);
            hil__dut_ack(a, &in);
            return HIL_OK;
        }
        hil__dut_other(a, &in);
    }
    if (r == HIL_ERR_ABORTED) return r;
    /* no boot LOG: a firmware that does not send one is fine if it answers */
    hil_aux_report_init(&rep);
    r = hil__dut_exchange(a, HIL_TAPP_PING, 0, 0, d->ping_ms, 0, 0, &rep);
    if (r != HIL_OK)
        return hil_aux_fail(a, r, "the board was reset through connector '%s' but sent no boot LOG within %lld ms "
                            "and did not answer PING: %.400s", hil_channel_name(com), d->boot_ms, hil_last_error());
    return HIL_OK;
}

static hil_result hil__dut_run(hil_aux* a, const hil_aux_cmd* cmd, hil_aux_report* rep) {
    hil__dut* d = (hil__dut*)hil_aux_priv(a);
    const uint8_t* p = (const uint8_t*)cmd->data;
    if (cmd->code == HIL_DUT_CMD_PING) return hil__dut_exchange(a, HIL_TAPP_PING, 0, 0, d->ping_ms, 0, 0, rep);
    if (cmd->code == HIL_DUT_CMD_STEP && cmd->len >= 3)
        return hil__dut_exchange(a, p[0], p[1], p[2], d->ack_ms, d->report_ms, 1, rep);
    if (cmd->code == HIL_DUT_CMD_RESET) return hil__dut_reset_board(a);
    return hil_aux_fail(a, HIL_ERR_INVALID_ARG,
                        "unknown command %d (HIL_DUT_CMD_PING, HIL_DUT_CMD_STEP with 3 bytes, HIL_DUT_CMD_RESET)",
                        cmd->code);
}

static hil_result hil__dut_abort(hil_aux* a) {
    hil__dut* d = (hil__dut*)hil_aux_priv(a);
    hil_aux_report rep;
    hil_aux_report_init(&rep);
    return hil__dut_exchange(a, HIL_TAPP_ABORT, 0, 0, d->ack_ms, 0, 0, &rep);
}

static hil_result hil__dut_receive(hil_aux* a, size_t index) {
    hil_tapp_msg in;
    hil_result r;
    (void)index;
    while ((r = hil__dut_next(a, &in, 0, 0)) == HIL_OK || r == HIL_ERR_CHECKSUM) {
        if (r == HIL_OK) hil__dut_other(a, &in);
        else HIL_WARN(a->logger, "auxiliary '%s': a message with a bad CRC from the target: resynchronising", a->name);
    }
    return r == HIL_ERR_AGAIN || r == HIL_ERR_TIMEOUT ? HIL_OK : r;
}

static const hil_aux_impl hil__dut_type = {
    "dut", "The device under test over the pykiso testApp protocol: remote tests", sizeof(hil__dut), hil__dut_opts,
    hil__dut_configure, hil__dut_create, hil__dut_delete, hil__dut_run, hil__dut_abort, hil__dut_receive, NULL
};

HIL_API hil_result hil_dut_ping(hil_aux* dut, int timeout_ms) {
    hil_aux_cmd c;
    c.code = HIL_DUT_CMD_PING;
    c.data = NULL;
    c.len = 0;
    return hil_aux_run_command(dut, &c, 1, timeout_ms, NULL);
}

HIL_API hil_result hil_dut_reset(hil_aux* dut, int timeout_ms) {
    hil__dut* d;
    hil_aux_cmd c;
    if (!dut || strcmp(hil_aux_type(dut), "dut") != 0)
        return hil_error(HIL_ERR_INVALID_ARG, "hil_dut_reset: '%s' is not a dut auxiliary", dut ? hil_aux_name(dut) : "(null)");
    d = (hil__dut*)hil_aux_priv(dut);
    if (timeout_ms < 0) timeout_ms = (int)(d->ping_ms * 2 + d->boot_ms + 2000);
    c.code = HIL_DUT_CMD_RESET;
    c.data = NULL;
    c.len = 0;
    return hil_aux_run_command(dut, &c, 1, timeout_ms, NULL);
}

HIL_API hil_result hil_dut_step(hil_aux* dut, int sub_type, int suite, int test_case, hil_dut_result* out) {
    hil__dut* d;
    hil_aux_cmd c;
    hil_aux_report rep;
    uint8_t data[3];
    hil_result r;
    long long total;
    memset(out, 0, sizeof *out);
    if (!dut || strcmp(hil_aux_type(dut), "dut") != 0)
        return out->result = hil_error(HIL_ERR_INVALID_ARG, "hil_dut_step: '%s' is not a dut auxiliary",
                                       dut ? hil_aux_name(dut) : "(null)");
    d = (hil__dut*)hil_aux_priv(dut); /* configure() ran here: the timeouts are known */
    data[0] = (uint8_t)sub_type;
    data[1] = (uint8_t)suite;
    data[2] = (uint8_t)test_case;
    c.code = HIL_DUT_CMD_STEP;
    c.data = data;
    c.len = 3;
    total = d->ack_ms + d->report_ms + 2000;
    r = hil_aux_run_command(dut, &c, 1, total > 0x7fffffff ? -1 : (int)total, &rep);
    out->result = r;
    out->verdict = rep.status;
    hil__scopy(out->reason, sizeof out->reason, r == HIL_OK ? rep.text : hil_last_error());
    return r;
}

/* ---- remote tests ------------------------------------------------------------------------------------------------- */

static int hil__aux_unavailable(const char* name, char* reason, size_t size);

static hil_aux* hil__remote_dut(const char* aux_name) {
    hil_aux* dut = hil_aux_get(aux_name);
    char why[1024];
    if (hil__aux_unavailable(aux_name, why, sizeof why)) hil_test_error("remote test: %s", why);
    else if (strcmp(hil_aux_type(dut), "dut") != 0)
        hil_test_error("remote test: auxiliary '%s' is of type '%s', not dut", aux_name, hil_aux_type(dut));
    else return dut;
    return NULL;
}

/* A step that ended in an error: a target that faulted or stopped
 * answering is reset so the next test finds it alive (a target that reset
 * by itself is up already); otherwise a running case is aborted. Then the
 * test is Errored with the reason and what was done. */
static void hil__dut_step_error(hil_aux* dut, const char* step, int suite, int test_case, const hil_dut_result* res,
                                int running) {
    char why[sizeof res->reason], after[600] = "";
    hil__scopy(why, sizeof why, res->reason);
    if (res->result == HIL_ERR_CRASHED || res->result == HIL_ERR_TIMEOUT) {
        if (hil_dut_reset(dut, -1) == HIL_OK) snprintf(after, sizeof after, " (the board was reset)");
        else snprintf(after, sizeof after, " (the board could not be reset: %.500s)", hil_last_error());
    } else if (running && res->result != HIL_ERR_STATE) {
        (void)hil_aux_abort_command(dut, 10000); /* it may still be running on the target */
    }
    hil_aux_unlock_it(dut);
    hil_test_error("target %s of suite %d, case %d: %s%s", step, suite, test_case, why, after);
}

HIL_API void hil_dut_remote_test(const char* aux_name, int suite, int test_case) {
    hil_aux* dut = hil__remote_dut(aux_name);
    hil_dut_result res;
    int failed = 0, not_impl = 0;
    char msg[sizeof res.reason + 128];
    /* the user's HIL_REMOTE_TEST line, not this file: the macro's body is here */
    const hil_test_info* t = hil_current_test();
    const char* file = t && t->file ? t->file : "";
    int line = t ? t->line : 0;
    if (!dut) return;
    if (hil_aux_lock_it(dut, 30000) != HIL_OK) {
        hil_test_error("remote test suite %d, case %d: %s", suite, test_case, hil_last_error());
        return;
    }
    HIL_INFO(hil_aux_logger(dut), "remote test: suite %d, case %d on '%s'", suite, test_case, aux_name);
    if (hil_dut_step(dut, HIL_TAPP_CASE_SETUP, suite, test_case, &res) != HIL_OK) {
        hil__dut_step_error(dut, "setup", suite, test_case, &res, 0);
        return;
    }
    if (res.verdict == HIL_TAPP_FAILED) {
        hil_aux_unlock_it(dut);
        snprintf(msg, sizeof msg, "target setup of suite %d, case %d failed: %s", suite, test_case,
                 res.reason[0] ? res.reason : "(no reason given)");
        hil__check_fail(1, file ? file : "", line, "HIL_FAIL", msg);
        return;
    }
    if (hil_dut_step(dut, HIL_TAPP_CASE_RUN, suite, test_case, &res) != HIL_OK) {
        hil__dut_step_error(dut, "run", suite, test_case, &res, 1);
        return;
    }
    if (res.verdict == HIL_TAPP_FAILED) {
        failed = 1;
        snprintf(msg, sizeof msg, "target: suite %d, case %d failed: %s", suite, test_case,
                 res.reason[0] ? res.reason : "(no reason given)");
        hil__check_fail(0, file ? file : "", line, "HIL_FAIL", msg);
    } else if (res.verdict == HIL_TAPP_NOT_IMPLEMENTED) {
        not_impl = 1;
    } else if (res.verdict != HIL_TAPP_PASS) {
        failed = 1;
        snprintf(msg, sizeof msg, "target: suite %d, case %d: unknown verdict %d", suite, test_case, res.verdict);
        hil__check_fail(0, file ? file : "", line, "HIL_FAIL", msg);
    }
    if (hil_dut_step(dut, HIL_TAPP_CASE_TEARDOWN, suite, test_case, &res) != HIL_OK) {
        hil__dut_step_error(dut, "teardown", suite, test_case, &res, 0);
        return;
    }
    hil_aux_unlock_it(dut);
    if (res.verdict == HIL_TAPP_FAILED) {
        snprintf(msg, sizeof msg, "target teardown of suite %d, case %d failed: %s", suite, test_case,
                 res.reason[0] ? res.reason : "(no reason given)");
        hil__check_fail(1, file ? file : "", line, "HIL_FAIL", msg);
        return;
    }
    if (not_impl && !failed) HIL_SKIP("not implemented on the target (suite %d, case %d)", suite, test_case);
}

HIL_API void hil_dut_remote_suite(const char* aux_name, int suite, int setup) {
    hil_dut_remote_suite_at(aux_name, suite, setup, NULL, 0);
}

HIL_API void hil_dut_remote_suite_at(const char* aux_name, int suite, int setup, const char* file, int line) {
    hil_aux* dut = hil__remote_dut(aux_name);
    hil_dut_result res;
    char msg[sizeof res.reason + 128];
    const char* what = setup ? "setup" : "teardown";
    if (!dut) return;
    if (hil_dut_step(dut, setup ? HIL_TAPP_SUITE_SETUP : HIL_TAPP_SUITE_TEARDOWN, suite, 0, &res) != HIL_OK) {
        hil_test_error("target suite %s of suite %d: %s", what, suite, res.reason);
        return;
    }
    if (res.verdict == HIL_TAPP_FAILED) {
        snprintf(msg, sizeof msg, "target suite %s of suite %d failed: %s", what, suite,
                 res.reason[0] ? res.reason : "(no reason given)");
        hil__check_fail(1, file ? file : "", line, "HIL_FAIL", msg);
    }
}

/* ---- from configuration ------------------------------------------------------------------------------------------- */

static hil_mutex hil__cfgaux_mu = {PTHREAD_MUTEX_INITIALIZER};
static hil_aux* hil__cfgaux[128];
static size_t hil__n_cfgaux;
static struct { char name[64]; char why[600]; } hil__cfgfail[64];
static size_t hil__n_cfgfail;

static void hil__cfg_failed(const char* name, const char* why) {
    hil_mutex_lock(&hil__cfgaux_mu);
    if (hil__n_cfgfail < sizeof hil__cfgfail / sizeof hil__cfgfail[0]) {
        hil__scopy(hil__cfgfail[hil__n_cfgfail].name, sizeof hil__cfgfail[0].name, name);
        hil__scopy(hil__cfgfail[hil__n_cfgfail].why, sizeof hil__cfgfail[0].why, why);
        hil__n_cfgfail++;
    }
    hil_mutex_unlock(&hil__cfgaux_mu);
}

static void hil__cfg_keep(hil_aux* a) {
    hil_mutex_lock(&hil__cfgaux_mu);
    if (hil__n_cfgaux < sizeof hil__cfgaux / sizeof hil__cfgaux[0]) hil__cfgaux[hil__n_cfgaux++] = a;
    hil_mutex_unlock(&hil__cfgaux_mu);
}

static const char* hil__cfg_aux_key(hil_config* cfg, const char* name, const char* key) {
    char k[400];
    snprintf(k, sizeof k, "auxiliaries.%s.%s", name, key);
    return hil_config_has(cfg, k) ? hil_config_get(cfg, k, NULL) : NULL;
}

static int hil__cfg_is_proxy(const char* type) { return type && strcmp(type, "proxy") == 0; }

HIL_API hil_result hil_aux_create_all(hil_config* cfg) {
    const char* names[64];
    const char* types[64];
    const char* conns[64];
    hil_aux* via[64];
    int bad[64];
    size_t n, i, j, pass;
    hil_result first = HIL_OK;
    if (!cfg) cfg = hil_cfg();
    if (!cfg) return HIL_OK;
    /* In the order the configuration declared them: a dut that talks to a
       board the probe declared above it flashes finds the board flashed. */
    n = hil_config_entities_declared(cfg, "auxiliaries", names, 64);
    if (n > 64) {
        HIL_ERROR("hil.aux", "%zu auxiliaries configured: only the first 64 are created", n);
        n = 64;
    }
    for (i = 0; i < n; i++) {
        types[i] = hil__cfg_aux_key(cfg, names[i], "type");
        conns[i] = hil__cfg_aux_key(cfg, names[i], "connectors.com");
        via[i] = NULL;
        bad[i] = 0;
    }
    /* A connector named by several auxiliaries is shared through a proxy. */
    for (i = 0; i < n; i++) {
        size_t count = 1;
        char ctype_key[300], pname[200];
        const char* ctype;
        hil_aux_config c;
        hil_aux* px = NULL;
        hil_result r;
        if (!conns[i] || via[i] || bad[i] || hil__cfg_is_proxy(types[i])) continue;
        for (j = i + 1; j < n; j++)
            if (conns[j] && !hil__cfg_is_proxy(types[j]) && strcmp(conns[j], conns[i]) == 0) count++;
        snprintf(ctype_key, sizeof ctype_key, "connectors.%s.type", conns[i]);
        ctype = hil_config_get(cfg, ctype_key, NULL);
        if (count < 2 || (ctype && strcmp(ctype, "proxy") == 0)) continue;
        snprintf(pname, sizeof pname, "proxy:%s", conns[i]);
        hil_aux_config_init(&c);
        c.name = pname;
        c.type = "proxy";
        c.backend = HIL_AUX_THREAD;
        c.com_connector = conns[i];
        c.config = cfg;
        c.auto_start = 1;
        r = hil_aux_create(&c, &px);
        if (r == HIL_OK) {
            HIL_INFO("hil.aux", "connector '%s' is shared by %zu auxiliaries: proxy auxiliary '%s' inserted", conns[i],
                     count, pname);
            hil__cfg_keep(px);
        } else {
            char why[700];
            snprintf(why, sizeof why, "its connector '%.100s' is shared through proxy '%.100s', which failed: %.400s", conns[i],
                     pname, hil_last_error());
            HIL_ERROR("hil.aux", "%s", why);
            if (first == HIL_OK) first = r;
            for (j = i; j < n; j++)
                if (conns[j] && !hil__cfg_is_proxy(types[j]) && strcmp(conns[j], conns[i]) == 0) {
                    bad[j] = 1;
                    hil__cfg_failed(names[j], why);
                }
            continue;
        }
        for (j = i; j < n; j++)
            if (conns[j] && !hil__cfg_is_proxy(types[j]) && strcmp(conns[j], conns[i]) == 0) via[j] = px;
    }
    /* proxies first: the others' proxy channels attach to them */
    for (pass = 0; pass < 2; pass++) {
        for (i = 0; i < n; i++) {
            hil_aux_config c;
            hil_aux* a = NULL;
            hil_result r = HIL_OK;
            int autos = 1;
            if (bad[i] || (pass == 0) != hil__cfg_is_proxy(types[i])) continue;
            hil_aux_config_init(&c);
            c.name = names[i];
            c.config = cfg;
            c.auto_start = 0;
            if (via[i]) {
                char cname[300];
                snprintf(cname, sizeof cname, "%s@%s", conns[i], names[i]);
                r = hil_proxy_channel_create(via[i], cname, &c.com);
            }
            if (r == HIL_OK) r = hil_aux_create(&c, &a);
            if (r != HIL_OK) {
                HIL_ERROR("hil.aux", "%s", hil_last_error());
                hil__cfg_failed(names[i], hil_last_error());
                if (first == HIL_OK) first = r;
                continue;
            }
            hil__cfg_keep(a);
            if (hil_aux_opt_bool(a, "auto_start", 1, &autos) == HIL_OK && autos) {
                r = hil_aux_start(a, (int)a->start_timeout_ms);
                if (r != HIL_OK && first == HIL_OK) first = r; /* logged; its state says why */
            }
        }
    }
    return first;
}

HIL_API void hil_aux_destroy_all(void) {
    for (;;) {
        hil_aux* a = NULL;
        hil_mutex_lock(&hil__cfgaux_mu);
        if (hil__n_cfgaux) a = hil__cfgaux[--hil__n_cfgaux];
        hil_mutex_unlock(&hil__cfgaux_mu);
        if (!a) break;
        hil_aux_destroy(a);
    }
    hil_mutex_lock(&hil__cfgaux_mu);
    hil__n_cfgfail = 0;
    hil_mutex_unlock(&hil__cfgaux_mu);
}

/* Why the auxiliary `name` cannot serve a test (0: it can): not configured,
   its creation from the configuration failed (with that error), or it has
   stopped (with its state's reason). Shared by requires= and remote tests,
   so both name the real cause. */
static int hil__aux_unavailable(const char* name, char* reason, size_t size) {
    hil_aux* a = hil_aux_get(name);
    if (!a) {
        size_t k;
        const char* why = NULL;
        hil_mutex_lock(&hil__cfgaux_mu);
        for (k = 0; k < hil__n_cfgfail; k++)
            if (strcmp(hil__cfgfail[k].name, name) == 0) why = hil__cfgfail[k].why;
        if (why) snprintf(reason, size, "auxiliary '%s' could not be created: %s", name, why);
        else snprintf(reason, size, "no auxiliary '%s' (configure auxiliaries.%s.type)", name, name);
        hil_mutex_unlock(&hil__cfgaux_mu);
        return 1;
    } else {
        hil_aux_state st = hil_aux_get_state(a);
        if (st != HIL_AUX_RUNNING && st != HIL_AUX_NEW) {
            char why[600], own[160];
            const char* w = why;
            hil_aux_why(a, why, sizeof why);
            snprintf(own, sizeof own, "auxiliary '%s': ", name); /* said once is enough */
            if (strncmp(w, own, strlen(own)) == 0) w += strlen(own);
            snprintf(reason, size, "auxiliary '%s' is %s%s%s", name, hil_aux_state_str(st), *w ? ": " : "", w);
            return 1;
        }
    }
    return 0;
}

/* requires=...: every auxiliary named must exist and run. */
static hil_outcome hil__aux_precheck(const hil_test_info* t, char* reason, size_t size) {
    const char* p = t->requires;
    while (p && *p) {
        char name[128];
        size_t len = strcspn(p, ",; ");
        if (len && len < sizeof name) {
            memcpy(name, p, len);
            name[len] = 0;
            if (hil__aux_unavailable(name, reason, size)) return HIL_BLOCKED;
        }
        p += len;
        while (*p == ',' || *p == ';' || *p == ' ') p++;
    }
    return HIL_NOT_RUN;
}

/* Auxiliaries live where the tests run: the worker (again after a crash). */
static void hil__aux_worker_hook(int starting) {
    if (starting) (void)hil_aux_create_all(hil_cfg());
    else hil_aux_destroy_all();
}

static void hil__power_register(void); /* section power, at the end */

static void hil__aux_module_init_once(void) {
    hil_cond_init(&hil__px_cv);
    hil__auxtype_options(hil__aux_common_opts);
    (void)hil_aux_type_register(&hil__com_type);
    (void)hil_aux_type_register(&hil__proxy_type);
    (void)hil_aux_type_register(&hil__dut_type);
    (void)hil_aux_type_register(&hil__record_type);
    (void)hil_channel_type_register(&hil__proxy_channel_type);
    (void)hil_board_ops_register(&hil__proxy_channel_type, &hil__pxch_board_ops);
    (void)hil_record_format_register(&hil__hex_format);
    hil_add_worker_hook(hil__aux_worker_hook);
    hil_add_test_precheck(hil__aux_precheck);
    hil__power_register();
}

HIL_API void hil_aux_module_init(void) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, hil__aux_module_init_once);
}

#ifndef HIL_NO_CONSTRUCTORS
HIL__CONSTRUCTOR(hil__aux_module_ctor) { hil_aux_module_init(); }
#endif

/* ==========================================================================
 * power: implementation [section: power -- docs/power.md]
 * ========================================================================== */

#include <regex.h>

/* ---- SCPI replies: bounded parsers ------------------------------------------------------------------------- */

/* s[0..len) without the line end and surrounding blanks */
static void hil__scpi_trim(const char** s, size_t* len) {
    while (*len && ((*s)[0] == ' ' || (*s)[0] == '\t')) { (*s)++; (*len)--; }
    while (*len && strchr(" \t\r\n", (*s)[*len - 1]) && (*s)[*len - 1]) (*len)--;
}

HIL_API hil_result hil_scpi_parse_number(const char* s, size_t len, double* out) {
    char buf[64];
    char* end;
    size_t i;
    double v;
    if (!s || !out) return hil_error(HIL_ERR_INVALID_ARG, "hil_scpi_parse_number: NULL argument");
    hil__scpi_trim(&s, &len);
    if (len == 0) return hil_error(HIL_ERR_PROTOCOL, "SCPI: an empty reply where a number was expected");
    if (len >= sizeof buf)
        return hil_error(HIL_ERR_PROTOCOL, "SCPI: a reply of %zu characters where a number was expected", len);
    /* only what a SCPI <NR1|NR2|NR3> may hold: strtod would also take
     * "inf", "nan" and hex floats */
    for (i = 0; i < len; i++)
        if (!strchr("0123456789+-.eE", s[i]) || !s[i])
            return hil_error(HIL_ERR_PROTOCOL, "SCPI: '%.*s' is not a number", (int)len, s);
    memcpy(buf, s, len);
    buf[len] = 0;
    errno = 0;
    v = strtod(buf, &end);
    if (end == buf || *end || errno == ERANGE)
        return hil_error(HIL_ERR_PROTOCOL, "SCPI: '%s' is not a number", buf);
    if (v >= 9.9e37 || v <= -9.9e37)
        return hil_error(HIL_ERR_PROTOCOL, "SCPI: the instrument answered %s, its not-a-number (over range, or no "
                         "measurement)", buf);
    *out = v;
    return HIL_OK;
}

HIL_API hil_result hil_scpi_parse_error(const char* s, size_t len, int* code, char* text, size_t size) {
    size_t i = 0, n;
    long c = 0;
    int neg = 0, digits = 0;
    if (!s || !code) return hil_error(HIL_ERR_INVALID_ARG, "hil_scpi_parse_error: NULL argument");
    if (text && size) text[0] = 0;
    hil__scpi_trim(&s, &len);
    if (i < len && (s[i] == '-' || s[i] == '+')) neg = s[i++] == '-';
    while (i < len && s[i] >= '0' && s[i] <= '9') {
        if (++digits > 6) return hil_error(HIL_ERR_PROTOCOL, "SCPI: error code too long in '%.*s'", (int)(len < 80 ? len : 80), s);
        c = c * 10 + (s[i++] - '0');
    }
    if (!digits)
        return hil_error(HIL_ERR_PROTOCOL, "SCPI: '%.*s' is not an error queue entry (<code>,\"<text>\")",
                         (int)(len < 80 ? len : 80), s);
    while (i < len && s[i] == ' ') i++;
    if (i < len && s[i] != ',')
        return hil_error(HIL_ERR_PROTOCOL, "SCPI: '%.*s' is not an error queue entry (<code>,\"<text>\")",
                         (int)(len < 80 ? len : 80), s);
    if (i < len) i++;
    while (i < len && s[i] == ' ') i++;
    if (i < len && s[i] == '"') {
        i++;
        n = len - i;
        if (n && s[len - 1] == '"') n--;
    } else {
        n = len - i;
    }
    if (text && size) {
        size_t k, m = n < size - 1 ? n : size - 1;
        for (k = 0; k < m; k++) text[k] = (s[i + k] >= 32 && s[i + k] < 127) ? s[i + k] : '?';
        text[m] = 0;
    }
    *code = (int)(neg ? -c : c);
    return HIL_OK;
}

HIL_API hil_result hil_scpi_parse_bool(const char* s, size_t len, int* out) {
    if (!s || !out) return hil_error(HIL_ERR_INVALID_ARG, "hil_scpi_parse_bool: NULL argument");
    hil__scpi_trim(&s, &len);
    if ((len == 1 && s[0] == '1') || (len == 2 && strncasecmp(s, "ON", 2) == 0)) *out = 1;
    else if ((len == 1 && s[0] == '0') || (len == 3 && strncasecmp(s, "OFF", 3) == 0)) *out = 0;
    else return hil_error(HIL_ERR_PROTOCOL, "SCPI: '%.*s' is not a boolean (1, 0, ON, OFF)", (int)(len < 80 ? len : 80), s);
    return HIL_OK;
}

/* ---- the auxiliary -------------------------------------------------------------------------------------------- */

typedef struct hil__pwr hil__pwr;

/* A driver: what power_type chooses. NULL entries are not supported. */
typedef struct hil__pwr_driver {
    const char* name;
    hil_result (*configure)(hil_aux* a, hil__pwr* p);
    hil_result (*open)(hil_aux* a, hil__pwr* p, uint64_t deadline);
    void (*close)(hil_aux* a, hil__pwr* p);
    hil_result (*set)(hil_aux* a, hil__pwr* p, int on, uint64_t deadline);
    hil_result (*cycle)(hil_aux* a, hil__pwr* p, int off_ms, uint64_t deadline); /* NULL: off, wait, on */
    hil_result (*state)(hil_aux* a, hil__pwr* p, int* on, uint64_t deadline);
    hil_result (*setting)(hil_aux* a, hil__pwr* p, int current, double value, uint64_t deadline);
    hil_result (*measure)(hil_aux* a, hil__pwr* p, double* v, double* i, uint64_t deadline);
} hil__pwr_driver;

struct hil__pwr {
    const hil__pwr_driver* drv;
    long long timeout_ms, off_ms, reply_timeout_ms, channel;
    int state; /* as last set: -1 unknown */
    /* command */
    char* tmpl[4]; /* on, off, cycle, status */
    char *port, *board;
    regex_t re_on, re_off;
    int have_on, have_off;
    /* scpi */
    int list_style;
    char* volt_start;
    char* curr_start;
    char rx[256];
    size_t rx_len;
    char idn[128];
};

typedef struct hil__pwr_arg {
    int timeout_ms;
    int off_ms;
    double value;
} hil__pwr_arg;

static const hil_aux_opt hil__pwr_opts[] = {
    {"power_type", HIL_OPT_STRING, NULL, "power: the driver: command, scpi, board (qmp)", NULL},
    {"driver", HIL_OPT_STRING, NULL, "power: the same as power_type", NULL},
    {"timeout_ms", HIL_OPT_INT, "10000", "power: how long one operation may take (a call's -1)", NULL},
    {"off_ms", HIL_OPT_INT, "1000", "power: how long a cycle keeps the power off (a call's -1)", NULL},
    {"on", HIL_OPT_STRING, NULL, "power command: switches on (argv template: {port} {board} {channel} {name})", NULL},
    {"off", HIL_OPT_STRING, NULL, "power command: switches off (argv template)", NULL},
    {"cycle", HIL_OPT_STRING, NULL, "power command: switches off and on ({off_ms} too); default: off, wait, on", NULL},
    {"status", HIL_OPT_STRING, NULL, "power command: prints or exits with the state (exit 0: on, unless status_on/off)",
     NULL},
    {"status_on", HIL_OPT_STRING, NULL, "power command: regular expression (POSIX extended) of status output meaning on",
     NULL},
    {"status_off", HIL_OPT_STRING, NULL, "power command: regular expression of status output meaning off", NULL},
    {"port", HIL_OPT_STRING, NULL, "power command: {port} (a hub port, a relay number)", NULL},
    {"board", HIL_OPT_STRING, NULL, "power command: {board} (default the auxiliary's name)", NULL},
    {"channel", HIL_OPT_INT, "0", "power scpi: the supply's output (INST:NSEL or (@N)); 0: none; command: {channel}",
     NULL},
    {"channel_style", HIL_OPT_CHOICE, "nsel", "power scpi: nsel (INST:NSEL N first) or list (... (@N))", "nsel|list"},
    {"voltage", HIL_OPT_STRING, NULL, "power scpi: volts set on start (VOLT)", NULL},
    {"current", HIL_OPT_STRING, NULL, "power scpi: current limit in amps set on start (CURR)", NULL},
    {"reply_timeout_ms", HIL_OPT_INT, "2000", "power scpi: how long the supply may take to answer a query", NULL},
    {NULL, HIL_OPT_STRING, NULL, NULL, NULL}
};

/* ---- command driver: the flasher's process spawning -------------------------------------------------------- */

static const char* const hil__pwr_cmd_names[4] = {"on", "off", "cycle", "status"};

/* word with {port} {board} {channel} {off_ms} {name} replaced */
static char* hil__pwr_word(hil_aux* a, hil__pwr* p, const char* w, int off_ms) {
    hil_strbuf sb = {0, 0, 0, 0};
    while (*w) {
        if (strncmp(w, "{port}", 6) == 0) { hil_sb_puts(&sb, p->port ? p->port : ""); w += 6; }
        else if (strncmp(w, "{board}", 7) == 0) { hil_sb_puts(&sb, p->board ? p->board : a->name); w += 7; }
        else if (strncmp(w, "{channel}", 9) == 0) { hil_sb_printf(&sb, "%lld", p->channel); w += 9; }
        else if (strncmp(w, "{off_ms}", 8) == 0) { hil_sb_printf(&sb, "%d", off_ms); w += 8; }
        else if (strncmp(w, "{name}", 6) == 0) { hil_sb_puts(&sb, a->name); w += 6; }
        else hil_sb_putc(&sb, *w++);
    }
    return hil_sb_take(&sb);
}

/* Run template `which` (0 on .. 3 status) as a "command" flasher does (no
 * shell, its own process group, output to the log, killed at the
 * deadline). *output (may be NULL) gets what it printed; *exit_ok whether
 * it exited 0 (NULL: another exit is an error). */
static hil_result hil__pwr_run(hil_aux* a, hil__pwr* p, int which, int off_ms, uint64_t deadline, char** output,
                               int* exit_ok) {
    char** words = NULL;
    hil_strbuf cmd = {0, 0, 0, 0}, opt_cmd = {0, 0, 0, 0}, opt_to = {0, 0, 0, 0}, nm = {0, 0, 0, 0};
    hil_flasher_config fc;
    hil_flasher* f = NULL;
    const char* opts[3];
    size_t i;
    int left = hil_deadline_left_ms(deadline);
    hil_result r;
    if (output) *output = NULL;
    if (left <= 0) return hil_aux_fail(a, HIL_ERR_TIMEOUT, "no time left to run the %s command", hil__pwr_cmd_names[which]);
    r = hil__split_words(p->tmpl[which], &words, NULL);
    if (r != HIL_OK) return hil_aux_fail(a, HIL_ERR_CONFIG, "option %s: %s", hil__pwr_cmd_names[which], hil_last_error());
    /* the words once expanded, quoted again for the flasher's splitter so a
     * value with blanks or quotes stays one argument */
    for (i = 0; words[i]; i++) {
        char* w = hil__pwr_word(a, p, words[i], off_ms);
        const char* c;
        if (!w) { r = HIL_ERR_NO_MEMORY; break; }
        hil_sb_puts(&cmd, i ? " '" : "'");
        for (c = w; *c; c++)
            if (*c == '\'') hil_sb_puts(&cmd, "'\\''");
            else hil_sb_putc(&cmd, *c);
        hil_sb_putc(&cmd, '\'');
        HIL_FREE(w);
    }
    hil__words_free(words);
    hil_sb_printf(&opt_cmd, "command=%s", hil_sb_cstr(&cmd));
    hil_sb_printf(&opt_to, "timeout_ms=%d", left);
    hil_sb_printf(&nm, "%s.%s", a->name, hil__pwr_cmd_names[which]);
    if (r != HIL_OK || cmd.failed || opt_cmd.failed || opt_to.failed || nm.failed) {
        r = hil_aux_fail(a, HIL_ERR_NO_MEMORY, "out of memory");
        goto done;
    }
    opts[0] = hil_sb_cstr(&opt_cmd);
    opts[1] = hil_sb_cstr(&opt_to);
    opts[2] = NULL;
    hil_flasher_config_init(&fc);
    fc.name = hil_sb_cstr(&nm);
    fc.type = "command";
    fc.config = a->cfg;
    fc.options = opts;
    r = hil_flasher_create(&fc, &f);
    if (r != HIL_OK) {
        r = hil_aux_fail(a, r, "option %s: %s", hil__pwr_cmd_names[which], hil_last_error());
        goto done;
    }
    HIL_INFO(a->logger, "power %s: %s", hil__pwr_cmd_names[which], hil_sb_cstr(&cmd));
    r = hil_flasher_flash(f, NULL, left);
    if (exit_ok) *exit_ok = r == HIL_OK;
    if (r == HIL_ERR_IO && exit_ok) r = HIL_OK; /* a status command's non-zero exit is an answer */
    if (r != HIL_OK) r = hil_aux_fail(a, r, "power %s: %s", hil__pwr_cmd_names[which], hil_last_error());
    else if (output && !(*output = hil_strdup(hil_flasher_output(f))))
        r = hil_aux_fail(a, HIL_ERR_NO_MEMORY, "out of memory");
done:
    if (f) hil_flasher_destroy(f);
    hil_sb_free(&cmd);
    hil_sb_free(&opt_cmd);
    hil_sb_free(&opt_to);
    hil_sb_free(&nm);
    return r;
}

static hil_result hil__pwr_cmd_configure(hil_aux* a, hil__pwr* p) {
    size_t k;
    const char* v;
    for (k = 0; k < 4; k++)
        if ((v = hil_aux_opt_str(a, hil__pwr_cmd_names[k], NULL)) && *v && !(p->tmpl[k] = hil_strdup(v)))
            return hil_aux_fail(a, HIL_ERR_NO_MEMORY, "out of memory");
    if (!p->tmpl[0] || !p->tmpl[1])
        return hil_aux_fail(a, HIL_ERR_CONFIG, "power_type command needs %son and %soff (argv templates, e.g. uhubctl "
                            "-l 1-1 -p {port} -a on)", a->prefix, a->prefix);
    if ((v = hil_aux_opt_str(a, "port", NULL)) && *v) p->port = hil_strdup(v);
    if ((v = hil_aux_opt_str(a, "board", NULL)) && *v) p->board = hil_strdup(v);
    for (k = 0; k < 2; k++) {
        const char* key = k ? "status_off" : "status_on";
        int rc;
        char msg[256];
        if (!(v = hil_aux_opt_str(a, key, NULL)) || !*v) continue;
        if (!p->tmpl[3]) return hil_aux_fail(a, HIL_ERR_CONFIG, "%s%s is set but %sstatus is not", a->prefix, key, a->prefix);
        rc = regcomp(k ? &p->re_off : &p->re_on, v, REG_EXTENDED | REG_NOSUB | REG_NEWLINE);
        if (rc != 0) {
            regerror(rc, k ? &p->re_off : &p->re_on, msg, sizeof msg);
            return hil_aux_fail(a, HIL_ERR_CONFIG, "%s%s: '%s' is not a regular expression: %s", a->prefix, key, v, msg);
        }
        if (k) p->have_off = 1;
        else p->have_on = 1;
    }
    return HIL_OK;
}

static void hil__pwr_cmd_close(hil_aux* a, hil__pwr* p) { (void)a; (void)p; }

static hil_result hil__pwr_cmd_set(hil_aux* a, hil__pwr* p, int on, uint64_t deadline) {
    return hil__pwr_run(a, p, on ? 0 : 1, 0, deadline, NULL, NULL);
}

static hil_result hil__pwr_set_off_on(hil_aux* a, hil__pwr* p, int off_ms, uint64_t deadline);

static hil_result hil__pwr_cmd_cycle(hil_aux* a, hil__pwr* p, int off_ms, uint64_t deadline) {
    if (!p->tmpl[2]) return hil__pwr_set_off_on(a, p, off_ms, deadline);
    return hil__pwr_run(a, p, 2, off_ms, deadline, NULL, NULL);
}

static hil_result hil__pwr_cmd_state(hil_aux* a, hil__pwr* p, int* on, uint64_t deadline) {
    char* out = NULL;
    int ok = 0;
    hil_result r;
    if (!p->tmpl[3])
        return hil_aux_fail(a, HIL_ERR_UNSUPPORTED, "power_type command: no %sstatus command to read the state",
                            a->prefix);
    r = hil__pwr_run(a, p, 3, 0, deadline, &out, &ok);
    if (r != HIL_OK) return r;
    if (p->have_on || p->have_off) {
        int is_on = p->have_on && regexec(&p->re_on, out, 0, NULL, 0) == 0;
        int is_off = p->have_off && regexec(&p->re_off, out, 0, NULL, 0) == 0;
        if (is_on == is_off) {
            char last[200];
            hil__last_lines(out, 2, last, sizeof last);
            r = hil_aux_fail(a, HIL_ERR_PROTOCOL, "power status: the output matches %s of status_on and status_off: "
                             "'%s'", is_on ? "both" : "neither", last);
        } else {
            *on = is_on;
        }
    } else {
        *on = ok;
    }
    HIL_FREE(out);
    return r;
}

/* ---- scpi driver ------------------------------------------------------------------------------------------------- */

static hil_result hil__scpi_send(hil_aux* a, hil__pwr* p, const char* line, uint64_t deadline) {
    char buf[160];
    hil_msg m;
    int n = snprintf(buf, sizeof buf, "%s\n", line);
    hil_channel* ch = hil_aux_com(a);
    hil_result r;
    if (n < 0 || (size_t)n >= sizeof buf) return hil_aux_fail(a, HIL_ERR_INTERNAL, "SCPI command too long: %s", line);
    HIL_DEBUG(a->logger, "scpi > %s", line);
    hil_msg_init(&m, buf, sizeof buf);
    m.len = (size_t)n;
    r = hil_aux_send(a, ch, &m, hil_deadline_left_ms(deadline));
    if (r != HIL_OK) return hil_aux_fail(a, r, "sending '%s' to the supply on '%s': %s", line, hil_channel_name(ch),
                                         hil_last_error());
    (void)p;
    return HIL_OK;
}

/* The reply buffer (outside input): append what arrived; 0, or -1 when it
 * would overflow without a line end (the buffer is emptied). A channel
 * with framing hands over whole lines without their end: one is added. */
static int hil__scpi_push(char* rx, size_t* n, size_t cap, const void* data, size_t len, int framed) {
    if (*n + len + 1 > cap) {
        *n = 0;
        return -1;
    }
    memcpy(rx + *n, data, len);
    *n += len;
    if (framed) rx[(*n)++] = '\n';
    return 0;
}

/* Take the first line (without "\r\n") out of rx into out (cut to size,
 * NUL-terminated); 1 if there was a whole line. */
static int hil__scpi_take(char* rx, size_t* n, char* out, size_t size) {
    char* nl = (char*)memchr(rx, '\n', *n);
    size_t len, k;
    if (!nl || !size) return 0;
    len = (size_t)(nl - rx);
    k = len < size - 1 ? len : size - 1;
    memcpy(out, rx, k);
    out[k] = 0;
    if (k && out[k - 1] == '\r') out[k - 1] = 0;
    memmove(rx, nl + 1, *n - len - 1);
    *n -= len + 1;
    return 1;
}

/* One reply line (without its end) into out. */
static hil_result hil__scpi_line(hil_aux* a, hil__pwr* p, const char* query, uint64_t deadline, char* out, size_t size) {
    hil_channel* ch = hil_aux_com(a);
    const hil_framing* fr = hil_channel_framing(ch);
    int framed = fr && fr->kind != HIL_FRAMING_RAW;
    uint64_t reply_by = hil_deadline_ms((int)p->reply_timeout_ms);
    if (reply_by > deadline) reply_by = deadline;
    for (;;) {
        unsigned char buf[256];
        hil_msg m;
        hil_result r;
        if (hil__scpi_take(p->rx, &p->rx_len, out, size)) {
            HIL_DEBUG(a->logger, "scpi < %s", out);
            return HIL_OK;
        }
        hil_msg_init(&m, buf, sizeof buf);
        r = hil_aux_recv(a, ch, &m, hil_deadline_left_ms(reply_by));
        if (r == HIL_ERR_TIMEOUT)
            return hil_aux_fail(a, r, "the supply on '%s' did not answer '%s' within %lld ms%s%.*s", hil_channel_name(ch),
                                query, p->reply_timeout_ms, p->rx_len ? "; it sent a part without a line end: " : "",
                                (int)(p->rx_len < 60 ? p->rx_len : 60), p->rx);
        if (r != HIL_OK)
            return hil_aux_fail(a, r, "reading the answer to '%s' from '%s': %s", query, hil_channel_name(ch),
                                hil_last_error());
        if (hil__scpi_push(p->rx, &p->rx_len, sizeof p->rx, m.data, m.len, framed) != 0)
            return hil_aux_fail(a, HIL_ERR_PROTOCOL, "the answer to '%s' from '%s' is longer than %zu bytes without a "
                                "line end: not a SCPI reply (wrong port, baud rate or terminator?)", query,
                                hil_channel_name(ch), sizeof p->rx - 2);
    }
}

static hil_result hil__scpi_query(hil_aux* a, hil__pwr* p, const char* q, uint64_t deadline, char* out, size_t size) {
    hil_result r;
    hil_channel* ch = hil_aux_com(a);
    int k;
    /* an answer that came after its query timed out (or the rest of a
     * flood) must not pass for this one's: drop what is already there */
    p->rx_len = 0;
    hil_channel_flush_input(ch);
    for (k = 0; k < 64; k++) {
        unsigned char junk[256];
        hil_msg m;
        hil_msg_init(&m, junk, sizeof junk);
        if (hil_channel_recv(ch, &m, 0) != HIL_OK) break;
    }
    r = hil__scpi_send(a, p, q, deadline);
    return r != HIL_OK ? r : hil__scpi_line(a, p, q, deadline, out, size);
}

/* A setting, then the error queue: its first entry must be 0. */
static hil_result hil__scpi_set(hil_aux* a, hil__pwr* p, const char* cmd, uint64_t deadline) {
    char line[256], text[200];
    int code = 0;
    hil_result r = hil__scpi_send(a, p, cmd, deadline);
    if (r == HIL_OK) r = hil__scpi_query(a, p, "SYST:ERR?", deadline, line, sizeof line);
    if (r != HIL_OK) return r;
    if (hil_scpi_parse_error(line, strlen(line), &code, text, sizeof text) != HIL_OK)
        return hil_aux_fail(a, HIL_ERR_PROTOCOL, "after '%s': %s", cmd, hil_last_error());
    if (code != 0)
        return hil_aux_fail(a, HIL_ERR_PROTOCOL, "the supply refused '%s': error %d, \"%s\" (SYST:ERR?)", cmd, code, text);
    return HIL_OK;
}

/* "OUTP ON" + the channel: "INST:NSEL 2" sent first, or "OUTP ON,(@2)" */
static hil_result hil__scpi_chan_set(hil_aux* a, hil__pwr* p, const char* what, const char* arg, uint64_t deadline) {
    char cmd[128];
    hil_result r;
    if (p->channel > 0 && !p->list_style) {
        hil__sfmt(cmd, sizeof cmd, "INST:NSEL %lld", p->channel);
        if ((r = hil__scpi_set(a, p, cmd, deadline)) != HIL_OK) return r;
    }
    if (p->channel > 0 && p->list_style) hil__sfmt(cmd, sizeof cmd, "%s %s,(@%lld)", what, arg, p->channel);
    else hil__sfmt(cmd, sizeof cmd, "%s %s", what, arg);
    return hil__scpi_set(a, p, cmd, deadline);
}

static hil_result hil__scpi_chan_query(hil_aux* a, hil__pwr* p, const char* what, uint64_t deadline, char* out,
                                       size_t size) {
    char q[128];
    hil_result r;
    if (p->channel > 0 && !p->list_style) {
        hil__sfmt(q, sizeof q, "INST:NSEL %lld", p->channel);
        if ((r = hil__scpi_set(a, p, q, deadline)) != HIL_OK) return r;
    }
    if (p->channel > 0 && p->list_style) hil__sfmt(q, sizeof q, "%s (@%lld)", what, p->channel);
    else hil__sfmt(q, sizeof q, "%s", what);
    return hil__scpi_query(a, p, q, deadline, out, size);
}

static hil_result hil__pwr_scpi_configure(hil_aux* a, hil__pwr* p) {
    const char* v;
    double d;
    if (hil_aux_opt_int(a, "reply_timeout_ms", 2000, &p->reply_timeout_ms) != HIL_OK) return HIL_ERR_CONFIG;
    if (p->reply_timeout_ms < 1) return hil_aux_fail(a, HIL_ERR_CONFIG, "%sreply_timeout_ms must be >= 1", a->prefix);
    p->list_style = strcmp(hil_aux_opt_str(a, "channel_style", "nsel"), "list") == 0;
    if ((v = hil_aux_opt_str(a, "channel_style", "nsel")) && strcmp(v, "list") != 0 && strcmp(v, "nsel") != 0)
        return hil_aux_fail(a, HIL_ERR_CONFIG, "%schannel_style: '%s' is not nsel or list", a->prefix, v);
    if ((v = hil_aux_opt_str(a, "voltage", NULL)) && *v) {
        if (hil_scpi_parse_number(v, strlen(v), &d) != HIL_OK)
            return hil_aux_fail(a, HIL_ERR_CONFIG, "%svoltage: '%s' is not a number of volts", a->prefix, v);
        p->volt_start = hil_strdup(v);
    }
    if ((v = hil_aux_opt_str(a, "current", NULL)) && *v) {
        if (hil_scpi_parse_number(v, strlen(v), &d) != HIL_OK)
            return hil_aux_fail(a, HIL_ERR_CONFIG, "%scurrent: '%s' is not a number of amps", a->prefix, v);
        p->curr_start = hil_strdup(v);
    }
    return HIL_OK;
}

static hil_result hil__pwr_scpi_open(hil_aux* a, hil__pwr* p, uint64_t deadline) {
    hil_result r = hil__open_com(a);
    size_t k;
    if (r != HIL_OK) return r;
    p->rx_len = 0;
    r = hil__scpi_query(a, p, "*IDN?", deadline, p->idn, sizeof p->idn);
    if (r != HIL_OK) return r;
    for (k = 0; p->idn[k]; k++)
        if ((unsigned char)p->idn[k] < 32 || (unsigned char)p->idn[k] > 126) p->idn[k] = '?';
    HIL_INFO(a->logger, "power supply on '%s': %s", hil_channel_name(hil_aux_com(a)), p->idn);
    if (r == HIL_OK && p->volt_start) r = hil__scpi_chan_set(a, p, "VOLT", p->volt_start, deadline);
    if (r == HIL_OK && p->curr_start) r = hil__scpi_chan_set(a, p, "CURR", p->curr_start, deadline);
    return r;
}

static void hil__pwr_scpi_close(hil_aux* a, hil__pwr* p) {
    (void)p;
    hil_channel_close(hil_aux_com(a));
}

static hil_result hil__pwr_scpi_set(hil_aux* a, hil__pwr* p, int on, uint64_t deadline) {
    return hil__scpi_chan_set(a, p, "OUTP", on ? "ON" : "OFF", deadline);
}

static hil_result hil__pwr_scpi_state(hil_aux* a, hil__pwr* p, int* on, uint64_t deadline) {
    char line[256];
    hil_result r = hil__scpi_chan_query(a, p, "OUTP?", deadline, line, sizeof line);
    if (r == HIL_OK && hil_scpi_parse_bool(line, strlen(line), on) != HIL_OK)
        r = hil_aux_fail(a, HIL_ERR_PROTOCOL, "OUTP?: %s", hil_last_error());
    return r;
}

static hil_result hil__pwr_scpi_setting(hil_aux* a, hil__pwr* p, int current, double value, uint64_t deadline) {
    char arg[64];
    hil__sfmt(arg, sizeof arg, "%.6g", value);
    return hil__scpi_chan_set(a, p, current ? "CURR" : "VOLT", arg, deadline);
}

static hil_result hil__pwr_scpi_measure(hil_aux* a, hil__pwr* p, double* v, double* i, uint64_t deadline) {
    char line[256];
    int k;
    for (k = 0; k < 2; k++) {
        const char* q = k ? "MEAS:CURR?" : "MEAS:VOLT?";
        hil_result r;
        if (!(k ? i : v)) continue;
        r = hil__scpi_chan_query(a, p, q, deadline, line, sizeof line);
        if (r == HIL_OK && hil_scpi_parse_number(line, strlen(line), k ? i : v) != HIL_OK)
            r = hil_aux_fail(a, HIL_ERR_PROTOCOL, "%s: %s", q, hil_last_error());
        if (r != HIL_OK) return r;
    }
    return HIL_OK;
}

/* ---- board driver: hil_channel_power --------------------------------------------------------------------------- */

static hil_result hil__pwr_board_open(hil_aux* a, hil__pwr* p, uint64_t deadline) {
    hil_result r = hil__open_com(a);
    (void)deadline;
    if (r == HIL_OK) p->state = 1; /* an open qemu channel is a running board */
    return r;
}

static void hil__pwr_board_close(hil_aux* a, hil__pwr* p) {
    (void)p;
    hil_channel_close(hil_aux_com(a));
}

static hil_result hil__pwr_board_set(hil_aux* a, hil__pwr* p, int on, uint64_t deadline) {
    hil_result r = hil_channel_power(hil_aux_com(a), on, hil_deadline_left_ms(deadline));
    (void)p;
    if (r != HIL_OK) return hil_aux_fail(a, r, "power %s: %s", on ? "on" : "off", hil_last_error());
    return HIL_OK;
}

static hil_result hil__pwr_board_state(hil_aux* a, hil__pwr* p, int* on, uint64_t deadline) {
    (void)deadline;
    if (p->state < 0) return hil_aux_fail(a, HIL_ERR_STATE, "power_type board: the state is not known yet");
    *on = p->state;
    return HIL_OK;
}

static const hil__pwr_driver hil__pwr_drivers[] = {
    {"command", hil__pwr_cmd_configure, NULL, hil__pwr_cmd_close, hil__pwr_cmd_set, hil__pwr_cmd_cycle,
     hil__pwr_cmd_state, NULL, NULL},
    {"scpi", hil__pwr_scpi_configure, hil__pwr_scpi_open, hil__pwr_scpi_close, hil__pwr_scpi_set, NULL,
     hil__pwr_scpi_state, hil__pwr_scpi_setting, hil__pwr_scpi_measure},
    {"board", NULL, hil__pwr_board_open, hil__pwr_board_close, hil__pwr_board_set, NULL, hil__pwr_board_state, NULL,
     NULL},
    {"qmp", NULL, hil__pwr_board_open, hil__pwr_board_close, hil__pwr_board_set, NULL, hil__pwr_board_state, NULL,
     NULL}
};

static hil_result hil__pwr_set_off_on(hil_aux* a, hil__pwr* p, int off_ms, uint64_t deadline) {
    hil_result r = p->drv->set(a, p, 0, deadline);
    if (r != HIL_OK) return r;
    p->state = 0;
    /* the off time: a wait that an abort or a stop ends at once */
    r = hil_aux_wait(a, NULL, off_ms);
    if (r != HIL_OK && r != HIL_ERR_TIMEOUT) return hil_aux_fail(a, r, "power cycle: stopped while off");
    r = p->drv->set(a, p, 1, deadline);
    if (r == HIL_OK) p->state = 1;
    return r;
}

static hil_result hil__pwr_configure(hil_aux* a) {
    hil__pwr* p = (hil__pwr*)hil_aux_priv(a);
    const char* t = hil_aux_opt_str(a, "power_type", NULL);
    size_t k;
    hil_result r;
    p->state = -1;
    if (!t || !*t) t = hil_aux_opt_str(a, "driver", NULL);
    if (!t || !*t)
        return hil_aux_fail(a, HIL_ERR_CONFIG, "no driver: set %spower_type to command, scpi or board", a->prefix);
    for (k = 0; k < sizeof hil__pwr_drivers / sizeof hil__pwr_drivers[0]; k++)
        if (strcmp(hil__pwr_drivers[k].name, t) == 0) p->drv = &hil__pwr_drivers[k];
    if (!p->drv)
        return hil_aux_fail(a, HIL_ERR_CONFIG, "%spower_type: unknown driver '%s' (command, scpi, board or qmp)",
                            a->prefix, t);
    if ((r = hil_aux_opt_int(a, "timeout_ms", 10000, &p->timeout_ms)) != HIL_OK ||
        (r = hil_aux_opt_int(a, "off_ms", 1000, &p->off_ms)) != HIL_OK ||
        (r = hil_aux_opt_int(a, "channel", 0, &p->channel)) != HIL_OK)
        return r;
    if (p->timeout_ms < 1 || p->off_ms < 0 || p->channel < 0)
        return hil_aux_fail(a, HIL_ERR_CONFIG, "%stimeout_ms must be >= 1, off_ms and channel >= 0", a->prefix);
    return p->drv->configure ? p->drv->configure(a, p) : HIL_OK;
}

static hil_result hil__pwr_create(hil_aux* a) {
    hil__pwr* p = (hil__pwr*)hil_aux_priv(a);
    return p->drv->open ? p->drv->open(a, p, hil_deadline_ms((int)p->timeout_ms)) : HIL_OK;
}

static void hil__pwr_delete(hil_aux* a) {
    hil__pwr* p = (hil__pwr*)hil_aux_priv(a);
    if (p->drv->close) p->drv->close(a, p);
}

static hil_result hil__pwr_unsupported(hil_aux* a, hil__pwr* p, const char* what) {
    return hil_aux_fail(a, HIL_ERR_UNSUPPORTED, "power_type %s cannot %s", p->drv->name, what);
}

static hil_result hil__pwr_run_command(hil_aux* a, const hil_aux_cmd* cmd, hil_aux_report* rep) {
    hil__pwr* p = (hil__pwr*)hil_aux_priv(a);
    hil__pwr_arg arg = {-1, -1, 0};
    uint64_t deadline;
    hil_result r;
    int on = 0;
    double v[2] = {0, 0};
    if (cmd->len == sizeof arg) memcpy(&arg, cmd->data, sizeof arg);
    deadline = hil_deadline_ms(arg.timeout_ms < 0 ? (int)p->timeout_ms : arg.timeout_ms);
    switch (cmd->code) {
    case HIL_POWER_CMD_ON:
    case HIL_POWER_CMD_OFF:
        on = cmd->code == HIL_POWER_CMD_ON;
        r = p->drv->set(a, p, on, deadline);
        if (r == HIL_OK) p->state = on;
        break;
    case HIL_POWER_CMD_CYCLE:
        if (arg.off_ms < 0) arg.off_ms = (int)p->off_ms;
        r = p->drv->cycle ? p->drv->cycle(a, p, arg.off_ms, deadline) : hil__pwr_set_off_on(a, p, arg.off_ms, deadline);
        if (r == HIL_OK) p->state = 1;
        break;
    case HIL_POWER_CMD_STATE:
        r = p->drv->state ? p->drv->state(a, p, &on, deadline) : hil__pwr_unsupported(a, p, "read the state");
        rep->status = on;
        break;
    case HIL_POWER_CMD_SET_VOLTAGE:
    case HIL_POWER_CMD_SET_CURRENT:
        r = p->drv->setting ? p->drv->setting(a, p, cmd->code == HIL_POWER_CMD_SET_CURRENT, arg.value, deadline)
                            : hil__pwr_unsupported(a, p, "set a voltage or a current");
        break;
    case HIL_POWER_CMD_MEASURE: /* value: 1 volts, 2 amps, 3 both (a query less when one is enough) */
        r = p->drv->measure ? p->drv->measure(a, p, ((int)arg.value & 1) ? &v[0] : NULL,
                                              ((int)arg.value & 2) ? &v[1] : NULL, deadline)
                            : hil__pwr_unsupported(a, p, "measure voltage and current");
        memcpy(rep->data, v, sizeof v);
        rep->len = sizeof v;
        break;
    default:
        r = hil_aux_fail(a, HIL_ERR_UNSUPPORTED, "unknown command %d (HIL_POWER_CMD_*)", cmd->code);
    }
    if (r != HIL_OK) hil_aux_report_text(rep, "%s", hil_last_error());
    return r;
}

static void hil__pwr_destroy(hil_aux* a) {
    hil__pwr* p = (hil__pwr*)hil_aux_priv(a);
    size_t k;
    for (k = 0; k < 4; k++) HIL_FREE(p->tmpl[k]);
    HIL_FREE(p->port);
    HIL_FREE(p->board);
    HIL_FREE(p->volt_start);
    HIL_FREE(p->curr_start);
    if (p->have_on) regfree(&p->re_on);
    if (p->have_off) regfree(&p->re_off);
    memset(p, 0, sizeof *p);
}

static const hil_aux_impl hil__power_type = {
    "power", "Switches a board's power: a command (uhubctl, relays), a SCPI supply, or an emulated board",
    sizeof(hil__pwr), hil__pwr_opts, hil__pwr_configure, hil__pwr_create, hil__pwr_delete, hil__pwr_run_command, NULL,
    NULL, hil__pwr_destroy
};

/* ---- the `power` command: an operator's switch, and the scheduler's (resources.<name>.power) ---- */

static int hil__cmd_power(hil_cmd_ctx* ctx) {
    static const char* const ops[] = {"on", "off", "cycle", "status", "measure"};
    hil_aux_config c;
    hil_aux* a = NULL;
    hil_result r = HIL_OK;
    long long off_ms = hil_config_get_int(ctx->config, "power.off_ms", -1);
    long long timeout_ms = hil_config_get_int(ctx->config, "power.timeout_ms", -1);
    size_t k, op = 5;
    for (k = 0; ctx->argc == 2 && k < 5; k++)
        if (strcmp(ctx->argv[0], ops[k]) == 0) op = k;
    if (op == 5) {
        fprintf(stderr, "hil: error: power: say what and which: power on|off|cycle|status|measure AUXILIARY "
                        "[--off-ms N] (auxiliaries.<name>.type = power; docs/power.md)\n");
        return 2;
    }
    hil_aux_config_init(&c);
    c.name = ctx->argv[1];
    c.config = ctx->config;
    if (hil_aux_create(&c, &a) != HIL_OK) {
        fprintf(stderr, "hil: error: power %s %s: %s\n", ops[op], ctx->argv[1], hil_last_error());
        return 3;
    }
    switch (op) {
    case 0: r = hil_power_on(a, (int)timeout_ms); break;
    case 1: r = hil_power_off(a, (int)timeout_ms); break;
    case 2: r = hil_power_cycle(a, (int)off_ms, (int)timeout_ms); break;
    case 3: {
        int on = 0;
        if ((r = hil_power_state(a, &on, (int)timeout_ms)) == HIL_OK) printf("%s: %s\n", ctx->argv[1], on ? "on" : "off");
        break;
    }
    default: {
        double v = 0, i = 0;
        if ((r = hil_power_measure(a, &v, &i, (int)timeout_ms)) == HIL_OK) printf("%s: %.6g V, %.6g A\n", ctx->argv[1], v, i);
    }
    }
    if (r != HIL_OK) fprintf(stderr, "hil: error: power %s %s: %s\n", ops[op], ctx->argv[1], hil_last_error());
    else if (op < 3) printf("%s: %s\n", ctx->argv[1], op == 2 ? "power-cycled" : ops[op]);
    hil_aux_destroy(a);
    return r == HIL_OK ? 0 : 1;
}

static void hil__describe_power(hil_extension* ext) {
    hil_command* c;
    hil_option* o;
    ext->description = "The power command: switch a power auxiliary (hil_aux.h, docs/power.md)";
    c = hil_ext_command(ext, "power", "Switch, read or measure a power auxiliary: power on|off|cycle|status|measure AUX",
                        hil__cmd_power);
    c->usage = "on|off|cycle|status|measure AUXILIARY";
    o = hil_ext_option(ext, "power.off_ms", HIL_OPT_INT, "-1",
                       "power cycle: how long the power stays off (-1: the auxiliary's off_ms)");
    o->cli = "--off-ms";
    o->metavar = "MS";
    o->commands = "power";
    o = hil_ext_option(ext, "power.timeout_ms", HIL_OPT_INT, "-1",
                       "power: how long the operation may take (-1: the auxiliary's timeout_ms)");
    o->cli = "--power-timeout";
    o->metavar = "MS";
    o->commands = "power";
}

static void hil__power_register(void) {
    (void)hil_aux_type_register(&hil__power_type);
    hil_extension_declare("power", HIL_EXT_FRAMEWORK, hil__describe_power);
}

/* ---- the API: commands of the auxiliary ----------------------------------------------------------------------------- */

static hil_result hil__pwr_call(hil_aux* a, int code, int timeout_ms, int off_ms, double value, hil_aux_report* rep) {
    hil__pwr_arg arg;
    hil_aux_cmd cmd;
    hil_aux_report local;
    hil_result r;
    int wait_ms;
    if (!a) return hil_error(HIL_ERR_INVALID_ARG, "power: no auxiliary (is it configured? hil_aux_get returned NULL)");
    if (strcmp(hil_aux_type(a), "power") != 0)
        return hil_error(HIL_ERR_INVALID_ARG, "auxiliary '%s' is of type '%s', not power", hil_aux_name(a),
                         hil_aux_type(a));
    if (!rep) rep = &local;
    arg.timeout_ms = timeout_ms;
    arg.off_ms = off_ms;
    arg.value = value;
    cmd.code = code;
    cmd.data = &arg;
    cmd.len = sizeof arg;
    /* the command bounds itself; the wait leaves it room to say why it failed.
     * -1: its own timeout_ms, which only the worker knows: wait as long */
    wait_ms = timeout_ms < 0 ? -1 : timeout_ms + (off_ms > 0 ? off_ms : 0) + 2000;
    r = hil_aux_run_command(a, &cmd, 1, wait_ms, rep);
    if (r == HIL_OK) r = rep->result;
    if (r != HIL_OK && rep->text[0]) hil_error(r, "%s", rep->text);
    return r;
}

HIL_API hil_result hil_power_on(hil_aux* a, int timeout_ms) { return hil__pwr_call(a, HIL_POWER_CMD_ON, timeout_ms, 0, 0, NULL); }
HIL_API hil_result hil_power_off(hil_aux* a, int timeout_ms) { return hil__pwr_call(a, HIL_POWER_CMD_OFF, timeout_ms, 0, 0, NULL); }
HIL_API hil_result hil_power_cycle(hil_aux* a, int off_ms, int timeout_ms) {
    return hil__pwr_call(a, HIL_POWER_CMD_CYCLE, timeout_ms, off_ms, 0, NULL);
}
HIL_API hil_result hil_power_state(hil_aux* a, int* on, int timeout_ms) {
    hil_aux_report rep;
    hil_result r;
    hil_aux_report_init(&rep);
    r = hil__pwr_call(a, HIL_POWER_CMD_STATE, timeout_ms, 0, 0, &rep);
    if (r == HIL_OK && on) *on = rep.status;
    return r;
}
HIL_API hil_result hil_power_set_voltage(hil_aux* a, double volts, int timeout_ms) {
    return hil__pwr_call(a, HIL_POWER_CMD_SET_VOLTAGE, timeout_ms, 0, volts, NULL);
}
HIL_API hil_result hil_power_set_current(hil_aux* a, double amps, int timeout_ms) {
    return hil__pwr_call(a, HIL_POWER_CMD_SET_CURRENT, timeout_ms, 0, amps, NULL);
}
HIL_API hil_result hil_power_measure(hil_aux* a, double* volts, double* amps, int timeout_ms) {
    hil_aux_report rep;
    hil_result r;
    double v[2];
    hil_aux_report_init(&rep);
    r = hil__pwr_call(a, HIL_POWER_CMD_MEASURE, timeout_ms, 0, (volts ? 1 : 0) + (amps ? 2 : 0), &rep);
    if (r == HIL_OK && rep.len == sizeof v) {
        memcpy(v, rep.data, sizeof v);
        if (volts) *volts = v[0];
        if (amps) *amps = v[1];
    }
    return r;
}

#ifdef __cplusplus
}
#endif

#endif /* HIL_IMPLEMENTATION */
