/* SPDX-License-Identifier: Apache-2.0
 * The verify report: one entry per (source, target) pair, accessors and
 * its JSON form; see verify.h.
 */
#include "common/xalloc.h"
#include "connectors/verify_int.h"

#include <stdlib.h>
#include <string.h>

struct verify_entry *verify_report_add(struct verify_report *r,
                                       const char *source, const char *target)
{
        r->v = xrealloc(r->v, (r->n + 1) * sizeof(*r->v));
        struct verify_entry *e = &r->v[r->n++];
        memset(e, 0, sizeof(*e));
        e->res.source = xstrdup(source);
        e->res.target = xstrdup(target);
        e->res.unverified_columns = json_array();
        e->res.notes = json_array();
        return e;
}

void verify_entry_add_key(struct verify_entry *e, char *key, size_t max)
{
        if (e->res.nkeys >= max) {
                e->res.keys_truncated = true;
                free(key);
                return;
        }
        e->res.keys = xrealloc(e->res.keys,
                               (e->res.nkeys + 1) * sizeof(*e->res.keys));
        e->res.keys[e->res.nkeys++] = key;
}

void verify_range_free(struct verify_range *rg)
{
        verify_key_free(rg->lo);
        verify_key_free(rg->hi);
        rg->lo = rg->hi = NULL;
}

void verify_entry_reset_diffs(struct verify_entry *e)
{
        for (size_t i = 0; i < e->res.nkeys; i++)
                free(e->res.keys[i]);
        free(e->res.keys);
        e->res.keys = NULL;
        e->res.nkeys = 0;
        e->res.keys_truncated = false;
        e->res.chunks_differing = 0;
        e->res.rows_differing = 0;
        for (size_t i = 0; i < e->nbad; i++)
                verify_range_free(&e->bad[i]);
        free(e->bad);
        e->bad = NULL;
        e->nbad = 0;
}

void verify_report_free(struct verify_report *r)
{
        if (!r)
                return;
        for (size_t i = 0; i < r->n; i++) {
                struct verify_entry *e = &r->v[i];
                verify_entry_reset_diffs(e);
                free(e->res.source);
                free(e->res.target);
                json_decref(e->res.unverified_columns);
                json_decref(e->res.notes);
        }
        free(r->v);
        free(r);
}

size_t verify_report_count(const struct verify_report *r)
{
        return r->n;
}

const struct verify_result *verify_report_get(const struct verify_report *r,
                                              size_t i)
{
        return i < r->n ? &r->v[i].res : NULL;
}

bool verify_report_clean(const struct verify_report *r)
{
        for (size_t i = 0; i < r->n; i++)
                if (r->v[i].res.chunks_differing)
                        return false;
        return true;
}

double verify_report_seconds(const struct verify_report *r)
{
        return r->seconds;
}

static json_t *result_json(const struct verify_result *res)
{
        json_t *keys = json_array();
        for (size_t i = 0; i < res->nkeys; i++) {
                json_t *k = json_loads(res->keys[i], 0, NULL);
                /* Keys are built by verify.c as JSON; text that does not
                 * parse would be a bug, and is shown as it is. */
                json_array_append_new(keys, k ? k : json_string(res->keys[i]));
        }
        return json_pack(
                "{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:o, s:b, s:b, s:O, "
                "s:O}",
                "source", res->source, "target", res->target, "rows_source",
                (json_int_t)res->rows_source, "rows_target",
                (json_int_t)res->rows_target, "chunks", (json_int_t)res->chunks,
                "chunks_differing", (json_int_t)res->chunks_differing,
                "rows_differing", (json_int_t)res->rows_differing,
                "differing_keys", keys, "keys_truncated", res->keys_truncated,
                "whole_table", res->whole_table, "unverified_columns",
                res->unverified_columns, "notes", res->notes);
}

json_t *verify_report_json(const struct verify_report *r)
{
        json_t *tables = json_array();
        uint64_t rs = 0, rt = 0;
        for (size_t i = 0; i < r->n; i++) {
                json_array_append_new(tables, result_json(&r->v[i].res));
                rs += r->v[i].res.rows_source;
                rt += r->v[i].res.rows_target;
        }
        return json_pack("{s:b, s:f, s:I, s:I, s:o}", "clean",
                         verify_report_clean(r), "seconds", r->seconds,
                         "rows_source", (json_int_t)rs, "rows_target",
                         (json_int_t)rt, "tables", tables);
}
