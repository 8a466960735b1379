/* hil_console.h - consoles for hil: expect on any channel, and a shell
 * auxiliary that runs commands on a Linux console, a U-Boot prompt or a
 * Zephyr-style shell.
 *
 * A console is a channel (serial, tcp, process, pty, rtt, qemu, a proxy
 * channel...) seen as text: hil_expect() waits until what the device
 * printed matches a POSIX extended regular expression, hil_send_line()
 * types a line. The shell auxiliary builds on it: it finds the prompt,
 * interrupts autoboot, logs in, and runs commands, giving back what they
 * printed (without the echo and the prompt) and, on POSIX shells, their
 * exit status.
 *
 * CONTENTS
 *   1. Expect                hil_console_*, hil_expect, hil_expect_any, hil_send_line
 *   2. The shell auxiliary   auxiliaries.<name>.type = shell; hil_shell_run, hil_shell_login
 *   3. Output extraction     hil_shell_extract (what a command printed, from the console's text)
 *
 * ==========================================================================
 * EXAMPLE
 * ==========================================================================
 *
 *     # lab.conf
 *     connectors.board.type = serial
 *     connectors.board.port = /dev/ttyUSB0
 *     auxiliaries.sh.type = shell
 *     auxiliaries.sh.connectors.com = board
 *     auxiliaries.sh.prompt = "# $"
 *     auxiliaries.sh.login_prompt = "login: $"
 *     auxiliaries.sh.username = root
 *
 *     HIL_TEST_META(linux, kernel, "requires=sh") {
 *         hil_strbuf out = {0, 0, 0, 0};
 *         int status = -1;
 *         HIL_ASSERT_OK(hil_shell_run(hil_aux_get("sh"), "uname -r", &out, &status, 5000));
 *         HIL_EXPECT_EQ(status, 0);
 *         HIL_EXPECT(strstr(hil_sb_cstr(&out), "6.1") != NULL, "kernel: %s", hil_sb_cstr(&out));
 *         hil_sb_free(&out);
 *     }
 *
 * Expect on a channel of your own, without an auxiliary:
 *
 *     hil_console_config cc;
 *     hil_console* con;
 *     hil_expect_match m;
 *     const char* pats[] = {"=> $", "login: $"};
 *     hil_console_config_init(&cc);
 *     HIL_ASSERT_OK(hil_console_create(ch, &cc, &con));        (ch: an open hil_channel)
 *     HIL_ASSERT_OK(hil_expect(con, "Hit any key to stop autoboot", 10000, NULL));
 *     HIL_ASSERT_OK(hil_send(con, " ", 1, 1000));
 *     HIL_ASSERT_OK(hil_send_line(con, "version", 1000));
 *     HIL_ASSERT_OK(hil_expect(con, "U-Boot ([0-9.]+)", 2000, &m));  (m.text, group 1: "2024.01")
 *     HIL_ASSERT_OK(hil_expect_any(con, pats, 2, 2000, &m));        (m.index: which one)
 *     hil_console_destroy(con);                                      (the channel stays yours)
 *
 * ==========================================================================
 * EXPECT
 * ==========================================================================
 *
 * Patterns are POSIX extended regular expressions (regcomp with
 * REG_EXTENDED | REG_NEWLINE: '^' and '$' also match at line breaks, '.'
 * does not match '\n'), compiled once and kept (the last 16 per console).
 * They are matched against everything received and not consumed yet, after
 * every chunk, so a match may span chunks and need not end with a newline
 * (a prompt has none): "\$ $" is a shell prompt that is the last thing
 * received so far. Of several patterns the one matching earliest in the
 * text wins (on a tie, the first listed). A match consumes the text up to
 * its end; the rest stays for the next call.
 *
 * The unconsumed text is bounded (max_buffer, default 16 KiB): older bytes
 * scroll out of matching into the next match's `before` (itself bounded by
 * max_before, default 1 MiB; what goes past that is counted in
 * before_dropped). NUL bytes are not matched (regexec stops at them): they
 * are dropped from the text and kept, escaped, in the transcript. So are
 * ANSI escape sequences (ESC x, ESC [ ... final byte: colours, a busybox
 * shell's cursor query after its prompt) unless keep_ansi is set.
 *
 * TRANSCRIPT: every byte received and sent is logged to the logger
 * "hil.console.<name>" (INFO; one record per line, "< " received, "> "
 * sent, passwords as "> ******"), with its time, into the running test's
 * report. Control and non-ASCII bytes are escaped (\r, \t, \xHH).
 *
 * ERRORS: a timeout (HIL_ERR_TIMEOUT) says what was expected, for how
 * long, and shows the last lines received, escaped. A channel that closes
 * while waiting is HIL_ERR_CLOSED with the same. A pattern that does not
 * compile is HIL_ERR_INVALID_ARG with regerror's reason.
 *
 * WAITING: each call blocks in the channel's receive with the time left,
 * never sleeping in a loop. A console is used by one thread at a time.
 *
 * ==========================================================================
 * THE SHELL AUXILIARY (auxiliaries.<name>.<key>)
 * ==========================================================================
 *
 *   type = shell, connectors.com = <connector>, backend = thread | simple
 *   prompt           the prompt, a regex (required): "# $", "uart:~\$ $", "=> $"
 *   login_prompt     answer it with username ("login: $")
 *   password_prompt  answer it with password ("[Pp]assword: $")
 *   username, password
 *   login_failed     what a refused login prints (default "Login incorrect")
 *   line_ending      sent after each command, C escapes (default "\n"; "\r" for some U-Boots)
 *   interrupt_boot   a regex; when it appears, interrupt_key is sent
 *                    ("Hit any key to stop autoboot")
 *   interrupt_key    C escapes (default " ")
 *   posix            true: the exit status through a marker (default);
 *                    false: no status (U-Boot, Zephyr), *status = -1
 *   login_timeout_ms reaching the prompt on first use (default 30000)
 *   wake_ms          silence after which a line ending is sent to make the
 *                    console print its prompt (default 1000; at most 3 times)
 *   max_output       bytes of output kept per command (default 65536)
 *   max_buffer       the console's match buffer (default 16384)
 *
 * hil_shell_run(sh, cmd, &out, &status, timeout_ms) reaches the prompt
 * first if it has not (on first use, after hil_shell_reset()), then drops
 * whatever the console printed meanwhile, sends the command and waits. On
 * a POSIX shell it sends
 *
 *     echo __HIL_""BEGIN_<id>_<n>__; <cmd>; echo "__HIL_RC_<id>_<n>_$?__"
 *
 * (<id> is a random number per auxiliary instance, <n> counts commands).
 * The echoed line holds neither marker as printed (the quotes and the "$?"
 * differ), so the output is exactly what lies between the printed markers,
 * whatever the terminal does to the echo (wrapping, escape sequences).
 * Without posix, the first line is dropped when it holds the command (the
 * echo), and the output ends at the last line break before the prompt
 * (so a prompt regex need not match the whole prompt line: "[#$] $" works
 * after "/root # "). "\r\n" becomes "\n".
 *
 * Errors: a console that never shows the prompt (HIL_ERR_TIMEOUT with the
 * last lines), a wrong password (HIL_ERR_PERMISSION), a login prompt or
 * autoboot seen during a command (HIL_ERR_STATE: the target rebooted; the
 * next call logs in again), output longer than max_output (HIL_ERR_OVERFLOW:
 * the first max_output bytes and the status are still given), a channel
 * that closes (HIL_ERR_CLOSED).
 *
 * The shell runs on the auxiliary's worker (thread or simple backend; the
 * process backend is refused at create because the output is handed over
 * in the caller's memory). Commands are aborted with the auxiliary
 * (hil_aux_abort_command, destroy).
 *
 * Needs hil.h, hil_connectors.h and hil_aux.h first. POSIX <regex.h>.
 * The implementation is compiled where HIL_IMPLEMENTATION is defined (or
 * HIL_IMPLEMENTATION_CONSOLE, in a file of its own: README, "Build time").
 * Docs: docs/consoles.md.
 */
#ifndef HIL_CONSOLE_H_INCLUDED
#define HIL_CONSOLE_H_INCLUDED

#include "hil.h"
#include "hil_connectors.h"
#include "hil_aux.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ==========================================================================
 * 1. Expect
 * ========================================================================== */

typedef struct hil_console hil_console;

/* How a console receives: hil_channel_recv by default; the shell auxiliary
 * uses hil_aux_recv so that an abort ends the wait. */
typedef hil_result (*hil_console_recv_fn)(void* user, hil_channel* ch, hil_msg* m, int timeout_ms);

typedef struct hil_console_config {
    const char* name;          /* for messages and the logger; NULL: the channel's name */
    size_t max_buffer;         /* unconsumed text kept for matching (16384) */
    size_t max_before;         /* hil_expect_match.before kept at most (1 MiB) */
    const char* line_ending;   /* hil_send_line: C escapes, 1 to 8 bytes ("\n") */
    int own_channel;           /* destroy the channel with the console (0) */
    int keep_ansi;             /* match ANSI escape sequences too (0: they are removed from the
                                  text matched, as a colour or a cursor query would break a prompt) */
    hil_log_level transcript_level;  /* the transcript's records (HIL_LOG_INFO) */
    hil_console_recv_fn recv;  /* NULL: hil_channel_recv */
    void* recv_user;
} hil_console_config;

#define HIL_EXPECT_MAX_GROUPS 10
#define HIL_CONSOLE_MAX_PATTERNS 16

typedef struct hil_expect_span {
    long start;        /* offset in text; -1: the group took no part in the match */
    size_t len;
} hil_expect_span;

/* A match. The strings belong to the console and stay valid until its next
 * hil_expect* call (or destroy); each is NUL-terminated. */
typedef struct hil_expect_match {
    int index;               /* the pattern that matched (hil_expect: 0) */
    const char* text;        /* what the whole pattern matched */
    size_t len;
    const char* before;      /* what came before it since the previous match */
    size_t before_len;
    size_t before_dropped;   /* bytes of before beyond max_before (in the transcript only) */
    size_t n_groups;         /* 1 + the pattern's groups, at most HIL_EXPECT_MAX_GROUPS */
    hil_expect_span groups[HIL_EXPECT_MAX_GROUPS];  /* 0: the whole match */
} hil_expect_match;

HIL_API void hil_console_config_init(hil_console_config* c);
/* ch may be NULL: then only text given to hil_console_feed() is matched
 * (tests, fuzzing, bytes that came another way). */
HIL_API hil_result hil_console_create(hil_channel* ch, const hil_console_config* c, hil_console** out);
HIL_API void hil_console_destroy(hil_console* con);
HIL_API hil_channel* hil_console_channel(hil_console* con);
HIL_API const char* hil_console_name(const hil_console* con);

/* Wait until pattern matches what was received. m may be NULL. */
HIL_API hil_result hil_expect(hil_console* con, const char* pattern, int timeout_ms, hil_expect_match* m);
/* The same for several patterns (at most HIL_CONSOLE_MAX_PATTERNS); m->index says which. */
HIL_API hil_result hil_expect_any(hil_console* con, const char* const* patterns, size_t n, int timeout_ms,
                                  hil_expect_match* m);
/* Group i of a match into out (NUL-terminated, cut to size); its length,
 * or -1 when the group does not exist or took no part. */
HIL_API long hil_expect_group(const hil_expect_match* m, size_t i, char* out, size_t size);

/* Send bytes as they are; a line with the line ending. Both go to the transcript. */
HIL_API hil_result hil_send(hil_console* con, const void* data, size_t len, int timeout_ms);
HIL_API hil_result hil_send_line(hil_console* con, const char* line, int timeout_ms);
/* Like hil_send_line, but the transcript shows "******". */
HIL_API hil_result hil_send_secret(hil_console* con, const char* line, int timeout_ms);

/* Give the console bytes as if received (transcript included). */
HIL_API void hil_console_feed(hil_console* con, const void* data, size_t len);
/* Read what the channel has now, without waiting (HIL_OK, or the channel's error). */
HIL_API hil_result hil_console_drain(hil_console* con);
/* Forget the unconsumed text (it stays in the transcript). */
HIL_API void hil_console_clear(hil_console* con);
/* The text received and not consumed by a match: what scrolled out of the
 * match buffer (up to max_before), then the buffer. NUL-terminated; valid
 * until the next call. */
HIL_API const char* hil_console_pending(hil_console* con, size_t* len);
/* The last lines received (at most `lines`), escaped, each starting with
 * "\n    | ", into out; for error messages. */
HIL_API void hil_console_tail(hil_console* con, size_t lines, char* out, size_t size);
/* Bytes received in all, and scrolled out of the match buffer unmatched. */
HIL_API void hil_console_counts(const hil_console* con, uint64_t* received, uint64_t* scrolled);

/* Text with control and non-ASCII bytes escaped (\r \n \t \\ \xHH). */
HIL_API void hil_console_escape(const void* data, size_t len, hil_strbuf* out);

/* ==========================================================================
 * 2. The shell auxiliary
 * ========================================================================== */

/* Its commands (hil_aux_run_command), for the functions below. */
#define HIL_SHELL_CMD_RUN 1
#define HIL_SHELL_CMD_LOGIN 2
#define HIL_SHELL_CMD_RESET 3

/* Run cmd, give its output (appended to out, may be NULL) and exit status
 * (status may be NULL; -1 when the shell is not posix). */
HIL_API hil_result hil_shell_run(hil_aux* sh, const char* cmd, hil_strbuf* out, int* status, int timeout_ms);
/* Reach the prompt now: interrupt autoboot, log in. */
HIL_API hil_result hil_shell_login(hil_aux* sh, int timeout_ms);
/* The target was reset: the next call looks for the prompt (and logs in) again. */
HIL_API hil_result hil_shell_reset(hil_aux* sh);

/* ==========================================================================
 * 3. Output extraction
 * ========================================================================== */

/* What a command printed, from the console text between sending it and its
 * end (the exit-status marker or the prompt): after the first line holding
 * begin_marker when given and found; else without a first line that ends
 * with the command (its echo). "\r\n" (and "\r\r\n") becomes "\n". Appends to out; at most max
 * bytes (0: no bound); returns the bytes that did not fit. */
HIL_API size_t hil_shell_extract(const char* text, size_t len, const char* command, const char* begin_marker,
                                 size_t max, hil_strbuf* out);

/* Register the shell auxiliary type (done before main unless
 * HIL_NO_CONSTRUCTORS; then call it yourself). */
HIL_API void hil_console_module_init(void);

#ifdef __cplusplus
}
#endif

#endif /* HIL_CONSOLE_H_INCLUDED */

/* ==========================================================================
 * IMPLEMENTATION
 * ========================================================================== */
#if (defined(HIL_IMPLEMENTATION) || defined(HIL_IMPLEMENTATION_CONSOLE)) && !defined(HIL_CONSOLE__IMPLEMENTED)
#define HIL_CONSOLE__IMPLEMENTED
#ifndef HIL__PRELUDE_DONE
#error "hil_console.h: define HIL_IMPLEMENTATION_CONSOLE before the first hil header of the file"
#endif

#include <regex.h>
#include <string.h>
#include <stdlib.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ==== console: state ===================================================== */

#define HIL__CON_CACHE 16
#define HIL__CON_TAIL 4096u   /* raw bytes kept for "the last lines received" */

typedef struct hil__con_re {
    char* pattern;
    regex_t re;
    uint64_t used;
} hil__con_re;

struct hil_console {
    hil_channel* ch;
    char* name;
    char* logger;
    size_t max_buffer, max_before;
    unsigned char eol[8];
    size_t eol_len;
    int own_channel;
    int keep_ansi;
    int esc;                   /* in an escape sequence: 1 after ESC, 2 in a CSI */
    hil_log_level level;
    hil_console_recv_fn recv;
    void* recv_user;
    hil_strbuf buf;            /* unconsumed text, NULs dropped */
    hil_strbuf scrolled;       /* scrolled out of buf since the last match (at most max_before) */
    size_t scrolled_dropped;
    hil_strbuf line;           /* the transcript's partial line */
    unsigned char tail[HIL__CON_TAIL];
    size_t tail_len;           /* bytes in tail (a ring once full) */
    size_t tail_pos;
    uint64_t received, scrolled_total;
    hil__con_re cache[HIL__CON_CACHE];
    uint64_t clock;
    hil_strbuf m_text, m_before;   /* what the last match points to */
    hil_strbuf m_pend;             /* what hil_console_pending returned */
};

HIL_API void hil_console_config_init(hil_console_config* c) {
    memset(c, 0, sizeof *c);
    c->max_buffer = 16384;
    c->max_before = 1024u * 1024u;
    c->line_ending = "\n";
    c->transcript_level = HIL_LOG_INFO;
}

HIL_API void hil_console_escape(const void* data, size_t len, hil_strbuf* out) {
    const unsigned char* p = (const unsigned char*)data;
    size_t i;
    for (i = 0; i < len; i++) {
        unsigned char c = p[i];
        if (c == '\\') hil_sb_puts(out, "\\\\");
        else if (c == '\r') hil_sb_puts(out, "\\r");
        else if (c == '\n') hil_sb_puts(out, "\\n");
        else if (c == '\t') hil_sb_puts(out, "\\t");
        else if (c < 0x20 || c > 0x7e) hil_sb_printf(out, "\\x%02x", c);
        else hil_sb_putc(out, (char)c);
    }
}

static hil_result hil__con_eol(const char* escaped, unsigned char* out, size_t* len) {
    hil_framing f;
    hil_framing_init(&f, HIL_FRAMING_LINE);
    if (hil_framing_set_terminator(&f, escaped) != HIL_OK) return HIL_ERR_INVALID_ARG;
    memcpy(out, f.terminator, f.terminator_len);
    *len = f.terminator_len;
    return HIL_OK;
}

HIL_API hil_result hil_console_create(hil_channel* ch, const hil_console_config* c, hil_console** out) {
    hil_console_config defaults;
    hil_console* con;
    const char* name;
    *out = NULL;
    if (!c) {
        hil_console_config_init(&defaults);
        c = &defaults;
    }
    con = (hil_console*)HIL_MALLOC(sizeof *con);
    if (!con) return hil_error(HIL_ERR_NO_MEMORY, "console: out of memory");
    memset(con, 0, sizeof *con);
    if (hil__con_eol(c->line_ending ? c->line_ending : "\n", con->eol, &con->eol_len) != HIL_OK) {
        HIL_FREE(con);
        return hil_error(HIL_ERR_INVALID_ARG,
                         "console: line_ending '%s' must be 1 to 8 bytes, with C escapes (\\n, \\r\\n, \\r)",
                         c->line_ending);
    }
    name = c->name ? c->name : ch ? hil_channel_name(ch) : "console";
    con->ch = ch;
    con->name = hil_strdup(name);
    {
        hil_strbuf lg = {0, 0, 0, 0};
        hil_sb_printf(&lg, "hil.console.%s", name);
        con->logger = hil_sb_take(&lg);
    }
    con->max_buffer = c->max_buffer ? c->max_buffer : 16384;
    if (con->max_buffer < 64) con->max_buffer = 64; /* a prompt must fit */
    con->max_before = c->max_before ? c->max_before : 1024u * 1024u;
    con->own_channel = c->own_channel;
    con->keep_ansi = c->keep_ansi;
    con->level = c->transcript_level;
    con->recv = c->recv;
    con->recv_user = c->recv_user;
    *out = con;
    return HIL_OK;
}

/* The transcript: one record per line, so each line carries its own time. */
static void hil__con_log_line(hil_console* con, const char* dir, const void* data, size_t len, int partial) {
    hil_strbuf e = {0, 0, 0, 0};
    if (!hil_log_enabled(con->logger, con->level)) return;
    hil_console_escape(data, len, &e);
    hil_log_at(con->level, __FILE__, __LINE__, con->logger, "%s%s%s", dir, hil_sb_cstr(&e),
               partial ? "  (no newline yet)" : "");
    hil_sb_free(&e);
}

static void hil__con_flush_partial(hil_console* con) {
    if (con->line.len) hil__con_log_line(con, "< ", con->line.data, con->line.len, 1);
    hil_sb_clear(&con->line);
}

HIL_API void hil_console_destroy(hil_console* con) {
    size_t i;
    if (!con) return;
    hil__con_flush_partial(con);
    for (i = 0; i < HIL__CON_CACHE; i++)
        if (con->cache[i].pattern) {
            regfree(&con->cache[i].re);
            HIL_FREE(con->cache[i].pattern);
        }
    if (con->own_channel && con->ch) hil_channel_destroy(con->ch);
    hil_sb_free(&con->buf);
    hil_sb_free(&con->scrolled);
    hil_sb_free(&con->line);
    hil_sb_free(&con->m_text);
    hil_sb_free(&con->m_before);
    hil_sb_free(&con->m_pend);
    HIL_FREE(con->name);
    HIL_FREE(con->logger);
    HIL_FREE(con);
}

HIL_API hil_channel* hil_console_channel(hil_console* con) { return con->ch; }
HIL_API const char* hil_console_name(const hil_console* con) { return con->name; }

HIL_API void hil_console_counts(const hil_console* con, uint64_t* received, uint64_t* scrolled) {
    if (received) *received = con->received;
    if (scrolled) *scrolled = con->scrolled_total;
}

/* Bytes scrolled out of matching belong to the next match's `before`. */
static void hil__con_to_before(hil_console* con, const char* p, size_t n) {
    size_t room = con->max_before > con->scrolled.len ? con->max_before - con->scrolled.len : 0;
    size_t take = n < room ? n : room;
    if (take) hil_sb_append(&con->scrolled, p, take);
    con->scrolled_dropped += n - take;
}

HIL_API void hil_console_feed(hil_console* con, const void* data, size_t len) {
    const unsigned char* p = (const unsigned char*)data;
    size_t i, start = 0;
    con->received += len;
    for (i = 0; i < len; i++) { /* the tail ring */
        con->tail[con->tail_pos] = p[i];
        con->tail_pos = (con->tail_pos + 1) % HIL__CON_TAIL;
        if (con->tail_len < HIL__CON_TAIL) con->tail_len++;
    }
    for (i = 0; i < len; i++) { /* the transcript, line by line */
        if (p[i] != '\n') continue;
        if (con->line.len) {
            hil_sb_append(&con->line, p + start, i - start);
            hil__con_log_line(con, "< ", con->line.data, con->line.len, 0);
            hil_sb_clear(&con->line);
        } else {
            hil__con_log_line(con, "< ", p + start, i - start, 0);
        }
        start = i + 1;
    }
    if (start < len) {
        hil_sb_append(&con->line, p + start, len - start);
        if (con->line.len > 4096) hil__con_flush_partial(con); /* a line that never ends still shows */
    }
    for (i = 0; i < len; i++) {
        unsigned char c = p[i];
        if (!c) continue; /* regexec stops at NUL */
        if (!con->keep_ansi) { /* ESC x, ESC [ params final: across chunks */
            if (con->esc == 1) {
                con->esc = c == '[' ? 2 : 0;
                continue;
            }
            if (con->esc == 2) {
                if (c >= 0x40 && c <= 0x7e) con->esc = 0;
                continue;
            }
            if (c == 0x1b) {
                con->esc = 1;
                continue;
            }
        }
        hil_sb_putc(&con->buf, (char)c);
    }
    if (con->buf.len > con->max_buffer) {
        size_t drop = con->buf.len - con->max_buffer;
        hil__con_to_before(con, con->buf.data, drop);
        memmove(con->buf.data, con->buf.data + drop, con->buf.len - drop);
        con->buf.len -= drop;
        con->buf.data[con->buf.len] = 0;
        con->scrolled_total += drop;
    }
}

HIL_API void hil_console_clear(hil_console* con) {
    hil_sb_clear(&con->buf);
    hil_sb_clear(&con->scrolled);
    con->scrolled_dropped = 0;
}

HIL_API const char* hil_console_pending(hil_console* con, size_t* len) {
    hil_sb_clear(&con->m_pend);
    hil_sb_append(&con->m_pend, con->scrolled.data ? con->scrolled.data : "", con->scrolled.len);
    hil_sb_append(&con->m_pend, con->buf.data ? con->buf.data : "", con->buf.len);
    if (len) *len = con->m_pend.len;
    return hil_sb_cstr(&con->m_pend);
}

HIL_API void hil_console_tail(hil_console* con, size_t lines, char* out, size_t size) {
    unsigned char raw[HIL__CON_TAIL];
    size_t n = con->tail_len, start = (con->tail_pos + HIL__CON_TAIL - n) % HIL__CON_TAIL, i, from, seen = 0;
    hil_strbuf sb = {0, 0, 0, 0};
    if (!size) return;
    for (i = 0; i < n; i++) raw[i] = con->tail[(start + i) % HIL__CON_TAIL];
    /* back from the end to the start of the lines-th last line */
    from = n;
    if (n && raw[n - 1] == '\n') from = n - 1;
    while (from > 0) {
        if (raw[from - 1] == '\n' && ++seen >= lines) break;
        from--;
    }
    if (n == 0) {
        hil_sb_puts(&sb, "\n    | (nothing received)");
    } else {
        size_t a = from;
        for (i = from; i <= n; i++) {
            if (i == n || raw[i] == '\n') {
                if (i > a || i < n) {
                    size_t cut = i - a > 100 ? 100 : i - a; /* a long line must not hide the others */
                    hil_sb_puts(&sb, "\n    | ");
                    hil_console_escape(raw + a, cut, &sb);
                    if (cut < i - a) hil_sb_printf(&sb, "... (%zu more bytes)", i - a - cut);
                }
                a = i + 1;
            }
        }
    }
    snprintf(out, size, "%s", hil_sb_cstr(&sb));
    hil_sb_free(&sb);
}

/* ==== console: matching ================================================== */

static hil_result hil__con_compile(hil_console* con, const char* pattern, regex_t** out) {
    size_t i, victim = 0;
    hil__con_re* e;
    int rc;
    for (i = 0; i < HIL__CON_CACHE; i++) {
        e = &con->cache[i];
        if (e->pattern && strcmp(e->pattern, pattern) == 0) {
            e->used = ++con->clock;
            *out = &e->re;
            return HIL_OK;
        }
        if (!e->pattern || e->used < con->cache[victim].used) victim = i;
        if (!e->pattern) break;
    }
    e = &con->cache[victim];
    if (e->pattern) {
        regfree(&e->re);
        HIL_FREE(e->pattern);
        e->pattern = NULL;
    }
    rc = regcomp(&e->re, pattern, REG_EXTENDED | REG_NEWLINE);
    if (rc != 0) {
        char why[200];
        regerror(rc, &e->re, why, sizeof why);
        return hil_error(HIL_ERR_INVALID_ARG, "console '%s': pattern /%s/ is not a POSIX extended regex: %s",
                         con->name, pattern, why);
    }
    e->pattern = hil_strdup(pattern);
    e->used = ++con->clock;
    *out = &e->re;
    return HIL_OK;
}

/* The earliest match of any pattern in buf; 1 when found. */
static int hil__con_try(hil_console* con, regex_t* const* res, size_t n, hil_expect_match* m) {
    regmatch_t pm[HIL_EXPECT_MAX_GROUPS], best[HIL_EXPECT_MAX_GROUPS];
    size_t i, g, ng = 0;
    int found = -1;
    const char* text = hil_sb_cstr(&con->buf);
    memset(best, 0, sizeof best);
    for (i = 0; i < n; i++) {
        size_t want = res[i]->re_nsub + 1 < HIL_EXPECT_MAX_GROUPS ? res[i]->re_nsub + 1 : HIL_EXPECT_MAX_GROUPS;
        if (regexec(res[i], text, want, pm, 0) != 0) continue;
        if (found < 0 || pm[0].rm_so < best[0].rm_so) {
            found = (int)i;
            ng = want;
            memcpy(best, pm, want * sizeof pm[0]);
        }
    }
    if (found < 0) return 0;
    hil_sb_clear(&con->m_before);
    hil_sb_append(&con->m_before, con->scrolled.data ? con->scrolled.data : "", con->scrolled.len);
    {
        size_t so = (size_t)best[0].rm_so, room = con->max_before - con->m_before.len;
        size_t take = so < room ? so : room;
        hil_sb_append(&con->m_before, text, take);
        if (m) m->before_dropped = con->scrolled_dropped + (so - take);
    }
    hil_sb_clear(&con->m_text);
    hil_sb_append(&con->m_text, text + best[0].rm_so, (size_t)(best[0].rm_eo - best[0].rm_so));
    if (m) {
        memset(m->groups, 0, sizeof m->groups);
        m->index = found;
        m->text = hil_sb_cstr(&con->m_text);
        m->len = con->m_text.len;
        m->before = hil_sb_cstr(&con->m_before);
        m->before_len = con->m_before.len;
        m->n_groups = ng;
        for (g = 0; g < ng; g++) {
            if (best[g].rm_so < 0) {
                m->groups[g].start = -1;
                continue;
            }
            m->groups[g].start = (long)(best[g].rm_so - best[0].rm_so);
            m->groups[g].len = (size_t)(best[g].rm_eo - best[g].rm_so);
        }
    }
    /* consume up to the end of the match */
    {
        size_t eo = (size_t)best[0].rm_eo;
        memmove(con->buf.data, con->buf.data + eo, con->buf.len - eo);
        con->buf.len -= eo;
        con->buf.data[con->buf.len] = 0;
    }
    hil_sb_clear(&con->scrolled);
    con->scrolled_dropped = 0;
    return 1;
}

static void hil__con_describe(const char* const* patterns, size_t n, hil_strbuf* sb) {
    size_t i;
    for (i = 0; i < n; i++) hil_sb_printf(sb, "%s/%s/", i == 0 ? "" : i + 1 == n ? " or " : ", ", patterns[i]);
}

static hil_result hil__con_fail(hil_console* con, hil_result r, const char* const* patterns, size_t n,
                                int timeout_ms, const char* what) {
    char tail[700];
    hil_strbuf sb = {0, 0, 0, 0};
    hil__con_describe(patterns, n, &sb);
    hil_console_tail(con, 8, tail, sizeof tail);
    if (r == HIL_ERR_TIMEOUT)
        hil_error(r, "console '%s': expected %s within %d ms, but it did not come; last lines received:%s",
                  con->name, hil_sb_cstr(&sb), timeout_ms, tail);
    else
        hil_error(r, "console '%s': %s while expecting %s; last lines received:%s", con->name, what,
                  hil_sb_cstr(&sb), tail);
    hil_sb_free(&sb);
    return r;
}

static hil_result hil__con_recv(hil_console* con, hil_msg* m, int timeout_ms) {
    return con->recv ? con->recv(con->recv_user, con->ch, m, timeout_ms) : hil_channel_recv(con->ch, m, timeout_ms);
}

HIL_API hil_result hil_console_drain(hil_console* con) {
    unsigned char chunk[4096];
    if (!con->ch) return HIL_OK;
    for (;;) {
        hil_msg msg;
        hil_result r;
        hil_msg_init(&msg, chunk, sizeof chunk);
        r = hil_channel_recv(con->ch, &msg, 0);
        if (r == HIL_ERR_AGAIN || r == HIL_ERR_TIMEOUT) return HIL_OK;
        if (r != HIL_OK) return r;
        hil_console_feed(con, msg.data, msg.len);
    }
}

HIL_API hil_result hil_expect_any(hil_console* con, const char* const* patterns, size_t n, int timeout_ms,
                                  hil_expect_match* m) {
    regex_t* res[HIL_CONSOLE_MAX_PATTERNS];
    unsigned char chunk[4096];
    uint64_t deadline = hil_deadline_ms(timeout_ms);
    int idle = 0; /* the last receive brought nothing */
    size_t i;
    hil_result r;
    if (!con || !patterns || n == 0 || n > HIL_CONSOLE_MAX_PATTERNS)
        return hil_error(HIL_ERR_INVALID_ARG, "hil_expect_any: 1 to %d patterns", HIL_CONSOLE_MAX_PATTERNS);
    for (i = 0; i < n; i++) {
        if (!patterns[i]) return hil_error(HIL_ERR_INVALID_ARG, "hil_expect_any: pattern %zu is NULL", i);
        r = hil__con_compile(con, patterns[i], &res[i]);
        if (r != HIL_OK) return r;
    }
    for (;;) {
        hil_msg msg;
        int left;
        if (hil__con_try(con, res, n, m)) {
            hil__con_flush_partial(con); /* a prompt shows in the transcript when it is matched */
            return HIL_OK;
        }
        left = hil_deadline_left_ms(deadline);
        if (!con->ch || (left == 0 && idle)) {
            hil__con_flush_partial(con);
            return hil__con_fail(con, HIL_ERR_TIMEOUT, patterns, n, timeout_ms, NULL);
        }
        hil_msg_init(&msg, chunk, sizeof chunk);
        r = hil__con_recv(con, &msg, left);
        if (r == HIL_OK) {
            hil_console_feed(con, msg.data, msg.len);
            idle = 0;
        } else if (r == HIL_ERR_TIMEOUT || r == HIL_ERR_AGAIN) {
            idle = 1;
        } else {
            char what[300];
            hil__con_flush_partial(con);
            if (r == HIL_ERR_CLOSED)
                snprintf(what, sizeof what, "the channel closed");
            else if (r == HIL_ERR_ABORTED || r == HIL_ERR_STOPPED)
                return r; /* the auxiliary's message says why */
            else
                snprintf(what, sizeof what, "receiving failed (%.240s)", hil_last_error());
            return hil__con_fail(con, r, patterns, n, timeout_ms, what);
        }
    }
}

HIL_API hil_result hil_expect(hil_console* con, const char* pattern, int timeout_ms, hil_expect_match* m) {
    return hil_expect_any(con, &pattern, 1, timeout_ms, m);
}

HIL_API long hil_expect_group(const hil_expect_match* m, size_t i, char* out, size_t size) {
    size_t n;
    if (!m || i >= m->n_groups || m->groups[i].start < 0) {
        if (size) out[0] = 0;
        return -1;
    }
    n = m->groups[i].len;
    if (size) {
        size_t k = n < size - 1 ? n : size - 1;
        memcpy(out, m->text + m->groups[i].start, k);
        out[k] = 0;
    }
    return (long)n;
}

static hil_result hil__con_send(hil_console* con, const void* data, size_t len, const void* eol, size_t eol_len,
                                int secret, int timeout_ms) {
    hil_strbuf sb = {0, 0, 0, 0};
    hil_result r;
    if (!con->ch) return hil_error(HIL_ERR_STATE, "console '%s' has no channel to send on", con->name);
    hil_sb_append(&sb, data, len);
    hil_sb_append(&sb, eol, eol_len);
    if (secret) hil_log_at(con->level, __FILE__, __LINE__, con->logger, "> ******");
    else hil__con_log_line(con, "> ", sb.data, sb.len, 0);
    r = hil_channel_send_bytes(con->ch, sb.data ? sb.data : "", sb.len, timeout_ms);
    hil_sb_free(&sb);
    if (r != HIL_OK) {
        char why[400];
        snprintf(why, sizeof why, "%.380s", hil_last_error());
        return hil_error(r, "console '%s': sending failed: %s", con->name, why);
    }
    return HIL_OK;
}

HIL_API hil_result hil_send(hil_console* con, const void* data, size_t len, int timeout_ms) {
    return hil__con_send(con, data, len, "", 0, 0, timeout_ms);
}

HIL_API hil_result hil_send_line(hil_console* con, const char* line, int timeout_ms) {
    return hil__con_send(con, line, strlen(line), con->eol, con->eol_len, 0, timeout_ms);
}

HIL_API hil_result hil_send_secret(hil_console* con, const char* line, int timeout_ms) {
    return hil__con_send(con, line, strlen(line), con->eol, con->eol_len, 1, timeout_ms);
}

/* ==== shell: output extraction =========================================== */

static const char* hil__sh_find(const char* hay, size_t hn, const char* needle) {
    size_t nn = strlen(needle), i;
    if (nn == 0 || hn < nn) return NULL;
    for (i = 0; i + nn <= hn; i++)
        if (hay[i] == needle[0] && memcmp(hay + i, needle, nn) == 0) return hay + i;
    return NULL;
}

HIL_API size_t hil_shell_extract(const char* text, size_t len, const char* command, const char* begin_marker,
                                 size_t max, hil_strbuf* out) {
    size_t start = 0, i, kept = 0, dropped = 0;
    const char* p = begin_marker && *begin_marker ? hil__sh_find(text, len, begin_marker) : NULL;
    if (p) {
        const char* nl = (const char*)memchr(p, '\n', len - (size_t)(p - text));
        start = nl ? (size_t)(nl - text) + 1 : len;
    } else if (command && *command) {
        /* the echo: a first line that ends with the command (after a prompt, before \r) */
        const char* nl = (const char*)memchr(text, '\n', len);
        size_t first = nl ? (size_t)(nl - text) : len, e = first, cl = strlen(command);
        while (e > 0 && (text[e - 1] == '\r' || text[e - 1] == ' ')) e--;
        if (e >= cl && memcmp(text + e - cl, command, cl) == 0) start = nl ? first + 1 : len;
    }
    for (i = start; i < len; i++) {
        if (text[i] == '\r') { /* "\r\n" and "\r\r\n" (a tty's onlcr after a program's own \r\n) are line ends */
            size_t j = i;
            while (j < len && text[j] == '\r') j++;
            if (j < len && text[j] == '\n') {
                i = j - 1;
                continue;
            }
        }
        if (max && kept >= max) {
            dropped++;
            continue;
        }
        hil_sb_putc(out, text[i]);
        kept++;
    }
    return dropped;
}

/* ==== shell: the auxiliary =============================================== */

typedef struct hil__shell {
    char* prompt;
    char* login_prompt;
    char* password_prompt;
    char* username;
    char* password;
    char* login_failed;
    char* line_ending;
    char* interrupt_boot;
    unsigned char interrupt_key[8];
    size_t interrupt_key_len;
    int posix;
    long long login_timeout_ms, wake_ms, max_output, max_buffer;
    hil_console* con;
    int ready;           /* at the prompt since the last reset */
    unsigned seq;        /* marker numbers */
    unsigned nonce;      /* in every marker: a command that prints a marker of its own cannot end itself */
} hil__shell;

/* What hil_shell_run hands the worker (by pointer: thread and simple backends). */
typedef struct hil__shell_job {
    const char* cmd;
    hil_strbuf* out;
    int* status;
    int timeout_ms;
    hil_result result;
    char err[1024];
} hil__shell_job;

static const hil_aux_opt hil__shell_opts[] = {
    {"prompt", HIL_OPT_STRING, NULL, "shell: the prompt, a POSIX extended regex (\"# $\", \"uart:~\\$ $\", \"=> $\")", NULL},
    {"login_prompt", HIL_OPT_STRING, NULL, "shell: a login prompt (regex) answered with username", NULL},
    {"password_prompt", HIL_OPT_STRING, NULL, "shell: a password prompt (regex) answered with password", NULL},
    {"username", HIL_OPT_STRING, NULL, "shell: the user name to log in with", NULL},
    {"password", HIL_OPT_STRING, NULL, "shell: the password to log in with (never logged)", NULL},
    {"login_failed", HIL_OPT_STRING, "Login incorrect", "shell: what a refused login prints (regex)", NULL},
    {"line_ending", HIL_OPT_STRING, "\\n", "shell: sent after each command, C escapes (\\n, \\r, \\r\\n)", NULL},
    {"interrupt_boot", HIL_OPT_STRING, NULL,
     "shell: a regex (\"Hit any key to stop autoboot\"); when it appears, interrupt_key is sent", NULL},
    {"interrupt_key", HIL_OPT_STRING, " ", "shell: what interrupts the boot, C escapes", NULL},
    {"posix", HIL_OPT_BOOL, "true", "shell: a POSIX shell: exit statuses through a marker (false: U-Boot, Zephyr)", NULL},
    {"login_timeout_ms", HIL_OPT_INT, "30000", "shell: how long reaching the prompt may take on first use", NULL},
    {"wake_ms", HIL_OPT_INT, "1000", "shell: silence after which a line ending is sent to wake the prompt", NULL},
    {"max_output", HIL_OPT_INT, "65536", "shell: bytes of a command's output kept (more: HIL_ERR_OVERFLOW)", NULL},
    {"max_buffer", HIL_OPT_INT, "16384", "shell: the console's match buffer in bytes", NULL},
    {NULL, HIL_OPT_STRING, NULL, NULL, NULL}
};

static char* hil__sh_opt(hil_aux* a, const char* key) {
    const char* v = hil_aux_opt_str(a, key, NULL);
    return v && *v ? hil_strdup(v) : NULL;
}

static void hil__shell_destroy(hil_aux* a) {
    hil__shell* s = (hil__shell*)hil_aux_priv(a);
    HIL_FREE(s->prompt);
    HIL_FREE(s->login_prompt);
    HIL_FREE(s->password_prompt);
    HIL_FREE(s->username);
    HIL_FREE(s->password);
    HIL_FREE(s->login_failed);
    HIL_FREE(s->line_ending);
    HIL_FREE(s->interrupt_boot);
    memset(s, 0, sizeof *s);
}

static hil_result hil__shell_check_re(hil_aux* a, const char* key, const char* pattern) {
    regex_t re;
    int rc;
    if (!pattern) return HIL_OK;
    rc = regcomp(&re, pattern, REG_EXTENDED | REG_NEWLINE);
    if (rc != 0) {
        char why[200];
        regerror(rc, &re, why, sizeof why);
        return hil_aux_fail(a, HIL_ERR_CONFIG, "option %s = \"%s\" is not a POSIX extended regex: %s", key, pattern,
                            why);
    }
    regfree(&re);
    return HIL_OK;
}

static hil_result hil__shell_configure(hil_aux* a) {
    hil__shell* s = (hil__shell*)hil_aux_priv(a);
    hil_result r;
    unsigned char tmp[8];
    size_t tl;
    const char* k;
    if (hil_aux_get_backend(a) == HIL_AUX_PROCESS)
        return hil_aux_fail(a, HIL_ERR_CONFIG,
                            "the shell auxiliary runs with backend thread or simple (it hands output over in "
                            "memory): set backend = thread");
    s->prompt = hil__sh_opt(a, "prompt");
    s->login_prompt = hil__sh_opt(a, "login_prompt");
    s->password_prompt = hil__sh_opt(a, "password_prompt");
    s->username = hil__sh_opt(a, "username");
    s->password = hil__sh_opt(a, "password");
    s->login_failed = hil__sh_opt(a, "login_failed");
    if (!s->login_failed) s->login_failed = hil_strdup("Login incorrect");
    s->line_ending = hil__sh_opt(a, "line_ending");
    if (!s->line_ending) s->line_ending = hil_strdup("\\n");
    s->interrupt_boot = hil__sh_opt(a, "interrupt_boot");
    if (!s->prompt)
        return hil_aux_fail(a, HIL_ERR_CONFIG,
                            "no prompt: set prompt to a regex for the shell's prompt (\"# $\", \"uart:~\\$ $\", \"=> $\")");
    if (s->login_prompt && !s->username)
        return hil_aux_fail(a, HIL_ERR_CONFIG, "login_prompt is set but username is not: set username");
    if (s->password_prompt && !s->password)
        return hil_aux_fail(a, HIL_ERR_CONFIG, "password_prompt is set but password is not: set password");
    if ((r = hil__shell_check_re(a, "prompt", s->prompt)) != HIL_OK) return r;
    if ((r = hil__shell_check_re(a, "login_prompt", s->login_prompt)) != HIL_OK) return r;
    if ((r = hil__shell_check_re(a, "password_prompt", s->password_prompt)) != HIL_OK) return r;
    if ((r = hil__shell_check_re(a, "login_failed", s->login_failed)) != HIL_OK) return r;
    if ((r = hil__shell_check_re(a, "interrupt_boot", s->interrupt_boot)) != HIL_OK) return r;
    if (hil__con_eol(s->line_ending, tmp, &tl) != HIL_OK)
        return hil_aux_fail(a, HIL_ERR_CONFIG, "option line_ending = \"%s\": expected 1 to 8 bytes with C escapes",
                            s->line_ending);
    k = hil_aux_opt_str(a, "interrupt_key", " ");
    if (hil__con_eol(k && *k ? k : " ", s->interrupt_key, &s->interrupt_key_len) != HIL_OK)
        return hil_aux_fail(a, HIL_ERR_CONFIG, "option interrupt_key = \"%s\": expected 1 to 8 bytes with C escapes", k);
    if ((r = hil_aux_opt_bool(a, "posix", 1, &s->posix)) != HIL_OK) return r;
    if ((r = hil_aux_opt_int(a, "login_timeout_ms", 30000, &s->login_timeout_ms)) != HIL_OK) return r;
    if ((r = hil_aux_opt_int(a, "wake_ms", 1000, &s->wake_ms)) != HIL_OK) return r;
    if ((r = hil_aux_opt_int(a, "max_output", 65536, &s->max_output)) != HIL_OK) return r;
    if ((r = hil_aux_opt_int(a, "max_buffer", 16384, &s->max_buffer)) != HIL_OK) return r;
    if (s->max_output < 1 || s->max_buffer < 64)
        return hil_aux_fail(a, HIL_ERR_CONFIG, "max_output must be at least 1 and max_buffer at least 64");
    if (!hil_aux_com(a))
        return hil_aux_fail(a, HIL_ERR_CONFIG, "no channel: set connectors.com to the console's connector");
    return HIL_OK;
}

static hil_result hil__shell_recv(void* user, hil_channel* ch, hil_msg* m, int timeout_ms) {
    return hil_aux_recv((hil_aux*)user, ch, m, timeout_ms);
}

static hil_result hil__shell_create(hil_aux* a) {
    hil__shell* s = (hil__shell*)hil_aux_priv(a);
    hil_console_config cc;
    hil_channel* ch = hil_aux_com(a);
    hil_result r;
    if (!hil_channel_is_open(ch)) {
        r = hil_channel_open(ch);
        if (r != HIL_OK) return hil_aux_fail(a, r, "%s", hil_last_error());
    }
    hil_console_config_init(&cc);
    cc.name = hil_aux_name(a);
    cc.line_ending = s->line_ending;
    cc.max_buffer = (size_t)s->max_buffer;
    cc.max_before = (size_t)s->max_output + 4096; /* room for the echo before the output */
    cc.recv = hil__shell_recv;
    cc.recv_user = a;
    r = hil_console_create(ch, &cc, &s->con);
    if (r != HIL_OK) {
        hil_channel_close(ch);
        return hil_aux_fail(a, r, "%s", hil_last_error());
    }
    s->ready = 0;
    s->nonce = (unsigned)((hil_now_ns() ^ hil_wall_ns() ^ (uint64_t)(uintptr_t)s) % 900000u + 100000u);
    return HIL_OK;
}

static void hil__shell_delete(hil_aux* a) {
    hil__shell* s = (hil__shell*)hil_aux_priv(a);
    hil_console_destroy(s->con);
    s->con = NULL;
    hil_channel_close(hil_aux_com(a));
}

enum { HIL__SH_PROMPT, HIL__SH_LOGIN, HIL__SH_PASSWORD, HIL__SH_INTERRUPT, HIL__SH_FAILED };

/* The patterns to watch for and what each one is (HIL__SH_*). */
static size_t hil__shell_patterns(hil__shell* s, const char* first, int first_kind, const char** pats, int* kinds) {
    size_t n = 0;
    if (first) { pats[n] = first; kinds[n++] = first_kind; }
    if (!first || first_kind != HIL__SH_PROMPT) { pats[n] = s->prompt; kinds[n++] = HIL__SH_PROMPT; }
    if (s->login_prompt) { pats[n] = s->login_prompt; kinds[n++] = HIL__SH_LOGIN; }
    if (s->password_prompt) { pats[n] = s->password_prompt; kinds[n++] = HIL__SH_PASSWORD; }
    if (s->interrupt_boot) { pats[n] = s->interrupt_boot; kinds[n++] = HIL__SH_INTERRUPT; }
    return n;
}

/* Reach the prompt: wake the console, interrupt autoboot, log in. */
static hil_result hil__shell_reach(hil_aux* a, uint64_t deadline) {
    hil__shell* s = (hil__shell*)hil_aux_priv(a);
    const char* pats[8];
    int kinds[8];
    size_t n = hil__shell_patterns(s, NULL, HIL__SH_PROMPT, pats, kinds);
    int pokes = 0, sent_user = 0, sent_pass = 0, total = hil_deadline_left_ms(deadline);
    pats[n] = s->login_failed;
    kinds[n++] = HIL__SH_FAILED;
    for (;;) {
        hil_expect_match m;
        int left = hil_deadline_left_ms(deadline);
        int wait = left;
        hil_result r;
        if (pokes < 3 && (left < 0 || left > s->wake_ms)) wait = (int)s->wake_ms;
        r = hil_expect_any(s->con, pats, n, wait, &m);
        if (r == HIL_ERR_TIMEOUT) {
            if (wait != left) { /* silence: make it print its prompt again */
                pokes++;
                r = hil_send(s->con, s->con->eol, s->con->eol_len, 1000);
                if (r != HIL_OK) return hil_aux_fail(a, r, "%s", hil_last_error());
                continue;
            }
            {
                char tail[700];
                hil_console_tail(s->con, 8, tail, sizeof tail);
                return hil_aux_fail(a, HIL_ERR_TIMEOUT,
                                    "the console never showed the prompt /%s/ within %d ms (woken %d times with "
                                    "the line ending; check prompt, the connector and that the target runs); "
                                    "last lines received:%s",
                                    s->prompt, total, pokes, tail);
            }
        }
        if (r != HIL_OK) return hil_aux_fail(a, r, "%s", hil_last_error());
        switch (kinds[m.index]) {
        case HIL__SH_PROMPT:
            s->ready = 1;
            return HIL_OK;
        case HIL__SH_INTERRUPT:
            r = hil_send(s->con, s->interrupt_key, s->interrupt_key_len, 1000);
            if (r != HIL_OK) return hil_aux_fail(a, r, "%s", hil_last_error());
            break;
        case HIL__SH_FAILED:
            return hil_aux_fail(a, HIL_ERR_PERMISSION,
                                "login as '%s' was refused (the console printed /%s/): check username and password",
                                s->username ? s->username : "", s->login_failed);
        case HIL__SH_LOGIN:
            if (sent_user && sent_pass)
                return hil_aux_fail(a, HIL_ERR_PERMISSION,
                                    "login as '%s' was refused (the login prompt came again): check username and "
                                    "password",
                                    s->username);
            if (sent_user && !s->password_prompt)
                return hil_aux_fail(a, HIL_ERR_PERMISSION,
                                    "login as '%s' was refused (the login prompt came again; if it needs a "
                                    "password, set password_prompt and password)",
                                    s->username);
            r = hil_send_line(s->con, s->username, 1000);
            if (r != HIL_OK) return hil_aux_fail(a, r, "%s", hil_last_error());
            sent_user = 1;
            sent_pass = 0;
            break;
        case HIL__SH_PASSWORD:
            if (sent_pass)
                return hil_aux_fail(a, HIL_ERR_PERMISSION,
                                    "login as '%s' was refused (the password prompt came again): check password",
                                    s->username ? s->username : "");
            r = hil_send_secret(s->con, s->password, 1000);
            if (r != HIL_OK) return hil_aux_fail(a, r, "%s", hil_last_error());
            sent_pass = 1;
            break;
        }
    }
}

static hil_result hil__shell_do_run(hil_aux* a, hil__shell_job* job) {
    hil__shell* s = (hil__shell*)hil_aux_priv(a);
    uint64_t deadline = hil_deadline_ms(job->timeout_ms);
    hil_strbuf line = {0, 0, 0, 0}, endpat = {0, 0, 0, 0}, begin = {0, 0, 0, 0};
    const char* pats[8];
    int kinds[8];
    size_t n, dropped;
    hil_expect_match m;
    hil_result r;
    int status = -1;
    if (job->status) *job->status = -1;
    if (!s->ready) {
        uint64_t login_deadline = hil_deadline_ms((int)s->login_timeout_ms);
        r = hil__shell_reach(a, login_deadline);
        if (r != HIL_OK) return r;
    }
    /* what the console printed since the last command is not this one's output */
    r = hil_console_drain(s->con);
    if (r != HIL_OK) return hil_aux_fail(a, r, "the console's channel: %s", hil_last_error());
    hil_console_clear(s->con);
    s->seq++;
    if (s->posix) {
        hil_sb_printf(&line, "echo __HIL_\"\"BEGIN_%u_%u__; %s; echo \"__HIL_RC_%u_%u_$?__\"", s->nonce, s->seq,
                      job->cmd, s->nonce, s->seq);
        hil_sb_printf(&endpat, "__HIL_RC_%u_%u_([0-9]+)__", s->nonce, s->seq);
        hil_sb_printf(&begin, "__HIL_BEGIN_%u_%u__", s->nonce, s->seq);
        n = hil__shell_patterns(s, hil_sb_cstr(&endpat), -1, pats, kinds);
        /* a prompt before the end marker is not the end: only the marker, login and autoboot count */
        {
            size_t i, k = 0;
            for (i = 0; i < n; i++)
                if (kinds[i] != HIL__SH_PROMPT) { pats[k] = pats[i]; kinds[k++] = kinds[i]; }
            n = k;
        }
    } else {
        hil_sb_puts(&line, job->cmd);
        n = hil__shell_patterns(s, NULL, HIL__SH_PROMPT, pats, kinds);
    }
    r = hil_send_line(s->con, hil_sb_cstr(&line), 1000);
    if (r != HIL_OK) {
        r = hil_aux_fail(a, r, "%s", hil_last_error());
        goto done;
    }
    r = hil_expect_any(s->con, pats, n, hil_deadline_left_ms(deadline), &m);
    if (r != HIL_OK) {
        if (r == HIL_ERR_TIMEOUT)
            r = hil_aux_fail(a, r, "command '%s' did not finish within %d ms: %s", job->cmd, job->timeout_ms,
                             hil_last_error());
        else if (r != HIL_ERR_ABORTED && r != HIL_ERR_STOPPED)
            r = hil_aux_fail(a, r, "command '%s': %s", job->cmd, hil_last_error());
        goto done;
    }
    if (kinds[m.index] == HIL__SH_LOGIN || kinds[m.index] == HIL__SH_INTERRUPT || kinds[m.index] == HIL__SH_PASSWORD) {
        s->ready = 0;
        r = hil_aux_fail(a, HIL_ERR_STATE,
                         "the target rebooted during command '%s' (its console showed /%s/); the next command "
                         "logs in again",
                         job->cmd, pats[m.index]);
        goto done;
    }
    if (s->posix) {
        char num[16];
        hil_expect_group(&m, 1, num, sizeof num);
        status = atoi(num);
    }
    if (!s->posix) { /* the prompt's line starts at the last line break */
        size_t k = m.before_len;
        while (k > 0 && m.before[k - 1] != '\n') k--;
        m.before_len = k;
    }
    dropped = hil_shell_extract(m.before, m.before_len, job->cmd, s->posix ? hil_sb_cstr(&begin) : NULL,
                                (size_t)s->max_output, job->out ? job->out : &endpat);
    dropped += m.before_dropped;
    if (s->posix) { /* then the prompt */
        const char* prompt = s->prompt;
        r = hil_expect(s->con, prompt, hil_deadline_left_ms(deadline), NULL);
        if (r != HIL_OK) {
            r = hil_aux_fail(a, r, "command '%s' ended (status %d) but the prompt did not come back: %s", job->cmd,
                             status, hil_last_error());
            goto done;
        }
    }
    if (job->status) *job->status = status;
    if (dropped)
        r = hil_aux_fail(a, HIL_ERR_OVERFLOW,
                         "the output of command '%s' was %zu bytes longer than max_output (%lld): it is cut there "
                         "(the transcript has it all; raise max_output)",
                         job->cmd, dropped, s->max_output);
done:
    hil_sb_free(&line);
    hil_sb_free(&endpat);
    hil_sb_free(&begin);
    return r;
}

static hil_result hil__shell_run_cmd(hil_aux* a, const hil_aux_cmd* cmd, hil_aux_report* rep) {
    hil__shell* s = (hil__shell*)hil_aux_priv(a);
    hil__shell_job* job = NULL;
    hil_result r;
    if (cmd->code == HIL_SHELL_CMD_RESET) {
        s->ready = 0;
        return HIL_OK;
    }
    if (cmd->len == sizeof job) memcpy(&job, cmd->data, sizeof job);
    if (!job || (cmd->code != HIL_SHELL_CMD_RUN && cmd->code != HIL_SHELL_CMD_LOGIN))
        return hil_aux_fail(a, HIL_ERR_UNSUPPORTED, "command %d: use hil_shell_run, hil_shell_login or hil_shell_reset",
                            cmd->code);
    if (cmd->code == HIL_SHELL_CMD_LOGIN) {
        s->ready = 0;
        r = hil__shell_reach(a, hil_deadline_ms(job->timeout_ms));
    } else {
        r = hil__shell_do_run(a, job);
    }
    job->result = r;
    if (r != HIL_OK) snprintf(job->err, sizeof job->err, "%s", hil_last_error());
    rep->result = HIL_OK; /* the job carries the result: an overflow still gives output and status */
    return HIL_OK;
}

static const hil_aux_impl hil__shell_type = {
    "shell", "A command shell on a console (Linux, U-Boot, Zephyr): prompt, login, commands, exit status",
    sizeof(hil__shell), hil__shell_opts, hil__shell_configure, hil__shell_create, hil__shell_delete,
    hil__shell_run_cmd, NULL, NULL, hil__shell_destroy
};

static hil_result hil__shell_submit(hil_aux* sh, int code, hil__shell_job* job) {
    hil_aux_cmd c;
    hil_aux_report rep;
    hil_result r;
    if (!sh) return hil_error(HIL_ERR_INVALID_ARG, "hil_shell_*: no auxiliary (is it configured? hil_aux_get returned NULL)");
    if (!hil_aux_type(sh) || strcmp(hil_aux_type(sh), "shell") != 0)
        return hil_error(HIL_ERR_INVALID_ARG, "auxiliary '%s' is of type '%s', not shell", hil_aux_name(sh),
                         hil_aux_type(sh) ? hil_aux_type(sh) : "?");
    c.code = code;
    c.data = &job;
    c.len = sizeof job;
    job->result = HIL_OK;
    job->err[0] = 0;
    /* No outer timeout: the worker keeps the job's deadline, and the job lives on this stack until it returns. */
    r = hil_aux_run_command(sh, &c, 1, -1, &rep);
    if (r != HIL_OK) return r;
    if (job->result != HIL_OK) return hil_error(job->result, "%s", job->err);
    return HIL_OK;
}

HIL_API hil_result hil_shell_run(hil_aux* sh, const char* cmd, hil_strbuf* out, int* status, int timeout_ms) {
    hil__shell_job job;
    memset(&job, 0, sizeof job);
    if (!cmd) return hil_error(HIL_ERR_INVALID_ARG, "hil_shell_run: no command");
    if (strchr(cmd, '\n') || strchr(cmd, '\r'))
        return hil_error(HIL_ERR_INVALID_ARG, "hil_shell_run: command '%s' holds a line break: run one line at a time",
                         cmd);
    job.cmd = cmd;
    job.out = out;
    job.status = status;
    job.timeout_ms = timeout_ms;
    return hil__shell_submit(sh, HIL_SHELL_CMD_RUN, &job);
}

HIL_API hil_result hil_shell_login(hil_aux* sh, int timeout_ms) {
    hil__shell_job job;
    memset(&job, 0, sizeof job);
    job.timeout_ms = timeout_ms;
    return hil__shell_submit(sh, HIL_SHELL_CMD_LOGIN, &job);
}

HIL_API hil_result hil_shell_reset(hil_aux* sh) {
    hil__shell_job job;
    memset(&job, 0, sizeof job);
    return hil__shell_submit(sh, HIL_SHELL_CMD_RESET, &job);
}

HIL_API void hil_console_module_init(void) {
    static int done;
    if (done) return;
    done = 1;
    (void)hil_aux_type_register(&hil__shell_type);
}

#ifndef HIL_NO_CONSTRUCTORS
HIL__CONSTRUCTOR(hil__reg_console_module) { hil_console_module_init(); }
#endif

#ifdef __cplusplus
}
#endif

#endif /* HIL_IMPLEMENTATION */
