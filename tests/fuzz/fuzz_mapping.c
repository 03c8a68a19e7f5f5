/* SPDX-License-Identifier: Apache-2.0
 * libFuzzer target for the mapping parser and the row mapper: mapping
 * text parsed with mapping_parse and, when it parses, every mapped source
 * table fed through mapping_apply with each op, so that value maps,
 * transforms and routes run on rows the mapping itself shaped. A bad
 * mapping must come back as FERRY_ERR_CONFIG, a row it cannot map as
 * FERRY_ERR_DATA, never a crash, a leak or an out-of-bounds read.
 *
 * Input: the mapping text, optionally followed by a NUL byte and a JSON
 * object used as one more row.
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
                        json_decref(extra);
                }
                apply_all(m, rows);
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
