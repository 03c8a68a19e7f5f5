/* SPDX-License-Identifier: Apache-2.0
 * The sink role of transport = kafka: [sink] workers threads, each a
 * member of consumer group [sink] group (see kafka_sink_worker.h),
 * reading the topics <topic_prefix>.<[source] database>.<table> and
 * applying them through the mapping. The same interface as the direct
 * pipeline, so the service loop drives either.
 */
#ifndef FERRY_KAFKA_SINK_H
#define FERRY_KAFKA_SINK_H

#include "daemon/config.h"
#include "daemon/metrics.h"

#include <stdbool.h>

struct kafka_sink;

/**
 * @brief Loads the mapping and starts the workers (they connect and join
 *        the group on their own threads).
 * @returns 0 or FERRY_ERR_CONFIG (errstr set)
 * @context loop
 */
int kafka_sink_start(const struct cfg *cfg, struct metrics *reg,
                     struct kafka_sink **ksp, char *errstr,
                     size_t errstr_size) FERRY_WUR;

/* @brief Asks every worker to commit what it applied and leave the group. */
void kafka_sink_request_stop(struct kafka_sink *ks);

/* @brief Every worker commits what it applied and stops fetching (true),
 * or goes on; they stay in the group, and messages wait in Kafka. */
void kafka_sink_set_paused(struct kafka_sink *ks, bool paused);
bool kafka_sink_paused(struct kafka_sink *ks);

/* @returns true once every worker has ended (on request or error). */
bool kafka_sink_finished(struct kafka_sink *ks);

/* @brief Joins the workers and frees everything; NULL is a no-op.
 * @returns 0 after a clean stop, else the first fatal error (logged). */
int kafka_sink_free(struct kafka_sink *ks);

/* @brief true while every worker is connected and in the group. */
bool kafka_sink_ready(struct kafka_sink *ks, char *reason, size_t reason_size);

/* @brief Lags in seconds: source is 0 (another process's role); sink and
 * total are the age of the last applied message while messages wait,
 * else 0. */
void kafka_sink_lags(struct kafka_sink *ks, double *source, double *sink,
                     double *total);

/* @brief The name of the sink workers' rows in the target's
 * ferry.offsets ("kafka:<group>"). */
void kafka_sink_pipeline_name(const struct cfg *cfg, char *out,
                              size_t out_size);

#endif
