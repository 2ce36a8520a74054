/*
 * h2window: what the HTTP benchmark measures around h2load, which drives the
 * load but cannot sample anyone's CPU and prints no percentiles.
 *
 *   h2window cpu -P PID,.. [-L PID,..] [-C CPU] -w WARMUP -d SECS
 *       Started beside `h2load -D SECS --warm-up-time WARMUP`: sleeps
 *       WARMUP, samples utime+stime of the -P processes (the proxies under
 *       test) and the -L processes (h2load, the backend) and CPU -C's busy
 *       ticks, sleeps SECS, samples again. Prints proxy_cpu_us,
 *       proxy_cpu_pct, load_cpu_pct, core_busy_pct, secs as key=value.
 *   h2window lat FILE
 *       Reads h2load's --log-file (start µs, status, µs to the end of the
 *       response; h2load logs only requests of its measured window) and
 *       prints p50_us, p99_us and the count of non-2xx statuses, from
 *       1 µs buckets (bench_sample.h).
 *
 * The window is lined up with h2load's by time, not by request: h2load
 * starts its warm-up once its connections are up, a few ms after both
 * tools start, which is under 1% of a 3 s window.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BENCH_PROG "h2window"
#include "../bench_sample.h"

static void sleep_s(double s)
{
	struct timespec ts = { .tv_sec = (time_t)s, .tv_nsec = (long)((s - (double)(time_t)s) * 1e9) };
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static int cpu_window(int argc, char **argv)
{
	struct pidset proxy = { 0 }, load = { 0 };
	int core = -1, opt;
	double warmup = -1, secs = -1;
	while ((opt = getopt(argc, argv, "P:L:C:w:d:")) != -1) {
		switch (opt) {
		case 'P': parse_pids(&proxy, optarg); break;
		case 'L': parse_pids(&load, optarg); break;
		case 'C': core = atoi(optarg); break;
		case 'w': warmup = atof(optarg); break;
		case 'd': secs = atof(optarg); break;
		default: return 2;
		}
	}
	if (proxy.n == 0 || warmup < 0 || secs <= 0) {
		fprintf(stderr, "usage: h2window cpu -P PID,.. [-L PID,..] [-C CPU] -w WARMUP -d SECS\n");
		return 2;
	}
	long hz = sysconf(_SC_CLK_TCK);
	uint64_t busy0, busy1;
	sleep_s(warmup);
	uint64_t t0 = now_ns(), p0 = set_ticks(&proxy, "proxy"), l0 = set_ticks(&load, "load");
	core_ticks(core, &busy0, NULL);
	sleep_s(secs);
	uint64_t t1 = now_ns(), p1 = set_ticks(&proxy, "proxy"), l1 = set_ticks(&load, "load");
	core_ticks(core, &busy1, NULL);
	double wall = (double)(t1 - t0) / 1e9;
	double proxy_us = (double)(p1 - p0) * 1e6 / (double)hz;
	double load_us = (double)(l1 - l0) * 1e6 / (double)hz;
	printf("secs=%.3f proxy_cpu_us=%.0f proxy_cpu_pct=%.1f load_cpu_pct=%.1f core_busy_pct=%.1f\n",
	       wall, proxy_us, 100.0 * proxy_us / 1e6 / wall, 100.0 * load_us / 1e6 / wall,
	       (double)(busy1 - busy0) * 100.0 / (double)hz / wall);
	return 0;
}

static int latency(const char *path)
{
	FILE *f = fopen(path, "r");
	if (f == NULL) {
		perror(path);
		return 1;
	}
	unsigned long long start, us;
	int status;
	uint64_t n = 0, non2xx = 0;
	measuring = true;
	while (fscanf(f, "%llu %d %llu", &start, &status, &us) == 3) {
		record(us * 1000);
		n++;
		non2xx += status < 200 || status > 299;
	}
	fclose(f);
	printf("logged=%" PRIu64 " non2xx=%" PRIu64 " p50_us=%.0f p99_us=%.0f\n", n, non2xx,
	       percentile(0.50), percentile(0.99));
	return n > 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "cpu") == 0)
		return cpu_window(argc - 1, argv + 1);
	if (argc == 3 && strcmp(argv[1], "lat") == 0)
		return latency(argv[2]);
	fprintf(stderr, "usage: h2window cpu -P PID,.. [-L PID,..] [-C CPU] -w WARMUP -d SECS\n"
			"       h2window lat H2LOAD_LOG\n");
	return 2;
}
