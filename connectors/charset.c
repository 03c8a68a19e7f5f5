/* SPDX-License-Identifier: Apache-2.0
 * Collation-id classification and latin1 -> UTF-8.
 */
#include "connectors/charset.h"
#include "common/xalloc.h"

#include <stdlib.h>
#include <string.h>

#define CHARSET_MAX_ID 4096

struct charset_map {
        uint8_t kind[CHARSET_MAX_ID];
        char *name[CHARSET_MAX_ID];
};

/* The collations a fresh MariaDB 10.11 reports for the character sets we
 * convert; the source refreshes this from the server at connect. */
static const struct {
        uint16_t id;
        const char *cs;
} builtin[] = {
        {5, "latin1"},     {8, "latin1"},     {15, "latin1"},
        {31, "latin1"},    {47, "latin1"},    {48, "latin1"},
        {49, "latin1"},    {94, "latin1"},    {1032, "latin1"},
        {1071, "latin1"},  {11, "ascii"},     {65, "ascii"},
        {1035, "ascii"},   {1089, "ascii"},   {33, "utf8mb3"},
        {76, "utf8mb3"},   {83, "utf8mb3"},   {223, "utf8mb3"},
        {1057, "utf8mb3"}, {1107, "utf8mb3"}, {45, "utf8mb4"},
        {46, "utf8mb4"},   {1069, "utf8mb4"}, {1070, "utf8mb4"},
        {63, "binary"},
};

static enum charset_kind kind_of(const char *cs)
{
        if (!strcmp(cs, "utf8mb4") || !strcmp(cs, "utf8mb3") ||
            !strcmp(cs, "utf8") || !strcmp(cs, "ascii"))
                return CHARSET_UTF8;
        if (!strcmp(cs, "latin1"))
                return CHARSET_LATIN1;
        if (!strcmp(cs, "binary"))
                return CHARSET_BINARY;
        return CHARSET_OTHER;
}

struct charset_map *charset_map_new(void)
{
        struct charset_map *map = xcalloc(1, sizeof(*map));
        for (size_t i = 0; i < sizeof(builtin) / sizeof(builtin[0]); i++)
                charset_map_set(map, builtin[i].id, builtin[i].cs);
        /* utf8mb3 and utf8mb4 UCA collations occupy fixed ranges. */
        for (uint32_t id = 192; id <= 215; id++)
                charset_map_set(map, id, "utf8mb3");
        for (uint32_t id = 224; id <= 247; id++)
                charset_map_set(map, id, "utf8mb4");
        return map;
}

void charset_map_free(struct charset_map *map)
{
        if (!map)
                return;
        for (size_t i = 0; i < CHARSET_MAX_ID; i++)
                free(map->name[i]);
        free(map);
}

void charset_map_set(struct charset_map *map, uint32_t id,
                     const char *charset_name)
{
        if (id >= CHARSET_MAX_ID)
                return;
        free(map->name[id]);
        map->name[id] = xstrdup(charset_name);
        map->kind[id] = (uint8_t)kind_of(charset_name);
}

enum charset_kind charset_map_kind(const struct charset_map *map,
                                   uint32_t id)
{
        if (id >= CHARSET_MAX_ID)
                return CHARSET_UNKNOWN;
        return (enum charset_kind)map->kind[id];
}

const char *charset_map_name(const struct charset_map *map, uint32_t id)
{
        if (id >= CHARSET_MAX_ID || !map->name[id])
                return "?";
        return map->name[id];
}

/* MariaDB's latin1 is Windows-1252 where that defines a character and
 * the C1 control otherwise (0x81, 0x8D, 0x8F, 0x90, 0x9D). */
static const uint16_t cp1252_c1[32] = {
        0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,
        0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0x008D, 0x017D, 0x008F,
        0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
        0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178,
};

void charset_latin1_to_utf8(const uint8_t *in, size_t len, struct buf *out)
{
        buf_reserve(out, len * 3);
        char *o = out->data + out->len;
        for (size_t i = 0; i < len; i++) {
                uint32_t c = in[i];
                if (c >= 0x80 && c < 0xA0)
                        c = cp1252_c1[c - 0x80];
                if (c < 0x80) {
                        *o++ = (char)c;
                } else if (c < 0x800) {
                        *o++ = (char)(0xC0 | (c >> 6));
                        *o++ = (char)(0x80 | (c & 0x3F));
                } else {
                        *o++ = (char)(0xE0 | (c >> 12));
                        *o++ = (char)(0x80 | ((c >> 6) & 0x3F));
                        *o++ = (char)(0x80 | (c & 0x3F));
                }
        }
        out->len = (size_t)(o - out->data);
}
