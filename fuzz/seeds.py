#!/usr/bin/env python3
"""fuzz/seeds.py - writes the hand-made seeds of fuzz/corpus/<harness>/.

Each seed is a meaningful input a harness should start from (a valid
message, a config that uses every feature, a file in each format...). Run
it after changing the seeds here; the files it writes are committed.
Minimized inputs found by fuzzing are committed next to them by hand
(their names start with 'min-' or 'crash-'), and this script leaves them alone.
"""
import os
import struct
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def crc16(data):
    crc = 0
    for b in data:
        crc ^= b << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def tapp(mtype, sub, suite=1, case=1, token=7, err=0, payload=b""):
    head = bytes([0x40 | (mtype << 4), token, sub, err, 0, suite, case, len(payload)])
    body = head + payload
    return body + struct.pack("<H", crc16(body))


def tlv(tag, value):
    return bytes([tag, len(value)]) + value


def write(harness, name, data):
    d = os.path.join(ROOT, harness)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def seeds_target():
    # [mode][n][re-entry bytes][stream]; mode 0: one chunk, 1: byte by byte, 2: small random chunks
    steps = b"".join(tapp(0, sub, 1, case, token=i) for i, (sub, case) in enumerate(
        [(0, 0), (2, 0), (3, 1), (13, 1), (23, 1), (3, 2), (13, 2), (13, 3), (23, 3), (13, 5), (13, 6), (22, 0)]))
    write("target", "steps-whole", b"\x00\x00" + steps)
    write("target", "steps-bytewise", b"\x01\x00" + steps)
    write("target", "steps-chunks", b"\x02\x00" + steps)
    write("target", "ping", b"\x00\x00" + tapp(0, 0, 0, 0))
    write("target", "unknown-command", b"\x00\x00" + tapp(0, 42))
    write("target", "bad-crc", b"\x00\x00" + tapp(0, 13)[:-1] + b"\x00" + tapp(0, 0))
    write("target", "noise-then-ping", b"\x01\x00" + b"\xff\x40\x00\x41" + tapp(0, 0))
    write("target", "ack-and-log-ignored", b"\x00\x00" + tapp(2, 0) + tapp(3, 0, payload=tlv(110, b"hi")))
    write("target", "max-payload", b"\x02\x00" + tapp(0, 13, 1, 1, payload=bytes(255)))
    # the test of case (1, 4) feeds these bytes from inside a running step
    inner = tapp(0, 99, 1, 4, token=9) + tapp(0, 13, 1, 1, token=10)
    write("target", "reentry-abort", bytes([0, len(inner)]) + inner + tapp(0, 13, 1, 4))
    write("target", "reentry-split", bytes([3, len(inner)]) + inner + tapp(0, 13, 1, 4) + tapp(0, 0))
    # mode 4: the harness fills in the CRCs (stream is header + payload only)
    write("target", "fixcrc-steps", b"\x04\x00" + bytes([0x40, 1, 13, 0, 0, 1, 1, 0, 0x40, 2, 13, 0, 0, 1, 2, 0]))


def seeds_tapp():
    # [text size / 2][tag][chunk size / 4][stream]
    report = tapp(1, 1, 1, 2, payload=tlv(112, b"vref out of range") + tlv(110, b"measured 1301 mV"))
    log = tapp(3, 0, 1, 2, payload=tlv(110, b"step 1 of 3"))
    write("tapp", "report-failed", bytes([40, 112, 0]) + report)
    write("tapp", "report-tiny-buffer", bytes([1, 112, 0]) + report)
    write("tapp", "report-size-zero", bytes([0, 112, 0]) + report)
    write("tapp", "log-then-ack-bytewise", bytes([40, 110, 0]) + log + tapp(2, 0))
    write("tapp", "noise-resync", bytes([40, 110, 1]) + b"\x00\x41\xff" + tapp(2, 0)[:-1] + b"\x00" + tapp(2, 1, err=1))
    write("tapp", "max-payload", bytes([255, 110, 255]) + tapp(1, 0, payload=tlv(110, bytes(32 + i % 95 for i in range(253)))))
    write("tapp", "tlv-overrun", bytes([40, 110, 0]) + tapp(1, 1, payload=bytes([112, 200, 65, 66])))


def seeds_config():
    # [format: 0 key=value, 1 YAML][main][NUL][inc1.yaml][NUL][inc2.yaml][NUL][inc3.yaml]
    write("config", "kv-all-features", b"\x00" + b"""# a lab
run.timeout = 30
log_level = debug   # a comment after a value
[connectors.dut]
type = serial
port = "/dev/tty\\x41\\n"
baudrate = ${params.baud}
name = 'single quoted # not a comment'
[params]
baud = ${env:HIL_FUZZ_BAUD:-115200}
legacy = ENV{HIL_FUZZ_X=fallback}
literal = $${not.a.ref}
tags[] += smoke
tags[] += uart
""")
    write("config", "kv-cycle", b"\x00a = ${b}\nb = ${c}\nc = ${a}\nd = ${missing}\n")
    write("config", "kv-chain", b"\x00" + b"".join(b"k%d = ${k%d}x\n" % (i, i + 1) for i in range(20)) + b"k20 = end\n")
    write("config", "kv-fanout", b"\x00" + b"".join(b"f%d = ${f%d}${f%d}\n" % (i, i + 1, i + 1) for i in range(8)) + b"f8 = leaf\n")
    write("config", "yaml-nested", b"\x01a: " + b"[" * 40 + b"1" + b"]" * 40 + b"\nb: " + b"{x: " * 20 + b"1" + b"}" * 20 + b"\n")
    write("config", "kv-errors", b"\x00[unclosed\n = value\nkey without equals\nq = \"open\n")
    write("config", "yaml-pykiso", b"""\x01auxiliaries:
  dut:
    connectors:
      com: chan
    config:
      ack_timeout_ms: ${params.ack}
    type: dut
connectors:
  chan:
    config:
      port: /dev/ttyUSB0
      baudrate: 115200
    type: serial
params:
  ack: 500
  env: ENV{HIL_FUZZ_Y=1}
test_suite_list:
  - suite_dir: tests
    test_filter_pattern: "*.py"
    test_suite_id: 1
flow: {a: 1, b: [x, y]}
anchor: &a {k: v}
alias: *a
""")
    write("config", "yaml-include", b"\x01connectors: !include inc1.yaml\nparams:\n  more: !include inc2.yaml\n\x00"
          b"chan:\n  type: loopback\n  extra: !include inc3.yaml\n\x00x: ${connectors.chan.type}\n\x00deep: 1\n")
    write("config", "yaml-include-cycle", b"\x01a: !include inc1.yaml\n\x00b: !include inc2.yaml\n\x00c: !include inc1.yaml\n")
    write("config", "yaml-include-missing", b"\x01a: !include nothere.yaml\n")
    write("config", "yaml-errors", b"\x01a: [1, 2\nb: {c: d\n  - e\n\t: tab\n")


def seeds_framing():
    # [kind 0 raw 1 line 2 cobs 3 slip 4 length][opts][max_frame if opts&0x80][terminator if line and opts&0x40][chunk][rest]
    # opts: &3 length bytes 1/2/4, &4 big endian, &8 leading delimiter, >>4&3 terminator length - 1, &0x40 own terminator
    payloads = bytes([3]) + b"a\x00b" + bytes([0]) + bytes([5]) + b"\xc0\xdb\xdc\xdd\x00" + bytes([254]) + bytes(range(1, 255))
    for kind, name in enumerate(["raw", "line", "cobs", "slip", "length"]):
        write("framing", name + "-payloads", bytes([kind, 0x05, 0]) + payloads)
        write("framing", name + "-payloads-bytewise", bytes([kind, 0x0E, 0]) + payloads)
    write("framing", "line-crlf", bytes([1, 0x50, ord("\r"), ord("\n"), 7]) + bytes([5]) + b"hello" + bytes([3]) + b"a\rb")
    write("framing", "length-small-max", bytes([4, 0x81, 8, 0]) + bytes([9]) + b"too long!" + bytes([2]) + b"ok")
    write("framing", "cobs-wire", bytes([2, 0, 3]) + bytes.fromhex("0361026200 00 01 00 ff") + bytes(range(1, 255)) + b"\x00")
    write("framing", "slip-wire", bytes([3, 0, 1]) + bytes.fromhex("c0 61 db dc 62 c0 db 00 c0 c0"))


def seeds_can():
    # [data buffer capacity % 72][text]
    frames = b"123#DEADBEEF\n1ABCDE00#R\n7FF#R8\n456##1" + b"11" * 64 + b"\n20000040#0000000000000000\n" \
             b"001#\n123#11.22.33\n123#1122334455667788_C\n"
    write("can", "compact-frames", bytes([64]) + frames)
    write("can", "compact-frames-small-buffer", bytes([4]) + frames)
    write("can", "candump-log", bytes([64]) + b"""(1700000000.123456) can0 123#DEADBEEF
(1700000000.200000) can1 1ABCDE00#R
# a comment

(1700000001.5) vcan0 456##3001122
(1700000002.000000001) can0 20000004#0000080000000000
""")
    write("can", "candump-log-errors", bytes([64]) + b"1700000000.1 can0 123#00\n(x.1) can0 123#00\n(1.) can0 123#00\n"
          b"(1.1234567890) can0 123#00\n(1.1) \n(1.1) can0 12#00\n(1.1) can0 123#0\n(1.1) can0 123#001122334455667788\n")
    write("can", "filters-and-masks", bytes([64]) + b"123:7FF,1ABCDE00~1FFFFFFF\n7FF:7FF 000~000\nbusoff,ack\nall\n0x1FF\n"
          b"candump\npcap\nauto\n")


def seeds_isotp():
    # one item a line: ids, numbers, and key=value options of a channel
    write("isotp", "tester-to-ecu", "interface=can0\ntx_id=7E0\nrx_id=0x7E8\ntx_padding=0xCC\nblock_size=8\nstmin_us=1000\n")
    write("isotp", "every-option", "interface=vcan0\ntx_id=18DA10F1\nrx_id=18DAF110\ntx_padding=0xAA\nrx_padding=170\n"
          "pad_check=all\nblock_size=0x10\nstmin_us=900\nstmin_raw=0xF5\nwft_max=3\nforce_tx_stmin_us=100\n"
          "force_rx_stmin_us=0\nframe_txtime_us=0\next_address=0xF1\nrx_ext_address=0x10\nlisten_only=false\n"
          "half_duplex=true\nsf_broadcast=true\nfd=true\ntx_dl=64\nbrs=true\n")
    write("isotp", "ids", "7E0\n0x7e8\n00000123\n1FFFFFFF\n20000000\n123456789\n0x\n\n7G0\n800\n")
    write("isotp", "numbers", "0\n100\n900\n950\n1000\n127000\n127001\n0x1F018\n010\n18446744073709551616\n-1\n")
    write("isotp", "bad-combinations", "interface=can0\ntx_id=7E0\nrx_id=7E0\npad_check=data\ntx_dl=12\nbrs=true\n")

def seeds_labstate():
    head = b"# hil-lab-state 1\n"
    write("labstate", "valid", head + b"quarantined 1796437848472151245 3 infrastructure failures in a row (last: flash failed)\n"
          b"streak 3\nlast 1796437848472151245 error standard[PICO_W]\n"
          b"event 1796437848156337880 passed standard[PICO_W]\nevent 1796437848472151245 infra flash: exit 3\n")
    write("labstate", "torn", head + b"streak 2\nlast 1 passed a\nevent 5 infra fla")
    write("labstate", "nul-run", head + b"streak 1\n" + b"\0" * 64)
    write("labstate", "bad-lines", head + b"streak x\nstreak 99999999999999\nquarantined\nlast 1\nevent 1\nunknown 1\n# c\n")
    write("labstate", "many-events", head + b"".join(b"event %d passed run%d\n" % (i, i) for i in range(40)))
    write("labstate", "limits", head + b"quarantined 9223372036854775807 " + b"r" * 400 + b"\nevent 9223372036854775808 x y\n")
    write("labstate", "no-header", b"streak 3\n")
    write("labstate", "empty", b"")



def seeds_history():
    head = b"# hil-sched-history 1\n# ema_ns count name\n"
    write("history", "valid", head + b"1500000000 3 flash[sensor-node]\n250000000 12 uart.echo\n0 0 x\n")
    write("history", "crlf-and-comments", head.replace(b"\n", b"\r\n") + b"# note\r\n\r\n42 1 a b c\r\n")
    write("history", "duplicate-names", head + b"1 1 same\n2 2 same\n")
    write("history", "limits", head + b"18446744073709551615 4294967296 too-big\n")
    write("history", "bad-lines", head + b"x 1 name\n1 x name\n1 1\n1  1 name\n")
    write("history", "no-header", b"1 1 name\n")
    write("history", "empty", b"")


def seeds_junit():
    write("junit", "hil-own", b"""<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="hil" tests="4" failures="1" errors="0" skipped="1" time="0.5">
  <testsuite name="uart" tests="4" failures="1" errors="0" skipped="1" time="0.5" timestamp="2026-12-04T10:00:00">
    <testcase classname="uart" name="echo" time="0.001"/>
    <testcase classname="uart" name="baud" time="0.2"><failure message="expected 115200 &amp; got 9600">tests/uart.c:12: expected &lt;115200&gt;
second line</failure><system-out>log &#x41;&#65; line</system-out></testcase>
    <testcase classname="uart" name="flash" time="0"><skipped message="not on rev A"/></testcase>
    <testcase classname="uart" name="blocked" time="0"><properties><property name="result" value="Blocked"/></properties><skipped/></testcase>
  </testsuite>
</testsuites>
""")
    write("junit", "pytest", b"""<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest" errors="1" failures="0" skipped="0" tests="2" time="1.2" hostname="x"><testcase classname="test_mod.TestX" name="test_a[1-2]" time="0.01"><error message="fixture failed">Traceback...</error></testcase><testcase classname="" name="test_b" time="abc"><system-err><![CDATA[raw <stderr> & stuff]]></system-err></testcase></testsuite></testsuites>
""")
    write("junit", "nested-suites", b"<testsuites><testsuite name='outer'><testsuite name='inner'><testcase name='t'/></testsuite><testcase name='u'><failure/><error/></testcase></testsuite></testsuites>")
    write("junit", "broken", b"<testsuite name=\"x\"><testcase name=\"a\" <failure message='m'>text</testcase><!-- c --><testcase name='b'")


def seeds_cli():
    def argv(*a):
        return b"\x00".join(x.encode() for x in a)
    write("cli", "schedule-shard", argv("schedule", "--shard", "2/4", "--simulate", "--runs", "out", "--only", "flash[*]"))
    write("cli", "run-options", argv("--filter", "uart.*", "--tag", "smoke", "--exclude-tag", "slow", "--junit=r.xml",
                                      "--json", "r.json", "-vv", "--repeat", "3", "--shuffle", "--timeout", "2.5",
                                      "--log-level", "debug,hil.can=trace", "--isolate", "test", "--", "pos", "-x"))
    write("cli", "set-and-help", argv("list", "-v", "--set", "params.a=${params.b}", "--set=params.b=1", "--help"))
    write("cli", "unknown-and-misplaced", argv("run", "--shrad", "1/2", "--color", "sometimes", "--timeout"))
    write("cli", "shard-values", argv("--shard", "0/4", "--shard=5/4", "--shard", "1/0", "--shard", "4294967295/4294967295",
                                       "--shard", "4294967296/1", "--shard", " 1/2", "--shard", "1//2"))
    write("cli", "job", argv("job", "--max-runtime", "10", "--archive", "--job-name", "nightly", "--grace", "1"))
    write("cli", "values", argv("passed", "Errored", "passx", "warning", "hil=debug,x=info", "1/1"))


def seeds_telnet():
    IAC, WILL, WONT, DO, DONT, SB, SE = 255, 251, 252, 253, 254, 250, 240
    # raw (mode 1): what ser2net sends on connect, COM-PORT answers, data with an escaped IAC
    hello = bytes([IAC, DO, 44, IAC, WILL, 3, IAC, WILL, 0, IAC, DO, 0, IAC, DO, 3, IAC, WILL, 1, IAC, DO, 24])
    answers = bytes([IAC, SB, 44, 101, 0, 1, 0xC2, 0, IAC, SE, IAC, SB, 44, 102, 8, IAC, SE, IAC, SB, 44, 103, 1, IAC, SE,
                     IAC, SB, 44, 104, 1, IAC, SE, IAC, SB, 44, 105, 1, IAC, SE, IAC, SB, 44, 106, 0x60, IAC, SE,
                     IAC, SB, 44, 107, 0x30, IAC, SE, IAC, SB, 44, 101, 0, 0, IAC, IAC, 0, IAC, SE])
    data = b"hello" + bytes([IAC, IAC]) + b"world" + bytes([IAC, 241, IAC, 249])
    write("telnet", "ser2net-session", bytes([1, 255]) + hello + answers + data)
    write("telnet", "ser2net-session-bytewise", bytes([1, 0]) + hello + answers + data)
    write("telnet", "refusals-and-toggles", bytes([1, 2]) + bytes([IAC, DONT, 44, IAC, WONT, 0, IAC, WONT, 0, IAC, DO, 5,
                                                                  IAC, WILL, 31, IAC, DONT, 0, IAC, DO, 0]))
    write("telnet", "long-subnegotiation", bytes([1, 7]) + bytes([IAC, SB, 44, 101]) + bytes(100) + bytes([IAC, SE]) + b"x")
    write("telnet", "cut-in-the-middle", bytes([1, 3]) + bytes([IAC]) )
    # structured (mode 0): [kind][...]; kind%4: 0 data (kind/4 bytes), 1 negotiation, 2 subneg, 3 command
    write("telnet", "structured", bytes([0, 4]) + bytes([4 * 5]) + b"ab\xffcd" + bytes([1, 44, 5, 0, 9, 3])
          + bytes([2 + 4 + 8 * 3, 101, 255, 7]) + bytes([3 + 4]) + bytes([4 * 2]) + b"\xff\xff")


def seeds_expect():
    # [flags][max_buffer/4-16][pattern a][pattern b] then [chunk size-1][bytes]...
    def chunks(data, size):
        out = b""
        for i in range(0, len(data), size):
            part = data[i:i + size]
            out += bytes([len(part) - 1]) + part
        return out
    boot = b"U-Boot 2024.01\nHit any key to stop autoboot:  3\x08\x08\x08 0 \n=> "
    write("expect", "uboot-autoboot", bytes([1, 0, 5, 2]) + chunks(boot, 7))
    zephyr = b"\x1b[1;32muart:~$ \x1b[mkernel version\r\nZephyr version 3.6.0\r\n\x1b[1;32muart:~$ \x1b[m"
    write("expect", "zephyr-colours", bytes([0, 4, 1, 1]) + chunks(zephyr, 5))
    login = b"\r\nbench login: root\r\nPassword: \r\n~ # "
    write("expect", "linux-login", bytes([1, 2, 3, 4]) + chunks(login, 3))
    marker = b"echo __HIL_\"\"BEGIN_1_1__; ls; echo \"__HIL_RC_1_$?__\"\r\n__HIL_BEGIN_1_1__\r\na b\r\n__HIL_RC_1_0__\r\n$ "
    write("expect", "shell-markers", bytes([5, 1, 6, 0]) + chunks(marker, 11))
    garbage = bytes(range(256)) + b"\nkey=42\n" + b"x" * 600 + b"y\n"
    write("expect", "garbage-and-long-line", bytes([3, 0, 7, 9]) + chunks(garbage, 100))


def seeds_merge():
    shard = b"""{"schema":"hil-job-1","tool":{"name":"hil","version":"0.9"},"job":"nightly","name":"nightly",
"directory":"/runs/a","result":"Failed","started":"2026-12-04T10:00:00","duration_s":12.5,"interrupted":false,
"success_rate":50.00,"exit_code":1,"args":["--shard","1/2"],"summary":{"total":2,"passed":1,"failed":1},
"errors":[{"task":"t1","message":"board \\u00e9 \\"quoted\\""}],
"tasks":[{"name":"t1","result":"Failed","tests":[1,2.5e3,-0.1,true,null]},{}]}"""
    other = shard.replace(b"Failed", b"Passed").replace(b"\"total\":2", b"\"total\":3,\"skipped\":1")
    junit = b"<testsuites><testsuite name='s' tests='1'><testcase name='a'/></testsuite></testsuites>"
    write("merge", "two-shards", shard + b"\x00" + other + b"\x00" + junit)
    write("merge", "one-shard", shard)
    write("merge", "odd-summary", shard.replace(b"\"passed\":1", b"\"pa\\\"ss\":1e999,\"x\":-0"))
    write("merge", "not-hil", b"{\"schema\":\"other\"}")
    write("merge", "no-tasks", b"{\"schema\":\"hil-job-1\",\"tasks\":{}}")


def seeds_scpi():
    # [chunk][flags: bit 0 framed, rest: error text size][out size][stream]
    def seed(name, stream, chunk=64, flags=0x40, out=79):
        write("scpi", name, bytes([chunk - 1, flags, out]) + stream)
    seed("idn", b"KEYSIGHT TECHNOLOGIES,E36313A,MY12345678,2.1.0-1.0.4-1.12\n")
    seed("measure", b"+4.99870E+00\r\n+2.50000E-01\n")
    seed("error-queue", b'-222,"Data out of range"\n+0,"No error"\n-113,"Undefined header"\n')
    seed("bytewise", b'+0,"No error"\n1\n0.25\n', chunk=1)
    seed("framed-lines", b"ON", flags=0x41)
    seed("not-a-number", b"9.91E+37\ninf\n0x1p3\n1e999\n")
    seed("flood", b"0123456789" * 40)
    seed("tiny-out", b'-350,"Queue overflow"\n', out=3)
def seeds_uds():
    def inp(spec, req, rest):
        return bytes([len(spec)]) + spec + bytes([len(req)]) + req + rest
    write("uds", "vin", inp(b"vin 0xF190 ascii 17", b"\x22\xf1\x90", b"\x62\xf1\x90HILSIM00000000001"))
    write("uds", "temp-scaled", inp(b"temp 0x0101 s16 scale=0.1 unit=degC", b"\x22\x01\x01", b"\xff\x85"))
    write("uds", "s64-le", inp(b"x 1 s64 le", b"\x2e\x01\x03", b"\x00\x00\x00\x00\x00\x00\x00\x80"))
    write("uds", "u12", inp(b"x 1 u12 le offset=-40", b"\x10\x03", b"\x50\x03\x00\x32\x01\xf4"))
    write("uds", "bytes-text", inp(b"b 2 bytes[3]", b"\x31\x01\xff\x01", b"01 02 0a"))
    write("uds", "negative", inp(b"n 3 u8", b"\x27\x02\x00\x00\x00\x00", b"\x7f\x27\x35"))
    write("uds", "download", inp(b"d 4 u32", b"\x34\x00\x44\x08\x00\x00\x00\x00\x00\x01\x00", b"\x74\x20\x01\x02"))
    write("uds", "dtc-list", inp(b"d 5 bytes", b"\x19\x02\xff", b"\x59\x02\xff\x01\x23\x45\x09\x05\x43\x21\x24"))
    write("uds", "dtc-ext", inp(b"d 6 bytes", b"\x19\x06\xc1\x23\x00\x01", b"\x59\x06\xc1\x23\x00\x08\x01\x07"))
def seeds_harvest():
    # [format][max_line/4][chunk][fatal] then the stream; format 0 = auto
    unity = (b"boot\r\nsrc/t.c:10:test_a:PASS\r\nsrc/t.c:20:test_b:FAIL: Expected 1 Was 2\r\n"
             b"src/t.c:30:test_c:IGNORE: later\r\nsrc/t.c:40:test_d:PASS (3 ms)\r\n"
             b"-----------------------\r\n4 Tests 1 Failures 1 Ignored\r\nFAIL\r\n")
    write("harvest", "unity", bytes([1, 60, 7, 0]) + unity)
    write("harvest", "unity-auto-bytewise", bytes([0, 60, 1, 0]) + unity)
    write("harvest", "unity-crash", bytes([1, 60, 9, 1]) + b"t.c:1:a:PASS\nPANIC: hard fault\nregs\n")
    ztest = (b"BOOT\nRunning TESTSUITE s\nSTART - test_a\n PASS - test_a in 0.001 seconds\n"
             b"START - test_b\n    Assertion failed at src/m.c:42: test_b: (1 not equal to 2)\n"
             b" FAIL - test_b in 0.004 seconds\nTESTSUITE s failed.\n"
             b"SUITE FAIL -  50.00% [s]: pass = 1, fail = 1, skip = 0, total = 2 duration = 0.005 seconds\n"
             b" - PASS - [s.test_a] duration = 0.001 seconds\n - FAIL - [s.test_b] duration = 0.004 seconds\n"
             b"PROJECT EXECUTION FAILED\n")
    write("harvest", "ztest", bytes([2, 60, 11, 0]) + ztest)
    write("harvest", "ztest-fatal", bytes([0, 60, 5, 0]) + b"Running TESTSUITE s\nSTART - t\n>>> ZEPHYR FATAL ERROR 3\n")
    write("harvest", "ztest-reboot", bytes([2, 60, 5, 0]) + b"BOOT\nRunning TESTSUITE s\nSTART - t\nBOOT\n")
    tap = (b"TAP version 13\n1..5\nok 1 - a\nnot ok 2 - b\n  ---\n  message: 'x'\n  file: f.c\n  line: 3\n  ...\n"
           b"ok 3 # SKIP no\nnot ok 4 c # TODO later\nBail out! gone\n")
    write("harvest", "tap", bytes([3, 60, 3, 0]) + tap)
    write("harvest", "tap-criterion", bytes([0, 60, 13, 0]) + b"TAP version 13\n1..2\nok - g::a  (0.00s)\n"
          b"not ok - g::b  (0.01s)\n  ---\n  failures:\n  - c.c:4: |+\n      Assertion failed: no\n  ...\n")
    gtest = (b"[==========] Running 3 test(s).\n[ RUN      ] a\n[       OK ] a\n[ RUN      ] b\n"
             b"[  ERROR   ] --- 0x3 != 0x4\n[   LINE   ] --- t.c:24: error: Failure!\n[  FAILED  ] b\n"
             b"[ RUN      ] c\n[  SKIPPED ] c\n[==========] 3 test(s) run.\n[  PASSED  ] 1 test(s).\n"
             b"[  FAILED  ] 1 test(s), listed below:\n[  FAILED  ] b\n")
    write("harvest", "gtest", bytes([4, 60, 17, 0]) + gtest)
    write("harvest", "garbage-and-long-line", bytes([0, 4, 64, 0]) + b"t.c:1:a:PASS\n" + bytes(range(256)) + b"x" * 600 + b"\nt.c:2:b:PASS\n")


def main():
    wanted = sys.argv[1:]
    for name, fn in sorted(globals().items()):
        if name.startswith("seeds_") and (not wanted or name[6:] in wanted):
            fn()


if __name__ == "__main__":
    main()
