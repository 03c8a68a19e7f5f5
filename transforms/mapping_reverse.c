/* SPDX-License-Identifier: Apache-2.0
 * Mapping inversion; see mapping_reverse.h. The inverse is written as a
 * mapping document and parsed like any other, so that it gets the same
 * checks and the same mapper as the forward one.
 */
#include "transforms/mapping_reverse.h"
#include "common/xalloc.h"
#include "transforms/mapping_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void notef(mapping_problem_fn *note, void *ctx, const char *fmt, ...)
        FERRY_PRINTF(3, 4);
static void notef(mapping_problem_fn *note, void *ctx, const char *fmt, ...)
{
        char line[512];
        va_list ap;
        if (!note)
                return;
        va_start(ap, fmt);
        vsnprintf(line, sizeof(line), fmt, ap);
        va_end(ap);
        note(ctx, line);
}

/* The target name of source column col through route r. */
static const char *fwd_name(const struct route *r, const char *col)
{
        json_t *to = json_object_get(r->rename, col);
        return to ? json_string_value(to) : col;
}

/* Whether a column in the target is fed by some source column under its
 * own name or a rename (so it is not target-only). */
static bool renamed_to(const struct route *r, const char *target_col)
{
        const char *k;
        json_t *v;
        json_object_foreach(r->rename, k, v)
        {
                if (!strcmp(json_string_value(v), target_col))
                        return true;
        }
        return false;
}

/* A transform that writes a column other than the one it reads (or
 * creates one from the whole row) derives a target-only column. */
static bool derives(const struct xform_use *u)
{
        return u->def->whole_row || (u->from && strcmp(u->from, u->column));
}

/* Two routes into one target must treat columns alike, or the way back
 * would depend on which route a row took. */
static bool same_options(const struct route *a, const struct route *b)
{
        if (!json_equal(a->rename, b->rename) ||
            !json_equal(a->drop, b->drop) ||
            !json_equal(a->defaults, b->defaults) ||
            !json_equal(a->values, b->values) || a->nxforms != b->nxforms)
                return false;
        for (size_t i = 0; i < a->nxforms; i++)
                if (!json_equal(a->xforms[i].args, b->xforms[i].args))
                        return false;
        return true;
}

/* The source value behind a value-map key: its text, or the integer it
 * spells (integer columns are looked up by their decimal text). */
static json_t *from_value(const char *text)
{
        char *end;
        long long v = strtoll(text, &end, 10);
        char back[32];
        snprintf(back, sizeof(back), "%lld", v);
        if (*text && !*end && !strcmp(back, text))
                return json_integer(v);
        return json_string(text);
}

/* A value map's inverse {to: from}, or NULL with errstr. */
static json_t *invert_values(const struct table_map *tm, const char *col,
                             json_t *vm, char *errstr, size_t errstr_size)
{
        json_t *inv = json_object();
        const char *from;
        json_t *to;
        json_object_foreach(vm, from, to)
        {
                char key[64];
                if (json_is_string(to))
                        snprintf(key, sizeof(key), "%s", json_string_value(to));
                else if (json_is_integer(to))
                        snprintf(key, sizeof(key), "%" JSON_INTEGER_FORMAT,
                                 json_integer_value(to));
                else {
                        snprintf(errstr, errstr_size,
                                 "%s: table %s column %s: value map sends "
                                 "\"%s\" to a value that cannot be mapped "
                                 "back (only strings and integers can)",
                                 tm->path, tm->source, col, from);
                        json_decref(inv);
                        return NULL;
                }
                json_t *seen = json_object_get(inv, key);
                if (seen) {
                        snprintf(errstr, errstr_size,
                                 "%s: table %s column %s: value map is not "
                                 "one-to-one (\"%s\" and another value both "
                                 "become %s), so it cannot be inverted",
                                 tm->path, tm->source, col, from, key);
                        json_decref(inv);
                        return NULL;
                }
                json_object_set_new(inv, key, from_value(from));
        }
        return inv;
}

/* The reverse table for target (fed by tm through r). */
static json_t *reverse_table(const struct table_map *tm, const struct route *r,
                             mapping_problem_fn *note, void *ctx, char *errstr,
                             size_t errstr_size)
{
        json_t *t = json_object();
        json_t *rename = json_object(), *drop = json_array(),
               *defaults = json_object(), *values = json_object();
        const char *k;
        json_t *v;

        json_object_set_new(t, "source", json_string(r->target));
        json_object_set_new(t, "target", json_string(tm->source));
        json_object_foreach(r->rename, k, v) json_object_set_new(
                rename, json_string_value(v), json_string(k));
        /* Constant defaults fill columns only the target has. */
        json_object_foreach(r->defaults, k, v)
        {
                if (!renamed_to(r, k) && !json_object_get(rename, k))
                        json_array_append_new(drop, json_string(k));
        }
        for (size_t i = 0; i < r->nxforms; i++) {
                const struct xform_use *u = &r->xforms[i];
                const char *col = fwd_name(r, u->column);
                if (derives(u)) {
                        json_t *rn = json_object_get(rename, col);
                        if (rn) /* it was renamed: drop the renamed one */
                                json_object_del(rename, col);
                        json_array_append_new(drop, json_string(col));
                        continue;
                }
                notef(note, ctx,
                      "table %s column %s: transform %s is not inverted; "
                      "the value goes back as %s holds it (lossy)",
                      tm->source, u->column, u->def->name, r->target);
        }
        json_object_foreach(r->values, k, v)
        {
                json_t *inv = invert_values(tm, k, v, errstr, errstr_size);
                if (!inv) {
                        json_decref(rename);
                        json_decref(drop);
                        json_decref(defaults);
                        json_decref(values);
                        json_decref(t);
                        return NULL;
                }
                json_object_set_new(values, fwd_name(r, k), inv);
        }
        /* A dropped routing column comes back as the one value that
         * sent the row here; with a list of values it cannot. */
        json_object_foreach(r->when, k, v)
        {
                if (!json_object_get(r->drop, k))
                        continue;
                if (json_is_array(v)) {
                        notef(note, ctx,
                              "table %s column %s: routed to %s by a list of "
                              "values and dropped; rows created there get "
                              "the column's default on the way back",
                              tm->source, k, r->target);
                        continue;
                }
                json_object_set(defaults, k, v);
        }
        json_object_set_new(t, "rename", rename);
        json_object_set_new(t, "drop", drop);
        json_object_set_new(t, "defaults", defaults);
        json_object_set_new(t, "values", values);
        return t;
}

int mapping_reverse(const struct mapping *m, struct mapping **rp,
                    mapping_problem_fn *note, void *ctx, char *errstr,
                    size_t errstr_size)
{
        json_t *tables = json_array();
        int rc = 0;
        *rp = NULL;
        for (size_t i = 0; m->targets[i] && !rc; i++) {
                const char *target = m->targets[i];
                const struct table_map *tm = NULL;
                const struct route *r = NULL;
                for (size_t t = 0; t < m->ntables && !rc; t++) {
                        const struct table_map *x = &m->tables[t];
                        for (size_t k = 0; k < x->nroutes && !rc; k++) {
                                const struct route *y = &x->routes[k];
                                if (strcmp(y->target, target))
                                        continue;
                                if (tm && tm != x) {
                                        snprintf(errstr, errstr_size,
                                                 "%s: target %s is fed by "
                                                 "both %s and %s, so its "
                                                 "rows cannot be mapped "
                                                 "back to one table",
                                                 x->path, target, tm->source,
                                                 x->source);
                                        rc = FERRY_ERR_CONFIG;
                                } else if (r && !same_options(r, y)) {
                                        snprintf(errstr, errstr_size,
                                                 "%s: target %s is fed by "
                                                 "two routes of %s that map "
                                                 "columns differently, so "
                                                 "its rows cannot be mapped "
                                                 "back",
                                                 y->path, target, x->source);
                                        rc = FERRY_ERR_CONFIG;
                                } else if (!r) {
                                        tm = x;
                                        r = y;
                                }
                        }
                }
                if (rc)
                        break;
                json_t *t =
                        reverse_table(tm, r, note, ctx, errstr, errstr_size);
                if (!t)
                        rc = FERRY_ERR_CONFIG;
                else
                        json_array_append_new(tables, t);
        }
        if (rc) {
                json_decref(tables);
                return rc;
        }
        json_t *doc = json_pack("{s:i, s:o}", "version", 1, "tables", tables);
        char *text = json_dumps(doc, JSON_COMPACT);
        json_decref(doc);
        char name[600];
        snprintf(name, sizeof(name), "%s (reversed)", m->file);
        rc = mapping_parse(text, name, rp, errstr, errstr_size);
        free(text);
        return rc;
}
