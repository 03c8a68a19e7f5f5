/* SPDX-License-Identifier: Apache-2.0
 * The metrics registry and the only Prometheus text renderer; see
 * metrics.h. Values live in atomics inside each handle so that the hot
 * paths (binlog reader, sink workers) never take a lock; the registry lock
 * only guards the family/series lists, callback bindings and scrapes.
 */
#include "daemon/metrics.h"

#include "common/log.h"
#include "common/xalloc.h"

#include <dirent.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

enum metric_type { MT_COUNTER, MT_GAUGE, MT_HISTOGRAM, MT_ENUM };

static const char *const type_names[] = {
        [MT_COUNTER] = "counter",
        [MT_GAUGE] = "gauge",
        [MT_HISTOGRAM] = "histogram",
        [MT_ENUM] = "gauge",
};

struct metric_family;

/* What every handle starts with; the typed handles below embed it first. */
struct metric_series {
        struct metric_family *fam;
        char *label_values[METRICS_MAX_LABELS];
        char *label_text; /* a="x",b="y" escaped and ready to print */
};

struct metric_counter {
        struct metric_series s;
        _Atomic uint64_t n;
        metric_value_fn fn; /* guarded by the registry lock */
        void *opaque;
};

struct metric_gauge {
        struct metric_series s;
        _Atomic uint64_t bits; /* a double, stored by its bit pattern */
        metric_value_fn fn;    /* guarded by the registry lock */
        void *opaque;
};

struct metric_histogram {
        struct metric_series s;
        _Atomic uint64_t sum_bits;
        /* One non-cumulative count per bound plus +Inf. _count is their
         * sum, so the +Inf bucket always equals _count in a scrape. */
        _Atomic uint64_t buckets[];
};

struct metric_enum {
        struct metric_series s;
        _Atomic size_t cur;
};

struct metric_family {
        struct metrics *reg;
        char *name;
        char *help;
        enum metric_type type;
        size_t n_labels;
        char *label_names[METRICS_MAX_LABELS];
        double *bounds; /* histogram */
        size_t n_bounds;
        char *enum_label; /* enum */
        char **states;
        size_t n_states;
        struct metric_series **series;
        size_t n_series;
        size_t cap_series;
};

struct metrics {
        pthread_mutex_t lock;
        struct metric_family **fams;
        size_t n_fams;
        size_t cap_fams;
        struct timespec start_mono; /* for ferry_uptime_seconds */
};

const double metrics_duration_buckets[] = {
        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
        0.25,   0.5,   1,      2.5,   5,    10,    30,
};
const size_t metrics_duration_buckets_n =
        sizeof(metrics_duration_buckets) / sizeof(metrics_duration_buckets[0]);

static _Noreturn FERRY_PRINTF(1, 2) void misuse(const char *fmt, ...)
{
        char msg[512];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        log_msg(LOG_LVL_FATAL, "metrics: %s", msg);
        abort();
}

static uint64_t dbl_bits(double v)
{
        uint64_t b;
        memcpy(&b, &v, sizeof(b));
        return b;
}

static double bits_dbl(uint64_t b)
{
        double v;
        memcpy(&v, &b, sizeof(v));
        return v;
}

/* [a-zA-Z_:][a-zA-Z0-9_:]* */
static bool valid_metric_name(const char *s)
{
        if (!s || !*s || (*s >= '0' && *s <= '9'))
                return false;
        for (; *s; s++)
                if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
                      (*s >= '0' && *s <= '9') || *s == '_' || *s == ':'))
                        return false;
        return true;
}

/* [a-zA-Z_][a-zA-Z0-9_]*, and "__" prefixes are Prometheus' own. */
static bool valid_label_name(const char *s)
{
        if (!valid_metric_name(s) || strchr(s, ':') || !strncmp(s, "__", 2))
                return false;
        return true;
}

static bool ends_with(const char *s, const char *suffix)
{
        size_t n = strlen(s), m = strlen(suffix);
        return n >= m && !strcmp(s + n - m, suffix);
}

/* Label values: backslash, double quote and newline are escaped. HELP
 * text: only backslash and newline (quote_too false). */
static void put_escaped(struct buf *out, const char *s, bool quote_too)
{
        for (; *s; s++) {
                if (*s == '\\')
                        buf_puts(out, "\\\\");
                else if (*s == '\n')
                        buf_puts(out, "\\n");
                else if (*s == '"' && quote_too)
                        buf_puts(out, "\\\"");
                else
                        buf_putc(out, *s);
        }
}

/* Shortest of %.15g/%.17g that reads back as the same double, plus the
 * spellings Prometheus uses for the non-finite values. */
static const char *fmt_double(char tmp[40], double v)
{
        if (isnan(v))
                return "NaN";
        if (isinf(v))
                return v > 0 ? "+Inf" : "-Inf";
        snprintf(tmp, 40, "%.15g", v);
        if (strtod(tmp, NULL) != v)
                snprintf(tmp, 40, "%.17g", v);
        return tmp;
}

static void put_double(struct buf *out, double v)
{
        char tmp[40];

        buf_puts(out, fmt_double(tmp, v));
}

/* Collects the NULL-terminated name/value pairs of a registration. */
static size_t take_labels(const char *metric, va_list ap,
                          const char *names[METRICS_MAX_LABELS],
                          const char *values[METRICS_MAX_LABELS])
{
        size_t n = 0;
        const char *name;

        while ((name = va_arg(ap, const char *)) != NULL) {
                const char *value = va_arg(ap, const char *);
                if (n == METRICS_MAX_LABELS)
                        misuse("%s: more than %d labels", metric,
                               METRICS_MAX_LABELS);
                if (!valid_label_name(name))
                        misuse("%s: bad label name '%s'", metric, name);
                if (!value)
                        misuse("%s: label %s has no value", metric, name);
                for (size_t i = 0; i < n; i++)
                        if (!strcmp(names[i], name))
                                misuse("%s: label %s given twice", metric,
                                       name);
                names[n] = name;
                values[n] = value;
                n++;
        }
        return n;
}

/* What a registration asks for, checked against an existing family. */
struct family_spec {
        enum metric_type type;
        const char *name;
        const char *help;
        size_t n_labels;
        const char **label_names;
        const double *bounds;
        size_t n_bounds;
        const char *enum_label;
        const char *const *states;
        size_t n_states;
};

static void check_new_family(const struct family_spec *spec)
{
        const char *name = spec->name;

        if (!valid_metric_name(name))
                misuse("bad metric name '%s'", name ? name : "(null)");
        if (spec->type == MT_COUNTER && !ends_with(name, "_total"))
                misuse("counter %s: name must end in _total", name);
        if (spec->type != MT_COUNTER && ends_with(name, "_total"))
                misuse("%s: only counters end in _total", name);
        for (size_t i = 0; i < spec->n_labels; i++)
                if (spec->type == MT_HISTOGRAM &&
                    !strcmp(spec->label_names[i], "le"))
                        misuse("histogram %s: label 'le' is reserved", name);
        if (spec->type == MT_HISTOGRAM) {
                if (spec->n_bounds == 0)
                        misuse("histogram %s: no buckets", name);
                for (size_t i = 0; i < spec->n_bounds; i++)
                        if (!isfinite(spec->bounds[i]) ||
                            (i && spec->bounds[i] <= spec->bounds[i - 1]))
                                misuse("histogram %s: bounds must be finite "
                                       "and increasing",
                                       name);
        }
        if (spec->type == MT_ENUM) {
                if (!spec->enum_label || !valid_label_name(spec->enum_label))
                        misuse("%s: bad state label", name);
                if (spec->n_states == 0)
                        misuse("%s: no states", name);
                for (size_t i = 0; i < spec->n_labels; i++)
                        if (!strcmp(spec->label_names[i], spec->enum_label))
                                misuse("%s: label %s given twice", name,
                                       spec->enum_label);
                for (size_t i = 0; i < spec->n_states; i++)
                        if (!spec->states[i])
                                misuse("%s: state %zu is NULL", name, i);
        }
}

static void check_same_family(const struct metric_family *fam,
                              const struct family_spec *spec)
{
        if (fam->type != spec->type)
                misuse("%s registered as %s and as %s", fam->name,
                       type_names[fam->type], type_names[spec->type]);
        if (fam->n_labels != spec->n_labels)
                misuse("%s registered with %zu and with %zu labels", fam->name,
                       fam->n_labels, spec->n_labels);
        for (size_t i = 0; i < fam->n_labels; i++)
                if (strcmp(fam->label_names[i], spec->label_names[i]))
                        misuse("%s: label %zu is '%s' and '%s'", fam->name, i,
                               fam->label_names[i], spec->label_names[i]);
        if (fam->type == MT_HISTOGRAM &&
            (fam->n_bounds != spec->n_bounds ||
             memcmp(fam->bounds, spec->bounds, fam->n_bounds * sizeof(double))))
                misuse("histogram %s registered with other buckets", fam->name);
        if (fam->type == MT_ENUM) {
                bool same = fam->n_states == spec->n_states &&
                            !strcmp(fam->enum_label, spec->enum_label);
                for (size_t i = 0; same && i < fam->n_states; i++)
                        same = !strcmp(fam->states[i], spec->states[i]);
                if (!same)
                        misuse("%s registered with other states", fam->name);
        }
}

static struct metric_family *family_new(struct metrics *reg,
                                        const struct family_spec *spec)
{
        struct metric_family *fam = xcalloc(1, sizeof(*fam));

        fam->reg = reg;
        fam->name = xstrdup(spec->name);
        fam->help = xstrdup(spec->help ? spec->help : "");
        fam->type = spec->type;
        fam->n_labels = spec->n_labels;
        for (size_t i = 0; i < spec->n_labels; i++)
                fam->label_names[i] = xstrdup(spec->label_names[i]);
        if (spec->type == MT_HISTOGRAM) {
                fam->bounds =
                        xmemdup(spec->bounds, spec->n_bounds * sizeof(double));
                fam->n_bounds = spec->n_bounds;
        }
        if (spec->type == MT_ENUM) {
                fam->enum_label = xstrdup(spec->enum_label);
                fam->n_states = spec->n_states;
                fam->states = xcalloc(spec->n_states, sizeof(char *));
                for (size_t i = 0; i < spec->n_states; i++)
                        fam->states[i] = xstrdup(spec->states[i]);
        }
        return fam;
}

static void family_free(struct metric_family *fam)
{
        for (size_t i = 0; i < fam->n_series; i++) {
                struct metric_series *s = fam->series[i];
                for (size_t j = 0; j < fam->n_labels; j++)
                        free(s->label_values[j]);
                free(s->label_text);
                free(s);
        }
        free(fam->series);
        for (size_t i = 0; i < fam->n_labels; i++)
                free(fam->label_names[i]);
        for (size_t i = 0; i < fam->n_states; i++)
                free(fam->states[i]);
        free(fam->states);
        free(fam->enum_label);
        free(fam->bounds);
        free(fam->help);
        free(fam->name);
        free(fam);
}

static size_t series_size(const struct metric_family *fam)
{
        switch (fam->type) {
        case MT_COUNTER:
                return sizeof(struct metric_counter);
        case MT_GAUGE:
                return sizeof(struct metric_gauge);
        case MT_HISTOGRAM:
                return sizeof(struct metric_histogram) +
                       (fam->n_bounds + 1) * sizeof(_Atomic uint64_t);
        case MT_ENUM:
                return sizeof(struct metric_enum);
        }
        abort();
}

/* The one lookup behind every registration: same name and label values,
 * same handle. Runs under the registry lock. */
static struct metric_series *series_get(struct metrics *reg,
                                        const struct family_spec *spec,
                                        const char **values)
{
        struct metric_family *fam = NULL;
        struct metric_series *s;
        struct buf text;

        for (size_t i = 0; i < reg->n_fams; i++) {
                if (!strcmp(reg->fams[i]->name, spec->name)) {
                        fam = reg->fams[i];
                        break;
                }
        }
        if (fam) {
                check_same_family(fam, spec);
        } else {
                check_new_family(spec);
                fam = family_new(reg, spec);
                if (reg->n_fams == reg->cap_fams) {
                        reg->cap_fams = reg->cap_fams ? reg->cap_fams * 2 : 16;
                        reg->fams = xrealloc(
                                reg->fams, reg->cap_fams * sizeof(*reg->fams));
                }
                reg->fams[reg->n_fams++] = fam;
        }

        for (size_t i = 0; i < fam->n_series; i++) {
                size_t j;
                s = fam->series[i];
                for (j = 0; j < fam->n_labels; j++)
                        if (strcmp(s->label_values[j], values[j]))
                                break;
                if (j == fam->n_labels)
                        return s;
        }

        s = xcalloc(1, series_size(fam));
        s->fam = fam;
        buf_init(&text);
        for (size_t j = 0; j < fam->n_labels; j++) {
                s->label_values[j] = xstrdup(values[j]);
                buf_printf(&text, "%s%s=\"", j ? "," : "", fam->label_names[j]);
                put_escaped(&text, values[j], true);
                buf_putc(&text, '"');
        }
        s->label_text = xstrdup(buf_cstr(&text));
        buf_free(&text);
        if (fam->n_series == fam->cap_series) {
                fam->cap_series = fam->cap_series ? fam->cap_series * 2 : 8;
                fam->series = xrealloc(fam->series,
                                       fam->cap_series * sizeof(*fam->series));
        }
        fam->series[fam->n_series++] = s;
        return s;
}

static struct metric_series *registered(struct metrics *reg,
                                        struct family_spec *spec, va_list ap)
{
        const char *names[METRICS_MAX_LABELS];
        const char *values[METRICS_MAX_LABELS];
        struct metric_series *s;

        spec->n_labels = take_labels(spec->name ? spec->name : "(null)", ap,
                                     names, values);
        spec->label_names = names;
        pthread_mutex_lock(&reg->lock);
        s = series_get(reg, spec, values);
        pthread_mutex_unlock(&reg->lock);
        return s;
}

struct metrics *metrics_new(void)
{
        struct metrics *reg = xcalloc(1, sizeof(*reg));

        pthread_mutex_init(&reg->lock, NULL);
        clock_gettime(CLOCK_MONOTONIC, &reg->start_mono);
        return reg;
}

void metrics_free(struct metrics *reg)
{
        if (!reg)
                return;
        for (size_t i = 0; i < reg->n_fams; i++)
                family_free(reg->fams[i]);
        free(reg->fams);
        pthread_mutex_destroy(&reg->lock);
        free(reg);
}

struct metric_counter *metrics_counter(struct metrics *reg, const char *name,
                                       const char *help, ...)
{
        struct family_spec spec = {
                .type = MT_COUNTER, .name = name, .help = help};
        struct metric_series *s;
        va_list ap;

        va_start(ap, help);
        s = registered(reg, &spec, ap);
        va_end(ap);
        return (struct metric_counter *)s;
}

void metric_counter_add(struct metric_counter *c, uint64_t n)
{
        atomic_fetch_add_explicit(&c->n, n, memory_order_relaxed);
}

void metric_counter_inc(struct metric_counter *c)
{
        atomic_fetch_add_explicit(&c->n, 1, memory_order_relaxed);
}

uint64_t metric_counter_get(const struct metric_counter *c)
{
        return atomic_load_explicit(&c->n, memory_order_relaxed);
}

/* Bindings change under the registry lock, which scrapes hold while they
 * call the function: once this returns, the old callback is not running
 * and will not run again. */
void metric_counter_bind(struct metric_counter *c, metric_value_fn fn,
                         void *opaque)
{
        struct metrics *reg = c->s.fam->reg;

        pthread_mutex_lock(&reg->lock);
        c->fn = fn;
        c->opaque = opaque;
        pthread_mutex_unlock(&reg->lock);
}

struct metric_gauge *metrics_gauge(struct metrics *reg, const char *name,
                                   const char *help, ...)
{
        struct family_spec spec = {
                .type = MT_GAUGE, .name = name, .help = help};
        struct metric_series *s;
        va_list ap;

        va_start(ap, help);
        s = registered(reg, &spec, ap);
        va_end(ap);
        return (struct metric_gauge *)s;
}

void metric_gauge_set(struct metric_gauge *g, double v)
{
        atomic_store_explicit(&g->bits, dbl_bits(v), memory_order_relaxed);
}

void metric_gauge_set_int(struct metric_gauge *g, int64_t v)
{
        metric_gauge_set(g, (double)v);
}

/* No atomic add for doubles: retry a compare-and-swap on the bits. */
static void add_double(_Atomic uint64_t *slot, double delta)
{
        uint64_t old = atomic_load_explicit(slot, memory_order_relaxed);

        while (!atomic_compare_exchange_weak_explicit(
                slot, &old, dbl_bits(bits_dbl(old) + delta),
                memory_order_relaxed, memory_order_relaxed))
                ;
}

void metric_gauge_add(struct metric_gauge *g, double delta)
{
        add_double(&g->bits, delta);
}

double metric_gauge_get(const struct metric_gauge *g)
{
        return bits_dbl(atomic_load_explicit(&g->bits, memory_order_relaxed));
}

void metric_gauge_bind(struct metric_gauge *g, metric_value_fn fn, void *opaque)
{
        struct metrics *reg = g->s.fam->reg;

        pthread_mutex_lock(&reg->lock);
        g->fn = fn;
        g->opaque = opaque;
        pthread_mutex_unlock(&reg->lock);
}

struct metric_histogram *metrics_histogram(struct metrics *reg,
                                           const char *name, const char *help,
                                           const double *bounds,
                                           size_t n_bounds, ...)
{
        struct family_spec spec = {.type = MT_HISTOGRAM,
                                   .name = name,
                                   .help = help,
                                   .bounds = bounds,
                                   .n_bounds = n_bounds};
        struct metric_series *s;
        va_list ap;

        if (!bounds) {
                spec.bounds = metrics_duration_buckets;
                spec.n_bounds = metrics_duration_buckets_n;
        }
        va_start(ap, n_bounds);
        s = registered(reg, &spec, ap);
        va_end(ap);
        return (struct metric_histogram *)s;
}

void metric_histogram_observe(struct metric_histogram *h, double v)
{
        const struct metric_family *fam = h->s.fam;
        size_t i = 0;

        if (isnan(v))
                return;
        /* Bucket i counts bounds[i-1] < v <= bounds[i]; i == n is +Inf. */
        while (i < fam->n_bounds && v > fam->bounds[i])
                i++;
        add_double(&h->sum_bits, v);
        atomic_fetch_add_explicit(&h->buckets[i], 1, memory_order_relaxed);
}

uint64_t metric_histogram_count(const struct metric_histogram *h)
{
        uint64_t n = 0;

        for (size_t i = 0; i <= h->s.fam->n_bounds; i++)
                n += atomic_load_explicit(&h->buckets[i], memory_order_relaxed);
        return n;
}

struct metric_enum *metrics_enum(struct metrics *reg, const char *name,
                                 const char *help, const char *label,
                                 const char *const *states, size_t n, ...)
{
        struct family_spec spec = {.type = MT_ENUM,
                                   .name = name,
                                   .help = help,
                                   .enum_label = label,
                                   .states = states,
                                   .n_states = n};
        struct metric_series *s;
        va_list ap;

        va_start(ap, n);
        s = registered(reg, &spec, ap);
        va_end(ap);
        return (struct metric_enum *)s;
}

void metric_enum_set(struct metric_enum *e, size_t i)
{
        if (i < e->s.fam->n_states)
                atomic_store_explicit(&e->cur, i, memory_order_relaxed);
}

size_t metric_enum_get(const struct metric_enum *e)
{
        return atomic_load_explicit(&e->cur, memory_order_relaxed);
}

/* ---- process-level metrics, read from /proc at scrape time ---- */

/* Field 0 (total program size) or 1 (resident set) of /proc/self/statm,
 * in bytes. */
static double statm_bytes(int field)
{
        unsigned long v[2];
        FILE *f = fopen("/proc/self/statm", "re");
        int n;

        if (!f)
                return NAN;
        n = fscanf(f, "%lu %lu", &v[0], &v[1]);
        fclose(f);
        if (n != 2)
                return NAN;
        return (double)v[field] * (double)sysconf(_SC_PAGESIZE);
}

static double process_rss(void *opaque)
{
        return statm_bytes(1);
}

static double process_vsize(void *opaque)
{
        return statm_bytes(0);
}

static double process_open_fds(void *opaque)
{
        DIR *d = opendir("/proc/self/fd");
        struct dirent *de;
        double n = 0;

        if (!d)
                return NAN;
        while ((de = readdir(d)) != NULL)
                if (de->d_name[0] != '.')
                        n++;
        closedir(d);
        return n - 1; /* the directory's own descriptor */
}

static double process_cpu(void *opaque)
{
        struct rusage ru;

        if (getrusage(RUSAGE_SELF, &ru))
                return NAN;
        return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
               (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static double uptime(void *opaque)
{
        const struct metrics *reg = opaque;
        struct timespec now;

        clock_gettime(CLOCK_MONOTONIC, &now);
        return (double)(now.tv_sec - reg->start_mono.tv_sec) +
               (now.tv_nsec - reg->start_mono.tv_nsec) / 1e9;
}

void metrics_register_process(struct metrics *reg, const char *version)
{
        struct timespec now;

        clock_gettime(CLOCK_MONOTONIC, &reg->start_mono);
        clock_gettime(CLOCK_REALTIME, &now);
        metric_gauge_bind(metrics_gauge(reg, "process_resident_memory_bytes",
                                        "Resident memory size in bytes.", NULL),
                          process_rss, NULL);
        metric_gauge_bind(metrics_gauge(reg, "process_virtual_memory_bytes",
                                        "Virtual memory size in bytes.", NULL),
                          process_vsize, NULL);
        metric_gauge_bind(metrics_gauge(reg, "process_open_fds",
                                        "Number of open file descriptors.",
                                        NULL),
                          process_open_fds, NULL);
        metric_counter_bind(
                metrics_counter(reg, "process_cpu_seconds_total",
                                "Total user and system CPU time spent in "
                                "seconds.",
                                NULL),
                process_cpu, NULL);
        metric_gauge_set(metrics_gauge(reg, "process_start_time_seconds",
                                       "Start time of the process since unix "
                                       "epoch in seconds.",
                                       NULL),
                         (double)now.tv_sec + now.tv_nsec / 1e9);
        metric_gauge_bind(metrics_gauge(reg, "ferry_uptime_seconds",
                                        "Seconds since ferryd started.", NULL),
                          uptime, reg);
        metric_gauge_set(metrics_gauge(reg, "ferry_build_info",
                                       "Always 1; the version label says "
                                       "which ferryd is running.",
                                       "version", version ? version : "", NULL),
                         1);
}

/* ---- rendering ---- */

/* name+suffix{labels[,extra="value"]} and a space */
static void put_sample_name(struct buf *out, const struct metric_family *fam,
                            const char *suffix, const struct metric_series *s,
                            const char *extra, const char *extra_value)
{
        bool any = s->label_text[0] != '\0';

        buf_puts(out, fam->name);
        buf_puts(out, suffix);
        if (any || extra) {
                buf_putc(out, '{');
                buf_puts(out, s->label_text);
                if (extra) {
                        buf_printf(out, "%s%s=\"", any ? "," : "", extra);
                        put_escaped(out, extra_value, true);
                        buf_putc(out, '"');
                }
                buf_putc(out, '}');
        }
        buf_putc(out, ' ');
}

static void render_histogram(struct buf *out, const struct metric_family *fam,
                             struct metric_histogram *h)
{
        uint64_t cum = 0;
        char tmp[40];

        for (size_t i = 0; i <= fam->n_bounds; i++) {
                cum += atomic_load_explicit(&h->buckets[i],
                                            memory_order_relaxed);
                put_sample_name(out, fam, "_bucket", &h->s, "le",
                                i < fam->n_bounds
                                        ? fmt_double(tmp, fam->bounds[i])
                                        : "+Inf");
                buf_printf(out, "%" PRIu64 "\n", cum);
        }
        put_sample_name(out, fam, "_sum", &h->s, NULL, NULL);
        put_double(out, bits_dbl(atomic_load_explicit(&h->sum_bits,
                                                      memory_order_relaxed)));
        buf_putc(out, '\n');
        put_sample_name(out, fam, "_count", &h->s, NULL, NULL);
        buf_printf(out, "%" PRIu64 "\n", cum);
}

static void render_series(struct buf *out, const struct metric_family *fam,
                          struct metric_series *s)
{
        switch (fam->type) {
        case MT_COUNTER: {
                struct metric_counter *c = (struct metric_counter *)s;
                put_sample_name(out, fam, "", s, NULL, NULL);
                if (c->fn)
                        put_double(out, c->fn(c->opaque));
                else
                        buf_printf(out, "%" PRIu64, metric_counter_get(c));
                buf_putc(out, '\n');
                break;
        }
        case MT_GAUGE: {
                struct metric_gauge *g = (struct metric_gauge *)s;
                put_sample_name(out, fam, "", s, NULL, NULL);
                put_double(out, g->fn ? g->fn(g->opaque) : metric_gauge_get(g));
                buf_putc(out, '\n');
                break;
        }
        case MT_HISTOGRAM:
                render_histogram(out, fam, (struct metric_histogram *)s);
                break;
        case MT_ENUM: {
                size_t cur = metric_enum_get((struct metric_enum *)s);
                for (size_t i = 0; i < fam->n_states; i++) {
                        put_sample_name(out, fam, "", s, fam->enum_label,
                                        fam->states[i]);
                        buf_puts(out, i == cur ? "1\n" : "0\n");
                }
                break;
        }
        }
}

void metrics_render(struct metrics *reg, struct buf *out)
{
        pthread_mutex_lock(&reg->lock);
        for (size_t i = 0; i < reg->n_fams; i++) {
                const struct metric_family *fam = reg->fams[i];
                if (fam->n_series == 0)
                        continue;
                buf_printf(out, "# HELP %s ", fam->name);
                put_escaped(out, fam->help, false);
                buf_printf(out, "\n# TYPE %s %s\n", fam->name,
                           type_names[fam->type]);
                for (size_t j = 0; j < fam->n_series; j++)
                        render_series(out, fam, fam->series[j]);
        }
        pthread_mutex_unlock(&reg->lock);
}
