/* SPDX-License-Identifier: Apache-2.0
 * The dead-letter queue of the Kafka sink (on_error = dead_letter): a
 * message the sink cannot apply is copied, key and value untouched, to
 * <topic_prefix>.dlq with headers saying where it came from and why.
 * Sending waits for the brokers' acknowledgement, so the sink never moves
 * its offset past a message that is neither applied nor dead-lettered.
 */
#ifndef FERRY_KAFKA_DLQ_H
#define FERRY_KAFKA_DLQ_H

#include "common/ferry_error.h"

#include <librdkafka/rdkafka.h>
#include <stddef.h>

struct kafka_dlq;

/**
 * @brief Creates an idempotent producer (acks=all) for topic.
 * @param rdkafka_keys/values/n  the [kafka] rdkafka.* pass-through
 *        (consumer-only properties are ignored by librdkafka with a
 *        warning)
 * @returns 0, FERRY_ERR_CONFIG or FERRY_ERR_FATAL, errstr set
 */
int kafka_dlq_new(const char *brokers, const char *topic,
                  char *const *rdkafka_keys, char *const *rdkafka_values,
                  size_t n_rdkafka, struct kafka_dlq **dlqp, char *errstr,
                  size_t errstr_size) FERRY_WUR;
/* @brief Flushes and frees; NULL is a no-op. */
void kafka_dlq_free(struct kafka_dlq *dlq);

/**
 * @brief Copies msg to the DLQ with headers topic, partition, offset and
 *        error (the reason), and waits until it is acknowledged.
 * @returns 0, or FERRY_ERR_RETRY (not acknowledged within the timeout:
 *          the caller must not move past msg)
 * @context the caller's thread; blocks up to about 30 s
 */
int kafka_dlq_send(struct kafka_dlq *dlq, const rd_kafka_message_t *msg,
                   const char *error, char *errstr,
                   size_t errstr_size) FERRY_WUR;

/* @returns the DLQ topic name (owned by dlq). */
const char *kafka_dlq_topic(const struct kafka_dlq *dlq);

#endif
