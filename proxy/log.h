/* Process log: one line per event on stderr, with a level, the thread and,
 * where there is one, the connection id. Lines are written with one write(2)
 * each, so threads never interleave inside a line. */
#ifndef SKIFF_PROXY_LOG_H
#define SKIFF_PROXY_LOG_H

enum log_level { LOG_TRACE, LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR, LOG_OFF };

extern enum log_level log_min_level;

/* Parses "trace".."error"/"off"; returns 0 or -EINVAL. */
int log_level_parse(const char *s, enum log_level *out);

/* Names the calling thread in its log lines ("main", "worker 0", ...). */
void log_set_thread_name(const char *name);

void log_write(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_at(lvl, ...) \
	do { if ((lvl) >= log_min_level) log_write((lvl), __VA_ARGS__); } while (0)
#define log_trace(...) log_at(LOG_TRACE, __VA_ARGS__)
#define log_debug(...) log_at(LOG_DEBUG, __VA_ARGS__)
#define log_info(...)  log_at(LOG_INFO, __VA_ARGS__)
#define log_warn(...)  log_at(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_at(LOG_ERROR, __VA_ARGS__)

#endif
