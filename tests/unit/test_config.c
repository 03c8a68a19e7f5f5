/* SPDX-License-Identifier: Apache-2.0
 * cfg_load against files written to /tmp: a full file, every default,
 * durations, and one case per class of error, each checked for the
 * "FILE:LINE: [section] key: why" form operators grep for.
 */
#include "common/log.h"
#include "daemon/config.h"
#include "tests/unit/unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SECRET "pa55-never-shown"

static char pw_path[64];

/* Writes text (with "@PW@" replaced by the password file's path) to a new
 * temp file. @returns its path; the caller unlinks and frees. */
static char *write_conf(const char *text)
{
        char *path = strdup("/tmp/ferry-test-config-XXXXXX");
        int fd = mkstemp(path);
        FILE *f = fdopen(fd, "w");
        for (const char *p = text; *p;) {
                const char *at = strstr(p, "@PW@");
                if (!at) {
                        fputs(p, f);
                        break;
                }
                fwrite(p, 1, (size_t)(at - p), f);
                fputs(pw_path, f);
                p = at + 4;
        }
        fclose(f);
        return path;
}

/* Loads text; on success returns the config, on failure NULL with the
 * error (the path replaced by "F") in err. */
static struct cfg *load(const char *text, char *err, size_t errsz)
{
        char *path = write_conf(text);
        struct cfg *cfg = NULL;
        char raw[1024] = "";
        int rc = cfg_load(path, &cfg, raw, sizeof(raw));
        err[0] = '\0';
        if (rc) {
                size_t plen = strlen(path);
                if (!strncmp(raw, path, plen))
                        snprintf(err, errsz, "F%s", raw + plen);
                else
                        snprintf(err, errsz, "%s", raw);
                CHECK(rc == FERRY_ERR_CONFIG);
                CHECK(cfg == NULL);
                CHECK(strstr(raw, SECRET) == NULL);
        }
        unlink(path);
        free(path);
        return cfg;
}

/* The smallest valid file: the required keys for role = all, direct. */
#define MINIMAL                                                                \
        "[source]\n"                                                           \
        "user = ferry\n"                                                       \
        "database = event_finder\n"                                            \
        "tables = clerk_sync_%\n"                                              \
        "[sink]\n"                                                             \
        "user = ferry\n"                                                       \
        "database = event_finder\n"                                            \
        "mapping = /usr/share/ferry/schemas/event_finder.json\n"

static void expect_error(const char *text, const char *want)
{
        char err[1024];
        struct cfg *cfg = load(text, err, sizeof(err));
        CHECK(cfg == NULL);
        cfg_free(cfg);
        CHECK_STR(err, want);
}

static void expect_error_prefix(const char *text, const char *want)
{
        char err[1024];
        struct cfg *cfg = load(text, err, sizeof(err));
        CHECK(cfg == NULL);
        cfg_free(cfg);
        CHECK(!strncmp(err, want, strlen(want)));
        if (strncmp(err, want, strlen(want)))
                fprintf(stderr, "  got '%s'\n  want prefix '%s'\n", err, want);
}

static void test_full(void)
{
        char err[1024];
        struct cfg *cfg = load("; a comment\n"
                               "[daemon]\n"
                               "role = all\n"
                               "transport = kafka\n"
                               "state_dir = /srv/ferry\n"
                               "metrics_listen = [::1]:9999\n"
                               "control_socket = /run/f.sock\n"
                               "log_level = debug\n"
                               "\n"
                               "[source]\n"
                               "host = 10.0.0.1\n"
                               "port = 3307\n"
                               "socket = /run/mysqld/mysqld.sock\n"
                               "user = repl\n"
                               "password_file = @PW@\n"
                               "database = event_finder\n"
                               "tables = clerk_sync_%,  other ,t3\n"
                               "server_id = 4294967295\n"
                               "start = gtid:0-1-100,1-2-5\n"
                               "heartbeat = 250ms\n"
                               "read_timeout = 2m\n"
                               "[kafka]\n"
                               "brokers = k1:9092,k2:9092\n"
                               "topic_prefix = fx\n"
                               "rdkafka.compression.type = zstd\n"
                               "rdkafka.linger.ms = 5\n"
                               "rdkafka.acks = all\n"
                               "[sink]\n"
                               "user = writer\n"
                               "password_file = @PW@\n"
                               "database = target\n"
                               "mapping = /m.json\n"
                               "workers = 256\n"
                               "group = g\n"
                               "on_error = dead_letter\n"
                               "[cutover]\n"
                               "max_lag = 3s\n"
                               "lock_timeout = 1h\n"
                               "drain_timeout = 0ms\n"
                               "action = exec:/usr/bin/hook\n"
                               "retired_schema = old\n",
                               err, sizeof(err));
        CHECK(cfg != NULL);
        if (!cfg) {
                fprintf(stderr, "  %s\n", err);
                return;
        }
        CHECK(cfg->daemon.role == CFG_ROLE_ALL);
        CHECK(cfg->daemon.transport == CFG_TRANSPORT_KAFKA);
        CHECK_STR(cfg->daemon.state_dir, "/srv/ferry");
        CHECK_STR(cfg->daemon.metrics_listen, "[::1]:9999");
        CHECK_STR(cfg->daemon.control_socket, "/run/f.sock");
        CHECK(cfg->daemon.log_level == LOG_LVL_DEBUG);
        CHECK_STR(cfg->source.db.host, "10.0.0.1");
        CHECK(cfg->source.db.port == 3307);
        CHECK_STR(cfg->source.db.socket, "/run/mysqld/mysqld.sock");
        CHECK_STR(cfg->source.db.user, "repl");
        CHECK_STR(cfg->source.db.password, SECRET);
        CHECK_STR(cfg->source.db.password_file, pw_path);
        CHECK_STR(cfg->source.db.database, "event_finder");
        CHECK(cfg->source.n_tables == 3);
        if (cfg->source.n_tables == 3) {
                CHECK_STR(cfg->source.tables[0], "clerk_sync_%");
                CHECK_STR(cfg->source.tables[1], "other");
                CHECK_STR(cfg->source.tables[2], "t3");
        }
        CHECK(cfg->source.server_id == 4294967295u);
        CHECK(cfg->source.start == CFG_START_GTID);
        CHECK_STR(cfg->source.start_gtid, "0-1-100,1-2-5");
        CHECK(cfg->source.heartbeat_ms == 250);
        CHECK(cfg->source.read_timeout_ms == 120000);
        CHECK_STR(cfg->kafka.brokers, "k1:9092,k2:9092");
        CHECK_STR(cfg->kafka.topic_prefix, "fx");
        /* pass-through keeps file order, prefix stripped */
        CHECK(cfg->kafka.n_rdkafka == 3);
        if (cfg->kafka.n_rdkafka == 3) {
                CHECK_STR(cfg->kafka.rdkafka_keys[0], "compression.type");
                CHECK_STR(cfg->kafka.rdkafka_values[0], "zstd");
                CHECK_STR(cfg->kafka.rdkafka_keys[1], "linger.ms");
                CHECK_STR(cfg->kafka.rdkafka_values[1], "5");
                CHECK_STR(cfg->kafka.rdkafka_keys[2], "acks");
                CHECK_STR(cfg->kafka.rdkafka_values[2], "all");
        }
        CHECK_STR(cfg->sink.db.user, "writer");
        CHECK_STR(cfg->sink.db.password, SECRET);
        CHECK_STR(cfg->sink.db.database, "target");
        CHECK_STR(cfg->sink.mapping, "/m.json");
        CHECK(cfg->sink.workers == 256);
        CHECK_STR(cfg->sink.group, "g");
        CHECK(cfg->sink.on_error == CFG_ON_ERROR_DEAD_LETTER);
        CHECK(cfg->cutover.max_lag_ms == 3000);
        CHECK(cfg->cutover.lock_timeout_ms == 3600000);
        CHECK(cfg->cutover.drain_timeout_ms == 0);
        CHECK_STR(cfg->cutover.action, "exec:/usr/bin/hook");
        CHECK_STR(cfg->cutover.retired_schema, "old");
        cfg_free(cfg);
}

static void test_defaults(void)
{
        char err[1024];
        struct cfg *cfg = load(MINIMAL, err, sizeof(err));
        CHECK(cfg != NULL);
        if (!cfg) {
                fprintf(stderr, "  %s\n", err);
                return;
        }
        CHECK(cfg->daemon.role == CFG_ROLE_ALL);
        CHECK(cfg->daemon.transport == CFG_TRANSPORT_DIRECT);
        CHECK_STR(cfg->daemon.state_dir, "/var/lib/ferry");
        CHECK_STR(cfg->daemon.metrics_listen, "127.0.0.1:9187");
        CHECK_STR(cfg->daemon.control_socket, "/run/ferry/ferryd.sock");
        CHECK(cfg->daemon.log_level == LOG_LVL_INFO);
        CHECK_STR(cfg->source.db.host, "127.0.0.1");
        CHECK(cfg->source.db.port == 3306);
        CHECK(cfg->source.db.socket == NULL);
        CHECK_STR(cfg->source.db.password, "");
        CHECK(cfg->source.db.password_file == NULL);
        CHECK(cfg->source.server_id == 4001);
        CHECK(cfg->source.start == CFG_START_SNAPSHOT);
        CHECK(cfg->source.start_gtid == NULL);
        CHECK(cfg->source.heartbeat_ms == 1000);
        CHECK(cfg->source.read_timeout_ms == 5000);
        CHECK(cfg->kafka.brokers == NULL);
        CHECK_STR(cfg->kafka.topic_prefix, "ferry");
        CHECK(cfg->kafka.n_rdkafka == 0);
        CHECK_STR(cfg->sink.db.host, "127.0.0.1");
        CHECK(cfg->sink.db.port == 3306);
        CHECK(cfg->sink.db.socket == NULL);
        CHECK_STR(cfg->sink.db.password, "");
        CHECK(cfg->sink.workers == 4);
        CHECK_STR(cfg->sink.group, "ferry-sink");
        CHECK(cfg->sink.on_error == CFG_ON_ERROR_STOP);
        CHECK(cfg->cutover.max_lag_ms == 1000);
        CHECK(cfg->cutover.lock_timeout_ms == 2000);
        CHECK(cfg->cutover.drain_timeout_ms == 10000);
        CHECK_STR(cfg->cutover.action, "rename");
        CHECK_STR(cfg->cutover.retired_schema, "ferry_retired");
        cfg_free(cfg);

        /* metrics off, start = now, role source over kafka */
        cfg = load("[daemon]\nrole = source\ntransport = kafka\n"
                   "metrics_listen =\n"
                   "[source]\nuser = u\ndatabase = d\ntables = t\n"
                   "start = now\n[kafka]\nbrokers = b:9092\n",
                   err, sizeof(err));
        CHECK(cfg != NULL);
        if (!cfg) {
                fprintf(stderr, "  %s\n", err);
                return;
        }
        CHECK_STR(cfg->daemon.metrics_listen, "");
        CHECK(cfg->source.start == CFG_START_NOW);
        CHECK(cfg->sink.mapping == NULL);
        cfg_free(cfg);
}

static void test_durations(void)
{
        static const struct {
                const char *text;
                int64_t ms;
        } ok[] = {
                {"250ms", 250},
                {"0ms", 0},
                {"5s", 5000},
                {"2m", 120000},
                {"1h", 3600000},
                {"0s", 0},
                {"9223372036854775807ms", INT64_MAX},
                {"2562047788015h", 2562047788015LL * 3600000},
        };
        static const char *const bad[] = {
                "5",
                "5x",
                "-1s",
                "+1s",
                " 5s",
                "5 s",
                "5S",
                "ms",
                "",
                "1.5s",
                "5sec",
                "1d",
                "9223372036854775808ms",    /* > INT64_MAX */
                "9223372036854776s",        /* overflows in ms */
                "2562047788016h",           /* just past INT64_MAX ms */
                "99999999999999999999999h", /* overflows strtoull */
        };
        for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
                int64_t ms = -1;
                CHECK(cfg_parse_duration(ok[i].text, &ms) == 0);
                CHECK(ms == ok[i].ms);
        }
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                int64_t ms = 77;
                int rc = cfg_parse_duration(bad[i], &ms);
                CHECK(rc == FERRY_ERR_CONFIG);
                CHECK(ms == 77);
                if (rc != FERRY_ERR_CONFIG)
                        fprintf(stderr, "  accepted '%s'\n", bad[i]);
        }
        /* and through the file, with its line */
        expect_error(MINIMAL "[cutover]\nmax_lag = 5\n",
                     "F:10: [cutover] max_lag: '5' is not a duration like "
                     "250ms, 5s, 2m, 1h");
        expect_error(MINIMAL "[cutover]\nmax_lag = 5x\n",
                     "F:10: [cutover] max_lag: '5x' is not a duration like "
                     "250ms, 5s, 2m, 1h");
        expect_error(MINIMAL "[cutover]\nlock_timeout = -1s\n",
                     "F:10: [cutover] lock_timeout: '-1s' is not a duration "
                     "like 250ms, 5s, 2m, 1h");
        expect_error(MINIMAL "[cutover]\ndrain_timeout = 9999999999999999h\n",
                     "F:10: [cutover] drain_timeout: '9999999999999999h' is "
                     "not a duration like 250ms, 5s, 2m, 1h");
}

static void test_bool(void)
{
        bool b = false;
        CHECK(cfg_parse_bool("yes", &b) == 0 && b);
        CHECK(cfg_parse_bool("true", &b) == 0 && b);
        CHECK(cfg_parse_bool("on", &b) == 0 && b);
        CHECK(cfg_parse_bool("1", &b) == 0 && b);
        CHECK(cfg_parse_bool("no", &b) == 0 && !b);
        CHECK(cfg_parse_bool("false", &b) == 0 && !b);
        CHECK(cfg_parse_bool("off", &b) == 0 && !b);
        CHECK(cfg_parse_bool("0", &b) == 0 && !b);
        CHECK(cfg_parse_bool("maybe", &b) == FERRY_ERR_CONFIG);
        CHECK(cfg_parse_bool("", &b) == FERRY_ERR_CONFIG);
        CHECK(cfg_parse_bool("2", &b) == FERRY_ERR_CONFIG);
}

static void test_errors(void)
{
        /* unknown key, unknown section (even an empty one), and keys
         * outside any section */
        expect_error(MINIMAL "[daemon]\nrole = all\nlevel = info\n",
                     "F:11: [daemon] level: unknown key");
        expect_error(MINIMAL "[cutovr]\nmax_lag = 1s\n",
                     "F:9: [cutovr]: unknown section (sections: daemon, "
                     "source, kafka, sink, cutover)");
        expect_error(MINIMAL "\n[metrics]\n",
                     "F:10: [metrics]: unknown section (sections: daemon, "
                     "source, kafka, sink, cutover)");
        expect_error("role = all\n" MINIMAL,
                     "F:1: [] role: key before any [section] header");
        /* duplicates, also across a repeated section header */
        expect_error(MINIMAL "[source]\nport = 1\nport = 2\n",
                     "F:11: [source] port: set twice (first on line 10)");
        expect_error(MINIMAL "[source]\nuser = again\n",
                     "F:10: [source] user: set twice (first on line 2)");
        expect_error(MINIMAL "[kafka]\nrdkafka.acks = 1\nrdkafka.acks = 2\n",
                     "F:11: [kafka] rdkafka.acks: set twice");
        expect_error(MINIMAL "[kafka]\nrdkafka. = 1\n",
                     "F:10: [kafka] rdkafka.: needs a librdkafka property "
                     "name after 'rdkafka.'");
        /* bad enums */
        expect_error("[daemon]\nrole = both\n" MINIMAL,
                     "F:2: [daemon] role: 'both' is not one of all, source, "
                     "sink");
        expect_error("[daemon]\ntransport = carrier pigeon\n" MINIMAL,
                     "F:2: [daemon] transport: 'carrier pigeon' is not one "
                     "of direct, kafka");
        expect_error("[daemon]\nlog_level = fatal\n" MINIMAL,
                     "F:2: [daemon] log_level: 'fatal' is not one of debug, "
                     "info, warning, error");
        expect_error(MINIMAL "on_error = skip\n",
                     "F:9: [sink] on_error: 'skip' is not one of stop, "
                     "dead_letter");
        expect_error(MINIMAL "[source]\nstart = yesterday\n",
                     "F:10: [source] start: 'yesterday' is not one of "
                     "snapshot, now, gtid:...");
        expect_error_prefix(MINIMAL "[source]\nstart = gtid:0-1\n",
                            "F:10: [source] start: ");
        expect_error(MINIMAL "[source]\nstart = gtid:\n",
                     "F:10: [source] start: gtid: needs a position like "
                     "0-1-100");
        expect_error(MINIMAL "[cutover]\naction = exec:hook\n",
                     "F:10: [cutover] action: 'exec:hook' is not one of "
                     "rename, none, exec:/absolute/path");
        /* bad ints */
        expect_error(MINIMAL "[source]\nport = 33x6\n",
                     "F:10: [source] port: '33x6' is not a whole number in "
                     "1..65535");
        expect_error(MINIMAL "[source]\nport = 0\n",
                     "F:10: [source] port: '0' is not a whole number in "
                     "1..65535");
        expect_error(MINIMAL "workers = 257\n",
                     "F:9: [sink] workers: '257' is not a whole number in "
                     "1..256");
        expect_error(MINIMAL "[source]\nserver_id = 4294967296\n",
                     "F:10: [source] server_id: '4294967296' is not a whole "
                     "number in 1..4294967295");
        expect_error(MINIMAL "[source]\nserver_id = 99999999999999999999\n",
                     "F:10: [source] server_id: '99999999999999999999' is "
                     "not a whole number in 1..4294967295");
        /* paths, lists, addresses */
        expect_error(MINIMAL "[daemon]\nstate_dir = var/lib\n",
                     "F:10: [daemon] state_dir: 'var/lib' is not an "
                     "absolute path");
        expect_error(MINIMAL "[source]\ntables = a,,b\n"
                             "[daemon]\n",
                     "F:10: [source] tables: set twice (first on line 4)");
        expect_error("[source]\nuser = u\ndatabase = d\ntables = a, ,b\n",
                     "F:4: [source] tables: empty item 2 in 'a, ,b': name "
                     "tables or LIKE patterns, comma separated");
        expect_error("[source]\nuser = u\ndatabase = d\ntables =\n",
                     "F:4: [source] tables: empty item 1 in '': name "
                     "tables or LIKE patterns, comma separated");
        expect_error_prefix(MINIMAL "[daemon]\nmetrics_listen = nowhere\n",
                            "F:10: [daemon] metrics_listen: ");
        /* missing keys: the section's line, or 0 without the section */
        expect_error("[source]\nuser = u\ndatabase = d\n",
                     "F:1: [source] tables: missing required key");
        expect_error("[daemon]\nrole = all\n",
                     "F:0: [source] user: missing required key");
        expect_error("[source]\nuser = u\ndatabase = d\ntables = t\n"
                     "\n[sink]\nuser = u\ndatabase = d\n",
                     "F:6: [sink] mapping: missing required key (role "
                     "includes the sink)");
        expect_error("[daemon]\ntransport = kafka\n" MINIMAL,
                     "F:0: [kafka] brokers: missing required key "
                     "(transport = kafka)");
        /* cross-checks */
        expect_error("[daemon]\nrole = source\n" MINIMAL,
                     "F:1: [daemon] transport: direct carries events inside "
                     "one process, so it needs role = all (use transport = "
                     "kafka to split source and sink)");
        expect_error("[daemon]\nrole = sink\ntransport = direct\n" MINIMAL,
                     "F:3: [daemon] transport: direct carries events inside "
                     "one process, so it needs role = all (use transport = "
                     "kafka to split source and sink)");
        expect_error(MINIMAL "[source]\nheartbeat = 5s\n",
                     "F:1: [source] read_timeout: must be longer than "
                     "heartbeat, or an idle but healthy connection would "
                     "time out");
        expect_error(MINIMAL "[source]\nheartbeat = 10ms\n",
                     "F:10: [source] heartbeat: must be at least 100ms");
        /* what inih would misread */
        expect_error(MINIMAL "[source]\nport = 3306\n  server_id = 5\n",
                     "F:11: [source] port: this line is indented, so INI "
                     "would read it as more of this key's value; remove the "
                     "leading whitespace");
        expect_error(MINIMAL "[source]\nport\n",
                     "F:10: [source]: syntax error: expected key = value, "
                     "[section] or a ; comment");
        {
                char text[1024];
                char pad[301];
                memset(pad, 'x', 300);
                pad[300] = '\0';
                snprintf(text, sizeof(text), "[daemon]\nstate_dir = /%s\n%s",
                         pad, MINIMAL);
                expect_error(text, "F:2: [daemon]: line is longer than 199 "
                                   "characters");
        }
        /* an indented comment is still a comment */
        {
                char err[1024];
                struct cfg *cfg = load(MINIMAL "workers = 2 ; many\n"
                                               "            ; more words\n",
                                       err, sizeof(err));
                CHECK(cfg != NULL);
                if (cfg)
                        CHECK(cfg->sink.workers == 2);
                else
                        fprintf(stderr, "  %s\n", err);
                cfg_free(cfg);
        }
        /* the file itself */
        {
                struct cfg *cfg = NULL;
                char err[256];
                CHECK(cfg_load("/nonexistent/ferryd.conf", &cfg, err,
                               sizeof(err)) == FERRY_ERR_CONFIG);
                CHECK_STR(err, "/nonexistent/ferryd.conf:0: cannot read: "
                               "No such file or directory");
                CHECK(cfg_load("/tmp", &cfg, err, sizeof(err)) ==
                      FERRY_ERR_CONFIG);
                CHECK_STR(err, "/tmp:0: cannot read: Is a directory");
        }
}

static void test_password_file(void)
{
        char err[1024];
        /* unreadable: names file, line, key, path and the OS error */
        expect_error(MINIMAL "[source]\npassword_file = /nonexistent/pw\n",
                     "F:10: [source] password_file: cannot read "
                     "'/nonexistent/pw': No such file or directory");
        if (geteuid() != 0) {
                char want[256];
                snprintf(want, sizeof(want),
                         "F:9: [sink] password_file: "
                         "cannot read '%s': Permission denied",
                         pw_path);
                chmod(pw_path, 0);
                expect_error(MINIMAL "password_file = @PW@\n", want);
                chmod(pw_path, 0600);
        }
        /* one trailing newline is stripped, nothing else */
        FILE *f = fopen(pw_path, "w");
        fputs(" sp " SECRET "\n", f);
        fclose(f);
        struct cfg *cfg =
                load(MINIMAL "password_file = @PW@\n", err, sizeof(err));
        CHECK(cfg != NULL);
        if (cfg)
                CHECK_STR(cfg->sink.db.password, " sp " SECRET);
        cfg_free(cfg);
        /* no newline at all */
        f = fopen(pw_path, "w");
        fputs(SECRET, f);
        fclose(f);
        cfg = load(MINIMAL "password_file = @PW@\n", err, sizeof(err));
        CHECK(cfg != NULL);
        if (cfg)
                CHECK_STR(cfg->sink.db.password, SECRET);
        cfg_free(cfg);
        /* two lines: refused, and the error does not quote it */
        f = fopen(pw_path, "w");
        fputs(SECRET "\n" SECRET "\n", f);
        fclose(f);
        cfg = load(MINIMAL "password_file = @PW@\n", err, sizeof(err));
        CHECK(cfg == NULL);
        CHECK(strstr(err, "[sink] password_file: ") != NULL);
        CHECK(strstr(err, SECRET) == NULL);
        cfg_free(cfg);
        f = fopen(pw_path, "w");
        fputs(SECRET "\n", f);
        fclose(f);
}

static void test_reload(void)
{
        char err[1024], diff[256];
        CHECK(cfg_key_reloadable("daemon", "log_level"));
        CHECK(cfg_key_reloadable("cutover", "max_lag"));
        CHECK(!cfg_key_reloadable("source", "host"));
        CHECK(!cfg_key_reloadable("daemon", "role"));
        CHECK(!cfg_key_reloadable("nope", "nope"));

        struct cfg *a =
                load(MINIMAL "[kafka]\nrdkafka.acks = 1\n", err, sizeof(err));
        struct cfg *b = load(MINIMAL "[daemon]\nlog_level = debug\n"
                                     "[cutover]\nmax_lag = 5s\n"
                                     "[kafka]\nrdkafka.acks = 1\n",
                             err, sizeof(err));
        struct cfg *c = load(MINIMAL "[source]\nhost = 10.1.1.1\n"
                                     "tables = x\n" /* a duplicate: refused */,
                             err, sizeof(err));
        CHECK(c == NULL);
        c = load("[source]\nuser = ferry\ndatabase = event_finder\n"
                 "tables = clerk_sync_%, more\nhost = 10.1.1.1\n"
                 "[sink]\nuser = ferry\ndatabase = event_finder\n"
                 "mapping = /usr/share/ferry/schemas/event_finder.json\n"
                 "password_file = @PW@\n[kafka]\nrdkafka.acks = 2\n",
                 err, sizeof(err));
        CHECK(a && b && c);
        if (a && b && c) {
                CHECK(cfg_reload_diff(a, b, diff, sizeof(diff)) == 0);
                CHECK_STR(diff, "");
                CHECK(cfg_reload_diff(a, c, diff, sizeof(diff)) == 4);
                CHECK_STR(diff, "[source] host, [source] tables, "
                                "[sink] password_file, [kafka] rdkafka.*");
                CHECK(cfg_reload_diff(a, a, NULL, 0) == 0);
        }
        cfg_free(a);
        cfg_free(b);
        cfg_free(c);
}

/* The example that ships must parse (its password files aside). */
static void test_example(void)
{
        FILE *in = fopen(FERRY_SOURCE_ROOT "/deploy/ferryd.conf.example", "r");
        CHECK(in != NULL);
        if (!in)
                return;
        char text[16384];
        size_t n = fread(text, 1, sizeof(text) - 1, in);
        fclose(in);
        text[n] = '\0';
        /* point the password files at ours */
        char fixed[16384] = "";
        for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
                if (!strncmp(line, "password_file", 13))
                        strcat(fixed, "password_file = @PW@");
                else
                        strcat(fixed, line);
                strcat(fixed, "\n");
        }
        char err[1024];
        struct cfg *cfg = load(fixed, err, sizeof(err));
        CHECK(cfg != NULL);
        if (!cfg) {
                fprintf(stderr, "  %s\n", err);
                return;
        }
        CHECK_STR(cfg->source.db.database, "event_finder");
        CHECK(cfg->source.n_tables == 1);
        CHECK_STR(cfg->sink.mapping,
                  "/usr/share/ferry/schemas/event_finder.json");
        cfg_free(cfg);
}

/* [cutover] reverse: off by default, needs the direct transport and a
 * rename to stream back into. */
static void test_reverse(void)
{
        char err[1024];
        struct cfg *cfg = load(MINIMAL, err, sizeof(err));
        CHECK(cfg && !cfg->cutover.reverse && cfg->cutover.reverse_grace_ms == 0);
        cfg_free(cfg);
        cfg = load(MINIMAL "[cutover]\nreverse = true\nreverse_grace = 168h\n",
                   err, sizeof(err));
        CHECK(cfg && cfg->cutover.reverse &&
              cfg->cutover.reverse_grace_ms == 168LL * 3600 * 1000);
        cfg_free(cfg);
        expect_error_prefix(MINIMAL "[cutover]\nreverse = maybe\n",
                     "F:10: [cutover] reverse: 'maybe' is not");
        expect_error_prefix(MINIMAL "[cutover]\naction = none\nreverse = true\n",
                     "F:11: [cutover] reverse: needs action = rename");
        expect_error_prefix("[daemon]\ntransport = kafka\n[kafka]\nbrokers = k:9092\n"
                     MINIMAL "[cutover]\nreverse = on\n",
                     "F:14: [cutover] reverse: needs transport = direct");
}

int main(void)
{
        snprintf(pw_path, sizeof(pw_path), "/tmp/ferry-test-pw-XXXXXX");
        int fd = mkstemp(pw_path);
        CHECK(fd >= 0);
        if (fd < 0)
                UNIT_DONE();
        CHECK(write(fd, SECRET "\n", strlen(SECRET) + 1) ==
              (ssize_t)strlen(SECRET) + 1);
        close(fd);

        test_full();
        test_defaults();
        test_durations();
        test_bool();
        test_errors();
        test_password_file();
        test_reload();
        test_example();
        test_reverse();

        unlink(pw_path);
        UNIT_DONE();
}
