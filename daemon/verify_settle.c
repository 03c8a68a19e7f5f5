/* SPDX-License-Identifier: Apache-2.0
 * Settling an online verify; see verify_settle.h.
 */
#include "daemon/verify_settle.h"

#include "connectors/verify.h"
#include "daemon/barrier.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FIRST_PASS_KEYS 100000 /* name every key in flight, not 100 */

/* {source table: [keys]} of what still differs in rep. */
static json_t *differing(json_t *rep, bool *truncated)
{
        json_t *by = json_object();
        size_t i;
        json_t *t;
        *truncated = false;
        json_array_foreach(json_object_get(rep, "tables"), i, t)
        {
                const char *src =
                        json_string_value(json_object_get(t, "source"));
                json_t *keys = json_object_get(t, "differing_keys");
                json_int_t chunks = json_integer_value(
                        json_object_get(t, "chunks_differing"));
                json_int_t rows = json_integer_value(
                        json_object_get(t, "rows_differing"));
                if (chunks && !rows && !json_array_size(keys)) {
                        /* The chunk's sums differed but every row matched
                         * when narrowed: rows in flight, now landed. */
                        json_object_set_new(t, "chunks_differing",
                                            json_integer(0));
                        continue;
                }
                if (json_is_true(json_object_get(t, "keys_truncated")) ||
                    (chunks && !json_array_size(keys)))
                        *truncated = true; /* not every key is named */
                if (!json_array_size(keys))
                        continue;
                json_t *set = json_object_get(by, src);
                if (!set) {
                        set = json_object();
                        json_object_set_new(by, src, set);
                }
                size_t k;
                json_t *key;
                json_array_foreach(keys, k, key)
                {
                        char *text =
                                json_dumps(key, JSON_COMPACT | JSON_SORT_KEYS);
                        if (text)
                                json_object_set(set, text, key);
                        free(text);
                }
        }
        return by;
}

/* Replaces the (source, target) entries of rep with what r found. */
static void merge(json_t *rep, struct verify_report *r)
{
        json_t *fresh = verify_report_json(r);
        size_t i, j;
        json_t *t, *f;
        json_array_foreach(json_object_get(rep, "tables"), i, t)
        {
                json_array_foreach(json_object_get(fresh, "tables"), j, f)
                {
                        if (strcmp(json_string_value(
                                           json_object_get(t, "source")),
                                   json_string_value(
                                           json_object_get(f, "source"))) ||
                            strcmp(json_string_value(
                                           json_object_get(t, "target")),
                                   json_string_value(
                                           json_object_get(f, "target"))))
                                continue;
                        json_t *keys = json_object_get(f, "differing_keys");
                        json_object_set(t, "differing_keys", keys);
                        json_object_set_new(
                                t, "rows_differing",
                                json_integer(
                                        (json_int_t)json_array_size(keys)));
                        if (!json_array_size(keys))
                                json_object_set_new(t, "chunks_differing",
                                                    json_integer(0));
                }
        }
        json_decref(fresh);
}

static void set_clean(json_t *rep)
{
        bool clean = true;
        size_t i;
        json_t *t;
        json_array_foreach(json_object_get(rep, "tables"), i, t) clean =
                clean &&
                !json_integer_value(json_object_get(t, "chunks_differing"));
        json_object_set_new(rep, "clean", json_boolean(clean));
}

int verify_settled(const struct cfg *cfg, const struct mapping *m, MYSQL *src,
                   MYSQL *dst, const char *only_table, int rounds,
                   int64_t settle_ms, barrier_fn *pass, void *pass_opaque,
                   const atomic_bool *abort, json_t **out, char *errstr,
                   size_t errstr_size)
{
        const char *sdb = cfg->source.db.database, *ddb = cfg->sink.db.database;
        struct verify_opts o;
        struct verify_report *first = NULL;
        char id[64];
        verify_opts_init(&o);
        o.only_table = only_table;
        o.max_keys = FIRST_PASS_KEYS;
        int rc = verify_run(m, src, sdb, dst, ddb, &o, &first, errstr,
                            errstr_size);
        if (rc)
                return rc;
        json_t *rep = verify_report_json(first);
        bool truncated;
        json_decref(differing(rep, &truncated)); /* settles in-flight chunks */
        set_clean(rep);
        int round = 0;
        for (; round < rounds && !json_is_true(json_object_get(rep, "clean"));
             round++) {
                rc = pass ? pass(pass_opaque, src, dst, settle_ms, abort, id,
                                 sizeof(id), errstr, errstr_size)
                          : barrier_pass(cfg, src, dst, settle_ms, abort, id,
                                         sizeof(id), errstr, errstr_size);
                if (rc)
                        break;
                json_t *by = differing(rep, &truncated);
                if (truncated) {
                        /* Too many keys to name: whole chunks again. */
                        json_decref(by);
                        if ((rc = verify_recheck(first, m, src, sdb, dst, ddb,
                                                 &o, errstr, errstr_size)))
                                break;
                        json_decref(rep);
                        rep = verify_report_json(first);
                        json_decref(differing(rep, &truncated));
                        set_clean(rep);
                        continue;
                }
                const char *table;
                json_t *set;
                json_object_foreach(by, table, set)
                {
                        json_t *keys = json_array();
                        const char *k;
                        json_t *v;
                        json_object_foreach(set, k, v)
                                json_array_append(keys, v);
                        struct verify_report *r = NULL;
                        rc = verify_keys(m, src, sdb, dst, ddb, table, keys, &o,
                                         &r, errstr, errstr_size);
                        json_decref(keys);
                        if (rc == FERRY_ERR_CONFIG) {
                                /* keys through a transform: whole table */
                                struct verify_opts one = o;
                                one.only_table = table;
                                rc = verify_run(m, src, sdb, dst, ddb, &one, &r,
                                                errstr, errstr_size);
                        }
                        if (rc == 0)
                                merge(rep, r);
                        verify_report_free(r);
                        if (rc)
                                break;
                }
                json_decref(by);
                set_clean(rep);
                if (rc)
                        break;
        }
        verify_report_free(first);
        if (rc) {
                json_decref(rep);
                return rc;
        }
        json_object_set_new(rep, "rounds", json_integer(round));
        *out = rep;
        return 0;
}
