/* SPDX-License-Identifier: Apache-2.0
 * The cutover over the direct pipeline; see cutover_flows.h. The
 * pipeline's sink remembers the keys it applies and records barriers
 * under its own name in ferry.offsets.
 */
#include "daemon/cutover_flows.h"

#include "daemon/barrier.h"

#include <stdio.h>

static bool direct_refuse(void *flow, char *why, size_t why_size)
{
        if (!pipeline_paused(flow))
                return false;
        snprintf(why, why_size, "the sink is paused: ferryctl resume first");
        return true;
}

static bool direct_backfill_done(void *flow)
{
        return pipeline_backfill_done(flow);
}

static void direct_lags(void *flow, double *source, double *sink, double *total)
{
        pipeline_lags(flow, source, sink, total);
}

static struct touched_keys *direct_touched(void *flow)
{
        return pipeline_touched_keys(flow);
}

/* The direct pipeline's one sink records every barrier it applies
 * under one part, so one row tells. */
static int direct_barrier(void *flow, MYSQL *src, MYSQL *dst,
                          int64_t timeout_ms, const atomic_bool *abort,
                          char *id, size_t id_size, char *errstr,
                          size_t errstr_size)
{
        return barrier_pass(pipeline_config(flow), src, dst, timeout_ms, abort,
                            id, id_size, errstr, errstr_size);
}

static void direct_set_retiring(void *flow, bool on)
{
        pipeline_set_retiring(flow, on);
}

static void direct_end(void *flow)
{
        pipeline_end_at_cutover(flow);
}

static const struct mapping *direct_mapping(void *flow)
{
        return pipeline_mapping(flow);
}

static void direct_release(void *flow)
{
        (void)flow; /* the service owns the pipeline */
}

const struct cutover_ops cutover_direct_ops = {
        .refuse = direct_refuse,
        .backfill_done = direct_backfill_done,
        .lags = direct_lags,
        .touched = direct_touched,
        .barrier = direct_barrier,
        .set_retiring = direct_set_retiring,
        .end = direct_end,
        .name = pipeline_name,
        .mapping = direct_mapping,
        .release = direct_release,
};
