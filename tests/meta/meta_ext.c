/* A program assembled from extensions, run by tests/test_extensions.c to
 * check load order and stages, enable/disable, replaces, activate_on /
 * deactivate_on, instantiate_on, capability matching, config priorities
 * and the config/extensions/endpoints commands. */
#define HIL_IMPLEMENTATION
#include "hil.h"
#include <string.h>

static char order_log[1024];

static void note(const char* what, const char* instance) {
    strncat(order_log, what, sizeof order_log - strlen(order_log) - 1);
    if (instance) {
        strncat(order_log, ":", sizeof order_log - strlen(order_log) - 1);
        strncat(order_log, instance, sizeof order_log - strlen(order_log) - 1);
    }
    strncat(order_log, " ", sizeof order_log - strlen(order_log) - 1);
}

static hil_result note_init(hil_ext_ctx* ctx) {
    note(ctx->ext->name, ctx->instance);
    return HIL_OK;
}

static void note_destroy(hil_ext_ctx* ctx) {
    printf("destroy %s%s%s\n", ctx->ext->name, ctx->instance ? ":" : "", ctx->instance ? ctx->instance : "");
}

/* Load order 12: may enable or disable other extensions (decided at 20).
 * It reads demo.keep_optional, which only a config file (stage 5) can
 * have set by now. */
static hil_result early_init(hil_ext_ctx* ctx) {
    note("early", NULL);
    if (!hil_config_get_bool(ctx->config, "demo.keep_optional", 0))
        return hil_ext_set_enabled(ctx, "optional_feature", 0);
    return HIL_OK;
}

HIL_FRAMEWORK_EXTENSION(early) {
    ext->load_order = 12;
    ext->description = "Disables optional_feature unless demo.keep_optional";
    ext->initialize = early_init;
    ext->destroy = note_destroy;
    hil_ext_option(ext, "demo.keep_optional", HIL_OPT_BOOL, "false", "Keep optional_feature enabled");
}

static int optional_cmd(hil_cmd_ctx* ctx) {
    (void)ctx;
    printf("optional command ran\n");
    return 0;
}

HIL_FRAMEWORK_EXTENSION(optional_feature) {
    ext->load_order = 300;
    ext->initialize = note_init;
    ext->destroy = note_destroy;
    hil_ext_command(ext, "optional-cmd", "Only there when optional_feature is enabled", optional_cmd);
}

/* get_config: a value with priority 20 (above files at 10, below the
 * environment at 90 and the command line at 100). */
static hil_result provider_config(hil_ext_ctx* ctx) {
    return hil_ext_provide(ctx, "demo.greeting", "hello from provider", 20);
}

HIL_FRAMEWORK_EXTENSION(provider) {
    ext->load_order = 40;
    ext->initialize = note_init;
    ext->get_config = provider_config;
    ext->destroy = note_destroy;
    hil_ext_option(ext, "demo.greeting", HIL_OPT_STRING, "default greeting", "What greet prints");
}

/* One instance per configured board (entities seen at load order 60:
 * from config files, not yet from the command line). Its endpoint is
 * defined once, by the first instance, though other extensions were
 * created before it. */
static const hil_endpoint BOARD_EVENTS = {"board_events", "What the boards extension reports"};
static const hil_message_def BOARD_READY = {"board_ready", "A board's instance is up"};
static const hil_message_def* const BOARD_MSGS[] = {&BOARD_READY, NULL};

HIL_FRAMEWORK_EXTENSION(boards) {
    ext->load_order = 60;
    ext->instantiate_on = "boards";
    ext->initialize = note_init;
    ext->destroy = note_destroy;
    hil_ext_endpoint(ext, &BOARD_EVENTS, BOARD_MSGS);
    hil_ext_option(ext, "boards.*.kind", HIL_OPT_CHOICE, "dut", "What the board is")->choices = "dut|reference";
}

HIL_FRAMEWORK_EXTENSION(old_impl) {
    ext->load_order = 70;
    ext->initialize = note_init;
    ext->destroy = note_destroy;
}

HIL_FRAMEWORK_EXTENSION(new_impl) {
    ext->load_order = 70;
    ext->replaces = "old_impl";
    ext->initialize = note_init;
    ext->destroy = note_destroy;
}

HIL_FRAMEWORK_EXTENSION(needs_lab) {
    hil_option* o;
    ext->load_order = 80;
    ext->default_enabled = 0;
    ext->initialize = note_init;
    o = hil_ext_option(ext, "demo.lab", HIL_OPT_STRING, NULL, "The lab to run in");
    o->flags = HIL_OPT_REQUIRED;
    o->cli = "--lab";
}

static const hil_endpoint OTHER_RUN = {"run", "a second endpoint that claims the runner's name"};
static const hil_message_def OTHER_MSG = {"started", "something"};
static const hil_message_def* const OTHER_MSGS[] = {&OTHER_MSG, NULL};

HIL_FRAMEWORK_EXTENSION(dup_endpoint) {
    ext->load_order = 81;
    ext->default_enabled = 0;
    hil_ext_endpoint(ext, &OTHER_RUN, OTHER_MSGS);
}

/* Reacts to test results when demo.listen is set, unless demo.quiet. */
static void on_finished(const hil_bus_msg* m, void* user) {
    const hil_test_result* r = (const hil_test_result*)m->data;
    (void)user;
    printf("listener: %s %s\n", r->test->full_name, hil_outcome_str(r->outcome));
}

static hil_result listener_init(hil_ext_ctx* ctx) {
    note("listener", NULL);
    return hil_ext_subscribe(ctx, HIL_DISPATCH_CALLBACK, on_finished, NULL, &HIL_MSG_TEST_FINISHED, &HIL_EP_RUN);
}

HIL_FRAMEWORK_EXTENSION(listener) {
    hil_option* o;
    ext->load_order = 150;
    ext->activate_on = "demo.listen";
    ext->deactivate_on = "demo.quiet";
    ext->initialize = listener_init;
    ext->destroy = note_destroy;
    o = hil_ext_option(ext, "demo.listen", HIL_OPT_FLAG, "false", "Print every test result");
    o->cli = "--listen";
    o = hil_ext_option(ext, "demo.quiet", HIL_OPT_FLAG, "false", "Silence the listener (wins over --listen)");
    o->cli = "--quiet-listener";
}

static int order_cmd(hil_cmd_ctx* ctx) {
    (void)ctx;
    printf("order: %s\n", order_log);
    return 0;
}

static int greet_cmd(hil_cmd_ctx* ctx) {
    hil_config_value v;
    const char* g = hil_config_get(ctx->config, "demo.greeting", "?");
    if (hil_config_lookup(ctx->config, "demo.greeting", &v)) printf("greet: %s [%d %s]\n", g, v.priority, v.source);
    else printf("greet: %s [default]\n", g);
    return 0;
}

HIL_FRAMEWORK_EXTENSION(commands_demo) {
    hil_command* c;
    ext->load_order = 500;
    ext->initialize = note_init;
    ext->destroy = note_destroy;
    c = hil_ext_command(ext, "order", "Print the order extensions were created in", order_cmd);
    c->uses = "report";
    hil_ext_command(ext, "greet", "Print demo.greeting", greet_cmd)->uses = "greeting";
}

/* Command extensions: attach by capability subset or by naming a command. */
HIL_COMMAND_EXTENSION(report_cap) {
    ext->extends = "report";
    ext->initialize = note_init;
    ext->destroy = note_destroy;
}
HIL_COMMAND_EXTENSION(both_caps) {
    ext->extends = "tests,report";
    ext->initialize = note_init;
    ext->destroy = note_destroy;
}
HIL_COMMAND_EXTENSION(names_list) {
    ext->extends = "list";
    ext->initialize = note_init;
    ext->destroy = note_destroy;
}
HIL_COMMAND_EXTENSION(nowhere) {
    ext->extends = "nosuch";
    ext->initialize = note_init;
    ext->destroy = note_destroy;
}

HIL_TEST(ext, one) { HIL_ASSERT(1); }
HIL_TEST(ext, two) { HIL_EXPECT_EQ(1, 2); }

HIL_MAIN()
