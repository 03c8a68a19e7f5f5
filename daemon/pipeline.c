/* SPDX-License-Identifier: Apache-2.0
 * Direct pipeline; see pipeline.h.
 *
 * It runs in epochs. An epoch connects the sink, reads the stored
 * position, starts the source from it and applies until something
 * fails. A retriable failure (a server restarting, a dropped connection)
 * ends the epoch and, after a back-off, starts a new one from the stored
 * position: nothing in flight needs to be remembered, because the
 * position is only ever written together with the rows it covers.
 */
#include "daemon/pipeline.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "connectors/binlog_source.h"
#include "connectors/mariadb_sink.h"
#include "connectors/snapshot.h"
#include "connectors/table_filter.h"
#include "daemon/endpoint.h"
#include "daemon/event_queue.h"
#include "daemon/metric_names.h"
#include "daemon/table_counters.h"
#include "daemon/touched_keys.h"
#include "daemon/validate.h"
#include "transforms/event_json.h"
#include "transforms/mapping.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define QUEUE_BYTES      (32u << 20) /* bounded memory between the threads */
#define BATCH_ROWS       5000        /* rows per target transaction, at most */
#define BATCH_MS         200         /* ... and milliseconds */
#define REDO_SAMPLE_MS   200         /* between reads of the redo fill */
#define IDLE_COMMIT_MS   1000        /* position-only commits when idle */
#define TS_RESOLUTION_MS 999         /* binlog timestamps: whole seconds */
#define POSITION_PART    "gtid"      /* ferry.offsets part in direct mode */
#define CUTOVER_PART     "cutover"   /* set once a cutover switched */
#define CHUNKS_AHEAD     2 /* backfill chunks between source and sink */

struct backfill_row {
        char table[65];
        atomic_uint_fast64_t copied; /* applied since this process started */
        uint64_t total;              /* information_schema estimate */
        uint64_t started_ms;         /* monotonic; for the rate */
        uint64_t published;          /* copied, as last added to metrics */
        atomic_bool done;
};

struct pipeline {
        const struct cfg *cfg;
        struct mapping *map;
        struct metrics *reg;

        pthread_t thread;
        atomic_bool stop; /* stop requested */
        atomic_bool finished;
        atomic_bool paused;
        atomic_bool ready;
        int result; /* written by the thread before finished */
        char error[1200];

        /* The current epoch's source (for stats), under lock. */
        pthread_mutex_t lock;
        struct binlog_source *src;
        struct event_queue *queue;
        struct snapshot *snap; /* the epoch's backfill, or NULL */
        bool backfill_held;    /* loop thread: live changes come first */
        bool redo_held;        /* loop thread: ... or the target's redo */
        /* [source] backfill_max_redo_fill as the loop thread last read
         * it, and the target's redo fill in permille as the sink thread
         * last read it (-1: not known). */
        atomic_int redo_max_pct;
        atomic_int redo_fill_permille;
        uint64_t redo_sampled_ms; /* sink thread only */
        bool redo_warned;         /* sink thread only */
        atomic_uint_fast64_t applied_ts_ms; /* commit time of last applied */
        char applied_pos[4096]; /* GTID position last committed, under lock */
        atomic_bool restart;    /* end the epoch now, start the next at once */
        atomic_bool retiring;   /* the cutover is renaming the tables away */
        atomic_bool cut_over;   /* the stream ended at a cutover */
        bool validated;         /* the mapping fits the real tables */
        bool lenient;           /* misfits are warnings (reverse stream) */
        uint64_t started_wall_ms;

        /* Keys the sink applied while the cutover asks: it verifies
         * exactly these rows in its write pause. While recording, the
         * plain tables' fast path (no key built) is off. */
        struct touched_keys *touched;

        /* Backfill progress of the current plan, under lock. */
        struct backfill_row *backfill;
        size_t nbackfill;

        struct metric_gauge *m_connected, *m_source_lag, *m_sink_lag,
                *m_total_lag, *m_queue, *m_redo_fill;
        struct metric_counter *m_reconnects, *m_errors_source, *m_errors_sink;
        struct metric_histogram *m_batch;
        struct table_counters *m_events, *m_applied; /* sink thread only */
        struct fast_plan *fast; /* sink thread only: plain tables' plans */
        size_t nfast;
};

/* ---- source thread ------------------------------------------------- */

struct source_run {
        struct pipeline *p;
        struct binlog_source *src;
        struct event_queue *q;
        atomic_bool stop;
        int rc;
        char err[1024];
};

static int push_event(struct ferry_event *ev, void *opaque)
{
        struct source_run *sr = opaque;
        return event_queue_push(sr->q, ev);
}

static void *source_main(void *arg)
{
        struct source_run *sr = arg;
        sr->rc = binlog_source_run(sr->src, push_event, sr, &sr->stop, sr->err,
                                   sizeof(sr->err));
        /* The sink drains what is queued and then sees the end. */
        event_queue_close(sr->q);
        return NULL;
}

/* ---- sink side ----------------------------------------------------- */

static json_t *row_json(const struct ferry_table *t,
                        const struct ferry_value *vals)
{
        if (!vals)
                return NULL;
        json_t *o = json_object();
        for (size_t i = 0; i < t->ncols; i++) {
                json_t *v = event_json_value(&vals[i]);
                if (!v) {
                        json_decref(o);
                        return NULL;
                }
                json_object_set_new(o, t->cols[i].name, v);
        }
        return o;
}

static json_t *key_json(const struct ferry_table *t,
                        const struct ferry_value *vals)
{
        json_t *o = json_object();
        for (size_t i = 0; i < t->npk; i++) {
                uint32_t c = t->pk[i];
                json_object_set_new(o, t->cols[c].name,
                                    event_json_value(&vals[c]));
        }
        return o;
}

/* A source table that the mapping only renames: its rows go to the sink
 * as typed values, with no JSON built (the hot path of a backfill). */
struct fast_plan {
        struct ferry_table *t; /* referenced: its address stays unique */
        const char *target;    /* NULL: not plain, take the JSON path */
        const char **cols;     /* target column of idx[i] */
        uint32_t *idx;
        size_t n;
};

#define FAST_PLANS 32

static const struct fast_plan *fast_plan(struct pipeline *p,
                                         struct ferry_table *t)
{
        for (size_t i = 0; i < p->nfast; i++)
                if (p->fast[i].t == t)
                        return &p->fast[i];
        if (p->nfast == FAST_PLANS) { /* new shapes after DDL: start over */
                for (size_t i = 0; i < p->nfast; i++) {
                        ferry_table_unref(p->fast[i].t);
                        free(p->fast[i].cols);
                        free(p->fast[i].idx);
                }
                p->nfast = 0;
        }
        if (!p->fast)
                p->fast = xcalloc(FAST_PLANS, sizeof(*p->fast));
        struct fast_plan *f = &p->fast[p->nfast++];
        memset(f, 0, sizeof(*f));
        f->t = ferry_table_ref(t);
        f->target = mapping_plain_target(p->map, t->name);
        if (!f->target)
                return f;
        f->cols = xcalloc(t->ncols + 1, sizeof(*f->cols));
        f->idx = xcalloc(t->ncols + 1, sizeof(*f->idx));
        for (size_t c = 0; c < t->ncols; c++) {
                const char *to =
                        mapping_plain_column(p->map, t->name, t->cols[c].name);
                if (!to)
                        continue;
                f->cols[f->n] = to;
                f->idx[f->n++] = (uint32_t)c;
        }
        return f;
}

static void fast_plans_free(struct pipeline *p)
{
        for (size_t i = 0; i < p->nfast; i++) {
                ferry_table_unref(p->fast[i].t);
                free(p->fast[i].cols);
                free(p->fast[i].idx);
        }
        free(p->fast);
        p->fast = NULL;
        p->nfast = 0;
}

/* Maps one row change and queues its target operations. */
static int apply_row(struct pipeline *p, struct mariadb_sink *sink,
                     const struct ferry_event *ev, char *err, size_t errsz)
{
        const struct ferry_table *t = ev->table;
        /* Creates and reads (the backfill) of a plain table skip JSON;
         * updates and deletes take the general path (key changes, the
         * before image). */
        if ((ev->op == FERRY_OP_CREATE || ev->op == FERRY_OP_READ) &&
            !touched_keys_recording(p->touched)) {
                const struct fast_plan *f = fast_plan(p, ev->table);
                if (f->target) {
                        int frc = mariadb_sink_upsert_values(
                                sink, f->target, f->cols, ev->after, f->idx,
                                f->n, err, errsz);
                        if (frc != SINK_NOT_FAST) {
                                if (frc == 0) {
                                        char o[2] = {(char)ev->op, '\0'};
                                        table_counters_inc(p->m_events, t->name,
                                                           o);
                                        table_counters_inc(p->m_applied,
                                                           f->target, "upsert");
                                }
                                return frc;
                        }
                }
        }
        json_t *before = row_json(t, ev->before);
        json_t *after = row_json(t, ev->after);
        json_t *key = key_json(t, ev->before ? ev->before : ev->after);
        struct mapping_ops ops;
        int rc;

        if ((ev->before && !before) || (ev->after && !after)) {
                snprintf(err, errsz, "table %s.%s: a value is not UTF-8", t->db,
                         t->name);
                rc = FERRY_ERR_DATA;
                goto out;
        }
        if (touched_keys_recording(p->touched))
                touched_keys_add(p->touched, t->name, key);
        mapping_ops_init(&ops);
        rc = mapping_apply(p->map, t->name, (char)ev->op, key, before, after,
                           &ops, err, errsz);
        if (rc == 0) {
                char o[2] = {(char)ev->op, '\0'};
                table_counters_inc(p->m_events, t->name, o);
        }
        for (size_t i = 0; i < ops.n && rc == 0; i++) {
                const struct mapping_op *op = &ops.v[i];
                table_counters_inc(p->m_applied, op->table,
                                   op->kind == MAPPING_OP_UPSERT ? "upsert"
                                                                 : "delete");
                if (op->kind == MAPPING_OP_UPSERT)
                        rc = mariadb_sink_upsert(sink, op->table, op->row, err,
                                                 errsz);
                else
                        rc = mariadb_sink_delete(sink, op->table, op->row, err,
                                                 errsz);
        }
        mapping_ops_clear(&ops);
out:
        json_decref(before);
        json_decref(after);
        json_decref(key);
        return rc;
}

static int commit(struct pipeline *p, struct mariadb_sink *sink,
                  const struct gtid_pos *applied, uint64_t applied_ts,
                  uint64_t started_ms, char *err, size_t errsz)
{
        struct buf pos;
        buf_init(&pos);
        gtid_pos_format(applied, &pos);
        int rc = mariadb_sink_commit(sink, POSITION_PART, buf_cstr(&pos), err,
                                     errsz);
        if (rc == 0) {
                pthread_mutex_lock(&p->lock);
                snprintf(p->applied_pos, sizeof(p->applied_pos), "%s",
                         buf_cstr(&pos));
                pthread_mutex_unlock(&p->lock);
        }
        buf_free(&pos);
        if (rc == 0) {
                atomic_store(&p->applied_ts_ms, applied_ts);
                if (p->m_batch)
                        metric_histogram_observe(
                                p->m_batch,
                                (double)(clock_mono_ms() - started_ms) /
                                        1000.0);
        }
        return rc;
}

/* @returns the progress row of table (hint: the last one found). */
static struct backfill_row *
backfill_find(struct pipeline *p, struct backfill_row *hint, const char *table)
{
        if (hint && !strcmp(hint->table, table))
                return hint;
        /* Rows are only added or replaced between epochs, when no sink
         * loop runs, so reading the array here needs no lock. */
        for (size_t i = 0; i < p->nbackfill; i++)
                if (!strcmp(p->backfill[i].table, table))
                        return &p->backfill[i];
        return NULL;
}

/* Reads the target's redo fill for pipeline_throttle, at most every
 * REDO_SAMPLE_MS and only while backfill_max_redo_fill asks for it. A
 * failed read leaves the fill unknown, which holds the backfill: the
 * sink's next statement meets the same trouble and reports it. A server
 * without the figure never holds. */
static void sample_redo(struct pipeline *p, struct mariadb_sink *sink)
{
        if (atomic_load(&p->redo_max_pct) <= 0) {
                atomic_store(&p->redo_fill_permille, -1);
                return;
        }
        uint64_t now = clock_mono_ms();
        if (now - p->redo_sampled_ms < REDO_SAMPLE_MS)
                return;
        p->redo_sampled_ms = now;
        double fill = 0;
        char err[512];
        int rc = mariadb_sink_redo_fill(sink, &fill, err, sizeof(err));
        if (rc == 0) {
                atomic_store(&p->redo_fill_permille, (int)(fill * 1000.0));
                p->redo_warned = false;
                return;
        }
        atomic_store(&p->redo_fill_permille, rc == 1 ? 0 : -1);
        if (p->redo_warned)
                return;
        p->redo_warned = true;
        if (rc == 1)
                log_warning("backfill_max_redo_fill: the sink's server "
                            "reports no Innodb_checkpoint_age (not "
                            "MariaDB's InnoDB?): the backfill does not "
                            "hold on it");
        else
                log_warning("backfill_max_redo_fill: %s", err);
}

/* Applies events until the queue ends or an error. Commits only at
 * source transaction boundaries. */
static int sink_loop(struct pipeline *p, struct mariadb_sink *sink,
                     struct event_queue *q, struct gtid_pos *applied, char *err,
                     size_t errsz)
{
        uint64_t batch_rows = 0, batch_start = 0, last_commit = clock_mono_ms();
        uint64_t applied_ts = atomic_load(&p->applied_ts_ms);
        bool uncommitted = false, in_tx = false, commit_now = false;
        struct backfill_row *bf = NULL; /* last table a backfill row hit */
        int rc = 0;

        p->redo_sampled_ms = 0;
        sample_redo(p, sink); /* the backfill waits for a first reading */

        for (;;) {
                while (atomic_load(&p->paused) && !atomic_load(&p->stop))
                        clock_sleep_ms(50);
                struct ferry_event *ev = event_queue_pop(q, 100);
                if (!ev) {
                        if (event_queue_closed(q))
                                break; /* the source has ended: drain done */
                        /* Idle: make what was applied durable, and move
                         * the position past transactions with no rows. */
                        if (uncommitted && !in_tx &&
                            (batch_rows ||
                             clock_mono_ms() - last_commit >= IDLE_COMMIT_MS)) {
                                if ((rc = commit(p, sink, applied, applied_ts,
                                                 batch_start, err, errsz)))
                                        return rc;
                                uncommitted = false;
                                batch_rows = 0;
                                last_commit = clock_mono_ms();
                        }
                        /* Nothing waits and all is committed: the sink
                         * is current as of now, however old the last
                         * change was. */
                        if (!uncommitted && !in_tx) {
                                atomic_store(&p->applied_ts_ms,
                                             clock_wall_ms());
                                sample_redo(p, sink);
                        }
                        continue;
                }
                switch (ev->kind) {
                case FERRY_EV_BEGIN:
                        in_tx = true;
                        if (!batch_rows && !uncommitted)
                                batch_start = clock_mono_ms();
                        break;
                case FERRY_EV_ROW:
                        rc = apply_row(p, sink, ev, err, errsz);
                        batch_rows++;
                        if (ev->snapshot && rc == 0 &&
                            (bf = backfill_find(p, bf, ev->table->name)))
                                atomic_fetch_add(&bf->copied, 1);
                        break;
                case FERRY_EV_BARRIER:
                        /* Recorded with this transaction, committed at
                         * once: the cutover is waiting for it. */
                        mariadb_sink_mark(sink, "barrier", ev->mark);
                        commit_now = true;
                        break;
                case FERRY_EV_SNAPSHOT_REQUEST:
                        if (!table_filter_match(p->cfg->source.db.database,
                                                p->cfg->source.tables,
                                                p->cfg->source.n_tables,
                                                p->cfg->source.db.database,
                                                ev->mark)) {
                                log_warning("backfill of %s.%s requested, "
                                            "but [source] tables does not "
                                            "select it: ignored",
                                            p->cfg->source.db.database,
                                            ev->mark);
                                break;
                        }
                        char rpart[320];
                        snprintf(rpart, sizeof(rpart), "snapshot:%s", ev->mark);
                        mariadb_sink_mark(sink, rpart, "");
                        log_info("backfill of %s.%s requested: starting it",
                                 p->cfg->source.db.database, ev->mark);
                        /* The next epoch plans it from the stored mark. */
                        atomic_store(&p->restart, true);
                        commit_now = true;
                        break;
                case FERRY_EV_MARK: {
                        char part[320];
                        snprintf(part, sizeof(part), "snapshot:%s",
                                 ev->table->name);
                        mariadb_sink_mark(sink, part, ev->mark);
                        /* This thread set p->snap for the epoch. */
                        if (p->snap)
                                snapshot_chunk_applied(p->snap);
                        if (!strcmp(ev->mark, SNAPSHOT_DONE) &&
                            (bf = backfill_find(p, bf, ev->table->name)))
                                atomic_store(&bf->done, true);
                        break;
                }
                case FERRY_EV_COMMIT:
                        in_tx = false;
                        gtid_pos_update(applied, &ev->pos.gtid);
                        applied_ts = ev->pos.ts_ms;
                        uncommitted = true;
                        if (commit_now || batch_rows >= BATCH_ROWS ||
                            clock_mono_ms() - batch_start >= BATCH_MS ||
                            (batch_rows && event_queue_len(q) == 0)) {
                                rc = commit(p, sink, applied, applied_ts,
                                            batch_start, err, errsz);
                                uncommitted = false;
                                batch_rows = 0;
                                last_commit = clock_mono_ms();
                                commit_now = false;
                                if (rc == 0)
                                        sample_redo(p, sink);
                        }
                        break;
                }
                ferry_event_free(ev);
                if (rc)
                        return rc;
                if (atomic_load(&p->restart) && !in_tx && !uncommitted)
                        return FERRY_ERR_RETRY;
        }
        if (uncommitted && !in_tx)
                rc = commit(p, sink, applied, applied_ts, batch_start, err,
                            errsz);
        return rc;
}

/* ---- epochs -------------------------------------------------------- */

/* Lists the source's base tables that [source] tables selects. */
static int source_tables(struct pipeline *p, json_t **out)
{
        const struct cfg *cfg = p->cfg;
        struct db_endpoint ep = cfg_endpoint(&cfg->source.db);
        MYSQL *my;
        char err[512], db[300];
        int rc = db_connect(&my, &ep, 30, err, sizeof(err));
        if (rc) {
                snprintf(p->error, sizeof(p->error), "source: %s", err);
                return rc;
        }
        size_t dblen = strlen(cfg->source.db.database);
        if (dblen > 64) /* MariaDB's limit for a database name */
                dblen = 64;
        mysql_real_escape_string(my, db, cfg->source.db.database, dblen);
        struct buf q;
        buf_init(&q);
        buf_printf(&q,
                   "SELECT TABLE_NAME FROM information_schema.TABLES "
                   "WHERE TABLE_SCHEMA = '%s' AND TABLE_TYPE = 'BASE "
                   "TABLE' ORDER BY TABLE_NAME",
                   db);
        int bad = mysql_query(my, buf_cstr(&q));
        buf_free(&q);
        MYSQL_RES *res = bad ? NULL : mysql_store_result(my);
        if (!res) {
                snprintf(p->error, sizeof(p->error),
                         "source: listing "
                         "tables: %s",
                         mysql_error(my));
                rc = db_classify(mysql_errno(my));
                mysql_close(my);
                return rc;
        }
        *out = json_array();
        MYSQL_ROW row;
        while ((row = mysql_fetch_row(res)))
                if (table_filter_match(cfg->source.db.database,
                                       cfg->source.tables, cfg->source.n_tables,
                                       cfg->source.db.database, row[0]))
                        json_array_append_new(*out, json_string(row[0]));
        mysql_free_result(res);
        mysql_close(my);
        return 0;
}

/* Reads the row estimates of the source's tables: {table: rows}. */
static json_t *estimate_rows(struct pipeline *p)
{
        struct db_endpoint ep = cfg_endpoint(&p->cfg->source.db);
        MYSQL *my;
        char err[512];
        json_t *out = json_object();
        if (db_connect(&my, &ep, 30, err, sizeof(err))) {
                log_warning("backfill: cannot read row estimates: %s", err);
                return out;
        }
        struct buf q;
        buf_init(&q);
        buf_puts(&q, "SELECT TABLE_NAME, TABLE_ROWS FROM "
                     "information_schema.TABLES WHERE TABLE_SCHEMA = ");
        db_put_quoted(my, &q, p->cfg->source.db.database,
                      strlen(p->cfg->source.db.database));
        MYSQL_RES *res = mysql_real_query(my, q.data, (unsigned long)q.len)
                                 ? NULL
                                 : mysql_store_result(my);
        buf_free(&q);
        if (!res)
                log_warning("backfill: cannot read row estimates: %s",
                            mysql_error(my));
        MYSQL_ROW row;
        while (res && (row = mysql_fetch_row(res)))
                json_object_set_new(out, row[0],
                                    json_integer(row[1] ? atoll(row[1]) : 0));
        mysql_free_result(res);
        mysql_close(my);
        return out;
}

/* Replaces the progress rows with this plan's tables. Called between
 * epochs only (see backfill_find). Counts survive for tables that stay. */
static void backfill_publish(struct pipeline *p,
                             const struct snapshot_table_state *st, size_t n)
{
        json_t *est = NULL;
        struct backfill_row *rows = xcalloc(n + 1, sizeof(*rows));
        for (size_t i = 0; i < n; i++) {
                struct backfill_row *r = &rows[i];
                snprintf(r->table, sizeof(r->table), "%s", st[i].table);
                bool done = !strcmp(st[i].position, SNAPSHOT_DONE);
                atomic_store(&r->done, done);
                struct backfill_row *old = backfill_find(p, NULL, r->table);
                if (old && !(atomic_load(&old->done) && !done)) {
                        atomic_store(&r->copied, atomic_load(&old->copied));
                        r->total = old->total;
                        r->started_ms = old->started_ms;
                        r->published = old->published;
                }
                if (!r->started_ms)
                        r->started_ms = clock_mono_ms();
                if (!done && !r->total) {
                        if (!est)
                                est = estimate_rows(p);
                        r->total = (uint64_t)json_integer_value(
                                json_object_get(est, r->table));
                }
        }
        json_decref(est);
        pthread_mutex_lock(&p->lock);
        free(p->backfill);
        p->backfill = rows;
        p->nbackfill = n;
        pthread_mutex_unlock(&p->lock);
}

/* Decides what to backfill: on the first start with start = snapshot,
 * every watched table (recorded as pending with the first commit); later,
 * whatever the target says is not done yet. */
static int plan_snapshot(struct pipeline *p, struct mariadb_sink *sink,
                         bool first_start, struct snapshot **snapp)
{
        const struct cfg *cfg = p->cfg;
        char err[512];
        json_t *stored =
                mariadb_sink_read_offsets(sink, "snapshot:", err, sizeof(err));
        *snapp = NULL;
        if (!stored) {
                snprintf(p->error, sizeof(p->error), "sink: %s", err);
                return FERRY_ERR_RETRY;
        }
        if (first_start && cfg->source.start == CFG_START_SNAPSHOT) {
                json_t *tables;
                int rc = source_tables(p, &tables);
                if (rc) {
                        json_decref(stored);
                        return rc;
                }
                size_t i;
                json_t *t;
                json_array_foreach(tables, i, t)
                {
                        char part[320];
                        snprintf(part, sizeof(part), "snapshot:%s",
                                 json_string_value(t));
                        json_object_set_new(stored, part, json_string(""));
                        mariadb_sink_mark(sink, part, "");
                }
                json_decref(tables);
        }
        size_t n = 0;
        struct snapshot_table_state *st =
                xcalloc(json_object_size(stored) + 1, sizeof(*st));
        const char *k;
        json_t *v;
        json_object_foreach(stored, k, v)
        {
                st[n].table = k + strlen("snapshot:");
                st[n].position = json_string_value(v);
                n++;
        }
        backfill_publish(p, st, n);
        struct db_endpoint ep = cfg_endpoint(&cfg->source.db);
        struct snapshot *snap =
                snapshot_new(&ep, cfg->source.server_id, st, n, 100,
                             cfg->source.backfill_max_rows_per_s);
        /* With a redo limit, the first chunk waits for the first reading
         * of the target's redo fill (pipeline_throttle, within a tick). */
        snapshot_set_throttle(snap, cfg->source.backfill_max_rows_per_s,
                              cfg->source.backfill_max_redo_fill > 0);
        /* The sink is in this process: keep at most CHUNKS_AHEAD chunks
         * queued for it, so that live changes never wait behind more,
         * and a hold stops the writes within a chunk, not a full queue. */
        snapshot_set_max_ahead(snap, CHUNKS_AHEAD);
        free(st);
        json_decref(stored);
        if (snapshot_active(snap))
                *snapp = snap;
        else
                snapshot_free(snap);
        return 0;
}

void pipeline_name(const struct cfg *cfg, char *out, size_t out_size)
{
        /* Several pipelines may share a target server: each one's rows
         * in ferry.offsets are named by what it copies from and to. */
        snprintf(out, out_size, "direct:%.64s:%.64s:%.64s",
                 cfg->source.db.socket ? cfg->source.db.socket
                                       : cfg->source.db.host,
                 cfg->source.db.database, cfg->sink.db.database);
}

static void report_problem(void *ctx, const char *problem)
{
        struct pipeline *p = ctx;
        if (p->lenient)
                log_warning("reverse mapping: %s", problem);
        else
                log_error("mapping: %s", problem);
}

/* One epoch; returns FERRY_ERR_STOP, FERRY_ERR_RETRY or a fatal code. */
static int run_epoch(struct pipeline *p)
{
        const struct cfg *cfg = p->cfg;
        struct db_endpoint sep = cfg_endpoint(&cfg->sink.db);
        struct mariadb_sink *sink = NULL;
        char err[1024], stored[4096];
        int rc;

        char name[300];
        pipeline_name(cfg, name, sizeof(name));
        rc = mariadb_sink_new(&sep, name, &sink, err, sizeof(err));
        if (rc == 0)
                rc = mariadb_sink_read_offset(sink, POSITION_PART, stored,
                                              sizeof(stored), err, sizeof(err));
        if (rc) {
                snprintf(p->error, sizeof(p->error), "sink: %s", err);
                mariadb_sink_free(sink);
                return rc;
        }

        /* After a cutover there is nothing left to stream. */
        char cutover[512];
        rc = mariadb_sink_read_offset(sink, CUTOVER_PART, cutover,
                                      sizeof(cutover), err, sizeof(err));
        if (rc) {
                snprintf(p->error, sizeof(p->error), "sink: %s", err);
                mariadb_sink_free(sink);
                return rc;
        }
        if (cutover[0]) {
                log_info("cut over already (%s): nothing to stream", cutover);
                atomic_store(&p->cut_over, true);
                mariadb_sink_free(sink);
                return FERRY_ERR_STOP;
        }

        /* Once per process (after the cutover check: a cut over source
         * has no tables left to check): the tables will not change under
         * us without DDL, which the source guards. */
        if (!p->validated) {
                rc = validate_mapping(cfg, p->map, report_problem, p, err,
                                      sizeof(err));
                if (rc == FERRY_ERR_CONFIG && p->lenient) {
                        /* Reversed: the old tables may be narrower or
                         * stricter than the new; rows that do not fit
                         * fail when applied, by name. */
                        log_warning("reverse mapping does not fit every "
                                    "table (streaming anyway): %s",
                                    err);
                        rc = 0;
                }
                if (rc) {
                        snprintf(p->error, sizeof(p->error),
                                 "the mapping does not fit the tables: %s",
                                 err);
                        mariadb_sink_free(sink);
                        return rc == FERRY_ERR_CONFIG ? FERRY_ERR_FATAL : rc;
                }
                p->validated = true;
        }

        struct binlog_source_opts o = {
                .retiring = &p->retiring,
                .db = cfg_endpoint(&cfg->source.db),
                .tables = cfg->source.tables,
                .ntables = cfg->source.n_tables,
                .server_id = cfg->source.server_id,
                .heartbeat_ms = cfg->source.heartbeat_ms,
                .read_timeout_ms = cfg->source.read_timeout_ms,
                .max_retries = 1, /* the epoch loop does the retrying */
        };
        if (stored[0])
                o.start_gtid = stored; /* what the target has: authoritative */
        else if (cfg->source.start == CFG_START_GTID)
                o.start_gtid = cfg->source.start_gtid;
        /* start = snapshot without a backfill yet streams from now. */

        struct snapshot *snap = NULL;
        if ((rc = plan_snapshot(p, sink, stored[0] == '\0', &snap))) {
                mariadb_sink_free(sink);
                return rc;
        }
        o.snapshot = snap;

        struct gtid_pos applied;
        gtid_pos_init(&applied);
        if (o.start_gtid &&
            gtid_pos_parse(&applied, o.start_gtid, err, sizeof(err))) {
                snprintf(p->error, sizeof(p->error), "stored position: %s",
                         err);
                snapshot_free(snap);
                mariadb_sink_free(sink);
                return FERRY_ERR_FATAL;
        }
        log_info("pipeline epoch starts position=%s",
                 o.start_gtid ? o.start_gtid : "now");

        struct source_run sr = {.p = p};
        sr.q = event_queue_new(QUEUE_BYTES);
        sr.src = binlog_source_new(&o);
        atomic_init(&sr.stop, false);
        pthread_mutex_lock(&p->lock);
        p->src = sr.src;
        p->queue = sr.q;
        p->snap = snap;
        pthread_mutex_unlock(&p->lock);

        pthread_t th;
        pthread_create(&th, NULL, source_main, &sr);
        atomic_store(&p->ready, true);

        /* A stop request closes the queue: the source's next push fails
         * and it returns; the sink drains and commits. */
        if (atomic_load(&p->stop))
                event_queue_close(sr.q);
        int sink_rc = sink_loop(p, sink, sr.q, &applied, err, sizeof(err));
        atomic_store(&p->ready, false);
        atomic_store(&sr.stop, true);
        event_queue_close(sr.q);
        pthread_join(th, NULL);

        pthread_mutex_lock(&p->lock);
        p->src = NULL;
        p->queue = NULL;
        p->snap = NULL;
        pthread_mutex_unlock(&p->lock);

        if (sink_rc) {
                mariadb_sink_rollback(sink);
                snprintf(p->error, sizeof(p->error), "sink: %s", err);
                if (p->m_errors_sink)
                        metric_counter_inc(p->m_errors_sink);
                rc = sink_rc == FERRY_ERR_RETRY ? FERRY_ERR_RETRY
                                                : FERRY_ERR_FATAL;
        } else if (sr.rc == FERRY_ERR_STOP) {
                rc = FERRY_ERR_STOP;
                if (atomic_load(&p->retiring))
                        atomic_store(&p->cut_over, true);
        } else {
                snprintf(p->error, sizeof(p->error), "source: %s", sr.err);
                if (p->m_errors_source)
                        metric_counter_inc(p->m_errors_source);
                rc = sr.rc == FERRY_ERR_RETRY ? FERRY_ERR_RETRY : sr.rc;
        }
        if (p->m_reconnects)
                metric_counter_add(
                        p->m_reconnects,
                        atomic_load(&binlog_source_stats(sr.src)->reconnects));
        binlog_source_free(sr.src);
        snapshot_free(snap);
        event_queue_free(sr.q);
        gtid_pos_free(&applied);
        mariadb_sink_free(sink);
        return rc;
}

static void *pipeline_main(void *arg)
{
        struct pipeline *p = arg;
        int64_t backoff = 200;
        int rc;
        for (;;) {
                rc = run_epoch(p);
                if (rc == FERRY_ERR_STOP || atomic_load(&p->stop)) {
                        rc = 0;
                        break;
                }
                if (rc != FERRY_ERR_RETRY) {
                        log_error("pipeline stopped: %s", p->error);
                        break;
                }
                if (atomic_exchange(&p->restart, false)) {
                        backoff = 200;
                        continue; /* a planned restart: no back-off */
                }
                log_warning("pipeline restarting in %lldms: %s",
                            (long long)backoff, p->error);
                for (int64_t w = 0; w < backoff && !atomic_load(&p->stop);
                     w += 50)
                        clock_sleep_ms(50);
                if (atomic_load(&p->stop)) {
                        rc = 0;
                        break;
                }
                backoff = backoff * 2 > 5000 ? 5000 : backoff * 2;
        }
        p->result = rc;
        atomic_store(&p->finished, true);
        return NULL;
}

static double gauge_source_lag(void *opaque)
{
        double s, k, t;
        pipeline_lags(opaque, &s, &k, &t);
        return s;
}

static double gauge_sink_lag(void *opaque)
{
        double s, k, t;
        pipeline_lags(opaque, &s, &k, &t);
        return k;
}

static double gauge_redo_fill(void *opaque)
{
        return pipeline_redo_fill(opaque);
}

static double gauge_total_lag(void *opaque)
{
        double s, k, t;
        pipeline_lags(opaque, &s, &k, &t);
        return t;
}

static double gauge_connected(void *opaque)
{
        struct pipeline *p = opaque;
        pthread_mutex_lock(&p->lock);
        bool c = p->src && atomic_load(&binlog_source_stats(p->src)->connected);
        pthread_mutex_unlock(&p->lock);
        return c ? 1 : 0;
}

static double gauge_queue(void *opaque)
{
        struct pipeline *p = opaque;
        pthread_mutex_lock(&p->lock);
        double n = p->queue ? (double)event_queue_len(p->queue) : 0;
        pthread_mutex_unlock(&p->lock);
        return n;
}

int pipeline_start(const struct cfg *cfg, struct metrics *reg,
                   struct pipeline **pp, char *errstr, size_t errstr_size)
{
        struct mapping *map;
        int rc = mapping_load(cfg->sink.mapping, &map, errstr, errstr_size);
        if (rc)
                return FERRY_ERR_CONFIG;
        pipeline_start_mapped(cfg, reg, map, false, pp);
        return 0;
}

void pipeline_start_mapped(const struct cfg *cfg, struct metrics *reg,
                           struct mapping *map, bool lenient,
                           struct pipeline **pp)
{
        struct pipeline *p = xcalloc(1, sizeof(*p));
        atomic_init(&p->redo_fill_permille, -1);
        p->cfg = cfg;
        p->map = map;
        p->reg = reg;
        p->lenient = lenient;
        pthread_mutex_init(&p->lock, NULL);
        p->touched = touched_keys_new();
        atomic_store(&p->applied_ts_ms, clock_wall_ms());
        p->started_wall_ms = clock_wall_ms();
        if (reg) {
                p->m_connected =
                        metrics_gauge(reg, FERRY_M_SOURCE_CONNECTED, NULL);
                metric_gauge_bind(p->m_connected, gauge_connected, p);
                p->m_source_lag =
                        metrics_gauge(reg, FERRY_M_SOURCE_LAG_SECONDS, NULL);
                metric_gauge_bind(p->m_source_lag, gauge_source_lag, p);
                p->m_sink_lag =
                        metrics_gauge(reg, FERRY_M_SINK_LAG_SECONDS, NULL);
                metric_gauge_bind(p->m_sink_lag, gauge_sink_lag, p);
                p->m_total_lag = metrics_gauge(
                        reg, FERRY_M_REPLICATION_LAG_SECONDS, NULL);
                metric_gauge_bind(p->m_total_lag, gauge_total_lag, p);
                p->m_queue =
                        metrics_gauge(reg, FERRY_M_DIRECT_QUEUE_EVENTS, NULL);
                metric_gauge_bind(p->m_queue, gauge_queue, p);
                p->m_redo_fill = metrics_gauge(reg, FERRY_M_SINK_REDO_FILL,
                                               NULL);
                metric_gauge_bind(p->m_redo_fill, gauge_redo_fill, p);
                p->m_reconnects = metrics_counter(
                        reg, FERRY_M_SOURCE_RECONNECTS_TOTAL, NULL);
                p->m_errors_source = metrics_counter(reg, FERRY_M_ERRORS_TOTAL,
                                                     "kind", "source", NULL);
                p->m_errors_sink = metrics_counter(reg, FERRY_M_ERRORS_TOTAL,
                                                   "kind", "sink", NULL);
                p->m_batch = metrics_histogram(reg, FERRY_M_SINK_BATCH_SECONDS,
                                               NULL, 0, NULL);
                p->m_events = table_counters_new(reg, FERRY_M_EVENTS_TOTAL);
                p->m_applied =
                        table_counters_new(reg, FERRY_M_ROWS_APPLIED_TOTAL);
        }
        pthread_create(&p->thread, NULL, pipeline_main, p);
        *pp = p;
}

void pipeline_request_stop(struct pipeline *p)
{
        atomic_store(&p->stop, true);
        pthread_mutex_lock(&p->lock);
        /* Closing the queue ends the source's pushes; the sink drains
         * what is already queued and commits. */
        if (p->queue)
                event_queue_close(p->queue);
        pthread_mutex_unlock(&p->lock);
}

bool pipeline_finished(struct pipeline *p)
{
        return atomic_load(&p->finished);
}

int pipeline_free(struct pipeline *p)
{
        if (!p)
                return 0;
        pipeline_request_stop(p);
        pthread_join(p->thread, NULL);
        if (p->reg) {
                metric_gauge_bind(p->m_connected, NULL, NULL);
                metric_gauge_bind(p->m_source_lag, NULL, NULL);
                metric_gauge_bind(p->m_sink_lag, NULL, NULL);
                metric_gauge_bind(p->m_total_lag, NULL, NULL);
                metric_gauge_bind(p->m_queue, NULL, NULL);
                metric_gauge_bind(p->m_redo_fill, NULL, NULL);
        }
        int rc = p->result;
        mapping_free(p->map);
        free(p->backfill);
        fast_plans_free(p);
        table_counters_free(p->m_events);
        table_counters_free(p->m_applied);
        touched_keys_free(p->touched);
        pthread_mutex_destroy(&p->lock);
        free(p);
        return rc;
}

bool pipeline_ready(struct pipeline *p, char *reason, size_t reason_size)
{
        if (atomic_load(&p->finished)) {
                snprintf(reason, reason_size, "pipeline stopped: %s", p->error);
                return false;
        }
        if (gauge_connected(p) < 1) {
                snprintf(reason, reason_size, "source not connected%s%s",
                         p->error[0] ? ": " : "", p->error);
                return false;
        }
        if (!atomic_load(&p->ready)) {
                snprintf(reason, reason_size, "sink not running");
                return false;
        }
        return true;
}

void pipeline_set_paused(struct pipeline *p, bool paused)
{
        atomic_store(&p->paused, paused);
}

void pipeline_lags(struct pipeline *p, double *source, double *sink,
                   double *total)
{
        uint64_t now = clock_wall_ms();
        bool connected = false;
        uint64_t last_event = 0, last_recv = 0, last_seen = 0;
        size_t queued = 0;

        if (atomic_load(&p->cut_over)) {
                /* Nothing left to stream: nothing is behind. */
                *source = *sink = *total = 0;
                return;
        }
        pthread_mutex_lock(&p->lock);
        if (p->src) {
                struct binlog_source_stats *st = binlog_source_stats(p->src);
                connected = atomic_load(&st->connected);
                last_event = atomic_load(&st->last_event_ms);
                last_recv = atomic_load(&st->last_event_recv_ms);
                last_seen = atomic_load(&st->last_seen_ms);
        }
        if (p->queue)
                queued = event_queue_len(p->queue);
        pthread_mutex_unlock(&p->lock);

        /* While the server keeps talking (events or heartbeats), the lag
         * is how old the last event was when it arrived: a live stream
         * reads about 0 and stays there when the source goes idle, a
         * backlog reads its age. Binlog timestamps have whole seconds,
         * so an event counts as late only beyond that second. Once the
         * server falls silent, the lag is the silence, and it grows. */
        int64_t hb = p->cfg->source.heartbeat_ms;
        double src_lag;
        if (!last_seen)
                src_lag = (double)(now - p->started_wall_ms) / 1000.0;
        else if (connected && now - last_seen <= (uint64_t)(2 * hb))
                src_lag =
                        last_event && last_recv > last_event + TS_RESOLUTION_MS
                                ? (double)(last_recv - last_event -
                                           TS_RESOLUTION_MS) /
                                          1000.0
                                : 0;
        else
                src_lag = (double)(now - last_seen) / 1000.0;
        /* The sink is behind by what waits for it; it commits whenever
         * its queue runs dry, so an empty queue means all is applied. */
        uint64_t applied = atomic_load(&p->applied_ts_ms);
        double snk_lag = 0;
        if ((queued || atomic_load(&p->paused)) && applied &&
            now > applied + TS_RESOLUTION_MS)
                snk_lag = (double)(now - applied - TS_RESOLUTION_MS) / 1000.0;
        *source = src_lag;
        *sink = snk_lag;
        *total = src_lag > snk_lag ? src_lag : snk_lag;
}

bool pipeline_backfill_done(struct pipeline *p)
{
        bool done = true;
        pthread_mutex_lock(&p->lock);
        for (size_t i = 0; i < p->nbackfill; i++)
                done = done && atomic_load(&p->backfill[i].done);
        pthread_mutex_unlock(&p->lock);
        return done;
}

bool pipeline_paused(struct pipeline *p)
{
        return atomic_load(&p->paused);
}

json_t *pipeline_status(struct pipeline *p)
{
        double src, snk, total;
        pipeline_lags(p, &src, &snk, &total);
        uint64_t now = clock_mono_ms();
        json_t *bf = json_array();
        bool backfilling = false;

        pthread_mutex_lock(&p->lock);
        for (size_t i = 0; i < p->nbackfill; i++) {
                struct backfill_row *r = &p->backfill[i];
                uint64_t copied = atomic_load(&r->copied);
                bool done = atomic_load(&r->done);
                double secs = (double)(now - r->started_ms) / 1000.0;
                double rate = secs > 0 ? (double)copied / secs : 0;
                json_t *row = json_pack(
                        "{s:s, s:I, s:I, s:b, s:f}", "table", r->table,
                        "rows_copied", (json_int_t)copied, "rows_total",
                        (json_int_t)(done && copied > r->total ? copied
                                                               : r->total),
                        "done", done, "rows_per_second", rate);
                if (!done && rate > 0 && r->total > copied)
                        json_object_set_new(
                                row, "eta_seconds",
                                json_real((double)(r->total - copied) / rate));
                json_array_append_new(bf, row);
                backfilling = backfilling || !done;
        }
        json_t *pos = json_string(p->applied_pos);
        json_t *error = p->error[0] ? json_string(p->error) : json_null();
        pthread_mutex_unlock(&p->lock);

        const char *state = atomic_load(&p->finished) ? "error"
                            : atomic_load(&p->paused) ? "paused"
                            : backfilling             ? "backfilling"
                                                      : "streaming";
        return json_pack("{s:s, s:o, s:f, s:f, s:f, s:o, s:o, s:b}", "state",
                         state, "position", pos, "lag_seconds", total,
                         "source_lag_seconds", src, "sink_lag_seconds", snk,
                         "backfill", bf, "last_error", error, "ready",
                         atomic_load(&p->ready));
}

const struct mapping *pipeline_mapping(struct pipeline *p)
{
        return p->map;
}

void pipeline_set_retiring(struct pipeline *p, bool on)
{
        atomic_store(&p->retiring, on);
}

bool pipeline_cut_over(struct pipeline *p)
{
        return atomic_load(&p->cut_over);
}

void pipeline_end_at_cutover(struct pipeline *p)
{
        atomic_store(&p->cut_over, true);
        pipeline_request_stop(p);
}

void pipeline_publish_backfill(struct pipeline *p)
{
        if (!p->reg)
                return;
        pthread_mutex_lock(&p->lock);
        for (size_t i = 0; i < p->nbackfill; i++) {
                struct backfill_row *r = &p->backfill[i];
                uint64_t copied = atomic_load(&r->copied);
                metric_gauge_set(metrics_gauge(p->reg,
                                               FERRY_M_SNAPSHOT_ROWS_ESTIMATED,
                                               "table", r->table, NULL),
                                 (double)r->total);
                metric_gauge_set(metrics_gauge(p->reg, FERRY_M_SNAPSHOT_DONE,
                                               "table", r->table, NULL),
                                 atomic_load(&r->done) ? 1 : 0);
                struct metric_counter *c = metrics_counter(
                        p->reg, FERRY_M_SNAPSHOT_ROWS_COPIED_TOTAL, "table",
                        r->table, NULL);
                /* A counter only grows: a table backfilled again adds. */
                if (copied > r->published) {
                        metric_counter_add(c, copied - r->published);
                        r->published = copied;
                } else if (copied < r->published) {
                        r->published = copied;
                }
        }
        pthread_mutex_unlock(&p->lock);
}

void pipeline_throttle(struct pipeline *p)
{
        const struct cfg *cfg = p->cfg;
        double src, snk, total;
        pipeline_lags(p, &src, &snk, &total);
        int64_t max_lag = cfg->source.backfill_max_lag_ms;
        /* Back off on the sink's lag: that is what live changes queued
         * behind backfill chunks suffer. */
        bool lag_hold = max_lag > 0 && snk * 1000.0 > (double)max_lag;
        /* ... and before the target's InnoDB makes every writer on its
         * server wait for page flushing; lifted 5 points lower, so that
         * it does not flap with each sample. */
        int max_redo = cfg->source.backfill_max_redo_fill;
        atomic_store(&p->redo_max_pct, max_redo);
        int fill = atomic_load(&p->redo_fill_permille);
        int redo_at = max_redo * 10 - (p->redo_held ? 50 : 0);
        bool redo_hold = max_redo > 0 && (fill < 0 || fill >= redo_at);
        bool hold = lag_hold || redo_hold;
        if (hold != p->backfill_held || redo_hold != p->redo_held) {
                char redo[32] = "unknown";
                if (fill >= 0)
                        snprintf(redo, sizeof(redo), "%.1f%%", fill / 10.0);
                log_info("backfill %s sink_lag=%.1fs backfill_max_lag=%.1fs "
                         "redo_fill=%s backfill_max_redo_fill=%d%%",
                         !hold      ? "goes on"
                         : lag_hold ? "holds: live changes first"
                                    : "holds: the target's redo log is "
                                      "nearly full",
                         snk, (double)max_lag / 1000.0, redo, max_redo);
        }
        p->backfill_held = hold;
        p->redo_held = redo_hold;
        pthread_mutex_lock(&p->lock);
        if (p->snap)
                snapshot_set_throttle(
                        p->snap, cfg->source.backfill_max_rows_per_s, hold);
        pthread_mutex_unlock(&p->lock);
}

bool pipeline_backfill_held(struct pipeline *p)
{
        return p->backfill_held;
}

double pipeline_redo_fill(struct pipeline *p)
{
        int fill = atomic_load(&p->redo_fill_permille);
        return fill < 0 ? -1.0 : fill / 1000.0;
}

struct touched_keys *pipeline_touched_keys(struct pipeline *p)
{
        return p->touched;
}

const struct cfg *pipeline_config(struct pipeline *p)
{
        return p->cfg;
}
