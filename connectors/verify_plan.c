/* SPDX-License-Identifier: Apache-2.0
 * Builds the checksum SQL of one (source, target) pair from the mapping;
 * see verify_plan.h. This is the one module outside transforms/ that
 * reads the parsed mapping's routes (mapping_int.h): it must turn each
 * route's options into SQL, which the mapper's public API does not
 * expose. Every identifier goes through db_put_ident and every value
 * through db_put_quoted or a formatted number, so hostile names and
 * values stay inside their quotes.
 */
#include "connectors/verify_plan.h"
#include "common/xalloc.h"
#include "connectors/db_conn.h"
#include "transforms/mapping_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- keys ------------------------------------------------------------ */

void verify_key_free(struct verify_key *k)
{
        if (!k)
                return;
        for (size_t i = 0; i < k->n; i++)
                free(k->v[i]);
        free(k->v);
        free(k->len);
        free(k);
}

struct verify_key *verify_key_from_row(MYSQL_ROW row, unsigned long *len,
                                       size_t n)
{
        struct verify_key *k = xcalloc(1, sizeof(*k));
        k->n = n;
        k->v = xcalloc(n, sizeof(*k->v));
        k->len = xcalloc(n, sizeof(*k->len));
        for (size_t i = 0; i < n; i++) {
                if (!row[i])
                        continue;
                /* +1: a NUL after binary-safe data, for text callers */
                k->v[i] = xmalloc(len[i] + 1);
                memcpy(k->v[i], row[i], len[i]);
                k->v[i][len[i]] = '\0';
                k->len[i] = len[i];
        }
        return k;
}

struct verify_key *verify_key_dup(const struct verify_key *k)
{
        if (!k)
                return NULL;
        return verify_key_from_row(k->v, (unsigned long *)k->len, k->n);
}

/* ---- SQL fragments --------------------------------------------------- */

static char *ident_dup(const char *name)
{
        struct buf b;
        buf_init(&b);
        db_put_ident(&b, name);
        return buf_steal(&b);
}

/* A mapping constant as an SQL literal. Booleans were turned into 1/0
 * by the parser already; they are handled anyway for safety. */
static void put_json_lit(MYSQL *q, struct buf *b, json_t *v)
{
        if (json_is_string(v))
                db_put_quoted(q, b, json_string_value(v),
                              json_string_length(v));
        else if (json_is_integer(v))
                buf_printf(b, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        else if (json_is_real(v))
                buf_printf(b, "%.17g", json_real_value(v));
        else if (json_is_true(v))
                buf_puts(b, "1");
        else if (json_is_false(v))
                buf_puts(b, "0");
        else
                buf_puts(b, "NULL");
}

/* The bytes of a value's text form, the way change events carry it:
 * exact, so that 'PAID' does not match 'paid' under a _ci collation as
 * the mapper (which compares bytes) would not either. */
static void put_text_bin(struct buf *b, const char *expr,
                         enum verify_family fam)
{
        if (fam == VERIFY_STR)
                buf_printf(b, "CAST(CONVERT(%s USING utf8mb4) AS BINARY)",
                           expr);
        else
                buf_printf(b, "CAST(%s AS BINARY)", expr);
}

/* One `when` value against a column, never NULL-valued (so that NOT of
 * a predicate is exact): the SQL of mapping.c's value_eq on an event
 * value of that column. Integers and floats arrive as numbers, DECIMAL,
 * strings and times as strings, NULL as null. */
static void put_eq(MYSQL *q, struct buf *b, const struct verify_table *src,
                   const char *col, json_t *v)
{
        int i = verify_table_find(src, col);
        if (i < 0) {
                /* A column the row lacks reads as NULL in the mapper. */
                buf_puts(b, json_is_null(v) ? "TRUE" : "FALSE");
                return;
        }
        enum verify_family fam = verify_type_family(src->cols[i].type);
        bool numeric = fam == VERIFY_INT || fam == VERIFY_FLOAT;
        char *id = ident_dup(col);
        if (json_is_null(v)) {
                buf_printf(b, "%s IS NULL", id);
        } else if (json_is_string(v)) {
                if (numeric) {
                        buf_puts(b, "FALSE");
                } else {
                        put_text_bin(b, id, fam);
                        buf_puts(b, " <=> CAST(");
                        put_json_lit(q, b, v);
                        buf_puts(b, " AS BINARY)");
                }
        } else if (numeric) {
                buf_printf(b, "%s <=> ", id);
                put_json_lit(q, b, v);
        } else {
                buf_puts(b, "FALSE");
        }
        free(id);
}

static void put_when(MYSQL *q, struct buf *b, const struct verify_table *src,
                     json_t *when)
{
        const char *k;
        json_t *want;
        bool first = true;
        buf_putc(b, '(');
        json_object_foreach(when, k, want)
        {
                if (!first)
                        buf_puts(b, " AND ");
                first = false;
                if (!json_is_array(want)) {
                        put_eq(q, b, src, k, want);
                        continue;
                }
                size_t i;
                json_t *v;
                buf_putc(b, '(');
                json_array_foreach(want, i, v)
                {
                        if (i)
                                buf_puts(b, " OR ");
                        put_eq(q, b, src, k, v);
                }
                buf_putc(b, ')');
        }
        buf_putc(b, ')');
}

/* Routes are tried in order, so route k takes the rows its `when`
 * matches and no earlier route's does. @returns NULL for all rows. */
static char *route_where(MYSQL *q, const struct table_map *tm, size_t k,
                         const struct verify_table *src)
{
        const struct route *r = &tm->routes[k];
        if (!r->when && k == 0)
                return NULL;
        struct buf b;
        buf_init(&b);
        if (r->when)
                put_when(q, &b, src, r->when);
        if (k > 0) {
                buf_puts(&b, r->when ? " AND NOT (" : "NOT (");
                for (size_t e = 0; e < k; e++) {
                        if (e)
                                buf_puts(&b, " OR ");
                        put_when(q, &b, src, tm->routes[e].when);
                }
                buf_putc(&b, ')');
        }
        return buf_steal(&b);
}

/* The target name of source column s in route r. */
static const char *renamed(const struct route *r, const char *s)
{
        json_t *to = json_object_get(r->rename, s);
        return to ? json_string_value(to) : s;
}

/* The source column feeding target column t in route r, or -1. */
static int feeder(const struct route *r, const struct verify_table *src,
                  const char *t)
{
        for (size_t i = 0; i < src->ncols; i++) {
                const char *s = src->cols[i].name;
                if (!json_object_get(r->drop, s) && !strcmp(renamed(r, s), t))
                        return (int)i;
        }
        return -1;
}

/* Source column s as the target receives it: through its value map if
 * it has one. Floats are never mapped (the mapper looks up strings and
 * integers only). */
static void put_mapped_col(MYSQL *q, struct buf *b, const struct route *r,
                           const struct verify_column *c)
{
        json_t *vm = json_object_get(r->values, c->name);
        enum verify_family fam = verify_type_family(c->type);
        char *id = ident_dup(c->name);
        if (!vm || fam == VERIFY_FLOAT) {
                buf_puts(b, id);
                free(id);
                return;
        }
        const char *from;
        json_t *to;
        buf_puts(b, "CASE ");
        put_text_bin(b, id, fam);
        json_object_foreach(vm, from, to)
        {
                buf_puts(b, " WHEN CAST(");
                db_put_quoted(q, b, from, strlen(from));
                buf_puts(b, " AS BINARY) THEN ");
                put_json_lit(q, b, to);
        }
        buf_printf(b, " ELSE %s END", id);
        free(id);
}

/* The source-side expression of target column dc in route r: the
 * feeding column (mapped), else the constant default, cast to the
 * target's type where the server's conversion on insert changes the
 * text form ("0" into DECIMAL(10,2) reads back "0.00"). */
static void put_source_expr(MYSQL *q, struct buf *b, const struct route *r,
                            const struct verify_table *src,
                            const struct verify_column *dc)
{
        char cast[64];
        bool castable = !verify_type_cast(dc->type, cast, sizeof(cast));
        int s = feeder(r, src, dc->name);
        struct buf e;
        bool need_cast;

        buf_init(&e);
        if (s >= 0) {
                const struct verify_column *sc = &src->cols[s];
                put_mapped_col(q, &e, r, sc);
                need_cast = castable && (json_object_get(r->values, sc->name) ||
                                         strcmp(sc->type, dc->type));
        } else {
                put_json_lit(q, &e, json_object_get(r->defaults, dc->name));
                need_cast = castable;
        }
        if (need_cast)
                buf_printf(b, "CAST(%s AS %s)", buf_cstr(&e), cast);
        else
                buf_puts(b, buf_cstr(&e));
        buf_free(&e);
}

/* CRC32 of the row: the columns' text forms joined by '#', then one
 * ISNULL flag per column, because CONCAT_WS skips NULLs and NULL must
 * not equal ''. Strings are converted to utf8mb4 first so that both
 * servers hash the same bytes whatever the column's character set or
 * collation (and mixed collations cannot fail the CONCAT_WS). */
static char *crc_expr(char **exprs, enum verify_family *fams, size_t n)
{
        struct buf b;
        buf_init(&b);
        buf_puts(&b, "CRC32(CONCAT_WS('#'");
        for (size_t i = 0; i < n; i++) {
                if (fams[i] == VERIFY_STR)
                        buf_printf(&b, ", CONVERT(%s USING utf8mb4)", exprs[i]);
                else
                        buf_printf(&b, ", %s", exprs[i]);
        }
        buf_puts(&b, ", CONCAT(''");
        for (size_t i = 0; i < n; i++)
                buf_printf(&b, ", ISNULL(%s)", exprs[i]);
        buf_puts(&b, ")))");
        return buf_steal(&b);
}

/* ---- planning -------------------------------------------------------- */

static void unverified(json_t *set, const char *col, const char *reason)
{
        if (!json_object_get(set, col))
                json_object_set_new(set, col, json_string(reason));
}

static const struct table_map *find_tm(const struct mapping *m,
                                       const char *source)
{
        for (size_t i = 0; i < m->ntables; i++)
                if (!strcmp(m->tables[i].source, source))
                        return &m->tables[i];
        return NULL;
}

void verify_plan_free(struct verify_plan *p)
{
        if (!p)
                return;
        for (size_t i = 0; i < p->npk; i++) {
                free(p->src_pk[i]);
                free(p->dst_pk[i]);
        }
        for (size_t r = 0; r < p->nroutes; r++) {
                free(p->routes[r].where);
                free(p->routes[r].crc);
                for (size_t i = 0; i < p->npk && p->routes[r].keys; i++)
                        free(p->routes[r].keys[i]);
                free(p->routes[r].keys);
        }
        free(p->routes);
        free(p->src_pk);
        free(p->dst_pk);
        free(p->pk_numeric);
        free(p->pk_binary);
        free(p->dst_crc);
        free(p->src_from);
        free(p->dst_from);
        free(p->source);
        free(p->target);
        json_decref(p->unverified);
        json_decref(p->notes);
        json_decref(p->key_names);
        free(p);
}

static char *qualified(const char *db, const char *table)
{
        struct buf b;
        buf_init(&b);
        db_put_ident(&b, db);
        buf_putc(&b, '.');
        db_put_ident(&b, table);
        return buf_steal(&b);
}

/* Which target columns cannot be checked in SQL, and whether the key
 * can be ranged and paired: pass one over every route into target. */
static int scan_routes(struct verify_plan *p, const struct table_map *tm,
                       const struct route *first,
                       const struct verify_table *src,
                       const struct verify_table *dst, json_t *unv,
                       char *errstr, size_t errstr_size)
{
        for (size_t k = 0; k < tm->nroutes; k++) {
                const struct route *r = &tm->routes[k];
                if (strcmp(r->target, p->target))
                        continue;
                for (size_t x = 0; x < r->nxforms; x++) {
                        char why[256];
                        snprintf(why, sizeof(why),
                                 "computed by transform %s (%s)",
                                 r->xforms[x].def->name, r->xforms[x].path);
                        unverified(unv, renamed(r, r->xforms[x].column), why);
                }
                for (size_t c = 0; c < dst->ncols; c++) {
                        const char *t = dst->cols[c].name;
                        if (feeder(r, src, t) < 0 &&
                            !json_object_get(r->defaults, t))
                                unverified(unv, t,
                                           "not fed by the mapping (the "
                                           "target fills it)");
                }
                for (size_t i = 0; i < src->npk; i++) {
                        const char *s = src->cols[src->pk[i]].name;
                        if (json_object_get(r->drop, s)) {
                                snprintf(errstr, errstr_size,
                                         "%s -> %s: primary-key column %s "
                                         "is dropped (%s)",
                                         p->source, p->target, s, r->path);
                                return FERRY_ERR_CONFIG;
                        }
                        for (size_t x = 0; x < r->nxforms; x++)
                                if (!strcmp(r->xforms[x].column, s))
                                        p->keys_unknown = true;
                        if (json_object_get(r->values, s))
                                p->whole_table = true;
                        if (strcmp(renamed(r, s), renamed(first, s))) {
                                snprintf(errstr, errstr_size,
                                         "%s -> %s: routes rename key "
                                         "column %s differently",
                                         p->source, p->target, s);
                                return FERRY_ERR_CONFIG;
                        }
                }
        }
        if (p->keys_unknown)
                p->whole_table = true;
        return 0;
}

static void build_route(struct verify_plan *p, MYSQL *q,
                        const struct table_map *tm, size_t k,
                        const struct verify_table *src,
                        const struct verify_table *dst, json_t *unv)
{
        const struct route *r = &tm->routes[k];
        struct verify_route_sql *rs = &p->routes[p->nroutes++];
        char **exprs = xcalloc(dst->ncols, sizeof(char *));
        enum verify_family *fams = xcalloc(dst->ncols, sizeof(*fams));
        size_t n = 0;

        for (size_t c = 0; c < dst->ncols; c++) {
                if (json_object_get(unv, dst->cols[c].name))
                        continue;
                struct buf b;
                buf_init(&b);
                put_source_expr(q, &b, r, src, &dst->cols[c]);
                fams[n] = verify_type_family(dst->cols[c].type);
                exprs[n++] = buf_steal(&b);
        }
        rs->crc = crc_expr(exprs, fams, n);
        rs->where = route_where(q, tm, k, src);
        rs->keys = xcalloc(p->npk, sizeof(char *));
        for (size_t i = 0; i < p->npk; i++) {
                struct buf b;
                buf_init(&b);
                put_mapped_col(q, &b, r, &src->cols[src->pk[i]]);
                rs->keys[i] = buf_steal(&b);
        }
        for (size_t i = 0; i < n; i++)
                free(exprs[i]);
        free(exprs);
        free(fams);
}

static void build_target(struct verify_plan *p, const struct verify_table *dst,
                         json_t *unv)
{
        char **exprs = xcalloc(dst->ncols, sizeof(char *));
        enum verify_family *fams = xcalloc(dst->ncols, sizeof(*fams));
        size_t n = 0;
        for (size_t c = 0; c < dst->ncols; c++) {
                if (json_object_get(unv, dst->cols[c].name))
                        continue;
                fams[n] = verify_type_family(dst->cols[c].type);
                exprs[n++] = ident_dup(dst->cols[c].name);
        }
        p->dst_crc = crc_expr(exprs, fams, n);
        for (size_t i = 0; i < n; i++)
                free(exprs[i]);
        free(exprs);
        free(fams);
}

int verify_plan_new(const struct mapping *m, const char *source,
                    const char *target, const struct verify_table *src,
                    const char *src_db, const struct verify_table *dst,
                    const char *dst_db, MYSQL *q, struct verify_plan **out,
                    char *errstr, size_t errstr_size)
{
        const struct table_map *tm = find_tm(m, source);
        const struct route *first = NULL;

        *out = NULL;
        for (size_t k = 0; tm && k < tm->nroutes && !first; k++)
                if (!strcmp(tm->routes[k].target, target))
                        first = &tm->routes[k];
        if (!first) {
                snprintf(errstr, errstr_size,
                         "the mapping does not feed %s from %s", target,
                         source);
                return FERRY_ERR_CONFIG;
        }
        if (!src->npk) {
                snprintf(errstr, errstr_size,
                         "%s has no primary key: ferry cannot verify it",
                         source);
                return FERRY_ERR_CONFIG;
        }
        struct verify_plan *p = xcalloc(1, sizeof(*p));
        p->source = xstrdup(source);
        p->target = xstrdup(target);
        p->src_from = qualified(src_db, source);
        p->dst_from = qualified(dst_db, target);
        p->unverified = json_array();
        p->notes = json_array();
        p->key_names = json_array();
        p->npk = src->npk;
        p->src_pk = xcalloc(p->npk, sizeof(char *));
        p->dst_pk = xcalloc(p->npk, sizeof(char *));
        p->pk_numeric = xcalloc(p->npk, sizeof(bool));
        p->pk_binary = xcalloc(p->npk, sizeof(bool));
        p->routes = xcalloc(tm->nroutes, sizeof(*p->routes));

        json_t *unv = json_object();
        int rc = scan_routes(p, tm, first, src, dst, unv, errstr, errstr_size);
        for (size_t i = 0; !rc && i < p->npk; i++) {
                const struct verify_column *c = &src->cols[src->pk[i]];
                enum verify_family f = verify_type_family(c->type);
                const char *tn = renamed(first, c->name);
                p->src_pk[i] = ident_dup(c->name);
                p->dst_pk[i] = ident_dup(tn);
                p->pk_numeric[i] =
                        f == VERIFY_INT || f == VERIFY_DEC || f == VERIFY_FLOAT;
                p->pk_binary[i] = f == VERIFY_BIN;
                json_array_append_new(p->key_names, json_string(c->name));
                if (verify_table_find(dst, tn) < 0) {
                        snprintf(errstr, errstr_size,
                                 "%s -> %s: the target lacks key column %s",
                                 source, target, tn);
                        rc = FERRY_ERR_CONFIG;
                }
        }
        if (rc) {
                json_decref(unv);
                verify_plan_free(p);
                return rc;
        }
        const char *k;
        json_t *why;
        json_object_foreach(unv, k, why)
        {
                json_array_append_new(
                        p->unverified,
                        json_pack("{s:s, s:O}", "column", k, "reason", why));
        }
        for (size_t r = 0; r < tm->nroutes; r++)
                if (!strcmp(tm->routes[r].target, target))
                        build_route(p, q, tm, r, src, dst, unv);
        build_target(p, dst, unv);
        json_decref(unv);
        if (p->keys_unknown)
                json_array_append_new(
                        p->notes,
                        json_string("a primary-key column goes through a C "
                                    "transform: checked as one chunk, "
                                    "differing rows counted but their keys "
                                    "cannot be paired"));
        else if (p->whole_table)
                json_array_append_new(
                        p->notes,
                        json_string("a primary-key column goes through a "
                                    "value map: target key ranges cannot "
                                    "be derived, checked as one chunk"));
        *out = p;
        return 0;
}

/* ---- statements ------------------------------------------------------ */

/* A plain decimal number: [+-]digits[.digits][e[+-]digits]. Stricter
 * than "only digits and signs", because an unquoted "1-2" would be an
 * expression: key values may come from change events, not only from the
 * server. */
static bool looks_numeric(const char *s, unsigned long n)
{
        unsigned long i = 0, d = 0;
        if (i < n && (s[i] == '+' || s[i] == '-'))
                i++;
        for (; i < n && s[i] >= '0' && s[i] <= '9'; i++)
                d++;
        if (i < n && s[i] == '.')
                for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++)
                        d++;
        if (!d)
                return false;
        if (i < n && (s[i] == 'e' || s[i] == 'E')) {
                i++;
                if (i < n && (s[i] == '+' || s[i] == '-'))
                        i++;
                if (i == n || s[i] < '0' || s[i] > '9')
                        return false;
                while (i < n && s[i] >= '0' && s[i] <= '9')
                        i++;
        }
        return i == n;
}

/* A key value as a literal: numbers unquoted, because comparing an
 * integer column with a string converts through DOUBLE and loses
 * BIGINT precision; binary values as X'hex', so that bytes that are not
 * valid in the connection's character set arrive unchanged. */
static void put_key_lit(const struct verify_plan *p, MYSQL *q, struct buf *b,
                        const struct verify_key *k, size_t i)
{
        if (p->pk_numeric[i] && looks_numeric(k->v[i], k->len[i])) {
                buf_append(b, k->v[i], k->len[i]);
        } else if (p->pk_binary[i]) {
                buf_puts(b, "X'");
                for (unsigned long j = 0; j < k->len[i]; j++)
                        buf_printf(b, "%02x", (unsigned char)k->v[i][j]);
                buf_putc(b, '\'');
        } else {
                db_put_quoted(q, b, k->v[i] ? k->v[i] : "", k->len[i]);
        }
}

/* Lexicographic (cols) > k, or (cols) <= k, spelled out column by
 * column: both servers turn this into one index range. */
static void put_cmp(const struct verify_plan *p, MYSQL *q, struct buf *b,
                    char **cols, const struct verify_key *k, size_t i,
                    bool greater)
{
        const char *strict = greater ? " > " : " < ";
        if (i + 1 == p->npk) {
                buf_printf(b, "%s%s", cols[i], greater ? " > " : " <= ");
                put_key_lit(p, q, b, k, i);
                return;
        }
        buf_printf(b, "(%s%s", cols[i], strict);
        put_key_lit(p, q, b, k, i);
        buf_printf(b, " OR (%s = ", cols[i]);
        put_key_lit(p, q, b, k, i);
        buf_puts(b, " AND ");
        put_cmp(p, q, b, cols, k, i + 1, greater);
        buf_puts(b, "))");
}

static void put_conds(const struct verify_plan *p, MYSQL *q, struct buf *b,
                      enum verify_side side, size_t route,
                      const struct verify_key *lo, const struct verify_key *hi)
{
        char **cols = side == VERIFY_SOURCE ? p->src_pk : p->dst_pk;
        const char *where =
                side == VERIFY_SOURCE ? p->routes[route].where : NULL;
        const char *sep = " WHERE ";
        if (!p->whole_table && lo) {
                buf_puts(b, sep);
                buf_putc(b, '(');
                put_cmp(p, q, b, cols, lo, 0, true);
                buf_putc(b, ')');
                sep = " AND ";
        }
        if (!p->whole_table && hi) {
                buf_puts(b, sep);
                buf_putc(b, '(');
                put_cmp(p, q, b, cols, hi, 0, false);
                buf_putc(b, ')');
                sep = " AND ";
        }
        if (where)
                buf_printf(b, "%s(%s)", sep, where);
}

void verify_sql_checksum(const struct verify_plan *p, MYSQL *q,
                         enum verify_side side, size_t route,
                         const struct verify_key *lo,
                         const struct verify_key *hi, struct buf *out)
{
        const char *crc =
                side == VERIFY_SOURCE ? p->routes[route].crc : p->dst_crc;
        buf_printf(out,
                   "SELECT COUNT(*), COALESCE(BIT_XOR(CAST(%s AS UNSIGNED)), "
                   "0) FROM %s",
                   crc, side == VERIFY_SOURCE ? p->src_from : p->dst_from);
        put_conds(p, q, out, side, route, lo, hi);
}

void verify_sql_rows(const struct verify_plan *p, MYSQL *q,
                     enum verify_side side, size_t route,
                     const struct verify_key *lo, const struct verify_key *hi,
                     struct buf *out)
{
        char **keys = side == VERIFY_SOURCE ? p->routes[route].keys : p->dst_pk;
        buf_puts(out, "SELECT ");
        for (size_t i = 0; i < p->npk; i++)
                buf_printf(out, "%s, ", keys[i]);
        buf_printf(out, "%s FROM %s",
                   side == VERIFY_SOURCE ? p->routes[route].crc : p->dst_crc,
                   side == VERIFY_SOURCE ? p->src_from : p->dst_from);
        put_conds(p, q, out, side, route, lo, hi);
}

void verify_sql_bound(const struct verify_plan *p, MYSQL *q,
                      const struct verify_key *lo, size_t n, struct buf *out)
{
        buf_puts(out, "SELECT ");
        for (size_t i = 0; i < p->npk; i++)
                buf_printf(out, "%s%s", i ? ", " : "", p->src_pk[i]);
        buf_printf(out, " FROM %s", p->src_from);
        if (lo) {
                buf_puts(out, " WHERE ");
                put_cmp(p, q, out, p->src_pk, lo, 0, true);
        }
        buf_puts(out, " ORDER BY ");
        for (size_t i = 0; i < p->npk; i++)
                buf_printf(out, "%s%s", i ? ", " : "", p->src_pk[i]);
        buf_printf(out, " LIMIT 1 OFFSET %zu", n ? n - 1 : 0);
}

void verify_sql_rows_in(const struct verify_plan *p, MYSQL *q,
                        enum verify_side side, size_t route,
                        struct verify_key *const *keys, size_t n,
                        struct buf *out)
{
        char **sel = side == VERIFY_SOURCE ? p->routes[route].keys : p->dst_pk;
        char **cols = side == VERIFY_SOURCE ? p->src_pk : p->dst_pk;
        const char *where =
                side == VERIFY_SOURCE ? p->routes[route].where : NULL;
        bool row = p->npk > 1;

        buf_puts(out, "SELECT ");
        for (size_t i = 0; i < p->npk; i++)
                buf_printf(out, "%s, ", sel[i]);
        buf_printf(out, "%s FROM %s WHERE ",
                   side == VERIFY_SOURCE ? p->routes[route].crc : p->dst_crc,
                   side == VERIFY_SOURCE ? p->src_from : p->dst_from);
        if (!n) {
                /* IN () is a syntax error; no keys select no rows. */
                buf_puts(out, "FALSE");
                return;
        }
        if (row)
                buf_putc(out, '(');
        for (size_t i = 0; i < p->npk; i++)
                buf_printf(out, "%s%s", i ? ", " : "", cols[i]);
        buf_puts(out, row ? ") IN (" : " IN (");
        for (size_t k = 0; k < n; k++) {
                buf_puts(out, k ? ", " : "");
                if (row)
                        buf_putc(out, '(');
                for (size_t i = 0; i < p->npk; i++) {
                        buf_puts(out, i ? ", " : "");
                        put_key_lit(p, q, out, keys[k], i);
                }
                if (row)
                        buf_putc(out, ')');
        }
        buf_putc(out, ')');
        if (where)
                buf_printf(out, " AND (%s)", where);
}

void verify_sql_count(const struct verify_plan *p, MYSQL *q,
                      enum verify_side side, size_t route, struct buf *out)
{
        buf_printf(out, "SELECT COUNT(*) FROM %s",
                   side == VERIFY_SOURCE ? p->src_from : p->dst_from);
        put_conds(p, q, out, side, route, NULL, NULL);
}
