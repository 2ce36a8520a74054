/* Access log writer; see access_log.h. */
#include "proxy/access_log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "proxy/sock_addr.h"

struct access_log_file *access_log_open(struct access_log_set *set, const char *path)
{
	for (unsigned i = 0; i < set->n_files; i++)
		if (strcmp(set->files[i]->path, path) == 0)
			return set->files[i];
	if (set->n_files == ACCESS_LOG_MAX_FILES)
		return NULL;
	struct access_log_file *f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	f->path = strdup(path);
	/* The standard streams are used as they are, as Envoy does: reopening
	 * them by name fails for a non-root proxy whose stdout is root's pipe. */
	if (strcmp(path, "/dev/stdout") == 0)
		f->fd = fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 0);
	else if (strcmp(path, "/dev/stderr") == 0)
		f->fd = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 0);
	else
		f->fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (!f->path || f->fd < 0) {
		if (f->fd >= 0)
			close(f->fd);
		free(f->path);
		free(f);
		return NULL;
	}
	set->files[set->n_files++] = f;
	return f;
}

static void flush_file(struct access_log_set *set, struct access_log_file *f)
{
	if (f->len == 0)
		return;
	ssize_t n = write(f->fd, f->buf, f->len);
	if (n != (ssize_t)f->len)
		set->dropped++; /* a full disk or a closed pipe must not stop the proxy */
	f->len = 0;
}

bool access_log_pending(const struct access_log_set *set)
{
	for (unsigned i = 0; i < set->n_files; i++)
		if (set->files[i]->len)
			return true;
	return false;
}

void access_log_flush(struct access_log_set *set)
{
	for (unsigned i = 0; i < set->n_files; i++)
		flush_file(set, set->files[i]);
}

void access_log_close(struct access_log_set *set)
{
	for (unsigned i = 0; i < set->n_files; i++) {
		flush_file(set, set->files[i]);
		close(set->files[i]->fd);
		free(set->files[i]->path);
		free(set->files[i]);
	}
	set->n_files = 0;
}

/* Listener and cluster names come from configuration, which may hold any
 * character: escape what JSON requires. */
static size_t json_string(char *out, size_t cap, const char *s)
{
	size_t n = 0;
	if (n < cap)
		out[n++] = '"';
	for (; s && *s && n + 7 < cap; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			out[n++] = '\\';
			out[n++] = (char)c;
		} else if (c < 0x20) {
			n += (size_t)snprintf(out + n, cap - n, "\\u%04x", c);
		} else {
			out[n++] = (char)c;
		}
	}
	if (n < cap)
		out[n++] = '"';
	return n;
}

static void format_addr(char *buf, size_t len, const struct sock_addr *a)
{
	if (a)
		sock_addr_format(a, buf, len);
	else
		snprintf(buf, len, "-");
}

void access_log_tcp(struct access_log_set *set, struct access_log_file *f,
		    const struct tcp_flow_record *rec)
{
	if (!f) {
		set->dropped++;
		return;
	}
	char remote[64], local[64], orig[64], upstream[64], when[80], listener[256], cluster[256];
	format_addr(remote, sizeof(remote), rec->downstream_remote);
	format_addr(local, sizeof(local), rec->downstream_local);
	format_addr(orig, sizeof(orig), rec->original_dst);
	format_addr(upstream, sizeof(upstream), rec->upstream_host);
	time_t secs = (time_t)(rec->start_unix_ms / 1000);
	struct tm tm;
	gmtime_r(&secs, &tm);
	snprintf(when, sizeof(when), "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		 (unsigned)(rec->start_unix_ms % 1000));
	listener[json_string(listener, sizeof(listener) - 1, rec->listener)] = '\0';
	cluster[json_string(cluster, sizeof(cluster) - 1, rec->cluster)] = '\0';

	char principal[300];
	principal[json_string(principal, sizeof(principal) - 1,
			      rec->peer_principal ? rec->peer_principal : "")] = '\0';
	char line[1536];
	int n = snprintf(line, sizeof(line),
			 "{\"start_time\":\"%s\",\"duration\":%llu,\"connection_id\":%llu,"
			 "\"bytes_received\":%llu,\"bytes_sent\":%llu,"
			 "\"downstream_remote_address\":\"%s\",\"downstream_local_address\":\"%s\","
			 "\"original_destination\":\"%s\",\"upstream_host\":\"%s\","
			 "\"listener_name\":%s,\"upstream_cluster\":%s,"
			 "\"downstream_peer_uri_san\":%s,\"transport_failure_reason\":\"%s\","
			 "\"response_flags\":\"%s\",\"termination_reason\":\"%s\"}\n",
			 when, (unsigned long long)rec->duration_ms,
			 (unsigned long long)rec->connection_id,
			 (unsigned long long)rec->bytes_received, (unsigned long long)rec->bytes_sent,
			 remote, local, orig, upstream, listener, cluster, principal,
			 rec->transport_failure ? rec->transport_failure : "", rec->response_flags,
			 rec->termination);
	if (n < 0 || (size_t)n >= sizeof(line)) {
		set->dropped++;
		return;
	}
	if (f->len + (size_t)n > sizeof(f->buf))
		flush_file(set, f);
	memcpy(f->buf + f->len, line, (size_t)n);
	f->len += (size_t)n;
}
