/* SPDX-License-Identifier: Apache-2.0
 * The cutover's touched keys: nothing remembered until started, take
 * and restart hand over exactly what came, merge puts keys back, and
 * past the limit it says overflow (and every key counts as touched).
 */
#include "daemon/touched_keys.h"
#include "tests/unit/unit.h"

#include <stdlib.h>

static void add_id(struct touched_keys *tk, const char *table, long id)
{
        json_t *k = json_pack("{s:I}", "id", (json_int_t)id);
        touched_keys_add(tk, table, k);
        json_decref(k);
}

static size_t count(json_t *keys)
{
        size_t n = 0;
        const char *t;
        json_t *set;
        json_object_foreach(keys, t, set) n += json_object_size(set);
        return n;
}

int main(void)
{
        struct touched_keys *tk = touched_keys_new();
        bool over;

        /* Not recording: nothing kept, and anything may have changed. */
        CHECK(!touched_keys_recording(tk));
        add_id(tk, "t", 1);
        CHECK(touched_keys_hit(tk, "t", "{\"id\":99}"));
        json_t *got = touched_keys_take(tk, &over);
        CHECK(count(got) == 0 && !over);
        json_decref(got);

        touched_keys_start(tk);
        CHECK(touched_keys_recording(tk));
        add_id(tk, "t", 1);
        add_id(tk, "t", 1); /* once */
        add_id(tk, "u", 2);
        /* Key text: compact, sorted keys. */
        json_t *two = json_pack("{s:i, s:s}", "b", 2, "a", "x");
        touched_keys_add(tk, "v", two);
        json_decref(two);
        CHECK(touched_keys_hit(tk, "t", "{\"id\":1}"));
        CHECK(touched_keys_hit(tk, "v", "{\"a\":\"x\",\"b\":2}"));
        CHECK(!touched_keys_hit(tk, "t", "{\"id\":2}"));

        /* restart: hands over and keeps recording, from empty. */
        json_t *old = touched_keys_restart(tk, &over);
        CHECK(count(old) == 3 && !over);
        CHECK(touched_keys_recording(tk));
        CHECK(!touched_keys_hit(tk, "t", "{\"id\":1}"));
        add_id(tk, "t", 3);
        touched_keys_merge(tk, old, false);
        json_decref(old);
        CHECK(touched_keys_hit(tk, "t", "{\"id\":1}"));
        got = touched_keys_take(tk, &over);
        CHECK(count(got) == 4 && !over);
        CHECK(json_object_get(json_object_get(got, "t"), "{\"id\":3}"));
        json_decref(got);
        CHECK(!touched_keys_recording(tk));

        /* Past the limit: overflow, and every key may have been touched. */
        touched_keys_start(tk);
        for (long i = 0; i <= TOUCHED_KEYS_MAX; i++)
                add_id(tk, "t", i);
        CHECK(touched_keys_hit(tk, "t", "{\"id\":-1}"));
        got = touched_keys_restart(tk, &over);
        CHECK(over);
        json_decref(got);
        /* A merge carries the overflow along. */
        json_t *none = json_object();
        touched_keys_merge(tk, none, true);
        json_decref(none);
        got = touched_keys_take(tk, &over);
        CHECK(over);
        json_decref(got);

        touched_keys_free(tk);
        touched_keys_free(NULL);
        UNIT_DONE();
}
