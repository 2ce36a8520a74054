/* What the load generators (tcpload.c, tls/tlsload.c) measure the same way:
 * the CPU time of the processes under test and of a core, read at the edges
 * of the measured window, and a latency histogram. Header-only: each tool is
 * one file built by its run.sh. Define BENCH_PROG (the tool's name, for
 * messages) before including it. */
#ifndef SKIFF_BENCH_SAMPLE_H
#define SKIFF_BENCH_SAMPLE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef BENCH_PROG
#error "define BENCH_PROG before including bench_sample.h"
#endif

#define MAX_PIDS 64
#define HIST_US  1000000 /* 1 µs buckets up to 1 s, then one overflow bucket */

struct pidset {
	int n;
	int pid[MAX_PIDS];
};

static bool measuring;               /* inside the measured window */
static uint32_t hist[HIST_US + 1];   /* latencies recorded while measuring */

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Adds the comma-separated pids of arg to set. */
static void parse_pids(struct pidset *set, char *arg)
{
	for (char *tok = strtok(arg, ","); tok != NULL; tok = strtok(NULL, ",")) {
		if (set->n == MAX_PIDS) {
			fprintf(stderr, BENCH_PROG ": more than %d pids\n", MAX_PIDS);
			exit(2);
		}
		set->pid[set->n++] = atoi(tok);
	}
}

/* utime+stime in clock ticks; -1 if the process is gone. */
static int64_t proc_ticks(int pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return -1;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* comm may hold spaces and parentheses; fields restart after the last ')' */
	char *p = strrchr(buf, ')');
	char state = 0;
	unsigned long utime = 0, stime = 0;
	if (p == NULL ||
	    sscanf(p + 2, "%c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &state,
		   &utime, &stime) != 3 ||
	    state == 'Z' || state == 'X')
		return -1;
	return (int64_t)(utime + stime);
}

/* Sum over the set. A process that is gone would make the window's CPU
 * meaningless, so it ends the run. */
static uint64_t set_ticks(const struct pidset *set, const char *what)
{
	uint64_t t = 0;
	for (int i = 0; i < set->n; i++) {
		int64_t v = proc_ticks(set->pid[i]);
		if (v < 0) {
			fprintf(stderr, BENCH_PROG ": %s process %d exited during the run\n", what,
				set->pid[i]);
			exit(1);
		}
		t += (uint64_t)v;
	}
	return t;
}

/* Ticks CPU `core` spent busy and (when softirq is not NULL) in softirq,
 * from /proc/stat. Softirq time (loopback TCP delivery) is not charged to
 * any process's utime+stime, so it is reported beside the proxy's own
 * figure rather than inside it. */
static void core_ticks(int core, uint64_t *busy, uint64_t *softirq)
{
	*busy = 0;
	if (softirq)
		*softirq = 0;
	if (core < 0)
		return;
	FILE *f = fopen("/proc/stat", "r");
	if (f == NULL)
		return;
	char line[512], want[32];
	int wlen = snprintf(want, sizeof(want), "cpu%d ", core);
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, want, (size_t)wlen) != 0)
			continue;
		unsigned long long v[8] = { 0 };
		sscanf(line + wlen, "%llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1],
		       &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]);
		/* user nice system idle iowait irq softirq steal */
		*busy = v[0] + v[1] + v[2] + v[5] + v[6];
		if (softirq)
			*softirq = v[6];
		break;
	}
	fclose(f);
}

static void record(uint64_t lat_ns)
{
	if (!measuring)
		return;
	uint64_t us = lat_ns / 1000;
	hist[us < HIST_US ? us : HIST_US]++;
}

static double percentile(double q)
{
	uint64_t total = 0;
	for (size_t i = 0; i <= HIST_US; i++)
		total += hist[i];
	if (total == 0)
		return 0;
	uint64_t want = (uint64_t)(q * (double)total);
	if (want >= total)
		want = total - 1;
	uint64_t seen = 0;
	for (size_t i = 0; i <= HIST_US; i++) {
		seen += hist[i];
		if (seen > want)
			return (double)i;
	}
	return (double)HIST_US;
}

#endif
