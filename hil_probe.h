/* hil_probe.h - debug probes for hil: the GDB remote serial protocol,
 * ELF images, flashing, firmware memory and symbols, breakpoints, SEGGER RTT.
 *
 * Every common debug probe serves the GDB Remote Serial Protocol (RSP):
 * OpenOCD, the SEGGER J-Link GDB Server, pyOCD, probe-rs, a Black Magic
 * Probe (on a USB serial port), QEMU's GDB stub and gdbserver. hil speaks
 * RSP itself, so one probe type reaches all of them, and a test can look
 * inside the firmware: read a counter, stop where a function is reached,
 * flash the image it tests, talk to the firmware over RTT.
 *
 * CONTENTS
 *   1. ELF images            hil_elf_*: segments, entry, symbols (32/64-bit LE)
 *   2. Load images           hil_image_*: ELF, Intel HEX or raw .bin at an address
 *   3. RSP client            hil_rsp_*: packets, acks, no-ack mode, escapes, RLE,
 *                            stop replies, memory maps; TCP and serial transports
 *   4. Probes                hil_probe_*: halt, resume, reset, memory, registers,
 *                            breakpoints, symbols, monitor commands, flashing
 *   5. RTT                   hil_rtt_*: the SEGGER RTT control block; the "rtt" channel
 *   6. The "gdb" flasher     flashers.<name>.type = gdb
 *   7. The "probe" auxiliary auxiliaries.<name>.type = probe: requires= can name it
 *
 * ==========================================================================
 * EXAMPLE
 * ==========================================================================
 *
 *     # lab.conf
 *     probes.board.address = 127.0.0.1:3333       (or port = /dev/ttyACM0: a Black Magic Probe)
 *     probes.board.flavor = openocd
 *     probes.board.elf = build/fw.elf
 *     connectors.log.type = rtt                   (the firmware's RTT up-buffer 0 as a channel)
 *     connectors.log.probe = board
 *     flashers.board.type = gdb
 *     flashers.board.probe = board
 *
 *     HIL_TEST(fw, counts_errors) {
 *         hil_probe* p;
 *         uint32_t errors = 0;
 *         HIL_ASSERT_OK(hil_probe_get("board", &p));        (shared with the rtt channel)
 *         HIL_ASSERT_OK(hil_probe_flash(p, "build/fw.elf", NULL));
 *         HIL_ASSERT_OK(hil_probe_run_to(p, "app_main_loop", 5000));
 *         HIL_ASSERT_OK(hil_probe_read_symbol(p, "g_error_count", &errors, sizeof errors));
 *         HIL_EXPECT_EQ(errors, 0);
 *         HIL_ASSERT_OK(hil_probe_resume(p));
 *         hil_probe_release(p);
 *     }
 *
 * Without a configuration file:
 *
 *     hil_probe_config c;
 *     hil_probe* p;
 *     hil_probe_config_init(&c);
 *     c.name = "qemu";
 *     c.address = "127.0.0.1:1234";
 *     c.flavor = "qemu";
 *     c.elf = "fw.elf";
 *     HIL_ASSERT_OK(hil_probe_create(&c, &p));
 *     ...
 *     hil_probe_destroy(p);
 *
 * ==========================================================================
 * OPTIONS (probes.<name>.<key>)
 * ==========================================================================
 *
 *   type        gdb (the only type: every probe serves RSP)
 *   address     host:port of the GDB server (OpenOCD 3333, J-Link 2331, QEMU -gdb tcp::PORT),
 *               or qemu:<connector>: the GDB stub of that open qemu channel (its gdb option)
 *   port        a serial device instead (a Black Magic Probe: /dev/ttyACM0)
 *   baudrate    of that serial device (default 115200; USB CDC ignores it)
 *   flavor      generic | openocd | jlink | pyocd | probe-rs | qemu | bmp | gdbserver:
 *               only the monitor commands for halt and reset differ
 *   elf         the firmware's ELF: symbols for read_symbol and break_symbol
 *   arch        arm | aarch64 | x86_64 | i386 | riscv32 | riscv64 (default: from the ELF, else arm);
 *               gives the PC register and the breakpoint kind
 *   timeout_ms  how long one request may take (default 3000)
 *   connect_timeout_ms  connecting and the first reply (default 3000)
 *   reset_command, reset_halt_command, halt_command: monitor commands that
 *               replace the flavor's (text after "monitor")
 *   on_close    detach | kill | none (default detach: the target keeps running)
 *   bmp_scan    swdp_scan | jtag_scan: a Black Magic Probe scans with it and
 *               attaches to target 1 when the probe is created
 *
 * ==========================================================================
 * ERRORS AND WAITING
 * ==========================================================================
 *
 * Every request has a deadline. A server that does not answer, answers
 * garbage or closes the connection ends the connection: the call and every
 * later one on that probe fail with a message naming the server and what
 * to do (HIL_ERR_TIMEOUT, HIL_ERR_PROTOCOL, HIL_ERR_CLOSED). An error reply
 * of the server ("E14": an address out of range) is HIL_ERR_IO naming the
 * request and the address, and the connection stays usable. Memory and
 * register access need a halted target: on a running one they are
 * HIL_ERR_STATE ("call hil_probe_halt() first"), except the RTT calls,
 * which halt the target for the read and resume it.
 *
 * THREADS: a probe may be used from several threads (an rtt channel's
 * reader and a test); each request holds the probe's lock. A thread in
 * hil_probe_wait_halt() holds it until the target stops, so RTT reading
 * pauses meanwhile (the bytes stay in the target's buffer).
 *
 * Parsers of what a server or a file sends are bounded (packet size,
 * symbols, regions) and fuzzed (fuzz/fuzz_rsp.c, fuzz_elf.c, fuzz_rtt.c).
 *
 * Needs hil.h and hil_connectors.h first. The implementation is compiled
 * where HIL_IMPLEMENTATION is defined (or HIL_IMPLEMENTATION_PROBE, in a
 * file of its own: hil.h, section 10). POSIX (sockets, termios). Docs:
 * docs/probes.md.
 */
#ifndef HIL_PROBE_H_INCLUDED
#define HIL_PROBE_H_INCLUDED

#include "hil.h"
#include "hil_connectors.h"
#include "hil_aux.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ==========================================================================
 * 1. ELF images
 * ========================================================================== */

#define HIL_ELF_MAX_SYMBOLS 200000u   /* a bound on what a file can make us allocate */
#define HIL_ELF_MAX_SEGMENTS 256u

typedef struct hil_elf_segment {
    uint64_t paddr;      /* where it is loaded (the LMA: flash for .data's initial values) */
    uint64_t vaddr;      /* where it runs */
    uint64_t filesz;     /* bytes in the file (loaded) */
    uint64_t memsz;      /* bytes in memory (the rest is zeroed by the startup code) */
    uint64_t offset;     /* in the file */
    uint32_t flags;      /* PF_X 1, PF_W 2, PF_R 4 */
} hil_elf_segment;

typedef struct hil_elf_symbol {
    const char* name;
    uint64_t value;      /* address (ARM Thumb functions have bit 0 set, as in the file) */
    uint64_t size;
    int type;            /* STT_OBJECT 1, STT_FUNC 2, ... */
} hil_elf_symbol;

typedef struct hil_elf {
    char* path;                /* the file, for messages */
    unsigned char* data;       /* the whole file */
    size_t size;
    int is64;                  /* ELFCLASS64 */
    int machine;               /* e_machine: 40 ARM, 62 x86-64, 183 AArch64, 243 RISC-V, 3 i386 */
    uint64_t entry;
    hil_elf_segment* segments; /* PT_LOAD only, in file order */
    size_t n_segments;
    hil_elf_symbol* symbols;   /* named symbols of .symtab (else .dynsym) */
    size_t n_symbols;
} hil_elf;

/* Read an ELF file. HIL_ERR_IO (cannot read), HIL_ERR_PROTOCOL (not an
 * ELF, big-endian, truncated or inconsistent: the message says what). */
HIL_API hil_result hil_elf_load(const char* path, hil_elf** out);
/* The same from memory (copied); name is used in messages. */
HIL_API hil_result hil_elf_parse(const void* data, size_t size, const char* name, hil_elf** out);
HIL_API void hil_elf_free(hil_elf* e);
/* A symbol by name, or NULL. */
HIL_API const hil_elf_symbol* hil_elf_symbol_find(const hil_elf* e, const char* name);
/* "ARM", "x86-64", ... */
HIL_API const char* hil_elf_machine_str(int machine);

/* ==========================================================================
 * 2. Load images: what goes where
 * ========================================================================== */

typedef struct hil_image_block {
    uint64_t addr;
    unsigned char* data;
    size_t len;
} hil_image_block;

typedef struct hil_image {
    hil_image_block* blocks;   /* sorted by address, not overlapping */
    size_t n_blocks;
    uint64_t entry;
    int has_entry;             /* ELF and Intel HEX (record 05) give one */
    size_t total;              /* bytes in all blocks */
} hil_image;

/* ELF (by its magic), Intel HEX (.hex, .ihex), or raw binary (anything
 * else) placed at bin_address. ELF: the PT_LOAD segments' file bytes at
 * their physical (load) addresses, as `gdb load` does. */
HIL_API hil_result hil_image_load(const char* path, uint64_t bin_address, hil_image* out);
HIL_API hil_result hil_image_from_elf(const hil_elf* e, hil_image* out);
HIL_API hil_result hil_ihex_parse(const char* text, size_t len, const char* name, hil_image* out);
HIL_API void hil_image_free(hil_image* img);

/* ==========================================================================
 * 3. The RSP client
 * ========================================================================== */

#define HIL_RSP_MAX_PACKET_DEFAULT (256u * 1024u)

typedef struct hil_rsp hil_rsp;

typedef struct hil_rsp_config {
    const char* name;            /* for messages ("probe 'board'") */
    const char* address;         /* "host:port", "[::1]:port" */
    const char* port;            /* or a serial device */
    int baudrate;                /* serial: default 115200 */
    int timeout_ms;              /* one request (default 3000) */
    int connect_timeout_ms;      /* connect and the first reply (default 3000) */
    size_t max_packet;           /* the longest packet accepted from the server */
    int no_ack;                  /* 1 (default): use QStartNoAckMode when offered */
} hil_rsp_config;

HIL_API void hil_rsp_config_init(hil_rsp_config* c);
/* Connect, exchange qSupported (PacketSize, features), enter no-ack mode
 * when the server offers it. */
HIL_API hil_result hil_rsp_connect(const hil_rsp_config* c, hil_rsp** out);
/* Close and free (NULL is fine). Sends nothing: see hil_probe_destroy. */
HIL_API void hil_rsp_close(hil_rsp* r);
/* One request and its reply (console output packets 'O' of qRcmd are
 * collected in hil_rsp_console()). `cmd` may hold binary data (X): it is
 * escaped. The reply is RLE-expanded, not unescaped. An empty reply means
 * "not supported". timeout_ms -1: the configured one. */
HIL_API hil_result hil_rsp_request(hil_rsp* r, const void* cmd, size_t len, hil_strbuf* reply, int timeout_ms);
/* Send a packet without waiting for a reply (c, s, vCont: the reply is a stop). */
HIL_API hil_result hil_rsp_send(hil_rsp* r, const void* cmd, size_t len);
/* The next packet from the server. HIL_ERR_TIMEOUT keeps the connection. */
HIL_API hil_result hil_rsp_recv(hil_rsp* r, hil_strbuf* packet, int timeout_ms);
/* Ctrl-C: ask a running target to stop (the stop reply follows). */
HIL_API hil_result hil_rsp_interrupt(hil_rsp* r);
HIL_API size_t hil_rsp_packet_size(const hil_rsp* r);     /* the server's PacketSize */
HIL_API int hil_rsp_is_no_ack(const hil_rsp* r);
/* Whether qSupported listed the feature with '+' ("qXfer:memory-map:read"). */
HIL_API int hil_rsp_supports(const hil_rsp* r, const char* feature);
HIL_API int hil_rsp_is_open(const hil_rsp* r);
/* Console output collected since the last call (qRcmd), then cleared. */
HIL_API char* hil_rsp_take_console(hil_rsp* r);
/* Where the server is ("127.0.0.1:3333", "/dev/ttyACM0"). */
HIL_API const char* hil_rsp_where(const hil_rsp* r);

/* ---- the codec: pure functions (tests and fuzzers use them) ---- */

/* Append "$<payload escaped>#<checksum>". Escaped: '#', '$', '}', '*'. */
HIL_API void hil_rsp_encode(const void* payload, size_t len, hil_strbuf* out);
/* Decode one packet at the start of buf (buf[0] must be '$' or '%').
 * HIL_OK: the payload (RLE expanded) in out, *used the bytes consumed.
 * HIL_ERR_AGAIN: incomplete. HIL_ERR_CHECKSUM / HIL_ERR_PROTOCOL /
 * HIL_ERR_OVERFLOW (longer than max): *used says what to skip. */
HIL_API hil_result hil_rsp_decode(const void* buf, size_t len, size_t max, hil_strbuf* out, size_t* used);
/* Undo the binary escaping ('}' x -> x ^ 0x20) in place; returns the new length. */
HIL_API size_t hil_rsp_unescape(char* data, size_t len);
/* The CRC of qCRC (CRC-32, polynomial 0x04C11DB7, not reflected, initial
 * value crc, no final xor; start with 0xFFFFFFFF). */
HIL_API uint32_t hil_rsp_crc32(uint32_t crc, const void* data, size_t len);
/* Hex text to bytes: returns the bytes written (stops at a non-hex pair). */
HIL_API size_t hil_rsp_unhex(const char* hex, size_t hexlen, void* out, size_t cap);
HIL_API void hil_rsp_hex(const void* data, size_t len, hil_strbuf* out);

#define HIL_RSP_MAX_STOP_REGS 32

/* A stop reply: T (signal and details), S (signal), W (exited), X (killed). */
typedef struct hil_rsp_stop {
    char kind;                /* 'T', 'S', 'W', 'X' */
    int signal;               /* T/S/X: the signal (2 SIGINT: interrupted, 5 SIGTRAP: breakpoint or step) */
    int exit_status;          /* W */
    char reason[16];          /* T: "swbreak", "hwbreak", "watch", "rwatch", "awatch", "" */
    uint64_t watch_addr;      /* watch reasons */
    long long thread;         /* T: thread id, or 0 */
    int n_regs;               /* T: registers the server included */
    struct { int num; uint64_t value; } regs[HIL_RSP_MAX_STOP_REGS];
} hil_rsp_stop;

/* HIL_ERR_PROTOCOL when it is not a stop reply. */
HIL_API hil_result hil_rsp_parse_stop(const char* pkt, size_t len, hil_rsp_stop* out);

#define HIL_RSP_MAX_REGIONS 64

typedef struct hil_mem_region {
    int type;                 /* 0 ram, 1 rom, 2 flash */
    uint64_t start, length;
    uint64_t blocksize;       /* flash: erase block size */
} hil_mem_region;

/* The XML of qXfer:memory-map:read. HIL_ERR_PROTOCOL on bad XML; at most
 * max regions (more: HIL_ERR_OVERFLOW). */
HIL_API hil_result hil_rsp_parse_memory_map(const char* xml, size_t len, hil_mem_region* out, size_t max,
                                            size_t* n);

/* ==========================================================================
 * 4. Probes
 * ========================================================================== */

typedef enum hil_probe_flavor {
    HIL_PROBE_GENERIC = 0,
    HIL_PROBE_OPENOCD,
    HIL_PROBE_JLINK,
    HIL_PROBE_PYOCD,
    HIL_PROBE_PROBE_RS,
    HIL_PROBE_QEMU,
    HIL_PROBE_BMP,
    HIL_PROBE_GDBSERVER
} hil_probe_flavor;

#define HIL_PROBE_FLAVORS "generic|openocd|jlink|pyocd|probe-rs|qemu|bmp|gdbserver"

typedef struct hil_probe hil_probe;

typedef struct hil_probe_config {
    const char* name;          /* for messages and the registry ("board") */
    hil_config* config;        /* NULL: options are only the fields below */
    const char* address;       /* the fields win over probes.<name>.* of config */
    const char* port;
    int baudrate;
    const char* flavor;
    const char* elf;
    const char* arch;
    int timeout_ms;            /* 0: the option or 3000 */
    int connect_timeout_ms;
} hil_probe_config;

HIL_API void hil_probe_config_init(hil_probe_config* c);
/* Connect and learn the target's state (halted or running). */
HIL_API hil_result hil_probe_create(const hil_probe_config* c, hil_probe** out);
/* hil_probe_create from probes.<name>.* of the program's configuration. */
HIL_API hil_result hil_probe_from_config(const char* name, hil_probe** out);
/* Detach (on_close) and close. */
HIL_API void hil_probe_destroy(hil_probe* p);

/* The registry: one connection per probe name, shared (a GDB server takes
 * one client). get() creates it from the configuration the first time;
 * release() drops the reference and destroys it after the last one. */
HIL_API hil_result hil_probe_get(const char* name, hil_probe** out);
/* Put a probe made with hil_probe_create into the registry under its name
 * (the registry holds one reference; hil_probe_release drops it). */
HIL_API hil_result hil_probe_register(hil_probe* p);
HIL_API void hil_probe_release(hil_probe* p);

HIL_API const char* hil_probe_name(const hil_probe* p);
HIL_API hil_rsp* hil_probe_rsp(hil_probe* p);
HIL_API hil_probe_flavor hil_probe_get_flavor(const hil_probe* p);
HIL_API const char* hil_probe_flavor_str(hil_probe_flavor f);

/* Execution. */
HIL_API int hil_probe_is_running(hil_probe* p);
/* Stop the target (Ctrl-C, or the flavor's halt command); OK if halted. */
HIL_API hil_result hil_probe_halt(hil_probe* p, int timeout_ms);
/* Continue; returns at once. */
HIL_API hil_result hil_probe_resume(hil_probe* p);
/* One instruction; waits for the stop. */
HIL_API hil_result hil_probe_step(hil_probe* p, int timeout_ms);
/* Wait until the running target stops (a breakpoint, a fault). stop may
 * be NULL. HIL_ERR_TIMEOUT: still running (the connection stays). */
HIL_API hil_result hil_probe_wait_halt(hil_probe* p, int timeout_ms, hil_rsp_stop* stop);
/* The last stop reply seen. */
HIL_API void hil_probe_last_stop(hil_probe* p, hil_rsp_stop* out);
/* Reset the target; halt = 1 leaves it halted at the reset vector. */
HIL_API hil_result hil_probe_reset(hil_probe* p, int halt, int timeout_ms);
/* A monitor command (qRcmd); its output (may be NULL) decoded. */
HIL_API hil_result hil_probe_monitor(hil_probe* p, const char* cmd, hil_strbuf* output, int timeout_ms);

/* Memory and registers (target halted). */
HIL_API hil_result hil_probe_read_mem(hil_probe* p, uint64_t addr, void* out, size_t len);
HIL_API hil_result hil_probe_write_mem(hil_probe* p, uint64_t addr, const void* data, size_t len);
HIL_API hil_result hil_probe_read_u32(hil_probe* p, uint64_t addr, uint32_t* out);
HIL_API hil_result hil_probe_write_u32(hil_probe* p, uint64_t addr, uint32_t value);
/* A register by GDB number (target byte order: little-endian). */
HIL_API hil_result hil_probe_read_reg(hil_probe* p, int regnum, uint64_t* out);
HIL_API hil_result hil_probe_write_reg(hil_probe* p, int regnum, uint64_t value);
HIL_API hil_result hil_probe_read_pc(hil_probe* p, uint64_t* out);
HIL_API hil_result hil_probe_write_pc(hil_probe* p, uint64_t value);
/* The PC's register number for the probe's architecture. */
HIL_API int hil_probe_pc_regnum(const hil_probe* p);

/* Breakpoints: software (Z0) or hardware (Z1). */
HIL_API hil_result hil_probe_break(hil_probe* p, uint64_t addr, int hardware);
HIL_API hil_result hil_probe_unbreak(hil_probe* p, uint64_t addr);
/* A breakpoint at a function of the ELF (ARM: the Thumb bit is cleared). */
HIL_API hil_result hil_probe_break_symbol(hil_probe* p, const char* symbol, int hardware, uint64_t* addr);
/* Break at the symbol, resume, wait until it is reached, remove the breakpoint. */
HIL_API hil_result hil_probe_run_to(hil_probe* p, const char* symbol, int timeout_ms);

/* Symbols (needs the ELF: option elf or hil_probe_set_elf). */
HIL_API hil_result hil_probe_set_elf(hil_probe* p, const char* path);
HIL_API const hil_elf* hil_probe_elf(hil_probe* p);
HIL_API hil_result hil_probe_symbol(hil_probe* p, const char* name, uint64_t* addr, uint64_t* size);
/* Read/write a variable: size must not exceed the symbol's size. */
HIL_API hil_result hil_probe_read_symbol(hil_probe* p, const char* name, void* out, size_t size);
HIL_API hil_result hil_probe_write_symbol(hil_probe* p, const char* name, const void* data, size_t size);

/* Flashing. */
typedef enum hil_probe_start { HIL_PROBE_START_RESET = 0, HIL_PROBE_START_ENTRY, HIL_PROBE_START_NONE } hil_probe_start;
typedef enum hil_probe_verify { HIL_PROBE_VERIFY_AUTO = 0, HIL_PROBE_VERIFY_CRC, HIL_PROBE_VERIFY_READ, HIL_PROBE_VERIFY_NONE } hil_probe_verify;

typedef struct hil_flash_options {
    uint64_t bin_address;      /* a raw .bin goes here */
    hil_probe_verify verify;   /* auto: qCRC when the server has it, else read back */
    hil_probe_start start;     /* reset (default), entry (set the PC), none */
    int resume;                /* 1 (default): run after start */
    int use_vflash;            /* -1 (default): when the memory map lists flash; 0 never; 1 always */
    int timeout_ms;            /* the whole operation (default 120000) */
} hil_flash_options;

typedef struct hil_flash_stats {
    size_t bytes;              /* image bytes written */
    size_t blocks;
    int used_vflash;
    int verified;              /* 1 crc, 2 read back, 0 not */
    double write_s, verify_s;
} hil_flash_stats;

HIL_API void hil_flash_options_init(hil_flash_options* o);
/* Halt, load the image (X packets; vFlash* for flash regions of the
 * server's memory map), verify, start. NULL options: defaults. A verify
 * mismatch is HIL_ERR_CHECKSUM naming the first differing address. */
HIL_API hil_result hil_probe_flash(hil_probe* p, const char* image, const hil_flash_options* o);
HIL_API hil_result hil_probe_flash_image(hil_probe* p, const hil_image* img, const hil_flash_options* o,
                                         hil_flash_stats* stats);

/* ==========================================================================
 * 5. SEGGER RTT
 * ========================================================================== */

/* The control block: id[16] "SEGGER RTT", MaxNumUpBuffers, MaxNumDownBuffers,
 * then up and down descriptors {sName, pBuffer, SizeOfBuffer, WrOff, RdOff,
 * Flags} (pointers of the target's size). The host advances RdOff of
 * up-buffers and WrOff of down-buffers. */
#define HIL_RTT_MAX_BUFFERS 32
#define HIL_RTT_MAX_BUFFER_SIZE (16u * 1024u * 1024u)

typedef struct hil_rtt_desc {
    uint64_t name_ptr, buffer;
    uint32_t size, wr_off, rd_off, flags;
} hil_rtt_desc;

typedef struct hil_rtt {
    hil_probe* probe;
    uint64_t address;          /* the control block */
    int ptr_size;              /* 4 or 8 */
    uint32_t n_up, n_down;
} hil_rtt;

/* Where to look: address != 0 uses it; else the symbol from the ELF
 * (default "_SEGGER_RTT"); else a search of [search_start, +search_size). */
typedef struct hil_rtt_config {
    uint64_t address;
    const char* symbol;
    uint64_t search_start, search_size;
    int ptr_size;              /* 0: from the ELF, else 4 */
    int timeout_ms;            /* a running target may set the block up this long (default 3000) */
} hil_rtt_config;

HIL_API void hil_rtt_config_init(hil_rtt_config* c);
/* Find and check the control block. A running target that has not set it
 * up yet (just reset) gets timeout_ms to do so: meanwhile hil waits on the
 * server's connection for a stop, and looks again every 20 ms. */
HIL_API hil_result hil_rtt_attach(hil_probe* p, const hil_rtt_config* c, hil_rtt* out);
/* Read what up-buffer `index` holds (at most cap bytes; *got may be 0). */
HIL_API hil_result hil_rtt_read(hil_rtt* r, unsigned index, void* out, size_t cap, size_t* got);
/* Write into down-buffer `index` what fits; *written says how much. */
HIL_API hil_result hil_rtt_write(hil_rtt* r, unsigned index, const void* data, size_t len, size_t* written);

/* Pure parsers (fuzzed): a control block header (id and counts) and one
 * descriptor, from target bytes. HIL_ERR_PROTOCOL when implausible. */
HIL_API hil_result hil_rtt_parse_header(const void* bytes, size_t len, uint32_t* n_up, uint32_t* n_down);
HIL_API hil_result hil_rtt_parse_desc(const void* bytes, size_t len, int ptr_size, hil_rtt_desc* out);
HIL_API size_t hil_rtt_desc_size(int ptr_size);

/* The "rtt" channel type (a byte stream: framing applies). Options:
 * probe (required: probes.<probe>.*, shared through hil_probe_get),
 * up_buffer (0), down_buffer (0), address (0: find), symbol (_SEGGER_RTT),
 * search_start, search_size (0x20000000, 0x10000), attach_timeout_ms (3000:
 * how long open waits for a running firmware to set up the block), poll_ms (10: how often
 * a reader thread looks at the up-buffer; each look halts a running target
 * for the read, as RSP allows no memory access while it runs). */

/* ==========================================================================
 * 7. The "probe" auxiliary
 * ========================================================================== */

/* auxiliaries.<name>.type = probe: a probe as an auxiliary, so a test can
 * name it in requires= (Blocked, with the reason, when it cannot connect)
 * and get it through the aux API:
 *
 *     probes.board.address = qemu:dut        (the stub of connector dut's emulator)
 *     probes.board.flavor = qemu
 *     auxiliaries.probe.type = probe
 *     auxiliaries.probe.probe = board        (probes.<probe>.*; default: the auxiliary's name)
 *     auxiliaries.probe.flash = fw.elf       (optional: loaded, verified and started at every start)
 *
 *     HIL_TEST_META(fw, counts, "requires=probe") {
 *         hil_probe* p = hil_aux_probe(hil_aux_get("probe"));
 *         ...
 *     }
 *
 * The connection is hil_probe_get(probe)'s: shared with rtt channels and
 * gdb flashers of the same probe, dropped when the auxiliary stops. It runs
 * in the test's process (thread or simple backend; process is refused: the
 * connection would live in a child the test cannot reach). Commands
 * (hil_aux_run_command): HIL_PROBE_CMD_FLASH (data: the image path),
 * HIL_PROBE_CMD_RESET (data: none, or one byte 1 to stay halted). */
#define HIL_PROBE_CMD_FLASH 1
#define HIL_PROBE_CMD_RESET 2
/* The probe of a running "probe" auxiliary, or NULL (another type, not started). */
HIL_API hil_probe* hil_aux_probe(hil_aux* a);

/* Register the probe types, channel type, flasher type and auxiliary type
 * (done before main unless HIL_NO_CONSTRUCTORS; then call it yourself). */
HIL_API void hil_probe_module_init(void);

#ifdef __cplusplus
}
#endif

#endif /* HIL_PROBE_H_INCLUDED */

/* The private helper of this implementation that hil_uds.h's
 * implementation calls too (hil.h, section 10: HIL__SHARED). */
#if defined(HIL__PRELUDE_DONE) && !defined(HIL_PROBE__SHARED_DECLARED)
#define HIL_PROBE__SHARED_DECLARED
#ifdef __cplusplus
extern "C" {
#endif
HIL__SHARED int hil__pr_num(const char* s, uint64_t* out);
#ifdef __cplusplus
}
#endif
#endif

/* ==========================================================================
 * IMPLEMENTATION
 * ========================================================================== */
#if (defined(HIL_IMPLEMENTATION) || defined(HIL_IMPLEMENTATION_PROBE)) && !defined(HIL_PROBE__IMPLEMENTED)
#define HIL_PROBE__IMPLEMENTED
#ifndef HIL__PRELUDE_DONE
#error "hil_probe.h: define HIL_IMPLEMENTATION_PROBE before the first hil header of the file"
#endif

#include <errno.h>
#include <string.h>
#include <stdlib.h>
#include <poll.h>
#include <unistd.h>
#include <fcntl.h>
#include <termios.h>
#include <netdb.h>
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ==== probe: helpers ==================================================== */

static int hil__pr_hexval(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

HIL_API size_t hil_rsp_unhex(const char* hex, size_t hexlen, void* out, size_t cap) {
    unsigned char* o = (unsigned char*)out;
    size_t n = 0;
    while (n < cap && 2 * n + 1 < hexlen) {
        int a = hil__pr_hexval((unsigned char)hex[2 * n]), b = hil__pr_hexval((unsigned char)hex[2 * n + 1]);
        if (a < 0 || b < 0) break;
        o[n++] = (unsigned char)(a << 4 | b);
    }
    return n;
}

HIL_API void hil_rsp_hex(const void* data, size_t len, hil_strbuf* out) {
    static const char digits[] = "0123456789abcdef";
    const unsigned char* d = (const unsigned char*)data;
    size_t i;
    for (i = 0; i < len; i++) {
        char two[2];
        two[0] = digits[d[i] >> 4];
        two[1] = digits[d[i] & 15];
        hil_sb_append(out, two, 2);
    }
}

/* A hex number at *s (advanced past it); -1 digits: none. */
static int hil__pr_hexnum(const char** s, const char* end, uint64_t* out) {
    int n = 0;
    uint64_t v = 0;
    while (*s < end && hil__pr_hexval((unsigned char)**s) >= 0) {
        if (n >= 16) return -1; /* more than 64 bits: not a value we can hold */
        v = v << 4 | (uint64_t)hil__pr_hexval((unsigned char)**s);
        (*s)++;
        n++;
    }
    *out = v;
    return n ? n : -1;
}

/* A copy of hil_last_error(), before the next error overwrites it. */
static void hil__pr_keep_error(char* dst, size_t size) {
    const char* e = hil_last_error();
    size_t n = strlen(e);
    if (n >= size) n = size - 1;
    memcpy(dst, e, n);
    dst[n] = 0;
}

static uint64_t hil__pr_le(const unsigned char* p, int n) {
    uint64_t v = 0;
    int i;
    for (i = n - 1; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

static void hil__pr_put_le(unsigned char* p, uint64_t v, int n) {
    int i;
    for (i = 0; i < n; i++) p[i] = (unsigned char)(v >> (8 * i));
}

/* ==== probe: the RSP codec ================================================ */

HIL_API void hil_rsp_encode(const void* payload, size_t len, hil_strbuf* out) {
    const unsigned char* d = (const unsigned char*)payload;
    unsigned sum = 0;
    size_t i = 0;
    char tail[4];
    hil_sb_putc(out, '$');
    while (i < len) {
        /* runs of plain bytes in one append: a flash image is 4 KiB a packet */
        size_t start = i;
        while (i < len && d[i] != '#' && d[i] != '$' && d[i] != '}' && d[i] != '*') sum += d[i++];
        if (i > start) hil_sb_append(out, d + start, i - start);
        if (i < len) {
            char esc[2];
            esc[0] = '}';
            esc[1] = (char)(d[i] ^ 0x20);
            sum += '}' + (unsigned char)esc[1];
            hil_sb_append(out, esc, 2);
            i++;
        }
    }
    snprintf(tail, sizeof tail, "#%02x", sum & 0xffu);
    hil_sb_append(out, tail, 3);
}

HIL_API hil_result hil_rsp_decode(const void* buf, size_t len, size_t max, hil_strbuf* out, size_t* used) {
    const unsigned char* b = (const unsigned char*)buf;
    size_t i, hash;
    unsigned sum = 0;
    int want;
    *used = 0;
    hil_sb_clear(out);
    if (len == 0) return HIL_ERR_AGAIN;
    if (b[0] != '$' && b[0] != '%') {
        *used = 1;
        return hil_error(HIL_ERR_PROTOCOL, "RSP: a packet starts with '$', got 0x%02x", b[0]);
    }
    for (hash = 1; hash < len && b[hash] != '#'; hash++) {
        if (b[hash] == '$') { /* a new packet inside this one: the first was cut */
            *used = hash;
            return hil_error(HIL_ERR_PROTOCOL, "RSP: a packet was cut off by another '$'");
        }
        if (hash > 2 * max + 16) { /* RLE can only grow it, escapes only shrink it by half */
            *used = hash;
            return hil_error(HIL_ERR_OVERFLOW, "RSP: a packet longer than %zu bytes", max);
        }
    }
    if (hash + 2 >= len) return HIL_ERR_AGAIN;
    for (i = 1; i < hash; i++) sum += b[i];
    *used = hash + 3;
    want = hil__pr_hexval(b[hash + 1]) * 16 + hil__pr_hexval(b[hash + 2]);
    if (hil__pr_hexval(b[hash + 1]) < 0 || hil__pr_hexval(b[hash + 2]) < 0)
        return hil_error(HIL_ERR_PROTOCOL, "RSP: the checksum is not hex");
    if ((int)(sum & 0xffu) != want)
        return hil_error(HIL_ERR_CHECKSUM, "RSP: checksum %02x, computed %02x", (unsigned)want, sum & 0xffu);
    for (i = 1; i < hash; i++) {
        if (b[i] == '*') { /* never literal: an escaped '*' is "}\n" */
            size_t n, k;
            if (i + 1 >= hash) return hil_error(HIL_ERR_PROTOCOL, "RSP: run-length '*' without a count");
            if (b[i + 1] < 29 + 3 || b[i + 1] > 126)
                return hil_error(HIL_ERR_PROTOCOL, "RSP: run-length count 0x%02x out of range", b[i + 1]);
            n = (size_t)(b[i + 1] - 29);
            if (out->len == 0) return hil_error(HIL_ERR_PROTOCOL, "RSP: run-length with nothing to repeat");
            if (out->len + n > max) return hil_error(HIL_ERR_OVERFLOW, "RSP: a packet longer than %zu bytes", max);
            for (k = 0; k < n; k++) hil_sb_putc(out, out->data[out->len - 1]);
            i++;
            continue;
        }
        if (out->len + 1 > max) return hil_error(HIL_ERR_OVERFLOW, "RSP: a packet longer than %zu bytes", max);
        hil_sb_putc(out, (char)b[i]);
    }
    if (out->failed) return hil_error(HIL_ERR_NO_MEMORY, "RSP: out of memory decoding a packet");
    return HIL_OK;
}

HIL_API size_t hil_rsp_unescape(char* data, size_t len) {
    size_t i, o = 0;
    for (i = 0; i < len; i++) {
        if (data[i] == '}' && i + 1 < len) {
            data[o++] = (char)(data[i + 1] ^ 0x20);
            i++;
        } else {
            data[o++] = data[i];
        }
    }
    return o;
}

HIL_API uint32_t hil_rsp_crc32(uint32_t crc, const void* data, size_t len) {
    static uint32_t table[256];
    static int ready;
    const unsigned char* d = (const unsigned char*)data;
    size_t i;
    if (!ready) { /* idempotent: racing threads write the same values */
        uint32_t k;
        for (k = 0; k < 256; k++) {
            uint32_t c = k << 24;
            int j;
            for (j = 0; j < 8; j++) c = (c & 0x80000000u) ? (c << 1) ^ 0x04C11DB7u : c << 1;
            table[k] = c;
        }
        ready = 1;
    }
    for (i = 0; i < len; i++) crc = (crc << 8) ^ table[((crc >> 24) ^ d[i]) & 0xffu];
    return crc;
}

HIL_API hil_result hil_rsp_parse_stop(const char* pkt, size_t len, hil_rsp_stop* out) {
    const char* s = pkt;
    const char* end = pkt + len;
    uint64_t v;
    memset(out, 0, sizeof *out);
    if (len < 3) return hil_error(HIL_ERR_PROTOCOL, "RSP: '%.*s' is not a stop reply", (int)len, pkt);
    out->kind = pkt[0];
    s++;
    if (out->kind != 'T' && out->kind != 'S' && out->kind != 'W' && out->kind != 'X')
        return hil_error(HIL_ERR_PROTOCOL, "RSP: '%.*s' is not a stop reply", (int)(len > 40 ? 40 : len), pkt);
    if (s + 2 > end || hil__pr_hexval((unsigned char)s[0]) < 0 || hil__pr_hexval((unsigned char)s[1]) < 0)
        return hil_error(HIL_ERR_PROTOCOL, "RSP: stop reply '%.*s' without its number", (int)(len > 40 ? 40 : len), pkt);
    v = (uint64_t)(hil__pr_hexval((unsigned char)s[0]) * 16 + hil__pr_hexval((unsigned char)s[1]));
    s += 2;
    if (out->kind == 'W') out->exit_status = (int)v;
    else out->signal = (int)v;
    if (out->kind != 'T') return HIL_OK; /* W/X may carry ";process:pid": not needed */
    while (s < end) {
        const char* key = s;
        const char* colon;
        const char* semi;
        size_t klen;
        while (s < end && *s != ':' && *s != ';') s++;
        if (s >= end || *s != ':') return hil_error(HIL_ERR_PROTOCOL, "RSP: stop reply: a field without ':'");
        colon = s;
        klen = (size_t)(colon - key);
        semi = colon + 1;
        while (semi < end && *semi != ';') semi++;
        if (klen == 6 && memcmp(key, "thread", 6) == 0) {
            const char* t = colon + 1;
            if (t < semi && *t == 'p') { /* "p<pid>.<tid>" */
                while (t < semi && *t != '.') t++;
                if (t < semi) t++;
            }
            if (hil__pr_hexnum(&t, semi, &v) > 0) out->thread = (long long)v;
        } else if ((klen == 7 && (memcmp(key, "swbreak", 7) == 0 || memcmp(key, "hwbreak", 7) == 0)) ||
                   (klen == 5 && memcmp(key, "watch", 5) == 0) ||
                   (klen == 6 && (memcmp(key, "rwatch", 6) == 0 || memcmp(key, "awatch", 6) == 0))) {
            const char* t = colon + 1;
            memcpy(out->reason, key, klen);
            out->reason[klen] = 0;
            if (key[0] != 's' && key[0] != 'h' && hil__pr_hexnum(&t, semi, &v) > 0) out->watch_addr = v;
        } else {
            const char* t = key;
            uint64_t num;
            if (hil__pr_hexnum(&t, colon, &num) > 0 && t == colon && out->n_regs < HIL_RSP_MAX_STOP_REGS) {
                unsigned char bytes[8];
                size_t nb = hil_rsp_unhex(colon + 1, (size_t)(semi - colon - 1), bytes, sizeof bytes);
                out->regs[out->n_regs].num = (int)num;
                out->regs[out->n_regs].value = hil__pr_le(bytes, (int)nb);
                out->n_regs++;
            } /* other keys (core, library, exec, fork...) are not needed */
        }
        s = semi < end ? semi + 1 : end;
    }
    return HIL_OK;
}

/* The value of attribute `name` inside one tag [tag, tagend). */
static int hil__pr_xml_attr(const char* tag, const char* tagend, const char* name, char* out, size_t size) {
    size_t nl = strlen(name);
    const char* s = tag;
    while (s + nl + 2 < tagend) {
        if ((s == tag || s[-1] == ' ' || s[-1] == '\t' || s[-1] == '\n') && memcmp(s, name, nl) == 0 &&
            s[nl] == '=' && (s[nl + 1] == '"' || s[nl + 1] == '\'')) {
            char q = s[nl + 1];
            const char* v = s + nl + 2;
            const char* e = v;
            size_t n;
            while (e < tagend && *e != q) e++;
            if (e >= tagend) return 0;
            n = (size_t)(e - v);
            if (n >= size) return 0;
            memcpy(out, v, n);
            out[n] = 0;
            return 1;
        }
        s++;
    }
    return 0;
}

HIL__SHARED int hil__pr_num(const char* s, uint64_t* out) {
    char* end;
    unsigned long long v;
    if (!*s) return 0;
    errno = 0;
    v = strtoull(s, &end, 0);
    if (errno || *end) return 0;
    *out = (uint64_t)v;
    return 1;
}

HIL_API hil_result hil_rsp_parse_memory_map(const char* xml, size_t len, hil_mem_region* out, size_t max,
                                            size_t* n) {
    const char* s = xml;
    const char* end = xml + len;
    *n = 0;
    while (s < end) {
        const char* tag;
        const char* tagend;
        char type[16], start[40], length[40];
        hil_mem_region r;
        while (s < end && *s != '<') s++;
        if (s >= end) break;
        tag = s;
        tagend = tag;
        while (tagend < end && *tagend != '>') tagend++;
        if (tagend >= end) return hil_error(HIL_ERR_PROTOCOL, "memory map: a tag without '>'");
        s = tagend + 1;
        if (tagend - tag < 8 || memcmp(tag, "<memory", 7) != 0 || (tag[7] != ' ' && tag[7] != '\t' && tag[7] != '\n'))
            continue;
        memset(&r, 0, sizeof r);
        if (!hil__pr_xml_attr(tag + 1, tagend, "type", type, sizeof type) ||
            !hil__pr_xml_attr(tag + 1, tagend, "start", start, sizeof start) ||
            !hil__pr_xml_attr(tag + 1, tagend, "length", length, sizeof length))
            return hil_error(HIL_ERR_PROTOCOL, "memory map: <memory> needs type, start and length");
        if (strcmp(type, "ram") == 0) r.type = 0;
        else if (strcmp(type, "rom") == 0) r.type = 1;
        else if (strcmp(type, "flash") == 0) r.type = 2;
        else return hil_error(HIL_ERR_PROTOCOL, "memory map: unknown memory type '%s'", type);
        if (!hil__pr_num(start, &r.start) || !hil__pr_num(length, &r.length))
            return hil_error(HIL_ERR_PROTOCOL, "memory map: start '%s' or length '%s' is not a number", start, length);
        if (tagend[-1] != '/') { /* the body: <property name="blocksize">0x800</property> */
            const char* close = s;
            while (close + 9 <= end && memcmp(close, "</memory>", 9) != 0) close++;
            if (close + 9 > end) return hil_error(HIL_ERR_PROTOCOL, "memory map: <memory> without </memory>");
            {
                const char* p = s;
                while (p < close) {
                    const char* pe;
                    char pname[32];
                    while (p < close && *p != '<') p++;
                    if (p >= close) break;
                    pe = p;
                    while (pe < close && *pe != '>') pe++;
                    if (pe >= close) break;
                    if (pe - p > 9 && memcmp(p, "<property", 9) == 0 &&
                        hil__pr_xml_attr(p + 1, pe, "name", pname, sizeof pname) && strcmp(pname, "blocksize") == 0) {
                        char val[40];
                        const char* v = pe + 1;
                        const char* ve = v;
                        size_t vn;
                        while (ve < close && *ve != '<') ve++;
                        vn = (size_t)(ve - v);
                        while (vn && (v[vn - 1] == ' ' || v[vn - 1] == '\n')) vn--;
                        while (vn && (*v == ' ' || *v == '\n')) { v++; vn--; }
                        if (vn >= sizeof val) return hil_error(HIL_ERR_PROTOCOL, "memory map: blocksize too long");
                        memcpy(val, v, vn);
                        val[vn] = 0;
                        if (!hil__pr_num(val, &r.blocksize))
                            return hil_error(HIL_ERR_PROTOCOL, "memory map: blocksize '%s' is not a number", val);
                    }
                    p = pe + 1;
                }
            }
            s = close + 9;
        }
        if (r.type == 2 && r.blocksize == 0)
            return hil_error(HIL_ERR_PROTOCOL, "memory map: flash at 0x%llx without a blocksize", (unsigned long long)r.start);
        if (*n == max) return hil_error(HIL_ERR_OVERFLOW, "memory map: more than %zu regions", max);
        out[(*n)++] = r;
    }
    return HIL_OK;
}

/* ==== probe: ELF ========================================================== */

HIL_API const char* hil_elf_machine_str(int machine) {
    switch (machine) {
    case 3: return "i386";
    case 40: return "ARM";
    case 62: return "x86-64";
    case 183: return "AArch64";
    case 243: return "RISC-V";
    default: return "unknown machine";
    }
}

HIL_API void hil_elf_free(hil_elf* e) {
    if (!e) return;
    HIL_FREE(e->path);
    HIL_FREE(e->data);
    HIL_FREE(e->segments);
    HIL_FREE(e->symbols);
    HIL_FREE(e);
}

#define HIL__ELF_FAIL(...) do { r = hil_error(HIL_ERR_PROTOCOL, __VA_ARGS__); goto fail; } while (0)

HIL_API hil_result hil_elf_parse(const void* data, size_t size, const char* name, hil_elf** out) {
    hil_elf* e;
    const unsigned char* d;
    hil_result r = HIL_OK;
    uint64_t phoff, shoff;
    unsigned phentsize, phnum, shentsize, shnum, i;
    int w;
    *out = NULL;
    if (!name) name = "(memory)";
    if (size < 52 || memcmp(data, "\177ELF", 4) != 0)
        return hil_error(HIL_ERR_PROTOCOL, "%s: not an ELF file (no \\177ELF magic): give the firmware's .elf", name);
    e = (hil_elf*)calloc(1, sizeof *e);
    if (!e) return hil_error(HIL_ERR_NO_MEMORY, "%s: out of memory", name);
    e->path = hil_strdup(name);
    e->data = (unsigned char*)HIL_MALLOC(size);
    if (!e->path || !e->data) { r = hil_error(HIL_ERR_NO_MEMORY, "%s: out of memory", name); goto fail; }
    memcpy(e->data, data, size);
    e->size = size;
    d = e->data;
    if (d[4] != 1 && d[4] != 2) HIL__ELF_FAIL("%s: ELF class %d is neither 32- nor 64-bit", name, d[4]);
    if (d[5] != 1) HIL__ELF_FAIL("%s: a big-endian ELF: only little-endian targets are supported", name);
    e->is64 = d[4] == 2;
    w = e->is64 ? 8 : 4;
    if (e->is64 && size < 64) HIL__ELF_FAIL("%s: truncated ELF header", name);
    e->machine = (int)hil__pr_le(d + 18, 2);
    e->entry = hil__pr_le(d + 24, w);
    phoff = hil__pr_le(d + 24 + w, w);
    shoff = hil__pr_le(d + 24 + 2 * w, w);
    phentsize = (unsigned)hil__pr_le(d + (e->is64 ? 54 : 42), 2);
    phnum = (unsigned)hil__pr_le(d + (e->is64 ? 56 : 44), 2);
    shentsize = (unsigned)hil__pr_le(d + (e->is64 ? 58 : 46), 2);
    shnum = (unsigned)hil__pr_le(d + (e->is64 ? 60 : 48), 2);
    if (phnum) {
        if (phentsize < (unsigned)(e->is64 ? 56 : 32)) HIL__ELF_FAIL("%s: program header entries of %u bytes", name, phentsize);
        if (phoff > size || (uint64_t)phnum * phentsize > size - phoff)
            HIL__ELF_FAIL("%s: the program headers lie outside the file (truncated?)", name);
        if (phnum > HIL_ELF_MAX_SEGMENTS) HIL__ELF_FAIL("%s: %u program headers (at most %u)", name, phnum, HIL_ELF_MAX_SEGMENTS);
        e->segments = (hil_elf_segment*)calloc(phnum, sizeof *e->segments);
        if (!e->segments) { r = hil_error(HIL_ERR_NO_MEMORY, "%s: out of memory", name); goto fail; }
        for (i = 0; i < phnum; i++) {
            const unsigned char* ph = d + phoff + (uint64_t)i * phentsize;
            hil_elf_segment s;
            if (hil__pr_le(ph, 4) != 1) continue; /* PT_LOAD only */
            if (e->is64) {
                s.flags = (uint32_t)hil__pr_le(ph + 4, 4);
                s.offset = hil__pr_le(ph + 8, 8);
                s.vaddr = hil__pr_le(ph + 16, 8);
                s.paddr = hil__pr_le(ph + 24, 8);
                s.filesz = hil__pr_le(ph + 32, 8);
                s.memsz = hil__pr_le(ph + 40, 8);
            } else {
                s.offset = hil__pr_le(ph + 4, 4);
                s.vaddr = hil__pr_le(ph + 8, 4);
                s.paddr = hil__pr_le(ph + 12, 4);
                s.filesz = hil__pr_le(ph + 16, 4);
                s.memsz = hil__pr_le(ph + 20, 4);
                s.flags = (uint32_t)hil__pr_le(ph + 24, 4);
            }
            if (s.offset > size || s.filesz > size - s.offset)
                HIL__ELF_FAIL("%s: segment %u (0x%llx, %llu bytes) lies outside the file (truncated?)", name, i,
                              (unsigned long long)s.paddr, (unsigned long long)s.filesz);
            if (s.filesz > s.memsz) HIL__ELF_FAIL("%s: segment %u has more file bytes than memory", name, i);
            e->segments[e->n_segments++] = s;
        }
    }
    if (shnum && shoff) {
        unsigned symsec = 0, dynsec = 0;
        if (shentsize < (unsigned)(e->is64 ? 64 : 40)) HIL__ELF_FAIL("%s: section header entries of %u bytes", name, shentsize);
        if (shoff > size || (uint64_t)shnum * shentsize > size - shoff)
            HIL__ELF_FAIL("%s: the section headers lie outside the file (truncated?)", name);
        for (i = 0; i < shnum; i++) {
            uint32_t type = (uint32_t)hil__pr_le(d + shoff + (uint64_t)i * shentsize + 4, 4);
            if (type == 2 && !symsec) symsec = i;       /* SHT_SYMTAB */
            if (type == 11 && !dynsec) dynsec = i;      /* SHT_DYNSYM */
        }
        if (!symsec) symsec = dynsec;
        if (symsec) {
            const unsigned char* sh = d + shoff + (uint64_t)symsec * shentsize;
            uint64_t off = hil__pr_le(sh + (e->is64 ? 24 : 16), w), sz = hil__pr_le(sh + (e->is64 ? 32 : 20), w);
            unsigned link = (unsigned)hil__pr_le(sh + (e->is64 ? 40 : 24), 4);
            uint64_t entsize = hil__pr_le(sh + (e->is64 ? 56 : 36), w);
            uint64_t stroff, strsz, count, k;
            const unsigned char* strsh;
            if (link >= shnum) HIL__ELF_FAIL("%s: the symbol table's string table index %u is out of range", name, link);
            strsh = d + shoff + (uint64_t)link * shentsize;
            stroff = hil__pr_le(strsh + (e->is64 ? 24 : 16), w);
            strsz = hil__pr_le(strsh + (e->is64 ? 32 : 20), w);
            if (entsize < (uint64_t)(e->is64 ? 24 : 16)) HIL__ELF_FAIL("%s: symbol entries of %llu bytes", name, (unsigned long long)entsize);
            if (off > size || sz > size - off || stroff > size || strsz > size - stroff || strsz == 0)
                HIL__ELF_FAIL("%s: the symbol table lies outside the file (truncated?)", name);
            if (d[stroff + strsz - 1] != 0) HIL__ELF_FAIL("%s: the string table does not end with NUL", name);
            count = sz / entsize;
            if (count > HIL_ELF_MAX_SYMBOLS) HIL__ELF_FAIL("%s: %llu symbols (at most %u)", name, (unsigned long long)count, HIL_ELF_MAX_SYMBOLS);
            e->symbols = (hil_elf_symbol*)calloc(count ? count : 1, sizeof *e->symbols);
            if (!e->symbols) { r = hil_error(HIL_ERR_NO_MEMORY, "%s: out of memory", name); goto fail; }
            for (k = 0; k < count; k++) {
                const unsigned char* st = d + off + k * entsize;
                uint32_t nm = (uint32_t)hil__pr_le(st, 4);
                hil_elf_symbol s;
                if (nm == 0 || nm >= strsz) continue;
                s.name = (const char*)d + stroff + nm;
                if (e->is64) {
                    s.type = st[4] & 15;
                    s.value = hil__pr_le(st + 8, 8);
                    s.size = hil__pr_le(st + 16, 8);
                } else {
                    s.value = hil__pr_le(st + 4, 4);
                    s.size = hil__pr_le(st + 8, 4);
                    s.type = st[12] & 15;
                }
                if (s.type == 4 || s.type == 3) continue; /* STT_FILE, STT_SECTION */
                if (s.name[0] == '$') continue;           /* ARM mapping symbols $t, $d */
                e->symbols[e->n_symbols++] = s;
            }
        }
    }
    *out = e;
    return HIL_OK;
fail:
    hil_elf_free(e);
    return r;
}

HIL_API hil_result hil_elf_load(const char* path, hil_elf** out) {
    char* data = NULL;
    size_t len = 0;
    hil_result r;
    *out = NULL;
    if (hil_read_file(path, &data, &len) != HIL_OK)
        return hil_error(HIL_ERR_IO, "cannot read the ELF file %s: %s", path, strerror(errno ? errno : ENOENT));
    r = hil_elf_parse(data, len, path, out);
    HIL_FREE(data);
    return r;
}

HIL_API const hil_elf_symbol* hil_elf_symbol_find(const hil_elf* e, const char* name) {
    size_t i;
    const hil_elf_symbol* weak = NULL;
    for (i = 0; e && name && i < e->n_symbols; i++)
        if (strcmp(e->symbols[i].name, name) == 0) {
            if (e->symbols[i].type != 0 || e->symbols[i].size) return &e->symbols[i];
            if (!weak) weak = &e->symbols[i];
        }
    return weak;
}

/* ==== probe: load images ================================================== */

HIL_API void hil_image_free(hil_image* img) {
    size_t i;
    if (!img) return;
    for (i = 0; i < img->n_blocks; i++) HIL_FREE(img->blocks[i].data);
    HIL_FREE(img->blocks);
    memset(img, 0, sizeof *img);
}

static hil_result hil__img_add(hil_image* img, uint64_t addr, const void* data, size_t len) {
    hil_image_block* nb;
    size_t i;
    if (len == 0) return HIL_OK;
    if (addr + len < addr)
        return hil_error(HIL_ERR_PROTOCOL, "image: %zu bytes at 0x%llx run past the end of the address space", len,
                         (unsigned long long)addr);
    for (i = 0; i < img->n_blocks; i++) {
        const hil_image_block* b = &img->blocks[i];
        if (addr < b->addr + b->len && b->addr < addr + len)
            return hil_error(HIL_ERR_PROTOCOL, "image: data at 0x%llx overlaps the block at 0x%llx",
                             (unsigned long long)addr, (unsigned long long)b->addr);
    }
    /* contiguous with the last block (Intel HEX comes in 16-byte records) */
    if (img->n_blocks) {
        hil_image_block* last = &img->blocks[img->n_blocks - 1];
        if (last->addr + last->len == addr) {
            unsigned char* nd = (unsigned char*)HIL_REALLOC(last->data, last->len + len);
            if (!nd) return hil_error(HIL_ERR_NO_MEMORY, "image: out of memory");
            memcpy(nd + last->len, data, len);
            last->data = nd;
            last->len += len;
            img->total += len;
            return HIL_OK;
        }
    }
    nb = (hil_image_block*)HIL_REALLOC(img->blocks, (img->n_blocks + 1) * sizeof *nb);
    if (!nb) return hil_error(HIL_ERR_NO_MEMORY, "image: out of memory");
    img->blocks = nb;
    nb[img->n_blocks].addr = addr;
    nb[img->n_blocks].len = len;
    nb[img->n_blocks].data = (unsigned char*)HIL_MALLOC(len);
    if (!nb[img->n_blocks].data) return hil_error(HIL_ERR_NO_MEMORY, "image: out of memory");
    memcpy(nb[img->n_blocks].data, data, len);
    img->n_blocks++;
    img->total += len;
    return HIL_OK;
}

static int hil__img_cmp(const void* a, const void* b) {
    const hil_image_block* x = (const hil_image_block*)a;
    const hil_image_block* y = (const hil_image_block*)b;
    return x->addr < y->addr ? -1 : x->addr > y->addr;
}

HIL_API hil_result hil_image_from_elf(const hil_elf* e, hil_image* out) {
    size_t i;
    memset(out, 0, sizeof *out);
    for (i = 0; i < e->n_segments; i++) {
        const hil_elf_segment* s = &e->segments[i];
        hil_result r = hil__img_add(out, s->paddr, e->data + s->offset, (size_t)s->filesz);
        if (r) { hil_image_free(out); return r; }
    }
    if (out->n_blocks == 0) return hil_error(HIL_ERR_PROTOCOL, "%s: no loadable segment with data (PT_LOAD)", e->path);
    qsort(out->blocks, out->n_blocks, sizeof *out->blocks, hil__img_cmp);
    out->entry = e->entry;
    out->has_entry = 1;
    return HIL_OK;
}

HIL_API hil_result hil_ihex_parse(const char* text, size_t len, const char* name, hil_image* out) {
    size_t pos = 0;
    int line = 0, ended = 0;
    uint64_t base = 0;
    memset(out, 0, sizeof *out);
    if (!name) name = "(hex)";
    while (pos < len && !ended) {
        unsigned char rec[5 + 255];
        size_t eol = pos, n, k;
        unsigned sum = 0, count, type, addr;
        line++;
        while (eol < len && text[eol] != '\n') eol++;
        n = eol;
        while (n > pos && (text[n - 1] == '\r' || text[n - 1] == ' ')) n--;
        if (n == pos) { pos = eol + 1; continue; }
        if (text[pos] != ':' || (n - pos - 1) % 2 || n - pos - 1 < 10 || n - pos - 1 > 2 * sizeof rec) {
            hil_image_free(out);
            return hil_error(HIL_ERR_PROTOCOL, "%s:%d: not an Intel HEX record (':' and hex pairs)", name, line);
        }
        k = hil_rsp_unhex(text + pos + 1, n - pos - 1, rec, sizeof rec);
        if (k * 2 != n - pos - 1) {
            hil_image_free(out);
            return hil_error(HIL_ERR_PROTOCOL, "%s:%d: a character that is not hex", name, line);
        }
        count = rec[0];
        if (count + 5 != k) {
            hil_image_free(out);
            return hil_error(HIL_ERR_PROTOCOL, "%s:%d: the record says %u data bytes, has %u", name, line, count,
                             (unsigned)(k >= 5 ? k - 5 : 0));
        }
        for (k = 0; k < count + 5u; k++) sum += rec[k];
        if (sum & 0xffu) {
            hil_image_free(out);
            return hil_error(HIL_ERR_CHECKSUM, "%s:%d: record checksum mismatch", name, line);
        }
        addr = (unsigned)rec[1] << 8 | rec[2];
        type = rec[3];
        switch (type) {
        case 0: {
            hil_result r = hil__img_add(out, base + addr, rec + 4, count);
            if (r) { hil_image_free(out); return r; }
            break;
        }
        case 1: ended = 1; break;
        case 2: base = (uint64_t)((unsigned)rec[4] << 8 | rec[5]) << 4; break;
        case 4: base = (uint64_t)((unsigned)rec[4] << 8 | rec[5]) << 16; break;
        case 3: break; /* CS:IP of 8086 */
        case 5:
            out->entry = (uint64_t)rec[4] << 24 | (uint64_t)rec[5] << 16 | (uint64_t)rec[6] << 8 | rec[7];
            out->has_entry = 1;
            break;
        default:
            hil_image_free(out);
            return hil_error(HIL_ERR_PROTOCOL, "%s:%d: unknown record type %u", name, line, type);
        }
        if ((type == 2 || type == 4) && count != 2) {
            hil_image_free(out);
            return hil_error(HIL_ERR_PROTOCOL, "%s:%d: an address record needs 2 bytes", name, line);
        }
        if (type == 5 && count != 4) {
            hil_image_free(out);
            return hil_error(HIL_ERR_PROTOCOL, "%s:%d: a start address record needs 4 bytes", name, line);
        }
        pos = eol + 1;
    }
    if (!ended) {
        hil_image_free(out);
        return hil_error(HIL_ERR_PROTOCOL, "%s: no end-of-file record (:00000001FF): truncated?", name);
    }
    if (out->n_blocks == 0) return hil_error(HIL_ERR_PROTOCOL, "%s: no data records", name);
    qsort(out->blocks, out->n_blocks, sizeof *out->blocks, hil__img_cmp);
    return HIL_OK;
}

static int hil__pr_ends_with(const char* s, const char* suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

HIL_API hil_result hil_image_load(const char* path, uint64_t bin_address, hil_image* out) {
    char* data = NULL;
    size_t len = 0;
    hil_result r;
    memset(out, 0, sizeof *out);
    if (hil_read_file(path, &data, &len) != HIL_OK)
        return hil_error(HIL_ERR_IO, "cannot read the image %s: %s", path, strerror(errno ? errno : ENOENT));
    if (len >= 4 && memcmp(data, "\177ELF", 4) == 0) {
        hil_elf* e;
        r = hil_elf_parse(data, len, path, &e);
        if (r == HIL_OK) {
            r = hil_image_from_elf(e, out);
            hil_elf_free(e);
        }
    } else if (hil__pr_ends_with(path, ".hex") || hil__pr_ends_with(path, ".ihex") || hil__pr_ends_with(path, ".ihx")) {
        r = hil_ihex_parse(data, len, path, out);
    } else if (len == 0) {
        r = hil_error(HIL_ERR_PROTOCOL, "%s: the image is empty", path);
    } else {
        r = hil__img_add(out, bin_address, data, len);
    }
    HIL_FREE(data);
    return r;
}

/* ==== probe: the RSP client =============================================== */

struct hil_rsp {
    int fd;
    int is_serial;
    char where[160];
    char name[96];
    char dead[720];            /* why the connection ended ("" while open) */
    hil_result dead_code;
    int no_ack;
    int timeout_ms;
    size_t max_packet;
    size_t packet_size;        /* the server's PacketSize */
    char* features;            /* the qSupported reply */
    unsigned char* in;         /* received, not consumed */
    size_t in_len, in_cap;
    hil_strbuf tx;
    hil_strbuf console;        /* 'O' output */
    uint64_t garbage;          /* bytes skipped between packets */
    char junk[28];             /* the first of them, for the message */
};

HIL_API void hil_rsp_config_init(hil_rsp_config* c) {
    memset(c, 0, sizeof *c);
    c->baudrate = 115200;
    c->timeout_ms = 3000;
    c->connect_timeout_ms = 3000;
    c->max_packet = HIL_RSP_MAX_PACKET_DEFAULT;
    c->no_ack = 1;
}

/* Every fatal error ends the connection: after a timeout or garbage the
 * next reply could belong to the wrong request. */
static hil_result hil__rsp_die(hil_rsp* r, hil_result code, const char* fmt, ...) HIL__PRINTF(3, 4);
static hil_result hil__rsp_die(hil_rsp* r, hil_result code, const char* fmt, ...) {
    char msg[360];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (r->fd >= 0) {
        close(r->fd);
        r->fd = -1;
    }
    snprintf(r->dead, sizeof r->dead, "%s (%s): %s", r->name, r->where, msg);
    r->dead_code = code;
    return hil_error(code, "%s", r->dead);
}

static hil_result hil__rsp_dead(hil_rsp* r) {
    return hil_error(r->dead_code ? r->dead_code : HIL_ERR_CLOSED, "%s; the connection is closed: create the probe again",
                     r->dead[0] ? r->dead : "not connected");
}

static hil_result hil__rsp_write(hil_rsp* r, const void* data, size_t len) {
    const char* p = (const char*)data;
    uint64_t deadline = hil_deadline_ms(r->timeout_ms);
    if (r->fd < 0) return hil__rsp_dead(r);
    while (len) {
        /* a socket whose peer left must not kill the program with SIGPIPE */
        ssize_t n = r->is_serial ? write(r->fd, p, len) : send(r->fd, p, len, MSG_NOSIGNAL);
        if (n > 0) {
            p += n;
            len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            struct pollfd pfd;
            int left = hil_deadline_left_ms(deadline);
            pfd.fd = r->fd;
            pfd.events = POLLOUT;
            pfd.revents = 0;
            if (left == 0 || poll(&pfd, 1, left) == 0)
                return hil__rsp_die(r, HIL_ERR_TIMEOUT, "could not send within %d ms (the server does not read)", r->timeout_ms);
            continue;
        }
        return hil__rsp_die(r, HIL_ERR_CLOSED, "send failed: %s (the server closed the connection?)",
                            strerror(n < 0 ? errno : EPIPE));
    }
    return HIL_OK;
}

/* Read what is there into r->in, waiting until deadline. */
static hil_result hil__rsp_fill(hil_rsp* r, uint64_t deadline, int* timed_out) {
    struct pollfd pfd;
    ssize_t n;
    int rc;
    *timed_out = 0;
    if (r->fd < 0) return hil__rsp_dead(r);
    if (r->in_cap - r->in_len < 4096) {
        size_t cap = r->in_cap ? r->in_cap * 2 : 16384;
        unsigned char* ni;
        if (cap > 2 * r->max_packet + 65536) cap = 2 * r->max_packet + 65536;
        if (cap - r->in_len < 512) /* a packet that never ends */
            return hil__rsp_die(r, HIL_ERR_OVERFLOW, "the server sent more than %zu bytes without ending a packet",
                                r->max_packet);
        ni = (unsigned char*)HIL_REALLOC(r->in, cap);
        if (!ni) return hil__rsp_die(r, HIL_ERR_NO_MEMORY, "out of memory");
        r->in = ni;
        r->in_cap = cap;
    }
    pfd.fd = r->fd;
    pfd.events = POLLIN;
    pfd.revents = 0;
    rc = poll(&pfd, 1, hil_deadline_left_ms(deadline));
    if (rc < 0 && errno != EINTR) return hil__rsp_die(r, HIL_ERR_IO, "poll: %s", strerror(errno));
    if (rc <= 0) {
        *timed_out = 1;
        return HIL_ERR_TIMEOUT;
    }
    n = read(r->fd, r->in + r->in_len, r->in_cap - r->in_len);
#ifdef TCP_QUICKACK
    if (n > 0 && !r->is_serial) {
        /* A server that writes '+' and the reply separately without
         * TCP_NODELAY (QEMU on a -chardev socket without nodelay=on) holds
         * the reply until our ACK: a delayed ACK would cost 40 ms per
         * request. Linux resets this flag, so again after every read. */
        int one = 1;
        setsockopt(r->fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
    }
#endif
    if (n == 0)
        return hil__rsp_die(r, HIL_ERR_CLOSED,
                            "the GDB server closed the connection (it exited, or it serves one client at a time and "
                            "another one is attached)");
    if (n < 0) {
        if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) return HIL_OK;
        /* a server killed with our request unread in its socket resets the
         * connection instead of closing it: the same event for the user */
        if (errno == ECONNRESET)
            return hil__rsp_die(r, HIL_ERR_CLOSED, "the GDB server closed the connection (reset: it exited or was "
                                "killed with a request unread)");
        return hil__rsp_die(r, HIL_ERR_CLOSED, "read: %s", strerror(errno));
    }
    r->in_len += (size_t)n;
    return HIL_OK;
}

/* Count a byte that belongs to no packet; keep the first ones to show. */
static uint64_t hil__rsp_junk(hil_rsp* r, const unsigned char* at, size_t avail) {
    if (r->garbage == 0) {
        size_t k, n = avail < sizeof r->junk - 1 ? avail : sizeof r->junk - 1;
        for (k = 0; k < n; k++) r->junk[k] = at[k] >= 0x20 && at[k] < 0x7f ? (char)at[k] : '.';
        r->junk[n] = 0;
    }
    return ++r->garbage;
}

static hil_result hil__rsp_garbage(hil_rsp* r) {
    return hil__rsp_die(r, HIL_ERR_PROTOCOL,
                        "the server answers garbage (\"%s\"...), not the GDB remote protocol: is this a GDB server "
                        "(not a telnet, RTT or UART port)?", r->junk);
}

static void hil__rsp_consume(hil_rsp* r, size_t n) {
    memmove(r->in, r->in + n, r->in_len - n);
    r->in_len -= n;
}

/* The next packet. Stray acks are skipped (hil__rsp_send_packet reads
 * the one it waits for); notifications ('%') are dropped. */
static hil_result hil__rsp_next(hil_rsp* r, uint64_t deadline, hil_strbuf* out, int* timed_out) {
    *timed_out = 0;
    for (;;) {
        size_t i = 0;
        while (i < r->in_len && r->in[i] != '$' && r->in[i] != '%') {
            if (r->in[i] == '+' || r->in[i] == '-') { /* a late or stray ack */ }
            else if (hil__rsp_junk(r, r->in + i, r->in_len - i) > 4096)
                return hil__rsp_garbage(r);
            i++;
        }
        if (i) hil__rsp_consume(r, i);
        if (r->in_len) {
            size_t used;
            hil_result res = hil_rsp_decode(r->in, r->in_len, r->max_packet, out, &used);
            if (res == HIL_OK) {
                int notification = r->in[0] == '%';
                hil__rsp_consume(r, used);
                r->garbage = 0;
                if (!r->no_ack && !notification) {
                    hil_result w = hil__rsp_write(r, "+", 1);
                    if (w) return w;
                }
                if (notification) continue;
                return HIL_OK;
            }
            if (res == HIL_ERR_CHECKSUM && !r->no_ack) { /* ask again */
                hil_result w;
                hil__rsp_consume(r, used);
                w = hil__rsp_write(r, "-", 1);
                if (w) return w;
                continue;
            }
            if (res != HIL_ERR_AGAIN)
                return hil__rsp_die(r, res == HIL_ERR_OVERFLOW ? HIL_ERR_OVERFLOW : HIL_ERR_PROTOCOL, "%s", hil_last_error());
        }
        {
            hil_result f = hil__rsp_fill(r, deadline, timed_out);
            if (f) return f;
        }
    }
}

static hil_result hil__rsp_send_packet(hil_rsp* r, const void* cmd, size_t len, uint64_t deadline) {
    int tries;
    hil_sb_clear(&r->tx);
    hil_rsp_encode(cmd, len, &r->tx);
    if (r->tx.failed) return hil_error(HIL_ERR_NO_MEMORY, "%s: out of memory", r->name);
    for (tries = 0; tries < 4; tries++) {
        hil_result res = hil__rsp_write(r, r->tx.data, r->tx.len);
        int acks = 0, naks = 0, to;
        if (res) return res;
        if (r->no_ack) return HIL_OK;
        /* wait for '+' (or '-': send again). A packet before the ack
         * cannot be the reply: it is stale (QEMU sends the stop of a
         * previous client's session to the next one), so it is dropped. */
        for (;;) {
            size_t i, used = 0;
            hil_result d = HIL_ERR_AGAIN;
            for (i = 0; i < r->in_len; i++) {
                if (r->in[i] == '+') { acks++; break; }
                if (r->in[i] == '-') { naks++; break; }
                if (r->in[i] == '$' || r->in[i] == '%') break;
                if (hil__rsp_junk(r, r->in + i, r->in_len - i) > 4096) return hil__rsp_garbage(r);
            }
            if (acks || naks) {
                hil__rsp_consume(r, i + 1);
                break;
            }
            if (i < r->in_len) {
                hil__rsp_consume(r, i);
                d = hil_rsp_decode(r->in, r->in_len, r->max_packet, &r->console, &used);
                if (d != HIL_ERR_AGAIN) {
                    hil__rsp_consume(r, used);
                    hil_sb_clear(&r->console);
                    if (d == HIL_OK && (res = hil__rsp_write(r, "+", 1)) != HIL_OK) return res;
                    continue;
                }
            }
            res = hil__rsp_fill(r, deadline, &to);
            if (to)
                return hil__rsp_die(r, HIL_ERR_TIMEOUT,
                                    "no acknowledgement within %d ms: the GDB server is busy with another client "
                                    "(a debugger or IDE attached?) or this is not a GDB server",
                                    hil_deadline_left_ms(deadline) + r->timeout_ms);
            if (res) return res;
        }
        if (acks) return HIL_OK;
    }
    if (r->garbage) return hil__rsp_garbage(r);
    return hil__rsp_die(r, HIL_ERR_PROTOCOL, "the server rejected a packet 4 times ('-'): a noisy line?");
}

HIL_API hil_result hil_rsp_send(hil_rsp* r, const void* cmd, size_t len) {
    if (!r || r->fd < 0) return r ? hil__rsp_dead(r) : hil_error(HIL_ERR_INVALID_ARG, "rsp: NULL");
    return hil__rsp_send_packet(r, cmd, len, hil_deadline_ms(r->timeout_ms));
}

HIL_API hil_result hil_rsp_recv(hil_rsp* r, hil_strbuf* packet, int timeout_ms) {
    int to;
    hil_result res;
    if (!r || r->fd < 0) return r ? hil__rsp_dead(r) : hil_error(HIL_ERR_INVALID_ARG, "rsp: NULL");
    res = hil__rsp_next(r, hil_deadline_ms(timeout_ms), packet, &to);
    if (to) return hil_error(HIL_ERR_TIMEOUT, "%s (%s): no packet within %d ms", r->name, r->where, timeout_ms);
    return res;
}

/* Console output packets: "O" + hex. "OK" is not one. */
static int hil__rsp_is_output(const hil_strbuf* p) {
    size_t i;
    if (p->len < 3 || p->data[0] != 'O' || (p->len - 1) % 2) return 0;
    for (i = 1; i < p->len; i++)
        if (hil__pr_hexval((unsigned char)p->data[i]) < 0) return 0;
    return 1;
}

HIL_API hil_result hil_rsp_request(hil_rsp* r, const void* cmd, size_t len, hil_strbuf* reply, int timeout_ms) {
    uint64_t deadline;
    hil_result res;
    if (!r) return hil_error(HIL_ERR_INVALID_ARG, "rsp: NULL");
    if (r->fd < 0) return hil__rsp_dead(r);
    deadline = hil_deadline_ms(timeout_ms < 0 ? r->timeout_ms : timeout_ms);
    res = hil__rsp_send_packet(r, cmd, len, deadline);
    if (res) return res;
    for (;;) {
        int to;
        res = hil__rsp_next(r, deadline, reply, &to);
        if (to)
            return hil__rsp_die(r, HIL_ERR_TIMEOUT, "no reply to '%.*s' within %d ms (the target or server hangs?)",
                                (int)(len > 24 ? 24 : len), (const char*)cmd, timeout_ms < 0 ? r->timeout_ms : timeout_ms);
        if (res) return res;
        if (hil__rsp_is_output(reply)) {
            char buf[512];
            size_t n = hil_rsp_unhex(reply->data + 1, reply->len - 1, buf, sizeof buf);
            hil_sb_append(&r->console, buf, n);
            continue;
        }
        return HIL_OK;
    }
}

HIL_API hil_result hil_rsp_interrupt(hil_rsp* r) {
    static const char ctrl_c = 3;
    if (!r || r->fd < 0) return r ? hil__rsp_dead(r) : hil_error(HIL_ERR_INVALID_ARG, "rsp: NULL");
    return hil__rsp_write(r, &ctrl_c, 1);
}

HIL_API size_t hil_rsp_packet_size(const hil_rsp* r) { return r->packet_size; }
HIL_API int hil_rsp_is_no_ack(const hil_rsp* r) { return r->no_ack; }
HIL_API int hil_rsp_is_open(const hil_rsp* r) { return r && r->fd >= 0; }
HIL_API const char* hil_rsp_where(const hil_rsp* r) { return r->where; }

HIL_API char* hil_rsp_take_console(hil_rsp* r) {
    char* s = hil_sb_take(&r->console);
    return s ? s : hil_strdup("");
}

HIL_API int hil_rsp_supports(const hil_rsp* r, const char* feature) {
    const char* s = r->features;
    size_t n = strlen(feature);
    while (s && *s) {
        const char* e = strchr(s, ';');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        if (len == n + 1 && memcmp(s, feature, n) == 0 && s[n] == '+') return 1;
        s = e ? e + 1 : NULL;
    }
    return 0;
}

static hil_result hil__rsp_connect_tcp(hil_rsp* r, const char* address, int timeout_ms) {
    char host[128], port[16];
    const char* colon = strrchr(address, ':');
    struct addrinfo hints, *res = NULL, *ai;
    int gai, last_err = 0;
    uint64_t deadline = hil_deadline_ms(timeout_ms);
    size_t hl;
    if (!colon || !colon[1] || (size_t)(colon - address) >= sizeof host || strlen(colon + 1) >= sizeof port)
        return hil_error(HIL_ERR_CONFIG, "%s: address '%s' is not host:port (e.g. 127.0.0.1:3333)", r->name, address);
    hl = (size_t)(colon - address);
    if (address[0] == '[' && hl >= 2 && address[hl - 1] == ']') {
        memcpy(host, address + 1, hl - 2);
        host[hl - 2] = 0;
    } else {
        memcpy(host, address, hl);
        host[hl] = 0;
    }
    strcpy(port, colon + 1);
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    gai = getaddrinfo(host[0] ? host : "127.0.0.1", port, &hints, &res);
    if (gai) return hil_error(HIL_ERR_CONFIG, "%s: cannot resolve '%s': %s", r->name, address, gai_strerror(gai));
    for (ai = res; ai; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        int one = 1;
        if (fd < 0) { last_err = errno; continue; }
        hil_set_cloexec(fd);
        hil_set_nonblocking(fd, 1);
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 && errno != EINPROGRESS) {
            last_err = errno;
            close(fd);
            continue;
        }
        {
            struct pollfd pfd;
            int err = 0;
            socklen_t el = sizeof err;
            pfd.fd = fd;
            pfd.events = POLLOUT;
            pfd.revents = 0;
            if (poll(&pfd, 1, hil_deadline_left_ms(deadline)) <= 0) {
                last_err = ETIMEDOUT;
                close(fd);
                continue;
            }
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el);
            if (err) {
                last_err = err;
                close(fd);
                continue;
            }
        }
        /* small request/reply packets: do not let Nagle hold them */
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        r->fd = fd;
        break;
    }
    freeaddrinfo(res);
    if (r->fd < 0) {
        if (last_err == ECONNREFUSED)
            return hil_error(HIL_ERR_IO,
                             "%s: no GDB server at %s (connection refused): start it (docs/probes.md) or fix the "
                             "address; gdbserver and QEMU also refuse a second client while one is attached",
                             r->name, address);
        return hil_error(HIL_ERR_IO, "%s: cannot connect to %s: %s", r->name, address, strerror(last_err));
    }
    return HIL_OK;
}

static speed_t hil__pr_speed(int baud) {
    switch (baud) {
    case 9600: return B9600;
    case 19200: return B19200;
    case 38400: return B38400;
    case 57600: return B57600;
    case 230400: return B230400;
#ifdef B460800
    case 460800: return B460800;
#endif
#ifdef B921600
    case 921600: return B921600;
#endif
    default: return B115200;
    }
}

static hil_result hil__rsp_open_serial(hil_rsp* r, const char* port, int baud) {
    struct termios t;
    int fd = open(port, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return hil_error(errno == EACCES ? HIL_ERR_PERMISSION : HIL_ERR_IO,
                         "%s: cannot open the probe's serial port %s: %s%s", r->name, port, strerror(errno),
                         errno == EACCES ? " (add yourself to the dialout group)"
                                         : " (is the Black Magic Probe plugged in? its GDB port is the first ttyACM)");
    if (tcgetattr(fd, &t) == 0) {
        cfmakeraw(&t);
        cfsetispeed(&t, hil__pr_speed(baud));
        cfsetospeed(&t, hil__pr_speed(baud));
        t.c_cflag |= CLOCAL | CREAD;
        tcsetattr(fd, TCSANOW, &t);
    }
    r->fd = fd;
    r->is_serial = 1;
    return HIL_OK;
}

HIL_API void hil_rsp_close(hil_rsp* r) {
    if (!r) return;
    if (r->fd >= 0) close(r->fd);
    HIL_FREE(r->features);
    HIL_FREE(r->in);
    hil_sb_free(&r->tx);
    hil_sb_free(&r->console);
    HIL_FREE(r);
}

HIL_API hil_result hil_rsp_connect(const hil_rsp_config* c, hil_rsp** out) {
    hil_rsp* r;
    hil_result res;
    hil_strbuf reply = {0, 0, 0, 0};
    static const char qsup[] = "qSupported:multiprocess-;swbreak+;hwbreak+;vContSupported+";
    const char* ps;
    *out = NULL;
    if (!c || ((!c->address || !*c->address) && (!c->port || !*c->port)))
        return hil_error(HIL_ERR_CONFIG, "%s: set the GDB server's address (host:port) or the probe's serial port",
                         c && c->name ? c->name : "probe");
    r = (hil_rsp*)calloc(1, sizeof *r);
    if (!r) return hil_error(HIL_ERR_NO_MEMORY, "probe: out of memory");
    r->fd = -1;
    snprintf(r->name, sizeof r->name, "probe '%s'", c->name ? c->name : "?");
    snprintf(r->where, sizeof r->where, "%s", c->address && *c->address ? c->address : c->port);
    r->timeout_ms = c->timeout_ms > 0 ? c->timeout_ms : 3000;
    r->max_packet = c->max_packet >= 1024 ? c->max_packet : HIL_RSP_MAX_PACKET_DEFAULT;
    r->packet_size = 400; /* until the server says */
    if (c->address && *c->address) res = hil__rsp_connect_tcp(r, c->address, c->connect_timeout_ms > 0 ? c->connect_timeout_ms : 3000);
    else res = hil__rsp_open_serial(r, c->port, c->baudrate);
    if (res) {
        hil_rsp_close(r);
        return res;
    }
    {   /* the first reply proves a GDB server answers and is free for us */
        int saved = r->timeout_ms;
        r->timeout_ms = c->connect_timeout_ms > 0 ? c->connect_timeout_ms : 3000;
        res = hil_rsp_request(r, qsup, sizeof qsup - 1, &reply, -1);
        r->timeout_ms = saved;
    }
    if (res) {
        char msg[600];
        hil__pr_keep_error(msg, sizeof msg);
        hil_rsp_close(r);
        return hil_error(res, "%s", msg);
    }
    r->features = hil_strndup(reply.data ? reply.data : "", reply.len);
    ps = strstr(r->features ? r->features : "", "PacketSize=");
    if (ps) {
        uint64_t v;
        const char* s = ps + 11;
        if (hil__pr_hexnum(&s, s + strlen(s), &v) > 0 && v >= 64) r->packet_size = v > r->max_packet ? r->max_packet : (size_t)v;
    }
    if (c->no_ack && hil_rsp_supports(r, "QStartNoAckMode")) {
        res = hil_rsp_request(r, "QStartNoAckMode", 15, &reply, -1);
        if (res) {
            char msg[600];
            hil__pr_keep_error(msg, sizeof msg);
            hil_sb_free(&reply);
            hil_rsp_close(r);
            return hil_error(res, "%s", msg);
        }
        if (reply.len == 2 && memcmp(reply.data, "OK", 2) == 0) r->no_ack = 1;
    }
    hil_sb_free(&reply);
    *out = r;
    return HIL_OK;
}

/* ==== probe: probes ======================================================= */

#define HIL__PR_MAX_BPS 64

struct hil_probe {
    char* name;
    char* logger;              /* "hil.probe.<name>" */
    hil_rsp* rsp;
    hil_probe_flavor flavor;
    hil_elf* elf;
    int machine;               /* e_machine of the target */
    int reg_size;              /* bytes of a general register */
    int pc_regnum;
    int bp_kind;
    int running;
    int exited;
    hil_rsp_stop last_stop;
    hil_mutex mu;
    int refs;                  /* registry references; 0: not in the registry */
    int timeout_ms;
    int use_x;                 /* -1 unknown, 0 M packets, 1 X packets */
    int on_close;              /* 0 detach, 1 kill, 2 nothing */
    char* cmd_reset_halt;
    char* cmd_halt;
    uint64_t bps[HIL__PR_MAX_BPS];
    int bp_hw[HIL__PR_MAX_BPS];
    size_t n_bps;
    hil_strbuf reply;
    hil_strbuf cmd;
};

static const hil_channel_opt hil__probe_opts[] = {
    {"type", HIL_OPT_CHOICE, "gdb", "The probe type: gdb (the GDB remote serial protocol; every common probe serves it)", "gdb"},
    {"address", HIL_OPT_STRING, NULL, "host:port of the probe's GDB server (OpenOCD 3333, J-Link 2331, pyOCD 3333, QEMU -gdb tcp::PORT), or qemu:<connector>: the GDB stub of that open qemu channel", NULL},
    {"port", HIL_OPT_STRING, NULL, "A serial device serving GDB instead of address (a Black Magic Probe: /dev/ttyACM0)", NULL},
    {"baudrate", HIL_OPT_INT, "115200", "Baud rate of that serial device (USB CDC ignores it)", NULL},
    {"flavor", HIL_OPT_CHOICE, "generic", "The GDB server: the few monitor commands that differ (reset, halt)", HIL_PROBE_FLAVORS},
    {"elf", HIL_OPT_PATH, NULL, "The firmware's ELF file: symbols for read_symbol, break_symbol and RTT", NULL},
    {"arch", HIL_OPT_CHOICE, NULL, "The target architecture (default: from the ELF, else arm)", "arm|aarch64|x86_64|i386|riscv32|riscv64"},
    {"timeout_ms", HIL_OPT_INT, "3000", "How long one request to the GDB server may take", NULL},
    {"connect_timeout_ms", HIL_OPT_INT, "3000", "How long connecting and the first reply may take", NULL},
    {"reset_halt_command", HIL_OPT_STRING, NULL, "A monitor command that resets and halts, replacing the flavor's", NULL},
    {"halt_command", HIL_OPT_STRING, NULL, "A monitor command that halts, used instead of Ctrl-C", NULL},
    {"bmp_scan", HIL_OPT_CHOICE, "swdp_scan", "bmp: the monitor command that finds the target before attaching", "swdp_scan|jtag_scan"},
    {"on_close", HIL_OPT_CHOICE, "detach", "What closing the probe does to the target: detach (it runs on), kill, none", "detach|kill|none"},
    {NULL, HIL_OPT_STRING, NULL, NULL, NULL}
};

static const char* const hil__pr_flavor_names[] = {"generic", "openocd", "jlink", "pyocd", "probe-rs", "qemu", "bmp", "gdbserver"};

HIL_API const char* hil_probe_flavor_str(hil_probe_flavor f) {
    return (unsigned)f < HIL__COUNTOF(hil__pr_flavor_names) ? hil__pr_flavor_names[f] : "?";
}

HIL_API void hil_probe_config_init(hil_probe_config* c) { memset(c, 0, sizeof *c); }
HIL_API void hil_flash_options_init(hil_flash_options* o) {
    memset(o, 0, sizeof *o);
    o->resume = 1;
    o->use_vflash = -1;
    o->timeout_ms = 120000;
}

static void hil__probe_declare_options(void) {
    static int done;
    hil_extension* ext;
    if (done) return;
    done = 1;
    ext = hil_extension_declare("probes", HIL_EXT_FRAMEWORK, NULL);
    if (!ext) return;
    ext->description = "Debug probes through the GDB remote serial protocol: probes.<name>.* (docs/probes.md)";
    hil__declare_type_options(ext, "probes", hil__probe_opts);
}

static hil_result hil__pr_err(hil_probe* p, hil_result r, const char* fmt, ...) HIL__PRINTF(3, 4);
static hil_result hil__pr_err(hil_probe* p, hil_result r, const char* fmt, ...) {
    char msg[800];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return hil_error(r, "probe '%s': %s", p->name, msg);
}

static void hil__pr_set_arch(hil_probe* p, int machine, int is64) {
    p->machine = machine;
    switch (machine) {
    case 62: p->reg_size = 8; p->pc_regnum = 16; p->bp_kind = 1; break;
    case 3: p->reg_size = 4; p->pc_regnum = 8; p->bp_kind = 1; break;
    case 183: p->reg_size = 8; p->pc_regnum = 32; p->bp_kind = 4; break;
    case 243: p->reg_size = is64 ? 8 : 4; p->pc_regnum = 32; p->bp_kind = 4; break;
    default: p->machine = 40; p->reg_size = 4; p->pc_regnum = 15; p->bp_kind = 2; break; /* Cortex-M: Thumb */
    }
}

/* A reply "Exx" (or "E.text"): the request failed on the target side. */
static int hil__pr_is_error(const hil_strbuf* b) {
    return b->len >= 2 && b->data[0] == 'E' &&
           (b->data[1] == '.' || (b->len == 3 && hil__pr_hexval((unsigned char)b->data[1]) >= 0 &&
                                  hil__pr_hexval((unsigned char)b->data[2]) >= 0));
}

static int hil__pr_is_ok(const hil_strbuf* b) { return b->len == 2 && memcmp(b->data, "OK", 2) == 0; }

static hil_result hil__pr_request(hil_probe* p, int timeout_ms) {
    if (p->exited) return hil__pr_err(p, HIL_ERR_CLOSED, "the program under gdbserver has exited; start it again");
    return hil_rsp_request(p->rsp, p->cmd.data, p->cmd.len, &p->reply, timeout_ms);
}

static hil_result hil__pr_need_halted(hil_probe* p, const char* what) {
    if (!hil_rsp_is_open(p->rsp)) return hil_rsp_request(p->rsp, "?", 1, &p->reply, -1); /* the reason it closed */
    if (p->exited) return hil__pr_err(p, HIL_ERR_CLOSED, "the program has exited: %s is not possible", what);
    if (p->running)
        return hil__pr_err(p, HIL_ERR_STATE, "the target is running: %s needs it halted (call hil_probe_halt() first)", what);
    return HIL_OK;
}

/* Wait for the stop reply of a running target. */
static hil_result hil__pr_wait_stop(hil_probe* p, int timeout_ms, int* timed_out) {
    uint64_t deadline = hil_deadline_ms(timeout_ms);
    *timed_out = 0;
    for (;;) {
        hil_result r;
        int to = 0;
        hil_rsp_stop st;
        if (!hil_rsp_is_open(p->rsp)) return hil_rsp_request(p->rsp, "?", 1, &p->reply, -1);
        r = hil__rsp_next(p->rsp, deadline, &p->reply, &to);
        if (to) {
            *timed_out = 1;
            return hil__pr_err(p, HIL_ERR_TIMEOUT, "the target did not stop within %d ms", timeout_ms);
        }
        if (r) return r;
        if (hil__rsp_is_output(&p->reply)) {
            char buf[512];
            size_t n = hil_rsp_unhex(p->reply.data + 1, p->reply.len - 1, buf, sizeof buf - 1);
            buf[n] = 0;
            hil_log_at(HIL_LOG_INFO, __FILE__, __LINE__, p->logger, "target output: %s", buf);
            continue;
        }
        if (hil_rsp_parse_stop(p->reply.data, p->reply.len, &st) != HIL_OK) {
            hil_log_at(HIL_LOG_DEBUG, __FILE__, __LINE__, p->logger, "ignored while waiting for a stop: %.40s",
                       hil_sb_cstr(&p->reply));
            continue;
        }
        p->last_stop = st;
        p->running = 0;
        if (st.kind == 'W' || st.kind == 'X') {
            p->exited = 1;
            if (st.kind == 'W')
                return hil__pr_err(p, HIL_ERR_CLOSED, "the program exited with status %d", st.exit_status);
            return hil__pr_err(p, HIL_ERR_CLOSED, "the program was killed by signal %d", st.signal);
        }
        return HIL_OK;
    }
}

static hil_result hil__pr_halt(hil_probe* p, int timeout_ms) {
    hil_result r;
    int to;
    if (!hil_rsp_is_open(p->rsp)) return hil__pr_need_halted(p, "halt");
    if (!p->running) return HIL_OK;
    r = hil_rsp_interrupt(p->rsp);
    if (r) return r;
    r = hil__pr_wait_stop(p, timeout_ms, &to);
    if (to) /* a target that ignores Ctrl-C leaves the connection in an unknown state */
        return hil__rsp_die(p->rsp, HIL_ERR_TIMEOUT, "the target did not stop within %d ms of Ctrl-C", timeout_ms);
    return r;
}

static hil_result hil__pr_z(hil_probe* p, int insert, uint64_t addr, int hardware);
static hil_result hil__pr_read_reg(hil_probe* p, int regnum, uint64_t* out);

static hil_result hil__pr_resume(hil_probe* p) {
    hil_result r = hil__pr_need_halted(p, "resume");
    if (r == HIL_ERR_STATE) return HIL_OK; /* running already */
    if (r) return r;
    if (p->n_bps) {
        /* stopped on one of our breakpoints: continuing would hit it again
         * at once, so step over it with it removed, as gdb does */
        uint64_t pc;
        size_t i;
        int to;
        r = hil__pr_read_reg(p, p->pc_regnum, &pc);
        if (r) return r;
        for (i = 0; i < p->n_bps; i++)
            if (p->bps[i] == pc) break;
        if (i < p->n_bps) {
            if ((r = hil__pr_z(p, 0, pc, p->bp_hw[i])) != HIL_OK) return r;
            if ((r = hil_rsp_send(p->rsp, "s", 1)) != HIL_OK) return r;
            p->running = 1;
            if ((r = hil__pr_wait_stop(p, p->timeout_ms, &to)) != HIL_OK) return r;
            if ((r = hil__pr_z(p, 1, pc, p->bp_hw[i])) != HIL_OK) return r;
        }
    }
    r = hil_rsp_send(p->rsp, "c", 1);
    if (r == HIL_OK) p->running = 1;
    return r;
}

static hil_result hil__pr_monitor(hil_probe* p, const char* cmd, hil_strbuf* output, int timeout_ms) {
    hil_result r = hil__pr_need_halted(p, "a monitor command");
    char* out;
    if (r) return r;
    hil_sb_clear(&p->cmd);
    hil_sb_puts(&p->cmd, "qRcmd,");
    hil_rsp_hex(cmd, strlen(cmd), &p->cmd);
    out = hil_rsp_take_console(p->rsp);
    HIL_FREE(out);
    r = hil__pr_request(p, timeout_ms);
    out = hil_rsp_take_console(p->rsp);
    if (r == HIL_OK && output) hil_sb_puts(output, out);
    if (r == HIL_OK && p->reply.len == 0)
        r = hil__pr_err(p, HIL_ERR_UNSUPPORTED, "the %s server has no monitor commands (qRcmd): 'monitor %s' failed",
                        hil_probe_flavor_str(p->flavor), cmd);
    else if (r == HIL_OK && !hil__pr_is_ok(&p->reply))
        r = hil__pr_err(p, HIL_ERR_IO, "'monitor %s' failed: %.40s%s%s", cmd, hil_sb_cstr(&p->reply), *out ? ": " : "", out);
    HIL_FREE(out);
    return r;
}

static hil_result hil__pr_read_mem(hil_probe* p, uint64_t addr, void* out, size_t len) {
    unsigned char* o = (unsigned char*)out;
    size_t chunk = (hil_rsp_packet_size(p->rsp) - 8) / 2;
    hil_result r = hil__pr_need_halted(p, "reading memory");
    if (r) return r;
    if (chunk < 16) chunk = 16;
    while (len) {
        size_t n = len < chunk ? len : chunk, got;
        hil_sb_clear(&p->cmd);
        hil_sb_printf(&p->cmd, "m%llx,%zx", (unsigned long long)addr, n);
        r = hil__pr_request(p, -1);
        if (r) return r;
        if (hil__pr_is_error(&p->reply) || p->reply.len == 0)
            return hil__pr_err(p, HIL_ERR_IO,
                               "reading %zu bytes at 0x%llx: the server answered '%s' (the address is out of range "
                               "or not readable)",
                               n, (unsigned long long)addr, p->reply.len ? hil_sb_cstr(&p->reply) : "(empty)");
        got = hil_rsp_unhex(p->reply.data, p->reply.len, o, n);
        if (got == 0 || got * 2 != p->reply.len)
            return hil__pr_err(p, HIL_ERR_PROTOCOL, "reading at 0x%llx: the reply '%.32s' is not hex",
                               (unsigned long long)addr, hil_sb_cstr(&p->reply));
        o += got;
        addr += got;
        len -= got;
    }
    return HIL_OK;
}

static hil_result hil__pr_write_mem(hil_probe* p, uint64_t addr, const void* data, size_t len) {
    const unsigned char* d = (const unsigned char*)data;
    size_t budget = hil_rsp_packet_size(p->rsp) - 40;
    hil_result r = hil__pr_need_halted(p, "writing memory");
    if (r) return r;
    if (p->use_x < 0) { /* as gdb does: an empty X tells whether binary writes work */
        hil_sb_clear(&p->cmd);
        hil_sb_printf(&p->cmd, "X%llx,0:", (unsigned long long)addr);
        r = hil__pr_request(p, -1);
        if (r) return r;
        p->use_x = hil__pr_is_ok(&p->reply);
    }
    while (len) {
        size_t n = 0, cost = 0;
        hil_sb_clear(&p->cmd);
        if (p->use_x) {
            while (n < len) {
                unsigned char c = d[n];
                size_t k = (c == '#' || c == '$' || c == '}' || c == '*') ? 2 : 1;
                if (cost + k > budget) break;
                cost += k;
                n++;
            }
            hil_sb_printf(&p->cmd, "X%llx,%zx:", (unsigned long long)addr, n);
            hil_sb_append(&p->cmd, d, n);
        } else {
            n = len < budget / 2 ? len : budget / 2;
            hil_sb_printf(&p->cmd, "M%llx,%zx:", (unsigned long long)addr, n);
            hil_rsp_hex(d, n, &p->cmd);
        }
        if (p->cmd.failed) return hil__pr_err(p, HIL_ERR_NO_MEMORY, "out of memory");
        r = hil__pr_request(p, -1);
        if (r) return r;
        if (!hil__pr_is_ok(&p->reply))
            return hil__pr_err(p, HIL_ERR_IO,
                               "writing %zu bytes at 0x%llx: the server answered '%s' (the address is out of range "
                               "or read-only; flash needs the server's flash support)",
                               n, (unsigned long long)addr, p->reply.len ? hil_sb_cstr(&p->reply) : "(empty)");
        d += n;
        addr += n;
        len -= n;
    }
    return HIL_OK;
}

static hil_result hil__pr_read_reg(hil_probe* p, int regnum, uint64_t* out) {
    unsigned char b[16];
    size_t n;
    hil_result r = hil__pr_need_halted(p, "reading a register");
    if (r) return r;
    hil_sb_clear(&p->cmd);
    hil_sb_printf(&p->cmd, "p%x", (unsigned)regnum);
    r = hil__pr_request(p, -1);
    if (r) return r;
    if (p->reply.len == 0) { /* no 'p': the 'g' block, whose first registers are uniform */
        hil_sb_clear(&p->cmd);
        hil_sb_puts(&p->cmd, "g");
        r = hil__pr_request(p, -1);
        if (r) return r;
        if ((size_t)(regnum + 1) * (size_t)p->reg_size * 2 > p->reply.len)
            return hil__pr_err(p, HIL_ERR_UNSUPPORTED, "register %d: the server has no 'p' and 'g' does not reach it", regnum);
        n = hil_rsp_unhex(p->reply.data + (size_t)regnum * p->reg_size * 2, (size_t)p->reg_size * 2, b, sizeof b);
    } else if (hil__pr_is_error(&p->reply)) {
        return hil__pr_err(p, HIL_ERR_IO, "reading register %d: the server answered '%s' (no such register?)", regnum,
                           hil_sb_cstr(&p->reply));
    } else {
        n = hil_rsp_unhex(p->reply.data, p->reply.len, b, sizeof b);
    }
    if (n == 0 || n > 8) return hil__pr_err(p, HIL_ERR_PROTOCOL, "register %d: reply '%.32s'", regnum, hil_sb_cstr(&p->reply));
    *out = hil__pr_le(b, (int)n);
    return HIL_OK;
}

static hil_result hil__pr_write_reg(hil_probe* p, int regnum, uint64_t value) {
    unsigned char b[8];
    hil_result r = hil__pr_need_halted(p, "writing a register");
    if (r) return r;
    hil__pr_put_le(b, value, p->reg_size);
    hil_sb_clear(&p->cmd);
    hil_sb_printf(&p->cmd, "P%x=", (unsigned)regnum);
    hil_rsp_hex(b, (size_t)p->reg_size, &p->cmd);
    r = hil__pr_request(p, -1);
    if (r) return r;
    if (p->reply.len == 0) {
        /* no 'P' (QEMU answers it only after the target description was
         * read): rewrite the whole 'g' block with 'G' */
        size_t off = (size_t)regnum * (size_t)p->reg_size * 2;
        hil_strbuf hex = {0, 0, 0, 0};
        hil_sb_clear(&p->cmd);
        hil_sb_puts(&p->cmd, "g");
        if ((r = hil__pr_request(p, -1)) != HIL_OK) return r;
        if (off + (size_t)p->reg_size * 2 > p->reply.len || hil__pr_is_error(&p->reply))
            return hil__pr_err(p, HIL_ERR_UNSUPPORTED, "register %d: the server has no 'P' and 'g' does not reach it", regnum);
        hil_rsp_hex(b, (size_t)p->reg_size, &hex);
        hil_sb_clear(&p->cmd);
        hil_sb_putc(&p->cmd, 'G');
        hil_sb_append(&p->cmd, p->reply.data, off);
        hil_sb_append(&p->cmd, hex.data, hex.len);
        hil_sb_append(&p->cmd, p->reply.data + off + hex.len, p->reply.len - off - hex.len);
        hil_sb_free(&hex);
        if ((r = hil__pr_request(p, -1)) != HIL_OK) return r;
    }
    if (!hil__pr_is_ok(&p->reply))
        return hil__pr_err(p, HIL_ERR_IO, "writing register %d: the server answered '%s'", regnum,
                           p->reply.len ? hil_sb_cstr(&p->reply) : "(empty: neither 'P' nor 'G' is supported)");
    return HIL_OK;
}

static hil_result hil__pr_z(hil_probe* p, int insert, uint64_t addr, int hardware) {
    hil_result r = hil__pr_need_halted(p, insert ? "setting a breakpoint" : "removing a breakpoint");
    if (r) return r;
    hil_sb_clear(&p->cmd);
    hil_sb_printf(&p->cmd, "%c%d,%llx,%d", insert ? 'Z' : 'z', hardware ? 1 : 0, (unsigned long long)addr, p->bp_kind);
    r = hil__pr_request(p, -1);
    if (r) return r;
    if (p->reply.len == 0)
        return hil__pr_err(p, HIL_ERR_UNSUPPORTED, "the server has no %s breakpoints (Z%d): try %s", hardware ? "hardware" : "software",
                           hardware ? 1 : 0, hardware ? "a software one" : "a hardware one");
    if (!hil__pr_is_ok(&p->reply))
        return hil__pr_err(p, HIL_ERR_IO, "%s a breakpoint at 0x%llx: the server answered '%s'%s", insert ? "setting" : "removing",
                           (unsigned long long)addr, hil_sb_cstr(&p->reply),
                           hardware ? " (all hardware breakpoints in use?)" : " (not writable memory, e.g. flash without the server's help?)");
    return HIL_OK;
}

static hil_result hil__pr_symbol(hil_probe* p, const char* name, uint64_t* addr, uint64_t* size) {
    const hil_elf_symbol* s;
    if (!p->elf)
        return hil__pr_err(p, HIL_ERR_STATE, "no ELF file to look up '%s' in: set probes.%s.elf or call hil_probe_set_elf()",
                           name, p->name);
    s = hil_elf_symbol_find(p->elf, name);
    if (!s)
        return hil__pr_err(p, HIL_ERR_NOT_FOUND,
                           "symbol '%s' is not in %s (%zu symbols): check the name; a static or unused one may have "
                           "been optimised away",
                           name, p->elf->path, p->elf->n_symbols);
    if (addr) *addr = s->value;
    if (size) *size = s->size;
    return HIL_OK;
}

static hil_result hil__pr_reset(hil_probe* p, int halt, int timeout_ms) {
    hil_result r;
    const char* cmd = p->cmd_reset_halt;
    r = hil__pr_halt(p, timeout_ms);
    if (r) return r;
    if (!cmd) {
        switch (p->flavor) {
        case HIL_PROBE_OPENOCD: case HIL_PROBE_PYOCD: case HIL_PROBE_PROBE_RS: cmd = "reset halt"; break;
        case HIL_PROBE_JLINK: cmd = "reset"; break;
        case HIL_PROBE_QEMU: cmd = "system_reset"; break;
        case HIL_PROBE_GDBSERVER:
            return hil__pr_err(p, HIL_ERR_UNSUPPORTED, "gdbserver cannot reset a Linux process: start the program again");
        default: cmd = NULL; break;
        }
    }
    if (cmd) {
        r = hil__pr_monitor(p, cmd, NULL, timeout_ms);
        if (r) return r;
    } else if (p->machine == 40) {
        /* bmp and generic: the Cortex-M way, through memory writes. DEMCR
         * VC_CORERESET makes the core stop at the reset vector. */
        uint32_t demcr = 0;
        unsigned char b[4];
        r = hil__pr_read_mem(p, 0xE000EDFCu, b, 4);
        if (r) return r;
        demcr = (uint32_t)hil__pr_le(b, 4) | 1u;
        hil__pr_put_le(b, demcr, 4);
        if ((r = hil__pr_write_mem(p, 0xE000EDFCu, b, 4)) != HIL_OK) return r;
        hil__pr_put_le(b, 0x05FA0004u, 4); /* AIRCR: VECTKEY | SYSRESETREQ */
        if ((r = hil__pr_write_mem(p, 0xE000ED0Cu, b, 4)) != HIL_OK) return r;
    } else {
        return hil__pr_err(p, HIL_ERR_UNSUPPORTED, "no reset for flavor %s on %s: set probes.%s.reset_halt_command",
                           hil_probe_flavor_str(p->flavor), hil_elf_machine_str(p->machine), p->name);
    }
    return halt ? HIL_OK : hil__pr_resume(p);
}

/* ---- the public calls: each holds the probe's lock ---- */

#define HIL__PR_LOCKED(p, expr) \
    do { hil_result hil__r; if (!(p)) return hil_error(HIL_ERR_INVALID_ARG, "probe: NULL"); \
         hil_mutex_lock(&(p)->mu); hil__r = (expr); hil_mutex_unlock(&(p)->mu); return hil__r; } while (0)

HIL_API int hil_probe_is_running(hil_probe* p) {
    int r;
    hil_mutex_lock(&p->mu);
    r = p->running;
    hil_mutex_unlock(&p->mu);
    return r;
}
HIL_API hil_result hil_probe_halt(hil_probe* p, int timeout_ms) {
    HIL__PR_LOCKED(p, hil__pr_halt(p, timeout_ms < 0 ? p->timeout_ms : timeout_ms));
}
HIL_API hil_result hil_probe_resume(hil_probe* p) { HIL__PR_LOCKED(p, hil__pr_resume(p)); }

static hil_result hil__pr_step(hil_probe* p, int timeout_ms) {
    int to;
    hil_result r = hil__pr_need_halted(p, "a single step");
    if (r) return r;
    if ((r = hil_rsp_send(p->rsp, "s", 1)) != HIL_OK) return r;
    p->running = 1;
    r = hil__pr_wait_stop(p, timeout_ms, &to);
    if (to) return hil__pr_halt(p, timeout_ms) ? r : hil__pr_err(p, HIL_ERR_TIMEOUT, "a single step did not finish");
    return r;
}
HIL_API hil_result hil_probe_step(hil_probe* p, int timeout_ms) {
    HIL__PR_LOCKED(p, hil__pr_step(p, timeout_ms < 0 ? p->timeout_ms : timeout_ms));
}

static hil_result hil__pr_wait_halt(hil_probe* p, int timeout_ms, hil_rsp_stop* stop) {
    hil_result r = HIL_OK;
    int to;
    if (p->running) r = hil__pr_wait_stop(p, timeout_ms, &to);
    else if (!hil_rsp_is_open(p->rsp)) r = hil__pr_need_halted(p, "waiting");
    if (stop) *stop = p->last_stop;
    return r;
}
HIL_API hil_result hil_probe_wait_halt(hil_probe* p, int timeout_ms, hil_rsp_stop* stop) {
    HIL__PR_LOCKED(p, hil__pr_wait_halt(p, timeout_ms, stop));
}
HIL_API void hil_probe_last_stop(hil_probe* p, hil_rsp_stop* out) {
    hil_mutex_lock(&p->mu);
    *out = p->last_stop;
    hil_mutex_unlock(&p->mu);
}
HIL_API hil_result hil_probe_reset(hil_probe* p, int halt, int timeout_ms) {
    HIL__PR_LOCKED(p, hil__pr_reset(p, halt, timeout_ms < 0 ? p->timeout_ms : timeout_ms));
}
HIL_API hil_result hil_probe_monitor(hil_probe* p, const char* cmd, hil_strbuf* output, int timeout_ms) {
    HIL__PR_LOCKED(p, hil__pr_monitor(p, cmd, output, timeout_ms < 0 ? p->timeout_ms : timeout_ms));
}
HIL_API hil_result hil_probe_read_mem(hil_probe* p, uint64_t addr, void* out, size_t len) {
    HIL__PR_LOCKED(p, hil__pr_read_mem(p, addr, out, len));
}
HIL_API hil_result hil_probe_write_mem(hil_probe* p, uint64_t addr, const void* data, size_t len) {
    HIL__PR_LOCKED(p, hil__pr_write_mem(p, addr, data, len));
}
HIL_API hil_result hil_probe_read_u32(hil_probe* p, uint64_t addr, uint32_t* out) {
    unsigned char b[4];
    hil_result r = hil_probe_read_mem(p, addr, b, 4);
    *out = r ? 0 : (uint32_t)hil__pr_le(b, 4);
    return r;
}
HIL_API hil_result hil_probe_write_u32(hil_probe* p, uint64_t addr, uint32_t value) {
    unsigned char b[4];
    hil__pr_put_le(b, value, 4);
    return hil_probe_write_mem(p, addr, b, 4);
}
HIL_API hil_result hil_probe_read_reg(hil_probe* p, int regnum, uint64_t* out) {
    HIL__PR_LOCKED(p, hil__pr_read_reg(p, regnum, out));
}
HIL_API hil_result hil_probe_write_reg(hil_probe* p, int regnum, uint64_t value) {
    HIL__PR_LOCKED(p, hil__pr_write_reg(p, regnum, value));
}
HIL_API int hil_probe_pc_regnum(const hil_probe* p) { return p->pc_regnum; }
HIL_API hil_result hil_probe_read_pc(hil_probe* p, uint64_t* out) { return hil_probe_read_reg(p, p->pc_regnum, out); }
HIL_API hil_result hil_probe_write_pc(hil_probe* p, uint64_t value) { return hil_probe_write_reg(p, p->pc_regnum, value); }

static hil_result hil__pr_break(hil_probe* p, uint64_t addr, int hardware) {
    size_t i;
    hil_result r;
    for (i = 0; i < p->n_bps; i++)
        if (p->bps[i] == addr) return HIL_OK;
    if (p->n_bps == HIL__PR_MAX_BPS) return hil__pr_err(p, HIL_ERR_OVERFLOW, "more than %d breakpoints", HIL__PR_MAX_BPS);
    r = hil__pr_z(p, 1, addr, hardware);
    if (r) return r;
    p->bps[p->n_bps] = addr;
    p->bp_hw[p->n_bps++] = hardware;
    return HIL_OK;
}
static hil_result hil__pr_unbreak(hil_probe* p, uint64_t addr) {
    size_t i;
    for (i = 0; i < p->n_bps; i++)
        if (p->bps[i] == addr) {
            hil_result r = hil__pr_z(p, 0, addr, p->bp_hw[i]);
            p->bps[i] = p->bps[p->n_bps - 1];
            p->bp_hw[i] = p->bp_hw[p->n_bps - 1];
            p->n_bps--;
            return r;
        }
    return hil__pr_err(p, HIL_ERR_NOT_FOUND, "no breakpoint at 0x%llx", (unsigned long long)addr);
}
HIL_API hil_result hil_probe_break(hil_probe* p, uint64_t addr, int hardware) { HIL__PR_LOCKED(p, hil__pr_break(p, addr, hardware)); }
HIL_API hil_result hil_probe_unbreak(hil_probe* p, uint64_t addr) { HIL__PR_LOCKED(p, hil__pr_unbreak(p, addr)); }

static hil_result hil__pr_break_symbol(hil_probe* p, const char* symbol, int hardware, uint64_t* addr) {
    uint64_t a = 0;
    hil_result r = hil__pr_symbol(p, symbol, &a, NULL);
    if (r) return r;
    if (p->machine == 40) a &= ~(uint64_t)1; /* the Thumb bit is not part of the address */
    if (addr) *addr = a;
    return hil__pr_break(p, a, hardware);
}
HIL_API hil_result hil_probe_break_symbol(hil_probe* p, const char* symbol, int hardware, uint64_t* addr) {
    HIL__PR_LOCKED(p, hil__pr_break_symbol(p, symbol, hardware, addr));
}

static hil_result hil__pr_run_to(hil_probe* p, const char* symbol, int timeout_ms) {
    uint64_t a = 0, pc = 0;
    int to;
    hil_result r, r2;
    if ((r = hil__pr_halt(p, p->timeout_ms)) != HIL_OK) return r;
    if ((r = hil__pr_break_symbol(p, symbol, 0, &a)) != HIL_OK) return r;
    r = hil__pr_resume(p);
    if (r == HIL_OK) {
        r = hil__pr_wait_stop(p, timeout_ms, &to);
        if (to) {
            r2 = hil__pr_halt(p, p->timeout_ms);
            if (r2 == HIL_OK)
                r = hil__pr_err(p, HIL_ERR_TIMEOUT, "'%s' (0x%llx) was not reached within %d ms", symbol, (unsigned long long)a, timeout_ms);
        }
    }
    if (r == HIL_OK && (r = hil__pr_read_reg(p, p->pc_regnum, &pc)) == HIL_OK && pc != a)
        r = hil__pr_err(p, HIL_ERR_STATE, "the target stopped at 0x%llx (signal %d), not at '%s' (0x%llx)",
                        (unsigned long long)pc, p->last_stop.signal, symbol, (unsigned long long)a);
    if (hil_rsp_is_open(p->rsp) && !p->running) {
        char keep[900];
        hil__pr_keep_error(keep, sizeof keep);
        r2 = hil__pr_unbreak(p, a);
        if (r) hil_error(r, "%s", keep);
        else r = r2;
    }
    return r;
}
HIL_API hil_result hil_probe_run_to(hil_probe* p, const char* symbol, int timeout_ms) {
    HIL__PR_LOCKED(p, hil__pr_run_to(p, symbol, timeout_ms));
}

static hil_result hil__pr_set_elf(hil_probe* p, const char* path) {
    hil_elf* e;
    hil_result r = hil_elf_load(path, &e);
    if (r) return hil__pr_err(p, r, "%s", hil_last_error());
    hil_elf_free(p->elf);
    p->elf = e;
    hil__pr_set_arch(p, e->machine, e->is64);
    return HIL_OK;
}
HIL_API hil_result hil_probe_set_elf(hil_probe* p, const char* path) { HIL__PR_LOCKED(p, hil__pr_set_elf(p, path)); }
HIL_API const hil_elf* hil_probe_elf(hil_probe* p) { return p->elf; }
HIL_API hil_result hil_probe_symbol(hil_probe* p, const char* name, uint64_t* addr, uint64_t* size) {
    HIL__PR_LOCKED(p, hil__pr_symbol(p, name, addr, size));
}

static hil_result hil__pr_rw_symbol(hil_probe* p, const char* name, void* buf, size_t size, int write) {
    uint64_t a = 0, sz = 0;
    hil_result r = hil__pr_symbol(p, name, &a, &sz);
    if (r) return r;
    if (sz && size > sz)
        return hil__pr_err(p, HIL_ERR_INVALID_ARG, "'%s' has %llu bytes in %s, not %zu", name, (unsigned long long)sz,
                           p->elf->path, size);
    return write ? hil__pr_write_mem(p, a, buf, size) : hil__pr_read_mem(p, a, buf, size);
}
HIL_API hil_result hil_probe_read_symbol(hil_probe* p, const char* name, void* out, size_t size) {
    HIL__PR_LOCKED(p, hil__pr_rw_symbol(p, name, out, size, 0));
}
HIL_API hil_result hil_probe_write_symbol(hil_probe* p, const char* name, const void* data, size_t size) {
    HIL__PR_LOCKED(p, hil__pr_rw_symbol(p, name, (void*)(uintptr_t)data, size, 1));
}

HIL_API const char* hil_probe_name(const hil_probe* p) { return p->name; }
HIL_API hil_rsp* hil_probe_rsp(hil_probe* p) { return p->rsp; }
HIL_API hil_probe_flavor hil_probe_get_flavor(const hil_probe* p) { return p->flavor; }

/* ---- create / destroy ---- */

static const char* hil__pr_opt(hil_config* cfg, const char* name, const char* key, const char* field) {
    char k[256];
    if (field && *field) return field;
    if (!cfg) return NULL;
    snprintf(k, sizeof k, "probes.%s.%s", name, key);
    return hil_config_get(cfg, k, NULL);
}

static int hil__pr_choice(const char* v, const char* const* names, size_t n) {
    size_t i;
    for (i = 0; v && i < n; i++)
        if (strcmp(v, names[i]) == 0) return (int)i;
    return -1;
}

HIL_API void hil_probe_destroy(hil_probe* p) {
    if (!p) return;
    if (hil_rsp_is_open(p->rsp) && !p->exited) {
        /* best effort, short: a dead server must not hold up teardown */
        int saved = p->rsp->timeout_ms;
        p->rsp->timeout_ms = 1000;
        if (p->on_close != 2) {
            if (p->running) (void)hil__pr_halt(p, 1000);
            while (p->n_bps && hil_rsp_is_open(p->rsp) && !p->running) (void)hil__pr_unbreak(p, p->bps[0]);
            if (hil_rsp_is_open(p->rsp) && !p->running) {
                if (p->on_close == 1) (void)hil_rsp_send(p->rsp, "k", 1);
                else (void)hil_rsp_request(p->rsp, "D", 1, &p->reply, 1000);
            }
        }
        p->rsp->timeout_ms = saved;
    }
    hil_rsp_close(p->rsp);
    hil_elf_free(p->elf);
    HIL_FREE(p->name);
    HIL_FREE(p->logger);
    HIL_FREE(p->cmd_reset_halt);
    HIL_FREE(p->cmd_halt);
    hil_sb_free(&p->reply);
    hil_sb_free(&p->cmd);
    hil_mutex_destroy(&p->mu);
    HIL_FREE(p);
}

HIL_API hil_result hil_probe_create(const hil_probe_config* c, hil_probe** out) {
    hil_probe* p;
    hil_rsp_config rc;
    const char *name, *v;
    hil_result r;
    char num[32];
#ifndef HIL_NO_QEMU
    char qemu_addr[96];
#endif
    *out = NULL;
    hil__probe_declare_options();
    if (!c) return hil_error(HIL_ERR_INVALID_ARG, "probe: no configuration");
    name = c->name && *c->name ? c->name : "probe";
    p = (hil_probe*)calloc(1, sizeof *p);
    if (!p) return hil_error(HIL_ERR_NO_MEMORY, "probe: out of memory");
    hil_mutex_init(&p->mu);
    p->name = hil_strdup(name);
    {
        char lg[200];
        snprintf(lg, sizeof lg, "hil.probe.%s", name);
        p->logger = hil_strdup(lg);
    }
    p->use_x = -1;
    hil__pr_set_arch(p, 40, 0);
    v = hil__pr_opt(c->config, name, "flavor", c->flavor);
    if (v) {
        int f = hil__pr_choice(v, hil__pr_flavor_names, HIL__COUNTOF(hil__pr_flavor_names));
        if (f < 0) {
            hil_probe_destroy(p);
            return hil_error(HIL_ERR_CONFIG, "probe '%s': flavor '%s' is not one of %s", name, v, HIL_PROBE_FLAVORS);
        }
        p->flavor = (hil_probe_flavor)f;
    }
    v = hil__pr_opt(c->config, name, "on_close", NULL);
    p->on_close = v && strcmp(v, "kill") == 0 ? 1 : v && strcmp(v, "none") == 0 ? 2 : 0;
    v = hil__pr_opt(c->config, name, "reset_halt_command", NULL);
    if (v) p->cmd_reset_halt = hil_strdup(v);
    v = hil__pr_opt(c->config, name, "halt_command", NULL);
    if (v) p->cmd_halt = hil_strdup(v);
    snprintf(num, sizeof num, "%d", c->timeout_ms);
    v = hil__pr_opt(c->config, name, "timeout_ms", c->timeout_ms > 0 ? num : NULL);
    p->timeout_ms = v ? atoi(v) : 3000;
    if (p->timeout_ms <= 0) p->timeout_ms = 3000;
    v = hil__pr_opt(c->config, name, "elf", c->elf);
    if (v && *v && (r = hil__pr_set_elf(p, v)) != HIL_OK) {
        hil_probe_destroy(p);
        return r;
    }
    v = hil__pr_opt(c->config, name, "arch", c->arch);
    if (v && *v) {
        static const char* const arches[] = {"arm", "aarch64", "x86_64", "i386", "riscv32", "riscv64"};
        static const int machines[] = {40, 183, 62, 3, 243, 243};
        int a = hil__pr_choice(v, arches, HIL__COUNTOF(arches));
        if (a < 0) {
            hil_probe_destroy(p);
            return hil_error(HIL_ERR_CONFIG, "probe '%s': arch '%s' is not one of arm, aarch64, x86_64, i386, riscv32, riscv64", name, v);
        }
        hil__pr_set_arch(p, machines[a], a == 5);
    }
    hil_rsp_config_init(&rc);
    rc.name = name;
    rc.address = hil__pr_opt(c->config, name, "address", c->address);
    if (rc.address && strncmp(rc.address, "qemu:", 5) == 0) {
#ifndef HIL_NO_QEMU
        /* an emulated board's stub: the port the qemu channel listens on */
        if ((r = hil_qemu_gdb_address_of(rc.address + 5, qemu_addr, sizeof qemu_addr)) != HIL_OK) {
            hil_probe_destroy(p);
            return hil_error(r, "probe '%s': address %s: %s", name, rc.address, hil_last_error());
        }
        rc.address = qemu_addr;
#else
        hil_probe_destroy(p);
        return hil_error(HIL_ERR_UNSUPPORTED, "probe '%s': address %s: compiled with HIL_NO_QEMU", name, rc.address);
#endif
    }
    rc.port = hil__pr_opt(c->config, name, "port", c->port);
    v = hil__pr_opt(c->config, name, "baudrate", NULL);
    rc.baudrate = c->baudrate > 0 ? c->baudrate : v ? atoi(v) : 115200;
    rc.timeout_ms = p->timeout_ms;
    snprintf(num, sizeof num, "%d", c->connect_timeout_ms);
    v = hil__pr_opt(c->config, name, "connect_timeout_ms", c->connect_timeout_ms > 0 ? num : NULL);
    rc.connect_timeout_ms = v ? atoi(v) : 3000;
    if ((!rc.address || !*rc.address) && (!rc.port || !*rc.port)) {
        hil_probe_destroy(p);
        return hil_error(HIL_ERR_CONFIG,
                         "probe '%s': set probes.%s.address (host:port of the GDB server) or probes.%s.port (a serial "
                         "device, e.g. a Black Magic Probe)", name, name, name);
    }
    r = hil_rsp_connect(&rc, &p->rsp);
    if (r) {
        hil_probe_destroy(p);
        return r;
    }
    /* '?': halted (a stop reply) or already gone (W/X) */
    r = hil_rsp_request(p->rsp, "?", 1, &p->reply, -1);
    if (r == HIL_OK) {
        hil_rsp_stop st;
        if (hil_rsp_parse_stop(p->reply.data, p->reply.len, &st) == HIL_OK) {
            p->last_stop = st;
            /* a Black Magic Probe says W before it is attached to a target */
            if ((st.kind == 'W' || st.kind == 'X') && p->flavor != HIL_PROBE_BMP) p->exited = 1;
        } else if (p->reply.len) {
            r = hil_error(HIL_ERR_PROTOCOL, "probe '%s' (%s): '?' was answered '%.40s', not a stop reply", name,
                          hil_rsp_where(p->rsp), hil_sb_cstr(&p->reply));
        }
    }
    if (r == HIL_OK && p->flavor == HIL_PROBE_BMP) {
        /* a Black Magic Probe serves no target until it scanned the bus
         * and attached to the first one it found */
        hil_strbuf scan = {0, 0, 0, 0};
        v = hil__pr_opt(c->config, name, "bmp_scan", NULL);
        r = hil__pr_monitor(p, v && *v ? v : "swdp_scan", &scan, p->timeout_ms);
        if (r == HIL_OK) {
            r = hil_rsp_request(p->rsp, "vAttach;1", 9, &p->reply, -1);
            if (r == HIL_OK && hil_rsp_parse_stop(p->reply.data, p->reply.len, &p->last_stop) != HIL_OK)
                r = hil_error(HIL_ERR_IO, "probe '%s' (%s): no target found (%s answered '%.40s'; the scan said: %.200s): "
                              "is the target powered and wired (SWD or JTAG)?", name, hil_rsp_where(p->rsp),
                              "vAttach;1", hil_sb_cstr(&p->reply), hil_sb_cstr(&scan));
        }
        hil_sb_free(&scan);
    }
    if (r) {
        hil_probe_destroy(p);
        return r;
    }
    hil_log_at(HIL_LOG_DEBUG, __FILE__, __LINE__, p->logger, "connected to %s (%s), PacketSize %zu, %s", hil_rsp_where(p->rsp),
               hil_probe_flavor_str(p->flavor), hil_rsp_packet_size(p->rsp), hil_rsp_is_no_ack(p->rsp) ? "no-ack" : "acks");
    *out = p;
    return HIL_OK;
}

static hil_result hil__probe_create_cfg(const char* name, hil_config* cfg, hil_probe** out) {
    hil_probe_config c;
    char k[256];
    const char* type;
    hil_probe_config_init(&c);
    c.name = name;
    c.config = cfg;
    snprintf(k, sizeof k, "probes.%s.type", name);
    type = hil_config_get(cfg, k, "gdb");
    if (strcmp(type, "gdb") != 0)
        return hil_error(HIL_ERR_CONFIG, "probe '%s': type '%s' is unknown (the one type is gdb)", name, type);
    return hil_probe_create(&c, out);
}

HIL_API hil_result hil_probe_from_config(const char* name, hil_probe** out) {
    return hil__probe_create_cfg(name, hil_cfg(), out);
}

/* ---- the registry ---- */

static hil_probe* hil__pr_registry[32];
static pthread_mutex_t hil__pr_registry_mu = PTHREAD_MUTEX_INITIALIZER;

static hil_result hil__probe_get_cfg(const char* name, hil_config* cfg, hil_probe** out) {
    size_t i;
    hil_result r;
    *out = NULL;
    pthread_mutex_lock(&hil__pr_registry_mu);
    for (i = 0; i < HIL__COUNTOF(hil__pr_registry); i++)
        if (hil__pr_registry[i] && strcmp(hil__pr_registry[i]->name, name) == 0) {
            hil__pr_registry[i]->refs++;
            *out = hil__pr_registry[i];
            pthread_mutex_unlock(&hil__pr_registry_mu);
            return HIL_OK;
        }
    for (i = 0; i < HIL__COUNTOF(hil__pr_registry) && hil__pr_registry[i]; i++) {}
    if (i == HIL__COUNTOF(hil__pr_registry)) {
        pthread_mutex_unlock(&hil__pr_registry_mu);
        return hil_error(HIL_ERR_OVERFLOW, "probe '%s': more than 32 probes open", name);
    }
    r = hil__probe_create_cfg(name, cfg ? cfg : hil_cfg(), out);
    if (r == HIL_OK) {
        (*out)->refs = 1;
        hil__pr_registry[i] = *out;
    }
    pthread_mutex_unlock(&hil__pr_registry_mu);
    return r;
}

HIL_API hil_result hil_probe_get(const char* name, hil_probe** out) { return hil__probe_get_cfg(name, NULL, out); }

HIL_API hil_result hil_probe_register(hil_probe* p) {
    size_t i, free_slot = HIL__COUNTOF(hil__pr_registry);
    pthread_mutex_lock(&hil__pr_registry_mu);
    for (i = 0; i < HIL__COUNTOF(hil__pr_registry); i++) {
        if (hil__pr_registry[i] && strcmp(hil__pr_registry[i]->name, p->name) == 0) {
            pthread_mutex_unlock(&hil__pr_registry_mu);
            return hil_error(HIL_ERR_EXISTS, "probe '%s' is registered already", p->name);
        }
        if (!hil__pr_registry[i] && free_slot == HIL__COUNTOF(hil__pr_registry)) free_slot = i;
    }
    if (free_slot == HIL__COUNTOF(hil__pr_registry)) {
        pthread_mutex_unlock(&hil__pr_registry_mu);
        return hil_error(HIL_ERR_OVERFLOW, "probe '%s': more than 32 probes open", p->name);
    }
    p->refs = 1;
    hil__pr_registry[free_slot] = p;
    pthread_mutex_unlock(&hil__pr_registry_mu);
    return HIL_OK;
}

HIL_API void hil_probe_release(hil_probe* p) {
    size_t i;
    int last = 0;
    if (!p) return;
    pthread_mutex_lock(&hil__pr_registry_mu);
    for (i = 0; i < HIL__COUNTOF(hil__pr_registry); i++)
        if (hil__pr_registry[i] == p) {
            if (--p->refs == 0) {
                hil__pr_registry[i] = NULL;
                last = 1;
            }
            break;
        }
    pthread_mutex_unlock(&hil__pr_registry_mu);
    if (i == HIL__COUNTOF(hil__pr_registry)) last = 1; /* never registered: it is the caller's */
    if (last) hil_probe_destroy(p);
}

/* ==== probe: flashing ===================================================== */

/* qXfer:memory-map:read, bounded. n = 0 when the server has none. */
static hil_result hil__pr_memory_map(hil_probe* p, hil_mem_region* regions, size_t max, size_t* n) {
    hil_strbuf xml = {0, 0, 0, 0};
    hil_result r = HIL_OK;
    *n = 0;
    if (!hil_rsp_supports(p->rsp, "qXfer:memory-map:read")) return HIL_OK;
    for (;;) {
        size_t len;
        hil_sb_clear(&p->cmd);
        hil_sb_printf(&p->cmd, "qXfer:memory-map:read::%zx,%zx", xml.len, hil_rsp_packet_size(p->rsp) - 16);
        if ((r = hil__pr_request(p, -1)) != HIL_OK) break;
        if (p->reply.len == 0 || (p->reply.data[0] != 'm' && p->reply.data[0] != 'l')) {
            r = hil__pr_err(p, HIL_ERR_PROTOCOL, "reading the memory map: '%.32s'", hil_sb_cstr(&p->reply));
            break;
        }
        len = hil_rsp_unescape(p->reply.data + 1, p->reply.len - 1);
        hil_sb_append(&xml, p->reply.data + 1, len);
        if (p->reply.data[0] == 'l') break;
        if (xml.len > 256 * 1024 || len == 0) {
            r = hil__pr_err(p, HIL_ERR_OVERFLOW, "the memory map is longer than 256 KiB");
            break;
        }
    }
    if (r == HIL_OK) {
        r = hil_rsp_parse_memory_map(hil_sb_cstr(&xml), xml.len, regions, max, n);
        if (r) r = hil__pr_err(p, r, "%s", hil_last_error());
    }
    hil_sb_free(&xml);
    return r;
}

static const hil_mem_region* hil__pr_flash_region(const hil_mem_region* regions, size_t n, uint64_t addr, size_t len) {
    size_t i;
    for (i = 0; i < n; i++)
        if (regions[i].type == 2 && addr >= regions[i].start && addr + len <= regions[i].start + regions[i].length)
            return &regions[i];
    return NULL;
}

static hil_result hil__pr_vflash(hil_probe* p, const hil_image_block* b, const hil_mem_region* reg, int timeout_ms) {
    uint64_t start = b->addr - (b->addr - reg->start) % reg->blocksize;
    uint64_t end = b->addr + b->len;
    size_t off = 0, budget = hil_rsp_packet_size(p->rsp) - 40;
    hil_result r;
    end += (reg->blocksize - (end - reg->start) % reg->blocksize) % reg->blocksize;
    hil_sb_clear(&p->cmd);
    hil_sb_printf(&p->cmd, "vFlashErase:%llx,%llx", (unsigned long long)start, (unsigned long long)(end - start));
    if ((r = hil__pr_request(p, timeout_ms)) != HIL_OK) return r;
    if (!hil__pr_is_ok(&p->reply))
        return hil__pr_err(p, HIL_ERR_IO, "erasing flash 0x%llx..0x%llx: the server answered '%s'", (unsigned long long)start,
                           (unsigned long long)end, hil_sb_cstr(&p->reply));
    while (off < b->len) {
        size_t n = 0, cost = 0;
        while (off + n < b->len) {
            unsigned char c = b->data[off + n];
            size_t k = (c == '#' || c == '$' || c == '}' || c == '*') ? 2 : 1;
            if (cost + k > budget) break;
            cost += k;
            n++;
        }
        hil_sb_clear(&p->cmd);
        hil_sb_printf(&p->cmd, "vFlashWrite:%llx:", (unsigned long long)(b->addr + off));
        hil_sb_append(&p->cmd, b->data + off, n);
        if ((r = hil__pr_request(p, timeout_ms)) != HIL_OK) return r;
        if (!hil__pr_is_ok(&p->reply))
            return hil__pr_err(p, HIL_ERR_IO, "writing flash at 0x%llx: the server answered '%s'",
                               (unsigned long long)(b->addr + off), hil_sb_cstr(&p->reply));
        off += n;
    }
    return HIL_OK;
}

/* Compare a block with the target: qCRC when offered, else read back.
 * *how: 1 crc, 2 read back. */
static hil_result hil__pr_verify(hil_probe* p, const hil_image_block* b, hil_probe_verify mode, int* how, int timeout_ms) {
    unsigned char* back;
    size_t i;
    hil_result r;
    if (mode == HIL_PROBE_VERIFY_AUTO || mode == HIL_PROBE_VERIFY_CRC) {
        uint32_t want = hil_rsp_crc32(0xFFFFFFFFu, b->data, b->len);
        hil_sb_clear(&p->cmd);
        hil_sb_printf(&p->cmd, "qCRC:%llx,%zx", (unsigned long long)b->addr, b->len);
        if ((r = hil__pr_request(p, timeout_ms)) != HIL_OK) return r;
        if (p->reply.len > 1 && p->reply.data[0] == 'C') {
            const char* s = p->reply.data + 1;
            uint64_t got;
            if (hil__pr_hexnum(&s, p->reply.data + p->reply.len, &got) > 0 && (uint32_t)got == want) {
                *how = 1;
                return HIL_OK;
            }
            /* a mismatch: read back to name the first differing byte */
        } else if (mode == HIL_PROBE_VERIFY_CRC) {
            return hil__pr_err(p, HIL_ERR_UNSUPPORTED, "the server has no qCRC (answered '%s'): use verify = read",
                               hil_sb_cstr(&p->reply));
        }
    }
    *how = 2;
    back = (unsigned char*)HIL_MALLOC(b->len ? b->len : 1);
    if (!back) return hil__pr_err(p, HIL_ERR_NO_MEMORY, "out of memory");
    r = hil__pr_read_mem(p, b->addr, back, b->len);
    if (r == HIL_OK)
        for (i = 0; i < b->len; i++)
            if (back[i] != b->data[i]) {
                r = hil__pr_err(p, HIL_ERR_CHECKSUM,
                                "verify failed: the target differs from the image at 0x%llx (wrote 0x%02x, read back "
                                "0x%02x): not RAM or flash there, write-protected, or the flash was not erased",
                                (unsigned long long)(b->addr + i), b->data[i], back[i]);
                break;
            }
    HIL_FREE(back);
    return r;
}

static hil_result hil__pr_flash_image(hil_probe* p, const hil_image* img, const hil_flash_options* o, hil_flash_stats* st) {
    hil_mem_region regions[HIL_RSP_MAX_REGIONS];
    size_t n_regions = 0, i;
    int any_vflash = 0;
    uint64_t t0;
    hil_result r;
    memset(st, 0, sizeof *st);
    if ((r = hil__pr_halt(p, p->timeout_ms)) != HIL_OK) return r;
    if (o->use_vflash != 0 && (r = hil__pr_memory_map(p, regions, HIL__COUNTOF(regions), &n_regions)) != HIL_OK) return r;
    t0 = hil_now_ns();
    for (i = 0; i < img->n_blocks; i++) {
        const hil_image_block* b = &img->blocks[i];
        const hil_mem_region* reg = o->use_vflash != 0 ? hil__pr_flash_region(regions, n_regions, b->addr, b->len) : NULL;
        if (o->use_vflash == 1 && !reg)
            return hil__pr_err(p, HIL_ERR_UNSUPPORTED, "use_vflash: the server's memory map has no flash region for 0x%llx",
                               (unsigned long long)b->addr);
        r = reg ? hil__pr_vflash(p, b, reg, o->timeout_ms) : hil__pr_write_mem(p, b->addr, b->data, b->len);
        if (r) return r;
        any_vflash |= reg != NULL;
        st->bytes += b->len;
        st->blocks++;
    }
    if (any_vflash) {
        hil_sb_clear(&p->cmd);
        hil_sb_puts(&p->cmd, "vFlashDone");
        if ((r = hil__pr_request(p, o->timeout_ms)) != HIL_OK) return r;
        if (!hil__pr_is_ok(&p->reply))
            return hil__pr_err(p, HIL_ERR_IO, "finishing the flash write: the server answered '%s'", hil_sb_cstr(&p->reply));
    }
    st->used_vflash = any_vflash;
    st->write_s = (double)(hil_now_ns() - t0) / 1e9;
    t0 = hil_now_ns();
    if (o->verify != HIL_PROBE_VERIFY_NONE)
        for (i = 0; i < img->n_blocks; i++) {
            int how = 0;
            if ((r = hil__pr_verify(p, &img->blocks[i], o->verify, &how, o->timeout_ms)) != HIL_OK) return r;
            st->verified = how;
        }
    st->verify_s = (double)(hil_now_ns() - t0) / 1e9;
    if (o->start == HIL_PROBE_START_RESET) {
        if ((r = hil__pr_reset(p, 1, o->timeout_ms)) != HIL_OK) return r;
    } else if (o->start == HIL_PROBE_START_ENTRY) {
        if (!img->has_entry) return hil__pr_err(p, HIL_ERR_INVALID_ARG, "start = entry, but a raw image has no entry point");
        if ((r = hil__pr_write_reg(p, p->pc_regnum, p->machine == 40 ? img->entry & ~(uint64_t)1 : img->entry)) != HIL_OK)
            return r;
    }
    if (o->resume && o->start != HIL_PROBE_START_NONE) return hil__pr_resume(p);
    return HIL_OK;
}

HIL_API hil_result hil_probe_flash_image(hil_probe* p, const hil_image* img, const hil_flash_options* o,
                                         hil_flash_stats* stats) {
    hil_flash_options def;
    hil_flash_stats st;
    if (!o) {
        hil_flash_options_init(&def);
        o = &def;
    }
    HIL__PR_LOCKED(p, hil__pr_flash_image(p, img, o, stats ? stats : &st));
}

HIL_API hil_result hil_probe_flash(hil_probe* p, const char* image, const hil_flash_options* o) {
    hil_image img;
    hil_flash_stats st;
    hil_flash_options def;
    hil_result r;
    if (!o) {
        hil_flash_options_init(&def);
        o = &def;
    }
    if ((r = hil_image_load(image, o->bin_address, &img)) != HIL_OK) return hil__pr_err(p, r, "%s", hil_last_error());
    r = hil_probe_flash_image(p, &img, o, &st);
    if (r == HIL_OK)
        hil_log_at(HIL_LOG_INFO, __FILE__, __LINE__, p->logger, "flashed %s: %zu bytes in %zu blocks, %.3f s%s%s", image,
                   st.bytes, st.blocks, st.write_s, st.used_vflash ? " (flash algorithm of the server)" : "",
                   st.verified == 1 ? ", verified by qCRC" : st.verified == 2 ? ", verified by reading back" : "");
    hil_image_free(&img);
    return r;
}

/* ==== probe: RTT ========================================================== */

HIL_API size_t hil_rtt_desc_size(int ptr_size) { return (size_t)(2 * ptr_size + 16); }

HIL_API void hil_rtt_config_init(hil_rtt_config* c) {
    memset(c, 0, sizeof *c);
    c->symbol = "_SEGGER_RTT";
    c->timeout_ms = 3000;
}

HIL_API hil_result hil_rtt_parse_header(const void* bytes, size_t len, uint32_t* n_up, uint32_t* n_down) {
    const unsigned char* b = (const unsigned char*)bytes;
    if (len < 24) return hil_error(HIL_ERR_PROTOCOL, "RTT: a control block has at least 24 bytes");
    if (memcmp(b, "SEGGER RTT", 10) != 0 || b[10] != 0)
        return hil_error(HIL_ERR_PROTOCOL, "RTT: no \"SEGGER RTT\" id at the control block (not initialised yet?)");
    *n_up = (uint32_t)hil__pr_le(b + 16, 4);
    *n_down = (uint32_t)hil__pr_le(b + 20, 4);
    if (*n_up < 1 || *n_up > HIL_RTT_MAX_BUFFERS || *n_down > HIL_RTT_MAX_BUFFERS)
        return hil_error(HIL_ERR_PROTOCOL, "RTT: %u up- and %u down-buffers is not plausible (1..%d up)", *n_up, *n_down,
                         HIL_RTT_MAX_BUFFERS);
    return HIL_OK;
}

HIL_API hil_result hil_rtt_parse_desc(const void* bytes, size_t len, int ptr_size, hil_rtt_desc* d) {
    const unsigned char* b = (const unsigned char*)bytes;
    if (ptr_size != 4 && ptr_size != 8) return hil_error(HIL_ERR_INVALID_ARG, "RTT: pointers of %d bytes", ptr_size);
    if (len < hil_rtt_desc_size(ptr_size)) return hil_error(HIL_ERR_PROTOCOL, "RTT: a short buffer descriptor");
    d->name_ptr = hil__pr_le(b, ptr_size);
    d->buffer = hil__pr_le(b + ptr_size, ptr_size);
    d->size = (uint32_t)hil__pr_le(b + 2 * ptr_size, 4);
    d->wr_off = (uint32_t)hil__pr_le(b + 2 * ptr_size + 4, 4);
    d->rd_off = (uint32_t)hil__pr_le(b + 2 * ptr_size + 8, 4);
    d->flags = (uint32_t)hil__pr_le(b + 2 * ptr_size + 12, 4);
    if (d->size == 0 && d->buffer == 0) return HIL_OK; /* an unused buffer */
    if (d->size == 0 || d->size > HIL_RTT_MAX_BUFFER_SIZE || d->wr_off >= d->size || d->rd_off >= d->size || d->buffer == 0)
        return hil_error(HIL_ERR_PROTOCOL, "RTT: buffer descriptor {buffer 0x%llx, size %u, WrOff %u, RdOff %u} is corrupt",
                         (unsigned long long)d->buffer, d->size, d->wr_off, d->rd_off);
    return HIL_OK;
}

/* Run fn with the target halted: a running target is stopped for it and
 * continued after, unless it stopped for a reason of its own meanwhile. */
typedef hil_result (*hil__rtt_fn)(hil_rtt* r, void* arg);

static hil_result hil__rtt_halted(hil_rtt* rt, hil__rtt_fn fn, void* arg) {
    hil_probe* p = rt->probe;
    int was_running = p->running;
    hil_result r, r2;
    if (was_running && (r = hil__pr_halt(p, p->timeout_ms)) != HIL_OK) return r;
    r = fn(rt, arg);
    if (was_running && hil_rsp_is_open(p->rsp) && !p->exited &&
        (p->last_stop.signal == 2 || p->last_stop.signal == 0) && !p->running) {
        r2 = hil__pr_resume(p);
        if (r == HIL_OK) r = r2;
    }
    return r;
}

typedef struct hil__rtt_find { const hil_rtt_config* c; } hil__rtt_find;

static hil_result hil__rtt_check_at(hil_rtt* rt, uint64_t addr) {
    unsigned char hdr[24];
    hil_result r = hil__pr_read_mem(rt->probe, addr, hdr, sizeof hdr);
    if (r) return r;
    if ((r = hil_rtt_parse_header(hdr, sizeof hdr, &rt->n_up, &rt->n_down)) != HIL_OK)
        return hil__pr_err(rt->probe, r, "at 0x%llx: %s", (unsigned long long)addr, hil_last_error());
    rt->address = addr;
    return HIL_OK;
}

static hil_result hil__rtt_find_fn(hil_rtt* rt, void* arg) {
    const hil_rtt_config* c = ((hil__rtt_find*)arg)->c;
    hil_probe* p = rt->probe;
    uint64_t a;
    unsigned char buf[4096 + 16];
    uint64_t pos, end;
    size_t carry = 0;
    if (c->address) return hil__rtt_check_at(rt, c->address);
    if (p->elf && c->symbol && hil_elf_symbol_find(p->elf, c->symbol)) {
        a = hil_elf_symbol_find(p->elf, c->symbol)->value;
        return hil__rtt_check_at(rt, a);
    }
    if (!c->search_size)
        return hil__pr_err(p, HIL_ERR_NOT_FOUND,
                           "RTT: no control block address: '%s' is not in %s, and no search range is set (rtt "
                           "search_start/search_size, or address)",
                           c->symbol ? c->symbol : "_SEGGER_RTT", p->elf ? p->elf->path : "the ELF (none given)");
    pos = c->search_start;
    end = c->search_start + c->search_size;
    while (pos < end) {
        size_t n = (size_t)(end - pos < 4096 ? end - pos : 4096), i;
        hil_result r = hil__pr_read_mem(p, pos, buf + carry, n);
        if (r) return r;
        for (i = 0; i + 11 <= carry + n; i++)
            if (buf[i] == 'S' && memcmp(buf + i, "SEGGER RTT", 11) == 0 &&
                hil__rtt_check_at(rt, pos - carry + i) == HIL_OK) /* a stray copy of the id fails the check */
                return HIL_OK;
        {   /* keep the last 10 bytes: an id may straddle two windows */
            size_t keep = carry + n >= 10 ? 10 : carry + n;
            memmove(buf, buf + carry + n - keep, keep);
            carry = keep;
        }
        pos += n;
    }
    return hil__pr_err(p, HIL_ERR_NOT_FOUND,
                       "RTT: no \"SEGGER RTT\" control block in 0x%llx..0x%llx: is the firmware running and has it "
                       "initialised RTT? (or set the address)",
                       (unsigned long long)c->search_start, (unsigned long long)end);
}

HIL_API hil_result hil_rtt_attach(hil_probe* p, const hil_rtt_config* c, hil_rtt* out) {
    hil_rtt_config def;
    hil__rtt_find f;
    hil_result r;
    memset(out, 0, sizeof *out);
    if (!c) {
        hil_rtt_config_init(&def);
        c = &def;
    }
    out->probe = p;
    out->ptr_size = c->ptr_size ? c->ptr_size : p->elf && p->elf->is64 ? 8 : p->reg_size == 8 && !p->elf ? 8 : 4;
    f.c = c;
    hil_mutex_lock(&p->mu);
    {
        uint64_t deadline = hil_deadline_ms(c->timeout_ms > 0 ? c->timeout_ms : 0);
        for (;;) {
            int to = 0;
            r = hil__rtt_halted(out, hil__rtt_find_fn, &f);
            if (r == HIL_OK || (r != HIL_ERR_PROTOCOL && r != HIL_ERR_NOT_FOUND) || !p->running ||
                hil_deadline_left_ms(deadline) == 0 || (!c->address && !c->search_size && !(p->elf && c->symbol &&
                                                                                        hil_elf_symbol_find(p->elf, c->symbol))))
                break;
            /* not set up yet: let the firmware run, watching for a stop */
            {
                int left = hil_deadline_left_ms(deadline);
                hil_result w = hil__pr_wait_stop(p, left < 20 ? left : 20, &to);
                if (w == HIL_OK) {
                    r = hil__pr_err(p, HIL_ERR_STATE, "RTT: the target stopped (signal %d) before it set up its RTT control block",
                                    p->last_stop.signal);
                    break;
                }
                if (!to) {
                    r = w;
                    break;
                }
            }
        }
    }
    hil_mutex_unlock(&p->mu);
    if (r == HIL_OK)
        hil_log_at(HIL_LOG_DEBUG, __FILE__, __LINE__, p->logger, "RTT control block at 0x%llx: %u up, %u down",
                   (unsigned long long)out->address, out->n_up, out->n_down);
    return r;
}

typedef struct hil__rtt_io {
    unsigned index;
    unsigned char* buf;
    size_t len;      /* read: capacity; write: length */
    size_t done;
} hil__rtt_io;

static hil_result hil__rtt_desc_at(hil_rtt* rt, uint64_t at, hil_rtt_desc* d) {
    unsigned char b[32];
    size_t n = hil_rtt_desc_size(rt->ptr_size);
    hil_result r = hil__pr_read_mem(rt->probe, at, b, n);
    if (r) return r;
    if ((r = hil_rtt_parse_desc(b, n, rt->ptr_size, d)) != HIL_OK)
        return hil__pr_err(rt->probe, r, "at 0x%llx: %s", (unsigned long long)at, hil_last_error());
    return HIL_OK;
}

static hil_result hil__rtt_read_fn(hil_rtt* rt, void* arg) {
    hil__rtt_io* io = (hil__rtt_io*)arg;
    uint64_t at = rt->address + 24 + (uint64_t)io->index * hil_rtt_desc_size(rt->ptr_size);
    hil_rtt_desc d;
    uint32_t rd;
    hil_result r = hil__rtt_desc_at(rt, at, &d);
    unsigned char off[4];
    if (r) return r;
    rd = d.rd_off;
    while (io->done < io->len && rd != d.wr_off) {
        size_t n = d.wr_off > rd ? d.wr_off - rd : d.size - rd; /* up to the end, then from 0 */
        if (n > io->len - io->done) n = io->len - io->done;
        if ((r = hil__pr_read_mem(rt->probe, d.buffer + rd, io->buf + io->done, n)) != HIL_OK) return r;
        io->done += n;
        rd = (uint32_t)((rd + n) % d.size);
    }
    if (rd == d.rd_off) return HIL_OK;
    hil__pr_put_le(off, rd, 4);
    return hil__pr_write_mem(rt->probe, at + 2 * (uint64_t)rt->ptr_size + 8, off, 4);
}

static hil_result hil__rtt_write_fn(hil_rtt* rt, void* arg) {
    hil__rtt_io* io = (hil__rtt_io*)arg;
    uint64_t at = rt->address + 24 + (uint64_t)(rt->n_up + io->index) * hil_rtt_desc_size(rt->ptr_size);
    hil_rtt_desc d;
    uint32_t wr;
    unsigned char off[4];
    hil_result r = hil__rtt_desc_at(rt, at, &d);
    if (r) return r;
    wr = d.wr_off;
    while (io->done < io->len) {
        uint32_t next = (wr + 1) % d.size;
        size_t n;
        if (next == d.rd_off) break; /* full: one slot stays empty */
        n = d.rd_off > wr ? d.rd_off - wr - 1 : d.size - wr - (d.rd_off == 0 ? 1 : 0);
        if (n > io->len - io->done) n = io->len - io->done;
        if (n == 0) break;
        if ((r = hil__pr_write_mem(rt->probe, d.buffer + wr, io->buf + io->done, n)) != HIL_OK) return r;
        io->done += n;
        wr = (uint32_t)((wr + n) % d.size);
    }
    if (wr == d.wr_off) return HIL_OK;
    hil__pr_put_le(off, wr, 4);
    return hil__pr_write_mem(rt->probe, at + 2 * (uint64_t)rt->ptr_size + 4, off, 4);
}

HIL_API hil_result hil_rtt_read(hil_rtt* rt, unsigned index, void* out, size_t cap, size_t* got) {
    hil__rtt_io io;
    hil_result r;
    *got = 0;
    if (index >= rt->n_up)
        return hil__pr_err(rt->probe, HIL_ERR_INVALID_ARG, "RTT: up-buffer %u does not exist (the firmware has %u)", index, rt->n_up);
    io.index = index;
    io.buf = (unsigned char*)out;
    io.len = cap;
    io.done = 0;
    hil_mutex_lock(&rt->probe->mu);
    r = hil__rtt_halted(rt, hil__rtt_read_fn, &io);
    hil_mutex_unlock(&rt->probe->mu);
    *got = io.done;
    return r;
}

HIL_API hil_result hil_rtt_write(hil_rtt* rt, unsigned index, const void* data, size_t len, size_t* written) {
    hil__rtt_io io;
    hil_result r;
    *written = 0;
    if (index >= rt->n_down)
        return hil__pr_err(rt->probe, HIL_ERR_INVALID_ARG, "RTT: down-buffer %u does not exist (the firmware has %u)", index,
                           rt->n_down);
    io.index = index;
    io.buf = (unsigned char*)(uintptr_t)data;
    io.len = len;
    io.done = 0;
    hil_mutex_lock(&rt->probe->mu);
    r = hil__rtt_halted(rt, hil__rtt_write_fn, &io);
    hil_mutex_unlock(&rt->probe->mu);
    *written = io.done;
    return r;
}

/* ---- the "rtt" channel ----
 * RSP has no event for "the target wrote to its buffer": a reader thread
 * looks every poll_ms (waiting on a waker with that timeout, so close()
 * ends it at once) and moves the bytes into a pipe, whose read end is the
 * channel's descriptor: auxiliaries wait on it like on any stream. */

typedef struct hil__rttch {
    hil_probe* probe;
    hil_rtt rtt;
    hil_rtt_config rc;
    char probe_name[128];
    char symbol[128];
    long long up, down, poll_ms;
    int pipe_r, pipe_w;
    hil_waker stop;
    hil_thread th;
    int quit;
    char why[600];           /* why the reader stopped */
    int why_set;             /* atomic: why is written (the pipe's end is no fence for TSan) */
} hil__rttch;

static const hil_channel_opt hil__rtt_opts[] = {
    {"probe", HIL_OPT_STRING, NULL, "rtt: the probe (probes.<name>.*) whose target has the RTT control block", NULL},
    {"up_buffer", HIL_OPT_INT, "0", "rtt: the up-buffer (target to host) received", NULL},
    {"down_buffer", HIL_OPT_INT, "0", "rtt: the down-buffer (host to target) sent to", NULL},
    {"address", HIL_OPT_STRING, "0", "rtt: the control block's address (0: the ELF's symbol, else a search)", NULL},
    {"symbol", HIL_OPT_STRING, "_SEGGER_RTT", "rtt: the control block's symbol in the probe's ELF", NULL},
    {"search_start", HIL_OPT_STRING, "0x20000000", "rtt: where the search for \"SEGGER RTT\" starts", NULL},
    {"search_size", HIL_OPT_STRING, "0x10000", "rtt: how many bytes the search covers", NULL},
    {"poll_ms", HIL_OPT_INT, "10", "rtt: how often the up-buffer is read (each read halts a running target briefly)", NULL},
    {"attach_timeout_ms", HIL_OPT_INT, "3000", "rtt: how long open waits for a running firmware to set up its control block", NULL},
    {NULL, HIL_OPT_STRING, NULL, NULL, NULL}
};

static hil_result hil__rtt_u64_opt(hil_channel* ch, const char* key, uint64_t* out) {
    const char* v = hil_channel_opt_str(ch, key, "0");
    if (!hil__pr_num(v, out)) return hil_channel_error(ch, HIL_ERR_CONFIG, "option %s: '%s' is not a number", key, v);
    return HIL_OK;
}

static hil_result hil__rtt_configure(hil_channel* ch) {
    hil__rttch* s = (hil__rttch*)hil_channel_state(ch);
    const char* v = hil_channel_opt_str(ch, "probe", NULL);
    hil_result r;
    s->pipe_r = s->pipe_w = -1;
    if (!v || !*v)
        return hil_channel_error(ch, HIL_ERR_CONFIG, "option probe is required: the probe (probes.<name>.*) to read RTT through");
    snprintf(s->probe_name, sizeof s->probe_name, "%s", v);
    snprintf(s->symbol, sizeof s->symbol, "%s", hil_channel_opt_str(ch, "symbol", "_SEGGER_RTT"));
    hil_rtt_config_init(&s->rc);
    s->rc.symbol = s->symbol;
    if ((r = hil_channel_opt_int(ch, "up_buffer", 0, &s->up)) != HIL_OK) return r;
    if ((r = hil_channel_opt_int(ch, "down_buffer", 0, &s->down)) != HIL_OK) return r;
    if ((r = hil_channel_opt_int(ch, "poll_ms", 10, &s->poll_ms)) != HIL_OK) return r;
    {
        long long t;
        if ((r = hil_channel_opt_int(ch, "attach_timeout_ms", 3000, &t)) != HIL_OK) return r;
        s->rc.timeout_ms = (int)t;
    }
    if (s->poll_ms < 1) s->poll_ms = 1;
    if ((r = hil__rtt_u64_opt(ch, "address", &s->rc.address)) != HIL_OK) return r;
    if ((r = hil__rtt_u64_opt(ch, "search_start", &s->rc.search_start)) != HIL_OK) return r;
    if ((r = hil__rtt_u64_opt(ch, "search_size", &s->rc.search_size)) != HIL_OK) return r;
    return HIL_OK;
}

static void* hil__rtt_reader(void* arg) {
    hil_channel* ch = (hil_channel*)arg;
    hil__rttch* s = (hil__rttch*)hil_channel_state(ch);
    unsigned char buf[4096];
    for (;;) {
        size_t got = 0, off = 0;
        hil_result r = HIL_OK;
        if (hil_wait_readable(hil_waker_fd(&s->stop), (int)s->poll_ms) == HIL_OK || __atomic_load_n(&s->quit, __ATOMIC_ACQUIRE)) break;
        /* a thread waiting for a halt holds the probe: skip this round */
        if (pthread_mutex_trylock(&s->probe->mu.m) != 0) continue;
        {
            hil__rtt_io io;
            io.index = (unsigned)s->up;
            io.buf = buf;
            io.len = sizeof buf;
            io.done = 0;
            if (!s->probe->exited && hil_rsp_is_open(s->probe->rsp)) r = hil__rtt_halted(&s->rtt, hil__rtt_read_fn, &io);
            else r = hil__pr_need_halted(s->probe, "reading RTT");
            got = io.done;
        }
        pthread_mutex_unlock(&s->probe->mu.m);
        while (off < got) { /* a full pipe waits for the reader (or close) */
            ssize_t n = write(s->pipe_w, buf + off, got - off);
            if (n > 0) { off += (size_t)n; continue; }
            if (n < 0 && errno == EINTR) continue;
            if (n < 0 && errno == EAGAIN) {
                struct pollfd pf[2];
                pf[0].fd = s->pipe_w; pf[0].events = POLLOUT; pf[0].revents = 0;
                pf[1].fd = hil_waker_fd(&s->stop); pf[1].events = POLLIN; pf[1].revents = 0;
                if (poll(pf, 2, -1) < 0 && errno != EINTR) break;
                if (pf[1].revents) break;
                continue;
            }
            break;
        }
        if (r) {
            hil__pr_keep_error(s->why, sizeof s->why);
            __atomic_store_n(&s->why_set, 1, __ATOMIC_RELEASE);
            hil_log_at(HIL_LOG_ERROR, __FILE__, __LINE__, hil_channel_logger(ch), "RTT reading stopped: %s", s->why);
            break;
        }
    }
    close(s->pipe_w); /* the channel's reader sees the end */
    s->pipe_w = -1;
    return NULL;
}

static void hil__rtt_close(hil_channel* ch);

static hil_result hil__rtt_open(hil_channel* ch) {
    hil__rttch* s = (hil__rttch*)hil_channel_state(ch);
    int fds[2];
    hil_result r = hil__probe_get_cfg(s->probe_name, hil__channel_cfg(ch), &s->probe);
    if (r) return hil_channel_error(ch, r, "%s", hil_last_error());
    if ((r = hil_rtt_attach(s->probe, &s->rc, &s->rtt)) != HIL_OK) {
        char msg[700];
        hil__pr_keep_error(msg, sizeof msg);
        hil_probe_release(s->probe);
        s->probe = NULL;
        return hil_channel_error(ch, r, "%s", msg);
    }
    if (s->up >= (long long)s->rtt.n_up || s->down >= (long long)(s->rtt.n_down ? s->rtt.n_down : 1)) {
        unsigned nu = s->rtt.n_up, nd = s->rtt.n_down;
        hil_probe_release(s->probe);
        s->probe = NULL;
        return hil_channel_error(ch, HIL_ERR_CONFIG, "the firmware has %u up- and %u down-buffers; up_buffer %lld / down_buffer %lld do not exist",
                                 nu, nd, s->up, s->down);
    }
    if (pipe(fds) < 0 || hil_waker_init(&s->stop) != HIL_OK) {
        hil_probe_release(s->probe);
        s->probe = NULL;
        return hil_channel_error(ch, HIL_ERR_IO, "pipe: %s", strerror(errno));
    }
    hil_set_cloexec(fds[0]);
    hil_set_cloexec(fds[1]);
    hil_set_nonblocking(fds[0], 1);
    hil_set_nonblocking(fds[1], 1);
    s->pipe_r = fds[0];
    s->pipe_w = fds[1];
    s->quit = 0;
    s->why[0] = 0;
    s->why_set = 0;
    if (hil_thread_create(&s->th, hil__rtt_reader, ch, "hil-rtt") != HIL_OK) {
        hil__rtt_close(ch);
        return hil_channel_error(ch, HIL_ERR_IO, "cannot start the RTT reader thread");
    }
    return HIL_OK;
}

static void hil__rtt_close(hil_channel* ch) {
    hil__rttch* s = (hil__rttch*)hil_channel_state(ch);
    if (!s->probe) return;
    __atomic_store_n(&s->quit, 1, __ATOMIC_RELEASE);
    hil_waker_wake(&s->stop);
    if (s->th.started) hil_thread_join(&s->th);
    memset(&s->th, 0, sizeof s->th);
    if (s->pipe_w >= 0) close(s->pipe_w);
    if (s->pipe_r >= 0) close(s->pipe_r);
    s->pipe_r = s->pipe_w = -1;
    hil_waker_destroy(&s->stop);
    hil_probe_release(s->probe);
    s->probe = NULL;
}

static hil_result hil__rtt_send(hil_channel* ch, const hil_msg* m, int timeout_ms) {
    hil__rttch* s = (hil__rttch*)hil_channel_state(ch);
    uint64_t deadline = hil_deadline_ms(timeout_ms);
    size_t off = 0;
    if (s->rtt.n_down == 0) return hil_channel_error(ch, HIL_ERR_UNSUPPORTED, "the firmware's RTT block has no down-buffer");
    for (;;) {
        size_t n = 0;
        hil_result r = hil_rtt_write(&s->rtt, (unsigned)s->down, (const unsigned char*)m->data + off, m->len - off, &n);
        if (r) return r;
        off += n;
        if (off == m->len) return HIL_OK;
        /* the buffer is full until the firmware reads: look again after poll_ms */
        if (hil_deadline_left_ms(deadline) == 0)
            return hil_channel_error(ch, HIL_ERR_TIMEOUT, "RTT down-buffer %lld stayed full for %d ms (%zu of %zu bytes sent): does the firmware read it?",
                                     s->down, timeout_ms, off, m->len);
        if (hil_wait_readable(hil_waker_fd(&s->stop), (int)(hil_deadline_left_ms(deadline) < s->poll_ms && timeout_ms >= 0
                                                                ? hil_deadline_left_ms(deadline) : s->poll_ms)) == HIL_OK)
            return hil_channel_error(ch, HIL_ERR_CLOSED, "closed while sending");
    }
}

static hil_result hil__rtt_recv(hil_channel* ch, hil_msg* m, int timeout_ms) {
    hil__rttch* s = (hil__rttch*)hil_channel_state(ch);
    for (;;) {
        ssize_t n = read(s->pipe_r, m->data, m->cap);
        if (n > 0) {
            m->len = (size_t)n;
            return HIL_OK;
        }
        if (n == 0)
            return hil_channel_error(ch, HIL_ERR_CLOSED, "RTT reading stopped: %s",
                                     __atomic_load_n(&s->why_set, __ATOMIC_ACQUIRE) ? s->why : "closed");
        if (errno == EINTR) continue;
        if (errno != EAGAIN) return hil_channel_error(ch, HIL_ERR_IO, "read: %s", strerror(errno));
        if (timeout_ms == 0) return HIL_ERR_AGAIN;
        if (hil_wait_readable(s->pipe_r, timeout_ms) == HIL_ERR_TIMEOUT) return HIL_ERR_TIMEOUT;
        timeout_ms = 0; /* readable now: one more read decides */
    }
}

static int hil__rtt_poll_fd(hil_channel* ch) { return ((hil__rttch*)hil_channel_state(ch))->pipe_r; }

static const hil_channel_type hil__rtt_type = {
    "rtt", "SEGGER RTT through a debug probe's memory access (probes.<name>.*)", 1, sizeof(hil__rttch), hil__rtt_opts,
    hil__rtt_configure, hil__rtt_open, hil__rtt_close, hil__rtt_send, hil__rtt_recv, hil__rtt_poll_fd, NULL
};

/* ==== probe: the "gdb" flasher ============================================ */

typedef struct hil__gdbfl { int unused; } hil__gdbfl;

static const hil_channel_opt hil__gdbfl_opts[] = {
    {"probe", HIL_OPT_STRING, NULL, "gdb: the probe (probes.<name>.*) to flash through; default: the flasher's own name", NULL},
    {"bin_address", HIL_OPT_STRING, "0", "gdb: where a raw .bin image goes", NULL},
    {"verify", HIL_OPT_CHOICE, "auto", "gdb: auto (qCRC, else read back) | crc | read | none", "auto|crc|read|none"},
    {"start", HIL_OPT_CHOICE, "reset", "gdb: after loading: reset, entry (set the PC to the entry point), none", "reset|entry|none"},
    {"resume", HIL_OPT_BOOL, "true", "gdb: run the target after start", NULL},
    {"vflash", HIL_OPT_CHOICE, "auto", "gdb: vFlashErase/Write/Done: auto (when the memory map lists flash), always, never", "auto|always|never"},
    {NULL, HIL_OPT_STRING, NULL, NULL, NULL}
};

static hil_result hil__gdbfl_flash(hil_flasher* f, const char* image, int timeout_ms) {
    const char* name = hil_flasher_opt_str(f, "probe", NULL);
    const char* v;
    hil_flash_options o;
    hil_probe* p;
    hil_result r;
    hil_flash_stats st;
    hil_image img;
    char line[300];
    hil_flash_options_init(&o);
    if (!name || !*name) name = hil_flasher_name(f);
    v = hil_flasher_opt_str(f, "bin_address", "0");
    if (!hil__pr_num(v, &o.bin_address)) return hil_flasher_error(f, HIL_ERR_CONFIG, "option bin_address: '%s' is not a number", v);
    v = hil_flasher_opt_str(f, "verify", "auto");
    o.verify = strcmp(v, "crc") == 0 ? HIL_PROBE_VERIFY_CRC : strcmp(v, "read") == 0 ? HIL_PROBE_VERIFY_READ
             : strcmp(v, "none") == 0 ? HIL_PROBE_VERIFY_NONE : HIL_PROBE_VERIFY_AUTO;
    v = hil_flasher_opt_str(f, "start", "reset");
    o.start = strcmp(v, "entry") == 0 ? HIL_PROBE_START_ENTRY : strcmp(v, "none") == 0 ? HIL_PROBE_START_NONE : HIL_PROBE_START_RESET;
    v = hil_flasher_opt_str(f, "resume", "true");
    o.resume = !(strcmp(v, "false") == 0 || strcmp(v, "0") == 0 || strcmp(v, "no") == 0);
    v = hil_flasher_opt_str(f, "vflash", "auto");
    o.use_vflash = strcmp(v, "always") == 0 ? 1 : strcmp(v, "never") == 0 ? 0 : -1;
    if (timeout_ms > 0) o.timeout_ms = timeout_ms;
    if ((r = hil_image_load(image, o.bin_address, &img)) != HIL_OK) return hil_flasher_error(f, r, "%s", hil_last_error());
    if ((r = hil__probe_get_cfg(name, NULL, &p)) != HIL_OK) {
        hil_image_free(&img);
        return hil_flasher_error(f, r, "%s", hil_last_error());
    }
    r = hil_probe_flash_image(p, &img, &o, &st);
    if (r == HIL_OK) {
        snprintf(line, sizeof line, "loaded %s: %zu bytes in %zu blocks through %s in %.3f s%s\n", image, st.bytes, st.blocks,
                 hil_rsp_where(p->rsp), st.write_s, st.verified ? ", verified" : "");
        hil_flasher_add_output(f, line, strlen(line));
    } else {
        char msg[900];
        hil__pr_keep_error(msg, sizeof msg);
        r = hil_flasher_error(f, r, "%s", msg);
    }
    hil_probe_release(p);
    hil_image_free(&img);
    return r;
}

static const hil_flasher_type hil__gdb_flasher_type = {
    "gdb", "Load ELF/HEX/BIN images through a probe's GDB server (X packets or vFlash*), verify, reset",
    sizeof(hil__gdbfl), hil__gdbfl_opts, NULL, hil__gdbfl_flash, NULL
};

/* ==== the probe auxiliary ================================================= */

typedef struct hil__probe_aux {
    hil_probe* probe;          /* while the instance exists */
    hil_mutex mu;              /* probe, for hil_aux_probe from test threads */
    int mu_ready;
} hil__probe_aux;

static const hil_aux_opt hil__probe_aux_opts[] = {
    {"probe", HIL_OPT_STRING, NULL, "probe auxiliary: the probe (probes.<probe>.*); default: the auxiliary's name", NULL},
    {"flash", HIL_OPT_PATH, NULL,
     "probe auxiliary: an image (ELF, .hex) loaded, verified and started each time the auxiliary starts", NULL},
    {NULL, HIL_OPT_STRING, NULL, NULL, NULL}
};

static const char* hil__probe_aux_name(hil_aux* a) {
    const char* v = hil_aux_opt_str(a, "probe", NULL);
    return v && *v ? v : hil_aux_name(a);
}

static hil_result hil__probe_aux_configure(hil_aux* a) {
    hil__probe_aux* s = (hil__probe_aux*)hil_aux_priv(a);
    if (hil_aux_get_backend(a) == HIL_AUX_PROCESS)
        return hil_aux_fail(a, HIL_ERR_CONFIG, "a probe auxiliary cannot use backend = process: its connection would "
                            "live in a child process the tests cannot reach (use thread)");
    hil_mutex_init(&s->mu);
    s->mu_ready = 1;
    return HIL_OK;
}

static hil_result hil__probe_aux_flash(hil_aux* a, hil_probe* p, const char* image) {
    hil_image img;
    hil_flash_options o;
    hil_flash_stats st;
    hil_result r;
    memset(&img, 0, sizeof img);
    hil_flash_options_init(&o);
    if ((r = hil_image_load(image, 0, &img)) != HIL_OK) return hil_aux_fail(a, r, "%s", hil_last_error());
    r = hil_probe_flash_image(p, &img, &o, &st);
    hil_image_free(&img);
    if (r != HIL_OK) {
        char msg[900];
        hil__pr_keep_error(msg, sizeof msg);
        return hil_aux_fail(a, r, "flashing %s: %s", image, msg);
    }
    HIL_INFO(hil_aux_logger(a), "auxiliary '%s': loaded %s through %s: %zu bytes in %.3f s%s, started", hil_aux_name(a),
             image, hil_rsp_where(p->rsp), st.bytes, st.write_s, st.verified ? ", verified" : "");
    return HIL_OK;
}

static hil_result hil__probe_aux_create(hil_aux* a) {
    hil__probe_aux* s = (hil__probe_aux*)hil_aux_priv(a);
    const char* image = hil_aux_opt_str(a, "flash", NULL);
    hil_probe* p = NULL;
    hil_result r = hil__probe_get_cfg(hil__probe_aux_name(a), hil__aux_cfg(a), &p); /* probes.* of the auxiliary's configuration */
    if (r != HIL_OK) return hil_aux_fail(a, r, "%s", hil_last_error());
    if (image && *image && (r = hil__probe_aux_flash(a, p, image)) != HIL_OK) {
        hil_probe_release(p);
        return r;
    }
    hil_mutex_lock(&s->mu);
    s->probe = p;
    hil_mutex_unlock(&s->mu);
    return HIL_OK;
}

static void hil__probe_aux_delete(hil_aux* a) {
    hil__probe_aux* s = (hil__probe_aux*)hil_aux_priv(a);
    hil_probe* p;
    hil_mutex_lock(&s->mu);
    p = s->probe;
    s->probe = NULL;
    hil_mutex_unlock(&s->mu);
    hil_probe_release(p);
}

static hil_result hil__probe_aux_run(hil_aux* a, const hil_aux_cmd* cmd, hil_aux_report* rep) {
    hil__probe_aux* s = (hil__probe_aux*)hil_aux_priv(a);
    hil_result r;
    if (cmd->code == HIL_PROBE_CMD_FLASH) {
        char path[4096];
        if (!cmd->len || cmd->len >= sizeof path)
            return hil_aux_fail(a, HIL_ERR_INVALID_ARG, "HIL_PROBE_CMD_FLASH: the data must be the image's path");
        memcpy(path, cmd->data, cmd->len);
        path[cmd->len] = 0;
        path[strcspn(path, "\n")] = 0;
        r = hil__probe_aux_flash(a, s->probe, path);
    } else if (cmd->code == HIL_PROBE_CMD_RESET) {
        int halt = cmd->len >= 1 && ((const unsigned char*)cmd->data)[0] != 0;
        r = hil_probe_reset(s->probe, halt, -1);
        if (r != HIL_OK) r = hil_aux_fail(a, r, "%s", hil_last_error());
    } else {
        r = hil_aux_fail(a, HIL_ERR_UNSUPPORTED, "command %d is not a probe command (HIL_PROBE_CMD_FLASH, "
                         "HIL_PROBE_CMD_RESET)", cmd->code);
    }
    if (r != HIL_OK) hil_aux_report_text(rep, "%s", hil_last_error());
    return r;
}

static void hil__probe_aux_destroy(hil_aux* a) {
    hil__probe_aux* s = (hil__probe_aux*)hil_aux_priv(a);
    if (s->mu_ready) hil_mutex_destroy(&s->mu);
    s->mu_ready = 0;
}

static const hil_aux_impl hil__probe_aux_impl = {
    "probe", "A debug probe (probes.<probe>.*) as an auxiliary: requires= can name it; optionally flashes at start",
    sizeof(hil__probe_aux), hil__probe_aux_opts, hil__probe_aux_configure, hil__probe_aux_create, hil__probe_aux_delete,
    hil__probe_aux_run, NULL, NULL, hil__probe_aux_destroy
};

HIL_AUX_TYPE(hil__probe_aux_impl)

HIL_API hil_probe* hil_aux_probe(hil_aux* a) {
    hil__probe_aux* s;
    hil_probe* p;
    if (!a || strcmp(hil_aux_type(a), "probe") != 0) return NULL;
    s = (hil__probe_aux*)hil_aux_priv(a);
    if (!s || !s->mu_ready) return NULL;
    hil_mutex_lock(&s->mu);
    p = s->probe;
    hil_mutex_unlock(&s->mu);
    return p;
}

HIL_API void hil_probe_module_init(void) {
    static int done;
    if (done) return;
    done = 1;
    hil__probe_declare_options();
    (void)hil_channel_type_register(&hil__rtt_type);
    (void)hil_flasher_type_register(&hil__gdb_flasher_type);
#ifdef HIL_NO_CONSTRUCTORS
    (void)hil_aux_type_register(&hil__probe_aux_impl); /* else HIL_AUX_TYPE did */
#endif
}

#ifndef HIL_NO_CONSTRUCTORS
HIL__CONSTRUCTOR(hil__reg_probe_module) { hil_probe_module_init(); }
#endif

#ifdef __cplusplus
}
#endif

#endif /* HIL_IMPLEMENTATION */
