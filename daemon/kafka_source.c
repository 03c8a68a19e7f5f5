/* SPDX-License-Identifier: Apache-2.0
 * Kafka source role; see kafka_source.h.
 *
 * It runs in epochs like the direct pipeline. An epoch reads the
 * checkpoint, starts a producer and the binlog source from it and
 * produces until something fails. A message Kafka refuses for good
 * (delivery timeout) ends the epoch: nothing after it may be
 * checkpointed, so the next epoch starts again from the checkpoint and
 * re-produces (at-least-once; the sink's upserts are idempotent).
 */
#include "daemon/endpoint.h"
#include "daemon/kafka_source.h"
#include "common/clock.h"
#include "common/buf.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "connectors/binlog_source.h"
#include "connectors/db_conn.h"
#include "connectors/kafka_acks.h"
#include "connectors/kafka_producer.h"
#include "connectors/offsets_table.h"
#include "connectors/snapshot.h"
#include "connectors/table_filter.h"
#include "daemon/ferry_version.h"
#include "daemon/kafka_sink.h"
#include "daemon/metric_names.h"
#include "daemon/source_checkpoint.h"
#include "daemon/touched_keys.h"
#include "transforms/event_json.h"

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CHECKPOINT_EVERY_MS 100   /* at most this often while busy */
#define STOP_FLUSH_MS       10000 /* a clean stop waits this long for acks */
#define ERROR_FLUSH_MS      3000  /* ... an epoch ending in error this long */
#define BARRIERS_KEPT       8     /* barriers a cutover may still ask about */

struct counter_slot {
        char *name;
        char op;
        struct metric_counter *c;
};

struct kafka_source {
        const struct cfg *cfg;
        struct metrics *reg;
        /* [source] backfill_max_rows_per_second as it was at start: a
         * SIGHUP rewrites cfg from the loop thread, so the producing
         * thread reads this copy (a reload applies at the next start). */
        int64_t backfill_max_rows_per_s;

        pthread_t thread;
        atomic_bool stop;       /* the service asked us to stop */
        atomic_bool epoch_stop; /* the epoch must end: stop, or a failure
                                   the reader would not notice while idle */
        atomic_bool finished;
        atomic_bool ready;
        int result;
        char error[1200];

        /* The current epoch's pieces, for scrapes and barriers. */
        pthread_mutex_t lock;
        struct binlog_source *src;
        struct kafka_producer *prod;
        struct kafka_acks *acks;
        char produced_gtid[1024]; /* position produced so far */
        /* The last barriers produced, newest at (nbarriers-1) %
         * BARRIERS_KEPT: where each went, {topic: partitions}. */
        struct {
                char id[128];
                json_t *sent;
        } barriers[BARRIERS_KEPT];
        size_t nbarriers;

        /* For the cutover (cutover_kafka.c). */
        struct touched_keys *touched; /* keys produced while recording */
        atomic_bool backfill_done;    /* every planned table copied */
        atomic_bool retiring;         /* its RENAME ends the stream */
        atomic_bool cut_over;         /* the stream ended at a cutover */

        /* Epoch state of the producing thread. */
        struct gtid_pos produced;
        json_t *marks;    /* table -> snapshot position */
        char *marks_text; /* marks, serialised once per change */
        bool replan;      /* a backfill was requested: a new epoch plans
                             it from the checkpoint */
        int cb_rc;        /* why on_event stopped the source */
        char cb_err[1024];

        /* Epoch state of the acknowledging thread. */
        pthread_t ack_thread;
        atomic_bool ack_stop;
        atomic_bool persist_failed;
        char persist_err[1024];
        uint64_t last_write_ms;
        atomic_bool delivery_logged;
        atomic_bool closing; /* purging at the epoch's end: not news */

        struct metric_gauge *m_connected, *m_source_lag, *m_in_flight;
        struct metric_counter *m_err_delivery, *m_err_kafka_fatal,
                *m_err_source, *m_err_checkpoint, *m_reconnects;
        struct counter_slot *events; /* producing thread only */
        size_t nevents;
        pthread_mutex_t topics_lock; /* delivery reports: several threads */
        struct counter_slot *topics;
        size_t ntopics;
};

/* ---- metrics helpers ------------------------------------------------ */

static void count_event(struct kafka_source *ks, const struct ferry_event *ev)
{
        if (!ks->reg)
                return;
        for (size_t i = 0; i < ks->nevents; i++)
                if (ks->events[i].op == (char)ev->op &&
                    !strcmp(ks->events[i].name, ev->table->name)) {
                        metric_counter_inc(ks->events[i].c);
                        return;
                }
        char op[2] = {(char)ev->op, 0};
        ks->events =
                xrealloc(ks->events, (ks->nevents + 1) * sizeof(*ks->events));
        struct counter_slot *s = &ks->events[ks->nevents++];
        s->name = xstrdup(ev->table->name);
        s->op = (char)ev->op;
        s->c = metrics_counter(ks->reg, FERRY_M_EVENTS_TOTAL, "table",
                               ev->table->name, "op", op, NULL);
        metric_counter_inc(s->c);
}

static void count_topic(struct kafka_source *ks, const char *topic)
{
        if (!ks->reg)
                return;
        pthread_mutex_lock(&ks->topics_lock);
        struct counter_slot *s = NULL;
        for (size_t i = 0; i < ks->ntopics && !s; i++)
                if (!strcmp(ks->topics[i].name, topic))
                        s = &ks->topics[i];
        if (!s) {
                ks->topics = xrealloc(ks->topics,
                                      (ks->ntopics + 1) * sizeof(*ks->topics));
                s = &ks->topics[ks->ntopics++];
                s->name = xstrdup(topic);
                s->c = metrics_counter(ks->reg, FERRY_M_KAFKA_PRODUCED_TOTAL,
                                       "topic", topic, NULL);
        }
        metric_counter_inc(s->c);
        pthread_mutex_unlock(&ks->topics_lock);
}

/* ---- delivery reports and the checkpoint --------------------------- */

static void on_delivery(uint64_t seq, const char *topic, int err,
                        const char *reason, void *opaque)
{
        struct kafka_source *ks = opaque;
        if (!err) {
                kafka_acks_ack(ks->acks, seq);
                count_topic(ks, topic);
                return;
        }
        kafka_acks_fail(ks->acks, seq, reason);
        if (atomic_load(&ks->closing))
                return;
        atomic_store(&ks->epoch_stop, true);
        if (ks->m_err_delivery)
                metric_counter_inc(ks->m_err_delivery);
        /* Every message after a failed one fails the same way: once. */
        if (!atomic_exchange(&ks->delivery_logged, true)) {
                log_error("kafka: delivery failed, restarting from the "
                          "checkpoint topic=%s seq=%llu: %s",
                          topic, (unsigned long long)seq, reason);
        }
}

/* Writes the newest durable position, unless one was written less than
 * CHECKPOINT_EVERY_MS ago (force: now). @context ack thread, or the
 * epoch's end once that thread is gone */
static void persist(struct kafka_source *ks, bool force)
{
        if (atomic_load(&ks->persist_failed))
                return;
        if (!force && clock_mono_ms() - ks->last_write_ms < CHECKPOINT_EVERY_MS)
                return;
        char *text = kafka_acks_take_durable(ks->acks);
        if (!text)
                return;
        char err[900];
        if (source_checkpoint_write(ks->cfg->daemon.state_dir, text, err,
                                    sizeof(err))) {
                snprintf(ks->persist_err, sizeof(ks->persist_err),
                         "checkpoint: %s", err);
                atomic_store(&ks->persist_failed, true);
                if (ks->m_err_checkpoint)
                        metric_counter_inc(ks->m_err_checkpoint);
                log_error("kafka source: cannot write the checkpoint, "
                          "stopping: %s",
                          err);
        } else {
                log_debug("kafka source: checkpoint %s", text);
        }
        ks->last_write_ms = clock_mono_ms();
        free(text);
}

static void *ack_main(void *arg)
{
        struct kafka_source *ks = arg;
        while (!atomic_load(&ks->ack_stop)) {
                /* A fatal error stops the producing thread: its next
                 * send fails. Here there is only to back off. */
                if (kafka_producer_poll(ks->prod, 100)) {
                        atomic_store(&ks->epoch_stop, true);
                        clock_sleep_ms(100);
                }
                persist(ks, false);
                if (atomic_load(&ks->persist_failed))
                        atomic_store(&ks->epoch_stop, true);
        }
        return NULL;
}

/* ---- producing ------------------------------------------------------ */

/* Remembers a row's key for the cutover: produced now, so applied by
 * the sinks once the next barrier has passed. */
static void touch(struct kafka_source *ks, const struct ferry_event *ev)
{
        char err[256];
        json_t *key = event_json_key(ev, err, sizeof(err));
        if (key)
                touched_keys_add(ks->touched, ev->table->name, key);
        json_decref(key);
}

static bool marks_done(json_t *marks)
{
        const char *k;
        json_t *v;
        json_object_foreach(marks, k, v)
        {
                if (strcmp(json_string_value(v), SNAPSHOT_DONE))
                        return false;
        }
        return true;
}

/* A table's backfill position, as the next checkpoint will carry it. */
static void set_mark(struct kafka_source *ks, const char *table,
                     const char *position)
{
        json_object_set_new(ks->marks, table, json_string(position));
        free(ks->marks_text);
        ks->marks_text = json_dumps(ks->marks, JSON_COMPACT);
        atomic_store(&ks->backfill_done, marks_done(ks->marks));
}

/* Takes sent. */
static void keep_barrier(struct kafka_source *ks, const char *id, json_t *sent)
{
        pthread_mutex_lock(&ks->lock);
        size_t i = ks->nbarriers++ % BARRIERS_KEPT;
        snprintf(ks->barriers[i].id, sizeof(ks->barriers[i].id), "%s", id);
        json_decref(ks->barriers[i].sent);
        ks->barriers[i].sent = sent;
        pthread_mutex_unlock(&ks->lock);
}

/* Stops the source with rc and a reason (the callback's return value
 * would be taken as a reconnect for RETRY, so it returns STOP). */
static int halt(struct kafka_source *ks, int rc, const char *err)
{
        ks->cb_rc = rc;
        snprintf(ks->cb_err, sizeof(ks->cb_err), "%s", err);
        return FERRY_ERR_STOP;
}

static int on_event(struct ferry_event *ev, void *opaque)
{
        struct kafka_source *ks = opaque;
        char err[1024];
        int rc = 0;

        if (kafka_acks_failed(ks->acks, err, sizeof(err))) {
                ferry_event_free(ev);
                return halt(ks, FERRY_ERR_RETRY, err);
        }
        if (atomic_load(&ks->persist_failed)) {
                ferry_event_free(ev);
                return halt(ks, FERRY_ERR_FATAL, ks->persist_err);
        }
        switch (ev->kind) {
        case FERRY_EV_ROW:
                rc = kafka_producer_send(ks->prod, ev, &ks->epoch_stop, err,
                                         sizeof(err));
                if (rc == 0)
                        count_event(ks, ev);
                if (rc == 0 && touched_keys_recording(ks->touched))
                        touch(ks, ev);
                break;
        case FERRY_EV_MARK:
                set_mark(ks, ev->table->name, ev->mark);
                break;
        case FERRY_EV_COMMIT: {
                struct buf b;
                buf_init(&b);
                gtid_pos_update(&ks->produced, &ev->pos.gtid);
                gtid_pos_format(&ks->produced, &b);
                pthread_mutex_lock(&ks->lock);
                snprintf(ks->produced_gtid, sizeof(ks->produced_gtid), "%s",
                         buf_cstr(&b));
                pthread_mutex_unlock(&ks->lock);
                struct buf cp;
                buf_init(&cp);
                /* GTIDs are digits, dashes and commas: no escaping. */
                buf_printf(&cp, "{\"gtid\":\"%s\",\"snapshot\":%s}",
                           buf_cstr(&b), ks->marks_text);
                buf_free(&b);
                kafka_acks_point(ks->acks, kafka_producer_last_seq(ks->prod),
                                 buf_steal(&cp), ev->pos.ts_ms);
                /* The checkpoint now holds the request: end the epoch
                 * here, and the next one plans the backfill from it. */
                if (ks->replan)
                        rc = FERRY_ERR_STOP;
                break;
        }
        case FERRY_EV_BARRIER: {
                /* On every partition, so each sink partition records it
                 * after what came before it there. */
                char gtid[GTID_STR_MAX];
                json_t *sent = NULL;
                rc = kafka_producer_barrier(ks->prod, ev->mark,
                                            gtid_format(&ev->pos.gtid, gtid),
                                            ks->cfg->source.db.database, &sent,
                                            &ks->epoch_stop, err, sizeof(err));
                if (rc == 0)
                        keep_barrier(ks, ev->mark, sent);
                break;
        }
        case FERRY_EV_SNAPSHOT_REQUEST: {
                const char *db = ks->cfg->source.db.database;
                if (!table_filter_match(db, ks->cfg->source.tables,
                                        ks->cfg->source.n_tables, db,
                                        ev->mark)) {
                        log_warning("backfill of %s.%s requested, but "
                                    "[source] tables does not select it: "
                                    "ignored",
                                    db, ev->mark);
                        break;
                }
                log_info("backfill of %s.%s requested: starting it", db,
                         ev->mark);
                set_mark(ks, ev->mark, "");
                ks->replan = true;
                break;
        }
        case FERRY_EV_BEGIN:
                break;
        }
        ferry_event_free(ev);
        if (rc && rc != FERRY_ERR_STOP)
                return halt(ks, rc, err);
        return rc;
}

/* ---- epochs --------------------------------------------------------- */

/* No checkpoint yet: pins the start position (so a crash before the
 * first acknowledgement cannot move it to a later "now") and, for
 * start = snapshot, plans every watched table for backfill. */
static int first_start(struct kafka_source *ks, char **gtid, json_t **snap)
{
        const struct cfg *cfg = ks->cfg;
        struct db_endpoint ep = cfg_endpoint(&cfg->source.db);
        char err[512], pos[2048];
        MYSQL *my;
        int rc = db_connect(&my, &ep, 30, err, sizeof(err));
        if (rc) {
                snprintf(ks->error, sizeof(ks->error), "source: %s", err);
                return rc;
        }
        *snap = json_object();
        if (cfg->source.start == CFG_START_GTID) {
                snprintf(pos, sizeof(pos), "%s", cfg->source.start_gtid);
        } else if ((rc = db_query_value(my, "SELECT @@gtid_binlog_pos", pos,
                                        sizeof(pos), err, sizeof(err)))) {
                snprintf(ks->error, sizeof(ks->error), "source: %s", err);
                goto out;
        }
        if (cfg->source.start == CFG_START_SNAPSHOT) {
                struct buf q;
                buf_init(&q);
                buf_puts(&q, "SELECT TABLE_NAME FROM information_schema."
                             "TABLES WHERE TABLE_TYPE = 'BASE TABLE' AND "
                             "TABLE_SCHEMA = ");
                db_put_quoted(my, &q, cfg->source.db.database,
                              strlen(cfg->source.db.database));
                buf_puts(&q, " ORDER BY TABLE_NAME");
                int bad = mysql_query(my, buf_cstr(&q));
                buf_free(&q);
                MYSQL_RES *res = bad ? NULL : mysql_store_result(my);
                if (!res) {
                        snprintf(ks->error, sizeof(ks->error),
                                 "source: listing tables: %s", mysql_error(my));
                        rc = db_classify(mysql_errno(my));
                        goto out;
                }
                MYSQL_ROW row;
                while ((row = mysql_fetch_row(res)))
                        if (table_filter_match(cfg->source.db.database,
                                               cfg->source.tables,
                                               cfg->source.n_tables,
                                               cfg->source.db.database, row[0]))
                                json_object_set_new(*snap, row[0],
                                                    json_string(""));
                mysql_free_result(res);
        }
        struct buf text;
        buf_init(&text);
        source_checkpoint_format(pos, *snap, &text);
        rc = source_checkpoint_write(cfg->daemon.state_dir, buf_cstr(&text),
                                     err, sizeof(err));
        buf_free(&text);
        if (rc) {
                snprintf(ks->error, sizeof(ks->error), "checkpoint: %s", err);
                goto out;
        }
        log_info("kafka source: first start, checkpoint created gtid=%s "
                 "backfill_tables=%zu",
                 pos, json_object_size(*snap));
        *gtid = xstrdup(pos);
out:
        mysql_close(my);
        if (rc) {
                json_decref(*snap);
                *snap = NULL;
        }
        return rc;
}

static struct snapshot *plan_snapshot(struct kafka_source *ks, json_t *marks)
{
        size_t n = 0;
        struct snapshot_table_state *st =
                xcalloc(json_object_size(marks) + 1, sizeof(*st));
        const char *k;
        json_t *v;
        json_object_foreach(marks, k, v)
        {
                st[n].table = k;
                st[n].position = json_string_value(v);
                n++;
        }
        struct db_endpoint ep = cfg_endpoint(&ks->cfg->source.db);
        struct snapshot *snap =
                snapshot_new(&ep, ks->cfg->source.server_id, st, n, 100,
                             ks->backfill_max_rows_per_s);
        free(st);
        if (snapshot_active(snap))
                return snap;
        snapshot_free(snap);
        return NULL;
}

static struct kafka_producer_opts producer_opts(const struct cfg *cfg)
{
        return (struct kafka_producer_opts){
                .brokers = cfg->kafka.brokers,
                .topic_prefix = cfg->kafka.topic_prefix,
                .rdkafka_keys = cfg->kafka.rdkafka_keys,
                .rdkafka_values = cfg->kafka.rdkafka_values,
                .n_rdkafka = cfg->kafka.n_rdkafka,
                .json = {.name = cfg->kafka.topic_prefix,
                         .version = FERRY_VERSION,
                         .server_id = cfg->source.server_id},
        };
}

static int start_producer(struct kafka_source *ks)
{
        struct kafka_producer_opts po = producer_opts(ks->cfg);
        char err[1024];
        struct kafka_acks *acks = kafka_acks_new();
        pthread_mutex_lock(&ks->lock);
        ks->acks = acks; /* before any report can arrive */
        pthread_mutex_unlock(&ks->lock);
        struct kafka_producer *prod =
                kafka_producer_new(&po, on_delivery, ks, err, sizeof(err));
        if (!prod) {
                snprintf(ks->error, sizeof(ks->error), "kafka: %s", err);
                return FERRY_ERR_CONFIG;
        }
        pthread_mutex_lock(&ks->lock);
        ks->prod = prod;
        pthread_mutex_unlock(&ks->lock);
        return 0;
}

/* Ends an epoch: waits for outstanding acknowledgements (bounded),
 * writes the last durable position and frees the epoch's pieces. */
static void end_epoch(struct kafka_source *ks, int flush_ms)
{
        char err[512];
        if (ks->prod && flush_ms > 0 &&
            !kafka_producer_fatal(ks->prod, err, sizeof(err)) &&
            !kafka_acks_failed(ks->acks, NULL, 0) &&
            kafka_producer_flush(ks->prod, flush_ms, err, sizeof(err)))
                log_warning("kafka source: stopping with messages "
                            "unacknowledged; they are produced again on "
                            "restart: %s",
                            err);
        if (ks->ack_thread) {
                atomic_store(&ks->ack_stop, true);
                pthread_join(ks->ack_thread, NULL);
                ks->ack_thread = 0;
        }
        if (ks->acks)
                persist(ks, true);
        pthread_mutex_lock(&ks->lock);
        struct kafka_producer *prod = ks->prod;
        struct kafka_acks *acks = ks->acks;
        struct binlog_source *src = ks->src;
        ks->prod = NULL;
        ks->src = NULL;
        pthread_mutex_unlock(&ks->lock);
        /* Purged messages report failures into acks: free it last. */
        atomic_store(&ks->closing, true);
        kafka_producer_free(prod);
        pthread_mutex_lock(&ks->lock);
        ks->acks = NULL;
        pthread_mutex_unlock(&ks->lock);
        kafka_acks_free(acks);
        if (src && ks->m_reconnects)
                metric_counter_add(
                        ks->m_reconnects,
                        atomic_load(&binlog_source_stats(src)->reconnects));
        binlog_source_free(src);
        json_decref(ks->marks);
        ks->marks = NULL;
        free(ks->marks_text);
        ks->marks_text = NULL;
        gtid_pos_free(&ks->produced);
}

/* A cutover recorded in the target (cutover.c, under the sinks' name)
 * leaves nothing to stream: the tables may be gone, and reading their
 * RENAME again would stop the stream with an error. Asked only when
 * the config names a [sink] target; one that cannot be asked does not
 * hold the source up (it then stops at the RENAME, as without one). */
static bool cut_over_recorded(struct kafka_source *ks)
{
        const struct cfg *cfg = ks->cfg;
        if (!cfg->sink.db.user || !cfg->sink.db.database)
                return false;
        struct db_endpoint ep = cfg_endpoint(&cfg->sink.db);
        char name[300], err[512], got[512];
        MYSQL *my;
        if (db_connect(&my, &ep, 10, err, sizeof(err))) {
                log_warning("kafka source: cannot ask the target whether it "
                            "is cut over, streaming: %s",
                            err);
                return false;
        }
        kafka_sink_pipeline_name(cfg, name, sizeof(name));
        /* No ferry.offsets yet (no sink ran) is an error too: not cut
         * over. */
        int rc = offsets_table_get(my, name, "cutover", got, sizeof(got), err,
                                   sizeof(err));
        mysql_close(my);
        if (rc || !got[0])
                return false;
        log_info("cut over already (%s): nothing to stream", got);
        return true;
}

/* One epoch; returns FERRY_ERR_STOP, FERRY_ERR_RETRY or a fatal code. */
static int run_epoch(struct kafka_source *ks)
{
        const struct cfg *cfg = ks->cfg;
        char err[1024], *gtid = NULL;
        json_t *marks = NULL;

        if (cut_over_recorded(ks)) {
                atomic_store(&ks->cut_over, true);
                return FERRY_ERR_STOP;
        }

        int rc = source_checkpoint_read(cfg->daemon.state_dir, &gtid, &marks,
                                        err, sizeof(err));
        if (rc == FERRY_ERR_STOP) {
                if ((rc = first_start(ks, &gtid, &marks)))
                        return rc;
        } else if (rc) {
                snprintf(ks->error, sizeof(ks->error),
                         "checkpoint: %s "
                         "(move it away to start over from [source] start)",
                         err);
                return FERRY_ERR_FATAL;
        }
        gtid_pos_init(&ks->produced);
        if (gtid_pos_parse(&ks->produced, gtid, err, sizeof(err))) {
                snprintf(ks->error, sizeof(ks->error), "checkpoint gtid: %s",
                         err);
                free(gtid);
                json_decref(marks);
                gtid_pos_free(&ks->produced);
                return FERRY_ERR_FATAL;
        }
        ks->marks = marks;
        ks->marks_text = json_dumps(marks, JSON_COMPACT);
        atomic_store(&ks->backfill_done, marks_done(marks));
        ks->cb_rc = 0;
        ks->cb_err[0] = '\0';
        ks->replan = false;
        atomic_store(&ks->persist_failed, false);
        atomic_store(&ks->ack_stop, false);
        atomic_store(&ks->delivery_logged, false);
        atomic_store(&ks->closing, false);
        /* In this order, a stop requested meanwhile is never lost. */
        atomic_store(&ks->epoch_stop, false);
        if (atomic_load(&ks->stop))
                atomic_store(&ks->epoch_stop, true);
        ks->last_write_ms = 0;
        pthread_mutex_lock(&ks->lock);
        snprintf(ks->produced_gtid, sizeof(ks->produced_gtid), "%s", gtid);
        pthread_mutex_unlock(&ks->lock);

        struct snapshot *snap = plan_snapshot(ks, marks);
        if ((rc = start_producer(ks))) {
                snapshot_free(snap);
                free(gtid);
                end_epoch(ks, 0);
                return rc;
        }
        struct binlog_source_opts o = {
                .db = cfg_endpoint(&cfg->source.db),
                .tables = cfg->source.tables,
                .ntables = cfg->source.n_tables,
                .server_id = cfg->source.server_id,
                .heartbeat_ms = cfg->source.heartbeat_ms,
                .read_timeout_ms = cfg->source.read_timeout_ms,
                .start_gtid = gtid,
                .max_retries = 0, /* it reconnects without repeating */
                .snapshot = snap,
                .retiring = &ks->retiring,
        };
        struct binlog_source *src = binlog_source_new(&o);
        pthread_mutex_lock(&ks->lock);
        ks->src = src;
        pthread_mutex_unlock(&ks->lock);
        log_info("kafka source epoch starts gtid=%s backfill=%s", gtid,
                 snap ? "yes" : "no");
        free(gtid);

        pthread_create(&ks->ack_thread, NULL, ack_main, ks);
        atomic_store(&ks->ready, true);
        rc = binlog_source_run(src, on_event, ks, &ks->epoch_stop, err,
                               sizeof(err));
        atomic_store(&ks->ready, false);

        /* Most specific cause first: the reader only saw "stop". */
        char why[1024];
        if (kafka_producer_fatal(ks->prod, why, sizeof(why))) {
                snprintf(ks->error, sizeof(ks->error), "kafka: %s", why);
                if (ks->m_err_kafka_fatal)
                        metric_counter_inc(ks->m_err_kafka_fatal);
                rc = FERRY_ERR_FATAL;
        } else if (kafka_acks_failed(ks->acks, why, sizeof(why))) {
                snprintf(ks->error, sizeof(ks->error), "kafka: %s", why);
                rc = FERRY_ERR_RETRY;
        } else if (atomic_load(&ks->persist_failed)) {
                snprintf(ks->error, sizeof(ks->error), "%s", ks->persist_err);
                rc = FERRY_ERR_FATAL;
        } else if (ks->cb_rc) {
                snprintf(ks->error, sizeof(ks->error), "%s", ks->cb_err);
                rc = ks->cb_rc;
        } else if (rc != FERRY_ERR_STOP) {
                snprintf(ks->error, sizeof(ks->error), "source: %s", err);
                if (ks->m_err_source)
                        metric_counter_inc(ks->m_err_source);
        } else if (atomic_load(&ks->retiring)) {
                /* The cutover's RENAME: the stream ends here. */
                atomic_store(&ks->cut_over, true);
        }
        end_epoch(ks, rc == FERRY_ERR_STOP ? STOP_FLUSH_MS : ERROR_FLUSH_MS);
        if (rc == FERRY_ERR_STOP && atomic_load(&ks->persist_failed)) {
                snprintf(ks->error, sizeof(ks->error), "%s", ks->persist_err);
                rc = FERRY_ERR_FATAL;
        }
        snapshot_free(snap);
        return rc;
}

static void *kafka_source_main(void *arg)
{
        struct kafka_source *ks = arg;
        int64_t backoff = 200;
        int rc;
        for (;;) {
                rc = run_epoch(ks);
                if (rc == FERRY_ERR_STOP && ks->replan &&
                    !atomic_load(&ks->stop))
                        continue;
                if (rc == FERRY_ERR_STOP || atomic_load(&ks->stop)) {
                        rc = 0;
                        break;
                }
                if (rc != FERRY_ERR_RETRY) {
                        log_error("kafka source stopped: %s", ks->error);
                        break;
                }
                log_warning("kafka source restarting in %lldms: %s",
                            (long long)backoff, ks->error);
                for (int64_t w = 0; w < backoff && !atomic_load(&ks->stop);
                     w += 50)
                        clock_sleep_ms(50);
                if (atomic_load(&ks->stop)) {
                        rc = 0;
                        break;
                }
                backoff = backoff * 2 > 5000 ? 5000 : backoff * 2;
        }
        ks->result = rc;
        atomic_store(&ks->finished, true);
        return NULL;
}

/* ---- scrapes -------------------------------------------------------- */

static double gauge_connected(void *opaque)
{
        struct kafka_source *ks = opaque;
        pthread_mutex_lock(&ks->lock);
        bool c = ks->src &&
                 atomic_load(&binlog_source_stats(ks->src)->connected);
        pthread_mutex_unlock(&ks->lock);
        return c ? 1 : 0;
}

static double gauge_source_lag(void *opaque)
{
        double s, k, t;
        kafka_source_lags(opaque, &s, &k, &t);
        return s;
}

static double gauge_in_flight(void *opaque)
{
        struct kafka_source *ks = opaque;
        pthread_mutex_lock(&ks->lock);
        double n = ks->prod ? kafka_producer_in_flight(ks->prod) : 0;
        pthread_mutex_unlock(&ks->lock);
        return n;
}

void kafka_source_lags(struct kafka_source *ks, double *source, double *sink,
                       double *total)
{
        uint64_t now = clock_wall_ms(), last_event = 0, last_seen = 0,
                 pending = 0;
        bool caught_up = false, connected = false;

        if (atomic_load(&ks->cut_over)) {
                /* Nothing left to stream: nothing is behind. */
                *source = *sink = *total = 0;
                return;
        }

        pthread_mutex_lock(&ks->lock);
        if (ks->src) {
                struct binlog_source_stats *st = binlog_source_stats(ks->src);
                connected = atomic_load(&st->connected);
                caught_up = atomic_load(&st->caught_up);
                last_event = atomic_load(&st->last_event_ms);
                last_seen = atomic_load(&st->last_seen_ms);
        }
        if (ks->acks)
                pending = kafka_acks_oldest_pending_ts(ks->acks);
        pthread_mutex_unlock(&ks->lock);

        /* As the direct pipeline reads it (idle and healthy is 0)... */
        int64_t hb = ks->cfg->source.heartbeat_ms;
        double lag;
        if (connected && caught_up && now - last_seen <= (uint64_t)(2 * hb))
                lag = 0;
        else if (connected && last_event && !caught_up)
                lag = (double)(now > last_event ? now - last_event : 0) /
                      1000.0;
        else
                lag = (double)(now > last_seen ? now - last_seen : 0) / 1000.0;
        /* ... but a change is only delivered once Kafka has it: during a
         * broker outage the oldest unacknowledged commit ages. */
        if (pending && now > pending && (double)(now - pending) / 1000.0 > lag)
                lag = (double)(now - pending) / 1000.0;
        *source = lag;
        *sink = 0;
        *total = lag;
}

/* ---- lifecycle ------------------------------------------------------ */

int kafka_source_start(const struct cfg *cfg, struct metrics *reg,
                       struct kafka_source **ksp, char *errstr,
                       size_t errstr_size)
{
        struct kafka_producer_opts po = producer_opts(cfg);
        if (kafka_producer_check(&po, errstr, errstr_size))
                return FERRY_ERR_CONFIG;
        struct kafka_source *ks = xcalloc(1, sizeof(*ks));
        ks->cfg = cfg;
        ks->reg = reg;
        ks->backfill_max_rows_per_s = cfg->source.backfill_max_rows_per_s;
        pthread_mutex_init(&ks->lock, NULL);
        pthread_mutex_init(&ks->topics_lock, NULL);
        ks->touched = touched_keys_new();
        if (reg) {
                ks->m_connected =
                        metrics_gauge(reg, FERRY_M_SOURCE_CONNECTED, NULL);
                metric_gauge_bind(ks->m_connected, gauge_connected, ks);
                ks->m_source_lag =
                        metrics_gauge(reg, FERRY_M_SOURCE_LAG_SECONDS, NULL);
                metric_gauge_bind(ks->m_source_lag, gauge_source_lag, ks);
                ks->m_in_flight =
                        metrics_gauge(reg, FERRY_M_KAFKA_IN_FLIGHT, NULL);
                metric_gauge_bind(ks->m_in_flight, gauge_in_flight, ks);
                ks->m_reconnects = metrics_counter(
                        reg, FERRY_M_SOURCE_RECONNECTS_TOTAL, NULL);
                ks->m_err_delivery =
                        metrics_counter(reg, FERRY_M_ERRORS_TOTAL, "kind",
                                        "kafka_delivery", NULL);
                ks->m_err_kafka_fatal = metrics_counter(
                        reg, FERRY_M_ERRORS_TOTAL, "kind", "kafka_fatal", NULL);
                ks->m_err_source = metrics_counter(reg, FERRY_M_ERRORS_TOTAL,
                                                   "kind", "source", NULL);
                ks->m_err_checkpoint = metrics_counter(
                        reg, FERRY_M_ERRORS_TOTAL, "kind", "checkpoint", NULL);
        }
        pthread_create(&ks->thread, NULL, kafka_source_main, ks);
        *ksp = ks;
        return 0;
}

void kafka_source_request_stop(struct kafka_source *ks)
{
        atomic_store(&ks->stop, true);
        atomic_store(&ks->epoch_stop, true);
}

bool kafka_source_finished(struct kafka_source *ks)
{
        return atomic_load(&ks->finished);
}

int kafka_source_free(struct kafka_source *ks)
{
        if (!ks)
                return 0;
        kafka_source_request_stop(ks);
        pthread_join(ks->thread, NULL);
        if (ks->reg) {
                metric_gauge_bind(ks->m_connected, NULL, NULL);
                metric_gauge_bind(ks->m_source_lag, NULL, NULL);
                metric_gauge_bind(ks->m_in_flight, NULL, NULL);
        }
        int rc = ks->result;
        for (size_t i = 0; i < ks->nevents; i++)
                free(ks->events[i].name);
        free(ks->events);
        for (size_t i = 0; i < ks->ntopics; i++)
                free(ks->topics[i].name);
        free(ks->topics);
        for (size_t i = 0; i < BARRIERS_KEPT; i++)
                json_decref(ks->barriers[i].sent);
        touched_keys_free(ks->touched);
        pthread_mutex_destroy(&ks->lock);
        pthread_mutex_destroy(&ks->topics_lock);
        free(ks);
        return rc;
}

bool kafka_source_ready(struct kafka_source *ks, char *reason,
                        size_t reason_size)
{
        if (atomic_load(&ks->finished)) {
                snprintf(reason, reason_size, "kafka source stopped: %s",
                         ks->error);
                return false;
        }
        if (gauge_connected(ks) < 1) {
                snprintf(reason, reason_size, "source not connected");
                return false;
        }
        if (!atomic_load(&ks->ready)) {
                snprintf(reason, reason_size, "producer not running");
                return false;
        }
        pthread_mutex_lock(&ks->lock);
        bool outage = ks->prod && kafka_producer_outage(ks->prod);
        pthread_mutex_unlock(&ks->lock);
        if (outage) {
                snprintf(reason, reason_size, "kafka: all brokers down");
                return false;
        }
        return true;
}

int kafka_source_barrier(struct kafka_source *ks, const char *id, char *errstr,
                         size_t errstr_size)
{
        char gtid[1024];
        int rc;
        /* The lock keeps the producer alive: an epoch ends only after
         * taking it. */
        pthread_mutex_lock(&ks->lock);
        snprintf(gtid, sizeof(gtid), "%s", ks->produced_gtid);
        if (!ks->prod) {
                snprintf(errstr, errstr_size, "kafka source not running");
                rc = FERRY_ERR_RETRY;
        } else {
                rc = kafka_producer_barrier(
                        ks->prod, id, gtid, ks->cfg->source.db.database, NULL,
                        &ks->epoch_stop, errstr, errstr_size);
        }
        pthread_mutex_unlock(&ks->lock);
        return rc;
}

json_t *kafka_source_barrier_sent(struct kafka_source *ks, const char *id)
{
        json_t *sent = NULL;
        pthread_mutex_lock(&ks->lock);
        for (size_t i = 0; i < BARRIERS_KEPT && !sent; i++)
                if (ks->barriers[i].sent && !strcmp(ks->barriers[i].id, id))
                        sent = json_incref(ks->barriers[i].sent);
        pthread_mutex_unlock(&ks->lock);
        return sent;
}

struct touched_keys *kafka_source_touched_keys(struct kafka_source *ks)
{
        return ks->touched;
}

bool kafka_source_backfill_done(struct kafka_source *ks)
{
        return atomic_load(&ks->backfill_done);
}

void kafka_source_set_retiring(struct kafka_source *ks, bool on)
{
        atomic_store(&ks->retiring, on);
}

bool kafka_source_cut_over(struct kafka_source *ks)
{
        return atomic_load(&ks->cut_over);
}

void kafka_source_end_at_cutover(struct kafka_source *ks)
{
        atomic_store(&ks->cut_over, true);
        kafka_source_request_stop(ks);
}
