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
}

#ifdef __cplusplus
}
#endif

#endif /* HIL_IMPLEMENTATION */
