/* SPDX-License-Identifier: Apache-2.0
 * A growable byte buffer, used to build SQL and JSON text without
 * per-fragment allocations. buf_init/buf_free; the data is owned by the
 * buffer unless taken with buf_steal.
 */
#ifndef FERRY_BUF_H
#define FERRY_BUF_H

#include "common/ferry_error.h"

#include <stddef.h>

struct buf {
        char *data;
        size_t len;
        size_t cap;
};

void buf_init(struct buf *b);
void buf_free(struct buf *b);
void buf_reset(struct buf *b);
void buf_reserve(struct buf *b, size_t extra);
void buf_append(struct buf *b, const void *data, size_t len);
void buf_puts(struct buf *b, const char *s);
void buf_putc(struct buf *b, char c);
void buf_printf(struct buf *b, const char *fmt, ...) FERRY_PRINTF(2, 3);
/* @returns the NUL-terminated data; the caller owns it, b is reset. */
char *buf_steal(struct buf *b);
/* @returns NUL-terminated data still owned by b. */
const char *buf_cstr(struct buf *b);

#endif
