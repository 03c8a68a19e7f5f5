/* SPDX-License-Identifier: Apache-2.0
 * The verify engine: chunk walk, checksums on both servers, narrowing of
 * differing chunks to keys, and the re-check; see verify.h.
 */
#include "common/buf.h"
#include "common/xalloc.h"
#include "connectors/db_conn.h"
#include "connectors/verify_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEFAULT_CHUNK_ROWS 10000
#define DEFAULT_MAX_KEYS   100

void verify_opts_init(struct verify_opts *o)
{
        o->chunk_rows = DEFAULT_CHUNK_ROWS;
        o->only_table = NULL;
        o->max_keys = DEFAULT_MAX_KEYS;
}

void verify_ctx_init(struct vctx *c, const struct mapping *m, MYSQL *src,
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

double verify_now(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int verify_query(struct vctx *c, MYSQL *my, const char *sql, MYSQL_RES **res)
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
int verify_prepare_session(struct vctx *c, MYSQL *my)
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
        int rc = verify_query(c, my, sql, &res);
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

/* Narrows a differing chunk: every route's rows and the target's, by
 * key and CRC, paired in C (verify_rows.c). */
static int narrow(struct vctx *c, const struct verify_plan *p,
                  struct verify_entry *e, const struct verify_range *rg)
{
        struct verify_rows s = {0}, t = {0};
        struct buf sql;
        int rc = 0;

        buf_init(&sql);
        for (size_t r = 0; !rc && r < p->nroutes; r++) {
                buf_reset(&sql);
                verify_sql_rows(p, c->src, VERIFY_SOURCE, r, rg->lo, rg->hi,
                                &sql);
                rc = verify_rows_fetch(c, p, c->src, buf_cstr(&sql), &s);
        }
        if (!rc) {
                buf_reset(&sql);
                verify_sql_rows(p, c->dst, VERIFY_TARGET, 0, rg->lo, rg->hi,
                                &sql);
                rc = verify_rows_fetch(c, p, c->dst, buf_cstr(&sql), &t);
        }
        buf_free(&sql);
        if (!rc)
                verify_rows_diff(c, e, &s, &t);
        verify_rows_free(&s);
        verify_rows_free(&t);
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
        int rc = verify_query(c, c->src, buf_cstr(&sql), &res);
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

int verify_plan_pair(struct vctx *c, const struct verify_table *st,
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
                if ((rc = verify_plan_pair(c, st, targets[i], &pairs[i].plan)))
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
        double t0 = verify_now();
        int rc;

        *out = NULL;
        verify_ctx_init(&c, m, src, src_db, dst, dst_db, o, errstr,
                        errstr_size);
        if (o && o->only_table && !mapping_has_source(m, o->only_table)) {
                snprintf(errstr, errstr_size, "verify: table %s is not mapped",
                         o->only_table);
                return FERRY_ERR_CONFIG;
        }
        if ((rc = verify_prepare_session(&c, src)) ||
            (rc = verify_prepare_session(&c, dst)))
                return rc;
        struct verify_report *r = xcalloc(1, sizeof(*r));
        for (const char *const *s = mapping_sources(m); !rc && *s; s++)
                if (!o || !o->only_table || !strcmp(o->only_table, *s))
                        rc = verify_source(&c, r, *s);
        if (rc) {
                verify_report_free(r);
                return rc;
        }
        r->seconds = verify_now() - t0;
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
            (rc = verify_plan_pair(c, st, e->res.target, &p))) {
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
        double t0 = verify_now();
        int rc;

        verify_ctx_init(&c, m, src, src_db, dst, dst_db, o, errstr,
                        errstr_size);
        if ((rc = verify_prepare_session(&c, src)) ||
            (rc = verify_prepare_session(&c, dst)))
                return rc;
        for (size_t i = 0; !rc && i < r->n; i++)
                if (r->v[i].nbad)
                        rc = recheck_entry(&c, &r->v[i]);
        r->seconds = verify_now() - t0;
        return rc;
}
