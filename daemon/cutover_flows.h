/* SPDX-License-Identifier: Apache-2.0
 * The flows a cutover can drive (cutover.h's struct cutover_ops): the
 * direct pipeline, and the Kafka source role (alone, or with the sink
 * in the same process). A Kafka sink role cannot: the cutover pauses
 * the source's writes and must see its barriers produced.
 */
#ifndef FERRY_CUTOVER_FLOWS_H
#define FERRY_CUTOVER_FLOWS_H

#include "daemon/config.h"
#include "daemon/cutover.h"
#include "daemon/kafka_sink.h"
#include "daemon/kafka_source.h"
#include "daemon/pipeline.h"

/* The direct pipeline's ops; the flow is the struct pipeline itself. */
extern const struct cutover_ops cutover_direct_ops;

/* The Kafka source's ops; the flow is made by cutover_kafka_new. */
extern const struct cutover_ops cutover_kafka_ops;

/**
 * @brief Binds a cutover to the Kafka source (and the sink running in
 *        the same process, or NULL): loads the mapping of [sink]
 *        mapping, which the verify needs.
 * @param cfg, ks, sink  must outlive the result
 * @param out  freed by cutover_kafka_ops.release (cutover_free)
 * @returns 0, or FERRY_ERR_CONFIG with one line saying what the config
 *          lacks (the target connection, the mapping) or what is wrong
 *          with the mapping
 */
int cutover_kafka_new(const struct cfg *cfg, struct kafka_source *ks,
                      struct kafka_sink *sink, void **out, char *errstr,
                      size_t errstr_size) FERRY_WUR;

#endif
