/* SPDX-License-Identifier: Apache-2.0
 * Mapping parser and row mapper; see mapping.h and docs/mapping.md.
 * The parser refuses anything it cannot map exactly (unknown keys, wrong
 * types, unreachable routes, contradictions) with the JSON path, so that
 * a mistake stops ferry at start rather than bending rows in flight.
 */
#include "transforms/mapping.h"
#include "common/buf.h"
#include "common/xalloc.h"
#include "transforms/mapping_int.h"
#include "transforms/xform_registry.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PATH_SIZE 512

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

/* Builds a JSON path; a path past the buffer is cut, never overflows. */
static void pathf(char *out, size_t size, const char *fmt, ...)
        FERRY_PRINTF(3, 4);

static void pathf(char *out, size_t size, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(out, size, fmt, ap);
        va_end(ap);
}

static void free_route(struct route *r)
{
        json_decref(r->when);
        free(r->target);
        json_decref(r->rename);
        json_decref(r->drop);
        json_decref(r->defaults);
        json_decref(r->values);
        for (size_t i = 0; i < r->nxforms; i++) {
                free(r->xforms[i].column);
                free(r->xforms[i].from);
                free(r->xforms[i].path);
                json_decref(r->xforms[i].args);
        }
        free(r->xforms);
        free(r->path);
}

void mapping_free(struct mapping *m)
{
        if (!m)
                return;
        for (size_t t = 0; t < m->ntables; t++) {
                struct table_map *tm = &m->tables[t];
                for (size_t r = 0; r < tm->nroutes; r++)
                        free_route(&tm->routes[r]);
                free(tm->routes);
                free(tm->targets);
                free(tm->source);
                free(tm->path);
        }
        free(m->tables);
        free(m->targets);
        free(m->sources);
        free(m->file);
        free(m);
}

static bool scalar(json_t *v)
{
        return json_is_string(v) || json_is_number(v) || json_is_boolean(v) ||
               json_is_null(v);
}

/* Constants become change-event values: TINYINT(1) columns arrive as
 * integers, so true/false are stored as 1/0. */
static json_t *event_value(json_t *v)
{
        if (json_is_boolean(v))
                return json_integer(json_is_true(v));
        return json_incref(v);
}

/* A table or column name: non-empty, no NUL (jansson allows \u0000). */
static bool ident(json_t *v)
{
        return json_is_string(v) && json_string_length(v) &&
               strlen(json_string_value(v)) == json_string_length(v);
}

/* Checks that obj only has keys from allowed and more (NULL-terminated
 * lists; more may be NULL). */
static int only_keys(struct perr *pe, const char *path, json_t *obj,
                     const char *const *allowed, const char *const *more,
                     const char *what)
{
        const char *k;
        json_t *v;
        json_object_foreach(obj, k, v)
        {
                bool ok = false;
                for (const char *const *a = allowed; *a; a++)
                        if (!strcmp(*a, k))
                                ok = true;
                for (const char *const *a = more; a && *a; a++)
                        if (!strcmp(*a, k))
                                ok = true;
                if (!ok)
                        return bad(pe, path, "unknown key \"%s\"%s", k, what);
        }
        return 0;
}

static int parse_xform(struct perr *pe, const char *q, json_t *x,
                       struct route *r)
{
        static const char *const tk[] = {"column", "fn", "from", NULL};
        char p[PATH_SIZE];

        if (!json_is_object(x))
                return bad(pe, q, "must be {\"column\": ..., \"fn\": ...}");
        json_t *col = json_object_get(x, "column");
        json_t *fn = json_object_get(x, "fn");
        json_t *from = json_object_get(x, "from");
        pathf(p, sizeof(p), "%s.column", q);
        if (!ident(col))
                return bad(pe, p, "must be a column name");
        pathf(p, sizeof(p), "%s.fn", q);
        if (!json_is_string(fn))
                return bad(pe, p, "must be the name of a transform");
        const struct xform_def *d = xform_find(json_string_value(fn));
        if (!d) {
                struct buf names;
                buf_init(&names);
                for (const struct xform_def *a = xform_all(); a->name; a++) {
                        if (names.len)
                                buf_puts(&names, ", ");
                        buf_puts(&names, a->name);
                }
                bad(pe, q, "unknown transform \"%s\" (known: %s)",
                    json_string_value(fn), buf_cstr(&names));
                buf_free(&names);
                return FERRY_ERR_CONFIG;
        }
        char what[128];
        snprintf(what, sizeof(what), " for transform %s", d->name);
        if (only_keys(pe, q, x, tk, d->args, what))
                return FERRY_ERR_CONFIG;
        for (const char *const *a = d->required; a && *a; a++)
                if (!json_object_get(x, *a))
                        return bad(pe, q, "transform %s needs \"%s\"", d->name,
                                   *a);
        pathf(p, sizeof(p), "%s.from", q);
        if (from && !ident(from))
                return bad(pe, p, "must be a column name");
        char why[256];
        if (d->check && d->check(x, why, sizeof(why)))
                return bad(pe, q, "%s", why);
        r->xforms = xrealloc(r->xforms, (r->nxforms + 1) * sizeof(*r->xforms));
        struct xform_use *u = &r->xforms[r->nxforms++];
        u->column = xstrdup(json_string_value(col));
        u->from = from ? xstrdup(json_string_value(from)) : NULL;
        u->def = d;
        u->args = json_incref(x);
        u->path = xstrdup(q);
        return 0;
}

/* Parses the per-target options shared by tables and routes into r,
 * merging over what r already holds (table-level options). */
static int parse_options(struct perr *pe, const char *path, json_t *o,
                         struct route *r)
{
        char p[PATH_SIZE], q[PATH_SIZE];
        json_t *v, *x, *y;
        const char *k, *k2;
        size_t i;

        if ((v = json_object_get(o, "rename"))) {
                pathf(p, sizeof(p), "%s.rename", path);
                if (!json_is_object(v))
                        return bad(pe, p,
                                   "must be an object {\"old\": "
                                   "\"new\"}");
                json_object_foreach(v, k, x)
                {
                        pathf(q, sizeof(q), "%s.%s", p, k);
                        if (!ident(x))
                                return bad(pe, q,
                                           "the new name must be a "
                                           "non-empty string");
                        json_object_set(r->rename, k, x);
                }
        }
        if ((v = json_object_get(o, "drop"))) {
                pathf(p, sizeof(p), "%s.drop", path);
                if (!json_is_array(v))
                        return bad(pe, p,
                                   "must be an array of column "
                                   "names");
                json_array_foreach(v, i, x)
                {
                        pathf(q, sizeof(q), "%s[%zu]", p, i);
                        if (!ident(x))
                                return bad(pe, q, "must be a column name");
                        json_object_set_new(r->drop, json_string_value(x),
                                            json_true());
                }
        }
        if ((v = json_object_get(o, "defaults"))) {
                pathf(p, sizeof(p), "%s.defaults", path);
                if (!json_is_object(v))
                        return bad(pe, p,
                                   "must be an object {\"column\": "
                                   "constant}");
                json_object_foreach(v, k, x)
                {
                        pathf(q, sizeof(q), "%s.%s", p, k);
                        if (!scalar(x))
                                return bad(pe, q,
                                           "must be a constant "
                                           "(string, number, "
                                           "boolean or null)");
                        json_object_set_new(r->defaults, k, event_value(x));
                }
        }
        if ((v = json_object_get(o, "values"))) {
                pathf(p, sizeof(p), "%s.values", path);
                if (!json_is_object(v))
                        return bad(pe, p,
                                   "must be an object {\"column\": "
                                   "{\"from\": \"to\"}}");
                json_object_foreach(v, k, x)
                {
                        pathf(q, sizeof(q), "%s.%s", p, k);
                        if (!json_is_object(x) || !json_object_size(x))
                                return bad(pe, q,
                                           "must map source values to "
                                           "target values "
                                           "{\"from\": \"to\"}");
                        json_t *vm = json_object();
                        json_object_foreach(x, k2, y)
                        {
                                if (!scalar(y)) {
                                        json_decref(vm);
                                        return bad(pe, q,
                                                   "\"%s\" must map to a "
                                                   "constant (string, "
                                                   "number, boolean or "
                                                   "null)",
                                                   k2);
                                }
                                json_object_set_new(vm, k2, event_value(y));
                        }
                        json_object_set_new(r->values, k, vm);
                }
        }
        if ((v = json_object_get(o, "transforms"))) {
                pathf(p, sizeof(p), "%s.transforms", path);
                if (!json_is_array(v))
                        return bad(pe, p, "must be an array");
                json_array_foreach(v, i, x)
                {
                        pathf(q, sizeof(q), "%s[%zu]", p, i);
                        if (parse_xform(pe, q, x, r))
                                return FERRY_ERR_CONFIG;
                }
        }
        return 0;
}

/* Contradictions, checked once table and route options are merged. */
static int check_route(struct perr *pe, const char *path, const struct route *r)
{
        const char *k, *k2;
        json_t *x, *y;

        json_object_foreach(r->rename, k, x)
        {
                if (json_object_get(r->drop, k))
                        return bad(pe, path,
                                   "column \"%s\" is both renamed and "
                                   "dropped",
                                   k);
                json_object_foreach(r->rename, k2, y)
                {
                        if (strcmp(k, k2) < 0 && json_equal(x, y))
                                return bad(pe, path,
                                           "columns \"%s\" and \"%s\" are "
                                           "both renamed to \"%s\"",
                                           k, k2, json_string_value(x));
                }
        }
        json_object_foreach(r->values, k, x)
        {
                if (json_object_get(r->drop, k))
                        return bad(pe, path,
                                   "column \"%s\" has a value map but is "
                                   "dropped",
                                   k);
        }
        for (size_t i = 0; i < r->nxforms; i++)
                if (json_object_get(r->drop, r->xforms[i].column))
                        return bad(pe, r->xforms[i].path,
                                   "column \"%s\" is dropped, so the "
                                   "transform's result would be lost",
                                   r->xforms[i].column);
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
                        const struct xform_use *s = &src->xforms[i];
                        struct xform_use *d = &dst->xforms[i];
                        d->column = xstrdup(s->column);
                        d->from = s->from ? xstrdup(s->from) : NULL;
                        d->def = s->def;
                        d->args = json_incref(s->args);
                        d->path = xstrdup(s->path);
                }
                dst->nxforms = src->nxforms;
        }
}

static int parse_target(struct perr *pe, const char *path, json_t *v,
                        char **out)
{
        if (!ident(v))
                return bad(pe, path, "must be a non-empty table name");
        *out = xstrdup(json_string_value(v));
        return 0;
}

static bool value_eq(json_t *a, json_t *b)
{
        if (json_is_integer(a) && json_is_integer(b))
                return json_integer_value(a) == json_integer_value(b);
        if (json_is_number(a) && json_is_number(b))
                return json_number_value(a) == json_number_value(b);
        /* TINYINT(1) arrives as a number: let true/false match 1/0. */
        if (json_is_boolean(a) && json_is_number(b))
                return (json_is_true(a) ? 1 : 0) == json_number_value(b);
        if (json_is_number(a) && json_is_boolean(b))
                return value_eq(b, a);
        return json_equal(a, b);
}

/* @returns whether want (a value or a list) allows v. */
static bool allows(json_t *want, json_t *v)
{
        if (!json_is_array(want))
                return value_eq(want, v);
        size_t i;
        json_t *w;
        json_array_foreach(want, i, w) if (value_eq(w, v)) return true;
        return false;
}

/* @returns whether every row matching `later` also matches `earlier`, so
 * that `later` can never be reached. */
static bool shadows(json_t *earlier, json_t *later)
{
        const char *k;
        json_t *we;
        json_object_foreach(earlier, k, we)
        {
                json_t *wl = json_object_get(later, k);
                if (!wl)
                        return false;
                if (!json_is_array(wl))
                        wl = json_pack("[O]", wl);
                else
                        json_incref(wl);
                size_t i;
                json_t *x;
                bool all = true;
                json_array_foreach(wl, i, x) if (!allows(we, x)) all = false;
                json_decref(wl);
                if (!all)
                        return false;
        }
        return true;
}

static int parse_when(struct perr *pe, const char *t, json_t *when)
{
        const char *k;
        json_t *x, *y;
        size_t j;
        char p[PATH_SIZE];

        if (!json_is_object(when) || json_object_size(when) == 0)
                return bad(pe, t,
                           "must be a non-empty object "
                           "{\"column\": value or [values]}");
        json_object_foreach(when, k, x)
        {
                if (scalar(x))
                        continue;
                if (!json_is_array(x) || !json_array_size(x))
                        return bad(pe, t,
                                   "\"%s\" must be a value or a non-empty "
                                   "list of values",
                                   k);
                json_array_foreach(x, j, y)
                {
                        pathf(p, sizeof(p), "%s.%s[%zu]", t, k, j);
                        if (!scalar(y))
                                return bad(pe, p, "must be a plain value");
                }
        }
        return 0;
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

static int parse_routes(struct perr *pe, const char *path, json_t *routes,
                        const struct route *base, struct table_map *tm)
{
        static const char *const rkeys[] = {"when",       "target",   "rename",
                                            "drop",       "defaults", "values",
                                            "transforms", NULL};
        char q[PATH_SIZE], t[PATH_SIZE];
        size_t i;
        json_t *r;
        int rc;

        pathf(q, sizeof(q), "%s.routes", path);
        if (!json_is_array(routes) || json_array_size(routes) == 0)
                return bad(pe, q, "must be a non-empty array");
        tm->routes = xcalloc(json_array_size(routes), sizeof(*tm->routes));
        json_array_foreach(routes, i, r)
        {
                pathf(q, sizeof(q), "%s.routes[%zu]", path, i);
                struct route *rt = &tm->routes[tm->nroutes++];
                copy_route(rt, base);
                rt->path = xstrdup(q);
                if (!json_is_object(r))
                        return bad(pe, q, "must be an object");
                if ((rc = only_keys(pe, q, r, rkeys, NULL, "")))
                        return rc;
                pathf(t, sizeof(t), "%s.target", q);
                if ((rc = parse_target(pe, t, json_object_get(r, "target"),
                                       &rt->target)))
                        return rc;
                if ((rc = parse_options(pe, q, r, rt)) ||
                    (rc = check_route(pe, q, rt)))
                        return rc;
                json_t *when = json_object_get(r, "when");
                pathf(t, sizeof(t), "%s.when", q);
                if (when && (rc = parse_when(pe, t, when)))
                        return rc;
                rt->when = json_incref(when);
                for (size_t e = 0; e + 1 < tm->nroutes; e++) {
                        const struct route *er = &tm->routes[e];
                        if (!er->when)
                                return bad(pe, q,
                                           "can never match: "
                                           "routes[%zu] has no \"when\" "
                                           "and takes every row",
                                           e);
                        if (when && shadows(er->when, when))
                                return bad(pe, t,
                                           "can never match: every row it "
                                           "matches is taken by "
                                           "routes[%zu] first",
                                           e);
                }
        }
        return 0;
}

static int parse_table(struct perr *pe, const char *path, json_t *o,
                       struct table_map *tm)
{
        static const char *const keys[] = {"source", "target",     "routes",
                                           "rename", "drop",       "defaults",
                                           "values", "transforms", NULL};
        char p[PATH_SIZE];
        struct route base;
        int rc;

        tm->path = xstrdup(path);
        if (!json_is_object(o))
                return bad(pe, path, "must be an object");
        if (only_keys(pe, path, o, keys, NULL, ""))
                return FERRY_ERR_CONFIG;
        json_t *src = json_object_get(o, "source");
        pathf(p, sizeof(p), "%s.source", path);
        if (!ident(src))
                return bad(pe, p, "must be a non-empty table name");
        tm->source = xstrdup(json_string_value(src));

        init_route(&base);
        json_t *target = json_object_get(o, "target");
        json_t *routes = json_object_get(o, "routes");
        if ((rc = parse_options(pe, path, o, &base))) {
                /* reported */
        } else if (!!target == !!routes) {
                rc = bad(pe, path,
                         "needs exactly one of \"target\" and "
                         "\"routes\"");
        } else if (target) {
                tm->routes = xcalloc(1, sizeof(*tm->routes));
                tm->routes[0] = base;
                tm->nroutes = 1;
                tm->routes[0].path = xstrdup(path);
                pathf(p, sizeof(p), "%s.target", path);
                if (!(rc = parse_target(pe, p, target, &tm->routes[0].target)))
                        rc = check_route(pe, path, &tm->routes[0]);
                init_route(&base); /* given away */
        } else {
                rc = parse_routes(pe, path, routes, &base, tm);
        }
        free_route(&base);
        if (rc)
                return rc;
        for (size_t r = 0; r < tm->nroutes; r++)
                add_name(&tm->targets, tm->routes[r].target);
        return 0;
}

static int parse_root(struct perr *pe, json_t *root, struct mapping *m)
{
        static const char *const keys[] = {"version", "tables", NULL};
        if (!json_is_object(root))
                return bad(pe, "$", "must be an object");
        if (only_keys(pe, "$", root, keys, NULL, ""))
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
                char p[PATH_SIZE];
                pathf(p, sizeof(p), "$.tables[%zu]", i);
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
        struct perr pe = {
                .file = name, .errstr = errstr, .errstr_size = errstr_size};
        json_error_t jerr;
        *mp = NULL;
        json_t *root = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
        if (!root) {
                snprintf(errstr, errstr_size, "%s:%d:%d: invalid JSON: %s",
                         name, jerr.line, jerr.column, jerr.text);
                return FERRY_ERR_CONFIG;
        }
        struct mapping *m = xcalloc(1, sizeof(*m));
        m->file = xstrdup(name);
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
        int failed = ferror(f);
        fclose(f);
        int rc;
        if (failed) {
                snprintf(errstr, errstr_size, "%s: cannot read mapping", path);
                rc = FERRY_ERR_CONFIG;
        } else {
                rc = mapping_parse(buf_cstr(&b), path, mp, errstr, errstr_size);
        }
        buf_free(&b);
        return rc;
}

/* ---- applying ------------------------------------------------------ */

static bool route_matches(const struct route *r, json_t *row)
{
        if (!r->when)
                return true;
        const char *k;
        json_t *want;
        json_object_foreach(r->when, k, want)
        {
                json_t *have = json_object_get(row, k);
                if (!allows(want, have ? have : json_null()))
                        return false;
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

static const struct route *pick_route(const struct table_map *tm, json_t *row,
                                      const char *which, char *errstr,
                                      size_t errstr_size)
{
        for (size_t i = 0; i < tm->nroutes; i++)
                if (route_matches(&tm->routes[i], row))
                        return &tm->routes[i];
        char *s = json_dumps(row, JSON_COMPACT | JSON_PRESERVE_ORDER);
        snprintf(errstr, errstr_size,
                 "table %s: %s row matches no route of %s (add a route "
                 "without \"when\" as a fallback): %.300s",
                 tm->source, which, tm->path, s ? s : "?");
        free(s);
        return NULL;
}

/* Looks a value up in a {from: to} map: strings by themselves, integers
 * by their decimal text. @returns the replacement (borrowed) or NULL. */
static json_t *value_map(json_t *vm, json_t *val)
{
        if (json_is_string(val))
                return json_object_get(vm, json_string_value(val));
        if (json_is_integer(val)) {
                char num[32];
                snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT,
                         json_integer_value(val));
                return json_object_get(vm, num);
        }
        return NULL;
}

/* @returns the target row for src through route r (a new reference), or
 * NULL on error. Steps: value maps, transforms in order, drop and
 * rename, defaults for what is still missing. */
static json_t *map_row(const struct table_map *tm, const struct route *r,
                       json_t *src, char *errstr, size_t errstr_size)
{
        /* Value maps and transforms change a copy; without them the
         * source row is read as it is (the common, hot case). */
        bool changes = r->nxforms || json_object_size(r->values);
        json_t *work = changes ? json_copy(src) : json_incref(src);
        const char *k;
        json_t *v, *vm;

        json_object_foreach(r->values, k, vm)
        {
                json_t *to;
                if ((v = json_object_get(work, k)) && (to = value_map(vm, v)))
                        json_object_set(work, k, to);
        }
        for (size_t i = 0; i < r->nxforms; i++) {
                const struct xform_use *u = &r->xforms[i];
                const char *in = u->from ? u->from : u->column;
                char why[256];
                v = json_object_get(work, in);
                if (!v && !u->def->whole_row)
                        continue;
                json_t *nv = u->def->fn(v ? v : json_null(), work, u->args, why,
                                        sizeof(why));
                if (!nv) {
                        snprintf(errstr, errstr_size,
                                 "table %s column %s: transform %s (%s): %s",
                                 tm->source, in, u->def->name, u->path, why);
                        json_decref(work);
                        return NULL;
                }
                json_object_set_new(work, u->column, nv);
        }
        json_t *out = json_object();
        json_object_foreach(work, k, v)
        {
                if (json_object_get(r->drop, k))
                        continue;
                json_t *to = json_object_get(r->rename, k);
                json_object_set(out, to ? json_string_value(to) : k, v);
        }
        json_decref(work);
        json_object_foreach(r->defaults, k, v)
        {
                if (!json_object_get(out, k))
                        json_object_set(out, k, v);
        }
        return out;
}

/* Whether a key column's value may differ between source and target. */
static bool key_changed_by(const struct route *r, json_t *key)
{
        const char *k;
        json_t *v;
        json_object_foreach(key, k, v)
        {
                if (json_object_get(r->values, k))
                        return true;
                for (size_t i = 0; i < r->nxforms; i++)
                        if (!strcmp(r->xforms[i].column, k))
                                return true;
        }
        return false;
}

/* The target key of image through route r: the key's columns, renamed,
 * with the values the target row has. mapped may hold the mapped image
 * already. @returns a new reference or NULL with errstr. */
static json_t *target_key(const struct table_map *tm, const struct route *r,
                          json_t *key, json_t *image, json_t *mapped,
                          char *errstr, size_t errstr_size)
{
        const char *k;
        json_t *v;
        json_t *own = NULL;

        if (!mapped && key_changed_by(r, key)) {
                if (!(own = map_row(tm, r, image, errstr, errstr_size)))
                        return NULL;
                mapped = own;
        }
        json_t *out = json_object();
        json_object_foreach(key, k, v)
        {
                json_t *to = json_object_get(r->rename, k);
                const char *name = to ? json_string_value(to) : k;
                json_t *val = mapped ? json_object_get(mapped, name)
                                     : json_object_get(image, k);
                if (json_object_get(r->drop, k) || !val) {
                        snprintf(errstr, errstr_size,
                                 "table %s: primary-key column %s is %s, "
                                 "so target rows cannot be found (%s)",
                                 tm->source, k,
                                 json_object_get(r->drop, k)
                                         ? "dropped"
                                         : "missing from the row",
                                 r->path);
                        json_decref(out);
                        json_decref(own);
                        return NULL;
                }
                json_object_set(out, name, val);
        }
        json_decref(own);
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

static int apply_update(const struct table_map *tm, json_t *key, json_t *before,
                        json_t *after, struct mapping_ops *ops, char *errstr,
                        size_t errstr_size)
{
        const struct route *rb, *ra;
        json_t *row, *kb = NULL, *ka = NULL;

        if (!(rb = pick_route(tm, before, "before", errstr, errstr_size)) ||
            !(ra = pick_route(tm, after, "after", errstr, errstr_size)))
                return FERRY_ERR_DATA;
        if (!(row = map_row(tm, ra, after, errstr, errstr_size)))
                return FERRY_ERR_DATA;
        if (!(kb = target_key(tm, rb, key, before, NULL, errstr,
                              errstr_size)) ||
            !(ka = target_key(tm, ra, key, after, row, errstr, errstr_size))) {
                json_decref(kb);
                json_decref(row);
                return FERRY_ERR_DATA;
        }
        /* The row moves to another target, or its key changes: the old
         * target row must go, or it would stay behind as a copy. */
        if (strcmp(rb->target, ra->target) || !json_equal(kb, ka))
                add_op(ops, MAPPING_OP_DELETE, rb->target, json_incref(kb));
        add_op(ops, MAPPING_OP_UPSERT, ra->target, row);
        json_decref(kb);
        json_decref(ka);
        return 0;
}

int mapping_apply(const struct mapping *m, const char *source_table, char op,
                  json_t *key, json_t *before, json_t *after,
                  struct mapping_ops *ops, char *errstr, size_t errstr_size)
{
        const struct table_map *tm = find_table(m, source_table);
        const struct route *r;
        json_t *row;

        ops->n = 0;
        if (!tm)
                return 0;
        bool need_before = op == 'u' || op == 'd';
        bool need_after = op == 'u' || op == 'c' || op == 'r';
        if (!need_before && !need_after) {
                snprintf(errstr, errstr_size, "table %s: unknown op '%c'",
                         source_table, op);
                return FERRY_ERR_DATA;
        }
        if ((need_before && !json_is_object(before)) ||
            (need_after && !json_is_object(after)) ||
            (need_before && !json_is_object(key))) {
                snprintf(errstr, errstr_size, "table %s: op '%c' needs %s",
                         source_table, op,
                         need_before && !json_is_object(before)
                                 ? "the before image"
                         : need_after && !json_is_object(after)
                                 ? "the after image"
                                 : "the primary key");
                return FERRY_ERR_DATA;
        }
        switch (op) {
        case 'u':
                return apply_update(tm, key, before, after, ops, errstr,
                                    errstr_size);
        case 'd':
                if (!(r = pick_route(tm, before, "before", errstr,
                                     errstr_size)) ||
                    !(row = target_key(tm, r, key, before, NULL, errstr,
                                       errstr_size)))
                        return FERRY_ERR_DATA;
                add_op(ops, MAPPING_OP_DELETE, r->target, row);
                return 0;
        default:
                if (!(r = pick_route(tm, after, "after", errstr,
                                     errstr_size)) ||
                    !(row = map_row(tm, r, after, errstr, errstr_size)))
                        return FERRY_ERR_DATA;
                add_op(ops, MAPPING_OP_UPSERT, r->target, row);
                return 0;
        }
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

const char *const *mapping_source_targets(const struct mapping *m,
                                          const char *source_table)
{
        const struct table_map *tm = find_table(m, source_table);
        return tm ? tm->targets : NULL;
}

static bool empty_obj(const json_t *o)
{
        return !o || json_object_size(o) == 0;
}

const char *mapping_plain_target(const struct mapping *m,
                                 const char *source_table)
{
        const struct table_map *tm = find_table(m, source_table);
        if (!tm || tm->nroutes != 1)
                return NULL;
        const struct route *r = &tm->routes[0];
        if (r->when || r->nxforms || !empty_obj(r->defaults) ||
            !empty_obj(r->values))
                return NULL;
        return r->target;
}

const char *mapping_plain_column(const struct mapping *m,
                                 const char *source_table, const char *column)
{
        const struct table_map *tm = find_table(m, source_table);
        const struct route *r = &tm->routes[0];
        if (r->drop && json_object_get(r->drop, column))
                return NULL;
        const char *to =
                r->rename
                        ? json_string_value(json_object_get(r->rename, column))
                        : NULL;
        return to ? to : column;
}
