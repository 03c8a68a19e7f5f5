/* SPDX-License-Identifier: Apache-2.0
 * The direct JSON writer produces exactly jansson's compact dump of the
 * same envelope and key, for every value kind and awkward text.
 */
#include "common/xalloc.h"
#include "tests/unit/unit.h"
#include "transforms/event_json.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

static struct ferry_table *table(void)
{
        static const char *names[] = {"id", "n", "u", "d", "t", "b", "z"};
        struct ferry_table *t = ferry_table_new("db", "tab\"le", 7);
        for (size_t i = 0; i < 7; i++)
                t->cols[i].name = xstrdup(names[i]);
        t->npk = 2;
        t->pk = xcalloc(2, sizeof(uint32_t));
        t->pk[0] = 4;
        t->pk[1] = 0;
        return t;
}

static void compare(const struct ferry_event *ev)
{
        struct event_json_opts o = {.name = "ferry", .version = "0.1.0"};
        struct buf a, b;
        char err[256];
        buf_init(&a);
        buf_init(&b);
        json_t *j = event_json_envelope(ev, &o, 1700000000123ull, err,
                                        sizeof(err));
        CHECK(j != NULL);
        CHECK(event_json_dump(j, &a) == 0);
        json_decref(j);
        CHECK(event_json_write(ev, &o, 1700000000123ull, &b, err,
                               sizeof(err)) == 0);
        CHECK_STR(buf_cstr(&b), buf_cstr(&a));

        buf_reset(&a);
        buf_reset(&b);
        j = event_json_key(ev, err, sizeof(err));
        CHECK(event_json_dump(j, &a) == 0);
        json_decref(j);
        CHECK(event_json_write_key(ev, &b, err, sizeof(err)) == 0);
        CHECK_STR(buf_cstr(&b), buf_cstr(&a));
        buf_free(&a);
        buf_free(&b);
}

static void set_text(struct ferry_value *v, const char *s, size_t n,
                     enum ferry_vkind k)
{
        v->kind = (uint8_t)k;
        v->p = s;
        v->len = (uint32_t)n;
}

int main(void)
{
        xalloc_install_jansson();
        struct ferry_table *t = table();
        static const double reals[] = {0.1,     1.0,     -2.5,    1e308,
                                       -2.2250738585072014e-308,
                                       3.4028234663852886e+38,
                                       123456789012345678.0, 0.0, 1e-7,
                                       5e-324};
        /* Multi-byte characters first: the loop trims the tail. */
        static const char text[] = "Zoë 🎉 \xe2\x80\xa8 quote\" back\\ "
                                   "nl\n tab\t ctl\x01\x1f del\x7f slash/ "
                                   "0123456789";
        static const char bytes[] = "\x00\xff\x10 binary";

        for (size_t r = 0; r < sizeof(reals) / sizeof(reals[0]); r++) {
                struct ferry_event *ev = ferry_event_new(
                        FERRY_EV_ROW, t, r % 2, true, "binlog.000001", 0,
                        NULL);
                ev->op = r % 2 ? FERRY_OP_UPDATE : FERRY_OP_CREATE;
                ev->snapshot = r == 3;
                ev->pos.gtid = (struct gtid){0, 1, r == 3 ? 0 : 42 + r};
                ev->pos.ts_ms = 1700000000000ull;
                ev->pos.offset = 4 + r;
                ev->pos.row = (uint32_t)r;
                struct ferry_value *sets[2] = {ev->after, ev->before};
                for (int s = 0; s < (ev->before ? 2 : 1); s++) {
                        struct ferry_value *v = sets[s];
                        v[0] = (struct ferry_value){.kind = FERRY_V_INT,
                                                    .i = INT64_MIN + (int)r};
                        v[1] = (struct ferry_value){.kind = FERRY_V_NULL};
                        v[2] = (struct ferry_value){
                                .kind = FERRY_V_UINT,
                                .u = r % 2 ? UINT64_MAX : 7};
                        v[3] = (struct ferry_value){.kind = r % 3
                                                                    ? FERRY_V_DOUBLE
                                                                    : FERRY_V_FLOAT,
                                                    .d = reals[r]};
                        set_text(&v[4], text, sizeof(text) - 1 - r,
                                 FERRY_V_TEXT);
                        set_text(&v[5], bytes, sizeof(bytes) - 1 - r % 3,
                                 FERRY_V_BYTES);
                        set_text(&v[6], "", 0, FERRY_V_TEXT);
                }
                compare(ev);
                ferry_event_free(ev);
        }

        /* Text that is not UTF-8 is refused by both. */
        struct ferry_event *ev = ferry_event_new(FERRY_EV_ROW, t, false, true,
                                                 NULL, 0, NULL);
        ev->op = FERRY_OP_CREATE;
        for (int i = 0; i < 7; i++)
                ev->after[i] = (struct ferry_value){.kind = FERRY_V_NULL};
        set_text(&ev->after[4], "bad \xc3\x28", 6, FERRY_V_TEXT);
        struct event_json_opts o = {0};
        struct buf b;
        char err[256];
        buf_init(&b);
        CHECK(event_json_write(ev, &o, 0, &b, err, sizeof(err)) ==
              FERRY_ERR_DATA);
        CHECK(strstr(err, "column t") != NULL);
        CHECK(event_json_envelope(ev, &o, 0, err, sizeof(err)) == NULL);
        buf_free(&b);
        ferry_event_free(ev);
        ferry_table_unref(t);
        UNIT_DONE();
}
