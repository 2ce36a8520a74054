/* `skiff flows`: the per-flow table of one or every instance, for people
 * (sorted, filtered, aligned) or for programs (--json). See bpf/cli.h. */
#include "bpf/cli.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>

static const char flows_usage[] =
	"usage: skiff flows [options]\n"
	"\n"
	"Every captured or accelerated connection the datapath has seen, from\n"
	SKIFF_PIN_ROOT "/<instance>/flows. Closed flows stay listed until they\n"
	"age out.\n"
	"\n"
	"  --instance NAME   one instance (default: all)\n"
	"  --sort KEY        bytes (default), msgs, start, last, rtt or retrans;\n"
	"                    largest or newest first\n"
	"  --port N          only flows with N as a client, server or original port\n"
	"  --addr IP         only flows with IP as a client, server or original address\n"
	"  --open            only open flows\n"
	"  --json            one JSON array, field names as in the map's BTF\n";

enum sort_key { SORT_BYTES, SORT_MSGS, SORT_START, SORT_LAST, SORT_RTT, SORT_RETRANS };

struct row {
	char instance[SKIFF_INSTANCE_MAX];
	struct skiff_tuple key;
	struct skiff_flow f;
};

struct filter {
	bool by_port, by_addr, open_only;
	uint16_t port;
	uint8_t family;
	uint8_t addr[16];
};

struct table {
	struct row *rows;
	size_t n, cap;
};

static const char *kind_name(uint8_t kind)
{
	switch (kind) {
	case SKIFF_FLOW_OUTBOUND: return "outbound";
	case SKIFF_FLOW_INBOUND: return "inbound";
	case SKIFF_FLOW_UPSTREAM: return "upstream";
	case SKIFF_FLOW_LOCAL: return "local";
	default: return "?";
	}
}

/* "a.b.c.d:port" or "[v6]:port". */
static void fmt_endpoint(char *buf, size_t len, uint8_t family, const uint8_t addr[16], uint16_t port)
{
	char a[INET6_ADDRSTRLEN];

	if (family == SKIFF_AF_INET6) {
		inet_ntop(AF_INET6, addr, a, sizeof(a));
		snprintf(buf, len, "[%s]:%u", a, port);
	} else {
		inet_ntop(AF_INET, addr, a, sizeof(a));
		snprintf(buf, len, "%s:%u", a, port);
	}
}

/* The original destination's family: the key's, except that an IPv6 key
 * never carries an IPv4 original (connect6 folds v4-mapped addresses). */
static bool addr_eq(const struct filter *flt, uint8_t family, const uint8_t addr[16])
{
	return family == flt->family && !memcmp(addr, flt->addr, family == SKIFF_AF_INET ? 4 : 16);
}

static bool row_matches(const struct row *r, const struct filter *flt)
{
	const struct skiff_tuple *k = &r->key;

	if (flt->open_only && (r->f.flags & SKIFF_FLOW_F_CLOSED))
		return false;
	if (flt->by_port && k->sport != flt->port && k->dport != flt->port &&
	    r->f.orig_dport != flt->port)
		return false;
	if (flt->by_addr && !addr_eq(flt, k->family, k->saddr) && !addr_eq(flt, k->family, k->daddr) &&
	    !addr_eq(flt, k->family, r->f.orig_daddr))
		return false;
	return true;
}

static int load_instance(struct table *t, const char *instance, const struct filter *flt)
{
	char dir[128], path[256];
	struct skiff_tuple cur, next;
	void *prev = NULL;
	int fd;

	if (bpf_instance_dir(instance, dir, sizeof(dir)) < 0)
		return -ENAMETOOLONG;
	snprintf(path, sizeof(path), "%s/flows", dir);
	fd = bpf_obj_get(path);
	if (fd < 0)
		return -errno;
	while (bpf_map_get_next_key(fd, prev, &next) == 0) {
		struct row r;

		cur = next;
		prev = &cur;
		memset(&r, 0, sizeof(r));
		snprintf(r.instance, sizeof(r.instance), "%s", instance);
		r.key = cur;
		if (bpf_map_lookup_elem(fd, &cur, &r.f) < 0 || !row_matches(&r, flt))
			continue; /* gone since get_next_key, or filtered out */
		if (t->n == t->cap) {
			size_t cap = t->cap ? t->cap * 2 : 256;
			struct row *rows = realloc(t->rows, cap * sizeof(*rows));

			if (!rows) {
				close(fd);
				return -ENOMEM;
			}
			t->rows = rows;
			t->cap = cap;
		}
		t->rows[t->n++] = r;
	}
	close(fd);
	return 0;
}

static enum sort_key sort_by;

static uint64_t sort_value(const struct row *r)
{
	switch (sort_by) {
	case SORT_MSGS: return r->f.msgs_c2s + r->f.msgs_s2c;
	case SORT_START: return r->f.start_ns;
	case SORT_LAST: return r->f.last_ns;
	case SORT_RTT: return r->f.srtt_us;
	case SORT_RETRANS: return r->f.retrans;
	case SORT_BYTES:
	default: return r->f.bytes_c2s + r->f.bytes_s2c;
	}
}

static int row_cmp(const void *a, const void *b)
{
	uint64_t va = sort_value(a), vb = sort_value(b);

	return va < vb ? 1 : va > vb ? -1 : 0;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void print_json(const struct table *t)
{
	uint64_t now = now_ns();

	printf("[");
	for (size_t i = 0; i < t->n; i++) {
		const struct row *r = &t->rows[i];
		const struct skiff_flow *f = &r->f;
		char c[64], s[64], o[64];

		fmt_endpoint(c, sizeof(c), r->key.family, r->key.saddr, r->key.sport);
		fmt_endpoint(s, sizeof(s), r->key.family, r->key.daddr, r->key.dport);
		fmt_endpoint(o, sizeof(o), r->key.family, f->orig_daddr, f->orig_dport);
		printf("%s\n  {\"instance\": \"%s\", \"kind\": \"%s\", \"client\": \"%s\", \"server\": \"%s\", "
		       "\"orig_dst\": \"%s\", \"state\": \"%s\", \"age_s\": %.3f, "
		       "\"start_ns\": %llu, \"last_ns\": %llu, \"closed_ns\": %llu, \"cgroup_id\": %llu, "
		       "\"bytes_c2s\": %llu, \"bytes_s2c\": %llu, \"msgs_c2s\": %llu, \"msgs_s2c\": %llu, "
		       "\"redir_bytes_c2s\": %llu, \"redir_bytes_s2c\": %llu, \"retrans\": %u, "
		       "\"srtt_us\": %u, \"accelerated\": %s, \"fallback_c2s\": %s, \"fallback_s2c\": %s}",
		       i ? "," : "", r->instance, kind_name(f->kind), c, s, o,
		       f->flags & SKIFF_FLOW_F_CLOSED ? "closed" : "open",
		       (double)(now - f->start_ns) / 1e9, (unsigned long long)f->start_ns,
		       (unsigned long long)f->last_ns, (unsigned long long)f->closed_ns,
		       (unsigned long long)f->cgroup_id, (unsigned long long)f->bytes_c2s,
		       (unsigned long long)f->bytes_s2c, (unsigned long long)f->msgs_c2s,
		       (unsigned long long)f->msgs_s2c, (unsigned long long)f->redir_bytes_c2s,
		       (unsigned long long)f->redir_bytes_s2c, f->retrans, f->srtt_us,
		       (f->flags & (SKIFF_FLOW_F_ACCEL_CLIENT | SKIFF_FLOW_F_ACCEL_SERVER)) ==
				       (SKIFF_FLOW_F_ACCEL_CLIENT | SKIFF_FLOW_F_ACCEL_SERVER)
			       ? "true" : "false",
		       f->flags & SKIFF_FLOW_F_FALLBACK_C2S ? "true" : "false",
		       f->flags & SKIFF_FLOW_F_FALLBACK_S2C ? "true" : "false");
	}
	printf("%s]\n", t->n ? "\n" : "");
}

static void print_table(const struct table *t, bool show_instance)
{
	uint64_t now = now_ns();

	if (show_instance)
		printf("%-12s ", "INSTANCE");
	printf("%-8s %-22s %-22s %-22s %-6s %8s %12s %12s %13s %5s %5s %8s\n", "KIND", "CLIENT", "SERVER",
	       "ORIGINAL-DST", "STATE", "AGE", "BYTES-C2S", "BYTES-S2C", "MSGS", "REDIR", "RETR", "SRTT");
	for (size_t i = 0; i < t->n; i++) {
		const struct row *r = &t->rows[i];
		const struct skiff_flow *f = &r->f;
		uint64_t bytes = f->bytes_c2s + f->bytes_s2c;
		char c[64], s[64], o[64], msgs[32], redir[8], srtt[16];

		fmt_endpoint(c, sizeof(c), r->key.family, r->key.saddr, r->key.sport);
		fmt_endpoint(s, sizeof(s), r->key.family, r->key.daddr, r->key.dport);
		fmt_endpoint(o, sizeof(o), r->key.family, f->orig_daddr, f->orig_dport);
		snprintf(msgs, sizeof(msgs), "%llu/%llu", (unsigned long long)f->msgs_c2s,
			 (unsigned long long)f->msgs_s2c);
		if (bytes)
			snprintf(redir, sizeof(redir), "%llu%%",
				 (unsigned long long)((f->redir_bytes_c2s + f->redir_bytes_s2c) * 100 / bytes));
		else
			snprintf(redir, sizeof(redir), "-");
		if (f->srtt_us)
			snprintf(srtt, sizeof(srtt), "%uus", f->srtt_us);
		else
			snprintf(srtt, sizeof(srtt), "-");
		if (show_instance)
			printf("%-12s ", r->instance);
		printf("%-8s %-22s %-22s %-22s %-6s %7.1fs %12llu %12llu %13s %5s %5u %8s\n",
		       kind_name(f->kind), c, s, o, f->flags & SKIFF_FLOW_F_CLOSED ? "closed" : "open",
		       (double)(now - f->start_ns) / 1e9, (unsigned long long)f->bytes_c2s,
		       (unsigned long long)f->bytes_s2c, msgs, redir, f->retrans, srtt);
	}
}

static int usage(const char *fmt, const char *arg)
{
	fprintf(stderr, "skiff flows: ");
	fprintf(stderr, fmt, arg);
	fputc('\n', stderr);
	fputs(flows_usage, stderr);
	return BPF_CLI_USAGE;
}

int flows_cli_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "instance", required_argument, NULL, 'i' }, { "sort", required_argument, NULL, 's' },
		{ "port", required_argument, NULL, 'p' },     { "addr", required_argument, NULL, 'a' },
		{ "open", no_argument, NULL, 'o' },           { "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },           { 0 },
	};
	static const char *const sort_names[] = { "bytes", "msgs", "start", "last", "rtt", "retrans" };
	struct filter flt = { 0 };
	struct table t = { 0 };
	const char *instance = NULL;
	bool json = false;
	int c, rc = 0, n_inst = 0;

	sort_by = SORT_BYTES;
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		char *end;
		unsigned long v;
		size_t i;

		switch (c) {
		case 'i':
			if (!bpf_instance_name_ok(optarg))
				return usage("bad instance name \"%s\"", optarg);
			instance = optarg;
			break;
		case 's':
			for (i = 0; i < sizeof(sort_names) / sizeof(sort_names[0]); i++)
				if (!strcmp(optarg, sort_names[i]))
					break;
			if (i == sizeof(sort_names) / sizeof(sort_names[0]))
				return usage("unknown sort key \"%s\"", optarg);
			sort_by = (enum sort_key)i;
			break;
		case 'p':
			errno = 0;
			v = strtoul(optarg, &end, 10);
			if (errno || *end || !*optarg || v == 0 || v > 65535)
				return usage("bad port \"%s\"", optarg);
			flt.by_port = true;
			flt.port = (uint16_t)v;
			break;
		case 'a':
			flt.by_addr = true;
			if (inet_pton(AF_INET, optarg, flt.addr) == 1)
				flt.family = SKIFF_AF_INET;
			else if (inet_pton(AF_INET6, optarg, flt.addr) == 1)
				flt.family = SKIFF_AF_INET6;
			else
				return usage("bad address \"%s\"", optarg);
			break;
		case 'o': flt.open_only = true; break;
		case 'j': json = true; break;
		case 'h': fputs(flows_usage, stdout); return BPF_CLI_OK;
		default: return usage("unknown option \"%s\"", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return usage("unexpected argument \"%s\"", argv[optind]);

	if (instance) {
		rc = load_instance(&t, instance, &flt);
		n_inst = 1;
		if (rc == -ENOENT) {
			fprintf(stderr, "skiff flows: instance \"%s\" is not attached\n", instance);
			free(t.rows);
			return BPF_CLI_FAIL;
		}
	} else {
		DIR *d = opendir(SKIFF_PIN_ROOT);
		struct dirent *de;

		while (d && (de = readdir(d)) && rc == 0) {
			if (de->d_name[0] == '.' || !bpf_instance_name_ok(de->d_name))
				continue;
			rc = load_instance(&t, de->d_name, &flt);
			n_inst++;
		}
		if (d)
			closedir(d);
	}
	if (rc < 0) {
		fprintf(stderr, "skiff flows: reading flows: %s\n", strerror(-rc));
		free(t.rows);
		return BPF_CLI_FAIL;
	}
	qsort(t.rows, t.n, sizeof(*t.rows), row_cmp);
	if (json)
		print_json(&t);
	else if (n_inst == 0)
		printf("skiff flows: no instance attached (nothing under %s)\n", SKIFF_PIN_ROOT);
	else
		print_table(&t, n_inst > 1);
	free(t.rows);
	return BPF_CLI_OK;
}
