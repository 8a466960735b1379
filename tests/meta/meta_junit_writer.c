/* An external command for the job self-tests: writes a JUnit XML file the
 * way other tools do (nested suites, classname, failure text, CDATA,
 * entities, a skipped and an error case), then exits with the given code.
 *
 *     meta_junit_writer FILE [EXIT_CODE] */
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char** argv) {
    FILE* f;
    if (argc < 2) {
        fprintf(stderr, "usage: %s FILE [EXIT_CODE]\n", argv[0]);
        return 2;
    }
    f = fopen(argv[1], "w");
    if (!f) {
        perror(argv[1]);
        return 2;
    }
    printf("writing %s\n", argv[1]);
    fputs("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
          "<!-- written by meta_junit_writer -->\n"
          "<testsuites>\n"
          "  <testsuite name=\"outer\" tests=\"5\">\n"
          "    <testsuite name=\"flash\" tests=\"2\">\n"
          "      <testcase name=\"erase\" time=\"0.25\"/>\n"
          "      <testcase name=\"write &amp; verify\" time=\"1.5\">\n"
          "        <failure message=\"crc mismatch: 0x1234 &lt;&gt; 0x4321\">checksum &quot;bad&quot;\n"
          "at block 7</failure>\n"
          "      </testcase>\n"
          "    </testsuite>\n"
          "    <testcase classname=\"power.rails\" name=\"v3v3\" time=\"0.01\">\n"
          "      <system-out><![CDATA[3.31 V <ok>]]></system-out>\n"
          "    </testcase>\n"
          "    <testcase classname=\"power.rails\" name=\"v5\">\n"
          "      <skipped message=\"no 5 V rail on this board\"/>\n"
          "    </testcase>\n"
          "    <testcase classname=\"power.rails\" name=\"v12\">\n"
          "      <error type=\"IOError\">probe not connected\nsecond line</error>\n"
          "    </testcase>\n"
          "  </testsuite>\n"
          "</testsuites>\n",
          f);
    fclose(f);
    return argc > 2 ? atoi(argv[2]) : 0;
}
