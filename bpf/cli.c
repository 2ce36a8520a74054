/* `skiff bpf attach|detach|status`: the datapath for people and for the
 * injected init container. See bpf/cli.h. */
#include "bpf/cli.h"
#include "bpf/pod_cgroup.h"

#include <dirent.h>
#include <limits.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>

static const char bpf_usage[] =
	"usage: skiff bpf <command> [options]\n"
	"\n"
	"commands:\n"
	"  attach   load the datapath and attach it to a pod's cgroup and netns\n"
	"  detach   detach an instance and remove its pins\n"
	"  status   what is attached where: programs, links, map fill, counters\n"
	"\n"
	"`skiff bpf <command> --help` lists the options of each.\n";

static const char attach_usage[] =
	"usage: skiff bpf attach [options]\n"
	"\n"
	"Captures the outbound connections of every process in the cgroup\n"
	"(cgroup/connect4+6, answered by SO_ORIGINAL_DST), steers inbound\n"
	"connections in the network namespace to the inbound listener (sk_lookup),\n"
	"and accelerates app<->proxy connections (sockops + sk_msg). Pinned under\n"
	SKIFF_PIN_ROOT "/<instance>: it stays attached after this command exits.\n"
	"Running it again with the same settings only updates the exclusions.\n"
	"\n"
	"  --instance NAME              instance name (default \"default\")\n"
	"  --cgroup PATH                cgroup v2 directory, absolute or relative to\n"
	"                               the cgroup2 mount (default: this process's)\n"
	"  --pod-uid UID                instead of --cgroup: the pod's cgroup, found by\n"
	"                               the pod's metadata.uid under --cgroup-root\n"
	"  --cgroup-root DIR            the host's cgroup v2 tree (default: the\n"
	"                               cgroup2 mount); for an init container, a\n"
	"                               read-only hostPath mount of it\n"
	"  --netns PATH                 network namespace file (default /proc/self/ns/net)\n"
	"  --proxy-uid UID              the proxy's uid, never captured (default 1337)\n"
	"  --outbound-port PORT         outbound listener (default 15001)\n"
	"  --inbound-port PORT          inbound listener (default 15006)\n"
	"  --sockmap on|off             sk_msg acceleration of app<->proxy bytes\n"
	"                               (default off: applications reading without\n"
	"                               a timeout can see EAGAIN; see docs/bpf.md)\n"
	"  --ipv6 on|off                capture native IPv6 (default off)\n"
	"  --redirect-window BYTES      unanswered bytes before a direction falls\n"
	"                               back to TCP (default 1048576)\n"
	"  --exclude-outbound-ports L   comma-separated ports that go direct\n"
	"  --exclude-inbound-ports L    ports not steered (default 15020,15021,15090)\n"
	"  --exclude-cidrs L            destination ranges that go direct\n"
	"  --include-cidrs L            capture only these ranges (default *)\n";

static const char detach_usage[] =
	"usage: skiff bpf detach [--instance NAME]\n"
	"\n"
	"Detaches every program of the instance (even links another process\n"
	"holds) and removes its pins. Detaching an instance that is not attached\n"
	"succeeds and says so.\n";

static const char status_usage[] =
	"usage: skiff bpf status [--instance NAME]\n"
	"\n"
	"Shows each attached instance (all of them without --instance): settings,\n"
	"programs and links with their ids, map fill and non-zero counters.\n";

static int usage_error(const char *usage, const char *fmt, const char *arg)
{
	if (fmt) {
		fprintf(stderr, "skiff bpf: ");
		fprintf(stderr, fmt, arg);
		fputc('\n', stderr);
	}
	fputs(usage, stderr);
	return BPF_CLI_USAGE;
}

static bool parse_onoff(const char *s, bool *out)
{
	if (!strcmp(s, "on") || !strcmp(s, "true") || !strcmp(s, "1"))
		*out = true;
	else if (!strcmp(s, "off") || !strcmp(s, "false") || !strcmp(s, "0"))
		*out = false;
	else
		return false;
	return true;
}

static bool parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!*s || *s == '-')
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v > max)
		return false;
	*out = v;
	return true;
}

enum {
	OPT_INSTANCE = 256, OPT_CGROUP, OPT_NETNS, OPT_UID, OPT_OUT_PORT, OPT_IN_PORT, OPT_SOCKMAP,
	OPT_IPV6, OPT_WINDOW, OPT_EX_OUT, OPT_EX_IN, OPT_EX_CIDRS, OPT_IN_CIDRS, OPT_HELP,
	OPT_POD_UID, OPT_CGROUP_ROOT,
};

static int cmd_attach(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "instance", required_argument, NULL, OPT_INSTANCE },
		{ "cgroup", required_argument, NULL, OPT_CGROUP },
		{ "pod-uid", required_argument, NULL, OPT_POD_UID },
		{ "cgroup-root", required_argument, NULL, OPT_CGROUP_ROOT },
		{ "netns", required_argument, NULL, OPT_NETNS },
		{ "proxy-uid", required_argument, NULL, OPT_UID },
		{ "outbound-port", required_argument, NULL, OPT_OUT_PORT },
		{ "inbound-port", required_argument, NULL, OPT_IN_PORT },
		{ "sockmap", required_argument, NULL, OPT_SOCKMAP },
		{ "ipv6", required_argument, NULL, OPT_IPV6 },
		{ "redirect-window", required_argument, NULL, OPT_WINDOW },
		{ "exclude-outbound-ports", required_argument, NULL, OPT_EX_OUT },
		{ "exclude-inbound-ports", required_argument, NULL, OPT_EX_IN },
		{ "exclude-cidrs", required_argument, NULL, OPT_EX_CIDRS },
		{ "include-cidrs", required_argument, NULL, OPT_IN_CIDRS },
		{ "help", no_argument, NULL, OPT_HELP },
		{ 0 },
	};
	struct bpf_attach_opts o;
	struct bpf_datapath *dp;
	char err[512], pod_cgroup[PATH_MAX], mount[PATH_MAX];
	const char *pod_uid = NULL, *cgroup_root = NULL;
	uint64_t v;
	int c, rc;

	bpf_attach_opts_init(&o);
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case OPT_INSTANCE: o.instance = optarg; break;
		case OPT_CGROUP: o.cgroup_path = optarg; break;
		case OPT_POD_UID: pod_uid = optarg; break;
		case OPT_CGROUP_ROOT: cgroup_root = optarg; break;
		case OPT_NETNS: o.netns_path = optarg; break;
		case OPT_UID:
			if (!parse_u64(optarg, UINT32_MAX - 1, &v))
				return usage_error(attach_usage, "bad --proxy-uid \"%s\"", optarg);
			o.proxy_uid = (uint32_t)v;
			break;
		case OPT_OUT_PORT:
		case OPT_IN_PORT:
			if (!parse_u64(optarg, 65535, &v) || v == 0)
				return usage_error(attach_usage, "bad port \"%s\"", optarg);
			*(c == OPT_OUT_PORT ? &o.outbound_port : &o.inbound_port) = (uint16_t)v;
			break;
		case OPT_SOCKMAP:
		case OPT_IPV6:
			if (!parse_onoff(optarg, c == OPT_SOCKMAP ? &o.sockmap : &o.ipv6))
				return usage_error(attach_usage, "want on or off, not \"%s\"", optarg);
			break;
		case OPT_WINDOW:
			if (!parse_u64(optarg, 1ull << 40, &v) || v == 0)
				return usage_error(attach_usage, "bad --redirect-window \"%s\"", optarg);
			o.redirect_window = v;
			break;
		case OPT_EX_OUT: o.exclude_outbound_ports = optarg; break;
		case OPT_EX_IN: o.exclude_inbound_ports = optarg; break;
		case OPT_EX_CIDRS: o.exclude_cidrs = optarg; break;
		case OPT_IN_CIDRS: o.include_cidrs = optarg; break;
		case OPT_HELP: fputs(attach_usage, stdout); return BPF_CLI_OK;
		default: return usage_error(attach_usage, "unknown option \"%s\"", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return usage_error(attach_usage, "unexpected argument \"%s\"", argv[optind]);
	if (pod_uid && o.cgroup_path)
		return usage_error(attach_usage, "%s", "--pod-uid and --cgroup name the cgroup twice");
	if (cgroup_root && !pod_uid)
		return usage_error(attach_usage, "%s", "--cgroup-root needs --pod-uid");
	if (pod_uid) {
		if (!cgroup_root && bpf_find_mount("cgroup2", NULL, mount, sizeof(mount)) < 0)
			return usage_error(attach_usage, "%s", "no cgroup2 mount: give --cgroup-root");
		if (!cgroup_root)
			cgroup_root = mount;
		rc = pod_cgroup_find(cgroup_root, pod_uid, pod_cgroup, sizeof(pod_cgroup), err,
				     sizeof(err));
		if (rc == -EINVAL)
			return usage_error(attach_usage, "%s", err);
		if (rc < 0) {
			fprintf(stderr, "skiff bpf attach: %s\n", err);
			return BPF_CLI_FAIL;
		}
		o.cgroup_path = pod_cgroup;
	}
	rc = bpf_datapath_attach(&o, &dp, err, sizeof(err));
	if (rc == -EINVAL && strstr(err, "bad "))
		return usage_error(attach_usage, "%s", err);
	if (rc < 0) {
		fprintf(stderr, "skiff bpf attach: %s\n", err);
		return BPF_CLI_FAIL;
	}
	printf("skiff bpf: instance \"%s\" %s\n", o.instance ? o.instance : SKIFF_DEFAULT_INSTANCE,
	       bpf_datapath_is_owner(dp) ? "attached" : "already attached; exclusions updated");
	bpf_datapath_close(dp); /* the pins keep it attached */
	return BPF_CLI_OK;
}

/* Parses `--instance NAME` and `--help`, the only options of detach and
 * status. Returns -1 to go on, or the exit code. */
static int parse_instance_only(int argc, char **argv, const char *usage, const char **instance)
{
	static const struct option opts[] = {
		{ "instance", required_argument, NULL, OPT_INSTANCE },
		{ "help", no_argument, NULL, OPT_HELP },
		{ 0 },
	};
	int c;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == OPT_INSTANCE) {
			*instance = optarg;
		} else if (c == OPT_HELP) {
			fputs(usage, stdout);
			return BPF_CLI_OK;
		} else {
			return usage_error(usage, "unknown option \"%s\"", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return usage_error(usage, "unexpected argument \"%s\"", argv[optind]);
	if (*instance && !bpf_instance_name_ok(*instance))
		return usage_error(usage, "bad instance name \"%s\"", *instance);
	return -1;
}

static int cmd_detach(int argc, char **argv)
{
	const char *instance = NULL;
	char err[512];
	int rc = parse_instance_only(argc, argv, detach_usage, &instance);

	if (rc >= 0)
		return rc;
	if (!instance)
		instance = SKIFF_DEFAULT_INSTANCE;
	rc = bpf_datapath_detach_instance(instance, err, sizeof(err));
	if (rc == -ENOENT) {
		printf("skiff bpf: instance \"%s\" was not attached\n", instance);
		return BPF_CLI_OK;
	}
	if (rc < 0) {
		fprintf(stderr, "skiff bpf detach: %s\n", err);
		return BPF_CLI_FAIL;
	}
	printf("skiff bpf: instance \"%s\" detached\n", instance);
	return BPF_CLI_OK;
}

/* ---- status ---- */

static const char *prog_type_name(uint32_t type)
{
	switch (type) {
	case BPF_PROG_TYPE_CGROUP_SOCK_ADDR: return "cgroup_sock_addr";
	case BPF_PROG_TYPE_CGROUP_SOCKOPT: return "cgroup_sockopt";
	case BPF_PROG_TYPE_SOCK_OPS: return "sock_ops";
	case BPF_PROG_TYPE_SK_LOOKUP: return "sk_lookup";
	case BPF_PROG_TYPE_SK_MSG: return "sk_msg";
	default: return "?";
	}
}

static void status_link(const char *dir, const char *name)
{
	char path[512];
	struct bpf_link_info li;
	struct bpf_prog_info pi;
	uint32_t len = sizeof(li);
	int fd, pfd;

	snprintf(path, sizeof(path), "%s/links/%s", dir, name);
	fd = bpf_obj_get(path);
	memset(&li, 0, sizeof(li));
	if (fd < 0 || bpf_obj_get_info_by_fd(fd, &li, &len) < 0) {
		printf("    %-11s missing (%s)\n", name, strerror(errno));
		if (fd >= 0)
			close(fd);
		return;
	}
	memset(&pi, 0, sizeof(pi));
	len = sizeof(pi);
	pfd = bpf_prog_get_fd_by_id(li.prog_id);
	if (pfd >= 0)
		bpf_obj_get_info_by_fd(pfd, &pi, &len);
	printf("    %-11s prog %-5u %-17s %-17s link %-5u ", name, li.prog_id, pi.name,
	       prog_type_name(pi.type), li.id);
	if (li.type == BPF_LINK_TYPE_CGROUP)
		printf("cgroup id %llu\n", (unsigned long long)li.cgroup.cgroup_id);
	else if (li.type == BPF_LINK_TYPE_NETNS)
		printf("netns inode %u\n", li.netns.netns_ino);
	else if (li.type == 14) /* BPF_LINK_TYPE_SOCKMAP, newer than our headers */
		printf("sockhash\n");
	else
		printf("type %u\n", li.type);
	if (pfd >= 0)
		close(pfd);
	close(fd);
}

static long map_entries(const char *dir, const char *name, size_t key_size)
{
	char path[512];
	unsigned char key[64], next[64];
	void *prev = NULL;
	long n = 0;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = bpf_obj_get(path);
	if (fd < 0)
		return -errno;
	while (key_size <= sizeof(key) && bpf_map_get_next_key(fd, prev, next) == 0) {
		memcpy(key, next, key_size);
		prev = key;
		n++;
	}
	close(fd);
	return n;
}

static int status_instance(const char *instance)
{
	static const char *const links[] = { "connect4", "connect6", "getsockopt", "sockops",
					     "sk_lookup", "sk_msg" };
	char dir[128], path[512], when[64];
	struct skiff_config cfg;
	struct bpf_datapath *dp;
	uint64_t counters[SKIFF_CNT__COUNT];
	uint32_t key = 0;
	uint64_t cookie;
	time_t t;
	char err[512];
	int fd, n_listeners;

	if (bpf_datapath_open(instance, &dp, err, sizeof(err)) < 0) {
		fprintf(stderr, "skiff bpf status: %s\n", err);
		return BPF_CLI_FAIL;
	}
	bpf_instance_dir(instance, dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/settings", dir);
	fd = bpf_obj_get(path);
	memset(&cfg, 0, sizeof(cfg));
	if (fd >= 0) {
		bpf_map_lookup_elem(fd, &key, &cfg);
		close(fd);
	}
	t = (time_t)cfg.attached_unix_s;
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
	printf("instance %s (%s)\n", instance, dir);
	printf("  cgroup      %s (id %llu)\n", cfg.cgroup_path, (unsigned long long)cfg.cgroup_id);
	printf("  netns       %s (inode %llu)\n", cfg.netns_path, (unsigned long long)cfg.netns_ino);
	printf("  proxy uid   %u  outbound %u  inbound %u  sockmap %s  ipv6 %s  redirect window %llu\n",
	       cfg.proxy_uid, cfg.outbound_port, cfg.inbound_port,
	       cfg.flags & SKIFF_CFG_SOCKMAP ? "on" : "off", cfg.flags & SKIFF_CFG_IPV6 ? "on" : "off",
	       (unsigned long long)cfg.redirect_window);
	printf("  attached    %s\n", when);
	printf("  programs\n");
	for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); i++) {
		snprintf(path, sizeof(path), "%s/links/%s", dir, links[i]);
		if (!strcmp(links[i], "sk_msg") && access(path, F_OK) < 0) {
			/* kernels without sockmap links: attached to the map */
			printf("    %-11s %s\n", links[i],
			       cfg.flags & SKIFF_CFG_SOCKMAP ? "attached to the sockhash (no link)" : "off");
			continue;
		}
		status_link(dir, links[i]);
	}
	printf("  maps\n");
	printf("    flows               %ld / %u\n", map_entries(dir, "flows", sizeof(struct skiff_tuple)),
	       SKIFF_FLOWS_MAX);
	printf("    excluded_ports_out  %ld\n", map_entries(dir, "excluded_ports_out", 2));
	printf("    excluded_ports_in   %ld\n", map_entries(dir, "excluded_ports_in", 2));
	printf("    excluded_cidrs      %ld\n", map_entries(dir, "excluded_cidrs", sizeof(struct skiff_cidr_key)));
	printf("    included_cidrs      %ld\n", map_entries(dir, "included_cidrs", sizeof(struct skiff_cidr_key)));
	snprintf(path, sizeof(path), "%s/inbound_listener", dir);
	fd = bpf_obj_get(path);
	n_listeners = 0;
	for (uint32_t slot = 0; fd >= 0 && slot < SKIFF_INBOUND_SLOTS; slot++)
		n_listeners += bpf_map_lookup_elem(fd, &slot, &cookie) == 0;
	if (n_listeners)
		printf("    inbound_listener    %d socket(s)\n", n_listeners);
	else
		printf("    inbound_listener    none (inbound connections are refused)\n");
	if (fd >= 0)
		close(fd);
	printf("  counters\n");
	if (bpf_datapath_counters(dp, counters) == 0)
		for (unsigned c = 0; c < SKIFF_CNT__COUNT; c++)
			if (counters[c])
				printf("    %-22s %llu\n", bpf_counter_label(c), (unsigned long long)counters[c]);
	bpf_datapath_close(dp);
	return BPF_CLI_OK;
}

static int cmd_status(int argc, char **argv)
{
	const char *instance = NULL;
	struct dirent *de;
	int rc = parse_instance_only(argc, argv, status_usage, &instance), n = 0;
	DIR *d;

	if (rc >= 0)
		return rc;
	if (instance)
		return status_instance(instance);
	d = opendir(SKIFF_PIN_ROOT);
	if (d) {
		while ((de = readdir(d))) {
			if (de->d_name[0] == '.' || !bpf_instance_name_ok(de->d_name))
				continue;
			if (n++)
				putchar('\n');
			if (status_instance(de->d_name) != BPF_CLI_OK)
				rc = BPF_CLI_FAIL;
		}
		closedir(d);
	}
	if (n == 0)
		printf("skiff bpf: no instance attached (nothing under %s)\n", SKIFF_PIN_ROOT);
	return rc == BPF_CLI_FAIL ? BPF_CLI_FAIL : BPF_CLI_OK;
}

int bpf_cli_main(int argc, char **argv)
{
	if (argc < 2)
		return usage_error(bpf_usage, NULL, NULL);
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		fputs(bpf_usage, stdout);
		return BPF_CLI_OK;
	}
	if (!strcmp(argv[1], "attach"))
		return cmd_attach(argc - 1, argv + 1);
	if (!strcmp(argv[1], "detach"))
		return cmd_detach(argc - 1, argv + 1);
	if (!strcmp(argv[1], "status"))
		return cmd_status(argc - 1, argv + 1);
	return usage_error(bpf_usage, "unknown command \"%s\"", argv[1]);
}
