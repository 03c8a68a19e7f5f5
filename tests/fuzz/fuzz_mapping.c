/* SPDX-License-Identifier: Apache-2.0
 * libFuzzer target for the mapping parser and the row mapper: mapping
 * text parsed with mapping_parse and, when it parses, every mapped source
 * table fed through mapping_apply with each op, so that value maps,
 * transforms and routes run on rows the mapping itself shaped. A bad
 * mapping must come back as FERRY_ERR_CONFIG, a row it cannot map as
 * FERRY_ERR_DATA, never a crash, a leak or an out-of-bounds read.
 *
 * The mapping is also checked against fixed table descriptions
 * (mapping_validate).
 *
 * Input: the mapping text, optionally followed by a NUL byte and a JSON
 * object used as one more row (whose "src_type" and "dst_type", when
 * strings, also go through mapping_type_fits).
 */
#include "transforms/mapping.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A row every test mapping knows something about: strings to trim and
 * case, JSON text, numbers and a NULL. */
static const char fixed_row[] =
        "{\"id\": 1, \"name\": \"  Zo\\u00eb@X.COM \", \"status\": \"PAID\","
        " \"kind\": \"a\", \"adm\": true, \"n\": null, \"v\": 7,"
        " \"x\": 1.5, \"meta\": \"{\\\"a\\\": [1, {\\\"b\\\": \\\"c\\\"}]}\","
        " \"note\": \"\"}";

/* Adds to row what a route's "when" asks for (the first value of a list),
 * so that routes other than the fallback are taken too. */
static void add_when(json_t *row, json_t *when)
{
        const char *k;
        json_t *v;
        json_object_foreach(when, k, v)
        {
                json_t *x = json_is_array(v) ? json_array_get(v, 0) : v;
                if (x)
                        json_object_set(row, k, x);
        }
}

/* Rows shaped by the mapping text: the fixed row plus each route's
 * "when", for every table (the text is parsed again, leniently). */
static json_t *derived_rows(const char *text, json_t *base)
{
        json_t *rows = json_array();
        json_t *root = json_loads(text, 0, NULL);
        json_t *tables = json_object_get(root, "tables");
        size_t i, j;
        json_t *t, *r;
        json_array_foreach(tables, i, t)
        {
                json_array_foreach(json_object_get(t, "routes"), j, r)
                {
                        json_t *when = json_object_get(r, "when");
                        if (!json_is_object(when) || json_array_size(rows) > 8)
                                continue;
                        json_t *row = json_copy(base);
                        add_when(row, when);
                        json_array_append_new(rows, row);
                }
        }
        json_decref(root);
        return rows;
}

/* The key of row: its "id", or else its first column. */
static json_t *key_of(json_t *row)
{
        const char *k = "id";
        json_t *v = json_object_get(row, k);
        void *it = json_object_iter(row);
        if (!v && it) {
                k = json_object_iter_key(it);
                v = json_object_iter_value(it);
        }
        return json_pack("{s:O}", k, v ? v : json_null());
}

/* Each op on each row, an update from each row to the next; a few
 * source tables only, so that one input stays fast. */
static void apply_all(const struct mapping *m, json_t *rows)
{
        static const char ops_list[] = "crdu";
        const char *const *src;
        size_t i, n = json_array_size(rows), nsrc = 0;
        json_t *row;
        char err[512];

        for (src = mapping_sources(m); src && *src && nsrc < 4; src++, nsrc++) {
                json_array_foreach(rows, i, row)
                {
                        json_t *next = json_array_get(rows, (i + 1) % n);
                        json_t *key = key_of(row);
                        for (const char *op = ops_list; *op; op++) {
                                struct mapping_ops ops;
                                json_t *before = NULL, *after = row;
                                if (*op == 'd')
                                        before = row, after = NULL;
                                if (*op == 'u')
                                        before = row, after = next;
                                mapping_ops_init(&ops);
                                (void)!mapping_apply(m, *src, *op, key, before,
                                                     after, &ops, err,
                                                     sizeof(err));
                                mapping_ops_clear(&ops);
                        }
                        json_decref(key);
                }
                (void)mapping_source_targets(m, *src);
        }
}

/* Tables for mapping_validate: names the seeds use, so the fuzzer finds
 * its way into the column and type checks. */
static const struct mapping_column src_cols[] = {
        {"id", "bigint(20) unsigned", true, true, true},
        {"name", "varchar(50)", false, false, false},
        {"status", "enum('NEW','PAID','it''s')", true, true, false},
        {"kind", "char(1)", false, false, false},
        {"meta", "longtext", false, false, false},
        {"price", "decimal(10,2)", false, false, false},
        {"at", "datetime(6)", true, false, false},
};
static const struct mapping_column dst_cols[] = {
        {"id", "bigint(20)", true, false, true},
        {"pk", "decimal(20,0)", true, false, true},
        {"name", "varchar(20)", false, false, false},
        {"label", "text", true, false, false},
        {"status", "set('NEW','PAID')", true, false, false},
        {"price", "decimal(8,3) zerofill", false, false, false},
        {"at", "timestamp(3)", false, true, false},
};
static const struct mapping_table_desc srcs[] = {
        {"s", src_cols, sizeof(src_cols) / sizeof(src_cols[0])},
        {"tk", src_cols, 3},
};
static const struct mapping_table_desc dsts[] = {
        {"t", dst_cols, sizeof(dst_cols) / sizeof(dst_cols[0])},
        {"ta", dst_cols, 4},
        {"tickets", dst_cols + 1, 5},
};

static void count_problem(void *ctx, const char *problem)
{
        if (!*problem)
                abort(); /* a problem always says what it is */
        ++*(size_t *)ctx;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        /* mapping_parse takes a C string: the text ends at the first NUL
         * (or the input's end); what follows is the extra row. */
        const uint8_t *nul = memchr(data, '\0', size);
        size_t tlen = nul ? (size_t)(nul - data) : size;
        char *text = malloc(tlen + 1);
        memcpy(text, data, tlen);
        text[tlen] = '\0';

        struct mapping *m;
        char err[1024];
        if (mapping_parse(text, "fuzz.json", &m, err, sizeof(err)) == 0) {
                json_t *base = json_loads(fixed_row, 0, NULL);
                if (!base)
                        abort();
                json_t *rows = derived_rows(text, base);
                json_array_insert(rows, 0, base);
                if (nul) {
                        json_t *extra = json_loadb((const char *)nul + 1,
                                                   size - tlen - 1, 0, NULL);
                        if (json_is_object(extra) &&
                            json_object_size(extra) < 64)
                                json_array_append(rows, extra);
                        /* The column type rule, on types it names. */
                        const char *st = json_string_value(
                                json_object_get(extra, "src_type"));
                        const char *dt = json_string_value(
                                json_object_get(extra, "dst_type"));
                        char why[256];
                        if (st && dt)
                                (void)mapping_type_fits(st, dt, why,
                                                        sizeof(why));
                        json_decref(extra);
                }
                apply_all(m, rows);
                size_t problems = 0;
                int vrc = mapping_validate(m, srcs, 2, dsts, 3, count_problem,
                                           &problems, err, sizeof(err));
                if ((vrc == 0) != (problems == 0))
                        abort(); /* the verdict and the reports disagree */
                json_decref(rows);
                json_decref(base);
                (void)mapping_targets(m);
                mapping_free(m);
        } else if (m) {
                abort(); /* an error leaves no mapping */
        }
        free(text);
        return 0;
}
