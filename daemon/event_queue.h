/* SPDX-License-Identifier: Apache-2.0
 * The bounded in-process queue of transport = direct: change events from
 * the source thread to the sink thread. Bounded in bytes, so a slow
 * target makes the binlog reader wait instead of growing memory; a
 * single event larger than the bound still passes (alone).
 */
#ifndef FERRY_EVENT_QUEUE_H
#define FERRY_EVENT_QUEUE_H

#include "transforms/event.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_queue;

struct event_queue *event_queue_new(size_t max_bytes);
/* @brief Frees the queue and any events still in it. */
void event_queue_free(struct event_queue *q);

/**
 * @brief Appends ev (ownership passes to the queue), waiting while the
 *        queue is full.
 * @returns 0, or FERRY_ERR_STOP once the queue is closed (ev is freed)
 * @context producer thread
 */
int event_queue_push(struct event_queue *q, struct ferry_event *ev);

/**
 * @brief Takes the oldest event, waiting up to timeout_ms (-1: forever).
 * @returns the event (caller owns it), or NULL on timeout or when the
 *          queue is closed and empty
 * @context consumer thread
 */
struct ferry_event *event_queue_pop(struct event_queue *q, int timeout_ms);

/* @brief Wakes both sides; pushes fail from now on, pops drain. */
void event_queue_close(struct event_queue *q);

/* @returns true once closed and empty: nothing more will come. */
bool event_queue_closed(struct event_queue *q);

size_t event_queue_bytes(struct event_queue *q);
size_t event_queue_len(struct event_queue *q);

#endif
