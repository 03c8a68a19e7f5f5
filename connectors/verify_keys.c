/* SPDX-License-Identifier: Apache-2.0
 * The keyed check for the cutover's write pause: only the rows whose
 * keys changed since the last full verify, fetched by key on both sides
 * with the chunk checksum's row CRC, and paired; see verify.h.
 */
#include "common/base64.h"
#include "common/buf.h"
#include "common/xalloc.h"
#include "connectors/verify_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Keys per statement: long enough lists to keep round trips few during
 * the pause, short enough to stay far below max_allowed_packet even
 * with wide composite keys. */
#define KEYS_PER_STATEMENT 1000

static void keys_free(struct verify_key **kv, size_t n)
{
        for (size_t i = 0; i < n; i++)
                verify_key_free(kv[i]);
        free(kv);
}

/* One key column's event value as the text a fetched row would carry:
 * numbers formatted, binary decoded from base64 (event_json.c encodes
 * FERRY_V_BYTES so), everything else as the string it is. */
static int value_text(json_t *v, enum verify_family fam, struct buf *out)
{
        if (json_is_integer(v)) {
                buf_printf(out, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        } else if (json_is_real(v)) {
                buf_printf(out, "%.17g", json_real_value(v));
        } else if (json_is_boolean(v)) {
                buf_puts(out, json_is_true(v) ? "1" : "0");
        } else if (json_is_string(v) && fam == VERIFY_BIN) {
                if (base64_decode(json_string_value(v), json_string_length(v),
                                  out))
                        return -1;
        } else if (json_is_string(v)) {
                buf_append(out, json_string_value(v), json_string_length(v));
        } else {
                return -1; /* null, object, array: not a key value */
        }
        return 0;
}

static int key_from_json(struct vctx *c, const struct verify_table *st,
                         size_t idx, json_t *obj, struct verify_key **out)
{
        struct verify_key *k = xcalloc(1, sizeof(*k));
        k->n = st->npk;
        k->v = xcalloc(k->n, sizeof(*k->v));
        k->len = xcalloc(k->n, sizeof(*k->len));
        *out = k;
        for (size_t i = 0; i < st->npk; i++) {
                const struct verify_column *col = &st->cols[st->pk[i]];
                json_t *v = json_object_get(obj, col->name);
                struct buf b;
                buf_init(&b);
                if (!v || value_text(v, verify_type_family(col->type), &b)) {
                        buf_free(&b);
                        snprintf(c->errstr, c->errstr_size,
                                 "verify keys: key %zu of %s: %s column %s",
                                 idx, st->name,
                                 v ? "bad value (not base64, null or not "
                                     "a scalar) for"
                                   : "lacks primary-key",
                                 col->name);
                        return FERRY_ERR_DATA;
                }
                k->len[i] = b.len;
                buf_putc(&b, '\0'); /* binary-safe, NUL for text callers */
                k->v[i] = buf_steal(&b);
        }
        return 0;
}

static int keys_from_json(struct vctx *c, const struct verify_table *st,
                          json_t *keys, struct verify_key ***out)
{
        size_t n = json_array_size(keys);
        struct verify_key **kv = xcalloc(n ? n : 1, sizeof(*kv));
        int rc = 0;

        for (size_t i = 0; !rc && i < n; i++) {
                json_t *o = json_array_get(keys, i);
                if (!json_is_object(o)) {
                        snprintf(c->errstr, c->errstr_size,
                                 "verify keys: key %zu of %s is not an "
                                 "object",
                                 i, st->name);
                        rc = FERRY_ERR_DATA;
                        break;
                }
                rc = key_from_json(c, st, i, o, &kv[i]);
        }
        if (rc) {
                keys_free(kv, n);
                return rc;
        }
        *out = kv;
        return 0;
}

/* One batch: the keys' rows on every route and on the target, paired. */
static int check_batch(struct vctx *c, const struct verify_plan *p,
                       struct verify_entry *e, struct verify_key *const *kv,
                       size_t n)
{
        struct verify_rows s = {0}, t = {0};
        struct buf sql;
        int rc = 0;

        buf_init(&sql);
        for (size_t r = 0; !rc && r < p->nroutes; r++) {
                buf_reset(&sql);
                verify_sql_rows_in(p, c->src, VERIFY_SOURCE, r, kv, n, &sql);
                rc = verify_rows_fetch(c, p, c->src, buf_cstr(&sql), &s);
        }
        if (!rc) {
                buf_reset(&sql);
                verify_sql_rows_in(p, c->dst, VERIFY_TARGET, 0, kv, n, &sql);
                rc = verify_rows_fetch(c, p, c->dst, buf_cstr(&sql), &t);
        }
        buf_free(&sql);
        if (!rc) {
                e->res.rows_source += s.n;
                e->res.rows_target += t.n;
                e->res.chunks++;
                /* A key absent on both sides is a row deleted since: no
                 * row on either side, nothing to pair, not a difference. */
                if (verify_rows_diff(c, e, &s, &t))
                        e->res.chunks_differing++;
        }
        verify_rows_free(&s);
        verify_rows_free(&t);
        return rc;
}

static int check_target(struct vctx *c, struct verify_report *r,
                        const struct verify_table *st, const char *target,
                        struct verify_key *const *kv, size_t n)
{
        struct verify_plan *p = NULL;
        int rc = verify_plan_pair(c, st, target, &p);
        if (rc)
                return rc;
        if (p->whole_table) {
                /* Through a value map or a C transform the target key is
                 * not the source key: the IN list could not be written
                 * for the target side. */
                snprintf(c->errstr, c->errstr_size,
                         "verify keys: %s -> %s: a primary-key column goes "
                         "through a %s, so target keys cannot be derived "
                         "from source keys; the table needs a full verify",
                         st->name, target,
                         p->keys_unknown ? "C transform" : "value map");
                verify_plan_free(p);
                return FERRY_ERR_CONFIG;
        }
        struct verify_entry *e = verify_report_add(r, st->name, target);
        json_array_extend(e->res.unverified_columns, p->unverified);
        json_array_extend(e->res.notes, p->notes);
        char note[128];
        snprintf(note, sizeof(note),
                 "keyed check of %zu source keys, not a full verify", n);
        json_array_append_new(e->res.notes, json_string(note));
        for (size_t off = 0; !rc && off < n; off += KEYS_PER_STATEMENT)
                rc = check_batch(c, p, e, kv + off,
                                 n - off < KEYS_PER_STATEMENT
                                         ? n - off
                                         : KEYS_PER_STATEMENT);
        verify_plan_free(p);
        return rc;
}

int verify_keys(const struct mapping *m, MYSQL *src, const char *src_db,
                MYSQL *dst, const char *dst_db, const char *source_table,
                json_t *keys, const struct verify_opts *o,
                struct verify_report **out, char *errstr, size_t errstr_size)
{
        struct vctx c;
        struct verify_table *st = NULL;
        struct verify_key **kv = NULL;
        double t0 = verify_now();
        int rc;

        *out = NULL;
        verify_ctx_init(&c, m, src, src_db, dst, dst_db, o, errstr,
                        errstr_size);
        if (!mapping_has_source(m, source_table)) {
                snprintf(errstr, errstr_size, "verify: table %s is not mapped",
                         source_table);
                return FERRY_ERR_CONFIG;
        }
        if (!json_is_array(keys)) {
                snprintf(errstr, errstr_size,
                         "verify keys: keys of %s are not a JSON array",
                         source_table);
                return FERRY_ERR_DATA;
        }
        if ((rc = verify_prepare_session(&c, src)) ||
            (rc = verify_prepare_session(&c, dst)) ||
            (rc = verify_table_read(src, src_db, source_table, &st, errstr,
                                    errstr_size)))
                return rc;
        if (!st->npk) {
                snprintf(errstr, errstr_size,
                         "%s has no primary key: ferry cannot verify it",
                         source_table);
                verify_table_free(st);
                return FERRY_ERR_CONFIG;
        }
        if ((rc = keys_from_json(&c, st, keys, &kv))) {
                verify_table_free(st);
                return rc;
        }
        size_t n = json_array_size(keys);
        struct verify_report *r = xcalloc(1, sizeof(*r));
        for (const char *const *t = mapping_source_targets(m, source_table);
             !rc && t && *t; t++)
                rc = check_target(&c, r, st, *t, kv, n);
        keys_free(kv, n);
        verify_table_free(st);
        if (rc) {
                verify_report_free(r);
                return rc;
        }
        r->seconds = verify_now() - t0;
        *out = r;
        return 0;
}
