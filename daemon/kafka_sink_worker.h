/* SPDX-License-Identifier: Apache-2.0
 * One sink worker of transport = kafka: a group consumer, a target
 * connection and (with on_error = dead_letter) a DLQ producer, applying
 * messages in batches of up to 5000 rows or 200 ms per target
 * transaction. Each batch commits the next offset of every partition it
 * read in ferry.offsets (pipeline "kafka:<group>", part
 * "kafka:<topic>:<partition>") together with the rows, so the target
 * alone says where to resume: exactly once in effect. Kafka's committed
 * offsets are written afterwards, for lag tooling only.
 */
#ifndef FERRY_KAFKA_SINK_WORKER_H
#define FERRY_KAFKA_SINK_WORKER_H

#include "common/ferry_error.h"
#include "daemon/config.h"
#include "daemon/metrics.h"
#include "transforms/mapping.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What every worker of one process shares; owned by kafka_sink.c. */
struct kafka_sink_shared {
        const struct cfg *cfg;
        const struct mapping *map;
        struct metrics *reg; /* may be NULL */
        atomic_bool stop;    /* drain: commit what is applied, then end */
        atomic_bool paused;  /* ferryctl pause: apply nothing new */
        char pipeline[256];  /* "kafka:<group>" */
        char topic_regex[1024];
        char dlq_topic[300];

        struct metric_histogram *m_batch;
        struct metric_counter *m_err_kafka_retry, *m_err_kafka_fatal,
                *m_err_sink_retry, *m_err_sink_fatal, *m_err_poison,
                *m_err_mapping, *m_dead_lettered, *m_unique_replays;
};

struct sink_worker;

/* @brief A worker with nothing connected yet; id names it in logs. */
struct sink_worker *sink_worker_new(struct kafka_sink_shared *sh, int id);
/* @brief Frees w (after sink_worker_run returned); NULL is a no-op. */
void sink_worker_free(struct sink_worker *w);

/**
 * @brief Runs epochs (connect, join the group, apply) until a stop is
 *        requested or a fatal error; retriable errors back off and
 *        start a new epoch from the stored offsets.
 * @returns 0 after a requested stop, else the fatal error (errstr says
 *          which topic, partition and offset when one is to blame)
 * @context its own thread
 */
int sink_worker_run(struct sink_worker *w, char *errstr,
                    size_t errstr_size) FERRY_WUR;

/* @returns true while connected to the target and in the group.
 * @context any */
bool sink_worker_ready(const struct sink_worker *w);

/* @brief Messages not yet applied over the worker's partitions (-1:
 * unknown), and the Kafka timestamp of the last applied message (ms).
 * @context any */
int64_t sink_worker_backlog(const struct sink_worker *w);
uint64_t sink_worker_applied_ts(const struct sink_worker *w);

#endif
