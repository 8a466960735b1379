/* A simulated device for the quickstart demo: a thermostat that answers a
 * line protocol on stdin/stdout, as firmware would on a UART.
 *
 *   PING       -> PONG
 *   TEMP?      -> TEMP <celsius>
 *   SET <c>    -> OK | ERR range        (setpoint 5..30)
 *   SETPOINT?  -> SETPOINT <celsius>
 *   VERSION?   -> VERSION 1.4.2
 *   anything else -> ERR unknown
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
    char line[128];
    double setpoint = 21.0, temp = 19.5;
    setvbuf(stdout, NULL, _IOLBF, 0);
    while (fgets(line, sizeof line, stdin)) {
        line[strcspn(line, "\r\n")] = 0;
        if (strcmp(line, "PING") == 0) {
            puts("PONG");
        } else if (strcmp(line, "TEMP?") == 0) {
            /* the room drifts halfway to the setpoint on every reading */
            temp += (setpoint - temp) / 2;
            printf("TEMP %.1f\n", temp);
        } else if (strncmp(line, "SET ", 4) == 0) {
            double v = atof(line + 4);
            if (v < 5 || v > 30) puts("ERR range");
            else { setpoint = v; puts("OK"); }
        } else if (strcmp(line, "SETPOINT?") == 0) {
            printf("SETPOINT %.1f\n", setpoint);
        } else if (strcmp(line, "VERSION?") == 0) {
            puts("VERSION 1.4.2");
        } else {
            puts("ERR unknown");
        }
    }
    return 0;
}
