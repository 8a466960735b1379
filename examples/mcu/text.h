/* text.h - building short texts without libc: fixed buffers, no varargs. */
#ifndef TEXT_H_INCLUDED
#define TEXT_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

typedef struct text {
    char* buf;
    size_t size, len; /* len < size: buf stays terminated */
} text;

static inline void text_init(text* t, char* buf, size_t size) {
    t->buf = buf;
    t->size = size;
    t->len = 0;
    buf[0] = 0;
}

static inline void text_char(text* t, char c) {
    if (t->len + 1 < t->size) t->buf[t->len++] = c;
    t->buf[t->len] = 0;
}

static inline void text_str(text* t, const char* s) {
    while (*s) text_char(t, *s++);
}

static inline void text_hex(text* t, uint32_t v) { /* 0x%08x */
    int i;
    text_str(t, "0x");
    for (i = 28; i >= 0; i -= 4) text_char(t, "0123456789abcdef"[(v >> i) & 0xFu]);
}

static inline void text_u32(text* t, uint32_t v) {
    char d[10];
    int n = 0;
    do {
        d[n++] = (char)('0' + v % 10u);
        v /= 10u;
    } while (v);
    while (n) text_char(t, d[--n]);
}

static inline int text_eq(const char* a, const char* b) {
    while (*a && *a == *b) a++, b++;
    return *a == *b;
}

#endif
