/* SPDX-License-Identifier: Apache-2.0
 * change_msg: Kafka change messages back into mapping input, and every
 * malformed shape refused with a reason.
 */
#include "transforms/change_msg.h"
#include "tests/unit/unit.h"

static int parse(const char *key, const char *value, struct change_msg *m,
                 char *err, size_t errsz)
{
        return change_msg_parse(key, key ? strlen(key) : 0, value,
                                strlen(value), m, err, errsz);
}

static void test_row(void)
{
        struct change_msg m;
        char err[256];
        CHECK(parse("{\"id\":7}",
                    "{\"before\":{\"id\":7,\"v\":\"a\"},\"after\":{\"id\":7,"
                    "\"v\":\"b\"},\"source\":{\"db\":\"s\",\"table\":\"t\","
                    "\"gtid\":\"0-1-5\"},\"op\":\"u\",\"ts_ms\":1}",
                    &m, err, sizeof(err)) == 0);
        CHECK(m.kind == CHANGE_MSG_ROW);
        CHECK(m.op == 'u');
        CHECK_STR(m.table, "t");
        CHECK_STR(m.gtid, "0-1-5");
        CHECK(json_integer_value(json_object_get(m.key, "id")) == 7);
        CHECK_STR(json_string_value(json_object_get(m.after, "v")), "b");
        change_msg_clear(&m);

        CHECK(parse("{\"id\":7}",
                    "{\"before\":{\"id\":7},\"after\":null,\"source\":"
                    "{\"table\":\"t\"},\"op\":\"d\"}",
                    &m, err, sizeof(err)) == 0);
        CHECK(m.after == NULL && m.before != NULL && m.gtid == NULL);
        change_msg_clear(&m);
}

static void test_barrier(void)
{
        struct change_msg m;
        char err[256];
        CHECK(parse("{\"__ferry_barrier\":\"x1\"}",
                    "{\"op\":\"barrier\",\"barrier\":\"x1\",\"source\":"
                    "{\"gtid\":\"0-1-9\"}}",
                    &m, err, sizeof(err)) == 0);
        CHECK(m.kind == CHANGE_MSG_BARRIER);
        CHECK_STR(m.barrier, "x1");
        CHECK_STR(m.gtid, "0-1-9");
        change_msg_clear(&m);
}

static void refused(const char *key, const char *value, const char *why)
{
        struct change_msg m;
        char err[256] = "";
        CHECK(parse(key, value, &m, err, sizeof(err)) == FERRY_ERR_DATA);
        if (!strstr(err, why)) {
                unit_failures++;
                fprintf(stderr, "error '%s' does not say '%s'\n", err, why);
        }
        change_msg_clear(&m);
}

static void test_malformed(void)
{
        const char *k = "{\"id\":1}";
        refused(k, "{\"op\":", "not JSON");
        refused(k, "[1]", "not a JSON object");
        refused(k, "{\"after\":{},\"source\":{\"table\":\"t\"}}", "no \"op\"");
        refused(k, "{\"op\":\"x\",\"source\":{\"table\":\"t\"}}",
                "is not c, u, d, r");
        refused(k, "{\"op\":\"c\",\"after\":{\"id\":1}}", "source.table");
        refused(k, "{\"op\":\"c\",\"after\":null,\"source\":{\"table\":\"t\"}}",
                "without its after image");
        refused(k,
                "{\"op\":\"u\",\"after\":{\"id\":1},\"source\":"
                "{\"table\":\"t\"}}",
                "without its before image");
        refused(k, "{\"op\":\"c\",\"after\":5,\"source\":{\"table\":\"t\"}}",
                "neither an object nor null");
        refused(NULL,
                "{\"op\":\"c\",\"after\":{},\"source\":{\"table\":\"t\"}}",
                "without a key");
        refused("[1]",
                "{\"op\":\"c\",\"after\":{},\"source\":{\"table\":"
                "\"t\"}}",
                "key is not");
        refused(k, "{\"op\":\"barrier\"}", "barrier message without");
        refused(k, "{\"op\":\"c\",\"op\":\"d\"}", "not JSON");
}

int main(void)
{
        test_row();
        test_barrier();
        test_malformed();
        UNIT_DONE();
}
