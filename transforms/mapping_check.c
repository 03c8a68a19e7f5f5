/* SPDX-License-Identifier: Apache-2.0
 * Checks a parsed mapping against descriptions of the real source and
 * target tables, so that a missing column or a narrower type is found by
 * `ferryctl plan` or at start, not as a failed upsert hours into a copy.
 * Pure: the caller (the sink, plan, tests) reads the table descriptions.
 */
#include "common/buf.h"
#include "common/xalloc.h"
#include "transforms/mapping.h"
#include "transforms/mapping_int.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- SQL types ----------------------------------------------------- */

enum family {
        T_INT,
        T_DEC,
        T_FLOAT,
        T_BIT,
        T_STR,
        T_BIN,
        T_DATE,
        T_DATETIME,
        T_TIMESTAMP,
        T_TIME,
        T_YEAR,
        T_ENUM,
        T_SET,
        T_OTHER,
};

static const char *const family_name[] = {
        "integer", "decimal",  "floating point", "bit",  "string", "binary",
        "date",    "datetime", "timestamp",      "time", "year",   "enum",
        "set",     "other",
};

struct sqltype {
        enum family fam;
        char base[32];
        bool uns;
        unsigned long long bytes; /* int/float size; str/bin capacity */
        unsigned long long chars; /* str: capacity in characters */
        unsigned long prec;       /* decimal precision, bit width */
        unsigned long scale;      /* decimal scale, fractional seconds */
        const char *list;         /* enum/set: "'a','b'" (not owned) */
        size_t list_len;
};

struct base_type {
        const char *name;
        enum family fam;
        unsigned long long bytes;
};

static const struct base_type base_types[] = {
        {"tinyint", T_INT, 1},
        {"bool", T_INT, 1},
        {"boolean", T_INT, 1},
        {"smallint", T_INT, 2},
        {"mediumint", T_INT, 3},
        {"int", T_INT, 4},
        {"integer", T_INT, 4},
        {"bigint", T_INT, 8},
        {"decimal", T_DEC, 0},
        {"dec", T_DEC, 0},
        {"numeric", T_DEC, 0},
        {"fixed", T_DEC, 0},
        {"float", T_FLOAT, 4},
        {"double", T_FLOAT, 8},
        {"real", T_FLOAT, 8},
        {"bit", T_BIT, 0},
        {"char", T_STR, 0},
        {"varchar", T_STR, 0},
        {"tinytext", T_STR, 255},
        {"text", T_STR, 65535},
        {"mediumtext", T_STR, 16777215},
        {"longtext", T_STR, 4294967295ULL},
        {"json", T_STR, 4294967295ULL},
        {"binary", T_BIN, 0},
        {"varbinary", T_BIN, 0},
        {"tinyblob", T_BIN, 255},
        {"blob", T_BIN, 65535},
        {"mediumblob", T_BIN, 16777215},
        {"longblob", T_BIN, 4294967295ULL},
        {"date", T_DATE, 0},
        {"datetime", T_DATETIME, 0},
        {"timestamp", T_TIMESTAMP, 0},
        {"time", T_TIME, 0},
        {"year", T_YEAR, 0},
        {"enum", T_ENUM, 0},
        {"set", T_SET, 0},
        {NULL, T_OTHER, 0},
};

static void parse_type(const char *s, struct sqltype *t)
{
        size_t n = 0;
        memset(t, 0, sizeof(*t));
        while (isspace((unsigned char)*s))
                s++;
        while (isalnum((unsigned char)*s) || *s == '_') {
                if (n + 1 < sizeof(t->base))
                        t->base[n++] = (char)tolower((unsigned char)*s);
                s++;
        }
        t->base[n] = '\0';
        const char *args = NULL;
        size_t alen = 0;
        if (*s == '(') {
                /* Up to the matching ')', skipping quoted enum values. */
                const char *e = s + 1;
                bool q = false;
                for (; *e && (q || *e != ')'); e++)
                        if (*e == '\'')
                                q = !q;
                args = s + 1;
                alen = (size_t)(e - args);
                s = *e ? e + 1 : e;
        }
        t->uns = strcasestr(s, "unsigned") || strcasestr(s, "zerofill");

        const struct base_type *b = base_types;
        while (b->name && strcmp(b->name, t->base))
                b++;
        t->fam = b->fam;
        t->bytes = b->bytes;
        unsigned long a1 = 0, a2 = 0;
        bool has1 = false, has2 = false;
        if (args && isdigit((unsigned char)*args)) {
                char *e;
                a1 = strtoul(args, &e, 10);
                has1 = true;
                if (*e == ',') {
                        a2 = strtoul(e + 1, NULL, 10);
                        has2 = true;
                }
        }
        switch (t->fam) {
        case T_DEC:
                t->prec = has1 ? a1 : 10;
                t->scale = has2 ? a2 : 0;
                break;
        case T_FLOAT:
                /* FLOAT(p) with p > 24 is a DOUBLE; FLOAT(M,D) is not. */
                if (has1 && !has2 && a1 > 24)
                        t->bytes = 8;
                break;
        case T_BIT:
                t->prec = has1 ? a1 : 1;
                break;
        case T_STR:
                if (!t->bytes) { /* CHAR/VARCHAR(n): n utf8mb4 chars */
                        t->chars = has1 ? a1 : 1;
                        t->bytes = 4 * t->chars;
                } else {
                        t->chars = t->bytes;
                }
                break;
        case T_BIN:
                if (!t->bytes)
                        t->bytes = has1 ? a1 : 1;
                break;
        case T_DATETIME:
        case T_TIMESTAMP:
        case T_TIME:
                t->scale = has1 ? a1 : 0;
                break;
        case T_ENUM:
        case T_SET:
                /* "enum" without its list: no values (list + 0 on a
                 * NULL list would be undefined) */
                t->list = args ? args : "";
                t->list_len = alen;
                break;
        default:
                break;
        }
}

/* Reads the next quoted value of an enum/set list into out.
 * @returns false at the end. */
static bool list_next(const char **p, const char *end, struct buf *out)
{
        const char *s = *p;
        buf_reset(out);
        while (s < end && *s != '\'')
                s++;
        if (s >= end)
                return false;
        for (s++; s < end; s++) {
                if (*s == '\'' && s + 1 < end && s[1] == '\'') {
                        buf_putc(out, '\'');
                        s++;
                } else if (*s == '\'') {
                        break;
                } else {
                        buf_putc(out, *s);
                }
        }
        *p = s < end ? s + 1 : end;
        return true;
}

static size_t utf8_chars(const char *s, size_t n)
{
        size_t c = 0;
        for (size_t i = 0; i < n; i++)
                if (((unsigned char)s[i] & 0xC0) != 0x80)
                        c++;
        return c;
}

static bool list_has(const struct sqltype *t, const char *v, size_t n)
{
        const char *p = t->list, *end = t->list + t->list_len;
        struct buf b;
        bool found = false;
        buf_init(&b);
        while (!found && list_next(&p, end, &b))
                found = b.len == n && !memcmp(buf_cstr(&b), v, n);
        buf_free(&b);
        return found;
}

/* Integer digits an integer type needs. */
static unsigned long int_digits(const struct sqltype *t)
{
        switch (t->bytes) {
        case 1:
                return 3;
        case 2:
                return 5;
        case 3:
                return t->uns ? 8 : 7;
        case 4:
                return 10;
        default:
                return t->uns ? 20 : 19;
        }
}

static bool nope(char *why, size_t why_size, const char *fmt, ...)
        FERRY_PRINTF(3, 4);

static bool nope(char *why, size_t why_size, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, why_size, fmt, ap);
        va_end(ap);
        return false;
}

static bool enum_fits(const struct sqltype *s, const struct sqltype *d,
                      char *why, size_t why_size)
{
        const char *p = s->list, *end = s->list + s->list_len;
        struct buf b;
        bool ok = true;
        unsigned long long total = 0;
        buf_init(&b);
        while (ok && list_next(&p, end, &b)) {
                size_t c = utf8_chars(buf_cstr(&b), b.len);
                total += b.len + (total ? 1 : 0);
                if (d->fam == s->fam && !list_has(d, buf_cstr(&b), b.len))
                        ok = nope(why, why_size, "target lacks value '%s'",
                                  buf_cstr(&b));
                else if (d->fam == T_STR && s->fam == T_ENUM &&
                         (c > d->chars || b.len > d->bytes))
                        ok = nope(why, why_size,
                                  "value '%s' is longer than the target "
                                  "holds",
                                  buf_cstr(&b));
        }
        buf_free(&b);
        if (ok && d->fam == T_STR && s->fam == T_SET && total > d->bytes)
                ok = nope(why, why_size,
                          "all values together (%llu bytes) are longer "
                          "than the target holds (%llu)",
                          total, d->bytes);
        return ok;
}

bool mapping_type_fits(const char *src_type, const char *dst_type, char *why,
                       size_t why_size)
{
        struct sqltype s, d;
        parse_type(src_type, &s);
        parse_type(dst_type, &d);

        if (s.fam == T_INT && d.fam == T_INT) {
                if (s.uns && !d.uns)
                        return d.bytes > s.bytes ||
                               nope(why, why_size,
                                    "unsigned values need a wider signed "
                                    "target");
                if (!s.uns && d.uns)
                        return nope(why, why_size,
                                    "negative values do not fit an "
                                    "unsigned target");
                return d.bytes >= s.bytes ||
                       nope(why, why_size, "target range is narrower");
        }
        if (s.fam == T_INT && d.fam == T_DEC) {
                if (d.prec - d.scale >= int_digits(&s))
                        return true;
                return nope(why, why_size,
                            "target has %lu integer digits, source needs "
                            "%lu",
                            d.prec - d.scale, int_digits(&s));
        }
        if (s.fam == T_ENUM && (d.fam == T_ENUM || d.fam == T_STR))
                return enum_fits(&s, &d, why, why_size);
        if (s.fam == T_SET && (d.fam == T_SET || d.fam == T_STR))
                return enum_fits(&s, &d, why, why_size);
        if (s.fam == T_DATE && d.fam == T_DATETIME)
                return true;
        if (s.fam == T_TIMESTAMP && d.fam == T_DATETIME)
                return d.scale >= s.scale ||
                       nope(why, why_size,
                            "target has %lu fractional digits, source %lu",
                            d.scale, s.scale);
        if (s.fam != d.fam)
                return nope(why, why_size, "different kinds (%s vs %s)",
                            family_name[s.fam], family_name[d.fam]);
        switch (s.fam) {
        case T_DEC:
                if (d.scale < s.scale)
                        return nope(why, why_size,
                                    "target scale %lu is below source "
                                    "scale %lu",
                                    d.scale, s.scale);
                if (d.prec - d.scale < s.prec - s.scale)
                        return nope(why, why_size,
                                    "target has %lu integer digits, source "
                                    "%lu",
                                    d.prec - d.scale, s.prec - s.scale);
                if (s.uns == false && d.uns)
                        return nope(why, why_size,
                                    "negative values do not fit an "
                                    "unsigned target");
                return true;
        case T_FLOAT:
                return d.bytes >= s.bytes || nope(why, why_size,
                                                  "DOUBLE into FLOAT loses "
                                                  "precision");
        case T_BIT:
                return d.prec >= s.prec ||
                       nope(why, why_size, "target has %lu bits, source %lu",
                            d.prec, s.prec);
        case T_STR:
                if (d.chars < s.chars)
                        return nope(why, why_size,
                                    "target holds %llu characters, source "
                                    "up to %llu",
                                    d.chars, s.chars);
                return d.bytes >= s.bytes ||
                       nope(why, why_size,
                            "target holds %llu bytes, source up to %llu",
                            d.bytes, s.bytes);
        case T_BIN:
                return d.bytes >= s.bytes ||
                       nope(why, why_size,
                            "target holds %llu bytes, source up to %llu",
                            d.bytes, s.bytes);
        case T_DATETIME:
        case T_TIMESTAMP:
        case T_TIME:
                return d.scale >= s.scale ||
                       nope(why, why_size,
                            "target has %lu fractional digits, source %lu",
                            d.scale, s.scale);
        case T_OTHER:
                return !strcmp(s.base, d.base) ||
                       nope(why, why_size, "different types (%s vs %s)", s.base,
                            d.base);
        default:
                return true;
        }
}

/* ---- the check ----------------------------------------------------- */

struct check {
        const char *file;
        mapping_problem_fn *report;
        void *ctx;
        json_t *seen; /* {problem: true}: table options repeat per route */
        char *first;
        size_t n;
};

static void problem(struct check *c, const char *fmt, ...) FERRY_PRINTF(2, 3);

static void problem(struct check *c, const char *fmt, ...)
{
        char what[900], s[1200];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(what, sizeof(what), fmt, ap);
        va_end(ap);
        snprintf(s, sizeof(s), "%s: %s", c->file, what);
        if (json_object_get(c->seen, s))
                return;
        json_object_set_new(c->seen, s, json_true());
        if (!c->first)
                c->first = xstrdup(s);
        c->n++;
        if (c->report)
                c->report(c->ctx, s);
}

static const struct mapping_table_desc *
find_desc(const struct mapping_table_desc *v, size_t n, const char *name)
{
        for (size_t i = 0; i < n; i++)
                if (!strcmp(v[i].name, name))
                        return &v[i];
        return NULL;
}

static const struct mapping_column *find_col(const struct mapping_table_desc *t,
                                             const char *name)
{
        for (size_t i = 0; i < t->ncols; i++)
                if (!strcmp(t->cols[i].name, name))
                        return &t->cols[i];
        return NULL;
}

static void need_source_col(struct check *c,
                            const struct mapping_table_desc *src,
                            const char *col, const char *path)
{
        if (!find_col(src, col))
                problem(c, "%s: source table %s has no column %s", path,
                        src->name, col);
}

/* Whether the route's column is changed by a value map or a transform,
 * so that its source type says nothing about what reaches the target. */
static bool altered(const struct route *r, const char *col)
{
        if (json_object_get(r->values, col))
                return true;
        for (size_t i = 0; i < r->nxforms; i++)
                if (!strcmp(r->xforms[i].column, col))
                        return true;
        return false;
}

/* Whether the route's "when" lets no NULL of col through. */
static bool when_not_null(const struct route *r, const char *col)
{
        json_t *w = r->when ? json_object_get(r->when, col) : NULL;
        if (!w)
                return false;
        if (!json_is_array(w))
                return !json_is_null(w);
        size_t i;
        json_t *x;
        json_array_foreach(w, i, x) if (json_is_null(x)) return false;
        return true;
}

static const char *renamed(const struct route *r, const char *col)
{
        json_t *to = json_object_get(r->rename, col);
        return to ? json_string_value(to) : col;
}

/* Records that route output column name is fed by what; reports two
 * feeds of one target column. */
static void feed(struct check *c, const struct table_map *tm,
                 const struct route *r, json_t *fed, const char *name,
                 const char *what)
{
        json_t *prev = json_object_get(fed, name);
        if (prev && strcmp(json_string_value(prev), what))
                problem(c, "%s: %s.%s is fed twice (%s and %s)", r->path,
                        r->target, name, json_string_value(prev), what);
        else
                json_object_set_new(fed, name, json_string(what));
}

static void check_output(struct check *c, const struct table_map *tm,
                         const struct route *r,
                         const struct mapping_table_desc *src,
                         const struct mapping_table_desc *dst, json_t *fed)
{
        char why[256], what[300];

        for (size_t i = 0; src && i < src->ncols; i++) {
                const struct mapping_column *sc = &src->cols[i];
                if (json_object_get(r->drop, sc->name))
                        continue;
                const char *name = renamed(r, sc->name);
                snprintf(what, sizeof(what), "%s.%s", src->name, sc->name);
                feed(c, tm, r, fed, name, what);
                const struct mapping_column *dc = find_col(dst, name);
                if (!dc) {
                        problem(c,
                                "%s: %s.%s %s -> %s.%s: no such column in "
                                "the target (drop or rename it)",
                                r->path, src->name, sc->name, sc->type,
                                dst->name, name);
                        continue;
                }
                if (altered(r, sc->name))
                        continue;
                if (!mapping_type_fits(sc->type, dc->type, why, sizeof(why)))
                        problem(c, "%s: %s.%s %s -> %s.%s %s: %s", r->path,
                                src->name, sc->name, sc->type, dst->name, name,
                                dc->type, why);
                if (!sc->not_null && dc->not_null &&
                    !when_not_null(r, sc->name))
                        problem(c,
                                "%s: %s.%s %s is nullable but %s.%s %s is "
                                "NOT NULL",
                                r->path, src->name, sc->name, sc->type,
                                dst->name, name, dc->type);
        }
        /* Columns that transforms create from others. */
        for (size_t i = 0; i < r->nxforms; i++) {
                const struct xform_use *u = &r->xforms[i];
                if (!src || find_col(src, u->column))
                        continue;
                const char *name = renamed(r, u->column);
                snprintf(what, sizeof(what), "transform %s", u->path);
                feed(c, tm, r, fed, name, what);
                if (!find_col(dst, name))
                        problem(c,
                                "%s: %s creates %s.%s: no such column "
                                "in the target",
                                u->path, u->def->name, dst->name, name);
        }
        const char *k;
        json_t *v;
        json_object_foreach(r->defaults, k, v)
        {
                if (!json_object_get(fed, k))
                        json_object_set_new(fed, k, json_string("default"));
                if (!find_col(dst, k))
                        problem(c, "%s.defaults: %s has no column %s", r->path,
                                dst->name, k);
        }
}

static void check_refs(struct check *c, const struct route *r,
                       const struct mapping_table_desc *src)
{
        static const char *const opts[] = {"rename", "drop", "values", "when"};
        json_t *objs[] = {r->rename, r->drop, r->values, r->when};
        char path[600];
        const char *k;
        json_t *v;
        size_t i;

        for (size_t o = 0; o < sizeof(opts) / sizeof(*opts); o++) {
                snprintf(path, sizeof(path), "%s.%s", r->path, opts[o]);
                if (objs[o])
                        json_object_foreach(objs[o], k, v)
                                need_source_col(c, src, k, path);
        }
        for (size_t x = 0; x < r->nxforms; x++) {
                const struct xform_use *u = &r->xforms[x];
                const char *ca = u->def->columns_arg;
                json_t *cols = ca ? json_object_get(u->args, ca) : NULL;
                if (u->from)
                        need_source_col(c, src, u->from, u->path);
                else if (!cols)
                        need_source_col(c, src, u->column, u->path);
                json_array_foreach(cols, i, v)
                        need_source_col(c, src, json_string_value(v), u->path);
        }
}

static void check_keys(struct check *c, const struct route *r,
                       const struct mapping_table_desc *src,
                       const struct mapping_table_desc *dst)
{
        struct buf want, have;
        size_t nsrc = 0, ndst = 0;
        bool ok = true;

        buf_init(&want);
        buf_init(&have);
        for (size_t i = 0; i < src->ncols; i++) {
                const struct mapping_column *sc = &src->cols[i];
                if (!sc->primary_key)
                        continue;
                nsrc++;
                if (json_object_get(r->drop, sc->name)) {
                        problem(c,
                                "%s: primary-key column %s.%s is dropped, "
                                "so rows in %s could not be updated or "
                                "deleted",
                                r->path, src->name, sc->name, r->target);
                        ok = false;
                        continue;
                }
                const char *name = renamed(r, sc->name);
                const struct mapping_column *dc = find_col(dst, name);
                buf_printf(&want, "%s%s", want.len ? ", " : "", name);
                if (!dc || !dc->primary_key)
                        ok = false;
        }
        for (size_t i = 0; i < dst->ncols; i++)
                if (dst->cols[i].primary_key) {
                        buf_printf(&have, "%s%s", have.len ? ", " : "",
                                   dst->cols[i].name);
                        ndst++;
                }
        if (ok && nsrc && ndst && nsrc != ndst)
                ok = false;
        if (!ok && nsrc && ndst)
                problem(c,
                        "%s: the primary key of %s (%s) after the mapping "
                        "is not the primary key of %s (%s)",
                        r->path, src->name, buf_cstr(&want), dst->name,
                        buf_cstr(&have));
        buf_free(&want);
        buf_free(&have);
}

static void check_route(struct check *c, const struct table_map *tm,
                        const struct route *r,
                        const struct mapping_table_desc *src,
                        const struct mapping_table_desc *targets,
                        size_t ntargets)
{
        const struct mapping_table_desc *dst =
                find_desc(targets, ntargets, r->target);
        if (src)
                check_refs(c, r, src);
        if (!dst) {
                problem(c, "%s: target table %s (fed by %s) does not exist",
                        r->path, r->target, tm->source);
                return;
        }
        if (!src)
                return;
        json_t *fed = json_object();
        check_output(c, tm, r, src, dst, fed);
        check_keys(c, r, src, dst);
        for (size_t i = 0; i < dst->ncols; i++) {
                const struct mapping_column *dc = &dst->cols[i];
                if (dc->not_null && !dc->has_default &&
                    !json_object_get(fed, dc->name))
                        problem(c,
                                "%s: %s.%s %s is NOT NULL without a "
                                "default, and nothing from %s feeds it "
                                "(add a rename or a default)",
                                r->path, dst->name, dc->name, dc->type,
                                src->name);
        }
        json_decref(fed);
}

int mapping_validate(const struct mapping *m,
                     const struct mapping_table_desc *sources, size_t nsources,
                     const struct mapping_table_desc *targets, size_t ntargets,
                     mapping_problem_fn *report, void *ctx, char *errstr,
                     size_t errstr_size)
{
        struct check c = {.file = m->file,
                          .report = report,
                          .ctx = ctx,
                          .seen = json_object()};

        for (size_t t = 0; t < m->ntables; t++) {
                const struct table_map *tm = &m->tables[t];
                const struct mapping_table_desc *src =
                        find_desc(sources, nsources, tm->source);
                if (!src)
                        problem(&c, "%s: source table %s does not exist",
                                tm->path, tm->source);
                for (size_t r = 0; r < tm->nroutes; r++)
                        check_route(&c, tm, &tm->routes[r], src, targets,
                                    ntargets);
        }
        json_decref(c.seen);
        if (!c.n)
                return 0;
        if (c.n == 1)
                snprintf(errstr, errstr_size, "%s", c.first);
        else
                snprintf(errstr, errstr_size, "%s (and %zu more problems)",
                         c.first, c.n - 1);
        free(c.first);
        return FERRY_ERR_CONFIG;
}
