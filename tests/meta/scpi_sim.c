/* scpi_sim - a SIMULATED lab power supply for hil's self-tests and bench.
 *
 * No real supply can be reached from the machines the tests run on, so
 * this program plays one: it listens on TCP (127.0.0.1, an ephemeral port
 * unless -p is given), prints "scpi_sim: port N" on stdout, and answers the
 * SCPI subset that Keysight E36xx / Rigol DP8xx supplies share:
 *
 *   *IDN?  *RST  *CLS
 *   OUTP[ut][:STAT[e]] ON|OFF|1|0 [,(@N)]     OUTP? [(@N)]
 *   VOLT[age] <v> [,(@N)]   VOLT? [(@N)]      (0..30 V)
 *   CURR[ent] <a> [,(@N)]   CURR? [(@N)]      (0..5 A, the current limit)
 *   MEAS[ure][:SCAL[ar]]:VOLT[age][:DC]? [(@N)]   MEAS:CURR[ent][:DC]? [(@N)]
 *   INST[rument]:NSEL <n>   INST:NSEL?        (channels 1..3)
 *   SYST[em]:ERR[or][:NEXT]?                  the error queue (20 entries)
 *
 * Commands are case-insensitive, several per line separated by ';'. An
 * unknown header queues -113,"Undefined header"; a value out of range
 * -222,"Data out of range"; a missing one -109,"Missing parameter"; a full
 * queue -350,"Queue overflow". The output is loaded by a resistor (LOAD
 * ohms, default 10): MEAS:CURR? is min(V/R, limit) while the output is on,
 * 0 while it is off; MEAS:VOLT? drops when the current limit holds.
 *
 * Faults, for the tests (from any connection, global): SIM:FAULT NONE |
 * SILENT (queries get no answer) | GARBAGE (a line of junk instead) |
 * FLOOD (400 bytes with no line end); SIM:LOAD <ohms>; SIM:FAULT? is
 * always answered. -f MODE starts in a fault mode.
 *
 * It ends when its standard input closes (the test that started it died or
 * closed the pipe) or on SIGTERM. */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>

#define NCH 3
#define MAXCLI 8

enum { F_NONE, F_SILENT, F_GARBAGE, F_FLOOD };
static const char* const fault_names[] = {"NONE", "SILENT", "GARBAGE", "FLOOD"};

static struct { int out; double volt, curr; } ch[NCH + 1];
static int sel = 1, fault = F_NONE;
static double load = 10.0;
static struct { int code; const char* text; } errq[20];
static int nerr;

static void push_err(int code, const char* text) {
    if (nerr == 20) { errq[19].code = -350; errq[19].text = "Queue overflow"; return; }
    errq[nerr].code = code;
    errq[nerr].text = text;
    nerr++;
}

static void reset(void) {
    int i;
    for (i = 1; i <= NCH; i++) { ch[i].out = 0; ch[i].volt = 0; ch[i].curr = 1.0; }
    sel = 1;
}

/* Does header h (upper case, no '?') match the pattern "OUTP[ut]:STAT[e]"-style
 * list of words, where each word may be short (upper part) or long? */
static int word_is(const char* w, size_t n, const char* shrt, const char* lng) {
    return (strlen(shrt) == n && strncasecmp(w, shrt, n) == 0) || (strlen(lng) == n && strncasecmp(w, lng, n) == 0);
}

typedef struct { char* out; size_t len, cap; } buf;
static void put(buf* b, const char* s) {
    size_t n = strlen(s);
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->out = realloc(b->out, b->cap);
        if (!b->out) exit(3);
    }
    memcpy(b->out + b->len, s, n + 1);
    b->len += n;
}

static void answer(buf* b, const char* s) {
    if (fault == F_SILENT) return;
    if (fault == F_GARBAGE) { put(b, "\x01#!&junk*%\n"); return; }
    if (fault == F_FLOOD) {
        int i;
        for (i = 0; i < 40; i++) put(b, "0123456789");
        return;
    }
    put(b, s);
    put(b, "\n");
}

static double meas_curr(int c) { double i = ch[c].volt / load; return !ch[c].out ? 0 : i > ch[c].curr ? ch[c].curr : i; }
static double meas_volt(int c) { return !ch[c].out ? 0 : meas_curr(c) * load < ch[c].volt ? meas_curr(c) * load : ch[c].volt; }

/* "(@2)" at p (after blanks/commas): the channel, or 0 if none, -1 if bad */
static int chan_list(const char* p) {
    int c;
    while (*p == ' ' || *p == ',') p++;
    if (!*p) return 0;
    if (sscanf(p, "(@%d)", &c) != 1 || c < 1 || c > NCH) return -1;
    return c;
}

static void one(const char* cmd, buf* b) {
    char hdr[64], words[4][32];
    const char* args;
    size_t n = 0, nw = 0, i;
    int query, c;
    char tmp[80];
    while (*cmd == ' ') cmd++;
    if (!*cmd) return;
    while (cmd[n] && cmd[n] != ' ' && n < sizeof hdr - 1) { hdr[n] = cmd[n]; n++; }
    hdr[n] = 0;
    args = cmd + n;
    while (*args == ' ') args++;
    query = n && hdr[n - 1] == '?';
    if (query) hdr[--n] = 0;
    { /* split the header at ':' */
        char* s = hdr;
        if (*s == ':') s++;
        while (*s && nw < 4) {
            size_t k = strcspn(s, ":");
            if (k >= 32) { push_err(-113, "Undefined header"); return; }
            memcpy(words[nw], s, k);
            words[nw++][k] = 0;
            s += k + (s[k] == ':');
        }
    }
    if (nw == 0) { push_err(-113, "Undefined header"); return; }
    if (nw == 1 && strcasecmp(words[0], "*IDN") == 0 && query) { answer(b, "HIL-SIMULATED,SCPI-SIM-3CH,0,1.0 (a simulation: no real supply)"); return; }
    if (nw == 1 && strcasecmp(words[0], "*RST") == 0) { reset(); return; }
    if (nw == 1 && strcasecmp(words[0], "*CLS") == 0) { nerr = 0; return; }
    if (nw == 2 && strcasecmp(words[0], "SIM") == 0 && strcasecmp(words[1], "FAULT") == 0) {
        if (query) { put(b, fault_names[fault]); put(b, "\n"); return; }
        for (i = 0; i < 4; i++) if (strcasecmp(args, fault_names[i]) == 0) { fault = (int)i; return; }
        push_err(-224, "Illegal parameter value");
        return;
    }
    if (nw == 2 && strcasecmp(words[0], "SIM") == 0 && strcasecmp(words[1], "LOAD") == 0) {
        double r = atof(args);
        if (r > 0) load = r; else push_err(-222, "Data out of range");
        return;
    }
    if (word_is(words[0], nw ? strlen(words[0]) : 0, "SYST", "SYSTEM") && nw >= 2 &&
        word_is(words[1], strlen(words[1]), "ERR", "ERROR") && query) {
        if (nerr == 0) answer(b, "+0,\"No error\"");
        else {
            snprintf(tmp, sizeof tmp, "%+d,\"%s\"", errq[0].code, errq[0].text);
            memmove(errq, errq + 1, (size_t)(nerr - 1) * sizeof errq[0]);
            nerr--;
            answer(b, tmp);
        }
        return;
    }
    if (word_is(words[0], strlen(words[0]), "INST", "INSTRUMENT") && nw == 2 &&
        word_is(words[1], strlen(words[1]), "NSEL", "NSELECT")) {
        if (query) { snprintf(tmp, sizeof tmp, "%d", sel); answer(b, tmp); return; }
        if (!*args) { push_err(-109, "Missing parameter"); return; }
        c = atoi(args);
        if (c < 1 || c > NCH) push_err(-222, "Data out of range"); else sel = c;
        return;
    }
    if (word_is(words[0], strlen(words[0]), "MEAS", "MEASURE") && query) {
        size_t k = 1;
        if (k < nw && word_is(words[k], strlen(words[k]), "SCAL", "SCALAR")) k++;
        c = chan_list(args);
        if (c < 0) { push_err(-222, "Data out of range"); return; }
        if (!c) c = sel;
        if (k < nw && word_is(words[k], strlen(words[k]), "VOLT", "VOLTAGE")) {
            snprintf(tmp, sizeof tmp, "%+.5E", meas_volt(c));
            answer(b, tmp);
            return;
        }
        if (k < nw && word_is(words[k], strlen(words[k]), "CURR", "CURRENT")) {
            snprintf(tmp, sizeof tmp, "%+.5E", meas_curr(c));
            answer(b, tmp);
            return;
        }
        push_err(-113, "Undefined header");
        return;
    }
    if (word_is(words[0], strlen(words[0]), "OUTP", "OUTPUT") &&
        (nw == 1 || (nw == 2 && word_is(words[1], strlen(words[1]), "STAT", "STATE")))) {
        const char* comma;
        char v[8] = "";
        if (query) {
            c = chan_list(args);
            if (c < 0) { push_err(-222, "Data out of range"); return; }
            answer(b, ch[c ? c : sel].out ? "1" : "0");
            return;
        }
        comma = strchr(args, ',');
        c = comma ? chan_list(comma) : 0;
        if (c < 0) { push_err(-222, "Data out of range"); return; }
        sscanf(args, "%7[A-Za-z0-9]", v);
        if (!v[0]) { push_err(-109, "Missing parameter"); return; }
        if (strcasecmp(v, "ON") == 0 || strcmp(v, "1") == 0) ch[c ? c : sel].out = 1;
        else if (strcasecmp(v, "OFF") == 0 || strcmp(v, "0") == 0) ch[c ? c : sel].out = 0;
        else push_err(-224, "Illegal parameter value");
        return;
    }
    if (nw == 1 && (word_is(words[0], strlen(words[0]), "VOLT", "VOLTAGE") ||
                    word_is(words[0], strlen(words[0]), "CURR", "CURRENT"))) {
        int volt = toupper((unsigned char)words[0][0]) == 'V';
        const char* comma = strchr(args, ',');
        char* end;
        double x;
        if (query) {
            c = chan_list(args);
            if (c < 0) { push_err(-222, "Data out of range"); return; }
            snprintf(tmp, sizeof tmp, "%+.5E", volt ? ch[c ? c : sel].volt : ch[c ? c : sel].curr);
            answer(b, tmp);
            return;
        }
        c = comma ? chan_list(comma) : 0;
        if (c < 0) { push_err(-222, "Data out of range"); return; }
        if (!*args || *args == ',') { push_err(-109, "Missing parameter"); return; }
        x = strtod(args, &end);
        if (end == args) { push_err(-104, "Data type error"); return; }
        if (x < 0 || x > (volt ? 30.0 : 5.0)) { push_err(-222, "Data out of range"); return; }
        if (volt) ch[c ? c : sel].volt = x; else ch[c ? c : sel].curr = x;
        return;
    }
    push_err(-113, "Undefined header");
}

static void line(char* l, buf* b) {
    char* save = NULL;
    char* part;
    for (part = strtok_r(l, ";", &save); part; part = strtok_r(NULL, ";", &save)) one(part, b);
}

static volatile sig_atomic_t stop;
static void on_term(int sig) { (void)sig; stop = 1; }

int main(int argc, char** argv) {
    struct sockaddr_in sa;
    socklen_t sl = sizeof sa;
    int ls, opt, port = 0, i, one_ = 1;
    struct { int fd; char in[1024]; size_t n; } cli[MAXCLI];
    int ncli = 0;
    while ((opt = getopt(argc, argv, "p:f:l:")) != -1) {
        if (opt == 'p') port = atoi(optarg);
        else if (opt == 'l') load = atof(optarg);
        else if (opt == 'f') {
            for (i = 0; i < 4; i++) if (strcasecmp(optarg, fault_names[i]) == 0) fault = i;
        } else {
            fprintf(stderr, "usage: scpi_sim [-p PORT] [-l LOAD_OHMS] [-f none|silent|garbage|flood]\n");
            return 2;
        }
    }
    signal(SIGPIPE, SIG_IGN);
    signal(SIGTERM, on_term);
    reset();
    ls = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one_, sizeof one_);
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = htons((unsigned short)port);
    if (ls < 0 || bind(ls, (struct sockaddr*)&sa, sizeof sa) != 0 || listen(ls, 8) != 0 ||
        getsockname(ls, (struct sockaddr*)&sa, &sl) != 0) {
        fprintf(stderr, "scpi_sim: cannot listen on 127.0.0.1:%d: %s\n", port, strerror(errno));
        return 1;
    }
    printf("scpi_sim: port %d\n", ntohs(sa.sin_port));
    fflush(stdout);
    while (!stop) {
        struct pollfd pf[MAXCLI + 2];
        int np = 0;
        pf[np].fd = 0; pf[np].events = POLLIN; pf[np++].revents = 0;
        pf[np].fd = ls; pf[np].events = POLLIN; pf[np++].revents = 0;
        for (i = 0; i < ncli; i++) { pf[np].fd = cli[i].fd; pf[np].events = POLLIN; pf[np++].revents = 0; }
        if (poll(pf, (nfds_t)np, -1) < 0) { if (errno == EINTR) continue; break; }
        if (pf[0].revents) {
            char c[64];
            if (read(0, c, sizeof c) <= 0) break; /* whoever started us is gone */
        }
        if ((pf[1].revents & POLLIN) && ncli < MAXCLI) {
            int fd = accept(ls, NULL, NULL);
            if (fd >= 0) {
                setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one_, sizeof one_);
                cli[ncli].fd = fd;
                cli[ncli++].n = 0;
            }
        }
        for (i = ncli - 1; i >= 0; i--) {
            ssize_t got;
            char* nl;
            buf out = {NULL, 0, 0};
            if (!pf[2 + i].revents) continue;
            got = read(cli[i].fd, cli[i].in + cli[i].n, sizeof cli[i].in - 1 - cli[i].n);
            if (got <= 0) {
                close(cli[i].fd);
                cli[i] = cli[--ncli];
                continue;
            }
            cli[i].n += (size_t)got;
            cli[i].in[cli[i].n] = 0;
            while ((nl = memchr(cli[i].in, '\n', cli[i].n)) != NULL) {
                size_t len = (size_t)(nl - cli[i].in);
                *nl = 0;
                if (len && cli[i].in[len - 1] == '\r') cli[i].in[len - 1] = 0;
                line(cli[i].in, &out);
                memmove(cli[i].in, nl + 1, cli[i].n - len - 1);
                cli[i].n -= len + 1;
            }
            if (cli[i].n == sizeof cli[i].in - 1) cli[i].n = 0; /* a line too long: dropped */
            if (out.len && write(cli[i].fd, out.out, out.len) < 0) { /* the client went away */ }
            free(out.out);
        }
    }
    for (i = 0; i < ncli; i++) close(cli[i].fd);
    close(ls);
    return 0;
}
