/* SPDX-License-Identifier: Apache-2.0
 * Binlog source; see binlog_source.h. One instance runs in one thread.
 * Connector/C delivers framed, checksum-verified events; everything that
 * interprets them (table maps, row images, DDL) is ferry's own.
 */
#include "connectors/binlog_source.h"
#include "common/buf.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "connectors/binlog_rows.h"
#include "connectors/binlog_table.h"
#include "connectors/charset.h"
#include "connectors/signal_table.h"
#include "connectors/snapshot.h"
#include "connectors/table_filter.h"

#include <ctype.h>
#include <errmsg.h>
#include <mariadb_rpl.h>
#include <mysqld_error.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct tmap {
        uint64_t table_id;
        bool watched;
        bool signal;  /* ferry.signal: backfill watermarks */
        uint8_t *raw; /* last TABLE_MAP body, to skip re-parsing */
        size_t raw_len;
        struct binlog_table *t; /* watched tables only */
};

struct binlog_source {
        struct binlog_source_opts o;
        char *host, *socket, *user, *password, *database, *start;
        char **tables;

        pthread_mutex_t lock;
        struct gtid_pos committed; /* guarded by lock */
        struct binlog_source_stats stats;
        struct charset_map *charsets;

        MYSQL *my;
        MARIADB_RPL *rpl;
        MYSQL *meta; /* catalogue queries */
        /* Bytes of checksum after each event. Known from the server's
         * setting, because the first (artificial) ROTATE arrives before
         * the FORMAT_DESCRIPTION that tells Connector/C. */
        size_t checksum_len;

        struct tmap *tmaps;
        size_t ntmaps;
        char file[512];

        /* The transaction being read. */
        bool in_tx;
        bool tx_standalone;
        struct gtid tx_gtid;
        uint64_t tx_ts_ms;
        uint32_t tx_rows; /* row events delivered for this transaction */

        /* After a reconnect mid-transaction the server resends it from
         * its start: the rows already delivered are skipped. */
        bool resuming;
        struct gtid resume_gtid;
        uint32_t resume_rows;

        struct buf scratch;
        binlog_event_fn *cb;
        void *opaque;
        char *err;
        size_t errsz;
};

static char *dup_or_null(const char *s)
{
        return s ? xstrdup(s) : NULL;
}

struct binlog_source *binlog_source_new(const struct binlog_source_opts *opts)
{
        struct binlog_source *src = xcalloc(1, sizeof(*src));
        src->o = *opts;
        src->host = dup_or_null(opts->db.host);
        src->socket = dup_or_null(opts->db.socket);
        src->user = dup_or_null(opts->db.user);
        src->password = dup_or_null(opts->db.password);
        src->database = dup_or_null(opts->db.database);
        src->start = dup_or_null(opts->start_gtid);
        src->o.db.host = src->host;
        src->o.db.socket = src->socket;
        src->o.db.user = src->user;
        src->o.db.password = src->password;
        src->o.db.database = src->database;
        src->o.start_gtid = src->start;
        src->tables =
                xcalloc(opts->ntables ? opts->ntables : 1, sizeof(char *));
        for (size_t i = 0; i < opts->ntables; i++)
                src->tables[i] = xstrdup(opts->tables[i]);
        src->o.tables = src->tables;
        if (src->o.heartbeat_ms <= 0)
                src->o.heartbeat_ms = 1000;
        if (src->o.read_timeout_ms <= src->o.heartbeat_ms)
                src->o.read_timeout_ms = src->o.heartbeat_ms * 5;
        pthread_mutex_init(&src->lock, NULL);
        gtid_pos_init(&src->committed);
        src->charsets = charset_map_new();
        buf_init(&src->scratch);
        return src;
}

static void drop_tmaps(struct binlog_source *src)
{
        for (size_t i = 0; i < src->ntmaps; i++) {
                free(src->tmaps[i].raw);
                binlog_table_free(src->tmaps[i].t);
        }
        free(src->tmaps);
        src->tmaps = NULL;
        src->ntmaps = 0;
}

static void disconnect(struct binlog_source *src)
{
        if (src->rpl) {
                mariadb_rpl_close(src->rpl);
                src->rpl = NULL;
        }
        if (src->my) {
                mysql_close(src->my);
                src->my = NULL;
        }
        atomic_store(&src->stats.connected, false);
}

void binlog_source_free(struct binlog_source *src)
{
        if (!src)
                return;
        disconnect(src);
        if (src->meta)
                mysql_close(src->meta);
        drop_tmaps(src);
        charset_map_free(src->charsets);
        buf_free(&src->scratch);
        gtid_pos_free(&src->committed);
        pthread_mutex_destroy(&src->lock);
        for (size_t i = 0; i < src->o.ntables; i++)
                free(src->tables[i]);
        free(src->tables);
        free(src->host);
        free(src->socket);
        free(src->user);
        if (src->password)
                memset(src->password, 0, strlen(src->password));
        free(src->password);
        free(src->database);
        free(src->start);
        free(src);
}

void binlog_source_committed(struct binlog_source *src, struct gtid_pos *out)
{
        pthread_mutex_lock(&src->lock);
        gtid_pos_copy(out, &src->committed);
        pthread_mutex_unlock(&src->lock);
}

struct binlog_source_stats *binlog_source_stats(struct binlog_source *src)
{
        return &src->stats;
}

static uint64_t now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

#define FAIL(code, ...)                                                        \
        do {                                                                   \
                snprintf(src->err, src->errsz, __VA_ARGS__);                   \
                return (code);                                                 \
        } while (0)

/* Refuses servers whose binlog ferry cannot read exactly. */
/* The server does not always refuse a position older than its oldest
 * binlog (measured: MariaDB 10.11 streams on from what it still has), so
 * ferry checks itself: every domain of the oldest binlog's starting
 * position must be at or before where we resume, or changes in between
 * are gone and resuming would skip them. */
static int check_not_purged(struct binlog_source *src, const char *want)
{
        char err[512], oldest[256], start[2048];
        if (mysql_query(src->my, "SHOW BINARY LOGS"))
                FAIL(db_classify(mysql_errno(src->my)),
                     "SHOW BINARY LOGS (needs BINLOG MONITOR): %s",
                     mysql_error(src->my));
        MYSQL_RES *res = mysql_store_result(src->my);
        MYSQL_ROW row = res ? mysql_fetch_row(res) : NULL;
        snprintf(oldest, sizeof(oldest), "%s", row && row[0] ? row[0] : "");
        mysql_free_result(res);
        if (!oldest[0])
                return 0;
        struct buf q;
        buf_init(&q);
        buf_puts(&q, "SELECT BINLOG_GTID_POS(");
        db_put_quoted(src->my, &q, oldest, strlen(oldest));
        buf_puts(&q, ", 4)");
        int rc = db_query_value(src->my, buf_cstr(&q), start, sizeof(start),
                                err, sizeof(err));
        buf_free(&q);
        if (rc)
                FAIL(rc, "reading where %s starts: %s", oldest, err);
        struct gtid_pos have, first;
        gtid_pos_init(&have);
        gtid_pos_init(&first);
        if (gtid_pos_parse(&have, want, err, sizeof(err)) ||
            gtid_pos_parse(&first, start, err, sizeof(err))) {
                gtid_pos_free(&have);
                gtid_pos_free(&first);
                FAIL(FERRY_ERR_FATAL, "GTID position: %s", err);
        }
        const struct gtid *gone = NULL;
        for (size_t i = 0; i < first.n && !gone; i++) {
                uint64_t seq = 0;
                for (size_t k = 0; k < have.n; k++)
                        if (have.v[k].domain == first.v[i].domain)
                                seq = have.v[k].seq;
                if (seq < first.v[i].seq)
                        gone = &first.v[i];
        }
        if (gone) {
                char g[GTID_STR_MAX];
                snprintf(src->err, src->errsz,
                         "the binlog no longer holds the changes after "
                         "position '%s': the oldest binlog, %s, starts at "
                         "'%s' (domain %u is at %s there); the ones in "
                         "between were purged and ferry will not skip them. "
                         "Start over with a fresh backfill (runbook: start "
                         "over from a fresh backfill), and keep binlogs "
                         "longer than ferry may be stopped "
                         "(expire_logs_days / binlog_expire_logs_seconds)",
                         want, oldest, start, gone->domain,
                         gtid_format(gone, g));
                rc = FERRY_ERR_FATAL;
        }
        gtid_pos_free(&have);
        gtid_pos_free(&first);
        return rc;
}

static int check_server(struct binlog_source *src)
{
        static const struct {
                const char *var, *want, *fix;
        } req[] = {
                {"log_bin", "1", "enable log_bin"},
                {"binlog_format", "ROW", "set binlog_format=ROW"},
                {"binlog_row_image", "FULL", "set binlog_row_image=FULL"},
                {"binlog_row_metadata", "FULL", "set binlog_row_metadata=FULL"},
        };
        char val[64], sql[128], err[256];
        for (size_t i = 0; i < sizeof(req) / sizeof(req[0]); i++) {
                snprintf(sql, sizeof(sql), "SELECT @@global.%s", req[i].var);
                int rc = db_query_value(src->my, sql, val, sizeof(val), err,
                                        sizeof(err));
                if (rc)
                        FAIL(rc, "reading @@%s: %s", req[i].var, err);
                if (strcasecmp(val, req[i].want))
                        FAIL(FERRY_ERR_FATAL,
                             "source server has %s=%s; ferry needs %s (%s)",
                             req[i].var, val, req[i].want, req[i].fix);
        }
        return 0;
}

/* Learns the server's collation ids so no text column is guessed. */
static int load_collations(struct binlog_source *src)
{
        if (mysql_query(src->my, "SELECT ID, CHARACTER_SET_NAME FROM "
                                 "information_schema.COLLATIONS"))
                FAIL(db_classify(mysql_errno(src->my)),
                     "reading collations: %s", mysql_error(src->my));
        MYSQL_RES *res = mysql_store_result(src->my);
        if (!res)
                FAIL(FERRY_ERR_RETRY, "reading collations: %s",
                     mysql_error(src->my));
        MYSQL_ROW row;
        while ((row = mysql_fetch_row(res)))
                if (row[0] && row[1])
                        charset_map_set(src->charsets,
                                        (uint32_t)strtoul(row[0], NULL, 10),
                                        row[1]);
        mysql_free_result(res);
        return 0;
}

static int connect_and_dump(struct binlog_source *src)
{
        char err[512], sql[4096];
        struct buf pos;
        int rc;

        rc = db_connect(&src->my, &src->o.db,
                        (int)((src->o.read_timeout_ms + 999) / 1000), err,
                        sizeof(err));
        if (rc)
                FAIL(rc, "%s", err);
        if ((rc = check_server(src)) || (rc = load_collations(src)))
                return rc;
        char cks[32];
        if ((rc = db_query_value(src->my, "SELECT @@global.binlog_checksum",
                                 cks, sizeof(cks), err, sizeof(err))))
                FAIL(rc, "reading @@binlog_checksum: %s", err);
        src->checksum_len = strcasecmp(cks, "NONE") ? 4 : 0;

        buf_init(&pos);
        pthread_mutex_lock(&src->lock);
        bool have_pos = src->committed.n > 0 || src->start;
        gtid_pos_format(&src->committed, &pos);
        pthread_mutex_unlock(&src->lock);
        if (!have_pos) {
                /* start = now: the server's current position. */
                char now[2048];
                rc = db_query_value(src->my, "SELECT @@gtid_binlog_pos", now,
                                    sizeof(now), err, sizeof(err));
                if (rc) {
                        buf_free(&pos);
                        FAIL(rc, "reading @@gtid_binlog_pos: %s", err);
                }
                struct gtid_pos p;
                gtid_pos_init(&p);
                if (gtid_pos_parse(&p, now, err, sizeof(err))) {
                        buf_free(&pos);
                        FAIL(FERRY_ERR_FATAL, "server position: %s", err);
                }
                pthread_mutex_lock(&src->lock);
                gtid_pos_copy(&src->committed, &p);
                pthread_mutex_unlock(&src->lock);
                gtid_pos_free(&p);
                gtid_pos_format(&src->committed, &pos);
        }

        if ((rc = check_not_purged(src, buf_cstr(&pos)))) {
                buf_free(&pos);
                return rc;
        }

        const char *setup[] = {
                "SET @master_binlog_checksum = @@global.binlog_checksum",
                "SET @mariadb_slave_capability = 4",
                NULL,
                NULL,
        };
        char hb[96];
        snprintf(sql, sizeof(sql), "SET @slave_connect_state = '%s'",
                 buf_cstr(&pos));
        snprintf(hb, sizeof(hb), "SET @master_heartbeat_period = %lld",
                 (long long)src->o.heartbeat_ms * 1000000LL);
        setup[2] = sql;
        setup[3] = hb;
        for (size_t i = 0; i < 4; i++) {
                if ((rc = db_exec(src->my, setup[i], err, sizeof(err)))) {
                        buf_free(&pos);
                        FAIL(rc, "%s", err);
                }
        }

        src->rpl = mariadb_rpl_init(src->my);
        if (!src->rpl) {
                buf_free(&pos);
                FAIL(FERRY_ERR_RETRY, "mariadb_rpl_init failed");
        }
        mariadb_rpl_optionsv(src->rpl, MARIADB_RPL_SERVER_ID,
                             (unsigned int)src->o.server_id);
        mariadb_rpl_optionsv(src->rpl, MARIADB_RPL_FILENAME, "", (size_t)0);
        mariadb_rpl_optionsv(src->rpl, MARIADB_RPL_START, (unsigned long)4);
        mariadb_rpl_optionsv(src->rpl, MARIADB_RPL_FLAGS, (unsigned int)0);
        mariadb_rpl_optionsv(src->rpl, MARIADB_RPL_VERIFY_CHECKSUM,
                             (uint32_t)1);
        if (mariadb_rpl_open(src->rpl)) {
                unsigned int e = mysql_errno(src->my);
                snprintf(src->err, src->errsz,
                         "binlog dump from GTID position '%s': %s",
                         buf_cstr(&pos), mysql_error(src->my));
                buf_free(&pos);
                return e == ER_MASTER_FATAL_ERROR_READING_BINLOG
                               ? FERRY_ERR_FATAL
                               : FERRY_ERR_RETRY;
        }
        log_info("binlog source connected gtid=%s server_id=%u", buf_cstr(&pos),
                 src->o.server_id);
        buf_free(&pos);
        atomic_store(&src->stats.connected, true);
        return 0;
}

static struct tmap *tmap_find(struct binlog_source *src, uint64_t id)
{
        for (size_t i = 0; i < src->ntmaps; i++)
                if (src->tmaps[i].table_id == id)
                        return &src->tmaps[i];
        return NULL;
}

/* Asks the catalogue what the binlog cannot say: which columns are
 * JSON (a CHECK json_valid() on a longtext), UUID or INET6. */
static int apply_catalogue(struct binlog_source *src, struct binlog_table *t)
{
        char err[512], sql[4096], db[520], tb[520];
        int rc;

        if (!src->meta) {
                rc = db_connect(&src->meta, &src->o.db, 30, err, sizeof(err));
                if (rc)
                        FAIL(rc, "catalogue connection: %s", err);
        }
        mysql_real_escape_string(src->meta, db, t->shape->db,
                                 strlen(t->shape->db));
        mysql_real_escape_string(src->meta, tb, t->shape->name,
                                 strlen(t->shape->name));
        snprintf(sql, sizeof(sql),
                 "SELECT COLUMN_NAME, DATA_TYPE FROM "
                 "information_schema.COLUMNS WHERE TABLE_SCHEMA='%s' AND "
                 "TABLE_NAME='%s' AND DATA_TYPE IN ('uuid','inet6') "
                 "UNION ALL SELECT SUBSTRING_INDEX(SUBSTRING_INDEX("
                 "CHECK_CLAUSE, '`', 2), '`', -1), 'json' FROM "
                 "information_schema.CHECK_CONSTRAINTS WHERE "
                 "CONSTRAINT_SCHEMA='%s' AND TABLE_NAME='%s' AND "
                 "CHECK_CLAUSE LIKE 'json\\_valid(`%%`)'",
                 db, tb, db, tb);
        if (mysql_query(src->meta, sql)) {
                rc = db_classify(mysql_errno(src->meta));
                snprintf(src->err, src->errsz, "catalogue of %s.%s: %s",
                         t->shape->db, t->shape->name, mysql_error(src->meta));
                mysql_close(src->meta);
                src->meta = NULL;
                return rc;
        }
        MYSQL_RES *res = mysql_store_result(src->meta);
        MYSQL_ROW row;
        rc = 0;
        while (res && (row = mysql_fetch_row(res)) && !rc) {
                int c = ferry_table_column(t->shape, row[0]);
                if (c < 0)
                        continue; /* catalogue is newer than this map */
                enum ferry_type ft = !strcmp(row[1], "uuid")    ? FERRY_T_UUID
                                     : !strcmp(row[1], "inet6") ? FERRY_T_INET6
                                                                : FERRY_T_JSON;
                rc = binlog_table_set_type(t, (uint32_t)c, ft, err,
                                           sizeof(err));
                if (rc)
                        snprintf(src->err, src->errsz, "%s", err);
        }
        if (res)
                mysql_free_result(res);
        return rc;
}

static int on_table_map(struct binlog_source *src, MARIADB_RPL_EVENT *ev)
{
        const struct st_mariadb_rpl_table_map_event *tm = &ev->event.table_map;
        char db[256], name[256];
        char err[512];

        snprintf(db, sizeof(db), "%.*s", (int)tm->database.length,
                 tm->database.str);
        snprintf(name, sizeof(name), "%.*s", (int)tm->table.length,
                 tm->table.str);
        struct tmap *m = tmap_find(src, tm->table_id);
        /* Always watched: besides backfill watermarks it carries cutover
         * barriers and backfill requests. */
        bool signal = !strcmp(db, SIGNAL_DB) && !strcmp(name, SIGNAL_TABLE);
        bool watched = signal || table_filter_match(src->database, src->tables,
                                                    src->o.ntables, db, name);
        if (!m) {
                src->tmaps = xrealloc(src->tmaps,
                                      (src->ntmaps + 1) * sizeof(*src->tmaps));
                m = &src->tmaps[src->ntmaps++];
                memset(m, 0, sizeof(*m));
                m->table_id = tm->table_id;
        }
        m->watched = watched;
        m->signal = signal;
        if (!watched) {
                binlog_table_free(m->t);
                m->t = NULL;
                return 0;
        }

        size_t hdr = ev->raw_data_ofs + 19;
        size_t tail = src->checksum_len;
        if (ev->raw_data_size < hdr + tail)
                FAIL(FERRY_ERR_DATA, "TABLE_MAP for %s.%s is truncated", db,
                     name);
        const uint8_t *body = ev->raw_data + hdr;
        size_t len = ev->raw_data_size - hdr - tail;
        if (m->t && m->raw_len == len && !memcmp(m->raw, body, len))
                return 0; /* the same map again: keep the parsed one */

        struct binlog_table *t;
        uint8_t phl = src->rpl->post_header_len[TABLE_MAP_EVENT - 1];
        int rc = binlog_table_parse(body, len, phl, src->charsets, &t, err,
                                    sizeof(err));
        if (rc)
                FAIL(rc, "%s", err);
        if (!t->has_names)
                FAIL(FERRY_ERR_FATAL,
                     "table %s.%s: the binlog carries no column names (set "
                     "binlog_row_metadata=FULL on the source)",
                     db, name);
        if (!t->shape->npk) {
                binlog_table_free(t);
                FAIL(FERRY_ERR_SCHEMA,
                     "table %s.%s has no primary key: ferry cannot key its "
                     "changes (add a primary key or remove it from "
                     "[source] tables)",
                     db, name);
        }
        if (m->t && binlog_table_same_shape(m->t, t)) {
                binlog_table_free(t);
        } else {
                if ((rc = apply_catalogue(src, t))) {
                        binlog_table_free(t);
                        return rc;
                }
                if (m->t)
                        log_info("table shape changed table=%s.%s columns=%u",
                                 db, name, t->ncols);
                binlog_table_free(m->t);
                m->t = t;
        }
        free(m->raw);
        m->raw = xmemdup(body, len);
        m->raw_len = len;
        return 0;
}

static int deliver(struct binlog_source *src, struct ferry_event *ev)
{
        return src->cb(ev, src->opaque);
}

static int begin_tx(struct binlog_source *src, MARIADB_RPL_EVENT *ev)
{
        src->in_tx = true;
        src->tx_gtid.domain = ev->event.gtid.domain_id;
        src->tx_gtid.server = ev->server_id;
        src->tx_gtid.seq = ev->event.gtid.sequence_nr;
        src->tx_standalone = ev->event.gtid.flags & FL_STANDALONE;
        src->tx_ts_ms = (uint64_t)ev->timestamp * 1000;
        src->tx_rows = 0;

        if (src->resuming) {
                bool same = src->resume_gtid.domain == src->tx_gtid.domain &&
                            src->resume_gtid.server == src->tx_gtid.server &&
                            src->resume_gtid.seq == src->tx_gtid.seq;
                if (same)
                        return 0; /* BEGIN was delivered before the drop */
                log_warning("transaction interrupted by reconnect was not "
                            "resent first gtid=%u-%u-%llu",
                            src->resume_gtid.domain, src->resume_gtid.server,
                            (unsigned long long)src->resume_gtid.seq);
                src->resuming = false;
        }
        struct ferry_event *b = ferry_event_new(FERRY_EV_BEGIN, NULL, false,
                                                false, src->file, 0, NULL);
        b->pos.gtid = src->tx_gtid;
        b->pos.ts_ms = src->tx_ts_ms;
        b->pos.offset = ev->next_event_pos - ev->event_length;
        return deliver(src, b);
}

static int commit_tx(struct binlog_source *src, MARIADB_RPL_EVENT *ev)
{
        if (!src->in_tx)
                return 0;
        src->in_tx = false;
        src->resuming = false;
        struct ferry_event *c = ferry_event_new(FERRY_EV_COMMIT, NULL, false,
                                                false, src->file, 0, NULL);
        c->pos.gtid = src->tx_gtid;
        c->pos.ts_ms = src->tx_ts_ms;
        c->pos.row = src->tx_rows;
        c->pos.offset = ev->next_event_pos;
        int rc = deliver(src, c);
        if (rc)
                return rc;
        pthread_mutex_lock(&src->lock);
        gtid_pos_update(&src->committed, &src->tx_gtid);
        pthread_mutex_unlock(&src->lock);
        return 0;
}

static int on_row(struct ferry_event *ev, void *opaque)
{
        struct binlog_source *src = opaque;
        if (src->resuming && ev->pos.row < src->resume_rows) {
                ferry_event_free(ev); /* delivered before the reconnect */
                return 0;
        }
        src->tx_rows = ev->pos.row + 1;
        atomic_fetch_add(&src->stats.events, 1);
        if (src->o.snapshot)
                snapshot_on_change(src->o.snapshot, ev);
        return deliver(src, ev);
}

static int emit_snapshot(struct ferry_event *ev, void *opaque)
{
        struct binlog_source *src = opaque;
        if (ev->kind == FERRY_EV_ROW)
                atomic_fetch_add(&src->stats.events, 1);
        return deliver(src, ev);
}

/* A barrier or a backfill request becomes an event of its own at this
 * point of the transaction. */
static int emit_signal(struct binlog_source *src, enum ferry_event_kind kind,
                       const char *value, size_t len, struct ferry_pos *pos)
{
        char *text;
        struct ferry_event *ev =
                ferry_event_new(kind, NULL, false, false, NULL, len + 1, &text);
        memcpy(text, value, len);
        text[len] = '\0';
        ev->mark = text;
        ev->pos = *pos;
        ev->pos.file = NULL;
        return deliver(src, ev);
}

/* A ferry.signal row: a backfill watermark (the backfill may emit its
 * chunk here, inside the watermark's own transaction), a cutover barrier
 * or a backfill request. */
static int on_signal(struct ferry_event *ev, void *opaque)
{
        struct binlog_source *src = opaque;
        struct ferry_pos pos = {.gtid = src->tx_gtid,
                                .ts_ms = src->tx_ts_ms,
                                .row = src->tx_rows,
                                .offset = ev->pos.offset,
                                .file = src->file};
        size_t klen = 0, vlen = 0;
        const char *kind = signal_table_field(ev, "kind", &klen);
        int rc = 0;
        if (src->resuming || ev->op != FERRY_OP_CREATE || !kind) {
                /* delivered before this reconnect, or not a request */
        } else if (klen == 7 && !memcmp(kind, "barrier", 7)) {
                const char *id = signal_table_field(ev, "chunk", &vlen);
                if (id)
                        rc = emit_signal(src, FERRY_EV_BARRIER, id, vlen, &pos);
        } else if (klen == 8 && !memcmp(kind, "snapshot", 8)) {
                const char *t = signal_table_field(ev, "tbl", &vlen);
                if (t)
                        rc = emit_signal(src, FERRY_EV_SNAPSHOT_REQUEST, t,
                                         vlen, &pos);
        } else if (src->o.snapshot) {
                rc = snapshot_on_signal(src->o.snapshot, ev, &pos,
                                        emit_snapshot, src, src->err,
                                        src->errsz);
        }
        src->tx_rows = pos.row;
        ferry_event_free(ev);
        return rc;
}

static int on_rows(struct binlog_source *src, MARIADB_RPL_EVENT *ev)
{
        const struct st_mariadb_rpl_rows_event *r = &ev->event.rows;
        struct tmap *m = tmap_find(src, r->table_id);
        char err[512];
        char gtid[GTID_STR_MAX];

        if (!m || !m->watched)
                return 0;
        if (!m->t)
                FAIL(FERRY_ERR_DATA,
                     "rows event for table id %llu before "
                     "its table map",
                     (unsigned long long)r->table_id);
        struct binlog_rows rows = {
                .kind = r->type == WRITE_ROWS    ? BINLOG_ROWS_WRITE
                        : r->type == UPDATE_ROWS ? BINLOG_ROWS_UPDATE
                                                 : BINLOG_ROWS_DELETE,
                .ncols = r->column_count,
                .present = r->column_bitmap,
                .present_after = r->column_update_bitmap,
                .data = r->row_data,
                .len = r->row_data_size,
        };
        struct ferry_pos pos = {
                .gtid = src->tx_gtid,
                .ts_ms = src->tx_ts_ms,
                .row = src->tx_rows,
                .offset = ev->next_event_pos - ev->event_length,
                .file = src->file,
        };
        if (m->signal) {
                /* Row indexes of the transaction are not advanced by the
                 * watermark row itself. */
                struct ferry_pos sp = pos;
                int rc = binlog_rows_decode(m->t, &rows, &sp, &src->scratch,
                                            on_signal, src, err, sizeof(err));
                if (rc == FERRY_ERR_DATA || rc == FERRY_ERR_SCHEMA)
                        FAIL(rc, "%s", err);
                return rc;
        }
        int rc = binlog_rows_decode(m->t, &rows, &pos, &src->scratch, on_row,
                                    src, err, sizeof(err));
        if (rc && rc != FERRY_ERR_STOP &&
            (rc == FERRY_ERR_DATA || rc == FERRY_ERR_SCHEMA))
                FAIL(rc, "%s (gtid %s, %s:%llu)", err,
                     gtid_format(&src->tx_gtid, gtid), src->file,
                     (unsigned long long)pos.offset);
        /* Rows in the same transaction continue the count even if some
         * were skipped as already delivered. */
        src->tx_rows = pos.row;
        return rc;
}

/* Statement text handling for DDL detection. */
static const char *skip_space(const char *s)
{
        for (;;) {
                while (isspace((unsigned char)*s))
                        s++;
                if (s[0] == '/' && s[1] == '*') {
                        const char *e = strstr(s + 2, "*/");
                        s = e ? e + 2 : s + strlen(s);
                } else if ((s[0] == '-' && s[1] == '-') || s[0] == '#') {
                        const char *e = strchr(s, '\n');
                        s = e ? e : s + strlen(s);
                } else {
                        return s;
                }
        }
}

/* Reads the next token: a quoted or bare identifier/keyword (copied to
 * out, unquoted), a string literal (skipped, out = ""), or a single
 * punctuation character. Returns the position after it, NULL at end. */
static const char *next_token(const char *s, char *out, size_t outsz,
                              char *punct)
{
        size_t n = 0;
        s = skip_space(s);
        *punct = 0;
        out[0] = '\0';
        if (!*s)
                return NULL;
        if (*s == '`') {
                s++;
                while (*s && !(s[0] == '`' && s[1] != '`')) {
                        if (s[0] == '`')
                                s++;
                        if (n + 1 < outsz)
                                out[n++] = *s;
                        s++;
                }
                out[n] = '\0';
                return *s ? s + 1 : s;
        }
        if (*s == '\'' || *s == '"') {
                char q = *s++;
                while (*s && *s != q) {
                        if (*s == '\\' && s[1])
                                s++;
                        s++;
                }
                *punct = '\'';
                return *s ? s + 1 : s;
        }
        if (isalnum((unsigned char)*s) || *s == '_' || *s == '$') {
                while (isalnum((unsigned char)*s) || *s == '_' || *s == '$') {
                        if (n + 1 < outsz)
                                out[n++] = *s;
                        s++;
                }
                out[n] = '\0';
                return s;
        }
        *punct = *s;
        return s + 1;
}

/* Finds a watched table the statement names; returns true and its name. */
static bool names_watched_table(struct binlog_source *src, const char *stmt,
                                const char *default_db, char *table, size_t tsz)
{
        char tok[256], prev[256] = "";
        char p;
        const char *s = stmt;
        bool prev_dot = false;
        while ((s = next_token(s, tok, sizeof(tok), &p))) {
                if (p == '.') {
                        prev_dot = true;
                        continue;
                }
                if (p) {
                        prev[0] = '\0';
                        prev_dot = false;
                        continue;
                }
                const char *db = prev_dot ? prev : default_db;
                if (table_filter_match(src->database, src->tables,
                                       src->o.ntables, db, tok)) {
                        snprintf(table, tsz, "%s.%s", db, tok);
                        return true;
                }
                snprintf(prev, sizeof(prev), "%s", tok);
                prev_dot = false;
        }
        return false;
}

/* Which DDL the decoder can follow: statements that do not change how
 * existing rows are stored or which rows exist. Anything else (DROP,
 * TRUNCATE, RENAME, column drops/changes/reorders, statement-based DML)
 * would make the target silently diverge, so it stops the stream. */
static bool ddl_followable(const char *stmt)
{
        char tok[256], first[32] = "", second[32] = "";
        char p;
        const char *s = stmt;
        int i = 0;
        bool alter = false, has_add = false;
        while ((s = next_token(s, tok, sizeof(tok), &p))) {
                if (p)
                        continue;
                for (char *c = tok; *c; c++)
                        *c = (char)toupper((unsigned char)*c);
                if (i == 0)
                        snprintf(first, sizeof(first), "%.31s", tok);
                else if (i == 1)
                        snprintf(second, sizeof(second), "%.31s", tok);
                i++;
                if (!strcmp(first, "ALTER")) {
                        alter = true;
                        if (!strcmp(tok, "ADD"))
                                has_add = true;
                        if (!strcmp(tok, "DROP") || !strcmp(tok, "MODIFY") ||
                            !strcmp(tok, "CHANGE") || !strcmp(tok, "RENAME") ||
                            !strcmp(tok, "FIRST") || !strcmp(tok, "AFTER") ||
                            !strcmp(tok, "CONVERT") ||
                            !strcmp(tok, "PARTITION") || !strcmp(tok, "ORDER"))
                                return false;
                }
        }
        if (alter)
                return has_add;
        if (!strcmp(first, "CREATE"))
                return strcmp(second, "OR") != 0; /* not CREATE OR REPLACE */
        return !strcmp(first, "ANALYZE") || !strcmp(first, "OPTIMIZE") ||
               !strcmp(first, "CHECK") || !strcmp(first, "REPAIR") ||
               !strcmp(first, "GRANT") || !strcmp(first, "REVOKE");
}

static int on_query(struct binlog_source *src, MARIADB_RPL_EVENT *ev)
{
        const struct st_mariadb_rpl_query_event *q = &ev->event.query;
        char stmt_head[16];
        snprintf(stmt_head, sizeof(stmt_head), "%.*s",
                 (int)(q->statement.length < 15 ? q->statement.length : 15),
                 q->statement.str);
        if (!strcasecmp(stmt_head, "BEGIN"))
                return 0;
        if (!strcasecmp(stmt_head, "COMMIT"))
                return commit_tx(src, ev);
        if (!strncasecmp(stmt_head, "ROLLBACK", 8) &&
            q->statement.length == 8) {
                /* Only non-transactional changes were logged: the binlog
                 * keeps them, so they count as committed. */
                return commit_tx(src, ev);
        }

        char *stmt = xstrndup(q->statement.str, q->statement.length);
        char db[256], table[600];
        snprintf(db, sizeof(db), "%.*s", (int)q->database.length,
                 q->database.str);
        int rc = 0;
        if (names_watched_table(src, stmt, db, table, sizeof(table))) {
                char gtid[GTID_STR_MAX];
                if (ddl_followable(stmt)) {
                        log_info("followed DDL on watched table table=%s "
                                 "gtid=%s statement=%.200s",
                                 table, gtid_format(&src->tx_gtid, gtid), stmt);
                        /* The next TABLE_MAP brings the new shape. */
                } else if (src->o.retiring && atomic_load(src->o.retiring)) {
                        log_info("watched tables retired by the cutover "
                                 "gtid=%s statement=%.200s: the stream ends "
                                 "here",
                                 gtid_format(&src->tx_gtid, gtid), stmt);
                        rc = FERRY_ERR_STOP;
                } else {
                        snprintf(src->err, src->errsz,
                                 "statement on watched table %s cannot be "
                                 "followed (gtid %s): %.400s -- the target "
                                 "would diverge; apply the change to the "
                                 "mapping and target, then restart from a "
                                 "new snapshot (start = snapshot)",
                                 table, gtid_format(&src->tx_gtid, gtid), stmt);
                        rc = FERRY_ERR_SCHEMA;
                }
        }
        free(stmt);
        if (rc)
                return rc;
        if (src->tx_standalone)
                return commit_tx(src, ev);
        return 0;
}

static int handle_event(struct binlog_source *src, MARIADB_RPL_EVENT *ev)
{
        atomic_store(&src->stats.last_seen_ms, now_ms());
        switch (ev->event_type) {
        case ROTATE_EVENT: {
                /* Parsed from the raw event: Connector/C 3.3's rotate
                 * filename is mangled (measured: "00002", "0"). Body is
                 * an 8-byte position, then the name. */
                size_t at = ev->raw_data_ofs + 19 + 8;
                size_t tail = src->checksum_len;
                if (ev->raw_data_size < at + tail + 1)
                        FAIL(FERRY_ERR_DATA, "malformed ROTATE event");
                snprintf(src->file, sizeof(src->file), "%.*s",
                         (int)(ev->raw_data_size - at - tail),
                         (const char *)ev->raw_data + at);
                return 0;
        }
        case HEARTBEAT_LOG_EVENT:
                if (!src->in_tx)
                        atomic_store(&src->stats.caught_up, true);
                return 0;
        case GTID_EVENT:
                atomic_store(&src->stats.caught_up, false);
                atomic_store(&src->stats.last_event_ms,
                             (uint64_t)ev->timestamp * 1000);
                atomic_store(&src->stats.last_event_recv_ms, now_ms());
                return begin_tx(src, ev);
        case TABLE_MAP_EVENT:
                return on_table_map(src, ev);
        case WRITE_ROWS_EVENT_V1:
        case UPDATE_ROWS_EVENT_V1:
        case DELETE_ROWS_EVENT_V1:
        case WRITE_ROWS_EVENT:
        case UPDATE_ROWS_EVENT:
        case DELETE_ROWS_EVENT:
        case WRITE_ROWS_COMPRESSED_EVENT_V1:
        case UPDATE_ROWS_COMPRESSED_EVENT_V1:
        case DELETE_ROWS_COMPRESSED_EVENT_V1:
        case WRITE_ROWS_COMPRESSED_EVENT:
        case UPDATE_ROWS_COMPRESSED_EVENT:
        case DELETE_ROWS_COMPRESSED_EVENT:
                return on_rows(src, ev);
        case XID_EVENT:
                return commit_tx(src, ev);
        case QUERY_EVENT:
        case QUERY_COMPRESSED_EVENT:
                return on_query(src, ev);
        default:
                return 0;
        }
}

static void sleep_ms(int64_t ms)
{
        struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
}

/* Reads events until the connection breaks, a stop, or an error. */
static int stream(struct binlog_source *src, atomic_bool *stop)
{
        MARIADB_RPL_EVENT *ev = NULL;
        int rc = 0;
        while (!atomic_load(stop)) {
                MARIADB_RPL_EVENT *got = mariadb_rpl_fetch(src->rpl, ev);
                if (!got) {
                        /* fetch freed ev already */
                        ev = NULL;
                        unsigned int e = mysql_errno(src->my);
                        snprintf(src->err, src->errsz,
                                 "binlog connection lost: %s (%u)",
                                 e ? mysql_error(src->my)
                                   : mariadb_rpl_error(src->rpl),
                                 e);
                        return e == ER_MASTER_FATAL_ERROR_READING_BINLOG
                                       ? FERRY_ERR_FATAL
                                       : FERRY_ERR_RETRY;
                }
                ev = got;
                if ((rc = handle_event(src, ev)))
                        break;
                /* Chunks start between transactions, never inside one. */
                if (src->o.snapshot && !src->in_tx && !src->resuming &&
                    (rc = snapshot_tick(src->o.snapshot, src->err, src->errsz)))
                        break;
        }
        if (ev)
                mariadb_free_rpl_event(ev);
        return rc ? rc : FERRY_ERR_STOP;
}

int binlog_source_run(struct binlog_source *src, binlog_event_fn *cb,
                      void *opaque, atomic_bool *stop, char *errstr,
                      size_t errstr_size)
{
        int64_t backoff = 100;
        int failures = 0;
        int rc;

        src->cb = cb;
        src->opaque = opaque;
        src->err = errstr;
        src->errsz = errstr_size;
        if (src->start && !src->committed.n) {
                char err[256];
                if (gtid_pos_parse(&src->committed, src->start, err,
                                   sizeof(err))) {
                        snprintf(errstr, errstr_size, "start position: %s",
                                 err);
                        return FERRY_ERR_CONFIG;
                }
        }

        while (!atomic_load(stop)) {
                rc = connect_and_dump(src);
                if (rc == 0) {
                        rc = stream(src, stop);
                        if (rc == FERRY_ERR_RETRY && src->tx_rows)
                                failures = 0; /* it made progress */
                }
                disconnect(src);
                if (rc != FERRY_ERR_RETRY)
                        return rc;
                /* Resend of the open transaction: skip what was delivered */
                if (src->in_tx) {
                        if (!src->resuming) {
                                src->resuming = true;
                                src->resume_gtid = src->tx_gtid;
                                src->resume_rows = src->tx_rows;
                        }
                        src->in_tx = false;
                }
                drop_tmaps(src);
                failures++;
                atomic_fetch_add(&src->stats.reconnects, 1);
                /* Still retriable: the caller's own loop decides. */
                if (src->o.max_retries && failures > src->o.max_retries)
                        return FERRY_ERR_RETRY;
                log_warning("binlog source reconnecting in %lldms: %s",
                            (long long)backoff, errstr);
                for (int64_t w = 0; w < backoff && !atomic_load(stop); w += 50)
                        sleep_ms(50);
                backoff = backoff * 2 > 5000 ? 5000 : backoff * 2;
        }
        return FERRY_ERR_STOP;
}
