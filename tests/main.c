/* The self-test program: every tests/test_*.c file is linked in. */
#define HIL_IMPLEMENTATION
#include "selftest.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>
#include <poll.h>
#include <ctype.h>

const char* st_build_dir(void) { return hil_param("build_dir", "build"); }

const char* st_meta(const char* name) {
    static char buf[8][512];
    static int next;
    char* p = buf[next++ % 8];
    snprintf(p, 512, "%s/meta/%s", st_build_dir(), name);
    return p;
}

void st_run(const char* const* argv, const char* const* env, int timeout_ms, st_result* r) {
    hil_proc_config cfg;
    hil_proc p;
    hil_strbuf sb = {0, 0, 0, 0};
    uint64_t deadline = hil_deadline_ms(timeout_ms);
    const char* envs[32];
    size_t ne = 0;
    memset(r, 0, sizeof *r);
    /* Programs under test crash on purpose: under the sanitizer builds they
     * must die by the signal, as they do in normal builds. */
    envs[ne++] = "ASAN_OPTIONS=handle_segv=0:handle_sigbus=0:handle_abort=0:detect_leaks=0";
    envs[ne++] = "TSAN_OPTIONS=handle_segv=0:handle_sigbus=0:handle_abort=0";
    { size_t k; for (k = 0; env && env[k] && ne < 31; k++) envs[ne++] = env[k]; }
    envs[ne] = NULL;
    hil_proc_config_init(&cfg);
    cfg.argv = argv;
    cfg.env = envs;
    cfg.pipe_stdout = 1;
    cfg.stderr_to_stdout = 1;
    cfg.new_process_group = 1;
    cfg.die_with_parent = 1;
    HIL_ASSERT_OK(hil_proc_spawn(&p, &cfg), "starting %s", argv[0]);
    for (;;) {
        char buf[4096];
        ssize_t n;
        if (hil_wait_readable(p.stdout_fd, hil_deadline_left_ms(deadline)) == HIL_ERR_TIMEOUT) {
            hil_proc_terminate(&p, 100);
            hil_proc_close(&p);
            hil_sb_free(&sb);
            HIL_FAIL("%s did not finish within %d ms", argv[0], timeout_ms);
        }
        n = read(p.stdout_fd, buf, sizeof buf);
        if (n > 0) { hil_sb_append(&sb, buf, (size_t)n); continue; }
        if (n < 0 && errno == EINTR) continue;
        break;
    }
    hil_proc_wait(&p, hil_deadline_left_ms(deadline));
    if (!p.exited) { hil_proc_terminate(&p, 100); }
    hil_proc_terminate(&p, 0); /* whatever it left in its process group */
    r->status = p.status;
    r->code = hil_proc_exit_code(p.status);
    hil_proc_close(&p);
    r->len = sb.len;
    r->out = hil_sb_take(&sb);
}

void st_result_free(st_result* r) { free(r->out); memset(r, 0, sizeof *r); }

int st_has(const st_result* r, const char* s) { return r->out && strstr(r->out, s) != NULL; }

static char st__tmp[256];
static int st__tmp_pid; /* the process that made it */

static void st__rm_rf(const char* path) {
    DIR* d = opendir(path);
    struct dirent* e;
    if (d) {
        while ((e = readdir(d)) != NULL) {
            char p[1024];
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            snprintf(p, sizeof p, "%s/%s", path, e->d_name);
            st__rm_rf(p);
        }
        closedir(d);
        rmdir(path);
    } else {
        unlink(path);
    }
}

/* Tests run in worker processes that end with _exit(): the directory is
 * removed by a worker hook when the worker stops; only by the worker that
 * made it (a job's task runs workers of its own, which inherit the hook). */
static void st__cleanup(int starting) {
    if (!starting && st__tmp[0] && getpid() == st__tmp_pid) {
        st__rm_rf(st__tmp);
        st__tmp[0] = 0;
    }
}

const char* st_tmpdir(void) {
    if (!st__tmp[0]) {
        const char* base = getenv("TMPDIR");
        snprintf(st__tmp, sizeof st__tmp, "%s/hil-selftest-XXXXXX", base && *base ? base : "/tmp");
        if (!mkdtemp(st__tmp)) HIL_FAIL("mkdtemp: %s", strerror(errno));
        st__tmp_pid = (int)getpid();
        hil_add_worker_hook(st__cleanup);
    }
    return st__tmp;
}

const char* st_path(const char* name) {
    static char buf[8][1024];
    static int next;
    char* p = buf[next++ % 8];
    snprintf(p, 1024, "%s/%s", st_tmpdir(), name);
    return p;
}

int st_have(const char* prog) {
    const char* path = getenv("PATH");
    char dir[4096];
    while (path && *path) {
        size_t n = strcspn(path, ":");
        char full[4200];
        if (n && n < sizeof dir) {
            memcpy(dir, path, n);
            dir[n] = 0;
            snprintf(full, sizeof full, "%s/%s", dir, prog);
            if (access(full, X_OK) == 0) return 1;
        }
        path += n + (path[n] == ':');
    }
    return 0;
}

char* st_read(const char* path) {
    char* text = NULL;
    size_t len;
    HIL_ASSERT_OK(hil_read_file(path, &text, &len));
    return text;
}

/* ---- a small JSON checker, so the self-tests need no JSON tool ---- */
typedef struct st__json { const char* p; const char* start; const char* err; } st__json;

static void st__ws(st__json* j) { while (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r') j->p++; }
static int st__value(st__json* j, int depth);

static int st__string(st__json* j) {
    if (*j->p != '"') { j->err = "expected a string"; return 0; }
    j->p++;
    while (*j->p != '"') {
        unsigned char c = (unsigned char)*j->p;
        if (c == 0) { j->err = "unterminated string"; return 0; }
        if (c < 0x20) { j->err = "control character in a string"; return 0; }
        if (c == '\\') {
            j->p++;
            if (*j->p == 'u') {
                int i;
                for (i = 1; i <= 4; i++)
                    if (!isxdigit((unsigned char)j->p[i])) { j->err = "bad \\u escape"; return 0; }
                j->p += 4;
            } else if (!strchr("\"\\/bfnrt", *j->p) || !*j->p) { j->err = "bad escape"; return 0; }
        }
        j->p++;
    }
    j->p++;
    return 1;
}

static int st__number(st__json* j) {
    const char* s = j->p;
    if (*j->p == '-') j->p++;
    if (*j->p == '0') j->p++;
    else if (isdigit((unsigned char)*j->p)) while (isdigit((unsigned char)*j->p)) j->p++;
    else { j->err = "bad number"; return 0; }
    if (*j->p == '.') { j->p++; if (!isdigit((unsigned char)*j->p)) { j->err = "bad fraction"; return 0; } while (isdigit((unsigned char)*j->p)) j->p++; }
    if (*j->p == 'e' || *j->p == 'E') { j->p++; if (*j->p == '+' || *j->p == '-') j->p++; if (!isdigit((unsigned char)*j->p)) { j->err = "bad exponent"; return 0; } while (isdigit((unsigned char)*j->p)) j->p++; }
    return j->p > s;
}

static int st__value(st__json* j, int depth) {
    if (depth > 64) { j->err = "nested too deep"; return 0; }
    st__ws(j);
    switch (*j->p) {
    case '{':
        j->p++; st__ws(j);
        if (*j->p == '}') { j->p++; return 1; }
        for (;;) {
            st__ws(j);
            if (!st__string(j)) return 0;
            st__ws(j);
            if (*j->p != ':') { j->err = "expected ':'"; return 0; }
            j->p++;
            if (!st__value(j, depth + 1)) return 0;
            st__ws(j);
            if (*j->p == ',') { j->p++; continue; }
            if (*j->p == '}') { j->p++; return 1; }
            j->err = "expected ',' or '}'"; return 0;
        }
    case '[':
        j->p++; st__ws(j);
        if (*j->p == ']') { j->p++; return 1; }
        for (;;) {
            if (!st__value(j, depth + 1)) return 0;
            st__ws(j);
            if (*j->p == ',') { j->p++; continue; }
            if (*j->p == ']') { j->p++; return 1; }
            j->err = "expected ',' or ']'"; return 0;
        }
    case '"': return st__string(j);
    case 't': if (!strncmp(j->p, "true", 4)) { j->p += 4; return 1; } break;
    case 'f': if (!strncmp(j->p, "false", 5)) { j->p += 5; return 1; } break;
    case 'n': if (!strncmp(j->p, "null", 4)) { j->p += 4; return 1; } break;
    default: return st__number(j);
    }
    j->err = "unexpected character";
    return 0;
}

int st_json_valid(const char* text, char* err, size_t size) {
    st__json j;
    j.p = j.start = text;
    j.err = NULL;
    if (st__value(&j, 0)) {
        st__ws(&j);
        if (!*j.p) return 1;
        j.err = "text after the value";
    }
    snprintf(err, size, "%s at offset %ld", j.err ? j.err : "?", (long)(j.p - j.start));
    return 0;
}

char* st_json_get(const char* text, const char* path) {
    st__json j;
    char seg[128];
    j.p = text;
    j.err = NULL;
    while (*path) {
        size_t n = strcspn(path, ".");
        if (n >= sizeof seg) return NULL;
        memcpy(seg, path, n);
        seg[n] = 0;
        path += n + (path[n] == '.');
        st__ws(&j);
        if (*j.p == '{') {
            int found = 0;
            j.p++;
            for (;;) {
                const char* ks;
                st__ws(&j);
                if (*j.p == '}') return NULL;
                ks = j.p + 1;
                if (!st__string(&j)) return NULL;
                st__ws(&j);
                j.p++; /* ':' */
                st__ws(&j);
                if ((size_t)(j.p - ks) >= 2 && strlen(seg) == (size_t)(strchr(ks, '"') - ks) && !strncmp(ks, seg, strlen(seg))) { found = 1; break; }
                if (!st__value(&j, 0)) return NULL;
                st__ws(&j);
                if (*j.p == ',') j.p++;
            }
            if (!found) return NULL;
        } else if (*j.p == '[') {
            long idx = strtol(seg, NULL, 10), i;
            j.p++;
            for (i = 0; i < idx; i++) {
                if (!st__value(&j, 0)) return NULL;
                st__ws(&j);
                if (*j.p != ',') return NULL;
                j.p++;
            }
            st__ws(&j);
        } else {
            return NULL;
        }
    }
    st__ws(&j);
    {
        const char* s = j.p;
        if (!st__value(&j, 0)) return NULL;
        if (*s == '"') return hil_strndup(s + 1, (size_t)(j.p - s - 2));
        return hil_strndup(s, (size_t)(j.p - s));
    }
}

HIL_MAIN()
