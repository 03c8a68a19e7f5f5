/* SPDX-License-Identifier: Apache-2.0
 * Unit test for the verify planner: the checksum SQL built from a
 * mapping (renames, value maps, defaults, routes, transforms) and from
 * hostile names. No server: a bare MYSQL handle only escapes literals.
 */
#include "common/buf.h"
#include "common/xalloc.h"
#include "connectors/verify_plan.h"
#include "tests/unit/unit.h"

#include <stdlib.h>
#include <string.h>

#define COL(n, t)                                                              \
        {                                                                      \
                (char *)(n), (char *)(t)                                       \
        }

static struct verify_column src_cols[] = {
        COL("id", "bigint(20)"),      COL("status", "varchar(20)"),
        COL("qr_code", "longtext"),   COL("legacy", "tinyint(1)"),
        COL("price", "decimal(8,2)"), COL("email", "varchar(254)"),
        COL("kind", "int(11)"),
};
static size_t src_pk[] = {0};
static struct verify_table src = {(char *)"s", src_cols, 7, src_pk, 1};

static struct verify_column dst_cols[] = {
        COL("id", "bigint(20)"),         COL("status", "varchar(20)"),
        COL("qr_code_data", "longtext"), COL("price", "decimal(10,3)"),
        COL("email", "varchar(254)"),    COL("kind", "int(11)"),
        COL("checked_in", "tinyint(1)"), COL("fee", "decimal(6,2)"),
        COL("created", "datetime(6)"),
};
static size_t dst_pk[] = {0};
static struct verify_table dst = {(char *)"d", dst_cols, 9, dst_pk, 1};

static const char *MAP =
        "{\"version\": 1, \"tables\": [{\"source\": \"s\","
        " \"rename\": {\"qr_code\": \"qr_code_data\"},"
        " \"drop\": [\"legacy\"],"
        " \"defaults\": {\"checked_in\": false, \"fee\": 0},"
        " \"values\": {\"status\": {\"PAID\": \"paid\", \"O'K\": \"ok\"}},"
        " \"transforms\": [{\"column\": \"email\", \"fn\": \"lowercase\"}],"
        " \"routes\": ["
        "  {\"when\": {\"kind\": [1, 2]}, \"target\": \"d\"},"
        "  {\"when\": {\"status\": \"X\"}, \"target\": \"e\"},"
        "  {\"target\": \"d\"}]}]}";

static struct verify_plan *plan(const char *text, struct verify_table *s,
                                const char *target, struct verify_table *d,
                                MYSQL *q)
{
        struct mapping *m = NULL;
        struct verify_plan *p = NULL;
        char err[512] = "";
        int rc = mapping_parse(text, "t.json", &m, err, sizeof(err));
        if (rc)
                fprintf(stderr, "mapping: %s\n", err);
        CHECK(rc == 0);
        if (rc)
                return NULL;
        rc = verify_plan_new(m, s->name, target, s, "sdb", d, "ddb", q, &p, err,
                             sizeof(err));
        if (rc)
                fprintf(stderr, "plan: %s\n", err);
        CHECK(rc == 0);
        mapping_free(m);
        return p;
}

static bool has(const char *hay, const char *needle)
{
        bool ok = hay && strstr(hay, needle);
        if (!ok)
                fprintf(stderr, "missing: %s\n  in: %s\n", needle,
                        hay ? hay : "(null)");
        return ok;
}

static void test_options(MYSQL *q)
{
        struct verify_plan *p = plan(MAP, &src, "d", &dst, q);
        if (!p)
                return;
        CHECK(p->nroutes == 2);
        CHECK(!p->whole_table && !p->keys_unknown);
        const char *c0 = p->routes[0].crc;
        /* target order; rename; value map (byte exact, quote escaped) */
        CHECK(has(c0, "CRC32(CONCAT_WS('#', `id`, CONVERT(CASE "
                      "CAST(CONVERT(`status` USING utf8mb4) AS BINARY) "
                      "WHEN CAST('PAID' AS BINARY) THEN 'paid' WHEN "
                      "CAST('O\\'K' AS BINARY) THEN 'ok' ELSE `status` END "
                      "USING utf8mb4), CONVERT(`qr_code` USING utf8mb4), "));
        /* a wider DECIMAL renders differently: cast to the target type */
        CHECK(has(c0, ", CAST(`price` AS DECIMAL(10,3)), `kind`, "));
        /* defaults as literals, cast to the target type; email (the
         * transform's column) and created (not fed) left out */
        CHECK(has(c0, "`kind`, 0, CAST(0 AS DECIMAL(6,2)), CONCAT(''"));
        CHECK(!strstr(c0, "email") && !strstr(c0, "created"));
        CHECK(has(c0, "ISNULL(`id`), ISNULL(CASE"));
        CHECK(has(p->dst_crc, "CRC32(CONCAT_WS('#', `id`, CONVERT(`status` "
                              "USING utf8mb4), CONVERT(`qr_code_data` USING "
                              "utf8mb4), `price`, `kind`, `checked_in`, "
                              "`fee`, CONCAT('', ISNULL(`id`)"));
        /* routes: first match wins, fallback is NOT(earlier ones) */
        CHECK_STR(p->routes[0].where, "((`kind` <=> 1 OR `kind` <=> 2))");
        CHECK(has(p->routes[1].where,
                  "NOT (((`kind` <=> 1 OR `kind` <=> 2)) OR "
                  "(CAST(CONVERT(`status` USING utf8mb4) AS BINARY) <=> "
                  "CAST('X' AS BINARY)))"));
        char *u = json_dumps(p->unverified, JSON_COMPACT | JSON_SORT_KEYS);
        CHECK(has(u, "\"column\":\"email\""));
        CHECK(has(u, "lowercase"));
        CHECK(has(u, "\"column\":\"created\""));
        free(u);

        struct buf b;
        buf_init(&b);
        char *lo_v[] = {(char *)"10"}, *hi_v[] = {(char *)"20"};
        unsigned long lens[] = {2};
        struct verify_key lo = {lo_v, lens, 1}, hi = {hi_v, lens, 1};
        verify_sql_checksum(p, q, VERIFY_SOURCE, 0, &lo, &hi, &b);
        CHECK(has(buf_cstr(&b), "SELECT COUNT(*), COALESCE(BIT_XOR(CAST("
                                "CRC32("));
        CHECK(has(buf_cstr(&b), " FROM `sdb`.`s` WHERE (`id` > 10) AND "
                                "(`id` <= 20) AND (((`kind`"));
        buf_reset(&b);
        verify_sql_checksum(p, q, VERIFY_TARGET, 0, NULL, &hi, &b);
        CHECK(has(buf_cstr(&b), " FROM `ddb`.`d` WHERE (`id` <= 20)"));
        buf_reset(&b);
        verify_sql_bound(p, q, &lo, 1000, &b);
        CHECK_STR(buf_cstr(&b), "SELECT `id` FROM `sdb`.`s` WHERE `id` > 10 "
                                "ORDER BY `id` LIMIT 1 OFFSET 999");
        buf_reset(&b);
        verify_sql_rows(p, q, VERIFY_TARGET, 0, &lo, NULL, &b);
        CHECK(has(buf_cstr(&b), "SELECT `id`, CRC32("));
        CHECK(has(buf_cstr(&b), "FROM `ddb`.`d` WHERE (`id` > 10)"));
        buf_free(&b);
        verify_plan_free(p);
}

/* Names and values an attacker controls stay quoted. */
static void test_hostile(MYSQL *q)
{
        struct verify_column sc[] = {COL("k`; DROP TABLE x; --", "varchar(10)"),
                                     COL("v", "varchar(10)")};
        size_t pk[] = {0};
        struct verify_table s = {(char *)"s`x", sc, 2, pk, 1};
        struct verify_table d = {(char *)"t'y", sc, 2, pk, 1};
        const char *m = "{\"version\": 1, \"tables\": [{\"source\": \"s`x\","
                        " \"target\": \"t'y\"}]}";
        struct verify_plan *p = plan(m, &s, "t'y", &d, q);
        if (!p)
                return;
        struct buf b;
        buf_init(&b);
        char *v[] = {(char *)"a'; DROP TABLE y; --"};
        unsigned long l[] = {strlen(v[0])};
        struct verify_key k = {v, l, 1};
        verify_sql_checksum(p, q, VERIFY_SOURCE, 0, &k, NULL, &b);
        CHECK(has(buf_cstr(&b), "FROM `sdb`.`s``x` WHERE "
                                "(`k``; DROP TABLE x; --` > "
                                "'a\\'; DROP TABLE y; --')"));
        buf_reset(&b);
        verify_sql_checksum(p, q, VERIFY_TARGET, 0, &k, NULL, &b);
        CHECK(has(buf_cstr(&b), "FROM `ddb`.`t'y` WHERE"));
        buf_free(&b);
        verify_plan_free(p);
}

static void test_composite_and_key_maps(MYSQL *q)
{
        struct verify_column sc[] = {COL("a", "int(11)"),
                                     COL("b", "varchar(5)"),
                                     COL("v", "int(11)")};
        size_t pk[] = {0, 1};
        struct verify_table s = {(char *)"s", sc, 3, pk, 2};
        struct verify_table d = {(char *)"d", sc, 3, pk, 2};
        struct verify_plan *p =
                plan("{\"version\": 1, \"tables\": [{\"source\": \"s\", "
                     "\"target\": \"d\"}]}",
                     &s, "d", &d, q);
        if (p) {
                struct buf b;
                buf_init(&b);
                char *v[] = {(char *)"7", (char *)"x"};
                unsigned long l[] = {1, 1};
                struct verify_key k = {v, l, 2};
                verify_sql_bound(p, q, &k, 10, &b);
                CHECK_STR(buf_cstr(&b),
                          "SELECT `a`, `b` FROM `sdb`.`s` WHERE (`a` > 7 OR "
                          "(`a` = 7 AND `b` > 'x')) ORDER BY `a`, `b` "
                          "LIMIT 1 OFFSET 9");
                buf_reset(&b);
                verify_sql_checksum(p, q, VERIFY_TARGET, 0, NULL, &k, &b);
                CHECK(has(buf_cstr(&b), "WHERE ((`a` < 7 OR (`a` = 7 AND "
                                        "`b` <= 'x')))"));
                buf_free(&b);
                verify_plan_free(p);
        }
        /* A value map on a key column: one chunk, keys compared mapped */
        p = plan("{\"version\": 1, \"tables\": [{\"source\": \"s\", "
                 "\"target\": \"d\", \"values\": {\"b\": {\"x\": \"y\"}}}]}",
                 &s, "d", &d, q);
        if (p) {
                CHECK(p->whole_table && !p->keys_unknown);
                CHECK(has(p->routes[0].keys[1], "CASE "));
                struct buf b;
                buf_init(&b);
                char *v[] = {(char *)"7", (char *)"x"};
                unsigned long l[] = {1, 1};
                struct verify_key k = {v, l, 2};
                verify_sql_checksum(p, q, VERIFY_SOURCE, 0, &k, &k, &b);
                CHECK(!strstr(buf_cstr(&b), "WHERE"));
                CHECK(json_array_size(p->notes) == 1);
                buf_free(&b);
                verify_plan_free(p);
        }
        /* A transform on a key column: keys cannot be paired */
        p = plan("{\"version\": 1, \"tables\": [{\"source\": \"s\", "
                 "\"target\": \"d\", \"transforms\": [{\"column\": \"b\", "
                 "\"fn\": \"lowercase\"}]}]}",
                 &s, "d", &d, q);
        if (p) {
                CHECK(p->whole_table && p->keys_unknown);
                verify_plan_free(p);
        }
        /* A dropped key column cannot be verified */
        struct mapping *m = NULL;
        struct verify_plan *bad = NULL;
        char err[512];
        CHECK(mapping_parse("{\"version\": 1, \"tables\": [{\"source\": "
                            "\"s\", \"target\": \"d\", \"drop\": [\"a\"]}]}",
                            "t.json", &m, err, sizeof(err)) == 0);
        CHECK(verify_plan_new(m, "s", "d", &s, "sdb", &d, "ddb", q, &bad, err,
                              sizeof(err)) == FERRY_ERR_CONFIG);
        CHECK(has(err, "primary-key column a is dropped"));
        CHECK(bad == NULL);
        mapping_free(m);
}

/* The keyed check's IN lists: one column or row constructors, numbers
 * unquoted only when they are plain numbers, binary as X'hex', strings
 * and names escaped, the route's predicate on the source side only. */
static void test_rows_in(MYSQL *q)
{
        struct verify_plan *p = plan(MAP, &src, "d", &dst, q);
        if (p) {
                struct buf b;
                buf_init(&b);
                char *v1[] = {(char *)"5"}, *v2[] = {(char *)"1-2"};
                char *v3[] = {(char *)"-1.5e+3"};
                unsigned long l1[] = {1}, l2[] = {3}, l3[] = {7};
                struct verify_key k1 = {v1, l1, 1}, k2 = {v2, l2, 1},
                                  k3 = {v3, l3, 1};
                struct verify_key *kv[] = {&k1, &k2, &k3};
                verify_sql_rows_in(p, q, VERIFY_SOURCE, 0, kv, 3, &b);
                CHECK(has(buf_cstr(&b), "SELECT `id`, CRC32(CONCAT_WS("));
                /* "1-2" would be an expression unquoted */
                CHECK(has(buf_cstr(&b), " FROM `sdb`.`s` WHERE `id` IN "
                                        "(5, '1-2', -1.5e+3) AND "
                                        "(((`kind` <=> 1 OR `kind` <=> "
                                        "2)))"));
                buf_reset(&b);
                verify_sql_rows_in(p, q, VERIFY_TARGET, 0, kv, 1, &b);
                CHECK(has(buf_cstr(&b), " FROM `ddb`.`d` WHERE `id` IN (5)"));
                CHECK(!strstr(buf_cstr(&b), "kind` <=>"));
                buf_reset(&b);
                verify_sql_rows_in(p, q, VERIFY_TARGET, 0, kv, 0, &b);
                CHECK(has(buf_cstr(&b), " FROM `ddb`.`d` WHERE FALSE"));
                buf_reset(&b);
                verify_sql_count(p, q, VERIFY_SOURCE, 1, &b);
                CHECK(has(buf_cstr(&b), "SELECT COUNT(*) FROM `sdb`.`s` "
                                        "WHERE (NOT ("));
                buf_reset(&b);
                verify_sql_count(p, q, VERIFY_TARGET, 0, &b);
                CHECK_STR(buf_cstr(&b), "SELECT COUNT(*) FROM `ddb`.`d`");
                buf_free(&b);
                verify_plan_free(p);
        }

        /* composite: renamed, hostile names and values, a binary column */
        struct verify_column sc[] = {
                COL("a`b", "int(11)"), COL("k'; --", "varbinary(8)"),
                COL("s", "varchar(9)"), COL("v", "int(11)")};
        size_t pk[] = {0, 1, 2};
        struct verify_column dc[] = {
                COL("A", "int(11)"), COL("k'; --", "varbinary(8)"),
                COL("s", "varchar(9)"), COL("v", "int(11)")};
        struct verify_table s = {(char *)"s`", sc, 4, pk, 3};
        struct verify_table d = {(char *)"d", dc, 4, pk, 3};
        p = plan("{\"version\": 1, \"tables\": [{\"source\": \"s`\", "
                 "\"target\": \"d\", \"rename\": {\"a`b\": \"A\"}}]}",
                 &s, "d", &d, q);
        if (!p)
                return;
        struct buf b;
        buf_init(&b);
        char *v1[] = {(char *)"7", (char *)"\x00'\\\xff", (char *)"x') OR 1"};
        unsigned long l1[] = {1, 4, 8};
        char *v2[] = {(char *)"8", (char *)"", (char *)"\\"};
        unsigned long l2[] = {1, 0, 1};
        struct verify_key k1 = {v1, l1, 3}, k2 = {v2, l2, 3};
        struct verify_key *kv[] = {&k1, &k2};
        verify_sql_rows_in(p, q, VERIFY_SOURCE, 0, kv, 2, &b);
        CHECK_STR(buf_cstr(&b) +
                          (strstr(buf_cstr(&b), " FROM ") - buf_cstr(&b)),
                  " FROM `sdb`.`s``` WHERE (`a``b`, `k'; --`, `s`) IN "
                  "((7, X'00275cff', 'x\\') OR 1'), (8, X'', '\\\\'))");
        CHECK(has(buf_cstr(&b), "SELECT `a``b`, `k'; --`, `s`, CRC32("));
        buf_reset(&b);
        verify_sql_rows_in(p, q, VERIFY_TARGET, 0, kv, 1, &b);
        CHECK(has(buf_cstr(&b), "SELECT `A`, `k'; --`, `s`, CRC32("));
        CHECK(has(buf_cstr(&b), " FROM `ddb`.`d` WHERE (`A`, `k'; --`, `s`) "
                                "IN ((7, X'00275cff', 'x\\') OR 1'))"));
        buf_free(&b);
        verify_plan_free(p);
}

static void test_types(void)
{
        char c[64];
        CHECK(verify_type_family("bigint(20) unsigned") == VERIFY_INT);
        CHECK(verify_type_family("varchar(5)") == VERIFY_STR);
        CHECK(verify_type_family("char(32)") == VERIFY_STR);
        CHECK(verify_type_family("varbinary(16)") == VERIFY_BIN);
        CHECK(verify_type_family("decimal(9,6)") == VERIFY_DEC);
        CHECK(verify_type_family("datetime(6)") == VERIFY_TIME);
        CHECK(verify_type_cast("decimal(10,2) unsigned", c, sizeof(c)) == 0);
        CHECK_STR(c, "DECIMAL(10,2)");
        CHECK(verify_type_cast("timestamp(3)", c, sizeof(c)) == 0);
        CHECK_STR(c, "DATETIME(3)");
        CHECK(verify_type_cast("varchar(3)", c, sizeof(c)) == -1);
}

int main(void)
{
        xalloc_install_jansson();
        MYSQL *q = mysql_init(NULL);
        test_types();
        test_options(q);
        test_hostile(q);
        test_composite_and_key_maps(q);
        test_rows_in(q);
        mysql_close(q);
        UNIT_DONE();
}
