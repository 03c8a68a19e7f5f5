/* SPDX-License-Identifier: Apache-2.0
 * `ferryctl plan`: preflight against the live servers, no daemon needed.
 * Every check prints one line, "ok" or "PROBLEM" with the fix, so an
 * operator can run it before the first start and after any change.
 */
#include "daemon/plan.h"

#include "common/buf.h"
#include "connectors/db_conn.h"
#include "connectors/mariadb_sink.h"
#include "connectors/table_filter.h"
#include "daemon/endpoint.h"
#include "daemon/reverse.h"
#include "daemon/validate.h"
#include "transforms/mapping.h"

#include <librdkafka/rdkafka.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct plan {
        FILE *out;
        int problems;
};

static void check(struct plan *p, bool ok, const char *fmt, ...)
        FERRY_PRINTF(3, 4);
static void check(struct plan *p, bool ok, const char *fmt, ...)
{
        va_list ap;
        fprintf(p->out, "%-8s ", ok ? "ok" : "PROBLEM");
        va_start(ap, fmt);
        vfprintf(p->out, fmt, ap);
        va_end(ap);
        fputc('\n', p->out);
        if (!ok)
                p->problems++;
}

/* A recommendation: printed, never counted as a problem. */
static void advise(struct plan *p, const char *fmt, ...) FERRY_PRINTF(2, 3);
static void advise(struct plan *p, const char *fmt, ...)
{
        va_list ap;
        fprintf(p->out, "%-8s ", "advice");
        va_start(ap, fmt);
        vfprintf(p->out, fmt, ap);
        va_end(ap);
        fputc('\n', p->out);
}

/* What the sink will manage at start (mariadb_sink.c): keeping its
 * statements' text out of the binlog. Tried on this session only. */
static void sink_annotations(struct plan *p, MYSQL *my)
{
        char got[32], err[512];
        if (!mysql_query(my, MARIADB_SINK_ANNOTATIONS_OFF)) {
                check(p, true, "sink statements' text stays out of the "
                               "binlog (binlog_annotate_row_events off for "
                               "its session)");
                return;
        }
        if (!db_query_value(my, "SELECT @@GLOBAL.binlog_annotate_row_events",
                            got, sizeof(got), err, sizeof(err)) &&
            (!strcmp(got, "0") || !strcasecmp(got, "OFF"))) {
                check(p, true, "sink statements' text stays out of the "
                               "binlog (binlog_annotate_row_events = OFF)");
                return;
        }
        advise(p, "sink: GRANT BINLOG ADMIN to the sink user (or SET GLOBAL "
                  "binlog_annotate_row_events = OFF): otherwise the text of "
                  "every multi-row sink statement goes into the binlog and "
                  "the server's other commits wait longer during a backfill "
                  "(runbook: the ferry user and its grants)");
}

static void var_is(struct plan *p, MYSQL *my, const char *var, const char *want,
                   const char *fix)
{
        char sql[128], got[256], err[512];
        snprintf(sql, sizeof(sql), "SELECT @@GLOBAL.%s", var);
        if (db_query_value(my, sql, got, sizeof(got), err, sizeof(err))) {
                check(p, false, "source %s: cannot read: %s", var, err);
                return;
        }
        bool ok = !strcasecmp(got, want);
        check(p, ok, "source %s = %s%s%s", var, got, ok ? "" : ": ",
              ok ? "" : fix);
}

/* The grants the user holds, as one upper-cased text to search. */
static char *grants(MYSQL *my)
{
        if (mysql_query(my, "SHOW GRANTS"))
                return NULL;
        MYSQL_RES *res = mysql_store_result(my);
        if (!res)
                return NULL;
        struct buf b;
        buf_init(&b);
        MYSQL_ROW row;
        while ((row = mysql_fetch_row(res))) {
                buf_puts(&b, row[0]);
                buf_putc(&b, '\n');
        }
        mysql_free_result(res);
        for (size_t i = 0; i < b.len; i++)
                if (b.data[i] >= 'a' && b.data[i] <= 'z')
                        b.data[i] = (char)(b.data[i] - 'a' + 'A');
        return buf_steal(&b);
}

static bool has_priv(const char *g, const char *priv)
{
        return strstr(g, "ALL PRIVILEGES ON *.*") || strstr(g, priv);
}

static void check_source(struct plan *p, const struct cfg *cfg)
{
        struct db_endpoint ep = cfg_endpoint(&cfg->source.db);
        MYSQL *my;
        char err[512], val[512];
        if (db_connect(&my, &ep, 30, err, sizeof(err))) {
                check(p, false, "source connect as %s: %s", ep.user, err);
                return;
        }
        const char *cipher = mysql_get_ssl_cipher(my);
        check(p, true, "source connect as %s (%s, %s%s)", ep.user,
              mysql_get_server_info(my), cipher ? "TLS " : "no TLS",
              cipher ? cipher : "");
        var_is(p, my, "log_bin", "1",
               "enable the binlog (log_bin in [mysqld]) and restart");
        var_is(p, my, "binlog_format", "ROW",
               "SET GLOBAL binlog_format = ROW (and in [mysqld])");
        var_is(p, my, "binlog_row_image", "FULL",
               "SET GLOBAL binlog_row_image = FULL (and in [mysqld])");
        var_is(p, my, "binlog_row_metadata", "FULL",
               "SET GLOBAL binlog_row_metadata = FULL (and in [mysqld])");
        if (db_query_value(my, "SELECT @@GLOBAL.gtid_binlog_pos", val,
                           sizeof(val), err, sizeof(err)) == 0)
                check(p, true, "source GTID position %s",
                      val[0] ? val : "(empty: nothing logged yet)");
        else
                check(p, false, "source GTID position: %s", err);

        char *g = grants(my);
        if (!g) {
                check(p, false, "source grants: cannot read: %s",
                      mysql_error(my));
        } else {
                check(p, has_priv(g, "REPLICATION SLAVE"),
                      "source grant REPLICATION SLAVE (to read the binlog)");
                check(p,
                      has_priv(g, "BINLOG MONITOR") ||
                              has_priv(g, "REPLICATION CLIENT"),
                      "source grant BINLOG MONITOR (to read positions)");
                check(p, has_priv(g, "SELECT"),
                      "source grant SELECT on %s (backfill, verify)",
                      cfg->source.db.database);
                check(p, has_priv(g, "LOCK TABLES"),
                      "source grant LOCK TABLES on %s (cutover's write "
                      "pause)",
                      cfg->source.db.database);
                check(p, strstr(g, "ON `FERRY`.*") || strstr(g, "ON *.*"),
                      "source grant on ferry.* (the signal table: CREATE, "
                      "INSERT)");
                if (!strcmp(cfg->cutover.action, "rename")) {
                        check(p, has_priv(g, "ALTER") && has_priv(g, "DROP"),
                              "source grant ALTER, DROP on %s (cutover "
                              "action = rename moves the old tables)",
                              cfg->source.db.database);
                        check(p, has_priv(g, "CREATE") && has_priv(g, "INSERT"),
                              "source grant CREATE, INSERT on %s (the "
                              "retired schema of action = rename)",
                              cfg->cutover.retired_schema);
                }
                free(g);
        }

        /* Primary keys on every watched table. */
        struct buf q;
        buf_init(&q);
        buf_puts(&q, "SELECT t.TABLE_NAME, SUM(c.COLUMN_KEY = 'PRI') FROM "
                     "information_schema.TABLES t JOIN "
                     "information_schema.COLUMNS c ON c.TABLE_SCHEMA = "
                     "t.TABLE_SCHEMA AND c.TABLE_NAME = t.TABLE_NAME WHERE "
                     "t.TABLE_TYPE = 'BASE TABLE' AND t.TABLE_SCHEMA = ");
        db_put_quoted(my, &q, cfg->source.db.database,
                      strlen(cfg->source.db.database));
        buf_puts(&q, " GROUP BY t.TABLE_NAME ORDER BY t.TABLE_NAME");
        MYSQL_RES *res = mysql_real_query(my, q.data, (unsigned long)q.len)
                                 ? NULL
                                 : mysql_store_result(my);
        buf_free(&q);
        int watched = 0;
        MYSQL_ROW row;
        while (res && (row = mysql_fetch_row(res))) {
                if (!table_filter_match(cfg->source.db.database,
                                        cfg->source.tables,
                                        cfg->source.n_tables,
                                        cfg->source.db.database, row[0]))
                        continue;
                watched++;
                bool pk = row[1] && atoi(row[1]) > 0;
                check(p, pk, "source table %s.%s %s", cfg->source.db.database,
                      row[0],
                      pk ? "has a primary key"
                         : "has no primary key: add one (ferry keys "
                           "events and chunks by it)");
        }
        if (res)
                mysql_free_result(res);
        check(p, watched > 0, "source tables matching [source] tables: %d",
              watched);
        mysql_close(my);
}

static void check_sink(struct plan *p, const struct cfg *cfg)
{
        struct db_endpoint ep = cfg_endpoint(&cfg->sink.db);
        MYSQL *my;
        char err[512];
        if (db_connect(&my, &ep, 30, err, sizeof(err))) {
                check(p, false, "sink connect as %s: %s", ep.user, err);
                return;
        }
        const char *cipher = mysql_get_ssl_cipher(my);
        check(p, true, "sink connect as %s (%s, %s%s)", ep.user,
              mysql_get_server_info(my), cipher ? "TLS " : "no TLS",
              cipher ? cipher : "");
        char *g = grants(my);
        if (g) {
                check(p,
                      has_priv(g, "INSERT") && has_priv(g, "DELETE") &&
                              has_priv(g, "UPDATE"),
                      "sink grant INSERT, UPDATE, DELETE on %s",
                      cfg->sink.db.database);
                check(p, strstr(g, "ON `FERRY`.*") || strstr(g, "ON *.*"),
                      "sink grant on ferry.* (ferry.offsets: CREATE, "
                      "INSERT, UPDATE, SELECT)");
                free(g);
        }
        sink_annotations(p, my);
        mysql_close(my);
}

struct problems {
        struct plan *p;
        int n;
};

static void on_problem(void *ctx, const char *problem)
{
        struct problems *pr = ctx;
        pr->n++;
        check(pr->p, false, "mapping: %s", problem);
}

static void check_mapping(struct plan *p, const struct cfg *cfg)
{
        struct mapping *m;
        char err[2048];
        if (mapping_load(cfg->sink.mapping, &m, err, sizeof(err))) {
                check(p, false, "mapping %s: %s", cfg->sink.mapping, err);
                return;
        }
        struct problems pr = {p, 0};
        int rc = validate_mapping(cfg, m, on_problem, &pr, err, sizeof(err));
        if (rc && !pr.n)
                check(p, false, "mapping %s: %s", cfg->sink.mapping, err);
        else if (!rc)
                check(p, true,
                      "mapping %s fits the source and target "
                      "tables",
                      cfg->sink.mapping);
        mapping_free(m);
}

static void check_kafka(struct plan *p, const struct cfg *cfg)
{
        char err[512];
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        if (rd_kafka_conf_set(conf, "bootstrap.servers", cfg->kafka.brokers,
                              err, sizeof(err)) != RD_KAFKA_CONF_OK) {
                check(p, false, "kafka brokers: %s", err);
                rd_kafka_conf_destroy(conf);
                return;
        }
        for (size_t i = 0; i < cfg->kafka.n_rdkafka; i++)
                if (rd_kafka_conf_set(conf, cfg->kafka.rdkafka_keys[i],
                                      cfg->kafka.rdkafka_values[i], err,
                                      sizeof(err)) != RD_KAFKA_CONF_OK)
                        check(p, false, "kafka rdkafka.%s: %s",
                              cfg->kafka.rdkafka_keys[i], err);
        rd_kafka_t *rk =
                rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
        if (!rk) {
                check(p, false, "kafka client: %s", err);
                return;
        }
        const struct rd_kafka_metadata *md;
        rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 1, NULL, &md, 10000);
        if (e) {
                check(p, false, "kafka %s reachable: %s", cfg->kafka.brokers,
                      rd_kafka_err2str(e));
                rd_kafka_destroy(rk);
                return;
        }
        check(p, true, "kafka %s reachable (%d brokers)", cfg->kafka.brokers,
              md->broker_cnt);
        char prefix[600];
        snprintf(prefix, sizeof(prefix), "%s.%s.", cfg->kafka.topic_prefix,
                 cfg->source.db.database);
        int found = 0;
        for (int i = 0; i < md->topic_cnt; i++)
                if (!strncmp(md->topics[i].topic, prefix, strlen(prefix))) {
                        found++;
                        check(p, true, "kafka topic %s (%d partitions)",
                              md->topics[i].topic, md->topics[i].partition_cnt);
                }
        if (!found)
                check(p, false,
                      "kafka topics %s*: none yet; create them "
                      "(README: Kafka topics on a real cluster) "
                      "or allow auto-creation",
                      prefix);
        rd_kafka_metadata_destroy(md);
        rd_kafka_destroy(rk);
}

/* [cutover] reverse = true: the target's binlog is read after the
 * cutover, so it needs what the source's needs, and the mapping must
 * invert. */
static void check_reverse(struct plan *p, const struct cfg *cfg)
{
        static const char *const vars[][3] = {
                {"log_bin", "1", "enable the binlog (log_bin) and restart"},
                {"binlog_format", "ROW", "SET GLOBAL binlog_format = ROW"},
                {"binlog_row_image", "FULL",
                 "SET GLOBAL binlog_row_image = FULL"},
                {"binlog_row_metadata", "FULL",
                 "SET GLOBAL binlog_row_metadata = FULL"},
        };
        char err[1024] = "", got[256], sql[128];
        check(p, reverse_check(cfg, err, sizeof(err)) == 0,
              "reverse: the mapping inverts%s%s", err[0] ? ": " : "",
              err[0] ? err : "");
        struct db_endpoint ep = cfg_endpoint(&cfg->sink.db);
        MYSQL *my;
        if (db_connect(&my, &ep, 30, err, sizeof(err))) {
                check(p, false, "reverse: target connect as %s: %s", ep.user,
                      err);
                return;
        }
        for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
                snprintf(sql, sizeof(sql), "SELECT @@GLOBAL.%s", vars[i][0]);
                if (db_query_value(my, sql, got, sizeof(got), err,
                                   sizeof(err))) {
                        check(p, false, "reverse: target %s: cannot read: %s",
                              vars[i][0], err);
                        continue;
                }
                bool ok = !strcasecmp(got, vars[i][1]);
                check(p, ok, "reverse: target %s = %s%s%s", vars[i][0], got,
                      ok ? "" : ": ", ok ? "" : vars[i][2]);
        }
        char *g = grants(my);
        if (!g) {
                check(p, false, "reverse: target grants: cannot read: %s",
                      mysql_error(my));
        } else {
                check(p, has_priv(g, "REPLICATION SLAVE"),
                      "reverse: target grant REPLICATION SLAVE for %s (to "
                      "read the target's binlog)",
                      ep.user);
                check(p,
                      has_priv(g, "BINLOG MONITOR") ||
                              has_priv(g, "REPLICATION CLIENT"),
                      "reverse: target grant BINLOG MONITOR for %s", ep.user);
                free(g);
        }
        mysql_close(my);
}

int plan_run(const struct cfg *cfg, FILE *out)
{
        struct plan p = {.out = out};
        bool source = cfg->daemon.role != CFG_ROLE_SINK;
        bool sink = cfg->daemon.role != CFG_ROLE_SOURCE;
        fprintf(out, "ferry plan for %s (role %s, transport %s)\n", cfg->path,
                source && sink ? "all"
                : source       ? "source"
                               : "sink",
                cfg->daemon.transport == CFG_TRANSPORT_KAFKA ? "kafka"
                                                             : "direct");
        if (source)
                check_source(&p, cfg);
        if (sink) {
                check_sink(&p, cfg);
                check_mapping(&p, cfg);
        }
        if (cfg->cutover.reverse)
                check_reverse(&p, cfg);
        if (cfg->daemon.transport == CFG_TRANSPORT_KAFKA)
                check_kafka(&p, cfg);
        if (p.problems)
                fprintf(out, "%d problem%s found\n", p.problems,
                        p.problems == 1 ? "" : "s");
        else
                fprintf(out, "no problems found\n");
        return p.problems ? 1 : 0;
}
