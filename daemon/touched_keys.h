/* SPDX-License-Identifier: Apache-2.0
 * The source keys a flow has carried since the cutover asked: the
 * direct pipeline remembers what its sink applied, the Kafka source
 * what it produced (a superset of what the sinks applied by the next
 * barrier). The cutover re-checks exactly these rows in its write
 * pause instead of every row.
 *
 * Keys are kept as {source table: {key text: key}}, key text being the
 * key object as compact JSON with sorted keys. Past TOUCHED_KEYS_MAX
 * keys it stops remembering and says so (overflow): the caller must
 * then check everything.
 */
#ifndef FERRY_TOUCHED_KEYS_H
#define FERRY_TOUCHED_KEYS_H

#include <jansson.h>
#include <stdbool.h>

#define TOUCHED_KEYS_MAX 200000

struct touched_keys;

struct touched_keys *touched_keys_new(void);
/* @brief NULL is a no-op. */
void touched_keys_free(struct touched_keys *tk);

/* @returns whether keys are being remembered (cheap: one atomic load,
 * for hot paths that skip work when nobody asks). @context any */
bool touched_keys_recording(struct touched_keys *tk);

/* @brief Remembers key (borrowed) of table, if recording. @context any */
void touched_keys_add(struct touched_keys *tk, const char *table, json_t *key);

/* @brief Starts remembering, dropping what was remembered. */
void touched_keys_start(struct touched_keys *tk);

/**
 * @brief Stops remembering and hands over what was remembered (a new
 *        reference, never NULL); overflow says more keys came than were
 *        kept.
 */
json_t *touched_keys_take(struct touched_keys *tk, bool *overflow);

/* @brief touched_keys_take and touched_keys_start as one step, so that
 * no key added in between goes unremembered. */
json_t *touched_keys_restart(struct touched_keys *tk, bool *overflow);

/* @brief Adds keys (as taken) back to what is remembered, with their
 * overflow; nothing when not recording. */
void touched_keys_merge(struct touched_keys *tk, json_t *keys, bool overflow);

/* @returns whether key_text of table was added since the start; true
 * when not recording or after an overflow (it might have been). */
bool touched_keys_hit(struct touched_keys *tk, const char *table,
                      const char *key_text);

#endif
