/* SPDX-License-Identifier: Apache-2.0
 * What the service loop drives: the direct pipeline or one Kafka role.
 * Each flow owns its threads; the loop only starts, polls and stops it.
 */
#ifndef FERRY_FLOW_H
#define FERRY_FLOW_H

#include "daemon/config.h"
#include "daemon/metrics.h"

#include <stdbool.h>
#include <stddef.h>

struct cutover_ops;

struct flow_ops {
        const char *name;
        int (*start)(const struct cfg *cfg, struct metrics *reg, void **out,
                     char *errstr, size_t errstr_size);
        void (*request_stop)(void *flow);
        bool (*finished)(void *flow);
        int (*free)(void *flow);
        bool (*ready)(void *flow, char *reason, size_t reason_size);
        void (*lags)(void *flow, double *source, double *sink, double *total);
        /* What `ferryctl cutover` drives (cutover_flows.h): 0 with ops
         * and target, or an error with one line saying why not. */
        int (*cutover)(void *flow, const struct cfg *cfg,
                       const struct cutover_ops **ops, void **target,
                       char *errstr, size_t errstr_size);
        /* @returns true once the stream ended at a cutover: the daemon
         * stays up, in state cut_over. */
        bool (*cut_over)(void *flow);
        /* ferryctl pause / resume: the sink applies nothing new, or goes
         * on. @returns 0, or FERRY_ERR_CONFIG with one line saying why
         * not (a flow without a sink). */
        int (*set_paused)(void *flow, bool paused, char *errstr,
                          size_t errstr_size);
        bool (*paused)(void *flow);
};

extern const struct flow_ops flow_direct;

/**
 * @returns the flow the config asks for, or NULL with errstr saying what
 *          is not built
 */
const struct flow_ops *flow_for(const struct cfg *cfg, char *errstr,
                                size_t errstr_size);

#endif
