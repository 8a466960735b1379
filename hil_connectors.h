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
 * (an auxiliary's receive loop and a test sending); everything else (open,
 * close, destroy, options) from one thread while nobody reads or writes. No
 * lock is held across a blocking receive: close() from another thread
 * wakes a blocked reader, which returns HIL_ERR_CLOSED.
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
 * the terminator, a payload too long for the length prefix. */
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
#include <strings.h>
#include <poll.h>
#include <unistd.h>

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

static void hil__chtype_options(const hil_channel_type* t) {
    static hil_extension* ext;
    size_t i, l;
    const hil_channel_opt* lists[3];
    lists[0] = lists[1] = NULL;
    if (!ext) {
        ext = hil_extension_declare("connectors", HIL_EXT_FRAMEWORK, NULL);
        if (!ext) return;
        ext->description = "Channels to devices: connectors.<name>.type and each type's options";
        lists[0] = hil__channel_common_opts;
        lists[1] = hil__channel_stream_opts;
    }
    lists[2] = t->opts;
    for (l = 0; l < 3; l++)
    for (i = 0; lists[l] && lists[l][i].name; i++) {
        const hil_channel_opt* o = &lists[l][i];
        size_t n = strlen(o->name) + 14;
        const hil_option* have;
        hil_option* opt;
        char* key = (char*)HIL_MALLOC(n);
        if (!key) return;
        snprintf(key, n, "connectors.*.%s", o->name);
        have = hil_option_find(key);
        if (have && strcmp(have->key, key) == 0) {
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
        size_t k, m = hil_channel_types(names, 64);
        hil_strbuf sb = {0, 0, 0, 0};
        for (k = 0; k < m && k < 64; k++) hil_sb_printf(&sb, "%s%s", k ? ", " : "", names[k]);
        r = hil_error(HIL_ERR_CONFIG, "connector '%s': unknown type '%s' (registered: %s)", c->name, tname,
                      hil_sb_cstr(&sb));
        hil_sb_free(&sb);
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
    r = ch->stream ? hil__stream_recv(ch, m, timeout_ms) : ch->type->recv(ch, m, timeout_ms);
    if (r == HIL_OK) {
        if (!m->timestamp_ns) m->timestamp_ns = hil_wall_ns();
        hil_channel_count(ch, &ch->stats.rx_msgs, 1);
        hil_channel_count(ch, &ch->stats.rx_bytes, m->len);
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

typedef struct hil__loopback {
    hil_mutex mu;
    hil_cond cv;           /* space freed or channel closed */
    hil_waker readable;    /* set while the queue is not empty */
    hil__lb_item* items;   /* ring of message headers */
    unsigned char** bufs;  /* ring of payloads */
    size_t cap, head, count;
    int closed;
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
    hil_mutex_init(&lb->mu);
    hil_cond_init(&lb->cv);
    if (hil_waker_init(&lb->readable) != HIL_OK) {
        free(lb->items);
        free(lb->bufs);
        return hil_channel_error(ch, HIL_ERR_IO, "%s", hil_last_error());
    }
    lb->head = lb->count = 0;
    lb->closed = 0;
    return HIL_OK;
}

static void hil__lb_close(hil_channel* ch) {
    hil__loopback* lb = (hil__loopback*)hil_channel_state(ch);
    size_t i;
    hil_mutex_lock(&lb->mu);
    lb->closed = 1;
    hil_cond_broadcast(&lb->cv);
    hil_waker_wake(&lb->readable); /* a blocked reader sees the close */
    hil_mutex_unlock(&lb->mu);
    for (i = 0; i < lb->count; i++) free(lb->bufs[(lb->head + i) % lb->cap]);
    free(lb->items);
    free(lb->bufs);
    lb->items = NULL;
    lb->bufs = NULL;
    hil_waker_destroy(&lb->readable);
    hil_cond_destroy(&lb->cv);
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
    while (lb->count == lb->cap && !lb->closed) {
        if (hil_cond_wait_until(&lb->cv, &lb->mu, deadline) == HIL_ERR_TIMEOUT && lb->count == lb->cap) {
            hil_mutex_unlock(&lb->mu);
            free(copy);
            return hil_channel_error(ch, HIL_ERR_OVERFLOW, "queue full (%zu messages) for %d ms", lb->cap, timeout_ms);
        }
    }
    if (lb->closed) {
        hil_mutex_unlock(&lb->mu);
        free(copy);
        return HIL_ERR_CLOSED;
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
        hil_mutex_lock(&lb->mu);
        if (lb->count > 0) {
            size_t slot = lb->head;
            hil__lb_item it = lb->items[slot];
            unsigned char* buf = lb->bufs[slot];
            lb->head = (lb->head + 1) % lb->cap;
            if (--lb->count == 0) hil_waker_drain(&lb->readable);
            hil_cond_signal(&lb->cv);
            hil_mutex_unlock(&lb->mu);
            m->len = it.len < m->cap ? it.len : m->cap;
            memcpy(m->data, buf, m->len);
            m->remote_id = it.remote_id;
            m->flags = it.flags | (it.len > m->cap ? HIL_MSG_TRUNCATED : 0u);
            free(buf);
            return HIL_OK;
        }
        if (lb->closed) {
            hil_mutex_unlock(&lb->mu);
            return HIL_ERR_CLOSED;
        }
        hil_mutex_unlock(&lb->mu);
        /* no lock held while blocking: wait on the readable waker */
        if (timeout_ms == 0) return HIL_ERR_AGAIN;
        if (hil_wait_readable(hil_waker_fd(&lb->readable), hil_deadline_left_ms(deadline)) == HIL_ERR_TIMEOUT)
            return HIL_ERR_TIMEOUT;
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
}

#ifdef __cplusplus
}
#endif

#endif /* HIL_IMPLEMENTATION */
