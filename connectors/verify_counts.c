/* SPDX-License-Identifier: Apache-2.0
 * Row counts per (source, target) pair, for the cutover's write pause:
 * the rows each route sends to a target against the target's rows; see
 * verify.h.
 */
#include "common/buf.h"
#include "common/xalloc.h"
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

static int count_pair(struct vctx *c, struct verify_report *r,
                      const struct verify_table *st, const char *target)
{
        struct verify_plan *p = NULL;
        uint64_t sn = 0, tn = 0, n;
        struct buf sql;
        int rc = verify_plan_pair(c, st, target, &p);
        if (rc)
                return rc;
        buf_init(&sql);
        /* Routes into one target take disjoint rows (first match wins),
         * so their counts add up. */
        for (size_t k = 0; !rc && k < p->nroutes; k++) {
                buf_reset(&sql);
                verify_sql_count(p, c->src, VERIFY_SOURCE, k, &sql);
                if (!(rc = count(c, c->src, buf_cstr(&sql), &n)))
                        sn += n;
        }
        if (!rc) {
                buf_reset(&sql);
                verify_sql_count(p, c->dst, VERIFY_TARGET, 0, &sql);
                rc = count(c, c->dst, buf_cstr(&sql), &tn);
        }
        buf_free(&sql);
        verify_plan_free(p);
        if (rc)
                return rc;
        struct verify_entry *e = verify_report_add(r, st->name, target);
        e->res.rows_source = sn;
        e->res.rows_target = tn;
        e->res.chunks = 1;
        json_array_append_new(e->res.notes,
                              json_string("row counts only, not a checksum"));
        if (sn != tn) {
                char note[96];
                snprintf(note, sizeof(note),
                         "row counts differ: %" PRIu64 " vs %" PRIu64, sn, tn);
                json_array_append_new(e->res.notes, json_string(note));
                e->res.chunks_differing = 1;
                e->res.rows_differing = sn > tn ? sn - tn : tn - sn;
        }
        return 0;
}

static int count_source(struct vctx *c, struct verify_report *r,
                        const char *source)
{
        struct verify_table *st = NULL;
        int rc = verify_table_read(c->src, c->src_db, source, &st, c->errstr,
                                   c->errstr_size);
        for (const char *const *t = mapping_source_targets(c->m, source);
             !rc && t && *t; t++)
                rc = count_pair(c, r, st, *t);
        verify_table_free(st);
        return rc;
}

int verify_counts(const struct mapping *m, MYSQL *src, const char *src_db,
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
                        rc = count_source(&c, r, *s);
        if (rc) {
                verify_report_free(r);
                return rc;
        }
        r->seconds = verify_now() - t0;
        *out = r;
        return 0;
}
