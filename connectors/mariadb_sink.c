/* SPDX-License-Identifier: Apache-2.0
 * MariaDB sink; see mariadb_sink.h.
 */
#include "connectors/mariadb_sink.h"
#include "connectors/mariadb_sink_int.h"
#include "common/base64.h"
#include "common/buf.h"
#include "common/log.h"
#include "common/xalloc.h"

#include <errmsg.h>
#include <errno.h>
#include <mysqld_error.h>
#include <stdatomic.h>
#include <inttypes.h>
#include <mysql.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const offsets_ddl[] = {
        "CREATE DATABASE IF NOT EXISTS ferry",
        "CREATE TABLE IF NOT EXISTS ferry.offsets ("
        " pipeline VARCHAR(191) NOT NULL,"
        " part VARCHAR(191) NOT NULL,"
        " position TEXT NOT NULL,"
        " updated_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),"
        " PRIMARY KEY (pipeline, part)) ENGINE=InnoDB",
};

/* Why these session settings: foreign keys are not checked because the
 * tables of one source transaction may be applied by different workers
 * in any order (as MariaDB replication does; the source already checked
 * them); strict mode so a value the target cannot hold is an error, not
 * a silent truncation (and a division by zero an error: sink_unique.c
 * relies on it); NO_AUTO_VALUE_ON_ZERO so an id of 0 stays 0;
 * UTC so TIMESTAMP text means what the source meant. */
static const char *const session_setup =
        "SET SESSION foreign_key_checks = 0, time_zone = '+00:00', "
        "sql_mode = 'STRICT_ALL_TABLES,ERROR_FOR_DIVISION_BY_ZERO,"
        "NO_AUTO_VALUE_ON_ZERO,"
        "NO_ENGINE_SUBSTITUTION', autocommit = 1";

/* MariaDB writes an Annotate_rows event with each statement's text next
 * to its row events. A sink statement carries up to a few thousand rows
 * of VALUES, so the annotation doubled the bytes of every sink commit,
 * and the application's commits waited behind them on the binlog: during
 * an event_finder backfill the source writer's worst commit was 100-200
 * ms with it and 20-50 ms without (bench/backfill_stalls 0.25). The row
 * events are logged as always; replicas and ferry's reader see the same
 * changes. Turning it off needs BINLOG ADMIN: without it the sink works
 * as before and says so once. */
static int annotations_off(MYSQL *my, char *errstr, size_t errstr_size)
{
        static atomic_bool warned;
        if (!mysql_query(my, MARIADB_SINK_ANNOTATIONS_OFF))
                return 0;
        unsigned int e = mysql_errno(my);
        if (e == ER_SPECIFIC_ACCESS_DENIED_ERROR) {
                if (!atomic_exchange(&warned, true))
                        log_warning("sink: binlog_annotate_row_events stays "
                                    "on for the sink's session (%s): the "
                                    "text of every sink statement goes into "
                                    "the binlog beside its rows, and the "
                                    "server's other commits wait longer "
                                    "during a backfill; GRANT BINLOG ADMIN "
                                    "to the sink user or SET GLOBAL "
                                    "binlog_annotate_row_events = OFF",
                                    mysql_error(my));
                return 0;
        }
        if (e == ER_UNKNOWN_SYSTEM_VARIABLE)
                return 0; /* not MariaDB: nothing to turn off */
        snprintf(errstr, errstr_size, "%s (query: %s)", mysql_error(my),
                 MARIADB_SINK_ANNOTATIONS_OFF);
        return db_classify(e);
}

int mariadb_sink_new(const struct db_endpoint *ep, const char *pipeline,
                     struct mariadb_sink **sinkp, char *errstr,
                     size_t errstr_size)
{
        struct mariadb_sink *sink;
        MYSQL *my;
        int rc;

        *sinkp = NULL;
        if ((rc = db_connect(&my, ep, 60, errstr, errstr_size)))
                return rc;
        if ((rc = db_exec(my, session_setup, errstr, errstr_size)) ||
            (rc = annotations_off(my, errstr, errstr_size)))
                goto fail;
        for (size_t i = 0; i < sizeof(offsets_ddl) / sizeof(*offsets_ddl); i++)
                if ((rc = db_exec(my, offsets_ddl[i], errstr, errstr_size)))
                        goto fail;
        sink = xcalloc(1, sizeof(*sink));
        sink->my = my;
        sink->pipeline = xstrdup(pipeline);
        sink->marks = json_object();
        buf_init(&sink->sql);
        buf_init(&sink->tmp);
        *sinkp = sink;
        return 0;
fail:
        mysql_close(my);
        return rc;
}

static void free_pending_cols(struct mariadb_sink *sink)
{
        for (size_t i = 0; i < sink->pend_ncols; i++)
                free(sink->pend_cols[i]);
        free(sink->pend_cols);
        sink->pend_cols = NULL;
        sink->pend_ncols = 0;
        sink->pend_tcols_for = NULL; /* they belonged to that statement */
}

static void free_table(struct target_table *t)
{
        for (size_t c = 0; c < t->ncols; c++)
                free(t->cols[c].name);
        free(t->cols);
        free(t->name);
        sink_unique_free(t);
        free(t);
}

void mariadb_sink_free(struct mariadb_sink *sink)
{
        if (sink)
                free(sink->pend_tcols);
        if (!sink)
                return;
        if (sink->my)
                mysql_close(sink->my);
        for (size_t i = 0; i < sink->ntables; i++)
                free_table(sink->tables[i]);
        free(sink->tables);
        free_pending_cols(sink);
        buf_free(&sink->sql);
        buf_free(&sink->tmp);
        json_decref(sink->marks);
        free(sink->pipeline);
        free(sink);
}

const struct mariadb_sink_stats *
mariadb_sink_stats(const struct mariadb_sink *sink)
{
        return &sink->stats;
}

int sink_sql_error(struct mariadb_sink *sink, const char *what, char *errstr,
                     size_t errstr_size)
{
        unsigned int e = mysql_errno(sink->my);
        sink->last_errno = e;
        snprintf(errstr, errstr_size, "%s: %s (%u)", what,
                 mysql_error(sink->my), e);
        if (e == CR_SERVER_GONE_ERROR || e == CR_SERVER_LOST ||
            e == CR_CONNECTION_ERROR || e == CR_CONN_HOST_ERROR || e >= 2000 ||
            e == 1213 /* deadlock */ || e == 1205 /* lock wait timeout */ ||
            e == 1927 /* killed */)
                return FERRY_ERR_RETRY;
        return FERRY_ERR_DATA;
}

/* Reads the reply of the statement in flight, if any. Every other use
 * of the connection comes after this. */
int sink_await(struct mariadb_sink *sink, char *errstr,
                       size_t errstr_size)
{
        if (!sink->awaiting)
                return 0;
        const struct target_table *unique = sink->awaiting_unique;
        sink->awaiting = false;
        sink->awaiting_unique = NULL;
        if (mysql_read_query_result(sink->my)) {
                unsigned int e = mysql_errno(sink->my);
                if (unique && (e == 1365 || e == 1062)) {
                        /* 1365: the ODKU check refused to merge rows;
                         * 1062: an update met another row's value. */
                        snprintf(errstr, errstr_size,
                                 "table %s: a row's secondary unique key "
                                 "value is held by another row in the "
                                 "target: %s (%u)",
                                 unique->name, mysql_error(sink->my), e);
                        return FERRY_ERR_CONFLICT;
                }
                return sink_sql_error(sink, "applying to target", errstr,
                                      errstr_size);
        }
        sink->stats.statements++;
        return 0;
}

/* Sends a statement without waiting for its reply (the caller's next
 * use of the connection reads it): the server applies one batch while
 * we build the next. An error surfaces one statement late, still inside
 * the same transaction, so the batch is rolled back and replayed all
 * the same. */
int sink_run(struct mariadb_sink *sink, const char *sql, size_t len,
               char *errstr, size_t errstr_size)
{
        int rc = sink_await(sink, errstr, errstr_size);
        if (rc)
                return rc;
        if (mysql_send_query(sink->my, sql, (unsigned long)len))
                return sink_sql_error(sink, "applying to target", errstr,
                                 errstr_size);
        sink->awaiting = true;
        return 0;
}

/* *rcp says why on NULL: FERRY_ERR_RETRY when the server could not be
 * asked (a target restart must not stop the flow), else FATAL. */
struct target_table *sink_load_table(struct mariadb_sink *sink,
                                       const char *name, int *rcp, char *errstr,
                                       size_t errstr_size)
{
        *rcp = FERRY_ERR_FATAL;
        for (size_t i = 0; i < sink->ntables; i++) {
                if (strcmp(sink->tables[i]->name, name))
                        continue;
                if (!sink->tables[i]->npk) {
                        snprintf(errstr, errstr_size,
                                 "target table %s has no primary key", name);
                        return NULL;
                }
                return sink->tables[i];
        }

        if ((*rcp = sink_await(sink, errstr, errstr_size)))
                return NULL;
        *rcp = FERRY_ERR_FATAL;
        struct buf q;
        buf_init(&q);
        buf_puts(&q, "SELECT COLUMN_NAME, DATA_TYPE, COLUMN_KEY FROM "
                     "information_schema.COLUMNS WHERE TABLE_SCHEMA = "
                     "DATABASE() AND TABLE_NAME = ");
        db_put_quoted(sink->my, &q, name, strlen(name));
        buf_puts(&q, " ORDER BY ORDINAL_POSITION");
        if (mysql_real_query(sink->my, q.data, (unsigned long)q.len)) {
                *rcp = sink_sql_error(sink, "reading target columns", errstr,
                                 errstr_size);
                buf_free(&q);
                return NULL;
        }
        buf_free(&q);
        MYSQL_RES *res = mysql_store_result(sink->my);
        if (!res) {
                *rcp = sink_sql_error(sink, "reading target columns", errstr,
                                 errstr_size);
                return NULL;
        }
        size_t n = (size_t)mysql_num_rows(res);
        if (n == 0) {
                mysql_free_result(res);
                snprintf(errstr, errstr_size,
                         "target table %s does not exist in the sink "
                         "database (create it first: the new apps' "
                         "migrations, or schemas/event_finder/new.sql)",
                         name);
                return NULL;
        }
        sink->tables = xrealloc(sink->tables,
                                (sink->ntables + 1) * sizeof(*sink->tables));
        struct target_table *t = xcalloc(1, sizeof(*t));
        sink->tables[sink->ntables++] = t;
        t->name = xstrdup(name);
        t->cols = xcalloc(n, sizeof(*t->cols));
        t->ncols = n;
        t->npk = 0;
        MYSQL_ROW row;
        for (size_t i = 0; (row = mysql_fetch_row(res)); i++) {
                const char *type = row[1] ? row[1] : "";
                t->cols[i].name = xstrdup(row[0]);
                t->cols[i].binary =
                        strstr(type, "binary") || strstr(type, "blob");
                t->cols[i].bit = !strcmp(type, "bit");
                t->cols[i].geometry =
                        !strcmp(type, "geometry") || !strcmp(type, "point") ||
                        strstr(type, "linestring") || strstr(type, "polygon") ||
                        !strcmp(type, "geometrycollection") ||
                        !strcmp(type, "multipoint");
                t->cols[i].pk = row[2] && !strcmp(row[2], "PRI");
                t->npk += t->cols[i].pk;
        }
        mysql_free_result(res);
        if (!t->npk) {
                snprintf(errstr, errstr_size,
                         "target table %s has no primary key", name);
                return NULL;
        }
        if ((*rcp = sink_unique_load(sink, t, errstr, errstr_size))) {
                /* Forget it: the next use asks again. */
                sink->ntables--;
                free_table(t);
                return NULL;
        }
        return t;
}

const struct target_col *sink_find_col(const struct target_table *t,
                                         const char *name)
{
        for (size_t i = 0; i < t->ncols; i++)
                if (!strcmp(t->cols[i].name, name))
                        return &t->cols[i];
        return NULL;
}

/* Bytes as a hex literal (charset-proof), through ST_GeomFromWKB for a
 * geometry column. */
static void put_bytes(struct buf *b, const struct target_col *c,
                      const char *p, size_t n)
{
        static const char hex[] = "0123456789abcdef";
        if (c->geometry)
                buf_puts(b, "ST_GeomFromWKB(");
        if (n == 0) {
                buf_puts(b, "''");
        } else {
                buf_reserve(b, 2 * n + 4);
                buf_puts(b, "x'");
                for (size_t i = 0; i < n; i++) {
                        uint8_t x = (uint8_t)p[i];
                        b->data[b->len++] = hex[x >> 4];
                        b->data[b->len++] = hex[x & 15];
                }
                buf_putc(b, '\'');
        }
        if (c->geometry)
                buf_putc(b, ')');
}

/* Appends one value as an SQL literal for column c. */
int sink_put_literal(struct mariadb_sink *sink, struct buf *b,
                       const struct target_table *t, const struct target_col *c,
                       json_t *v, char *errstr, size_t errstr_size)
{
        char tmp[64];
        switch (json_typeof(v)) {
        case JSON_NULL:
                buf_puts(b, "NULL");
                return 0;
        case JSON_TRUE:
                buf_putc(b, '1');
                return 0;
        case JSON_FALSE:
                buf_putc(b, '0');
                return 0;
        case JSON_INTEGER:
                if (c->bit)
                        snprintf(tmp, sizeof(tmp), "0x%" PRIx64,
                                 (uint64_t)json_integer_value(v));
                else
                        snprintf(tmp, sizeof(tmp), "%" JSON_INTEGER_FORMAT,
                                 json_integer_value(v));
                buf_puts(b, tmp);
                return 0;
        case JSON_REAL:
                snprintf(tmp, sizeof(tmp), "%.17g", json_real_value(v));
                buf_puts(b, tmp);
                return 0;
        case JSON_STRING:
                break;
        default: {
                /* A constant default that is an object or array: its JSON
                 * text (for JSON columns). */
                char *s = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER);
                db_put_quoted(sink->my, b, s, strlen(s));
                free(s);
                return 0;
        }
        }
        const char *s = json_string_value(v);
        size_t n = json_string_length(v);
        if (c->bit) {
                /* BIT values above 2^63 travel as decimal strings */
                char *end;
                errno = 0;
                unsigned long long u = strtoull(s, &end, 10);
                if (n == 0 || *end || errno || s[0] == '-') {
                        snprintf(errstr, errstr_size,
                                 "table %s column %s: '%.40s' is not a BIT "
                                 "value",
                                 t->name, c->name, s);
                        return FERRY_ERR_DATA;
                }
                snprintf(tmp, sizeof(tmp), "0x%llx", u);
                buf_puts(b, tmp);
                return 0;
        }
        if (!c->binary && !c->geometry) {
                db_put_quoted(sink->my, b, s, n);
                return 0;
        }
        buf_reset(&sink->tmp);
        if (base64_decode(s, n, &sink->tmp)) {
                snprintf(errstr, errstr_size,
                         "table %s column %s: value is not base64 (binary "
                         "columns carry base64)",
                         t->name, c->name);
                return FERRY_ERR_DATA;
        }
        put_bytes(b, c, sink->tmp.data, sink->tmp.len);
        return 0;
}

static int flush(struct mariadb_sink *sink, char *errstr, size_t errstr_size)
{
        int rc = 0;
        if (sink->pend == PEND_UPSERT) {
                struct buf *b = &sink->sql;
                struct target_table *t = sink->pend_table;
                buf_puts(b, " ON DUPLICATE KEY UPDATE ");
                bool any = false;
                if (t->nuniq) {
                        sink_unique_put_odku_check(b, t);
                        any = true;
                }
                for (size_t i = 0; i < sink->pend_ncols; i++) {
                        const struct target_col *c =
                                sink_find_col(sink->pend_table, sink->pend_cols[i]);
                        if (c->pk)
                                continue;
                        if (any)
                                buf_putc(b, ',');
                        db_put_ident(b, c->name);
                        buf_puts(b, "=VALUES(");
                        db_put_ident(b, c->name);
                        buf_putc(b, ')');
                        any = true;
                }
                if (!any) {
                        db_put_ident(b, sink->pend_cols[0]);
                        buf_putc(b, '=');
                        db_put_ident(b, sink->pend_cols[0]);
                }
                rc = sink_run(sink, b->data, b->len, errstr, errstr_size);
                if (!rc) {
                        sink->awaiting_unique = t->nuniq ? t : NULL;
                        sink->stats.rows_upserted += sink->pend_rows;
                        t->touched |= t->shadow != NULL;
                }
        } else if (sink->pend == PEND_DELETE) {
                struct target_table *t = sink->pend_table;
                struct buf *b = &sink->sql;
                buf_putc(b, ')');
                rc = sink_run(sink, b->data, b->len, errstr, errstr_size);
                if (!rc && t->shadow)
                        rc = sink_unique_forget(sink, t, b->data + sink->pend_where,
                                                b->len - sink->pend_where, errstr,
                                                errstr_size);
                if (!rc) {
                        sink->stats.rows_deleted += sink->pend_rows;
                        t->touched |= t->shadow != NULL;
                }
        }
        sink->pend = PEND_NONE;
        sink->pend_rows = 0;
        buf_reset(&sink->sql);
        free_pending_cols(sink);
        return rc;
}

static int begin(struct mariadb_sink *sink, char *errstr, size_t errstr_size)
{
        if (sink->in_tx)
                return 0;
        int arc = sink_await(sink, errstr, errstr_size);
        if (arc)
                return arc;
        if (mysql_query(sink->my, "START TRANSACTION"))
                return sink_sql_error(sink, "START TRANSACTION", errstr,
                                 errstr_size);
        sink->in_tx = true;
        return 0;
}

static bool same_columns(struct mariadb_sink *sink, json_t *row)
{
        if (json_object_size(row) != sink->pend_ncols)
                return false;
        size_t i = 0;
        const char *k;
        json_t *v;
        json_object_foreach(row, k, v)
        {
                if (strcmp(k, sink->pend_cols[i++]))
                        return false;
        }
        return true;
}

int mariadb_sink_upsert(struct mariadb_sink *sink, const char *table,
                        json_t *row, char *errstr, size_t errstr_size)
{
        struct target_table *t;
        const char *k;
        json_t *v;
        int rc;

        if (!json_is_object(row) || json_object_size(row) == 0) {
                snprintf(errstr, errstr_size,
                         "table %s: upsert of an empty row", table);
                return FERRY_ERR_DATA;
        }
        if (!(t = sink_load_table(sink, table, &rc, errstr, errstr_size)))
                return rc == FERRY_ERR_RETRY ? rc : FERRY_ERR_FATAL;
        if ((rc = begin(sink, errstr, errstr_size)))
                return rc;
        /* Guarded: one row per statement, each checked first. */
        bool guarded = sink->guard && t->nuniq;
        if (guarded || sink->pend != PEND_UPSERT || sink->pend_table != t ||
            !same_columns(sink, row) || sink->pend_rows >= SINK_MAX_ROWS ||
            sink->sql.len >= SINK_MAX_BYTES) {
                if ((rc = flush(sink, errstr, errstr_size)))
                        return rc;
        }
        if (guarded &&
            (rc = sink_unique_displace(sink, t, row, errstr, errstr_size)))
                return rc;
        struct buf *b = &sink->sql;
        if (sink->pend == PEND_NONE) {
                sink->pend = PEND_UPSERT;
                sink->pend_table = t;
                sink->pend_cols =
                        xcalloc(json_object_size(row), sizeof(char *));
                buf_puts(b, "INSERT INTO ");
                db_put_ident(b, t->name);
                buf_puts(b, " (");
                json_object_foreach(row, k, v)
                {
                        if (!sink_find_col(t, k)) {
                                snprintf(errstr, errstr_size,
                                         "target table %s has no column %s",
                                         t->name, k);
                                buf_reset(b);
                                free_pending_cols(sink);
                                sink->pend = PEND_NONE;
                                return FERRY_ERR_DATA;
                        }
                        if (sink->pend_ncols)
                                buf_putc(b, ',');
                        db_put_ident(b, k);
                        sink->pend_cols[sink->pend_ncols++] = xstrdup(k);
                }
                buf_puts(b, ") VALUES ");
        } else {
                buf_putc(b, ',');
        }
        buf_putc(b, '(');
        size_t i = 0;
        json_object_foreach(row, k, v)
        {
                if (i++)
                        buf_putc(b, ',');
                if ((rc = sink_put_literal(sink, b, t, sink_find_col(t, k), v, errstr,
                                      errstr_size)))
                        return rc;
        }
        buf_putc(b, ')');
        sink->pend_rows++;
        return guarded ? flush(sink, errstr, errstr_size) : 0;
}

int mariadb_sink_delete(struct mariadb_sink *sink, const char *table,
                        json_t *key, char *errstr, size_t errstr_size)
{
        struct target_table *t;
        const char *k;
        json_t *v;
        int rc;

        if (!(t = sink_load_table(sink, table, &rc, errstr, errstr_size)))
                return rc == FERRY_ERR_RETRY ? rc : FERRY_ERR_FATAL;
        if (!json_is_object(key) || json_object_size(key) != t->npk) {
                snprintf(errstr, errstr_size,
                         "table %s: delete key does not name its %zu "
                         "primary-key column(s)",
                         t->name, t->npk);
                return FERRY_ERR_DATA;
        }
        if ((rc = begin(sink, errstr, errstr_size)))
                return rc;
        if (sink->pend != PEND_DELETE || sink->pend_table != t ||
            !same_columns(sink, key) || sink->pend_rows >= SINK_MAX_ROWS ||
            sink->sql.len >= SINK_MAX_BYTES) {
                if ((rc = flush(sink, errstr, errstr_size)))
                        return rc;
        }
        struct buf *b = &sink->sql;
        if (sink->pend == PEND_NONE) {
                sink->pend = PEND_DELETE;
                sink->pend_table = t;
                sink->pend_cols = xcalloc(t->npk, sizeof(char *));
                buf_puts(b, "DELETE FROM ");
                db_put_ident(b, t->name);
                sink->pend_where = b->len;
                buf_puts(b, " WHERE (");
                json_object_foreach(key, k, v)
                {
                        const struct target_col *c = sink_find_col(t, k);
                        if (!c || !c->pk) {
                                snprintf(errstr, errstr_size,
                                         "table %s: %s is not a primary-key "
                                         "column",
                                         t->name, k);
                                buf_reset(b);
                                free_pending_cols(sink);
                                sink->pend = PEND_NONE;
                                return FERRY_ERR_DATA;
                        }
                        if (sink->pend_ncols)
                                buf_putc(b, ',');
                        db_put_ident(b, k);
                        sink->pend_cols[sink->pend_ncols++] = xstrdup(k);
                }
                buf_puts(b, ") IN (");
        } else {
                buf_putc(b, ',');
        }
        buf_putc(b, '(');
        size_t i = 0;
        json_object_foreach(key, k, v)
        {
                if (i++)
                        buf_putc(b, ',');
                if ((rc = sink_put_literal(sink, b, t, sink_find_col(t, k), v, errstr,
                                      errstr_size)))
                        return rc;
        }
        buf_putc(b, ')');
        sink->pend_rows++;
        return 0;
}

int mariadb_sink_commit(struct mariadb_sink *sink, const char *partition,
                        const char *position, char *errstr, size_t errstr_size)
{
        int rc;
        if ((rc = begin(sink, errstr, errstr_size)) ||
            (rc = flush(sink, errstr, errstr_size)) ||
            (rc = sink_unique_restore(sink, errstr, errstr_size)))
                return rc;
        struct buf *b = &sink->sql;
        buf_puts(b, "INSERT INTO ferry.offsets (pipeline, part, position) "
                    "VALUES (");
        db_put_quoted(sink->my, b, sink->pipeline, strlen(sink->pipeline));
        buf_putc(b, ',');
        db_put_quoted(sink->my, b, partition, strlen(partition));
        buf_putc(b, ',');
        db_put_quoted(sink->my, b, position, strlen(position));
        buf_putc(b, ')');
        const char *mk;
        json_t *mv;
        json_object_foreach(sink->marks, mk, mv)
        {
                buf_puts(b, ",(");
                db_put_quoted(sink->my, b, sink->pipeline,
                              strlen(sink->pipeline));
                buf_putc(b, ',');
                db_put_quoted(sink->my, b, mk, strlen(mk));
                buf_putc(b, ',');
                db_put_quoted(sink->my, b, json_string_value(mv),
                              json_string_length(mv));
                buf_putc(b, ')');
        }
        buf_puts(b, " ON DUPLICATE KEY UPDATE position = VALUES(position), "
                    "updated_at = CURRENT_TIMESTAMP(6)");
        rc = sink_run(sink, b->data, b->len, errstr, errstr_size);
        buf_reset(b);
        if (!rc)
                rc = sink_await(sink, errstr, errstr_size);
        if (rc)
                return rc;
        if (mysql_query(sink->my, "COMMIT"))
                return sink_sql_error(sink, "COMMIT", errstr, errstr_size);
        sink->in_tx = false;
        json_object_clear(sink->marks);
        sink->stats.batches++;
        return 0;
}

void mariadb_sink_mark(struct mariadb_sink *sink, const char *part,
                       const char *value)
{
        json_object_set_new(sink->marks, part, json_string(value));
}

json_t *mariadb_sink_read_offsets(struct mariadb_sink *sink, const char *prefix,
                                  char *errstr, size_t errstr_size)
{
        struct buf q;
        buf_init(&q);
        if (sink_await(sink, errstr, errstr_size))
                return NULL;
        buf_puts(&q, "SELECT part, position FROM ferry.offsets WHERE "
                     "pipeline = ");
        db_put_quoted(sink->my, &q, sink->pipeline, strlen(sink->pipeline));
        buf_puts(&q, " AND LEFT(part, ");
        buf_printf(&q, "%zu) = ", strlen(prefix));
        db_put_quoted(sink->my, &q, prefix, strlen(prefix));
        int bad = mysql_real_query(sink->my, q.data, (unsigned long)q.len);
        buf_free(&q);
        MYSQL_RES *res = bad ? NULL : mysql_store_result(sink->my);
        if (!res) {
                sink_sql_error(sink, "reading ferry.offsets", errstr, errstr_size);
                return NULL;
        }
        json_t *o = json_object();
        MYSQL_ROW row;
        while ((row = mysql_fetch_row(res)))
                json_object_set_new(o, row[0], json_string(row[1]));
        mysql_free_result(res);
        return o;
}

int mariadb_sink_lock_offsets(struct mariadb_sink *sink,
                              const char *const *parts, size_t n, json_t **out,
                              char *errstr, size_t errstr_size)
{
        int rc;
        *out = NULL;
        if ((rc = sink_await(sink, errstr, errstr_size)) ||
            (rc = begin(sink, errstr, errstr_size)))
                return rc;
        *out = json_object();
        if (n == 0)
                return 0;
        struct buf q;
        buf_init(&q);
        buf_puts(&q, "SELECT part, position FROM ferry.offsets WHERE "
                     "pipeline = ");
        db_put_quoted(sink->my, &q, sink->pipeline, strlen(sink->pipeline));
        buf_puts(&q, " AND part IN (");
        for (size_t i = 0; i < n; i++) {
                if (i)
                        buf_putc(&q, ',');
                db_put_quoted(sink->my, &q, parts[i], strlen(parts[i]));
        }
        buf_puts(&q, ") FOR UPDATE");
        int bad = mysql_real_query(sink->my, q.data, (unsigned long)q.len);
        buf_free(&q);
        MYSQL_RES *res = bad ? NULL : mysql_store_result(sink->my);
        if (!res) {
                json_decref(*out);
                *out = NULL;
                return sink_sql_error(sink, "locking ferry.offsets", errstr,
                                 errstr_size);
        }
        MYSQL_ROW row;
        while ((row = mysql_fetch_row(res)))
                json_object_set_new(*out, row[0], json_string(row[1]));
        mysql_free_result(res);
        return 0;
}

bool mariadb_sink_lock_failed(const struct mariadb_sink *sink)
{
        return sink->last_errno == 1213 || sink->last_errno == 1205;
}

void mariadb_sink_rollback(struct mariadb_sink *sink)
{
        sink->pend = PEND_NONE;
        sink->pend_rows = 0;
        buf_reset(&sink->sql);
        free_pending_cols(sink);
        char ignored[256];
        /* The reply in flight may be the error that brought us here. */
        (void)sink_await(sink, ignored, sizeof(ignored));
        if (sink->in_tx)
                (void)!mysql_query(sink->my, "ROLLBACK");
        sink->in_tx = false;
        for (size_t i = 0; i < sink->ntables; i++)
                sink->tables[i]->touched = false;
        sink->last_errno = 0;
        json_object_clear(sink->marks);
}

int mariadb_sink_read_offset(struct mariadb_sink *sink, const char *partition,
                             char *out, size_t out_size, char *errstr,
                             size_t errstr_size)
{
        struct buf q;
        buf_init(&q);
        int arc = sink_await(sink, errstr, errstr_size);
        if (arc) {
                buf_free(&q);
                return arc;
        }
        buf_puts(&q, "SELECT position FROM ferry.offsets WHERE pipeline = ");
        db_put_quoted(sink->my, &q, sink->pipeline, strlen(sink->pipeline));
        buf_puts(&q, " AND part = ");
        db_put_quoted(sink->my, &q, partition, strlen(partition));
        int rc = db_query_value(sink->my, buf_cstr(&q), out, out_size, errstr,
                                errstr_size);
        buf_free(&q);
        return rc;
}

json_t *mariadb_sink_describe(struct mariadb_sink *sink, const char *table,
                              char *errstr, size_t errstr_size)
{
        struct buf q;
        buf_init(&q);
        if (sink_await(sink, errstr, errstr_size)) {
                buf_free(&q);
                return NULL;
        }
        buf_puts(&q, "SELECT COLUMN_NAME, COLUMN_TYPE FROM "
                     "information_schema.COLUMNS WHERE TABLE_SCHEMA = "
                     "DATABASE() AND TABLE_NAME = ");
        db_put_quoted(sink->my, &q, table, strlen(table));
        buf_puts(&q, " ORDER BY ORDINAL_POSITION");
        int bad = mysql_real_query(sink->my, q.data, (unsigned long)q.len);
        buf_free(&q);
        if (bad) {
                sink_sql_error(sink, "describing target table", errstr, errstr_size);
                return NULL;
        }
        MYSQL_RES *res = mysql_store_result(sink->my);
        if (!res) {
                sink_sql_error(sink, "describing target table", errstr, errstr_size);
                return NULL;
        }
        json_t *o = json_object();
        MYSQL_ROW row;
        while ((row = mysql_fetch_row(res)))
                json_object_set_new(o, row[0], json_string(row[1]));
        mysql_free_result(res);
        return o;
}

/* ---- rows as typed values (the direct sink's fast path) ------------- */

static int put_value(struct mariadb_sink *sink, struct buf *b,
                     const struct target_table *t, const struct target_col *c,
                     const struct ferry_value *v, char *errstr,
                     size_t errstr_size)
{
        char tmp[64];
        switch (v->kind) {
        case FERRY_V_NULL:
                buf_puts(b, "NULL");
                return 0;
        case FERRY_V_INT:
                if (c->bit)
                        snprintf(tmp, sizeof(tmp), "0x%" PRIx64,
                                 (uint64_t)v->i);
                else
                        snprintf(tmp, sizeof(tmp), "%" PRId64, v->i);
                buf_puts(b, tmp);
                return 0;
        case FERRY_V_UINT:
                snprintf(tmp, sizeof(tmp), c->bit ? "0x%" PRIx64 : "%" PRIu64,
                         v->u);
                buf_puts(b, tmp);
                return 0;
        case FERRY_V_DOUBLE:
                if (!isfinite(v->d))
                        break;
                snprintf(tmp, sizeof(tmp), "%.17g", v->d);
                buf_puts(b, tmp);
                return 0;
        case FERRY_V_TEXT:
                db_put_quoted(sink->my, b, v->p, v->len);
                return 0;
        case FERRY_V_BYTES:
                put_bytes(b, c, v->p, v->len);
                return 0;
        default:
                break;
        }
        snprintf(errstr, errstr_size,
                 "table %s column %s: no fast path for this value", t->name,
                 c->name);
        return FERRY_ERR_FATAL;
}

bool mariadb_sink_value_fits(const struct ferry_value *v)
{
        return v->kind == FERRY_V_NULL || v->kind == FERRY_V_INT ||
               v->kind == FERRY_V_UINT || v->kind == FERRY_V_TEXT ||
               v->kind == FERRY_V_BYTES ||
               (v->kind == FERRY_V_DOUBLE && isfinite(v->d));
}

static bool same_names(struct mariadb_sink *sink, const char *const *cols,
                       size_t n)
{
        if (n != sink->pend_ncols)
                return false;
        for (size_t i = 0; i < n; i++)
                if (strcmp(cols[i], sink->pend_cols[i]))
                        return false;
        return true;
}

int mariadb_sink_upsert_values(struct mariadb_sink *sink, const char *table,
                               const char *const *cols,
                               const struct ferry_value *vals,
                               const uint32_t *idx, size_t n, char *errstr,
                               size_t errstr_size)
{
        struct target_table *t;
        int rc;
        if (!(t = sink_load_table(sink, table, &rc, errstr, errstr_size)))
                return rc == FERRY_ERR_RETRY ? rc : FERRY_ERR_FATAL;
        if (sink->guard && t->nuniq)
                return SINK_NOT_FAST; /* the JSON path checks each row */
        bool cached = sink->pend == PEND_UPSERT && sink->pend_table == t &&
                      sink->pend_tcols_for == t && same_names(sink, cols, n);
        /* Decide before touching the statement: bytes only into binary or
         * geometry columns, as the JSON path would write them. */
        for (size_t i = 0; i < n; i++) {
                const struct target_col *c =
                        cached ? sink->pend_tcols[i] : sink_find_col(t, cols[i]);
                const struct ferry_value *v = &vals[idx[i]];
                if (!c || !mariadb_sink_value_fits(v) ||
                    (v->kind == FERRY_V_BYTES && !c->binary && !c->geometry))
                        return SINK_NOT_FAST;
        }
        if ((rc = begin(sink, errstr, errstr_size)))
                return rc;
        if (!cached || sink->pend_rows >= SINK_MAX_ROWS ||
            sink->sql.len >= SINK_MAX_BYTES) {
                if ((rc = flush(sink, errstr, errstr_size)))
                        return rc;
        }
        struct buf *b = &sink->sql;
        if (sink->pend == PEND_NONE) {
                sink->pend = PEND_UPSERT;
                sink->pend_table = t;
                sink->pend_cols = xcalloc(n ? n : 1, sizeof(char *));
                sink->pend_tcols =
                        xrealloc(sink->pend_tcols,
                                 (n ? n : 1) * sizeof(*sink->pend_tcols));
                buf_puts(b, "INSERT INTO ");
                db_put_ident(b, t->name);
                buf_puts(b, " (");
                for (size_t i = 0; i < n; i++) {
                        if (i)
                                buf_putc(b, ',');
                        db_put_ident(b, cols[i]);
                        sink->pend_cols[sink->pend_ncols++] = xstrdup(cols[i]);
                        sink->pend_tcols[i] = sink_find_col(t, cols[i]);
                }
                sink->pend_tcols_for = t;
                sink->pend_tcols_n = n;
                buf_puts(b, ") VALUES ");
        } else {
                buf_putc(b, ',');
        }
        buf_putc(b, '(');
        for (size_t i = 0; i < n; i++) {
                if (i)
                        buf_putc(b, ',');
                if ((rc = put_value(sink, b, t, sink->pend_tcols[i],
                                    &vals[idx[i]], errstr, errstr_size)))
                        return rc;
        }
        buf_putc(b, ')');
        sink->pend_rows++;
        return 0;
}
