/* SPDX-License-Identifier: Apache-2.0
 * The verify engine: chunk walk, checksums on both servers, narrowing of
 * differing chunks to keys, and the re-check; see verify.h.
 */
#include "common/buf.h"
#include "common/xalloc.h"
#include "connectors/db_conn.h"
#include "connectors/verify_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEFAULT_CHUNK_ROWS 10000
#define DEFAULT_MAX_KEYS   100

struct vctx {
        const struct mapping *m;
        MYSQL *src, *dst;
        const char *src_db, *dst_db;
        size_t chunk_rows, max_keys;
        char *errstr;
        size_t errstr_size;
};

void verify_opts_init(struct verify_opts *o)
{
        o->chunk_rows = DEFAULT_CHUNK_ROWS;
        o->only_table = NULL;
        o->max_keys = DEFAULT_MAX_KEYS;
}

static void ctx_init(struct vctx *c, const struct mapping *m, MYSQL *src,
                     const char *src_db, MYSQL *dst, const char *dst_db,
                     const struct verify_opts *o, char *errstr,
                     size_t errstr_size)
{
        c->m = m;
        c->src = src;
        c->dst = dst;
        c->src_db = src_db;
        c->dst_db = dst_db;
        c->chunk_rows = o && o->chunk_rows ? o->chunk_rows : DEFAULT_CHUNK_ROWS;
        c->max_keys = o && o->max_keys ? o->max_keys : DEFAULT_MAX_KEYS;
        c->errstr = errstr;
        c->errstr_size = errstr_size;
}

static double now_s(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int query(struct vctx *c, MYSQL *my, const char *sql, MYSQL_RES **res)
{
        *res = NULL;
        if (mysql_query(my, sql) || !(*res = mysql_store_result(my))) {
                snprintf(c->errstr, c->errstr_size,
                         "verify: %s (query: %.300s)", mysql_error(my), sql);
                return db_classify(mysql_errno(my));
        }
        return 0;
}

/* Each chunk is one autocommit statement: a consistent snapshot of its
 * own in REPEATABLE READ, holding no locks and no transaction open
 * between chunks. */
static int prepare_session(struct vctx *c, MYSQL *my)
{
        if (mysql_autocommit(my, 1)) {
                snprintf(c->errstr, c->errstr_size, "verify: autocommit: %s",
                         mysql_error(my));
                return db_classify(mysql_errno(my));
        }
        return db_exec(my,
                       "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE "
                       "READ",
                       c->errstr, c->errstr_size);
}

static int checksum(struct vctx *c, MYSQL *my, const char *sql, uint64_t *count,
                    uint64_t *crc)
{
        MYSQL_RES *res;
        int rc = query(c, my, sql, &res);
        if (rc)
                return rc;
        MYSQL_ROW row = mysql_fetch_row(res);
        if (!row || !row[0] || !row[1]) {
                mysql_free_result(res);
                snprintf(c->errstr, c->errstr_size,
                         "verify: checksum query returned nothing "
                         "(query: %.300s)",
                         sql);
                return FERRY_ERR_FATAL;
        }
        *count = strtoull(row[0], NULL, 10);
        *crc = strtoull(row[1], NULL, 10);
        mysql_free_result(res);
        return 0;
}

/* ---- narrowing a differing chunk to keys ---------------------------- */

struct row_crc {
        char *key; /* the key columns, each as 8-byte length + bytes */
        size_t keylen;
        char *json; /* the key for the report */
        uint64_t crc;
};

struct row_vec {
        struct row_crc *v;
        size_t n, cap;
};

static void row_vec_free(struct row_vec *rv)
{
        for (size_t i = 0; i < rv->n; i++) {
                free(rv->v[i].key);
                free(rv->v[i].json);
        }
        free(rv->v);
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

static int fetch_rows(struct vctx *c, const struct verify_plan *p,
                      enum verify_side side, size_t route,
                      const struct verify_range *rg, struct row_vec *out)
{
        MYSQL *my = side == VERIFY_SOURCE ? c->src : c->dst;
        struct buf sql;
        MYSQL_RES *res;

        buf_init(&sql);
        verify_sql_rows(p, my, side, route, rg->lo, rg->hi, &sql);
        int rc = query(c, my, buf_cstr(&sql), &res);
        buf_free(&sql);
        if (rc)
                return rc;
        MYSQL_ROW row;
        while ((row = mysql_fetch_row(res))) {
                unsigned long *len = mysql_fetch_lengths(res);
                if (out->n == out->cap) {
                        out->cap = out->cap ? 2 * out->cap : 256;
                        out->v = xrealloc(out->v, out->cap * sizeof(*out->v));
                }
                struct row_crc *r = &out->v[out->n++];
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
        const struct row_crc *x = a, *y = b;
        size_t n = x->keylen < y->keylen ? x->keylen : y->keylen;
        int d = memcmp(x->key, y->key, n);
        if (d)
                return d;
        return (x->keylen > y->keylen) - (x->keylen < y->keylen);
}

static void differs(struct vctx *c, struct verify_entry *e,
                    const struct row_crc *r)
{
        e->res.rows_differing++;
        verify_entry_add_key(e, xstrdup(r->json), c->max_keys);
}

/* Pairs the chunk's rows of both sides by key (sorted in C: the two
 * servers need not collate alike) and records every key present on one
 * side only or with another CRC. */
static int narrow(struct vctx *c, const struct verify_plan *p,
                  struct verify_entry *e, const struct verify_range *rg)
{
        struct row_vec s = {0}, t = {0};
        int rc = 0;

        for (size_t r = 0; !rc && r < p->nroutes; r++)
                rc = fetch_rows(c, p, VERIFY_SOURCE, r, rg, &s);
        if (!rc)
                rc = fetch_rows(c, p, VERIFY_TARGET, 0, rg, &t);
        if (!rc) {
                /* qsort(NULL, 0) is undefined: an empty side is common. */
                if (s.n > 1)
                        qsort(s.v, s.n, sizeof(*s.v), row_cmp);
                if (t.n > 1)
                        qsort(t.v, t.n, sizeof(*t.v), row_cmp);
                size_t i = 0, j = 0;
                while (i < s.n || j < t.n) {
                        int d = i == s.n   ? 1
                                : j == t.n ? -1
                                           : row_cmp(&s.v[i], &t.v[j]);
                        if (d < 0) {
                                differs(c, e, &s.v[i++]);
                        } else if (d > 0) {
                                differs(c, e, &t.v[j++]);
                        } else {
                                if (s.v[i].crc != t.v[j].crc)
                                        differs(c, e, &s.v[i]);
                                i++;
                                j++;
                        }
                }
        }
        row_vec_free(&s);
        row_vec_free(&t);
        return rc;
}

/* ---- chunks ----------------------------------------------------------- */

static int check_chunk(struct vctx *c, const struct verify_plan *p,
                       struct verify_entry *e, const struct verify_key *lo,
                       const struct verify_key *hi, bool totals)
{
        uint64_t sc = 0, sx = 0, tc, tx, n, x;
        struct buf sql;
        int rc = 0;

        buf_init(&sql);
        for (size_t r = 0; !rc && r < p->nroutes; r++) {
                buf_reset(&sql);
                verify_sql_checksum(p, c->src, VERIFY_SOURCE, r, lo, hi, &sql);
                if (!(rc = checksum(c, c->src, buf_cstr(&sql), &n, &x))) {
                        sc += n;
                        sx ^= x;
                }
        }
        if (!rc) {
                buf_reset(&sql);
                verify_sql_checksum(p, c->dst, VERIFY_TARGET, 0, lo, hi, &sql);
                rc = checksum(c, c->dst, buf_cstr(&sql), &tc, &tx);
        }
        buf_free(&sql);
        if (rc)
                return rc;
        if (totals) {
                e->res.rows_source += sc;
                e->res.rows_target += tc;
                e->res.chunks++;
        }
        if (sc == tc && sx == tx)
                return 0;
        e->res.chunks_differing++;
        e->bad = xrealloc(e->bad, (e->nbad + 1) * sizeof(*e->bad));
        struct verify_range *rg = &e->bad[e->nbad++];
        rg->lo = verify_key_dup(lo);
        rg->hi = verify_key_dup(hi);
        if (p->keys_unknown) {
                /* Rows cannot be paired; at least the count is known. */
                e->res.rows_differing += sc > tc ? sc - tc : tc - sc;
                return 0;
        }
        return narrow(c, p, e, rg);
}

/* The next chunk's upper bound after lo; *hi is NULL past the end. */
static int next_bound(struct vctx *c, const struct verify_plan *p,
                      const struct verify_key *lo, struct verify_key **hi)
{
        struct buf sql;
        MYSQL_RES *res;

        *hi = NULL;
        buf_init(&sql);
        verify_sql_bound(p, c->src, lo, c->chunk_rows, &sql);
        int rc = query(c, c->src, buf_cstr(&sql), &res);
        buf_free(&sql);
        if (rc)
                return rc;
        MYSQL_ROW row = mysql_fetch_row(res);
        if (row)
                *hi = verify_key_from_row(row, mysql_fetch_lengths(res),
                                          p->npk);
        mysql_free_result(res);
        return 0;
}

/* ---- tables ------------------------------------------------------------ */

struct pair {
        struct verify_plan *plan;
        size_t entry; /* index into the report (it may move on realloc) */
};

static int plan_pair(struct vctx *c, const struct verify_table *st,
                     const char *target, struct verify_plan **plan)
{
        struct verify_table *dt = NULL;
        int rc = verify_table_read(c->dst, c->dst_db, target, &dt, c->errstr,
                                   c->errstr_size);
        if (!rc)
                rc = verify_plan_new(c->m, st->name, target, st, c->src_db, dt,
                                     c->dst_db, c->src, plan, c->errstr,
                                     c->errstr_size);
        verify_table_free(dt);
        return rc;
}

static int walk(struct vctx *c, struct verify_report *r, struct pair *pairs,
                size_t np)
{
        struct verify_key *lo = NULL, *hi = NULL;
        const struct verify_plan *any = NULL;
        int rc = 0;

        for (size_t i = 0; !rc && i < np; i++) {
                if (pairs[i].plan->whole_table)
                        rc = check_chunk(c, pairs[i].plan,
                                         &r->v[pairs[i].entry], NULL, NULL,
                                         true);
                else
                        any = pairs[i].plan;
        }
        while (!rc && any) {
                if ((rc = next_bound(c, any, lo, &hi)))
                        break;
                for (size_t i = 0; !rc && i < np; i++)
                        if (!pairs[i].plan->whole_table)
                                rc = check_chunk(c, pairs[i].plan,
                                                 &r->v[pairs[i].entry], lo, hi,
                                                 true);
                verify_key_free(lo);
                lo = hi;
                hi = NULL;
                if (!lo)
                        break;
        }
        verify_key_free(lo);
        verify_key_free(hi);
        return rc;
}

static int verify_source(struct vctx *c, struct verify_report *r,
                         const char *source)
{
        const char *const *targets = mapping_source_targets(c->m, source);
        struct verify_table *st = NULL;
        struct pair *pairs;
        size_t np = 0;
        int rc;

        if ((rc = verify_table_read(c->src, c->src_db, source, &st, c->errstr,
                                    c->errstr_size)))
                return rc;
        for (const char *const *t = targets; t && *t; t++)
                np++;
        pairs = xcalloc(np ? np : 1, sizeof(*pairs));
        for (size_t i = 0; !rc && i < np; i++) {
                if ((rc = plan_pair(c, st, targets[i], &pairs[i].plan)))
                        break;
                struct verify_entry *e =
                        verify_report_add(r, source, targets[i]);
                pairs[i].entry = r->n - 1;
                e->res.whole_table = pairs[i].plan->whole_table;
                json_array_extend(e->res.unverified_columns,
                                  pairs[i].plan->unverified);
                json_array_extend(e->res.notes, pairs[i].plan->notes);
        }
        if (!rc)
                rc = walk(c, r, pairs, np);
        for (size_t i = 0; i < np; i++)
                verify_plan_free(pairs[i].plan);
        free(pairs);
        verify_table_free(st);
        return rc;
}

int verify_run(const struct mapping *m, MYSQL *src, const char *src_db,
               MYSQL *dst, const char *dst_db, const struct verify_opts *o,
               struct verify_report **out, char *errstr, size_t errstr_size)
{
        struct vctx c;
        double t0 = now_s();
        int rc;

        *out = NULL;
        ctx_init(&c, m, src, src_db, dst, dst_db, o, errstr, errstr_size);
        if (o && o->only_table && !mapping_has_source(m, o->only_table)) {
                snprintf(errstr, errstr_size, "verify: table %s is not mapped",
                         o->only_table);
                return FERRY_ERR_CONFIG;
        }
        if ((rc = prepare_session(&c, src)) || (rc = prepare_session(&c, dst)))
                return rc;
        struct verify_report *r = xcalloc(1, sizeof(*r));
        for (const char *const *s = mapping_sources(m); !rc && *s; s++)
                if (!o || !o->only_table || !strcmp(o->only_table, *s))
                        rc = verify_source(&c, r, *s);
        if (rc) {
                verify_report_free(r);
                return rc;
        }
        r->seconds = now_s() - t0;
        *out = r;
        return 0;
}

static int recheck_entry(struct vctx *c, struct verify_entry *e)
{
        struct verify_table *st = NULL;
        struct verify_plan *p = NULL;
        struct verify_range *bad = e->bad;
        size_t nbad = e->nbad;
        int rc;

        if ((rc = verify_table_read(c->src, c->src_db, e->res.source, &st,
                                    c->errstr, c->errstr_size)) ||
            (rc = plan_pair(c, st, e->res.target, &p))) {
                verify_table_free(st);
                return rc;
        }
        /* The old ranges are ours now; reset clears the entry only. */
        e->bad = NULL;
        e->nbad = 0;
        verify_entry_reset_diffs(e);
        for (size_t i = 0; i < nbad; i++) {
                if (!rc)
                        rc = check_chunk(c, p, e, bad[i].lo, bad[i].hi, false);
                verify_range_free(&bad[i]);
        }
        free(bad);
        if (rc)
                e->res.chunks_differing++; /* never clean after a failure */
        verify_plan_free(p);
        verify_table_free(st);
        return rc;
}

int verify_recheck(struct verify_report *r, const struct mapping *m, MYSQL *src,
                   const char *src_db, MYSQL *dst, const char *dst_db,
                   const struct verify_opts *o, char *errstr,
                   size_t errstr_size)
{
        struct vctx c;
        double t0 = now_s();
        int rc;

        ctx_init(&c, m, src, src_db, dst, dst_db, o, errstr, errstr_size);
        if ((rc = prepare_session(&c, src)) || (rc = prepare_session(&c, dst)))
                return rc;
        for (size_t i = 0; !rc && i < r->n; i++)
                if (r->v[i].nbad)
                        rc = recheck_entry(&c, &r->v[i]);
        r->seconds = now_s() - t0;
        return rc;
}
