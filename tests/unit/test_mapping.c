/* SPDX-License-Identifier: Apache-2.0
 * Mapping: every feature applied to rows, every class of bad mapping
 * reported with the file, the JSON path and what is wrong, the type
 * rule, and the shipped event_finder mapping checked against the shipped
 * DDL (parsed here, so a wrong table or column name fails this test).
 */
#include "common/xalloc.h"
#include "tests/unit/unit.h"
#include "transforms/mapping.h"
#include "transforms/xform_registry.h"

#include <stdlib.h>

#define DATA FERRY_SOURCE_ROOT "/tests/data/mapping/"

static char err[1024];

static json_t *J(const char *text)
{
        json_error_t e;
        json_t *j = json_loads(text, JSON_DECODE_ANY, &e);
        if (!j)
                fprintf(stderr, "bad test JSON %s: %s\n", text, e.text);
        return j;
}

static char *dump(json_t *j)
{
        return json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
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

/* Applies one change; before/after/key are JSON text or NULL. */
static int apply(const struct mapping *m, const char *table, char op,
                 const char *key, const char *before, const char *after,
                 struct mapping_ops *ops)
{
        json_t *k = key ? J(key) : NULL;
        json_t *b = before ? J(before) : NULL;
        json_t *a = after ? J(after) : NULL;
        mapping_ops_clear(ops);
        err[0] = '\0';
        int rc = mapping_apply(m, table, op, k, b, a, ops, err, sizeof(err));
        json_decref(k);
        json_decref(b);
        json_decref(a);
        return rc;
}

static void apply_features(void)
{
        struct mapping *m;
        struct mapping_ops ops;
        int rc = mapping_load(DATA "good.json", &m, err, sizeof(err));
        CHECK(rc == 0);
        if (rc) {
                fprintf(stderr, "%s\n", err);
                return;
        }
        mapping_ops_init(&ops);

        /* No options: every column unchanged. */
        CHECK(apply(m, "plain", 'c', "{\"id\":1}", NULL,
                    "{\"id\":1,\"x\":\"y\",\"n\":null,\"d\":\"1.50\"}",
                    &ops) == 0);
        CHECK(ops.n == 1);
        check_op(&ops.v[0], MAPPING_OP_UPSERT, "t_plain",
                 "{\"d\":\"1.50\",\"id\":1,\"n\":null,\"x\":\"y\"}");

        /* Rename, drop, defaults (booleans as 1/0, only where missing),
         * values by string and by integer, transforms chained in order. */
        CHECK(apply(m, "tk", 'r', "{\"id\":1}", NULL,
                    "{\"id\":1,\"qr\":\"Q\",\"legacy\":7,\"status\":"
                    "\"PAID\",\"email\":\"  Zoë@X.COM \",\"note\":\"\"}",
                    &ops) == 0);
        check_op(&ops.v[0], MAPPING_OP_UPSERT, "tickets",
                 "{\"checked\":0,\"email\":\"zoë@x.com\",\"id\":1,"
                 "\"note\":null,\"qr_data\":\"Q\",\"status\":\"paid\"}");
        CHECK(apply(m, "tk", 'c', "{\"id\":2}", NULL,
                    "{\"id\":2,\"status\":1,\"checked\":1}", &ops) == 0);
        check_op(&ops.v[0], MAPPING_OP_UPSERT, "tickets",
                 "{\"checked\":1,\"id\":2,\"qr_data\":\"unused\","
                 "\"status\":\"one\"}");

        /* Values not in the map pass unchanged; so does NULL. */
        CHECK(apply(m, "tk", 'u', "{\"id\":1}", "{\"id\":1,\"status\":\"NEW\"}",
                    "{\"id\":1,\"status\":\"NEW\",\"email\":null}", &ops) == 0);
        CHECK(ops.n == 1);
        check_op(&ops.v[0], MAPPING_OP_UPSERT, "tickets",
                 "{\"checked\":0,\"email\":null,\"id\":1,"
                 "\"qr_data\":\"unused\",\"status\":\"NEW\"}");

        /* Delete: the key, from the table the row was in. */
        CHECK(apply(m, "tk", 'd', "{\"id\":1}", "{\"id\":1,\"qr\":\"Q\"}", NULL,
                    &ops) == 0);
        CHECK(ops.n == 1);
        check_op(&ops.v[0], MAPPING_OP_DELETE, "tickets", "{\"id\":1}");

        /* A transform that rejects a value is an error naming it. */
        CHECK(apply(m, "tk", 'c', "{\"id\":3}", NULL, "{\"id\":3,\"email\":5}",
                    &ops) == FERRY_ERR_DATA);
        CHECK(strstr(err, "column email") && strstr(err, "trim") &&
              strstr(err, "$.tables[1].transforms[0]"));
        CHECK(ops.n == 0);

        /* Routing: equality (true matches 1), IN, fallback; each route's
         * own options on top of the table's. */
        const char *adm = "{\"id\":1,\"adm\":true,\"kind\":\"a\","
                          "\"user_id\":null}";
        const char *ab = "{\"id\":1,\"adm\":0,\"kind\":\"b\",\"user_id\":4}";
        const char *usr = "{\"id\":1,\"adm\":0,\"kind\":\"z\",\"user_id\":4}";
        CHECK(apply(m, "notif", 'c', "{\"id\":1}", NULL, adm, &ops) == 0);
        check_op(&ops.v[0], MAPPING_OP_UPSERT, "admin_n",
                 "{\"id\":1,\"kind\":\"a\"}");
        CHECK(apply(m, "notif", 'r', "{\"id\":1}", NULL, ab, &ops) == 0);
        check_op(&ops.v[0], MAPPING_OP_UPSERT, "ab_n",
                 "{\"ab_kind\":\"b\",\"id\":1,\"user_id\":4}");
        CHECK(apply(m, "notif", 'c', "{\"id\":1}", NULL, usr, &ops) == 0);
        check_op(&ops.v[0], MAPPING_OP_UPSERT, "user_n",
                 "{\"id\":1,\"kind\":\"z\",\"user_id\":4}");

        /* An update inside one route is one upsert. */
        CHECK(apply(m, "notif", 'u', "{\"id\":1}", usr,
                    "{\"id\":1,\"adm\":0,\"kind\":\"y\",\"user_id\":4}",
                    &ops) == 0);
        CHECK(ops.n == 1);
        check_op(&ops.v[0], MAPPING_OP_UPSERT, "user_n",
                 "{\"id\":1,\"kind\":\"y\",\"user_id\":4}");

        /* An update that moves the row: delete from old, create in new. */
        CHECK(apply(m, "notif", 'u', "{\"id\":1}", ab, usr, &ops) == 0);
        CHECK(ops.n == 2);
        check_op(&ops.v[0], MAPPING_OP_DELETE, "ab_n", "{\"id\":1}");
        check_op(&ops.v[1], MAPPING_OP_UPSERT, "user_n",
                 "{\"id\":1,\"kind\":\"z\",\"user_id\":4}");
        CHECK(apply(m, "notif", 'u', "{\"id\":1}", usr, adm, &ops) == 0);
        CHECK(ops.n == 2);
        check_op(&ops.v[0], MAPPING_OP_DELETE, "user_n", "{\"id\":1}");
        check_op(&ops.v[1], MAPPING_OP_UPSERT, "admin_n",
                 "{\"id\":1,\"kind\":\"a\"}");

        /* A delete goes to the route the before image matched. */
        CHECK(apply(m, "notif", 'd', "{\"id\":1}", adm, NULL, &ops) == 0);
        check_op(&ops.v[0], MAPPING_OP_DELETE, "admin_n", "{\"id\":1}");

        /* No route: an error naming the table, never a silent drop. A
         * missing column is NULL for "when". */
        CHECK(apply(m, "strict", 'c', "{\"k\":2}", NULL, "{\"k\":2}", &ops) ==
              FERRY_ERR_DATA);
        CHECK(strstr(err, "strict") && strstr(err, "no route") &&
              strstr(err, "$.tables[3]"));
        CHECK(ops.n == 0);
        CHECK(apply(m, "strict", 'c', "{\"k\":1}", NULL, "{\"k\":1}", &ops) ==
              0);
        check_op(&ops.v[0], MAPPING_OP_UPSERT, "one", "{\"k\":1}");
        CHECK(apply(m, "strict", 'u', "{\"k\":1}", "{\"k\":1}",
                    "{\"k\":1,\"z\":\"q\"}", &ops) == FERRY_ERR_DATA);
        CHECK(strstr(err, "after row matches no route") != NULL);
        CHECK(ops.n == 0);

        /* Non-trivial transforms: concat over dropped columns, json_get
         * into a new column, with a default, an array index, and a
         * sub-object as JSON text; the key renamed. */
        CHECK(apply(m, "profile", 'c', "{\"id\":9}", NULL,
                    "{\"id\":9,\"first\":\"Adébáyọ̀\",\"last\":null,"
                    "\"meta\":\"{\\\"address\\\": {\\\"zip\\\": 1, "
                    "\\\"ok\\\": true}, \\\"tags\\\": [\\\"vip\\\"]}\"}",
                    &ops) == 0);
        check_op(&ops.v[0], MAPPING_OP_UPSERT, "people",
                 "{\"city\":\"?\",\"full_name\":\"Adébáyọ̀\","
                 "\"meta\":\"{\\\"zip\\\":1,\\\"ok\\\":true}\","
                 "\"person_id\":9,\"tag0\":\"vip\"}");
        CHECK(apply(m, "profile", 'c', "{\"id\":9}", NULL,
                    "{\"id\":9,\"first\":\"Łukasz\",\"last\":\"K\","
                    "\"meta\":\"{\\\"address\\\":{\\\"city\\\":\\\"Lagos"
                    "\\\"}}\"}",
                    &ops) == 0);
        check_op(&ops.v[0], MAPPING_OP_UPSERT, "people",
                 "{\"city\":\"Lagos\",\"full_name\":\"Łukasz K\","
                 "\"meta\":\"{\\\"city\\\":\\\"Lagos\\\"}\","
                 "\"person_id\":9,\"tag0\":null}");
        CHECK(apply(m, "profile", 'c', "{\"id\":9}", NULL,
                    "{\"id\":9,\"first\":null,\"meta\":null}", &ops) == 0);
        check_op(&ops.v[0], MAPPING_OP_UPSERT, "people",
                 "{\"city\":null,\"full_name\":null,\"meta\":null,"
                 "\"person_id\":9,\"tag0\":null}");
        CHECK(apply(m, "profile", 'c', "{\"id\":9}", NULL,
                    "{\"id\":9,\"meta\":\"{nope\"}", &ops) == FERRY_ERR_DATA);
        CHECK(strstr(err, "json_get") && strstr(err, "not JSON"));
        CHECK(apply(m, "profile", 'd', "{\"id\":9}", "{\"id\":9}", NULL,
                    &ops) == 0);
        check_op(&ops.v[0], MAPPING_OP_DELETE, "people", "{\"person_id\":9}");

        /* Primary key changes: the old target row is deleted. Composite
         * key, renamed, and a key column through a value map. */
        const char *k = "{\"a\":1,\"b\":2}";
        CHECK(apply(m, "coded", 'u', k, "{\"a\":1,\"b\":2,\"v\":0}",
                    "{\"a\":1,\"b\":3,\"v\":0}", &ops) == 0);
        CHECK(ops.n == 2);
        check_op(&ops.v[0], MAPPING_OP_DELETE, "coded_t", "{\"b\":2,\"x\":1}");
        check_op(&ops.v[1], MAPPING_OP_UPSERT, "coded_t",
                 "{\"b\":3,\"v\":0,\"x\":1}");
        CHECK(apply(m, "coded", 'u', k, "{\"a\":1,\"b\":1,\"v\":0}",
                    "{\"a\":1,\"b\":1,\"v\":5}", &ops) == 0);
        CHECK(ops.n == 1);
        check_op(&ops.v[0], MAPPING_OP_UPSERT, "coded_t",
                 "{\"b\":100,\"v\":5,\"x\":1}");
        CHECK(apply(m, "coded", 'd', "{\"a\":1,\"b\":1}",
                    "{\"a\":1,\"b\":1,\"v\":5}", NULL, &ops) == 0);
        check_op(&ops.v[0], MAPPING_OP_DELETE, "coded_t",
                 "{\"b\":100,\"x\":1}");

        /* Missing images and unknown ops are errors, not guesses. */
        CHECK(apply(m, "coded", 'u', k, NULL, "{\"a\":1}", &ops) ==
              FERRY_ERR_DATA);
        CHECK(strstr(err, "before image") != NULL);
        CHECK(apply(m, "coded", 'c', k, NULL, NULL, &ops) == FERRY_ERR_DATA);
        CHECK(apply(m, "coded", 'x', k, NULL, "{\"a\":1}", &ops) ==
              FERRY_ERR_DATA);
        CHECK(apply(m, "coded", 'd', NULL, "{\"a\":1}", NULL, &ops) ==
              FERRY_ERR_DATA);
        CHECK(apply(m, "coded", 'd', "{\"q\":1}", "{\"a\":1}", NULL, &ops) ==
              FERRY_ERR_DATA);
        CHECK(strstr(err, "primary-key column q is missing") != NULL);

        /* Tables that are not mapped produce nothing. */
        CHECK(apply(m, "other", 'c', k, NULL, "{\"a\":1}", &ops) == 0);
        CHECK(ops.n == 0);

        /* Lookups. */
        CHECK(mapping_has_source(m, "tk") && !mapping_has_source(m, "zz"));
        const char *const *t = mapping_targets(m);
        size_t n = 0;
        while (t[n])
                n++;
        CHECK(n == 8);
        for (n = 0; mapping_sources(m)[n]; n++)
                ;
        CHECK(n == 6);
        t = mapping_source_targets(m, "notif");
        CHECK(t && t[0] && t[1] && t[2] && !t[3]);
        if (t && t[0] && t[1] && t[2]) {
                CHECK_STR(t[0], "admin_n");
                CHECK_STR(t[2], "user_n");
        }
        CHECK(mapping_source_targets(m, "zz") == NULL);

        mapping_ops_clear(&ops);
        mapping_free(m);
}

/* Expects loading fixture file to fail with a message that names the
 * file and contains want (the JSON path and the problem). */
static void bad_file(const char *file, const char *want)
{
        char path[512];
        struct mapping *m;
        snprintf(path, sizeof(path), "%s%s", DATA, file);
        int rc = mapping_load(path, &m, err, sizeof(err));
        CHECK(rc == FERRY_ERR_CONFIG);
        CHECK(m == NULL);
        mapping_free(m);
        if (strncmp(err, path, strlen(path)) || !strstr(err, want))
                fprintf(stderr, "%s: error '%s' lacks '%s'\n", file, err, want);
        CHECK(strncmp(err, path, strlen(path)) == 0);
        CHECK(strstr(err, want) != NULL);
}

static void bad_mappings(void)
{
        bad_file("bad_json.json", ":2:");
        bad_file("bad_json.json", "invalid JSON");
        bad_file("bad_duplicate_key.json", "duplicate object key");
        bad_file("bad_version.json", "$.version: must be 1");
        bad_file("bad_tables_empty.json", "$.tables: must be a non-empty");
        bad_file("bad_unknown_key.json", "$.tables[1]: unknown key \"renam\"");
        bad_file("bad_rename_type.json",
                 "$.tables[0].rename.qr: the new name must be a non-empty");
        bad_file("bad_empty_target.json",
                 "$.tables[0].target: must be a non-empty table name");
        bad_file("bad_target_and_routes.json",
                 "$.tables[0]: needs exactly one of \"target\" and "
                 "\"routes\"");
        bad_file("bad_duplicate_source.json",
                 "$.tables[2]: source table \"a\" is mapped twice (also "
                 "$.tables[0])");
        bad_file("bad_rename_drop.json",
                 "$.tables[0]: column \"x\" is both renamed and dropped");
        bad_file("bad_route_rename_drop.json",
                 "$.tables[0].routes[1]: column \"x\" is both renamed and "
                 "dropped");
        bad_file("bad_rename_collision.json",
                 "$.tables[0]: columns \"x\" and \"y\" are both renamed to "
                 "\"z\"");
        bad_file("bad_drop_type.json",
                 "$.tables[0].drop[1]: must be a column name");
        bad_file("bad_defaults.json",
                 "$.tables[0].defaults.tags: must be a constant");
        bad_file("bad_values.json",
                 "$.tables[0].values.status: \"PAID\" must map to a "
                 "constant");
        bad_file("bad_values_dropped.json",
                 "$.tables[0]: column \"status\" has a value map but is "
                 "dropped");
        bad_file("bad_unknown_fn.json",
                 "$.tables[0].transforms[1]: unknown transform "
                 "\"lowercas\" (known: lowercase, uppercase, trim, "
                 "null_if_empty, json_get, concat)");
        bad_file("bad_fn_missing_arg.json",
                 "$.tables[0].transforms[0]: transform json_get needs "
                 "\"path\"");
        bad_file("bad_fn_unknown_arg.json",
                 "$.tables[0].transforms[0]: unknown key \"paht\" for "
                 "transform json_get");
        bad_file("bad_fn_bad_arg.json",
                 "$.tables[0].transforms[0]: \"path\": cannot parse "
                 "\"$.a[x]\"");
        bad_file("bad_transform_dropped.json",
                 "$.tables[0].transforms[0]: column \"x\" is dropped");
        bad_file("bad_after_fallback.json",
                 "$.tables[0].routes[2]: can never match: routes[1] has no "
                 "\"when\"");
        bad_file("bad_shadowed.json",
                 "$.tables[0].routes[1].when: can never match: every row "
                 "it matches is taken by routes[0] first");
        bad_file("bad_when_type.json",
                 "$.tables[0].routes[0].when.status[1]: must be a plain "
                 "value");
        bad_file("bad_when_empty.json",
                 "$.tables[0].routes[0].when: must be a non-empty object");
        bad_file("bad_route_unknown_key.json",
                 "$.tables[0].routes[0]: unknown key \"wen\"");
        bad_file("bad_route_target.json",
                 "$.tables[0].routes[1].target: must be a non-empty table "
                 "name");

        /* A few more shapes, from text. */
        static const struct {
                const char *text, *want;
        } inline_cases[] = {
                {"[]", "m.json: $: must be an object"},
                {"{\"version\": 1, \"tables\": [], \"x\": 1}",
                 "m.json: $: unknown key \"x\""},
                {"{\"version\": 1, \"tables\": [{\"target\": \"t\"}]}",
                 "m.json: $.tables[0].source: must be a non-empty"},
                {"{\"version\": 1, \"tables\": [7]}",
                 "m.json: $.tables[0]: must be an object"},
                {"{\"version\": 1, \"tables\": [{\"source\": \"s\", "
                 "\"target\": \"t\", \"transforms\": {}}]}",
                 "m.json: $.tables[0].transforms: must be an array"},
                {"{\"version\": 1, \"tables\": [{\"source\": \"s\", "
                 "\"target\": \"t\", \"transforms\": [{\"column\": \"c\", "
                 "\"fn\": \"concat\", \"columns\": []}]}]}",
                 "m.json: $.tables[0].transforms[0]: \"columns\" must be a "
                 "non-empty array"},
                {"{\"version\": 1, \"tables\": [{\"source\": \"s\", "
                 "\"target\": \"t\", \"transforms\": [{\"column\": \"c\", "
                 "\"fn\": \"trim\", \"from\": 3}]}]}",
                 "m.json: $.tables[0].transforms[0].from: must be a column"},
                {"{\"version\": 1, \"tables\": [{\"source\": \"s\", "
                 "\"target\": \"t\", \"values\": {\"st\": [1]}}]}",
                 "m.json: $.tables[0].values.st: must map source values"},
                {"{\"version\": 1, \"tables\": [{\"source\": \"s\", "
                 "\"routes\": [{\"when\": {\"x\": {}}, \"target\": "
                 "\"a\"}]}]}",
                 "m.json: $.tables[0].routes[0].when: \"x\" must be a "
                 "value"},
                {"{\"version\": 1, \"tables\": [{\"source\": \"s\", "
                 "\"routes\": [{\"when\": {\"x\": 1}, \"target\": \"a\"}, "
                 "{\"when\": {\"x\": [2, 1]}, \"target\": \"b\"}, "
                 "{\"when\": {\"x\": 1}, \"target\": \"c\"}]}]}",
                 "m.json: $.tables[0].routes[2].when: can never match"},
                {"{\"version\": 1, \"tables\": [{\"source\": \"s\", "
                 "\"target\": \"t\\u0000x\"}]}",
                 "m.json:1:62: invalid JSON: \\u0000 is not allowed"},
        };
        for (size_t i = 0; i < sizeof(inline_cases) / sizeof(*inline_cases);
             i++) {
                struct mapping *m;
                int rc = mapping_parse(inline_cases[i].text, "m.json", &m, err,
                                       sizeof(err));
                CHECK(rc == FERRY_ERR_CONFIG && m == NULL);
                mapping_free(m);
                if (!strstr(err, inline_cases[i].want))
                        fprintf(stderr, "error '%s' lacks '%s'\n", err,
                                inline_cases[i].want);
                CHECK(strstr(err, inline_cases[i].want) != NULL);
        }

        /* Routes that overlap only partly are fine. */
        struct mapping *m;
        CHECK(mapping_parse("{\"version\": 1, \"tables\": [{\"source\": "
                            "\"s\", \"routes\": [{\"when\": {\"x\": 1, "
                            "\"y\": 2}, \"target\": \"a\"}, {\"when\": "
                            "{\"x\": [1, 2]}, \"target\": \"b\"}]}]}",
                            "m.json", &m, err, sizeof(err)) == 0);
        mapping_free(m);

        CHECK(mapping_load("/nonexistent/m.json", &m, err, sizeof(err)) ==
              FERRY_ERR_CONFIG);
        CHECK(strstr(err, "/nonexistent/m.json") != NULL);
}

static void type_rule(void)
{
        static const struct {
                const char *src, *dst;
                bool fits;
                const char *why;
        } cases[] = {
                {"bigint(20)", "bigint(20)", true, NULL},
                {"int(11)", "bigint(20)", true, NULL},
                {"bigint(20)", "int(11)", false, "range is narrower"},
                {"int(10) unsigned", "int(11)", false, "wider signed"},
                {"int(10) unsigned", "bigint(20)", true, NULL},
                {"int(11)", "int(10) unsigned", false, "negative"},
                {"tinyint(1)", "boolean", true, NULL},
                {"int(11)", "decimal(10,0)", true, NULL},
                {"int(11)", "decimal(10,2)", false, "8 integer digits"},
                {"decimal(10,2)", "decimal(12,2)", true, NULL},
                {"decimal(10,2)", "decimal(10,3)", false, "integer digits"},
                {"decimal(10,2)", "decimal(11,3)", true, NULL},
                {"decimal(12,2)", "decimal(12,1)", false, "scale 1"},
                {"decimal(9,6)", "decimal(9,6)", true, NULL},
                {"float", "double", true, NULL},
                {"double", "float", false, "precision"},
                {"varchar(100)", "varchar(255)", true, NULL},
                {"varchar(255)", "varchar(100)", false, "100 characters"},
                {"char(32)", "varchar(32)", true, NULL},
                {"varchar(255)", "tinytext", false, "bytes"},
                {"varchar(255)", "text", true, NULL},
                {"longtext", "longtext", true, NULL},
                {"longtext", "json", true, NULL},
                {"text", "varchar(16383)", false, "characters"},
                {"varbinary(16)", "blob", true, NULL},
                {"blob", "varbinary(100)", false, "bytes"},
                {"datetime(6)", "datetime(6)", true, NULL},
                {"datetime(6)", "datetime", false, "fractional"},
                {"timestamp(3)", "datetime(6)", true, NULL},
                {"datetime", "timestamp", false, "different kinds"},
                {"date", "datetime", true, NULL},
                {"time(6)", "time(6)", true, NULL},
                {"enum('a','b')", "enum('b','a','c')", true, NULL},
                {"enum('a','it''s')", "enum('a')", false, "value 'it's'"},
                {"enum('a','bbb')", "varchar(3)", true, NULL},
                {"enum('a','bbbb')", "varchar(3)", false, "longer"},
                {"set('x','y')", "varchar(3)", true, NULL},
                {"varchar(10)", "int(11)", false, "string vs integer"},
                {"int(11)", "varchar(20)", false, "integer vs string"},
                {"uuid", "uuid", true, NULL},
                {"uuid", "inet6", false, "uuid vs inet6"},
                {"bit(8)", "bit(4)", false, "4 bits"},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
                char why[256] = "";
                bool fits = mapping_type_fits(cases[i].src, cases[i].dst, why,
                                              sizeof(why));
                if (fits != cases[i].fits ||
                    (cases[i].why && !strstr(why, cases[i].why)))
                        fprintf(stderr, "%s -> %s: %d '%s'\n", cases[i].src,
                                cases[i].dst, fits, why);
                CHECK(fits == cases[i].fits);
                CHECK(!cases[i].why || strstr(why, cases[i].why));
        }
}

/* ---- table descriptions from the shipped DDL ----------------------- */

#define MAX_TABLES 16
#define MAX_COLS   40

struct ddl {
        struct mapping_table_desc t[MAX_TABLES];
        struct mapping_column c[MAX_TABLES][MAX_COLS];
        size_t n;
};

/* Reads the CREATE TABLE statements of a mariadb-dump file: one column
 * a line ("  `name` type [NOT NULL] [DEFAULT ...] ..."), then PRIMARY
 * KEY. Enough for the shipped DDL, not a SQL parser. */
static void ddl_load(const char *path, struct ddl *d)
{
        FILE *f = fopen(path, "r");
        char line[1024];
        struct mapping_table_desc *t = NULL;
        static const char *const ends[] = {
                " NOT NULL",       " NULL",  " DEFAULT",
                " AUTO_INCREMENT", " CHECK", " CHARACTER SET",
                " COLLATE",        ",\n",    "\n",
        };

        memset(d, 0, sizeof(*d));
        CHECK(f != NULL);
        if (!f)
                return;
        while (fgets(line, sizeof(line), f)) {
                char *s;
                if (!strncmp(line, "CREATE TABLE `", 14) && d->n < MAX_TABLES) {
                        t = &d->t[d->n];
                        t->cols = d->c[d->n++];
                        s = strchr(line + 14, '`');
                        t->name = xstrndup(line + 14, (size_t)(s - line - 14));
                } else if (t && !strncmp(line, "  `", 3) &&
                           t->ncols < MAX_COLS) {
                        struct mapping_column *c = &d->c[t - d->t][t->ncols++];
                        s = strchr(line + 3, '`');
                        c->name = xstrndup(line + 3, (size_t)(s - line - 3));
                        const char *type = s + 2;
                        size_t n = strlen(type);
                        for (size_t e = 0; e < sizeof(ends) / sizeof(*ends);
                             e++) {
                                const char *x = strstr(type, ends[e]);
                                if (x && (size_t)(x - type) < n)
                                        n = (size_t)(x - type);
                        }
                        c->type = xstrndup(type, n);
                        c->not_null = strstr(s, " NOT NULL") != NULL;
                        c->has_default = strstr(s, " DEFAULT ") ||
                                         strstr(s, " AUTO_INCREMENT");
                } else if (t && !strncmp(line, "  PRIMARY KEY (", 15)) {
                        for (size_t i = 0; i < t->ncols; i++) {
                                char q[200];
                                snprintf(q, sizeof(q), "`%s`", t->cols[i].name);
                                if (strstr(line, q))
                                        d->c[t - d->t][i].primary_key = true;
                        }
                } else if (!strncmp(line, ")", 1)) {
                        t = NULL;
                }
        }
        fclose(f);
}

static void ddl_free(struct ddl *d)
{
        for (size_t i = 0; i < d->n; i++) {
                free((char *)d->t[i].name);
                for (size_t c = 0; c < d->t[i].ncols; c++) {
                        free((char *)d->c[i][c].name);
                        free((char *)d->c[i][c].type);
                }
        }
}

struct problems {
        size_t n;
        char all[8192];
};

static void collect(void *ctx, const char *problem)
{
        struct problems *p = ctx;
        size_t len = strlen(p->all);
        p->n++;
        snprintf(p->all + len, sizeof(p->all) - len, "%s\n", problem);
}

/* Validates mapping text against the shipped DDL. */
static int validate_text(const char *text, const struct ddl *src,
                         const struct ddl *dst, struct problems *p)
{
        struct mapping *m;
        memset(p, 0, sizeof(*p));
        if (mapping_parse(text, "ef.json", &m, err, sizeof(err))) {
                fprintf(stderr, "%s\n", err);
                return -100;
        }
        int rc = mapping_validate(m, src->t, src->n, dst->t, dst->n, collect, p,
                                  err, sizeof(err));
        mapping_free(m);
        return rc;
}

static char *slurp(const char *path)
{
        FILE *f = fopen(path, "r");
        static char text[65536];
        size_t n = f ? fread(text, 1, sizeof(text) - 1, f) : 0;
        text[n] = '\0';
        if (f)
                fclose(f);
        return text;
}

/* Replaces the first occurrence of from in text (static result). */
static const char *edit(const char *text, const char *from, const char *to)
{
        static char out[65536];
        const char *at = strstr(text, from);
        CHECK(at != NULL);
        if (!at)
                return text;
        snprintf(out, sizeof(out), "%.*s%s%s", (int)(at - text), text, to,
                 at + strlen(from));
        return out;
}

static void shipped_mapping(void)
{
        static struct ddl src, dst;
        struct problems p;
        struct mapping *m;
        const char *path = FERRY_SOURCE_ROOT "/schemas/event_finder.json";

        ddl_load(FERRY_SOURCE_ROOT "/schemas/event_finder/clerk_sync.sql",
                 &src);
        ddl_load(FERRY_SOURCE_ROOT "/schemas/event_finder/new.sql", &dst);
        CHECK(src.n == 9);
        CHECK(dst.n == 10);

        int rc = mapping_load(path, &m, err, sizeof(err));
        CHECK(rc == 0);
        if (rc) {
                fprintf(stderr, "%s\n", err);
                return;
        }
        size_t n = 0;
        while (mapping_sources(m)[n])
                n++;
        CHECK(n == 9);
        memset(&p, 0, sizeof(p));
        rc = mapping_validate(m, src.t, src.n, dst.t, dst.n, collect, &p, err,
                              sizeof(err));
        CHECK(rc == 0);
        if (rc)
                fprintf(stderr, "%s", p.all);
        mapping_free(m);

        /* Every source table maps onto the target of the same shape: a
         * column added on one side only would show up here. */
        for (size_t i = 0; i < src.n; i++) {
                const char *name = src.t[i].name;
                const char *const *t = NULL;
                CHECK(mapping_load(path, &m, err, sizeof(err)) == 0);
                if (m)
                        t = mapping_source_targets(m, name);
                CHECK(t && t[0] && !t[1]);
                for (size_t j = 0; t && t[0] && j < dst.n; j++) {
                        if (strcmp(dst.t[j].name, t[0]))
                                continue;
                        CHECK(dst.t[j].ncols == src.t[i].ncols);
                        for (size_t c = 0;
                             c < src.t[i].ncols && c < dst.t[j].ncols; c++) {
                                CHECK_STR(dst.t[j].cols[c].name,
                                          src.t[i].cols[c].name);
                                CHECK_STR(dst.t[j].cols[c].type,
                                          src.t[i].cols[c].type);
                        }
                }
                mapping_free(m);
        }

        /* Wrong names fail, naming what is wrong. */
        const char *text = slurp(path);
        CHECK(validate_text(text, &src, &dst, &p) == 0 && p.n == 0);

        CHECK(validate_text(
                      edit(text, "\"tickets_ticket\"", "\"tickets_tickets\""),
                      &src, &dst, &p) == FERRY_ERR_CONFIG);
        CHECK(p.n == 1 && strstr(p.all, "ef.json: $.tables[3]: target "
                                        "table tickets_tickets (fed by "
                                        "clerk_sync_ticket) does not "
                                        "exist"));
        CHECK(strstr(err, "tickets_tickets") != NULL);

        CHECK(validate_text(edit(text, "\"clerk_sync_payment\"",
                                 "\"clerk_sync_payments\""),
                            &src, &dst, &p) == FERRY_ERR_CONFIG);
        CHECK(strstr(p.all, "source table clerk_sync_payments does not "
                            "exist") != NULL);

        CHECK(validate_text(edit(text, "\"target\": \"tickets_ticket\"",
                                 "\"target\": \"tickets_ticket\", "
                                 "\"rename\": {\"qr_code\": \"qr_data\"}"),
                            &src, &dst, &p) == FERRY_ERR_CONFIG);
        CHECK(strstr(p.all, "clerk_sync_ticket.qr_code longtext -> "
                            "tickets_ticket.qr_data: no such column") &&
              strstr(p.all, "tickets_ticket.qr_code longtext is NOT NULL "
                            "without a default, and nothing from "
                            "clerk_sync_ticket feeds it"));
        CHECK(p.n == 2);
        CHECK(strstr(err, "(and 1 more problems)") != NULL);

        CHECK(validate_text(edit(text, "\"target\": \"tickets_ticket\"",
                                 "\"target\": \"tickets_ticket\", "
                                 "\"drop\": [\"id\", \"stauts\"]"),
                            &src, &dst, &p) == FERRY_ERR_CONFIG);
        CHECK(strstr(p.all, "primary-key column clerk_sync_ticket.id is "
                            "dropped") &&
              strstr(p.all, "$.tables[3].drop: source table "
                            "clerk_sync_ticket has no column stauts"));

        /* A source onto the wrong target: columns no longer fit. */
        CHECK(validate_text(edit(text, "\"target\": \"saved_savedevent\"",
                                 "\"target\": "
                                 "\"calendar_app_calendarevent\""),
                            &src, &dst, &p) == FERRY_ERR_CONFIG);
        CHECK(strstr(p.all, "clerk_sync_savedevent.saved_at datetime(6) -> "
                            "calendar_app_calendarevent.saved_at: no such "
                            "column in the target") &&
              strstr(p.all, "calendar_app_calendarevent.note varchar(255) "
                            "is NOT NULL without a default"));
        ddl_free(&src);
        ddl_free(&dst);
}

/* Checks against hand-written descriptions: types, NULLs, keys, when,
 * transforms that create columns. */
static void validate_rules(void)
{
        static const struct mapping_column s_cols[] = {
                {"id", "bigint(20)", true, true, true},
                {"price", "decimal(10,2)", true, false, false},
                {"name", "varchar(255)", false, false, false},
                {"kind", "varchar(10)", true, false, false},
                {"meta", "longtext", true, false, false},
                {"code", "int(11)", true, false, false},
        };
        static const struct mapping_column d_cols[] = {
                {"id", "bigint(20)", true, true, true},
                {"price", "decimal(8,2)", true, false, false},
                {"title", "varchar(100)", true, false, false},
                {"kind", "varchar(10)", true, false, false},
                {"city", "varchar(50)", false, false, false},
                {"code", "varchar(5)", true, false, false},
                {"created", "datetime(6)", true, false, false},
                {"flag", "tinyint(1)", true, true, false},
        };
        static const struct mapping_table_desc s = {"s", s_cols, 6};
        static const struct mapping_table_desc d = {"d", d_cols, 8};
        struct mapping *m;
        struct problems p;

        CHECK(mapping_parse("{\"version\": 1, \"tables\": [{\"source\": \"s\", "
                            "\"target\": \"d\", \"rename\": {\"name\": "
                            "\"title\"}, \"drop\": [\"meta\"], \"values\": "
                            "{\"code\": {\"1\": \"one\"}}, \"transforms\": "
                            "[{\"column\": \"city\", \"fn\": \"json_get\", "
                            "\"from\": \"meta\", \"path\": \"$.c\"}, "
                            "{\"column\": \"kind\", \"fn\": \"concat\", "
                            "\"columns\": [\"kind\", \"nope\"]}]}]}",
                            "v.json", &m, err, sizeof(err)) == 0);
        memset(&p, 0, sizeof(p));
        CHECK(mapping_validate(m, &s, 1, &d, 1, collect, &p, err,
                               sizeof(err)) == FERRY_ERR_CONFIG);
        /* Each problem names the tables, column and both types. */
        CHECK(strstr(p.all, "v.json: $.tables[0]: s.price decimal(10,2) -> "
                            "d.price decimal(8,2): target has 6 integer "
                            "digits, source 8") != NULL);
        CHECK(strstr(p.all, "s.name varchar(255) -> d.title varchar(100): "
                            "target holds 100 characters") != NULL);
        CHECK(strstr(p.all, "s.name varchar(255) is nullable but d.title "
                            "varchar(100) is NOT NULL") != NULL);
        CHECK(strstr(p.all, "d.created datetime(6) is NOT NULL without a "
                            "default, and nothing from s feeds it") != NULL);
        CHECK(strstr(p.all, "$.tables[0].transforms[1]: source table s has "
                            "no column nope") != NULL);
        /* code goes through a value map: its type is not compared. */
        CHECK(strstr(p.all, "s.code") == NULL);
        CHECK(strstr(p.all, "city") == NULL);
        CHECK(p.n == 5);
        if (p.n != 5)
                fprintf(stderr, "%s", p.all);
        CHECK(strncmp(err, "v.json: ", 8) == 0 &&
              strstr(err, "(and 4 more problems)"));
        mapping_free(m);

        /* A created column missing in the target, a default for a missing
         * column, a key renamed away from the target's key, a when on a
         * missing column, two feeds of one column; NULL report is fine. */
        CHECK(mapping_parse("{\"version\": 1, \"tables\": [{\"source\": \"s\", "
                            "\"routes\": [{\"when\": {\"knd\": 1}, \"target\": "
                            "\"d\", \"rename\": {\"id\": \"code\", \"code\": "
                            "\"id\"}}, {\"target\": \"d\", \"rename\": "
                            "{\"name\": \"kind\"}}], \"defaults\": {\"zz\": 1, "
                            "\"created\": \"2020-01-01\"}, \"transforms\": "
                            "[{\"column\": \"full\", \"fn\": \"concat\", "
                            "\"columns\": [\"name\"]}]}]}",
                            "w.json", &m, err, sizeof(err)) == 0);
        memset(&p, 0, sizeof(p));
        CHECK(mapping_validate(m, &s, 1, &d, 1, collect, &p, err,
                               sizeof(err)) == FERRY_ERR_CONFIG);
        CHECK(strstr(p.all, "$.tables[0].routes[0].when: source table s "
                            "has no column knd") != NULL);
        CHECK(strstr(p.all, "concat creates d.full: no such column") != NULL);
        CHECK(strstr(p.all, "defaults: d has no column zz") != NULL);
        CHECK(strstr(p.all,
                     "the primary key of s (code) after the "
                     "mapping is not the primary key of d (id)") != NULL);
        CHECK(strstr(p.all, "d.kind is fed twice (s.name and s.kind)") != NULL);
        CHECK(strstr(p.all, "d.created") == NULL);
        CHECK(mapping_validate(m, &s, 1, &d, 1, NULL, NULL, err, sizeof(err)) ==
              FERRY_ERR_CONFIG);
        mapping_free(m);

        /* A NOT NULL target fed by a nullable column is fine when the
         * route's "when" admits no NULL. */
        static const struct mapping_column e_cols[] = {
                {"id", "bigint(20)", true, true, true},
                {"label", "varchar(255)", true, true, false},
        };
        static const struct mapping_table_desc e = {"e", e_cols, 2};
        const char *routed =
                "{\"version\": 1, \"tables\": [{\"source\": \"s\", "
                "\"drop\": [\"meta\", \"price\", \"code\", \"kind\"], "
                "\"routes\": [{\"when\": {\"name\": [\"a\", \"b\"]}, "
                "\"target\": \"e\", \"rename\": {\"name\": "
                "\"label\"}}, {\"target\": \"e\", \"drop\": "
                "[\"name\"]}]}]}";
        CHECK(mapping_parse(routed, "x.json", &m, err, sizeof(err)) == 0);
        memset(&p, 0, sizeof(p));
        CHECK(mapping_validate(m, &s, 1, &e, 1, collect, &p, err,
                               sizeof(err)) == 0);
        if (p.n)
                fprintf(stderr, "%s", p.all);
        mapping_free(m);
        CHECK(mapping_parse(edit(routed, "\"a\", \"b\"", "\"a\", null"),
                            "x.json", &m, err, sizeof(err)) == 0);
        memset(&p, 0, sizeof(p));
        CHECK(mapping_validate(m, &s, 1, &e, 1, collect, &p, err,
                               sizeof(err)) == FERRY_ERR_CONFIG);
        CHECK(p.n == 1 && strstr(p.all, "x.json: $.tables[0].routes[0]: "
                                        "s.name varchar(255) is nullable "
                                        "but e.label varchar(255) is NOT "
                                        "NULL"));
        mapping_free(m);
}

static void registry(void)
{
        /* Every transform is documented and found by name. */
        size_t n = 0;
        for (const struct xform_def *d = xform_all(); d->name; d++, n++) {
                CHECK(d->fn && d->doc && d->doc[0]);
                CHECK(xform_find(d->name) == d);
        }
        CHECK(n >= 6);
        CHECK(xform_find("nope") == NULL);

        char why[128];
        json_t *v = json_string("x"), *row = json_object(),
               *args = J("{\"path\": \"$\"}");
        json_t *r = xform_find("json_get")->fn(v, row, args, why, sizeof(why));
        CHECK(r == NULL && strstr(why, "not JSON"));
        json_decref(v);
        v = json_string("[1, 2.5, false]");
        json_decref(args);
        args = J("{\"path\": \"[1]\"}");
        r = xform_find("json_get")->fn(v, row, args, why, sizeof(why));
        CHECK(json_is_real(r) && json_real_value(r) == 2.5);
        json_decref(r);
        json_decref(args);
        args = J("{\"path\": \"$[2]\"}");
        r = xform_find("json_get")->fn(v, row, args, why, sizeof(why));
        CHECK(json_is_integer(r) && json_integer_value(r) == 0);
        json_decref(r);
        json_decref(args);
        args = J("{\"columns\": [\"a\", \"b\", \"c\"], \"separator\": "
                 "\"-\"}");
        json_object_set_new(row, "a", json_integer(-7));
        json_object_set_new(row, "b", json_real(0.5));
        json_object_set_new(row, "c", json_string(""));
        r = xform_find("concat")->fn(json_null(), row, args, why, sizeof(why));
        CHECK_STR(json_string_value(r), "-7-0.5-");
        json_decref(r);
        json_decref(args);
        json_decref(v);
        json_decref(row);
}

int main(void)
{
        xalloc_install_jansson();
        apply_features();
        bad_mappings();
        type_rule();
        shipped_mapping();
        validate_rules();
        registry();
        UNIT_DONE();
}
