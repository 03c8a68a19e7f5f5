/* SPDX-License-Identifier: Apache-2.0
 * The MariaDB sink's insides, shared by mariadb_sink.c (batching and
 * commits) and sink_unique.c (secondary unique keys). Not an API.
 */
#ifndef FERRY_MARIADB_SINK_INT_H
#define FERRY_MARIADB_SINK_INT_H

#include "common/buf.h"
#include "connectors/mariadb_sink.h"

#include <jansson.h>
#include <mysql.h>
#include <stdbool.h>
#include <stddef.h>

/* A statement is sent once it holds this many rows or bytes. */
#define SINK_MAX_ROWS  2000
#define SINK_MAX_BYTES (4u << 20)

struct target_col {
        char *name;
        bool binary;   /* binary/varbinary/blob: JSON carries base64 */
        bool geometry; /* JSON carries base64 WKB */
        bool bit;      /* BIT(n): written as a hex number (a decimal above
                          2^63 would not fit) */
        bool pk;
};

/* A unique index other than the primary key. */
struct target_unique {
        char *name;
        size_t *cols; /* indexes into target_table.cols */
        size_t ncols;
};

struct target_table {
        char *name;
        struct target_col *cols;
        size_t ncols;
        size_t npk;
        struct target_unique *uniq;
        size_t nuniq;
        /* ferry's table of rows displaced by a unique-key conflict (see
         * sink_unique.c), once mariadb_sink_guard_tables made it. */
        char *shadow;
        bool touched; /* changed in this batch: try restoring displaced */
};

enum pending_kind { PEND_NONE, PEND_UPSERT, PEND_DELETE };

struct mariadb_sink {
        MYSQL *my;
        char *pipeline;
        struct target_table **tables; /* pointers: they must not move */
        size_t ntables;
        bool in_tx;
        /* A statement was sent and its reply not read yet: the next batch
         * is built while the server applies this one. */
        bool awaiting;
        /* ... and it was an upsert into this table, whose secondary
         * unique keys turn a merge into an error (see sink_unique.c). */
        const struct target_table *awaiting_unique;
        /* Check each row of a table with secondary unique keys against
         * the others before writing it (mariadb_sink_set_guard). */
        bool guard;
        unsigned int last_errno; /* of the last failed statement */

        enum pending_kind pend;
        struct target_table *pend_table;
        char **pend_cols; /* upsert column list, in the rows' order */
        /* The fast path's target columns of pend_cols, so that a value
         * needs no lookup by name; valid while pend_tcols_for is the
         * pending table. */
        const struct target_col **pend_tcols;
        const struct target_table *pend_tcols_for;
        size_t pend_tcols_n;
        size_t pend_ncols;
        size_t pend_rows;
        size_t pend_where; /* a delete's " WHERE (...) IN" offset in sql */
        struct buf sql;
        struct buf tmp;
        json_t *marks; /* part -> value, written with the next commit */
        struct mariadb_sink_stats stats;
};

/* Sends a statement; its reply is read by the next sink_await. */
int sink_run(struct mariadb_sink *sink, const char *sql, size_t len,
             char *errstr, size_t errstr_size);
/* Reads the reply of the statement in flight, if any. */
int sink_await(struct mariadb_sink *sink, char *errstr, size_t errstr_size);
/* Classifies the connection's last error; errstr says what failed. */
int sink_sql_error(struct mariadb_sink *sink, const char *what, char *errstr,
                   size_t errstr_size);
struct target_table *sink_load_table(struct mariadb_sink *sink,
                                     const char *name, int *rcp, char *errstr,
                                     size_t errstr_size);
const struct target_col *sink_find_col(const struct target_table *t,
                                       const char *name);
/* Appends v as an SQL literal for column c of t. */
int sink_put_literal(struct mariadb_sink *sink, struct buf *b,
                     const struct target_table *t, const struct target_col *c,
                     json_t *v, char *errstr, size_t errstr_size);

/* sink_unique.c */
int sink_unique_load(struct mariadb_sink *sink, struct target_table *t,
                     char *errstr, size_t errstr_size);
void sink_unique_free(struct target_table *t);
/* Appends the ODKU assignment that fails a merge with another row. */
void sink_unique_put_odku_check(struct buf *b, const struct target_table *t);
/* Moves rows that hold one of row's unique values aside. */
int sink_unique_displace(struct mariadb_sink *sink, struct target_table *t,
                         json_t *row, char *errstr, size_t errstr_size);
/* After a delete run: forgets displaced copies of the deleted rows. */
int sink_unique_forget(struct mariadb_sink *sink, const struct target_table *t,
                       const char *where, size_t where_len, char *errstr,
                       size_t errstr_size);
/* Before commit: puts displaced rows back where they fit again. */
int sink_unique_restore(struct mariadb_sink *sink, char *errstr,
                        size_t errstr_size);

#endif
