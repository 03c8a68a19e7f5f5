/* SPDX-License-Identifier: Apache-2.0
 * Row counts per (source, target) pair, for the cutover's write pause:
 * the rows each route sends to a target against the target's rows; see
 * verify.h.
 */
#include "common/buf.h"
#include "common/xalloc.h"
#include "connectors/db_conn.h"
#include "connectors/verify_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int count(struct vctx *c, MYSQL *my, const char *sql, uint64_t *n)
{
        MYSQL_RES *res;
        int rc = verify_query(c, my, sql, &res);
        if (rc)
                return rc;
        MYSQL_ROW row = mysql_fetch_row(res);
        if (!row || !row[0]) {
                mysql_free_result(res);
                snprintf(c->errstr, c->errstr_size,
                         "verify: count returned nothing (query: %.300s)", sql);
                return FERRY_ERR_FATAL;
        }
        *n = strtoull(row[0], NULL, 10);
        mysql_free_result(res);
        return 0;
}

/* One (source, target) pair: the SQL of each side and, once run, the
 * counts. Routes into one target take disjoint rows (first match wins),
 * so the source side's counts add up. */
struct count_pair {
        char *source, *target;
        char **src_sql;
        size_t nsrc;
        char *dst_sql;
        uint64_t sn, tn;
};

struct verify_counts {
        struct count_pair *v;
        size_t n;
        char *src_db, *dst_db;
};

static int plan_pair(struct vctx *c, struct verify_counts *vc,
                     const struct verify_table *st, const char *target)
{
        struct verify_plan *p = NULL;
        int rc = verify_plan_pair(c, st, target, &p);
        if (rc)
                return rc;
        vc->v = xrealloc(vc->v, (vc->n + 1) * sizeof(*vc->v));
        struct count_pair *cp = &vc->v[vc->n++];
        memset(cp, 0, sizeof(*cp));
        cp->source = xstrdup(st->name);
        cp->target = xstrdup(target);
        cp->src_sql = xcalloc(p->nroutes + 1, sizeof(*cp->src_sql));
        struct buf sql;
        buf_init(&sql);
        for (size_t k = 0; k < p->nroutes; k++) {
                buf_reset(&sql);
                verify_sql_count(p, c->src, VERIFY_SOURCE, k, &sql);
                cp->src_sql[cp->nsrc++] = xstrdup(buf_cstr(&sql));
        }
        buf_reset(&sql);
        verify_sql_count(p, c->dst, VERIFY_TARGET, 0, &sql);
        cp->dst_sql = xstrdup(buf_cstr(&sql));
        buf_free(&sql);
        verify_plan_free(p);
        return 0;
}

static int plan_source(struct vctx *c, struct verify_counts *vc,
                       const char *source)
{
        struct verify_table *st = NULL;
        int rc = verify_table_read(c->src, c->src_db, source, &st, c->errstr,
                                   c->errstr_size);
        for (const char *const *t = mapping_source_targets(c->m, source);
             !rc && t && *t; t++)
                rc = plan_pair(c, vc, st, *t);
        verify_table_free(st);
        return rc;
}

int verify_counts_prepare(const struct mapping *m, MYSQL *src,
                          const char *src_db, MYSQL *dst, const char *dst_db,
                          const struct verify_opts *o,
                          struct verify_counts **out, char *errstr,
                          size_t errstr_size)
{
        struct vctx c;
        int rc = 0;
        *out = NULL;
        verify_ctx_init(&c, m, src, src_db, dst, dst_db, o, errstr,
                        errstr_size);
        if (o && o->only_table && !mapping_has_source(m, o->only_table)) {
                snprintf(errstr, errstr_size, "verify: table %s is not mapped",
                         o->only_table);
                return FERRY_ERR_CONFIG;
        }
        struct verify_counts *vc = xcalloc(1, sizeof(*vc));
        vc->src_db = xstrdup(src_db);
        vc->dst_db = xstrdup(dst_db);
        for (const char *const *s = mapping_sources(m); !rc && *s; s++)
                if (!o || !o->only_table || !strcmp(o->only_table, *s))
                        rc = plan_source(&c, vc, *s);
        if (rc) {
                verify_counts_free(vc);
                return rc;
        }
        *out = vc;
        return 0;
}

int verify_counts_side(struct verify_counts *vc, bool target, MYSQL *my,
                       char *errstr, size_t errstr_size)
{
        struct vctx c;
        verify_ctx_init(&c, NULL, target ? NULL : my, vc->src_db,
                        target ? my : NULL, vc->dst_db, NULL, errstr,
                        errstr_size);
        int rc = verify_prepare_session(&c, my);
        for (size_t i = 0; !rc && i < vc->n; i++) {
                struct count_pair *cp = &vc->v[i];
                uint64_t n;
                if (target) {
                        rc = count(&c, my, cp->dst_sql, &cp->tn);
                        continue;
                }
                cp->sn = 0;
                for (size_t k = 0; !rc && k < cp->nsrc; k++)
                        if (!(rc = count(&c, my, cp->src_sql[k], &n)))
                                cp->sn += n;
        }
        return rc;
}

struct verify_report *verify_counts_report(const struct verify_counts *vc)
{
        struct verify_report *r = xcalloc(1, sizeof(*r));
        for (size_t i = 0; i < vc->n; i++) {
                const struct count_pair *cp = &vc->v[i];
                struct verify_entry *e =
                        verify_report_add(r, cp->source, cp->target);
                e->res.rows_source = cp->sn;
                e->res.rows_target = cp->tn;
                e->res.chunks = 1;
                json_array_append_new(
                        e->res.notes,
                        json_string("row counts only, not a checksum"));
                if (cp->sn != cp->tn) {
                        char note[96];
                        snprintf(note, sizeof(note),
                                 "row counts differ: %" PRIu64 " vs %" PRIu64,
                                 cp->sn, cp->tn);
                        json_array_append_new(e->res.notes, json_string(note));
                        e->res.chunks_differing = 1;
                        e->res.rows_differing = cp->sn > cp->tn
                                                        ? cp->sn - cp->tn
                                                        : cp->tn - cp->sn;
                }
        }
        return r;
}

static void pair_free(struct count_pair *cp)
{
        for (size_t k = 0; k < cp->nsrc; k++)
                free(cp->src_sql[k]);
        free(cp->src_sql);
        free(cp->dst_sql);
        free(cp->source);
        free(cp->target);
}

int verify_counts_limit(struct verify_counts *vc, MYSQL *src,
                        uint64_t max_rows, json_t *skipped, char *errstr,
                        size_t errstr_size)
{
        size_t kept = 0;
        int rc = 0;
        for (size_t i = 0; i < vc->n; i++) {
                struct count_pair *cp = &vc->v[i];
                char est[32] = "";
                if (!rc) {
                        struct buf q;
                        buf_init(&q);
                        buf_puts(&q, "SELECT TABLE_ROWS FROM "
                                     "information_schema.TABLES WHERE "
                                     "TABLE_SCHEMA = ");
                        db_put_quoted(src, &q, vc->src_db, strlen(vc->src_db));
                        buf_puts(&q, " AND TABLE_NAME = ");
                        db_put_quoted(src, &q, cp->source, strlen(cp->source));
                        rc = db_query_value(src, buf_cstr(&q), est,
                                            sizeof(est), errstr, errstr_size);
                        buf_free(&q);
                }
                uint64_t n = strtoull(est, NULL, 10);
                if (!rc && n > max_rows) {
                        json_array_append_new(
                                skipped,
                                json_pack("{s:s, s:s, s:I}", "source",
                                          cp->source, "target", cp->target,
                                          "rows_estimate", (json_int_t)n));
                        pair_free(cp);
                        continue;
                }
                vc->v[kept++] = *cp;
        }
        vc->n = kept; /* after an error, the rest is kept */
        return rc;
}

void verify_counts_free(struct verify_counts *vc)
{
        if (!vc)
                return;
        for (size_t i = 0; i < vc->n; i++)
                pair_free(&vc->v[i]);
        free(vc->v);
        free(vc->src_db);
        free(vc->dst_db);
        free(vc);
}

int verify_counts(const struct mapping *m, MYSQL *src, const char *src_db,
                  MYSQL *dst, const char *dst_db, const struct verify_opts *o,
                  struct verify_report **out, char *errstr, size_t errstr_size)
{
        double t0 = verify_now();
        struct verify_counts *vc = NULL;
        *out = NULL;
        int rc = verify_counts_prepare(m, src, src_db, dst, dst_db, o, &vc,
                                       errstr, errstr_size);
        if (!rc)
                rc = verify_counts_side(vc, false, src, errstr, errstr_size);
        if (!rc)
                rc = verify_counts_side(vc, true, dst, errstr, errstr_size);
        if (!rc) {
                *out = verify_counts_report(vc);
                (*out)->seconds = verify_now() - t0;
        }
        verify_counts_free(vc);
        return rc;
}
