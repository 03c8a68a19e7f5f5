/* SPDX-License-Identifier: Apache-2.0
 * Mapping: every feature applied to rows, and every class of bad mapping
 * reported with the file, the JSON path and what is wrong.
 */
#include "common/xalloc.h"
#include "tests/unit/unit.h"
#include "transforms/mapping.h"

#include <stdlib.h>

static char err[512];

static struct mapping *load(const char *text)
{
        struct mapping *m;
        if (mapping_parse(text, "m.json", &m, err, sizeof(err)))
                return NULL;
        return m;
}

/* Expects a parse error whose message contains want. */
static void bad(const char *text, const char *want)
{
        struct mapping *m = load(text);
        CHECK(m == NULL);
        mapping_free(m);
        if (!strstr(err, want))
                fprintf(stderr, "error '%s' lacks '%s'\n", err, want);
        CHECK(strstr(err, want) != NULL);
        CHECK(strncmp(err, "m.json", 6) == 0);
}

static char *dump(json_t *j)
{
        return json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER |
                                     JSON_SORT_KEYS);
}

static void check_op(const struct mapping_op *op, enum mapping_op_kind kind,
                     const char *table, const char *row)
{
        CHECK(op->kind == kind);
        CHECK_STR(op->table, table);
        char *s = dump(op->row);
        CHECK_STR(s, row);
        free(s);
}

static const char *full =
        "{\"version\": 1, \"tables\": ["
        " {\"source\": \"plain\", \"target\": \"t_plain\"},"
        " {\"source\": \"tk\", \"target\": \"tickets\","
        "  \"rename\": {\"qr\": \"qr_data\"}, \"drop\": [\"legacy\"],"
        "  \"defaults\": {\"checked\": false, \"qr_data\": \"unused\"},"
        "  \"values\": {\"status\": {\"PAID\": \"paid\"}},"
        "  \"transforms\": [{\"column\": \"email\", \"fn\": \"lowercase\"}]},"
        " {\"source\": \"notif\", \"drop\": [\"adm\"], \"routes\": ["
        "  {\"when\": {\"adm\": 1}, \"target\": \"admin_n\"},"
        "  {\"when\": {\"kind\": [\"a\", \"b\"]}, \"target\": \"ab_n\"},"
        "  {\"target\": \"user_n\"}]},"
        " {\"source\": \"strict\", \"routes\": ["
        "  {\"when\": {\"k\": 1}, \"target\": \"one\"}]}"
        "]}";

static json_t *J(const char *text)
{
        return json_loads(text, 0, NULL);
}

static void apply_features(void)
{
        struct mapping *m = load(full);
        struct mapping_ops ops;
        CHECK(m != NULL);
        if (!m)
                return;
        mapping_ops_init(&ops);

        /* No options: every column unchanged. */
        json_t *k = J("{\"id\": 1}"), *a = J("{\"id\": 1, \"x\": \"y\"}");
        CHECK(mapping_apply(m, "plain", 'c', k, NULL, a, &ops, err,
                            sizeof(err)) == 0);
        CHECK(ops.n == 1);
        check_op(&ops.v[0], MAPPING_OP_UPSERT, "t_plain",
                 "{\"id\":1,\"x\":\"y\"}");
        mapping_ops_clear(&ops);
        json_decref(a);

        /* Rename, drop, defaults (only where missing), values, transform. */
        a = J("{\"id\": 1, \"qr\": \"Q\", \"legacy\": 7, \"status\": "
              "\"PAID\", \"email\": \"Zoë@X.COM\"}");
        CHECK(mapping_apply(m, "tk", 'r', k, NULL, a, &ops, err,
                            sizeof(err)) == 0);
        check_op(&ops.v[0], MAPPING_OP_UPSERT, "tickets",
                 "{\"checked\":false,\"email\":\"zoë@x.com\",\"id\":1,"
                 "\"qr_data\":\"Q\",\"status\":\"paid\"}");
        mapping_ops_clear(&ops);
        json_decref(a);

        /* Unmapped values pass unchanged. */
        a = J("{\"id\": 1, \"status\": \"NEW\"}");
        CHECK(mapping_apply(m, "tk", 'u', k, a, a, &ops, err, sizeof(err)) ==
              0);
        CHECK(ops.n == 1);
        check_op(&ops.v[0], MAPPING_OP_UPSERT, "tickets",
                 "{\"checked\":false,\"id\":1,\"qr_data\":\"unused\","
                 "\"status\":\"NEW\"}");
        mapping_ops_clear(&ops);

        /* Delete: the key, renamed, from the table the row was in. */
        CHECK(mapping_apply(m, "tk", 'd', k, a, NULL, &ops, err,
                            sizeof(err)) == 0);
        check_op(&ops.v[0], MAPPING_OP_DELETE, "tickets", "{\"id\":1}");
        mapping_ops_clear(&ops);
        json_decref(a);

        /* Routing: equality (true matches 1), IN, fallback. */
        json_t *adm = J("{\"id\": 1, \"adm\": true, \"kind\": \"a\"}");
        json_t *ab = J("{\"id\": 1, \"adm\": 0, \"kind\": \"b\"}");
        json_t *usr = J("{\"id\": 1, \"adm\": 0, \"kind\": \"z\"}");
        CHECK(mapping_apply(m, "notif", 'c', k, NULL, adm, &ops, err,
                            sizeof(err)) == 0);
        check_op(&ops.v[0], MAPPING_OP_UPSERT, "admin_n",
                 "{\"id\":1,\"kind\":\"a\"}");
        mapping_ops_clear(&ops);
        CHECK(mapping_apply(m, "notif", 'c', k, NULL, ab, &ops, err,
                            sizeof(err)) == 0);
        CHECK_STR(ops.v[0].table, "ab_n");
        mapping_ops_clear(&ops);

        /* An update that moves the row: delete from old, create in new. */
        CHECK(mapping_apply(m, "notif", 'u', k, ab, usr, &ops, err,
                            sizeof(err)) == 0);
        CHECK(ops.n == 2);
        check_op(&ops.v[0], MAPPING_OP_DELETE, "ab_n", "{\"id\":1}");
        check_op(&ops.v[1], MAPPING_OP_UPSERT, "user_n",
                 "{\"id\":1,\"kind\":\"z\"}");
        mapping_ops_clear(&ops);

        /* No route: an error naming the table, never a silent drop. */
        json_t *k2 = J("{\"k\": 2}");
        CHECK(mapping_apply(m, "strict", 'c', k2, NULL, k2, &ops, err,
                            sizeof(err)) == FERRY_ERR_DATA);
        CHECK(strstr(err, "strict") && strstr(err, "no route"));
        CHECK(ops.n == 0);

        /* Tables that are not mapped produce nothing. */
        CHECK(mapping_apply(m, "other", 'c', k, NULL, usr, &ops, err,
                            sizeof(err)) == 0);
        CHECK(ops.n == 0);
        CHECK(mapping_has_source(m, "tk") && !mapping_has_source(m, "zz"));

        const char *const *t = mapping_targets(m);
        size_t n = 0;
        while (t[n])
                n++;
        CHECK(n == 6);

        json_decref(k);
        json_decref(k2);
        json_decref(adm);
        json_decref(ab);
        json_decref(usr);
        mapping_free(m);
}

static void bad_mappings(void)
{
        bad("{", "invalid JSON");
        bad("[]", "$: must be an object");
        bad("{\"version\": 2, \"tables\": []}", "$.version: must be 1");
        bad("{\"version\": 1, \"tables\": []}", "$.tables: must be a non");
        bad("{\"version\": 1, \"tables\": [], \"x\": 1}", "unknown key \"x\"");
        bad("{\"version\": 1, \"tables\": [{\"target\": \"t\"}]}",
            "$.tables[0].source");
        bad("{\"version\": 1, \"tables\": [{\"source\": \"s\"}]}",
            "$.tables[0]: needs exactly one of \"target\" and \"routes\"");
        bad("{\"version\": 1, \"tables\": [{\"source\": \"s\", \"target\": "
            "\"t\", \"routes\": []}]}",
            "needs exactly one");
        bad("{\"version\": 1, \"tables\": [{\"source\": \"s\", \"target\": "
            "\"\"}]}",
            "$.tables[0].target: must be a non-empty table name");
        bad("{\"version\": 1, \"tables\": [{\"source\": \"s\", \"target\": "
            "\"t\", \"renam\": {}}]}",
            "$.tables[0]: unknown key \"renam\"");
        bad("{\"version\": 1, \"tables\": [{\"source\": \"s\", \"target\": "
            "\"t\", \"rename\": {\"a\": 1}}]}",
            "$.tables[0].rename: \"a\"");
        bad("{\"version\": 1, \"tables\": [{\"source\": \"s\", \"target\": "
            "\"t\", \"rename\": {\"a\": \"b\"}, \"drop\": [\"a\"]}]}",
            "both renamed and dropped");
        bad("{\"version\": 1, \"tables\": [{\"source\": \"s\", \"target\": "
            "\"t\", \"drop\": \"a\"}]}",
            "$.tables[0].drop: must be an array");
        bad("{\"version\": 1, \"tables\": [{\"source\": \"s\", \"target\": "
            "\"t\", \"values\": {\"st\": [1]}}]}",
            "$.tables[0].values: \"st\"");
        bad("{\"version\": 1, \"tables\": [{\"source\": \"s\", \"target\": "
            "\"t\", \"transforms\": [{\"column\": \"a\", \"fn\": \"nope\"}]}"
            "]}",
            "$.tables[0].transforms[0]: unknown transform \"nope\" (known: "
            "lowercase");
        bad("{\"version\": 1, \"tables\": [{\"source\": \"s\", \"target\": "
            "\"t\"}, {\"source\": \"s\", \"target\": \"u\"}]}",
            "$.tables[1]: source table \"s\" is mapped twice");
        bad("{\"version\": 1, \"tables\": [{\"source\": \"s\", \"routes\": "
            "[{\"target\": \"a\"}, {\"when\": {\"x\": 1}, \"target\": "
            "\"b\"}]}]}",
            "$.tables[0].routes[1]: can never match");
        bad("{\"version\": 1, \"tables\": [{\"source\": \"s\", \"routes\": "
            "[{\"when\": {\"x\": {}}, \"target\": \"a\"}]}]}",
            "$.tables[0].routes[0].when: \"x\" must be a value");
        bad("{\"version\": 1, \"tables\": [{\"source\": \"s\", \"routes\": "
            "[{\"when\": {}, \"target\": \"a\"}]}]}",
            "$.tables[0].routes[0].when: must be a non-empty object");
        bad("{\"version\": 1, \"tables\": [{\"source\": \"s\", \"routes\": "
            "[{\"target\": \"a\", \"wen\": 1}]}]}",
            "$.tables[0].routes[0]: unknown key \"wen\"");
        bad("{\"version\": 1, \"tables\": [{\"source\": \"s\", \"target\": "
            "\"t\", \"source\": \"u\"}]}",
            "invalid JSON"); /* duplicate keys are rejected */

        struct mapping *m;
        CHECK(mapping_load("/nonexistent/m.json", &m, err, sizeof(err)) ==
              FERRY_ERR_CONFIG);
        CHECK(strstr(err, "/nonexistent/m.json") != NULL);
}

static void shipped_mapping(void)
{
        struct mapping *m;
        int rc = mapping_load(FERRY_SOURCE_ROOT "/schemas/event_finder.json",
                              &m, err, sizeof(err));
        CHECK(rc == 0);
        if (rc) {
                fprintf(stderr, "%s\n", err);
                return;
        }
        const char *const *s = mapping_sources(m);
        size_t n = 0;
        while (s[n])
                n++;
        CHECK(n == 9);
        CHECK(mapping_has_source(m, "clerk_sync_ticket"));
        mapping_free(m);
}

int main(void)
{
        xalloc_install_jansson();
        apply_features();
        bad_mappings();
        shipped_mapping();
        UNIT_DONE();
}
