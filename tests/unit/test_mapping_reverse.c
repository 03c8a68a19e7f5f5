/* SPDX-License-Identifier: Apache-2.0
 * Mapping inversion: renames, value maps, routed targets, target-only
 * columns and lossy transforms map a target row back onto the old table;
 * what cannot be inverted is refused naming the table and column; the
 * shipped event_finder mapping inverts.
 */
#include "common/xalloc.h"
#include "tests/unit/unit.h"
#include "transforms/mapping.h"
#include "transforms/mapping_reverse.h"

#include <stdlib.h>

static char err[1024];
static int nnotes;
static char last_note[512];

static void on_note(void *ctx, const char *line)
{
        (void)ctx;
        nnotes++;
        snprintf(last_note, sizeof(last_note), "%s", line);
}

static json_t *J(const char *text)
{
        json_error_t e;
        json_t *j = json_loads(text, JSON_DECODE_ANY, &e);
        if (!j)
                fprintf(stderr, "bad test JSON %s: %s\n", text, e.text);
        return j;
}

static struct mapping *reversed(const char *text)
{
        struct mapping *m = NULL, *r = NULL;
        err[0] = '\0';
        if (mapping_parse(text, "m.json", &m, err, sizeof(err))) {
                fprintf(stderr, "forward mapping refused: %s\n", err);
                return NULL;
        }
        if (mapping_reverse(m, &r, on_note, NULL, err, sizeof(err)))
                r = NULL;
        mapping_free(m);
        return r;
}

/* Applies one change through m; returns op i's row as sorted JSON text
 * with its table in table (or NULL). */
static char *apply1(const struct mapping *m, const char *table, char op,
                    const char *key, const char *before, const char *after,
                    size_t i, char *which, size_t which_size)
{
        json_t *k = key ? J(key) : NULL;
        json_t *b = before ? J(before) : NULL;
        json_t *a = after ? J(after) : NULL;
        struct mapping_ops ops;
        mapping_ops_init(&ops);
        char *out = NULL;
        if (mapping_apply(m, table, op, k, b, a, &ops, err, sizeof(err)) == 0 &&
            i < ops.n) {
                out = json_dumps(ops.v[i].row, JSON_COMPACT | JSON_SORT_KEYS);
                snprintf(which, which_size, "%s:%s", ops.v[i].table,
                         ops.v[i].kind == MAPPING_OP_UPSERT ? "upsert"
                                                            : "delete");
        }
        mapping_ops_clear(&ops);
        json_decref(k);
        json_decref(b);
        json_decref(a);
        return out;
}

static void inverts(void)
{
        struct mapping *r = reversed(
                "{\"version\":1,\"tables\":["
                "{\"source\":\"old_t\",\"target\":\"new_t\","
                " \"rename\":{\"qr\":\"qr_data\"},"
                " \"drop\":[\"legacy\"],"
                " \"defaults\":{\"checked_in\":false},"
                " \"values\":{\"status\":{\"PENDING\":\"pending\","
                "  "
                "\"PAID\":\"paid\"},\"level\":{\"1\":\"low\",\"2\":\"high\"}},"
                " \"transforms\":[{\"column\":\"email\",\"fn\":\"lowercase\"}]}"
                ","
                "{\"source\":\"old_n\",\"routes\":["
                " {\"when\":{\"is_admin\":1},\"target\":\"admin_n\","
                "  \"drop\":[\"is_admin\"]},"
                " {\"target\":\"user_n\",\"drop\":[\"is_admin\"]}]}]}");
        CHECK(r != NULL);
        if (!r)
                return;
        CHECK(nnotes == 1);
        CHECK(strstr(last_note, "lowercase") != NULL);
        char which[128];
        char *s = apply1(r, "new_t", 'c', NULL, NULL,
                         "{\"id\":7,\"qr_data\":\"Q\",\"checked_in\":1,"
                         "\"status\":\"paid\",\"level\":\"high\","
                         "\"email\":\"a@b.c\"}",
                         0, which, sizeof(which));
        /* renamed back, target-only default column dropped, value maps
         * inverted (integers back as integers), transform passes through,
         * the dropped legacy column absent (kept / defaulted) */
        CHECK_STR(s, "{\"email\":\"a@b.c\",\"id\":7,\"level\":2,"
                     "\"qr\":\"Q\",\"status\":\"PAID\"}");
        CHECK_STR(which, "old_t:upsert");
        free(s);
        /* an unmapped value passes through */
        s = apply1(r, "new_t", 'c', NULL, NULL,
                   "{\"id\":8,\"status\":\"refunded\"}", 0, which,
                   sizeof(which));
        CHECK_STR(s, "{\"id\":8,\"status\":\"refunded\"}");
        free(s);
        /* routed targets both map back to the one source; the admin
         * route's dropped predicate column comes back as its value */
        s = apply1(r, "admin_n", 'c', NULL, NULL, "{\"id\":1,\"msg\":\"x\"}", 0,
                   which, sizeof(which));
        CHECK_STR(s, "{\"id\":1,\"is_admin\":1,\"msg\":\"x\"}");
        CHECK_STR(which, "old_n:upsert");
        free(s);
        s = apply1(r, "user_n", 'c', NULL, NULL, "{\"id\":2,\"msg\":\"y\"}", 0,
                   which, sizeof(which));
        CHECK_STR(s, "{\"id\":2,\"msg\":\"y\"}");
        CHECK_STR(which, "old_n:upsert");
        free(s);
        s = apply1(r, "user_n", 'd', "{\"id\":2}", "{\"id\":2,\"msg\":\"y\"}",
                   NULL, 0, which, sizeof(which));
        CHECK_STR(s, "{\"id\":2}");
        CHECK_STR(which, "old_n:delete");
        free(s);
        const char *const *src = mapping_sources(r);
        size_t n = 0;
        while (src[n])
                n++;
        CHECK(n == 3);
        mapping_free(r);
}

static void refuses(void)
{
        struct mapping *r =
                reversed("{\"version\":1,\"tables\":[{\"source\":\"old_t\","
                         "\"target\":\"new_t\",\"values\":{\"status\":"
                         "{\"A\":\"x\",\"B\":\"x\"}}}]}");
        CHECK(r == NULL);
        CHECK(strstr(err, "old_t") && strstr(err, "status") &&
              strstr(err, "one-to-one"));
        r = reversed("{\"version\":1,\"tables\":["
                     "{\"source\":\"a\",\"target\":\"t\"},"
                     "{\"source\":\"b\",\"target\":\"t\"}]}");
        CHECK(r == NULL);
        CHECK(strstr(err, "fed by both a and b") != NULL);
        r = reversed("{\"version\":1,\"tables\":[{\"source\":\"old_t\","
                     "\"target\":\"new_t\",\"values\":{\"flag\":"
                     "{\"Y\":null}}}]}");
        CHECK(r == NULL);
        CHECK(strstr(err, "flag") && strstr(err, "cannot be mapped back"));
}

static void shipped(void)
{
        struct mapping *m = NULL, *r = NULL;
        CHECK(mapping_load(FERRY_SOURCE_ROOT "/schemas/event_finder.json", &m,
                           err, sizeof(err)) == 0);
        CHECK(m && mapping_reverse(m, &r, NULL, NULL, err, sizeof(err)) == 0);
        CHECK(r && mapping_has_source(r, "users_clerkuser"));
        CHECK(r && mapping_plain_target(r, "users_clerkuser") &&
              !strcmp(mapping_plain_target(r, "users_clerkuser"),
                      "clerk_sync_clerkuser"));
        mapping_free(m);
        mapping_free(r);
}

int main(void)
{
        xalloc_install_jansson();
        inverts();
        refuses();
        shipped();
        UNIT_DONE();
}
