/* SPDX-License-Identifier: Apache-2.0
 * Mapping parser and row mapper; see mapping.h and docs/mapping.md.
 */
#include "transforms/mapping.h"
#include "common/buf.h"
#include "common/xalloc.h"
#include "transforms/xform_registry.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct xform_use {
        char *column;
        const struct xform_def *def;
};

/* What happens to a row on its way to one target. */
struct route {
        json_t *when;     /* NULL: fallback; else {col: value | [values]} */
        char *target;
        json_t *rename;   /* {src: dst} */
        json_t *drop;     /* {col: true} */
        json_t *defaults; /* {col: value} */
        json_t *values;   /* {col: {from: to}} */
        struct xform_use *xforms;
        size_t nxforms;
};

struct table_map {
        char *source;
        struct route *routes;
        size_t nroutes;
};

struct mapping {
        struct table_map *tables;
        size_t ntables;
        const char **targets; /* NULL-terminated, distinct */
        const char **sources;
};

struct perr {
        const char *file;
        char *errstr;
        size_t errstr_size;
        bool failed;
};

static int bad(struct perr *pe, const char *path, const char *fmt, ...)
        FERRY_PRINTF(3, 4);

static int bad(struct perr *pe, const char *path, const char *fmt, ...)
{
        if (!pe->failed) {
                char what[512];
                va_list ap;
                va_start(ap, fmt);
                vsnprintf(what, sizeof(what), fmt, ap);
                va_end(ap);
                snprintf(pe->errstr, pe->errstr_size, "%s: %s: %s", pe->file,
                         path, what);
                pe->failed = true;
        }
        return FERRY_ERR_CONFIG;
}

static void free_route(struct route *r)
{
        json_decref(r->when);
        free(r->target);
        json_decref(r->rename);
        json_decref(r->drop);
        json_decref(r->defaults);
        json_decref(r->values);
        for (size_t i = 0; i < r->nxforms; i++)
                free(r->xforms[i].column);
        free(r->xforms);
}

void mapping_free(struct mapping *m)
{
        if (!m)
                return;
        for (size_t t = 0; t < m->ntables; t++) {
                for (size_t r = 0; r < m->tables[t].nroutes; r++)
                        free_route(&m->tables[t].routes[r]);
                free(m->tables[t].routes);
                free(m->tables[t].source);
        }
        free(m->tables);
        free(m->targets);
        free(m->sources);
        free(m);
}

static bool scalar(json_t *v)
{
        return json_is_string(v) || json_is_number(v) || json_is_boolean(v) ||
               json_is_null(v);
}

/* Checks that obj only has keys from allowed (NULL-terminated). */
static int only_keys(struct perr *pe, const char *path, json_t *obj,
                     const char *const *allowed)
{
        const char *k;
        json_t *v;
        json_object_foreach(obj, k, v)
        {
                bool ok = false;
                for (const char *const *a = allowed; *a; a++)
                        if (!strcmp(*a, k))
                                ok = true;
                if (!ok)
                        return bad(pe, path, "unknown key \"%s\"", k);
        }
        return 0;
}

/* Parses the per-target options shared by tables and routes into r,
 * merging over what r already holds (table-level options). */
static int parse_options(struct perr *pe, const char *path, json_t *o,
                         struct route *r)
{
        char p[512];
        json_t *v;
        const char *k;
        json_t *x;

        if ((v = json_object_get(o, "rename"))) {
                snprintf(p, sizeof(p), "%s.rename", path);
                if (!json_is_object(v))
                        return bad(pe, p, "must be an object {\"old\": "
                                          "\"new\"}");
                json_object_foreach(v, k, x)
                {
                        if (!json_is_string(x) || !json_string_length(x))
                                return bad(pe, p,
                                           "\"%s\": new name must be a "
                                           "non-empty string",
                                           k);
                        json_object_set(r->rename, k, x);
                }
        }
        if ((v = json_object_get(o, "drop"))) {
                snprintf(p, sizeof(p), "%s.drop", path);
                if (!json_is_array(v))
                        return bad(pe, p, "must be an array of column "
                                          "names");
                size_t i;
                json_array_foreach(v, i, x)
                {
                        if (!json_is_string(x))
                                return bad(pe, p, "[%zu] must be a column "
                                                  "name", i);
                        json_object_set_new(r->drop, json_string_value(x),
                                            json_true());
                }
        }
        if ((v = json_object_get(o, "defaults"))) {
                snprintf(p, sizeof(p), "%s.defaults", path);
                if (!json_is_object(v))
                        return bad(pe, p, "must be an object {\"column\": "
                                          "constant}");
                json_object_update(r->defaults, v);
        }
        if ((v = json_object_get(o, "values"))) {
                snprintf(p, sizeof(p), "%s.values", path);
                if (!json_is_object(v))
                        return bad(pe, p, "must be an object {\"column\": "
                                          "{\"from\": \"to\"}}");
                json_object_foreach(v, k, x)
                {
                        if (!json_is_object(x))
                                return bad(pe, p,
                                           "\"%s\" must map source values "
                                           "to target values",
                                           k);
                        json_object_set(r->values, k, x);
                }
        }
        if ((v = json_object_get(o, "transforms"))) {
                snprintf(p, sizeof(p), "%s.transforms", path);
                if (!json_is_array(v))
                        return bad(pe, p, "must be an array");
                size_t i;
                json_array_foreach(v, i, x)
                {
                        char q[560];
                        snprintf(q, sizeof(q), "%s[%zu]", p, i);
                        static const char *const tk[] = {"column", "fn",
                                                         NULL};
                        if (!json_is_object(x))
                                return bad(pe, q, "must be {\"column\": ..., "
                                                  "\"fn\": ...}");
                        if (only_keys(pe, q, x, tk))
                                return FERRY_ERR_CONFIG;
                        json_t *col = json_object_get(x, "column");
                        json_t *fn = json_object_get(x, "fn");
                        if (!json_is_string(col) || !json_is_string(fn))
                                return bad(pe, q, "needs string \"column\" "
                                                  "and \"fn\"");
                        const struct xform_def *d =
                                xform_find(json_string_value(fn));
                        if (!d) {
                                struct buf names;
                                buf_init(&names);
                                for (const struct xform_def *a = xform_all();
                                     a->name; a++) {
                                        if (names.len)
                                                buf_puts(&names, ", ");
                                        buf_puts(&names, a->name);
                                }
                                bad(pe, q,
                                    "unknown transform \"%s\" (known: %s)",
                                    json_string_value(fn), buf_cstr(&names));
                                buf_free(&names);
                                return FERRY_ERR_CONFIG;
                        }
                        r->xforms = xrealloc(r->xforms, (r->nxforms + 1) *
                                                                sizeof(*r->xforms));
                        r->xforms[r->nxforms].column =
                                xstrdup(json_string_value(col));
                        r->xforms[r->nxforms++].def = d;
                }
        }
        /* A column cannot be both renamed and dropped. */
        json_object_foreach(r->rename, k, x)
        {
                if (json_object_get(r->drop, k))
                        return bad(pe, path,
                                   "column \"%s\" is both renamed and "
                                   "dropped",
                                   k);
        }
        return 0;
}

static void init_route(struct route *r)
{
        memset(r, 0, sizeof(*r));
        r->rename = json_object();
        r->drop = json_object();
        r->defaults = json_object();
        r->values = json_object();
}

static void copy_route(struct route *dst, const struct route *src)
{
        init_route(dst);
        json_object_update(dst->rename, src->rename);
        json_object_update(dst->drop, src->drop);
        json_object_update(dst->defaults, src->defaults);
        json_object_update(dst->values, src->values);
        if (src->nxforms) {
                dst->xforms = xcalloc(src->nxforms, sizeof(*dst->xforms));
                for (size_t i = 0; i < src->nxforms; i++) {
                        dst->xforms[i].column = xstrdup(src->xforms[i].column);
                        dst->xforms[i].def = src->xforms[i].def;
                }
                dst->nxforms = src->nxforms;
        }
}

static int parse_target(struct perr *pe, const char *path, json_t *v,
                        char **out)
{
        if (!json_is_string(v) || !json_string_length(v))
                return bad(pe, path, "must be a non-empty table name");
        *out = xstrdup(json_string_value(v));
        return 0;
}

static int parse_table(struct perr *pe, const char *path, json_t *o,
                       struct table_map *tm)
{
        static const char *const keys[] = {"source",   "target", "routes",
                                           "rename",   "drop",   "defaults",
                                           "values",   "transforms",
                                           NULL};
        static const char *const rkeys[] = {"when",     "target",
                                            "rename",   "drop",
                                            "defaults", "values",
                                            "transforms", NULL};
        char p[512];
        struct route base;
        int rc;

        if (!json_is_object(o))
                return bad(pe, path, "must be an object");
        if (only_keys(pe, path, o, keys))
                return FERRY_ERR_CONFIG;
        json_t *src = json_object_get(o, "source");
        snprintf(p, sizeof(p), "%s.source", path);
        if (!json_is_string(src) || !json_string_length(src))
                return bad(pe, p, "must be a non-empty table name");
        tm->source = xstrdup(json_string_value(src));

        init_route(&base);
        if ((rc = parse_options(pe, path, o, &base))) {
                free_route(&base);
                return rc;
        }
        json_t *target = json_object_get(o, "target");
        json_t *routes = json_object_get(o, "routes");
        if (!!target == !!routes) {
                free_route(&base);
                return bad(pe, path, "needs exactly one of \"target\" and "
                                     "\"routes\"");
        }
        if (target) {
                tm->routes = xcalloc(1, sizeof(*tm->routes));
                tm->routes[0] = base;
                tm->nroutes = 1;
                snprintf(p, sizeof(p), "%s.target", path);
                return parse_target(pe, p, target, &tm->routes[0].target);
        }
        snprintf(p, sizeof(p), "%s.routes", path);
        if (!json_is_array(routes) || json_array_size(routes) == 0) {
                free_route(&base);
                return bad(pe, p, "must be a non-empty array");
        }
        tm->routes = xcalloc(json_array_size(routes), sizeof(*tm->routes));
        size_t i;
        json_t *r;
        bool fallback = false;
        rc = 0;
        json_array_foreach(routes, i, r)
        {
                char q[560];
                snprintf(q, sizeof(q), "%s.routes[%zu]", path, i);
                struct route *rt = &tm->routes[tm->nroutes++];
                copy_route(rt, &base);
                if (!json_is_object(r)) {
                        rc = bad(pe, q, "must be an object");
                        break;
                }
                if ((rc = only_keys(pe, q, r, rkeys)))
                        break;
                if (fallback) {
                        rc = bad(pe, q, "can never match: an earlier route "
                                        "without \"when\" takes every row");
                        break;
                }
                char t[600];
                snprintf(t, sizeof(t), "%s.target", q);
                if ((rc = parse_target(pe, t, json_object_get(r, "target"),
                                       &rt->target)))
                        break;
                if ((rc = parse_options(pe, q, r, rt)))
                        break;
                json_t *when = json_object_get(r, "when");
                if (!when) {
                        fallback = true;
                        continue;
                }
                snprintf(t, sizeof(t), "%s.when", q);
                if (!json_is_object(when) || json_object_size(when) == 0) {
                        rc = bad(pe, t, "must be a non-empty object "
                                        "{\"column\": value or [values]}");
                        break;
                }
                const char *k;
                json_t *x;
                json_object_foreach(when, k, x)
                {
                        if (scalar(x))
                                continue;
                        size_t j;
                        json_t *y;
                        if (!json_is_array(x) || !json_array_size(x)) {
                                rc = bad(pe, t,
                                         "\"%s\" must be a value or a "
                                         "non-empty list of values",
                                         k);
                                break;
                        }
                        json_array_foreach(x, j, y) if (!scalar(y))
                        {
                                rc = bad(pe, t, "\"%s\"[%zu] must be a "
                                                "plain value",
                                         k, j);
                                break;
                        }
                        if (rc)
                                break;
                }
                if (rc)
                        break;
                rt->when = json_incref(when);
        }
        free_route(&base);
        return rc;
}

static void add_name(const char ***list, const char *name)
{
        size_t n = 0;
        for (; *list && (*list)[n]; n++)
                if (!strcmp((*list)[n], name))
                        return;
        *list = xrealloc(*list, (n + 2) * sizeof(char *));
        (*list)[n] = name;
        (*list)[n + 1] = NULL;
}

static int parse_root(struct perr *pe, json_t *root, struct mapping *m)
{
        static const char *const keys[] = {"version", "tables", NULL};
        if (!json_is_object(root))
                return bad(pe, "$", "must be an object");
        if (only_keys(pe, "$", root, keys))
                return FERRY_ERR_CONFIG;
        json_t *ver = json_object_get(root, "version");
        if (!json_is_integer(ver) || json_integer_value(ver) != 1)
                return bad(pe, "$.version", "must be 1");
        json_t *tables = json_object_get(root, "tables");
        if (!json_is_array(tables) || !json_array_size(tables))
                return bad(pe, "$.tables", "must be a non-empty array");
        m->tables = xcalloc(json_array_size(tables), sizeof(*m->tables));
        size_t i;
        json_t *t;
        json_array_foreach(tables, i, t)
        {
                char p[64];
                snprintf(p, sizeof(p), "$.tables[%zu]", i);
                struct table_map *tm = &m->tables[m->ntables++];
                if (parse_table(pe, p, t, tm))
                        return FERRY_ERR_CONFIG;
                for (size_t k = 0; k + 1 < m->ntables; k++)
                        if (!strcmp(m->tables[k].source, tm->source))
                                return bad(pe, p,
                                           "source table \"%s\" is mapped "
                                           "twice (also $.tables[%zu])",
                                           tm->source, k);
                add_name(&m->sources, tm->source);
                for (size_t r = 0; r < tm->nroutes; r++)
                        add_name(&m->targets, tm->routes[r].target);
        }
        return 0;
}

int mapping_parse(const char *text, const char *name, struct mapping **mp,
                  char *errstr, size_t errstr_size)
{
        struct perr pe = {.file = name, .errstr = errstr,
                          .errstr_size = errstr_size};
        json_error_t jerr;
        *mp = NULL;
        json_t *root = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
        if (!root) {
                snprintf(errstr, errstr_size, "%s:%d:%d: invalid JSON: %s",
                         name, jerr.line, jerr.column, jerr.text);
                return FERRY_ERR_CONFIG;
        }
        struct mapping *m = xcalloc(1, sizeof(*m));
        int rc = parse_root(&pe, root, m);
        json_decref(root);
        if (rc) {
                mapping_free(m);
                return rc;
        }
        *mp = m;
        return 0;
}

int mapping_load(const char *path, struct mapping **mp, char *errstr,
                 size_t errstr_size)
{
        FILE *f = fopen(path, "r");
        *mp = NULL;
        if (!f) {
                snprintf(errstr, errstr_size, "%s: cannot read mapping: %m",
                         path);
                return FERRY_ERR_CONFIG;
        }
        struct buf b;
        buf_init(&b);
        char chunk[8192];
        size_t n;
        while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
                buf_append(&b, chunk, n);
        fclose(f);
        int rc = mapping_parse(buf_cstr(&b), path, mp, errstr, errstr_size);
        buf_free(&b);
        return rc;
}

/* ---- applying ------------------------------------------------------ */

static bool value_eq(json_t *a, json_t *b)
{
        if (json_is_number(a) && json_is_number(b))
                return json_number_value(a) == json_number_value(b);
        /* TINYINT(1) arrives as a number: let true/false match 1/0. */
        if (json_is_boolean(a) && json_is_number(b))
                return (json_is_true(a) ? 1 : 0) == json_number_value(b);
        if (json_is_number(a) && json_is_boolean(b))
                return value_eq(b, a);
        return json_equal(a, b);
}

static bool route_matches(const struct route *r, json_t *row)
{
        if (!r->when)
                return true;
        const char *k;
        json_t *want;
        json_object_foreach(r->when, k, want)
        {
                json_t *have = json_object_get(row, k);
                if (!have)
                        have = json_null();
                if (json_is_array(want)) {
                        bool any = false;
                        size_t i;
                        json_t *w;
                        json_array_foreach(want, i, w) if (value_eq(w, have))
                                any = true;
                        if (!any)
                                return false;
                } else if (!value_eq(want, have)) {
                        return false;
                }
        }
        return true;
}

static const struct table_map *find_table(const struct mapping *m,
                                          const char *source)
{
        for (size_t i = 0; i < m->ntables; i++)
                if (!strcmp(m->tables[i].source, source))
                        return &m->tables[i];
        return NULL;
}

static const struct route *pick_route(const struct table_map *tm,
                                      json_t *row, char *errstr,
                                      size_t errstr_size)
{
        for (size_t i = 0; i < tm->nroutes; i++)
                if (route_matches(&tm->routes[i], row))
                        return &tm->routes[i];
        char *s = json_dumps(row, JSON_COMPACT | JSON_PRESERVE_ORDER);
        snprintf(errstr, errstr_size,
                 "table %s: row matches no route (add a route without "
                 "\"when\" as a fallback): %.300s",
                 tm->source, s ? s : "?");
        free(s);
        return NULL;
}

/* @returns the target row for src through route r, or NULL on error. */
static json_t *map_row(const struct table_map *tm, const struct route *r,
                       json_t *src, char *errstr, size_t errstr_size)
{
        json_t *out = json_object();
        const char *k;
        json_t *v;
        json_object_foreach(src, k, v)
        {
                if (json_object_get(r->drop, k))
                        continue;
                json_t *val = json_incref(v);
                json_t *vm = json_object_get(r->values, k);
                if (vm && json_is_string(val)) {
                        json_t *to = json_object_get(vm, json_string_value(val));
                        if (to) {
                                json_decref(val);
                                val = json_incref(to);
                        }
                } else if (vm && json_is_integer(val)) {
                        char num[32];
                        snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT,
                                 json_integer_value(val));
                        json_t *to = json_object_get(vm, num);
                        if (to) {
                                json_decref(val);
                                val = json_incref(to);
                        }
                }
                for (size_t i = 0; i < r->nxforms; i++) {
                        if (strcmp(r->xforms[i].column, k))
                                continue;
                        char why[256];
                        json_t *nv = r->xforms[i].def->fn(val, why,
                                                          sizeof(why));
                        json_decref(val);
                        if (!nv) {
                                snprintf(errstr, errstr_size,
                                         "table %s column %s: transform %s: "
                                         "%s",
                                         tm->source, k, r->xforms[i].def->name,
                                         why);
                                json_decref(out);
                                return NULL;
                        }
                        val = nv;
                }
                json_t *to = json_object_get(r->rename, k);
                json_object_set_new(out, to ? json_string_value(to) : k, val);
        }
        json_object_foreach(r->defaults, k, v)
        {
                if (!json_object_get(out, k))
                        json_object_set(out, k, v);
        }
        return out;
}

static json_t *map_key(const struct table_map *tm, const struct route *r,
                       json_t *key, char *errstr, size_t errstr_size)
{
        json_t *out = json_object();
        const char *k;
        json_t *v;
        json_object_foreach(key, k, v)
        {
                if (json_object_get(r->drop, k)) {
                        snprintf(errstr, errstr_size,
                                 "table %s: primary-key column %s is "
                                 "dropped, so target rows cannot be found",
                                 tm->source, k);
                        json_decref(out);
                        return NULL;
                }
                json_t *to = json_object_get(r->rename, k);
                json_object_set(out, to ? json_string_value(to) : k, v);
        }
        return out;
}

void mapping_ops_init(struct mapping_ops *ops)
{
        ops->n = 0;
}

void mapping_ops_clear(struct mapping_ops *ops)
{
        for (size_t i = 0; i < ops->n; i++)
                json_decref(ops->v[i].row);
        ops->n = 0;
}

static void add_op(struct mapping_ops *ops, enum mapping_op_kind kind,
                   const char *table, json_t *row)
{
        ops->v[ops->n].kind = kind;
        ops->v[ops->n].table = table;
        ops->v[ops->n].row = row;
        ops->n++;
}

int mapping_apply(const struct mapping *m, const char *source_table, char op,
                  json_t *key, json_t *before, json_t *after,
                  struct mapping_ops *ops, char *errstr, size_t errstr_size)
{
        const struct table_map *tm = find_table(m, source_table);
        const struct route *rb = NULL, *ra = NULL;
        json_t *row;

        ops->n = 0;
        if (!tm)
                return 0;
        if (before && !(rb = pick_route(tm, before, errstr, errstr_size)))
                return FERRY_ERR_DATA;
        if (after && !(ra = pick_route(tm, after, errstr, errstr_size)))
                return FERRY_ERR_DATA;

        if (op == 'u' && rb && ra && rb != ra &&
            strcmp(rb->target, ra->target)) {
                /* The row moves between targets. */
                if (!(row = map_key(tm, rb, key, errstr, errstr_size)))
                        return FERRY_ERR_DATA;
                add_op(ops, MAPPING_OP_DELETE, rb->target, row);
        }
        if (ra) {
                if (!(row = map_row(tm, ra, after, errstr, errstr_size))) {
                        mapping_ops_clear(ops);
                        return FERRY_ERR_DATA;
                }
                add_op(ops, MAPPING_OP_UPSERT, ra->target, row);
        } else if (rb) {
                if (!(row = map_key(tm, rb, key, errstr, errstr_size)))
                        return FERRY_ERR_DATA;
                add_op(ops, MAPPING_OP_DELETE, rb->target, row);
        }
        return 0;
}

int mapping_has_source(const struct mapping *m, const char *source_table)
{
        return find_table(m, source_table) != NULL;
}

const char *const *mapping_targets(const struct mapping *m)
{
        return m->targets;
}

const char *const *mapping_sources(const struct mapping *m)
{
        return m->sources;
}
