/* SPDX-License-Identifier: Apache-2.0
 * ferry-kafka-mock: hosts librdkafka's protocol-level mock cluster in a
 * process of its own on 127.0.0.1, so tests can run ferryd, kcat and
 * python confluent_kafka against real Kafka protocol over TCP, and break
 * brokers on command. Commands are lines on stdin or on a unix socket;
 * every command gets exactly one line back: "ok ..." or "error <reason>".
 */
#include "common/log.h"
#include "common/xalloc.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define EX_USAGE 64
#define PROG "ferry-kafka-mock"

#define DEFAULT_BROKERS 3
#define MAX_BROKERS 16
#define MAX_PARTITIONS 1000
#define MAX_LINE 1024
#define MAX_ARGS 8
#define MAX_CLIENTS 8
#define MAX_TOPICS 32

/* One source of command lines and the place its answers go: stdin/stdout,
 * or one accepted control-socket connection (in == out). */
struct conn {
        int in;
        int out;
        char buf[MAX_LINE];
        size_t len;
        bool overlong; /* dropping the rest of a too-long line */
};

struct mock_host {
        rd_kafka_t *rk; /* bookkeeping handle the cluster needs */
        rd_kafka_mock_cluster_t *mcluster;
        int broker_cnt;
        bool quit;
};

struct topic_spec {
        const char *name;
        int partitions;
        int replication;
};

static void usage(FILE *out)
{
        fprintf(out,
                "Usage: " PROG " [--brokers N] [--bootstrap-file PATH]\n"
                "                        [--control PATH [--no-stdin]]\n"
                "                        [--topic NAME:PARTITIONS]... "
                "[--debug] [--clean-exit]\n"
                "\n"
                "Runs librdkafka's mock Kafka cluster (test only: nothing "
                "is kept on disk)\n"
                "with brokers 1..N listening on 127.0.0.1 at random ports.\n"
                "\n"
                "  -b, --brokers N          number of brokers (default %d, "
                "max %d)\n"
                "  -f, --bootstrap-file PATH\n"
                "                           write \"127.0.0.1:PORT,...\" "
                "(broker 1 first) to\n"
                "                           PATH atomically once the "
                "cluster is up\n"
                "  -s, --control PATH       also take commands on a unix "
                "socket (mode 0600)\n"
                "      --no-stdin           ignore stdin (then only quit, "
                "SIGTERM or SIGINT\n"
                "                           stop the cluster)\n"
                "  -t, --topic NAME:PARTITIONS\n"
                "                           create a topic before the "
                "bootstrap file appears\n"
                "  -d, --debug              log librdkafka's mock debug "
                "messages to stderr\n"
                "      --clean-exit         destroy the cluster before "
                "exiting (slower; for\n"
                "                           leak checkers)\n"
                "  -h, --help               show this help and exit\n"
                "\n"
                "Commands, one per line; each answers one line, \"ok ...\" "
                "or \"error REASON\":\n"
                "  create TOPIC PARTITIONS [REPLICATION]\n"
                "  down BROKER_ID|all       close its connections and refuse "
                "new ones\n"
                "  up BROKER_ID|all         accept connections again, on the "
                "same port\n"
                "  leader TOPIC PARTITION BROKER_ID|-1\n"
                "                           move a partition's leadership "
                "(the mock never\n"
                "                           fails over by itself)\n"
                "  rtt BROKER_ID|all MS     delay every response by MS "
                "milliseconds\n"
                "  errors API COUNT ERROR [BROKER_ID]\n"
                "                           fail the next COUNT requests of "
                "API (produce,\n"
                "                           fetch, heartbeat, ... or its "
                "number) with ERROR\n"
                "                           (NOT_COORDINATOR, _TRANSPORT, ... "
                "or its code), on\n"
                "                           every broker or one\n"
                "  brokers                  list broker ids\n"
                "  bootstrap                print the bootstrap list\n"
                "  help                     list the commands\n"
                "  quit                     stop (so do EOF on stdin and "
                "SIGTERM)\n"
                "\n"
                "Topics are auto-created when a producer asks for their "
                "metadata, always\n"
                "with 4 partitions (librdkafka 2.0.2 has no setting for "
                "that): create them\n"
                "first when the count matters. Consumers do not "
                "auto-create. Every partition\n"
                "has min(3, N) replicas on brokers 1..3 whatever "
                "REPLICATION says, and a\n"
                "random one of them leads. Each partition keeps about the "
                "last 5 MiB (at\n"
                "most 100000 batches); older offsets are gone. No "
                "transactional isolation:\n"
                "read_committed consumers also see aborted messages.\n",
                DEFAULT_BROKERS, MAX_BROKERS);
}

/* @brief Parses a whole decimal string into [min, max]. @returns 0 or -1. */
static int parse_int(const char *s, long min, long max, long *out)
{
        char *end;
        long v;

        errno = 0;
        v = strtol(s, &end, 10);
        if (errno || end == s || *end || v < min || v > max)
                return -1;
        *out = v;
        return 0;
}

/* Kafka's own rule: 1..249 of [A-Za-z0-9._-]. */
static bool topic_name_valid(const char *name)
{
        size_t n = strlen(name);

        if (n == 0 || n > 249)
                return false;
        for (size_t i = 0; i < n; i++) {
                char c = name[i];
                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                      (c >= '0' && c <= '9') || c == '.' || c == '_' ||
                      c == '-'))
                        return false;
        }
        return true;
}

/* librdkafka logs from its own threads; log_msg writes whole lines, so
 * routing them through it keeps stderr readable. */
static void rk_log_cb(const rd_kafka_t *rk, int level, const char *fac,
                      const char *buf)
{
        enum log_level lvl;

        /* Expected: this handle never connects anywhere. */
        if (!strcmp(fac, "CONFWARN") && strstr(buf, "bootstrap.servers"))
                return;
        if (level <= 3)
                lvl = LOG_LVL_ERROR;
        else if (level == 4)
                lvl = LOG_LVL_WARNING;
        else if (level <= 6)
                lvl = LOG_LVL_INFO;
        else
                lvl = LOG_LVL_DEBUG;
        log_msg(lvl, "rdkafka %s: %s", fac, buf);
}

/* librdkafka 2.0.2 asserts (abort, no message of ours) instead of
 * returning NULL when a broker's listener cannot be created, so check
 * first that N loopback listeners, plus the descriptors the client
 * handle and the cluster thread use, fit in this process. */
#define FD_HEADROOM 16

static int loopback_preflight(int broker_cnt, char *errstr,
                              size_t errstr_size)
{
        int fds[MAX_BROKERS + FD_HEADROOM], n = 0, rc = 0;

        for (; n < broker_cnt; n++) {
                struct sockaddr_in sin = {
                        .sin_family = AF_INET,
                        .sin_addr = {.s_addr = htonl(INADDR_LOOPBACK)}};

                fds[n] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
                if (fds[n] < 0 ||
                    bind(fds[n], (struct sockaddr *)&sin, sizeof(sin)) ||
                    listen(fds[n], 1)) {
                        snprintf(errstr, errstr_size,
                                 "cannot listen on 127.0.0.1 for broker %d: "
                                 "%s",
                                 n + 1, strerror(errno));
                        if (fds[n] >= 0)
                                n++;
                        rc = FERRY_ERR_FATAL;
                        goto out;
                }
        }
        for (; n < broker_cnt + FD_HEADROOM; n++) {
                if ((fds[n] = dup(fds[0])) < 0) {
                        snprintf(errstr, errstr_size,
                                 "too few file descriptors for %d brokers "
                                 "(%s; raise ulimit -n)",
                                 broker_cnt, strerror(errno));
                        rc = FERRY_ERR_FATAL;
                        goto out;
                }
        }
out:
        while (n-- > 0)
                close(fds[n]);
        return rc;
}

static int mock_host_start(struct mock_host *mh, int broker_cnt, bool debug,
                           char *errstr, size_t errstr_size)
{
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        char rkerr[512];

        rd_kafka_conf_set_log_cb(conf, rk_log_cb);
        if (rd_kafka_conf_set(conf, "client.id", PROG, rkerr,
                              sizeof(rkerr)) != RD_KAFKA_CONF_OK ||
            (debug && rd_kafka_conf_set(conf, "debug", "mock", rkerr,
                                        sizeof(rkerr)) != RD_KAFKA_CONF_OK)) {
                snprintf(errstr, errstr_size, "librdkafka config: %s", rkerr);
                rd_kafka_conf_destroy(conf);
                return FERRY_ERR_FATAL;
        }
        /* The handle only hosts the cluster's thread and bookkeeping; it
         * never talks to a broker, so a producer with no bootstrap list is
         * enough. rd_kafka_new owns conf from here on. */
        if (loopback_preflight(broker_cnt, errstr, errstr_size)) {
                rd_kafka_conf_destroy(conf);
                return FERRY_ERR_FATAL;
        }
        mh->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, rkerr, sizeof(rkerr));
        if (!mh->rk) {
                snprintf(errstr, errstr_size, "rd_kafka_new: %s", rkerr);
                rd_kafka_conf_destroy(conf);
                return FERRY_ERR_FATAL;
        }
        mh->mcluster = rd_kafka_mock_cluster_new(mh->rk, broker_cnt);
        if (!mh->mcluster) {
                snprintf(errstr, errstr_size,
                         "cannot create a mock cluster of %d brokers on "
                         "127.0.0.1 (librdkafka's reason is logged above)",
                         broker_cnt);
                rd_kafka_destroy(mh->rk);
                mh->rk = NULL;
                return FERRY_ERR_FATAL;
        }
        mh->broker_cnt = broker_cnt;
        return 0;
}

static void mock_host_stop(struct mock_host *mh)
{
        if (mh->mcluster)
                rd_kafka_mock_cluster_destroy(mh->mcluster);
        if (mh->rk)
                rd_kafka_destroy(mh->rk);
        mh->mcluster = NULL;
        mh->rk = NULL;
}

/* --- commands ----------------------------------------------------------
 * A handler writes its answer (without "ok "/"error ") into reply and
 * returns 0 for ok, -1 for error. */
typedef int cmd_fn(struct mock_host *mh, int argc, char **argv, char *reply,
                   size_t reply_size);

static int create_topic(struct mock_host *mh, const char *name,
                        int partitions, int replication, char *reply,
                        size_t reply_size)
{
        rd_kafka_resp_err_t err;

        if (!topic_name_valid(name)) {
                snprintf(reply, reply_size,
                         "invalid topic name '%s' (1-249 of A-Z a-z 0-9 . _ "
                         "-)",
                         name);
                return -1;
        }
        err = rd_kafka_mock_topic_create(mh->mcluster, name, partitions,
                                         replication);
        if (err == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
                snprintf(reply, reply_size, "topic %s already exists", name);
                return -1;
        }
        if (err) {
                snprintf(reply, reply_size, "create %s: %s", name,
                         rd_kafka_err2str(err));
                return -1;
        }
        snprintf(reply, reply_size, "created %s partitions=%d", name,
                 partitions);
        return 0;
}

static int cmd_create(struct mock_host *mh, int argc, char **argv,
                      char *reply, size_t reply_size)
{
        long partitions, replication = mh->broker_cnt < 3 ? mh->broker_cnt : 3;

        if (parse_int(argv[2], 1, MAX_PARTITIONS, &partitions)) {
                snprintf(reply, reply_size,
                         "PARTITIONS must be 1..%d, not '%s'", MAX_PARTITIONS,
                         argv[2]);
                return -1;
        }
        if (argc > 3 && parse_int(argv[3], 1, mh->broker_cnt, &replication)) {
                snprintf(reply, reply_size,
                         "REPLICATION must be 1..%d (the broker count), not "
                         "'%s'",
                         mh->broker_cnt, argv[3]);
                return -1;
        }
        return create_topic(mh, argv[1], (int)partitions, (int)replication,
                            reply, reply_size);
}

/* "all" is librdkafka's -1: every broker at once. */
static int parse_broker(struct mock_host *mh, const char *s, bool allow_all,
                        int32_t *id, char *reply, size_t reply_size)
{
        long v;

        if (allow_all && !strcmp(s, "all")) {
                *id = -1;
                return 0;
        }
        if (parse_int(s, 1, mh->broker_cnt, &v)) {
                snprintf(reply, reply_size,
                         "no broker '%s': ids are 1..%d%s", s, mh->broker_cnt,
                         allow_all ? " or all" : "");
                return -1;
        }
        *id = (int32_t)v;
        return 0;
}

static int cmd_updown(struct mock_host *mh, int argc, char **argv,
                      char *reply, size_t reply_size)
{
        bool up = !strcmp(argv[0], "up");
        rd_kafka_resp_err_t err;
        int32_t id;

        if (parse_broker(mh, argv[1], true, &id, reply, reply_size))
                return -1;
        err = up ? rd_kafka_mock_broker_set_up(mh->mcluster, id)
                 : rd_kafka_mock_broker_set_down(mh->mcluster, id);
        if (err) {
                snprintf(reply, reply_size, "%s %s: %s", argv[0], argv[1],
                         rd_kafka_err2str(err));
                return -1;
        }
        log_info("broker %s is %s", argv[1], argv[0]);
        snprintf(reply, reply_size, "broker %s %s", argv[1], argv[0]);
        return 0;
}

static int cmd_leader(struct mock_host *mh, int argc, char **argv,
                      char *reply, size_t reply_size)
{
        rd_kafka_resp_err_t err;
        long partition;
        int32_t id = -1;

        if (!topic_name_valid(argv[1])) {
                snprintf(reply, reply_size, "invalid topic name '%s'",
                         argv[1]);
                return -1;
        }
        if (parse_int(argv[2], 0, MAX_PARTITIONS - 1, &partition)) {
                snprintf(reply, reply_size, "bad PARTITION '%s'", argv[2]);
                return -1;
        }
        if (strcmp(argv[3], "-1") &&
            parse_broker(mh, argv[3], false, &id, reply, reply_size))
                return -1;
        err = rd_kafka_mock_partition_set_leader(mh->mcluster, argv[1],
                                                 (int32_t)partition, id);
        if (err) {
                snprintf(reply, reply_size, "leader %s [%ld]: %s", argv[1],
                         partition, rd_kafka_err2str(err));
                return -1;
        }
        snprintf(reply, reply_size, "%s [%ld] leader %d", argv[1], partition,
                 (int)id);
        return 0;
}

static int cmd_rtt(struct mock_host *mh, int argc, char **argv, char *reply,
                   size_t reply_size)
{
        rd_kafka_resp_err_t err;
        int32_t id;
        long ms;

        if (parse_broker(mh, argv[1], true, &id, reply, reply_size))
                return -1;
        if (parse_int(argv[2], 0, 3600 * 1000, &ms)) {
                snprintf(reply, reply_size, "MS must be 0..3600000, not '%s'",
                         argv[2]);
                return -1;
        }
        err = rd_kafka_mock_broker_set_rtt(mh->mcluster, id, (int)ms);
        if (err) {
                snprintf(reply, reply_size, "rtt %s: %s", argv[1],
                         rd_kafka_err2str(err));
                return -1;
        }
        snprintf(reply, reply_size, "broker %s rtt %ldms", argv[1], ms);
        return 0;
}

/* The requests a test may want to fail, by their Kafka protocol ApiKey. */
static const struct {
        const char *name;
        int16_t key;
} api_keys[] = {
        {"produce", 0},          {"fetch", 1},           {"listoffsets", 2},
        {"metadata", 3},         {"offsetcommit", 8},    {"offsetfetch", 9},
        {"findcoordinator", 10}, {"joingroup", 11},      {"heartbeat", 12},
        {"leavegroup", 13},      {"syncgroup", 14},      {"initproducerid", 22},
};

static int parse_api(const char *s, int16_t *key)
{
        long v;
        for (size_t i = 0; i < sizeof(api_keys) / sizeof(api_keys[0]); i++)
                if (!strcasecmp(s, api_keys[i].name)) {
                        *key = api_keys[i].key;
                        return 0;
                }
        if (parse_int(s, 0, 1000, &v))
                return -1;
        *key = (int16_t)v;
        return 0;
}

/* An error by librdkafka's name without the RD_KAFKA_RESP_ERR_ prefix
 * (NOT_COORDINATOR, _TRANSPORT) or by its numeric code. */
static int parse_error(const char *s, rd_kafka_resp_err_t *err)
{
        const struct rd_kafka_err_desc *descs;
        size_t n;
        long v;
        rd_kafka_get_err_descs(&descs, &n);
        for (size_t i = 0; i < n; i++)
                if (descs[i].name && !strcasecmp(s, descs[i].name)) {
                        *err = descs[i].code;
                        return 0;
                }
        if (parse_int(s, -200, 1000, &v))
                return -1;
        *err = (rd_kafka_resp_err_t)v;
        return 0;
}

static int cmd_errors(struct mock_host *mh, int argc, char **argv,
                      char *reply, size_t reply_size)
{
        rd_kafka_resp_err_t err;
        int16_t key;
        int32_t id = -1;
        long cnt;

        if (parse_api(argv[1], &key)) {
                snprintf(reply, reply_size, "unknown API '%s'", argv[1]);
                return -1;
        }
        if (parse_int(argv[2], 1, 10000, &cnt)) {
                snprintf(reply, reply_size, "COUNT must be 1..10000, not '%s'",
                         argv[2]);
                return -1;
        }
        if (parse_error(argv[3], &err)) {
                snprintf(reply, reply_size, "unknown ERROR '%s'", argv[3]);
                return -1;
        }
        if (argc > 4 &&
            parse_broker(mh, argv[4], false, &id, reply, reply_size))
                return -1;
        if (id < 0) {
                rd_kafka_resp_err_t *errs = xcalloc((size_t)cnt, sizeof(*errs));
                for (long i = 0; i < cnt; i++)
                        errs[i] = err;
                rd_kafka_mock_push_request_errors_array(mh->mcluster, key,
                                                        (size_t)cnt, errs);
                free(errs);
        } else {
                for (long i = 0; i < cnt; i++) {
                        rd_kafka_resp_err_t e =
                                rd_kafka_mock_broker_push_request_error_rtts(
                                        mh->mcluster, id, key, 1, err, 0);
                        if (e) {
                                snprintf(reply, reply_size, "errors: %s",
                                         rd_kafka_err2str(e));
                                return -1;
                        }
                }
        }
        log_info("next %ld requests of API %d fail with %s on %s", cnt,
                 (int)key, rd_kafka_err2name(err),
                 id < 0 ? "every broker" : argv[4]);
        snprintf(reply, reply_size, "%ld %s requests fail with %s", cnt,
                 argv[1], rd_kafka_err2name(err));
        return 0;
}

static int cmd_brokers(struct mock_host *mh, int argc, char **argv,
                       char *reply, size_t reply_size)
{
        size_t off = 0;

        reply[0] = '\0';
        for (int i = 1; i <= mh->broker_cnt && off < reply_size; i++)
                off += (size_t)snprintf(reply + off, reply_size - off,
                                        "%s%d", i > 1 ? " " : "", i);
        return 0;
}

static int cmd_bootstrap(struct mock_host *mh, int argc, char **argv,
                         char *reply, size_t reply_size)
{
        snprintf(reply, reply_size, "%s",
                 rd_kafka_mock_cluster_bootstraps(mh->mcluster));
        return 0;
}

static int cmd_quit(struct mock_host *mh, int argc, char **argv, char *reply,
                    size_t reply_size)
{
        mh->quit = true;
        snprintf(reply, reply_size, "bye");
        return 0;
}

static int cmd_help(struct mock_host *mh, int argc, char **argv, char *reply,
                    size_t reply_size);

static const struct command {
        const char *name;
        int min_args; /* not counting the name */
        int max_args;
        const char *usage;
        cmd_fn *fn;
} commands[] = {
        {"create", 2, 3, "create TOPIC PARTITIONS [REPLICATION]", cmd_create},
        {"down", 1, 1, "down BROKER_ID|all", cmd_updown},
        {"up", 1, 1, "up BROKER_ID|all", cmd_updown},
        {"leader", 3, 3, "leader TOPIC PARTITION BROKER_ID|-1", cmd_leader},
        {"rtt", 2, 2, "rtt BROKER_ID|all MS", cmd_rtt},
        {"errors", 3, 4, "errors API COUNT ERROR [BROKER_ID]", cmd_errors},
        {"brokers", 0, 0, "brokers", cmd_brokers},
        {"bootstrap", 0, 0, "bootstrap", cmd_bootstrap},
        {"help", 0, 0, "help", cmd_help},
        {"quit", 0, 0, "quit", cmd_quit},
};

#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static int cmd_help(struct mock_host *mh, int argc, char **argv, char *reply,
                    size_t reply_size)
{
        size_t off = 0;

        reply[0] = '\0';
        for (size_t i = 0; i < N_COMMANDS && off < reply_size; i++)
                off += (size_t)snprintf(reply + off, reply_size - off,
                                        "%s%s", i ? "; " : "",
                                        commands[i].usage);
        return 0;
}

/* @brief Runs one command line and writes "ok ..." or "error ..." into
 * answer (without the newline). An empty line gets no answer. */
static bool run_line(struct mock_host *mh, char *line, char *answer,
                     size_t answer_size)
{
        char *argv[MAX_ARGS + 1], *save = NULL, *tok;
        char reply[MAX_LINE];
        int argc = 0, rc;

        for (tok = strtok_r(line, " \t\r", &save); tok;
             tok = strtok_r(NULL, " \t\r", &save)) {
                if (argc == MAX_ARGS) {
                        snprintf(answer, answer_size,
                                 "error too many arguments");
                        return true;
                }
                argv[argc++] = tok;
        }
        if (argc == 0)
                return false;
        argv[argc] = NULL;

        for (size_t i = 0; i < N_COMMANDS; i++) {
                const struct command *c = &commands[i];

                if (strcmp(c->name, argv[0]))
                        continue;
                if (argc - 1 < c->min_args || argc - 1 > c->max_args) {
                        snprintf(answer, answer_size, "error usage: %s",
                                 c->usage);
                        return true;
                }
                reply[0] = '\0';
                rc = c->fn(mh, argc, argv, reply, sizeof(reply));
                snprintf(answer, answer_size, "%s%s%s",
                         rc ? "error" : "ok", reply[0] ? " " : "", reply);
                return true;
        }
        snprintf(answer, answer_size,
                 "error unknown command '%.64s' (try help)", argv[0]);
        return true;
}

static int write_all(int fd, const char *p, size_t n)
{
        while (n > 0) {
                ssize_t w = write(fd, p, n);
                if (w < 0 && errno == EINTR)
                        continue;
                if (w <= 0)
                        return -1;
                p += w;
                n -= (size_t)w;
        }
        return 0;
}

/* @brief Reads what is available on c and answers every complete line.
 * @returns -1 at EOF or on a read error (the caller closes c), else 0. */
static int conn_serve(struct mock_host *mh, struct conn *c)
{
        char answer[MAX_LINE + 64];
        ssize_t r;

        r = read(c->in, c->buf + c->len, sizeof(c->buf) - c->len);
        if (r < 0 && (errno == EINTR || errno == EAGAIN))
                return 0;
        if (r <= 0)
                return -1;
        c->len += (size_t)r;

        for (;;) {
                char *nl = memchr(c->buf, '\n', c->len);
                size_t used;

                if (!nl) {
                        if (c->len == sizeof(c->buf)) {
                                /* Answer once, then skip to the newline. */
                                if (!c->overlong) {
                                        const char *e =
                                                "error line too long\n";
                                        (void)write_all(c->out, e,
                                                        strlen(e));
                                }
                                c->overlong = true;
                                c->len = 0;
                        }
                        return 0;
                }
                *nl = '\0';
                used = (size_t)(nl - c->buf) + 1;
                if (c->overlong) {
                        c->overlong = false;
                } else if (run_line(mh, c->buf, answer, sizeof(answer) - 1)) {
                        size_t n = strlen(answer);
                        answer[n++] = '\n';
                        if (write_all(c->out, answer, n))
                                return -1;
                }
                memmove(c->buf, c->buf + used, c->len - used);
                c->len -= used;
                if (mh->quit)
                        return 0;
        }
}

/* Written under a temporary name and renamed, so a reader polling for
 * the file never sees half a list. */
static int write_bootstrap_file(const char *path, const char *list,
                                char *errstr, size_t errstr_size)
{
        char tmp[PATH_MAX];
        int fd;

        if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path,
                             (int)getpid()) >= sizeof(tmp)) {
                snprintf(errstr, errstr_size, "%s: path too long", path);
                return FERRY_ERR_CONFIG;
        }
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0) {
                snprintf(errstr, errstr_size, "%.512s: %s", tmp,
                         strerror(errno));
                return FERRY_ERR_FATAL;
        }
        if (write_all(fd, list, strlen(list)) || write_all(fd, "\n", 1) ||
            close(fd)) {
                snprintf(errstr, errstr_size, "%.512s: %s", tmp,
                         strerror(errno));
                unlink(tmp);
                return FERRY_ERR_FATAL;
        }
        if (rename(tmp, path)) {
                snprintf(errstr, errstr_size, "rename to %.512s: %s", path,
                         strerror(errno));
                unlink(tmp);
                return FERRY_ERR_FATAL;
        }
        return 0;
}

/* A stale socket left by a killed mock is replaced; a live one is not. */
static int control_listen(const char *path, char *errstr, size_t errstr_size)
{
        struct sockaddr_un sun = {.sun_family = AF_UNIX};
        int fd;

        if (strlen(path) >= sizeof(sun.sun_path)) {
                snprintf(errstr, errstr_size,
                         "%s: control socket path longer than %zu bytes",
                         path, sizeof(sun.sun_path) - 1);
                return -1;
        }
        strcpy(sun.sun_path, path);

        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
                snprintf(errstr, errstr_size, "socket: %s", strerror(errno));
                return -1;
        }
        if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0) {
                snprintf(errstr, errstr_size,
                         "%s: another process is listening there", path);
                close(fd);
                return -1;
        }
        close(fd);
        struct stat st;
        if (lstat(path, &st) == 0) {
                if (!S_ISSOCK(st.st_mode)) {
                        snprintf(errstr, errstr_size,
                                 "%s: exists and is not a socket", path);
                        return -1;
                }
                unlink(path);
        }

        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0) {
                snprintf(errstr, errstr_size, "socket: %s", strerror(errno));
                return -1;
        }
        mode_t old = umask(0077);
        int rc = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
        umask(old);
        if (rc || listen(fd, 4)) {
                snprintf(errstr, errstr_size, "%s: %s", path,
                         strerror(errno));
                close(fd);
                return -1;
        }
        return fd;
}

static int parse_topic_spec(const char *arg, struct topic_spec *t)
{
        const char *colon = strrchr(arg, ':');
        long partitions;

        if (!colon || parse_int(colon + 1, 1, MAX_PARTITIONS, &partitions))
                return -1;
        t->name = xstrndup(arg, (size_t)(colon - arg));
        t->partitions = (int)partitions;
        return 0;
}

/* The loop: the signalfd, stdin, the control socket and its clients, in
 * one poll(2). Commands run one at a time, so they never race. */
static int serve(struct mock_host *mh, int sig_fd, bool use_stdin,
                 int listen_fd)
{
        struct conn stdin_conn = {.in = STDIN_FILENO, .out = STDOUT_FILENO};
        struct conn *clients[MAX_CLIENTS] = {NULL};
        struct pollfd pfd[3 + MAX_CLIENTS];
        int rc = 0;

        while (!mh->quit) {
                int n = 0, slot[MAX_CLIENTS];

                pfd[n++] = (struct pollfd){.fd = sig_fd, .events = POLLIN};
                pfd[n++] = (struct pollfd){
                        .fd = use_stdin ? STDIN_FILENO : -1, .events = POLLIN};
                pfd[n++] = (struct pollfd){.fd = listen_fd, .events = POLLIN};
                for (int i = 0; i < MAX_CLIENTS; i++) {
                        slot[i] = -1;
                        if (clients[i]) {
                                slot[i] = n;
                                pfd[n++] = (struct pollfd){
                                        .fd = clients[i]->in,
                                        .events = POLLIN};
                        }
                }
                if (poll(pfd, (nfds_t)n, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        log_error("poll: %s", strerror(errno));
                        rc = 1;
                        break;
                }
                if (pfd[0].revents) {
                        struct signalfd_siginfo si;
                        if (read(sig_fd, &si, sizeof(si)) == sizeof(si))
                                log_info("signal %d: stopping",
                                         (int)si.ssi_signo);
                        break;
                }
                if (pfd[1].revents && conn_serve(mh, &stdin_conn)) {
                        log_info("stdin closed (or stdout gone): stopping");
                        break;
                }
                if (pfd[2].revents & POLLIN) {
                        int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
                        int i = 0;

                        while (fd >= 0 && i < MAX_CLIENTS && clients[i])
                                i++;
                        if (fd >= 0 && i == MAX_CLIENTS) {
                                const char *e = "error too many control "
                                                "connections\n";
                                (void)write_all(fd, e, strlen(e));
                                close(fd);
                        } else if (fd >= 0) {
                                clients[i] = xcalloc(1, sizeof(*clients[i]));
                                clients[i]->in = clients[i]->out = fd;
                        }
                }
                for (int i = 0; i < MAX_CLIENTS && !mh->quit; i++) {
                        if (slot[i] < 0 || !pfd[slot[i]].revents)
                                continue;
                        if (conn_serve(mh, clients[i])) {
                                close(clients[i]->in);
                                free(clients[i]);
                                clients[i] = NULL;
                        }
                }
        }
        for (int i = 0; i < MAX_CLIENTS; i++) {
                if (clients[i]) {
                        close(clients[i]->in);
                        free(clients[i]);
                }
        }
        return rc;
}

int main(int argc, char **argv)
{
        static const struct option opts[] = {
                {"brokers", required_argument, NULL, 'b'},
                {"bootstrap-file", required_argument, NULL, 'f'},
                {"control", required_argument, NULL, 's'},
                {"no-stdin", no_argument, NULL, 'N'},
                {"topic", required_argument, NULL, 't'},
                {"debug", no_argument, NULL, 'd'},
                {"clean-exit", no_argument, NULL, 'E'},
                {"help", no_argument, NULL, 'h'},
                {NULL, 0, NULL, 0},
        };
        const char *bootstrap_file = NULL, *control_path = NULL;
        struct topic_spec topics[MAX_TOPICS];
        int n_topics = 0, listen_fd = -1, sig_fd, rc = 1, c;
        bool use_stdin = true, debug = false, wrote_bootstrap = false;
        bool clean_exit = false;
        long broker_cnt = DEFAULT_BROKERS;
        struct mock_host mh = {0};
        char err[1024];
        sigset_t sigs;

        while ((c = getopt_long(argc, argv, "b:f:s:t:dh", opts, NULL)) != -1) {
                switch (c) {
                case 'b':
                        if (parse_int(optarg, 1, MAX_BROKERS, &broker_cnt)) {
                                fprintf(stderr,
                                        PROG ": --brokers must be 1..%d, "
                                             "not '%s'\n",
                                        MAX_BROKERS, optarg);
                                return EX_USAGE;
                        }
                        break;
                case 'f':
                        bootstrap_file = optarg;
                        break;
                case 's':
                        control_path = optarg;
                        break;
                case 'N':
                        use_stdin = false;
                        break;
                case 't':
                        if (n_topics == MAX_TOPICS ||
                            parse_topic_spec(optarg, &topics[n_topics])) {
                                fprintf(stderr,
                                        PROG ": --topic wants NAME:PARTITIONS "
                                             "(at most %d topics), not "
                                             "'%s'\n",
                                        MAX_TOPICS, optarg);
                                return EX_USAGE;
                        }
                        n_topics++;
                        break;
                case 'd':
                        debug = true;
                        break;
                case 'E':
                        clean_exit = true;
                        break;
                case 'h':
                        usage(stdout);
                        return 0;
                default:
                        usage(stderr);
                        return EX_USAGE;
                }
        }
        if (optind < argc) {
                fprintf(stderr, PROG ": unexpected argument '%s'\n",
                        argv[optind]);
                usage(stderr);
                return EX_USAGE;
        }
        if (!use_stdin && !control_path) {
                fprintf(stderr, PROG ": --no-stdin needs --control PATH, or "
                                "nothing could ever send a command\n");
                return EX_USAGE;
        }
        if (debug)
                log_set_level(LOG_LVL_DEBUG);

        /* Block the stop signals before librdkafka starts its threads, so
         * they inherit the mask and the signals arrive on our signalfd. */
        sigemptyset(&sigs);
        sigaddset(&sigs, SIGTERM);
        sigaddset(&sigs, SIGINT);
        sigaddset(&sigs, SIGHUP);
        if (pthread_sigmask(SIG_BLOCK, &sigs, NULL) ||
            (sig_fd = signalfd(-1, &sigs, SFD_CLOEXEC)) < 0) {
                fprintf(stderr, PROG ": signalfd: %s\n", strerror(errno));
                return 1;
        }
        signal(SIGPIPE, SIG_IGN);

        if (control_path &&
            (listen_fd = control_listen(control_path, err, sizeof(err))) < 0) {
                fprintf(stderr, PROG ": %s\n", err);
                return 1;
        }
        if (mock_host_start(&mh, (int)broker_cnt, debug, err, sizeof(err))) {
                fprintf(stderr, PROG ": %s\n", err);
                goto out;
        }
        for (int i = 0; i < n_topics; i++) {
                if (create_topic(&mh, topics[i].name, topics[i].partitions,
                                 mh.broker_cnt < 3 ? mh.broker_cnt : 3, err,
                                 sizeof(err))) {
                        fprintf(stderr, PROG ": --topic: %s\n", err);
                        goto out;
                }
        }

        const char *list = rd_kafka_mock_cluster_bootstraps(mh.mcluster);
        if (bootstrap_file &&
            write_bootstrap_file(bootstrap_file, list, err, sizeof(err))) {
                fprintf(stderr, PROG ": --bootstrap-file: %s\n", err);
                goto out;
        }
        wrote_bootstrap = bootstrap_file != NULL;
        log_info("mock cluster up: brokers=%d bootstrap=%s%s%s", mh.broker_cnt,
                 list, control_path ? " control=" : "",
                 control_path ? control_path : "");

        rc = serve(&mh, sig_fd, use_stdin, listen_fd);

out:
        /* The file names a cluster that is about to vanish. */
        if (wrote_bootstrap)
                unlink(bootstrap_file);
        if (listen_fd >= 0) {
                close(listen_fd);
                unlink(control_path);
        }
        /* The cluster holds nothing worth tearing down, and librdkafka
         * 2.0.2's teardown often sits a second in an internal thread join,
         * which every test that stops a cluster would pay. Exiting closes
         * every listener and connection at once; --clean-exit destroys
         * the cluster properly, for leak checkers. */
        if (mh.mcluster && !clean_exit)
                _exit(rc);
        mock_host_stop(&mh);
        for (int i = 0; i < n_topics; i++)
                free((char *)topics[i].name);
        close(sig_fd);
        return rc;
}
