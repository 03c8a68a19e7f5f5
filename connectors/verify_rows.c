/* SPDX-License-Identifier: Apache-2.0
 * Pairing the (key, CRC) rows of both sides by key, to name the keys
 * that differ: used by chunk narrowing (verify.c) and by the keyed check
 * (verify_keys.c); see verify_int.h.
 */
#include "common/buf.h"
#include "common/xalloc.h"
#include "connectors/verify_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void verify_rows_free(struct verify_rows *rv)
{
        for (size_t i = 0; i < rv->n; i++) {
                free(rv->v[i].key);
                free(rv->v[i].json);
        }
        free(rv->v);
        rv->v = NULL;
        rv->n = rv->cap = 0;
}

static json_t *key_value(const struct verify_plan *p, size_t i, const char *v,
                         unsigned long len)
{
        if (!v)
                return json_null();
        if (p->pk_numeric[i] && len && len < 20 && !memchr(v, '.', len)) {
                char *end;
                errno = 0;
                long long n = strtoll(v, &end, 10);
                if (!errno && end == v + len)
                        return json_integer(n);
        }
        json_t *s = json_stringn(v, len);
        if (s)
                return s;
        /* Not UTF-8 (a binary key): shown as hex. */
        struct buf b;
        buf_init(&b);
        buf_puts(&b, "0x");
        for (unsigned long k = 0; k < len; k++)
                buf_printf(&b, "%02x", (unsigned char)v[k]);
        s = json_string(buf_cstr(&b));
        buf_free(&b);
        return s;
}

static char *key_json(const struct verify_plan *p, MYSQL_ROW row,
                      unsigned long *len)
{
        json_t *o = json_object();
        for (size_t i = 0; i < p->npk; i++)
                json_object_set_new(
                        o, json_string_value(json_array_get(p->key_names, i)),
                        key_value(p, i, row[i], len[i]));
        char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(o);
        return s;
}

int verify_rows_fetch(struct vctx *c, const struct verify_plan *p, MYSQL *my,
                      const char *sql, struct verify_rows *out)
{
        MYSQL_RES *res;
        int rc = verify_query(c, my, sql, &res);
        if (rc)
                return rc;
        MYSQL_ROW row;
        while ((row = mysql_fetch_row(res))) {
                unsigned long *len = mysql_fetch_lengths(res);
                if (out->n == out->cap) {
                        out->cap = out->cap ? 2 * out->cap : 256;
                        out->v = xrealloc(out->v, out->cap * sizeof(*out->v));
                }
                struct verify_row *r = &out->v[out->n++];
                struct buf k;
                buf_init(&k);
                for (size_t i = 0; i < p->npk; i++) {
                        uint64_t l = row[i] ? len[i] : UINT64_MAX;
                        buf_append(&k, &l, sizeof(l));
                        if (row[i])
                                buf_append(&k, row[i], len[i]);
                }
                r->keylen = k.len;
                r->key = buf_steal(&k);
                r->json = key_json(p, row, len);
                r->crc = row[p->npk] ? strtoull(row[p->npk], NULL, 10) : 0;
        }
        mysql_free_result(res);
        return 0;
}

static int row_cmp(const void *a, const void *b)
{
        const struct verify_row *x = a, *y = b;
        size_t n = x->keylen < y->keylen ? x->keylen : y->keylen;
        int d = memcmp(x->key, y->key, n);
        if (d)
                return d;
        return (x->keylen > y->keylen) - (x->keylen < y->keylen);
}

static void differs(struct vctx *c, struct verify_entry *e,
                    const struct verify_row *r)
{
        e->res.rows_differing++;
        verify_entry_add_key(e, xstrdup(r->json), c->max_keys);
}

size_t verify_rows_diff(struct vctx *c, struct verify_entry *e,
                        struct verify_rows *s, struct verify_rows *t)
{
        uint64_t before = e->res.rows_differing;
        /* qsort(NULL, 0) is undefined: an empty side is common. */
        if (s->n > 1)
                qsort(s->v, s->n, sizeof(*s->v), row_cmp);
        if (t->n > 1)
                qsort(t->v, t->n, sizeof(*t->v), row_cmp);
        size_t i = 0, j = 0;
        while (i < s->n || j < t->n) {
                int d = i == s->n   ? 1
                        : j == t->n ? -1
                                    : row_cmp(&s->v[i], &t->v[j]);
                if (d < 0) {
                        differs(c, e, &s->v[i++]);
                } else if (d > 0) {
                        differs(c, e, &t->v[j++]);
                } else {
                        if (s->v[i].crc != t->v[j].crc)
                                differs(c, e, &s->v[i]);
                        i++;
                        j++;
                }
        }
        return (size_t)(e->res.rows_differing - before);
}
