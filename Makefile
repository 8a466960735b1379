# hil - build, test, benchmark.
#
#   make            build everything (self-tests, examples, benchmarks)
#   make demo       build and run the demo lab (make demo-faults: with a broken board)
#   make quickstart the smallest complete test program, run
#   make test       the whole test suite; ends with "N passed, N failed, N skipped"
#   make bench      print BENCH lines
#   make sanitize   the self-tests under ASan + UBSan
#   make tsan       the self-tests under ThreadSanitizer
#   make compile-matrix  gcc and clang x C99, C11, C++17, -Werror; the split implementation, linked
#   make fuzz       build the libFuzzer harnesses (fuzz/); FUZZ_SECONDS=N runs each N s
#   make fuzz-regress  every harness once over its committed corpus
#   make test-vm    CAN and serial suites in a QEMU VM with real kernel drivers
#   make bench-vm   BENCH lines measured inside that VM (informative)
#   make test-mcu   examples/mcu's firmware on emulated Cortex-M boards (QEMU); debug probes (hil_probe.h); harvested suites (hil_harvest.h)
#   make demo-mcu   the scheduler on a lab of emulated boards
#   make bench-mcu  BENCH lines for an emulated board and flashing through its GDB stub
#   make install    headers, hil.pc, CMake package, hil-init, docs (PREFIX, DESTDIR); make uninstall
#   make test-install  the installed package through pkg-config and find_package, and hil-init
#
# Optional libraries are found with pkg-config; without them the features
# that need them report a clear error and their tests are skipped.

CC ?= cc
CXX ?= c++
PKG_CONFIG ?= pkg-config
PYTHON ?= python3
BUILD ?= build
OPT ?= -O2
WARN = -Wall -Wextra -Wpedantic -Werror
CSTD ?= -std=c99
CFLAGS_ALL = $(CSTD) $(WARN) $(OPT) -g -I. $(HIL_DEFS) $(EXTRA_CFLAGS)
LDLIBS_ALL = $(HIL_LIBS) -lpthread -lm $(EXTRA_LDLIBS)

# ---- optional libraries ------------------------------------------------------
have = $(shell $(PKG_CONFIG) --exists $(1) 2>/dev/null && echo yes)
ifeq ($(call have,yaml-0.1),yes)
  HIL_DEFS += -DHIL_HAVE_LIBYAML
  HIL_LIBS += $(shell $(PKG_CONFIG) --libs yaml-0.1)
endif
ifeq ($(call have,libserialport),yes)
  HIL_DEFS += -DHIL_HAVE_LIBSERIALPORT
  HIL_LIBS += $(shell $(PKG_CONFIG) --libs libserialport)
endif
ifeq ($(call have,libsocketcan),yes)
  HIL_DEFS += -DHIL_HAVE_LIBSOCKETCAN
  HIL_LIBS += $(shell $(PKG_CONFIG) --libs libsocketcan)
endif

MATRIX_SRC = tests/compile/all_headers.c
# The implementation split over one file per module (HIL_IMPLEMENTATION_CORE, ...).
SPLIT_SRCS = $(sort $(wildcard tests/compile/split/*.c))
# Leave-out switches the matrix builds with (comma: together).
NO_SWITCHES = -DHIL_NO_CAN -DHIL_NO_SCHEDULER -DHIL_NO_QEMU -DHIL_NO_CAN,-DHIL_NO_SCHEDULER,-DHIL_NO_QEMU
HEADERS = hil.h $(wildcard hil_connectors.h hil_aux.h hil_runner.h hil_target.h hil_probe.h hil_uds.h hil_console.h hil_harvest.h)
TEST_SRCS = $(sort $(wildcard tests/test_*.c))
META_SRCS = $(sort $(wildcard tests/meta/*.c))
BENCH_SRCS = $(sort $(wildcard bench/bench_*.c))
META_BINS = $(patsubst tests/meta/%.c,$(BUILD)/meta/%,$(META_SRCS))
BENCH_BINS = $(patsubst bench/%.c,$(BUILD)/bench/%,$(BENCH_SRCS))

# Real producers for tests/test_harvest.c, built when the library is
# installed (defined before `all`, whose prerequisites are expanded at once).
HARVEST_BINS = $(if $(filter yes,$(call have,cmocka)),$(BUILD)/harvest/cmocka_suite) \
               $(if $(filter yes,$(call have,criterion)),$(BUILD)/harvest/criterion_suite)

# fuzz and fuzz-regress: see the fuzzing section below.
.PHONY: all test selftest demo demo-faults quickstart bench sanitize tsan compile-matrix single clean help doc-examples test-cmake test-vm bench-vm docs-config \
  test-mcu demo-mcu bench-mcu mcu-firmware fuzz fuzz-regress probe-firmware bench-probe
.DEFAULT_GOAL := all

all: $(BUILD)/selftest $(META_BINS) $(BENCH_BINS) $(BUILD)/single/hil_single.h $(BUILD)/selftest-single doc-examples \
     $(BUILD)/demo/sim_thermostat $(BUILD)/demo/quickstart $(BUILD)/drop-in/hil_tests $(BUILD)/all_headers \
     $(BUILD)/drop-in-single/hil_tests \
     $(BUILD)/demo/sim-firmware $(BUILD)/demo/board_tests probe-firmware $(BUILD)/ecu-sim/ecu-sim $(HARVEST_BINS)

help:
	@sed -n '2,/^$$/p' Makefile | sed -e '/^$$/d' -e 's/^# \{0,1\}//'

# ---- the self-tests ----------------------------------------------------------
$(BUILD)/selftest: tests/main.c $(TEST_SRCS) $(HEADERS) tests/selftest.h | $(BUILD)
	$(CC) $(CFLAGS_ALL) -o $@ tests/main.c $(TEST_SRCS) $(LDLIBS_ALL)

$(BUILD)/meta/%: tests/meta/%.c $(HEADERS) | $(BUILD)/meta
	$(CC) $(CFLAGS_ALL) -o $@ $< $(LDLIBS_ALL)

# Real producers of on-target-style output for tests/test_harvest.c
# (hil_harvest.h): a cmocka and a Criterion suite, built when the library is
# installed (libcmocka-dev, libcriterion-dev); the test skips with the
# apt-get line otherwise.
$(BUILD)/harvest/cmocka_suite: tests/harvest/cmocka_suite.c | $(BUILD)/harvest
	$(CC) -std=c99 $(WARN) -O1 -g -o $@ $< $(shell $(PKG_CONFIG) --cflags --libs cmocka 2>/dev/null)
$(BUILD)/harvest/criterion_suite: tests/harvest/criterion_suite.c | $(BUILD)/harvest
	$(CC) -std=gnu99 -Wall -Wextra -Werror -O1 -g -o $@ $< $(shell $(PKG_CONFIG) --cflags --libs criterion 2>/dev/null)

# The same suite against the single-file header made by amalgamate.py.
$(BUILD)/single/hil_single.h: amalgamate.py $(HEADERS) | $(BUILD)/single
	@if command -v $(PYTHON) >/dev/null 2>&1; then $(PYTHON) amalgamate.py -o $@; \
	else echo "note: $(PYTHON) not found: the single-header build is skipped (apt-get install python3)"; rm -f $@; fi

$(BUILD)/selftest-single: tests/main.c $(TEST_SRCS) $(BUILD)/single/hil_single.h tests/selftest.h
	@if [ -f $(BUILD)/single/hil_single.h ]; then \
	  echo "$(CC) ... -DHIL_TEST_SINGLE -o $@"; \
	  $(CC) $(CFLAGS_ALL) -DHIL_TEST_SINGLE -I$(BUILD)/single -o $@ tests/main.c $(TEST_SRCS) $(LDLIBS_ALL); \
	else rm -f $@; fi

single: $(BUILD)/single/hil_single.h

# The example programs in docs/*.md are extracted and compiled, and the
# self-tests run them: the documentation cannot drift from the code.
DOCS = $(wildcard docs/*.md)
doc-examples: $(DOCS) $(HEADERS) tests/extract_examples.awk | $(BUILD)
	@mkdir -p $(BUILD)/doc-examples
	@awk -v out=$(BUILD)/doc-examples -f tests/extract_examples.awk $(DOCS)
	@for n in $(BUILD)/doc-examples/*.c.new; do [ -e "$$n" ] || continue; f=$${n%.new}; \
	  if cmp -s "$$n" "$$f"; then rm -f "$$n"; else mv "$$n" "$$f"; fi; done
	@for f in $(BUILD)/doc-examples/*.c; do [ -e "$$f" ] || continue; b=$${f%.c}; \
	  if [ ! -e "$$b" ] || [ "$$f" -nt "$$b" ] || [ -n "$$(find $(HEADERS) -newer "$$b" 2>/dev/null)" ]; then \
	    echo "$(CC) ... -o $$b $$f"; $(CC) $(CFLAGS_ALL) -o "$$b" "$$f" $(LDLIBS_ALL) || exit 1; fi; done

$(BUILD) $(BUILD)/meta $(BUILD)/bench $(BUILD)/single $(BUILD)/harvest:
	@mkdir -p $@

# The last line printed is the closing line: "N passed, N failed, N skipped".
test: all
	@$(BUILD)/selftest --set params.build_dir=$(BUILD) --exclude-tag vm --exclude-tag mcu --exclude-tag hardware $(TEST_ARGS)

# A program with every header: the configuration reference comes from it, so
# docs/config-reference.md lists exactly the options the code declares.
$(BUILD)/all_headers: $(MATRIX_SRC) $(HEADERS) | $(BUILD)
	$(CC) $(CFLAGS_ALL) -o $@ $(MATRIX_SRC) $(LDLIBS_ALL)

docs-config: $(BUILD)/all_headers
	$(BUILD)/all_headers config-doc > docs/config-reference.md
	@echo "wrote docs/config-reference.md"

# The ECU simulator (examples/ecu-sim): the peer of the uds tests (tests/test_uds.c).
# Plain C and libc, like firmware would be: no hil header.
$(BUILD)/ecu-sim/ecu-sim: examples/ecu-sim/ecu_sim.c
	@mkdir -p $(BUILD)/ecu-sim
	$(CC) -std=c99 $(WARN) $(OPT) -g -o $@ $<

# ---- the demo ----------------------------------------------------------------
$(BUILD)/demo/sim_thermostat: examples/quickstart/sim_thermostat.c | $(BUILD)/demo
	$(CC) $(CFLAGS_ALL) -o $@ $<

$(BUILD)/demo/quickstart: examples/quickstart/test_thermostat.c $(HEADERS) | $(BUILD)/demo
	$(CC) $(CFLAGS_ALL) -o $@ $< $(LDLIBS_ALL)

# The demo lab: a firmware simulator built on hil_target.h and the tests
# that run against it (examples/lab, examples/sim-firmware).
$(BUILD)/demo/sim-firmware: examples/sim-firmware/sim_firmware.c hil_target.h | $(BUILD)/demo
	$(CC) -std=c99 $(WARN) $(OPT) -g -I. -o $@ $<

$(BUILD)/demo/board_tests: examples/lab/board_tests.c $(HEADERS) | $(BUILD)/demo
	$(CC) $(CFLAGS_ALL) -o $@ $< $(LDLIBS_ALL)

$(BUILD)/demo:
	@mkdir -p $@

# `make demo`: the demo lab (examples/lab/lab.conf): five simulated boards of
# two types; firmware built and flashed, then the tests scheduled across the
# boards. Needs only a C compiler and make. The run directory (results.json,
# junit.xml, report.html with the Gantt chart) is $(BUILD)/demo/runs/latest.
DEMO_ENV = HIL_DEMO_BIN=$(BUILD)/demo HIL_DEMO_LAB=$(BUILD)/demo/lab
demo: $(BUILD)/demo/sim-firmware $(BUILD)/demo/board_tests
	@echo "== the demo lab: 5 simulated boards, 2 firmware builds, 6 runs scheduled across the boards =="
	@$(DEMO_ENV) $(BUILD)/demo/board_tests schedule -c examples/lab/lab.conf --runs $(BUILD)/demo/runs $(DEMO_ARGS)
	@echo
	@echo "open the report:   $(BUILD)/demo/runs/latest/report.html"
	@echo "results for CI:    $(BUILD)/demo/runs/latest/results.json, $(BUILD)/demo/runs/latest/junit.xml"
	@echo "faults, too:       make demo-faults"

# The same lab with one board whose firmware crashes on its first frame: the
# run it was given is retried on another board of its type and the board is
# quarantined (here after one failure; the default is three in a row).
demo-faults: $(BUILD)/demo/sim-firmware $(BUILD)/demo/board_tests
	@echo "== the demo lab with a faulty board: node2 crashes on its first frame =="
	@$(DEMO_ENV) $(BUILD)/demo/board_tests schedule -c examples/lab/lab.conf --runs $(BUILD)/demo/runs \
	  --set "connectors.node2.command=$(BUILD)/demo/sim-firmware --name node2 --type sensor-node --seed 12 \
	  --flash $(BUILD)/demo/lab/node2.flash --misbehave crash" --set schedule.quarantine_after=1 $(DEMO_ARGS)
	@echo
	@echo "open the report:   $(BUILD)/demo/runs/latest/report.html (node2's attempt is the dashed bar)"

# The quickstart (examples/quickstart): the smallest complete test program.
quickstart: $(BUILD)/demo/sim_thermostat $(BUILD)/demo/quickstart
	@echo "== the quickstart: tests for a simulated thermostat over its stdin/stdout =="
	@$(BUILD)/demo/quickstart --set params.device=$(BUILD)/demo/sim_thermostat \
	  --junit $(BUILD)/demo/junit.xml --json $(BUILD)/demo/results.json
	@echo "reports: $(BUILD)/demo/junit.xml $(BUILD)/demo/results.json"

# ---- adoption: the drop-in example and CMake ----------------------------------
$(BUILD)/drop-in/hil_tests: $(wildcard examples/drop-in/tests/*.c examples/drop-in/firmware/src/*) $(HEADERS)
	@$(MAKE) --no-print-directory -C examples/drop-in BUILD=$(abspath $(BUILD))/drop-in CC="$(CC)" \
	  $(abspath $(BUILD))/drop-in/hil_tests

# The single-file route: hil_single.h copied in as third_party/hil/hil.h.
$(BUILD)/drop-in-single/hil_tests: $(wildcard examples/drop-in/tests/*.c examples/drop-in/firmware/src/*) \
    $(BUILD)/single/hil_single.h
	@if [ -f $(BUILD)/single/hil_single.h ]; then \
	  mkdir -p $(BUILD)/drop-in-single/third_party/hil && \
	  cp $(BUILD)/single/hil_single.h $(BUILD)/drop-in-single/third_party/hil/hil.h && \
	  $(MAKE) --no-print-directory -C examples/drop-in BUILD=$(abspath $(BUILD))/drop-in-single CC="$(CC)" \
	    HIL_DIR=$(abspath $(BUILD))/drop-in-single/third_party/hil $(abspath $(BUILD))/drop-in-single/hil_tests; \
	else rm -f $@; fi

# A consumer project built with add_subdirectory and with FetchContent, and
# the drop-in example's CMakeLists.txt; each test program must pass.
test-cmake:
	@set -e; for use in subdirectory fetchcontent; do \
	  echo "test-cmake: hil::hil through $$use"; \
	  cmake -S tests/cmake -B $(BUILD)/cmake-$$use -DHIL_SOURCE=$(CURDIR) -DHIL_USE=$$use >/dev/null; \
	  cmake --build $(BUILD)/cmake-$$use >/dev/null; \
	  $(BUILD)/cmake-$$use/consumer_tests -q > $(BUILD)/cmake-$$use.out 2>&1 || { cat $(BUILD)/cmake-$$use.out; exit 1; }; \
	  tail -1 $(BUILD)/cmake-$$use.out; done; \
	echo "test-cmake: examples/drop-in/CMakeLists.txt"; \
	cmake -S examples/drop-in -B $(BUILD)/cmake-drop-in -DHIL_DIR=$(CURDIR) >/dev/null; \
	cmake --build $(BUILD)/cmake-drop-in >/dev/null; \
	$(BUILD)/cmake-drop-in/hil_tests -q > $(BUILD)/cmake-drop-in.out 2>&1 || { cat $(BUILD)/cmake-drop-in.out; exit 1; }; \
	tail -1 $(BUILD)/cmake-drop-in.out

# ---- benchmarks -------------------------------------------------------------
$(BUILD)/bench/%: bench/%.c $(HEADERS) | $(BUILD)/bench
	$(CC) $(CFLAGS_ALL) -O2 -o $@ $< $(LDLIBS_ALL)

bench: $(BENCH_BINS) $(BUILD)/selftest $(BUILD)/meta/scpi_sim $(BUILD)/ecu-sim/ecu-sim
	@for b in $(BENCH_BINS); do BUILD=$(BUILD) CC="$(CC)" ./$$b || exit 1; done

# ---- the QEMU VM bench (tests/vm): CAN and serial against real kernel drivers ----
# Skipped (with what to install) when QEMU or the kernel image is missing;
# HIL_REQUIRE_VM=1 makes that a failure (CI). The last line is the sum of the
# guest's and the host checks' closing lines.
test-vm: all
	@BUILD=$(BUILD) CC="$(CC)" tests/vm/test-vm.sh test

bench-vm:
	@BUILD=$(BUILD) CC="$(CC)" tests/vm/test-vm.sh bench

# ---- emulated microcontrollers (docs/qemu.md): examples/mcu in QEMU ------------------
# test-mcu: the firmware cross-built for both boards, then the mcu-tagged
# self-tests (tests/test_mcu.c) run tests/mcu/board_tests against each board
# and check every result. Skipped (with the packages to install) without
# arm-none-eabi-gcc or qemu-system-arm; HIL_REQUIRE_MCU=1 makes that a failure.
MCU_BOARDS = mps2-an385 netduinoplus2
$(BUILD)/mcu/board_tests: tests/mcu/board_tests.c $(HEADERS)
	@mkdir -p $(BUILD)/mcu
	$(CC) $(CFLAGS_ALL) -o $@ $< $(LDLIBS_ALL)

mcu-firmware:
	@if command -v arm-none-eabi-gcc >/dev/null 2>&1; then for b in $(MCU_BOARDS); do for v in default v2; do \
	  $(MAKE) --no-print-directory -s -C examples/mcu BOARD=$$b VARIANT=$$v VERSION=1.0.0 OUT=$(abspath $(BUILD))/mcu \
	    >/dev/null || exit 1; done; done; \
	else echo "mcu-firmware: arm-none-eabi-gcc not found (apt-get install gcc-arm-none-eabi): not built"; fi

test-mcu: $(BUILD)/selftest $(BUILD)/mcu/board_tests mcu-firmware doc-examples
	@$(BUILD)/selftest --set params.build_dir=$(BUILD) --tag mcu $(TEST_ARGS)

# ---- debug probes (hil_probe.h, docs/probes.md) -------------------------------------
# The firmware the probe tests debug in QEMU through its GDB stub (variants 1
# and 2, and "big" with a 256 KiB block for the flashing benchmark), and a
# Linux program for gdbserver. Without arm-none-eabi-gcc only the Linux
# program is built; the tests that need the rest say what to install.
PROBE_FW_CFLAGS = -mcpu=cortex-m3 -mthumb -std=c99 -O2 -g -ffreestanding -nostdlib -fno-tree-loop-distribute-patterns \
  -Wall -Wextra -Werror -Iexamples/mcu -T tests/probe/fw_probe.ld
PROBE_FW_DEPS = tests/probe/fw_probe.c tests/probe/fw_probe.ld examples/mcu/rtt.c examples/mcu/rtt.h

$(BUILD)/probe/fw-probe-1.elf $(BUILD)/probe/fw-probe-2.elf: $(BUILD)/probe/fw-probe-%.elf: $(PROBE_FW_DEPS)
	@mkdir -p $(BUILD)/probe
	arm-none-eabi-gcc $(PROBE_FW_CFLAGS) -DFW_VARIANT=$* -o $@ tests/probe/fw_probe.c examples/mcu/rtt.c

# 256 KiB of fixed pseudo-random bytes in .rodata (random data: no run a codec could shorten)
$(BUILD)/probe/fw-probe-big.elf: $(PROBE_FW_DEPS)
	@mkdir -p $(BUILD)/probe
	@if command -v $(PYTHON) >/dev/null 2>&1; then \
	  $(PYTHON) -c "import random; r = random.Random(1); open('$(BUILD)/probe/blob.bin', 'wb').write(bytes(r.getrandbits(8) for _ in range(262144)))"; \
	else head -c 262144 /dev/urandom > $(BUILD)/probe/blob.bin; fi
	cd $(BUILD)/probe && arm-none-eabi-objcopy -I binary -O elf32-littlearm -B arm \
	  --rename-section .data=.rodata.blob,alloc,load,readonly,data,contents blob.bin blob.o
	arm-none-eabi-gcc $(PROBE_FW_CFLAGS) -DFW_VARIANT=3 -o $@ tests/probe/fw_probe.c examples/mcu/rtt.c $(BUILD)/probe/blob.o

$(BUILD)/probe/linux_target: tests/probe/linux_target.c examples/mcu/rtt.c examples/mcu/rtt.h
	@mkdir -p $(BUILD)/probe
	$(CC) -std=c99 -D_DEFAULT_SOURCE -O1 -g -no-pie -fno-pie -Wall -Wextra -Werror -Iexamples/mcu -o $@ tests/probe/linux_target.c examples/mcu/rtt.c

probe-firmware: $(BUILD)/probe/linux_target
	@if command -v arm-none-eabi-gcc >/dev/null 2>&1; then \
	  $(MAKE) --no-print-directory $(BUILD)/probe/fw-probe-1.elf $(BUILD)/probe/fw-probe-2.elf $(BUILD)/probe/fw-probe-big.elf; \
	else echo "probe-firmware: arm-none-eabi-gcc not found (apt-get install gcc-arm-none-eabi): not built"; fi

# The probe tests against QEMU's stub and gdbserver are tagged mcu.
test-mcu: probe-firmware

# BENCH gdb_flash_kib_s, gdb_flash_gdb_kib_s, gdb_mem_read_p50 (one run).
$(BUILD)/bench/bench_probe: bench/probe/bench_probe.c $(HEADERS) | $(BUILD)/bench
	$(CC) $(CFLAGS_ALL) -O2 -o $@ $< $(LDLIBS_ALL)

bench-probe: $(BUILD)/bench/bench_probe probe-firmware
	@BUILD=$(BUILD) $(BUILD)/bench/bench_probe

bench-mcu: bench-probe

# bench-mcu (informative, like bench-vm): boot to first PING and one DUT step
# on an emulated board, the same step against sim-firmware, and the ratio.
$(BUILD)/bench/mcu_bench: bench/mcu_bench.c $(HEADERS) | $(BUILD)/bench
	$(CC) $(CFLAGS_ALL) -O2 -o $@ $< $(LDLIBS_ALL)

bench-mcu: $(BUILD)/bench/mcu_bench $(BUILD)/demo/sim-firmware mcu-firmware
	@$(BUILD)/bench/mcu_bench $(BUILD)

# demo-mcu: the scheduler on a lab of four emulated boards of two machine
# types (examples/mcu-lab/lab.conf): the lab's builds cross-compile four
# firmware variants; each run's emulator starts empty and halted, and a
# probe auxiliary flashes the run's build through QEMU's GDB stub (hil_probe.h).
# Report: $(BUILD)/mcu-lab/runs/latest/report.html.
$(BUILD)/mcu-lab/mcu_lab_tests: examples/mcu-lab/mcu_lab_tests.c $(HEADERS)
	@mkdir -p $(BUILD)/mcu-lab
	$(CC) $(CFLAGS_ALL) -o $@ $< $(LDLIBS_ALL)

demo-mcu: $(BUILD)/mcu-lab/mcu_lab_tests
	@for t in arm-none-eabi-gcc qemu-system-arm; do command -v $$t >/dev/null 2>&1 || { \
	  echo "demo-mcu: $$t not found (apt-get install gcc-arm-none-eabi qemu-system-arm)"; exit 1; }; done
	@echo "== a lab of emulated boards: 4 QEMU boards of 2 machine types, 4 firmware builds, 6 runs scheduled =="
	@HIL_MCU_LAB=$(abspath $(BUILD))/mcu-lab $(BUILD)/mcu-lab/mcu_lab_tests schedule -c examples/mcu-lab/lab.conf \
	  --runs $(BUILD)/mcu-lab/runs $(DEMO_ARGS)
	@echo
	@echo "open the report:   $(BUILD)/mcu-lab/runs/latest/report.html"

# ---- sanitizers -----------------------------------------------------------------
sanitize:
	$(MAKE) --no-print-directory BUILD=build/asan OPT="-O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined" \
	  EXTRA_LDLIBS="-fsanitize=address,undefined" build/asan/selftest doc-examples probe-firmware build/asan/demo/board_tests build/asan/demo/sim-firmware build/asan/ecu-sim/ecu-sim $(patsubst $(BUILD)/%,build/asan/%,$(META_BINS)) \
	  $(patsubst $(BUILD)/%,build/asan/%,$(HARVEST_BINS))
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
	  build/asan/selftest --set params.build_dir=build/asan --exclude-tag slow --exclude-tag build --exclude-tag vm --exclude-tag mcu --exclude-tag hardware $(TEST_ARGS)

tsan:
	$(MAKE) --no-print-directory BUILD=build/tsan OPT="-O1 -fsanitize=thread" EXTRA_LDLIBS="-fsanitize=thread" \
	  build/tsan/selftest doc-examples probe-firmware build/tsan/demo/board_tests build/tsan/demo/sim-firmware build/tsan/ecu-sim/ecu-sim $(patsubst $(BUILD)/%,build/tsan/%,$(META_BINS)) \
	  $(patsubst $(BUILD)/%,build/tsan/%,$(HARVEST_BINS))
	TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" \
	  build/tsan/selftest --set params.build_dir=build/tsan --exclude-tag slow --exclude-tag build --exclude-tag vm --exclude-tag mcu --exclude-tag hardware --exclude-tag no-tsan $(TEST_ARGS)

# ---- every compiler and language mode, warnings as errors --------------------------
compile-matrix: | $(BUILD)
	@set -e; for cc in gcc clang; do for std in c99 c11; do \
	  echo "compile-matrix: $$cc -std=$$std"; \
	  $$cc -std=$$std $(WARN) $(HIL_DEFS) -I. -c -o $(BUILD)/matrix.o $(MATRIX_SRC); \
	  $$cc -std=$$std $(WARN) $(HIL_DEFS) -I. -DHIL_STATIC -c -o $(BUILD)/matrix.o $(MATRIX_SRC); \
	done; done; \
	for cxx in g++ clang++; do \
	  echo "compile-matrix: $$cxx -std=c++17"; \
	  $$cxx -std=c++17 $(WARN) $(HIL_DEFS) -I. -x c++ -c -o $(BUILD)/matrix.o $(MATRIX_SRC); \
	done; \
	for sw in $(NO_SWITCHES); do defs=$$(echo $$sw | tr , ' '); \
	  echo "compile-matrix: $$defs (gcc, clang -std=c99; g++, clang++ -std=c++17; a test build, run)"; \
	  for cc in gcc clang; do $$cc -std=c99 $(WARN) $(HIL_DEFS) $$defs -I. -c -o $(BUILD)/matrix.o $(MATRIX_SRC); done; \
	  for cxx in g++ clang++; do $$cxx -std=c++17 $(WARN) $(HIL_DEFS) $$defs -I. -x c++ -c -o $(BUILD)/matrix.o $(MATRIX_SRC); done; \
	  $(CC) -std=c99 $(WARN) $(HIL_DEFS) $$defs -I. -o $(BUILD)/matrix-no $(MATRIX_SRC) $(LDLIBS_ALL); \
	  $(BUILD)/matrix-no -q > $(BUILD)/matrix-no.out 2>&1 || { cat $(BUILD)/matrix-no.out; exit 1; }; \
	  case $$sw in *HIL_NO_SCHEDULER*) if nm $(BUILD)/matrix-no | grep -q ' hil_sched_create$$'; then \
	    echo "compile-matrix: HIL_NO_SCHEDULER left the scheduler in"; exit 1; fi;; esac; \
	  case $$sw in *HIL_NO_CAN*) if nm $(BUILD)/matrix-no | grep -q -e ' hil_socketcan_channel_type$$' -e ' hil_isotp_channel_type$$'; then \
	    echo "compile-matrix: HIL_NO_CAN left the CAN section in"; exit 1; fi;; esac; \
	  case $$sw in *HIL_NO_QEMU*) if nm $(BUILD)/matrix-no | grep -q ' hil_qemu_qmp$$'; then \
	    echo "compile-matrix: HIL_NO_QEMU left the qemu section in"; exit 1; fi;; esac; \
	done; \
	mkdir -p $(BUILD)/split; \
	for c in "gcc -std=c99" "clang -std=c99" "g++ -std=c++17 -x c++" "clang++ -std=c++17 -x c++"; do \
	  echo "compile-matrix: the implementation split over one file per module (tests/compile/split), $$c, linked and run"; \
	  rm -f $(BUILD)/split/*.o; \
	  for f in $(SPLIT_SRCS); do $$c $(WARN) $(HIL_DEFS) -I. -c -o $(BUILD)/split/$$(basename $$f .c).o $$f; done; \
	  $${c%% *} -o $(BUILD)/split/matrix-split $(BUILD)/split/*.o $(LDLIBS_ALL); \
	  $(BUILD)/split/matrix-split -q > $(BUILD)/split/out 2>&1 || { cat $(BUILD)/split/out; exit 1; }; \
	done; \
	printf '#include "hil.h"\n#define HIL_IMPLEMENTATION_AUX\n#include "hil_aux.h"\n' | \
	  $(CC) -std=c99 -I. -x c -c -o /dev/null - 2>&1 | grep -q 'define HIL_IMPLEMENTATION_<MODULE> before the first hil header' || \
	  { echo "compile-matrix: a module switch defined after hil.h is not reported"; exit 1; }; \
	echo "compile-matrix: clean"

# ---- fuzzing (docs/fuzzing.md) --------------------------------------------------------
# One libFuzzer harness per fuzz/fuzz_<name>.c, seeds in fuzz/corpus/<name>/.
# clang 14 with libFuzzer (Debian: clang-14 and libclang-rt-14-dev).
# `make fuzz` builds them; `make fuzz FUZZ_SECONDS=N` also runs each for N
# seconds (new corpus entries go to $(BUILD)/fuzz/scratch, never into the
# repository); `make fuzz-regress` runs each once over its committed corpus.
# A crash, leak, timeout or out-of-memory fails either, naming the harness
# and the reproducer file.
FUZZ_CC ?= $(shell command -v clang-14 2>/dev/null || echo clang)
FUZZ_SRCS = $(sort $(wildcard fuzz/fuzz_*.c))
FUZZ_BINS = $(patsubst fuzz/%.c,$(BUILD)/fuzz/%,$(FUZZ_SRCS))
FUZZ_CFLAGS = -std=c99 -D_GNU_SOURCE $(WARN) -g -O1 -fno-omit-frame-pointer \
  -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -I. -Ifuzz $(HIL_DEFS)

$(BUILD)/fuzz/fuzz_%: fuzz/fuzz_%.c fuzz/fuzz_common.h $(HEADERS) | $(BUILD)/fuzz/toolchain-ok
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $< $(LDLIBS_ALL)

# Said once, before a harness fails to link for a reason nobody can read.
$(BUILD)/fuzz/toolchain-ok:
	@mkdir -p $(BUILD)/fuzz
	@echo 'int LLVMFuzzerTestOneInput(const unsigned char* d, unsigned long n) { (void)d; (void)n; return 0; }' | \
	  $(FUZZ_CC) -fsanitize=fuzzer,address,undefined -x c - -o $(BUILD)/fuzz/toolchain-probe 2>$(BUILD)/fuzz/toolchain.log || \
	  { echo "make fuzz: '$(FUZZ_CC)' cannot build a libFuzzer program (see $(BUILD)/fuzz/toolchain.log);"; \
	    echo "make fuzz: install clang 14 and its runtime: apt-get install clang-14 libclang-rt-14-dev"; exit 1; }
	@touch $@

fuzz: $(FUZZ_BINS)
	@if [ -n "$(FUZZ_SECONDS)" ]; then BUILD=$(BUILD) fuzz/run.sh run "$(FUZZ_SECONDS)" $(FUZZ_NAMES); fi

fuzz-regress: $(FUZZ_BINS)
	@BUILD=$(BUILD) fuzz/run.sh regress $(FUZZ_NAMES)

clean:
	rm -rf build

# ---- install -------------------------------------------------------------------
# make install [PREFIX=/usr/local] [DESTDIR=/staging]: the headers (every
# hil*.h of the tree, so new module headers need no edit here) and
# hil_single.h in $(INCLUDEDIR)/hil, hil.pc for pkg-config, the CMake
# package (find_package(hil)), hil-init, the docs and the licence. The
# package files come from the templates in pkg/, which the CMake install
# uses too; the version comes from hil.h alone. hil.pc lists the optional
# libraries this build found (pkg-config above); HIL_WITH_LIBYAML=OFF (or
# ..._LIBSERIALPORT, ..._LIBSOCKETCAN) leaves one out, as in CMake.
# make uninstall [PREFIX=...] [DESTDIR=...] removes what install wrote.
PREFIX ?= /usr/local
INCLUDEDIR ?= $(PREFIX)/include
DATADIR ?= $(PREFIX)/share
BINDIR ?= $(PREFIX)/bin
DOCDIR ?= $(DATADIR)/doc/hil
PKGCONFIGDIR ?= $(DATADIR)/pkgconfig
CMAKEDIR ?= $(DATADIR)/cmake/hil
INSTALL ?= install
HIL_VERSION := $(shell sed -n 's/^\#define HIL_VERSION_\(MAJOR\|MINOR\|PATCH\) \([0-9]*\)$$/\2/p' hil.h | paste -sd.)
HIL_VERSION_MAJOR := $(firstword $(subst ., ,$(HIL_VERSION)))
INSTALL_HEADERS = $(sort $(wildcard hil*.h))
INSTALL_DOCS = README.md CHANGELOG.md LICENSE
INSTALL_DOC_PAGES = $(sort $(wildcard docs/*))
hil__off = $(filter OFF off 0 no NO false FALSE,$(1))
hil__opt = $(if $(and $(filter -D$(1),$(HIL_DEFS)),$(if $(call hil__off,$(HIL_WITH_$(2))),,yes)),$(3))
HIL_PC_REQUIRES = $(strip $(call hil__opt,HIL_HAVE_LIBYAML,LIBYAML,yaml-0.1) \
  $(call hil__opt,HIL_HAVE_LIBSERIALPORT,LIBSERIALPORT,libserialport) \
  $(call hil__opt,HIL_HAVE_LIBSOCKETCAN,LIBSOCKETCAN,libsocketcan))
hil__empty :=
hil__pc_defs = $(strip $(foreach d,LIBYAML LIBSERIALPORT LIBSOCKETCAN,$(call hil__opt,HIL_HAVE_$(d),$(d),-DHIL_HAVE_$(d))))
HIL_PC_DEFINES = $(if $(hil__pc_defs),$(hil__empty) $(hil__pc_defs))
hil__installed = $(if $(call hil__opt,HIL_HAVE_$(1),$(1),yes),ON,OFF)

.PHONY: install uninstall test-install
$(BUILD)/pkg/stamp: pkg/hil.pc.in pkg/hilConfig.cmake.in pkg/hilConfigVersion.cmake.in hil.h FORCE
	@mkdir -p $(BUILD)/pkg
	@[ -n "$(HIL_VERSION)" ] || { echo "install: no HIL_VERSION_MAJOR/MINOR/PATCH found in hil.h"; exit 1; }
	@sed -e 's|@HIL_PC_PREFIX@|$(PREFIX)|' -e 's|@HIL_PC_INCLUDEDIR@|$(patsubst $(PREFIX)/%,$${prefix}/%,$(INCLUDEDIR))|' \
	  -e 's|@HIL_VERSION@|$(HIL_VERSION)|' -e 's|@HIL_PC_REQUIRES@|$(HIL_PC_REQUIRES)|' \
	  -e 's|@HIL_PC_DEFINES@|$(HIL_PC_DEFINES)|' pkg/hil.pc.in > $(BUILD)/pkg/hil.pc
	@sed -e 's|@HIL_VERSION@|$(HIL_VERSION)|' -e 's|@HIL_VERSION_MAJOR@|$(HIL_VERSION_MAJOR)|' \
	  pkg/hilConfigVersion.cmake.in > $(BUILD)/pkg/hilConfigVersion.cmake
	@sed -e 's|@HIL_VERSION@|$(HIL_VERSION)|' \
	  -e "s|@HIL_CMAKE_TO_INCLUDE@|$$(realpath -m --relative-to=$(CMAKEDIR) $(INCLUDEDIR)/hil)|" \
	  -e 's|@HIL_INSTALLED_LIBYAML@|$(call hil__installed,LIBYAML)|' \
	  -e 's|@HIL_INSTALLED_LIBSERIALPORT@|$(call hil__installed,LIBSERIALPORT)|' \
	  -e 's|@HIL_INSTALLED_LIBSOCKETCAN@|$(call hil__installed,LIBSOCKETCAN)|' \
	  pkg/hilConfig.cmake.in > $(BUILD)/pkg/hilConfig.cmake
	@touch $@

FORCE:

install: $(BUILD)/pkg/stamp $(BUILD)/single/hil_single.h
	$(INSTALL) -d $(DESTDIR)$(INCLUDEDIR)/hil $(DESTDIR)$(PKGCONFIGDIR) $(DESTDIR)$(CMAKEDIR) \
	  $(DESTDIR)$(BINDIR) $(DESTDIR)$(DOCDIR)/docs
	$(INSTALL) -m 644 $(INSTALL_HEADERS) $(DESTDIR)$(INCLUDEDIR)/hil/
	@if [ -f $(BUILD)/single/hil_single.h ]; then \
	  echo "$(INSTALL) -m 644 $(BUILD)/single/hil_single.h $(DESTDIR)$(INCLUDEDIR)/hil/"; \
	  $(INSTALL) -m 644 $(BUILD)/single/hil_single.h $(DESTDIR)$(INCLUDEDIR)/hil/; \
	else echo "install: hil_single.h not installed ($(PYTHON) is needed to make it)"; fi
	$(INSTALL) -m 644 $(BUILD)/pkg/hil.pc $(DESTDIR)$(PKGCONFIGDIR)/
	$(INSTALL) -m 644 $(BUILD)/pkg/hilConfig.cmake $(BUILD)/pkg/hilConfigVersion.cmake $(DESTDIR)$(CMAKEDIR)/
	$(INSTALL) -m 755 hil-init $(DESTDIR)$(BINDIR)/
	$(INSTALL) -m 644 $(INSTALL_DOCS) $(DESTDIR)$(DOCDIR)/
	$(INSTALL) -m 644 $(INSTALL_DOC_PAGES) $(DESTDIR)$(DOCDIR)/docs/
	@echo "installed hil $(HIL_VERSION) in $(DESTDIR)$(PREFIX)$(if $(HIL_PC_REQUIRES), with $(HIL_PC_REQUIRES), without optional libraries)"

uninstall:
	rm -f $(addprefix $(DESTDIR)$(INCLUDEDIR)/hil/,$(notdir $(INSTALL_HEADERS)) hil_single.h) \
	  $(DESTDIR)$(PKGCONFIGDIR)/hil.pc $(DESTDIR)$(CMAKEDIR)/hilConfig.cmake $(DESTDIR)$(CMAKEDIR)/hilConfigVersion.cmake \
	  $(DESTDIR)$(BINDIR)/hil-init $(addprefix $(DESTDIR)$(DOCDIR)/,$(INSTALL_DOCS)) \
	  $(addprefix $(DESTDIR)$(DOCDIR)/docs/,$(notdir $(INSTALL_DOC_PAGES)))
	@for d in $(DESTDIR)$(INCLUDEDIR)/hil $(DESTDIR)$(CMAKEDIR) $(DESTDIR)$(DOCDIR)/docs $(DESTDIR)$(DOCDIR); do \
	  [ ! -d "$$d" ] || rmdir "$$d" 2>/dev/null || echo "uninstall: $$d is not empty (files not installed by hil): left in place"; done

# The installed package, as a consumer sees it: make install and cmake
# --install into temporary prefixes, then a consumer built with pkg-config,
# find_package(hil 0.1 CONFIG REQUIRED) through hil_DIR and through
# CMAKE_PREFIX_PATH; each must run and report the optional libraries the
# install had. Also DESTDIR staging, uninstall, and version mismatches.
test-install:
	@BUILD=$(BUILD) CC="$(CC)" MAKE="$(MAKE)" tests/install/test-install.sh
