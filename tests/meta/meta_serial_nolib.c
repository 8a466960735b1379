/* A program built without libserialport (HIL_NO_LIBSERIALPORT): opening a
 * serial channel fails with the install hint; the other types still work. */
#define HIL_NO_LIBSERIALPORT
#define HIL_IMPLEMENTATION
#include "hil.h"
#include "hil_connectors.h"

int main(void) {
    hil_channel_config c;
    hil_channel* ch = NULL;
    const char* opts[] = {"port=/dev/ttyUSB0", "baudrate=9600", NULL};
    hil_result r;
    hil_channel_config_init(&c);
    c.name = "dut";
    c.type = "serial";
    c.options = opts;
    r = hil_channel_create(&c, &ch);
    printf("create: %s\n", hil_result_str(r));
    if (r != HIL_OK) return 1;
    r = hil_channel_open(ch);
    printf("open: %s: %s\n", hil_result_str(r), hil_last_error());
    hil_channel_destroy(ch);
    c.type = "loopback";
    c.options = NULL;
    r = hil_channel_create(&c, &ch);
    if (r == HIL_OK) r = hil_channel_open(ch);
    printf("loopback: %s\n", hil_result_str(r));
    hil_channel_destroy(ch);
    return 0;
}
