/* hil_connectors.h - channels to devices, for hil.
 *
 * A channel moves messages between a test and a device: bytes on a byte
 * stream (serial, TCP, a simulator's stdin/stdout) cut into frames by a
 * framer, or whole packets (UDP datagrams, CAN frames). Channel types are
 * registered by name and created from configuration:
 *
 *     # lab.conf
 *     connectors.dut.type = loopback
 *
 *     hil_channel* ch;
 *     hil_msg m;
 *     char buf[64];
 *     HIL_ASSERT_OK(hil_channel_from_config("dut", &ch));
 *     HIL_ASSERT_OK(hil_channel_open(ch));
 *     HIL_ASSERT_OK(hil_channel_send_bytes(ch, "ping", 4, 1000));
 *     hil_msg_init(&m, buf, sizeof buf);
 *     HIL_ASSERT_OK(hil_channel_recv(ch, &m, 1000));
 *     hil_channel_destroy(ch);
 *
 * or directly, without a config file:
 *
 *     hil_channel_config c;
 *     const char* opts[] = {"capacity=64", NULL};
 *     hil_channel_config_init(&c);
 *     c.name = "echo";
 *     c.type = "loopback";
 *     c.options = opts;
 *     hil_channel_create(&c, &ch);
 *
 * THREADS: one reader and one writer may use a channel at the same time
 * (an auxiliary's receive loop and a test sending), and close() may come
 * from any thread: it wakes a blocked reader or writer (they return
 * HIL_ERR_CLOSED) and waits for them to leave before releasing anything.
 * open() and destroy() from one thread while nobody reads or writes. No
 * lock is held across a blocking receive.
 *
 * WAITING: hil_channel_poll_fd() gives a descriptor that is readable when a
 * receive may not block, so an auxiliary waits on several channels and its
 * own command queue (a hil_waker) in one poll() without polling in a loop.
 * After a wake-up, hil_channel_recv(ch, m, 0) returns HIL_ERR_AGAIN when
 * the bytes so far do not make a whole frame yet.
 *
 * OWN CHANNEL TYPES: fill a hil_channel_type and register it with
 * hil_channel_type_register() (or HIL_CHANNEL_TYPE(var) at file scope);
 * see docs/connectors.md. No header needs editing.
 *
 * Needs hil.h. The implementation is compiled where HIL_IMPLEMENTATION is
 * defined.
 */
#ifndef HIL_CONNECTORS_H_INCLUDED
#define HIL_CONNECTORS_H_INCLUDED

#include "hil.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- messages -------------------------------------------------------------- */

#define HIL_MSG_EXTENDED 0x01u  /* 29-bit CAN identifier */
#define HIL_MSG_RTR 0x02u       /* CAN remote transmission request */
#define HIL_MSG_FD 0x04u        /* CAN FD frame */
#define HIL_MSG_BRS 0x08u       /* CAN FD bit rate switch */
#define HIL_MSG_ESI 0x10u       /* CAN FD error state indicator */
#define HIL_MSG_ERROR 0x20u     /* an error frame or error report from the device/driver */
#define HIL_MSG_ECHO 0x40u      /* our own message coming back (CAN own-message, proxy echo) */
#define HIL_MSG_TRUNCATED 0x80u /* did not fit the receive buffer; len is what fit */

/* A message: the caller owns the buffer. For receive, set data/cap (with
 * hil_msg_init); the channel fills len, remote_id, flags and timestamp_ns. */
typedef struct hil_msg {
    void* data;
    size_t len;
    size_t cap;
    uint32_t remote_id;     /* CAN id, UDP peer port, proxy origin...; 0 when unused */
    uint32_t flags;         /* HIL_MSG_* */
    uint64_t timestamp_ns;  /* receive time, CLOCK_REALTIME ns (kernel time where the driver gives it) */
} hil_msg;

HIL_API void hil_msg_init(hil_msg* m, void* buf, size_t cap);

/* ---- channel types ----------------------------------------------------------- */

typedef struct hil_channel hil_channel;

/* An option a channel type reads: registered as "connectors.*.<name>", so
 * configuration files are checked (types, choices) and documented. */
typedef struct hil_channel_opt {
    const char* name;
    hil_opt_type type;
    const char* default_value;
    const char* help;
    const char* choices;     /* HIL_OPT_CHOICE: "a|b|c" */
} hil_channel_opt;

typedef struct hil_channel_type {
    const char* name;        /* "tcp" */
    const char* description;
    int stream;              /* 1: a byte stream; framing applies. 0: packets */
    size_t state_size;       /* private state, zeroed, at hil_channel_state(ch) */
    const hil_channel_opt* opts;   /* the type's options, {NULL} terminated; may be NULL */
    /* Read and check options (hil_channel_opt_*). Called once at create. */
    hil_result (*configure)(hil_channel* ch);
    hil_result (*open)(hil_channel* ch);
    /* Release what open() got. Must also wake a reader blocked in recv(). */
    void (*close)(hil_channel* ch);
    /* Packets: one message. Streams: all of m->data (the framer already encoded it). */
    hil_result (*send)(hil_channel* ch, const hil_msg* m, int timeout_ms);
    /* Packets: one message. Streams: whatever bytes are there (at least 1),
     * up to m->cap. HIL_ERR_TIMEOUT, HIL_ERR_AGAIN (timeout 0), HIL_ERR_CLOSED. */
    hil_result (*recv)(hil_channel* ch, hil_msg* m, int timeout_ms);
    /* Readable when recv may not block; -1 if the type has none. */
    int (*poll_fd)(hil_channel* ch);
    /* Free what configure() allocated. May be NULL. */
    void (*destroy)(hil_channel* ch);
} hil_channel_type;

/* Register the built-in types and their options (done by a constructor;
 * call it before hil_main with HIL_NO_CONSTRUCTORS). */
HIL_API void hil_connectors_init(void);
/* Register a type (the struct must outlive the program). A name registered
 * twice is an error. */
HIL_API hil_result hil_channel_type_register(const hil_channel_type* t);
HIL_API const hil_channel_type* hil_channel_type_find(const char* name);
/* Names of all registered types: returns the count, fills up to max. */
HIL_API size_t hil_channel_types(const char** out, size_t max);

#ifndef HIL_NO_CONSTRUCTORS
#define HIL_CHANNEL_TYPE(var) \
    HIL__CONSTRUCTOR(hil__reg_chtype_##var) { (void)hil_channel_type_register(&var); }
#else
#define HIL_CHANNEL_TYPE(var)
#endif

/* ---- channels ----------------------------------------------------------------- */

typedef struct hil_channel_stats {
    uint64_t tx_msgs, rx_msgs;
    uint64_t tx_bytes, rx_bytes;
    uint64_t rx_dropped;      /* lost before we read them (queue full, kernel drops) */
    uint64_t frame_errors;    /* corrupt frames skipped while resynchronising */
    uint64_t oversize;        /* frames longer than max_frame, skipped */
} hil_channel_stats;

typedef struct hil_channel_config {
    const char* name;               /* the connector's name, used in messages ("dut") */
    const char* type;               /* NULL: "connectors.<name>.type" from the config */
    hil_config* config;             /* where options are read; NULL: the program's (hil_cfg()) */
    const char* const* options;     /* "key=value" (without the connectors.<name>. prefix),
                                       NULL-terminated; they win over the config */
} hil_channel_config;

HIL_API void hil_channel_config_init(hil_channel_config* c);
HIL_API hil_result hil_channel_create(const hil_channel_config* c, hil_channel** out);
/* hil_channel_create for the connector `name` of the program's configuration. */
HIL_API hil_result hil_channel_from_config(const char* name, hil_channel** out);
HIL_API hil_result hil_channel_open(hil_channel* ch);
/* Safe to call twice; wakes a blocked reader. */
HIL_API void hil_channel_close(hil_channel* ch);
/* Closes if open, then frees. */
HIL_API void hil_channel_destroy(hil_channel* ch);
HIL_API int hil_channel_is_open(const hil_channel* ch);
/* Send one message (a frame on streams). */
HIL_API hil_result hil_channel_send(hil_channel* ch, const hil_msg* m, int timeout_ms);
HIL_API hil_result hil_channel_send_bytes(hil_channel* ch, const void* data, size_t len, int timeout_ms);
/* Receive one message (a whole frame on streams). */
HIL_API hil_result hil_channel_recv(hil_channel* ch, hil_msg* m, int timeout_ms);
HIL_API int hil_channel_poll_fd(hil_channel* ch);
HIL_API const char* hil_channel_name(const hil_channel* ch);
HIL_API const hil_channel_type* hil_channel_get_type(const hil_channel* ch);
HIL_API void hil_channel_get_stats(const hil_channel* ch, hil_channel_stats* out);
/* Wait until one of the channels may be read or the waker fires.
 * *index: the channel's index, or n for the waker. HIL_ERR_TIMEOUT. */
HIL_API hil_result hil_channel_wait(hil_channel* const* chs, size_t n, hil_waker* w, int timeout_ms,
                                    size_t* index);

/* ---- for channel type implementations ----------------------------------------- */

/* Blocking in send/recv: wait for fd (POLLIN or POLLOUT in events) and for
 * the channel being closed from another thread, which returns
 * HIL_ERR_CLOSED. Every blocking wait of a type must go through this (or
 * include hil_channel_close_fd() in its own poll set): hil_channel_close()
 * waits for running sends and receives to return before it calls the
 * type's close(), so that no resource is freed under a blocked call.
 * HIL_OK when fd is ready, HIL_ERR_TIMEOUT (HIL_ERR_AGAIN for timeout 0). */
HIL_API hil_result hil_channel_wait_fd(hil_channel* ch, int fd, short events, int timeout_ms);
/* Readable once hil_channel_close() has started. */
HIL_API int hil_channel_close_fd(hil_channel* ch);
HIL_API void* hil_channel_state(hil_channel* ch);
/* Options of this channel: "connectors.<name>.<key>" or the create() options. */
HIL_API const char* hil_channel_opt_str(hil_channel* ch, const char* key, const char* fallback);
HIL_API hil_result hil_channel_opt_int(hil_channel* ch, const char* key, long long fallback, long long* out);
HIL_API hil_result hil_channel_opt_float(hil_channel* ch, const char* key, double fallback, double* out);
HIL_API hil_result hil_channel_opt_bool(hil_channel* ch, const char* key, int fallback, int* out);
/* Count into the channel's statistics (thread-safe). */
HIL_API void hil_channel_count(hil_channel* ch, uint64_t* counter, uint64_t n);
HIL_API hil_channel_stats* hil_channel_stats_ptr(hil_channel* ch);
/* Set hil_last_error() to "<type> '<name>': <what>" and return r. */
HIL_API hil_result hil_channel_error(hil_channel* ch, hil_result r, const char* fmt, ...) HIL__PRINTF(3, 4);

/* ---- the loopback type ----------------------------------------------------------- */
/* "loopback": what is sent is received, in order, in-process (for tests).
 * Options: capacity (messages queued, default 1024; a full queue makes
 * send wait up to its timeout, then HIL_ERR_OVERFLOW). */

/* ==========================================================================
 * socketcan: CAN and CAN FD through Linux SocketCAN, interface control
 * (libsocketcan), CAN traces (candump log, pcap) and log replay.
 * [section: socketcan / hil_can -- see docs/can.md]
 *
 * The "socketcan" channel type is a CAN_RAW socket on a network interface
 * (can0, vcan0). One hil_msg is one CAN frame:
 *
 *     # lab.conf
 *     connectors.bus.type = socketcan
 *     connectors.bus.interface = can0
 *     connectors.bus.bitrate = 500000        # libsocketcan + CAP_NET_ADMIN; omit if set up already
 *     connectors.bus.filters = 7E8:7FF,18DAF100:1FFFFF00
 *
 *     hil_channel* bus;
 *     hil_msg m;
 *     unsigned char req[8] = {0x02, 0x10, 0x03}, buf[64];
 *     char text[256];
 *     HIL_ASSERT_OK(hil_channel_from_config("bus", &bus));
 *     HIL_ASSERT_OK(hil_channel_open(bus));
 *     hil_msg_init(&m, req, sizeof req);
 *     m.len = 8;
 *     m.remote_id = 0x7E0;                 // 11-bit; with HIL_MSG_EXTENDED a 29-bit id
 *     HIL_ASSERT_OK(hil_channel_send(bus, &m, 100));
 *     hil_msg_init(&m, buf, sizeof buf);
 *     HIL_ASSERT_OK(hil_channel_recv(bus, &m, 1000));
 *     HIL_ASSERT(!(m.flags & HIL_MSG_ERROR), "%s", hil_can_error_str(&m, text, sizeof text));
 *     HIL_ASSERT_EQ(m.remote_id, 0x7E8);
 *     hil_channel_destroy(bus);
 *
 * MESSAGES. remote_id is the CAN identifier without flag bits (<= 0x7FF, or
 * <= 0x1FFFFFFF with HIL_MSG_EXTENDED). len is the payload length: 0..8 for
 * classic CAN, 0..64 with HIL_MSG_FD (plus HIL_MSG_BRS, HIL_MSG_ESI). A
 * remote request (HIL_MSG_RTR) carries no data; its len is the requested
 * DLC (0..8). Received frames carry the kernel's receive time in
 * timestamp_ns; HIL_MSG_ECHO marks our own frame coming back (option
 * receive_own). An error frame (option error_mask) arrives with
 * HIL_MSG_ERROR, remote_id = the error class bits (HIL_CAN_ERR_*) and the 8
 * data bytes of linux/can/error.h; hil_can_error_str() turns it into text.
 * Sending HIL_MSG_ERROR writes an error frame: only virtual interfaces
 * (vcan) pass it on, which is how error handling is tested without a bus.
 *
 * OPTIONS (connectors.<name>.<option>):
 *   interface        the CAN interface, required (can0, vcan0)
 *   filters          receive filters "id:mask,..." (candump syntax): a frame
 *                    passes when frame_id & mask == id & mask; "id~mask"
 *                    passes what does NOT match. An id written with 8 hex
 *                    digits or above 7FF is a 29-bit id and matches only
 *                    29-bit frames, else only 11-bit frames. Hex, no 0x.
 *                    Default: everything passes.
 *   filter_join      true: a frame must pass every filter (AND), not any (OR);
 *                    with "~" filters this means "all but these ids"
 *   error_mask       error frames to receive: none (default), all, a number
 *                    (HIL_CAN_ERR_* bits), or names joined by ',' or '|':
 *                    tx_timeout lostarb crtl prot trx ack busoff buserror
 *                    restarted cnt
 *   receive_own      true: our own frames come back, flagged HIL_MSG_ECHO
 *   local_loopback   false: other sockets on this host do not see our frames
 *   fd_frames        false: refuse CAN FD frames on this socket (default true)
 *   rcvbuf           socket receive buffer in bytes (default: the system's);
 *                    frames lost to a full buffer count in rx_dropped and log
 *                    a warning (SO_RXQ_OVFL)
 *   sndbuf           socket send buffer in bytes; 0 (default) is the kernel
 *                    minimum, so send waits while frames are in flight rather
 *                    than failing on a full device queue; -1: the system's
 *   Interface control, applied at open through libsocketcan (a build with
 *   HIL_HAVE_LIBSOCKETCAN; changing them needs CAP_NET_ADMIN). When the
 *   interface already runs with the values asked for, nothing is changed,
 *   so an unprivileged program works on an interface set up beforehand:
 *   bitrate          nominal bit rate in bit/s
 *   sample_point     0 < x < 1 (0.875); default: the driver's choice
 *   data_bitrate     CAN FD data phase bit rate (libsocketcan with
 *                    can_set_canfd_bittiming) and data_sample_point
 *   restart_ms       automatic restart after bus-off, ms (0: off)
 *   loopback listen_only triple_sampling one_shot berr_reporting fd
 *   fd_non_iso presume_ack
 *                    controller modes (true/false; unset: left as they are)
 *   state            keep (default): leave the interface as it is (it must be
 *                    up); up: start it if it is down
 *   The interface is stopped, configured and started again when any of
 *   these differs from what it runs with.
 *
 * INTERFACE CONTROL: the hil_can_* functions below take an interface name
 * and work on it directly (auxiliaries and tests call them). Without
 * libsocketcan they return HIL_ERR_MISSING_LIBRARY; without the privilege
 * HIL_ERR_PERMISSION; the message says what to install or do. libsocketcan
 * itself prints "RTNETLINK answers: ..." on stderr when the kernel refuses.
 *
 * TRACES: hil_can_trace_open(path, HIL_CAN_TRACE_CANDUMP or _PCAP) and
 * hil_can_trace_write(tr, "can0", &msg) record frames in the candump log
 * format that can-utils read (log2asc, canplayer) or in pcap with
 * LINKTYPE_CAN_SOCKETCAN that Wireshark/tshark read. hil_can_log_open()
 * reads a candump log; hil_can_replay() plays one into a channel with its
 * original timing or as fast as possible.
 *
 * PLATFORM: the channel needs Linux with AF_CAN (modules can, can-raw; vcan
 * for virtual buses). Elsewhere it compiles, and open() says why it cannot
 * work. These machines' kernel has no AF_CAN: `make test-vm` runs the CAN
 * tests in a QEMU VM with real kernel drivers (tests/vm/README.md).
 *
 * THREADS: as for every channel (one reader, one writer). The hil_can_*
 * functions and trace writers are thread-safe (a trace has its own lock);
 * a hil_can_log reader belongs to one thread.
 * ========================================================================== */

/* Error classes: hil_msg.remote_id of an error frame (linux/can/error.h). */
#define HIL_CAN_ERR_TX_TIMEOUT 0x001u  /* TX timeout (by the driver) */
#define HIL_CAN_ERR_LOSTARB 0x002u     /* lost arbitration: data[0] = bit */
#define HIL_CAN_ERR_CRTL 0x004u        /* controller problems: data[1] */
#define HIL_CAN_ERR_PROT 0x008u        /* protocol violation: data[2] type, data[3] location */
#define HIL_CAN_ERR_TRX 0x010u         /* transceiver status: data[4] */
#define HIL_CAN_ERR_ACK 0x020u         /* no ACK on transmission */
#define HIL_CAN_ERR_BUSOFF 0x040u      /* bus off */
#define HIL_CAN_ERR_BUSERROR 0x080u    /* bus error */
#define HIL_CAN_ERR_RESTARTED 0x100u   /* controller restarted */
#define HIL_CAN_ERR_CNT 0x200u         /* error counters in data[6] (tx), data[7] (rx) */
#define HIL_CAN_ERR_ALL 0x1FFFFFFFu

/* Describe an error frame ("bus-off; controller: tx error-passive; ...").
 * Returns out. For a message without HIL_MSG_ERROR: "not an error frame". */
HIL_API const char* hil_can_error_str(const hil_msg* m, char* out, size_t size);

/* Longest text of one frame in candump's compact form (FD, 64 bytes). */
#define HIL_CAN_FRAME_TEXT_MAX 160
/* "123#DEADBEEF", "1ABCDE00#R", "456##1<64 bytes>", "20000040#00...": the
 * frame in candump's compact form. Returns the length written (0 when out
 * is too small or the frame is invalid). */
HIL_API size_t hil_can_format_frame(const hil_msg* m, char* out, size_t size);
/* The reverse: parse a compact frame into m (m->data must hold 64 bytes for
 * FD frames). HIL_ERR_INVALID_ARG with the reason. */
HIL_API hil_result hil_can_parse_frame(const char* text, hil_msg* m);

/* ---- interface control (libsocketcan) -------------------------------------- */

typedef enum hil_can_state {
    HIL_CAN_STATE_ERROR_ACTIVE = 0,  /* error counters < 96 */
    HIL_CAN_STATE_ERROR_WARNING,     /* < 128 */
    HIL_CAN_STATE_ERROR_PASSIVE,     /* < 256 */
    HIL_CAN_STATE_BUS_OFF,
    HIL_CAN_STATE_STOPPED,           /* the interface is down */
    HIL_CAN_STATE_SLEEPING,
    HIL_CAN_STATE_UNKNOWN
} hil_can_state;

HIL_API const char* hil_can_state_str(hil_can_state s);  /* "ERROR_ACTIVE", ... */

/* Controller modes (the kernel's CAN_CTRLMODE_* bits). */
#define HIL_CAN_CTRL_LOOPBACK 0x01u
#define HIL_CAN_CTRL_LISTEN_ONLY 0x02u
#define HIL_CAN_CTRL_TRIPLE_SAMPLING 0x04u
#define HIL_CAN_CTRL_ONE_SHOT 0x08u
#define HIL_CAN_CTRL_BERR_REPORTING 0x10u
#define HIL_CAN_CTRL_FD 0x20u
#define HIL_CAN_CTRL_PRESUME_ACK 0x40u
#define HIL_CAN_CTRL_FD_NON_ISO 0x80u

typedef struct hil_can_bittiming {
    uint32_t bitrate;       /* bit/s */
    uint32_t sample_point;  /* tenths of a percent: 875 is 87.5 % */
    uint32_t tq;            /* time quantum, ns */
    uint32_t prop_seg, phase_seg1, phase_seg2, sjw, brp;
    uint32_t clock_hz;      /* the controller's clock (0 if unknown) */
} hil_can_bittiming;

typedef struct hil_can_berr {
    uint32_t tx_errors, rx_errors;  /* the controller's error counters */
} hil_can_berr;

/* The driver's CAN statistics and the interface's link statistics. */
typedef struct hil_can_stats {
    uint32_t bus_error, error_warning, error_passive, bus_off, arbitration_lost, restarts;
    uint64_t rx_packets, tx_packets, rx_bytes, tx_bytes;
    uint64_t rx_errors, tx_errors, rx_dropped, tx_dropped, rx_over_errors;
} hil_can_stats;

/* What hil_can_configure() sets; hil_can_if_config_init() means "change
 * nothing". */
typedef struct hil_can_if_config {
    uint32_t bitrate;            /* 0: keep */
    uint32_t sample_point;       /* tenths of a percent; 0: the driver's choice */
    uint32_t data_bitrate;       /* CAN FD data phase; 0: keep */
    uint32_t data_sample_point;
    int64_t restart_ms;          /* -1: keep */
    uint32_t ctrl_mask;          /* HIL_CAN_CTRL_* bits to set ... */
    uint32_t ctrl_flags;         /* ... to these values */
    int start;                   /* 1: the interface ends up started */
} hil_can_if_config;

HIL_API void hil_can_if_config_init(hil_can_if_config* c);
/* Bring the interface to c: when anything differs from what it runs with,
 * stop it, set what differs, start it again (when c->start or it was up).
 * *changed (may be NULL) tells whether anything was changed. */
HIL_API hil_result hil_can_configure(const char* ifname, const hil_can_if_config* c, int* changed);
/* Stops the interface if needed, sets the bit rate (sample_point 0: the
 * driver's choice), and leaves it stopped: call hil_can_start(). */
HIL_API hil_result hil_can_set_bitrate(const char* ifname, uint32_t bitrate, uint32_t sample_point);
/* Nominal and CAN FD data bit rates at once (needs a libsocketcan with
 * can_set_canfd_bittiming; HIL_ERR_UNSUPPORTED otherwise). Leaves it stopped. */
HIL_API hil_result hil_can_set_data_bitrate(const char* ifname, uint32_t bitrate, uint32_t sample_point,
                                            uint32_t data_bitrate, uint32_t data_sample_point);
HIL_API hil_result hil_can_get_bittiming(const char* ifname, hil_can_bittiming* out);
/* Set the modes in mask to flags (the interface must be stopped). */
HIL_API hil_result hil_can_set_ctrlmode(const char* ifname, uint32_t mask, uint32_t flags);
HIL_API hil_result hil_can_get_ctrlmode(const char* ifname, uint32_t* flags);
/* Automatic restart after bus-off (0: off); the interface must be stopped. */
HIL_API hil_result hil_can_set_restart_ms(const char* ifname, uint32_t ms);
HIL_API hil_result hil_can_get_restart_ms(const char* ifname, uint32_t* ms);
HIL_API hil_result hil_can_start(const char* ifname);
HIL_API hil_result hil_can_stop(const char* ifname);
/* Restart a controller in BUS_OFF (the kernel refuses in other states). */
HIL_API hil_result hil_can_restart(const char* ifname);
HIL_API hil_result hil_can_get_state(const char* ifname, hil_can_state* out);
HIL_API hil_result hil_can_get_berr_counter(const char* ifname, hil_can_berr* out);
HIL_API hil_result hil_can_get_stats(const char* ifname, hil_can_stats* out);

/* ---- traces -------------------------------------------------------------------- */

typedef enum hil_can_trace_format {
    HIL_CAN_TRACE_CANDUMP = 0,  /* candump -l: "(1700000000.123456) can0 123#DEADBEEF" */
    HIL_CAN_TRACE_PCAP          /* pcap, LINKTYPE_CAN_SOCKETCAN (227), ns timestamps */
} hil_can_trace_format;

/* "candump" (or "log"), "pcap"; NULL or "auto": by the path's extension
 * (.pcap is pcap, anything else candump). */
HIL_API hil_result hil_can_trace_format_parse(const char* s, const char* path, hil_can_trace_format* out);

typedef struct hil_can_trace hil_can_trace;
/* Create (truncate) path. Writes are buffered: hil_can_trace_flush() or
 * close make them durable. */
HIL_API hil_result hil_can_trace_open(const char* path, hil_can_trace_format fmt, hil_can_trace** out);
/* Record one frame seen on ifname (pcap has no interface field: one file
 * per interface there). The time is m->timestamp_ns, or now when 0.
 * Thread-safe: several channels may write one trace. */
HIL_API hil_result hil_can_trace_write(hil_can_trace* tr, const char* ifname, const hil_msg* m);
HIL_API hil_result hil_can_trace_flush(hil_can_trace* tr);
HIL_API size_t hil_can_trace_count(hil_can_trace* tr);
/* Flush and close; reports a write error that happened on the way. */
HIL_API hil_result hil_can_trace_close(hil_can_trace* tr);

/* Reading a candump log, line by line. */
typedef struct hil_can_log hil_can_log;
typedef struct hil_can_log_entry {
    uint64_t timestamp_ns;   /* from "(sec.usec)" */
    char ifname[32];
    hil_msg msg;             /* data points into the reader, valid until the next call */
    unsigned line;           /* line number in the file */
} hil_can_log_entry;

HIL_API hil_result hil_can_log_open(const char* path, hil_can_log** out);
/* The next frame; HIL_ERR_CLOSED at the end, HIL_ERR_PROTOCOL for a line
 * that is not a candump log line (the message names file and line). */
HIL_API hil_result hil_can_log_next(hil_can_log* lg, hil_can_log_entry* e);
HIL_API void hil_can_log_close(hil_can_log* lg);

/* Play a candump log into a channel. */
typedef struct hil_can_replay_config {
    const char* path;          /* the candump log */
    hil_channel* channel;      /* open; receives every frame */
    const char* interface;     /* only lines of this interface; NULL: all lines */
    int realtime;              /* 1 (default): keep the log's timing; 0: as fast as possible */
    int send_timeout_ms;       /* per frame (default 1000) */
    hil_waker* stop;           /* optional: waking it stops the replay (HIL_ERR_ABORTED) */
} hil_can_replay_config;

HIL_API void hil_can_replay_config_init(hil_can_replay_config* c);
/* Returns when the log is played (or on the first error); *sent (may be
 * NULL) counts the frames sent. The first frame goes at once, every later
 * one at its offset from the first: the replay waits on deadlines, so a
 * slow send does not shift the frames after it. */
HIL_API hil_result hil_can_replay(const hil_can_replay_config* c, size_t* sent);

/* The socketcan channel type (registered by hil_connectors.h itself). */
HIL_API const hil_channel_type* hil_socketcan_channel_type(void);

/* ==== end of section: socketcan / hil_can ==================================== */

#ifdef __cplusplus
}
#endif

#endif /* HIL_CONNECTORS_H_INCLUDED */

/* ==========================================================================
 * Implementation
 * ========================================================================== */
#if defined(HIL_IMPLEMENTATION) && !defined(HIL_CONNECTORS__IMPLEMENTED)
#define HIL_CONNECTORS__IMPLEMENTED

#include <errno.h>
#include <string.h>
#include <poll.h>
#include <unistd.h>

#ifdef __cplusplus
extern "C" {
#endif

struct hil_channel {
    const hil_channel_type* type;
    char* name;
    char* prefix;            /* "connectors.<name>." */
    hil_config* cfg;
    hil_config* own_cfg;     /* created for options given to create() */
    void* state;
    hil_channel_stats stats;
    /* open/close against concurrent send and recv */
    hil_mutex mu;
    hil_cond idle;           /* calls dropped to 0 */
    hil_waker closing_w;     /* readable while closing */
    int is_open;             /* under mu */
    int closing;             /* under mu */
    int calls;               /* sends and receives running, under mu */
};

HIL_API void hil_msg_init(hil_msg* m, void* buf, size_t cap) {
    memset(m, 0, sizeof *m);
    m->data = buf;
    m->cap = cap;
}

/* ---- the type registry --------------------------------------------------------- */

static const hil_channel_type* hil__chtypes[64];
static size_t hil__n_chtypes;

/* Options every channel has, whatever its type. */
static const hil_channel_opt hil__channel_common_opts[] = {
    {"type", HIL_OPT_STRING, NULL, "The channel type of connector <name> (see docs/connectors.md)", NULL},
    {NULL, HIL_OPT_STRING, NULL, NULL, NULL}
};

static void hil__chtype_options(const hil_channel_type* t) {
    static hil_extension* ext;
    size_t i;
    char* key;
    const hil_channel_opt* lists[2];
    size_t l;
    if (!ext) {
        ext = hil_extension_declare("connectors", HIL_EXT_FRAMEWORK, NULL);
        if (!ext) return;
        ext->description = "Channels to devices: connectors.<name>.type and each type's options";
        lists[0] = hil__channel_common_opts;
        lists[1] = t->opts;
    } else {
        lists[0] = t->opts;
        lists[1] = NULL;
    }
    for (l = 0; l < 2; l++)
    for (i = 0; lists[l] && lists[l][i].name; i++) {
        const hil_channel_opt* o = &lists[l][i];
        size_t n = strlen(o->name) + 14;
        hil_option* opt;
        key = (char*)HIL_MALLOC(n);
        if (!key) return;
        snprintf(key, n, "connectors.*.%s", o->name);
        if (hil_option_find(key) && strcmp(hil_option_find(key)->key, key) == 0) {
            HIL_FREE(key); /* declared by another type already */
            continue;
        }
        opt = hil_ext_option(ext, key, o->type, o->default_value, o->help);
        if (opt) opt->choices = o->choices;
    }
}

HIL_API hil_result hil_channel_type_register(const hil_channel_type* t) {
    size_t i;
    if (!t || !t->name || !t->open || !t->close || !t->send || !t->recv)
        return hil_error(HIL_ERR_INVALID_ARG, "channel type: name, open, close, send and recv are required");
    for (i = 0; i < hil__n_chtypes; i++) {
        if (hil__chtypes[i] == t) return HIL_OK;
        if (strcmp(hil__chtypes[i]->name, t->name) == 0)
            return hil_error(HIL_ERR_EXISTS, "channel type '%s' is registered twice", t->name);
    }
    if (hil__n_chtypes == sizeof hil__chtypes / sizeof hil__chtypes[0])
        return hil_error(HIL_ERR_OVERFLOW, "too many channel types (at most 64)");
    hil__chtypes[hil__n_chtypes++] = t;
    hil__chtype_options(t);
    return HIL_OK;
}

static void hil__register_builtin_channel_types(void);

HIL_API const hil_channel_type* hil_channel_type_find(const char* name) {
    size_t i;
    hil__register_builtin_channel_types();
    for (i = 0; name && i < hil__n_chtypes; i++)
        if (strcmp(hil__chtypes[i]->name, name) == 0) return hil__chtypes[i];
    return NULL;
}

HIL_API size_t hil_channel_types(const char** out, size_t max) {
    size_t i;
    hil__register_builtin_channel_types();
    for (i = 0; i < hil__n_chtypes && i < max; i++) out[i] = hil__chtypes[i]->name;
    return hil__n_chtypes;
}

/* ---- channels ------------------------------------------------------------------------ */

HIL_API void hil_channel_config_init(hil_channel_config* c) { memset(c, 0, sizeof *c); }

HIL_API hil_result hil_channel_error(hil_channel* ch, hil_result r, const char* fmt, ...) {
    char msg[900];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return hil_error(r, "%s '%s': %s", ch->type ? ch->type->name : "channel", ch->name, msg);
}

static void hil__channel_free(hil_channel* ch) {
    if (!ch) return;
    hil_waker_destroy(&ch->closing_w);
    hil_cond_destroy(&ch->idle);
    hil_mutex_destroy(&ch->mu);
    if (ch->own_cfg) hil_config_destroy(ch->own_cfg);
    HIL_FREE(ch->state);
    HIL_FREE(ch->prefix);
    HIL_FREE(ch->name);
    HIL_FREE(ch);
}

/* Options given to create() go into a private config that also sees the
 * program's values (so ${...} references still work). */
static hil_result hil__channel_own_config(hil_channel* ch, const hil_channel_config* c) {
    size_t i;
    hil_result r = hil_config_create(&ch->own_cfg);
    if (r != HIL_OK) return r;
    for (i = 0; c->options[i]; i++) {
        const char* eq = strchr(c->options[i], '=');
        char key[512];
        if (!eq) return hil_channel_error(ch, HIL_ERR_INVALID_ARG, "option '%s' is not key=value", c->options[i]);
        snprintf(key, sizeof key, "%s%.*s", ch->prefix, (int)(eq - c->options[i]), c->options[i]);
        r = hil_config_set(ch->own_cfg, key, eq + 1, HIL_PRIO_CLI, "hil_channel_create");
        if (r != HIL_OK) return r;
    }
    ch->cfg = ch->own_cfg;
    return HIL_OK;
}

static int hil__chopt_known(const hil_channel_opt* opts, const char* name) {
    size_t i;
    for (i = 0; opts && opts[i].name; i++)
        if (strcmp(opts[i].name, name) == 0) return 1;
    return 0;
}

typedef struct hil__chkeys { hil_channel* ch; size_t plen; hil_strbuf bad; int n; } hil__chkeys;

static void hil__chkeys_visit(const char* key, const hil_config_value* v, void* user) {
    hil__chkeys* st = (hil__chkeys*)user;
    const char* name = key + st->plen;
    if (strncmp(key, st->ch->prefix, st->plen) != 0) return;
    if (hil__chopt_known(hil__channel_common_opts, name) || hil__chopt_known(st->ch->type->opts, name)) return;
    hil_sb_printf(&st->bad, "%s%s (%s)", st->n++ ? ", " : "", key, v->source);
}

/* Every "connectors.<name>.*" key must be an option of the channel's type:
 * a key meant for another type is a mistake worth stopping for. */
static hil_result hil__channel_check_keys(hil_channel* ch) {
    hil__chkeys st;
    size_t i;
    hil_result r = HIL_OK;
    memset(&st, 0, sizeof st);
    st.ch = ch;
    st.plen = strlen(ch->prefix);
    hil_config_foreach(ch->cfg, hil__chkeys_visit, &st);
    if (st.n) {
        hil_strbuf known = {0, 0, 0, 0};
        for (i = 0; hil__channel_common_opts[i].name; i++)
            hil_sb_printf(&known, "%s%s", i ? ", " : "", hil__channel_common_opts[i].name);
        for (i = 0; ch->type->opts && ch->type->opts[i].name; i++)
            hil_sb_printf(&known, ", %s", ch->type->opts[i].name);
        r = hil_channel_error(ch, HIL_ERR_CONFIG, "not an option of type '%s': %s; its options are: %s",
                              ch->type->name, hil_sb_cstr(&st.bad), hil_sb_cstr(&known));
        hil_sb_free(&known);
    }
    hil_sb_free(&st.bad);
    return r;
}

HIL_API hil_result hil_channel_create(const hil_channel_config* c, hil_channel** out) {
    hil_channel* ch;
    const char* tname;
    hil_result r;
    size_t n;
    *out = NULL;
    if (!c || !c->name || !*c->name) return hil_error(HIL_ERR_INVALID_ARG, "channel: no connector name given");
    ch = (hil_channel*)calloc(1, sizeof *ch);
    if (!ch) return hil_error(HIL_ERR_NO_MEMORY, "channel '%s': out of memory", c->name);
    if (hil_waker_init(&ch->closing_w) != HIL_OK) {
        r = hil_error(HIL_ERR_IO, "channel '%s': %s", c->name, hil_last_error());
        free(ch);
        return r;
    }
    hil_mutex_init(&ch->mu);
    hil_cond_init(&ch->idle);
    ch->name = hil_strdup(c->name);
    n = strlen(c->name) + 13;
    ch->prefix = (char*)HIL_MALLOC(n);
    if (!ch->name || !ch->prefix) { hil__channel_free(ch); return hil_error(HIL_ERR_NO_MEMORY, "out of memory"); }
    snprintf(ch->prefix, n, "connectors.%s.", c->name);
    ch->cfg = c->config ? c->config : hil_cfg();
    if (c->options) {
        r = hil__channel_own_config(ch, c);
        if (r != HIL_OK) { hil__channel_free(ch); return r; }
    }
    tname = c->type ? c->type : hil_channel_opt_str(ch, "type", NULL);
    if (!tname) {
        r = hil_error(HIL_ERR_CONFIG, "connector '%s': no type: set connectors.%s.type (one of the registered types)",
                      c->name, c->name);
        hil__channel_free(ch);
        return r;
    }
    ch->type = hil_channel_type_find(tname);
    if (!ch->type) {
        const char* names[64];
        size_t k, m = hil_channel_types(names, 64);
        hil_strbuf sb = {0, 0, 0, 0};
        for (k = 0; k < m && k < 64; k++) hil_sb_printf(&sb, "%s%s", k ? ", " : "", names[k]);
        r = hil_error(HIL_ERR_CONFIG, "connector '%s': unknown type '%s' (registered: %s)", c->name, tname,
                      hil_sb_cstr(&sb));
        hil_sb_free(&sb);
        hil__channel_free(ch);
        return r;
    }
    if (ch->type->state_size) {
        ch->state = calloc(1, ch->type->state_size);
        if (!ch->state) { hil__channel_free(ch); return hil_error(HIL_ERR_NO_MEMORY, "out of memory"); }
    }
    r = hil__channel_check_keys(ch);
    if (r == HIL_OK && ch->type->configure) r = ch->type->configure(ch);
    if (r != HIL_OK) {
        hil__channel_free(ch);
        return r;
    }
    *out = ch;
    return HIL_OK;
}

HIL_API hil_result hil_channel_from_config(const char* name, hil_channel** out) {
    hil_channel_config c;
    hil_channel_config_init(&c);
    c.name = name;
    return hil_channel_create(&c, out);
}

HIL_API hil_result hil_channel_open(hil_channel* ch) {
    hil_result r;
    if (hil_channel_is_open(ch)) return HIL_OK;
    hil_waker_drain(&ch->closing_w);
    r = ch->type->open(ch);
    if (r == HIL_OK) {
        hil_mutex_lock(&ch->mu);
        ch->is_open = 1;
        hil_mutex_unlock(&ch->mu);
    }
    return r;
}

HIL_API void hil_channel_close(hil_channel* ch) {
    if (!ch) return;
    hil_mutex_lock(&ch->mu);
    if (!ch->is_open || ch->closing) {
        hil_mutex_unlock(&ch->mu);
        return;
    }
    ch->closing = 1;
    hil_waker_wake(&ch->closing_w); /* blocked sends and receives return HIL_ERR_CLOSED */
    while (ch->calls > 0) hil_cond_wait(&ch->idle, &ch->mu);
    ch->is_open = 0;
    hil_mutex_unlock(&ch->mu);
    ch->type->close(ch);
    hil_mutex_lock(&ch->mu);
    ch->closing = 0;
    hil_mutex_unlock(&ch->mu);
}

HIL_API void hil_channel_destroy(hil_channel* ch) {
    if (!ch) return;
    hil_channel_close(ch);
    if (ch->type && ch->type->destroy) ch->type->destroy(ch);
    hil__channel_free(ch);
}

HIL_API int hil_channel_is_open(const hil_channel* ch) {
    int open;
    hil_channel* c = (hil_channel*)ch;
    if (!c) return 0;
    hil_mutex_lock(&c->mu);
    open = c->is_open && !c->closing;
    hil_mutex_unlock(&c->mu);
    return open;
}

/* A send or receive begins: refused once the channel closes. */
static hil_result hil__channel_enter(hil_channel* ch, const char* what) {
    hil_mutex_lock(&ch->mu);
    if (!ch->is_open || ch->closing) {
        int closing = ch->closing;
        hil_mutex_unlock(&ch->mu);
        return hil_channel_error(ch, HIL_ERR_CLOSED, "%s on a %s channel%s", what, closing ? "closing" : "closed",
                                 closing ? "" : " (open it first)");
    }
    ch->calls++;
    hil_mutex_unlock(&ch->mu);
    return HIL_OK;
}

static void hil__channel_leave(hil_channel* ch) {
    hil_mutex_lock(&ch->mu);
    if (--ch->calls == 0 && ch->closing) hil_cond_broadcast(&ch->idle);
    hil_mutex_unlock(&ch->mu);
}

HIL_API hil_result hil_channel_wait_fd(hil_channel* ch, int fd, short events, int timeout_ms) {
    struct pollfd pf[2];
    uint64_t deadline = hil_deadline_ms(timeout_ms);
    for (;;) {
        int rc;
        pf[0].fd = fd;
        pf[0].events = events;
        pf[0].revents = 0;
        pf[1].fd = hil_waker_fd(&ch->closing_w);
        pf[1].events = POLLIN;
        pf[1].revents = 0;
        rc = poll(pf, 2, hil_deadline_left_ms(deadline));
        if (rc < 0 && errno == EINTR) continue;
        if (rc < 0) return hil_channel_error(ch, HIL_ERR_IO, "poll: %s", strerror(errno));
        if (pf[1].revents) return HIL_ERR_CLOSED;
        if (rc == 0) return timeout_ms == 0 ? HIL_ERR_AGAIN : HIL_ERR_TIMEOUT;
        return HIL_OK;
    }
}

HIL_API int hil_channel_close_fd(hil_channel* ch) { return hil_waker_fd(&ch->closing_w); }

HIL_API hil_result hil_channel_send(hil_channel* ch, const hil_msg* m, int timeout_ms) {
    hil_result r = hil__channel_enter(ch, "send");
    if (r != HIL_OK) return r;
    r = ch->type->send(ch, m, timeout_ms);
    if (r == HIL_OK) {
        hil_channel_count(ch, &ch->stats.tx_msgs, 1);
        hil_channel_count(ch, &ch->stats.tx_bytes, m->len);
    }
    hil__channel_leave(ch);
    return r;
}

HIL_API hil_result hil_channel_send_bytes(hil_channel* ch, const void* data, size_t len, int timeout_ms) {
    hil_msg m;
    hil_msg_init(&m, (void*)data, len);
    m.len = len;
    return hil_channel_send(ch, &m, timeout_ms);
}

HIL_API hil_result hil_channel_recv(hil_channel* ch, hil_msg* m, int timeout_ms) {
    hil_result r = hil__channel_enter(ch, "receive");
    if (r != HIL_OK) return r;
    m->len = 0;
    m->flags = 0;
    m->remote_id = 0;
    m->timestamp_ns = 0;
    r = ch->type->recv(ch, m, timeout_ms);
    if (r == HIL_OK) {
        if (!m->timestamp_ns) m->timestamp_ns = hil_wall_ns();
        hil_channel_count(ch, &ch->stats.rx_msgs, 1);
        hil_channel_count(ch, &ch->stats.rx_bytes, m->len);
    }
    hil__channel_leave(ch);
    return r;
}

HIL_API int hil_channel_poll_fd(hil_channel* ch) {
    return hil_channel_is_open(ch) && ch->type->poll_fd ? ch->type->poll_fd(ch) : -1;
}

HIL_API const char* hil_channel_name(const hil_channel* ch) { return ch->name; }
HIL_API const hil_channel_type* hil_channel_get_type(const hil_channel* ch) { return ch->type; }
HIL_API void* hil_channel_state(hil_channel* ch) { return ch->state; }
HIL_API hil_channel_stats* hil_channel_stats_ptr(hil_channel* ch) { return &ch->stats; }

HIL_API void hil_channel_count(hil_channel* ch, uint64_t* counter, uint64_t n) {
    (void)ch;
    __atomic_fetch_add(counter, n, __ATOMIC_RELAXED);
}

HIL_API void hil_channel_get_stats(const hil_channel* ch, hil_channel_stats* out) {
    const uint64_t* src = (const uint64_t*)&ch->stats;
    uint64_t* dst = (uint64_t*)out;
    size_t i;
    for (i = 0; i < sizeof *out / sizeof(uint64_t); i++) dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
}

HIL_API hil_result hil_channel_wait(hil_channel* const* chs, size_t n, hil_waker* w, int timeout_ms, size_t* index) {
    struct pollfd pf[65];
    size_t map[65], k = 0, i;
    uint64_t deadline = hil_deadline_ms(timeout_ms);
    if (n > 64) return hil_error(HIL_ERR_INVALID_ARG, "hil_channel_wait: at most 64 channels");
    for (i = 0; i < n; i++) {
        int fd = hil_channel_poll_fd(chs[i]);
        if (fd < 0) continue;
        pf[k].fd = fd;
        pf[k].events = POLLIN;
        map[k++] = i;
    }
    if (w) {
        pf[k].fd = hil_waker_fd(w);
        pf[k].events = POLLIN;
        map[k++] = n;
    }
    for (;;) {
        int rc;
        for (i = 0; i < k; i++) pf[i].revents = 0;
        rc = poll(pf, (nfds_t)k, hil_deadline_left_ms(deadline));
        if (rc < 0 && errno == EINTR) continue;
        if (rc < 0) return hil_error(HIL_ERR_IO, "poll: %s", strerror(errno));
        if (rc == 0) return HIL_ERR_TIMEOUT;
        for (i = 0; i < k; i++)
            if (pf[i].revents) { *index = map[i]; return HIL_OK; }
    }
}

/* ---- options ------------------------------------------------------------------------- */

static const char* hil__chopt_key(hil_channel* ch, const char* key, char* buf, size_t size) {
    snprintf(buf, size, "%s%s", ch->prefix, key);
    return buf;
}

HIL_API const char* hil_channel_opt_str(hil_channel* ch, const char* key, const char* fallback) {
    char k[512];
    const char* v = hil_config_get(ch->cfg, hil__chopt_key(ch, key, k, sizeof k), NULL);
    if (!v && ch->own_cfg && ch->cfg == ch->own_cfg) v = hil_config_get(hil_cfg(), k, NULL);
    return v ? v : fallback;
}

HIL_API hil_result hil_channel_opt_int(hil_channel* ch, const char* key, long long fallback, long long* out) {
    const char* v = hil_channel_opt_str(ch, key, NULL);
    char* end;
    *out = fallback;
    if (!v || !*v) return HIL_OK;
    errno = 0;
    *out = strtoll(v, &end, 0);
    if (errno || *end)
        return hil_channel_error(ch, HIL_ERR_CONFIG, "option %s: expected an integer, got '%s'", key, v);
    return HIL_OK;
}

HIL_API hil_result hil_channel_opt_float(hil_channel* ch, const char* key, double fallback, double* out) {
    const char* v = hil_channel_opt_str(ch, key, NULL);
    char* end;
    *out = fallback;
    if (!v || !*v) return HIL_OK;
    *out = strtod(v, &end);
    if (*end) return hil_channel_error(ch, HIL_ERR_CONFIG, "option %s: expected a number, got '%s'", key, v);
    return HIL_OK;
}

HIL_API hil_result hil_channel_opt_bool(hil_channel* ch, const char* key, int fallback, int* out) {
    const char* v = hil_channel_opt_str(ch, key, NULL);
    *out = fallback;
    if (!v || !*v) return HIL_OK;
    if (!strcmp(v, "1") || !strcasecmp(v, "true") || !strcasecmp(v, "yes") || !strcasecmp(v, "on")) *out = 1;
    else if (!strcmp(v, "0") || !strcasecmp(v, "false") || !strcasecmp(v, "no") || !strcasecmp(v, "off")) *out = 0;
    else return hil_channel_error(ch, HIL_ERR_CONFIG, "option %s: expected true or false, got '%s'", key, v);
    return HIL_OK;
}

/* ---- loopback ------------------------------------------------------------------------------ */

typedef struct hil__lb_item { size_t len; uint32_t remote_id, flags; } hil__lb_item;

typedef struct hil__loopback {
    hil_mutex mu;
    hil_waker readable;    /* set while the queue is not empty */
    hil_waker space;       /* woken when a full queue gets room */
    hil__lb_item* items;   /* ring of message headers */
    unsigned char** bufs;  /* ring of payloads */
    size_t cap, head, count;
    long long capacity;
} hil__loopback;

static const hil_channel_opt hil__loopback_opts[] = {
    {"capacity", HIL_OPT_INT, "1024", "loopback: messages queued before send waits", NULL},
    {NULL, HIL_OPT_STRING, NULL, NULL, NULL}
};

static hil_result hil__lb_configure(hil_channel* ch) {
    hil__loopback* lb = (hil__loopback*)hil_channel_state(ch);
    hil_result r = hil_channel_opt_int(ch, "capacity", 1024, &lb->capacity);
    if (r != HIL_OK) return r;
    if (lb->capacity < 1 || lb->capacity > 1000000)
        return hil_channel_error(ch, HIL_ERR_CONFIG, "option capacity: must be 1..1000000, got %lld", lb->capacity);
    return HIL_OK;
}

static hil_result hil__lb_open(hil_channel* ch) {
    hil__loopback* lb = (hil__loopback*)hil_channel_state(ch);
    lb->cap = (size_t)lb->capacity;
    lb->items = (hil__lb_item*)calloc(lb->cap, sizeof *lb->items);
    lb->bufs = (unsigned char**)calloc(lb->cap, sizeof *lb->bufs);
    if (!lb->items || !lb->bufs) {
        free(lb->items);
        free(lb->bufs);
        return hil_channel_error(ch, HIL_ERR_NO_MEMORY, "out of memory for %zu messages", lb->cap);
    }
    if (hil_waker_init(&lb->readable) != HIL_OK) {
        free(lb->items);
        free(lb->bufs);
        return hil_channel_error(ch, HIL_ERR_IO, "%s", hil_last_error());
    }
    if (hil_waker_init(&lb->space) != HIL_OK) {
        hil_waker_destroy(&lb->readable);
        free(lb->items);
        free(lb->bufs);
        return hil_channel_error(ch, HIL_ERR_IO, "%s", hil_last_error());
    }
    hil_mutex_init(&lb->mu);
    lb->head = lb->count = 0;
    return HIL_OK;
}

/* Called once no send or receive runs any more (the core waits for them). */
static void hil__lb_close(hil_channel* ch) {
    hil__loopback* lb = (hil__loopback*)hil_channel_state(ch);
    size_t i;
    for (i = 0; i < lb->count; i++) free(lb->bufs[(lb->head + i) % lb->cap]);
    free(lb->items);
    free(lb->bufs);
    lb->items = NULL;
    lb->bufs = NULL;
    hil_waker_destroy(&lb->readable);
    hil_waker_destroy(&lb->space);
    hil_mutex_destroy(&lb->mu);
}

static hil_result hil__lb_send(hil_channel* ch, const hil_msg* m, int timeout_ms) {
    hil__loopback* lb = (hil__loopback*)hil_channel_state(ch);
    uint64_t deadline = hil_deadline_ms(timeout_ms);
    unsigned char* copy = (unsigned char*)malloc(m->len ? m->len : 1);
    size_t slot;
    if (!copy) return hil_channel_error(ch, HIL_ERR_NO_MEMORY, "out of memory");
    memcpy(copy, m->data, m->len);
    hil_mutex_lock(&lb->mu);
    while (lb->count == lb->cap) {
        hil_result w;
        /* wait for room without the lock: the reader wakes `space`, a close
         * wakes us through the core */
        hil_mutex_unlock(&lb->mu);
        w = hil_channel_wait_fd(ch, hil_waker_fd(&lb->space), POLLIN, hil_deadline_left_ms(deadline));
        if (w == HIL_ERR_CLOSED || w == HIL_ERR_IO) {
            free(copy);
            return w;
        }
        hil_mutex_lock(&lb->mu);
        hil_waker_drain(&lb->space);
        if (lb->count == lb->cap && w != HIL_OK) {
            hil_mutex_unlock(&lb->mu);
            free(copy);
            return hil_channel_error(ch, HIL_ERR_OVERFLOW, "queue full (%zu messages) for %d ms", lb->cap, timeout_ms);
        }
    }
    slot = (lb->head + lb->count) % lb->cap;
    lb->bufs[slot] = copy;
    lb->items[slot].len = m->len;
    lb->items[slot].remote_id = m->remote_id;
    lb->items[slot].flags = m->flags;
    if (lb->count++ == 0) hil_waker_wake(&lb->readable);
    hil_mutex_unlock(&lb->mu);
    return HIL_OK;
}

static hil_result hil__lb_recv(hil_channel* ch, hil_msg* m, int timeout_ms) {
    hil__loopback* lb = (hil__loopback*)hil_channel_state(ch);
    uint64_t deadline = hil_deadline_ms(timeout_ms);
    for (;;) {
        hil_result w;
        hil_mutex_lock(&lb->mu);
        if (lb->count > 0) {
            size_t slot = lb->head;
            hil__lb_item it = lb->items[slot];
            unsigned char* buf = lb->bufs[slot];
            lb->head = (lb->head + 1) % lb->cap;
            if (--lb->count == 0) hil_waker_drain(&lb->readable);
            if (lb->count == lb->cap - 1) hil_waker_wake(&lb->space);
            hil_mutex_unlock(&lb->mu);
            m->len = it.len < m->cap ? it.len : m->cap;
            memcpy(m->data, buf, m->len);
            m->remote_id = it.remote_id;
            m->flags = it.flags | (it.len > m->cap ? HIL_MSG_TRUNCATED : 0u);
            free(buf);
            return HIL_OK;
        }
        hil_mutex_unlock(&lb->mu);
        /* no lock held while blocking: wait on the readable waker (or a close) */
        w = hil_channel_wait_fd(ch, hil_waker_fd(&lb->readable), POLLIN, hil_deadline_left_ms(deadline));
        if (w != HIL_OK) return w;
    }
}

static int hil__lb_poll_fd(hil_channel* ch) {
    hil__loopback* lb = (hil__loopback*)hil_channel_state(ch);
    return hil_waker_fd(&lb->readable);
}

static const hil_channel_type hil__loopback_type = {
    "loopback", "In-process loopback: what is sent is received (for tests)", 0, sizeof(hil__loopback),
    hil__loopback_opts, hil__lb_configure, hil__lb_open, hil__lb_close, hil__lb_send, hil__lb_recv,
    hil__lb_poll_fd, NULL
};

static void hil__register_builtin_channel_types(void) {
    static int done;
    if (done) return;
    done = 1;
    hil_channel_type_register(&hil__loopback_type);
    hil_channel_type_register(hil_socketcan_channel_type());
}

HIL_API void hil_connectors_init(void) { hil__register_builtin_channel_types(); }

/* The built-in types and their options must be known before the program
 * checks its configuration (load order 100), not only when a channel is
 * first created: "connectors.dut.port" is not an unknown key. */
#ifndef HIL_NO_CONSTRUCTORS
HIL__CONSTRUCTOR(hil__connectors_ctor) { hil__register_builtin_channel_types(); }
#endif

/* ==========================================================================
 * socketcan / hil_can: implementation [section: socketcan -- docs/can.md]
 * ========================================================================== */

/* The channel needs the Linux CAN headers; without them (other systems, or
 * HIL_NO_SOCKETCAN) everything still compiles and open() says why not. */
#if !defined(HIL_NO_SOCKETCAN) && defined(__linux__) && defined(__has_include)
#if __has_include(<linux/can.h>) && __has_include(<linux/can/raw.h>)
#define HIL__HAVE_LINUX_CAN 1
#endif
#endif

#include <ctype.h>
#include <limits.h>
#include <time.h>

#ifdef HIL__HAVE_LINUX_CAN
#include <sys/socket.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <net/if.h>
#include <linux/can.h>
#include <linux/can/raw.h>
#ifndef SO_RXQ_OVFL
#define SO_RXQ_OVFL 40
#endif
#endif

#if defined(HIL_HAVE_LIBSOCKETCAN) && defined(HIL__HAVE_LINUX_CAN)
#include <linux/if_link.h>
#include <libsocketcan.h>
#define HIL__CAN_LIB 1
/* libsocketcan 0.0.12 (Debian 12) cannot set the CAN FD data bit timing;
 * later versions have can_set_canfd_bittiming. A weak reference resolves
 * to it where the library has it and to NULL where not, so one build works
 * with either. */
#if defined(__GNUC__) || defined(__clang__)
extern int can_set_canfd_bittiming(const char* name, struct can_bittiming* bt, struct can_bittiming* dbt)
    __attribute__((weak));
#define HIL__CAN_FD_BITTIMING (&can_set_canfd_bittiming != NULL)
#else
#define HIL__CAN_FD_BITTIMING 0
#endif
#endif

/* ---- frames as text, error frames ------------------------------------------ */

static const char* const hil__can_state_names[] = {
    "ERROR_ACTIVE", "ERROR_WARNING", "ERROR_PASSIVE", "BUS_OFF", "STOPPED", "SLEEPING", "UNKNOWN"
};

HIL_API const char* hil_can_state_str(hil_can_state s) {
    return (int)s >= 0 && s <= HIL_CAN_STATE_UNKNOWN ? hil__can_state_names[s] : "UNKNOWN";
}

static void hil__can_cat(char* out, size_t size, size_t* n, const char* fmt, ...) HIL__PRINTF(4, 5);
static void hil__can_cat(char* out, size_t size, size_t* n, const char* fmt, ...) {
    va_list ap;
    int w;
    if (*n >= size) return;
    va_start(ap, fmt);
    w = vsnprintf(out + *n, size - *n, fmt, ap);
    va_end(ap);
    if (w > 0) *n = *n + (size_t)w < size ? *n + (size_t)w : size;
}

/* Bits of one byte, named, "a, b". */
static void hil__can_bits(char* out, size_t size, size_t* n, unsigned v, const char* const* names, int count) {
    int i, first = 1;
    for (i = 0; i < count; i++)
        if (v & (1u << i)) {
            hil__can_cat(out, size, n, "%s%s", first ? "" : ", ", names[i]);
            first = 0;
        }
}

static const char* hil__can_prot_location(unsigned loc) {
    static const struct { unsigned char code; const char* name; } locs[] = {
        {0x03, "start of frame"}, {0x02, "id bits 28-21"}, {0x06, "id bits 20-18"}, {0x04, "substitute RTR"},
        {0x05, "identifier extension"}, {0x07, "id bits 17-13"}, {0x0F, "id bits 12-5"}, {0x0E, "id bits 4-0"},
        {0x0C, "RTR bit"}, {0x0D, "reserved bit 1"}, {0x09, "reserved bit 0"}, {0x0B, "DLC"},
        {0x0A, "data field"}, {0x08, "CRC sequence"}, {0x18, "CRC delimiter"}, {0x19, "ACK slot"},
        {0x1B, "ACK delimiter"}, {0x1A, "end of frame"}, {0x12, "intermission"}};
    size_t i;
    for (i = 0; i < sizeof locs / sizeof locs[0]; i++)
        if (locs[i].code == loc) return locs[i].name;
    return NULL;
}

static const char* hil__can_trx(unsigned v) {
    static const struct { unsigned char code; const char* name; } trx[] = {
        {0x04, "CANH no wire"}, {0x05, "CANH short to battery"}, {0x06, "CANH short to VCC"},
        {0x07, "CANH short to ground"}, {0x40, "CANL no wire"}, {0x50, "CANL short to battery"},
        {0x60, "CANL short to VCC"}, {0x70, "CANL short to ground"}, {0x80, "CANL short to CANH"}};
    size_t i;
    for (i = 0; i < sizeof trx / sizeof trx[0]; i++)
        if (trx[i].code == v) return trx[i].name;
    return NULL;
}

HIL_API const char* hil_can_error_str(const hil_msg* m, char* out, size_t size) {
    static const char* const crtl[] = {"rx overflow", "tx overflow", "rx warning", "tx warning",
                                       "rx error-passive", "tx error-passive", "back to error-active"};
    static const char* const prot[] = {"single bit error", "frame format error", "bit stuffing error",
                                       "cannot send dominant bit", "cannot send recessive bit", "bus overload",
                                       "active error announcement", "error on transmission"};
    const unsigned char* d = (const unsigned char*)m->data;
    unsigned char z[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    uint32_t cls = m->remote_id;
    size_t n = 0;
    int parts = 0;
    if (!out || !size) return out;
    out[0] = 0;
    if (!(m->flags & HIL_MSG_ERROR)) {
        hil__can_cat(out, size, &n, "not an error frame");
        return out;
    }
    if (!d || m->len < 8) { /* short error frames: missing bytes read as 0 */
        if (d) memcpy(z, d, m->len);
        d = z;
    }
#define HIL__CAN_PART() hil__can_cat(out, size, &n, "%s", parts++ ? "; " : "")
    if (cls & HIL_CAN_ERR_BUSOFF) { HIL__CAN_PART(); hil__can_cat(out, size, &n, "bus-off"); }
    if (cls & HIL_CAN_ERR_RESTARTED) { HIL__CAN_PART(); hil__can_cat(out, size, &n, "controller restarted"); }
    if (cls & HIL_CAN_ERR_TX_TIMEOUT) { HIL__CAN_PART(); hil__can_cat(out, size, &n, "tx timeout"); }
    if (cls & HIL_CAN_ERR_ACK) { HIL__CAN_PART(); hil__can_cat(out, size, &n, "no ACK on transmission"); }
    if (cls & HIL_CAN_ERR_LOSTARB) {
        HIL__CAN_PART();
        if (d[0]) hil__can_cat(out, size, &n, "arbitration lost in bit %u", d[0]);
        else hil__can_cat(out, size, &n, "arbitration lost");
    }
    if (cls & HIL_CAN_ERR_CRTL) {
        HIL__CAN_PART();
        hil__can_cat(out, size, &n, "controller: ");
        if (d[1]) hil__can_bits(out, size, &n, d[1], crtl, 7);
        else hil__can_cat(out, size, &n, "unspecified problem");
    }
    if (cls & HIL_CAN_ERR_PROT) {
        const char* loc = hil__can_prot_location(d[3]);
        HIL__CAN_PART();
        hil__can_cat(out, size, &n, "protocol violation: ");
        if (d[2]) hil__can_bits(out, size, &n, d[2], prot, 8);
        else hil__can_cat(out, size, &n, "unspecified");
        if (loc) hil__can_cat(out, size, &n, " at %s", loc);
    }
    if (cls & HIL_CAN_ERR_TRX) {
        const char* t = hil__can_trx(d[4]);
        HIL__CAN_PART();
        if (t) hil__can_cat(out, size, &n, "transceiver: %s", t);
        else hil__can_cat(out, size, &n, "transceiver: status 0x%02x", d[4]);
    }
    if (cls & HIL_CAN_ERR_BUSERROR) { HIL__CAN_PART(); hil__can_cat(out, size, &n, "bus error"); }
    if (cls & HIL_CAN_ERR_CNT) {
        HIL__CAN_PART();
        hil__can_cat(out, size, &n, "error counters tx %u rx %u", d[6], d[7]);
    }
    if (cls & ~0x3FFu) {
        HIL__CAN_PART();
        hil__can_cat(out, size, &n, "unknown error class bits 0x%x", (unsigned)(cls & ~0x3FFu));
    }
    if (!parts) hil__can_cat(out, size, &n, "error frame without error class");
#undef HIL__CAN_PART
    return out;
}

/* The kernel's CAN id word: flag bits | id. */
#define HIL__CANID_EFF 0x80000000u
#define HIL__CANID_RTR 0x40000000u
#define HIL__CANID_ERR 0x20000000u

/* Check a message as a CAN frame; on success *word is the kernel's can_id. */
static hil_result hil__can_check(const hil_msg* m, uint32_t* word, char* why, size_t size) {
    uint32_t id = m->remote_id;
    if (m->flags & HIL_MSG_ERROR) {
        if (id > 0x1FFFFFFFu) { snprintf(why, size, "error class 0x%x has more than 29 bits", (unsigned)id); return HIL_ERR_INVALID_ARG; }
        if (m->len > 8) { snprintf(why, size, "an error frame has 8 data bytes, not %zu", m->len); return HIL_ERR_INVALID_ARG; }
        *word = id | HIL__CANID_ERR;
        return HIL_OK;
    }
    if (m->flags & HIL_MSG_EXTENDED) {
        if (id > 0x1FFFFFFFu) { snprintf(why, size, "id 0x%x does not fit 29 bits", (unsigned)id); return HIL_ERR_INVALID_ARG; }
        *word = id | HIL__CANID_EFF;
    } else {
        if (id > 0x7FFu) {
            snprintf(why, size, "id 0x%x does not fit 11 bits (set HIL_MSG_EXTENDED for a 29-bit id)", (unsigned)id);
            return HIL_ERR_INVALID_ARG;
        }
        *word = id;
    }
    if (m->flags & HIL_MSG_FD) {
        if (m->flags & HIL_MSG_RTR) { snprintf(why, size, "CAN FD has no remote frames (RTR)"); return HIL_ERR_INVALID_ARG; }
        if (m->len > 64) { snprintf(why, size, "a CAN FD frame carries at most 64 bytes, not %zu", m->len); return HIL_ERR_INVALID_ARG; }
    } else {
        if (m->flags & (HIL_MSG_BRS | HIL_MSG_ESI)) {
            snprintf(why, size, "HIL_MSG_BRS/ESI need HIL_MSG_FD");
            return HIL_ERR_INVALID_ARG;
        }
        if (m->len > 8) {
            snprintf(why, size, "classic CAN carries at most 8 bytes, not %zu (set HIL_MSG_FD for up to 64)", m->len);
            return HIL_ERR_INVALID_ARG;
        }
        if (m->flags & HIL_MSG_RTR) *word |= HIL__CANID_RTR;
    }
    if (m->len && !m->data && !(m->flags & HIL_MSG_RTR)) { snprintf(why, size, "len %zu but no data", m->len); return HIL_ERR_INVALID_ARG; }
    return HIL_OK;
}

HIL_API size_t hil_can_format_frame(const hil_msg* m, char* out, size_t size) {
    static const char hex[] = "0123456789ABCDEF";
    char buf[HIL_CAN_FRAME_TEXT_MAX], why[128];
    const unsigned char* d = (const unsigned char*)m->data;
    uint32_t word;
    size_t n = 0, i;
    if (hil__can_check(m, &word, why, sizeof why) != HIL_OK) return 0;
    if (m->flags & (HIL_MSG_ERROR | HIL_MSG_EXTENDED))
        n = (size_t)snprintf(buf, sizeof buf, "%08X", (unsigned)(word & 0x3FFFFFFFu));
    else
        n = (size_t)snprintf(buf, sizeof buf, "%03X", (unsigned)(word & 0x7FFu));
    buf[n++] = '#';
    if (m->flags & HIL_MSG_FD) {
        buf[n++] = '#';
        buf[n++] = hex[((m->flags & HIL_MSG_BRS) ? 1 : 0) | ((m->flags & HIL_MSG_ESI) ? 2 : 0)];
    } else if (m->flags & HIL_MSG_RTR) {
        buf[n++] = 'R';
        if (m->len) buf[n++] = (char)('0' + m->len);
    }
    if (!(m->flags & HIL_MSG_RTR) || (m->flags & HIL_MSG_FD))
        for (i = 0; i < m->len; i++) {
            buf[n++] = hex[d[i] >> 4];
            buf[n++] = hex[d[i] & 15];
        }
    buf[n] = 0;
    if (n + 1 > size) return 0;
    memcpy(out, buf, n + 1);
    return n;
}

static int hil__can_hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

HIL_API hil_result hil_can_parse_frame(const char* text, hil_msg* m) {
    const char* p = text;
    uint32_t id = 0;
    size_t digits = 0, max, n = 0;
    unsigned char* d = (unsigned char*)m->data;
    m->flags = 0;
    m->len = 0;
    while (hil__can_hexval(*p) >= 0) {
        id = id << 4 | (uint32_t)hil__can_hexval(*p++);
        if (++digits > 8) break;
    }
    if (*p != '#' || (digits != 3 && digits != 8))
        return hil_error(HIL_ERR_INVALID_ARG, "CAN frame '%s': expected a 3-digit (11-bit) or 8-digit (29-bit) hex id and '#'", text);
    p++;
    if (digits == 3) {
        if (id > 0x7FFu) return hil_error(HIL_ERR_INVALID_ARG, "CAN frame '%s': 11-bit id above 7FF", text);
    } else if (id > 0x3FFFFFFFu) {
        return hil_error(HIL_ERR_INVALID_ARG, "CAN frame '%s': an 8-digit id above 3FFFFFFF (flag bits)", text);
    } else if (id & HIL__CANID_ERR) {
        m->flags |= HIL_MSG_ERROR;
        id &= 0x1FFFFFFFu;
    } else {
        if (id > 0x1FFFFFFFu) return hil_error(HIL_ERR_INVALID_ARG, "CAN frame '%s': 29-bit id above 1FFFFFFF", text);
        m->flags |= HIL_MSG_EXTENDED;
    }
    m->remote_id = id;
    max = 8;
    if (*p == '#') {
        int f = hil__can_hexval(p[1]);
        if (f < 0) return hil_error(HIL_ERR_INVALID_ARG, "CAN frame '%s': '##' must be followed by a flags digit", text);
        m->flags |= HIL_MSG_FD | ((f & 1) ? HIL_MSG_BRS : 0u) | ((f & 2) ? HIL_MSG_ESI : 0u);
        p += 2;
        max = 64;
    } else if (*p == 'R' || *p == 'r') {
        m->flags |= HIL_MSG_RTR;
        p++;
        if (*p >= '0' && *p <= '8') m->len = (size_t)(*p++ - '0');
        if (*p && !isspace((unsigned char)*p))
            return hil_error(HIL_ERR_INVALID_ARG, "CAN frame '%s': unexpected '%c' after the remote request", text, *p);
        return HIL_OK;
    }
    for (;;) {
        int hi, lo;
        if (*p == '.') { p++; continue; }
        if (!*p || isspace((unsigned char)*p) || *p == '_') break;
        hi = hil__can_hexval(p[0]);
        lo = hi >= 0 ? hil__can_hexval(p[1]) : -1;
        if (lo < 0) return hil_error(HIL_ERR_INVALID_ARG, "CAN frame '%s': data must be pairs of hex digits", text);
        if (n == max) return hil_error(HIL_ERR_INVALID_ARG, "CAN frame '%s': more than %zu data bytes", text, max);
        if (n >= m->cap) return hil_error(HIL_ERR_OVERFLOW, "CAN frame '%s': the buffer holds %zu bytes", text, m->cap);
        d[n++] = (unsigned char)(hi << 4 | lo);
        p += 2;
    }
    if (*p == '_') { /* len8_dlc: a classic DLC above 8 for 8 bytes; the length is what counts here */
        p++;
        if (hil__can_hexval(*p) < 0) return hil_error(HIL_ERR_INVALID_ARG, "CAN frame '%s': '_' needs a DLC digit", text);
        p++;
    }
    if (*p && !isspace((unsigned char)*p))
        return hil_error(HIL_ERR_INVALID_ARG, "CAN frame '%s': unexpected '%c'", text, *p);
    m->len = n;
    return HIL_OK;
}

/* ---- option parsing -------------------------------------------------------------- */

typedef struct hil__can_filter { uint32_t id, mask; int inverted; } hil__can_filter;

/* "123:7FF,1ABCDE00~1FFFFFFF" -> filters; *why on error. */
static hil_result hil__can_parse_filters(const char* s, hil__can_filter** out, size_t* count, char* why, size_t size) {
    size_t cap = 1, n = 0;
    const char* p;
    hil__can_filter* f;
    for (p = s; *p; p++) if (*p == ',') cap++;
    f = (hil__can_filter*)HIL_MALLOC(cap * sizeof *f);
    if (!f) { snprintf(why, size, "out of memory"); return HIL_ERR_NO_MEMORY; }
    p = s;
    while (*p) {
        uint32_t id = 0, mask = 0;
        size_t idd = 0, md = 0;
        int inv;
        while (*p == ' ' || *p == ',') p++;
        if (!*p) break;
        while (hil__can_hexval(*p) >= 0 && idd < 9) { id = id << 4 | (uint32_t)hil__can_hexval(*p++); idd++; }
        if ((*p != ':' && *p != '~') || !idd || idd > 8) {
            snprintf(why, size, "filter %zu: expected <hex id>:<hex mask> or <hex id>~<hex mask> (e.g. 123:7FF)", n + 1);
            HIL_FREE(f);
            return HIL_ERR_CONFIG;
        }
        inv = *p++ == '~';
        while (hil__can_hexval(*p) >= 0 && md < 9) { mask = mask << 4 | (uint32_t)hil__can_hexval(*p++); md++; }
        if (!md || md > 8 || (*p && *p != ',' && *p != ' ')) {
            snprintf(why, size, "filter %zu: bad mask (hex digits after ':' or '~')", n + 1);
            HIL_FREE(f);
            return HIL_ERR_CONFIG;
        }
        if (id > 0x1FFFFFFFu || mask > 0x1FFFFFFFu) {
            snprintf(why, size, "filter %zu: id and mask have at most 29 bits", n + 1);
            HIL_FREE(f);
            return HIL_ERR_CONFIG;
        }
        /* The frame format always takes part in the match: an 8-digit or
         * large id is a 29-bit filter, anything else an 11-bit one. */
        if (idd == 8 || id > 0x7FFu) { id |= HIL__CANID_EFF; }
        mask |= HIL__CANID_EFF;
        f[n].id = id;
        f[n].mask = mask;
        f[n].inverted = inv;
        n++;
    }
    *out = f;
    *count = n;
    return HIL_OK;
}

static hil_result hil__can_parse_error_mask(const char* s, uint32_t* out, char* why, size_t size) {
    static const struct { const char* name; uint32_t bit; } names[] = {
        {"tx_timeout", HIL_CAN_ERR_TX_TIMEOUT}, {"lostarb", HIL_CAN_ERR_LOSTARB}, {"crtl", HIL_CAN_ERR_CRTL},
        {"prot", HIL_CAN_ERR_PROT}, {"trx", HIL_CAN_ERR_TRX}, {"ack", HIL_CAN_ERR_ACK},
        {"busoff", HIL_CAN_ERR_BUSOFF}, {"buserror", HIL_CAN_ERR_BUSERROR}, {"restarted", HIL_CAN_ERR_RESTARTED},
        {"cnt", HIL_CAN_ERR_CNT}};
    char* end;
    unsigned long v;
    *out = 0;
    if (!s || !*s || !strcmp(s, "none")) return HIL_OK;
    if (!strcmp(s, "all")) { *out = HIL_CAN_ERR_ALL; return HIL_OK; }
    errno = 0;
    v = strtoul(s, &end, 0);
    if (isdigit((unsigned char)*s)) {
        if (errno || *end || v > 0x1FFFFFFFul) { snprintf(why, size, "'%s' is not an error class mask", s); return HIL_ERR_CONFIG; }
        *out = (uint32_t)v;
        return HIL_OK;
    }
    while (*s) {
        size_t len = strcspn(s, ",| "), i;
        int found = 0;
        for (i = 0; len && i < sizeof names / sizeof names[0]; i++)
            if (strlen(names[i].name) == len && !strncmp(names[i].name, s, len)) { *out |= names[i].bit; found = 1; }
        if (len && !found) {
            snprintf(why, size, "unknown error class '%.*s' (all, none, a number, or: tx_timeout lostarb crtl prot trx "
                     "ack busoff buserror restarted cnt)", (int)len, s);
            return HIL_ERR_CONFIG;
        }
        s += len;
        while (*s == ',' || *s == '|' || *s == ' ') s++;
    }
    return HIL_OK;
}

/* ---- interface control ------------------------------------------------------------ */

HIL_API void hil_can_if_config_init(hil_can_if_config* c) {
    memset(c, 0, sizeof *c);
    c->restart_ms = -1;
}

#ifdef HIL__CAN_LIB
static hil_result hil__can_ifcheck(const char* what, const char* ifname) {
    if (!ifname || !*ifname) return hil_error(HIL_ERR_INVALID_ARG, "%s: no interface name given", what);
    if (strlen(ifname) >= IFNAMSIZ)
        return hil_error(HIL_ERR_INVALID_ARG, "%s: interface name '%s' is longer than %d characters", what, ifname,
                         IFNAMSIZ - 1);
    if (!if_nametoindex(ifname))
        return hil_error(HIL_ERR_NOT_FOUND, "%s: no network interface '%s' (ip -br link show type can lists "
                         "the CAN interfaces)", what, ifname);
    return HIL_OK;
}

/* A libsocketcan call failed: errno says why (the kernel's netlink answer). */
static hil_result hil__can_fail(const char* what, const char* ifname, int err) {
    if (err == EPERM || err == EACCES)
        return hil_error(HIL_ERR_PERMISSION, "%s on %s: %s: changing a CAN interface needs CAP_NET_ADMIN: run as "
                         "root or grant it (sudo setcap cap_net_admin+ep PROGRAM), or configure %s beforehand "
                         "(sudo ip link set %s up type can bitrate 500000) and leave bitrate and the modes unset",
                         what, ifname, strerror(err), ifname, ifname);
    if (err == ENODEV)
        return hil_error(HIL_ERR_NOT_FOUND, "%s: no network interface '%s'", what, ifname);
    if (err == EOPNOTSUPP)
        return hil_error(HIL_ERR_UNSUPPORTED, "%s on %s: the driver does not support it (%s)", what, ifname,
                         strerror(err));
    if (err == EBUSY)
        return hil_error(HIL_ERR_STATE, "%s on %s: the interface is running (%s): stop it first (hil_can_stop)",
                         what, ifname, strerror(err));
    if (err == EINVAL || err == ERANGE || err == EDOM)
        return hil_error(HIL_ERR_INVALID_ARG, "%s on %s: the driver refused the value (%s): check it against "
                         "the controller's clock and limits (ip -details link show %s)", what, ifname,
                         strerror(err), ifname);
    return hil_error(HIL_ERR_IO, "%s on %s: %s (is it a CAN controller? virtual interfaces such as vcan "
                     "have no bit timing or state)", what, ifname, err ? strerror(err) : "failed");
}

#define HIL__CAN_CALL(what, ifname, call) \
    do { hil_result hil__r = hil__can_ifcheck(what, ifname); \
         if (hil__r != HIL_OK) return hil__r; \
         errno = 0; \
         if ((call) != 0) return hil__can_fail(what, ifname, errno); } while (0)

static int hil__can_is_up(const char* ifname) {
    struct ifreq ifr;
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0), up = -1;
    if (fd < 0) return -1;
    memset(&ifr, 0, sizeof ifr);
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", ifname);
    if (ioctl(fd, SIOCGIFFLAGS, &ifr) == 0) up = (ifr.ifr_flags & IFF_UP) ? 1 : 0;
    close(fd);
    return up;
}

HIL_API hil_result hil_can_set_bitrate(const char* ifname, uint32_t bitrate, uint32_t sample_point) {
    hil_result r = hil_can_stop(ifname);
    if (r != HIL_OK) return r;
    if (sample_point) HIL__CAN_CALL("set bitrate", ifname, can_set_bitrate_samplepoint(ifname, bitrate, sample_point));
    else HIL__CAN_CALL("set bitrate", ifname, can_set_bitrate(ifname, bitrate));
    return HIL_OK;
}

HIL_API hil_result hil_can_set_data_bitrate(const char* ifname, uint32_t bitrate, uint32_t sample_point,
                                            uint32_t data_bitrate, uint32_t data_sample_point) {
    hil_result r;
    if (!HIL__CAN_FD_BITTIMING)
        return hil_error(HIL_ERR_UNSUPPORTED, "set data bitrate on %s: the libsocketcan this program was linked with "
                         "has no can_set_canfd_bittiming (0.0.12 and older): use a newer libsocketcan, or set it "
                         "beforehand: sudo ip link set %s type can bitrate %u dbitrate %u fd on", ifname ? ifname : "?",
                         ifname ? ifname : "?", (unsigned)bitrate, (unsigned)data_bitrate);
    r = hil_can_stop(ifname);
    if (r != HIL_OK) return r;
#if defined(__GNUC__) || defined(__clang__)
    {
        struct can_bittiming bt, dbt;
        memset(&bt, 0, sizeof bt);
        memset(&dbt, 0, sizeof dbt);
        bt.bitrate = bitrate;
        bt.sample_point = sample_point;
        dbt.bitrate = data_bitrate;
        dbt.sample_point = data_sample_point;
        HIL__CAN_CALL("set data bitrate", ifname, can_set_canfd_bittiming(ifname, &bt, &dbt));
    }
#else
    (void)sample_point; (void)data_sample_point;
#endif
    return HIL_OK;
}

HIL_API hil_result hil_can_get_bittiming(const char* ifname, hil_can_bittiming* out) {
    struct can_bittiming bt;
    struct can_clock clk;
    memset(&bt, 0, sizeof bt);
    memset(out, 0, sizeof *out);
    HIL__CAN_CALL("read bit timing", ifname, can_get_bittiming(ifname, &bt));
    out->bitrate = bt.bitrate;
    out->sample_point = bt.sample_point;
    out->tq = bt.tq;
    out->prop_seg = bt.prop_seg;
    out->phase_seg1 = bt.phase_seg1;
    out->phase_seg2 = bt.phase_seg2;
    out->sjw = bt.sjw;
    out->brp = bt.brp;
    if (can_get_clock(ifname, &clk) == 0) out->clock_hz = clk.freq;
    return HIL_OK;
}

HIL_API hil_result hil_can_set_ctrlmode(const char* ifname, uint32_t mask, uint32_t flags) {
    struct can_ctrlmode cm;
    cm.mask = mask;
    cm.flags = flags & mask;
    HIL__CAN_CALL("set controller mode", ifname, can_set_ctrlmode(ifname, &cm));
    return HIL_OK;
}

HIL_API hil_result hil_can_get_ctrlmode(const char* ifname, uint32_t* flags) {
    struct can_ctrlmode cm;
    memset(&cm, 0, sizeof cm);
    HIL__CAN_CALL("read controller mode", ifname, can_get_ctrlmode(ifname, &cm));
    *flags = cm.flags;
    return HIL_OK;
}

HIL_API hil_result hil_can_set_restart_ms(const char* ifname, uint32_t ms) {
    HIL__CAN_CALL("set restart-ms", ifname, can_set_restart_ms(ifname, ms));
    return HIL_OK;
}

HIL_API hil_result hil_can_get_restart_ms(const char* ifname, uint32_t* ms) {
    __u32 v = 0;
    HIL__CAN_CALL("read restart-ms", ifname, can_get_restart_ms(ifname, &v));
    *ms = v;
    return HIL_OK;
}

HIL_API hil_result hil_can_start(const char* ifname) {
    HIL__CAN_CALL("start", ifname, can_do_start(ifname));
    return HIL_OK;
}

HIL_API hil_result hil_can_stop(const char* ifname) {
    HIL__CAN_CALL("stop", ifname, can_do_stop(ifname));
    return HIL_OK;
}

HIL_API hil_result hil_can_restart(const char* ifname) {
    hil_can_state st = HIL_CAN_STATE_UNKNOWN;
    hil_result r = hil_can_get_state(ifname, &st);
    if (r != HIL_OK) return r;
    if (st != HIL_CAN_STATE_BUS_OFF)
        return hil_error(HIL_ERR_STATE, "restart %s: the controller is %s, not BUS_OFF (the kernel restarts only a "
                         "controller in bus-off; use hil_can_stop + hil_can_start to reset it)", ifname,
                         hil_can_state_str(st));
    HIL__CAN_CALL("restart", ifname, can_do_restart(ifname));
    return HIL_OK;
}

HIL_API hil_result hil_can_get_state(const char* ifname, hil_can_state* out) {
    int st = -1;
    *out = HIL_CAN_STATE_UNKNOWN;
    HIL__CAN_CALL("read state", ifname, can_get_state(ifname, &st));
    *out = st >= 0 && st < (int)HIL_CAN_STATE_UNKNOWN ? (hil_can_state)st : HIL_CAN_STATE_UNKNOWN;
    return HIL_OK;
}

HIL_API hil_result hil_can_get_berr_counter(const char* ifname, hil_can_berr* out) {
    struct can_berr_counter bc;
    memset(&bc, 0, sizeof bc);
    HIL__CAN_CALL("read error counters", ifname, can_get_berr_counter(ifname, &bc));
    out->tx_errors = bc.txerr;
    out->rx_errors = bc.rxerr;
    return HIL_OK;
}

HIL_API hil_result hil_can_get_stats(const char* ifname, hil_can_stats* out) {
    struct can_device_stats ds;
    struct rtnl_link_stats64 ls;
    memset(&ds, 0, sizeof ds);
    memset(&ls, 0, sizeof ls);
    memset(out, 0, sizeof *out);
    HIL__CAN_CALL("read device statistics", ifname, can_get_device_stats(ifname, &ds));
    HIL__CAN_CALL("read link statistics", ifname, can_get_link_stats(ifname, &ls));
    out->bus_error = ds.bus_error;
    out->error_warning = ds.error_warning;
    out->error_passive = ds.error_passive;
    out->bus_off = ds.bus_off;
    out->arbitration_lost = ds.arbitration_lost;
    out->restarts = ds.restarts;
    out->rx_packets = ls.rx_packets;
    out->tx_packets = ls.tx_packets;
    out->rx_bytes = ls.rx_bytes;
    out->tx_bytes = ls.tx_bytes;
    out->rx_errors = ls.rx_errors;
    out->tx_errors = ls.tx_errors;
    out->rx_dropped = ls.rx_dropped;
    out->tx_dropped = ls.tx_dropped;
    out->rx_over_errors = ls.rx_over_errors;
    return HIL_OK;
}

HIL_API hil_result hil_can_configure(const char* ifname, const hil_can_if_config* c, int* changed) {
    hil_can_bittiming bt;
    uint32_t flags = 0, rms = 0;
    int up, differs = 0;
    hil_result r = hil__can_ifcheck("configure", ifname);
    memset(&bt, 0, sizeof bt);
    if (changed) *changed = 0;
    if (r != HIL_OK) return r;
    up = hil__can_is_up(ifname);
    /* Compare with what the interface runs with, so an unprivileged
     * program can use an interface that is set up already. */
    if (c->bitrate) {
        /* A controller that never had a bit rate reports none: that differs too. */
        if (hil_can_get_bittiming(ifname, &bt) != HIL_OK || bt.bitrate != c->bitrate ||
            (c->sample_point && bt.sample_point != c->sample_point))
            differs = 1;
        hil_clear_error();
    }
    if (c->data_bitrate) differs = 1; /* libsocketcan cannot read it back */
    if (c->ctrl_mask) {
        r = hil_can_get_ctrlmode(ifname, &flags);
        if (r != HIL_OK) return r;
        if ((flags & c->ctrl_mask) != (c->ctrl_flags & c->ctrl_mask)) differs = 1;
    }
    if (c->restart_ms >= 0) {
        r = hil_can_get_restart_ms(ifname, &rms);
        if (r != HIL_OK) return r;
        if ((int64_t)rms != c->restart_ms) differs = 1;
    }
    if (differs) {
        if (c->data_bitrate)
            r = hil_can_set_data_bitrate(ifname, c->bitrate ? c->bitrate : bt.bitrate, c->sample_point,
                                         c->data_bitrate, c->data_sample_point);
        else if (c->bitrate)
            r = hil_can_set_bitrate(ifname, c->bitrate, c->sample_point);
        else
            r = hil_can_stop(ifname);
        if (r == HIL_OK && c->ctrl_mask) r = hil_can_set_ctrlmode(ifname, c->ctrl_mask, c->ctrl_flags);
        if (r == HIL_OK && c->restart_ms >= 0) r = hil_can_set_restart_ms(ifname, (uint32_t)c->restart_ms);
        if (r != HIL_OK) return r;
        if (changed) *changed = 1;
        if (c->start || up == 1) return hil_can_start(ifname);
        return HIL_OK;
    }
    if (c->start && up == 0) {
        if (changed) *changed = 1;
        return hil_can_start(ifname);
    }
    return HIL_OK;
}

#else /* no libsocketcan */

static hil_result hil__can_nolib(const char* what, const char* ifname) {
#ifdef HIL__HAVE_LINUX_CAN
    return hil_error(HIL_ERR_MISSING_LIBRARY, "%s on %s: hil was built without libsocketcan: install it (apt-get "
                     "install libsocketcan-dev) and build with -DHIL_HAVE_LIBSOCKETCAN -lsocketcan (the Makefile "
                     "does when pkg-config finds libsocketcan), or configure the interface beforehand with "
                     "ip link", what, ifname ? ifname : "?");
#else
    return hil_error(HIL_ERR_UNSUPPORTED, "%s on %s: CAN interface control needs Linux SocketCAN and "
                     "libsocketcan; this build has neither", what, ifname ? ifname : "?");
#endif
}

HIL_API hil_result hil_can_set_bitrate(const char* ifname, uint32_t bitrate, uint32_t sample_point) {
    (void)bitrate; (void)sample_point;
    return hil__can_nolib("set bitrate", ifname);
}
HIL_API hil_result hil_can_set_data_bitrate(const char* ifname, uint32_t bitrate, uint32_t sample_point,
                                            uint32_t data_bitrate, uint32_t data_sample_point) {
    (void)bitrate; (void)sample_point; (void)data_bitrate; (void)data_sample_point;
    return hil__can_nolib("set data bitrate", ifname);
}
HIL_API hil_result hil_can_get_bittiming(const char* ifname, hil_can_bittiming* out) {
    memset(out, 0, sizeof *out);
    return hil__can_nolib("read bit timing", ifname);
}
HIL_API hil_result hil_can_set_ctrlmode(const char* ifname, uint32_t mask, uint32_t flags) {
    (void)mask; (void)flags;
    return hil__can_nolib("set controller mode", ifname);
}
HIL_API hil_result hil_can_get_ctrlmode(const char* ifname, uint32_t* flags) {
    *flags = 0;
    return hil__can_nolib("read controller mode", ifname);
}
HIL_API hil_result hil_can_set_restart_ms(const char* ifname, uint32_t ms) {
    (void)ms;
    return hil__can_nolib("set restart-ms", ifname);
}
HIL_API hil_result hil_can_get_restart_ms(const char* ifname, uint32_t* ms) {
    *ms = 0;
    return hil__can_nolib("read restart-ms", ifname);
}
HIL_API hil_result hil_can_start(const char* ifname) { return hil__can_nolib("start", ifname); }
HIL_API hil_result hil_can_stop(const char* ifname) { return hil__can_nolib("stop", ifname); }
HIL_API hil_result hil_can_restart(const char* ifname) { return hil__can_nolib("restart", ifname); }
HIL_API hil_result hil_can_get_state(const char* ifname, hil_can_state* out) {
    *out = HIL_CAN_STATE_UNKNOWN;
    return hil__can_nolib("read state", ifname);
}
HIL_API hil_result hil_can_get_berr_counter(const char* ifname, hil_can_berr* out) {
    memset(out, 0, sizeof *out);
    return hil__can_nolib("read error counters", ifname);
}
HIL_API hil_result hil_can_get_stats(const char* ifname, hil_can_stats* out) {
    memset(out, 0, sizeof *out);
    return hil__can_nolib("read device statistics", ifname);
}
HIL_API hil_result hil_can_configure(const char* ifname, const hil_can_if_config* c, int* changed) {
    (void)c;
    if (changed) *changed = 0;
    return hil__can_nolib("configure", ifname);
}
#endif /* HIL__CAN_LIB */

/* ---- the socketcan channel -------------------------------------------------------------- */

typedef struct hil__sockcan {
    /* from the options (configure) */
    char ifname[16];          /* IFNAMSIZ */
    hil__can_filter* filters;
    size_t n_filters;
    int filter_join, recv_own, local_loopback, fd_frames;
    uint32_t err_mask;
    long long rcvbuf, sndbuf;
    hil_can_if_config ifc;
    int control;              /* any interface control option given */
    int state_up;             /* state=up */
    const char* control_opt;  /* the first control option given, for messages */
    /* while open */
    int fd;
    int mtu;
    hil_mutex mu;
    hil_cond cv;              /* users dropped to 0 */
    hil_waker wake;           /* woken by close */
    int users;                /* threads inside send/recv */
    int closing;
    int ts_ns;                /* SO_TIMESTAMPNS (1) or SO_TIMESTAMP (0) */
    uint32_t ovfl_last;
    uint64_t ovfl_warned_ns;
    int sync_ready;
} hil__sockcan;

static const hil_channel_opt hil__socketcan_opts[] = {
    {"interface", HIL_OPT_STRING, NULL, "socketcan: the CAN network interface (can0, vcan0)", NULL},
    {"filters", HIL_OPT_STRING, NULL, "socketcan: receive filters id:mask or id~mask (inverted), hex, comma separated", NULL},
    {"filter_join", HIL_OPT_BOOL, "false", "socketcan: a frame must pass all filters (AND) instead of any", NULL},
    {"error_mask", HIL_OPT_STRING, "none", "socketcan: error frames to receive: none, all, a mask, or class names", NULL},
    {"receive_own", HIL_OPT_BOOL, "false", "socketcan: receive our own frames back (flagged HIL_MSG_ECHO)", NULL},
    {"local_loopback", HIL_OPT_BOOL, "true", "socketcan: other sockets on this host see our frames", NULL},
    {"fd_frames", HIL_OPT_BOOL, "true", "socketcan: accept CAN FD frames on the socket", NULL},
    {"rcvbuf", HIL_OPT_INT, NULL, "socketcan: socket receive buffer, bytes (default: the system's)", NULL},
    {"sndbuf", HIL_OPT_INT, "0", "socketcan: socket send buffer, bytes; 0: kernel minimum; -1: system default", NULL},
    {"bitrate", HIL_OPT_INT, NULL, "socketcan: set the interface's bit rate at open (libsocketcan)", NULL},
    {"sample_point", HIL_OPT_FLOAT, NULL, "socketcan: sample point, 0..1 (0.875)", NULL},
    {"data_bitrate", HIL_OPT_INT, NULL, "socketcan: CAN FD data bit rate at open (libsocketcan)", NULL},
    {"data_sample_point", HIL_OPT_FLOAT, NULL, "socketcan: CAN FD data sample point, 0..1", NULL},
    {"restart_ms", HIL_OPT_INT, NULL, "socketcan: automatic restart after bus-off, ms (0: off)", NULL},
    {"loopback", HIL_OPT_BOOL, NULL, "socketcan: controller loopback mode", NULL},
    {"listen_only", HIL_OPT_BOOL, NULL, "socketcan: controller listen-only mode", NULL},
    {"triple_sampling", HIL_OPT_BOOL, NULL, "socketcan: controller triple sampling", NULL},
    {"one_shot", HIL_OPT_BOOL, NULL, "socketcan: controller one-shot mode (no retransmission)", NULL},
    {"berr_reporting", HIL_OPT_BOOL, NULL, "socketcan: controller bus-error reporting", NULL},
    {"fd", HIL_OPT_BOOL, NULL, "socketcan: controller CAN FD mode", NULL},
    {"fd_non_iso", HIL_OPT_BOOL, NULL, "socketcan: controller non-ISO CAN FD", NULL},
    {"presume_ack", HIL_OPT_BOOL, NULL, "socketcan: controller ignores missing ACKs", NULL},
    {"state", HIL_OPT_CHOICE, "keep", "socketcan: keep the interface as it is, or start it (up) at open", "keep|up"},
    {NULL, HIL_OPT_STRING, NULL, NULL, NULL}
};

static void hil__sc_free_config(hil__sockcan* s) {
    HIL_FREE(s->filters);
    s->filters = NULL;
    s->n_filters = 0;
}

static hil_result hil__sc_configure(hil_channel* ch) {
    static const struct { const char* name; uint32_t bit; } modes[] = {
        {"loopback", HIL_CAN_CTRL_LOOPBACK}, {"listen_only", HIL_CAN_CTRL_LISTEN_ONLY},
        {"triple_sampling", HIL_CAN_CTRL_TRIPLE_SAMPLING}, {"one_shot", HIL_CAN_CTRL_ONE_SHOT},
        {"berr_reporting", HIL_CAN_CTRL_BERR_REPORTING}, {"fd", HIL_CAN_CTRL_FD},
        {"fd_non_iso", HIL_CAN_CTRL_FD_NON_ISO}, {"presume_ack", HIL_CAN_CTRL_PRESUME_ACK}};
    hil__sockcan* s = (hil__sockcan*)hil_channel_state(ch);
    const char* v = hil_channel_opt_str(ch, "interface", NULL);
    char why[300];
    long long iv;
    double fv;
    int b;
    size_t i;
    hil_result r;
    s->fd = -1;
    if (!v || !*v)
        return hil_channel_error(ch, HIL_ERR_CONFIG, "no interface: set connectors.%s.interface (can0, vcan0)",
                                 hil_channel_name(ch));
    if (strlen(v) >= 16)
        return hil_channel_error(ch, HIL_ERR_CONFIG, "option interface: '%s' is longer than 15 characters", v);
    snprintf(s->ifname, sizeof s->ifname, "%.15s", v);
    v = hil_channel_opt_str(ch, "filters", NULL);
    if (v && *v && (r = hil__can_parse_filters(v, &s->filters, &s->n_filters, why, sizeof why)) != HIL_OK)
        return hil_channel_error(ch, r, "option filters '%s': %s", v, why);
#define HIL__SC_TRY(call) do { if ((r = (call)) != HIL_OK) { hil__sc_free_config(s); return r; } } while (0)
    v = hil_channel_opt_str(ch, "error_mask", NULL);
    if ((r = hil__can_parse_error_mask(v, &s->err_mask, why, sizeof why)) != HIL_OK) {
        hil__sc_free_config(s);
        return hil_channel_error(ch, r, "option error_mask: %s", why);
    }
    HIL__SC_TRY(hil_channel_opt_bool(ch, "filter_join", 0, &s->filter_join));
    HIL__SC_TRY(hil_channel_opt_bool(ch, "receive_own", 0, &s->recv_own));
    HIL__SC_TRY(hil_channel_opt_bool(ch, "local_loopback", 1, &s->local_loopback));
    HIL__SC_TRY(hil_channel_opt_bool(ch, "fd_frames", 1, &s->fd_frames));
    HIL__SC_TRY(hil_channel_opt_int(ch, "rcvbuf", -1, &s->rcvbuf));
    HIL__SC_TRY(hil_channel_opt_int(ch, "sndbuf", 0, &s->sndbuf));
    hil_can_if_config_init(&s->ifc);
    HIL__SC_TRY(hil_channel_opt_int(ch, "bitrate", 0, &iv));
    if (iv < 0 || iv > 100000000) {
        hil__sc_free_config(s);
        return hil_channel_error(ch, HIL_ERR_CONFIG, "option bitrate: %lld is not a bit rate", iv);
    }
    if (iv) { s->ifc.bitrate = (uint32_t)iv; s->control_opt = "bitrate"; }
    HIL__SC_TRY(hil_channel_opt_int(ch, "data_bitrate", 0, &iv));
    if (iv < 0 || iv > 100000000) {
        hil__sc_free_config(s);
        return hil_channel_error(ch, HIL_ERR_CONFIG, "option data_bitrate: %lld is not a bit rate", iv);
    }
    if (iv) { s->ifc.data_bitrate = (uint32_t)iv; if (!s->control_opt) s->control_opt = "data_bitrate"; }
    HIL__SC_TRY(hil_channel_opt_float(ch, "sample_point", 0, &fv));
    if (fv < 0 || fv >= 1) {
        hil__sc_free_config(s);
        return hil_channel_error(ch, HIL_ERR_CONFIG, "option sample_point: %g is not between 0 and 1 (0.875 is 87.5 %%)", fv);
    }
    s->ifc.sample_point = (uint32_t)(fv * 1000 + 0.5);
    HIL__SC_TRY(hil_channel_opt_float(ch, "data_sample_point", 0, &fv));
    if (fv < 0 || fv >= 1) {
        hil__sc_free_config(s);
        return hil_channel_error(ch, HIL_ERR_CONFIG, "option data_sample_point: %g is not between 0 and 1", fv);
    }
    s->ifc.data_sample_point = (uint32_t)(fv * 1000 + 0.5);
    if ((s->ifc.sample_point && !s->ifc.bitrate) || (s->ifc.data_sample_point && !s->ifc.data_bitrate)) {
        hil__sc_free_config(s);
        return hil_channel_error(ch, HIL_ERR_CONFIG, "a sample point needs its bit rate (bitrate, data_bitrate)");
    }
    if (s->ifc.data_bitrate && !s->ifc.bitrate) {
        hil__sc_free_config(s);
        return hil_channel_error(ch, HIL_ERR_CONFIG, "option data_bitrate needs bitrate (both are set together)");
    }
    HIL__SC_TRY(hil_channel_opt_int(ch, "restart_ms", -1, &iv));
    if (iv < -1 || iv > 0x7FFFFFFF) {
        hil__sc_free_config(s);
        return hil_channel_error(ch, HIL_ERR_CONFIG, "option restart_ms: %lld is out of range", iv);
    }
    s->ifc.restart_ms = iv;
    if (iv >= 0 && !s->control_opt) s->control_opt = "restart_ms";
    for (i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        HIL__SC_TRY(hil_channel_opt_bool(ch, modes[i].name, -1, &b));
        if (b < 0) continue;
        s->ifc.ctrl_mask |= modes[i].bit;
        if (b) s->ifc.ctrl_flags |= modes[i].bit;
        if (!s->control_opt) s->control_opt = modes[i].name;
    }
    v = hil_channel_opt_str(ch, "state", "keep");
    if (strcmp(v, "keep") && strcmp(v, "up")) {
        hil__sc_free_config(s);
        return hil_channel_error(ch, HIL_ERR_CONFIG, "option state: '%s' is not keep or up", v);
    }
    s->state_up = !strcmp(v, "up");
    s->control = s->control_opt != NULL;
    s->ifc.start = 1;
#undef HIL__SC_TRY
#ifndef HIL__CAN_LIB
    if (s->control || s->state_up) {
        const char* what = s->control ? s->control_opt : "state=up";
        hil__sc_free_config(s);
#ifdef HIL__HAVE_LINUX_CAN
        return hil_channel_error(ch, HIL_ERR_MISSING_LIBRARY, "option %s needs libsocketcan, and hil was built "
                                 "without it: install it (apt-get install libsocketcan-dev) and build with "
                                 "-DHIL_HAVE_LIBSOCKETCAN -lsocketcan, or configure %s beforehand (sudo ip link set "
                                 "%s up type can bitrate 500000) and remove the option", what, s->ifname, s->ifname);
#else
        return hil_channel_error(ch, HIL_ERR_UNSUPPORTED, "option %s needs Linux SocketCAN and libsocketcan", what);
#endif
    }
#endif
    if (hil_waker_init(&s->wake) != HIL_OK) {
        hil__sc_free_config(s);
        return hil_channel_error(ch, HIL_ERR_IO, "%s", hil_last_error());
    }
    hil_mutex_init(&s->mu);
    hil_cond_init(&s->cv);
    s->closing = 1; /* not open yet */
    s->sync_ready = 1;
    return HIL_OK;
}

static void hil__sc_destroy(hil_channel* ch) {
    hil__sockcan* s = (hil__sockcan*)hil_channel_state(ch);
    hil__sc_free_config(s);
    if (s->sync_ready) {
        hil_waker_destroy(&s->wake);
        hil_cond_destroy(&s->cv);
        hil_mutex_destroy(&s->mu);
        s->sync_ready = 0;
    }
}

#ifdef HIL__HAVE_LINUX_CAN

static hil_result hil__sc_sockopt(hil_channel* ch, int fd, int level, int opt, const void* v, socklen_t len,
                                  const char* what) {
    if (setsockopt(fd, level, opt, v, len) == 0) return HIL_OK;
    return hil_channel_error(ch, HIL_ERR_IO, "setting %s on the CAN socket: %s", what, strerror(errno));
}

static hil_result hil__sc_open(hil_channel* ch) {
    hil__sockcan* s = (hil__sockcan*)hil_channel_state(ch);
    struct sockaddr_can addr;
    struct ifreq ifr;
    int fd, one = 1, zero = 0;
    unsigned idx;
    hil_result r = HIL_OK;
    fd = socket(PF_CAN, SOCK_RAW | SOCK_CLOEXEC, CAN_RAW);
    if (fd < 0) {
        int e = errno;
        if (e == EAFNOSUPPORT || e == EPROTONOSUPPORT || e == ESOCKTNOSUPPORT || e == EINVAL)
            return hil_channel_error(ch, HIL_ERR_UNSUPPORTED, "the kernel has no SocketCAN (AF_CAN): socket(PF_CAN, "
                                     "SOCK_RAW, CAN_RAW): %s; load the can and can-raw modules (sudo modprobe "
                                     "can-raw; vcan for a virtual bus) or run in the VM bench: make test-vm",
                                     strerror(e));
        return hil_channel_error(ch, e == EPERM || e == EACCES ? HIL_ERR_PERMISSION : HIL_ERR_IO,
                                 "socket(PF_CAN, SOCK_RAW, CAN_RAW): %s", strerror(e));
    }
    idx = if_nametoindex(s->ifname);
    if (!idx) {
        close(fd);
        return hil_channel_error(ch, HIL_ERR_NOT_FOUND, "no network interface '%s' (ip -br link show type can "
                                 "lists the CAN interfaces; a virtual one: sudo ip link add dev vcan0 type vcan && "
                                 "sudo ip link set vcan0 up)", s->ifname);
    }
#ifdef HIL__CAN_LIB
    if (s->control || s->state_up) {
        hil_can_if_config c = s->ifc;
        int changed = 0;
        if (!s->control) { hil_can_if_config_init(&c); c.start = 1; }
        r = hil_can_configure(s->ifname, &c, &changed);
        if (r != HIL_OK) {
            close(fd);
            return hil_channel_error(ch, r, "%s", hil_last_error());
        }
        if (changed) HIL_INFO("hil.can", "socketcan '%s': configured and started %s", hil_channel_name(ch), s->ifname);
    }
#endif
    memset(&ifr, 0, sizeof ifr);
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%.15s", s->ifname);
    if (ioctl(fd, SIOCGIFFLAGS, &ifr) == 0 && !(ifr.ifr_flags & IFF_UP)) {
        close(fd);
        return hil_channel_error(ch, HIL_ERR_STATE, "interface %s is down: set state=up or bitrate=... to let hil "
                                 "start it (libsocketcan), or: sudo ip link set %s up type can bitrate 500000",
                                 s->ifname, s->ifname);
    }
    s->mtu = ioctl(fd, SIOCGIFMTU, &ifr) == 0 ? ifr.ifr_mtu : (int)CAN_MTU;
    if (s->n_filters) {
        struct can_filter* f = (struct can_filter*)HIL_MALLOC(s->n_filters * sizeof *f);
        size_t i;
        if (!f) { close(fd); return hil_channel_error(ch, HIL_ERR_NO_MEMORY, "out of memory"); }
        for (i = 0; i < s->n_filters; i++) {
            f[i].can_id = s->filters[i].id | (s->filters[i].inverted ? CAN_INV_FILTER : 0u);
            f[i].can_mask = s->filters[i].mask;
        }
        r = hil__sc_sockopt(ch, fd, SOL_CAN_RAW, CAN_RAW_FILTER, f, (socklen_t)(s->n_filters * sizeof *f), "filters");
        HIL_FREE(f);
    }
    /* CAN_RAW_JOIN_FILTERS (Linux 4.1) is an enum value, 6, in linux/can/raw.h:
     * use the number so older headers compile; an older kernel refuses it. */
    if (r == HIL_OK && s->filter_join)
        r = hil__sc_sockopt(ch, fd, SOL_CAN_RAW, 6, &one, sizeof one, "filter_join (CAN_RAW_JOIN_FILTERS, Linux 4.1+)");
    if (r == HIL_OK && s->err_mask) {
        can_err_mask_t em = s->err_mask;
        r = hil__sc_sockopt(ch, fd, SOL_CAN_RAW, CAN_RAW_ERR_FILTER, &em, sizeof em, "error_mask");
    }
    if (r == HIL_OK && s->recv_own)
        r = hil__sc_sockopt(ch, fd, SOL_CAN_RAW, CAN_RAW_RECV_OWN_MSGS, &one, sizeof one, "receive_own");
    if (r == HIL_OK && !s->local_loopback)
        r = hil__sc_sockopt(ch, fd, SOL_CAN_RAW, CAN_RAW_LOOPBACK, &zero, sizeof zero, "local_loopback");
    /* Only an FD-capable interface (MTU 72) can carry FD frames; kernels
     * without CAN FD refuse the option, and classic interfaces need none. */
    if (r == HIL_OK && s->fd_frames && s->mtu == (int)CANFD_MTU)
        r = hil__sc_sockopt(ch, fd, SOL_CAN_RAW, CAN_RAW_FD_FRAMES, &one, sizeof one, "fd_frames (CAN FD)");
    if (r == HIL_OK) {
        s->ts_ns = setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof one) == 0;
        if (!s->ts_ns) r = hil__sc_sockopt(ch, fd, SOL_SOCKET, SO_TIMESTAMP, &one, sizeof one, "SO_TIMESTAMP");
    }
    if (r == HIL_OK) r = hil__sc_sockopt(ch, fd, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof one, "SO_RXQ_OVFL");
    if (r == HIL_OK && s->rcvbuf >= 0) {
        int v = s->rcvbuf > INT_MAX / 2 ? INT_MAX / 2 : (int)s->rcvbuf;
        /* FORCE goes past net.core.rmem_max when we are allowed to. */
        if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &v, sizeof v) != 0)
            r = hil__sc_sockopt(ch, fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof v, "rcvbuf");
    }
    if (r == HIL_OK && s->sndbuf >= 0) {
        int v = s->sndbuf > INT_MAX / 2 ? INT_MAX / 2 : (int)s->sndbuf;
        r = hil__sc_sockopt(ch, fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof v, "sndbuf");
    }
    if (r == HIL_OK) {
        memset(&addr, 0, sizeof addr);
        addr.can_family = AF_CAN;
        addr.can_ifindex = (int)idx;
        if (bind(fd, (struct sockaddr*)&addr, sizeof addr) != 0)
            r = hil_channel_error(ch, HIL_ERR_IO, "bind to %s: %s", s->ifname, strerror(errno));
    }
    if (r == HIL_OK) r = hil_set_nonblocking(fd, 1);
    if (r != HIL_OK) {
        close(fd);
        return r;
    }
    hil_waker_drain(&s->wake);
    hil_mutex_lock(&s->mu);
    s->fd = fd;
    s->users = 0;
    s->closing = 0;
    s->ovfl_last = 0;
    s->ovfl_warned_ns = 0;
    hil_mutex_unlock(&s->mu);
    return HIL_OK;
}

/* Readers and writers register, so close() can wake them and wait until
 * they have left before the descriptor goes (it could be reused). */
static int hil__sc_enter(hil__sockcan* s) {
    int ok;
    hil_mutex_lock(&s->mu);
    ok = !s->closing;
    if (ok) s->users++;
    hil_mutex_unlock(&s->mu);
    return ok;
}

static void hil__sc_leave(hil__sockcan* s) {
    hil_mutex_lock(&s->mu);
    if (--s->users == 0) hil_cond_broadcast(&s->cv);
    hil_mutex_unlock(&s->mu);
}

static void hil__sc_close(hil_channel* ch) {
    hil__sockcan* s = (hil__sockcan*)hil_channel_state(ch);
    int fd;
    hil_mutex_lock(&s->mu);
    s->closing = 1;
    hil_waker_wake(&s->wake);
    while (s->users > 0) hil_cond_wait(&s->cv, &s->mu);
    fd = s->fd;
    s->fd = -1;
    hil_mutex_unlock(&s->mu);
    if (fd >= 0) close(fd);
}

/* Wait until fd has events or the deadline passes; HIL_ERR_CLOSED when the
 * channel is being closed (the core's close wakes us, then waits for us). */
static hil_result hil__sc_wait(hil_channel* ch, hil__sockcan* s, short events, uint64_t deadline) {
    hil_result r = hil_channel_wait_fd(ch, s->fd, events, hil_deadline_left_ms(deadline));
    return r == HIL_ERR_AGAIN ? HIL_ERR_TIMEOUT : r;
}

static hil_result hil__sc_io_error(hil_channel* ch, hil__sockcan* s, const char* what, int e) {
    if (e == ENETDOWN)
        return hil_channel_error(ch, HIL_ERR_IO, "%s on %s: the interface is down (%s): start it again (hil_can_start, "
                                 "or ip link set %s up)", what, s->ifname, strerror(e), s->ifname);
    if (e == ENXIO || e == ENODEV)
        return hil_channel_error(ch, HIL_ERR_CLOSED, "%s on %s: the interface is gone (%s)", what, s->ifname, strerror(e));
    return hil_channel_error(ch, HIL_ERR_IO, "%s on %s: %s", what, s->ifname, strerror(e));
}

static hil_result hil__sc_send(hil_channel* ch, const hil_msg* m, int timeout_ms) {
    hil__sockcan* s = (hil__sockcan*)hil_channel_state(ch);
    struct canfd_frame f;
    char why[160];
    uint32_t word;
    size_t size;
    uint64_t deadline = hil_deadline_ms(timeout_ms);
    int backoff_us = 100;
    hil_result r = hil__can_check(m, &word, why, sizeof why);
    if (r != HIL_OK) return hil_channel_error(ch, r, "cannot send: %s", why);
    memset(&f, 0, sizeof f);
    f.can_id = word;
    f.len = (unsigned char)m->len;
    if (m->flags & HIL_MSG_FD) {
        if (!s->fd_frames)
            return hil_channel_error(ch, HIL_ERR_CONFIG, "cannot send a CAN FD frame: option fd_frames is false");
        if (s->mtu != (int)CANFD_MTU)
            return hil_channel_error(ch, HIL_ERR_UNSUPPORTED, "cannot send a CAN FD frame on %s: its MTU is %d, "
                                     "classic CAN only (enable FD: option fd=true with data_bitrate, or ip link set "
                                     "%s type can ... fd on; vcan: ip link set %s mtu 72)", s->ifname, s->mtu,
                                     s->ifname, s->ifname);
        f.flags = (unsigned char)(((m->flags & HIL_MSG_BRS) ? CANFD_BRS : 0) | ((m->flags & HIL_MSG_ESI) ? CANFD_ESI : 0));
        size = CANFD_MTU;
    } else {
        size = CAN_MTU;
    }
    if (m->len && !(m->flags & HIL_MSG_RTR)) memcpy(f.data, m->data, m->len);
    if (!hil__sc_enter(s)) return HIL_ERR_CLOSED;
    for (;;) {
        ssize_t w = send(s->fd, &f, size, MSG_DONTWAIT);
        int e = errno;
        if (w == (ssize_t)size) { r = HIL_OK; break; }
        if (w >= 0) { r = hil_channel_error(ch, HIL_ERR_IO, "short write on %s (%zd of %zu bytes)", s->ifname, w, size); break; }
        if (e == EINTR) continue;
        if (e == EAGAIN || e == EWOULDBLOCK) {
            if (timeout_ms == 0) { r = HIL_ERR_AGAIN; break; }
            r = hil__sc_wait(ch, s, POLLOUT, deadline);
        } else if (e == ENOBUFS) {
            /* The device queue is full. The kernel wakes no one when it
             * drains, so retry on a short timer (waking at once on close);
             * a small sndbuf (the default) makes this rare. */
            int left = hil_deadline_left_ms(deadline);
            struct pollfd p;
            if (timeout_ms == 0 || left == 0) { r = timeout_ms == 0 ? HIL_ERR_AGAIN : HIL_ERR_TIMEOUT; break; }
            p.fd = hil_channel_close_fd(ch);
            p.events = POLLIN;
            p.revents = 0;
            {
                int wait_ms = backoff_us / 1000 ? backoff_us / 1000 : 1;
                if (left > 0 && wait_ms > left) wait_ms = left;
                r = poll(&p, 1, wait_ms) > 0 ? HIL_ERR_CLOSED : HIL_OK;
            }
            if (backoff_us < 8000) backoff_us *= 2;
        } else {
            if (e == EINVAL && (m->flags & HIL_MSG_FD))
                r = hil_channel_error(ch, HIL_ERR_UNSUPPORTED, "%s refused a CAN FD frame (EINVAL): the interface is "
                                      "not in CAN FD mode", s->ifname);
            else
                r = hil__sc_io_error(ch, s, "send", e);
            break;
        }
        if (r == HIL_ERR_TIMEOUT) {
            r = hil_channel_error(ch, HIL_ERR_TIMEOUT, "send on %s: the transmit queue stayed full for %d ms (is the "
                                  "bus connected and acknowledging? state: see hil_can_get_state)", s->ifname, timeout_ms);
            break;
        }
        if (r != HIL_OK) break;
    }
    hil__sc_leave(s);
    return r;
}

static void hil__sc_dropped(hil_channel* ch, hil__sockcan* s, uint32_t total) {
    uint32_t delta = total - s->ovfl_last;
    uint64_t now;
    if (!delta) return;
    s->ovfl_last = total;
    hil_channel_count(ch, &hil_channel_stats_ptr(ch)->rx_dropped, delta);
    now = hil_now_ns();
    /* at most one warning a second: a flood of them would only slow the reader more */
    if (!s->ovfl_warned_ns || now - s->ovfl_warned_ns >= 1000000000u) {
        s->ovfl_warned_ns = now;
        HIL_WARN("hil.can", "socketcan '%s': the kernel dropped %u frame(s) on %s (%u in all): the socket's receive "
                 "queue was full; read faster or raise the option rcvbuf", hil_channel_name(ch), (unsigned)delta,
                 s->ifname, (unsigned)total);
    }
}

static hil_result hil__sc_recv(hil_channel* ch, hil_msg* m, int timeout_ms) {
    hil__sockcan* s = (hil__sockcan*)hil_channel_state(ch);
    uint64_t deadline = hil_deadline_ms(timeout_ms);
    struct canfd_frame f;
    union { char buf[CMSG_SPACE(sizeof(struct timespec)) + CMSG_SPACE(sizeof(uint32_t)) + 64]; struct cmsghdr align; } ctl;
    struct iovec iov;
    struct msghdr mh;
    struct cmsghdr* c;
    hil_result r;
    ssize_t n;
    size_t len;
    if (!hil__sc_enter(s)) return HIL_ERR_CLOSED;
    for (;;) {
        memset(&mh, 0, sizeof mh);
        iov.iov_base = &f;
        iov.iov_len = sizeof f;
        mh.msg_iov = &iov;
        mh.msg_iovlen = 1;
        mh.msg_control = ctl.buf;
        mh.msg_controllen = sizeof ctl.buf;
        n = recvmsg(s->fd, &mh, MSG_DONTWAIT);
        if (n >= 0) break;
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            r = hil__sc_io_error(ch, s, "receive", errno);
            hil__sc_leave(s);
            return r;
        }
        if (timeout_ms == 0) { hil__sc_leave(s); return HIL_ERR_AGAIN; }
        r = hil__sc_wait(ch, s, POLLIN, deadline);
        if (r != HIL_OK) { hil__sc_leave(s); return r; }
    }
    for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
        if (c->cmsg_level != SOL_SOCKET) continue;
        if (c->cmsg_type == SCM_TIMESTAMPNS) {
            struct timespec ts;
            memcpy(&ts, CMSG_DATA(c), sizeof ts);
            m->timestamp_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
        } else if (c->cmsg_type == SCM_TIMESTAMP) {
            struct timeval tv;
            memcpy(&tv, CMSG_DATA(c), sizeof tv);
            m->timestamp_ns = (uint64_t)tv.tv_sec * 1000000000u + (uint64_t)tv.tv_usec * 1000u;
        } else if (c->cmsg_type == SO_RXQ_OVFL) {
            uint32_t total;
            memcpy(&total, CMSG_DATA(c), sizeof total);
            hil__sc_dropped(ch, s, total);
        }
    }
    hil__sc_leave(s);
    if (n != (ssize_t)CAN_MTU && n != (ssize_t)CANFD_MTU)
        return hil_channel_error(ch, HIL_ERR_PROTOCOL, "receive on %s: %zd bytes is not a CAN frame", s->ifname, n);
    if (f.can_id & CAN_ERR_FLAG) {
        m->flags |= HIL_MSG_ERROR;
        m->remote_id = f.can_id & CAN_ERR_MASK;
    } else if (f.can_id & CAN_EFF_FLAG) {
        m->flags |= HIL_MSG_EXTENDED;
        m->remote_id = f.can_id & CAN_EFF_MASK;
    } else {
        m->remote_id = f.can_id & CAN_SFF_MASK;
    }
    len = f.len;
    if (n == (ssize_t)CANFD_MTU) {
        m->flags |= HIL_MSG_FD | ((f.flags & CANFD_BRS) ? HIL_MSG_BRS : 0u) | ((f.flags & CANFD_ESI) ? HIL_MSG_ESI : 0u);
        if (len > 64) len = 64;
    } else {
        if ((f.can_id & CAN_RTR_FLAG) && !(f.can_id & CAN_ERR_FLAG)) m->flags |= HIL_MSG_RTR;
        if (len > 8) len = 8;
    }
    if (mh.msg_flags & MSG_CONFIRM) m->flags |= HIL_MSG_ECHO;
    m->len = len <= m->cap ? len : m->cap;
    if (len > m->cap) m->flags |= HIL_MSG_TRUNCATED;
    if (m->flags & HIL_MSG_RTR) memset(m->data, 0, m->len);
    else if (m->len) memcpy(m->data, f.data, m->len);
    return HIL_OK;
}

static int hil__sc_poll_fd(hil_channel* ch) {
    hil__sockcan* s = (hil__sockcan*)hil_channel_state(ch);
    return s->fd;
}

#else /* no Linux CAN headers */

static hil_result hil__sc_open(hil_channel* ch) {
    return hil_channel_error(ch, HIL_ERR_UNSUPPORTED, "SocketCAN needs Linux and its CAN headers (linux/can.h); "
                             "this build has none%s: build on Linux, or run in the VM bench: make test-vm",
#ifdef HIL_NO_SOCKETCAN
                             " (HIL_NO_SOCKETCAN is defined)"
#else
                             ""
#endif
                             );
}
static void hil__sc_close(hil_channel* ch) { (void)ch; }
static hil_result hil__sc_send(hil_channel* ch, const hil_msg* m, int timeout_ms) {
    (void)m; (void)timeout_ms;
    return hil_channel_error(ch, HIL_ERR_UNSUPPORTED, "SocketCAN is not available in this build");
}
static hil_result hil__sc_recv(hil_channel* ch, hil_msg* m, int timeout_ms) {
    (void)m; (void)timeout_ms;
    return hil_channel_error(ch, HIL_ERR_UNSUPPORTED, "SocketCAN is not available in this build");
}
static int hil__sc_poll_fd(hil_channel* ch) { (void)ch; return -1; }

#endif /* HIL__HAVE_LINUX_CAN */

static const hil_channel_type hil__socketcan_type = {
    "socketcan", "CAN and CAN FD frames on a Linux SocketCAN interface (CAN_RAW); see docs/can.md", 0,
    sizeof(hil__sockcan), hil__socketcan_opts, hil__sc_configure, hil__sc_open, hil__sc_close, hil__sc_send,
    hil__sc_recv, hil__sc_poll_fd, hil__sc_destroy
};

HIL_API const hil_channel_type* hil_socketcan_channel_type(void) { return &hil__socketcan_type; }

/* ---- traces: candump log and pcap writers --------------------------------------------- */

struct hil_can_trace {
    FILE* f;
    hil_can_trace_format fmt;
    hil_mutex mu;
    size_t count;
    int err;          /* errno of the first failed write, 0 if none */
    char* path;
};

HIL_API hil_result hil_can_trace_format_parse(const char* s, const char* path, hil_can_trace_format* out) {
    if (!s || !*s || !strcmp(s, "auto")) {
        size_t n = path ? strlen(path) : 0;
        *out = n >= 5 && !strcmp(path + n - 5, ".pcap") ? HIL_CAN_TRACE_PCAP : HIL_CAN_TRACE_CANDUMP;
        return HIL_OK;
    }
    if (!strcmp(s, "candump") || !strcmp(s, "log")) { *out = HIL_CAN_TRACE_CANDUMP; return HIL_OK; }
    if (!strcmp(s, "pcap")) { *out = HIL_CAN_TRACE_PCAP; return HIL_OK; }
    return hil_error(HIL_ERR_INVALID_ARG, "CAN trace format '%s': expected candump, pcap or auto", s);
}

static void hil__can_put32(unsigned char* p, uint32_t v) {  /* host order, as pcap headers are */
    memcpy(p, &v, 4);
}

HIL_API hil_result hil_can_trace_open(const char* path, hil_can_trace_format fmt, hil_can_trace** out) {
    hil_can_trace* tr;
    *out = NULL;
    if (!path || !*path) return hil_error(HIL_ERR_INVALID_ARG, "CAN trace: no file name given");
    if (fmt != HIL_CAN_TRACE_CANDUMP && fmt != HIL_CAN_TRACE_PCAP)
        return hil_error(HIL_ERR_INVALID_ARG, "CAN trace %s: unknown format %d", path, (int)fmt);
    tr = (hil_can_trace*)calloc(1, sizeof *tr);
    if (!tr) return hil_error(HIL_ERR_NO_MEMORY, "CAN trace %s: out of memory", path);
    tr->fmt = fmt;
    tr->path = hil_strdup(path);
    tr->f = fopen(path, fmt == HIL_CAN_TRACE_PCAP ? "wb" : "w");
    if (!tr->f || !tr->path) {
        int e = errno;
        if (tr->f) fclose(tr->f);
        HIL_FREE(tr->path);
        HIL_FREE(tr);
        return hil_error(e == EACCES ? HIL_ERR_PERMISSION : HIL_ERR_IO, "CAN trace: cannot create %s: %s", path,
                         strerror(e));
    }
    if (fmt == HIL_CAN_TRACE_PCAP) {
        /* pcap file header, nanosecond variant (magic a1b23c4d), version 2.4 */
        unsigned char h[24];
        uint16_t major = 2, minor = 4;
        hil__can_put32(h, 0xa1b23c4du);
        memcpy(h + 4, &major, 2);
        memcpy(h + 6, &minor, 2);
        hil__can_put32(h + 8, 0);       /* thiszone */
        hil__can_put32(h + 12, 0);      /* sigfigs */
        hil__can_put32(h + 16, 72);     /* snaplen: a whole CAN FD frame */
        hil__can_put32(h + 20, 227);    /* LINKTYPE_CAN_SOCKETCAN */
        if (fwrite(h, 1, sizeof h, tr->f) != sizeof h) tr->err = errno ? errno : EIO;
    }
    hil_mutex_init(&tr->mu);
    *out = tr;
    return HIL_OK;
}

HIL_API hil_result hil_can_trace_write(hil_can_trace* tr, const char* ifname, const hil_msg* m) {
    uint64_t ts = m->timestamp_ns ? m->timestamp_ns : hil_wall_ns();
    uint32_t word;
    char why[160];
    int ok = 1;
    hil_result r = hil__can_check(m, &word, why, sizeof why);
    if (r != HIL_OK) return hil_error(r, "CAN trace %s: cannot record the frame: %s", tr->path, why);
    hil_mutex_lock(&tr->mu);
    if (tr->fmt == HIL_CAN_TRACE_CANDUMP) {
        char text[HIL_CAN_FRAME_TEXT_MAX];
        hil_can_format_frame(m, text, sizeof text);
        ok = fprintf(tr->f, "(%010llu.%06llu) %s %s\n", (unsigned long long)(ts / 1000000000u),
                     (unsigned long long)(ts % 1000000000u / 1000u), ifname && *ifname ? ifname : "can0", text) > 0;
    } else {
        /* Record header (host order) then the SocketCAN frame: CAN id and
         * flags in network byte order, as LINKTYPE_CAN_SOCKETCAN requires,
         * length, FD flags (FDF 0x04 marks CAN FD), two reserved bytes and
         * the payload padded to 8 or 64 bytes, as Linux captures have it. */
        unsigned char rec[16 + 72];
        size_t payload = (m->flags & HIL_MSG_FD) ? 64 : 8, total = 8 + payload;
        const unsigned char* d = (const unsigned char*)m->data;
        memset(rec, 0, sizeof rec);
        hil__can_put32(rec, (uint32_t)(ts / 1000000000u));
        hil__can_put32(rec + 4, (uint32_t)(ts % 1000000000u));
        hil__can_put32(rec + 8, (uint32_t)total);
        hil__can_put32(rec + 12, (uint32_t)total);
        rec[16] = (unsigned char)(word >> 24);
        rec[17] = (unsigned char)(word >> 16);
        rec[18] = (unsigned char)(word >> 8);
        rec[19] = (unsigned char)word;
        rec[20] = (unsigned char)m->len;
        if (m->flags & HIL_MSG_FD)
            rec[21] = (unsigned char)(0x04 | ((m->flags & HIL_MSG_BRS) ? 0x01 : 0) | ((m->flags & HIL_MSG_ESI) ? 0x02 : 0));
        if (m->len && d && !((m->flags & HIL_MSG_RTR) && !(m->flags & HIL_MSG_FD))) memcpy(rec + 24, d, m->len);
        ok = fwrite(rec, 1, 16 + total, tr->f) == 16 + total;
    }
    if (!ok && !tr->err) tr->err = errno ? errno : EIO;
    if (ok) tr->count++;
    hil_mutex_unlock(&tr->mu);
    if (!ok) return hil_error(HIL_ERR_IO, "CAN trace %s: write failed: %s", tr->path, strerror(tr->err));
    return HIL_OK;
}

HIL_API hil_result hil_can_trace_flush(hil_can_trace* tr) {
    int rc;
    hil_mutex_lock(&tr->mu);
    rc = fflush(tr->f);
    if (rc != 0 && !tr->err) tr->err = errno ? errno : EIO;
    hil_mutex_unlock(&tr->mu);
    return rc == 0 ? HIL_OK : hil_error(HIL_ERR_IO, "CAN trace %s: %s", tr->path, strerror(tr->err));
}

HIL_API size_t hil_can_trace_count(hil_can_trace* tr) {
    size_t n;
    hil_mutex_lock(&tr->mu);
    n = tr->count;
    hil_mutex_unlock(&tr->mu);
    return n;
}

HIL_API hil_result hil_can_trace_close(hil_can_trace* tr) {
    hil_result r = HIL_OK;
    if (!tr) return HIL_OK;
    if (fclose(tr->f) != 0 && !tr->err) tr->err = errno ? errno : EIO;
    if (tr->err) r = hil_error(HIL_ERR_IO, "CAN trace %s: writing failed: %s", tr->path, strerror(tr->err));
    hil_mutex_destroy(&tr->mu);
    HIL_FREE(tr->path);
    HIL_FREE(tr);
    return r;
}

/* ---- reading candump logs, replay ------------------------------------------------------- */

struct hil_can_log {
    FILE* f;
    char* path;
    char* line;
    size_t cap;
    unsigned lineno;
    unsigned char data[64];
};

HIL_API hil_result hil_can_log_open(const char* path, hil_can_log** out) {
    hil_can_log* lg;
    *out = NULL;
    lg = (hil_can_log*)calloc(1, sizeof *lg);
    if (!lg) return hil_error(HIL_ERR_NO_MEMORY, "CAN log %s: out of memory", path);
    lg->f = fopen(path, "r");
    if (!lg->f) {
        int e = errno;
        HIL_FREE(lg);
        return hil_error(e == ENOENT ? HIL_ERR_NOT_FOUND : HIL_ERR_IO, "CAN log: cannot open %s: %s", path, strerror(e));
    }
    lg->path = hil_strdup(path);
    *out = lg;
    return HIL_OK;
}

HIL_API hil_result hil_can_log_next(hil_can_log* lg, hil_can_log_entry* e) {
    for (;;) {
        ssize_t n = getline(&lg->line, &lg->cap, lg->f);
        char* p;
        char* end;
        unsigned long long sec, frac;
        size_t fd, k;
        hil_result r;
        if (n < 0) {
            if (ferror(lg->f)) return hil_error(HIL_ERR_IO, "CAN log %s: read error: %s", lg->path, strerror(errno));
            return HIL_ERR_CLOSED;
        }
        lg->lineno++;
        while (n > 0 && (lg->line[n - 1] == '\n' || lg->line[n - 1] == '\r')) lg->line[--n] = 0;
        p = lg->line;
        while (*p == ' ' || *p == '\t') p++;
        if (!*p || *p == '#') continue;
        memset(e, 0, sizeof *e);
        e->line = lg->lineno;
        if (*p != '(')
            return hil_error(HIL_ERR_PROTOCOL, "CAN log %s:%u: expected '(seconds.micros) interface frame'", lg->path,
                             lg->lineno);
        errno = 0;
        sec = strtoull(p + 1, &end, 10);
        if (end == p + 1 || *end != '.' || errno)
            return hil_error(HIL_ERR_PROTOCOL, "CAN log %s:%u: bad timestamp", lg->path, lg->lineno);
        p = end + 1;
        frac = strtoull(p, &end, 10);
        fd = (size_t)(end - p);
        if (!fd || fd > 9 || *end != ')')
            return hil_error(HIL_ERR_PROTOCOL, "CAN log %s:%u: bad timestamp fraction", lg->path, lg->lineno);
        for (k = fd; k < 9; k++) frac *= 10;
        e->timestamp_ns = sec * 1000000000ull + frac;
        p = end + 1;
        while (*p == ' ' || *p == '\t') p++;
        k = 0;
        while (*p && !isspace((unsigned char)*p) && k < sizeof e->ifname - 1) e->ifname[k++] = *p++;
        e->ifname[k] = 0;
        while (*p == ' ' || *p == '\t') p++;
        if (!k || !*p)
            return hil_error(HIL_ERR_PROTOCOL, "CAN log %s:%u: expected an interface name and a frame", lg->path,
                             lg->lineno);
        hil_msg_init(&e->msg, lg->data, sizeof lg->data);
        r = hil_can_parse_frame(p, &e->msg);
        if (r != HIL_OK) {
            char why[400];
            snprintf(why, sizeof why, "%.399s", hil_last_error());
            return hil_error(HIL_ERR_PROTOCOL, "CAN log %s:%u: %s", lg->path, lg->lineno, why);
        }
        e->msg.timestamp_ns = e->timestamp_ns;
        return HIL_OK;
    }
}

HIL_API void hil_can_log_close(hil_can_log* lg) {
    if (!lg) return;
    fclose(lg->f);
    free(lg->line); /* getline() allocates with malloc */
    HIL_FREE(lg->path);
    HIL_FREE(lg);
}

HIL_API void hil_can_replay_config_init(hil_can_replay_config* c) {
    memset(c, 0, sizeof *c);
    c->realtime = 1;
    c->send_timeout_ms = 1000;
}

/* Wait until the monotonic deadline; HIL_ERR_ABORTED when stop is woken.
 * One timed wait, not a loop of sleeps (EINTR aside). */
static hil_result hil__can_wait_until(uint64_t deadline_ns, hil_waker* stop) {
    for (;;) {
        uint64_t now = hil_now_ns();
        struct timespec ts;
        if (stop) {
            struct pollfd p;
            int rc;
            p.fd = hil_waker_fd(stop);
            p.events = POLLIN;
            p.revents = 0;
            if (now >= deadline_ns) return poll(&p, 1, 0) > 0 ? HIL_ERR_ABORTED : HIL_OK;
            ts.tv_sec = (time_t)((deadline_ns - now) / 1000000000u);
            ts.tv_nsec = (long)((deadline_ns - now) % 1000000000u);
#ifdef __linux__
            rc = ppoll(&p, 1, &ts, NULL);
#else
            rc = poll(&p, 1, (int)((deadline_ns - now + 999999u) / 1000000u));
#endif
            if (rc > 0) return HIL_ERR_ABORTED;
            if (rc == 0) return HIL_OK;
            if (errno != EINTR) return hil_error(HIL_ERR_IO, "CAN replay: poll: %s", strerror(errno));
        } else {
            int rc;
            if (now >= deadline_ns) return HIL_OK;
            ts.tv_sec = (time_t)(deadline_ns / 1000000000u);
            ts.tv_nsec = (long)(deadline_ns % 1000000000u);
            rc = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
            if (rc == 0) return HIL_OK;
            if (rc != EINTR) return hil_error(HIL_ERR_IO, "CAN replay: clock_nanosleep: %s", strerror(rc));
        }
    }
}

HIL_API hil_result hil_can_replay(const hil_can_replay_config* c, size_t* sent) {
    hil_can_log* lg;
    hil_can_log_entry e;
    uint64_t t0_log = 0, t0 = 0;
    size_t n = 0;
    int first = 1;
    hil_result r;
    if (sent) *sent = 0;
    if (!c || !c->path || !c->channel) return hil_error(HIL_ERR_INVALID_ARG, "CAN replay: path and channel are required");
    r = hil_can_log_open(c->path, &lg);
    if (r != HIL_OK) return r;
    for (;;) {
        r = hil_can_log_next(lg, &e);
        if (r == HIL_ERR_CLOSED) { r = HIL_OK; break; }
        if (r != HIL_OK) break;
        if (c->interface && strcmp(c->interface, e.ifname) != 0) continue;
        if (first) {
            t0_log = e.timestamp_ns;
            t0 = hil_now_ns();
            first = 0;
        } else if (c->realtime && e.timestamp_ns > t0_log) {
            r = hil__can_wait_until(t0 + (e.timestamp_ns - t0_log), c->stop);
        } else if (c->stop) {
            r = hil__can_wait_until(0, c->stop);
        }
        if (r == HIL_ERR_ABORTED) { r = hil_error(HIL_ERR_ABORTED, "CAN replay of %s: stopped after %zu frames", c->path, n); break; }
        if (r != HIL_OK) break;
        e.msg.timestamp_ns = 0;
        r = hil_channel_send(c->channel, &e.msg, c->send_timeout_ms);
        if (r != HIL_OK) {
            char why[600];
            snprintf(why, sizeof why, "%.599s", hil_last_error());
            r = hil_error(r, "CAN replay of %s, line %u: %s", c->path, e.line, why);
            break;
        }
        n++;
    }
    hil_can_log_close(lg);
    if (sent) *sent = n;
    return r;
}

/* ==== end of section: socketcan / hil_can ================================================ */

#ifdef __cplusplus
}
#endif

#endif /* HIL_IMPLEMENTATION */
