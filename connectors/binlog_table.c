/* SPDX-License-Identifier: Apache-2.0
 * TABLE_MAP parsing. Connector/C parses these events too, but it keeps
 * only part of the optional metadata (one default charset, not the
 * per-column exceptions) and we need every byte to be accounted for:
 * a column whose metadata we cannot explain stops the stream instead of
 * shifting every column after it.
 */
#include "connectors/binlog_table.h"
#include "common/buf.h"
#include "common/xalloc.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Optional metadata field types (binlog_row_metadata). */
enum {
        OM_SIGNEDNESS = 1,
        OM_DEFAULT_CHARSET = 2,
        OM_COLUMN_CHARSET = 3,
        OM_COLUMN_NAME = 4,
        OM_SET_STR_VALUE = 5,
        OM_ENUM_STR_VALUE = 6,
        OM_GEOMETRY_TYPE = 7,
        OM_SIMPLE_PRIMARY_KEY = 8,
        OM_PRIMARY_KEY_WITH_PREFIX = 9,
        OM_ENUM_AND_SET_DEFAULT_CHARSET = 10,
        OM_ENUM_AND_SET_COLUMN_CHARSET = 11,
};

int binlog_read_packed(const uint8_t **p, const uint8_t *end, uint64_t *out)
{
        const uint8_t *q = *p;
        size_t n;
        if (q >= end)
                return -1;
        if (*q < 251) {
                *out = *q;
                *p = q + 1;
                return 0;
        }
        switch (*q) {
        case 252:
                n = 2;
                break;
        case 253:
                n = 3;
                break;
        case 254:
                n = 8;
                break;
        default: /* 251 is SQL NULL, 255 is undefined: neither is a count */
                return -1;
        }
        if ((size_t)(end - q - 1) < n)
                return -1;
        uint64_t v = 0;
        for (size_t i = 0; i < n; i++)
                v |= (uint64_t)q[1 + i] << (8 * i);
        *out = v;
        *p = q + 1 + n;
        return 0;
}

/* Columns with a bit in SIGNEDNESS. MariaDB counts YEAR among them
 * (measured: without it every later column's sign is off by one). */
static bool is_numeric(const struct binlog_column *c)
{
        switch (c->type) {
        case BT_YEAR:
        case BT_TINY:
        case BT_SHORT:
        case BT_INT24:
        case BT_LONG:
        case BT_LONGLONG:
        case BT_FLOAT:
        case BT_DOUBLE:
        case BT_NEWDECIMAL:
        case BT_DECIMAL:
                return true;
        default:
                return false;
        }
}

static bool is_enum_or_set(const struct binlog_column *c)
{
        return c->real_type == BT_ENUM || c->real_type == BT_SET;
}

/* Columns that carry a collation in COLUMN_CHARSET / DEFAULT_CHARSET. */
static bool is_character(const struct binlog_column *c)
{
        switch (c->type) {
        case BT_STRING:
                return !is_enum_or_set(c);
        case BT_VARCHAR:
        case BT_VAR_STRING:
        case BT_BLOB:
        case BT_GEOMETRY:
                return true;
        default:
                return false;
        }
}

void binlog_table_free(struct binlog_table *t)
{
        if (!t)
                return;
        for (uint32_t i = 0; i < t->ncols; i++) {
                for (uint32_t m = 0; m < t->cols[i].nmembers; m++)
                        free(t->cols[i].members[m]);
                free(t->cols[i].members);
        }
        free(t->cols);
        ferry_table_unref(t->shape);
        free(t);
}

#define FAIL(code, ...)                                                      \
        do {                                                                 \
                snprintf(errstr, errstr_size, __VA_ARGS__);                  \
                rc = (code);                                                 \
                goto out;                                                    \
        } while (0)

/* Reads the per-type metadata block; returns bytes consumed or -1. */
static int parse_column_meta(struct binlog_column *c, const uint8_t *m,
                             size_t avail)
{
        switch (c->type) {
        case BT_FLOAT:
        case BT_DOUBLE:
        case BT_TIMESTAMP2:
        case BT_DATETIME2:
        case BT_TIME2:
                if (avail < 1)
                        return -1;
                c->scale = m[0]; /* float size, or fractional digits */
                return 1;
        case BT_BLOB:
        case BT_GEOMETRY:
        case BT_JSON:
        case BT_TINY_BLOB:
        case BT_MEDIUM_BLOB:
        case BT_LONG_BLOB:
                if (avail < 1)
                        return -1;
                c->length = m[0];
                return 1;
        case BT_VARCHAR:
        case BT_VAR_STRING:
                if (avail < 2)
                        return -1;
                c->length = (uint32_t)m[0] | ((uint32_t)m[1] << 8);
                return 2;
        case BT_BIT:
                if (avail < 2)
                        return -1;
                c->bits = (uint8_t)(m[0] + 8 * m[1]);
                c->length = (uint32_t)m[1] + (m[0] ? 1 : 0);
                return 2;
        case BT_NEWDECIMAL:
                if (avail < 2)
                        return -1;
                c->precision = m[0];
                c->scale = m[1];
                return 2;
        case BT_STRING:
        case BT_ENUM:
        case BT_SET: {
                if (avail < 2)
                        return -1;
                uint8_t b0 = m[0];
                uint32_t len = m[1];
                /* CHAR longer than 255 bytes folds the length's high bits
                 * into the type byte (MySQL bug #37426's encoding). */
                if ((b0 & 0x30) != 0x30) {
                        len |= (uint32_t)(((b0 & 0x30) ^ 0x30) << 4);
                        b0 |= 0x30;
                }
                c->real_type = b0;
                c->length = len;
                return 2;
        }
        default:
                return 0;
        }
}

static enum ferry_type base_type(const struct binlog_column *c)
{
        switch (c->type) {
        case BT_TINY:
        case BT_SHORT:
        case BT_INT24:
        case BT_LONG:
        case BT_LONGLONG:
                return c->is_unsigned ? FERRY_T_UINT : FERRY_T_INT;
        case BT_FLOAT:
                return FERRY_T_FLOAT;
        case BT_DOUBLE:
                return FERRY_T_DOUBLE;
        case BT_NEWDECIMAL:
                return FERRY_T_DECIMAL;
        case BT_BIT:
                return FERRY_T_BIT;
        case BT_YEAR:
                return FERRY_T_YEAR;
        case BT_DATE:
        case BT_NEWDATE:
                return FERRY_T_DATE;
        case BT_TIME:
        case BT_TIME2:
                return FERRY_T_TIME;
        case BT_DATETIME:
        case BT_DATETIME2:
                return FERRY_T_DATETIME;
        case BT_TIMESTAMP:
        case BT_TIMESTAMP2:
                return FERRY_T_TIMESTAMP;
        case BT_GEOMETRY:
                return FERRY_T_GEOMETRY;
        case BT_STRING:
                if (c->real_type == BT_ENUM)
                        return FERRY_T_ENUM;
                if (c->real_type == BT_SET)
                        return FERRY_T_SET;
                /* fall through */
        case BT_VARCHAR:
        case BT_VAR_STRING:
        case BT_BLOB:
                return c->cs == CHARSET_BINARY ? FERRY_T_BLOB : FERRY_T_TEXT;
        default:
                return FERRY_T_BLOB;
        }
}

/* Types whose row-image encoding the decoder implements. */
static bool type_supported(const struct binlog_column *c)
{
        switch (c->type) {
        case BT_TINY:
        case BT_SHORT:
        case BT_INT24:
        case BT_LONG:
        case BT_LONGLONG:
        case BT_FLOAT:
        case BT_DOUBLE:
        case BT_NEWDECIMAL:
        case BT_BIT:
        case BT_YEAR:
        case BT_DATE:
        case BT_NEWDATE:
        case BT_TIME2:
        case BT_DATETIME2:
        case BT_TIMESTAMP2:
        case BT_TIMESTAMP:
        case BT_DATETIME:
        case BT_TIME:
        case BT_VARCHAR:
        case BT_VAR_STRING:
        case BT_BLOB:
        case BT_GEOMETRY:
                return true;
        case BT_STRING:
                return c->real_type == BT_STRING || is_enum_or_set(c);
        default:
                return false;
        }
}

/* Reads "count" packed strings (ENUM/SET members) into c. */
static int read_members(struct binlog_column *c, const uint8_t **p,
                        const uint8_t *end)
{
        uint64_t n;
        if (binlog_read_packed(p, end, &n) || n > 65535 ||
            n > (uint64_t)(end - *p))
                return -1;
        c->members = xcalloc(n ? n : 1, sizeof(char *));
        c->nmembers = (uint32_t)n;
        for (uint64_t i = 0; i < n; i++) {
                uint64_t len;
                if (binlog_read_packed(p, end, &len) ||
                    len > (uint64_t)(end - *p))
                        return -1;
                c->members[i] = xstrndup((const char *)*p, (size_t)len);
                *p += len;
        }
        return 0;
}

/* Enum/set member names are stored in the column's own charset; events
 * carry UTF-8, so latin1 names are converted once, here. */
static void members_to_utf8(struct binlog_column *c)
{
        if (c->cs != CHARSET_LATIN1)
                return;
        for (uint32_t i = 0; i < c->nmembers; i++) {
                struct buf b;
                buf_init(&b);
                charset_latin1_to_utf8((const uint8_t *)c->members[i],
                                       strlen(c->members[i]), &b);
                free(c->members[i]);
                c->members[i] = buf_steal(&b);
        }
}

/* DEFAULT_CHARSET-style field: a default collation, then pairs of
 * (index among the selected columns, collation) for the exceptions. */
static int apply_default_charset(struct binlog_table *t, const uint8_t *p,
                                 const uint8_t *end,
                                 bool (*pick)(const struct binlog_column *))
{
        uint64_t def;
        if (binlog_read_packed(&p, end, &def))
                return -1;
        for (uint32_t i = 0; i < t->ncols; i++)
                if (pick(&t->cols[i]))
                        t->cols[i].collation = (uint32_t)def;
        while (p < end) {
                uint64_t idx, coll;
                if (binlog_read_packed(&p, end, &idx) ||
                    binlog_read_packed(&p, end, &coll))
                        return -1;
                uint64_t k = 0;
                bool found = false;
                for (uint32_t i = 0; i < t->ncols; i++) {
                        if (!pick(&t->cols[i]))
                                continue;
                        if (k++ == idx) {
                                t->cols[i].collation = (uint32_t)coll;
                                found = true;
                                break;
                        }
                }
                if (!found)
                        return -1;
        }
        return 0;
}

static int apply_column_charset(struct binlog_table *t, const uint8_t *p,
                                const uint8_t *end,
                                bool (*pick)(const struct binlog_column *))
{
        for (uint32_t i = 0; i < t->ncols; i++) {
                if (!pick(&t->cols[i]))
                        continue;
                uint64_t coll;
                if (binlog_read_packed(&p, end, &coll))
                        return -1;
                t->cols[i].collation = (uint32_t)coll;
        }
        return p == end ? 0 : -1;
}

static int parse_optional(struct binlog_table *t, const uint8_t *p,
                          const uint8_t *end, char *errstr,
                          size_t errstr_size)
{
        struct ferry_table *s = t->shape;
        uint32_t enum_i = 0, set_i = 0;

        while (p < end) {
                uint8_t kind = *p++;
                uint64_t len;
                if (binlog_read_packed(&p, end, &len) ||
                    len > (uint64_t)(end - p)) {
                        snprintf(errstr, errstr_size,
                                 "optional metadata field %u overruns the "
                                 "event",
                                 kind);
                        return FERRY_ERR_DATA;
                }
                const uint8_t *f = p, *fend = p + len;
                p = fend;
                int bad = 0;

                switch (kind) {
                case OM_SIGNEDNESS: {
                        uint32_t k = 0;
                        for (uint32_t i = 0; i < t->ncols; i++) {
                                if (!is_numeric(&t->cols[i]))
                                        continue;
                                if (k / 8 >= len) {
                                        bad = 1;
                                        break;
                                }
                                t->cols[i].is_unsigned =
                                        (f[k / 8] >> (7 - k % 8)) & 1;
                                k++;
                        }
                        break;
                }
                case OM_DEFAULT_CHARSET:
                        bad = apply_default_charset(t, f, fend, is_character);
                        break;
                case OM_COLUMN_CHARSET:
                        bad = apply_column_charset(t, f, fend, is_character);
                        break;
                case OM_ENUM_AND_SET_DEFAULT_CHARSET:
                        bad = apply_default_charset(t, f, fend,
                                                    is_enum_or_set);
                        break;
                case OM_ENUM_AND_SET_COLUMN_CHARSET:
                        bad = apply_column_charset(t, f, fend,
                                                   is_enum_or_set);
                        break;
                case OM_COLUMN_NAME:
                        for (uint32_t i = 0; i < t->ncols && !bad; i++) {
                                uint64_t n;
                                if (binlog_read_packed(&f, fend, &n) ||
                                    n > (uint64_t)(fend - f)) {
                                        bad = 1;
                                        break;
                                }
                                free(s->cols[i].name); /* repeated field */
                                s->cols[i].name =
                                        xstrndup((const char *)f, (size_t)n);
                                f += n;
                        }
                        t->has_names = !bad;
                        break;
                case OM_ENUM_STR_VALUE:
                case OM_SET_STR_VALUE: {
                        uint8_t want = kind == OM_ENUM_STR_VALUE ? BT_ENUM
                                                                 : BT_SET;
                        uint32_t *counter =
                                kind == OM_ENUM_STR_VALUE ? &enum_i : &set_i;
                        for (uint32_t i = 0; i < t->ncols && f < fend; i++) {
                                if (t->cols[i].real_type != want)
                                        continue;
                                if (t->cols[i].members ||
                                    read_members(&t->cols[i], &f, fend)) {
                                        bad = 1;
                                        break;
                                }
                                (*counter)++;
                        }
                        break;
                }
                case OM_SIMPLE_PRIMARY_KEY:
                case OM_PRIMARY_KEY_WITH_PREFIX:
                        if (t->has_pk) {
                                bad = 1; /* one primary key, once */
                                break;
                        }
                        while (f < fend) {
                                uint64_t idx, prefix;
                                if (binlog_read_packed(&f, fend, &idx) ||
                                    idx >= t->ncols) {
                                        bad = 1;
                                        break;
                                }
                                if (kind == OM_PRIMARY_KEY_WITH_PREFIX &&
                                    binlog_read_packed(&f, fend, &prefix)) {
                                        bad = 1;
                                        break;
                                }
                                s->pk = xrealloc(s->pk, (s->npk + 1) *
                                                                sizeof(*s->pk));
                                s->pk[s->npk++] = (uint32_t)idx;
                                s->cols[idx].pk = true;
                        }
                        t->has_pk = !bad;
                        break;
                default:
                        /* GEOMETRY_TYPE and fields from newer servers
                         * carry nothing the decoder needs. */
                        break;
                }
                if (bad) {
                        snprintf(errstr, errstr_size,
                                 "malformed optional metadata field %u", kind);
                        return FERRY_ERR_DATA;
                }
        }
        return 0;
}

int binlog_table_parse(const uint8_t *body, size_t len,
                       uint8_t post_header_len,
                       const struct charset_map *charsets,
                       struct binlog_table **tp, char *errstr,
                       size_t errstr_size)
{
        const uint8_t *p = body, *end = body + len;
        struct binlog_table *t = NULL;
        char db[256], name[256];
        uint64_t ncols, meta_len;
        int rc = 0;

        *tp = NULL;
        if (post_header_len != 6 && post_header_len != 8)
                post_header_len = 8;
        if (len < post_header_len)
                FAIL(FERRY_ERR_DATA, "TABLE_MAP shorter than its header");
        t = xcalloc(1, sizeof(*t));
        for (int i = 0; i < (post_header_len == 6 ? 4 : 6); i++)
                t->table_id |= (uint64_t)p[i] << (8 * i);
        p += post_header_len;

        for (int part = 0; part < 2; part++) {
                char *dst = part ? name : db;
                if (p >= end || (size_t)(end - p) < (size_t)p[0] + 2u)
                        FAIL(FERRY_ERR_DATA, "TABLE_MAP name overruns event");
                memcpy(dst, p + 1, p[0]);
                dst[p[0]] = '\0';
                p += (size_t)p[0] + 2; /* length byte, name, NUL */
        }
        if (binlog_read_packed(&p, end, &ncols) || ncols == 0 ||
            ncols > 4096 || ncols > (uint64_t)(end - p))
                FAIL(FERRY_ERR_DATA, "TABLE_MAP %s.%s: bad column count", db,
                     name);
        t->ncols = (uint32_t)ncols;
        t->cols = xcalloc(ncols, sizeof(*t->cols));
        t->shape = ferry_table_new(db, name, ncols);
        for (uint32_t i = 0; i < t->ncols; i++) {
                t->cols[i].type = p[i];
                t->cols[i].real_type = p[i];
        }
        p += ncols;

        if (binlog_read_packed(&p, end, &meta_len) ||
            meta_len > (uint64_t)(end - p))
                FAIL(FERRY_ERR_DATA, "TABLE_MAP %s.%s: bad metadata length",
                     db, name);
        {
                const uint8_t *m = p, *mend = p + meta_len;
                for (uint32_t i = 0; i < t->ncols; i++) {
                        int n = parse_column_meta(&t->cols[i], m,
                                                  (size_t)(mend - m));
                        if (n < 0)
                                FAIL(FERRY_ERR_DATA,
                                     "TABLE_MAP %s.%s: metadata of column "
                                     "%u overruns",
                                     db, name, i + 1);
                        m += n;
                }
                /* Every metadata byte must be explained, or we would be
                 * reading some column with another's layout. */
                if (m != mend)
                        FAIL(FERRY_ERR_SCHEMA,
                             "table %s.%s: %zu bytes of column metadata not "
                             "understood (a column type ferry cannot decode)",
                             db, name, (size_t)(mend - m));
                p = mend;
        }
        if ((size_t)(end - p) < (t->ncols + 7) / 8)
                FAIL(FERRY_ERR_DATA, "TABLE_MAP %s.%s: null bitmap overruns",
                     db, name);
        for (uint32_t i = 0; i < t->ncols; i++)
                t->cols[i].nullable = (p[i / 8] >> (i % 8)) & 1;
        p += (t->ncols + 7) / 8;

        rc = parse_optional(t, p, end, errstr, errstr_size);
        if (rc)
                goto out;

        for (uint32_t i = 0; i < t->ncols; i++) {
                struct binlog_column *c = &t->cols[i];
                struct ferry_column *fc = &t->shape->cols[i];
                if (!fc->name) {
                        char tmp[32];
                        snprintf(tmp, sizeof(tmp), "@%u", i + 1);
                        fc->name = xstrdup(tmp);
                }
                if (!type_supported(c))
                        FAIL(FERRY_ERR_SCHEMA,
                             "table %s.%s column %s: binlog type %u "
                             "(real type %u) is not supported",
                             db, name, fc->name, c->type, c->real_type);
                if (is_character(c) || is_enum_or_set(c)) {
                        c->cs = c->collation
                                        ? charset_map_kind(charsets,
                                                           c->collation)
                                        : CHARSET_UNKNOWN;
                        if (c->type == BT_GEOMETRY)
                                c->cs = CHARSET_BINARY;
                        if (c->cs == CHARSET_UNKNOWN ||
                            c->cs == CHARSET_OTHER)
                                FAIL(FERRY_ERR_SCHEMA,
                                     "table %s.%s column %s: character set "
                                     "%s (collation %u) cannot be carried "
                                     "as UTF-8",
                                     db, name, fc->name,
                                     charset_map_name(charsets, c->collation),
                                     c->collation);
                }
                if (is_enum_or_set(c))
                        members_to_utf8(c);
                fc->type = base_type(c);
                fc->nullable = c->nullable;
        }
out:
        if (rc) {
                binlog_table_free(t);
                return rc;
        }
        *tp = t;
        return 0;
}

int binlog_table_set_type(struct binlog_table *t, uint32_t col,
                          enum ferry_type type, char *errstr,
                          size_t errstr_size)
{
        struct binlog_column *c = &t->cols[col];
        bool ok;
        switch (type) {
        case FERRY_T_JSON:
                ok = c->type == BT_BLOB || c->type == BT_VARCHAR ||
                     c->type == BT_STRING;
                break;
        case FERRY_T_UUID:
        case FERRY_T_INET6:
                ok = c->type == BT_STRING && c->real_type == BT_STRING &&
                     c->length == 16;
                break;
        default:
                ok = false;
                break;
        }
        if (!ok) {
                snprintf(errstr, errstr_size,
                         "table %s.%s column %s: catalogue says %s but the "
                         "binlog logs type %u length %u",
                         t->shape->db, t->shape->name, t->shape->cols[col].name,
                         ferry_type_name(type), c->type, c->length);
                return FERRY_ERR_SCHEMA;
        }
        t->shape->cols[col].type = type;
        return 0;
}

bool binlog_table_same_shape(const struct binlog_table *a,
                             const struct binlog_table *b)
{
        if (a->ncols != b->ncols || a->shape->npk != b->shape->npk ||
            strcmp(a->shape->db, b->shape->db) ||
            strcmp(a->shape->name, b->shape->name))
                return false;
        for (uint32_t i = 0; i < a->ncols; i++) {
                const struct binlog_column *x = &a->cols[i], *y = &b->cols[i];
                if (x->type != y->type || x->real_type != y->real_type ||
                    x->length != y->length || x->precision != y->precision ||
                    x->scale != y->scale || x->bits != y->bits ||
                    x->is_unsigned != y->is_unsigned ||
                    x->collation != y->collation ||
                    x->nmembers != y->nmembers ||
                    strcmp(a->shape->cols[i].name, b->shape->cols[i].name))
                        return false;
                for (uint32_t m = 0; m < x->nmembers; m++)
                        if (strcmp(x->members[m], y->members[m]))
                                return false;
        }
        for (size_t i = 0; i < a->shape->npk; i++)
                if (a->shape->pk[i] != b->shape->pk[i])
                        return false;
        return true;
}
