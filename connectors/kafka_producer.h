/* SPDX-License-Identifier: Apache-2.0
 * The Kafka producer of the source role: one topic per source table
 * (<topic_prefix>.<db>.<table>), key = primary-key JSON, value = the
 * Debezium-style event JSON, and a tombstone (same key, NULL value)
 * after every delete so compacted topics can drop the key.
 *
 * Every message carries a sequence number (1, 2, 3, ... in produce
 * order) that comes back in the delivery report, so the caller can tell
 * when a transaction and everything before it is safely in Kafka.
 * Memory stays bounded: when librdkafka's queue is full, produce waits
 * (serving delivery reports) instead of growing.
 */
#ifndef FERRY_KAFKA_PRODUCER_H
#define FERRY_KAFKA_PRODUCER_H

#include "common/ferry_error.h"
#include "transforms/event.h"
#include "transforms/event_json.h"

#include <jansson.h>

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kafka_producer_opts {
        const char *brokers;      /* bootstrap.servers */
        const char *topic_prefix; /* topics are <prefix>.<db>.<table> */
        /* rdkafka.<prop> from the config: override the defaults */
        char *const *rdkafka_keys;
        char *const *rdkafka_values;
        size_t n_rdkafka;
        struct event_json_opts json; /* envelope's source fields */
};

/* A delivery report: seq is the message's sequence number, topic its
 * topic (for per-topic counters), err 0 when
 * the brokers acknowledged it (acks=all), else FERRY_ERR_RETRY with
 * librdkafka's reason (the message is lost to this producer; the caller
 * must resend from a checkpoint).
 * @context the thread calling kafka_producer_poll/_flush/_send */
typedef void(kafka_delivery_fn)(uint64_t seq, const char *topic, int err,
                                const char *reason, void *opaque);

struct kafka_producer;

/**
 * @brief Creates the producer (connects lazily).
 * @returns NULL with errstr set when a property is unknown or invalid.
 */
struct kafka_producer *kafka_producer_new(const struct kafka_producer_opts *o,
                                          kafka_delivery_fn *dr, void *opaque,
                                          char *errstr, size_t errstr_size);

/* @brief Checks the properties (defaults, brokers, rdkafka.*) without
 * creating a producer: config errors surface before the service starts.
 * @returns 0 or FERRY_ERR_CONFIG naming the property. */
int kafka_producer_check(const struct kafka_producer_opts *o, char *errstr,
                         size_t errstr_size) FERRY_WUR;

/* @brief Destroys without waiting: undelivered messages are purged and
 * reported as failed. Flush first for a clean stop. NULL is a no-op. */
void kafka_producer_free(struct kafka_producer *p);

/**
 * @brief Produces one row event (and its tombstone after a delete).
 *        Waits while the local queue is full, until *stop.
 * @returns 0, FERRY_ERR_STOP, FERRY_ERR_DATA (unencodable row),
 *          FERRY_ERR_RETRY or FERRY_ERR_FATAL (producer fenced or
 *          misconfigured), errstr set.
 * @context one producing thread (with _barrier: internally locked)
 */
int kafka_producer_send(struct kafka_producer *p, const struct ferry_event *ev,
                        atomic_bool *stop, char *errstr,
                        size_t errstr_size) FERRY_WUR;

/**
 * @brief Produces a barrier to every partition of every topic produced so
 *        far: key {"__ferry_barrier":"<id>"}, value
 *        {"op":"barrier","barrier":"<id>","source":{"gtid":"<gtid>"}}.
 *        A sink that has seen the barrier on all its partitions has
 *        applied everything before gtid.
 * @param db  if not NULL, also every topic of this source database
 *            (<prefix>.<db>.*) that exists in the cluster: a sink may
 *            still be reading one this producer has not written to
 * @param sent  if not NULL, on success: {topic: partition count} of
 *              what the barrier went to (a new reference)
 * @returns 0, FERRY_ERR_RETRY (metadata not available), FERRY_ERR_STOP
 *          or FERRY_ERR_FATAL.
 * @context any thread
 */
int kafka_producer_barrier(struct kafka_producer *p, const char *id,
                           const char *gtid, const char *db, json_t **sent,
                           atomic_bool *stop, char *errstr,
                           size_t errstr_size) FERRY_WUR;

/* @brief Serves delivery reports and errors for up to timeout_ms; during
 * an outage also probes the cluster about once a second.
 * @returns 0 or FERRY_ERR_FATAL once the producer had a fatal error. */
int kafka_producer_poll(struct kafka_producer *p, int timeout_ms) FERRY_WUR;

/* @brief Waits until every message is delivered or failed.
 * @returns 0, FERRY_ERR_RETRY on timeout, FERRY_ERR_FATAL. */
int kafka_producer_flush(struct kafka_producer *p, int timeout_ms, char *errstr,
                         size_t errstr_size) FERRY_WUR;

/* @returns the sequence number of the last message produced (0: none).
 * @context any */
uint64_t kafka_producer_last_seq(struct kafka_producer *p);

/* @returns messages waiting for their delivery report. @context any */
int kafka_producer_in_flight(struct kafka_producer *p);

/* @returns true, with the reason, once librdkafka reported a fatal error
 * (rd_kafka_fatal_error): nothing more can be produced. @context any */
bool kafka_producer_fatal(struct kafka_producer *p, char *errstr,
                          size_t errstr_size);

/* @returns true while librdkafka reports every broker down (from the
 * report until the next successful delivery). @context any */
bool kafka_producer_outage(struct kafka_producer *p);

/* @returns the topic name for a table, "<prefix>.<db>.<table>", into out. */
void kafka_topic_name(const char *prefix, const char *db, const char *table,
                      char *out, size_t out_size);

#endif
