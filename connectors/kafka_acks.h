/* SPDX-License-Identifier: Apache-2.0
 * Turns delivery reports into a durable position. Messages are numbered
 * 1, 2, 3, ... as they are produced; reports come back in any order
 * (partitions are independent). A transaction's position ("point") may
 * be checkpointed only once its last message and every earlier one is
 * acknowledged: then a restart from it loses nothing (at-least-once).
 *
 * Memory: one bit per message in flight, one entry per transaction in
 * flight (transactions without new messages fold into the one before).
 */
#ifndef FERRY_KAFKA_ACKS_H
#define FERRY_KAFKA_ACKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kafka_acks;

struct kafka_acks *kafka_acks_new(void);
/* @brief Frees everything, pending points included. NULL is a no-op. */
void kafka_acks_free(struct kafka_acks *a);

/* @brief Message seq was acknowledged. @context any (locked) */
void kafka_acks_ack(struct kafka_acks *a, uint64_t seq);

/* @brief Message seq was not delivered: no later point may become
 * durable in this producer's life. Keeps the first reason.
 * @context any */
void kafka_acks_fail(struct kafka_acks *a, uint64_t seq, const char *reason);

/* @returns true, with the reason, once some message failed. */
bool kafka_acks_failed(struct kafka_acks *a, char *reason, size_t size);

/**
 * @brief Records a position that is durable once messages 1..last_seq
 *        are all acknowledged.
 * @param payload  the checkpoint text; ownership passes (freed here)
 * @param ts_ms    the transaction's commit time (for lag)
 * @context any (locked)
 */
void kafka_acks_point(struct kafka_acks *a, uint64_t last_seq, char *payload,
                      uint64_t ts_ms);

/* @returns the newest durable payload not taken before, or NULL; the
 * caller frees it. @context any */
char *kafka_acks_take_durable(struct kafka_acks *a);

/* @returns the commit time of the oldest point not yet durable, or 0. */
uint64_t kafka_acks_oldest_pending_ts(struct kafka_acks *a);

/* @returns how many messages are all acknowledged from 1 on. */
uint64_t kafka_acks_watermark(struct kafka_acks *a);

#endif
