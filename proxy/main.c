/* skiff: the one binary. Subcommands dispatch here; `run` is the proxy.
 * Exit codes: 0 ok, 2 usage or configuration error, 1 runtime failure.
 *
 * This file is where the modules meet: it is the one place in proxy/ that
 * includes xds/ (to start the client and give it config_source's build and
 * the publish below), so the rest of proxy/ never depends on xds. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "bpf/cli.h"
#include "certs/cli.h"
#include "deploy/inject_cli.h"
#include "node/node_config.h"
#include "node/pod_registry.h"
#include "proxy/admin.h"
#include "proxy/config_source.h"
#include "proxy/duration.h"
#include "proxy/istio_metrics.h"
#include "proxy/log.h"
#include "proxy/loop.h"
#include "proxy/snapshot.h"
#include "proxy/sock_addr.h"
#include "proxy/stats.h"
#include "proxy/tls_setup.h"
#include "proxy/worker.h"
#include "xds/ads.h"

#define EXIT_USAGE 2
#define EXIT_RUNTIME 1

#ifndef SKIFF_VERSION
#define SKIFF_VERSION "unknown"
#endif

struct run_opts {
	const char *config_path;
	unsigned concurrency;
	uint32_t drain_timeout_ms;
	bool validate_only;
	int prometheus_port; /* 0: off */
	int health_port;     /* 0: off */
	/* Sidecar shape: attach the eBPF datapath at start, detach at exit.
	 * NULL cgroup: capture is someone else's (`skiff bpf attach` as an
	 * init step, or iptables). */
	struct bpf_attach_opts bpf;
	/* Node shape (--node): every pod of the pods directory, each with its
	 * own datapath instance ("<--bpf-instance>-<uid>", default "node-"). */
	bool node;
	bool instance_set;
	struct node_opts node_opts;
};

/* Long-only options of the node shape. */
enum { OPT_NODE = 0x4e00, OPT_PODS_DIR, OPT_CGROUP_ROOT, OPT_ACCESS_LOG, OPT_NODE_NAME,
       OPT_CERTS_DIR };

/* Main-thread state the admin hooks read. */
static struct snapshot *main_snap;
static bool draining;
static uint64_t drain_deadline_ms;
static uint32_t drain_timeout_ms;

static const struct snapshot *hook_snapshot(void)
{
	return main_snap;
}

static bool hook_draining(void)
{
	return draining;
}

static void start_drain(const char *why)
{
	if (draining)
		return;
	draining = true;
	drain_deadline_ms = loop_now_ms() + drain_timeout_ms;
	log_info("%s: draining, %u connections open, up to %ums", why, workers_live_sessions(),
		 drain_timeout_ms);
	workers_drain();
}

static void hook_quit(void)
{
	start_drain("/quitquitquit");
}

/* Appends a malloc'd piece (taken) to a malloc'd string; NULL pieces are
 * skipped, a failed append drops the piece. */
static void append(char **out, size_t *len, char *piece, size_t piece_len)
{
	char *joined = piece ? realloc(*out, *len + piece_len + 1) : NULL;
	if (joined) {
		memcpy(joined + *len, piece, piece_len + 1);
		*out = joined;
		*len += piece_len;
	}
	free(piece);
}

static char *hook_extra_metrics(bool prometheus, size_t *len)
{
	char *out = calloc(1, 1);
	size_t n;
	*len = 0;
	if (!out)
		return NULL;
	char *piece = tls_setup_expiry_metrics(main_snap, time(NULL), prometheus, &n);
	append(&out, len, piece, n);
	piece = ads_metrics(prometheus, &n);
	append(&out, len, piece, n);
	if (prometheus) {
		piece = istio_metrics_prometheus(&n);
		append(&out, len, piece, n);
	}
	return out;
}

static const struct admin_hooks hooks = { hook_snapshot, hook_draining, hook_quit,
					  hook_extra_metrics, ads_config_dump };

static struct bpf_datapath *datapath; /* attached by this process, or NULL */
static struct pod_registry *pods;      /* node shape, or NULL */

#define FLOW_GC_INTERVAL_MS 5000
#define FLOW_LINGER_NS (30ull * 1000000000ull)

/* Ages closed flows out of the per-flow map, which has a bound. */
static void collect_flows(void)
{
	static uint64_t next;
	uint64_t now = loop_now_ms();
	if ((!datapath && !pods) || now < next)
		return;
	next = now + FLOW_GC_INTERVAL_MS;
	if (datapath)
		bpf_datapath_gc(datapath, FLOW_LINGER_NS);
	if (pods)
		pod_registry_gc(pods, FLOW_LINGER_NS);
}

#define EXPIRY_WARNING_SECONDS (24 * 3600)
#define EXPIRY_CHECK_MS (60 * 1000)

/* Warns, once a minute, while a certificate in use expires within a day:
 * rotation should have replaced it long before. */
static void check_expiry(void)
{
	static uint64_t next_check;
	uint64_t now = loop_now_ms();
	if (now < next_check)
		return;
	next_check = now + EXPIRY_CHECK_MS;
	int64_t left = tls_setup_first_expiry(main_snap, time(NULL));
	if (left < 0)
		log_warn("a certificate in use has expired %lld s ago", (long long)-left);
	else if (left < EXPIRY_WARNING_SECONDS)
		log_warn("a certificate in use expires in %lld s", (long long)left);
}

/* Makes snap (whose reference this takes) the configuration: workers take
 * it up at their next turn, connections open under the old one keep it. */
static void publish(struct snapshot *snap)
{
	snapshot_ref(snap);
	if (snapshot_publish(snap) < 0) {
		log_error("new configuration not applied: statistics could not be registered");
		snapshot_unref(snap);
		return;
	}
	snapshot_unref(main_snap);
	main_snap = snap;
	workers_notify();
	log_info("configuration version %llu applied", (unsigned long long)snap->version);
}

/* Node shape: the bootstrap, then every pod's listeners and clusters, then
 * what xDS sent. The embedded default is a sidecar's: its listeners would
 * open in the node's own namespace, so only its admin settings are kept. */
static int node_dynamic(struct snapshot *snap, char *err, size_t errlen, void *arg)
{
	if (strcmp(snap->source, "<embedded>") == 0)
		node_config_drop_host_listeners(snap);
	int rc = node_config_add(snap, pods, err, errlen);
	return rc < 0 ? rc : ads_add_resources(snap, err, errlen, arg);
}

/* Node shape with ADS: the control plane's workloads complete the pods'
 * descriptors (ads_hooks.workloads); the ADS client builds and publishes
 * the snapshot that follows. */
static int node_workloads(const struct xds_workload *v, size_t n, char *err, size_t errlen)
{
	int rc = pod_registry_set_workloads(pods, v, n, err, errlen);
	if (rc == 0)
		pod_registry_refresh(pods);
	return rc;
}

/* A pod descriptor came, changed or went: serve the pods as they are now. */
static void on_pods_changed(struct io *io, uint32_t events)
{
	(void)io;
	(void)events;
	if (pod_registry_refresh(pods) == 0)
		return;
	char err[512];
	struct snapshot *snap = config_source_build(err, sizeof(err));
	if (!snap) {
		log_error("pods changed but the configuration was not rebuilt: %s", err);
		return;
	}
	publish(snap);
}

/* Node shape: what the descriptors may leave to xDS depends on the
 * bootstrap (an ads_config), so the pods are read once it is loaded, and
 * *snap is rebuilt with them. Returns 0, or -1 with err. */
static int node_first_pods(struct node_opts *no, struct snapshot **snap, char *err,
			   size_t errlen)
{
	static char *node_name; /* outlives the bootstrap snapshot */
	no->xds_identity = (*snap)->ads.cluster_name != NULL;
	if (no->xds_identity && !no->node_name) {
		free(node_name);
		node_name = strdup((*snap)->node.id ? (*snap)->node.id : "");
		if (!node_name) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		no->node_name = node_name;
	}
	if (pod_registry_refresh(pods) == 0)
		return 0;
	struct snapshot *with_pods = config_source_build(err, errlen);
	if (!with_pods)
		return -1;
	snapshot_unref(*snap);
	*snap = with_pods;
	return 0;
}

static void usage_run(FILE *f)
{
	fprintf(f,
		"usage: skiff run [options]\n"
		"Runs the proxy. With no -c, an embedded configuration makes skiff a transparent\n"
		"passthrough sidecar: outbound 15001, inbound 15006, admin 127.0.0.1:15000.\n\n"
		"  -c, --config FILE        Envoy v3 bootstrap YAML\n"
		"      --mode validate      check the configuration and exit (0 valid, 2 not)\n"
		"      --concurrency N      worker threads (default: one per core)\n"
		"      --log-level LEVEL    trace, debug, info, warn, error, off (default info)\n"
		"      --drain-timeout DUR  on SIGTERM, wait this long for open connections (default 5s)\n"
		"      --prometheus-port N  Prometheus /stats/prometheus on 0.0.0.0:N (default 15090, 0 off)\n"
		"      --health-port N      /healthz/ready on 0.0.0.0:N (default 15021, 0 off)\n"
		"      --bpf-cgroup PATH    attach the eBPF datapath to this cgroup v2 now, detach at exit\n"
		"      --bpf-netns PATH     ... and steer inbound connections in this network namespace\n"
		"      --bpf-instance NAME  name of the pins under /sys/fs/bpf/skiff (default: default)\n"
		"      --sockmap on|off     sk_msg acceleration of app<->proxy hops (default off)\n"
		"      --proxy-uid N        the UID whose connections are never captured (default 1337)\n"
		"      --node               node shape: serve every pod of --pods-dir from this process,\n"
		"                           sockets in each pod's netns, its datapath on each pod's cgroup\n"
		"      --pods-dir DIR       pod descriptors, watched (default /var/run/skiff/pods)\n"
		"      --cgroup-root DIR    where to find a pod's cgroup by uid (default: cgroup2 mount)\n"
		"      --access-log PATH    node shape: the pods' access log (default /dev/stdout)\n"
		"      --node-name NAME     node shape with ADS: use the workloads of this node\n"
		"                           (default: the bootstrap's node.id)\n"
		"      --certs-dir DIR      node shape with ADS: certificates of identities from xDS,\n"
		"                           DIR/NS/SA/{cert,key,ca}.pem (default /var/run/skiff/certs)\n"
		"  -h, --help               this help\n");
}

static int parse_port(const char *s, int *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || *end || end == s || v < 0 || v > 65535)
		return -EINVAL;
	*out = (int)v;
	return 0;
}

static int parse_run_opts(int argc, char **argv, struct run_opts *o)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "mode", required_argument, NULL, 'm' },
		{ "concurrency", required_argument, NULL, 'n' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "drain-timeout", required_argument, NULL, 'd' },
		{ "prometheus-port", required_argument, NULL, 'p' },
		{ "health-port", required_argument, NULL, 'H' },
		{ "bpf-cgroup", required_argument, NULL, 'G' },
		{ "bpf-netns", required_argument, NULL, 'N' },
		{ "bpf-instance", required_argument, NULL, 'I' },
		{ "sockmap", required_argument, NULL, 'S' },
		{ "proxy-uid", required_argument, NULL, 'U' },
		{ "node", no_argument, NULL, OPT_NODE },
		{ "pods-dir", required_argument, NULL, OPT_PODS_DIR },
		{ "cgroup-root", required_argument, NULL, OPT_CGROUP_ROOT },
		{ "access-log", required_argument, NULL, OPT_ACCESS_LOG },
		{ "node-name", required_argument, NULL, OPT_NODE_NAME },
		{ "certs-dir", required_argument, NULL, OPT_CERTS_DIR },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	*o = (struct run_opts){ .concurrency = cpus > 0 ? (unsigned)cpus : 1,
				.drain_timeout_ms = 5000,
				.prometheus_port = 15090,
				.health_port = 15021 };
	bpf_attach_opts_init(&o->bpf);
	o->bpf.instance = "default";
	o->node_opts = (struct node_opts){ .pods_dir = "/var/run/skiff/pods",
					   .access_log = "/dev/stdout",
					   .bpf = true };
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
		char *end;
		switch (c) {
		case 'c':
			o->config_path = optarg;
			break;
		case 'm':
			if (strcmp(optarg, "validate") != 0 && strcmp(optarg, "serve") != 0) {
				fprintf(stderr, "skiff run: --mode: expected serve or validate\n");
				return -EINVAL;
			}
			o->validate_only = strcmp(optarg, "validate") == 0;
			break;
		case 'n':
			o->concurrency = (unsigned)strtoul(optarg, &end, 10);
			if (*end || o->concurrency < 1 || o->concurrency > 256) {
				fprintf(stderr, "skiff run: --concurrency: expected 1..256\n");
				return -EINVAL;
			}
			break;
		case 'l':
			if (log_level_parse(optarg, &log_min_level) < 0) {
				fprintf(stderr, "skiff run: --log-level: expected trace, debug, info, "
						"warn, error or off\n");
				return -EINVAL;
			}
			break;
		case 'd':
			if (duration_parse(optarg, &o->drain_timeout_ms) < 0) {
				fprintf(stderr, "skiff run: --drain-timeout: expected a duration like \"5s\"\n");
				return -EINVAL;
			}
			break;
		case 'p':
		case 'H':
			if (parse_port(optarg, c == 'p' ? &o->prometheus_port : &o->health_port) < 0) {
				fprintf(stderr, "skiff run: --%s: expected a port 0..65535\n",
					c == 'p' ? "prometheus-port" : "health-port");
				return -EINVAL;
			}
			break;
		case 'G':
			o->bpf.cgroup_path = optarg;
			break;
		case 'N':
			o->bpf.netns_path = optarg;
			break;
		case 'I':
			o->bpf.instance = optarg;
			o->instance_set = true;
			break;
		case OPT_NODE:
			o->node = true;
			break;
		case OPT_PODS_DIR:
			o->node_opts.pods_dir = optarg;
			break;
		case OPT_CGROUP_ROOT:
			o->node_opts.cgroup_root = optarg;
			break;
		case OPT_ACCESS_LOG:
			o->node_opts.access_log = optarg;
			break;
		case OPT_NODE_NAME:
			o->node_opts.node_name = optarg;
			break;
		case OPT_CERTS_DIR:
			o->node_opts.certs_dir = optarg;
			break;
		case 'S':
			if (strcmp(optarg, "on") != 0 && strcmp(optarg, "off") != 0) {
				fprintf(stderr, "skiff run: --sockmap: expected on or off\n");
				return -EINVAL;
			}
			o->bpf.sockmap = strcmp(optarg, "on") == 0;
			break;
		case 'U':
			o->bpf.proxy_uid = (uint32_t)strtoul(optarg, &end, 10);
			if (*end || !*optarg) {
				fprintf(stderr, "skiff run: --proxy-uid: expected a number\n");
				return -EINVAL;
			}
			break;
		case 'h':
			usage_run(stdout);
			return 1;
		default:
			usage_run(stderr);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "skiff run: unexpected argument '%s'\n", argv[optind]);
		return -EINVAL;
	}
	if (o->node && o->bpf.cgroup_path) {
		fprintf(stderr, "skiff run: --node attaches each pod's datapath itself; "
				"--bpf-cgroup is the sidecar's\n");
		return -EINVAL;
	}
	o->node_opts.bpf_opts = o->bpf;
	o->node_opts.bpf_opts.instance = o->instance_set ? o->bpf.instance : NULL;
	return 0;
}

static void raise_fd_limit(void)
{
	/* A proxy holds two descriptors per flow: take all the kernel allows. */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static int open_signals(void)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	/* Blocked before the workers start, so they inherit the mask and only
	 * the main thread's signalfd sees these. */
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	return signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
}

static void on_signal(struct io *io, uint32_t events)
{
	(void)events;
	struct signalfd_siginfo si;
	while (read(io->fd, &si, sizeof(si)) == sizeof(si))
		start_drain(si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
}

/* The Prometheus and health ports listen on every address, as Istio's do:
 * kubelet probes and scrapers come from outside the pod. Port 0: off. */
static int listen_public(struct loop *loop, int port, enum admin_role role, char *err,
			 size_t errlen)
{
	struct sock_addr addr;
	if (port == 0)
		return 0;
	sock_addr_parse("0.0.0.0", (uint32_t)port, &addr);
	return admin_listen(loop, &addr, role, &hooks, err, errlen);
}

static int start_admin(struct loop *loop, const struct run_opts *o)
{
	char err[256];
	if (admin_listen(loop, &main_snap->admin.addr, ADMIN_FULL, &hooks, err, sizeof(err)) < 0 ||
	    listen_public(loop, o->prometheus_port, ADMIN_PROMETHEUS, err, sizeof(err)) < 0 ||
	    listen_public(loop, o->health_port, ADMIN_HEALTH, err, sizeof(err)) < 0) {
		log_error("admin: %s", err);
		return -1;
	}
	return 0;
}

static int serve(const struct run_opts *o, struct snapshot *snap)
{
	int rc = EXIT_RUNTIME;
	struct loop loop = { .epfd = -1 };
	char err[256];
	struct io sig = { .fd = open_signals(), .cb = on_signal };
	struct io pods_io = { .fd = pods ? pod_registry_fd(pods) : -1, .cb = on_pods_changed };
	drain_timeout_ms = o->drain_timeout_ms;
	if (sig.fd < 0 || loop_init(&loop) < 0 || loop_add(&loop, &sig, EPOLLIN) < 0) {
		log_error("start-up: %s", strerror(errno));
		goto out;
	}
	if (stats_init(o->concurrency) < 0 || istio_metrics_init(o->concurrency) < 0) {
		log_error("start-up: out of memory");
		goto out;
	}
	snapshot_set_workers(o->concurrency);
	main_snap = snap;
	snapshot_ref(snap);
	if (snapshot_publish(snap) < 0) {
		log_error("start-up: cannot register statistics");
		goto out;
	}
	if (start_admin(&loop, o) < 0)
		goto out;
	/* Before the listeners exist: the datapath registers the inbound
	 * listener as it is created. A datapath that will not load is worth a
	 * warning, not an outage: the userspace path enforces the same mTLS
	 * and authorization (HARDENING.md). */
	if (o->bpf.cgroup_path) {
		char why[512];
		if (bpf_datapath_attach(&o->bpf, &datapath, why, sizeof(why)) < 0)
			log_warn("eBPF datapath not attached, serving without it: %s", why);
		else
			log_info("eBPF datapath attached to %s (instance %s, sockmap %s)",
				 o->bpf.cgroup_path, o->bpf.instance, o->bpf.sockmap ? "on" : "off");
	}
	if (pods && loop_add(&loop, &pods_io, EPOLLIN) < 0) {
		log_error("start-up: watching %s: %s", o->node_opts.pods_dir, strerror(errno));
		goto out;
	}
	if (workers_start(snap, o->concurrency, err, sizeof(err)) < 0) {
		log_error("start-up: %s", err);
		goto out;
	}
	if (config_source_watch(&loop, snap, publish, err, sizeof(err)) < 0) {
		/* The node shape has a certificate set per pod, more than the
		 * watcher's bound on a busy node: serve, rotate what is watched. */
		if (!pods) {
			log_error("start-up: watching certificates: %s", err);
			goto out;
		}
		log_warn("certificate rotation not watched for every pod: %s", err);
	}
	const struct ads_hooks ads_hooks = { config_source_build, publish,
					     pods && o->node_opts.xds_identity ? node_workloads
									       : NULL };
	if (ads_start(&loop, snap, &ads_hooks, err, sizeof(err)) < 0) {
		log_error("start-up: xDS: %s", err);
		goto out;
	}
	log_info("skiff %s serving %zu listeners with %u workers (config %s)", SKIFF_VERSION,
		 snap->n_listeners, o->concurrency, snap->source);
	for (;;) {
		loop_run_once(&loop, 100);
		snapshot_collect();
		config_source_tick();
		ads_tick();
		check_expiry();
		collect_flows();
		if (!draining)
			continue;
		unsigned open = workers_live_sessions();
		if (open == 0)
			break;
		if (loop_now_ms() >= drain_deadline_ms) {
			log_warn("drain timeout: closing %u connections", open);
			break;
		}
	}
	rc = 0;
out:
	workers_stop();
	if (datapath)
		bpf_datapath_detach(datapath);
	datapath = NULL;
	if (pods_io.fd >= 0)
		loop_del(&loop, &pods_io);
	pod_registry_close(pods);
	pods = NULL;
	ads_stop();
	config_source_close(&loop);
	admin_close_all(&loop);
	loop_close(&loop);
	if (sig.fd >= 0)
		close(sig.fd);
	snapshot_unref(main_snap);
	main_snap = NULL;
	snapshot_shutdown();
	stats_shutdown();
	istio_metrics_shutdown();
	log_info("exiting");
	return rc;
}

static int cmd_run(int argc, char **argv)
{
	struct run_opts o;
	int rc = parse_run_opts(argc, argv, &o);
	if (rc)
		return rc > 0 ? 0 : EXIT_USAGE;
	char err[1024];
	config_source_set_dynamic(ads_add_resources, NULL);
	if (o.node && !o.validate_only) {
		if (pod_registry_open(&o.node_opts, &pods, err, sizeof(err)) < 0) {
			fprintf(stderr, "skiff: %s\n", err);
			return EXIT_USAGE;
		}
		config_source_set_dynamic(node_dynamic, NULL);
	}
	struct snapshot *snap = config_source_load(o.config_path, err, sizeof(err));
	if (!snap) {
		fprintf(stderr, "skiff: %s\n", err);
		config_source_close(NULL);
		pod_registry_close(pods);
		pods = NULL;
		return EXIT_USAGE;
	}
	if (pods && node_first_pods(&o.node_opts, &snap, err, sizeof(err)) < 0) {
		fprintf(stderr, "skiff: %s\n", err);
		snapshot_unref(snap);
		config_source_close(NULL);
		pod_registry_close(pods);
		pods = NULL;
		return EXIT_USAGE;
	}
	if (o.validate_only) {
		printf("configuration '%s' OK\n", snap->source);
		snapshot_unref(snap);
		config_source_close(NULL);
		return 0;
	}
	raise_fd_limit();
	return serve(&o, snap);
}

static int cmd_version(int argc, char **argv)
{
	if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		printf("usage: skiff version\nPrints the version of this binary.\n");
		return 0;
	}
	if (argc > 1) {
		fprintf(stderr, "skiff version: unexpected argument '%s'\n", argv[1]);
		return EXIT_USAGE;
	}
	printf("skiff %s\n", SKIFF_VERSION);
	return 0;
}

struct command {
	const char *name;
	int (*main)(int argc, char **argv);
	const char *summary;
};

static const struct command commands[] = {
	{ "run", cmd_run, "run the proxy" },
	{ "bpf", bpf_cli_main, "attach, detach or show the eBPF datapath (capture, sockmap, flows)" },
	{ "flows", flows_cli_main, "the per-flow table the eBPF datapath keeps" },
	{ "certs", certs_cli_main, "a development CA for SPIFFE workload certificates" },
	{ "inject", inject_cli_main, "add the skiff sidecar to Kubernetes YAML (Pods, Deployments, ...)" },
	{ "version", cmd_version, "print the version" },
};

static void usage(FILE *f)
{
	fprintf(f, "usage: skiff COMMAND [options]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\n`skiff COMMAND --help` describes each.\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "--version") == 0)
		return cmd_version(1, argv + 1);
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].main(argc - 1, argv + 1);
	fprintf(stderr, "skiff: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return EXIT_USAGE;
}
