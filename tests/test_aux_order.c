/* Auxiliaries from the configuration are created in the order it declares
 * them (proxies first) and destroyed in the reverse order. The names are
 * chosen so that the sorted order (what hil_config_entities gives, and what
 * creation followed before) is a different order. */
#include "selftest.h"
#include <pthread.h>

HIL_SUITE(aux_order, "tags=aux")

/* ---- an auxiliary that writes down when it is created and deleted ------------------ */

static pthread_mutex_t ord_mu = PTHREAD_MUTEX_INITIALIZER;
static char ord_log[512];

static void ord_note(char what, const char* name) {
    size_t n;
    pthread_mutex_lock(&ord_mu);
    n = strlen(ord_log);
    snprintf(ord_log + n, sizeof ord_log - n, "%s%c%s", n ? " " : "", what, name);
    pthread_mutex_unlock(&ord_mu);
}

static void ord_reset(void) {
    pthread_mutex_lock(&ord_mu);
    ord_log[0] = 0;
    pthread_mutex_unlock(&ord_mu);
}

static void ord_read(char* out, size_t size) {
    pthread_mutex_lock(&ord_mu);
    snprintf(out, size, "%s", ord_log);
    pthread_mutex_unlock(&ord_mu);
}

/* Opening the com channel is what a proxied one cannot do before its proxy
   runs: a wrong order is a creation error, not only a wrong log. */
static hil_result ord_create(hil_aux* a) {
    hil_result r = hil_aux_com(a) ? hil_channel_open(hil_aux_com(a)) : HIL_OK;
    if (r == HIL_OK) ord_note('+', hil_aux_name(a));
    return r;
}

static void ord_delete(hil_aux* a) {
    ord_note('-', hil_aux_name(a));
    if (hil_aux_com(a)) hil_channel_close(hil_aux_com(a));
}

static const hil_aux_impl ord_impl = {
    "ordlog", "tests: notes creation and deletion order", 0, NULL, NULL, ord_create, ord_delete, NULL, NULL, NULL, NULL
};
HIL_AUX_TYPE(ord_impl)

/* Create all, check the creation log, destroy all, check the deletion log. */
static void ord_run(hil_config* cfg, const char* created, const char* deleted) {
    char log[512];
    ord_reset();
    HIL_ASSERT_OK(hil_aux_create_all(cfg));
    ord_read(log, sizeof log);
    HIL_EXPECT_STREQ(log, created, "creation follows the configuration");
    ord_reset();
    hil_aux_destroy_all();
    ord_read(log, sizeof log);
    HIL_EXPECT_STREQ(log, deleted, "destruction is the reverse");
}

/* probe, dut, svc, alpha (sorted: alpha, dut, probe, svc). dut and svc share
   connector lb: the proxy inserted for it comes first. alpha goes through
   the proxy auxiliary zz, declared last: proxies still come first. A key of
   probe that comes after the others does not move it. */
static const char ord_kv[] = "[auxiliaries.probe]\n"
                             "type = ordlog\n"
                             "\n"
                             "[auxiliaries.dut]\n"
                             "type = ordlog\n"
                             "connectors.com = lb\n"
                             "\n"
                             "[auxiliaries.svc]\n"
                             "type = ordlog\n"
                             "connectors.com = lb\n"
                             "\n"
                             "[auxiliaries.alpha]\n"
                             "type = ordlog\n"
                             "connectors.com = via_zz\n"
                             "\n"
                             "[auxiliaries.probe]\n"
                             "auto_start = true\n"
                             "\n"
                             "[auxiliaries.zz]\n"
                             "type = proxy\n"
                             "connectors.com = lb2\n"
                             "\n"
                             "[connectors.lb]\n"
                             "type = loopback\n"
                             "[connectors.lb2]\n"
                             "type = loopback\n"
                             "[connectors.via_zz]\n"
                             "type = proxy\n"
                             "proxy = zz\n";

HIL_TEST(aux_order, key_value_file_order_with_proxies_first) {
    hil_config* cfg;
    const char* names[8];
    HIL_ASSERT_OK(hil_config_create(&cfg));
    HIL_ASSERT_OK(hil_config_load_kv(cfg, ord_kv, "lab.conf", HIL_PRIO_FILE));
    HIL_ASSERT_EQ(hil_config_entities_declared(cfg, "auxiliaries", names, 8), 5);
    HIL_EXPECT(strcmp(names[0], "probe") == 0 && strcmp(names[1], "dut") == 0 && strcmp(names[2], "svc") == 0 &&
                   strcmp(names[3], "alpha") == 0 && strcmp(names[4], "zz") == 0,
               "declared: %s %s %s %s %s", names[0], names[1], names[2], names[3], names[4]);
    HIL_ASSERT_EQ(hil_config_entities(cfg, "auxiliaries", names, 8), 5);
    HIL_EXPECT(strcmp(names[0], "alpha") == 0 && strcmp(names[4], "zz") == 0, "sorted: %s ... %s", names[0], names[4]);
    ord_run(cfg, "+probe +dut +svc +alpha", "-alpha -svc -dut -probe");
    hil_config_destroy(cfg);
}

/* What is set later (environment, command line) comes after the files; a
   higher priority value for a key already set does not move its entity. */
HIL_TEST(aux_order, later_sources_come_after_and_overrides_do_not_move) {
    hil_config* cfg;
    HIL_ASSERT_OK(hil_config_create(&cfg));
    HIL_ASSERT_OK(hil_config_load_kv(cfg,
                                     "auxiliaries.mid.type = ordlog\n"
                                     "auxiliaries.beta.type = ordlog\n",
                                     "lab.conf", HIL_PRIO_FILE));
    HIL_ASSERT_OK(hil_config_set(cfg, "auxiliaries.aaa.type", "ordlog", HIL_PRIO_CLI, "command line"));
    HIL_ASSERT_OK(hil_config_set(cfg, "auxiliaries.mid.type", "ordlog", HIL_PRIO_CLI, "command line"));
    ord_run(cfg, "+mid +beta +aaa", "-aaa -beta -mid");
    /* unset and set again: declared anew, so last */
    HIL_ASSERT_OK(hil_config_unset(cfg, "auxiliaries.mid.type"));
    HIL_ASSERT_OK(hil_config_set(cfg, "auxiliaries.mid.type", "ordlog", HIL_PRIO_CLI, "command line"));
    ord_run(cfg, "+beta +aaa +mid", "-mid -aaa -beta");
    hil_config_destroy(cfg);
}

/* A creation that fails does not stop the ones after it, nor change their
   order; it is not destroyed (there is nothing to destroy). */
HIL_TEST(aux_order, a_failed_creation_keeps_the_order_of_the_rest) {
    hil_config* cfg;
    HIL_ASSERT_OK(hil_config_create(&cfg));
    HIL_ASSERT_OK(hil_config_load_kv(cfg,
                                     "auxiliaries.sec.type = ordlog\n"
                                     "auxiliaries.broken.type = no-such-type\n"
                                     "auxiliaries.first.type = ordlog\n",
                                     "lab.conf", HIL_PRIO_FILE));
    ord_reset();
    HIL_EXPECT_EQ(hil_aux_create_all(cfg), HIL_ERR_CONFIG);
    {
        char log[512];
        ord_read(log, sizeof log);
        HIL_EXPECT_STREQ(log, "+sec +first");
        ord_reset();
        hil_aux_destroy_all();
        ord_read(log, sizeof log);
        HIL_EXPECT_STREQ(log, "-first -sec");
    }
    hil_config_destroy(cfg);
}

HIL_TEST(aux_order, yaml_file_order) {
#ifndef HIL_HAVE_LIBYAML
    HIL_SKIP("built without libyaml (apt-get install libyaml-dev, then rebuild)");
#else
    hil_config* cfg;
    HIL_ASSERT_OK(hil_config_create(&cfg));
    HIL_ASSERT_OK(hil_config_load_yaml(cfg,
                                       "auxiliaries:\n"
                                       "  probe:\n"
                                       "    type: ordlog\n"
                                       "  dut:\n"
                                       "    type: ordlog\n"
                                       "    connectors:\n"
                                       "      com: lb\n"
                                       "  svc:\n"
                                       "    type: ordlog\n"
                                       "    connectors: {com: lb}\n"
                                       "  alpha:\n"
                                       "    type: ordlog\n"
                                       "connectors:\n"
                                       "  lb:\n"
                                       "    type: loopback\n",
                                       "lab.yaml", HIL_PRIO_FILE));
    ord_run(cfg, "+probe +dut +svc +alpha", "-alpha -svc -dut -probe");
    hil_config_destroy(cfg);
#endif
}
