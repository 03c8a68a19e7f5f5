/* SPDX-License-Identifier: Apache-2.0
 * Row-image decoder. Values are formatted exactly as MariaDB's SELECT
 * prints them (with time_zone = '+00:00'), so that a sink can write them
 * back byte for byte and tests can compare against SELECT.
 *
 * While a row is decoded, TEXT/BYTES values hold an offset into the
 * scratch buffer (in .u); the event is allocated once the row's size is
 * known and the offsets become pointers into the event's own storage.
 */
#include "connectors/binlog_rows.h"
#include "common/xalloc.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

struct cursor {
        const uint8_t *p;
        const uint8_t *end;
        const uint8_t *start;
};

#define NEED(cur, n) ((size_t)((cur)->end - (cur)->p) >= (size_t)(n))

static uint64_t le(const uint8_t *p, int n)
{
        uint64_t v = 0;
        for (int i = 0; i < n; i++)
                v |= (uint64_t)p[i] << (8 * i);
        return v;
}

static uint64_t be(const uint8_t *p, int n)
{
        uint64_t v = 0;
        for (int i = 0; i < n; i++)
                v = (v << 8) | p[i];
        return v;
}

/* Appends v as decimal digits, zero-padded to width. */
static void put_num(struct buf *b, uint64_t v, int width)
{
        char tmp[24];
        int n = 0;
        do {
                tmp[n++] = (char)('0' + v % 10);
                v /= 10;
        } while (v);
        while (n < width)
                tmp[n++] = '0';
        buf_reserve(b, (size_t)n);
        while (n)
                b->data[b->len++] = tmp[--n];
}

static void put_frac(struct buf *b, uint32_t usec, int fsp)
{
        if (fsp <= 0)
                return;
        static const uint32_t div[7] = {1000000, 100000, 10000, 1000,
                                        100,     10,     1};
        buf_putc(b, '.');
        put_num(b, usec / div[fsp], fsp);
}

static void put_date(struct buf *b, unsigned y, unsigned m, unsigned d)
{
        put_num(b, y, 4);
        buf_putc(b, '-');
        put_num(b, m, 2);
        buf_putc(b, '-');
        put_num(b, d, 2);
}

static void put_hms(struct buf *b, unsigned h, unsigned mi, unsigned s)
{
        put_num(b, h, 2);
        buf_putc(b, ':');
        put_num(b, mi, 2);
        buf_putc(b, ':');
        put_num(b, s, 2);
}

/* Reads the big-endian fractional part of TIME2/DATETIME2/TIMESTAMP2
 * as microseconds; also returns the raw value and its byte count for
 * TIME2's negative-value correction. */
static int read_frac(struct cursor *cur, int fsp, int64_t *raw, int *nbytes)
{
        int n = (fsp + 1) / 2;
        if (!NEED(cur, n))
                return -1;
        *raw = (int64_t)be(cur->p, n);
        *nbytes = n;
        cur->p += n;
        return 0;
}

static int64_t frac_usec(int64_t raw, int nbytes)
{
        switch (nbytes) {
        case 1:
                return raw * 10000;
        case 2:
                return raw * 100;
        default:
                return raw;
        }
}

/* DECIMAL binary format: groups of 9 digits in 4 bytes, leading and
 * trailing partial groups in fewer bytes, sign in the top bit and
 * negative numbers stored inverted. */
static const int dig2bytes[10] = {0, 1, 1, 2, 2, 3, 3, 4, 4, 4};
static const uint32_t pow10_9[10] = {1,      10,      100,      1000,
                                     10000,  100000,  1000000,  10000000,
                                     100000000, 1000000000};

static int decode_decimal(struct cursor *cur, const struct binlog_column *c,
                          struct buf *out)
{
        int prec = c->precision, scale = c->scale;
        if (prec < 1 || prec > 65 || scale > 38 || scale > prec)
                return -1;
        int intg = prec - scale;
        int intg0 = intg / 9, intg0x = intg % 9;
        int frac0 = scale / 9, frac0x = scale % 9;
        size_t size = (size_t)(intg0 * 4 + dig2bytes[intg0x] + frac0 * 4 +
                               dig2bytes[frac0x]);
        uint8_t tmp[40];
        if (!NEED(cur, size) || size > sizeof(tmp))
                return -1;
        memcpy(tmp, cur->p, size);
        cur->p += size;
        bool neg = !(tmp[0] & 0x80);
        tmp[0] ^= 0x80;
        if (neg)
                for (size_t i = 0; i < size; i++)
                        tmp[i] = (uint8_t)~tmp[i];

        const uint8_t *q = tmp;
        size_t start = out->len;
        bool leading = true;
        if (neg)
                buf_putc(out, '-');
        if (intg0x) {
                uint32_t v = (uint32_t)be(q, dig2bytes[intg0x]);
                q += dig2bytes[intg0x];
                if (v >= pow10_9[intg0x])
                        return -1;
                if (v) {
                        put_num(out, v, 0);
                        leading = false;
                }
        }
        for (int i = 0; i < intg0; i++) {
                uint32_t v = (uint32_t)be(q, 4);
                q += 4;
                if (v >= 1000000000u)
                        return -1;
                if (leading) {
                        if (v) {
                                put_num(out, v, 0);
                                leading = false;
                        }
                } else {
                        put_num(out, v, 9);
                }
        }
        if (leading)
                buf_putc(out, '0');
        if (scale) {
                buf_putc(out, '.');
                for (int i = 0; i < frac0; i++) {
                        uint32_t v = (uint32_t)be(q, 4);
                        q += 4;
                        if (v >= 1000000000u)
                                return -1;
                        put_num(out, v, 9);
                }
                if (frac0x) {
                        uint32_t v = (uint32_t)be(q, dig2bytes[frac0x]);
                        if (v >= pow10_9[frac0x])
                                return -1;
                        put_num(out, v, frac0x);
                }
        }
        /* MariaDB never stores negative zero; print it as SELECT would. */
        if (neg) {
                bool zero = true;
                for (size_t i = start + 1; i < out->len; i++)
                        if (out->data[i] != '0' && out->data[i] != '.')
                                zero = false;
                if (zero) {
                        memmove(out->data + start, out->data + start + 1,
                                out->len - start - 1);
                        out->len--;
                }
        }
        return 0;
}

static int decode_time2(struct cursor *cur, int fsp, struct buf *out)
{
        if (fsp > 6 || !NEED(cur, 3))
                return -1;
        int64_t intpart = (int64_t)be(cur->p, 3) - 0x800000;
        cur->p += 3;
        int64_t raw = 0;
        int n = 0;
        if (fsp && read_frac(cur, fsp, &raw, &n))
                return -1;
        /* Negative times store the fraction as a complement that borrows
         * one second from the integer part. */
        int64_t packed;
        if (n == 3) {
                /* 6 bytes in all: one big-endian number, offset once. */
                packed = intpart * (1LL << 24) + raw;
        } else {
                if (intpart < 0 && raw) {
                        intpart++;
                        raw -= (n == 1) ? 0x100 : 0x10000;
                }
                packed = intpart * (1LL << 24) + frac_usec(raw, n);
        }
        bool neg = packed < 0;
        if (neg)
                packed = -packed;
        int64_t hms = packed >> 24;
        uint32_t usec = (uint32_t)(packed % (1LL << 24));
        unsigned hour = (unsigned)((hms >> 12) % (1 << 10));
        unsigned minute = (unsigned)((hms >> 6) % (1 << 6));
        unsigned second = (unsigned)(hms % (1 << 6));
        if (usec > 999999 || minute > 59 || second > 59)
                return -1;
        if (neg)
                buf_putc(out, '-');
        put_hms(out, hour, minute, second);
        put_frac(out, usec, fsp);
        return 0;
}

static int decode_datetime2(struct cursor *cur, int fsp, struct buf *out)
{
        if (fsp > 6 || !NEED(cur, 5))
                return -1;
        int64_t intpart = (int64_t)be(cur->p, 5) - 0x8000000000LL;
        cur->p += 5;
        int64_t raw = 0;
        int n = 0;
        if (fsp && read_frac(cur, fsp, &raw, &n))
                return -1;
        if (intpart < 0)
                return -1;
        int64_t ymd = intpart >> 17, ym = ymd >> 5, hms = intpart % (1 << 17);
        unsigned year = (unsigned)(ym / 13), month = (unsigned)(ym % 13);
        unsigned day = (unsigned)(ymd % 32);
        unsigned second = (unsigned)(hms % 64);
        unsigned minute = (unsigned)((hms >> 6) % 64);
        unsigned hour = (unsigned)(hms >> 12);
        int64_t usec = frac_usec(raw, n);
        if (year > 9999 || hour > 23 || minute > 59 || second > 59 ||
            usec > 999999)
                return -1;
        put_date(out, year, month, day);
        buf_putc(out, ' ');
        put_hms(out, hour, minute, second);
        put_frac(out, (uint32_t)usec, fsp);
        return 0;
}

static void put_epoch(struct buf *out, uint64_t secs, uint32_t usec, int fsp)
{
        if (secs == 0 && usec == 0) {
                /* MariaDB's zero TIMESTAMP. */
                put_date(out, 0, 0, 0);
                buf_putc(out, ' ');
                put_hms(out, 0, 0, 0);
        } else {
                struct tm tm;
                time_t t = (time_t)secs;
                gmtime_r(&t, &tm);
                put_date(out, (unsigned)tm.tm_year + 1900,
                         (unsigned)tm.tm_mon + 1, (unsigned)tm.tm_mday);
                buf_putc(out, ' ');
                put_hms(out, (unsigned)tm.tm_hour, (unsigned)tm.tm_min,
                        (unsigned)tm.tm_sec);
        }
        put_frac(out, usec, fsp);
}

/* UUID: the row image carries the 16 bytes in text order (measured on
 * MariaDB 10.11 for versions 0-7 and every variant; the server's
 * index-friendly ordering lives in its comparison, not in the record).
 * The type test compares against SELECT, so a server that changes this
 * fails loudly there. */
static void put_uuid(struct buf *out, const uint8_t *u)
{
        static const char hex[] = "0123456789abcdef";
        buf_reserve(out, 36);
        for (int i = 0; i < 16; i++) {
                if (i == 4 || i == 6 || i == 8 || i == 10)
                        out->data[out->len++] = '-';
                out->data[out->len++] = hex[u[i] >> 4];
                out->data[out->len++] = hex[u[i] & 15];
        }
}

static void put_inet6(struct buf *out, const uint8_t *rec)
{
        char tmp[INET6_ADDRSTRLEN];
        if (!inet_ntop(AF_INET6, rec, tmp, sizeof(tmp)))
                tmp[0] = '\0';
        buf_puts(out, tmp);
}

static void set_text(struct ferry_value *v, size_t start, struct buf *s,
                     enum ferry_vkind kind)
{
        v->kind = (uint8_t)kind;
        v->len = (uint32_t)(s->len - start);
        v->u = start;
}

/* Appends raw bytes to scratch and points v at them. */
static void set_bytes(struct ferry_value *v, const uint8_t *p, size_t n,
                      struct buf *s, enum ferry_vkind kind)
{
        size_t start = s->len;
        buf_append(s, p, n);
        set_text(v, start, s, kind);
}

static int decode_string(struct cursor *cur, const struct binlog_column *c,
                         enum ferry_type ft, size_t len_bytes,
                         struct ferry_value *v, struct buf *s)
{
        if (!NEED(cur, len_bytes))
                return -1;
        uint64_t n = le(cur->p, (int)len_bytes);
        cur->p += len_bytes;
        if (!NEED(cur, n))
                return -1;
        const uint8_t *data = cur->p;
        cur->p += n;

        switch (ft) {
        case FERRY_T_UUID:
        case FERRY_T_INET6: {
                /* Fixed 16 bytes whose trailing zeros the row image
                 * strips, as for BINARY(16). */
                uint8_t rec[16] = {0};
                if (n > 16)
                        return -1;
                memcpy(rec, data, (size_t)n);
                size_t start = s->len;
                if (ft == FERRY_T_UUID)
                        put_uuid(s, rec);
                else
                        put_inet6(s, rec);
                set_text(v, start, s, FERRY_V_TEXT);
                return 0;
        }
        case FERRY_T_GEOMETRY:
                /* 4-byte SRID, then the WKB. */
                if (n < 4)
                        return -1;
                set_bytes(v, data + 4, (size_t)n - 4, s, FERRY_V_BYTES);
                return 0;
        default:
                break;
        }
        if (c->cs == CHARSET_BINARY) {
                size_t start = s->len;
                buf_append(s, data, (size_t)n);
                /* BINARY(n) is padded with NULs that the row image omits;
                 * SELECT returns them, so put them back. */
                if (c->type == BT_STRING && n < c->length) {
                        buf_reserve(s, c->length - (size_t)n);
                        memset(s->data + s->len, 0, c->length - (size_t)n);
                        s->len += c->length - (size_t)n;
                }
                set_text(v, start, s, FERRY_V_BYTES);
        } else if (c->cs == CHARSET_LATIN1) {
                size_t start = s->len;
                charset_latin1_to_utf8(data, (size_t)n, s);
                set_text(v, start, s, FERRY_V_TEXT);
        } else {
                set_bytes(v, data, (size_t)n, s, FERRY_V_TEXT);
        }
        return 0;
}

static int decode_enum_set(struct cursor *cur, const struct binlog_column *c,
                           struct ferry_value *v, struct buf *s)
{
        size_t n = c->length;
        if (n < 1 || n > 8 || !NEED(cur, n))
                return -1;
        uint64_t x = le(cur->p, (int)n);
        cur->p += n;
        size_t start = s->len;
        if (c->real_type == BT_ENUM) {
                /* 0 is the "invalid value" empty string of non-strict mode */
                if (x > c->nmembers)
                        return -1;
                if (x)
                        buf_puts(s, c->members[x - 1]);
        } else {
                bool first = true;
                for (uint32_t i = 0; i < 64 && i < c->nmembers; i++) {
                        if (!(x >> i & 1))
                                continue;
                        if (!first)
                                buf_putc(s, ',');
                        buf_puts(s, c->members[i]);
                        first = false;
                }
                if (c->nmembers < 64 && (x >> c->nmembers))
                        return -1;
        }
        set_text(v, start, s, FERRY_V_TEXT);
        return 0;
}

static int decode_value(struct cursor *cur, const struct binlog_column *c,
                        enum ferry_type ft, struct ferry_value *v,
                        struct buf *s)
{
        size_t start = s->len;
        switch (c->type) {
        case BT_TINY:
        case BT_SHORT:
        case BT_INT24:
        case BT_LONG:
        case BT_LONGLONG: {
                static const int width[] = {[BT_TINY] = 1, [BT_SHORT] = 2,
                                            [BT_INT24] = 3, [BT_LONG] = 4,
                                            [BT_LONGLONG] = 8};
                int n = width[c->type];
                if (!NEED(cur, n))
                        return -1;
                uint64_t x = le(cur->p, n);
                cur->p += n;
                if (c->is_unsigned) {
                        v->kind = FERRY_V_UINT;
                        v->u = x;
                } else {
                        int shift = 64 - 8 * n;
                        v->kind = FERRY_V_INT;
                        v->i = shift ? (int64_t)(x << shift) >> shift
                                     : (int64_t)x;
                }
                return 0;
        }
        case BT_FLOAT: {
                if (!NEED(cur, 4))
                        return -1;
                float f;
                uint32_t x = (uint32_t)le(cur->p, 4);
                memcpy(&f, &x, 4);
                cur->p += 4;
                v->kind = FERRY_V_FLOAT;
                v->d = f;
                return 0;
        }
        case BT_DOUBLE: {
                if (!NEED(cur, 8))
                        return -1;
                uint64_t x = le(cur->p, 8);
                memcpy(&v->d, &x, 8);
                cur->p += 8;
                v->kind = FERRY_V_DOUBLE;
                return 0;
        }
        case BT_NEWDECIMAL:
                if (decode_decimal(cur, c, s))
                        return -1;
                set_text(v, start, s, FERRY_V_TEXT);
                return 0;
        case BT_BIT: {
                if (c->length < 1 || c->length > 8 || !NEED(cur, c->length))
                        return -1;
                v->kind = FERRY_V_UINT;
                v->u = be(cur->p, (int)c->length);
                cur->p += c->length;
                return 0;
        }
        case BT_YEAR:
                if (!NEED(cur, 1))
                        return -1;
                v->kind = FERRY_V_UINT;
                v->u = cur->p[0] ? 1900u + cur->p[0] : 0;
                cur->p += 1;
                return 0;
        case BT_DATE:
        case BT_NEWDATE: {
                if (!NEED(cur, 3))
                        return -1;
                uint32_t x = (uint32_t)le(cur->p, 3);
                cur->p += 3;
                put_date(s, x >> 9, (x >> 5) & 15, x & 31);
                set_text(v, start, s, FERRY_V_TEXT);
                return 0;
        }
        case BT_TIME2:
                if (decode_time2(cur, c->scale, s))
                        return -1;
                set_text(v, start, s, FERRY_V_TEXT);
                return 0;
        case BT_DATETIME2:
                if (decode_datetime2(cur, c->scale, s))
                        return -1;
                set_text(v, start, s, FERRY_V_TEXT);
                return 0;
        case BT_TIMESTAMP2: {
                if (c->scale > 6 || !NEED(cur, 4))
                        return -1;
                uint64_t secs = be(cur->p, 4);
                cur->p += 4;
                int64_t raw = 0;
                int n = 0;
                if (c->scale && read_frac(cur, c->scale, &raw, &n))
                        return -1;
                int64_t usec = frac_usec(raw, n);
                if (usec > 999999)
                        return -1;
                put_epoch(s, secs, (uint32_t)usec, c->scale);
                set_text(v, start, s, FERRY_V_TEXT);
                return 0;
        }
        case BT_TIMESTAMP:
                if (!NEED(cur, 4))
                        return -1;
                put_epoch(s, le(cur->p, 4), 0, 0);
                cur->p += 4;
                set_text(v, start, s, FERRY_V_TEXT);
                return 0;
        case BT_DATETIME: {
                if (!NEED(cur, 8))
                        return -1;
                uint64_t x = le(cur->p, 8); /* YYYYMMDDhhmmss */
                cur->p += 8;
                uint64_t d = x / 1000000, t = x % 1000000;
                put_date(s, (unsigned)(d / 10000 % 10000),
                         (unsigned)(d / 100 % 100), (unsigned)(d % 100));
                buf_putc(s, ' ');
                put_hms(s, (unsigned)(t / 10000), (unsigned)(t / 100 % 100),
                        (unsigned)(t % 100));
                set_text(v, start, s, FERRY_V_TEXT);
                return 0;
        }
        case BT_TIME: {
                if (!NEED(cur, 3))
                        return -1;
                int32_t x = (int32_t)(le(cur->p, 3) << 8) >> 8;
                cur->p += 3;
                if (x < 0) {
                        buf_putc(s, '-');
                        x = -x;
                }
                put_hms(s, (unsigned)(x / 10000), (unsigned)(x / 100 % 100),
                        (unsigned)(x % 100));
                set_text(v, start, s, FERRY_V_TEXT);
                return 0;
        }
        case BT_VARCHAR:
        case BT_VAR_STRING:
                return decode_string(cur, c, ft, c->length > 255 ? 2 : 1, v,
                                     s);
        case BT_BLOB:
        case BT_GEOMETRY:
                if (c->length < 1 || c->length > 4)
                        return -1;
                return decode_string(cur, c, ft, c->length, v, s);
        case BT_STRING:
                if (c->real_type == BT_ENUM || c->real_type == BT_SET)
                        return decode_enum_set(cur, c, v, s);
                return decode_string(cur, c, ft, c->length > 255 ? 2 : 1, v,
                                     s);
        default:
                return -1;
        }
}

static bool bit(const uint8_t *map, uint32_t i)
{
        return (map[i / 8] >> (i % 8)) & 1;
}

/* Decodes one row image at cur into vals (offsets into s). */
static int decode_image(const struct binlog_table *t, const uint8_t *present,
                        struct cursor *cur, struct ferry_value *vals,
                        struct buf *s, char *errstr, size_t errstr_size)
{
        uint32_t npresent = 0;
        for (uint32_t i = 0; i < t->ncols; i++)
                npresent += bit(present, i);
        size_t nbytes = (npresent + 7) / 8;
        if (!NEED(cur, nbytes)) {
                snprintf(errstr, errstr_size,
                         "table %s.%s: row image truncated at offset %zu",
                         t->shape->db, t->shape->name,
                         (size_t)(cur->p - cur->start));
                return FERRY_ERR_DATA;
        }
        const uint8_t *nulls = cur->p;
        cur->p += nbytes;
        uint32_t k = 0;
        for (uint32_t i = 0; i < t->ncols; i++) {
                if (!bit(present, i))
                        continue; /* refused earlier: images are FULL */
                if (bit(nulls, k++)) {
                        vals[i].kind = FERRY_V_NULL;
                        vals[i].len = 0;
                        continue;
                }
                const uint8_t *at = cur->p;
                if (decode_value(cur, &t->cols[i], t->shape->cols[i].type,
                                 &vals[i], s)) {
                        snprintf(errstr, errstr_size,
                                 "table %s.%s column %s: undecodable %s "
                                 "value at row offset %zu",
                                 t->shape->db, t->shape->name,
                                 t->shape->cols[i].name,
                                 ferry_type_name(t->shape->cols[i].type),
                                 (size_t)(at - cur->start));
                        return FERRY_ERR_DATA;
                }
        }
        return 0;
}

static void rebase(struct ferry_value *vals, size_t n, const char *base)
{
        for (size_t i = 0; i < n; i++) {
                if (vals[i].kind == FERRY_V_TEXT ||
                    vals[i].kind == FERRY_V_BYTES) {
                        size_t off = (size_t)vals[i].u;
                        vals[i].p = base + off;
                }
        }
}

static struct ferry_event *make_event(const struct binlog_table *t,
                                      enum ferry_op op,
                                      const struct ferry_value *before,
                                      const struct ferry_value *after,
                                      const struct ferry_pos *pos,
                                      const struct buf *s)
{
        char *text;
        struct ferry_event *ev =
                ferry_event_new(FERRY_EV_ROW, t->shape, before != NULL,
                                after != NULL, pos->file, s->len, &text);
        ev->op = op;
        ev->pos = (struct ferry_pos){.gtid = pos->gtid,
                                     .ts_ms = pos->ts_ms,
                                     .row = pos->row,
                                     .offset = pos->offset,
                                     .file = ev->pos.file};
        if (s->len)
                memcpy(text, s->data, s->len);
        if (before) {
                memcpy(ev->before, before, t->ncols * sizeof(*before));
                rebase(ev->before, t->ncols, text);
        }
        if (after) {
                memcpy(ev->after, after, t->ncols * sizeof(*after));
                rebase(ev->after, t->ncols, text);
        }
        return ev;
}

static bool all_present(const uint8_t *map, uint32_t n)
{
        for (uint32_t i = 0; i < n; i++)
                if (!bit(map, i))
                        return false;
        return true;
}

static bool pk_changed(const struct binlog_table *t,
                       const struct ferry_value *a, const struct buf *sa,
                       const struct ferry_value *b, const struct buf *sb)
{
        for (size_t i = 0; i < t->shape->npk; i++) {
                uint32_t c = t->shape->pk[i];
                struct ferry_value x = a[c], y = b[c];
                if (x.kind != y.kind)
                        return true;
                if (x.kind == FERRY_V_TEXT || x.kind == FERRY_V_BYTES) {
                        if (x.len != y.len ||
                            memcmp(sa->data + x.u, sb->data + y.u, x.len))
                                return true;
                } else if (!ferry_value_equal(&x, &y)) {
                        return true;
                }
        }
        return false;
}

/* Decodes the next row (two images for an UPDATE) and emits its
 * event(s). */
static int decode_one(const struct binlog_table *t,
                      const struct binlog_rows *rows, struct cursor *cur,
                      struct ferry_pos *pos, struct buf *scratch,
                      struct ferry_value *va, struct ferry_value *vb,
                      binlog_row_fn *emit, void *opaque, char *errstr,
                      size_t errstr_size)
{
        int rc;

        buf_reset(scratch);
        rc = decode_image(t, rows->present, cur, va, scratch, errstr,
                          errstr_size);
        if (rc)
                return rc;
        if (rows->kind != BINLOG_ROWS_UPDATE) {
                bool w = rows->kind == BINLOG_ROWS_WRITE;
                struct ferry_event *ev =
                        make_event(t, w ? FERRY_OP_CREATE : FERRY_OP_DELETE,
                                   w ? NULL : va, w ? va : NULL, pos, scratch);
                pos->row++;
                return emit(ev, opaque);
        }
        /* The after image goes to the same scratch buffer, so both images
         * are rebased onto one copy. */
        rc = decode_image(t, rows->present_after, cur, vb, scratch, errstr,
                          errstr_size);
        if (rc)
                return rc;
        if (!pk_changed(t, va, scratch, vb, scratch)) {
                struct ferry_event *ev = make_event(t, FERRY_OP_UPDATE, va,
                                                    vb, pos, scratch);
                pos->row++;
                return emit(ev, opaque);
        }
        struct ferry_event *del =
                make_event(t, FERRY_OP_DELETE, va, NULL, pos, scratch);
        pos->row++;
        if ((rc = emit(del, opaque)))
                return rc;
        struct ferry_event *cre =
                make_event(t, FERRY_OP_CREATE, NULL, vb, pos, scratch);
        pos->row++;
        return emit(cre, opaque);
}

int binlog_rows_decode(const struct binlog_table *t,
                       const struct binlog_rows *rows, struct ferry_pos *pos,
                       struct buf *scratch, binlog_row_fn *emit,
                       void *opaque, char *errstr, size_t errstr_size)
{
        struct cursor cur = {rows->data, rows->data + rows->len, rows->data};
        int rc = 0;

        if (rows->ncols != t->ncols) {
                snprintf(errstr, errstr_size,
                         "table %s.%s: rows event has %u columns, table map "
                         "%u",
                         t->shape->db, t->shape->name, rows->ncols, t->ncols);
                return FERRY_ERR_SCHEMA;
        }
        if (!all_present(rows->present, t->ncols) ||
            (rows->present_after &&
             !all_present(rows->present_after, t->ncols))) {
                snprintf(errstr, errstr_size,
                         "table %s.%s: row image is not FULL (set "
                         "binlog_row_image=FULL on the source)",
                         t->shape->db, t->shape->name);
                return FERRY_ERR_SCHEMA;
        }
        if (rows->kind == BINLOG_ROWS_UPDATE && !rows->present_after) {
                snprintf(errstr, errstr_size,
                         "table %s.%s: update without an after-image bitmap",
                         t->shape->db, t->shape->name);
                return FERRY_ERR_DATA;
        }

        /* One allocation per rows event, not per row. */
        struct ferry_value *va = xcalloc(2 * (size_t)t->ncols, sizeof(*va));
        while (cur.p < cur.end && rc == 0)
                rc = decode_one(t, rows, &cur, pos, scratch, va, va + t->ncols,
                                emit, opaque, errstr, errstr_size);
        free(va);
        return rc;
}
