/* fuzz/fuzz_elf.c - hil_elf_parse on any bytes: a file that parses has its
 * segments and symbol names inside the file, at most HIL_ELF_MAX_*
 * entries, and its load image (hil_image_from_elf) has sorted blocks
 * whose bytes are the segments'. */
#define HIL_IMPLEMENTATION
#include "hil.h"
#include "hil_connectors.h"
#include "hil_probe.h"

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    hil_elf* e = NULL;
    hil_image img;
    size_t i;
    fuzz_clock_start();
    if (hil_elf_parse(data, size, "fuzz.elf", &e) == HIL_OK) {
        FUZZ_CHECK(e->n_segments <= HIL_ELF_MAX_SEGMENTS, "%zu segments", e->n_segments);
        FUZZ_CHECK(e->n_symbols <= HIL_ELF_MAX_SYMBOLS, "%zu symbols", e->n_symbols);
        for (i = 0; i < e->n_segments; i++)
            FUZZ_CHECK(e->segments[i].offset + e->segments[i].filesz <= e->size, "segment %zu outside the file", i);
        for (i = 0; i < e->n_symbols; i++) {
            const char* n = e->symbols[i].name;
            FUZZ_CHECK(n >= (const char*)e->data && n < (const char*)e->data + e->size, "symbol name outside");
            FUZZ_CHECK(hil_elf_symbol_find(e, n) != NULL, "symbol '%s' not found by name", n);
        }
        if (hil_image_from_elf(e, &img) == HIL_OK) {
            for (i = 1; i < img.n_blocks; i++)
                FUZZ_CHECK(img.blocks[i - 1].addr + img.blocks[i - 1].len <= img.blocks[i].addr, "blocks overlap");
            hil_image_free(&img);
        }
        hil_elf_free(e);
    }
    fuzz_clock_check(size, "hil_elf_parse");
    return 0;
}
