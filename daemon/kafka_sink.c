/* SPDX-License-Identifier: Apache-2.0
 * Kafka sink role; see kafka_sink.h. This file owns the threads and the
 * shared settings; the work is in kafka_sink_worker.c.
 */
#include "daemon/kafka_sink.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "daemon/kafka_sink_worker.h"
#include "daemon/metric_names.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct worker_thread {
        struct kafka_sink *ks;
        struct sink_worker *w;
        pthread_t thread;
        int rc;
        char error[1200];
};

struct kafka_sink {
        struct kafka_sink_shared sh;
        struct mapping *map;
        struct worker_thread *threads;
        int nthreads;
        atomic_int running;
        pthread_mutex_t lock; /* guards first_error */
        int first_rc;
        char first_error[1200];
        struct metric_gauge *m_sink_lag, *m_total_lag;
};

/* Topic names are <prefix>.<db>.<table>; both may hold regex
 * metacharacters ('.' at least), so they are escaped. */
static void regex_escape(const char *s, char *out, size_t outsz)
{
        size_t n = 0;
        for (; *s && n + 3 < outsz; s++) {
                if (strchr(".^$*+?()[]{}|\\", *s))
                        out[n++] = '\\';
                out[n++] = *s;
        }
        out[n] = '\0';
}

static void *worker_main(void *arg)
{
        struct worker_thread *t = arg;
        struct kafka_sink *ks = t->ks;
        t->rc = sink_worker_run(t->w, t->error, sizeof(t->error));
        if (t->rc) {
                pthread_mutex_lock(&ks->lock);
                if (!ks->first_rc) {
                        ks->first_rc = t->rc;
                        snprintf(ks->first_error, sizeof(ks->first_error), "%s",
                                 t->error);
                }
                pthread_mutex_unlock(&ks->lock);
                log_error("kafka sink stopped: %s", t->error);
                /* One worker's fatal error ends the process: the others
                 * commit what they applied and leave the group. */
                atomic_store(&ks->sh.stop, true);
        }
        atomic_fetch_sub(&ks->running, 1);
        return NULL;
}

static double gauge_lag(void *opaque)
{
        double s, k, t;
        kafka_sink_lags(opaque, &s, &k, &t);
        return k;
}

static void register_metrics(struct kafka_sink *ks, struct metrics *reg)
{
        struct kafka_sink_shared *sh = &ks->sh;
        sh->m_batch = metrics_histogram(reg, FERRY_M_SINK_BATCH_SECONDS, NULL,
                                        0, NULL);
        sh->m_err_kafka_retry = metrics_counter(reg, FERRY_M_ERRORS_TOTAL,
                                                "kind", "kafka_retry", NULL);
        sh->m_err_kafka_fatal = metrics_counter(reg, FERRY_M_ERRORS_TOTAL,
                                                "kind", "kafka_fatal", NULL);
        sh->m_err_sink_retry = metrics_counter(reg, FERRY_M_ERRORS_TOTAL,
                                               "kind", "sink_retry", NULL);
        sh->m_err_sink_fatal = metrics_counter(reg, FERRY_M_ERRORS_TOTAL,
                                               "kind", "sink_fatal", NULL);
        sh->m_err_poison = metrics_counter(reg, FERRY_M_ERRORS_TOTAL, "kind",
                                           "poison", NULL);
        sh->m_err_mapping = metrics_counter(reg, FERRY_M_ERRORS_TOTAL, "kind",
                                            "mapping", NULL);
        sh->m_dead_lettered = metrics_counter(reg, FERRY_M_ERRORS_TOTAL, "kind",
                                              "dead_letter", NULL);
        sh->m_unique_replays = metrics_counter(reg, FERRY_M_ERRORS_TOTAL,
                                               "kind", "unique_conflict", NULL);
        ks->m_sink_lag = metrics_gauge(reg, FERRY_M_SINK_LAG_SECONDS, NULL);
        metric_gauge_bind(ks->m_sink_lag, gauge_lag, ks);
        ks->m_total_lag =
                metrics_gauge(reg, FERRY_M_REPLICATION_LAG_SECONDS, NULL);
        metric_gauge_bind(ks->m_total_lag, gauge_lag, ks);
}

int kafka_sink_start(const struct cfg *cfg, struct metrics *reg,
                     struct kafka_sink **ksp, char *errstr, size_t errstr_size)
{
        struct mapping *map;
        char prefix[256], db[256];
        *ksp = NULL;
        if (mapping_load(cfg->sink.mapping, &map, errstr, errstr_size))
                return FERRY_ERR_CONFIG;

        struct kafka_sink *ks = xcalloc(1, sizeof(*ks));
        ks->map = map;
        pthread_mutex_init(&ks->lock, NULL);
        struct kafka_sink_shared *sh = &ks->sh;
        sh->cfg = cfg;
        sh->map = map;
        sh->reg = reg;
        atomic_init(&sh->stop, false);
        atomic_init(&sh->paused, false);
        kafka_sink_pipeline_name(cfg, sh->pipeline, sizeof(sh->pipeline));
        regex_escape(cfg->kafka.topic_prefix, prefix, sizeof(prefix));
        regex_escape(cfg->source.db.database, db, sizeof(db));
        snprintf(sh->topic_regex, sizeof(sh->topic_regex), "^%s\\.%s\\..+",
                 prefix, db);
        snprintf(sh->dlq_topic, sizeof(sh->dlq_topic), "%.250s.dlq",
                 cfg->kafka.topic_prefix);
        if (reg)
                register_metrics(ks, reg);

        ks->nthreads = cfg->sink.workers;
        ks->threads = xcalloc((size_t)ks->nthreads, sizeof(*ks->threads));
        atomic_init(&ks->running, ks->nthreads);
        for (int i = 0; i < ks->nthreads; i++) {
                struct worker_thread *t = &ks->threads[i];
                t->ks = ks;
                t->w = sink_worker_new(sh, i);
                pthread_create(&t->thread, NULL, worker_main, t);
        }
        log_info("kafka sink started group=%s workers=%d topics=%s "
                 "on_error=%s",
                 cfg->sink.group, ks->nthreads, sh->topic_regex,
                 cfg->sink.on_error == CFG_ON_ERROR_STOP ? "stop"
                                                         : "dead_letter");
        *ksp = ks;
        return 0;
}

void kafka_sink_request_stop(struct kafka_sink *ks)
{
        atomic_store(&ks->sh.stop, true);
}

void kafka_sink_set_paused(struct kafka_sink *ks, bool paused)
{
        atomic_store(&ks->sh.paused, paused);
}

bool kafka_sink_paused(struct kafka_sink *ks)
{
        return atomic_load(&ks->sh.paused);
}

bool kafka_sink_finished(struct kafka_sink *ks)
{
        return atomic_load(&ks->running) == 0;
}

int kafka_sink_free(struct kafka_sink *ks)
{
        if (!ks)
                return 0;
        kafka_sink_request_stop(ks);
        for (int i = 0; i < ks->nthreads; i++) {
                pthread_join(ks->threads[i].thread, NULL);
                sink_worker_free(ks->threads[i].w);
        }
        if (ks->sh.reg) {
                metric_gauge_bind(ks->m_sink_lag, NULL, NULL);
                metric_gauge_bind(ks->m_total_lag, NULL, NULL);
        }
        int rc = ks->first_rc;
        free(ks->threads);
        mapping_free(ks->map);
        pthread_mutex_destroy(&ks->lock);
        free(ks);
        return rc;
}

bool kafka_sink_ready(struct kafka_sink *ks, char *reason, size_t reason_size)
{
        if (kafka_sink_finished(ks)) {
                pthread_mutex_lock(&ks->lock);
                snprintf(reason, reason_size, "kafka sink stopped%s%s",
                         ks->first_rc ? ": " : "", ks->first_error);
                pthread_mutex_unlock(&ks->lock);
                return false;
        }
        for (int i = 0; i < ks->nthreads; i++) {
                if (!sink_worker_ready(ks->threads[i].w)) {
                        snprintf(reason, reason_size,
                                 "kafka sink worker %d not connected", i);
                        return false;
                }
        }
        return true;
}

void kafka_sink_lags(struct kafka_sink *ks, double *source, double *sink,
                     double *total)
{
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t now =
                (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
        double lag = 0;
        for (int i = 0; i < ks->nthreads; i++) {
                struct sink_worker *w = ks->threads[i].w;
                if (sink_worker_backlog(w) <= 0)
                        continue; /* caught up (or nothing assigned yet) */
                uint64_t applied = sink_worker_applied_ts(w);
                double l = now > applied ? (double)(now - applied) / 1000.0 : 0;
                if (l > lag)
                        lag = l;
        }
        *source = 0;
        *sink = lag;
        *total = lag;
}

void kafka_sink_pipeline_name(const struct cfg *cfg, char *out, size_t out_size)
{
        /* The group's members share the partitions, so their rows too. */
        snprintf(out, out_size, "kafka:%.240s", cfg->sink.group);
}
