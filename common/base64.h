/* SPDX-License-Identifier: Apache-2.0
 * Standard base64 (RFC 4648, with padding): how binary column values
 * travel inside JSON change events.
 */
#ifndef FERRY_BASE64_H
#define FERRY_BASE64_H

#include "common/buf.h"

#include <stddef.h>
#include <stdint.h>

void base64_encode(const uint8_t *in, size_t len, struct buf *out);
/* @returns 0, or -1 if text is not valid padded base64. */
int base64_decode(const char *text, size_t len, struct buf *out);

#endif
