/* SPDX-License-Identifier: Apache-2.0
 * Kafka sink worker; see kafka_sink_worker.h.
 *
 * Like the direct pipeline it runs in epochs: an epoch connects to the
 * target, joins the group and applies until something fails. Positions
 * are only ever written with the rows they cover, so a new epoch needs
 * nothing from the old one: each assignment re-reads ferry.offsets.
 * Rebalances are eager (see kafka_consumer.h): before partitions go, the
 * in-flight batch is committed (or, when the group already gave them
 * away, rolled back), so a batch never spans two assignments.
 */
#include "daemon/endpoint.h"
#include "daemon/kafka_sink_worker.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "connectors/kafka_consumer.h"
#include "connectors/kafka_dlq.h"
#include "connectors/mariadb_sink.h"
#include "daemon/metric_names.h"
#include "transforms/change_msg.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BATCH_ROWS   5000 /* rows per target transaction, at most */
#define BATCH_MS     200  /* ... and milliseconds */
#define POLL_MS      100
#define LAG_EVERY_MS 1000

/* One assigned partition. Offsets are "next to read"; -1: none yet. */
struct part_state {
        char *topic;
        int32_t partition;
        char part[300]; /* ferry.offsets part: kafka:<topic>:<partition> */
        int64_t next;   /* past the last message applied in this batch */
        int64_t stored; /* as committed in ferry.offsets */
        char *barrier;  /* a barrier id seen in this batch, or NULL */
        struct metric_gauge *lag;
};

/* Rows applied per (target table, op), counted when their batch commits. */
struct row_count {
        const char *table; /* owned by the mapping */
        char op;
        uint64_t pending;
        struct metric_counter *c;
};

struct sink_worker {
        struct kafka_sink_shared *sh;
        int id;
        /* Messages left to apply one per transaction: after the target
         * rejected a value somewhere in a batch (on_error = dead_letter),
         * the batch is replayed this way to find and divert that one. */
        int careful;
        /* Messages left to apply with the sink's unique-key guard on:
         * after a batch met a row holding one of its unique values (rows
         * of different partitions arrive in any order), it is replayed
         * checking each row first (see connectors/sink_unique.c). */
        int guarded;

        struct mariadb_sink *sink;
        struct kafka_consumer *kc;
        bool kc_paused; /* what kc was last told (sh->paused follows) */
        struct kafka_dlq *dlq;
        bool abandon; /* the target connection is broken: never commit */

        struct part_state *parts;
        size_t nparts;

        bool dirty; /* offsets moved since the last commit */
        uint64_t batch_rows, batch_start_ms, batch_last_ts;
        struct row_count *counts;
        size_t ncounts;

        atomic_bool ready;
        atomic_int_fast64_t backlog;
        atomic_uint_fast64_t applied_ts;
        uint64_t lag_checked_ms;
};

static void inc(struct metric_counter *c)
{
        if (c)
                metric_counter_inc(c);
}

struct sink_worker *sink_worker_new(struct kafka_sink_shared *sh, int id)
{
        struct sink_worker *w = xcalloc(1, sizeof(*w));
        w->sh = sh;
        w->id = id;
        atomic_init(&w->ready, false);
        atomic_init(&w->backlog, -1);
        atomic_init(&w->applied_ts, clock_wall_ms());
        return w;
}

static void parts_clear(struct sink_worker *w)
{
        for (size_t i = 0; i < w->nparts; i++) {
                /* Another member owns it now: its lag is not ours. */
                if (w->parts[i].lag)
                        metric_gauge_set(w->parts[i].lag, 0);
                free(w->parts[i].topic);
                free(w->parts[i].barrier);
        }
        free(w->parts);
        w->parts = NULL;
        w->nparts = 0;
        atomic_store(&w->backlog, -1);
}

void sink_worker_free(struct sink_worker *w)
{
        if (!w)
                return;
        parts_clear(w);
        free(w->counts);
        free(w);
}

bool sink_worker_ready(const struct sink_worker *w)
{
        return atomic_load(&w->ready);
}

int64_t sink_worker_backlog(const struct sink_worker *w)
{
        return atomic_load(&w->backlog);
}

uint64_t sink_worker_applied_ts(const struct sink_worker *w)
{
        return atomic_load(&w->applied_ts);
}

static struct part_state *find_part(struct sink_worker *w, const char *topic,
                                    int32_t partition)
{
        for (size_t i = 0; i < w->nparts; i++)
                if (w->parts[i].partition == partition &&
                    !strcmp(w->parts[i].topic, topic))
                        return &w->parts[i];
        return NULL;
}

static void count_row(struct sink_worker *w, const char *table, char op)
{
        for (size_t i = 0; i < w->ncounts; i++) {
                if (w->counts[i].table == table && w->counts[i].op == op) {
                        w->counts[i].pending++;
                        return;
                }
        }
        w->counts = xrealloc(w->counts, (w->ncounts + 1) * sizeof(*w->counts));
        struct row_count *rc = &w->counts[w->ncounts++];
        char ops[2] = {op, '\0'};
        rc->table = table;
        rc->op = op;
        rc->pending = 1;
        rc->c = w->sh->reg ? metrics_counter(w->sh->reg,
                                             FERRY_M_ROWS_APPLIED_TOTAL,
                                             "table", table, "op", ops, NULL)
                           : NULL;
}

static void update_lag(struct sink_worker *w)
{
        int64_t total = 0;
        for (size_t i = 0; i < w->nparts; i++) {
                struct part_state *ps = &w->parts[i];
                int64_t lag =
                        kafka_consumer_lag(w->kc, ps->topic, ps->partition,
                                           ps->stored < 0 ? 0 : ps->stored);
                if (lag < 0) {
                        total = -1;
                        continue;
                }
                if (ps->lag)
                        metric_gauge_set_int(ps->lag, lag);
                if (total >= 0)
                        total += lag;
        }
        atomic_store(&w->backlog, total);
        w->lag_checked_ms = clock_mono_ms();
}

/* Forgets the in-flight batch: rows, counts and offsets not committed. */
static void batch_rollback(struct sink_worker *w)
{
        if (w->sink)
                mariadb_sink_rollback(w->sink);
        for (size_t i = 0; i < w->nparts; i++) {
                w->parts[i].next = w->parts[i].stored;
                free(w->parts[i].barrier);
                w->parts[i].barrier = NULL;
        }
        for (size_t i = 0; i < w->ncounts; i++)
                w->counts[i].pending = 0;
        w->dirty = false;
        w->batch_rows = 0;
}

/* Informative only: the next offsets, so Kafka tools show the lag. */
static void commit_to_kafka(struct sink_worker *w)
{
        rd_kafka_topic_partition_list_t *l =
                rd_kafka_topic_partition_list_new((int)w->nparts);
        for (size_t i = 0; i < w->nparts; i++)
                if (w->parts[i].stored >= 0)
                        rd_kafka_topic_partition_list_add(l, w->parts[i].topic,
                                                          w->parts[i].partition)
                                ->offset = w->parts[i].stored;
        kafka_consumer_commit_async(w->kc, l);
        rd_kafka_topic_partition_list_destroy(l);
}

static int parse_offset(const char *s, int64_t *out)
{
        char *end;
        errno = 0;
        long long v = strtoll(s, &end, 10);
        if (errno || end == s || *end || v < 0)
                return -1;
        *out = v;
        return 0;
}

/* Within the batch's transaction, checks that ferry.offsets still holds
 * what this worker last stored for each partition it moves. If not,
 * another member took the partitions over while this one stalled past
 * the session timeout (a zombie): its rows are older than what the new
 * owner applied, and committing them would regress the target. The
 * rows stay locked to commit, so two members cannot both pass. */
static int fence(struct sink_worker *w, char *err, size_t errsz)
{
        const char **names = xcalloc(w->nparts + 1, sizeof(*names));
        size_t n = 0;
        json_t *cur;
        char why[512];
        int rc;
        bool unstored = false;
        /* Only rows that exist are locked: FOR UPDATE on a missing key
         * takes a gap lock, and two workers' first commits would then
         * deadlock on each other's inserts. A partition's first offset
         * is checked with a plain read instead (a race there needs two
         * members to start the same partition at once). */
        for (size_t i = 0; i < w->nparts; i++) {
                struct part_state *ps = &w->parts[i];
                if (ps->next < 0 || ps->next == ps->stored)
                        continue;
                if (ps->stored >= 0)
                        names[n++] = ps->part;
                else
                        unstored = true;
        }
        rc = mariadb_sink_lock_offsets(w->sink, names, n, &cur, why,
                                       sizeof(why));
        free(names);
        if (!rc && unstored) {
                json_t *all = mariadb_sink_read_offsets(w->sink, "kafka:", why,
                                                        sizeof(why));
                if (!all)
                        rc = FERRY_ERR_RETRY;
                else
                        json_object_update_missing(cur, all);
                json_decref(all);
        }
        if (rc) {
                snprintf(err, errsz, "committing: %s", why);
                json_decref(cur);
                return rc;
        }
        for (size_t i = 0; i < w->nparts && !rc; i++) {
                struct part_state *ps = &w->parts[i];
                if (ps->next < 0 || ps->next == ps->stored)
                        continue;
                json_t *v = json_object_get(cur, ps->part);
                int64_t db = -1;
                if (v && parse_offset(json_string_value(v), &db))
                        db = -2; /* unparsable: never equal */
                if (db == ps->stored)
                        continue;
                snprintf(err, errsz,
                         "topic %s partition %" PRId32
                         ": ferry.offsets moved to %s while this worker "
                         "held %" PRId64 " (another member took the "
                         "partition over): abandoning the batch",
                         ps->topic, ps->partition,
                         v ? json_string_value(v) : "(none)", ps->stored);
                rc = FERRY_ERR_RETRY;
        }
        json_decref(cur);
        return rc;
}

/* Commits the batch and every partition's next offset (and barriers)
 * in one target transaction. */
static int batch_commit(struct sink_worker *w, char *err, size_t errsz)
{
        struct part_state *first = NULL;
        char pos[24], bpart[320];
        int rc;
        if (!w->dirty)
                return 0;
        if ((rc = fence(w, err, errsz))) {
                inc(rc == FERRY_ERR_RETRY ? w->sh->m_err_sink_retry
                                          : w->sh->m_err_sink_fatal);
                batch_rollback(w);
                w->abandon = true;
                return rc;
        }
        for (size_t i = 0; i < w->nparts; i++) {
                struct part_state *ps = &w->parts[i];
                if (ps->barrier) {
                        snprintf(bpart, sizeof(bpart), "barrier:%s:%" PRId32,
                                 ps->topic, ps->partition);
                        mariadb_sink_mark(w->sink, bpart, ps->barrier);
                }
                if (ps->next < 0 || ps->next == ps->stored)
                        continue;
                if (!first) {
                        first = ps; /* goes in through mariadb_sink_commit */
                        continue;
                }
                snprintf(pos, sizeof(pos), "%" PRId64, ps->next);
                mariadb_sink_mark(w->sink, ps->part, pos);
        }
        if (!first) {
                /* dirty is only set by moving an offset: unreachable, but
                 * never commit rows without their position. */
                snprintf(err, errsz, "internal: a batch without offsets");
                batch_rollback(w);
                return FERRY_ERR_FATAL;
        }
        snprintf(pos, sizeof(pos), "%" PRId64, first->next);
        rc = mariadb_sink_commit(w->sink, first->part, pos, err, errsz);
        if (rc) {
                inc(rc == FERRY_ERR_RETRY ? w->sh->m_err_sink_retry
                                          : w->sh->m_err_sink_fatal);
                batch_rollback(w);
                w->abandon = true;
                return rc;
        }
        for (size_t i = 0; i < w->nparts; i++) {
                w->parts[i].stored = w->parts[i].next;
                free(w->parts[i].barrier);
                w->parts[i].barrier = NULL;
        }
        for (size_t i = 0; i < w->ncounts; i++) {
                if (w->counts[i].c && w->counts[i].pending)
                        metric_counter_add(w->counts[i].c,
                                           w->counts[i].pending);
                w->counts[i].pending = 0;
        }
        if (w->sh->m_batch)
                metric_histogram_observe(
                        w->sh->m_batch,
                        (double)(clock_mono_ms() - w->batch_start_ms) / 1000.0);
        if (w->batch_last_ts)
                atomic_store(&w->applied_ts, w->batch_last_ts);
        w->dirty = false;
        w->batch_rows = 0;
        commit_to_kafka(w);
        update_lag(w);
        return 0;
}

/* ---- rebalance callbacks (run inside poll/close, on this thread) ---- */

static int on_assign(void *opaque, rd_kafka_topic_partition_list_t *parts,
                     char *err, size_t errsz)
{
        struct sink_worker *w = opaque;
        char why[512];
        json_t *stored =
                mariadb_sink_read_offsets(w->sink, "kafka:", why, sizeof(why));
        if (!stored) {
                snprintf(err, errsz, "reading stored offsets: %s", why);
                return FERRY_ERR_RETRY;
        }
        parts_clear(w);
        w->parts = xcalloc((size_t)parts->cnt + 1, sizeof(*w->parts));
        for (int i = 0; i < parts->cnt; i++) {
                rd_kafka_topic_partition_t *p = &parts->elems[i];
                struct part_state *ps = &w->parts[w->nparts++];
                ps->topic = xstrdup(p->topic);
                ps->partition = p->partition;
                snprintf(ps->part, sizeof(ps->part), "kafka:%s:%" PRId32,
                         p->topic, p->partition);
                json_t *v = json_object_get(stored, ps->part);
                ps->stored = ps->next = -1;
                if (v && parse_offset(json_string_value(v), &ps->stored)) {
                        snprintf(err, errsz,
                                 "ferry.offsets pipeline=%s part=%s: '%s' "
                                 "is not an offset",
                                 w->sh->pipeline, ps->part,
                                 json_string_value(v));
                        json_decref(stored);
                        return FERRY_ERR_FATAL;
                }
                ps->next = ps->stored;
                p->offset = v ? ps->stored : RD_KAFKA_OFFSET_BEGINNING;
                if (w->sh->reg) {
                        char pn[16];
                        snprintf(pn, sizeof(pn), "%" PRId32, p->partition);
                        ps->lag = metrics_gauge(
                                w->sh->reg, FERRY_M_KAFKA_CONSUMER_LAG, "topic",
                                p->topic, "partition", pn, NULL);
                }
                log_info("kafka sink assigned worker=%d topic=%s "
                         "partition=%" PRId32 " offset=%s%s",
                         w->id, p->topic, p->partition,
                         v ? json_string_value(v) : "beginning",
                         v ? "" : " (none stored)");
        }
        json_decref(stored);
        w->lag_checked_ms = 0; /* refresh soon */
        return 0;
}

static int on_revoke(void *opaque, const rd_kafka_topic_partition_list_t *parts,
                     bool lost, char *err, size_t errsz)
{
        struct sink_worker *w = opaque;
        int rc = 0;
        if (lost || w->abandon) {
                /* Someone else may be applying these partitions already:
                 * our uncommitted rows must not land. */
                if (w->dirty)
                        log_warning("kafka sink worker=%d: abandoning an "
                                    "uncommitted batch of %" PRIu64
                                    " rows (%s); the partitions' next owner "
                                    "replays it",
                                    w->id, w->batch_rows,
                                    lost ? "assignment lost"
                                         : "after an error");
                batch_rollback(w);
        } else {
                rc = batch_commit(w, err, errsz);
        }
        log_info("kafka sink revoked worker=%d partitions=%d%s", w->id,
                 parts->cnt, lost ? " (lost)" : "");
        parts_clear(w);
        return rc;
}

/* ---- applying messages --------------------------------------------- */

/* Maps and queues one row change. Mapping errors are the message's
 * fault (FERRY_ERR_DATA: poison); sink errors are the target's. */
static int apply_change(struct sink_worker *w, const struct change_msg *cm,
                        bool *poison, char *err, size_t errsz)
{
        struct mapping_ops ops;
        mapping_ops_init(&ops);
        int rc = mapping_apply(w->sh->map, cm->table, cm->op, cm->key,
                               cm->before, cm->after, &ops, err, errsz);
        if (rc) {
                *poison = true;
                inc(w->sh->m_err_mapping);
                return rc;
        }
        for (size_t i = 0; i < ops.n && rc == 0; i++) {
                const struct mapping_op *op = &ops.v[i];
                if (op->kind == MAPPING_OP_UPSERT) {
                        rc = mariadb_sink_upsert(w->sink, op->table, op->row,
                                                 err, errsz);
                        count_row(w, op->table, cm->op);
                } else {
                        rc = mariadb_sink_delete(w->sink, op->table, op->row,
                                                 err, errsz);
                        count_row(w, op->table, 'd');
                }
        }
        mapping_ops_clear(&ops);
        return rc;
}

/* m is done (applied, skipped or dead-lettered): the batch's commit
 * moves the partition past it. */
static void advance(struct sink_worker *w, struct part_state *ps,
                    const rd_kafka_message_t *m)
{
        ps->next = m->offset + 1;
        w->dirty = true;
}

/* Reads every assigned partition again from its offset stored beside
 * the rows, staying in the group (a rejoin would cost a rebalance). */
static int seek_stored(struct sink_worker *w, char *err, size_t errsz)
{
        rd_kafka_topic_partition_list_t *l =
                rd_kafka_topic_partition_list_new((int)w->nparts + 1);
        for (size_t i = 0; i < w->nparts; i++)
                rd_kafka_topic_partition_list_add(l, w->parts[i].topic,
                                                  w->parts[i].partition)
                        ->offset = w->parts[i].stored >= 0
                                           ? w->parts[i].stored
                                           : RD_KAFKA_OFFSET_BEGINNING;
        int rc = l->cnt ? kafka_consumer_seek(w->kc, l, err, errsz) : 0;
        rd_kafka_topic_partition_list_destroy(l);
        return rc;
}

/* Rolls the batch back and replays it from the stored offsets. */
static int replay_in_place(struct sink_worker *w, char *err, size_t errsz)
{
        batch_rollback(w);
        return seek_stored(w, err, errsz);
}

/* The target refused part of the batch: a unique-key conflict, a
 * deadlock, or (with on_error = dead_letter) a value it rejects. The
 * first two are replayed here; 0 means go on. */
static int data_error(struct sink_worker *w, int rc, char *err, size_t errsz)
{
        if (rc == FERRY_ERR_CONFLICT && !w->guarded && w->kc) {
                w->guarded = BATCH_ROWS;
                inc(w->sh->m_unique_replays);
                log_info("kafka sink worker=%d: %s; replaying the batch "
                         "with each row checked first",
                         w->id, err);
                return replay_in_place(w, err, errsz);
        }
        if (rc == FERRY_ERR_CONFLICT && !w->guarded) {
                w->guarded = BATCH_ROWS; /* outside the loop: next epoch */
                return FERRY_ERR_RETRY;
        }
        if (rc == FERRY_ERR_RETRY && w->sink && w->kc &&
            mariadb_sink_lock_failed(w->sink)) {
                log_info("kafka sink worker=%d: %s; replaying the batch",
                         w->id, err);
                return replay_in_place(w, err, errsz);
        }
        if (rc == FERRY_ERR_CONFLICT) {
                size_t n = strlen(err);
                snprintf(err + n, errsz - n,
                         " (even with each row checked first: is something "
                         "else writing to the target?)");
                return FERRY_ERR_FATAL;
        }
        if (rc != FERRY_ERR_DATA ||
            w->sh->cfg->sink.on_error != CFG_ON_ERROR_DEAD_LETTER || w->careful)
                return rc;
        w->careful = BATCH_ROWS;
        log_warning("kafka sink worker=%d: the target rejected a row of the "
                    "batch (%s): replaying it one message at a time to "
                    "divert that one",
                    w->id, err);
        return w->kc ? replay_in_place(w, err, errsz) : FERRY_ERR_RETRY;
}

/* A message that cannot be applied: stop naming it, or divert it to the
 * DLQ and move on. Rows before it are committed either way. */
static int handle_poison(struct sink_worker *w, const rd_kafka_message_t *m,
                         struct part_state *ps, const char *why, char *err,
                         size_t errsz)
{
        const char *topic = rd_kafka_topic_name(m->rkt);
        int rc;
        inc(w->sh->m_err_poison);
        if (w->sh->cfg->sink.on_error == CFG_ON_ERROR_STOP) {
                if ((rc = batch_commit(w, err, errsz)))
                        return rc;
                snprintf(err, errsz,
                         "poison message topic=%s partition=%" PRId32
                         " offset=%" PRId64 ": %s (on_error = stop: fix or "
                         "remove it, or set on_error = dead_letter to divert "
                         "it to %s)",
                         topic, m->partition, m->offset, why, w->sh->dlq_topic);
                return FERRY_ERR_FATAL;
        }
        if ((rc = kafka_dlq_send(w->dlq, m, why, err, errsz))) {
                inc(w->sh->m_err_kafka_retry);
                return rc;
        }
        inc(w->sh->m_dead_lettered);
        log_warning("dead-lettered topic=%s partition=%" PRId32
                    " offset=%" PRId64 " dlq=%s error=%s",
                    topic, m->partition, m->offset, w->sh->dlq_topic, why);
        advance(w, ps, m);
        return 0;
}

static int handle_message(struct sink_worker *w, const rd_kafka_message_t *m,
                          char *err, size_t errsz)
{
        const char *topic = rd_kafka_topic_name(m->rkt);
        struct part_state *ps = find_part(w, topic, m->partition);
        char why[1024];
        int rc = 0;

        if (!ps) {
                /* Fetched before a revoke; librdkafka drops these, but a
                 * message of a partition we do not own is never applied. */
                log_debug("kafka sink: skipping unassigned topic=%s "
                          "partition=%" PRId32,
                          topic, m->partition);
                return 0;
        }
        if (ps->next >= 0 && m->offset < ps->next)
                return 0; /* already applied in this batch */
        if (!w->dirty)
                w->batch_start_ms = clock_mono_ms();
        rd_kafka_timestamp_type_t tstype;
        int64_t ts = rd_kafka_message_timestamp(m, &tstype);
        if (ts > 0)
                w->batch_last_ts = (uint64_t)ts;
        if (!m->payload) {
                /* The tombstone after a delete: for log compaction only. */
                advance(w, ps, m);
                return 0;
        }

        struct change_msg cm;
        bool poison = false;
        rc = change_msg_parse(m->key, m->key_len, m->payload, m->len, &cm, why,
                              sizeof(why));
        if (rc) {
                poison = true;
        } else if (cm.kind == CHANGE_MSG_BARRIER) {
                free(ps->barrier);
                ps->barrier = xstrdup(cm.barrier);
                log_info("kafka sink barrier id=%s topic=%s "
                         "partition=%" PRId32 " offset=%" PRId64,
                         cm.barrier, topic, m->partition, m->offset);
        } else {
                mariadb_sink_set_guard(w->sink, w->guarded > 0);
                rc = apply_change(w, &cm, &poison, why, sizeof(why));
                w->batch_rows++;
                if (w->guarded)
                        w->guarded--;
        }
        change_msg_clear(&cm);
        if (rc && poison)
                return handle_poison(w, m, ps, why, err, errsz);
        if (rc == FERRY_ERR_DATA && w->careful) {
                /* Alone in its transaction: this one is what the target
                 * rejects. */
                batch_rollback(w);
                rc = handle_poison(w, m, ps, why, err, errsz);
                return rc ? rc : batch_commit(w, err, errsz);
        }
        if (rc) {
                snprintf(err, errsz,
                         "applying topic=%s partition=%" PRId32
                         " offset=%" PRId64 " (or a row batched before it): %s",
                         topic, m->partition, m->offset, why);
                inc(rc == FERRY_ERR_RETRY ? w->sh->m_err_sink_retry
                                          : w->sh->m_err_sink_fatal);
                return data_error(w, rc, err, errsz);
        }
        advance(w, ps, m);
        if (w->careful) {
                w->careful--;
                rc = batch_commit(w, err, errsz);
                if (rc == FERRY_ERR_DATA) {
                        /* rejected at COMMIT: still this message alone */
                        char why2[1024];
                        snprintf(why2, sizeof(why2), "%s", err);
                        w->abandon = false;
                        rc = handle_poison(w, m, ps, why2, err, errsz);
                        if (!rc)
                                rc = batch_commit(w, err, errsz);
                }
                return rc;
        }
        return 0;
}

/* Applies until a stop request or an error. */
static int worker_loop(struct sink_worker *w, char *err, size_t errsz)
{
        int rc;
        for (;;) {
                if (atomic_load(&w->sh->stop)) {
                        rc = batch_commit(w, err, errsz);
                        return rc ? rc : FERRY_ERR_STOP;
                }
                bool pause = atomic_load(&w->sh->paused);
                if (pause != w->kc_paused) {
                        /* What was applied stays: commit it first. */
                        if ((rc = batch_commit(w, err, errsz)) &&
                            (rc = data_error(w, rc, err, errsz)))
                                return rc;
                        /* Resume where ferry.offsets says, not where
                         * librdkafka thinks: its resume position has had
                         * bugs (a partition paused before it returned a
                         * message fell back on auto.offset.reset). */
                        if ((!pause && (rc = seek_stored(w, err, errsz))) ||
                            (rc = kafka_consumer_set_paused(w->kc, pause, err,
                                                            errsz)))
                                return rc;
                        w->kc_paused = pause;
                        log_info("kafka sink worker=%d %s", w->id,
                                 pause ? "paused" : "resumed");
                }
                rd_kafka_message_t *m;
                if ((rc = kafka_consumer_poll(w->kc, POLL_MS, &m, err,
                                              errsz))) {
                        inc(rc == FERRY_ERR_RETRY ? w->sh->m_err_kafka_retry
                                                  : w->sh->m_err_kafka_fatal);
                        return rc;
                }
                if (!m) {
                        /* Idle: make what was applied durable now. */
                        if ((rc = batch_commit(w, err, errsz)) &&
                            (rc = data_error(w, rc, err, errsz)))
                                return rc;
                        if (clock_mono_ms() - w->lag_checked_ms >= LAG_EVERY_MS)
                                update_lag(w);
                        continue;
                }
                rc = handle_message(w, m, err, errsz);
                rd_kafka_message_destroy(m);
                if (rc)
                        return rc;
                if (w->batch_rows >= BATCH_ROWS ||
                    (w->dirty &&
                     clock_mono_ms() - w->batch_start_ms >= BATCH_MS))
                        if ((rc = batch_commit(w, err, errsz)) &&
                            (rc = data_error(w, rc, err, errsz)))
                                return rc;
        }
}

/* One epoch; returns FERRY_ERR_STOP, FERRY_ERR_RETRY or a fatal code. */
static int run_epoch(struct sink_worker *w, char *err, size_t errsz)
{
        const struct cfg *cfg = w->sh->cfg;
        struct db_endpoint ep = cfg_endpoint(&cfg->sink.db);
        int rc;

        w->abandon = false;
        rc = mariadb_sink_new(&ep, w->sh->pipeline, &w->sink, err, errsz);
        if (!rc)
                rc = mariadb_sink_guard_tables(
                        w->sink, mapping_targets(w->sh->map), err, errsz);
        if (!rc && cfg->sink.on_error == CFG_ON_ERROR_DEAD_LETTER)
                rc = kafka_dlq_new(cfg->kafka.brokers, w->sh->dlq_topic,
                                   cfg->kafka.rdkafka_keys,
                                   cfg->kafka.rdkafka_values,
                                   cfg->kafka.n_rdkafka, &w->dlq, err, errsz);
        if (!rc) {
                struct kafka_consumer_conf kcc = {
                        .brokers = cfg->kafka.brokers,
                        .group = cfg->sink.group,
                        .topic_regex = w->sh->topic_regex,
                        .rdkafka_keys = cfg->kafka.rdkafka_keys,
                        .rdkafka_values = cfg->kafka.rdkafka_values,
                        .n_rdkafka = cfg->kafka.n_rdkafka,
                        .on_assign = on_assign,
                        .on_revoke = on_revoke,
                        .opaque = w,
                };
                rc = kafka_consumer_new(&kcc, &w->kc, err, errsz);
                w->kc_paused = false; /* the loop pauses it if asked */
        }
        if (!rc) {
                log_info("kafka sink worker=%d joining group=%s topics=%s",
                         w->id, cfg->sink.group, w->sh->topic_regex);
                atomic_store(&w->ready, true);
                rc = worker_loop(w, err, errsz);
                atomic_store(&w->ready, false);
        }
        if (rc && rc != FERRY_ERR_STOP) {
                /* Whatever failed, the batch in flight is not known good. */
                batch_rollback(w);
                w->abandon = true;
        }
        kafka_consumer_free(w->kc); /* revokes: nothing left to commit */
        w->kc = NULL;
        kafka_dlq_free(w->dlq);
        w->dlq = NULL;
        mariadb_sink_free(w->sink);
        w->sink = NULL;
        parts_clear(w);
        return rc;
}

int sink_worker_run(struct sink_worker *w, char *err, size_t errsz)
{
        int64_t backoff = 200;
        for (;;) {
                int rc = run_epoch(w, err, errsz);
                if (rc == FERRY_ERR_STOP || rc == 0)
                        return 0;
                if (rc == FERRY_ERR_CONFLICT) /* met outside the loop:
                                                 a rebalance's commit */
                        rc = data_error(w, rc, err, errsz);
                if (rc != FERRY_ERR_RETRY)
                        return rc;
                if (atomic_load(&w->sh->stop)) {
                        /* Nothing is lost: the next start replays from
                         * the offsets stored with the rows. */
                        log_warning("kafka sink worker=%d stopping after: %s",
                                    w->id, err);
                        return 0;
                }
                log_warning("kafka sink worker=%d restarting in %lldms: %s",
                            w->id, (long long)backoff, err);
                for (int64_t t = 0; t < backoff && !atomic_load(&w->sh->stop);
                     t += 50)
                        clock_sleep_ms(50);
                backoff = backoff * 2 > 5000 ? 5000 : backoff * 2;
        }
}
