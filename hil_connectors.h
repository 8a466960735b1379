/* hil_connectors.h - channels to devices, framing and flashers, for hil.
 *
 * A channel moves messages between a test and a device: frames on a byte
 * stream (a UART, TCP, a simulator's stdin/stdout) cut by a framer, or
 * whole packets (UDP datagrams, CAN frames). Channel types are registered
 * by name and created from configuration. Built in:
 *
 *   loopback   in-process queue (tests)          packets
 *   process    a simulator over stdin/stdout     stream
 *   pty        a pseudo-terminal (master side)   stream
 *   tcp        client, or server for one peer    stream
 *   udp        datagrams                         packets
 *   serial     a UART through libserialport      stream
 *   rfc2217    remote serial, telnet COM-PORT    stream
 *   ser2net    remote serial, RFC 2217 or raw    stream
 *   qemu       an emulated microcontroller       stream   (HIL_NO_QEMU leaves it out)
 *   socketcan  CAN frames (Linux SocketCAN)      packets  (HIL_NO_CAN leaves it out)
 *   isotp      ISO-TP messages on CAN (kernel)   packets  (HIL_NO_CAN leaves it out)
 *
 * Streams take the framing options: framing = raw | line | cobs | slip |
 * length, line_terminator, max_frame, length_bytes, length_endian,
 * leading_delimiter. A flasher (flashers.<name>.*; built in: command)
 * puts firmware on the device. docs/connectors.md has every option.
 *
 *     # lab.conf
 *     connectors.dut.type = tcp
 *     connectors.dut.host = 192.168.1.50
 *     connectors.dut.port = 5000
 *     connectors.dut.framing = cobs
 *     flashers.dut.type = command
 *     flashers.dut.command = st-flash --reset write {image} 0x8000000
 *
 *     hil_flasher* f;
 *     hil_channel* ch;
 *     hil_msg m;
 *     char buf[64];
 *     HIL_ASSERT_OK(hil_flasher_from_config("dut", &f));
 *     HIL_ASSERT_OK(hil_flasher_flash(f, "build/fw.bin", -1));
 *     HIL_ASSERT_OK(hil_channel_from_config("dut", &ch));
 *     HIL_ASSERT_OK(hil_channel_open(ch));
 *     HIL_ASSERT_OK(hil_channel_send_bytes(ch, "ping", 4, 1000));   // one COBS frame
 *     hil_msg_init(&m, buf, sizeof buf);
 *     HIL_ASSERT_OK(hil_channel_recv(ch, &m, 1000));               // one whole frame
 *     hil_channel_destroy(ch);
 *     hil_flasher_destroy(f);
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
 * OPTIONS are checked at create: a key that is not an option of the type,
 * or a value of the wrong kind, is a HIL_ERR_CONFIG naming the key, where it
 * was set and the allowed values. Failures at open and later name the
 * connector, the port or host, the OS error and what to do.
 *
 * THREADS: one reader and one writer may use a channel at the same time
 * (an auxiliary's receive loop and a test sending); everything else (open,
 * close, destroy, options) from one thread while nobody reads or writes,
 * except close(), which may run while another thread is blocked in receive:
 * that receive returns HIL_ERR_CLOSED at once. No lock is held across a
 * blocking call. A flasher is used by one thread at a time.
 *
 * WAITING: hil_channel_poll_fd() gives a descriptor that is readable when a
 * receive may not block, so an auxiliary waits on several channels and its
 * own command queue (a hil_waker) in one poll() without polling in a loop;
 * hil_channel_wait() does that and also sees frames a stream has buffered.
 * After a wake-up, hil_channel_recv(ch, m, 0) returns HIL_ERR_AGAIN when
 * the bytes so far do not make a whole frame yet; whoever polls the
 * descriptor directly receives until HIL_ERR_AGAIN.
 *
 * BOARD CONTROL: hil_channel_reset(), hil_channel_power() and
 * hil_channel_flash() act on the board behind a channel where the type can
 * (qemu: the emulator is the board; a proxy channel passes them on);
 * elsewhere they return HIL_ERR_UNSUPPORTED. docs/qemu.md.
 *
 * OWN TYPES: fill a hil_channel_type (or hil_flasher_type) and register it
 * with hil_channel_type_register() (or HIL_CHANNEL_TYPE(var) at file
 * scope); see docs/connectors.md. No header needs editing.
 *
 * Needs hil.h. The implementation is compiled where HIL_IMPLEMENTATION is
 * defined (or HIL_IMPLEMENTATION_CONNECTORS, in a file of its own: hil.h,
 * section 10); link -lpthread, and -lserialport when built with
 * HIL_HAVE_LIBSERIALPORT (HIL_NO_LIBSERIALPORT leaves it out).
 *
 * COMPILE-TIME OPTIONS (define them the same way in every file that
 * includes this header, e.g. with -D):
 *   HIL_NO_CAN          leave out the socketcan section: the socketcan and
 *                       isotp channel types, hil_can_* (frames as text,
 *                       interface control, traces, replay). About a fifth of
 *                       this header's implementation; configuring a channel
 *                       of type socketcan or isotp then fails as an unknown
 *                       type.
 *   HIL_NO_SOCKETCAN    keep the section but build it without the Linux CAN
 *                       headers (open() says why it cannot work).
 *   HIL_NO_LIBSERIALPORT  the serial type without libserialport.
 *   HIL_NO_QEMU         leave out the qemu channel type (emulated boards);
 *                       board control (hil_channel_reset/power/flash) stays.
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
    /* Free what configure() allocated; also called when configure() failed
     * half-way (the state is zeroed at first). May be NULL. */
    void (*destroy)(hil_channel* ch);
} hil_channel_type;

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
/* The index of the option's value in `choices` ("a|b|c") into *out, or the
 * index of `fallback` when the option is not set. A value that is not one
 * of the choices is a HIL_ERR_CONFIG naming the key and the choices. */
HIL_API hil_result hil_channel_opt_choice(hil_channel* ch, const char* key, const char* choices,
                                          const char* fallback, int* out);
/* The log name of a channel: "hil.chan.<name>". */
HIL_API const char* hil_channel_logger(const hil_channel* ch);

/* Drop what a stream channel has received but not returned yet (a partial
 * frame, buffered bytes). Safe from any thread: the reader applies it at
 * its next receive. */
HIL_API void hil_channel_flush_input(hil_channel* ch);

/* ---- framing ------------------------------------------------------------------------ */
/* Byte streams carry frames. Every stream channel (type->stream = 1) reads
 * these options (connectors.<name>.<option>):
 *
 *   framing           raw | line | cobs | slip | length        (default raw)
 *   line_terminator   line: the terminator, C escapes allowed   (default "\n")
 *   max_frame         the longest payload accepted, in bytes    (default 65536)
 *   length_bytes      length: 1 | 2 | 4                          (default 2)
 *   length_endian     length: big | little                       (default big)
 *   leading_delimiter cobs/slip: also send a delimiter before each frame,
 *                     so line noise before it ends up in a frame of its own
 *                     (default: true for slip, as RFC 1055 does; false for cobs)
 *
 * raw: each receive returns the bytes that are there (up to max_frame).
 * line: the terminator is added on send and removed on receive; a message
 * must not contain it. cobs: Consistent Overhead Byte Stuffing, each frame
 * ends with 0x00. slip: RFC 1055 (END 0xC0, ESC 0xDB); empty frames are
 * not delivered. length: a 1, 2 or 4 byte payload length, then the payload.
 *
 * Receiving: garbage and corrupt frames are skipped up to the next
 * delimiter and counted (stats.frame_errors); a frame longer than
 * max_frame is skipped and counted (stats.oversize). Memory stays bounded
 * by max_frame whatever arrives. A length prefix has no delimiter: after
 * garbage it cannot find the next frame by itself (an oversize length is
 * skipped as declared); hil_channel_flush_input() starts over.
 *
 * The framers work on their own too (auxiliaries, tests, simulators):
 *
 *     hil_framing f;
 *     hil_deframer d;
 *     hil_strbuf wire = {0, 0, 0, 0};
 *     const void* frame;
 *     size_t len;
 *     hil_framing_init(&f, HIL_FRAMING_COBS);
 *     hil_frame_encode(&f, "a\0b", 3, &wire);        // 03 61 02 62 00
 *     hil_deframer_init(&d, &f);
 *     hil_deframer_push(&d, wire.data, wire.len);
 *     while (hil_deframer_next(&d, &frame, &len)) use(frame, len);
 *     hil_deframer_free(&d);
 *     hil_sb_free(&wire);
 */

typedef enum hil_framing_kind {
    HIL_FRAMING_RAW = 0,
    HIL_FRAMING_LINE,
    HIL_FRAMING_COBS,
    HIL_FRAMING_SLIP,
    HIL_FRAMING_LENGTH
} hil_framing_kind;

#define HIL_FRAMING_CHOICES "raw|line|cobs|slip|length"
#define HIL_FRAME_MAX_DEFAULT 65536u

typedef struct hil_framing {
    hil_framing_kind kind;
    size_t max_frame;               /* longest payload accepted (HIL_FRAME_MAX_DEFAULT) */
    unsigned char terminator[8];    /* line: the terminator ("\n") */
    size_t terminator_len;
    int length_bytes;               /* length: 1, 2 or 4 (2) */
    int length_big_endian;          /* length: 1 (default) or 0 for little endian */
    int leading_delimiter;          /* cobs/slip: a delimiter before each frame too */
} hil_framing;

/* Defaults for a kind (see above). */
HIL_API void hil_framing_init(hil_framing* f, hil_framing_kind kind);
HIL_API const char* hil_framing_name(hil_framing_kind kind);
/* "raw", "line", ... -> kind; HIL_ERR_INVALID_ARG naming the choices. */
HIL_API hil_result hil_framing_parse(const char* name, hil_framing_kind* out);
/* The line terminator from text with C escapes: "\r\n", "\x03", "\0". */
HIL_API hil_result hil_framing_set_terminator(hil_framing* f, const char* escaped);
/* Append one encoded frame to out. HIL_ERR_INVALID_ARG: a line containing
 * the terminator, a line ending with the start of a terminator that overlaps
 * itself ("a" with "aa": it would read back as ""), a payload too long for
 * the length prefix. */
HIL_API hil_result hil_frame_encode(const hil_framing* f, const void* data, size_t len, hil_strbuf* out);

/* An incremental decoder: push bytes as they arrive, take whole frames
 * with next(). Fields other than the counters are private. */
typedef struct hil_deframer {
    hil_framing f;
    uint64_t frames;          /* frames returned or ready */
    uint64_t frame_errors;    /* corrupt frames skipped */
    uint64_t oversize;        /* frames longer than max_frame skipped */
    unsigned char* in_;       /* pushed bytes not decoded yet */
    size_t in_len_, in_pos_, in_cap_;
    unsigned char* frame_;    /* the frame being decoded */
    size_t frame_len_, frame_cap_;
    uint64_t left_;           /* cobs: block bytes left; length: payload or skip bytes left */
    unsigned char hdr_[4];
    int hdr_n_, stage_, ready_, taken_, discard_, esc_, zero_, started_;
} hil_deframer;

HIL_API hil_result hil_deframer_init(hil_deframer* d, const hil_framing* f);
HIL_API void hil_deframer_free(hil_deframer* d);
/* Forget buffered bytes and the partial frame (counters stay). */
HIL_API void hil_deframer_reset(hil_deframer* d);
/* Add received bytes. Call next() until it returns 0 before pushing more,
 * so the buffer holds at most one push and one frame. */
HIL_API hil_result hil_deframer_push(hil_deframer* d, const void* data, size_t len);
/* 1 and the next whole frame (valid until the next call on d), or 0 when
 * the bytes so far do not complete one. */
HIL_API int hil_deframer_next(hil_deframer* d, const void** frame, size_t* len);
/* Whether next() would return a frame now. */
HIL_API int hil_deframer_ready(hil_deframer* d);
/* Bytes received and not returned in a frame yet (0: nothing pending). */
HIL_API size_t hil_deframer_buffered(const hil_deframer* d);
/* The framing of a stream channel, or NULL for packet channels. */
HIL_API const hil_framing* hil_channel_framing(const hil_channel* ch);


/* ---- the loopback type ----------------------------------------------------------- */
/* "loopback": what is sent is received, in order, in-process (for tests).
 * Options: capacity (messages queued, default 1024; a full queue makes
 * send wait up to its timeout, then HIL_ERR_OVERFLOW). */

/* ---- the process type ---------------------------------------------------------- */
/* "process": starts a program (a device simulator) and talks to it over its
 * stdin and stdout (a byte stream: framing applies). The program runs in
 * its own process group; closing the channel sends SIGTERM to the group,
 * waits kill_grace_ms, sends SIGKILL and reaps it. When the program exits,
 * receive returns what it wrote before, then HIL_ERR_CLOSED, and
 * hil_last_error() says how it ended ("exited with status 3", "killed by
 * SIGSEGV (Segmentation fault)"). No shell runs: command is split into
 * words like a shell would (quotes, backslashes), nothing else.
 *
 * Options: command (required), cwd, env ("KEY=VALUE ..." words),
 * stderr (log: each line into the log at INFO | inherit | null | stdout:
 * mixed into the channel's data; default log), kill_grace_ms (500). */

/* The program's pid while it runs, else -1. */
HIL_API int hil_process_pid(hil_channel* ch);
/* Wait up to timeout_ms for the program to exit (without killing it);
 * *status gets the raw wait status (hil_proc_status_str() words it).
 * HIL_ERR_TIMEOUT while it runs. Do not call it while another thread
 * receives on the channel. */
HIL_API hil_result hil_process_wait(hil_channel* ch, int timeout_ms, int* status);

/* ---- the pty type -------------------------------------------------------------- */
/* "pty": a pseudo-terminal pair through termios. The channel holds the
 * master; the slave (/dev/pts/N) is where a serial-device simulator, ser2net
 * or any program expecting a serial port connects. The path is logged at
 * open and given by hil_pty_path(); option `link` adds a symlink with a
 * fixed name. The channel keeps the slave open itself too, so peers may
 * come and go. The slave starts raw (no echo, no line editing).
 *
 * Options: link, baudrate (115200), stop_bits (1), flow_control (none |
 * xonxoff | rtscts): they set the pty's termios, which the peer sees
 * (tcgetattr) and may change. data_bits and parity are accepted only as 8
 * and none: the Linux pty driver forces those. */

/* The slave device path ("/dev/pts/7") while open, else NULL. */
HIL_API const char* hil_pty_path(hil_channel* ch);

/* ---- serial lines: settings and control lines (serial, pty, rfc2217/ser2net) ---------- */
/* The same calls for a local UART (serial), a pty, and a remote one over
 * RFC 2217. They are control calls: make them from the thread that sends
 * (one writer), not while another thread changes the same channel. */

typedef enum hil_parity {
    HIL_PARITY_NONE = 0, HIL_PARITY_ODD, HIL_PARITY_EVEN, HIL_PARITY_MARK, HIL_PARITY_SPACE
} hil_parity;

typedef enum hil_flow_control {
    HIL_FLOW_NONE = 0, HIL_FLOW_XONXOFF, HIL_FLOW_RTSCTS, HIL_FLOW_DTRDSR
} hil_flow_control;

typedef struct hil_serial_settings {
    int baudrate;                  /* bits per second; 0 in a change: keep */
    int data_bits;                 /* 5..8 */
    hil_parity parity;
    int stop_bits;                 /* 1 or 2 */
    hil_flow_control flow_control;
} hil_serial_settings;

/* The line's settings as the device (or the remote server) has them now. */
HIL_API hil_result hil_serial_get_settings(hil_channel* ch, hil_serial_settings* out);
/* Change the line's settings while open (the options set them at open). */
HIL_API hil_result hil_serial_apply(hil_channel* ch, const hil_serial_settings* s);
HIL_API hil_result hil_serial_set_baudrate(hil_channel* ch, int baudrate);
/* Drive the RTS and DTR lines (boards wire them to reset and boot pins). */
HIL_API hil_result hil_serial_set_rts(hil_channel* ch, int on);
HIL_API hil_result hil_serial_set_dtr(hil_channel* ch, int on);
/* Hold the line in break for duration_ms. */
HIL_API hil_result hil_serial_send_break(hil_channel* ch, int duration_ms);
#define HIL_FLUSH_INPUT 1
#define HIL_FLUSH_OUTPUT 2
/* Drop unread input (also what the channel has buffered) and/or unsent output. */
HIL_API hil_result hil_serial_flush(hil_channel* ch, int which);

/* ---- the serial type (libserialport) ------------------------------------------ */
/* "serial": a local UART through libserialport (when the build has it:
 * HIL_HAVE_LIBSERIALPORT, which the Makefile sets when pkg-config finds
 * libserialport; HIL_NO_LIBSERIALPORT turns it off). Without it, opening a
 * serial channel fails with HIL_ERR_MISSING_LIBRARY and the install hint;
 * everything else works.
 *
 * The port: `port` (/dev/ttyUSB0), or found among the USB serial ports by
 * vid_pid ("0403:6001"), serial_number and/or description (a substring);
 * exactly one port must match. baudrate (115200), data_bits (8), parity
 * (none), stop_bits (1), flow_control (none | xonxoff | rtscts | dtrdsr),
 * exclusive (true: a lock and TIOCEXCL keep other programs out), rts and
 * dtr (keep | on | off at open; default keep). Control while open: the
 * hil_serial_* calls above. libserialport refuses pseudo-terminals: use
 * the pty type for simulators. */

/* The serial ports the system has, one line each: device, description,
 * and for USB ports vid:pid and serial number. */
HIL_API hil_result hil_serial_list_ports(hil_strbuf* out);
/* The device of the one port matching every criterion given (NULL or ""
 * matches anything). HIL_ERR_NOT_FOUND / HIL_ERR_BUSY (several match) list
 * the ports there are. */
HIL_API hil_result hil_serial_find_port(const char* vid_pid, const char* serial_number, const char* description,
                                        char* out, size_t size);

/* ---- remote serial ports: the rfc2217 and ser2net types --------------------- */
/* A serial port on another machine, served over TCP by ser2net (or any
 * RFC 2217 server: Moxa NPort, esp-link, pyserial's server...). A byte
 * stream: framing applies.
 *
 * "rfc2217": telnet with the COM-PORT option (RFC 2217). At open the
 * channel negotiates binary mode and the option, then sets what is
 * configured: baudrate, data_bits, parity, stop_bits, flow_control, rts,
 * dtr (unset ones stay as the server has them). hil_serial_apply(),
 * hil_serial_set_baudrate(), RTS/DTR, break and flush work while open and
 * return once the server has answered. 0xFF bytes in the data are escaped
 * both ways.
 *   ser2net: accepter: telnet(rfc2217),tcp,2000
 *
 * "ser2net": the same, with protocol = rfc2217 (default) or raw: raw TCP
 * carries only the bytes; the line is set in ser2net's own configuration.
 *   ser2net: accepter: tcp,2000 / connector: serialdev,/dev/ttyUSB0,115200n81,local
 *
 * Options: host, port, protocol (ser2net only), connect_timeout_ms (5000,
 * also the time the server has to answer each setting), nodelay, and the
 * serial settings above. */

/* ---- the tcp and udp types -------------------------------------------------------- */
/* "tcp": a TCP byte stream (framing applies) with one peer.
 *   mode = client (default): connects to host:port at open
 *          (connect_timeout_ms, default 5000).
 *   mode = server: listens on host:port (host default 127.0.0.1; port 0
 *          picks a free one, see hil_channel_local_port()). open() does not
 *          wait for the peer: send and receive accept it (within their
 *          timeout), and poll_fd is readable when it knocks. When the peer
 *          disconnects, receive returns HIL_ERR_CLOSED once and the next
 *          call waits for a new peer (a device that reboots reconnects).
 *   nodelay (default true) sends small frames at once.
 *
 * "udp": datagrams (packets: one send is one datagram; no framing).
 *   host, port: where send() goes. Without them, send() answers the last
 *   sender. local_host (default 127.0.0.1 without a remote host, else all
 *   addresses), local_port (default 0: a free one): where it listens.
 *   Received messages carry the sender's port in remote_id; a datagram
 *   longer than the buffer is cut and flagged HIL_MSG_TRUNCATED. */

/* The local port of a tcp, udp or rfc2217/ser2net channel while open (a tcp
 * server's listening port), else -1. */
HIL_API int hil_channel_local_port(hil_channel* ch);
/* tcp: whether a peer is connected (a client: whether the connection is up). */
HIL_API int hil_tcp_connected(hil_channel* ch);

/* ---- flashers ------------------------------------------------------------------- */
/* A flasher puts a firmware image on a device (before the channel talks to
 * it). Types are registered by name like channel types and created from
 * "flashers.<name>.*" configuration:
 *
 *     flashers.board.type = command
 *     flashers.board.command = openocd -f board/st_nucleo_f4.cfg -c "program {image} verify reset exit"
 *     flashers.board.timeout_ms = 60000
 *
 *     hil_flasher* f;
 *     HIL_ASSERT_OK(hil_flasher_from_config("board", &f));
 *     HIL_ASSERT_OK(hil_flasher_flash(f, "build/fw.elf", -1));
 *     hil_flasher_destroy(f);
 *
 * "command": runs the argv template (split like a shell would, no shell
 * runs) with {image} (and {name}) replaced inside the words, so an image
 * path with spaces stays one argument. Its output (stdout and stderr) goes
 * line by line into the log ("hil.flash.<name>") and is kept for
 * hil_flasher_output(). Results: exit 0 -> HIL_OK; another status ->
 * HIL_ERR_IO; killed by a signal -> HIL_ERR_CRASHED; over timeout_ms ->
 * HIL_ERR_TIMEOUT (its process group is killed); Ctrl-C -> HIL_ERR_INTERRUPTED;
 * a program or image that is not there -> HIL_ERR_NOT_FOUND. The message
 * names the flasher, the program, how it ended and its last output lines.
 * Options: command (required), timeout_ms (120000), cwd, env,
 * fail_pattern (text in the output that means failure even with exit 0,
 * e.g. JLinkExe's "ERROR"; several separated by '|'), success_pattern
 * (text that must appear, e.g. openocd's "Verified OK").
 *
 * THREADS: one thread uses a flasher at a time. */

typedef struct hil_flasher hil_flasher;

typedef struct hil_flasher_type {
    const char* name;
    const char* description;
    size_t state_size;                  /* private state, zeroed, at hil_flasher_state(f) */
    const hil_channel_opt* opts;        /* registered as "flashers.*.<name>"; {NULL} terminated */
    hil_result (*configure)(hil_flasher* f);   /* read and check options; may be NULL */
    /* Flash the image; timeout_ms bounds the whole job (-1: none). */
    hil_result (*flash)(hil_flasher* f, const char* image, int timeout_ms);
    void (*destroy)(hil_flasher* f);    /* free what configure() got; may be NULL */
} hil_flasher_type;

HIL_API hil_result hil_flasher_type_register(const hil_flasher_type* t);
HIL_API const hil_flasher_type* hil_flasher_type_find(const char* name);

typedef struct hil_flasher_config {
    const char* name;               /* "board", used in messages */
    const char* type;               /* NULL: "flashers.<name>.type" from the config */
    hil_config* config;             /* NULL: the program's (hil_cfg()) */
    const char* const* options;     /* "key=value", NULL-terminated; they win over the config */
} hil_flasher_config;

HIL_API void hil_flasher_config_init(hil_flasher_config* c);
HIL_API hil_result hil_flasher_create(const hil_flasher_config* c, hil_flasher** out);
HIL_API hil_result hil_flasher_from_config(const char* name, hil_flasher** out);
/* timeout_ms -1: the flasher's own (command: option timeout_ms). */
HIL_API hil_result hil_flasher_flash(hil_flasher* f, const char* image, int timeout_ms);
/* What the last flash printed (the last 64 KiB), "" before. */
HIL_API const char* hil_flasher_output(const hil_flasher* f);
HIL_API const char* hil_flasher_name(const hil_flasher* f);
HIL_API void hil_flasher_destroy(hil_flasher* f);
/* For flasher type implementations. */
HIL_API void* hil_flasher_state(hil_flasher* f);
HIL_API const char* hil_flasher_opt_str(hil_flasher* f, const char* key, const char* fallback);
HIL_API hil_result hil_flasher_opt_int(hil_flasher* f, const char* key, long long fallback, long long* out);
/* Append to what hil_flasher_output() returns. */
HIL_API void hil_flasher_add_output(hil_flasher* f, const char* text, size_t len);
/* Set hil_last_error() to "flasher '<name>': <what>" and return r. */
HIL_API hil_result hil_flasher_error(hil_flasher* f, hil_result r, const char* fmt, ...) HIL__PRINTF(3, 4);

/* ---- board control: reset, power and flash through a channel --------------------- */
/* Some channels are the board itself (qemu: the emulator is the board), so
 * the channel can also reset it, switch it off and on, and put a new image
 * on it. A channel type that can do so registers its board operations;
 * every other type answers HIL_ERR_UNSUPPORTED naming the connector and its
 * type. A proxy channel (hil_aux.h) passes them on to the channel it shares.
 *
 *     HIL_ASSERT_OK(hil_channel_reset(ch, 5000));       // like the reset button
 *     HIL_ASSERT_OK(hil_channel_power(ch, 0, 5000));    // off: the UART goes silent
 *     HIL_ASSERT_OK(hil_channel_power(ch, 1, 10000));   // on: boots again
 *     HIL_ASSERT_OK(hil_channel_flash(ch, "fw-v2.elf", 10000));
 *
 * THREADS: board operations may run while another thread receives on the
 * channel (an auxiliary's worker); a reader waits while the board restarts
 * and then reads from the restarted board. */

typedef struct hil_board_ops {
    /* Reset the board (it keeps running; it reboots). */
    hil_result (*reset)(hil_channel* ch, int timeout_ms);
    /* Power off (on = 0) or on (on = 1); on waits until the board boots. */
    hil_result (*power)(hil_channel* ch, int on, int timeout_ms);
    /* Put image on the board and boot it. May be NULL. */
    hil_result (*flash)(hil_channel* ch, const char* image, int timeout_ms);
} hil_board_ops;

/* Give type t board operations (both must outlive the program). */
HIL_API hil_result hil_board_ops_register(const hil_channel_type* t, const hil_board_ops* ops);
HIL_API hil_result hil_channel_reset(hil_channel* ch, int timeout_ms);
HIL_API hil_result hil_channel_power(hil_channel* ch, int on, int timeout_ms);
HIL_API hil_result hil_channel_flash(hil_channel* ch, const char* image, int timeout_ms);

/* ==========================================================================
 * qemu: an emulated microcontroller as a lab board.
 * [section: qemu -- see docs/qemu.md; HIL_NO_QEMU leaves it out]
 *
 * The "qemu" channel type starts qemu-system-arm (or another qemu-system-*)
 * for one board when it opens, and is that board's UART: a byte stream, so
 * the framing options apply. The firmware is loaded from its ELF (-kernel),
 * or, with image = none and gdb = auto, by a debug probe through QEMU's GDB
 * stub (hil_probe.h: a probe's address = qemu:<connector>).
 *
 *     # lab.conf
 *     connectors.board.type = qemu
 *     connectors.board.machine = mps2-an385
 *     connectors.board.image = build/mcu/fw-mps2-an385-default.elf
 *     auxiliaries.dut.type = dut
 *     auxiliaries.dut.connectors.com = board
 *
 * The UART (-serial, the first one) and QEMU's machine protocol (QMP) are
 * socketpairs handed to QEMU as descriptors: no port, no socket file, no
 * race with another board. open() waits until the firmware writes its
 * first byte (boot_timeout_ms): a board that does not boot is an error
 * naming the machine, the image and what QEMU printed ("unsupported
 * machine type", "could not load kernel"). QEMU's own output (stdout and
 * stderr) goes line by line into the log ("hil.chan.<name>").
 *
 * Board operations (hil_channel_reset/power/flash): reset is QMP
 * system_reset; power off stops the emulator, power on starts it again and
 * waits for the boot; flash restarts it with another image (kept for the
 * next open too). close() asks QEMU to quit (QMP quit), then SIGTERM, then
 * SIGKILL after quit_timeout_ms, and always reaps it. QEMU runs in its own
 * process group and gets SIGKILL when the thread that started it ends
 * (PR_SET_PDEATHSIG), so a test program killed outright leaves no emulator
 * behind (hil_proc_spawn with new_process_group and die_with_parent).
 *
 * The GDB stub (gdb): the channel listens on a TCP socket of its own from
 * open() to close() and hands it to each emulator it starts as descriptor
 * 5 (-chardev socket,fd=5,server=on -gdb chardev:...), so the port is known
 * (QEMU's -gdb tcp::0 would not say which it took) and stays the same
 * across restarts. Without -kernel (image = none) a system_reset keeps
 * what a probe flashed: QEMU copies a -kernel image back at every reset.
 *
 * Options (connectors.<name>.<option>):
 *   machine          the -M machine, required (mps2-an385, netduinoplus2)
 *   image            the firmware ELF, required (-kernel); none: an empty
 *                    board that a probe flashes through the GDB stub
 *   qemu             the emulator program (default qemu-system-arm)
 *   args             extra arguments, split like a shell would (-cpu, -d ...)
 *   boot_timeout_ms  how long the firmware may take to send its first byte
 *                    (default 10000; 0: do not wait)
 *   quit_timeout_ms  on close: how long QEMU may take to quit before SIGTERM,
 *                    then before SIGKILL (default 2000)
 *   gdb              off (default) | auto (a free port on 127.0.0.1) | PORT |
 *                    IPV4-ADDRESS:PORT: QEMU's GDB stub
 *   gdb_wait         true: the CPU starts halted (-S) until a debugger
 *                    resumes it; open() then waits for no boot (nor does it
 *                    with image = none)
 */

/* The running emulator's pid, or -1 (closed, powered off, not a qemu channel). */
HIL_API int hil_qemu_pid(hil_channel* ch);
/* Where the GDB stub (option gdb) listens, "127.0.0.1:PORT", while the
 * channel is open: a probe's address. HIL_ERR_STATE without gdb or closed. */
HIL_API hil_result hil_qemu_gdb_address(hil_channel* ch, char* buf, size_t size);
/* The same for the open qemu channel named `name` in this process (a probe
 * configured with address = qemu:<name> uses it); HIL_ERR_NOT_FOUND. */
HIL_API hil_result hil_qemu_gdb_address_of(const char* name, char* buf, size_t size);
/* Send one QMP command ("{\"execute\":\"stop\"}") and wait for its answer;
 * *reply (may be NULL) gets the answer line (the caller frees it). Events
 * that arrive in between go into the log. HIL_ERR_PROTOCOL for an "error"
 * answer, with QEMU's description. */
HIL_API hil_result hil_qemu_qmp(hil_channel* ch, const char* command, int timeout_ms, char** reply);
/* ==== end of section: qemu ================================================== */


#ifndef HIL_NO_CAN /* the whole section; see the options at the top */
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

/* ==========================================================================
 * isotp: ISO 15765-2 (ISO-TP) messages through the Linux kernel's CAN_ISOTP
 * sockets. [section: isotp -- see docs/uds.md, "ISO-TP channel"]
 *
 * The "isotp" channel type is a socket(PF_CAN, SOCK_DGRAM, CAN_ISOTP) bound
 * to one interface and one pair of CAN ids. The kernel does segmentation,
 * flow control, sequence numbers, padding and the protocol timers; one
 * hil_msg is one whole ISO-TP message (a UDS request or response):
 *
 *     # lab.conf: a tester talking to an ECU at 7E0/7E8
 *     connectors.ecu.type = isotp
 *     connectors.ecu.interface = can0
 *     connectors.ecu.tx_id = 0x7E0          # hex; 8 digits or above 7FF: 29-bit
 *     connectors.ecu.rx_id = 0x7E8
 *     connectors.ecu.tx_padding = 0xCC      # pad every frame to 8 bytes
 *     connectors.ecu.block_size = 8         # in the flow control we send
 *     connectors.ecu.stmin_us = 1000
 *
 *     hil_channel* ecu;
 *     hil_msg m;
 *     unsigned char buf[4095];
 *     HIL_ASSERT_OK(hil_channel_from_config("ecu", &ecu));
 *     HIL_ASSERT_OK(hil_channel_open(ecu));
 *     HIL_ASSERT_OK(hil_channel_send_bytes(ecu, "\x22\xF1\x90", 3, 1000)); // ReadDataByIdentifier VIN
 *     hil_msg_init(&m, buf, sizeof buf);
 *     HIL_ASSERT_OK(hil_channel_recv(ecu, &m, 1000));    // the whole answer, however many frames
 *     HIL_ASSERT_EQ(((unsigned char*)m.data)[0], 0x62);
 *     hil_channel_destroy(ecu);
 *
 * MESSAGES. send: 1 .. 4095 bytes go in first frames with 12-bit lengths;
 * longer ones in the 32-bit lengths of ISO 15765-2:2016, up to the
 * kernel's maximum: 8200 bytes on Linux 5.10-5.17, 66000 on 5.18-6.3
 * (measured on 6.1), from 6.4 on the module parameter max_pdu_size (8300
 * by default). A longer message is refused with a message saying so.
 * m->remote_id and m->flags are ignored on send: the ids are the
 * channel's. send returns when the whole message has gone out (every
 * consecutive frame, as the peer's flow control allowed); with timeout 0 it
 * returns once the kernel has taken the message. recv: one whole message,
 * remote_id = rx_id (HIL_MSG_EXTENDED for a 29-bit id), HIL_MSG_TRUNCATED
 * when it did not fit (len is what fit), timestamp_ns the kernel's receive
 * time of the last frame.
 *
 * OPTIONS (connectors.<name>.<option>); numbers take 0x.. hex or decimal:
 *   interface        the CAN interface, required (can0, vcan0); it must be up
 *   tx_id            the CAN id we send on, required; hex with or without 0x;
 *                    8 hex digits or a value above 7FF is a 29-bit id
 *   rx_id            the CAN id we receive on (the peer's tx_id), required
 *   tx_padding       a byte (0xCC): pad every frame we send to its full
 *                    length with it; unset: frames as short as the data
 *   rx_padding       a byte: the padding expected in received frames
 *                    (checked with pad_check)
 *   pad_check        none (default), length (received frames must be
 *                    padded to full length), data (the padding bytes must be
 *                    rx_padding), all; needs rx_padding
 *   block_size       consecutive frames the peer may send between our flow
 *                    controls, 0..255 (default 0: no limit)
 *   stmin_us         the separation time we ask of the peer, in us: 0
 *                    (default), 100..900 in steps of 100, 1000..127000 in ms
 *   stmin_raw        the STmin byte itself (0..255), reserved values
 *                    included (protocol tests); wins over stmin_us
 *   wft_max          flow-control WAIT frames we accept before giving up
 *                    (default 0: a WAIT is an error)
 *   force_tx_stmin_us  ignore the peer's STmin and wait this long between
 *                    our consecutive frames
 *   force_rx_stmin_us  drop consecutive frames that come closer together
 *   frame_txtime_us  the gap after each frame we send (N_As); unset: the
 *                    kernel's default (50 us since 5.18); 0: none
 *   ext_address      a byte: extended addressing, the first data byte of
 *                    every frame (we send it; received frames must carry it
 *                    unless rx_ext_address is set)
 *   rx_ext_address   a byte: the address received frames carry (needs
 *                    ext_address)
 *   listen_only      true: never send flow control, only listen (a tracer
 *                    next to a tester); send is refused
 *   half_duplex      true: the kernel's half-duplex error handling
 *   sf_broadcast     true: 1-to-N functional addressing, single frames only
 *                    (UDS functional requests to 7DF)
 *   cf_broadcast     true: send multi-frame messages without waiting for
 *                    flow control (1-to-N; Linux 6.0+)
 *   fd               true: CAN FD frames (the interface's MTU must be 72)
 *   tx_dl            the data length of the frames we send: 8, 12, 16, 20,
 *                    24, 32, 48 or 64 (default 8, with fd 64)
 *   brs              true: CAN FD bit rate switch on the frames we send
 *
 * TIMEOUTS. send and recv take the caller's timeout. The protocol's own
 * timers are the kernel's and fixed: no flow control within 1 s of a first
 * frame or block (N_Bs) fails the send with HIL_ERR_TIMEOUT ("the peer sent
 * no flow control"); a message whose next consecutive frame does not come
 * within 1 s (N_Cr) is dropped and the next recv (or send: the kernel keeps
 * one error per socket) reports it. A sequence error, bad padding (with
 * pad_check) or a peer's overflow answer are HIL_ERR_PROTOCOL.
 *
 * SETUP: the module can-isotp (modprobe can-isotp; mainline since 5.10)
 * and an interface that is up (ip link set can0 up type can bitrate
 * 500000; a virtual bus: ip link add dev vcan0 type vcan && ip link set
 * vcan0 up). open() says which of these is missing. These machines' kernel
 * has no SocketCAN: `make test-vm` runs the channel against can-utils in
 * the VM bench.
 * ========================================================================== */

/* The isotp channel type (registered by hil_connectors.h itself). */
HIL_API const hil_channel_type* hil_isotp_channel_type(void);
/* A CAN id as the options tx_id and rx_id take it (and can-utils write it):
 * hex, "0x" optional; 8 hex digits or a value above 7FF is a 29-bit id
 * (*extended = 1). HIL_ERR_CONFIG with the reason in hil_last_error(). */
HIL_API hil_result hil_isotp_parse_id(const char* text, uint32_t* id, int* extended);

/* ==== end of section: isotp ================================================== */
#endif /* HIL_NO_CAN */

#ifdef __cplusplus
}
#endif

#endif /* HIL_CONNECTORS_H_INCLUDED */

/* The private helpers of this implementation that hil_aux.h's and
 * hil_probe.h's implementations call too (hil.h, section 10: HIL__SHARED). */
#if defined(HIL__PRELUDE_DONE) && !defined(HIL_CONNECTORS__SHARED_DECLARED)
#define HIL_CONNECTORS__SHARED_DECLARED
#ifdef __cplusplus
extern "C" {
#endif
#define HIL__TYPE_CHECK_ORDER 900
HIL__SHARED void hil__declare_type_options(hil_extension* ext, const char* section, const hil_channel_opt* opts);
HIL__SHARED hil_result hil__unknown_type(const char* kind, const char* name, const char* type,
                                         const char* const* names, size_t n);
HIL__SHARED hil_result hil__check_entity_types(hil_config* cfg, const char* section, const char* kind,
                                               size_t (*types)(const char** out, size_t max));
HIL__SHARED hil_config* hil__channel_cfg(hil_channel* ch);
HIL__SHARED void hil__words_free(char** w);
HIL__SHARED hil_result hil__split_words(const char* s, char*** out, size_t* count);
HIL__SHARED void hil__last_lines(const char* text, int lines, char* out, size_t size);
#ifdef __cplusplus
}
#endif
#endif

/* ==========================================================================
 * Implementation
 * ========================================================================== */
#if (defined(HIL_IMPLEMENTATION) || defined(HIL_IMPLEMENTATION_CONNECTORS)) && !defined(HIL_CONNECTORS__IMPLEMENTED)
#define HIL_CONNECTORS__IMPLEMENTED
#ifndef HIL__PRELUDE_DONE
#error "hil_connectors.h: define HIL_IMPLEMENTATION_CONNECTORS before the first hil header of the file"
#endif

#include <errno.h>
#include <string.h>
#include <strings.h>
#include <poll.h>
#include <unistd.h>
#include <signal.h>
#include <fcntl.h>
#include <termios.h>
#include <sys/types.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/ioctl.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <netdb.h>
#ifdef __linux__
#include <sys/epoll.h>
#endif
#if defined(HIL_HAVE_LIBSERIALPORT) && !defined(HIL_NO_LIBSERIALPORT)
#define HIL__SP 1
#include <libserialport.h>
#endif

#ifdef __cplusplus
extern "C" {
#endif

struct hil_channel {
    const hil_channel_type* type;
    char* name;
    char* prefix;            /* "connectors.<name>." */
    char* logger;            /* "hil.chan.<name>" */
    hil_config* cfg;
    hil_config* own_cfg;     /* created for options given to create() */
    void* state;
    int is_open;             /* atomic: a reader may look while close() runs */
    hil_channel_stats stats;
    /* streams: the framing; the reader owns the deframer and rx buffer,
     * the writer owns tx. */
    int stream;
    hil_framing framing;
    hil_deframer dfr;
    unsigned char* rxbuf;
    size_t rxcap;
    uint64_t rx_ns;          /* when the bytes that completed the frame arrived */
    uint64_t seen_errors, seen_oversize;
    int flush_req;           /* atomic: hil_channel_flush_input() asked */
    hil_strbuf tx;
};

/* The configuration a channel reads its options from (the RTT channel of
 * hil_probe.h finds its probe's options there). */
HIL__SHARED hil_config* hil__channel_cfg(hil_channel* ch) { return ch->cfg; }

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

/* Options every byte-stream channel has: its framing. */
static const hil_channel_opt hil__channel_stream_opts[] = {
    {"framing", HIL_OPT_CHOICE, "raw", "Byte streams: how the bytes are cut into messages", HIL_FRAMING_CHOICES},
    {"line_terminator", HIL_OPT_STRING, "\\n", "framing=line: the terminator, C escapes allowed (\\r\\n, \\x03)", NULL},
    {"max_frame", HIL_OPT_INT, "65536", "Byte streams: the longest frame accepted; longer ones are skipped and counted",
     NULL},
    {"length_bytes", HIL_OPT_CHOICE, "2", "framing=length: the size of the length prefix", "1|2|4"},
    {"length_endian", HIL_OPT_CHOICE, "big", "framing=length: the byte order of the length prefix", "big|little"},
    {"leading_delimiter", HIL_OPT_BOOL, NULL,
     "framing=cobs|slip: send a delimiter before each frame too (default: true for slip, false for cobs)", NULL},
    {NULL, HIL_OPT_STRING, NULL, NULL, NULL}
};

/* Declare "<section>.*.<name>" in ext for each of opts ({NULL}-terminated):
 * the config check at start-up knows every type's options. Types share
 * option names, so one that is declared already stays as it is. Shared by
 * channel types, flasher types and auxiliary types. */
HIL__SHARED void hil__declare_type_options(hil_extension* ext, const char* section, const hil_channel_opt* opts) {
    size_t i;
    for (i = 0; opts && opts[i].name; i++) {
        const hil_channel_opt* o = &opts[i];
        size_t n = strlen(section) + strlen(o->name) + 4;
        const hil_option* have;
        hil_option* opt;
        char* key = (char*)HIL_MALLOC(n); /* the option keeps it */
        if (!key) return;
        snprintf(key, n, "%s.*.%s", section, o->name);
        have = hil_option_find(key);
        if (have && strcmp(have->key, key) == 0) {
            HIL_FREE(key);
            continue;
        }
        opt = hil_ext_option(ext, key, o->type, o->default_value, o->help);
        if (opt) opt->choices = o->choices;
    }
}

/* "<kind> '<name>': unknown type '<type>' (registered: a, b, c)" */
HIL__SHARED hil_result hil__unknown_type(const char* kind, const char* name, const char* type,
                                         const char* const* names, size_t n) {
    hil_strbuf sb = {0, 0, 0, 0};
    hil_result r;
    size_t k;
    for (k = 0; k < n; k++) hil_sb_printf(&sb, "%s%s", k ? ", " : "", names[k]);
    r = hil_error(HIL_ERR_CONFIG, "%s '%s': unknown type '%s' (registered: %s)", kind, name, type, hil_sb_cstr(&sb));
    hil_sb_free(&sb);
    return r;
}

/* The type each "<section>.<name>.type" of the configuration names must be
 * registered: an unknown one is a configuration error at start-up (exit 3)
 * with the file and line, not tests Blocked later when something needs the
 * connector. Done by the section's framework extension at load order
 * HIL__TYPE_CHECK_ORDER, so types registered before main (constructors),
 * in main before hil_main, or by an extension that loads earlier are known. */
HIL__SHARED hil_result hil__check_entity_types(hil_config* cfg, const char* section, const char* kind,
                                               size_t (*types)(const char** out, size_t max)) {
    const char* ents[256];
    const char* names[64];
    size_t n = hil_config_entities(cfg, section, ents, 256), m = types(names, 64), i, k;
    if (n > 256) n = 256;
    if (m > 64) m = 64;
    for (i = 0; i < n; i++) {
        char key[320];
        hil_config_value v;
        int known = 0;
        hil__sfmt(key, sizeof key, "%s.%s.type", section, ents[i]);
        /* no type in the configuration: the code that creates it gives one */
        if (!hil_config_lookup(cfg, key, &v) || !v.value || v.priority == HIL_PRIO_DEFAULT) continue;
        for (k = 0; k < m && !known; k++) known = strcmp(names[k], v.value) == 0;
        if (known) continue;
        hil__unknown_type(kind, ents[i], v.value, names, m);
        return hil_error(HIL_ERR_CONFIG, "%s: %s; a type of your own must be registered before hil_main", v.source,
                         hil_last_error());
    }
    return HIL_OK;
}

static hil_result hil__connectors_check_types(hil_ext_ctx* ctx) {
    return hil__check_entity_types(ctx->config, "connectors", "connector", hil_channel_types);
}

static void hil__chtype_options(const hil_channel_type* t) {
    static hil_extension* ext;
    if (!ext) {
        ext = hil_extension_declare("connectors", HIL_EXT_FRAMEWORK, NULL);
        if (!ext) return;
        ext->description = "Channels to devices: connectors.<name>.type and each type's options";
        ext->load_order = HIL__TYPE_CHECK_ORDER;
        ext->initialize = hil__connectors_check_types;
        hil__declare_type_options(ext, "connectors", hil__channel_common_opts);
        hil__declare_type_options(ext, "connectors", hil__channel_stream_opts);
    }
    hil__declare_type_options(ext, "connectors", t->opts);
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

#ifndef HIL_NO_CONSTRUCTORS
/* Registered before main(), so a configuration file naming their options
 * passes the check at start-up (hil_config_validate). */
HIL__CONSTRUCTOR(hil__reg_builtin_chtypes) { hil__register_builtin_channel_types(); }
#endif

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

static hil_result hil__closed(hil_channel* ch) { return hil_channel_error(ch, HIL_ERR_CLOSED, "the channel was closed"); }

static void hil__channel_free(hil_channel* ch) {
    if (!ch) return;
    if (ch->own_cfg) hil_config_destroy(ch->own_cfg);
    hil_deframer_free(&ch->dfr);
    hil_sb_free(&ch->tx);
    HIL_FREE(ch->rxbuf);
    HIL_FREE(ch->state);
    HIL_FREE(ch->logger);
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

static const hil_channel_opt* hil__chopt_in(const hil_channel_opt* opts, const char* name) {
    size_t i;
    for (i = 0; opts && opts[i].name; i++)
        if (strcmp(opts[i].name, name) == 0) return &opts[i];
    return NULL;
}

/* The declaration of one of this channel's options (common, framing, its type's). */
static const hil_channel_opt* hil__chopt_find(const hil_channel* ch, const char* name) {
    const hil_channel_opt* o = hil__chopt_in(hil__channel_common_opts, name);
    if (!o && ch->type && ch->type->stream) o = hil__chopt_in(hil__channel_stream_opts, name);
    if (!o && ch->type) o = hil__chopt_in(ch->type->opts, name);
    return o;
}

typedef struct hil__chkeys { hil_channel* ch; size_t plen; hil_strbuf bad; int n; int framing; } hil__chkeys;

static void hil__chkeys_visit(const char* key, const hil_config_value* v, void* user) {
    hil__chkeys* st = (hil__chkeys*)user;
    const char* name = key + st->plen;
    if (strncmp(key, st->ch->prefix, st->plen) != 0 || !v->count) return;
    if (hil__chopt_find(st->ch, name)) return;
    if (hil__chopt_in(hil__channel_stream_opts, name)) st->framing = 1;
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
        for (i = 0; ch->type->stream && hil__channel_stream_opts[i].name; i++)
            hil_sb_printf(&known, ", %s", hil__channel_stream_opts[i].name);
        for (i = 0; ch->type->opts && ch->type->opts[i].name; i++)
            hil_sb_printf(&known, ", %s", ch->type->opts[i].name);
        r = hil_channel_error(ch, HIL_ERR_CONFIG, "not an option of type '%s': %s; its options are: %s%s",
                              ch->type->name, hil_sb_cstr(&st.bad), hil_sb_cstr(&known),
                              st.framing ? " (framing options apply to byte-stream types only)" : "");
        hil_sb_free(&known);
    }
    hil_sb_free(&st.bad);
    return r;
}

/* The value set for one of this channel's options, with where it was set;
 * NULL when not set. */
static const char* hil__chopt_lookup(hil_channel* ch, const char* key, const char** source) {
    char k[512];
    hil_config_value v;
    snprintf(k, sizeof k, "%s%s", ch->prefix, key);
    if (hil_config_lookup(ch->cfg, k, &v) && v.count) {
        if (source) *source = v.source;
        return v.value;
    }
    if (ch->own_cfg && ch->cfg == ch->own_cfg && hil_config_lookup(hil_cfg(), k, &v) && v.count) {
        if (source) *source = v.source;
        return v.value;
    }
    return NULL;
}

static int hil__choice_index(const char* choices, const char* v) {
    const char* p = choices;
    int i = 0;
    while (p && *p) {
        size_t len = strcspn(p, "|");
        if (strlen(v) == len && strncmp(p, v, len) == 0) return i;
        p += len + (p[len] == '|');
        i++;
    }
    return -1;
}

static int hil__parse_bool_word(const char* v, int* out) {
    if (!strcmp(v, "1") || !strcasecmp(v, "true") || !strcasecmp(v, "yes") || !strcasecmp(v, "on")) *out = 1;
    else if (!strcmp(v, "0") || !strcasecmp(v, "false") || !strcasecmp(v, "no") || !strcasecmp(v, "off")) *out = 0;
    else return 0;
    return 1;
}

/* Values are checked against their declared type when the channel is
 * created, so a typo stops the run before anything is opened. */
static hil_result hil__channel_check_values(hil_channel* ch) {
    const hil_channel_opt* lists[3];
    hil_strbuf bad = {0, 0, 0, 0};
    size_t l, i;
    int n = 0;
    hil_result r = HIL_OK;
    lists[0] = hil__channel_common_opts;
    lists[1] = ch->type->stream ? hil__channel_stream_opts : NULL;
    lists[2] = ch->type->opts;
    for (l = 0; l < 3; l++)
    for (i = 0; lists[l] && lists[l][i].name; i++) {
        const hil_channel_opt* o = &lists[l][i];
        const char* src = "";
        const char* v = hil__chopt_lookup(ch, o->name, &src);
        char* end;
        double d;
        int b;
        if (!v || !*v) continue;
        switch (o->type) {
        case HIL_OPT_INT:
        case HIL_OPT_COUNT:
            errno = 0;
            (void)strtoll(v, &end, 0);
            if (errno || *end)
                hil_sb_printf(&bad, "%soption %s: expected an integer, got '%s' (%s)", n++ ? "; " : "", o->name, v, src);
            break;
        case HIL_OPT_FLOAT:
            d = strtod(v, &end);
            (void)d;
            if (*end) hil_sb_printf(&bad, "%soption %s: expected a number, got '%s' (%s)", n++ ? "; " : "", o->name, v, src);
            break;
        case HIL_OPT_BOOL:
        case HIL_OPT_FLAG:
            if (!hil__parse_bool_word(v, &b))
                hil_sb_printf(&bad, "%soption %s: expected true or false, got '%s' (%s)", n++ ? "; " : "", o->name, v,
                              src);
            break;
        case HIL_OPT_CHOICE:
            if (hil__choice_index(o->choices, v) < 0)
                hil_sb_printf(&bad, "%soption %s: '%s' is not allowed; expected one of %s (%s)", n++ ? "; " : "",
                              o->name, v, o->choices ? o->choices : "(none)", src);
            break;
        default: break;
        }
    }
    if (n) r = hil_channel_error(ch, HIL_ERR_CONFIG, "%s", hil_sb_cstr(&bad));
    hil_sb_free(&bad);
    return r;
}

/* The framing options of a stream channel. */
static hil_result hil__channel_setup_framing(hil_channel* ch) {
    int kind, lb, endian, lead;
    long long maxf;
    hil_result r;
    r = hil_channel_opt_choice(ch, "framing", HIL_FRAMING_CHOICES, "raw", &kind);
    if (r != HIL_OK) return r;
    hil_framing_init(&ch->framing, (hil_framing_kind)kind);
    r = hil_channel_opt_int(ch, "max_frame", (long long)HIL_FRAME_MAX_DEFAULT, &maxf);
    if (r != HIL_OK) return r;
    if (maxf < 1 || maxf > 64LL * 1024 * 1024)
        return hil_channel_error(ch, HIL_ERR_CONFIG, "option max_frame: must be 1..67108864 bytes, got %lld", maxf);
    ch->framing.max_frame = (size_t)maxf;
    if (hil_framing_set_terminator(&ch->framing, hil_channel_opt_str(ch, "line_terminator", "\\n")) != HIL_OK)
        return hil_channel_error(ch, HIL_ERR_CONFIG, "option line_terminator: %s", hil_last_error());
    r = hil_channel_opt_choice(ch, "length_bytes", "1|2|4", "2", &lb);
    if (r != HIL_OK) return r;
    ch->framing.length_bytes = lb == 0 ? 1 : lb == 1 ? 2 : 4;
    r = hil_channel_opt_choice(ch, "length_endian", "big|little", "big", &endian);
    if (r != HIL_OK) return r;
    ch->framing.length_big_endian = endian == 0;
    r = hil_channel_opt_bool(ch, "leading_delimiter", ch->framing.leading_delimiter, &lead);
    if (r != HIL_OK) return r;
    ch->framing.leading_delimiter = lead;
    r = hil_deframer_init(&ch->dfr, &ch->framing);
    if (r != HIL_OK) return hil_channel_error(ch, r, "%s", hil_last_error());
    ch->rxcap = 4096;
    ch->rxbuf = (unsigned char*)HIL_MALLOC(ch->rxcap);
    if (!ch->rxbuf) return hil_channel_error(ch, HIL_ERR_NO_MEMORY, "out of memory");
    return HIL_OK;
}

HIL_API hil_result hil_channel_create(const hil_channel_config* c, hil_channel** out) {
    hil_channel* ch;
    const char* tname;
    hil_result r;
    size_t n;
    *out = NULL;
    if (!c || !c->name || !*c->name) return hil_error(HIL_ERR_INVALID_ARG, "channel: no connector name given");
    ch = (hil_channel*)hil__calloc(1, sizeof *ch);
    if (!ch) return hil_error(HIL_ERR_NO_MEMORY, "channel '%s': out of memory", c->name);
    ch->name = hil_strdup(c->name);
    n = strlen(c->name) + 13;
    ch->prefix = (char*)HIL_MALLOC(n);
    ch->logger = (char*)HIL_MALLOC(n);
    if (!ch->name || !ch->prefix || !ch->logger) {
        hil__channel_free(ch);
        return hil_error(HIL_ERR_NO_MEMORY, "out of memory");
    }
    snprintf(ch->prefix, n, "connectors.%s.", c->name);
    snprintf(ch->logger, n, "hil.chan.%s", c->name);
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
        size_t m = hil_channel_types(names, 64);
        r = hil__unknown_type("connector", c->name, tname, names, m < 64 ? m : 64);
        hil__channel_free(ch);
        return r;
    }
    ch->stream = ch->type->stream != 0;
    if (ch->type->state_size) {
        ch->state = hil__calloc(1, ch->type->state_size);
        if (!ch->state) { hil__channel_free(ch); return hil_error(HIL_ERR_NO_MEMORY, "out of memory"); }
    }
    r = hil__channel_check_keys(ch);
    if (r == HIL_OK) r = hil__channel_check_values(ch);
    if (r == HIL_OK && ch->stream) r = hil__channel_setup_framing(ch);
    if (r == HIL_OK && ch->type->configure) {
        r = ch->type->configure(ch);
        if (r != HIL_OK && ch->type->destroy) ch->type->destroy(ch);
    }
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

HIL_API int hil_channel_is_open(const hil_channel* ch) {
    return ch && __atomic_load_n(&ch->is_open, __ATOMIC_ACQUIRE);
}

HIL_API hil_result hil_channel_open(hil_channel* ch) {
    hil_result r;
    if (hil_channel_is_open(ch)) return HIL_OK;
    if (ch->stream) {
        hil_deframer_reset(&ch->dfr);
        __atomic_store_n(&ch->flush_req, 0, __ATOMIC_RELAXED);
    }
    r = ch->type->open(ch);
    if (r == HIL_OK) __atomic_store_n(&ch->is_open, 1, __ATOMIC_RELEASE);
    return r;
}

HIL_API void hil_channel_close(hil_channel* ch) {
    if (!ch || !__atomic_exchange_n(&ch->is_open, 0, __ATOMIC_ACQ_REL)) return;
    ch->type->close(ch);
}

HIL_API void hil_channel_destroy(hil_channel* ch) {
    if (!ch) return;
    hil_channel_close(ch);
    if (ch->type && ch->type->destroy) ch->type->destroy(ch);
    hil__channel_free(ch);
}

HIL_API hil_result hil_channel_send(hil_channel* ch, const hil_msg* m, int timeout_ms) {
    hil_result r;
    if (!hil_channel_is_open(ch)) return hil_channel_error(ch, HIL_ERR_CLOSED, "send on a closed channel (open it first)");
    if (ch->stream && ch->framing.kind != HIL_FRAMING_RAW) {
        hil_msg wire;
        hil_sb_clear(&ch->tx);
        r = hil_frame_encode(&ch->framing, m->data, m->len, &ch->tx);
        if (r != HIL_OK) return hil_channel_error(ch, r, "%s", hil_last_error());
        hil_msg_init(&wire, ch->tx.data, ch->tx.len);
        wire.len = ch->tx.len;
        wire.remote_id = m->remote_id;
        wire.flags = m->flags;
        r = ch->type->send(ch, &wire, timeout_ms);
        /* a big frame once should not pin its buffer for the channel's life */
        if (ch->tx.cap > 65536) hil_sb_free(&ch->tx);
    } else {
        r = ch->type->send(ch, m, timeout_ms);
    }
    if (r == HIL_OK) {
        hil_channel_count(ch, &ch->stats.tx_msgs, 1);
        hil_channel_count(ch, &ch->stats.tx_bytes, m->len);
    }
    return r;
}

HIL_API hil_result hil_channel_send_bytes(hil_channel* ch, const void* data, size_t len, int timeout_ms) {
    hil_msg m;
    hil_msg_init(&m, (void*)data, len);
    m.len = len;
    return hil_channel_send(ch, &m, timeout_ms);
}

/* The deframer's error counters into the channel's statistics. */
static void hil__stream_sync_stats(hil_channel* ch) {
    if (ch->dfr.frame_errors != ch->seen_errors) {
        hil_channel_count(ch, &ch->stats.frame_errors, ch->dfr.frame_errors - ch->seen_errors);
        ch->seen_errors = ch->dfr.frame_errors;
    }
    if (ch->dfr.oversize != ch->seen_oversize) {
        hil_channel_count(ch, &ch->stats.oversize, ch->dfr.oversize - ch->seen_oversize);
        ch->seen_oversize = ch->dfr.oversize;
    }
}

static void hil__stream_apply_flush(hil_channel* ch) {
    if (__atomic_exchange_n(&ch->flush_req, 0, __ATOMIC_ACQ_REL)) hil_deframer_reset(&ch->dfr);
}

/* One whole frame from a byte stream: frames already decoded first, then
 * as many reads from the type as it takes. */
static hil_result hil__stream_recv(hil_channel* ch, hil_msg* m, int timeout_ms) {
    uint64_t deadline = hil_deadline_ms(timeout_ms);
    hil__stream_apply_flush(ch);
    for (;;) {
        const void* frame;
        size_t len;
        hil_msg raw;
        hil_result r;
        int left;
        if (hil_deframer_next(&ch->dfr, &frame, &len)) {
            hil__stream_sync_stats(ch);
            m->len = len < m->cap ? len : m->cap;
            if (m->len) memcpy(m->data, frame, m->len);
            if (len > m->cap) m->flags |= HIL_MSG_TRUNCATED;
            m->timestamp_ns = ch->rx_ns;
            return HIL_OK;
        }
        hil__stream_sync_stats(ch);
        left = timeout_ms == 0 ? 0 : hil_deadline_left_ms(deadline);
        if (ch->framing.kind == HIL_FRAMING_RAW && m->cap > 0) {
            /* nothing buffered: read straight into the caller's buffer */
            size_t cap = m->cap;
            if (m->cap > ch->framing.max_frame) m->cap = ch->framing.max_frame;
            r = ch->type->recv(ch, m, left);
            m->cap = cap;
            if (r == HIL_ERR_AGAIN && timeout_ms != 0) r = HIL_ERR_TIMEOUT;
            if (r == HIL_ERR_TIMEOUT && timeout_ms == 0) r = HIL_ERR_AGAIN;
            return r;
        }
        hil_msg_init(&raw, ch->rxbuf, ch->rxcap);
        r = ch->type->recv(ch, &raw, left);
        if (r == HIL_ERR_AGAIN && timeout_ms != 0) r = HIL_ERR_TIMEOUT;
        if (r == HIL_ERR_TIMEOUT && timeout_ms == 0) r = HIL_ERR_AGAIN;
        if (r != HIL_OK) return r;
        ch->rx_ns = raw.timestamp_ns ? raw.timestamp_ns : hil_wall_ns();
        r = hil_deframer_push(&ch->dfr, raw.data, raw.len);
        if (r != HIL_OK) return hil_channel_error(ch, r, "%s", hil_last_error());
    }
}

HIL_API hil_result hil_channel_recv(hil_channel* ch, hil_msg* m, int timeout_ms) {
    hil_result r;
    if (!hil_channel_is_open(ch)) return hil_channel_error(ch, HIL_ERR_CLOSED, "receive on a closed channel");
    m->len = 0;
    m->flags = 0;
    m->remote_id = 0;
    m->timestamp_ns = 0;
    hil_clear_error();
    r = ch->stream ? hil__stream_recv(ch, m, timeout_ms) : ch->type->recv(ch, m, timeout_ms);
    if (r == HIL_OK) {
        if (!m->timestamp_ns) m->timestamp_ns = hil_wall_ns();
        hil_channel_count(ch, &ch->stats.rx_msgs, 1);
        hil_channel_count(ch, &ch->stats.rx_bytes, m->len);
    } else if (r == HIL_ERR_TIMEOUT && !hil_last_error()[0]) {
        /* a plain timeout: say so, rather than leave an older message behind */
        hil_channel_error(ch, r, "nothing received within %d ms", timeout_ms);
    }
    return r;
}

HIL_API void hil_channel_flush_input(hil_channel* ch) {
    if (ch && ch->stream) __atomic_store_n(&ch->flush_req, 1, __ATOMIC_RELEASE);
}

HIL_API const hil_framing* hil_channel_framing(const hil_channel* ch) {
    return ch && ch->stream ? &ch->framing : NULL;
}

HIL_API int hil_channel_poll_fd(hil_channel* ch) {
    return ch && hil_channel_is_open(ch) && ch->type->poll_fd ? ch->type->poll_fd(ch) : -1;
}

HIL_API const char* hil_channel_name(const hil_channel* ch) { return ch->name; }
HIL_API const char* hil_channel_logger(const hil_channel* ch) { return ch->logger; }
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
    /* A stream may hold whole frames already read from its descriptor: its
     * descriptor will not say so. (The caller is the channels' reader.) */
    for (i = 0; i < n; i++) {
        hil_channel* ch = chs[i];
        if (ch && ch->stream && hil_channel_is_open(ch) && !__atomic_load_n(&ch->flush_req, __ATOMIC_ACQUIRE) &&
            hil_deframer_ready(&ch->dfr)) {
            *index = i;
            return HIL_OK;
        }
    }
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

/* A value set in the configuration wins, then this channel type's declared
 * default (another type may declare the same key with another default),
 * then the caller's fallback. */
HIL_API const char* hil_channel_opt_str(hil_channel* ch, const char* key, const char* fallback) {
    const char* v = hil__chopt_lookup(ch, key, NULL);
    const hil_channel_opt* o;
    if (v) return v;
    o = hil__chopt_find(ch, key);
    if (o && o->default_value) return o->default_value;
    return fallback;
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
    if (!hil__parse_bool_word(v, out))
        return hil_channel_error(ch, HIL_ERR_CONFIG, "option %s: expected true or false, got '%s'", key, v);
    return HIL_OK;
}

HIL_API hil_result hil_channel_opt_choice(hil_channel* ch, const char* key, const char* choices, const char* fallback,
                                          int* out) {
    const char* v = hil_channel_opt_str(ch, key, fallback);
    *out = -1;
    if (!v) return hil_channel_error(ch, HIL_ERR_CONFIG, "option %s: not set; expected one of %s", key, choices);
    *out = hil__choice_index(choices, v);
    if (*out < 0)
        return hil_channel_error(ch, HIL_ERR_CONFIG, "option %s: '%s' is not allowed; expected one of %s", key, v,
                                 choices);
    return HIL_OK;
}

/* ---- framing ------------------------------------------------------------------------- */

#define HIL__SLIP_END 0xC0u
#define HIL__SLIP_ESC 0xDBu
#define HIL__SLIP_ESC_END 0xDCu
#define HIL__SLIP_ESC_ESC 0xDDu

HIL_API void hil_framing_init(hil_framing* f, hil_framing_kind kind) {
    memset(f, 0, sizeof *f);
    f->kind = kind;
    f->max_frame = HIL_FRAME_MAX_DEFAULT;
    f->terminator[0] = '\n';
    f->terminator_len = 1;
    f->length_bytes = 2;
    f->length_big_endian = 1;
    f->leading_delimiter = kind == HIL_FRAMING_SLIP;
}

HIL_API const char* hil_framing_name(hil_framing_kind kind) {
    switch (kind) {
    case HIL_FRAMING_RAW: return "raw";
    case HIL_FRAMING_LINE: return "line";
    case HIL_FRAMING_COBS: return "cobs";
    case HIL_FRAMING_SLIP: return "slip";
    case HIL_FRAMING_LENGTH: return "length";
    }
    return "?";
}

HIL_API hil_result hil_framing_parse(const char* name, hil_framing_kind* out) {
    int i = name ? hil__choice_index(HIL_FRAMING_CHOICES, name) : -1;
    if (i < 0)
        return hil_error(HIL_ERR_INVALID_ARG, "framing '%s' is not known; expected one of %s", name ? name : "(null)",
                         HIL_FRAMING_CHOICES);
    *out = (hil_framing_kind)i;
    return HIL_OK;
}

static int hil__hexval(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* C escapes in text: \n \r \t \0 \\ \xHH. Returns the length, or -1. */
static long hil__unescape(const char* s, unsigned char* out, size_t cap) {
    size_t n = 0;
    while (*s) {
        int c = (unsigned char)*s++;
        if (c == '\\') {
            int e = (unsigned char)*s++;
            switch (e) {
            case 'n': c = '\n'; break;
            case 'r': c = '\r'; break;
            case 't': c = '\t'; break;
            case '0': c = 0; break;
            case '\\': c = '\\'; break;
            case 'x': {
                int h = hil__hexval((unsigned char)s[0]), l = h >= 0 ? hil__hexval((unsigned char)s[1]) : -1;
                if (h < 0 || l < 0) return -1;
                c = h * 16 + l;
                s += 2;
                break;
            }
            default: return -1;
            }
        }
        if (n == cap) return -1;
        out[n++] = (unsigned char)c;
    }
    return (long)n;
}

HIL_API hil_result hil_framing_set_terminator(hil_framing* f, const char* escaped) {
    unsigned char t[sizeof f->terminator];
    long n = escaped ? hil__unescape(escaped, t, sizeof t) : -1;
    if (n < 1)
        return hil_error(HIL_ERR_INVALID_ARG,
                         "line terminator '%s': expected 1 to 8 bytes, with C escapes (\\n, \\r\\n, \\x03, \\0)",
                         escaped ? escaped : "(null)");
    memcpy(f->terminator, t, (size_t)n);
    f->terminator_len = (size_t)n;
    return HIL_OK;
}

static const void* hil__memmem(const void* hay, size_t hn, const void* needle, size_t nn) {
    const unsigned char* h = (const unsigned char*)hay;
    const unsigned char* nd = (const unsigned char*)needle;
    size_t i;
    if (nn == 0 || hn < nn) return NULL;
    for (i = 0; i + nn <= hn; i++) {
        const unsigned char* p = (const unsigned char*)memchr(h + i, nd[0], hn - nn - i + 1);
        if (!p) return NULL;
        i = (size_t)(p - h);
        if (memcmp(p, nd, nn) == 0) return p;
    }
    return NULL;
}

/* Whether the end of a line, followed by its terminator, holds the
 * terminator earlier than where it was put ("a" + "aa" reads as "" + "a"):
 * such a line cannot come back out of the deframer as it went in. */
static int hil__line_overlaps_terminator(const unsigned char* p, size_t len, const unsigned char* t, size_t tl) {
    size_t k;
    for (k = 1; k < tl && k <= len; k++)
        if (memcmp(p + len - k, t, k) == 0 && memcmp(t, t + k, tl - k) == 0) return 1;
    return 0;
}

HIL_API hil_result hil_frame_encode(const hil_framing* f, const void* data, size_t len, hil_strbuf* out) {
    const unsigned char* p = (const unsigned char*)data;
    size_t i;
    switch (f->kind) {
    case HIL_FRAMING_RAW:
        hil_sb_append(out, data, len);
        break;
    case HIL_FRAMING_LINE:
        if (hil__memmem(data, len, f->terminator, f->terminator_len))
            return hil_error(HIL_ERR_INVALID_ARG,
                             "line framing: the message contains the line terminator (send a line without its "
                             "terminator: the channel adds it)");
        if (hil__line_overlaps_terminator(p, len, f->terminator, f->terminator_len))
            return hil_error(HIL_ERR_INVALID_ARG,
                             "line framing: the message ends with the start of the line terminator, which then "
                             "reads as an earlier terminator on the wire (choose a terminator that does not "
                             "overlap itself, such as \\n or \\r\\n, or another framing)");
        hil_sb_append(out, data, len);
        hil_sb_append(out, f->terminator, f->terminator_len);
        break;
    case HIL_FRAMING_COBS: {
        unsigned char* o;
        size_t code_at, n = 0;
        int split = 0; /* the open block was started only because the last one was full */
        if (!hil__sb_reserve(out, len + len / 254 + 3)) break;
        o = (unsigned char*)out->data + out->len;
        if (f->leading_delimiter) o[n++] = 0;
        code_at = n++;
        for (i = 0; i < len; i++) {
            split = 0;
            if (p[i] == 0) {
                o[code_at] = (unsigned char)(n - code_at);
                code_at = n++;
                continue;
            }
            o[n++] = p[i];
            if (n - code_at == 0xFF) {
                o[code_at] = 0xFF;
                code_at = n++;
                split = 1;
            }
        }
        if (split) n--; /* canonical COBS: no empty block after a full one at the end */
        else o[code_at] = (unsigned char)(n - code_at);
        o[n++] = 0;
        out->len += n;
        out->data[out->len] = 0;
        break;
    }
    case HIL_FRAMING_SLIP: {
        unsigned char* o;
        size_t n = 0;
        if (!hil__sb_reserve(out, 2 * len + 2)) break;
        o = (unsigned char*)out->data + out->len;
        if (f->leading_delimiter) o[n++] = HIL__SLIP_END;
        for (i = 0; i < len; i++) {
            if (p[i] == HIL__SLIP_END) { o[n++] = HIL__SLIP_ESC; o[n++] = HIL__SLIP_ESC_END; }
            else if (p[i] == HIL__SLIP_ESC) { o[n++] = HIL__SLIP_ESC; o[n++] = HIL__SLIP_ESC_ESC; }
            else o[n++] = p[i];
        }
        o[n++] = HIL__SLIP_END;
        out->len += n;
        out->data[out->len] = 0;
        break;
    }
    case HIL_FRAMING_LENGTH: {
        unsigned char h[4];
        int b = f->length_bytes, k;
        uint64_t lim = b == 1 ? 0xFFu : b == 2 ? 0xFFFFu : 0xFFFFFFFFu;
        if (b != 1 && b != 2 && b != 4)
            return hil_error(HIL_ERR_INVALID_ARG, "length framing: length_bytes must be 1, 2 or 4, not %d", b);
        if ((uint64_t)len > lim)
            return hil_error(HIL_ERR_INVALID_ARG, "length framing: %zu bytes do not fit a %d-byte length prefix (max %llu)",
                             len, b, (unsigned long long)lim);
        for (k = 0; k < b; k++) {
            unsigned char byte = (unsigned char)(((uint64_t)len >> (8 * k)) & 0xFFu);
            h[f->length_big_endian ? b - 1 - k : k] = byte;
        }
        hil_sb_append(out, h, (size_t)b);
        hil_sb_append(out, data, len);
        break;
    }
    default:
        return hil_error(HIL_ERR_INVALID_ARG, "framing: unknown kind %d", (int)f->kind);
    }
    if (out->failed) return hil_error(HIL_ERR_NO_MEMORY, "framing: out of memory for a %zu-byte frame", len);
    return HIL_OK;
}

HIL_API hil_result hil_deframer_init(hil_deframer* d, const hil_framing* f) {
    memset(d, 0, sizeof *d);
    d->f = *f;
    if (f->max_frame < 1) return hil_error(HIL_ERR_INVALID_ARG, "deframer: max_frame must be at least 1");
    if (f->kind == HIL_FRAMING_LINE && (f->terminator_len < 1 || f->terminator_len > sizeof f->terminator))
        return hil_error(HIL_ERR_INVALID_ARG, "deframer: the line terminator must be 1 to 8 bytes");
    if (f->kind == HIL_FRAMING_LENGTH && f->length_bytes != 1 && f->length_bytes != 2 && f->length_bytes != 4)
        return hil_error(HIL_ERR_INVALID_ARG, "deframer: length_bytes must be 1, 2 or 4, not %d", f->length_bytes);
    d->frame_cap_ = f->max_frame + (f->kind == HIL_FRAMING_LINE ? f->terminator_len : 0);
    d->frame_ = (unsigned char*)HIL_MALLOC(d->frame_cap_);
    if (!d->frame_) return hil_error(HIL_ERR_NO_MEMORY, "deframer: out of memory for %zu bytes", d->frame_cap_);
    return HIL_OK;
}

HIL_API void hil_deframer_free(hil_deframer* d) {
    HIL_FREE(d->in_);
    HIL_FREE(d->frame_);
    d->in_ = d->frame_ = NULL;
    d->in_cap_ = d->frame_cap_ = 0;
    d->in_len_ = d->in_pos_ = d->frame_len_ = 0;
}

/* Start a new frame. */
static void hil__dfr_restart(hil_deframer* d) {
    d->frame_len_ = 0;
    d->left_ = 0;
    d->hdr_n_ = d->stage_ = d->discard_ = d->esc_ = d->zero_ = d->started_ = 0;
}

HIL_API void hil_deframer_reset(hil_deframer* d) {
    d->in_len_ = d->in_pos_ = 0;
    d->ready_ = d->taken_ = 0;
    hil__dfr_restart(d);
}

HIL_API hil_result hil_deframer_push(hil_deframer* d, const void* data, size_t len) {
    size_t pending;
    if (!len) return HIL_OK;
    if (d->in_pos_ == d->in_len_) d->in_pos_ = d->in_len_ = 0;
    pending = d->in_len_ - d->in_pos_;
    if (d->in_len_ + len > d->in_cap_) {
        if (d->in_pos_ > 0) { /* slide the undecoded bytes to the front first */
            memmove(d->in_, d->in_ + d->in_pos_, pending);
            d->in_pos_ = 0;
            d->in_len_ = pending;
        }
        if (pending + len > d->in_cap_) {
            size_t cap = d->in_cap_ ? d->in_cap_ : 4096;
            unsigned char* p;
            while (cap < pending + len) cap *= 2;
            p = (unsigned char*)HIL_REALLOC(d->in_, cap);
            if (!p) return hil_error(HIL_ERR_NO_MEMORY, "deframer: out of memory for %zu bytes", cap);
            d->in_ = p;
            d->in_cap_ = cap;
        }
    }
    memcpy(d->in_ + d->in_len_, data, len);
    d->in_len_ += len;
    return HIL_OK;
}

static int hil__dfr_done(hil_deframer* d) {
    d->ready_ = 1;
    d->frames++;
    return 1;
}

static int hil__dfr_raw(hil_deframer* d) {
    size_t n = d->in_len_ - d->in_pos_;
    if (!n) return 0;
    if (n > d->f.max_frame) n = d->f.max_frame;
    memcpy(d->frame_, d->in_ + d->in_pos_, n);
    d->frame_len_ = n;
    d->in_pos_ += n;
    return hil__dfr_done(d);
}

static int hil__dfr_line(hil_deframer* d) {
    const unsigned char* term = d->f.terminator;
    size_t tl = d->f.terminator_len;
    while (d->in_pos_ < d->in_len_) {
        const unsigned char* p = d->in_ + d->in_pos_;
        size_t avail = d->in_len_ - d->in_pos_;
        const unsigned char* z = (const unsigned char*)memchr(p, term[tl - 1], avail);
        size_t n = z ? (size_t)(z - p) + 1 : avail;
        if (d->discard_) {
            /* only the last tl bytes matter: they may hold the terminator */
            if (n >= tl) {
                memcpy(d->frame_, p + n - tl, tl);
                d->frame_len_ = tl;
            } else {
                size_t keep = d->frame_len_ + n > tl ? tl - n : d->frame_len_;
                memmove(d->frame_, d->frame_ + d->frame_len_ - keep, keep);
                memcpy(d->frame_ + keep, p, n);
                d->frame_len_ = keep + n;
            }
            d->in_pos_ += n;
            if (z && d->frame_len_ >= tl && memcmp(d->frame_ + d->frame_len_ - tl, term, tl) == 0)
                hil__dfr_restart(d);
            continue;
        }
        if (d->frame_len_ + n > d->frame_cap_) {
            /* longer than max_frame: skip to the end of this line */
            d->oversize++;
            d->discard_ = 1;
            continue;
        }
        memcpy(d->frame_ + d->frame_len_, p, n);
        d->frame_len_ += n;
        d->in_pos_ += n;
        if (z && d->frame_len_ >= tl && memcmp(d->frame_ + d->frame_len_ - tl, term, tl) == 0) {
            d->frame_len_ -= tl;
            return hil__dfr_done(d);
        }
    }
    return 0;
}

/* COBS: a code byte c gives c-1 data bytes, then a zero unless c is 0xFF
 * or the frame ends. 0x00 ends a frame. */
static int hil__dfr_cobs(hil_deframer* d) {
    while (d->in_pos_ < d->in_len_) {
        const unsigned char* p = d->in_ + d->in_pos_;
        size_t avail = d->in_len_ - d->in_pos_;
        if (d->discard_) {
            const unsigned char* z = (const unsigned char*)memchr(p, 0, avail);
            if (!z) { d->in_pos_ = d->in_len_; return 0; }
            d->in_pos_ += (size_t)(z - p) + 1;
            hil__dfr_restart(d);
            continue;
        }
        if (d->left_ == 0) {
            unsigned char c = *p;
            d->in_pos_++;
            if (c == 0) {
                if (!d->started_) continue; /* an idle line or a leading delimiter */
                d->started_ = d->zero_ = 0;
                return hil__dfr_done(d);
            }
            if (d->zero_) {
                if (d->frame_len_ >= d->f.max_frame) { d->oversize++; d->discard_ = 1; continue; }
                d->frame_[d->frame_len_++] = 0;
            }
            d->started_ = 1;
            d->left_ = (uint64_t)c - 1;
            d->zero_ = c != 0xFF;
            continue;
        } else {
            size_t n = avail < d->left_ ? avail : (size_t)d->left_;
            const unsigned char* z = (const unsigned char*)memchr(p, 0, n);
            if (z) {
                /* a delimiter inside a block: this frame was cut short */
                d->frame_errors++;
                d->in_pos_ += (size_t)(z - p) + 1;
                hil__dfr_restart(d);
                continue;
            }
            if (d->frame_len_ + n > d->f.max_frame) { d->oversize++; d->discard_ = 1; continue; }
            memcpy(d->frame_ + d->frame_len_, p, n);
            d->frame_len_ += n;
            d->in_pos_ += n;
            d->left_ -= n;
        }
    }
    return 0;
}

static int hil__dfr_slip(hil_deframer* d) {
    while (d->in_pos_ < d->in_len_) {
        unsigned char c;
        if (d->discard_) {
            const unsigned char* p = d->in_ + d->in_pos_;
            const unsigned char* z = (const unsigned char*)memchr(p, HIL__SLIP_END, d->in_len_ - d->in_pos_);
            if (!z) { d->in_pos_ = d->in_len_; return 0; }
            d->in_pos_ += (size_t)(z - p) + 1;
            hil__dfr_restart(d);
            continue;
        }
        c = d->in_[d->in_pos_++];
        if (c == HIL__SLIP_END) {
            if (d->esc_) { d->frame_errors++; hil__dfr_restart(d); continue; }
            if (d->frame_len_ == 0) continue; /* empty: a leading END or an idle line */
            return hil__dfr_done(d);
        }
        if (d->esc_) {
            d->esc_ = 0;
            if (c == HIL__SLIP_ESC_END) c = HIL__SLIP_END;
            else if (c == HIL__SLIP_ESC_ESC) c = HIL__SLIP_ESC;
            else { d->frame_errors++; d->discard_ = 1; continue; }
        } else if (c == HIL__SLIP_ESC) {
            d->esc_ = 1;
            continue;
        }
        if (d->frame_len_ >= d->f.max_frame) { d->oversize++; d->discard_ = 1; continue; }
        d->frame_[d->frame_len_++] = c;
    }
    return 0;
}

static int hil__dfr_length(hil_deframer* d) {
    int b = d->f.length_bytes;
    while (d->in_pos_ < d->in_len_) {
        size_t avail = d->in_len_ - d->in_pos_;
        if (d->stage_ == 0) {
            d->hdr_[d->hdr_n_++] = d->in_[d->in_pos_++];
            if (d->hdr_n_ == b) {
                uint64_t len = 0;
                int k;
                for (k = 0; k < b; k++)
                    len = (len << 8) | d->hdr_[d->f.length_big_endian ? k : b - 1 - k];
                d->hdr_n_ = 0;
                if (len > d->f.max_frame) {
                    d->oversize++;
                    d->left_ = len;
                    d->stage_ = 2; /* skip it as declared */
                } else if (len == 0) {
                    return hil__dfr_done(d);
                } else {
                    d->left_ = len;
                    d->stage_ = 1;
                }
            }
        } else {
            size_t n = avail < d->left_ ? avail : (size_t)d->left_;
            if (d->stage_ == 1) memcpy(d->frame_ + d->frame_len_, d->in_ + d->in_pos_, n);
            if (d->stage_ == 1) d->frame_len_ += n;
            d->in_pos_ += n;
            d->left_ -= n;
            if (d->left_ == 0) {
                int was = d->stage_;
                d->stage_ = 0;
                if (was == 1) return hil__dfr_done(d);
            }
        }
    }
    return 0;
}

/* Decode until a whole frame is ready or the input is used up. */
static int hil__dfr_step(hil_deframer* d) {
    if (d->ready_) return 1;
    if (d->taken_) {
        d->taken_ = 0;
        d->frame_len_ = 0;
    }
    if (!d->frame_) return 0;
    switch (d->f.kind) {
    case HIL_FRAMING_RAW: return hil__dfr_raw(d);
    case HIL_FRAMING_LINE: return hil__dfr_line(d);
    case HIL_FRAMING_COBS: return hil__dfr_cobs(d);
    case HIL_FRAMING_SLIP: return hil__dfr_slip(d);
    case HIL_FRAMING_LENGTH: return hil__dfr_length(d);
    }
    return 0;
}

HIL_API int hil_deframer_next(hil_deframer* d, const void** frame, size_t* len) {
    if (!hil__dfr_step(d)) return 0;
    d->ready_ = 0;
    d->taken_ = 1;
    *frame = d->frame_;
    *len = d->frame_len_;
    return 1;
}

HIL_API int hil_deframer_ready(hil_deframer* d) { return hil__dfr_step(d); }

HIL_API size_t hil_deframer_buffered(const hil_deframer* d) {
    return (d->in_len_ - d->in_pos_) + (d->taken_ || d->discard_ ? 0 : d->frame_len_);
}

/* ---- loopback ------------------------------------------------------------------------------ */

typedef struct hil__lb_item { size_t len; uint32_t remote_id, flags; } hil__lb_item;

/* The mutex, condition and waker live from configure() to destroy(): a
 * reader or writer that raced with close() finds them intact, sees
 * `closed` and leaves; close() waits for them before freeing the queue. */
typedef struct hil__loopback {
    hil_mutex mu;
    hil_cond cv;           /* space freed, channel closed, last user left */
    hil_waker readable;    /* set while the queue is not empty (or closed) */
    hil__lb_item* items;   /* ring of message headers */
    unsigned char** bufs;  /* ring of payloads */
    size_t cap, head, count;
    int closed;
    int users;             /* threads inside send/recv */
    int ready;
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
    if (hil_waker_init(&lb->readable) != HIL_OK) return hil_channel_error(ch, HIL_ERR_IO, "%s", hil_last_error());
    hil_mutex_init(&lb->mu);
    hil_cond_init(&lb->cv);
    lb->ready = 1;
    lb->closed = 1;
    return HIL_OK;
}

static void hil__lb_destroy(hil_channel* ch) {
    hil__loopback* lb = (hil__loopback*)hil_channel_state(ch);
    if (!lb->ready) return;
    hil_waker_destroy(&lb->readable);
    hil_cond_destroy(&lb->cv);
    hil_mutex_destroy(&lb->mu);
    lb->ready = 0;
}

static hil_result hil__lb_open(hil_channel* ch) {
    hil__loopback* lb = (hil__loopback*)hil_channel_state(ch);
    hil__lb_item* items = (hil__lb_item*)hil__calloc((size_t)lb->capacity, sizeof *items);
    unsigned char** bufs = (unsigned char**)hil__calloc((size_t)lb->capacity, sizeof *bufs);
    if (!items || !bufs) {
        HIL_FREE(items);
        HIL_FREE(bufs);
        return hil_channel_error(ch, HIL_ERR_NO_MEMORY, "out of memory for %lld messages", lb->capacity);
    }
    hil_mutex_lock(&lb->mu);
    lb->items = items;
    lb->bufs = bufs;
    lb->cap = (size_t)lb->capacity;
    lb->head = lb->count = 0;
    lb->closed = 0;
    hil_waker_drain(&lb->readable);
    hil_mutex_unlock(&lb->mu);
    return HIL_OK;
}

static void hil__lb_close(hil_channel* ch) {
    hil__loopback* lb = (hil__loopback*)hil_channel_state(ch);
    size_t i;
    hil_mutex_lock(&lb->mu);
    lb->closed = 1;
    hil_cond_broadcast(&lb->cv);
    hil_waker_wake(&lb->readable); /* a blocked reader sees the close */
    while (lb->users > 0) hil_cond_wait(&lb->cv, &lb->mu);
    for (i = 0; i < lb->count; i++) HIL_FREE(lb->bufs[(lb->head + i) % lb->cap]);
    HIL_FREE(lb->items);
    HIL_FREE(lb->bufs);
    lb->items = NULL;
    lb->bufs = NULL;
    lb->count = 0;
    hil_mutex_unlock(&lb->mu);
}

/* Leave (with lb->mu held): the last one out tells close(). */
static void hil__lb_leave(hil__loopback* lb) {
    if (--lb->users == 0 && lb->closed) hil_cond_broadcast(&lb->cv);
    hil_mutex_unlock(&lb->mu);
}

static hil_result hil__lb_send(hil_channel* ch, const hil_msg* m, int timeout_ms) {
    hil__loopback* lb = (hil__loopback*)hil_channel_state(ch);
    uint64_t deadline = hil_deadline_ms(timeout_ms);
    unsigned char* copy = (unsigned char*)HIL_MALLOC(m->len ? m->len : 1);
    size_t slot;
    if (!copy) return hil_channel_error(ch, HIL_ERR_NO_MEMORY, "out of memory");
    if (m->len) memcpy(copy, m->data, m->len);
    hil_mutex_lock(&lb->mu);
    lb->users++;
    while (lb->count == lb->cap && !lb->closed) {
        if (timeout_ms == 0 ||
            (hil_cond_wait_until(&lb->cv, &lb->mu, deadline) == HIL_ERR_TIMEOUT && lb->count == lb->cap && !lb->closed)) {
            hil__lb_leave(lb);
            HIL_FREE(copy);
            return hil_channel_error(ch, HIL_ERR_OVERFLOW, "queue full (%zu messages) for %d ms", lb->cap, timeout_ms);
        }
    }
    if (lb->closed) {
        hil__lb_leave(lb);
        HIL_FREE(copy);
        return hil__closed(ch);
    }
    slot = (lb->head + lb->count) % lb->cap;
    lb->bufs[slot] = copy;
    lb->items[slot].len = m->len;
    lb->items[slot].remote_id = m->remote_id;
    lb->items[slot].flags = m->flags;
    if (lb->count++ == 0) hil_waker_wake(&lb->readable);
    hil__lb_leave(lb);
    return HIL_OK;
}

static hil_result hil__lb_recv(hil_channel* ch, hil_msg* m, int timeout_ms) {
    hil__loopback* lb = (hil__loopback*)hil_channel_state(ch);
    uint64_t deadline = hil_deadline_ms(timeout_ms);
    int fd = hil_waker_fd(&lb->readable);
    hil_mutex_lock(&lb->mu);
    lb->users++;
    for (;;) {
        if (lb->count > 0) {
            size_t slot = lb->head;
            hil__lb_item it = lb->items[slot];
            unsigned char* buf = lb->bufs[slot];
            lb->head = (lb->head + 1) % lb->cap;
            if (--lb->count == 0) hil_waker_drain(&lb->readable);
            hil_cond_signal(&lb->cv);
            hil__lb_leave(lb);
            m->len = it.len < m->cap ? it.len : m->cap;
            if (m->len) memcpy(m->data, buf, m->len);
            m->remote_id = it.remote_id;
            m->flags = it.flags | (it.len > m->cap ? HIL_MSG_TRUNCATED : 0u);
            HIL_FREE(buf);
            return HIL_OK;
        }
        if (lb->closed) {
            hil__lb_leave(lb);
            return hil__closed(ch);
        }
        hil_mutex_unlock(&lb->mu);
        /* no lock held while blocking: wait on the readable waker */
        if (timeout_ms == 0 || hil_wait_readable(fd, hil_deadline_left_ms(deadline)) == HIL_ERR_TIMEOUT) {
            hil_mutex_lock(&lb->mu);
            hil__lb_leave(lb);
            return timeout_ms == 0 ? HIL_ERR_AGAIN : HIL_ERR_TIMEOUT;
        }
        hil_mutex_lock(&lb->mu);
    }
}

static int hil__lb_poll_fd(hil_channel* ch) {
    hil__loopback* lb = (hil__loopback*)hil_channel_state(ch);
    return hil_waker_fd(&lb->readable);
}

static const hil_channel_type hil__loopback_type = {
    "loopback", "In-process loopback: what is sent is received (for tests)", 0, sizeof(hil__loopback),
    hil__loopback_opts, hil__lb_configure, hil__lb_open, hil__lb_close, hil__lb_send, hil__lb_recv,
    hil__lb_poll_fd, hil__lb_destroy
};

/* ---- shared by the OS-backed types ------------------------------------------------------- */

/* A reader and a writer may block on a type's descriptors while close()
 * runs in a third thread. close() wakes them through `wake` and waits
 * until both have left before it closes anything, so no thread ever polls
 * a descriptor number that was closed and reused. */
typedef struct hil__io {
    hil_waker wake;
    hil_mutex mu;
    hil_cond cv;
    int users;     /* threads inside a receive, send or control call */
    int closing;
    int ready;
} hil__io;

static hil_result hil__io_init(hil_channel* ch, hil__io* io) {
    memset(io, 0, sizeof *io);
    if (hil_waker_init(&io->wake) != HIL_OK) return hil_channel_error(ch, HIL_ERR_IO, "%s", hil_last_error());
    hil_mutex_init(&io->mu);
    hil_cond_init(&io->cv);
    io->ready = 1;
    return HIL_OK;
}

static void hil__io_destroy(hil__io* io) {
    if (!io->ready) return;
    hil_waker_destroy(&io->wake);
    hil_cond_destroy(&io->cv);
    hil_mutex_destroy(&io->mu);
    io->ready = 0;
}

/* At open: a closed channel's waker stays readable (late callers see the
 * close) until it opens again. The mutex, condition and waker live from
 * configure() to destroy(), so a thread that raced with close() never
 * touches a destroyed one. */
static void hil__io_reset(hil__io* io) {
    hil_mutex_lock(&io->mu);
    io->closing = 0;
    hil_waker_drain(&io->wake);
    hil_mutex_unlock(&io->mu);
}

static int hil__io_enter(hil__io* io) {
    int ok;
    hil_mutex_lock(&io->mu);
    ok = !io->closing;
    if (ok) io->users++;
    hil_mutex_unlock(&io->mu);
    return ok;
}

static void hil__io_leave(hil__io* io) {
    hil_mutex_lock(&io->mu);
    if (--io->users == 0 && io->closing) hil_cond_broadcast(&io->cv);
    hil_mutex_unlock(&io->mu);
}

static void hil__io_shutdown(hil__io* io) {
    if (!io->ready) return;
    hil_mutex_lock(&io->mu);
    io->closing = 1;
    hil_waker_wake(&io->wake);
    while (io->users > 0) hil_cond_wait(&io->cv, &io->mu);
    hil_mutex_unlock(&io->mu);
}

/* Wait for `events` on fd (and POLLIN on fd2 when >= 0) or for close.
 * HIL_OK (see revents), HIL_ERR_TIMEOUT (HIL_ERR_AGAIN when timeout is 0),
 * HIL_ERR_CLOSED when close() woke us. */
static hil_result hil__io_poll(hil__io* io, int fd, short events, int fd2, uint64_t deadline, int nonblocking,
                               short* revents, short* revents2) {
    struct pollfd pf[3];
    nfds_t n = 0;
    int rc;
    pf[n].fd = hil_waker_fd(&io->wake);
    pf[n++].events = POLLIN;
    pf[n].fd = fd;
    pf[n++].events = events;
    if (fd2 >= 0) {
        pf[n].fd = fd2;
        pf[n++].events = POLLIN;
    }
    for (;;) {
        nfds_t i;
        for (i = 0; i < n; i++) pf[i].revents = 0;
        rc = poll(pf, n, nonblocking ? 0 : hil_deadline_left_ms(deadline));
        if (rc < 0 && errno == EINTR) continue;
        if (rc < 0) return hil_error(HIL_ERR_IO, "poll: %s", strerror(errno));
        if (pf[0].revents) return HIL_ERR_CLOSED;
        if (rc == 0) return nonblocking ? HIL_ERR_AGAIN : HIL_ERR_TIMEOUT;
        if (revents) *revents = pf[1].revents;
        if (revents2) *revents2 = fd2 >= 0 ? pf[2].revents : 0;
        return HIL_OK;
    }
}

/* write() without dying of SIGPIPE when the reader is gone: the signal is
 * blocked in this thread for the call and a pending one is taken back.
 * (Sockets use MSG_NOSIGNAL instead.) */
static ssize_t hil__write_nosig(int fd, const void* buf, size_t len) {
    sigset_t pipe_set, old;
    ssize_t n;
    int e;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
    n = write(fd, buf, len);
    e = errno;
    if (n < 0 && e == EPIPE && !sigismember(&old, SIGPIPE)) {
        struct timespec zero = {0, 0};
        while (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno == EINTR) {
        }
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    errno = e;
    return n;
}

/* Write all of data to a non-blocking descriptor within the deadline.
 * *err: the errno of a failure (0 for a timeout). */
static hil_result hil__io_write_all(hil__io* io, int fd, int is_socket, const void* data, size_t len,
                                    uint64_t deadline, size_t* done, int* err) {
    const char* p = (const char*)data;
    *done = 0;
    *err = 0;
    while (*done < len) {
        ssize_t n = is_socket ? send(fd, p + *done, len - *done, MSG_NOSIGNAL) : hil__write_nosig(fd, p + *done, len - *done);
        if (n > 0) {
            *done += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
            *err = errno;
            return (errno == EPIPE || errno == ECONNRESET || errno == EIO) ? HIL_ERR_CLOSED : HIL_ERR_IO;
        }
        {
            short rev = 0;
            hil_result r = hil__io_poll(io, fd, POLLOUT, -1, deadline, 0, &rev, NULL);
            if (r != HIL_OK) return r;
        }
    }
    return HIL_OK;
}

/* What to do about an OS error, for messages. */
static const char* hil__hint(int e, int tty) {
    switch (e) {
    case EACCES:
    case EPERM:
        return tty ? ": add your user to the dialout group (sudo usermod -aG dialout $USER, then log in again)"
                   : ": ports below 1024 need root; choose a port of 1024 or more";
    case ENOENT: return tty ? ": is the device plugged in? (ls /dev/tty*, dmesg | tail)" : "";
    case EBUSY: return ": another program has it open (lsof shows which)";
    case ECONNREFUSED: return ": is the server running, and is the port right?";
    case ETIMEDOUT:
    case EHOSTUNREACH:
    case ENETUNREACH: return ": is the host up and reachable, with no firewall in between?";
    case EADDRINUSE: return ": the port is in use; choose another, or 0 for a free one";
    case EADDRNOTAVAIL: return ": that address is not one of this machine's";
    default: return "";
    }
}

/* Split a command line into words like a shell (quotes, backslashes),
 * without running one. *out: NULL-terminated, free with hil__words_free. */
HIL__SHARED void hil__words_free(char** w) {
    size_t i;
    for (i = 0; w && w[i]; i++) HIL_FREE(w[i]);
    HIL_FREE(w);
}

HIL__SHARED hil_result hil__split_words(const char* s, char*** out, size_t* count) {
    char** w = NULL;
    size_t n = 0, cap = 0;
    hil_strbuf cur = {0, 0, 0, 0};
    *out = NULL;
    if (count) *count = 0;
    while (s && *s) {
        int in_word = 0;
        while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r') s++;
        if (!*s) break;
        hil_sb_clear(&cur);
        while (*s && !(*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')) {
            in_word = 1;
            if (*s == '\'') {
                const char* e = strchr(s + 1, '\'');
                if (!e) goto unbalanced;
                hil_sb_append(&cur, s + 1, (size_t)(e - s - 1));
                s = e + 1;
            } else if (*s == '"') {
                s++;
                while (*s && *s != '"') {
                    if (*s == '\\' && s[1] && strchr("\"\\$`", s[1])) s++;
                    hil_sb_putc(&cur, *s++);
                }
                if (*s != '"') goto unbalanced;
                s++;
            } else if (*s == '\\' && s[1]) {
                hil_sb_putc(&cur, s[1]);
                s += 2;
            } else {
                hil_sb_putc(&cur, *s++);
            }
        }
        if (in_word) {
            if (n + 2 > cap) {
                char** nw;
                cap = cap ? cap * 2 : 8;
                nw = (char**)HIL_REALLOC(w, cap * sizeof *w);
                if (!nw) goto oom;
                w = nw;
            }
            w[n] = hil_strdup(hil_sb_cstr(&cur));
            if (!w[n]) goto oom;
            w[++n] = NULL;
        }
    }
    hil_sb_free(&cur);
    if (!w) {
        w = (char**)HIL_MALLOC(sizeof *w);
        if (!w) return hil_error(HIL_ERR_NO_MEMORY, "out of memory");
        w[0] = NULL;
    }
    *out = w;
    if (count) *count = n;
    return HIL_OK;
unbalanced:
    hil_sb_free(&cur);
    hil__words_free(w);
    return hil_error(HIL_ERR_CONFIG, "unbalanced quote in '%s'", s);
oom:
    hil_sb_free(&cur);
    hil__words_free(w);
    return hil_error(HIL_ERR_NO_MEMORY, "out of memory");
}

/* A descriptor that is readable when any of its members is: one stable
 * poll_fd for a type that reads from more than one (Linux epoll; elsewhere
 * the first member stands in). */
static int hil__pollset_create(void) {
#ifdef __linux__
    return epoll_create1(EPOLL_CLOEXEC);
#else
    return -1;
#endif
}

static void hil__pollset_add(int set, int fd) {
#ifdef __linux__
    struct epoll_event ev;
    if (set < 0 || fd < 0) return;
    memset(&ev, 0, sizeof ev);
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    epoll_ctl(set, EPOLL_CTL_ADD, fd, &ev);
#else
    (void)set;
    (void)fd;
#endif
}

static void hil__pollset_del(int set, int fd) {
#ifdef __linux__
    struct epoll_event ev;
    if (set < 0 || fd < 0) return;
    memset(&ev, 0, sizeof ev);
    epoll_ctl(set, EPOLL_CTL_DEL, fd, &ev);
#else
    (void)set;
    (void)fd;
#endif
}

static void hil__close_fd(int* fd) {
    if (*fd >= 0) close(*fd);
    *fd = -1;
}

/* ---- process ------------------------------------------------------------------------------- */

typedef struct hil__process {
    hil__io io;
    char** argv;
    char** env;
    char* cwd;
    int stderr_mode;          /* 0 log, 1 inherit, 2 null, 3 stdout */
    long long grace_ms;
    hil_proc proc;
    int started;
    int pollset;
    hil_thread errt;
    int errt_on;
    int exited, status;       /* under io.mu once the reader or close reaped it */
    int reported;
} hil__process;

static const hil_channel_opt hil__process_opts[] = {
    {"command", HIL_OPT_STRING, NULL,
     "process: the program and its arguments, split into words like a shell would (no shell runs)", NULL},
    {"cwd", HIL_OPT_PATH, NULL, "process: the working directory of the program", NULL},
    {"env", HIL_OPT_STRING, NULL, "process: extra environment, KEY=VALUE words (quoted like command)", NULL},
    {"stderr", HIL_OPT_CHOICE, "log",
     "process: the program's stderr: log (each line into the log), inherit, null, or stdout (mixed into the data)",
     "log|inherit|null|stdout"},
    {"kill_grace_ms", HIL_OPT_INT, "500", "process: on close, SIGTERM, this long, then SIGKILL", NULL},
    {NULL, HIL_OPT_STRING, NULL, NULL, NULL}
};

static void hil__process_destroy(hil_channel* ch) {
    hil__process* s = (hil__process*)hil_channel_state(ch);
    hil__io_destroy(&s->io);
    hil__words_free(s->argv);
    hil__words_free(s->env);
    HIL_FREE(s->cwd);
    s->argv = s->env = NULL;
    s->cwd = NULL;
}

static hil_result hil__process_configure(hil_channel* ch) {
    hil__process* s = (hil__process*)hil_channel_state(ch);
    const char* cmd = hil_channel_opt_str(ch, "command", NULL);
    const char* cwd = hil_channel_opt_str(ch, "cwd", NULL);
    size_t n = 0;
    hil_result r = hil__io_init(ch, &s->io);
    if (r != HIL_OK) return r;
    if (!cmd || !*cmd)
        return hil_channel_error(ch, HIL_ERR_CONFIG, "no program: set connectors.%s.command (e.g. \"./sim --port 1\")",
                                 hil_channel_name(ch));
    if (hil__split_words(cmd, &s->argv, &n) != HIL_OK || n == 0)
        return hil_channel_error(ch, HIL_ERR_CONFIG, "option command: %s", n == 0 && s->argv ? "no words" : hil_last_error());
    if (hil__split_words(hil_channel_opt_str(ch, "env", ""), &s->env, NULL) != HIL_OK)
        return hil_channel_error(ch, HIL_ERR_CONFIG, "option env: %s", hil_last_error());
    {
        size_t i;
        for (i = 0; s->env[i]; i++)
            if (!strchr(s->env[i], '=') || s->env[i][0] == '=')
                return hil_channel_error(ch, HIL_ERR_CONFIG, "option env: '%s' is not KEY=VALUE", s->env[i]);
    }
    if (cwd && *cwd && !(s->cwd = hil_strdup(cwd))) return hil_channel_error(ch, HIL_ERR_NO_MEMORY, "out of memory");
    r = hil_channel_opt_choice(ch, "stderr", "log|inherit|null|stdout", "log", &s->stderr_mode);
    if (r != HIL_OK) return r;
    r = hil_channel_opt_int(ch, "kill_grace_ms", 500, &s->grace_ms);
    if (r != HIL_OK) return r;
    if (s->grace_ms < 0 || s->grace_ms > 600000)
        return hil_channel_error(ch, HIL_ERR_CONFIG, "option kill_grace_ms: must be 0..600000, got %lld", s->grace_ms);
    return HIL_OK;
}

/* The program's stderr, line by line into the log (or away). */
static void* hil__process_stderr_thread(void* arg) {
    hil_channel* ch = (hil_channel*)arg;
    hil__process* s = (hil__process*)hil_channel_state(ch);
    char buf[1024];
    size_t have = 0;
    for (;;) {
        short rev = 0;
        ssize_t n;
        char* nl;
        if (hil__io_poll(&s->io, s->proc.stderr_fd, POLLIN, -1, HIL_NEVER, 0, &rev, NULL) != HIL_OK) break;
        n = read(s->proc.stderr_fd, buf + have, sizeof buf - 1 - have);
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (n <= 0) break;
        have += (size_t)n;
        buf[have] = 0;
        while ((nl = (char*)memchr(buf, '\n', have)) != NULL || have == sizeof buf - 1) {
            size_t len = nl ? (size_t)(nl - buf) : have;
            if (s->stderr_mode == 0) hil_log_at(HIL_LOG_INFO, __FILE__, __LINE__, hil_channel_logger(ch), "stderr: %.*s",
                                                (int)len, buf);
            if (nl) len++;
            memmove(buf, buf + len, have - len);
            have -= len;
            buf[have] = 0;
        }
    }
    if (have && s->stderr_mode == 0)
        hil_log_at(HIL_LOG_INFO, __FILE__, __LINE__, hil_channel_logger(ch), "stderr: %.*s", (int)have, buf);
    return NULL;
}

static hil_result hil__process_open(hil_channel* ch) {
    hil__process* s = (hil__process*)hil_channel_state(ch);
    hil_proc_config pc;
    hil_result r;
    hil__io_reset(&s->io);
    s->exited = s->status = s->reported = 0;
    s->errt_on = 0;
    hil_proc_config_init(&pc);
    pc.argv = (const char* const*)s->argv;
    pc.env = (const char* const*)s->env;
    pc.cwd = s->cwd;
    pc.pipe_stdin = 1;
    pc.pipe_stdout = 1;
    pc.pipe_stderr = s->stderr_mode == 0 || s->stderr_mode == 2;
    pc.stderr_to_stdout = s->stderr_mode == 3;
    pc.new_process_group = 1;
    pc.die_with_parent = 1;
    r = hil_proc_spawn(&s->proc, &pc);
    if (r != HIL_OK) {
        return hil_channel_error(ch, r, "%s%s%s%s", hil_last_error(), s->cwd ? " (in " : "", s->cwd ? s->cwd : "",
                                 s->cwd ? ")" : "");
    }
    s->started = 1;
    hil_track_child_group(s->proc.pid, 1);
    hil_set_nonblocking(s->proc.stdin_fd, 1);
    hil_set_nonblocking(s->proc.stdout_fd, 1);
    s->pollset = hil__pollset_create();
    hil__pollset_add(s->pollset, s->proc.stdout_fd);
    hil__pollset_add(s->pollset, s->proc.pidfd);
    if (s->proc.stderr_fd >= 0) {
        hil_set_nonblocking(s->proc.stderr_fd, 1);
        if (hil_thread_create(&s->errt, hil__process_stderr_thread, ch, "hil-stderr") == HIL_OK) s->errt_on = 1;
    }
    HIL_INFO(hil_channel_logger(ch), "process '%s': started '%s' (pid %d)", hil_channel_name(ch), s->argv[0],
             s->proc.pid);
    return HIL_OK;
}

/* Reap the program if it has exited (no waiting). */
static int hil__process_reaped(hil__process* s) {
    int done;
    hil_mutex_lock(&s->io.mu);
    if (!s->exited && s->proc.pid > 0) {
        int st;
        pid_t rc = waitpid(s->proc.pid, &st, WNOHANG);
        if (rc == s->proc.pid) {
            s->exited = 1;
            s->status = st;
            s->proc.exited = 1;
            s->proc.status = st;
        }
    }
    done = s->exited;
    hil_mutex_unlock(&s->io.mu);
    return done;
}

/* HIL_ERR_CLOSED with how the program ended. */
static hil_result hil__process_gone(hil_channel* ch, hil__process* s, const char* what) {
    char how[128];
    int first;
    hil_proc_status_str(s->status, how, sizeof how);
    hil_mutex_lock(&s->io.mu);
    first = !s->reported;
    s->reported = 1;
    hil_mutex_unlock(&s->io.mu);
    if (first)
        hil_log_at(HIL_LOG_INFO, __FILE__, __LINE__,
                   hil_channel_logger(ch), "process '%s': '%s' %s", hil_channel_name(ch), s->argv[0], how);
    return hil_channel_error(ch, HIL_ERR_CLOSED, "%s'%s' %s", what, s->argv[0], how);
}

static hil_result hil__process_recv(hil_channel* ch, hil_msg* m, int timeout_ms) {
    hil__process* s = (hil__process*)hil_channel_state(ch);
    uint64_t deadline = hil_deadline_ms(timeout_ms);
    hil_result r;
    if (!hil__io_enter(&s->io)) return hil__closed(ch);
    for (;;) {
        short rev = 0, prev = 0;
        ssize_t n;
        r = hil__io_poll(&s->io, s->proc.stdout_fd, POLLIN, s->proc.pidfd, deadline, timeout_ms == 0, &rev, &prev);
        if (r == HIL_ERR_CLOSED) { r = hil__closed(ch); break; }
        if (r != HIL_OK) break;
        if (rev || prev) {
            n = read(s->proc.stdout_fd, m->data, m->cap);
            if (n > 0) {
                m->len = (size_t)n;
                break;
            }
            if (n < 0 && errno == EINTR) continue;
            if (n < 0 && errno != EAGAIN) {
                r = hil_channel_error(ch, HIL_ERR_IO, "reading the program's stdout: %s", strerror(errno));
                break;
            }
            if (n == 0 && !prev && s->proc.pidfd >= 0) {
                /* stdout closed: the exit usually follows at once, and how it
                 * ended is what the user needs to know, so wait a moment for
                 * it even in a non-blocking receive */
                short rv2 = 0;
                hil__io_poll(&s->io, s->proc.pidfd, POLLIN, -1, hil_deadline_ms(200), 0, &rv2, NULL);
            }
            if (hil__process_reaped(s)) {
                r = hil__process_gone(ch, s, "");
                break;
            }
            if (n == 0) {
                r = hil_channel_error(ch, HIL_ERR_CLOSED, "'%s' closed its stdout (it still runs as pid %d)", s->argv[0],
                                      s->proc.pid);
                break;
            }
        }
    }
    hil__io_leave(&s->io);
    return r;
}

static hil_result hil__process_send(hil_channel* ch, const hil_msg* m, int timeout_ms) {
    hil__process* s = (hil__process*)hil_channel_state(ch);
    size_t done;
    int err;
    hil_result r;
    if (!hil__io_enter(&s->io)) return hil__closed(ch);
    if (hil__process_reaped(s)) {
        r = hil__process_gone(ch, s, "cannot send: ");
    } else {
        r = hil__io_write_all(&s->io, s->proc.stdin_fd, 0, m->data, m->len, hil_deadline_ms(timeout_ms), &done, &err);
        if (r == HIL_ERR_CLOSED && err) {
            /* the reading end is gone: most likely the program ended */
            if (s->proc.pidfd >= 0) hil_wait_readable(s->proc.pidfd, 200);
            r = hil__process_reaped(s) ? hil__process_gone(ch, s, "cannot send: ")
                                       : hil_channel_error(ch, HIL_ERR_CLOSED, "'%s' closed its stdin", s->argv[0]);
        } else if (r == HIL_ERR_CLOSED) {
            r = hil__closed(ch);
        } else if (r == HIL_ERR_TIMEOUT) {
            r = hil_channel_error(ch, HIL_ERR_TIMEOUT,
                                  "'%s' did not read its stdin: %zu of %zu bytes written in %d ms", s->argv[0], done,
                                  m->len, timeout_ms);
        } else if (r != HIL_OK) {
            r = hil_channel_error(ch, r, "writing to the program's stdin: %s", strerror(err));
        }
    }
    hil__io_leave(&s->io);
    return r;
}

static void hil__process_close(hil_channel* ch) {
    hil__process* s = (hil__process*)hil_channel_state(ch);
    int pid = s->proc.pid;
    hil__io_shutdown(&s->io);
    if (s->started) {
        hil_proc_terminate(&s->proc, (int)s->grace_ms);
        if (!s->exited) {
            char how[128];
            s->exited = 1;
            s->status = s->proc.status;
            hil_proc_status_str(s->status, how, sizeof how);
            HIL_DEBUG(hil_channel_logger(ch), "process '%s': '%s' stopped: %s", hil_channel_name(ch), s->argv[0], how);
        }
        hil_track_child_group(pid, 0);
    }
    if (s->errt_on) hil_thread_join(&s->errt);
    s->errt_on = 0;
    hil_proc_close(&s->proc);
    hil__close_fd(&s->pollset);
    s->started = 0;
    s->proc.pid = -1;
}

static int hil__process_poll_fd(hil_channel* ch) {
    hil__process* s = (hil__process*)hil_channel_state(ch);
    return s->pollset >= 0 ? s->pollset : s->proc.stdout_fd;
}

static const hil_channel_type hil__process_type = {
    "process", "A program (device simulator) over its stdin/stdout", 1, sizeof(hil__process), hil__process_opts,
    hil__process_configure, hil__process_open, hil__process_close, hil__process_send, hil__process_recv,
    hil__process_poll_fd, hil__process_destroy
};

HIL_API int hil_process_pid(hil_channel* ch) {
    hil__process* s;
    if (!ch || ch->type != &hil__process_type || !hil_channel_is_open(ch)) return -1;
    s = (hil__process*)hil_channel_state(ch);
    return hil__process_reaped(s) ? -1 : s->proc.pid;
}

HIL_API hil_result hil_process_wait(hil_channel* ch, int timeout_ms, int* status) {
    hil__process* s;
    uint64_t deadline = hil_deadline_ms(timeout_ms);
    hil_result r = HIL_OK;
    if (!ch || ch->type != &hil__process_type)
        return hil_error(HIL_ERR_INVALID_ARG, "hil_process_wait: '%s' is not a process channel", ch ? ch->name : "(null)");
    if (!hil_channel_is_open(ch)) return hil_channel_error(ch, HIL_ERR_STATE, "not open");
    s = (hil__process*)hil_channel_state(ch);
    if (!hil__io_enter(&s->io)) return hil__closed(ch);
    while (!hil__process_reaped(s)) {
        short rev = 0;
        if (s->proc.pidfd < 0) { r = hil_channel_error(ch, HIL_ERR_UNSUPPORTED, "no exit descriptor"); break; }
        r = hil__io_poll(&s->io, s->proc.pidfd, POLLIN, -1, deadline, timeout_ms == 0, &rev, NULL);
        if (r == HIL_ERR_AGAIN) r = HIL_ERR_TIMEOUT;
        if (r == HIL_ERR_TIMEOUT) {
            r = hil_channel_error(ch, HIL_ERR_TIMEOUT, "'%s' still runs after %d ms", s->argv[0], timeout_ms);
            break;
        }
        if (r != HIL_OK) break;
    }
    if (r == HIL_OK && status) *status = s->status;
    hil__io_leave(&s->io);
    return r;
}

/* ---- serial settings through termios (pty) ------------------------------------------------------- */

/* Shared by pty, serial and rfc2217/ser2net, so the help is the same wherever it is shown. */
#define HIL__OPT_BAUD {"baudrate", HIL_OPT_INT, NULL, \
    "serial, pty: bits per second (default 115200); rfc2217, ser2net: left as the server has it unless set", NULL}
#define HIL__OPT_BITS {"data_bits", HIL_OPT_CHOICE, "8", "serial, pty, rfc2217: data bits", "5|6|7|8"}
#define HIL__OPT_PARITY {"parity", HIL_OPT_CHOICE, "none", "serial, pty, rfc2217: parity", "none|odd|even|mark|space"}
#define HIL__OPT_STOP {"stop_bits", HIL_OPT_CHOICE, "1", "serial, pty, rfc2217: stop bits", "1|2"}
#define HIL__OPT_FLOW {"flow_control", HIL_OPT_CHOICE, "none", \
    "serial, pty, rfc2217: none, xonxoff, rtscts or dtrdsr (not on a pty)", "none|xonxoff|rtscts|dtrdsr"}
#define HIL__OPT_HOST {"host", HIL_OPT_STRING, NULL, \
    "tcp, udp, rfc2217, ser2net: the peer's host name or address (tcp server: the address to listen on)", NULL}
#define HIL__OPT_PORT {"port", HIL_OPT_STRING, NULL, \
    "tcp, udp, rfc2217, ser2net: the port number (tcp server: 0 picks a free one); serial: the device", NULL}
#define HIL__OPT_CONNECT_TIMEOUT {"connect_timeout_ms", HIL_OPT_INT, "5000", \
    "tcp, rfc2217, ser2net: how long connecting (and negotiating) may take", NULL}
#define HIL__OPT_NODELAY {"nodelay", HIL_OPT_BOOL, "true", \
    "tcp, rfc2217, ser2net: send small frames at once (TCP_NODELAY)", NULL}

#define HIL__FLOW_CHOICES "none|xonxoff|rtscts|dtrdsr"

/* Read the serial options into settings. fallback_baud 0: not set unless configured. */
static hil_result hil__serial_options(hil_channel* ch, hil_serial_settings* out, int fallback_baud) {
    long long baud;
    int bits, parity, stop, flow;
    hil_result r = hil_channel_opt_int(ch, "baudrate", fallback_baud, &baud);
    if (r != HIL_OK) return r;
    if (baud < 0 || baud > 100000000)
        return hil_channel_error(ch, HIL_ERR_CONFIG, "option baudrate: must be 1..100000000, got %lld", baud);
    if ((r = hil_channel_opt_choice(ch, "data_bits", "5|6|7|8", "8", &bits)) != HIL_OK) return r;
    if ((r = hil_channel_opt_choice(ch, "parity", "none|odd|even|mark|space", "none", &parity)) != HIL_OK) return r;
    if ((r = hil_channel_opt_choice(ch, "stop_bits", "1|2", "1", &stop)) != HIL_OK) return r;
    if ((r = hil_channel_opt_choice(ch, "flow_control", HIL__FLOW_CHOICES, "none", &flow)) != HIL_OK) return r;
    out->baudrate = (int)baud;
    out->data_bits = 5 + bits;
    out->parity = (hil_parity)parity;
    out->stop_bits = 1 + stop;
    out->flow_control = (hil_flow_control)flow;
    return HIL_OK;
}

static const struct { int baud; speed_t speed; } hil__speeds[] = {
    {50, B50}, {75, B75}, {110, B110}, {134, B134}, {150, B150}, {200, B200}, {300, B300}, {600, B600},
    {1200, B1200}, {1800, B1800}, {2400, B2400}, {4800, B4800}, {9600, B9600}, {19200, B19200}, {38400, B38400},
    {57600, B57600}, {115200, B115200}, {230400, B230400},
#ifdef B460800
    {460800, B460800}, {500000, B500000}, {576000, B576000}, {921600, B921600}, {1000000, B1000000},
    {1152000, B1152000}, {1500000, B1500000}, {2000000, B2000000}, {2500000, B2500000}, {3000000, B3000000},
    {3500000, B3500000}, {4000000, B4000000},
#endif
};

static int hil__baud_to_speed(int baud, speed_t* out) {
    size_t i;
    for (i = 0; i < HIL__COUNTOF(hil__speeds); i++)
        if (hil__speeds[i].baud == baud) { *out = hil__speeds[i].speed; return 1; }
    return 0;
}

static int hil__speed_to_baud(speed_t sp) {
    size_t i;
    for (i = 0; i < HIL__COUNTOF(hil__speeds); i++)
        if (hil__speeds[i].speed == sp) return hil__speeds[i].baud;
    return 0;
}

/* Apply settings to a tty's termios. */
static hil_result hil__termios_apply(hil_channel* ch, int fd, const hil_serial_settings* st, const char* dev) {
    struct termios t;
    speed_t sp;
    if (tcgetattr(fd, &t) != 0) return hil_channel_error(ch, HIL_ERR_IO, "tcgetattr %s: %s", dev, strerror(errno));
    if (st->baudrate > 0) {
        if (!hil__baud_to_speed(st->baudrate, &sp))
            return hil_channel_error(ch, HIL_ERR_CONFIG,
                                     "baudrate %d is not a standard rate termios knows (9600, 19200, 38400, 57600, "
                                     "115200, 230400, ...)", st->baudrate);
        cfsetispeed(&t, sp);
        cfsetospeed(&t, sp);
    }
    t.c_cflag &= ~(tcflag_t)(CSIZE | PARENB | PARODD | CSTOPB);
#ifdef CMSPAR
    t.c_cflag &= ~(tcflag_t)CMSPAR;
#endif
#ifdef CRTSCTS
    t.c_cflag &= ~(tcflag_t)CRTSCTS;
#endif
    t.c_iflag &= ~(tcflag_t)(IXON | IXOFF | IXANY);
    t.c_cflag |= st->data_bits == 5 ? CS5 : st->data_bits == 6 ? CS6 : st->data_bits == 7 ? CS7 : CS8;
    switch (st->parity) {
    case HIL_PARITY_NONE: break;
    case HIL_PARITY_ODD: t.c_cflag |= PARENB | PARODD; break;
    case HIL_PARITY_EVEN: t.c_cflag |= PARENB; break;
    case HIL_PARITY_MARK:
    case HIL_PARITY_SPACE:
#ifdef CMSPAR
        t.c_cflag |= PARENB | CMSPAR | (st->parity == HIL_PARITY_MARK ? PARODD : 0);
        break;
#else
        return hil_channel_error(ch, HIL_ERR_UNSUPPORTED, "mark/space parity is not supported by this system's termios");
#endif
    }
    if (st->stop_bits == 2) t.c_cflag |= CSTOPB;
    switch (st->flow_control) {
    case HIL_FLOW_NONE: break;
    case HIL_FLOW_XONXOFF: t.c_iflag |= IXON | IXOFF; break;
    case HIL_FLOW_RTSCTS:
#ifdef CRTSCTS
        t.c_cflag |= CRTSCTS;
        break;
#else
        return hil_channel_error(ch, HIL_ERR_UNSUPPORTED, "RTS/CTS flow control is not supported by this system's termios");
#endif
    case HIL_FLOW_DTRDSR:
        return hil_channel_error(ch, HIL_ERR_UNSUPPORTED,
                                 "DTR/DSR flow control cannot be set through termios on %s (use none, xonxoff or rtscts)",
                                 dev);
    }
    if (tcsetattr(fd, TCSANOW, &t) != 0) return hil_channel_error(ch, HIL_ERR_IO, "tcsetattr %s: %s", dev, strerror(errno));
    return HIL_OK;
}

static hil_result hil__termios_read(hil_channel* ch, int fd, hil_serial_settings* st, const char* dev) {
    struct termios t;
    if (tcgetattr(fd, &t) != 0) return hil_channel_error(ch, HIL_ERR_IO, "tcgetattr %s: %s", dev, strerror(errno));
    memset(st, 0, sizeof *st);
    st->baudrate = hil__speed_to_baud(cfgetospeed(&t));
    switch (t.c_cflag & CSIZE) {
    case CS5: st->data_bits = 5; break;
    case CS6: st->data_bits = 6; break;
    case CS7: st->data_bits = 7; break;
    default: st->data_bits = 8; break;
    }
    st->parity = HIL_PARITY_NONE;
    if (t.c_cflag & PARENB) {
#ifdef CMSPAR
        if (t.c_cflag & CMSPAR) st->parity = (t.c_cflag & PARODD) ? HIL_PARITY_MARK : HIL_PARITY_SPACE;
        else
#endif
        st->parity = (t.c_cflag & PARODD) ? HIL_PARITY_ODD : HIL_PARITY_EVEN;
    }
    st->stop_bits = (t.c_cflag & CSTOPB) ? 2 : 1;
    st->flow_control = (t.c_iflag & IXON) ? HIL_FLOW_XONXOFF : HIL_FLOW_NONE;
#ifdef CRTSCTS
    if (t.c_cflag & CRTSCTS) st->flow_control = HIL_FLOW_RTSCTS;
#endif
    return HIL_OK;
}

/* ---- pty ------------------------------------------------------------------------------------ */

typedef struct hil__pty {
    hil__io io;
    int master, slave;
    char path[128];
    char* link;
    hil_serial_settings settings;
} hil__pty;

static const hil_channel_opt hil__pty_opts[] = {
    {"link", HIL_OPT_PATH, NULL, "pty: also make this symlink to the slave device, a fixed name for configs", NULL},
    HIL__OPT_BAUD, HIL__OPT_BITS, HIL__OPT_PARITY, HIL__OPT_STOP, HIL__OPT_FLOW,
    {NULL, HIL_OPT_STRING, NULL, NULL, NULL}
};

static void hil__pty_destroy(hil_channel* ch) {
    hil__pty* s = (hil__pty*)hil_channel_state(ch);
    hil__io_destroy(&s->io);
    HIL_FREE(s->link);
    s->link = NULL;
}

static hil_result hil__pty_configure(hil_channel* ch) {
    hil__pty* s = (hil__pty*)hil_channel_state(ch);
    const char* link = hil_channel_opt_str(ch, "link", NULL);
    speed_t sp;
    hil_result r = hil__io_init(ch, &s->io);
    if (r == HIL_OK) r = hil__serial_options(ch, &s->settings, 115200);
    if (r != HIL_OK) return r;
    if (!hil__baud_to_speed(s->settings.baudrate, &sp))
        return hil_channel_error(ch, HIL_ERR_CONFIG, "option baudrate: %d is not a standard rate termios knows",
                                 s->settings.baudrate);
    if (s->settings.flow_control == HIL_FLOW_DTRDSR)
        return hil_channel_error(ch, HIL_ERR_CONFIG,
                                 "option flow_control: dtrdsr is not possible on a pty; expected one of none|xonxoff|rtscts");
    if (s->settings.data_bits != 8 || s->settings.parity != HIL_PARITY_NONE)
        return hil_channel_error(ch, HIL_ERR_CONFIG, "options data_bits/parity: a pty always has 8 data bits and no "
                                 "parity (the kernel resets them)");
    if (link && *link && !(s->link = hil_strdup(link))) return hil_channel_error(ch, HIL_ERR_NO_MEMORY, "out of memory");
    s->master = s->slave = -1;
    return HIL_OK;
}

static hil_result hil__pty_open(hil_channel* ch) {
    hil__pty* s = (hil__pty*)hil_channel_state(ch);
    struct termios t;
    hil_result r;
    s->master = s->slave = -1;
    s->master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (s->master < 0) return hil_channel_error(ch, HIL_ERR_IO, "posix_openpt: %s (is /dev/pts mounted?)", strerror(errno));
    if (grantpt(s->master) != 0 || unlockpt(s->master) != 0 || ptsname_r(s->master, s->path, sizeof s->path) != 0) {
        r = hil_channel_error(ch, HIL_ERR_IO, "setting up the pty: %s", strerror(errno));
        hil__close_fd(&s->master);
        return r;
    }
    /* Holding the slave open keeps the master readable/writable while no
     * peer is connected, and lets peers come and go. */
    s->slave = open(s->path, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (s->slave < 0) {
        r = hil_channel_error(ch, HIL_ERR_IO, "open %s: %s", s->path, strerror(errno));
        hil__close_fd(&s->master);
        return r;
    }
    if (tcgetattr(s->slave, &t) == 0) {
        cfmakeraw(&t);
        tcsetattr(s->slave, TCSANOW, &t);
    }
    r = hil__termios_apply(ch, s->slave, &s->settings, s->path);
    if (r != HIL_OK) {
        hil__close_fd(&s->slave);
        hil__close_fd(&s->master);
        return r;
    }
    hil_set_nonblocking(s->master, 1);
    hil__io_reset(&s->io);
    if (s->link) {
        struct stat lst;
        if (lstat(s->link, &lst) == 0 && S_ISLNK(lst.st_mode)) unlink(s->link);
        if (symlink(s->path, s->link) != 0) {
            r = hil_channel_error(ch, HIL_ERR_IO, "symlink %s -> %s: %s%s", s->link, s->path, strerror(errno),
                                  errno == EEXIST ? " (a file that is not a symlink is in the way)" : "");
            hil__close_fd(&s->slave);
            hil__close_fd(&s->master);
            return r;
        }
    }
    HIL_INFO(hil_channel_logger(ch), "pty '%s': slave device %s%s%s", hil_channel_name(ch), s->path,
             s->link ? ", linked as " : "", s->link ? s->link : "");
    return HIL_OK;
}

static void hil__pty_close(hil_channel* ch) {
    hil__pty* s = (hil__pty*)hil_channel_state(ch);
    hil__io_shutdown(&s->io);
    if (s->link) {
        char target[sizeof s->path];
        ssize_t n = readlink(s->link, target, sizeof target - 1);
        if (n > 0 && (size_t)n == strlen(s->path) && memcmp(target, s->path, (size_t)n) == 0) unlink(s->link);
    }
    hil__close_fd(&s->slave);
    hil__close_fd(&s->master);
    s->path[0] = 0;
}

static hil_result hil__pty_recv(hil_channel* ch, hil_msg* m, int timeout_ms) {
    hil__pty* s = (hil__pty*)hil_channel_state(ch);
    uint64_t deadline = hil_deadline_ms(timeout_ms);
    hil_result r;
    if (!hil__io_enter(&s->io)) return hil__closed(ch);
    for (;;) {
        short rev = 0;
        ssize_t n;
        r = hil__io_poll(&s->io, s->master, POLLIN, -1, deadline, timeout_ms == 0, &rev, NULL);
        if (r == HIL_ERR_CLOSED) r = hil__closed(ch);
        if (r != HIL_OK) break;
        n = read(s->master, m->data, m->cap);
        if (n > 0) {
            m->len = (size_t)n;
            break;
        }
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        r = hil_channel_error(ch, n == 0 || errno == EIO ? HIL_ERR_CLOSED : HIL_ERR_IO, "read %s: %s", s->path,
                              n == 0 ? "end of file" : strerror(errno));
        break;
    }
    hil__io_leave(&s->io);
    return r;
}

static hil_result hil__pty_send(hil_channel* ch, const hil_msg* m, int timeout_ms) {
    hil__pty* s = (hil__pty*)hil_channel_state(ch);
    size_t done;
    int err;
    hil_result r;
    if (!hil__io_enter(&s->io)) return hil__closed(ch);
    r = hil__io_write_all(&s->io, s->master, 0, m->data, m->len, hil_deadline_ms(timeout_ms), &done, &err);
    if (r == HIL_ERR_TIMEOUT)
        r = hil_channel_error(ch, r, "nobody reads %s: %zu of %zu bytes written in %d ms", s->path, done, m->len,
                              timeout_ms);
    else if (r == HIL_ERR_CLOSED && !err)
        r = hil__closed(ch);
    else if (r != HIL_OK)
        r = hil_channel_error(ch, r, "write %s: %s", s->path, strerror(err));
    hil__io_leave(&s->io);
    return r;
}

static int hil__pty_poll_fd(hil_channel* ch) { return ((hil__pty*)hil_channel_state(ch))->master; }

static const hil_channel_type hil__pty_type = {
    "pty", "A pseudo-terminal: the test holds the master, a simulator opens the slave", 1, sizeof(hil__pty),
    hil__pty_opts, hil__pty_configure, hil__pty_open, hil__pty_close, hil__pty_send, hil__pty_recv, hil__pty_poll_fd,
    hil__pty_destroy
};

HIL_API const char* hil_pty_path(hil_channel* ch) {
    if (!ch || ch->type != &hil__pty_type || !hil_channel_is_open(ch)) return NULL;
    return ((hil__pty*)hil_channel_state(ch))->path;
}

/* ---- tcp and udp ------------------------------------------------------------------------------ */

/* "host:port" for messages. */
static void hil__addr_str(const struct sockaddr* sa, char* out, size_t size) {
    char host[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in* in = (const struct sockaddr_in*)(const void*)sa;
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
        port = ntohs(in->sin_port);
        hil__sfmt(out, size, "%s:%d", host, port);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6* in6 = (const struct sockaddr_in6*)(const void*)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
        port = ntohs(in6->sin6_port);
        hil__sfmt(out, size, "[%s]:%d", host, port);
    } else {
        hil__sfmt(out, size, "(address family %d)", (int)sa->sa_family);
    }
}

static int hil__sock_port(int fd) {
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (fd < 0 || getsockname(fd, (struct sockaddr*)&ss, &len) != 0) return -1;
    if (ss.ss_family == AF_INET) return ntohs(((struct sockaddr_in*)(void*)&ss)->sin_port);
    if (ss.ss_family == AF_INET6) return ntohs(((struct sockaddr_in6*)(void*)&ss)->sin6_port);
    return -1;
}

static hil_result hil__resolve(hil_channel* ch, const char* host, const char* port, int socktype, int passive,
                               struct addrinfo** out) {
    struct addrinfo hints;
    int rc;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = socktype;
    hints.ai_flags = passive ? AI_PASSIVE : 0;
    rc = getaddrinfo(host && *host ? host : NULL, port, &hints, out);
    if (rc != 0)
        return hil_channel_error(ch, HIL_ERR_NOT_FOUND, "cannot resolve %s port %s: %s%s", host && *host ? host : "(any)",
                                 port, gai_strerror(rc),
                                 rc == EAI_SERVICE ? " (the port must be a number or a service name)"
                                                   : ": check the host name (or use an IP address)");
    return HIL_OK;
}

/* Connect to host:port within timeout_ms; *fd non-blocking. */
static hil_result hil__tcp_connect(hil_channel* ch, hil__io* io, const char* host, const char* port, int timeout_ms,
                                   int nodelay, int* fd_out, char* peer, size_t peer_size) {
    struct addrinfo* ai = NULL;
    struct addrinfo* a;
    uint64_t deadline = hil_deadline_ms(timeout_ms);
    int last_err = 0, fd = -1;
    hil_result r = hil__resolve(ch, host, port, SOCK_STREAM, 0, &ai);
    if (r != HIL_OK) return r;
    *fd_out = -1;
    for (a = ai; a; a = a->ai_next) {
        int rc;
        hil__addr_str(a->ai_addr, peer, peer_size);
        fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol);
        if (fd < 0) { last_err = errno; continue; }
        rc = connect(fd, a->ai_addr, a->ai_addrlen);
        if (rc != 0 && errno == EINPROGRESS) {
            short rev = 0;
            int soerr = 0;
            socklen_t sl = sizeof soerr;
            r = hil__io_poll(io, fd, POLLOUT, -1, deadline, 0, &rev, NULL);
            if (r != HIL_OK) {
                close(fd);
                freeaddrinfo(ai);
                if (r == HIL_ERR_TIMEOUT)
                    return hil_channel_error(ch, HIL_ERR_TIMEOUT,
                                             "connect to %s: no answer within %d ms: is the host up and reachable, with "
                                             "no firewall in between?", peer, timeout_ms);
                return r == HIL_ERR_CLOSED ? hil__closed(ch) : r;
            }
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
            rc = soerr ? -1 : 0;
            errno = soerr;
        }
        if (rc == 0) break;
        last_err = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    if (fd < 0)
        return hil_channel_error(ch, HIL_ERR_IO, "connect to %s: %s%s", peer,
                                 strerror(last_err), hil__hint(last_err, 0));
    if (nodelay) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    *fd_out = fd;
    return HIL_OK;
}

typedef struct hil__tcp {
    hil__io io;
    char* host;
    char* port;
    int server;
    int nodelay;
    long long connect_timeout;
    int lfd;              /* server: the listening socket */
    int cfd;              /* the connection, or -1 */
    int refs;             /* threads using cfd (under io.mu) */
    int dead;             /* cfd has ended; closed once nobody uses it */
    int pollset;
    int local_port;
    char peer[80];
    char where[80];       /* "127.0.0.1:5555" for messages */
} hil__tcp;

static const hil_channel_opt hil__tcp_opts[] = {
    HIL__OPT_HOST, HIL__OPT_PORT,
    {"mode", HIL_OPT_CHOICE, "client", "tcp: client connects to host:port; server listens there for one peer",
     "client|server"},
    HIL__OPT_CONNECT_TIMEOUT, HIL__OPT_NODELAY,
    {NULL, HIL_OPT_STRING, NULL, NULL, NULL}
};

static void hil__tcp_destroy(hil_channel* ch) {
    hil__tcp* s = (hil__tcp*)hil_channel_state(ch);
    hil__io_destroy(&s->io);
    HIL_FREE(s->host);
    HIL_FREE(s->port);
    s->host = s->port = NULL;
}

static hil_result hil__tcp_configure(hil_channel* ch) {
    hil__tcp* s = (hil__tcp*)hil_channel_state(ch);
    const char* host;
    const char* port = hil_channel_opt_str(ch, "port", NULL);
    int mode;
    hil_result r = hil__io_init(ch, &s->io);
    if (r == HIL_OK) r = hil_channel_opt_choice(ch, "mode", "client|server", "client", &mode);
    if (r != HIL_OK) return r;
    s->server = mode == 1;
    host = hil_channel_opt_str(ch, "host", s->server ? "127.0.0.1" : NULL);
    if (!s->server && (!host || !*host))
        return hil_channel_error(ch, HIL_ERR_CONFIG, "no host: set connectors.%s.host (and port)", hil_channel_name(ch));
    if (!port || !*port) {
        if (!s->server)
            return hil_channel_error(ch, HIL_ERR_CONFIG, "no port: set connectors.%s.port", hil_channel_name(ch));
        port = "0";
    }
    if ((r = hil_channel_opt_int(ch, "connect_timeout_ms", 5000, &s->connect_timeout)) != HIL_OK) return r;
    if ((r = hil_channel_opt_bool(ch, "nodelay", 1, &s->nodelay)) != HIL_OK) return r;
    s->host = hil_strdup(host);
    s->port = hil_strdup(port);
    if (!s->host || !s->port) return hil_channel_error(ch, HIL_ERR_NO_MEMORY, "out of memory");
    s->lfd = s->cfd = s->pollset = -1;
    return HIL_OK;
}

static hil_result hil__tcp_listen(hil_channel* ch, hil__tcp* s) {
    struct addrinfo* ai = NULL;
    struct addrinfo* a;
    int last_err = 0;
    hil_result r = hil__resolve(ch, s->host, s->port, SOCK_STREAM, 1, &ai);
    if (r != HIL_OK) return r;
    for (a = ai; a; a = a->ai_next) {
        int one = 1;
        hil__addr_str(a->ai_addr, s->where, sizeof s->where);
        s->lfd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol);
        if (s->lfd < 0) { last_err = errno; continue; }
        setsockopt(s->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(s->lfd, a->ai_addr, a->ai_addrlen) == 0 && listen(s->lfd, 4) == 0) break;
        last_err = errno;
        hil__close_fd(&s->lfd);
    }
    freeaddrinfo(ai);
    if (s->lfd < 0)
        return hil_channel_error(ch, last_err == EADDRINUSE ? HIL_ERR_BUSY : last_err == EACCES ? HIL_ERR_PERMISSION : HIL_ERR_IO,
                                 "listen on %s: %s%s", s->where, strerror(last_err), hil__hint(last_err, 0));
    s->local_port = hil__sock_port(s->lfd);
    {
        /* the real port when 0 was asked for */
        char* colon = strrchr(s->where, ':');
        if (colon) hil__sfmt(colon + 1, sizeof s->where - (size_t)(colon + 1 - s->where), "%d", s->local_port);
    }
    HIL_INFO(hil_channel_logger(ch), "tcp '%s': listening on %s", hil_channel_name(ch), s->where);
    return HIL_OK;
}

static hil_result hil__tcp_open(hil_channel* ch) {
    hil__tcp* s = (hil__tcp*)hil_channel_state(ch);
    hil_result r;
    hil__io_reset(&s->io);
    s->lfd = s->cfd = -1;
    s->refs = s->dead = 0;
    s->peer[0] = 0;
    s->pollset = hil__pollset_create();
    if (s->server) {
        r = hil__tcp_listen(ch, s);
        if (r == HIL_OK) hil__pollset_add(s->pollset, s->lfd);
    } else {
        r = hil__tcp_connect(ch, &s->io, s->host, s->port, (int)s->connect_timeout, s->nodelay, &s->cfd, s->where,
                             sizeof s->where);
        if (r == HIL_OK) {
            hil__sfmt(s->peer, sizeof s->peer, "%s", s->where);
            s->local_port = hil__sock_port(s->cfd);
            hil__pollset_add(s->pollset, s->cfd);
            HIL_INFO(hil_channel_logger(ch), "tcp '%s': connected to %s", hil_channel_name(ch), s->where);
        }
    }
    if (r != HIL_OK) {
        hil__close_fd(&s->pollset);
        hil__close_fd(&s->lfd);
    }
    return r;
}

static void hil__tcp_close(hil_channel* ch) {
    hil__tcp* s = (hil__tcp*)hil_channel_state(ch);
    hil__io_shutdown(&s->io);
    hil__close_fd(&s->cfd);
    hil__close_fd(&s->lfd);
    hil__close_fd(&s->pollset);
    s->local_port = -1;
}

/* The connection for one call, accepting a peer first on a server (within
 * the deadline). Pair with hil__tcp_release. */
static hil_result hil__tcp_acquire(hil_channel* ch, hil__tcp* s, uint64_t deadline, int nonblocking, int* fd) {
    hil_mutex_lock(&s->io.mu);
    for (;;) {
        hil_result r;
        short rev = 0;
        if (s->io.closing) { hil_mutex_unlock(&s->io.mu); return hil__closed(ch); }
        if (s->cfd >= 0 && !s->dead) {
            s->refs++;
            *fd = s->cfd;
            hil_mutex_unlock(&s->io.mu);
            return HIL_OK;
        }
        if (!s->server) {
            hil_mutex_unlock(&s->io.mu);
            return hil_channel_error(ch, HIL_ERR_CLOSED, "the connection to %s has ended: close and open the channel to "
                                     "connect again", s->where);
        }
        if (s->cfd >= 0 && s->refs == 0) { /* the old peer, finished with */
            hil__pollset_del(s->pollset, s->cfd);
            hil__close_fd(&s->cfd);
            s->dead = 0;
        }
        if (s->cfd < 0) {
            struct sockaddr_storage ss;
            socklen_t sl = sizeof ss;
            int c = accept4(s->lfd, (struct sockaddr*)&ss, &sl, SOCK_CLOEXEC | SOCK_NONBLOCK);
            if (c >= 0) {
                if (s->nodelay) {
                    int one = 1;
                    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                }
                s->cfd = c;
                s->dead = 0;
                hil__addr_str((struct sockaddr*)&ss, s->peer, sizeof s->peer);
                hil__pollset_add(s->pollset, c);
                s->refs++;
                *fd = c;
                hil_mutex_unlock(&s->io.mu);
                HIL_INFO(hil_channel_logger(ch), "tcp '%s': peer %s connected", hil_channel_name(ch), s->peer);
                return HIL_OK;
            }
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED) {
                int e = errno;
                hil_mutex_unlock(&s->io.mu);
                return hil_channel_error(ch, HIL_ERR_IO, "accept on %s: %s", s->where, strerror(e));
            }
            hil_mutex_unlock(&s->io.mu);
            r = hil__io_poll(&s->io, s->lfd, POLLIN, -1, deadline, nonblocking, &rev, NULL);
            if (r == HIL_ERR_CLOSED) return hil__closed(ch);
            if (r == HIL_ERR_TIMEOUT)
                return hil_channel_error(ch, HIL_ERR_TIMEOUT, "no peer connected to %s yet", s->where);
            if (r != HIL_OK) return r;
            hil_mutex_lock(&s->io.mu);
            continue;
        }
        /* the other thread still holds the ended connection: it returns at once */
        if (nonblocking || hil_cond_wait_until(&s->io.cv, &s->io.mu, deadline) == HIL_ERR_TIMEOUT) {
            hil_mutex_unlock(&s->io.mu);
            return nonblocking ? HIL_ERR_AGAIN : HIL_ERR_TIMEOUT;
        }
    }
}

static void hil__tcp_release(hil_channel* ch, hil__tcp* s, int fd, int ended) {
    char peer[sizeof s->peer];
    int now_dead = 0;
    hil_mutex_lock(&s->io.mu);
    s->refs--;
    if (ended && fd == s->cfd && !s->dead) {
        s->dead = now_dead = 1;
        shutdown(fd, SHUT_RDWR); /* the other thread's call on it returns now */
        memcpy(peer, s->peer, sizeof peer);
    }
    hil_cond_broadcast(&s->io.cv);
    hil_mutex_unlock(&s->io.mu);
    if (now_dead) {
        hil_channel_flush_input(ch); /* a partial frame of this peer means nothing to the next */
        HIL_INFO(hil_channel_logger(ch), "tcp '%s': %s disconnected", hil_channel_name(ch), peer);
    }
}

static hil_result hil__tcp_recv(hil_channel* ch, hil_msg* m, int timeout_ms) {
    hil__tcp* s = (hil__tcp*)hil_channel_state(ch);
    uint64_t deadline = hil_deadline_ms(timeout_ms);
    hil_result r;
    int fd, ended = 0;
    if (!hil__io_enter(&s->io)) return hil__closed(ch);
    r = hil__tcp_acquire(ch, s, deadline, timeout_ms == 0, &fd);
    if (r != HIL_OK) {
        hil__io_leave(&s->io);
        return r;
    }
    for (;;) {
        short rev = 0;
        ssize_t n;
        r = hil__io_poll(&s->io, fd, POLLIN, -1, deadline, timeout_ms == 0, &rev, NULL);
        if (r == HIL_ERR_CLOSED) r = hil__closed(ch);
        if (r != HIL_OK) break;
        n = recv(fd, m->data, m->cap, 0);
        if (n > 0) {
            m->len = (size_t)n;
            break;
        }
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        ended = 1;
        r = hil_channel_error(ch, HIL_ERR_CLOSED, "%s %s%s%s", s->peer,
                              n == 0 ? "closed the connection" : "connection failed: ", n == 0 ? "" : strerror(errno),
                              s->server ? " (the next receive waits for a new peer)" : "");
        break;
    }
    hil__tcp_release(ch, s, fd, ended);
    hil__io_leave(&s->io);
    return r;
}

static hil_result hil__tcp_send(hil_channel* ch, const hil_msg* m, int timeout_ms) {
    hil__tcp* s = (hil__tcp*)hil_channel_state(ch);
    uint64_t deadline = hil_deadline_ms(timeout_ms);
    size_t done = 0;
    int fd, err = 0;
    hil_result r;
    if (!hil__io_enter(&s->io)) return hil__closed(ch);
    r = hil__tcp_acquire(ch, s, deadline, 0, &fd);
    if (r == HIL_OK) {
        r = hil__io_write_all(&s->io, fd, 1, m->data, m->len, deadline, &done, &err);
        if (r == HIL_ERR_TIMEOUT)
            r = hil_channel_error(ch, r, "%s does not read: %zu of %zu bytes sent in %d ms", s->peer, done, m->len,
                                  timeout_ms);
        else if (r == HIL_ERR_CLOSED && !err)
            r = hil__closed(ch);
        else if (r != HIL_OK)
            r = hil_channel_error(ch, r, "send to %s: %s", s->peer, strerror(err));
        hil__tcp_release(ch, s, fd, r != HIL_OK && err != 0);
    }
    hil__io_leave(&s->io);
    return r;
}

static int hil__tcp_poll_fd(hil_channel* ch) {
    hil__tcp* s = (hil__tcp*)hil_channel_state(ch);
    return s->pollset >= 0 ? s->pollset : s->server ? s->lfd : s->cfd;
}

static const hil_channel_type hil__tcp_type = {
    "tcp", "A TCP byte stream: client, or server for one peer", 1, sizeof(hil__tcp), hil__tcp_opts, hil__tcp_configure,
    hil__tcp_open, hil__tcp_close, hil__tcp_send, hil__tcp_recv, hil__tcp_poll_fd, hil__tcp_destroy
};

HIL_API int hil_tcp_connected(hil_channel* ch) {
    hil__tcp* s;
    int up;
    if (!ch || ch->type != &hil__tcp_type || !hil_channel_is_open(ch)) return 0;
    s = (hil__tcp*)hil_channel_state(ch);
    hil_mutex_lock(&s->io.mu);
    up = s->cfd >= 0 && !s->dead;
    hil_mutex_unlock(&s->io.mu);
    return up;
}

typedef struct hil__udp {
    hil__io io;
    char* host;
    char* port;
    char* local_host;
    char* local_port;
    int fd;
    int local;
    struct sockaddr_storage remote;
    socklen_t remote_len;    /* 0: no remote: answer the last sender */
    struct sockaddr_storage last;
    socklen_t last_len;      /* under io.mu: the reader sets it, the writer reads it */
    char where[80];
} hil__udp;

static const hil_channel_opt hil__udp_opts[] = {
    HIL__OPT_HOST, HIL__OPT_PORT,
    {"local_host", HIL_OPT_STRING, NULL,
     "udp: the address to receive on (default 127.0.0.1 without a remote host, else all addresses)", NULL},
    {"local_port", HIL_OPT_STRING, "0", "udp: the port to receive on (0: a free one)", NULL},
    {NULL, HIL_OPT_STRING, NULL, NULL, NULL}
};

static void hil__udp_destroy(hil_channel* ch) {
    hil__udp* s = (hil__udp*)hil_channel_state(ch);
    hil__io_destroy(&s->io);
    HIL_FREE(s->host);
    HIL_FREE(s->port);
    HIL_FREE(s->local_host);
    HIL_FREE(s->local_port);
    s->host = s->port = s->local_host = s->local_port = NULL;
}

static hil_result hil__udp_configure(hil_channel* ch) {
    hil__udp* s = (hil__udp*)hil_channel_state(ch);
    const char* host = hil_channel_opt_str(ch, "host", NULL);
    const char* port = hil_channel_opt_str(ch, "port", NULL);
    const char* lh = hil_channel_opt_str(ch, "local_host", NULL);
    hil_result r = hil__io_init(ch, &s->io);
    if (r != HIL_OK) return r;
    s->fd = -1;
    if ((host && *host) != (port && *port))
        return hil_channel_error(ch, HIL_ERR_CONFIG, "set both host and port (where to send), or neither (answer the "
                                 "last sender)");
    if (!lh || !*lh) lh = host && *host ? "" : "127.0.0.1";
    s->host = hil_strdup(host ? host : "");
    s->port = hil_strdup(port ? port : "");
    s->local_host = hil_strdup(lh);
    s->local_port = hil_strdup(hil_channel_opt_str(ch, "local_port", "0"));
    if (!s->host || !s->port || !s->local_host || !s->local_port)
        return hil_channel_error(ch, HIL_ERR_NO_MEMORY, "out of memory");
    return HIL_OK;
}

static hil_result hil__udp_open(hil_channel* ch) {
    hil__udp* s = (hil__udp*)hil_channel_state(ch);
    struct addrinfo* ai = NULL;
    int family = AF_UNSPEC, e;
    hil_result r;
    s->remote_len = s->last_len = 0;
    s->fd = -1;
    if (*s->host) {
        r = hil__resolve(ch, s->host, s->port, SOCK_DGRAM, 0, &ai);
        if (r != HIL_OK) return r;
        memcpy(&s->remote, ai->ai_addr, ai->ai_addrlen);
        s->remote_len = (socklen_t)ai->ai_addrlen;
        family = ai->ai_family;
        hil__addr_str(ai->ai_addr, s->where, sizeof s->where);
        freeaddrinfo(ai);
        ai = NULL;
    }
    {
        struct addrinfo hints;
        int rc;
        memset(&hints, 0, sizeof hints);
        hints.ai_family = family;
        hints.ai_socktype = SOCK_DGRAM;
        hints.ai_flags = AI_PASSIVE;
        rc = getaddrinfo(*s->local_host ? s->local_host : NULL, s->local_port, &hints, &ai);
        if (rc != 0)
            return hil_channel_error(ch, HIL_ERR_NOT_FOUND, "cannot resolve local address %s port %s: %s",
                                     *s->local_host ? s->local_host : "(any)", s->local_port, gai_strerror(rc));
    }
    s->fd = socket(ai->ai_family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (s->fd < 0 || bind(s->fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        char where[80];
        e = errno;
        hil__addr_str(ai->ai_addr, where, sizeof where);
        freeaddrinfo(ai);
        hil__close_fd(&s->fd);
        return hil_channel_error(ch, e == EADDRINUSE ? HIL_ERR_BUSY : HIL_ERR_IO, "bind %s: %s%s", where, strerror(e),
                                 hil__hint(e, 0));
    }
    freeaddrinfo(ai);
    hil__io_reset(&s->io);
    s->local = hil__sock_port(s->fd);
    HIL_INFO(hil_channel_logger(ch), "udp '%s': receiving on port %d%s%s", hil_channel_name(ch), s->local,
             s->remote_len ? ", sending to " : "", s->remote_len ? s->where : "");
    return HIL_OK;
}

static void hil__udp_close(hil_channel* ch) {
    hil__udp* s = (hil__udp*)hil_channel_state(ch);
    hil__io_shutdown(&s->io);
    hil__close_fd(&s->fd);
    s->local = -1;
}

static hil_result hil__udp_recv(hil_channel* ch, hil_msg* m, int timeout_ms) {
    hil__udp* s = (hil__udp*)hil_channel_state(ch);
    uint64_t deadline = hil_deadline_ms(timeout_ms);
    hil_result r;
    if (!hil__io_enter(&s->io)) return hil__closed(ch);
    for (;;) {
        short rev = 0;
        ssize_t n;
        struct sockaddr_storage from;
        socklen_t fl = sizeof from;
        r = hil__io_poll(&s->io, s->fd, POLLIN, -1, deadline, timeout_ms == 0, &rev, NULL);
        if (r == HIL_ERR_CLOSED) r = hil__closed(ch);
        if (r != HIL_OK) break;
        n = recvfrom(s->fd, m->data, m->cap, MSG_TRUNC, (struct sockaddr*)&from, &fl);
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (n < 0 && errno == ECONNREFUSED) continue; /* an ICMP answer to an earlier datagram */
        if (n < 0) {
            r = hil_channel_error(ch, HIL_ERR_IO, "recvfrom: %s", strerror(errno));
            break;
        }
        m->len = (size_t)n < m->cap ? (size_t)n : m->cap;
        if ((size_t)n > m->cap) m->flags |= HIL_MSG_TRUNCATED;
        if (from.ss_family == AF_INET) m->remote_id = ntohs(((struct sockaddr_in*)(void*)&from)->sin_port);
        else if (from.ss_family == AF_INET6) m->remote_id = ntohs(((struct sockaddr_in6*)(void*)&from)->sin6_port);
        hil_mutex_lock(&s->io.mu);
        memcpy(&s->last, &from, fl);
        s->last_len = fl;
        hil_mutex_unlock(&s->io.mu);
        break;
    }
    hil__io_leave(&s->io);
    return r;
}

static hil_result hil__udp_send(hil_channel* ch, const hil_msg* m, int timeout_ms) {
    hil__udp* s = (hil__udp*)hil_channel_state(ch);
    uint64_t deadline = hil_deadline_ms(timeout_ms);
    struct sockaddr_storage to;
    socklen_t tl;
    char where[80];
    hil_result r = HIL_OK;
    if (!hil__io_enter(&s->io)) return hil__closed(ch);
    if (s->remote_len) {
        to = s->remote;
        tl = s->remote_len;
    } else {
        hil_mutex_lock(&s->io.mu);
        to = s->last;
        tl = s->last_len;
        hil_mutex_unlock(&s->io.mu);
    }
    if (!tl) {
        hil__io_leave(&s->io);
        return hil_channel_error(ch, HIL_ERR_STATE, "nowhere to send: set host and port, or receive a datagram first "
                                 "(send answers the last sender)");
    }
    for (;;) {
        ssize_t n = sendto(s->fd, m->data, m->len, MSG_NOSIGNAL, (struct sockaddr*)&to, tl);
        short rev = 0;
        if (n >= 0) break;
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOBUFS) {
            int e = errno;
            hil__addr_str((struct sockaddr*)&to, where, sizeof where);
            r = hil_channel_error(ch, e == EMSGSIZE ? HIL_ERR_OVERFLOW : HIL_ERR_IO, "sendto %s: %s%s", where, strerror(e),
                                  e == EMSGSIZE ? " (a datagram carries at most 65507 bytes)" : hil__hint(e, 0));
            break;
        }
        r = hil__io_poll(&s->io, s->fd, POLLOUT, -1, deadline, 0, &rev, NULL);
        if (r == HIL_ERR_CLOSED) r = hil__closed(ch);
        if (r != HIL_OK) break;
    }
    hil__io_leave(&s->io);
    return r;
}

static int hil__udp_poll_fd(hil_channel* ch) { return ((hil__udp*)hil_channel_state(ch))->fd; }

static const hil_channel_type hil__udp_type = {
    "udp", "UDP datagrams", 0, sizeof(hil__udp), hil__udp_opts, hil__udp_configure, hil__udp_open, hil__udp_close,
    hil__udp_send, hil__udp_recv, hil__udp_poll_fd, hil__udp_destroy
};

/* ---- serial (libserialport) ------------------------------------------------------------------- */

typedef struct hil__serial {
    hil__io io;
    char* port;
    char* vid_pid;
    char* serial_number;
    char* description;
    hil_serial_settings want;
    int exclusive;
    int rts, dtr;          /* -1 keep, 0 off, 1 on */
    char dev[256];         /* the device opened */
    int fd;
#ifdef HIL__SP
    struct sp_port* sp;
#endif
} hil__serial;

#define HIL__OPT_RTS {"rts", HIL_OPT_CHOICE, "keep", "serial, rfc2217: the RTS line at open", "keep|on|off"}
#define HIL__OPT_DTR {"dtr", HIL_OPT_CHOICE, "keep", "serial, rfc2217: the DTR line at open", "keep|on|off"}

static const hil_channel_opt hil__serial_opts[] = {
    HIL__OPT_PORT,
    {"vid_pid", HIL_OPT_STRING, NULL, "serial: find the USB port by vendor:product id (0403:6001)", NULL},
    {"serial_number", HIL_OPT_STRING, NULL, "serial: find the USB port by its serial number", NULL},
    {"description", HIL_OPT_STRING, NULL, "serial: find the port whose description contains this text", NULL},
    HIL__OPT_BAUD, HIL__OPT_BITS, HIL__OPT_PARITY, HIL__OPT_STOP, HIL__OPT_FLOW,
    {"exclusive", HIL_OPT_BOOL, "true", "serial: keep other programs off the port while open (lock + TIOCEXCL)", NULL},
    HIL__OPT_RTS, HIL__OPT_DTR,
    {NULL, HIL_OPT_STRING, NULL, NULL, NULL}
};

static void hil__serial_destroy(hil_channel* ch) {
    hil__serial* s = (hil__serial*)hil_channel_state(ch);
    hil__io_destroy(&s->io);
    HIL_FREE(s->port);
    HIL_FREE(s->vid_pid);
    HIL_FREE(s->serial_number);
    HIL_FREE(s->description);
    s->port = s->vid_pid = s->serial_number = s->description = NULL;
}

static char* hil__opt_dup(hil_channel* ch, const char* key) {
    const char* v = hil_channel_opt_str(ch, key, NULL);
    return v && *v ? hil_strdup(v) : NULL;
}

static int hil__parse_vid_pid(const char* s, int* vid, int* pid) {
    unsigned v, p;
    char end;
    if (!s || sscanf(s, "%4x:%4x%c", &v, &p, &end) != 2) return 0;
    *vid = (int)v;
    *pid = (int)p;
    return 1;
}

static hil_result hil__rts_dtr_options(hil_channel* ch, int* rts, int* dtr) {
    int v;
    hil_result r = hil_channel_opt_choice(ch, "rts", "keep|on|off", "keep", &v);
    if (r != HIL_OK) return r;
    *rts = v == 0 ? -1 : v == 1;
    r = hil_channel_opt_choice(ch, "dtr", "keep|on|off", "keep", &v);
    if (r != HIL_OK) return r;
    *dtr = v == 0 ? -1 : v == 1;
    return HIL_OK;
}

static hil_result hil__serial_configure(hil_channel* ch) {
    hil__serial* s = (hil__serial*)hil_channel_state(ch);
    int vid, pid;
    hil_result r = hil__io_init(ch, &s->io);
    s->fd = -1;
    if (r == HIL_OK) r = hil__serial_options(ch, &s->want, 115200);
    if (r == HIL_OK) r = hil_channel_opt_bool(ch, "exclusive", 1, &s->exclusive);
    if (r == HIL_OK) r = hil__rts_dtr_options(ch, &s->rts, &s->dtr);
    if (r != HIL_OK) return r;
    s->port = hil__opt_dup(ch, "port");
    s->vid_pid = hil__opt_dup(ch, "vid_pid");
    s->serial_number = hil__opt_dup(ch, "serial_number");
    s->description = hil__opt_dup(ch, "description");
    if (!s->port && !s->vid_pid && !s->serial_number && !s->description)
        return hil_channel_error(ch, HIL_ERR_CONFIG,
                                 "no port: set connectors.%s.port (/dev/ttyUSB0), or vid_pid, serial_number or "
                                 "description to find it", hil_channel_name(ch));
    if (s->vid_pid && !hil__parse_vid_pid(s->vid_pid, &vid, &pid))
        return hil_channel_error(ch, HIL_ERR_CONFIG, "option vid_pid: '%s' is not VID:PID in hex (e.g. 0403:6001)",
                                 s->vid_pid);
    return HIL_OK;
}

#ifdef HIL__SP

static const char* hil__sp_err(enum sp_return r, char* buf, size_t size) {
    if (r == SP_ERR_FAIL) {
        char* m = sp_last_error_message();
        hil__sfmt(buf, size, "%s", m ? m : "failed");
        if (m) sp_free_error_message(m);
    } else {
        hil__sfmt(buf, size, "%s", r == SP_ERR_ARG ? "invalid argument" : r == SP_ERR_MEM ? "out of memory"
                                   : r == SP_ERR_SUPP ? "not supported" : "error");
    }
    return buf;
}

static void hil__sp_describe(struct sp_port* p, hil_strbuf* out) {
    const char* desc = sp_get_port_description(p);
    hil_sb_printf(out, "%s  %s", sp_get_port_name(p), desc ? desc : "");
    if (sp_get_port_transport(p) == SP_TRANSPORT_USB) {
        int vid = 0, pid = 0;
        const char* sn = sp_get_port_usb_serial(p);
        sp_get_port_usb_vid_pid(p, &vid, &pid);
        hil_sb_printf(out, "  %04x:%04x", vid, pid);
        if (sn) hil_sb_printf(out, "  serial %s", sn);
    }
}

HIL_API hil_result hil_serial_list_ports(hil_strbuf* out) {
    struct sp_port** list = NULL;
    char eb[256];
    size_t i;
    enum sp_return r = sp_list_ports(&list);
    if (r != SP_OK) return hil_error(HIL_ERR_IO, "listing serial ports: %s", hil__sp_err(r, eb, sizeof eb));
    for (i = 0; list[i]; i++) {
        hil__sp_describe(list[i], out);
        hil_sb_putc(out, '\n');
    }
    sp_free_port_list(list);
    return HIL_OK;
}

HIL_API hil_result hil_serial_find_port(const char* vid_pid, const char* serial_number, const char* description,
                                        char* out, size_t size) {
    struct sp_port** list = NULL;
    hil_strbuf all = {0, 0, 0, 0}, hits = {0, 0, 0, 0};
    char eb[256];
    int want_vid = -1, want_pid = -1, n = 0;
    size_t i;
    hil_result res;
    enum sp_return r;
    if (vid_pid && *vid_pid && !hil__parse_vid_pid(vid_pid, &want_vid, &want_pid))
        return hil_error(HIL_ERR_INVALID_ARG, "vid_pid '%s' is not VID:PID in hex (e.g. 0403:6001)", vid_pid);
    r = sp_list_ports(&list);
    if (r != SP_OK) return hil_error(HIL_ERR_IO, "listing serial ports: %s", hil__sp_err(r, eb, sizeof eb));
    for (i = 0; list[i]; i++) {
        struct sp_port* p = list[i];
        int usb = sp_get_port_transport(p) == SP_TRANSPORT_USB, vid = -1, pid = -1, ok = 1;
        const char* sn = usb ? sp_get_port_usb_serial(p) : NULL;
        const char* desc = sp_get_port_description(p);
        if (usb) sp_get_port_usb_vid_pid(p, &vid, &pid);
        hil_sb_puts(&all, all.len ? "; " : "");
        hil__sp_describe(p, &all);
        if (want_vid >= 0 && (vid != want_vid || pid != want_pid)) ok = 0;
        if (serial_number && *serial_number && (!sn || strcmp(sn, serial_number) != 0)) ok = 0;
        if (description && *description && (!desc || !strstr(desc, description))) ok = 0;
        if (!ok) continue;
        if (n++ == 0) hil__sfmt(out, size, "%s", sp_get_port_name(p));
        hil_sb_puts(&hits, hits.len ? "; " : "");
        hil__sp_describe(p, &hits);
    }
    sp_free_port_list(list);
    if (n == 1) res = HIL_OK;
    else if (n == 0)
        res = hil_error(HIL_ERR_NOT_FOUND, "no serial port matches%s%s%s%s%s%s (is it plugged in?); ports: %s",
                        vid_pid && *vid_pid ? " vid_pid=" : "", vid_pid && *vid_pid ? vid_pid : "",
                        serial_number && *serial_number ? " serial_number=" : "",
                        serial_number && *serial_number ? serial_number : "",
                        description && *description ? " description=" : "", description && *description ? description : "",
                        all.len ? hil_sb_cstr(&all) : "none");
    else
        res = hil_error(HIL_ERR_BUSY, "%d serial ports match: %s; add serial_number (or port) to choose one", n,
                        hil_sb_cstr(&hits));
    hil_sb_free(&all);
    hil_sb_free(&hits);
    return res;
}

/* libserialport sets speed, format and flow control but leaves the line
 * discipline's input and output processing as the tty had it: IXON would
 * swallow 0x11/0x13 bytes of binary data (and stop our output on an echoed
 * 0x13), ICRNL would turn 0x0d into 0x0a. A HIL channel carries bytes, so
 * everything but the chosen flow control goes. */
static hil_result hil__serial_make_raw(hil_channel* ch, hil__serial* s, int xonxoff) {
    struct termios t;
    if (tcgetattr(s->fd, &t) != 0)
        return hil_channel_error(ch, HIL_ERR_IO, "tcgetattr %s: %s", s->dev, strerror(errno));
    t.c_iflag &= ~(tcflag_t)(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IMAXBEL);
    if (!xonxoff) t.c_iflag &= ~(tcflag_t)(IXON | IXOFF | IXANY);
    t.c_oflag &= ~(tcflag_t)OPOST;
    t.c_lflag &= ~(tcflag_t)(ECHO | ECHONL | ICANON | ISIG | IEXTEN);
    t.c_cc[VMIN] = 1;
    t.c_cc[VTIME] = 0;
    if (tcsetattr(s->fd, TCSANOW, &t) != 0)
        return hil_channel_error(ch, HIL_ERR_IO, "tcsetattr %s: %s", s->dev, strerror(errno));
    return HIL_OK;
}

static hil_result hil__sp_apply(hil_channel* ch, hil__serial* s, const hil_serial_settings* st, int rts, int dtr) {
    struct sp_port_config* cfg = NULL;
    static const enum sp_parity par[] = {SP_PARITY_NONE, SP_PARITY_ODD, SP_PARITY_EVEN, SP_PARITY_MARK, SP_PARITY_SPACE};
    static const enum sp_flowcontrol flow[] = {SP_FLOWCONTROL_NONE, SP_FLOWCONTROL_XONXOFF, SP_FLOWCONTROL_RTSCTS,
                                               SP_FLOWCONTROL_DTRDSR};
    char eb[256];
    enum sp_return r = sp_new_config(&cfg);
    if (r == SP_OK) r = sp_get_config(s->sp, cfg);
    if (r == SP_OK && st->baudrate > 0) r = sp_set_config_baudrate(cfg, st->baudrate);
    if (r == SP_OK) r = sp_set_config_bits(cfg, st->data_bits);
    if (r == SP_OK) r = sp_set_config_parity(cfg, par[st->parity]);
    if (r == SP_OK) r = sp_set_config_stopbits(cfg, st->stop_bits);
    if (r == SP_OK) r = sp_set_config_flowcontrol(cfg, flow[st->flow_control]);
    if (r == SP_OK && rts >= 0 && st->flow_control != HIL_FLOW_RTSCTS)
        r = sp_set_config_rts(cfg, rts ? SP_RTS_ON : SP_RTS_OFF);
    if (r == SP_OK && dtr >= 0 && st->flow_control != HIL_FLOW_DTRDSR)
        r = sp_set_config_dtr(cfg, dtr ? SP_DTR_ON : SP_DTR_OFF);
    if (r == SP_OK) r = sp_set_config(s->sp, cfg);
    if (cfg) sp_free_config(cfg);
    if (r != SP_OK)
        return hil_channel_error(ch, HIL_ERR_IO, "setting %d baud, %d%c%d on %s: %s", st->baudrate, st->data_bits,
                                 "NOEMS"[st->parity], st->stop_bits, s->dev, hil__sp_err(r, eb, sizeof eb));
    return HIL_OK;
}

static hil_result hil__sp_read_settings(hil_channel* ch, hil__serial* s, hil_serial_settings* out) {
    struct sp_port_config* cfg = NULL;
    enum sp_parity p = SP_PARITY_NONE;
    enum sp_xonxoff x = SP_XONXOFF_DISABLED;
    enum sp_rts rts = SP_RTS_OFF;
    enum sp_dtr dtr = SP_DTR_OFF;
    char eb[256];
    enum sp_return r = sp_new_config(&cfg);
    memset(out, 0, sizeof *out);
    if (r == SP_OK) r = sp_get_config(s->sp, cfg);
    if (r == SP_OK) {
        sp_get_config_baudrate(cfg, &out->baudrate);
        sp_get_config_bits(cfg, &out->data_bits);
        sp_get_config_parity(cfg, &p);
        sp_get_config_stopbits(cfg, &out->stop_bits);
        sp_get_config_xon_xoff(cfg, &x);
        sp_get_config_rts(cfg, &rts);
        sp_get_config_dtr(cfg, &dtr);
        out->parity = p == SP_PARITY_ODD ? HIL_PARITY_ODD : p == SP_PARITY_EVEN ? HIL_PARITY_EVEN
                    : p == SP_PARITY_MARK ? HIL_PARITY_MARK : p == SP_PARITY_SPACE ? HIL_PARITY_SPACE : HIL_PARITY_NONE;
        out->flow_control = rts == SP_RTS_FLOW_CONTROL ? HIL_FLOW_RTSCTS : dtr == SP_DTR_FLOW_CONTROL ? HIL_FLOW_DTRDSR
                          : x != SP_XONXOFF_DISABLED ? HIL_FLOW_XONXOFF : HIL_FLOW_NONE;
    }
    if (cfg) sp_free_config(cfg);
    if (r != SP_OK) return hil_channel_error(ch, HIL_ERR_IO, "reading the settings of %s: %s", s->dev, hil__sp_err(r, eb, sizeof eb));
    return HIL_OK;
}

static hil_result hil__serial_open(hil_channel* ch) {
    hil__serial* s = (hil__serial*)hil_channel_state(ch);
    struct stat st;
    char eb[256];
    enum sp_return r;
    hil_result res;
    hil__io_reset(&s->io);
    s->fd = -1;
    s->sp = NULL;
    if (s->port) {
        hil__sfmt(s->dev, sizeof s->dev, "%s", s->port);
    } else {
        hil_result fr = hil_serial_find_port(s->vid_pid, s->serial_number, s->description, s->dev, sizeof s->dev);
        if (fr != HIL_OK) return hil_channel_error(ch, fr, "%s", hil_last_error());
    }
    if (stat(s->dev, &st) != 0) {
        int e = errno;
        return hil_channel_error(ch, e == ENOENT ? HIL_ERR_NOT_FOUND : HIL_ERR_IO, "%s: %s%s", s->dev, strerror(e),
                                 hil__hint(e, 1));
    }
    if (strncmp(s->dev, "/dev/pts/", 9) == 0 || strcmp(s->dev, "/dev/ptmx") == 0)
        return hil_channel_error(ch, HIL_ERR_UNSUPPORTED,
                                 "%s is a pseudo-terminal: libserialport opens real serial ports only (it looks them up "
                                 "in /sys/class/tty); for a simulator use the pty type", s->dev);
    r = sp_get_port_by_name(s->dev, &s->sp);
    if (r != SP_OK)
        return hil_channel_error(ch, HIL_ERR_NOT_FOUND,
                                 "libserialport does not know %s as a serial port (%s): is it a tty device?", s->dev,
                                 hil__sp_err(r, eb, sizeof eb));
    r = sp_open(s->sp, SP_MODE_READ_WRITE);
    if (r != SP_OK) {
        int e = sp_last_error_code();
        res = hil_channel_error(ch, e == EACCES || e == EPERM ? HIL_ERR_PERMISSION : e == EBUSY ? HIL_ERR_BUSY : HIL_ERR_IO,
                                "open %s: %s%s", s->dev, hil__sp_err(r, eb, sizeof eb), hil__hint(e, 1));
        sp_free_port(s->sp);
        s->sp = NULL;
        return res;
    }
    sp_get_port_handle(s->sp, &s->fd);
    if (s->exclusive) {
        if (flock(s->fd, LOCK_EX | LOCK_NB) != 0) {
            int e = errno;
            res = hil_channel_error(ch, HIL_ERR_BUSY, "%s is in use: another program holds its lock (%s); "
                                    "lsof %s shows which (exclusive=false shares the port)", s->dev, strerror(e), s->dev);
            sp_close(s->sp);
            sp_free_port(s->sp);
            s->sp = NULL;
            return res;
        }
#ifdef TIOCEXCL
        ioctl(s->fd, TIOCEXCL);
#endif
    }
    res = hil__sp_apply(ch, s, &s->want, s->rts, s->dtr);
    if (res == HIL_OK) res = hil__serial_make_raw(ch, s, s->want.flow_control == HIL_FLOW_XONXOFF);
    if (res != HIL_OK) {
        sp_close(s->sp);
        sp_free_port(s->sp);
        s->sp = NULL;
        return res;
    }
    hil_set_nonblocking(s->fd, 1);
    HIL_INFO(hil_channel_logger(ch), "serial '%s': %s at %d baud, %d%c%d", hil_channel_name(ch), s->dev,
             s->want.baudrate, s->want.data_bits, "NOEMS"[s->want.parity], s->want.stop_bits);
    return HIL_OK;
}

static void hil__serial_close(hil_channel* ch) {
    hil__serial* s = (hil__serial*)hil_channel_state(ch);
    hil__io_shutdown(&s->io);
    if (s->sp) {
#ifdef TIOCNXCL
        if (s->exclusive) ioctl(s->fd, TIOCNXCL);
#endif
        sp_close(s->sp); /* also drops the flock */
        sp_free_port(s->sp);
    }
    s->sp = NULL;
    s->fd = -1;
}

static hil_result hil__serial_recv(hil_channel* ch, hil_msg* m, int timeout_ms) {
    hil__serial* s = (hil__serial*)hil_channel_state(ch);
    uint64_t deadline = hil_deadline_ms(timeout_ms);
    hil_result r;
    if (!hil__io_enter(&s->io)) return hil__closed(ch);
    for (;;) {
        short rev = 0;
        int n;
        r = hil__io_poll(&s->io, s->fd, POLLIN, -1, deadline, timeout_ms == 0, &rev, NULL);
        if (r == HIL_ERR_CLOSED) r = hil__closed(ch);
        if (r != HIL_OK) break;
        n = (int)sp_nonblocking_read(s->sp, m->data, m->cap);
        if (n > 0) {
            m->len = (size_t)n;
            break;
        }
        if (n < 0 && (sp_last_error_code() == EAGAIN || sp_last_error_code() == EWOULDBLOCK)) continue;
        if (n == 0 && !(rev & (POLLHUP | POLLERR | POLLNVAL))) continue;
        r = hil_channel_error(ch, HIL_ERR_CLOSED, "read %s: %s (was the device unplugged?)", s->dev,
                              n < 0 ? strerror(sp_last_error_code()) : "hang-up");
        break;
    }
    hil__io_leave(&s->io);
    return r;
}

static hil_result hil__serial_send(hil_channel* ch, const hil_msg* m, int timeout_ms) {
    hil__serial* s = (hil__serial*)hil_channel_state(ch);
    uint64_t deadline = hil_deadline_ms(timeout_ms);
    size_t done = 0;
    hil_result r = HIL_OK;
    if (!hil__io_enter(&s->io)) return hil__closed(ch);
    while (done < m->len) {
        short rev = 0;
        int n = (int)sp_nonblocking_write(s->sp, (const char*)m->data + done, m->len - done);
        if (n > 0) {
            done += (size_t)n;
            continue;
        }
        /* libserialport 0.1.1 reports a full output buffer (EAGAIN) as an
         * error: that only means "wait until it drains" */
        if (n < 0 && (sp_last_error_code() == EAGAIN || sp_last_error_code() == EWOULDBLOCK)) n = 0;
        if (n < 0) {
            r = hil_channel_error(ch, HIL_ERR_IO, "write %s: %s (was the device unplugged?)", s->dev,
                                  strerror(sp_last_error_code()));
            break;
        }
        r = hil__io_poll(&s->io, s->fd, POLLOUT, -1, deadline, 0, &rev, NULL);
        if (r == HIL_ERR_CLOSED) r = hil__closed(ch);
        else if (r == HIL_ERR_TIMEOUT)
            r = hil_channel_error(ch, r, "%s does not drain: %zu of %zu bytes written in %d ms (flow control holding "
                                  "it?)", s->dev, done, m->len, timeout_ms);
        if (r != HIL_OK) break;
    }
    hil__io_leave(&s->io);
    return r;
}

static int hil__serial_poll_fd(hil_channel* ch) { return ((hil__serial*)hil_channel_state(ch))->fd; }

#else /* no libserialport */

static hil_result hil__no_libserialport(void) {
    return hil_error(HIL_ERR_MISSING_LIBRARY,
                     "this build has no libserialport: install it (apt-get install libserialport-dev) and rebuild "
                     "(the Makefile finds it with pkg-config and defines HIL_HAVE_LIBSERIALPORT)");
}

HIL_API hil_result hil_serial_list_ports(hil_strbuf* out) {
    (void)out;
    return hil__no_libserialport();
}

HIL_API hil_result hil_serial_find_port(const char* vid_pid, const char* serial_number, const char* description,
                                        char* out, size_t size) {
    (void)vid_pid;
    (void)serial_number;
    (void)description;
    if (size) out[0] = 0;
    return hil__no_libserialport();
}

static hil_result hil__serial_open(hil_channel* ch) {
    hil__no_libserialport();
    return hil_channel_error(ch, HIL_ERR_MISSING_LIBRARY, "%s", hil_last_error());
}

static void hil__serial_close(hil_channel* ch) { (void)ch; }

static hil_result hil__serial_recv(hil_channel* ch, hil_msg* m, int timeout_ms) {
    (void)m;
    (void)timeout_ms;
    return hil__closed(ch);
}

static hil_result hil__serial_send(hil_channel* ch, const hil_msg* m, int timeout_ms) {
    (void)m;
    (void)timeout_ms;
    return hil__closed(ch);
}

static int hil__serial_poll_fd(hil_channel* ch) {
    (void)ch;
    return -1;
}

#endif

static const hil_channel_type hil__serial_type = {
    "serial", "A local serial port through libserialport", 1, sizeof(hil__serial), hil__serial_opts,
    hil__serial_configure, hil__serial_open, hil__serial_close, hil__serial_send, hil__serial_recv,
    hil__serial_poll_fd, hil__serial_destroy
};

/* ---- remote serial: rfc2217 and ser2net ------------------------------------------------------------ */

#define HIL__TN_IAC 255u
#define HIL__TN_DONT 254u
#define HIL__TN_DO 253u
#define HIL__TN_WONT 252u
#define HIL__TN_WILL 251u
#define HIL__TN_SB 250u
#define HIL__TN_SE 240u
#define HIL__TN_BINARY 0u
#define HIL__TN_ECHO 1u
#define HIL__TN_SGA 3u
#define HIL__TN_COMPORT 44u

/* COM-PORT commands (client); the server answers with +100. */
#define HIL__CP_BAUD 1
#define HIL__CP_DATASIZE 2
#define HIL__CP_PARITY 3
#define HIL__CP_STOPSIZE 4
#define HIL__CP_CONTROL 5
#define HIL__CP_LINESTATE 6
#define HIL__CP_MODEMSTATE 7
#define HIL__CP_PURGE 12

typedef struct hil__rs {
    hil__io io;
    char* host;
    char* port;
    int telnet;               /* 1: RFC 2217; 0: raw TCP */
    long long timeout;        /* connect and each answer, ms */
    int nodelay;
    hil_serial_settings want;
    unsigned want_mask;       /* bits 1 << HIL__CP_*: settings configured */
    int rts, dtr;             /* -1 keep */
    int fd;
    int local_port;
    char where[80];
    /* telnet input state: owned by whoever holds `reading` */
    int tstate;
    unsigned char tcmd;
    unsigned char sb[64];
    size_t sb_len;
    unsigned char us[256], him[256]; /* options enabled on our side / the server's */
    /* under io.mu */
    int reading, writing;     /* a thread reads / writes the socket now */
    int dead;                 /* the connection ended */
    int com_port;             /* 1 the server does COM-PORT, -1 it refused */
    unsigned acks[13];        /* answers per COM-PORT command */
    unsigned last_control;    /* value of the last SET-CONTROL answer */
    hil_serial_settings have; /* as the server reported */
    int modemstate, linestate;
    hil_strbuf ctl;           /* telnet replies waiting for the writer */
    hil_strbuf pending;       /* data read by a control call, for recv */
    hil_waker pend;           /* readable while pending holds data */
    int pollset;              /* poll_fd: the socket and pend */
    hil_strbuf esc;           /* the writer's escaped copy */
} hil__rs;

static const hil_channel_opt hil__rfc2217_opts[] = {
    HIL__OPT_HOST, HIL__OPT_PORT, HIL__OPT_CONNECT_TIMEOUT, HIL__OPT_NODELAY,
    HIL__OPT_BAUD, HIL__OPT_BITS, HIL__OPT_PARITY, HIL__OPT_STOP, HIL__OPT_FLOW, HIL__OPT_RTS, HIL__OPT_DTR,
    {NULL, HIL_OPT_STRING, NULL, NULL, NULL}
};

static const hil_channel_opt hil__ser2net_opts[] = {
    HIL__OPT_HOST, HIL__OPT_PORT,
    {"protocol", HIL_OPT_CHOICE, "rfc2217",
     "ser2net: rfc2217 (telnet; the line is set from here) or raw (TCP; set in ser2net's config)", "rfc2217|raw"},
    HIL__OPT_CONNECT_TIMEOUT, HIL__OPT_NODELAY,
    HIL__OPT_BAUD, HIL__OPT_BITS, HIL__OPT_PARITY, HIL__OPT_STOP, HIL__OPT_FLOW, HIL__OPT_RTS, HIL__OPT_DTR,
    {NULL, HIL_OPT_STRING, NULL, NULL, NULL}
};

static void hil__rs_destroy(hil_channel* ch) {
    hil__rs* s = (hil__rs*)hil_channel_state(ch);
    hil__io_destroy(&s->io);
    hil_waker_destroy(&s->pend);
    HIL_FREE(s->host);
    HIL_FREE(s->port);
    hil_sb_free(&s->ctl);
    hil_sb_free(&s->pending);
    hil_sb_free(&s->esc);
    s->host = s->port = NULL;
}

static int hil__opt_is_set(hil_channel* ch, const char* key) { return hil__chopt_lookup(ch, key, NULL) != NULL; }

static hil_result hil__rs_configure(hil_channel* ch) {
    hil__rs* s = (hil__rs*)hil_channel_state(ch);
    const char* host = hil_channel_opt_str(ch, "host", NULL);
    const char* port = hil_channel_opt_str(ch, "port", NULL);
    int proto = 0;
    hil_result r;
    s->fd = s->pollset = s->pend.rfd = s->pend.wfd = -1;
    r = hil__io_init(ch, &s->io);
    if (r == HIL_OK && hil_waker_init(&s->pend) != HIL_OK) r = hil_channel_error(ch, HIL_ERR_IO, "%s", hil_last_error());
    if (r == HIL_OK && strcmp(ch->type->name, "rfc2217") != 0) r = hil_channel_opt_choice(ch, "protocol", "rfc2217|raw", "rfc2217", &proto);
    if (r == HIL_OK) r = hil__serial_options(ch, &s->want, 0);
    if (r == HIL_OK) r = hil__rts_dtr_options(ch, &s->rts, &s->dtr);
    if (r == HIL_OK) r = hil_channel_opt_int(ch, "connect_timeout_ms", 5000, &s->timeout);
    if (r == HIL_OK) r = hil_channel_opt_bool(ch, "nodelay", 1, &s->nodelay);
    if (r != HIL_OK) return r;
    s->telnet = proto == 0;
    if (!host || !*host || !port || !*port)
        return hil_channel_error(ch, HIL_ERR_CONFIG, "set connectors.%s.host and port (where the server listens)",
                                 hil_channel_name(ch));
    s->want_mask = 0;
    if (hil__opt_is_set(ch, "baudrate")) s->want_mask |= 1u << HIL__CP_BAUD;
    if (hil__opt_is_set(ch, "data_bits")) s->want_mask |= 1u << HIL__CP_DATASIZE;
    if (hil__opt_is_set(ch, "parity")) s->want_mask |= 1u << HIL__CP_PARITY;
    if (hil__opt_is_set(ch, "stop_bits")) s->want_mask |= 1u << HIL__CP_STOPSIZE;
    if (hil__opt_is_set(ch, "flow_control")) s->want_mask |= 1u << HIL__CP_CONTROL;
    if (!s->telnet && (s->want_mask || s->rts >= 0 || s->dtr >= 0))
        return hil_channel_error(ch, HIL_ERR_CONFIG,
                                 "protocol=raw carries no serial settings: set the line in ser2net's config (connector: "
                                 "serialdev,/dev/ttyUSB0,115200n81,local), or use protocol=rfc2217");
    if (s->timeout < 1 || s->timeout > 600000)
        return hil_channel_error(ch, HIL_ERR_CONFIG, "option connect_timeout_ms: must be 1..600000, got %lld", s->timeout);
    s->host = hil_strdup(host);
    s->port = hil_strdup(port);
    if (!s->host || !s->port) return hil_channel_error(ch, HIL_ERR_NO_MEMORY, "out of memory");
    return HIL_OK;
}

/* Queue telnet bytes for the server (replies, requests). The writer, or
 * whoever takes the socket next, sends them. Called with io.mu held. */
static void hil__rs_queue(hil__rs* s, const unsigned char* b, size_t n) { hil_sb_append(&s->ctl, b, n); }

static void hil__rs_option(hil__rs* s, unsigned char verb, unsigned char opt) {
    unsigned char b[3];
    b[0] = HIL__TN_IAC;
    b[1] = verb;
    b[2] = opt;
    hil__rs_queue(s, b, 3);
}

/* A negotiation from the server (io.mu held). We take binary mode and
 * suppress-go-ahead both ways, let the server echo if it insists (ser2net
 * never does), and do COM-PORT on our side; everything else is refused. */
static void hil__rs_negotiate(hil__rs* s, unsigned char verb, unsigned char opt) {
    int ours = opt == HIL__TN_BINARY || opt == HIL__TN_SGA || opt == HIL__TN_COMPORT;
    int theirs = opt == HIL__TN_BINARY || opt == HIL__TN_SGA || opt == HIL__TN_ECHO;
    switch (verb) {
    case HIL__TN_DO:
        if (ours) {
            if (!s->us[opt]) { s->us[opt] = 1; hil__rs_option(s, HIL__TN_WILL, opt); }
            if (opt == HIL__TN_COMPORT) s->com_port = 1;
        } else {
            hil__rs_option(s, HIL__TN_WONT, opt);
        }
        break;
    case HIL__TN_DONT:
        if (s->us[opt]) { s->us[opt] = 0; hil__rs_option(s, HIL__TN_WONT, opt); }
        if (opt == HIL__TN_COMPORT) s->com_port = -1;
        break;
    case HIL__TN_WILL:
        if (theirs) {
            if (!s->him[opt]) { s->him[opt] = 1; hil__rs_option(s, HIL__TN_DO, opt); }
        } else {
            hil__rs_option(s, HIL__TN_DONT, opt);
        }
        break;
    case HIL__TN_WONT:
        if (s->him[opt]) { s->him[opt] = 0; hil__rs_option(s, HIL__TN_DONT, opt); }
        break;
    default: break;
    }
}

/* A COM-PORT answer or notification (io.mu held). */
static void hil__rs_subneg(hil__rs* s) {
    unsigned cmd;
    const unsigned char* v = s->sb + 2;
    size_t vn = s->sb_len >= 2 ? s->sb_len - 2 : 0;
    if (s->sb_len < 2 || s->sb[0] != HIL__TN_COMPORT || s->sb[1] < 100) return;
    cmd = s->sb[1] - 100u;
    switch (cmd) {
    case HIL__CP_BAUD:
        if (vn >= 4) s->have.baudrate = (int)(((uint32_t)v[0] << 24) | ((uint32_t)v[1] << 16) | ((uint32_t)v[2] << 8) | v[3]);
        break;
    case HIL__CP_DATASIZE: if (vn >= 1) s->have.data_bits = v[0]; break;
    case HIL__CP_PARITY:
        if (vn >= 1 && v[0] >= 1 && v[0] <= 5) s->have.parity = (hil_parity)(v[0] - 1);
        break;
    case HIL__CP_STOPSIZE: if (vn >= 1) s->have.stop_bits = v[0] == 2 ? 2 : 1; break;
    case HIL__CP_CONTROL:
        if (vn >= 1) {
            s->last_control = v[0];
            if (v[0] == 1) s->have.flow_control = HIL_FLOW_NONE;
            else if (v[0] == 2) s->have.flow_control = HIL_FLOW_XONXOFF;
            else if (v[0] == 3) s->have.flow_control = HIL_FLOW_RTSCTS;
            else if (v[0] == 19) s->have.flow_control = HIL_FLOW_DTRDSR;
        }
        break;
    case HIL__CP_LINESTATE: if (vn >= 1) s->linestate = v[0]; break;
    case HIL__CP_MODEMSTATE: if (vn >= 1) s->modemstate = v[0]; break;
    default: break;
    }
    if (cmd < HIL__COUNTOF(s->acks)) s->acks[cmd]++;
}

/* Take the telnet commands out of received bytes, in place; returns how
 * many data bytes are left at the front of buf. */
static size_t hil__rs_telnet_in(hil__rs* s, unsigned char* buf, size_t n) {
    size_t i, k = 0;
    int changed = 0;
    for (i = 0; i < n; i++) {
        unsigned char b = buf[i];
        switch (s->tstate) {
        case 0: /* data */
            if (b == HIL__TN_IAC) s->tstate = 1;
            else buf[k++] = b;
            break;
        case 1: /* after IAC */
            if (b == HIL__TN_IAC) { buf[k++] = b; s->tstate = 0; }
            else if (b >= HIL__TN_WILL && b <= HIL__TN_DONT) { s->tcmd = b; s->tstate = 2; }
            else if (b == HIL__TN_SB) { s->sb_len = 0; s->tstate = 3; }
            else s->tstate = 0; /* NOP, GA, ...: nothing to do */
            break;
        case 2: /* the option of WILL/WONT/DO/DONT */
            hil_mutex_lock(&s->io.mu);
            hil__rs_negotiate(s, s->tcmd, b);
            hil_mutex_unlock(&s->io.mu);
            changed = 1;
            s->tstate = 0;
            break;
        case 3: /* subnegotiation */
            if (b == HIL__TN_IAC) s->tstate = 4;
            else if (s->sb_len < sizeof s->sb) s->sb[s->sb_len++] = b;
            break;
        case 4: /* IAC inside a subnegotiation */
            if (b == HIL__TN_IAC) {
                if (s->sb_len < sizeof s->sb) s->sb[s->sb_len++] = b;
                s->tstate = 3;
            } else {
                if (b == HIL__TN_SE) {
                    hil_mutex_lock(&s->io.mu);
                    hil__rs_subneg(s);
                    hil_mutex_unlock(&s->io.mu);
                    changed = 1;
                }
                s->tstate = 0;
            }
            break;
        default: s->tstate = 0; break;
        }
    }
    if (changed) {
        hil_mutex_lock(&s->io.mu);
        hil_cond_broadcast(&s->io.cv);
        hil_mutex_unlock(&s->io.mu);
    }
    return k;
}

/* Take the socket for writing (io.mu held on entry and exit): waits while
 * another thread writes. */
static hil_result hil__rs_take_write(hil_channel* ch, hil__rs* s, uint64_t deadline) {
    while (s->writing && !s->io.closing) {
        if (hil_cond_wait_until(&s->io.cv, &s->io.mu, deadline) == HIL_ERR_TIMEOUT && s->writing)
            return hil_channel_error(ch, HIL_ERR_TIMEOUT, "another thread's send to %s did not finish in time", s->where);
    }
    if (s->io.closing) return hil__closed(ch);
    s->writing = 1;
    return HIL_OK;
}

/* Send queued telnet bytes while we hold the write side (io.mu held; it is
 * released around the writes). */
static hil_result hil__rs_flush_ctl(hil_channel* ch, hil__rs* s, uint64_t deadline) {
    while (s->ctl.len) {
        hil_strbuf out = s->ctl;
        size_t done;
        int err;
        hil_result r;
        memset(&s->ctl, 0, sizeof s->ctl);
        hil_mutex_unlock(&s->io.mu);
        r = hil__io_write_all(&s->io, s->fd, 1, out.data, out.len, deadline, &done, &err);
        hil_sb_free(&out);
        hil_mutex_lock(&s->io.mu);
        if (r != HIL_OK)
            return r == HIL_ERR_CLOSED && !err ? hil__closed(ch)
                   : hil_channel_error(ch, r, "sending to %s: %s", s->where, err ? strerror(err) : "timed out");
    }
    return HIL_OK;
}

/* Send replies queued by the reader, if nobody else is writing now. */
static void hil__rs_kick(hil_channel* ch, hil__rs* s) {
    hil_mutex_lock(&s->io.mu);
    if (s->ctl.len && !s->writing && !s->io.closing) {
        s->writing = 1;
        hil__rs_flush_ctl(ch, s, hil_deadline_ms((int)s->timeout));
        s->writing = 0;
        hil_cond_broadcast(&s->io.cv);
    }
    hil_mutex_unlock(&s->io.mu);
}

/* Read what the socket has (waiting up to the deadline), take out telnet
 * commands; data goes to buf. The caller holds the `reading` role.
 * HIL_OK with *n data bytes (may be 0 after commands only). */
static hil_result hil__rs_read_some(hil_channel* ch, hil__rs* s, unsigned char* buf, size_t cap, uint64_t deadline,
                                    int nonblocking, size_t* n) {
    short rev = 0;
    ssize_t got;
    hil_result r = hil__io_poll(&s->io, s->fd, POLLIN, -1, deadline, nonblocking, &rev, NULL);
    *n = 0;
    if (r == HIL_ERR_CLOSED) return hil__closed(ch);
    if (r != HIL_OK) return r;
    got = recv(s->fd, buf, cap, 0);
    if (got < 0 && (errno == EINTR || errno == EAGAIN)) return HIL_OK;
    if (got <= 0) {
        int e = errno;
        hil_mutex_lock(&s->io.mu);
        s->dead = 1;
        hil_cond_broadcast(&s->io.cv);
        hil_mutex_unlock(&s->io.mu);
        return hil_channel_error(ch, HIL_ERR_CLOSED, "%s %s%s", s->where,
                                 got == 0 ? "closed the connection" : "connection failed: ", got == 0 ? "" : strerror(e));
    }
    *n = s->telnet ? hil__rs_telnet_in(s, buf, (size_t)got) : (size_t)got;
    if (s->telnet) hil__rs_kick(ch, s);
    return HIL_OK;
}

/* Wait until cond(s) holds, reading the socket ourselves when no receive is
 * running (its data is kept for the next receive). */
static hil_result hil__rs_wait_for(hil_channel* ch, hil__rs* s, int (*cond)(hil__rs*, unsigned), unsigned arg,
                                   uint64_t deadline, const char* what) {
    unsigned char buf[512];
    hil_result r = HIL_OK;
    hil_mutex_lock(&s->io.mu);
    while (!cond(s, arg)) {
        if (s->io.closing) { r = hil__closed(ch); break; }
        if (s->dead) { r = hil_channel_error(ch, HIL_ERR_CLOSED, "%s closed the connection", s->where); break; }
        if (!s->reading) {
            size_t n = 0;
            s->reading = 1;
            hil_mutex_unlock(&s->io.mu);
            r = hil__rs_read_some(ch, s, buf, sizeof buf, deadline, 0, &n);
            hil_mutex_lock(&s->io.mu);
            s->reading = 0;
            if (n) {
                hil_sb_append(&s->pending, buf, n);
                hil_waker_wake(&s->pend); /* a reader polling poll_fd learns of it */
            }
            hil_cond_broadcast(&s->io.cv);
            if (r != HIL_OK && r != HIL_ERR_TIMEOUT) break;
            if (r == HIL_ERR_TIMEOUT && !cond(s, arg)) break;
            r = HIL_OK;
        } else if (hil_cond_wait_until(&s->io.cv, &s->io.mu, deadline) == HIL_ERR_TIMEOUT && !cond(s, arg)) {
            r = HIL_ERR_TIMEOUT;
            break;
        }
    }
    hil_mutex_unlock(&s->io.mu);
    if (r == HIL_ERR_TIMEOUT)
        r = hil_channel_error(ch, HIL_ERR_TIMEOUT, "%s did not answer %s within %lld ms", s->where, what, s->timeout);
    return r;
}

static int hil__rs_comport_known(hil__rs* s, unsigned arg) {
    (void)arg;
    return s->com_port != 0;
}

static int hil__rs_acked(hil__rs* s, unsigned arg) { return s->acks[arg & 0xFFu] != (arg >> 8); }

/* Send raw bytes (telnet already applied) as the writer. */
static hil_result hil__rs_write(hil_channel* ch, hil__rs* s, const void* data, size_t len, uint64_t deadline,
                                int timeout_ms) {
    size_t done = 0;
    int err = 0, took;
    hil_result r;
    hil_mutex_lock(&s->io.mu);
    r = hil__rs_take_write(ch, s, deadline);
    took = r == HIL_OK;
    if (r == HIL_OK) r = hil__rs_flush_ctl(ch, s, deadline);
    if (r == HIL_OK) {
        hil_mutex_unlock(&s->io.mu);
        r = hil__io_write_all(&s->io, s->fd, 1, data, len, deadline, &done, &err);
        hil_mutex_lock(&s->io.mu);
        if (r == HIL_OK) r = hil__rs_flush_ctl(ch, s, deadline);
        else if (r == HIL_ERR_TIMEOUT)
            r = hil_channel_error(ch, r, "%s does not read: %zu of %zu bytes sent in %d ms", s->where, done, len,
                                  timeout_ms);
        else if (r == HIL_ERR_CLOSED && !err)
            r = hil__closed(ch);
        else
            r = hil_channel_error(ch, r, "send to %s: %s", s->where, strerror(err));
    }
    if (took) {
        s->writing = 0;
        hil_cond_broadcast(&s->io.cv);
    }
    hil_mutex_unlock(&s->io.mu);
    return r;
}

static const char* hil__cp_name(unsigned cmd) {
    switch (cmd) {
    case HIL__CP_BAUD: return "SET-BAUDRATE";
    case HIL__CP_DATASIZE: return "SET-DATASIZE";
    case HIL__CP_PARITY: return "SET-PARITY";
    case HIL__CP_STOPSIZE: return "SET-STOPSIZE";
    case HIL__CP_CONTROL: return "SET-CONTROL";
    case HIL__CP_PURGE: return "PURGE-DATA";
    default: return "COM-PORT";
    }
}

/* One COM-PORT command, waiting for the server's answer. */
static hil_result hil__rs_command(hil_channel* ch, hil__rs* s, unsigned cmd, uint32_t value, int value_bytes) {
    unsigned char b[16];
    size_t n = 0;
    int i;
    unsigned before;
    uint64_t deadline = hil_deadline_ms((int)s->timeout);
    hil_result r;
    b[n++] = HIL__TN_IAC;
    b[n++] = HIL__TN_SB;
    b[n++] = HIL__TN_COMPORT;
    b[n++] = (unsigned char)cmd;
    for (i = value_bytes - 1; i >= 0; i--) {
        unsigned char byte = (unsigned char)((value >> (8 * i)) & 0xFFu);
        b[n++] = byte;
        if (byte == HIL__TN_IAC) b[n++] = HIL__TN_IAC;
    }
    b[n++] = HIL__TN_IAC;
    b[n++] = HIL__TN_SE;
    hil_mutex_lock(&s->io.mu);
    before = s->acks[cmd];
    hil_mutex_unlock(&s->io.mu);
    r = hil__rs_write(ch, s, b, n, deadline, (int)s->timeout);
    if (r == HIL_OK) r = hil__rs_wait_for(ch, s, hil__rs_acked, cmd | (before << 8), deadline, hil__cp_name(cmd));
    return r;
}

static hil_result hil__rs_check_telnet(hil_channel* ch, hil__rs* s, const char* what) {
    if (!s->telnet)
        return hil_channel_error(ch, HIL_ERR_UNSUPPORTED,
                                 "%s: raw TCP carries no serial settings: set the line in ser2net's config, or use "
                                 "protocol=rfc2217", what);
    return HIL_OK;
}

/* Settings through COM-PORT commands; mask: which of them. */
static hil_result hil__rs_set(hil_channel* ch, hil__rs* s, const hil_serial_settings* st, unsigned mask) {
    static const unsigned flow_codes[] = {1, 2, 3, 19};
    hil_result r = HIL_OK;
    if (mask & (1u << HIL__CP_BAUD)) r = hil__rs_command(ch, s, HIL__CP_BAUD, (uint32_t)st->baudrate, 4);
    if (r == HIL_OK && (mask & (1u << HIL__CP_DATASIZE))) r = hil__rs_command(ch, s, HIL__CP_DATASIZE, (uint32_t)st->data_bits, 1);
    if (r == HIL_OK && (mask & (1u << HIL__CP_PARITY))) r = hil__rs_command(ch, s, HIL__CP_PARITY, (uint32_t)st->parity + 1, 1);
    if (r == HIL_OK && (mask & (1u << HIL__CP_STOPSIZE))) r = hil__rs_command(ch, s, HIL__CP_STOPSIZE, (uint32_t)st->stop_bits, 1);
    if (r == HIL_OK && (mask & (1u << HIL__CP_CONTROL))) {
        r = hil__rs_command(ch, s, HIL__CP_CONTROL, flow_codes[st->flow_control], 1);
        /* DTR/DSR: outbound DSR (19) above, inbound DTR (18) here */
        if (r == HIL_OK && st->flow_control == HIL_FLOW_DTRDSR) r = hil__rs_command(ch, s, HIL__CP_CONTROL, 18, 1);
    }
    if (r != HIL_OK) return r;
    hil_mutex_lock(&s->io.mu);
    if ((mask & (1u << HIL__CP_BAUD)) && s->have.baudrate != st->baudrate) {
        int got = s->have.baudrate;
        hil_mutex_unlock(&s->io.mu);
        return hil_channel_error(ch, HIL_ERR_UNSUPPORTED, "%s set %d baud, not the %d asked for: a rate the port "
                                 "cannot do?", s->where, got, st->baudrate);
    }
    hil_mutex_unlock(&s->io.mu);
    return HIL_OK;
}

static hil_result hil__rs_open(hil_channel* ch) {
    hil__rs* s = (hil__rs*)hil_channel_state(ch);
    uint64_t deadline = hil_deadline_ms((int)s->timeout);
    hil_result r;
    hil__io_reset(&s->io);
    s->fd = -1;
    s->tstate = 0;
    s->sb_len = 0;
    memset(s->us, 0, sizeof s->us);
    memset(s->him, 0, sizeof s->him);
    s->reading = s->writing = s->dead = s->com_port = 0;
    memset(s->acks, 0, sizeof s->acks);
    memset(&s->have, 0, sizeof s->have);
    hil_sb_clear(&s->ctl);
    hil_sb_clear(&s->pending);
    hil_waker_drain(&s->pend);
    r = hil__tcp_connect(ch, &s->io, s->host, s->port, (int)s->timeout, s->nodelay, &s->fd, s->where, sizeof s->where);
    if (r != HIL_OK) return r;
    s->local_port = hil__sock_port(s->fd);
    s->pollset = hil__pollset_create();
    hil__pollset_add(s->pollset, s->fd);
    hil__pollset_add(s->pollset, hil_waker_fd(&s->pend));
    if (s->telnet) {
        static const unsigned char hello[] = {
            HIL__TN_IAC, HIL__TN_WILL, HIL__TN_COMPORT, HIL__TN_IAC, HIL__TN_WILL, HIL__TN_BINARY,
            HIL__TN_IAC, HIL__TN_DO, HIL__TN_BINARY, HIL__TN_IAC, HIL__TN_WILL, HIL__TN_SGA,
            HIL__TN_IAC, HIL__TN_DO, HIL__TN_SGA};
        s->us[HIL__TN_COMPORT] = s->us[HIL__TN_BINARY] = s->us[HIL__TN_SGA] = 1;
        s->him[HIL__TN_BINARY] = s->him[HIL__TN_SGA] = 1;
        r = hil__rs_write(ch, s, hello, sizeof hello, deadline, (int)s->timeout);
        if (r == HIL_OK) r = hil__rs_wait_for(ch, s, hil__rs_comport_known, 0, deadline, "the RFC 2217 negotiation");
        if (r == HIL_OK && s->com_port < 0)
            r = hil_channel_error(ch, HIL_ERR_PROTOCOL, "%s refused the COM-PORT option (RFC 2217)", s->where);
        if (r == HIL_ERR_TIMEOUT || r == HIL_ERR_PROTOCOL) {
            char msg[600];
            hil__sfmt(msg, sizeof msg, "%s", hil_last_error());
            r = hil_error(r, "%s: is it an RFC 2217 server (ser2net: accepter: telnet(rfc2217),tcp,%s)? For a raw TCP "
                          "port use type ser2net with protocol=raw", msg, s->port);
        }
        if (r == HIL_OK) {
            /* ask for what is not set, so hil_serial_get_settings() knows the line */
            unsigned unset = ((1u << HIL__CP_BAUD) | (1u << HIL__CP_DATASIZE) | (1u << HIL__CP_PARITY) |
                              (1u << HIL__CP_STOPSIZE)) & ~s->want_mask;
            r = hil__rs_set(ch, s, &s->want, s->want_mask);
            /* a value of 0 on the wire asks for the current one */
            if (r == HIL_OK && (unset & (1u << HIL__CP_BAUD))) r = hil__rs_command(ch, s, HIL__CP_BAUD, 0, 4);
            if (r == HIL_OK && (unset & (1u << HIL__CP_DATASIZE))) r = hil__rs_command(ch, s, HIL__CP_DATASIZE, 0, 1);
            if (r == HIL_OK && (unset & (1u << HIL__CP_PARITY))) r = hil__rs_command(ch, s, HIL__CP_PARITY, 0, 1);
            if (r == HIL_OK && (unset & (1u << HIL__CP_STOPSIZE))) r = hil__rs_command(ch, s, HIL__CP_STOPSIZE, 0, 1);
            if (r == HIL_OK && s->rts >= 0) r = hil__rs_command(ch, s, HIL__CP_CONTROL, s->rts ? 11 : 12, 1);
            if (r == HIL_OK && s->dtr >= 0) r = hil__rs_command(ch, s, HIL__CP_CONTROL, s->dtr ? 8 : 9, 1);
        }
    }
    if (r != HIL_OK && s->pending.len) {
        /* ser2net explains a refusal in plain text ("Port already in use") */
        char said[120], msg[700];
        size_t i, k = 0;
        for (i = 0; i < s->pending.len && k + 1 < sizeof said; i++) {
            unsigned char c = (unsigned char)s->pending.data[i];
            if (c >= 0x20 && c < 0x7F) said[k++] = (char)c;
            else if (k && said[k - 1] != ' ') said[k++] = ' ';
        }
        while (k && said[k - 1] == ' ') k--;
        said[k] = 0;
        hil__sfmt(msg, sizeof msg, "%s", hil_last_error());
        if (k)
            r = hil_error(r, "%s; the server said: '%s'%s", msg, said,
                          strstr(said, "in use") ? " (another client is connected, or the last one is still closing)" : "");
    }
    if (r != HIL_OK) {
        hil__io_shutdown(&s->io);
        hil__close_fd(&s->pollset);
        hil__close_fd(&s->fd);
        return r;
    }
    if (s->telnet)
        HIL_INFO(hil_channel_logger(ch), "%s '%s': connected to %s (RFC 2217), %d baud %d%c%d", ch->type->name,
                 hil_channel_name(ch), s->where, s->have.baudrate, s->have.data_bits, "NOEMS"[s->have.parity],
                 s->have.stop_bits);
    else
        HIL_INFO(hil_channel_logger(ch), "%s '%s': connected to %s (raw TCP)", ch->type->name, hil_channel_name(ch),
                 s->where);
    return HIL_OK;
}

static void hil__rs_close(hil_channel* ch) {
    hil__rs* s = (hil__rs*)hil_channel_state(ch);
    hil__io_shutdown(&s->io);
    hil__close_fd(&s->pollset);
    hil__close_fd(&s->fd);
    s->local_port = -1;
}

static hil_result hil__rs_recv(hil_channel* ch, hil_msg* m, int timeout_ms) {
    hil__rs* s = (hil__rs*)hil_channel_state(ch);
    uint64_t deadline = hil_deadline_ms(timeout_ms);
    hil_result r = HIL_OK;
    if (!hil__io_enter(&s->io)) return hil__closed(ch);
    hil_mutex_lock(&s->io.mu);
    for (;;) {
        if (s->pending.len) {
            size_t n = s->pending.len < m->cap ? s->pending.len : m->cap;
            memcpy(m->data, s->pending.data, n);
            memmove(s->pending.data, s->pending.data + n, s->pending.len - n);
            s->pending.len -= n;
            if (!s->pending.len) hil_waker_drain(&s->pend);
            m->len = n;
            hil_mutex_unlock(&s->io.mu);
            hil__io_leave(&s->io);
            return HIL_OK;
        }
        if (s->dead) {
            hil_mutex_unlock(&s->io.mu);
            hil__io_leave(&s->io);
            return hil_channel_error(ch, HIL_ERR_CLOSED, "%s closed the connection", s->where);
        }
        if (!s->reading) break;
        /* a control call is reading for its answer: wait for it */
        if (timeout_ms == 0 || hil_cond_wait_until(&s->io.cv, &s->io.mu, deadline) == HIL_ERR_TIMEOUT) {
            if (!s->reading) continue;
            hil_mutex_unlock(&s->io.mu);
            hil__io_leave(&s->io);
            return timeout_ms == 0 ? HIL_ERR_AGAIN : HIL_ERR_TIMEOUT;
        }
        if (s->io.closing) {
            hil_mutex_unlock(&s->io.mu);
            hil__io_leave(&s->io);
            return hil__closed(ch);
        }
    }
    s->reading = 1;
    hil_mutex_unlock(&s->io.mu);
    for (;;) {
        size_t n = 0;
        r = hil__rs_read_some(ch, s, (unsigned char*)m->data, m->cap, deadline, timeout_ms == 0, &n);
        if (r != HIL_OK) break;
        if (n) {
            m->len = n;
            break;
        }
        if (timeout_ms == 0) {
            r = HIL_ERR_AGAIN;
            break;
        }
    }
    hil_mutex_lock(&s->io.mu);
    s->reading = 0;
    hil_cond_broadcast(&s->io.cv);
    hil_mutex_unlock(&s->io.mu);
    hil__io_leave(&s->io);
    return r;
}

static hil_result hil__rs_send(hil_channel* ch, const hil_msg* m, int timeout_ms) {
    hil__rs* s = (hil__rs*)hil_channel_state(ch);
    const void* data = m->data;
    size_t len = m->len;
    hil_result r;
    if (!hil__io_enter(&s->io)) return hil__closed(ch);
    if (s->telnet && memchr(m->data, HIL__TN_IAC, m->len)) {
        /* 0xFF in the data is sent twice (IAC IAC) */
        const unsigned char* p = (const unsigned char*)m->data;
        size_t i;
        hil_sb_clear(&s->esc);
        for (i = 0; i < m->len; i++) {
            hil_sb_putc(&s->esc, (char)p[i]);
            if (p[i] == HIL__TN_IAC) hil_sb_putc(&s->esc, (char)p[i]);
        }
        if (s->esc.failed) {
            hil__io_leave(&s->io);
            return hil_channel_error(ch, HIL_ERR_NO_MEMORY, "out of memory");
        }
        data = s->esc.data;
        len = s->esc.len;
    }
    r = hil__rs_write(ch, s, data, len, hil_deadline_ms(timeout_ms), timeout_ms);
    if (s->esc.cap > 65536) hil_sb_free(&s->esc);
    hil__io_leave(&s->io);
    return r;
}

static int hil__rs_poll_fd(hil_channel* ch) {
    hil__rs* s = (hil__rs*)hil_channel_state(ch);
    return s->pollset >= 0 ? s->pollset : s->fd;
}

static const hil_channel_type hil__rfc2217_type = {
    "rfc2217", "A remote serial port over telnet with the COM-PORT option (RFC 2217)", 1, sizeof(hil__rs),
    hil__rfc2217_opts, hil__rs_configure, hil__rs_open, hil__rs_close, hil__rs_send, hil__rs_recv, hil__rs_poll_fd,
    hil__rs_destroy
};

static const hil_channel_type hil__ser2net_type = {
    "ser2net", "A serial port served by ser2net: RFC 2217 (default) or raw TCP", 1, sizeof(hil__rs), hil__ser2net_opts,
    hil__rs_configure, hil__rs_open, hil__rs_close, hil__rs_send, hil__rs_recv, hil__rs_poll_fd, hil__rs_destroy
};

/* ---- serial line control, whatever carries the line -------------------------------------- */

enum { HIL__LINE_PTY = 1, HIL__LINE_SERIAL, HIL__LINE_REMOTE };

static int hil__line_kind(hil_channel* ch) {
    if (!ch || !ch->type) return 0;
    if (ch->type == &hil__pty_type) return HIL__LINE_PTY;
    if (ch->type == &hil__serial_type) return HIL__LINE_SERIAL;
    if (ch->type == &hil__rfc2217_type || ch->type == &hil__ser2net_type) return HIL__LINE_REMOTE;
    return 0;
}

/* The line's kind, after checking the channel has one and is open; the
 * caller leaves the io with hil__line_leave. */
static hil_result hil__line_enter(hil_channel* ch, const char* what, int* kind) {
    hil__io* io;
    *kind = hil__line_kind(ch);
    if (!*kind) {
        if (!ch) return hil_error(HIL_ERR_INVALID_ARG, "%s: no channel", what);
        return hil_channel_error(ch, HIL_ERR_UNSUPPORTED, "%s: only serial, pty, rfc2217 and ser2net channels have a "
                                 "serial line", what);
    }
    if (!hil_channel_is_open(ch)) return hil_channel_error(ch, HIL_ERR_STATE, "%s: the channel is not open", what);
    io = (hil__io*)hil_channel_state(ch); /* every line type starts with its hil__io */
    if (!hil__io_enter(io)) return hil__closed(ch);
    if (*kind == HIL__LINE_REMOTE) {
        hil_result r = hil__rs_check_telnet(ch, (hil__rs*)hil_channel_state(ch), what);
        if (r != HIL_OK) {
            hil__io_leave(io);
            return r;
        }
    }
#ifndef HIL__SP
    if (*kind == HIL__LINE_SERIAL) {
        hil__io_leave(io);
        return hil_channel_error(ch, HIL_ERR_MISSING_LIBRARY, "%s", (hil__no_libserialport(), hil_last_error()));
    }
#endif
    return HIL_OK;
}

static void hil__line_leave(hil_channel* ch) { hil__io_leave((hil__io*)hil_channel_state(ch)); }

HIL_API hil_result hil_serial_get_settings(hil_channel* ch, hil_serial_settings* out) {
    int kind;
    hil_result r = hil__line_enter(ch, "serial settings", &kind);
    if (r != HIL_OK) return r;
    if (kind == HIL__LINE_PTY) {
        hil__pty* s = (hil__pty*)hil_channel_state(ch);
        r = hil__termios_read(ch, s->slave, out, s->path);
    } else if (kind == HIL__LINE_REMOTE) {
        hil__rs* s = (hil__rs*)hil_channel_state(ch);
        hil_mutex_lock(&s->io.mu);
        *out = s->have;
        hil_mutex_unlock(&s->io.mu);
    }
#ifdef HIL__SP
    else {
        r = hil__sp_read_settings(ch, (hil__serial*)hil_channel_state(ch), out);
    }
#endif
    hil__line_leave(ch);
    return r;
}

HIL_API hil_result hil_serial_apply(hil_channel* ch, const hil_serial_settings* st) {
    int kind;
    hil_result r;
    if (st->data_bits < 5 || st->data_bits > 8 || st->stop_bits < 1 || st->stop_bits > 2 || st->baudrate < 0 ||
        (int)st->parity < 0 || st->parity > HIL_PARITY_SPACE || (int)st->flow_control < 0 ||
        st->flow_control > HIL_FLOW_DTRDSR)
        return hil_error(HIL_ERR_INVALID_ARG, "serial settings: data_bits 5..8, stop_bits 1 or 2, a known parity and "
                         "flow control, baudrate >= 0");
    r = hil__line_enter(ch, "serial settings", &kind);
    if (r != HIL_OK) return r;
    if (kind == HIL__LINE_PTY) {
        hil__pty* s = (hil__pty*)hil_channel_state(ch);
        if (st->data_bits != 8 || st->parity != HIL_PARITY_NONE)
            r = hil_channel_error(ch, HIL_ERR_UNSUPPORTED,
                                  "a pty always has 8 data bits and no parity (the kernel resets them)");
        else
            r = hil__termios_apply(ch, s->slave, st, s->path);
    } else if (kind == HIL__LINE_REMOTE) {
        unsigned mask = (1u << HIL__CP_DATASIZE) | (1u << HIL__CP_PARITY) | (1u << HIL__CP_STOPSIZE) |
                        (1u << HIL__CP_CONTROL);
        if (st->baudrate > 0) mask |= 1u << HIL__CP_BAUD;
        r = hil__rs_set(ch, (hil__rs*)hil_channel_state(ch), st, mask);
    }
#ifdef HIL__SP
    else {
        hil__serial* sp = (hil__serial*)hil_channel_state(ch);
        r = hil__sp_apply(ch, sp, st, -1, -1);
        if (r == HIL_OK) r = hil__serial_make_raw(ch, sp, st->flow_control == HIL_FLOW_XONXOFF);
    }
#endif
    hil__line_leave(ch);
    return r;
}

HIL_API hil_result hil_serial_set_baudrate(hil_channel* ch, int baudrate) {
    int kind;
    hil_result r;
    if (baudrate <= 0) return hil_error(HIL_ERR_INVALID_ARG, "serial: baudrate must be positive, not %d", baudrate);
    r = hil__line_enter(ch, "baudrate", &kind);
    if (r != HIL_OK) return r;
    if (kind == HIL__LINE_REMOTE) {
        hil_serial_settings st;
        memset(&st, 0, sizeof st);
        st.baudrate = baudrate;
        r = hil__rs_set(ch, (hil__rs*)hil_channel_state(ch), &st, 1u << HIL__CP_BAUD);
        hil__line_leave(ch);
        return r;
    }
    hil__line_leave(ch);
    {
        hil_serial_settings st;
        r = hil_serial_get_settings(ch, &st);
        if (r != HIL_OK) return r;
        st.baudrate = baudrate;
        return hil_serial_apply(ch, &st);
    }
}

static hil_result hil__line_signal(hil_channel* ch, const char* name, int rts, int on) {
    int kind;
    hil_result r = hil__line_enter(ch, name, &kind);
    if (r != HIL_OK) return r;
    if (kind == HIL__LINE_PTY) {
        r = hil_channel_error(ch, HIL_ERR_UNSUPPORTED, "a pty has no %s line", name);
    } else if (kind == HIL__LINE_REMOTE) {
        r = hil__rs_command(ch, (hil__rs*)hil_channel_state(ch), HIL__CP_CONTROL,
                            rts ? (on ? 11u : 12u) : (on ? 8u : 9u), 1);
    }
#ifdef HIL__SP
    else {
        hil__serial* s = (hil__serial*)hil_channel_state(ch);
        char eb[256];
        enum sp_return sr = rts ? sp_set_rts(s->sp, on ? SP_RTS_ON : SP_RTS_OFF)
                                : sp_set_dtr(s->sp, on ? SP_DTR_ON : SP_DTR_OFF);
        if (sr != SP_OK) r = hil_channel_error(ch, HIL_ERR_IO, "%s %s on %s: %s", name, on ? "on" : "off", s->dev,
                                               hil__sp_err(sr, eb, sizeof eb));
    }
#endif
    hil__line_leave(ch);
    return r;
}

HIL_API hil_result hil_serial_set_rts(hil_channel* ch, int on) { return hil__line_signal(ch, "RTS", 1, on); }
HIL_API hil_result hil_serial_set_dtr(hil_channel* ch, int on) { return hil__line_signal(ch, "DTR", 0, on); }

HIL_API hil_result hil_serial_send_break(hil_channel* ch, int duration_ms) {
    int kind;
    hil_result r;
    hil__io* io;
    if (duration_ms < 0) return hil_error(HIL_ERR_INVALID_ARG, "break: duration_ms must be >= 0");
    r = hil__line_enter(ch, "break", &kind);
    if (r != HIL_OK) return r;
    io = (hil__io*)hil_channel_state(ch);
    if (kind == HIL__LINE_PTY) {
        r = hil_channel_error(ch, HIL_ERR_UNSUPPORTED, "a pty cannot send a break");
    } else if (kind == HIL__LINE_REMOTE) {
        hil__rs* s = (hil__rs*)hil_channel_state(ch);
        r = hil__rs_command(ch, s, HIL__CP_CONTROL, 5, 1);
        /* hold it; close() cuts the wait short */
        if (r == HIL_OK && hil_wait_readable(hil_waker_fd(&io->wake), duration_ms) == HIL_OK) r = hil__closed(ch);
        if (r == HIL_OK) r = hil__rs_command(ch, s, HIL__CP_CONTROL, 6, 1);
    }
#ifdef HIL__SP
    else {
        hil__serial* s = (hil__serial*)hil_channel_state(ch);
        char eb[256];
        enum sp_return sr = sp_start_break(s->sp);
        if (sr == SP_OK) {
            if (hil_wait_readable(hil_waker_fd(&io->wake), duration_ms) == HIL_OK) r = hil__closed(ch);
            sr = sp_end_break(s->sp);
        }
        if (sr != SP_OK && r == HIL_OK)
            r = hil_channel_error(ch, HIL_ERR_IO, "break on %s: %s", s->dev, hil__sp_err(sr, eb, sizeof eb));
    }
#endif
    hil__line_leave(ch);
    return r;
}

HIL_API hil_result hil_serial_flush(hil_channel* ch, int which) {
    int kind;
    hil_result r = hil__line_enter(ch, "flush", &kind);
    if (r != HIL_OK) return r;
    if (which & HIL_FLUSH_INPUT) hil_channel_flush_input(ch);
    if (kind == HIL__LINE_PTY) {
        hil__pty* s = (hil__pty*)hil_channel_state(ch);
        int q = (which & HIL_FLUSH_INPUT) && (which & HIL_FLUSH_OUTPUT) ? TCIOFLUSH
                : (which & HIL_FLUSH_INPUT) ? TCIFLUSH : TCOFLUSH;
        if (which & (HIL_FLUSH_INPUT | HIL_FLUSH_OUTPUT)) tcflush(s->master, q);
    } else if (kind == HIL__LINE_REMOTE) {
        hil__rs* s = (hil__rs*)hil_channel_state(ch);
        unsigned what = ((which & HIL_FLUSH_INPUT) ? 1u : 0u) | ((which & HIL_FLUSH_OUTPUT) ? 2u : 0u);
        if (which & HIL_FLUSH_INPUT) {
            hil_mutex_lock(&s->io.mu);
            hil_sb_clear(&s->pending);
            hil_waker_drain(&s->pend);
            hil_mutex_unlock(&s->io.mu);
        }
        if (what) r = hil__rs_command(ch, s, HIL__CP_PURGE, what, 1);
    }
#ifdef HIL__SP
    else {
        hil__serial* s = (hil__serial*)hil_channel_state(ch);
        char eb[256];
        enum sp_return sr = sp_flush(s->sp, (which & HIL_FLUSH_INPUT) && (which & HIL_FLUSH_OUTPUT) ? SP_BUF_BOTH
                                            : (which & HIL_FLUSH_INPUT) ? SP_BUF_INPUT : SP_BUF_OUTPUT);
        if (sr != SP_OK) r = hil_channel_error(ch, HIL_ERR_IO, "flush %s: %s", s->dev, hil__sp_err(sr, eb, sizeof eb));
    }
#endif
    hil__line_leave(ch);
    return r;
}

HIL_API int hil_channel_local_port(hil_channel* ch) {
    int port = -1;
    if (!ch || !hil_channel_is_open(ch)) return -1;
    if (ch->type == &hil__tcp_type) {
        hil__tcp* s = (hil__tcp*)hil_channel_state(ch);
        port = s->server ? s->local_port : hil__sock_port(s->cfd);
    } else if (ch->type == &hil__udp_type) {
        port = ((hil__udp*)hil_channel_state(ch))->local;
    } else if (ch->type == &hil__rfc2217_type || ch->type == &hil__ser2net_type) {
        port = ((hil__rs*)hil_channel_state(ch))->local_port;
    }
    return port;
}

/* ---- flashers ------------------------------------------------------------------------------ */

struct hil_flasher {
    const hil_flasher_type* type;
    char* name;
    char* prefix;            /* "flashers.<name>." */
    char* logger;            /* "hil.flash.<name>" */
    hil_config* cfg;
    hil_config* own_cfg;
    void* state;
    hil_strbuf output;
};

static const hil_flasher_type* hil__fltypes[32];
static size_t hil__n_fltypes;

static const hil_channel_opt hil__flasher_common_opts[] = {
    {"type", HIL_OPT_STRING, NULL, "The flasher type of flasher <name> (command, or one registered by code)", NULL},
    {NULL, HIL_OPT_STRING, NULL, NULL, NULL}
};

static size_t hil__flasher_types(const char** out, size_t max) {
    size_t i;
    for (i = 0; i < hil__n_fltypes && i < max; i++) out[i] = hil__fltypes[i]->name;
    return hil__n_fltypes;
}

static hil_result hil__flashers_check_types(hil_ext_ctx* ctx) {
    hil__register_builtin_channel_types(); /* and flasher types */
    return hil__check_entity_types(ctx->config, "flashers", "flasher", hil__flasher_types);
}

static void hil__fltype_options(const hil_flasher_type* t) {
    static hil_extension* ext;
    if (!ext) {
        ext = hil_extension_declare("flashers", HIL_EXT_FRAMEWORK, NULL);
        if (!ext) return;
        ext->description = "Flashers put firmware on devices: flashers.<name>.type and each type's options";
        ext->load_order = HIL__TYPE_CHECK_ORDER;
        ext->initialize = hil__flashers_check_types;
        hil__declare_type_options(ext, "flashers", hil__flasher_common_opts);
    }
    hil__declare_type_options(ext, "flashers", t->opts);
}

HIL_API hil_result hil_flasher_type_register(const hil_flasher_type* t) {
    size_t i;
    if (!t || !t->name || !t->flash) return hil_error(HIL_ERR_INVALID_ARG, "flasher type: name and flash are required");
    for (i = 0; i < hil__n_fltypes; i++) {
        if (hil__fltypes[i] == t) return HIL_OK;
        if (strcmp(hil__fltypes[i]->name, t->name) == 0)
            return hil_error(HIL_ERR_EXISTS, "flasher type '%s' is registered twice", t->name);
    }
    if (hil__n_fltypes == HIL__COUNTOF(hil__fltypes))
        return hil_error(HIL_ERR_OVERFLOW, "too many flasher types (at most 32)");
    hil__fltypes[hil__n_fltypes++] = t;
    hil__fltype_options(t);
    return HIL_OK;
}

HIL_API const hil_flasher_type* hil_flasher_type_find(const char* name) {
    size_t i;
    hil__register_builtin_channel_types(); /* and flasher types */
    for (i = 0; name && i < hil__n_fltypes; i++)
        if (strcmp(hil__fltypes[i]->name, name) == 0) return hil__fltypes[i];
    return NULL;
}

HIL_API void hil_flasher_config_init(hil_flasher_config* c) { memset(c, 0, sizeof *c); }

HIL_API hil_result hil_flasher_error(hil_flasher* f, hil_result r, const char* fmt, ...) {
    char msg[900];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return hil_error(r, "flasher '%s': %s", f->name, msg);
}

static const char* hil__flopt_lookup(hil_flasher* f, const char* key, const char** source) {
    char k[512];
    hil_config_value v;
    snprintf(k, sizeof k, "%s%s", f->prefix, key);
    if (hil_config_lookup(f->cfg, k, &v) && v.count) {
        if (source) *source = v.source;
        return v.value;
    }
    if (f->own_cfg && f->cfg == f->own_cfg && hil_config_lookup(hil_cfg(), k, &v) && v.count) {
        if (source) *source = v.source;
        return v.value;
    }
    return NULL;
}

HIL_API const char* hil_flasher_opt_str(hil_flasher* f, const char* key, const char* fallback) {
    const char* v = hil__flopt_lookup(f, key, NULL);
    const hil_channel_opt* o;
    if (v) return v;
    o = hil__chopt_in(f->type ? f->type->opts : NULL, key);
    return o && o->default_value ? o->default_value : fallback;
}

HIL_API hil_result hil_flasher_opt_int(hil_flasher* f, const char* key, long long fallback, long long* out) {
    const char* v = hil_flasher_opt_str(f, key, NULL);
    char* end;
    *out = fallback;
    if (!v || !*v) return HIL_OK;
    errno = 0;
    *out = strtoll(v, &end, 0);
    if (errno || *end) return hil_flasher_error(f, HIL_ERR_CONFIG, "option %s: expected an integer, got '%s'", key, v);
    return HIL_OK;
}

typedef struct hil__flkeys { hil_flasher* f; size_t plen; hil_strbuf bad; int n; } hil__flkeys;

static void hil__flkeys_visit(const char* key, const hil_config_value* v, void* user) {
    hil__flkeys* st = (hil__flkeys*)user;
    const char* name = key + st->plen;
    if (strncmp(key, st->f->prefix, st->plen) != 0 || !v->count) return;
    if (hil__chopt_in(hil__flasher_common_opts, name) || hil__chopt_in(st->f->type->opts, name)) return;
    hil_sb_printf(&st->bad, "%s%s (%s)", st->n++ ? ", " : "", key, v->source);
}

/* Unknown keys and values of the wrong kind stop the run at create. */
static hil_result hil__flasher_check(hil_flasher* f) {
    hil__flkeys st;
    size_t i;
    hil_result r = HIL_OK;
    memset(&st, 0, sizeof st);
    st.f = f;
    st.plen = strlen(f->prefix);
    hil_config_foreach(f->cfg, hil__flkeys_visit, &st);
    if (st.n) {
        hil_strbuf known = {0, 0, 0, 0};
        hil_sb_puts(&known, "type");
        for (i = 0; f->type->opts && f->type->opts[i].name; i++) hil_sb_printf(&known, ", %s", f->type->opts[i].name);
        r = hil_flasher_error(f, HIL_ERR_CONFIG, "not an option of type '%s': %s; its options are: %s", f->type->name,
                              hil_sb_cstr(&st.bad), hil_sb_cstr(&known));
        hil_sb_free(&known);
    }
    hil_sb_free(&st.bad);
    for (i = 0; r == HIL_OK && f->type->opts && f->type->opts[i].name; i++) {
        const hil_channel_opt* o = &f->type->opts[i];
        const char* src = "";
        const char* v = hil__flopt_lookup(f, o->name, &src);
        char* end;
        int b;
        if (!v || !*v) continue;
        if (o->type == HIL_OPT_INT) {
            errno = 0;
            (void)strtoll(v, &end, 0);
            if (errno || *end)
                r = hil_flasher_error(f, HIL_ERR_CONFIG, "option %s: expected an integer, got '%s' (%s)", o->name, v, src);
        } else if (o->type == HIL_OPT_BOOL && !hil__parse_bool_word(v, &b)) {
            r = hil_flasher_error(f, HIL_ERR_CONFIG, "option %s: expected true or false, got '%s' (%s)", o->name, v, src);
        } else if (o->type == HIL_OPT_CHOICE && hil__choice_index(o->choices, v) < 0) {
            r = hil_flasher_error(f, HIL_ERR_CONFIG, "option %s: '%s' is not allowed; expected one of %s (%s)", o->name,
                                  v, o->choices, src);
        }
    }
    return r;
}

static void hil__flasher_free(hil_flasher* f) {
    if (!f) return;
    if (f->own_cfg) hil_config_destroy(f->own_cfg);
    hil_sb_free(&f->output);
    HIL_FREE(f->state);
    HIL_FREE(f->logger);
    HIL_FREE(f->prefix);
    HIL_FREE(f->name);
    HIL_FREE(f);
}

HIL_API hil_result hil_flasher_create(const hil_flasher_config* c, hil_flasher** out) {
    hil_flasher* f;
    const char* tname;
    hil_result r = HIL_OK;
    size_t n, i;
    *out = NULL;
    if (!c || !c->name || !*c->name) return hil_error(HIL_ERR_INVALID_ARG, "flasher: no name given");
    f = (hil_flasher*)hil__calloc(1, sizeof *f);
    if (!f) return hil_error(HIL_ERR_NO_MEMORY, "flasher '%s': out of memory", c->name);
    n = strlen(c->name) + 12;
    f->name = hil_strdup(c->name);
    f->prefix = (char*)HIL_MALLOC(n);
    f->logger = (char*)HIL_MALLOC(n);
    if (!f->name || !f->prefix || !f->logger) {
        hil__flasher_free(f);
        return hil_error(HIL_ERR_NO_MEMORY, "out of memory");
    }
    snprintf(f->prefix, n, "flashers.%s.", c->name);
    snprintf(f->logger, n, "hil.flash.%s", c->name);
    f->cfg = c->config ? c->config : hil_cfg();
    if (c->options) {
        r = hil_config_create(&f->own_cfg);
        for (i = 0; r == HIL_OK && c->options[i]; i++) {
            const char* eq = strchr(c->options[i], '=');
            char key[512];
            if (!eq) {
                r = hil_error(HIL_ERR_INVALID_ARG, "flasher '%s': option '%s' is not key=value", c->name, c->options[i]);
                break;
            }
            snprintf(key, sizeof key, "%s%.*s", f->prefix, (int)(eq - c->options[i]), c->options[i]);
            r = hil_config_set(f->own_cfg, key, eq + 1, HIL_PRIO_CLI, "hil_flasher_create");
        }
        f->cfg = f->own_cfg;
        if (r != HIL_OK) {
            hil__flasher_free(f);
            return r;
        }
    }
    tname = c->type ? c->type : hil__flopt_lookup(f, "type", NULL);
    if (!tname) {
        r = hil_error(HIL_ERR_CONFIG, "flasher '%s': no type: set flashers.%s.type (command, or a registered type)",
                      c->name, c->name);
        hil__flasher_free(f);
        return r;
    }
    f->type = hil_flasher_type_find(tname);
    if (!f->type) {
        const char* names[HIL__COUNTOF(hil__fltypes)];
        for (i = 0; i < hil__n_fltypes; i++) names[i] = hil__fltypes[i]->name;
        r = hil__unknown_type("flasher", c->name, tname, names, hil__n_fltypes);
        hil__flasher_free(f);
        return r;
    }
    if (f->type->state_size && !(f->state = hil__calloc(1, f->type->state_size))) {
        hil__flasher_free(f);
        return hil_error(HIL_ERR_NO_MEMORY, "out of memory");
    }
    r = hil__flasher_check(f);
    if (r == HIL_OK && f->type->configure) {
        r = f->type->configure(f);
        if (r != HIL_OK && f->type->destroy) f->type->destroy(f);
    }
    if (r != HIL_OK) {
        hil__flasher_free(f);
        return r;
    }
    *out = f;
    return HIL_OK;
}

HIL_API hil_result hil_flasher_from_config(const char* name, hil_flasher** out) {
    hil_flasher_config c;
    hil_flasher_config_init(&c);
    c.name = name;
    return hil_flasher_create(&c, out);
}

HIL_API hil_result hil_flasher_flash(hil_flasher* f, const char* image, int timeout_ms) {
    uint64_t t0 = hil_now_ns();
    hil_result r;
    hil_sb_clear(&f->output);
    HIL_INFO(f->logger, "flasher '%s': flashing %s", f->name, image ? image : "(no image)");
    r = f->type->flash(f, image, timeout_ms);
    if (r == HIL_OK)
        HIL_INFO(f->logger, "flasher '%s': flashed %s in %.1f s", f->name, image ? image : "", (hil_now_ns() - t0) / 1e9);
    else
        HIL_INFO(f->logger, "%s", hil_last_error()); /* the caller gets it as the result too */
    return r;
}

HIL_API const char* hil_flasher_output(const hil_flasher* f) { return hil_sb_cstr(&f->output); }
HIL_API const char* hil_flasher_name(const hil_flasher* f) { return f->name; }
HIL_API void* hil_flasher_state(hil_flasher* f) { return f->state; }

HIL_API void hil_flasher_add_output(hil_flasher* f, const char* text, size_t len) {
    const size_t keep = 65536;
    hil_sb_append(&f->output, text, len);
    if (f->output.len > 2 * keep) { /* only the end matters for a message */
        memmove(f->output.data, f->output.data + f->output.len - keep, keep);
        f->output.len = keep;
        f->output.data[keep] = 0;
    }
}

HIL_API void hil_flasher_destroy(hil_flasher* f) {
    if (!f) return;
    if (f->type && f->type->destroy) f->type->destroy(f);
    hil__flasher_free(f);
}

/* ---- the command flasher ---- */

typedef struct hil__cmdflash {
    char** argv;      /* the template */
    char** env;
    char* cwd;
    long long timeout_ms;
    char* fail_pattern;
    char* success_pattern;
} hil__cmdflash;

static const hil_channel_opt hil__cmdflash_opts[] = {
    {"command", HIL_OPT_STRING, NULL,
     "command flasher: the program and its arguments ({image}, {name} replaced), split like a shell would (no shell)",
     NULL},
    {"timeout_ms", HIL_OPT_INT, "120000", "command flasher: longest the job may take; then it is killed", NULL},
    {"cwd", HIL_OPT_PATH, NULL, "command flasher: working directory of the program", NULL},
    {"env", HIL_OPT_STRING, NULL, "command flasher: extra environment, KEY=VALUE words", NULL},
    {"fail_pattern", HIL_OPT_STRING, NULL,
     "command flasher: output text that means failure even with exit status 0 (several: a|b)", NULL},
    {"success_pattern", HIL_OPT_STRING, NULL, "command flasher: output text that must appear (Verified OK)", NULL},
    {NULL, HIL_OPT_STRING, NULL, NULL, NULL}
};

static void hil__cmdflash_destroy(hil_flasher* f) {
    hil__cmdflash* s = (hil__cmdflash*)hil_flasher_state(f);
    hil__words_free(s->argv);
    hil__words_free(s->env);
    HIL_FREE(s->cwd);
    HIL_FREE(s->fail_pattern);
    HIL_FREE(s->success_pattern);
    memset(s, 0, sizeof *s);
}

static hil_result hil__cmdflash_configure(hil_flasher* f) {
    hil__cmdflash* s = (hil__cmdflash*)hil_flasher_state(f);
    const char* cmd = hil_flasher_opt_str(f, "command", NULL);
    const char* v;
    size_t n = 0, i;
    hil_result r;
    if (!cmd || !*cmd)
        return hil_flasher_error(f, HIL_ERR_CONFIG, "no command: set flashers.%s.command (e.g. st-flash write {image} "
                                 "0x8000000)", f->name);
    if (hil__split_words(cmd, &s->argv, &n) != HIL_OK || n == 0)
        return hil_flasher_error(f, HIL_ERR_CONFIG, "option command: %s", n == 0 && s->argv ? "no words" : hil_last_error());
    if (hil__split_words(hil_flasher_opt_str(f, "env", ""), &s->env, NULL) != HIL_OK)
        return hil_flasher_error(f, HIL_ERR_CONFIG, "option env: %s", hil_last_error());
    for (i = 0; s->env[i]; i++)
        if (!strchr(s->env[i], '=') || s->env[i][0] == '=')
            return hil_flasher_error(f, HIL_ERR_CONFIG, "option env: '%s' is not KEY=VALUE", s->env[i]);
    r = hil_flasher_opt_int(f, "timeout_ms", 120000, &s->timeout_ms);
    if (r != HIL_OK) return r;
    if (s->timeout_ms < 1 || s->timeout_ms > 24LL * 3600 * 1000)
        return hil_flasher_error(f, HIL_ERR_CONFIG, "option timeout_ms: must be 1..86400000, got %lld", s->timeout_ms);
    if ((v = hil_flasher_opt_str(f, "cwd", NULL)) && *v) s->cwd = hil_strdup(v);
    if ((v = hil_flasher_opt_str(f, "fail_pattern", NULL)) && *v) s->fail_pattern = hil_strdup(v);
    if ((v = hil_flasher_opt_str(f, "success_pattern", NULL)) && *v) s->success_pattern = hil_strdup(v);
    return HIL_OK;
}

/* word with every {image} and {name} replaced */
static char* hil__expand_word(const char* w, const char* image, const char* name) {
    hil_strbuf sb = {0, 0, 0, 0};
    while (*w) {
        if (strncmp(w, "{image}", 7) == 0) { hil_sb_puts(&sb, image); w += 7; }
        else if (strncmp(w, "{name}", 6) == 0) { hil_sb_puts(&sb, name); w += 6; }
        else hil_sb_putc(&sb, *w++);
    }
    return hil_sb_take(&sb);
}

/* The last lines of the output, for a message. */
HIL__SHARED void hil__last_lines(const char* text, int lines, char* out, size_t size) {
    size_t n = strlen(text);
    const char* p;
    int seen = 0;
    while (n && (text[n - 1] == '\n' || text[n - 1] == '\r')) n--;
    p = text + n;
    while (p > text) {
        if (p[-1] == '\n' && ++seen == lines) break;
        p--;
    }
    hil__sfmt(out, size, "%.*s", (int)(text + n - p), p);
    {
        char* c;
        for (c = out; *c; c++)
            if (*c == '\n') *c = '|';
            else if (*c == '\r') *c = ' ';
    }
}

/* The first of the '|'-separated patterns found in text. */
static const char* hil__find_pattern(const char* text, const char* patterns, char* hit, size_t size) {
    const char* p = patterns;
    while (p && *p) {
        size_t len = strcspn(p, "|");
        if (len && len < size) {
            memcpy(hit, p, len);
            hit[len] = 0;
            if (strstr(text, hit)) return hit;
        }
        p += len + (p[len] == '|');
    }
    return NULL;
}

static hil_result hil__cmdflash_flash(hil_flasher* f, const char* image, int timeout_ms) {
    hil__cmdflash* s = (hil__cmdflash*)hil_flasher_state(f);
    size_t n = 0, i;
    char** argv;
    hil_proc_config pc;
    hil_proc p;
    hil_result r = HIL_OK;
    uint64_t t0 = hil_now_ns(), deadline;
    char line[1024];
    size_t have = 0;
    int timed_out = 0, interrupted = 0;
    struct stat st;
    hil_waker* intr = hil_interrupt_waker();
    if (timeout_ms < 0) timeout_ms = (int)s->timeout_ms;
    deadline = hil_deadline_ms(timeout_ms);
    if (image && stat(image, &st) != 0)
        return hil_flasher_error(f, HIL_ERR_NOT_FOUND, "image %s: %s", image, strerror(errno));
    while (s->argv[n]) n++;
    argv = (char**)hil__calloc(n + 1, sizeof *argv);
    if (!argv) return hil_flasher_error(f, HIL_ERR_NO_MEMORY, "out of memory");
    for (i = 0; i < n; i++)
        if (!(argv[i] = hil__expand_word(s->argv[i], image ? image : "", f->name))) r = HIL_ERR_NO_MEMORY;
    if (r != HIL_OK) {
        hil__words_free(argv);
        return hil_flasher_error(f, r, "out of memory");
    }
    hil_proc_config_init(&pc);
    pc.argv = (const char* const*)argv;
    pc.env = (const char* const*)s->env;
    pc.cwd = s->cwd;
    pc.pipe_stdout = 1;
    pc.stderr_to_stdout = 1;
    pc.new_process_group = 1;
    pc.die_with_parent = 1;
    r = hil_proc_spawn(&p, &pc);
    if (r != HIL_OK) {
        r = hil_flasher_error(f, r, "%s", hil_last_error());
        hil__words_free(argv);
        return r;
    }
    hil_track_child_group(p.pid, 1);
    HIL_DEBUG(f->logger, "flasher '%s': running %s (pid %d)", f->name, argv[0], p.pid);
    /* its output, line by line into the log, until it closes or time is up */
    for (;;) {
        struct pollfd pf[2];
        nfds_t np = 1;
        int rc;
        ssize_t got;
        pf[0].fd = p.stdout_fd;
        pf[0].events = POLLIN;
        pf[0].revents = 0;
        if (intr) {
            pf[1].fd = hil_waker_fd(intr);
            pf[1].events = POLLIN;
            pf[1].revents = 0;
            np = 2;
        }
        rc = poll(pf, np, hil_deadline_left_ms(deadline));
        if (rc < 0 && errno == EINTR) continue;
        if (rc == 0) { timed_out = 1; break; }
        if (np == 2 && pf[1].revents) { interrupted = 1; break; }
        got = read(p.stdout_fd, line + have, sizeof line - 1 - have);
        if (got < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (got <= 0) break;
        hil_flasher_add_output(f, line + have, (size_t)got);
        have += (size_t)got;
        for (;;) {
            char* nl = (char*)memchr(line, '\n', have);
            size_t len;
            if (!nl && have < sizeof line - 1) break;
            len = nl ? (size_t)(nl - line) : have;
            if (len && line[len - 1] == '\r') len--;
            hil_log_at(HIL_LOG_INFO, __FILE__, __LINE__, f->logger, "%.*s", (int)len, line);
            len = nl ? (size_t)(nl - line) + 1 : have;
            memmove(line, line + len, have - len);
            have -= len;
        }
    }
    if (have) hil_log_at(HIL_LOG_INFO, __FILE__, __LINE__, f->logger, "%.*s", (int)have, line);
    if (!timed_out && !interrupted && hil_proc_wait(&p, hil_deadline_left_ms(deadline)) == HIL_ERR_TIMEOUT) timed_out = 1;
    if (timed_out || interrupted) hil_proc_terminate(&p, 1000);
    else hil_proc_terminate(&p, 0); /* what it left in its group */
    hil_track_child_group(p.pid, 0);
    {
        char how[128], last[400], hit[128];
        double secs = (hil_now_ns() - t0) / 1e9;
        const char* out = hil_flasher_output(f);
        hil_proc_status_str(p.status, how, sizeof how);
        hil__last_lines(out, 3, last, sizeof last);
        if (timed_out)
            r = hil_flasher_error(f, HIL_ERR_TIMEOUT, "'%s' did not finish within %d ms and was killed; last output: %s",
                                  argv[0], timeout_ms, last[0] ? last : "(none)");
        else if (interrupted)
            r = hil_flasher_error(f, HIL_ERR_INTERRUPTED, "interrupted: '%s' was stopped after %.1f s", argv[0], secs);
        else if (WIFSIGNALED(p.status))
            r = hil_flasher_error(f, HIL_ERR_CRASHED, "'%s' was %s after %.1f s; last output: %s", argv[0], how, secs,
                                  last[0] ? last : "(none)");
        else if (!WIFEXITED(p.status) || WEXITSTATUS(p.status) != 0)
            r = hil_flasher_error(f, HIL_ERR_IO, "'%s' %s after %.1f s; last output: %s", argv[0], how, secs,
                                  last[0] ? last : "(none)");
        else if (s->fail_pattern && hil__find_pattern(out, s->fail_pattern, hit, sizeof hit))
            r = hil_flasher_error(f, HIL_ERR_IO, "'%s' exited with status 0 but its output contains '%s' (fail_pattern); "
                                  "last output: %s", argv[0], hit, last);
        else if (s->success_pattern && !strstr(out, s->success_pattern))
            r = hil_flasher_error(f, HIL_ERR_IO, "'%s' exited with status 0 but '%s' (success_pattern) is not in its "
                                  "output; last output: %s", argv[0], s->success_pattern, last[0] ? last : "(none)");
        else
            r = HIL_OK;
    }
    hil_proc_close(&p);
    hil__words_free(argv);
    return r;
}

static const hil_flasher_type hil__cmdflash_type = {
    "command", "Runs a flashing program (openocd, st-flash, JLinkExe, picotool, esptool...) with {image} in its argv",
    sizeof(hil__cmdflash), hil__cmdflash_opts, hil__cmdflash_configure, hil__cmdflash_flash, hil__cmdflash_destroy
};

#ifndef HIL_NO_CAN
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
    /* Short error frames: missing bytes read as 0. A remote (RTR) frame
     * carries no data at all: its len is the length it asks for, not what
     * the buffer holds. */
    if (!d || m->len < 8 || (m->flags & HIL_MSG_RTR)) {
        if (d && !(m->flags & HIL_MSG_RTR)) memcpy(z, d, m->len);
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
        /* The kernel reports errors as classic frames of 8 bytes: an error
         * id in CAN FD form would parse into a frame nothing can send or
         * print back (hil__can_check refuses it). */
        if (m->flags & HIL_MSG_ERROR)
            return hil_error(HIL_ERR_INVALID_ARG,
                             "CAN frame '%s': an error frame (id bit 20000000) is a classic frame; '##' (CAN FD) is not allowed", text);
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
    for (p = s; *p; p++) if (*p == ',' || *p == ' ') cap++; /* both separate filters */
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

/* ---- one CAN socket's life cycle: what socketcan and isotp share ------------------------ */

/* Both channels hold one AF_CAN socket on one interface, and both let a
 * reader thread race close(): send/recv run between hil__io_enter and
 * hil__io_leave (the guard every OS-backed channel uses), and close waits
 * until they have left before the descriptor goes (a new socket could get
 * its number). A fix here reaches both channels. */
typedef struct hil__cansock {
    char ifname[16];          /* IFNAMSIZ */
    int fd;                   /* -1 when closed; changed under io.mu */
    int mtu;                  /* the interface's: CAN_MTU (16) or CANFD_MTU (72) */
    hil__io io;               /* users/closing guard and close's waker, from configure to destroy */
} hil__cansock;

/* The option interface, shared by both channel types; the first step of
 * configure, which also marks the socket closed (fd -1) until open. */
static hil_result hil__cansock_configure(hil_channel* ch, hil__cansock* cs) {
    const char* v = hil_channel_opt_str(ch, "interface", NULL);
    cs->fd = -1;
    if (!v || !*v)
        return hil_channel_error(ch, HIL_ERR_CONFIG, "no interface: set connectors.%s.interface (can0, vcan0)",
                                 hil_channel_name(ch));
    if (strlen(v) >= sizeof cs->ifname)
        return hil_channel_error(ch, HIL_ERR_CONFIG, "option interface: '%s' is longer than 15 characters", v);
    snprintf(cs->ifname, sizeof cs->ifname, "%.15s", v);
    return HIL_OK;
}

/* The last step of configure: nothing after it can fail, so destroy is the
 * only one to undo it. */
static hil_result hil__cansock_sync_init(hil_channel* ch, hil__cansock* cs) {
    return hil__io_init(ch, &cs->io);
}

static void hil__cansock_destroy(hil__cansock* cs) {
    hil__io_destroy(&cs->io);
}

#ifdef HIL__HAVE_LINUX_CAN

/* What differs between the two sockets: a table, so the open sequence,
 * its error texts and the descriptor's cleanup exist once. */
typedef struct hil__cansock_kind {
    int type, protocol;                  /* socket(PF_CAN, type, protocol) */
    const char* call;                    /* "socket(PF_CAN, SOCK_RAW, CAN_RAW)", for messages */
    const char* what;                    /* "CAN_RAW", "ISO-TP": what the kernel may lack */
    const char* module;                  /* its module: can-raw, can-isotp */
    const char* module_note;             /* after "sudo modprobe <module>" */
    const char* socket_name;             /* "CAN socket", "ISO-TP socket" */
    /* after the interface lookup, before the up check (may start the interface); NULL: none */
    hil_result (*prepare)(hil_channel* ch);
    /* the socket's options, and addr->can_addr for bind; the interface's MTU is in cs->mtu by then */
    hil_result (*setup)(hil_channel* ch, const struct hil__cansock_kind* k, int fd, struct sockaddr_can* addr);
} hil__cansock_kind;

static hil_result hil__cansock_sockopt(hil_channel* ch, const hil__cansock_kind* k, int fd, int level, int opt,
                                       const void* v, socklen_t len, const char* what) {
    int e;
    if (setsockopt(fd, level, opt, v, len) == 0) return HIL_OK;
    e = errno;
    /* a protocol option this kernel's module does not know yet */
    if (level != SOL_SOCKET && (e == ENOPROTOOPT || e == EINVAL))
        return hil_channel_error(ch, HIL_ERR_UNSUPPORTED, "setting %s on the %s: %s: this kernel's %s does not take "
                                 "it (a newer kernel does; or leave the option out)", what, k->socket_name,
                                 strerror(e), k->module);
    return hil_channel_error(ch, HIL_ERR_IO, "setting %s on the %s: %s", what, k->socket_name, strerror(e));
}

static hil_result hil__cansock_socket_error(hil_channel* ch, const hil__cansock_kind* k, int e) {
    if (e == EAFNOSUPPORT)
        return hil_channel_error(ch, HIL_ERR_UNSUPPORTED, "the kernel has no SocketCAN (AF_CAN): %s: %s; load the "
                                 "modules (sudo modprobe can %s; vcan for a virtual bus) or run in the VM bench: "
                                 "make test-vm", k->call, strerror(e), k->module);
    if (e == EPROTONOSUPPORT || e == ESOCKTNOSUPPORT || e == EINVAL)
        return hil_channel_error(ch, HIL_ERR_UNSUPPORTED, "the kernel has SocketCAN but no %s: %s: %s; load the "
                                 "module: sudo modprobe %s%s", k->what, k->call, strerror(e), k->module,
                                 k->module_note);
    return hil_channel_error(ch, e == EPERM || e == EACCES ? HIL_ERR_PERMISSION : HIL_ERR_IO, "%s: %s", k->call,
                             strerror(e));
}

static hil_result hil__cansock_bind(hil_channel* ch, const hil__cansock* cs, int fd, const struct sockaddr_can* a) {
    int e;
    if (bind(fd, (const struct sockaddr*)a, sizeof *a) == 0) return HIL_OK;
    e = errno;
    if (e == ENODEV)
        return hil_channel_error(ch, HIL_ERR_CONFIG, "bind to %s: %s: it is not a CAN interface", cs->ifname,
                                 strerror(e));
    /* only an ISO-TP address carries ids: the kernel refuses a pair it cannot use */
    if ((e == EADDRNOTAVAIL || e == EINVAL) && (a->can_addr.tp.tx_id || a->can_addr.tp.rx_id))
        return hil_channel_error(ch, HIL_ERR_CONFIG, "bind to %s with tx_id %X, rx_id %X: %s (the kernel refuses "
                                 "these ids)", cs->ifname, (unsigned)(a->can_addr.tp.tx_id & CAN_EFF_MASK),
                                 (unsigned)(a->can_addr.tp.rx_id & CAN_EFF_MASK), strerror(e));
    return hil_channel_error(ch, HIL_ERR_IO, "bind to %s: %s", cs->ifname, strerror(e));
}

/* socket, interface lookup, up check, the kind's options, bind, nonblocking;
 * every failure closes the socket here. On success the socket is published
 * under the mutex and send/recv may enter. */
static hil_result hil__cansock_open(hil_channel* ch, hil__cansock* cs, const hil__cansock_kind* k) {
    struct sockaddr_can addr;
    struct ifreq ifr;
    unsigned idx;
    int fd;
    hil_result r;
    fd = socket(PF_CAN, k->type | SOCK_CLOEXEC, k->protocol);
    if (fd < 0) return hil__cansock_socket_error(ch, k, errno);
    idx = if_nametoindex(cs->ifname);
    if (!idx) {
        r = hil_channel_error(ch, HIL_ERR_NOT_FOUND, "no network interface '%s' (ip -br link show type can lists "
                              "the CAN interfaces; a virtual one: sudo ip link add dev vcan0 type vcan && sudo ip "
                              "link set vcan0 up)", cs->ifname);
        goto fail;
    }
    if (k->prepare && (r = k->prepare(ch)) != HIL_OK) goto fail;
    memset(&ifr, 0, sizeof ifr);
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%.15s", cs->ifname);
    if (ioctl(fd, SIOCGIFFLAGS, &ifr) == 0 && !(ifr.ifr_flags & IFF_UP)) {
        r = hil_channel_error(ch, HIL_ERR_STATE, "interface %s is down: bring it up first (sudo ip link set %s up "
                              "type can bitrate 500000; vcan: sudo ip link set %s up), or let hil start it: "
                              "state=up or bitrate=... on a socketcan channel (libsocketcan), or hil_can_start",
                              cs->ifname, cs->ifname, cs->ifname);
        goto fail;
    }
    cs->mtu = ioctl(fd, SIOCGIFMTU, &ifr) == 0 ? ifr.ifr_mtu : (int)CAN_MTU;
    memset(&addr, 0, sizeof addr);
    addr.can_family = AF_CAN;
    addr.can_ifindex = (int)idx;
    if ((r = k->setup(ch, k, fd, &addr)) != HIL_OK) goto fail;
    if ((r = hil__cansock_bind(ch, cs, fd, &addr)) != HIL_OK) goto fail;
    if ((r = hil_set_nonblocking(fd, 1)) != HIL_OK) goto fail;
    hil_mutex_lock(&cs->io.mu);
    cs->fd = fd;
    hil_mutex_unlock(&cs->io.mu);
    hil__io_reset(&cs->io);
    return HIL_OK;
fail:
    close(fd);
    return r;
}

/* After hil__io_shutdown no thread is inside send or recv any more. */
static void hil__cansock_close(hil__cansock* cs) {
    int fd;
    hil__io_shutdown(&cs->io);
    hil_mutex_lock(&cs->io.mu);
    fd = cs->fd;
    cs->fd = -1;
    hil_mutex_unlock(&cs->io.mu);
    if (fd >= 0) close(fd);
}

/* Under the mutex: a thread asking for the descriptor (hil_channel_wait)
 * may race close(), which sets it to -1. */
static int hil__cansock_poll_fd(hil__cansock* cs) {
    int fd;
    hil_mutex_lock(&cs->io.mu);
    fd = cs->fd;
    hil_mutex_unlock(&cs->io.mu);
    return fd;
}

/* Wait for events on the socket (between hil__io_enter and hil__io_leave);
 * HIL_ERR_CLOSED when close() woke us. */
static hil_result hil__cansock_wait(hil__cansock* cs, short events, uint64_t deadline, short* revents) {
    return hil__io_poll(&cs->io, cs->fd, events, -1, deadline, 0, revents, NULL);
}

/* The errors any CAN socket may return from send or receive. */
static hil_result hil__cansock_io_error(hil_channel* ch, const hil__cansock* cs, const char* what, int e) {
    if (e == ENETDOWN)
        return hil_channel_error(ch, HIL_ERR_IO, "%s on %s: the interface is down (%s): start it again (ip link set "
                                 "%s up, or hil_can_start)", what, cs->ifname, strerror(e), cs->ifname);
    if (e == ENXIO || e == ENODEV)
        return hil_channel_error(ch, HIL_ERR_CLOSED, "%s on %s: the interface is gone (%s)", what, cs->ifname,
                                 strerror(e));
    return hil_channel_error(ch, HIL_ERR_IO, "%s on %s: %s", what, cs->ifname, strerror(e));
}

#endif /* HIL__HAVE_LINUX_CAN */

/* The isotp channel's header (Linux 5.10+); detected here, where both
 * channels' fallbacks are: without it (no ISO-TP, or no Linux CAN headers
 * at all) the channel compiles and open() says why not. */
#ifdef HIL__HAVE_LINUX_CAN /* which means __has_include works */
#if __has_include(<linux/can/isotp.h>)
#define HIL__HAVE_ISOTP 1
#include <linux/can/isotp.h>
/* Added after the first mainline version (5.10) of the header. */
#ifndef CAN_ISOTP_LL_OPTS
#define CAN_ISOTP_LL_OPTS 5
#endif
#ifndef CAN_ISOTP_WAIT_TX_DONE
#define CAN_ISOTP_WAIT_TX_DONE 0x0400
#endif
#ifndef CAN_ISOTP_SF_BROADCAST
#define CAN_ISOTP_SF_BROADCAST 0x0800
#endif
#ifndef CAN_ISOTP_CF_BROADCAST
#define CAN_ISOTP_CF_BROADCAST 0x1000
#endif
#ifndef CAN_ISOTP_FRAME_TXTIME_ZERO
#define CAN_ISOTP_FRAME_TXTIME_ZERO 0xFFFFFFFFu
#endif
#endif
#endif

#ifndef HIL__HAVE_ISOTP
/* What a channel does without its kernel headers: open() says what the
 * build lacks; nothing else can happen since open() never succeeds. */
static hil_result hil__cansock_unavailable_open(hil_channel* ch, const char* needs) {
    return hil_channel_error(ch, HIL_ERR_UNSUPPORTED, "%s; this build has none%s: build on Linux, or run in the VM "
                             "bench: make test-vm", needs,
#ifdef HIL_NO_SOCKETCAN
                             " (HIL_NO_SOCKETCAN is defined)"
#else
                             ""
#endif
                             );
}
static void hil__cansock_unavailable_close(hil_channel* ch) { (void)ch; }
static hil_result hil__cansock_unavailable_send(hil_channel* ch, const hil_msg* m, int timeout_ms) {
    (void)m; (void)timeout_ms;
    return hil_channel_error(ch, HIL_ERR_UNSUPPORTED, "the %s channel is not available in this build (open says why)",
                             hil_channel_get_type(ch)->name);
}
static hil_result hil__cansock_unavailable_recv(hil_channel* ch, hil_msg* m, int timeout_ms) {
    (void)m;
    return hil__cansock_unavailable_send(ch, NULL, timeout_ms);
}
static int hil__cansock_unavailable_poll_fd(hil_channel* ch) { (void)ch; return -1; }
#endif

/* ---- the socketcan channel -------------------------------------------------------------- */

typedef struct hil__sockcan {
    hil__cansock sock;        /* interface, descriptor, the users/closing guard */
    /* from the options (configure) */
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
    int ts_ns;                /* SO_TIMESTAMPNS (1) or SO_TIMESTAMP (0) */
    uint32_t ovfl_last;
    uint64_t ovfl_warned_ns;
} hil__sockcan;

static const hil_channel_opt hil__socketcan_opts[] = {
    {"interface", HIL_OPT_STRING, NULL, "socketcan, isotp: the CAN network interface (can0, vcan0)", NULL},
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
    {"listen_only", HIL_OPT_BOOL, NULL, "socketcan: controller listen-only mode; isotp: never send flow control (default false)", NULL},
    {"triple_sampling", HIL_OPT_BOOL, NULL, "socketcan: controller triple sampling", NULL},
    {"one_shot", HIL_OPT_BOOL, NULL, "socketcan: controller one-shot mode (no retransmission)", NULL},
    {"berr_reporting", HIL_OPT_BOOL, NULL, "socketcan: controller bus-error reporting", NULL},
    {"fd", HIL_OPT_BOOL, NULL, "socketcan: controller CAN FD mode; isotp: CAN FD frames, interface MTU 72 (default false)", NULL},
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
    const char* v;
    char why[300];
    long long iv;
    double fv;
    int b;
    size_t i;
    hil_result r;
    if ((r = hil__cansock_configure(ch, &s->sock)) != HIL_OK) return r;
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
                                 "%s up type can bitrate 500000) and remove the option", what, s->sock.ifname, s->sock.ifname);
#else
        return hil_channel_error(ch, HIL_ERR_UNSUPPORTED, "option %s needs Linux SocketCAN and libsocketcan", what);
#endif
    }
#endif
    if ((r = hil__cansock_sync_init(ch, &s->sock)) != HIL_OK) hil__sc_free_config(s);
    return r;
}

static void hil__sc_destroy(hil_channel* ch) {
    hil__sockcan* s = (hil__sockcan*)hil_channel_state(ch);
    hil__sc_free_config(s);
    hil__cansock_destroy(&s->sock);
}

#ifdef HIL__HAVE_LINUX_CAN

#ifdef HIL__CAN_LIB
/* The interface options go to libsocketcan before the up check, so
 * state=up or bitrate=... can start a stopped interface. */
static hil_result hil__sc_prepare(hil_channel* ch) {
    hil__sockcan* s = (hil__sockcan*)hil_channel_state(ch);
    hil_can_if_config c = s->ifc;
    int changed = 0;
    hil_result r;
    if (!s->control && !s->state_up) return HIL_OK;
    if (!s->control) { hil_can_if_config_init(&c); c.start = 1; }
    r = hil_can_configure(s->sock.ifname, &c, &changed);
    if (r != HIL_OK) return hil_channel_error(ch, r, "%s", hil_last_error());
    if (changed) HIL_INFO("hil.can", "socketcan '%s': configured and started %s", hil_channel_name(ch), s->sock.ifname);
    return HIL_OK;
}
#endif

static hil_result hil__sc_setup(hil_channel* ch, const hil__cansock_kind* k, int fd, struct sockaddr_can* addr) {
    hil__sockcan* s = (hil__sockcan*)hil_channel_state(ch);
    int one = 1, zero = 0;
    hil_result r = HIL_OK;
    (void)addr; /* a raw socket binds to the interface alone */
    if (s->n_filters) {
        struct can_filter* f = (struct can_filter*)HIL_MALLOC(s->n_filters * sizeof *f);
        size_t i;
        if (!f) return hil_channel_error(ch, HIL_ERR_NO_MEMORY, "out of memory");
        for (i = 0; i < s->n_filters; i++) {
            f[i].can_id = s->filters[i].id | (s->filters[i].inverted ? CAN_INV_FILTER : 0u);
            f[i].can_mask = s->filters[i].mask;
        }
        r = hil__cansock_sockopt(ch, k, fd, SOL_CAN_RAW, CAN_RAW_FILTER, f, (socklen_t)(s->n_filters * sizeof *f),
                                 "filters");
        HIL_FREE(f);
    }
    /* CAN_RAW_JOIN_FILTERS (Linux 4.1) is an enum value, 6, in linux/can/raw.h:
     * use the number so older headers compile; an older kernel refuses it. */
    if (r == HIL_OK && s->filter_join)
        r = hil__cansock_sockopt(ch, k, fd, SOL_CAN_RAW, 6, &one, sizeof one,
                                 "filter_join (CAN_RAW_JOIN_FILTERS, Linux 4.1+)");
    if (r == HIL_OK && s->err_mask) {
        can_err_mask_t em = s->err_mask;
        r = hil__cansock_sockopt(ch, k, fd, SOL_CAN_RAW, CAN_RAW_ERR_FILTER, &em, sizeof em, "error_mask");
    }
    if (r == HIL_OK && s->recv_own)
        r = hil__cansock_sockopt(ch, k, fd, SOL_CAN_RAW, CAN_RAW_RECV_OWN_MSGS, &one, sizeof one, "receive_own");
    if (r == HIL_OK && !s->local_loopback)
        r = hil__cansock_sockopt(ch, k, fd, SOL_CAN_RAW, CAN_RAW_LOOPBACK, &zero, sizeof zero, "local_loopback");
    /* Only an FD-capable interface (MTU 72) can carry FD frames; kernels
     * without CAN FD refuse the option, and classic interfaces need none. */
    if (r == HIL_OK && s->fd_frames && s->sock.mtu == (int)CANFD_MTU)
        r = hil__cansock_sockopt(ch, k, fd, SOL_CAN_RAW, CAN_RAW_FD_FRAMES, &one, sizeof one, "fd_frames (CAN FD)");
    if (r == HIL_OK) {
        s->ts_ns = setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof one) == 0;
        if (!s->ts_ns)
            r = hil__cansock_sockopt(ch, k, fd, SOL_SOCKET, SO_TIMESTAMP, &one, sizeof one, "SO_TIMESTAMP");
    }
    if (r == HIL_OK)
        r = hil__cansock_sockopt(ch, k, fd, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof one, "SO_RXQ_OVFL");
    if (r == HIL_OK && s->rcvbuf >= 0) {
        int v = s->rcvbuf > INT_MAX / 2 ? INT_MAX / 2 : (int)s->rcvbuf;
        /* FORCE goes past net.core.rmem_max when we are allowed to. */
        if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &v, sizeof v) != 0)
            r = hil__cansock_sockopt(ch, k, fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof v, "rcvbuf");
    }
    if (r == HIL_OK && s->sndbuf >= 0) {
        int v = s->sndbuf > INT_MAX / 2 ? INT_MAX / 2 : (int)s->sndbuf;
        r = hil__cansock_sockopt(ch, k, fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof v, "sndbuf");
    }
    /* no reader is inside yet (closing is still set) */
    s->ovfl_last = 0;
    s->ovfl_warned_ns = 0;
    return r;
}

static const hil__cansock_kind hil__sc_kind = {
    SOCK_RAW, CAN_RAW, "socket(PF_CAN, SOCK_RAW, CAN_RAW)", "CAN_RAW", "can-raw", "", "CAN socket",
#ifdef HIL__CAN_LIB
    hil__sc_prepare,
#else
    NULL,
#endif
    hil__sc_setup
};

static hil_result hil__sc_open(hil_channel* ch) {
    hil__sockcan* s = (hil__sockcan*)hil_channel_state(ch);
    return hil__cansock_open(ch, &s->sock, &hil__sc_kind);
}

static void hil__sc_close(hil_channel* ch) {
    hil__sockcan* s = (hil__sockcan*)hil_channel_state(ch);
    hil__cansock_close(&s->sock);
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
        if (s->sock.mtu != (int)CANFD_MTU)
            return hil_channel_error(ch, HIL_ERR_UNSUPPORTED, "cannot send a CAN FD frame on %s: its MTU is %d, "
                                     "classic CAN only (enable FD: option fd=true with data_bitrate, or ip link set "
                                     "%s type can ... fd on; vcan: ip link set %s mtu 72)", s->sock.ifname, s->sock.mtu,
                                     s->sock.ifname, s->sock.ifname);
        f.flags = (unsigned char)(((m->flags & HIL_MSG_BRS) ? CANFD_BRS : 0) | ((m->flags & HIL_MSG_ESI) ? CANFD_ESI : 0));
        size = CANFD_MTU;
    } else {
        size = CAN_MTU;
    }
    if (m->len && !(m->flags & HIL_MSG_RTR)) memcpy(f.data, m->data, m->len);
    if (!hil__io_enter(&s->sock.io)) return HIL_ERR_CLOSED;
    for (;;) {
        ssize_t w = send(s->sock.fd, &f, size, MSG_DONTWAIT);
        int e = errno;
        if (w == (ssize_t)size) { r = HIL_OK; break; }
        if (w >= 0) { r = hil_channel_error(ch, HIL_ERR_IO, "short write on %s (%zd of %zu bytes)", s->sock.ifname, w, size); break; }
        if (e == EINTR) continue;
        if (e == EAGAIN || e == EWOULDBLOCK) {
            if (timeout_ms == 0) { r = HIL_ERR_AGAIN; break; }
            r = hil__cansock_wait(&s->sock, POLLOUT, deadline, NULL);
        } else if (e == ENOBUFS) {
            /* The device queue is full. The kernel wakes no one when it
             * drains, so retry on a short timer (waking at once on close);
             * a small sndbuf (the default) makes this rare. */
            int left = hil_deadline_left_ms(deadline);
            struct pollfd p;
            if (timeout_ms == 0 || left == 0) { r = timeout_ms == 0 ? HIL_ERR_AGAIN : HIL_ERR_TIMEOUT; break; }
            p.fd = hil_waker_fd(&s->sock.io.wake);
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
                                      "not in CAN FD mode", s->sock.ifname);
            else
                r = hil__cansock_io_error(ch, &s->sock, "send", e);
            break;
        }
        if (r == HIL_ERR_TIMEOUT) {
            r = hil_channel_error(ch, HIL_ERR_TIMEOUT, "send on %s: the transmit queue stayed full for %d ms (is the "
                                  "bus connected and acknowledging? state: see hil_can_get_state)", s->sock.ifname, timeout_ms);
            break;
        }
        if (r != HIL_OK) break;
    }
    hil__io_leave(&s->sock.io);
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
                 s->sock.ifname, (unsigned)total);
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
    if (!hil__io_enter(&s->sock.io)) return HIL_ERR_CLOSED;
    for (;;) {
        memset(&mh, 0, sizeof mh);
        iov.iov_base = &f;
        iov.iov_len = sizeof f;
        mh.msg_iov = &iov;
        mh.msg_iovlen = 1;
        mh.msg_control = ctl.buf;
        mh.msg_controllen = sizeof ctl.buf;
        n = recvmsg(s->sock.fd, &mh, MSG_DONTWAIT);
        if (n >= 0) break;
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            r = hil__cansock_io_error(ch, &s->sock, "receive", errno);
            hil__io_leave(&s->sock.io);
            return r;
        }
        if (timeout_ms == 0) { hil__io_leave(&s->sock.io); return HIL_ERR_AGAIN; }
        r = hil__cansock_wait(&s->sock, POLLIN, deadline, NULL);
        if (r != HIL_OK) { hil__io_leave(&s->sock.io); return r; }
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
    hil__io_leave(&s->sock.io);
    if (n != (ssize_t)CAN_MTU && n != (ssize_t)CANFD_MTU)
        return hil_channel_error(ch, HIL_ERR_PROTOCOL, "receive on %s: %zd bytes is not a CAN frame", s->sock.ifname, n);
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
    return hil__cansock_poll_fd(&s->sock);
}

#else /* no Linux CAN headers */

static hil_result hil__sc_open(hil_channel* ch) {
    return hil__cansock_unavailable_open(ch, "SocketCAN needs Linux and its CAN headers (linux/can.h)");
}
#define hil__sc_close hil__cansock_unavailable_close
#define hil__sc_send hil__cansock_unavailable_send
#define hil__sc_recv hil__cansock_unavailable_recv
#define hil__sc_poll_fd hil__cansock_unavailable_poll_fd

#endif /* HIL__HAVE_LINUX_CAN */

static const hil_channel_type hil__socketcan_type = {
    "socketcan", "CAN and CAN FD frames on a Linux SocketCAN interface (CAN_RAW); see docs/can.md", 0,
    sizeof(hil__sockcan), hil__socketcan_opts, hil__sc_configure, hil__sc_open, hil__sc_close, hil__sc_send,
    hil__sc_recv, hil__sc_poll_fd, hil__sc_destroy
};

HIL_API const hil_channel_type* hil_socketcan_channel_type(void) { return &hil__socketcan_type; }

/* ---- the isotp channel [section: isotp -- docs/uds.md] ---------------------------------- */

/* The longest message with a 12-bit first-frame length; longer ones need
 * the 32-bit escape that only some kernels accept. */
#define HIL__ISOTP_MAX_12BIT 4095u

typedef struct hil__isotp {
    hil__cansock sock;              /* interface, descriptor, the users/closing guard */
    /* from the options (configure) */
    uint32_t tx_id, rx_id;          /* without flag bits */
    int tx_eff, rx_eff;             /* 29-bit ids */
    uint32_t flags;                 /* HIL__ISOTP_F_* (the kernel's CAN_ISOTP_* values) */
    uint32_t frame_txtime_ns;       /* 0: the kernel's default */
    unsigned char ext_address, rx_ext_address, txpad, rxpad;
    unsigned char bs, stmin, wftmax;
    unsigned char fd, tx_dl, brs;
    uint32_t force_tx_stmin_ns, force_rx_stmin_ns;
    /* while open */
    int ts_ns;
} hil__isotp;

/* The kernel's flag values (linux/can/isotp.h), usable without the header. */
#define HIL__ISOTP_F_LISTEN 0x0001u
#define HIL__ISOTP_F_EXTEND_ADDR 0x0002u
#define HIL__ISOTP_F_TX_PADDING 0x0004u
#define HIL__ISOTP_F_RX_PADDING 0x0008u
#define HIL__ISOTP_F_CHK_PAD_LEN 0x0010u
#define HIL__ISOTP_F_CHK_PAD_DATA 0x0020u
#define HIL__ISOTP_F_HALF_DUPLEX 0x0040u
#define HIL__ISOTP_F_FORCE_TXSTMIN 0x0080u
#define HIL__ISOTP_F_FORCE_RXSTMIN 0x0100u
#define HIL__ISOTP_F_RX_EXT_ADDR 0x0200u
#define HIL__ISOTP_F_SF_BROADCAST 0x0800u
#define HIL__ISOTP_F_CF_BROADCAST 0x1000u

/* interface, listen_only and fd are socketcan's keys too: the same
 * declaration (no default, one help text) in both tables, so the
 * configuration registry and docs/config-reference.md read the same
 * whichever type registered first; the code's fallback is the default. */
static const hil_channel_opt hil__isotp_opts[] = {
    {"interface", HIL_OPT_STRING, NULL, "socketcan, isotp: the CAN network interface (can0, vcan0)", NULL},
    {"tx_id", HIL_OPT_STRING, NULL, "isotp: CAN id we send on, hex (7E0, 0x7E0; 8 digits or > 7FF: 29-bit)", NULL},
    {"rx_id", HIL_OPT_STRING, NULL, "isotp: CAN id we receive on (the peer's tx_id), hex", NULL},
    {"tx_padding", HIL_OPT_STRING, NULL, "isotp: pad the frames we send with this byte (0xCC); unset: no padding", NULL},
    {"rx_padding", HIL_OPT_STRING, NULL, "isotp: the padding byte expected in received frames (see pad_check)", NULL},
    {"pad_check", HIL_OPT_CHOICE, "none", "isotp: check received padding: none, length, data, all", "none|length|data|all"},
    {"block_size", HIL_OPT_STRING, "0", "isotp: block size in the flow control we send, 0..255 (0: no limit)", NULL},
    {"stmin_us", HIL_OPT_STRING, "0", "isotp: STmin we ask of the peer, us: 0, 100..900 (x100), 1000..127000 (x1000)", NULL},
    {"stmin_raw", HIL_OPT_STRING, NULL, "isotp: the STmin byte sent as is, 0..255 (wins over stmin_us)", NULL},
    {"wft_max", HIL_OPT_STRING, "0", "isotp: flow-control WAIT frames accepted, 0..255", NULL},
    {"force_tx_stmin_us", HIL_OPT_STRING, NULL, "isotp: ignore the peer's STmin, wait this long between our frames", NULL},
    {"force_rx_stmin_us", HIL_OPT_STRING, NULL, "isotp: drop consecutive frames closer together than this", NULL},
    {"frame_txtime_us", HIL_OPT_STRING, NULL, "isotp: gap after each frame we send (N_As); unset: kernel default", NULL},
    {"ext_address", HIL_OPT_STRING, NULL, "isotp: extended addressing with this address byte", NULL},
    {"rx_ext_address", HIL_OPT_STRING, NULL, "isotp: a different address byte for received frames", NULL},
    {"listen_only", HIL_OPT_BOOL, NULL, "socketcan: controller listen-only mode; isotp: never send flow control (default false)", NULL},
    {"half_duplex", HIL_OPT_BOOL, "false", "isotp: the kernel's half-duplex error handling", NULL},
    {"sf_broadcast", HIL_OPT_BOOL, "false", "isotp: 1-to-N functional addressing, single frames only", NULL},
    {"cf_broadcast", HIL_OPT_BOOL, "false", "isotp: multi-frame 1-to-N without flow control (Linux 6.0+)", NULL},
    {"fd", HIL_OPT_BOOL, NULL, "socketcan: controller CAN FD mode; isotp: CAN FD frames, interface MTU 72 (default false)", NULL},
    {"tx_dl", HIL_OPT_STRING, NULL, "isotp: data length of our frames: 8 12 16 20 24 32 48 64 (default 8, fd: 64)", NULL},
    {"brs", HIL_OPT_BOOL, "false", "isotp: CAN FD bit rate switch on our frames (needs fd)", NULL},
    {NULL, HIL_OPT_STRING, NULL, NULL, NULL}
};

/* A CAN id as can-utils write them: hex, "0x" optional; 8 digits or a value
 * above 7FF is a 29-bit id. */
static hil_result hil__isotp_parse_id(const char* s, uint32_t* id, int* eff, char* why, size_t size) {
    const char* p = s;
    size_t digits = 0;
    uint32_t v = 0;
    *id = 0;
    *eff = 0;
    if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) p += 2;
    for (; *p; p++, digits++) {
        int h = hil__can_hexval(*p);
        if (h < 0) {
            snprintf(why, size, "'%s' is not a hex CAN id ('%c'; write 7E0, 0x7E0 or 18DA00F1)", s, *p);
            return HIL_ERR_CONFIG;
        }
        if (digits == 8) {
            snprintf(why, size, "'%s' has more than 8 hex digits", s);
            return HIL_ERR_CONFIG;
        }
        v = v << 4 | (uint32_t)h;
    }
    if (!digits) {
        snprintf(why, size, "'%s' is not a hex CAN id (write 7E0, 0x7E0 or 18DA00F1)", s);
        return HIL_ERR_CONFIG;
    }
    if (v > 0x1FFFFFFFu) {
        snprintf(why, size, "'%s' is above 1FFFFFFF, the largest 29-bit id", s);
        return HIL_ERR_CONFIG;
    }
    *id = v;
    *eff = digits == 8 || v > 0x7FFu;
    return HIL_OK;
}

/* A number 0..max, decimal or 0x.. hex (no octal: "010" is ten). */
static hil_result hil__isotp_parse_num(const char* s, unsigned long max, unsigned long* out, char* why, size_t size) {
    const char* p = s;
    unsigned long v = 0;
    int base = 10, any = 0;
    *out = 0;
    if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) { p += 2; base = 16; }
    for (; *p; p++, any = 1) {
        int d = base == 16 ? hil__can_hexval(*p) : (*p >= '0' && *p <= '9' ? *p - '0' : -1);
        if (d < 0) {
            snprintf(why, size, "'%s' is not a number (decimal, or hex with 0x)", s);
            return HIL_ERR_CONFIG;
        }
        if (v > (max - (unsigned long)d) / (unsigned long)base) {
            snprintf(why, size, "%s is above %lu", s, max);
            return HIL_ERR_CONFIG;
        }
        v = v * (unsigned long)base + (unsigned long)d;
    }
    if (!any) {
        snprintf(why, size, "'%s' is not a number (decimal, or hex with 0x)", s);
        return HIL_ERR_CONFIG;
    }
    *out = v;
    return HIL_OK;
}

/* STmin in microseconds to the flow-control byte (ISO 15765-2: 0x00..0x7F
 * ms, 0xF1..0xF9 100..900 us). */
static hil_result hil__isotp_stmin_byte(unsigned long us, unsigned char* out, char* why, size_t size) {
    if (us <= 127000u && us % 1000u == 0) { *out = (unsigned char)(us / 1000u); return HIL_OK; }
    if (us >= 100u && us <= 900u && us % 100u == 0) { *out = (unsigned char)(0xF0u + us / 100u); return HIL_OK; }
    snprintf(why, size, "%lu us cannot be sent as STmin: use 0, 100..900 in steps of 100, or 1000..127000 in "
             "steps of 1000 (or stmin_raw for the byte itself)", us);
    return HIL_ERR_CONFIG;
}

/* Read option `key` as a number 0..max into *out; *set tells whether it was given. */
static hil_result hil__isotp_opt_num(hil_channel* ch, const char* key, unsigned long max, unsigned long* out, int* set) {
    const char* v = hil_channel_opt_str(ch, key, NULL);
    char why[160];
    *out = 0;
    if (set) *set = 0;
    if (!v || !*v) return HIL_OK;
    if (hil__isotp_parse_num(v, max, out, why, sizeof why) != HIL_OK)
        return hil_channel_error(ch, HIL_ERR_CONFIG, "option %s: %s", key, why);
    if (set) *set = 1;
    return HIL_OK;
}

static hil_result hil__isotp_configure(hil_channel* ch) {
    static const struct { const char* name; uint32_t flag; } bools[] = {
        {"listen_only", HIL__ISOTP_F_LISTEN}, {"half_duplex", HIL__ISOTP_F_HALF_DUPLEX},
        {"sf_broadcast", HIL__ISOTP_F_SF_BROADCAST}, {"cf_broadcast", HIL__ISOTP_F_CF_BROADCAST}};
    hil__isotp* s = (hil__isotp*)hil_channel_state(ch);
    const char* v;
    char why[200];
    unsigned long n;
    int set, b, pc;
    size_t i;
    hil_result r;
    if ((r = hil__cansock_configure(ch, &s->sock)) != HIL_OK) return r;
    v = hil_channel_opt_str(ch, "tx_id", NULL);
    if (!v || !*v)
        return hil_channel_error(ch, HIL_ERR_CONFIG, "no tx_id: set connectors.%s.tx_id to the CAN id we send on "
                                 "(a tester to an ECU: 7E0)", hil_channel_name(ch));
    if (hil__isotp_parse_id(v, &s->tx_id, &s->tx_eff, why, sizeof why) != HIL_OK)
        return hil_channel_error(ch, HIL_ERR_CONFIG, "option tx_id: %s", why);
    v = hil_channel_opt_str(ch, "rx_id", NULL);
    if (!v || !*v)
        return hil_channel_error(ch, HIL_ERR_CONFIG, "no rx_id: set connectors.%s.rx_id to the CAN id the peer "
                                 "answers on (an ECU to a tester: 7E8)", hil_channel_name(ch));
    if (hil__isotp_parse_id(v, &s->rx_id, &s->rx_eff, why, sizeof why) != HIL_OK)
        return hil_channel_error(ch, HIL_ERR_CONFIG, "option rx_id: %s", why);
    if (s->tx_id == s->rx_id && s->tx_eff == s->rx_eff)
        return hil_channel_error(ch, HIL_ERR_CONFIG, "tx_id and rx_id are both %X: the peer answers on another id "
                                 "(7E0 and 7E8, for instance)", (unsigned)s->tx_id);
    if ((r = hil__isotp_opt_num(ch, "tx_padding", 255, &n, &set)) != HIL_OK) return r;
    if (set) { s->flags |= HIL__ISOTP_F_TX_PADDING; s->txpad = (unsigned char)n; }
    if ((r = hil__isotp_opt_num(ch, "rx_padding", 255, &n, &set)) != HIL_OK) return r;
    if (set) { s->flags |= HIL__ISOTP_F_RX_PADDING; s->rxpad = (unsigned char)n; }
    if ((r = hil_channel_opt_choice(ch, "pad_check", "none|length|data|all", "none", &pc)) != HIL_OK) return r;
    if (pc > 0 && !(s->flags & HIL__ISOTP_F_RX_PADDING))
        return hil_channel_error(ch, HIL_ERR_CONFIG, "option pad_check needs rx_padding (the byte the peer pads "
                                 "with, 0xCC for instance)");
    if (pc == 1 || pc == 3) s->flags |= HIL__ISOTP_F_CHK_PAD_LEN;
    if (pc == 2 || pc == 3) s->flags |= HIL__ISOTP_F_CHK_PAD_DATA;
    if ((r = hil__isotp_opt_num(ch, "block_size", 255, &n, NULL)) != HIL_OK) return r;
    s->bs = (unsigned char)n;
    if ((r = hil__isotp_opt_num(ch, "stmin_us", 127000, &n, NULL)) != HIL_OK) return r;
    if (hil__isotp_stmin_byte(n, &s->stmin, why, sizeof why) != HIL_OK)
        return hil_channel_error(ch, HIL_ERR_CONFIG, "option stmin_us: %s", why);
    if ((r = hil__isotp_opt_num(ch, "stmin_raw", 255, &n, &set)) != HIL_OK) return r;
    if (set) s->stmin = (unsigned char)n;
    if ((r = hil__isotp_opt_num(ch, "wft_max", 255, &n, NULL)) != HIL_OK) return r;
    s->wftmax = (unsigned char)n;
    /* the kernel takes nanoseconds in 32 bits: at most about 4.29 s */
    if ((r = hil__isotp_opt_num(ch, "force_tx_stmin_us", 4000000, &n, &set)) != HIL_OK) return r;
    if (set) { s->flags |= HIL__ISOTP_F_FORCE_TXSTMIN; s->force_tx_stmin_ns = (uint32_t)n * 1000u; }
    if ((r = hil__isotp_opt_num(ch, "force_rx_stmin_us", 4000000, &n, &set)) != HIL_OK) return r;
    if (set) { s->flags |= HIL__ISOTP_F_FORCE_RXSTMIN; s->force_rx_stmin_ns = (uint32_t)n * 1000u; }
    if ((r = hil__isotp_opt_num(ch, "frame_txtime_us", 4000000, &n, &set)) != HIL_OK) return r;
    /* 0 means "keep the kernel's value" to the kernel: ask for zero explicitly */
    if (set) s->frame_txtime_ns = n ? (uint32_t)n * 1000u : 0xFFFFFFFFu;
    if ((r = hil__isotp_opt_num(ch, "ext_address", 255, &n, &set)) != HIL_OK) return r;
    if (set) { s->flags |= HIL__ISOTP_F_EXTEND_ADDR; s->ext_address = s->rx_ext_address = (unsigned char)n; }
    if ((r = hil__isotp_opt_num(ch, "rx_ext_address", 255, &n, &set)) != HIL_OK) return r;
    if (set) {
        if (!(s->flags & HIL__ISOTP_F_EXTEND_ADDR))
            return hil_channel_error(ch, HIL_ERR_CONFIG, "option rx_ext_address needs ext_address (the address "
                                     "byte we send)");
        s->flags |= HIL__ISOTP_F_RX_EXT_ADDR;
        s->rx_ext_address = (unsigned char)n;
    }
    for (i = 0; i < sizeof bools / sizeof bools[0]; i++) {
        if ((r = hil_channel_opt_bool(ch, bools[i].name, 0, &b)) != HIL_OK) return r;
        if (b) s->flags |= bools[i].flag;
    }
    if ((s->flags & HIL__ISOTP_F_SF_BROADCAST) && (s->flags & HIL__ISOTP_F_CF_BROADCAST))
        return hil_channel_error(ch, HIL_ERR_CONFIG, "sf_broadcast and cf_broadcast exclude each other (single "
                                 "frames only, or multi-frame without flow control)");
    if ((r = hil_channel_opt_bool(ch, "fd", 0, &b)) != HIL_OK) return r;
    s->fd = (unsigned char)b;
    if ((r = hil_channel_opt_bool(ch, "brs", 0, &b)) != HIL_OK) return r;
    s->brs = (unsigned char)b;
    if (s->brs && !s->fd)
        return hil_channel_error(ch, HIL_ERR_CONFIG, "option brs (bit rate switch) needs fd=true");
    if ((r = hil__isotp_opt_num(ch, "tx_dl", 64, &n, &set)) != HIL_OK) return r;
    if (!set) n = s->fd ? 64 : 8;
    if (n != 8 && n != 12 && n != 16 && n != 20 && n != 24 && n != 32 && n != 48 && n != 64)
        return hil_channel_error(ch, HIL_ERR_CONFIG, "option tx_dl: %lu is not a CAN frame length: 8, 12, 16, 20, "
                                 "24, 32, 48 or 64", n);
    if (n > 8 && !s->fd)
        return hil_channel_error(ch, HIL_ERR_CONFIG, "option tx_dl: %lu bytes need CAN FD: set fd=true", n);
    s->tx_dl = (unsigned char)n;
    return hil__cansock_sync_init(ch, &s->sock);
}

static void hil__isotp_destroy(hil_channel* ch) {
    hil__isotp* s = (hil__isotp*)hil_channel_state(ch);
    hil__cansock_destroy(&s->sock);
}

#ifdef HIL__HAVE_ISOTP

static hil_result hil__isotp_setup(hil_channel* ch, const hil__cansock_kind* k, int fd, struct sockaddr_can* addr) {
    hil__isotp* s = (hil__isotp*)hil_channel_state(ch);
    struct can_isotp_options o;
    struct can_isotp_fc_options fc;
    int one = 1;
    hil_result r;
    if (s->fd && s->sock.mtu != (int)CANFD_MTU)
        return hil_channel_error(ch, HIL_ERR_UNSUPPORTED, "option fd: %s carries classic CAN only (MTU %d, not 72): "
                                 "switch it to CAN FD (ip link set %s type can ... fd on; vcan: ip link set %s mtu "
                                 "72) or set fd=false", s->sock.ifname, s->sock.mtu, s->sock.ifname, s->sock.ifname);
    memset(&o, 0, sizeof o);
    o.flags = s->flags;
    o.frame_txtime = s->frame_txtime_ns;
    o.ext_address = s->ext_address;
    o.rx_ext_address = s->rx_ext_address;
    o.txpad_content = s->txpad;
    o.rxpad_content = s->rxpad;
    r = hil__cansock_sockopt(ch, k, fd, SOL_CAN_ISOTP, CAN_ISOTP_OPTS, &o, sizeof o, "the options (CAN_ISOTP_OPTS)");
    if (r == HIL_OK) {
        memset(&fc, 0, sizeof fc);
        fc.bs = s->bs;
        fc.stmin = s->stmin;
        fc.wftmax = s->wftmax;
        r = hil__cansock_sockopt(ch, k, fd, SOL_CAN_ISOTP, CAN_ISOTP_RECV_FC, &fc, sizeof fc,
                                 "block_size/stmin (CAN_ISOTP_RECV_FC)");
    }
    if (r == HIL_OK && (s->flags & HIL__ISOTP_F_FORCE_TXSTMIN))
        r = hil__cansock_sockopt(ch, k, fd, SOL_CAN_ISOTP, CAN_ISOTP_TX_STMIN, &s->force_tx_stmin_ns,
                                 sizeof s->force_tx_stmin_ns, "force_tx_stmin_us (CAN_ISOTP_TX_STMIN)");
    if (r == HIL_OK && (s->flags & HIL__ISOTP_F_FORCE_RXSTMIN))
        r = hil__cansock_sockopt(ch, k, fd, SOL_CAN_ISOTP, CAN_ISOTP_RX_STMIN, &s->force_rx_stmin_ns,
                                 sizeof s->force_rx_stmin_ns, "force_rx_stmin_us (CAN_ISOTP_RX_STMIN)");
    if (r == HIL_OK && s->fd) {
        struct can_isotp_ll_options ll;
        memset(&ll, 0, sizeof ll);
        ll.mtu = (unsigned char)CANFD_MTU;
        ll.tx_dl = s->tx_dl;
        ll.tx_flags = (unsigned char)(s->brs ? CANFD_BRS : 0);
        r = hil__cansock_sockopt(ch, k, fd, SOL_CAN_ISOTP, CAN_ISOTP_LL_OPTS, &ll, sizeof ll,
                                 "fd/tx_dl/brs (CAN_ISOTP_LL_OPTS)");
    }
    if (r == HIL_OK) s->ts_ns = setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof one) == 0;
    addr->can_addr.tp.tx_id = s->tx_id | (s->tx_eff ? CAN_EFF_FLAG : 0u);
    addr->can_addr.tp.rx_id = s->rx_id | (s->rx_eff ? CAN_EFF_FLAG : 0u);
    return r;
}

static const hil__cansock_kind hil__isotp_kind = {
    SOCK_DGRAM, CAN_ISOTP, "socket(PF_CAN, SOCK_DGRAM, CAN_ISOTP)", "ISO-TP", "can-isotp",
    " (in mainline Linux since 5.10, CONFIG_CAN_ISOTP)", "ISO-TP socket", NULL, hil__isotp_setup
};

static hil_result hil__isotp_open(hil_channel* ch) {
    hil__isotp* s = (hil__isotp*)hil_channel_state(ch);
    return hil__cansock_open(ch, &s->sock, &hil__isotp_kind);
}

static void hil__isotp_close(hil_channel* ch) {
    hil__isotp* s = (hil__isotp*)hil_channel_state(ch);
    hil__cansock_close(&s->sock);
}

/* The kernel keeps one pending error per socket, from either direction
 * (linux/net/can/isotp.c): name what each means. */
static hil_result hil__isotp_error(hil_channel* ch, hil__isotp* s, const char* what, int e, size_t len) {
    switch (e) {
    case ECOMM:
        return hil_channel_error(ch, HIL_ERR_TIMEOUT, "%s on %s: the peer sent no flow control within 1 s (N_Bs, "
                                 "the kernel's fixed timeout) after our frames on %X: is a receiver listening on "
                                 "%X that answers on %X (the channel's rx_id)?", what, s->sock.ifname,
                                 (unsigned)s->tx_id, (unsigned)s->tx_id, (unsigned)s->rx_id);
    case ETIMEDOUT:
        return hil_channel_error(ch, HIL_ERR_TIMEOUT, "%s on %s: a message from the peer on %X stopped half way: "
                                 "no consecutive frame within 1 s (N_Cr, the kernel's fixed timeout); it was "
                                 "dropped", what, s->sock.ifname, (unsigned)s->rx_id);
    case EILSEQ:
        return hil_channel_error(ch, HIL_ERR_PROTOCOL, "%s on %s: a message from the peer on %X had a wrong "
                                 "sequence number (a lost or repeated consecutive frame); it was dropped", what,
                                 s->sock.ifname, (unsigned)s->rx_id);
    case EBADMSG:
        return hil_channel_error(ch, HIL_ERR_PROTOCOL, "%s on %s: a frame on %X broke the rules: wrong padding "
                                 "(pad_check, rx_padding) or a malformed flow control", what, s->sock.ifname,
                                 (unsigned)s->rx_id);
    case EMSGSIZE:
        if (len)
            return hil_channel_error(ch, HIL_ERR_INVALID_ARG, "%s on %s: %zu bytes is more than this kernel's ISO-TP "
                                     "takes in one message (Linux 5.10-5.17: 8200; 5.18-6.3: 66000; 6.4 and later: "
                                     "the module parameter max_pdu_size of can-isotp, 8300 by default)", what, s->sock.ifname, len);
        return hil_channel_error(ch, HIL_ERR_PROTOCOL, "%s on %s: the peer answered our first frame with an overflow "
                                 "flow control (its buffer is smaller than the message)", what, s->sock.ifname);
    default: /* ENETDOWN, ENODEV...: what any CAN socket may say */
        return hil__cansock_io_error(ch, &s->sock, what, e);
    }
}

/* The socket's pending error (and clear it): 0 if none. */
static int hil__isotp_so_error(hil__isotp* s) {
    int e = 0;
    socklen_t l = sizeof e;
    if (getsockopt(s->sock.fd, SOL_SOCKET, SO_ERROR, &e, &l) != 0) return errno;
    return e;
}

static hil_result hil__isotp_send(hil_channel* ch, const hil_msg* m, int timeout_ms) {
    hil__isotp* s = (hil__isotp*)hil_channel_state(ch);
    uint64_t deadline = hil_deadline_ms(timeout_ms);
    hil_result r = HIL_OK;
    short rev = 0;
    if (s->flags & HIL__ISOTP_F_LISTEN)
        return hil_channel_error(ch, HIL_ERR_STATE, "cannot send: the channel is listen_only");
    if (m->len == 0) return hil_channel_error(ch, HIL_ERR_INVALID_ARG, "cannot send an empty ISO-TP message");
    if ((s->flags & HIL__ISOTP_F_SF_BROADCAST) && m->len > (size_t)s->tx_dl - 1u - ((s->flags & HIL__ISOTP_F_EXTEND_ADDR) ? 1u : 0u) - (s->tx_dl > 8 ? 1u : 0u))
        return hil_channel_error(ch, HIL_ERR_INVALID_ARG, "cannot send %zu bytes with sf_broadcast: functional "
                                 "addressing carries one single frame (at most %u bytes here)", m->len,
                                 (unsigned)(s->tx_dl - 1u - ((s->flags & HIL__ISOTP_F_EXTEND_ADDR) ? 1u : 0u) -
                                            (s->tx_dl > 8 ? 1u : 0u)));
    if (!hil__io_enter(&s->sock.io)) return HIL_ERR_CLOSED;
    for (;;) {
        ssize_t w = send(s->sock.fd, m->data, m->len, MSG_DONTWAIT);
        int e = errno;
        if (w == (ssize_t)m->len) break;
        if (w >= 0) { r = hil_channel_error(ch, HIL_ERR_IO, "short write on %s (%zd of %zu bytes)", s->sock.ifname, w, m->len); goto out; }
        if (e == EINTR) continue;
        if (e == EAGAIN || e == EWOULDBLOCK) {
            /* the previous message is still being sent: POLLOUT comes when
             * the kernel's transmitter is idle again */
            if (timeout_ms == 0) { r = HIL_ERR_AGAIN; goto out; }
            r = hil__cansock_wait(&s->sock, POLLOUT, deadline, &rev);
            if (r == HIL_ERR_TIMEOUT)
                r = hil_channel_error(ch, HIL_ERR_TIMEOUT, "send on %s: the previous message was still being sent "
                                      "after %d ms", s->sock.ifname, timeout_ms);
            if (r != HIL_OK) goto out;
            /* a pending error wakes poll at once: take it, or this would spin */
            if (rev & POLLERR) {
                int pe = hil__isotp_so_error(s);
                if (pe) { r = hil__isotp_error(ch, s, "send", pe, 0); goto out; }
            }
            continue;
        }
        if ((e == EINVAL || e == EMSGSIZE) && m->len > HIL__ISOTP_MAX_12BIT) e = EMSGSIZE;
        r = hil__isotp_error(ch, s, "send", e, e == EMSGSIZE ? m->len : 0);
        goto out;
    }
    if (timeout_ms == 0) goto out;
    /* The kernel sends the consecutive frames as flow control allows; the
     * socket is writable again when it is done, or has an error (no flow
     * control: ECOMM). */
    r = hil__cansock_wait(&s->sock, POLLOUT, deadline, &rev);
    if (r == HIL_ERR_TIMEOUT) {
        r = hil_channel_error(ch, HIL_ERR_TIMEOUT, "send on %s: %zu bytes not sent completely within %d ms (the "
                              "peer's block size and STmin pace the consecutive frames); the kernel goes on "
                              "sending", s->sock.ifname, m->len, timeout_ms);
        goto out;
    }
    if (r != HIL_OK) goto out;
    {
        int e = hil__isotp_so_error(s);
        if (e) r = hil__isotp_error(ch, s, "send", e, 0);
    }
out:
    hil__io_leave(&s->sock.io);
    return r;
}

static hil_result hil__isotp_recv(hil_channel* ch, hil_msg* m, int timeout_ms) {
    hil__isotp* s = (hil__isotp*)hil_channel_state(ch);
    uint64_t deadline = hil_deadline_ms(timeout_ms);
    union { char buf[CMSG_SPACE(sizeof(struct timespec)) + 64]; struct cmsghdr align; } ctl;
    unsigned char dummy;
    struct iovec iov;
    struct msghdr mh;
    struct cmsghdr* c;
    hil_result r;
    ssize_t n;
    short rev;
    if (!hil__io_enter(&s->sock.io)) return HIL_ERR_CLOSED;
    for (;;) {
        memset(&mh, 0, sizeof mh);
        iov.iov_base = m->cap ? m->data : &dummy;
        iov.iov_len = m->cap ? m->cap : 1;
        mh.msg_iov = &iov;
        mh.msg_iovlen = 1;
        mh.msg_control = ctl.buf;
        mh.msg_controllen = sizeof ctl.buf;
        /* MSG_TRUNC: the kernel returns the message's real length */
        n = recvmsg(s->sock.fd, &mh, MSG_DONTWAIT | MSG_TRUNC);
        if (n >= 0) break;
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            r = hil__isotp_error(ch, s, "receive", errno, 0);
            hil__io_leave(&s->sock.io);
            return r;
        }
        if (timeout_ms == 0) { hil__io_leave(&s->sock.io); return HIL_ERR_AGAIN; }
        r = hil__cansock_wait(&s->sock, POLLIN, deadline, &rev);
        if (r != HIL_OK) { hil__io_leave(&s->sock.io); return r; }
    }
    hil__io_leave(&s->sock.io);
    m->timestamp_ns = 0;
    for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
            struct timespec ts;
            memcpy(&ts, CMSG_DATA(c), sizeof ts);
            m->timestamp_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
        }
    }
    if (!m->timestamp_ns) m->timestamp_ns = hil_now_ns();
    m->remote_id = s->rx_id;
    m->flags = s->rx_eff ? HIL_MSG_EXTENDED : 0u;
    if ((size_t)n > m->cap || (mh.msg_flags & MSG_TRUNC)) {
        m->flags |= HIL_MSG_TRUNCATED;
        m->len = m->cap;
    } else {
        m->len = (size_t)n;
    }
    return HIL_OK;
}

static int hil__isotp_poll_fd(hil_channel* ch) {
    hil__isotp* s = (hil__isotp*)hil_channel_state(ch);
    return hil__cansock_poll_fd(&s->sock);
}

#else /* no Linux CAN ISO-TP headers */

static hil_result hil__isotp_open(hil_channel* ch) {
    return hil__cansock_unavailable_open(ch, "ISO-TP needs Linux and its CAN headers (linux/can.h, "
                                         "linux/can/isotp.h from Linux 5.10 on)");
}
#define hil__isotp_close hil__cansock_unavailable_close
#define hil__isotp_send hil__cansock_unavailable_send
#define hil__isotp_recv hil__cansock_unavailable_recv
#define hil__isotp_poll_fd hil__cansock_unavailable_poll_fd

#endif /* HIL__HAVE_ISOTP */

static const hil_channel_type hil__isotp_type = {
    "isotp", "ISO-TP (ISO 15765-2) messages on a Linux CAN_ISOTP socket; see docs/uds.md", 0,
    sizeof(hil__isotp), hil__isotp_opts, hil__isotp_configure, hil__isotp_open, hil__isotp_close, hil__isotp_send,
    hil__isotp_recv, hil__isotp_poll_fd, hil__isotp_destroy
};

HIL_API const hil_channel_type* hil_isotp_channel_type(void) { return &hil__isotp_type; }

HIL_API hil_result hil_isotp_parse_id(const char* text, uint32_t* id, int* extended) {
    char why[200];
    if (!text) text = "";
    if (hil__isotp_parse_id(text, id, extended, why, sizeof why) != HIL_OK) return hil_error(HIL_ERR_CONFIG, "%s", why);
    return HIL_OK;
}

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
#endif /* HIL_NO_CAN */

/* ---- board control ------------------------------------------------------------------------ */

static struct { const hil_channel_type* type; const hil_board_ops* ops; } hil__boardops[32];
static size_t hil__n_boardops;
static hil_mutex hil__boardops_mu = {PTHREAD_MUTEX_INITIALIZER};

HIL_API hil_result hil_board_ops_register(const hil_channel_type* t, const hil_board_ops* ops) {
    size_t i;
    hil_result r = HIL_OK;
    if (!t || !ops) return hil_error(HIL_ERR_INVALID_ARG, "hil_board_ops_register: a type and its operations are required");
    hil_mutex_lock(&hil__boardops_mu);
    for (i = 0; i < hil__n_boardops; i++)
        if (hil__boardops[i].type == t) break;
    if (i == sizeof hil__boardops / sizeof hil__boardops[0])
        r = hil_error(HIL_ERR_OVERFLOW, "board operations for too many channel types (at most 32)");
    else {
        hil__boardops[i].type = t;
        hil__boardops[i].ops = ops;
        if (i == hil__n_boardops) hil__n_boardops++;
    }
    hil_mutex_unlock(&hil__boardops_mu);
    return r;
}

static const hil_board_ops* hil__board_ops(const hil_channel* ch) {
    const hil_board_ops* ops = NULL;
    size_t i;
    hil__register_builtin_channel_types();
    hil_mutex_lock(&hil__boardops_mu);
    for (i = 0; ch && i < hil__n_boardops; i++)
        if (hil__boardops[i].type == ch->type) ops = hil__boardops[i].ops;
    hil_mutex_unlock(&hil__boardops_mu);
    return ops;
}

static hil_result hil__board_unsupported(hil_channel* ch, const char* what) {
    return hil_channel_error(ch, HIL_ERR_UNSUPPORTED,
                             "cannot %s the board: a %s channel has no board control (a qemu channel has; "
                             "for a real board use a flasher or a power switch)", what, ch->type->name);
}

HIL_API hil_result hil_channel_reset(hil_channel* ch, int timeout_ms) {
    const hil_board_ops* ops = hil__board_ops(ch);
    if (!ch) return hil_error(HIL_ERR_INVALID_ARG, "hil_channel_reset: no channel");
    return ops && ops->reset ? ops->reset(ch, timeout_ms) : hil__board_unsupported(ch, "reset");
}

HIL_API hil_result hil_channel_power(hil_channel* ch, int on, int timeout_ms) {
    const hil_board_ops* ops = hil__board_ops(ch);
    if (!ch) return hil_error(HIL_ERR_INVALID_ARG, "hil_channel_power: no channel");
    return ops && ops->power ? ops->power(ch, on, timeout_ms) : hil__board_unsupported(ch, on ? "power on" : "power off");
}

HIL_API hil_result hil_channel_flash(hil_channel* ch, const char* image, int timeout_ms) {
    const hil_board_ops* ops = hil__board_ops(ch);
    if (!ch || !image) return hil_error(HIL_ERR_INVALID_ARG, "hil_channel_flash: a channel and an image are required");
    return ops && ops->flash ? ops->flash(ch, image, timeout_ms) : hil__board_unsupported(ch, "flash");
}

/* ==== section: qemu ========================================================================= */
#ifndef HIL_NO_QEMU

/* One emulator at a time per channel. `mu` guards the state readers look
 * at; `op` serialises everything that talks QMP or restarts the emulator
 * (taken before `mu`). A restart waits until no reader or writer is inside
 * (users == 0) before it closes a descriptor, so nobody polls a number that
 * was closed and reused; readers arriving meanwhile wait on `cv`. */
typedef struct hil__qemu {
    char* machine;
    char* image;
    char* qemu;
    char** args;
    long long boot_ms, grace_ms;
    hil_mutex mu, op, omu;
    hil_cond cv;
    hil_waker wake;      /* readable: close or restart wants the readers out */
    int ready;
    int users, closing, restarting;
    int running;         /* an emulator is up: pid, uart, qmp valid */
    int pid, pidfd, uart, qmp, outfd, pollset;
    int exited, status;
    hil_thread outt;
    int outt_on;
    char tail[1024];     /* QEMU's last output, for error messages (under omu) */
    size_t tail_len;
    char qbuf[8192];     /* QMP bytes not consumed yet (under op) */
    size_t qlen;
    int qmp_ok;          /* capabilities negotiated */
    int no_image;        /* image = none: no -kernel, the firmware comes through the GDB stub */
    int gdb_wait;        /* -S: the CPU waits for the debugger */
    int gdb_on;          /* gdb is not off */
    char gdb_host[64];   /* where the stub listens (an IPv4 address) */
    int gdb_port;        /* 0: a free one */
    int gdbfd;           /* the listening socket, open from open() to close(): the address outlives restarts */
    char gdb_addr[80];   /* "127.0.0.1:PORT" once listening (under mu) */
} hil__qemu;

static const hil_channel_opt hil__qemu_opts[] = {
    {"machine", HIL_OPT_STRING, NULL, "qemu: the machine (-M), e.g. mps2-an385, netduinoplus2", NULL},
    {"image", HIL_OPT_PATH, NULL,
     "qemu: the firmware ELF the board boots (-kernel); none: an empty board that a probe flashes through the GDB stub",
     NULL},
    {"qemu", HIL_OPT_STRING, "qemu-system-arm", "qemu: the emulator program", NULL},
    {"args", HIL_OPT_STRING, NULL, "qemu: extra arguments for the emulator, split into words like a shell would", NULL},
    {"boot_timeout_ms", HIL_OPT_INT, "10000",
     "qemu: how long the firmware may take to send its first byte after start (0: do not wait)", NULL},
    {"quit_timeout_ms", HIL_OPT_INT, "2000",
     "qemu: on close, how long QEMU may take to quit (QMP quit) before SIGTERM, and then before SIGKILL", NULL},
    {"gdb", HIL_OPT_STRING, "off",
     "qemu: QEMU's GDB stub: off, auto (a free port on 127.0.0.1), PORT or ADDRESS:PORT (IPv4); "
     "hil_qemu_gdb_address() or a probe's address = qemu:<connector> finds it", NULL},
    {"gdb_wait", HIL_OPT_BOOL, "false",
     "qemu: start with the CPU halted (-S) until a debugger resumes it; open() then waits for no boot", NULL},
    {NULL, HIL_OPT_STRING, NULL, NULL, NULL}
};

static void hil__qemu_destroy(hil_channel* ch) {
    hil__qemu* s = (hil__qemu*)hil_channel_state(ch);
    HIL_FREE(s->machine);
    HIL_FREE(s->image);
    HIL_FREE(s->qemu);
    hil__words_free(s->args);
    s->machine = s->image = s->qemu = NULL;
    s->args = NULL;
    if (s->ready) {
        hil_waker_destroy(&s->wake);
        hil_cond_destroy(&s->cv);
        hil_mutex_destroy(&s->mu);
        hil_mutex_destroy(&s->op);
        hil_mutex_destroy(&s->omu);
        s->ready = 0;
    }
}

static hil_result hil__qemu_configure(hil_channel* ch) {
    hil__qemu* s = (hil__qemu*)hil_channel_state(ch);
    const char* machine = hil_channel_opt_str(ch, "machine", NULL);
    const char* image = hil_channel_opt_str(ch, "image", NULL);
    const char* gdb = hil_channel_opt_str(ch, "gdb", "off");
    hil_result r;
    s->pid = s->pidfd = s->uart = s->qmp = s->outfd = s->pollset = s->gdbfd = -1;
    if (hil_waker_init(&s->wake) != HIL_OK) return hil_channel_error(ch, HIL_ERR_IO, "%s", hil_last_error());
    hil_mutex_init(&s->mu);
    hil_mutex_init(&s->op);
    hil_mutex_init(&s->omu);
    hil_cond_init(&s->cv);
    s->ready = 1;
    if (!machine || !*machine)
        return hil_channel_error(ch, HIL_ERR_CONFIG, "no machine: set connectors.%s.machine (e.g. mps2-an385; "
                                 "qemu-system-arm -M help lists them)", hil_channel_name(ch));
    if (!image || !*image)
        return hil_channel_error(ch, HIL_ERR_CONFIG, "no firmware: set connectors.%s.image to the board's ELF file "
                                 "(or to none for an empty board that a probe flashes through gdb = auto)",
                                 hil_channel_name(ch));
    s->no_image = strcmp(image, "none") == 0;
    s->machine = hil_strdup(machine);
    s->image = hil_strdup(image);
    s->qemu = hil_strdup(hil_channel_opt_str(ch, "qemu", "qemu-system-arm"));
    if (!s->machine || !s->image || !s->qemu) return hil_channel_error(ch, HIL_ERR_NO_MEMORY, "out of memory");
    if (hil__split_words(hil_channel_opt_str(ch, "args", ""), &s->args, NULL) != HIL_OK)
        return hil_channel_error(ch, HIL_ERR_CONFIG, "option args: %s", hil_last_error());
    r = hil_channel_opt_int(ch, "boot_timeout_ms", 10000, &s->boot_ms);
    if (r == HIL_OK) r = hil_channel_opt_int(ch, "quit_timeout_ms", 2000, &s->grace_ms);
    if (r != HIL_OK) return r;
    if (s->boot_ms < 0 || s->boot_ms > 600000)
        return hil_channel_error(ch, HIL_ERR_CONFIG, "option boot_timeout_ms: must be 0..600000, got %lld", s->boot_ms);
    if (s->grace_ms < 0 || s->grace_ms > 600000)
        return hil_channel_error(ch, HIL_ERR_CONFIG, "option quit_timeout_ms: must be 0..600000, got %lld", s->grace_ms);
    r = hil_channel_opt_bool(ch, "gdb_wait", 0, &s->gdb_wait);
    if (r != HIL_OK) return r;
    if (!*gdb || strcmp(gdb, "off") == 0 || strcmp(gdb, "false") == 0 || strcmp(gdb, "no") == 0) {
        s->gdb_on = 0;
    } else {
        const char* colon = strrchr(gdb, ':');
        const char* port = colon ? colon + 1 : gdb;
        struct in_addr ia;
        char* end;
        long v = 0;
        s->gdb_on = 1;
        snprintf(s->gdb_host, sizeof s->gdb_host, "127.0.0.1");
        if (colon) {
            size_t hl = (size_t)(colon - gdb);
            if (hl >= sizeof s->gdb_host) hl = sizeof s->gdb_host - 1;
            memcpy(s->gdb_host, gdb, hl);
            s->gdb_host[hl] = 0;
        }
        if (strcmp(port, "auto") != 0) {
            v = strtol(port, &end, 10);
            if (!*port || *end || v < 1 || v > 65535) v = -1;
        }
        if (v < 0 || inet_pton(AF_INET, s->gdb_host, &ia) != 1)
            return hil_channel_error(ch, HIL_ERR_CONFIG, "option gdb: '%s' is not off, auto, a port (1..65535) or "
                                     "IPV4-ADDRESS:PORT (e.g. gdb = auto, gdb = 1234, gdb = 0.0.0.0:1234)", gdb);
        s->gdb_port = (int)v;
    }
    if (s->gdb_wait && !s->gdb_on)
        return hil_channel_error(ch, HIL_ERR_CONFIG, "option gdb_wait: the CPU would wait for a debugger that cannot "
                                 "connect: set connectors.%s.gdb too (auto, or a port)", hil_channel_name(ch));
    return HIL_OK;
}

/* The open qemu channels with a GDB stub, by name, for a probe configured
 * with address = qemu:<connector> (hil_qemu_gdb_address_of). */
typedef struct hil__qemu_gdb_entry { const void* owner; char name[128]; char addr[80]; } hil__qemu_gdb_entry;
static hil__qemu_gdb_entry hil__qemu_gdb_list[32];
static hil_mutex hil__qemu_gdb_mu = {PTHREAD_MUTEX_INITIALIZER};

static void hil__qemu_gdb_publish(const void* owner, const char* name, const char* addr) {
    size_t i, slot = HIL__COUNTOF(hil__qemu_gdb_list);
    hil_mutex_lock(&hil__qemu_gdb_mu);
    for (i = 0; i < HIL__COUNTOF(hil__qemu_gdb_list); i++) {
        if (hil__qemu_gdb_list[i].owner == owner) hil__qemu_gdb_list[i].owner = NULL;
        if (!hil__qemu_gdb_list[i].owner && slot == HIL__COUNTOF(hil__qemu_gdb_list)) slot = i;
    }
    if (addr && slot < HIL__COUNTOF(hil__qemu_gdb_list)) {
        hil__qemu_gdb_list[slot].owner = owner;
        snprintf(hil__qemu_gdb_list[slot].name, sizeof hil__qemu_gdb_list[slot].name, "%s", name);
        snprintf(hil__qemu_gdb_list[slot].addr, sizeof hil__qemu_gdb_list[slot].addr, "%s", addr);
    }
    hil_mutex_unlock(&hil__qemu_gdb_mu);
}

/* The stub's listening socket: ours from open() to close(), each QEMU
 * started meanwhile gets it as descriptor 5. QEMU's -gdb tcp::0 would pick
 * a port but not say which; a socket we bound knows its port, and no other
 * program can take the port between choosing it and QEMU's start. */
static hil_result hil__qemu_gdb_listen(hil_channel* ch, hil__qemu* s) {
    struct sockaddr_in a;
    socklen_t al = sizeof a;
    int fd, one = 1;
    if (!s->gdb_on || s->gdbfd >= 0) return HIL_OK;
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return hil_channel_error(ch, HIL_ERR_IO, "gdb: socket: %s", strerror(errno));
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)s->gdb_port);
    inet_pton(AF_INET, s->gdb_host, &a.sin_addr);
    if (bind(fd, (struct sockaddr*)&a, sizeof a) != 0 || listen(fd, 4) != 0 ||
        getsockname(fd, (struct sockaddr*)&a, &al) != 0) {
        int e = errno;
        close(fd);
        return hil_channel_error(ch, HIL_ERR_IO, "gdb: cannot listen on %s:%d for QEMU's GDB stub: %s%s", s->gdb_host,
                                 s->gdb_port, strerror(e),
                                 e == EADDRINUSE ? " (another program has the port: use gdb = auto)" : "");
    }
    hil_mutex_lock(&s->mu);
    s->gdbfd = fd;
    snprintf(s->gdb_addr, sizeof s->gdb_addr, "%s:%d", strcmp(s->gdb_host, "0.0.0.0") == 0 ? "127.0.0.1" : s->gdb_host,
             ntohs(a.sin_port));
    hil_mutex_unlock(&s->mu);
    hil__qemu_gdb_publish(s, hil_channel_name(ch), s->gdb_addr);
    return HIL_OK;
}

static void hil__qemu_gdb_unlisten(hil__qemu* s) {
    if (s->gdbfd < 0) return;
    hil__qemu_gdb_publish(s, NULL, NULL);
    hil_mutex_lock(&s->mu);
    hil__close_fd(&s->gdbfd);
    s->gdb_addr[0] = 0;
    hil_mutex_unlock(&s->mu);
}

/* QEMU's stdout and stderr, line by line into the log; the last lines are
 * kept for the error message when the board does not boot. */
static void* hil__qemu_output_thread(void* arg) {
    hil_channel* ch = (hil_channel*)arg;
    hil__qemu* s = (hil__qemu*)hil_channel_state(ch);
    int fd = s->outfd;
    char buf[1024];
    size_t have = 0;
    for (;;) {
        ssize_t n = read(fd, buf + have, sizeof buf - 1 - have);
        char* nl;
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break; /* QEMU (and whoever inherited its output) is gone */
        have += (size_t)n;
        buf[have] = 0;
        while ((nl = (char*)memchr(buf, '\n', have)) != NULL || have == sizeof buf - 1) {
            size_t len = nl ? (size_t)(nl - buf) : have, keep;
            hil_log_at(HIL_LOG_INFO, __FILE__, __LINE__, hil_channel_logger(ch), "qemu: %.*s", (int)len, buf);
            hil_mutex_lock(&s->omu);
            keep = len + 2 > sizeof s->tail ? sizeof s->tail - 2 : len;
            if (s->tail_len + keep + 2 > sizeof s->tail) s->tail_len = 0; /* the latest lines matter */
            if (s->tail_len) s->tail[s->tail_len++] = ' ';
            memcpy(s->tail + s->tail_len, buf + len - keep, keep);
            s->tail_len += keep;
            s->tail[s->tail_len] = 0;
            hil_mutex_unlock(&s->omu);
            if (nl) len++;
            memmove(buf, buf + len, have - len);
            have -= len;
            buf[have] = 0;
        }
    }
    if (have) hil_log_at(HIL_LOG_INFO, __FILE__, __LINE__, hil_channel_logger(ch), "qemu: %.*s", (int)have, buf);
    return NULL;
}

/* Start the emulator: the UART and QMP ends become its descriptors 3 and 4. */
static hil_result hil__qemu_start(hil_channel* ch, hil__qemu* s) {
    int u[2] = {-1, -1}, q[2] = {-1, -1};
    const char* fixed[] = {"-M", NULL, "-nographic", "-monitor", "none",
                           "-chardev", "socket,id=hiluart,fd=3", "-serial", "chardev:hiluart",
                           "-chardev", "socket,id=hilqmp,fd=4", "-mon", "chardev=hilqmp,mode=control"};
    size_t nfixed = sizeof fixed / sizeof fixed[0], nargs = 0, i, k = 0;
    const char** argv;
    hil_proc proc;
    hil_proc_config pc;
    hil_proc_fd fds[3];
    hil_result r;
    int pid;
    fixed[1] = s->machine;
    while (s->args && s->args[nargs]) nargs++;
    argv = (const char**)HIL_MALLOC((nfixed + nargs + 10) * sizeof *argv);
    if (!argv) return hil_channel_error(ch, HIL_ERR_NO_MEMORY, "out of memory");
    argv[k++] = s->qemu;
    for (i = 0; i < nfixed; i++) argv[k++] = fixed[i];
    if (!s->no_image) {
        /* QEMU copies a -kernel image back at every system_reset: without
         * one, a reset keeps what a probe flashed and the core boots from
         * the vector table in memory */
        argv[k++] = "-kernel";
        argv[k++] = s->image;
    }
    if (s->gdbfd >= 0) {
        /* nodelay: the stub writes '+' and its reply apart, and a delayed
         * ACK would hold the reply back for 40 ms (docs/probes.md) */
        argv[k++] = "-chardev";
        argv[k++] = "socket,id=hilgdb,fd=5,server=on,wait=off,nodelay=on";
        argv[k++] = "-gdb";
        argv[k++] = "chardev:hilgdb";
    }
    if (s->gdb_wait) argv[k++] = "-S";
    for (i = 0; i < nargs; i++) argv[k++] = s->args[i];
    argv[k] = NULL;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, u) != 0 ||
        socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, q) != 0) {
        int e = errno;
        HIL_FREE(argv);
        hil__close_pair(u); hil__close_pair(q);
        return hil_channel_error(ch, HIL_ERR_IO, "socketpair for the emulator: %s", strerror(e));
    }
    fds[0].child_fd = 3;
    fds[0].parent_fd = u[1];
    fds[1].child_fd = 4;
    fds[1].parent_fd = q[1];
    hil_proc_config_init(&pc);
    pc.argv = argv;
    pc.pipe_stdout = 1;
    pc.stderr_to_stdout = 1;
    pc.new_process_group = 1;
    pc.die_with_parent = 1;
    pc.no_core_dump = 1; /* a firmware that locks the core up makes QEMU abort(): no core dump of the emulator */
    pc.extra_fds = fds;
    pc.n_extra_fds = 2;
    if (s->gdbfd >= 0) {
        fds[2].child_fd = 5;
        fds[2].parent_fd = s->gdbfd;
        pc.n_extra_fds = 3;
    }
    r = hil_proc_spawn(&proc, &pc);
    HIL_FREE(argv);
    close(u[1]);
    close(q[1]);
    if (r != HIL_OK) {
        close(u[0]);
        close(q[0]);
        if (r == HIL_ERR_NOT_FOUND)
            return hil_channel_error(ch, r, "cannot run '%s': not found (apt-get install qemu-system-arm, or set the "
                                     "option qemu)", s->qemu);
        return hil_channel_error(ch, r, "%s", hil_last_error());
    }
    pid = proc.pid;
    hil_mutex_lock(&s->mu);
    s->pid = pid;
    s->pidfd = proc.pidfd;
    s->uart = u[0];
    s->qmp = q[0];
    s->outfd = proc.stdout_fd;
    s->exited = s->status = 0;
    s->qlen = 0;
    s->qmp_ok = 0;
    s->running = 1;
    hil_mutex_unlock(&s->mu);
    hil_mutex_lock(&s->omu);
    s->tail_len = 0;
    s->tail[0] = 0;
    hil_mutex_unlock(&s->omu);
    hil_set_nonblocking(s->uart, 1);
    hil_track_child_group(pid, 1);
    hil__pollset_add(s->pollset, s->uart);
    s->outt_on = hil_thread_create(&s->outt, hil__qemu_output_thread, ch, "hil-qemu-out") == HIL_OK;
    HIL_INFO(hil_channel_logger(ch), "qemu '%s': started %s -M %s %s%s%s%s%s (pid %d)", hil_channel_name(ch), s->qemu,
             s->machine, s->no_image ? "(no image)" : "-kernel ", s->no_image ? "" : s->image,
             s->gdb_addr[0] ? ", GDB stub at " : "", s->gdb_addr, s->gdb_wait ? ", halted (-S)" : "", pid);
    return HIL_OK;
}

/* Reap the emulator if it has exited (no waiting). */
static int hil__qemu_reaped(hil__qemu* s) {
    if (!s->exited && s->pid > 0) {
        int st;
        if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
            s->exited = 1;
            s->status = st;
        }
    }
    return s->exited;
}

static void hil__qemu_wait_exit(hil__qemu* s, long long ms) {
    if (hil__qemu_reaped(s)) return;
    if (s->pidfd >= 0) hil_wait_readable(s->pidfd, (int)ms);
    hil__qemu_reaped(s);
}

static hil_result hil__qmp_locked(hil_channel* ch, hil__qemu* s, const char* command, int timeout_ms, char** reply);

/* Stop the emulator: QMP quit, SIGTERM, SIGKILL; always reaped. With the
 * readers out (users == 0) and `op` held. */
static void hil__qemu_stop(hil_channel* ch, hil__qemu* s) {
    char how[128];
    if (!s->running) return;
    if (!hil__qemu_reaped(s)) {
        if (s->grace_ms > 0 && hil__qmp_locked(ch, s, "{\"execute\":\"quit\"}", (int)s->grace_ms, NULL) == HIL_OK)
            hil__qemu_wait_exit(s, s->grace_ms);
        if (!hil__qemu_reaped(s)) {
            kill(-s->pid, SIGTERM);
            hil__qemu_wait_exit(s, s->grace_ms);
        }
        if (!hil__qemu_reaped(s)) {
            kill(-s->pid, SIGKILL);
            while (waitpid(s->pid, &s->status, 0) < 0 && errno == EINTR) {
            }
            s->exited = 1;
        }
    }
    hil_track_child_group(s->pid, 0);
    hil__pollset_del(s->pollset, s->uart);
    if (s->outt_on) hil_thread_join(&s->outt); /* QEMU is gone: its output ends */
    s->outt_on = 0;
    hil_proc_status_str(s->status, how, sizeof how);
    HIL_DEBUG(hil_channel_logger(ch), "qemu '%s': pid %d %s", hil_channel_name(ch), s->pid, how);
    hil_mutex_lock(&s->mu);
    hil__close_fd(&s->uart);
    hil__close_fd(&s->qmp);
    hil__close_fd(&s->outfd);
    hil__close_fd(&s->pidfd);
    s->running = 0;
    s->pid = -1;
    hil_mutex_unlock(&s->mu);
}

/* What QEMU printed, for messages. */
static void hil__qemu_said(hil__qemu* s, char* out, size_t size) {
    hil_mutex_lock(&s->omu);
    if (s->tail_len) snprintf(out, size, "; QEMU said: %s", s->tail);
    else snprintf(out, size, "; QEMU printed nothing");
    hil_mutex_unlock(&s->omu);
}

/* Wait for the firmware's first byte (not taken: the reader gets it). */
static hil_result hil__qemu_boot(hil_channel* ch, hil__qemu* s, long long boot_ms) {
    struct pollfd pf[2];
    int rc;
    uint64_t deadline = hil_deadline_ms((int)boot_ms);
    char said[1100], how[128];
    /* a halted CPU or an empty board sends nothing until a probe loads and starts it */
    if (boot_ms <= 0 || s->gdb_wait || s->no_image) return HIL_OK;
    for (;;) {
        pf[0].fd = s->uart;
        pf[0].events = POLLIN;
        pf[1].fd = s->pidfd;
        pf[1].events = POLLIN;
        pf[0].revents = pf[1].revents = 0;
        rc = poll(pf, s->pidfd >= 0 ? 2 : 1, hil_deadline_left_ms(deadline));
        if (rc < 0 && errno == EINTR) continue;
        break;
    }
    if (rc > 0 && (pf[0].revents & POLLIN) && !(pf[1].revents & POLLIN)) {
        char c;
        /* readable is also the end of the stream when QEMU exits at once */
        if (recv(s->uart, &c, 1, MSG_PEEK | MSG_DONTWAIT) > 0) return HIL_OK;
    }
    if (rc > 0) {
        hil__qemu_wait_exit(s, 1000);
        if (s->outt_on) hil_thread_join(&s->outt); /* all of its last words */
        s->outt_on = 0;
        hil__qemu_said(s, said, sizeof said);
        hil_proc_status_str(s->status, how, sizeof how);
        return hil_channel_error(ch, HIL_ERR_CLOSED, "the board did not boot (machine %s, image %s): %s %s%s",
                                 s->machine, s->image, s->qemu, s->exited ? how : "closed the UART", said);
    }
    hil__qemu_said(s, said, sizeof said);
    return hil_channel_error(ch, HIL_ERR_TIMEOUT,
                             "the board did not boot within %lld ms (machine %s, image %s): no byte on its UART%s "
                             "(is the image built for this machine, and does it write to the first UART?)",
                             boot_ms, s->machine, s->image, said);
}

/* Start and wait for the boot; on failure nothing is left running. */
static hil_result hil__qemu_start_boot(hil_channel* ch, hil__qemu* s, long long boot_ms) {
    hil_result r = hil__qemu_start(ch, s);
    if (r == HIL_OK) r = hil__qemu_boot(ch, s, boot_ms);
    if (r != HIL_OK) {
        hil_strbuf keep = {0, 0, 0, 0};
        hil_sb_printf(&keep, "%s", hil_last_error()); /* stopping may log and set errors */
        hil__qemu_stop(ch, s);
        r = hil_error(r, "%s", hil_sb_cstr(&keep));
        hil_sb_free(&keep);
    }
    return r;
}

/* Readers out: new ones wait until `restarting` or `closing` is cleared. */
static void hil__qemu_evict(hil__qemu* s, int closing) {
    hil_mutex_lock(&s->mu);
    if (closing) s->closing = 1;
    else s->restarting = 1;
    hil_waker_wake(&s->wake);
    while (s->users > 0) hil_cond_wait(&s->cv, &s->mu);
    hil_mutex_unlock(&s->mu);
}

static void hil__qemu_readmit(hil__qemu* s) {
    hil_mutex_lock(&s->mu);
    s->restarting = 0;
    hil_waker_drain(&s->wake);
    hil_cond_broadcast(&s->cv);
    hil_mutex_unlock(&s->mu);
}

static hil_result hil__qemu_open(hil_channel* ch) {
    hil__qemu* s = (hil__qemu*)hil_channel_state(ch);
    hil_result r;
    hil_mutex_lock(&s->op);
    hil_mutex_lock(&s->mu);
    s->closing = s->restarting = 0;
    hil_waker_drain(&s->wake);
    hil_mutex_unlock(&s->mu);
    s->pollset = hil__pollset_create();
    r = hil__qemu_gdb_listen(ch, s);
    if (r == HIL_OK) r = hil__qemu_start_boot(ch, s, s->boot_ms);
    if (r != HIL_OK) {
        hil__close_fd(&s->pollset);
        hil__qemu_gdb_unlisten(s);
    }
    hil_mutex_unlock(&s->op);
    return r;
}

static void hil__qemu_close(hil_channel* ch) {
    hil__qemu* s = (hil__qemu*)hil_channel_state(ch);
    if (!s->ready) return;
    hil_mutex_lock(&s->op);
    hil__qemu_evict(s, 1);
    hil__qemu_stop(ch, s);
    hil__close_fd(&s->pollset);
    hil__qemu_gdb_unlisten(s);
    hil_mutex_unlock(&s->op);
}

/* Enter as a reader or writer: 1 and *fd (-1 while powered off); 0 when
 * closed; HIL_ERR_TIMEOUT/AGAIN in *r while a restart outlasts the deadline. */
static int hil__qemu_enter(hil__qemu* s, uint64_t deadline, int nonblocking, int* fd, hil_result* r) {
    *r = HIL_OK;
    hil_mutex_lock(&s->mu);
    while (s->restarting && !s->closing) {
        if (nonblocking || hil_cond_wait_until(&s->cv, &s->mu, deadline) == HIL_ERR_TIMEOUT) {
            hil_mutex_unlock(&s->mu);
            *r = nonblocking ? HIL_ERR_AGAIN : HIL_ERR_TIMEOUT;
            return 0;
        }
    }
    if (s->closing) {
        hil_mutex_unlock(&s->mu);
        *r = HIL_ERR_CLOSED;
        return 0;
    }
    s->users++;
    *fd = s->running ? s->uart : -1;
    hil_mutex_unlock(&s->mu);
    return 1;
}

static void hil__qemu_leave(hil__qemu* s) {
    hil_mutex_lock(&s->mu);
    if (--s->users == 0) hil_cond_broadcast(&s->cv);
    hil_mutex_unlock(&s->mu);
}

static hil_result hil__qemu_recv(hil_channel* ch, hil_msg* m, int timeout_ms) {
    hil__qemu* s = (hil__qemu*)hil_channel_state(ch);
    uint64_t deadline = hil_deadline_ms(timeout_ms);
    for (;;) {
        struct pollfd pf[2];
        int fd = -1, rc;
        hil_result r;
        if (!hil__qemu_enter(s, deadline, timeout_ms == 0, &fd, &r))
            return r == HIL_ERR_CLOSED ? hil__closed(ch) : r;
        pf[0].fd = hil_waker_fd(&s->wake);
        pf[0].events = POLLIN;
        pf[1].fd = fd; /* -1 while powered off: poll() skips it, the board is silent */
        pf[1].events = POLLIN;
        pf[0].revents = pf[1].revents = 0;
        rc = poll(pf, 2, timeout_ms == 0 ? 0 : hil_deadline_left_ms(deadline));
        if (rc > 0 && !pf[0].revents && pf[1].revents) {
            ssize_t n = read(fd, m->data, m->cap);
            int e = errno;
            hil__qemu_leave(s);
            if (n > 0) {
                m->len = (size_t)n;
                return HIL_OK;
            }
            if (n < 0 && (e == EINTR || e == EAGAIN)) continue;
            {
                /* the UART closed under us: the emulator ended by itself */
                char said[1100], how[128];
                hil_mutex_lock(&s->op);
                if (s->running && s->pidfd >= 0) hil_wait_readable(s->pidfd, 500);
                if (s->running) hil__qemu_reaped(s);
                hil_proc_status_str(s->status, how, sizeof how);
                hil__qemu_said(s, said, sizeof said);
                r = hil_channel_error(ch, HIL_ERR_CLOSED, "the emulator (machine %s) %s%s", s->machine,
                                      s->exited ? how : "closed the UART", said);
                hil_mutex_unlock(&s->op);
                return r;
            }
        }
        hil__qemu_leave(s);
        if (rc < 0 && errno != EINTR) return hil_channel_error(ch, HIL_ERR_IO, "poll: %s", strerror(errno));
        if (rc == 0) return timeout_ms == 0 ? HIL_ERR_AGAIN : HIL_ERR_TIMEOUT;
        /* woken by a restart or close: look again */
    }
}

static hil_result hil__qemu_send(hil_channel* ch, const hil_msg* m, int timeout_ms) {
    hil__qemu* s = (hil__qemu*)hil_channel_state(ch);
    uint64_t deadline = hil_deadline_ms(timeout_ms);
    const char* p = (const char*)m->data;
    size_t done = 0;
    int fd = -1;
    hil_result r;
    if (!hil__qemu_enter(s, deadline, 0, &fd, &r)) return r == HIL_ERR_CLOSED ? hil__closed(ch) : r;
    if (fd < 0) {
        hil__qemu_leave(s);
        return hil_channel_error(ch, HIL_ERR_STATE, "the board is powered off (hil_channel_power(ch, 1, ...) starts it)");
    }
    while (done < m->len) {
        ssize_t n = send(fd, p + done, m->len - done, MSG_NOSIGNAL);
        struct pollfd pf[2];
        if (n > 0) { done += (size_t)n; continue; }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
            r = hil_channel_error(ch, HIL_ERR_CLOSED, "writing to the board's UART: %s (did the emulator end?)",
                                  strerror(errno));
            break;
        }
        pf[0].fd = hil_waker_fd(&s->wake);
        pf[0].events = POLLIN;
        pf[1].fd = fd;
        pf[1].events = POLLOUT;
        pf[0].revents = pf[1].revents = 0;
        if (poll(pf, 2, hil_deadline_left_ms(deadline)) == 0) {
            r = hil_channel_error(ch, HIL_ERR_TIMEOUT, "the board's UART took %zu of %zu bytes in %d ms", done, m->len,
                                  timeout_ms);
            break;
        }
        if (pf[0].revents) {
            r = hil_channel_error(ch, HIL_ERR_CLOSED, "the board was restarted or closed while %zu of %zu bytes were "
                                  "written", done, m->len);
            break;
        }
    }
    hil__qemu_leave(s);
    return r;
}

static int hil__qemu_poll_fd(hil_channel* ch) {
    hil__qemu* s = (hil__qemu*)hil_channel_state(ch);
    return s->pollset >= 0 ? s->pollset : s->uart;
}

/* ---- QMP ---- */

/* One line from QMP (without \r\n) into line; HIL_ERR_CLOSED at end of stream. */
static hil_result hil__qmp_line(hil__qemu* s, uint64_t deadline, char* line, size_t size) {
    for (;;) {
        char* nl = (char*)memchr(s->qbuf, '\n', s->qlen);
        ssize_t n;
        if (nl) {
            size_t len = (size_t)(nl - s->qbuf), c = len;
            if (c && s->qbuf[c - 1] == '\r') c--;
            if (c >= size) c = size - 1;
            memcpy(line, s->qbuf, c);
            line[c] = 0;
            memmove(s->qbuf, nl + 1, s->qlen - len - 1);
            s->qlen -= len + 1;
            return HIL_OK;
        }
        if (s->qlen == sizeof s->qbuf) s->qlen = 0; /* a line longer than we keep: only its end is read */
        if (hil_wait_readable(s->qmp, hil_deadline_left_ms(deadline)) != HIL_OK) return HIL_ERR_TIMEOUT;
        n = read(s->qmp, s->qbuf + s->qlen, sizeof s->qbuf - s->qlen);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return HIL_ERR_CLOSED;
        s->qlen += (size_t)n;
    }
}

/* Send command and read up to its answer; events on the way are logged. */
static hil_result hil__qmp_exchange(hil_channel* ch, hil__qemu* s, const char* command, uint64_t deadline,
                                    char** reply) {
    char line[4096];
    hil_result r;
    hil_strbuf out = {0, 0, 0, 0};
    size_t done = 0;
    /* One write with MSG_NOSIGNAL: QEMU acts on a JSON object as soon as it
     * is complete, so after "quit" the socket may be gone before a second
     * write, and a write to it must not raise SIGPIPE. */
    hil_sb_printf(&out, "%s\n", command);
    while (done < out.len) {
        ssize_t n = send(s->qmp, out.data + done, out.len - done, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        done += (size_t)n;
    }
    hil_sb_free(&out);
    if (done < strlen(command) + 1)
        return hil_channel_error(ch, HIL_ERR_CLOSED, "QMP %s: cannot write (the emulator ended?)", command);
    for (;;) {
        r = hil__qmp_line(s, deadline, line, sizeof line);
        if (r != HIL_OK)
            return hil_channel_error(ch, r, "QMP %s: %s", command,
                                     r == HIL_ERR_TIMEOUT ? "no answer in time" : "the emulator closed QMP");
        if (strstr(line, "\"event\"")) {
            HIL_DEBUG(hil_channel_logger(ch), "qemu '%s': QMP event %s", hil_channel_name(ch), line);
            continue;
        }
        if (strncmp(line, "{\"return\"", 9) == 0) {
            if (reply) *reply = hil_strdup(line);
            return HIL_OK;
        }
        if (strncmp(line, "{\"error\"", 8) == 0) {
            if (reply) *reply = hil_strdup(line);
            return hil_channel_error(ch, HIL_ERR_PROTOCOL, "QMP %s: %s", command, line);
        }
        HIL_DEBUG(hil_channel_logger(ch), "qemu '%s': QMP %s", hil_channel_name(ch), line);
    }
}

static hil_result hil__qmp_locked(hil_channel* ch, hil__qemu* s, const char* command, int timeout_ms, char** reply) {
    uint64_t deadline = hil_deadline_ms(timeout_ms);
    hil_result r;
    if (reply) *reply = NULL;
    if (!s->running || s->qmp < 0) return hil_channel_error(ch, HIL_ERR_STATE, "the board is powered off");
    if (!s->qmp_ok) {
        char greeting[4096];
        r = hil__qmp_line(s, deadline, greeting, sizeof greeting);
        if (r != HIL_OK || !strstr(greeting, "\"QMP\""))
            return hil_channel_error(ch, r == HIL_OK ? HIL_ERR_PROTOCOL : r, "QMP: no greeting from the emulator (%s)",
                                     r == HIL_OK ? greeting : hil_result_str(r));
        r = hil__qmp_exchange(ch, s, "{\"execute\":\"qmp_capabilities\"}", deadline, NULL);
        if (r != HIL_OK) return r;
        s->qmp_ok = 1;
    }
    r = hil__qmp_exchange(ch, s, command, deadline, reply);
    /* quit may close the socket before its answer arrives */
    if (r == HIL_ERR_CLOSED && strstr(command, "\"quit\"")) r = HIL_OK;
    return r;
}

HIL_API hil_result hil_qemu_qmp(hil_channel* ch, const char* command, int timeout_ms, char** reply);

static const hil_channel_type hil__qemu_type = {
    "qemu", "An emulated board: qemu-system-* running its firmware, reached through its UART", 1, sizeof(hil__qemu),
    hil__qemu_opts, hil__qemu_configure, hil__qemu_open, hil__qemu_close, hil__qemu_send, hil__qemu_recv,
    hil__qemu_poll_fd, hil__qemu_destroy
};

static hil__qemu* hil__qemu_of(hil_channel* ch) {
    if (!ch || ch->type != &hil__qemu_type) return NULL;
    return (hil__qemu*)hil_channel_state(ch);
}

HIL_API hil_result hil_qemu_qmp(hil_channel* ch, const char* command, int timeout_ms, char** reply) {
    hil__qemu* s = hil__qemu_of(ch);
    hil_result r;
    if (reply) *reply = NULL;
    if (!s) return hil_error(HIL_ERR_INVALID_ARG, "hil_qemu_qmp: '%s' is not a qemu channel", ch ? ch->name : "(null)");
    if (!hil_channel_is_open(ch)) return hil_channel_error(ch, HIL_ERR_STATE, "not open");
    hil_mutex_lock(&s->op);
    r = hil__qmp_locked(ch, s, command, timeout_ms, reply);
    hil_mutex_unlock(&s->op);
    return r;
}

HIL_API hil_result hil_qemu_gdb_address(hil_channel* ch, char* buf, size_t size) {
    hil__qemu* s = hil__qemu_of(ch);
    hil_result r = HIL_OK;
    if (size) buf[0] = 0;
    if (!s) return hil_error(HIL_ERR_INVALID_ARG, "hil_qemu_gdb_address: '%s' is not a qemu channel", ch ? ch->name : "(null)");
    if (!s->ready || !s->gdb_on)
        return hil_channel_error(ch, HIL_ERR_STATE, "no GDB stub: set connectors.%s.gdb = auto (or a port)",
                                 hil_channel_name(ch));
    hil_mutex_lock(&s->mu);
    if (!s->gdb_addr[0]) r = HIL_ERR_STATE;
    else if ((size_t)snprintf(buf, size, "%s", s->gdb_addr) >= size) r = HIL_ERR_OVERFLOW;
    hil_mutex_unlock(&s->mu);
    if (r == HIL_ERR_STATE) return hil_channel_error(ch, r, "the GDB stub listens only while the channel is open");
    if (r == HIL_ERR_OVERFLOW) return hil_channel_error(ch, r, "hil_qemu_gdb_address: a buffer of %zu bytes is too small", size);
    return HIL_OK;
}

HIL_API hil_result hil_qemu_gdb_address_of(const char* name, char* buf, size_t size) {
    size_t i;
    hil_result r = HIL_ERR_NOT_FOUND;
    if (size) buf[0] = 0;
    hil_mutex_lock(&hil__qemu_gdb_mu);
    for (i = 0; i < HIL__COUNTOF(hil__qemu_gdb_list); i++)
        if (hil__qemu_gdb_list[i].owner && name && strcmp(hil__qemu_gdb_list[i].name, name) == 0) {
            r = (size_t)snprintf(buf, size, "%s", hil__qemu_gdb_list[i].addr) >= size ? HIL_ERR_OVERFLOW : HIL_OK;
            break;
        }
    hil_mutex_unlock(&hil__qemu_gdb_mu);
    if (r == HIL_ERR_NOT_FOUND)
        return hil_error(r, "no open qemu channel '%s' with a GDB stub (open connector '%s' first, with gdb = auto)",
                         name ? name : "", name ? name : "");
    if (r == HIL_ERR_OVERFLOW) return hil_error(r, "hil_qemu_gdb_address_of: a buffer of %zu bytes is too small", size);
    return HIL_OK;
}

HIL_API int hil_qemu_pid(hil_channel* ch) {
    hil__qemu* s = hil__qemu_of(ch);
    int pid;
    if (!s || !s->ready) return -1;
    hil_mutex_lock(&s->mu);
    pid = s->running ? s->pid : -1;
    hil_mutex_unlock(&s->mu);
    return pid;
}

static hil_result hil__qemu_reset(hil_channel* ch, int timeout_ms) {
    hil__qemu* s = (hil__qemu*)hil_channel_state(ch);
    hil_result r;
    if (!hil_channel_is_open(ch)) return hil_channel_error(ch, HIL_ERR_STATE, "cannot reset the board: not open");
    hil_mutex_lock(&s->op);
    r = hil__qmp_locked(ch, s, "{\"execute\":\"system_reset\"}", timeout_ms < 0 ? 5000 : timeout_ms, NULL);
    hil_mutex_unlock(&s->op);
    /* a frame cut in half by the reset is garbage */
    if (r == HIL_OK) hil_channel_flush_input(ch);
    if (r == HIL_OK) HIL_INFO(hil_channel_logger(ch), "qemu '%s': board reset", hil_channel_name(ch));
    return r;
}

/* Stop the emulator, then (on) start it again with image (NULL: the same). */
static hil_result hil__qemu_restart(hil_channel* ch, int on, const char* image, int timeout_ms) {
    hil__qemu* s = (hil__qemu*)hil_channel_state(ch);
    hil_result r = HIL_OK;
    if (!hil_channel_is_open(ch)) return hil_channel_error(ch, HIL_ERR_STATE, "not open");
    hil_mutex_lock(&s->op);
    hil__qemu_evict(s, 0);
    hil__qemu_stop(ch, s);
    if (image) {
        char* copy = hil_strdup(image);
        if (!copy) r = hil_channel_error(ch, HIL_ERR_NO_MEMORY, "out of memory");
        else {
            HIL_FREE(s->image);
            s->image = copy;
            s->no_image = strcmp(copy, "none") == 0;
        }
    }
    if (r == HIL_OK && on) r = hil__qemu_start_boot(ch, s, timeout_ms < 0 ? s->boot_ms : timeout_ms);
    hil_channel_flush_input(ch);
    hil__qemu_readmit(s);
    hil_mutex_unlock(&s->op);
    if (r == HIL_OK)
        HIL_INFO(hil_channel_logger(ch), "qemu '%s': %s%s", hil_channel_name(ch),
                 image ? "flashed and booted " : on ? "powered on" : "powered off", image ? image : "");
    return r;
}

static hil_result hil__qemu_power(hil_channel* ch, int on, int timeout_ms) {
    return hil__qemu_restart(ch, on, NULL, timeout_ms);
}

static hil_result hil__qemu_flash(hil_channel* ch, const char* image, int timeout_ms) {
    return hil__qemu_restart(ch, 1, image, timeout_ms);
}

static const hil_board_ops hil__qemu_board_ops = {hil__qemu_reset, hil__qemu_power, hil__qemu_flash};

#endif /* HIL_NO_QEMU */
/* ==== end of section: qemu ================================================================== */

/* ---- built-in types ---------------------------------------------------------------------- */

/* The one place that registers the built-in channel and flasher types. */
static void hil__register_builtin_channel_types(void) {
    static int done;
    if (done) return;
    done = 1;
    hil_channel_type_register(&hil__loopback_type);
    hil_channel_type_register(&hil__process_type);
    hil_channel_type_register(&hil__pty_type);
    hil_channel_type_register(&hil__tcp_type);
    hil_channel_type_register(&hil__udp_type);
    hil_channel_type_register(&hil__serial_type);
    hil_channel_type_register(&hil__rfc2217_type);
    hil_channel_type_register(&hil__ser2net_type);
#ifndef HIL_NO_CAN
    hil_channel_type_register(hil_socketcan_channel_type());
    hil_channel_type_register(hil_isotp_channel_type());
#endif
    hil_flasher_type_register(&hil__cmdflash_type);
#ifndef HIL_NO_QEMU
    hil_channel_type_register(&hil__qemu_type);
    hil_board_ops_register(&hil__qemu_type, &hil__qemu_board_ops);
#endif
}

#ifdef __cplusplus
}
#endif

#endif /* HIL_IMPLEMENTATION */
