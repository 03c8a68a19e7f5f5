/* SPDX-License-Identifier: Apache-2.0
 * The metrics registry. Modules register a metric once per label set and
 * keep the handle; updating it is then one atomic operation, safe from any
 * thread. Only metrics.c renders the Prometheus text exposition format
 * (0.0.4), which the HTTP endpoint serves on /metrics.
 *
 * Registering is a mutex-protected lookup: asking again for the same name
 * and label values returns the same handle. Names, label names and types
 * are fixed in code, so using them inconsistently (a bad name, a counter
 * without "_total", one name as two types, other label names) is a
 * programming error: it is logged and the process aborts.
 * Metric names ferry exports are listed in daemon/metric_names.h.
 */
#ifndef FERRY_METRICS_H
#define FERRY_METRICS_H

#include "common/buf.h"
#include "common/ferry_error.h"

#include <stddef.h>
#include <stdint.h>

/* Most labels a metric may carry (histograms add "le" on top). */
#define METRICS_MAX_LABELS 8

struct metrics;
struct metric_counter;
struct metric_gauge;
struct metric_histogram;
struct metric_enum;

/* @brief Computes a value at scrape time (lag from timestamps, RSS).
 * Runs in the scraping thread (the loop) while the registry lock is held:
 * it must be quick, thread-safe with the module it reads, and must not
 * register metrics. */
typedef double (*metric_value_fn)(void *opaque);

/* @brief Creates an empty registry. @context any */
struct metrics *metrics_new(void);
/* @brief Frees the registry and every handle it gave out; NULL is a no-op.
 * No other thread may use a handle during or after this.
 * @context loop */
void metrics_free(struct metrics *reg);

/* @brief Finds or creates a counter series.
 * @param name ends in "_total" (the full exposed name).
 * @param help one line of help, taken from the first registration.
 * @param ... label name/value pairs (const char *), then NULL. Values are
 *        copied and may contain any bytes; they are escaped on output.
 * @returns a handle owned by the registry, valid until metrics_free.
 * @context any */
struct metric_counter *metrics_counter(struct metrics *reg, const char *name,
                                       const char *help, ...)
        __attribute__((sentinel));
/* @brief Adds n. One relaxed atomic add. @context any */
void metric_counter_add(struct metric_counter *c, uint64_t n);
void metric_counter_inc(struct metric_counter *c);
uint64_t metric_counter_get(const struct metric_counter *c);
/* @brief Makes the counter read fn(opaque) at scrape time instead of its
 * own count (for totals another library keeps, like CPU seconds); fn must
 * never decrease. NULL detaches; once this returns, a detached fn is no
 * longer running and will not be called again. @context any */
void metric_counter_bind(struct metric_counter *c, metric_value_fn fn,
                         void *opaque);

/* @brief Finds or creates a gauge series (starts at 0); arguments as for
 * metrics_counter, but name must not end in "_total". @context any */
struct metric_gauge *metrics_gauge(struct metrics *reg, const char *name,
                                   const char *help, ...)
        __attribute__((sentinel));
/* @brief Sets, adds to, or reads the value. Lock-free. @context any */
void metric_gauge_set(struct metric_gauge *g, double v);
void metric_gauge_set_int(struct metric_gauge *g, int64_t v);
void metric_gauge_add(struct metric_gauge *g, double delta);
double metric_gauge_get(const struct metric_gauge *g);
/* @brief Makes the gauge compute fn(opaque) at each scrape; NULL detaches
 * (back to the set value). Once this returns, a detached fn is not
 * running and will not be called again, so the caller may free opaque.
 * @context any */
void metric_gauge_bind(struct metric_gauge *g, metric_value_fn fn,
                       void *opaque);

/* Default histogram buckets for durations, 0.5 ms to 30 s. */
extern const double metrics_duration_buckets[];
extern const size_t metrics_duration_buckets_n;

/* @brief Finds or creates a histogram series.
 * @param bounds upper bounds, strictly increasing and finite ("+Inf" is
 *        implied); copied. NULL means metrics_duration_buckets. Every
 *        series of one name must use the same bounds.
 * @param ... label pairs, then NULL ("le" is reserved).
 * @context any */
struct metric_histogram *
metrics_histogram(struct metrics *reg, const char *name, const char *help,
                  const double *bounds, size_t n_bounds, ...)
        __attribute__((sentinel));
/* @brief Records one observation (NaN is ignored). A short scan for the
 * bucket plus two atomic operations. @context any */
void metric_histogram_observe(struct metric_histogram *h, double v);
/* @returns the number of observations so far. @context any */
uint64_t metric_histogram_count(const struct metric_histogram *h);

/* @brief A one-hot state gauge: renders name{label="s"} 1 for the current
 * state and 0 for every other one, so alerts can match a state by name.
 * @param states n state names, copied; the enum starts at states[0].
 * @param ... further constant label pairs, then NULL.
 * @context any */
struct metric_enum *metrics_enum(struct metrics *reg, const char *name,
                                 const char *help, const char *label,
                                 const char *const *states, size_t n, ...)
        __attribute__((sentinel));
/* @brief Switches to state i (out of range is ignored). @context any */
void metric_enum_set(struct metric_enum *e, size_t i);
size_t metric_enum_get(const struct metric_enum *e);

/* @brief Registers the process-level metrics: process_resident_memory_bytes,
 * process_virtual_memory_bytes, process_open_fds, process_cpu_seconds_total,
 * process_start_time_seconds, ferry_uptime_seconds and
 * ferry_build_info{version}. Call once, early (the start time and uptime
 * count from this call). @context loop */
void metrics_register_process(struct metrics *reg, const char *version);

/* @brief Appends every metric in Prometheus text format 0.0.4 to out,
 * families in registration order, each with HELP and TYPE lines.
 * @context loop (or any thread; callbacks run in the caller's thread) */
void metrics_render(struct metrics *reg, struct buf *out);

/* @brief The content type that goes with metrics_render's output. */
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

#endif
