/* Opens a serial device as an unprivileged user (dropping root first), to
 * show the permission error and its hint. Never opens a device it may use:
 * when the device is accessible it exits 77 before trying. */
#define HIL_IMPLEMENTATION
#include "hil.h"
#include "hil_connectors.h"
#include <grp.h>

int main(int argc, char** argv) {
    hil_channel_config c;
    hil_channel* ch = NULL;
    char opt[300];
    const char* opts[2];
    hil_result r;
    if (argc != 2) return 2;
    if (geteuid() == 0) {
        if (setgroups(0, NULL) != 0 || setgid(65534) != 0 || setuid(65534) != 0) {
            printf("cannot drop root: %s\n", strerror(errno));
            return 77;
        }
    }
    if (access(argv[1], R_OK | W_OK) == 0) {
        printf("%s is accessible to this user: not trying\n", argv[1]);
        return 77;
    }
    snprintf(opt, sizeof opt, "port=%s", argv[1]);
    opts[0] = opt;
    opts[1] = NULL;
    hil_channel_config_init(&c);
    c.name = "dut";
    c.type = "serial";
    c.options = opts;
    if (hil_channel_create(&c, &ch) != HIL_OK) {
        printf("create: %s\n", hil_last_error());
        return 1;
    }
    r = hil_channel_open(ch);
    printf("open: %s: %s\n", hil_result_str(r), hil_last_error());
    hil_channel_destroy(ch);
    return 0;
}
