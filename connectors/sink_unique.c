/* SPDX-License-Identifier: Apache-2.0
 * Secondary unique keys in the sink.
 *
 * Kafka keeps order per primary key only. When a unique value (an
 * e-mail, a payment reference) leaves row A and arrives at row B, and A
 * and B travel in different partitions, B's change can reach the target
 * while it still shows the value on A. `INSERT ... ON DUPLICATE KEY
 * UPDATE` then matches A by that value and overwrites A with B's
 * columns: B is lost and A corrupted, silently.
 *
 * Two parts make that impossible:
 *
 * 1. Every upsert into a table with secondary unique keys carries an
 *    ODKU assignment that divides by zero when the row it met has
 *    another primary key (the session makes that an error): a merge
 *    becomes error 1365 (and a changed row meeting another row's value
 *    is 1062), FERRY_ERR_CONFLICT. Nothing is written: the server rolls
 *    the statement back. (NULL would not do: an AUTO_INCREMENT key
 *    takes NULL as 0 in an update, merging all the same.)
 *
 * 2. The caller then replays the batch with the guard on: each row is
 *    checked before it is written, and a row in its way is moved into a
 *    copy of the table in the `ferry` schema (the "displaced" table,
 *    without the unique keys) instead of being merged or dropped. Which
 *    of the two is newer cannot be told from here, but it need not be:
 *    the source had each value on one row at any time, so whichever
 *    image is stale has a newer change of its own still to come.
 *      - If the displaced row's own change or delete arrives, the copy
 *        is forgotten (a delete forgets it explicitly; an upsert
 *        recreates the row, and the copy is dropped as superseded).
 *      - Otherwise it is the newest image of its row, and the row that
 *        took its value will give the value up; every batch that
 *        changed the table puts displaced rows back where they no
 *        longer conflict (INSERT IGNORE), at the latest when that
 *        happens.
 *    So once everything is applied the displaced table is empty and the
 *    target equals the source. Until then a displaced row is missing
 *    from the target for a moment, as it would be lagging anyway.
 *
 * In direct mode changes arrive in commit order and part 2 is never
 * needed; part 1 still turns a target that disagrees (someone wrote to
 * it) into a loud stop instead of a merge.
 */
#include "connectors/mariadb_sink_int.h"

#include "common/log.h"
#include "common/xalloc.h"
#include "connectors/db_conn.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IDENT_MAX 64 /* MariaDB's limit for a table name */

int sink_unique_load(struct mariadb_sink *sink, struct target_table *t,
                     char *errstr, size_t errstr_size)
{
        struct buf q;
        buf_init(&q);
        buf_puts(&q, "SELECT INDEX_NAME, COLUMN_NAME FROM "
                     "information_schema.STATISTICS WHERE TABLE_SCHEMA = "
                     "DATABASE() AND TABLE_NAME = ");
        db_put_quoted(sink->my, &q, t->name, strlen(t->name));
        buf_puts(&q, " AND NON_UNIQUE = 0 AND INDEX_NAME <> 'PRIMARY' "
                     "ORDER BY INDEX_NAME, SEQ_IN_INDEX");
        int bad = mysql_real_query(sink->my, q.data, (unsigned long)q.len);
        buf_free(&q);
        MYSQL_RES *res = bad ? NULL : mysql_store_result(sink->my);
        if (!res)
                return sink_sql_error(sink, "reading target unique keys",
                                      errstr, errstr_size);
        MYSQL_ROW row;
        struct target_unique *u = NULL;
        while ((row = mysql_fetch_row(res))) {
                if (!u || strcmp(u->name, row[0])) {
                        t->uniq = xrealloc(t->uniq,
                                           (t->nuniq + 1) * sizeof(*t->uniq));
                        u = &t->uniq[t->nuniq++];
                        u->name = xstrdup(row[0]);
                        u->cols = NULL;
                        u->ncols = 0;
                }
                const struct target_col *c = sink_find_col(t, row[1]);
                if (!c)
                        continue; /* an expression index: not a column */
                u->cols = xrealloc(u->cols, (u->ncols + 1) * sizeof(*u->cols));
                u->cols[u->ncols++] = (size_t)(c - t->cols);
        }
        mysql_free_result(res);
        return 0;
}

void sink_unique_free(struct target_table *t)
{
        for (size_t i = 0; i < t->nuniq; i++) {
                free(t->uniq[i].name);
                free(t->uniq[i].cols);
        }
        free(t->uniq);
        free(t->shadow);
        t->uniq = NULL;
        t->shadow = NULL;
        t->nuniq = 0;
}

void sink_unique_put_odku_check(struct buf *b, const struct target_table *t)
{
        const char *first = NULL;
        for (size_t i = 0; i < t->ncols && !first; i++)
                if (t->cols[i].pk)
                        first = t->cols[i].name;
        db_put_ident(b, first);
        buf_puts(b, "=IF(");
        bool and = false;
        for (size_t i = 0; i < t->ncols; i++) {
                if (!t->cols[i].pk)
                        continue;
                if (and)
                        buf_puts(b, " AND ");
                db_put_ident(b, t->cols[i].name);
                buf_puts(b, "<=>VALUES(");
                db_put_ident(b, t->cols[i].name);
                buf_putc(b, ')');
                and = true;
        }
        buf_puts(b, ",");
        db_put_ident(b, first);
        buf_puts(b, ",1/0)");
}

static void put_shadow(struct buf *b, const struct target_table *t)
{
        buf_puts(b, "`ferry`.");
        db_put_ident(b, t->shadow);
}

static void put_columns(struct buf *b, const struct target_table *t,
                        const char *alias)
{
        for (size_t i = 0; i < t->ncols; i++) {
                if (i)
                        buf_putc(b, ',');
                if (alias) {
                        buf_puts(b, alias);
                        buf_putc(b, '.');
                }
                db_put_ident(b, t->cols[i].name);
        }
}

static uint64_t fnv1a(const char *s)
{
        uint64_t h = 14695981039346656037ull;
        for (; *s; s++)
                h = (h ^ (uint8_t)*s) * 1099511628211ull;
        return h;
}

static int run_sync(struct mariadb_sink *sink, const char *sql, char *errstr,
                    size_t errstr_size)
{
        int rc = sink_await(sink, errstr, errstr_size);
        if (rc)
                return rc;
        if (mysql_query(sink->my, sql))
                return sink_sql_error(sink, "keeping displaced rows", errstr,
                                      errstr_size);
        return 0;
}

/* ferry.`<db>.<table>`: one per target table, named so that an operator
 * sees at once whose rows it holds; hashed when that is too long. */
static int make_shadow(struct mariadb_sink *sink, struct target_table *t,
                       char *errstr, size_t errstr_size)
{
        char db[IDENT_MAX * 4 + 1], name[IDENT_MAX * 8 + 2];
        int rc = sink_await(sink, errstr, errstr_size);
        if (rc)
                return rc;
        rc = db_query_value(sink->my, "SELECT DATABASE()", db, sizeof(db),
                                errstr, errstr_size);
        if (rc)
                return rc;
        snprintf(name, sizeof(name), "%s.%s", db, t->name);
        if (strlen(name) > IDENT_MAX) {
                snprintf(name, sizeof(name), "displaced_%016" PRIx64,
                         fnv1a(name));
        }
        struct buf q;
        buf_init(&q);
        buf_puts(&q, "CREATE TABLE IF NOT EXISTS `ferry`.");
        db_put_ident(&q, name);
        buf_puts(&q, " LIKE ");
        db_put_ident(&q, t->name);
        rc = run_sync(sink, buf_cstr(&q), errstr, errstr_size);
        /* Without the unique keys: two stale images may share a value. A
         * crash between CREATE and ALTER is mended here next time. */
        buf_reset(&q);
        buf_puts(&q, "SELECT DISTINCT INDEX_NAME FROM "
                     "information_schema.STATISTICS WHERE TABLE_SCHEMA = "
                     "'ferry' AND TABLE_NAME = ");
        db_put_quoted(sink->my, &q, name, strlen(name));
        buf_puts(&q, " AND NON_UNIQUE = 0 AND INDEX_NAME <> 'PRIMARY'");
        MYSQL_RES *res = NULL;
        if (!rc && mysql_real_query(sink->my, q.data, (unsigned long)q.len))
                rc = sink_sql_error(sink, "reading displaced table keys",
                                    errstr, errstr_size);
        if (!rc && !(res = mysql_store_result(sink->my)))
                rc = sink_sql_error(sink, "reading displaced table keys",
                                    errstr, errstr_size);
        MYSQL_ROW row;
        while (!rc && (row = mysql_fetch_row(res))) {
                buf_reset(&q);
                buf_puts(&q, "ALTER TABLE `ferry`.");
                db_put_ident(&q, name);
                buf_puts(&q, " DROP INDEX IF EXISTS ");
                db_put_ident(&q, row[0]);
                rc = run_sync(sink, buf_cstr(&q), errstr, errstr_size);
        }
        if (res)
                mysql_free_result(res);
        buf_free(&q);
        if (!rc)
                t->shadow = xstrdup(name);
        return rc;
}

int mariadb_sink_guard_tables(struct mariadb_sink *sink,
                              const char *const *tables, char *errstr,
                              size_t errstr_size)
{
        if (sink->in_tx) {
                snprintf(errstr, errstr_size,
                         "guarding tables inside a transaction");
                return FERRY_ERR_FATAL;
        }
        for (size_t i = 0; tables && tables[i]; i++) {
                int rc;
                struct target_table *t = sink_load_table(sink, tables[i], &rc,
                                                         errstr, errstr_size);
                if (!t)
                        return rc;
                if (t->nuniq && !t->shadow &&
                    (rc = make_shadow(sink, t, errstr, errstr_size)))
                        return rc;
        }
        return 0;
}

void mariadb_sink_set_guard(struct mariadb_sink *sink, bool on)
{
        sink->guard = on;
}

/* Appends (`a`=v AND `b`=w) for the columns cols of t, valued from row;
 * false when one is absent or NULL (NULL never conflicts). */
static int put_match(struct mariadb_sink *sink, struct buf *b,
                     const struct target_table *t, const size_t *cols,
                     size_t n, json_t *row, bool *ok, char *errstr,
                     size_t errstr_size)
{
        size_t start = b->len;
        *ok = false;
        buf_putc(b, '(');
        for (size_t i = 0; i < n; i++) {
                const struct target_col *c = &t->cols[cols[i]];
                json_t *v = json_object_get(row, c->name);
                if (!v || json_is_null(v)) {
                        b->len = start;
                        return 0;
                }
                if (i)
                        buf_puts(b, " AND ");
                db_put_ident(b, c->name);
                buf_putc(b, '=');
                int rc = sink_put_literal(sink, b, t, c, v, errstr,
                                          errstr_size);
                if (rc)
                        return rc;
        }
        buf_putc(b, ')');
        *ok = true;
        return 0;
}

int sink_unique_displace(struct mariadb_sink *sink, struct target_table *t,
                         json_t *row, char *errstr, size_t errstr_size)
{
        if (!t->shadow) {
                snprintf(errstr, errstr_size,
                         "table %s has secondary unique keys but no "
                         "displaced-rows table (mariadb_sink_guard_tables "
                         "was not called)",
                         t->name);
                return FERRY_ERR_FATAL;
        }
        struct buf where;
        buf_init(&where);
        buf_puts(&where, " WHERE (");
        bool any = false;
        int rc = 0;
        for (size_t i = 0; i < t->nuniq && !rc; i++) {
                size_t mark = where.len;
                if (any)
                        buf_puts(&where, " OR ");
                bool ok;
                rc = put_match(sink, &where, t, t->uniq[i].cols,
                               t->uniq[i].ncols, row, &ok, errstr,
                               errstr_size);
                if (!ok)
                        where.len = mark;
                any |= ok;
        }
        if (rc || !any) {
                buf_free(&where);
                return rc;
        }
        size_t pk[64], npk = 0;
        for (size_t i = 0; i < t->ncols && npk < 64; i++)
                if (t->cols[i].pk)
                        pk[npk++] = i;
        bool ok;
        buf_puts(&where, ") AND NOT ");
        rc = put_match(sink, &where, t, pk, npk, row, &ok, errstr,
                       errstr_size);
        if (!rc && !ok) {
                snprintf(errstr, errstr_size,
                         "table %s: upsert without its primary key", t->name);
                rc = FERRY_ERR_DATA;
        }
        if (rc) {
                buf_free(&where);
                return rc;
        }

        /* Copy, then delete, the rows in the way; the copy's locking read
         * keeps anyone from taking the value meanwhile. */
        struct buf q;
        buf_init(&q);
        buf_puts(&q, "REPLACE INTO ");
        put_shadow(&q, t);
        buf_puts(&q, " (");
        put_columns(&q, t, NULL);
        buf_puts(&q, ") SELECT ");
        put_columns(&q, t, NULL);
        buf_puts(&q, " FROM ");
        db_put_ident(&q, t->name);
        buf_append(&q, where.data, where.len);
        buf_puts(&q, " FOR UPDATE");
        rc = run_sync(sink, buf_cstr(&q), errstr, errstr_size);
        if (!rc && mysql_affected_rows(sink->my) > 0) {
                buf_reset(&q);
                buf_puts(&q, "DELETE FROM ");
                db_put_ident(&q, t->name);
                buf_append(&q, where.data, where.len);
                rc = run_sync(sink, buf_cstr(&q), errstr, errstr_size);
                if (!rc) {
                        uint64_t n = mysql_affected_rows(sink->my);
                        sink->stats.rows_displaced += n;
                        log_info("sink: table %s: moved %" PRIu64 " row(s) "
                                 "holding a unique value of an incoming "
                                 "row to ferry.%s until their own changes "
                                 "arrive",
                                 t->name, n, t->shadow);
                }
        }
        t->touched = true;
        buf_free(&q);
        buf_free(&where);
        return rc;
}

int sink_unique_forget(struct mariadb_sink *sink, const struct target_table *t,
                       const char *where, size_t where_len, char *errstr,
                       size_t errstr_size)
{
        struct buf q;
        buf_init(&q);
        buf_puts(&q, "DELETE FROM ");
        put_shadow(&q, t);
        buf_append(&q, where, where_len);
        int rc = sink_run(sink, q.data, q.len, errstr, errstr_size);
        buf_free(&q);
        return rc;
}

/* A locking read: it sees what other workers committed since this
 * transaction began, which a plain read would not. */
static int has_displaced(struct mariadb_sink *sink,
                         const struct target_table *t, bool *yes, char *errstr,
                         size_t errstr_size)
{
        struct buf q;
        buf_init(&q);
        buf_puts(&q, "SELECT 1 FROM ");
        put_shadow(&q, t);
        buf_puts(&q, " LIMIT 1 LOCK IN SHARE MODE");
        int rc = run_sync(sink, buf_cstr(&q), errstr, errstr_size);
        buf_free(&q);
        if (rc)
                return rc;
        MYSQL_RES *res = mysql_store_result(sink->my);
        if (!res)
                return sink_sql_error(sink, "reading displaced rows", errstr,
                                      errstr_size);
        *yes = mysql_num_rows(res) > 0;
        mysql_free_result(res);
        return 0;
}

static int restore_table(struct mariadb_sink *sink, struct target_table *t,
                         char *errstr, size_t errstr_size)
{
        bool yes = false;
        int rc = has_displaced(sink, t, &yes, errstr, errstr_size);
        if (rc || !yes)
                return rc;
        struct buf q;
        buf_init(&q);
        buf_puts(&q, "INSERT IGNORE INTO ");
        db_put_ident(&q, t->name);
        buf_puts(&q, " (");
        put_columns(&q, t, NULL);
        buf_puts(&q, ") SELECT ");
        put_columns(&q, t, NULL);
        buf_puts(&q, " FROM ");
        put_shadow(&q, t);
        rc = run_sync(sink, buf_cstr(&q), errstr, errstr_size);
        uint64_t back = rc ? 0 : mysql_affected_rows(sink->my);
        /* Put back, or superseded by the row's own newer change. */
        buf_reset(&q);
        buf_puts(&q, "DELETE s FROM ");
        put_shadow(&q, t);
        buf_puts(&q, " AS s JOIN ");
        db_put_ident(&q, t->name);
        buf_puts(&q, " AS t USING (");
        bool comma = false;
        for (size_t i = 0; i < t->ncols; i++) {
                if (!t->cols[i].pk)
                        continue;
                if (comma)
                        buf_putc(&q, ',');
                db_put_ident(&q, t->cols[i].name);
                comma = true;
        }
        buf_putc(&q, ')');
        if (!rc)
                rc = run_sync(sink, buf_cstr(&q), errstr, errstr_size);
        if (!rc && back)
                log_info("sink: table %s: put %" PRIu64 " displaced row(s) "
                         "back from ferry.%s",
                         t->name, back, t->shadow);
        buf_free(&q);
        return rc;
}

int sink_unique_restore(struct mariadb_sink *sink, char *errstr,
                        size_t errstr_size)
{
        for (size_t i = 0; i < sink->ntables; i++) {
                struct target_table *t = sink->tables[i];
                if (!t->touched || !t->shadow)
                        continue;
                t->touched = false;
                int rc = restore_table(sink, t, errstr, errstr_size);
                if (rc)
                        return rc;
        }
        return 0;
}
