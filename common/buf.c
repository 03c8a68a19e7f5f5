/* SPDX-License-Identifier: Apache-2.0
 * Growable byte buffer; see buf.h.
 */
#include "common/buf.h"
#include "common/xalloc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void buf_init(struct buf *b)
{
        b->data = NULL;
        b->len = 0;
        b->cap = 0;
}

void buf_free(struct buf *b)
{
        free(b->data);
        buf_init(b);
}

void buf_reset(struct buf *b)
{
        b->len = 0;
}

void buf_reserve(struct buf *b, size_t extra)
{
        /* +1 keeps room for the terminator buf_cstr adds. */
        size_t need = b->len + extra + 1;
        if (need <= b->cap)
                return;
        size_t cap = b->cap ? b->cap : 256;
        while (cap < need)
                cap *= 2;
        b->data = xrealloc(b->data, cap);
        b->cap = cap;
}

void buf_append(struct buf *b, const void *data, size_t len)
{
        buf_reserve(b, len);
        if (len)
                memcpy(b->data + b->len, data, len);
        b->len += len;
}

void buf_puts(struct buf *b, const char *s)
{
        buf_append(b, s, strlen(s));
}

void buf_putc(struct buf *b, char c)
{
        buf_reserve(b, 1);
        b->data[b->len++] = c;
}

void buf_printf(struct buf *b, const char *fmt, ...)
{
        va_list ap;
        char probe[1];
        va_start(ap, fmt);
        /* A 1-byte probe rather than NULL: some GCC sanitizer builds warn
         * about a NULL destination even with size 0. */
        int n = vsnprintf(probe, sizeof(probe), fmt, ap);
        va_end(ap);
        if (n <= 0)
                return;
        buf_reserve(b, (size_t)n);
        va_start(ap, fmt);
        vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
        va_end(ap);
        b->len += (size_t)n;
}

const char *buf_cstr(struct buf *b)
{
        buf_reserve(b, 0);
        b->data[b->len] = '\0';
        return b->data;
}

char *buf_steal(struct buf *b)
{
        buf_cstr(b);
        char *p = b->data;
        buf_init(b);
        return p;
}
