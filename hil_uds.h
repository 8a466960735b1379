/* hil_uds.h - UDS (ISO 14229) diagnostics for hil: a client auxiliary, a
 * data identifier codec and a flasher that programs an ECU over UDS.
 *
 * The "uds" auxiliary speaks Unified Diagnostic Services over any channel
 * that delivers whole messages: the isotp channel (kernel CAN_ISOTP
 * sockets), udp, or a simulator's stdin/stdout with length framing. One
 * request, one response: the P2 and P2* timers of ISO 14229-2 (updated
 * from the ECU's DiagnosticSessionControl answer), "response pending"
 * (NRC 0x78) with a bound, every negative response code named, the
 * suppress-positive-response bit, physical and functional addressing, and
 * TesterPresent in the background while a non-default session is held.
 *
 * CONTENTS
 *   1. Names               hil_uds_nrc_name, hil_uds_service_name
 *   2. Data identifiers    hil_uds_did_*: bytes, ASCII, integers of 1..64 bits
 *                          (either byte order), scaled values; both ways
 *   3. The uds auxiliary   hil_uds_request and one typed call per service
 *   4. Response decoding   hil_uds_check_response (what every call validates)
 *   5. The "uds" flasher   flashers.<name>.type = uds
 *
 * ==========================================================================
 * EXAMPLE
 * ==========================================================================
 *
 *     # lab.conf
 *     connectors.ecu.type = isotp                  (or process/udp: whole messages)
 *     connectors.ecu.interface = can0
 *     connectors.ecu.tx_id = 0x7E0
 *     connectors.ecu.rx_id = 0x7E8
 *     auxiliaries.diag.type = uds
 *     auxiliaries.diag.connectors.com = ecu
 *     auxiliaries.diag.dids = vin 0xF190 ascii 17; temp 0x0101 s16 scale=0.1 unit=degC
 *     auxiliaries.diag.security = 1:sim_key
 *
 *     static hil_result sim_key(int level, const unsigned char* seed, size_t n,
 *                               unsigned char* key, size_t cap, size_t* len, void* user) {
 *         ... compute the key from the seed ...
 *     }
 *
 *     HIL_TEST_META(ecu, reads_vin, "requires=diag") {
 *         hil_aux* diag = hil_aux_get("diag");
 *         hil_uds_value v;
 *         HIL_ASSERT_OK(hil_uds_session(diag, HIL_UDS_SESSION_EXTENDED));
 *         HIL_ASSERT_OK(hil_uds_security_access(diag, 1));
 *         HIL_ASSERT_OK(hil_uds_read(diag, "vin", &v));
 *         HIL_EXPECT_STREQ(v.text, "HILSIM00000000001");
 *         HIL_ASSERT_OK(hil_uds_read(diag, "temp", &v));
 *         HIL_EXPECT(v.phys > -40.0 && v.phys < 125.0);
 *         HIL_EXPECT_EQ(hil_uds_write(diag, "vin", "X"), HIL_ERR_OVERFLOW);  (not 17 characters: not sent)
 *     }
 *     ... and before hil_main(): hil_uds_key_fn_register("sim_key", sim_key, NULL);
 *
 * ==========================================================================
 * OPTIONS (auxiliaries.<name>.<key>)
 * ==========================================================================
 *
 *   connectors.com         the channel of physical requests; every answer arrives here
 *   connectors.functional  a channel for functional requests (tx 0x7DF on CAN); answers
 *                          still arrive on com (thread and simple backends only)
 *   p2_ms                  P2 client: the first answer within this (default 50, ISO 14229-2)
 *   p2_star_ms             P2* after a 0x78 "response pending" (default 5000)
 *   margin_ms              added to P2 and P2* for the transport and a loaded host (default 100)
 *   pending_max            how many 0x78 one request may get (default 100; 0: none allowed)
 *   pending_total_ms       how long one request may stay pending in all (default 60000)
 *   tester_present_ms      TesterPresent period in a non-default session (default 2000; 0: off)
 *   tester_present_functional  send it functionally (default false: physically)
 *   dids                   data identifiers: "<name> <id> <type> [options]" separated by ';'
 *                          (section 2 has the grammar)
 *   security               key callbacks: "<level>:<name>" separated by spaces or ';'
 *                          (names registered with hil_uds_key_fn_register)
 *
 * ==========================================================================
 * ERRORS
 * ==========================================================================
 *
 * HIL_OK: a positive response. HIL_ERR_PROTOCOL: a negative response (the
 * message names the service and the NRC, hil_uds_last_nrc() gives it) or a
 * malformed one (the message names the service and shows the bytes;
 * hil_uds_last_nrc() is 0). HIL_ERR_TIMEOUT: no answer within P2 (or P2*
 * after a 0x78), or too many 0x78. HIL_ERR_CLOSED: the channel ended.
 *
 * THREADS: calls on one uds auxiliary may come from several threads; one
 * request is on the wire at a time (a lock). The TesterPresent thread sends
 * only when nothing else was sent for a period, so it never delays a test.
 *
 * Needs hil.h, hil_connectors.h, hil_aux.h and hil_probe.h (its image
 * readers) first. The implementation is compiled where HIL_IMPLEMENTATION
 * (or HIL_IMPLEMENTATION_UDS, in a file of its own: README, "Build time")
 * is defined. The response decoder and the DID codec are fuzzed
 * (fuzz/fuzz_uds.c). Docs: docs/uds.md. An ECU simulator to test against:
 * examples/ecu-sim.
 */
#ifndef HIL_UDS_H_INCLUDED
#define HIL_UDS_H_INCLUDED

#include "hil.h"
#include "hil_connectors.h"
#include "hil_aux.h"
#include "hil_probe.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ==========================================================================
 * 1. Names
 * ========================================================================== */

#define HIL_UDS_NRC_RESPONSE_PENDING 0x78

/* "requestOutOfRange" for 0x31; ranges give their class
 * ("reservedByExtendedDataLinkSecurityDocument"); never NULL. */
HIL_API const char* hil_uds_nrc_name(int nrc);
/* "ReadDataByIdentifier" for 0x22 (and for its positive answer 0x62). */
HIL_API const char* hil_uds_service_name(int sid);

/* ==========================================================================
 * 2. Data identifiers
 * ========================================================================== */
/* A DID spec (option "dids", hil_uds_did_parse): "<name> <id> <type> [options]"
 *
 *   type      bytes[N] | ascii[N] (N: the fixed length; without it any length)
 *             u<bits> | s<bits> with bits 1..64 (also uint8..uint64, int8..int64):
 *             (bits+7)/8 bytes, the value in the low bits, signed in two's complement
 *   options   be | le            byte order (default be, as UDS is)
 *             scale=<x>          physical = raw * scale + offset (integers only)
 *             offset=<x>
 *             unit=<text>        printed after the physical value
 *
 *   vin 0xF190 ascii 17
 *   temp 0x0101 s16 scale=0.1 unit=degC
 *   odometer 0x0102 u24 le scale=0.1 unit=km
 */

#define HIL_UDS_DID_MAX 512   /* the longest DID value the typed calls decode; raw calls take more */

typedef enum hil_uds_did_type {
    HIL_UDS_DID_BYTES = 0,
    HIL_UDS_DID_ASCII,
    HIL_UDS_DID_UINT,
    HIL_UDS_DID_SINT
} hil_uds_did_type;

typedef struct hil_uds_did {
    char name[48];
    uint16_t id;
    hil_uds_did_type type;
    unsigned bits;          /* integers: 1..64 */
    size_t length;          /* bytes on the wire; 0 for bytes/ascii of any length */
    int little_endian;
    double scale;           /* 1 when not scaled */
    double offset;
    char unit[16];
} hil_uds_did;

typedef struct hil_uds_value {
    hil_uds_did_type type;
    uint64_t u;             /* UINT: the raw value */
    int64_t i;              /* SINT: the raw value (sign-extended) */
    double phys;            /* integers: raw * scale + offset */
    size_t len;             /* bytes of data */
    unsigned char data[HIL_UDS_DID_MAX];
    char text[3 * HIL_UDS_DID_MAX + 32]; /* ASCII as is; integers "-12.3 degC" or "42"; bytes "01 02 0a" */
} hil_uds_value;

/* Parse a spec. HIL_ERR_CONFIG naming the part that is wrong. */
HIL_API hil_result hil_uds_did_parse(const char* spec, hil_uds_did* out);
/* Decode a DID's data (without the DID). HIL_ERR_PROTOCOL when the length
 * does not fit the type (the message names the DID and shows the bytes). */
HIL_API hil_result hil_uds_did_decode(const hil_uds_did* d, const void* data, size_t len, hil_uds_value* out);
/* Encode from text: integers as decimal or 0x hex (exact to 64 bits) or,
 * when scaled, the physical value ("-12.3"); ASCII as is (fixed length:
 * exactly); bytes as hex ("01 02 0a" or "01020a"). HIL_ERR_INVALID_ARG
 * (not a value of the type) or HIL_ERR_OVERFLOW (out of range, too long). */
HIL_API hil_result hil_uds_did_encode(const hil_uds_did* d, const char* text, void* out, size_t cap, size_t* len);
/* Encode a physical value (integers; raw = round((phys - offset) / scale)). */
HIL_API hil_result hil_uds_did_encode_phys(const hil_uds_did* d, double phys, void* out, size_t cap, size_t* len);

/* ==========================================================================
 * 3. The uds auxiliary
 * ========================================================================== */

#define HIL_UDS_SESSION_DEFAULT 0x01
#define HIL_UDS_SESSION_PROGRAMMING 0x02
#define HIL_UDS_SESSION_EXTENDED 0x03

#define HIL_UDS_RESET_HARD 0x01
#define HIL_UDS_RESET_KEY_OFF_ON 0x02
#define HIL_UDS_RESET_SOFT 0x03

#define HIL_UDS_ROUTINE_START 0x01
#define HIL_UDS_ROUTINE_STOP 0x02
#define HIL_UDS_ROUTINE_RESULTS 0x03

/* flags of hil_uds_request */
#define HIL_UDS_FUNCTIONAL 0x01u    /* send on connectors.functional */
#define HIL_UDS_SUPPRESS 0x02u      /* set the suppress-positive-response bit (byte 1, bit 7) */
#define HIL_UDS_NO_SUBFUNCTION 0x04u /* the service has no sub-function: never touch byte 1 */

/* A key from a seed. Write at most cap bytes to key, the length to *len. */
typedef hil_result (*hil_uds_key_fn)(int level, const unsigned char* seed, size_t seed_len, unsigned char* key,
                                     size_t cap, size_t* len, void* user);

/* Register a key function by name for option "security" (global; the
 * name must be unique). */
HIL_API hil_result hil_uds_key_fn_register(const char* name, hil_uds_key_fn fn, void* user);
/* Or set one on an auxiliary for a level (odd: the requestSeed level). */
HIL_API hil_result hil_uds_set_key_fn(hil_aux* a, int level, hil_uds_key_fn fn, void* user);

/* Add a DID to an auxiliary's table (as option "dids" does). */
HIL_API hil_result hil_uds_add_did(hil_aux* a, const hil_uds_did* d);
/* A DID of the table by name, or NULL. */
HIL_API const hil_uds_did* hil_uds_find_did(hil_aux* a, const char* name);

/* Any request: the response (positive) into resp (cap bytes), its length
 * into *resp_len (either may be NULL). With HIL_UDS_SUPPRESS (or bit 7 of
 * byte 1 set by the caller) no positive answer is awaited: a negative one
 * within P2 is still an error; *resp_len is 0 then. */
HIL_API hil_result hil_uds_request(hil_aux* a, const void* req, size_t len, unsigned flags, void* resp, size_t cap,
                                   size_t* resp_len);
/* The NRC of this auxiliary's last request, 0 when it had none. */
HIL_API int hil_uds_last_nrc(hil_aux* a);

typedef struct hil_uds_timing {
    int p2_ms;               /* P2server_max as the ECU said */
    int p2_star_ms;          /* P2*server_max */
} hil_uds_timing;

/* 0x10: change the session; P2/P2* from the answer are used from now on
 * (timing may be NULL). A non-default session starts TesterPresent in the
 * background (tester_present_ms); the default session stops it. */
HIL_API hil_result hil_uds_session(hil_aux* a, int session);
HIL_API hil_result hil_uds_session_ex(hil_aux* a, int session, unsigned flags, hil_uds_timing* timing);
/* 0x11. powerdown_s (may be NULL): enableRapidPowerShutDown's time, else -1. */
HIL_API hil_result hil_uds_ecu_reset(hil_aux* a, int type, int* powerdown_s);
/* 0x27: requestSeed(level), the key function of that level, sendKey(level + 1).
 * An all-zero seed means unlocked already: no key is sent. */
HIL_API hil_result hil_uds_security_access(hil_aux* a, int level);
/* 0x22 / 0x2E by id: raw data (without the DID). */
HIL_API hil_result hil_uds_read_did(hil_aux* a, uint16_t id, void* out, size_t cap, size_t* len);
HIL_API hil_result hil_uds_write_did(hil_aux* a, uint16_t id, const void* data, size_t len);
/* 0x22 / 0x2E by name through the DID table: decoded / encoded from text. */
HIL_API hil_result hil_uds_read(hil_aux* a, const char* name, hil_uds_value* out);
HIL_API hil_result hil_uds_write(hil_aux* a, const char* name, const char* text);
HIL_API hil_result hil_uds_write_phys(hil_aux* a, const char* name, double phys);
/* 0x31: routineStatusRecord (after the routine id) into out. */
HIL_API hil_result hil_uds_routine(hil_aux* a, int control, uint16_t rid, const void* param, size_t param_len,
                                   void* out, size_t cap, size_t* out_len);

typedef struct hil_uds_dtc {
    uint32_t dtc;            /* 24 bits */
    uint8_t status;
} hil_uds_dtc;

/* 0x19 0x01: the number of DTCs matching mask; availability may be NULL. */
HIL_API hil_result hil_uds_dtc_count(hil_aux* a, uint8_t mask, uint16_t* count, uint8_t* availability);
/* 0x19 0x02 (by status mask) or 0x0A (every supported DTC; mask ignored). */
HIL_API hil_result hil_uds_dtc_list(hil_aux* a, int sub, uint8_t mask, hil_uds_dtc* out, size_t max, size_t* n,
                                    uint8_t* availability);
/* 0x19 0x06: the extended data record(s) of one DTC (0xFF: all), as
 * sent after DTC and status: "record number, data..." */
HIL_API hil_result hil_uds_dtc_ext_data(hil_aux* a, uint32_t dtc, uint8_t record, uint8_t* status, void* out,
                                        size_t cap, size_t* len);
/* 0x14: clear a group (0xFFFFFF: all). */
HIL_API hil_result hil_uds_clear_dtc(hil_aux* a, uint32_t group);
/* 0x3E 0x00 (flags: HIL_UDS_SUPPRESS, HIL_UDS_FUNCTIONAL). */
HIL_API hil_result hil_uds_tester_present(hil_aux* a, unsigned flags);
/* 0x28: controlType (0 enableRxAndTx ... 3 disableRxAndTx), communicationType (1 normal, 2 NM, 3 both). */
HIL_API hil_result hil_uds_communication_control(hil_aux* a, int control, int comm_type, unsigned flags);
/* 0x85: 1 on, 2 off. */
HIL_API hil_result hil_uds_control_dtc_setting(hil_aux* a, int setting, unsigned flags);

/* 0x34: addr_bytes/size_bytes 1..8 (addressAndLengthFormatIdentifier);
 * *max_block: maxNumberOfBlockLength from the answer (it counts the SID
 * and the counter: each TransferData carries max_block - 2 data bytes). */
HIL_API hil_result hil_uds_request_download(hil_aux* a, uint8_t data_format, uint64_t addr, uint64_t size,
                                            int addr_bytes, int size_bytes, size_t* max_block);
/* 0x36: one block; the answer's echoed counter is checked. */
HIL_API hil_result hil_uds_transfer_data(hil_aux* a, uint8_t counter, const void* data, size_t len);
/* 0x37 */
HIL_API hil_result hil_uds_transfer_exit(hil_aux* a);
/* 0x34, 0x36 blocks (counter 1, 2, ... 0xFF, 0x00, 1 ...), 0x37. */
HIL_API hil_result hil_uds_download(hil_aux* a, uint8_t data_format, uint64_t addr, const void* data, size_t len,
                                    int addr_bytes, int size_bytes);

typedef struct hil_uds_stats {
    uint64_t requests;         /* sent by calls */
    uint64_t pending;          /* 0x78 answers seen */
    uint64_t tester_present;   /* sent by the background thread */
} hil_uds_stats;
HIL_API void hil_uds_get_stats(hil_aux* a, hil_uds_stats* out);

/* ==========================================================================
 * 4. Response decoding
 * ========================================================================== */

/* Is resp the positive answer to req? HIL_OK; HIL_ERR_PROTOCOL naming the
 * service and the bytes (negative answer: *nrc set; wrong SID, a missing
 * or wrong echo of the sub-function or DID, a wrong length). What every
 * typed call checks; public for the fuzzer and for raw users. */
HIL_API hil_result hil_uds_check_response(const void* req, size_t req_len, const void* resp, size_t resp_len,
                                          int* nrc);

/* ==========================================================================
 * 5. The "uds" flasher
 * ========================================================================== */
/* flashers.<name>.type = uds: programs through a uds auxiliary (option
 * auxiliary; default the flasher's name): for every block of the image
 * (ELF, Intel HEX, or .bin at bin_address): sessions, security access,
 * erase routine, RequestDownload/TransferData/RequestTransferExit, check
 * routine, ECUReset. docs/uds.md lists the options. */

HIL_API void hil_uds_module_init(void);

#ifdef __cplusplus
}
#endif

#endif /* HIL_UDS_H_INCLUDED */

/* ==========================================================================
 * IMPLEMENTATION
 * ========================================================================== */
#if (defined(HIL_IMPLEMENTATION) || defined(HIL_IMPLEMENTATION_UDS)) && !defined(HIL_UDS__IMPLEMENTED)
#define HIL_UDS__IMPLEMENTED
#ifndef HIL__PRELUDE_DONE
#error "hil_uds.h: define HIL_IMPLEMENTATION_UDS before the first hil header of the file"
#endif

#include <math.h>
#include <errno.h>
#include <limits.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ==== uds: names ========================================================== */

HIL_API const char* hil_uds_nrc_name(int nrc) {
    switch (nrc) {
    case 0x00: return "positiveResponse";
    case 0x10: return "generalReject";
    case 0x11: return "serviceNotSupported";
    case 0x12: return "subFunctionNotSupported";
    case 0x13: return "incorrectMessageLengthOrInvalidFormat";
    case 0x14: return "responseTooLong";
    case 0x21: return "busyRepeatRequest";
    case 0x22: return "conditionsNotCorrect";
    case 0x24: return "requestSequenceError";
    case 0x25: return "noResponseFromSubnetComponent";
    case 0x26: return "failurePreventsExecutionOfRequestedAction";
    case 0x31: return "requestOutOfRange";
    case 0x33: return "securityAccessDenied";
    case 0x34: return "authenticationRequired";
    case 0x35: return "invalidKey";
    case 0x36: return "exceedNumberOfAttempts";
    case 0x37: return "requiredTimeDelayNotExpired";
    case 0x50: return "certificateVerificationFailedInvalidTimePeriod";
    case 0x51: return "certificateVerificationFailedInvalidSignature";
    case 0x52: return "certificateVerificationFailedInvalidChainOfTrust";
    case 0x53: return "certificateVerificationFailedInvalidType";
    case 0x54: return "certificateVerificationFailedInvalidFormat";
    case 0x55: return "certificateVerificationFailedInvalidContent";
    case 0x56: return "certificateVerificationFailedInvalidScope";
    case 0x57: return "certificateVerificationFailedInvalidCertificate";
    case 0x58: return "ownershipVerificationFailed";
    case 0x59: return "challengeCalculationFailed";
    case 0x5A: return "settingAccessRightsFailed";
    case 0x5B: return "sessionKeyCreationDerivationFailed";
    case 0x5C: return "configurationDataUsageFailed";
    case 0x5D: return "deAuthenticationFailed";
    case 0x70: return "uploadDownloadNotAccepted";
    case 0x71: return "transferDataSuspended";
    case 0x72: return "generalProgrammingFailure";
    case 0x73: return "wrongBlockSequenceCounter";
    case 0x78: return "requestCorrectlyReceivedResponsePending";
    case 0x7E: return "subFunctionNotSupportedInActiveSession";
    case 0x7F: return "serviceNotSupportedInActiveSession";
    case 0x81: return "rpmTooHigh";
    case 0x82: return "rpmTooLow";
    case 0x83: return "engineIsRunning";
    case 0x84: return "engineIsNotRunning";
    case 0x85: return "engineRunTimeTooLow";
    case 0x86: return "temperatureTooHigh";
    case 0x87: return "temperatureTooLow";
    case 0x88: return "vehicleSpeedTooHigh";
    case 0x89: return "vehicleSpeedTooLow";
    case 0x8A: return "throttlePedalTooHigh";
    case 0x8B: return "throttlePedalTooLow";
    case 0x8C: return "transmissionRangeNotInNeutral";
    case 0x8D: return "transmissionRangeNotInGear";
    case 0x8F: return "brakeSwitchesNotClosed";
    case 0x90: return "shifterLeverNotInPark";
    case 0x91: return "torqueConverterClutchLocked";
    case 0x92: return "voltageTooHigh";
    case 0x93: return "voltageTooLow";
    default: break;
    }
    if (nrc >= 0x38 && nrc <= 0x4F) return "reservedByExtendedDataLinkSecurityDocument";
    if (nrc >= 0x94 && nrc <= 0xEF) return "reservedForSpecificConditionsNotCorrect";
    if (nrc >= 0xF0 && nrc <= 0xFE) return "vehicleManufacturerSpecificConditionsNotCorrect";
    return "ISOSAEReserved";
}

HIL_API const char* hil_uds_service_name(int sid) {
    if ((sid >= 0x50 && sid <= 0x7E) || (sid >= 0xC3 && sid <= 0xC7)) sid -= 0x40; /* a positive answer's SID */
    switch (sid) {
    case 0x10: return "DiagnosticSessionControl";
    case 0x11: return "ECUReset";
    case 0x14: return "ClearDiagnosticInformation";
    case 0x19: return "ReadDTCInformation";
    case 0x22: return "ReadDataByIdentifier";
    case 0x23: return "ReadMemoryByAddress";
    case 0x24: return "ReadScalingDataByIdentifier";
    case 0x27: return "SecurityAccess";
    case 0x28: return "CommunicationControl";
    case 0x29: return "Authentication";
    case 0x2A: return "ReadDataByPeriodicIdentifier";
    case 0x2C: return "DynamicallyDefineDataIdentifier";
    case 0x2E: return "WriteDataByIdentifier";
    case 0x2F: return "InputOutputControlByIdentifier";
    case 0x31: return "RoutineControl";
    case 0x34: return "RequestDownload";
    case 0x35: return "RequestUpload";
    case 0x36: return "TransferData";
    case 0x37: return "RequestTransferExit";
    case 0x38: return "RequestFileTransfer";
    case 0x3D: return "WriteMemoryByAddress";
    case 0x3E: return "TesterPresent";
    case 0x7F: return "NegativeResponse";
    case 0x83: return "AccessTimingParameter";
    case 0x84: return "SecuredDataTransmission";
    case 0x85: return "ControlDTCSetting";
    case 0x86: return "ResponseOnEvent";
    case 0x87: return "LinkControl";
    default: return "unknown service";
    }
}

/* "62 f1 90 48 ..." of at most 24 bytes, for messages. */
static const char* hil__uds_hex(const void* data, size_t len, char* out, size_t size) {
    const unsigned char* p = (const unsigned char*)data;
    size_t i, n = 0;
    out[0] = 0;
    for (i = 0; i < len && i < 24 && n + 4 < size; i++) n += (size_t)snprintf(out + n, size - n, "%s%02x", i ? " " : "", p[i]);
    if (i < len && n + 5 < size) snprintf(out + n, size - n, " ...");
    if (!len) snprintf(out, size, "(empty)");
    return out;
}

/* ==== uds: data identifiers =============================================== */

static int hil__uds_word(const char** s, char* out, size_t size) {
    size_t n = 0;
    while (**s == ' ' || **s == '\t' || **s == '\n' || **s == '\r') (*s)++;
    if (!**s) return 0;
    while (**s && **s != ' ' && **s != '\t' && **s != '\n' && **s != '\r') {
        if (n + 1 < size) out[n++] = **s;
        (*s)++;
    }
    out[n] = 0;
    return 1;
}

static int hil__uds_num(const char* s, double* out) {
    char* end;
    if (!*s) return 0;
    errno = 0;
    *out = strtod(s, &end);
    return !errno && !*end && *out == *out && *out - *out == 0;
}

HIL_API hil_result hil_uds_did_parse(const char* spec, hil_uds_did* out) {
    char w[64], t[64];
    const char* s = spec;
    unsigned long long id;
    char* end;
    memset(out, 0, sizeof *out);
    out->scale = 1.0;
    if (!spec || !hil__uds_word(&s, w, sizeof w))
        return hil_error(HIL_ERR_CONFIG, "DID spec '%s': empty; write '<name> <id> <type> [options]', e.g. 'vin 0xF190 ascii 17'",
                         spec ? spec : "");
    if (strlen(w) >= sizeof out->name)
        return hil_error(HIL_ERR_CONFIG, "DID spec '%s': the name is longer than %u characters", spec,
                         (unsigned)sizeof out->name - 1);
    memcpy(out->name, w, strlen(w) + 1);
    if (!hil__uds_word(&s, w, sizeof w))
        return hil_error(HIL_ERR_CONFIG, "DID spec '%s': no id after the name (e.g. 0xF190)", spec);
    errno = 0;
    id = strtoull(w, &end, 0);
    if (errno || *end || w[0] == '-' || id > 0xFFFF)
        return hil_error(HIL_ERR_CONFIG, "DID spec '%s': id '%s' is not a number 0..0xFFFF", spec, w);
    out->id = (uint16_t)id;
    if (!hil__uds_word(&s, t, sizeof t))
        return hil_error(HIL_ERR_CONFIG, "DID spec '%s': no type (bytes, ascii, u8..u64, s8..s64)", spec);
    {
        const char* digits = NULL;
        if (strncmp(t, "bytes", 5) == 0) { out->type = HIL_UDS_DID_BYTES; digits = t + 5; }
        else if (strncmp(t, "ascii", 5) == 0) { out->type = HIL_UDS_DID_ASCII; digits = t + 5; }
        else if (strncmp(t, "uint", 4) == 0) { out->type = HIL_UDS_DID_UINT; digits = t + 4; }
        else if (strncmp(t, "int", 3) == 0) { out->type = HIL_UDS_DID_SINT; digits = t + 3; }
        else if (t[0] == 'u') { out->type = HIL_UDS_DID_UINT; digits = t + 1; }
        else if (t[0] == 's') { out->type = HIL_UDS_DID_SINT; digits = t + 1; }
        else
            return hil_error(HIL_ERR_CONFIG, "DID spec '%s': unknown type '%s' (bytes[N], ascii[N], u1..u64, s1..s64)", spec, t);
        if (out->type == HIL_UDS_DID_BYTES || out->type == HIL_UDS_DID_ASCII) {
            /* "ascii 17", "ascii17" or "ascii[17]" */
            char len_text[32] = "";
            if (*digits == '[') {
                size_t k = strlen(digits);
                if (k < 3 || digits[k - 1] != ']' || k - 2 >= sizeof len_text)
                    return hil_error(HIL_ERR_CONFIG, "DID spec '%s': '%s': write %.5s[N]", spec, t, t);
                memcpy(len_text, digits + 1, k - 2);
                len_text[k - 2] = 0;
            } else if (*digits) {
                if (strlen(digits) >= sizeof len_text)
                    return hil_error(HIL_ERR_CONFIG, "DID spec '%s': '%s' is not a length", spec, digits);
                memcpy(len_text, digits, strlen(digits) + 1);
            } else {
                const char* save = s;
                if (hil__uds_word(&s, w, sizeof w) && isdigit((unsigned char)w[0]) && strlen(w) < sizeof len_text)
                    memcpy(len_text, w, strlen(w) + 1);
                else s = save;
            }
            if (len_text[0]) {
                unsigned long long n;
                errno = 0;
                n = strtoull(len_text, &end, 10);
                if (errno || *end || n == 0 || n > 4093)
                    return hil_error(HIL_ERR_CONFIG, "DID spec '%s': length '%s' is not 1..4093", spec, len_text);
                out->length = (size_t)n;
            }
        } else {
            unsigned long long b;
            errno = 0;
            b = strtoull(digits, &end, 10);
            if (!*digits || errno || *end || b < 1 || b > 64)
                return hil_error(HIL_ERR_CONFIG, "DID spec '%s': '%s': integers are u<bits> or s<bits> with bits 1..64", spec, t);
            out->bits = (unsigned)b;
            out->length = (out->bits + 7) / 8;
        }
    }
    while (hil__uds_word(&s, w, sizeof w)) {
        double v;
        int is_int = out->type == HIL_UDS_DID_UINT || out->type == HIL_UDS_DID_SINT;
        if (strcmp(w, "be") == 0 || strcmp(w, "big") == 0) out->little_endian = 0;
        else if (strcmp(w, "le") == 0 || strcmp(w, "little") == 0) out->little_endian = 1;
        else if (strncmp(w, "scale=", 6) == 0 && is_int) {
            if (!hil__uds_num(w + 6, &v) || v == 0)
                return hil_error(HIL_ERR_CONFIG, "DID spec '%s': scale '%s' is not a number other than 0", spec, w + 6);
            out->scale = v;
        } else if (strncmp(w, "offset=", 7) == 0 && is_int) {
            if (!hil__uds_num(w + 7, &v)) return hil_error(HIL_ERR_CONFIG, "DID spec '%s': offset '%s' is not a number", spec, w + 7);
            out->offset = v;
        } else if (strncmp(w, "unit=", 5) == 0 && is_int) {
            if (strlen(w + 5) >= sizeof out->unit)
                return hil_error(HIL_ERR_CONFIG, "DID spec '%s': unit '%s' is longer than %u characters", spec, w + 5,
                                 (unsigned)sizeof out->unit - 1);
            memcpy(out->unit, w + 5, strlen(w + 5) + 1);
        } else
            return hil_error(HIL_ERR_CONFIG, "DID spec '%s': unknown option '%s' (be, le%s)", spec, w,
                             is_int ? ", scale=, offset=, unit=" : "; scale, offset and unit are for integers");
    }
    return HIL_OK;
}

static int hil__uds_scaled(const hil_uds_did* d) { return d->scale != 1.0 || d->offset != 0.0; }

HIL_API hil_result hil_uds_did_decode(const hil_uds_did* d, const void* data, size_t len, hil_uds_value* out) {
    const unsigned char* p = (const unsigned char*)data;
    char hex[100];
    size_t i;
    memset(out, 0, sizeof *out);
    out->type = d->type;
    if ((d->length && len != d->length) || len > HIL_UDS_DID_MAX)
        return hil_error(HIL_ERR_PROTOCOL, "DID '%s' (0x%04X): %zu bytes (%s) where %s%zu were expected", d->name, d->id, len,
                         hil__uds_hex(data, len, hex, sizeof hex), d->length ? "" : "at most ",
                         d->length ? d->length : (size_t)HIL_UDS_DID_MAX);
    if (len) memcpy(out->data, p, len);
    out->len = len;
    if (d->type == HIL_UDS_DID_BYTES) {
        /* 3 characters a byte: the text holds all HIL_UDS_DID_MAX of them */
        static const char hexd[] = "0123456789abcdef";
        size_t n = 0;
        for (i = 0; i < len; i++) {
            if (i) out->text[n++] = ' ';
            out->text[n++] = hexd[p[i] >> 4];
            out->text[n++] = hexd[p[i] & 15];
        }
        out->text[n] = 0;
    } else if (d->type == HIL_UDS_DID_ASCII) {
        for (i = 0; i < len; i++) out->text[i] = p[i] >= 0x20 && p[i] < 0x7F ? (char)p[i] : p[i] ? '?' : 0;
        out->text[len] = 0;
    } else {
        uint64_t raw = 0;
        for (i = 0; i < len; i++) raw |= (uint64_t)p[d->little_endian ? i : len - 1 - i] << (8 * i);
        if (d->bits < 64 && (raw >> d->bits) != 0)
            return hil_error(HIL_ERR_PROTOCOL, "DID '%s' (0x%04X): %s has bits set above the %u of the value", d->name,
                             d->id, hil__uds_hex(data, len, hex, sizeof hex), d->bits);
        if (d->type == HIL_UDS_DID_UINT) {
            out->u = raw;
            out->phys = (double)raw * d->scale + d->offset;
        } else {
            if (d->bits < 64 && (raw >> (d->bits - 1)) & 1u) raw |= ~(uint64_t)0 << d->bits; /* sign-extend */
            out->i = (int64_t)raw;
            out->u = raw;
            out->phys = (double)out->i * d->scale + d->offset;
        }
        if (hil__uds_scaled(d))
            snprintf(out->text, sizeof out->text, "%.10g%s%s", out->phys, d->unit[0] ? " " : "", d->unit);
        else if (d->type == HIL_UDS_DID_UINT)
            snprintf(out->text, sizeof out->text, "%llu%s%s", (unsigned long long)out->u, d->unit[0] ? " " : "", d->unit);
        else
            snprintf(out->text, sizeof out->text, "%lld%s%s", (long long)out->i, d->unit[0] ? " " : "", d->unit);
    }
    return HIL_OK;
}

static hil_result hil__uds_put_int(const hil_uds_did* d, uint64_t raw, void* out, size_t cap, size_t* len) {
    unsigned char* o = (unsigned char*)out;
    size_t i, n = d->length;
    if (d->bits < 64) raw &= ((uint64_t)1 << d->bits) - 1;
    if (cap < n) return hil_error(HIL_ERR_OVERFLOW, "DID '%s': %zu bytes do not fit in %zu", d->name, n, cap);
    for (i = 0; i < n; i++) o[d->little_endian ? i : n - 1 - i] = (unsigned char)(raw >> (8 * i));
    *len = n;
    return HIL_OK;
}

/* Range of the raw value: [lo, hi] as signed or unsigned. */
static hil_result hil__uds_put_signed(const hil_uds_did* d, int64_t v, void* out, size_t cap, size_t* len) {
    int64_t lo = d->bits == 64 ? INT64_MIN : -((int64_t)1 << (d->bits - 1));
    int64_t hi = d->bits == 64 ? INT64_MAX : ((int64_t)1 << (d->bits - 1)) - 1;
    if (v < lo || v > hi)
        return hil_error(HIL_ERR_OVERFLOW, "DID '%s': %lld is out of range for s%u (%lld..%lld)", d->name, (long long)v,
                         d->bits, (long long)lo, (long long)hi);
    return hil__uds_put_int(d, (uint64_t)v, out, cap, len);
}

static hil_result hil__uds_put_unsigned(const hil_uds_did* d, uint64_t v, void* out, size_t cap, size_t* len) {
    uint64_t hi = d->bits == 64 ? UINT64_MAX : ((uint64_t)1 << d->bits) - 1;
    if (v > hi)
        return hil_error(HIL_ERR_OVERFLOW, "DID '%s': %llu is out of range for u%u (0..%llu)", d->name,
                         (unsigned long long)v, d->bits, (unsigned long long)hi);
    return hil__uds_put_int(d, v, out, cap, len);
}

HIL_API hil_result hil_uds_did_encode_phys(const hil_uds_did* d, double phys, void* out, size_t cap, size_t* len) {
    double raw;
    if (d->type != HIL_UDS_DID_UINT && d->type != HIL_UDS_DID_SINT)
        return hil_error(HIL_ERR_INVALID_ARG, "DID '%s': a number for a %s DID", d->name,
                         d->type == HIL_UDS_DID_ASCII ? "ascii" : "bytes");
    if (phys != phys) return hil_error(HIL_ERR_INVALID_ARG, "DID '%s': NaN is not a value", d->name);
    raw = floor((phys - d->offset) / d->scale + 0.5);
    /* 2^63 and 2^64 are exact doubles: compare against them, not against INT64_MAX */
    if (d->type == HIL_UDS_DID_SINT) {
        if (raw < -9223372036854775808.0 || raw >= 9223372036854775808.0)
            return hil_error(HIL_ERR_OVERFLOW, "DID '%s': %g%s%s is out of range for s%u", d->name, phys,
                             d->unit[0] ? " " : "", d->unit, d->bits);
        return hil__uds_put_signed(d, (int64_t)raw, out, cap, len);
    }
    if (raw < 0 || raw >= 18446744073709551616.0)
        return hil_error(HIL_ERR_OVERFLOW, "DID '%s': %g%s%s is out of range for u%u", d->name, phys, d->unit[0] ? " " : "",
                         d->unit, d->bits);
    return hil__uds_put_unsigned(d, (uint64_t)raw, out, cap, len);
}

static int hil__uds_hexval(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

HIL_API hil_result hil_uds_did_encode(const hil_uds_did* d, const char* text, void* out, size_t cap, size_t* len) {
    unsigned char* o = (unsigned char*)out;
    *len = 0;
    if (!text) return hil_error(HIL_ERR_INVALID_ARG, "DID '%s': no value", d->name);
    if (d->type == HIL_UDS_DID_ASCII) {
        size_t n = strlen(text);
        if (d->length && n != d->length)
            return hil_error(HIL_ERR_OVERFLOW, "DID '%s' (0x%04X): '%s' has %zu characters; it takes exactly %zu", d->name,
                             d->id, text, n, d->length);
        if (n > cap) return hil_error(HIL_ERR_OVERFLOW, "DID '%s': %zu characters do not fit in %zu", d->name, n, cap);
        memcpy(o, text, n);
        *len = n;
        return HIL_OK;
    }
    if (d->type == HIL_UDS_DID_BYTES) {
        const char* s = text;
        size_t n = 0;
        while (*s) {
            int h, l;
            if (*s == ' ' || *s == ':' || *s == '-' || *s == ',') { s++; continue; }
            h = hil__uds_hexval((unsigned char)s[0]);
            l = h < 0 ? -1 : hil__uds_hexval((unsigned char)s[1]);
            if (h < 0 || l < 0)
                return hil_error(HIL_ERR_INVALID_ARG, "DID '%s': '%s' is not hex bytes (write \"01 02 0a\")", d->name, text);
            if (n == cap) return hil_error(HIL_ERR_OVERFLOW, "DID '%s': more than %zu bytes", d->name, cap);
            o[n++] = (unsigned char)(h << 4 | l);
            s += 2;
        }
        if (d->length && n != d->length)
            return hil_error(HIL_ERR_OVERFLOW, "DID '%s' (0x%04X): %zu bytes given; it takes exactly %zu", d->name, d->id, n,
                             d->length);
        *len = n;
        return HIL_OK;
    }
    if (hil__uds_scaled(d)) {
        double v;
        if (!hil__uds_num(text, &v))
            return hil_error(HIL_ERR_INVALID_ARG, "DID '%s': '%s' is not a number (the physical value%s%s)", d->name, text,
                             d->unit[0] ? " in " : "", d->unit);
        return hil_uds_did_encode_phys(d, v, out, cap, len);
    }
    {
        char* end;
        errno = 0;
        if (d->type == HIL_UDS_DID_SINT) {
            long long v = strtoll(text, &end, 0);
            if (!*text || *end) return hil_error(HIL_ERR_INVALID_ARG, "DID '%s': '%s' is not an integer", d->name, text);
            if (errno == ERANGE) return hil_error(HIL_ERR_OVERFLOW, "DID '%s': '%s' does not fit 64 bits", d->name, text);
            return hil__uds_put_signed(d, (int64_t)v, out, cap, len);
        } else {
            unsigned long long v;
            const char* t = text;
            while (*t == ' ') t++;
            if (*t == '-') return hil_error(HIL_ERR_OVERFLOW, "DID '%s': %s is out of range for u%u (unsigned)", d->name, text, d->bits);
            v = strtoull(text, &end, 0);
            if (!*text || *end) return hil_error(HIL_ERR_INVALID_ARG, "DID '%s': '%s' is not an integer", d->name, text);
            if (errno == ERANGE) return hil_error(HIL_ERR_OVERFLOW, "DID '%s': '%s' does not fit 64 bits", d->name, text);
            return hil__uds_put_unsigned(d, (uint64_t)v, out, cap, len);
        }
    }
}

/* ==== uds: response decoding ============================================== */

/* Services whose byte 1 is a sub-function (echoed in the answer, bit 7 suppresses it). */
static int hil__uds_has_sub(int sid) {
    return sid == 0x10 || sid == 0x11 || sid == 0x19 || sid == 0x27 || sid == 0x28 || sid == 0x31 || sid == 0x3E ||
           sid == 0x85 || sid == 0x29 || sid == 0x2C || sid == 0x83 || sid == 0x86 || sid == 0x87;
}

HIL_API hil_result hil_uds_check_response(const void* req, size_t req_len, const void* resp, size_t resp_len,
                                          int* nrc) {
    const unsigned char* q = (const unsigned char*)req;
    const unsigned char* p = (const unsigned char*)resp;
    char hex[100];
    int sid;
    const char* name;
    if (nrc) *nrc = 0;
    if (!req_len) return hil_error(HIL_ERR_INVALID_ARG, "an empty UDS request");
    sid = q[0];
    name = hil_uds_service_name(sid);
#define HIL__UDS_BAD(why) \
    hil_error(HIL_ERR_PROTOCOL, "%s (0x%02X): malformed answer %s: %s", name, sid, \
              hil__uds_hex(resp, resp_len, hex, sizeof hex), why)
    if (!resp_len) return HIL__UDS_BAD("empty");
    if (p[0] == 0x7F) {
        if (resp_len != 3) return HIL__UDS_BAD("a negative response is 3 bytes (7F SID NRC)");
        if (p[1] != sid) return HIL__UDS_BAD("a negative response to another service");
        if (nrc) *nrc = p[2];
        return hil_error(HIL_ERR_PROTOCOL, "%s (0x%02X) was refused: NRC 0x%02X %s", name, sid, p[2],
                         hil_uds_nrc_name(p[2]));
    }
    if (p[0] != ((sid + 0x40) & 0xFF)) return HIL__UDS_BAD("the SID is not the request's + 0x40");
    if (hil__uds_has_sub(sid) && req_len >= 2) {
        if (resp_len < 2) return HIL__UDS_BAD("the sub-function is not echoed");
        if ((p[1] & 0x7F) != (q[1] & 0x7F)) return HIL__UDS_BAD("the echoed sub-function is not the request's");
    }
    switch (sid) {
    case 0x10:
        if (resp_len != 2 && resp_len != 6) return HIL__UDS_BAD("DiagnosticSessionControl answers 2 or 6 bytes");
        break;
    case 0x11:
        if (resp_len != 2 && !((q[1] & 0x7F) == 0x04 && resp_len == 3)) return HIL__UDS_BAD("ECUReset answers 2 bytes (3 for 0x04)");
        break;
    case 0x14:
        if (resp_len != 1) return HIL__UDS_BAD("ClearDiagnosticInformation answers 1 byte");
        break;
    case 0x22:
        if (req_len < 3) break;
        if (resp_len < 3) return HIL__UDS_BAD("no DID in the answer");
        if (p[1] != q[1] || p[2] != q[2]) return HIL__UDS_BAD("the echoed DID is not the first one asked for");
        break;
    case 0x2E:
        if (req_len < 3) break;
        if (resp_len != 3) return HIL__UDS_BAD("WriteDataByIdentifier answers 3 bytes");
        if (p[1] != q[1] || p[2] != q[2]) return HIL__UDS_BAD("the echoed DID is not the one written");
        break;
    case 0x27:
        if ((q[1] & 1) == 0 && resp_len != 2) return HIL__UDS_BAD("the answer to sendKey is 2 bytes");
        if ((q[1] & 1) == 1 && resp_len < 3) return HIL__UDS_BAD("no seed in the answer to requestSeed");
        break;
    case 0x31:
        if (req_len < 4) break;
        if (resp_len < 4) return HIL__UDS_BAD("no routine identifier in the answer");
        if (p[2] != q[2] || p[3] != q[3]) return HIL__UDS_BAD("the echoed routine identifier is not the request's");
        break;
    case 0x19:
        if (req_len < 2) break;
        switch (q[1] & 0x7F) {
        case 0x01: case 0x07: case 0x11: case 0x12:
            if (resp_len != 6) return HIL__UDS_BAD("the DTC count answer is 6 bytes");
            break;
        case 0x02: case 0x0A: case 0x0F: case 0x13: case 0x15: case 0x17:
            if (resp_len < 3 || (resp_len - 3) % 4) return HIL__UDS_BAD("a DTC list is the availability mask and 4 bytes per DTC");
            break;
        case 0x06: case 0x04: case 0x10:
            if (resp_len < 6) return HIL__UDS_BAD("no DTC and status in the answer");
            if (req_len >= 5 && memcmp(p + 2, q + 2, 3) != 0) return HIL__UDS_BAD("the echoed DTC is not the request's");
            break;
        default: break;
        }
        break;
    case 0x28: case 0x85: case 0x3E:
        if (resp_len != 2) return HIL__UDS_BAD("the answer is 2 bytes");
        break;
    case 0x34: {
        size_t n;
        if (resp_len < 2) return HIL__UDS_BAD("no lengthFormatIdentifier");
        n = p[1] >> 4;
        if (n < 1 || n > 8) return HIL__UDS_BAD("lengthFormatIdentifier gives no 1..8 byte maxNumberOfBlockLength");
        if (resp_len != 2 + n) return HIL__UDS_BAD("the length does not match the lengthFormatIdentifier");
        break;
    }
    case 0x36:
        if (req_len >= 2 && (resp_len < 2 || p[1] != q[1])) return HIL__UDS_BAD("the echoed block sequence counter is not the request's");
        break;
    default: break;
    }
#undef HIL__UDS_BAD
    return HIL_OK;
}

/* ==== uds: the auxiliary =================================================== */

#define HIL__UDS_MAX_DIDS 256
#define HIL__UDS_MAX_KEYS 16
#define HIL__UDS_MSG 4096

typedef struct hil__uds_key { int level; hil_uds_key_fn fn; void* user; char name[48]; } hil__uds_key;

static hil__uds_key hil__uds_keyfns[32];
static size_t hil__uds_n_keyfns;
static hil_mutex hil__uds_keyfn_mu;
static int hil__uds_keyfn_mu_ok;

typedef struct hil__uds {
    hil_mutex mu;             /* one request on the wire at a time */
    hil_mutex tpmu;           /* the TesterPresent thread's state, the stats */
    hil_cond tpcv;
    hil_mutex tpctl;          /* starting and stopping that thread: one caller at a time */
    int locks_ok;
    long long p2_ms, p2_star_ms, margin_ms, pending_max, pending_total_ms, tp_ms;
    int tp_functional;
    int cur_p2, cur_p2_star;  /* from the last session answer */
    int session;
    hil_thread tp;
    int tp_running, tp_stop;
    uint64_t last_tx_ns;
    size_t func_index;
    int has_func;
    int last_nrc;
    hil_uds_stats stats;
    hil_uds_did* dids;
    size_t n_dids;
    hil__uds_key keys[HIL__UDS_MAX_KEYS];
    size_t n_keys;
    hil_aux* self;
} hil__uds;

static const hil_aux_opt hil__uds_opts[] = {
    {"connectors.functional", HIL_OPT_STRING, NULL,
     "uds: the connector for functional requests (CAN 0x7DF); answers arrive on connectors.com", NULL},
    {"p2_ms", HIL_OPT_INT, "50", "uds: P2 client, the first answer within this many ms (ISO 14229-2: 50)", NULL},
    {"p2_star_ms", HIL_OPT_INT, "5000", "uds: P2* after a 0x78 response pending (ISO 14229-2: 5000)", NULL},
    {"margin_ms", HIL_OPT_INT, "100", "uds: added to P2 and P2* for the transport and a loaded host", NULL},
    {"pending_max", HIL_OPT_INT, "100", "uds: how many 0x78 response pending one request may get", NULL},
    {"pending_total_ms", HIL_OPT_INT, "60000", "uds: how long one request may stay pending in all", NULL},
    {"tester_present_ms", HIL_OPT_INT, "2000", "uds: TesterPresent period in a non-default session (0: off)", NULL},
    {"tester_present_functional", HIL_OPT_BOOL, "false", "uds: send TesterPresent on connectors.functional", NULL},
    {"dids", HIL_OPT_STRING, NULL, "uds: data identifiers, '<name> <id> <type> [options]' separated by ';'", NULL},
    {"security", HIL_OPT_STRING, NULL, "uds: key functions per level, '<level>:<registered name>' separated by spaces", NULL},
    {NULL, HIL_OPT_STRING, NULL, NULL, NULL}
};

static hil__uds* hil__uds_of(hil_aux* a, const char* fn) {
    if (!a || strcmp(hil_aux_type(a), "uds") != 0) {
        hil_error(HIL_ERR_INVALID_ARG, "%s: '%s' is not a uds auxiliary", fn, a ? hil_aux_name(a) : "(null)");
        return NULL;
    }
    return (hil__uds*)hil_aux_priv(a);
}

HIL_API hil_result hil_uds_key_fn_register(const char* name, hil_uds_key_fn fn, void* user) {
    size_t i;
    if (!name || !*name || !fn || strlen(name) >= sizeof hil__uds_keyfns[0].name)
        return hil_error(HIL_ERR_INVALID_ARG, "hil_uds_key_fn_register: a name (1..47 characters) and a function");
    if (!hil__uds_keyfn_mu_ok) { /* registration happens before tests start: one thread */
        hil_mutex_init(&hil__uds_keyfn_mu);
        hil__uds_keyfn_mu_ok = 1;
    }
    hil_mutex_lock(&hil__uds_keyfn_mu);
    for (i = 0; i < hil__uds_n_keyfns; i++)
        if (strcmp(hil__uds_keyfns[i].name, name) == 0) {
            hil_mutex_unlock(&hil__uds_keyfn_mu);
            return hil_error(HIL_ERR_EXISTS, "key function '%s' is registered twice", name);
        }
    if (hil__uds_n_keyfns == HIL__COUNTOF(hil__uds_keyfns)) {
        hil_mutex_unlock(&hil__uds_keyfn_mu);
        return hil_error(HIL_ERR_OVERFLOW, "too many key functions (at most 32)");
    }
    memcpy(hil__uds_keyfns[hil__uds_n_keyfns].name, name, strlen(name) + 1);
    hil__uds_keyfns[hil__uds_n_keyfns].fn = fn;
    hil__uds_keyfns[hil__uds_n_keyfns].user = user;
    hil__uds_n_keyfns++;
    hil_mutex_unlock(&hil__uds_keyfn_mu);
    return HIL_OK;
}

HIL_API hil_result hil_uds_set_key_fn(hil_aux* a, int level, hil_uds_key_fn fn, void* user) {
    hil__uds* u = hil__uds_of(a, "hil_uds_set_key_fn");
    size_t i;
    if (!u) return HIL_ERR_INVALID_ARG;
    if (level < 1 || level > 0x7D || !(level & 1) || !fn)
        return hil_error(HIL_ERR_INVALID_ARG, "hil_uds_set_key_fn: level %d is not an odd requestSeed level 0x01..0x7D", level);
    hil_mutex_lock(&u->mu);
    for (i = 0; i < u->n_keys && u->keys[i].level != level; i++) {}
    if (i == HIL__UDS_MAX_KEYS) {
        hil_mutex_unlock(&u->mu);
        return hil_error(HIL_ERR_OVERFLOW, "auxiliary '%s': at most %d security levels", hil_aux_name(a), HIL__UDS_MAX_KEYS);
    }
    u->keys[i].level = level;
    u->keys[i].fn = fn;
    u->keys[i].user = user;
    snprintf(u->keys[i].name, sizeof u->keys[i].name, "(set by code)");
    if (i == u->n_keys) u->n_keys++;
    hil_mutex_unlock(&u->mu);
    return HIL_OK;
}

static hil_result hil__uds_add_did(hil__uds* u, hil_aux* a, const hil_uds_did* d) {
    size_t i;
    for (i = 0; i < u->n_dids; i++)
        if (strcmp(u->dids[i].name, d->name) == 0)
            return hil_aux_fail(a, HIL_ERR_EXISTS, "DID '%s' is declared twice", d->name);
    if (u->n_dids == HIL__UDS_MAX_DIDS) return hil_aux_fail(a, HIL_ERR_OVERFLOW, "at most %d DIDs", HIL__UDS_MAX_DIDS);
    if (!u->dids && !(u->dids = (hil_uds_did*)HIL_MALLOC(sizeof(hil_uds_did) * HIL__UDS_MAX_DIDS)))
        return hil_error(HIL_ERR_NO_MEMORY, "out of memory");
    u->dids[u->n_dids++] = *d;
    return HIL_OK;
}

HIL_API hil_result hil_uds_add_did(hil_aux* a, const hil_uds_did* d) {
    hil__uds* u = hil__uds_of(a, "hil_uds_add_did");
    hil_result r;
    if (!u) return HIL_ERR_INVALID_ARG;
    hil_mutex_lock(&u->mu);
    r = hil__uds_add_did(u, a, d);
    hil_mutex_unlock(&u->mu);
    return r;
}

HIL_API const hil_uds_did* hil_uds_find_did(hil_aux* a, const char* name) {
    hil__uds* u = hil__uds_of(a, "hil_uds_find_did");
    size_t i;
    if (!u || !name) return NULL;
    for (i = 0; i < u->n_dids; i++)
        if (strcmp(u->dids[i].name, name) == 0) return &u->dids[i];
    return NULL;
}

static void hil__uds_destroy(hil_aux* a) {
    hil__uds* u = (hil__uds*)hil_aux_priv(a);
    HIL_FREE(u->dids);
    u->dids = NULL;
    if (u->locks_ok) {
        hil_mutex_destroy(&u->mu);
        hil_mutex_destroy(&u->tpmu);
        hil_mutex_destroy(&u->tpctl);
        hil_cond_destroy(&u->tpcv);
        u->locks_ok = 0;
    }
}

static hil_result hil__uds_configure(hil_aux* a) {
    hil__uds* u = (hil__uds*)hil_aux_priv(a);
    const char* v;
    hil_result r;
    int b;
    u->self = a;
    u->session = HIL_UDS_SESSION_DEFAULT;
    if ((r = hil_mutex_init(&u->mu)) != HIL_OK) return r;
    hil_mutex_init(&u->tpmu);
    hil_mutex_init(&u->tpctl);
    hil_cond_init(&u->tpcv);
    u->locks_ok = 1;
    if ((r = hil_aux_opt_int(a, "p2_ms", 50, &u->p2_ms)) != HIL_OK) return r;
    if ((r = hil_aux_opt_int(a, "p2_star_ms", 5000, &u->p2_star_ms)) != HIL_OK) return r;
    if ((r = hil_aux_opt_int(a, "margin_ms", 100, &u->margin_ms)) != HIL_OK) return r;
    if ((r = hil_aux_opt_int(a, "pending_max", 100, &u->pending_max)) != HIL_OK) return r;
    if ((r = hil_aux_opt_int(a, "pending_total_ms", 60000, &u->pending_total_ms)) != HIL_OK) return r;
    if ((r = hil_aux_opt_int(a, "tester_present_ms", 2000, &u->tp_ms)) != HIL_OK) return r;
    if ((r = hil_aux_opt_bool(a, "tester_present_functional", 0, &b)) != HIL_OK) return r;
    u->tp_functional = b;
    if (u->p2_ms < 1 || u->p2_ms > 65535 || u->p2_star_ms < 1 || u->p2_star_ms > 655350 || u->margin_ms < 0 ||
        u->pending_max < 0 || u->pending_total_ms < 0 || u->tp_ms < 0)
        return hil_aux_fail(a, HIL_ERR_CONFIG, "p2_ms (1..65535), p2_star_ms (1..655350), margin_ms, pending_max, "
                            "pending_total_ms and tester_present_ms (>= 0): one is out of range");
    u->cur_p2 = (int)u->p2_ms;
    u->cur_p2_star = (int)u->p2_star_ms;
    if ((v = hil_aux_opt_str(a, "dids", NULL)) != NULL) {
        /* one spec per ';' */
        const char* s = v;
        while (*s) {
            const char* e = strchr(s, ';');
            size_t n = e ? (size_t)(e - s) : strlen(s);
            char spec[256];
            hil_uds_did d;
            size_t k;
            for (k = 0; k < n && (s[k] == ' ' || s[k] == '\t' || s[k] == '\n'); k++) {}
            if (k < n) {
                if (n >= sizeof spec) return hil_aux_fail(a, HIL_ERR_CONFIG, "option dids: a spec longer than 255 characters");
                memcpy(spec, s, n);
                spec[n] = 0;
                if ((r = hil_uds_did_parse(spec, &d)) != HIL_OK) return hil_aux_fail(a, r, "option dids: %s", hil_last_error());
                if ((r = hil__uds_add_did(u, a, &d)) != HIL_OK) return r;
            }
            s += n + (e ? 1 : 0);
        }
    }
    if ((v = hil_aux_opt_str(a, "security", NULL)) != NULL) {
        const char* s = v;
        char w[96];
        while (hil__uds_word(&s, w, sizeof w)) {
            char* colon;
            char* end;
            long lvl;
            size_t i, len;
            while ((len = strlen(w)) && w[len - 1] == ';') w[len - 1] = 0;
            if (!w[0]) continue;
            colon = strchr(w, ':');
            if (!colon) return hil_aux_fail(a, HIL_ERR_CONFIG, "option security: '%s' is not '<level>:<key function name>'", w);
            *colon = 0;
            lvl = strtol(w, &end, 0);
            if (*end || lvl < 1 || lvl > 0x7D || !(lvl & 1))
                return hil_aux_fail(a, HIL_ERR_CONFIG, "option security: level '%s' is not an odd requestSeed level 0x01..0x7D", w);
            for (i = 0; i < hil__uds_n_keyfns && strcmp(hil__uds_keyfns[i].name, colon + 1) != 0; i++) {}
            if (i == hil__uds_n_keyfns)
                return hil_aux_fail(a, HIL_ERR_CONFIG, "option security: no key function '%s' is registered "
                                    "(hil_uds_key_fn_register(\"%s\", fn, user) before the auxiliary is created)",
                                    colon + 1, colon + 1);
            if (u->n_keys == HIL__UDS_MAX_KEYS) return hil_aux_fail(a, HIL_ERR_CONFIG, "option security: at most %d levels", HIL__UDS_MAX_KEYS);
            u->keys[u->n_keys] = hil__uds_keyfns[i];
            u->keys[u->n_keys].level = (int)lvl;
            u->n_keys++;
        }
    }
    if ((v = hil_aux_opt_str(a, "connectors.functional", NULL)) != NULL && *v) {
        hil_channel* ch;
        if (hil_aux_get_backend(a) == HIL_AUX_PROCESS)
            return hil_aux_fail(a, HIL_ERR_CONFIG, "connectors.functional needs the thread or simple backend "
                                "(the process backend's child owns the channels)");
        if ((r = hil_channel_from_config(v, &ch)) != HIL_OK)
            return hil_aux_fail(a, r, "connectors.functional '%s': %s", v, hil_last_error());
        if ((r = hil_aux_add_channel(a, ch, &u->func_index)) != HIL_OK) return r;
        u->has_func = 1;
    }
    return HIL_OK;
}

static void* hil__uds_tp_main(void* arg);

/* The thread never takes tpctl, so joining it under tpctl cannot wait on us. */
static void hil__uds_tp_stop(hil__uds* u) {
    int running;
    hil_mutex_lock(&u->tpctl);
    hil_mutex_lock(&u->tpmu);
    running = u->tp_running;
    u->tp_stop = 1;
    hil_cond_broadcast(&u->tpcv);
    hil_mutex_unlock(&u->tpmu);
    if (running) hil_thread_join(&u->tp);
    hil_mutex_lock(&u->tpmu);
    u->tp_running = 0;
    hil_mutex_unlock(&u->tpmu);
    hil_mutex_unlock(&u->tpctl);
}

static void hil__uds_tp_start(hil__uds* u) {
    hil_result r;
    if (u->tp_ms <= 0) return;
    hil_mutex_lock(&u->tpctl);
    if (u->tp_running) {
        hil_mutex_unlock(&u->tpctl);
        return;
    }
    hil_mutex_lock(&u->tpmu);
    u->tp_stop = 0;
    u->tp_running = 1;
    hil_mutex_unlock(&u->tpmu);
    r = hil_thread_create(&u->tp, hil__uds_tp_main, u, "uds-tp");
    if (r != HIL_OK) {
        HIL_WARN(hil_aux_logger(u->self), "auxiliary '%s': cannot start the TesterPresent thread: %s", hil_aux_name(u->self),
                 hil_last_error());
        hil_mutex_lock(&u->tpmu);
        u->tp_running = 0;
        hil_mutex_unlock(&u->tpmu);
    }
    hil_mutex_unlock(&u->tpctl);
}

static hil_result hil__uds_create(hil_aux* a) {
    hil__uds* u = (hil__uds*)hil_aux_priv(a);
    hil_channel* ch = hil_aux_com(a);
    hil_result r;
    if (!ch) return hil_aux_fail(a, HIL_ERR_CONFIG, "no com channel: set auxiliaries.%s.connectors.com", hil_aux_name(a));
    if ((r = hil_channel_open(ch)) != HIL_OK)
        return hil_aux_fail(a, r, "opening connector '%s': %s", hil_channel_name(ch), hil_last_error());
    if (u->has_func && (r = hil_channel_open(hil_aux_channel(a, u->func_index))) != HIL_OK) {
        r = hil_aux_fail(a, r, "opening connector '%s' (functional): %s", hil_channel_name(hil_aux_channel(a, u->func_index)),
                         hil_last_error());
        hil_channel_close(ch);
        return r;
    }
    u->session = HIL_UDS_SESSION_DEFAULT;
    u->cur_p2 = (int)u->p2_ms;
    u->cur_p2_star = (int)u->p2_star_ms;
    return HIL_OK;
}

static void hil__uds_delete(hil_aux* a) {
    hil__uds* u = (hil__uds*)hil_aux_priv(a);
    hil__uds_tp_stop(u); /* before the channels go */
    if (u->has_func) hil_channel_close(hil_aux_channel(a, u->func_index));
    hil_channel_close(hil_aux_com(a));
}

static hil_result hil__uds_receive(hil_aux* a, size_t index) { return hil__com_receive(a, index); }

static void hil__uds_free(hil_aux* a) {
    hil__uds* u = (hil__uds*)hil_aux_priv(a);
    if (u->locks_ok) hil__uds_tp_stop(u);
    hil__uds_destroy(a);
}

static const hil_aux_impl hil__uds_type = {
    "uds", "UDS (ISO 14229) client: diagnostic services over a channel of whole messages (isotp, udp, process)",
    sizeof(hil__uds), hil__uds_opts, hil__uds_configure, hil__uds_create, hil__uds_delete, NULL, NULL,
    hil__uds_receive, hil__uds_free
};

static hil_result hil__uds_send(hil__uds* u, const unsigned char* req, size_t len, int functional) {
    hil_aux* a = u->self;
    hil_msg m;
    hil_result r;
    int t = u->cur_p2 + (int)u->margin_ms + 1000;
    hil_msg_init(&m, (void*)req, len);
    m.len = len;
    if (functional) {
        if (!u->has_func)
            return hil_aux_fail(a, HIL_ERR_CONFIG, "a functional request needs auxiliaries.%s.connectors.functional",
                                hil_aux_name(a));
        r = hil_aux_send(a, hil_aux_channel(a, u->func_index), &m, t);
    } else {
        r = hil_aux_send_message(a, &m, t);
    }
    hil_mutex_lock(&u->tpmu);
    u->last_tx_ns = hil_now_ns();
    hil_mutex_unlock(&u->tpmu);
    return r;
}

/* Sends only after a quiet period: any request keeps the ECU's S3 timer
 * alive as well as TesterPresent would. */
static void* hil__uds_tp_main(void* arg) {
    hil__uds* u = (hil__uds*)arg;
    static const unsigned char tp[2] = {0x3E, 0x80};
    hil_mutex_lock(&u->tpmu);
    while (!u->tp_stop) {
        uint64_t due = u->last_tx_ns + (uint64_t)u->tp_ms * 1000000u;
        if (hil_now_ns() < due) {
            (void)hil_cond_wait_until(&u->tpcv, &u->tpmu, due);
            continue;
        }
        hil_mutex_unlock(&u->tpmu);
        if (hil__uds_send(u, tp, 2, u->tp_functional && u->has_func) != HIL_OK)
            HIL_WARN(hil_aux_logger(u->self), "auxiliary '%s': TesterPresent: %s", hil_aux_name(u->self), hil_last_error());
        hil_mutex_lock(&u->tpmu);
        u->stats.tester_present++;
        u->last_tx_ns = hil_now_ns(); /* also after a failed send: no busy loop */
    }
    hil_mutex_unlock(&u->tpmu);
    return NULL;
}

/* One request and its answer, under u->mu. */
static hil_result hil__uds_exchange(hil__uds* u, const unsigned char* req, size_t len, unsigned flags, unsigned char* resp,
                                    size_t cap, size_t* rlen) {
    hil_aux* a = u->self;
    unsigned char sent[HIL__UDS_MSG];
    unsigned char in[HIL__UDS_MSG];
    hil_msg m;
    hil_result r;
    int sid, suppress, pending = 0, timeout;
    uint64_t t0, deadline;
    const char* name;
    char hex[100];
    *rlen = 0;
    u->last_nrc = 0;
    if (!len || len > sizeof sent) return hil_error(HIL_ERR_INVALID_ARG, "a UDS request of %zu bytes (1..%u)", len, HIL__UDS_MSG);
    memcpy(sent, req, len);
    sid = sent[0];
    name = hil_uds_service_name(sid);
    if ((flags & HIL_UDS_SUPPRESS) && len >= 2 && !(flags & HIL_UDS_NO_SUBFUNCTION)) sent[1] |= 0x80;
    suppress = len >= 2 && !(flags & HIL_UDS_NO_SUBFUNCTION) && hil__uds_has_sub(sid) && (sent[1] & 0x80);
    /* an answer that came after its request timed out is no answer to this one */
    for (;;) {
        hil_msg_init(&m, in, sizeof in);
        if (hil_aux_receive_message(a, &m, 0) != HIL_OK) break;
        HIL_DEBUG(hil_aux_logger(a), "auxiliary '%s': a late answer dropped: %s", hil_aux_name(a),
                  hil__uds_hex(in, m.len, hex, sizeof hex));
    }
    if ((r = hil__uds_send(u, sent, len, (flags & HIL_UDS_FUNCTIONAL) != 0)) != HIL_OK)
        return hil_aux_fail(a, r, "sending %s (0x%02X): %.400s", name, sid, hil_last_error());
    hil_mutex_lock(&u->tpmu);
    u->stats.requests++;
    hil_mutex_unlock(&u->tpmu);
    t0 = hil_now_ns();
    timeout = u->cur_p2 + (int)u->margin_ms;
    deadline = hil_deadline_ms(timeout);
    for (;;) {
        hil_msg_init(&m, in, sizeof in);
        r = hil_aux_receive_message(a, &m, hil_deadline_left_ms(deadline));
        if (r == HIL_ERR_TIMEOUT) {
            if (suppress && !pending) return HIL_OK; /* no answer is the answer */
            if (pending)
                return hil_aux_fail(a, HIL_ERR_TIMEOUT, "%s (0x%02X): no answer within P2* (%d ms + margin %lld ms) after "
                                    "%d response pending (0x78)", name, sid, u->cur_p2_star, u->margin_ms, pending);
            return hil_aux_fail(a, HIL_ERR_TIMEOUT, "%s (0x%02X): no answer within P2 (%d ms + margin %lld ms): is the ECU "
                                "powered, on this bus, at these ids?", name, sid, u->cur_p2, u->margin_ms);
        }
        if (r != HIL_OK) return hil_aux_fail(a, r, "waiting for the answer to %s (0x%02X): %.400s", name, sid, hil_last_error());
        if (m.len == 0) continue;
        if (in[0] == 0x7F && m.len == 3 && in[1] == sid && in[2] == HIL_UDS_NRC_RESPONSE_PENDING) {
            pending++;
            hil_mutex_lock(&u->tpmu);
            u->stats.pending++;
            hil_mutex_unlock(&u->tpmu);
            if (pending > u->pending_max)
                return hil_aux_fail(a, HIL_ERR_TIMEOUT, "%s (0x%02X): %d response pending (0x78) answers: more than "
                                    "pending_max = %lld; the ECU never finished", name, sid, pending, u->pending_max);
            if ((long long)((hil_now_ns() - t0) / 1000000u) > u->pending_total_ms)
                return hil_aux_fail(a, HIL_ERR_TIMEOUT, "%s (0x%02X): still response pending (0x78) after %lld ms "
                                    "(pending_total_ms)", name, sid, u->pending_total_ms);
            deadline = hil_deadline_ms(u->cur_p2_star + (int)u->margin_ms);
            continue;
        }
        if (!(in[0] == 0x7F && m.len >= 2 && in[1] == sid) && in[0] != ((sid + 0x40) & 0xFF)) {
            /* an answer to something else (a TesterPresent's NRC, a late answer) */
            HIL_DEBUG(hil_aux_logger(a), "auxiliary '%s': while waiting for %s: ignored %s", hil_aux_name(a), name,
                      hil__uds_hex(in, m.len, hex, sizeof hex));
            continue;
        }
        break;
    }
    if ((r = hil_uds_check_response(sent, len, in, m.len, &u->last_nrc)) != HIL_OK)
        return hil_aux_fail(a, r, "%s", hil_last_error());
    if (m.len > cap)
        return hil_aux_fail(a, HIL_ERR_OVERFLOW, "%s (0x%02X): an answer of %zu bytes for a buffer of %zu", name, sid, m.len, cap);
    if (m.len) memcpy(resp, in, m.len);
    *rlen = m.len;
    return HIL_OK;
}

HIL_API hil_result hil_uds_request(hil_aux* a, const void* req, size_t len, unsigned flags, void* resp, size_t cap,
                                   size_t* resp_len) {
    hil__uds* u = hil__uds_of(a, "hil_uds_request");
    unsigned char buf[HIL__UDS_MSG];
    size_t n = 0;
    hil_result r;
    if (resp_len) *resp_len = 0;
    if (!u) return HIL_ERR_INVALID_ARG;
    if (!req || !len) return hil_error(HIL_ERR_INVALID_ARG, "hil_uds_request: an empty request");
    hil_mutex_lock(&u->mu);
    r = hil__uds_exchange(u, (const unsigned char*)req, len, flags, buf, sizeof buf, &n);
    hil_mutex_unlock(&u->mu);
    if (r != HIL_OK) return r;
    if (resp && n > cap) return hil_aux_fail(a, HIL_ERR_OVERFLOW, "an answer of %zu bytes for a buffer of %zu", n, cap);
    if (resp && n) memcpy(resp, buf, n);
    if (resp_len) *resp_len = n;
    return HIL_OK;
}

HIL_API int hil_uds_last_nrc(hil_aux* a) {
    hil__uds* u = hil__uds_of(a, "hil_uds_last_nrc");
    return u ? u->last_nrc : 0;
}

HIL_API void hil_uds_get_stats(hil_aux* a, hil_uds_stats* out) {
    hil__uds* u = hil__uds_of(a, "hil_uds_get_stats");
    memset(out, 0, sizeof *out);
    if (!u) return;
    hil_mutex_lock(&u->tpmu);
    *out = u->stats;
    hil_mutex_unlock(&u->tpmu);
}

/* A typed call: request bytes in, the answer into buf. */
static hil_result hil__uds_call(hil_aux* a, const char* fn, const unsigned char* req, size_t len, unsigned flags,
                                unsigned char* buf, size_t cap, size_t* n) {
    hil__uds* u = hil__uds_of(a, fn);
    hil_result r;
    *n = 0;
    if (!u) return HIL_ERR_INVALID_ARG;
    hil_mutex_lock(&u->mu);
    r = hil__uds_exchange(u, req, len, flags, buf, cap, n);
    hil_mutex_unlock(&u->mu);
    return r;
}

HIL_API hil_result hil_uds_session_ex(hil_aux* a, int session, unsigned flags, hil_uds_timing* timing) {
    hil__uds* u = hil__uds_of(a, "hil_uds_session");
    unsigned char req[2], resp[16];
    size_t n;
    hil_result r;
    if (!u) return HIL_ERR_INVALID_ARG;
    if (session < 1 || session > 0x7F) return hil_error(HIL_ERR_INVALID_ARG, "hil_uds_session: session 0x%X is not 0x01..0x7F", session);
    req[0] = 0x10;
    req[1] = (unsigned char)session;
    hil_mutex_lock(&u->mu);
    r = hil__uds_exchange(u, req, 2, flags & (HIL_UDS_SUPPRESS | HIL_UDS_FUNCTIONAL), resp, sizeof resp, &n);
    if (r == HIL_OK) {
        if (n == 6) {
            int p2 = resp[2] << 8 | resp[3], p2s = (resp[4] << 8 | resp[5]) * 10;
            /* the ECU's own limits replace ours (0 would mean "no time at all": keep ours) */
            if (p2) u->cur_p2 = p2;
            if (p2s) u->cur_p2_star = p2s;
        } else {
            u->cur_p2 = (int)u->p2_ms;
            u->cur_p2_star = (int)u->p2_star_ms;
        }
        u->session = session;
        if (timing) {
            timing->p2_ms = u->cur_p2;
            timing->p2_star_ms = u->cur_p2_star;
        }
    }
    hil_mutex_unlock(&u->mu);
    if (r != HIL_OK) return r;
    if (session == HIL_UDS_SESSION_DEFAULT) hil__uds_tp_stop(u);
    else hil__uds_tp_start(u);
    return HIL_OK;
}

HIL_API hil_result hil_uds_session(hil_aux* a, int session) { return hil_uds_session_ex(a, session, 0, NULL); }

HIL_API hil_result hil_uds_ecu_reset(hil_aux* a, int type, int* powerdown_s) {
    unsigned char req[2], resp[8];
    size_t n;
    hil_result r;
    hil__uds* u;
    if (powerdown_s) *powerdown_s = -1;
    req[0] = 0x11;
    req[1] = (unsigned char)type;
    if ((r = hil__uds_call(a, "hil_uds_ecu_reset", req, 2, 0, resp, sizeof resp, &n)) != HIL_OK) return r;
    if (powerdown_s && n == 3) *powerdown_s = resp[2];
    /* the ECU restarts in its default session: no more TesterPresent */
    u = (hil__uds*)hil_aux_priv(a);
    hil__uds_tp_stop(u);
    hil_mutex_lock(&u->mu);
    u->session = HIL_UDS_SESSION_DEFAULT;
    u->cur_p2 = (int)u->p2_ms;
    u->cur_p2_star = (int)u->p2_star_ms;
    hil_mutex_unlock(&u->mu);
    return HIL_OK;
}

HIL_API hil_result hil_uds_security_access(hil_aux* a, int level) {
    hil__uds* u = hil__uds_of(a, "hil_uds_security_access");
    unsigned char req[HIL__UDS_MSG], resp[HIL__UDS_MSG];
    size_t n, i, keylen = 0;
    hil_result r;
    hil__uds_key k;
    int zero = 1, found = 0;
    if (!u) return HIL_ERR_INVALID_ARG;
    if (level < 1 || level > 0x7D || !(level & 1))
        return hil_error(HIL_ERR_INVALID_ARG, "hil_uds_security_access: level 0x%X is not an odd requestSeed level 0x01..0x7D", level);
    hil_mutex_lock(&u->mu);
    for (i = 0; i < u->n_keys; i++)
        if (u->keys[i].level == level) { k = u->keys[i]; found = 1; }
    if (!found) {
        hil_mutex_unlock(&u->mu);
        return hil_aux_fail(a, HIL_ERR_CONFIG, "SecurityAccess level 0x%02X: no key function (option security = %d:<name>, "
                            "or hil_uds_set_key_fn)", level, level);
    }
    req[0] = 0x27;
    req[1] = (unsigned char)level;
    r = hil__uds_exchange(u, req, 2, 0, resp, sizeof resp, &n);
    if (r == HIL_OK) {
        for (i = 2; i < n; i++) zero &= resp[i] == 0;
        if (zero) { /* unlocked already (ISO 14229-1: a seed of zeros) */
            hil_mutex_unlock(&u->mu);
            return HIL_OK;
        }
        r = k.fn(level, resp + 2, n - 2, req + 2, sizeof req - 2, &keylen, k.user);
        if (r != HIL_OK) r = hil_aux_fail(a, r, "SecurityAccess level 0x%02X: key function '%s': %.400s", level, k.name, hil_last_error());
        else if (keylen > sizeof req - 2) r = hil_aux_fail(a, HIL_ERR_OVERFLOW, "key function '%s': a key of %zu bytes", k.name, keylen);
    }
    if (r == HIL_OK) {
        req[1] = (unsigned char)(level + 1);
        r = hil__uds_exchange(u, req, 2 + keylen, 0, resp, sizeof resp, &n);
    }
    hil_mutex_unlock(&u->mu);
    return r;
}

HIL_API hil_result hil_uds_read_did(hil_aux* a, uint16_t id, void* out, size_t cap, size_t* len) {
    unsigned char req[3], resp[HIL__UDS_MSG];
    size_t n;
    hil_result r;
    *len = 0;
    req[0] = 0x22;
    req[1] = (unsigned char)(id >> 8);
    req[2] = (unsigned char)id;
    if ((r = hil__uds_call(a, "hil_uds_read_did", req, 3, HIL_UDS_NO_SUBFUNCTION, resp, sizeof resp, &n)) != HIL_OK) return r;
    if (n - 3 > cap) return hil_aux_fail(a, HIL_ERR_OVERFLOW, "DID 0x%04X: %zu bytes for a buffer of %zu", id, n - 3, cap);
    if (n > 3) memcpy(out, resp + 3, n - 3);
    *len = n - 3;
    return HIL_OK;
}

HIL_API hil_result hil_uds_write_did(hil_aux* a, uint16_t id, const void* data, size_t len) {
    unsigned char req[HIL__UDS_MSG], resp[16];
    size_t n;
    if (len > sizeof req - 3) return hil_error(HIL_ERR_OVERFLOW, "DID 0x%04X: %zu bytes to write (at most %u)", id, len, HIL__UDS_MSG - 3);
    req[0] = 0x2E;
    req[1] = (unsigned char)(id >> 8);
    req[2] = (unsigned char)id;
    if (len) memcpy(req + 3, data, len);
    return hil__uds_call(a, "hil_uds_write_did", req, 3 + len, HIL_UDS_NO_SUBFUNCTION, resp, sizeof resp, &n);
}

static const hil_uds_did* hil__uds_did_named(hil_aux* a, const char* fn, const char* name) {
    const hil_uds_did* d = hil_uds_find_did(a, name);
    if (!d && hil__uds_of(a, fn))
        hil_aux_fail(a, HIL_ERR_NOT_FOUND, "%s: no DID '%s' (declare it in auxiliaries.%s.dids or with hil_uds_add_did)", fn,
                     name ? name : "(null)", hil_aux_name(a));
    return d;
}

HIL_API hil_result hil_uds_read(hil_aux* a, const char* name, hil_uds_value* out) {
    const hil_uds_did* d = hil__uds_did_named(a, "hil_uds_read", name);
    unsigned char buf[HIL__UDS_MSG];
    size_t n;
    hil_result r;
    memset(out, 0, sizeof *out);
    if (!d) return hil__uds_of(a, "hil_uds_read") ? HIL_ERR_NOT_FOUND : HIL_ERR_INVALID_ARG;
    if ((r = hil_uds_read_did(a, d->id, buf, sizeof buf, &n)) != HIL_OK) return r;
    if ((r = hil_uds_did_decode(d, buf, n, out)) != HIL_OK) return hil_aux_fail(a, r, "ReadDataByIdentifier: %s", hil_last_error());
    return HIL_OK;
}

HIL_API hil_result hil_uds_write(hil_aux* a, const char* name, const char* text) {
    const hil_uds_did* d = hil__uds_did_named(a, "hil_uds_write", name);
    unsigned char buf[HIL__UDS_MSG];
    size_t n;
    hil_result r;
    if (!d) return hil__uds_of(a, "hil_uds_write") ? HIL_ERR_NOT_FOUND : HIL_ERR_INVALID_ARG;
    if ((r = hil_uds_did_encode(d, text, buf, sizeof buf - 3, &n)) != HIL_OK)
        return hil_aux_fail(a, r, "WriteDataByIdentifier (not sent): %s", hil_last_error());
    return hil_uds_write_did(a, d->id, buf, n);
}

HIL_API hil_result hil_uds_write_phys(hil_aux* a, const char* name, double phys) {
    const hil_uds_did* d = hil__uds_did_named(a, "hil_uds_write_phys", name);
    unsigned char buf[16];
    size_t n;
    hil_result r;
    if (!d) return hil__uds_of(a, "hil_uds_write_phys") ? HIL_ERR_NOT_FOUND : HIL_ERR_INVALID_ARG;
    if ((r = hil_uds_did_encode_phys(d, phys, buf, sizeof buf, &n)) != HIL_OK)
        return hil_aux_fail(a, r, "WriteDataByIdentifier (not sent): %s", hil_last_error());
    return hil_uds_write_did(a, d->id, buf, n);
}

HIL_API hil_result hil_uds_routine(hil_aux* a, int control, uint16_t rid, const void* param, size_t param_len, void* out,
                                   size_t cap, size_t* out_len) {
    unsigned char req[HIL__UDS_MSG], resp[HIL__UDS_MSG];
    size_t n;
    hil_result r;
    if (out_len) *out_len = 0;
    if (param_len > sizeof req - 4) return hil_error(HIL_ERR_OVERFLOW, "RoutineControl: %zu parameter bytes", param_len);
    req[0] = 0x31;
    req[1] = (unsigned char)control;
    req[2] = (unsigned char)(rid >> 8);
    req[3] = (unsigned char)rid;
    if (param_len) memcpy(req + 4, param, param_len);
    if ((r = hil__uds_call(a, "hil_uds_routine", req, 4 + param_len, 0, resp, sizeof resp, &n)) != HIL_OK) return r;
    if (n < 4) return HIL_OK; /* suppressed */
    if (out && n - 4 > cap) return hil_aux_fail(a, HIL_ERR_OVERFLOW, "routine 0x%04X: %zu status bytes for a buffer of %zu", rid, n - 4, cap);
    if (out && n > 4) memcpy(out, resp + 4, n - 4);
    if (out_len) *out_len = out ? n - 4 : 0;
    return HIL_OK;
}

HIL_API hil_result hil_uds_dtc_count(hil_aux* a, uint8_t mask, uint16_t* count, uint8_t* availability) {
    unsigned char req[3], resp[16];
    size_t n;
    hil_result r;
    req[0] = 0x19;
    req[1] = 0x01;
    req[2] = mask;
    *count = 0;
    if ((r = hil__uds_call(a, "hil_uds_dtc_count", req, 3, 0, resp, sizeof resp, &n)) != HIL_OK) return r;
    if (availability) *availability = resp[2];
    *count = (uint16_t)(resp[4] << 8 | resp[5]);
    return HIL_OK;
}

HIL_API hil_result hil_uds_dtc_list(hil_aux* a, int sub, uint8_t mask, hil_uds_dtc* out, size_t max, size_t* count,
                                    uint8_t* availability) {
    unsigned char req[3], resp[HIL__UDS_MSG];
    size_t n, i, len = 2;
    hil_result r;
    *count = 0;
    if (sub != 0x02 && sub != 0x0A) return hil_error(HIL_ERR_INVALID_ARG, "hil_uds_dtc_list: sub-function 0x%02X (0x02 or 0x0A)", sub);
    req[0] = 0x19;
    req[1] = (unsigned char)sub;
    req[2] = mask;
    if (sub == 0x02) len = 3;
    if ((r = hil__uds_call(a, "hil_uds_dtc_list", req, len, 0, resp, sizeof resp, &n)) != HIL_OK) return r;
    if (availability) *availability = resp[2];
    for (i = 3; i + 4 <= n; i += 4) {
        if (*count < max) {
            out[*count].dtc = (uint32_t)resp[i] << 16 | (uint32_t)resp[i + 1] << 8 | resp[i + 2];
            out[*count].status = resp[i + 3];
        }
        (*count)++;
    }
    if (*count > max)
        return hil_aux_fail(a, HIL_ERR_OVERFLOW, "ReadDTCInformation: %zu DTCs for room for %zu", *count, max);
    return HIL_OK;
}

HIL_API hil_result hil_uds_dtc_ext_data(hil_aux* a, uint32_t dtc, uint8_t record, uint8_t* status, void* out, size_t cap,
                                        size_t* len) {
    unsigned char req[6], resp[HIL__UDS_MSG];
    size_t n;
    hil_result r;
    *len = 0;
    req[0] = 0x19;
    req[1] = 0x06;
    req[2] = (unsigned char)(dtc >> 16);
    req[3] = (unsigned char)(dtc >> 8);
    req[4] = (unsigned char)dtc;
    req[5] = record;
    if ((r = hil__uds_call(a, "hil_uds_dtc_ext_data", req, 6, 0, resp, sizeof resp, &n)) != HIL_OK) return r;
    if (status) *status = resp[5];
    if (n - 6 > cap) return hil_aux_fail(a, HIL_ERR_OVERFLOW, "DTC 0x%06X: %zu bytes of extended data for %zu", (unsigned)dtc, n - 6, cap);
    if (n > 6) memcpy(out, resp + 6, n - 6);
    *len = n - 6;
    return HIL_OK;
}

HIL_API hil_result hil_uds_clear_dtc(hil_aux* a, uint32_t group) {
    unsigned char req[4], resp[8];
    size_t n;
    req[0] = 0x14;
    req[1] = (unsigned char)(group >> 16);
    req[2] = (unsigned char)(group >> 8);
    req[3] = (unsigned char)group;
    return hil__uds_call(a, "hil_uds_clear_dtc", req, 4, HIL_UDS_NO_SUBFUNCTION, resp, sizeof resp, &n);
}

HIL_API hil_result hil_uds_tester_present(hil_aux* a, unsigned flags) {
    unsigned char req[2] = {0x3E, 0x00}, resp[8];
    size_t n;
    return hil__uds_call(a, "hil_uds_tester_present", req, 2, flags & (HIL_UDS_SUPPRESS | HIL_UDS_FUNCTIONAL), resp,
                         sizeof resp, &n);
}

HIL_API hil_result hil_uds_communication_control(hil_aux* a, int control, int comm_type, unsigned flags) {
    unsigned char req[3], resp[8];
    size_t n;
    req[0] = 0x28;
    req[1] = (unsigned char)control;
    req[2] = (unsigned char)comm_type;
    return hil__uds_call(a, "hil_uds_communication_control", req, 3, flags & (HIL_UDS_SUPPRESS | HIL_UDS_FUNCTIONAL), resp,
                         sizeof resp, &n);
}

HIL_API hil_result hil_uds_control_dtc_setting(hil_aux* a, int setting, unsigned flags) {
    unsigned char req[2], resp[8];
    size_t n;
    req[0] = 0x85;
    req[1] = (unsigned char)setting;
    return hil__uds_call(a, "hil_uds_control_dtc_setting", req, 2, flags & (HIL_UDS_SUPPRESS | HIL_UDS_FUNCTIONAL), resp,
                         sizeof resp, &n);
}

HIL_API hil_result hil_uds_request_download(hil_aux* a, uint8_t data_format, uint64_t addr, uint64_t size, int addr_bytes,
                                            int size_bytes, size_t* max_block) {
    unsigned char req[20], resp[16];
    size_t n, k = 0, i;
    uint64_t mb = 0;
    hil_result r;
    *max_block = 0;
    if (addr_bytes < 1 || addr_bytes > 8 || size_bytes < 1 || size_bytes > 8)
        return hil_error(HIL_ERR_INVALID_ARG, "RequestDownload: address and size take 1..8 bytes, not %d and %d", addr_bytes, size_bytes);
    if ((addr_bytes < 8 && addr >> (8 * addr_bytes)) || (size_bytes < 8 && size >> (8 * size_bytes)))
        return hil_error(HIL_ERR_INVALID_ARG, "RequestDownload: address 0x%llx or size %llu does not fit %d and %d bytes",
                         (unsigned long long)addr, (unsigned long long)size, addr_bytes, size_bytes);
    req[k++] = 0x34;
    req[k++] = data_format;
    req[k++] = (unsigned char)(size_bytes << 4 | addr_bytes);
    for (i = (size_t)addr_bytes; i-- > 0;) req[k++] = (unsigned char)(addr >> (8 * i));
    for (i = (size_t)size_bytes; i-- > 0;) req[k++] = (unsigned char)(size >> (8 * i));
    if ((r = hil__uds_call(a, "hil_uds_request_download", req, k, HIL_UDS_NO_SUBFUNCTION, resp, sizeof resp, &n)) != HIL_OK)
        return r;
    for (i = 2; i < n; i++) mb = mb << 8 | resp[i];
    if (mb < 3 || mb > HIL__UDS_MSG) {
        char hex[100];
        return hil_aux_fail(a, HIL_ERR_PROTOCOL, "RequestDownload (0x34): answer %s: maxNumberOfBlockLength %llu is not "
                            "3..%u (it counts the SID and the counter)", hil__uds_hex(resp, n, hex, sizeof hex),
                            (unsigned long long)mb, HIL__UDS_MSG);
    }
    *max_block = (size_t)mb;
    return HIL_OK;
}

HIL_API hil_result hil_uds_transfer_data(hil_aux* a, uint8_t counter, const void* data, size_t len) {
    unsigned char req[HIL__UDS_MSG], resp[HIL__UDS_MSG];
    size_t n;
    if (len > sizeof req - 2) return hil_error(HIL_ERR_OVERFLOW, "TransferData: %zu bytes in one block", len);
    req[0] = 0x36;
    req[1] = counter;
    if (len) memcpy(req + 2, data, len);
    return hil__uds_call(a, "hil_uds_transfer_data", req, 2 + len, HIL_UDS_NO_SUBFUNCTION, resp, sizeof resp, &n);
}

HIL_API hil_result hil_uds_transfer_exit(hil_aux* a) {
    unsigned char req[1] = {0x37}, resp[HIL__UDS_MSG];
    size_t n;
    return hil__uds_call(a, "hil_uds_transfer_exit", req, 1, HIL_UDS_NO_SUBFUNCTION, resp, sizeof resp, &n);
}

HIL_API hil_result hil_uds_download(hil_aux* a, uint8_t data_format, uint64_t addr, const void* data, size_t len,
                                    int addr_bytes, int size_bytes) {
    const unsigned char* p = (const unsigned char*)data;
    size_t max_block, chunk, off = 0;
    uint8_t counter = 1;
    hil_result r = hil_uds_request_download(a, data_format, addr, len, addr_bytes, size_bytes, &max_block);
    if (r != HIL_OK) return r;
    chunk = max_block - 2;
    while (off < len) {
        size_t k = len - off < chunk ? len - off : chunk;
        if ((r = hil_uds_transfer_data(a, counter, p + off, k)) != HIL_OK)
            return hil_aux_fail(a, r, "download to 0x%llx: block %u at offset %zu of %zu: %.400s",
                                (unsigned long long)addr, counter, off, len, hil_last_error());
        off += k;
        counter = (uint8_t)(counter + 1); /* 0xFF wraps to 0x00 (ISO 14229-1) */
    }
    return hil_uds_transfer_exit(a);
}

/* ==== uds: the flasher ===================================================== */

static const hil_channel_opt hil__udsfl_opts[] = {
    {"auxiliary", HIL_OPT_STRING, NULL, "uds: the uds auxiliary to flash through (default: the flasher's name)", NULL},
    {"bin_address", HIL_OPT_STRING, "0", "uds: where a raw .bin image goes", NULL},
    {"sessions", HIL_OPT_STRING, "0x02", "uds: sessions to enter in order before security access (e.g. '0x03 0x02')", NULL},
    {"control_dtc_off", HIL_OPT_BOOL, "false", "uds: ControlDTCSetting off before programming (the ECU reset at the end turns it on again)", NULL},
    {"communication_off", HIL_OPT_BOOL, "false", "uds: CommunicationControl disableRxAndTx (normal messages) before programming (until the ECU reset)", NULL},
    {"security_level", HIL_OPT_STRING, "0x01", "uds: the requestSeed level (0: no security access)", NULL},
    {"erase_routine", HIL_OPT_STRING, "0xFF00", "uds: the erase routine id (0: none); address and size as parameters", NULL},
    {"check_routine", HIL_OPT_STRING, "0xFF01", "uds: the check routine id after each block (0: none)", NULL},
    {"check_data", HIL_OPT_CHOICE, "crc32", "uds: what the check routine gets: crc32 (of the block, big endian) or none",
     "crc32|none"},
    {"data_format", HIL_OPT_STRING, "0x00", "uds: RequestDownload dataFormatIdentifier (compression, encryption)", NULL},
    {"address_bytes", HIL_OPT_INT, "4", "uds: bytes of the memory address (1..8)", NULL},
    {"size_bytes", HIL_OPT_INT, "4", "uds: bytes of the memory size (1..8)", NULL},
    {"reset", HIL_OPT_STRING, "0x01", "uds: the ECUReset type at the end (0: none)", NULL},
    {NULL, HIL_OPT_STRING, NULL, NULL, NULL}
};

static uint32_t hil__uds_crc32(const unsigned char* p, size_t n) {
    uint32_t c = 0xFFFFFFFFu;
    size_t i;
    int k;
    for (i = 0; i < n; i++) {
        c ^= p[i];
        for (k = 0; k < 8; k++) c = c & 1 ? (c >> 1) ^ 0xEDB88320u : c >> 1;
    }
    return c ^ 0xFFFFFFFFu;
}

static hil_result hil__udsfl_num(hil_flasher* f, const char* key, const char* def, uint64_t max, uint64_t* out) {
    const char* v = hil_flasher_opt_str(f, key, def);
    if (!hil__pr_num(v, out) || *out > max)
        return hil_flasher_error(f, HIL_ERR_CONFIG, "option %s: '%s' is not a number 0..0x%llx", key, v, (unsigned long long)max);
    return HIL_OK;
}

static void hil__udsfl_say(hil_flasher* f, const char* fmt, ...) HIL__PRINTF(2, 3);
static void hil__udsfl_say(hil_flasher* f, const char* fmt, ...) {
    char line[400];
    va_list ap;
    int n;
    va_start(ap, fmt);
    n = vsnprintf(line, sizeof line - 1, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n > sizeof line - 2) n = (int)sizeof line - 2;
    line[n++] = '\n';
    hil_flasher_add_output(f, line, (size_t)n);
}

/* The steps for one aux; the caller owns it. */
static hil_result hil__udsfl_run(hil_flasher* f, hil_aux* a, const hil_image* img) {
    uint64_t level, erase, check, fmt, reset, v;
    long long ab, sb;
    int dtc_off, comm_off;
    const char* s;
    const char* chk = hil_flasher_opt_str(f, "check_data", "crc32");
    char w[32];
    size_t i;
    hil_result r;
    if ((r = hil__udsfl_num(f, "security_level", "0x01", 0x7D, &level)) != HIL_OK) return r;
    if ((r = hil__udsfl_num(f, "erase_routine", "0xFF00", 0xFFFF, &erase)) != HIL_OK) return r;
    if ((r = hil__udsfl_num(f, "check_routine", "0xFF01", 0xFFFF, &check)) != HIL_OK) return r;
    if ((r = hil__udsfl_num(f, "data_format", "0x00", 0xFF, &fmt)) != HIL_OK) return r;
    if ((r = hil__udsfl_num(f, "reset", "0x01", 0x7F, &reset)) != HIL_OK) return r;
    if ((r = hil_flasher_opt_int(f, "address_bytes", 4, &ab)) != HIL_OK) return r;
    if ((r = hil_flasher_opt_int(f, "size_bytes", 4, &sb)) != HIL_OK) return r;
    s = hil_flasher_opt_str(f, "control_dtc_off", "false");
    dtc_off = strcmp(s, "true") == 0 || strcmp(s, "1") == 0 || strcmp(s, "yes") == 0;
    s = hil_flasher_opt_str(f, "communication_off", "false");
    comm_off = strcmp(s, "true") == 0 || strcmp(s, "1") == 0 || strcmp(s, "yes") == 0;
    if (level && !(level & 1)) return hil_flasher_error(f, HIL_ERR_CONFIG, "option security_level: 0x%llx is not odd (a requestSeed level)", (unsigned long long)level);
    if (ab < 1 || ab > 8 || sb < 1 || sb > 8) return hil_flasher_error(f, HIL_ERR_CONFIG, "options address_bytes and size_bytes: 1..8");
#define HIL__UDSFL_STEP(what, call) \
    do { \
        if ((r = (call)) != HIL_OK) return hil_flasher_error(f, r, "%s: %.700s", what, hil_last_error()); \
        hil__udsfl_say(f, "%s: ok", what); \
    } while (0)
    if (dtc_off) {
        HIL__UDSFL_STEP("extended session", hil_uds_session(a, HIL_UDS_SESSION_EXTENDED));
        HIL__UDSFL_STEP("ControlDTCSetting off", hil_uds_control_dtc_setting(a, 2, 0));
    }
    if (comm_off) {
        if (!dtc_off) HIL__UDSFL_STEP("extended session", hil_uds_session(a, HIL_UDS_SESSION_EXTENDED));
        HIL__UDSFL_STEP("CommunicationControl disableRxAndTx", hil_uds_communication_control(a, 3, 1, 0));
    }
    s = hil_flasher_opt_str(f, "sessions", "0x02");
    while (hil__uds_word(&s, w, sizeof w)) {
        char what[64];
        if (!hil__pr_num(w, &v) || v < 1 || v > 0x7F)
            return hil_flasher_error(f, HIL_ERR_CONFIG, "option sessions: '%s' is not a session 0x01..0x7F", w);
        snprintf(what, sizeof what, "session 0x%02x", (unsigned)v);
        HIL__UDSFL_STEP(what, hil_uds_session(a, (int)v));
    }
    if (level) HIL__UDSFL_STEP("security access", hil_uds_security_access(a, (int)level));
    for (i = 0; i < img->n_blocks; i++) {
        const hil_image_block* b = &img->blocks[i];
        unsigned char param[24];
        size_t k = 0, j;
        char what[96];
        uint64_t t0 = hil_now_ns();
        if (erase) {
            param[k++] = (unsigned char)(sb << 4 | ab);
            for (j = (size_t)ab; j-- > 0;) param[k++] = (unsigned char)(b->addr >> (8 * j));
            for (j = (size_t)sb; j-- > 0;) param[k++] = (unsigned char)((uint64_t)b->len >> (8 * j));
            snprintf(what, sizeof what, "erase 0x%llx (+%zu) with routine 0x%04x", (unsigned long long)b->addr, b->len, (unsigned)erase);
            HIL__UDSFL_STEP(what, hil_uds_routine(a, HIL_UDS_ROUTINE_START, (uint16_t)erase, param, k, NULL, 0, NULL));
        }
        snprintf(what, sizeof what, "download %zu bytes to 0x%llx", b->len, (unsigned long long)b->addr);
        HIL__UDSFL_STEP(what, hil_uds_download(a, (uint8_t)fmt, b->addr, b->data, b->len, (int)ab, (int)sb));
        hil__udsfl_say(f, "  %.3f s, %.1f KiB/s", (hil_now_ns() - t0) / 1e9,
                       b->len / 1024.0 / ((hil_now_ns() - t0) / 1e9 + 1e-9));
        if (check) {
            unsigned char st[64];
            size_t n = 0;
            uint32_t crc = hil__uds_crc32(b->data, b->len);
            k = 0;
            if (strcmp(chk, "crc32") == 0) {
                param[k++] = (unsigned char)(crc >> 24);
                param[k++] = (unsigned char)(crc >> 16);
                param[k++] = (unsigned char)(crc >> 8);
                param[k++] = (unsigned char)crc;
            }
            snprintf(what, sizeof what, "check routine 0x%04x (crc32 %08x)", (unsigned)check, (unsigned)crc);
            HIL__UDSFL_STEP(what, hil_uds_routine(a, HIL_UDS_ROUTINE_START, (uint16_t)check, param, k, st, sizeof st, &n));
            /* routineInfo 0 is "correct" by convention; other values name the failure */
            if (n >= 1 && st[0] != 0)
                return hil_flasher_error(f, HIL_ERR_CHECKSUM, "check routine 0x%04x reported 0x%02x for the block at 0x%llx "
                                         "(crc32 %08x): the ECU did not accept the image", (unsigned)check, st[0],
                                         (unsigned long long)b->addr, (unsigned)crc);
        }
    }
    if (reset) HIL__UDSFL_STEP("ECU reset", hil_uds_ecu_reset(a, (int)reset, NULL));
#undef HIL__UDSFL_STEP
    return HIL_OK;
}

static hil_result hil__udsfl_flash(hil_flasher* f, const char* image, int timeout_ms) {
    const char* name = hil_flasher_opt_str(f, "auxiliary", NULL);
    uint64_t bin_address;
    hil_image img;
    hil_aux* a;
    hil_aux* own = NULL;
    hil_result r;
    (void)timeout_ms; /* every request has its own P2/P2* deadline */
    if (!name || !*name) name = hil_flasher_name(f);
    if ((r = hil__udsfl_num(f, "bin_address", "0", UINT64_MAX, &bin_address)) != HIL_OK) return r;
    if (!image) return hil_flasher_error(f, HIL_ERR_INVALID_ARG, "no image to flash");
    if ((r = hil_image_load(image, bin_address, &img)) != HIL_OK) return hil_flasher_error(f, r, "%s", hil_last_error());
    a = hil_aux_get(name);
    if (!a) {
        if ((r = hil_aux_from_config(name, &own)) != HIL_OK) {
            hil_image_free(&img);
            return hil_flasher_error(f, r, "auxiliary '%s': %.700s (set flashers.%s.auxiliary to a uds auxiliary)", name,
                                     hil_last_error(), hil_flasher_name(f));
        }
        a = own;
    }
    if (strcmp(hil_aux_type(a), "uds") != 0)
        r = hil_flasher_error(f, HIL_ERR_CONFIG, "auxiliary '%s' is of type '%s', not uds", name, hil_aux_type(a));
    else
        r = hil__udsfl_run(f, a, &img);
    if (own) hil_aux_destroy(own);
    hil_image_free(&img);
    return r;
}

static const hil_flasher_type hil__uds_flasher_type = {
    "uds", "Program an ECU over UDS: session, security access, erase, RequestDownload/TransferData, check, reset",
    0, hil__udsfl_opts, NULL, hil__udsfl_flash, NULL
};

HIL_API void hil_uds_module_init(void) {
    static int done;
    if (done) return;
    done = 1;
    (void)hil_aux_type_register(&hil__uds_type);
    (void)hil_flasher_type_register(&hil__uds_flasher_type);
}

#ifndef HIL_NO_CONSTRUCTORS
HIL__CONSTRUCTOR(hil__reg_uds_module) { hil_uds_module_init(); }
#endif

#ifdef __cplusplus
}
#endif

#endif /* HIL_IMPLEMENTATION */
