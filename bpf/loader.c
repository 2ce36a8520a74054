/* The loader: open -> set rodata -> load -> attach -> pin, and the way back.
 * The only owner of the skiff_bpf skeleton. See bpf/datapath.h. */
#include "bpf/datapath.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/magic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpf/skiff.skel.h"

#ifndef CAP_BPF
#define CAP_BPF 39
#endif
#ifndef NSFS_MAGIC
#define NSFS_MAGIC 0x6e736673
#endif

/* Pin paths are short by construction (instance names are <= 63 chars). */
#define PIN_DIR_MAX  128
#define PIN_PATH_MAX 512

#define DEFAULT_EXCLUDE_INBOUND "15020,15021,15090"
#define DEFAULT_REDIRECT_WINDOW (1ull << 20)

struct bpf_datapath {
	char instance[SKIFF_INSTANCE_MAX];
	bool owned;          /* detach the instance when the handle is freed */
	int flows_fd;
	int counters_fd;
	int listener_fd;
};

/* Maps pinned under the instance directory; the rest (orig_dst, sock_state,
 * sockhash) live as long as the programs that use them. */
static const char *const pinned_maps[] = {
	"flows", "counters", "settings", "inbound_listener", "excluded_ports_out",
	"excluded_ports_in", "excluded_cidrs", "included_cidrs",
};

static const char *const counter_labels[] = {
#define X(name, label, help) label,
	SKIFF_COUNTERS(X)
#undef X
};
static const char *const counter_helps[] = {
#define X(name, label, help) help,
	SKIFF_COUNTERS(X)
#undef X
};
_Static_assert(sizeof(counter_labels) / sizeof(counter_labels[0]) == SKIFF_CNT__COUNT,
	       "one label per counter");

const char *bpf_counter_label(unsigned c)
{
	return c < SKIFF_CNT__COUNT ? counter_labels[c] : NULL;
}

const char *bpf_counter_help(unsigned c)
{
	return c < SKIFF_CNT__COUNT ? counter_helps[c] : NULL;
}

__attribute__((format(printf, 4, 5)))
static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return rc;
}

bool bpf_instance_name_ok(const char *name)
{
	size_t n = name ? strlen(name) : 0;

	if (n == 0 || n >= SKIFF_INSTANCE_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-'))
			return false;
	}
	return true;
}

int bpf_instance_dir(const char *instance, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s/%s", SKIFF_PIN_ROOT, instance ? instance : SKIFF_DEFAULT_INSTANCE);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

void bpf_attach_opts_init(struct bpf_attach_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->proxy_uid = SKIFF_DEFAULT_PROXY_UID;
	o->outbound_port = SKIFF_DEFAULT_OUTBOUND_PORT;
	o->inbound_port = SKIFF_DEFAULT_INBOUND_PORT;
	/* Off by default: on this kernel a blocking read of a socket in a
	 * sockmap can return EAGAIN on a wakeup that brought no data, which
	 * breaks applications that read without a timeout (docs/bpf.md). */
	o->sockmap = false;
}

/* libbpf speaks through here: warnings (verifier logs included) go to
 * stderr; SKIFF_BPF_DEBUG=1 shows the rest. */
static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	static int debug = -1;

	if (debug < 0)
		debug = getenv("SKIFF_BPF_DEBUG") != NULL;
	if (level != LIBBPF_WARN && !debug)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

/* ---- prerequisites: capabilities, bpffs, cgroup v2, netns, kernel ---- */

static bool has_cap(const struct __user_cap_data_struct d[2], int cap)
{
	return d[cap / 32].effective & (1u << (cap % 32));
}

static int check_caps(char *err, size_t errlen)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2];

	memset(d, 0, sizeof(d));
	if (syscall(SYS_capget, &hdr, d) < 0)
		return fail(err, errlen, -errno, "reading capabilities: %s", strerror(errno));
	if (has_cap(d, CAP_SYS_ADMIN))
		return 0;
	if (!has_cap(d, CAP_BPF))
		return fail(err, errlen, -EPERM,
			    "CAP_BPF missing (loading BPF needs CAP_BPF and CAP_NET_ADMIN, or CAP_SYS_ADMIN)");
	if (!has_cap(d, CAP_NET_ADMIN))
		return fail(err, errlen, -EPERM,
			    "CAP_NET_ADMIN missing (attaching to a cgroup and a netns needs it)");
	return 0;
}

int bpf_find_mount(const char *fstype, const char *want_dir, char *out, size_t len)
{
	char line[4096], dev[256], dir[2048], type[64];
	FILE *f = fopen("/proc/mounts", "re");
	int rc = -ENOENT;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%255s %2047s %63s", dev, dir, type) != 3)
			continue;
		if (strcmp(type, fstype) || (want_dir && strcmp(dir, want_dir)))
			continue;
		if ((size_t)snprintf(out, len, "%s", dir) >= len) {
			rc = -ENAMETOOLONG;
			break;
		}
		rc = 0;
		break;
	}
	fclose(f);
	return rc;
}

static int ensure_bpffs(char *err, size_t errlen)
{
	char dir[PATH_MAX];

	if (bpf_find_mount("bpf", SKIFF_BPFFS, dir, sizeof(dir)) == 0)
		return 0;
	if (mkdir(SKIFF_BPFFS, 0700) < 0 && errno != EEXIST)
		return fail(err, errlen, -errno, "creating %s: %s", SKIFF_BPFFS, strerror(errno));
	if (mount("bpf", SKIFF_BPFFS, "bpf", 0, "mode=0700") < 0)
		return fail(err, errlen, -errno, "bpffs not mounted at %s and mounting it failed: %s",
			    SKIFF_BPFFS, strerror(errno));
	return 0;
}

/* The caller's own cgroup v2 path, relative to the cgroup2 mount. */
static int self_cgroup(char *out, size_t len)
{
	char line[4096];
	FILE *f = fopen("/proc/self/cgroup", "re");
	int rc = -ENOENT;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "0::", 3))
			continue;
		line[strcspn(line, "\n")] = '\0';
		rc = (size_t)snprintf(out, len, "%s", line + 3) >= len ? -ENAMETOOLONG : 0;
		break;
	}
	fclose(f);
	return rc;
}

/* Opens the cgroup v2 directory for `path` (NULL: the caller's cgroup):
 * absolute paths inside a cgroup2 mount are used as they are, anything else
 * is taken relative to the cgroup2 mount found in /proc/mounts. Returns the
 * fd, with the resolved path in `resolved`, or -errno with a message. */
static int open_cgroup(const char *path, char *resolved, size_t len, char *err, size_t errlen)
{
	char mnt[PATH_MAX], rel[PATH_MAX];
	struct statfs sfs;
	int fd, rc;

	if (bpf_find_mount("cgroup2", NULL, mnt, sizeof(mnt)) < 0)
		return fail(err, errlen, -ENOENT, "cgroup v2 not mounted (no cgroup2 entry in /proc/mounts)");
	if (!path) {
		rc = self_cgroup(rel, sizeof(rel));
		if (rc < 0)
			return fail(err, errlen, rc, "no cgroup v2 entry in /proc/self/cgroup");
		path = rel;
	}
	if (path[0] == '/' && statfs(path, &sfs) == 0 && sfs.f_type == CGROUP2_SUPER_MAGIC)
		rc = snprintf(resolved, len, "%s", path);
	else
		rc = snprintf(resolved, len, "%s/%s", mnt, path[0] == '/' ? path + 1 : path);
	if (rc < 0 || (size_t)rc >= len)
		return fail(err, errlen, -ENAMETOOLONG, "cgroup path too long");
	if (resolved[strlen(resolved) - 1] == '/' && strlen(resolved) > 1)
		resolved[strlen(resolved) - 1] = '\0';
	fd = open(resolved, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return fail(err, errlen, -errno, "cgroup %s: %s", resolved, strerror(errno));
	if (fstatfs(fd, &sfs) < 0 || sfs.f_type != CGROUP2_SUPER_MAGIC) {
		close(fd);
		return fail(err, errlen, -ENOTDIR, "%s is not a cgroup v2 directory (cgroup2 is at %s)",
			    resolved, mnt);
	}
	return fd;
}

static int open_netns(const char *path, char *err, size_t errlen)
{
	struct statfs sfs;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return fail(err, errlen, -errno, "network namespace %s: %s", path, strerror(errno));
	if (fstatfs(fd, &sfs) < 0 || sfs.f_type != NSFS_MAGIC) {
		close(fd);
		return fail(err, errlen, -EINVAL, "%s is not a namespace file", path);
	}
	return fd;
}

static int check_kernel(bool sockmap, char *err, size_t errlen)
{
	static const struct {
		enum bpf_prog_type type;
		const char *what;
	} progs[] = {
		{ BPF_PROG_TYPE_CGROUP_SOCK_ADDR, "cgroup/connect4 (BPF_PROG_TYPE_CGROUP_SOCK_ADDR, Linux 4.17+)" },
		{ BPF_PROG_TYPE_CGROUP_SOCKOPT, "cgroup/getsockopt (Linux 5.3+)" },
		{ BPF_PROG_TYPE_SOCK_OPS, "sockops (Linux 4.13+)" },
		{ BPF_PROG_TYPE_SK_LOOKUP, "sk_lookup (Linux 5.9+)" },
		{ BPF_PROG_TYPE_SK_MSG, "sk_msg (Linux 4.17+)" },
	};
	static const struct {
		enum bpf_map_type type;
		const char *what;
	} maps[] = {
		{ BPF_MAP_TYPE_SK_STORAGE, "socket storage maps (Linux 5.2+)" },
		{ BPF_MAP_TYPE_SOCKHASH, "sockhash maps (Linux 4.18+)" },
		{ BPF_MAP_TYPE_LPM_TRIE, "LPM trie maps (Linux 4.11+)" },
	};

	for (size_t i = 0; i < sizeof(progs) / sizeof(progs[0]); i++) {
		if (progs[i].type == BPF_PROG_TYPE_SK_MSG && !sockmap)
			continue;
		if (libbpf_probe_bpf_prog_type(progs[i].type, NULL) == 0)
			return fail(err, errlen, -EOPNOTSUPP, "%s not supported by this kernel",
				    progs[i].what);
	}
	for (size_t i = 0; i < sizeof(maps) / sizeof(maps[0]); i++)
		if (libbpf_probe_bpf_map_type(maps[i].type, NULL) == 0)
			return fail(err, errlen, -EOPNOTSUPP, "%s not supported by this kernel",
				    maps[i].what);
	return 0;
}

/* ---- exclusion lists ---- */

/* Parses "p1,p2,..." into ports[]. Returns the count or -EINVAL. */
static int parse_ports(const char *list, uint16_t *ports, size_t max, char *err, size_t errlen)
{
	const char *p = list;
	size_t n = 0;

	while (p && *p) {
		char *end;
		unsigned long v;

		if (*p == ',') {
			p++;
			continue;
		}
		errno = 0;
		v = strtoul(p, &end, 10);
		if (errno || end == p || v == 0 || v > 65535 || (*end && *end != ','))
			return fail(err, errlen, -EINVAL, "bad port in \"%s\" at \"%s\"", list, p);
		if (n == max)
			return fail(err, errlen, -E2BIG, "more than %zu ports in \"%s\"", max, list);
		ports[n++] = (uint16_t)v;
		p = end;
	}
	return (int)n;
}

/* Parses one "addr[/len]" into an LPM key (IPv4 as ::ffff:a.b.c.d/96+len). */
static int parse_cidr(const char *s, size_t slen, struct skiff_cidr_key *k)
{
	char buf[INET6_ADDRSTRLEN + 8], *slash;
	unsigned long plen;
	struct in_addr a4;
	bool v4;

	if (slen == 0 || slen >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, slen);
	buf[slen] = '\0';
	memset(k, 0, sizeof(*k));
	if (!strcmp(buf, "*")) {
		k->prefixlen = 0; /* ::/0 matches every address */
		return 0;
	}
	slash = strchr(buf, '/');
	if (slash)
		*slash = '\0';
	v4 = inet_pton(AF_INET, buf, &a4) == 1;
	if (v4) {
		k->addr[10] = 0xff;
		k->addr[11] = 0xff;
		memcpy(k->addr + 12, &a4, 4);
	} else if (inet_pton(AF_INET6, buf, k->addr) != 1) {
		return -EINVAL;
	}
	plen = v4 ? 32 : 128;
	if (slash) {
		char *end;

		errno = 0;
		plen = strtoul(slash + 1, &end, 10);
		if (errno || end == slash + 1 || *end || plen > (v4 ? 32u : 128u))
			return -EINVAL;
	}
	k->prefixlen = (uint32_t)plen + (v4 ? 96 : 0);
	return 0;
}

static int parse_cidrs(const char *list, struct skiff_cidr_key *keys, size_t max, char *err,
		       size_t errlen)
{
	const char *p = list;
	size_t n = 0;

	while (p && *p) {
		size_t len = strcspn(p, ",");

		if (len) {
			if (n == max)
				return fail(err, errlen, -E2BIG, "more than %zu ranges in \"%s\"", max, list);
			if (parse_cidr(p, len, &keys[n]) < 0)
				return fail(err, errlen, -EINVAL, "bad address range \"%.*s\" in \"%s\"",
					    (int)len, p, list);
			n++;
		}
		p += len;
		if (*p == ',')
			p++;
	}
	return (int)n;
}

/* Makes map `fd` hold exactly keys[0..n): new keys first, stale ones after,
 * so a change never opens a window with fewer exclusions than either set. */
static int map_sync(int fd, const void *keys, size_t n, size_t ksize)
{
	unsigned char cur[sizeof(struct skiff_cidr_key)], next[sizeof(struct skiff_cidr_key)];
	unsigned char stale[SKIFF_CIDRS_MAX][sizeof(struct skiff_cidr_key)];
	size_t n_stale = 0;
	uint8_t one = 1;
	void *prev = NULL;

	for (size_t i = 0; i < n; i++)
		if (bpf_map_update_elem(fd, (const char *)keys + i * ksize, &one, BPF_ANY) < 0)
			return -errno;
	while (bpf_map_get_next_key(fd, prev, next) == 0) {
		bool keep = false;

		for (size_t i = 0; i < n && !keep; i++)
			keep = !memcmp(next, (const char *)keys + i * ksize, ksize);
		if (!keep && n_stale < SKIFF_CIDRS_MAX)
			memcpy(stale[n_stale++], next, ksize);
		memcpy(cur, next, ksize);
		prev = cur;
	}
	for (size_t i = 0; i < n_stale; i++)
		bpf_map_delete_elem(fd, stale[i]);
	return 0;
}

struct exclusions {
	uint16_t ports_out[SKIFF_EXCLUDED_PORTS_MAX];
	uint16_t ports_in[SKIFF_EXCLUDED_PORTS_MAX];
	struct skiff_cidr_key excluded[SKIFF_CIDRS_MAX];
	struct skiff_cidr_key included[SKIFF_CIDRS_MAX];
	int n_out, n_in, n_excluded, n_included;
};

static int exclusions_parse(const struct bpf_attach_opts *o, struct exclusions *x, char *err,
			    size_t errlen)
{
	const char *in = o->exclude_inbound_ports ? o->exclude_inbound_ports : DEFAULT_EXCLUDE_INBOUND;
	const char *incl = o->include_cidrs && *o->include_cidrs ? o->include_cidrs : "*";

	x->n_out = parse_ports(o->exclude_outbound_ports, x->ports_out, SKIFF_EXCLUDED_PORTS_MAX, err, errlen);
	if (x->n_out < 0)
		return x->n_out;
	x->n_in = parse_ports(in, x->ports_in, SKIFF_EXCLUDED_PORTS_MAX, err, errlen);
	if (x->n_in < 0)
		return x->n_in;
	x->n_excluded = parse_cidrs(o->exclude_cidrs, x->excluded, SKIFF_CIDRS_MAX, err, errlen);
	if (x->n_excluded < 0)
		return x->n_excluded;
	x->n_included = parse_cidrs(incl, x->included, SKIFF_CIDRS_MAX, err, errlen);
	return x->n_included < 0 ? x->n_included : 0;
}

static const char *const exclusion_maps[] = { "excluded_ports_out", "excluded_ports_in",
					      "excluded_cidrs", "included_cidrs" };

/* Writes the four exclusion maps, fds in exclusion_maps[] order. */
static int exclusions_write(const int fds[4], const struct exclusions *x, char *err, size_t errlen)
{
	const void *keys[] = { x->ports_out, x->ports_in, x->excluded, x->included };
	const size_t n[] = { (size_t)x->n_out, (size_t)x->n_in, (size_t)x->n_excluded,
			     (size_t)x->n_included };
	const size_t ksize[] = { sizeof(uint16_t), sizeof(uint16_t), sizeof(struct skiff_cidr_key),
				 sizeof(struct skiff_cidr_key) };

	for (size_t i = 0; i < 4; i++) {
		int rc = map_sync(fds[i], keys[i], n[i], ksize[i]);

		if (rc < 0)
			return fail(err, errlen, rc, "updating %s: %s", exclusion_maps[i], strerror(-rc));
	}
	return 0;
}

/* Writes the exclusion maps of the instance pinned at `dir`. */
static int exclusions_apply(const char *dir, const struct exclusions *x, char *err, size_t errlen)
{
	char path[PIN_PATH_MAX];
	int fds[4] = { -1, -1, -1, -1 }, rc = 0;

	for (size_t i = 0; i < 4 && rc == 0; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, exclusion_maps[i]);
		fds[i] = bpf_obj_get(path);
		if (fds[i] < 0)
			rc = fail(err, errlen, -errno, "opening %s: %s", path, strerror(errno));
	}
	if (rc == 0)
		rc = exclusions_write(fds, x, err, errlen);
	for (size_t i = 0; i < 4; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	return rc;
}

/* ---- pins ---- */

/* Detaches every link pinned in `dir`/links and removes every pin and the
 * directories. Links are detached through BPF_LINK_DETACH, so a process
 * still holding one (a `skiff run` that attached) loses it too. */
static int remove_pins(const char *dir)
{
	char links[PIN_DIR_MAX + 8], path[PIN_PATH_MAX];
	struct dirent *de;
	DIR *d;
	int rc = 0;

	snprintf(links, sizeof(links), "%s/links", dir);
	d = opendir(links);
	if (d) {
		while ((de = readdir(d))) {
			int fd;

			if (de->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "%s/%s", links, de->d_name);
			fd = bpf_obj_get(path);
			if (fd >= 0) {
				bpf_link_detach(fd);
				close(fd);
			}
			if (unlink(path) < 0 && errno != ENOENT)
				rc = -errno;
		}
		closedir(d);
		if (rmdir(links) < 0 && errno != ENOENT)
			rc = -errno;
	}
	d = opendir(dir);
	if (!d)
		return errno == ENOENT ? rc : -errno;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.' && (!de->d_name[1] || !strcmp(de->d_name, "..")))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (unlink(path) < 0 && errno != ENOENT)
			rc = -errno;
	}
	closedir(d);
	if (rmdir(dir) < 0 && errno != ENOENT)
		rc = -errno;
	return rc;
}

static int staging_dir(const char *instance, char *buf, size_t len)
{
	/* '@' cannot appear in an instance name, so this never collides with
	 * one (and bpffs refuses '.' in names). */
	int n = snprintf(buf, len, "%s/%s@staging", SKIFF_PIN_ROOT, instance);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int bpf_datapath_detach_instance(const char *instance, char *err, size_t errlen)
{
	char dir[PIN_DIR_MAX], stage[PIN_DIR_MAX];
	struct stat st;
	int rc;

	if (!instance)
		instance = SKIFF_DEFAULT_INSTANCE;
	if (!bpf_instance_name_ok(instance))
		return fail(err, errlen, -EINVAL, "bad instance name \"%s\" (want [A-Za-z0-9_-]{1,63})",
			    instance);
	bpf_instance_dir(instance, dir, sizeof(dir));
	staging_dir(instance, stage, sizeof(stage));
	remove_pins(stage);
	if (stat(dir, &st) < 0) {
		rmdir(SKIFF_PIN_ROOT); /* only if empty */
		return fail(err, errlen, -ENOENT, "instance \"%s\" is not attached", instance);
	}
	rc = remove_pins(dir);
	rmdir(SKIFF_PIN_ROOT);
	if (rc < 0)
		return fail(err, errlen, rc, "removing %s: %s", dir, strerror(-rc));
	return 0;
}

static int pin_all(struct skiff_bpf *skel, const char *dir, struct bpf_link *const links[],
		   const char *const link_names[], size_t n_links, int msg_link_fd, char *err,
		   size_t errlen)
{
	char path[PIN_PATH_MAX];

	if (mkdir(SKIFF_PIN_ROOT, 0700) < 0 && errno != EEXIST)
		return fail(err, errlen, -errno, "mkdir %s: %s", SKIFF_PIN_ROOT, strerror(errno));
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return fail(err, errlen, -errno, "mkdir %s: %s", dir, strerror(errno));
	snprintf(path, sizeof(path), "%s/links", dir);
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return fail(err, errlen, -errno, "mkdir %s: %s", path, strerror(errno));
	for (size_t i = 0; i < sizeof(pinned_maps) / sizeof(pinned_maps[0]); i++) {
		struct bpf_map *m = bpf_object__find_map_by_name(skel->obj, pinned_maps[i]);

		snprintf(path, sizeof(path), "%s/%s", dir, pinned_maps[i]);
		if (!m || bpf_obj_pin(bpf_map__fd(m), path) < 0)
			return fail(err, errlen, -errno, "pinning %s: %s", path, strerror(errno));
	}
	for (size_t i = 0; i < n_links; i++) {
		if (!links[i])
			continue;
		snprintf(path, sizeof(path), "%s/links/%s", dir, link_names[i]);
		if (bpf_link__pin(links[i], path) < 0)
			return fail(err, errlen, -errno, "pinning %s: %s", path, strerror(errno));
	}
	if (msg_link_fd >= 0) {
		snprintf(path, sizeof(path), "%s/links/sk_msg", dir);
		if (bpf_obj_pin(msg_link_fd, path) < 0)
			return fail(err, errlen, -errno, "pinning %s: %s", path, strerror(errno));
	}
	return 0;
}

/* ---- handles ---- */

static int open_handle(const char *instance, bool owned, struct bpf_datapath **out, char *err,
		       size_t errlen)
{
	struct bpf_datapath *dp = calloc(1, sizeof(*dp));
	char dir[PIN_DIR_MAX], path[PIN_PATH_MAX];

	if (!dp)
		return fail(err, errlen, -ENOMEM, "out of memory");
	snprintf(dp->instance, sizeof(dp->instance), "%s", instance);
	dp->owned = owned;
	bpf_instance_dir(instance, dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/flows", dir);
	dp->flows_fd = bpf_obj_get(path);
	snprintf(path, sizeof(path), "%s/counters", dir);
	dp->counters_fd = bpf_obj_get(path);
	snprintf(path, sizeof(path), "%s/inbound_listener", dir);
	dp->listener_fd = bpf_obj_get(path);
	if (dp->flows_fd < 0 || dp->counters_fd < 0 || dp->listener_fd < 0) {
		int rc = errno == ENOENT ? -ENOENT : -errno;

		if (dp->flows_fd >= 0)
			close(dp->flows_fd);
		if (dp->counters_fd >= 0)
			close(dp->counters_fd);
		if (dp->listener_fd >= 0)
			close(dp->listener_fd);
		free(dp);
		return fail(err, errlen, rc, rc == -ENOENT ? "instance \"%s\" is not attached"
							    : "opening pins of instance \"%s\" failed",
			    instance);
	}
	*out = dp;
	return 0;
}

int bpf_datapath_open(const char *instance, struct bpf_datapath **out, char *err, size_t errlen)
{
	if (!instance)
		instance = SKIFF_DEFAULT_INSTANCE;
	if (!bpf_instance_name_ok(instance))
		return fail(err, errlen, -EINVAL, "bad instance name \"%s\" (want [A-Za-z0-9_-]{1,63})",
			    instance);
	return open_handle(instance, false, out, err, errlen);
}

bool bpf_datapath_is_owner(const struct bpf_datapath *dp)
{
	return dp && dp->owned;
}

void bpf_datapath_close(struct bpf_datapath *dp)
{
	if (!dp)
		return;
	close(dp->flows_fd);
	close(dp->counters_fd);
	close(dp->listener_fd);
	free(dp);
}

void bpf_datapath_detach(struct bpf_datapath *dp)
{
	char instance[SKIFF_INSTANCE_MAX];
	bool owned;

	if (!dp)
		return;
	owned = dp->owned;
	memcpy(instance, dp->instance, sizeof(instance));
	bpf_datapath_close(dp);
	if (owned)
		bpf_datapath_detach_instance(instance, NULL, 0);
}

int bpf_datapath_set_inbound_socket(struct bpf_datapath *dp, int listen_fd)
{
	uint64_t value = (uint64_t)listen_fd, cookie = 0;
	socklen_t len = sizeof(cookie);
	uint32_t key;

	if (!dp || listen_fd < 0)
		return -EINVAL;
	if (getsockopt(listen_fd, SOL_SOCKET, SO_COOKIE, &cookie, &len) < 0)
		return -errno;
	key = (uint32_t)cookie & (SKIFF_INBOUND_SLOTS - 1); /* as sockops does */
	return bpf_map_update_elem(dp->listener_fd, &key, &value, BPF_ANY) < 0 ? -errno : 0;
}

int bpf_datapath_counters(struct bpf_datapath *dp, uint64_t out[SKIFF_CNT__COUNT])
{
	int ncpu = libbpf_num_possible_cpus();
	uint64_t *vals;

	if (ncpu <= 0)
		return ncpu < 0 ? ncpu : -EINVAL;
	vals = calloc((size_t)ncpu, sizeof(*vals));
	if (!vals)
		return -ENOMEM;
	for (uint32_t c = 0; c < SKIFF_CNT__COUNT; c++) {
		out[c] = 0;
		if (bpf_map_lookup_elem(dp->counters_fd, &c, vals) < 0)
			continue;
		for (int i = 0; i < ncpu; i++)
			out[c] += vals[i];
	}
	free(vals);
	return 0;
}

int bpf_datapath_gc(struct bpf_datapath *dp, uint64_t linger_ns)
{
	struct skiff_tuple cur, next, *stale;
	struct skiff_flow f;
	struct timespec ts;
	uint64_t now;
	size_t n = 0;
	void *prev = NULL;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	stale = malloc(SKIFF_FLOWS_MAX * sizeof(*stale));
	if (!stale)
		return -ENOMEM;
	/* Collect first: deleting while walking restarts get_next_key. */
	while (n < SKIFF_FLOWS_MAX && bpf_map_get_next_key(dp->flows_fd, prev, &next) == 0) {
		if (bpf_map_lookup_elem(dp->flows_fd, &next, &f) == 0 && f.closed_ns &&
		    now - f.closed_ns > linger_ns)
			stale[n++] = next;
		cur = next;
		prev = &cur;
	}
	for (size_t i = 0; i < n; i++)
		bpf_map_delete_elem(dp->flows_fd, &stale[i]);
	free(stale);
	return (int)n;
}

/* ---- attach ---- */

/* Copies for display only: a path longer than the field is cut, which is
 * fine because the ids, not the paths, identify the attach points. */
static void copy_cut(char *dst, size_t len, const char *src)
{
	size_t n = strnlen(src, len - 1);

	memcpy(dst, src, n);
	dst[n] = '\0';
}

static void config_fill(struct skiff_config *c, const struct bpf_attach_opts *o,
			const char *cgroup, const char *netns, uint64_t cg_id, uint64_t ns_ino)
{
	memset(c, 0, sizeof(*c));
	copy_cut(c->cgroup_path, sizeof(c->cgroup_path), cgroup);
	copy_cut(c->netns_path, sizeof(c->netns_path), netns);
	c->cgroup_id = cg_id;
	c->netns_ino = ns_ino;
	c->attached_unix_s = (uint64_t)time(NULL);
	c->redirect_window = o->redirect_window ? o->redirect_window : DEFAULT_REDIRECT_WINDOW;
	c->proxy_uid = o->proxy_uid;
	c->outbound_port = o->outbound_port;
	c->inbound_port = o->inbound_port;
	c->flags = (o->sockmap ? SKIFF_CFG_SOCKMAP : 0) | (o->ipv6 ? SKIFF_CFG_IPV6 : 0);
}

static bool config_same(const struct skiff_config *a, const struct skiff_config *b)
{
	return a->cgroup_id == b->cgroup_id && a->netns_ino == b->netns_ino &&
	       a->proxy_uid == b->proxy_uid && a->outbound_port == b->outbound_port &&
	       a->inbound_port == b->inbound_port && a->flags == b->flags &&
	       a->redirect_window == b->redirect_window;
}

/* An instance already pinned at `dir`: 1 when it matches `want` (exclusions
 * then updated in place), 0 when it is leftovers to remove, -EEXIST when it
 * is attached with other settings. */
static int existing_instance(const char *dir, const char *instance, const struct skiff_config *want,
			     const struct exclusions *x, char *err, size_t errlen)
{
	char path[PIN_PATH_MAX];
	struct skiff_config have;
	uint32_t key = 0;
	struct stat st;
	int fd, rc;

	if (stat(dir, &st) < 0)
		return 0;
	snprintf(path, sizeof(path), "%s/settings", dir);
	fd = bpf_obj_get(path);
	if (fd < 0)
		return 0;
	rc = bpf_map_lookup_elem(fd, &key, &have);
	close(fd);
	if (rc < 0 || have.cgroup_id == 0)
		return 0;
	if (!config_same(&have, want))
		return fail(err, errlen, -EEXIST,
			    "instance \"%s\" is attached with other settings (cgroup %s, uid %u, ports %u/%u); "
			    "run `skiff bpf detach --instance %s` first",
			    instance, have.cgroup_path, have.proxy_uid, have.outbound_port,
			    have.inbound_port, instance);
	rc = exclusions_apply(dir, x, err, errlen);
	return rc < 0 ? rc : 1;
}

static const char *load_hint(int rc)
{
	switch (-rc) {
	case EPERM:
	case EACCES:
		return " (CAP_BPF/CAP_SYS_ADMIN missing, kernel lockdown, or the verifier rejected a "
		       "program: see the log above)";
	case EINVAL:
		return " (the kernel lacks a helper or program feature skiff needs; see the log above)";
	case E2BIG:
	case ENOMEM:
		return " (out of memory for maps: check the memory cgroup limit)";
	default:
		return "";
	}
}

int bpf_datapath_attach(const struct bpf_attach_opts *opts, struct bpf_datapath **out, char *err,
			size_t errlen)
{
	static const char *const link_names[] = { "getsockopt", "sockops", "sk_lookup",
						   "connect6", "connect4" };
	const char *instance = opts->instance ? opts->instance : SKIFF_DEFAULT_INSTANCE;
	const char *netns = opts->netns_path ? opts->netns_path : "/proc/self/ns/net";
	char dir[PIN_DIR_MAX], stage[PIN_DIR_MAX], cgroup[PATH_MAX];
	struct bpf_link *links[5] = { NULL };
	struct skiff_bpf *skel = NULL;
	struct exclusions *x = NULL;
	struct skiff_config cfg;
	int cg_fd = -1, ns_fd = -1, msg_link_fd = -1, rc;
	struct stat cg_st, ns_st;
	uint32_t key = 0;

	*out = NULL;
	libbpf_set_print(libbpf_print);
	if (!bpf_instance_name_ok(instance))
		return fail(err, errlen, -EINVAL, "bad instance name \"%s\" (want [A-Za-z0-9_-]{1,63})",
			    instance);
	if (opts->outbound_port == 0 || opts->inbound_port == 0 ||
	    opts->outbound_port == opts->inbound_port)
		return fail(err, errlen, -EINVAL, "outbound and inbound ports must be set and differ");
	x = calloc(1, sizeof(*x));
	if (!x)
		return fail(err, errlen, -ENOMEM, "out of memory");
	rc = exclusions_parse(opts, x, err, errlen);
	if (rc < 0)
		goto cleanup;
	rc = check_caps(err, errlen);
	if (rc < 0)
		goto cleanup;
	rc = ensure_bpffs(err, errlen);
	if (rc < 0)
		goto cleanup;
	rc = cg_fd = open_cgroup(opts->cgroup_path, cgroup, sizeof(cgroup), err, errlen);
	if (rc < 0)
		goto cleanup;
	rc = ns_fd = open_netns(netns, err, errlen);
	if (rc < 0)
		goto cleanup;
	fstat(cg_fd, &cg_st);
	fstat(ns_fd, &ns_st);
	config_fill(&cfg, opts, cgroup, netns, cg_st.st_ino, ns_st.st_ino);

	bpf_instance_dir(instance, dir, sizeof(dir));
	staging_dir(instance, stage, sizeof(stage));
	rc = existing_instance(dir, instance, &cfg, x, err, errlen);
	if (rc < 0)
		goto cleanup;
	if (rc == 1) {
		rc = open_handle(instance, false, out, err, errlen);
		goto cleanup;
	}
	remove_pins(dir);
	remove_pins(stage);
	rc = check_kernel(opts->sockmap, err, errlen);
	if (rc < 0)
		goto cleanup;

	skel = skiff_bpf__open();
	if (!skel) {
		rc = fail(err, errlen, -errno, "opening the BPF object: %s", strerror(errno));
		goto cleanup;
	}
	skel->rodata->cfg_proxy_uid = opts->proxy_uid;
	skel->rodata->cfg_outbound_port = opts->outbound_port;
	skel->rodata->cfg_inbound_port = opts->inbound_port;
	skel->rodata->cfg_accelerate = opts->sockmap;
	skel->rodata->cfg_capture_ipv6 = opts->ipv6;
	skel->rodata->cfg_redirect_window = cfg.redirect_window;
	skel->rodata->cfg_cgroup_id = cfg.cgroup_id;
	bpf_program__set_autoload(skel->progs.skiff_msg, opts->sockmap);
	rc = skiff_bpf__load(skel);
	if (rc < 0) {
		rc = fail(err, errlen, rc, "loading BPF programs failed: %s%s", strerror(-rc), load_hint(rc));
		goto cleanup;
	}
	if (bpf_map_update_elem(bpf_map__fd(skel->maps.settings), &key, &cfg, BPF_ANY) < 0) {
		rc = fail(err, errlen, -errno, "writing settings: %s", strerror(errno));
		goto cleanup;
	}
	{
		const int fds[4] = { bpf_map__fd(skel->maps.excluded_ports_out),
				     bpf_map__fd(skel->maps.excluded_ports_in),
				     bpf_map__fd(skel->maps.excluded_cidrs),
				     bpf_map__fd(skel->maps.included_cidrs) };

		rc = exclusions_write(fds, x, err, errlen);
		if (rc < 0)
			goto cleanup;
	}

	/* Downstream first: sk_msg must be on the sockhash before sockops adds
	 * sockets (a socket takes the map's programs when it is added), and
	 * connect() is captured last, once everything it relies on is there. */
	if (opts->sockmap) {
		int prog = bpf_program__fd(skel->progs.skiff_msg);
		int map = bpf_map__fd(skel->maps.sockhash);

		msg_link_fd = bpf_link_create(prog, map, BPF_SK_MSG_VERDICT, NULL);
		if (msg_link_fd < 0 && bpf_prog_attach(prog, map, BPF_SK_MSG_VERDICT, 0) < 0) {
			rc = fail(err, errlen, -errno, "attaching sk_msg to the sockhash: %s", strerror(errno));
			goto cleanup;
		}
	}
	links[0] = bpf_program__attach_cgroup(skel->progs.skiff_getsockopt, cg_fd);
	links[1] = links[0] ? bpf_program__attach_cgroup(skel->progs.skiff_sockops, cg_fd) : NULL;
	links[2] = links[1] ? bpf_program__attach_netns(skel->progs.skiff_lookup, ns_fd) : NULL;
	links[3] = links[2] ? bpf_program__attach_cgroup(skel->progs.skiff_connect6, cg_fd) : NULL;
	links[4] = links[3] ? bpf_program__attach_cgroup(skel->progs.skiff_connect4, cg_fd) : NULL;
	for (size_t i = 0; i < 5; i++) {
		if (!links[i]) {
			rc = fail(err, errlen, -errno, "attaching %s to %s: %s", link_names[i],
				  i == 2 ? netns : cgroup, strerror(errno));
			goto cleanup;
		}
	}
	/* Pin into a staging directory, then rename: a crash midway leaves
	 * only the staging directory, which the next attach removes. */
	rc = pin_all(skel, stage, links, link_names, 5, msg_link_fd, err, errlen);
	if (rc < 0)
		goto cleanup;
	if (rename(stage, dir) < 0) {
		rc = fail(err, errlen, -errno, "rename %s -> %s: %s", stage, dir, strerror(errno));
		goto cleanup;
	}
	rc = open_handle(instance, true, out, err, errlen);

cleanup:
	/* Closing link fds detaches only what is not pinned, so on failure
	 * everything goes, and on success the pins keep it attached. */
	for (size_t i = 0; i < 5; i++)
		bpf_link__destroy(links[i]);
	if (msg_link_fd >= 0)
		close(msg_link_fd);
	if (rc < 0 && skel)
		remove_pins(stage);
	skiff_bpf__destroy(skel);
	if (cg_fd >= 0)
		close(cg_fd);
	if (ns_fd >= 0)
		close(ns_fd);
	free(x);
	return rc < 0 ? rc : 0;
}
