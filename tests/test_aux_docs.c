/* docs/auxiliaries.md: its C examples compile (-Werror), and the runnable
 * ones pass, on every backend. The ```c blocks are built into one program
 * (with HIL_MAIN) and run with a configuration for the "board" example;
 * the ```c firmware block is compiled freestanding. */
#include "selftest.h"

HIL_SUITE(aux_docs, "tags=aux,docs")

/* The fenced blocks whose info string is exactly `info`, concatenated. */
static char* doc_blocks(const char* md, const char* info) {
    hil_strbuf sb = {0, 0, 0, 0};
    const char* p = md;
    size_t ilen = strlen(info);
    while ((p = strstr(p, "```")) != NULL) {
        const char* eol = strchr(p, '\n');
        const char* end;
        if (!eol) break;
        end = strstr(eol + 1, "\n```");
        if (!end) break;
        if ((size_t)(eol - p - 3) == ilen && strncmp(p + 3, info, ilen) == 0) {
            hil_sb_append(&sb, eol + 1, (size_t)(end - eol));
            hil_sb_puts(&sb, "\n");
        }
        p = strstr(end + 1, "\n") ? end + 4 : end + 1;
        p = strchr(p, '\n') ? strchr(p, '\n') + 1 : p + strlen(p);
    }
    return hil_sb_take(&sb);
}

static const char* cc_prog(void) { return getenv("CC") && *getenv("CC") ? getenv("CC") : "cc"; }

HIL_TEST_META(aux_docs, examples_compile_and_run_on_every_backend, "timeout=180") {
    char* md = st_read("docs/auxiliaries.md");
    char* host = doc_blocks(md, "c");
    char* fw = doc_blocks(md, "c firmware");
    hil_strbuf prog = {0, 0, 0, 0};
    char inc[600], cwd[512];
    const char* src = st_path("docs_prog.c");
    const char* bin = st_path("docs_prog");
    const char* fwsrc = st_path("docs_fw.c");
    const char* fwobj = st_path("docs_fw.o");
    static const char* const backends[] = {"thread", "process", "simple"};
    size_t i;
    st_result r;
    HIL_ASSERT(host && strstr(host, "board_impl"), "the host examples are in the document");
    HIL_ASSERT(fw && strstr(fw, "hil_target_input"), "the firmware example is in the document");
    HIL_ASSERT(getcwd(cwd, sizeof cwd) != NULL);
    snprintf(inc, sizeof inc, "-I%s", cwd);
    hil_sb_puts(&prog, "#define HIL_IMPLEMENTATION\n");
    hil_sb_puts(&prog, host);
    hil_sb_puts(&prog, "\nHIL_MAIN()\n");
    HIL_ASSERT_OK(hil_write_file_atomic(src, prog.data, prog.len));
    HIL_ASSERT_OK(hil_write_file_atomic(fwsrc, fw, strlen(fw)));
    {
        const char* argv[] = {cc_prog(), "-std=c99", "-Wall", "-Wextra", "-Wpedantic", "-Werror", inc, "-o", bin, src,
                              "-lpthread", "-lm", NULL};
        st_run(argv, NULL, 120000, &r);
        HIL_ASSERT_EQ(r.code, 0, "the host examples compile: %s", r.out);
        st_result_free(&r);
    }
    {
        const char* argv[] = {cc_prog(), "-std=c99", "-ffreestanding", "-Wall", "-Wextra", "-Wpedantic", "-Werror",
                              inc, "-c", "-o", fwobj, fwsrc, NULL};
        st_run(argv, NULL, 60000, &r);
        HIL_ASSERT_EQ(r.code, 0, "the firmware example compiles freestanding: %s", r.out);
        st_result_free(&r);
    }
    for (i = 0; i < 3; i++) {
        char conf[600];
        const char* cfg = st_path("docs.conf");
        const char* argv[] = {bin, "run", "-c", cfg, "--filter", "docs.*", NULL};
        snprintf(conf, sizeof conf,
                 "connectors.uart.type = loopback\n"
                 "auxiliaries.board.type = board\n"
                 "auxiliaries.board.connectors.com = uart\n"
                 "auxiliaries.board.flash_cmd = true\n"
                 "auxiliaries.board.backend = %s\n",
                 backends[i]);
        HIL_ASSERT_OK(hil_write_file_atomic(cfg, conf, strlen(conf)));
        st_run(argv, NULL, 60000, &r);
        HIL_EXPECT_EQ(r.code, 0, "backend %s: %s", backends[i], r.out);
        HIL_EXPECT(st_has(&r, "3 passed, 0 failed, 0 skipped"), "backend %s: %s", backends[i], r.out);
        st_result_free(&r);
    }
    hil_sb_free(&prog);
    free(host);
    free(fw);
    free(md);
}
