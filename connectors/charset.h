/* SPDX-License-Identifier: Apache-2.0
 * Which character set a binlog collation id stands for, and conversion of
 * latin1 text to UTF-8. Change events carry UTF-8 only, so every text
 * column must be either UTF-8 already, latin1 (converted) or binary
 * (carried as bytes); anything else is refused, never guessed.
 */
#ifndef FERRY_CHARSET_H
#define FERRY_CHARSET_H

#include "common/buf.h"

#include <stddef.h>
#include <stdint.h>

enum charset_kind {
        CHARSET_UNKNOWN = 0, /* collation id we have not been told about */
        CHARSET_UTF8,        /* utf8mb3, utf8mb4, ascii: bytes are UTF-8 */
        CHARSET_LATIN1,      /* MariaDB latin1 (= cp1252 + 5 C1 controls) */
        CHARSET_BINARY,
        CHARSET_OTHER,       /* known but not convertible (ucs2, sjis, ...) */
};

/* Maps collation ids to charsets. Starts with MariaDB's built-in ids and
 * can learn the server's own list (information_schema.COLLATIONS). */
struct charset_map;

struct charset_map *charset_map_new(void);
void charset_map_free(struct charset_map *map);
/* @brief Records that collation id belongs to the named character set. */
void charset_map_set(struct charset_map *map, uint32_t id,
                     const char *charset_name);
enum charset_kind charset_map_kind(const struct charset_map *map,
                                   uint32_t id);
/* @returns the character set name for error messages ("?" if unknown). */
const char *charset_map_name(const struct charset_map *map, uint32_t id);

/* @brief Appends the UTF-8 form of latin1 bytes. */
void charset_latin1_to_utf8(const uint8_t *in, size_t len, struct buf *out);

#endif
