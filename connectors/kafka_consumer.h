/* SPDX-License-Identifier: Apache-2.0
 * A Kafka group consumer whose positions live elsewhere: on every
 * assignment the owner says where each partition resumes (ferry keeps
 * them in the target database, beside the rows), and on every revocation
 * the owner settles its in-flight work before the partitions go. Kafka's
 * own committed offsets are only informative.
 *
 * Rebalancing is EAGER (range/roundrobin assignors, rd_kafka_assign):
 * every rebalance revokes the whole assignment, then assigns a whole new
 * one. That keeps the owner simple: after any rebalance it re-reads every
 * position from its store; incremental (cooperative) assignment is not
 * used, and a cooperative assignor in rdkafka.* is refused.
 *
 * A position that Kafka no longer has (below the log start: retention;
 * above the log end: a recreated topic) is a fatal error naming topic,
 * partition and offset, checked on assignment; mid-stream, the consumer
 * runs with auto.offset.reset = error so librdkafka never resets one
 * silently either. Partitions with no stored position start at the
 * beginning (what auto.offset.reset = earliest would do).
 */
#ifndef FERRY_KAFKA_CONSUMER_H
#define FERRY_KAFKA_CONSUMER_H

#include "common/ferry_error.h"

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kafka_consumer;

/**
 * @brief Called on assignment, before consuming: sets parts->elems[i].offset
 *        to the next offset to read, or RD_KAFKA_OFFSET_BEGINNING when the
 *        owner has none stored.
 * @returns 0, or an error (errstr set): nothing is then assigned and the
 *          next kafka_consumer_poll returns that error
 * @context the thread calling kafka_consumer_poll / kafka_consumer_free
 */
typedef int(kafka_consumer_assign_fn)(void *opaque,
                                      rd_kafka_topic_partition_list_t *parts,
                                      char *errstr, size_t errstr_size);

/**
 * @brief Called before parts are taken away. lost is true when the group
 *        already gave them to someone else (session timed out): in-flight
 *        work must then be abandoned, not committed.
 * @returns 0, or an error (errstr set) the next poll returns
 * @context as kafka_consumer_assign_fn
 */
typedef int(kafka_consumer_revoke_fn)(
        void *opaque, const rd_kafka_topic_partition_list_t *parts, bool lost,
        char *errstr, size_t errstr_size);

struct kafka_consumer_conf {
        const char *brokers;
        const char *group;
        const char *topic_regex; /* subscription, "^ferry\\.shop\\." */
        /* [kafka] rdkafka.* pass-through, applied after ferry's settings
         * (except those the design depends on: see kafka_consumer_new) */
        char *const *rdkafka_keys;
        char *const *rdkafka_values;
        size_t n_rdkafka;
        kafka_consumer_assign_fn *on_assign;
        kafka_consumer_revoke_fn *on_revoke;
        void *opaque;
};

/**
 * @brief Creates the consumer and subscribes. Joining the group happens
 *        in later polls.
 *
 * enable.auto.commit, enable.auto.offset.store, auto.offset.reset and
 * partition.assignment.strategy are set by ferry; rdkafka.* may not
 * override the first three, nor choose a cooperative assignor.
 *
 * @returns 0, FERRY_ERR_CONFIG (a bad rdkafka.* property) or
 *          FERRY_ERR_FATAL, errstr set
 */
int kafka_consumer_new(const struct kafka_consumer_conf *conf,
                       struct kafka_consumer **kcp, char *errstr,
                       size_t errstr_size) FERRY_WUR;

/**
 * @brief Leaves the group (revoking through the callback, which must
 *        still be valid) and frees everything; NULL is a no-op.
 */
void kafka_consumer_free(struct kafka_consumer *kc);

/**
 * @brief Waits up to timeout_ms for one message.
 * @param msgp  receives a message the caller frees with
 *              rd_kafka_message_destroy, or NULL (timeout, end of a
 *              partition, a transient error librdkafka retries itself)
 * @returns 0; FERRY_ERR_FATAL for a lost offset (named), a fatal client
 *          error, or a callback's fatal error; FERRY_ERR_RETRY for a
 *          callback's retriable error
 */
int kafka_consumer_poll(struct kafka_consumer *kc, int timeout_ms,
                        rd_kafka_message_t **msgp, char *errstr,
                        size_t errstr_size) FERRY_WUR;

/**
 * @brief Moves assigned partitions back to the given offsets (next to
 *        read; RD_KAFKA_OFFSET_BEGINNING allowed) without leaving the
 *        group: messages fetched before are not returned again.
 * @returns 0 or FERRY_ERR_RETRY (errstr names the partition)
 */
int kafka_consumer_seek(struct kafka_consumer *kc,
                        const rd_kafka_topic_partition_list_t *parts,
                        char *errstr, size_t errstr_size) FERRY_WUR;

/**
 * @brief Stops fetching from every assigned partition (paused) or goes
 *        on. The consumer stays in its group (polls keep serving
 *        rebalances), and partitions assigned later start paused too.
 *        Fetching resumes after the last message returned.
 * @returns 0 or FERRY_ERR_RETRY (errstr set)
 */
int kafka_consumer_set_paused(struct kafka_consumer *kc, bool paused,
                              char *errstr, size_t errstr_size) FERRY_WUR;

/* @brief Records offsets (next to read) in Kafka, asynchronously: for
 * lag tooling only, never read back by ferry. Errors are logged. */
void kafka_consumer_commit_async(struct kafka_consumer *kc,
                                 const rd_kafka_topic_partition_list_t *offs);

/**
 * @brief Messages between next_offset and the partition's high
 *        watermark, from librdkafka's cached watermarks (no round trip).
 * @returns the lag, or -1 when the watermark is not known yet
 */
int64_t kafka_consumer_lag(struct kafka_consumer *kc, const char *topic,
                           int32_t partition, int64_t next_offset);

/* @brief The group member id ("" before joining), for log lines. */
const char *kafka_consumer_member(struct kafka_consumer *kc, char *buf,
                                  size_t buf_size);

#endif
