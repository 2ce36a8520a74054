/* The node's pods from a directory of descriptors; see pod_registry.h. */
#include "node/pod_registry.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bpf/pod_cgroup.h"
#include "certs/spiffe.h"
#include "certs/tls_context.h"
#include "proxy/log.h"
#include "proxy/netns.h"
#include "proxy/sock_addr.h"
#include "xds/translate_workload.h"

#define DEFAULT_INSTANCE_PREFIX "node"
#define DEFAULT_CERTS_DIR "/var/run/skiff/certs"

/* Names (uids) already logged as waiting, so each wait is logged once. */
struct name_set {
	char **v;
	size_t n;
};

struct entry {
	char *file; /* descriptor file name: what identifies it in the directory */
	struct pod pod;
	struct bpf_datapath *dp; /* NULL: served without capture */
	char instance[SKIFF_INSTANCE_MAX];
	char *leaf; /* NULL: no leaf cgroup bound */
};

struct pod_registry {
	const struct node_opts *o;
	int ifd;
	bool swept; /* instances left by an earlier run removed */
	struct entry *pods;
	size_t n;
	struct xds_workload *workloads; /* of this node, from xDS */
	size_t n_workloads;
	struct name_set waiting_pods;      /* descriptors without an identity */
	struct name_set waiting_workloads; /* workloads without a descriptor */
};

/* A descriptor as read in one scan. */
struct scanned {
	char *file;
	struct pod pod;
};

int pod_registry_open(const struct node_opts *o, struct pod_registry **out, char *err,
		      size_t errlen)
{
	struct stat st;
	int e = stat(o->pods_dir, &st) < 0 ? errno : S_ISDIR(st.st_mode) ? 0 : ENOTDIR;
	if (e) {
		snprintf(err, errlen, "pods directory %s: %s", o->pods_dir, strerror(e));
		return -e;
	}
	struct pod_registry *r = calloc(1, sizeof(*r));
	if (!r) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	r->o = o;
	r->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	/* Writers should write a temporary file and rename it in (MOVED_TO);
	 * CLOSE_WRITE also catches one written in place. */
	if (r->ifd < 0 || inotify_add_watch(r->ifd, o->pods_dir,
					    IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM |
						IN_DELETE | IN_CREATE) < 0) {
		e = errno;
		snprintf(err, errlen, "watching %s: %s", o->pods_dir, strerror(e));
		if (r->ifd >= 0)
			close(r->ifd);
		free(r);
		return -e;
	}
	*out = r;
	return 0;
}

int pod_registry_fd(const struct pod_registry *r)
{
	return r->ifd;
}

size_t pod_registry_count(const struct pod_registry *r)
{
	return r->n;
}

const struct pod *pod_registry_pod(const struct pod_registry *r, size_t i)
{
	return &r->pods[i].pod;
}

const struct node_opts *pod_registry_opts(const struct pod_registry *r)
{
	return r->o;
}

/* ---- reading the directory ---- */

static char *read_small_file(const char *path, size_t *len, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	char *buf = NULL;
	if (!S_ISREG(st.st_mode) || st.st_size > (off_t)POD_DESC_MAX_BYTES) {
		snprintf(err, errlen, "%s: %s", path,
			 S_ISREG(st.st_mode) ? "larger than 64 KiB" : "not a regular file");
	} else if (!(buf = malloc((size_t)st.st_size + 1))) {
		snprintf(err, errlen, "%s: out of memory", path);
	} else {
		ssize_t n = read(fd, buf, (size_t)st.st_size + 1);
		if (n < 0 || n > st.st_size) {
			snprintf(err, errlen, "%s: %s", path,
				 n < 0 ? strerror(errno) : "changed while read");
			free(buf);
			buf = NULL;
		} else {
			*len = (size_t)n;
		}
	}
	close(fd);
	return buf;
}

static int by_file(const void *a, const void *b)
{
	return strcmp(((const struct scanned *)a)->file, ((const struct scanned *)b)->file);
}

/* Reads every descriptor of the directory (names starting with '.' are
 * writers' temporary files) into *out, sorted by name; bad ones are logged
 * and skipped. Returns how many, or -errno. */
static int scan(const struct pod_registry *r, struct scanned **out)
{
	DIR *d = opendir(r->o->pods_dir);
	if (!d) {
		log_error("pods directory %s: %s", r->o->pods_dir, strerror(errno));
		return -errno;
	}
	struct scanned *v = calloc(POD_REGISTRY_MAX, sizeof(*v));
	size_t n = 0;
	struct dirent *e;
	while (v && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		if (n == POD_REGISTRY_MAX) {
			log_warn(
			    "pods directory %s: more than %d descriptors; %s and later left out",
			    r->o->pods_dir, POD_REGISTRY_MAX, e->d_name);
			break;
		}
		char path[PATH_MAX], err[PATH_MAX + 512];
		size_t len = 0;
		snprintf(path, sizeof(path), "%s/%s", r->o->pods_dir, e->d_name);
		char *text = read_small_file(path, &len, err, sizeof(err));
		int (*parse)(const char *, size_t, const char *, struct pod *, char *, size_t) =
		    r->o->xds_identity ? pod_parse_partial : pod_parse;
		if (!text || parse(text, len, path, &v[n].pod, err, sizeof(err)) < 0) {
			log_warn("pod descriptor not served: %s", err);
			free(text);
			continue;
		}
		free(text);
		if (!(v[n].file = strdup(e->d_name))) {
			pod_clear(&v[n].pod);
			continue;
		}
		n++;
	}
	closedir(d);
	if (!v)
		return -ENOMEM;
	qsort(v, n, sizeof(*v), by_file);
	*out = v;
	return (int)n;
}

/* ---- identities from xDS ---- */

static void names_clear(struct name_set *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	*s = (struct name_set){0};
}

static bool names_have(const struct name_set *s, const char *name)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->v[i], name) == 0)
			return true;
	return false;
}

/* Adds name to s (bounded by the caller's count). Returns whether it was
 * not in `before`: the wait is new and is logged. */
static bool names_note(struct name_set *s, const struct name_set *before, const char *name)
{
	char *c = strdup(name);
	if (c)
		s->v[s->n++] = c;
	return !names_have(before, name);
}

static bool same_ip(const char *a, const char *b)
{
	struct sock_addr x, y;
	return sock_addr_parse(a, 0, &x) == 0 && sock_addr_parse(b, 0, &y) == 0 &&
	       sock_addr_equal(&x, &y);
}

/* The workload of p: the one with its uid, else one with its IP, else one
 * with its namespace and name (istiod keys workloads by
 * "<cluster>//Pod/<ns>/<name>", not by the pod's metadata.uid). */
static const struct xds_workload *workload_of(const struct pod_registry *r, const struct pod *p)
{
	for (size_t i = 0; i < r->n_workloads; i++)
		if (strcmp(r->workloads[i].uid, p->uid) == 0)
			return &r->workloads[i];
	for (size_t i = 0; p->ip && i < r->n_workloads; i++)
		for (size_t j = 0; j < r->workloads[i].n_addresses; j++)
			if (same_ip(r->workloads[i].addresses[j], p->ip))
				return &r->workloads[i];
	for (size_t i = 0; p->name && p->namespace && i < r->n_workloads; i++)
		if (strcmp(r->workloads[i].name, p->name) == 0 &&
		    strcmp(r->workloads[i].namespace, p->namespace) == 0)
			return &r->workloads[i];
	return NULL;
}

static int set_str(char **slot, const char *v)
{
	char *c = v ? strdup(v) : NULL;
	if (v && !c)
		return -ENOMEM;
	free(*slot);
	*slot = c;
	return 0;
}

/* The workload's identity over the descriptor's; its IP too, unless the
 * descriptor's is one of the workload's. */
static int overlay(struct pod *p, const struct xds_workload *w)
{
	bool ip_known = false;
	for (size_t j = 0; p->ip && j < w->n_addresses; j++)
		ip_known = ip_known || same_ip(w->addresses[j], p->ip);
	int rc = set_str(&p->name, w->name);
	if (rc == 0)
		rc = set_str(&p->namespace, w->namespace);
	if (rc == 0)
		rc = set_str(&p->service_account, w->service_account);
	if (rc == 0)
		rc = set_str(&p->trust_domain, w->trust_domain);
	if (rc == 0 && w->n_addresses && !ip_known)
		rc = set_str(&p->ip, w->addresses[0]);
	return rc;
}

/* The certificates of the pod's identity in the certificates directory. */
static int identity_files(const struct pod_registry *r, struct pod *p)
{
	const char *dir = r->o->certs_dir ? r->o->certs_dir : DEFAULT_CERTS_DIR;
	static const char *const names[3] = {"cert.pem", "key.pem", "ca.pem"};
	char **slots[3] = {&p->cert, &p->key, &p->ca};
	for (int i = 0; i < 3; i++)
		if (asprintf(slots[i], "%s/%s/%s/%s", dir, p->namespace, p->service_account,
			     names[i]) < 0) {
			*slots[i] = NULL;
			return -ENOMEM;
		}
	return 0;
}

/* Completes each descriptor of v with its workload. Those that still lack
 * an identity are dropped (logged once); so are workloads no descriptor
 * claims. Returns how many of v are left, in order. */
static int resolve_all(struct pod_registry *r, struct scanned *v, size_t n)
{
	struct name_set pods = {calloc(n + 1, sizeof(char *)), 0};
	struct name_set wls = {calloc(r->n_workloads + 1, sizeof(char *)), 0};
	bool *claimed = calloc(r->n_workloads + 1, sizeof(bool));
	size_t kept = 0;
	for (size_t i = 0; i < n; i++) {
		struct pod *p = &v[i].pod;
		const struct xds_workload *w = workload_of(r, p);
		int rc = w ? overlay(p, w) : 0;
		if (w && claimed)
			claimed[w - r->workloads] = true;
		if (rc == 0 && !p->name) {
			if (pods.v && names_note(&pods, &r->waiting_pods, p->uid))
				log_info("pod %s (%s): waits for its workload from the control "
					 "plane (the descriptor names no identity)",
					 p->uid, v[i].file);
			rc = -EAGAIN;
		}
		if (rc == 0 && !p->cert)
			rc = identity_files(r, p);
		if (rc == -ENOMEM)
			log_error("pod %s (%s): out of memory", p->uid, v[i].file);
		if (rc < 0) {
			pod_clear(p);
			free(v[i].file);
			continue;
		}
		v[kept++] = v[i];
	}
	for (size_t i = 0; claimed && wls.v && i < r->n_workloads; i++) {
		const struct xds_workload *w = &r->workloads[i];
		if (!claimed[i] && names_note(&wls, &r->waiting_workloads, w->uid))
			log_info("workload %s/%s (%s): waits for its network namespace (no pod "
				 "descriptor names it)",
				 w->namespace, w->name, w->uid);
	}
	free(claimed);
	names_clear(&r->waiting_pods);
	names_clear(&r->waiting_workloads);
	r->waiting_pods = pods;
	r->waiting_workloads = wls;
	return (int)kept;
}

static void workloads_free(struct xds_workload *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		xds_workload_clear(&v[i]);
	free(v);
}

static int workload_copy(struct xds_workload *dst, const struct xds_workload *src)
{
	*dst = *src;
	dst->uid = strdup(src->uid);
	dst->name = strdup(src->name);
	dst->namespace = strdup(src->namespace);
	dst->service_account = strdup(src->service_account);
	dst->trust_domain = src->trust_domain ? strdup(src->trust_domain) : NULL;
	dst->node = src->node ? strdup(src->node) : NULL;
	if (!dst->uid || !dst->name || !dst->namespace || !dst->service_account ||
	    (src->trust_domain && !dst->trust_domain) || (src->node && !dst->node)) {
		xds_workload_clear(dst);
		return -ENOMEM;
	}
	return 0;
}

int pod_registry_set_workloads(struct pod_registry *r, const struct xds_workload *v, size_t n,
			       char *err, size_t errlen)
{
	const char *node = r->o->node_name;
	struct xds_workload *mine = calloc(n + 1, sizeof(*mine));
	size_t k = 0;
	for (size_t i = 0; mine && i < n; i++) {
		if (!node || !v[i].node || strcmp(v[i].node, node) != 0)
			continue;
		if (workload_copy(&mine[k], &v[i]) < 0) {
			workloads_free(mine, k);
			mine = NULL;
			break;
		}
		k++;
	}
	if (!mine) {
		snprintf(err, errlen, "workloads: out of memory");
		return -ENOMEM;
	}
	workloads_free(r->workloads, r->n_workloads);
	r->workloads = mine;
	r->n_workloads = k;
	return 0;
}

/* ---- setting a pod up and tearing it down ---- */

/* Loads the pod's identity and checks it is the pod's service account's:
 * the descriptor's author could otherwise hand a pod anyone's certificate
 * files. */
static int check_identity(const struct pod *p, char *err, size_t errlen)
{
	struct tls_identity *id = NULL;
	int rc = tls_identity_load(p->cert, p->key, p->ca, &id, err, errlen);
	if (rc < 0)
		return rc;
	char want[600];
	struct spiffe_id sid;
	pod_spiffe_path(p, want, sizeof(want));
	if (spiffe_workload_id_parse(id->spiffe_id, id->spiffe_id_len, &sid) != SPIFFE_OK ||
	    sid.path_len != strlen(want) || memcmp(sid.path, want, sid.path_len) != 0) {
		snprintf(err, errlen, "certificate %s is for %.*s, not for path %s", p->cert,
			 (int)id->spiffe_id_len, id->spiffe_id, want);
		rc = -EPERM;
	} else if (p->trust_domain && (sid.td_len != strlen(p->trust_domain) ||
				       memcmp(sid.td, p->trust_domain, sid.td_len) != 0)) {
		snprintf(err, errlen, "certificate %s is for %.*s, not of trust domain %s", p->cert,
			 (int)id->spiffe_id_len, id->spiffe_id, p->trust_domain);
		rc = -EPERM;
	}
	tls_identity_unref(id);
	return rc;
}

/* The pod's cgroup: the descriptor's, or the one named for its uid. */
static int pod_cgroup(const struct pod_registry *r, const struct pod *p, char *out, size_t len,
		      char *err, size_t errlen)
{
	if (p->cgroup)
		return snprintf(out, len, "%s", p->cgroup) < (int)len ? 0 : -ENAMETOOLONG;
	char root[PATH_MAX];
	if (r->o->cgroup_root)
		snprintf(root, sizeof(root), "%s", r->o->cgroup_root);
	else if (bpf_find_mount("cgroup2", NULL, root, sizeof(root)) < 0)
		return snprintf(err, errlen, "cgroup v2 is not mounted"), -ENOENT;
	return pod_cgroup_find(root, p->uid, out, len, err, errlen);
}

static void attach_datapath(const struct pod_registry *r, struct entry *e, const char *cgroup)
{
	struct bpf_attach_opts o = r->o->bpf_opts;
	const char *prefix = o.instance ? o.instance : DEFAULT_INSTANCE_PREFIX;
	snprintf(e->instance, sizeof(e->instance), "%s-%s", prefix, e->pod.uid);
	o.instance = e->instance;
	o.cgroup_path = cgroup;
	o.netns_path = e->pod.netns;
	char why[512];
	if (bpf_datapath_attach(&o, &e->dp, why, sizeof(why)) < 0) {
		log_warn("pod %s/%s: eBPF datapath not attached, served without capture: %s",
			 e->pod.namespace, e->pod.name, why);
		e->dp = NULL;
	}
}

/* A leaf cgroup under the pod's for the helper that opens skiff's
 * listening sockets (proxy/netns.h). A leaf of its own, not the pod's
 * directory: a kubelet's pod cgroup has controllers enabled for its
 * containers, and cgroup v2 allows no process beside children there. */
static void bind_leaf(struct entry *e, const char *cgroup)
{
	int rc = 0;
	if (asprintf(&e->leaf, "%s/%s", cgroup, POD_LEAF_CGROUP) < 0) {
		e->leaf = NULL;
		rc = -ENOMEM;
	}
	if (rc == 0)
		rc = mkdir(e->leaf, 0755) < 0 && errno != EEXIST ? -errno : 0;
	if (rc == 0)
		rc = netns_bind_cgroup(e->pod.netns, e->leaf);
	if (rc < 0) {
		log_warn("pod %s/%s: leaf cgroup under %s: %s; its listeners open outside its "
			 "cgroup, so captured outbound connections lose their original destination",
			 e->pod.namespace, e->pod.name, cgroup, strerror(-rc));
		if (e->leaf)
			rmdir(e->leaf);
		free(e->leaf);
		e->leaf = NULL;
	}
}

/* Sets e up. Returns 0, or -errno when the pod cannot be served at all. */
static int setup(const struct pod_registry *r, struct entry *e)
{
	char err[768], cgroup[PATH_MAX];
	const struct pod *p = &e->pod;
	int rc = check_identity(p, err, sizeof(err));
	if (rc < 0) {
		log_error("pod %s/%s not served: %s", p->namespace, p->name, err);
		return rc;
	}
	if (pod_cgroup(r, p, cgroup, sizeof(cgroup), err, sizeof(err)) < 0) {
		log_warn("pod %s/%s: %s; served without capture", p->namespace, p->name, err);
	} else {
		bind_leaf(e, cgroup);
		if (r->o->bpf)
			attach_datapath(r, e, cgroup);
	}
	log_info("pod %s/%s (%s): serving in %s%s%s", p->namespace, p->name, p->uid, p->netns,
		 e->dp ? ", eBPF instance " : "", e->dp ? e->instance : "");
	return 0;
}

static void teardown(struct entry *e)
{
	const struct pod *p = &e->pod;
	if (e->leaf) {
		netns_unbind_cgroup(p->netns);
		if (rmdir(e->leaf) < 0 && errno != ENOENT)
			log_warn("pod %s/%s: removing %s: %s", p->namespace, p->name, e->leaf,
				 strerror(errno));
		free(e->leaf);
	}
	if (e->dp) {
		char err[256];
		bpf_datapath_close(e->dp);
		/* By name, not through the handle: an instance adopted from an
		 * earlier run of the daemon is ours to remove too. */
		if (bpf_datapath_detach_instance(e->instance, err, sizeof(err)) < 0)
			log_warn("pod %s/%s: detaching eBPF instance %s: %s", p->namespace, p->name,
				 e->instance, err);
	}
	log_info("pod %s/%s (%s): removed", p->namespace, p->name, p->uid);
	free(e->file);
	pod_clear(&e->pod);
}

/* Whether `p` collides with a pod already served: the same uid, name or
 * network namespace would make two sets of listeners fight. */
static const char *collision(const struct pod_registry *r, const struct pod *p)
{
	for (size_t i = 0; i < r->n; i++) {
		const struct pod *q = &r->pods[i].pod;
		if (strcmp(q->uid, p->uid) == 0)
			return "uid";
		if (strcmp(q->namespace, p->namespace) == 0 && strcmp(q->name, p->name) == 0)
			return "namespace/name";
		if (strcmp(q->netns, p->netns) == 0)
			return "netns";
	}
	return NULL;
}

/* Removes instances with our prefix that no pod owns: what a daemon that
 * died without cleaning up left behind. Once, after the first scan. */
static void sweep_stale_instances(const struct pod_registry *r)
{
	const char *prefix =
	    r->o->bpf_opts.instance ? r->o->bpf_opts.instance : DEFAULT_INSTANCE_PREFIX;
	size_t plen = strlen(prefix);
	DIR *d = opendir(SKIFF_PIN_ROOT);
	struct dirent *de;
	while (d && (de = readdir(d))) {
		if (strncmp(de->d_name, prefix, plen) != 0 || de->d_name[plen] != '-' ||
		    !bpf_instance_name_ok(de->d_name))
			continue;
		bool owned = false;
		for (size_t i = 0; i < r->n && !owned; i++)
			owned = strcmp(r->pods[i].instance, de->d_name) == 0;
		if (!owned && bpf_datapath_detach_instance(de->d_name, NULL, 0) == 0)
			log_info("removed eBPF instance %s left by an earlier run", de->d_name);
	}
	if (d)
		closedir(d);
}

/* A descriptor that changed only its certificates or IP keeps its datapath
 * and leaf cgroup: its listening sockets may be kept too (same name and
 * namespace), and they are registered with this datapath. Takes *p when it
 * returns true. */
static bool update_in_place(struct entry *e, struct pod *p)
{
	const struct pod *old = &e->pod;
	bool same_cgroup = (!old->cgroup && !p->cgroup) ||
			   (old->cgroup && p->cgroup && strcmp(old->cgroup, p->cgroup) == 0);
	if (strcmp(old->uid, p->uid) != 0 || strcmp(old->netns, p->netns) != 0 || !same_cgroup ||
	    strcmp(old->namespace, p->namespace) != 0 || strcmp(old->name, p->name) != 0)
		return false;
	char err[768];
	if (check_identity(p, err, sizeof(err)) < 0) {
		log_error("pod %s/%s: new descriptor refused, keeping the old one: %s",
			  p->namespace, p->name, err);
		pod_clear(p); /* the old settings stay until the descriptor is fixed */
		return true;
	}
	pod_clear(&e->pod);
	e->pod = *p;
	memset(p, 0, sizeof(*p));
	log_info("pod %s/%s (%s): descriptor or workload changed", e->pod.namespace, e->pod.name,
		 e->pod.uid);
	return true;
}

static void drain_events(int ifd)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	while (read(ifd, buf, sizeof(buf)) > 0)
		;
}

static struct scanned *find_scanned(struct scanned *v, size_t n, const char *file)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i].file, file) == 0)
			return &v[i];
	return NULL;
}

int pod_registry_refresh(struct pod_registry *r)
{
	drain_events(r->ifd);
	struct scanned *v = NULL;
	int n = scan(r, &v);
	if (n < 0)
		return 0; /* keep serving what we have */
	if (r->o->xds_identity)
		n = resolve_all(r, v, (size_t)n);
	int changes = 0;
	size_t kept = 0;
	for (size_t i = 0; i < r->n; i++) {
		struct scanned *s = find_scanned(v, (size_t)n, r->pods[i].file);
		if (s && pod_equal(&s->pod, &r->pods[i].pod)) {
			r->pods[kept++] = r->pods[i];
			continue;
		}
		if (s && update_in_place(&r->pods[i], &s->pod)) {
			r->pods[kept++] = r->pods[i];
			changes++;
			continue;
		}
		teardown(&r->pods[i]);
		changes++;
	}
	r->n = kept;
	if (!r->pods)
		r->pods = calloc(POD_REGISTRY_MAX, sizeof(*r->pods));
	for (int i = 0; i < n; i++) {
		bool have = false;
		for (size_t j = 0; j < r->n && !have; j++)
			have = strcmp(r->pods[j].file, v[i].file) == 0;
		const char *clash = have ? NULL : collision(r, &v[i].pod);
		if (clash)
			log_error("pod %s/%s (%s) not served: its %s is already served by another "
				  "descriptor",
				  v[i].pod.namespace, v[i].pod.name, v[i].file, clash);
		if (have || clash || !r->pods) {
			pod_clear(&v[i].pod);
			free(v[i].file);
			continue;
		}
		struct entry *e = &r->pods[r->n];
		*e = (struct entry){.file = v[i].file, .pod = v[i].pod};
		if (setup(r, e) < 0) {
			free(e->file);
			pod_clear(&e->pod);
			continue;
		}
		r->n++;
		changes++;
	}
	free(v);
	if (!r->swept && r->o->bpf) {
		sweep_stale_instances(r);
		r->swept = true;
	}
	return changes;
}

void pod_registry_gc(struct pod_registry *r, uint64_t linger_ns)
{
	for (size_t i = 0; i < r->n; i++)
		if (r->pods[i].dp)
			bpf_datapath_gc(r->pods[i].dp, linger_ns);
}

void pod_registry_close(struct pod_registry *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n; i++)
		teardown(&r->pods[i]);
	free(r->pods);
	workloads_free(r->workloads, r->n_workloads);
	names_clear(&r->waiting_pods);
	names_clear(&r->waiting_workloads);
	close(r->ifd);
	free(r);
}
