/* SPDX-License-Identifier: Apache-2.0
 * ferryd's INI configuration; see config.h. One table describes every
 * key (section, name, type, default, whether SIGHUP may change it, and
 * where it lands in struct cfg); libinih feeds it line by line.
 */
#include "daemon/config.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "transforms/gtid.h"

#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum key_type {
        KT_STRING,
        KT_INT,
        KT_DURATION,
        KT_ENUM,
        KT_LIST,
        KT_START,
        KT_PASSWORD_FILE,
        KT_LOG_LEVEL,
};

struct enum_name {
        const char *name;
        int value;
};

static const struct enum_name roles[] = {
        {"all", CFG_ROLE_ALL}, {"source", CFG_ROLE_SOURCE},
        {"sink", CFG_ROLE_SINK}, {NULL, 0}};
static const struct enum_name transports[] = {
        {"direct", CFG_TRANSPORT_DIRECT}, {"kafka", CFG_TRANSPORT_KAFKA},
        {NULL, 0}};
static const struct enum_name on_errors[] = {
        {"stop", CFG_ON_ERROR_STOP}, {"dead_letter", CFG_ON_ERROR_DEAD_LETTER},
        {NULL, 0}};

struct key_def {
        const char *section;
        const char *key;
        enum key_type type;
        const char *def; /* NULL: no default (required or optional) */
        bool required;
        bool reloadable;
        size_t offset;            /* into struct cfg */
        const struct enum_name *names;
        long long min, max;       /* KT_INT */
};

#define OFF(field) offsetof(struct cfg, field)

static const struct key_def keys[] = {
        {"daemon", "role", KT_ENUM, "all", false, false, OFF(daemon.role),
         roles, 0, 0},
        {"daemon", "transport", KT_ENUM, "direct", false, false,
         OFF(daemon.transport), transports, 0, 0},
        {"daemon", "state_dir", KT_STRING, "/var/lib/ferry", false, false,
         OFF(daemon.state_dir), NULL, 0, 0},
        {"daemon", "metrics_listen", KT_STRING, "127.0.0.1:9187", false,
         false, OFF(daemon.metrics_listen), NULL, 0, 0},
        {"daemon", "control_socket", KT_STRING, "/run/ferry/ferryd.sock",
         false, false, OFF(daemon.control_socket), NULL, 0, 0},
        {"daemon", "log_level", KT_LOG_LEVEL, "info", false, true,
         OFF(daemon.log_level), NULL, 0, 0},

        {"source", "host", KT_STRING, "127.0.0.1", false, false,
         OFF(source.db.host), NULL, 0, 0},
        {"source", "port", KT_INT, "3306", false, false, OFF(source.db.port),
         NULL, 1, 65535},
        {"source", "socket", KT_STRING, NULL, false, false,
         OFF(source.db.socket), NULL, 0, 0},
        {"source", "user", KT_STRING, NULL, true, false, OFF(source.db.user),
         NULL, 0, 0},
        {"source", "password_file", KT_PASSWORD_FILE, NULL, false, false,
         OFF(source.db.password_file), NULL, 0, 0},
        {"source", "database", KT_STRING, NULL, true, false,
         OFF(source.db.database), NULL, 0, 0},
        {"source", "tables", KT_LIST, NULL, true, false, OFF(source.tables),
         NULL, 0, 0},
        {"source", "server_id", KT_INT, "4001", false, false,
         OFF(source.server_id), NULL, 1, 4294967295LL},
        {"source", "start", KT_START, "snapshot", false, false,
         OFF(source.start), NULL, 0, 0},
        {"source", "heartbeat", KT_DURATION, "1s", false, false,
         OFF(source.heartbeat_ms), NULL, 0, 0},
        {"source", "read_timeout", KT_DURATION, "5s", false, false,
         OFF(source.read_timeout_ms), NULL, 0, 0},

        {"kafka", "brokers", KT_STRING, NULL, false, false,
         OFF(kafka.brokers), NULL, 0, 0},
        {"kafka", "topic_prefix", KT_STRING, "ferry", false, false,
         OFF(kafka.topic_prefix), NULL, 0, 0},

        {"sink", "host", KT_STRING, "127.0.0.1", false, false,
         OFF(sink.db.host), NULL, 0, 0},
        {"sink", "port", KT_INT, "3306", false, false, OFF(sink.db.port),
         NULL, 1, 65535},
        {"sink", "socket", KT_STRING, NULL, false, false, OFF(sink.db.socket),
         NULL, 0, 0},
        {"sink", "user", KT_STRING, NULL, false, false, OFF(sink.db.user),
         NULL, 0, 0},
        {"sink", "password_file", KT_PASSWORD_FILE, NULL, false, false,
         OFF(sink.db.password_file), NULL, 0, 0},
        {"sink", "database", KT_STRING, NULL, false, false,
         OFF(sink.db.database), NULL, 0, 0},
        {"sink", "mapping", KT_STRING, NULL, false, false, OFF(sink.mapping),
         NULL, 0, 0},
        {"sink", "workers", KT_INT, "4", false, false, OFF(sink.workers),
         NULL, 1, 256},
        {"sink", "group", KT_STRING, "ferry-sink", false, false,
         OFF(sink.group), NULL, 0, 0},
        {"sink", "on_error", KT_ENUM, "stop", false, false,
         OFF(sink.on_error), on_errors, 0, 0},

        {"cutover", "max_lag", KT_DURATION, "1s", false, true,
         OFF(cutover.max_lag_ms), NULL, 0, 0},
        {"cutover", "lock_timeout", KT_DURATION, "2s", false, true,
         OFF(cutover.lock_timeout_ms), NULL, 0, 0},
        {"cutover", "drain_timeout", KT_DURATION, "10s", false, true,
         OFF(cutover.drain_timeout_ms), NULL, 0, 0},
        {"cutover", "action", KT_STRING, "rename", false, false,
         OFF(cutover.action), NULL, 0, 0},
        {"cutover", "retired_schema", KT_STRING, "ferry_retired", false,
         false, OFF(cutover.retired_schema), NULL, 0, 0},
};

#define NKEYS (sizeof(keys) / sizeof(keys[0]))

struct parse_state {
        struct cfg *cfg;
        FILE *file;
        int line; /* Debian's libinih does not pass line numbers: the
                     reader counts them (it is called once per line) */
        const char *path;
        int seen_line[NKEYS]; /* 0: not seen */
        char *err;
        size_t errsz;
        bool failed;
};

int cfg_parse_duration(const char *text, int64_t *ms)
{
        char *end;
        if (*text < '0' || *text > '9')
                return FERRY_ERR_CONFIG;
        errno = 0;
        unsigned long long v = strtoull(text, &end, 10);
        if (errno || end == text)
                return FERRY_ERR_CONFIG;
        unsigned long long mult;
        if (!strcmp(end, "ms"))
                mult = 1;
        else if (!strcmp(end, "s"))
                mult = 1000;
        else if (!strcmp(end, "m"))
                mult = 60000;
        else if (!strcmp(end, "h"))
                mult = 3600000;
        else
                return FERRY_ERR_CONFIG;
        if (v > (unsigned long long)INT64_MAX / mult)
                return FERRY_ERR_CONFIG;
        *ms = (int64_t)(v * mult);
        return 0;
}

static char *trim(char *s)
{
        while (*s == ' ' || *s == '\t')
                s++;
        size_t n = strlen(s);
        while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
                s[--n] = '\0';
        return s;
}

static void fail(struct parse_state *ps, int line, const char *section,
                 const char *key, const char *fmt, ...) FERRY_PRINTF(5, 6);

static void fail(struct parse_state *ps, int line, const char *section,
                 const char *key, const char *fmt, ...)
{
        if (ps->failed)
                return; /* the first error is the one to fix first */
        char what[512];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(what, sizeof(what), fmt, ap);
        va_end(ap);
        snprintf(ps->err, ps->errsz, "%s:%d: [%s] %s: %s", ps->path, line,
                 section, key, what);
        ps->failed = true;
}

static int read_password(const char *path, char **out, char *why,
                         size_t whysz)
{
        FILE *f = fopen(path, "r");
        if (!f) {
                snprintf(why, whysz, "cannot read '%s': %s", path,
                         strerror(errno));
                return -1;
        }
        char buf[1024];
        size_t n = fread(buf, 1, sizeof(buf) - 1, f);
        int bad = ferror(f);
        fclose(f);
        if (bad) {
                snprintf(why, whysz, "cannot read '%s'", path);
                return -1;
        }
        buf[n] = '\0';
        if (n && buf[n - 1] == '\n')
                buf[--n] = '\0';
        if (n && buf[n - 1] == '\r')
                buf[--n] = '\0';
        *out = xstrdup(buf);
        memset(buf, 0, sizeof(buf));
        return 0;
}

static int set_value(struct parse_state *ps, const struct key_def *k,
                     const char *value, int line)
{
        struct cfg *cfg = ps->cfg;
        char *base = (char *)cfg;
        char why[512];

        switch (k->type) {
        case KT_STRING: {
                char **dst = (char **)(base + k->offset);
                free(*dst);
                *dst = xstrdup(value);
                return 0;
        }
        case KT_INT: {
                char *end;
                errno = 0;
                long long v = strtoll(value, &end, 10);
                if (errno || end == value || *end || v < k->min ||
                    v > k->max) {
                        snprintf(why, sizeof(why),
                                 "'%s' is not a whole number in %lld..%lld",
                                 value, k->min, k->max);
                        fail(ps, line, k->section, k->key, "%s", why);
                        return -1;
                }
                if (k->max > INT_MAX)
                        *(uint32_t *)(base + k->offset) = (uint32_t)v;
                else
                        *(int *)(base + k->offset) = (int)v;
                return 0;
        }
        case KT_DURATION:
                if (cfg_parse_duration(value,
                                       (int64_t *)(base + k->offset))) {
                        fail(ps, line, k->section, k->key,
                             "'%s' is not a duration like 250ms, 5s, 2m, "
                             "1h",
                             value);
                        return -1;
                }
                return 0;
        case KT_LOG_LEVEL: {
                enum log_level lvl;
                if (log_level_parse(value, &lvl) || lvl == LOG_LVL_FATAL) {
                        fail(ps, line, k->section, k->key,
                             "'%s' is not one of debug, info, warning, "
                             "error",
                             value);
                        return -1;
                }
                *(int *)(base + k->offset) = (int)lvl;
                return 0;
        }
        case KT_ENUM:
                for (const struct enum_name *e = k->names; e->name; e++) {
                        if (!strcmp(e->name, value)) {
                                *(int *)(base + k->offset) = e->value;
                                return 0;
                        }
                }
                {
                        char list[256] = "";
                        for (const struct enum_name *e = k->names; e->name;
                             e++) {
                                if (list[0])
                                        strcat(list, ", ");
                                strcat(list, e->name);
                        }
                        snprintf(why, sizeof(why), "'%s' is not one of %s",
                                 value, list);
                        fail(ps, line, k->section, k->key, "%s", why);
                }
                return -1;
        case KT_LIST: {
                char *copy = xstrdup(value), *save = NULL;
                for (size_t i = 0; i < cfg->source.n_tables; i++)
                        free(cfg->source.tables[i]);
                free(cfg->source.tables);
                cfg->source.tables = NULL;
                cfg->source.n_tables = 0;
                for (char *tok = strtok_r(copy, ",", &save); tok;
                     tok = strtok_r(NULL, ",", &save)) {
                        char *t = trim(tok);
                        if (!*t)
                                continue;
                        cfg->source.tables = xrealloc(
                                cfg->source.tables,
                                (cfg->source.n_tables + 1) * sizeof(char *));
                        cfg->source.tables[cfg->source.n_tables++] =
                                xstrdup(t);
                }
                free(copy);
                if (!cfg->source.n_tables) {
                        fail(ps, line, k->section, k->key, "%s",
                             "empty list: name at least one table or LIKE "
                             "pattern");
                        return -1;
                }
                return 0;
        }
        case KT_START:
                free(cfg->source.start_gtid);
                cfg->source.start_gtid = NULL;
                if (!strcmp(value, "snapshot")) {
                        cfg->source.start = CFG_START_SNAPSHOT;
                } else if (!strcmp(value, "now")) {
                        cfg->source.start = CFG_START_NOW;
                } else if (!strncmp(value, "gtid:", 5)) {
                        struct gtid_pos pos;
                        gtid_pos_init(&pos);
                        int bad = gtid_pos_parse(&pos, value + 5, why,
                                                 sizeof(why));
                        if (!bad && pos.n == 0) {
                                snprintf(why, sizeof(why),
                                         "gtid: needs a position");
                                bad = 1;
                        }
                        gtid_pos_free(&pos);
                        if (bad) {
                                fail(ps, line, k->section, k->key, "%s", why);
                                return -1;
                        }
                        cfg->source.start = CFG_START_GTID;
                        cfg->source.start_gtid = xstrdup(value + 5);
                } else {
                        fail(ps, line, k->section, k->key,
                             "'%s' is not snapshot, now or gtid:D-S-N", value);
                        return -1;
                }
                return 0;
        case KT_PASSWORD_FILE: {
                char **path = (char **)(base + k->offset);
                /* password sits right before password_file in cfg_db */
                char **pw = path - 1;
                free(*path);
                *path = xstrdup(value);
                free(*pw);
                *pw = NULL;
                if (read_password(value, pw, why, sizeof(why))) {
                        fail(ps, line, k->section, k->key, "%s", why);
                        return -1;
                }
                return 0;
        }
        }
        return -1;
}

static char *read_line(char *str, int num, void *stream)
{
        struct parse_state *ps = stream;
        char *r = fgets(str, num, ps->file);
        if (r)
                ps->line++;
        return r;
}

static int on_entry(void *user, const char *section, const char *name,
                    const char *value)
{
        struct parse_state *ps = user;
        struct cfg *cfg = ps->cfg;
        int line = ps->line;

        if (ps->failed)
                return 0;
        if (!strcmp(section, "kafka") && !strncmp(name, "rdkafka.", 8)) {
                if (!name[8]) {
                        fail(ps, line, section, name, "%s",
                             "rdkafka. needs a property name");
                        return 0;
                }
                size_t n = cfg->kafka.n_rdkafka;
                cfg->kafka.rdkafka_keys = xrealloc(cfg->kafka.rdkafka_keys,
                                                   (n + 1) * sizeof(char *));
                cfg->kafka.rdkafka_values = xrealloc(
                        cfg->kafka.rdkafka_values, (n + 1) * sizeof(char *));
                cfg->kafka.rdkafka_keys[n] = xstrdup(name + 8);
                cfg->kafka.rdkafka_values[n] = xstrdup(value);
                cfg->kafka.n_rdkafka++;
                return 1;
        }
        bool section_known = false;
        for (size_t i = 0; i < NKEYS; i++) {
                if (strcmp(keys[i].section, section))
                        continue;
                section_known = true;
                if (strcmp(keys[i].key, name))
                        continue;
                if (ps->seen_line[i]) {
                        char prev[64];
                        snprintf(prev, sizeof(prev),
                                 "set twice (first on line %d)",
                                 ps->seen_line[i]);
                        fail(ps, line, section, name, "%s", prev);
                        return 0;
                }
                ps->seen_line[i] = line;
                set_value(ps, &keys[i], value, line);
                return 1;
        }
        if (section_known)
                fail(ps, line, section, name, "unknown key");
        else
                fail(ps, line, section, name,
                     "unknown section or key (sections: daemon, source, "
                     "kafka, sink, cutover)");
        return 0;
}

static void apply_defaults(struct parse_state *ps)
{
        for (size_t i = 0; i < NKEYS; i++)
                if (keys[i].def)
                        set_value(ps, &keys[i], keys[i].def, 0);
}

static void require(struct parse_state *ps, const char *section,
                    const char *key, const char *why)
{
        for (size_t i = 0; i < NKEYS; i++)
                if (!strcmp(keys[i].section, section) &&
                    !strcmp(keys[i].key, key) && !ps->seen_line[i])
                        fail(ps, 0, section, key, "missing required key%s",
                             why);
}

static void cross_check(struct parse_state *ps)
{
        struct cfg *cfg = ps->cfg;
        for (size_t i = 0; i < NKEYS; i++)
                if (keys[i].required)
                        require(ps, keys[i].section, keys[i].key, "");
        bool sink = cfg->daemon.role != CFG_ROLE_SOURCE;
        if (sink) {
                require(ps, "sink", "user", " (role includes the sink)");
                require(ps, "sink", "database", " (role includes the sink)");
                require(ps, "sink", "mapping", " (role includes the sink)");
        }
        if (cfg->daemon.transport == CFG_TRANSPORT_KAFKA)
                require(ps, "kafka", "brokers", " (transport = kafka)");
        if (cfg->daemon.transport == CFG_TRANSPORT_DIRECT &&
            cfg->daemon.role != CFG_ROLE_ALL)
                fail(ps, 0, "daemon", "transport", "%s",
                     "direct carries events inside one process, so it "
                     "needs role = all (use transport = kafka to split "
                     "source and sink)");
        if (cfg->source.read_timeout_ms <= cfg->source.heartbeat_ms)
                fail(ps, 0, "source", "read_timeout", "%s",
                     "must be longer than heartbeat, or an idle but "
                     "healthy connection would time out");
        if (cfg->source.heartbeat_ms < 100)
                fail(ps, 0, "source", "heartbeat", "%s",
                     "must be at least 100ms");
}

int cfg_load(const char *path, struct cfg **cfgp, char *errstr,
             size_t errstr_size)
{
        struct cfg *cfg = xcalloc(1, sizeof(*cfg));
        struct parse_state ps = {.cfg = cfg, .path = path, .err = errstr,
                                 .errsz = errstr_size};
        *cfgp = NULL;
        cfg->path = xstrdup(path);
        apply_defaults(&ps);

        FILE *f = fopen(path, "r");
        if (!f) {
                snprintf(errstr, errstr_size, "%s: cannot read: %s", path,
                         strerror(errno));
                cfg_free(cfg);
                return FERRY_ERR_CONFIG;
        }
        ps.file = f;
        int r = ini_parse_stream(read_line, &ps, on_entry, &ps);
        fclose(f);
        if (r > 0 && !ps.failed) {
                snprintf(errstr, errstr_size, "%s:%d: syntax error", path, r);
                ps.failed = true;
        }
        if (!ps.failed)
                cross_check(&ps);
        if (ps.failed) {
                cfg_free(cfg);
                return FERRY_ERR_CONFIG;
        }
        if (!cfg->source.db.password)
                cfg->source.db.password = xstrdup("");
        if (!cfg->sink.db.password)
                cfg->sink.db.password = xstrdup("");
        *cfgp = cfg;
        return 0;
}

static void free_db(struct cfg_db *db)
{
        free(db->host);
        free(db->socket);
        free(db->user);
        if (db->password)
                memset(db->password, 0, strlen(db->password));
        free(db->password);
        free(db->password_file);
        free(db->database);
}

void cfg_free(struct cfg *cfg)
{
        if (!cfg)
                return;
        free(cfg->path);
        free(cfg->daemon.state_dir);
        free(cfg->daemon.metrics_listen);
        free(cfg->daemon.control_socket);
        free_db(&cfg->source.db);
        for (size_t i = 0; i < cfg->source.n_tables; i++)
                free(cfg->source.tables[i]);
        free(cfg->source.tables);
        free(cfg->source.start_gtid);
        free(cfg->kafka.brokers);
        free(cfg->kafka.topic_prefix);
        for (size_t i = 0; i < cfg->kafka.n_rdkafka; i++) {
                free(cfg->kafka.rdkafka_keys[i]);
                free(cfg->kafka.rdkafka_values[i]);
        }
        free(cfg->kafka.rdkafka_keys);
        free(cfg->kafka.rdkafka_values);
        free_db(&cfg->sink.db);
        free(cfg->sink.mapping);
        free(cfg->sink.group);
        free(cfg->cutover.action);
        free(cfg->cutover.retired_schema);
        free(cfg);
}

bool cfg_key_reloadable(const char *section, const char *key)
{
        for (size_t i = 0; i < NKEYS; i++)
                if (!strcmp(keys[i].section, section) &&
                    !strcmp(keys[i].key, key))
                        return keys[i].reloadable;
        return false;
}
