/* SPDX-License-Identifier: Apache-2.0
 * Touched keys; see touched_keys.h.
 */
#include "daemon/touched_keys.h"

#include "common/xalloc.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

struct touched_keys {
        pthread_mutex_t lock;
        json_t *keys;   /* NULL when not recording */
        atomic_bool on; /* keys != NULL, readable without the lock */
        size_t n;
        bool overflow;
};

struct touched_keys *touched_keys_new(void)
{
        struct touched_keys *tk = xcalloc(1, sizeof(*tk));
        pthread_mutex_init(&tk->lock, NULL);
        return tk;
}

void touched_keys_free(struct touched_keys *tk)
{
        if (!tk)
                return;
        json_decref(tk->keys);
        pthread_mutex_destroy(&tk->lock);
        free(tk);
}

bool touched_keys_recording(struct touched_keys *tk)
{
        return atomic_load(&tk->on);
}

void touched_keys_add(struct touched_keys *tk, const char *table, json_t *key)
{
        char *text = json_dumps(key, JSON_COMPACT | JSON_SORT_KEYS);
        pthread_mutex_lock(&tk->lock);
        if (tk->keys && text && !tk->overflow) {
                json_t *set = json_object_get(tk->keys, table);
                if (!set) {
                        set = json_object();
                        json_object_set_new(tk->keys, table, set);
                }
                if (!json_object_get(set, text)) {
                        json_object_set(set, text, key);
                        tk->overflow = ++tk->n > TOUCHED_KEYS_MAX;
                }
        }
        pthread_mutex_unlock(&tk->lock);
        free(text);
}

void touched_keys_start(struct touched_keys *tk)
{
        json_decref(touched_keys_restart(tk, &(bool){false}));
}

json_t *touched_keys_take(struct touched_keys *tk, bool *overflow)
{
        pthread_mutex_lock(&tk->lock);
        json_t *t = tk->keys;
        *overflow = tk->overflow;
        tk->keys = NULL;
        tk->n = 0;
        tk->overflow = false;
        atomic_store(&tk->on, false);
        pthread_mutex_unlock(&tk->lock);
        return t ? t : json_object();
}

json_t *touched_keys_restart(struct touched_keys *tk, bool *overflow)
{
        pthread_mutex_lock(&tk->lock);
        json_t *t = tk->keys;
        *overflow = tk->overflow;
        tk->keys = json_object();
        tk->n = 0;
        tk->overflow = false;
        atomic_store(&tk->on, true);
        pthread_mutex_unlock(&tk->lock);
        return t ? t : json_object();
}

void touched_keys_merge(struct touched_keys *tk, json_t *keys, bool overflow)
{
        pthread_mutex_lock(&tk->lock);
        if (tk->keys) {
                const char *table, *k;
                json_t *set, *v;
                json_object_foreach(keys, table, set)
                {
                        json_t *dst = json_object_get(tk->keys, table);
                        if (!dst) {
                                dst = json_object();
                                json_object_set_new(tk->keys, table, dst);
                        }
                        json_object_foreach(set, k, v)
                        {
                                if (!json_object_get(dst, k))
                                        tk->n++;
                                json_object_set(dst, k, v);
                        }
                }
                tk->overflow =
                        tk->overflow || overflow || tk->n > TOUCHED_KEYS_MAX;
        }
        pthread_mutex_unlock(&tk->lock);
}

bool touched_keys_hit(struct touched_keys *tk, const char *table,
                      const char *key_text)
{
        pthread_mutex_lock(&tk->lock);
        bool hit = !tk->keys || tk->overflow ||
                   json_object_get(json_object_get(tk->keys, table),
                                   key_text) != NULL;
        pthread_mutex_unlock(&tk->lock);
        return hit;
}
