/* SPDX-License-Identifier: Apache-2.0
 * The flows the service can run; see flow.h.
 */
#include "daemon/flow.h"

#include "daemon/cutover_flows.h"

#include "daemon/kafka_sink.h"
#include "daemon/kafka_source.h"
#include "daemon/pipeline.h"

#include "common/xalloc.h"

#include <stdio.h>
#include <stdlib.h>

static int direct_start(const struct cfg *cfg, struct metrics *reg, void **out,
                        char *errstr, size_t errstr_size)
{
        struct pipeline *p = NULL;
        int rc = pipeline_start(cfg, reg, &p, errstr, errstr_size);
        *out = p;
        return rc;
}

static void direct_request_stop(void *f)
{
        pipeline_request_stop(f);
}
static bool direct_finished(void *f)
{
        return pipeline_finished(f);
}
static int direct_free(void *f)
{
        return pipeline_free(f);
}
static bool direct_ready(void *f, char *r, size_t n)
{
        return pipeline_ready(f, r, n);
}
static void direct_lags(void *f, double *a, double *b, double *c)
{
        pipeline_lags(f, a, b, c);
}

static int direct_cutover(void *f, const struct cfg *cfg,
                          const struct cutover_ops **ops, void **target,
                          char *errstr, size_t errstr_size)
{
        (void)cfg;
        (void)errstr;
        (void)errstr_size;
        *ops = &cutover_direct_ops;
        *target = f;
        return 0;
}
static bool direct_cut_over(void *f)
{
        return pipeline_cut_over(f);
}

static int direct_set_paused(void *f, bool on, char *errstr, size_t errstr_size)
{
        (void)errstr;
        (void)errstr_size;
        pipeline_set_paused(f, on);
        return 0;
}
static bool direct_paused(void *f)
{
        return pipeline_paused(f);
}

const struct flow_ops flow_direct = {
        "direct pipeline", direct_start,   direct_request_stop,
        direct_finished,   direct_free,    direct_ready,
        direct_lags,       direct_cutover, direct_cut_over,
        direct_set_paused, direct_paused,
};

static int ksrc_start(const struct cfg *cfg, struct metrics *reg, void **out,
                      char *errstr, size_t errstr_size)
{
        struct kafka_source *ks = NULL;
        int rc = kafka_source_start(cfg, reg, &ks, errstr, errstr_size);
        *out = ks;
        return rc;
}

static void ksrc_request_stop(void *f)
{
        kafka_source_request_stop(f);
}
static bool ksrc_finished(void *f)
{
        return kafka_source_finished(f);
}
static int ksrc_free(void *f)
{
        return kafka_source_free(f);
}
static bool ksrc_ready(void *f, char *r, size_t n)
{
        return kafka_source_ready(f, r, n);
}
static void ksrc_lags(void *f, double *a, double *b, double *c)
{
        kafka_source_lags(f, a, b, c);
}

static int ksrc_cutover(void *f, const struct cfg *cfg,
                        const struct cutover_ops **ops, void **target,
                        char *errstr, size_t errstr_size)
{
        *ops = &cutover_kafka_ops;
        return cutover_kafka_new(cfg, f, NULL, target, errstr, errstr_size);
}
static bool ksrc_cut_over(void *f)
{
        return kafka_source_cut_over(f);
}

/* The source never waits for its sinks: there is nothing to pause. */
static int ksrc_set_paused(void *f, bool on, char *errstr, size_t errstr_size)
{
        (void)f;
        (void)on;
        snprintf(errstr, errstr_size,
                 "this ferryd is a kafka source: pause and resume the "
                 "ferryd with role = sink (or all)");
        return FERRY_ERR_CONFIG;
}
static bool ksrc_paused(void *f)
{
        (void)f;
        return false;
}

static const struct flow_ops flow_kafka_source = {
        "kafka source", ksrc_start,      ksrc_request_stop, ksrc_finished,
        ksrc_free,      ksrc_ready,      ksrc_lags,         ksrc_cutover,
        ksrc_cut_over,  ksrc_set_paused, ksrc_paused,
};

static int ksink_start(const struct cfg *cfg, struct metrics *reg, void **out,
                       char *errstr, size_t errstr_size)
{
        struct kafka_sink *ks = NULL;
        int rc = kafka_sink_start(cfg, reg, &ks, errstr, errstr_size);
        *out = ks;
        return rc;
}

static void ksink_request_stop(void *f)
{
        kafka_sink_request_stop(f);
}
static bool ksink_finished(void *f)
{
        return kafka_sink_finished(f);
}
static int ksink_free(void *f)
{
        return kafka_sink_free(f);
}
static bool ksink_ready(void *f, char *r, size_t n)
{
        return kafka_sink_ready(f, r, n);
}
static void ksink_lags(void *f, double *a, double *b, double *c)
{
        kafka_sink_lags(f, a, b, c);
}

/* The sink cannot pause the source's writes nor see its barriers. */
static int ksink_cutover(void *f, const struct cfg *cfg,
                         const struct cutover_ops **ops, void **target,
                         char *errstr, size_t errstr_size)
{
        (void)f;
        (void)cfg;
        (void)ops;
        (void)target;
        snprintf(errstr, errstr_size,
                 "this ferryd is a kafka sink: run ferryctl cutover against "
                 "the ferryd with role = source (or all)");
        return FERRY_ERR_CONFIG;
}
static bool ksink_cut_over(void *f)
{
        (void)f;
        return false;
}

static int ksink_set_paused(void *f, bool on, char *errstr, size_t errstr_size)
{
        (void)errstr;
        (void)errstr_size;
        kafka_sink_set_paused(f, on);
        return 0;
}
static bool ksink_paused(void *f)
{
        return kafka_sink_paused(f);
}

static const struct flow_ops flow_kafka_sink = {
        "kafka sink",   ksink_start,      ksink_request_stop, ksink_finished,
        ksink_free,     ksink_ready,      ksink_lags,         ksink_cutover,
        ksink_cut_over, ksink_set_paused, ksink_paused,
};

/* role = all with Kafka: both roles in one process, each with its own
 * threads, speaking through the brokers exactly as two processes do. */
struct kafka_all {
        struct kafka_source *src;
        struct kafka_sink *sink;
};

static int kall_start(const struct cfg *cfg, struct metrics *reg, void **out,
                      char *errstr, size_t errstr_size)
{
        struct kafka_all *ka = xcalloc(1, sizeof(*ka));
        int rc = kafka_source_start(cfg, reg, &ka->src, errstr, errstr_size);
        if (rc == 0)
                rc = kafka_sink_start(cfg, reg, &ka->sink, errstr, errstr_size);
        if (rc) {
                if (ka->src) {
                        kafka_source_request_stop(ka->src);
                        (void)kafka_source_free(ka->src);
                }
                free(ka);
                *out = NULL;
                return rc;
        }
        *out = ka;
        return 0;
}

static void kall_request_stop(void *f)
{
        struct kafka_all *ka = f;
        kafka_source_request_stop(ka->src);
        kafka_sink_request_stop(ka->sink);
}

/* One role ending ends the process: the other would only fall behind. */
static bool kall_finished(void *f)
{
        struct kafka_all *ka = f;
        return kafka_source_finished(ka->src) || kafka_sink_finished(ka->sink);
}

static int kall_free(void *f)
{
        struct kafka_all *ka = f;
        if (!ka)
                return 0;
        kall_request_stop(ka);
        int a = kafka_source_free(ka->src);
        int b = kafka_sink_free(ka->sink);
        free(ka);
        return a ? a : b;
}

static bool kall_ready(void *f, char *r, size_t n)
{
        struct kafka_all *ka = f;
        return kafka_source_ready(ka->src, r, n) &&
               kafka_sink_ready(ka->sink, r, n);
}

static void kall_lags(void *f, double *a, double *b, double *c)
{
        struct kafka_all *ka = f;
        double s1, k1, t1, s2, k2, t2;
        kafka_source_lags(ka->src, &s1, &k1, &t1);
        kafka_sink_lags(ka->sink, &s2, &k2, &t2);
        *a = s1;
        *b = k2;
        *c = s1 > k2 ? s1 : k2;
        (void)t1;
        (void)t2;
        (void)k1;
        (void)s2;
}

static int kall_cutover(void *f, const struct cfg *cfg,
                        const struct cutover_ops **ops, void **target,
                        char *errstr, size_t errstr_size)
{
        struct kafka_all *ka = f;
        *ops = &cutover_kafka_ops;
        return cutover_kafka_new(cfg, ka->src, ka->sink, target, errstr,
                                 errstr_size);
}
static bool kall_cut_over(void *f)
{
        struct kafka_all *ka = f;
        return kafka_source_cut_over(ka->src);
}

static int kall_set_paused(void *f, bool on, char *errstr, size_t errstr_size)
{
        struct kafka_all *ka = f;
        return ksink_set_paused(ka->sink, on, errstr, errstr_size);
}
static bool kall_paused(void *f)
{
        struct kafka_all *ka = f;
        return kafka_sink_paused(ka->sink);
}

static const struct flow_ops flow_kafka_all = {
        "kafka source and sink",
        kall_start,
        kall_request_stop,
        kall_finished,
        kall_free,
        kall_ready,
        kall_lags,
        kall_cutover,
        kall_cut_over,
        kall_set_paused,
        kall_paused,
};

const struct flow_ops *flow_for(const struct cfg *cfg, char *errstr,
                                size_t errstr_size)
{
        if (cfg->daemon.transport == CFG_TRANSPORT_DIRECT)
                return &flow_direct;
        if (cfg->daemon.role == CFG_ROLE_SOURCE)
                return &flow_kafka_source;
        if (cfg->daemon.role == CFG_ROLE_SINK)
                return &flow_kafka_sink;
        (void)errstr;
        (void)errstr_size;
        return &flow_kafka_all;
}
