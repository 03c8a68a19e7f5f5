/* SPDX-License-Identifier: Apache-2.0
 * Direct JSON writer for change events. Building a jansson tree per row
 * costs a hash table and an allocation per column; streaming the text
 * out is an order of magnitude cheaper, and the format is fixed. The
 * output is identical to jansson's compact, order-preserving dump (same
 * escapes, same number formatting), which tests/unit/test_event_json.c
 * checks.
 */
#include "transforms/event_json.h"
#include "common/base64.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* @returns true if s[0..n) is valid UTF-8 (no overlongs, surrogates or
 * code points above U+10FFFF), as jansson requires. */
static bool utf8_valid(const uint8_t *s, size_t n)
{
        size_t i = 0;
        while (i < n) {
                uint8_t c = s[i];
                if (c < 0x80) {
                        i++;
                        continue;
                }
                size_t len;
                uint32_t cp;
                if (c >= 0xC2 && c <= 0xDF) {
                        len = 2;
                        cp = c & 0x1F;
                } else if (c >= 0xE0 && c <= 0xEF) {
                        len = 3;
                        cp = c & 0x0F;
                } else if (c >= 0xF0 && c <= 0xF4) {
                        len = 4;
                        cp = c & 0x07;
                } else {
                        return false;
                }
                if (n - i < len)
                        return false;
                for (size_t k = 1; k < len; k++) {
                        if ((s[i + k] & 0xC0) != 0x80)
                                return false;
                        cp = (cp << 6) | (s[i + k] & 0x3F);
                }
                if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
                    cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
                        return false;
                i += len;
        }
        return true;
}

static void put_string(struct buf *out, const char *s, size_t n)
{
        static const char hex[] = "0123456789ABCDEF"; /* as jansson */
        buf_reserve(out, n + 2);
        out->data[out->len++] = '"';
        size_t run = 0;
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char)s[i];
                if (c >= 0x20 && c != '"' && c != '\\')
                        continue;
                buf_append(out, s + run, i - run);
                run = i + 1;
                char esc[7] = {'\\', 0};
                size_t elen = 2;
                switch (c) {
                case '"':
                        esc[1] = '"';
                        break;
                case '\\':
                        esc[1] = '\\';
                        break;
                case '\b':
                        esc[1] = 'b';
                        break;
                case '\f':
                        esc[1] = 'f';
                        break;
                case '\n':
                        esc[1] = 'n';
                        break;
                case '\r':
                        esc[1] = 'r';
                        break;
                case '\t':
                        esc[1] = 't';
                        break;
                default:
                        memcpy(esc, "\\u00", 4);
                        esc[4] = hex[c >> 4];
                        esc[5] = hex[c & 15];
                        elen = 6;
                }
                buf_append(out, esc, elen);
        }
        buf_append(out, s + run, n - run);
        buf_putc(out, '"');
}

/* jansson's real formatting: %.17g, a ".0" when it reads as an integer,
 * and exponents without '+' or leading zeros. */
static void put_real(struct buf *out, double d)
{
        char tmp[64], res[64];
        snprintf(tmp, sizeof(tmp), "%.17g", d);
        if (!strpbrk(tmp, ".eE") && !strstr(tmp, "inf") &&
            !strstr(tmp, "nan"))
                strcat(tmp, ".0");
        size_t k = 0;
        for (const char *p = tmp; *p; p++) {
                res[k++] = *p;
                if (*p == 'e') {
                        p++;
                        if (*p == '-')
                                res[k++] = *p++;
                        else if (*p == '+')
                                p++;
                        while (*p == '0' && p[1])
                                p++;
                        while (*p)
                                res[k++] = *p++;
                        break;
                }
        }
        res[k] = '\0';
        buf_puts(out, res);
}

static int put_value(struct buf *out, const struct ferry_value *v)
{
        char tmp[32];
        switch (v->kind) {
        case FERRY_V_NULL:
                buf_append(out, "null", 4);
                return 0;
        case FERRY_V_INT:
                snprintf(tmp, sizeof(tmp), "%" PRId64, v->i);
                buf_puts(out, tmp);
                return 0;
        case FERRY_V_UINT:
                snprintf(tmp, sizeof(tmp), "%" PRIu64, v->u);
                if (v->u > INT64_MAX)
                        put_string(out, tmp, strlen(tmp));
                else
                        buf_puts(out, tmp);
                return 0;
        case FERRY_V_DOUBLE:
        case FERRY_V_FLOAT:
                put_real(out, v->d);
                return 0;
        case FERRY_V_TEXT:
                if (!utf8_valid((const uint8_t *)v->p, v->len))
                        return FERRY_ERR_DATA;
                put_string(out, v->p, v->len);
                return 0;
        case FERRY_V_BYTES:
                buf_putc(out, '"');
                base64_encode((const uint8_t *)v->p, v->len, out);
                buf_putc(out, '"');
                return 0;
        default:
                return FERRY_ERR_DATA;
        }
}

static int put_row(struct buf *out, const struct ferry_table *t,
                   const struct ferry_value *vals, const uint32_t *cols,
                   size_t ncols, char *errstr, size_t errstr_size)
{
        if (!vals) {
                buf_append(out, "null", 4);
                return 0;
        }
        buf_putc(out, '{');
        for (size_t k = 0; k < ncols; k++) {
                size_t i = cols ? cols[k] : k;
                if (k)
                        buf_putc(out, ',');
                put_string(out, t->cols[i].name, strlen(t->cols[i].name));
                buf_putc(out, ':');
                if (put_value(out, &vals[i])) {
                        snprintf(errstr, errstr_size,
                                 "table %s.%s column %s: value is not valid "
                                 "UTF-8 text",
                                 t->db, t->name, t->cols[i].name);
                        return FERRY_ERR_DATA;
                }
        }
        buf_putc(out, '}');
        return 0;
}

static void put_key_str(struct buf *out, const char *key, const char *val)
{
        size_t n = strlen(val);
        put_string(out, key, strlen(key));
        buf_putc(out, ':');
        if (utf8_valid((const uint8_t *)val, n)) {
                put_string(out, val, n);
                return;
        }
        /* Metadata (a file name, say) must not make the event unreadable;
         * values never take this path, they fail instead. */
        char *copy = strndup(val, n);
        for (char *p = copy; *p; p++)
                if ((unsigned char)*p >= 0x80)
                        *p = '?';
        put_string(out, copy, n);
        free(copy);
}

static void put_key_int(struct buf *out, const char *key, uint64_t val)
{
        char tmp[32];
        put_string(out, key, strlen(key));
        snprintf(tmp, sizeof(tmp), ":%" PRIu64, val);
        buf_puts(out, tmp);
}

int event_json_write_key(const struct ferry_event *ev, struct buf *out,
                         char *errstr, size_t errstr_size)
{
        const struct ferry_value *vals = ev->after ? ev->after : ev->before;
        return put_row(out, ev->table, vals, ev->table->pk, ev->table->npk,
                       errstr, errstr_size);
}

int event_json_write(const struct ferry_event *ev,
                     const struct event_json_opts *opts, uint64_t now_ms,
                     struct buf *out, char *errstr, size_t errstr_size)
{
        const struct ferry_table *t = ev->table;
        char gtid[GTID_STR_MAX];
        int rc;

        buf_append(out, "{\"before\":", 10);
        if ((rc = put_row(out, t, ev->before, NULL, t->ncols, errstr,
                          errstr_size)))
                return rc;
        buf_append(out, ",\"after\":", 9);
        if ((rc = put_row(out, t, ev->after, NULL, t->ncols, errstr,
                          errstr_size)))
                return rc;
        buf_append(out, ",\"source\":{", 11);
        put_key_str(out, "version", opts->version ? opts->version : "");
        buf_putc(out, ',');
        put_key_str(out, "connector", "mariadb");
        buf_putc(out, ',');
        put_key_str(out, "name", opts->name ? opts->name : "ferry");
        buf_putc(out, ',');
        put_key_int(out, "ts_ms", ev->pos.ts_ms);
        buf_putc(out, ',');
        put_key_str(out, "snapshot", ev->snapshot ? "true" : "false");
        buf_putc(out, ',');
        put_key_str(out, "db", t->db);
        buf_putc(out, ',');
        put_key_str(out, "table", t->name);
        buf_putc(out, ',');
        put_key_int(out, "server_id", ev->pos.gtid.server);
        buf_putc(out, ',');
        if (ev->snapshot && !ev->pos.gtid.seq)
                buf_puts(out, "\"gtid\":null");
        else
                put_key_str(out, "gtid", gtid_format(&ev->pos.gtid, gtid));
        buf_putc(out, ',');
        put_key_str(out, "file", ev->pos.file ? ev->pos.file : "");
        buf_putc(out, ',');
        put_key_int(out, "pos", ev->pos.offset);
        buf_putc(out, ',');
        put_key_int(out, "row", ev->pos.row);
        buf_append(out, "},\"op\":", 7);
        char op[2] = {(char)ev->op, '\0'};
        put_string(out, op, 1);
        buf_putc(out, ',');
        put_key_int(out, "ts_ms", now_ms);
        buf_putc(out, '}');
        return 0;
}
