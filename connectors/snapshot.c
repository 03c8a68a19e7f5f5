/* SPDX-License-Identifier: Apache-2.0
 * Watermark backfill; see snapshot.h for the protocol.
 */
#include "connectors/snapshot.h"
#include "connectors/signal_table.h"
#include "common/base64.h"
#include "common/buf.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "transforms/event_json.h"

#include <errno.h>
#include <stdatomic.h>
#include <inttypes.h>
#include <mysql.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CHUNK_MIN 100
#define CHUNK_MAX 50000
/* A chunk waits in memory from its read to its high watermark, beside
 * the queue's 32 MiB, and the sink applies it as one transaction. When
 * the target is on the source server, every source commit that joins
 * the binlog group of that transaction waits while it is written (and
 * synced, with sync_binlog = 1): at 8 MiB the writer waited 27-55 ms
 * there. 2 MiB copied event_finder no slower and kept ferryd's RSS at
 * 54 MiB (bench/backfill --scale 1). */
#define CHUNK_BYTES (2u << 20)

/* How a column is read back so its value equals the binlog decoder's. */
enum read_as { RA_INT, RA_UINT, RA_FLOAT, RA_DOUBLE, RA_TEXT, RA_BYTES };

struct snap_col {
        char *name;
        char *expr; /* SELECT expression */
        enum read_as as;
};

struct snap_table {
        char *name;
        char *position; /* JSON array of the last key copied, or "" */
        bool done;
        uint64_t copied, estimated;
        /* catalogue, read with each chunk */
        struct ferry_table *shape;
        struct snap_col *cols;
        size_t ncols;
};

struct chunk_row {
        char *key; /* canonical key (JSON array text) */
        struct ferry_value *vals;
        struct buf text;
        bool dropped;
};

struct snapshot {
        struct db_endpoint ep;
        char *host, *socket, *user, *password, *database;
        MYSQL *my;
        struct snap_table *tables;
        size_t ntables;
        size_t cur; /* table being copied */
        int64_t chunk_ms;
        /* Throttles, set by another thread (snapshot_set_throttle). */
        atomic_int_fast64_t max_rows_per_s;
        atomic_bool hold;
        uint64_t next_chunk_ms; /* monotonic; the ceiling's pacing */
        /* How far the copy may run ahead of the sink, in chunks. */
        unsigned max_ahead;
        uint64_t chunks_emitted;
        atomic_uint_fast64_t chunks_applied; /* set by the sink's thread */
        size_t chunk_size;
        size_t chunk_limit; /* the LIMIT of the chunk in flight */

        /* The chunk in flight. */
        bool in_flight;
        bool low_seen;
        char chunk_id[64];
        struct chunk_row *rows;
        size_t nrows;
        uint64_t seq;
        uint32_t server_id;
};

static char *dup0(const char *s)
{
        return s ? xstrdup(s) : NULL;
}

struct snapshot *snapshot_new(const struct db_endpoint *ep, uint32_t server_id,
                              const struct snapshot_table_state *tables,
                              size_t ntables, int64_t chunk_ms,
                              int64_t max_rows_per_s)
{
        struct snapshot *s = xcalloc(1, sizeof(*s));
        s->host = dup0(ep->host);
        s->socket = dup0(ep->socket);
        s->user = dup0(ep->user);
        s->password = dup0(ep->password);
        s->database = dup0(ep->database);
        s->ep = (struct db_endpoint){s->host, ep->port,    s->socket,
                                     s->user, s->password, s->database,
                                     ep->tls};
        s->tables = xcalloc(ntables ? ntables : 1, sizeof(*s->tables));
        s->ntables = ntables;
        for (size_t i = 0; i < ntables; i++) {
                s->tables[i].name = xstrdup(tables[i].table);
                s->tables[i].done = !strcmp(tables[i].position, SNAPSHOT_DONE);
                s->tables[i].position =
                        xstrdup(s->tables[i].done ? "" : tables[i].position);
        }
        s->chunk_ms = chunk_ms > 0 ? chunk_ms : 100;
        atomic_init(&s->max_rows_per_s, max_rows_per_s);
        atomic_init(&s->hold, false);
        atomic_init(&s->chunks_applied, 0);
        s->chunk_size = 1000;
        s->server_id = server_id;
        return s;
}

static void drop_chunk(struct snapshot *s)
{
        for (size_t i = 0; i < s->nrows; i++) {
                free(s->rows[i].key);
                free(s->rows[i].vals);
                buf_free(&s->rows[i].text);
        }
        free(s->rows);
        s->rows = NULL;
        s->nrows = 0;
        s->in_flight = false;
        s->low_seen = false;
}

static void drop_catalogue(struct snap_table *t)
{
        for (size_t c = 0; c < t->ncols; c++) {
                free(t->cols[c].name);
                free(t->cols[c].expr);
        }
        free(t->cols);
        t->cols = NULL;
        t->ncols = 0;
        ferry_table_unref(t->shape);
        t->shape = NULL;
}

void snapshot_free(struct snapshot *s)
{
        if (!s)
                return;
        drop_chunk(s);
        for (size_t i = 0; i < s->ntables; i++) {
                drop_catalogue(&s->tables[i]);
                free(s->tables[i].name);
                free(s->tables[i].position);
        }
        free(s->tables);
        if (s->my)
                mysql_close(s->my);
        free(s->host);
        free(s->socket);
        free(s->user);
        free(s->password);
        free(s->database);
        free(s);
}

bool snapshot_active(const struct snapshot *s)
{
        for (size_t i = 0; i < s->ntables; i++)
                if (!s->tables[i].done)
                        return true;
        return false;
}

size_t snapshot_progress(struct snapshot *s, struct snapshot_progress *out,
                         size_t max)
{
        size_t n = 0;
        for (size_t i = 0; i < s->ntables && n < max; i++, n++)
                out[n] = (struct snapshot_progress){
                        s->tables[i].name, s->tables[i].copied,
                        s->tables[i].estimated, s->tables[i].done};
        return n;
}

static int fail_sql(struct snapshot *s, const char *what, char *errstr,
                    size_t errstr_size)
{
        unsigned int e = mysql_errno(s->my);
        snprintf(errstr, errstr_size, "backfill: %s: %s", what,
                 mysql_error(s->my));
        mysql_close(s->my);
        s->my = NULL;
        return db_classify(e);
}

static int ensure_conn(struct snapshot *s, char *errstr, size_t errstr_size)
{
        if (s->my)
                return 0;
        int rc = db_connect(&s->my, &s->ep, 60, errstr, errstr_size);
        if (rc == 0 && (rc = signal_table_ensure(s->my, errstr, errstr_size))) {
                mysql_close(s->my);
                s->my = NULL;
        }
        return rc;
}

/* Reads the table's columns, their read expressions and its key. */
static int load_catalogue(struct snapshot *s, struct snap_table *t,
                          char *errstr, size_t errstr_size)
{
        struct buf q;
        buf_init(&q);
        buf_puts(&q, "SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, "
                     "COLUMN_KEY, IS_NULLABLE FROM information_schema.COLUMNS "
                     "WHERE TABLE_SCHEMA = ");
        db_put_quoted(s->my, &q, s->database, strlen(s->database));
        buf_puts(&q, " AND TABLE_NAME = ");
        db_put_quoted(s->my, &q, t->name, strlen(t->name));
        buf_puts(&q, " ORDER BY ORDINAL_POSITION");
        int bad = mysql_real_query(s->my, q.data, (unsigned long)q.len);
        buf_free(&q);
        if (bad)
                return fail_sql(s, "reading columns", errstr, errstr_size);
        MYSQL_RES *res = mysql_store_result(s->my);
        if (!res)
                return fail_sql(s, "reading columns", errstr, errstr_size);
        drop_catalogue(t);
        size_t n = (size_t)mysql_num_rows(res);
        t->shape = ferry_table_new(s->database, t->name, n);
        t->cols = xcalloc(n ? n : 1, sizeof(*t->cols));
        t->ncols = n;
        MYSQL_ROW row;
        for (size_t i = 0; (row = mysql_fetch_row(res)); i++) {
                const char *dt = row[1], *ct = row[2];
                struct snap_col *c = &t->cols[i];
                struct buf e;
                buf_init(&e);
                c->name = xstrdup(row[0]);
                t->shape->cols[i].name = xstrdup(row[0]);
                t->shape->cols[i].nullable = !strcmp(row[4], "YES");
                bool uns = strstr(ct, "unsigned") != NULL;
                c->as = RA_TEXT;
                if (strstr(dt, "int") && strcmp(dt, "point")) {
                        c->as = uns ? RA_UINT : RA_INT;
                        t->shape->cols[i].type =
                                uns ? FERRY_T_UINT : FERRY_T_INT;
                } else if (!strcmp(dt, "year")) {
                        c->as = RA_UINT;
                        t->shape->cols[i].type = FERRY_T_YEAR;
                } else if (!strcmp(dt, "bit")) {
                        c->as = RA_UINT;
                        t->shape->cols[i].type = FERRY_T_BIT;
                } else if (!strcmp(dt, "float")) {
                        c->as = RA_FLOAT;
                        t->shape->cols[i].type = FERRY_T_FLOAT;
                } else if (!strcmp(dt, "double")) {
                        c->as = RA_DOUBLE;
                        t->shape->cols[i].type = FERRY_T_DOUBLE;
                } else if (strstr(dt, "binary") || strstr(dt, "blob")) {
                        c->as = RA_BYTES;
                        t->shape->cols[i].type = FERRY_T_BLOB;
                } else if (!strcmp(dt, "geometry") || !strcmp(dt, "point") ||
                           strstr(dt, "linestring") || strstr(dt, "polygon") ||
                           !strcmp(dt, "multipoint") ||
                           !strcmp(dt, "geometrycollection")) {
                        c->as = RA_BYTES;
                        t->shape->cols[i].type = FERRY_T_GEOMETRY;
                } else {
                        t->shape->cols[i].type = FERRY_T_TEXT;
                }
                if (c->as == RA_FLOAT) {
                        buf_puts(&e, "CAST(");
                        db_put_ident(&e, c->name);
                        buf_puts(&e, " AS DOUBLE)");
                } else if (t->shape->cols[i].type == FERRY_T_BIT) {
                        buf_puts(&e, "CAST(");
                        db_put_ident(&e, c->name);
                        buf_puts(&e, " AS UNSIGNED)");
                } else if (t->shape->cols[i].type == FERRY_T_GEOMETRY) {
                        buf_puts(&e, "ST_AsBinary(");
                        db_put_ident(&e, c->name);
                        buf_putc(&e, ')');
                } else {
                        db_put_ident(&e, c->name);
                }
                c->expr = buf_steal(&e);
                if (!strcmp(row[3], "PRI")) {
                        t->shape->pk = xrealloc(t->shape->pk,
                                                (t->shape->npk + 1) *
                                                        sizeof(uint32_t));
                        t->shape->pk[t->shape->npk++] = (uint32_t)i;
                        t->shape->cols[i].pk = true;
                }
        }
        mysql_free_result(res);
        if (!n || !t->shape->npk) {
                snprintf(errstr, errstr_size, "backfill: table %s.%s %s",
                         s->database, t->name,
                         n ? "has no primary key" : "does not exist");
                return FERRY_ERR_SCHEMA;
        }
        /* information_schema lists PRI columns in table order; the key
         * order is the index order. */
        struct buf k;
        buf_init(&k);
        buf_puts(&k, "SELECT COLUMN_NAME FROM information_schema.STATISTICS "
                     "WHERE INDEX_NAME = 'PRIMARY' AND TABLE_SCHEMA = ");
        db_put_quoted(s->my, &k, s->database, strlen(s->database));
        buf_puts(&k, " AND TABLE_NAME = ");
        db_put_quoted(s->my, &k, t->name, strlen(t->name));
        buf_puts(&k, " ORDER BY SEQ_IN_INDEX");
        bad = mysql_real_query(s->my, k.data, (unsigned long)k.len);
        buf_free(&k);
        if (bad || !(res = mysql_store_result(s->my)))
                return fail_sql(s, "reading the primary key", errstr,
                                errstr_size);
        for (size_t i = 0; (row = mysql_fetch_row(res)) && i < t->shape->npk;
             i++)
                t->shape->pk[i] =
                        (uint32_t)ferry_table_column(t->shape, row[0]);
        mysql_free_result(res);
        return 0;
}

/* The canonical key of a row: the JSON array of its key values. */
static char *key_of(const struct ferry_table *t, const struct ferry_value *v)
{
        json_t *a = json_array();
        for (size_t i = 0; i < t->npk; i++)
                json_array_append_new(a, event_json_value(&v[t->pk[i]]));
        char *s = json_dumps(a, JSON_COMPACT);
        json_decref(a);
        return s;
}

/* WHERE clause "after the last key", from the stored JSON array. */
static int put_after(struct snapshot *s, struct snap_table *t, struct buf *b,
                     char *errstr, size_t errstr_size)
{
        if (!t->position[0])
                return 0;
        json_t *key = json_loads(t->position, 0, NULL);
        if (!json_is_array(key) || json_array_size(key) != t->shape->npk) {
                json_decref(key);
                snprintf(errstr, errstr_size,
                         "backfill: stored position of %s is not its key: %s",
                         t->name, t->position);
                return FERRY_ERR_FATAL;
        }
        /* (a, b) > (x, y) as a OR-chain the optimizer turns into ranges. */
        buf_puts(b, " WHERE ");
        for (size_t i = 0; i < t->shape->npk; i++) {
                if (i)
                        buf_puts(b, " OR ");
                buf_putc(b, '(');
                for (size_t j = 0; j <= i; j++) {
                        struct snap_col *c = &t->cols[t->shape->pk[j]];
                        json_t *v = json_array_get(key, j);
                        if (j)
                                buf_puts(b, " AND ");
                        db_put_ident(b, c->name);
                        buf_puts(b, j == i ? " > " : " = ");
                        if (json_is_integer(v)) {
                                buf_printf(b, "%" JSON_INTEGER_FORMAT,
                                           json_integer_value(v));
                        } else if (c->as == RA_BYTES) {
                                struct buf raw;
                                buf_init(&raw);
                                if (base64_decode(json_string_value(v),
                                                  json_string_length(v),
                                                  &raw)) {
                                        buf_free(&raw);
                                        json_decref(key);
                                        return FERRY_ERR_FATAL;
                                }
                                buf_puts(b, "x'");
                                for (size_t k = 0; k < raw.len; k++)
                                        buf_printf(b, "%02x",
                                                   (uint8_t)raw.data[k]);
                                buf_putc(b, '\'');
                                buf_free(&raw);
                        } else {
                                const char *sv = json_string_value(v);
                                db_put_quoted(s->my, b, sv ? sv : "",
                                              sv ? strlen(sv) : 0);
                        }
                }
                buf_putc(b, ')');
        }
        json_decref(key);
        return 0;
}

static int parse_value(const struct snap_col *c, const char *v,
                       unsigned long len, struct ferry_value *out,
                       struct buf *text)
{
        char *end;
        if (!v) {
                out->kind = FERRY_V_NULL;
                return 0;
        }
        switch (c->as) {
        case RA_INT:
                errno = 0;
                out->kind = FERRY_V_INT;
                out->i = strtoll(v, &end, 10);
                return errno || *end ? -1 : 0;
        case RA_UINT:
                errno = 0;
                out->kind = FERRY_V_UINT;
                out->u = strtoull(v, &end, 10);
                return errno || *end ? -1 : 0;
        case RA_FLOAT:
        case RA_DOUBLE:
                out->kind = c->as == RA_FLOAT ? FERRY_V_FLOAT : FERRY_V_DOUBLE;
                out->d = strtod(v, &end);
                if (c->as == RA_FLOAT)
                        out->d = (double)(float)out->d;
                return *end ? -1 : 0;
        default:
                out->kind = c->as == RA_BYTES ? FERRY_V_BYTES : FERRY_V_TEXT;
                out->len = (uint32_t)len;
                out->u = text->len; /* offset until the row is complete */
                buf_append(text, v, len);
                return 0;
        }
}

static int write_signal(struct snapshot *s, const char *kind, const char *table,
                        char *errstr, size_t errstr_size)
{
        int rc = signal_table_write(s->my, s->chunk_id, kind, table, errstr,
                                    errstr_size);
        if (rc) {
                mysql_close(s->my);
                s->my = NULL;
        }
        return rc;
}

static uint64_t mono_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int read_chunk(struct snapshot *s, struct snap_table *t, char *errstr,
                      size_t errstr_size)
{
        struct buf q;
        int rc;
        buf_init(&q);
        buf_puts(&q, "SELECT ");
        for (size_t i = 0; i < t->ncols; i++) {
                if (i)
                        buf_putc(&q, ',');
                buf_puts(&q, t->cols[i].expr);
        }
        buf_puts(&q, " FROM ");
        db_put_ident(&q, s->database);
        buf_putc(&q, '.');
        db_put_ident(&q, t->name);
        if ((rc = put_after(s, t, &q, errstr, errstr_size))) {
                buf_free(&q);
                return rc;
        }
        buf_puts(&q, " ORDER BY ");
        for (size_t i = 0; i < t->shape->npk; i++) {
                if (i)
                        buf_putc(&q, ',');
                db_put_ident(&q, t->cols[t->shape->pk[i]].name);
        }
        s->chunk_limit = s->chunk_size;
        buf_printf(&q, " LIMIT %zu", s->chunk_limit);
        uint64_t t0 = mono_ms();
        int bad = mysql_real_query(s->my, q.data, (unsigned long)q.len);
        buf_free(&q);
        MYSQL_RES *res = bad ? NULL : mysql_store_result(s->my);
        if (!res)
                return fail_sql(s, "reading a chunk", errstr, errstr_size);
        size_t n = (size_t)mysql_num_rows(res), bytes = 0;
        s->rows = xcalloc(n ? n : 1, sizeof(*s->rows));
        MYSQL_ROW row;
        while ((row = mysql_fetch_row(res))) {
                unsigned long *lens = mysql_fetch_lengths(res);
                struct chunk_row *r = &s->rows[s->nrows++];
                r->vals = xcalloc(t->ncols, sizeof(*r->vals));
                buf_init(&r->text);
                for (size_t c = 0; c < t->ncols; c++) {
                        if (parse_value(&t->cols[c], row[c], lens[c],
                                        &r->vals[c], &r->text)) {
                                snprintf(errstr, errstr_size,
                                         "backfill: %s.%s: unreadable value "
                                         "'%.40s'",
                                         t->name, t->cols[c].name, row[c]);
                                mysql_free_result(res);
                                return FERRY_ERR_DATA;
                        }
                }
                for (size_t c = 0; c < t->ncols; c++)
                        if (r->vals[c].kind == FERRY_V_TEXT ||
                            r->vals[c].kind == FERRY_V_BYTES) {
                                size_t off = (size_t)r->vals[c].u;
                                r->vals[c].p = buf_cstr(&r->text) + off;
                        }
                r->key = key_of(t->shape, r->vals);
                bytes += sizeof(*r) + t->ncols * sizeof(*r->vals) +
                         r->text.cap + strlen(r->key) + 1;
        }
        mysql_free_result(res);

        /* Aim every chunk at chunk_ms: reads stay short whatever the row
         * size, and a busy server gets smaller chunks. */
        uint64_t took = mono_ms() - t0;
        if (n == s->chunk_limit) {
                size_t want =
                        took ? (size_t)((double)s->chunk_size *
                                        (double)s->chunk_ms / (double)took)
                             : s->chunk_size * 2;
                size_t most = CHUNK_BYTES / (bytes / n + 1);
                if (most > CHUNK_MAX)
                        most = CHUNK_MAX;
                if (want > s->chunk_size * 2)
                        want = s->chunk_size * 2;
                if (want > most)
                        want = most;
                if (want < CHUNK_MIN)
                        want = CHUNK_MIN;
                s->chunk_size = want;
        }
        return 0;
}

static void estimate(struct snapshot *s, struct snap_table *t)
{
        struct buf q;
        buf_init(&q);
        buf_puts(&q, "SELECT TABLE_ROWS FROM information_schema.TABLES WHERE "
                     "TABLE_SCHEMA = ");
        db_put_quoted(s->my, &q, s->database, strlen(s->database));
        buf_puts(&q, " AND TABLE_NAME = ");
        db_put_quoted(s->my, &q, t->name, strlen(t->name));
        char v[32], err[256];
        if (!db_query_value(s->my, buf_cstr(&q), v, sizeof(v), err,
                            sizeof(err)))
                t->estimated = strtoull(v, NULL, 10);
        buf_free(&q);
}

int snapshot_tick(struct snapshot *s, char *errstr, size_t errstr_size)
{
        int rc;
        if (s->in_flight || !snapshot_active(s) || atomic_load(&s->hold) ||
            mono_ms() < s->next_chunk_ms)
                return 0;
        if (s->max_ahead &&
            s->chunks_emitted >=
                    atomic_load(&s->chunks_applied) + s->max_ahead)
                return 0;
        while (s->cur < s->ntables && s->tables[s->cur].done)
                s->cur++;
        if (s->cur >= s->ntables)
                return 0;
        struct snap_table *t = &s->tables[s->cur];
        if ((rc = ensure_conn(s, errstr, errstr_size)))
                return rc;
        if (!t->shape) {
                if ((rc = load_catalogue(s, t, errstr, errstr_size)))
                        return rc;
                estimate(s, t);
                log_info("backfill starts table=%s.%s rows_estimated=%llu "
                         "from=%s",
                         s->database, t->name, (unsigned long long)t->estimated,
                         t->position[0] ? t->position : "start");
        }
        snprintf(s->chunk_id, sizeof(s->chunk_id), "%u-%d-%llx-%llu",
                 s->server_id, (int)getpid(), (unsigned long long)time(NULL),
                 (unsigned long long)++s->seq);
        /* LOW, read, HIGH: each its own autocommit statement, so no
         * transaction or lock outlives the chunk read. */
        if ((rc = write_signal(s, "low", t->name, errstr, errstr_size)) ||
            (rc = read_chunk(s, t, errstr, errstr_size)) ||
            (rc = write_signal(s, "high", t->name, errstr, errstr_size))) {
                drop_chunk(s);
                return rc;
        }
        s->in_flight = true;
        int64_t ceiling = atomic_load(&s->max_rows_per_s);
        if (ceiling > 0) {
                /* Never more than the ceiling: a chunk smaller than the
                 * adaptive size keeps the pacing fine-grained. */
                if (s->chunk_size > (size_t)ceiling / 2 + 1)
                        s->chunk_size = (size_t)ceiling / 2 + 1;
                s->next_chunk_ms = mono_ms() + (uint64_t)s->nrows * 1000 /
                                                       (uint64_t)ceiling;
        }
        return 0;
}

void snapshot_set_throttle(struct snapshot *s, int64_t max_rows_per_s,
                           bool hold)
{
        atomic_store(&s->max_rows_per_s, max_rows_per_s);
        atomic_store(&s->hold, hold);
}

void snapshot_set_max_ahead(struct snapshot *s, unsigned max_chunks)
{
        s->max_ahead = max_chunks;
}

void snapshot_chunk_applied(struct snapshot *s)
{
        atomic_fetch_add(&s->chunks_applied, 1);
}

void snapshot_on_change(struct snapshot *s, const struct ferry_event *ev)
{
        if (!s->in_flight || !s->low_seen)
                return;
        struct snap_table *t = &s->tables[s->cur];
        if (strcmp(ev->table->name, t->name))
                return;
        const struct ferry_value *vals = ev->after ? ev->after : ev->before;
        char *key = key_of(ev->table, vals);
        for (size_t i = 0; i < s->nrows; i++)
                if (!strcmp(s->rows[i].key, key))
                        s->rows[i].dropped = true;
        free(key);
}

int snapshot_on_signal(struct snapshot *s, const struct ferry_event *sig,
                       struct ferry_pos *pos, snapshot_emit_fn *emit,
                       void *emit_opaque, char *errstr, size_t errstr_size)
{
        size_t clen = 0, klen = 0;
        const char *chunk = signal_table_field(sig, "chunk", &clen);
        const char *kind = signal_table_field(sig, "kind", &klen);
        if (!s->in_flight || sig->op != FERRY_OP_CREATE || !chunk || !kind ||
            clen != strlen(s->chunk_id) || memcmp(chunk, s->chunk_id, clen))
                return 0; /* another run's watermark, or a replay */
        if (klen == 3 && !memcmp(kind, "low", 3)) {
                s->low_seen = true;
                return 0;
        }
        if (klen != 4 || memcmp(kind, "high", 4) || !s->low_seen)
                return 0;

        struct snap_table *t = &s->tables[s->cur];
        int rc = 0;
        size_t kept = 0;
        for (size_t i = 0; i < s->nrows && !rc; i++) {
                struct chunk_row *r = &s->rows[i];
                if (r->dropped)
                        continue;
                char *text;
                struct ferry_event *ev =
                        ferry_event_new(FERRY_EV_ROW, t->shape, false, true,
                                        pos->file, r->text.len, &text);
                ev->op = FERRY_OP_READ;
                ev->snapshot = true;
                ev->pos = *pos;
                ev->pos.file = NULL;
                if (r->text.len) /* a row of numbers only has none */
                        memcpy(text, r->text.data, r->text.len);
                for (size_t c = 0; c < t->ncols; c++) {
                        ev->after[c] = r->vals[c];
                        if (r->vals[c].kind == FERRY_V_TEXT ||
                            r->vals[c].kind == FERRY_V_BYTES)
                                ev->after[c].p =
                                        text + (r->vals[c].p - r->text.data);
                }
                pos->row++;
                kept++;
                rc = emit(ev, emit_opaque);
        }
        if (rc)
                return rc;
        /* Progress: the last key read, whether or not its row was kept. */
        bool last = s->nrows < s->chunk_limit;
        const char *value =
                last ? SNAPSHOT_DONE
                     : (s->nrows ? s->rows[s->nrows - 1].key : t->position);
        char *text;
        struct ferry_event *m =
                ferry_event_new(FERRY_EV_MARK, t->shape, false, false, NULL,
                                strlen(value) + 1, &text);
        memcpy(text, value, strlen(value) + 1);
        m->mark = text;
        m->pos = *pos;
        m->pos.file = NULL;
        t->copied += kept;
        free(t->position);
        t->position = xstrdup(last ? "" : value);
        if (last) {
                t->done = true;
                log_info("backfill done table=%s.%s rows_copied=%llu",
                         s->database, t->name, (unsigned long long)t->copied);
        }
        drop_chunk(s);
        s->chunks_emitted++;
        (void)errstr;
        (void)errstr_size;
        return emit(m, emit_opaque);
}
